/*
 * layout.h: how a CoreCLR runtime lays out managed objects in memory, chosen once from the
 * runtime's major version. Every raw read of an object (its header, MethodTable pointer, array
 * length and elements, string length and characters, instance fields, the MethodTable's flags
 * and the GC descriptor before it) goes through here, so a runtime that moves one of these
 * touches this file and nothing else.
 *
 * Only runtimes from DS_RUNTIME_MAJOR_MIN to DS_RUNTIME_MAJOR_MAX have a layout: an older or newer
 * runtime is refused (DS_E_UNSUPPORTED, with a message naming what is supported) instead of
 * being read with another version's assumptions. x86-64 only, like the rest of dumpscope.
 *
 * Facts (checked against dotnet/runtime's object.h, syncblk.h, methodtable.h and gcdesc.h):
 *   object:  [-4] header word, [0] MethodTable pointer (low bits: GC marks), [8] first field
 *   array:   [8] u32 length, [16] elements (single-dimension, zero-based)
 *   string:  [8] u32 length in UTF-16 units, [12] characters (NUL-terminated)
 *   header:  0x40000000 finalizer run or suppressed (GC.SuppressFinalize),
 *            0x08000000 hash code or sync block index (0x04000000 set: a hash code; clear: the
 *            sync block number in bits 0-25), 0x10000000 spin lock; otherwise a thin
 *            lock: owner managed thread id and recursion level. .NET 6-7: id bits 0-9,
 *            recursion bits 10-15; .NET 8+: id bits 0-15, recursion bits 16-21 (dotnet/runtime
 *            #88772).
 *   MethodTable: [0] u32 flags (0x00100000 has a finalizer, 0x00200000 collectible); the GC
 *            descriptor is stored just before it (see ds_gc_desc).
 */
#ifndef DUMPSCOPE_LAYOUT_H
#define DUMPSCOPE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dump.h"
#include "dumpscope/error.h"
#include "dumpscope/limits.h"

#define DS_RUNTIME_MAJOR_MIN 6
#define DS_RUNTIME_MAJOR_MAX 10

typedef struct ds_layout {
  int first_major, last_major;     /* the runtimes this layout describes */
  /* the object header: a 32-bit word just before the MethodTable pointer */
  uint32_t header_before;          /* bytes before the object's address */
  uint32_t header_hash_or_sync;    /* BIT_SBLK_IS_HASH_OR_SYNCBLKINDEX */
  uint32_t header_spin_lock;       /* BIT_SBLK_SPIN_LOCK */
  uint32_t header_finalizer_run;   /* BIT_SBLK_FINALIZER_RUN: GC.SuppressFinalize called (or finalized) */
  uint32_t header_is_hashcode;     /* BIT_SBLK_IS_HASHCODE: with hash_or_sync, a hash code, not an index */
  uint32_t header_sync_index_mask; /* MASK_SYNCBLOCKINDEX: the sync block number of the header */
  uint32_t thin_lock_id_mask;      /* SBLK_MASK_LOCK_THREADID */
  uint32_t thin_lock_recursion_shift; /* SBLK_RECLEVEL_SHIFT */
  uint32_t thin_lock_recursion_mask;  /* the level after the shift */
  /* the object */
  uint64_t mt_mask;                /* clears the GC's mark bits of the MethodTable word */
  uint32_t field_base;             /* instance field offsets (as the DAC gives them) start here */
  uint32_t array_length;           /* u32 element count of an array */
  uint32_t array_data;             /* first element of a single-dimension array */
  uint32_t string_length;          /* u32 length of a string in UTF-16 units */
  uint32_t string_chars;           /* first UTF-16 unit of a string */
  uint32_t min_object_size;        /* the GC's smallest object */
  uint32_t object_alignment;       /* objects start and step at this alignment */
  /* the MethodTable */
  uint32_t mt_flag_finalizer;      /* enum_flag_HasFinalizer of the first u32 */
  uint32_t mt_flag_collectible;    /* enum_flag_Collectible */
  uint32_t mt_num_interfaces;      /* u16 m_wNumInterfaces: entries of the interface map */
  uint32_t mt_interface_map;       /* m_pInterfaceMap: every interface, inherited ones too, one
                                      MethodTable pointer each (0: not known for this runtime) */
} ds_layout;

/* The layout of runtime major version `major` in *out; DS_E_UNSUPPORTED with a message naming
 * the supported versions when there is none (version: the full version text for the message,
 * may be NULL). The one place that decides which runtimes dumpscope reads. */
ds_status ds_layout_for_runtime(int major, const char *version, const ds_layout **out, ds_error *err);
/* The layout of a version text ("10.0.1226.42308"); NULL when unparseable or unsupported. */
const ds_layout *ds_layout_for_version(const char *version);
/* The newest supported layout: for heaps described without a runtime (tests, fuzzing). */
const ds_layout *ds_layout_default(void);

/* ---- reading objects (inline: the walk and the reference scan call them per object) --------- */

/* The MethodTable of an object whose first word is `word`. */
static inline uint64_t ds_layout_mt(const ds_layout *l, uint64_t word) { return word & l->mt_mask; }

/* Bytes an object of `size` occupies on the heap (its size rounded up to the alignment). */
static inline uint64_t ds_layout_aligned(const ds_layout *l, uint64_t size) {
  return (size + l->object_alignment - 1) & ~(uint64_t)(l->object_alignment - 1);
}

/* Reads the header word of the object at addr; false when not in the dump. */
static inline bool ds_layout_read_header(const ds_layout *l, ds_dump *dump, uint64_t addr, uint32_t *header) {
  return ds_dump_read_u32(dump, addr - l->header_before, header);
}

/* Decodes a header word as a thin lock: true with the owner's managed thread id and the
 * recursion level when a thread holds the object's lock there (not a hash code, sync block
 * index or spin lock, and an owner id other than 0). */
static inline bool ds_layout_thin_lock(const ds_layout *l, uint32_t header, uint32_t *owner_id,
                                       uint32_t *recursion) {
  if (header & (l->header_hash_or_sync | l->header_spin_lock))
    return false;
  uint32_t id = header & l->thin_lock_id_mask;
  if (!id)
    return false;
  *owner_id = id;
  *recursion = (header >> l->thin_lock_recursion_shift) & l->thin_lock_recursion_mask;
  return true;
}

/* Reads the MethodTable of the object at addr (mark bits cleared); false when not in the dump. */
static inline bool ds_layout_read_mt(const ds_layout *l, ds_dump *dump, uint64_t addr, uint64_t *mt) {
  uint64_t word;
  if (!ds_dump_read_u64(dump, addr, &word))
    return false;
  *mt = ds_layout_mt(l, word);
  return true;
}

/* The component count of an array or string object at addr (arrays and strings keep it at the
 * same place); false when not in the dump. */
static inline bool ds_layout_read_length(const ds_layout *l, ds_dump *dump, uint64_t addr, uint32_t *length) {
  return ds_dump_read_u32(dump, addr + l->array_length, length);
}

/* Address of element `index` (each `element_size` bytes) of the array at addr. */
static inline uint64_t ds_layout_element(const ds_layout *l, uint64_t addr, uint64_t index, uint64_t element_size) {
  return addr + l->array_data + index * element_size;
}

/* Address of the first UTF-16 unit of the string at addr. */
static inline uint64_t ds_layout_chars(const ds_layout *l, uint64_t addr) { return addr + l->string_chars; }

/* Offset from the object's address of an instance field whose DAC offset is dac_offset (static
 * fields' offsets are used as given). */
static inline uint32_t ds_layout_field_offset(const ds_layout *l, uint32_t dac_offset, bool is_static) {
  return dac_offset + (is_static ? 0 : l->field_base);
}

/* Reads the MethodTable flags word at mt: *finalizer and *collectible; false when not in the dump. */
bool ds_layout_read_mt_flags(const ds_layout *l, ds_dump *dump, uint64_t mt, bool *finalizer, bool *collectible);
/* Whether the type of MethodTable mt implements the interface of MethodTable iface (its interface
 * map lists it: declared, inherited from a base type or from another interface). Returns -1 when
 * that cannot be told (the runtime's layout has no interface map offset, or the map is unreadable). */
int ds_layout_implements(const ds_layout *l, ds_dump *dump, uint64_t mt, uint64_t iface);

/* Reads a string object's characters as UTF-8 (at most max_chars characters, the output
 * NUL-terminated and cut to out_len bytes). Returns the string's full length in characters, or
 * -1 when it cannot be read. */
int64_t ds_layout_read_string(const ds_layout *l, ds_dump *dump, uint64_t addr, size_t max_chars, char *out,
                              size_t out_len);

/* ---- GC descriptors ------------------------------------------------------------------------ */

/* The GC descriptor of a type with references, copied out of the dump: where in an object of
 * the type the GC finds its reference slots. series > 0: that many (size, offset) pairs, each a
 * run of slots whose length is stored minus the object's size; series < 0: a start offset then
 * -series (pointer count, bytes to skip) items repeated over the elements of an array of
 * structs; 0: none. */
typedef struct ds_gc_desc {
  int64_t series;
  uint64_t *data;              /* positive: pairs (size, offset); negative: start, then items */
} ds_gc_desc;

/* Copies the GC descriptor of MethodTable mt out of the dump. A descriptor that is absent,
 * unreadable or implausible gives series = 0 (no references): never a read past it. */
void ds_gc_desc_read(const ds_layout *l, ds_dump *dump, uint64_t mt, ds_gc_desc *out);
void ds_gc_desc_free(ds_gc_desc *desc);

/* Enumerates the reference slots of one object as runs of consecutive 8-byte slots, exactly as
 * the GC walks them (never past the object's size):
 *     ds_gc_desc_cursor c;
 *     ds_gc_desc_start(&c, desc, object_size);
 *     while (ds_gc_desc_next(&c, &offset, &count)) ... slots at offset, offset + 8, ...
 */
typedef struct ds_gc_desc_cursor {
  const ds_gc_desc *desc;
  uint64_t size;
  int64_t next;                /* positive: next series; negative: next item of the pass */
  uint64_t offset, progress;   /* negative: current offset and where the pass began */
  uint32_t passes;
} ds_gc_desc_cursor;

static inline void ds_gc_desc_start(ds_gc_desc_cursor *c, const ds_gc_desc *desc, uint64_t size) {
  c->desc = desc;
  c->size = size;
  c->next = 0;
  c->offset = desc->series < 0 && desc->data ? desc->data[0] : 0;
  c->progress = 0;
  c->passes = 0;
}

static inline bool ds_gc_desc_next(ds_gc_desc_cursor *c, uint64_t *offset, uint64_t *count) {
  const ds_gc_desc *d = c->desc;
  if (!d->data || d->series == 0)
    return false;
  if (d->series > 0) {
    while (c->next < d->series) {
      int64_t s = c->next++;
      uint64_t run = d->data[2 * s] + c->size; /* stored minus the object's size */
      uint64_t start = d->data[2 * s + 1];
      if (start > c->size || run > c->size - start)
        continue; /* a descriptor that does not fit this object: ignore, never overread */
      *offset = start;
      *count = run / 8;
      if (*count)
        return true;
    }
    return false;
  }
  /* repeating series: the GC stops at size - 8 (plug skew) */
  int64_t items = -d->series;
  uint64_t limit = c->size >= 8 ? c->size - 8 : 0;
  for (;;) {
    if (c->next == 0) {
      if (c->offset >= limit)
        return false;
      c->progress = c->offset;
    }
    if (c->next < items && c->offset < limit) {
      uint64_t item = d->data[1 + c->next++];
      uint64_t pointers = (uint32_t)item, skip = (uint32_t)(item >> 32), n = 0;
      if (c->offset + 8 <= c->size) {
        n = (c->size - c->offset) / 8;
        if (n > pointers)
          n = pointers;
      }
      *offset = c->offset;
      *count = n;
      c->offset += 8 * n + skip;
      if (n)
        return true;
      continue;
    }
    c->next = 0;
    if (c->offset <= c->progress || ++c->passes > DS_MAX_GC_DESC_PASSES)
      return false; /* a zero-width element would loop forever */
  }
}

#endif
