/*
 * test_supervisor.c: the worker supervisor against real processes: /bin/sh -c "script" stands in
 * for the worker executable. Each test starts its own supervisor (before any thread exists) and
 * checks the events, the log files and the processes left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "supervisor.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define EVENTS_MAX 128
#define WAIT_MS 20000

/* Every event the current test has received, with when it arrived. */
static ds_worker_event events[EVENTS_MAX];
static int64_t event_ms[EVENTS_MAX];
static int event_count;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ds_worker_limits default_limits(void) {
  return (ds_worker_limits){.wall_seconds = 60, .grace_seconds = 1, .log_cap = 1 << 20};
}

static ds_supervisor *start_sh(const ds_worker_limits *limits, int max_workers) {
  ds_supervisor *sup = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_supervisor_start("/bin/sh", limits, max_workers, &sup, &err), DS_OK);
  event_count = 0;
  return sup;
}

static const char *log_path_of(int64_t job, char *path, size_t size) {
  snprintf(path, size, "%s/job-%lld.log", ds_test_tmpdir(), (long long)job);
  return path;
}

static void submit_script(ds_supervisor *sup, int64_t job, const char *script) {
  char path[512];
  const char *args[] = {"-c", script};
  ds_error err = {0};
  ds_status status = ds_supervisor_submit(sup, job, log_path_of(job, path, sizeof path), 2, args, &err);
  if (status != DS_OK)
    fprintf(stderr, "submit %lld: %s\n", (long long)job, err.message);
  CU_ASSERT_EQUAL_FATAL(status, DS_OK);
}

static int find_event(ds_worker_event_kind kind, int64_t job) {
  for (int i = 0; i < event_count; i++)
    if (events[i].kind == kind && events[i].job_id == job)
      return i;
  return -1;
}

/* Receives events until one of kind for job has arrived; its index, or -1 after timeout_ms. */
static int wait_event(ds_supervisor *sup, ds_worker_event_kind kind, int64_t job, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  int found;
  while ((found = find_event(kind, job)) < 0 && now_ms() < deadline && event_count < EVENTS_MAX) {
    bool got = false;
    ds_error err = {0};
    ds_status status =
        ds_supervisor_next_event(sup, (int)(deadline - now_ms()), &events[event_count], &got, &err);
    if (status != DS_OK) {
      fprintf(stderr, "next_event: %s\n", err.message);
      return -1;
    }
    if (got)
      event_ms[event_count++] = now_ms();
  }
  return found;
}

static const ds_worker_event *wait_exit(ds_supervisor *sup, int64_t job) {
  int i = wait_event(sup, DS_WORKER_EXITED, job, WAIT_MS);
  CU_ASSERT_FATAL(i >= 0);
  return &events[i];
}

/* The job's log file, NUL-terminated, at most cap bytes (callers free). */
static char *read_log(int64_t job, size_t cap, size_t *size) {
  char path[512];
  FILE *f = fopen(log_path_of(job, path, sizeof path), "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char *text = calloc(1, cap + 1);
  *size = fread(text, 1, cap, f);
  fclose(f);
  return text;
}

static void test_progress_then_exit(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 2);
  submit_script(sup, 1,
                "echo '@progress load 10'; echo hello; echo '@progress bogus'; echo '@progress big 200';"
                "echo '@progress index 55'; echo oops >&2; exit 0");
  const ds_worker_event *exited = wait_exit(sup, 1);
  CU_ASSERT_EQUAL(event_count, 4);
  CU_ASSERT_EQUAL(events[0].kind, DS_WORKER_STARTED);
  CU_ASSERT(events[0].pid > 0);
  CU_ASSERT_EQUAL(events[1].kind, DS_WORKER_PROGRESS);
  CU_ASSERT_STRING_EQUAL(events[1].phase, "load");
  CU_ASSERT_EQUAL(events[1].percent, 10);
  CU_ASSERT_EQUAL(events[2].kind, DS_WORKER_PROGRESS);
  CU_ASSERT_STRING_EQUAL(events[2].phase, "index");
  CU_ASSERT_EQUAL(events[2].percent, 55);
  CU_ASSERT_EQUAL(exited, &events[3]);
  CU_ASSERT_EQUAL(exited->pid, events[0].pid);
  CU_ASSERT_EQUAL(exited->exit_code, 0);
  CU_ASSERT_EQUAL(exited->signal, 0);
  CU_ASSERT(!exited->timed_out && !exited->spawn_failed);
  CU_ASSERT_PTR_NOT_NULL(strstr(exited->tail, "hello\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(exited->tail, "oops\n"));
  size_t size;
  char *log = read_log(1, 4096, &size);
  CU_ASSERT_PTR_NOT_NULL(strstr(log, "@progress load 10\nhello\n"));
  CU_ASSERT_PTR_NULL(strstr(log, "dropped"));
  free(log);
  ds_supervisor_stop(sup);
}

static void test_exit_code_and_signals(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 3);
  submit_script(sup, 1, "echo boom >&2; exit 3");
  submit_script(sup, 2, "kill -KILL $$");
  submit_script(sup, 3, "kill -SEGV $$");
  const ds_worker_event *code = wait_exit(sup, 1);
  CU_ASSERT_EQUAL(code->exit_code, 3);
  CU_ASSERT_EQUAL(code->signal, 0);
  CU_ASSERT_STRING_EQUAL(code->tail, "boom\n");
  const ds_worker_event *killed = wait_exit(sup, 2);
  CU_ASSERT_EQUAL(killed->exit_code, -1);
  CU_ASSERT_EQUAL(killed->signal, SIGKILL);
  CU_ASSERT(!killed->timed_out);
  const ds_worker_event *segv = wait_exit(sup, 3);
  CU_ASSERT_EQUAL(segv->exit_code, -1);
  CU_ASSERT_EQUAL(segv->signal, SIGSEGV);
  ds_supervisor_stop(sup);
}

static void test_deadline(void) {
  ds_worker_limits limits = {.wall_seconds = 1, .grace_seconds = 1, .log_cap = 4096};
  ds_supervisor *sup = start_sh(&limits, 2);
  int64_t start = now_ms();
  submit_script(sup, 1, "sleep 30");
  submit_script(sup, 2, "trap '' TERM; sleep 30");
  const ds_worker_event *plain = wait_exit(sup, 1);
  int64_t plain_ms = now_ms() - start;
  CU_ASSERT(plain->timed_out);
  CU_ASSERT_EQUAL(plain->signal, SIGTERM);
  CU_ASSERT(plain_ms >= 900 && plain_ms < 4000);
  const ds_worker_event *stubborn = wait_exit(sup, 2);
  int64_t stubborn_ms = now_ms() - start;
  CU_ASSERT(stubborn->timed_out);
  CU_ASSERT_EQUAL(stubborn->signal, SIGKILL); /* ignored SIGTERM: killed after the grace period */
  CU_ASSERT(stubborn_ms >= 1900 && stubborn_ms < 6000);
  ds_supervisor_stop(sup);
}

static void test_log_cap(void) {
  ds_worker_limits limits = default_limits();
  limits.log_cap = 64 * 1024;
  ds_supervisor *sup = start_sh(&limits, 1);
  int64_t start = now_ms();
  submit_script(sup, 1,
                "yes 0123456789abcdef0123456789abcdef | head -c 10485760; echo; echo last-line-marker");
  const ds_worker_event *exited = wait_exit(sup, 1);
  CU_ASSERT(now_ms() - start < 30000);
  CU_ASSERT_EQUAL(exited->exit_code, 0);
  CU_ASSERT(!exited->timed_out);
  size_t tail_len = strlen(exited->tail);
  CU_ASSERT(tail_len > 1000 && tail_len < DS_SUPERVISOR_TAIL_MAX);
  CU_ASSERT_EQUAL(exited->tail[0], '0'); /* cut at a line start */
  CU_ASSERT(tail_len > 17 && strcmp(exited->tail + tail_len - 17, "last-line-marker\n") == 0);
  size_t size;
  char *log = read_log(1, 1 << 20, &size);
  const char *note = "\n[... 10420242 bytes dropped]\n"; /* 10485760 + 1 + 17 - 65536 */
  CU_ASSERT_EQUAL(size, 65536 + strlen(note));
  CU_ASSERT(size > strlen(note) && strcmp(log + size - strlen(note), note) == 0);
  free(log);
  ds_supervisor_stop(sup);
}

static void test_one_at_a_time(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 1);
  char script[600];
  snprintf(script, sizeof script, "mkdir '%s/running' || exit 9; sleep 0.3; rmdir '%s/running'",
           ds_test_tmpdir(), ds_test_tmpdir());
  for (int job = 1; job <= 3; job++)
    submit_script(sup, job, script);
  for (int job = 1; job <= 3; job++)
    CU_ASSERT_EQUAL(wait_exit(sup, job)->exit_code, 0); /* 9: another job held the lock */
  for (int job = 1; job < 3; job++) {
    int exited = find_event(DS_WORKER_EXITED, job), next = find_event(DS_WORKER_STARTED, job + 1);
    CU_ASSERT(exited >= 0 && next > exited && event_ms[next] >= event_ms[exited]);
    CU_ASSERT(find_event(DS_WORKER_STARTED, job) < exited);
  }
  ds_supervisor_stop(sup);
}

static void test_cancel(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 1);
  ds_error err = {0};
  submit_script(sup, 1, "sleep 30");
  submit_script(sup, 2, "echo should-not-run");
  CU_ASSERT_FATAL(wait_event(sup, DS_WORKER_STARTED, 1, WAIT_MS) >= 0);
  CU_ASSERT_EQUAL(ds_supervisor_cancel(sup, 2, &err), DS_OK);
  const ds_worker_event *queued = wait_exit(sup, 2);
  CU_ASSERT_EQUAL(queued->exit_code, -1);
  CU_ASSERT_EQUAL(queued->signal, 0);
  CU_ASSERT(!queued->spawn_failed);
  CU_ASSERT_STRING_EQUAL(queued->tail, "cancelled before start");
  CU_ASSERT_EQUAL(ds_supervisor_cancel(sup, 99, &err), DS_OK); /* unknown: nothing happens */
  CU_ASSERT_EQUAL(ds_supervisor_cancel(sup, 1, &err), DS_OK);
  const ds_worker_event *running = wait_exit(sup, 1);
  CU_ASSERT_EQUAL(running->signal, SIGKILL);
  CU_ASSERT(!running->timed_out);
  CU_ASSERT_EQUAL(wait_event(sup, DS_WORKER_STARTED, 2, 300), -1);
  CU_ASSERT_EQUAL(event_count, 3);
  ds_supervisor_stop(sup);
}

static void test_queue_cap(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 1);
  submit_script(sup, 1, "sleep 30");
  CU_ASSERT_FATAL(wait_event(sup, DS_WORKER_STARTED, 1, WAIT_MS) >= 0);
  for (int job = 2; job <= DS_SUPERVISOR_QUEUE_MAX + 2; job++)
    submit_script(sup, job, "true");
  const ds_worker_event *refused = wait_exit(sup, DS_SUPERVISOR_QUEUE_MAX + 2);
  CU_ASSERT(refused->spawn_failed);
  CU_ASSERT_PTR_NOT_NULL(strstr(refused->tail, "the queue is full"));
  CU_ASSERT_EQUAL(event_count, 2); /* the 256 queued jobs wait */
  ds_supervisor_stop(sup);
}

static void test_only_std_fds(void) {
  int pipe_fds[2];
  int extra[3] = {open("/dev/null", O_RDONLY), -1, -1}; /* no O_CLOEXEC: inheritable */
  CU_ASSERT_FATAL(extra[0] >= 0 && pipe(pipe_fds) == 0);
  extra[1] = pipe_fds[0];
  extra[2] = pipe_fds[1];
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 1);
  submit_script(sup, 1, "ls /proc/self/fd");
  CU_ASSERT_EQUAL(wait_exit(sup, 1)->exit_code, 0);
  size_t size;
  char *log = read_log(1, 4096, &size);
  int seen = 0;
  for (char *p = log, *end; *p; p = end) {
    long fd = strtol(p, &end, 10);
    if (end == p)
      break;
    end += strspn(end, "\n");
    CU_ASSERT(fd >= 0 && fd <= 3); /* 0, 1, 2 and the one ls opened to read the directory */
    if (fd >= 0 && fd <= 3)
      seen |= 1 << fd;
  }
  CU_ASSERT_EQUAL(seen & 7, 7);
  if ((seen & 7) != 7 || strlen(log) > 8)
    fprintf(stderr, "worker fds: %s\n", log);
  free(log);
  ds_supervisor_stop(sup);
  for (int i = 0; i < 3; i++)
    close(extra[i]);
}

static void test_rlimits(void) {
  ds_worker_limits limits = default_limits();
  limits.data_bytes = 512ull << 20;
  limits.cpu_seconds = 100;
  ds_supervisor *sup = start_sh(&limits, 1);
  submit_script(sup, 1, "ulimit -d; ulimit -t; ulimit -c");
  CU_ASSERT_EQUAL(wait_exit(sup, 1)->exit_code, 0);
  size_t size;
  char *log = read_log(1, 4096, &size);
  char data[64] = "", cpu[64] = "", core[64] = "";
  CU_ASSERT_EQUAL(sscanf(log, "%63s %63s %63s", data, cpu, core), 3);
  if (UNDER_ASAN) { /* ASan's shadow memory would not fit: no CPU/DATA limits */
    CU_ASSERT_STRING_NOT_EQUAL(data, "524288");
    CU_ASSERT_STRING_NOT_EQUAL(cpu, "100");
  } else {
    CU_ASSERT_STRING_EQUAL(data, "524288"); /* KiB */
    CU_ASSERT_STRING_EQUAL(cpu, "100");
  }
  CU_ASSERT_STRING_EQUAL(core, "0");
  free(log);
  ds_supervisor_stop(sup);
}

static void test_spawn_failures(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_supervisor_start("/nonexistent/dumpscope", &limits, 1, &sup, &err), DS_OK);
  event_count = 0;
  submit_script(sup, 1, "true");
  const ds_worker_event *exec_failed = wait_exit(sup, 1);
  CU_ASSERT(exec_failed->spawn_failed);
  CU_ASSERT_EQUAL(find_event(DS_WORKER_STARTED, 1), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(exec_failed->tail, "exec failed: No such file or directory"));
  size_t size;
  char *log = read_log(1, 4096, &size);
  CU_ASSERT_PTR_NOT_NULL(strstr(log, "exec failed"));
  free(log);

  const char *args[] = {"-c", "true"};
  CU_ASSERT_EQUAL(ds_supervisor_submit(sup, 2, "/nonexistent/dir/job.log", 2, args, &err), DS_OK);
  const ds_worker_event *no_log = wait_exit(sup, 2);
  CU_ASSERT(no_log->spawn_failed);
  CU_ASSERT_PTR_NOT_NULL(strstr(no_log->tail, "cannot open the worker log /nonexistent/dir/job.log"));
  ds_supervisor_stop(sup);
}

static void test_argument_checks(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL(ds_supervisor_start("bin/sh", &limits, 1, &sup, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_supervisor_start("/bin/sh", &limits, 0, &sup, &err), DS_E_ARG);
  CU_ASSERT_PTR_NULL(sup);
  sup = start_sh(&limits, 1);
  const char *many[DS_SUPERVISOR_MAX_ARGS + 1];
  for (int i = 0; i <= DS_SUPERVISOR_MAX_ARGS; i++)
    many[i] = "x";
  CU_ASSERT_EQUAL(ds_supervisor_submit(sup, 1, "/tmp/x.log", DS_SUPERVISOR_MAX_ARGS + 1, many, &err),
                  DS_E_LIMIT);
  static char long_arg[DS_SUPERVISOR_ARG_MAX + 1];
  memset(long_arg, 'a', DS_SUPERVISOR_ARG_MAX);
  const char *too_long[] = {long_arg};
  CU_ASSERT_EQUAL(ds_supervisor_submit(sup, 1, "/tmp/x.log", 1, too_long, &err), DS_E_LIMIT);
  CU_ASSERT_EQUAL(ds_supervisor_submit(sup, 1, NULL, 1, many, &err), DS_E_ARG);
  ds_supervisor_stop(sup);
}

/* True once pid is gone or a zombie nobody of ours will reap. */
static bool process_gone(int pid) {
  char path[64], stat[256] = "";
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return true;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = 0;
  const char *paren = strrchr(stat, ')');
  return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static void test_supervisor_death(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 1);
  submit_script(sup, 1, "exec sleep 30"); /* a forked sleep would outlive it: nobody kills the group */
  int started = wait_event(sup, DS_WORKER_STARTED, 1, WAIT_MS);
  CU_ASSERT_FATAL(started >= 0);
  int worker = events[started].pid;
  CU_ASSERT_EQUAL_FATAL(kill(ds_supervisor_pid(sup), SIGKILL), 0);
  ds_worker_event ev;
  bool got = true;
  ds_error err = {0};
  CU_ASSERT_EQUAL(ds_supervisor_next_event(sup, 5000, &ev, &got, &err), DS_E_IO);
  CU_ASSERT(!got);
  const char *args[] = {"-c", "true"};
  CU_ASSERT_EQUAL(ds_supervisor_submit(sup, 2, "/tmp/unused.log", 2, args, &err), DS_E_IO);
  int64_t deadline = now_ms() + 3000; /* PR_SET_PDEATHSIG takes the worker down too */
  while (!process_gone(worker) && now_ms() < deadline)
    usleep(20000);
  CU_ASSERT(process_gone(worker));
  ds_supervisor_stop(sup);
}

typedef struct submitter {
  ds_supervisor *sup;
  int first, last;
  ds_status status;
} submitter;

static void *submit_range(void *arg) {
  submitter *job = arg;
  for (int id = job->first; id <= job->last && job->status == DS_OK; id++) {
    char path[512];
    const char *args[] = {"-c", "true"};
    ds_error err = {0};
    job->status = ds_supervisor_submit(job->sup, id, log_path_of(id, path, sizeof path), 2, args, &err);
  }
  return NULL;
}

static void test_unread_backlog(void) {
  enum { JOBS = 601 };
  ds_worker_limits limits = {.wall_seconds = 1, .grace_seconds = 1, .log_cap = 4096};
  ds_supervisor *sup = start_sh(&limits, 4);
  submit_script(sup, 1, "sleep 30");
  int started = wait_event(sup, DS_WORKER_STARTED, 1, WAIT_MS);
  CU_ASSERT_FATAL(started >= 0);
  int sleeper = events[started].pid;
  /* 600 short jobs: 1200 events nobody reads for 3 s. The supervisor stops taking work (had it
   * kept reading commands, its queue would overflow) but keeps enforcing deadlines, and loses
   * no exit event. */
  submitter job = {.sup = sup, .first = 2, .last = JOBS};
  pthread_t thread;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, submit_range, &job), 0);
  sleep(3);
  CU_ASSERT(process_gone(sleeper));
  static bool exited[JOBS + 1];
  int exit_count = 0;
  bool sleeper_timed_out = false;
  int64_t deadline = now_ms() + 60000;
  while (exit_count < JOBS && now_ms() < deadline) {
    ds_worker_event ev;
    bool got = false;
    ds_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ds_supervisor_next_event(sup, 1000, &ev, &got, &err), DS_OK);
    if (got && ev.kind == DS_WORKER_EXITED && ev.job_id >= 1 && ev.job_id <= JOBS && !exited[ev.job_id]) {
      exited[ev.job_id] = true;
      exit_count++;
      if (ev.job_id == 1)
        sleeper_timed_out = ev.timed_out;
      else
        CU_ASSERT_EQUAL(ev.exit_code, 0);
    }
  }
  pthread_join(thread, NULL);
  CU_ASSERT_EQUAL(job.status, DS_OK);
  CU_ASSERT_EQUAL(exit_count, JOBS);
  CU_ASSERT(sleeper_timed_out);
  ds_supervisor_stop(sup);
}

static void test_stop_kills_workers(void) {
  ds_worker_limits limits = default_limits();
  ds_supervisor *sup = start_sh(&limits, 1);
  submit_script(sup, 1, "sleep 30");
  int started = wait_event(sup, DS_WORKER_STARTED, 1, WAIT_MS);
  CU_ASSERT_FATAL(started >= 0);
  int worker = events[started].pid;
  int64_t start = now_ms();
  ds_supervisor_stop(sup);
  CU_ASSERT(now_ms() - start < 5000);
  errno = 0;
  CU_ASSERT(kill(worker, 0) == -1 && errno == ESRCH); /* killed and reaped */
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("supervisor", NULL, NULL);
  CU_add_test(s, "started, progress and exit events arrive in order", test_progress_then_exit);
  CU_add_test(s, "exit codes and signals are reported", test_exit_code_and_signals);
  CU_add_test(s, "the deadline sends SIGTERM, then SIGKILL after the grace period", test_deadline);
  CU_add_test(s, "a chatty worker is never blocked and its log is capped", test_log_cap);
  CU_add_test(s, "max_workers=1 runs queued jobs one at a time", test_one_at_a_time);
  CU_add_test(s, "cancel drops a queued job and kills a running one", test_cancel);
  CU_add_test(s, "a job submitted to a full queue is refused", test_queue_cap);
  CU_add_test(s, "a worker inherits only stdin, stdout and stderr", test_only_std_fds);
  CU_add_test(s, "rlimits are applied (CPU and DATA not under ASan)", test_rlimits);
  CU_add_test(s, "exec and log failures end the job with spawn_failed", test_spawn_failures);
  CU_add_test(s, "bad arguments are refused", test_argument_checks);
  CU_add_test(s, "a dead supervisor is noticed, and its workers die", test_supervisor_death);
  CU_add_test(s, "unread events stall neither deadlines nor lose exits", test_unread_backlog);
  CU_add_test(s, "stop kills running workers", test_stop_kills_workers);
  return ds_test_main();
}
