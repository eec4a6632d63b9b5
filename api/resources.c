/*
 * resources.c: the resource table and its handlers. Each handler reads its parameters (args.c's
 * readers), asks core/query for the document and returns it; ds_api_call checks the parameter
 * names against the row and pages the row's list, so the CLI and HTTP get the same document.
 */
#include "api.h"
#include "apiint.h"

#include <stdlib.h>
#include <string.h>

#include "dumpscope/heap.h"
#include "dumpscope/index.h"

/* ---- shared parameter groups ----------------------------------------------------------------- */

#define FILTER_PARAMS "type,exact,min_size,max_size,strings,liveness"
#define PAGE_PARAMS "limit,cursor"

static const char *const liveness_words[] = {"any", "live", "dead", NULL};
static const char *const sort_words[] = {"size", "count", "name", NULL};
static const char *const order_words[] = {"desc", "asc", NULL};

/* The object filter shared by histograms and listings. gen_param: where the generation comes from
 * (a path parameter "gen", or an optional query parameter). */
static ds_status read_filter(const ds_api_args *args, const char *gen_param, bool gen_required, ds_object_filter *f,
                             ds_error *err) {
  memset(f, 0, sizeof *f);
  f->gen = -1;
  const char *gen_text = ds_api_args_get(args, gen_param);
  if (gen_text) {
    f->gen = ds_gen_parse(gen_text);
    if (f->gen < 0)
      return ds_error_set(err, DS_E_ARG, "unknown generation \"%.32s\" (use 0, 1, 2, loh, poh or frozen)", gen_text);
  } else if (gen_required) {
    return ds_error_set(err, DS_E_ARG, "a generation is required (0, 1, 2, loh, poh or frozen)");
  }
  f->type_text = ds_api_args_get(args, "type");
  bool strings = true, free_only = false;
  int liveness = 0;
  ds_status rc;
  if ((rc = ds_api_get_bool(args, "exact", false, &f->type_exact, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "min_size", 0, 0, UINT64_MAX, &f->min_size, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "max_size", 0, 0, UINT64_MAX, &f->max_size, err)) != DS_OK ||
      (rc = ds_api_get_bool(args, "strings", true, &strings, err)) != DS_OK ||
      (rc = ds_api_get_bool(args, "free", false, &free_only, err)) != DS_OK ||
      (rc = ds_api_get_enum(args, "liveness", liveness_words, 0, &liveness, err)) != DS_OK)
    return rc;
  if (f->max_size && f->min_size > f->max_size)
    return ds_error_set(err, DS_E_ARG, "min_size (%llu) is larger than max_size (%llu)",
                        (unsigned long long)f->min_size, (unsigned long long)f->max_size);
  f->no_strings = !strings;
  f->free_only = free_only;
  f->liveness = liveness == 1 ? DS_LIVE_ONLY : liveness == 2 ? DS_DEAD_ONLY : DS_LIVE_ANY;
  return DS_OK;
}

/* Offset paging: the window [offset, offset + limit) of a list. The cursor is the offset as
 * decimal text; clients treat it as opaque. */
static ds_status read_window(const ds_api_args *args, size_t *offset, size_t *limit, ds_error *err) {
  uint64_t l, o = 0;
  ds_status rc = ds_api_get_u64(args, "limit", DS_API_DEFAULT_LIMIT, 1, DS_API_MAX_LIMIT, &l, err);
  if (rc != DS_OK)
    return rc;
  const char *cursor = ds_api_args_get(args, "cursor");
  if (cursor) {
    /* the server issues decimal offsets: digits only (strtoull alone would take " +5") */
    size_t digits = strspn(cursor, "0123456789");
    char *end = NULL;
    unsigned long long v = digits ? strtoull(cursor, &end, 10) : 0;
    if (!digits || cursor[digits] || digits > 10 || v > (1ull << 32))
      return ds_error_set(err, DS_E_ARG, "cursor \"%.40s\" is not one this server issued", cursor);
    o = v;
  }
  *offset = (size_t)o;
  *limit = (size_t)l;
  return DS_OK;
}

/* How many items a capped query must return for the window to be served, plus one to know
 * whether a next page exists. */
static size_t window_need(const ds_api_args *args) {
  size_t offset = 0, limit = DS_API_DEFAULT_LIMIT;
  ds_error ignored;
  if (read_window(args, &offset, &limit, &ignored) != DS_OK)
    return DS_API_DEFAULT_LIMIT + 1;
  return offset + limit + 1;
}

/* ---- handlers -------------------------------------------------------------------------------- */

static ds_status h_summary(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  (void)args;
  return ds_query_summary(q, out, err);
}

/* Histogram rows sorted by sort/order; the whole list (ds_api_call pages it). */
static ds_status stats(ds_query *q, const ds_api_args *args, const ds_object_filter *f, json_t **out, ds_error *err) {
  int sort, order;
  ds_status rc;
  if ((rc = ds_api_get_enum(args, "sort", sort_words, 0, &sort, err)) != DS_OK ||
      (rc = ds_api_get_enum(args, "order", order_words, sort == 2 ? 1 : 0, &order, err)) != DS_OK)
    return rc;
  rc = ds_query_stats(q, f, (ds_sort)sort, 0, out, err);
  if (rc != DS_OK)
    return rc;
  bool natural_desc = sort != 2; /* size and count sort descending, names ascending */
  if ((order == 0) != natural_desc) {
    json_t *types = json_object_get(*out, "types"), *reversed = json_array();
    for (size_t i = json_array_size(types); i-- > 0;)
      json_array_append(reversed, json_array_get(types, i));
    json_object_set_new(*out, "types", reversed);
  }
  json_object_set_new(*out, "sort", json_string(sort_words[sort]));
  json_object_set_new(*out, "order", json_string(order_words[order]));
  return DS_OK;
}

static ds_status h_gen(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  ds_object_filter f;
  ds_status rc = read_filter(args, "gen", true, &f, err);
  return rc != DS_OK ? rc : stats(q, args, &f, out, err);
}

static ds_status h_heap(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  (void)args;
  return ds_query_heap(q, out, err);
}

static ds_status h_heap_stat(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  ds_object_filter f;
  ds_status rc = read_filter(args, "gen", false, &f, err);
  return rc != DS_OK ? rc : stats(q, args, &f, out, err);
}

static ds_status h_types(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  ds_object_filter f = {.gen = -1, .type_text = ds_api_args_get(args, "q")};
  return stats(q, args, &f, out, err);
}

/* Instances in address order; the cursor is the last address of the previous page. */
static ds_status objects(ds_query *q, const ds_api_args *args, bool gen_required, json_t **out, ds_error *err) {
  ds_object_filter f;
  uint64_t after, limit;
  ds_status rc;
  if ((rc = read_filter(args, "gen", gen_required, &f, err)) != DS_OK ||
      (rc = ds_api_get_address(args, "cursor", false, &after, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", DS_API_DEFAULT_LIMIT, 1, DS_API_MAX_LIMIT, &limit, err)) != DS_OK)
    return rc;
  return ds_query_objects(q, &f, after, (size_t)limit, out, err);
}

static ds_status h_gen_objects(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  return objects(q, args, true, out, err);
}

static ds_status h_heap_objects(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  return objects(q, args, false, out, err);
}

static ds_status h_object(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t addr, offset, limit;
  ds_status rc;
  if ((rc = ds_api_get_address(args, "addr", true, &addr, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "offset", 0, 0, UINT32_MAX, &offset, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", 20, 1, 1000, &limit, err)) != DS_OK)
    return rc;
  return ds_query_object(q, addr, (size_t)offset, (size_t)limit, out, err);
}

static ds_status h_refs(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  static const char *const directions[] = {"both", "in", "out", NULL};
  uint64_t addr, limit;
  int direction;
  ds_status rc;
  if ((rc = ds_api_get_address(args, "addr", true, &addr, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", 1000, 1, 100000, &limit, err)) != DS_OK ||
      (rc = ds_api_get_enum(args, "direction", directions, 0, &direction, err)) != DS_OK)
    return rc;
  rc = ds_query_refs(q, addr, (size_t)limit, out, err);
  if (rc == DS_OK && direction == 1)
    json_object_del(*out, "references");
  else if (rc == DS_OK && direction == 2)
    json_object_del(*out, "referenced_by");
  return rc;
}

static ds_status h_roots(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t addr, limit;
  bool all;
  ds_status rc;
  if ((rc = ds_api_get_address(args, "addr", true, &addr, err)) != DS_OK ||
      (rc = ds_api_get_bool(args, "all", false, &all, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", 100, 1, 1000, &limit, err)) != DS_OK)
    return rc;
  return ds_query_root_paths(q, addr, all, (size_t)limit, out, err);
}

static ds_status h_address(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t addr;
  ds_status rc = ds_api_get_address(args, "addr", true, &addr, err);
  return rc != DS_OK ? rc : ds_query_gcgen(q, addr, out, err);
}

static ds_status h_handles(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t limit;
  ds_status rc = ds_api_get_u64(args, "limit", 1000, 1, 100000, &limit, err);
  return rc != DS_OK ? rc : ds_query_handles(q, (size_t)limit, out, err);
}

static ds_status h_finalizer(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  static const char *const queues[] = {"finalizable", "ready", NULL};
  int queue, gen = -1;
  bool stat;
  ds_status rc;
  if ((rc = ds_api_get_enum(args, "queue", queues, 0, &queue, err)) != DS_OK ||
      (rc = ds_api_get_bool(args, "stat", false, &stat, err)) != DS_OK)
    return rc;
  const char *gen_text = ds_api_args_get(args, "gen");
  if (gen_text && (gen = ds_gen_parse(gen_text)) < 0)
    return ds_error_set(err, DS_E_ARG, "gen: unknown generation \"%.32s\" (use 0, 1, 2, loh, poh or frozen)", gen_text);
  rc = ds_query_finalizer_gen(q, queue == 1, stat, gen, window_need(args), out, err);
  if (rc == DS_OK)
    json_object_set_new(*out, "queue", json_string(queues[queue]));
  return rc;
}

static ds_status h_thread_objects(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint32_t thread;
  ds_status rc = ds_api_get_thread(q, args, "thread", &thread, err);
  return rc != DS_OK ? rc : ds_query_stack_objects(q, thread, out, err);
}

static ds_status h_stack(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint32_t thread;
  ds_status rc = ds_api_get_thread(q, args, "thread", &thread, err);
  return rc != DS_OK ? rc : ds_query_stack(q, thread, out, err);
}

static ds_status h_fragmentation(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t limit, mt;
  ds_status rc;
  if ((rc = ds_api_get_u64(args, "limit", 100, 1, 100000, &limit, err)) != DS_OK ||
      (rc = ds_api_get_address(args, "mt", false, &mt, err)) != DS_OK)
    return rc;
  return ds_query_fragmentation_of(q, (size_t)limit, mt, out, err);
}

static ds_status h_strings(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t min_length, limit;
  bool duplicates;
  ds_status rc;
  if ((rc = ds_api_get_u64(args, "min_length", 0, 0, UINT32_MAX, &min_length, err)) != DS_OK ||
      (rc = ds_api_get_bool(args, "duplicates", false, &duplicates, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", 100, 1, DS_API_MAX_LIMIT, &limit, err)) != DS_OK)
    return rc;
  const char *module = ds_api_args_get(args, "module");
  if (module && (!*module || duplicates))
    return ds_error_set(err, DS_E_ARG, "module: %s", *module ? "cannot be combined with duplicates" : "is empty");
  if (module)
    return ds_query_module_strings(q, module, ds_api_args_get(args, "q"), (size_t)min_length, (size_t)limit, out, err);
  return ds_query_strings(q, ds_api_args_get(args, "q"), (size_t)min_length, duplicates, (size_t)limit, out, err);
}

static ds_status h_threads(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  (void)args;
  return ds_query_threads(q, out, err);
}

static ds_status h_locks(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  return ds_api_with_stacks(q, args, ds_query_locks, out, err);
}

static ds_status h_waits(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  return ds_api_with_stacks(q, args, ds_query_waits, out, err);
}

static ds_status h_deadlocks(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  return ds_api_with_stacks(q, args, ds_query_deadlocks, out, err);
}

static ds_status h_findings(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  (void)args;
  return ds_query_findings(q, out, err);
}

static ds_status h_dominators(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  static const char *const kinds[] = {"object", "type", NULL};
  uint64_t parent, limit;
  int by;
  ds_status rc;
  if ((rc = ds_api_get_address(args, "parent", false, &parent, err)) != DS_OK ||
      (rc = ds_api_get_enum(args, "by", kinds, 0, &by, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", 100, 1, DS_API_MAX_LIMIT, &limit, err)) != DS_OK)
    return rc;
  return ds_query_dominators(q, parent, by == 1, (size_t)limit, out, err);
}

static ds_api_other other_index;

void ds_api_set_other(const ds_api_other *other) { other_index = other ? *other : (ds_api_other){0}; }

/* This dump (after) against the one named by base (before). */
static ds_status h_diff(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  static const char *const sorts[] = {"bytes", "count", "retained", NULL};
  const char *base = ds_api_args_get(args, "base");
  uint64_t limit;
  int sort;
  ds_status rc;
  if (!base || !*base)
    return ds_error_set(err, DS_E_ARG, "diff needs base: the dump to compare with (the earlier one)");
  if ((rc = ds_api_get_enum(args, "sort", sorts, 0, &sort, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", 100, 1, DS_API_MAX_LIMIT, &limit, err)) != DS_OK)
    return rc;
  if (!other_index.open)
    return ds_error_set(err, DS_E_ARG, "comparing dumps is not available here");
  ds_query *before = NULL;
  if ((rc = other_index.open(other_index.ctx, base, &before, err)) != DS_OK)
    return rc;
  rc = ds_query_diff(before, q, (ds_diff_sort)sort, (size_t)limit, out, err);
  if (other_index.release)
    other_index.release(other_index.ctx, before);
  return rc;
}

static ds_status h_report(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  (void)args;
  return ds_query_report(q, out, err);
}

/* ---- the table ------------------------------------------------------------------------------- */


static const ds_api_resource resources[] = {
    {"summary", "summary", NULL, "", h_summary, ds_api_render_summary, NULL, NULL,
     "what the index holds: objects, references, roots, live bytes"},
    {"gen", "gen/{gen}", "gen", "sort,order," FILTER_PARAMS "," PAGE_PARAMS, h_gen, ds_api_render_stats, "types",
     "type_count", "per-type count and size of generation 0|1|2|loh|poh|frozen (SOSEX !dumpgen)"},
    {"gen_objects", "gen/{gen}/objects", "gen", FILTER_PARAMS "," PAGE_PARAMS, h_gen_objects,
     ds_api_render_objects, NULL, NULL, "instances in a generation, in address order (cursor: last address)"},
    {"heap", "heap", NULL, PAGE_PARAMS, h_heap, NULL, "segments", "segment_count",
     "the GC heap: generations with their segments or regions, bytes spanned, object, free and live bytes (SOS !eeheap -gc)"},
    {"heap_stat", "heap/stat", NULL, "gen,free,sort,order," FILTER_PARAMS "," PAGE_PARAMS, h_heap_stat,
     ds_api_render_stats, "types", "type_count", "per-type histogram of the whole heap, live/dead (SOS !dumpheap -stat)"},
    {"heap_objects", "heap/objects", NULL, "gen,free," FILTER_PARAMS "," PAGE_PARAMS, h_heap_objects,
     ds_api_render_objects, NULL, NULL, "instances across the heap, in address order (SOS !dumpheap)"},
    {"types", "types", NULL, "q,sort,order," PAGE_PARAMS, h_types, ds_api_render_stats, "types", "type_count",
     "types whose name contains q, with counts and sizes (mx matches patterns)"},
    {"mdt", "types/{type}", "type", "depth,elements", ds_api_h_mdt, ds_api_render_mdt, NULL, NULL,
     "a type (MT, name, or an object's) with its field layout, statics and methods; an object's fields "
     "with value types inline and references followed depth levels (SOSEX !mdt -r)"},
    {"mx", "search", NULL, "q,kind,limit", ds_api_h_search, ds_api_render_search, NULL, NULL,
     "types, fields and methods whose names match q (wildcards * and ?), kind=all|types|fields|methods "
     "(SOSEX !mx)"},
    {"object", "objects/{addr}", "addr", "offset,limit", h_object, NULL, NULL, NULL,
     "an object: type, size, generation, live, fields or array elements (SOS !dumpobj)"},
    {"refs", "objects/{addr}/refs", "addr", "direction,limit", h_refs, ds_api_render_refs, NULL, NULL,
     "who references an object (with the field) and what it references (SOSEX !refs)"},
    {"roots", "roots/{addr}", "addr", "all,limit", h_roots, ds_api_render_roots, NULL, NULL,
     "shortest root path to an object; all=true: one per distinct root (SOSEX !mroot)"},
    {"address", "addresses/{addr}", "addr", "", h_address, NULL, NULL, NULL,
     "generation, heap and segment of an address, and the object containing it (SOSEX !gcgen)"},
    {"mln", "memory/{addr}", "addr", "", ds_api_h_memory, ds_api_render_memory, NULL, NULL,
     "what lives at an address: object (interior too), free block, stack (thread, frame), handle, "
     "module (section), JIT code, loader heap (SOSEX !mln)"},
    {"handles", "handles", NULL, "limit", h_handles, ds_api_render_handles, NULL, NULL, "GC handles by kind, pinned flagged (SOSEX !gch)"},
    {"finalizer", "finalizer", NULL, "queue,stat,gen," PAGE_PARAMS, h_finalizer, ds_api_render_finalizer, "objects", "count",
     "finalizer queue: queue=finalizable|ready, stat=true for per-type counts, gen=N one generation (SOSEX !finq, !frq)"},
    {"fragmentation", "fragmentation", NULL, "limit,mt", h_fragmentation, ds_api_render_fragmentation, NULL, NULL,
     "free space per generation and the pinned objects holding gaps; mt=MT only holders of that type (SOSEX !mfrag)"},
    {"strings", "strings", NULL, "q,min_length,duplicates,limit,module", h_strings, ds_api_render_module_strings,
     NULL, NULL,
     "strings containing q, at least min_length chars; duplicates=true groups by value; module=NAME the string "
     "literals of one assembly, each with its heap object (SOSEX !strings)"},
    {"threads", "threads", NULL, PAGE_PARAMS, h_threads, ds_api_render_threads, "threads", NULL,
     "managed threads: ids, state, GC mode, exception, role, top frame and method, wait (SOS !clrthreads)"},
    {"stack", "threads/{thread}/stack", "thread", "", h_stack, ds_api_render_stack, NULL, NULL,
     "a thread's managed stack, runtime frames marked, and its wait (SOS !clrstack; SOSEX !mk: mk)"},
    {"frames", "threads/{thread}/frames", "thread", "frame", ds_api_h_frames, ds_api_render_frames, NULL, NULL,
     "a thread's managed frames with IL offsets, arguments and locals and their values; frame=N only that "
     "one (SOSEX !mdv, !mframe; SOS !clrstack -a)"},
    {"mu", "code/{addr}", "addr", "around", ds_api_h_mu, ds_api_render_disasm, NULL, NULL,
     "the JIT-compiled code around an address, around=N instructions each side, with IL offsets, source "
     "lines and called methods named (SOSEX !mu)"},
    {"muf", "methods/{method}/code", "method", "", ds_api_h_muf, ds_api_render_disasm, NULL, NULL,
     "a managed method's whole native code (by name, Ns.Type.Method, or a code address) with IL offsets, "
     "source lines and called methods named (SOSEX !muf)"},
    {"mk", "threads/{thread}/mixed", "thread", "", ds_api_h_mixed, ds_api_render_mixed, NULL, NULL,
     "a thread's mixed stack: native frames unwound from the core (function, module) down to managed code, "
     "then the managed frames, runtime frames marked (SOSEX !mk)"},
    {"thread_objects", "threads/{thread}/objects", "thread", "", h_thread_objects, NULL, NULL, NULL,
     "objects on a thread's stack by frame (SOSEX !mdso)"},
    {"locks", "locks", NULL, "details", h_locks, ds_api_render_locks_details, NULL, NULL,
     "monitors, Lock, ReaderWriterLockSlim, SemaphoreSlim, ManualResetEventSlim, Barrier, CountdownEvent in use; "
     "details=true adds "
     "the stacks of the threads involved (SOSEX !mlocks -d)"},
    {"waits", "waits", NULL, "details", h_waits, ds_api_render_waits_details, NULL, NULL,
     "what each blocked thread waits on and who holds it; details=true adds stacks (SOSEX !mwaits -d)"},
    {"deadlocks", "deadlocks", NULL, "details", h_deadlocks, ds_api_render_deadlocks_details, NULL, NULL,
     "wait-for cycles with locks and stacks; contention that is not a deadlock; details=true adds every "
     "involved thread's stack (SOSEX !dlk -d)"},
    {"findings", "findings", NULL, "", h_findings, ds_api_render_findings, NULL, NULL,
     "findings, most severe first, with evidence and the threshold each compared against"},
    {"dominators", "dominators", NULL, "parent,by,limit", h_dominators, ds_api_render_dominators, NULL, NULL,
     "the dominator tree: the objects parent dominates (default: the top), largest retained size first; "
     "by=type: types by the bytes their instances retain (MAT's dominator tree)"},
    {"diff", "diff", NULL, "base,sort,limit", h_diff, ds_api_render_diff, NULL, NULL,
     "growth against an earlier dump (base: its id) per type: instances, bytes, retained bytes "
     "(dumpscope diff BEFORE AFTER)"},
    {"report", "report", NULL, "", h_report, ds_api_render_report, NULL, NULL,
     "the automatic analysis report: summary, findings, top types per generation, LOH, strings, exceptions "
     "(dumpscope analyze)"},
};

size_t ds_api_resource_count(void) { return sizeof resources / sizeof *resources; }

const ds_api_resource *ds_api_resource_at(size_t index) {
  return index < ds_api_resource_count() ? &resources[index] : NULL;
}

const ds_api_resource *ds_api_find(const char *name) {
  for (size_t i = 0; i < ds_api_resource_count(); i++)
    if (strcmp(resources[i].name, name) == 0)
      return &resources[i];
  return NULL;
}

/* Matches one route against a path: literal segments equal, "{x}" takes one non-empty segment. */
static bool route_matches(const char *route, const char *path, char *param, size_t param_len) {
  const char *r = route, *p = path;
  while (*r || *p) {
    const char *r_end = strchr(r, '/'), *p_end = strchr(p, '/');
    size_t r_len = r_end ? (size_t)(r_end - r) : strlen(r), p_len = p_end ? (size_t)(p_end - p) : strlen(p);
    if (p_len == 0 && r_len == 0)
      return false;
    if (r_len > 2 && r[0] == '{') {
      if (p_len == 0 || p_len >= param_len)
        return false;
      memcpy(param, p, p_len);
      param[p_len] = '\0';
    } else if (r_len != p_len || memcmp(r, p, r_len) != 0) {
      return false;
    }
    if (!r_end != !p_end)
      return false;
    r += r_len + (r_end ? 1 : 0);
    p += p_len + (p_end ? 1 : 0);
  }
  return true;
}

const ds_api_resource *ds_api_route(const char *subpath, ds_api_args *args, ds_error *err) {
  char param[DS_API_MAX_PARAM_BYTES], path[2 * DS_API_MAX_PARAM_BYTES];
  /* one trailing slash is allowed, as /dumps/ and /dumps/{id}/ allow it */
  size_t len = strlen(subpath);
  if (len > 1 && subpath[len - 1] == '/' && subpath[len - 2] != '/')
    len--;
  if (len >= sizeof path)
    len = 0; /* longer than any route with a parameter that fits: matches none */
  memcpy(path, subpath, len);
  path[len] = '\0';
  for (size_t i = 0; len && i < ds_api_resource_count(); i++) {
    const ds_api_resource *r = &resources[i];
    param[0] = '\0';
    if (!route_matches(r->route, path, param, sizeof param))
      continue;
    if (r->path_param && ds_api_args_set(args, r->path_param, param, err) != DS_OK)
      return NULL;
    return r;
  }
  ds_error_set(err, DS_E_NOT_FOUND, "no such resource: /dumps/{id}/%.200s", subpath);
  return NULL;
}

/* true when name is in the comma-separated list. */
static bool listed(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t item = comma ? (size_t)(comma - p) : strlen(p);
    if (item == len && memcmp(p, name, len) == 0)
      return true;
    p = comma ? comma + 1 : NULL;
  }
  return false;
}

/* Replaces the document's list by the window [offset, offset + limit) and says where the next page
 * starts. total: the list's full length (from total_key when the handler capped the list). */
static void page(const ds_api_resource *r, json_t *doc, size_t offset, size_t limit) {
  json_t *list = json_object_get(doc, r->list_key);
  if (!json_is_array(list))
    return;
  size_t have = json_array_size(list);
  json_int_t total = (json_int_t)have;
  if (r->total_key && json_is_integer(json_object_get(doc, r->total_key)))
    total = json_integer_value(json_object_get(doc, r->total_key));
  json_t *window = json_array();
  for (size_t i = offset; i < have && i < offset + limit; i++)
    json_array_append(window, json_array_get(list, i));
  bool more = (json_int_t)(offset + limit) < total;
  json_object_set_new(doc, r->list_key, window);
  json_object_set_new(doc, "total", json_integer(total));
  json_object_set_new(doc, "limit", json_integer((json_int_t)limit));
  char next[32];
  snprintf(next, sizeof next, "%zu", offset + limit);
  json_object_set_new(doc, "next_cursor", more ? json_string(next) : json_null());
}

/* Every answer from a damaged or partial index says so: a `warnings` array (absent when clean). */
static void add_warnings(ds_query *q, json_t *doc) {
  const ds_index *idx = ds_query_index(q);
  const ds_index_info *info = idx ? ds_index_get_info(idx) : NULL;
  const char *text = info ? ds_index_string(idx, info->warnings) : NULL;
  if (!text || !*text || !json_is_object(doc))
    return;
  json_t *list = json_array(), *item = json_string(text);
  if (item)
    json_array_append_new(list, item);
  json_object_set_new(doc, "warnings", list);
}

/* What an index of a dump taken during a garbage collection can answer: everything that comes from
 * the DAC without walking the heap (threads, stacks, handles, sync blocks, the report). Every other
 * resource, including any added later, answers DS_E_MID_GC (409 heap_not_walkable) on such an index. */
static const char without_heap[] = "summary,threads,stack,frames,mk,mu,muf,handles,locks,waits,deadlocks,findings,"
                                   "report";

ds_status ds_api_call(const ds_api_resource *r, ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  *out = NULL;
  for (size_t i = 0; i < args->count; i++) {
    const char *name = args->items[i].name;
    if ((r->path_param && strcmp(name, r->path_param) == 0) || listed(r->params, name))
      continue;
    return ds_error_set(err, DS_E_ARG, "%s does not take the parameter \"%.40s\" (%s%s)", r->name, name,
                        r->params[0] ? "it takes: " : "it takes none", r->params);
  }
  size_t offset = 0, limit = 0;
  ds_status rc;
  if (r->list_key && (rc = read_window(args, &offset, &limit, err)) != DS_OK)
    return rc;
  if (!listed(without_heap, r->name) && (rc = ds_query_heap_walkable(q, err)) != DS_OK)
    return rc;
  json_t *doc = NULL;
  rc = r->handler(q, args, &doc, err);
  if (rc != DS_OK) {
    json_decref(doc);
    return rc;
  }
  if (!doc)
    return ds_error_set(err, DS_E_NOMEM, "out of memory building the %s document", r->name);
  if (r->list_key)
    page(r, doc, offset, limit);
  add_warnings(q, doc);
  *out = doc;
  return DS_OK;
}
