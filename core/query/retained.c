/*
 * retained.c: questions about the dominator tree the analysis stored (DS_SEC_IDOM,
 * DS_SEC_RETAINED, DS_SEC_TYPE_RETAINED): an object's retained size and immediate dominator, the
 * objects one object dominates (or the top of the tree) ranked by retained size, and the types
 * ranked by the bytes their instances dominate. The sections are large, so their values are
 * checked where they are read (an immediate dominator outside the object table is no dominator).
 */
#include "dumpscope/query.h"

#include <stdlib.h>
#include <string.h>

#include "queryint.h"

/* The sections, or false (an index without them, or a damaged one: err says which). */
static bool dominator_sections(ds_query *q, const uint32_t **idom, const uint64_t **retained, ds_error *err) {
  ds__view vi = ds__section_view(q->idx, DS_SEC_IDOM, 4), vr = ds__section_view(q->idx, DS_SEC_RETAINED, 8);
  if (vi.count != q->n || vr.count != q->n || !q->n) {
    ds_error_set(err, DS_E_NOT_FOUND, "this index has no dominator tree (built by an older dumpscope?); rebuild it");
    return false;
  }
  if (!ds__need(q, DS_SEC_IDOM, err) || !ds__need(q, DS_SEC_RETAINED, err))
    return false;
  *idom = vi.data;
  *retained = vr.data;
  return true;
}

uint64_t ds__retained(ds_query *q, uint32_t i) {
  const uint32_t *idom;
  const uint64_t *retained;
  ds_error ignore;
  if (i >= q->n || !dominator_sections(q, &idom, &retained, &ignore) || !ds__is_live(q, i))
    return UINT64_MAX;
  return retained[i];
}

void ds__retained_fields(ds_query *q, uint32_t i, json_t *doc) {
  const uint32_t *idom;
  const uint64_t *retained;
  ds_error ignore;
  if (i >= q->n || !dominator_sections(q, &idom, &retained, &ignore) || !ds__is_live(q, i)) {
    ds__jset(doc, "retained_size", json_null());
    ds__jset(doc, "immediate_dominator", json_null());
    return;
  }
  ds__jset(doc, "retained_size", json_integer((json_int_t)retained[i]));
  ds__jset(doc, "immediate_dominator", idom[i] < q->n ? ds__object_ref(q, idom[i]) : json_null());
}

/* A ranked entry: an object or a type with its retained size. */
typedef struct ranked {
  uint64_t key;
  uint32_t index;
} ranked;

/* Keeps the `cap` largest keys in a min-heap of *count entries. */
static void heap_offer(ranked *heap, size_t *count, size_t cap, ranked x) {
  if (*count < cap) {
    size_t k = (*count)++;
    while (k && heap[(k - 1) / 2].key > x.key) {
      heap[k] = heap[(k - 1) / 2];
      k = (k - 1) / 2;
    }
    heap[k] = x;
    return;
  }
  if (!cap || x.key <= heap[0].key)
    return;
  size_t k = 0;
  for (;;) {
    size_t c = 2 * k + 1;
    if (c >= *count)
      break;
    if (c + 1 < *count && heap[c + 1].key < heap[c].key)
      c++;
    if (heap[c].key >= x.key)
      break;
    heap[k] = heap[c];
    k = c;
  }
  heap[k] = x;
}

static int larger_first(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->key != y->key)
    return x->key > y->key ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static double percent(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0; }

/* What the roots retain: every live object's size (the report's facts hold it; else summed). */
static uint64_t reachable_bytes(ds_query *q) {
  ds__view v = ds__section_view(q->idx, DS_SEC_REPORT, sizeof(ds_index_report));
  ds_error ignore;
  if (v.count == 1 && ds__need(q, DS_SEC_REPORT, &ignore) && ((const ds_index_report *)v.data)->reachable_bytes)
    return ((const ds_index_report *)v.data)->reachable_bytes;
  return q->info->live_bytes;
}

static ds_status dominated_objects(ds_query *q, uint32_t parent, size_t limit, json_t *doc, ds_error *err) {
  const uint32_t *idom;
  const uint64_t *retained;
  if (!dominator_sections(q, &idom, &retained, err))
    return err->code;
  ranked *heap = malloc((limit ? limit : 1) * sizeof *heap);
  if (!heap)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  size_t count = 0;
  uint64_t children = 0, bytes = 0;
  for (uint64_t i = 0; i < q->n; i++) {
    uint32_t d = idom[i];
    bool child = parent == UINT32_MAX ? d == UINT32_MAX && ds__is_live(q, (uint32_t)i) : d == parent;
    if (!child)
      continue;
    children++;
    bytes += retained[i];
    heap_offer(heap, &count, limit, (ranked){retained[i], (uint32_t)i});
  }
  qsort(heap, count, sizeof *heap, larger_first);
  uint64_t whole = reachable_bytes(q);
  json_t *list = json_array();
  for (size_t k = 0; k < count; k++) {
    json_t *o = ds__object_ref(q, heap[k].index);
    ds__jset(o, "retained_size", json_integer((json_int_t)heap[k].key));
    ds__jset(o, "retained_percent", json_real(percent(heap[k].key, whole)));
    ds__jappend(list, o);
  }
  free(heap);
  ds__jset(doc, "count", json_integer((json_int_t)children));
  ds__jset(doc, "retained_size", json_integer((json_int_t)bytes));
  ds__jset(doc, "reachable_bytes", json_integer((json_int_t)whole));
  ds__jset(doc, "objects", list);
  return DS_OK;
}

static ds_status dominating_types(ds_query *q, size_t limit, json_t *doc, ds_error *err) {
  ds__view v = ds__section_view(q->idx, DS_SEC_TYPE_RETAINED, 8);
  if (v.count != q->type_count || !q->type_count)
    return ds_error_set(err, DS_E_NOT_FOUND, "this index has no retained sizes per type; rebuild it");
  if (!ds__need(q, DS_SEC_TYPE_RETAINED, err) || !ds__need(q, DS_SEC_GEN_HIST, err))
    return err->code;
  const uint64_t *by_type = v.data;
  ds__view hv = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  const ds_index_hist *hist = hv.data;
  uint64_t *count = calloc(q->type_count + 1, sizeof *count), *bytes = calloc(q->type_count + 1, sizeof *bytes);
  ranked *heap = malloc((limit ? limit : 1) * sizeof *heap);
  if (!count || !bytes || !heap) {
    free(count), free(bytes), free(heap);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  for (uint64_t h = 0; h < hv.count; h++)
    if (hist[h].type < q->type_count)
      count[hist[h].type] += hist[h].live_count, bytes[hist[h].type] += hist[h].live_bytes;
  size_t kept = 0;
  uint64_t types = 0;
  for (uint64_t t = 0; t < q->type_count; t++)
    if (by_type[t]) {
      types++;
      heap_offer(heap, &kept, limit, (ranked){by_type[t], (uint32_t)t});
    }
  qsort(heap, kept, sizeof *heap, larger_first);
  uint64_t whole = reachable_bytes(q);
  json_t *list = json_array();
  for (size_t k = 0; k < kept; k++) {
    char clr[DS_MAX_TYPE_NAME_CHARS];
    ds_type_name_clrmd(ds__type_name(q, heap[k].index), clr, sizeof clr);
    json_t *j = json_object();
    ds__jset(j, "type", ds__jstr(ds__type_name(q, heap[k].index)));
    ds__jset(j, "display_name", ds__jstr(clr));
    ds__jset(j, "count", json_integer((json_int_t)count[heap[k].index]));
    ds__jset(j, "size", json_integer((json_int_t)bytes[heap[k].index]));
    ds__jset(j, "retained_size", json_integer((json_int_t)heap[k].key));
    ds__jset(j, "retained_percent", json_real(percent(heap[k].key, whole)));
    ds__jappend(list, j);
  }
  free(count), free(bytes), free(heap);
  ds__jset(doc, "count", json_integer((json_int_t)types));
  ds__jset(doc, "reachable_bytes", json_integer((json_int_t)whole));
  ds__jset(doc, "types", list);
  return DS_OK;
}

static ds_status query_dominators(ds_query *q, uint64_t parent, bool by_type, size_t limit, json_t **out,
                                  ds_error *err) {
  if (!ds__require_objects(q, err))
    return err->code;
  if (!limit || limit > DS_MAX_PAGE_OBJECTS)
    limit = DS_MAX_PAGE_OBJECTS;
  json_t *doc = json_object();
  ds_status rc;
  if (by_type) {
    if (parent)
      rc = ds_error_set(err, DS_E_ARG, "by=type lists types; it takes no parent");
    else
      rc = dominating_types(q, limit, doc, err);
  } else {
    uint32_t p = UINT32_MAX;
    if (parent) {
      p = ds_query_find(q, parent, false);
      if (p == UINT32_MAX) {
        json_decref(doc);
        return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)parent);
      }
    }
    ds__jset(doc, "parent", p == UINT32_MAX ? json_null() : ds__object_ref(q, p));
    if (p != UINT32_MAX)
      ds__retained_fields(q, p, json_object_get(doc, "parent"));
    rc = dominated_objects(q, p, limit, doc, err);
  }
  if (rc != DS_OK) {
    json_decref(doc);
    return rc;
  }
  *out = doc;
  return DS_OK;
}

ds_status ds_query_dominators(ds_query *q, uint64_t parent, bool by_type, size_t limit, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_dominators(q, parent, by_type, limit, out, err), out, err);
}
