/*
 * cache.c: the index cache. On disk: index files under a byte budget, least recently used
 * evicted first (the store keeps size and last access). In memory: up to DS_SERVICE_OPEN_INDEXES
 * opened (mmapped) indexes, reference-counted so an eviction or a delete never unmaps an index a
 * request is reading; the last user closes it.
 */
#include "serviceint.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/findings.h"
#include "dumpscope/index.h"
#include "metrics.h"

static void close_entry(ds_open_index *e) {
  if (e->q)
    ds_query_close(e->q);
  e->q = NULL;
}

/* Removes entry i from the open table; closes it now or retires it until released. */
static void drop_locked(ds_service *svc, size_t i) {
  ds_open_index *e = &svc->open[i];
  if (e->refs == 0) {
    close_entry(e);
  } else if (svc->retired_count < sizeof svc->retired / sizeof *svc->retired) {
    ds_open_index *copy = malloc(sizeof *copy);
    if (copy) {
      *copy = *e;
      copy->doomed = true;
      svc->retired[svc->retired_count++] = copy;
    }
    /* else: leak the mapping rather than unmap under a reader */
  }
  svc->open[i] = svc->open[--svc->open_count];
}

void ds_service_cache_forget(ds_service *svc, const char *sha256) {
  pthread_mutex_lock(&svc->cache_lock);
  for (size_t i = 0; i < svc->open_count; i++)
    if (strcmp(svc->open[i].sha256, sha256) == 0) {
      drop_locked(svc, i);
      break;
    }
  pthread_mutex_unlock(&svc->cache_lock);
}

void ds_service_cache_clear(ds_service *svc) {
  pthread_mutex_lock(&svc->cache_lock);
  while (svc->open_count)
    drop_locked(svc, 0);
  for (size_t i = 0; i < svc->retired_count; i++) {
    close_entry(svc->retired[i]);
    free(svc->retired[i]);
  }
  svc->retired_count = 0;
  pthread_mutex_unlock(&svc->cache_lock);
}

/* Whether an index's findings used the thresholds this daemon is configured with: an index built
 * before finding_settings changed is rebuilt (the findings follow the settings, never the settings
 * an older analysis happened to run with). */
static bool current_settings(ds_service *svc, ds_query *q) {
  ds_finding_settings want;
  ds_error ignore;
  ds_finding_settings_init(&want);
  if (svc->config.finding_settings[0] && ds_finding_settings_apply(&want, svc->config.finding_settings, &ignore) != DS_OK)
    return true; /* checked at start-up; cannot happen */
  return ds_query_settings_equal(q, &want);
}

/* Opens (or finds) the index of sha256 and takes a reference. */
static ds_status acquire(ds_service *svc, const ds_store_dump *dump, ds_query **q, ds_error *err) {
  pthread_mutex_lock(&svc->cache_lock);
  for (size_t i = 0; i < svc->open_count; i++)
    if (strcmp(svc->open[i].sha256, dump->sha256) == 0) {
      svc->open[i].refs++;
      svc->open[i].last_use_ms = ds_monotonic_ms();
      *q = svc->open[i].q;
      pthread_mutex_unlock(&svc->cache_lock);
      return DS_OK;
    }
  char index_path[PATH_MAX], dump_path[PATH_MAX];
  ds_service_index_path(svc, dump->sha256, index_path, sizeof index_path);
  snprintf(dump_path, sizeof dump_path, "%s/%s", svc->config.data, dump->path);
  ds_query *opened = NULL;
  ds_status rc = ds_query_open(index_path, dump_path, &opened, err);
  if (rc == DS_OK && !current_settings(svc, opened)) {
    ds_query_close(opened);
    rc = ds_error_set(err, DS_E_FORMAT, "the index was built with other finding thresholds than finding_settings");
  }
  if (rc != DS_OK) {
    pthread_mutex_unlock(&svc->cache_lock);
    return rc;
  }
  if (svc->open_count == DS_SERVICE_OPEN_INDEXES) {
    size_t oldest = 0;
    for (size_t i = 1; i < svc->open_count; i++)
      if (svc->open[i].last_use_ms < svc->open[oldest].last_use_ms)
        oldest = i;
    drop_locked(svc, oldest);
  }
  ds_open_index *e = &svc->open[svc->open_count++];
  memset(e, 0, sizeof *e);
  snprintf(e->sha256, sizeof e->sha256, "%s", dump->sha256);
  e->q = opened;
  e->refs = 1;
  e->last_use_ms = ds_monotonic_ms();
  *q = opened;
  pthread_mutex_unlock(&svc->cache_lock);
  return DS_OK;
}

void ds_service_release(ds_service *svc, ds_query *q) {
  if (!q)
    return;
  pthread_mutex_lock(&svc->cache_lock);
  for (size_t i = 0; i < svc->open_count; i++)
    if (svc->open[i].q == q) {
      svc->open[i].refs--;
      pthread_mutex_unlock(&svc->cache_lock);
      return;
    }
  for (size_t i = 0; i < svc->retired_count; i++)
    if (svc->retired[i]->q == q && --svc->retired[i]->refs == 0) {
      close_entry(svc->retired[i]);
      free(svc->retired[i]);
      svc->retired[i] = svc->retired[--svc->retired_count];
      break;
    }
  pthread_mutex_unlock(&svc->cache_lock);
}

/* Queues a rebuild of a dump whose index is gone; *job is the job to wait for. */
static ds_status queue_rebuild(ds_service *svc, const ds_store_dump *dump, int64_t *job, ds_error *err) {
  ds_store_job last;
  if (dump->last_job && ds_store_job_get(svc->store, dump->last_job, &last, err) == DS_OK &&
      (strcmp(last.state, "queued") == 0 || strcmp(last.state, "running") == 0)) {
    *job = last.id;
    return DS_OK;
  }
  ds_status rc = ds_store_job_enqueue(svc->store, dump->id, "index", job, err);
  if (rc == DS_OK)
    ds_log_event("job", json_pack("{s:I,s:s,s:s,s:s}", "job", (json_int_t)*job, "dump", dump->id, "state", "queued",
                                  "detail", "index evicted from the cache: rebuilding"));
  return rc;
}

ds_status ds_service_query(ds_service *svc, const char *dump_id, ds_query **q, int64_t *job, ds_error *err) {
  *q = NULL;
  *job = 0;
  ds_store_dump dump;
  ds_status rc = ds_store_dump_get(svc->store, dump_id, &dump, err);
  if (rc != DS_OK)
    return rc;
  if (strcmp(dump.status, "failed") == 0)
    return ds_error_set(err, DS_E_UNSUPPORTED, "the analysis of dump %s failed: %s", dump.id, dump.error);
  if (strcmp(dump.status, "ready") != 0) {
    *job = dump.last_job;
    return DS_OK;
  }
  ds_store_artifact art;
  ds_error ignored;
  if (ds_store_artifact_get(svc->store, dump.sha256, "index", DS_INDEX_VERSION, &art, &ignored) != DS_OK)
    return queue_rebuild(svc, &dump, job, err);
  rc = acquire(svc, &dump, q, err);
  if (rc == DS_E_NOT_FOUND || rc == DS_E_CORRUPT || rc == DS_E_TRUNCATED || rc == DS_E_FORMAT ||
      rc == DS_E_UNSUPPORTED) {
    /* The file is gone or damaged: never trusted, rebuilt. */
    ds_log_event("index_unusable", json_pack("{s:s,s:s}", "dump", dump.id, "message", err->message));
    ds_store_artifact_delete(svc->store, dump.sha256, "index", DS_INDEX_VERSION, &ignored);
    return queue_rebuild(svc, &dump, job, err);
  }
  if (rc == DS_OK)
    ds_store_artifact_touch(svc->store, dump.sha256, "index", DS_INDEX_VERSION, &ignored);
  return rc;
}

ds_status ds_service_index_damaged(ds_service *svc, const char *dump_id, int64_t *job, ds_error *err) {
  ds_store_dump dump;
  ds_status rc = ds_store_dump_get(svc->store, dump_id, &dump, err);
  if (rc != DS_OK)
    return rc;
  ds_log_event("index_unusable", json_pack("{s:s,s:s}", "dump", dump.id, "message", "a section failed its checksum"));
  ds_service_cache_forget(svc, dump.sha256);
  ds_error ignored;
  ds_store_artifact_delete(svc->store, dump.sha256, "index", DS_INDEX_VERSION, &ignored);
  char path[PATH_MAX];
  ds_service_index_path(svc, dump.sha256, path, sizeof path);
  unlink(path);
  return queue_rebuild(svc, &dump, job, err);
}

void ds_service_evict(ds_service *svc, const char *keep_sha256) {
  ds_store_artifact *rows = NULL;
  size_t count = 0;
  uint64_t total = 0;
  ds_error err = {0};
  if (ds_store_artifact_lru(svc->store, &rows, &count, &total, &err) != DS_OK)
    return;
  for (size_t i = 0; i < count && total > svc->config.cache_bytes; i++) {
    if (keep_sha256 && strcmp(rows[i].sha256, keep_sha256) == 0)
      continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", svc->config.data, rows[i].path);
    ds_service_cache_forget(svc, rows[i].sha256);
    if (ds_store_artifact_delete(svc->store, rows[i].sha256, rows[i].kind, rows[i].format_version, &err) != DS_OK)
      continue;
    unlink(path);
    total -= rows[i].size;
    ds_metrics_eviction(rows[i].size);
    ds_log_event("evicted", json_pack("{s:s,s:I}", "sha256", rows[i].sha256, "bytes", (json_int_t)rows[i].size));
  }
  free(rows);
}
