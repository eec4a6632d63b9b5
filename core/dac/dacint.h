/*
 * dacint.h: internals of the DAC bridge shared by the files of core/dac (bridge.c, stack.c).
 * Nobody outside core/dac includes this.
 */
#ifndef DUMPSCOPE_DAC_INT_H
#define DUMPSCOPE_DAC_INT_H

#include "dumpscope/dac.h"

typedef int32_t HRESULT;
typedef struct ds__guid {
  uint32_t d1;
  uint16_t d2, d3;
  uint8_t d4[8];
} ds__guid;

#define DS_S_OK 0
#define DS_S_FALSE 1

/* Calls vtable slot `slot` of interface `obj` with function type `type`. */
#define DS_VCALL(obj, slot, type) ((type)((*(void ***)(obj))[slot]))

typedef struct ds__com_object {
  const void *const *vtbl;
  struct ds_dac *dac;
} ds__com_object;

#define DS__MODULE_CACHE 64

struct ds_dac {
  ds_dump *dump;
  const ds_runtime_info *rt;
  ds__com_object target, runtime_locator, metadata_locator;
  void *process;       /* IXCLRDataProcess* */
  void *sos[18];       /* ISOSDacInterface{,2..17}*, NULL when absent */
  uint32_t revision;
  struct { ds_addr module; void *import; } md_cache[DS__MODULE_CACHE];
  size_t md_cache_count;
};

typedef HRESULT (*ds__qi_fn)(void *self, const ds__guid *iid, void **out);
typedef uint32_t (*ds__release_fn)(void *self);

/* "<what> failed: 0x... NAME" into err; returns DS_E_DAC. */
ds_status ds__hr_error(ds_error *err, HRESULT hr, const char *what);

#endif
