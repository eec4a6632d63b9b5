/*
 * heap_dac.c: describe a dump's GC heap through the DAC (analysis processes only).
 *
 * Workstation or server GC; regions or segments, decided from the dump (a regions GC has
 * distinct start regions for gen0 and gen1); gen0..2, LOH, POH and frozen (NonGC) segments;
 * allocation contexts of every thread, the global one and each heap's gen0 context; and the type
 * resolver the walk uses for MethodTables it has not met yet.
 */
#include "dumpscope/dac.h"
#include "dumpscope/heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT_FLAG_READONLY 1u

typedef struct resolver_ctx {
  ds_dac *dac;
  ds_dump *dump;
  ds_gc_info *info;
  const ds_layout *layout;
} resolver_ctx;

static ds_status resolve_mt(void *p, uint64_t mt, ds_type *type, ds_error *err) {
  resolver_ctx *r = p;
  ds_dacp_method_table data;
  ds_status rc = ds_dac_method_table(r->dac, mt, &data, err);
  if (rc != DS_OK)
    return rc;
  if (data.base_size == 0 && !data.is_free)
    return ds_error_set(err, DS_E_CORRUPT, "MethodTable 0x%llx has a base size of 0",
                        (unsigned long long)mt);
  type->mt = mt;
  type->base_size = data.base_size;
  type->component_size = data.component_size;
  type->module = data.module;
  type->parent_mt = data.parent_method_table;
  type->token = data.token;
  type->flags = 0;
  if (data.is_free || mt == r->info->free_mt)
    type->flags |= DS_TYPE_FREE;
  if (mt == r->info->string_mt)
    type->flags |= DS_TYPE_STRING;
  else if (data.component_size && !(type->flags & DS_TYPE_FREE))
    type->flags |= DS_TYPE_ARRAY;
  if (data.contains_pointers)
    type->flags |= DS_TYPE_POINTERS;
  bool finalizer, collectible;
  if (ds_layout_read_mt_flags(r->layout, r->dump, mt, &finalizer, &collectible)) {
    if (finalizer)
      type->flags |= DS_TYPE_FINALIZABLE;
    if (collectible)
      type->flags |= DS_TYPE_COLLECTIBLE;
  }
  char name[DS_MAX_TYPE_NAME_CHARS];
  ds_error name_err = {0};
  if (type->flags & DS_TYPE_FREE)
    snprintf(name, sizeof name, "Free");
  else if (ds_dac_method_table_name(r->dac, mt, name, sizeof name, &name_err) != DS_OK || !name[0])
    snprintf(name, sizeof name, "<unknown type 0x%llx>", (unsigned long long)mt);
  type->name = strdup(name);
  if (!type->name)
    return ds_error_set(err, DS_E_NOMEM, "out of memory storing a type name");
  return DS_OK;
}

/* Visited set for segment lists (cycles in a corrupt dump must not loop forever). */
typedef struct visited {
  uint64_t *items;
  size_t count, cap;
} visited;

static int visit(visited *v, uint64_t addr) {
  for (size_t i = 0; i < v->count; i++) /* lists are short per generation; linear is fine */
    if (v->items[i] == addr)
      return 0;
  if (v->count == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 256;
    uint64_t *p = realloc(v->items, cap * sizeof *p);
    if (!p)
      return -1;
    v->items = p;
    v->cap = cap;
  }
  v->items[v->count++] = addr;
  return 1;
}

/* Adds the segments of one generation's list of one heap. */
static ds_status add_generation(ds_dac *dac, ds_heap *heap, uint32_t heap_index,
                                const ds_dacp_heap_details *details, const ds_dacp_generation *gens,
                                uint32_t gen_count, int gen, bool regions, visited *seen,
                                ds_error *err) {
  ds_status rc = DS_OK;
  uint64_t seg_addr = gens[gen].start_segment, prev = 0;
  char hex_text[24] = "";
  while (seg_addr) {
    int fresh = visit(seen, seg_addr);
    if (fresh < 0)
      return ds_error_set(err, DS_E_NOMEM, "out of memory listing segments");
    if (fresh == 0)
      break;
    if (seen->count > DS_MAX_SEGMENTS)
      return ds_error_set(err, DS_E_LIMIT, "more than %u heap segments", DS_MAX_SEGMENTS);
    ds_dacp_segment sd;
    ds_error seg_err = {0};
    if (ds_dac_segment(dac, seg_addr, &sd, &seg_err) != DS_OK) {
      /* a damaged list: say where, skip the rest of this list, and let the rest of the dump
       * (other lists, threads, stacks, handles) answer */
      ds_heap_note_damage(heap, seg_addr, "the %s segment list of heap %u is damaged: segment 0x%llx%s%s cannot "
                          "be read (%s); the rest of that list is not walked", ds_gen_name((ds_gen)gen),
                          heap_index, (unsigned long long)seg_addr, prev ? " linked from 0x" : "",
                          prev ? hex_text : "", seg_err.message);
      return DS_OK;
    }
    uint64_t start = sd.mem;
    uint64_t end = seg_addr == details->ephemeral_heap_segment ? details->alloc_allocated : sd.allocated;
    if (end < start || end - start > (1ull << 40)) {
      ds_heap_note_damage(heap, seg_addr, "the %s segment list of heap %u is damaged: segment 0x%llx says it "
                          "spans [0x%llx, 0x%llx); the rest of that list is not walked",
                          ds_gen_name((ds_gen)gen), heap_index, (unsigned long long)seg_addr,
                          (unsigned long long)start, (unsigned long long)end);
      return DS_OK;
    }
    ds_segment seg = {.start = start, .end = end, .committed = sd.committed, .reserved = sd.reserved,
                      .descriptor = seg_addr, .heap = heap_index, .gen = (uint8_t)gen};
    if (sd.flags & SEGMENT_FLAG_READONLY)
      seg.gen = DS_GEN_FROZEN;
    if (end > start) {
      if (!regions && seg_addr == details->ephemeral_heap_segment && gen_count >= 2) {
        /* segments GC: [mem, gen1 start) gen2, [gen1 start, gen0 start) gen1, [gen0 start, end) gen0 */
        uint64_t g1 = gens[1].allocation_start, g0 = gens[0].allocation_start;
        if (g1 < start || g1 > end || g0 < g1 || g0 > end)
          return ds_error_set(err, DS_E_CORRUPT,
                              "ephemeral segment 0x%llx: generation starts (gen1 0x%llx, gen0 0x%llx) "
                              "lie outside [0x%llx, 0x%llx)", (unsigned long long)seg_addr,
                              (unsigned long long)g1, (unsigned long long)g0,
                              (unsigned long long)start, (unsigned long long)end);
        ds_segment parts[3] = {seg, seg, seg};
        parts[0].end = g1;
        parts[0].gen = DS_GEN_2;
        parts[1].start = g1;
        parts[1].end = g0;
        parts[1].gen = DS_GEN_1;
        parts[2].start = g0;
        parts[2].gen = DS_GEN_0;
        for (int p = 0; p < 3 && rc == DS_OK; p++) {
          parts[p].ephemeral = true;
          if (parts[p].end > parts[p].start)
            rc = ds_heap_add_segment(heap, &parts[p], err);
        }
      } else {
        rc = ds_heap_add_segment(heap, &seg, err);
      }
      if (rc != DS_OK)
        return rc;
    }
    prev = seg_addr;
    snprintf(hex_text, sizeof hex_text, "%llx", (unsigned long long)prev);
    seg_addr = sd.next;
  }
  return rc;
}

static ds_status load_one_heap(ds_dac *dac, ds_heap *heap, uint64_t heap_addr, uint32_t heap_index,
                               visited *seen, ds_error *err) {
  ds_dacp_heap_details details;
  ds_status rc = ds_dac_gc_heap_details(dac, heap_addr, &details, err);
  if (rc != DS_OK)
    return rc;
  ds_dacp_generation gens[8];
  uint32_t gen_count = 8;
  ds_error gen_err = {0};
  if (ds_dac_generation_table(dac, heap_addr, gens, &gen_count, &gen_err) != DS_OK) {
    memcpy(gens, details.generation_table, sizeof details.generation_table);
    gen_count = 4;
  }
  bool regions = gens[0].start_segment != gens[1].start_segment ||
                 details.saved_sweep_ephemeral_seg == UINT64_MAX;
  ds_gc_info *info = ds_heap_gc_info(heap);
  info->regions = regions;

  /* LOH, gen2 (its list holds the ephemeral segment last when not regions), then regions' gen1
   * and gen0, then POH. */
  int order[5];
  size_t n = 0;
  order[n++] = DS_GEN_LOH;
  order[n++] = DS_GEN_2;
  if (regions) {
    order[n++] = DS_GEN_1;
    order[n++] = DS_GEN_0;
  }
  if (gen_count > 4)
    order[n++] = DS_GEN_POH;
  for (size_t i = 0; i < n && rc == DS_OK; i++)
    rc = add_generation(dac, heap, heap_index, &details, gens, gen_count, order[i], regions, seen, err);
  if (rc == DS_OK)
    rc = ds_heap_add_alloc_context(heap, gens[0].alloc_context_ptr, gens[0].alloc_context_limit, err);
  return rc;
}

ds_status ds_heap_load(struct ds_dac *dac, ds_dump *dump, ds_heap **out, ds_error *err) {
  *out = NULL;
  resolver_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return ds_error_set(err, DS_E_NOMEM, "out of memory loading the heap");
  ds_heap *heap = NULL;
  visited seen = {0};
  uint64_t *heaps = NULL;
  const ds_runtime_info *rt = ds_dac_runtime(dac);
  const ds_layout *layout = NULL;
  ds_status rc = ds_layout_for_runtime(rt->major, rt->version, &layout, err);
  if (rc != DS_OK) {
    free(ctx);
    return rc;
  }
  if ((rc = ds_heap_create(dump, resolve_mt, ctx, &heap, err)) != DS_OK) {
    free(ctx);
    return rc;
  }
  ds_heap_set_owned_context(heap, ctx);
  ds_heap_set_layout(heap, layout);
  ctx->dac = dac;
  ctx->dump = dump;
  ctx->layout = layout;
  ds_gc_info *info = ds_heap_gc_info(heap);
  ctx->info = info;

  ds_dacp_gc_heap_data hd;
  if ((rc = ds_dac_gc_heap_data(dac, &hd, err)) != DS_OK)
    goto out;
  info->server = hd.server_mode != 0;
  info->structures_valid = hd.gc_structures_valid != 0;
  info->heap_count = hd.server_mode ? hd.heap_count : 1;
  info->max_generation = hd.max_generation;
  ds_dacp_useful_globals globals;
  if ((rc = ds_dac_useful_globals(dac, &globals, err)) != DS_OK)
    goto out;
  info->free_mt = globals.free_mt;
  info->string_mt = globals.string_mt;
  info->object_mt = globals.object_mt;
  info->exception_mt = globals.exception_mt;
  info->array_mt = globals.array_mt;

  if (info->server) {
    if (hd.heap_count == 0 || hd.heap_count > DS_MAX_GC_HEAPS) {
      rc = ds_error_set(err, DS_E_CORRUPT, "the DAC reports %u server GC heaps", hd.heap_count);
      goto out;
    }
    heaps = calloc(hd.heap_count, sizeof *heaps);
    if (!heaps) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %u heaps", hd.heap_count);
      goto out;
    }
    if ((rc = ds_dac_gc_heap_list(dac, hd.heap_count, heaps, err)) != DS_OK)
      goto out;
    for (uint32_t i = 0; i < hd.heap_count && rc == DS_OK; i++)
      rc = load_one_heap(dac, heap, heaps[i], i, &seen, err);
  } else {
    rc = load_one_heap(dac, heap, 0, 0, &seen, err);
  }
  if (rc != DS_OK)
    goto out;

  ds_addr gptr, glimit;
  ds_error ignore = {0};
  if (ds_dac_global_alloc_context(dac, &gptr, &glimit, &ignore) == DS_OK &&
      (rc = ds_heap_add_alloc_context(heap, gptr, glimit, err)) != DS_OK)
    goto out;

  ds_dacp_thread_store store;
  if ((rc = ds_dac_thread_store(dac, &store, err)) != DS_OK)
    goto out;
  ds_addr thread = store.first_thread;
  for (uint32_t i = 0; thread && i < DS_MAX_THREADS; i++) {
    ds_dacp_thread td;
    if (ds_dac_thread(dac, thread, &td, &ignore) != DS_OK)
      break;
    if ((rc = ds_heap_add_alloc_context(heap, td.alloc_context_ptr, td.alloc_context_limit, err)) != DS_OK)
      goto out;
    thread = td.next_thread;
  }
  rc = ds_heap_seal(heap, err);
out:
  free(seen.items);
  free(heaps);
  if (rc != DS_OK) {
    ds_heap_destroy(heap);
    return rc;
  }
  *out = heap;
  return DS_OK;
}
