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
                                const ds_finding_settings *settings, FILE *progress_out, ds_build_stats *stats,
                                ds_error *err);

/* `dumpscope worker --dump PATH --index PATH [--dac PATH] [--offline] [--set name=value[,...]]...`:
 * the process exit code. */
int ds_worker_main(int argc, char **argv);

#endif
