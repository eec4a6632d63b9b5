/*
 * analyzeint.h: internals of the index build shared by the files of core/analyze (build.c runs
 * the phases, graph.c holds the reference phases, locks.c and waitgraph.c the lock analysis).
 * Nobody outside core/analyze includes this.
 *
 * The build is a sequence of phase functions over one ds__build state (Redis's rdbSave* style):
 * each phase reads what the earlier ones left in the state, adds its own results, and may hand
 * finished sections to the index writer at once. Everything the state owns is freed in one place,
 * ds__build_free, whether the build finished or stopped part way.
 */
#ifndef DUMPSCOPE_ANALYZE_INT_H
#define DUMPSCOPE_ANALYZE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/build.h"
#include "dumpscope/dominators.h"
#include "dumpscope/findings.h"
#include "dumpscope/index.h"
#include "dumpscope/layout.h"

struct ds__build;
typedef struct ds__string_scan ds__string_scan;
typedef struct ds__dom_search ds__dom_search;

#define DS__BUILD_THREADS 2
/* The references phase's parts of the object array, which the threads take in turn: parts of
 * equal object counts differ in work (a region of arrays of references against one of strings),
 * and halves left one thread idle for a quarter of the phase on big. */
#define DS__EDGE_PARTS 32
#define DS__SPILL_MAX 96         /* arrays in temporary files or mappings of their own at once (more
                                  * stay in the heap) */
#define DS__RECYCLED_MAX 64      /* runs of pages kept for the next arrays (more are given back) */
#define DS__INTERNED_MAX 64      /* distinct names ds__intern remembers (more are added again) */

double ds__now_ms(void);
/* The build under a memory budget (spill.c). */
/* An unlinked temporary file beside the index (-1 with err). */
int ds__spill_file(struct ds__build *b, ds_error *err);
/* bytes of zeroed memory: in a temporary file mapped shared when a budget is set and the array is
 * a notable share of it, else calloc'd. NULL with err. Freed by ds__spill_free (or at the end). */
void *ds__spill_alloc(struct ds__build *b, size_t bytes, ds_error *err);
void ds__spill_free(struct ds__build *b, void *p);
/* Frees p (from ds__reserve or ds__array_alloc), keeping the pages of its first `used` bytes for
 * the next ds__array_alloc or ds__work_alloc to take over (spill.c: recycled pages); like
 * ds__spill_free for a spill file or a heap block. Never for an array written in place: its pages
 * are the index file's. Any thread. */
void ds__spill_recycle(struct ds__build *b, void *p, size_t used);
/* Memory for a working array whose every element is written before it is read (its contents are
 * undefined): recycled pages first, as ds__array_alloc. NULL with err. Freed by ds__spill_free. */
void *ds__work_alloc(struct ds__build *b, size_t bytes, ds_error *err);
/* Gives back the recycled pages no array took (once the last array that could take them exists). */
void ds__recycled_release(struct ds__build *b);
/* Address space for an array of at most `bytes` (huge pages advised), of which only the pages
 * written become memory; NULL when the system refuses it. Freed by ds__spill_free. */
void *ds__reserve(struct ds__build *b, size_t bytes);
/* A zeroed array that is written once and then read only: a spill file under a memory budget
 * (ds__spill_alloc), else a mapping of its own (ds__reserve), page-aligned for writing behind in
 * place, or calloc'd when the system refuses that. NULL with err. Freed by ds__spill_free. */
void *ds__array_alloc(struct ds__build *b, size_t bytes, ds_error *err);
void ds__spill_free_all(struct ds__build *b);
/* The incoming references as sorted runs in a temporary file merged into the index's section
 * (streamed: never all in memory); b->in_off must be done. */
ds_status ds__spill_reverse(struct ds__build *b, ds_error *err);
/* The process's resident memory now, its anonymous part and the resident high-water mark, in
 * bytes (/proc/self/status; zeros where it cannot be read). */
void ds__memory_now(uint64_t *rss, uint64_t *anon, uint64_t *peak);

/* A growable array of T with a hard cap (curl dynbuf habit): growth past the cap is DS_E_LIMIT,
 * a failed allocation DS_E_NOMEM; neither is ever ignored. */
#define DS__VEC(T) struct { T *items; size_t count, cap; }
/* Appends x to v, which may hold at most max elements; on failure leaves v as it was and sets the
 * ds_status rc (left alone on success). */
#define DS__VEC_PUSH(v, x, max, rc)                                                                   \
  do {                                                                                                \
    if ((v).count == (v).cap &&                                                                       \
        ((rc) = ds__vec_grow((void **)&(v).items, &(v).cap, (v).count, sizeof *(v).items, (max))) != DS_OK) \
      break;                                                                                          \
    (v).items[(v).count++] = (x);                                                                     \
  } while (0)

/* Room for one more element of elem_size bytes in *items (count used of *cap), doubling up to
 * max elements. */
ds_status ds__vec_grow(void **items, size_t *cap, size_t count, size_t elem_size, size_t max);

/* The build's large arrays ask for transparent huge pages (the kernel's "madvise" mode, Debian's
 * default): they are written whole, and a 2 MiB page faults in once instead of 512 times (the
 * first root path on big spent a fifth of its time in page faults). Advice only: nothing changes
 * where the kernel declines. Arrays under 8 MiB are left alone. */
void ds__advise_huge(void *p, size_t bytes);
/* Faults in the whole pages of [p, p + bytes) as if written (MADV_POPULATE_WRITE), without
 * changing a byte: false when the kernel refuses (EINVAL before Linux 5.14, or no memory). */
bool ds__fault_in(void *p, size_t bytes);
void *ds__big_calloc(size_t count, size_t size);
void *ds__big_malloc(size_t bytes);
/* The error of a failed push: "more than <max> <what> (<cap>)" or "out of memory for <what>". */
ds_status ds__vec_error(ds_error *err, ds_status rc, const char *what, size_t max, const char *cap);

/* Address -> object index in O(1) with one cache line: per heap range, a bit for every 8 bytes
 * saying whether an object starts there, in words of 64 bits (512 bytes of heap) that each carry
 * the index of the first object at or after their start. An address is an object's start when
 * its bit is set, and its index is the word's rank plus the set bits below it (16 bytes per 512
 * bytes of heap; the old directory of granules needed a scan of the address array besides). */
#define DS__RANK_SHIFT 9
typedef struct ds__rank_word {
  uint64_t bits;
  uint64_t rank;
} ds__rank_word;
typedef struct ds__addr_lookup {
  const uint64_t *addrs;
  size_t n;
  size_t ranges;
  uint64_t *start, *end;
  ds__rank_word **words;
  /* granule[k]: the first range that ends after base + k << shift (ranges when none); at most
   * DS__LOOKUP_GRANULES of them over the ranges' whole span */
  uint32_t *granule;
  uint64_t base;
  size_t granules;
  unsigned shift;
} ds__addr_lookup;
#define DS__LOOKUP_GRANULES (1u << 16)

/* A dependent-handle edge (kind 1) added to the graph beside the GC descriptor's references. */
typedef struct ds__extra_edge {
  uint32_t from, to, kind;
} ds__extra_edge;

/* A piece of the mapped dump kept from one read to the next: passes over the objects in address
 * order find most of them in the piece the last one was in, without a lookup. */
typedef struct ds__dump_window {
  const uint8_t *base; /* the mapping of [start, end) */
  uint64_t start, end;
} ds__dump_window;

/* [addr, addr + bytes) straight from the mapping: from the window when it holds them, else from
 * the piece of the core that holds addr, which becomes the window; NULL when that piece does not
 * hold them all (the caller copies them out). */
static inline const uint8_t *ds__window_at(ds__dump_window *w, const ds_dump *dump, uint64_t addr, uint64_t bytes) {
  if (addr >= w->start && addr < w->end && w->end - addr >= bytes)
    return w->base + (addr - w->start);
  uint64_t avail = 0;
  const uint8_t *p = ds_dump_span(dump, addr, &avail);
  if (!p || avail < bytes)
    return NULL;
  w->base = p, w->start = addr, w->end = addr + avail;
  return p;
}

/* One thread's share of the reference extraction: objects [lo, hi). */
typedef struct ds__edge_job {
  struct ds__build *b;
  size_t lo, hi;
  ds__dump_window win;       /* most objects fall in the last one's piece */
  uint64_t released;         /* dump pages below it were given back (release_behind) */
  uint32_t *counts;          /* per object in [lo, hi) */
  DS__VEC(uint32_t) targets; /* in a temporary file when bounded (spill.c): never grown */
  bool bounded;
  DS__VEC(uint64_t) raw;     /* pointer values of the current batch, resolved in bulk */
  ds_status status;          /* DS_OK, or why the job stopped */
} ds__edge_job;

/* An object whose header holds a thin lock (the lock phase finds its owner). */
typedef struct ds__thin_header {
  uint32_t object, header;
} ds__thin_header;

/* A name added to the string pool once (ds__intern); text is a string constant. */
typedef struct ds__interned {
  const char *text;
  uint32_t offset;
} ds__interned;

/* A monitor: a sync block (from the DAC) or a thin lock (from the object header). */
typedef struct ds__monitor {
  uint64_t address;          /* the locked object */
  uint32_t object;           /* its index, UINT32_MAX if not in the heap */
  uint32_t owner;            /* holding thread's index, UINT32_MAX if free */
  uint32_t recursion;        /* extra acquisitions as recorded */
  uint32_t kind;             /* DS__MONITOR_SYNC_BLOCK or DS__MONITOR_THIN_LOCK */
  uint32_t sync_block;       /* sync block number, 0 for thin locks */
  uint32_t pad;
} ds__monitor;

#define DS__MONITOR_SYNC_BLOCK 1u
#define DS__MONITOR_THIN_LOCK 2u

struct ds__lock_kind;

/* What one thread waits on, while the lock phase runs (the index keeps ds_index_wait). */
typedef struct ds__wait {
  const struct ds__lock_kind *kind; /* the row of the lock-kind table (locks.c), NULL when not blocked */
  const char *name;          /* the row's name: "monitor", "lock", ... */
  uint32_t flags;            /* the row's DS__LK_* flags */
  const char *mode;          /* "read", "upgrade", "write" or NULL */
  uint32_t frame;            /* the blocking frame */
  uint32_t object;           /* the object waited on, UINT32_MAX when unknown */
  uint32_t holder;           /* the thread holding it, UINT32_MAX when none or unknown */
  uint32_t readers;          /* reader-writer locks: threads holding it for reading */
  uint64_t monitor;          /* no heap (a mid-GC dump): the address of the monitor waited on, else 0 */
} ds__wait;

/* Row flags of the lock-kind table (locks.c) that the wait graph and findings read. */
#define DS__LK_WAITER 0x1u        /* a thread waiting this way is listed among the object's waiters */
#define DS__LK_POOL_BLOCKING 0x2u /* a thread pool thread waiting this way is blocked (starvation) */
#define DS__LK_CONTENTION 0x4u    /* many threads waiting this way on one object is contention */
#define DS__LK_TASK 0x8u          /* a synchronous wait on a task (sync-over-async) */
#define DS__LK_READERS 0x10u      /* the lock has readers: the wait reports them */
#define DS__LK_HAS_PARTS 0x20u    /* lock objects it references (its inner events) are reported as
                                   * part of it, not listed on their own */

typedef struct ds__symcache ds__symcache;
/* Arrays of the build replaced by the read-only mapping of their written section (the writer
 * owns those mappings; ds__build_free must not free them). */
#define DS__MAPPED_ADDR 0x1u      /* addr.items */
#define DS__MAPPED_TYPE 0x2u      /* type.items */
#define DS__MAPPED_OUT 0x4u       /* out_off, out_edge */
#define DS__MAPPED_IN 0x8u        /* in_off, in_edge */
#define DS__MAPPED_SIZE 0x10u     /* obj_size */

typedef struct ds__build {
  ds_analysis *a;
  ds__symcache *symbols;     /* assemblies and PDBs opened for frames and code maps (symcache.c) */
  ds_heap *heap;
  const ds_layout *layout;   /* the dump's runtime's: every raw object read goes through it */
  uint64_t idisposable_mt;   /* System.IDisposable's MethodTable (0: not found), for the findings */
  ds_build_stats *stats;
  double t0;
  const char *path;          /* the index file being written */
  uint64_t budget;           /* memory budget in bytes (0: none): above it the build spills */
  uint64_t search_target;    /* a root search's object (ds_index_build_root_search), else 0 */
  ds_root_set collected;     /* the roots when the caller gave none */
  const ds_root_set *roots;
  ds_index_writer *w;
  unsigned mapped;           /* DS__MAPPED_*: arrays that are read-only mappings of written sections */
  pthread_mutex_t spill_lock; /* spills and recycled, which several threads allocate from */
  struct { void *p; size_t bytes; bool anon; } spills[DS__SPILL_MAX]; /* spill.c's mappings */
  size_t spill_count;
  struct { uint8_t *p; size_t bytes; } recycled[DS__RECYCLED_MAX]; /* spill.c's recycled pages */
  size_t recycled_count;
  ds_strpool pool;
  ds__interned interned[DS__INTERNED_MAX]; /* ds__intern's */
  size_t interned_count;
  ds_walk_stats walk;

  /* objects (phase 1), in address order */
  DS__VEC(uint64_t) addr;
  DS__VEC(uint32_t) type;
  DS__VEC(uint64_t) size;
  size_t n;
  ds_status walk_status;     /* why the walk's callback stopped it */
  bool objects_bounded;      /* addr, type and size have a fixed capacity: the most objects there can be */
  uint32_t *obj_size;
  DS__VEC(ds_index_big_size) big;
  DS__VEC(ds__thin_header) thin; /* headers holding a thin lock, read during the walk */
  ds__dump_window hdr_win;   /* for those reads */

  /* types (phase 2): per type of the heap's table; typeinfo.c's details (raw field types,
   * statics) in typeinfo */
  struct ds__typeinfo *typeinfo;
  size_t heap_types, type_total;
  uint32_t *first_instance;  /* an object index, for array element types */
  ds_gc_desc *descs;         /* copied out of the dump once per type */
  uint64_t *loader_allocator; /* the LoaderAllocator object of collectible types */
  ds_index_type *types;
  DS__VEC(ds_index_field) fields;

  /* references (phases 3 and 4) */
  ds__addr_lookup lookup;
  ds__edge_job jobs[DS__EDGE_PARTS];
  size_t job_count;          /* parts in use */
  size_t next_job;           /* the next part a thread takes (atomic) */
  DS__VEC(ds__extra_edge) extras;
  uint64_t edge_total;
  uint32_t *out_off, *out_edge, *in_off, *in_edge;

  /* roots, threads, frames, finalizer queue (phase 5) */
  ds_index_root *iroots;
  size_t iroot_count;                 /* the collected roots, then the static-field roots */
  ds_index_thread *ithreads;
  ds_index_frame *iframes;
  uint32_t *finalizable;
  size_t finalizable_count;

  /* monitors, waits, lock instances, deadlocks, findings (phase 6: locks.c, waitgraph.c) */
  DS__VEC(ds__monitor) monitors;      /* by address */
  ds__wait *waits;                    /* per thread */
  uint32_t *stack_roots;              /* stack roots grouped by thread, in root order */
  uint32_t *stack_root_start;         /* per thread + 1: its run of stack_roots */
  uint8_t *in_cycle;                  /* per thread */
  DS__VEC(ds_index_wait) iwaits;
  DS__VEC(ds_index_lock) ilocks;
  DS__VEC(ds_index_lock_value) lock_values;
  DS__VEC(ds_index_waiter) waiters;
  DS__VEC(ds_index_deadlock) deadlocks;
  DS__VEC(ds_index_finding) findings;

  struct ds__string_scan *string_scan; /* findings_strings.c: runs beside the dominator search */
  double strings_wait_ms;              /* how long the findings waited for the string scan */
  struct ds__dom_search *dom_search;   /* retained.c: the dominator search, beside the phases after the roots */
  struct ds__prefaulter *prefault; /* objects.c: faults the walk's arrays in ahead of it, during the walk */
  struct ds__write_queue *wq; /* writeback.c: the sections written behind the phases */

  /* dominator tree and retained sizes (phase 9: retained.c) */
  ds_dom_result dom;
  DS__VEC(ds_index_suspect) suspects; /* (suspects.c, in the findings phase) */

  /* findings and the report's facts (phase 10: findings.c, findings_heap.c, findings_strings.c) */
  ds_finding_settings settings;
  DS__VEC(ds_index_evidence) evidence;
  ds_index_report report;

  /* liveness (phase 7) */
  uint64_t *live;
  uint32_t *stack;

  /* segments, histograms, free blocks (phase 8) */
  ds_index_segment *segs;
  size_t seg_count;
  uint64_t *hist_acc;
  ds_index_hist *hist;
  size_t hist_count;
  DS__VEC(uint32_t) free_blocks;
  ds_index_extra_edge *extra_out;
  ds_index_info info;
} ds__build;

/* Object i's size. The 64-bit sizes (b->size) serve the phases up to the root index; the reverse
 * phase frees them (without a memory budget) and from then on the sizes come from the object-size
 * section's 32 bits, read from the index file's pages, with the big-size table for 4 GiB and
 * more: 130 MB less memory on big while the dominator search holds its arrays. */
uint64_t ds__big_object_size(const ds__build *b, size_t i);
static inline uint64_t ds__object_size(const ds__build *b, size_t i) {
  if (b->size.items)
    return b->size.items[i];
  uint32_t s = b->obj_size[i];
  return s != UINT32_MAX ? s : ds__big_object_size(b, i);
}

/* A pass over the objects in address order gives back the dump pages it has left behind (as the
 * walk does): between *released and upto, once that is more than a few MB, or always when final.
 * Without it, each full pass would leave the whole heap's mapping resident. */
void ds__release_behind(const ds__build *b, uint64_t *released, uint64_t upto, bool final);
/* ---- writing sections (writeback.c) ---- */
/* Writes a section from *data (malloc'd) and replaces *data by the section's read-only mapping
 * in the index file, freeing the copy: its pages become the page cache's. */
ds_status ds__write_mapped(ds__build *b, ds_section_id id, void **data, uint64_t size, ds_error *err);

/* A thread beside the build's phases (the string scan, the dominator search, the object
 * sections): ds__side_start runs fn(arg) on it, or reports false when no thread starts (the
 * caller then does the work itself); ds__side_join waits for it, once. */
typedef struct ds__side_thread {
  pthread_t thread;
  bool started;
} ds__side_thread;
bool ds__side_start(ds__side_thread *t, void *(*fn)(void *), void *arg);
void ds__side_join(ds__side_thread *t);

/* Writing behind (writeback.c): without a memory budget the build's large sections are queued to a
 * writer thread, which writes them in turn while the phases go on (the index writer takes
 * sections from several threads). The array must stay as it is until written, which for the
 * build's arrays is the build's end at the latest. With DS__WB_IN_PLACE a page-aligned array of a
 * mapping of its own (ds__reserve) then has the file's pages in place of its own
 * (ds_index_writer_add_in_place); with DS__WB_RELEASE too, they leave the resident set at once
 * (nothing reads that array again). Under a memory budget, or with no thread, the section is
 * written at once. ds__write_behind returns the queue's first error so far. */
#define DS__WB_IN_PLACE 0x1u
#define DS__WB_RELEASE 0x2u
#define DS__WB_DIRECT 0x4u   /* not read back from the file: around the page cache (ds_index_writer_add_direct) */
ds_status ds__write_behind(ds__build *b, ds_section_id id, void *data, uint64_t size, unsigned flags, ds_error *err);
/* Waits until the queued array at data is written: true when its pages are the file's now (then
 * ds_index_writer_release may let them go). */
bool ds__written_in_place(ds__build *b, const void *data);
/* Once the writer has written *data (queued behind, not in place) as section `id`, the array
 * becomes that section mapped back from the file (b->mapped gets `mapped`: the writer owns the
 * mapping) and its own pages are recycled (ds__spill_recycle) for the arrays allocated next.
 * Only where no other thread reads the array. False (the array left as it is) when it was not
 * written that way or cannot be mapped. */
bool ds__swap_for_section(ds__build *b, ds_section_id id, void **data, uint64_t size, unsigned mapped);
/* Waits until everything queued is written: the first error, if any. */
ds_status ds__write_behind_drain(ds__build *b, ds_error *err);
/* Starts the writer thread (without a memory budget, before any other thread of the build runs);
 * ds__write_behind_stop ends it at the build's end, on any path, leaving what was not written. */
void ds__write_behind_start(ds__build *b);
void ds__write_behind_stop(ds__build *b);

/* ---- phase 1: objects (objects.c) ---- */
/* Walks the heap into the object arrays and hands the object sections to the writer; under a
 * memory budget ds__finish_object_sections (phase "object sections") writes them instead.
 * ds__objects_stop_prefault stops the walk's helper thread (at the build's end on any path). */
ds_status ds__build_objects(ds__build *b, ds_error *err);
ds_status ds__finish_object_sections(ds__build *b, ds_error *err);
void ds__objects_stop_prefault(ds__build *b);

/* Index of the object starting exactly at addr, or UINT32_MAX. */
uint32_t ds__find_exact(const uint64_t *addrs, size_t n, uint64_t addr);
/* Index of the object containing addr (interior pointers), or UINT32_MAX. */
uint32_t ds__find_containing(const ds_layout *l, const uint64_t *addrs, const uint64_t *sizes, size_t n,
                             uint64_t addr);

/* The address directory over the heap's segments (graph.c); false: out of memory. */
bool ds__lookup_build(ds__addr_lookup *l, ds_heap *heap, const uint64_t *addrs, size_t n);
/* The one binary search of the build: the first of n ascending addresses that is >= key. */
size_t ds__lower_bound(const uint64_t *addrs, size_t n, uint64_t key);
/* Frees the address directory (again: a no-op). */
void ds__lookup_free(ds__addr_lookup *l);
/* Reads and resolves the references of a batch of objects (graph.c): objs[0..count), or first..
 * first+count when objs is NULL; appends each one's targets to job->targets in turn and sets
 * job->counts[slot0 + k] to their number. Needs b->lookup; job->status says why it stopped. */
void ds__edge_batch(ds__edge_job *job, const uint32_t *objs, size_t first, size_t count, size_t slot0);
/* The dependent-handle edges into b->extras, sorted by source (graph.c). */
ds_status ds__collect_dependent_edges(ds__build *b, ds_error *err);

/* Phase 3 (graph.c): every object's outgoing references from its type's GC descriptor, on
 * DS__BUILD_THREADS threads, plus dependent-handle edges; writes the outgoing CSR sections. */
ds_status ds__build_references(ds__build *b, ds_error *err);
/* The root search's phase in place of phase 3 (rootsearch.c): the references of only the objects
 * a breadth-first search from the roots expands until it meets b->search_target; writes the
 * outgoing CSR sections (empty rows for the rest). */
ds_status ds__build_root_search(ds__build *b, ds_error *err);
/* The last phases (finish.c): liveness from the roots; segments, histograms and free blocks (then
 * the extra edges); the dependent-handle edges as the index stores them (a root search's phase of
 * its own); the info section and the file. */
ds_status ds__build_liveness(ds__build *b, ds_error *err);
ds_status ds__build_histograms(ds__build *b, ds_error *err);
ds_status ds__build_extra_edges(ds__build *b, ds_error *err);
ds_status ds__build_write(ds__build *b, ds_error *err);
/* Phase 4 (graph.c): the incoming references (the inverted graph); writes its CSR sections. */
ds_status ds__build_reverse(ds__build *b, ds_error *err);

/* Phase 6 (locks.c): monitors from sync blocks and object headers, what every thread waits on,
 * the lock instances in use with their state and waiters, then (waitgraph.c) wait-for cycles,
 * contention and findings; writes their sections. */
ds_status ds__build_locks(ds__build *b, ds_error *err);
/* The wait graph (waitgraph.c): cycles, contention and findings from b->waits. */
ds_status ds__build_wait_graph(ds__build *b, ds_error *err);
/* Appends to b->waiters the threads listed as waiters of object (their wait has DS__LK_WAITER),
 * in thread order with their modes: *first and *count of them. */
ds_status ds__lock_waiters(ds__build *b, uint32_t object, uint32_t *first, uint32_t *count, ds_error *err);
/* A string pool offset for text added once per build (kind names, modes): interned. */
uint32_t ds__intern(ds__build *b, const char *text);

/* Type records (typeinfo.c): a heap type's record without the DAC's details; a class's instance
 * fields appended to the field table (and its statics kept for the statics section). */
void ds__type_record(ds__build *b, const ds_type *ht, ds_index_type *it);
ds_status ds__describe_fields(ds__build *b, uint32_t t, const ds_type *ht, ds_index_type *it, ds_error *err);
/* Phase "type details" (typeinfo.c), after build_types: value types of fields, declaring types,
 * types with methods on the stacks; writes the field info, statics and methods sections. */
ds_status ds__build_type_details(ds__build *b, ds_error *err);
void ds__typeinfo_free(ds__build *b);
/* The native code ranges of the methods "type details" recorded (for the memory map). */
size_t ds__typeinfo_code(const ds__build *b, const ds_index_memory_range **ranges);
/* The static field of DS_SEC_STATICS that the thread-static root r names, UINT32_MAX if none. */
uint32_t ds__typeinfo_thread_static(ds__build *b, const ds_root *r);
/* The static-field roots write_statics found (slots of the statics storage holding an object). */
typedef struct ds__static_root {
  uint64_t slot, object;
  uint32_t field;            /* index in DS_SEC_STATICS */
} ds__static_root;
size_t ds__typeinfo_static_roots(const ds__build *b, const ds__static_root **roots);

/* ---- statics (statics.c) ------------------------------------------------------------------- */

/* The types that have statics (thread statics only, when asked): the seeds, their base types
 * and every type their modules define, sorted and unique; *out is malloc'ed. */
ds_status ds__static_types(ds_analysis *a, const uint64_t *seeds, size_t seed_count, bool thread_statics_only,
                           uint64_t **out, size_t *count, ds_error *err);
/* Calls fn with the MethodTable of each type whose GC statics begin inside one of the statics
 * storage ranges [lo[i], hi[i]) (sorted, disjoint), found from the loader heaps. */
ds_status ds__statics_owners(ds_analysis *a, const uint64_t *lo, const uint64_t *hi, size_t range_count,
                             void (*fn)(void *ctx, uint64_t mt), void *ctx, ds_error *err);
/* Calls add for each thread-static root of the live threads: each thread's whole thread-static
 * storage (field_mt 0; .NET 9+ only), and each field of the types with thread statics found from the seeds. */
ds_status ds__thread_static_roots(ds_analysis *a, const ds_thread_info *threads, size_t thread_count,
                                  const uint64_t *seeds, size_t seed_count,
                                  ds_status (*add)(void *ctx, const ds_root *root), void *ctx, ds_error *err);

/* A type's static bases, whichever way the runtime keeps them (ISOSDacInterface14 on .NET 9+,
 * statics8.c before): a primitive static at *non_gc + offset, any other at *gc + offset; both 0
 * when the type is not initialized or its statics are not found. */
void ds__static_bases(ds_analysis *a, uint64_t mt, uint64_t *non_gc, uint64_t *gc);

/* ---- statics before .NET 9 (statics8.c) ----------------------------------------------------- */

/* Calls fn with each type with dynamic statics (generic instantiations) whose loader module is
 * module. */
void ds__statics8_module_types(ds_analysis *a, uint64_t module, void (*fn)(void *ctx, uint64_t mt), void *ctx);
/* A type's static bases from its module's DomainLocalModule (both 0 when not found). */
void ds__statics8_bases(ds_analysis *a, uint64_t mt, uint64_t *non_gc, uint64_t *gc);
/* The base of a type's GC thread statics on thread (a Thread*), 0 when the thread has none. */
uint64_t ds__statics8_thread_gc_base(ds_analysis *a, uint64_t mt, uint64_t thread);

/* Phase "frame variables" (framevars.c): IL offsets, arguments and locals of the frames the root
 * collection walked; writes the frame info and frame variables sections. */
ds_status ds__build_frame_vars(ds__build *b, ds_error *err);

/* The assembly symbols (its metadata and, when next to it, its portable PDB) of the method with
 * MethodDesc md, and its MethodDef token; NULL when the DAC names no file or it cannot be read.
 * Opened once per assembly for the whole build (symcache.c). */
struct ds_symbols *ds__symbols_of_method(ds__build *b, uint64_t md, uint32_t *token);
void ds__symcache_free(ds__build *b);

/* Phase "code map" (codemap.c), run by the memory map on its sorted ranges: the IL-to-native map
 * of every JIT-compiled method recorded, with source lines from the PDB; writes its section. */
ds_status ds__build_code_map(ds__build *b, const ds_index_memory_range *ranges, size_t count, ds_error *err);
/* The methods the recorded JIT-compiled code calls (its call instructions' targets, followed
 * through the runtime's stubs): *extra gets the code ranges of those compiled but not recorded
 * (malloc'd, unsorted); the callees section gets the MethodDescs of the others. */
ds_status ds__build_callees(ds__build *b, const ds_index_memory_range *ranges, size_t count,
                            ds_index_memory_range **extra, size_t *extra_count, ds_error *err);

/* Phase "memory map" (memmap.c): code heaps, loader heaps, the handle table and the code of the
 * methods on the stacks; writes its section. Needs the roots (their frames). */
ds_status ds__build_memory_map(ds__build *b, ds_error *err);

/* Phase 9 (retained.c): the dominator tree of the live objects, each object's retained size and
 * each type's. ds__start_dominators (once the roots are indexed) starts the search on a thread
 * of its own, which reads only the reference arrays, the roots, sizes and types, and writes only
 * b->dom (under a memory budget it runs in ds__build_dominators instead); ds__build_dominators
 * waits for it and writes the sections. ds__dom_search_free waits without writing and frees the
 * search's state (the build's end, on any path). */
ds_status ds__start_dominators(ds__build *b, ds_error *err);
/* Without a memory budget the reverse phase starts the search itself, once the in-degrees are
 * counted (degree_off as dominators.h says), and returns when the search has read them; the
 * search numbers the vertices meanwhile and waits for ds__dominators_incoming_ready, which the
 * phase calls once the incoming references are filled in. ds__start_dominators is then a no-op. */
ds_status ds__start_dominators_early(ds__build *b, const uint32_t *degree_off, ds_error *err);
/* Whether the dominator search runs beside the reverse phase, numbering the vertices. */
bool ds__dominators_numbering(const ds__build *b);
void ds__dominators_incoming_ready(ds__build *b);
/* Liveness from the search on its thread: waits until it has marked every object it reaches in
 * b->live, and says true; false when it runs in a phase of its own or failed before that (b->live
 * is then zeroed, or NULL). */
bool ds__live_from_dominators(ds__build *b);
ds_status ds__build_dominators(ds__build *b, ds_error *err);
/* Waits for the whole search (per-type sizes included; after ds__build_dominators, which returns
 * once the sizes by object are final) and records its time and memory; again, it does nothing. */
ds_status ds__join_dominators(ds__build *b, ds_error *err);
void ds__dom_search_free(ds__build *b);

/* ---- findings (findings.c) ------------------------------------------------------------------- */

/* The text of a finding. Constant strings are interned; title and description may be built. */
typedef struct ds__finding_text {
  const char *severity;      /* DS_SEVERITY_* */
  const char *code;          /* stable name: "deadlock", "undisposed-objects", ... */
  const char *title;         /* one line */
  const char *description;   /* with the numbers */
  const char *recommendation;
  int setting;               /* the ds_setting_id it compared against, -1 none */
} ds__finding_text;

/* Details that name nothing (the evidence list names what a heap finding is about). */
ds_index_finding ds__no_details(void);
/* Appends a finding whose evidence is what was pushed since evidence_mark (b->evidence.count then). */
ds_status ds__add_finding(ds__build *b, const ds__finding_text *text, ds_index_finding details, size_t evidence_mark,
                          ds_error *err);
/* Appends one evidence record (label: a string pool offset, 0 none). */
ds_status ds__push_evidence(ds__build *b, ds_evidence_kind kind, uint32_t ref, uint32_t label, uint64_t count,
                            uint64_t bytes, ds_error *err);
/* The value of a setting this build uses. */
double ds__setting(const ds__build *b, ds_setting_id id);
/* Whether a type name is the application's (not System.*, Microsoft.*, the runtime's own). */
bool ds__is_app_type(const char *name);
/* "1,234,567" into out. */
const char *ds__grouped(uint64_t v, char *out, size_t out_len);
/* "1.5 MB"-style size into out. */
const char *ds__human_bytes(uint64_t bytes, char *out, size_t out_len);

/* Phase 10 (findings.c): the heap findings and the report's facts, while the dominator search
 * may still run (none of them reads it); then, once it is done, ds__build_suspects adds the leak
 * suspects and writes the findings, evidence, settings, report and suspects sections. The checks
 * live in findings_heap.c, findings_strings.c and suspects.c. */
ds_status ds__build_findings(ds__build *b, ds_error *err);
ds_status ds__build_suspects(ds__build *b, ds_error *err);
ds_status ds__check_finalization(ds__build *b, ds_error *err);
ds_status ds__check_http_clients(ds__build *b, ds_error *err);
ds_status ds__check_app_share(ds__build *b, ds_error *err);
ds_status ds__check_fragmentation(ds__build *b, ds_error *err);
ds_status ds__check_pinned_handles(ds__build *b, ds_error *err);
ds_status ds__check_exceptions(ds__build *b, ds_error *err);
ds_status ds__check_strings(ds__build *b, ds_error *err);
/* Starts the scan of every string on a second thread (the phase before the dominator search);
 * ds__check_strings joins it (and scans itself when no thread started). */
ds_status ds__start_strings(ds__build *b, ds_error *err);
void ds__join_strings(ds__build *b);
void ds__string_scan_free(ds__build *b);
/* Leak suspects from the dominator tree (suspects.c): their records in b->suspects, a finding each. */
ds_status ds__check_leak_suspects(ds__build *b, ds_error *err);

void ds__build_free(ds__build *b);

#endif
