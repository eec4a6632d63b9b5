/*
 * build.h: turn an analysed dump into its heap index file (analysis processes only).
 *
 * ds_index_build walks the heap, reads every object's references from its type's GC descriptor,
 * adds dependent-handle and loader-allocator edges, inverts the graph, resolves the roots, finds
 * the monitors, what every thread waits on, the locks in use, wait-for cycles, marks live objects,
 * makes the findings (findings.h holds their thresholds), and writes the index (index.h)
 * atomically to path.
 */
#ifndef DUMPSCOPE_BUILD_H
#define DUMPSCOPE_BUILD_H

#include "dumpscope/analysis.h"
#include "dumpscope/findings.h"
#include "dumpscope/roots.h"

typedef struct ds_build_stats {
  uint64_t objects, edges, roots, live_objects;
  size_t heap_errors;
  double walk_ms, collect_ms, types_ms, edges_ms, reverse_ms, roots_ms, locks_ms, live_ms, dominators_ms, findings_ms,
      write_ms, total_ms;
  size_t dominators_bytes;   /* the dominator computation's working memory, results included */
} ds_build_stats;

/* roots NULL: collect them here (after the walk, which the thread-static search profits from).
 * The findings use the default thresholds. */
ds_status ds_index_build(ds_analysis *analysis, const ds_root_set *roots, const char *path,
                         ds_build_stats *stats, ds_error *err);
/* The same with the findings' thresholds given (NULL: the defaults); the index records them. */
ds_status ds_index_build_with(ds_analysis *analysis, const ds_root_set *roots, const ds_finding_settings *settings,
                              const char *path, ds_build_stats *stats, ds_error *err);

#endif
