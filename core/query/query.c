/*
 * query.c: opening a heap index for queries, and the helpers every query shares (queryint.h):
 * section views, the one binary search, object lookup and references, and the string reader.
 *
 * The questions themselves live by concern: objects.c (statistics, listings, one object,
 * fragmentation, strings, summary, generation), graph.c (references, root paths, handles,
 * finalizer queues, stack objects) and threads.c (threads, stacks, waits, locks, deadlocks,
 * findings). The index is untrusted input too: every index, offset and count read from it is
 * checked against the section sizes before use, so a damaged index gives a wrong-looking answer
 * or an error, never a read out of bounds.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

ds__view ds__section_view(const ds_index *idx, ds_section_id id, size_t elem_size) {
  uint64_t size = 0;
  const void *data = ds_index_section(idx, id, &size);
  ds__view v = {data, data && elem_size ? size / elem_size : 0};
  return v;
}

size_t ds__lower_bound_u64(const void *base, size_t count, size_t stride, uint64_t key) {
  const uint8_t *p = base;
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint64_t k;
    memcpy(&k, p + mid * stride, sizeof k);
    if (k < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

json_t *ds__json_hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return json_string(buf);
}

bool ds__need(ds_query *q, ds_section_id id, ds_error *err) {
  return ds_index_require(q->idx, id, err) == DS_OK;
}

bool ds__require_objects(ds_query *q, ds_error *err) {
  return ds__need_all(q, err, DS_SEC_OBJ_ADDR, DS_SEC_OBJ_TYPE, DS_SEC_OBJ_SIZE, DS_SEC_LIVE);
}

static ds_status query_open(const char *index_path, const char *dump_path, bool unchecked, ds_query **out,
                            ds_error *err);

ds_status ds_query_open(const char *index_path, const char *dump_path, ds_query **out, ds_error *err) {
  return query_open(index_path, dump_path, false, out, err);
}

ds_status ds_query_open_unchecked(const char *index_path, const char *dump_path, ds_query **out, ds_error *err) {
  return query_open(index_path, dump_path, true, out, err);
}

static ds_status query_open(const char *index_path, const char *dump_path, bool unchecked, ds_query **out,
                            ds_error *err) {
  *out = NULL;
  ds_query *q = calloc(1, sizeof *q);
  if (!q)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  pthread_mutex_init(&q->rooted_lock, NULL);
  ds_status rc = unchecked ? ds_index_open_unchecked(index_path, &q->idx, err) : ds_index_open(index_path, &q->idx, err);
  if (rc != DS_OK) {
    pthread_mutex_destroy(&q->rooted_lock);
    free(q);
    return rc;
  }
  q->info = ds_index_get_info(q->idx);
  /* indexes are only built for supported runtimes; an unreadable version string still gets the
   * newest layout, whose array and string offsets every supported runtime shares */
  q->layout = ds_layout_for_version(ds_index_string(q->idx, q->info->runtime_version));
  if (!q->layout)
    q->layout = ds_layout_default();
  q->n = q->info->object_count;
  q->e = q->info->edge_count;
  ds__view v;
  q->addr = ds__section_view(q->idx, DS_SEC_OBJ_ADDR, 8).data;
  q->type = ds__section_view(q->idx, DS_SEC_OBJ_TYPE, 4).data;
  q->size = ds__section_view(q->idx, DS_SEC_OBJ_SIZE, 4).data;
  q->out_off = ds__section_view(q->idx, DS_SEC_OUT_OFF, 4).data;
  q->out_edge = ds__section_view(q->idx, DS_SEC_OUT_EDGE, 4).data;
  q->in_off = ds__section_view(q->idx, DS_SEC_IN_OFF, 4).data;
  q->in_edge = ds__section_view(q->idx, DS_SEC_IN_EDGE, 4).data;
  q->live = ds__section_view(q->idx, DS_SEC_LIVE, 8).data;
  v = ds__section_view(q->idx, DS_SEC_TYPES, sizeof(ds_index_type));
  q->types = v.data, q->type_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_FIELDS, sizeof(ds_index_field));
  q->fields = v.data, q->field_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_SEGMENTS, sizeof(ds_index_segment));
  q->segs = v.data, q->seg_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_ROOTS, sizeof(ds_index_root));
  q->roots = v.data, q->root_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_THREADS, sizeof(ds_index_thread));
  q->threads = v.data, q->thread_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_FRAMES, sizeof(ds_index_frame));
  q->frames = v.data, q->frame_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_FINALIZABLE, 4);
  q->finalizable = v.data, q->finalizable_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_BIG_SIZES, sizeof(ds_index_big_size));
  q->big = v.data, q->big_count = v.count;
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
  if (q->dump && ds_dump_identity(q->dump) != q->info->dump_identity) {
    /* another dump now sits at this path (or this index was built for another): never trusted */
    ds_query_close(q);
    return ds_error_set(err, DS_E_CORRUPT, "index %s was built from another dump than %s; rebuild it", index_path,
                        path);
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

ds_status ds_query_heap_walkable(ds_query *q, ds_error *err) {
  if (q->info->gc_structures_valid)
    return DS_OK;
  return ds_error_set(err, DS_E_MID_GC, "%s", DS_MID_GC_MESSAGE);
}

/* ---- objects -------------------------------------------------------------------------------- */

const ds_index_segment *ds__segment_of(const ds_query *q, uint64_t addr) {
  /* the first range starting after addr; the one before it is the only candidate */
  size_t after = addr == UINT64_MAX ? q->seg_count
                                    : ds__lower_bound_u64(q->segs, q->seg_count, sizeof *q->segs, addr + 1);
  if (after == 0)
    return NULL;
  const ds_index_segment *s = &q->segs[after - 1];
  return addr < s->end ? s : NULL;
}

int ds__gen_of(const ds_query *q, uint32_t i) {
  const ds_index_segment *s = ds__segment_of(q, q->addr[i]);
  return s ? s->gen : -1;
}

uint32_t ds_query_find(ds_query *q, uint64_t addr, bool interior) {
  /* the last object starting at or before addr */
  size_t after = addr == UINT64_MAX ? q->n : ds__lower_bound_u64(q->addr, q->n, sizeof *q->addr, addr + 1);
  if (after == 0)
    return UINT32_MAX;
  uint32_t i = (uint32_t)(after - 1);
  if (q->addr[i] == addr)
    return i;
  if (interior && addr < q->addr[i] + ds_layout_aligned(q->layout, ds__obj_size(q, i)))
    return i;
  return UINT32_MAX;
}

json_t *ds__object_ref(const ds_query *q, uint32_t i) {
  json_t *o = json_object();
  ds__jset(o, "address", ds__json_hex(q->addr[i]));
  ds__jset(o, "type", ds__jstr(ds__type_name(q, q->type[i])));
  ds__jset(o, "size", json_integer((json_int_t)ds__obj_size(q, i)));
  return o;
}

const ds_index_thread *ds__find_thread(const ds_query *q, uint32_t id, uint32_t *index) {
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

/* ---- strings ------------------------------------------------------------------------------- */

bool ds__string_length(ds_query *q, uint64_t addr, uint32_t *length) {
  return q->dump && ds_layout_read_length(q->layout, q->dump, addr, length);
}

char *ds__read_string(ds_query *q, uint64_t addr, size_t max_chars, int64_t *length) {
  uint32_t len = 0;
  *length = -1;
  if (!ds__string_length(q, addr, &len))
    return NULL;
  *length = len;
  size_t want = len < max_chars ? len : max_chars;
  char *utf8 = malloc(want * 3 + 1);
  if (!utf8 || ds_layout_read_string(q->layout, q->dump, addr, max_chars, utf8, want * 3 + 1) < 0) {
    free(utf8);
    return NULL;
  }
  return utf8;
}

/* ---- building documents ---------------------------------------------------------------------- */

/* The first failure of the query running on this thread (queries may run on several threads). */
static _Thread_local ds_status json_failure;

/* Whether text is well-formed UTF-8 as jansson checks it: no overlong forms, surrogates or code
 * points past U+10FFFF. */
static bool utf8_valid(const char *text) {
  const unsigned char *p = (const unsigned char *)text;
  while (*p) {
    unsigned c = *p++;
    if (c < 0x80)
      continue;
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (more < 0 || c > 0xF4 || c == 0xC0 || c == 0xC1)
      return false;
    uint32_t cp = c & (0x3Fu >> more);
    for (int k = 0; k < more; k++, p++) {
      if ((*p & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (*p & 0x3Fu);
    }
    if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp < 0xE000))
      return false;
  }
  return true;
}

static void remember(ds_status failure) {
  if (json_failure == DS_OK)
    json_failure = failure;
}

void ds__jset(json_t *object, const char *key, json_t *value) {
  bool whole = object && key && value;
  if (json_object_set_new(object, key, value) != 0)
    remember(whole && !utf8_valid(key) ? DS_E_CORRUPT : DS_E_NOMEM);
}

void ds__jappend(json_t *array, json_t *value) {
  if (json_array_append_new(array, value) != 0)
    remember(DS_E_NOMEM);
}

json_t *ds__jstr(const char *text) {
  json_t *j = json_string(text);
  if (!j)
    remember(text && !utf8_valid(text) ? DS_E_CORRUPT : DS_E_NOMEM);
  return j;
}

void ds__json_begin(void) { json_failure = DS_OK; }

ds_status ds__json_end(ds_status rc, json_t **out, ds_error *err) {
  ds_status failure = json_failure;
  json_failure = DS_OK;
  if (rc != DS_OK)
    return rc;
  if (failure == DS_OK && *out)
    return DS_OK;
  json_decref(*out);
  *out = NULL;
  if (failure == DS_E_CORRUPT)
    return ds_error_set(err, DS_E_CORRUPT, "the index holds text that is not valid UTF-8; rebuild it");
  return ds_error_set(err, DS_E_NOMEM, "out of memory building the answer");
}
