/*
 * supervisor.h: runs analysis workers in isolated processes, on behalf of the daemon.
 *
 * ds_supervisor_start forks a single-threaded supervisor process while the daemon is still single
 * threaded (before the HTTP and dispatch threads start); the daemon then talks to it over a
 * socketpair with small fixed-size messages. For each submitted job the supervisor forks and
 * execs one fresh worker (the dumpscope executable with the given arguments) with:
 *   - every inherited fd closed except stdin (/dev/null), stdout and stderr (pipes to the
 *     supervisor);
 *   - PR_SET_PDEATHSIG(SIGKILL) and a getppid() re-check, its own process group;
 *   - RLIMIT_CPU and RLIMIT_DATA from the limits (not under AddressSanitizer), RLIMIT_CORE 0;
 *   - a wall-clock deadline: SIGTERM, a grace period, then SIGKILL to the process group.
 * stdout and stderr are drained continuously into a log file capped at log_cap bytes (the rest is
 * dropped and counted), so a chatty worker never blocks on a full pipe. A stdout line of the form
 * "@progress PHASE PERCENT" becomes a progress event. When the worker ends, an exit event says how:
 * exit code, or the signal, or that the deadline killed it, with the last lines of its log.
 *
 * The supervisor exits when the daemon closes its end of the socket (or dies: PR_SET_PDEATHSIG),
 * killing its workers first. Nothing here touches the store: the daemon records what it hears.
 */
#ifndef DUMPSCOPE_SERVER_SUPERVISOR_H
#define DUMPSCOPE_SERVER_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

typedef struct ds_supervisor ds_supervisor;

typedef struct ds_worker_limits {
  uint64_t data_bytes;       /* RLIMIT_DATA, 0 = unlimited */
  uint64_t cpu_seconds;      /* RLIMIT_CPU, 0 = unlimited */
  uint64_t wall_seconds;     /* deadline from start, 0 = none */
  uint64_t grace_seconds;    /* SIGTERM -> SIGKILL */
  uint64_t log_cap;          /* bytes of stdout+stderr kept in the log file (0 keeps none) */
} ds_worker_limits;

#define DS_SUPERVISOR_MAX_ARGS 16
#define DS_SUPERVISOR_ARG_MAX 1024
#define DS_SUPERVISOR_TAIL_MAX 2048
/* The worker executable and log paths are shorter than this. */
#define DS_SUPERVISOR_PATH_MAX 4096
/* max_workers is at most this; at most DS_SUPERVISOR_QUEUE_MAX jobs wait in the queue (a job
 * submitted to a full queue ends at once: an exit event with spawn_failed, tail saying why). */
#define DS_SUPERVISOR_WORKERS_MAX 256
#define DS_SUPERVISOR_QUEUE_MAX 256

typedef enum ds_worker_event_kind {
  DS_WORKER_STARTED = 1,     /* forked and exec'd: pid known */
  DS_WORKER_PROGRESS,        /* "@progress PHASE PERCENT" */
  DS_WORKER_EXITED,          /* ended: see exit_code / signal / timed_out */
} ds_worker_event_kind;

typedef struct ds_worker_event {
  ds_worker_event_kind kind;
  int64_t job_id;
  int pid;
  char phase[32];
  int percent;
  int exit_code;             /* -1 when killed by a signal */
  int signal;                /* 0 when it exited */
  bool timed_out;            /* the wall-clock deadline killed it */
  bool spawn_failed;         /* fork/exec failed: tail says why */
  char tail[DS_SUPERVISOR_TAIL_MAX]; /* exited: the last lines of the log (NUL-terminated); past
                                      * log_cap, the last lines written, though not kept */
} ds_worker_event;

/* Forks the supervisor. exe: absolute path of the worker executable (argv[0] of workers).
 * max_workers: at most this many run at once; further submissions wait in the supervisor's queue
 * (FIFO). Call before any thread is created. */
ds_status ds_supervisor_start(const char *exe, const ds_worker_limits *limits, int max_workers,
                              ds_supervisor **out, ds_error *err);
/* Asks for a worker: argv[1..] = args (argc <= DS_SUPERVISOR_MAX_ARGS, each shorter than
 * DS_SUPERVISOR_ARG_MAX), its log written to log_path (truncated first). Thread-safe. */
ds_status ds_supervisor_submit(ds_supervisor *sup, int64_t job_id, const char *log_path, int argc,
                               const char *const *args, ds_error *err);
/* Kills a job's worker (SIGKILL to its process group) or drops it from the queue; an exit event
 * follows for a running one (signal SIGKILL) and for a queued one (exit_code -1, signal 0, tail
 * "cancelled before start"). An unknown job_id is not an error. Thread-safe. */
ds_status ds_supervisor_cancel(ds_supervisor *sup, int64_t job_id, ds_error *err);
/* Waits up to timeout_ms (< 0: no limit) for the next event; *got false on timeout. One thread
 * calls this, and keeps calling it: a supervisor whose backlog of unread events is full stops
 * reading commands. If the supervisor process died, DS_E_IO. */
ds_status ds_supervisor_next_event(ds_supervisor *sup, int timeout_ms, ds_worker_event *ev, bool *got,
                                   ds_error *err);
/* The supervisor's pid (tests kill it to check the daemon notices). */
int ds_supervisor_pid(const ds_supervisor *sup);
/* Kills every worker, stops the supervisor process, waits for it (bounded), frees. */
void ds_supervisor_stop(ds_supervisor *sup);

#endif
