/*
 * error.h: result codes and the error record every core/ function fills.
 *
 * Every fallible function returns a ds_status and, on failure, writes a message a user can act
 * on into a caller-provided ds_error ("dump is truncated: segment 14 of 52 extends past the end
 * of the file"). The code says what kind of failure it is, so callers (the CLI, the API) can map
 * it to an exit code or an HTTP status without parsing text.
 */
#ifndef DUMPSCOPE_ERROR_H
#define DUMPSCOPE_ERROR_H

#include <stddef.h>

typedef enum ds_status {
  DS_OK = 0,
  DS_E_ARG,            /* the caller passed something invalid */
  DS_E_IO,             /* open/read/mmap of a local file failed */
  DS_E_NOMEM,          /* allocation failed */
  DS_E_LIMIT,          /* input exceeds a cap in limits.h */
  DS_E_FORMAT,         /* not a file of the expected format at all */
  DS_E_TRUNCATED,      /* the file ends before the data it describes */
  DS_E_CORRUPT,        /* structurally invalid data */
  DS_E_UNSUPPORTED,    /* valid, but a kind of dump we do not analyse (minidump, arm64, .NET 5) */
  DS_E_NOT_DOTNET,     /* a valid core of a process without the CoreCLR runtime */
  DS_E_READ,           /* target memory not present in the dump */
  DS_E_NO_DAC,         /* no matching libmscordaccore.so could be found */
  DS_E_DAC,            /* the DAC failed (HRESULT in the message) */
  DS_E_MID_GC,         /* taken while a GC was running: the heap cannot be walked ("heap_not_walkable") */
  DS_E_NOT_FOUND,      /* the requested object/type/thread does not exist */
  DS_E_NETWORK,        /* a download failed */
} ds_status;

#define DS_ERROR_MESSAGE_MAX 512

typedef struct ds_error {
  ds_status code;
  char message[DS_ERROR_MESSAGE_MAX];
} ds_error;

/* Fills err (if not NULL) with code and a printf-style message; returns code. */
ds_status ds_error_set(ds_error *err, ds_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("loading DAC: <old message>"). */
ds_status ds_error_wrap(ds_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A stable lowercase identifier for the code ("truncated", "not_dotnet"), used in JSON. */
const char *ds_status_name(ds_status code);

/* What every refused heap question on a dump taken during a GC says (DS_E_MID_GC). */
#define DS_MID_GC_MESSAGE                                                                                  \
  "the dump was taken during a garbage collection: the heap cannot be walked; threads, stacks, handles " \
  "and locks are available"

#endif
