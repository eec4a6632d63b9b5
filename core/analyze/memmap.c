/*
 * memmap.c: phase "memory map" of the index build: the runtime's memory outside the GC heap (JIT
 * code heaps, loader heaps, the handle table) and the native code of every method on a thread's
 * stack, of every compiled method the indexed types define and of the methods their code calls, so
 * that a query can say what lives at an address (SOSEX !mln) without the DAC.
 *
 * What the DAC cannot describe is left out (the address then reads as unknown); only running out
 * of memory or failing to write stops the build.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacmem.h"

#include "analyzeint.h"

typedef struct memmap {
  ds__build *b;
  DS__VEC(ds_index_memory_range) ranges;
  ds_status status;
} memmap;

static void add_range(memmap *m, uint32_t kind, uint64_t start, uint64_t size, const char *name, uint64_t md) {
  if (m->status != DS_OK)
    return;
  ds_index_memory_range r = {start, size, kind, ds_strpool_add(&m->b->pool, name ? name : ""), md};
  DS__VEC_PUSH(m->ranges, r, DS_MAX_MEMORY_RANGES, m->status);
}

static void on_region(void *ctx, ds_dac_region_kind kind, uint64_t start, uint64_t size, const char *name) {
  uint32_t k = kind == DS_DAC_REGION_CODE_HEAP     ? DS_MEMORY_CODE_HEAP
               : kind == DS_DAC_REGION_LOADER_HEAP ? DS_MEMORY_LOADER_HEAP
                                                   : DS_MEMORY_HANDLE_TABLE;
  add_range(ctx, k, start, size, name, 0);
}

static int compare_range(const void *x, const void *y) {
  const ds_index_memory_range *a = x, *b = y;
  if (a->start != b->start)
    return a->start < b->start ? -1 : 1;
  return a->kind < b->kind ? -1 : a->kind > b->kind;
}

/* The code of each method with a frame on some stack, once per method. */
static void method_ranges(memmap *m) {
  const ds_root_set *roots = m->b->roots;
  for (size_t f = 0; f < roots->frame_count && m->status == DS_OK; f++) {
    const ds_frame_info *fr = &roots->frames[f];
    if (fr->frame_address || !fr->ip)
      continue;
    bool known = false;
    for (size_t r = 0; r < m->ranges.count && !known; r++) {
      const ds_index_memory_range *x = &m->ranges.items[r];
      known = (x->kind == DS_MEMORY_JIT_METHOD || x->kind == DS_MEMORY_PRECOMPILED_METHOD) && fr->ip >= x->start &&
              fr->ip - x->start < x->size;
    }
    uint64_t start, size, md;
    bool jitted;
    ds_error ignore = {0};
    if (known || ds_dac_method_code(m->b->a->dac, fr->ip, &start, &size, &md, &jitted, &ignore) != DS_OK)
      continue;
    /* the frame's name carries the signature; the runtime-frame prefix never applies here */
    add_range(m, jitted ? DS_MEMORY_JIT_METHOD : DS_MEMORY_PRECOMPILED_METHOD, start, size, fr->method, md);
  }
}

/* Sorted by start (then kind); one range per start and kind. */
static void sort_unique(memmap *m) {
  if (!m->ranges.count)
    return;
  qsort(m->ranges.items, m->ranges.count, sizeof *m->ranges.items, compare_range);
  size_t kept = 1;
  for (size_t r = 1; r < m->ranges.count; r++) {
    const ds_index_memory_range *prev = &m->ranges.items[kept - 1], *x = &m->ranges.items[r];
    if (x->start != prev->start || x->kind != prev->kind)
      m->ranges.items[kept++] = *x;
  }
  m->ranges.count = kept;
}

ds_status ds__build_memory_map(ds__build *b, ds_error *err) {
  memmap m = {.b = b};
  bool truncated = false;
  ds_error ignore = {0};
  ds_dac_memory_regions(b->a->dac, DS_MAX_MEMORY_RANGES / 4, on_region, &m, &truncated, &ignore);
  method_ranges(&m);
  const ds_index_memory_range *code = NULL;
  size_t code_count = ds__typeinfo_code(b, &code);
  for (size_t c = 0; c < code_count && m.status == DS_OK; c++)
    DS__VEC_PUSH(m.ranges, code[c], DS_MAX_MEMORY_RANGES, m.status);
  ds_status rc = m.status;
  if (rc != DS_OK) {
    free(m.ranges.items);
    return ds__vec_error(err, rc, "memory ranges", DS_MAX_MEMORY_RANGES, "DS_MAX_MEMORY_RANGES");
  }
  sort_unique(&m);
  ds_index_memory_range *extra = NULL;
  size_t extra_count = 0;
  rc = ds__build_callees(b, m.ranges.items, m.ranges.count, &extra, &extra_count, err);
  for (size_t c = 0; c < extra_count && rc == DS_OK; c++) {
    DS__VEC_PUSH(m.ranges, extra[c], DS_MAX_MEMORY_RANGES, m.status);
    rc = m.status != DS_OK ? ds__vec_error(err, m.status, "memory ranges", DS_MAX_MEMORY_RANGES, "DS_MAX_MEMORY_RANGES")
                           : DS_OK;
  }
  free(extra);
  if (rc != DS_OK) {
    free(m.ranges.items);
    return rc;
  }
  sort_unique(&m);
  rc = ds_index_writer_add(b->w, DS_SEC_MEMORY_RANGES, m.ranges.items ? (void *)m.ranges.items : "",
                           m.ranges.count * sizeof *m.ranges.items, err);
  if (rc == DS_OK)
    rc = ds__build_code_map(b, m.ranges.items, m.ranges.count, err);
  free(m.ranges.items);
  return rc;
}
