/*
 * rootsearch.c: the reference phase of a root search (ds_index_build_root_search), the first
 * root path of an object before any index exists.
 *
 * The full build reads the references of every object and inverts them, then the dominator tree
 * and the findings follow: on a heap of 16 million objects that is most of the build, and a one-
 * off question ("what holds this object?") should not pay for it. A breadth-first search from
 * the roots over outgoing references reaches the target after expanding every object closer to
 * a root than the target is, and only those. Its graph (the expanded objects' references, every
 * other row empty) holds every shortest path from a root to the target, and every edge between
 * objects on such paths, so the backward search of the root-path query (core/query/graph.c)
 * finds the same rooted object and the same path over it as over the full graph: each object
 * it queues on the way to that path is first met from an object of a shortest path, in the same
 * order. The rest of the index is as the full build writes it, minus what the search does not
 * need (locks, dominators, findings): such an index answers root paths only, and is deleted once
 * it has answered.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzeint.h"

enum { BATCH = 256 };

typedef DS__VEC(uint32_t) u32_vec;

typedef struct search {
  ds__build *b;
  uint64_t *seen, *expanded;
  uint32_t *first, *count; /* per expanded object: its run of the job's targets */
  u32_vec level, next;
  uint32_t target;
  bool found;
  ds_status status;
} search;

static bool test_bit(const uint64_t *bits, uint32_t i) { return bits[i >> 6] >> (i & 63) & 1; }
static void set_bit(uint64_t *bits, uint32_t i) { bits[i >> 6] |= 1ull << (i & 63); }

/* Queues object t for the next level the first time it is met. */
static void meet(search *s, uint32_t t) {
  if (t >= s->b->n || test_bit(s->seen, t))
    return;
  set_bit(s->seen, t);
  s->found |= t == s->target;
  DS__VEC_PUSH(s->next, t, DS_MAX_OBJECTS, s->status);
}

/* The first dependent-handle edge from object o (b->extras is sorted by source). */
static size_t extras_from(const ds__build *b, uint32_t o) {
  size_t lo = 0, hi = b->extras.count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->extras.items[mid].from < o)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Expands one level: reads the references of its objects in batches, queues what they reach. */
static ds_status expand_level(search *s, ds__edge_job *job) {
  ds__build *b = s->b;
  for (size_t k0 = 0; k0 < s->level.count && s->status == DS_OK; k0 += BATCH) {
    size_t k1 = k0 + BATCH < s->level.count ? k0 + BATCH : s->level.count;
    size_t pos = job->targets.count;
    ds__edge_batch(job, s->level.items + k0, 0, k1 - k0, 0);
    if (job->status != DS_OK)
      return job->status;
    for (size_t k = k0; k < k1 && s->status == DS_OK; k++) {
      uint32_t o = s->level.items[k], c = job->counts[k - k0];
      set_bit(s->expanded, o);
      s->first[o] = (uint32_t)pos;
      s->count[o] = c;
      for (size_t e = pos; e < pos + c; e++)
        meet(s, job->targets.items[e]);
      pos += c;
      for (size_t x = extras_from(b, o); x < b->extras.count && b->extras.items[x].from == o; x++)
        meet(s, b->extras.items[x].to);
    }
  }
  return s->status;
}

/* The outgoing CSR of the searched graph: each expanded object's references, then its extra
 * edges, as the full build orders them; every other object's row is empty. */
static ds_status write_graph(search *s, ds__edge_job *job, ds_error *err) {
  ds__build *b = s->b;
  size_t n = b->n;
  uint64_t total = job->targets.count;
  for (size_t x = 0; x < b->extras.count; x++)
    total += b->extras.items[x].from < n && test_bit(s->expanded, b->extras.items[x].from);
  if (total > DS_MAX_REFERENCES)
    return ds_error_set(err, DS_E_LIMIT, "more than %llu references (DS_MAX_REFERENCES)",
                        (unsigned long long)DS_MAX_REFERENCES);
  if (!(b->out_off = ds__spill_alloc(b, (n + 1) * sizeof *b->out_off, err)) ||
      !(b->out_edge = ds__spill_alloc(b, (total ? total : 1) * sizeof *b->out_edge, err)))
    return err->code;
  uint32_t pos = 0;
  size_t x = 0;
  for (size_t i = 0; i < n; i++) {
    b->out_off[i] = pos;
    while (x < b->extras.count && b->extras.items[x].from < i)
      x++;
    if (!test_bit(s->expanded, (uint32_t)i))
      continue;
    if (s->count[i])
      memcpy(b->out_edge + pos, job->targets.items + s->first[i], s->count[i] * sizeof *b->out_edge);
    pos += s->count[i];
    for (; x < b->extras.count && b->extras.items[x].from == i; x++)
      b->out_edge[pos++] = b->extras.items[x].to;
  }
  b->out_off[n] = pos;
  b->edge_total = pos;
  ds_status rc;
  if ((rc = ds__write_mapped(b, DS_SEC_OUT_OFF, (void **)&b->out_off, (n + 1) * 4, err)) != DS_OK)
    return rc;
  if ((rc = ds__write_mapped(b, DS_SEC_OUT_EDGE, (void **)&b->out_edge, b->edge_total * 4, err)) != DS_OK) {
    b->out_off = NULL; /* mapped: the writer's to unmap */
    return rc;
  }
  b->mapped |= DS__MAPPED_OUT;
  return DS_OK;
}

static void search_free(search *s, ds__edge_job *job) {
  free(s->seen);
  free(s->expanded);
  free(s->first);
  free(s->count);
  free(s->level.items);
  free(s->next.items);
  ds__spill_free(s->b, job->targets.items);
  free(job->raw.items);
  free(job->counts);
  memset(job, 0, sizeof *job);
  ds__lookup_free(&s->b->lookup);
}

ds_status ds__build_root_search(ds__build *b, ds_error *err) {
  double t0 = ds__now_ms();
  size_t n = b->n, words = (n + 63) / 64 + 1;
  search s = {.b = b, .target = ds__find_exact(b->addr.items, n, b->search_target)};
  ds__edge_job *job = &b->jobs[0];
  memset(job, 0, sizeof *job);
  job->b = b, job->hi = n;
  s.seen = ds__big_calloc(words, sizeof *s.seen);
  s.expanded = calloc(words, sizeof *s.expanded);
  s.first = ds__big_calloc(n + 1, sizeof *s.first);
  s.count = ds__big_calloc(n + 1, sizeof *s.count);
  job->counts = calloc(BATCH, sizeof *job->counts);
  ds_status rc = DS_OK;
  if (!s.seen || !s.expanded || !s.first || !s.count || !job->counts ||
      !ds__lookup_build(&b->lookup, b->heap, b->addr.items, n)) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the root search of %zu objects", n);
    goto out;
  }
  if ((rc = ds__collect_dependent_edges(b, err)) != DS_OK)
    goto out;
  /* level 0: every root's object (what the root-path query counts as rooted); not an object:
   * nothing to search, the query says so */
  for (size_t r = 0; s.target != UINT32_MAX && r < b->iroot_count && s.status == DS_OK; r++)
    if (b->iroots[r].is_root)
      meet(&s, b->iroots[r].object);
  while (s.status == DS_OK && !s.found && s.next.count) {
    u32_vec t = s.level;
    s.level = s.next;
    s.next = t;
    s.next.count = 0;
    rc = expand_level(&s, job);
  }
  if (rc == DS_OK && s.status != DS_OK)
    rc = s.status;
  if (rc != DS_OK) {
    ds__vec_error(err, rc, "references", DS_MAX_REFERENCES, "DS_MAX_REFERENCES");
    goto out;
  }
  rc = write_graph(&s, job, err);
out:
  search_free(&s, job);
  b->stats->edges = b->edge_total;
  b->stats->edges_ms = ds__now_ms() - t0;
  return rc;
}
