/*
 * threadroles.h: what a managed thread is for, in one table (as SOS !clrthreads labels threads:
 * finalizer, thread pool worker, gate, timer, ...), and the innermost managed method of a stack.
 *
 * A role comes from the thread's state bits, its finalizer flag and the methods on its stack (a
 * runtime thread is recognised by the method it was started with: the thread pool's gate thread
 * runs PortableThreadPool+GateThread.GateThreadStart). A system role is a thread the runtime or
 * the framework owns and that waits by design (gate, wait and timer threads, the socket engine,
 * the finalizer, threads that run no managed code): its waits are not blocked application work,
 * so the findings leave them out.
 *
 * Pure data over method names: the analysis (frames from the DAC) and the queries (frames from
 * the index) ask the same table.
 */
#ifndef DUMPSCOPE_THREADROLES_H
#define DUMPSCOPE_THREADROLES_H

#include <stdbool.h>
#include <stdint.h>

#define DS_THREAD_STATE_BACKGROUND 0x200u          /* Thread::ThreadState TS_Background */
#define DS_THREAD_STATE_UNSTARTED 0x400u           /* TS_Unstarted */
#define DS_THREAD_STATE_POOL_WORKER 0x1000000u     /* TS_TPWorkerThread */
#define DS_THREAD_STATE_COMPLETION_PORT 0x8000000u /* TS_CompletionPortThread */

typedef struct ds_thread_role {
  const char *name; /* "finalizer", "thread pool worker", "thread pool gate", "timer", "main", ... */
  bool system;      /* owned by the runtime or the framework, waits by design */
  bool pool_worker; /* a thread pool worker that runs application work items */
} ds_thread_role;

/* The method name of a thread's frame k (0 = innermost), or NULL past its end. */
typedef const char *(*ds_frame_method_fn)(const void *ctx, uint32_t k);

/* The role of a thread with these state bits, flags and frame_count frames. Never NULL. */
const ds_thread_role *ds_thread_role_of(uint32_t state, bool alive, bool finalizer, uint32_t frame_count,
                                        ds_frame_method_fn method, const void *ctx);

/* Whether a frame's method name is a managed method (not a runtime frame such as
 * "[InlinedCallFrame: ...]" or "[unknown code at ...]"). */
bool ds_frame_is_managed_method(const char *method);

/* The innermost frame that is a managed method, UINT32_MAX when the thread has none. */
uint32_t ds_first_managed_frame(uint32_t frame_count, ds_frame_method_fn method, const void *ctx);

#endif
