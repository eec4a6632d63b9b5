/*
 * roots.h: what keeps objects alive, as collected from the DAC in an analysis process: GC
 * handles (with their kind), stack roots of every live thread with the frame they come from,
 * the finalizer queue (finalizable and ready-for-finalization objects), and the managed threads.
 *
 * Objects here are raw pointers as the runtime reports them; a stack root may be an interior
 * pointer (interior = true), which the graph builder resolves to the containing object.
 */
#ifndef DUMPSCOPE_ROOTS_H
#define DUMPSCOPE_ROOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

typedef enum ds_root_kind {
  DS_ROOT_HANDLE_STRONG = 0,
  DS_ROOT_HANDLE_PINNED,
  DS_ROOT_HANDLE_ASYNC_PINNED,
  DS_ROOT_HANDLE_REFCOUNTED,   /* a root only when ref_count > 0 */
  DS_ROOT_HANDLE_SIZEDREF,
  DS_ROOT_HANDLE_WEAK_SHORT,   /* listed, never a root */
  DS_ROOT_HANDLE_WEAK_LONG,    /* listed, never a root */
  DS_ROOT_HANDLE_DEPENDENT,    /* an edge primary -> secondary, never a root */
  DS_ROOT_HANDLE_OTHER,        /* variable, WinRT weak...: listed, not a root */
  DS_ROOT_STACK,               /* a local or register of a managed frame */
  DS_ROOT_FINALIZER_READY,     /* f-reachable: ready for finalization */
  DS_ROOT_THREAD_STATIC,       /* a [ThreadStatic] field of one thread (field_mt set), or the
                                  thread's whole thread-static storage (field_mt 0) */
  DS_ROOT_STATIC_FIELD,        /* a static field: a slot of the runtime's statics storage (an
                                  object[] held by a handle); made by the index build */
  DS_ROOT_KIND_COUNT
} ds_root_kind;

/* "strong handle", "pinned handle", "stack", "finalizer queue (ready)", ... */
const char *ds_root_kind_name(ds_root_kind kind);
/* Whether a root of this kind (with this ref count) keeps its object alive. */
bool ds_root_kind_is_root(ds_root_kind kind, uint32_t ref_count);

typedef struct ds_root {
  uint64_t object;       /* the referenced object (raw: may be interior for stack roots) */
  uint64_t address;      /* handle slot, stack slot (0 when in a register), queue slot */
  uint64_t secondary;    /* dependent handle: the secondary object; async pinned: user object */
  uint32_t kind;         /* ds_root_kind */
  uint32_t ref_count;    /* ref-counted handles */
  uint32_t thread;       /* index into ds_root_set.threads, UINT32_MAX when none */
  uint32_t frame;        /* index into ds_root_set.frames, UINT32_MAX when none */
  bool pinned;
  bool interior;
  uint64_t field_mt;     /* thread statics: the declaring type's MethodTable (0: the storage) */
  uint32_t field_offset; /* thread statics: the field's offset in the type's storage */
} ds_root;

typedef struct ds_thread_info {
  uint64_t address;      /* the runtime's Thread* */
  uint32_t os_id;
  uint32_t managed_id;
  uint32_t state;        /* raw Thread::m_State */
  bool alive;
  bool finalizer;
  bool cooperative;      /* GC mode: preemptive GC disabled (running managed code) */
  uint32_t lock_count;   /* DacpThreadData.lockCount; UINT32_MAX on .NET 9+ (no longer kept) */
  uint64_t exception;    /* the exception object in flight (last thrown), 0 if none */
  uint64_t alloc_ptr, alloc_limit; /* allocation context */
} ds_thread_info;

/* A sync block (monitor with a sync block: inflated lock, or hash code + lock). */
typedef struct ds_sync_block {
  uint64_t object;       /* the locked object */
  uint64_t owner;        /* Thread* holding it, 0 when free */
  uint32_t recursion;    /* as the DAC reports it */
  uint32_t monitor_held; /* DacpSyncBlockData.MonitorHeld */
  uint32_t waiters;      /* AdditionalThreadCount: unreliable before .NET 11 (see dac-from-c.md) */
  uint32_t index;        /* sync block number */
} ds_sync_block;

typedef struct ds_frame_info {
  uint32_t thread;       /* index into threads */
  uint32_t depth;        /* 0 = innermost */
  uint64_t sp, ip;
  uint64_t frame_address; /* explicit runtime Frame, 0 for a managed method frame */
  char *method;          /* "Namespace.Type.Method(ArgTypes)" or "[InlinedCallFrame]"; owned */
  uint32_t il_offset;    /* IL offset of ip, UINT32_MAX when unknown */
} ds_frame_info;

/* An argument or local of a managed frame (SOS !clrstack -a, SOSEX !mdv). */
typedef struct ds_frame_var {
  uint32_t frame;        /* index into frames */
  uint32_t index;        /* its position among the frame's arguments or locals */
  bool is_argument;
  char *name;            /* arguments: from metadata; locals: "" (names live in PDBs); owned */
  uint32_t flags;        /* DS_DAC_VALUE_* (dacstack.h) */
  bool has_address, has_value;
  uint64_t address;      /* its stack slot, when it has one */
  uint32_t size;
  uint8_t bytes[16];     /* the first bytes of its value */
} ds_frame_var;

typedef struct ds_root_set {
  ds_root *roots;
  size_t root_count;
  ds_thread_info *threads;
  size_t thread_count;
  ds_frame_info *frames;
  size_t frame_count;
  uint64_t *finalizable; /* every object registered for finalization (not yet ready) */
  size_t finalizable_count;
  ds_sync_block *sync_blocks; /* every sync block in use (object != 0) */
  size_t sync_block_count;
  ds_frame_var *vars;    /* arguments and locals of the managed frames, by frame */
  size_t var_count;
  char warnings[1024];   /* phases that failed partially ("stack walk of thread 123: ...") */
} ds_root_set;

void ds_root_set_free(ds_root_set *set);

#endif
