/*
 * retained.c: phase 9 of the index build: the dominator tree of the object graph from the roots
 * and the retained sizes it gives (dominators.h), written as the immediate-dominator,
 * retained-size and per-type retained-size sections; and, for the findings phase, the leak
 * suspects read from them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzeint.h"

/* The reference arrays are read-only mappings of the index file by now (graph.c): once the
 * dominator search is done with them, their pages leave the resident set. */
static void done_with(void *ctx, int which) {
  const ds__build *b = ctx;
  if (which == DS_DOM_DONE_OUT && (b->mapped & DS__MAPPED_OUT))
    ds_index_writer_release(b->out_off, (b->n + 1) * 4), ds_index_writer_release(b->out_edge, b->edge_total * 4);
  if (which == DS_DOM_DONE_IN && (b->mapped & DS__MAPPED_IN))
    ds_index_writer_release(b->in_off, (b->n + 1) * 4), ds_index_writer_release(b->in_edge, b->edge_total * 4);
}

/* The search's working arrays: in temporary files under a memory budget (spill.c). */
static void *work_alloc(void *ctx, size_t bytes) {
  ds_error ignore = {0};
  return ds__spill_alloc(ctx, bytes, &ignore);
}

static void work_free(void *ctx, void *p) { ds__spill_free(ctx, p); }

ds_status ds__build_dominators(ds__build *b, ds_error *err) {
  size_t n = b->n;
  uint64_t *root_bits = calloc((n + 63) / 64 + 1, sizeof *root_bits);
  if (!root_bits)
    return ds_error_set(err, DS_E_NOMEM, "out of memory marking roots");
  for (size_t r = 0; r < b->roots->root_count; r++) {
    uint32_t o = b->iroots[r].object;
    if (b->iroots[r].is_root && o < n)
      root_bits[o >> 6] |= 1ull << (o & 63);
  }
  ds_dom_graph g = {.n = n, .out_off = b->out_off, .out_edge = b->out_edge, .in_off = b->in_off,
                    .in_edge = b->in_edge, .root_bits = root_bits, .size = b->size.items, .type = b->type.items,
                    .type_count = b->type_total, .done = done_with, .done_ctx = b,
                    .alloc = b->budget ? work_alloc : NULL, .release = work_free};
  ds_status rc = ds_dominators(&g, &b->dom, err);
  free(root_bits);
  if (rc != DS_OK)
    return rc;
  b->stats->dominators_ms = b->dom.ms;
  b->stats->dominators_bytes = b->dom.work_bytes + ((n + 63) / 64 + 1) * sizeof *root_bits;
  b->report.reachable_objects = b->dom.reachable;
  b->report.reachable_bytes = b->dom.reachable_bytes;
  b->report.dominators_ms = b->dom.ms;
  b->report.dominators_work_bytes = b->stats->dominators_bytes;
  double t_write = ds__now_ms();
  if ((rc = ds_index_writer_add(b->w, DS_SEC_IDOM, b->dom.idom, n * sizeof *b->dom.idom, err)) != DS_OK ||
      (rc = ds_index_writer_add(b->w, DS_SEC_RETAINED, b->dom.retained, n * sizeof *b->dom.retained, err)) != DS_OK ||
      (rc = ds_index_writer_add(b->w, DS_SEC_TYPE_RETAINED, b->dom.type_retained,
                                b->type_total * sizeof *b->dom.type_retained, err)) != DS_OK)
    return rc;
  b->stats->write_ms += ds__now_ms() - t_write;
  return DS_OK;
}
