/*
 * writer.c: writing an index file (see index.h): sections as they come, the table and header last,
 * renamed into place.
 */
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

#include "dumpscope/dump.h"
#include "dumpscope/limits.h"
#include "indexint.h"


/* Sections are written as they are added (and their writeback started at once), so the disk
 * works while the builder computes the next ones; the header and table go in last. */
struct ds_index_writer {
  int fd;
  int direct_fd;             /* the file again, O_DIRECT (ds_index_writer_add_direct): -1 until opened,
                              * -2 when refused */
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
  pthread_mutex_t lock;      /* the table, offset and count, for sections added from several threads */
};

#define TABLE_RESERVED                                                                                \
  (((sizeof(file_header) + DS_MAX_INDEX_SECTIONS * sizeof(section_entry)) + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1))

/* In pieces of at most 8 MiB: a buffered write holds the file's inode lock throughout, and a
 * thread adding a small section should not wait for the whole of another's 130 MB one. */
static bool write_all_at(int fd, const void *data, uint64_t size, uint64_t offset) {
  const uint8_t *p = data;
  while (size) {
    ssize_t n = pwrite(fd, p, size > (8u << 20) ? (8u << 20) : (size_t)size, (off_t)offset);
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

void ds_index_writer_drop_cached(const char *path) {
  if (!path)
    return;
  ds_error ignore = {0};
  if (refuse_foreign_target(path, &ignore) != DS_OK)
    return; /* not an index: left alone (ds_index_writer_create refuses it later) */
  int fd = ds_open_regular(path);
  if (fd < 0)
    return; /* none */
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* advice: pages mapped or dirty stay */
  close(fd);
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
  w->direct_fd = -1;
  pthread_mutex_init(&w->lock, NULL);
  *out = w;
  return DS_OK;
}

void ds_index_writer_free(ds_index_writer *w) {
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  if (w->direct_fd >= 0)
    close(w->direct_fd);
  if (!w->finished)
    unlink(w->tmp); /* an unfinished index never appears under its name */
  for (uint32_t m = 0; m < w->map_count; m++)
    munmap(w->maps[m].base, w->maps[m].len);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

/* Claims the table's next entry and its place in the file (from an offset aligned to `align`, and
 * the next section's from one aligned to end_align past it): the entry's index, or UINT32_MAX
 * with err. */
static uint32_t claim_section(ds_index_writer *w, ds_section_id id, uint64_t size, uint64_t align, uint64_t end_align,
                              ds_error *err) {
  pthread_mutex_lock(&w->lock);
  uint32_t k = UINT32_MAX;
  if (w->streaming) {
    ds_error_set(err, DS_E_ARG, "a section is being streamed");
  } else if (w->count >= DS_MAX_INDEX_SECTIONS) {
    ds_error_set(err, DS_E_LIMIT, "too many index sections");
  } else {
    k = w->count++;
    uint64_t at = (w->offset + align - 1) & ~(align - 1);
    w->table[k] = (section_entry){.id = id, .offset = at, .size = size};
    w->offset = (at + size + end_align - 1) & ~(end_align - 1);
  }
  pthread_mutex_unlock(&w->lock);
  return k;
}

/* A piece written around the page cache (ds_index_writer_add_direct): copied into the aligned
 * buffer (PIECE bytes) with zeros up to its page's end, which the section's claim owns. False when
 * the file system refuses it after all (EINVAL) or writes less. */
static bool write_direct(int fd, void *bounce, const uint8_t *p, uint64_t piece, uint64_t offset) {
  size_t whole = (size_t)((piece + 4095) & ~(uint64_t)4095);
  memcpy(bounce, p, (size_t)piece);
  memset((uint8_t *)bounce + piece, 0, whole - (size_t)piece);
  ssize_t n;
  while ((n = pwrite(fd, bounce, whole, (off_t)offset)) < 0 && errno == EINTR)
    ;
  return n == (ssize_t)whole;
}

enum { PIECE = 1 << 20 }; /* a multiple of 32 and of the page */

/* Checksums and writes the claimed entry k's bytes, a piece at a time: the checksum brings each
 * piece into the cache, from where the write copies it (a section of 100 MB and more was read
 * from memory twice). With a direct descriptor and its buffer (PIECE bytes, page-aligned), around
 * the page cache, and through it from the first piece that direct I/O refuses. Its place is its
 * own: no lock needed. */
static ds_status write_section(ds_index_writer *w, uint32_t k, const void *data, int direct, void *bounce,
                              ds_error *err) {
  section_entry *e = &w->table[k];
  const uint8_t *p = data;
  ds__checksum c;
  ds__checksum_begin(&c);
  uint64_t done = 0;
  while (done < e->size) {
    uint64_t piece = e->size - done < PIECE ? e->size - done : PIECE;
    if (!w->unchecked)
      ds__checksum_blocks(&c, p + done, piece & ~(uint64_t)31);
    if (direct >= 0 && !write_direct(direct, bounce, p + done, piece, e->offset + done))
      direct = -1;
    if (direct < 0 && !write_all_at(w->fd, p + done, piece, e->offset + done))
      return ds_error_set(err, DS_E_IO, "cannot write %s: %s", w->tmp, strerror(errno));
    done += piece;
  }
  uint64_t blocks = e->size & ~(uint64_t)31;
  e->checksum = w->unchecked ? 0 : ds__checksum_end(&c, p + blocks, e->size - blocks, e->size);
  if (e->size)
    sync_file_range(w->fd, (off_t)e->offset, (off_t)e->size, SYNC_FILE_RANGE_WRITE);
  return DS_OK;
}

ds_status ds_index_writer_add(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                              ds_error *err) {
  uint32_t k = claim_section(w, id, size, SECTION_ALIGN, SECTION_ALIGN, err);
  return k == UINT32_MAX ? err->code : write_section(w, k, data, -1, NULL, err);
}

/* The O_DIRECT descriptor, opened on first use (w->lock held); -1 where the file system has no
 * direct I/O (tmpfs, some network file systems). */
static int direct_fd(ds_index_writer *w) {
  if (w->direct_fd == -1) {
    int fd = open(w->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
    w->direct_fd = fd >= 0 ? fd : -2;
  }
  return w->direct_fd >= 0 ? w->direct_fd : -1;
}

ds_status ds_index_writer_add_direct(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                                     ds_error *err) {
  pthread_mutex_lock(&w->lock);
  int fd = direct_fd(w);
  pthread_mutex_unlock(&w->lock);
  void *bounce = NULL;
  if (fd < 0 || posix_memalign(&bounce, 4096, PIECE) != 0)
    return ds_index_writer_add(w, id, data, size, err);
  /* whole pages of its own: the zeros after its end up to the page's go to disk too, and no
   * other section's bytes share a page with it (nor its page cache page with theirs) */
  uint32_t k = claim_section(w, id, size, 4096, 4096, err);
  ds_status rc = k == UINT32_MAX ? err->code : write_section(w, k, data, fd, bounce, err);
  free(bounce);
  return rc;
}

ds_status ds_index_writer_add_in_place(ds_index_writer *w, ds_section_id id, void *data, uint64_t size,
                                       ds_error *err) {
  if ((uintptr_t)data & 4095)
    return ds_error_set(err, DS_E_ARG, "an array written in place must start on a page");
  uint32_t k = claim_section(w, id, size, 4096, SECTION_ALIGN, err); /* on a page of the file too */
  ds_status rc = k == UINT32_MAX ? err->code : write_section(w, k, data, -1, NULL, err);
  if (rc != DS_OK || !size)
    return rc;
  /* the file's pages are mapped elsewhere first, then moved over the array in one step: a failed
   * mmap leaves the array alone, and readers never find the range unmapped */
  size_t len = (size_t)((size + 4095) & ~(uint64_t)4095);
  void *file = mmap(NULL, len, PROT_READ, MAP_SHARED, w->fd, (off_t)w->table[k].offset);
  if (file == MAP_FAILED)
    return ds_error_set(err, DS_E_IO, "cannot map %s back: %s", w->tmp, strerror(errno));
  if (mremap(file, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, data) == MAP_FAILED) {
    int saved = errno;
    munmap(file, len);
    return ds_error_set(err, DS_E_IO, "cannot put %s's pages in place: %s", w->tmp, strerror(saved));
  }
  return DS_OK;
}

ds_status ds_index_writer_begin(ds_index_writer *w, ds_section_id id, ds_error *err) {
  pthread_mutex_lock(&w->lock);
  ds_status rc = DS_OK;
  if (w->count >= DS_MAX_INDEX_SECTIONS)
    rc = ds_error_set(err, DS_E_LIMIT, "too many index sections");
  else
    w->table[w->count] = (section_entry){.id = id, .offset = w->offset, .size = 0}, w->streaming = true;
  pthread_mutex_unlock(&w->lock);
  return rc;
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
  section_entry *e = &w->table[w->count]; /* no other section came in between: streaming refuses them */
  /* the checksum over the written bytes, read back through the page cache */
  void *base;
  size_t len;
  const uint8_t *data = e->size && !w->unchecked ? map_range(w, e->offset, e->size, &base, &len) : NULL;
  if (e->size && !w->unchecked && !data)
    return ds_error_set(err, DS_E_IO, "cannot map %s back: %s", w->tmp, strerror(errno));
  e->checksum = w->unchecked ? 0 : ds_index_checksum(data ? (const void *)data : "", e->size);
  if (data)
    munmap(base, len);
  pthread_mutex_lock(&w->lock);
  w->offset = (w->offset + e->size + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1);
  w->count++;
  w->streaming = false;
  pthread_mutex_unlock(&w->lock);
  return DS_OK;
}

/* Entry k mapped back read-only, kept in maps[] for ds_index_writer_free; NULL with err. */
static const void *map_entry(ds_index_writer *w, uint32_t k, uint64_t *size, ds_error *err) {
  pthread_mutex_lock(&w->lock);
  const uint8_t *data = NULL;
  if (k >= w->count || w->map_count >= DS_MAX_INDEX_SECTIONS) {
    ds_error_set(err, DS_E_ARG, "no section to map back");
  } else {
    const section_entry *e = &w->table[k];
    *size = e->size;
    void *base;
    size_t len;
    if (!(data = map_range(w, e->offset, e->size, &base, &len))) {
      ds_error_set(err, DS_E_IO, "cannot map %s back: %s", w->tmp, strerror(errno));
    } else {
      w->maps[w->map_count].base = base;
      w->maps[w->map_count].len = len;
      w->map_count++;
    }
  }
  pthread_mutex_unlock(&w->lock);
  return data;
}

const void *ds_index_writer_map_last(ds_index_writer *w, uint64_t *size, ds_error *err) {
  pthread_mutex_lock(&w->lock);
  uint32_t last = w->count ? w->count - 1 : UINT32_MAX;
  pthread_mutex_unlock(&w->lock);
  return map_entry(w, last, size, err);
}

const void *ds_index_writer_map_section(ds_index_writer *w, ds_section_id id, uint64_t *size, ds_error *err) {
  pthread_mutex_lock(&w->lock);
  uint32_t k = UINT32_MAX;
  for (uint32_t j = 0; j < w->count; j++)
    if (w->table[j].id == id)
      k = j;
  pthread_mutex_unlock(&w->lock);
  return map_entry(w, k, size, err);
}

const void *ds_index_writer_add_mapped(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                                       ds_error *err) {
  uint32_t k = claim_section(w, id, size, SECTION_ALIGN, SECTION_ALIGN, err);
  uint64_t got;
  return k != UINT32_MAX && write_section(w, k, data, -1, NULL, err) == DS_OK ? map_entry(w, k, &got, err) : NULL;
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

void ds_index_writer_skip_checksums(ds_index_writer *w) { w->unchecked = true; }
