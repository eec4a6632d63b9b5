/*
 * stack.c: the DAC side of root collection: threads, managed stack walks, stack references and
 * the finalization queue. Slots and layouts: ../shared/reference/dac-from-c.md (sections 4-5) and
 * graph-threads-locks.md (section 3); every interface obtained here is released here.
 */
#include "dumpscope/dacstack.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dacint.h"

#define SOS(dac) ((dac)->sos[1])

typedef HRESULT (*get_task_fn)(void *process, uint32_t os_thread_id, void **task);
typedef HRESULT (*create_walk_fn)(void *task, uint32_t flags, void **walk);
typedef HRESULT (*walk_context_fn)(void *walk, uint32_t flags, uint32_t size, uint32_t *needed, uint8_t *ctx);
typedef HRESULT (*walk_next_fn)(void *walk);
typedef HRESULT (*walk_request_fn)(void *walk, uint32_t code, uint32_t in_size, const uint8_t *in,
                                   uint32_t out_size, uint8_t *out);
typedef HRESULT (*md_from_addr_fn)(void *sos, ds_addr addr, ds_addr *md);
typedef HRESULT (*name_fn)(void *sos, ds_addr what, uint32_t count, uint16_t *name, uint32_t *needed);
typedef HRESULT (*stack_refs_fn)(void *sos, uint32_t os_thread_id, void **refs_enum);
typedef HRESULT (*enum_count_fn)(void *e, uint32_t *count);
typedef HRESULT (*enum_next_fn)(void *e, uint32_t count, void *items, uint32_t *fetched);
typedef HRESULT (*enum_errors_fn)(void *e, void **errors_enum);

#define CLRDATA_SIMPLE_FRAME_ALL 0xFu          /* unrecognized | managed | runtime managed/unmanaged */
#define DACSTACKPRIV_REQUEST_FRAME_DATA 0xf0000000u
#define AMD64_CONTEXT_SIZE 0x4d0u
#define AMD64_CONTEXT_FULL 0x0010000Bu
#define AMD64_CONTEXT_RSP 0x98u
#define AMD64_CONTEXT_RIP 0xF8u

/* Every interface the DAC hands out is noted in the ledger (ds__dac_took) and released exactly
 * once (ds__dac_release); NULL is allowed so cleanup paths need no checks. */

/* ---- threads ------------------------------------------------------------------------------ */

/* The thread store's list is the runtime's own record of every managed thread; we copy it out
 * once so callers never touch DAC structures. */
ds_status ds_dac_managed_threads(ds_dac *dac, ds_thread_info **threads, size_t *count, ds_error *err) {
  *threads = NULL;
  *count = 0;
  ds_dacp_thread_store store;
  ds_status rc = ds_dac_thread_store(dac, &store, err);
  if (rc != DS_OK)
    return rc;
  size_t cap = store.thread_count > 0 && (uint32_t)store.thread_count <= DS_MAX_THREADS
                   ? (size_t)store.thread_count : 16;
  ds_thread_info *list = malloc(cap * sizeof *list);
  size_t used = 0;
  if (!list) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu threads", cap);
    goto out;
  }
  for (ds_addr thread = store.first_thread; thread != 0;) {
    if (used == DS_MAX_THREADS) {
      rc = ds_error_set(err, DS_E_LIMIT, "the thread store lists more than %u threads (DS_MAX_THREADS)",
                        DS_MAX_THREADS);
      goto out;
    }
    ds_dacp_thread td;
    if ((rc = ds_dac_thread(dac, thread, &td, err)) != DS_OK) {
      ds_error_wrap(err, "thread 0x%" PRIx64 " (number %zu in the thread store)", thread, used + 1);
      goto out;
    }
    if (used == cap) {
      size_t grown_cap = cap * 2 > DS_MAX_THREADS ? DS_MAX_THREADS : cap * 2;
      ds_thread_info *grown = realloc(list, grown_cap * sizeof *grown);
      if (!grown) {
        rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu threads", grown_cap);
        goto out;
      }
      list = grown;
      cap = grown_cap;
    }
    uint32_t state = (uint32_t)td.state;
    /* lastThrownObjectHandle is a handle: the object in flight is the pointer in its slot. */
    uint64_t exception = 0;
    if (td.last_thrown_object_handle == 0 || !ds_dump_read_u64(dac->dump, td.last_thrown_object_handle, &exception))
      exception = 0;
    list[used++] = (ds_thread_info){
        .address = thread,
        .os_id = td.os_thread_id,
        .managed_id = td.cor_thread_id,
        .state = state,
        .alive = td.os_thread_id != 0 && !(state & (DS_THREAD_STATE_UNSTARTED | DS_THREAD_STATE_DEAD)),
        .finalizer = thread == store.finalizer_thread,
        .cooperative = td.preemptive_gc_disabled != 0,
        .lock_count = td.lock_count,
        .exception = exception,
        .alloc_ptr = td.alloc_context_ptr,
        .alloc_limit = td.alloc_context_limit,
    };
    thread = td.next_thread;
  }
out:
  if (rc != DS_OK) {
    free(list);
    return rc;
  }
  *threads = list;
  *count = used;
  return DS_OK;
}

/* ---- sync blocks -------------------------------------------------------------------------- */

/* DacpSyncBlockData (x64 layout). */
typedef struct dacp_sync_block {
  ds_addr object;
  int32_t free;                  /* BOOL bFree */
  ds_addr sync_block_pointer;
  uint32_t com_flags;
  uint32_t monitor_held;
  uint32_t recursion;
  ds_addr holding_thread;
  uint32_t additional_thread_count;
  ds_addr app_domain;
  uint32_t sync_block_count;
} dacp_sync_block;
_Static_assert(sizeof(dacp_sync_block) == 72, "DacpSyncBlockData layout");
_Static_assert(offsetof(dacp_sync_block, holding_thread) == 40, "DacpSyncBlockData.HoldingThread");
_Static_assert(offsetof(dacp_sync_block, sync_block_count) == 64, "DacpSyncBlockData.SyncBlockCount");

typedef HRESULT (*sync_block_fn)(void *sos, uint32_t number, dacp_sync_block *data);

/* The sync block table is the runtime's record of inflated monitors: number 1 tells the table's
 * size (even when it holds nothing), then 2..count follow. A number the DAC cannot read is
 * skipped: one damaged entry should not hide the others. */
ds_status ds_dac_sync_blocks(ds_dac *dac, ds_sync_block **out, size_t *count, ds_error *err) {
  *out = NULL;
  *count = 0;
  ds_sync_block *list = NULL;
  size_t used = 0, cap = 0;
  ds_status rc = DS_OK;
  dacp_sync_block data;
  memset(&data, 0, sizeof data);
  HRESULT hr = DS_VCALL(SOS(dac), DS__SOS_GET_SYNC_BLOCK_DATA, sync_block_fn)(SOS(dac), 1, &data);
  if (hr < 0) {
    rc = ds__hr_error(err, hr, "GetSyncBlockData(1)");
    goto out;
  }
  uint32_t total = data.sync_block_count;
  if (total > DS_MAX_SYNC_BLOCKS) {
    rc = ds_error_set(err, DS_E_LIMIT, "the sync block table has %u entries, more than %u (DS_MAX_SYNC_BLOCKS)",
                      total, DS_MAX_SYNC_BLOCKS);
    goto out;
  }
  for (uint32_t number = 1; number <= total; number++) {
    if (number > 1) {
      memset(&data, 0, sizeof data);
      if (DS_VCALL(SOS(dac), DS__SOS_GET_SYNC_BLOCK_DATA, sync_block_fn)(SOS(dac), number, &data) < 0)
        continue;
    }
    if (data.object == 0 || data.free)
      continue;
    if (used == cap) {
      size_t grown_cap = cap ? cap * 2 : 64;
      if (grown_cap > total)
        grown_cap = total;
      ds_sync_block *grown = realloc(list, grown_cap * sizeof *grown);
      if (!grown) {
        rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu sync blocks", grown_cap);
        goto out;
      }
      list = grown;
      cap = grown_cap;
    }
    list[used++] = (ds_sync_block){
        .object = data.object,
        .owner = data.holding_thread,
        .recursion = data.recursion,
        .monitor_held = data.monitor_held,
        .waiters = data.additional_thread_count,
        .index = number,
    };
  }
out:
  if (rc != DS_OK) {
    free(list);
    return rc;
  }
  *out = list;
  *count = used;
  return DS_OK;
}

/* ---- stack walk --------------------------------------------------------------------------- */

/* Asks one of the DAC's name functions (GetMethodDescName, GetFrameName: same signature) for a
 * name as UTF-8. Empty string when the DAC has none. */
static void dac_name(ds_dac *dac, int slot, ds_addr what, char *out, size_t out_len) {
  uint16_t wide[DS_MAX_FRAME_NAME_CHARS];
  uint32_t needed = 0;
  out[0] = 0;
  HRESULT hr = DS_VCALL(SOS(dac), slot, name_fn)(SOS(dac), what, DS_MAX_FRAME_NAME_CHARS, wide, &needed);
  if (hr < 0)
    return;
  wide[DS_MAX_FRAME_NAME_CHARS - 1] = 0;
  ds_utf16_to_utf8(wide, DS_MAX_FRAME_NAME_CHARS, true, out, out_len);
}

typedef HRESULT (*get_frame_fn)(void *walk, void **frame);
typedef HRESULT (*get_method_fn)(void *frame, void **method);
typedef HRESULT (*method_name_fn)(void *method, uint32_t flags, uint32_t count, uint32_t *needed, uint16_t *name);

/* SOS's fallback when no MethodDesc is known: IXCLRDataFrame -> IXCLRDataMethodInstance ->
 * GetName. Empty string when the DAC has nothing. */
static void instance_name(ds_dac *dac, void *walk, char *out, size_t out_len) {
  void *frame = NULL, *method = NULL;
  out[0] = 0;
  HRESULT hr = DS_VCALL(walk, DS__STACK_WALK_GET_FRAME, get_frame_fn)(walk, &frame);
  ds__dac_took(dac, frame);
  if (hr >= 0 && frame) {
    hr = DS_VCALL(frame, DS__FRAME_GET_METHOD_INSTANCE, get_method_fn)(frame, &method);
    ds__dac_took(dac, method);
  }
  if (hr >= 0 && frame && method) {
    uint16_t wide[DS_MAX_FRAME_NAME_CHARS];
    uint32_t needed = 0;
    if (DS_VCALL(method, DS__METHOD_INSTANCE_GET_NAME, method_name_fn)(method, 0, DS_MAX_FRAME_NAME_CHARS, &needed,
                                                                       wide) >= 0) {
      wide[DS_MAX_FRAME_NAME_CHARS - 1] = 0;
      ds_utf16_to_utf8(wide, DS_MAX_FRAME_NAME_CHARS, true, out, out_len);
    }
  }
  ds__dac_release(dac, method);
  ds__dac_release(dac, frame);
}

/* Names the walk's current position the way SOS !clrstack does. */
static void frame_name(ds_dac *dac, void *walk, ds_dac_frame *frame, char *out, size_t out_len) {
  char method[4 * DS_MAX_FRAME_NAME_CHARS];
  method[0] = 0;
  if (frame->frame_address) {
    /* Before .NET 10 the first word of a Frame is its C++ vtable; since then it is a
     * FrameIdentifier. GetFrameName takes either. */
    uint64_t ident = 0;
    char kind[256] = "";
    if (ds_dump_read_u64(dac->dump, frame->frame_address, &ident))
      dac_name(dac, DS__SOS_GET_FRAME_NAME, ident, kind, sizeof kind);
    ds_addr md = 0;
    if (DS_VCALL(SOS(dac), DS__SOS_GET_METHOD_DESC_PTR_FROM_FRAME, md_from_addr_fn)(SOS(dac), frame->frame_address,
                                                                                    &md) >= 0 && md) {
      frame->method_desc = md;
      dac_name(dac, DS__SOS_GET_METHOD_DESC_NAME, md, method, sizeof method);
    }
    if (!method[0])
      instance_name(dac, walk, method, sizeof method);
    snprintf(out, out_len, "[%s: %016" PRIx64 "]%s%s", kind[0] ? kind : "Frame", frame->frame_address,
             method[0] ? " " : "", method);
    return;
  }
  ds_addr md = 0;
  if (DS_VCALL(SOS(dac), DS__SOS_GET_METHOD_DESC_PTR_FROM_IP, md_from_addr_fn)(SOS(dac), frame->ip, &md) >= 0 && md) {
    frame->method_desc = md;
    dac_name(dac, DS__SOS_GET_METHOD_DESC_NAME, md, method, sizeof method);
  }
  if (!method[0])
    instance_name(dac, walk, method, sizeof method);
  if (method[0])
    snprintf(out, out_len, "%s", method);
  else
    snprintf(out, out_len, "[unknown code at %016" PRIx64 "]", frame->ip);
}

/* Drives IXCLRDataStackWalk: the walk starts positioned on the first frame, so each position is
 * read before Next (SOS and ClrMD do the same). */
ds_status ds_dac_stack_walk(ds_dac *dac, uint32_t os_thread_id, ds_dac_frame_fn fn, void *ctx,
                            ds_error *err) {
  void *task = NULL, *walk = NULL;
  ds_status rc = DS_OK;
  char *name = NULL;
  size_t name_len = 4 * DS_MAX_FRAME_NAME_CHARS + 320;
  HRESULT hr =
      DS_VCALL(dac->process, DS__PROCESS_GET_TASK_BY_OS_THREAD_ID, get_task_fn)(dac->process, os_thread_id, &task);
  ds__dac_took(dac, task);
  if (hr != DS_S_OK || !task) {
    rc = ds_error_set(err, DS_E_NOT_FOUND, "thread %u is not a managed thread (GetTaskByOSThreadID: 0x%08x %s)",
                      os_thread_id, (uint32_t)hr, ds_hresult_name(hr));
    goto out;
  }
  hr = DS_VCALL(task, DS__TASK_CREATE_STACK_WALK, create_walk_fn)(task, CLRDATA_SIMPLE_FRAME_ALL, &walk);
  ds__dac_took(dac, walk);
  if (hr < 0 || !walk) {
    rc = ds__hr_error(err, hr, "CreateStackWalk");
    ds_error_wrap(err, "thread %u", os_thread_id);
    goto out;
  }
  if (!(name = malloc(name_len))) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory walking thread %u", os_thread_id);
    goto out;
  }
  for (uint32_t depth = 0;; depth++) {
    if (depth == DS_MAX_STACK_FRAMES) {
      rc = ds_error_set(err, DS_E_LIMIT, "thread %u has more than %u managed frames (DS_MAX_STACK_FRAMES); "
                        "the outer ones are left out", os_thread_id, DS_MAX_STACK_FRAMES);
      goto out;
    }
    _Alignas(16) uint8_t context[AMD64_CONTEXT_SIZE];
    uint32_t context_size = 0;
    memset(context, 0, sizeof context);
    hr = DS_VCALL(walk, DS__STACK_WALK_GET_CONTEXT, walk_context_fn)(walk, AMD64_CONTEXT_FULL, sizeof context,
                                                                     &context_size, context);
    if (hr < 0) {
      rc = ds__hr_error(err, hr, "IXCLRDataStackWalk::GetContext");
      ds_error_wrap(err, "thread %u, frame %u", os_thread_id, depth);
      goto out;
    }
    ds_dac_frame frame = {0};
    memcpy(&frame.sp, context + AMD64_CONTEXT_RSP, 8);
    memcpy(&frame.ip, context + AMD64_CONTEXT_RIP, 8);
    uint64_t frame_address = 0;
    if (DS_VCALL(walk, DS__STACK_WALK_REQUEST, walk_request_fn)(walk, DACSTACKPRIV_REQUEST_FRAME_DATA, 0, NULL,
                                                                sizeof frame_address, (uint8_t *)&frame_address) >= 0)
      frame.frame_address = frame_address;
    frame_name(dac, walk, &frame, name, name_len);
    frame.name = name;
    frame.walk = walk;
    if ((rc = fn(ctx, &frame)) != DS_OK)
      goto out;
    hr = DS_VCALL(walk, DS__STACK_WALK_NEXT, walk_next_fn)(walk);
    if (hr == DS_S_FALSE)
      break;
    if (hr != DS_S_OK) {
      rc = ds__hr_error(err, hr, "IXCLRDataStackWalk::Next");
      ds_error_wrap(err, "thread %u, after frame %u", os_thread_id, depth);
      goto out;
    }
  }
out:
  free(name);
  ds__dac_release(dac, walk);
  ds__dac_release(dac, task);
  return rc;
}

/* ---- stack references --------------------------------------------------------------------- */

/* SOSStackRefError */
typedef struct stack_ref_error {
  uint32_t source_type;
  ds_addr source, stack_pointer;
} stack_ref_error;
_Static_assert(sizeof(stack_ref_error) == 24, "SOSStackRefError layout");

/* Counts the ranges the GC stack walk reported as failed; 0 when the DAC does not say. */
static size_t stack_ref_errors(ds_dac *dac, void *refs_enum) {
  void *errors = NULL;
  size_t total = 0;
  HRESULT got = DS_VCALL(refs_enum, DS__STACK_REF_ENUM_ENUMERATE_ERRORS, enum_errors_fn)(refs_enum, &errors);
  ds__dac_took(dac, errors);
  if (got < 0 || !errors) {
    ds__dac_release(dac, errors);
    return 0;
  }
  stack_ref_error batch[64];
  for (int rounds = 0; rounds < (int)(DS_MAX_STACK_REF_ERRORS / (sizeof batch / sizeof *batch)); rounds++) {
    uint32_t fetched = 0;
    HRESULT hr = DS_VCALL(errors, DS__ENUM_NEXT, enum_next_fn)(errors, 64, batch, &fetched);
    if (hr < 0 || fetched == 0)
      break;
    total += fetched;
  }
  ds__dac_release(dac, errors);
  return total;
}

/* The GC's own view of a thread's stack roots. GetCount first, then a buffer at least that big:
 * walkers before .NET 8 lost references when given less (dac-from-c.md, pitfall 7). */
ds_status ds_dac_stack_refs(ds_dac *dac, uint32_t os_thread_id, ds_dacp_stack_ref **refs, size_t *count,
                            size_t *error_count, ds_error *err) {
  *refs = NULL;
  *count = 0;
  *error_count = 0;
  void *refs_enum = NULL;
  ds_dacp_stack_ref *items = NULL;
  size_t used = 0;
  ds_status rc = DS_OK;
  HRESULT hr = DS_VCALL(SOS(dac), DS__SOS_GET_STACK_REFERENCES, stack_refs_fn)(SOS(dac), os_thread_id, &refs_enum);
  ds__dac_took(dac, refs_enum);
  if (hr < 0 || !refs_enum) {
    rc = ds__hr_error(err, hr, "GetStackReferences");
    ds_error_wrap(err, "thread %u", os_thread_id);
    goto out;
  }
  uint32_t total = 0;
  if (DS_VCALL(refs_enum, DS__ENUM_GET_COUNT, enum_count_fn)(refs_enum, &total) < 0)
    total = 0;
  if (total > DS_MAX_STACK_REFS) {
    rc = ds_error_set(err, DS_E_LIMIT, "thread %u reports %u stack references, more than %u (DS_MAX_STACK_REFS)",
                      os_thread_id, total, DS_MAX_STACK_REFS);
    goto out;
  }
  size_t cap = total > 64 ? total : 64;
  if (!(items = malloc(cap * sizeof *items))) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu stack references", cap);
    goto out;
  }
  for (;;) {
    uint32_t fetched = 0;
    hr = DS_VCALL(refs_enum, DS__ENUM_NEXT, enum_next_fn)(refs_enum, (uint32_t)(cap - used), items + used, &fetched);
    if (hr < 0) {
      rc = ds__hr_error(err, hr, "ISOSStackRefEnum::Next");
      ds_error_wrap(err, "thread %u", os_thread_id);
      goto out;
    }
    if (fetched > cap - used) {
      rc = ds_error_set(err, DS_E_DAC, "ISOSStackRefEnum::Next returned %u references for %zu places",
                        fetched, cap - used);
      goto out;
    }
    used += fetched;
    if (fetched == 0 || hr == DS_S_OK)
      break;
    if (used == cap) {
      if (cap >= DS_MAX_STACK_REFS) {
        rc = ds_error_set(err, DS_E_LIMIT, "thread %u has more than %u stack references (DS_MAX_STACK_REFS)",
                          os_thread_id, DS_MAX_STACK_REFS);
        goto out;
      }
      size_t grown_cap = cap * 2 > DS_MAX_STACK_REFS ? DS_MAX_STACK_REFS : cap * 2;
      ds_dacp_stack_ref *grown = realloc(items, grown_cap * sizeof *grown);
      if (!grown) {
        rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %zu stack references", grown_cap);
        goto out;
      }
      items = grown;
      cap = grown_cap;
    }
  }
  *error_count = stack_ref_errors(dac, refs_enum);
out:
  ds__dac_release(dac, refs_enum);
  if (rc != DS_OK) {
    free(items);
    return rc;
  }
  *refs = items;
  *count = used;
  return DS_OK;
}

/* ---- finalization queue ------------------------------------------------------------------- */

/*
 * The GC's CFinalize keeps one array split by fill pointers into segments: SegQueue(s) =
 * s ? fill[s-1] : m_Array, SegQueueLimit(s) = fill[s]. Since .NET 5 segment s holds objects of
 * generation N-1-s (segment 0 = POH ... segment N-1 = gen0), then segment N is the critical
 * finalizer list and N+1 the finalizer list (the f-reachable objects). The DAC does not give
 * m_Array, so segment 0 (POH objects, which are never finalizable: only arrays and types without
 * references live there) is left out and the finalizable range starts at fill[0].
 *
 * Checked on .NET 10.0.12 (7 fill pointers, N = 5) for workstation, server (per heap) and
 * segments GC: [fill[0], fill[1]) LOH and [fill[2], fill[3]) gen1 empty, [fill[1], fill[2]) gen2
 * (the scenario's 500 Finalizable), [fill[3], fill[4]) gen0, [fill[4], fill[5]) the critical list
 * (System.Gen2GcCallback) and [fill[5], fill[6]) the 200 ReadyFinalizable. An object whose
 * finalizer is running has left the queue (it is only on the finalizer thread's stack).
 */
static ds_status heap_queue(ds_dac *dac, ds_addr heap, ds_dac_finalizer_queue *out, ds_error *err) {
  ds_addr fill[16];
  uint32_t fill_count = 16;
  ds_status rc = ds_dac_finalization_fill_pointers(dac, heap, fill, &fill_count, err);
  if (rc != DS_OK)
    return rc;
  if (fill_count < 4)
    return ds_error_set(err, DS_E_DAC, "GetFinalizationFillPointers gave %u pointers, expected at least 4",
                        fill_count);
  uint32_t generations = fill_count - 2;
  for (uint32_t i = 0; i + 1 < fill_count; i++)
    if (fill[i] > fill[i + 1] || (fill[i] & 7) != 0)
      return ds_error_set(err, DS_E_CORRUPT, "finalization queue of heap 0x%" PRIx64 ": fill pointer %u (0x%"
                          PRIx64 ") is misaligned or after fill pointer %u (0x%" PRIx64 ")",
                          heap, i, fill[i], i + 1, fill[i + 1]);
  if ((fill[fill_count - 1] - fill[0]) / 8 > DS_MAX_FINALIZER_SLOTS)
    return ds_error_set(err, DS_E_LIMIT, "finalization queue of heap 0x%" PRIx64 " has %" PRIu64
                        " slots, more than %u (DS_MAX_FINALIZER_SLOTS)", heap,
                        (fill[fill_count - 1] - fill[0]) / 8, DS_MAX_FINALIZER_SLOTS);
  *out = (ds_dac_finalizer_queue){
      .heap = heap,
      .finalizable_start = fill[0],
      .finalizable_end = fill[generations - 1],
      .ready_start = fill[generations - 1],
      .ready_end = fill[generations + 1],
  };
  return DS_OK;
}

/* One queue per GC heap: server GC keeps a CFinalize per heap. */
ds_status ds_dac_finalizer_queues(ds_dac *dac, ds_dac_finalizer_queue **queues, size_t *count,
                                  ds_error *err) {
  *queues = NULL;
  *count = 0;
  ds_dacp_gc_heap_data hd;
  ds_addr *heaps = NULL;
  ds_dac_finalizer_queue *list = NULL;
  ds_status rc = ds_dac_gc_heap_data(dac, &hd, err);
  if (rc != DS_OK)
    goto out;
  uint32_t heap_count = hd.server_mode ? hd.heap_count : 1;
  if (heap_count == 0 || heap_count > DS_MAX_GC_HEAPS) {
    rc = ds_error_set(err, DS_E_LIMIT, "the GC reports %u heaps (at most %u handled)", heap_count,
                      DS_MAX_GC_HEAPS);
    goto out;
  }
  heaps = calloc(heap_count, sizeof *heaps);
  list = calloc(heap_count, sizeof *list);
  if (!heaps || !list) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %u GC heaps", heap_count);
    goto out;
  }
  if (hd.server_mode && (rc = ds_dac_gc_heap_list(dac, heap_count, heaps, err)) != DS_OK)
    goto out;
  for (uint32_t i = 0; i < heap_count; i++)
    if ((rc = heap_queue(dac, heaps[i], &list[i], err)) != DS_OK) {
      ds_error_wrap(err, "GC heap %u", i);
      goto out;
    }
out:
  free(heaps);
  if (rc != DS_OK) {
    free(list);
    return rc;
  }
  *queues = list;
  *count = heap_count;
  return DS_OK;
}

/* ---- thread statics (.NET 9+) --------------------------------------------------------------- */

typedef HRESULT (*thread_static_base_fn)(void *sos14, ds_addr mt, ds_addr thread, ds_addr *non_gc,
                                         ds_addr *gc);
typedef HRESULT (*init_flags_fn)(void *sos14, ds_addr mt, uint32_t *flags);

#define SOS14(dac) ((dac)->sos[14])
#define METHOD_TABLE_INITIALIZED 1u

/* ISOSDacInterface14 GetMethodTableInitializationFlags then GetThreadStaticBaseAddress, as
 * ClrMD's DacTypeHelpers.GetThreadStaticFieldAddress does. */
ds_status ds_dac_thread_static_gc_base(ds_dac *dac, ds_addr mt, ds_addr thread, ds_addr *gc_base,
                                       ds_error *err) {
  (void)err;
  *gc_base = 0;
  void *sos14 = SOS14(dac);
  if (!sos14)
    return DS_OK;
  uint32_t flags = 0;
  if (DS_VCALL(sos14, DS__SOS14_GET_METHOD_TABLE_INITIALIZATION_FLAGS, init_flags_fn)(sos14, mt, &flags) < 0 ||
      flags != METHOD_TABLE_INITIALIZED)
    return DS_OK;
  ds_addr non_gc = 0, gc = 0;
  if (DS_VCALL(sos14, DS__SOS14_GET_THREAD_STATIC_BASE_ADDRESS, thread_static_base_fn)(sos14, mt, thread, &non_gc,
                                                                                       &gc) < 0)
    return DS_OK; /* no storage allocated on this thread */
  *gc_base = gc;
  return DS_OK;
}
