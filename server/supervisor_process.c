/*
 * supervisor_process.c: the supervisor process of supervisor.h, forked by ds_supervisor_start
 * (supervisor.c), speaking the protocol of supervisorint.h.
 *
 * The supervisor is one poll() loop over the socket, each worker's stdout and stderr pipes and its
 * pidfd; the poll timeout is the timer for the nearest deadline. Its socket end is non-blocking:
 * events the daemon has not read yet wait in a bounded ring. Once the ring is half full the
 * supervisor takes no new work (it reads no commands and starts no queued job) and drops progress
 * events, but keeps draining pipes and enforcing deadlines; what can still arrive (the exit events
 * of running workers, the events of one command) fits in the other half, so it never blocks.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisorint.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SUP_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SUP_UNDER_ASAN 1
#endif
#endif
#ifndef SUP_UNDER_ASAN
#define SUP_UNDER_ASAN 0
#endif

#define SUP_PENDING_MAX 1024                   /* events waiting for the daemon to read them */
#define SUP_BACKLOG_HIGH (SUP_PENDING_MAX / 2) /* from here on: no new work, no progress events */
#define SUP_LINE_MAX 256                       /* a longer stdout line is only logged, never parsed */
#define SUP_READ_CHUNK 65536                   /* bytes read from one pipe per wake-up */
#define SUP_DRAIN_MS 2000         /* after the worker is reaped, how long its pipes may stay open */
#define SUP_PHASE_MAX ((int)sizeof(((ds_worker_event *)0)->phase))
/* Past the high mark: one command's events (a cancel matching every queued job) and the exits of
 * every running worker. */
_Static_assert(SUP_BACKLOG_HIGH - 1 + DS_SUPERVISOR_QUEUE_MAX + DS_SUPERVISOR_WORKERS_MAX < SUP_PENDING_MAX,
               "the event ring must hold what can arrive after the supervisor stops taking work");

typedef struct sup_worker {
  bool active; /* the slot holds a job */
  bool reaped; /* the process is gone; its pipes drain until EOF or drain_until */
  int64_t job_id;
  pid_t pid;
  int pidfd, out_fd, err_fd, log_fd;
  int64_t term_at, kill_at, drain_until; /* monotonic ms; 0 = nothing scheduled */
  bool timed_out;
  int exit_code, signal;
  uint64_t logged, dropped, total_out;
  char last_logged;
  char line[SUP_LINE_MAX];
  size_t line_len;
  bool line_overflow;
  char tail_ring[DS_SUPERVISOR_TAIL_MAX]; /* the last bytes of output, logged or dropped */
} sup_worker;

typedef struct sup_state {
  int sock, devnull;
  pid_t self;
  const char *exe;
  ds_worker_limits limits;
  int max_workers, running;
  bool daemon_gone;
  sup_worker workers[DS_SUPERVISOR_WORKERS_MAX];
  sup_cmd_run *queue[DS_SUPERVISOR_QUEUE_MAX];
  size_t queue_count;
  ds_worker_event pending[SUP_PENDING_MAX];
  size_t pending_head, pending_count;
  sup_cmd cmd; /* receive buffer */
  struct pollfd fds[1 + 3 * DS_SUPERVISOR_WORKERS_MAX];
  struct {
    int worker, role; /* role: 0 stdout, 1 stderr, 2 pidfd */
  } fd_owner[1 + 3 * DS_SUPERVISOR_WORKERS_MAX];
} sup_state;

/* ---- the worker child: from fork to exec, async-signal-safe calls only ------------------------ */

enum { STEP_SETPGID, STEP_PDEATHSIG, STEP_SIGNALS, STEP_DUP, STEP_CLOSE_RANGE, STEP_RLIMIT, STEP_EXEC };
static const char *const step_names[] = {
    "setpgid", "prctl(PR_SET_PDEATHSIG)", "signal reset", "dup2", "close_range", "setrlimit", "exec"};

/* What the worker child reports on its status pipe when it cannot exec (EOF means it did). */
typedef struct sup_child_failure {
  int32_t step;
  int32_t error;
} sup_child_failure;

/* Sets one rlimit, never above the hard limit we already have (raising it would fail). */
static int set_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit current;
  if (getrlimit(resource, &current) != 0)
    return -1;
  if (current.rlim_max != RLIM_INFINITY && (hard == RLIM_INFINITY || hard > current.rlim_max))
    hard = current.rlim_max;
  struct rlimit wanted = {.rlim_cur = soft < hard ? soft : hard, .rlim_max = hard};
  return setrlimit(resource, &wanted);
}

/* RLIMIT_CORE 0 always; CPU and DATA unless built with AddressSanitizer, whose shadow memory
 * counts against RLIMIT_DATA. CPU: SIGXCPU at the limit, SIGKILL one grace period later. */
static int apply_limits(const ds_worker_limits *limits) {
  if (set_limit(RLIMIT_CORE, 0, 0) != 0)
    return -1;
  if (SUP_UNDER_ASAN)
    return 0;
  if (limits->cpu_seconds) {
    rlim_t grace = limits->grace_seconds ? (rlim_t)limits->grace_seconds : 1;
    rlim_t soft = (rlim_t)limits->cpu_seconds;
    rlim_t hard = soft + grace < soft ? RLIM_INFINITY : soft + grace;
    if (set_limit(RLIMIT_CPU, soft, hard) != 0)
      return -1;
  }
  if (limits->data_bytes &&
      set_limit(RLIMIT_DATA, (rlim_t)limits->data_bytes, (rlim_t)limits->data_bytes) != 0)
    return -1;
  return 0;
}

/* Runs in the forked worker: isolates it and execs the worker executable. Never returns.
 * pipes: the write ends of its stdout, stderr and status pipes. */
static _Noreturn void worker_child(const sup_state *s, char *const *argv, const int pipes[3]) {
  int step = STEP_SETPGID;
  if (setpgid(0, 0) != 0)
    goto fail;
  step = STEP_PDEATHSIG;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    goto fail;
  if (getppid() != s->self) /* the supervisor died before prctl */
    _exit(127);
  step = STEP_SIGNALS;
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  sigset_t none;
  sigemptyset(&none);
  if (sigaction(SIGPIPE, &dfl, NULL) != 0 || sigprocmask(SIG_SETMASK, &none, NULL) != 0)
    goto fail;
  step = STEP_DUP;
  if (dup2(s->devnull, 0) < 0 || dup2(pipes[0], 1) < 0 || dup2(pipes[1], 2) < 0)
    goto fail;
  /* Everything from 3 up closes at exec, the status pipe included: its EOF says exec worked. */
  step = STEP_CLOSE_RANGE;
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    goto fail;
  step = STEP_RLIMIT;
  if (apply_limits(&s->limits) != 0)
    goto fail;
  step = STEP_EXEC;
  execv(s->exe, argv);
fail:;
  sup_child_failure failure = {.step = step, .error = errno};
  ssize_t ignored = write(pipes[2], &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

/* ---- the supervisor process ----------------------------------------------------------------- */

int64_t ds__sup_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ds__sup_close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* A zeroed event (no stray bytes go over the socket) of kind for a job. */
static ds_worker_event event_of(ds_worker_event_kind kind, int64_t job_id, pid_t pid) {
  ds_worker_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = kind;
  ev.job_id = job_id;
  ev.pid = pid;
  return ev;
}

/* Sends one event without blocking: 1 sent, 0 would block, -1 the daemon is gone. */
static int sup_send(sup_state *s, const ds_worker_event *ev) {
  for (;;) {
    ssize_t n = send(s->sock, ev, sizeof *ev, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)sizeof *ev)
      return 1;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    s->daemon_gone = true;
    return -1;
  }
}

/* Sends what the ring holds, in order; with block, waits until it is empty (or the daemon is gone). */
static void sup_flush(sup_state *s, bool block) {
  while (s->pending_count > 0 && !s->daemon_gone) {
    int sent = sup_send(s, &s->pending[s->pending_head]);
    if (sent == 1) {
      s->pending_head = (s->pending_head + 1) % SUP_PENDING_MAX;
      s->pending_count--;
    } else if (sent == 0 && block) {
      struct pollfd p = {.fd = s->sock, .events = POLLOUT};
      poll(&p, 1, 1000);
    } else {
      return;
    }
  }
}

static void sup_emit(sup_state *s, const ds_worker_event *ev) {
  if (s->daemon_gone)
    return;
  if (s->pending_count == 0 && sup_send(s, ev) != 0)
    return;
  if (ev->kind == DS_WORKER_PROGRESS && s->pending_count >= SUP_BACKLOG_HIGH)
    return; /* the daemon is behind: a later progress event supersedes this one */
  if (s->pending_count == SUP_PENDING_MAX)
    sup_flush(s, true); /* cannot happen (see the top of the file); blocking beats losing it */
  if (s->daemon_gone)
    return;
  s->pending[(s->pending_head + s->pending_count) % SUP_PENDING_MAX] = *ev;
  s->pending_count++;
}

/* An exit event for a job that never ran (cancelled, queue full, spawn failure). */
static void emit_not_run(sup_state *s, int64_t job_id, pid_t pid, bool spawn_failed, const char *why) {
  ds_worker_event ev = event_of(DS_WORKER_EXITED, job_id, pid);
  ev.exit_code = -1;
  ev.spawn_failed = spawn_failed;
  snprintf(ev.tail, sizeof ev.tail, "%s", why);
  sup_emit(s, &ev);
}

static bool write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data += n;
    size -= (size_t)n;
  }
  return true;
}

/* "@progress PHASE PERCENT" (PERCENT 0..100) into phase/percent; false for anything else. */
static bool parse_progress(const char *line, char *phase, int *percent) {
  static const char prefix[] = "@progress ";
  if (strncmp(line, prefix, sizeof prefix - 1) != 0)
    return false;
  const char *p = line + sizeof prefix - 1;
  p += strspn(p, " \t");
  size_t phase_len = strcspn(p, " \t");
  if (phase_len == 0 || phase_len >= (size_t)SUP_PHASE_MAX)
    return false;
  const char *number = p + phase_len + strspn(p + phase_len, " \t");
  char *end = NULL;
  errno = 0;
  long value = strtol(number, &end, 10);
  if (end == number || errno != 0 || value < 0 || value > 100)
    return false;
  if (end[strspn(end, " \t\r")] != 0)
    return false;
  memcpy(phase, p, phase_len);
  phase[phase_len] = 0;
  *percent = (int)value;
  return true;
}

static void worker_line(sup_state *s, sup_worker *w) {
  ds_worker_event ev = event_of(DS_WORKER_PROGRESS, w->job_id, w->pid);
  w->line[w->line_len] = 0;
  if (!w->line_overflow && parse_progress(w->line, ev.phase, &ev.percent))
    sup_emit(s, &ev);
  w->line_len = 0;
  w->line_overflow = false;
}

/* Output from the worker: into the log up to the cap, into the tail ring, stdout into lines. */
static void worker_output(sup_state *s, sup_worker *w, const char *data, size_t size, bool is_stdout) {
  uint64_t room = s->limits.log_cap > w->logged ? s->limits.log_cap - w->logged : 0;
  size_t keep = size < room ? size : (size_t)room;
  if (keep > 0 && write_all(w->log_fd, data, keep)) {
    w->logged += keep;
    w->last_logged = data[keep - 1];
  } else {
    w->dropped += keep;
  }
  w->dropped += size - keep;
  for (size_t i = 0; i < size; i++)
    w->tail_ring[(w->total_out + i) % DS_SUPERVISOR_TAIL_MAX] = data[i];
  w->total_out += size;
  if (!is_stdout)
    return;
  for (size_t i = 0; i < size; i++) {
    if (data[i] == '\n')
      worker_line(s, w);
    else if (w->line_len < SUP_LINE_MAX - 1)
      w->line[w->line_len++] = data[i];
    else
      w->line_overflow = true;
  }
}

/* The last lines of the output, starting at a line start when the ring cut into a line. */
static void worker_tail(const sup_worker *w, char *out) {
  const size_t cap = DS_SUPERVISOR_TAIL_MAX - 1;
  size_t len = w->total_out < cap ? (size_t)w->total_out : cap;
  uint64_t start = w->total_out - len;
  for (size_t i = 0; i < len; i++) {
    char c = w->tail_ring[(start + i) % DS_SUPERVISOR_TAIL_MAX];
    out[i] = c ? c : '?';
  }
  out[len] = 0;
  bool mid_line = start > 0 && w->tail_ring[(start - 1) % DS_SUPERVISOR_TAIL_MAX] != '\n';
  char *newline = mid_line ? memchr(out, '\n', len) : NULL;
  if (newline && newline[1] != 0)
    memmove(out, newline + 1, strlen(newline + 1) + 1);
}

/* Reads once from a pipe; closes it at EOF or on error. */
static void worker_read(sup_state *s, sup_worker *w, int *fd, bool is_stdout) {
  static char chunk[SUP_READ_CHUNK];
  ssize_t n = read(*fd, chunk, sizeof chunk);
  if (n > 0) {
    worker_output(s, w, chunk, (size_t)n, is_stdout);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  ds__sup_close_fd(fd);
  if (is_stdout && w->line_len > 0)
    worker_line(s, w); /* a last line without its newline */
}

/* Ends a job: note dropped bytes in the log, send the exit event, free the slot. */
static void worker_finish(sup_state *s, sup_worker *w) {
  ds__sup_close_fd(&w->out_fd);
  ds__sup_close_fd(&w->err_fd);
  ds__sup_close_fd(&w->pidfd);
  if (w->dropped > 0) {
    char note[96];
    int len = snprintf(note, sizeof note, "%s[... %llu bytes dropped]\n",
                       w->logged > 0 && w->last_logged != '\n' ? "\n" : "", (unsigned long long)w->dropped);
    if (len > 0)
      write_all(w->log_fd, note, (size_t)len < sizeof note ? (size_t)len : sizeof note - 1);
  }
  ds__sup_close_fd(&w->log_fd);
  ds_worker_event ev = event_of(DS_WORKER_EXITED, w->job_id, w->pid);
  ev.exit_code = w->exit_code;
  ev.signal = w->signal;
  ev.timed_out = w->timed_out;
  worker_tail(w, ev.tail);
  memset(w, 0, sizeof *w);
  w->pidfd = w->out_fd = w->err_fd = w->log_fd = -1;
  s->running--;
  sup_emit(s, &ev);
}

static void worker_maybe_finish(sup_state *s, sup_worker *w) {
  if (w->active && w->reaped && ((w->out_fd < 0 && w->err_fd < 0) || ds__sup_now_ms() >= w->drain_until))
    worker_finish(s, w);
}

/* The pidfd is readable: the worker ended. Kill what is left of its group while the zombie still
 * holds the group id, then reap it. */
static void worker_reap(sup_state *s, sup_worker *w) {
  kill(-w->pid, SIGKILL);
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid(P_PIDFD, (id_t)w->pidfd, &info, WEXITED | WNOHANG) != 0) {
    if (errno != ECHILD)
      return;
    w->exit_code = -1; /* someone else reaped it: how it ended is unknown */
  } else if (info.si_pid == 0) {
    return;
  } else if (info.si_code == CLD_EXITED) {
    w->exit_code = info.si_status;
  } else {
    w->exit_code = -1;
    w->signal = info.si_status;
  }
  ds__sup_close_fd(&w->pidfd);
  w->reaped = true;
  w->drain_until = ds__sup_now_ms() + SUP_DRAIN_MS;
  worker_maybe_finish(s, w);
}

/* Forks a worker for a job into a free slot; a job that cannot start ends with spawn_failed. */
static void sup_spawn(sup_state *s, sup_cmd_run *job) {
  sup_worker *w = NULL;
  for (int i = 0; i < s->max_workers && !w; i++)
    if (!s->workers[i].active)
      w = &s->workers[i];
  assert(w); /* sup_start_queued only spawns below max_workers */
  int out[2] = {-1, -1}, err[2] = {-1, -1}, status[2] = {-1, -1}, log_fd = -1;
  pid_t pid = 0;
  char why[DS_SUPERVISOR_TAIL_MAX];
  char *argv[DS_SUPERVISOR_MAX_ARGS + 2];
  argv[0] = (char *)s->exe;
  for (int i = 0; i < job->argc; i++)
    argv[i + 1] = job->args[i];
  argv[job->argc + 1] = NULL;

  log_fd = open(job->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    snprintf(why, sizeof why, "cannot open the worker log %s: %s", job->log_path, strerror(errno));
    goto failed;
  }
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC) != 0 ||
      fcntl(out[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) != 0) {
    snprintf(why, sizeof why, "cannot create the worker's pipes: %s", strerror(errno));
    goto failed;
  }
  pid = fork();
  if (pid < 0) {
    pid = 0;
    snprintf(why, sizeof why, "cannot fork a worker: %s", strerror(errno));
    goto failed;
  }
  if (pid == 0)
    worker_child(s, argv, (const int[3]){out[1], err[1], status[1]});
  ds__sup_close_fd(&out[1]);
  ds__sup_close_fd(&err[1]);
  ds__sup_close_fd(&status[1]);
  sup_child_failure failure;
  ssize_t n;
  do
    n = read(status[0], &failure, sizeof failure);
  while (n < 0 && errno == EINTR);
  if (n == (ssize_t)sizeof failure) {
    waitpid(pid, NULL, 0);
    int step = failure.step >= 0 && failure.step <= STEP_EXEC ? failure.step : STEP_EXEC;
    snprintf(why, sizeof why, "cannot start the worker %s: %s failed: %s", s->exe, step_names[step],
             strerror(failure.error));
    goto failed;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    snprintf(why, sizeof why, "cannot watch the worker (pidfd_open): %s", strerror(errno));
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    goto failed;
  }
  ds__sup_close_fd(&status[0]);
  memset(w, 0, sizeof *w);
  w->active = true;
  w->job_id = job->job_id;
  w->pid = pid;
  w->pidfd = pidfd;
  w->out_fd = out[0];
  w->err_fd = err[0];
  w->log_fd = log_fd;
  if (s->limits.wall_seconds)
    w->term_at = ds__sup_now_ms() + (int64_t)s->limits.wall_seconds * 1000;
  s->running++;
  ds_worker_event ev = event_of(DS_WORKER_STARTED, job->job_id, pid);
  sup_emit(s, &ev);
  free(job);
  return;

failed:
  if (log_fd >= 0) {
    write_all(log_fd, why, strlen(why));
    write_all(log_fd, "\n", 1);
  }
  ds__sup_close_fd(&log_fd);
  for (int i = 0; i < 2; i++) {
    ds__sup_close_fd(&out[i]);
    ds__sup_close_fd(&err[i]);
    ds__sup_close_fd(&status[i]);
  }
  emit_not_run(s, job->job_id, pid, true, why);
  free(job);
}

static void sup_start_queued(sup_state *s) {
  while (s->running < s->max_workers && s->queue_count > 0 && !s->daemon_gone &&
         s->pending_count < SUP_BACKLOG_HIGH) {
    sup_cmd_run *job = s->queue[0];
    memmove(&s->queue[0], &s->queue[1], (s->queue_count - 1) * sizeof s->queue[0]);
    s->queue_count--;
    sup_spawn(s, job);
  }
}

static void sup_cancel(sup_state *s, int64_t job_id) {
  for (int i = 0; i < s->max_workers; i++) {
    sup_worker *w = &s->workers[i];
    if (w->active && !w->reaped && w->job_id == job_id)
      kill(-w->pid, SIGKILL); /* the exit event follows when the pidfd fires */
  }
  size_t kept = 0;
  for (size_t i = 0; i < s->queue_count; i++) {
    if (s->queue[i]->job_id == job_id) {
      emit_not_run(s, job_id, 0, false, "cancelled before start");
      free(s->queue[i]);
    } else {
      s->queue[kept++] = s->queue[i];
    }
  }
  s->queue_count = kept;
}

static bool run_is_valid(const sup_cmd_run *run) {
  if (run->argc < 0 || run->argc > DS_SUPERVISOR_MAX_ARGS)
    return false;
  if (memchr(run->log_path, 0, sizeof run->log_path) == NULL || run->log_path[0] == 0)
    return false;
  for (int i = 0; i < run->argc; i++)
    if (memchr(run->args[i], 0, sizeof run->args[i]) == NULL)
      return false;
  return true;
}

/* Queues a job, or ends it at once when the queue is full. */
static void sup_enqueue(sup_state *s, const sup_cmd_run *run) {
  sup_cmd_run *job = s->queue_count < DS_SUPERVISOR_QUEUE_MAX ? malloc(sizeof *job) : NULL;
  if (!job) {
    char why[96];
    snprintf(why, sizeof why, "the supervisor cannot queue the job: %s",
             s->queue_count < DS_SUPERVISOR_QUEUE_MAX ? "out of memory" : "the queue is full");
    emit_not_run(s, run->job_id, 0, true, why);
    return;
  }
  memcpy(job, run, sizeof *job);
  s->queue[s->queue_count++] = job;
}

/* One command from the daemon. EOF, an error or a malformed message ends the supervisor. */
static void sup_receive(sup_state *s) {
  sup_cmd *cmd = &s->cmd;
  ssize_t n = recv(s->sock, cmd, sizeof *cmd, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n == (ssize_t)sizeof cmd->cancel && cmd->kind == SUP_CMD_CANCEL)
    sup_cancel(s, cmd->cancel.job_id);
  else if (n == (ssize_t)sizeof cmd->run && cmd->kind == SUP_CMD_RUN && run_is_valid(&cmd->run))
    sup_enqueue(s, &cmd->run);
  else
    s->daemon_gone = true; /* EOF, a socket error or a protocol violation */
}

/* Deadlines: SIGTERM at the wall-clock limit, SIGKILL a grace period later; finishes workers whose
 * pipes stayed open too long after they were reaped. Returns the poll timeout to the next one. */
static int sup_check_deadlines(sup_state *s) {
  int64_t now = ds__sup_now_ms(), next = -1;
  for (int i = 0; i < s->max_workers; i++) {
    sup_worker *w = &s->workers[i];
    if (!w->active)
      continue;
    if (w->reaped) {
      worker_maybe_finish(s, w);
      if (w->active && (next < 0 || w->drain_until < next))
        next = w->drain_until;
      continue;
    }
    if (w->term_at && now >= w->term_at) {
      kill(-w->pid, SIGTERM);
      w->timed_out = true;
      w->term_at = 0;
      w->kill_at = now + (int64_t)s->limits.grace_seconds * 1000;
    }
    if (w->kill_at && now >= w->kill_at) {
      kill(-w->pid, SIGKILL);
      w->kill_at = 0;
    }
    int64_t due = w->term_at ? w->term_at : w->kill_at;
    if (due && (next < 0 || due < next))
      next = due;
  }
  if (next < 0)
    return -1;
  return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

static int sup_poll_set(sup_state *s) {
  int count = 0;
  short events = (s->pending_count < SUP_BACKLOG_HIGH ? POLLIN : 0) | (s->pending_count ? POLLOUT : 0);
  s->fds[count] = (struct pollfd){.fd = s->sock, .events = events};
  s->fd_owner[count++].worker = -1;
  for (int i = 0; i < s->max_workers; i++) {
    sup_worker *w = &s->workers[i];
    int fds[3] = {w->out_fd, w->err_fd, w->pidfd};
    for (int role = 0; role < 3 && w->active; role++) {
      if (fds[role] < 0)
        continue;
      s->fds[count] = (struct pollfd){.fd = fds[role], .events = POLLIN};
      s->fd_owner[count].worker = i;
      s->fd_owner[count++].role = role;
    }
  }
  return count;
}

/* Kills every worker's group and reaps them: the daemon is gone. */
static void sup_kill_all(sup_state *s) {
  for (int i = 0; i < s->max_workers; i++) {
    sup_worker *w = &s->workers[i];
    if (!w->active || w->reaped)
      continue;
    kill(-w->pid, SIGKILL);
    siginfo_t info;
    while (waitid(P_PIDFD, (id_t)w->pidfd, &info, WEXITED) != 0 && errno == EINTR) {
    }
  }
}

static void sup_loop(sup_state *s) {
  while (!s->daemon_gone) {
    int timeout = sup_check_deadlines(s);
    int count = sup_poll_set(s);
    if (poll(s->fds, (nfds_t)count, timeout) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (s->fds[0].revents & (POLLOUT | POLLHUP | POLLERR))
      sup_flush(s, false); /* a closed daemon end fails the send: daemon_gone */
    if ((s->fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && s->pending_count < SUP_BACKLOG_HIGH)
      sup_receive(s);
    for (int i = 1; i < count; i++) {
      sup_worker *w = &s->workers[s->fd_owner[i].worker];
      int role = s->fd_owner[i].role;
      if (!s->fds[i].revents || !w->active)
        continue;
      if (role == 0 && w->out_fd == s->fds[i].fd)
        worker_read(s, w, &w->out_fd, true);
      else if (role == 1 && w->err_fd == s->fds[i].fd)
        worker_read(s, w, &w->err_fd, false);
      else if (role == 2 && w->pidfd == s->fds[i].fd)
        worker_reap(s, w);
      worker_maybe_finish(s, w);
    }
    sup_start_queued(s);
  }
  sup_kill_all(s);
}

/* Makes sure 0, 1 and 2 are open (so no pipe lands there), moves the socket to 3 and closes the
 * rest of what the daemon had open. Returns the socket's fd, or -1. */
static int sup_tidy_fds(int sock) {
  int high = fcntl(sock, F_DUPFD_CLOEXEC, 3);
  if (high < 0)
    return -1;
  close(sock);
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
      return -1;
  if (high != 3 && dup3(high, 3, O_CLOEXEC) != 3)
    return -1;
  if (close_range(4, ~0U, 0) != 0)
    return -1;
  return 3;
}

/* The supervisor process's main: never returns. */
_Noreturn void ds__sup_main(int sock, pid_t daemon, const char *exe, const ds_worker_limits *limits,
                            int max_workers) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != daemon)
    _exit(1);
  struct sigaction dfl = {.sa_handler = SIG_DFL}, ign = {.sa_handler = SIG_IGN};
  const int reset[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
    sigaction(reset[i], &dfl, NULL);
  sigaction(SIGPIPE, &ign, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  sock = sup_tidy_fds(sock);
  sup_state *s = calloc(1, sizeof *s); /* about 1 MiB, mostly never touched */
  if (sock < 0 || !s)
    _exit(1); /* the daemon sees the socket close: DS_E_IO */
  s->sock = sock;
  s->exe = exe;
  s->limits = *limits;
  s->max_workers = max_workers;
  s->self = getpid();
  s->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (s->devnull < 0)
    _exit(1);
  for (int i = 0; i < max_workers; i++)
    s->workers[i].pidfd = s->workers[i].out_fd = s->workers[i].err_fd = s->workers[i].log_fd = -1;
  sup_loop(s);
  _exit(0);
}
