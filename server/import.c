/*
 * import.c: imports of dumps from URLs (Azure Blob SAS URLs, plain HTTP(S)), on the daemon's side.
 *
 * POST /dumps/import stores an import row (the redacted URL) and the full URL in
 * imports/<id>.url (0600), then wakes the importer thread. The importer starts one
 * `dumpscope fetch` per import through the supervisor (at most import_concurrency at once; their
 * supervisor job ids are the import ids negated, so they never meet analysis jobs), records their
 * progress from the state file they keep, and when a download is whole hands the file to
 * ds_service_ingest_file, the same ingest as uploads (decompression, hashing, validation, the
 * analysis queued). Downloads, libcurl and TLS never run in the daemon, and neither the HTTP
 * threads nor the dispatcher wait for an import.
 *
 * Files, all named from the import's id (never from request text):
 *   imports/<id>.url          the full URL, 0600; removed when the import ends
 *   imports/<id>.part         the download (preallocated; consumed by ingest)
 *   imports/<id>.part.state   the fetch's finished chunks, for resuming
 *   logs/import-<id>.log      the fetch's output (it never prints the URL)
 * A daemon restart requeues unfinished imports; their fetch resumes from the finished chunks. An
 * import whose fetch dies (signal, timeout) is retried up to max_attempts times.
 */
#include "serviceint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "url.h"

#define IMPORT_EVENTS_MAX 256 /* events waiting for the importer; progress is dropped past half */
#define IMPORT_RUNNING_MAX 64
#define IMPORT_TICK_MS 1000

struct ds_importer {
  ds_service *svc;
  pthread_t thread;
  bool started;
  pthread_mutex_t lock; /* guards the fields below, and the creation of an import (row + URL file) */
  pthread_cond_t cond;
  bool stopping, kicked;
  ds_worker_event *events;
  size_t head, count;
  /* owned by the importer thread */
  int64_t running[IMPORT_RUNNING_MAX];
  size_t running_count;
};

static void import_path(const ds_service *svc, int64_t id, const char *suffix, char *out, size_t len) {
  snprintf(out, len, "%s/imports/%lld%s", svc->config.data, (long long)id, suffix);
}

static void log_import(const ds_store_import *imp, const char *detail) {
  json_t *f = json_pack("{s:I,s:s,s:s}", "import", (json_int_t)imp->id, "state", imp->state, "url", imp->url);
  if (imp->dump_id[0])
    json_object_set_new(f, "dump", json_string(imp->dump_id));
  if (detail && *detail)
    json_object_set_new(f, "detail", json_string(detail));
  ds_log_event("import", f);
}

/* Removes the import's files (the URL first: the secret goes as soon as it is not needed). */
static void remove_files(ds_service *svc, int64_t id) {
  static const char *const suffixes[] = {".url", ".part", ".part.state", ".part.state.tmp"};
  char path[PATH_MAX];
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
    import_path(svc, id, suffixes[i], path, sizeof path);
    unlink(path);
  }
}

/* Copies message into out with the daemon's own paths (the data folder and what follows, up to a
 * space or punctuation) replaced by "the download": they are not the client's business. */
static void scrub_paths(const char *message, const char *data, char *out, size_t len) {
  size_t data_len = strlen(data), o = 0;
  for (const char *p = message; *p && o + 1 < len;) {
    if (data_len && strncmp(p, data, data_len) == 0) {
      int n = snprintf(out + o, len - o, "the download");
      o = n > 0 && (size_t)n < len - o ? o + (size_t)n : len - 1;
      for (p += data_len; *p && !strchr(" :,)", *p); p++) {
      }
      continue;
    }
    out[o++] = *p++;
  }
  out[o] = 0;
}

/* Moves an import to a new state and tells waiting requests; a final state removes its files. */
static void set_state(ds_service *svc, int64_t id, const char *state, const char *error, const char *dump_id) {
  ds_store_import imp;
  ds_error err = {0};
  char safe[DS_STORE_TEXT_MAX] = "", scrubbed[DS_STORE_TEXT_MAX];
  if (error) {
    scrub_paths(error, svc->config.data, scrubbed, sizeof scrubbed);
    ds_url_redact_text(scrubbed, safe, sizeof safe);
  }
  if (strcmp(state, "failed") == 0)
    ds_metrics_ingest(0, false);
  if (ds_store_import_set_state(svc->store, id, state, error ? safe : NULL, dump_id, &imp, &err) != DS_OK) {
    ds_log_event("store_error", json_pack("{s:s}", "message", err.message));
    return;
  }
  if (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0)
    remove_files(svc, id);
  log_import(&imp, error ? safe : NULL);
  ds__service_notify(svc);
}

/* ---- the fetch processes ------------------------------------------------------------------------ */

/* Starts the fetch of a queued import. */
static void start_fetch(ds_importer *im, const ds_store_import *imp) {
  ds_service *svc = im->svc;
  const ds_config *c = &svc->config;
  char url_path[PATH_MAX], part_path[PATH_MAX], log_path[PATH_MAX];
  char connections[24], chunk[24], max_bytes[24], stall[24], retries[24];
  import_path(svc, imp->id, ".url", url_path, sizeof url_path);
  import_path(svc, imp->id, ".part", part_path, sizeof part_path);
  snprintf(log_path, sizeof log_path, "%s/logs/import-%lld.log", c->data, (long long)imp->id);
  snprintf(connections, sizeof connections, "%llu", (unsigned long long)c->import_connections);
  snprintf(chunk, sizeof chunk, "%llu", (unsigned long long)c->import_chunk_bytes);
  snprintf(max_bytes, sizeof max_bytes, "%llu", (unsigned long long)c->max_upload_bytes);
  snprintf(stall, sizeof stall, "%llu", (unsigned long long)c->import_stall_seconds);
  snprintf(retries, sizeof retries, "%llu", (unsigned long long)c->import_retries);
  const char *args[DS_SUPERVISOR_MAX_ARGS];
  int argc = 0;
  const char *fixed[] = {"fetch", "--url-file", url_path, "--out", part_path, "--connections", connections,
                         "--chunk-bytes", chunk, "--max-bytes", max_bytes, "--stall-seconds", stall, "--retries",
                         retries};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    args[argc++] = fixed[i];
  if (imp->allow_private)
    args[argc++] = "--allow-private";
  ds_error err = {0};
  if (access(url_path, R_OK) != 0) {
    set_state(svc, imp->id, "failed", "the import's URL file is gone (was the data folder changed?)", NULL);
    return;
  }
  set_state(svc, imp->id, "downloading", NULL, NULL);
  if (ds_supervisor_submit(svc->supervisor, -imp->id, log_path, argc, args, &err) != DS_OK) {
    set_state(svc, imp->id, "failed", err.message, NULL);
    return;
  }
  im->running[im->running_count++] = imp->id;
}

/* Starts queued imports while fetch slots are free. */
static void start_queued(ds_importer *im) {
  ds_service *svc = im->svc;
  size_t limit = (size_t)svc->config.import_concurrency;
  if (limit > IMPORT_RUNNING_MAX)
    limit = IMPORT_RUNNING_MAX;
  if (im->running_count >= limit)
    return;
  ds_store_import *rows = NULL;
  size_t count = 0;
  ds_error err = {0};
  pthread_mutex_lock(&im->lock); /* an import being created has its row and URL file, or neither */
  ds_status rc = ds_store_import_list(svc->store, "queued", limit - im->running_count, &rows, &count, &err);
  pthread_mutex_unlock(&im->lock);
  if (rc != DS_OK)
    ds_log_event("store_error", json_pack("{s:s}", "message", err.message));
  for (size_t i = 0; i < count && im->running_count < limit; i++)
    start_fetch(im, &rows[i]);
  free(rows);
}

/* The download's size and bytes so far, from the fetch's state file ("size N", "bytes_done N"). */
static void read_progress(ds_service *svc, int64_t id, uint64_t *done, uint64_t *total) {
  char path[PATH_MAX], line[256];
  import_path(svc, id, ".part.state", path, sizeof path);
  *done = *total = 0;
  FILE *in = fopen(path, "re");
  if (!in)
    return;
  for (int n = 0; n < 8 && fgets(line, sizeof line, in); n++) {
    if (strncmp(line, "size ", 5) == 0)
      *total = strtoull(line + 5, NULL, 10);
    else if (strncmp(line, "bytes_done ", 11) == 0)
      *done = strtoull(line + 11, NULL, 10);
  }
  fclose(in);
  if (*done > *total && *total)
    *done = *total;
}

/* The fetch's own explanation: its last "@error CODE MESSAGE" line, without the code. */
static bool fetch_error(const ds_worker_event *ev, char *out, size_t len) {
  const char *line = NULL;
  for (const char *p = ev->tail; (p = strstr(p, "@error ")); p++)
    line = p + 7;
  if (!line)
    return false;
  const char *space = strchr(line, ' ');
  const char *text = space ? space + 1 : line;
  snprintf(out, len, "%.*s", (int)strcspn(text, "\n"), text);
  return true;
}

/* A whole download becomes a dump through the one ingest of the service. */
static void ingest_download(ds_service *svc, const ds_store_import *imp) {
  char part[PATH_MAX];
  uint64_t done = 0, total = 0;
  read_progress(svc, imp->id, &done, &total);
  ds_error err = {0};
  ds_store_import_progress(svc->store, imp->id, total, total, &err);
  set_state(svc, imp->id, "ingesting", NULL, NULL);
  import_path(svc, imp->id, ".part", part, sizeof part);
  ds_store_dump dump;
  bool existed = false;
  if (ds_service_ingest_file(svc, part, NULL, imp->name, &dump, &existed, &err) != DS_OK) {
    set_state(svc, imp->id, "failed", err.message, NULL);
    return;
  }
  ds_metrics_ingest(total, true);
  set_state(svc, imp->id, "done", NULL, dump.id);
}

static void fetch_exited(ds_importer *im, const ds_worker_event *ev) {
  ds_service *svc = im->svc;
  int64_t id = -ev->job_id;
  for (size_t i = 0; i < im->running_count; i++)
    if (im->running[i] == id) {
      im->running[i] = im->running[--im->running_count];
      break;
    }
  ds_store_import imp;
  ds_error err = {0};
  if (ds_store_import_get(svc->store, id, &imp, &err) != DS_OK)
    return;
  char reason[DS_STORE_TEXT_MAX];
  if (ev->exit_code == 0 && !ev->signal && !ev->timed_out && !ev->spawn_failed) {
    ingest_download(svc, &imp);
  } else if (!ev->spawn_failed && !ev->signal && !ev->timed_out && fetch_error(ev, reason, sizeof reason)) {
    set_state(svc, id, "failed", reason, NULL);
  } else if (imp.attempts < (int)svc->config.max_attempts && !ev->spawn_failed) {
    set_state(svc, id, "queued", NULL, NULL); /* the next fetch resumes from the finished chunks */
  } else {
    if (ev->timed_out)
      snprintf(reason, sizeof reason, "the download took longer than the worker timeout, %d times", imp.attempts);
    else if (ev->signal)
      snprintf(reason, sizeof reason, "the download process was killed by signal %d (%d attempts)", ev->signal,
               imp.attempts);
    else
      snprintf(reason, sizeof reason, "the download process failed (exit code %d): %.300s", ev->exit_code, ev->tail);
    set_state(svc, id, "failed", reason, NULL);
  }
}

static void handle_event(ds_importer *im, const ds_worker_event *ev) {
  ds_service *svc = im->svc;
  int64_t id = -ev->job_id;
  if (ev->kind == DS_WORKER_PROGRESS) {
    uint64_t done = 0, total = 0;
    ds_error err = {0};
    read_progress(svc, id, &done, &total);
    if (ds_store_import_progress(svc->store, id, done, total, &err) == DS_OK)
      ds__service_notify(svc);
  } else if (ev->kind == DS_WORKER_EXITED) {
    fetch_exited(im, ev);
  }
}

static void *importer_main(void *arg) {
  ds_importer *im = arg;
  ds_worker_event *ev = malloc(sizeof *ev);
  pthread_mutex_lock(&im->lock);
  while (!im->stopping && ev) {
    if (!im->count && !im->kicked) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += IMPORT_TICK_MS / 1000;
      pthread_cond_timedwait(&im->cond, &im->lock, &until);
    }
    bool got = im->count > 0;
    if (got) {
      *ev = im->events[im->head];
      im->head = (im->head + 1) % IMPORT_EVENTS_MAX;
      im->count--;
    }
    im->kicked = false;
    pthread_mutex_unlock(&im->lock);
    if (got)
      handle_event(im, ev);
    start_queued(im);
    pthread_mutex_lock(&im->lock);
  }
  pthread_mutex_unlock(&im->lock);
  free(ev);
  return NULL;
}

void ds__importer_event(ds_service *svc, const ds_worker_event *ev) {
  ds_importer *im = svc->importer;
  if (!im)
    return;
  pthread_mutex_lock(&im->lock);
  bool keep = ev->kind == DS_WORKER_EXITED ? im->count < IMPORT_EVENTS_MAX : im->count < IMPORT_EVENTS_MAX / 2;
  if (keep) {
    im->events[(im->head + im->count) % IMPORT_EVENTS_MAX] = *ev;
    im->count++;
    pthread_cond_signal(&im->cond);
  }
  pthread_mutex_unlock(&im->lock);
}

/* ---- creating imports ------------------------------------------------------------------------ */

/* A name for the dump from the URL's last path segment, when the request gave none. */
static void name_from_url(const ds_url *url, char *out, size_t len) {
  const char *path = strchr(url->full + (url->https ? 8 : 7), '/');
  size_t path_len = path ? strcspn(path, "?") : 0;
  const char *last = path;
  for (size_t i = 0; i < path_len; i++)
    if (path[i] == '/')
      last = path + i + 1;
  size_t n = path ? (size_t)(path + path_len - last) : 0;
  snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), last ? last : "");
}

static ds_status write_url_file(ds_service *svc, int64_t id, const char *url, ds_error *err) {
  char path[PATH_MAX];
  import_path(svc, id, ".url", path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  size_t len = strlen(url);
  bool ok = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, url, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
            fsync(fd) == 0;
  int saved = errno;
  if (fd >= 0)
    close(fd);
  if (!ok) {
    unlink(path);
    return ds_error_set(err, DS_E_IO, "cannot keep the import's URL in %s/imports: %s", svc->config.data,
                        strerror(saved));
  }
  return DS_OK;
}

ds_status ds_service_import_start(ds_service *svc, const char *url_text, const char *name, ds_store_import *out,
                                  ds_error *err) {
  ds_importer *im = svc->importer;
  ds_url *url = malloc(sizeof *url);
  bool listed = false;
  if (!url)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  ds_status rc = ds_url_parse(url_text, url, err);
  if (rc == DS_OK)
    rc = ds_url_check_host(url, svc->config.import_allowed_hosts, &listed, err);
  char derived[DS_STORE_TEXT_MAX];
  if (rc == DS_OK && (!name || !*name))
    name_from_url(url, derived, sizeof derived);
  if (rc == DS_OK && !im)
    rc = ds_error_set(err, DS_E_IO, "imports are not running");
  if (rc == DS_OK) {
    pthread_mutex_lock(&im->lock);
    rc = ds_store_import_add(svc->store, url->redacted, name && *name ? name : derived, listed, out, err);
    if (rc == DS_OK && (rc = write_url_file(svc, out->id, url->full, err)) != DS_OK) {
      ds_error ignored;
      ds_store_import_set_state(svc->store, out->id, "failed", err->message, NULL, out, &ignored);
    }
    im->kicked = true;
    pthread_cond_signal(&im->cond);
    pthread_mutex_unlock(&im->lock);
  }
  if (rc == DS_OK)
    log_import(out, NULL);
  memset(url, 0, sizeof *url); /* the full URL does not linger in freed memory */
  free(url);
  return rc;
}

json_t *ds_service_import_json(const ds_store_import *imp) {
  json_t *j = json_object();
  char dump[64];
  snprintf(dump, sizeof dump, "/dumps/%s", imp->dump_id);
  json_object_set_new(j, "id", json_integer(imp->id));
  json_object_set_new(j, "url", json_string(imp->url));
  json_object_set_new(j, "name", json_string(imp->name));
  json_object_set_new(j, "state", json_string(imp->state));
  json_object_set_new(j, "bytes_total", json_integer((json_int_t)imp->bytes_total));
  json_object_set_new(j, "bytes_done", json_integer((json_int_t)imp->bytes_done));
  json_object_set_new(j, "dump", imp->dump_id[0] ? json_string(dump) : json_null());
  json_object_set_new(j, "dump_id", imp->dump_id[0] ? json_string(imp->dump_id) : json_null());
  json_object_set_new(j, "error", imp->error[0] ? json_string(imp->error) : json_null());
  json_object_set_new(j, "attempts", json_integer(imp->attempts));
  json_object_set_new(j, "created_ms", json_integer(imp->created_ms));
  json_object_set_new(j, "finished_ms", imp->finished_ms ? json_integer(imp->finished_ms) : json_null());
  return j;
}

/* ---- start and stop ----------------------------------------------------------------------- */

/* Requeues the imports a stopped daemon left (their fetch resumes) and removes files of no import. */
static void recover(ds_service *svc) {
  ds_store_import *rows = NULL;
  size_t count = 0;
  ds_error err = {0};
  if (ds_store_import_list(svc->store, NULL, DS_STORE_IMPORTS_MAX, &rows, &count, &err) != DS_OK)
    ds_log_event("store_error", json_pack("{s:s}", "message", err.message));
  for (size_t i = 0; i < count; i++)
    if (strcmp(rows[i].state, "queued") != 0)
      set_state(svc, rows[i].id, "queued", NULL, NULL);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/imports", svc->config.data);
  DIR *dh = opendir(dir);
  struct dirent *e;
  while (dh && (e = readdir(dh))) {
    char *end = NULL;
    long long id = strtoll(e->d_name, &end, 10);
    bool ours = false;
    if (e->d_name[0] == '.' || end == e->d_name)
      ours = e->d_name[0] == '.';
    for (size_t i = 0; !ours && i < count; i++)
      ours = rows[i].id == id;
    if (!ours) {
      char path[PATH_MAX + 256];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (unlink(path) == 0)
        ds_log_event("leftover_removed", json_pack("{s:s}", "path", e->d_name));
    }
  }
  if (dh)
    closedir(dh);
  if (count)
    ds_log_event("imports_resumed", json_pack("{s:I}", "imports", (json_int_t)count));
  free(rows);
}

ds_status ds__importer_start(ds_service *svc, ds_error *err) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/imports", svc->config.data);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return ds_error_set(err, DS_E_IO, "cannot create %s: %s", dir, strerror(errno));
  ds_importer *im = calloc(1, sizeof *im);
  if (!im || !(im->events = calloc(IMPORT_EVENTS_MAX, sizeof *im->events))) {
    free(im);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  im->svc = svc;
  pthread_mutex_init(&im->lock, NULL);
  pthread_cond_init(&im->cond, NULL);
  svc->importer = im;
  recover(svc);
  im->kicked = true;
  if (pthread_create(&im->thread, NULL, importer_main, im) != 0)
    return ds_error_set(err, DS_E_IO, "cannot start the importer thread");
  im->started = true;
  return DS_OK;
}

void ds__importer_stop(ds_service *svc) {
  ds_importer *im = svc->importer;
  if (!im)
    return;
  pthread_mutex_lock(&im->lock);
  im->stopping = true;
  pthread_cond_signal(&im->cond);
  pthread_mutex_unlock(&im->lock);
  if (im->started)
    pthread_join(im->thread, NULL);
  /* downloads still running stay "downloading": the next start requeues and resumes them */
  pthread_cond_destroy(&im->cond);
  pthread_mutex_destroy(&im->lock);
  free(im->events);
  free(im);
  svc->importer = NULL;
}
