/*
 * cli_dac.c: the command line's DAC-backed analysis commands: info, eeheap, heapstat (the walk),
 * verify, gcgen, dumpobj and mt (SOS/SOSEX-like text, or --json).
 *
 * These run in the CLI process, which is an analysis process: it may load the DAC (design.md,
 * rule 1). Each command opens the dump through ds_analysis_open and prints one answer; every
 * question the heap index can answer goes through api/'s resource table instead (cli_api.c).
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dumpscope/analysis.h"
#include "dumpscope/dacstack.h"
#include "dumpscope/verify.h"

typedef ds_cli_args cli_options;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static json_t *hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return json_string(buf);
}

static const char *display_name(const cli_options *o, const ds_type *t, char *buf, size_t len) {
  if (!t->name)
    return "<unknown>";
  if (!o->clrmd_names)
    return t->name;
  ds_type_name_clrmd(t->name, buf, len);
  return buf;
}

static ds_status open_analysis(const cli_options *o, ds_analysis **a, ds_error *err) {
  ds_dac_search search;
  ds_dac_search_env env;
  ds_dac_search_init_env(&search, &env, o->dac, o->offline);
  return ds_analysis_open(o->dump, &search, a, err);
}

/* ---- info ----------------------------------------------------------------------------- */

static int cmd_info(const cli_options *o) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_status rc = open_analysis(o, &a, &err);
  if (rc != DS_OK)
    return ds_cli_fail(o->json, &err);
  ds_gc_info *gc = ds_heap_gc_info(a->heap);
  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "dump", json_string(o->dump));
    json_object_set_new(j, "file_size", json_integer((json_int_t)ds_dump_file_size(a->dump)));
    json_object_set_new(j, "createdump", json_boolean(ds_dump_is_createdump(a->dump)));
    json_object_set_new(j, "threads", json_integer((json_int_t)ds_dump_thread_count(a->dump)));
    json_object_set_new(j, "runtime_version", json_string(a->runtime.version));
    json_object_set_new(j, "runtime_commit", json_string(a->runtime.commit));
    json_object_set_new(j, "coreclr_path", json_string(a->runtime.coreclr->path));
    json_object_set_new(j, "coreclr_build_id", json_string(a->runtime.build_id_hex));
    json_object_set_new(j, "dac_path", json_string(a->dac_path));
    json_object_set_new(j, "dac_revision", json_integer(ds_dac_revision(a->dac)));
    json_object_set_new(j, "server_gc", json_boolean(gc->server));
    json_object_set_new(j, "heap_count", json_integer(gc->heap_count));
    json_object_set_new(j, "regions", json_boolean(gc->regions));
    json_object_set_new(j, "gc_structures_valid", json_boolean(gc->structures_valid));
    json_t *modules = json_array();
    for (size_t m = 0; m < ds_dump_module_count(a->dump); m++) {
      const ds_module *mod = ds_dump_module(a->dump, m);
      char id[2 * DS_MAX_BUILD_ID_BYTES + 1] = "";
      ds_build_id_hex(mod->build_id, mod->build_id_len, id);
      json_array_append_new(modules, json_pack("{s:s,s:o,s:o,s:s}", "path", mod->path, "base", hex(mod->base), "end",
                                               hex(mod->end), "build_id", id));
    }
    json_object_set_new(j, "modules", modules);
    json_t *t = json_object();
    json_object_set_new(t, "open_ms", json_real(a->open_ms));
    json_object_set_new(t, "dac_ready_ms", json_real(a->dac_ms));
    json_object_set_new(t, "heap_description_ms", json_real(a->heap_ms));
    json_object_set_new(j, "timings", t);
    ds_cli_print_json(j);
  } else {
    printf("Dump:            %s (%llu bytes%s)\n", o->dump, (unsigned long long)ds_dump_file_size(a->dump),
           ds_dump_is_createdump(a->dump) ? ", written by createdump" : "");
    printf("Runtime:         .NET %s (commit %s)\n", a->runtime.version, a->runtime.commit);
    printf("libcoreclr.so:   %s\n                 build id %s\n", a->runtime.coreclr->path,
           a->runtime.build_id_hex);
    printf("DAC:             %s (revision %u)\n", a->dac_path, ds_dac_revision(a->dac));
    printf("GC:              %s, %u heap(s), %s%s\n", gc->server ? "server" : "workstation",
           gc->heap_count, gc->regions ? "regions" : "segments",
           gc->structures_valid ? "" : ", TAKEN DURING A GC (heap not walkable)");
    printf("Threads:         %zu\n", ds_dump_thread_count(a->dump));
    printf("Timings:         open %.1f ms, DAC ready %.1f ms, heap description %.1f ms\n", a->open_ms,
           a->dac_ms, a->heap_ms);
  }
  ds_analysis_close(a);
  return 0;
}

/* ---- eeheap ---------------------------------------------------------------------------- */

static int cmd_eeheap(const cli_options *o) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  if (open_analysis(o, &a, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  ds_gc_info *gc = ds_heap_gc_info(a->heap);
  size_t n = ds_heap_segment_count(a->heap);
  uint64_t per_gen[DS_GEN_COUNT] = {0}, per_gen_committed[DS_GEN_COUNT] = {0};
  for (size_t i = 0; i < n; i++) {
    const ds_segment *s = ds_heap_segment(a->heap, i);
    per_gen[s->gen] += s->end - s->start;
    if (!s->ephemeral || s->gen == DS_GEN_0)
      per_gen_committed[s->gen] += s->committed > s->start ? s->committed - s->start : 0;
  }
  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "server_gc", json_boolean(gc->server));
    json_object_set_new(j, "heap_count", json_integer(gc->heap_count));
    json_object_set_new(j, "regions", json_boolean(gc->regions));
    json_object_set_new(j, "gc_structures_valid", json_boolean(gc->structures_valid));
    json_t *segs = json_array();
    for (size_t i = 0; i < n; i++) {
      const ds_segment *s = ds_heap_segment(a->heap, i);
      json_t *js = json_object();
      json_object_set_new(js, "heap", json_integer(s->heap));
      json_object_set_new(js, "generation", json_string(ds_gen_name(s->gen)));
      json_object_set_new(js, "descriptor", hex(s->descriptor));
      json_object_set_new(js, "start", hex(s->start));
      json_object_set_new(js, "end", hex(s->end));
      json_object_set_new(js, "size", json_integer((json_int_t)(s->end - s->start)));
      json_object_set_new(js, "committed", hex(s->committed));
      json_array_append_new(segs, js);
    }
    json_object_set_new(j, "segments", segs);
    json_t *gens = json_object();
    for (int g = 0; g < DS_GEN_COUNT; g++)
      json_object_set_new(gens, ds_gen_name((ds_gen)g), json_integer((json_int_t)per_gen[g]));
    json_object_set_new(j, "bytes_by_generation", gens);
    ds_cli_print_json(j);
  } else {
    printf("Number of GC Heaps: %u (%s GC, %s)\n", gc->heap_count, gc->server ? "server" : "workstation",
           gc->regions ? "regions" : "segments");
    printf("%-6s %-18s %-18s %-18s %-8s %14s\n", "heap", "segment", "begin", "allocated", "gen", "size");
    for (size_t i = 0; i < n; i++) {
      const ds_segment *s = ds_heap_segment(a->heap, i);
      printf("%-6u %016llx   %016llx   %016llx   %-8s %14llu\n", s->heap,
             (unsigned long long)s->descriptor, (unsigned long long)s->start,
             (unsigned long long)s->end, ds_gen_name(s->gen), (unsigned long long)(s->end - s->start));
    }
    uint64_t total = 0;
    for (int g = 0; g < DS_GEN_COUNT; g++) {
      printf("%-8s %14llu bytes\n", ds_gen_name((ds_gen)g), (unsigned long long)per_gen[g]);
      total += per_gen[g];
    }
    printf("GC Heap Size: %llu bytes in %zu ranges\n", (unsigned long long)total, n);
  }
  ds_analysis_close(a);
  return 0;
}

/* ---- heapstat --------------------------------------------------------------------------- */

typedef struct stat_ctx {
  const cli_options *o;
  ds_heap *heap;
  uint64_t *counts, *sizes;
  size_t cap;
  char **match_cache;    /* per type: 1 match, 2 no match, 0 unknown */
  bool failed;
} stat_ctx;

static bool type_matches(stat_ctx *c, uint32_t type_index) {
  const cli_options *o = c->o;
  const ds_type *t = ds_heap_type(c->heap, type_index);
  bool is_free = t->flags & DS_TYPE_FREE;
  if (o->free_only)
    return is_free;
  if (o->no_strings && (t->flags & DS_TYPE_STRING))
    return false;
  if (o->type_filter) {
    char clr[DS_MAX_TYPE_NAME_CHARS];
    const char *name = t->name ? t->name : "";
    ds_type_name_clrmd(name, clr, sizeof clr);
    if (o->type_exact)
      return strcmp(name, o->type_filter) == 0 || strcmp(clr, o->type_filter) == 0;
    return strstr(name, o->type_filter) != NULL || strstr(clr, o->type_filter) != NULL;
  }
  return true;
}

static bool stat_add(void *p, const ds_heap_object *obj) {
  stat_ctx *c = p;
  if (obj->type >= c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap <= obj->type)
      cap *= 2;
    uint64_t *counts = realloc(c->counts, cap * sizeof *counts);
    if (counts)
      c->counts = counts;
    uint64_t *sizes = counts ? realloc(c->sizes, cap * sizeof *sizes) : NULL;
    if (sizes)
      c->sizes = sizes;
    char **match = sizes ? realloc(c->match_cache, cap * sizeof *match) : NULL;
    if (!counts || !sizes || !match) {
      c->failed = true;
      return false;
    }
    c->match_cache = match;
    memset(c->counts + c->cap, 0, (cap - c->cap) * sizeof *counts);
    memset(c->sizes + c->cap, 0, (cap - c->cap) * sizeof *sizes);
    memset(c->match_cache + c->cap, 0, (cap - c->cap) * sizeof *match);
    c->cap = cap;
  }
  /* match_cache stores (char*)1 / (char*)2 as a tri-state without another array */
  if (!c->match_cache[obj->type])
    c->match_cache[obj->type] = (char *)(uintptr_t)(type_matches(c, obj->type) ? 1 : 2);
  if ((uintptr_t)c->match_cache[obj->type] != 1)
    return true;
  if (obj->size < c->o->min_size || obj->size > c->o->max_size)
    return true;
  c->counts[obj->type]++;
  c->sizes[obj->type] += obj->size;
  return true;
}

typedef struct stat_row {
  uint32_t type;
  uint64_t count, size;
} stat_row;

static int compare_stat_rows(const void *a, const void *b) {
  const stat_row *x = a, *y = b;
  if (x->size != y->size)
    return x->size < y->size ? -1 : 1; /* SOS prints ascending by total size */
  return x->type < y->type ? -1 : x->type > y->type;
}

static void print_heap_errors(const ds_walk_stats *stats) {
  for (size_t i = 0; i < stats->error_count && i < DS_MAX_HEAP_ERRORS; i++)
    fprintf(stderr, "heap error: %s\n", stats->errors[i].message);
}

static int cmd_heapstat(const cli_options *o) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  if (open_analysis(o, &a, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  stat_ctx c = {.o = o, .heap = a->heap};
  ds_walk_stats stats;
  double t0 = now_ms();
  ds_status rc = ds_heap_walk(a->heap, o->gen, stat_add, &c, &stats, &err);
  double walk_ms = now_ms() - t0;
  if (rc == DS_OK && c.failed)
    rc = ds_error_set(&err, DS_E_NOMEM, "out of memory building the histogram");
  if (rc != DS_OK) {
    free(c.counts);
    free(c.sizes);
    free(c.match_cache);
    ds_analysis_close(a);
    return ds_cli_fail(o->json, &err);
  }
  size_t rows_n = 0;
  for (size_t i = 0; i < c.cap; i++)
    rows_n += c.counts[i] != 0;
  stat_row *rows = calloc(rows_n ? rows_n : 1, sizeof *rows);
  size_t r = 0;
  uint64_t total_count = 0, total_size = 0;
  for (size_t i = 0; rows && i < c.cap; i++)
    if (c.counts[i]) {
      rows[r++] = (stat_row){(uint32_t)i, c.counts[i], c.sizes[i]};
      total_count += c.counts[i];
      total_size += c.sizes[i];
    }
  qsort(rows, r, sizeof *rows, compare_stat_rows);
  char namebuf[DS_MAX_TYPE_NAME_CHARS];
  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "generation", json_string(o->gen >= 0 ? ds_gen_name((ds_gen)o->gen) : "all"));
    json_object_set_new(j, "type_count", json_integer((json_int_t)r));
    json_t *types = json_array();
    for (size_t i = r; i-- > 0;) {
      const ds_type *t = ds_heap_type(a->heap, rows[i].type);
      json_t *jt = json_object();
      char clr[DS_MAX_TYPE_NAME_CHARS];
      ds_type_name_clrmd(t->name ? t->name : "<unknown>", clr, sizeof clr);
      json_object_set_new(jt, "type", json_string(display_name(o, t, namebuf, sizeof namebuf)));
      json_object_set_new(jt, "display_name", json_string(clr));
      json_object_set_new(jt, "mt", hex(t->mt));
      json_object_set_new(jt, "count", json_integer((json_int_t)rows[i].count));
      json_object_set_new(jt, "total_size", json_integer((json_int_t)rows[i].size));
      json_array_append_new(types, jt);
    }
    json_object_set_new(j, "types", types);
    json_object_set_new(j, "object_count", json_integer((json_int_t)total_count));
    json_object_set_new(j, "total_size", json_integer((json_int_t)total_size));
    json_object_set_new(j, "free_count", json_integer((json_int_t)stats.free_objects));
    json_object_set_new(j, "free_size", json_integer((json_int_t)stats.free_bytes));
    json_t *errs = json_array();
    for (size_t i = 0; i < stats.error_count && i < DS_MAX_HEAP_ERRORS; i++)
      json_array_append_new(errs, json_string(stats.errors[i].message));
    json_object_set_new(j, "heap_errors", errs);
    json_object_set_new(j, "walk_ms", json_real(walk_ms));
    ds_cli_print_json(j);
  } else {
    printf("%-18s %10s %14s %s\n", "MT", "Count", "TotalSize", "Class Name");
    for (size_t i = 0; i < r; i++) {
      const ds_type *t = ds_heap_type(a->heap, rows[i].type);
      printf("0x%-16llx %10llu %14llu %s\n", (unsigned long long)t->mt, (unsigned long long)rows[i].count,
             (unsigned long long)rows[i].size, display_name(o, t, namebuf, sizeof namebuf));
    }
    printf("Total %llu objects, %llu bytes\n", (unsigned long long)total_count,
           (unsigned long long)total_size);
    print_heap_errors(&stats);
  }
  free(rows);
  free(c.counts);
  free(c.sizes);
  free(c.match_cache);
  int code = stats.error_count ? 4 : 0;
  ds_walk_stats_free(&stats);
  ds_analysis_close(a);
  return code;
}

/* ---- verify --------------------------------------------------------------------------- */

/* Names the field at offset of an object of type mt: an instance field's name, "[i]" for an
 * array element (of an array of structs: "[i] +0xN"), or "" when unknown. */
static void field_at(ds_analysis *a, uint64_t object, uint64_t mt, uint64_t offset, char *out, size_t len) {
  out[0] = 0;
  uint32_t ti = ds_heap_type_index(a->heap, mt, &(ds_error){0});
  const ds_type *t = ti == UINT32_MAX ? NULL : ds_heap_type(a->heap, ti);
  const ds_layout *l = ds_heap_layout(a->heap);
  if (t && (t->flags & DS_TYPE_ARRAY) && t->component_size && offset >= l->array_data) {
    uint64_t index = (offset - l->array_data) / t->component_size;
    uint64_t within = (offset - l->array_data) % t->component_size;
    if (within)
      snprintf(out, len, "[%llu] +0x%llx", (unsigned long long)index, (unsigned long long)within);
    else
      snprintf(out, len, "[%llu]", (unsigned long long)index);
    return;
  }
  (void)object;
  ds_field *fields = NULL;
  size_t count = 0;
  if (ds_analysis_type_fields(a, mt, false, &fields, &count, &(ds_error){0}) == DS_OK)
    for (size_t i = 0; i < count; i++)
      if (!fields[i].is_static && fields[i].offset == offset)
        snprintf(out, len, "%s", fields[i].name);
  free(fields);
}

static const char *verify_kind_name(uint32_t kind) {
  return kind == DS_VERIFY_REFERENCE ? "reference" : kind == DS_VERIFY_SYNC_BLOCK ? "sync_block" : "object";
}

static json_t *verify_json(ds_analysis *a, const ds_verify_result *r) {
  const ds_walk_stats *w = &r->walk;
  size_t total = w->error_count + r->error_count;
  json_t *j = json_object();
  json_object_set_new(j, "ok", json_boolean(total == 0));
  json_object_set_new(j, "objects", json_integer((json_int_t)w->objects));
  json_object_set_new(j, "references", json_integer((json_int_t)r->references));
  json_object_set_new(j, "sync_blocks", json_integer((json_int_t)r->sync_blocks));
  json_object_set_new(j, "error_count", json_integer((json_int_t)total));
  json_t *errs = json_array();
  for (size_t i = 0; i < w->error_count && i < DS_MAX_HEAP_ERRORS; i++) {
    const ds_heap_error *e = &w->errors[i];
    const ds_segment *s = ds_heap_segment(a->heap, e->segment);
    json_t *je = json_object();
    json_object_set_new(je, "kind", json_string("object"));
    json_object_set_new(je, "object", hex(e->object));
    json_object_set_new(je, "last_good_object", hex(e->last_good));
    json_object_set_new(je, "mt", hex(e->mt));
    json_object_set_new(je, "segment", hex(s ? s->descriptor : e->object));
    json_object_set_new(je, "segment_start", hex(s ? s->start : 0));
    json_object_set_new(je, "segment_end", hex(s ? s->end : 0));
    json_object_set_new(je, "generation", json_string(s ? ds_gen_name(s->gen) : "unknown"));
    json_object_set_new(je, "message", json_string(e->message));
    json_array_append_new(errs, je);
  }
  for (size_t i = 0; i < r->error_count && i < DS_MAX_HEAP_ERRORS; i++) {
    const ds_verify_error *e = &r->errors[i];
    const ds_segment *s = e->segment == SIZE_MAX ? NULL : ds_heap_segment(a->heap, e->segment);
    json_t *je = json_object();
    json_object_set_new(je, "kind", json_string(verify_kind_name(e->kind)));
    json_object_set_new(je, "object", hex(e->object));
    json_object_set_new(je, "mt", hex(e->mt));
    if (e->kind == DS_VERIFY_REFERENCE) {
      char field[160];
      field_at(a, e->object, e->mt, e->offset, field, sizeof field);
      json_object_set_new(je, "offset", json_integer((json_int_t)e->offset));
      json_object_set_new(je, "field", json_string(field));
      json_object_set_new(je, "value", hex(e->value));
    } else {
      json_object_set_new(je, "header", hex(e->value));
    }
    json_object_set_new(je, "segment", hex(s ? s->descriptor : 0));
    json_object_set_new(je, "generation", json_string(s ? ds_gen_name(s->gen) : "unknown"));
    json_object_set_new(je, "message", json_string(e->message));
    json_array_append_new(errs, je);
  }
  json_object_set_new(j, "errors", errs);
  return j;
}

static void verify_text(ds_analysis *a, const ds_verify_result *r) {
  const ds_walk_stats *w = &r->walk;
  for (size_t i = 0; i < w->error_count && i < DS_MAX_HEAP_ERRORS; i++) {
    const ds_heap_error *e = &w->errors[i];
    const ds_segment *s = ds_heap_segment(a->heap, e->segment);
    if (!s) { /* damage in the heap's description: the message says where */
      printf("%s\n  at segment descriptor %016llx\n", e->message, (unsigned long long)e->object);
      continue;
    }
    printf("%s\n  in segment %016llx [%016llx, %016llx) %s\n", e->message,
           (unsigned long long)(s ? s->descriptor : 0), (unsigned long long)(s ? s->start : 0),
           (unsigned long long)(s ? s->end : 0), s ? ds_gen_name(s->gen) : "");
  }
  for (size_t i = 0; i < r->error_count && i < DS_MAX_HEAP_ERRORS; i++) {
    const ds_verify_error *e = &r->errors[i];
    char field[160] = "";
    if (e->kind == DS_VERIFY_REFERENCE)
      field_at(a, e->object, e->mt, e->offset, field, sizeof field);
    printf("%s%s%s%s\n", e->message, field[0] ? " (field " : "", field, field[0] ? ")" : "");
  }
  size_t total = w->error_count + r->error_count;
  if (total == 0)
    printf("No heap corruption detected (%llu objects, %llu references, %llu sync blocks).\n",
           (unsigned long long)w->objects, (unsigned long long)r->references, (unsigned long long)r->sync_blocks);
  else
    printf("%zu error(s) found; %llu objects, %llu references, %llu sync blocks checked.\n", total,
           (unsigned long long)w->objects, (unsigned long long)r->references, (unsigned long long)r->sync_blocks);
}

static int cmd_verify(const cli_options *o) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  if (open_analysis(o, &a, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  ds_sync_block *sync_blocks = NULL;
  size_t sync_count = 0;
  if (ds_dac_sync_blocks(a->dac, &sync_blocks, &sync_count, &err) != DS_OK) {
    /* a table the DAC cannot read: verify the rest, say so */
    fprintf(stderr, "warning: sync block table not read (%s): sync block numbers not checked\n", err.message);
    sync_count = 0;
    err = (ds_error){0};
  }
  ds_verify_result r;
  if (ds_heap_verify(a->heap, sync_blocks, sync_count, &r, &err) != DS_OK) {
    free(sync_blocks);
    ds_analysis_close(a);
    return ds_cli_fail(o->json, &err);
  }
  if (o->json)
    ds_cli_print_json(verify_json(a, &r));
  else
    verify_text(a, &r);
  int code = r.walk.error_count || r.error_count ? 4 : 0;
  ds_verify_result_free(&r);
  free(sync_blocks);
  ds_analysis_close(a);
  return code;
}

/* ---- gcgen ------------------------------------------------------------------------------ */

static int cmd_gcgen(const cli_options *o) {
  ds_error err = {0};
  uint64_t addr;
  if (!ds_cli_parse_address(o->address, &addr)) {
    ds_error_set(&err, DS_E_ARG, "gcgen needs an object address in hex, got \"%s\"",
                 o->address ? o->address : "");
    return ds_cli_fail(o->json, &err);
  }
  ds_analysis *a = NULL;
  if (open_analysis(o, &a, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  const ds_segment *s = ds_heap_segment_at(a->heap, addr);
  int code = 0;
  if (!s) {
    ds_error_set(&err, DS_E_NOT_FOUND, "0x%llx is not in the GC heap", (unsigned long long)addr);
    code = ds_cli_fail(o->json, &err);
  } else if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "address", hex(addr));
    json_object_set_new(j, "generation", json_string(ds_gen_name(s->gen)));
    json_object_set_new(j, "heap", json_integer(s->heap));
    json_object_set_new(j, "segment", hex(s->descriptor));
    ds_cli_print_json(j);
  } else {
    printf("%s (heap %u, segment %016llx)\n", ds_gen_name(s->gen), s->heap,
           (unsigned long long)s->descriptor);
  }
  ds_analysis_close(a);
  return code;
}

/* ---- obj / mt ------------------------------------------------------------------------- */

/* Renders a field's value from the object's memory. */
static json_t *field_value(ds_analysis *a, const ds_field *f, uint64_t field_addr, char *text, size_t text_len) {
  uint8_t raw[8] = {0};
  uint32_t size = ds_element_type_size(f->element_type);
  bool ref = ds_element_type_is_reference(f->element_type);
  if (ref)
    size = 8;
  if (f->element_type == DS_ELEMENT_VALUETYPE) {
    snprintf(text, text_len, "(struct at 0x%llx)", (unsigned long long)field_addr);
    return json_pack("{s:s,s:o}", "kind", "struct", "address", hex(field_addr));
  }
  if (size == 0 || !ds_dump_read_exact(a->dump, field_addr, raw, size)) {
    snprintf(text, text_len, "<unreadable>");
    return json_null();
  }
  uint64_t u = 0;
  memcpy(&u, raw, size);
  if (ref) {
    if (u == 0) {
      snprintf(text, text_len, "null");
      return json_null();
    }
    uint32_t ti;
    if (ds_heap_object_size(a->heap, u, &ti) && (ds_heap_type(a->heap, ti)->flags & DS_TYPE_STRING)) {
      char s[256];
      ds_heap_read_string(a->heap, u, 80, s, sizeof s);
      snprintf(text, text_len, "%016llx \"%s\"", (unsigned long long)u, s);
      return json_pack("{s:o,s:s}", "address", hex(u), "string", s);
    }
    snprintf(text, text_len, "%016llx", (unsigned long long)u);
    return hex(u);
  }
  switch (f->element_type) {
  case DS_ELEMENT_BOOLEAN: snprintf(text, text_len, "%s", raw[0] ? "true" : "false"); return json_boolean(raw[0]);
  case DS_ELEMENT_I1: snprintf(text, text_len, "%d", (int8_t)raw[0]); return json_integer((int8_t)raw[0]);
  case DS_ELEMENT_I2: { int16_t v; memcpy(&v, raw, 2); snprintf(text, text_len, "%d", v); return json_integer(v); }
  case DS_ELEMENT_I4: { int32_t v; memcpy(&v, raw, 4); snprintf(text, text_len, "%d", v); return json_integer(v); }
  case DS_ELEMENT_I8: case DS_ELEMENT_I: { int64_t v; memcpy(&v, raw, 8); snprintf(text, text_len, "%lld", (long long)v); return json_integer(v); }
  case DS_ELEMENT_R4: { float v; memcpy(&v, raw, 4); snprintf(text, text_len, "%g", v); return json_real(v); }
  case DS_ELEMENT_R8: { double v; memcpy(&v, raw, 8); snprintf(text, text_len, "%g", v); return json_real(v); }
  default:
    snprintf(text, text_len, "%llu", (unsigned long long)u);
    return json_integer((json_int_t)u);
  }
}

static int cmd_obj(const cli_options *o) {
  ds_error err = {0};
  uint64_t addr;
  if (!ds_cli_parse_address(o->address, &addr)) {
    ds_error_set(&err, DS_E_ARG, "dumpobj needs an object address in hex, got \"%s\"", o->address ? o->address : "");
    return ds_cli_fail(o->json, &err);
  }
  ds_analysis *a = NULL;
  if (open_analysis(o, &a, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  int code = 0;
  ds_field *fields = NULL;
  size_t field_count = 0;
  uint32_t ti = 0;
  uint64_t size = ds_heap_object_size(a->heap, addr, &ti);
  const ds_segment *seg = ds_heap_segment_at(a->heap, addr);
  if (!size || !seg) {
    ds_error_set(&err, DS_E_NOT_FOUND, "0x%llx is not a valid object%s", (unsigned long long)addr,
                 seg ? " (no valid MethodTable there)" : " (not in the GC heap)");
    code = ds_cli_fail(o->json, &err);
    goto out;
  }
  const ds_type *t = ds_heap_type(a->heap, ti);
  char namebuf[DS_MAX_TYPE_NAME_CHARS];
  const char *name = display_name(o, t, namebuf, sizeof namebuf);
  json_t *j = json_object();
  json_object_set_new(j, "address", hex(addr));
  json_object_set_new(j, "type", json_string(name));
  json_object_set_new(j, "mt", hex(t->mt));
  json_object_set_new(j, "size", json_integer((json_int_t)size));
  json_object_set_new(j, "generation", json_string(ds_gen_name(seg->gen)));
  if (!o->json)
    printf("Name:        %s\nMethodTable: %016llx\nSize:        %llu bytes\nGeneration:  %s\n", name,
           (unsigned long long)t->mt, (unsigned long long)size, ds_gen_name(seg->gen));
  if (t->flags & DS_TYPE_STRING) {
    char s[4096];
    int64_t len = ds_heap_read_string(a->heap, addr, 1000, s, sizeof s);
    json_object_set_new(j, "length", json_integer(len));
    json_object_set_new(j, "string", json_string(s));
    if (!o->json)
      printf("Length:      %lld\nString:      %s\n", (long long)len, s);
  } else if (t->flags & DS_TYPE_ARRAY) {
    const ds_layout *layout = ds_analysis_layout(a);
    uint32_t length = 0;
    ds_layout_read_length(layout, a->dump, addr, &length);
    uint64_t emt = 0;
    uint32_t etype = 0;
    ds_error ignore = {0};
    ds_analysis_array_element(a, addr, &emt, &etype, &ignore);
    char ename[DS_MAX_TYPE_NAME_CHARS] = "";
    if (emt)
      ds_dac_method_table_name(a->dac, emt, ename, sizeof ename, &ignore);
    json_object_set_new(j, "length", json_integer(length));
    json_object_set_new(j, "element_type", json_string(ename[0] ? ename : (ds_element_type_name(etype) ? ds_element_type_name(etype) : "?")));
    json_t *elems = json_array();
    size_t show = length < (o->limit ? o->limit : 20) ? length : (o->limit ? o->limit : 20);
    if (!o->json)
      printf("Array:       rank 1, %u elements of %s\n", length, ename);
    for (size_t i = 0; i < show; i++) {
      if (ds_element_type_is_reference(etype)) {
        uint64_t v = 0;
        ds_dump_read_u64(a->dump, ds_layout_element(layout, addr, i, 8), &v);
        json_array_append_new(elems, v ? hex(v) : json_null());
        if (!o->json)
          printf("[%zu] %016llx\n", i, (unsigned long long)v);
      } else if (ds_element_type_size(etype)) {
        uint32_t es = ds_element_type_size(etype);
        uint64_t v = 0;
        ds_dump_read(a->dump, ds_layout_element(layout, addr, i, es), &v, es);
        json_array_append_new(elems, json_integer((json_int_t)v));
        if (!o->json)
          printf("[%zu] %llu\n", i, (unsigned long long)v);
      }
    }
    json_object_set_new(j, "elements", elems);
  } else if (ds_analysis_type_fields(a, t->mt, false, &fields, &field_count, &err) == DS_OK) {
    json_t *jf = json_array();
    if (!o->json)
      printf("Fields:\n%-6s %-40s %-24s %s\n", "Offset", "Type", "Name", "Value");
    for (size_t i = 0; i < field_count; i++) {
      char text[512];
      json_t *v = field_value(a, &fields[i], addr + fields[i].offset, text, sizeof text);
      json_array_append_new(jf, json_pack("{s:s,s:s,s:i,s:o}", "name", fields[i].name, "type",
                                          fields[i].type_name, "offset", (int)fields[i].offset, "value", v));
      if (!o->json)
        printf("%6x %-40s %-24s %s\n", fields[i].offset, fields[i].type_name, fields[i].name, text);
    }
    json_object_set_new(j, "fields", jf);
  }
  if (o->json)
    ds_cli_print_json(j);
  else
    json_decref(j);
out:
  free(fields);
  ds_analysis_close(a);
  return code;
}

static int cmd_mt(const cli_options *o) {
  ds_error err = {0};
  uint64_t mt;
  if (!ds_cli_parse_address(o->address, &mt)) {
    ds_error_set(&err, DS_E_ARG, "mt needs a MethodTable address in hex, got \"%s\"", o->address ? o->address : "");
    return ds_cli_fail(o->json, &err);
  }
  ds_analysis *a = NULL;
  if (open_analysis(o, &a, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  int code = 0;
  uint32_t ti = ds_heap_type_index(a->heap, mt, &err);
  ds_field *fields = NULL;
  size_t count = 0;
  if (ti == UINT32_MAX) {
    err.code = DS_E_NOT_FOUND;
    code = ds_cli_fail(o->json, &err);
    goto out;
  }
  const ds_type *t = ds_heap_type(a->heap, ti);
  char namebuf[DS_MAX_TYPE_NAME_CHARS];
  ds_analysis_type_fields(a, mt, true, &fields, &count, &err);
  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "mt", hex(mt));
    json_object_set_new(j, "name", json_string(display_name(o, t, namebuf, sizeof namebuf)));
    json_object_set_new(j, "base_size", json_integer(t->base_size));
    json_object_set_new(j, "component_size", json_integer(t->component_size));
    json_object_set_new(j, "parent_mt", hex(t->parent_mt));
    json_object_set_new(j, "module", hex(t->module));
    json_object_set_new(j, "token", hex(t->token));
    json_object_set_new(j, "contains_pointers", json_boolean(t->flags & DS_TYPE_POINTERS));
    json_object_set_new(j, "finalizable", json_boolean(t->flags & DS_TYPE_FINALIZABLE));
    json_object_set_new(j, "collectible", json_boolean(t->flags & DS_TYPE_COLLECTIBLE));
    json_t *jf = json_array();
    for (size_t i = 0; i < count; i++)
      json_array_append_new(jf, json_pack("{s:s,s:s,s:i,s:b}", "name", fields[i].name, "type",
                                          fields[i].type_name, "offset", (int)fields[i].offset,
                                          "static", fields[i].is_static));
    json_object_set_new(j, "fields", jf);
    ds_cli_print_json(j);
  } else {
    printf("Name:           %s\nMethodTable:    %016llx\nParent MT:      %016llx\nModule:         %016llx\n"
           "mdToken:        %08x\nBaseSize:       0x%x\nComponentSize:  0x%x\nContainsPointers: %s\n"
           "Finalizable:    %s\n",
           display_name(o, t, namebuf, sizeof namebuf), (unsigned long long)mt,
           (unsigned long long)t->parent_mt, (unsigned long long)t->module, t->token, t->base_size,
           t->component_size, t->flags & DS_TYPE_POINTERS ? "yes" : "no",
           t->flags & DS_TYPE_FINALIZABLE ? "yes" : "no");
    printf("Fields (%zu):\n", count);
    for (size_t i = 0; i < count; i++)
      printf("  %6x %-8s %-40s %s\n", fields[i].offset, fields[i].is_static ? "static" : "instance",
             fields[i].type_name, fields[i].name);
  }
out:
  free(fields);
  ds_analysis_close(a);
  return code;
}

/* ---- the table ------------------------------------------------------------------------------ */

const ds_cli_command ds_cli_dac_commands[] = {
    {"info", cmd_info, false, "runtime, DAC, GC mode and timings"},
    {"eeheap", cmd_eeheap, false, "GC heaps, segments/regions and generation sizes (SOS !eeheap -gc)"},
    {"heapstat", cmd_heapstat, false, "per-type histogram (SOS !dumpheap -stat, SOSEX !dumpgen)"},
    {"verify", cmd_verify, false, "walk the heap; check every object, reference field and sync block number (SOS !verifyheap)"},
    {"gcgen", cmd_gcgen, true, "generation of an address (SOSEX !gcgen)"},
    {"dumpobj", cmd_obj, true, "an object read through the DAC, without the index"},
    {"mt", cmd_mt, true, "a MethodTable: sizes, flags, fields (SOS !dumpmt)"},
    /* SOS spellings of the commands above */
    {"dumpmt", cmd_mt, true, "SOS spelling of mt"},
    {"verifyheap", cmd_verify, false, "SOS spelling of verify"},
};

const size_t ds_cli_dac_command_count = sizeof ds_cli_dac_commands / sizeof *ds_cli_dac_commands;
