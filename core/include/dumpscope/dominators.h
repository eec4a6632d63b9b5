/*
 * dominators.h: the dominator tree of the object graph and the retained sizes it gives.
 *
 * Object d dominates object v when every path from a root to v goes through d; v's immediate
 * dominator is its closest strict dominator. The retained size of d is the total size of the
 * objects it dominates, itself included: what the heap would lose if d were gone (Eclipse MAT's
 * and dotMemory's "retained size"). A type's retained size is the total size of the objects
 * dominated by at least one of its instances (the union of their dominator subtrees; objects kept
 * alive only jointly by several instances are not in it, so it is a lower bound of what removing
 * every instance would free).
 *
 * Computed with the Semi-NCA algorithm (Lengauer-Tarjan's semidominators, then the immediate
 * dominator as the nearest common ancestor of the semidominator and the DFS parent), every step
 * iterative: the depth-first search keeps its path in the parent array and an edge cursor per
 * vertex, and path compression uses an explicit stack. O(E log V) time; 24 bytes per object of
 * working memory besides the 12 bytes per object of the results.
 */
#ifndef DUMPSCOPE_DOMINATORS_H
#define DUMPSCOPE_DOMINATORS_H

#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

/* The object graph: n objects, outgoing and incoming references as compressed sparse rows
 * (offsets n + 1, targets and sources as object indices), which objects are roots (a bit each),
 * and each object's size and type. */
typedef struct ds_dom_graph {
  size_t n;
  const uint32_t *out_off, *out_edge;
  const uint32_t *in_off, *in_edge;
  const uint64_t *root_bits;
  const uint64_t *size;      /* may be NULL: then size32, where UINT32_MAX means big_size(done_ctx, o) */
  const uint32_t *size32;
  uint64_t (*big_size)(void *ctx, size_t o);
  const uint32_t *type;      /* may be NULL: no per-type sizes */
  size_t type_count;
  /* may be NULL: told when the outgoing (DS_DOM_DONE_OUT) and the incoming (DS_DOM_DONE_IN)
   * references will not be read again, so their memory can be given back, and when the result's
   * idom, retained, reachable and reachable_bytes are final (DS_DOM_DONE_OBJECTS: from then on the
   * search cannot fail, and only the per-type sizes are still to come, so another thread can read
   * those four meanwhile) */
  void (*done)(void *ctx, int which);
  void *done_ctx;
  /* may be NULL (calloc and free): where the working arrays (5 x 4 bytes per object) live; both
   * get done_ctx */
  void *(*alloc)(void *ctx, size_t bytes);
  void (*release)(void *ctx, void *p);
  /* may be NULL, for a search that starts while the incoming references are still being filled
   * in: degree_off gives the in-degrees until then (degree_off[o + 1] - degree_off[o]; NULL: from
   * in_off), and the search calls wait_in(done_ctx) before it first reads in_off or in_edge. It
   * tells DS_DOM_DONE_DEGREES once it will not read degree_off again. */
  const uint32_t *degree_off;
  void (*wait_in)(void *ctx);
  /* may be NULL: n + 1 zeroed sizes from malloc that become the result's retained sizes (its to
   * free from then on, also on failure), so the caller can fault their pages in while the search
   * runs on another thread */
  uint64_t *retained;
  /* may be NULL: (n + 63) / 64 zeroed words where the search sets the bit of every object it
   * reaches from the roots (the live objects), all of them before it calls done(DS_DOM_DONE_OUT),
   * so a caller on another thread can take liveness from there instead of a search of its own */
  uint64_t *reached;
} ds_dom_graph;

#define DS_DOM_STEPS 5
#define DS_DOM_DONE_OUT 1
#define DS_DOM_DONE_IN 2
#define DS_DOM_DONE_OBJECTS 3
#define DS_DOM_DONE_DEGREES 4

typedef struct ds_dom_result {
  uint32_t *idom;            /* n: the immediate dominator's index; UINT32_MAX for objects only the
                                roots dominate, and for unreachable ones */
  uint64_t *retained;        /* n: retained size; 0 for unreachable objects */
  uint64_t *type_retained;   /* type_count */
  uint64_t reachable;        /* objects reachable from a root */
  uint64_t reachable_bytes;  /* their total size: the retained size of all the roots */
  size_t work_bytes;         /* the most working memory the computation held at once */
  double ms;
  /* ms of each step: leaves and depth-first numbering, semidominators, immediate dominators,
   * retained sizes (with the immediate dominators by object), per-type sizes */
  double step_ms[DS_DOM_STEPS];
} ds_dom_result;

/* Computes the dominator tree, retained sizes and per-type retained sizes of g into *out (which
 * owns its arrays afterwards: ds_dom_result_free). DS_E_NOMEM when the arrays do not fit. */
ds_status ds_dominators(const ds_dom_graph *g, ds_dom_result *out, ds_error *err);
void ds_dom_result_free(ds_dom_result *r);

#endif
