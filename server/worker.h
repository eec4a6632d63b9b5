/*
 * worker.h: the analysis step shared by the CLI's `index` command and `dumpscope worker`.
 */
#ifndef DUMPSCOPE_SERVER_WORKER_H
#define DUMPSCOPE_SERVER_WORKER_H

#include <stdbool.h>
#include <stdio.h>

#include "dumpscope/build.h"
#include "dumpscope/dac.h"

/* Opens the dump, loads its DAC and writes its heap index to index_path (atomically), with the
 * findings' thresholds (NULL: the defaults). Progress lines go to progress_out when not NULL. */
ds_status ds_worker_build_index(const char *dump, const char *index_path, const ds_dac_search *search,
                                const ds_finding_settings *settings, uint64_t memory_budget, FILE *progress_out,
                                ds_build_stats *stats, ds_error *err);

/* Opens the dump, loads its DAC and writes the root-search index of the object at target to
 * index_path (ds_index_build_root_search: it answers that object's root path only, opened with
 * ds_query_open_unchecked). */
ds_status ds_worker_root_search(const char *dump, uint64_t target, const char *index_path, const ds_dac_search *search,
                                ds_build_stats *stats, ds_error *err);

/* The memory budget of an index build: given ("512M"; NULL: none given), else
 * DUMPSCOPE_MEMORY_BUDGET, else three quarters of the process's RLIMIT_DATA (the daemon's
 * worker_memory setting), else 0 (none). DS_E_ARG for a size that does not parse. */
ds_status ds_worker_memory_budget(const char *given, uint64_t *budget, ds_error *err);

/* `dumpscope worker --dump PATH --index PATH [--dac PATH] [--offline] [--memory-budget BYTES]
 * [--set name=value[,...]]...`:
 * the process exit code. */
int ds_worker_main(int argc, char **argv);

#endif
