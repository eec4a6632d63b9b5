/*
 * dactypes.h: what the DAC says about types beyond their layout: the methods a MethodTable
 * defines (ISOSDacInterface15's slot enumerator), one MethodDesc (its MethodTable, token, native
 * code, name), a type's static bases (ISOSDacInterface14, .NET 9+) and, before .NET 9, a
 * module's DomainLocalModule and a thread's ThreadLocalModule. The index build records
 * these so that mx and mdt answer without the DAC.
 *
 * Thin, bounded wrappers like dacstack.h; analysis processes only (design rule 1 of dac.h), one
 * thread per ds_dac. Every interface obtained is released before the function returns.
 */
#ifndef DUMPSCOPE_DACTYPES_H
#define DUMPSCOPE_DACTYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dac.h"

/* One method of a MethodTable's slot enumeration. */
typedef struct ds_dac_method {
  uint64_t method_desc, entry_point, defining_mt;
  uint32_t token, slot;
} ds_dac_method;

/* Calls fn for each method of mt, at most max (more: *truncated); DS_E_UNSUPPORTED when the DAC
 * lacks ISOSDacInterface15. */
ds_status ds_dac_type_methods(ds_dac *dac, uint64_t mt, size_t max, void (*fn)(void *ctx, const ds_dac_method *m),
                              void *ctx, bool *truncated, ds_error *err);

/* A MethodDesc's MethodTable, metadata token and current native code (0 when not compiled). */
ds_status ds_dac_method_desc(ds_dac *dac, uint64_t method_desc, uint64_t *mt, uint32_t *token, uint64_t *native_code,
                             ds_error *err);
/* Where a MethodDesc's metadata lives: its token and its module's file (GetPEFileName: the
 * path on the machine that produced the dump; "" for a dynamic or in-memory module). */
ds_status ds_dac_method_image(ds_dac *dac, uint64_t method_desc, uint32_t *token, char *path, size_t path_len,
                              ds_error *err);
/* A MethodDesc's name as SOS prints it ("Ns.Type.Method(Args)"), UTF-8. */
ds_status ds_dac_method_desc_name(ds_dac *dac, uint64_t method_desc, char *out, size_t out_len, ds_error *err);

/* The static bases of mt (ISOSDacInterface14): a primitive static lives at non_gc + offset, any
 * other at gc + offset (a slot holding a reference; value types boxed). Both 0 (and DS_OK) when
 * the type is not initialized or the DAC lacks the interface. */
ds_status ds_dac_static_bases(ds_dac *dac, uint64_t mt, uint64_t *non_gc, uint64_t *gc, ds_error *err);

/* Calls fn with the MethodTable of every loaded type a module defines (ISOSDacInterface
 * TraverseModuleMap over its TypeDef -> MethodTable map): the types that have no instance on the
 * heap too, such as static classes. Generic instantiations are not in the map. */
ds_status ds_dac_module_types(ds_dac *dac, uint64_t module, void (*fn)(void *ctx, uint64_t mt), void *ctx,
                              ds_error *err);

/* Where a module's statics live before .NET 9 (its DomainLocalModule), or a thread's
 * thread statics of a module (its ThreadLocalModule): a non-generic type's primitive static at
 * non_gc_statics + offset, any other at gc_statics + offset (one block for the whole module); a
 * byte of class flags per TypeDef at class_data + RID - 1 (bit 0: initialized); generic
 * instantiations' statics through the dynamic class table (see core/analyze/statics8.c). */
typedef struct ds_dac_local_module {
  uint64_t class_data, dynamic_class_table, gc_statics, non_gc_statics;
} ds_dac_local_module;

/* GetDomainLocalModuleDataFromModule: an error on .NET 9+, which has no DomainLocalModule. */
ds_status ds_dac_domain_local_module(ds_dac *dac, uint64_t module, ds_dac_local_module *out, ds_error *err);
/* A module's index among the thread-local modules (GetModuleData's dwModuleIndex). */
ds_status ds_dac_module_index(ds_dac *dac, uint64_t module, uint64_t *index, ds_error *err);
/* GetThreadLocalModuleData: an error when the thread has none for that module. */
ds_status ds_dac_thread_local_module(ds_dac *dac, uint64_t thread, uint64_t module_index, ds_dac_local_module *out,
                                     ds_error *err);

#endif
