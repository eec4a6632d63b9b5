/*
 * heap.h: the managed heap of a dump: GC heaps, segments or regions, generations, types, and our
 * own object walk over the mapped dump.
 *
 * A ds_heap is described once (ds_heap_load, in heap_dac.c, the only part that talks to the DAC)
 * and then walked as often as needed straight from the dump's memory. The walk asks the heap's
 * type resolver only the first time it meets a MethodTable: there is no DAC call per object.
 * Objects are sized the way the GC sizes them (BaseSize + ComponentSize x count, strings count
 * their terminating NUL, aligned to 8, at least 24 bytes); free objects are free space;
 * allocation contexts are skipped. An object whose MethodTable is not valid ends the walk of its
 * segment with an error record naming the object, the last good object and the segment, and the
 * walk goes on with the next segment (SOS !verifyheap style).
 */
#ifndef DUMPSCOPE_HEAP_H
#define DUMPSCOPE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dump.h"
#include "dumpscope/error.h"
#include "dumpscope/layout.h"

typedef enum ds_gen {
  DS_GEN_0 = 0,
  DS_GEN_1 = 1,
  DS_GEN_2 = 2,
  DS_GEN_LOH = 3,
  DS_GEN_POH = 4,
  DS_GEN_FROZEN = 5,
  DS_GEN_COUNT = 6,
} ds_gen;

/* "gen0", "gen1", "gen2", "loh", "poh", "frozen" */
const char *ds_gen_name(ds_gen gen);
/* Parses "0", "1", "2", "gen2", "loh", "3", "poh", "4", "frozen", "nongc"; -1 when unknown. */
int ds_gen_parse(const char *text);

/* A walkable range of objects, all of one generation. The ephemeral segment of a segments GC is
 * split into its gen2, gen1 and gen0 parts, each its own range. */
typedef struct ds_segment {
  uint64_t start, end;        /* objects live in [start, end) */
  uint64_t committed, reserved;
  uint64_t descriptor;        /* the GC's heap_segment (region) address */
  uint32_t heap;              /* GC heap number */
  uint8_t gen;                /* ds_gen */
  bool ephemeral;             /* part of the ephemeral segment (segments GC) */
} ds_segment;

typedef struct ds_alloc_context {
  uint64_t ptr, limit;
} ds_alloc_context;

enum {
  DS_TYPE_FREE = 1u << 0,
  DS_TYPE_STRING = 1u << 1,
  DS_TYPE_ARRAY = 1u << 2,
  DS_TYPE_POINTERS = 1u << 3,   /* contains GC references */
  DS_TYPE_FINALIZABLE = 1u << 4,
  DS_TYPE_COLLECTIBLE = 1u << 5,
  DS_TYPE_INVALID = 1u << 7,    /* the MethodTable could not be read: objects using it are corrupt */
};

typedef struct ds_type {
  uint64_t mt;
  uint32_t base_size;         /* as the GC uses it (strings: the DAC's value, see heap.c) */
  uint32_t component_size;
  uint32_t flags;             /* DS_TYPE_* */
  char *name;                 /* as the DAC (and SOS) spell it */
  uint64_t module;
  uint64_t parent_mt;
  uint32_t token;
} ds_type;

/* Resolves an unseen MethodTable into *type (name may be left NULL); returns DS_OK or an error
 * that marks the MethodTable invalid. Set by the loader; the walk calls it once per MT. */
typedef ds_status (*ds_type_resolver)(void *ctx, uint64_t mt, ds_type *type, ds_error *err);

typedef struct ds_heap ds_heap;

/* Builds an empty heap description over dump. Loaders then add segments and contexts. */
ds_status ds_heap_create(ds_dump *dump, ds_type_resolver resolver, void *resolver_ctx, ds_heap **out,
                         ds_error *err);
void ds_heap_destroy(ds_heap *heap);

/* Hands the heap a block it frees when destroyed (the resolver's context). */
void ds_heap_set_owned_context(ds_heap *heap, void *owned);

/* The object layout the walk reads objects with: ds_layout_default() until set (ds_heap_load
 * sets the dump's runtime's). */
const ds_layout *ds_heap_layout(const ds_heap *heap);
void ds_heap_set_layout(ds_heap *heap, const ds_layout *layout);

/* Describes the dump's GC heap through the DAC: segments/regions of every heap, generations,
 * allocation contexts, and a resolver that asks the DAC about unseen MethodTables. Only in
 * analysis processes (this is the one heap function that needs the DAC). */
struct ds_dac;
ds_status ds_heap_load(struct ds_dac *dac, ds_dump *dump, ds_heap **out, ds_error *err);

ds_status ds_heap_add_segment(ds_heap *heap, const ds_segment *segment, ds_error *err);
ds_status ds_heap_add_alloc_context(ds_heap *heap, uint64_t ptr, uint64_t limit, ds_error *err);
/* Records damage found in the heap's description (a segment list that cannot be read): every
 * walk reports it first, as an error with segment SIZE_MAX and object = the descriptor. */
void ds_heap_note_damage(ds_heap *heap, uint64_t descriptor, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts segments and contexts; call once after adding them all. */
ds_status ds_heap_seal(ds_heap *heap, ds_error *err);

/* Facts about the GC the loader records. */
typedef struct ds_gc_info {
  bool server;
  bool regions;
  bool structures_valid;      /* false: the dump was taken during a GC */
  uint32_t heap_count;
  uint32_t max_generation;
  uint64_t free_mt, string_mt, object_mt, exception_mt, array_mt;
} ds_gc_info;

ds_gc_info *ds_heap_gc_info(ds_heap *heap);
ds_dump *ds_heap_dump(ds_heap *heap);

size_t ds_heap_segment_count(const ds_heap *heap);
const ds_segment *ds_heap_segment(const ds_heap *heap, size_t index);
/* The range containing addr, or NULL. */
const ds_segment *ds_heap_segment_at(const ds_heap *heap, uint64_t addr);

/* Type table: one entry per MethodTable met so far (by the walk or ds_heap_type_of). */
size_t ds_heap_type_count(const ds_heap *heap);
const ds_type *ds_heap_type(const ds_heap *heap, uint32_t index);
/* Looks up or resolves mt; returns its index, or UINT32_MAX with err filled when invalid. */
uint32_t ds_heap_type_index(ds_heap *heap, uint64_t mt, ds_error *err);

/* Size of the object at addr as SOS reports it (unaligned), 0 when the object is unreadable. */
uint64_t ds_heap_object_size(ds_heap *heap, uint64_t addr, uint32_t *type_index);

/* ---- the walk --------------------------------------------------------------------------- */

typedef struct ds_heap_object {
  uint64_t address;
  uint64_t size;              /* as SOS/ClrMD report it; the object occupies it aligned to 8 */
  uint32_t type;              /* index into the type table */
  uint8_t gen;                /* ds_gen */
} ds_heap_object;

/* Called for each object; return false to stop the walk. */
typedef bool (*ds_object_fn)(void *ctx, const ds_heap_object *object);

/* One heap-verification finding. */
typedef struct ds_heap_error {
  uint64_t object;            /* the bad object */
  uint64_t last_good;         /* the last good object before it in this segment, 0 if none */
  uint64_t mt;                /* the MethodTable pointer read at the object */
  size_t segment;             /* index of the range */
  char message[200];
} ds_heap_error;

typedef struct ds_walk_stats {
  uint64_t objects;
  uint64_t bytes;
  uint64_t free_objects;
  uint64_t free_bytes;
  size_t error_count;         /* all errors met */
  ds_heap_error *errors;      /* the first DS_MAX_HEAP_ERRORS of them (owned; free with
                                 ds_walk_stats_free) */
} ds_walk_stats;

/* Walks every segment (or only those of generation gen when gen >= 0). fn may be NULL to only
 * verify and count. Returns DS_OK even when heap errors were found: they are in stats. */
ds_status ds_heap_walk(ds_heap *heap, int gen, ds_object_fn fn, void *ctx, ds_walk_stats *stats,
                       ds_error *err);
void ds_walk_stats_free(ds_walk_stats *stats);
/* True once a full walk has run: the type table then holds every type with an object. */
bool ds_heap_types_complete(const ds_heap *heap);

/* Per-type histogram of the whole heap (or one generation). */
typedef struct ds_histogram_row {
  uint32_t type;
  uint64_t count;
  uint64_t total_size;
} ds_histogram_row;

typedef struct ds_histogram {
  ds_histogram_row *rows;     /* one per type with count > 0, sorted by total_size descending */
  size_t row_count;
  ds_walk_stats stats;
} ds_histogram;

ds_status ds_heap_histogram(ds_heap *heap, int gen, ds_histogram *out, ds_error *err);
void ds_histogram_free(ds_histogram *hist);

/* Generation of the object at addr (the range it lies in), or -1 when not in the heap. */
int ds_heap_generation_of(const ds_heap *heap, uint64_t addr);

/* Reads a string object's characters as UTF-8 (at most max_chars characters; out_len bytes).
 * Returns the string's full length in characters, or -1 if it cannot be read. */
int64_t ds_heap_read_string(ds_heap *heap, uint64_t addr, size_t max_chars, char *out, size_t out_len);

/* Spells a DAC type name the way ClrMD does ("List`1[[System.String, System.Private.CoreLib]]"
 * becomes "List<System.String>"). */
void ds_type_name_clrmd(const char *dac_name, char *out, size_t out_len);

#endif
