/*
 * index.c: the heap index file format (see index.h): writer and mmap reader with checks.
 */
#include "dumpscope/index.h"
#include "dumpscope/dump.h"
#include "dumpscope/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTION_ALIGN 64u
#define EAGER_VERIFY_LIMIT (1u << 20) /* sections smaller than this are checked at open */

typedef struct file_header {
  char magic[8];
  uint32_t version, header_size;
  uint64_t file_size;
  uint32_t section_count, reserved;
  uint64_t table_checksum;
  uint64_t header_checksum; /* over the bytes above */
} file_header;

typedef struct section_entry {
  uint32_t id, reserved;
  uint64_t offset, size, checksum;
} section_entry;

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
static uint32_t element_size(uint32_t id) {
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

static const char *section_name(uint32_t id) {
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

uint64_t ds_index_checksum(const void *data, uint64_t size) {
  /* Four independent multiply-rotate lanes over 8-byte words: fast, and any flipped bit or
   * moved word changes the result. Not cryptographic: it detects damage, not tampering. */
  const uint8_t *p = data;
  uint64_t h[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                   0x27D4EB2F165667C5ull};
  const uint64_t m = 0xff51afd7ed558ccdull;
  uint64_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int l = 0; l < 4; l++) {
      uint64_t w;
      memcpy(&w, p + i + 8 * l, 8);
      h[l] = (h[l] ^ w) * m;
      h[l] = (h[l] << 29) | (h[l] >> 35);
    }
  }
  uint64_t tail = 0x84222325cbf29ce4ull ^ size;
  for (; i < size; i++)
    tail = (tail ^ p[i]) * 0x100000001b3ull;
  uint64_t r = tail;
  for (int l = 0; l < 4; l++)
    r = (r ^ h[l]) * m + (uint64_t)l;
  r ^= r >> 33;
  r *= 0xc4ceb9fe1a85ec53ull;
  r ^= r >> 33;
  return r;
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

/* ---- writer ------------------------------------------------------------------------------- */

/* Sections are written as they are added (and their writeback started at once), so the disk
 * works while the builder computes the next ones; the header and table go in last. */
struct ds_index_writer {
  int fd;
  char tmp[4200];
  char path[4096];
  uint64_t offset;           /* where the next section goes */
  section_entry table[DS_MAX_INDEX_SECTIONS];
  uint32_t count;
  bool finished;
  bool streaming;            /* between ds_index_writer_begin and _end */
  bool unchecked;            /* ds_index_writer_skip_checksums: sections get checksum 0 */
  struct { void *base; size_t len; } maps[DS_MAX_INDEX_SECTIONS]; /* ds_index_writer_map_last's */
  uint32_t map_count;
};

#define TABLE_RESERVED                                                                                \
  (((sizeof(file_header) + DS_MAX_INDEX_SECTIONS * sizeof(section_entry)) + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1))

static bool write_all_at(int fd, const void *data, uint64_t size, uint64_t offset) {
  const uint8_t *p = data;
  while (size) {
    ssize_t n = pwrite(fd, p, size > (1u << 30) ? (1u << 30) : (size_t)size, (off_t)offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    size -= (uint64_t)n;
    offset += (uint64_t)n;
  }
  return true;
}

/* The writer renames its file over path at the end: never over something that is not an index
 * (`--index app.dmp` must not replace the dump). An existing path must be a regular file that
 * starts with the index magic (a damaged or older index is fine: it is being rebuilt). */
static ds_status refuse_foreign_target(const char *path, ds_error *err) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? DS_OK : ds_error_set(err, DS_E_IO, "cannot check %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return ds_error_set(err, DS_E_ARG, "refusing to write the index to %s: it exists and is not a regular file",
                        path);
  char magic[sizeof DS_INDEX_MAGIC - 1] = {0};
  int fd = ds_open_regular(path);
  ssize_t n = fd >= 0 ? read(fd, magic, sizeof magic) : -1;
  if (fd >= 0)
    close(fd);
  if (st.st_size == 0 || (n == (ssize_t)sizeof magic && memcmp(magic, DS_INDEX_MAGIC, sizeof magic) == 0))
    return DS_OK;
  return ds_error_set(err, DS_E_ARG, "refusing to replace %s with an index: it is not a dumpscope index "
                                     "(choose another --index path)", path);
}

/* Removes "<path>.tmp.<pid>" files left by builds whose process is gone (killed mid-way). */
static void remove_stale_builds(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  const char *base = slash ? slash + 1 : path;
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  size_t base_len = strlen(base);
  DIR *dh = opendir(dir);
  if (!dh)
    return;
  struct dirent *e;
  while ((e = readdir(dh))) {
    if (strncmp(e->d_name, base, base_len) != 0 || strncmp(e->d_name + base_len, ".tmp.", 5) != 0)
      continue;
    char *end = NULL;
    long pid = strtol(e->d_name + base_len + 5, &end, 10);
    if (pid <= 0 || !end || *end || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    char stale[8192];
    snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name);
    unlink(stale);
  }
  closedir(dh);
}

ds_status ds_index_writer_create(const char *path, ds_index_writer **out, ds_error *err) {
  *out = NULL;
  ds_index_writer *w = calloc(1, sizeof *w);
  if (!w)
    return ds_error_set(err, DS_E_NOMEM, "out of memory creating the index writer");
  snprintf(w->path, sizeof w->path, "%s", path);
  snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%d", path, (int)getpid());
  ds_status refused = refuse_foreign_target(path, err);
  if (refused != DS_OK) {
    free(w);
    return refused;
  }
  remove_stale_builds(path);
  w->fd = open(w->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* read: sections are mapped back */
  if (w->fd < 0) {
    ds_status rc = ds_error_set(err, DS_E_IO, "cannot create %s: %s", w->tmp, strerror(errno));
    free(w);
    return rc;
  }
  w->offset = TABLE_RESERVED;
  *out = w;
  return DS_OK;
}

void ds_index_writer_free(ds_index_writer *w) {
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  if (!w->finished)
    unlink(w->tmp); /* an unfinished index never appears under its name */
  for (uint32_t m = 0; m < w->map_count; m++)
    munmap(w->maps[m].base, w->maps[m].len);
  free(w);
}

ds_status ds_index_writer_add(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                              ds_error *err) {
  if (w->streaming)
    return ds_error_set(err, DS_E_ARG, "a section is being streamed");
  if (w->count >= DS_MAX_INDEX_SECTIONS)
    return ds_error_set(err, DS_E_LIMIT, "too many index sections");
  section_entry *e = &w->table[w->count];
  e->id = id;
  e->offset = w->offset;
  e->size = size;
  e->checksum = w->unchecked ? 0 : ds_index_checksum(data, size);
  if (size && !write_all_at(w->fd, data, size, w->offset))
    return ds_error_set(err, DS_E_IO, "cannot write %s: %s", w->tmp, strerror(errno));
  if (size)
    sync_file_range(w->fd, (off_t)w->offset, (off_t)size, SYNC_FILE_RANGE_WRITE);
  w->offset = (w->offset + size + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1);
  w->count++;
  return DS_OK;
}

ds_status ds_index_writer_begin(ds_index_writer *w, ds_section_id id, ds_error *err) {
  if (w->count >= DS_MAX_INDEX_SECTIONS)
    return ds_error_set(err, DS_E_LIMIT, "too many index sections");
  w->table[w->count] = (section_entry){.id = id, .offset = w->offset, .size = 0};
  w->streaming = true;
  return DS_OK;
}

ds_status ds_index_writer_append(ds_index_writer *w, const void *data, uint64_t size, ds_error *err) {
  section_entry *e = &w->table[w->count];
  if (size && !write_all_at(w->fd, data, size, e->offset + e->size))
    return ds_error_set(err, DS_E_IO, "cannot write %s: %s", w->tmp, strerror(errno));
  if (size)
    sync_file_range(w->fd, (off_t)(e->offset + e->size), (off_t)size, SYNC_FILE_RANGE_WRITE);
  e->size += size;
  return DS_OK;
}

/* The whole of [offset, offset + size) of the file, mapped read-only: *base and *len to unmap. */
static const uint8_t *map_range(ds_index_writer *w, uint64_t offset, uint64_t size, void **base, size_t *len) {
  uint64_t start = offset & ~(uint64_t)4095;
  *len = (size_t)(size + (offset - start));
  *base = mmap(NULL, *len ? *len : 1, PROT_READ, MAP_SHARED, w->fd, (off_t)start);
  if (*base == MAP_FAILED)
    return NULL;
  return (const uint8_t *)*base + (offset - start);
}

ds_status ds_index_writer_end(ds_index_writer *w, ds_error *err) {
  section_entry *e = &w->table[w->count];
  w->streaming = false;
  /* the checksum over the written bytes, read back through the page cache */
  void *base;
  size_t len;
  const uint8_t *data = e->size && !w->unchecked ? map_range(w, e->offset, e->size, &base, &len) : NULL;
  if (e->size && !w->unchecked && !data)
    return ds_error_set(err, DS_E_IO, "cannot map %s back: %s", w->tmp, strerror(errno));
  e->checksum = w->unchecked ? 0 : ds_index_checksum(data ? (const void *)data : "", e->size);
  if (data)
    munmap(base, len);
  w->offset = (w->offset + e->size + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1);
  w->count++;
  return DS_OK;
}

const void *ds_index_writer_map_last(ds_index_writer *w, uint64_t *size, ds_error *err) {
  if (!w->count || w->map_count >= DS_MAX_INDEX_SECTIONS) {
    ds_error_set(err, DS_E_ARG, "no section to map back");
    return NULL;
  }
  const section_entry *e = &w->table[w->count - 1];
  *size = e->size;
  void *base;
  size_t len;
  const uint8_t *data = map_range(w, e->offset, e->size, &base, &len);
  if (!data) {
    ds_error_set(err, DS_E_IO, "cannot map %s back: %s", w->tmp, strerror(errno));
    return NULL;
  }
  w->maps[w->map_count].base = base;
  w->maps[w->map_count].len = len;
  w->map_count++;
  return data;
}

void ds_index_writer_release(const void *map, uint64_t size) {
  uintptr_t start = ((uintptr_t)map + 4095) & ~(uintptr_t)4095, end = ((uintptr_t)map + size) & ~(uintptr_t)4095;
  if (end > start)
    madvise((void *)start, end - start, MADV_DONTNEED);
}

ds_status ds_index_writer_finish(ds_index_writer *w, ds_error *err) {
  file_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, DS_INDEX_MAGIC, 8);
  h.version = DS_INDEX_VERSION;
  h.header_size = sizeof h;
  h.file_size = w->offset;
  h.section_count = w->count;
  h.table_checksum = ds_index_checksum(w->table, w->count * sizeof(section_entry));
  h.header_checksum = ds_index_checksum(&h, offsetof(file_header, header_checksum));
  if (ftruncate(w->fd, (off_t)w->offset) != 0 || !write_all_at(w->fd, w->table, w->count * sizeof(section_entry), sizeof h) ||
      !write_all_at(w->fd, &h, sizeof h, 0) || fsync(w->fd) != 0)
    return ds_error_set(err, DS_E_IO, "cannot write %s: %s", w->tmp, strerror(errno));
  if (close(w->fd) != 0) {
    w->fd = -1;
    return ds_error_set(err, DS_E_IO, "cannot write %s: %s", w->tmp, strerror(errno));
  }
  w->fd = -1;
  if (rename(w->tmp, w->path) != 0)
    return ds_error_set(err, DS_E_IO, "cannot rename %s into place: %s", w->tmp, strerror(errno));
  w->finished = true;
  return DS_OK;
}

/* ---- reader ------------------------------------------------------------------------------- */

struct ds_index {
  const uint8_t *map;
  uint64_t size;
  struct { const uint8_t *data; uint64_t size, checksum; int verified; } sections[DS_SEC_COUNT_];
  pthread_mutex_t lock;
  const ds_index_info *info;
  const char *strings;
  uint64_t strings_size;
};

/* ---- the lock analysis' sections: every index in them is checked once, at open ------------ */

/* What the references of the lock sections must stay below. */
typedef struct ref_bounds {
  uint64_t threads, frames, objects, strings, values, waiters, deadlocks, types, evidence;
} ref_bounds;

static bool opt_thread(const ref_bounds *b, uint32_t t) { return t == UINT32_MAX || t < b->threads; }
static bool opt_object(const ref_bounds *b, uint32_t o) { return o == UINT32_MAX || o < b->objects; }
static bool range_in(uint32_t first, uint32_t count, uint64_t total) { return (uint64_t)first + count <= total; }

static bool wait_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_wait *w = rec;
  return w->thread < b->threads && (i == 0 || w[-1].thread < w->thread) && w->kind < b->strings &&
         w->mode < b->strings && (w->frame == UINT32_MAX || w->frame < b->frames) && opt_object(b, w->object) &&
         opt_thread(b, w->holder);
}

static bool lock_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_lock *l = rec;
  (void)i;
  return opt_object(b, l->object) && l->kind < b->strings && range_in(l->first_value, l->value_count, b->values) &&
         range_in(l->first_waiter, l->waiter_count, b->waiters);
}

static bool value_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_lock_value *v = rec;
  (void)i;
  if (v->name >= b->strings || v->type == 0 || v->type >= DS_VALUE_TYPE_COUNT_)
    return false;
  return v->type != DS_VALUE_THREAD || (v->value >= 0 && v->value <= UINT32_MAX && opt_thread(b, (uint32_t)v->value));
}

static bool waiter_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_waiter *w = rec;
  (void)i;
  return w->thread < b->threads && w->mode < b->strings && opt_object(b, w->object);
}

static bool deadlock_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_deadlock *d = rec;
  (void)i;
  return d->type != 0 && d->type < DS_DEADLOCK_TYPE_COUNT_ && opt_object(b, d->object) && d->kind < b->strings &&
         opt_thread(b, d->holder) && range_in(d->first_waiter, d->waiter_count, b->waiters);
}

static bool finding_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_finding *f = rec;
  (void)i;
  if (f->severity >= b->strings || f->title >= b->strings || f->description >= b->strings ||
      f->recommendation >= b->strings || f->details >= DS_FINDING_DETAILS_COUNT_ || !opt_object(b, f->object) ||
      !opt_thread(b, f->holder) || !range_in(f->first_waiter, f->waiter_count, b->waiters) ||
      f->code >= b->strings || f->setting >= b->strings || !range_in(f->first_evidence, f->evidence_count, b->evidence))
    return false;
  if (f->details == DS_FINDING_CYCLE)
    return f->ref < b->deadlocks;
  if (f->details == DS_FINDING_THREAD)
    return f->ref < b->threads;
  return true;
}

static bool evidence_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_evidence *e = rec;
  (void)i;
  if (e->label >= b->strings)
    return false;
  switch (e->kind) {
  case DS_EVIDENCE_TYPE: return e->ref < b->types;
  case DS_EVIDENCE_OBJECT: return e->ref < b->objects;
  case DS_EVIDENCE_THREAD: return e->ref < b->threads;
  default: return false;
  }
}

static bool setting_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  (void)i;
  return ((const ds_index_setting *)rec)->name < b->strings;
}

static bool report_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_report *r = rec;
  return i == 0 && range_in(r->first_duplicate, r->duplicate_count, b->evidence) &&
         range_in(r->first_large, r->large_count, b->evidence) &&
         range_in(r->first_exception, r->exception_count_groups, b->evidence) && r->dump_kind < DS_DUMP_KIND_COUNT_;
}

static bool suspect_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_suspect *s = rec;
  (void)i;
  if (s->description >= b->strings || !range_in(s->first_group, s->group_count, b->evidence))
    return false;
  if (s->kind == DS_SUSPECT_OBJECT)
    return s->ref < b->objects && opt_object(b, s->accumulation);
  return s->kind == DS_SUSPECT_TYPE && s->ref < b->types && s->accumulation == UINT32_MAX;
}

/* Checks every record of the analysis' sections (locks, findings, evidence, report); DS_E_CORRUPT
 * naming the first bad one. */
static ds_status check_lock_sections(const ds_index *idx, const char *path, ds_error *err) {
  ref_bounds b = {
      .threads = idx->sections[DS_SEC_THREADS].size / sizeof(ds_index_thread),
      .frames = idx->sections[DS_SEC_FRAMES].size / sizeof(ds_index_frame),
      .objects = idx->info->object_count,
      .strings = idx->strings_size,
      .values = idx->sections[DS_SEC_LOCK_VALUES].size / sizeof(ds_index_lock_value),
      .waiters = idx->sections[DS_SEC_LOCK_WAITERS].size / sizeof(ds_index_waiter),
      .deadlocks = idx->sections[DS_SEC_DEADLOCKS].size / sizeof(ds_index_deadlock),
      .types = idx->info->type_count,
      .evidence = idx->sections[DS_SEC_EVIDENCE].size / sizeof(ds_index_evidence),
  };
  static const struct {
    ds_section_id id;
    bool (*ok)(const ref_bounds *, const void *, uint64_t);
  } checks[] = {
      {DS_SEC_WAITS, wait_ok},         {DS_SEC_LOCKS, lock_ok},         {DS_SEC_LOCK_VALUES, value_ok},
      {DS_SEC_LOCK_WAITERS, waiter_ok}, {DS_SEC_DEADLOCKS, deadlock_ok}, {DS_SEC_FINDINGS, finding_ok},
      {DS_SEC_EVIDENCE, evidence_ok},   {DS_SEC_SETTINGS, setting_ok},   {DS_SEC_REPORT, report_ok},
      {DS_SEC_SUSPECTS, suspect_ok},
  };
  for (size_t c = 0; c < sizeof checks / sizeof *checks; c++) {
    uint32_t es = element_size(checks[c].id);
    const uint8_t *data = idx->sections[checks[c].id].data;
    uint64_t count = idx->sections[checks[c].id].size / es;
    for (uint64_t i = 0; i < count; i++)
      if (!checks[c].ok(&b, data + i * es, i))
        return ds_error_set(err, DS_E_CORRUPT, "index %s: record %llu of section \"%s\" refers outside the index",
                            path, (unsigned long long)i, section_name(checks[c].id));
  }
  return DS_OK;
}

void ds_index_writer_skip_checksums(ds_index_writer *w) { w->unchecked = true; }

static ds_status open_index(const char *path, bool unchecked, ds_index **out, ds_error *err);

ds_status ds_index_open(const char *path, ds_index **out, ds_error *err) { return open_index(path, false, out, err); }

ds_status ds_index_open_unchecked(const char *path, ds_index **out, ds_error *err) {
  return open_index(path, true, out, err);
}

static ds_status open_index(const char *path, bool unchecked, ds_index **out, ds_error *err) {
  *out = NULL;
  ds_status rc = DS_OK;
  int fd = ds_open_regular(path);
  if (fd < 0)
    return ds_error_set(err, errno == ENOENT ? DS_E_NOT_FOUND : DS_E_IO, "cannot open index %s: %s", path,
                        errno == ENODEV ? "not a regular file" : strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ds_error_set(err, DS_E_IO, "index %s is not a regular file", path);
  }
  ds_index *idx = calloc(1, sizeof *idx);
  if (!idx) {
    close(fd);
    return ds_error_set(err, DS_E_NOMEM, "out of memory opening the index");
  }
  pthread_mutex_init(&idx->lock, NULL);
  idx->size = (uint64_t)st.st_size;
  if (idx->size < sizeof(file_header)) {
    close(fd);
    rc = ds_error_set(err, DS_E_TRUNCATED, "index %s is truncated: %llu bytes, shorter than its header",
                      path, (unsigned long long)idx->size);
    goto out;
  }
  void *map = mmap(NULL, idx->size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    rc = ds_error_set(err, DS_E_IO, "cannot map index %s: %s", path, strerror(errno));
    goto out;
  }
  idx->map = map;
  file_header h;
  memcpy(&h, idx->map, sizeof h);
  if (memcmp(h.magic, DS_INDEX_MAGIC, 8) != 0) {
    rc = ds_error_set(err, DS_E_FORMAT, "%s is not a dumpscope index (bad magic)", path);
    goto out;
  }
  if (h.header_checksum != ds_index_checksum(&h, offsetof(file_header, header_checksum))) {
    rc = ds_error_set(err, DS_E_CORRUPT, "index %s: header checksum mismatch", path);
    goto out;
  }
  if (h.version != DS_INDEX_VERSION) {
    rc = ds_error_set(err, DS_E_UNSUPPORTED, "index %s has format version %u; this build reads version %u",
                      path, h.version, DS_INDEX_VERSION);
    goto out;
  }
  if (h.file_size != idx->size) {
    rc = ds_error_set(err, h.file_size > idx->size ? DS_E_TRUNCATED : DS_E_CORRUPT,
                      "index %s is %llu bytes but its header says %llu%s", path,
                      (unsigned long long)idx->size, (unsigned long long)h.file_size,
                      h.file_size > idx->size ? " (truncated)" : "");
    goto out;
  }
  if (h.section_count == 0 || h.section_count > DS_MAX_INDEX_SECTIONS ||
      sizeof h + (uint64_t)h.section_count * sizeof(section_entry) > idx->size) {
    rc = ds_error_set(err, DS_E_CORRUPT, "index %s: invalid section count %u", path, h.section_count);
    goto out;
  }
  const uint8_t *table_bytes = idx->map + sizeof h;
  if (h.table_checksum != ds_index_checksum(table_bytes, h.section_count * sizeof(section_entry))) {
    rc = ds_error_set(err, DS_E_CORRUPT, "index %s: section table checksum mismatch", path);
    goto out;
  }
  for (uint32_t i = 0; i < h.section_count; i++) {
    section_entry e;
    memcpy(&e, table_bytes + i * sizeof e, sizeof e);
    uint32_t es = element_size(e.id);
    if (e.id == 0 || e.id >= DS_SEC_COUNT_ || es == 0) {
      rc = ds_error_set(err, DS_E_CORRUPT, "index %s: unknown section id %u", path, e.id);
      goto out;
    }
    if (e.offset > idx->size || e.size > idx->size - e.offset || (e.offset % 8) != 0) {
      rc = ds_error_set(err, DS_E_CORRUPT, "index %s: section \"%s\" lies outside the file", path,
                        section_name(e.id));
      goto out;
    }
    if (e.size % es != 0) {
      rc = ds_error_set(err, DS_E_CORRUPT, "index %s: section \"%s\" is %llu bytes, not whole %u-byte records",
                        path, section_name(e.id), (unsigned long long)e.size, es);
      goto out;
    }
    idx->sections[e.id].data = idx->map + e.offset;
    idx->sections[e.id].size = e.size;
    idx->sections[e.id].checksum = e.checksum;
    idx->sections[e.id].verified = unchecked ? 1 : 0;
  }
  /* Small sections are checked now; large ones on first use. */
  for (uint32_t id = 1; id < DS_SEC_COUNT_; id++)
    if (idx->sections[id].data && idx->sections[id].size < EAGER_VERIFY_LIMIT &&
        (rc = ds_index_require(idx, (ds_section_id)id, err)) != DS_OK)
      goto out;
  /* What every query relies on must be there and agree. */
  uint64_t info_size;
  idx->info = ds_index_section(idx, DS_SEC_INFO, &info_size);
  if (!idx->info || info_size != sizeof(ds_index_info)) {
    rc = ds_error_set(err, DS_E_CORRUPT, "index %s has no info section", path);
    goto out;
  }
  idx->strings = ds_index_section(idx, DS_SEC_STRINGS, &idx->strings_size);
  if (!idx->strings || idx->strings_size == 0 || idx->strings[idx->strings_size - 1] != 0) {
    rc = ds_error_set(err, DS_E_CORRUPT, "index %s: string pool missing or unterminated", path);
    goto out;
  }
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
        idx->sections[sizes[i].id].size != sizes[i].expect) {
      rc = ds_error_set(err, DS_E_CORRUPT, "index %s: section \"%s\" is %llu bytes, expected %llu", path,
                        section_name(sizes[i].id), (unsigned long long)idx->sections[sizes[i].id].size,
                        (unsigned long long)sizes[i].expect);
      goto out;
    }
  if (n >= UINT32_MAX || idx->info->type_count >= UINT32_MAX) {
    rc = ds_error_set(err, DS_E_CORRUPT, "index %s: impossible object count", path);
    goto out;
  }
  rc = check_lock_sections(idx, path, err);
out:
  if (rc != DS_OK) {
    ds_index_close(idx);
    return rc;
  }
  *out = idx;
  return DS_OK;
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
                      section_name(id));
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
