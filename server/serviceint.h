/*
 * serviceint.h: the service's private state, shared by service.c (dispatch), ingest.c (uploads,
 * deletes), import.c (downloads) and cache.c (opened indexes, eviction). Nobody outside these
 * files includes it.
 */
#ifndef DUMPSCOPE_SERVER_SERVICE_INT_H
#define DUMPSCOPE_SERVER_SERVICE_INT_H

#include <pthread.h>

#include "service.h"
#include "supervisor.h"

#define DS_SERVICE_MAX_RUNNING 256
#define DS_SERVICE_OPEN_INDEXES 16  /* opened indexes kept mapped */

typedef struct ds_running_job {
  int64_t job_id;
  char dump_id[DS_STORE_ID_MAX];
  char sha256[65];
  int pid;
  int64_t started_ms, lease_renewed_ms;
} ds_running_job;

typedef struct ds_importer ds_importer;

typedef struct ds_open_index {
  char sha256[65];
  ds_query *q;
  int refs;                  /* requests using it now */
  bool doomed;               /* evicted or deleted: close when refs drops to 0 */
  int64_t last_use_ms;
} ds_open_index;

struct ds_service {
  ds_config config;
  ds_store *store;
  ds_supervisor *supervisor;
  pthread_t dispatcher;
  bool dispatcher_started;
  volatile bool stopping;
  bool supervisor_lost;
  ds_importer *importer;     /* import.c */
  /* owned by the dispatcher thread */
  ds_running_job running[DS_SERVICE_MAX_RUNNING];
  size_t running_count;
  /* job-change notification */
  pthread_mutex_t lock;
  pthread_cond_t changed;
  uint64_t generation;
  void (*on_change)(void *ctx);
  void *on_change_ctx;
  /* opened indexes */
  pthread_mutex_t cache_lock;
  ds_open_index open[DS_SERVICE_OPEN_INDEXES];
  size_t open_count;
  ds_open_index *retired[64]; /* doomed entries still in use */
  size_t retired_count;
};

void ds_service_index_path(const ds_service *svc, const char *sha256, char *out, size_t len);
/* Evicts least recently used indexes until the cache fits its budget (keep: never this one). */
void ds_service_evict(ds_service *svc, const char *keep_sha256);
/* Closes the opened index of a dump (now, or when its last user releases it). */
void ds_service_cache_forget(ds_service *svc, const char *sha256);
void ds_service_cache_clear(ds_service *svc);

/* Wakes requests waiting on a job or an import (the HTTP layer's long-polls). */
void ds__service_notify(ds_service *svc);
/* import.c: started after the store (requeues the imports a stopped daemon left), stopped after the
 * dispatcher; events of fetch processes (supervisor job ids below 0) come from the dispatcher. */
ds_status ds__importer_start(ds_service *svc, ds_error *err);
void ds__importer_stop(ds_service *svc);
void ds__importer_event(ds_service *svc, const ds_worker_event *ev);

#endif
