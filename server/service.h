/*
 * service.h: the daemon's state behind the HTTP layer: the store, the analysis queue and its
 * dispatcher, the supervisor of workers, ingest, and the cache of opened heap indexes.
 *
 * Lifecycle: ds_service_start (single-threaded: forks the supervisor first, then opens the store,
 * recovers interrupted jobs, removes half-written uploads and starts the dispatcher thread);
 * the HTTP layer then calls in from its threads; ds_service_stop puts running jobs back in the
 * queue, stops the workers and closes the store.
 *
 * The daemon never loads the DAC (design.md, rule 1): analyses run in `dumpscope worker`
 * processes, and queries open the index plus the dump's mapped memory only.
 */
#ifndef DUMPSCOPE_SERVER_SERVICE_H
#define DUMPSCOPE_SERVER_SERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dumpscope/query.h"
#include "store.h"

typedef struct ds_service ds_service;

/* exe: absolute path of the dumpscope executable (run as `dumpscope worker` for each job). */
ds_status ds_service_start(const ds_config *config, const char *exe, ds_service **out, ds_error *err);
void ds_service_stop(ds_service *svc);
ds_store *ds_service_store(ds_service *svc);
const ds_config *ds_service_config(ds_service *svc);

/* ---- ingest ---------------------------------------------------------------------------------- */

/* A file being received: ds_service_upload_begin creates it under the data folder's tmp/, each
 * chunk is written and hashed, and ds_service_upload_finish validates it as an ELF core of a .NET
 * process, moves it into the store (by its sha256) and queues its analysis. Abort (or a crash)
 * leaves nothing behind. */
typedef struct ds_upload ds_upload;
ds_status ds_service_upload_begin(ds_service *svc, const char *name, ds_upload **out, ds_error *err);
ds_status ds_service_upload_write(ds_upload *up, const void *data, size_t len, ds_error *err);
uint64_t ds_service_upload_size(const ds_upload *up);
/* On success *dump is the stored dump and *existed says whether these bytes were already stored.
 * The upload is freed in every case. */
ds_status ds_service_upload_finish(ds_upload *up, ds_store_dump *dump, bool *existed, ds_error *err);
void ds_service_upload_abort(ds_upload *up);

/* The one way a dump comes in (uploads and imports): the file at path, under the data folder, is
 * decompressed when compressed (gzip, zstd, zip with one file; told by its first bytes; at most
 * max_dump_bytes) into a second temporary file while hashed, validated, moved to
 * dumps/<sha256>.dmp, recorded and its analysis queued. raw_sha256: the file's sha256 when the
 * caller computed it while writing (NULL: read and hashed here). The file is consumed (moved or
 * removed) whatever the outcome. */
ds_status ds_service_ingest_file(ds_service *svc, const char *path, const char *raw_sha256, const char *name,
                                 ds_store_dump *dump, bool *existed, ds_error *err);

/* ---- imports (downloads of dumps from URLs: import.c) ---------------------------------------- */

/* Checks url (DS_E_ARG: not an acceptable http(s) URL; DS_E_UNSUPPORTED: its host is not allowed by
 * import_allowed_hosts or resolves to a private address; DS_E_NETWORK: it does not resolve), stores
 * an import with the redacted URL, keeps the full URL in a 0600 file of the data folder and wakes
 * the importer, which downloads it in a `dumpscope fetch` process and ingests it like an upload.
 * name "" or NULL: the URL's last path segment. *out is the new import ("queued"). */
ds_status ds_service_import_start(ds_service *svc, const char *url, const char *name, ds_store_import *out,
                                  ds_error *err);
json_t *ds_service_import_json(const ds_store_import *imp);

/* Deletes a dump, its jobs, its artifacts and files; a running analysis is cancelled. */
ds_status ds_service_delete_dump(ds_service *svc, const char *id, ds_error *err);

/* ---- answers --------------------------------------------------------------------------------- */

/* The opened index of a ready dump (a reference: release it). When the dump is not ready, or its
 * index was evicted from the cache (then a rebuild is queued), *q is NULL and *job the job to wait
 * for; a failed dump is DS_E_* with the failure. */
ds_status ds_service_query(ds_service *svc, const char *dump_id, ds_query **q, int64_t *job, ds_error *err);
void ds_service_release(ds_service *svc, ds_query *q);
/* A query found the index damaged: forget it, delete it and queue a rebuild; *job is its job. */
ds_status ds_service_index_damaged(ds_service *svc, const char *dump_id, int64_t *job, ds_error *err);

/* Blocks until the job is done or failed, or until deadline_ms (CLOCK_MONOTONIC ms). */
void ds_service_wait_job(ds_service *svc, int64_t job_id, int64_t deadline_ms);
/* Registers a callback run (on the dispatcher thread) after any job changes state. */
void ds_service_on_job_change(ds_service *svc, void (*fn)(void *ctx), void *ctx);

/* JSON documents of the service's own resources. */
json_t *ds_service_dump_json(ds_service *svc, const ds_store_dump *dump);
json_t *ds_service_job_json(const ds_store_job *job);

int64_t ds_monotonic_ms(void);
/* One structured log line (JSON) on stderr: {"ts", "event", ...fields}. Takes ownership of fields. */
void ds_log_event(const char *event, json_t *fields);

#endif
