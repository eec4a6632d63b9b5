/*
 * query.h: answers from a heap index and the dump's memory only; never the DAC (design rule 2).
 *
 * Each query returns a JSON document shaped the way the API serves it (addresses as "0x..."
 * strings, sizes in bytes), so the CLI and the HTTP API print the same thing. Errors come back
 * as DS_E_* codes with a message: DS_E_NOT_FOUND for an address that is not an object, DS_E_ARG
 * for bad parameters, DS_E_CORRUPT when a section of the index fails its checksum (rebuild).
 */
#ifndef DUMPSCOPE_QUERY_H
#define DUMPSCOPE_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dumpscope/dump.h"
#include "dumpscope/error.h"
#include "dumpscope/index.h"

typedef struct ds_query ds_query;

/* Opens an index and (optionally) the dump it describes for reading values. dump_path NULL: the
 * path recorded in the index, if it still exists; values then read as unavailable otherwise. */
ds_status ds_query_open(const char *index_path, const char *dump_path, ds_query **out, ds_error *err);
/* The same over an index this process has just written without checksums
 * (ds_index_open_unchecked): the root search's. */
ds_status ds_query_open_unchecked(const char *index_path, const char *dump_path, ds_query **out, ds_error *err);
void ds_query_close(ds_query *q);
ds_index *ds_query_index(ds_query *q);

/* Object lookup: index of the object starting at addr, or (interior) containing it. */
uint32_t ds_query_find(ds_query *q, uint64_t addr, bool interior);

typedef enum ds_sort { DS_SORT_SIZE = 0, DS_SORT_COUNT, DS_SORT_NAME } ds_sort;
typedef enum ds_liveness { DS_LIVE_ANY = 0, DS_LIVE_ONLY, DS_DEAD_ONLY } ds_liveness;

typedef struct ds_object_filter {
  int gen;                   /* -1 all */
  const char *type_text;     /* substring of the type name (SOS or ClrMD spelling) */
  bool type_exact;
  uint64_t min_size, max_size; /* max 0 = no limit */
  bool free_only, no_strings;
  ds_liveness liveness;
} ds_object_filter;

/* Per-type statistics of the objects passing the filter ({types:[...], object_count, ...}). */
ds_status ds_query_stats(ds_query *q, const ds_object_filter *filter, ds_sort sort, size_t limit, json_t **out,
                         ds_error *err);
/* The objects passing the filter, in address order, paged: start after `after` (0 = start). */
ds_status ds_query_objects(ds_query *q, const ds_object_filter *filter, uint64_t after, size_t limit,
                           json_t **out, ds_error *err);
/* One object: type, size, generation, liveness, fields with values / array elements (paged). */
ds_status ds_query_object(ds_query *q, uint64_t addr, size_t element_offset, size_t element_limit, json_t **out,
                          ds_error *err);
/* Who references addr (with the field) and what it references. */
ds_status ds_query_refs(ds_query *q, uint64_t addr, size_t limit, json_t **out, ds_error *err);
/* Shortest path from a root to addr; all = one shortest path per distinct root (up to limit). */
ds_status ds_query_root_paths(ds_query *q, uint64_t addr, bool all, size_t limit, json_t **out, ds_error *err);
/* Generation, heap and segment of an address. */
ds_status ds_query_gcgen(ds_query *q, uint64_t addr, json_t **out, ds_error *err);
/* What lives at an address (SOSEX !mln): {kind, description, ...} with kind object (interior
 * addresses resolve to the object and its field or element), free, allocation_context, gc_heap,
 * handle, finalizer_queue, stack (thread, frame), jit_code (method), loader_heap, module (path,
 * segment, section) or unknown. */
ds_status ds_query_memory(ds_query *q, uint64_t addr, json_t **out, ds_error *err);
/* SOSEX !mdt: target is an object address, a MethodTable or a type name (SOS or ClrMD
 * spelling). The type's instance fields (offsets, field types; value types expanded inline),
 * statics with their values, and the methods it defines; for an object also {object: fields with
 * values, references followed depth levels (at most DS_MAX_MDT_DEPTH), arrays' first `elements`
 * elements}. DS_E_NOT_FOUND when the target is none of these. */
ds_status ds_query_mdt(ds_query *q, const char *target, unsigned depth, size_t elements, json_t **out, ds_error *err);

enum { DS_SEARCH_TYPES = 1, DS_SEARCH_FIELDS = 2, DS_SEARCH_METHODS = 4, DS_SEARCH_ALL = 7 };
/* SOSEX !mx: types, fields ("Type.field" or the bare name) and methods ("Ns.Type.Method",
 * with or without its parameter list) whose names match pattern (case-insensitive, '*' any run,
 * '?' one character), at most limit of each, with their totals. */
ds_status ds_query_search(ds_query *q, const char *pattern, unsigned kinds, size_t limit, json_t **out,
                          ds_error *err);
/* GC handles by kind, with their objects; pinned ones flagged. */
ds_status ds_query_handles(ds_query *q, size_t limit, json_t **out, ds_error *err);
/* Finalizer queue: ready = false: registered objects; true: ready for finalization (f-reachable). */
ds_status ds_query_finalizer(ds_query *q, bool ready, bool stat_only, size_t limit, json_t **out, ds_error *err);
/* The same, only the objects of generation gen (-1: all) (SOSEX !finq GEN). */
ds_status ds_query_finalizer_gen(ds_query *q, bool ready, bool stat_only, int gen, size_t limit, json_t **out,
                                 ds_error *err);
/* Objects on a thread's stack, by frame (thread = OS id, managed id, or index). */
ds_status ds_query_stack_objects(ds_query *q, uint32_t thread, json_t **out, ds_error *err);
/* Free space per generation and the pinned objects that hold gaps open. */
ds_status ds_query_fragmentation(ds_query *q, size_t limit, json_t **out, ds_error *err);
/* The same, the pinned gap holders limited to objects of MethodTable holder_mt (0: all) (SOSEX
 * !mfrag -mt:MT); pinned_gap_bytes sums the gaps they hold open. */
ds_status ds_query_fragmentation_of(ds_query *q, size_t limit, uint64_t holder_mt, json_t **out, ds_error *err);
/* Strings: substring search and minimum length; duplicates = grouped by value with waste. */
ds_status ds_query_strings(ds_query *q, const char *contains, size_t min_length, bool duplicates, size_t limit,
                           json_t **out, ds_error *err);
/* The string literals of one module (SOSEX !strings ModuleAddr): module is its file name (with or
 * without extension) or path; the literals of its #US metadata heap containing `contains`, at
 * least min_length chars, at most limit, each with the heap string object of that value (or null). */
ds_status ds_query_module_strings(ds_query *q, const char *module, const char *contains, size_t min_length,
                                  size_t limit, json_t **out, ds_error *err);
/* Managed threads: ids, state words, GC mode, lock count, exception in flight, allocation
 * context, top frame and what each waits on (SOS !clrthreads). */
ds_status ds_query_threads(ds_query *q, json_t **out, ds_error *err);
/* One thread's managed stack (runtime frames marked) and its wait (SOSEX !mk, SOS !clrstack). */
ds_status ds_query_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err);
/* A thread's managed frames with their IL offsets and source lines, arguments and locals (names
 * from metadata and the PDB, else local_N; declared types; references shown as the object), all
 * frames or only the one at depth (>= 0) (SOSEX !mdv, !mframe; SOS !clrstack -a). */
ds_status ds_query_frames(ds_query *q, uint32_t thread, int64_t depth, json_t **out, ds_error *err);
/* The disassembly of a managed method's native code read from the dump (SOSEX !mu, !muf): each
 * instruction with its IL offset and source line (the index's code map) and the method a call or
 * jump goes to. target: an address inside the code, or a method's name ("Ns.Type.Method", with or
 * without its signature). around: UINT32_MAX for the whole method, else only that many
 * instructions on each side of the target address. DS_E_NOT_FOUND when no recorded method's
 * code holds the address or bears the name. */
ds_status ds_query_disasm(ds_query *q, const char *target, uint32_t around, json_t **out, ds_error *err);
/* A thread's mixed stack (SOSEX !mk): its native frames unwound from the core (CFI of the mapped
 * images; named from their ELF symbol tables) down to managed code, and its managed frames from
 * the index, runtime frames marked, by stack pointer. */
ds_status ds_query_mixed_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err);
/* Monitors (sync blocks, thin locks) held or waited on, and the instances of the other lock kinds
 * in use (Lock, ReaderWriterLockSlim, SemaphoreSlim, ManualResetEventSlim, Barrier, CountdownEvent, a
 * joined Thread: the analysis' lock-kind table decides which) with their state (SOSEX !mlocks, !rwlock). */
ds_status ds_query_locks(ds_query *q, json_t **out, ds_error *err);
/* What each blocked thread waits on and who holds it (SOSEX !mwaits). */
ds_status ds_query_waits(ds_query *q, json_t **out, ds_error *err);
/* Wait-for cycles (deadlocks) with their members' locks and stacks, and contention that is not
 * a deadlock (SOSEX !dlk). */
ds_status ds_query_deadlocks(ds_query *q, json_t **out, ds_error *err);
/* Findings with severity, description and recommendation: deadlocks, a blocked finalizer thread,
 * thread pool threads blocked on tasks (starvation), many threads waiting on one lock. */
ds_status ds_query_findings(ds_query *q, json_t **out, ds_error *err);
/* The automatic analysis report (dumpscope analyze): a summary of the dump, its heap by generation
 * and its threads; the findings, most severe first; top types by size and by count for the heap and
 * each generation; the LOH's largest objects; strings; exceptions; the thresholds used. Built
 * from sections the analysis stored: O(types + LOH objects + findings). */
ds_status ds_query_report(ds_query *q, json_t **out, ds_error *err);

/* Whether the index's findings were computed with exactly these thresholds (every setting of the
 * table recorded with the same value). False for an index without them or with a damaged section:
 * such an index is rebuilt by whoever wants other thresholds (the CLI's --set, the daemon's
 * finding_settings). */
struct ds_finding_settings;
bool ds_query_settings_equal(ds_query *q, const struct ds_finding_settings *want);
/* The dominator tree: by_type false: the objects parent (an address; 0: the roots) immediately
 * dominates, largest retained size first; by_type true: types by the bytes their instances
 * dominate. At most limit of them, with how many there are. */
ds_status ds_query_dominators(ds_query *q, uint64_t parent, bool by_type, size_t limit, json_t **out, ds_error *err);
/* Two dumps of one application compared (before, after): per type (matched by name) instances,
 * bytes and retained bytes in each and their growth, largest growth first by sort; limit rows. */
typedef enum ds_diff_sort { DS_DIFF_BYTES = 0, DS_DIFF_COUNT, DS_DIFF_RETAINED } ds_diff_sort;
ds_status ds_query_diff(ds_query *before, ds_query *after, ds_diff_sort sort, size_t limit, json_t **out,
                        ds_error *err);
/* The GC heap: per generation its segments/regions, reserved bytes, objects, object, free and live
 * bytes; and every segment (heap, generation, range, objects) (SOS !eeheap -gc). */
ds_status ds_query_heap(ds_query *q, json_t **out, ds_error *err);
/* DS_OK when the index holds the heap; DS_E_MID_GC (DS_MID_GC_MESSAGE) when the dump was taken
 * during a garbage collection and the index holds only what needs no heap walk. */
ds_status ds_query_heap_walkable(ds_query *q, ds_error *err);
/* Summary of the index: counts, GC mode, heap sizes per generation. */
ds_status ds_query_summary(ds_query *q, json_t **out, ds_error *err);

#endif
