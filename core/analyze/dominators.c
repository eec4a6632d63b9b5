/*
 * dominators.c: the dominator tree, retained sizes and per-type retained sizes (dominators.h),
 * by Semi-NCA (Georgiadis' thesis; the variant LLVM's GenericDomTreeConstruction.h uses).
 *
 * Vertices are numbered in depth-first preorder from a virtual root (number 1) whose successors
 * are the roots; objects the search does not reach are unreachable and get no number (0). All
 * per-vertex arrays are indexed by that number, which makes the inner loops sequential:
 *   vert[i]    the object numbered i
 *   link[i]    two words: PARENT, its DFS parent, path-compressed during the semidominator step
 *              (the ancestor links), and LEAST, the least semidominator on its compressed path
 *   semi[i]    its semidominator
 *   idom[i]    first the DFS edge cursor, then the DFS parent, then the immediate dominator
 * and num[object] gives the number, then becomes the immediate dominator by object.
 * Lengauer-Tarjan keeps the vertex of least semidominator on the path (its "label"); Semi-NCA
 * only ever reads that vertex's semidominator, so LEAST keeps the value itself, next to PARENT:
 * a step of eval's path touches one cache line instead of three (parent, label and semi of the
 * label), and eval is most of the time on a large heap.
 *
 * The semidominator, immediate-dominator and size passes visit vertices in (reverse) preorder,
 * because a vertex's dominators all precede it in preorder. Per-type sizes use the dominator
 * tree's own preorder, where each subtree is an interval: an instance counts unless it lies in
 * the interval of an earlier instance of its type. The hot loops are the DFS and eval.
 */
#include "dumpscope/dominators.h"

#include "analyzeint.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct dom_state {
  const ds_dom_graph *g;
  uint32_t *num, *vert, *link, *semi, *idom;
  uint32_t m;                /* vertices numbered: 1 (the virtual root) .. m - 1 */
  uint32_t top;              /* the leaves met by the search: slots top .. n + 1 (see LEAF) */
  uint32_t *stack;           /* eval's path, grows as needed */
  size_t stack_cap;
  uint32_t *mins;            /* pairs (vertex, semi): the suffix minima of semi (semidominators) */
  size_t mins_count, mins_cap;
} dom_state;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The ms since *since, which becomes now. */
static double lap(double *since) {
  double now = now_ms(), ms = now - *since;
  *since = now;
  return ms;
}

static bool is_root(const ds_dom_graph *g, size_t o) { return g->root_bits[o >> 6] >> (o & 63) & 1; }

/* The two words of link[] for vertex v. */
#define PARENT(s, v) ((s)->link[2 * (size_t)(v)])
#define LEAST(s, v) ((s)->link[2 * (size_t)(v) + 1])

/* Leaves: objects that refer to nothing, are no root and have one incoming reference (most
 * strings and arrays of numbers, a quarter of a large heap's reachable objects). That referrer
 * is their immediate dominator, and as they are on no path to anything they play no part in any
 * other vertex's semidominator. So the search does not number them: num[] marks them LEAF
 * beforehand, and when the search meets one from its referrer it takes a slot from the top of
 * the arrays (vert[] the object, idom[] the referrer's number). After the immediate dominators
 * the leaves move down to follow the numbered vertices, and the sizes take them in as any other
 * vertex. Unmet leaves are unreachable. */
#define LEAF UINT32_MAX

static void mark_leaves(dom_state *s) {
  const ds_dom_graph *g = s->g;
  const uint32_t *degree = g->degree_off ? g->degree_off : g->in_off;
  for (size_t o = 0; o < g->n; o++)
    if (g->out_off[o] == g->out_off[o + 1] && degree[o + 1] - degree[o] == 1 && !is_root(g, o))
      s->num[o] = LEAF;
}

/* Depth-first preorder numbering from every root. The current path is kept through PARENT
 * and each vertex's next edge in idom[] (the cursor), so the search needs no stack of its own
 * however deep the graph (a linked list of millions of nodes is one path). Hot loop. */
static void number_vertices(dom_state *s) {
  const ds_dom_graph *g = s->g;
  uint32_t next = 2, top = (uint32_t)(g->n + 2), *cursor = s->idom;
  for (size_t r = 0; r < g->n; r++) {
    if (!is_root(g, r) || s->num[r])
      continue;
    uint32_t cur = next++;
    s->num[r] = cur, s->vert[cur] = (uint32_t)r, PARENT(s, cur) = 1, cursor[cur] = g->out_off[r];
    while (cur != 1) {
      uint32_t o = s->vert[cur];
      if (cursor[cur] < g->out_off[o + 1]) {
        uint32_t t = g->out_edge[cursor[cur]++], v;
        if (t >= g->n)
          continue;
        if (!(v = s->num[t])) {
          v = next++;
          s->num[t] = v, s->vert[v] = t, PARENT(s, v) = cur, cursor[v] = g->out_off[t];
          cur = v;
        } else if (v == LEAF) {
          v = --top;
          s->num[t] = v, s->vert[v] = t, s->idom[v] = cur;
        }
      } else {
        cur = PARENT(s, cur);
        /* backtracking: an ancestor's remaining edges come next, its targets' numbers first */
        uint32_t p = cur;
        for (int k = 0; k < 4 && p > 1; k++)
          p = PARENT(s, p);
        if (p > 1 && cursor[p] < g->out_off[s->vert[p] + 1])
          __builtin_prefetch(&s->num[g->out_edge[cursor[p]]]);
      }
    }
  }
  s->m = next;
  s->top = top;
}

/* The objects the search reached: every numbered one, and every leaf it met (unmet leaves keep
 * LEAF). */
static void mark_reached(const dom_state *s) {
  size_t n = s->g->n;
  for (size_t o0 = 0; o0 < n; o0 += 64) {
    uint64_t word = 0;
    for (size_t o = o0; o < o0 + 64 && o < n; o++)
      word |= (uint64_t)(s->num[o] - 1u < LEAF - 1u) << (o - o0); /* neither 0 nor LEAF */
    s->g->reached[o0 >> 6] = word;
  }
}

/* The leaves' slots move down to follow the numbered vertices (m .. m + leaves - 1); num[] keeps
 * the old slots, which vertex_number() translates. */
static void gather_leaves(dom_state *s) {
  size_t leaves = s->g->n + 2 - s->top;
  memmove(s->vert + s->m, s->vert + s->top, leaves * sizeof *s->vert);
  memmove(s->idom + s->m, s->idom + s->top, leaves * sizeof *s->idom);
}

static uint32_t vertex_number(const dom_state *s, uint32_t m_searched, uint32_t w) {
  if (w == LEAF)
    return 0; /* its referrer was not reached */
  return w >= s->top ? w - s->top + m_searched : w;
}

/* The least semidominator on v's path of linked vertices (numbered >= last), with path
 * compression. Hot loop. */
static bool eval(dom_state *s, uint32_t v, uint32_t last, uint32_t *out) {
  if (PARENT(s, v) < last) {
    *out = LEAST(s, v);
    return true;
  }
  size_t top = 0;
  do {
    if (top == s->stack_cap) {
      size_t cap = s->stack_cap ? s->stack_cap * 2 : 1024;
      uint32_t *grown = realloc(s->stack, cap * sizeof *grown);
      if (!grown)
        return false;
      s->stack = grown, s->stack_cap = cap;
    }
    s->stack[top++] = v;
    v = PARENT(s, v);
  } while (PARENT(s, v) >= last);
  uint32_t p = v, x = v;
  do {
    x = s->stack[--top];
    PARENT(s, x) = PARENT(s, p);
    if (LEAST(s, p) < LEAST(s, x))
      LEAST(s, x) = LEAST(s, p);
    p = x;
  } while (top);
  *out = LEAST(s, x);
  return true;
}

/* Prefetches for the semidominator step, `ahead` vertices before w: each stage loads what the
 * previous one (further ahead) brought into the cache and fetches the next link of the chain
 * vert -> in_off -> in_edge -> num -> link, whose misses would otherwise come one after another. */
static inline void prefetch_semi(const dom_state *s, uint32_t w) {
  const ds_dom_graph *g = s->g;
  enum { A = 48, B = 32, C = 16, D = 8 };
  if (w > A + 1)
    __builtin_prefetch(&g->in_off[s->vert[w - A]]);
  if (w > B + 1)
    __builtin_prefetch(&g->in_edge[g->in_off[s->vert[w - B]]]);
  if (w > C + 1) {
    uint32_t o = s->vert[w - C];
    for (uint32_t e = g->in_off[o], k = 0; e < g->in_off[o + 1] && k < 4; e++, k++)
      if (g->in_edge[e] < g->n)
        __builtin_prefetch(&s->num[g->in_edge[e]]);
  }
  if (w > D + 1) {
    uint32_t o = s->vert[w - D];
    for (uint32_t e = g->in_off[o], k = 0; e < g->in_off[o + 1] && k < 4; e++, k++)
      if (g->in_edge[e] < g->n)
        __builtin_prefetch(&PARENT(s, s->num[g->in_edge[e]]));
  }
}

/* The least semidominator among the vertices w+1 .. last (all processed): mins holds the
 * processed vertices whose semidominator is below that of every vertex processed after them
 * (numbered between w and them), as pairs (vertex, semi), the vertices descending and the semis
 * ascending with the index. */
static uint32_t least_semi_upto(const dom_state *s, uint32_t last) {
  size_t lo = 0, hi = s->mins_count; /* the answer is the first pair whose vertex is at most last */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->mins[2 * mid] <= last)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo < s->mins_count ? s->mins[2 * lo + 1] : UINT32_MAX;
}

/* Adds w, processed just now. At most MINS_MAX pairs are kept: when full, the older half is
 * folded into one pair (the least vertex of the half, the least semi), which makes a query that
 * reaches into it answer a semidominator possibly lower than the true one (an eval not skipped)
 * but never higher. */
enum { MINS_MAX = 1 << 20 };

static bool push_semi(dom_state *s, uint32_t w, uint32_t semi) {
  while (s->mins_count && s->mins[2 * (s->mins_count - 1) + 1] >= semi)
    s->mins_count--;
  if (s->mins_count == MINS_MAX) {
    size_t half = MINS_MAX / 2;
    s->mins[0] = s->mins[2 * (half - 1)];
    memmove(s->mins + 2, s->mins + 2 * half, 2 * (MINS_MAX - half) * sizeof *s->mins);
    s->mins_count = MINS_MAX - half + 1;
  }
  if (s->mins_count == s->mins_cap) {
    size_t cap = s->mins_cap ? s->mins_cap * 2 : 1024;
    uint32_t *grown = realloc(s->mins, 2 * cap * sizeof *grown);
    if (!grown)
      return false;
    s->mins = grown, s->mins_cap = cap;
  }
  s->mins[2 * s->mins_count] = w, s->mins[2 * s->mins_count + 1] = semi;
  s->mins_count++;
  return true;
}

/* Semidominators, in reverse preorder: the least-numbered vertex from which a path of
 * higher-numbered vertices leads to w. A root's is the virtual root. A vertex with one incoming
 * reference has its DFS parent as the only one, whose value eval gives without a search (it is
 * not linked yet): its semidominator is the parent, and most objects of a heap are like that.
 *
 * A referrer numbered below w is a DFS ancestor and a candidate itself; let a be the least of
 * them. The referrers numbered above w need eval, unless no vertex numbered from w+1 to the
 * highest of them has a semidominator below a: a path from below a that reaches w through
 * vertices above w has a least such vertex q, and the path's part up to q makes semi(q) lower
 * than a too. So then semi(w) is a, and the evals are skipped. A heap's objects are often
 * referred to by their container and by each other, and most of those evals go. */
static bool semidominators(dom_state *s) {
  const ds_dom_graph *g = s->g;
  for (uint32_t w = s->m - 1; w >= 2; w--) {
    prefetch_semi(s, w);
    uint32_t o = s->vert[w], best = PARENT(s, w);
    uint32_t e0 = g->in_off[o], e1 = g->in_off[o + 1];
    if (is_root(g, o)) {
      best = 1;
    } else if (e1 - e0 > 1) {
      uint32_t later = 0; /* the highest-numbered referrer after w */
      for (uint32_t e = e0; e < e1; e++) {
        uint32_t from = g->in_edge[e], v;
        if (from >= g->n || !(v = s->num[from]))
          continue; /* unreachable: not on any path from a root */
        if (v > w)
          later = v > later ? v : later;
        else if (v < best)
          best = v;
      }
      if (later && least_semi_upto(s, later) < best) {
        for (uint32_t e = e0; e < e1; e++) {
          uint32_t from = g->in_edge[e], v, u;
          if (from >= g->n || (v = s->num[from]) <= w)
            continue;
          if (!eval(s, v, w + 1, &u))
            return false;
          if (u < best)
            best = u;
        }
      }
    }
    s->semi[w] = LEAST(s, w) = best;
    if (!push_semi(s, w, best))
      return false;
  }
  return true;
}

/* Immediate dominators, in preorder: the nearest common ancestor in the dominator tree of the
 * semidominator and the DFS parent (whose immediate dominators are final by then). */
static void immediate_dominators(dom_state *s) {
  for (uint32_t w = 2; w < s->m; w++) {
    uint32_t candidate = s->idom[w];
    while (candidate > s->semi[w])
      candidate = s->idom[candidate];
    s->idom[w] = candidate;
  }
}

/* Retained sizes: each vertex's own size plus its dominator subtree's, children before parents.
 * They add up by preorder number in link[] (free by now: two words a vertex hold one size), so
 * the pass over the tree reads and writes near its vertices; they go to the objects in the pass
 * by object that gives the immediate dominators (objects_from_vertices). */
static void retained_sizes(dom_state *s, ds_dom_result *r) {
  const ds_dom_graph *g = s->g;
  uint32_t *acc = s->link; /* 64-bit sizes, through memcpy */
  for (uint32_t w = 2; w < s->m; w++) {
    uint32_t o = s->vert[w];
    uint64_t own = g->size ? g->size[o] : g->size32[o] != UINT32_MAX ? g->size32[o] : g->big_size(g->done_ctx, o);
    memcpy(acc + 2 * (size_t)w, &own, 8);
    r->reachable_bytes += own;
  }
  for (uint32_t w = s->m - 1; w >= 2; w--) {
    uint32_t d = s->idom[w];
    if (d < 2)
      continue;
    uint64_t mine, theirs;
    memcpy(&mine, acc + 2 * (size_t)w, 8);
    memcpy(&theirs, acc + 2 * (size_t)d, 8);
    theirs += mine;
    memcpy(acc + 2 * (size_t)d, &theirs, 8);
  }
}

/* By object, in one sequential pass: the retained size (read from its vertex's slot, where a
 * pass by vertex wrote each object's at random), and num[] becomes the immediate dominator. */
static void objects_from_vertices(dom_state *s, ds_dom_result *r, uint32_t searched) {
  const uint32_t *acc = s->link;
  for (size_t o = 0; o < s->g->n; o++) {
    uint32_t w = vertex_number(s, searched, s->num[o]);
    if (w)
      memcpy(&r->retained[o], acc + 2 * (size_t)w, 8);
    s->num[o] = w && s->idom[w] >= 2 ? s->vert[s->idom[w]] : UINT32_MAX;
  }
}

/* Per-type retained sizes through the dominator tree's preorder (semi and link are free by now
 * and hold the subtree sizes, the preorder positions and the preorder itself). */
static void type_sizes(dom_state *s, ds_dom_result *r, uint32_t *end) {
  const ds_dom_graph *g = s->g;
  uint32_t *count = s->semi, *pre = s->link, *next = s->link + s->m; /* pre: 1 .. m - 1 */
  for (uint32_t w = 1; w < s->m; w++)
    count[w] = 1;
  for (uint32_t w = s->m - 1; w >= 2; w--)
    count[s->idom[w]] += count[w];
  pre[1] = 0, next[1] = 1;
  for (uint32_t w = 2; w < s->m; w++) {
    uint32_t p = s->idom[w];
    pre[w] = next[p];
    next[p] += count[w];
    next[w] = pre[w] + 1;
  }
  uint32_t *order = next; /* next[] is done with: it becomes the vertex at each position */
  for (uint32_t w = 1; w < s->m; w++)
    order[pre[w]] = w;
  for (uint32_t k = 1; k < s->m - 1; k++) { /* end[t]: where the last counted instance's subtree ends */
    uint32_t w = order[k], o = s->vert[w], t = g->type[o];
    if (t < g->type_count && k >= end[t]) { /* not inside an instance of its own type */
      r->type_retained[t] += r->retained[o];
      end[t] = k + count[w];
    }
  }
}

/* The working arrays, where the caller wants them (dominators.h: alloc and release). */
/* Without a caller's allocator the arrays are in huge pages (spill.c's ds__big_malloc): the
 * search reads them at random, and with 4 KiB pages nearly every such read also missed the TLB
 * (on big the semidominator step took 0.46-0.66 s with them, 0.32-0.49 s without). */
static void *work_alloc(const ds_dom_graph *g, size_t bytes) {
  return g->alloc ? g->alloc(g->done_ctx, bytes) : ds__big_malloc(bytes);
}

static void work_free(const ds_dom_graph *g, void *p) {
  if (!p)
    return;
  if (g->alloc)
    g->release(g->done_ctx, p);
  else
    free(p);
}

void ds_dom_result_free(ds_dom_result *r) {
  free(r->idom);
  free(r->retained);
  free(r->type_retained);
  memset(r, 0, sizeof *r);
}

ds_status ds_dominators(const ds_dom_graph *g, ds_dom_result *out, ds_error *err) {
  double t0 = now_ms();
  memset(out, 0, sizeof *out);
  size_t n = g->n, slots = n + 2;
  dom_state s = {.g = g};
  s.num = ds__big_calloc(n + 1, sizeof *s.num);
  s.vert = work_alloc(g, slots * sizeof *s.vert);
  s.link = work_alloc(g, 2 * slots * sizeof *s.link);
  s.semi = work_alloc(g, slots * sizeof *s.semi);
  s.idom = work_alloc(g, slots * sizeof *s.idom);
  out->retained = g->retained ? g->retained : ds__big_calloc(n + 1, sizeof *out->retained);
  out->type_retained = calloc(g->type_count + 1, sizeof *out->type_retained);
  uint32_t *type_end = calloc(g->type_count + 1, sizeof *type_end); /* type_sizes' */
  ds_status rc = DS_OK;
  if (!s.num || !s.vert || !s.link || !s.semi || !s.idom || !out->retained || !out->type_retained || !type_end) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the dominator tree of %zu objects", n);
    goto out;
  }
  PARENT(&s, 1) = 0, s.semi[1] = LEAST(&s, 1) = s.idom[1] = 1;
  mark_leaves(&s);
  if (g->done)
    g->done(g->done_ctx, DS_DOM_DONE_DEGREES);
  number_vertices(&s);
  if (g->reached)
    mark_reached(&s);
  double t = t0; /* the last step's end */
  out->step_ms[0] = lap(&t);
  if (g->done)
    g->done(g->done_ctx, DS_DOM_DONE_OUT);
  for (uint32_t w = 2; w < s.m; w++)
    s.idom[w] = PARENT(&s, w), LEAST(&s, w) = w;
  if (g->wait_in)
    g->wait_in(g->done_ctx);
  if (!semidominators(&s)) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the dominator tree's search paths");
    goto out;
  }
  if (g->done)
    g->done(g->done_ctx, DS_DOM_DONE_IN);
  out->step_ms[1] = lap(&t);
  immediate_dominators(&s);
  out->step_ms[2] = lap(&t);
  uint32_t searched = s.m;
  gather_leaves(&s);
  s.m += (uint32_t)(n + 2 - s.top);
  out->reachable = s.m - 2;
  retained_sizes(&s, out);
  objects_from_vertices(&s, out, searched);
  out->idom = s.num;
  s.num = NULL;
  out->work_bytes = (n + 1) * sizeof *s.num + 5 * slots * sizeof(uint32_t) + s.stack_cap * sizeof *s.stack + 2 * s.mins_cap * sizeof *s.mins +
                    (n + 1) * sizeof *out->retained;
  out->step_ms[3] = lap(&t);
  if (g->done)
    g->done(g->done_ctx, DS_DOM_DONE_OBJECTS); /* from here nothing can fail */
  if (g->type)
    type_sizes(&s, out, type_end);
  out->step_ms[4] = lap(&t);
out:
  free(s.num);
  work_free(g, s.vert);
  work_free(g, s.link);
  work_free(g, s.semi);
  work_free(g, s.idom);
  free(s.stack);
  free(s.mins);
  free(type_end);
  if (rc != DS_OK)
    ds_dom_result_free(out);
  out->ms = now_ms() - t0;
  return rc;
}
