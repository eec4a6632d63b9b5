/*
 * types.c: methods, MethodDescs and static bases through the DAC (dactypes.h).
 *
 * Slots: ISOSDacInterface 13 GetModuleData, 20 GetMethodDescData, 45 GetPEFileName, 22 GetMethodDescName; ISOSDacInterface14 3
 * GetStaticBaseAddress, 5 GetMethodTableInitializationFlags; ISOSDacInterface15 3
 * GetMethodTableSlotEnumerator, whose ISOSMethodEnum::Next is slot 6 (sospriv.idl; SOSMethodData
 * and DacpMethodDescData layouts checked with static asserts).
 */
#include "dumpscope/dactypes.h"

#include <stdlib.h>
#include <string.h>

#include "dacint.h"

#define SOS(dac) ((dac)->sos[1])

enum { SOS_GET_METHOD_DESC_DATA = 20, SOS_GET_PE_FILE_NAME = 45 };
enum { SOS14_GET_STATIC_BASE_ADDRESS = 3, SOS_TRAVERSE_MODULE_MAP = 14, MODULE_MAP_TYPEDEF_TO_METHOD_TABLE = 0 };
enum { SOS15_GET_METHOD_TABLE_SLOT_ENUMERATOR = 3 };

#define METHOD_TABLE_INITIALIZED 1u
#define METHOD_BATCH 64u

typedef struct method_data {
  ds_addr method_desc, entry_point, defining_mt, defining_module;
  uint32_t token, slot;
} method_data;
_Static_assert(sizeof(method_data) == 40, "SOSMethodData layout");

typedef struct method_desc_data {
  int32_t has_native_code, is_dynamic;
  uint16_t slot_number;
  ds_addr native_code, native_code_slot, method_desc, method_table, module;
  uint32_t token;
  ds_addr gc_info, gc_stress_code_copy, dynamic_method_object, requested_ip;
  uint8_t rejit_current[24], rejit_requested[24];
  uint32_t jitted_rejit_versions;
} method_desc_data;
_Static_assert(sizeof(method_desc_data) == 0x98, "DacpMethodDescData layout");
_Static_assert(offsetof(method_desc_data, method_table) == 40, "DacpMethodDescData.MethodTablePtr");
_Static_assert(offsetof(method_desc_data, token) == 56, "DacpMethodDescData.MDToken");


ds_status ds_dac_type_methods(ds_dac *dac, uint64_t mt, size_t max, void (*fn)(void *ctx, const ds_dac_method *m),
                              void *ctx, bool *truncated, ds_error *err) {
  typedef HRESULT (*enum_fn)(void *, ds_addr, void **);
  typedef HRESULT (*next_fn)(void *, uint32_t, method_data *, uint32_t *);
  *truncated = false;
  void *sos15 = dac->sos[15], *methods = NULL;
  if (!sos15)
    return ds_error_set(err, DS_E_UNSUPPORTED, "this runtime's DAC cannot list a type's methods (no ISOSDacInterface15)");
  HRESULT hr = DS_VCALL(sos15, SOS15_GET_METHOD_TABLE_SLOT_ENUMERATOR, enum_fn)(sos15, mt, &methods);
  ds__dac_took(dac, methods);
  if (hr < 0 || !methods) {
    ds__dac_release(dac, methods);
    return ds__hr_error(err, hr, "GetMethodTableSlotEnumerator");
  }
  method_data batch[METHOD_BATCH];
  size_t delivered = 0;
  for (;;) {
    uint32_t fetched = 0;
    hr = DS_VCALL(methods, DS__ENUM_NEXT, next_fn)(methods, METHOD_BATCH, batch, &fetched);
    if (hr < 0 || fetched == 0)
      break;
    for (uint32_t i = 0; i < fetched && i < METHOD_BATCH; i++) {
      if (delivered == max) {
        *truncated = true;
        break;
      }
      ds_dac_method m = {batch[i].method_desc, batch[i].entry_point, batch[i].defining_mt, batch[i].token,
                         batch[i].slot};
      fn(ctx, &m);
      delivered++;
    }
    if (*truncated || hr == DS_S_OK)
      break; /* S_OK: the enumeration is complete (S_FALSE: more may follow) */
  }
  ds__dac_release(dac, methods);
  return DS_OK;
}

/* A MethodDesc read from a damaged dump (or a wrong guess) crashes the DAC's GetMethodDescName
 * and GetMethodDescData outside their checks. Before either is asked, the MethodDesc's chunk
 * (at md - sizeof(MethodDescChunk) - m_chunkIndex * 8, its first field the MethodTable: the
 * runtime's method.h for .NET 8 and later) must name a MethodTable the DAC validates
 * (GetMethodTableData checks its EEClass back-pointer and does not crash on garbage). */
#define METHOD_DESC_CHUNK_SIZE 0x18u
static bool method_desc_plausible(ds_dac *dac, uint64_t method_desc) {
  uint8_t head[8];
  uint64_t mt = 0;
  ds_dacp_method_table data;
  ds_error ignore = {0};
  if (!method_desc || (method_desc & 7) || !ds_dump_read_exact(dac->dump, method_desc, head, sizeof head))
    return false;
  uint64_t chunk = method_desc - METHOD_DESC_CHUNK_SIZE - (uint64_t)head[2] * 8u;
  return ds_dump_read_u64(dac->dump, chunk, &mt) && mt && !(mt & 7) &&
         ds_dac_method_table(dac, mt, &data, &ignore) == DS_OK;
}

/* Lightweight code generation (DynamicMethod, compiled expression trees: ASP.NET Core's endpoint
 * delegates) runs as methods of the runtime's "DynamicClass". GetMethodDescData on such a
 * MethodDesc crashes inside the DAC (a strchr on memory a heap dump does not hold: found on a
 * Kestrel server with a request on the stack), and a SIGSEGV inside the DAC is outside its own
 * checks. Its name is safe to ask (the stack walk names every frame so), so the MethodDesc is
 * recognised by that before anything else is asked of it. */
static bool is_dynamic_method_desc(ds_dac *dac, uint64_t method_desc) {
  typedef HRESULT (*fn)(void *, ds_addr, uint32_t, uint16_t *, uint32_t *);
  static const char prefix[] = "DynamicClass.";
  uint16_t wide[DS_MAX_FRAME_NAME_CHARS];
  uint32_t needed = 0;
  wide[0] = 0;
  if (DS_VCALL(SOS(dac), DS__SOS_GET_METHOD_DESC_NAME, fn)(SOS(dac), method_desc, DS_MAX_FRAME_NAME_CHARS, wide,
                                                           &needed) < 0)
    return false;
  wide[DS_MAX_FRAME_NAME_CHARS - 1] = 0;
  for (size_t i = 0; i + 1 < sizeof prefix; i++)
    if (wide[i] != (uint16_t)(unsigned char)prefix[i])
      return false;
  return true;
}

ds_status ds_dac_method_desc(ds_dac *dac, uint64_t method_desc, uint64_t *mt, uint32_t *token, uint64_t *native_code,
                             ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, ds_addr, method_desc_data *, uint32_t, void *, uint32_t *);
  method_desc_data d;
  memset(&d, 0, sizeof d);
  if (!method_desc_plausible(dac, method_desc))
    return ds_error_set(err, DS_E_CORRUPT, "%#llx is not a valid MethodDesc", (unsigned long long)method_desc);
  if (is_dynamic_method_desc(dac, method_desc))
    return ds_error_set(err, DS_E_UNSUPPORTED, "MethodDesc %#llx is a dynamic (LCG) method",
                        (unsigned long long)method_desc);
  HRESULT hr = DS_VCALL(SOS(dac), SOS_GET_METHOD_DESC_DATA, fn)(SOS(dac), method_desc, 0, &d, 0, NULL, NULL);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetMethodDescData");
  *mt = d.method_table;
  *token = d.token;
  *native_code = d.has_native_code ? d.native_code : 0;
  return DS_OK;
}

ds_status ds_dac_method_image(ds_dac *dac, uint64_t method_desc, uint32_t *token, char *path, size_t path_len,
                              ds_error *err) {
  typedef HRESULT (*md_fn)(void *, ds_addr, ds_addr, method_desc_data *, uint32_t, void *, uint32_t *);
  typedef HRESULT (*module_fn)(void *, ds_addr, void *);
  typedef HRESULT (*name_fn)(void *, ds_addr, uint32_t, uint16_t *, uint32_t *);
  method_desc_data d;
  memset(&d, 0, sizeof d);
  *token = 0;
  if (path_len)
    path[0] = '\0';
  if (!method_desc_plausible(dac, method_desc))
    return ds_error_set(err, DS_E_CORRUPT, "%#llx is not a valid MethodDesc", (unsigned long long)method_desc);
  if (is_dynamic_method_desc(dac, method_desc))
    return ds_error_set(err, DS_E_UNSUPPORTED, "MethodDesc %#llx is a dynamic (LCG) method: no module file",
                        (unsigned long long)method_desc);
  HRESULT hr = DS_VCALL(SOS(dac), SOS_GET_METHOD_DESC_DATA, md_fn)(SOS(dac), method_desc, 0, &d, 0, NULL, NULL);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetMethodDescData");
  *token = d.token;
  /* DacpModuleData starts Address, PEAssembly, ilBase, ...; it grew over runtime versions: the
   * buffer leaves room */
  uint64_t module_data[64];
  memset(module_data, 0, sizeof module_data);
  hr = DS_VCALL(SOS(dac), DS__SOS_GET_MODULE_DATA, module_fn)(SOS(dac), d.module, module_data);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetModuleData");
  uint16_t wide[DS_MAX_PATH_BYTES];
  uint32_t needed = 0;
  hr = DS_VCALL(SOS(dac), SOS_GET_PE_FILE_NAME, name_fn)(SOS(dac), module_data[1], DS_MAX_PATH_BYTES, wide, &needed);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetPEFileName");
  wide[DS_MAX_PATH_BYTES - 1] = 0;
  ds_utf16_to_utf8(wide, DS_MAX_PATH_BYTES, true, path, path_len);
  return DS_OK;
}

ds_status ds_dac_method_desc_name(ds_dac *dac, uint64_t method_desc, char *out, size_t out_len, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, uint32_t, uint16_t *, uint32_t *);
  uint16_t wide[DS_MAX_FRAME_NAME_CHARS];
  uint32_t needed = 0;
  out[0] = '\0';
  if (!method_desc_plausible(dac, method_desc))
    return ds_error_set(err, DS_E_CORRUPT, "%#llx is not a valid MethodDesc", (unsigned long long)method_desc);
  HRESULT hr = DS_VCALL(SOS(dac), DS__SOS_GET_METHOD_DESC_NAME, fn)(SOS(dac), method_desc, DS_MAX_FRAME_NAME_CHARS,
                                                                    wide, &needed);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetMethodDescName");
  wide[DS_MAX_FRAME_NAME_CHARS - 1] = 0;
  ds_utf16_to_utf8(wide, DS_MAX_FRAME_NAME_CHARS, true, out, out_len);
  return DS_OK;
}

ds_status ds_dac_static_bases(ds_dac *dac, uint64_t mt, uint64_t *non_gc, uint64_t *gc, ds_error *err) {
  typedef HRESULT (*bases_fn)(void *, ds_addr, ds_addr *, ds_addr *);
  typedef HRESULT (*flags_fn)(void *, ds_addr, uint32_t *);
  (void)err;
  *non_gc = *gc = 0;
  void *sos14 = dac->sos[14];
  uint32_t flags = 0;
  if (!sos14 ||
      DS_VCALL(sos14, DS__SOS14_GET_METHOD_TABLE_INITIALIZATION_FLAGS, flags_fn)(sos14, mt, &flags) < 0 ||
      flags != METHOD_TABLE_INITIALIZED)
    return DS_OK;
  ds_addr a = 0, b = 0;
  if (DS_VCALL(sos14, SOS14_GET_STATIC_BASE_ADDRESS, bases_fn)(sos14, mt, &a, &b) >= 0) {
    *non_gc = a;
    *gc = b;
  }
  return DS_OK;
}

typedef struct module_map_ctx {
  void (*fn)(void *ctx, uint64_t mt);
  void *ctx;
} module_map_ctx;

/* MODULEMAPTRAVERSE: (UINT index, CLRDATA_ADDRESS methodTable, LPVOID token). */
static void on_module_map_entry(uint32_t index, ds_addr mt, void *token) {
  (void)index;
  module_map_ctx *m = token;
  if (mt)
    m->fn(m->ctx, mt);
}

ds_status ds_dac_module_types(ds_dac *dac, uint64_t module, void (*fn)(void *ctx, uint64_t mt), void *ctx,
                              ds_error *err) {
  typedef HRESULT (*traverse_fn)(void *, uint32_t, ds_addr, void (*)(uint32_t, ds_addr, void *), void *);
  if (!module)
    return ds_error_set(err, DS_E_ARG, "no module");
  module_map_ctx m = {fn, ctx};
  HRESULT hr = DS_VCALL(SOS(dac), SOS_TRAVERSE_MODULE_MAP, traverse_fn)(SOS(dac), MODULE_MAP_TYPEDEF_TO_METHOD_TABLE,
                                                                        module, on_module_map_entry, &m);
  return hr < 0 ? ds__hr_error(err, hr, "TraverseModuleMap") : DS_OK;
}
