/*
 * queryint.h: internals shared by the files of core/query (query.c, objects.c, graph.c,
 * threads.c). Nobody outside core/query includes this.
 *
 * The index is untrusted input: every section is reached through a bounds-checked view (its
 * record count comes from the section's size, which ds_index_open has checked is a whole number
 * of records), and every object, type, field or frame index read from one section is checked
 * against the size of the section it points into before use.
 */
#ifndef DUMPSCOPE_QUERY_INT_H
#define DUMPSCOPE_QUERY_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/heap.h"
#include "dumpscope/layout.h"
#include "dumpscope/query.h"
#include "dumpscope/roots.h"

/* A section as an array of records: data[0 .. count). count is 0 (and data NULL) when the
 * section is absent. */
typedef struct ds__view {
  const void *data;
  uint64_t count;
} ds__view;

/* The records of section id, each elem_size bytes. */
ds__view ds__section_view(const ds_index *idx, ds_section_id id, size_t elem_size);

/* The one binary search of core/query: the first of count records (stride bytes apart, each
 * starting with a uint64_t key, ascending) whose key is >= key; count when there is none. */
size_t ds__lower_bound_u64(const void *base, size_t count, size_t stride, uint64_t key);

struct ds_query {
  ds_index *idx;
  ds_dump *dump;             /* NULL when the dump is not available */
  const ds_layout *layout;   /* of the runtime the index records: every object read uses it */
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

/* ---- small accessors (inline: the listing queries call them per object) ------------------- */

/* Size of object i as SOS reports it (unaligned); sizes >= 4 GiB live in the big-size table. */
static inline uint64_t ds__obj_size(const ds_query *q, uint32_t i) {
  uint32_t s = q->size[i];
  if (s != UINT32_MAX)
    return s;
  for (uint64_t b = 0; b < q->big_count; b++)
    if (q->big[b].object == i)
      return q->big[b].size;
  return s;
}

/* The type record of object i, NULL when its type index is out of range. */
static inline const ds_index_type *ds__type_of(const ds_query *q, uint32_t i) {
  uint32_t t = q->type[i];
  return t < q->type_count ? &q->types[t] : NULL;
}

/* The name of type index t (DAC spelling), "<bad type>" when out of range. */
static inline const char *ds__type_name(const ds_query *q, uint32_t t) {
  return t < q->type_count ? ds_index_string(q->idx, q->types[t].name) : "<bad type>";
}

static inline bool ds__is_live(const ds_query *q, uint32_t i) { return q->live[i >> 6] >> (i & 63) & 1; }

/* CSR range [lo, hi) of object i, clamped to the edge array. */
static inline void ds__csr(const uint32_t *off, uint64_t e, uint32_t i, uint32_t *lo, uint32_t *hi) {
  *lo = off[i];
  *hi = off[i + 1];
  if (*hi > e)
    *hi = (uint32_t)e;
  if (*lo > *hi)
    *lo = *hi;
}

/* ---- shared helpers (query.c) ----------------------------------------------------------- */

/* "0x..." lowercase hex, the API's spelling of addresses. */
json_t *ds__json_hex(uint64_t v);
/* Checks a section's checksum the first time it is needed; false with err set when damaged. */
bool ds__need(ds_query *q, ds_section_id id, ds_error *err);
/* ds__need for several sections, checked on two threads (ds_index_require_many). */
#define ds__need_all(q, err, ...)                                                                     \
  (ds_index_require_many(ds_query_index(q), (const ds_section_id[]){__VA_ARGS__},                    \
                         sizeof((const ds_section_id[]){__VA_ARGS__}) / sizeof(ds_section_id), (err)) == DS_OK)
/* The object sections every object query reads (addresses, types, sizes, liveness). */
bool ds__require_objects(ds_query *q, ds_error *err);
/* The heap range containing addr, or NULL. */
const ds_index_segment *ds__segment_of(const ds_query *q, uint64_t addr);
/* Generation of object i, -1 when it lies in no range. */
int ds__gen_of(const ds_query *q, uint32_t i);
/* {address, type, size} of object i. */
json_t *ds__object_ref(const ds_query *q, uint32_t i);
/* The thread with this OS id, else this managed id; NULL when none. */
const ds_index_thread *ds__find_thread(const ds_query *q, uint32_t id, uint32_t *index);

/* The one string reader: the string object at addr as malloc'd UTF-8 of at most max_chars
 * characters; *length = its full length in characters (-1 when unreadable). NULL when the dump
 * is unavailable or the characters cannot be read. */
char *ds__read_string(ds_query *q, uint64_t addr, size_t max_chars, int64_t *length);
/* The length in characters of the string object at addr; false when unreadable. */
bool ds__string_length(ds_query *q, uint64_t addr, uint32_t *length);

/* ---- building documents (query.c) ----------------------------------------------------------
 * Jansson reports a failure (out of memory, text that is not UTF-8, a NULL value from a failed
 * constructor) by a return value that is easy to drop, leaving a document with a member missing.
 * Queries build through these instead: the first failure is remembered for the query running on
 * this thread, and the public query returns an error instead of the partial document. */

/* json_object_set_new, remembering a failure. */
void ds__jset(json_t *object, const char *key, json_t *value);
/* json_array_append_new, remembering a failure. */
void ds__jappend(json_t *array, json_t *value);
/* json_string, remembering a failure (text that is not UTF-8 means a damaged index). */
json_t *ds__jstr(const char *text);
/* Around one public query: begin forgets earlier failures; end turns a remembered failure (or a
 * missing document) into DS_E_NOMEM or DS_E_CORRUPT, dropping *out, and passes rc through
 * otherwise. */
void ds__json_begin(void);
ds_status ds__json_end(ds_status rc, json_t **out, ds_error *err);

/* ---- values (objects.c) -------------------------------------------------------------------- */

/* The value at target address where of a field or element of CorElementType element_type, read
 * from the dump: a number or boolean, {kind: struct, address} for a value type, null for a null
 * reference, else {address, type, string?}; null when the dump is unavailable. */
json_t *ds__value_at(ds_query *q, uint64_t where, uint32_t element_type);

/* ---- findings and the report (report.c, threads.c) ------------------------------------------- */

/* The findings, most severe first (threads.c); NULL with err set when a section is damaged. */
json_t *ds__findings_json(ds_query *q, ds_error *err);

/* The evidence records [first, first + count) of DS_SEC_EVIDENCE as a list of {kind, type | object
 * | thread, count, bytes, label}. Needs ds__need(DS_SEC_EVIDENCE). */
json_t *ds__evidence_json(ds_query *q, uint32_t first, uint32_t count);
/* {name, value} of the setting whose name is at string pool offset name (value null when the
 * index does not record it). Needs ds__need(DS_SEC_SETTINGS). */
json_t *ds__setting_json(ds_query *q, uint32_t name);

/* ---- retained sizes (retained.c) ----------------------------------------------------------- */

/* Adds retained_size (null for an unreachable object, or an index without the dominator tree)
 * and immediate_dominator (an object, or null when only the roots dominate it) to doc. */
void ds__retained_fields(ds_query *q, uint32_t i, json_t *doc);
/* The retained size of object i, UINT64_MAX when the index has none for it. */
uint64_t ds__retained(ds_query *q, uint32_t i);

/* ---- roots (graph.c) ---------------------------------------------------------------------- */

/* Builds q->rooted once (thread-safe); false when out of memory. */
bool ds__build_rooted(ds_query *q);
/* Is object i pinned: by a pinned handle or stack root, or by living on the POH. Needs
 * ds__build_rooted. */
bool ds__is_pinned(ds_query *q, uint32_t i);

#endif
