/*
 * supervisor.c: see supervisor.h. The daemon's side: it forks the supervisor process
 * (supervisor_process.c) and talks to it over the socketpair described in supervisorint.h.
 * Submissions and cancellations from several threads are serialised by one send lock; events are
 * read by one thread at a time (ds_supervisor_next_event).
 */
#include "supervisor.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisorint.h"

#define SUP_STOP_WAIT_MS 5000     /* ds_supervisor_stop waits this long, then SIGKILLs */
#define SUP_SECONDS_MAX 100000000 /* wall_seconds and grace_seconds: milliseconds fit easily */

struct ds_supervisor {
  int sock;
  pid_t pid;
  pthread_mutex_t send_lock;
};


/* ---- the daemon's side ------------------------------------------------------------------------ */

ds_status ds_supervisor_start(const char *exe, const ds_worker_limits *limits, int max_workers,
                              ds_supervisor **out, ds_error *err) {
  if (!out || !limits || !exe)
    return ds_error_set(err, DS_E_ARG, "starting the worker supervisor: exe, limits and out are required");
  *out = NULL;
  if (exe[0] != '/' || strnlen(exe, DS_SUPERVISOR_PATH_MAX) >= DS_SUPERVISOR_PATH_MAX)
    return ds_error_set(err, DS_E_ARG, "the worker executable must be an absolute path shorter than %d bytes",
                        DS_SUPERVISOR_PATH_MAX);
  if (max_workers < 1 || max_workers > DS_SUPERVISOR_WORKERS_MAX)
    return ds_error_set(err, DS_E_ARG, "max_workers is %d: it must be between 1 and %d", max_workers,
                        DS_SUPERVISOR_WORKERS_MAX);
  if (limits->wall_seconds > SUP_SECONDS_MAX || limits->grace_seconds > SUP_SECONDS_MAX)
    return ds_error_set(err, DS_E_ARG, "wall_seconds and grace_seconds must be at most %d", SUP_SECONDS_MAX);
  ds_status status = DS_OK;
  int pair[2] = {-1, -1};
  ds_supervisor *sup = calloc(1, sizeof *sup);
  if (!sup) {
    status = ds_error_set(err, DS_E_NOMEM, "out of memory starting the worker supervisor");
    goto out;
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    status = ds_error_set(err, DS_E_IO, "cannot create the supervisor's socket: %s", strerror(errno));
    goto out;
  }
  pid_t daemon = getpid();
  sup->pid = fork();
  if (sup->pid < 0) {
    status = ds_error_set(err, DS_E_IO, "cannot fork the worker supervisor: %s", strerror(errno));
    goto out;
  }
  if (sup->pid == 0) {
    close(pair[0]);
    ds__sup_main(pair[1], daemon, exe, limits, max_workers);
  }
  sup->sock = pair[0];
  pair[0] = -1;
  pthread_mutex_init(&sup->send_lock, NULL);
  *out = sup;
  sup = NULL;
out:
  ds__sup_close_fd(&pair[0]);
  ds__sup_close_fd(&pair[1]);
  free(sup);
  return status;
}

static ds_status send_command(ds_supervisor *sup, const void *msg, size_t size, ds_error *err) {
  pthread_mutex_lock(&sup->send_lock);
  ssize_t n;
  do
    n = send(sup->sock, msg, size, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  int saved = errno;
  pthread_mutex_unlock(&sup->send_lock);
  if (n < 0)
    return ds_error_set(err, DS_E_IO, "cannot reach the worker supervisor (pid %d): %s", (int)sup->pid,
                        strerror(saved));
  if ((size_t)n != size)
    return ds_error_set(err, DS_E_IO, "the worker supervisor (pid %d) took %zd of %zu bytes", (int)sup->pid,
                        n, size);
  return DS_OK;
}

ds_status ds_supervisor_submit(ds_supervisor *sup, int64_t job_id, const char *log_path, int argc,
                               const char *const *args, ds_error *err) {
  if (!sup || !log_path || !log_path[0] || argc < 0 || (argc > 0 && !args))
    return ds_error_set(err, DS_E_ARG, "submitting job %lld: supervisor, log path and args are required",
                        (long long)job_id);
  if (argc > DS_SUPERVISOR_MAX_ARGS)
    return ds_error_set(err, DS_E_LIMIT, "job %lld has %d arguments: at most %d", (long long)job_id, argc,
                        DS_SUPERVISOR_MAX_ARGS);
  if (strnlen(log_path, DS_SUPERVISOR_PATH_MAX) >= DS_SUPERVISOR_PATH_MAX)
    return ds_error_set(err, DS_E_LIMIT, "job %lld: the log path is %d bytes or longer", (long long)job_id,
                        DS_SUPERVISOR_PATH_MAX);
  for (int i = 0; i < argc; i++) {
    if (!args[i])
      return ds_error_set(err, DS_E_ARG, "job %lld: argument %d is NULL", (long long)job_id, i + 1);
    if (strnlen(args[i], DS_SUPERVISOR_ARG_MAX) >= DS_SUPERVISOR_ARG_MAX)
      return ds_error_set(err, DS_E_LIMIT, "job %lld: argument %d is %d bytes or longer", (long long)job_id,
                          i + 1, DS_SUPERVISOR_ARG_MAX);
  }
  sup_cmd_run *run = calloc(1, sizeof *run);
  if (!run)
    return ds_error_set(err, DS_E_NOMEM, "out of memory submitting job %lld", (long long)job_id);
  run->kind = SUP_CMD_RUN;
  run->argc = argc;
  run->job_id = job_id;
  memcpy(run->log_path, log_path, strlen(log_path) + 1);
  for (int i = 0; i < argc; i++)
    memcpy(run->args[i], args[i], strlen(args[i]) + 1);
  ds_status status = send_command(sup, run, sizeof *run, err);
  free(run);
  return status;
}

ds_status ds_supervisor_cancel(ds_supervisor *sup, int64_t job_id, ds_error *err) {
  if (!sup)
    return ds_error_set(err, DS_E_ARG, "cancelling job %lld: no supervisor", (long long)job_id);
  sup_cmd_cancel cancel = {.kind = SUP_CMD_CANCEL, .job_id = job_id};
  return send_command(sup, &cancel, sizeof cancel, err);
}

ds_status ds_supervisor_next_event(ds_supervisor *sup, int timeout_ms, ds_worker_event *ev, bool *got,
                                   ds_error *err) {
  if (!sup || !ev || !got)
    return ds_error_set(err, DS_E_ARG, "waiting for a worker event: supervisor, ev and got are required");
  *got = false;
  int64_t deadline = timeout_ms < 0 ? -1 : ds__sup_now_ms() + timeout_ms;
  struct pollfd p = {.fd = sup->sock, .events = POLLIN};
  for (;;) {
    int64_t wait = deadline < 0 ? -1 : deadline - ds__sup_now_ms();
    int rc = poll(&p, 1, deadline < 0 ? -1 : (int)(wait > 0 ? wait : 0));
    if (rc > 0)
      break;
    if (rc == 0)
      return DS_OK;
    if (errno != EINTR)
      return ds_error_set(err, DS_E_IO, "waiting for the worker supervisor: %s", strerror(errno));
  }
  ssize_t n = recv(sup->sock, ev, sizeof *ev, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return DS_OK;
  if (n == 0)
    return ds_error_set(err, DS_E_IO, "the worker supervisor (pid %d) has exited", (int)sup->pid);
  if (n < 0)
    return ds_error_set(err, DS_E_IO, "the worker supervisor (pid %d) is gone: %s", (int)sup->pid,
                        strerror(errno));
  if (n != (ssize_t)sizeof *ev || ev->kind < DS_WORKER_STARTED || ev->kind > DS_WORKER_EXITED)
    return ds_error_set(err, DS_E_CORRUPT, "the worker supervisor sent a malformed event (%zd bytes)", n);
  ev->phase[sizeof ev->phase - 1] = 0;
  ev->tail[sizeof ev->tail - 1] = 0;
  *got = true;
  return DS_OK;
}

int ds_supervisor_pid(const ds_supervisor *sup) {
  return sup ? (int)sup->pid : -1;
}

void ds_supervisor_stop(ds_supervisor *sup) {
  if (!sup)
    return;
  shutdown(sup->sock, SHUT_RDWR); /* EOF for the supervisor even if a fork still holds a copy */
  close(sup->sock);
  int64_t deadline = ds__sup_now_ms() + SUP_STOP_WAIT_MS;
  for (;;) {
    pid_t done = waitpid(sup->pid, NULL, WNOHANG);
    if (done == sup->pid || (done < 0 && errno != EINTR))
      break;
    if (ds__sup_now_ms() >= deadline) {
      kill(sup->pid, SIGKILL);
      while (waitpid(sup->pid, NULL, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    struct timespec pause = {.tv_nsec = 10 * 1000000};
    nanosleep(&pause, NULL);
  }
  pthread_mutex_destroy(&sup->send_lock);
  free(sup);
}
