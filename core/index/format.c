/*
 * format.c: the index file's record sizes and section names, its checksum, and the string pool
 * (see index.h).
 */
#include <stdlib.h>
#include <string.h>

#include "indexint.h"

_Static_assert(sizeof(file_header) == 48, "index header layout");
_Static_assert(sizeof(section_entry) == 32, "index section entry layout");
_Static_assert(sizeof(ds_index_root) == 48, "ds_index_root layout");
_Static_assert(sizeof(ds_index_type) == 48, "ds_index_type layout");
_Static_assert(sizeof(ds_index_segment) == 40, "ds_index_segment layout");
_Static_assert(sizeof(ds_index_thread) == 64, "ds_index_thread layout");
_Static_assert(sizeof(ds_index_wait) == 32, "ds_index_wait layout");
_Static_assert(sizeof(ds_index_lock) == 40, "ds_index_lock layout");
_Static_assert(sizeof(ds_index_lock_value) == 16, "ds_index_lock_value layout");
_Static_assert(sizeof(ds_index_waiter) == 16, "ds_index_waiter layout");
_Static_assert(sizeof(ds_index_deadlock) == 24, "ds_index_deadlock layout");
_Static_assert(sizeof(ds_index_memory_range) == 32, "ds_index_memory_range layout");
_Static_assert(sizeof(ds_index_static) == 32, "ds_index_static layout");
_Static_assert(sizeof(ds_index_method) == 32, "ds_index_method layout");
_Static_assert(sizeof(ds_index_frame_var) == 48, "ds_index_frame_var layout");
_Static_assert(sizeof(ds_index_frame_info) == 32, "ds_index_frame_info layout");
_Static_assert(sizeof(ds_index_code_map) == 32, "ds_index_code_map layout");
_Static_assert(sizeof(ds_index_finding) == 56, "ds_index_finding layout");
_Static_assert(sizeof(ds_index_evidence) == 32, "ds_index_evidence layout");
_Static_assert(sizeof(ds_index_setting) == 16, "ds_index_setting layout");
_Static_assert(sizeof(ds_index_report) == 184, "ds_index_report layout");
_Static_assert(sizeof(ds_index_suspect) == 40, "ds_index_suspect layout");

/* Element size of each section (1 = bytes), to check sizes are whole records. */
uint32_t ds__section_element_size(uint32_t id) {
  switch (id) {
  case DS_SEC_INFO: return sizeof(ds_index_info);
  case DS_SEC_OBJ_ADDR: return 8;
  case DS_SEC_OBJ_TYPE: case DS_SEC_OBJ_SIZE: case DS_SEC_OUT_OFF: case DS_SEC_OUT_EDGE:
  case DS_SEC_IN_OFF: case DS_SEC_IN_EDGE: case DS_SEC_FINALIZABLE: case DS_SEC_FREE: return 4;
  case DS_SEC_BIG_SIZES: return sizeof(ds_index_big_size);
  case DS_SEC_TYPES: return sizeof(ds_index_type);
  case DS_SEC_FIELDS: return sizeof(ds_index_field);
  case DS_SEC_STRINGS: return 1;
  case DS_SEC_SEGMENTS: return sizeof(ds_index_segment);
  case DS_SEC_ROOTS: return sizeof(ds_index_root);
  case DS_SEC_THREADS: return sizeof(ds_index_thread);
  case DS_SEC_FRAMES: return sizeof(ds_index_frame);
  case DS_SEC_LIVE: return 8;
  case DS_SEC_GEN_HIST: return sizeof(ds_index_hist);
  case DS_SEC_EXTRA_EDGES: return sizeof(ds_index_extra_edge);
  case DS_SEC_WAITS: return sizeof(ds_index_wait);
  case DS_SEC_LOCKS: return sizeof(ds_index_lock);
  case DS_SEC_LOCK_VALUES: return sizeof(ds_index_lock_value);
  case DS_SEC_LOCK_WAITERS: return sizeof(ds_index_waiter);
  case DS_SEC_DEADLOCKS: return sizeof(ds_index_deadlock);
  case DS_SEC_FINDINGS: return sizeof(ds_index_finding);
  case DS_SEC_MEMORY_RANGES: return sizeof(ds_index_memory_range);
  case DS_SEC_FIELD_INFO: return sizeof(ds_index_field_info);
  case DS_SEC_STATICS: return sizeof(ds_index_static);
  case DS_SEC_METHODS: return sizeof(ds_index_method);
  case DS_SEC_FRAME_INFO: return sizeof(ds_index_frame_info);
  case DS_SEC_FRAME_VARS: return sizeof(ds_index_frame_var);
  case DS_SEC_CODE_MAP: return sizeof(ds_index_code_map);
  case DS_SEC_CALLEES: return sizeof(ds_index_callee);
  case DS_SEC_SETTINGS: return sizeof(ds_index_setting);
  case DS_SEC_EVIDENCE: return sizeof(ds_index_evidence);
  case DS_SEC_REPORT: return sizeof(ds_index_report);
  case DS_SEC_IDOM: return 4;
  case DS_SEC_RETAINED: case DS_SEC_TYPE_RETAINED: return 8;
  case DS_SEC_SUSPECTS: return sizeof(ds_index_suspect);
  default: return 0;
  }
}

const char *ds__section_name(uint32_t id) {
  static const char *const names[] = {"?", "info", "object addresses", "object types", "object sizes",
                                      "big sizes", "outgoing offsets", "outgoing references",
                                      "incoming offsets", "incoming references", "types", "fields",
                                      "strings", "segments", "roots", "threads", "frames",
                                      "finalizable", "liveness", "generation histogram", "extra edges",
                                      "free blocks", "waits", "locks", "lock values", "lock waiters",
                                      "deadlocks", "findings", "memory ranges", "field info", "statics",
                                      "methods", "frame info", "frame variables", "settings", "evidence", "report",
                                      "immediate dominators", "retained sizes", "retained sizes per type",
                                      "leak suspects", "code map", "callees"};
  _Static_assert(sizeof names / sizeof *names == DS_SEC_COUNT_, "a name for every section");
  return id < sizeof names / sizeof *names ? names[id] : "unknown";
}

/* Four independent multiply-rotate lanes over 8-byte words: fast, and any flipped bit or moved
 * word changes the result. Not cryptographic: it detects damage, not tampering. In pieces (the
 * writer checksums each piece just before writing it, so the write copies from the cache):
 * blocks of 32 bytes, then the last size % 32 bytes at the end. */
void ds__checksum_begin(ds__checksum *c) {
  c->h[0] = 0x9E3779B97F4A7C15ull, c->h[1] = 0xC2B2AE3D27D4EB4Full;
  c->h[2] = 0x165667B19E3779F9ull, c->h[3] = 0x27D4EB2F165667C5ull;
}

void ds__checksum_blocks(ds__checksum *c, const void *data, uint64_t size) {
  const uint8_t *p = data;
  const uint64_t m = 0xff51afd7ed558ccdull;
  uint64_t h0 = c->h[0], h1 = c->h[1], h2 = c->h[2], h3 = c->h[3];
  for (uint64_t i = 0; i + 32 <= size; i += 32) {
    uint64_t w[4];
    memcpy(w, p + i, 32);
    h0 = (h0 ^ w[0]) * m, h0 = (h0 << 29) | (h0 >> 35);
    h1 = (h1 ^ w[1]) * m, h1 = (h1 << 29) | (h1 >> 35);
    h2 = (h2 ^ w[2]) * m, h2 = (h2 << 29) | (h2 >> 35);
    h3 = (h3 ^ w[3]) * m, h3 = (h3 << 29) | (h3 >> 35);
  }
  c->h[0] = h0, c->h[1] = h1, c->h[2] = h2, c->h[3] = h3;
}

uint64_t ds__checksum_end(const ds__checksum *c, const void *tail, uint64_t tail_size, uint64_t size) {
  const uint8_t *p = tail;
  const uint64_t m = 0xff51afd7ed558ccdull;
  uint64_t r = 0x84222325cbf29ce4ull ^ size;
  for (uint64_t i = 0; i < tail_size; i++)
    r = (r ^ p[i]) * 0x100000001b3ull;
  for (int l = 0; l < 4; l++)
    r = (r ^ c->h[l]) * m + (uint64_t)l;
  r ^= r >> 33;
  r *= 0xc4ceb9fe1a85ec53ull;
  r ^= r >> 33;
  return r;
}

uint64_t ds_index_checksum(const void *data, uint64_t size) {
  ds__checksum c;
  ds__checksum_begin(&c);
  uint64_t blocks = size & ~(uint64_t)31;
  ds__checksum_blocks(&c, data, blocks);
  return ds__checksum_end(&c, (const uint8_t *)data + blocks, size - blocks, size);
}

/* ---- string pool -------------------------------------------------------------------------- */

uint32_t ds_strpool_add(ds_strpool *pool, const char *text) {
  if (!pool->data) {
    pool->cap = 4096;
    pool->data = malloc(pool->cap);
    if (!pool->data)
      return 0;
    pool->data[0] = 0;
    pool->len = 1;
  }
  if (!text || !*text)
    return 0;
  size_t n = strlen(text) + 1;
  if (pool->len + n > UINT32_MAX)
    return 0;
  if (pool->len + n > pool->cap) {
    size_t cap = pool->cap * 2;
    while (cap < pool->len + n)
      cap *= 2;
    char *p = realloc(pool->data, cap);
    if (!p)
      return 0;
    pool->data = p;
    pool->cap = cap;
  }
  uint32_t off = (uint32_t)pool->len;
  memcpy(pool->data + pool->len, text, n);
  pool->len += n;
  return off;
}

void ds_strpool_free(ds_strpool *pool) {
  free(pool->data);
  memset(pool, 0, sizeof *pool);
}
