/*
 * rootscan.h: collect a dump's roots (roots.h) through the DAC, in an analysis process.
 *
 * One pass gathers the managed threads, a managed stack walk of every live thread (frames with
 * method names), the GC's stack references attributed to those frames, every GC handle with its
 * kind, and the finalization queue of every GC heap. A thread whose walk fails, or a queue that
 * cannot be read, is noted in ds_root_set.warnings and the rest is still collected; only a
 * failure that leaves nothing trustworthy (no thread list, no handle table) fails the call.
 */
#ifndef DUMPSCOPE_ROOTSCAN_H
#define DUMPSCOPE_ROOTSCAN_H

#include "dumpscope/analysis.h"
#include "dumpscope/roots.h"

#include "dumpscope/limits.h" /* DS_MAX_ROOTS, DS_MAX_TOTAL_FRAMES */

/* Fills *out (free it with ds_root_set_free, also after a failure). */
ds_status ds_roots_collect(ds_analysis *analysis, ds_root_set *out, ds_error *err);

#endif
