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

#include <stdio.h>

#include "dumpscope/analysis.h"
#include "dumpscope/dominators.h"
#include "dumpscope/findings.h"
#include "dumpscope/roots.h"

/* One phase of the build as measured: wall time, and the process's memory when it ended
 * (resident, of which anonymous, and the resident high-water mark so far). */
#define DS_BUILD_PHASES_MAX 24
typedef struct ds_build_phase {
  const char *name;
  double ms;
  double cpu_ms;             /* CPU time of the process (all threads): steadier than ms on a busy machine */
  uint64_t rss_bytes, anon_bytes, peak_rss_bytes;
} ds_build_phase;

typedef struct ds_build_stats {
  uint64_t objects, edges, roots, live_objects;
  size_t heap_errors;
  bool heap_not_walkable;    /* taken during a GC: indexed without the heap (threads, stacks, handles, locks) */
  double walk_ms, collect_ms, types_ms, edges_ms, reverse_ms, roots_ms, locks_ms, live_ms, dominators_ms, findings_ms,
      write_ms, total_ms;
  size_t dominators_bytes;   /* the dominator computation's working memory, results included */
  ds_build_phase phases[DS_BUILD_PHASES_MAX]; /* in the order they ran */
  size_t phase_count;
  uint64_t memory_budget;    /* the budget the build ran under (0: none) */
  uint64_t spilled_bytes;    /* written to temporary files because of it */
  uint64_t recycled_bytes;   /* arrays' pages taken over from arrays freed before them */
  /* What runs beside the phases, which the phase table cannot show: the inversion's two passes,
   * and the dominator search on its own thread (from its start, ms since the build's, through its
   * steps: numbering, semidominators, immediate dominators, retained sizes, per-type sizes). The
   * search ends the critical path: the phases after its start wait for it only at "dominators". */
  double reverse_count_ms, reverse_fill_ms;
  double dominators_start_ms, dominators_step_ms[DS_DOM_STEPS];
  bool dominators_beside;    /* on a thread of its own (else in its phase: under a memory budget) */
} ds_build_stats;

/* roots NULL: collect them here (after the walk, which the thread-static search profits from).
 * The findings use the default thresholds. */
ds_status ds_index_build(ds_analysis *analysis, const ds_root_set *roots, const char *path,
                         ds_build_stats *stats, ds_error *err);
/* The same with the findings' thresholds given (NULL: the defaults); the index records them. */
ds_status ds_index_build_with(ds_analysis *analysis, const ds_root_set *roots, const ds_finding_settings *settings,
                              const char *path, ds_build_stats *stats, ds_error *err);

/* The same under a memory budget in bytes (0: none, as above). With a budget the build keeps its
 * large working arrays in temporary files beside the index (mapped, so the kernel can write them
 * back and drop them) and inverts the reference graph by sorted runs merged on disk; the index is
 * the same as without. For dumps whose build would not fit in the worker's memory. */
ds_status ds_index_build_budget(ds_analysis *analysis, const ds_root_set *roots, const ds_finding_settings *settings,
                                uint64_t memory_budget, const char *path, ds_build_stats *stats, ds_error *err);

/* The first root path of one object without the full index: an index that answers only the
 * root-path query for target (ds_query_root_paths, not --all: the same answer as the full index
 * gives), built from the references of just the objects a breadth-first search from the roots
 * expands before it meets the target. No locks, dominators, findings or other queries: delete
 * it once it has answered, never keep it as the dump's index. Its sections carry no checksums
 * (it is read once, at once, by this process): open it with ds_query_open_unchecked. */
ds_status ds_index_build_root_search(ds_analysis *analysis, uint64_t target, const char *path, ds_build_stats *stats,
                                     ds_error *err);
/* Prints the per-phase table of stats (time, resident and anonymous memory after each phase, the
 * resident high-water mark) to out: what DUMPSCOPE_BUILD_PHASES=1 shows after `dumpscope index`. */
void ds_build_stats_print(const ds_build_stats *stats, FILE *out);

#endif
