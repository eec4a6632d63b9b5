/*
 * verify.h: heap verification as SOS's !verifyheap does it, from our own walk: every object's
 * MethodTable and size (the walk), then every reference field of every object (from its type's GC
 * descriptor) must be null or the start of a valid, non-free object of the walked heap, and every
 * object header's sync block number must be the one the runtime's sync block table has for the
 * object (and every sync block's object must name it back).
 *
 * Object starts are kept in one bit per 8 bytes of each walked range, so checking a reference is
 * a range lookup and a bit test: the whole check is two walks and one pass over the references,
 * no DAC call. The sync block table comes from the caller (the DAC, in an analysis process).
 */
#ifndef DUMPSCOPE_VERIFY_H
#define DUMPSCOPE_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"
#include "dumpscope/heap.h"
#include "dumpscope/roots.h"

typedef enum ds_verify_kind {
  DS_VERIFY_REFERENCE = 1,   /* a reference field that is neither null nor a valid object's start */
  DS_VERIFY_SYNC_BLOCK = 2,  /* a header's sync block number disagrees with the sync block table */
} ds_verify_kind;

/* One finding beyond the walk's own (bad MethodTable or size: ds_walk_stats.errors). */
typedef struct ds_verify_error {
  uint32_t kind;             /* ds_verify_kind */
  uint64_t object;           /* the object holding the bad field or header */
  uint64_t mt;               /* its MethodTable */
  uint64_t offset;           /* reference: the field's offset from the object's address */
  uint64_t value;            /* reference: the bad value; sync block: the header word */
  size_t segment;            /* index of the object's range */
  char message[200];
} ds_verify_error;

typedef struct ds_verify_result {
  ds_walk_stats walk;        /* the walk's objects and errors */
  uint64_t references;       /* non-null reference fields checked */
  uint64_t sync_blocks;      /* sync block table entries checked */
  size_t error_count;        /* reference and sync block errors met */
  ds_verify_error *errors;   /* the first DS_MAX_HEAP_ERRORS of them (owned) */
} ds_verify_result;

/* Verifies the whole heap. sync_blocks (count entries, may be NULL) is the runtime's table of
 * sync blocks in use; with an empty table (none in use, or it could not be read) headers are
 * not compared with it. Returns DS_OK with the findings in *out (free with ds_verify_result_free)
 * even when the heap is damaged; an error only when verification itself could not run (memory). */
ds_status ds_heap_verify(ds_heap *heap, const ds_sync_block *sync_blocks, size_t count, ds_verify_result *out,
                         ds_error *err);
void ds_verify_result_free(ds_verify_result *result);

#endif
