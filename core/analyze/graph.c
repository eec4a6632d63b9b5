/*
 * graph.c: the reference phases of the index build. Every object's outgoing references are read
 * from its type's GC descriptor (plus dependent-handle and loader-allocator edges) and stored as
 * compressed sparse rows; then the graph is inverted for the incoming references.
 *
 * The expensive part, reading every object's references, runs on DS__BUILD_THREADS threads, which
 * take parts of the object array in turn (DS__EDGE_PARTS). Everything that needs the DAC happened once per type, before this,
 * in the types phase (build.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzeint.h"

/* Runs fn on each of count items of item_size bytes: the first on this thread, the others on
 * threads of their own (or here, in turn, when a thread cannot be started). */
static void run_on_threads(void *(*fn)(void *), void *items, size_t item_size, int count) {
  pthread_t threads[DS__BUILD_THREADS > 2 ? DS__BUILD_THREADS : 2];
  bool started[DS__BUILD_THREADS > 2 ? DS__BUILD_THREADS : 2] = {false};
  for (int j = 1; j < count; j++)
    started[j] = pthread_create(&threads[j], NULL, fn, (char *)items + (size_t)j * item_size) == 0;
  fn(items);
  for (int j = 1; j < count; j++) {
    if (started[j])
      pthread_join(threads[j], NULL);
    else
      fn((char *)items + (size_t)j * item_size);
  }
}

/* ---- address lookups -------------------------------------------------------------------------- */

size_t ds__lower_bound(const uint64_t *addrs, size_t n, uint64_t key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addrs[mid] < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

uint32_t ds__find_exact(const uint64_t *addrs, size_t n, uint64_t addr) {
  size_t lo = ds__lower_bound(addrs, n, addr);
  return lo < n && addrs[lo] == addr ? (uint32_t)lo : UINT32_MAX;
}

uint32_t ds__find_containing(const ds_layout *l, const uint64_t *addrs, const uint64_t *sizes, size_t n,
                             uint64_t addr) {
  size_t after = addr == UINT64_MAX ? n : ds__lower_bound(addrs, n, addr + 1); /* first start > addr */
  if (after == 0)
    return UINT32_MAX;
  size_t i = after - 1;
  uint64_t end = addrs[i] + ds_layout_aligned(l, sizes[i]);
  return addr < end ? (uint32_t)i : UINT32_MAX;
}

/* Set bits of x, without a library call (the build does not assume the POPCNT instruction). */
static inline uint64_t popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return (x * 0x0101010101010101ull) >> 56;
}

/* The rank words of ranges [from, to): each range is on its own, from its first object's index. */
typedef struct lookup_part {
  ds__addr_lookup *l;
  size_t from, to;
  bool ok;
} lookup_part;

static void *lookup_ranges(void *p) {
  lookup_part *part = p;
  ds__addr_lookup *l = part->l;
  const uint64_t *addrs = l->addrs;
  size_t n = l->n;
  part->ok = true;
  for (size_t s = part->from; s < part->to; s++) {
    /* words align on 512 bytes of the address space, so a lookup needs no offset for the bit */
    uint64_t base = l->start[s] >> DS__RANK_SHIFT;
    size_t nwords = l->end[s] > l->start[s] ? (size_t)(((l->end[s] - 1) >> DS__RANK_SHIFT) - base + 1) : 1;
    ds__rank_word *w = l->words[s] = ds__big_calloc(nwords, sizeof *w);
    if (!w) {
      part->ok = false;
      return NULL;
    }
    size_t first = ds__lower_bound(addrs, n, l->start[s]), i = first;
    for (; i < n && addrs[i] < l->end[s]; i++) {
      if (addrs[i] & 7)
        continue; /* never: objects are 8-byte aligned */
      w[(addrs[i] >> DS__RANK_SHIFT) - base].bits |= 1ull << (addrs[i] >> 3 & 63);
    }
    uint64_t rank = first;
    for (size_t k = 0; k < nwords; k++) {
      w[k].rank = rank;
      rank += popcount64(w[k].bits);
    }
  }
  return NULL;
}

/* The granule table: the span of the ranges cut in at most DS__LOOKUP_GRANULES pieces of a power
 * of two, each naming the first range that ends after its start, so a value's range is found in
 * a step or two instead of a binary search (whose mispredicted branches were a fifth of the
 * reference extraction's time on big). The ranges must be sorted and apart, as the heap's are. */
static bool granules_build(ds__addr_lookup *l) {
  if (!l->ranges)
    return true;
  uint64_t base = l->start[0], last = base;
  for (size_t r = 0; r < l->ranges; r++)
    last = l->end[r] > last ? l->end[r] : last;
  uint64_t span = last - base;
  unsigned shift = 12;
  while (shift < 63 && (span >> shift) >= DS__LOOKUP_GRANULES)
    shift++;
  size_t granules = (size_t)(span >> shift) + 1;
  if (!(l->granule = malloc(granules * sizeof *l->granule)))
    return false;
  size_t r = 0;
  for (size_t k = 0; k < granules; k++) {
    uint64_t at = base + ((uint64_t)k << shift);
    while (r < l->ranges && l->end[r] <= at)
      r++;
    l->granule[k] = (uint32_t)r;
  }
  l->base = base, l->shift = shift, l->granules = granules;
  return true;
}

/* Two threads, each over the ranges that hold about half of the objects. */
bool ds__lookup_build(ds__addr_lookup *l, ds_heap *heap, const uint64_t *addrs, size_t n) {
  memset(l, 0, sizeof *l);
  l->addrs = addrs;
  l->n = n;
  size_t count = ds_heap_segment_count(heap);
  l->start = calloc(count + 1, sizeof *l->start);
  l->end = calloc(count + 1, sizeof *l->end);
  l->words = calloc(count + 1, sizeof *l->words);
  if (!l->start || !l->end || !l->words)
    return false;
  l->ranges = count;
  size_t split = count;
  for (size_t s = 0; s < count; s++) {
    const ds_segment *seg = ds_heap_segment(heap, s);
    l->start[s] = seg->start;
    l->end[s] = seg->end;
    if (split == count && ds__lower_bound(addrs, n, seg->end) >= n / 2)
      split = s + 1; /* the first part ends with the range that holds the middle object */
  }
  lookup_part parts[2] = {{l, 0, split, false}, {l, split, count, false}};
  run_on_threads(lookup_ranges, parts, sizeof *parts, 2);
  return parts[0].ok && parts[1].ok && granules_build(l);
}

void ds__lookup_free(ds__addr_lookup *l) {
  for (size_t s = 0; l->words && s < l->ranges; s++)
    free(l->words[s]);
  free(l->words);
  free(l->start);
  free(l->end);
  free(l->granule);
  memset(l, 0, sizeof *l);
}

/* The heap range holding address a (trying `hint` first: neighbouring pointers tend to share
 * one), or SIZE_MAX: from its granule's first range on. */
static inline size_t range_of(const ds__addr_lookup *l, size_t hint, uint64_t a) {
  if (hint < l->ranges && a >= l->start[hint] && a < l->end[hint])
    return hint;
  if (a < l->base || ((a - l->base) >> l->shift) >= l->granules)
    return SIZE_MAX;
  size_t r = l->granule[(a - l->base) >> l->shift];
  while (r < l->ranges && a >= l->end[r])
    r++;
  return r < l->ranges && a >= l->start[r] ? r : SIZE_MAX;
}

/* ---- outgoing references ---------------------------------------------------------------------- */

/* An object with more reference slots than this is resolved as it is read, this many values at
 * a time: on big one array holds 10 million references, and collecting them all first cost
 * 200 MB of buffers (values and their rank words) faulted in and zeroed for one batch. */
enum { STREAM_CHUNK = 1 << 16 };

/* Pass one over values: the rank word of each (NULL when no heap range holds it), fetched ahead
 * of pass two. */
static void find_words(const ds__addr_lookup *l, const uint64_t *vals, size_t count, const ds__rank_word **word) {
  size_t range = 0;
  for (size_t k = 0; k < count; k++) {
    uint64_t a = vals[k];
    size_t r = range_of(l, range, a);
    if (r == SIZE_MAX || (a & 7)) {
      word[k] = NULL;
      continue;
    }
    range = r;
    word[k] = &l->words[r][(a >> DS__RANK_SHIFT) - (l->start[r] >> DS__RANK_SHIFT)];
    __builtin_prefetch(word[k]);
  }
}

/* Pass two over one object's values: those where an object starts go to job->targets; how many.
 * A failure is left in job->status. */
static uint32_t take_hits(ds__edge_job *job, const uint64_t *vals, const ds__rank_word *const *word, size_t count) {
  uint32_t hits = 0;
  ds_status rc = DS_OK;
  for (size_t k = 0; k < count; k++) {
    const ds__rank_word *w = word[k];
    if (!w)
      continue;
    unsigned bit = (unsigned)(vals[k] >> 3 & 63);
    if (!(w->bits >> bit & 1))
      continue;
    uint64_t idx = w->rank + popcount64(w->bits & ((1ull << bit) - 1));
    if (job->bounded && job->targets.count == job->targets.cap) {
      rc = DS_E_LIMIT; /* never: the bound is the most there can be */
      break;
    }
    DS__VEC_PUSH(job->targets, (uint32_t)idx, DS_MAX_REFERENCES, rc);
    if (rc != DS_OK)
      break;
    hits++;
  }
  if (rc != DS_OK)
    job->status = rc;
  return hits;
}

/* Resolves the values in job->raw, those of the objects at slots slot0.. (count of them, each
 * one's number in job->counts), into hits, each object's number of hits replacing its count;
 * empties job->raw. */
static void resolve_objects(ds__edge_job *job, size_t slot0, size_t count) {
  size_t raw = job->raw.count;
  const ds__rank_word **word = malloc((raw ? raw : 1) * sizeof *word);
  if (!word) {
    job->status = DS_E_NOMEM;
    return;
  }
  find_words(&job->b->lookup, job->raw.items, raw, word);
  size_t k = 0;
  for (size_t o = 0; o < count && job->status == DS_OK; o++) {
    uint32_t values = job->counts[slot0 + o];
    job->counts[slot0 + o] = take_hits(job, job->raw.items + k, word + k, values);
    k += values;
  }
  free(word);
  job->raw.count = 0;
}

/* The hits among the values in job->raw, all of the object at slot; empties job->raw. */
static uint32_t resolve_values(ds__edge_job *job, size_t slot) {
  job->counts[slot] = (uint32_t)job->raw.count;
  resolve_objects(job, slot, 1);
  return job->status == DS_OK ? job->counts[slot] : 0;
}

/* Visits the reference slots of object i; appends their values to job->raw and their number to
 * job->counts[slot]. Streaming (a large object, job->raw empty on entry), it resolves them
 * STREAM_CHUNK at a time instead, and job->counts[slot] is the number of hits. */
static inline void object_edges(ds__edge_job *job, size_t i, size_t slot, bool stream) {
  ds__build *b = job->b;
  uint32_t ti = b->type.items[i];
  const ds_gc_desc *d = &b->descs[ti];
  uint32_t before = (uint32_t)job->raw.count, hits = 0;
  uint64_t obj = b->addr.items[i], size = b->size.items[i];
  if (d->series != 0 && d->data) {
    const uint8_t *mem = ds__window_at(&job->win, b->a->dump, obj, size);
    uint8_t *copy = NULL;
    if (!mem) {
      copy = malloc(size ? size : 1);
      if (!copy || ds_dump_read(b->a->dump, obj, copy, size) != size) {
        free(copy);
        goto extras;
      }
      mem = copy;
    }
    ds_status rc = DS_OK;
    ds_gc_desc_cursor cursor;
    ds_gc_desc_start(&cursor, d, size);
    uint64_t start, count;
    while (rc == DS_OK && ds_gc_desc_next(&cursor, &start, &count)) {
      for (uint64_t k = 0; k < count && rc == DS_OK; k++) {
        uint64_t ptr;
        memcpy(&ptr, mem + start + 8 * k, 8);
        if (!ptr)
          continue;
        DS__VEC_PUSH(job->raw, ptr, DS_MAX_REFERENCES, rc);
        if (stream && job->raw.count == STREAM_CHUNK && rc == DS_OK) {
          hits += resolve_values(job, slot);
          rc = job->status;
        }
      }
    }
    free(copy);
    if (rc != DS_OK)
      job->status = rc;
  }
extras:
  if (b->loader_allocator[ti]) {
    ds_status rc = DS_OK;
    DS__VEC_PUSH(job->raw, b->loader_allocator[ti], DS_MAX_REFERENCES, rc);
    if (rc != DS_OK)
      job->status = rc;
  }
  if (stream && job->status == DS_OK)
    hits += resolve_values(job, slot);
  job->counts[slot] = stream ? hits : (uint32_t)(job->raw.count - before);
}

/* Resolving pointer values to object indices is memory-latency bound (a random lookup into the
 * rank words per value), so each batch is resolved in two passes, the first prefetching.
 * The batch is objs[0..count) or, when objs is NULL, the objects first..first+count; each one's
 * hits are appended to job->targets in turn and job->counts[slot0 + k] becomes their number.
 * A large object is streamed (object_edges) once the objects before it are resolved. A hot loop:
 * exempt from the function-length habit, measured by bench_index. */
enum { EDGE_AHEAD = 16 };
void ds__edge_batch(ds__edge_job *job, const uint32_t *objs, size_t first, size_t count, size_t slot0) {
  job->raw.count = 0;
  const uint64_t *addrs = job->b->addr.items;
  size_t pending = 0; /* the batch's objects from here on have their values in job->raw */
  for (size_t k = 0; k < count && job->status == DS_OK; k++) {
    if (!objs && first + k + EDGE_AHEAD < job->hi) {
      uint64_t ahead = addrs[first + k + EDGE_AHEAD];
      if (ahead >= job->win.start && ahead < job->win.end && job->win.end - ahead >= 64)
        __builtin_prefetch(job->win.base + (ahead - job->win.start) + 8);
    }
    size_t i = objs ? objs[k] : first + k;
    if (job->b->size.items[i] / 8 > STREAM_CHUNK) {
      resolve_objects(job, slot0 + pending, k - pending);
      if (job->status == DS_OK)
        object_edges(job, i, slot0 + k, true);
      pending = k + 1;
    } else {
      object_edges(job, i, slot0 + k, false);
    }
  }
  if (job->status == DS_OK)
    resolve_objects(job, slot0 + pending, count - pending);
}

/* Room for every reference the part can have, one per 8 bytes of its objects plus a
 * loader-allocator edge each: address space, of which only what is written becomes memory, from
 * recycled pages first, which go back to be recycled once merged. Without it (refused) the targets
 * grow as they come. */
static void reserve_targets(ds__edge_job *job) {
  const ds__build *b = job->b;
  if (b->budget)
    return; /* its temporary file was refused: they grow */
  uint64_t most = job->hi - job->lo + 1;
  for (size_t i = job->lo; i < job->hi; i++)
    most += b->size.items[i] / 8;
  ds_error ignore = {0};
  if (most > DS_MAX_REFERENCES || !(job->targets.items = ds__work_alloc(job->b, most * sizeof *job->targets.items, &ignore)))
    return;
  job->targets.cap = most;
  job->bounded = true;
}

static void edge_part(ds__edge_job *job) {
  enum { BATCH = 256 };
  if (!job->targets.items)
    reserve_targets(job);
  for (size_t i0 = job->lo; i0 < job->hi && job->status == DS_OK; i0 += BATCH) {
    size_t i1 = i0 + BATCH < job->hi ? i0 + BATCH : job->hi;
    ds__edge_batch(job, NULL, i0, i1 - i0, i0 - job->lo);
    if (job->status != DS_OK)
      break;
    /* the dump pages before this batch are done with */
    const ds__build *b = job->b;
    ds__release_behind(b, &job->released, i1 < job->hi ? b->addr.items[i1] : b->addr.items[i1 - 1] + b->size.items[i1 - 1],
                       i1 >= job->hi);
  }
}

/* One thread: takes the next part until none is left. */
static void *edge_worker(void *p) {
  ds__build *b = *(ds__build **)p;
  for (size_t j; (j = __atomic_fetch_add(&b->next_job, 1, __ATOMIC_RELAXED)) < b->job_count;)
    edge_part(&b->jobs[j]);
  return NULL;
}

static int compare_extra(const void *a, const void *b) {
  const ds__extra_edge *x = a, *y = b;
  return x->from < y->from ? -1 : x->from > y->from;
}

/* Runs the edge workers: one on this thread, the others on their own (or here, in turn, when a
 * thread cannot be started). Under a memory budget there is a part per thread, each with a
 * temporary file for its targets. */
static ds_status run_edge_jobs(ds__build *b, ds_error *err) {
  size_t n = b->n, parts = b->job_count = b->budget ? DS__BUILD_THREADS : DS__EDGE_PARTS;
  b->next_job = 0;
  for (size_t j = 0; j < parts; j++) {
    b->jobs[j].b = b;
    b->jobs[j].lo = n * j / parts;
    b->jobs[j].hi = n * (j + 1) / parts;
    b->jobs[j].counts = calloc(b->jobs[j].hi - b->jobs[j].lo + 1, sizeof *b->jobs[j].counts);
    if (!b->jobs[j].counts)
      return ds_error_set(err, DS_E_NOMEM, "out of memory for reference counts");
    if (b->budget) {
      /* under a memory budget the targets go to a temporary file of the most they can be: a
       * reference per 8 bytes of object, plus a loader-allocator edge per object */
      uint64_t most = b->jobs[j].hi - b->jobs[j].lo + 1;
      for (size_t i = b->jobs[j].lo; i < b->jobs[j].hi; i++)
        most += b->size.items[i] / 8;
      ds_error ignore = {0};
      b->jobs[j].targets.items = ds__spill_alloc(b, most * sizeof *b->jobs[j].targets.items, &ignore);
      b->jobs[j].targets.cap = b->jobs[j].targets.items ? most : 0; /* else it grows in memory */
      b->jobs[j].bounded = b->jobs[j].targets.items != NULL;
    }
  }
  ds__build *workers[DS__BUILD_THREADS];
  for (int t = 0; t < DS__BUILD_THREADS; t++)
    workers[t] = b;
  run_on_threads(edge_worker, workers, sizeof *workers, DS__BUILD_THREADS);
  for (size_t j = 0; j < parts; j++)
    if (b->jobs[j].status != DS_OK)
      return ds__vec_error(err, b->jobs[j].status, "references", DS_MAX_REFERENCES, "DS_MAX_REFERENCES");
  return DS_OK;
}

/* Dependent handles: an edge primary -> secondary, sorted by source. */
ds_status ds__collect_dependent_edges(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  for (size_t r = 0; r < roots->root_count; r++) {
    const ds_root *root = &roots->roots[r];
    if (root->kind != DS_ROOT_HANDLE_DEPENDENT || !root->object || !root->secondary)
      continue;
    uint32_t from = ds__find_exact(b->addr.items, b->n, root->object),
             to = ds__find_exact(b->addr.items, b->n, root->secondary);
    if (from == UINT32_MAX || to == UINT32_MAX)
      continue;
    ds_status rc = DS_OK;
    DS__VEC_PUSH(b->extras, ((ds__extra_edge){from, to, 1}), DS_MAX_ROOTS, rc);
    if (rc != DS_OK)
      return ds__vec_error(err, rc, "dependent handles", DS_MAX_ROOTS, "DS_MAX_ROOTS");
  }
  if (b->extras.count)
    qsort(b->extras.items, b->extras.count, sizeof *b->extras.items, compare_extra);
  return DS_OK;
}

typedef struct merge_part {
  ds__build *b;
  const ds__edge_job *job;
  uint32_t pos;              /* where the job's first object's references go */
  size_t x;                  /* its first extra edge */
} merge_part;

static void merge_job(const merge_part *part) {
  ds__build *b = part->b;
  const ds__edge_job *job = part->job;
  uint32_t pos = part->pos;
  size_t x = part->x, src = 0;
  for (size_t i = job->lo; i < job->hi; i++) {
    b->out_off[i] = pos;
    uint32_t c = job->counts[i - job->lo];
    if (c)
      memcpy(b->out_edge + pos, job->targets.items + src, c * sizeof *b->out_edge);
    pos += c;
    src += c;
    while (x < b->extras.count && b->extras.items[x].from == i)
      b->out_edge[pos++] = b->extras.items[x++].to;
  }
}

/* A run of consecutive parts, merged by one thread. */
typedef struct merge_run {
  const merge_part *parts;
  size_t first, end;
} merge_run;

static void *merge_parts(void *p) {
  const merge_run *run = p;
  for (size_t j = run->first; j < run->end; j++)
    merge_job(&run->parts[j]);
  return NULL;
}

/* Joins the jobs' targets and the extra edges into one CSR (out_off, out_edge), each object's
 * descriptor references first, then its extra edges; frees the jobs' buffers. */
static ds_status merge_edges(ds__build *b, ds_error *err) {
  size_t n = b->n, parts = b->job_count;
  uint64_t edge_total = b->extras.count;
  for (size_t j = 0; j < parts; j++)
    edge_total += b->jobs[j].targets.count;
  if (edge_total > DS_MAX_REFERENCES)
    return ds_error_set(err, DS_E_LIMIT, "more than %llu references (DS_MAX_REFERENCES)",
                        (unsigned long long)DS_MAX_REFERENCES);
  b->edge_total = edge_total;
  /* in temporary files under a memory budget (spill.c), written and mapped back at once; else
   * mappings of their own, which get the file's pages in place once written behind */
  if (!(b->out_off = ds__array_alloc(b, (n + 1) * sizeof *b->out_off, err)) ||
      !(b->out_edge = ds__work_alloc(b, (edge_total ? edge_total : 1) * sizeof *b->out_edge, err)))
    return err->code;
  /* each part's references start after the earlier parts' and the extra edges from before its
   * first object; the threads take halves of the references, in runs of whole parts */
  merge_part part[DS__EDGE_PARTS];
  uint32_t pos = 0;
  size_t x = 0;
  for (size_t j = 0; j < parts; j++) {
    while (x < b->extras.count && b->extras.items[x].from < b->jobs[j].lo)
      x++, pos++;
    part[j] = (merge_part){b, &b->jobs[j], pos, x};
    pos += (uint32_t)b->jobs[j].targets.count;
  }
  merge_run runs[DS__BUILD_THREADS];
  size_t first = 0;
  for (int t = 0; t < DS__BUILD_THREADS; t++) {
    size_t end = first;
    uint64_t upto = edge_total / DS__BUILD_THREADS * (uint64_t)(t + 1);
    while (end < parts && (t == DS__BUILD_THREADS - 1 || part[end].pos < upto))
      end++;
    runs[t] = (merge_run){part, first, end};
    first = end;
  }
  run_on_threads(merge_parts, runs, sizeof *runs, DS__BUILD_THREADS);
  b->out_off[n] = (uint32_t)edge_total;
  for (size_t j = 0; j < parts; j++) {
    ds__spill_recycle(b, b->jobs[j].targets.items, b->jobs[j].targets.count * sizeof *b->jobs[j].targets.items);
    free(b->jobs[j].raw.items);
    free(b->jobs[j].counts);
    memset(&b->jobs[j], 0, sizeof b->jobs[j]);
  }
  return DS_OK;
}

ds_status ds__build_references(ds__build *b, ds_error *err) {
  double t_edges = ds__now_ms();
  ds_status rc;
  if (!ds__lookup_build(&b->lookup, b->heap, b->addr.items, b->n))
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the address directory");
  if ((rc = run_edge_jobs(b, err)) != DS_OK || (rc = ds__collect_dependent_edges(b, err)) != DS_OK)
    return rc;
  /* no other thread reads addresses, types or sizes now: they become the file's pages, and their
   * own go to the outgoing references and the inversion's arrays (recycled pages) */
  ds__swap_for_section(b, DS_SEC_OBJ_ADDR, (void **)&b->addr.items, b->n * 8, DS__MAPPED_ADDR);
  ds__swap_for_section(b, DS_SEC_OBJ_TYPE, (void **)&b->type.items, b->n * 4, DS__MAPPED_TYPE);
  ds__swap_for_section(b, DS_SEC_OBJ_SIZE, (void **)&b->obj_size, b->n * 4, DS__MAPPED_SIZE);
  if ((rc = merge_edges(b, err)) != DS_OK)
    return rc;
  ds__lookup_free(&b->lookup); /* only the workers need it */
  b->stats->edges = b->edge_total;
  b->stats->edges_ms = ds__now_ms() - t_edges;
  if (!b->budget) {
    /* the edges were the last pass over every address before the string scan's: their pages
     * leave the resident set meanwhile (the few reads between fault them back from the file) */
    if (b->mapped & DS__MAPPED_ADDR)
      ds_index_writer_release(b->addr.items, b->n * 8);
    if ((rc = ds__write_behind(b, DS_SEC_OUT_OFF, b->out_off, (b->n + 1) * 4, DS__WB_IN_PLACE, err)) != DS_OK)
      return rc;
    return ds__write_behind(b, DS_SEC_OUT_EDGE, b->out_edge, b->edge_total * 4, DS__WB_IN_PLACE, err);
  }
  double t_write = ds__now_ms();
  if ((rc = ds__write_mapped(b, DS_SEC_OUT_OFF, (void **)&b->out_off, (b->n + 1) * 4, err)) != DS_OK)
    return rc;
  if ((rc = ds__write_mapped(b, DS_SEC_OUT_EDGE, (void **)&b->out_edge, b->edge_total * 4, err)) != DS_OK) {
    b->out_off = NULL; /* mapped: the writer's to unmap */
    return rc;
  }
  b->mapped |= DS__MAPPED_OUT;
  b->stats->write_ms += ds__now_ms() - t_write;
  return DS_OK;
}

/* ---- incoming references ------------------------------------------------------------------------ */

/* The inversion is split by source: two jobs, each over the references of its own run of
 * objects, with counters and cursors of its own, so neither reads the other's references nor
 * tests each target for being its own (a branch taken at random, half the time: splitting by
 * target cost both threads a pass over every reference and a misprediction every other one). */
typedef struct reverse_job {
  const uint32_t *out_off, *out_edge;
  uint32_t *in_edge;
  uint32_t *at;    /* count: references to t in at[t]; fill: where t's next source goes */
  uint32_t lo, hi; /* the sources this job owns */
} reverse_job;

/* The first object s at which the references of the objects before it, plus s, reach half of
 * the references plus the objects (off[s] + s only grows with s). */
static size_t halving_source(const uint32_t *off, size_t n, uint64_t edges) {
  uint64_t half = (edges + n) / 2;
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if ((uint64_t)off[mid] + mid < half)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Both passes are random accesses by target, each independent of the last: the counter (and in
 * the fill the slot it names) of the target REVERSE_AHEAD references on is fetched early, the
 * fill's slot half as far on, once its counter is in the cache. */
enum { REVERSE_AHEAD = 16 };

static void *reverse_count(void *p) {
  reverse_job *j = p;
  const uint32_t *edge = j->out_edge;
  uint32_t *at = j->at;
  uint32_t e = j->out_off[j->lo], end = j->out_off[j->hi];
  for (; e + REVERSE_AHEAD < end; e++) {
    __builtin_prefetch(&at[edge[e + REVERSE_AHEAD]], 1);
    at[edge[e]]++;
  }
  for (; e < end; e++)
    at[edge[e]]++;
  return NULL;
}

/* Each source goes where its target's cursor points, which moves on: the sources of each target
 * stay in source order, the first job's before the second's. */
static void *reverse_fill(void *p) {
  reverse_job *j = p;
  const uint32_t *edge = j->out_edge, *off = j->out_off;
  uint32_t *at = j->at, *in = j->in_edge;
  uint32_t i = j->lo, e = off[j->lo], end = off[j->hi];
  for (; e < end; e++) {
    while (off[i + 1] <= e)
      i++; /* the source of reference e (sources without references skipped) */
    if (e + REVERSE_AHEAD < end) {
      __builtin_prefetch(&at[edge[e + REVERSE_AHEAD]], 1);
      __builtin_prefetch(&in[at[edge[e + REVERSE_AHEAD / 2]]], 1);
    }
    in[at[edge[e]]++] = i;
  }
  return NULL;
}

/* The offsets from the two jobs' counts: the first job's counts (first[t]) become its cursors,
 * each target's start; the second's (in_off[t + 2]) give way to its cursors in in_off[t + 1],
 * which its fill moves on to each target's end, the next one's start: in_off[t] is then t's
 * start for every t, with no copy. first[n] is the total, so first[] gives the in-degrees
 * (first[o + 1] - first[o]) until the first job's fill. */
static void reverse_offsets(uint32_t *first, uint32_t *in_off, size_t n) {
  uint32_t start = 0;
  in_off[0] = 0;
  for (size_t t = 0; t < n; t++) {
    uint32_t mine = first[t], theirs = in_off[t + 2];
    first[t] = start;
    in_off[t + 1] = start + mine;
    start += mine + theirs;
  }
  first[n] = start;
}

/* Under a memory budget: the offsets in a temporary file, the references by sorted runs
 * (spill.c), both mapped back from the index afterwards. */
static ds_status reverse_spilled(ds__build *b, ds_error *err) {
  size_t n = b->n;
  uint32_t *in_off = ds__spill_alloc(b, (n + 1) * sizeof *in_off, err);
  if (!in_off)
    return err->code;
  for (uint64_t e = 0; e < b->edge_total; e++)
    in_off[b->out_edge[e] + 1]++;
  for (size_t i = 0; i < n; i++)
    in_off[i + 1] += in_off[i];
  uint64_t size;
  ds_status rc = ds_index_writer_add(b->w, DS_SEC_IN_OFF, in_off, (n + 1) * 4, err);
  const void *map = rc == DS_OK ? ds_index_writer_map_last(b->w, &size, err) : NULL;
  ds__spill_free(b, in_off);
  if (!map)
    return err->code;
  b->in_off = (uint32_t *)map;
  b->mapped |= DS__MAPPED_IN; /* in_edge stays NULL until mapped too */
  if ((rc = ds__spill_reverse(b, err)) != DS_OK || !(map = ds_index_writer_map_last(b->w, &size, err)))
    return rc != DS_OK ? rc : err->code;
  b->in_edge = (uint32_t *)map;
  return DS_OK;
}

ds_status ds__build_reverse(ds__build *b, ds_error *err) {
  double t_in = ds__now_ms();
  size_t n = b->n;
  if (b->budget) {
    ds_status rc = reverse_spilled(b, err);
    b->stats->reverse_ms = ds__now_ms() - t_in;
    return rc;
  }
  /* the 64-bit sizes are done with: ds__object_size reads the object-size section from here on;
   * their pages go to the incoming references */
  ds__spill_recycle(b, b->size.items, n * sizeof *b->size.items);
  b->size.items = NULL, b->size.count = b->size.cap = 0;
  if (!(b->in_off = ds__array_alloc(b, (n + 2) * sizeof *b->in_off, err)) || /* + 1: reverse_count */
      !(b->in_edge = ds__work_alloc(b, (b->edge_total ? b->edge_total : 1) * sizeof *b->in_edge, err)))
    return err->code;
  /* the first job's counters; the second's are in_off + 2 */
  uint32_t *first = ds__array_alloc(b, (n + 1) * sizeof *first, err);
  if (!first)
    return err->code;
  /* the sources split where references and objects together are halved: a reference costs
   * less when its object has many (an array's elements follow each other; on big one array
   * holds 10 of the 34 million, and with the references halved the second job took 1.7 times
   * the first's time) */
  uint32_t split = (uint32_t)halving_source(b->out_off, n, b->edge_total);
  reverse_job rj[2] = {{b->out_off, b->out_edge, b->in_edge, first, 0, split},
                       {b->out_off, b->out_edge, b->in_edge, b->in_off + 2, split, (uint32_t)n}};
  double t_count = ds__now_ms();
  run_on_threads(reverse_count, rj, sizeof *rj, 2);
  reverse_offsets(first, b->in_off, n);
  b->stats->reverse_count_ms = ds__now_ms() - t_count;
  rj[1].at = b->in_off + 1;
  /* the dominator search starts here: it needs the incoming references only after numbering the
   * vertices, which it does beside the fill; until then it reads the in-degrees from first[],
   * and the fill begins once it has */
  ds_status rc = ds__start_dominators_early(b, first, err);
  if (rc != DS_OK) {
    ds__spill_free(b, first);
    return rc;
  }
  double t_fill = ds__now_ms();
  /* with the search numbering on its own thread, the fill takes one: the numbering decides when
   * the search (and the build) ends, and a third thread slowed it */
  if (ds__dominators_numbering(b))
    reverse_fill(&rj[0]), reverse_fill(&rj[1]);
  else
    run_on_threads(reverse_fill, rj, sizeof *rj, 2);
  ds__spill_free(b, first); /* no array is allocated after it that would take its pages */
  ds__dominators_incoming_ready(b);
  b->stats->reverse_fill_ms = ds__now_ms() - t_fill;
  b->stats->reverse_ms = ds__now_ms() - t_in;
  rc = ds__write_behind(b, DS_SEC_IN_OFF, b->in_off, (n + 1) * 4, DS__WB_IN_PLACE, err);
  return rc != DS_OK ? rc : ds__write_behind(b, DS_SEC_IN_EDGE, b->in_edge, b->edge_total * 4, DS__WB_IN_PLACE, err);
}
