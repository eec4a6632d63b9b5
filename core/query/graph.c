/*
 * graph.c: questions about the reference graph and the roots, answered from the index: who
 * references an object and through which field, shortest root paths, GC handles by kind, the
 * finalizer queues, and the objects on a thread's stack.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

/* ---- fields ---------------------------------------------------------------------------------- */

/* The static field whose slot is at address slot ("Ns.Type.field"), when the index knows one:
 * a collectible type's statics storage is an ordinary array on a path. */
static bool static_at(ds_query *q, uint64_t slot, char *out, size_t len) {
  ds__view st = ds__section_view(q->idx, DS_SEC_STATICS, sizeof(ds_index_static));
  const ds_index_static *s = st.data;
  for (uint64_t i = 0; i < st.count; i++)
    if (s[i].address == slot && s[i].type < q->type_count) {
      snprintf(out, len, "%s.%s", ds__type_name(q, s[i].type), ds_index_string(q->idx, s[i].name));
      return true;
    }
  return false;
}

/* Which field (or array element) of object `from` holds a reference to `to`. */
static void field_holding(ds_query *q, uint32_t from, uint32_t to, char *out, size_t out_len) {
  const ds_index_type *t = ds__type_of(q, from);
  uint64_t target = q->addr[to];
  snprintf(out, out_len, "?");
  if (!t || !q->dump) {
    if (!q->dump)
      snprintf(out, out_len, "(dump not available)");
    return;
  }
  uint64_t base = q->addr[from], size = ds__obj_size(q, from);
  if (t->flags & DS_TYPE_ARRAY) {
    uint32_t length = 0;
    if (!ds_layout_read_length(q->layout, q->dump, base, &length))
      return;
    uint32_t esz = t->component_size ? t->component_size : 8;
    uint64_t data = ds_layout_element(q->layout, base, 0, esz), avail = 0;
    const uint8_t *mem = ds_dump_span(q->dump, data, &avail);
    if (mem && avail < (uint64_t)length * esz)
      mem = NULL;
    if (mem && esz == 8 && length > 64) {
      /* arrays filled in allocation order are usually sorted by address: try a binary search
       * (verified by the hit itself) before any scan */
      size_t at = ds__lower_bound_u64(mem, length, 8, target);
      uint64_t v = 0;
      if (at < length)
        memcpy(&v, mem + at * 8, 8);
      if (at < length && v == target) {
        char name[768];
        if (static_at(q, data + at * 8, name, sizeof name))
          snprintf(out, out_len, "[%llu] static %s", (unsigned long long)at, name);
        else
          snprintf(out, out_len, "[%llu]", (unsigned long long)at);
        return;
      }
    }
    uint64_t from_k = 0;
    if (esz == 8 && q->out_edge) {
      /* the builder recorded an array's references in element order, skipping nulls: the
       * target's position among them is a lower bound of its element index */
      uint32_t lo, hi;
      ds__csr(q->out_off, q->e, from, &lo, &hi);
      for (uint32_t e = lo; e < hi; e++)
        if (q->out_edge[e] == to) {
          from_k = e - lo;
          break;
        }
    }
    for (uint64_t k = from_k; k < length; k++) {
      /* elements may be structs: look at each pointer-aligned slot of the element */
      for (uint32_t off = 0; off + 8 <= esz; off += 8) {
        uint64_t v;
        if (mem)
          memcpy(&v, mem + k * esz + off, 8);
        else if (!ds_dump_read_u64(q->dump, data + k * esz + off, &v))
          continue;
        if (v == target) {
          char name[768];
          if (esz == 8 && static_at(q, data + k * esz, name, sizeof name))
            snprintf(out, out_len, "[%llu] static %s", (unsigned long long)k, name);
          else if (esz == 8)
            snprintf(out, out_len, "[%llu]", (unsigned long long)k);
          else
            snprintf(out, out_len, "[%llu]+0x%x", (unsigned long long)k, off);
          return;
        }
      }
    }
    return;
  }
  for (uint32_t f = 0; f < t->field_count; f++) {
    uint64_t fi = (uint64_t)t->field_start + f;
    if (fi >= q->field_count)
      break;
    const ds_index_field *fd = &q->fields[fi];
    uint64_t v;
    if (fd->offset + 8 <= size && ds_dump_read_u64(q->dump, base + fd->offset, &v) && v == target) {
      snprintf(out, out_len, "%s", ds_index_string(q->idx, fd->name));
      return;
    }
  }
  /* inside an embedded struct, or a dependent handle / loader allocator edge */
  for (uint64_t off = q->layout->field_base; off + 8 <= size; off += 8) {
    uint64_t v;
    if (ds_dump_read_u64(q->dump, base + off, &v) && v == target) {
      /* name the struct field that contains this offset */
      const char *owner = NULL;
      uint32_t owner_off = 0;
      for (uint32_t f = 0; f < t->field_count; f++) {
        uint64_t fi = (uint64_t)t->field_start + f;
        if (fi >= q->field_count)
          break;
        const ds_index_field *fd = &q->fields[fi];
        if (fd->element_type == 0x11 && fd->offset <= off && fd->offset >= owner_off) {
          owner = ds_index_string(q->idx, fd->name);
          owner_off = fd->offset;
        }
      }
      if (owner)
        snprintf(out, out_len, "%s+0x%llx", owner, (unsigned long long)(off - owner_off));
      else
        snprintf(out, out_len, "+0x%llx", (unsigned long long)off);
      return;
    }
  }
  /* a collectible type's instance keeps its loader allocator alive (an edge of the graph) */
  snprintf(out, out_len, (t->flags & DS_TYPE_COLLECTIBLE) ? "(loader allocator)" : "(dependent handle)");
}

/* ---- references ------------------------------------------------------------------------------ */

static ds_status query_refs(ds_query *q, uint64_t addr, size_t limit, json_t **out, ds_error *err) {
  if (!ds__need_all(q, err, DS_SEC_OBJ_ADDR, DS_SEC_OBJ_TYPE, DS_SEC_OBJ_SIZE, DS_SEC_LIVE, DS_SEC_OUT_OFF,
                    DS_SEC_OUT_EDGE, DS_SEC_IN_OFF, DS_SEC_IN_EDGE, DS_SEC_FIELDS))
    return err->code;
  uint32_t i = ds_query_find(q, addr, false);
  if (i == UINT32_MAX)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)addr);
  if (!limit || limit > DS_MAX_PAGE_REFERENCES)
    limit = limit ? DS_MAX_PAGE_REFERENCES : 1000;
  json_t *doc = ds__object_ref(q, i), *in = json_array(), *outs = json_array();
  uint32_t lo, hi;
  ds__csr(q->in_off, q->e, i, &lo, &hi);
  ds__jset(doc, "referenced_by_count", json_integer(hi - lo));
  for (uint32_t e = lo; e < hi && e - lo < limit; e++) {
    uint32_t from = q->in_edge[e];
    if (from >= q->n)
      continue;
    char field[256];
    field_holding(q, from, i, field, sizeof field);
    json_t *r = ds__object_ref(q, from);
    ds__jset(r, "field", ds__jstr(field));
    ds__jappend(in, r);
  }
  ds__csr(q->out_off, q->e, i, &lo, &hi);
  ds__jset(doc, "references_count", json_integer(hi - lo));
  for (uint32_t e = lo; e < hi && e - lo < limit; e++) {
    uint32_t to = q->out_edge[e];
    if (to >= q->n)
      continue;
    char field[256];
    field_holding(q, i, to, field, sizeof field);
    json_t *r = ds__object_ref(q, to);
    ds__jset(r, "field", ds__jstr(field));
    ds__jappend(outs, r);
  }
  ds__jset(doc, "referenced_by", in);
  ds__jset(doc, "references", outs);
  *out = doc;
  return DS_OK;
}

/* ---- roots ------------------------------------------------------------------------------------ */

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The first of the n sorted values that is >= v. */
static size_t lower_u32(const uint32_t *values, size_t n, uint32_t v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (values[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* (object << 32 | root index), sorted: which objects are roots and by which records. */
bool ds__build_rooted(ds_query *q) {
  pthread_mutex_lock(&q->rooted_lock);
  if (!q->rooted) {
    uint64_t *rooted = malloc((q->root_count + 1) * sizeof *rooted);
    size_t count = 0;
    for (uint64_t r = 0; rooted && r < q->root_count; r++)
      if (q->roots[r].is_root && q->roots[r].object < q->n)
        rooted[count++] = (uint64_t)q->roots[r].object << 32 | r;
    if (rooted && count)
      qsort(rooted, count, sizeof *rooted, compare_u64);
    q->rooted_count = count;
    q->rooted = rooted;
  }
  bool ok = q->rooted != NULL;
  pthread_mutex_unlock(&q->rooted_lock);
  return ok;
}

/* The first handle root whose object is object i (the statics storage array's handle), or
 * UINT64_MAX. Needs ds__build_rooted. */
static uint64_t handle_of(const ds_query *q, uint32_t i) {
  size_t lo = ds__lower_bound_u64(q->rooted, q->rooted_count, sizeof *q->rooted, (uint64_t)i << 32);
  for (; lo < q->rooted_count && (q->rooted[lo] >> 32) == i; lo++)
    if (q->roots[(uint32_t)q->rooted[lo]].kind <= DS_ROOT_HANDLE_OTHER)
      return (uint32_t)q->rooted[lo];
  return UINT64_MAX;
}

/* "Ns.Type.field" of a static or thread-static root into out; false when the index does not
 * name it. */
static bool static_field_name(const ds_query *q, const ds_index_root *root, char *out, size_t len) {
  ds__view st = ds__section_view(q->idx, DS_SEC_STATICS, sizeof(ds_index_static));
  if (root->static_field >= st.count)
    return false;
  const ds_index_static *s = &((const ds_index_static *)st.data)[root->static_field];
  if (s->type >= q->type_count)
    return false;
  snprintf(out, len, "%s.%s", ds__type_name(q, s->type), ds_index_string(q->idx, s->name));
  return true;
}

/* The kind, the field it names (statics) and where the root lives: the statics storage array
 * and its handle for a static field, the thread's storage for a thread static. */
static void root_kind_json(const ds_query *q, const ds_index_root *root, json_t *j) {
  ds__jset(j, "kind", ds__jstr(ds_root_kind_name((ds_root_kind)root->kind)));
  char field[1024];
  if (root->kind == DS_ROOT_STATIC_FIELD || root->kind == DS_ROOT_THREAD_STATIC) {
    bool named = static_field_name(q, root, field, sizeof field);
    ds__jset(j, "field", named ? ds__jstr(field) : json_null());
  }
  if (root->kind == DS_ROOT_THREAD_STATIC && root->static_field == UINT32_MAX && root->object < q->n)
    ds__jset(j, "storage", json_pack("{s:s,s:o}", "what", "the thread's thread-static storage", "array",
                                     ds__json_hex(q->addr[root->object])));
  else if (root->kind == DS_ROOT_THREAD_STATIC && root->secondary < q->n)
    ds__jset(j, "storage", json_pack("{s:s,s:o}", "what", "the type's thread-static storage on this thread",
                                     "array", ds__json_hex(q->addr[root->secondary])));
  if (root->kind == DS_ROOT_STATIC_FIELD && root->secondary < q->n) {
    json_t *storage = json_pack("{s:s,s:o}", "what", "the runtime's statics storage", "array",
                                ds__json_hex(q->addr[root->secondary]));
    uint64_t h = q->rooted ? handle_of(q, root->secondary) : UINT64_MAX;
    if (h != UINT64_MAX)
      ds__jset(storage, "handle", json_pack("{s:o,s:o}", "kind", ds__jstr(ds_root_kind_name((ds_root_kind)q->roots[h].kind)),
                                            "address", ds__json_hex(q->roots[h].address)));
    ds__jset(j, "storage", storage);
  }
}

static json_t *root_json(const ds_query *q, uint32_t r) {
  const ds_index_root *root = &q->roots[r];
  json_t *j = json_object();
  root_kind_json(q, root, j);
  ds__jset(j, "address", ds__json_hex(root->address));
  ds__jset(j, "pinned", json_boolean(root->pinned));
  if (root->interior)
    ds__jset(j, "interior_pointer", ds__json_hex(root->raw_object));
  if (root->kind == DS_ROOT_HANDLE_REFCOUNTED)
    ds__jset(j, "ref_count", json_integer(root->ref_count));
  if (root->thread < q->thread_count) {
    const ds_index_thread *t = &q->threads[root->thread];
    ds__jset(j, "thread", json_pack("{s:i,s:i}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id));
  }
  if (root->frame < q->frame_count) {
    const ds_index_frame *f = &q->frames[root->frame];
    ds__jset(j, "frame", json_pack("{s:o,s:o,s:o}", "method", ds__jstr(ds_index_string(q->idx, f->method)), "sp",
                                   ds__json_hex(f->sp), "ip", ds__json_hex(f->ip)));
  }
  return j;
}

/* The search's scratch: parent[x] is the object x references on the way down to where the search
 * started; seen marks what was queued; touched lists it so that the next search starts clean. */
typedef struct path_search {
  uint32_t *parent, *queue;
  uint64_t *seen;
  size_t tail, work; /* work: objects the chain's searches queued, all told */
} path_search;

static void mark(path_search *s, uint32_t x) { s->seen[x >> 6] |= 1ull << (x & 63); }
static bool marked(const path_search *s, uint32_t x) { return s->seen[x >> 6] >> (x & 63) & 1; }

static void search_reset(path_search *s) {
  s->work += s->tail;
  for (size_t k = 0; k < s->tail; k++)
    s->seen[s->queue[k] >> 6] = 0;
  s->tail = 0;
}

/* Appends to *up the objects of a shortest path from `above` down to `below` (above dominates
 * below), bottom-up, without `below` itself: a backward search from below that stops at above. A
 * shortest path between a dominator and what it dominates stays among the objects it dominates,
 * and no root is among them, so the search is small where the dominator is near. */
static bool segment_up(ds_query *q, path_search *s, uint32_t below, uint32_t above, uint32_t **up, size_t *count,
                       size_t *cap) {
  size_t head = 0;
  s->queue[s->tail++] = below;
  mark(s, below);
  s->parent[below] = UINT32_MAX;
  bool reached = false;
  while (head < s->tail && !reached) {
    uint32_t cur = s->queue[head++], elo, ehi;
    ds__csr(q->in_off, q->e, cur, &elo, &ehi);
    for (uint32_t e = elo; e < ehi; e++) {
      uint32_t from = q->in_edge[e];
      if (from >= q->n || marked(s, from) || !ds__is_live(q, from))
        continue;
      mark(s, from);
      s->parent[from] = cur;
      s->queue[s->tail++] = from;
      if (from == above) {
        reached = true;
        break;
      }
    }
  }
  size_t first = *count;
  for (uint32_t x = reached ? s->parent[above] : UINT32_MAX; x != UINT32_MAX && x != below; x = s->parent[x]) {
    if (*count == *cap) {
      size_t grown_cap = *cap ? *cap * 2 : 64;
      uint32_t *grown = realloc(*up, grown_cap * sizeof *grown);
      if (!grown)
        return false;
      *up = grown, *cap = grown_cap;
    }
    (*up)[(*count)++] = x;
  }
  /* collected top-down: reverse to bottom-up, then the dominator itself */
  for (size_t i = first, j = *count; i + 1 < j; i++, j--) {
    uint32_t t = (*up)[i];
    (*up)[i] = (*up)[j - 1];
    (*up)[j - 1] = t;
  }
  search_reset(s);
  if (!reached)
    return true; /* an index whose dominators disagree with its references: the caller checks */
  if (*count == *cap) {
    size_t grown_cap = *cap ? *cap * 2 : 64;
    uint32_t *grown = realloc(*up, grown_cap * sizeof *grown);
    if (!grown)
      return false;
    *up = grown, *cap = grown_cap;
  }
  (*up)[(*count)++] = above;
  return true;
}

/* Every path from a root to the target passes through each of the target's dominators, in the
 * dominator tree's order, so one per root (--all) is a shortest path from that root to the
 * topmost dominator, then the shortest path from there down through the dominator chain. The
 * chain is found with small searches between consecutive dominators; the search for the roots
 * then starts at the topmost one instead of covering everything that reaches the target (on a
 * linked list of millions of nodes, the whole list). *up gets the chain from the target (first)
 * to the topmost dominator (last); without dominator sections, or if they disagree with the
 * references, just the target. */
static bool dominator_chain(ds_query *q, path_search *s, uint32_t target, uint32_t **up, size_t *count) {
  size_t cap = 64;
  *count = 0;
  if (!(*up = malloc(cap * sizeof **up)))
    return false;
  (*up)[(*count)++] = target;
  ds__view vi = ds__section_view(q->idx, DS_SEC_IDOM, 4);
  ds_error ignore;
  if (vi.count != q->n || !ds__need(q, DS_SEC_IDOM, &ignore))
    return true;
  const uint32_t *idom = vi.data;
  /* The dominator tree's roots are the collected roots; a static field's object hangs below its
   * statics storage array, so a chain stops short of any storage array: a static field root
   * elsewhere below it (not on the chain) would be missed by a search starting above it. */
  uint32_t *storage = malloc((q->root_count + 1) * sizeof *storage);
  if (!storage)
    return false;
  size_t storage_count = 0;
  for (uint64_t r = 0; r < q->root_count; r++)
    if (q->roots[r].kind == DS_ROOT_STATIC_FIELD && q->roots[r].secondary < q->n)
      storage[storage_count++] = q->roots[r].secondary;
  qsort(storage, storage_count, sizeof *storage, compare_u32);
  for (uint32_t cur = target; idom[cur] < q->n; cur = idom[cur]) {
    size_t at = lower_u32(storage, storage_count, idom[cur]);
    if (at < storage_count && storage[at] == idom[cur])
      break;
    size_t before = *count;
    if (!segment_up(q, s, cur, idom[cur], up, count, &cap)) {
      free(storage);
      return false;
    }
    /* not reached, or (a damaged index) a chain that loops or costs more than one search of
       everything: the plain search from the target */
    if (*count == before || (*up)[*count - 1] != idom[cur] || *count > q->n || s->work > q->n) {
      *count = 1;
      break;
    }
  }
  free(storage);
  return true;
}

static ds_status query_root_paths(ds_query *q, uint64_t addr, bool all, size_t limit, json_t **out, ds_error *err) {
  if (!ds__need_all(q, err, DS_SEC_OBJ_ADDR, DS_SEC_OBJ_TYPE, DS_SEC_OBJ_SIZE, DS_SEC_LIVE, DS_SEC_IN_OFF,
                    DS_SEC_IN_EDGE, DS_SEC_OUT_OFF, DS_SEC_OUT_EDGE, DS_SEC_ROOTS, DS_SEC_FIELDS, DS_SEC_FRAMES,
                    DS_SEC_THREADS))
    return err->code;
  uint32_t target = ds_query_find(q, addr, false);
  if (target == UINT32_MAX)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)addr);
  if (!ds__build_rooted(q))
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  if (!limit || limit > DS_MAX_ROOT_PATHS)
    limit = limit ? DS_MAX_ROOT_PATHS : 100;
  json_t *doc = ds__object_ref(q, target);
  ds__jset(doc, "live", json_boolean(ds__is_live(q, target)));
  json_t *paths = json_array();
  ds__jset(doc, "paths", paths);
  *out = doc;
  if (!ds__is_live(q, target))
    return DS_OK; /* unreachable: no path, and no need to search */
  /* Breadth-first search backwards over incoming references from `start` (the target, or with
   * --all its topmost dominator): the first rooted object met gives the shortest path. Below
   * start, the path goes down the dominator chain (chain[], bottom-up). */
  path_search s = {.parent = malloc(q->n * sizeof *s.parent), .queue = malloc(q->n * sizeof *s.queue),
                   .seen = calloc((q->n + 63) / 64, sizeof *s.seen)};
  uint8_t *root_seen = calloc(q->root_count + 1, 1);
  uint32_t *chain = NULL, *hop_list = NULL;
  size_t chain_count = 0;
  ds_status rc = DS_OK;
  if (!s.parent || !s.queue || !s.seen || !root_seen ||
      (all ? !dominator_chain(q, &s, target, &chain, &chain_count) : !(chain = malloc(sizeof *chain))) ||
      !(hop_list = malloc(((size_t)q->n + 1) * sizeof *hop_list))) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory searching root paths");
    goto done;
  }
  if (!all)
    chain[0] = target, chain_count = 1;
  uint32_t start = chain[chain_count - 1];
  size_t head = 0, found = 0;
  s.queue[s.tail++] = start;
  mark(&s, start);
  s.parent[start] = UINT32_MAX;
  while (head < s.tail && found < limit) {
    uint32_t cur = s.queue[head++];
    /* every root record of cur: one path per distinct root */
    size_t lo = ds__lower_bound_u64(q->rooted, q->rooted_count, sizeof *q->rooted, (uint64_t)cur << 32);
    for (; lo < q->rooted_count && (q->rooted[lo] >> 32) == cur && found < limit; lo++) {
      uint32_t r = (uint32_t)q->rooted[lo];
      if (root_seen[r])
        continue;
      root_seen[r] = 1;
      size_t hops_count = 0;
      for (uint32_t x = cur; x != UINT32_MAX; x = s.parent[x])
        hop_list[hops_count++] = x;
      for (size_t c = chain_count - 1; c-- > 0;) /* start (already listed) down to the target */
        hop_list[hops_count++] = chain[c];
      json_t *path = json_object(), *hops = json_array();
      ds__jset(path, "root", root_json(q, r));
      for (size_t h = 0; h < hops_count; h++) {
        json_t *hop = ds__object_ref(q, hop_list[h]);
        if (h + 1 < hops_count) {
          char field[256];
          field_holding(q, hop_list[h], hop_list[h + 1], field, sizeof field);
          ds__jset(hop, "via_field", ds__jstr(field));
        }
        ds__jappend(hops, hop);
      }
      ds__jset(path, "objects", hops);
      ds__jset(path, "length", json_integer((json_int_t)hops_count));
      ds__jappend(paths, path);
      found++;
      if (!all)
        break;
    }
    if (found && !all)
      break;
    /* a static field's root stands for the statics storage array and its handle: no second path
     * through them */
    uint32_t storage[8];
    size_t storage_count = 0;
    lo = ds__lower_bound_u64(q->rooted, q->rooted_count, sizeof *q->rooted, (uint64_t)cur << 32);
    for (; lo < q->rooted_count && (q->rooted[lo] >> 32) == cur && storage_count < 8; lo++)
      if (q->roots[(uint32_t)q->rooted[lo]].kind == DS_ROOT_STATIC_FIELD ||
          (q->roots[(uint32_t)q->rooted[lo]].kind == DS_ROOT_THREAD_STATIC &&
           q->roots[(uint32_t)q->rooted[lo]].static_field != UINT32_MAX))
        storage[storage_count++] = q->roots[(uint32_t)q->rooted[lo]].secondary;
    uint32_t elo, ehi;
    ds__csr(q->in_off, q->e, cur, &elo, &ehi);
    for (uint32_t e = elo; e < ehi; e++) {
      uint32_t from = q->in_edge[e];
      if (from >= q->n || marked(&s, from) || !ds__is_live(q, from))
        continue;
      bool is_storage = false;
      for (size_t k = 0; k < storage_count; k++)
        is_storage |= storage[k] == from;
      if (is_storage)
        continue;
      mark(&s, from);
      s.parent[from] = cur;
      s.queue[s.tail++] = from;
    }
  }
  ds__jset(doc, "truncated", json_boolean(found >= limit));
done:
  if (rc != DS_OK) {
    json_decref(doc);
    *out = NULL;
  }
  free(s.parent);
  free(s.seen);
  free(s.queue);
  free(root_seen);
  free(chain);
  free(hop_list);
  return rc;
}

static ds_status query_handles(ds_query *q, size_t limit, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_ROOTS, err))
    return err->code;
  if (!limit)
    limit = 1000;
  json_t *doc = json_object(), *kinds = json_object();
  uint64_t total = 0, pinned = 0;
  /* the static fields (their own root kind), and which arrays are the statics storage */
  json_t *statics = json_pack("{s:i,s:[]}", "count", 0, "fields");
  uint64_t static_count = 0;
  uint32_t *storage = malloc((q->root_count + 1) * sizeof *storage);
  size_t storage_count = 0;
  if (!storage) {
    json_decref(doc);
    json_decref(kinds);
    json_decref(statics);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind != DS_ROOT_STATIC_FIELD)
      continue;
    static_count++;
    if (root->secondary < q->n)
      storage[storage_count++] = root->secondary;
    json_t *list = json_object_get(statics, "fields");
    if (json_array_size(list) < limit) {
      char field[1024];
      json_t *f = json_object();
      ds__jset(f, "field", static_field_name(q, root, field, sizeof field) ? ds__jstr(field) : json_null());
      ds__jset(f, "slot", ds__json_hex(root->address));
      ds__jset(f, "object", root->object < q->n ? ds__object_ref(q, root->object) : json_null());
      ds__jappend(list, f);
    }
  }
  ds__jset(statics, "count", json_integer((json_int_t)static_count));
  qsort(storage, storage_count, sizeof *storage, compare_u32);
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind > DS_ROOT_HANDLE_OTHER)
      continue;
    const char *kname = ds_root_kind_name((ds_root_kind)root->kind);
    json_t *k = json_object_get(kinds, kname);
    if (!k) {
      k = json_pack("{s:i,s:[],s:{}}", "count", 0, "handles", "by_type");
      ds__jset(kinds, kname, k);
    }
    ds__jset(k, "count", json_integer(json_integer_value(json_object_get(k, "count")) + 1));
    total++;
    if (root->pinned)
      pinned++;
    const char *tn = root->object < q->n ? ds__type_name(q, q->type[root->object]) : "(null)";
    json_t *bt = json_object_get(json_object_get(k, "by_type"), tn);
    ds__jset(json_object_get(k, "by_type"), tn, json_integer(bt ? json_integer_value(bt) + 1 : 1));
    json_t *list = json_object_get(k, "handles");
    if (json_array_size(list) < limit) {
      json_t *h = json_object();
      ds__jset(h, "handle", ds__json_hex(root->address));
      ds__jset(h, "object", root->object < q->n ? ds__object_ref(q, root->object) : json_null());
      ds__jset(h, "pinned", json_boolean(root->pinned));
      if (root->object >= q->n && root->raw_object) /* e.g. a mid-GC index: no objects */
        ds__jset(h, "target", ds__json_hex(root->raw_object));
      if (root->secondary < q->n)
        ds__jset(h, "secondary", ds__object_ref(q, root->secondary));
      if (root->kind == DS_ROOT_HANDLE_REFCOUNTED)
        ds__jset(h, "ref_count", json_integer(root->ref_count));
      size_t fields = 0;
      for (size_t at = storage_count && root->object < q->n ? lower_u32(storage, storage_count, root->object) : storage_count;
           at < storage_count && storage[at] == root->object; at++)
        fields++;
      if (fields)
        ds__jset(h, "static_fields", json_integer((json_int_t)fields));
      ds__jappend(list, h);
    }
  }
  ds__jset(doc, "total", json_integer((json_int_t)total));
  ds__jset(doc, "pinned", json_integer((json_int_t)pinned));
  ds__jset(doc, "kinds", kinds);
  ds__jset(doc, "statics", statics);
  free(storage);
  *out = doc;
  return DS_OK;
}

/* {by_type: [...], objects: [...]} for a list of object indices. */
static json_t *object_list(ds_query *q, const uint32_t *list, size_t count, bool stat_only, size_t limit) {
  json_t *doc = json_object();
  uint64_t *counts = calloc(q->type_count + 1, sizeof *counts), *bytes = calloc(q->type_count + 1, sizeof *bytes);
  json_t *objs = json_array();
  uint64_t total = 0;
  for (size_t k = 0; k < count; k++) {
    uint32_t i = list[k];
    if (i >= q->n || q->type[i] >= q->type_count)
      continue;
    if (counts) {
      counts[q->type[i]]++;
      bytes[q->type[i]] += ds__obj_size(q, i);
    }
    total += ds__obj_size(q, i);
    if (!stat_only && json_array_size(objs) < limit)
      ds__jappend(objs, ds__object_ref(q, i));
  }
  json_t *stats = json_array();
  for (uint64_t t = 0; counts && bytes && t < q->type_count; t++)
    if (counts[t])
      ds__jappend(stats, json_pack("{s:o,s:I,s:I}", "type", ds__jstr(ds__type_name(q, (uint32_t)t)), "count",
                                   (json_int_t)counts[t], "total_size", (json_int_t)bytes[t]));
  ds__jset(doc, "count", json_integer((json_int_t)count));
  ds__jset(doc, "total_size", json_integer((json_int_t)total));
  ds__jset(doc, "by_type", stats);
  if (!stat_only)
    ds__jset(doc, "objects", objs);
  else
    json_decref(objs);
  free(counts);
  free(bytes);
  return doc;
}

static ds_status query_finalizer(ds_query *q, bool ready, bool stat_only, int gen, size_t limit, json_t **out,
                                 ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_ROOTS, err) || !ds__need(q, DS_SEC_FINALIZABLE, err))
    return err->code;
  if (!limit)
    limit = 1000;
  size_t cap = ready ? q->root_count : q->finalizable_count;
  uint32_t *list = malloc((cap + 1) * sizeof *list);
  if (!list)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  size_t count = 0;
  if (!ready) {
    for (uint64_t k = 0; k < q->finalizable_count; k++)
      list[count++] = q->finalizable[k];
  } else {
    for (uint64_t r = 0; r < q->root_count; r++)
      if (q->roots[r].kind == DS_ROOT_FINALIZER_READY && q->roots[r].object < q->n)
        list[count++] = q->roots[r].object;
  }
  if (gen >= 0) { /* SOSEX !finq GEN: the objects of one generation */
    size_t kept = 0;
    for (size_t k = 0; k < count; k++)
      if (list[k] < q->n && ds__gen_of(q, list[k]) == gen)
        list[kept++] = list[k];
    count = kept;
  }
  *out = object_list(q, list, count, stat_only, limit);
  free(list);
  if (gen >= 0)
    ds__jset(*out, "generation", ds__jstr(ds_gen_name((ds_gen)gen)));
  ds__jset(*out, "queue", ds__jstr(ready ? "ready for finalization (f-reachable)" : "finalizable"));
  bool blocked = false;
  for (uint64_t t = 0; t < q->thread_count; t++)
    if (q->threads[t].finalizer) {
      ds__jset(*out, "finalizer_thread", json_pack("{s:i,s:i}", "os_id", (int)q->threads[t].os_id,
                                                              "managed_id", (int)q->threads[t].managed_id));
      blocked = true;
    }
  (void)blocked;
  return DS_OK;
}

static ds_status query_stack_objects(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_ROOTS, err) || !ds__need(q, DS_SEC_THREADS, err) ||
      !ds__need(q, DS_SEC_FRAMES, err))
    return err->code;
  uint32_t ti;
  const ds_index_thread *t = ds__find_thread(q, thread, &ti);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with OS id or managed id %u", thread);
  json_t *doc = json_pack("{s:i,s:i}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id);
  json_t *frames = json_array();
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    json_t *jf = json_pack("{s:o,s:o,s:o,s:[]}", "method", ds__jstr(ds_index_string(q->idx, q->frames[fi].method)), "sp",
                           ds__json_hex(q->frames[fi].sp), "ip", ds__json_hex(q->frames[fi].ip), "objects");
    for (uint64_t r = 0; r < q->root_count; r++) {
      const ds_index_root *root = &q->roots[r];
      if (root->kind != DS_ROOT_STACK || root->frame != fi || root->object >= q->n)
        continue;
      json_t *o = ds__object_ref(q, root->object);
      ds__jset(o, "slot", ds__json_hex(root->address));
      ds__jset(o, "pinned", json_boolean(root->pinned));
      if (root->interior)
        ds__jset(o, "interior_pointer", ds__json_hex(root->raw_object));
      ds__jappend(json_object_get(jf, "objects"), o);
    }
    ds__jappend(frames, jf);
  }
  /* stack roots the walk could not attribute to a frame */
  json_t *unattributed = json_array();
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind == DS_ROOT_STACK && root->thread == ti && root->frame >= q->frame_count && root->object < q->n)
      ds__jappend(unattributed, ds__object_ref(q, root->object));
  }
  ds__jset(doc, "frames", frames);
  ds__jset(doc, "unattributed", unattributed);
  *out = doc;
  return DS_OK;
}

/* Is object i pinned: a pinned handle or pinned stack root, or on the POH. */
bool ds__is_pinned(ds_query *q, uint32_t i) {
  size_t lo = ds__lower_bound_u64(q->rooted, q->rooted_count, sizeof *q->rooted, (uint64_t)i << 32);
  for (; lo < q->rooted_count && (q->rooted[lo] >> 32) == i; lo++)
    if (q->roots[(uint32_t)q->rooted[lo]].pinned)
      return true;
  return ds__gen_of(q, i) == DS_GEN_POH;
}

/* ---- the public queries: each document is complete, or an error ---------------------------------- */

ds_status ds_query_refs(ds_query *q, uint64_t addr, size_t limit, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_refs(q, addr, limit, out, err), out, err);
}

ds_status ds_query_root_paths(ds_query *q, uint64_t addr, bool all, size_t limit, json_t **out,
                              ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_root_paths(q, addr, all, limit, out, err), out, err);
}

ds_status ds_query_handles(ds_query *q, size_t limit, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_handles(q, limit, out, err), out, err);
}

ds_status ds_query_finalizer(ds_query *q, bool ready, bool stat_only, size_t limit, json_t **out,
                             ds_error *err) {
  return ds_query_finalizer_gen(q, ready, stat_only, -1, limit, out, err);
}

ds_status ds_query_finalizer_gen(ds_query *q, bool ready, bool stat_only, int gen, size_t limit, json_t **out,
                                 ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_finalizer(q, ready, stat_only, gen, limit, out, err), out, err);
}

ds_status ds_query_stack_objects(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_stack_objects(q, thread, out, err), out, err);
}
