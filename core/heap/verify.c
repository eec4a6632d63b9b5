/*
 * verify.c: heap verification beyond the walk (verify.h): reference fields and sync block
 * numbers. The first walk marks every valid object's start in a bitmap per range; the second
 * reads each object's reference slots from its type's GC descriptor and tests each target's bit,
 * and compares the object's header with the sync block table.
 */
#include "dumpscope/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

typedef struct verifier {
  ds_heap *heap;
  ds_dump *dump;
  const ds_layout *layout;
  uint64_t free_mt;
  size_t ranges;
  uint64_t *start, *end;     /* each walked range, ascending */
  uint64_t **bits;           /* one bit per 8 bytes: a valid, non-free object starts here */
  size_t hint;               /* the range of the last lookup */
  uint32_t *dir;             /* per 4 MiB granule from start[0]: the first range ending after it */
  uint64_t dir_base, dir_granules;
  ds_gc_desc *descs;         /* per type index, read on first use */
  uint8_t *desc_read;
  size_t type_count;
  uint64_t *sync_object;     /* sync block number -> its object (0: not in use) */
  size_t sync_max;           /* highest number in the table */
  /* references waiting for their check, tested in batches that prefetch their bitmap words
     (the targets are all over the heap: one cache miss each otherwise) */
  uint64_t batch_value[256], batch_object[256], batch_offset[256], batch_mt[256];
  const char *batch_type[256];
  const uint64_t *batch_word[256];
  uint8_t batch_bit[256];
  size_t batch_count;
  const uint8_t *win;        /* the last contiguous span of the dump an object was read from */
  uint64_t win_start, win_end;
  ds_verify_result *out;
  ds_status status;
} verifier;

static void record(verifier *v, uint32_t kind, uint64_t object, uint64_t mt, uint64_t offset, uint64_t value,
                   const char *fmt, ...) {
  ds_verify_result *r = v->out;
  r->error_count++;
  if (r->error_count > DS_MAX_HEAP_ERRORS)
    return;
  if (!r->errors) {
    r->errors = calloc(DS_MAX_HEAP_ERRORS, sizeof *r->errors);
    if (!r->errors) {
      v->status = DS_E_NOMEM;
      return;
    }
  }
  ds_verify_error *e = &r->errors[r->error_count - 1];
  e->kind = kind;
  e->object = object;
  e->mt = mt;
  e->offset = offset;
  e->value = value;
  const ds_segment *seg = ds_heap_segment_at(v->heap, object);
  e->segment = seg ? (size_t)(seg - ds_heap_segment(v->heap, 0)) : SIZE_MAX;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

#define DIR_SHIFT 22           /* 4 MiB granules: a region or more */
#define DIR_MAX (1u << 20)     /* granules; a heap spread wider uses the binary search */

/* The range holding addr, or SIZE_MAX. */
static inline size_t range_of(verifier *v, uint64_t addr) {
  if (v->hint < v->ranges && addr >= v->start[v->hint] && addr < v->end[v->hint])
    return v->hint;
  if (v->dir) {
    uint64_t g = (addr >> DIR_SHIFT) - v->dir_base;
    if (addr < v->start[0] || g >= v->dir_granules)
      return SIZE_MAX;
    for (size_t r = v->dir[g]; r < v->ranges && v->start[r] <= addr; r++)
      if (addr < v->end[r])
        return v->hint = r;
    return SIZE_MAX;
  }
  size_t lo = 0, hi = v->ranges;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addr < v->start[mid])
      hi = mid;
    else if (addr >= v->end[mid])
      lo = mid + 1;
    else
      return v->hint = mid;
  }
  return SIZE_MAX;
}

static bool mark_start(void *ctx, const ds_heap_object *o) {
  verifier *v = ctx;
  if (ds_heap_type(v->heap, o->type)->flags & DS_TYPE_FREE)
    return true;
  size_t r = range_of(v, o->address);
  if (r != SIZE_MAX) {
    uint64_t bit = (o->address - v->start[r]) >> 3;
    v->bits[r][bit >> 6] |= 1ull << (bit & 63);
  }
  return true;
}

static inline bool is_object_start(verifier *v, uint64_t addr) {
  if (addr & 7)
    return false;
  size_t r = range_of(v, addr);
  if (r == SIZE_MAX)
    return false;
  uint64_t bit = (addr - v->start[r]) >> 3;
  return (v->bits[r][bit >> 6] >> (bit & 63)) & 1;
}

/* Says what a bad reference value points at, for the message. */
static const char *bad_target(verifier *v, uint64_t value) {
  if (value & 7)
    return "is not pointer aligned";
  if (range_of(v, value) == SIZE_MAX)
    return "is not in the GC heap";
  uint64_t mt;
  if (ds_layout_read_mt(v->layout, v->dump, value, &mt) && mt == v->free_mt)
    return "points at a free object";
  return "points inside the GC heap but not at the start of an object";
}

/* Checks the batched references: first each target's bitmap word is found and prefetched, then
 * tested. Names are only formatted for the bad ones. */
static void flush_batch(verifier *v) {
  size_t n = v->batch_count;
  v->batch_count = 0;
  v->out->references += n;
  for (size_t i = 0; i < n; i++) {
    uint64_t a = v->batch_value[i];
    size_t r = (a & 7) ? SIZE_MAX : range_of(v, a);
    const uint64_t *word = NULL;
    if (r != SIZE_MAX) {
      uint64_t bit = (a - v->start[r]) >> 3;
      word = &v->bits[r][bit >> 6];
      v->batch_bit[i] = (uint8_t)(bit & 63);
      __builtin_prefetch(word);
    }
    v->batch_word[i] = word;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t a = v->batch_value[i];
    const uint64_t *word = v->batch_word[i];
    if (word && ((*word >> v->batch_bit[i]) & 1))
      continue;
    record(v, DS_VERIFY_REFERENCE, v->batch_object[i], v->batch_mt[i], v->batch_offset[i], a,
           "object %llx (%s): the reference at offset 0x%llx holds %llx, which %s",
           (unsigned long long)v->batch_object[i], v->batch_type[i] ? v->batch_type[i] : "?",
           (unsigned long long)v->batch_offset[i], (unsigned long long)a, bad_target(v, a));
  }
}

static const uint8_t *object_bytes(verifier *v, uint64_t addr, uint64_t size) {
  if (addr >= v->win_start && addr + size <= v->win_end)
    return v->win + (addr - v->win_start);
  uint64_t avail;
  const uint8_t *p = ds_dump_span(v->dump, addr, &avail);
  if (!p || avail < size)
    return NULL;
  v->win = p;
  v->win_start = addr;
  v->win_end = addr + avail;
  return p;
}

static const ds_gc_desc *desc_of(verifier *v, uint32_t type) {
  if (type >= v->type_count)
    return NULL;
  if (!v->desc_read[type]) {
    ds_gc_desc_read(v->layout, v->dump, ds_heap_type(v->heap, type)->mt, &v->descs[type]);
    v->desc_read[type] = 1;
  }
  return &v->descs[type];
}

static void check_references(verifier *v, const ds_heap_object *o, const ds_type *t) {
  const ds_gc_desc *d = desc_of(v, o->type);
  if (!d || d->series == 0)
    return;
  uint64_t size = ds_layout_aligned(v->layout, o->size);
  const uint8_t *mem = object_bytes(v, o->address, size);
  uint8_t *copy = NULL;
  if (!mem) {
    copy = malloc(size);
    if (!copy || ds_dump_read(v->dump, o->address, copy, size) != size) {
      free(copy);
      return; /* the walk read this object: only a hole in a full object is possible here */
    }
    mem = copy;
  }
  ds_gc_desc_cursor cursor;
  ds_gc_desc_start(&cursor, d, o->size);
  uint64_t start, count;
  while (ds_gc_desc_next(&cursor, &start, &count)) {
    for (uint64_t k = 0; k < count; k++) {
      uint64_t ptr;
      memcpy(&ptr, mem + start + 8 * k, 8);
      if (!ptr)
        continue;
      size_t b = v->batch_count++;
      v->batch_value[b] = ptr;
      v->batch_object[b] = o->address;
      v->batch_offset[b] = start + 8 * k;
      v->batch_mt[b] = t->mt;
      v->batch_type[b] = t->name;
      if (v->batch_count == sizeof v->batch_value / sizeof *v->batch_value)
        flush_batch(v);
    }
  }
  free(copy);
}

static void check_header(verifier *v, const ds_heap_object *o, const ds_type *t) {
  const ds_layout *l = v->layout;
  uint32_t header;
  if (!ds_layout_read_header(l, v->dump, o->address, &header))
    return;
  if (!(header & l->header_hash_or_sync) || (header & l->header_is_hashcode))
    return;
  uint32_t number = header & l->header_sync_index_mask;
  if (number == 0) {
    record(v, DS_VERIFY_SYNC_BLOCK, o->address, t->mt, 0, header,
           "object %llx (%s): header %08x has sync block number 0", (unsigned long long)o->address,
           t->name ? t->name : "?", header);
  } else if (number > v->sync_max || v->sync_object[number] != o->address) {
    uint64_t owner = number <= v->sync_max ? v->sync_object[number] : 0;
    if (owner)
      record(v, DS_VERIFY_SYNC_BLOCK, o->address, t->mt, 0, header,
             "object %llx (%s): header %08x names sync block %u, which belongs to object %llx",
             (unsigned long long)o->address, t->name ? t->name : "?", header, number, (unsigned long long)owner);
    else
      record(v, DS_VERIFY_SYNC_BLOCK, o->address, t->mt, 0, header,
             "object %llx (%s): header %08x names sync block %u, which is not in use", (unsigned long long)o->address,
             t->name ? t->name : "?", header, number);
  }
}

static bool check_object(void *ctx, const ds_heap_object *o) {
  verifier *v = ctx;
  const ds_type *t = ds_heap_type(v->heap, o->type);
  if (t->flags & DS_TYPE_FREE)
    return true;
  if (t->flags & DS_TYPE_POINTERS)
    check_references(v, o, t);
  if (v->sync_max)
    check_header(v, o, t);
  return v->status == DS_OK;
}

/* Every sync block's object must name it in its header (the object side was checked already:
 * here only objects whose header has no sync block number at all). */
static void check_sync_table(verifier *v, const ds_sync_block *sync_blocks, size_t count) {
  const ds_layout *l = v->layout;
  for (size_t i = 0; i < count; i++) {
    uint64_t obj = sync_blocks[i].object;
    v->out->sync_blocks++;
    if (!is_object_start(v, obj))
      continue;
    uint32_t header;
    if (!ds_layout_read_header(l, v->dump, obj, &header))
      continue;
    if ((header & l->header_hash_or_sync) && !(header & l->header_is_hashcode))
      continue;
    uint64_t mt = 0;
    ds_layout_read_mt(l, v->dump, obj, &mt);
    record(v, DS_VERIFY_SYNC_BLOCK, obj, mt, 0, header,
           "sync block %u belongs to object %llx, whose header %08x names no sync block", sync_blocks[i].index,
           (unsigned long long)obj, header);
  }
}

static ds_status setup(verifier *v, const ds_sync_block *sync_blocks, size_t count, ds_error *err) {
  v->ranges = ds_heap_segment_count(v->heap);
  v->start = calloc(v->ranges + 1, sizeof *v->start);
  v->end = calloc(v->ranges + 1, sizeof *v->end);
  v->bits = calloc(v->ranges + 1, sizeof *v->bits);
  if (!v->start || !v->end || !v->bits)
    goto nomem;
  for (size_t s = 0; s < v->ranges; s++) {
    const ds_segment *seg = ds_heap_segment(v->heap, s);
    v->start[s] = seg->start;
    v->end[s] = seg->end > seg->start ? seg->end : seg->start;
    v->bits[s] = calloc(((v->end[s] - v->start[s]) >> 9) + 1, sizeof **v->bits);
    if (!v->bits[s])
      goto nomem;
  }
  /* the granule directory, when the ranges span at most DIR_MAX granules */
  if (v->ranges) {
    uint64_t last_end = 0;
    for (size_t s = 0; s < v->ranges; s++)
      last_end = v->end[s] > last_end ? v->end[s] : last_end;
    v->dir_base = v->start[0] >> DIR_SHIFT;
    uint64_t granules = last_end > v->start[0] ? ((last_end - 1) >> DIR_SHIFT) - v->dir_base + 1 : 0;
    if (granules && granules <= DIR_MAX) {
      v->dir = malloc(granules * sizeof *v->dir);
      if (!v->dir)
        goto nomem;
      v->dir_granules = granules;
      size_t r = 0;
      for (uint64_t g = 0; g < granules; g++) {
        uint64_t granule_start = (v->dir_base + g) << DIR_SHIFT;
        while (r < v->ranges && v->end[r] <= granule_start)
          r++;
        v->dir[g] = (uint32_t)r;
      }
    }
  }
  for (size_t i = 0; i < count; i++)
    if (sync_blocks[i].index > v->sync_max && sync_blocks[i].index <= DS_MAX_SYNC_BLOCKS)
      v->sync_max = sync_blocks[i].index;
  if (v->sync_max) {
    v->sync_object = calloc(v->sync_max + 1, sizeof *v->sync_object);
    if (!v->sync_object)
      goto nomem;
    for (size_t i = 0; i < count; i++)
      if (sync_blocks[i].index <= v->sync_max)
        v->sync_object[sync_blocks[i].index] = sync_blocks[i].object;
  }
  return DS_OK;
nomem:
  return ds_error_set(err, DS_E_NOMEM, "out of memory for the verification bitmaps (%zu ranges)", v->ranges);
}

static void teardown(verifier *v) {
  for (size_t s = 0; v->bits && s < v->ranges; s++)
    free(v->bits[s]);
  for (size_t t = 0; v->descs && t < v->type_count; t++)
    if (v->desc_read[t])
      ds_gc_desc_free(&v->descs[t]);
  free(v->bits);
  free(v->dir);
  free(v->start);
  free(v->end);
  free(v->descs);
  free(v->desc_read);
  free(v->sync_object);
}

ds_status ds_heap_verify(ds_heap *heap, const ds_sync_block *sync_blocks, size_t count, ds_verify_result *out,
                         ds_error *err) {
  memset(out, 0, sizeof *out);
  verifier v = {.heap = heap, .dump = ds_heap_dump(heap), .layout = ds_heap_layout(heap), .out = out};
  v.free_mt = ds_heap_gc_info(heap)->free_mt;
  ds_status rc = setup(&v, sync_blocks, count, err);
  if (rc == DS_OK)
    rc = ds_heap_walk(heap, -1, mark_start, &v, &out->walk, err);
  if (rc == DS_OK) {
    /* the walk met every type: the table is complete */
    v.type_count = ds_heap_type_count(heap);
    v.descs = calloc(v.type_count + 1, sizeof *v.descs);
    v.desc_read = calloc(v.type_count + 1, 1);
    if (!v.descs || !v.desc_read)
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu GC descriptors", v.type_count);
  }
  if (rc == DS_OK) {
    ds_walk_stats again;
    rc = ds_heap_walk(heap, -1, check_object, &v, &again, err);
    if (rc == DS_OK)
      ds_walk_stats_free(&again);
    if (rc == DS_OK)
      flush_batch(&v);
  }
  if (rc == DS_OK && v.status == DS_OK)
    check_sync_table(&v, sync_blocks, count);
  if (rc == DS_OK && v.status != DS_OK)
    rc = ds_error_set(err, v.status, "out of memory recording verification errors");
  teardown(&v);
  if (rc != DS_OK)
    ds_verify_result_free(out);
  return rc;
}

void ds_verify_result_free(ds_verify_result *result) {
  ds_walk_stats_free(&result->walk);
  free(result->errors);
  memset(result, 0, sizeof *result);
}
