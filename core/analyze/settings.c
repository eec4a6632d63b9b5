/*
 * settings.c: the table of finding thresholds (findings.h) and the parser of user overrides.
 *
 * Part of ds_core_base (no DAC): the daemon checks its finding_settings key against this table
 * at start-up, the worker and the CLI parse --set with it, and the analysis reads the values.
 */
#include "dumpscope/findings.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KIB 1024.0
#define MIB (1024.0 * 1024.0)

/* One row per ds_setting_id, in its order. */
static const ds_setting_info settings[DS_SET_COUNT_] = {
    [DS_SET_CONTENTION_WAITERS] = {"contention_waiters", 3, 1, 1e6, "count",
                                   "threads waiting on one lock that make a \"Lock contention\" warning"},
    [DS_SET_FINALIZER_READY] = {"finalizer_ready_objects", 1000, 1, 1e12, "count",
                                "objects ready for finalization (the f-reachable queue) that make a warning"},
    [DS_SET_UNDISPOSED] = {"undisposed_objects", 100, 1, 1e12, "count",
                           "instances of one finalizable type registered for finalization and never disposed "
                           "(GC.SuppressFinalize not called) that make a warning"},
    [DS_SET_HTTP_CLIENTS] = {"http_clients", 10, 1, 1e9, "count",
                             "live HttpClient or SocketsHttpHandler instances that make a socket-exhaustion warning"},
    [DS_SET_APP_SHARE_PERCENT] = {"app_share_percent", 50, 1, 100, "percent",
                                  "share of gen 2 or of the LOH (live and dead objects, free space excluded) held "
                                  "by application types (not System.* or Microsoft.*) that makes a warning"},
    [DS_SET_APP_SHARE_MIN_BYTES] = {"app_share_min_bytes", 8 * MIB, 0, 1e15, "bytes",
                                    "smallest gen 2 or LOH the application-types check looks at"},
    [DS_SET_FRAGMENTATION_PERCENT] = {"fragmentation_percent", 10, 1, 100, "percent",
                                      "free space as a share of a generation that makes a fragmentation warning"},
    [DS_SET_FRAGMENTATION_MIN_BYTES] = {"fragmentation_min_bytes", 1 * MIB, 0, 1e15, "bytes",
                                        "bytes of free space held open by pinned objects (gaps right before them) in a generation "
                                        "before its fragmentation is reported"},
    [DS_SET_PINNED_HANDLES] = {"pinned_handles", 100, 1, 1e9, "count",
                               "pinned and async-pinned GC handles that make a warning"},
    [DS_SET_LARGE_STRING_BYTES] = {"large_string_bytes", 85000, 1, 1e15, "bytes",
                                   "size from which a string counts as large (85000: it lives on the LOH)"},
    [DS_SET_DUPLICATE_STRING_BYTES] = {"duplicate_string_bytes", 64 * KIB, 1, 1e15, "bytes",
                                       "bytes wasted by strings with the same value that make a finding"},
    [DS_SET_HEAP_EXCEPTIONS] = {"heap_exceptions", 1, 1, 1e12, "count",
                                "exception objects on the heap (besides the runtime's preallocated ones) that make "
                                "a finding"},
    [DS_SET_LEAK_SUSPECT_PERCENT] = {"leak_suspect_percent", 10, 1, 100, "percent",
                                     "share of the live heap one object or type must retain to be a leak suspect"},
    [DS_SET_LEAK_SUSPECT_MIN_BYTES] = {"leak_suspect_min_bytes", 1 * MIB, 0, 1e15, "bytes",
                                       "bytes a leak suspect must retain at least (small heaps have no leak)"},
    [DS_SET_BLOCKED_POOL_THREADS] = {"blocked_pool_threads", 2, 1, 1e6, "count",
                                     "blocked thread pool workers (the runtime's gate and wait threads are not "
                                     "workers) that make a blocked-pool warning, or a starvation error when every "
                                     "worker is blocked"},
    [DS_SET_BLOCKED_POOL_PERCENT] = {"blocked_pool_percent", 25, 1, 100, "percent",
                                     "share of the thread pool's workers blocked that makes a blocked-pool warning"},
    [DS_SET_LEAK_SUSPECT_WARNING_BYTES] = {"leak_suspect_warning_bytes", 32 * MIB, 0, 1e15, "bytes",
                                           "bytes a leak suspect retains from which it is a warning (below: "
                                           "information; healthy processes keep small heaps in a few caches)"},
};

size_t ds_setting_count(void) { return DS_SET_COUNT_; }

const ds_setting_info *ds_setting_at(size_t id) { return id < DS_SET_COUNT_ ? &settings[id] : NULL; }

void ds_finding_settings_init(ds_finding_settings *s) {
  for (size_t i = 0; i < DS_SET_COUNT_; i++)
    s->value[i] = settings[i].def;
}

/* A number of the setting's unit: decimal, and for bytes an optional K, M or G (powers of 1024). */
static bool parse_value(const ds_setting_info *info, const char *text, size_t len, double *out) {
  char buf[64];
  if (len == 0 || len >= sizeof buf)
    return false;
  memcpy(buf, text, len);
  buf[len] = '\0';
  if (!isdigit((unsigned char)buf[0]) && buf[0] != '.')
    return false;
  errno = 0;
  char *end = NULL;
  double v = strtod(buf, &end);
  if (errno || end == buf || !isfinite(v))
    return false;
  if (*end && strcmp(info->unit, "bytes") == 0) {
    switch (toupper((unsigned char)*end)) {
    case 'K': v *= KIB; break;
    case 'M': v *= MIB; break;
    case 'G': v *= 1024.0 * MIB; break;
    default: return false;
    }
    end++;
    if (toupper((unsigned char)*end) == 'B')
      end++;
  }
  if (*end || v < info->min || v > info->max)
    return false;
  *out = v;
  return true;
}

ds_status ds_finding_settings_apply(ds_finding_settings *s, const char *text, ds_error *err) {
  ds_finding_settings next = *s;
  const char *p = text ? text : "";
  while (*p) {
    while (*p == ',' || isspace((unsigned char)*p))
      p++;
    if (!*p)
      break;
    size_t item = strcspn(p, ", \t\n");
    const char *eq = memchr(p, '=', item);
    if (!eq)
      return ds_error_set(err, DS_E_ARG, "finding setting \"%.*s\" needs a value (name=value)", (int)(item > 64 ? 64 : item), p);
    size_t name_len = (size_t)(eq - p);
    size_t id = 0;
    while (id < DS_SET_COUNT_ && (strlen(settings[id].name) != name_len || memcmp(settings[id].name, p, name_len) != 0))
      id++;
    if (id == DS_SET_COUNT_)
      return ds_error_set(err, DS_E_ARG, "unknown finding setting \"%.*s\" (dumpscope settings lists them)",
                          (int)(name_len > 64 ? 64 : name_len), p);
    const ds_setting_info *info = &settings[id];
    size_t value_len = item - name_len - 1;
    if (!parse_value(info, eq + 1, value_len, &next.value[id]))
      return ds_error_set(err, DS_E_ARG, "finding setting %s: \"%.*s\" is not a %s from %g to %g", info->name,
                          (int)(value_len > 64 ? 64 : value_len), eq + 1,
                          strcmp(info->unit, "percent") == 0 ? "percentage" : "number", info->min, info->max);
    p += item;
  }
  *s = next;
  return DS_OK;
}
