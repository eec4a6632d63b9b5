/*
 * analyzeint.h: internals of the index build shared by the files of core/analyze (build.c runs
 * the phases, graph.c holds the reference phases). Nobody outside core/analyze includes this.
 *
 * The build is a sequence of phase functions over one ds__build state (Redis's rdbSave* style):
 * each phase reads what the earlier ones left in the state, adds its own results, and may hand
 * finished sections to the index writer at once. Everything the state owns is freed in one place,
 * ds__build_free, whether the build finished or stopped part way.
 */
#ifndef DUMPSCOPE_ANALYZE_INT_H
#define DUMPSCOPE_ANALYZE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/build.h"
#include "dumpscope/index.h"
#include "dumpscope/layout.h"

#define DS__BUILD_THREADS 2

double ds__now_ms(void);

/* A growable array of T with a hard cap (curl dynbuf habit): growth past the cap is DS_E_LIMIT,
 * a failed allocation DS_E_NOMEM; neither is ever ignored. */
#define DS__VEC(T) struct { T *items; size_t count, cap; }
/* Appends x to v, which may hold at most max elements; on failure leaves v as it was and sets the
 * ds_status rc (left alone on success). */
#define DS__VEC_PUSH(v, x, max, rc)                                                                   \
  do {                                                                                                \
    if ((v).count == (v).cap &&                                                                       \
        ((rc) = ds__vec_grow((void **)&(v).items, &(v).cap, (v).count, sizeof *(v).items, (max))) != DS_OK) \
      break;                                                                                          \
    (v).items[(v).count++] = (x);                                                                     \
  } while (0)

/* Room for one more element of elem_size bytes in *items (count used of *cap), doubling up to
 * max elements. */
ds_status ds__vec_grow(void **items, size_t *cap, size_t count, size_t elem_size, size_t max);
/* The error of a failed push: "more than <max> <what> (<cap>)" or "out of memory for <what>". */
ds_status ds__vec_error(ds_error *err, ds_status rc, const char *what, size_t max, const char *cap);

/* Address -> object index in O(1): per heap range, for every granule of bytes, the first object
 * at or after the granule's start. A lookup is a short scan (a granule holds a few objects)
 * instead of a binary search over millions of addresses with a cache miss per step. */
#define DS__GRANULE_SHIFT 9
typedef struct ds__addr_lookup {
  const uint64_t *addrs;
  size_t n;
  size_t ranges;
  uint64_t *start, *end;
  uint32_t **dir;
} ds__addr_lookup;

/* A dependent-handle edge (kind 1) added to the graph beside the GC descriptor's references. */
typedef struct ds__extra_edge {
  uint32_t from, to, kind;
} ds__extra_edge;

/* One thread's share of the reference extraction: objects [lo, hi). */
typedef struct ds__edge_job {
  struct ds__build *b;
  size_t lo, hi;
  const uint8_t *win;        /* the dump mapping of [win_start, win_end): most objects fall in it */
  uint64_t win_start, win_end;
  uint32_t *counts;          /* per object in [lo, hi) */
  DS__VEC(uint32_t) targets;
  DS__VEC(uint64_t) raw;     /* pointer values of the current batch, resolved in bulk */
  ds_status status;          /* DS_OK, or why the job stopped */
} ds__edge_job;

typedef struct ds__build {
  ds_analysis *a;
  ds_heap *heap;
  const ds_layout *layout;   /* the dump's runtime's: every raw object read goes through it */
  ds_build_stats *stats;
  double t0;
  ds_root_set collected;     /* the roots when the caller gave none */
  const ds_root_set *roots;
  ds_index_writer *w;
  ds_strpool pool;
  ds_walk_stats walk;

  /* objects (phase 1), in address order */
  DS__VEC(uint64_t) addr;
  DS__VEC(uint32_t) type;
  DS__VEC(uint64_t) size;
  size_t n;
  ds_status walk_status;     /* why the walk's callback stopped it */
  uint32_t *obj_size;
  DS__VEC(ds_index_big_size) big;

  /* types (phase 2): per type of the heap's table; typeinfo.c's details (raw field types,
   * statics) in typeinfo */
  struct ds__typeinfo *typeinfo;
  size_t heap_types, type_total;
  uint32_t *first_instance;  /* an object index, for array element types */
  ds_gc_desc *descs;         /* copied out of the dump once per type */
  uint64_t *loader_allocator; /* the LoaderAllocator object of collectible types */
  ds_index_type *types;
  DS__VEC(ds_index_field) fields;

  /* references (phases 3 and 4) */
  ds__addr_lookup lookup;
  ds__edge_job jobs[DS__BUILD_THREADS];
  DS__VEC(ds__extra_edge) extras;
  uint64_t edge_total;
  uint32_t *out_off, *out_edge, *in_off, *in_edge, *fill;

  /* roots, threads, frames, finalizer queue, monitors (phase 5) */
  ds_index_root *iroots;
  ds_index_thread *ithreads;
  ds_index_frame *iframes;
  uint32_t *finalizable;
  size_t finalizable_count;
  DS__VEC(ds_index_monitor) monitors;

  /* liveness (phase 6) */
  uint64_t *live;
  uint32_t *stack;

  /* segments, histograms, free blocks (phase 7) */
  ds_index_segment *segs;
  size_t seg_count;
  uint64_t *hist_acc;
  ds_index_hist *hist;
  size_t hist_count;
  DS__VEC(uint32_t) free_blocks;
  ds_index_extra_edge *extra_out;
  ds_index_info info;
} ds__build;

/* Index of the object starting exactly at addr, or UINT32_MAX. */
uint32_t ds__find_exact(const uint64_t *addrs, size_t n, uint64_t addr);
/* Index of the object containing addr (interior pointers), or UINT32_MAX. */
uint32_t ds__find_containing(const ds_layout *l, const uint64_t *addrs, const uint64_t *sizes, size_t n,
                             uint64_t addr);

/* Frees the address directory (again: a no-op). */
void ds__lookup_free(ds__addr_lookup *l);

/* Phase 3 (graph.c): every object's outgoing references from its type's GC descriptor, on
 * DS__BUILD_THREADS threads, plus dependent-handle edges; writes the outgoing CSR sections. */
ds_status ds__build_references(ds__build *b, ds_error *err);
/* Phase 4 (graph.c): the incoming references (the inverted graph); writes its CSR sections. */
ds_status ds__build_reverse(ds__build *b, ds_error *err);

/* Type records (typeinfo.c): a heap type's record without the DAC's details; a class's instance
 * fields appended to the field table (and its statics kept for the statics section). */
void ds__type_record(ds__build *b, const ds_type *ht, ds_index_type *it);
ds_status ds__describe_fields(ds__build *b, uint32_t t, const ds_type *ht, ds_index_type *it, ds_error *err);
/* Phase "type details" (typeinfo.c), after build_types: value types of fields, declaring types,
 * types with methods on the stacks; writes the field info, statics and methods sections. */
ds_status ds__build_type_details(ds__build *b, ds_error *err);
void ds__typeinfo_free(ds__build *b);
/* The native code ranges of the methods "type details" recorded (for the memory map). */
size_t ds__typeinfo_code(const ds__build *b, const ds_index_memory_range **ranges);

/* Phase "frame variables" (framevars.c): IL offsets, arguments and locals of the frames the root
 * collection walked; writes the frame info and frame variables sections. */
ds_status ds__build_frame_vars(ds__build *b, ds_error *err);

/* Phase "memory map" (memmap.c): code heaps, loader heaps, the handle table and the code of the
 * methods on the stacks; writes its section. Needs the roots (their frames). */
ds_status ds__build_memory_map(ds__build *b, ds_error *err);

void ds__build_free(ds__build *b);

#endif
