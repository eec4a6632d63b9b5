/*
 * graph.c: build the heap index in an analysis process: objects, references (from each type's GC
 * descriptor, plus dependent-handle and loader-allocator edges), reverse references, roots,
 * liveness, per-generation histograms, type and field tables; then write the index file.
 *
 * The expensive part, reading every object's references, runs on two threads over halves of the
 * object array. Everything that needs the DAC (field layouts, collectible handles) happens once per
 * type, before that, on the calling thread.
 */
#include "dumpscope/build.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dumpscope/index.h"
#include "dumpscope/rootscan.h"

#define BUILD_THREADS 2

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A growable array of T with a hard cap (curl dynbuf habit). */
#define VEC(T) struct { T *items; size_t count, cap; }
#define VEC_PUSH(v, x, ok)                                                                            \
  do {                                                                                                \
    if ((v).count == (v).cap) {                                                                       \
      size_t ncap_ = (v).cap ? (v).cap * 2 : 1024;                                                    \
      void *p_ = realloc((v).items, ncap_ * sizeof *(v).items);                                      \
      if (!p_) { (ok) = false; break; }                                                               \
      (v).items = p_;                                                                                 \
      (v).cap = ncap_;                                                                                \
    }                                                                                                 \
    (v).items[(v).count++] = (x);                                                                     \
  } while (0)

/* GC descriptor of one type, copied out of the dump once. */
typedef struct gcdesc {
  int64_t series;            /* >0 normal series, <0 repeating value-type series, 0 none */
  uint64_t *data;            /* positive: pairs (size, offset); negative: start offset then items */
} gcdesc;

/* Address -> object index in O(1): per heap range, for every GRANULE bytes, the first object
 * at or after the granule's start. A lookup is a short scan (a granule holds a few objects)
 * instead of a binary search over millions of addresses with a cache miss per step. */
#define GRANULE_SHIFT 9
typedef struct addr_lookup {
  const uint64_t *addrs;
  size_t n;
  size_t ranges;
  uint64_t *start, *end;
  uint32_t **dir;
} addr_lookup;

typedef struct build_ctx {
  ds_analysis *a;
  addr_lookup lookup;
  /* objects */
  VEC(uint64_t) addr;
  VEC(uint32_t) type;
  VEC(uint64_t) size;
  uint32_t *first_instance;  /* per heap type: an object index, for array element types */
  size_t heap_types;
  gcdesc *descs;
  uint64_t *loader_allocator; /* per heap type: the LoaderAllocator object of collectible types */
  bool failed;
} build_ctx;

static bool collect_object(void *p, const ds_heap_object *obj) {
  build_ctx *b = p;
  bool ok = true;
  VEC_PUSH(b->addr, obj->address, ok);
  if (ok)
    VEC_PUSH(b->type, obj->type, ok);
  if (ok)
    VEC_PUSH(b->size, obj->size, ok);
  if (!ok || b->addr.count >= UINT32_MAX - 1) {
    b->failed = true;
    return false;
  }
  return true;
}

/* Index of the object starting exactly at addr, or UINT32_MAX. */
static inline uint32_t find_exact(const uint64_t *addrs, size_t n, uint64_t addr) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addrs[mid] < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && addrs[lo] == addr ? (uint32_t)lo : UINT32_MAX;
}

static bool lookup_build(addr_lookup *l, ds_heap *heap, const uint64_t *addrs, size_t n) {
  memset(l, 0, sizeof *l);
  l->addrs = addrs;
  l->n = n;
  size_t count = ds_heap_segment_count(heap);
  l->start = calloc(count + 1, sizeof *l->start);
  l->end = calloc(count + 1, sizeof *l->end);
  l->dir = calloc(count + 1, sizeof *l->dir);
  if (!l->start || !l->end || !l->dir)
    return false;
  l->ranges = count;
  for (size_t s = 0; s < count; s++) {
    const ds_segment *seg = ds_heap_segment(heap, s);
    l->start[s] = seg->start;
    l->end[s] = seg->end;
    size_t granules = (size_t)(((seg->end - seg->start) >> GRANULE_SHIFT) + 1);
    l->dir[s] = malloc(granules * sizeof **l->dir);
    if (!l->dir[s])
      return false;
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (addrs[mid] < seg->start) lo = mid + 1; else hi = mid;
    }
    size_t i = lo;
    for (size_t g = 0; g < granules; g++) {
      uint64_t gstart = seg->start + ((uint64_t)g << GRANULE_SHIFT);
      while (i < n && addrs[i] < gstart)
        i++;
      l->dir[s][g] = (uint32_t)i;
    }
  }
  return true;
}

static void lookup_free(addr_lookup *l) {
  for (size_t s = 0; l->dir && s < l->ranges; s++)
    free(l->dir[s]);
  free(l->dir);
  free(l->start);
  free(l->end);
}

/* Index of the object containing addr (interior pointers), or UINT32_MAX. */
static uint32_t find_containing(const uint64_t *addrs, const uint64_t *sizes, size_t n, uint64_t addr) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addrs[mid] <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0)
    return UINT32_MAX;
  size_t i = lo - 1;
  uint64_t end = addrs[i] + ((sizes[i] + 7) & ~7ull);
  return addr < end ? (uint32_t)i : UINT32_MAX;
}

/* Copies a type's GC descriptor (stored just before its MethodTable) out of the dump. */
static void load_gcdesc(ds_dump *dump, const ds_type *t, gcdesc *d) {
  memset(d, 0, sizeof *d);
  if (!(t->flags & DS_TYPE_POINTERS))
    return;
  uint64_t raw;
  if (!ds_dump_read_u64(dump, t->mt - 8, &raw))
    return;
  int64_t n = (int64_t)raw;
  if (n == 0 || n > 4096 || n < -4096)
    return;
  int64_t count = n > 0 ? n : -n;
  /* positive: n series of 16 bytes below MT-8; negative: start offset at MT-16, items at MT-24.. */
  size_t words = n > 0 ? (size_t)(2 * count) : (size_t)(count + 1);
  d->data = calloc(words, 8);
  if (!d->data)
    return;
  if (n > 0) {
    for (int64_t s = 0; s < count; s++) {
      /* highest series at MT-24 (size) / MT-16 (offset); lower ones 16 bytes further down */
      uint64_t base = t->mt - 24 - 16 * (uint64_t)s;
      if (!ds_dump_read_u64(dump, base, &d->data[2 * s]) || !ds_dump_read_u64(dump, base + 8, &d->data[2 * s + 1])) {
        free(d->data);
        d->data = NULL;
        return;
      }
    }
  } else {
    if (!ds_dump_read_u64(dump, t->mt - 16, &d->data[0])) {
      free(d->data);
      d->data = NULL;
      return;
    }
    for (int64_t s = 0; s < count; s++)
      if (!ds_dump_read_u64(dump, t->mt - 24 - 8 * (uint64_t)s, &d->data[1 + s])) {
        free(d->data);
        d->data = NULL;
        return;
      }
  }
  d->series = n;
}

typedef struct edge_job {
  build_ctx *b;
  size_t lo, hi;
  const uint8_t *win;        /* the dump mapping of [win_start, win_end): most objects fall in it */
  uint64_t win_start, win_end;
  uint32_t *counts;          /* per object in [lo, hi) */
  VEC(uint32_t) targets;
  VEC(uint64_t) raw;         /* pointer values of the current batch, resolved in bulk */
  bool failed;
} edge_job;

/* Visits the reference slots of one object; appends resolved targets. */
static inline void object_edges(edge_job *job, size_t i) {
  build_ctx *b = job->b;
  uint32_t ti = b->type.items[i];
  const gcdesc *d = &b->descs[ti];
  uint32_t before = (uint32_t)job->raw.count;
  uint64_t obj = b->addr.items[i], size = b->size.items[i];
  if (d->series != 0 && d->data) {
    const uint8_t *mem = NULL;
    uint8_t *copy = NULL;
    if (obj >= job->win_start && obj + size <= job->win_end) {
      mem = job->win + (obj - job->win_start);
    } else {
      uint64_t avail;
      mem = ds_dump_span(b->a->dump, obj, &avail);
      if (mem && avail >= size) {
        job->win = mem;
        job->win_start = obj;
        job->win_end = obj + avail;
      } else {
        mem = NULL;
      }
    }
    if (!mem) {
      copy = malloc(size ? size : 1);
      if (!copy || ds_dump_read(b->a->dump, obj, copy, size) != size) {
        free(copy);
        goto extras;
      }
      mem = copy;
    }
    bool ok = true;
#define VISIT(off)                                                                                    \
  do {                                                                                                \
    uint64_t ptr_;                                                                                    \
    memcpy(&ptr_, mem + (off), 8);                                                                    \
    if (ptr_)                                                                                         \
      VEC_PUSH(job->raw, ptr_, ok);                                                                   \
  } while (0)
    if (d->series > 0) {
      for (int64_t s = 0; s < d->series && ok; s++) {
        uint64_t run = d->data[2 * s] + size; /* seriessize is stored minus the base size */
        uint64_t start = d->data[2 * s + 1];
        if (start > size || run > size - start)
          continue; /* a descriptor that does not fit this object: ignore, never overread */
        for (uint64_t off = start; off + 8 <= start + run && ok; off += 8)
          VISIT(off);
      }
    } else {
      int64_t items = -d->series;
      uint64_t off = d->data[0];
      uint64_t limit = size >= 8 ? size - 8 : 0; /* the GC stops at size - plug_skew */
      int guard = 0;
      while (off < limit && ok) {
        uint64_t progress = off;
        for (int64_t k = 0; k < items && off < limit; k++) {
          uint64_t item = d->data[1 + k];
          uint32_t nptrs = (uint32_t)item, skip = (uint32_t)(item >> 32);
          for (uint32_t p = 0; p < nptrs && off + 8 <= size && ok; p++, off += 8)
            VISIT(off);
          off += skip;
        }
        if (off <= progress || ++guard > (1 << 26))
          break; /* a zero-width element would loop forever */
      }
    }
#undef VISIT
    free(copy);
    if (!ok)
      job->failed = true;
  }
extras:
  if (b->loader_allocator[ti]) {
    bool ok = true;
    VEC_PUSH(job->raw, b->loader_allocator[ti], ok);
    if (!ok)
      job->failed = true;
  }
  job->counts[i - job->lo] = (uint32_t)(job->raw.count - before);
}

/* Resolving pointer values to object indices is memory-latency bound (random lookups into the
 * directory and the address array), so each batch is resolved in passes that prefetch ahead. */
static void *edge_worker(void *p) {
  edge_job *job = p;
  enum { BATCH = 256 };
  for (size_t i0 = job->lo; i0 < job->hi && !job->failed; i0 += BATCH) {
    size_t i1 = i0 + BATCH < job->hi ? i0 + BATCH : job->hi;
    job->raw.count = 0;
    for (size_t i = i0; i < i1 && !job->failed; i++)
      object_edges(job, i);
    if (job->failed)
      break;
    /* two passes with prefetch: directory entry, then the address array */
    const addr_lookup *l = &job->b->lookup;
    size_t count = job->raw.count;
    uint32_t *cand = malloc((count ? count : 1) * sizeof *cand);
    if (!cand) {
      job->failed = true;
      break;
    }
    enum { AHEAD = 8 };
    size_t range = 0;
    for (size_t k = 0; k < count; k++) {
      uint64_t a = job->raw.items[k];
      size_t r = range;
      if (!(r < l->ranges && a >= l->start[r] && a < l->end[r])) {
        size_t lo = 0, hi = l->ranges;
        r = SIZE_MAX;
        while (lo < hi) {
          size_t mid = lo + (hi - lo) / 2;
          if (a < l->start[mid]) hi = mid; else if (a >= l->end[mid]) lo = mid + 1; else { r = mid; break; }
        }
      }
      if (r == SIZE_MAX) {
        cand[k] = UINT32_MAX;
        continue;
      }
      range = r;
      const uint32_t *slot = &l->dir[r][(a - l->start[r]) >> GRANULE_SHIFT];
      __builtin_prefetch(slot);
      cand[k] = (uint32_t)(slot - l->dir[r]); /* granule number for now */
      job->raw.items[k] = a;
      /* remember the range in the low bits of nothing: recompute below */
    }
    /* second pass: granule -> first object, prefetch its address */
    range = 0;
    for (size_t k = 0; k < count; k++) {
      if (cand[k] == UINT32_MAX)
        continue;
      uint64_t a = job->raw.items[k];
      size_t r = range;
      if (!(r < l->ranges && a >= l->start[r] && a < l->end[r])) {
        size_t lo = 0, hi = l->ranges;
        while (lo < hi) {
          size_t mid = lo + (hi - lo) / 2;
          if (a < l->start[mid]) hi = mid; else if (a >= l->end[mid]) lo = mid + 1; else { r = mid; break; }
        }
      }
      range = r;
      cand[k] = l->dir[r][cand[k]];
      if (cand[k] < l->n)
        __builtin_prefetch(&l->addrs[cand[k]]);
    }
    /* third pass: finish each lookup, keep the hits, per object */
    size_t k = 0;
    bool ok = true;
    for (size_t i = i0; i < i1 && ok; i++) {
      uint32_t raw_count = job->counts[i - job->lo], hits = 0;
      for (uint32_t c = 0; c < raw_count; c++, k++) {
        uint32_t idx = cand[k];
        if (idx == UINT32_MAX)
          continue;
        uint64_t a = job->raw.items[k];
        while (idx < l->n && l->addrs[idx] < a)
          idx++;
        if (idx < l->n && l->addrs[idx] == a) {
          VEC_PUSH(job->targets, idx, ok);
          hits++;
        }
      }
      job->counts[i - job->lo] = hits;
    }
    free(cand);
    if (!ok)
      job->failed = true;
  }
  return NULL;
}

typedef VEC(ds_index_monitor) monitor_vec;

static int compare_monitor(const void *a, const void *b) {
  const ds_index_monitor *x = a, *y = b;
  return x->address < y->address ? -1 : x->address > y->address;
}

/* Thin locks live in the object header (the DWORD before the MethodTable): neither the
 * sync-block/hash bit nor the spin-lock bit set, and a non-zero owner id. .NET 8+ use 16 bits of
 * thread id and 6 of recursion; .NET 6-7 10 and 6 (syncblk.h; dotnet/runtime#88772). The owner
 * id is the managed thread id. */
static ds_status collect_thin_locks(ds_analysis *a, const build_ctx *b, const ds_root_set *roots, monitor_vec *out,
                                    ds_error *err) {
  bool large = a->runtime.major >= 8;
  uint32_t id_mask = large ? 0xFFFFu : 0x3FFu, rec_shift = large ? 16 : 10, rec_mask = large ? 0x3Fu : 0x3Fu;
  const uint8_t *win = NULL;
  uint64_t win_start = 0, win_end = 0;
  for (size_t i = 0; i < b->addr.count; i++) {
    uint64_t at = b->addr.items[i] - 4;
    uint32_t header;
    if (at >= win_start && at + 4 <= win_end) {
      memcpy(&header, win + (at - win_start), 4);
    } else {
      uint64_t avail;
      const uint8_t *p = ds_dump_span(a->dump, at, &avail);
      if (p && avail >= 4) {
        win = p;
        win_start = at;
        win_end = at + avail;
        memcpy(&header, p, 4);
      } else if (!ds_dump_read_u32(a->dump, at, &header)) {
        continue;
      }
    }
    if (header & (0x08000000u | 0x10000000u))
      continue;
    uint32_t id = header & id_mask;
    if (!id)
      continue;
    uint32_t owner = UINT32_MAX;
    for (size_t t = 0; t < roots->thread_count; t++)
      if (roots->threads[t].managed_id == id)
        owner = (uint32_t)t;
    ds_index_monitor m = {b->addr.items[i], (uint32_t)i, owner, (header >> rec_shift) & rec_mask, 2, 0, 0};
    bool ok = true;
    VEC_PUSH(*out, m, ok);
    if (!ok)
      return ds_error_set(err, DS_E_NOMEM, "out of memory for thin locks");
  }
  return DS_OK;
}

typedef struct reverse_job {
  const uint32_t *out_off, *out_edge;
  uint32_t *in_off, *fill, *in_edge;
  size_t n;
  uint64_t edges;
  uint32_t lo, hi; /* targets this job owns */
} reverse_job;

/* in_off[t + 1] = number of references to t, for the job's targets. */
static void *reverse_count(void *p) {
  reverse_job *j = p;
  for (uint64_t e = 0; e < j->edges; e++) {
    uint32_t t = j->out_edge[e];
    if (t >= j->lo && t < j->hi)
      j->in_off[t + 1]++;
  }
  return NULL;
}

/* Sources of the job's targets, in source order. */
static void *reverse_fill(void *p) {
  reverse_job *j = p;
  for (size_t i = 0; i < j->n; i++)
    for (uint32_t e = j->out_off[i]; e < j->out_off[i + 1]; e++) {
      uint32_t t = j->out_edge[e];
      if (t >= j->lo && t < j->hi)
        j->in_edge[j->fill[t]++] = (uint32_t)i;
    }
  return NULL;
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct extra_edge {
  uint32_t from, to, kind;
} extra_edge;

static int compare_extra(const void *a, const void *b) {
  const extra_edge *x = a, *y = b;
  return x->from < y->from ? -1 : x->from > y->from;
}

ds_status ds_index_build(ds_analysis *a, const ds_root_set *given_roots, const char *path, ds_build_stats *stats,
                         ds_error *err) {
  ds_root_set collected = {0};
  const ds_root_set *roots = given_roots;
  ds_status rc = DS_OK;
  double t0 = now_ms();
  memset(stats, 0, sizeof *stats);
  build_ctx b = {.a = a};
  ds_heap *heap = a->heap;
  ds_strpool pool = {0};
  ds_strpool_add(&pool, ""); /* offset 0 = "" */
  ds_walk_stats walk = {0};
  edge_job jobs[BUILD_THREADS];
  memset(jobs, 0, sizeof jobs);
  VEC(uint32_t) free_blocks = {0};
  monitor_vec monitors = {0};
  uint32_t *out_off = NULL, *out_edge = NULL, *in_off = NULL, *in_edge = NULL, *obj_size = NULL,
           *finalizable = NULL, *fill = NULL;
  uint64_t *live = NULL;
  ds_index_type *types = NULL;
  VEC(ds_index_field) fields = {0};
  VEC(ds_index_big_size) big = {0};
  VEC(extra_edge) extras = {0};
  ds_index_extra_edge *extra_out = NULL;
  ds_index_segment *segs = NULL;
  ds_index_root *iroots = NULL;
  ds_index_thread *ithreads = NULL;
  ds_index_frame *iframes = NULL;
  ds_index_hist *hist = NULL;
  uint64_t *hist_acc = NULL;
  uint32_t *stack = NULL;
  ds_index_writer *w = NULL;

  /* 1. objects */
  rc = ds_heap_walk(heap, -1, collect_object, &b, &walk, err);
  if (rc != DS_OK)
    goto out;
  if (b.failed) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory (or more than 4 billion objects) listing objects");
    goto out;
  }
  size_t n = b.addr.count;
  stats->objects = n;
  stats->walk_ms = now_ms() - t0;
  /* object sections go to disk now: the writeback overlaps the rest of the build */
  obj_size = malloc((n ? n : 1) * sizeof *obj_size);
  if (!obj_size) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for object sizes");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t sz = b.size.items[i];
    if (sz >= UINT32_MAX) {
      obj_size[i] = UINT32_MAX;
      bool ok = true;
      VEC_PUSH(big, ((ds_index_big_size){(uint32_t)i, 0, sz}), ok);
      if (!ok) {
        rc = ds_error_set(err, DS_E_NOMEM, "out of memory");
        goto out;
      }
    } else {
      obj_size[i] = (uint32_t)sz;
    }
  }
  double t_first_write = now_ms();
  if ((rc = ds_index_writer_create(path, &w, err)) != DS_OK ||
      (rc = ds_index_writer_add(w, DS_SEC_OBJ_ADDR, b.addr.items ? (void *)b.addr.items : "", n * 8, err)) != DS_OK ||
      (rc = ds_index_writer_add(w, DS_SEC_OBJ_TYPE, b.type.items ? (void *)b.type.items : "", n * 4, err)) != DS_OK ||
      (rc = ds_index_writer_add(w, DS_SEC_OBJ_SIZE, obj_size, n * 4, err)) != DS_OK ||
      (rc = ds_index_writer_add(w, DS_SEC_BIG_SIZES, big.items ? (void *)big.items : "", big.count * sizeof *big.items,
                                err)) != DS_OK)
    goto out;
  stats->write_ms += now_ms() - t_first_write;
  if (!roots) {
    /* collected after the walk, so the type table is complete for the thread-static search */
    double t_collect = now_ms();
    if ((rc = ds_roots_collect(a, &collected, err)) != DS_OK)
      goto out;
    roots = &collected;
    stats->collect_ms = now_ms() - t_collect;
  }

  /* 2. per type: first instance, GC descriptor, loader allocator, fields (DAC, once per type) */
  double t_types = now_ms();
  b.heap_types = ds_heap_type_count(heap);
  b.first_instance = malloc((b.heap_types ? b.heap_types : 1) * sizeof *b.first_instance);
  b.descs = calloc(b.heap_types ? b.heap_types : 1, sizeof *b.descs);
  b.loader_allocator = calloc(b.heap_types ? b.heap_types : 1, sizeof *b.loader_allocator);
  types = calloc(b.heap_types ? b.heap_types : 1, sizeof *types);
  if (!b.first_instance || !b.descs || !b.loader_allocator || !types) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu types", b.heap_types);
    goto out;
  }
  for (size_t t = 0; t < b.heap_types; t++)
    b.first_instance[t] = UINT32_MAX;
  for (size_t i = 0; i < n; i++)
    if (b.first_instance[b.type.items[i]] == UINT32_MAX)
      b.first_instance[b.type.items[i]] = (uint32_t)i;
  for (size_t t = 0; t < b.heap_types; t++) {
    /* a copy: resolving array element types below may grow (move) the heap's type table */
    const ds_type type_copy = *ds_heap_type(heap, (uint32_t)t);
    const ds_type *ht = &type_copy;
    ds_index_type *it = &types[t];
    it->mt = ht->mt;
    it->name = ds_strpool_add(&pool, ht->name ? ht->name : "");
    it->base_size = ht->base_size;
    it->component_size = ht->component_size;
    it->flags = ht->flags;
    it->element_type_index = UINT32_MAX;
    if (ht->flags & DS_TYPE_INVALID)
      continue;
    load_gcdesc(a->dump, ht, &b.descs[t]);
    if (ht->flags & DS_TYPE_COLLECTIBLE) {
      ds_addr handle = 0;
      ds_error ignore = {0};
      if (ds_dac_collectible_handle(a->dac, ht->mt, &handle, &ignore) == DS_OK && handle)
        ds_dump_read_u64(a->dump, handle, &b.loader_allocator[t]);
    }
    if ((ht->flags & DS_TYPE_ARRAY) && b.first_instance[t] != UINT32_MAX) {
      uint64_t emt = 0;
      uint32_t etype = 0;
      ds_error ignore = {0};
      if (ds_analysis_array_element(a, b.addr.items[b.first_instance[t]], &emt, &etype, &ignore) == DS_OK) {
        it->element_type = etype;
        it->element_size = ht->component_size;
        if (emt) {
          ds_error e2 = {0};
          uint32_t ei = ds_heap_type_index(heap, emt, &e2);
          it->element_type_index = ei;
        }
      }
    }
    if (!(ht->flags & (DS_TYPE_ARRAY | DS_TYPE_STRING | DS_TYPE_FREE))) {
      ds_field *fl = NULL;
      size_t fc = 0;
      ds_error ignore = {0};
      if (ds_analysis_type_fields(a, ht->mt, false, &fl, &fc, &ignore) == DS_OK) {
        it->field_start = (uint32_t)fields.count;
        for (size_t f = 0; f < fc; f++) {
          ds_index_field xf = {ds_strpool_add(&pool, fl[f].name), ds_strpool_add(&pool, fl[f].type_name),
                               fl[f].offset, fl[f].element_type};
          bool ok = true;
          VEC_PUSH(fields, xf, ok);
          if (!ok) {
            free(fl);
            rc = ds_error_set(err, DS_E_NOMEM, "out of memory for fields");
            goto out;
          }
        }
        it->field_count = (uint32_t)fc;
      }
      free(fl);
    }
  }
  /* ds_heap_type_index above may have added element types: they have no instances (and so no
   * GC descriptors needed), but they need a record */
  size_t type_total = ds_heap_type_count(heap);
  if (type_total > b.heap_types) {
    ds_index_type *grown = realloc(types, type_total * sizeof *types);
    if (!grown) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for types");
      goto out;
    }
    types = grown;
    for (size_t t = b.heap_types; t < type_total; t++) {
      const ds_type *ht = ds_heap_type(heap, (uint32_t)t);
      memset(&types[t], 0, sizeof types[t]);
      types[t].mt = ht->mt;
      types[t].name = ds_strpool_add(&pool, ht->name ? ht->name : "");
      types[t].base_size = ht->base_size;
      types[t].component_size = ht->component_size;
      types[t].flags = ht->flags;
      types[t].element_type_index = UINT32_MAX;
    }
  }
  stats->types_ms = now_ms() - t_types;

  /* 3. outgoing references, on two threads */
  double t_edges = now_ms();
  if (!lookup_build(&b.lookup, heap, b.addr.items, n)) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the address directory");
    goto out;
  }
  for (int j = 0; j < BUILD_THREADS; j++) {
    jobs[j].b = &b;
    jobs[j].lo = n * (size_t)j / BUILD_THREADS;
    jobs[j].hi = n * (size_t)(j + 1) / BUILD_THREADS;
    jobs[j].counts = calloc(jobs[j].hi - jobs[j].lo + 1, sizeof *jobs[j].counts);
    if (!jobs[j].counts) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for reference counts");
      goto out;
    }
  }
  pthread_t threads[BUILD_THREADS];
  bool started[BUILD_THREADS] = {false};
  for (int j = 1; j < BUILD_THREADS; j++)
    started[j] = pthread_create(&threads[j], NULL, edge_worker, &jobs[j]) == 0;
  edge_worker(&jobs[0]);
  for (int j = 1; j < BUILD_THREADS; j++) {
    if (started[j])
      pthread_join(threads[j], NULL);
    else
      edge_worker(&jobs[j]);
  }
  for (int j = 0; j < BUILD_THREADS; j++)
    if (jobs[j].failed) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory collecting references");
      goto out;
    }

  /* dependent handles: primary -> secondary */
  for (size_t r = 0; r < roots->root_count; r++) {
    const ds_root *root = &roots->roots[r];
    if (root->kind != DS_ROOT_HANDLE_DEPENDENT || !root->object || !root->secondary)
      continue;
    uint32_t from = find_exact(b.addr.items, n, root->object), to = find_exact(b.addr.items, n, root->secondary);
    if (from == UINT32_MAX || to == UINT32_MAX)
      continue;
    bool ok = true;
    VEC_PUSH(extras, ((extra_edge){from, to, 1}), ok);
    if (!ok) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for dependent handles");
      goto out;
    }
  }
  if (extras.count)
    qsort(extras.items, extras.count, sizeof *extras.items, compare_extra);
  uint64_t edge_total = extras.count;
  for (int j = 0; j < BUILD_THREADS; j++)
    edge_total += jobs[j].targets.count;
  if (edge_total >= UINT32_MAX) {
    rc = ds_error_set(err, DS_E_LIMIT, "more than 4 billion references");
    goto out;
  }
  out_off = malloc((n + 1) * sizeof *out_off);
  out_edge = malloc((edge_total ? edge_total : 1) * sizeof *out_edge);
  if (!out_off || !out_edge) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %llu references", (unsigned long long)edge_total);
    goto out;
  }
  {
    uint32_t pos = 0;
    size_t x = 0;
    for (int j = 0; j < BUILD_THREADS; j++) {
      size_t src = 0;
      for (size_t i = jobs[j].lo; i < jobs[j].hi; i++) {
        out_off[i] = pos;
        uint32_t c = jobs[j].counts[i - jobs[j].lo];
        if (c)
          memcpy(out_edge + pos, jobs[j].targets.items + src, c * sizeof *out_edge);
        pos += c;
        src += c;
        while (x < extras.count && extras.items[x].from == i)
          out_edge[pos++] = extras.items[x++].to;
      }
    }
    out_off[n] = pos;
  }
  for (int j = 0; j < BUILD_THREADS; j++) {
    free(jobs[j].targets.items);
    jobs[j].targets.items = NULL;
    free(jobs[j].raw.items);
    jobs[j].raw.items = NULL;
    free(jobs[j].counts);
    jobs[j].counts = NULL;
  }
  stats->edges = edge_total;
  stats->edges_ms = now_ms() - t_edges;
  double t_out_write = now_ms();
  if ((rc = ds_index_writer_add(w, DS_SEC_OUT_OFF, out_off, (n + 1) * 4, err)) != DS_OK ||
      (rc = ds_index_writer_add(w, DS_SEC_OUT_EDGE, out_edge, edge_total * 4, err)) != DS_OK)
    goto out;
  stats->write_ms += now_ms() - t_out_write;

  /* 4. incoming references */
  double t_in = now_ms();
  in_off = calloc(n + 1, sizeof *in_off);
  in_edge = malloc((edge_total ? edge_total : 1) * sizeof *in_edge);
  fill = malloc((n + 1) * sizeof *fill);
  if (!in_off || !in_edge || !fill) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for incoming references");
    goto out;
  }
  {
    /* two threads, each owning half of the targets: both read every edge, each writes only
     * its own counters and slots, so no locking is needed */
    reverse_job rj[2] = {{out_off, out_edge, in_off, fill, in_edge, n, edge_total, 0, (uint32_t)(n / 2)},
                         {out_off, out_edge, in_off, fill, in_edge, n, edge_total, (uint32_t)(n / 2), (uint32_t)n}};
    pthread_t rt;
    bool started_count = pthread_create(&rt, NULL, reverse_count, &rj[1]) == 0;
    reverse_count(&rj[0]);
    if (started_count)
      pthread_join(rt, NULL);
    else
      reverse_count(&rj[1]);
    for (size_t i = 0; i < n; i++)
      in_off[i + 1] += in_off[i];
    memcpy(fill, in_off, (n + 1) * sizeof *fill);
    bool started_fill = pthread_create(&rt, NULL, reverse_fill, &rj[1]) == 0;
    reverse_fill(&rj[0]);
    if (started_fill)
      pthread_join(rt, NULL);
    else
      reverse_fill(&rj[1]);
  }
  stats->reverse_ms = now_ms() - t_in;
  double t_in_write = now_ms();
  if ((rc = ds_index_writer_add(w, DS_SEC_IN_OFF, in_off, (n + 1) * 4, err)) != DS_OK ||
      (rc = ds_index_writer_add(w, DS_SEC_IN_EDGE, in_edge, edge_total * 4, err)) != DS_OK)
    goto out;
  stats->write_ms += now_ms() - t_in_write;

  /* 5. roots, threads, frames */
  double t_roots = now_ms();
  iroots = calloc(roots->root_count ? roots->root_count : 1, sizeof *iroots);
  ithreads = calloc(roots->thread_count ? roots->thread_count : 1, sizeof *ithreads);
  iframes = calloc(roots->frame_count ? roots->frame_count : 1, sizeof *iframes);
  if (!iroots || !ithreads || !iframes) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for roots");
    goto out;
  }
  for (size_t r = 0; r < roots->root_count; r++) {
    const ds_root *src = &roots->roots[r];
    ds_index_root *dst = &iroots[r];
    dst->address = src->address;
    dst->raw_object = src->object;
    dst->object = src->interior ? find_containing(b.addr.items, b.size.items, n, src->object)
                                : find_exact(b.addr.items, n, src->object);
    if (dst->object == UINT32_MAX && src->object) /* stack slots may point inside objects */
      dst->object = find_containing(b.addr.items, b.size.items, n, src->object);
    dst->secondary = src->secondary ? find_exact(b.addr.items, n, src->secondary) : UINT32_MAX;
    dst->kind = src->kind;
    dst->ref_count = src->ref_count;
    dst->thread = src->thread;
    dst->frame = src->frame;
    dst->pinned = src->pinned;
    dst->interior = src->interior;
    dst->is_root = dst->object != UINT32_MAX && ds_root_kind_is_root((ds_root_kind)src->kind, src->ref_count);
  }
  for (size_t t = 0; t < roots->thread_count; t++) {
    const ds_thread_info *src = &roots->threads[t];
    ithreads[t] = (ds_index_thread){.address = src->address, .os_id = src->os_id, .managed_id = src->managed_id,
                                    .state = src->state, .alive = src->alive, .finalizer = src->finalizer,
                                    .cooperative = src->cooperative, .first_frame = UINT32_MAX,
                                    .lock_count = src->lock_count, .exception = src->exception,
                                    .alloc_ptr = src->alloc_ptr, .alloc_limit = src->alloc_limit};
  }
  for (size_t f = 0; f < roots->frame_count; f++) {
    const ds_frame_info *src = &roots->frames[f];
    iframes[f] = (ds_index_frame){.sp = src->sp, .ip = src->ip, .frame_address = src->frame_address,
                                  .thread = src->thread, .depth = src->depth,
                                  .method = ds_strpool_add(&pool, src->method ? src->method : "")};
    if (src->thread < roots->thread_count) {
      ds_index_thread *th = &ithreads[src->thread];
      if (th->first_frame == UINT32_MAX)
        th->first_frame = (uint32_t)f;
      th->frame_count++;
    }
  }
  for (size_t t = 0; t < roots->thread_count; t++)
    if (ithreads[t].first_frame == UINT32_MAX)
      ithreads[t].first_frame = 0;
  finalizable = malloc((roots->finalizable_count ? roots->finalizable_count : 1) * sizeof *finalizable);
  if (!finalizable) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the finalizer queue");
    goto out;
  }
  size_t finalizable_count = 0;
  for (size_t f = 0; f < roots->finalizable_count; f++) {
    uint32_t o = find_exact(b.addr.items, n, roots->finalizable[f]);
    if (o != UINT32_MAX)
      finalizable[finalizable_count++] = o;
  }
  if (finalizable_count)
    qsort(finalizable, finalizable_count, sizeof *finalizable, compare_u32);
  /* monitors: sync blocks from the DAC, thin locks from object headers */
  for (size_t sb = 0; sb < roots->sync_block_count; sb++) {
    const ds_sync_block *src = &roots->sync_blocks[sb];
    uint32_t owner = UINT32_MAX;
    for (size_t t = 0; src->owner && t < roots->thread_count; t++)
      if (roots->threads[t].address == src->owner)
        owner = (uint32_t)t;
    ds_index_monitor m = {src->object, find_exact(b.addr.items, n, src->object), owner, src->recursion, 1,
                          src->index, src->waiters};
    bool ok = true;
    VEC_PUSH(monitors, m, ok);
    if (!ok) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for monitors");
      goto out;
    }
  }
  if ((rc = collect_thin_locks(a, &b, roots, &monitors, err)) != DS_OK)
    goto out;
  if (monitors.count) /* queries look monitors up by address */
    qsort(monitors.items, monitors.count, sizeof *monitors.items, compare_monitor);
  stats->roots = roots->root_count;
  stats->roots_ms = now_ms() - t_roots;

  /* 6. liveness: everything reachable from a root */
  double t_live = now_ms();
  live = calloc((n + 63) / 64 + 1, sizeof *live);
  stack = malloc((n + 1) * sizeof *stack);
  if (!live || !stack) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory marking live objects");
    goto out;
  }
  {
    size_t top = 0;
    for (size_t r = 0; r < roots->root_count; r++) {
      uint32_t o = iroots[r].object;
      if (!iroots[r].is_root || (live[o >> 6] >> (o & 63) & 1))
        continue;
      live[o >> 6] |= 1ull << (o & 63);
      stack[top++] = o;
      while (top) {
        uint32_t cur = stack[--top];
        for (uint32_t e = out_off[cur]; e < out_off[cur + 1]; e++) {
          uint32_t t = out_edge[e];
          if (!(live[t >> 6] >> (t & 63) & 1)) {
            live[t >> 6] |= 1ull << (t & 63);
            stack[top++] = t; /* each object is pushed once: top <= n */
          }
        }
      }
    }
  }
  stats->live_ms = now_ms() - t_live;

  /* 7. segments, histograms */
  size_t seg_count = ds_heap_segment_count(heap);
  segs = calloc(seg_count ? seg_count : 1, sizeof *segs);
  hist_acc = calloc((size_t)DS_GEN_COUNT * type_total * 4 + 1, sizeof *hist_acc);
  if (!segs || !hist_acc) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for histograms");
    goto out;
  }
  ds_index_info info = {0};
  for (size_t si = 0; si < seg_count; si++) {
    const ds_segment *s = ds_heap_segment(heap, si);
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (b.addr.items[mid] < s->start) lo = mid + 1; else hi = mid;
    }
    size_t first = lo;
    hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (b.addr.items[mid] < s->end) lo = mid + 1; else hi = mid;
    }
    segs[si] = (ds_index_segment){.start = s->start, .end = s->end, .descriptor = s->descriptor, .heap = s->heap,
                                  .gen = s->gen, .ephemeral = s->ephemeral, .first_object = (uint32_t)first,
                                  .object_count = (uint32_t)(lo - first)};
    for (size_t i = first; i < lo; i++) {
      uint32_t t = b.type.items[i];
      if (types[t].flags & DS_TYPE_FREE) {
        bool ok = true;
        VEC_PUSH(free_blocks, (uint32_t)i, ok);
        if (!ok) {
          rc = ds_error_set(err, DS_E_NOMEM, "out of memory listing free blocks");
          goto out;
        }
      }
      uint64_t *acc = &hist_acc[((size_t)s->gen * type_total + t) * 4];
      bool is_live = live[i >> 6] >> (i & 63) & 1;
      acc[0]++;
      acc[1] += b.size.items[i];
      if (is_live) {
        acc[2]++;
        acc[3] += b.size.items[i];
        info.live_objects++;
        info.live_bytes += b.size.items[i];
      }
    }
  }
  size_t hist_count = 0;
  for (size_t k = 0; k < (size_t)DS_GEN_COUNT * type_total; k++)
    hist_count += hist_acc[k * 4] != 0;
  hist = calloc(hist_count ? hist_count : 1, sizeof *hist);
  if (!hist) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for histograms");
    goto out;
  }
  hist_count = 0;
  for (size_t k = 0; k < (size_t)DS_GEN_COUNT * type_total; k++)
    if (hist_acc[k * 4])
      hist[hist_count++] = (ds_index_hist){(uint32_t)(k / type_total), (uint32_t)(k % type_total), hist_acc[k * 4],
                                           hist_acc[k * 4 + 1], hist_acc[k * 4 + 2], hist_acc[k * 4 + 3]};
  extra_out = calloc(extras.count ? extras.count : 1, sizeof *extra_out);
  if (!extra_out) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory");
    goto out;
  }
  for (size_t x = 0; x < extras.count; x++)
    extra_out[x] = (ds_index_extra_edge){extras.items[x].from, extras.items[x].to, extras.items[x].kind, 0};

  /* 8. info and the file */
  ds_gc_info *gc = ds_heap_gc_info(heap);
  info.object_count = n;
  info.edge_count = edge_total;
  info.type_count = type_total;
  info.root_count = roots->root_count;
  info.heap_bytes = walk.bytes;
  info.free_bytes = walk.free_bytes;
  info.server_gc = gc->server;
  info.regions = gc->regions;
  info.heap_count = gc->heap_count;
  info.gc_structures_valid = gc->structures_valid;
  info.free_mt = gc->free_mt;
  info.string_mt = gc->string_mt;
  info.free_type = info.string_type = UINT32_MAX;
  for (size_t t = 0; t < type_total; t++) {
    if (types[t].mt == gc->free_mt)
      info.free_type = (uint32_t)t;
    if (types[t].mt == gc->string_mt)
      info.string_type = (uint32_t)t;
  }
  info.runtime_version = ds_strpool_add(&pool, a->runtime.version);
  info.dump_path = ds_strpool_add(&pool, ds_dump_path(a->dump));
  info.dump_size = ds_dump_file_size(a->dump);
  info.heap_error_count = (uint32_t)walk.error_count;
  info.warnings = ds_strpool_add(&pool, roots->warnings);
  info.build_ms = (uint64_t)(now_ms() - t0);
  if (!pool.data) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for strings");
    goto out;
  }

  double t_write = now_ms();
  struct { ds_section_id id; const void *data; uint64_t size; } secs[] = {
      {DS_SEC_INFO, &info, sizeof info},
      {DS_SEC_TYPES, types, type_total * sizeof *types},
      {DS_SEC_FIELDS, fields.items, fields.count * sizeof *fields.items},
      {DS_SEC_STRINGS, pool.data, pool.len},
      {DS_SEC_SEGMENTS, segs, seg_count * sizeof *segs},
      {DS_SEC_ROOTS, iroots, roots->root_count * sizeof *iroots},
      {DS_SEC_THREADS, ithreads, roots->thread_count * sizeof *ithreads},
      {DS_SEC_FRAMES, iframes, roots->frame_count * sizeof *iframes},
      {DS_SEC_FINALIZABLE, finalizable, finalizable_count * 4},
      {DS_SEC_LIVE, live, (n + 63) / 64 * 8},
      {DS_SEC_GEN_HIST, hist, hist_count * sizeof *hist},
      {DS_SEC_EXTRA_EDGES, extra_out, extras.count * sizeof *extra_out},
      {DS_SEC_FREE, free_blocks.items, free_blocks.count * 4},
      {DS_SEC_MONITORS, monitors.items, monitors.count * sizeof *monitors.items},
  };
  for (size_t s = 0; s < sizeof secs / sizeof *secs; s++)
    if ((rc = ds_index_writer_add(w, secs[s].id, secs[s].data ? secs[s].data : "", secs[s].size, err)) != DS_OK)
      goto out;
  if ((rc = ds_index_writer_finish(w, err)) != DS_OK)
    goto out;
  stats->write_ms += now_ms() - t_write;
  stats->total_ms = now_ms() - t0;
  stats->live_objects = info.live_objects;
  stats->heap_errors = walk.error_count;
out:
  ds_root_set_free(&collected);
  ds_index_writer_free(w);
  ds_walk_stats_free(&walk);
  for (int j = 0; j < BUILD_THREADS; j++) {
    free(jobs[j].targets.items);
    free(jobs[j].raw.items);
    free(jobs[j].counts);
  }
  for (size_t t = 0; b.descs && t < b.heap_types; t++)
    free(b.descs[t].data);
  free(b.descs);
  lookup_free(&b.lookup);
  free(b.loader_allocator);
  free(b.first_instance);
  free(b.addr.items);
  free(b.type.items);
  free(b.size.items);
  free(out_off);
  free(out_edge);
  free(in_off);
  free(in_edge);
  free(fill);
  free(obj_size);
  free(finalizable);
  free(live);
  free(stack);
  free(types);
  free(fields.items);
  free(big.items);
  free(extras.items);
  free(free_blocks.items);
  free(monitors.items);
  free(extra_out);
  free(segs);
  free(iroots);
  free(ithreads);
  free(iframes);
  free(hist);
  free(hist_acc);
  ds_strpool_free(&pool);
  return rc;
}
