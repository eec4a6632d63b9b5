/*
 * findings.h: the thresholds of the automatic findings, in one table (DebugDiag's rule settings).
 *
 * Every number a finding is compared against is a named setting here, with its default, its
 * bounds and a sentence saying what it means; nothing else in dumpscope hard-codes one. A user
 * overrides settings by name: `dumpscope analyze DUMP --set name=value`, the worker's
 * `--set name=value[,name=value]`, and the daemon's `finding_settings` key, which it passes on to
 * every worker. The analysis records the values it used in the index (DS_SEC_SETTINGS), so a
 * report always says which thresholds produced it.
 *
 * Pure data and parsing: no DAC, so the daemon can check a configured value at start-up.
 */
#ifndef DUMPSCOPE_FINDINGS_H
#define DUMPSCOPE_FINDINGS_H

#include <stddef.h>

#include "dumpscope/error.h"

typedef enum ds_setting_id {
  DS_SET_CONTENTION_WAITERS = 0,
  DS_SET_FINALIZER_READY,
  DS_SET_UNDISPOSED,
  DS_SET_HTTP_CLIENTS,
  DS_SET_APP_SHARE_PERCENT,
  DS_SET_APP_SHARE_MIN_BYTES,
  DS_SET_FRAGMENTATION_PERCENT,
  DS_SET_FRAGMENTATION_MIN_BYTES,
  DS_SET_PINNED_HANDLES,
  DS_SET_LARGE_STRING_BYTES,
  DS_SET_DUPLICATE_STRING_BYTES,
  DS_SET_HEAP_EXCEPTIONS,
  DS_SET_LEAK_SUSPECT_PERCENT,
  DS_SET_LEAK_SUSPECT_MIN_BYTES,
  DS_SET_BLOCKED_POOL_THREADS,
  DS_SET_BLOCKED_POOL_PERCENT,
  DS_SET_LEAK_SUSPECT_WARNING_BYTES,
  DS_SET_COUNT_
} ds_setting_id;

/* One row of the table. */
typedef struct ds_setting_info {
  const char *name;          /* what the user types: "undisposed_objects" */
  double def, min, max;      /* default and accepted range */
  const char *unit;          /* "count", "percent" or "bytes" (bytes take K, M, G suffixes) */
  const char *meaning;       /* one sentence */
} ds_setting_info;

size_t ds_setting_count(void);
/* The row of a setting, NULL past the end. */
const ds_setting_info *ds_setting_at(size_t id);

/* The values one analysis uses. */
typedef struct ds_finding_settings {
  double value[DS_SET_COUNT_];
} ds_finding_settings;

/* Every setting at its default. */
void ds_finding_settings_init(ds_finding_settings *settings);
/* Applies "name=value" items separated by commas (or whitespace). DS_E_ARG naming the setting
 * when a name is unknown or a value is not a number in its range; settings is unchanged then. */
ds_status ds_finding_settings_apply(ds_finding_settings *settings, const char *text, ds_error *err);

#endif
