/*
 * frames.c: the arguments and locals of a managed frame through IXCLRDataFrame (dacstack.h), as
 * SOS !clrstack -a reads them.
 *
 * Slots: IXCLRDataStackWalk 8 GetFrame; IXCLRDataFrame 6 GetNumArguments, 7 GetArgumentByIndex,
 * 8 GetNumLocalVariables, 9 GetLocalVariableByIndex, 11 GetMethodInstance; IXCLRDataValue 3
 * GetFlags, 4 GetAddress, 5 GetSize, 6 GetBytes; IXCLRDataMethodInstance 12 GetILOffsetsByAddress
 * (xclrdata.idl); IXCLRDataProcess 27 StartEnumMethodInstancesByAddress, 28
 * EnumMethodInstanceByAddress, 29 EndEnumMethodInstancesByAddress; IXCLRDataMethodInstance 14
 * GetILAddressMap. A value whose location the JIT did not record fails GetSize/GetBytes: it is
 * delivered without a value rather than dropped.
 */
#include "dumpscope/dacstack.h"

#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacmem.h"

#include "dacint.h"

enum { FRAME_GET_NUM_ARGUMENTS = 6, FRAME_GET_ARGUMENT = 7, FRAME_GET_NUM_LOCALS = 8, FRAME_GET_LOCAL = 9 };
enum { VALUE_GET_FLAGS = 3, VALUE_GET_ADDRESS = 4, VALUE_GET_SIZE = 5, VALUE_GET_BYTES = 6 };
enum { METHOD_INSTANCE_GET_IL_OFFSETS_BY_ADDRESS = 12 };

#define MAX_FRAME_VARIABLES 1024u
#define VAR_NAME_CHARS 512u

typedef HRESULT (*get_frame_fn)(void *walk, void **frame);
typedef HRESULT (*count_fn)(void *frame, uint32_t *count);
typedef HRESULT (*var_fn)(void *frame, uint32_t index, void **value, uint32_t name_len, uint32_t *needed,
                          uint16_t *name);
typedef HRESULT (*flags_fn)(void *value, uint32_t *flags);
typedef HRESULT (*address_fn)(void *value, uint64_t *address);
typedef HRESULT (*size_fn)(void *value, uint64_t *size);
typedef HRESULT (*bytes_fn)(void *value, uint32_t len, uint32_t *got, uint8_t *bytes);
typedef HRESULT (*method_fn)(void *frame, void **method);
typedef HRESULT (*il_offsets_fn)(void *method, uint64_t address, uint32_t len, uint32_t *needed, uint32_t *offsets);

/* Reads what the DAC knows of one value into var. */
static void read_value(void *value, ds_dac_var *var) {
  uint64_t size = 0;
  uint32_t got = 0;
  if (DS_VCALL(value, VALUE_GET_FLAGS, flags_fn)(value, &var->flags) < 0)
    var->flags = 0;
  var->has_address = DS_VCALL(value, VALUE_GET_ADDRESS, address_fn)(value, &var->address) >= 0;
  if (DS_VCALL(value, VALUE_GET_SIZE, size_fn)(value, &size) < 0 || size == 0 || size > UINT32_MAX)
    return;
  var->size = (uint32_t)size;
  uint32_t want = size < sizeof var->bytes ? (uint32_t)size : (uint32_t)sizeof var->bytes;
  /* GetBytes wants the whole value: a larger value type is read through its address instead */
  if (size <= sizeof var->bytes)
    var->has_value = DS_VCALL(value, VALUE_GET_BYTES, bytes_fn)(value, want, &got, var->bytes) >= 0 && got == want;
}

static ds_status variables(ds_dac *dac, void *frame, bool arguments, ds_dac_var_fn fn, void *ctx) {
  uint32_t count = 0;
  if (DS_VCALL(frame, arguments ? FRAME_GET_NUM_ARGUMENTS : FRAME_GET_NUM_LOCALS, count_fn)(frame, &count) < 0)
    return DS_OK; /* no variable information for this frame */
  ds_status rc = DS_OK;
  for (uint32_t i = 0; i < count && i < MAX_FRAME_VARIABLES && rc == DS_OK; i++) {
    void *value = NULL;
    uint16_t wide[VAR_NAME_CHARS] = {0};
    uint32_t needed = 0;
    char name[3 * VAR_NAME_CHARS];
    HRESULT hr = DS_VCALL(frame, arguments ? FRAME_GET_ARGUMENT : FRAME_GET_LOCAL, var_fn)(frame, i, &value,
                                                                                         VAR_NAME_CHARS, &needed, wide);
    ds__dac_took(dac, value);
    wide[VAR_NAME_CHARS - 1] = 0;
    ds_utf16_to_utf8(wide, VAR_NAME_CHARS, true, name, sizeof name);
    ds_dac_var var = {.is_argument = arguments, .index = i, .name = hr >= 0 ? name : ""};
    if (hr >= 0 && value)
      read_value(value, &var);
    ds__dac_release(dac, value);
    rc = fn(ctx, &var);
  }
  return rc;
}

ds_status ds_dac_frame_variables(ds_dac *dac, const ds_dac_frame *frame, uint32_t *il_offset, ds_dac_var_fn fn,
                                 void *ctx, ds_error *err) {
  *il_offset = UINT32_MAX;
  void *f = NULL, *method = NULL;
  if (frame->frame_address || !frame->walk)
    return ds_error_set(err, DS_E_NOT_FOUND, "not a managed method frame");
  HRESULT hr = DS_VCALL(frame->walk, DS__STACK_WALK_GET_FRAME, get_frame_fn)(frame->walk, &f);
  ds__dac_took(dac, f);
  if (hr < 0 || !f) {
    ds__dac_release(dac, f);
    return ds_error_set(err, DS_E_NOT_FOUND, "not a managed method frame");
  }
  hr = DS_VCALL(f, DS__FRAME_GET_METHOD_INSTANCE, method_fn)(f, &method);
  ds__dac_took(dac, method);
  if (hr >= 0 && method) {
    uint32_t needed = 0, offset = 0;
    if (DS_VCALL(method, METHOD_INSTANCE_GET_IL_OFFSETS_BY_ADDRESS, il_offsets_fn)(method, frame->ip, 1, &needed,
                                                                                   &offset) >= 0 && needed >= 1)
      *il_offset = offset;
  }
  ds_status rc = variables(dac, f, true, fn, ctx);
  if (rc == DS_OK)
    rc = variables(dac, f, false, fn, ctx);
  ds__dac_release(dac, method);
  ds__dac_release(dac, f);
  return rc;
}

enum { PROCESS_START_ENUM_METHODS_BY_ADDRESS = 27, PROCESS_ENUM_METHOD_BY_ADDRESS = 28,
       PROCESS_END_ENUM_METHODS_BY_ADDRESS = 29 };
enum { METHOD_INSTANCE_GET_IL_ADDRESS_MAP = 14 };

/* CLRDATA_IL_ADDRESS_MAP */
typedef struct il_address_map {
  uint32_t il_offset, pad;
  uint64_t start, end;
  uint32_t type, pad2;
} il_address_map;
_Static_assert(sizeof(il_address_map) == 32, "CLRDATA_IL_ADDRESS_MAP layout");

ds_status ds_dac_il_map(ds_dac *dac, uint64_t code_address, ds_dac_il_entry *out, size_t max, size_t *count,
                        ds_error *err) {
  typedef HRESULT (*start_fn)(void *, uint64_t, void *, uint64_t *);
  typedef HRESULT (*next_fn)(void *, uint64_t *, void **);
  typedef HRESULT (*end_fn)(void *, uint64_t);
  typedef HRESULT (*map_fn)(void *, uint32_t, uint32_t *, il_address_map *);
  *count = 0;
  uint64_t handle = 0;
  void *method = NULL;
  HRESULT hr = DS_VCALL(dac->process, PROCESS_START_ENUM_METHODS_BY_ADDRESS, start_fn)(dac->process, code_address,
                                                                                        NULL, &handle);
  if (hr != DS_S_OK)
    return ds_error_set(err, DS_E_NOT_FOUND, "no method instance at 0x%llx", (unsigned long long)code_address);
  hr = DS_VCALL(dac->process, PROCESS_ENUM_METHOD_BY_ADDRESS, next_fn)(dac->process, &handle, &method);
  ds__dac_took(dac, method);
  DS_VCALL(dac->process, PROCESS_END_ENUM_METHODS_BY_ADDRESS, end_fn)(dac->process, handle);
  if (hr != DS_S_OK || !method) {
    ds__dac_release(dac, method);
    return ds_error_set(err, DS_E_NOT_FOUND, "no method instance at 0x%llx", (unsigned long long)code_address);
  }
  uint32_t needed = 0;
  ds_status rc = DS_OK;
  il_address_map *maps = NULL;
  hr = DS_VCALL(method, METHOD_INSTANCE_GET_IL_ADDRESS_MAP, map_fn)(method, 0, &needed, NULL);
  if (hr < 0 || needed == 0)
    rc = ds_error_set(err, DS_E_NOT_FOUND, "no IL map for the method at 0x%llx", (unsigned long long)code_address);
  else if (!(maps = calloc(needed, sizeof *maps)))
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for an IL map of %u entries", needed);
  else if ((hr = DS_VCALL(method, METHOD_INSTANCE_GET_IL_ADDRESS_MAP, map_fn)(method, needed, &needed, maps)) < 0)
    rc = ds__hr_error(err, hr, "GetILAddressMap");
  for (uint32_t i = 0; rc == DS_OK && i < needed && *count < max; i++)
    out[(*count)++] = (ds_dac_il_entry){maps[i].il_offset, maps[i].start, maps[i].end};
  free(maps);
  ds__dac_release(dac, method);
  return rc;
}
