/*
 * supervisorint.h: what the two halves of the worker supervisor share, and nothing else. Included
 * by supervisor.c (the daemon's side: start, submit, cancel, next_event, stop) and
 * supervisor_process.c (the supervisor process: its poll loop, spawning workers, draining their
 * pipes, deadlines) alone; everyone else sees supervisor.h.
 *
 * The two processes share a SOCK_SEQPACKET socketpair; every message is one datagram of a
 * fixed-size struct, and a datagram of the wrong size is a protocol violation:
 *   daemon -> supervisor: sup_cmd_run (kind, argc, job_id, log_path, args) or sup_cmd_cancel
 *                         (kind, job_id); a violation makes the supervisor kill its workers and
 *                         exit, so the daemon sees DS_E_IO.
 *   supervisor -> daemon: ds_worker_event, as is.
 */
#ifndef DUMPSCOPE_SERVER_SUPERVISORINT_H
#define DUMPSCOPE_SERVER_SUPERVISORINT_H

#include <stdint.h>
#include <sys/types.h>

#include "supervisor.h"

enum { SUP_CMD_RUN = 1, SUP_CMD_CANCEL = 2 };

typedef struct sup_cmd_run {
  uint32_t kind;
  int32_t argc;
  int64_t job_id;
  char log_path[DS_SUPERVISOR_PATH_MAX];
  char args[DS_SUPERVISOR_MAX_ARGS][DS_SUPERVISOR_ARG_MAX];
} sup_cmd_run;

typedef struct sup_cmd_cancel {
  uint32_t kind;
  uint32_t reserved;
  int64_t job_id;
} sup_cmd_cancel;

typedef union sup_cmd {
  uint32_t kind;
  sup_cmd_run run;
  sup_cmd_cancel cancel;
} sup_cmd;

/* Monotonic milliseconds: what every deadline is measured in, on both sides. */
int64_t ds__sup_now_ms(void);

/* Closes *fd when it is open and marks it closed (-1). */
void ds__sup_close_fd(int *fd);

/* The supervisor process's main, run in the child ds_supervisor_start forks: sock is its end of
 * the socketpair, daemon the pid it must outlive no longer than. Never returns. */
_Noreturn void ds__sup_main(int sock, pid_t daemon, const char *exe, const ds_worker_limits *limits,
                            int max_workers);

#endif
