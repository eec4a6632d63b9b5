/*
 * layout.c: the object layouts of the supported runtimes (layout.h), one row per range of major
 * versions, and the readers that need more than an offset: MethodTable flags, string values and
 * GC descriptors.
 */
#include "dumpscope/layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

/* Fields every supported runtime shares; the rows below differ in the thin-lock bits, the
   interface map and the collectible flag. */
#define COMMON_LAYOUT                                                                                 \
  .header_before = 4, .header_hash_or_sync = 0x08000000u, .header_spin_lock = 0x10000000u,           \
  .header_finalizer_run = 0x40000000u, .header_is_hashcode = 0x04000000u,                            \
  .header_sync_index_mask = 0x03FFFFFFu,                                                             \
  .mt_mask = ~(uint64_t)7, .field_base = 8, .array_length = 8, .array_data = 16, .string_length = 8, \
  .string_chars = 12, .min_object_size = 24, .object_alignment = 8,                                  \
  .mt_flag_finalizer = 0x00100000u, .mt_num_interfaces = 0x0e

/* enum_flag_Collectible (methodtable.h WFLAGS_HIGH_ENUM): 0x10000000 up to .NET 8, 0x00200000
   since .NET 9 (where 0x10000000 is no longer set; checked on the 8, 9 and 10 fixtures) */
#define COLLECTIBLE_BEFORE_9 0x10000000u
#define COLLECTIBLE_SINCE_9 0x00200000u

static const ds_layout layouts[] = {
    /* syncblk.h before dotnet/runtime#88772: 10 bits of thread id, 6 of recursion */
    {.first_major = 6, .last_major = 7, COMMON_LAYOUT, .thin_lock_id_mask = 0x3FFu,
     .thin_lock_recursion_shift = 10, .thin_lock_recursion_mask = 0x3Fu, .mt_interface_map = 0,
     .mt_flag_collectible = COLLECTIBLE_BEFORE_9},
    /* since .NET 8: 16 bits of thread id, 6 of recursion; the MethodTable's fixed part is flags,
       base size, flags2, virtuals, interfaces, then parent, module, auxiliary data, EEClass,
       per-instance info and the interface map (0x38) */
    {.first_major = 8, .last_major = 8, COMMON_LAYOUT, .thin_lock_id_mask = 0xFFFFu,
     .thin_lock_recursion_shift = 16, .thin_lock_recursion_mask = 0x3Fu, .mt_interface_map = 0x38,
     .mt_flag_collectible = COLLECTIBLE_BEFORE_9},
    /* since .NET 9: the same, with the collectible flag moved */
    {.first_major = 9, .last_major = DS_RUNTIME_MAJOR_MAX, COMMON_LAYOUT, .thin_lock_id_mask = 0xFFFFu,
     .thin_lock_recursion_shift = 16, .thin_lock_recursion_mask = 0x3Fu, .mt_interface_map = 0x38,
     .mt_flag_collectible = COLLECTIBLE_SINCE_9},
};

_Static_assert(DS_RUNTIME_MAJOR_MIN == 6, "the first layout row starts at the oldest supported major");

ds_status ds_layout_for_runtime(int major, const char *version, const ds_layout **out, ds_error *err) {
  *out = NULL;
  for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++)
    if (major >= layouts[i].first_major && major <= layouts[i].last_major) {
      *out = &layouts[i];
      return DS_OK;
    }
  char seen[96];
  if (version && *version)
    snprintf(seen, sizeof seen, ".NET %d (runtime %s)", major, version);
  else
    snprintf(seen, sizeof seen, ".NET %d", major);
  return ds_error_set(err, DS_E_UNSUPPORTED,
                      "this dump is of %s; dumpscope supports .NET %d to %d%s", seen, DS_RUNTIME_MAJOR_MIN,
                      DS_RUNTIME_MAJOR_MAX,
                      major > DS_RUNTIME_MAJOR_MAX
                          ? ": its object layout is not known to this version of dumpscope, so the heap "
                            "is not read with an older runtime's assumptions"
                          : "");
}

const ds_layout *ds_layout_for_version(const char *version) {
  if (!version)
    return NULL;
  char *end = NULL;
  long major = strtol(version, &end, 10);
  if (end == version || major <= 0 || major > 1000)
    return NULL;
  const ds_layout *l = NULL;
  ds_error ignore = {0};
  return ds_layout_for_runtime((int)major, version, &l, &ignore) == DS_OK ? l : NULL;
}

const ds_layout *ds_layout_default(void) { return &layouts[sizeof layouts / sizeof *layouts - 1]; }

bool ds_layout_read_mt_flags(const ds_layout *l, ds_dump *dump, uint64_t mt, bool *finalizer, bool *collectible) {
  uint32_t flags;
  if (!ds_dump_read_u32(dump, mt, &flags))
    return false;
  *finalizer = (flags & l->mt_flag_finalizer) != 0;
  *collectible = (flags & l->mt_flag_collectible) != 0;
  return true;
}

int ds_layout_implements(const ds_layout *l, ds_dump *dump, uint64_t mt, uint64_t iface) {
  uint16_t count = 0;
  uint64_t map = 0;
  if (!l->mt_interface_map || !iface || !ds_dump_read_exact(dump, mt + l->mt_num_interfaces, &count, sizeof count))
    return -1;
  if (count == 0)
    return 0;
  if (!ds_dump_read_u64(dump, mt + l->mt_interface_map, &map) || !map)
    return -1;
  for (uint16_t i = 0; i < count; i++) {
    uint64_t entry = 0;
    if (!ds_dump_read_u64(dump, map + (uint64_t)i * 8, &entry))
      return -1;
    if ((entry & l->mt_mask) == iface) /* low bits: a marker for generic casting, not an address */
      return 1;
  }
  return 0;
}

int64_t ds_layout_read_string(const ds_layout *l, ds_dump *dump, uint64_t addr, size_t max_chars, char *out,
                              size_t out_len) {
  uint32_t length;
  if (!ds_layout_read_length(l, dump, addr, &length))
    return -1;
  size_t want = length < max_chars ? length : max_chars;
  if (want > DS_MAX_STRING_READ_CHARS)
    want = DS_MAX_STRING_READ_CHARS;
  uint16_t *chars = malloc((want ? want : 1) * sizeof *chars);
  if (!chars)
    return -1;
  if (!ds_dump_read_exact(dump, ds_layout_chars(l, addr), chars, want * sizeof *chars)) {
    free(chars);
    return -1;
  }
  ds_utf16_to_utf8(chars, want, false, out, out_len);
  free(chars);
  return length;
}

/* The descriptor sits below the MethodTable: its series count at mt - 8; positive series as
 * (size, offset) pairs of 16 bytes going down from mt - 24, the highest series first; a
 * repeating series' start offset at mt - 16 and its items going down from mt - 24. */
void ds_gc_desc_read(const ds_layout *l, ds_dump *dump, uint64_t mt, ds_gc_desc *d) {
  (void)l; /* the same in every supported runtime (gcdesc.h) */
  memset(d, 0, sizeof *d);
  uint64_t raw;
  if (!ds_dump_read_u64(dump, mt - 8, &raw))
    return;
  int64_t n = (int64_t)raw;
  if (n == 0 || n > DS_MAX_GC_DESC_SERIES || n < -DS_MAX_GC_DESC_SERIES)
    return;
  int64_t count = n > 0 ? n : -n;
  size_t words = n > 0 ? (size_t)(2 * count) : (size_t)(count + 1);
  d->data = calloc(words, 8);
  if (!d->data)
    return;
  bool ok = true;
  if (n > 0) {
    for (int64_t s = 0; s < count && ok; s++) {
      uint64_t base = mt - 24 - 16 * (uint64_t)s;
      ok = ds_dump_read_u64(dump, base, &d->data[2 * s]) && ds_dump_read_u64(dump, base + 8, &d->data[2 * s + 1]);
    }
  } else {
    ok = ds_dump_read_u64(dump, mt - 16, &d->data[0]);
    for (int64_t s = 0; s < count && ok; s++)
      ok = ds_dump_read_u64(dump, mt - 24 - 8 * (uint64_t)s, &d->data[1 + s]);
  }
  if (!ok) {
    free(d->data);
    d->data = NULL;
    return;
  }
  d->series = n;
}

void ds_gc_desc_free(ds_gc_desc *desc) {
  free(desc->data);
  desc->data = NULL;
  desc->series = 0;
}
