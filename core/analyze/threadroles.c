/*
 * threadroles.c: the table of thread roles (threadroles.h).
 *
 * Part of ds_core_base (no DAC): the analysis asks it with the DAC's frames, the queries with the
 * index's. Adding a runtime or framework thread is one row of started_by[].
 */
#include "dumpscope/threadroles.h"

#include <stddef.h>
#include <string.h>

static const ds_thread_role FINALIZER = {"finalizer", true, false};
static const ds_thread_role DEAD = {"dead", false, false};
static const ds_thread_role UNSTARTED = {"unstarted", false, false};
static const ds_thread_role POOL_WORKER = {"thread pool worker", false, true};
static const ds_thread_role POOL_IO = {"thread pool I/O", false, true};
static const ds_thread_role NATIVE = {"runtime (no managed frames)", true, false};
static const ds_thread_role MAIN = {"main", false, false};
static const ds_thread_role BACKGROUND = {"background", false, false};
static const ds_thread_role FOREGROUND = {"foreground", false, false};

/* Threads known by the method they were started with (a substring of a frame's method name);
 * the first row found on the stack wins. */
static const struct {
  const char *method;
  ds_thread_role role;
} started_by[] = {
    {"System.Threading.PortableThreadPool+GateThread.GateThreadStart", {"thread pool gate", true, false}},
    {"System.Threading.PortableThreadPool+WaitThread.WaitThreadStart", {"thread pool wait", true, false}},
    {"System.Threading.TimerQueue.TimerThread", {"timer", true, false}},
    {"System.Net.Sockets.SocketAsyncEngine.EventLoop", {"socket engine", true, false}},
    {"System.Diagnostics.Tracing.EventPipeEventDispatcher", {"event pipe dispatcher", true, false}},
    {"Microsoft.Extensions.Logging.Console.ConsoleLoggerProcessor.ProcessLogQueue",
     {"console logger", true, false}},
    {"System.IO.FileSystemWatcher+RunningInstance.ProcessEvents", {"file system watcher", true, false}},
    {"Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Infrastructure.Heartbeat.TimerLoop",
     {"Kestrel heartbeat", true, false}},
    {"System.Threading.PortableThreadPool+WorkerThread.WorkerThreadStart",
     {"thread pool worker", false, true}},
};

bool ds_frame_is_managed_method(const char *method) {
  return method && *method && *method != '[';
}

uint32_t ds_first_managed_frame(uint32_t frame_count, ds_frame_method_fn method, const void *ctx) {
  for (uint32_t k = 0; k < frame_count; k++) {
    const char *m = method(ctx, k);
    if (!m)
      break;
    if (ds_frame_is_managed_method(m))
      return k;
  }
  return UINT32_MAX;
}

/* The outermost managed method: where the thread began running managed code. */
static const char *outermost_method(uint32_t frame_count, ds_frame_method_fn method, const void *ctx) {
  const char *last = NULL;
  for (uint32_t k = 0; k < frame_count; k++) {
    const char *m = method(ctx, k);
    if (!m)
      break;
    if (ds_frame_is_managed_method(m) && strncmp(m, "System.Threading.Thread.StartCallback", 37) != 0)
      last = m;
  }
  return last;
}

static bool is_main(const char *method) {
  /* Main, the async Main's stub <Main>, and top-level statements' <Main>$ */
  return method && (strstr(method, ".Main(") || strstr(method, ".<Main>(") || strstr(method, ".<Main>$("));
}

const ds_thread_role *ds_thread_role_of(uint32_t state, bool alive, bool finalizer, uint32_t frame_count,
                                        ds_frame_method_fn method, const void *ctx) {
  if (finalizer)
    return &FINALIZER;
  if (!alive)
    return &DEAD;
  if (state & DS_THREAD_STATE_UNSTARTED)
    return &UNSTARTED;
  for (uint32_t k = 0; k < frame_count; k++) {
    const char *m = method(ctx, k);
    if (!m)
      break;
    for (size_t r = 0; r < sizeof started_by / sizeof *started_by; r++)
      if (strstr(m, started_by[r].method))
        return &started_by[r].role;
  }
  if (state & DS_THREAD_STATE_POOL_WORKER)
    return &POOL_WORKER;
  if (state & DS_THREAD_STATE_COMPLETION_PORT)
    return &POOL_IO;
  const char *outermost = outermost_method(frame_count, method, ctx);
  if (!outermost)
    return &NATIVE;
  if (is_main(outermost))
    return &MAIN;
  return (state & DS_THREAD_STATE_BACKGROUND) ? &BACKGROUND : &FOREGROUND;
}
