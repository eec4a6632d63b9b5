/*
 * dacstack.h: the DAC calls behind root collection: managed threads, managed stack walks with
 * method names, the GC's stack references of a thread, and the finalization queue's ranges.
 *
 * These are thin, bounded wrappers over IXCLRDataProcess/IXCLRDataTask/IXCLRDataStackWalk and
 * ISOSDacInterface(8). Every COM object obtained is released before the function returns. They
 * return raw runtime facts (addresses as the DAC reports them); core/analyze/roots.c turns them into
 * a ds_root_set. Analysis processes only (design rule 1 of dac.h); one thread per ds_dac.
 */
#ifndef DUMPSCOPE_DACSTACK_H
#define DUMPSCOPE_DACSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dac.h"
#include "dumpscope/roots.h"

#include "dumpscope/limits.h" /* DS_MAX_STACK_FRAMES, DS_MAX_STACK_REFS, DS_MAX_SYNC_BLOCKS... */

/* Thread::m_State bits that mean the OS thread is not (or no longer) running managed code. */
#define DS_THREAD_STATE_UNSTARTED 0x400u
#define DS_THREAD_STATE_DEAD      0x800u

/* DacpThreadData.lockCount when the runtime no longer counts a thread's locks (the DAC of
 * .NET 9+ reports (DWORD)-1 since Thread::m_dwLockCount is gone). */
#define DS_THREAD_LOCK_COUNT_UNKNOWN UINT32_MAX

/* Every Thread in the runtime's thread store, in list order. alive = os_id != 0 and neither
 * unstarted nor dead; finalizer = the thread store's finalizer thread; cooperative = preemptive
 * GC disabled; lock_count as the DAC reports it (DS_THREAD_LOCK_COUNT_UNKNOWN when untracked);
 * exception = the object in the slot of lastThrownObjectHandle (0 when no handle or the slot is
 * not in the dump). *threads is malloc'd (free it); a list longer than DS_MAX_THREADS is
 * DS_E_LIMIT. */
ds_status ds_dac_managed_threads(ds_dac *dac, ds_thread_info **threads, size_t *count, ds_error *err);

/* Every sync block in use (object != 0, not free) of the runtime's sync block table
 * (ISOSDacInterface GetSyncBlockData), in table order; index = the sync block number (1-based).
 * A number the DAC fails to read is skipped. *out is malloc'd (free it). DS_E_DAC when the first
 * entry cannot be read; DS_E_LIMIT for a table larger than DS_MAX_SYNC_BLOCKS. */
ds_status ds_dac_sync_blocks(ds_dac *dac, ds_sync_block **out, size_t *count, ds_error *err);

/* One position of a managed stack walk. */
typedef struct ds_dac_frame {
  uint64_t sp, ip;            /* the register context at this position */
  uint64_t frame_address;     /* explicit runtime Frame (InlinedCallFrame, ...), 0 for a method */
  uint64_t method_desc;       /* 0 when the DAC knows none */
  const char *name;           /* "Ns.Type.Method(Args)" or "[FrameName: addr] Ns.Type.Method(Args)";
                                 never NULL; valid only during the callback */
  void *walk;                 /* the walk positioned on this frame (ds_dac_frame_variables); valid
                                 only during the callback */
} ds_dac_frame;

/* Receives frames innermost first; a status other than DS_OK stops the walk and is returned. */
typedef ds_status (*ds_dac_frame_fn)(void *ctx, const ds_dac_frame *frame);

/* Walks the managed stack of the thread with Linux thread id os_thread_id as SOS !clrstack does
 * (all frame kinds, explicit Frames included). DS_E_NOT_FOUND when it is not a managed thread;
 * DS_E_DAC when the walk fails part way (frames already delivered stay valid); DS_E_LIMIT after
 * DS_MAX_STACK_FRAMES frames. */
ds_status ds_dac_stack_walk(ds_dac *dac, uint32_t os_thread_id, ds_dac_frame_fn fn, void *ctx,
                            ds_error *err);

/* One argument or local of a managed frame, as IXCLRDataFrame reports it. */
typedef struct ds_dac_var {
  bool is_argument;
  uint32_t index;
  const char *name;           /* an argument's name from metadata; "" for locals (names live in
                                 PDBs); valid only during the callback */
  uint32_t flags;             /* CLRDATA_VALUE_*: DS_DAC_VALUE_PRIMITIVE, _VALUE_TYPE, _STRING,
                                 _ARRAY, _REFERENCE (0 with a size of 8: a byref or pointer) */
  bool has_address;           /* false: in a register, or no location known */
  uint64_t address;
  bool has_value;             /* false: the JIT left no location (optimized code) */
  uint32_t size;              /* the value's size; at most sizeof bytes are kept */
  uint8_t bytes[16];
} ds_dac_var;

enum { DS_DAC_VALUE_PRIMITIVE = 0x1, DS_DAC_VALUE_VALUE_TYPE = 0x2, DS_DAC_VALUE_STRING = 0x4,
       DS_DAC_VALUE_ARRAY = 0x8, DS_DAC_VALUE_REFERENCE = 0x10 };

/* Receives one variable; a status other than DS_OK stops and is returned. */
typedef ds_status (*ds_dac_var_fn)(void *ctx, const ds_dac_var *var);

/* The arguments, then the locals, of the managed frame the walk is on (SOS !clrstack -a), and the
 * IL offset of its IP (*il_offset = UINT32_MAX when unknown). Variables the JIT left no location
 * for come with has_value = false. DS_E_NOT_FOUND for a frame that is not a managed method. */
ds_status ds_dac_frame_variables(ds_dac *dac, const ds_dac_frame *frame, uint32_t *il_offset, ds_dac_var_fn fn,
                                 void *ctx, ds_error *err);

/* SOSStackRefData (x64 layout). */
typedef struct ds_dacp_stack_ref {
  int32_t has_register_information;
  int32_t reg;
  int32_t offset;
  ds_addr address;            /* the stack slot, 0 when the reference is in a register */
  ds_addr object;
  uint32_t flags;             /* DS_STACK_REF_INTERIOR | DS_STACK_REF_PINNED */
  uint32_t source_type;       /* DS_STACK_SOURCE_IP or DS_STACK_SOURCE_FRAME */
  ds_addr source;             /* the frame's IP, or the explicit Frame's address */
  ds_addr stack_pointer;
} ds_dacp_stack_ref;
_Static_assert(sizeof(ds_dacp_stack_ref) == 56, "SOSStackRefData layout");

enum { DS_STACK_REF_INTERIOR = 1, DS_STACK_REF_PINNED = 2 };
enum { DS_STACK_SOURCE_IP = 0, DS_STACK_SOURCE_FRAME = 1 };

/* Every GC reference the runtime's GC stack walk reports for the thread (GetStackReferences),
 * including null ones. *refs is malloc'd (free it). *error_count is the number of stack ranges
 * the DAC reported it could not walk (their references are missing). */
ds_status ds_dac_stack_refs(ds_dac *dac, uint32_t os_thread_id, ds_dacp_stack_ref **refs, size_t *count,
                            size_t *error_count, ds_error *err);

/* One GC heap's finalization queue: slot addresses, each slot holding an object pointer. */
typedef struct ds_dac_finalizer_queue {
  uint64_t heap;                              /* GC heap address, 0 for workstation GC */
  uint64_t finalizable_start, finalizable_end; /* registered for finalization, still reachable
                                                  or not yet found unreachable: [start, end) */
  uint64_t ready_start, ready_end;            /* f-reachable: ready for finalization */
} ds_dac_finalizer_queue;

/* The finalization queue of every GC heap (workstation: one). Fill pointers come from
 * ISOSDacInterface8; with N generations (fill count - 2) the finalizable slots are
 * [fill[0], fill[N-1]) and the ready ones [fill[N-1], fill[N+1]) (see stack.c). *queues is
 * malloc'd (free it). DS_E_CORRUPT when the pointers are not ordered or span too much. */
ds_status ds_dac_finalizer_queues(ds_dac *dac, ds_dac_finalizer_queue **queues, size_t *count,
                                  ds_error *err);

/* The GC thread-static base of type mt on the runtime Thread* thread (ISOSDacInterface14,
 * .NET 9+): an interior pointer into a pinned object[]; a reference field's slot is
 * gc_base + DacpFieldDescData.dwOffset. *gc_base = 0 (and DS_OK) when the DAC lacks
 * ISOSDacInterface14, the type is not initialized, or the thread has no storage for it. */
ds_status ds_dac_thread_static_gc_base(ds_dac *dac, ds_addr mt, ds_addr thread, ds_addr *gc_base,
                                       ds_error *err);

#endif
