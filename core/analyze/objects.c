/*
 * objects.c: phase 1 of the index build (build.c): the heap walk into the object arrays
 * (addresses, types, sizes, thin-lock headers), with their pages faulted in ahead of it, and the
 * object sections handed to the writer.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "analyzeint.h"

/* The object's header word, through a window of the mapped dump (the walk has just read the page). */
static bool read_header(ds__build *b, uint64_t addr, uint32_t *header) {
  const uint8_t *p = ds__window_at(&b->hdr_win, b->a->dump, addr - b->layout->header_before, 4);
  if (p) {
    memcpy(header, p, 4);
    return true;
  }
  return ds_layout_read_header(b->layout, b->a->dump, addr, header);
}

/* Without a memory budget the walk's arrays (and the sizes written after it) are reserved at the
 * most objects the heap's ranges can hold, as address space only, and a helper thread faults
 * their pages in (MADV_POPULATE_WRITE) a little ahead of the walk: the kernel's zeroing of fresh
 * pages, about a third of the walk on this VM, moves to the otherwise idle second core. The
 * helper never writes a byte (populating a page that is there already does nothing), so a walk
 * that overtakes it loses nothing, and the pages it faulted past the last object are given back
 * after the walk. */
enum { PREFAULT_ARRAYS = 4, PREFAULT_AHEAD = 1 << 20 /* objects */, PREFAULT_PUBLISH = 0xFFFF };
#define PREFAULT_STEP ((size_t)4 << 20) /* bytes per madvise: small enough to follow the walk */

typedef struct ds__prefaulter {
  ds__side_thread side;
  uint8_t *base[PREFAULT_ARRAYS];
  size_t elem[PREFAULT_ARRAYS], bytes[PREFAULT_ARRAYS], done[PREFAULT_ARRAYS];
  size_t progress; /* objects stored by the walk (atomic) */
  bool stop;       /* atomic */
} ds__prefaulter;

static void *prefault_ahead(void *p) {
  ds__prefaulter *f = p;
  const struct timespec pause = {0, 100 * 1000};
  while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
    size_t want = __atomic_load_n(&f->progress, __ATOMIC_RELAXED) + PREFAULT_AHEAD;
    bool busy = false;
    for (int k = 0; k < PREFAULT_ARRAYS; k++) {
      size_t upto = want * f->elem[k] < f->bytes[k] ? want * f->elem[k] : f->bytes[k];
      if (upto <= f->done[k])
        continue;
      size_t step = upto - f->done[k] < PREFAULT_STEP ? upto - f->done[k] : PREFAULT_STEP;
      step = (step + 4095) & ~(size_t)4095;
      if (f->done[k] + step > f->bytes[k])
        step = f->bytes[k] - f->done[k];
      if (!ds__fault_in(f->base[k] + f->done[k], step))
        return NULL; /* an older kernel (EINVAL) or no memory: the walk faults its pages itself */
      f->done[k] += step;
      busy = true;
    }
    if (!busy)
      nanosleep(&pause, NULL);
  }
  return NULL;
}

/* Reserves addr, type, size and obj_size for the most objects there can be and starts the
 * helper; with no reservation (a system that refuses it, a damaged dump's absurd ranges) the
 * arrays grow as the walk goes. */
static void prefault_start(ds__build *b) {
  uint64_t most = 1;
  for (size_t s = 0; s < ds_heap_segment_count(b->heap); s++) {
    const ds_segment *seg = ds_heap_segment(b->heap, s);
    most += (seg->end - seg->start) / 24 + 1;
  }
  if (most > DS_MAX_OBJECTS || most > ((uint64_t)1 << 40) / 24)
    return;
  ds__prefaulter *f = calloc(1, sizeof *f);
  if (!f)
    return;
  void **arrays[PREFAULT_ARRAYS] = {(void **)&b->addr.items, (void **)&b->type.items, (void **)&b->size.items,
                                    (void **)&b->obj_size};
  size_t elems[PREFAULT_ARRAYS] = {8, 4, 8, 4};
  for (int k = 0; k < PREFAULT_ARRAYS; k++) {
    f->elem[k] = elems[k];
    f->bytes[k] = ((size_t)most * elems[k] + 4095) & ~(size_t)4095;
    if (!(f->base[k] = *arrays[k] = ds__reserve(b, f->bytes[k]))) {
      for (int j = 0; j <= k; j++)
        ds__spill_free(b, *arrays[j]), *arrays[j] = NULL;
      free(f);
      return;
    }
  }
  b->addr.cap = b->type.cap = b->size.cap = most;
  b->objects_bounded = true;
  b->prefault = f;
  ds__side_start(&f->side, prefault_ahead, f);
}

/* Stops the helper and gives back the pages it faulted in past the last object. */
void ds__objects_stop_prefault(ds__build *b) {
  ds__prefaulter *f = b->prefault;
  if (!f)
    return;
  __atomic_store_n(&f->stop, true, __ATOMIC_RELEASE);
  ds__side_join(&f->side);
  for (int k = 0; k < PREFAULT_ARRAYS; k++) {
    size_t keep = (b->addr.count * f->elem[k] + 4095) & ~(size_t)4095;
    if (f->done[k] > keep)
      madvise(f->base[k] + keep, f->done[k] - keep, MADV_DONTNEED);
  }
  free(f);
  b->prefault = NULL;
}

static bool collect_object(void *p, const ds_heap_object *obj) {
  ds__build *b = p;
  ds_status rc = DS_OK;
  if (!(b->addr.count & PREFAULT_PUBLISH) && b->prefault)
    __atomic_store_n(&b->prefault->progress, b->addr.count, __ATOMIC_RELAXED);
  uint32_t header, id, recursion;
  if (read_header(b, obj->address, &header) && ds_layout_thin_lock(b->layout, header, &id, &recursion))
    DS__VEC_PUSH(b->thin, ((ds__thin_header){(uint32_t)b->addr.count, header}), DS_MAX_OBJECTS, rc);
  if (b->objects_bounded && b->addr.count == b->addr.cap)
    rc = DS_E_LIMIT; /* never: the capacity is the most objects the heap's ranges can hold */
  if (rc == DS_OK)
    DS__VEC_PUSH(b->addr, obj->address, DS_MAX_OBJECTS, rc);
  if (rc == DS_OK)
    DS__VEC_PUSH(b->type, obj->type, DS_MAX_OBJECTS, rc);
  if (rc == DS_OK)
    DS__VEC_PUSH(b->size, obj->size, DS_MAX_OBJECTS, rc);
  b->walk_status = rc;
  return rc == DS_OK;
}

/* Under a memory budget the object arrays are temporary files (spill.c) of the most objects the
 * heap's ranges can hold (one per minimum object size), so the walk never grows them. */
static void bound_objects(ds__build *b) {
  uint64_t most = 1;
  for (size_t s = 0; s < ds_heap_segment_count(b->heap); s++) {
    const ds_segment *seg = ds_heap_segment(b->heap, s);
    most += (seg->end - seg->start) / 24 + 1;
  }
  if (most > DS_MAX_OBJECTS)
    most = DS_MAX_OBJECTS;
  ds_error ignore = {0};
  if (!(b->addr.items = ds__spill_alloc(b, most * 8, &ignore)) ||
      !(b->type.items = ds__spill_alloc(b, most * 4, &ignore)) ||
      !(b->size.items = ds__spill_alloc(b, most * 8, &ignore))) {
    /* ranges too large to map (a damaged dump): the arrays grow in memory as without a budget */
    ds__spill_free(b, b->addr.items), ds__spill_free(b, b->type.items), ds__spill_free(b, b->size.items);
    b->addr.items = NULL, b->type.items = NULL, b->size.items = NULL;
    return;
  }
  b->addr.cap = b->type.cap = b->size.cap = most;
  b->objects_bounded = true;
}

static ds_status start_object_sections(ds__build *b, ds_error *err);

/* Walks the heap into the object arrays and writes the object sections (sizes of 4 GiB or more
 * go to the big-size table). */
ds_status ds__build_objects(ds__build *b, ds_error *err) {
  const char *path = b->path;
  if (b->budget)
    bound_objects(b);
  else
    prefault_start(b);
  /* A dump taken inside a GC's plan/relocate/compact phases has no walkable heap: the index
   * holds no objects, and everything from the DAC that needs none (threads, stacks, handles,
   * sync blocks, segments) is built as usual; its info says why (gc_structures_valid = 0). */
  ds_status rc = ds_heap_gc_info(b->heap)->structures_valid
                     ? ds_heap_walk(b->heap, -1, collect_object, b, &b->walk, err)
                     : DS_OK;
  if (b->prefault) /* it goes on over obj_size below: the walk's objects are all published */
    __atomic_store_n(&b->prefault->progress, b->addr.count, __ATOMIC_RELAXED);
  if (rc != DS_OK || b->walk_status != DS_OK)
    ds__objects_stop_prefault(b);
  if (rc != DS_OK)
    return rc;
  if (b->walk_status != DS_OK)
    return ds__vec_error(err, b->walk_status, "objects", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
  size_t n = b->n = b->addr.count;
  b->stats->objects = n;
  b->stats->walk_ms = ds__now_ms() - b->t0;
  /* object sections go to disk now: the writeback overlaps the rest of the build */
  if (!b->obj_size)
    b->obj_size = ds__big_malloc(n * sizeof *b->obj_size);
  if (!b->obj_size)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for object sizes");
  for (size_t i = 0; i < n; i++) {
    uint64_t sz = b->size.items[i];
    if (sz >= UINT32_MAX) {
      b->obj_size[i] = UINT32_MAX;
      DS__VEC_PUSH(b->big, ((ds_index_big_size){(uint32_t)i, 0, sz}), DS_MAX_OBJECTS, rc);
      if (rc != DS_OK)
        return ds__vec_error(err, rc, "objects of 4 GiB or more", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
    } else {
      b->obj_size[i] = (uint32_t)sz;
    }
  }
  ds__objects_stop_prefault(b);
  if ((rc = ds_index_writer_create(path, &b->w, err)) != DS_OK)
    return rc;
  if (b->search_target) /* the root search's index: read once by this process (rootsearch.c) */
    ds_index_writer_skip_checksums(b->w);
  return start_object_sections(b, err);
}

uint64_t ds__big_object_size(const ds__build *b, size_t i) {
  size_t lo = 0, hi = b->big.count; /* by object: the walk appended them in order */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->big.items[mid].object < i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < b->big.count && b->big.items[lo].object == i ? b->big.items[lo].size : UINT32_MAX;
}

/* ---- the object sections -------------------------------------------------------------------- */

/* Addresses, types and sizes are written behind while the next phases describe the roots and the
 * types through the DAC on this thread; the arrays are swapped for the file's pages after the
 * references (graph.c), whose arrays take their pages over (fresh pages cost a trip to the host
 * on this VM: spill.c). A root search's build has no references phase: its sizes get the file's
 * pages in place and leave memory at once (nothing reads them again). Under a memory budget the
 * arrays are spill files already: the phase "object sections" writes them and swaps in their
 * mappings. */
static ds_status start_object_sections(ds__build *b, ds_error *err) {
  if (b->budget)
    return DS_OK;
  ds__write_behind_start(b); /* here, before any other thread: without it, sections are written at once */
  size_t n = b->n;
  ds_status rc;
  if ((rc = ds__write_behind(b, DS_SEC_OBJ_ADDR, b->addr.items, n * 8, 0, err)) != DS_OK ||
      (rc = ds__write_behind(b, DS_SEC_OBJ_TYPE, b->type.items, n * 4, 0, err)) != DS_OK ||
      (rc = ds__write_behind(b, DS_SEC_OBJ_SIZE, b->obj_size, n * 4, b->search_target ? DS__WB_IN_PLACE | DS__WB_RELEASE : 0,
                             err)) != DS_OK)
    return rc;
  return ds__write_behind(b, DS_SEC_BIG_SIZES, b->big.items, b->big.count * sizeof *b->big.items, 0, err);
}

/* Phase "object sections", under a memory budget: addresses and types are read from their mapped
 * sections from here on. */
ds_status ds__finish_object_sections(ds__build *b, ds_error *err) {
  if (!b->budget)
    return DS_OK; /* written behind */
  size_t n = b->n;
  double t = ds__now_ms();
  ds_status rc;
  if ((rc = ds__write_mapped(b, DS_SEC_OBJ_ADDR, (void **)&b->addr.items, n * 8, err)) != DS_OK)
    return rc;
  b->mapped |= DS__MAPPED_ADDR;
  if ((rc = ds__write_mapped(b, DS_SEC_OBJ_TYPE, (void **)&b->type.items, n * 4, err)) != DS_OK)
    return rc;
  b->mapped |= DS__MAPPED_TYPE;
  b->addr.cap = b->type.cap = 0; /* never grown again */
  if ((rc = ds_index_writer_add(b->w, DS_SEC_OBJ_SIZE, b->obj_size, n * 4, err)) != DS_OK ||
      (rc = ds_index_writer_add(b->w, DS_SEC_BIG_SIZES, b->big.items ? (void *)b->big.items : "",
                                b->big.count * sizeof *b->big.items, err)) != DS_OK)
    return rc;
  ds__spill_free(b, b->obj_size); /* written: nothing reads it again */
  b->obj_size = NULL;
  b->stats->write_ms += ds__now_ms() - t;
  return DS_OK;
}
