/*
 * localmod.c: where a runtime before .NET 9 keeps statics (dactypes.h): a module's
 * DomainLocalModule (ISOSDacInterface GetDomainLocalModuleDataFromModule) and a thread's
 * ThreadLocalModule of a module (GetThreadLocalModuleData, by the module's index from
 * GetModuleData). .NET 9 replaced both with per-type statics (ISOSDacInterface14); its DAC
 * answers these calls with an error.
 *
 * Layouts (dotnet/diagnostics dacprivate.h): DacpDomainLocalModuleData and
 * DacpThreadLocalModuleData are { appDomainAddr or threadAddr, ModuleID or ModuleIndex, pClassData,
 * pDynamicClassTable, pGCStaticDataStart, pNonGCStaticDataStart }, eight bytes each; DacpModuleData
 * keeps dwModuleIndex at +152 (its last field).
 */
#include "dumpscope/dactypes.h"

#include <string.h>

#include "dacint.h"

#define SOS(dac) ((dac)->sos[1])

typedef struct local_module_data {
  ds_addr owner;
  uint64_t id;
  ds_addr class_data, dynamic_class_table, gc_statics, non_gc_statics;
} local_module_data;
_Static_assert(sizeof(local_module_data) == 48, "DacpDomainLocalModuleData layout");

#define MODULE_DATA_INDEX_WORD 19 /* DacpModuleData.dwModuleIndex, +152 */

static void from_data(const local_module_data *d, ds_dac_local_module *out) {
  out->class_data = d->class_data;
  out->dynamic_class_table = d->dynamic_class_table;
  out->gc_statics = d->gc_statics;
  out->non_gc_statics = d->non_gc_statics;
}

ds_status ds_dac_domain_local_module(ds_dac *dac, uint64_t module, ds_dac_local_module *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, local_module_data *);
  memset(out, 0, sizeof *out);
  if (!module)
    return ds_error_set(err, DS_E_ARG, "no module");
  local_module_data d;
  memset(&d, 0, sizeof d);
  HRESULT hr = DS_VCALL(SOS(dac), DS__SOS_GET_DOMAIN_LOCAL_MODULE_DATA_FROM_MODULE, fn)(SOS(dac), module, &d);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetDomainLocalModuleDataFromModule");
  from_data(&d, out);
  return DS_OK;
}

ds_status ds_dac_module_index(ds_dac *dac, uint64_t module, uint64_t *index, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, uint64_t *);
  *index = 0;
  if (!module)
    return ds_error_set(err, DS_E_ARG, "no module");
  /* DacpModuleData grew over runtime versions: the buffer leaves room */
  uint64_t data[64];
  memset(data, 0, sizeof data);
  HRESULT hr = DS_VCALL(SOS(dac), DS__SOS_GET_MODULE_DATA, fn)(SOS(dac), module, data);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetModuleData");
  *index = data[MODULE_DATA_INDEX_WORD];
  return DS_OK;
}

ds_status ds_dac_thread_local_module(ds_dac *dac, uint64_t thread, uint64_t module_index, ds_dac_local_module *out,
                                     ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, uint32_t, local_module_data *);
  memset(out, 0, sizeof *out);
  if (!thread || module_index > UINT32_MAX)
    return ds_error_set(err, DS_E_ARG, "no thread or a module index out of range");
  local_module_data d;
  memset(&d, 0, sizeof d);
  HRESULT hr = DS_VCALL(SOS(dac), DS__SOS_GET_THREAD_LOCAL_MODULE_DATA, fn)(SOS(dac), thread, (uint32_t)module_index,
                                                                             &d);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetThreadLocalModuleData"); /* E_INVALIDARG: none on this thread */
  from_data(&d, out);
  return DS_OK;
}
