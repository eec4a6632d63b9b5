/*
 * dactypes.h: what the DAC says about types beyond their layout: the methods a MethodTable
 * defines (ISOSDacInterface15's slot enumerator), one MethodDesc (its MethodTable, token, native
 * code, name) and a type's static bases (ISOSDacInterface14, .NET 9+). The index build records
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

#endif
