/*
 * service.c: the daemon's analysis side: start-up recovery, the dispatcher thread that claims
 * queued jobs and hands them to the supervisor, what a finished worker means for its dump, the
 * index cache (opened indexes, disk budget with least-recently-used eviction).
 *
 * Data folder layout (all paths built from ids and hashes we made, never from request text):
 *   dumpscope.db           the store
 *   dumps/<sha256>.dmp     stored dumps
 *   index/<sha256>.v<N>.dsindex   heap indexes (written by workers: tmp + rename)
 *   logs/job-<id>.log      captured worker output (logs/import-<id>.log: a download's)
 *   imports/<id>.*         downloads in progress (import.c: kept across restarts, to resume)
 *   tmp/                   uploads in progress (emptied at start-up)
 */
#include "serviceint.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dumpscope/index.h"
#include "metrics.h"

int64_t ds_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ds_log_event(const char *event, json_t *fields) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  json_t *line = json_object();
  json_object_set_new(line, "ts", json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
  json_object_set_new(line, "event", json_string(event));
  if (fields)
    json_object_update(line, fields);
  json_decref(fields);
  char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text) {
    fprintf(stderr, "%s\n", text);
    free(text);
  }
  json_decref(line);
}

ds_store *ds_service_store(ds_service *svc) { return svc->store; }
const ds_config *ds_service_config(ds_service *svc) { return &svc->config; }

void ds_service_index_path(const ds_service *svc, const char *sha256, char *out, size_t len) {
  snprintf(out, len, "%s/index/%s.v%u.dsindex", svc->config.data, sha256, DS_INDEX_VERSION);
}

static ds_status make_dir(const char *path, ds_error *err) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return ds_error_set(err, DS_E_IO, "cannot create %s: %s", path, strerror(errno));
  return DS_OK;
}

/* Removes what an interrupted upload or a killed worker left: tmp/, and index files with .tmp. in their name. */
static void remove_leftovers(ds_service *svc) {
  const char *dirs[] = {"tmp", "index"};
  for (size_t d = 0; d < 2; d++) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", svc->config.data, dirs[d]);
    DIR *dh = opendir(dir);
    if (!dh)
      continue;
    struct dirent *e;
    while ((e = readdir(dh))) {
      if (e->d_name[0] == '.' || (d == 1 && !strstr(e->d_name, ".tmp.")))
        continue;
      char path[PATH_MAX + 256];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (unlink(path) == 0)
        ds_log_event("leftover_removed", json_pack("{s:s}", "path", e->d_name));
    }
    closedir(dh);
  }
}

/* ---- job state changes --------------------------------------------------------------------- */

static void notify(ds_service *svc) {
  pthread_mutex_lock(&svc->lock);
  svc->generation++;
  pthread_cond_broadcast(&svc->changed);
  void (*fn)(void *) = svc->on_change;
  void *ctx = svc->on_change_ctx;
  pthread_mutex_unlock(&svc->lock);
  if (fn)
    fn(ctx);
}

void ds__service_notify(ds_service *svc) { notify(svc); }

void ds_service_on_job_change(ds_service *svc, void (*fn)(void *ctx), void *ctx) {
  pthread_mutex_lock(&svc->lock);
  svc->on_change = fn;
  svc->on_change_ctx = ctx;
  pthread_mutex_unlock(&svc->lock);
}

void ds_service_wait_job(ds_service *svc, int64_t job_id, int64_t deadline_ms) {
  for (;;) {
    ds_store_job job;
    ds_error err;
    if (ds_store_job_get(svc->store, job_id, &job, &err) != DS_OK || strcmp(job.state, "done") == 0 ||
        strcmp(job.state, "failed") == 0)
      return;
    int64_t now = ds_monotonic_ms();
    if (now >= deadline_ms)
      return;
    int64_t step = deadline_ms - now < 500 ? deadline_ms - now : 500;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += step / 1000;
    until.tv_nsec += (step % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&svc->lock);
    uint64_t seen = svc->generation;
    while (svc->generation == seen && !svc->stopping)
      if (pthread_cond_timedwait(&svc->changed, &svc->lock, &until) != 0)
        break;
    bool stopping = svc->stopping;
    pthread_mutex_unlock(&svc->lock);
    if (stopping)
      return;
  }
}

static void log_job(const ds_store_job *job, const char *state, const char *detail) {
  json_t *f = json_pack("{s:I,s:s,s:s}", "job", (json_int_t)job->id, "dump", job->dump_id, "state", state);
  if (detail && *detail)
    json_object_set_new(f, "detail", json_string(detail));
  ds_log_event("job", f);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Starts the next queued job on a worker, if a slot is free. Returns true when one started. */
static bool dispatch_one(ds_service *svc) {
  if (svc->running_count >= svc->config.workers || svc->running_count >= DS_SERVICE_MAX_RUNNING)
    return false;
  ds_store_job job;
  bool claimed = false;
  ds_error err = {0};
  if (ds_store_job_claim(svc->store, (int64_t)svc->config.lease_seconds * 1000, &job, &claimed, &err) != DS_OK) {
    ds_log_event("store_error", json_pack("{s:s}", "message", err.message));
    return false;
  }
  if (!claimed)
    return false;
  ds_store_dump dump;
  if (ds_store_dump_get(svc->store, job.dump_id, &dump, &err) != DS_OK) {
    ds_store_job_finish(svc->store, job.id, false, err.message, &err);
    return true;
  }
  char dump_path[PATH_MAX], index_path[PATH_MAX], log_path[PATH_MAX];
  snprintf(dump_path, sizeof dump_path, "%s/%s", svc->config.data, dump.path);
  ds_service_index_path(svc, dump.sha256, index_path, sizeof index_path);
  snprintf(log_path, sizeof log_path, "%s/logs/job-%lld.log", svc->config.data, (long long)job.id);
  const char *args[10];
  int argc = 0;
  args[argc++] = "worker";
  args[argc++] = "--dump";
  args[argc++] = dump_path;
  args[argc++] = "--index";
  args[argc++] = index_path;
  if (svc->config.dac[0]) {
    args[argc++] = "--dac";
    args[argc++] = svc->config.dac;
  }
  if (svc->config.offline)
    args[argc++] = "--offline";
  if (svc->config.finding_settings[0]) { /* checked when the config was loaded */
    args[argc++] = "--set";
    args[argc++] = svc->config.finding_settings;
  }
  if (ds_supervisor_submit(svc->supervisor, job.id, log_path, argc, args, &err) != DS_OK) {
    ds_store_job_requeue(svc->store, job.id, &err);
    return false;
  }
  ds_running_job *slot = &svc->running[svc->running_count++];
  memset(slot, 0, sizeof *slot);
  slot->job_id = job.id;
  snprintf(slot->dump_id, sizeof slot->dump_id, "%s", job.dump_id);
  snprintf(slot->sha256, sizeof slot->sha256, "%s", dump.sha256);
  slot->started_ms = ds_monotonic_ms();
  log_job(&job, "running", NULL);
  notify(svc);
  return true;
}

static ds_running_job *running_slot(ds_service *svc, int64_t job_id, size_t *index) {
  for (size_t i = 0; i < svc->running_count; i++)
    if (svc->running[i].job_id == job_id) {
      if (index)
        *index = i;
      return &svc->running[i];
    }
  return NULL;
}

/* The reason a worker failed, in words a support engineer can act on. */
static void failure_reason(const ds_worker_event *ev, char *out, size_t len) {
  const char *error_line = NULL;
  for (const char *p = ev->tail; (p = strstr(p, "@error ")); p++)
    error_line = p + 7;
  if (ev->spawn_failed) {
    snprintf(out, len, "the analysis worker could not be started: %.400s", ev->tail);
  } else if (ev->timed_out) {
    snprintf(out, len, "the analysis took longer than the worker timeout and was stopped");
  } else if (ev->signal) {
    snprintf(out, len, "the analysis worker was killed by signal %d (%s)%s%.300s", ev->signal, strsignal(ev->signal),
             ev->tail[0] ? "; its last output: " : "", ev->tail);
  } else if (error_line) {
    const char *space = strchr(error_line, ' ');
    snprintf(out, len, "%.*s", (int)strcspn(space ? space + 1 : error_line, "\n"), space ? space + 1 : error_line);
  } else {
    snprintf(out, len, "the analysis worker exited with code %d%s%.300s", ev->exit_code,
             ev->tail[0] ? "; its last output: " : "", ev->tail);
  }
}

/* A worker ended: record the artifact and make the dump ready, or fail job and dump. */
static void job_exited(ds_service *svc, const ds_worker_event *ev) {
  size_t index;
  ds_running_job *slot = running_slot(svc, ev->job_id, &index);
  if (!slot)
    return;
  ds_running_job job = *slot;
  svc->running[index] = svc->running[--svc->running_count];
  ds_error err = {0};
  char reason[DS_STORE_TEXT_MAX] = "";
  char index_path[PATH_MAX];
  ds_service_index_path(svc, job.sha256, index_path, sizeof index_path);
  bool ok = ev->exit_code == 0 && !ev->signal && !ev->timed_out && !ev->spawn_failed;
  ds_index *idx = NULL;
  if (ok && ds_index_open(index_path, &idx, &err) != DS_OK) {
    ok = false;
    snprintf(reason, sizeof reason, "the worker finished but its index is unusable: %s", err.message);
  }
  ds_store_job record = {.id = job.job_id};
  snprintf(record.dump_id, sizeof record.dump_id, "%s", job.dump_id);
  if (ok) {
    const ds_index_info *info = ds_index_get_info(idx);
    struct stat st;
    ds_store_artifact art = {.format_version = DS_INDEX_VERSION, .size = stat(index_path, &st) == 0 ? (uint64_t)st.st_size : 0};
    snprintf(art.sha256, sizeof art.sha256, "%s", job.sha256);
    snprintf(art.kind, sizeof art.kind, "index");
    snprintf(art.path, sizeof art.path, "index/%s.v%u.dsindex", job.sha256, DS_INDEX_VERSION);
    double ms = (double)(ds_monotonic_ms() - job.started_ms);
    if (ds_store_artifact_put(svc->store, &art, &err) != DS_OK ||
        ds_store_job_finish(svc->store, job.job_id, true, NULL, &err) != DS_OK ||
        ds_store_dump_set_status(svc->store, job.dump_id, "ready", "", ds_index_string(idx, info->runtime_version),
                                 info->server_gc ? "server" : "workstation", NULL, ms, &err) != DS_OK)
      ds_log_event("store_error", json_pack("{s:s}", "message", err.message));
    log_job(&record, "done", NULL);
    ds_metrics_analysis(true, ms / 1000.0);
  } else {
    if (!reason[0])
      failure_reason(ev, reason, sizeof reason);
    ds_store_job_finish(svc->store, job.job_id, false, reason, &err);
    ds_store_dump_set_status(svc->store, job.dump_id, "failed", reason, NULL, NULL, NULL, 0, &err);
    unlink(index_path);
    log_job(&record, "failed", reason);
    ds_metrics_analysis(false, 0);
  }
  if (idx)
    ds_index_close(idx);
  if (ok)
    ds_service_evict(svc, job.sha256);
  notify(svc);
}

static void handle_event(ds_service *svc, const ds_worker_event *ev) {
  ds_error err = {0};
  if (ev->job_id < 0) { /* a fetch of import.c */
    ds__importer_event(svc, ev);
    return;
  }
  ds_running_job *slot = running_slot(svc, ev->job_id, NULL);
  switch (ev->kind) {
  case DS_WORKER_STARTED:
  case DS_WORKER_PROGRESS:
    if (!slot)
      return;
    if (ev->kind == DS_WORKER_STARTED)
      slot->pid = ev->pid;
    ds_store_job_progress(svc->store, ev->job_id, slot->pid, ev->kind == DS_WORKER_STARTED ? "started" : ev->phase,
                          ev->kind == DS_WORKER_STARTED ? 0 : ev->percent, (int64_t)svc->config.lease_seconds * 1000,
                          &err);
    slot->lease_renewed_ms = ds_monotonic_ms();
    notify(svc);
    return;
  case DS_WORKER_EXITED:
    job_exited(svc, ev);
    return;
  }
}

/* Keeps the leases of our running jobs alive while their workers are silent. */
static void renew_leases(ds_service *svc) {
  int64_t now = ds_monotonic_ms(), period = (int64_t)svc->config.lease_seconds * 1000 / 3;
  for (size_t i = 0; i < svc->running_count; i++) {
    ds_running_job *slot = &svc->running[i];
    if (now - slot->lease_renewed_ms < period)
      continue;
    ds_store_job job;
    ds_error err;
    if (ds_store_job_get(svc->store, slot->job_id, &job, &err) == DS_OK)
      ds_store_job_progress(svc->store, slot->job_id, slot->pid, job.phase, job.percent,
                            (int64_t)svc->config.lease_seconds * 1000, &err);
    slot->lease_renewed_ms = now;
  }
}

static void *dispatcher_main(void *arg) {
  ds_service *svc = arg;
  int64_t last_recover = ds_monotonic_ms();
  while (!svc->stopping) {
    while (!svc->stopping && dispatch_one(svc))
      ;
    ds_worker_event ev;
    bool got = false;
    ds_error err = {0};
    if (ds_supervisor_next_event(svc->supervisor, 200, &ev, &got, &err) != DS_OK) {
      ds_log_event("supervisor_lost", json_pack("{s:s}", "message", err.message));
      /* Without a supervisor no job can run: fail what was running, stop dispatching. */
      while (svc->running_count) {
        ds_worker_event dead = {.kind = DS_WORKER_EXITED, .job_id = svc->running[0].job_id, .exit_code = -1,
                                .spawn_failed = true};
        snprintf(dead.tail, sizeof dead.tail, "the worker supervisor process died");
        job_exited(svc, &dead);
      }
      svc->supervisor_lost = true;
      break;
    }
    if (got)
      handle_event(svc, &ev);
    renew_leases(svc);
    if (ds_monotonic_ms() - last_recover > 10000) {
      size_t requeued = 0, failed = 0;
      ds_store_job_recover(svc->store, false, (int)svc->config.max_attempts, &requeued, &failed, &err);
      last_recover = ds_monotonic_ms();
    }
  }
  return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

ds_status ds_service_start(const ds_config *config, const char *exe, ds_service **out, ds_error *err) {
  *out = NULL;
  ds_service *svc = calloc(1, sizeof *svc);
  if (!svc)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  svc->config = *config;
  pthread_mutex_init(&svc->lock, NULL);
  pthread_cond_init(&svc->changed, NULL);
  pthread_mutex_init(&svc->cache_lock, NULL);
  ds_status rc = make_dir(config->data, err);
  const char *subdirs[] = {"dumps", "index", "logs", "tmp"};
  char path[PATH_MAX];
  for (size_t i = 0; rc == DS_OK && i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", config->data, subdirs[i]);
    rc = make_dir(path, err);
  }
  ds_worker_limits limits = {.data_bytes = config->worker_memory, .cpu_seconds = config->worker_cpu,
                             .wall_seconds = config->worker_timeout, .grace_seconds = 5,
                             .log_cap = config->worker_log_bytes};
  /* The supervisor is forked first, while this process has one thread and no database open. Its
   * slots: the analyses (the dispatcher keeps to `workers`) and the downloads (the importer keeps
   * to `import_concurrency`), so neither waits behind the other. */
  uint64_t slots = config->workers + config->import_concurrency;
  if (slots > DS_SUPERVISOR_WORKERS_MAX)
    slots = DS_SUPERVISOR_WORKERS_MAX;
  if (rc == DS_OK)
    rc = ds_supervisor_start(exe, &limits, (int)slots, &svc->supervisor, err);
  snprintf(path, sizeof path, "%s/dumpscope.db", config->data);
  if (rc == DS_OK)
    rc = ds_store_open(path, &svc->store, err);
  size_t requeued = 0, failed = 0;
  if (rc == DS_OK)
    rc = ds_store_job_recover(svc->store, true, (int)config->max_attempts, &requeued, &failed, err);
  if (rc != DS_OK) {
    ds_service_stop(svc);
    return rc;
  }
  if (requeued || failed)
    ds_log_event("recovered", json_pack("{s:I,s:I}", "requeued", (json_int_t)requeued, "failed", (json_int_t)failed));
  remove_leftovers(svc);
  if (ds__importer_start(svc, err) != DS_OK) {
    ds_service_stop(svc);
    return err->code;
  }
  if (pthread_create(&svc->dispatcher, NULL, dispatcher_main, svc) != 0) {
    ds_service_stop(svc);
    return ds_error_set(err, DS_E_IO, "cannot start the dispatcher thread");
  }
  svc->dispatcher_started = true;
  *out = svc;
  return DS_OK;
}

void ds_service_stop(ds_service *svc) {
  if (!svc)
    return;
  pthread_mutex_lock(&svc->lock);
  svc->stopping = true;
  pthread_cond_broadcast(&svc->changed);
  pthread_mutex_unlock(&svc->lock);
  if (svc->dispatcher_started)
    pthread_join(svc->dispatcher, NULL);
  ds__importer_stop(svc);
  /* Jobs still running go back to the queue: the next start runs them again. */
  ds_error err;
  for (size_t i = 0; i < svc->running_count; i++)
    if (svc->store)
      ds_store_job_requeue(svc->store, svc->running[i].job_id, &err);
  if (svc->supervisor)
    ds_supervisor_stop(svc->supervisor);
  ds_service_cache_clear(svc);
  if (svc->store)
    ds_store_close(svc->store);
  pthread_mutex_destroy(&svc->cache_lock);
  pthread_cond_destroy(&svc->changed);
  pthread_mutex_destroy(&svc->lock);
  free(svc);
}
