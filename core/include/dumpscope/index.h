/*
 * index.h: the heap index file: everything a query needs about a dump's heap, built once in an
 * analysis process and then opened (mmap + header check) by anything, with no DAC.
 *
 * Layout: a fixed header, a section table, then sections aligned to 64 bytes. Each section has a
 * size and a 64-bit checksum; the header and the table have their own. Opening checks the magic,
 * version, file size, the table and every section's bounds and element size, and the checksums
 * of the small sections; each large section's checksum is checked the first time a query touches
 * it (ds_index_require), so opening stays O(1) in the heap size while a damaged index is never
 * trusted. Every index read by queries is bounds-checked against the section sizes.
 *
 * The writer streams each section to "<path>.tmp.<pid>" as soon as the builder has it, then
 * writes the table and header, fsyncs and renames into place.
 */
#ifndef DUMPSCOPE_INDEX_H
#define DUMPSCOPE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

#define DS_INDEX_MAGIC "DSINDEX\0"
#define DS_INDEX_VERSION 8u

typedef enum ds_section_id {
  DS_SEC_INFO = 1,        /* ds_index_info */
  DS_SEC_OBJ_ADDR,        /* u64[N] object addresses, ascending */
  DS_SEC_OBJ_TYPE,        /* u32[N] type index */
  DS_SEC_OBJ_SIZE,        /* u32[N] size (UINT32_MAX: see BIG_SIZES) */
  DS_SEC_BIG_SIZES,       /* ds_index_big_size[] for sizes >= 4 GiB, by object */
  DS_SEC_OUT_OFF,         /* u32[N+1] CSR offsets of outgoing references */
  DS_SEC_OUT_EDGE,        /* u32[E] target object indices */
  DS_SEC_IN_OFF,          /* u32[N+1] CSR offsets of incoming references */
  DS_SEC_IN_EDGE,         /* u32[E] source object indices */
  DS_SEC_TYPES,           /* ds_index_type[T] */
  DS_SEC_FIELDS,          /* ds_index_field[] (types point into it) */
  DS_SEC_STRINGS,         /* string pool: NUL-terminated UTF-8, offsets from sections */
  DS_SEC_SEGMENTS,        /* ds_index_segment[] ascending */
  DS_SEC_ROOTS,           /* ds_index_root[] */
  DS_SEC_THREADS,         /* ds_index_thread[] */
  DS_SEC_FRAMES,          /* ds_index_frame[] */
  DS_SEC_FINALIZABLE,     /* u32[] objects registered for finalization, not yet ready */
  DS_SEC_LIVE,            /* u64[(N+63)/64] bit set: reachable from a root */
  DS_SEC_GEN_HIST,        /* ds_index_hist[] per (generation, type), sorted */
  DS_SEC_EXTRA_EDGES,     /* ds_index_extra_edge[]: dependent-handle and loader-allocator edges */
  DS_SEC_FREE,            /* u32[] free blocks (objects of the free type), ascending */
  DS_SEC_WAITS,           /* ds_index_wait[]: what each blocked thread waits on, by thread */
  DS_SEC_LOCKS,           /* ds_index_lock[]: lock instances in use (monitors first, by address) */
  DS_SEC_LOCK_VALUES,     /* ds_index_lock_value[]: the named state of each lock instance */
  DS_SEC_LOCK_WAITERS,    /* ds_index_waiter[]: thread lists of locks, deadlocks and findings */
  DS_SEC_DEADLOCKS,       /* ds_index_deadlock[]: wait-for cycles, then contention */
  DS_SEC_FINDINGS,        /* ds_index_finding[]: what a reader should look at first */
  DS_SEC_MEMORY_RANGES,   /* ds_index_memory_range[]: runtime memory outside the GC heap, by start */
  DS_SEC_FIELD_INFO,      /* ds_index_field_info[]: one per DS_SEC_FIELDS record, same order */
  DS_SEC_STATICS,         /* ds_index_static[]: static fields, by type */
  DS_SEC_METHODS,         /* ds_index_method[]: methods the types define, by type */
  DS_SEC_FRAME_INFO,      /* ds_index_frame_info[]: one per DS_SEC_FRAMES record, same order */
  DS_SEC_FRAME_VARS,      /* ds_index_frame_var[]: arguments and locals, by frame */
  DS_SEC_SETTINGS,        /* ds_index_setting[]: the finding thresholds the analysis used */
  DS_SEC_EVIDENCE,        /* ds_index_evidence[]: the types, objects and threads findings name */
  DS_SEC_REPORT,          /* ds_index_report: heap facts of the report (strings, exceptions, ...) */
  DS_SEC_IDOM,            /* u32[N] immediate dominator (UINT32_MAX: only the roots; or unreachable) */
  DS_SEC_RETAINED,        /* u64[N] retained size (0: unreachable) */
  DS_SEC_TYPE_RETAINED,   /* u64[T] bytes dominated by the type's instances */
  DS_SEC_SUSPECTS,        /* ds_index_suspect[]: leak suspects, largest first */
  DS_SEC_CODE_MAP,        /* ds_index_code_map[]: IL-to-native maps with source lines, by code and offset */
  DS_SEC_CALLEES,         /* ds_index_callee[]: methods recorded code calls through stubs, by MethodDesc */
  DS_SEC_COUNT_
} ds_section_id;

/* Fixed-size records (little-endian x86-64, no padding surprises: checked by static asserts). */
typedef struct ds_index_info {
  uint64_t object_count, edge_count, type_count, root_count;
  uint64_t heap_bytes, free_bytes, live_objects, live_bytes;
  uint32_t server_gc, regions, heap_count, gc_structures_valid;
  uint64_t free_mt, string_mt;
  uint32_t free_type, string_type;     /* type indices, UINT32_MAX if absent */
  uint32_t runtime_version;            /* string pool offset */
  uint32_t dump_path;                  /* string pool offset */
  uint64_t dump_size;
  uint64_t build_ms;
  uint32_t heap_error_count, warnings; /* warnings: string pool offset */
  uint64_t dump_identity;              /* ds_dump_identity of the dump it was built from */
} ds_index_info;

typedef struct ds_index_big_size {
  uint32_t object;
  uint32_t pad;
  uint64_t size;
} ds_index_big_size;

typedef struct ds_index_type {
  uint64_t mt;
  uint32_t name;             /* string pool offset (DAC/SOS spelling) */
  uint32_t base_size, component_size, flags; /* DS_TYPE_* */
  uint32_t field_start, field_count;         /* instance fields, in ds_index_field */
  uint32_t element_type;     /* arrays: CorElementType of elements */
  uint32_t element_type_index; /* arrays of objects/structs: element type's index, else UINT32_MAX */
  uint32_t element_size;     /* arrays: bytes per element */
  uint32_t pad;
} ds_index_type;

typedef struct ds_index_field {
  uint32_t name;             /* string pool offset */
  uint32_t type_name;        /* string pool offset */
  uint32_t offset;           /* from the object start (MT at 0) */
  uint32_t element_type;     /* CorElementType */
} ds_index_field;

typedef struct ds_index_segment {
  uint64_t start, end, descriptor;
  uint32_t heap;
  uint8_t gen, ephemeral, pad[2];
  uint32_t first_object, object_count; /* objects [first, first+count) lie in this range */
} ds_index_segment;

typedef struct ds_index_root {
  uint64_t address;          /* handle slot / stack slot / queue slot */
  uint64_t raw_object;       /* as reported (interior pointers keep their value) */
  uint32_t object;           /* containing object's index, UINT32_MAX if not in the heap */
  uint32_t secondary;        /* dependent handle target index, else UINT32_MAX */
  uint32_t kind;             /* ds_root_kind */
  uint32_t ref_count;
  uint32_t thread;           /* index into threads, UINT32_MAX */
  uint32_t frame;            /* index into frames, UINT32_MAX */
  uint8_t pinned, interior, is_root, pad;
  uint32_t static_field;     /* static and thread-static roots: the field's index in
                                DS_SEC_STATICS, UINT32_MAX when unknown */
} ds_index_root;

typedef struct ds_index_thread {
  uint64_t address;
  uint32_t os_id, managed_id, state;
  uint8_t alive, finalizer, cooperative, pad;
  uint32_t first_frame, frame_count;
  uint32_t lock_count, pad2;
  uint64_t exception;        /* exception object in flight (address), 0 if none */
  uint64_t alloc_ptr, alloc_limit;
} ds_index_thread;

typedef struct ds_index_frame {
  uint64_t sp, ip, frame_address;
  uint32_t thread, depth, method; /* method: string pool offset */
  uint32_t pad;
} ds_index_frame;

/* ---- threads and locks: built by the analysis (core/analyze/locks.c), only read by queries ----
 * Thread fields index the thread table, object fields the object table (UINT32_MAX: none), name
 * fields are string pool offsets (0: none). The reader checks every one of them at open. */

/* What a blocked thread waits on: one record per blocked thread, ascending by thread. */
typedef struct ds_index_wait {
  uint32_t thread;
  uint32_t kind;             /* string pool: "monitor", "lock", "reader-writer lock", "sleep", ... */
  uint32_t mode;             /* string pool: "read", "upgrade", "write"; 0 when the wait has none */
  uint32_t frame;            /* the blocking frame (index into frames) */
  uint32_t object;           /* the object waited on, UINT32_MAX when unknown */
  uint32_t holder;           /* the thread holding it, UINT32_MAX when none or unknown */
  uint32_t readers;          /* threads holding it for reading (with DS_WAIT_READERS) */
  uint32_t flags;            /* DS_WAIT_* */
} ds_index_wait;

#define DS_WAIT_READERS 1u   /* the kind records readers: report them */

/* A lock instance in use: a monitor (sync block or thin lock) or an object of a lock type. */
typedef struct ds_index_lock {
  uint64_t address;          /* the lock object */
  uint32_t object;           /* its index, UINT32_MAX when it is not in the heap */
  uint32_t kind;             /* string pool: "sync block", "thin lock", "lock", "semaphore", ... */
  uint32_t flags;            /* DS_LOCK_* */
  uint32_t pad;
  uint32_t first_value, value_count;   /* its state, in DS_SEC_LOCK_VALUES */
  uint32_t first_waiter, waiter_count; /* the threads waiting on it, in DS_SEC_LOCK_WAITERS */
} ds_index_lock;

#define DS_LOCK_MONITOR 1u   /* a monitor (listed apart from the other lock types) */

/* One named value of a lock's state, in the order it is reported. */
typedef struct ds_index_lock_value {
  uint32_t name;             /* string pool: "held_by", "recursion", "current_count", ... */
  uint32_t type;             /* ds_lock_value_type */
  int64_t value;             /* the number, the boolean, or the thread index (UINT32_MAX: none) */
} ds_index_lock_value;

typedef enum ds_lock_value_type {
  DS_VALUE_INT = 1,          /* a number */
  DS_VALUE_BOOL,             /* 0 or 1 */
  DS_VALUE_THREAD,           /* a thread (or none) */
  DS_VALUE_WAITERS,          /* the lock's waiters go here (value unused) */
  DS_VALUE_TYPE_COUNT_
} ds_lock_value_type;

/* A thread in a list: a lock's waiters, a cycle's members in order, a contention's waiters, a
 * finding's threads. */
typedef struct ds_index_waiter {
  uint32_t thread;
  uint32_t mode;             /* string pool: the mode it waits in; 0 none */
  uint32_t object;           /* cycle members: the object it holds that the previous member waits for */
  uint32_t pad;
} ds_index_waiter;

/* A wait-for cycle (a deadlock), or contention: a held object others wait for, outside every
 * cycle. */
typedef struct ds_index_deadlock {
  uint32_t type;             /* ds_deadlock_type */
  uint32_t object;           /* contention: the object waited for */
  uint32_t kind;             /* contention: string pool, the first waiter's kind of wait */
  uint32_t holder;           /* contention: the thread holding it */
  uint32_t first_waiter, waiter_count; /* cycle: its members; contention: its waiters */
} ds_index_deadlock;

typedef enum ds_deadlock_type {
  DS_DEADLOCK_CYCLE = 1,
  DS_DEADLOCK_CONTENTION,
  DS_DEADLOCK_TYPE_COUNT_
} ds_deadlock_type;

/* A finding: severity, title, description and recommendation as text, its details, and the
 * evidence it names. */
typedef struct ds_index_finding {
  uint32_t severity, title, description, recommendation; /* string pool */
  uint32_t details;          /* ds_finding_details */
  uint32_t ref;              /* CYCLE: index into DS_SEC_DEADLOCKS; THREAD: a thread */
  uint32_t object, holder;   /* LOCK: the object and the thread holding it */
  uint32_t first_waiter, waiter_count; /* THREADS, LOCK: the threads, in DS_SEC_LOCK_WAITERS */
  uint32_t code;             /* string pool: its stable name ("deadlock", "undisposed-objects") */
  uint32_t setting;          /* string pool: the threshold it compared against (0: none) */
  uint32_t first_evidence, evidence_count; /* in DS_SEC_EVIDENCE */
} ds_index_finding;

typedef enum ds_finding_details {
  DS_FINDING_NONE = 0,       /* no details */
  DS_FINDING_CYCLE,          /* a deadlock: the cycle */
  DS_FINDING_THREAD,         /* one thread and its wait */
  DS_FINDING_THREADS,        /* threads and their waits */
  DS_FINDING_LOCK,           /* an object, its holder and its waiters */
  DS_FINDING_DETAILS_COUNT_
} ds_finding_details;

/* A finding's severity, as DebugDiag grades them (the string pool holds the word). */
#define DS_SEVERITY_ERROR "error"
#define DS_SEVERITY_WARNING "warning"
#define DS_SEVERITY_INFORMATION "information"
#define DS_SEVERITY_NOTIFICATION "notification"

/* One thing a finding (or a report list) points at, with what it stands for. */
typedef struct ds_index_evidence {
  uint32_t kind;             /* ds_evidence_kind */
  uint32_t ref;              /* TYPE: type index; OBJECT: object index; THREAD: thread index */
  uint32_t label;            /* string pool: what it is here (an exception message, a string value); 0 none */
  uint32_t pad;
  uint64_t count, bytes;     /* the instances and bytes it stands for (0: not counted) */
} ds_index_evidence;

typedef enum ds_evidence_kind {
  DS_EVIDENCE_TYPE = 1,
  DS_EVIDENCE_OBJECT,
  DS_EVIDENCE_THREAD,
  DS_EVIDENCE_KIND_COUNT_
} ds_evidence_kind;

/* A threshold of the findings (findings.h) as the analysis used it. */
typedef struct ds_index_setting {
  uint32_t name;             /* string pool */
  uint32_t pad;
  double value;
} ds_index_setting;

/* Facts of the heap the report shows that the other sections do not hold. Evidence runs index
 * DS_SEC_EVIDENCE. */
typedef struct ds_index_report {
  uint64_t string_count, string_bytes;
  uint64_t large_string_count, large_string_bytes;   /* at least the large_string_bytes setting */
  uint64_t duplicate_groups, duplicate_strings, duplicate_wasted; /* values held by 2+ strings */
  uint64_t exception_count;          /* exception objects on the heap, preallocated ones excluded */
  uint64_t pinned_handles, finalizable, ready_for_finalization, undisposed;
  uint64_t committed_bytes, used_bytes; /* of the GC's segments or regions */
  uint32_t first_duplicate, duplicate_count; /* OBJECT: an instance; label: the value; count; bytes wasted */
  uint32_t first_large, large_count;         /* OBJECT: the largest strings */
  uint32_t first_exception, exception_count_groups; /* TYPE with label: message; count */
  uint32_t dump_kind;                /* ds_dump_kind */
  uint32_t gc_in_progress;           /* the GC's structures were not valid */
  double findings_ms;
  uint64_t reachable_objects, reachable_bytes; /* what the roots retain (the dominator tree's size) */
  double dominators_ms;
  uint64_t dominators_work_bytes;    /* working memory of the dominator computation */
} ds_index_report;

/* A leak suspect (MAT): one object, or the instances of one type, retaining a large share of the
 * live heap, with what it accumulates. */
typedef struct ds_index_suspect {
  uint32_t kind;             /* ds_suspect_kind */
  uint32_t ref;              /* OBJECT: the object; TYPE: the type */
  uint32_t accumulation;     /* OBJECT: where the retained size spreads out (an object), else UINT32_MAX */
  uint32_t description;      /* string pool: one sentence with the numbers */
  uint32_t first_group, group_count; /* DS_SEC_EVIDENCE: TYPE rows of what it accumulates */
  uint64_t retained;         /* bytes */
  uint64_t instances;        /* TYPE: instances; OBJECT: objects in its dominator subtree */
} ds_index_suspect;

typedef enum ds_suspect_kind {
  DS_SUSPECT_OBJECT = 1,
  DS_SUSPECT_TYPE,
  DS_SUSPECT_KIND_COUNT_
} ds_suspect_kind;

typedef enum ds_dump_kind {
  DS_DUMP_KIND_UNKNOWN = 0,
  DS_DUMP_KIND_FULL,                 /* module images included (createdump -u) */
  DS_DUMP_KIND_HEAP,                 /* heap and stacks, no images (createdump -h) */
  DS_DUMP_KIND_CORE,                 /* a kernel core or gdb gcore: written memory, no read-only
                                        file mappings (the images come from the files on disk) */
  DS_DUMP_KIND_COUNT_
} ds_dump_kind;

typedef struct ds_index_hist {
  uint32_t gen, type;
  uint64_t count, bytes, live_count, live_bytes;
} ds_index_hist;

typedef struct ds_index_extra_edge {
  uint32_t from, to;
  uint32_t kind;             /* 1 dependent handle, 2 loader allocator */
  uint32_t pad;
} ds_index_extra_edge;

/* Memory the runtime owns outside the GC heap, and the native code of the methods on the
 * threads' stacks, as the analysis found them (SOSEX !mln answers from these). Ranges of
 * different kinds may overlap (a method inside a code heap block); sorted by start. */
typedef struct ds_index_memory_range {
  uint64_t start, size;
  uint32_t kind;             /* DS_MEMORY_* */
  uint32_t name;             /* string pool: the heap's name, or the method's */
  uint64_t method_desc;      /* methods: the MethodDesc, else 0 */
} ds_index_memory_range;

enum {
  DS_MEMORY_CODE_HEAP = 1,     /* a block of a JIT code heap */
  DS_MEMORY_LOADER_HEAP = 2,   /* a block of a loader heap (name: which one) */
  DS_MEMORY_HANDLE_TABLE = 3,  /* the GC handle table's memory */
  DS_MEMORY_JIT_METHOD = 4,    /* a method's code, compiled by the JIT at run time */
  DS_MEMORY_PRECOMPILED_METHOD = 5, /* a method's code, precompiled (ReadyToRun) in its module */
};

/* What a field's record in DS_SEC_FIELDS does not say (type indices; UINT32_MAX: unknown). */
typedef struct ds_index_field_info {
  uint32_t field_type;       /* a value-type field: the type whose fields lie inline at its offset */
  uint32_t declaring_type;   /* the type that declares the field (a type lists its parents' too) */
} ds_index_field_info;

/* A static field of a type (its own, not its parents'). */
typedef struct ds_index_static {
  uint32_t type;             /* declaring type's index */
  uint32_t name, type_name;  /* string pool */
  uint32_t element_type;     /* CorElementType */
  uint32_t flags;            /* DS_STATIC_* */
  uint32_t field_type;       /* value types: the type's index, else UINT32_MAX */
  uint64_t address;          /* where the value (primitives) or the reference (others; value types
                                are boxed) lives; 0 when the type is not initialized or unknown */
} ds_index_static;

#define DS_STATIC_THREAD 1u  /* [ThreadStatic]: one per thread, no single address */

/* A method a type defines, as the runtime's slot enumeration lists it. */
typedef struct ds_index_method {
  uint32_t type;             /* defining type's index */
  uint32_t name;             /* string pool: "Ns.Type.Method(Args)" */
  uint64_t method_desc;
  uint64_t code;             /* native code, 0 when never compiled */
  uint32_t token, pad;
} ds_index_method;

/* What a frame's record in DS_SEC_FRAMES does not say. */
typedef struct ds_index_frame_info {
  uint32_t il_offset;        /* of the frame's IP, UINT32_MAX when unknown */
  uint32_t first_var, var_count; /* its arguments then locals, in DS_SEC_FRAME_VARS */
  uint32_t line, column;     /* source position of il_offset from the PDB; 0 when unknown */
  uint32_t file;             /* string pool: the source file; 0 when unknown */
  uint32_t token;            /* the method's MethodDef token; 0 when unknown */
  uint32_t pad;
} ds_index_frame_info;

/* An argument or local of a managed frame, as the runtime reported it. */
typedef struct ds_index_frame_var {
  uint32_t frame;            /* index into frames */
  uint32_t name;             /* string pool: an argument's name (metadata), a local's (the PDB); 0: unnamed */
  uint32_t index;            /* its position among the frame's arguments or locals */
  uint32_t flags;            /* DS_VAR_* */
  uint64_t address;          /* its stack slot, 0 when in a register or unknown */
  uint32_t size;             /* the value's size */
  uint32_t type_name;        /* string pool: the declared type (the assembly's signatures); 0: unknown */
  uint8_t bytes[16];         /* its first bytes, when DS_VAR_HAS_VALUE */
} ds_index_frame_var;

enum {
  DS_VAR_ARGUMENT = 1u << 0,
  DS_VAR_HAS_VALUE = 1u << 1,
  DS_VAR_PRIMITIVE = 1u << 2,
  DS_VAR_VALUE_TYPE = 1u << 3,
  DS_VAR_REFERENCE = 1u << 4,  /* an object reference (strings and arrays too) */
};

/* One entry of a JIT-compiled method's IL-to-native map (what SOSEX !mu annotates code with). */
typedef struct ds_index_code_map {
  uint64_t code;             /* the method's code start: its DS_SEC_MEMORY_RANGES record */
  uint32_t native_start, native_end; /* offsets from code: [start, end) came from il_offset */
  uint32_t il_offset;        /* DS_CODE_IL_* for code of no IL instruction */
  uint32_t line;             /* source line of il_offset from the PDB; 0 when unknown */
  uint32_t file;             /* string pool: its source file; 0 when unknown */
  uint32_t pad;
} ds_index_code_map;
/* A method the recorded code calls whose own code was not recorded (not compiled yet, or behind a
 * stub): what a precode's MethodDesc names. */
typedef struct ds_index_callee {
  uint64_t method_desc;
  uint32_t name;             /* string pool: "Ns.Type.Method(Args)" */
  uint32_t pad;
} ds_index_callee;
#define DS_CODE_IL_NO_MAPPING 0xFFFFFFFFu
#define DS_CODE_IL_PROLOG 0xFFFFFFFEu
#define DS_CODE_IL_EPILOG 0xFFFFFFFDu

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct ds_index_writer ds_index_writer;

/* Starts "<path>.tmp.<pid>"; nothing appears at path until ds_index_writer_finish succeeds. */
ds_status ds_index_writer_create(const char *path, ds_index_writer **out, ds_error *err);
/* Closes; removes the temporary file unless finished. */
void ds_index_writer_free(ds_index_writer *w);
/* The index at path, about to be replaced by a build, leaves the page cache (its bytes stay on
 * disk, and a process that has it mapped keeps those pages): otherwise the rename that replaces it
 * frees its pages at the build's end (190-230 ms of an 832 MiB index), and the build takes new
 * memory meanwhile, which costs a trip to the host on a VM like this one's; taken from the pages
 * freed here, a rebuild over big took 2.81 s instead of 3.56. Nothing when path is not an index. */
void ds_index_writer_drop_cached(const char *path);
/* For an index that only this process reads, at once, through ds_index_open_unchecked (the root
 * search's short-lived index): sections added from now on get no checksum, which saves a pass
 * over every byte when writing and another when reading. */
void ds_index_writer_skip_checksums(ds_index_writer *w);
/* Writes a section now (and starts its writeback), so the disk works while the caller goes on.
 * Threads may add sections at once (the file's order is then theirs, which no reader depends on);
 * not while a section is streamed (begin .. end), nor with finish. */
ds_status ds_index_writer_add(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                              ds_error *err);
/* Writes a section as ds_index_writer_add does, but around the page cache (O_DIRECT, through a
 * small aligned buffer), in whole pages of its own: for a section that the writing process does
 * not read back from the file, whose copy in the page cache would only add to the memory the
 * build takes anew (on a VM whose host takes back freed memory, a fresh page costs a trip to the
 * host; 832 MiB written through the page cache took 2.5 s of CPU here, 13-46 ms direct). Where
 * the file system has no direct I/O, through the page cache after all. */
ds_status ds_index_writer_add_direct(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                                     ds_error *err);
/* Writes a section from a page-aligned array that is a private mapping of its own at least `size`
 * bytes long (rounded up to pages), and then puts the file's pages in place of the array's, at the
 * same address (mremap): threads reading the array meanwhile see the same bytes throughout, and
 * from here the pages are the page cache's (ds_index_writer_release can let them go). The array
 * is read-only after this; its owner still unmaps it. On an error the array is as it was. */
ds_status ds_index_writer_add_in_place(ds_index_writer *w, ds_section_id id, void *data, uint64_t size,
                                       ds_error *err);
/* A section written in pieces (for sections built as a stream, larger than memory): begin, append
 * in order, end. No other section may be added in between. */
ds_status ds_index_writer_begin(ds_index_writer *w, ds_section_id id, ds_error *err);
ds_status ds_index_writer_append(ds_index_writer *w, const void *data, uint64_t size, ds_error *err);
ds_status ds_index_writer_end(ds_index_writer *w, ds_error *err);
/* The section added last (by a single thread), mapped back read-only from the file (*size its bytes): the caller can
 * free its own copy, and its pages are the page cache's, which the kernel can drop and re-read.
 * The mapping lives until ds_index_writer_free. NULL (with err) when it cannot be mapped. */
const void *ds_index_writer_map_last(ds_index_writer *w, uint64_t *size, ds_error *err);
/* The section `id` (added and written by then), mapped back as ds_index_writer_map_last does;
 * NULL (with err) when there is none or it cannot be mapped. */
const void *ds_index_writer_map_section(ds_index_writer *w, ds_section_id id, uint64_t *size, ds_error *err);
/* ds_index_writer_add, then that section mapped back as ds_index_writer_map_last does (for a
 * writer that other threads add to as well); NULL with err. */
const void *ds_index_writer_add_mapped(ds_index_writer *w, ds_section_id id, const void *data, uint64_t size,
                                       ds_error *err);
/* Lets the pages of a mapping from ds_index_writer_map_last leave the resident set (they come back
 * from the file if touched again). */
void ds_index_writer_release(const void *map, uint64_t size);
/* Writes the table and header, fsyncs and renames into place. */
ds_status ds_index_writer_finish(ds_index_writer *w, ds_error *err);

/* A growable string pool (offset 0 is the empty string). */
typedef struct ds_strpool {
  char *data;
  size_t len, cap;
} ds_strpool;
uint32_t ds_strpool_add(ds_strpool *pool, const char *text);
void ds_strpool_free(ds_strpool *pool);

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct ds_index ds_index;

/* Maps and checks an index. DS_E_CORRUPT / DS_E_TRUNCATED / DS_E_UNSUPPORTED (version) with the
 * reason; the caller should rebuild. */
ds_status ds_index_open(const char *path, ds_index **out, ds_error *err);
/* The same checks except the sections' checksums: only for an index this process has just
 * written with ds_index_writer_skip_checksums (never for a file from outside). */
ds_status ds_index_open_unchecked(const char *path, ds_index **out, ds_error *err);
void ds_index_close(ds_index *idx);

/* Checks the checksum of a section the first time it is needed (thread-safe). */
ds_status ds_index_require(ds_index *idx, ds_section_id id, ds_error *err);
/* The same for several sections at once, on two threads when there is enough to check: a root
 * path on a built index reads about 650 MB of sections on big, and checking them was nearly all
 * of the query's time. The error is the first failing section's, in the order given. */
ds_status ds_index_require_many(ds_index *idx, const ds_section_id *ids, size_t count, ds_error *err);
/* Checks every section now (tests, or after writing). */
ds_status ds_index_verify_all(ds_index *idx, ds_error *err);

/* A section's bytes and size (NULL/0 when absent). Call ds_index_require first. */
const void *ds_index_section(const ds_index *idx, ds_section_id id, uint64_t *size);

/* Convenience views (valid after ds_index_open). */
const ds_index_info *ds_index_get_info(const ds_index *idx);
const char *ds_index_string(const ds_index *idx, uint32_t offset);
uint64_t ds_index_object_count(const ds_index *idx);

/* A fast 64-bit checksum of a buffer (what the file uses). */
uint64_t ds_index_checksum(const void *data, uint64_t size);

#endif
