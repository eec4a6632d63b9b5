/*
 * test_dominators.c: the dominator tree and retained sizes (dominators.h) against a brute-force
 * computation straight from the definition, on thousands of random small graphs (cycles, self
 * references, several roots, unreachable parts, long chains) and on real fixture dumps:
 *   - d dominates v exactly when v becomes unreachable once d is removed;
 *   - the retained size of d is the total size of the objects that become unreachable when d is
 *     removed (d included);
 *   - a type's retained size is the total size of the objects having an instance of that type
 *     among their dominators (themselves included).
 * On the fixtures the brute force runs for a sample of objects (markers, the top dominators,
 * evenly spaced objects) against the retained sizes the index stores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/dominators.h"
#include "dumpscope/query.h"
#include "fixture.h"

/* ---- brute force on a CSR graph ---------------------------------------------------------------- */

/* Marks what is reachable from the roots when object `removed` (or none: SIZE_MAX) is gone. */
static void reach(const ds_dom_graph *g, size_t removed, uint8_t *seen, uint32_t *stack) {
  memset(seen, 0, g->n);
  size_t top = 0;
  for (size_t r = 0; r < g->n; r++)
    if ((g->root_bits[r >> 6] >> (r & 63) & 1) && r != removed && !seen[r]) {
      seen[r] = 1;
      stack[top++] = (uint32_t)r;
      while (top) {
        uint32_t o = stack[--top];
        for (uint32_t e = g->out_off[o]; e < g->out_off[o + 1]; e++) {
          uint32_t t = g->out_edge[e];
          if (t != removed && !seen[t]) {
            seen[t] = 1;
            stack[top++] = t;
          }
        }
      }
    }
}

/* Bytes that become unreachable when d is removed (d included); 0 for an unreachable d. */
static uint64_t brute_retained(const ds_dom_graph *g, size_t d, const uint8_t *base, uint8_t *seen, uint32_t *stack) {
  if (!base[d])
    return 0;
  reach(g, d, seen, stack);
  uint64_t bytes = 0;
  for (size_t o = 0; o < g->n; o++)
    if (base[o] && !seen[o])
      bytes += g->size[o];
  return bytes;
}

/* ---- random graphs ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t bound) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % bound);
}

typedef struct graph {
  ds_dom_graph g;
  uint32_t out_off[65], out_edge[512], in_off[65], in_edge[512], type[64];
  uint64_t root_bits[1], size[64];
} graph;

/* A random graph of n <= 64 objects: a mix of chains, back edges, random edges and containers. */
static void random_graph(graph *x, size_t n) {
  memset(x, 0, sizeof *x);
  uint32_t from[512], to[512];
  size_t edges = 0, wanted = rnd((uint32_t)(n * 3)) + 1;
  for (size_t i = 0; i + 1 < n && edges < 512 && rnd(3) == 0; i++) /* sometimes a chain */
    from[edges] = (uint32_t)i, to[edges++] = (uint32_t)i + 1;
  while (edges < wanted && edges < 512)
    from[edges] = rnd((uint32_t)n), to[edges++] = rnd((uint32_t)n);
  x->root_bits[0] = 0;
  for (unsigned r = rnd(3) + 1; r; r--)
    x->root_bits[0] |= 1ull << rnd((uint32_t)n);
  if (rnd(3) == 0) { /* sometimes a container: a root that refers to most objects */
    x->root_bits[0] |= 1;
    for (size_t i = 1; i < n && edges < 512; i++)
      if (rnd(4))
        from[edges] = 0, to[edges++] = (uint32_t)i;
  }
  for (size_t e = 0; e < edges; e++)
    x->out_off[from[e] + 1]++, x->in_off[to[e] + 1]++;
  for (size_t i = 0; i < n; i++)
    x->out_off[i + 1] += x->out_off[i], x->in_off[i + 1] += x->in_off[i];
  uint32_t fo[65], fi[65];
  memcpy(fo, x->out_off, sizeof fo);
  memcpy(fi, x->in_off, sizeof fi);
  for (size_t e = 0; e < edges; e++) {
    x->out_edge[fo[from[e]]++] = to[e];
    x->in_edge[fi[to[e]]++] = from[e];
  }
  for (size_t i = 0; i < n; i++)
    x->size[i] = 24 + 8 * rnd(20), x->type[i] = rnd(4);
  x->g = (ds_dom_graph){.n = n, .out_off = x->out_off, .out_edge = x->out_edge, .in_off = x->in_off,
                        .in_edge = x->in_edge, .root_bits = x->root_bits, .size = x->size, .type = x->type,
                        .type_count = 4};
}

/* What the search tells its caller (dominators.h: done): each step once, in order, and at
 * DS_DOM_DONE_OBJECTS results by object that are already the final ones. */
typedef struct told {
  const ds_dom_result *r;
  size_t n;                  /* objects: at most 64 */
  int order[4], count;
  uint32_t idom[64];
  uint64_t retained[64], reachable, reachable_bytes;
  bool had_idom;
} told;

static void on_done(void *ctx, int which) {
  told *t = ctx;
  if (t->count < 4)
    t->order[t->count] = which;
  t->count++;
  if (which != DS_DOM_DONE_OBJECTS)
    return;
  t->had_idom = t->r->idom != NULL;
  for (size_t v = 0; v < t->n && t->had_idom; v++)
    t->idom[v] = t->r->idom[v], t->retained[v] = t->r->retained[v];
  t->reachable = t->r->reachable, t->reachable_bytes = t->r->reachable_bytes;
}

static void check_told(const told *t, const ds_dom_result *r, size_t n) {
  CU_ASSERT_EQUAL(t->count, 4);
  CU_ASSERT(t->order[0] == DS_DOM_DONE_DEGREES && t->order[1] == DS_DOM_DONE_OUT && t->order[2] == DS_DOM_DONE_IN &&
            t->order[3] == DS_DOM_DONE_OBJECTS);
  CU_ASSERT_FATAL(t->had_idom);
  CU_ASSERT(memcmp(t->idom, r->idom, n * sizeof *r->idom) == 0);
  CU_ASSERT(memcmp(t->retained, r->retained, n * sizeof *r->retained) == 0);
  CU_ASSERT_EQUAL(t->reachable, r->reachable);
  CU_ASSERT_EQUAL(t->reachable_bytes, r->reachable_bytes);
}

static void check_graph(const graph *x) {
  ds_dom_graph with_done = x->g;
  const ds_dom_graph *g = &with_done;
  size_t n = g->n;
  ds_dom_result r;
  ds_error err = {0};
  told said = {.r = &r, .n = n};
  with_done.done = on_done, with_done.done_ctx = &said;
  CU_ASSERT_EQUAL_FATAL(ds_dominators(g, &r, &err), DS_OK);
  check_told(&said, &r, n);
  uint8_t base[64], seen[64], dominated[64][64];
  uint32_t stack[512];
  reach(g, SIZE_MAX, base, stack);
  uint64_t reachable = 0;
  /* dominated[d][v]: v unreachable without d */
  for (size_t d = 0; d < n; d++) {
    reach(g, d, seen, stack);
    for (size_t v = 0; v < n; v++)
      dominated[d][v] = base[v] && base[d] && (!seen[v]);
    reachable += base[d];
    CU_ASSERT_EQUAL(r.retained[d], brute_retained(g, d, base, seen, stack));
  }
  CU_ASSERT_EQUAL(r.reachable, reachable);
  for (size_t v = 0; v < n; v++) {
    /* the immediate dominator: the strict dominator that every other strict dominator dominates */
    uint32_t want = UINT32_MAX;
    for (size_t d = 0; d < n; d++) {
      if (d == v || !dominated[d][v])
        continue;
      bool nearest = true;
      for (size_t e = 0; e < n; e++)
        if (e != v && e != d && dominated[e][v] && !dominated[e][d])
          nearest = false;
      if (nearest)
        want = (uint32_t)d;
    }
    if (r.idom[v] != want)
      fprintf(stderr, "graph of %zu objects: idom(%zu) = %u, brute force says %u\n", n, v, r.idom[v], want);
    CU_ASSERT_EQUAL(r.idom[v], want);
  }
  for (uint32_t t = 0; t < g->type_count; t++) {
    uint64_t want = 0;
    for (size_t v = 0; v < n; v++) {
      bool under = false;
      for (size_t d = 0; d < n && !under; d++)
        under = g->type[d] == t && (d == v ? base[v] : dominated[d][v]);
      want += under ? g->size[v] : 0;
    }
    CU_ASSERT_EQUAL(r.type_retained[t], want);
  }
  ds_dom_result_free(&r);
}

static void test_random_graphs_match_brute_force(void) {
  graph *x = malloc(sizeof *x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  for (int k = 0; k < 3000; k++) {
    random_graph(x, 1 + rnd(64));
    check_graph(x);
  }
  /* a chain far deeper than any recursion could go, with every node also reachable from a hub */
  size_t n = 2000000;
  ds_dom_graph g = {.n = n};
  uint32_t *out_off = calloc(n + 1, 4), *out_edge = malloc(2 * n * 4), *in_off = calloc(n + 1, 4),
           *in_edge = malloc(2 * n * 4);
  uint64_t *bits = calloc(n / 64 + 1, 8), *size = malloc(n * 8);
  CU_ASSERT_FATAL(out_off && out_edge && in_off && in_edge && bits && size);
  bits[0] = 1; /* object 0 is the only root: 0 -> 1 -> 2 -> ... -> n-1 */
  size_t e = 0;
  for (size_t i = 0; i < n; i++) {
    out_off[i] = (uint32_t)e;
    if (i + 1 < n)
      out_edge[e++] = (uint32_t)i + 1;
    size[i] = 32;
  }
  out_off[n] = (uint32_t)e;
  for (size_t i = 0; i <= n; i++)
    in_off[i] = i == 0 ? 0 : (uint32_t)(i - 1);
  for (size_t i = 1; i < n; i++)
    in_edge[i - 1] = (uint32_t)i - 1;
  g.out_off = out_off, g.out_edge = out_edge, g.in_off = in_off, g.in_edge = in_edge, g.root_bits = bits, g.size = size;
  ds_dom_result r;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_dominators(&g, &r, &err), DS_OK);
  CU_ASSERT_EQUAL(r.retained[0], 32ull * n);
  CU_ASSERT_EQUAL(r.retained[n / 2], 32ull * (n - n / 2));
  CU_ASSERT_EQUAL(r.idom[n - 1], n - 2);
  CU_ASSERT_EQUAL(r.idom[0], UINT32_MAX);
  ds_dom_result_free(&r);
  free(out_off), free(out_edge), free(in_off), free(in_edge), free(bits), free(size);
  free(x);
}

/* A container (object 0, a root) holds the nodes c_0 .. c_{k-1} (objects 1 .. k), chained
 * c_i -> c_i+1, each with a tail t_i (objects k+1 .. 2k). A second root (object 2k+1) holds
 * t_3, and t_3 refers to c_g: every node from c_g on, and its tail, is then reachable without
 * the container, so only the virtual root dominates them. The depth-first search numbers the
 * tails backwards, so over a million of them wait in the semidominator step's minima (and are
 * folded) before the nodes come, and the one low semidominator among them (t_3's) is what keeps
 * c_g from taking the container for its own: the evals the container would let it skip. */
/* The build's early start (dominators.h: degree_off, wait_in, reached): until wait_in the
 * incoming references hold something else (here every object seems to have one referrer, object
 * 0), as the build's do while it fills them in; the in-degrees come from degree_off. The results
 * must be those of a search over the finished arrays, the live bits the objects a root reaches. */
typedef struct early {
  const graph *x;
  uint32_t in_off[65], in_edge[512];
  int waits, degrees_told_first;
  told said;
} early;

static void early_wait_in(void *ctx) {
  early *e = ctx;
  e->waits++;
  e->degrees_told_first = e->said.count >= 1 && e->said.order[0] == DS_DOM_DONE_DEGREES;
  memcpy(e->in_off, e->x->in_off, sizeof e->in_off);
  memcpy(e->in_edge, e->x->in_edge, sizeof e->in_edge);
}

static void early_done(void *ctx, int which) { on_done(&((early *)ctx)->said, which); }

static void test_search_before_incoming_is_filled(void) {
  graph *x = malloc(sizeof *x);
  early *e = malloc(sizeof *e);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  for (int k = 0; k < 2000; k++) {
    random_graph(x, 1 + rnd(64));
    size_t n = x->g.n;
    ds_dom_result want, got;
    ds_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ds_dominators(&x->g, &want, &err), DS_OK);
    memset(e, 0, sizeof *e);
    e->x = x;
    for (size_t i = 0; i <= n; i++)
      e->in_off[i] = (uint32_t)i; /* not yet filled in */
    uint32_t degree_off[66]; /* as the build's in_off + 1 before the fill: o's start at [o] */
    memcpy(degree_off, x->in_off, (n + 1) * sizeof *degree_off);
    uint64_t reached[2] = {0, 0};
    ds_dom_graph g = x->g;
    g.in_off = e->in_off, g.in_edge = e->in_edge, g.degree_off = degree_off, g.wait_in = early_wait_in;
    g.done = early_done, g.done_ctx = e, g.reached = reached;
    e->said.r = &got, e->said.n = n;
    CU_ASSERT_EQUAL_FATAL(ds_dominators(&g, &got, &err), DS_OK);
    CU_ASSERT_EQUAL(e->waits, 1);
    CU_ASSERT(e->degrees_told_first);
    check_told(&e->said, &got, n);
    CU_ASSERT(memcmp(want.idom, got.idom, n * sizeof *got.idom) == 0);
    CU_ASSERT(memcmp(want.retained, got.retained, n * sizeof *got.retained) == 0);
    CU_ASSERT(memcmp(want.type_retained, got.type_retained, 4 * sizeof *got.type_retained) == 0);
    uint8_t base[64];
    uint32_t stack[512];
    reach(&x->g, SIZE_MAX, base, stack);
    for (size_t v = 0; v < n; v++)
      CU_ASSERT_EQUAL(reached[0] >> v & 1, base[v]);
    ds_dom_result_free(&want);
    ds_dom_result_free(&got);
  }
  free(e);
  free(x);
}

static void test_container_entered_from_a_second_root(void) {
  size_t k = 1200000, g_at = k / 2, n = 2 * k + 2, root2 = 2 * k + 1;
  uint32_t *out_off = calloc(n + 1, 4), *out_edge = malloc(4 * n * 4), *in_off = calloc(n + 1, 4),
           *in_edge = malloc(4 * n * 4), *fill = malloc(n * 4);
  uint64_t *bits = calloc(n / 64 + 1, 8), *size = malloc(n * 8);
  CU_ASSERT_FATAL(out_off && out_edge && in_off && in_edge && fill && bits && size);
  size_t e = 0;
  for (size_t o = 0; o < n; o++) {
    out_off[o] = (uint32_t)e;
    size[o] = 24;
    if (o == 0) {
      for (size_t i = 0; i < k; i++)
        out_edge[e++] = (uint32_t)(1 + i);
    } else if (o <= k) {
      if (o < k)
        out_edge[e++] = (uint32_t)(o + 1);
      out_edge[e++] = (uint32_t)(o + k);
    } else if (o == k + 1 + 3) {
      out_edge[e++] = (uint32_t)(1 + g_at);
    } else if (o == root2) {
      out_edge[e++] = (uint32_t)(k + 1 + 3);
    }
  }
  out_off[n] = (uint32_t)e;
  for (size_t x = 0; x < e; x++)
    in_off[out_edge[x] + 1]++;
  for (size_t o = 0; o < n; o++)
    in_off[o + 1] += in_off[o], fill[o] = in_off[o];
  for (size_t o = 0; o < n; o++)
    for (uint32_t x = out_off[o]; x < out_off[o + 1]; x++)
      in_edge[fill[out_edge[x]]++] = (uint32_t)o;
  bits[0] = 1, bits[root2 >> 6] |= 1ull << (root2 & 63);
  ds_dom_graph g = {.n = n, .out_off = out_off, .out_edge = out_edge, .in_off = in_off, .in_edge = in_edge,
                    .root_bits = bits, .size = size};
  ds_dom_result r;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_dominators(&g, &r, &err), DS_OK);
  size_t wrong = 0;
  for (size_t i = 0; i < k; i++) {
    uint32_t node = (uint32_t)(1 + i), tail = (uint32_t)(k + 1 + i);
    wrong += r.idom[node] != (i < g_at ? 0 : UINT32_MAX);
    wrong += r.idom[tail] != (i == 3 ? UINT32_MAX : node);
  }
  if (wrong)
    fprintf(stderr, "container entered from a second root: %zu wrong immediate dominators (c_g's is %u)\n", wrong,
            r.idom[1 + g_at]);
  CU_ASSERT_EQUAL(wrong, 0);
  CU_ASSERT_EQUAL(r.retained[0], 24ull * (1 + 2 * g_at - 1)); /* itself, c_0 .. c_g-1 and their tails but t_3 */
  ds_dom_result_free(&r);
  free(out_off), free(out_edge), free(in_off), free(in_edge), free(fill), free(bits), free(size);
}

/* ---- real dumps ------------------------------------------------------------------------------------ */

static const void *section(ds_index *idx, ds_section_id id, uint64_t *count, size_t elem) {
  uint64_t size = 0;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_index_require(idx, id, &err), DS_OK);
  const void *data = ds_index_section(idx, id, &size);
  *count = size / elem;
  return data;
}

static json_int_t truth_int(json_t *o, const char *a, const char *b) {
  return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static void check_fixture(ds_fixture *fx) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.dom.dsindex", ds_test_tmpdir(), fx->name);
  ds_query *q = ds_test_index_open(fx->name, fx->dump, NULL, path);
  ds_error err = {0};
  ds_index *idx = ds_query_index(q);
  size_t n = ds_index_object_count(idx);
  uint64_t c;
  const uint32_t *size32 = section(idx, DS_SEC_OBJ_SIZE, &c, 4);
  const ds_index_root *roots = section(idx, DS_SEC_ROOTS, &c, sizeof *roots);
  uint64_t root_count = c;
  ds_dom_graph g = {.n = n};
  g.out_off = section(idx, DS_SEC_OUT_OFF, &c, 4);
  g.out_edge = section(idx, DS_SEC_OUT_EDGE, &c, 4);
  g.in_off = section(idx, DS_SEC_IN_OFF, &c, 4);
  g.in_edge = section(idx, DS_SEC_IN_EDGE, &c, 4);
  const uint64_t *retained = section(idx, DS_SEC_RETAINED, &c, 8);
  CU_ASSERT_EQUAL_FATAL(c, n);
  uint64_t *bits = calloc(n / 64 + 1, 8), *size = malloc(n * 8);
  uint8_t *base = malloc(n), *seen = malloc(n);
  uint32_t *stack = malloc(n * 4 + 4);
  CU_ASSERT_FATAL(bits && size && base && seen && stack);
  /* the GC's own roots: a static-field root names a slot of a statics array a handle already
   * roots, and the dominator tree keeps that array above the statics (suspects.c relies on it) */
  for (uint64_t r = 0; r < root_count; r++)
    if (roots[r].is_root && roots[r].kind != DS_ROOT_STATIC_FIELD && roots[r].object < n)
      bits[roots[r].object >> 6] |= 1ull << (roots[r].object & 63);
  for (size_t o = 0; o < n; o++)
    size[o] = size32[o];
  g.root_bits = bits, g.size = size;
  reach(&g, SIZE_MAX, base, stack);
  /* the sample: every marker, the top of the tree and its largest children, spaced objects */
  uint32_t sample[256];
  size_t samples = 0;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(fx->truth, "markers"), i, m) {
    uint64_t addr;
    if (samples < 64 && ds_test_hex(json_string_value(json_object_get(m, "address")), &addr) &&
        ds_query_find(q, addr, false) != UINT32_MAX)
      sample[samples++] = ds_query_find(q, addr, false);
  }
  json_t *top = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_dominators(q, 0, false, 20, &top, &err), DS_OK);
  json_t *o;
  json_array_foreach(json_object_get(top, "objects"), i, o) {
    uint64_t addr;
    ds_test_hex(json_string_value(json_object_get(o, "address")), &addr);
    sample[samples++] = ds_query_find(q, addr, false);
  }
  json_t *under = NULL;
  uint64_t first = 0;
  ds_test_hex(json_string_value(json_object_get(json_array_get(json_object_get(top, "objects"), 0), "address")), &first);
  CU_ASSERT_EQUAL_FATAL(ds_query_dominators(q, first, false, 20, &under, &err), DS_OK);
  json_array_foreach(json_object_get(under, "objects"), i, o) {
    uint64_t addr;
    ds_test_hex(json_string_value(json_object_get(o, "address")), &addr);
    sample[samples++] = ds_query_find(q, addr, false);
  }
  for (size_t k = 0; k < 100 && samples < 256; k++)
    sample[samples++] = (uint32_t)((n - 1) * k / 99);
  for (size_t k = 0; k < samples; k++) {
    uint32_t x = sample[k];
    uint64_t want = brute_retained(&g, x, base, seen, stack);
    if (retained[x] != want)
      fprintf(stderr, "%s: object %u retains %llu bytes, brute force says %llu\n", fx->name, x,
              (unsigned long long)retained[x], (unsigned long long)want);
    CU_ASSERT_EQUAL(retained[x], want);
  }
  /* the leak: the List<Invoice> retains its array, the invoices, their customers and numbers */
  json_t *types = json_object_get(fx->truth, "types");
  if (json_object_get(types, "Scenarios.Invoice")) {
    json_t *numbers = NULL, *s;
    json_array_foreach(json_object_get(fx->truth, "strings"), i, s)
      if (strcmp(json_string_value(json_object_get(s, "name")), "invoice.first.number") == 0)
        numbers = s;
    json_int_t invoices = truth_int(types, "Scenarios.Invoice", "count");
    json_int_t want = truth_int(types, "Scenarios.Invoice", "total_size") + truth_int(types, "Scenarios.Customer", "total_size") +
                      invoices * json_integer_value(json_object_get(numbers, "size"));
    json_t *by_type = NULL;
    CU_ASSERT_EQUAL_FATAL(ds_query_dominators(q, 0, true, 10000, &by_type, &err), DS_OK);
    json_t *t;
    bool found = false;
    json_array_foreach(json_object_get(by_type, "types"), i, t)
      if (strcmp(json_string_value(json_object_get(t, "type")), "Scenarios.Invoice") == 0) {
        found = true;
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(t, "retained_size")), want);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(t, "count")), invoices);
      } else if (strcmp(json_string_value(json_object_get(t, "type")), "Scenarios.Customer") == 0) {
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(t, "retained_size")), truth_int(types, "Scenarios.Customer", "total_size"));
      }
    CU_ASSERT(found);
    json_decref(by_type);
    /* and the list object itself, through the object resource */
    json_array_foreach(json_object_get(fx->truth, "markers"), i, m)
      if (strcmp(json_string_value(json_object_get(m, "name")), "invoice.list") == 0) {
        uint64_t addr;
        ds_test_hex(json_string_value(json_object_get(m, "address")), &addr);
        json_t *obj = NULL;
        CU_ASSERT_EQUAL_FATAL(ds_query_object(q, addr, 0, 1, &obj, &err), DS_OK);
        json_int_t items = 0;
        json_t *arrays = json_object_get(types, "Scenarios.Invoice[]");
        items = json_integer_value(json_object_get(arrays, "total_size")) - 24; /* less List<Invoice>.s_emptyArray */
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(obj, "retained_size")),
                        want + items + json_integer_value(json_object_get(m, "size")));
        json_decref(obj);
      }
  }
  json_decref(top);
  json_decref(under);
  free(bits), free(size), free(base), free(seen), free(stack);
  ds_query_close(q);
  unlink(path);
}

static void test_fixtures_match_brute_force(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx), checked = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].process, "big") != 0 && strcmp(fx[i].kind, "heap") == 0) {
      check_fixture(&fx[i]);
      checked++;
    }
  CU_ASSERT(checked >= 5);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("dominators", NULL, NULL);
  CU_add_test(s, "random graphs: dominators and retained sizes equal the brute force", test_random_graphs_match_brute_force);
  CU_add_test(s, "a search started before the incoming references are filled in: the same results, the live bits",
              test_search_before_incoming_is_filled);
  CU_add_test(s, "a container entered from a second root: its nodes are not its to dominate",
              test_container_entered_from_a_second_root);
  CU_add_test(s, "fixture dumps: retained sizes in the index equal the brute force", test_fixtures_match_brute_force);
  return ds_test_main();
}
