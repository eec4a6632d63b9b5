/*
 * diff.c: the comparison of two dumps of one application (before and after growth), from their
 * indexes: per type, instances, bytes and retained bytes in each, and the growth, largest first.
 *
 * Types are matched by name (the same type has another MethodTable in another process); the
 * rows of one name are added up (a generic instantiation loaded twice). Counts and bytes are of
 * all objects, as the histograms hold them; retained bytes are the dominator tree's per-type
 * sizes, when both indexes have them. O(types log types) from the histogram sections.
 */
#include "dumpscope/query.h"

#include <stdlib.h>
#include <string.h>

#include "queryint.h"

typedef struct type_sum {
  const char *name;
  uint64_t count, bytes, retained;
} type_sum;

static int by_name(const void *a, const void *b) {
  return strcmp(((const type_sum *)a)->name, ((const type_sum *)b)->name);
}

/* Per-name totals of one index, sorted by name: *out (malloc'd) and its length. */
static ds_status sums_of(ds_query *q, type_sum **out, size_t *count, bool *with_retained, ds_error *err) {
  *out = NULL;
  *count = 0;
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_GEN_HIST, err))
    return err->code;
  ds__view hv = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  ds__view rv = ds__section_view(q->idx, DS_SEC_TYPE_RETAINED, 8);
  ds_error ignore;
  *with_retained = rv.count == q->type_count && q->type_count && ds__need(q, DS_SEC_TYPE_RETAINED, &ignore);
  const ds_index_hist *hist = hv.data;
  const uint64_t *retained = *with_retained ? rv.data : NULL;
  type_sum *sums = calloc(q->type_count + 1, sizeof *sums);
  if (!sums)
    return ds_error_set(err, DS_E_NOMEM, "out of memory comparing dumps");
  for (uint64_t t = 0; t < q->type_count; t++)
    sums[t] = (type_sum){ds__type_name(q, (uint32_t)t), 0, 0, retained ? retained[t] : 0};
  for (uint64_t h = 0; h < hv.count; h++)
    if (hist[h].type < q->type_count) {
      sums[hist[h].type].count += hist[h].count;
      sums[hist[h].type].bytes += hist[h].bytes;
    }
  size_t n = 0;
  for (uint64_t t = 0; t < q->type_count; t++) /* free space is not a type */
    if ((sums[t].count || sums[t].retained) && !(q->types[t].flags & DS_TYPE_FREE))
      sums[n++] = sums[t];
  if (n)
    qsort(sums, n, sizeof *sums, by_name);
  size_t merged = 0; /* one row per name */
  for (size_t i = 0; i < n; i++) {
    if (merged && strcmp(sums[merged - 1].name, sums[i].name) == 0) {
      sums[merged - 1].count += sums[i].count;
      sums[merged - 1].bytes += sums[i].bytes;
      sums[merged - 1].retained += sums[i].retained;
    } else {
      sums[merged++] = sums[i];
    }
  }
  *out = sums;
  *count = merged;
  return DS_OK;
}

typedef struct diff_row {
  const char *name;
  type_sum before, after;
  int64_t key;
} diff_row;

static int larger_growth(const void *a, const void *b) {
  const diff_row *x = a, *y = b;
  if (x->key != y->key)
    return x->key > y->key ? -1 : 1;
  return strcmp(x->name, y->name);
}

static json_t *side_json(ds_query *q, const type_sum *sums, size_t n) {
  uint64_t objects = 0, bytes = 0;
  for (size_t i = 0; i < n; i++)
    objects += sums[i].count, bytes += sums[i].bytes;
  const ds_index_info *in = q->info;
  return json_pack("{s:o,s:o,s:I,s:I,s:I}", "dump", ds__jstr(ds_index_string(q->idx, in->dump_path)), "runtime_version",
                   ds__jstr(ds_index_string(q->idx, in->runtime_version)), "objects", (json_int_t)objects, "bytes",
                   (json_int_t)bytes, "live_bytes", (json_int_t)in->live_bytes);
}

static json_t *row_json(const diff_row *r, bool with_retained) {
  char clr[DS_MAX_TYPE_NAME_CHARS];
  ds_type_name_clrmd(r->name, clr, sizeof clr);
  json_t *j = json_object();
  ds__jset(j, "type", ds__jstr(r->name));
  ds__jset(j, "display_name", ds__jstr(clr));
  ds__jset(j, "count_before", json_integer((json_int_t)r->before.count));
  ds__jset(j, "count_after", json_integer((json_int_t)r->after.count));
  ds__jset(j, "count_growth", json_integer((json_int_t)r->after.count - (json_int_t)r->before.count));
  ds__jset(j, "bytes_before", json_integer((json_int_t)r->before.bytes));
  ds__jset(j, "bytes_after", json_integer((json_int_t)r->after.bytes));
  ds__jset(j, "bytes_growth", json_integer((json_int_t)r->after.bytes - (json_int_t)r->before.bytes));
  if (with_retained) {
    ds__jset(j, "retained_before", json_integer((json_int_t)r->before.retained));
    ds__jset(j, "retained_after", json_integer((json_int_t)r->after.retained));
    ds__jset(j, "retained_growth", json_integer((json_int_t)r->after.retained - (json_int_t)r->before.retained));
  }
  return j;
}

/* Merge-joins the two sorted lists into rows keyed by the growth asked for. */
static diff_row *join(const type_sum *a, size_t na, const type_sum *b, size_t nb, ds_diff_sort sort, size_t *count) {
  diff_row *rows = calloc(na + nb + 1, sizeof *rows);
  size_t i = 0, k = 0, n = 0;
  while (rows && (i < na || k < nb)) {
    int c = i == na ? 1 : k == nb ? -1 : strcmp(a[i].name, b[k].name);
    diff_row r = {.name = c <= 0 ? a[i].name : b[k].name};
    if (c <= 0)
      r.before = a[i++];
    if (c >= 0)
      r.after = b[k++];
    int64_t dc = (int64_t)r.after.count - (int64_t)r.before.count, db = (int64_t)r.after.bytes - (int64_t)r.before.bytes,
            dr = (int64_t)r.after.retained - (int64_t)r.before.retained;
    r.key = sort == DS_DIFF_COUNT ? dc : sort == DS_DIFF_RETAINED ? dr : db;
    if (dc || db || dr)
      rows[n++] = r;
  }
  *count = n;
  return rows;
}

static ds_status query_diff(ds_query *before, ds_query *after, ds_diff_sort sort, size_t limit, json_t **out,
                            ds_error *err) {
  type_sum *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  bool ra = false, rb = false;
  ds_status rc;
  if ((rc = sums_of(before, &a, &na, &ra, err)) != DS_OK || (rc = sums_of(after, &b, &nb, &rb, err)) != DS_OK) {
    free(a);
    return rc;
  }
  bool with_retained = ra && rb;
  if (sort == DS_DIFF_RETAINED && !with_retained) {
    free(a), free(b);
    return ds_error_set(err, DS_E_ARG, "sort=retained needs retained sizes in both indexes; rebuild the older one");
  }
  size_t n = 0;
  diff_row *rows = join(a, na, b, nb, sort, &n);
  if (!rows) {
    free(a), free(b);
    return ds_error_set(err, DS_E_NOMEM, "out of memory comparing dumps");
  }
  if (n)
    qsort(rows, n, sizeof *rows, larger_growth);
  json_t *doc = json_object(), *list = json_array();
  int64_t objects = 0, bytes = 0;
  for (size_t k = 0; k < n; k++) {
    objects += (int64_t)rows[k].after.count - (int64_t)rows[k].before.count;
    bytes += (int64_t)rows[k].after.bytes - (int64_t)rows[k].before.bytes;
    if (k < limit)
      ds__jappend(list, row_json(&rows[k], with_retained));
  }
  static const char *const sorts[] = {"bytes", "count", "retained"};
  ds__jset(doc, "before", side_json(before, a, na));
  ds__jset(doc, "after", side_json(after, b, nb));
  ds__jset(doc, "objects_growth", json_integer((json_int_t)objects));
  ds__jset(doc, "bytes_growth", json_integer((json_int_t)bytes));
  ds__jset(doc, "sort", ds__jstr(sorts[sort]));
  ds__jset(doc, "type_count", json_integer((json_int_t)n));
  ds__jset(doc, "types", list);
  free(rows);
  free(a);
  free(b);
  *out = doc;
  return DS_OK;
}

ds_status ds_query_diff(ds_query *before, ds_query *after, ds_diff_sort sort, size_t limit, json_t **out,
                        ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_diff(before, after, sort, limit, out, err), out, err);
}
