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

/* ---- vtable slots ----------------------------------------------------------------------------
 * The methods we call, by interface, as slot numbers of the vtable (IUnknown's three first);
 * from xclrdata.idl, sospriv.idl and cor.h (../shared/reference/dac-from-c.md), checked on real
 * dumps. A slot number appears nowhere else. */

/* IUnknown: every interface */
enum { DS__IUNKNOWN_QUERY_INTERFACE = 0, DS__IUNKNOWN_RELEASE = 2 };

/* IXCLRDataProcess */
enum { DS__PROCESS_FLUSH = 3, DS__PROCESS_GET_TASK_BY_OS_THREAD_ID = 7, DS__PROCESS_REQUEST = 33 };
/* IXCLRDataTask, IXCLRDataStackWalk, IXCLRDataFrame, IXCLRDataMethodInstance */
enum { DS__TASK_CREATE_STACK_WALK = 11 };
enum { DS__STACK_WALK_GET_CONTEXT = 3, DS__STACK_WALK_NEXT = 5, DS__STACK_WALK_GET_FRAME = 8,
       DS__STACK_WALK_REQUEST = 9 };
enum { DS__FRAME_GET_METHOD_INSTANCE = 11 };
enum { DS__METHOD_INSTANCE_GET_NAME = 6 };

/* ISOSDacInterface */
enum {
  DS__SOS_GET_THREAD_STORE_DATA = 3,
  DS__SOS_GET_MODULE = 12,
  DS__SOS_GET_MODULE_DATA = 13,
  DS__SOS_TRAVERSE_MODULE_MAP = 14,
  DS__SOS_GET_THREAD_DATA = 17,
  DS__SOS_GET_METHOD_DESC_PTR_FROM_IP = 21,
  DS__SOS_GET_METHOD_DESC_NAME = 22,
  DS__SOS_GET_METHOD_DESC_PTR_FROM_FRAME = 23,
  DS__SOS_GET_OBJECT_DATA = 33,
  DS__SOS_GET_METHOD_TABLE_NAME = 36,
  DS__SOS_GET_METHOD_TABLE_DATA = 37,
  DS__SOS_GET_METHOD_TABLE_FIELD_DATA = 39,
  DS__SOS_GET_FIELD_DESC_DATA = 42,
  DS__SOS_GET_FRAME_NAME = 43,
  DS__SOS_GET_GC_HEAP_DATA = 46,
  DS__SOS_GET_GC_HEAP_LIST = 47,
  DS__SOS_GET_GC_HEAP_DETAILS = 48,
  DS__SOS_GET_GC_HEAP_STATIC_DATA = 49,
  DS__SOS_GET_HEAP_SEGMENT_DATA = 50,
  DS__SOS_GET_DOMAIN_LOCAL_MODULE_DATA_FROM_MODULE = 57,
  DS__SOS_GET_THREAD_LOCAL_MODULE_DATA = 58,
  DS__SOS_GET_SYNC_BLOCK_DATA = 59,
  DS__SOS_GET_HANDLE_ENUM = 61,
  DS__SOS_GET_USEFUL_GLOBALS = 70,
  DS__SOS_GET_STACK_REFERENCES = 79,
};
/* ISOSDacInterface6, 8, 12, 14 */
enum { DS__SOS6_GET_METHOD_TABLE_COLLECTIBLE_DATA = 3 };
enum { DS__SOS8_GET_GENERATION_TABLE = 4, DS__SOS8_GET_FINALIZATION_FILL_POINTERS = 5,
       DS__SOS8_GET_GENERATION_TABLE_SVR = 6, DS__SOS8_GET_FINALIZATION_FILL_POINTERS_SVR = 7 };
enum { DS__SOS12_GET_GLOBAL_ALLOCATION_CONTEXT = 3 };
enum { DS__SOS14_GET_THREAD_STATIC_BASE_ADDRESS = 4, DS__SOS14_GET_METHOD_TABLE_INITIALIZATION_FLAGS = 5 };
/* ISOSEnum and its kinds (ISOSHandleEnum, ISOSStackRefEnum, ISOSStackRefErrorEnum) */
enum { DS__ENUM_GET_COUNT = 5, DS__ENUM_NEXT = 6, DS__STACK_REF_ENUM_ENUMERATE_ERRORS = 7 };
/* IMetaDataImport */
enum { DS__METADATA_FIND_TYPE_DEF_BY_NAME = 9, DS__METADATA_GET_FIELD_PROPS = 57 };

/* IXCLRDataProcess::Request codes */
#define DS__CLRDATA_REQUEST_REVISION 0xe0000000u

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
  long held;           /* interfaces obtained from the DAC and not yet released (the ledger) */
};

typedef HRESULT (*ds__qi_fn)(void *self, const ds__guid *iid, void **out);
typedef uint32_t (*ds__release_fn)(void *self);

/* The ledger of DAC interfaces our code holds. Every interface pointer the DAC hands out goes
 * through ds__dac_took (NULL is ignored) and back through ds__dac_release, the one place that calls
 * IUnknown::Release. ds_dac_close reports any left over: the DAC allocates its objects itself, so
 * LeakSanitizer cannot tell a forgotten Release from the DAC's own caches (tests/unit/lsan.supp
 * names the DAC's module), and this count is what catches ours. */
void *ds__dac_took(ds_dac *dac, void *obj);
void ds__dac_release(ds_dac *dac, void *obj);

/* "<what> failed: 0x... NAME" into err; returns DS_E_DAC. */
ds_status ds__hr_error(ds_error *err, HRESULT hr, const char *what);

#endif
