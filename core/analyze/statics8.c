/*
 * statics8.c: where statics live before .NET 9, whose DAC has no ISOSDacInterface14 (the
 * runtime's appdomain.hpp DomainLocalModule, threadstatics.h ThreadLocalModule and ceeload.h
 * Module of release/8.0; checked on the .NET 8 fixtures).
 *
 * Regular statics: a module's DomainLocalModule (asked of the DAC) holds one block of GC statics
 * for all its non-generic types (a run of a pinned Object[] held by a strong handle) and their
 * class-init bytes, one per TypeDef (RID - 1; bit 0 initialized). A field's offset counts from the
 * module's block. Generic instantiations ("dynamic statics") each have a dynamic ID in their
 * loader module: the DomainLocalModule's dynamic class table is indexed by it,
 *   DomainLocalModule: +8 DynamicClassInfo *table, +16 SIZE_T entries, ...
 *   DynamicClassInfo:  { DynamicEntry *entry, u32 flags } (16 bytes; flags as above, 8 collectible)
 *   NormalDynamicEntry: { Object **gc_statics, u8 non-GC data[] } (the non-GC base is the entry)
 * and the Module keeps which type has which ID (Module::m_pDynamicStaticsInfo, one MethodTable
 * pointer per ID) right after its statics bookkeeping, which starts with its DomainLocalModule
 * pointer and module index:
 *   m_ModuleID (the DomainLocalModule), m_ModuleIndex, ..., SIZE_T m_cDynamicEntries,
 *   SIZE_T m_maxDynamicEntries, DynamicStaticsInfo *m_pDynamicStaticsInfo.
 * That run is found by its content (the DomainLocalModule pointer and the index the DAC gives),
 * not by an offset into the Module, and the table it names is checked entry by entry.
 *
 * Thread statics: the thread's ThreadLocalModule of the module (asked of the DAC by module index)
 * has the same shape with a handle instead of pointers:
 *   ThreadLocalModule: +0 DynamicClassInfo *table, +8 SIZE_T entries, +16 OBJECTHANDLE gc statics,
 *   +24 class-init bytes;  NormalDynamicEntry: { OBJECTHANDLE gc statics, ... }
 * each handle holding an Object[] (strong handles: the arrays are live without us).
 */
#include <string.h>

#include "dumpscope/analysis.h"
#include "dumpscope/dac.h"
#include "dumpscope/dactypes.h"
#include "dumpscope/layout.h"
#include "dumpscope/limits.h"

#include "analyzeint.h"

#define MT_LOADER_MODULE 0x18u        /* MethodTable::m_pLoaderModule */
#define DLM_DYNAMIC_COUNT 16u         /* DomainLocalModule::m_aDynamicEntries */
#define TLM_DYNAMIC_COUNT 8u          /* ThreadLocalModule::m_aDynamicEntries */
#define DYNAMIC_CLASS_INFO_SIZE 16u   /* DynamicClassInfo */
#define CLASS_INITIALIZED 1u          /* ClassInitFlags::INITIALIZED_FLAG */
#define CLASS_COLLECTIBLE 8u          /* ClassInitFlags::COLLECTIBLE_FLAG */
#define MODULE_SCAN_BYTES 0x2000u     /* where in a Module its statics bookkeeping is looked for */
#define MODULE_RUN_WORDS 16u          /* from the DomainLocalModule pointer to the dynamic table */

/* Whether mt, read from a table of the dump, is a MethodTable with dynamic statics whose loader
 * module is module: the loader module word first, so that the DAC sees no garbage. */
static bool dynamic_type_of(ds_analysis *a, uint64_t mt, uint64_t module) {
  uint64_t loader = 0;
  ds_dacp_method_table data;
  ds_error ignore = {0};
  return mt && !(mt & 7) && ds_dump_read_u64(a->dump, mt + MT_LOADER_MODULE, &loader) && loader == module &&
         ds_dac_method_table(a->dac, mt, &data, &ignore) == DS_OK && data.is_dynamic;
}

/* The module's table of types with dynamic statics (a MethodTable per dynamic ID) and its
 * length; false when the module has none or it is not found. */
static bool module_dynamic_table(ds_analysis *a, uint64_t module, uint64_t *table, uint64_t *count) {
  ds_dac_local_module dlm;
  uint64_t index = 0;
  ds_error ignore = {0};
  *table = *count = 0;
  if (!module || ds_dac_domain_local_module(a->dac, module, &dlm, &ignore) != DS_OK || !dlm.non_gc_statics ||
      ds_dac_module_index(a->dac, module, &index, &ignore) != DS_OK)
    return false;
  uint64_t words[MODULE_SCAN_BYTES / 8];
  size_t bytes = MODULE_SCAN_BYTES;
  while (bytes >= 0x200 && !ds_dump_read_exact(a->dump, module, words, bytes))
    bytes /= 2; /* the Module may end a mapping: scan what the dump holds */
  size_t n = bytes >= 0x200 ? bytes / 8 : 0;
  for (size_t k = 0; k + 1 < n; k++) {
    if (words[k] != dlm.non_gc_statics || words[k + 1] != index)
      continue;
    for (size_t j = k + 2; j + 2 < n && j < k + MODULE_RUN_WORDS; j++) {
      uint64_t c = words[j], max = words[j + 1], p = words[j + 2], first = 0;
      if (c == 0 || c > max || max > DS_MAX_DYNAMIC_STATICS || !p || (p & 7) || !ds_dump_read_u64(a->dump, p, &first) ||
          !dynamic_type_of(a, first, module))
        continue;
      *table = p;
      *count = c;
      return true;
    }
  }
  return false;
}

void ds__statics8_module_types(ds_analysis *a, uint64_t module, void (*fn)(void *ctx, uint64_t mt), void *ctx) {
  uint64_t table, count;
  if (!module_dynamic_table(a, module, &table, &count))
    return;
  for (uint64_t id = 0; id < count; id++) {
    uint64_t mt = 0;
    if (ds_dump_read_u64(a->dump, table + id * 8, &mt) && dynamic_type_of(a, mt, module))
      fn(ctx, mt);
  }
}

/* The loader module and dynamic ID of a type with dynamic statics. */
static bool dynamic_id(ds_analysis *a, uint64_t mt, uint64_t *module, uint64_t *id) {
  uint64_t table, count;
  if (!ds_dump_read_u64(a->dump, mt + MT_LOADER_MODULE, module) || !module_dynamic_table(a, *module, &table, &count))
    return false;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t entry = 0;
    if (ds_dump_read_u64(a->dump, table + i * 8, &entry) && entry == mt) {
      *id = i;
      return true;
    }
  }
  return false;
}

/* The DynamicClassInfo `id` of a table of `entries` at table: its entry when the class is
 * initialized and not collectible (a collectible type's statics hang off its loader allocator). */
static uint64_t dynamic_entry(ds_analysis *a, uint64_t table, uint64_t entries, uint64_t id) {
  uint64_t info[2];
  if (!table || id >= entries || entries > DS_MAX_DYNAMIC_STATICS ||
      !ds_dump_read_exact(a->dump, table + id * DYNAMIC_CLASS_INFO_SIZE, info, sizeof info))
    return 0;
  uint32_t flags = (uint32_t)info[1];
  return (flags & CLASS_INITIALIZED) && !(flags & CLASS_COLLECTIBLE) ? info[0] : 0;
}

/* Whether the class-init byte of TypeDef token in a block of class-init bytes says initialized. */
static bool class_initialized(ds_analysis *a, uint64_t class_data, uint32_t token) {
  uint32_t rid = token & 0xFFFFFFu;
  uint8_t flags = 0;
  return rid && class_data && ds_dump_read_exact(a->dump, class_data + rid - 1, &flags, 1) &&
         (flags & CLASS_INITIALIZED);
}

void ds__statics8_bases(ds_analysis *a, uint64_t mt, uint64_t *non_gc, uint64_t *gc) {
  *non_gc = *gc = 0;
  ds_dacp_method_table data;
  ds_dac_local_module dlm;
  ds_error ignore = {0};
  if (ds_dac_method_table(a->dac, mt, &data, &ignore) != DS_OK)
    return;
  if (!data.is_dynamic) {
    if (ds_dac_domain_local_module(a->dac, data.module, &dlm, &ignore) == DS_OK &&
        class_initialized(a, dlm.class_data, data.token)) {
      *non_gc = dlm.non_gc_statics;
      *gc = dlm.gc_statics;
    }
    return;
  }
  uint64_t module = 0, id = 0, entries = 0, entry, statics = 0;
  if (!dynamic_id(a, mt, &module, &id) || ds_dac_domain_local_module(a->dac, module, &dlm, &ignore) != DS_OK ||
      !ds_dump_read_u64(a->dump, dlm.non_gc_statics + DLM_DYNAMIC_COUNT, &entries) ||
      !(entry = dynamic_entry(a, dlm.dynamic_class_table, entries, id)) || !ds_dump_read_u64(a->dump, entry, &statics))
    return;
  *non_gc = entry;
  *gc = statics;
}

uint64_t ds__statics8_thread_gc_base(ds_analysis *a, uint64_t mt, uint64_t thread) {
  ds_dacp_method_table data;
  ds_dac_local_module tlm;
  ds_error ignore = {0};
  uint64_t module = 0, id = 0, index = 0;
  if (ds_dac_method_table(a->dac, mt, &data, &ignore) != DS_OK)
    return 0;
  if (data.is_dynamic ? !dynamic_id(a, mt, &module, &id) : !(module = data.module))
    return 0;
  if (ds_dac_module_index(a->dac, module, &index, &ignore) != DS_OK ||
      ds_dac_thread_local_module(a->dac, thread, index, &tlm, &ignore) != DS_OK)
    return 0; /* the thread has no statics of that module */
  if (!data.is_dynamic)
    return class_initialized(a, tlm.class_data, data.token) ? tlm.gc_statics : 0;
  uint64_t entries = 0, entry, handle = 0, array = 0;
  if (!ds_dump_read_u64(a->dump, tlm.non_gc_statics + TLM_DYNAMIC_COUNT, &entries) ||
      !(entry = dynamic_entry(a, tlm.dynamic_class_table, entries, id)) || !ds_dump_read_u64(a->dump, entry, &handle) ||
      !handle || !ds_dump_read_u64(a->dump, handle, &array) || !array)
    return 0;
  return ds_layout_element(ds_analysis_layout(a), array, 0, 8);
}
