/*
 * dacmem.h: the memory the runtime owns outside the GC heap, as the DAC describes it: JIT code
 * heaps, loader heaps (per loader allocator, with the runtime's names for them), the GC handle
 * table's memory, and the code of one method (GetCodeHeaderData). The index build records these
 * ranges so that a query can say what lives at an address (SOSEX !mln) without the DAC.
 *
 * Thin, bounded wrappers like dacstack.h; analysis processes only (design rule 1 of dac.h), one
 * thread per ds_dac. Every interface obtained is released before the function returns.
 */
#ifndef DUMPSCOPE_DACMEM_H
#define DUMPSCOPE_DACMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dac.h"

typedef enum ds_dac_region_kind {
  DS_DAC_REGION_CODE_HEAP = 1,    /* a block of a JIT code heap (name: "code heap") */
  DS_DAC_REGION_LOADER_HEAP = 2,  /* a block of a loader heap (name: the runtime's heap name) */
  DS_DAC_REGION_HANDLE_TABLE = 3, /* memory of the GC handle table */
} ds_dac_region_kind;

/* Receives one region; name is valid during the call only. */
typedef void (*ds_dac_region_fn)(void *ctx, ds_dac_region_kind kind, uint64_t start, uint64_t size,
                                 const char *name);

/* Every JIT code heap block, every loader heap block of every domain's loader allocator, and the
 * handle table's memory, as far as this DAC can tell (ISOSDacInterface13 for loader heaps and
 * handle table memory; absent: those kinds are skipped). At most max_regions are delivered;
 * *truncated says when more existed. DS_E_DAC only when the JIT manager list itself fails. */
ds_status ds_dac_memory_regions(ds_dac *dac, size_t max_regions, ds_dac_region_fn fn, void *ctx, bool *truncated,
                                ds_error *err);

/* The native code of the method holding ip (GetCodeHeaderData): its hot region [start, start +
 * size), its MethodDesc, and whether the JIT made it at run time (false: precompiled, ReadyToRun).
 * DS_E_NOT_FOUND when ip is not managed code. */
ds_status ds_dac_method_code(ds_dac *dac, uint64_t ip, uint64_t *start, uint64_t *size, uint64_t *method_desc,
                             bool *jitted, ds_error *err);

/* One entry of a method's IL-to-native map: native code [start, end) compiled from the IL at
 * il_offset (DS_DAC_IL_PROLOG / _EPILOG / _NO_MAPPING for code of no IL instruction). */
typedef struct ds_dac_il_map {
  uint32_t il_offset;
  uint64_t start, end;
} ds_dac_il_entry;
#define DS_DAC_IL_NO_MAPPING 0xFFFFFFFFu
#define DS_DAC_IL_PROLOG 0xFFFFFFFEu
#define DS_DAC_IL_EPILOG 0xFFFFFFFDu

/* The IL-to-native map of the method whose code holds code_address (IXCLRDataMethodInstance
 * GetILAddressMap, the map the JIT reported to the debugger), at most max entries (*count: how many
 * were written). DS_E_NOT_FOUND when no method instance holds the address or it has no map. */
ds_status ds_dac_il_map(ds_dac *dac, uint64_t code_address, ds_dac_il_entry *out, size_t max, size_t *count,
                        ds_error *err);

#endif
