/*
 * findings_heap.c: the heap checks of the findings phase (findings.c): objects waiting for the
 * finalizer, finalizable objects never disposed, many HttpClient instances, application types
 * holding most of gen 2 or the LOH, fragmentation with the pinned objects that cause it, many
 * pinned handles, and exceptions on the heap and in flight on threads.
 *
 * Each check reads what the earlier phases left in the build state (objects, types, roots,
 * liveness, the per-(generation, type) accumulators), compares against its settings and adds at
 * most a few findings with their evidence, and the facts the report shows. Per-type work is done
 * once per type; per-object work is one pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"
#include "dumpscope/roots.h"

#include "analyzeint.h"

#define TOP_TYPES 10             /* types listed as evidence of one finding */
#define TOP_OBJECTS 10           /* objects listed as evidence of one finding */
#define MAX_EXCEPTION_GROUPS 256 /* distinct (type, message) pairs told apart */
#define MESSAGE_CHARS 200        /* characters of an exception message kept */

static const char *type_name(const ds__build *b, uint32_t t) {
  return t < b->type_total && b->types[t].name < b->pool.len ? b->pool.data + b->types[t].name : "";
}

/* Per-type counters, with the types ranked by count (then bytes) for the evidence lists. */
typedef struct type_tally {
  uint64_t *count, *bytes;
  size_t types;
} type_tally;

static bool tally_init(type_tally *t, size_t types) {
  t->types = types;
  t->count = calloc(types + 1, sizeof *t->count);
  t->bytes = calloc(types + 1, sizeof *t->bytes);
  return t->count && t->bytes;
}

static void tally_free(type_tally *t) {
  free(t->count);
  free(t->bytes);
}

/* Pushes the types whose count is at least min as evidence, most instances (by_bytes: most bytes)
 * first, at most max. */
static ds_status push_ranked_types(ds__build *b, const type_tally *t, uint64_t min, size_t max, bool by_bytes,
                                   ds_error *err) {
  const uint64_t *key = by_bytes ? t->bytes : t->count, *tie = by_bytes ? t->count : t->bytes;
  uint8_t *taken = calloc(t->types + 1, 1);
  if (!taken)
    return ds_error_set(err, DS_E_NOMEM, "out of memory ranking types");
  ds_status rc = DS_OK;
  for (size_t k = 0; k < max && rc == DS_OK; k++) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < t->types; i++)
      if (!taken[i] && t->count[i] && t->count[i] >= min &&
          (best == SIZE_MAX || key[i] > key[best] || (key[i] == key[best] && tie[i] > tie[best])))
        best = i;
    if (best == SIZE_MAX)
      break;
    taken[best] = 1;
    rc = ds__push_evidence(b, DS_EVIDENCE_TYPE, (uint32_t)best, 0, t->count[best], t->bytes[best], err);
  }
  free(taken);
  return rc;
}

static ds_status push_top_types(ds__build *b, const type_tally *t, uint64_t min, size_t max, ds_error *err) {
  return push_ranked_types(b, t, min, max, false, err);
}

static uint64_t count_at_least(const type_tally *t, uint64_t min, uint64_t *objects) {
  uint64_t types = 0;
  *objects = 0;
  for (size_t i = 0; i < t->types; i++)
    if (t->count[i] && t->count[i] >= min) {
      types++;
      *objects += t->count[i];
    }
  return types;
}

/* ---- finalization ----------------------------------------------------------------------------- */

/* Objects ready for finalization (the f-reachable queue), by type; a warning past the setting. */
static ds_status check_ready(ds__build *b, type_tally *ready, ds_error *err) {
  uint64_t total = 0;
  for (size_t r = 0; r < b->roots->root_count; r++) {
    uint32_t o = b->iroots[r].object;
    if (b->iroots[r].kind != DS_ROOT_FINALIZER_READY || o >= b->n)
      continue;
    total++;
    ready->count[b->type.items[o]]++;
    ready->bytes[b->type.items[o]] += ds__object_size(b, o);
  }
  b->report.ready_for_finalization = total;
  uint64_t threshold = (uint64_t)ds__setting(b, DS_SET_FINALIZER_READY);
  if (total < threshold)
    return DS_OK;
  bool blocked = false;
  for (size_t t = 0; t < b->roots->thread_count; t++)
    blocked |= b->ithreads[t].finalizer && b->waits[t].kind;
  size_t mark = b->evidence.count;
  ds_status rc = push_top_types(b, ready, 1, TOP_TYPES, err);
  if (rc != DS_OK)
    return rc;
  char title[160], text[768];
  snprintf(title, sizeof title, "%llu objects ready for finalization", (unsigned long long)total);
  snprintf(text, sizeof text,
           "%llu objects are in the finalization (f-reachable) queue, waiting for the finalizer thread%s. They, and "
           "everything they reference, stay in memory until their finalizers have run.",
           (unsigned long long)total, blocked ? ", which is blocked" : "");
  ds__finding_text f = {DS_SEVERITY_WARNING, "finalization-backlog", title, text,
                        "Dispose these objects (using / Dispose) so their finalizers are suppressed; keep finalizers "
                        "short and never blocking. A backlog that keeps growing means objects are created faster "
                        "than one finalizer thread can finalize them.",
                        DS_SET_FINALIZER_READY};
  return ds__add_finding(b, &f, ds__no_details(), mark, err);
}

/* Finalizable types that have no Dispose: finalization is how they free what they hold. */
static bool finalized_by_design(const char *name) {
  static const char *const prefixes[] = {"System.WeakReference", "System.Runtime.CompilerServices.ConditionalWeakTable`2+Container",
                                         "System.Gen2GcCallback", NULL};
  for (const char *const *p = prefixes; *p; p++)
    if (strncmp(name, *p, strlen(*p)) == 0)
      return true;
  return false;
}

/* Whether type t implements System.IDisposable (its MethodTable's interface map lists it); every
 * finalizable type counts when that cannot be told (the runtime's layout has no interface map, or
 * IDisposable was not found). known[t]: 0 not asked yet, 1 yes, 2 no. */
static bool disposable(ds__build *b, uint8_t *known, uint32_t t) {
  if (!known[t]) {
    int yes = ds_layout_implements(b->layout, b->a->dump, b->types[t].mt, b->idisposable_mt);
    known[t] = yes == 0 ? 2 : 1;
  }
  return known[t] == 1;
}

/* Objects of IDisposable types registered for finalization whose finalizer was never suppressed
 * (GC.SuppressFinalize, which Dispose calls): their header's finalizer-run bit is clear. Counted: the
 * unreachable ones (dropped without Dispose: only their finalizer will free them) and the
 * application's own, reachable or not. A reachable framework object (a metadata block in a cache, a
 * socket in use) is still owned by code that may yet dispose it: healthy processes hold many. */
static ds_status check_undisposed(ds__build *b, type_tally *undisposed, ds_error *err) {
  uint32_t run_bit = b->layout->header_finalizer_run;
  uint64_t total = 0;
  uint8_t *known = calloc(b->type_total + 1, 1);
  if (!known)
    return ds_error_set(err, DS_E_NOMEM, "out of memory checking finalizable types");
  for (size_t f = 0; f < b->finalizable_count; f++) {
    uint32_t o = b->finalizable[f], header = 0;
    if (b->type.items[o] >= b->type_total || !disposable(b, known, b->type.items[o]) ||
        !ds_layout_read_header(b->layout, b->a->dump, b->addr.items[o], &header) || (header & run_bit))
      continue;
    const char *name = type_name(b, b->type.items[o]);
    bool live = b->live && (b->live[o >> 6] >> (o & 63) & 1);
    if (finalized_by_design(name) || (live && !ds__is_app_type(name)))
      continue;
    total++;
    undisposed->count[b->type.items[o]]++;
    undisposed->bytes[b->type.items[o]] += ds__object_size(b, o);
  }
  free(known);
  b->report.finalizable = b->finalizable_count;
  b->report.undisposed = total;
  uint64_t threshold = (uint64_t)ds__setting(b, DS_SET_UNDISPOSED), objects;
  uint64_t types = count_at_least(undisposed, threshold, &objects);
  if (!types)
    return DS_OK;
  size_t mark = b->evidence.count;
  ds_status rc = push_top_types(b, undisposed, threshold, TOP_TYPES, err);
  if (rc != DS_OK)
    return rc;
  const ds_index_evidence *top = &b->evidence.items[mark];
  char title[DS_MAX_TYPE_NAME_CHARS / 4 + 96], text[768];
  snprintf(title, sizeof title, "%llu %.600s objects never disposed", (unsigned long long)top->count,
           type_name(b, top->ref));
  snprintf(text, sizeof text,
           "%llu objects of %llu finalizable IDisposable type%s are registered for finalization and were never disposed "
           "(GC.SuppressFinalize was not called): each holds its resources until a finalizer runs, and survives "
           "at least one more GC. The most numerous: %llu %.300s.",
           (unsigned long long)objects, (unsigned long long)types, types == 1 ? "" : "s",
           (unsigned long long)top->count, type_name(b, top->ref));
  ds__finding_text f = {DS_SEVERITY_WARNING, "undisposed-objects", title, text,
                        "Dispose these objects when done with them (using / await using, or Dispose in a finally "
                        "block). Connections (SqlConnection), streams (FileStream), HttpResponseMessage and "
                        "SafeHandle wrappers hold OS resources until disposed.",
                        DS_SET_UNDISPOSED};
  return ds__add_finding(b, &f, ds__no_details(), mark, err);
}

ds_status ds__check_finalization(ds__build *b, ds_error *err) {
  type_tally ready = {0}, undisposed = {0};
  ds_status rc = DS_OK;
  if (!tally_init(&ready, b->type_total) || !tally_init(&undisposed, b->type_total))
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory counting the finalizer queues");
  if (rc == DS_OK && (rc = check_ready(b, &ready, err)) == DS_OK)
    rc = check_undisposed(b, &undisposed, err);
  tally_free(&ready);
  tally_free(&undisposed);
  return rc;
}

/* ---- HttpClient ------------------------------------------------------------------------------- */

/* Live objects of type t, over every generation (from the histogram accumulators). */
static uint64_t live_count(const ds__build *b, size_t t, uint64_t *bytes) {
  uint64_t count = 0;
  *bytes = 0;
  for (int g = 0; g < DS_GEN_COUNT; g++) {
    const uint64_t *acc = &b->hist_acc[((size_t)g * b->type_total + t) * 4];
    count += acc[2];
    *bytes += acc[3];
  }
  return count;
}

ds_status ds__check_http_clients(ds__build *b, ds_error *err) {
  static const char *const clients[] = {"System.Net.Http.HttpClient", NULL};
  static const char *const handlers[] = {"System.Net.Http.SocketsHttpHandler", "System.Net.Http.WinHttpHandler",
                                         "System.Net.Http.HttpClientHandler", NULL};
  uint64_t client_count = 0, handler_count = 0;
  size_t mark = b->evidence.count;
  for (size_t t = 0; t < b->type_total; t++) {
    const char *name = type_name(b, (uint32_t)t);
    bool is_client = false, is_handler = false;
    for (const char *const *c = clients; *c; c++)
      is_client |= strcmp(name, *c) == 0;
    for (const char *const *h = handlers; *h; h++)
      is_handler |= strcmp(name, *h) == 0;
    uint64_t bytes, count = (is_client || is_handler) ? live_count(b, t, &bytes) : 0;
    if (!count)
      continue;
    client_count += is_client ? count : 0;
    /* an HttpClientHandler wraps a SocketsHttpHandler: count the pools, not both wrappers */
    if (is_handler && strcmp(name, "System.Net.Http.HttpClientHandler") != 0)
      handler_count += count;
    ds_status rc = ds__push_evidence(b, DS_EVIDENCE_TYPE, (uint32_t)t, 0, count, bytes, err);
    if (rc != DS_OK)
      return rc;
  }
  uint64_t threshold = (uint64_t)ds__setting(b, DS_SET_HTTP_CLIENTS);
  uint64_t most = client_count > handler_count ? client_count : handler_count;
  if (most < threshold) {
    b->evidence.count = mark; /* nothing to report: drop the counts */
    return DS_OK;
  }
  char title[128], text[768];
  snprintf(title, sizeof title, "%llu HttpClient instances", (unsigned long long)client_count);
  snprintf(text, sizeof text,
           "%llu HttpClient and %llu HTTP handler instances are alive. Each handler keeps its own connection pool: "
           "creating clients per request exhausts sockets (TIME_WAIT) and ignores DNS changes.",
           (unsigned long long)client_count, (unsigned long long)handler_count);
  ds__finding_text f = {DS_SEVERITY_WARNING, "http-clients", title, text,
                        "Share one HttpClient (or one SocketsHttpHandler) for the application's lifetime, or use "
                        "IHttpClientFactory; set PooledConnectionLifetime to follow DNS changes.",
                        DS_SET_HTTP_CLIENTS};
  return ds__add_finding(b, &f, ds__no_details(), mark, err);
}

/* ---- application types in gen 2 and the LOH -------------------------------------------------- */

static ds_status app_share_in(ds__build *b, int gen, ds_error *err) {
  uint64_t total = 0, app = 0;
  type_tally app_types = {0};
  if (!tally_init(&app_types, b->type_total))
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  for (size_t t = 0; t < b->type_total; t++) {
    const uint64_t *acc = &b->hist_acc[((size_t)gen * b->type_total + t) * 4];
    if (!acc[0] || (b->types[t].flags & DS_TYPE_FREE))
      continue;
    total += acc[1];
    if (ds__is_app_type(type_name(b, (uint32_t)t))) {
      app += acc[1];
      app_types.bytes[t] = acc[1];
      app_types.count[t] = acc[0];
    }
  }
  double percent = total ? 100.0 * (double)app / (double)total : 0;
  ds_status rc = DS_OK;
  if (total >= (uint64_t)ds__setting(b, DS_SET_APP_SHARE_MIN_BYTES) && total &&
      percent >= ds__setting(b, DS_SET_APP_SHARE_PERCENT)) {
    size_t mark = b->evidence.count;
    rc = push_ranked_types(b, &app_types, 1, TOP_TYPES / 2, true, err); /* the types holding the most bytes */
    const char *where = gen == DS_GEN_LOH ? "the LOH" : "gen 2";
    char title[128], text[768], app_h[32], total_h[32];
    snprintf(title, sizeof title, "Application types hold %.0f%% of %s", percent, where);
    snprintf(text, sizeof text,
             "Objects of the application's own types take %s of the %s in %s (%.0f%%, free space not counted). "
             "Memory that stays in %s for good is usually held by the application: a cache without a bound, a "
             "static collection, or event handlers never removed.",
             ds__human_bytes(app, app_h, sizeof app_h), ds__human_bytes(total, total_h, sizeof total_h), where,
             percent, where);
    ds__finding_text f = {DS_SEVERITY_WARNING, "application-types", title, text,
                          "Check that this much data is meant to be kept: follow the largest types' root paths (or "
                          "the leak suspects) to what holds them, and bound or release it.",
                          DS_SET_APP_SHARE_PERCENT};
    if (rc == DS_OK)
      rc = ds__add_finding(b, &f, ds__no_details(), mark, err);
  }
  tally_free(&app_types);
  return rc;
}

ds_status ds__check_app_share(ds__build *b, ds_error *err) {
  ds_status rc = app_share_in(b, DS_GEN_2, err);
  return rc != DS_OK ? rc : app_share_in(b, DS_GEN_LOH, err);
}

/* ---- fragmentation ---------------------------------------------------------------------------- */

/* A bit per object: pinned by a handle or a stack root. */
static uint64_t *pinned_objects(const ds__build *b) {
  uint64_t *bits = calloc((b->n + 63) / 64 + 1, sizeof *bits);
  for (size_t r = 0; bits && r < b->roots->root_count; r++) {
    uint32_t o = b->iroots[r].object;
    if (b->iroots[r].pinned && o < b->n)
      bits[o >> 6] |= 1ull << (o & 63);
  }
  return bits;
}

/* The segment (index into b->segs) holding object o, by binary search over their first objects. */
static size_t segment_of(const ds__build *b, uint32_t o) {
  size_t lo = 0, hi = b->seg_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if ((uint64_t)b->segs[mid].first_object + b->segs[mid].object_count <= o)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* One generation: a warning when its free space is a large share of it (fragmentation_percent)
 * and the gaps pinned objects hold open add up (fragmentation_min_bytes), naming the pinned
 * objects right after the largest gaps. Free space nothing pins is not reported: the next
 * compacting GC can remove it. */
static ds_status fragmentation_in(ds__build *b, int gen, const uint64_t *pinned, ds_error *err) {
  uint64_t total = 0, free_bytes = 0;
  for (size_t t = 0; t < b->type_total; t++) {
    const uint64_t *acc = &b->hist_acc[((size_t)gen * b->type_total + t) * 4];
    total += acc[1];
    if (b->types[t].flags & DS_TYPE_FREE)
      free_bytes += acc[1];
  }
  double percent = total ? 100.0 * (double)free_bytes / (double)total : 0;
  if (!total || percent < ds__setting(b, DS_SET_FRAGMENTATION_PERCENT))
    return DS_OK;
  uint64_t holders = 0, held = 0;
  struct { uint32_t object; uint64_t gap; } top[TOP_OBJECTS];
  size_t top_count = 0;
  for (size_t k = 0; k < b->free_blocks.count; k++) {
    uint32_t f = b->free_blocks.items[k];
    size_t si = segment_of(b, f);
    if (si >= b->seg_count || b->segs[si].gen != gen)
      continue;
    uint64_t next = (uint64_t)f + 1;
    if (next >= (uint64_t)b->segs[si].first_object + b->segs[si].object_count ||
        (b->types[b->type.items[next]].flags & DS_TYPE_FREE))
      continue;
    bool is_pinned = gen == DS_GEN_POH || (pinned[next >> 6] >> (next & 63) & 1);
    if (!is_pinned)
      continue;
    uint64_t gap = ds_layout_aligned(b->layout, ds__object_size(b, f));
    holders++;
    held += gap;
    /* keep the holders of the largest gaps, largest first */
    size_t at = top_count < TOP_OBJECTS ? top_count : TOP_OBJECTS;
    while (at > 0 && top[at - 1].gap < gap)
      at--;
    if (at < TOP_OBJECTS) {
      size_t last = top_count < TOP_OBJECTS ? top_count : TOP_OBJECTS - 1;
      memmove(&top[at + 1], &top[at], (last - at) * sizeof *top);
      top[at].object = (uint32_t)next;
      top[at].gap = gap;
      top_count += top_count < TOP_OBJECTS;
    }
  }
  if (!holders || held < (uint64_t)ds__setting(b, DS_SET_FRAGMENTATION_MIN_BYTES))
    return DS_OK;
  size_t mark = b->evidence.count;
  ds_status rc = DS_OK;
  for (size_t k = 0; k < top_count && rc == DS_OK; k++)
    rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, top[k].object, 0, 1, top[k].gap, err);
  if (rc != DS_OK)
    return rc;
  char title[128], text[768], free_h[32], total_h[32], held_h[32];
  const char *name = ds_gen_name((ds_gen)gen);
  snprintf(title, sizeof title, "%s is %.0f%% free space", name, percent);
  snprintf(text, sizeof text,
           "%s of the %s in %s is free space between objects (%.0f%%). %llu pinned object%s sit right after free "
           "gaps (%s): the GC cannot move them, so it cannot compact those gaps away.",
           ds__human_bytes(free_bytes, free_h, sizeof free_h), ds__human_bytes(total, total_h, sizeof total_h), name,
           percent, (unsigned long long)holders, holders == 1 ? "" : "s", ds__human_bytes(held, held_h, sizeof held_h));
  ds__finding_text f = {DS_SEVERITY_WARNING, "fragmentation", title, text,
                        "Pin as little and as briefly as possible: use fixed/Memory<T>.Pin for the duration of a "
                        "call, allocate long-lived buffers on the pinned object heap "
                        "(GC.AllocateArray(pinned: true)) or pool them (ArrayPool), instead of pinning "
                        "arrays scattered through the heap with GCHandles.",
                        DS_SET_FRAGMENTATION_PERCENT};
  return ds__add_finding(b, &f, ds__no_details(), mark, err);
}

ds_status ds__check_fragmentation(ds__build *b, ds_error *err) {
  uint64_t *pinned = pinned_objects(b);
  if (!pinned)
    return ds_error_set(err, DS_E_NOMEM, "out of memory marking pinned objects");
  ds_status rc = DS_OK;
  static const int gens[] = {DS_GEN_0, DS_GEN_1, DS_GEN_2, DS_GEN_LOH, DS_GEN_POH};
  for (size_t g = 0; g < sizeof gens / sizeof *gens && rc == DS_OK; g++)
    rc = fragmentation_in(b, gens[g], pinned, err);
  free(pinned);
  return rc;
}

/* ---- pinned handles --------------------------------------------------------------------------- */

ds_status ds__check_pinned_handles(ds__build *b, ds_error *err) {
  type_tally types = {0};
  if (!tally_init(&types, b->type_total))
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  uint64_t count = 0;
  for (size_t r = 0; r < b->roots->root_count; r++) {
    const ds_index_root *root = &b->iroots[r];
    if (root->kind != DS_ROOT_HANDLE_PINNED && root->kind != DS_ROOT_HANDLE_ASYNC_PINNED)
      continue;
    count++;
    if (root->object < b->n) {
      types.count[b->type.items[root->object]]++;
      types.bytes[b->type.items[root->object]] += ds__object_size(b, root->object);
    }
  }
  b->report.pinned_handles = count;
  ds_status rc = DS_OK;
  if (count >= (uint64_t)ds__setting(b, DS_SET_PINNED_HANDLES)) {
    size_t mark = b->evidence.count;
    rc = push_top_types(b, &types, 1, TOP_TYPES / 2, err);
    char title[96], text[512];
    snprintf(title, sizeof title, "%llu pinned GC handles", (unsigned long long)count);
    snprintf(text, sizeof text,
             "%llu pinned or async-pinned GC handles hold objects in place. Pinned objects fragment the heap and "
             "keep the GC from compacting; many of them often means buffers pinned for I/O and never released "
             "(GCHandle.Alloc without Free).",
             (unsigned long long)count);
    ds__finding_text f = {DS_SEVERITY_WARNING, "pinned-handles", title, text,
                          "Free every GCHandle you allocate (try/finally); pin for the duration of a call only "
                          "(fixed, Memory<T>.Pin), and keep long-lived buffers on the pinned object heap.",
                          DS_SET_PINNED_HANDLES};
    if (rc == DS_OK)
      rc = ds__add_finding(b, &f, ds__no_details(), mark, err);
  }
  tally_free(&types);
  return rc;
}

/* ---- exceptions ------------------------------------------------------------------------------- */

/* Marks the types deriving from System.Exception, following each type's parents (the DAC resolves
 * parents without instances, once per type). */
static uint8_t *exception_types(ds__build *b) {
  uint8_t *is_exception = calloc(b->type_total + 1, 1);
  uint64_t exception_mt = ds_heap_gc_info(b->heap)->exception_mt;
  for (size_t t = 0; is_exception && t < b->type_total; t++) {
    uint64_t mt = b->types[t].mt;
    for (unsigned depth = 0; mt && depth < DS_MAX_TYPE_DEPTH; depth++) {
      ds_error ignore = {0};
      uint32_t ti = ds_heap_type_index(b->heap, mt, &ignore);
      if (ti == UINT32_MAX)
        break;
      const ds_type *ty = ds_heap_type(b->heap, ti);
      if ((exception_mt && mt == exception_mt) || (!exception_mt && ty->name && strcmp(ty->name, "System.Exception") == 0)) {
        is_exception[t] = 1;
        break;
      }
      mt = ty->parent_mt;
    }
  }
  return is_exception;
}

/* The runtime allocates these at start-up, before anything is thrown. */
static bool preallocated(const char *name) {
  return strcmp(name, "System.OutOfMemoryException") == 0 || strcmp(name, "System.StackOverflowException") == 0 ||
         strcmp(name, "System.ExecutionEngineException") == 0;
}

/* The message of an exception object ("" when it has none or it is unreadable). */
static void exception_message(ds__build *b, uint32_t o, char *out, size_t out_len) {
  out[0] = '\0';
  const ds_index_type *t = &b->types[b->type.items[o]];
  for (uint32_t f = 0; f < t->field_count && (size_t)t->field_start + f < b->fields.count; f++) {
    const ds_index_field *field = &b->fields.items[t->field_start + f];
    if (field->name >= b->pool.len || strcmp(b->pool.data + field->name, "_message") != 0)
      continue;
    uint64_t message = 0;
    if (ds_dump_read_u64(b->a->dump, b->addr.items[o] + field->offset, &message) && message)
      ds_heap_read_string(b->heap, message, MESSAGE_CHARS, out, out_len);
    return;
  }
}

typedef struct exception_group {
  uint32_t type, example;
  uint64_t count;
  char message[MESSAGE_CHARS * 3 + 1];
} exception_group;

static int compare_groups(const void *x, const void *y) {
  const exception_group *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return a->example < b->example ? -1 : a->example > b->example;
}

/* Exceptions on the heap grouped by (type, message); information past the setting. */
static ds_status heap_exceptions(ds__build *b, const uint8_t *is_exception, ds_error *err) {
  exception_group *groups = calloc(MAX_EXCEPTION_GROUPS, sizeof *groups);
  if (!groups)
    return ds_error_set(err, DS_E_NOMEM, "out of memory grouping exceptions");
  size_t group_count = 0;
  uint64_t total = 0;
  char message[sizeof groups->message];
  for (size_t i = 0; i < b->n; i++) {
    uint32_t t = b->type.items[i];
    if (!is_exception[t] || preallocated(type_name(b, t)))
      continue;
    total++;
    exception_message(b, (uint32_t)i, message, sizeof message);
    size_t g = 0;
    while (g < group_count && !(groups[g].type == t && strcmp(groups[g].message, message) == 0))
      g++;
    if (g == group_count && group_count < MAX_EXCEPTION_GROUPS) {
      groups[group_count] = (exception_group){.type = t, .example = (uint32_t)i};
      snprintf(groups[group_count].message, sizeof groups[group_count].message, "%s", message);
      group_count++;
    }
    if (g < group_count)
      groups[g].count++;
  }
  qsort(groups, group_count, sizeof *groups, compare_groups);
  b->report.exception_count = total;
  b->report.first_exception = (uint32_t)b->evidence.count;
  ds_status rc = DS_OK;
  for (size_t g = 0; g < group_count && g < TOP_TYPES * 2 && rc == DS_OK; g++)
    rc = ds__push_evidence(b, DS_EVIDENCE_TYPE, groups[g].type, ds_strpool_add(&b->pool, groups[g].message),
                           groups[g].count, 0, err);
  b->report.exception_count_groups = (uint32_t)(b->evidence.count - b->report.first_exception);
  if (rc == DS_OK && total && total >= (uint64_t)ds__setting(b, DS_SET_HEAP_EXCEPTIONS)) {
    char title[96], text[768];
    snprintf(title, sizeof title, "%llu exception%s on the heap", (unsigned long long)total, total == 1 ? "" : "s");
    snprintf(text, sizeof text,
             "%llu exception objects (%zu distinct type and message pairs) are on the heap; the most frequent: "
             "%llu %.200s \"%.200s\". Exceptions kept alive (logged, cached, stored in tasks) or thrown in numbers "
             "cost memory and time.",
             (unsigned long long)total, group_count, (unsigned long long)groups[0].count,
             type_name(b, groups[0].type), groups[0].message);
    ds__finding_text f = {DS_SEVERITY_INFORMATION, "heap-exceptions", title, text,
                          "Look at where these exceptions are thrown and kept: avoid exceptions for control flow, "
                          "and do not keep exception objects longer than needed.",
                          DS_SET_HEAP_EXCEPTIONS};
    /* the finding names the same (type, message) groups as the report's list */
    rc = ds__add_finding(b, &f, ds__no_details(), b->report.first_exception, err);
  }
  free(groups);
  return rc;
}

/* Threads with an exception in flight (being thrown or caught when the dump was taken). */
static ds_status thread_exceptions(ds__build *b, ds_error *err) {
  size_t mark = b->evidence.count;
  uint64_t count = 0;
  char label[DS_MAX_TYPE_NAME_CHARS / 4 + MESSAGE_CHARS * 3 + 8], message[MESSAGE_CHARS * 3 + 1];
  char first_type[256] = "", first_message[MESSAGE_CHARS * 3 + 1] = "";
  for (size_t t = 0; t < b->roots->thread_count; t++) {
    if (!b->ithreads[t].alive || !b->ithreads[t].exception)
      continue;
    uint32_t o = ds__find_exact(b->addr.items, b->n, b->ithreads[t].exception);
    const char *type = o < b->n ? type_name(b, b->type.items[o]) : "an exception";
    message[0] = '\0';
    if (o < b->n)
      exception_message(b, o, message, sizeof message);
    snprintf(label, sizeof label, "%.1000s%s%s", type, message[0] ? ": " : "", message);
    uint32_t label_offset = ds_strpool_add(&b->pool, label);
    ds_status rc = ds__push_evidence(b, DS_EVIDENCE_THREAD, (uint32_t)t, label_offset, 1, 0, err);
    if (rc == DS_OK && o < b->n)
      rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, o, label_offset, 1, ds__object_size(b, o), err);
    if (rc != DS_OK)
      return rc;
    if (!count++) {
      snprintf(first_type, sizeof first_type, "%s", type);
      snprintf(first_message, sizeof first_message, "%s", message);
    }
  }
  if (!count)
    return DS_OK;
  char title[96], text[768];
  snprintf(title, sizeof title, "Exception in flight on %llu thread%s", (unsigned long long)count, count == 1 ? "" : "s");
  snprintf(text, sizeof text,
           "%llu thread%s had an exception being thrown or handled when the dump was taken, e.g. %.300s%s%.300s%s. "
           "If the process crashed, this is usually the reason.",
           (unsigned long long)count, count == 1 ? "" : "s", first_type, first_message[0] ? " \"" : "", first_message,
           first_message[0] ? "\"" : "");
  ds__finding_text f = {DS_SEVERITY_WARNING, "thread-exceptions", title, text,
                        "Look at each thread's stack to see where the exception was thrown and whether it is handled.",
                        -1};
  return ds__add_finding(b, &f, ds__no_details(), mark, err);
}

ds_status ds__check_exceptions(ds__build *b, ds_error *err) {
  uint8_t *is_exception = exception_types(b);
  if (!is_exception)
    return ds_error_set(err, DS_E_NOMEM, "out of memory finding exception types");
  ds_status rc = thread_exceptions(b, err);
  if (rc == DS_OK)
    rc = heap_exceptions(b, is_exception, err);
  free(is_exception);
  return rc;
}
