/*
 * objects.c: questions about objects and the heap's shape, answered from the index (and the
 * dump's memory for values): per-type statistics and filtered listings, one object with its
 * fields or elements, the generation of an address, fragmentation and the pinned objects that
 * cause it, strings (search and duplicates), and the index summary.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

/* ---- filters -------------------------------------------------------------------------------- */

static bool type_passes(const ds_query *q, uint32_t t, const ds_object_filter *f) {
  if (t >= q->type_count)
    return false;
  const ds_index_type *ty = &q->types[t];
  if (f->free_only)
    return ty->flags & DS_TYPE_FREE;
  if (f->no_strings && (ty->flags & DS_TYPE_STRING))
    return false;
  if (f->type_text && *f->type_text) {
    const char *name = ds_index_string(q->idx, ty->name);
    char clr[DS_MAX_TYPE_NAME_CHARS];
    ds_type_name_clrmd(name, clr, sizeof clr);
    if (f->type_exact)
      return strcmp(name, f->type_text) == 0 || strcmp(clr, f->type_text) == 0;
    return strstr(name, f->type_text) || strstr(clr, f->type_text);
  }
  return true;
}

static bool object_passes(const ds_query *q, uint32_t i, const ds_object_filter *f, const uint8_t *type_ok) {
  if (q->type[i] >= q->type_count || !type_ok[q->type[i]])
    return false;
  uint64_t s = ds__obj_size(q, i);
  if (s < f->min_size || (f->max_size && s > f->max_size))
    return false;
  if (f->liveness == DS_LIVE_ONLY && !ds__is_live(q, i))
    return false;
  if (f->liveness == DS_DEAD_ONLY && ds__is_live(q, i))
    return false;
  return true;
}

static uint8_t *type_mask(const ds_query *q, const ds_object_filter *f) {
  uint8_t *ok = calloc(q->type_count ? q->type_count : 1, 1);
  for (uint64_t t = 0; ok && t < q->type_count; t++)
    ok[t] = type_passes(q, (uint32_t)t, f);
  return ok;
}

/* ---- stats and listings --------------------------------------------------------------------- */

typedef struct stat_row {
  uint32_t type;
  uint64_t count, bytes;
} stat_row;

typedef struct sort_ctx {
  ds_sort sort;
  const ds_query *q;
} sort_ctx;

static int compare_stat(const void *a, const void *b, void *ctx) {
  const stat_row *x = a, *y = b;
  const sort_ctx *c = ctx;
  if (c->sort == DS_SORT_NAME)
    return strcmp(ds__type_name(c->q, x->type), ds__type_name(c->q, y->type));
  uint64_t kx = c->sort == DS_SORT_COUNT ? x->count : x->bytes, ky = c->sort == DS_SORT_COUNT ? y->count : y->bytes;
  if (kx != ky)
    return kx > ky ? -1 : 1;
  return x->type < y->type ? -1 : x->type > y->type;
}

/* Calls fn for each object index of generation gen (or all) in address order. */
#define FOR_EACH_OBJECT_IN_GEN(q, gen_, i, body)                                                        \
  for (uint64_t s_ = 0; s_ < (q)->seg_count; s_++) {                                                  \
    const ds_index_segment *seg_ = &(q)->segs[s_];                                                    \
    if ((gen_) >= 0 && seg_->gen != (gen_))                                                           \
      continue;                                                                                       \
    uint64_t lo_ = seg_->first_object, hi_ = lo_ + seg_->object_count;                                \
    if (hi_ > (q)->n)                                                                                 \
      hi_ = (q)->n;                                                                                   \
    for (uint64_t ii_ = lo_; ii_ < hi_; ii_++) {                                                      \
      uint32_t i = (uint32_t)ii_;                                                                     \
      body                                                                                            \
    }                                                                                                 \
  }

/* Per-type counts straight from the index's per-(generation, type) histogram, when no size filter
 * applies: O(types) instead of O(objects), which is what makes /gen/{gen} cost microseconds. The
 * histogram sums the 32-bit size column, so an index with objects of 4 GiB or more takes the walk. */
static bool stats_from_histogram(ds_query *q, const ds_object_filter *f, const uint8_t *ok, uint64_t *counts,
                                 uint64_t *bytes) {
  ds_error ignored;
  if (f->min_size || f->max_size || q->big_count || !ds__need(q, DS_SEC_GEN_HIST, &ignored))
    return false;
  ds__view view = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  const ds_index_hist *hist = view.data;
  if (!hist || (view.count == 0 && q->n > 0))
    return false; /* an index without the histogram (a hand-made or older one): walk */
  for (uint64_t h = 0; h < view.count; h++) {
    const ds_index_hist *row = &hist[h];
    if ((f->gen >= 0 && row->gen != (uint32_t)f->gen) || row->type >= q->type_count || !ok[row->type])
      continue;
    uint64_t c = row->count, b = row->bytes;
    if (f->liveness == DS_LIVE_ONLY) {
      c = row->live_count;
      b = row->live_bytes;
    } else if (f->liveness == DS_DEAD_ONLY) {
      c = row->count >= row->live_count ? row->count - row->live_count : 0;
      b = row->bytes >= row->live_bytes ? row->bytes - row->live_bytes : 0;
    }
    counts[row->type] += c;
    bytes[row->type] += b;
  }
  return true;
}

static ds_status query_stats(ds_query *q, const ds_object_filter *f, ds_sort sort, size_t limit, json_t **out,
                         ds_error *err) {
  if (!ds__require_objects(q, err))
    return err->code;
  uint8_t *ok = type_mask(q, f);
  uint64_t *counts = calloc(q->type_count + 1, sizeof *counts), *bytes = calloc(q->type_count + 1, sizeof *bytes);
  stat_row *rows = NULL;
  ds_status rc = DS_OK;
  if (!ok || !counts || !bytes) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory");
    goto out;
  }
  uint64_t total_count = 0, total_bytes = 0;
  if (!stats_from_histogram(q, f, ok, counts, bytes)) {
    FOR_EACH_OBJECT_IN_GEN(q, f->gen, i, {
      if (object_passes(q, i, f, ok)) {
        counts[q->type[i]]++;
        bytes[q->type[i]] += ds__obj_size(q, i);
      }
    })
  }
  size_t nrows = 0;
  rows = calloc(q->type_count + 1, sizeof *rows);
  if (!rows) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory");
    goto out;
  }
  for (uint64_t t = 0; t < q->type_count; t++)
    if (counts[t]) {
      rows[nrows++] = (stat_row){(uint32_t)t, counts[t], bytes[t]};
      total_count += counts[t];
      total_bytes += bytes[t];
    }
  sort_ctx sc = {sort, q};
  if (nrows)
    qsort_r(rows, nrows, sizeof *rows, compare_stat, &sc);
  json_t *doc = json_object(), *arr = json_array();
  for (size_t r = 0; r < nrows && (!limit || r < limit); r++) {
    json_t *row = json_object();
    char clr[DS_MAX_TYPE_NAME_CHARS];
    const char *name = ds__type_name(q, rows[r].type);
    ds_type_name_clrmd(name, clr, sizeof clr);
    ds__jset(row, "type", ds__jstr(name));
    ds__jset(row, "display_name", ds__jstr(clr));
    ds__jset(row, "mt", ds__json_hex(q->types[rows[r].type].mt));
    ds__jset(row, "count", json_integer((json_int_t)rows[r].count));
    ds__jset(row, "total_size", json_integer((json_int_t)rows[r].bytes));
    ds__jappend(arr, row);
  }
  ds__jset(doc, "generation", f->gen >= 0 ? ds__jstr(ds_gen_name((ds_gen)f->gen)) : ds__jstr("all"));
  ds__jset(doc, "type_count", json_integer((json_int_t)nrows));
  ds__jset(doc, "object_count", json_integer((json_int_t)total_count));
  ds__jset(doc, "total_size", json_integer((json_int_t)total_bytes));
  ds__jset(doc, "types", arr);
  *out = doc;
out:
  free(ok);
  free(counts);
  free(bytes);
  free(rows);
  return rc;
}

static ds_status query_objects(ds_query *q, const ds_object_filter *f, uint64_t after, size_t limit, json_t **out,
                           ds_error *err) {
  if (!ds__require_objects(q, err))
    return err->code;
  uint8_t *ok = type_mask(q, f);
  if (!ok)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  if (!limit || limit > DS_MAX_PAGE_OBJECTS)
    limit = DS_MAX_PAGE_OBJECTS;
  json_t *doc = json_object(), *arr = json_array();
  size_t emitted = 0;
  uint64_t last = 0;
  bool more = false;
  FOR_EACH_OBJECT_IN_GEN(q, f->gen, i, {
    if (more)
      break;
    if (q->addr[i] <= after || !object_passes(q, i, f, ok))
      continue;
    if (emitted == limit) {
      more = true;
      break;
    }
    json_t *o = ds__object_ref(q, i);
    ds__jset(o, "generation", ds__jstr(ds_gen_name((ds_gen)seg_->gen)));
    ds__jset(o, "live", json_boolean(ds__is_live(q, i)));
    ds__jappend(arr, o);
    emitted++;
    last = q->addr[i];
  })
  ds__jset(doc, "objects", arr);
  ds__jset(doc, "next_cursor", more ? ds__json_hex(last) : json_null());
  free(ok);
  *out = doc;
  return DS_OK;
}

json_t *ds__value_at(ds_query *q, uint64_t where, uint32_t element_type) {
  if (!q->dump)
    return json_null();
  uint8_t raw[8] = {0};
  switch (element_type) {
  case 0x2: return ds_dump_read_exact(q->dump, where, raw, 1) ? json_boolean(raw[0]) : json_null();
  case 0x3: case 0x7: { uint16_t v; return ds_dump_read_exact(q->dump, where, &v, 2) ? json_integer(v) : json_null(); }
  case 0x4: { int8_t v; return ds_dump_read_exact(q->dump, where, &v, 1) ? json_integer(v) : json_null(); }
  case 0x5: return ds_dump_read_exact(q->dump, where, raw, 1) ? json_integer(raw[0]) : json_null();
  case 0x6: { int16_t v; return ds_dump_read_exact(q->dump, where, &v, 2) ? json_integer(v) : json_null(); }
  case 0x8: { int32_t v; return ds_dump_read_exact(q->dump, where, &v, 4) ? json_integer(v) : json_null(); }
  case 0x9: { uint32_t v; return ds_dump_read_exact(q->dump, where, &v, 4) ? json_integer(v) : json_null(); }
  case 0xa: case 0x18: { int64_t v; return ds_dump_read_exact(q->dump, where, &v, 8) ? json_integer(v) : json_null(); }
  case 0xb: case 0x19: case 0xf: case 0x1b: { uint64_t v; return ds_dump_read_exact(q->dump, where, &v, 8) ? json_integer((json_int_t)v) : json_null(); }
  case 0xc: { float v; return ds_dump_read_exact(q->dump, where, &v, 4) ? json_real(v) : json_null(); }
  case 0xd: { double v; return ds_dump_read_exact(q->dump, where, &v, 8) ? json_real(v) : json_null(); }
  case 0x11: return json_pack("{s:s,s:o}", "kind", "struct", "address", ds__json_hex(where));
  default: {
    uint64_t v;
    if (!ds_dump_read_u64(q->dump, where, &v))
      return json_null();
    if (!v)
      return json_null();
    json_t *r = json_object();
    ds__jset(r, "address", ds__json_hex(v));
    uint32_t t = ds_query_find(q, v, false);
    if (t != UINT32_MAX) {
      ds__jset(r, "type", ds__jstr(ds__type_name(q, q->type[t])));
      const ds_index_type *ty = ds__type_of(q, t);
      if (ty && (ty->flags & DS_TYPE_STRING)) {
        int64_t len;
        char *s = ds__read_string(q, v, 256, &len);
        if (s)
          ds__jset(r, "string", ds__jstr(s));
        free(s);
      }
    }
    return r;
  }
  }
}

static ds_status query_object(ds_query *q, uint64_t addr, size_t element_offset, size_t element_limit, json_t **out,
                          ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_FIELDS, err))
    return err->code;
  uint32_t i = ds_query_find(q, addr, false);
  if (i == UINT32_MAX) {
    uint32_t c = ds_query_find(q, addr, true);
    if (c != UINT32_MAX)
      return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is inside object 0x%llx (%s), not at its start",
                          (unsigned long long)addr, (unsigned long long)q->addr[c], ds__type_name(q, q->type[c]));
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)addr);
  }
  const ds_index_type *t = ds__type_of(q, i);
  json_t *doc = ds__object_ref(q, i);
  char clr[DS_MAX_TYPE_NAME_CHARS];
  ds_type_name_clrmd(ds__type_name(q, q->type[i]), clr, sizeof clr);
  ds__jset(doc, "display_name", ds__jstr(clr));
  ds__jset(doc, "mt", ds__json_hex(t ? t->mt : 0));
  int g = ds__gen_of(q, i);
  ds__jset(doc, "generation", ds__jstr(g >= 0 ? ds_gen_name((ds_gen)g) : "unknown"));
  ds__jset(doc, "live", json_boolean(ds__is_live(q, i)));
  ds__retained_fields(q, i, doc);
  if (!q->dump)
    ds__jset(doc, "values", ds__jstr("unavailable: the dump file is not accessible"));
  if (t && (t->flags & DS_TYPE_STRING)) {
    int64_t len;
    char *s = ds__read_string(q, q->addr[i], DS_MAX_OBJECT_STRING_CHARS, &len);
    ds__jset(doc, "length", json_integer(len));
    if (s)
      ds__jset(doc, "string", ds__jstr(s));
    ds__jset(doc, "truncated", json_boolean(len > DS_MAX_OBJECT_STRING_CHARS));
    free(s);
  } else if (t && (t->flags & DS_TYPE_ARRAY)) {
    uint32_t length = 0;
    if (q->dump)
      ds_layout_read_length(q->layout, q->dump, q->addr[i], &length);
    ds__jset(doc, "length", json_integer(length));
    ds__jset(doc, "element_type",
                        ds__jstr(t->element_type_index < q->type_count ? ds__type_name(q, t->element_type_index) : ""));
    if (!element_limit || element_limit > DS_MAX_ARRAY_ELEMENTS)
      element_limit = element_limit ? DS_MAX_ARRAY_ELEMENTS : 20;
    json_t *elems = json_array();
    uint32_t esz = t->component_size ? t->component_size : 8;
    for (uint64_t k = element_offset; k < length && k < element_offset + element_limit; k++) {
      uint64_t where = ds_layout_element(q->layout, q->addr[i], k, esz);
      uint32_t et = t->element_type;
      if (et == 0x11)
        ds__jappend(elems, json_pack("{s:s,s:o}", "kind", "struct", "address", ds__json_hex(where)));
      else
        ds__jappend(elems, ds__value_at(q, where, et ? et : 0x12));
    }
    ds__jset(doc, "element_offset", json_integer((json_int_t)element_offset));
    ds__jset(doc, "elements", elems);
  } else if (t) {
    json_t *fields = json_array();
    for (uint32_t f = 0; f < t->field_count; f++) {
      uint64_t fi = (uint64_t)t->field_start + f;
      if (fi >= q->field_count)
        break;
      const ds_index_field *fd = &q->fields[fi];
      json_t *jf = json_object();
      ds__jset(jf, "name", ds__jstr(ds_index_string(q->idx, fd->name)));
      ds__jset(jf, "type", ds__jstr(ds_index_string(q->idx, fd->type_name)));
      ds__jset(jf, "offset", json_integer(fd->offset));
      ds__jset(jf, "value", fd->offset < ds__obj_size(q, i) ? ds__value_at(q, q->addr[i] + fd->offset, fd->element_type)
                                                                  : json_null());
      ds__jappend(fields, jf);
    }
    ds__jset(doc, "fields", fields);
  }
  *out = doc;
  return DS_OK;
}

static ds_status query_gcgen(ds_query *q, uint64_t addr, json_t **out, ds_error *err) {
  const ds_index_segment *s = ds__segment_of(q, addr);
  if (!s)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not in the GC heap", (unsigned long long)addr);
  json_t *doc = json_object();
  ds__jset(doc, "address", ds__json_hex(addr));
  ds__jset(doc, "generation", ds__jstr(ds_gen_name((ds_gen)s->gen)));
  ds__jset(doc, "heap", json_integer(s->heap));
  ds__jset(doc, "segment", ds__json_hex(s->descriptor));
  ds__jset(doc, "segment_start", ds__json_hex(s->start));
  ds__jset(doc, "segment_end", ds__json_hex(s->end));
  if (ds__require_objects(q, err)) {
    uint32_t i = ds_query_find(q, addr, true);
    if (i != UINT32_MAX)
      ds__jset(doc, "object", ds__object_ref(q, i));
  }
  *out = doc;
  return DS_OK;
}

static ds_status query_fragmentation(ds_query *q, size_t limit, uint64_t holder_mt, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_ROOTS, err))
    return err->code;
  if (!ds__build_rooted(q))
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  if (!limit)
    limit = 100;
  if (!ds__need(q, DS_SEC_FREE, err) || !ds__need(q, DS_SEC_GEN_HIST, err))
    return err->code;
  ds__view free_view = ds__section_view(q->idx, DS_SEC_FREE, 4);
  ds__view hist_view = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  const uint32_t *free_list = free_view.data;
  const ds_index_hist *hist = hist_view.data;
  uint64_t free_size = free_view.count, hist_size = hist_view.count;
  uint64_t count[DS_GEN_COUNT] = {0}, bytes[DS_GEN_COUNT] = {0}, largest[DS_GEN_COUNT] = {0},
           total[DS_GEN_COUNT] = {0};
  for (uint64_t h = 0; h < hist_size; h++)
    if (hist[h].gen < DS_GEN_COUNT)
      total[hist[h].gen] += hist[h].bytes;
  json_t *holders = json_array();
  uint64_t holder_count = 0, holder_gap_bytes = 0;
  for (uint64_t k = 0; k < free_size; k++) {
    uint32_t i = free_list[k];
    if (i >= q->n)
      continue;
    const ds_index_segment *seg = ds__segment_of(q, q->addr[i]);
    if (!seg || seg->gen >= DS_GEN_COUNT)
      continue;
    uint64_t size = ds_layout_aligned(q->layout, ds__obj_size(q, i));
    count[seg->gen]++;
    bytes[seg->gen] += size;
    if (size > largest[seg->gen])
      largest[seg->gen] = size;
    /* the object right after a gap: if pinned, it is what keeps the gap from being compacted */
    uint64_t seg_end = (uint64_t)seg->first_object + seg->object_count;
    if ((uint64_t)i + 1 < seg_end && (uint64_t)i + 1 < q->n && !(ds__type_of(q, i + 1) && (ds__type_of(q, i + 1)->flags & DS_TYPE_FREE)) &&
        ds__is_pinned(q, i + 1) && (!holder_mt || (ds__type_of(q, i + 1) && ds__type_of(q, i + 1)->mt == holder_mt))) {
      holder_count++;
      holder_gap_bytes += size;
      if (json_array_size(holders) < limit) {
        json_t *h = ds__object_ref(q, i + 1);
        ds__jset(h, "gap_before", json_integer((json_int_t)size));
        ds__jset(h, "gap_start", ds__json_hex(q->addr[i]));
        ds__jset(h, "generation", ds__jstr(ds_gen_name((ds_gen)seg->gen)));
        ds__jappend(holders, h);
      }
    }
  }
  json_t *doc = json_object(), *gens = json_array();
  for (int g = 0; g < DS_GEN_COUNT; g++) {
    if (!total[g])
      continue;
    ds__jappend(gens, json_pack("{s:s,s:I,s:I,s:I,s:I,s:f}", "generation", ds_gen_name((ds_gen)g),
                                          "free_blocks", (json_int_t)count[g], "free_bytes", (json_int_t)bytes[g],
                                          "largest_free_block", (json_int_t)largest[g], "generation_bytes",
                                          (json_int_t)total[g], "fragmentation", (double)bytes[g] / (double)total[g]));
  }
  ds__jset(doc, "generations", gens);
  ds__jset(doc, "pinned_gap_holders_count", json_integer((json_int_t)holder_count));
  ds__jset(doc, "pinned_gap_bytes", json_integer((json_int_t)holder_gap_bytes));
  if (holder_mt)
    ds__jset(doc, "holder_mt", ds__json_hex(holder_mt));
  ds__jset(doc, "pinned_gap_holders", holders);
  *out = doc;
  return DS_OK;
}

/* ---- strings ------------------------------------------------------------------------------------ */

typedef struct dup_entry {
  uint64_t hash;
  uint32_t first, count;
  uint64_t bytes;
} dup_entry;

static uint64_t hash_bytes(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 1099511628211ull;
  return h ? h : 1;
}

static int compare_dup(const void *a, const void *b) {
  const dup_entry *x = a, *y = b;
  uint64_t wx = x->bytes - x->bytes / x->count, wy = y->bytes - y->bytes / y->count;
  if (wx != wy)
    return wx > wy ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

static ds_status query_strings(ds_query *q, const char *contains, size_t min_length, bool duplicates, size_t limit,
                           json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err))
    return err->code;
  if (!q->dump)
    return ds_error_set(err, DS_E_IO, "string values need the dump file, which is not accessible");
  uint32_t st = q->info->string_type;
  if (!limit)
    limit = 100;
  json_t *doc = json_object(), *list = json_array();
  uint64_t matched = 0, matched_bytes = 0;
  /* duplicates: open addressing on content hash (verified by comparing contents) */
  size_t cap = 1024, used = 0;
  dup_entry *table = duplicates ? calloc(cap, sizeof *table) : NULL;
  if (duplicates && !table)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  for (uint64_t ii = 0; ii < q->n; ii++) {
    uint32_t i = (uint32_t)ii;
    if (q->type[i] != st)
      continue;
    uint32_t len = 0;
    if (!ds__string_length(q, q->addr[i], &len) || len < min_length)
      continue;
    if (contains && *contains) {
      int64_t l;
      char *s = ds__read_string(q, q->addr[i], DS_MAX_STRING_READ_CHARS, &l);
      bool hit = s && strstr(s, contains);
      free(s);
      if (!hit)
        continue;
    }
    matched++;
    matched_bytes += ds__obj_size(q, i);
    if (!duplicates) {
      if (json_array_size(list) < limit) {
        int64_t l;
        char *s = ds__read_string(q, q->addr[i], 1024, &l);
        json_t *o = ds__object_ref(q, i);
        ds__jset(o, "length", json_integer(l));
        ds__jset(o, "value", ds__jstr(s ? s : ""));
        ds__jappend(list, o);
        free(s);
      }
      continue;
    }
    uint64_t avail;
    const uint8_t *chars = ds_dump_span(q->dump, ds_layout_chars(q->layout, q->addr[i]), &avail);
    uint8_t *copy = NULL;
    if (!chars || avail < (uint64_t)len * 2) {
      copy = malloc((size_t)len * 2 + 1);
      if (!copy || !ds_dump_read_exact(q->dump, ds_layout_chars(q->layout, q->addr[i]), copy, (size_t)len * 2)) {
        free(copy);
        continue;
      }
      chars = copy;
    }
    uint64_t h = hash_bytes(chars, (size_t)len * 2) ^ len;
    if ((used + 1) * 2 > cap) {
      size_t ncap = cap * 2;
      dup_entry *nt = calloc(ncap, sizeof *nt);
      if (!nt) {
        free(copy);
        free(table);
        json_decref(doc);
        json_decref(list);
        return ds_error_set(err, DS_E_NOMEM, "out of memory grouping strings");
      }
      for (size_t k = 0; k < cap; k++)
        if (table[k].count) {
          size_t p = table[k].hash & (ncap - 1);
          while (nt[p].count)
            p = (p + 1) & (ncap - 1);
          nt[p] = table[k];
        }
      free(table);
      table = nt;
      cap = ncap;
    }
    size_t p = h & (cap - 1);
    for (;;) {
      if (!table[p].count) {
        table[p] = (dup_entry){h, i, 1, ds__obj_size(q, i)};
        used++;
        break;
      }
      if (table[p].hash == h) {
        /* same hash: confirm same content */
        uint32_t other = table[p].first, olen = 0;
        ds__string_length(q, q->addr[other], &olen);
        bool same = olen == len;
        if (same) {
          uint8_t *ob = malloc((size_t)len * 2 + 1);
          same = ob && ds_dump_read_exact(q->dump, ds_layout_chars(q->layout, q->addr[other]), ob, (size_t)len * 2) &&
                 memcmp(ob, chars, (size_t)len * 2) == 0;
          free(ob);
        }
        if (same) {
          table[p].count++;
          table[p].bytes += ds__obj_size(q, i);
          break;
        }
      }
      p = (p + 1) & (cap - 1);
    }
    free(copy);
  }
  ds__jset(doc, "matched", json_integer((json_int_t)matched));
  ds__jset(doc, "matched_bytes", json_integer((json_int_t)matched_bytes));
  if (duplicates) {
    size_t groups = 0;
    for (size_t k = 0; k < cap; k++)
      if (table[k].count > 1)
        table[groups++] = table[k];
    if (groups)
      qsort(table, groups, sizeof *table, compare_dup);
    uint64_t wasted_total = 0;
    for (size_t g = 0; g < groups; g++) {
      uint64_t wasted = table[g].bytes - table[g].bytes / table[g].count;
      wasted_total += wasted;
      if (g >= limit)
        continue;
      int64_t l;
      char *s = ds__read_string(q, q->addr[table[g].first], 1024, &l);
      ds__jappend(list, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "value", s ? s : "", "length", (json_int_t)l,
                                            "count", (json_int_t)table[g].count, "total_size",
                                            (json_int_t)table[g].bytes, "wasted_bytes", (json_int_t)wasted,
                                            "example", ds__json_hex(q->addr[table[g].first])));
      free(s);
    }
    ds__jset(doc, "duplicate_groups", json_integer((json_int_t)groups));
    ds__jset(doc, "wasted_bytes", json_integer((json_int_t)wasted_total));
    ds__jset(doc, "duplicates", list);
    free(table);
  } else {
    ds__jset(doc, "strings", list);
  }
  *out = doc;
  return DS_OK;
}

static ds_status query_summary(ds_query *q, json_t **out, ds_error *err) {
  const ds_index_info *in = q->info;
  json_t *doc = json_object();
  ds__jset(doc, "runtime_version", ds__jstr(ds_index_string(q->idx, in->runtime_version)));
  ds__jset(doc, "dump", ds__jstr(ds_index_string(q->idx, in->dump_path)));
  ds__jset(doc, "dump_available", json_boolean(q->dump != NULL));
  ds__jset(doc, "server_gc", json_boolean(in->server_gc));
  ds__jset(doc, "regions", json_boolean(in->regions));
  ds__jset(doc, "heap_count", json_integer(in->heap_count));
  ds__jset(doc, "heap_walkable", json_boolean(in->gc_structures_valid));
  ds__jset(doc, "objects", json_integer((json_int_t)in->object_count));
  ds__jset(doc, "references", json_integer((json_int_t)in->edge_count));
  ds__jset(doc, "types", json_integer((json_int_t)in->type_count));
  ds__jset(doc, "roots", json_integer((json_int_t)in->root_count));
  ds__jset(doc, "heap_bytes", json_integer((json_int_t)in->heap_bytes));
  ds__jset(doc, "free_bytes", json_integer((json_int_t)in->free_bytes));
  ds__jset(doc, "live_objects", json_integer((json_int_t)in->live_objects));
  ds__jset(doc, "live_bytes", json_integer((json_int_t)in->live_bytes));
  ds__jset(doc, "heap_errors", json_integer(in->heap_error_count));
  ds__jset(doc, "build_ms", json_integer((json_int_t)in->build_ms));
  (void)err;
  *out = doc;
  return DS_OK;
}

/* The GC heap's shape: per generation its segments (or regions), reserved range, objects, bytes,
 * free and live bytes (from the histogram), and every segment (SOS !eeheap -gc). */
static ds_status query_heap(ds_query *q, json_t **out, ds_error *err) {
  if (!ds__need(q, DS_SEC_GEN_HIST, err))
    return err->code;
  uint64_t segs[DS_GEN_COUNT] = {0}, range[DS_GEN_COUNT] = {0}, objects[DS_GEN_COUNT] = {0},
           bytes[DS_GEN_COUNT] = {0}, live[DS_GEN_COUNT] = {0}, free_bytes[DS_GEN_COUNT] = {0};
  json_t *list = json_array();
  for (uint64_t s = 0; s < q->seg_count; s++) {
    const ds_index_segment *seg = &q->segs[s];
    if (seg->gen < DS_GEN_COUNT) {
      segs[seg->gen]++;
      range[seg->gen] += seg->end - seg->start;
    }
    json_t *j = json_object();
    ds__jset(j, "heap", json_integer(seg->heap));
    ds__jset(j, "generation", ds__jstr(seg->gen < DS_GEN_COUNT ? ds_gen_name((ds_gen)seg->gen) : "unknown"));
    ds__jset(j, "start", ds__json_hex(seg->start));
    ds__jset(j, "end", ds__json_hex(seg->end));
    ds__jset(j, "descriptor", ds__json_hex(seg->descriptor));
    ds__jset(j, "ephemeral", json_boolean(seg->ephemeral));
    ds__jset(j, "objects", json_integer(seg->object_count));
    ds__jappend(list, j);
  }
  ds__view view = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  const ds_index_hist *hist = view.data;
  for (uint64_t h = 0; hist && h < view.count; h++) {
    if (hist[h].gen >= DS_GEN_COUNT)
      continue;
    objects[hist[h].gen] += hist[h].count;
    bytes[hist[h].gen] += hist[h].bytes;
    live[hist[h].gen] += hist[h].live_bytes;
    if (hist[h].type == q->info->free_type)
      free_bytes[hist[h].gen] += hist[h].bytes;
  }
  json_t *gens = json_array();
  for (int g = 0; g < DS_GEN_COUNT; g++) {
    json_t *j = json_object();
    ds__jset(j, "generation", ds__jstr(ds_gen_name((ds_gen)g)));
    ds__jset(j, "segments", json_integer((json_int_t)segs[g]));
    ds__jset(j, "segment_bytes", json_integer((json_int_t)range[g]));
    ds__jset(j, "objects", json_integer((json_int_t)objects[g]));
    ds__jset(j, "object_bytes", json_integer((json_int_t)bytes[g]));
    ds__jset(j, "free_bytes", json_integer((json_int_t)free_bytes[g]));
    ds__jset(j, "live_bytes", json_integer((json_int_t)live[g]));
    ds__jappend(gens, j);
  }
  json_t *doc = json_object();
  ds__jset(doc, "server_gc", json_boolean(q->info->server_gc));
  ds__jset(doc, "regions", json_boolean(q->info->regions));
  ds__jset(doc, "heap_count", json_integer(q->info->heap_count));
  ds__jset(doc, "generations", gens);
  ds__jset(doc, "segment_count", json_integer((json_int_t)q->seg_count));
  ds__jset(doc, "segments", list);
  *out = doc;
  return DS_OK;
}

/* ---- the public queries: each document is complete, or an error ---------------------------------- */

ds_status ds_query_heap(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_heap(q, out, err), out, err);
}

ds_status ds_query_stats(ds_query *q, const ds_object_filter *f, ds_sort sort, size_t limit, json_t **out,
                         ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_stats(q, f, sort, limit, out, err), out, err);
}

ds_status ds_query_objects(ds_query *q, const ds_object_filter *f, uint64_t after, size_t limit,
                           json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_objects(q, f, after, limit, out, err), out, err);
}

ds_status ds_query_object(ds_query *q, uint64_t addr, size_t element_offset, size_t element_limit,
                          json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_object(q, addr, element_offset, element_limit, out, err), out, err);
}

ds_status ds_query_gcgen(ds_query *q, uint64_t addr, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_gcgen(q, addr, out, err), out, err);
}

ds_status ds_query_fragmentation(ds_query *q, size_t limit, json_t **out, ds_error *err) {
  return ds_query_fragmentation_of(q, limit, 0, out, err);
}

ds_status ds_query_fragmentation_of(ds_query *q, size_t limit, uint64_t holder_mt, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_fragmentation(q, limit, holder_mt, out, err), out, err);
}

ds_status ds_query_strings(ds_query *q, const char *contains, size_t min_length, bool duplicates,
                           size_t limit, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_strings(q, contains, min_length, duplicates, limit, out, err), out, err);
}

ds_status ds_query_summary(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_summary(q, out, err), out, err);
}
