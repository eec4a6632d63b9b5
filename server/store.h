/*
 * store.h: the daemon's durable state: dumps, analysis jobs, cached artifacts and API tokens.
 *
 * One interface, one implementation today (SQLite in WAL mode, store_sqlite.c); a PostgreSQL
 * implementation (several daemons sharing one queue with FOR UPDATE SKIP LOCKED) plugs in behind
 * the same functions. Only the daemon process writes the store (design.md, rule 4): workers never
 * open it. Every write is one transaction started with BEGIN IMMEDIATE. A store handle may be used
 * from several threads (the implementation serialises what must be serialised).
 *
 * Times are milliseconds since the Unix epoch (int64). Text fields are bounded: a longer value is
 * truncated on write, never overflowed. Errors: DS_E_NOT_FOUND for an unknown id, DS_E_IO for a
 * database failure (message names the statement and SQLite's reason), DS_E_ARG for bad values.
 */
#ifndef DUMPSCOPE_SERVER_STORE_H
#define DUMPSCOPE_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

typedef struct ds_store ds_store;

#define DS_STORE_ID_MAX 40      /* ids are short printable ASCII */
#define DS_STORE_TEXT_MAX 512   /* error messages, names, paths relative to the data folder */

/* A stored dump. id is the first 16 hex digits of its sha256 (content-addressed: the same bytes
 * uploaded twice are one dump). status is one of "queued", "analysing", "ready", "failed". */
typedef struct ds_store_dump {
  char id[DS_STORE_ID_MAX];
  char sha256[65];
  uint64_t size;
  char path[DS_STORE_TEXT_MAX];      /* the dump file, relative to the data folder */
  char name[DS_STORE_TEXT_MAX];      /* original name given at upload/import ("" if none) */
  char status[16];
  char runtime_version[64];          /* filled when the analysis finishes ("" before) */
  char gc_mode[16];                  /* "workstation" / "server" ("" before) */
  char dump_kind[16];                /* "full" / "heap" / "unknown" */
  char error[DS_STORE_TEXT_MAX];     /* why the analysis failed ("" otherwise) */
  int64_t last_job;                  /* the most recent analysis job's id, 0 if none */
  int64_t created_ms, analysed_ms;   /* analysed_ms: when it became ready or failed, 0 before */
  double analysis_ms;                /* how long the last successful analysis took */
} ds_store_dump;

/* An analysis job. state is one of "queued", "running", "done", "failed". */
typedef struct ds_store_job {
  int64_t id;
  char dump_id[DS_STORE_ID_MAX];
  char kind[16];                     /* "index" today; "report" later */
  char state[16];
  int attempts;                      /* times it was claimed */
  int64_t lease_expires_ms;          /* while running: requeued (or failed) after this */
  int worker_pid;                    /* while running, 0 otherwise */
  char phase[32];                    /* progress: phase name reported by the worker */
  int percent;                       /* progress: 0..100 */
  char error[DS_STORE_TEXT_MAX];
  int64_t created_ms, started_ms, finished_ms;
} ds_store_job;

/* A cached artifact (a heap index, later a report), keyed by the dump's sha256, its kind and the
 * format version. path is relative to the data folder. */
typedef struct ds_store_artifact {
  char sha256[65];
  char kind[16];
  uint32_t format_version;
  char path[DS_STORE_TEXT_MAX];
  uint64_t size;
  int64_t created_ms, last_access_ms;
} ds_store_artifact;

/* Opens (creating if needed) the database file, sets WAL, synchronous=NORMAL, foreign_keys=ON and
 * a busy timeout, and applies the numbered migrations that are missing (each in its own
 * transaction, recorded in a schema_version table). A database newer than this build is refused. */
ds_status ds_store_open(const char *db_path, ds_store **out, ds_error *err);
void ds_store_close(ds_store *store);

/* ---- dumps ---------------------------------------------------------------------------------- */

/* Inserts a dump (status "queued"). When a dump with the same sha256 exists, nothing is written,
 * *existed is true and *out is the stored row; otherwise *out is the new row. */
ds_status ds_store_dump_add(ds_store *store, const ds_store_dump *dump, bool *existed, ds_store_dump *out,
                            ds_error *err);
ds_status ds_store_dump_get(ds_store *store, const char *id, ds_store_dump *out, ds_error *err);
/* Dumps newest first (created_ms desc, id desc), optionally only those with status; paged: the
 * page starts after the dump whose id is `after` ("" or NULL: from the start). *rows is malloc'd
 * (free() it); *total counts every dump matching the status filter. */
ds_status ds_store_dump_list(ds_store *store, const char *status, const char *after, size_t limit,
                             ds_store_dump **rows, size_t *count, uint64_t *total, ds_error *err);
/* Sets status, and when given (non-NULL) error, runtime version, GC mode, dump kind, analysis_ms;
 * sets analysed_ms to now when status is "ready" or "failed". */
ds_status ds_store_dump_set_status(ds_store *store, const char *id, const char *status, const char *error,
                                   const char *runtime_version, const char *gc_mode, const char *dump_kind,
                                   double analysis_ms, ds_error *err);
/* Removes the dump, its jobs and its artifact rows (files are the caller's). */
ds_status ds_store_dump_delete(ds_store *store, const char *id, ds_error *err);

/* ---- jobs ----------------------------------------------------------------------------------- */

/* Queues a job for a dump; sets the dump's last_job and status "queued". */
ds_status ds_store_job_enqueue(ds_store *store, const char *dump_id, const char *kind, int64_t *job_id,
                               ds_error *err);
ds_status ds_store_job_get(ds_store *store, int64_t job_id, ds_store_job *out, ds_error *err);
/* Claims the oldest queued job in one statement (UPDATE ... RETURNING): state "running",
 * attempts+1, lease until now + lease_ms, started_ms now; the dump's status becomes "analysing".
 * *claimed false (and DS_OK) when the queue is empty. */
ds_status ds_store_job_claim(ds_store *store, int64_t lease_ms, ds_store_job *out, bool *claimed, ds_error *err);
/* Records the worker's pid, and progress (phase, percent), and extends the lease to now + lease_ms. */
ds_status ds_store_job_progress(ds_store *store, int64_t job_id, int worker_pid, const char *phase, int percent,
                                int64_t lease_ms, ds_error *err);
/* Ends a running job: "done" or "failed" with the error. Does not touch the dump (the caller sets
 * the dump's status with what it learned). */
ds_status ds_store_job_finish(ds_store *store, int64_t job_id, bool ok, const char *error, ds_error *err);
/* Puts a running job back in the queue (state "queued", pid 0), e.g. when the daemon stops. */
ds_status ds_store_job_requeue(ds_store *store, int64_t job_id, ds_error *err);
/* Start-up and periodic recovery: every running job whose lease expired (or, with all_running,
 * every running job: the daemon just started, so no worker of ours is alive) goes back to
 * "queued" if attempts < max_attempts, else "failed" with an error naming the attempts; the
 * failed jobs' dumps become "failed" too and queued ones' dumps "queued". Counts both. */
ds_status ds_store_job_recover(ds_store *store, bool all_running, int max_attempts, size_t *requeued,
                               size_t *failed, ds_error *err);
/* Jobs counted by state (for /health and metrics): queued, running, done, failed. */
ds_status ds_store_job_counts(ds_store *store, uint64_t counts[4], ds_error *err);

/* ---- artifacts (index cache) ------------------------------------------------------------------ */

/* Inserts or replaces the artifact row (created_ms and last_access_ms = now). */
ds_status ds_store_artifact_put(ds_store *store, const ds_store_artifact *artifact, ds_error *err);
/* DS_E_NOT_FOUND when absent. */
ds_status ds_store_artifact_get(ds_store *store, const char *sha256, const char *kind, uint32_t format_version,
                                ds_store_artifact *out, ds_error *err);
/* Sets last_access_ms = now (cheap; called on every query that uses the artifact). */
ds_status ds_store_artifact_touch(ds_store *store, const char *sha256, const char *kind, uint32_t format_version,
                                  ds_error *err);
ds_status ds_store_artifact_delete(ds_store *store, const char *sha256, const char *kind, uint32_t format_version,
                                   ds_error *err);
/* Every artifact, least recently used first; *total_bytes sums their sizes. *rows malloc'd. */
ds_status ds_store_artifact_lru(ds_store *store, ds_store_artifact **rows, size_t *count, uint64_t *total_bytes,
                                ds_error *err);

/* ---- imports -------------------------------------------------------------------------------- */

#define DS_STORE_URL_MAX 2048   /* a redacted import URL */
#define DS_STORE_IMPORTS_MAX 4096 /* unfinished imports listed at once */

/* A download of a dump from a URL (POST /dumps/import). state is one of "queued", "downloading",
 * "ingesting", "done", "failed". url is redacted by the caller (no query string, no signature); the
 * store refuses one that still holds "sig=". */
typedef struct ds_store_import {
  int64_t id;
  char url[DS_STORE_URL_MAX];
  char name[DS_STORE_TEXT_MAX];
  char state[16];
  uint64_t bytes_total, bytes_done;  /* bytes_total 0 until the size is known */
  char dump_id[DS_STORE_ID_MAX];     /* the stored dump once "done" ("" before) */
  char error[DS_STORE_TEXT_MAX];     /* why it failed ("" otherwise) */
  int attempts;                      /* download processes started for it */
  bool allow_private;                /* its host was listed explicitly: private addresses allowed */
  int64_t created_ms, started_ms, finished_ms;
} ds_store_import;

/* Inserts an import in state "queued"; *out is the new row. */
ds_status ds_store_import_add(ds_store *store, const char *url, const char *name, bool allow_private,
                              ds_store_import *out, ds_error *err);
ds_status ds_store_import_get(ds_store *store, int64_t id, ds_store_import *out, ds_error *err);
/* Moves an unfinished import to state; error and dump_id are set when not NULL. "downloading"
 * counts an attempt (and sets started_ms the first time); "done" and "failed" set finished_ms and
 * are final: a finished import is DS_E_ARG. *out (when given) is the updated row. */
ds_status ds_store_import_set_state(ds_store *store, int64_t id, const char *state, const char *error,
                                    const char *dump_id, ds_store_import *out, ds_error *err);
/* Records download progress of an unfinished import (a finished one is left alone). */
ds_status ds_store_import_progress(ds_store *store, int64_t id, uint64_t bytes_done, uint64_t bytes_total,
                                   ds_error *err);
/* Imports in state (NULL: every one not yet done or failed), oldest first, at most limit (at most
 * DS_STORE_IMPORTS_MAX); *rows malloc'd (NULL when there are none). */
ds_status ds_store_import_list(ds_store *store, const char *state, size_t limit, ds_store_import **rows,
                               size_t *count, ds_error *err);

/* ---- tokens ----------------------------------------------------------------------------------- */

/* Roles, ordered: a role includes the ones below it. */
typedef enum ds_role { DS_ROLE_NONE = 0, DS_ROLE_READER = 1, DS_ROLE_UPLOADER = 2, DS_ROLE_ADMIN = 3 } ds_role;
const char *ds_role_name(ds_role role);
/* "reader" / "uploader" / "admin" -> role; DS_ROLE_NONE for anything else. */
ds_role ds_role_parse(const char *text);

/* Creates a token: 32 random bytes from getrandom(), printed as "dst_" + 64 hex digits into
 * token_out (at least 72 bytes). Only its sha256 (hex) is stored, with the role and a name. */
ds_status ds_store_token_create(ds_store *store, ds_role role, const char *name, char *token_out, size_t token_len,
                                ds_error *err);
/* The role of a presented token (hashed, compared in constant time against the stored hash);
 * DS_ROLE_NONE when unknown. */
ds_role ds_store_token_role(ds_store *store, const char *token);

/* sha256 of len bytes as 64 lowercase hex digits + NUL (OpenSSL EVP). */
void ds_sha256_hex(const void *data, size_t len, char out[65]);

#endif
