/*
 * heap.c: the heap description (segments, allocation contexts, MethodTable cache) and the object
 * walk over the mapped dump. No DAC here: unseen MethodTables go through the heap's resolver,
 * once each.
 */
#include "dumpscope/heap.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELEASE_CHUNK (32u << 20)
#define POPULATE_CHUNK (1u << 20) /* mapped ahead of the walk in one call (ds_dump_populate) */
/* What the walk reads of every object: its MethodTable word and its component count (used
 * only for arrays and strings; for other objects it is multiplied by a component size of 0). */
#define OBJECT_PREFIX_BYTES 16
/* The walk asks for the cache line this far ahead of the object it reads: objects average well
 * under 100 bytes, so it is some 20 objects ahead, across page boundaries the hardware prefetcher
 * stops at (measured on big: 256 to 2048 all help, 2048 a little more). */
#define PREFETCH_AHEAD 2048

struct ds_heap {
  ds_dump *dump;
  ds_type_resolver resolver;
  void *resolver_ctx;
  const ds_layout *layout;
  ds_gc_info info;

  ds_segment *segments;
  size_t segment_count, segment_cap;

  ds_alloc_context *contexts;
  size_t context_count, context_cap;

  ds_type *types;
  size_t type_count, type_cap;
  /* open addressing: mt -> type index + 1 (0 = empty) */
  void *owned;
  bool types_complete;       /* a full walk has resolved every MethodTable on the heap */
  ds_walk_stats damage;      /* damage in the description (segment lists), reported by every walk */
  uint64_t *slot_mt;
  uint32_t *slot_index;
  size_t slot_cap;
};

const char *ds_gen_name(ds_gen gen) {
  static const char *const names[] = {"gen0", "gen1", "gen2", "loh", "poh", "frozen"};
  return (unsigned)gen < DS_GEN_COUNT ? names[gen] : "unknown";
}

int ds_gen_parse(const char *text) {
  static const struct { const char *name; int gen; } names[] = {
      {"0", 0}, {"gen0", 0}, {"1", 1}, {"gen1", 1}, {"2", 2}, {"gen2", 2}, {"3", 3}, {"loh", 3},
      {"large", 3}, {"4", 4}, {"poh", 4}, {"pinned", 4}, {"5", 5}, {"frozen", 5}, {"nongc", 5},
  };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcasecmp(text, names[i].name) == 0)
      return names[i].gen;
  return -1;
}

ds_status ds_heap_create(ds_dump *dump, ds_type_resolver resolver, void *resolver_ctx, ds_heap **out,
                         ds_error *err) {
  ds_heap *heap = calloc(1, sizeof *heap);
  if (!heap)
    return ds_error_set(err, DS_E_NOMEM, "out of memory creating the heap model");
  heap->dump = dump;
  heap->resolver = resolver;
  heap->resolver_ctx = resolver_ctx;
  heap->layout = ds_layout_default();
  heap->slot_cap = 1024;
  heap->slot_mt = calloc(heap->slot_cap, sizeof *heap->slot_mt);
  heap->slot_index = calloc(heap->slot_cap, sizeof *heap->slot_index);
  if (!heap->slot_mt || !heap->slot_index) {
    ds_heap_destroy(heap);
    return ds_error_set(err, DS_E_NOMEM, "out of memory creating the heap model");
  }
  *out = heap;
  return DS_OK;
}

void ds_heap_destroy(ds_heap *heap) {
  if (!heap)
    return;
  for (size_t i = 0; i < heap->type_count; i++)
    free(heap->types[i].name);
  free(heap->types);
  free(heap->slot_mt);
  free(heap->slot_index);
  free(heap->segments);
  free(heap->contexts);
  free(heap->owned);
  ds_walk_stats_free(&heap->damage);
  free(heap);
}

void ds_heap_set_owned_context(ds_heap *heap, void *owned) { heap->owned = owned; }

const ds_layout *ds_heap_layout(const ds_heap *heap) { return heap->layout; }
void ds_heap_set_layout(ds_heap *heap, const ds_layout *layout) {
  assert(layout && layout->array_length + 4 <= OBJECT_PREFIX_BYTES);
  heap->layout = layout;
}

ds_gc_info *ds_heap_gc_info(ds_heap *heap) { return &heap->info; }
ds_dump *ds_heap_dump(ds_heap *heap) { return heap->dump; }

/* Grows an array to hold one more element; false on failure or when past max. */
static bool grow(void **items, size_t *cap, size_t count, size_t elem, size_t max) {
  if (count < *cap)
    return true;
  if (count >= max)
    return false;
  size_t next = *cap ? *cap * 2 : 64;
  if (next > max)
    next = max;
  void *p = realloc(*items, next * elem);
  if (!p)
    return false;
  *items = p;
  *cap = next;
  return true;
}

ds_status ds_heap_add_segment(ds_heap *heap, const ds_segment *segment, ds_error *err) {
  if (segment->end < segment->start)
    return ds_error_set(err, DS_E_CORRUPT, "segment 0x%llx has its end 0x%llx before its start 0x%llx",
                        (unsigned long long)segment->descriptor, (unsigned long long)segment->end,
                        (unsigned long long)segment->start);
  if (!grow((void **)&heap->segments, &heap->segment_cap, heap->segment_count, sizeof *segment,
            DS_MAX_SEGMENTS))
    return ds_error_set(err, DS_E_LIMIT, "more than %u heap segments", DS_MAX_SEGMENTS);
  heap->segments[heap->segment_count++] = *segment;
  return DS_OK;
}

ds_status ds_heap_add_alloc_context(ds_heap *heap, uint64_t ptr, uint64_t limit, ds_error *err) {
  if (ptr == 0 || limit <= ptr)
    return DS_OK;
  for (size_t i = 0; i < heap->context_count; i++)
    if (heap->contexts[i].ptr == ptr)
      return DS_OK;
  if (!grow((void **)&heap->contexts, &heap->context_cap, heap->context_count, sizeof(ds_alloc_context),
            DS_MAX_ALLOC_CONTEXTS))
    return ds_error_set(err, DS_E_LIMIT, "more than %u allocation contexts", DS_MAX_ALLOC_CONTEXTS);
  heap->contexts[heap->context_count++] = (ds_alloc_context){ptr, limit};
  return DS_OK;
}

static int compare_segments(const void *a, const void *b) {
  const ds_segment *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static int compare_contexts(const void *a, const void *b) {
  const ds_alloc_context *x = a, *y = b;
  return x->ptr < y->ptr ? -1 : x->ptr > y->ptr;
}

ds_status ds_heap_seal(ds_heap *heap, ds_error *err) {
  /* (none may be there: a dump taken during a GC has no allocation contexts, the GC reset them) */
  if (heap->segment_count)
    qsort(heap->segments, heap->segment_count, sizeof *heap->segments, compare_segments);
  if (heap->context_count)
    qsort(heap->contexts, heap->context_count, sizeof *heap->contexts, compare_contexts);
  for (size_t i = 1; i < heap->segment_count; i++)
    if (heap->segments[i].start < heap->segments[i - 1].end)
      return ds_error_set(err, DS_E_CORRUPT, "heap segments overlap at 0x%llx",
                          (unsigned long long)heap->segments[i].start);
  return DS_OK;
}

size_t ds_heap_segment_count(const ds_heap *heap) { return heap->segment_count; }

const ds_segment *ds_heap_segment(const ds_heap *heap, size_t index) {
  return index < heap->segment_count ? &heap->segments[index] : NULL;
}

const ds_segment *ds_heap_segment_at(const ds_heap *heap, uint64_t addr) {
  size_t lo = 0, hi = heap->segment_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const ds_segment *s = &heap->segments[mid];
    if (addr < s->start)
      hi = mid;
    else if (addr >= s->end)
      lo = mid + 1;
    else
      return s;
  }
  return NULL;
}

int ds_heap_generation_of(const ds_heap *heap, uint64_t addr) {
  const ds_segment *s = ds_heap_segment_at(heap, addr);
  return s ? s->gen : -1;
}

size_t ds_heap_type_count(const ds_heap *heap) { return heap->type_count; }

const ds_type *ds_heap_type(const ds_heap *heap, uint32_t index) {
  return index < heap->type_count ? &heap->types[index] : NULL;
}

static inline size_t mt_hash(uint64_t mt, size_t cap) {
  return (size_t)((mt >> 3) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

static bool rehash(ds_heap *heap) {
  size_t cap = heap->slot_cap * 2;
  uint64_t *mts = calloc(cap, sizeof *mts);
  uint32_t *idx = calloc(cap, sizeof *idx);
  if (!mts || !idx) {
    free(mts);
    free(idx);
    return false;
  }
  for (size_t i = 0; i < heap->slot_cap; i++) {
    if (!heap->slot_index[i])
      continue;
    size_t h = mt_hash(heap->slot_mt[i], cap);
    while (idx[h])
      h = (h + 1) & (cap - 1);
    mts[h] = heap->slot_mt[i];
    idx[h] = heap->slot_index[i];
  }
  free(heap->slot_mt);
  free(heap->slot_index);
  heap->slot_mt = mts;
  heap->slot_index = idx;
  heap->slot_cap = cap;
  return true;
}

/* Slow path of the lookup: resolve an unseen MT through the resolver and cache the answer, valid
 * or not, so a corrupt MT costs one resolver call. */
static uint32_t resolve_type(ds_heap *heap, uint64_t mt, ds_error *err) {
  if ((heap->type_count + 1) * 2 > heap->slot_cap && !rehash(heap)) {
    ds_error_set(err, DS_E_NOMEM, "out of memory growing the type table");
    return UINT32_MAX;
  }
  if (!grow((void **)&heap->types, &heap->type_cap, heap->type_count, sizeof(ds_type), DS_MAX_TYPES)) {
    ds_error_set(err, DS_E_LIMIT, "more than %u distinct MethodTables", DS_MAX_TYPES);
    return UINT32_MAX;
  }
  ds_type type = {.mt = mt};
  ds_error why = {0};
  if (mt == 0 || (mt & 7) || !heap->resolver ||
      heap->resolver(heap->resolver_ctx, mt, &type, &why) != DS_OK) {
    memset(&type, 0, sizeof type);
    type.mt = mt;
    type.flags = DS_TYPE_INVALID;
    if (err)
      *err = why;
  }
  uint32_t index = (uint32_t)heap->type_count++;
  heap->types[index] = type;
  size_t h = mt_hash(mt, heap->slot_cap);
  while (heap->slot_index[h])
    h = (h + 1) & (heap->slot_cap - 1);
  heap->slot_mt[h] = mt;
  heap->slot_index[h] = index + 1;
  return index;
}

/* The index of an MT already in the table (valid or not), else UINT32_MAX: no resolver call. */
static inline uint32_t cached_lookup(const ds_heap *heap, uint64_t mt) {
  size_t h = mt_hash(mt, heap->slot_cap);
  for (;;) {
    uint32_t idx = heap->slot_index[h];
    if (!idx)
      return UINT32_MAX;
    if (heap->slot_mt[h] == mt)
      return idx - 1;
    h = (h + 1) & (heap->slot_cap - 1);
  }
}

/* Cached lookup; resolves on a miss. Invalid MTs get an index with DS_TYPE_INVALID. */
static inline uint32_t lookup_type(ds_heap *heap, uint64_t mt, ds_error *err) {
  size_t h = mt_hash(mt, heap->slot_cap);
  for (;;) {
    uint32_t idx = heap->slot_index[h];
    if (!idx)
      return resolve_type(heap, mt, err);
    if (heap->slot_mt[h] == mt)
      return idx - 1;
    h = (h + 1) & (heap->slot_cap - 1);
  }
}

uint32_t ds_heap_type_index(ds_heap *heap, uint64_t mt, ds_error *err) {
  uint32_t idx = lookup_type(heap, mt, err);
  if (idx != UINT32_MAX && (heap->types[idx].flags & DS_TYPE_INVALID)) {
    if (err && err->code == DS_OK)
      ds_error_set(err, DS_E_CORRUPT, "0x%llx is not a valid MethodTable", (unsigned long long)mt);
    return UINT32_MAX;
  }
  return idx;
}

/* Object size as SOS and ClrMD report it: BaseSize + count x ComponentSize (strings count their
 * NUL), at least the minimum object size. The walk steps by this aligned to 8. */
static inline uint64_t size_of(const ds_type *type, uint32_t count, uint32_t min_size) {
  uint64_t size = type->base_size;
  if (type->component_size) {
    uint64_t n = count;
    if (type->flags & DS_TYPE_STRING)
      n += 1;
    size += n * type->component_size;
  }
  return size < min_size ? min_size : size;
}


static inline void decode_prefix(const ds_layout *l, const uint8_t *prefix, uint64_t *mt, uint32_t *count) {
  uint64_t word;
  memcpy(&word, prefix, 8);
  memcpy(count, prefix + l->array_length, 4);
  *mt = ds_layout_mt(l, word);
}

uint64_t ds_heap_object_size(ds_heap *heap, uint64_t addr, uint32_t *type_index) {
  uint8_t prefix[OBJECT_PREFIX_BYTES];
  if (!ds_dump_read_exact(heap->dump, addr, prefix, sizeof prefix))
    return 0;
  uint64_t mt;
  uint32_t count;
  decode_prefix(heap->layout, prefix, &mt, &count);
  uint32_t idx = ds_heap_type_index(heap, mt, NULL);
  if (idx == UINT32_MAX)
    return 0;
  if (type_index)
    *type_index = idx;
  return size_of(&heap->types[idx], count, heap->layout->min_object_size);
}

static void record_error(ds_walk_stats *stats, uint64_t object, uint64_t last_good, uint64_t mt,
                         size_t segment, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#include <stdarg.h>

static void record_error(ds_walk_stats *stats, uint64_t object, uint64_t last_good, uint64_t mt,
                         size_t segment, const char *fmt, ...) {
  stats->error_count++;
  if (stats->error_count > DS_MAX_HEAP_ERRORS)
    return;
  ds_heap_error *grown = realloc(stats->errors, stats->error_count * sizeof *grown);
  if (!grown) {
    stats->error_count--;
    return;
  }
  stats->errors = grown;
  ds_heap_error *e = &stats->errors[stats->error_count - 1];
  e->object = object;
  e->last_good = last_good;
  e->mt = mt;
  e->segment = segment;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

void ds_heap_note_damage(ds_heap *heap, uint64_t descriptor, const char *fmt, ...) {
  char message[sizeof heap->damage.errors->message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  record_error(&heap->damage, descriptor, 0, 0, SIZE_MAX, "%s", message);
}

/* A type already in the table (no DAC call): UINT32_MAX when unknown or invalid. */
static uint32_t known_type(const ds_heap *heap, uint64_t mt) {
  uint32_t idx = mt ? cached_lookup(heap, mt) : UINT32_MAX;
  return idx != UINT32_MAX && !(heap->types[idx].flags & DS_TYPE_INVALID) ? idx : UINT32_MAX;
}

/* The size of a plausible object at addr (a known type whose size fits before end), else 0. */
static uint64_t plausible_object(ds_heap *heap, uint64_t addr, uint64_t end) {
  const ds_layout *layout = heap->layout;
  uint8_t prefix[OBJECT_PREFIX_BYTES];
  if (end - addr < layout->min_object_size || !ds_dump_read_exact(heap->dump, addr, prefix, sizeof prefix))
    return 0;
  uint64_t word;
  uint32_t count;
  memcpy(&word, prefix, 8);
  memcpy(&count, prefix + layout->array_length, 4);
  uint64_t mt = word & layout->mt_mask, probe;
  uint32_t idx = known_type(heap, mt);
  if (idx == UINT32_MAX && mt && ds_dump_read_u64(heap->dump, mt, &probe)) {
    /* a type not met yet: ask the resolver, but only for words that point at memory the dump holds
       (random bytes rarely do), so a damaged page costs a few lookups, not one per word */
    ds_error why = {0};
    idx = lookup_type(heap, mt, &why);
    if (idx != UINT32_MAX && (heap->types[idx].flags & DS_TYPE_INVALID))
      idx = UINT32_MAX;
  }
  if (idx == UINT32_MAX)
    return 0;
  uint64_t align_mask = (uint64_t)layout->object_alignment - 1;
  uint64_t step = (size_of(&heap->types[idx], count, layout->min_object_size) + align_mask) & ~align_mask;
  return step && step <= end - addr ? step : 0;
}

#define RESYNC_SCAN_MAX (4u << 20) /* bytes searched for the next object after damage */

/* After a damaged object, the next address in [from, end) where two objects of known types follow
 * each other (or one ends the range), as SOS's verifyheap resynchronises: one bad page then hides
 * only itself, not the rest of its segment. 0 when none is found within RESYNC_SCAN_MAX. */
static uint64_t resync(ds_heap *heap, uint64_t from, uint64_t end) {
  uint64_t align = heap->layout->object_alignment;
  from = (from + align - 1) & ~(align - 1);
  for (uint64_t a = from; a < end && a - from < RESYNC_SCAN_MAX; a += align) {
    uint64_t step = plausible_object(heap, a, end);
    if (!step)
      continue;
    if (a + step == end || plausible_object(heap, a + step, end))
      return a;
  }
  return 0;
}

/* Resynchronises after a damaged object at addr: the address to go on from (recording what was
 * skipped), or 0 to give up on the rest of the range. */
static uint64_t skip_damage(ds_heap *heap, ds_walk_stats *stats, uint64_t addr, uint64_t end, size_t seg_index) {
  (void)seg_index;
  uint64_t next = resync(heap, addr + heap->layout->object_alignment, end);
  if (next && stats->error_count && stats->error_count <= DS_MAX_HEAP_ERRORS) {
    /* the error just recorded says how the walk went on */
    ds_heap_error *e = &stats->errors[stats->error_count - 1];
    size_t used = strnlen(e->message, sizeof e->message);
    snprintf(e->message + used, sizeof e->message - used, "; skipped %llu bytes to the next plausible object %llx",
             (unsigned long long)(next - addr), (unsigned long long)next);
  }
  return next;
}

/* Walks one range. The fast path reads headers straight from the mapping; when the range is not
 * one contiguous piece of the core, headers are copied out. */
/* The first allocation context at or after addr. */
static size_t first_context(const ds_heap *heap, uint64_t addr) {
  size_t lo = 0, hi = heap->context_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (heap->contexts[mid].ptr < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The walk's slow path for an MT not known valid: resolved (a resolver call) and cached; on an
 * invalid MT the error is recorded and UINT32_MAX returned. Kept out of the hot loop. */
static __attribute__((noinline)) uint32_t walk_new_type(ds_heap *heap, ds_walk_stats *stats, uint64_t mt,
                                                        uint64_t addr, uint64_t last_good, size_t seg_index) {
  uint32_t idx = cached_lookup(heap, mt);
  ds_error why = {0};
  if (idx == UINT32_MAX && (idx = resolve_type(heap, mt, &why)) == UINT32_MAX) {
    record_error(stats, addr, last_good, mt, seg_index, "%s", why.message);
    return UINT32_MAX;
  }
  if (heap->types[idx].flags & DS_TYPE_INVALID) {
    record_error(stats, addr, last_good, mt, seg_index,
                 "object %llx does not have a valid MT (%llx); last good object %llx", (unsigned long long)addr,
                 (unsigned long long)mt, (unsigned long long)last_good);
    return UINT32_MAX;
  }
  return idx;
}

/* Past the allocation context(s) at or before addr (*ci the next one): an unfilled context's
 * room is no object; the GC leaves a minimal object's room after its limit. */
static uint64_t past_context(const ds_heap *heap, size_t *ci, uint64_t addr, uint32_t min_size) {
  if (addr == heap->contexts[*ci].ptr)
    return heap->contexts[(*ci)++].limit + min_size;
  while (*ci < heap->context_count && heap->contexts[*ci].ptr < addr)
    (*ci)++;
  return addr;
}

/* An object whose size runs past its segment: recorded, and the walk resyncs after it (0: the
 * rest of the segment is lost). */
static __attribute__((noinline)) uint64_t walk_bad_size(ds_heap *heap, ds_walk_stats *stats, uint64_t addr,
                                                        uint64_t last_good, uint64_t mt, uint64_t size, uint64_t end,
                                                        size_t seg_index) {
  record_error(stats, addr, last_good, mt, seg_index,
               "object %llx (MT %llx) has size %llu, which extends past the end of its segment "
               "(0x%llx); last good object %llx",
               (unsigned long long)addr, (unsigned long long)mt, (unsigned long long)size, (unsigned long long)end,
               (unsigned long long)last_good);
  return skip_damage(heap, stats, addr, end, seg_index);
}

/* Maps the next stretch of the dump in one call once the walk reaches *populated, and hands
 * back what is behind it. */
static inline void map_ahead(ds_dump *dump, uint64_t addr, uint64_t end, uint64_t *populated, uint64_t *released) {
  if (addr >= *populated) {
    uint64_t upto = end - addr < POPULATE_CHUNK ? end : addr + POPULATE_CHUNK;
    ds_dump_populate(dump, *populated, upto - *populated);
    *populated = upto;
  }
  if (addr - *released >= RELEASE_CHUNK) {
    ds_dump_release(dump, *released, addr - *released - 4096);
    *released = addr - 4096;
  }
}

static bool walk_range(ds_heap *heap, size_t seg_index, ds_object_fn fn, void *ctx,
                       ds_walk_stats *stats) {
  const ds_segment *seg = &heap->segments[seg_index];
  uint64_t addr = seg->start, end = seg->end, last_good = 0;
  uint64_t avail = 0;
  const uint8_t *base = ds_dump_span(heap->dump, addr, &avail);
  bool direct = base && avail >= end - addr;
  const uint64_t free_mt = heap->info.free_mt;
  /* the layout's values in locals: the callback may write memory, so the compiler could not
   * keep them in registers through the layout pointer */
  const ds_layout *layout = heap->layout;
  const uint32_t min_size = layout->min_object_size, count_at = layout->array_length;
  const uint64_t mt_mask = layout->mt_mask, align_mask = (uint64_t)layout->object_alignment - 1;

  size_t ci = first_context(heap, addr), cn = heap->context_count;
  uint64_t next_ctx = ci < cn ? heap->contexts[ci].ptr : UINT64_MAX;

  uint64_t released = addr; /* walked memory before this is handed back to the kernel */
  uint64_t populated = addr; /* mapped ahead up to here */
  uint64_t objects = 0, bytes = 0, free_objects = 0, free_bytes = 0;
  bool complete = true;
  uint64_t cached_mt = 0, cached_base = 0, cached_component = 0;
  uint32_t cached_idx = 0;
  bool cached_ok = false;

  while (addr < end) {
    if (addr >= next_ctx) {
      addr = past_context(heap, &ci, addr, min_size);
      next_ctx = ci < cn ? heap->contexts[ci].ptr : UINT64_MAX;
      continue;
    }
    if (end - addr < min_size) {
      record_error(stats, addr, last_good, 0, seg_index,
                   "object %llx: only %llu bytes remain before the end of its segment (0x%llx)",
                   (unsigned long long)addr, (unsigned long long)(end - addr), (unsigned long long)end);
      goto out;
    }
    uint64_t word;
    uint32_t count;
    uint8_t prefix[OBJECT_PREFIX_BYTES];
    const uint8_t *at = prefix;
    if (direct) {
      at = base + (addr - seg->start);
      __builtin_prefetch(at + PREFETCH_AHEAD);
    } else if (!ds_dump_read_exact(heap->dump, addr, prefix, sizeof prefix)) {
      record_error(stats, addr, last_good, 0, seg_index,
                   "object %llx is not in the dump (memory missing); last good object %llx",
                   (unsigned long long)addr, (unsigned long long)last_good);
      goto out;
    }
    memcpy(&word, at, 8);
    memcpy(&count, at + count_at, 4);
    uint64_t mt = word & mt_mask;
    if (mt != cached_mt || !cached_ok) {
      /* the common case: a type already in the table, found without touching an error buffer
       * (clearing one per type change was a third of the walk) */
      cached_idx = cached_lookup(heap, mt);
      if (cached_idx == UINT32_MAX || (heap->types[cached_idx].flags & DS_TYPE_INVALID))
        cached_idx = walk_new_type(heap, stats, mt, addr, last_good, seg_index);
      if (cached_idx == UINT32_MAX) {
        cached_ok = false;
        if (!(addr = skip_damage(heap, stats, addr, end, seg_index)))
          goto out;
        continue;
      }
      const ds_type *type = &heap->types[cached_idx];
      /* size_of's terms, kept in locals (the table may move under the callback): a string counts
       * its NUL, so it adds one component to the base */
      cached_mt = mt;
      cached_ok = true;
      cached_component = type->component_size;
      cached_base = (uint64_t)type->base_size + ((type->flags & DS_TYPE_STRING) ? cached_component : 0);
    }
    uint64_t size = cached_base + (uint64_t)count * cached_component;
    if (size < min_size)
      size = min_size;
    uint64_t step = (size + align_mask) & ~align_mask;
    if (step > end - addr || size > DS_MAX_OBJECT_SIZE) {
      cached_ok = false; /* the resync may resolve types */
      if (!(addr = walk_bad_size(heap, stats, addr, last_good, mt, size, end, seg_index)))
        goto out;
      continue;
    }
    objects++;
    bytes += size;
    if (mt == free_mt) {
      free_objects++;
      free_bytes += step;
    }
    if (fn) {
      ds_heap_object obj = {addr, size, cached_idx, seg->gen};
      if (!fn(ctx, &obj)) {
        complete = false;
        goto out;
      }
    }
    last_good = addr;
    addr += step;
    if (direct)
      map_ahead(heap->dump, addr, end, &populated, &released);
  }
  if (direct)
    ds_dump_release(heap->dump, released, end - released);
out:
  /* counted in locals: through stats they were stored back on every object around the callback */
  stats->objects += objects;
  stats->bytes += bytes;
  stats->free_objects += free_objects;
  stats->free_bytes += free_bytes;
  return complete;
}

ds_status ds_heap_walk(ds_heap *heap, int gen, ds_object_fn fn, void *ctx, ds_walk_stats *stats,
                       ds_error *err) {
  memset(stats, 0, sizeof *stats);
  if (!heap->info.structures_valid)
    return ds_error_set(err, DS_E_MID_GC, "%s", DS_MID_GC_MESSAGE);
  for (size_t i = 0; i < heap->damage.error_count && i < DS_MAX_HEAP_ERRORS; i++) {
    const ds_heap_error *d = &heap->damage.errors[i];
    record_error(stats, d->object, 0, 0, SIZE_MAX, "%s", d->message);
  }
  bool complete = gen < 0;
  for (size_t i = 0; i < heap->segment_count; i++) {
    if (gen >= 0 && heap->segments[i].gen != gen)
      continue;
    if (!walk_range(heap, i, fn, ctx, stats)) {
      complete = false;
      break;
    }
  }
  if (ds_dump_changed(heap->dump))
    return ds_error_set(err, DS_E_TRUNCATED, "the dump %s changed or was truncated while being read",
                        ds_dump_path(heap->dump));
  if (complete)
    heap->types_complete = true;
  return DS_OK;
}

bool ds_heap_types_complete(const ds_heap *heap) { return heap->types_complete; }

void ds_walk_stats_free(ds_walk_stats *stats) {
  free(stats->errors);
  stats->errors = NULL;
}

typedef struct histogram_ctx {
  uint64_t *counts, *sizes;
  size_t cap;
  ds_heap *heap;
  bool failed;
} histogram_ctx;

static bool histogram_add(void *p, const ds_heap_object *obj) {
  histogram_ctx *h = p;
  if (obj->type >= h->cap) {
    size_t cap = h->cap ? h->cap : 256;
    while (cap <= obj->type)
      cap *= 2;
    uint64_t *c = realloc(h->counts, cap * sizeof *c), *s = c ? realloc(h->sizes, cap * sizeof *s) : NULL;
    if (c)
      h->counts = c;
    if (!c || !s) {
      h->failed = true;
      return false;
    }
    h->sizes = s;
    memset(h->counts + h->cap, 0, (cap - h->cap) * sizeof *c);
    memset(h->sizes + h->cap, 0, (cap - h->cap) * sizeof *s);
    h->cap = cap;
  }
  h->counts[obj->type]++;
  h->sizes[obj->type] += obj->size;
  return true;
}

static int compare_rows(const void *a, const void *b) {
  const ds_histogram_row *x = a, *y = b;
  if (x->total_size != y->total_size)
    return x->total_size > y->total_size ? -1 : 1;
  return x->type < y->type ? -1 : x->type > y->type;
}

ds_status ds_heap_histogram(ds_heap *heap, int gen, ds_histogram *out, ds_error *err) {
  memset(out, 0, sizeof *out);
  histogram_ctx h = {.heap = heap};
  ds_status rc = ds_heap_walk(heap, gen, histogram_add, &h, &out->stats, err);
  if (rc == DS_OK && h.failed)
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory building the histogram");
  if (rc == DS_OK) {
    size_t rows = 0;
    for (size_t i = 0; i < h.cap; i++)
      rows += h.counts[i] != 0;
    out->rows = calloc(rows ? rows : 1, sizeof *out->rows);
    if (!out->rows) {
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory building the histogram");
    } else {
      for (size_t i = 0; i < h.cap; i++)
        if (h.counts[i])
          out->rows[out->row_count++] = (ds_histogram_row){(uint32_t)i, h.counts[i], h.sizes[i]};
      qsort(out->rows, out->row_count, sizeof *out->rows, compare_rows);
    }
  }
  free(h.counts);
  free(h.sizes);
  if (rc != DS_OK)
    ds_histogram_free(out);
  return rc;
}

void ds_histogram_free(ds_histogram *hist) {
  free(hist->rows);
  hist->rows = NULL;
  hist->row_count = 0;
  ds_walk_stats_free(&hist->stats);
}

int64_t ds_heap_read_string(ds_heap *heap, uint64_t addr, size_t max_chars, char *out, size_t out_len) {
  return ds_layout_read_string(heap->layout, heap->dump, addr, max_chars, out, out_len);
}
