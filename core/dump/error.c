/* error.c: filling ds_error records (see error.h). */
#include "dumpscope/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ds_status ds_error_set(ds_error *err, ds_status code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

ds_status ds_error_wrap(ds_error *err, const char *fmt, ...) {
  if (!err)
    return DS_E_ARG;
  char prefix[DS_ERROR_MESSAGE_MAX], old[DS_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->message, sizeof old);
  snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
  return err->code;
}

const char *ds_status_name(ds_status code) {
  switch (code) {
  case DS_OK: return "ok";
  case DS_E_ARG: return "invalid_argument";
  case DS_E_IO: return "io_error";
  case DS_E_NOMEM: return "out_of_memory";
  case DS_E_LIMIT: return "limit_exceeded";
  case DS_E_FORMAT: return "not_a_dump";
  case DS_E_TRUNCATED: return "truncated";
  case DS_E_CORRUPT: return "corrupt";
  case DS_E_UNSUPPORTED: return "unsupported";
  case DS_E_NOT_DOTNET: return "not_dotnet";
  case DS_E_READ: return "memory_not_in_dump";
  case DS_E_NO_DAC: return "dac_not_found";
  case DS_E_DAC: return "dac_error";
  case DS_E_MID_GC: return "heap_not_walkable";
  case DS_E_NOT_FOUND: return "not_found";
  case DS_E_NETWORK: return "network_error";
  }
  return "unknown";
}
