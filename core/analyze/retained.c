/*
 * retained.c: phase 9 of the index build: the dominator tree of the object graph from the roots
 * and the retained sizes it gives (dominators.h), written as the immediate-dominator,
 * retained-size and per-type retained-size sections; and, for the findings phase, the leak
 * suspects read from them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzeint.h"

struct ds__dom_search {
  ds__side_thread side; /* the search, unless under a memory budget */
  bool ran;
  ds_dom_graph g;
  uint64_t *root_bits;
  ds_status rc;
  ds_error err;
  /* `objects` once b->dom's idom and retained sizes are final (the per-type sizes follow), `over`
   * once the search has returned, whether it got that far or not */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool objects, over;
  /* started from the reverse phase (early): `degrees` once the search has read the in-degrees,
   * after which the incoming references are filled in; `in_ready` once they are */
  bool early, degrees, in_ready;
  bool reached; /* g.reached (b->live) holds every live object's bit */
  ds_status write_rc; /* queuing the sections by object, from the search's thread */
  ds_error write_err;
};

static void tell(ds__dom_search *d, bool *flag) {
  pthread_mutex_lock(&d->lock);
  *flag = true;
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->lock);
}

/* The reference arrays are (or become, once written behind) read-only mappings of the index file
 * (graph.c): once the dominator search is done with them, their pages leave the resident set. */
static void release_section(ds__build *b, unsigned mapped, const void *data, uint64_t size) {
  if ((b->mapped & mapped) || ds__written_in_place(b, data))
    ds_index_writer_release(data, size);
}

static void done_with(void *ctx, int which) {
  ds__build *b = ctx;
  if (which == DS_DOM_DONE_OUT && b->dom_search->g.reached)
    tell(b->dom_search, &b->dom_search->reached); /* the live bits are all set */
  if (which == DS_DOM_DONE_OUT)
    release_section(b, DS__MAPPED_OUT, b->out_off, (b->n + 1) * 4), release_section(b, DS__MAPPED_OUT, b->out_edge, b->edge_total * 4);
  if (which == DS_DOM_DONE_IN)
    release_section(b, DS__MAPPED_IN, b->in_off, (b->n + 1) * 4), release_section(b, DS__MAPPED_IN, b->in_edge, b->edge_total * 4);
  if (which == DS_DOM_DONE_OBJECTS) {
    /* final: written behind while the search goes on to the per-type sizes, around the page
     * cache (the build reads its own arrays, never the file's) */
    ds__dom_search *d = b->dom_search;
    size_t n = b->n;
    if ((d->write_rc = ds__write_behind(b, DS_SEC_IDOM, b->dom.idom, n * sizeof *b->dom.idom, DS__WB_DIRECT,
                                        &d->write_err)) == DS_OK)
      d->write_rc = ds__write_behind(b, DS_SEC_RETAINED, b->dom.retained, n * sizeof *b->dom.retained,
                                     DS__WB_DIRECT, &d->write_err);
    tell(d, &d->objects);
  }
  if (which == DS_DOM_DONE_DEGREES) /* its working arrays are allocated: no array takes recycled pages after them */
    ds__recycled_release(b), tell(b->dom_search, &b->dom_search->degrees);
}

/* Waits until *flag is set or the search is over (it may have failed before setting it): the
 * flag's value then. */
static bool wait_for(ds__dom_search *d, const bool *flag) {
  pthread_mutex_lock(&d->lock);
  while (!*flag && !d->over)
    pthread_cond_wait(&d->cond, &d->lock);
  bool set = *flag;
  pthread_mutex_unlock(&d->lock);
  return set;
}

/* The search's wait_in: until the reverse phase has filled in the incoming references. */
static void wait_incoming(void *ctx) {
  ds__dom_search *d = ((ds__build *)ctx)->dom_search;
  pthread_mutex_lock(&d->lock);
  while (!d->in_ready)
    pthread_cond_wait(&d->cond, &d->lock);
  pthread_mutex_unlock(&d->lock);
}

/* The search's working arrays: in temporary files under a memory budget, else recycled pages
 * first (spill.c). */
static void *work_alloc(void *ctx, size_t bytes) {
  ds_error ignore = {0};
  return ds__work_alloc(ctx, bytes, &ignore);
}

static void work_free(void *ctx, void *p) { ds__spill_free(ctx, p); }

/* The search, then its sections, written behind from here (the leak suspects read them after the
 * join meanwhile): those by object as soon as they are final (done_with), before the per-type
 * sizes, so their writeback overlaps the rest of the search and the leak suspects. */
static void *dom_search(void *p) {
  ds__build *b = p;
  ds__dom_search *d = b->dom_search;
  d->ran = true; /* the result owns g.retained from here */
  b->stats->dominators_start_ms = ds__now_ms() - b->t0; /* read after the join */
  d->rc = ds_dominators(&d->g, &b->dom, &d->err);
  tell(d, &d->over);
  if (d->rc == DS_OK && d->write_rc != DS_OK)
    d->rc = d->write_rc, d->err = d->write_err;
  if (d->rc != DS_OK)
    return NULL;
  d->rc = ds__write_behind(b, DS_SEC_TYPE_RETAINED, b->dom.type_retained, b->type_total * sizeof *b->dom.type_retained,
                           0, &d->err);
  return NULL;
}

static uint64_t big_size_of(void *ctx, size_t o) { return ds__big_object_size(ctx, o); }

static ds_status start_search(ds__build *b, const uint32_t *degree_off, ds_error *err) {
  size_t n = b->n;
  ds__dom_search *d = b->dom_search = calloc(1, sizeof *b->dom_search);
  if (!d)
    return ds_error_set(err, DS_E_NOMEM, "out of memory marking roots");
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->cond, NULL);
  if (!(d->root_bits = calloc((n + 63) / 64 + 1, sizeof *d->root_bits)))
    return ds_error_set(err, DS_E_NOMEM, "out of memory marking roots");
  for (size_t r = 0; r < b->roots->root_count; r++) {
    uint32_t o = b->iroots[r].object;
    if (b->iroots[r].is_root && o < n)
      d->root_bits[o >> 6] |= 1ull << (o & 63);
  }
  d->g = (ds_dom_graph){.n = n, .out_off = b->out_off, .out_edge = b->out_edge, .in_off = b->in_off,
                        .in_edge = b->in_edge, .root_bits = d->root_bits, .size = b->size.items, .size32 = b->obj_size,
                        .big_size = big_size_of, .type = b->type.items,
                        .type_count = b->type_total, .done = done_with, .done_ctx = b,
                        .alloc = work_alloc, .release = work_free};
  /* under a memory budget the search allocates through the spill files, which only this thread
   * may touch, and it should not add to what the next phases hold: it runs in its own phase */
  if (!b->budget) {
    d->g.retained = ds__big_calloc(n + 1, sizeof *d->g.retained); /* NULL: the search allocates it */
    if (degree_off)
      d->early = true, d->g.degree_off = degree_off, d->g.wait_in = wait_incoming;
    /* the search reaches every live object: liveness (finish.c) takes its bits from there */
    if (!b->live && !(b->live = ds__big_calloc((n + 63) / 64 + 1, sizeof *b->live)))
      return ds_error_set(err, DS_E_NOMEM, "out of memory marking live objects");
    d->g.reached = b->live;
    if (!ds__side_start(&d->side, dom_search, b)) /* it runs in its phase, after the fill and liveness */
      d->early = false, d->g.degree_off = NULL, d->g.wait_in = NULL, d->g.reached = NULL;
    b->stats->dominators_beside = d->side.started;
  }
  return DS_OK;
}

bool ds__live_from_dominators(ds__build *b) {
  ds__dom_search *d = b->dom_search;
  if (!d || !d->side.started || !d->g.reached)
    return false;
  return wait_for(d, &d->reached); /* false: the search failed before it got there, and left the bits alone */
}

ds_status ds__start_dominators(ds__build *b, ds_error *err) {
  return b->dom_search ? DS_OK : start_search(b, NULL, err); /* else started early */
}

ds_status ds__start_dominators_early(ds__build *b, const uint32_t *degree_off, ds_error *err) {
  if (b->budget || b->search_target)
    return DS_OK; /* the search runs in its own phase; a root search's build has none */
  ds_status rc = start_search(b, degree_off, err);
  if (rc == DS_OK && b->dom_search->early)
    wait_for(b->dom_search, &b->dom_search->degrees);
  return rc;
}

bool ds__dominators_numbering(const ds__build *b) {
  return b->dom_search && b->dom_search->early && b->dom_search->side.started;
}

void ds__dominators_incoming_ready(ds__build *b) {
  if (b->dom_search)
    tell(b->dom_search, &b->dom_search->in_ready);
}

void ds__dom_search_free(ds__build *b) {
  ds__dom_search *d = b->dom_search;
  if (d) {
    tell(d, &d->in_ready); /* a build stopped between the early start and the fill: let it finish */
    ds__side_join(&d->side);
    if (!d->ran)
      free(d->g.retained); /* else the result's */
    free(d->root_bits);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
  }
  free(d);
  b->dom_search = NULL;
}

/* Phase "dominators": waits until the search's results by object are final (its per-type sizes
 * may still be running: the leak suspects' passes over the tree go on beside them, and
 * ds__join_dominators waits for the rest). */
ds_status ds__build_dominators(ds__build *b, ds_error *err) {
  size_t n = b->n;
  ds__dom_search *d = b->dom_search;
  if (!d)
    return ds_error_set(err, DS_E_ARG, "the dominator search was not started");
  if (!d->side.started) {
    dom_search(b);
    return ds__join_dominators(b, err);
  }
  /* this thread faults in the retained sizes' pages while it waits: the search need not fault
   * and zero them at its end */
  ds__fault_in(d->g.retained, (n + 1) * sizeof *d->g.retained);
  pthread_mutex_lock(&d->lock);
  while (!d->objects && !d->over)
    pthread_cond_wait(&d->cond, &d->lock);
  bool objects = d->objects;
  pthread_mutex_unlock(&d->lock);
  return objects ? DS_OK : ds__join_dominators(b, err); /* failed: its reason */
}

ds_status ds__join_dominators(ds__build *b, ds_error *err) {
  size_t n = b->n;
  ds__dom_search *d = b->dom_search;
  if (!d)
    return ds_error_set(err, DS_E_ARG, "the dominator search was not started");
  ds__side_join(&d->side);
  if (d->root_bits) {
    free(d->root_bits);
    d->root_bits = NULL;
    b->stats->dominators_ms = b->dom.ms;
    memcpy(b->stats->dominators_step_ms, b->dom.step_ms, sizeof b->dom.step_ms);
    b->stats->dominators_bytes = b->dom.work_bytes + ((n + 63) / 64 + 1) * sizeof(uint64_t);
    b->report.reachable_objects = b->dom.reachable;
    b->report.reachable_bytes = b->dom.reachable_bytes;
    b->report.dominators_ms = b->dom.ms;
    b->report.dominators_work_bytes = b->stats->dominators_bytes;
  }
  if (d->rc != DS_OK) {
    *err = d->err;
    return d->rc;
  }
  return DS_OK;
}
