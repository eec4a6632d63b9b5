/*
 * spill.c: the index build under a memory budget (build.h: ds_index_build_budget), for dumps whose
 * build would not fit in the memory the analysis worker may use.
 *
 * Two tools. Large working arrays (the dominator search's, the liveness stack, the incoming
 * offsets) are allocated in an unlinked temporary file beside the index and mapped shared, so the
 * kernel writes their pages back and drops them under pressure instead of the worker dying; they
 * are not anonymous memory (RLIMIT_DATA does not count them). And the incoming references, the
 * one big sort of the build, are made as an external sort: the (target, source) pairs of as many
 * outgoing references as the budget allows are sorted and written as a run, then the runs are
 * merged straight into the index file. Either way the index is the same as the one built in
 * memory: the merge gives every target's sources in ascending order, as the in-memory inversion
 * does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analyzeint.h"

/* An array of this share of the budget or more goes to a temporary file. */
#define SPILL_SHARE 16

int ds__spill_file(ds__build *b, ds_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s.spill.XXXXXX", b->path);
  int fd = mkstemp(path);
  if (fd < 0) {
    ds_error_set(err, DS_E_IO, "cannot create a temporary file beside %s: %s", b->path, strerror(errno));
    return -1;
  }
  unlink(path); /* gone with the process, whatever happens */
  return fd;
}

void ds__advise_huge(void *p, size_t bytes) {
  if (!p || bytes < ((size_t)8 << 20))
    return;
  /* The whole pages of the block: a block this large is a mapping of its own (build.c's
   * mallopt), which this covers entirely. Advising only its 2 MiB-aligned middle would split the
   * mapping in three, and mremap cannot grow a split mapping: realloc would copy instead. */
  uintptr_t start = (uintptr_t)p & ~(uintptr_t)4095, end = ((uintptr_t)p + bytes + 4095) & ~(uintptr_t)4095;
  madvise((void *)start, end - start, MADV_HUGEPAGE); /* advice: no harm when refused */
}

bool ds__fault_in(void *p, size_t bytes) {
  uintptr_t start = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, end = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
  return !p || end <= start || madvise((void *)start, end - start, MADV_POPULATE_WRITE) == 0;
}

void *ds__big_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  ds__advise_huge(p, count * size);
  return p;
}

void *ds__big_malloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  ds__advise_huge(p, bytes);
  return p;
}

/* Registers a mapping (spill_lock held); false when the table is full. */
static bool register_mapping(ds__build *b, void *p, size_t bytes, bool anon) {
  if (b->spill_count >= DS__SPILL_MAX)
    return false;
  b->spills[b->spill_count].p = p;
  b->spills[b->spill_count].bytes = bytes;
  b->spills[b->spill_count].anon = anon;
  b->spill_count++;
  return true;
}

void *ds__spill_alloc(ds__build *b, size_t bytes, ds_error *err) {
  if (!b->budget || bytes < b->budget / SPILL_SHARE || b->spill_count >= DS__SPILL_MAX) {
    void *p = ds__big_calloc(bytes, 1);
    if (!p)
      ds_error_set(err, DS_E_NOMEM, "out of memory for %zu bytes", bytes);
    return p;
  }
  int fd = ds__spill_file(b, err);
  if (fd < 0)
    return NULL;
  void *p = MAP_FAILED;
  if (ftruncate(fd, (off_t)(bytes ? bytes : 1)) == 0)
    p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int saved = errno;
  close(fd);
  if (p == MAP_FAILED) {
    ds_error_set(err, DS_E_IO, "cannot map %zu bytes of a temporary file beside %s: %s", bytes, b->path,
                 strerror(saved));
    return NULL;
  }
  pthread_mutex_lock(&b->spill_lock);
  bool registered = register_mapping(b, p, bytes ? bytes : 1, false);
  pthread_mutex_unlock(&b->spill_lock);
  if (!registered) {
    munmap(p, bytes ? bytes : 1);
    return ds__spill_alloc(b, bytes, err); /* the table filled meanwhile: in memory */
  }
  b->stats->spilled_bytes += bytes;
  return p;
}

/* ---- recycled pages ---------------------------------------------------------------------------- */

/* A page never touched costs the kernel's zeroing when first written, and on a VM whose host takes
 * back the memory its guest frees (this machine's does: balloon free page reporting) a trip to the
 * host as well: a first write to 512 MiB of fresh huge pages took 74 ms when the host still had
 * them and 2.1 s when it had taken them back, against 26 ms for clearing them once resident. The
 * build frees large arrays while it allocates others (the references' buffers and the walk's
 * 64-bit sizes, then the incoming references and their counters), so ds__spill_recycle keeps the
 * pages of a freed array and the next ds__array_alloc or ds__work_alloc moves them into its own
 * range with mremap: no copy, and huge pages stay huge, as every mapping here starts on one. */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t page_round(size_t bytes) { return (bytes + 4095) & ~(size_t)4095; }

/* bytes (whole pages) of address space starting on a huge page, huge pages advised. */
static uint8_t *map_aligned(size_t bytes) {
  size_t len = bytes + HUGE_PAGE;
  uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return NULL; /* a strict overcommit policy, or no address space */
  uint8_t *start = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (start > p)
    munmap(p, (size_t)(start - p));
  if (p + len > start + bytes)
    munmap(start + bytes, (size_t)(p + len - (start + bytes)));
  madvise(start, bytes, MADV_HUGEPAGE); /* advice: no harm when refused */
  return start;
}

/* Moves recycled pages to the start of dst (bytes, whole pages), the most recently freed first;
 * how many bytes it moved. spill_lock held. */
static size_t take_recycled(ds__build *b, uint8_t *dst, size_t bytes) {
  size_t moved = 0;
  while (moved < bytes && b->recycled_count) {
    __typeof__(b->recycled[0]) *r = &b->recycled[b->recycled_count - 1];
    /* whole huge pages, at offsets of whole huge pages on both sides: a move of part of one
     * splits it into small pages, and the arrays here are read at random (the destination's
     * last partial huge page stays fresh) */
    size_t want = (bytes - moved) & ~(HUGE_PAGE - 1);
    size_t take = r->bytes < want ? r->bytes : want;
    if (!take)
      break;
    if (mremap(r->p, take, take, MREMAP_MAYMOVE | MREMAP_FIXED, dst + moved) == MAP_FAILED)
      break; /* the rest is fresh pages */
    r->p += take, r->bytes -= take;
    if (!r->bytes)
      b->recycled_count--;
    moved += take;
  }
  b->stats->recycled_bytes += moved;
  return moved;
}

/* An anonymous mapping of bytes with as many recycled pages at its start as there are; zeroed if
 * asked (fresh pages are). NULL when the system refuses it or the table is full. */
static void *reserve_mapping(ds__build *b, size_t bytes, bool recycle, bool zero) {
  if (!bytes)
    return NULL;
  size_t len = page_round(bytes);
  uint8_t *p = map_aligned(len);
  if (!p)
    return NULL;
  size_t moved = 0;
  pthread_mutex_lock(&b->spill_lock);
  bool registered = register_mapping(b, p, len, true);
  if (registered && recycle)
    moved = take_recycled(b, p, len);
  pthread_mutex_unlock(&b->spill_lock);
  if (!registered) {
    munmap(p, len);
    return NULL;
  }
  if (zero && moved)
    memset(p, 0, moved);
  return p;
}

void *ds__reserve(ds__build *b, size_t bytes) { return reserve_mapping(b, bytes, false, true); }

void *ds__array_alloc(ds__build *b, size_t bytes, ds_error *err) {
  if (b->budget)
    return ds__spill_alloc(b, bytes, err);
  void *p = reserve_mapping(b, bytes, true, true);
  if (!p && !(p = ds__big_calloc(bytes, 1)))
    ds_error_set(err, DS_E_NOMEM, "out of memory for %zu bytes", bytes);
  return p;
}

void *ds__work_alloc(ds__build *b, size_t bytes, ds_error *err) {
  if (b->budget)
    return ds__spill_alloc(b, bytes, err);
  void *p = reserve_mapping(b, bytes, true, false);
  if (!p && !(p = ds__big_malloc(bytes)))
    ds_error_set(err, DS_E_NOMEM, "out of memory for %zu bytes", bytes);
  return p;
}

/* Takes p out of the table (spill_lock held): its entry, or false when p is not a mapping of it. */
static bool unregister_mapping(ds__build *b, void *p, size_t *bytes, bool *anon) {
  for (size_t k = 0; k < b->spill_count; k++)
    if (b->spills[k].p == p) {
      *bytes = b->spills[k].bytes, *anon = b->spills[k].anon;
      b->spills[k] = b->spills[--b->spill_count];
      return true;
    }
  return false;
}

/* Takes p out of the table, keeping the whole huge pages that hold its first `used` bytes if it is
 * an anonymous mapping starting on one: how many bytes it kept at p (the rest is given back; 0: p
 * is freed). */
static size_t take_pages(ds__build *b, void *p, size_t used) {
  if (!p)
    return 0;
  size_t bytes;
  bool anon;
  pthread_mutex_lock(&b->spill_lock);
  bool mapped = unregister_mapping(b, p, &bytes, &anon);
  pthread_mutex_unlock(&b->spill_lock);
  if (!mapped) {
    free(p);
    return 0;
  }
  size_t keep = used < bytes ? (used + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1) : bytes;
  if (keep > (bytes & ~(HUGE_PAGE - 1)))
    keep = bytes & ~(HUGE_PAGE - 1); /* whole huge pages only (take_recycled) */
  if (!anon || ((uintptr_t)p & (HUGE_PAGE - 1)))
    keep = 0;
  if (bytes > keep)
    munmap((uint8_t *)p + keep, bytes - keep);
  return keep;
}

/* Puts a run of pages taken with take_pages into the pool (or gives it back when the pool is full). */
static void recycle_run(ds__build *b, void *p, size_t bytes) {
  if (!bytes)
    return;
  pthread_mutex_lock(&b->spill_lock);
  bool kept = b->recycled_count < DS__RECYCLED_MAX;
  if (kept) {
    b->recycled[b->recycled_count].p = p;
    b->recycled[b->recycled_count].bytes = bytes;
    b->recycled_count++;
  }
  pthread_mutex_unlock(&b->spill_lock);
  if (!kept)
    munmap(p, bytes);
}

void ds__spill_recycle(ds__build *b, void *p, size_t used) { recycle_run(b, p, take_pages(b, p, used)); }

void ds__spill_free(ds__build *b, void *p) {
  if (!p)
    return;
  size_t bytes;
  bool anon;
  pthread_mutex_lock(&b->spill_lock);
  bool mapped = unregister_mapping(b, p, &bytes, &anon);
  pthread_mutex_unlock(&b->spill_lock);
  if (mapped)
    munmap(p, bytes);
  else
    free(p);
}

void ds__recycled_release(ds__build *b) {
  pthread_mutex_lock(&b->spill_lock);
  for (size_t k = 0; k < b->recycled_count; k++)
    munmap(b->recycled[k].p, b->recycled[k].bytes);
  b->recycled_count = 0;
  pthread_mutex_unlock(&b->spill_lock);
}

void ds__spill_free_all(ds__build *b) {
  for (size_t k = 0; k < b->spill_count; k++)
    munmap(b->spills[k].p, b->spills[k].bytes);
  b->spill_count = 0;
  ds__recycled_release(b);
}

/* ---- incoming references by sorted runs ---------------------------------------------------------- */

/* A run: pairs (target << 32 | source) sorted, at [offset, offset + count) of the runs file. */
typedef struct run {
  uint64_t offset, count;
  uint64_t *buf;             /* the merge's read-ahead */
  size_t have, at;
  uint64_t next;             /* the pair read next */
} run;

/* Sorts pairs by target, keeping sources in their (ascending) order: two stable passes of 16 bits
 * over the target half. */
static void sort_run(uint64_t *pairs, uint64_t *tmp, size_t count, uint32_t *counts) {
  for (int pass = 0; pass < 2; pass++) {
    int shift = 32 + 16 * pass;
    memset(counts, 0, 65537 * sizeof *counts);
    for (size_t k = 0; k < count; k++)
      counts[((pairs[k] >> shift) & 0xffff) + 1]++;
    for (size_t d = 0; d < 65536; d++)
      counts[d + 1] += counts[d];
    for (size_t k = 0; k < count; k++)
      tmp[counts[(pairs[k] >> shift) & 0xffff]++] = pairs[k];
    uint64_t *swap = pairs;
    pairs = tmp;
    tmp = swap;
  }
  /* two passes: the sorted pairs are back in the first buffer */
}

static bool write_at(int fd, const void *data, size_t size, uint64_t offset) {
  const uint8_t *p = data;
  while (size) {
    ssize_t w = pwrite(fd, p, size, (off_t)offset);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w, size -= (size_t)w, offset += (uint64_t)w;
  }
  return true;
}

/* Sorts the count pairs gathered and appends them to fd as the next run. */
static ds_status flush_run(ds__build *b, int fd, uint64_t *pairs, uint64_t *tmp, uint32_t *counts, size_t count,
                           run *runs, size_t *run_count, uint64_t *offset, ds_error *err) {
  sort_run(pairs, tmp, count, counts);
  if (!write_at(fd, pairs, count * sizeof *pairs, *offset * sizeof *pairs))
    return ds_error_set(err, DS_E_IO, "cannot write sorted references beside %s: %s", b->path, strerror(errno));
  runs[(*run_count)++] = (run){.offset = *offset, .count = count};
  b->stats->spilled_bytes += count * sizeof *pairs;
  *offset += count;
  return DS_OK;
}

/* Every outgoing reference as a pair, sorted in runs of at most cap pairs into fd. */
static ds_status make_runs(ds__build *b, int fd, size_t cap, run **runs, size_t *run_count, ds_error *err) {
  uint64_t *pairs = malloc(cap * sizeof *pairs), *tmp = malloc(cap * sizeof *tmp);
  uint32_t *counts = malloc(65537 * sizeof *counts);
  *runs = calloc(b->edge_total / cap + 2, sizeof **runs);
  ds_status rc = DS_OK;
  if (!pairs || !tmp || !counts || !*runs) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory sorting references");
    goto out;
  }
  size_t count = 0;
  uint64_t offset = 0;
  for (size_t i = 0; i < b->n; i++)
    for (uint32_t e = b->out_off[i]; e < b->out_off[i + 1]; e++) {
      pairs[count++] = (uint64_t)b->out_edge[e] << 32 | (uint32_t)i;
      if (count == cap) {
        if ((rc = flush_run(b, fd, pairs, tmp, counts, count, *runs, run_count, &offset, err)) != DS_OK)
          goto out;
        count = 0;
      }
    }
  if (count)
    rc = flush_run(b, fd, pairs, tmp, counts, count, *runs, run_count, &offset, err);
out:
  free(pairs);
  free(tmp);
  free(counts);
  return rc;
}

/* The next pair of r into r->next; false at its end. */
static bool run_advance(int fd, run *r, size_t buf_pairs, bool *io_error) {
  if (r->at == r->have) {
    uint64_t left = r->count;
    if (!left)
      return false;
    size_t want = left < buf_pairs ? (size_t)left : buf_pairs;
    ssize_t got = pread(fd, r->buf, want * sizeof *r->buf, (off_t)(r->offset * sizeof *r->buf));
    if (got != (ssize_t)(want * sizeof *r->buf)) {
      *io_error = true;
      return false;
    }
    r->offset += want, r->count -= want, r->have = want, r->at = 0;
  }
  r->next = r->buf[r->at++];
  return true;
}

/* Binary heap of run indices by their next pair (ties: either, the pairs are equal). */
static void heap_down(run *runs, size_t *heap, size_t count, size_t k) {
  for (;;) {
    size_t l = 2 * k + 1, m = k;
    if (l < count && runs[heap[l]].next < runs[heap[m]].next)
      m = l;
    if (l + 1 < count && runs[heap[l + 1]].next < runs[heap[m]].next)
      m = l + 1;
    if (m == k)
      return;
    size_t t = heap[k];
    heap[k] = heap[m], heap[m] = t;
    k = m;
  }
}

/* Merges the runs into the incoming-reference section, written as a stream. */
static ds_status merge_runs(ds__build *b, int fd, run *runs, size_t run_count, size_t buf_pairs, ds_error *err) {
  enum { OUT = 1 << 16 };
  uint64_t *bufs = malloc((run_count ? run_count : 1) * buf_pairs * sizeof *bufs);
  size_t *heap = malloc((run_count ? run_count : 1) * sizeof *heap);
  uint32_t *out = malloc(OUT * sizeof *out);
  ds_status rc = DS_OK;
  bool io_error = false;
  if (!bufs || !heap || !out) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory merging references");
    goto out;
  }
  size_t live = 0;
  for (size_t r = 0; r < run_count; r++) {
    runs[r].buf = bufs + r * buf_pairs;
    if (run_advance(fd, &runs[r], buf_pairs, &io_error))
      heap[live++] = r;
  }
  for (size_t k = live; k-- > 0;)
    heap_down(runs, heap, live, k);
  if ((rc = ds_index_writer_begin(b->w, DS_SEC_IN_EDGE, err)) != DS_OK)
    goto out;
  size_t filled = 0;
  while (live && !io_error) {
    run *r = &runs[heap[0]];
    out[filled++] = (uint32_t)r->next;
    if (filled == OUT) {
      if ((rc = ds_index_writer_append(b->w, out, filled * sizeof *out, err)) != DS_OK)
        goto out;
      filled = 0;
    }
    if (!run_advance(fd, r, buf_pairs, &io_error))
      heap[0] = heap[--live];
    heap_down(runs, heap, live, 0);
  }
  if (io_error) {
    rc = ds_error_set(err, DS_E_IO, "cannot read sorted references back beside %s", b->path);
    goto out;
  }
  if ((rc = ds_index_writer_append(b->w, out, filled * sizeof *out, err)) != DS_OK ||
      (rc = ds_index_writer_end(b->w, err)) != DS_OK)
    goto out;
out:
  free(bufs);
  free(heap);
  free(out);
  return rc;
}

ds_status ds__spill_reverse(ds__build *b, ds_error *err) {
  /* a quarter of the budget for a run and its sort buffer, another for the merge's read-ahead */
  size_t cap = (size_t)(b->budget / 4 / (2 * sizeof(uint64_t)));
  if (cap < 4096)
    cap = 4096;
  int fd = ds__spill_file(b, err);
  if (fd < 0)
    return err->code;
  run *runs = NULL;
  size_t run_count = 0;
  ds_status rc = make_runs(b, fd, cap, &runs, &run_count, err);
  if (rc == DS_OK) {
    size_t buf_pairs = (size_t)(b->budget / 4 / sizeof(uint64_t) / (run_count ? run_count : 1));
    if (buf_pairs < 512)
      buf_pairs = 512;
    rc = merge_runs(b, fd, runs, run_count, buf_pairs, err);
  }
  free(runs);
  close(fd);
  return rc;
}
