/*
 * report.c: the automatic analysis report, answered from the index: a summary of the dump and its
 * heap, the top types per generation, the LOH's contents, the strings, the leak suspects and the
 * findings (threads.c renders those), as one document; and the evidence and settings the
 * findings point at.
 *
 * Everything heavy (findings, string duplicates, retained sizes, suspects) was computed by the
 * analysis and stored in the index; this file only reads sections and ranks small lists, so a
 * report costs O(types + LOH objects + findings), not a pass over the heap.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/findings.h"
#include "queryint.h"

json_t *ds__evidence_json(ds_query *q, uint32_t first, uint32_t count) {
  ds__view v = ds__section_view(q->idx, DS_SEC_EVIDENCE, sizeof(ds_index_evidence));
  const ds_index_evidence *ev = v.data;
  json_t *list = json_array();
  for (uint64_t k = first; k < (uint64_t)first + count && k < v.count; k++) {
    const ds_index_evidence *e = &ev[k];
    json_t *j = json_object();
    switch (e->kind) {
    case DS_EVIDENCE_TYPE: {
      char clr[DS_MAX_TYPE_NAME_CHARS];
      ds_type_name_clrmd(ds__type_name(q, e->ref), clr, sizeof clr);
      ds__jset(j, "kind", ds__jstr("type"));
      ds__jset(j, "type", ds__jstr(ds__type_name(q, e->ref)));
      ds__jset(j, "display_name", ds__jstr(clr));
      break;
    }
    case DS_EVIDENCE_OBJECT:
      ds__jset(j, "kind", ds__jstr("object"));
      ds__jset(j, "object", e->ref < q->n ? ds__object_ref(q, e->ref) : json_null());
      break;
    case DS_EVIDENCE_THREAD:
      ds__jset(j, "kind", ds__jstr("thread"));
      ds__jset(j, "thread", e->ref < q->thread_count ? json_pack("{s:i,s:i}", "os_id", (int)q->threads[e->ref].os_id,
                                                                 "managed_id", (int)q->threads[e->ref].managed_id)
                                                     : json_null());
      break;
    default:
      break;
    }
    if (e->count)
      ds__jset(j, "count", json_integer((json_int_t)e->count));
    if (e->bytes)
      ds__jset(j, "bytes", json_integer((json_int_t)e->bytes));
    if (e->label)
      ds__jset(j, "label", ds__jstr(ds_index_string(q->idx, e->label)));
    ds__jappend(list, j);
  }
  return list;
}

json_t *ds__setting_json(ds_query *q, uint32_t name) {
  ds__view v = ds__section_view(q->idx, DS_SEC_SETTINGS, sizeof(ds_index_setting));
  const ds_index_setting *settings = v.data;
  const char *text = ds_index_string(q->idx, name);
  json_t *value = json_null();
  for (uint64_t k = 0; k < v.count; k++)
    if (strcmp(ds_index_string(q->idx, settings[k].name), text) == 0) {
      double number = settings[k].value;
      json_decref(value);
      value = number >= 0 && number < 9e15 && (double)(int64_t)number == number ? json_integer((json_int_t)number)
                                                                              : json_real(number);
    }
  return json_pack("{s:o,s:o}", "name", ds__jstr(text), "value", value);
}

bool ds_query_settings_equal(ds_query *q, const ds_finding_settings *want) {
  ds_error ignore;
  ds__view v = ds__section_view(q->idx, DS_SEC_SETTINGS, sizeof(ds_index_setting));
  const ds_index_setting *have = v.data;
  if (!have || !ds__need(q, DS_SEC_SETTINGS, &ignore))
    return false;
  for (size_t i = 0; i < ds_setting_count(); i++) {
    bool found = false;
    for (uint64_t k = 0; k < v.count && !found; k++)
      if (strcmp(ds_index_string(q->idx, have[k].name), ds_setting_at(i)->name) == 0)
        found = have[k].value == want->value[i];
    if (!found)
      return false;
  }
  return true;
}

/* ---- the report ------------------------------------------------------------------------------- */

#define REPORT_TOP_TYPES 20      /* types listed by size and by count for the whole heap */
#define REPORT_TOP_GEN_TYPES 10  /* ... and for each generation */
#define REPORT_LOH_OBJECTS 20    /* largest objects of the LOH listed */

static const char *const dump_kinds[] = {"unknown", "full", "heap", "core"};

/* The report's facts, or zeros when the index has none (hand-made or older). */
static ds_index_report report_facts(ds_query *q) {
  ds_index_report r;
  memset(&r, 0, sizeof r);
  ds_error ignore;
  ds__view v = ds__section_view(q->idx, DS_SEC_REPORT, sizeof(ds_index_report));
  if (v.count == 1 && ds__need(q, DS_SEC_REPORT, &ignore))
    memcpy(&r, v.data, sizeof r);
  return r;
}

typedef struct type_total {
  uint32_t type;
  uint64_t count, bytes;
} type_total;

static int by_bytes(const void *x, const void *y) {
  const type_total *a = x, *b = y;
  if (a->bytes != b->bytes)
    return a->bytes > b->bytes ? -1 : 1;
  return a->type < b->type ? -1 : a->type > b->type;
}

static int by_count(const void *x, const void *y) {
  const type_total *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return a->type < b->type ? -1 : a->type > b->type;
}

static json_t *type_row(ds_query *q, const type_total *t) {
  char clr[DS_MAX_TYPE_NAME_CHARS];
  ds_type_name_clrmd(ds__type_name(q, t->type), clr, sizeof clr);
  json_t *j = json_object();
  ds__jset(j, "type", ds__jstr(ds__type_name(q, t->type)));
  ds__jset(j, "display_name", ds__jstr(clr));
  ds__jset(j, "count", json_integer((json_int_t)t->count));
  ds__jset(j, "bytes", json_integer((json_int_t)t->bytes));
  return j;
}

/* The first limit rows of totals[0 .. n) in the order of compare (sorts totals). */
static json_t *ranked(ds_query *q, type_total *totals, size_t n, int (*compare)(const void *, const void *),
                      size_t limit) {
  if (n)
    qsort(totals, n, sizeof *totals, compare);
  json_t *list = json_array();
  for (size_t i = 0; i < n && i < limit; i++)
    ds__jappend(list, type_row(q, &totals[i]));
  return list;
}

/* Per-type totals of generation gen (-1: all) from the histogram, free space left out: *n rows. */
static type_total *gen_totals(ds_query *q, const ds_index_hist *hist, uint64_t hist_count, int gen, size_t *n) {
  type_total *totals = calloc(q->type_count + 1, sizeof *totals);
  *n = 0;
  if (!totals)
    return NULL;
  for (uint64_t h = 0; h < hist_count; h++) {
    const ds_index_hist *row = &hist[h];
    if ((gen >= 0 && row->gen != (uint32_t)gen) || row->type >= q->type_count ||
        (q->types[row->type].flags & DS_TYPE_FREE))
      continue;
    totals[row->type].type = row->type;
    totals[row->type].count += row->count;
    totals[row->type].bytes += row->bytes;
  }
  for (uint64_t t = 0; t < q->type_count; t++)
    if (totals[t].count)
      totals[(*n)++] = totals[t];
  return totals;
}

/* Top types by size and by count, for the whole heap and for each generation. */
static bool top_types(ds_query *q, const ds_index_hist *hist, uint64_t hist_count, json_t *doc) {
  size_t n;
  type_total *all = gen_totals(q, hist, hist_count, -1, &n);
  if (!all)
    return false;
  json_t *top = json_object();
  ds__jset(top, "by_size", ranked(q, all, n, by_bytes, REPORT_TOP_TYPES));
  ds__jset(top, "by_count", ranked(q, all, n, by_count, REPORT_TOP_TYPES));
  free(all);
  json_t *gens = json_array();
  for (int g = 0; g < DS_GEN_COUNT; g++) {
    type_total *totals = gen_totals(q, hist, hist_count, g, &n);
    if (!totals) {
      json_decref(top);
      json_decref(gens);
      return false;
    }
    if (n) {
      json_t *j = json_object();
      ds__jset(j, "generation", ds__jstr(ds_gen_name((ds_gen)g)));
      ds__jset(j, "by_size", ranked(q, totals, n, by_bytes, REPORT_TOP_GEN_TYPES));
      ds__jset(j, "by_count", ranked(q, totals, n, by_count, REPORT_TOP_GEN_TYPES));
      ds__jappend(gens, j);
    }
    free(totals);
  }
  ds__jset(top, "generations", gens);
  ds__jset(doc, "top_types", top);
  return true;
}

/* Objects, bytes, free space and live bytes of each generation. */
static json_t *generations_json(ds_query *q, const ds_index_hist *hist, uint64_t hist_count) {
  uint64_t objects[DS_GEN_COUNT] = {0}, bytes[DS_GEN_COUNT] = {0}, free_bytes[DS_GEN_COUNT] = {0},
           live[DS_GEN_COUNT] = {0};
  for (uint64_t h = 0; h < hist_count; h++) {
    const ds_index_hist *row = &hist[h];
    if (row->gen >= DS_GEN_COUNT || row->type >= q->type_count)
      continue;
    bool is_free = q->types[row->type].flags & DS_TYPE_FREE;
    objects[row->gen] += is_free ? 0 : row->count;
    bytes[row->gen] += row->bytes;
    free_bytes[row->gen] += is_free ? row->bytes : 0;
    live[row->gen] += row->live_bytes;
  }
  json_t *list = json_array();
  for (int g = 0; g < DS_GEN_COUNT; g++)
    if (bytes[g])
      ds__jappend(list, json_pack("{s:s,s:I,s:I,s:I,s:I}", "generation", ds_gen_name((ds_gen)g), "objects",
                                  (json_int_t)objects[g], "bytes", (json_int_t)bytes[g], "free_bytes",
                                  (json_int_t)free_bytes[g], "live_bytes", (json_int_t)live[g]));
  return list;
}

#define THREAD_POOL_WORKER 0x1000000u /* Thread::ThreadState TS_TPWorkerThread */

static json_t *threads_json(ds_query *q) {
  uint64_t alive = 0, pool = 0, exceptions = 0, finalizer = 0;
  for (uint64_t t = 0; t < q->thread_count; t++) {
    const ds_index_thread *th = &q->threads[t];
    alive += th->alive;
    pool += th->alive && (th->state & THREAD_POOL_WORKER);
    exceptions += th->alive && th->exception;
    finalizer += th->finalizer;
  }
  ds__view waits = ds__section_view(q->idx, DS_SEC_WAITS, sizeof(ds_index_wait));
  return json_pack("{s:I,s:I,s:I,s:I,s:I}", "managed", (json_int_t)q->thread_count, "alive", (json_int_t)alive,
                   "blocked", (json_int_t)waits.count, "thread_pool", (json_int_t)pool, "with_exception",
                   (json_int_t)exceptions);
}

/* Appends text to out (at most DS_MAX_COMMAND_LINE_CHARS bytes in all), quoted as .NET's
 * Environment.CommandLine quotes an argument: in double quotes when empty or holding a space, tab
 * or quote, with quotes (and the backslashes before them) escaped by backslashes. */
static void paste_argument(char *out, size_t *len, const char *arg, bool first) {
  size_t cap = DS_MAX_COMMAND_LINE_CHARS;
  bool quote = !*arg || strpbrk(arg, " \t\"") != NULL;
#define PUT(c) (*len + 1 < cap ? (void)(out[(*len)++] = (c)) : (void)0)
  if (!first)
    PUT(' ');
  if (quote)
    PUT('"');
  for (const char *c = arg; *c; c++) {
    if (quote && *c == '\\') {
      size_t run = 0;
      while (c[run] == '\\')
        run++;
      bool before_quote = c[run] == '"' || c[run] == '\0';
      for (size_t k = 0; k < (before_quote ? 2 * run : run); k++)
        PUT('\\');
      c += run - 1;
      continue;
    }
    if (quote && *c == '"')
      PUT('\\');
    PUT(*c);
  }
  if (quote)
    PUT('"');
#undef PUT
  out[*len] = '\0';
}

/* The process's command line as the runtime keeps it (System.Environment.s_commandLineArgs, what
 * Environment.GetCommandLineArgs returns): {command_line, command_line_args}, or null when the
 * index has no such static (older index, runtime not started through its host) or the dump does
 * not hold the array. The analysis records that static; the strings are read from the dump. */
static json_t *command_line_json(ds_query *q) {
  ds_error ignore;
  ds__view v = ds__section_view(q->idx, DS_SEC_STATICS, sizeof(ds_index_static));
  const ds_index_static *statics = v.data;
  uint64_t slot = 0;
  if (!q->dump || !statics || !ds__need(q, DS_SEC_STATICS, &ignore))
    return json_null();
  for (uint64_t s = 0; s < v.count && !slot; s++)
    if (statics[s].type < q->type_count && !(statics[s].flags & DS_STATIC_THREAD) &&
        strcmp(ds__type_name(q, statics[s].type), "System.Environment") == 0 &&
        strcmp(ds_index_string(q->idx, statics[s].name), "s_commandLineArgs") == 0)
      slot = statics[s].address;
  uint64_t array = 0;
  uint32_t length = 0;
  if (!slot || !ds_dump_read_u64(q->dump, slot, &array) || !array)
    return json_null();
  uint32_t obj = ds_query_find(q, array, false);
  if (obj == UINT32_MAX || strcmp(ds__type_name(q, q->type[obj]), "System.String[]") != 0 ||
      !ds_layout_read_length(q->layout, q->dump, array, &length))
    return json_null();
  char *line = malloc(DS_MAX_COMMAND_LINE_CHARS);
  if (!line)
    return json_null();
  json_t *args = json_array();
  size_t len = 0;
  line[0] = '\0';
  for (uint32_t i = 0; i < length && i < DS_MAX_COMMAND_LINE_ARGS; i++) {
    uint64_t str = 0;
    int64_t chars = 0;
    char *text = ds_dump_read_u64(q->dump, ds_layout_element(q->layout, array, i, 8), &str) && str
                     ? ds__read_string(q, str, DS_MAX_COMMAND_LINE_CHARS, &chars)
                     : NULL;
    ds__jappend(args, ds__jstr(text ? text : ""));
    paste_argument(line, &len, text ? text : "", i == 0);
    free(text);
  }
  json_t *j = json_pack("{s:o,s:o}", "command_line", ds__jstr(line), "command_line_args", args);
  free(line);
  return j;
}

static json_t *summary_json(ds_query *q, const ds_index_report *r, const ds_index_hist *hist, uint64_t hist_count,
                            size_t types_used) {
  const ds_index_info *in = q->info;
  json_t *j = json_object();
  ds__jset(j, "dump", ds__jstr(ds_index_string(q->idx, in->dump_path)));
  ds__jset(j, "dump_kind", ds__jstr(dump_kinds[r->dump_kind < DS_DUMP_KIND_COUNT_ ? r->dump_kind : 0]));
  ds__jset(j, "dump_size", json_integer((json_int_t)in->dump_size));
  ds__jset(j, "runtime_version", ds__jstr(ds_index_string(q->idx, in->runtime_version)));
  ds__jset(j, "gc", json_pack("{s:s,s:b,s:i}", "mode", in->server_gc ? "server" : "workstation", "regions",
                              in->regions != 0, "heap_count", (int)in->heap_count));
  ds__jset(j, "gc_in_progress", json_boolean(r->gc_in_progress));
  json_t *process = json_object();
  json_t *cmd = command_line_json(q);
  ds__jset(process, "command_line", json_is_object(cmd) ? json_incref(json_object_get(cmd, "command_line")) : json_null());
  ds__jset(process, "command_line_args",
           json_is_object(cmd) ? json_incref(json_object_get(cmd, "command_line_args")) : json_null());
  ds__jset(process, "uptime_seconds", json_null()); /* not in a createdump dump: see README */
  json_decref(cmd);
  ds__jset(j, "process", process);
  json_t *heap = json_object();
  ds__jset(heap, "bytes", json_integer((json_int_t)in->heap_bytes));
  ds__jset(heap, "free_bytes", json_integer((json_int_t)in->free_bytes));
  ds__jset(heap, "live_bytes", json_integer((json_int_t)in->live_bytes));
  ds__jset(heap, "committed_bytes", r->committed_bytes ? json_integer((json_int_t)r->committed_bytes) : json_null());
  ds__jset(heap, "used_bytes", r->used_bytes ? json_integer((json_int_t)r->used_bytes) : json_null());
  ds__jset(heap, "generations", generations_json(q, hist, hist_count));
  ds__jset(j, "heap", heap);
  ds__jset(j, "objects", json_integer((json_int_t)in->object_count));
  ds__jset(j, "live_objects", json_integer((json_int_t)in->live_objects));
  ds__jset(j, "types", json_integer((json_int_t)types_used)); /* with at least one instance */
  ds__jset(j, "references", json_integer((json_int_t)in->edge_count));
  ds__jset(j, "roots", json_integer((json_int_t)in->root_count));
  ds__jset(j, "pinned_handles", json_integer((json_int_t)r->pinned_handles));
  ds__jset(j, "finalization", json_pack("{s:I,s:I,s:I}", "registered", (json_int_t)r->finalizable, "undisposed",
                                        (json_int_t)r->undisposed, "ready", (json_int_t)r->ready_for_finalization));
  ds__jset(j, "threads", threads_json(q));
  ds__jset(j, "analysis_ms", json_integer((json_int_t)in->build_ms));
  ds__jset(j, "heap_errors", json_integer(in->heap_error_count));
  return j; /* the index's warnings: the `warnings` array every answer from it carries */
}

/* The LOH's objects, count and bytes, and its largest ones. */
static json_t *loh_json(ds_query *q) {
  uint32_t top[REPORT_LOH_OBJECTS];
  size_t top_count = 0;
  uint64_t objects = 0, bytes = 0;
  for (uint64_t s = 0; s < q->seg_count; s++) {
    if (q->segs[s].gen != DS_GEN_LOH)
      continue;
    uint64_t lo = q->segs[s].first_object, hi = lo + q->segs[s].object_count;
    for (uint64_t i = lo; i < hi && i < q->n; i++) {
      const ds_index_type *t = ds__type_of(q, (uint32_t)i);
      if (!t || (t->flags & DS_TYPE_FREE))
        continue;
      uint64_t size = ds__obj_size(q, (uint32_t)i);
      objects++;
      bytes += size;
      size_t at = top_count < REPORT_LOH_OBJECTS ? top_count : REPORT_LOH_OBJECTS;
      while (at > 0 && ds__obj_size(q, top[at - 1]) < size)
        at--;
      if (at == REPORT_LOH_OBJECTS)
        continue;
      size_t last = top_count < REPORT_LOH_OBJECTS ? top_count : REPORT_LOH_OBJECTS - 1;
      memmove(&top[at + 1], &top[at], (last - at) * sizeof *top);
      top[at] = (uint32_t)i;
      top_count += top_count < REPORT_LOH_OBJECTS;
    }
  }
  json_t *largest = json_array();
  for (size_t k = 0; k < top_count; k++) {
    json_t *o = ds__object_ref(q, top[k]);
    ds__jset(o, "live", json_boolean(ds__is_live(q, top[k])));
    ds__jappend(largest, o);
  }
  return json_pack("{s:I,s:I,s:o}", "objects", (json_int_t)objects, "bytes", (json_int_t)bytes, "largest", largest);
}

static json_t *strings_json(ds_query *q, const ds_index_report *r) {
  json_t *j = json_object();
  ds__jset(j, "count", json_integer((json_int_t)r->string_count));
  ds__jset(j, "bytes", json_integer((json_int_t)r->string_bytes));
  ds__jset(j, "large_count", json_integer((json_int_t)r->large_string_count));
  ds__jset(j, "large_bytes", json_integer((json_int_t)r->large_string_bytes));
  ds__jset(j, "largest", ds__evidence_json(q, r->first_large, r->large_count));
  ds__jset(j, "duplicate_values", json_integer((json_int_t)r->duplicate_groups));
  ds__jset(j, "duplicate_strings", json_integer((json_int_t)r->duplicate_strings));
  ds__jset(j, "wasted_bytes", json_integer((json_int_t)r->duplicate_wasted));
  ds__jset(j, "top_duplicates", ds__evidence_json(q, r->first_duplicate, r->duplicate_count));
  return j;
}

static json_t *settings_json(ds_query *q) {
  ds__view v = ds__section_view(q->idx, DS_SEC_SETTINGS, sizeof(ds_index_setting));
  const ds_index_setting *settings = v.data;
  json_t *list = json_array();
  for (uint64_t k = 0; k < v.count; k++)
    ds__jappend(list, ds__setting_json(q, settings[k].name));
  return list;
}

/* The leak suspects, each with the shortest path from a root (paths[k], looked up beforehand). */
static json_t *suspects_json(ds_query *q, const ds_index_suspect *suspects, uint64_t count, json_t *const *paths) {
  uint64_t whole = q->info->live_bytes;
  ds__view rv = ds__section_view(q->idx, DS_SEC_REPORT, sizeof(ds_index_report));
  if (rv.count == 1 && ((const ds_index_report *)rv.data)->reachable_bytes)
    whole = ((const ds_index_report *)rv.data)->reachable_bytes;
  json_t *list = json_array();
  for (uint64_t k = 0; k < count; k++) {
    const ds_index_suspect *s = &suspects[k];
    json_t *j = json_object();
    ds__jset(j, "kind", ds__jstr(s->kind == DS_SUSPECT_OBJECT ? "object" : "type"));
    if (s->kind == DS_SUSPECT_OBJECT) {
      ds__jset(j, "object", ds__object_ref(q, s->ref));
      ds__jset(j, "accumulation_point", s->accumulation < q->n ? ds__object_ref(q, s->accumulation) : json_null());
    } else {
      char clr[DS_MAX_TYPE_NAME_CHARS];
      ds_type_name_clrmd(ds__type_name(q, s->ref), clr, sizeof clr);
      ds__jset(j, "type", ds__jstr(ds__type_name(q, s->ref)));
      ds__jset(j, "display_name", ds__jstr(clr));
      ds__jset(j, "count", json_integer((json_int_t)s->instances));
    }
    ds__jset(j, "retained_size", json_integer((json_int_t)s->retained));
    ds__jset(j, "retained_percent", json_real(whole ? 100.0 * (double)s->retained / (double)whole : 0));
    ds__jset(j, "description", ds__jstr(ds_index_string(q->idx, s->description)));
    ds__jset(j, "accumulates", ds__evidence_json(q, s->first_group, s->group_count));
    json_t *path = paths[k] ? json_array_get(json_object_get(paths[k], "paths"), 0) : NULL;
    ds__jset(j, "root_path", path ? json_incref(path) : json_null());
    ds__jappend(list, j);
  }
  return list;
}

#define REPORT_SUSPECTS 10

static ds_status query_report(ds_query *q, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_GEN_HIST, err) || !ds__need(q, DS_SEC_EVIDENCE, err) ||
      !ds__need(q, DS_SEC_SETTINGS, err) || !ds__need(q, DS_SEC_SUSPECTS, err))
    return err->code;
  /* the documents of other queries first: each starts its own failure tracking */
  ds__view sv = ds__section_view(q->idx, DS_SEC_SUSPECTS, sizeof(ds_index_suspect));
  const ds_index_suspect *suspects = sv.data;
  uint64_t suspect_count = sv.count < REPORT_SUSPECTS ? sv.count : REPORT_SUSPECTS;
  json_t *paths[REPORT_SUSPECTS] = {NULL}, *top = NULL, *types = NULL;
  ds_error ignore;
  for (uint64_t k = 0; k < suspect_count; k++)
    if (suspects[k].kind == DS_SUSPECT_OBJECT && suspects[k].ref < q->n &&
        ds_query_root_paths(q, q->addr[suspects[k].ref], false, 1, &paths[k], &ignore) != DS_OK)
      paths[k] = NULL;
  /* an index without the dominator tree still has a report, without retained sizes */
  if (ds_query_dominators(q, 0, false, REPORT_TOP_GEN_TYPES, &top, &ignore) != DS_OK ||
      ds_query_dominators(q, 0, true, REPORT_TOP_TYPES, &types, &ignore) != DS_OK) {
    json_decref(top);
    top = NULL;
  }
  ds__json_begin();
  ds__view hv = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  ds_index_report r = report_facts(q);
  json_t *findings = ds__findings_json(q, err);
  json_t *doc = findings ? json_object() : NULL;
  ds_status rc = findings ? DS_OK : err->code;
  if (doc) {
    size_t types_used = 0;
    free(gen_totals(q, hv.data, hv.count, -1, &types_used));
    ds__jset(doc, "summary", summary_json(q, &r, hv.data, hv.count, types_used));
    json_t *counts = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f) {
      const char *severity = json_string_value(json_object_get(f, "severity"));
      json_t *c = json_object_get(counts, severity ? severity : "");
      ds__jset(counts, severity ? severity : "", json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    ds__jset(doc, "finding_counts", counts);
    ds__jset(doc, "findings", findings);
    ds__jset(doc, "leak_suspects", suspects_json(q, suspects, suspect_count, paths));
    ds__jset(doc, "retained", top ? json_pack("{s:O,s:O,s:O}", "reachable_bytes", json_object_get(top, "reachable_bytes"),
                                             "top_objects", json_object_get(top, "objects"), "top_types",
                                             json_object_get(types, "types"))
                                  : json_null());
    if (!top_types(q, hv.data, hv.count, doc))
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory ranking types");
    ds__jset(doc, "loh", loh_json(q));
    ds__jset(doc, "strings", strings_json(q, &r));
    ds__jset(doc, "exceptions", json_pack("{s:I,s:o}", "count", (json_int_t)r.exception_count, "groups",
                                          ds__evidence_json(q, r.first_exception, r.exception_count_groups)));
    ds__jset(doc, "settings", settings_json(q));
  }
  for (uint64_t k = 0; k < suspect_count; k++)
    json_decref(paths[k]);
  json_decref(top);
  json_decref(types);
  if (rc != DS_OK) {
    json_decref(doc);
    return rc;
  }
  *out = doc;
  return DS_OK;
}

ds_status ds_query_report(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_report(q, out, err), out, err);
}
