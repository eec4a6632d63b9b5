/*
 * suspects.c: leak suspects (Eclipse MAT's "Leak Suspects"), read from the dominator tree the
 * dominators phase left in the build state, as part of the findings phase.
 *
 * An object suspect is an object near the top of the dominator tree (dominated only by the roots,
 * or by a statics array the runtime keeps behind a handle) whose retained size is at least
 * leak_suspect_percent of the live heap and leak_suspect_min_bytes. From it we walk down its
 * "big chunk": the child retaining most of it, while that child holds at least 80% of its
 * parent's retained size, to the accumulation point, where the retained size spreads out over
 * many objects; its children grouped by type are what the suspect accumulates ("100,003
 * Scenarios.Invoice objects retaining 13.8 MB"). A type suspect is a type whose instances
 * together retain that much although no single one does, and which mostly lie outside the object
 * suspects (a cache holding objects through several paths).
 *
 * Everything is O(objects): one pass for each object's largest child, one memoized walk up the
 * dominator tree for which suspect (if any) each object lies under, one pass per suspect for
 * its accumulation point's children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/roots.h"

#include "analyzeint.h"

#define MAX_SUSPECTS 5           /* object suspects and type suspects, each */
#define BIG_CHUNK 0.8            /* a child holding this share of its parent continues the descent */
#define ACCUMULATED_TYPES 5      /* types listed of what a suspect accumulates */

typedef struct ranked {
  uint32_t index;
  uint64_t retained;
} ranked;

/* Keeps the MAX_SUSPECTS largest, largest first. */
static void keep(ranked *top, size_t *count, ranked x) {
  size_t at = *count < MAX_SUSPECTS ? *count : MAX_SUSPECTS;
  while (at > 0 && top[at - 1].retained < x.retained)
    at--;
  if (at >= MAX_SUSPECTS)
    return;
  size_t last = *count < MAX_SUSPECTS ? *count : MAX_SUSPECTS - 1;
  memmove(&top[at + 1], &top[at], (last - at) * sizeof *top);
  top[at] = x;
  *count += *count < MAX_SUSPECTS;
}

static const char *name_of(const ds__build *b, uint32_t t, char *out, size_t len) {
  const char *raw = t < b->type_total && b->types[t].name < b->pool.len ? b->pool.data + b->types[t].name : "";
  ds_type_name_clrmd(raw, out, len);
  return out;
}

/* A suspect is a warning when it retains leak_suspect_warning_bytes; below that it is worth a look
 * (information): a healthy process keeps most of a small heap in a few caches. */
static const char *suspect_severity(const ds__build *b, uint64_t retained) {
  return (double)retained >= ds__setting(b, DS_SET_LEAK_SUSPECT_WARNING_BYTES) ? DS_SEVERITY_WARNING
                                                                              : DS_SEVERITY_INFORMATION;
}

/* Statics arrays: a System.Object[] at the top of the tree that a handle points to directly. The
 * runtime keeps static fields there, so they are where static roots begin, not suspects. */
static uint8_t *containers(const ds__build *b) {
  uint8_t *is = ds__big_calloc(b->n + 1, 1); /* huge pages: read at random */
  for (size_t r = 0; is && r < b->roots->root_count; r++) {
    const ds_index_root *root = &b->iroots[r];
    uint32_t o = root->object;
    if (o >= b->n || root->kind == DS_ROOT_STACK || root->kind == DS_ROOT_FINALIZER_READY || !root->is_root ||
        b->dom.idom[o] != UINT32_MAX)
      continue;
    uint32_t t = b->type.items[o];
    if (t < b->type_total && b->types[t].name < b->pool.len && strcmp(b->pool.data + b->types[t].name, "System.Object[]") == 0)
      is[o] = 1;
  }
  return is;
}

/* The candidates at least min bytes: the top of the tree, a statics array's children instead of
 * the array. */
static size_t object_candidates(const ds__build *b, const uint8_t *container, uint64_t min, ranked *top) {
  size_t count = 0;
  const uint32_t *idom = b->dom.idom;
  for (size_t o = 0; o < b->n; o++) {
    if (b->dom.retained[o] < min || container[o] || !(b->live[o >> 6] >> (o & 63) & 1))
      continue;
    if (idom[o] == UINT32_MAX || container[idom[o]])
      keep(top, &count, (ranked){(uint32_t)o, b->dom.retained[o]});
  }
  return count;
}

/* Each object's child (in the dominator tree) of largest retained size among its children that
 * retain at least `floor` bytes: of[p] is that child + 1, 0 for none. The descent only ever asks
 * for a child holding BIG_CHUNK of its parent, so a floor below BIG_CHUNK x the parent's size
 * answers exactly; few objects retain that much, and the pass writes only theirs (its array
 * stays mostly untouched zero pages) instead of a random write for every object. */
typedef struct best_children {
  uint32_t *of;
  uint64_t floor;
} best_children;

static bool largest_children(const ds__build *b, best_children *best, uint64_t floor) {
  free(best->of);
  uint32_t *of = best->of = ds__big_calloc(b->n + 1, sizeof *of);
  best->floor = floor;
  if (!of)
    return false;
  const uint64_t *retained = b->dom.retained;
  for (size_t o = 0; o < b->n; o++) {
    if (retained[o] < floor)
      continue;
    uint32_t p = b->dom.idom[o];
    if (p < b->n && (!of[p] || retained[o] > retained[of[p] - 1]))
      of[p] = (uint32_t)o + 1;
  }
  return true;
}

/* For each object, 1 + the index of the suspect whose dominator subtree holds it, 0 for none: a
 * walk up the tree, each object's answer remembered, so every object is visited once. */
static uint8_t *owners(const ds__build *b, const ranked *suspects, size_t count) {
  uint8_t *owner = ds__big_calloc(b->n + 1, 1), *known = ds__big_calloc(b->n + 1, 1);
  uint32_t *path = malloc((b->n + 1) * sizeof *path);
  if (!owner || !known || !path) {
    free(owner), free(known), free(path);
    return NULL;
  }
  for (size_t s = 0; s < count; s++)
    owner[suspects[s].index] = (uint8_t)(s + 1), known[suspects[s].index] = 1;
  for (size_t o = 0; o < b->n; o++) {
    size_t len = 0;
    uint32_t x = (uint32_t)o;
    while (x < b->n && !known[x]) {
      path[len++] = x;
      x = b->dom.idom[x];
    }
    uint8_t answer = x < b->n ? owner[x] : 0;
    while (len)
      x = path[--len], owner[x] = answer, known[x] = 1;
  }
  free(known);
  free(path);
  return owner;
}

/* The accumulation point under s: down the biggest child while it keeps most of the size (with
 * the children's pass again at a lower floor when the descent goes below the one it had). */
static uint32_t accumulation_point(const ds__build *b, best_children *best, uint32_t s) {
  uint32_t a = s;
  for (size_t steps = 0; steps < b->n; steps++) {
    double wanted = BIG_CHUNK * (double)b->dom.retained[a];
    if (wanted < (double)best->floor && !largest_children(b, best, (uint64_t)(wanted / 16)))
      break; /* out of memory: the descent stops here */
    if (!best->of || !best->of[a])
      break;
    uint32_t c = best->of[a] - 1;
    if ((double)b->dom.retained[c] < BIG_CHUNK * (double)b->dom.retained[a])
      break;
    /* a chain of one type (a linked list): its head is where it accumulates */
    if (b->type.items[c] == b->type.items[a] && a != s)
      break;
    a = c;
  }
  return a;
}

/* The children of a grouped by type, the largest groups as evidence: *groups of them. */
static ds_status accumulated(ds__build *b, uint32_t a, uint64_t *children, ds_error *err) {
  uint64_t *count = calloc(b->type_total + 1, sizeof *count), *bytes = calloc(b->type_total + 1, sizeof *bytes);
  if (!count || !bytes) {
    free(count), free(bytes);
    return ds_error_set(err, DS_E_NOMEM, "out of memory grouping a leak suspect");
  }
  *children = 0;
  for (size_t o = 0; o < b->n; o++)
    if (b->dom.idom[o] == a) {
      count[b->type.items[o]]++;
      bytes[b->type.items[o]] += b->dom.retained[o];
      ++*children;
    }
  ds_status rc = DS_OK;
  for (int k = 0; k < ACCUMULATED_TYPES && rc == DS_OK; k++) {
    size_t best = SIZE_MAX;
    for (size_t t = 0; t < b->type_total; t++)
      if (count[t] && (best == SIZE_MAX || bytes[t] > bytes[best]))
        best = t;
    if (best == SIZE_MAX)
      break;
    rc = ds__push_evidence(b, DS_EVIDENCE_TYPE, (uint32_t)best, 0, count[best], bytes[best], err);
    count[best] = 0;
  }
  free(count);
  free(bytes);
  return rc;
}

static ds_status push_suspect(ds__build *b, ds_index_suspect s, ds_error *err) {
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->suspects, s, MAX_SUSPECTS * 2, rc);
  return rc == DS_OK ? DS_OK : ds__vec_error(err, rc, "leak suspects", MAX_SUSPECTS * 2, "suspects.c");
}

/* One object suspect: its accumulation point, what it accumulates, its sentence and finding. */
static ds_status object_suspect(ds__build *b, best_children *best, const uint8_t *container, uint32_t s, uint64_t whole,
                                ds_error *err) {
  uint32_t a = accumulation_point(b, best, s);
  size_t first = b->evidence.count;
  uint64_t children = 0;
  ds_status rc = accumulated(b, a, &children, err);
  if (rc != DS_OK)
    return rc;
  char name[512], via[512], group[512], text[1600], title[640], h1[32], h2[32], c[32];
  double percent = 100.0 * (double)b->dom.retained[s] / (double)whole;
  name_of(b, b->type.items[s], name, sizeof name);
  bool is_static = b->dom.idom[s] < b->n && container[b->dom.idom[s]];
  int len = snprintf(text, sizeof text, "One %s%s at 0x%llx retains %s (%.0f%% of the live heap)", name,
                     is_static ? " held by a static field" : "", (unsigned long long)b->addr.items[s],
                     ds__human_bytes(b->dom.retained[s], h1, sizeof h1), percent);
  if (a != s)
    len += snprintf(text + len, sizeof text - (size_t)len, " through its %s", name_of(b, b->type.items[a], via, sizeof via));
  if (b->evidence.count > first) {
    const ds_index_evidence *g = &b->evidence.items[first];
    snprintf(text + len, sizeof text - (size_t)len, ": %s %s object%s retaining %s.", ds__grouped(g->count, c, sizeof c),
             name_of(b, g->ref, group, sizeof group), g->count == 1 ? "" : "s", ds__human_bytes(g->bytes, h2, sizeof h2));
  } else {
    snprintf(text + len, sizeof text - (size_t)len, ".");
  }
  snprintf(title, sizeof title, "Leak suspect: one %.400s retains %.0f%% of the heap", name, percent);
  ds_index_suspect rec = {.kind = DS_SUSPECT_OBJECT, .ref = s, .accumulation = a,
                          .description = ds_strpool_add(&b->pool, text), .first_group = (uint32_t)first,
                          .group_count = (uint32_t)(b->evidence.count - first), .retained = b->dom.retained[s],
                          .instances = children};
  if ((rc = push_suspect(b, rec, err)) != DS_OK)
    return rc;
  /* the finding names the suspect, its accumulation point and the groups */
  size_t mark = b->evidence.count;
  if ((rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, s, ds__intern(b, "suspect"), 1, b->dom.retained[s], err)) != DS_OK ||
      (a != s && (rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, a, ds__intern(b, "accumulation point"), 1,
                                         b->dom.retained[a], err)) != DS_OK))
    return rc;
  for (size_t k = first; k < mark && rc == DS_OK; k++)
    rc = ds__push_evidence(b, DS_EVIDENCE_TYPE, b->evidence.items[k].ref, 0, b->evidence.items[k].count,
                           b->evidence.items[k].bytes, err);
  ds__finding_text f = {suspect_severity(b, b->dom.retained[s]), "leak-suspect", title, text,
                        "Follow the root path to what keeps this object alive, and check that everything it "
                        "accumulates is still needed: unbounded caches, static collections and event handlers that "
                        "are never removed are the usual causes.",
                        DS_SET_LEAK_SUSPECT_PERCENT};
  return rc != DS_OK ? rc : ds__add_finding(b, &f, ds__no_details(), mark, err);
}

/* Types whose instances retain the threshold together, not through one instance, mostly outside
 * the object suspects. */
static ds_status type_suspects(ds__build *b, const uint8_t *owner, uint64_t min, uint64_t whole, ds_error *err) {
  uint64_t *largest = calloc(b->type_total + 1, sizeof *largest), *inside = calloc(b->type_total + 1, sizeof *inside),
           *instances = calloc(b->type_total + 1, sizeof *instances);
  ds_status rc = DS_OK;
  if (!largest || !inside || !instances) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for type suspects");
    goto out;
  }
  for (size_t o = 0; o < b->n; o++) {
    if (!(b->live[o >> 6] >> (o & 63) & 1))
      continue;
    uint32_t t = b->type.items[o];
    instances[t]++;
    inside[t] += owner[o] != 0;
    if (b->dom.retained[o] > largest[t])
      largest[t] = b->dom.retained[o];
  }
  /* the pass above needs only the sizes by object; the per-type sizes below may have been running
   * until now, beside it and the passes before it */
  if ((rc = ds__join_dominators(b, err)) != DS_OK)
    goto out;
  ranked top[MAX_SUSPECTS + 1];
  size_t count = 0;
  for (size_t t = 0; t < b->type_total; t++) {
    uint64_t retained = b->dom.type_retained[t];
    if (retained >= min && instances[t] >= 2 && largest[t] * 2 < retained && inside[t] * 2 < instances[t])
      keep(top, &count, (ranked){(uint32_t)t, retained});
  }
  for (size_t k = 0; k < count && rc == DS_OK; k++) {
    char name[512], text[1024], title[640], h[32], c[32];
    uint32_t t = top[k].index;
    double percent = 100.0 * (double)top[k].retained / (double)whole;
    name_of(b, t, name, sizeof name);
    snprintf(text, sizeof text, "%s %s objects retain %s (%.0f%% of the live heap) together; none retains more than %.0f%% "
             "of that alone.", ds__grouped(instances[t], c, sizeof c), name, ds__human_bytes(top[k].retained, h, sizeof h),
             percent, 100.0 * (double)largest[t] / (double)top[k].retained);
    snprintf(title, sizeof title, "Leak suspect: %s %.400s objects retain %.0f%% of the heap", c, name, percent);
    size_t mark = b->evidence.count;
    ds_index_suspect rec = {.kind = DS_SUSPECT_TYPE, .ref = t, .accumulation = UINT32_MAX,
                            .description = ds_strpool_add(&b->pool, text), .first_group = (uint32_t)mark,
                            .group_count = 1, .retained = top[k].retained, .instances = instances[t]};
    if ((rc = ds__push_evidence(b, DS_EVIDENCE_TYPE, t, 0, instances[t], top[k].retained, err)) != DS_OK ||
        (rc = push_suspect(b, rec, err)) != DS_OK)
      break;
    ds__finding_text f = {suspect_severity(b, top[k].retained), "leak-suspect", title, text,
                          "Find what keeps these objects: their root paths usually meet in a few collections or "
                          "caches; bound them or remove entries that are no longer used.",
                          DS_SET_LEAK_SUSPECT_PERCENT};
    rc = ds__add_finding(b, &f, ds__no_details(), mark, err);
  }
out:
  free(largest), free(inside), free(instances);
  return rc;
}

/* A pass over the tree on a second thread (or here, when none starts). */
typedef struct side_pass {
  const ds__build *b;
  void *(*fn)(void *);
  const ranked *top;         /* owner_pass's suspects */
  size_t count;
  best_children best;        /* best_pass's result */
  uint64_t floor;            /* best_pass's */
  uint8_t *owner;            /* owner_pass's result */
  ds__side_thread side;
} side_pass;

static void *best_pass(void *p) {
  side_pass *s = p;
  largest_children(s->b, &s->best, s->floor);
  return NULL;
}

static void *owner_pass(void *p) {
  side_pass *s = p;
  s->owner = owners(s->b, s->top, s->count);
  return NULL;
}

static void side_start(side_pass *s) { ds__side_start(&s->side, s->fn, s); }

/* Waits for the pass, or runs it here when no thread started. */
static void side_join(side_pass *s) {
  if (s->side.started)
    ds__side_join(&s->side);
  else
    s->fn(s);
}

ds_status ds__check_leak_suspects(ds__build *b, ds_error *err) {
  uint64_t whole = b->dom.reachable_bytes;
  if (!b->dom.idom || !whole)
    return DS_OK; /* the caller joins the search */
  double by_share = ds__setting(b, DS_SET_LEAK_SUSPECT_PERCENT) / 100.0 * (double)whole;
  uint64_t min = (uint64_t)by_share, floor = (uint64_t)ds__setting(b, DS_SET_LEAK_SUSPECT_MIN_BYTES);
  if (min < floor)
    min = floor;
  if (min == 0)
    min = 1;
  /* two threads: the largest children beside the candidates, then each object's owner beside
   * the object suspects (which only read the tree, as the passes on the side do). Every suspect
   * retains min or more, so the descents start with children of BIG_CHUNK x min; a sixteenth
   * of that leaves room for several steps down before another pass */
  side_pass side = {.b = b, .fn = best_pass, .floor = (uint64_t)(BIG_CHUNK * (double)min / 16)};
  side_start(&side);
  uint8_t *container = containers(b), *owner = NULL;
  ranked top[MAX_SUSPECTS + 1];
  size_t count = container ? object_candidates(b, container, min, top) : 0;
  side_join(&side);
  best_children best = side.best;
  ds_status rc = DS_OK;
  if (!container || !best.of) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory finding leak suspects");
    goto out;
  }
  side = (side_pass){.b = b, .fn = owner_pass, .top = top, .count = count};
  side_start(&side);
  for (size_t k = 0; k < count && rc == DS_OK; k++)
    rc = object_suspect(b, &best, container, top[k].index, whole, err);
  side_join(&side);
  owner = side.owner;
  if (rc == DS_OK && !owner)
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory finding leak suspects");
  if (rc == DS_OK)
    rc = type_suspects(b, owner, min, whole, err); /* joins the search's last step */
out:
  free(container);
  free(best.of);
  free(owner);
  return rc;
}
