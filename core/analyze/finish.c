/*
 * finish.c: the last phases of the index build (build.c runs them): liveness (everything a
 * root reaches), the segments, per-generation histograms, free blocks and extra edges, then the
 * info section and the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/rootscan.h"

#include "analyzeint.h"

/* ---- phase 7: liveness ---------------------------------------------------------------------- */

/* Marks everything reachable from a root: a depth-first search over the outgoing references. */
ds_status ds__build_liveness(ds__build *b, ds_error *err) {
  double t_live = ds__now_ms();
  size_t n = b->n;
  if (ds__live_from_dominators(b)) {
    /* the dominator search reached every live object from the same roots over the same edges
     * and marked it: nothing to search here */
    b->stats->live_ms = ds__now_ms() - t_live;
    return DS_OK;
  }
  if (!b->live) /* else zeroed by ds__start_dominators, and untouched */
    b->live = ds__big_calloc((n + 63) / 64 + 1, sizeof *b->live);
  if (!b->live)
    return ds_error_set(err, DS_E_NOMEM, "out of memory marking live objects");
  if (!(b->stack = ds__spill_alloc(b, (n + 1) * sizeof *b->stack, err)))
    return err->code;
  uint64_t *live = b->live;
  uint32_t *stack = b->stack;
  size_t top = 0;
  /* from the collected roots, whose search reaches the static fields' objects through their
   * storage; a root search stops before expanding anything when its target is one of those */
  size_t root_end = b->search_target ? b->iroot_count : b->roots->root_count;
  for (size_t r = 0; r < root_end; r++) {
    uint32_t o = b->iroots[r].object;
    if (!b->iroots[r].is_root || (live[o >> 6] >> (o & 63) & 1))
      continue;
    live[o >> 6] |= 1ull << (o & 63);
    stack[top++] = o;
    while (top) {
      uint32_t cur = stack[--top];
      for (uint32_t e = b->out_off[cur]; e < b->out_off[cur + 1]; e++) {
        uint32_t t = b->out_edge[e];
        if (!(live[t >> 6] >> (t & 63) & 1)) {
          live[t >> 6] |= 1ull << (t & 63);
          stack[top++] = t; /* each object is pushed once: top <= n */
        }
      }
    }
  }
  ds__spill_free(b, b->stack); /* its phase is over */
  b->stack = NULL;
  b->stats->live_ms = ds__now_ms() - t_live;
  return DS_OK;
}

/* ---- phase 8: segments, histograms, free blocks -------------------------------------------- */

/* The extra edges (dependent handles) as the index stores them. */
ds_status ds__build_extra_edges(ds__build *b, ds_error *err) {
  b->extra_out = calloc(b->extras.count ? b->extras.count : 1, sizeof *b->extra_out);
  if (!b->extra_out)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  for (size_t x = 0; x < b->extras.count; x++)
    b->extra_out[x] = (ds_index_extra_edge){b->extras.items[x].from, b->extras.items[x].to, b->extras.items[x].kind, 0};
  return DS_OK;
}

/* One heap range: its record, its free blocks, and its objects counted per (generation, type). */
static ds_status histogram_segment(ds__build *b, size_t si, ds_error *err) {
  const ds_segment *s = ds_heap_segment(b->heap, si);
  size_t first = ds__lower_bound(b->addr.items, b->n, s->start);
  size_t end = ds__lower_bound(b->addr.items, b->n, s->end);
  if (end < first)
    end = first;
  b->segs[si] = (ds_index_segment){.start = s->start, .end = s->end, .descriptor = s->descriptor, .heap = s->heap,
                                   .gen = s->gen, .ephemeral = s->ephemeral, .first_object = (uint32_t)first,
                                   .object_count = (uint32_t)(end - first)};
  for (size_t i = first; i < end; i++) {
    uint32_t t = b->type.items[i];
    if (b->types[t].flags & DS_TYPE_FREE) {
      ds_status rc = DS_OK;
      DS__VEC_PUSH(b->free_blocks, (uint32_t)i, DS_MAX_OBJECTS, rc);
      if (rc != DS_OK)
        return ds__vec_error(err, rc, "free blocks", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
    }
    uint64_t *acc = &b->hist_acc[((size_t)s->gen * b->type_total + t) * 4];
    bool is_live = b->live[i >> 6] >> (i & 63) & 1;
    acc[0]++;
    acc[1] += ds__object_size(b, i);
    if (is_live) {
      acc[2]++;
      acc[3] += ds__object_size(b, i);
      b->info.live_objects++;
      b->info.live_bytes += ds__object_size(b, i);
    }
  }
  return DS_OK;
}

ds_status ds__build_histograms(ds__build *b, ds_error *err) {
  size_t type_total = b->type_total;
  b->seg_count = ds_heap_segment_count(b->heap);
  b->segs = calloc(b->seg_count ? b->seg_count : 1, sizeof *b->segs);
  b->hist_acc = calloc((size_t)DS_GEN_COUNT * type_total * 4 + 1, sizeof *b->hist_acc);
  if (!b->segs || !b->hist_acc)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for histograms");
  ds_status rc;
  for (size_t si = 0; si < b->seg_count; si++)
    if ((rc = histogram_segment(b, si, err)) != DS_OK)
      return rc;
  size_t cells = (size_t)DS_GEN_COUNT * type_total, hist_count = 0;
  for (size_t k = 0; k < cells; k++)
    hist_count += b->hist_acc[k * 4] != 0;
  b->hist = calloc(hist_count ? hist_count : 1, sizeof *b->hist);
  if (!b->hist)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for histograms");
  for (size_t k = 0; k < cells; k++) {
    const uint64_t *acc = &b->hist_acc[k * 4];
    if (acc[0])
      b->hist[b->hist_count++] = (ds_index_hist){(uint32_t)(k / type_total), (uint32_t)(k % type_total), acc[0],
                                                 acc[1], acc[2], acc[3]};
  }
  return ds__build_extra_edges(b, err);
}

/* ---- phase 9: info and the file -------------------------------------------------------------- */

static void fill_info(ds__build *b) {
  ds_index_info *info = &b->info;
  ds_gc_info *gc = ds_heap_gc_info(b->heap);
  info->object_count = b->n;
  info->edge_count = b->edge_total;
  info->type_count = b->type_total;
  info->root_count = b->iroot_count;
  info->heap_bytes = b->walk.bytes;
  info->free_bytes = b->walk.free_bytes;
  info->server_gc = gc->server;
  info->regions = gc->regions;
  info->heap_count = gc->heap_count;
  info->gc_structures_valid = gc->structures_valid;
  info->free_mt = gc->free_mt;
  info->string_mt = gc->string_mt;
  info->free_type = info->string_type = UINT32_MAX;
  for (size_t t = 0; t < b->type_total; t++) {
    if (b->types[t].mt == gc->free_mt)
      info->free_type = (uint32_t)t;
    if (b->types[t].mt == gc->string_mt)
      info->string_type = (uint32_t)t;
  }
  info->runtime_version = ds_strpool_add(&b->pool, b->a->runtime.version);
  info->dump_path = ds_strpool_add(&b->pool, ds_dump_path(b->a->dump));
  info->dump_size = ds_dump_file_size(b->a->dump);
  info->dump_identity = ds_dump_identity(b->a->dump);
  info->heap_error_count = (uint32_t)b->walk.error_count;
  /* what every answer from this index must carry: heap damage first, then partial root phases */
  char warnings[2048] = "";
  if (b->walk.error_count && b->walk.errors)
    snprintf(warnings, sizeof warnings, "the heap is damaged: %zu error(s) while indexing, so counts and paths may be "
             "incomplete (first: %s)%s%s", b->walk.error_count, b->walk.errors[0].message,
             b->roots->warnings[0] ? "; " : "", b->roots->warnings);
  else
    snprintf(warnings, sizeof warnings, "%s", b->roots->warnings);
  info->warnings = ds_strpool_add(&b->pool, warnings);
  info->build_ms = (uint64_t)(ds__now_ms() - b->t0);
}

ds_status ds__build_write(ds__build *b, ds_error *err) {
  fill_info(b);
  if (!b->pool.data)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for strings");
  double t_write = ds__now_ms();
  ds_status rc = ds__write_behind_drain(b, err); /* the table needs every section written */
  if (rc != DS_OK)
    return rc;
  const ds_root_set *roots = b->roots;
  struct { ds_section_id id; const void *data; uint64_t size; } secs[] = {
      {DS_SEC_INFO, &b->info, sizeof b->info},
      {DS_SEC_TYPES, b->types, b->type_total * sizeof *b->types},
      {DS_SEC_FIELDS, b->fields.items, b->fields.count * sizeof *b->fields.items},
      {DS_SEC_STRINGS, b->pool.data, b->pool.len},
      {DS_SEC_SEGMENTS, b->segs, b->seg_count * sizeof *b->segs},
      {DS_SEC_ROOTS, b->iroots, b->iroot_count * sizeof *b->iroots},
      {DS_SEC_THREADS, b->ithreads, roots->thread_count * sizeof *b->ithreads},
      {DS_SEC_FRAMES, b->iframes, roots->frame_count * sizeof *b->iframes},
      {DS_SEC_FINALIZABLE, b->finalizable, b->finalizable_count * 4},
      {DS_SEC_LIVE, b->live, (b->n + 63) / 64 * 8},
      {DS_SEC_GEN_HIST, b->hist, b->hist_count * sizeof *b->hist},
      {DS_SEC_EXTRA_EDGES, b->extra_out, b->extras.count * sizeof *b->extra_out},
      {DS_SEC_FREE, b->free_blocks.items, b->free_blocks.count * 4},
  };
  for (size_t s = 0; s < sizeof secs / sizeof *secs; s++)
    if ((rc = ds_index_writer_add(b->w, secs[s].id, secs[s].data ? secs[s].data : "", secs[s].size, err)) != DS_OK)
      return rc;
  if ((rc = ds_index_writer_finish(b->w, err)) != DS_OK)
    return rc;
  b->stats->write_ms += ds__now_ms() - t_write;
  return DS_OK;
}

