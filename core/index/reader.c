/*
 * reader.c: opening an index file (see index.h): mapped read-only, its header, table, sizes and
 * record references checked at open, each large section's checksum on first use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dumpscope/dump.h"
#include "indexint.h"

#define EAGER_VERIFY_LIMIT (1u << 20) /* sections smaller than this are checked at open */

/* Maps the file at path into a new idx (idx->map, idx->size). */
static ds_status map_file(const char *path, ds_index *idx, ds_error *err) {
  int fd = ds_open_regular(path);
  if (fd < 0)
    return ds_error_set(err, errno == ENOENT ? DS_E_NOT_FOUND : DS_E_IO, "cannot open index %s: %s", path,
                        errno == ENODEV ? "not a regular file" : strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ds_error_set(err, DS_E_IO, "index %s is not a regular file", path);
  }
  idx->size = (uint64_t)st.st_size;
  if (idx->size < sizeof(file_header)) {
    close(fd);
    return ds_error_set(err, DS_E_TRUNCATED, "index %s is truncated: %llu bytes, shorter than its header", path,
                        (unsigned long long)idx->size);
  }
  void *map = mmap(NULL, idx->size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED)
    return ds_error_set(err, DS_E_IO, "cannot map index %s: %s", path, strerror(errno));
  idx->map = map;
  return DS_OK;
}

/* The header: magic, checksum, version, size and section count. */
static ds_status read_header(const char *path, const ds_index *idx, file_header *h, ds_error *err) {
  memcpy(h, idx->map, sizeof *h);
  if (memcmp(h->magic, DS_INDEX_MAGIC, 8) != 0)
    return ds_error_set(err, DS_E_FORMAT, "%s is not a dumpscope index (bad magic)", path);
  if (h->header_checksum != ds_index_checksum(h, offsetof(file_header, header_checksum)))
    return ds_error_set(err, DS_E_CORRUPT, "index %s: header checksum mismatch", path);
  if (h->version != DS_INDEX_VERSION)
    return ds_error_set(err, DS_E_UNSUPPORTED, "index %s has format version %u; this build reads version %u", path,
                        h->version, DS_INDEX_VERSION);
  if (h->file_size != idx->size)
    return ds_error_set(err, h->file_size > idx->size ? DS_E_TRUNCATED : DS_E_CORRUPT,
                        "index %s is %llu bytes but its header says %llu%s", path, (unsigned long long)idx->size,
                        (unsigned long long)h->file_size, h->file_size > idx->size ? " (truncated)" : "");
  if (h->section_count == 0 || h->section_count > DS_MAX_INDEX_SECTIONS ||
      sizeof *h + (uint64_t)h->section_count * sizeof(section_entry) > idx->size)
    return ds_error_set(err, DS_E_CORRUPT, "index %s: invalid section count %u", path, h->section_count);
  return DS_OK;
}

/* The section table: each entry's id, bounds and record size; fills idx->sections (already
 * verified when unchecked: ds_index_open_unchecked). */
static ds_status read_table(const char *path, const file_header *h, bool unchecked, ds_index *idx, ds_error *err) {
  const uint8_t *table_bytes = idx->map + sizeof *h;
  if (h->table_checksum != ds_index_checksum(table_bytes, h->section_count * sizeof(section_entry)))
    return ds_error_set(err, DS_E_CORRUPT, "index %s: section table checksum mismatch", path);
  for (uint32_t i = 0; i < h->section_count; i++) {
    section_entry e;
    memcpy(&e, table_bytes + i * sizeof e, sizeof e);
    uint32_t es = ds__section_element_size(e.id);
    if (e.id == 0 || e.id >= DS_SEC_COUNT_ || es == 0)
      return ds_error_set(err, DS_E_CORRUPT, "index %s: unknown section id %u", path, e.id);
    if (e.offset > idx->size || e.size > idx->size - e.offset || (e.offset % 8) != 0)
      return ds_error_set(err, DS_E_CORRUPT, "index %s: section \"%s\" lies outside the file", path,
                          ds__section_name(e.id));
    if (e.size % es != 0)
      return ds_error_set(err, DS_E_CORRUPT, "index %s: section \"%s\" is %llu bytes, not whole %u-byte records",
                          path, ds__section_name(e.id), (unsigned long long)e.size, es);
    idx->sections[e.id].data = idx->map + e.offset;
    idx->sections[e.id].size = e.size;
    idx->sections[e.id].checksum = e.checksum;
    idx->sections[e.id].verified = unchecked ? 1 : 0;
  }
  return DS_OK;
}

/* What every query relies on must be there and agree: the info, the string pool, and the sizes
 * of the per-object, per-type and per-root sections. */
static ds_status check_contents(const char *path, ds_index *idx, ds_error *err) {
  uint64_t info_size;
  idx->info = ds_index_section(idx, DS_SEC_INFO, &info_size);
  if (!idx->info || info_size != sizeof(ds_index_info))
    return ds_error_set(err, DS_E_CORRUPT, "index %s has no info section", path);
  idx->strings = ds_index_section(idx, DS_SEC_STRINGS, &idx->strings_size);
  if (!idx->strings || idx->strings_size == 0 || idx->strings[idx->strings_size - 1] != 0)
    return ds_error_set(err, DS_E_CORRUPT, "index %s: string pool missing or unterminated", path);
  uint64_t n = idx->info->object_count, e = idx->info->edge_count;
  struct { ds_section_id id; uint64_t expect; } sizes[] = {
      {DS_SEC_OBJ_ADDR, n * 8},       {DS_SEC_OBJ_TYPE, n * 4},      {DS_SEC_OBJ_SIZE, n * 4},
      {DS_SEC_OUT_OFF, (n + 1) * 4},  {DS_SEC_IN_OFF, (n + 1) * 4},  {DS_SEC_OUT_EDGE, e * 4},
      {DS_SEC_IN_EDGE, e * 4},        {DS_SEC_LIVE, (n + 63) / 64 * 8},
      {DS_SEC_TYPES, idx->info->type_count * sizeof(ds_index_type)},
      {DS_SEC_ROOTS, idx->info->root_count * sizeof(ds_index_root)},
      /* optional (a hand-made index may lack them), but whole when present */
      {DS_SEC_IDOM, n * 4},           {DS_SEC_RETAINED, n * 8},
      {DS_SEC_TYPE_RETAINED, idx->info->type_count * 8},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    if ((idx->sections[sizes[i].id].data || sizes[i].id < DS_SEC_IDOM) &&
        idx->sections[sizes[i].id].size != sizes[i].expect)
      return ds_error_set(err, DS_E_CORRUPT, "index %s: section \"%s\" is %llu bytes, expected %llu", path,
                          ds__section_name(sizes[i].id), (unsigned long long)idx->sections[sizes[i].id].size,
                          (unsigned long long)sizes[i].expect);
  if (n >= UINT32_MAX || idx->info->type_count >= UINT32_MAX)
    return ds_error_set(err, DS_E_CORRUPT, "index %s: impossible object count", path);
  return DS_OK;
}

static ds_status open_index(const char *path, bool unchecked, ds_index **out, ds_error *err) {
  *out = NULL;
  ds_index *idx = calloc(1, sizeof *idx);
  if (!idx)
    return ds_error_set(err, DS_E_NOMEM, "out of memory opening the index");
  pthread_mutex_init(&idx->lock, NULL);
  file_header h;
  ds_status rc = map_file(path, idx, err);
  if (rc == DS_OK)
    rc = read_header(path, idx, &h, err);
  if (rc == DS_OK)
    rc = read_table(path, &h, unchecked, idx, err);
  /* small sections are checked now; large ones on first use */
  for (uint32_t id = 1; rc == DS_OK && id < DS_SEC_COUNT_; id++)
    if (idx->sections[id].data && idx->sections[id].size < EAGER_VERIFY_LIMIT)
      rc = ds_index_require(idx, (ds_section_id)id, err);
  if (rc == DS_OK)
    rc = check_contents(path, idx, err);
  if (rc == DS_OK)
    rc = ds__check_record_sections(idx, path, err);
  if (rc != DS_OK) {
    ds_index_close(idx);
    return rc;
  }
  *out = idx;
  return DS_OK;
}

ds_status ds_index_open(const char *path, ds_index **out, ds_error *err) { return open_index(path, false, out, err); }

ds_status ds_index_open_unchecked(const char *path, ds_index **out, ds_error *err) {
  return open_index(path, true, out, err);
}

void ds_index_close(ds_index *idx) {
  if (!idx)
    return;
  if (idx->map)
    munmap((void *)idx->map, idx->size);
  pthread_mutex_destroy(&idx->lock);
  free(idx);
}

ds_status ds_index_require(ds_index *idx, ds_section_id id, ds_error *err) {
  if (id <= 0 || id >= DS_SEC_COUNT_)
    return ds_error_set(err, DS_E_ARG, "bad section id %d", (int)id);
  if (__atomic_load_n(&idx->sections[id].verified, __ATOMIC_ACQUIRE) == 1 || !idx->sections[id].data)
    return DS_OK;
  pthread_mutex_lock(&idx->lock);
  ds_status rc = DS_OK;
  /* atomic reads: ds_index_require_many's threads set the flag without the lock */
  if (__atomic_load_n(&idx->sections[id].verified, __ATOMIC_ACQUIRE) == 0) {
    bool good = ds_index_checksum(idx->sections[id].data, idx->sections[id].size) == idx->sections[id].checksum;
    __atomic_store_n(&idx->sections[id].verified, good ? 1 : -1, __ATOMIC_RELEASE);
  }
  if (__atomic_load_n(&idx->sections[id].verified, __ATOMIC_ACQUIRE) != 1)
    rc = ds_error_set(err, DS_E_CORRUPT, "index damaged: section \"%s\" fails its checksum; rebuild the index",
                      ds__section_name(id));
  pthread_mutex_unlock(&idx->lock);
  return rc;
}

/* Checks the sections of one half of ds_index_require_many's list: the sum, then the flag, set
 * only if nobody set it meanwhile (ds_index_require computes the same under the lock). */
typedef struct verify_half {
  ds_index *idx;
  ds_section_id ids[DS_SEC_COUNT_];
  size_t count;
} verify_half;

static void *verify_sections(void *p) {
  verify_half *h = p;
  for (size_t k = 0; k < h->count; k++) {
    ds_index *idx = h->idx;
    ds_section_id id = h->ids[k];
    int want = ds_index_checksum(idx->sections[id].data, idx->sections[id].size) == idx->sections[id].checksum ? 1 : -1,
        unset = 0;
    __atomic_compare_exchange_n(&idx->sections[id].verified, &unset, want, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  return NULL;
}

ds_status ds_index_require_many(ds_index *idx, const ds_section_id *ids, size_t count, ds_error *err) {
  /* the sections not yet checked, split in two halves of about equal bytes (largest first) */
  verify_half half[2] = {{.idx = idx}, {.idx = idx}};
  uint64_t bytes[2] = {0, 0};
  bool taken[DS_SEC_COUNT_] = {false};
  for (;;) {
    ds_section_id best = 0;
    for (size_t k = 0; k < count; k++) {
      ds_section_id id = ids[k];
      if (id <= 0 || id >= DS_SEC_COUNT_ || taken[id] || !idx->sections[id].data ||
          __atomic_load_n(&idx->sections[id].verified, __ATOMIC_ACQUIRE) != 0)
        continue;
      if (!best || idx->sections[id].size > idx->sections[best].size)
        best = id;
    }
    if (!best)
      break;
    taken[best] = true;
    int to = bytes[1] < bytes[0];
    half[to].ids[half[to].count++] = best;
    bytes[to] += idx->sections[best].size;
  }
  /* a second thread pays only for itself when both halves are large */
  pthread_t thread;
  bool started = bytes[1] >= ((uint64_t)1 << 20) && pthread_create(&thread, NULL, verify_sections, &half[1]) == 0;
  verify_sections(&half[0]);
  if (started)
    pthread_join(thread, NULL);
  else
    verify_sections(&half[1]);
  /* the verdicts, and the error of the first bad one, in the caller's order */
  for (size_t k = 0; k < count; k++) {
    ds_status rc = ds_index_require(idx, ids[k], err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

ds_status ds_index_verify_all(ds_index *idx, ds_error *err) {
  for (uint32_t id = 1; id < DS_SEC_COUNT_; id++) {
    ds_status rc = ds_index_require(idx, (ds_section_id)id, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

const void *ds_index_section(const ds_index *idx, ds_section_id id, uint64_t *size) {
  if (id <= 0 || id >= DS_SEC_COUNT_) {
    if (size)
      *size = 0;
    return NULL;
  }
  if (size)
    *size = idx->sections[id].size;
  return idx->sections[id].data;
}

const ds_index_info *ds_index_get_info(const ds_index *idx) { return idx->info; }

const char *ds_index_string(const ds_index *idx, uint32_t offset) {
  return offset < idx->strings_size ? idx->strings + offset : "";
}

uint64_t ds_index_object_count(const ds_index *idx) { return idx->info->object_count; }
