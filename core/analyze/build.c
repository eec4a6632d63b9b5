/*
 * build.c: build the heap index in an analysis process, as a sequence of phases over one
 * ds__build state (analyzeint.h): objects, roots, types, outgoing and incoming references
 * (graph.c), roots and threads, locks and waits (locks.c, waitgraph.c), liveness, segments and
 * histograms, the dominator tree and retained sizes (retained.c), findings and the report's facts
 * (findings.c), then the file. The objects phase is objects.c's, the writing behind writeback.c's.
 *
 * Each phase hands the sections it finishes to the index writer at once, so the disk works while
 * the next phase runs. Everything that needs the DAC (roots, field layouts, collectible handles,
 * array element types) happens once per type or once per dump, never per object.
 */
#include "dumpscope/build.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dumpscope/rootscan.h"

#include "analyzeint.h"

/* CPU time of the whole process (every thread), for the phase table. */
static double cpu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double ds__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void ds__release_behind(const ds__build *b, uint64_t *released, uint64_t upto, bool final) {
  upto &= ~(uint64_t)4095;
  if (*released && upto > *released && (final || upto - *released >= ((uint64_t)32 << 20)))
    ds_dump_release(b->a->dump, *released, upto - *released);
  if (!*released || upto < *released || final || upto - *released >= ((uint64_t)32 << 20))
    *released = upto;
}

bool ds__side_start(ds__side_thread *t, void *(*fn)(void *), void *arg) {
  return t->started = pthread_create(&t->thread, NULL, fn, arg) == 0;
}

void ds__side_join(ds__side_thread *t) {
  if (t->started)
    pthread_join(t->thread, NULL);
  t->started = false;
}

void ds__memory_now(uint64_t *rss, uint64_t *anon, uint64_t *peak) {
  *rss = *anon = *peak = 0;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return;
  char line[256];
  unsigned long long kb;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "VmRSS: %llu", &kb) == 1)
      *rss = kb * 1024;
    else if (sscanf(line, "RssAnon: %llu", &kb) == 1)
      *anon = kb * 1024;
    else if (sscanf(line, "VmHWM: %llu", &kb) == 1)
      *peak = kb * 1024;
  }
  fclose(f);
}

void ds_build_stats_print(const ds_build_stats *stats, FILE *out) {
  const double mb = 1024.0 * 1024.0;
  fprintf(out, "%-16s %9s %9s %9s %9s %9s\n", "phase", "ms", "cpu ms", "rss MB", "anon MB", "peak MB");
  for (size_t k = 0; k < stats->phase_count; k++) {
    const ds_build_phase *ph = &stats->phases[k];
    fprintf(out, "%-16s %9.0f %9.0f %9.0f %9.0f %9.0f\n", ph->name, ph->ms, ph->cpu_ms, ph->rss_bytes / mb,
            ph->anon_bytes / mb, ph->peak_rss_bytes / mb);
  }
  fprintf(out, "%-16s %9.0f   memory budget %llu bytes, spilled %llu bytes, recycled %llu bytes\n", "total",
          stats->total_ms, (unsigned long long)stats->memory_budget, (unsigned long long)stats->spilled_bytes,
          (unsigned long long)stats->recycled_bytes);
  if (stats->reverse_count_ms > 0 || stats->reverse_fill_ms > 0)
    fprintf(out, "reverse: counting %.0f ms, filling %.0f ms\n", stats->reverse_count_ms,
            stats->reverse_fill_ms);
  if (stats->dominators_ms > 0) {
    const double *st = stats->dominators_step_ms;
    fprintf(out,
            "dominator search, %s: %.0f to %.0f ms into the build: numbering %.0f ms, semidominators %.0f, "
            "immediate dominators %.0f, retained sizes %.0f, per-type sizes %.0f\n",
            stats->dominators_beside ? "on its own thread" : "in its phase", stats->dominators_start_ms,
            stats->dominators_start_ms + stats->dominators_ms, st[0], st[1], st[2], st[3], st[4]);
  }
}

/* ---- growable arrays ------------------------------------------------------------------------ */

ds_status ds__vec_grow(void **items, size_t *cap, size_t count, size_t elem_size, size_t max) {
  if (count < *cap)
    return DS_OK;
  if (count >= max)
    return DS_E_LIMIT;
  size_t next = *cap ? *cap * 2 : 1024;
  if (next > max)
    next = max;
  void *grown = realloc(*items, next * elem_size);
  if (!grown)
    return DS_E_NOMEM;
  ds__advise_huge(grown, next * elem_size);
  *items = grown;
  *cap = next;
  return DS_OK;
}

ds_status ds__vec_error(ds_error *err, ds_status rc, const char *what, size_t max, const char *cap) {
  if (rc == DS_E_LIMIT)
    return ds_error_set(err, rc, "more than %zu %s (%s)", max, what, cap);
  return ds_error_set(err, rc, "out of memory for %s", what);
}

/* Collects the roots when the caller gave none: after the walk, so the type table is complete
 * for the thread-static search. */
static ds_status build_collect_roots(ds__build *b, ds_error *err) {
  if (b->roots)
    return DS_OK;
  double t_collect = ds__now_ms();
  ds_status rc = ds_roots_collect(b->a, &b->collected, err);
  if (rc != DS_OK)
    return rc;
  b->roots = &b->collected;
  b->stats->collect_ms = ds__now_ms() - t_collect;
  return DS_OK;
}

/* ---- phase 2: types ------------------------------------------------------------------------- */

/* An array type's element type, asked of the DAC about its first instance. */
static void describe_array(ds__build *b, size_t t, const ds_type *ht, ds_index_type *it) {
  uint64_t emt = 0;
  uint32_t etype = 0;
  ds_error ignore = {0};
  if (ds_analysis_array_element(b->a, b->addr.items[b->first_instance[t]], &emt, &etype, &ignore) != DS_OK)
    return;
  it->element_type = etype;
  it->element_size = ht->component_size;
  if (emt) {
    ds_error e2 = {0};
    it->element_type_index = ds_heap_type_index(b->heap, emt, &e2);
  }
}

/* One heap type: its record, GC descriptor, loader allocator, array element type, fields. */
static ds_status describe_type(ds__build *b, size_t t, ds_error *err) {
  /* a copy: resolving array element types may grow (move) the heap's type table */
  const ds_type type_copy = *ds_heap_type(b->heap, (uint32_t)t);
  const ds_type *ht = &type_copy;
  ds_index_type *it = &b->types[t];
  ds__type_record(b, ht, it);
  if (ht->flags & DS_TYPE_INVALID)
    return DS_OK;
  if (ht->flags & DS_TYPE_POINTERS)
    ds_gc_desc_read(b->layout, b->a->dump, ht->mt, &b->descs[t]);
  if (ht->flags & DS_TYPE_COLLECTIBLE) {
    ds_addr handle = 0;
    ds_error ignore = {0};
    if (ds_dac_collectible_handle(b->a->dac, ht->mt, &handle, &ignore) == DS_OK && handle)
      ds_dump_read_u64(b->a->dump, handle, &b->loader_allocator[t]);
  }
  if ((ht->flags & DS_TYPE_ARRAY) && b->first_instance[t] != UINT32_MAX)
    describe_array(b, t, ht, it);
  if (!(ht->flags & (DS_TYPE_ARRAY | DS_TYPE_STRING | DS_TYPE_FREE)))
    return ds__describe_fields(b, (uint32_t)t, ht, it, err);
  return DS_OK;
}

/* Per type: first instance, GC descriptor, loader allocator, fields (the DAC, once per type). */
static ds_status build_types(ds__build *b, ds_error *err) {
  double t_types = ds__now_ms();
  size_t heap_types = b->heap_types = ds_heap_type_count(b->heap);
  b->first_instance = malloc((heap_types ? heap_types : 1) * sizeof *b->first_instance);
  b->descs = calloc(heap_types ? heap_types : 1, sizeof *b->descs);
  b->loader_allocator = calloc(heap_types ? heap_types : 1, sizeof *b->loader_allocator);
  b->types = calloc(heap_types ? heap_types : 1, sizeof *b->types);
  if (!b->first_instance || !b->descs || !b->loader_allocator || !b->types)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for %zu types", heap_types);
  for (size_t t = 0; t < heap_types; t++)
    b->first_instance[t] = UINT32_MAX;
  for (size_t i = 0; i < b->n; i++)
    if (b->first_instance[b->type.items[i]] == UINT32_MAX)
      b->first_instance[b->type.items[i]] = (uint32_t)i;
  ds_status rc;
  for (size_t t = 0; t < heap_types; t++)
    if ((rc = describe_type(b, t, err)) != DS_OK)
      return rc;
  /* ds_heap_type_index above may have added element types: they have no instances (and so no
   * GC descriptors needed), but they need a record */
  b->type_total = ds_heap_type_count(b->heap);
  if (b->type_total > heap_types) {
    ds_index_type *grown = realloc(b->types, b->type_total * sizeof *b->types);
    if (!grown)
      return ds_error_set(err, DS_E_NOMEM, "out of memory for types");
    b->types = grown;
    for (size_t t = heap_types; t < b->type_total; t++)
      ds__type_record(b, ds_heap_type(b->heap, (uint32_t)t), &b->types[t]);
  }
  b->stats->types_ms = ds__now_ms() - t_types;
  return DS_OK;
}

/* ---- phase 5: roots, threads, frames, finalizer queue ---------------------------------------- */

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Each root with the index of its object (interior stack pointers: the containing object). */
static void index_roots(ds__build *b) {
  const ds_root_set *roots = b->roots;
  const uint64_t *addrs = b->addr.items;
  b->iroot_count = roots->root_count;
  for (size_t r = 0; r < roots->root_count; r++) {
    const ds_root *src = &roots->roots[r];
    ds_index_root *dst = &b->iroots[r];
    dst->address = src->address;
    dst->raw_object = src->object;
    dst->object = src->interior ? ds__find_containing(b->layout, addrs, b->size.items, b->n, src->object)
                                : ds__find_exact(addrs, b->n, src->object);
    if (dst->object == UINT32_MAX && src->object) /* stack slots may point inside objects */
      dst->object = ds__find_containing(b->layout, addrs, b->size.items, b->n, src->object);
    dst->secondary = src->secondary ? ds__find_exact(addrs, b->n, src->secondary) : UINT32_MAX;
    dst->kind = src->kind;
    dst->ref_count = src->ref_count;
    dst->thread = src->thread;
    dst->frame = src->frame;
    dst->pinned = src->pinned;
    dst->interior = src->interior;
    dst->is_root = dst->object != UINT32_MAX && ds_root_kind_is_root((ds_root_kind)src->kind, src->ref_count);
    dst->static_field = src->kind == DS_ROOT_THREAD_STATIC ? ds__typeinfo_thread_static(b, src) : UINT32_MAX;
    if (src->kind == DS_ROOT_THREAD_STATIC && src->field_mt) /* the type's storage on this thread */
      dst->secondary = ds__find_containing(b->layout, addrs, b->size.items, b->n, src->address);
  }
  /* static fields: a slot of the statics storage; the array holding it is the secondary */
  const ds__static_root *statics;
  size_t static_count = ds__typeinfo_static_roots(b, &statics);
  for (size_t s = 0; s < static_count; s++) {
    uint32_t object = ds__find_exact(addrs, b->n, statics[s].object);
    if (object == UINT32_MAX)
      continue; /* not an object of the heap (a frozen string outside it, or damage) */
    b->iroots[b->iroot_count++] = (ds_index_root){
        .address = statics[s].slot, .raw_object = statics[s].object, .object = object,
        .secondary = ds__find_containing(b->layout, addrs, b->size.items, b->n, statics[s].slot),
        .kind = DS_ROOT_STATIC_FIELD, .thread = UINT32_MAX, .frame = UINT32_MAX, .is_root = 1,
        .static_field = statics[s].field};
  }
}

/* Threads and their frames: each thread's frames are one run of the frame table. */
static void index_threads(ds__build *b) {
  const ds_root_set *roots = b->roots;
  for (size_t t = 0; t < roots->thread_count; t++) {
    const ds_thread_info *src = &roots->threads[t];
    b->ithreads[t] = (ds_index_thread){.address = src->address, .os_id = src->os_id, .managed_id = src->managed_id,
                                       .state = src->state, .alive = src->alive, .finalizer = src->finalizer,
                                       .cooperative = src->cooperative, .first_frame = UINT32_MAX,
                                       .lock_count = src->lock_count, .exception = src->exception,
                                       .alloc_ptr = src->alloc_ptr, .alloc_limit = src->alloc_limit};
  }
  for (size_t f = 0; f < roots->frame_count; f++) {
    const ds_frame_info *src = &roots->frames[f];
    b->iframes[f] = (ds_index_frame){.sp = src->sp, .ip = src->ip, .frame_address = src->frame_address,
                                     .thread = src->thread, .depth = src->depth,
                                     .method = ds_strpool_add(&b->pool, src->method ? src->method : "")};
    if (src->thread < roots->thread_count) {
      ds_index_thread *th = &b->ithreads[src->thread];
      if (th->first_frame == UINT32_MAX)
        th->first_frame = (uint32_t)f;
      th->frame_count++;
    }
  }
  for (size_t t = 0; t < roots->thread_count; t++)
    if (b->ithreads[t].first_frame == UINT32_MAX)
      b->ithreads[t].first_frame = 0;
}

/* The objects registered for finalization, as sorted object indices. */
static ds_status index_finalizable(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  b->finalizable = malloc((roots->finalizable_count ? roots->finalizable_count : 1) * sizeof *b->finalizable);
  if (!b->finalizable)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the finalizer queue");
  for (size_t f = 0; f < roots->finalizable_count; f++) {
    uint32_t o = ds__find_exact(b->addr.items, b->n, roots->finalizable[f]);
    if (o != UINT32_MAX)
      b->finalizable[b->finalizable_count++] = o;
  }
  if (b->finalizable_count)
    qsort(b->finalizable, b->finalizable_count, sizeof *b->finalizable, compare_u32);
  return DS_OK;
}

static ds_status build_roots(ds__build *b, ds_error *err) {
  double t_roots = ds__now_ms();
  const ds_root_set *roots = b->roots;
  const ds__static_root *statics;
  size_t static_count = ds__typeinfo_static_roots(b, &statics);
  if (roots->root_count + static_count > DS_MAX_ROOTS)
    return ds_error_set(err, DS_E_LIMIT, "more than %u roots with the static fields (DS_MAX_ROOTS)",
                        (unsigned)DS_MAX_ROOTS);
  b->iroots = calloc(roots->root_count + static_count + 1, sizeof *b->iroots);
  b->ithreads = calloc(roots->thread_count ? roots->thread_count : 1, sizeof *b->ithreads);
  b->iframes = calloc(roots->frame_count ? roots->frame_count : 1, sizeof *b->iframes);
  if (!b->iroots || !b->ithreads || !b->iframes)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for roots");
  index_roots(b);
  index_threads(b);
  ds_status rc;
  if ((rc = index_finalizable(b, err)) != DS_OK)
    return rc;
  b->stats->roots = roots->root_count;
  b->stats->roots_ms = ds__now_ms() - t_roots;
  return DS_OK;
}

/* ---- the build ------------------------------------------------------------------------------ */

/* The dump shrank under us (guard.c turned the SIGBUS into zero pages): nothing read since is
 * trustworthy, so no index is written. */
static ds_status check_dump_unchanged(ds__build *b, ds_error *err) {
  if (!ds_dump_changed(b->a->dump))
    return DS_OK;
  return ds_error_set(err, DS_E_TRUNCATED, "the dump %s changed or was truncated while being read; no index was written",
                      ds_dump_path(b->a->dump));
}

/* The phases in the order they run; each reads what the earlier ones left in the state. */
typedef struct build_phase {
  const char *name;
  ds_status (*run)(ds__build *b, ds_error *err);
} build_phase;

static const build_phase build_phases[] = {
    {"objects", ds__build_objects},
    {"roots", build_collect_roots},
    {"types", build_types},
    {"type details", ds__build_type_details},
    {"object sections", ds__finish_object_sections},
    {"references", ds__build_references},
    {"root index", build_roots}, /* before the reverse phase, which starts the dominator search */
    {"reverse", ds__build_reverse},
    {"dominators started", ds__start_dominators},
    {"locks", ds__build_locks},
    {"memory map", ds__build_memory_map},
    {"frame variables", ds__build_frame_vars},
    {"liveness", ds__build_liveness},
    {"histograms", ds__build_histograms},
    {"strings started", ds__start_strings},
    {"findings", ds__build_findings},
    {"dominators", ds__build_dominators},
    {"leak suspects", ds__build_suspects},
    {"dump check", check_dump_unchanged},
    {"write", ds__build_write},
};

/* A root search (rootsearch.c): what the root-path query reads, with the references of only the
 * objects between the roots and the target; the roots are indexed before the search, which
 * starts from them. */
static const build_phase search_phases[] = {
    {"objects", ds__build_objects},
    {"roots", build_collect_roots},
    {"types", build_types},
    {"type details", ds__build_type_details},
    {"object sections", ds__finish_object_sections},
    {"root index", build_roots},
    {"root search", ds__build_root_search},
    {"reverse", ds__build_reverse},
    {"extra edges", ds__build_extra_edges},
    {"liveness", ds__build_liveness},
    {"dump check", check_dump_unchanged},
    {"write", ds__build_write},
};

void ds__build_free(ds__build *b) {
  ds__objects_stop_prefault(b);
  ds__string_scan_free(b); /* first: its thread reads the arrays freed below */
  ds__dom_search_free(b);   /* likewise */
  ds__write_behind_stop(b); /* likewise */
  ds__symcache_free(b);
  ds_root_set_free(&b->collected);
  ds__typeinfo_free(b);
  ds_index_writer_free(b->w);
  ds_walk_stats_free(&b->walk);
  for (int j = 0; j < DS__EDGE_PARTS; j++) {
    ds__spill_free(b, b->jobs[j].targets.items);
    free(b->jobs[j].raw.items);
    free(b->jobs[j].counts);
  }
  for (size_t t = 0; b->descs && t < b->heap_types; t++)
    ds_gc_desc_free(&b->descs[t]);
  free(b->descs);
  ds__lookup_free(&b->lookup);
  free(b->loader_allocator);
  free(b->first_instance);
  if (!(b->mapped & DS__MAPPED_ADDR))
    ds__spill_free(b, b->addr.items);
  if (!(b->mapped & DS__MAPPED_TYPE))
    ds__spill_free(b, b->type.items);
  ds__spill_free(b, b->size.items);
  if (!(b->mapped & DS__MAPPED_SIZE))
    ds__spill_free(b, b->obj_size);
  free(b->big.items);
  free(b->thin.items);
  free(b->types);
  free(b->fields.items);
  free(b->extras.items);
  if (!(b->mapped & DS__MAPPED_OUT))
    ds__spill_free(b, b->out_off), ds__spill_free(b, b->out_edge);
  if (!(b->mapped & DS__MAPPED_IN))
    ds__spill_free(b, b->in_off), ds__spill_free(b, b->in_edge);
  free(b->iroots);
  free(b->ithreads);
  free(b->iframes);
  free(b->finalizable);
  free(b->monitors.items);
  free(b->waits);
  free(b->stack_roots);
  free(b->stack_root_start);
  free(b->in_cycle);
  free(b->iwaits.items);
  free(b->ilocks.items);
  free(b->lock_values.items);
  free(b->waiters.items);
  free(b->deadlocks.items);
  free(b->findings.items);
  free(b->evidence.items);
  ds_dom_result_free(&b->dom);
  free(b->suspects.items);
  free(b->live);
  ds__spill_free(b, b->stack);
  free(b->segs);
  free(b->hist_acc);
  free(b->hist);
  free(b->free_blocks.items);
  free(b->extra_out);
  ds_strpool_free(&b->pool);
  ds__spill_free_all(b); /* last: the frees above look their arrays up in it */
  pthread_mutex_destroy(&b->spill_lock);
  memset(b, 0, sizeof *b);
}

ds_status ds_index_build(ds_analysis *a, const ds_root_set *given_roots, const char *path, ds_build_stats *stats,
                         ds_error *err) {
  return ds_index_build_with(a, given_roots, NULL, path, stats, err);
}

ds_status ds_index_build_with(ds_analysis *a, const ds_root_set *given_roots, const ds_finding_settings *settings,
                              const char *path, ds_build_stats *stats, ds_error *err) {
  return ds_index_build_budget(a, given_roots, settings, 0, path, stats, err);
}

static ds_status run_build(ds_analysis *a, const ds_root_set *given_roots, const ds_finding_settings *settings,
                           uint64_t memory_budget, uint64_t search_target, const build_phase *phases,
                           size_t phase_count, const char *path, ds_build_stats *stats, ds_error *err) {
  memset(stats, 0, sizeof *stats);
  stats->memory_budget = memory_budget;
  /* Every array of 4 MiB or more gets its own mapping (glibc raises the threshold as large
   * blocks are freed, up to 32 MiB, and then serves them from the heap): growing one is an
   * mremap instead of a copy into fresh pages, and ds__advise_huge's advice holds. Analysis
   * processes only: the daemon never builds. */
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  ds__build *b = calloc(1, sizeof *b);
  if (!b)
    return ds_error_set(err, DS_E_NOMEM, "out of memory starting the index build");
  pthread_mutex_init(&b->spill_lock, NULL);
  b->a = a;
  b->heap = a->heap;
  b->layout = ds_heap_layout(a->heap);
  b->stats = stats;
  b->roots = given_roots;
  b->t0 = ds__now_ms();
  b->path = path;
  b->budget = memory_budget;
  b->search_target = search_target;
  if (settings)
    b->settings = *settings;
  else
    ds_finding_settings_init(&b->settings);
  ds_strpool_add(&b->pool, ""); /* offset 0 = "" */
  ds_index_writer_drop_cached(path); /* before the walk's arrays, which reuse the pages freed */
  ds_status rc = DS_OK;
  for (size_t k = 0; k < phase_count && rc == DS_OK; k++) {
    double t = ds__now_ms(), cpu = cpu_now_ms();
    rc = phases[k].run(b, err);
    if (stats->phase_count < DS_BUILD_PHASES_MAX) {
      ds_build_phase *ph = &stats->phases[stats->phase_count++];
      ph->name = phases[k].name;
      ph->ms = ds__now_ms() - t;
      ph->cpu_ms = cpu_now_ms() - cpu;
      ds__memory_now(&ph->rss_bytes, &ph->anon_bytes, &ph->peak_rss_bytes);
    }
  }
  if (rc != DS_OK)
    goto out;
  stats->total_ms = ds__now_ms() - b->t0;
  stats->live_objects = b->info.live_objects;
  stats->heap_errors = b->walk.error_count;
  stats->heap_not_walkable = !b->info.gc_structures_valid;
out:
  ds__build_free(b);
  free(b);
  return rc;
}

ds_status ds_index_build_budget(ds_analysis *a, const ds_root_set *given_roots, const ds_finding_settings *settings,
                                uint64_t memory_budget, const char *path, ds_build_stats *stats, ds_error *err) {
  return run_build(a, given_roots, settings, memory_budget, 0, build_phases, sizeof build_phases / sizeof *build_phases,
                   path, stats, err);
}

ds_status ds_index_build_root_search(ds_analysis *a, uint64_t target, const char *path, ds_build_stats *stats,
                                     ds_error *err) {
  if (!target)
    return ds_error_set(err, DS_E_ARG, "a root search needs an object address");
  return run_build(a, NULL, NULL, 0, target, search_phases, sizeof search_phases / sizeof *search_phases, path,
                   stats, err);
}
