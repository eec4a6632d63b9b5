/*
 * query.c: every question answered from the heap index (and the dump's memory for values).
 *
 * The index is untrusted input too: every index, offset and count read from it is checked
 * against the section sizes before use, so a damaged index gives a wrong-looking answer or an
 * error, never a read out of bounds.
 */
#include "dumpscope/query.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/heap.h"
#include "dumpscope/roots.h"

struct ds_query {
  ds_index *idx;
  ds_dump *dump;             /* NULL when the dump is not available */
  const ds_index_info *info;
  uint64_t n, e;
  const uint64_t *addr;
  const uint32_t *type, *size, *out_off, *out_edge, *in_off, *in_edge, *finalizable;
  const uint64_t *live;
  const ds_index_type *types;
  uint64_t type_count;
  const ds_index_field *fields;
  uint64_t field_count;
  const ds_index_segment *segs;
  uint64_t seg_count;
  const ds_index_root *roots;
  uint64_t root_count;
  const ds_index_thread *threads;
  uint64_t thread_count;
  const ds_index_frame *frames;
  uint64_t frame_count;
  uint64_t finalizable_count;
  const ds_index_big_size *big;
  uint64_t big_count;
  /* rooted objects, sorted by object: (object, root index) pairs, built on first root query */
  uint64_t *rooted;
  size_t rooted_count;
  pthread_mutex_t rooted_lock; /* queries may run on several threads of the daemon */
};

static json_t *hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return json_string(buf);
}

/* Requires and maps one section; false with err set on checksum failure. */
static bool need(ds_query *q, ds_section_id id, ds_error *err) {
  return ds_index_require(q->idx, id, err) == DS_OK;
}

ds_status ds_query_open(const char *index_path, const char *dump_path, ds_query **out, ds_error *err) {
  *out = NULL;
  ds_query *q = calloc(1, sizeof *q);
  if (!q)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  pthread_mutex_init(&q->rooted_lock, NULL);
  ds_status rc = ds_index_open(index_path, &q->idx, err);
  if (rc != DS_OK) {
    pthread_mutex_destroy(&q->rooted_lock);
    free(q);
    return rc;
  }
  q->info = ds_index_get_info(q->idx);
  q->n = q->info->object_count;
  q->e = q->info->edge_count;
  uint64_t sz;
  q->addr = ds_index_section(q->idx, DS_SEC_OBJ_ADDR, &sz);
  q->type = ds_index_section(q->idx, DS_SEC_OBJ_TYPE, &sz);
  q->size = ds_index_section(q->idx, DS_SEC_OBJ_SIZE, &sz);
  q->out_off = ds_index_section(q->idx, DS_SEC_OUT_OFF, &sz);
  q->out_edge = ds_index_section(q->idx, DS_SEC_OUT_EDGE, &sz);
  q->in_off = ds_index_section(q->idx, DS_SEC_IN_OFF, &sz);
  q->in_edge = ds_index_section(q->idx, DS_SEC_IN_EDGE, &sz);
  q->live = ds_index_section(q->idx, DS_SEC_LIVE, &sz);
  q->types = ds_index_section(q->idx, DS_SEC_TYPES, &q->type_count);
  q->type_count /= sizeof(ds_index_type);
  q->fields = ds_index_section(q->idx, DS_SEC_FIELDS, &q->field_count);
  q->field_count /= sizeof(ds_index_field);
  q->segs = ds_index_section(q->idx, DS_SEC_SEGMENTS, &q->seg_count);
  q->seg_count /= sizeof(ds_index_segment);
  q->roots = ds_index_section(q->idx, DS_SEC_ROOTS, &q->root_count);
  q->root_count /= sizeof(ds_index_root);
  q->threads = ds_index_section(q->idx, DS_SEC_THREADS, &q->thread_count);
  q->thread_count /= sizeof(ds_index_thread);
  q->frames = ds_index_section(q->idx, DS_SEC_FRAMES, &q->frame_count);
  q->frame_count /= sizeof(ds_index_frame);
  q->finalizable = ds_index_section(q->idx, DS_SEC_FINALIZABLE, &q->finalizable_count);
  q->finalizable_count /= 4;
  q->big = ds_index_section(q->idx, DS_SEC_BIG_SIZES, &q->big_count);
  q->big_count /= sizeof(ds_index_big_size);
  if (!q->addr || !q->type || !q->size || !q->out_off || !q->in_off || !q->live || !q->types || !q->segs) {
    ds_query_close(q);
    return ds_error_set(err, DS_E_CORRUPT, "index %s lacks a required section; rebuild it", index_path);
  }
  const char *path = dump_path ? dump_path : ds_index_string(q->idx, q->info->dump_path);
  ds_error ignore = {0};
  if (path && *path && ds_dump_open(path, &q->dump, &ignore) != DS_OK)
    q->dump = NULL;
  if (dump_path && !q->dump) {
    ds_query_close(q);
    return ds_error_set(err, ignore.code ? ignore.code : DS_E_IO, "%s", ignore.message);
  }
  *out = q;
  return DS_OK;
}

void ds_query_close(ds_query *q) {
  if (!q)
    return;
  ds_dump_close(q->dump);
  ds_index_close(q->idx);
  free(q->rooted);
  pthread_mutex_destroy(&q->rooted_lock);
  free(q);
}

ds_index *ds_query_index(ds_query *q) { return q->idx; }

/* ---- small helpers ------------------------------------------------------------------------ */

static uint64_t obj_size(const ds_query *q, uint32_t i) {
  uint32_t s = q->size[i];
  if (s != UINT32_MAX)
    return s;
  for (uint64_t b = 0; b < q->big_count; b++)
    if (q->big[b].object == i)
      return q->big[b].size;
  return s;
}

static const ds_index_type *type_of(const ds_query *q, uint32_t i) {
  uint32_t t = q->type[i];
  return t < q->type_count ? &q->types[t] : NULL;
}

static const char *type_name(const ds_query *q, uint32_t t) {
  return t < q->type_count ? ds_index_string(q->idx, q->types[t].name) : "<bad type>";
}

static bool is_live(const ds_query *q, uint32_t i) { return q->live[i >> 6] >> (i & 63) & 1; }

static const ds_index_segment *segment_of_addr(const ds_query *q, uint64_t addr) {
  size_t lo = 0, hi = q->seg_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addr < q->segs[mid].start)
      hi = mid;
    else if (addr >= q->segs[mid].end)
      lo = mid + 1;
    else
      return &q->segs[mid];
  }
  return NULL;
}

static int gen_of(const ds_query *q, uint32_t i) {
  const ds_index_segment *s = segment_of_addr(q, q->addr[i]);
  return s ? s->gen : -1;
}

uint32_t ds_query_find(ds_query *q, uint64_t addr, bool interior) {
  size_t lo = 0, hi = q->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (q->addr[mid] <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0)
    return UINT32_MAX;
  uint32_t i = (uint32_t)(lo - 1);
  if (q->addr[i] == addr)
    return i;
  if (interior && addr < q->addr[i] + ((obj_size(q, i) + 7) & ~7ull))
    return i;
  return UINT32_MAX;
}

/* CSR range of object i, clamped to the edge array. */
static void csr(const uint32_t *off, uint64_t e, uint32_t i, uint32_t *lo, uint32_t *hi) {
  *lo = off[i];
  *hi = off[i + 1];
  if (*hi > e)
    *hi = (uint32_t)e;
  if (*lo > *hi)
    *lo = *hi;
}

static json_t *object_ref(const ds_query *q, uint32_t i) {
  json_t *o = json_object();
  json_object_set_new(o, "address", hex(q->addr[i]));
  json_object_set_new(o, "type", json_string(type_name(q, q->type[i])));
  json_object_set_new(o, "size", json_integer((json_int_t)obj_size(q, i)));
  return o;
}

static char *read_string(ds_query *q, uint64_t addr, size_t max_chars, int64_t *length);

/* Which field (or array element) of object `from` holds a reference to `to`. */
static void field_holding(ds_query *q, uint32_t from, uint32_t to, char *out, size_t out_len) {
  const ds_index_type *t = type_of(q, from);
  uint64_t target = q->addr[to];
  snprintf(out, out_len, "?");
  if (!t || !q->dump) {
    if (!q->dump)
      snprintf(out, out_len, "(dump not available)");
    return;
  }
  uint64_t base = q->addr[from], size = obj_size(q, from);
  if (t->flags & DS_TYPE_ARRAY) {
    uint32_t length = 0;
    if (!ds_dump_read_u32(q->dump, base + 8, &length))
      return;
    uint32_t esz = t->component_size ? t->component_size : 8;
    uint64_t data = base + 16, avail = 0;
    const uint8_t *mem = ds_dump_span(q->dump, data, &avail);
    if (mem && avail < (uint64_t)length * esz)
      mem = NULL;
    if (mem && esz == 8 && length > 64) {
      /* arrays filled in allocation order are usually sorted by address: try a binary search
       * (verified by the hit itself) before any scan */
      uint64_t lo = 0, hi = length;
      while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, v;
        memcpy(&v, mem + mid * 8, 8);
        if (v == target) {
          snprintf(out, out_len, "[%llu]", (unsigned long long)mid);
          return;
        }
        if (v < target) lo = mid + 1; else hi = mid;
      }
    }
    uint64_t from_k = 0;
    if (esz == 8 && q->out_edge) {
      /* the builder recorded an array's references in element order, skipping nulls: the
       * target's position among them is a lower bound of its element index */
      uint32_t lo, hi;
      csr(q->out_off, q->e, from, &lo, &hi);
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
          if (esz == 8)
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
  for (uint64_t off = 8; off + 8 <= size; off += 8) {
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
  snprintf(out, out_len, "(dependent handle)");
}

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
  uint64_t s = obj_size(q, i);
  if (s < f->min_size || (f->max_size && s > f->max_size))
    return false;
  if (f->liveness == DS_LIVE_ONLY && !is_live(q, i))
    return false;
  if (f->liveness == DS_DEAD_ONLY && is_live(q, i))
    return false;
  return true;
}

static uint8_t *type_mask(const ds_query *q, const ds_object_filter *f) {
  uint8_t *ok = calloc(q->type_count ? q->type_count : 1, 1);
  for (uint64_t t = 0; ok && t < q->type_count; t++)
    ok[t] = type_passes(q, (uint32_t)t, f);
  return ok;
}

static bool require_objects(ds_query *q, ds_error *err) {
  return need(q, DS_SEC_OBJ_ADDR, err) && need(q, DS_SEC_OBJ_TYPE, err) && need(q, DS_SEC_OBJ_SIZE, err) &&
         need(q, DS_SEC_LIVE, err);
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
    return strcmp(type_name(c->q, x->type), type_name(c->q, y->type));
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

ds_status ds_query_stats(ds_query *q, const ds_object_filter *f, ds_sort sort, size_t limit, json_t **out,
                         ds_error *err) {
  if (!require_objects(q, err))
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
  FOR_EACH_OBJECT_IN_GEN(q, f->gen, i, {
    if (object_passes(q, i, f, ok)) {
      counts[q->type[i]]++;
      bytes[q->type[i]] += obj_size(q, i);
    }
  })
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
    const char *name = type_name(q, rows[r].type);
    ds_type_name_clrmd(name, clr, sizeof clr);
    json_object_set_new(row, "type", json_string(name));
    json_object_set_new(row, "display_name", json_string(clr));
    json_object_set_new(row, "mt", hex(q->types[rows[r].type].mt));
    json_object_set_new(row, "count", json_integer((json_int_t)rows[r].count));
    json_object_set_new(row, "total_size", json_integer((json_int_t)rows[r].bytes));
    json_array_append_new(arr, row);
  }
  json_object_set_new(doc, "generation", f->gen >= 0 ? json_string(ds_gen_name((ds_gen)f->gen)) : json_string("all"));
  json_object_set_new(doc, "type_count", json_integer((json_int_t)nrows));
  json_object_set_new(doc, "object_count", json_integer((json_int_t)total_count));
  json_object_set_new(doc, "total_size", json_integer((json_int_t)total_bytes));
  json_object_set_new(doc, "types", arr);
  *out = doc;
out:
  free(ok);
  free(counts);
  free(bytes);
  free(rows);
  return rc;
}

ds_status ds_query_objects(ds_query *q, const ds_object_filter *f, uint64_t after, size_t limit, json_t **out,
                           ds_error *err) {
  if (!require_objects(q, err))
    return err->code;
  uint8_t *ok = type_mask(q, f);
  if (!ok)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  if (!limit || limit > 10000)
    limit = 10000;
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
    json_t *o = object_ref(q, i);
    json_object_set_new(o, "generation", json_string(ds_gen_name((ds_gen)seg_->gen)));
    json_object_set_new(o, "live", json_boolean(is_live(q, i)));
    json_array_append_new(arr, o);
    emitted++;
    last = q->addr[i];
  })
  json_object_set_new(doc, "objects", arr);
  json_object_set_new(doc, "next_cursor", more ? hex(last) : json_null());
  free(ok);
  *out = doc;
  return DS_OK;
}

/* ---- one object ------------------------------------------------------------------------------ */

static char *read_string(ds_query *q, uint64_t addr, size_t max_chars, int64_t *length) {
  uint32_t len = 0;
  *length = -1;
  if (!q->dump || !ds_dump_read_u32(q->dump, addr + 8, &len))
    return NULL;
  *length = len;
  size_t want = len < max_chars ? len : max_chars;
  uint16_t *chars = malloc((want + 1) * 2);
  char *utf8 = malloc(want * 3 + 1);
  if (!chars || !utf8 || !ds_dump_read_exact(q->dump, addr + 12, chars, want * 2)) {
    free(chars);
    free(utf8);
    return NULL;
  }
  ds_utf16_to_utf8(chars, want, false, utf8, want * 3 + 1);
  free(chars);
  return utf8;
}

/* A field's value read from the dump, as JSON. */
static json_t *value_at(ds_query *q, uint64_t where, uint32_t element_type) {
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
  case 0x11: return json_pack("{s:s,s:o}", "kind", "struct", "address", hex(where));
  default: {
    uint64_t v;
    if (!ds_dump_read_u64(q->dump, where, &v))
      return json_null();
    if (!v)
      return json_null();
    json_t *r = json_object();
    json_object_set_new(r, "address", hex(v));
    uint32_t t = ds_query_find(q, v, false);
    if (t != UINT32_MAX) {
      json_object_set_new(r, "type", json_string(type_name(q, q->type[t])));
      const ds_index_type *ty = type_of(q, t);
      if (ty && (ty->flags & DS_TYPE_STRING)) {
        int64_t len;
        char *s = read_string(q, v, 256, &len);
        if (s)
          json_object_set_new(r, "string", json_string(s));
        free(s);
      }
    }
    return r;
  }
  }
}

ds_status ds_query_object(ds_query *q, uint64_t addr, size_t element_offset, size_t element_limit, json_t **out,
                          ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_FIELDS, err))
    return err->code;
  uint32_t i = ds_query_find(q, addr, false);
  if (i == UINT32_MAX) {
    uint32_t c = ds_query_find(q, addr, true);
    if (c != UINT32_MAX)
      return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is inside object 0x%llx (%s), not at its start",
                          (unsigned long long)addr, (unsigned long long)q->addr[c], type_name(q, q->type[c]));
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)addr);
  }
  const ds_index_type *t = type_of(q, i);
  json_t *doc = object_ref(q, i);
  char clr[DS_MAX_TYPE_NAME_CHARS];
  ds_type_name_clrmd(type_name(q, q->type[i]), clr, sizeof clr);
  json_object_set_new(doc, "display_name", json_string(clr));
  json_object_set_new(doc, "mt", hex(t ? t->mt : 0));
  int g = gen_of(q, i);
  json_object_set_new(doc, "generation", json_string(g >= 0 ? ds_gen_name((ds_gen)g) : "unknown"));
  json_object_set_new(doc, "live", json_boolean(is_live(q, i)));
  if (!q->dump)
    json_object_set_new(doc, "values", json_string("unavailable: the dump file is not accessible"));
  if (t && (t->flags & DS_TYPE_STRING)) {
    int64_t len;
    char *s = read_string(q, q->addr[i], 1 << 16, &len);
    json_object_set_new(doc, "length", json_integer(len));
    if (s)
      json_object_set_new(doc, "string", json_string(s));
    json_object_set_new(doc, "truncated", json_boolean(len > (1 << 16)));
    free(s);
  } else if (t && (t->flags & DS_TYPE_ARRAY)) {
    uint32_t length = 0;
    if (q->dump)
      ds_dump_read_u32(q->dump, q->addr[i] + 8, &length);
    json_object_set_new(doc, "length", json_integer(length));
    json_object_set_new(doc, "element_type",
                        json_string(t->element_type_index < q->type_count ? type_name(q, t->element_type_index) : ""));
    if (!element_limit || element_limit > 1000)
      element_limit = element_limit ? 1000 : 20;
    json_t *elems = json_array();
    uint32_t esz = t->component_size ? t->component_size : 8;
    for (uint64_t k = element_offset; k < length && k < element_offset + element_limit; k++) {
      uint64_t where = q->addr[i] + 16 + k * esz;
      uint32_t et = t->element_type;
      if (et == 0x11)
        json_array_append_new(elems, json_pack("{s:s,s:o}", "kind", "struct", "address", hex(where)));
      else
        json_array_append_new(elems, value_at(q, where, et ? et : 0x12));
    }
    json_object_set_new(doc, "element_offset", json_integer((json_int_t)element_offset));
    json_object_set_new(doc, "elements", elems);
  } else if (t) {
    json_t *fields = json_array();
    for (uint32_t f = 0; f < t->field_count; f++) {
      uint64_t fi = (uint64_t)t->field_start + f;
      if (fi >= q->field_count)
        break;
      const ds_index_field *fd = &q->fields[fi];
      json_t *jf = json_object();
      json_object_set_new(jf, "name", json_string(ds_index_string(q->idx, fd->name)));
      json_object_set_new(jf, "type", json_string(ds_index_string(q->idx, fd->type_name)));
      json_object_set_new(jf, "offset", json_integer(fd->offset));
      json_object_set_new(jf, "value", fd->offset < obj_size(q, i) ? value_at(q, q->addr[i] + fd->offset, fd->element_type)
                                                                  : json_null());
      json_array_append_new(fields, jf);
    }
    json_object_set_new(doc, "fields", fields);
  }
  *out = doc;
  return DS_OK;
}

/* ---- references ------------------------------------------------------------------------------ */

ds_status ds_query_refs(ds_query *q, uint64_t addr, size_t limit, json_t **out, ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_OUT_OFF, err) || !need(q, DS_SEC_OUT_EDGE, err) ||
      !need(q, DS_SEC_IN_OFF, err) || !need(q, DS_SEC_IN_EDGE, err) || !need(q, DS_SEC_FIELDS, err))
    return err->code;
  uint32_t i = ds_query_find(q, addr, false);
  if (i == UINT32_MAX)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)addr);
  if (!limit || limit > 100000)
    limit = limit ? 100000 : 1000;
  json_t *doc = object_ref(q, i), *in = json_array(), *outs = json_array();
  uint32_t lo, hi;
  csr(q->in_off, q->e, i, &lo, &hi);
  json_object_set_new(doc, "referenced_by_count", json_integer(hi - lo));
  for (uint32_t e = lo; e < hi && e - lo < limit; e++) {
    uint32_t from = q->in_edge[e];
    if (from >= q->n)
      continue;
    char field[256];
    field_holding(q, from, i, field, sizeof field);
    json_t *r = object_ref(q, from);
    json_object_set_new(r, "field", json_string(field));
    json_array_append_new(in, r);
  }
  csr(q->out_off, q->e, i, &lo, &hi);
  json_object_set_new(doc, "references_count", json_integer(hi - lo));
  for (uint32_t e = lo; e < hi && e - lo < limit; e++) {
    uint32_t to = q->out_edge[e];
    if (to >= q->n)
      continue;
    char field[256];
    field_holding(q, i, to, field, sizeof field);
    json_t *r = object_ref(q, to);
    json_object_set_new(r, "field", json_string(field));
    json_array_append_new(outs, r);
  }
  json_object_set_new(doc, "referenced_by", in);
  json_object_set_new(doc, "references", outs);
  *out = doc;
  return DS_OK;
}

/* ---- roots ------------------------------------------------------------------------------------ */

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* (object << 32 | root index), sorted: which objects are roots and by which records. */
static bool build_rooted(ds_query *q) {
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

static json_t *root_json(const ds_query *q, uint32_t r) {
  const ds_index_root *root = &q->roots[r];
  json_t *j = json_object();
  json_object_set_new(j, "kind", json_string(ds_root_kind_name((ds_root_kind)root->kind)));
  json_object_set_new(j, "address", hex(root->address));
  json_object_set_new(j, "pinned", json_boolean(root->pinned));
  if (root->interior)
    json_object_set_new(j, "interior_pointer", hex(root->raw_object));
  if (root->kind == DS_ROOT_HANDLE_REFCOUNTED)
    json_object_set_new(j, "ref_count", json_integer(root->ref_count));
  if (root->thread < q->thread_count) {
    const ds_index_thread *t = &q->threads[root->thread];
    json_object_set_new(j, "thread", json_pack("{s:i,s:i}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id));
  }
  if (root->frame < q->frame_count) {
    const ds_index_frame *f = &q->frames[root->frame];
    json_object_set_new(j, "frame", json_pack("{s:s,s:o,s:o}", "method", ds_index_string(q->idx, f->method), "sp",
                                              hex(f->sp), "ip", hex(f->ip)));
  }
  return j;
}

ds_status ds_query_root_paths(ds_query *q, uint64_t addr, bool all, size_t limit, json_t **out, ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_IN_OFF, err) || !need(q, DS_SEC_IN_EDGE, err) ||
      !need(q, DS_SEC_OUT_OFF, err) || !need(q, DS_SEC_OUT_EDGE, err) || !need(q, DS_SEC_ROOTS, err) || !need(q, DS_SEC_FIELDS, err) || !need(q, DS_SEC_FRAMES, err) ||
      !need(q, DS_SEC_THREADS, err))
    return err->code;
  uint32_t target = ds_query_find(q, addr, false);
  if (target == UINT32_MAX)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not an object on the GC heap", (unsigned long long)addr);
  if (!build_rooted(q))
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  if (!limit || limit > 1000)
    limit = limit ? 1000 : 100;
  json_t *doc = object_ref(q, target);
  json_object_set_new(doc, "live", json_boolean(is_live(q, target)));
  json_t *paths = json_array();
  json_object_set_new(doc, "paths", paths);
  *out = doc;
  if (!is_live(q, target))
    return DS_OK; /* unreachable: no path, and no need to search */
  /* Breadth-first search backwards over incoming references: the first rooted object met gives
   * the shortest path. parent[x] = the object x references on the way to the target. */
  uint32_t *parent = malloc(q->n * sizeof *parent);
  uint64_t *seen = calloc((q->n + 63) / 64, sizeof *seen);
  uint32_t *queue = malloc(q->n * sizeof *queue);
  uint8_t *root_seen = calloc(q->root_count + 1, 1);
  if (!parent || !seen || !queue || !root_seen) {
    free(parent);
    free(seen);
    free(queue);
    free(root_seen);
    return ds_error_set(err, DS_E_NOMEM, "out of memory searching root paths");
  }
  size_t head = 0, tail = 0, found = 0;
  queue[tail++] = target;
  seen[target >> 6] |= 1ull << (target & 63);
  parent[target] = UINT32_MAX;
  while (head < tail && found < limit) {
    uint32_t cur = queue[head++];
    /* every root record of cur: one path per distinct root */
    size_t lo = 0, hi = q->rooted_count;
    uint64_t key = (uint64_t)cur << 32;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (q->rooted[mid] < key) lo = mid + 1; else hi = mid;
    }
    for (; lo < q->rooted_count && (q->rooted[lo] >> 32) == cur && found < limit; lo++) {
      uint32_t r = (uint32_t)q->rooted[lo];
      if (root_seen[r])
        continue;
      root_seen[r] = 1;
      json_t *path = json_object(), *hops = json_array();
      json_object_set_new(path, "root", root_json(q, r));
      for (uint32_t x = cur; x != UINT32_MAX; x = parent[x]) {
        json_t *hop = object_ref(q, x);
        if (parent[x] != UINT32_MAX) {
          char field[256];
          field_holding(q, x, parent[x], field, sizeof field);
          json_object_set_new(hop, "via_field", json_string(field));
        }
        json_array_append_new(hops, hop);
      }
      json_object_set_new(path, "objects", hops);
      json_object_set_new(path, "length", json_integer((json_int_t)json_array_size(hops)));
      json_array_append_new(paths, path);
      found++;
      if (!all)
        break;
    }
    if (found && !all)
      break;
    uint32_t elo, ehi;
    csr(q->in_off, q->e, cur, &elo, &ehi);
    for (uint32_t e = elo; e < ehi; e++) {
      uint32_t from = q->in_edge[e];
      if (from >= q->n || (seen[from >> 6] >> (from & 63) & 1) || !is_live(q, from))
        continue;
      seen[from >> 6] |= 1ull << (from & 63);
      parent[from] = cur;
      queue[tail++] = from;
    }
  }
  json_object_set_new(doc, "truncated", json_boolean(found >= limit));
  free(parent);
  free(seen);
  free(queue);
  free(root_seen);
  return DS_OK;
}

ds_status ds_query_gcgen(ds_query *q, uint64_t addr, json_t **out, ds_error *err) {
  const ds_index_segment *s = segment_of_addr(q, addr);
  if (!s)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not in the GC heap", (unsigned long long)addr);
  json_t *doc = json_object();
  json_object_set_new(doc, "address", hex(addr));
  json_object_set_new(doc, "generation", json_string(ds_gen_name((ds_gen)s->gen)));
  json_object_set_new(doc, "heap", json_integer(s->heap));
  json_object_set_new(doc, "segment", hex(s->descriptor));
  json_object_set_new(doc, "segment_start", hex(s->start));
  json_object_set_new(doc, "segment_end", hex(s->end));
  if (require_objects(q, err)) {
    uint32_t i = ds_query_find(q, addr, true);
    if (i != UINT32_MAX)
      json_object_set_new(doc, "object", object_ref(q, i));
  }
  *out = doc;
  return DS_OK;
}

ds_status ds_query_handles(ds_query *q, size_t limit, json_t **out, ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_ROOTS, err))
    return err->code;
  if (!limit)
    limit = 1000;
  json_t *doc = json_object(), *kinds = json_object();
  uint64_t total = 0, pinned = 0;
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind > DS_ROOT_HANDLE_OTHER)
      continue;
    const char *kname = ds_root_kind_name((ds_root_kind)root->kind);
    json_t *k = json_object_get(kinds, kname);
    if (!k) {
      k = json_pack("{s:i,s:[],s:{}}", "count", 0, "handles", "by_type");
      json_object_set_new(kinds, kname, k);
    }
    json_object_set_new(k, "count", json_integer(json_integer_value(json_object_get(k, "count")) + 1));
    total++;
    if (root->pinned)
      pinned++;
    const char *tn = root->object < q->n ? type_name(q, q->type[root->object]) : "(null)";
    json_t *bt = json_object_get(json_object_get(k, "by_type"), tn);
    json_object_set_new(json_object_get(k, "by_type"), tn, json_integer(bt ? json_integer_value(bt) + 1 : 1));
    json_t *list = json_object_get(k, "handles");
    if (json_array_size(list) < limit) {
      json_t *h = json_object();
      json_object_set_new(h, "handle", hex(root->address));
      json_object_set_new(h, "object", root->object < q->n ? object_ref(q, root->object) : json_null());
      json_object_set_new(h, "pinned", json_boolean(root->pinned));
      if (root->secondary < q->n)
        json_object_set_new(h, "secondary", object_ref(q, root->secondary));
      if (root->kind == DS_ROOT_HANDLE_REFCOUNTED)
        json_object_set_new(h, "ref_count", json_integer(root->ref_count));
      json_array_append_new(list, h);
    }
  }
  json_object_set_new(doc, "total", json_integer((json_int_t)total));
  json_object_set_new(doc, "pinned", json_integer((json_int_t)pinned));
  json_object_set_new(doc, "kinds", kinds);
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
      bytes[q->type[i]] += obj_size(q, i);
    }
    total += obj_size(q, i);
    if (!stat_only && json_array_size(objs) < limit)
      json_array_append_new(objs, object_ref(q, i));
  }
  json_t *stats = json_array();
  for (uint64_t t = 0; counts && bytes && t < q->type_count; t++)
    if (counts[t])
      json_array_append_new(stats, json_pack("{s:s,s:I,s:I}", "type", type_name(q, (uint32_t)t), "count",
                                             (json_int_t)counts[t], "total_size", (json_int_t)bytes[t]));
  json_object_set_new(doc, "count", json_integer((json_int_t)count));
  json_object_set_new(doc, "total_size", json_integer((json_int_t)total));
  json_object_set_new(doc, "by_type", stats);
  if (!stat_only)
    json_object_set_new(doc, "objects", objs);
  else
    json_decref(objs);
  free(counts);
  free(bytes);
  return doc;
}

ds_status ds_query_finalizer(ds_query *q, bool ready, bool stat_only, size_t limit, json_t **out, ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_ROOTS, err) || !need(q, DS_SEC_FINALIZABLE, err))
    return err->code;
  if (!limit)
    limit = 1000;
  if (!ready) {
    *out = object_list(q, q->finalizable, q->finalizable_count, stat_only, limit);
  } else {
    uint32_t *list = malloc((q->root_count + 1) * sizeof *list);
    if (!list)
      return ds_error_set(err, DS_E_NOMEM, "out of memory");
    size_t count = 0;
    for (uint64_t r = 0; r < q->root_count; r++)
      if (q->roots[r].kind == DS_ROOT_FINALIZER_READY && q->roots[r].object < q->n)
        list[count++] = q->roots[r].object;
    *out = object_list(q, list, count, stat_only, limit);
    free(list);
  }
  json_object_set_new(*out, "queue", json_string(ready ? "ready for finalization (f-reachable)" : "finalizable"));
  bool blocked = false;
  for (uint64_t t = 0; t < q->thread_count; t++)
    if (q->threads[t].finalizer) {
      json_object_set_new(*out, "finalizer_thread", json_pack("{s:i,s:i}", "os_id", (int)q->threads[t].os_id,
                                                              "managed_id", (int)q->threads[t].managed_id));
      blocked = true;
    }
  (void)blocked;
  return DS_OK;
}

static const ds_index_thread *find_thread(const ds_query *q, uint32_t id, uint32_t *index) {
  for (uint64_t t = 0; t < q->thread_count; t++)
    if (q->threads[t].os_id == id) {
      *index = (uint32_t)t;
      return &q->threads[t];
    }
  for (uint64_t t = 0; t < q->thread_count; t++)
    if (q->threads[t].managed_id == id) {
      *index = (uint32_t)t;
      return &q->threads[t];
    }
  return NULL;
}

ds_status ds_query_stack_objects(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_ROOTS, err) || !need(q, DS_SEC_THREADS, err) ||
      !need(q, DS_SEC_FRAMES, err))
    return err->code;
  uint32_t ti;
  const ds_index_thread *t = find_thread(q, thread, &ti);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with OS id or managed id %u", thread);
  json_t *doc = json_pack("{s:i,s:i}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id);
  json_t *frames = json_array();
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    json_t *jf = json_pack("{s:s,s:o,s:o,s:[]}", "method", ds_index_string(q->idx, q->frames[fi].method), "sp",
                           hex(q->frames[fi].sp), "ip", hex(q->frames[fi].ip), "objects");
    for (uint64_t r = 0; r < q->root_count; r++) {
      const ds_index_root *root = &q->roots[r];
      if (root->kind != DS_ROOT_STACK || root->frame != fi || root->object >= q->n)
        continue;
      json_t *o = object_ref(q, root->object);
      json_object_set_new(o, "slot", hex(root->address));
      json_object_set_new(o, "pinned", json_boolean(root->pinned));
      if (root->interior)
        json_object_set_new(o, "interior_pointer", hex(root->raw_object));
      json_array_append_new(json_object_get(jf, "objects"), o);
    }
    json_array_append_new(frames, jf);
  }
  /* stack roots the walk could not attribute to a frame */
  json_t *unattributed = json_array();
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind == DS_ROOT_STACK && root->thread == ti && root->frame >= q->frame_count && root->object < q->n)
      json_array_append_new(unattributed, object_ref(q, root->object));
  }
  json_object_set_new(doc, "frames", frames);
  json_object_set_new(doc, "unattributed", unattributed);
  *out = doc;
  return DS_OK;
}

/* Is object i pinned: a pinned handle or pinned stack root, or on the POH. */
static bool pinned_object(ds_query *q, uint32_t i) {
  size_t lo = 0, hi = q->rooted_count;
  uint64_t key = (uint64_t)i << 32;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (q->rooted[mid] < key) lo = mid + 1; else hi = mid;
  }
  for (; lo < q->rooted_count && (q->rooted[lo] >> 32) == i; lo++)
    if (q->roots[(uint32_t)q->rooted[lo]].pinned)
      return true;
  return gen_of(q, i) == DS_GEN_POH;
}

ds_status ds_query_fragmentation(ds_query *q, size_t limit, json_t **out, ds_error *err) {
  if (!require_objects(q, err) || !need(q, DS_SEC_ROOTS, err))
    return err->code;
  if (!build_rooted(q))
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  if (!limit)
    limit = 100;
  if (!need(q, DS_SEC_FREE, err) || !need(q, DS_SEC_GEN_HIST, err))
    return err->code;
  uint64_t free_size, hist_size;
  const uint32_t *free_list = ds_index_section(q->idx, DS_SEC_FREE, &free_size);
  const ds_index_hist *hist = ds_index_section(q->idx, DS_SEC_GEN_HIST, &hist_size);
  free_size /= 4;
  hist_size /= sizeof *hist;
  uint64_t count[DS_GEN_COUNT] = {0}, bytes[DS_GEN_COUNT] = {0}, largest[DS_GEN_COUNT] = {0},
           total[DS_GEN_COUNT] = {0};
  for (uint64_t h = 0; h < hist_size; h++)
    if (hist[h].gen < DS_GEN_COUNT)
      total[hist[h].gen] += hist[h].bytes;
  json_t *holders = json_array();
  uint64_t holder_count = 0;
  for (uint64_t k = 0; k < free_size; k++) {
    uint32_t i = free_list[k];
    if (i >= q->n)
      continue;
    const ds_index_segment *seg = segment_of_addr(q, q->addr[i]);
    if (!seg || seg->gen >= DS_GEN_COUNT)
      continue;
    uint64_t size = (obj_size(q, i) + 7) & ~7ull;
    count[seg->gen]++;
    bytes[seg->gen] += size;
    if (size > largest[seg->gen])
      largest[seg->gen] = size;
    /* the object right after a gap: if pinned, it is what keeps the gap from being compacted */
    uint64_t seg_end = (uint64_t)seg->first_object + seg->object_count;
    if ((uint64_t)i + 1 < seg_end && (uint64_t)i + 1 < q->n && !(type_of(q, i + 1) && (type_of(q, i + 1)->flags & DS_TYPE_FREE)) &&
        pinned_object(q, i + 1)) {
      holder_count++;
      if (json_array_size(holders) < limit) {
        json_t *h = object_ref(q, i + 1);
        json_object_set_new(h, "gap_before", json_integer((json_int_t)size));
        json_object_set_new(h, "gap_start", hex(q->addr[i]));
        json_object_set_new(h, "generation", json_string(ds_gen_name((ds_gen)seg->gen)));
        json_array_append_new(holders, h);
      }
    }
  }
  json_t *doc = json_object(), *gens = json_array();
  for (int g = 0; g < DS_GEN_COUNT; g++) {
    if (!total[g])
      continue;
    json_array_append_new(gens, json_pack("{s:s,s:I,s:I,s:I,s:I,s:f}", "generation", ds_gen_name((ds_gen)g),
                                          "free_blocks", (json_int_t)count[g], "free_bytes", (json_int_t)bytes[g],
                                          "largest_free_block", (json_int_t)largest[g], "generation_bytes",
                                          (json_int_t)total[g], "fragmentation", (double)bytes[g] / (double)total[g]));
  }
  json_object_set_new(doc, "generations", gens);
  json_object_set_new(doc, "pinned_gap_holders_count", json_integer((json_int_t)holder_count));
  json_object_set_new(doc, "pinned_gap_holders", holders);
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

ds_status ds_query_strings(ds_query *q, const char *contains, size_t min_length, bool duplicates, size_t limit,
                           json_t **out, ds_error *err) {
  if (!require_objects(q, err))
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
    if (!ds_dump_read_u32(q->dump, q->addr[i] + 8, &len) || len < min_length)
      continue;
    if (contains && *contains) {
      int64_t l;
      char *s = read_string(q, q->addr[i], 1 << 20, &l);
      bool hit = s && strstr(s, contains);
      free(s);
      if (!hit)
        continue;
    }
    matched++;
    matched_bytes += obj_size(q, i);
    if (!duplicates) {
      if (json_array_size(list) < limit) {
        int64_t l;
        char *s = read_string(q, q->addr[i], 1024, &l);
        json_t *o = object_ref(q, i);
        json_object_set_new(o, "length", json_integer(l));
        json_object_set_new(o, "value", json_string(s ? s : ""));
        json_array_append_new(list, o);
        free(s);
      }
      continue;
    }
    uint64_t avail;
    const uint8_t *chars = ds_dump_span(q->dump, q->addr[i] + 12, &avail);
    uint8_t *copy = NULL;
    if (!chars || avail < (uint64_t)len * 2) {
      copy = malloc((size_t)len * 2 + 1);
      if (!copy || !ds_dump_read_exact(q->dump, q->addr[i] + 12, copy, (size_t)len * 2)) {
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
        table[p] = (dup_entry){h, i, 1, obj_size(q, i)};
        used++;
        break;
      }
      if (table[p].hash == h) {
        /* same hash: confirm same content */
        uint32_t other = table[p].first, olen = 0;
        ds_dump_read_u32(q->dump, q->addr[other] + 8, &olen);
        bool same = olen == len;
        if (same) {
          uint8_t *ob = malloc((size_t)len * 2 + 1);
          same = ob && ds_dump_read_exact(q->dump, q->addr[other] + 12, ob, (size_t)len * 2) &&
                 memcmp(ob, chars, (size_t)len * 2) == 0;
          free(ob);
        }
        if (same) {
          table[p].count++;
          table[p].bytes += obj_size(q, i);
          break;
        }
      }
      p = (p + 1) & (cap - 1);
    }
    free(copy);
  }
  json_object_set_new(doc, "matched", json_integer((json_int_t)matched));
  json_object_set_new(doc, "matched_bytes", json_integer((json_int_t)matched_bytes));
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
      char *s = read_string(q, q->addr[table[g].first], 1024, &l);
      json_array_append_new(list, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "value", s ? s : "", "length", (json_int_t)l,
                                            "count", (json_int_t)table[g].count, "total_size",
                                            (json_int_t)table[g].bytes, "wasted_bytes", (json_int_t)wasted,
                                            "example", hex(q->addr[table[g].first])));
      free(s);
    }
    json_object_set_new(doc, "duplicate_groups", json_integer((json_int_t)groups));
    json_object_set_new(doc, "wasted_bytes", json_integer((json_int_t)wasted_total));
    json_object_set_new(doc, "duplicates", list);
    free(table);
  } else {
    json_object_set_new(doc, "strings", list);
  }
  *out = doc;
  return DS_OK;
}

/* ---- threads, locks, waits, deadlocks -------------------------------------------------------- */

/* Thread::ThreadState bits, as SOS !clrthreads decodes them (threads.h). */
static json_t *thread_state_words(uint32_t state) {
  static const struct { uint32_t bit; const char *word; } words[] = {
      {0x1, "abort requested"},      {0x2, "GC suspend pending"},   {0x4, "user suspend pending"},
      {0x8, "debug suspend pending"}, {0x20, "legal to join"},      {0x200, "background"},
      {0x400, "unstarted"},          {0x800, "dead"},               {0x1000, "we own"},
      {0x4000, "STA"},               {0x8000, "MTA"},               {0x10000, "report dead"},
      {0x20000, "fully initialized"}, {0x80000, "sync suspended"},  {0x100000, "debug will sync"},
      {0x400000, "suspend unstarted"}, {0x800000, "aborted"},       {0x1000000, "thread pool worker"},
      {0x2000000, "interruptible"},  {0x4000000, "interrupted"},    {0x8000000, "completion port"},
      {0x10000000, "abort initiated"}, {0x20000000, "finalized"},   {0x40000000, "failed to start"},
      {0x80000000u, "detached"},
  };
  json_t *list = json_array();
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (state & words[i].bit)
      json_array_append_new(list, json_string(words[i].word));
  return list;
}

/* Reads an instance field of object i by name into a u64 (size 1, 2, 4 or 8 bytes). */
static bool field_value(ds_query *q, uint32_t i, const char *const *names, uint32_t size, uint64_t *out) {
  const ds_index_type *t = type_of(q, i);
  if (!t || !q->dump)
    return false;
  for (uint32_t f = 0; f < t->field_count; f++) {
    uint64_t fi = (uint64_t)t->field_start + f;
    if (fi >= q->field_count)
      break;
    const char *fname = ds_index_string(q->idx, q->fields[fi].name);
    for (const char *const *n = names; *n; n++)
      if (strcmp(fname, *n) == 0) {
        *out = 0;
        return ds_dump_read_exact(q->dump, q->addr[i] + q->fields[fi].offset, out, size);
      }
  }
  return false;
}

static json_t *thread_ref(const ds_query *q, uint32_t t) {
  if (t >= q->thread_count)
    return json_null();
  return json_pack("{s:i,s:i}", "os_id", (int)q->threads[t].os_id, "managed_id", (int)q->threads[t].managed_id);
}

static uint32_t thread_by_managed_id(const ds_query *q, uint64_t id) {
  for (uint64_t t = 0; id && t < q->thread_count; t++)
    if (q->threads[t].managed_id == id)
      return (uint32_t)t;
  return UINT32_MAX;
}

/* The monitor record of an object (the section is sorted by address), or NULL. */
static const ds_index_monitor *monitor_of(const ds_query *q, uint64_t addr) {
  uint64_t size;
  const ds_index_monitor *m = ds_index_section(q->idx, DS_SEC_MONITORS, &size);
  size_t lo = 0, hi = size / sizeof *m;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m[mid].address < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < size / sizeof *m && m[lo].address == addr ? &m[lo] : NULL;
}

typedef enum wait_kind {
  WAIT_NONE = 0, WAIT_SLEEP, WAIT_MONITOR_WAIT, WAIT_HANDLE, WAIT_JOIN, WAIT_MONITOR, WAIT_EVENT, WAIT_SEMAPHORE,
  WAIT_LOCK, WAIT_RWLOCK, WAIT_TASK,
} wait_kind;

static const char *wait_kind_name(wait_kind k) {
  static const char *const names[] = {"none", "sleep", "monitor wait (condition)", "wait handle", "thread join",
                                      "monitor", "event", "semaphore", "lock", "reader-writer lock", "task"};
  return names[k];
}

/* Blocking APIs by the method names the DAC gives frames. Higher kinds win when several frames
 * match (SemaphoreSlim.Wait blocks in Monitor.Wait; Task.Wait in ManualResetEventSlim.Wait). */
static wait_kind classify_frame(const char *m, const char **mode) {
  static const struct { const char *needle; wait_kind kind; const char *mode; } table[] = {
      {"System.Threading.Tasks.Task.Wait", WAIT_TASK, NULL},
      {"System.Threading.Tasks.Task.InternalWait", WAIT_TASK, NULL},
      {"System.Threading.Tasks.Task.SpinThenBlockingWait", WAIT_TASK, NULL},
      {"System.Runtime.CompilerServices.TaskAwaiter", WAIT_TASK, NULL},
      {"System.Threading.Tasks.Task`1.GetResultCore", WAIT_TASK, NULL},
      {"ReaderWriterLockSlim.TryEnterReadLock", WAIT_RWLOCK, "read"},
      {"ReaderWriterLockSlim.EnterReadLock", WAIT_RWLOCK, "read"},
      {"ReaderWriterLockSlim.TryEnterUpgradeableReadLock", WAIT_RWLOCK, "upgrade"},
      {"ReaderWriterLockSlim.EnterUpgradeableReadLock", WAIT_RWLOCK, "upgrade"},
      {"ReaderWriterLockSlim.TryEnterWriteLock", WAIT_RWLOCK, "write"},
      {"ReaderWriterLockSlim.EnterWriteLock", WAIT_RWLOCK, "write"},
      {"System.Threading.Lock.Enter", WAIT_LOCK, NULL},
      {"System.Threading.Lock.TryEnter", WAIT_LOCK, NULL},
      {"System.Threading.SemaphoreSlim.Wait", WAIT_SEMAPHORE, NULL},
      {"System.Threading.ManualResetEventSlim.Wait", WAIT_EVENT, NULL},
      {"System.Threading.Monitor.Enter", WAIT_MONITOR, NULL},
      {"System.Threading.Monitor.ReliableEnter", WAIT_MONITOR, NULL},
      {"System.Threading.Monitor.TryEnter", WAIT_MONITOR, NULL},
      {"System.Threading.Thread.Join", WAIT_JOIN, NULL},
      {"System.Threading.WaitHandle.Wait", WAIT_HANDLE, NULL},
      {"System.Threading.Monitor.Wait", WAIT_MONITOR_WAIT, NULL},
      {"System.Threading.Thread.Sleep", WAIT_SLEEP, NULL},
  };
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strstr(m, table[i].needle)) {
      *mode = table[i].mode;
      return table[i].kind;
    }
  return WAIT_NONE;
}

static const char *wait_object_type(wait_kind k) {
  switch (k) {
  case WAIT_LOCK: return "System.Threading.Lock";
  case WAIT_RWLOCK: return "System.Threading.ReaderWriterLockSlim";
  case WAIT_SEMAPHORE: return "System.Threading.SemaphoreSlim";
  case WAIT_EVENT: return "System.Threading.ManualResetEventSlim";
  case WAIT_TASK: return "System.Threading.Tasks.Task";
  default: return NULL;
  }
}

typedef struct thread_wait {
  wait_kind kind;
  const char *mode;
  uint32_t frame;             /* the blocking frame */
  uint32_t object;            /* the lock/event/task object, UINT32_MAX when unknown */
  uint32_t holder;            /* the thread holding it, UINT32_MAX when none or unknown */
  uint32_t readers;           /* rwlock: readers holding it */
} thread_wait;

/* Does thread t hold object o as a lock (monitor, Lock, or rwlock writer/upgrader)? */
static uint32_t lock_holder(ds_query *q, uint32_t o, wait_kind kind, const char *mode, uint32_t *readers) {
  *readers = 0;
  if (kind == WAIT_MONITOR || kind == WAIT_NONE) {
    const ds_index_monitor *m = monitor_of(q, q->addr[o]);
    return m ? m->owner : UINT32_MAX;
  }
  uint64_t v = 0;
  if (kind == WAIT_LOCK) {
    /* System.Threading.Lock records the owner's OS thread id on Linux (its ThreadId) */
    static const char *const owner[] = {"_owningThreadId", NULL};
    if (!field_value(q, o, owner, 4, &v) || !v)
      return UINT32_MAX;
    for (uint64_t t = 0; t < q->thread_count; t++)
      if (q->threads[t].os_id == v)
        return (uint32_t)t;
    return thread_by_managed_id(q, v);
  }
  if (kind == WAIT_RWLOCK) {
    static const char *const writer[] = {"_writeLockOwnerId", "writeLockOwnerId", NULL};
    static const char *const upgrader[] = {"_upgradeLockOwnerId", "upgradeLockOwnerId", NULL};
    static const char *const owners[] = {"_owners", "owners", NULL};
    uint64_t count = 0;
    if (field_value(q, o, owners, 4, &count))
      *readers = (uint32_t)(count & 0x0FFFFFFFu);
    if (field_value(q, o, writer, 4, &v) && (int32_t)v > 0)
      return thread_by_managed_id(q, v);
    if (mode && strcmp(mode, "read") != 0 && field_value(q, o, upgrader, 4, &v) && (int32_t)v > 0)
      return thread_by_managed_id(q, v);
  }
  return UINT32_MAX;
}

/* What thread t is blocked on: the blocking frame, the object it waits for (from the stack roots
 * of that frame and its caller), and who holds it. */
static thread_wait analyse_wait(ds_query *q, uint32_t t) {
  thread_wait w = {WAIT_NONE, NULL, UINT32_MAX, UINT32_MAX, UINT32_MAX, 0};
  const ds_index_thread *th = &q->threads[t];
  if (!th->alive)
    return w;
  uint32_t window = th->frame_count < 24 ? th->frame_count : 24;
  for (uint32_t f = 0; f < window; f++) {
    uint64_t fi = (uint64_t)th->first_frame + f;
    if (fi >= q->frame_count)
      break;
    const char *mode = NULL;
    wait_kind k = classify_frame(ds_index_string(q->idx, q->frames[fi].method), &mode);
    if (k > w.kind) {
      w.kind = k;
      w.mode = mode;
      w.frame = (uint32_t)fi;
    }
  }
  if (w.kind == WAIT_NONE || w.kind == WAIT_SLEEP)
    return w;
  /* candidates: stack roots of this thread from the innermost frame up to the caller of the
   * blocking frame */
  const char *want = wait_object_type(w.kind);
  uint32_t best = UINT32_MAX;
  int best_score = -1;
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind != DS_ROOT_STACK || root->thread != t || root->object >= q->n || root->frame >= q->frame_count)
      continue;
    if (root->frame > w.frame + 1)
      continue;
    const char *tn = type_name(q, q->type[root->object]);
    int score;
    if (want) {
      if (strncmp(tn, want, strlen(want)) != 0)
        continue;
      score = root->frame == w.frame ? 2 : 1;
    } else {
      /* a monitor: prefer an object locked by another thread, in the blocking frame */
      const ds_index_monitor *m = monitor_of(q, q->addr[root->object]);
      if (m && m->owner == t)
        continue; /* one it already holds */
      score = (m && m->owner != UINT32_MAX ? 4 : 0) + (root->frame == w.frame ? 2 : root->frame < w.frame ? 1 : 0);
      if (w.kind == WAIT_MONITOR_WAIT || w.kind == WAIT_HANDLE || w.kind == WAIT_JOIN)
        score = root->frame == w.frame ? 1 : 0;
    }
    if (score > best_score) {
      best_score = score;
      best = root->object;
    }
  }
  w.object = best;
  if (best != UINT32_MAX && (w.kind == WAIT_MONITOR || w.kind == WAIT_LOCK || w.kind == WAIT_RWLOCK)) {
    w.holder = lock_holder(q, best, w.kind, w.mode, &w.readers);
    if (w.holder == t)
      w.holder = UINT32_MAX;
  }
  return w;
}

static bool require_threads(ds_query *q, ds_error *err) {
  return require_objects(q, err) && need(q, DS_SEC_THREADS, err) && need(q, DS_SEC_FRAMES, err) &&
         need(q, DS_SEC_ROOTS, err) && need(q, DS_SEC_MONITORS, err) && need(q, DS_SEC_FIELDS, err);
}

static json_t *frame_json(const ds_query *q, uint64_t fi) {
  const ds_index_frame *f = &q->frames[fi];
  return json_pack("{s:s,s:o,s:o,s:b}", "method", ds_index_string(q->idx, f->method), "sp", hex(f->sp), "ip",
                   hex(f->ip), "runtime_frame", f->frame_address != 0);
}

static json_t *wait_json(ds_query *q, const thread_wait *w) {
  if (w->kind == WAIT_NONE)
    return json_null();
  json_t *j = json_object();
  json_object_set_new(j, "kind", json_string(wait_kind_name(w->kind)));
  if (w->mode)
    json_object_set_new(j, "mode", json_string(w->mode));
  if (w->frame < q->frame_count)
    json_object_set_new(j, "frame", json_string(ds_index_string(q->idx, q->frames[w->frame].method)));
  json_object_set_new(j, "object", w->object < q->n ? object_ref(q, w->object) : json_null());
  json_object_set_new(j, "held_by", thread_ref(q, w->holder));
  if (w->kind == WAIT_RWLOCK)
    json_object_set_new(j, "readers", json_integer(w->readers));
  return j;
}

ds_status ds_query_threads(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  json_t *list = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    const ds_index_thread *th = &q->threads[t];
    json_t *j = json_object();
    json_object_set_new(j, "os_id", json_integer(th->os_id));
    json_object_set_new(j, "managed_id", json_integer(th->managed_id));
    json_object_set_new(j, "address", hex(th->address));
    json_object_set_new(j, "alive", json_boolean(th->alive));
    json_object_set_new(j, "finalizer", json_boolean(th->finalizer));
    json_object_set_new(j, "state", hex(th->state));
    json_object_set_new(j, "state_words", thread_state_words(th->state));
    json_object_set_new(j, "gc_mode", json_string(th->cooperative ? "cooperative" : "preemptive"));
    /* .NET 9+ no longer keeps a per-thread lock count: the DAC reports -1 */
    json_object_set_new(j, "lock_count", th->lock_count == UINT32_MAX ? json_null() : json_integer(th->lock_count));
    json_object_set_new(j, "allocation_context", json_pack("{s:o,s:o}", "ptr", hex(th->alloc_ptr), "limit",
                                                           hex(th->alloc_limit)));
    json_t *exc = json_null();
    if (th->exception) {
      exc = json_object();
      json_object_set_new(exc, "address", hex(th->exception));
      uint32_t e = ds_query_find(q, th->exception, false);
      if (e != UINT32_MAX) {
        json_object_set_new(exc, "type", json_string(type_name(q, q->type[e])));
        static const char *const message[] = {"_message", NULL};
        uint64_t m = 0;
        if (field_value(q, e, message, 8, &m) && m) {
          int64_t len;
          char *text = read_string(q, m, 1024, &len);
          if (text)
            json_object_set_new(exc, "message", json_string(text));
          free(text);
        }
      }
    }
    json_object_set_new(j, "exception", exc);
    uint64_t top = (uint64_t)th->first_frame;
    json_object_set_new(j, "frame_count", json_integer(th->frame_count));
    json_object_set_new(j, "top_frame", th->frame_count && top < q->frame_count ? frame_json(q, top) : json_null());
    thread_wait w = analyse_wait(q, (uint32_t)t);
    json_object_set_new(j, "waiting_on", wait_json(q, &w));
    json_array_append_new(list, j);
  }
  *out = json_pack("{s:o}", "threads", list);
  return DS_OK;
}

ds_status ds_query_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  uint32_t ti;
  const ds_index_thread *t = find_thread(q, thread, &ti);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with OS id or managed id %u", thread);
  json_t *frames = json_array();
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    json_array_append_new(frames, frame_json(q, fi));
  }
  thread_wait w = analyse_wait(q, ti);
  *out = json_pack("{s:i,s:i,s:o,s:o}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id, "frames", frames,
                   "waiting_on", wait_json(q, &w));
  return DS_OK;
}

/* Every thread's wait, computed once per query. */
static thread_wait *all_waits(ds_query *q) {
  thread_wait *w = calloc(q->thread_count + 1, sizeof *w);
  for (uint64_t t = 0; w && t < q->thread_count; t++)
    w[t] = analyse_wait(q, (uint32_t)t);
  return w;
}

static json_t *waiters_of(ds_query *q, const thread_wait *w, uint32_t object) {
  json_t *list = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++)
    if (w[t].object == object && w[t].kind >= WAIT_MONITOR) {
      json_t *r = thread_ref(q, (uint32_t)t);
      if (w[t].mode)
        json_object_set_new(r, "mode", json_string(w[t].mode));
      json_array_append_new(list, r);
    }
  return list;
}

ds_status ds_query_locks(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  thread_wait *w = all_waits(q);
  if (!w)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  json_t *doc = json_object(), *monitors = json_array(), *others = json_array();
  uint64_t size;
  const ds_index_monitor *m = ds_index_section(q->idx, DS_SEC_MONITORS, &size);
  size /= sizeof *m;
  for (uint64_t k = 0; k < size; k++) {
    json_t *waiters = m[k].object < q->n ? waiters_of(q, w, m[k].object) : json_array();
    if (m[k].owner == UINT32_MAX && json_array_size(waiters) == 0) {
      json_decref(waiters);
      continue; /* a sync block kept for a hash code only */
    }
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(m[k].kind == 1 ? "sync block" : "thin lock"));
    json_object_set_new(j, "object", m[k].object < q->n ? object_ref(q, m[k].object) : hex(m[k].address));
    json_object_set_new(j, "held_by", thread_ref(q, m[k].owner));
    json_object_set_new(j, "recursion", json_integer(m[k].recursion));
    if (m[k].kind == 1)
      json_object_set_new(j, "sync_block", json_integer(m[k].sync_block));
    json_object_set_new(j, "waiters", waiters);
    json_array_append_new(monitors, j);
  }
  /* lock types read from their fields (layout from the index, never hard-coded offsets) */
  /* which types are lock types is decided once per type, not per object */
  const char **lock_type = calloc(q->type_count + 1, sizeof *lock_type);
  if (!lock_type) {
    free(w);
    json_decref(doc);
    json_decref(monitors);
    json_decref(others);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  bool any_lock_type = false;
  for (uint64_t t = 0; t < q->type_count; t++) {
    const char *tn = type_name(q, (uint32_t)t);
    if (strncmp(tn, "System.Threading.", 17) == 0 &&
        (strcmp(tn + 17, "Lock") == 0 || strcmp(tn + 17, "ReaderWriterLockSlim") == 0 ||
         strcmp(tn + 17, "SemaphoreSlim") == 0 || strcmp(tn + 17, "ManualResetEventSlim") == 0)) {
      lock_type[t] = tn + 17;
      any_lock_type = true;
    }
  }
  for (uint64_t ii = 0; any_lock_type && ii < q->n; ii++) {
    uint32_t i = (uint32_t)ii;
    const char *rest = q->type[i] < q->type_count ? lock_type[q->type[i]] : NULL;
    if (!rest)
      continue;
    json_t *j = NULL;
    uint64_t v = 0;
    if (strcmp(rest, "Lock") == 0) {
      static const char *const owner[] = {"_owningThreadId", NULL}, *const rec[] = {"_recursionCount", NULL};
      uint32_t r;
      uint32_t holder = lock_holder(q, i, WAIT_LOCK, NULL, &r);
      json_t *waiters = waiters_of(q, w, i);
      if (holder == UINT32_MAX && json_array_size(waiters) == 0 && !(field_value(q, i, owner, 4, &v) && v)) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:o,s:o}", "kind", "lock", "object", object_ref(q, i), "held_by", thread_ref(q, holder),
                    "waiters", waiters);
      if (field_value(q, i, rec, 4, &v))
        json_object_set_new(j, "recursion", json_integer((json_int_t)v));
    } else if (strcmp(rest, "ReaderWriterLockSlim") == 0) {
      static const char *const upgrader[] = {"_upgradeLockOwnerId", NULL}, *const ww[] = {"_numWriteWaiters", NULL},
                               *const rw[] = {"_numReadWaiters", NULL}, *const uw[] = {"_numUpgradeWaiters", NULL};
      uint32_t readers;
      uint32_t writer = lock_holder(q, i, WAIT_RWLOCK, "read", &readers);
      json_t *waiters = waiters_of(q, w, i);
      if (writer == UINT32_MAX && readers == 0 && json_array_size(waiters) == 0) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:o,s:i,s:o}", "kind", "reader-writer lock", "object", object_ref(q, i), "writer",
                    thread_ref(q, writer), "readers", (int)readers, "waiters", waiters);
      if (field_value(q, i, upgrader, 4, &v) && (int32_t)v > 0)
        json_object_set_new(j, "upgrader", thread_ref(q, thread_by_managed_id(q, v)));
      if (field_value(q, i, ww, 4, &v))
        json_object_set_new(j, "waiting_writers", json_integer((json_int_t)v));
      if (field_value(q, i, rw, 4, &v))
        json_object_set_new(j, "waiting_readers", json_integer((json_int_t)v));
      if (field_value(q, i, uw, 4, &v))
        json_object_set_new(j, "waiting_upgraders", json_integer((json_int_t)v));
    } else if (strcmp(rest, "SemaphoreSlim") == 0) {
      static const char *const count[] = {"m_currentCount", "_currentCount", NULL},
                               *const waits[] = {"m_waitCount", "_waitCount", NULL};
      json_t *waiters = waiters_of(q, w, i);
      uint64_t wc = 0;
      field_value(q, i, waits, 4, &wc);
      if (json_array_size(waiters) == 0 && wc == 0) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:o}", "kind", "semaphore", "object", object_ref(q, i), "waiters", waiters);
      if (field_value(q, i, count, 4, &v))
        json_object_set_new(j, "current_count", json_integer((int32_t)v));
      json_object_set_new(j, "wait_count", json_integer((int32_t)wc));
    } else if (strcmp(rest, "ManualResetEventSlim") == 0) {
      static const char *const state[] = {"m_combinedState", "_combinedState", NULL};
      json_t *waiters = waiters_of(q, w, i);
      uint64_t st = 0;
      field_value(q, i, state, 4, &st);
      if (json_array_size(waiters) == 0 && (st & 0x7FFFFu) == 0) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:b,s:i,s:o}", "kind", "event", "object", object_ref(q, i), "set",
                    (int)((st >> 31) & 1), "waiter_count", (int)(st & 0x7FFFFu), "waiters", waiters);
    }
    if (j)
      json_array_append_new(others, j);
  }
  json_object_set_new(doc, "monitors", monitors);
  json_object_set_new(doc, "other_locks", others);
  free(lock_type);
  free(w);
  *out = doc;
  return DS_OK;
}

ds_status ds_query_waits(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  json_t *list = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    thread_wait w = analyse_wait(q, (uint32_t)t);
    if (w.kind == WAIT_NONE)
      continue;
    json_t *j = thread_ref(q, (uint32_t)t);
    json_object_set_new(j, "waiting_on", wait_json(q, &w));
    json_array_append_new(list, j);
  }
  *out = json_pack("{s:o}", "waits", list);
  return DS_OK;
}

ds_status ds_query_deadlocks(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  thread_wait *w = all_waits(q);
  uint8_t *state = calloc(q->thread_count + 1, 1); /* 0 new, 1 on the current path, 2 done */
  uint32_t *path = calloc(q->thread_count + 1, sizeof *path);
  uint8_t *in_cycle = calloc(q->thread_count + 1, 1);
  if (!w || !state || !path || !in_cycle) {
    free(w);
    free(state);
    free(path);
    free(in_cycle);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  json_t *cycles = json_array();
  /* each waiting thread has at most one holder to wait for: follow the chain from every thread;
   * meeting the current chain again closes a cycle */
  for (uint64_t start = 0; start < q->thread_count; start++) {
    if (state[start])
      continue;
    size_t len = 0;
    uint32_t t = (uint32_t)start;
    while (t < q->thread_count && state[t] == 0) {
      state[t] = 1;
      path[len++] = t;
      t = w[t].holder;
    }
    if (t < q->thread_count && state[t] == 1) {
      size_t from = 0;
      while (path[from] != t)
        from++;
      json_t *members = json_array();
      for (size_t k = from; k < len; k++) {
        uint32_t m = path[k];
        in_cycle[m] = 1;
        json_t *j = thread_ref(q, m);
        json_object_set_new(j, "waits_for", wait_json(q, &w[m]));
        json_t *holds = json_array();
        uint32_t prev = path[k > from ? k - 1 : len - 1]; /* it waits for what m holds */
        if (w[prev].object < q->n)
          json_array_append_new(holds, object_ref(q, w[prev].object));
        json_object_set_new(j, "holds", holds);
        json_t *frames = json_array();
        const ds_index_thread *th = &q->threads[m];
        for (uint32_t f = 0; f < th->frame_count && f < 32; f++)
          if ((uint64_t)th->first_frame + f < q->frame_count)
            json_array_append_new(frames, frame_json(q, (uint64_t)th->first_frame + f));
        json_object_set_new(j, "stack", frames);
        json_array_append_new(members, j);
      }
      json_array_append_new(cycles, json_pack("{s:o}", "threads", members));
    }
    for (size_t k = 0; k < len; k++)
      state[path[k]] = 2;
  }
  /* contention: a held lock with waiters, outside every cycle */
  json_t *contention = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (w[t].holder == UINT32_MAX || in_cycle[t] || w[t].object >= q->n)
      continue;
    bool first = true;
    for (uint64_t u = 0; u < t; u++)
      if (w[u].object == w[t].object && w[u].holder != UINT32_MAX && !in_cycle[u])
        first = false;
    if (!first)
      continue;
    json_t *waiters = json_array();
    for (uint64_t u = 0; u < q->thread_count; u++)
      if (w[u].object == w[t].object && !in_cycle[u])
        json_array_append_new(waiters, thread_ref(q, (uint32_t)u));
    json_array_append_new(contention, json_pack("{s:o,s:s,s:o,s:o}", "object", object_ref(q, w[t].object), "kind",
                                                wait_kind_name(w[t].kind), "held_by", thread_ref(q, w[t].holder),
                                                "waiters", waiters));
  }
  *out = json_pack("{s:o,s:o}", "deadlocks", cycles, "contention", contention);
  free(w);
  free(state);
  free(path);
  free(in_cycle);
  return DS_OK;
}

static void add_finding(json_t *list, const char *severity, const char *title, const char *description,
                        const char *recommendation, json_t *details) {
  json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:o}", "severity", severity, "title", title,
                                        "description", description, "recommendation", recommendation, "details",
                                        details ? details : json_null()));
}

ds_status ds_query_findings(ds_query *q, json_t **out, ds_error *err) {
  json_t *dl = NULL;
  ds_status rc = ds_query_deadlocks(q, &dl, err);
  if (rc != DS_OK)
    return rc;
  thread_wait *w = all_waits(q);
  if (!w) {
    json_decref(dl);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  json_t *list = json_array();
  char text[512];
  size_t i;
  json_t *cycle;
  json_array_foreach(json_object_get(dl, "deadlocks"), i, cycle) {
    snprintf(text, sizeof text, "%zu threads wait for each other in a cycle and can never proceed.",
             json_array_size(json_object_get(cycle, "threads")));
    add_finding(list, "error", "Deadlock", text,
                "Acquire these locks in one global order everywhere, or use timeouts (Monitor.TryEnter, "
                "Lock.TryEnter) and back off.",
                json_incref(cycle));
  }
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (!q->threads[t].finalizer || w[t].kind == WAIT_NONE)
      continue;
    uint64_t ready = 0;
    for (uint64_t r = 0; r < q->root_count; r++)
      ready += q->roots[r].kind == DS_ROOT_FINALIZER_READY;
    snprintf(text, sizeof text,
             "The finalizer thread is blocked (%s) while %llu objects are ready for finalization; they and "
             "everything they reference stay in memory until it runs again.",
             wait_kind_name(w[t].kind), (unsigned long long)ready);
    json_t *d = thread_ref(q, (uint32_t)t);
    json_object_set_new(d, "waiting_on", wait_json(q, &w[t]));
    add_finding(list, "error", "Blocked finalizer thread", text,
                "Finalizers must not block or wait: dispose objects explicitly (using/Dispose) and keep "
                "finalizers short; fix the finalizer shown in the stack.",
                d);
  }
  uint64_t pool = 0, pool_blocked = 0;
  json_t *blocked = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (!(q->threads[t].state & 0x1000000u) || !q->threads[t].alive)
      continue;
    pool++;
    if (w[t].kind == WAIT_TASK || w[t].kind == WAIT_EVENT || w[t].kind == WAIT_SEMAPHORE ||
        w[t].kind == WAIT_MONITOR || w[t].kind == WAIT_LOCK || w[t].kind == WAIT_HANDLE) {
      pool_blocked++;
      json_t *d = thread_ref(q, (uint32_t)t);
      json_object_set_new(d, "waiting_on", wait_json(q, &w[t]));
      json_array_append_new(blocked, d);
    }
  }
  uint64_t on_tasks = 0;
  for (uint64_t t = 0; t < q->thread_count; t++)
    on_tasks += (q->threads[t].state & 0x1000000u) && w[t].kind == WAIT_TASK;
  if (pool_blocked) {
    snprintf(text, sizeof text,
             "%llu of %llu thread pool threads are blocked (%llu waiting synchronously on tasks: "
             "sync-over-async). New work waits for the pool to inject threads, which it does slowly.",
             (unsigned long long)pool_blocked, (unsigned long long)pool, (unsigned long long)on_tasks);
    add_finding(list, pool_blocked == pool ? "error" : "warning",
                pool_blocked == pool ? "Thread pool starvation" : "Blocked thread pool threads", text,
                "Use await instead of .Result, .Wait() and GetAwaiter().GetResult() on thread pool threads; "
                "as a stopgap, raise ThreadPool.SetMinThreads.",
                blocked);
  } else {
    json_decref(blocked);
  }
  /* many threads waiting on one lock */
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (w[t].object >= q->n || w[t].kind < WAIT_MONITOR || w[t].kind == WAIT_TASK)
      continue;
    uint64_t n = 0;
    bool first = true;
    for (uint64_t u = 0; u < q->thread_count; u++)
      if (w[u].object == w[t].object) {
        n++;
        if (u < t)
          first = false;
      }
    if (!first || n < 3)
      continue;
    snprintf(text, sizeof text, "%llu threads wait on the same %s.", (unsigned long long)n, wait_kind_name(w[t].kind));
    json_t *d = json_pack("{s:o,s:o,s:o}", "object", object_ref(q, w[t].object), "held_by",
                          thread_ref(q, w[t].holder), "waiters", waiters_of(q, w, w[t].object));
    add_finding(list, "warning", "Lock contention", text,
                "Shorten the work done under this lock, split it, or use a concurrent collection or "
                "a reader-writer lock where most access is reading.",
                d);
  }
  free(w);
  json_decref(dl);
  *out = json_pack("{s:o}", "findings", list);
  return DS_OK;
}

ds_status ds_query_summary(ds_query *q, json_t **out, ds_error *err) {
  const ds_index_info *in = q->info;
  json_t *doc = json_object();
  json_object_set_new(doc, "runtime_version", json_string(ds_index_string(q->idx, in->runtime_version)));
  json_object_set_new(doc, "dump", json_string(ds_index_string(q->idx, in->dump_path)));
  json_object_set_new(doc, "dump_available", json_boolean(q->dump != NULL));
  json_object_set_new(doc, "server_gc", json_boolean(in->server_gc));
  json_object_set_new(doc, "regions", json_boolean(in->regions));
  json_object_set_new(doc, "heap_count", json_integer(in->heap_count));
  json_object_set_new(doc, "objects", json_integer((json_int_t)in->object_count));
  json_object_set_new(doc, "references", json_integer((json_int_t)in->edge_count));
  json_object_set_new(doc, "types", json_integer((json_int_t)in->type_count));
  json_object_set_new(doc, "roots", json_integer((json_int_t)in->root_count));
  json_object_set_new(doc, "heap_bytes", json_integer((json_int_t)in->heap_bytes));
  json_object_set_new(doc, "free_bytes", json_integer((json_int_t)in->free_bytes));
  json_object_set_new(doc, "live_objects", json_integer((json_int_t)in->live_objects));
  json_object_set_new(doc, "live_bytes", json_integer((json_int_t)in->live_bytes));
  json_object_set_new(doc, "heap_errors", json_integer(in->heap_error_count));
  json_object_set_new(doc, "build_ms", json_integer((json_int_t)in->build_ms));
  json_object_set_new(doc, "warnings", json_string(ds_index_string(q->idx, in->warnings)));
  (void)err;
  *out = doc;
  return DS_OK;
}
