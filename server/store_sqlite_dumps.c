/*
 * store_sqlite_dumps.c: the dumps and their analysis jobs (store.h), on the connection of
 * store_sqlite.c (store_sqliteint.h).
 *
 * Decisions the header leaves open:
 *   - dump_add derives the id from the sha256 (its first 16 hex digits) and reads only sha256, size,
 *     path, name, dump_kind ("" is "unknown") and created_ms (kept when positive, as an import
 *     would want; else now) from the input.
 *   - dump_set_status writes analysis_ms only with status "ready"; a NULL error clears the stored
 *     one unless the status is "failed" (the struct: "" unless the analysis failed). job_enqueue
 *     clears the error too: a new analysis is coming.
 *   - dump_list: a cursor naming a dump that no longer exists is DS_E_NOT_FOUND, not a silently
 *     empty page; limit is at most DS__LIST_MAX (0 is allowed: the total only).
 *   - progress, finish and requeue act on running jobs: an unknown id is DS_E_NOT_FOUND, a job in
 *     another state DS_E_ARG (recovery may have taken it back). requeue also sets the dump
 *     "queued", as recovery does, and keeps attempts (they count claims).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqliteint.h"

#define DS__LIST_MAX 1000                                /* dumps per page */
#define DS__LEASE_MAX_MS ((int64_t)7 * 24 * 3600 * 1000) /* a longer lease is a caller's bug */

static const char DS__RECOVER_ERROR[] =
    "analysis was interrupted %d times (worker or daemon died); giving up";

/* ---- rows -------------------------------------------------------------------------------------- */

static bool valid_dump_status(const char *status) {
  static const char *const names[] = {"queued", "analysing", "ready", "failed"};
  for (size_t i = 0; status && i < 4; i++)
    if (strcmp(status, names[i]) == 0)
      return true;
  return false;
}

static void read_int64(sqlite3_stmt *st, void *out) {
  *(int64_t *)out = sqlite3_column_int64(st, 0);
}

static void read_id(sqlite3_stmt *st, void *out) {
  ds__store_column_text(st, 0, out, DS_STORE_ID_MAX);
}

static void read_dump(sqlite3_stmt *st, void *row) {
  ds_store_dump *out = row;
  memset(out, 0, sizeof *out);
  ds__store_column_text(st, 0, out->id, sizeof out->id);
  ds__store_column_text(st, 1, out->sha256, sizeof out->sha256);
  out->size = (uint64_t)sqlite3_column_int64(st, 2);
  ds__store_column_text(st, 3, out->path, sizeof out->path);
  ds__store_column_text(st, 4, out->name, sizeof out->name);
  ds__store_column_text(st, 5, out->status, sizeof out->status);
  ds__store_column_text(st, 6, out->runtime_version, sizeof out->runtime_version);
  ds__store_column_text(st, 7, out->gc_mode, sizeof out->gc_mode);
  ds__store_column_text(st, 8, out->dump_kind, sizeof out->dump_kind);
  ds__store_column_text(st, 9, out->error, sizeof out->error);
  out->last_job = sqlite3_column_int64(st, 10);
  out->created_ms = sqlite3_column_int64(st, 11);
  out->analysed_ms = sqlite3_column_int64(st, 12);
  out->analysis_ms = sqlite3_column_double(st, 13);
}

static void read_job(sqlite3_stmt *st, void *row) {
  ds_store_job *out = row;
  memset(out, 0, sizeof *out);
  out->id = sqlite3_column_int64(st, 0);
  ds__store_column_text(st, 1, out->dump_id, sizeof out->dump_id);
  ds__store_column_text(st, 2, out->kind, sizeof out->kind);
  ds__store_column_text(st, 3, out->state, sizeof out->state);
  out->attempts = sqlite3_column_int(st, 4);
  out->lease_expires_ms = sqlite3_column_int64(st, 5);
  out->worker_pid = sqlite3_column_int(st, 6);
  ds__store_column_text(st, 7, out->phase, sizeof out->phase);
  out->percent = sqlite3_column_int(st, 8);
  ds__store_column_text(st, 9, out->error, sizeof out->error);
  out->created_ms = sqlite3_column_int64(st, 10);
  out->started_ms = sqlite3_column_int64(st, 11);
  out->finished_ms = sqlite3_column_int64(st, 12);
}

/* ---- dumps ------------------------------------------------------------------------------------- */

#define DUMP_CAP(member) FIELD_CAP(ds_store_dump, member)

ds_status ds_store_dump_add(ds_store *store, const ds_store_dump *dump, bool *existed, ds_store_dump *out,
                            ds_error *err) {
  if (!store || !dump || !existed || !out)
    return ds_error_set(err, DS_E_ARG, "store: dump_add needs a store, a dump and outputs");
  if (!ds__store_valid_sha256(dump->sha256) || !dump->path[0] || dump->size > INT64_MAX)
    return ds_error_set(err, DS_E_ARG,
                        "store: a dump needs a sha256 (64 lowercase hex digits), a path and a "
                        "size below 2^63");
  char id[17];
  memcpy(id, dump->sha256, 16);
  id[16] = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_DUMP_BY_SHA, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, dump->sha256, DUMP_CAP(sha256));
    status = ds__store_one_row(store, S_DUMP_BY_SHA, st, read_dump, out, &found, err);
  }
  *existed = found;
  if (status == DS_OK && !found && (status = ds__store_prep(store, S_DUMP_INSERT, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, id, sizeof id);
    ds__store_bind_text(st, 2, dump->sha256, DUMP_CAP(sha256));
    sqlite3_bind_int64(st, 3, (sqlite3_int64)dump->size);
    ds__store_bind_text(st, 4, dump->path, DUMP_CAP(path));
    ds__store_bind_text(st, 5, dump->name, DUMP_CAP(name));
    ds__store_bind_text(st, 6, dump->dump_kind[0] ? dump->dump_kind : "unknown", DUMP_CAP(dump_kind));
    sqlite3_bind_int64(st, 7, dump->created_ms > 0 ? dump->created_ms : ds__store_now_ms());
    status = ds__store_one_row(store, S_DUMP_INSERT, st, read_dump, out, &found, err);
  }
  return ds__store_tx_end(store, status, err);
}

/* Reads dump `id` (in a transaction): DS_E_NOT_FOUND when there is none. */
static ds_status dump_read(ds_store *store, const char *id, ds_store_dump *out, ds_error *err) {
  sqlite3_stmt *st;
  bool found = false;
  ds_status status = ds__store_prep(store, S_DUMP_GET, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, id, DS_STORE_ID_MAX);
    status = ds__store_one_row(store, S_DUMP_GET, st, read_dump, out, &found, err);
  }
  return status == DS_OK && !found ? ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %s", id) : status;
}

ds_status ds_store_dump_get(ds_store *store, const char *id, ds_store_dump *out, ds_error *err) {
  if (!store || !out || !ds__store_valid_id(id))
    return ds_error_set(err, DS_E_ARG, "store: a dump id is 1 to %d printable ASCII characters",
                        DS_STORE_ID_MAX - 1);
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, false, S_DUMP_GET, &st, err);
  if (status == DS_OK)
    status = dump_read(store, id, out, err);
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_dump_list(ds_store *store, const char *status_filter, const char *after, size_t limit,
                             ds_store_dump **rows, size_t *count, uint64_t *total, ds_error *err) {
  if (!store || !rows || !count || !total)
    return ds_error_set(err, DS_E_ARG, "store: dump_list needs a store and outputs");
  *rows = NULL;
  *count = 0;
  *total = 0;
  status_filter = status_filter && status_filter[0] ? status_filter : NULL;
  after = after && after[0] ? after : NULL;
  if (status_filter && !valid_dump_status(status_filter))
    return ds_error_set(err, DS_E_ARG, "unknown dump status \"%.16s\" (queued, analysing, ready, failed)",
                        status_filter);
  if ((after && !ds__store_valid_id(after)) || limit > DS__LIST_MAX)
    return ds_error_set(err, DS_E_ARG, "a page cursor is a dump id, and a page holds at most %d dumps",
                        DS__LIST_MAX);
  ds_store_dump *page = NULL;
  size_t filled = 0, capacity = 0;
  int64_t matching = 0, cursor_created = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, false, S_DUMP_TOTAL, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, status_filter, DUMP_CAP(status));
    status = ds__store_one_row(store, S_DUMP_TOTAL, st, read_int64, &matching, &found, err);
    capacity = (uint64_t)matching < limit ? (size_t)matching : limit;
  }
  if (status == DS_OK && after && (status = ds__store_prep(store, S_DUMP_CURSOR, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, after, DS_STORE_ID_MAX);
    status = ds__store_one_row(store, S_DUMP_CURSOR, st, read_int64, &cursor_created, &found, err);
    if (status == DS_OK && !found)
      status = ds_error_set(err, DS_E_NOT_FOUND, "page cursor: no dump with id %s", after);
  }
  if (status == DS_OK && capacity && !(page = calloc(capacity, sizeof *page)))
    status = ds_error_set(err, DS_E_NOMEM, "store: out of memory for %zu dumps", capacity);
  if (status == DS_OK && capacity && (status = ds__store_prep(store, S_DUMP_PAGE, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, status_filter, DUMP_CAP(status));
    if (after) {
      sqlite3_bind_int64(st, 2, cursor_created);
      ds__store_bind_text(st, 3, after, DS_STORE_ID_MAX);
    }
    sqlite3_bind_int64(st, 4, (sqlite3_int64)capacity);
    status =
        ds__store_many_rows(store, S_DUMP_PAGE, st, read_dump, page, sizeof *page, capacity, &filled, err);
  }
  status = ds__store_tx_end(store, status, err);
  if (status != DS_OK) {
    free(page);
    return status;
  }
  *rows = page;
  *count = filled;
  *total = (uint64_t)matching;
  return DS_OK;
}

ds_status ds_store_dump_set_status(ds_store *store, const char *id, const char *status_text,
                                   const char *error, const char *runtime_version, const char *gc_mode,
                                   const char *dump_kind, double analysis_ms, ds_error *err) {
  if (!store || !ds__store_valid_id(id) || !valid_dump_status(status_text))
    return ds_error_set(err, DS_E_ARG,
                        "store: set_status needs a store, a dump id and a status (queued, "
                        "analysing, ready, failed)");
  bool ready = strcmp(status_text, "ready") == 0;
  if (ready && !(isfinite(analysis_ms) && analysis_ms >= 0))
    return ds_error_set(err, DS_E_ARG, "store: analysis_ms must be a finite, non-negative duration");
  sqlite3_stmt *st;
  size_t changed = 0;
  ds_status status = ds__store_tx_begin(store, true, S_DUMP_SET_STATUS, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, id, DS_STORE_ID_MAX);
    ds__store_bind_text(st, 2, status_text, DUMP_CAP(status));
    ds__store_bind_text(st, 3, error, DUMP_CAP(error));
    ds__store_bind_text(st, 4, runtime_version, DUMP_CAP(runtime_version));
    ds__store_bind_text(st, 5, gc_mode, DUMP_CAP(gc_mode));
    ds__store_bind_text(st, 6, dump_kind, DUMP_CAP(dump_kind));
    sqlite3_bind_double(st, 7, ready ? analysis_ms : 0);
    sqlite3_bind_int64(st, 8, ds__store_now_ms());
    status = ds__store_run(store, S_DUMP_SET_STATUS, st, &changed, err);
  }
  if (status == DS_OK && changed == 0)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %s", id);
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_dump_delete(ds_store *store, const char *id, ds_error *err) {
  if (!store || !ds__store_valid_id(id))
    return ds_error_set(err, DS_E_ARG, "store: dump_delete needs a store and a dump id");
  sqlite3_stmt *st;
  size_t changed = 0;
  ds_status status = ds__store_tx_begin(store, true, S_DUMP_DELETE_ARTIFACTS, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, id, DS_STORE_ID_MAX);
    status = ds__store_run(store, S_DUMP_DELETE_ARTIFACTS, st, NULL, err);
  }
  if (status == DS_OK && (status = ds__store_prep(store, S_DUMP_DELETE, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, id, DS_STORE_ID_MAX);
    status = ds__store_run(store, S_DUMP_DELETE, st, &changed, err); /* its jobs go by ON DELETE CASCADE */
  }
  if (status == DS_OK && changed == 0)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %s", id);
  return ds__store_tx_end(store, status, err);
}

/* ---- jobs -------------------------------------------------------------------------------------- */

ds_status ds_store_job_enqueue(ds_store *store, const char *dump_id, const char *kind, int64_t *job_id,
                               ds_error *err) {
  if (!store || !ds__store_valid_id(dump_id) || !kind || !kind[0] || !job_id)
    return ds_error_set(err, DS_E_ARG, "store: job_enqueue needs a store, a dump id, a kind and an output");
  ds_store_dump dump;
  int64_t id = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_JOB_INSERT, &st, err);
  if (status == DS_OK)
    status = dump_read(store, dump_id, &dump, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, dump_id, DS_STORE_ID_MAX);
    ds__store_bind_text(st, 2, kind, FIELD_CAP(ds_store_job, kind));
    sqlite3_bind_int64(st, 3, ds__store_now_ms());
    status = ds__store_one_row(store, S_JOB_INSERT, st, read_int64, &id, &found, err);
  }
  if (status == DS_OK && (status = ds__store_prep(store, S_DUMP_QUEUED, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, dump_id, DS_STORE_ID_MAX);
    sqlite3_bind_int64(st, 2, id);
    status = ds__store_run(store, S_DUMP_QUEUED, st, NULL, err);
  }
  status = ds__store_tx_end(store, status, err);
  *job_id = status == DS_OK ? id : 0;
  return status;
}

ds_status ds_store_job_get(ds_store *store, int64_t job_id, ds_store_job *out, ds_error *err) {
  if (!store || !out)
    return ds_error_set(err, DS_E_ARG, "store: job_get needs a store and an output");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, false, S_JOB_GET, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    status = ds__store_one_row(store, S_JOB_GET, st, read_job, out, &found, err);
  }
  if (status == DS_OK && !found)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no job with id %lld", (long long)job_id);
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_job_claim(ds_store *store, int64_t lease_ms, ds_store_job *out, bool *claimed,
                             ds_error *err) {
  if (!store || !out || !claimed || lease_ms <= 0 || lease_ms > DS__LEASE_MAX_MS)
    return ds_error_set(err, DS_E_ARG,
                        "store: job_claim needs a store, outputs and a lease of 1 ms to 7 days");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_JOB_CLAIM, &st, err);
  int64_t now = ds__store_now_ms(); /* once the write lock is ours */
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, now + lease_ms);
    status = ds__store_one_row(store, S_JOB_CLAIM, st, read_job, out, &found, err);
  }
  if (status == DS_OK && found && (status = ds__store_prep(store, S_DUMP_ANALYSING, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, out->dump_id, DS_STORE_ID_MAX);
    status = ds__store_run(store, S_DUMP_ANALYSING, st, NULL, err);
  }
  status = ds__store_tx_end(store, status, err);
  *claimed = status == DS_OK && found;
  return status;
}

/* Runs a bound update of a running job (S_JOB_PROGRESS, _FINISH, _REQUEUE: RETURNING dump_id) in a
 * transaction. When it matched nothing, says why: no such job, or the job is not running. */
static ds_status update_running(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, int64_t job_id,
                                char dump_id[DS_STORE_ID_MAX], ds_error *err) {
  bool found = false;
  char state[DS_STORE_ID_MAX] = "";
  ds_status status = ds__store_one_row(store, which, st, read_id, dump_id, &found, err);
  if (status != DS_OK || found)
    return status;
  if ((status = ds__store_prep(store, S_JOB_STATE, &st, err)) != DS_OK)
    return status;
  sqlite3_bind_int64(st, 1, job_id);
  if ((status = ds__store_one_row(store, S_JOB_STATE, st, read_id, state, &found, err)) != DS_OK)
    return status;
  if (!found)
    return ds_error_set(err, DS_E_NOT_FOUND, "no job with id %lld", (long long)job_id);
  return ds_error_set(err, DS_E_ARG, "store: %s: job %lld is %s, not running", ds__stmts[which].purpose,
                      (long long)job_id, state);
}

ds_status ds_store_job_progress(ds_store *store, int64_t job_id, int worker_pid, const char *phase,
                                int percent, int64_t lease_ms, ds_error *err) {
  if (!store || worker_pid < 0 || percent < 0 || percent > 100 || lease_ms <= 0 ||
      lease_ms > DS__LEASE_MAX_MS)
    return ds_error_set(err, DS_E_ARG,
                        "store: job_progress needs a pid >= 0, a percent in 0..100 and a lease of "
                        "1 ms to 7 days");
  char dump_id[DS_STORE_ID_MAX];
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_JOB_PROGRESS, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, worker_pid);
    ds__store_bind_text(st, 3, phase, FIELD_CAP(ds_store_job, phase));
    sqlite3_bind_int(st, 4, percent);
    sqlite3_bind_int64(st, 5, ds__store_now_ms() + lease_ms);
    status = update_running(store, S_JOB_PROGRESS, st, job_id, dump_id, err);
  }
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_job_finish(ds_store *store, int64_t job_id, bool ok, const char *error, ds_error *err) {
  if (!store)
    return ds_error_set(err, DS_E_ARG, "store: job_finish needs a store");
  char dump_id[DS_STORE_ID_MAX];
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_JOB_FINISH, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, ok);
    ds__store_bind_text(st, 3, error, FIELD_CAP(ds_store_job, error));
    sqlite3_bind_int64(st, 4, ds__store_now_ms());
    status = update_running(store, S_JOB_FINISH, st, job_id, dump_id, err);
  }
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_job_requeue(ds_store *store, int64_t job_id, ds_error *err) {
  if (!store)
    return ds_error_set(err, DS_E_ARG, "store: job_requeue needs a store");
  char dump_id[DS_STORE_ID_MAX];
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_JOB_REQUEUE, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    status = update_running(store, S_JOB_REQUEUE, st, job_id, dump_id, err);
  }
  if (status == DS_OK && (status = ds__store_prep(store, S_DUMP_QUEUED, &st, err)) == DS_OK) {
    ds__store_bind_text(st, 1, dump_id, DS_STORE_ID_MAX); /* ?2 NULL: last_job stays */
    status = ds__store_run(store, S_DUMP_QUEUED, st, NULL, err);
  }
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_job_recover(ds_store *store, bool all_running, int max_attempts, size_t *requeued,
                               size_t *failed, ds_error *err) {
  if (!store || !requeued || !failed || max_attempts < 1)
    return ds_error_set(err, DS_E_ARG, "store: job_recover needs a store, outputs and max_attempts >= 1");
  /* the dumps first, while their jobs still say "running"; failed before queued, so that a dump
   * with one job of each ends "queued": an analysis is still coming */
  static const enum ds__stmt_id steps[4] = {S_RECOVER_DUMPS_FAIL, S_RECOVER_DUMPS_QUEUE, S_RECOVER_JOBS_FAIL,
                                            S_RECOVER_JOBS_QUEUE};
  size_t changed[4] = {0};
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, steps[0], &st, err);
  int64_t now = ds__store_now_ms(); /* once the write lock is ours */
  for (size_t i = 0; status == DS_OK && i < 4; i++) {
    if (i > 0 && (status = ds__store_prep(store, steps[i], &st, err)) != DS_OK)
      break;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, all_running);
    sqlite3_bind_int(st, 3, max_attempts);
    if (sqlite3_bind_parameter_count(st) >= 4)
      sqlite3_bind_text(st, 4, DS__RECOVER_ERROR, -1, SQLITE_STATIC);
    status = ds__store_run(store, steps[i], st, &changed[i], err);
  }
  status = ds__store_tx_end(store, status, err);
  *failed = status == DS_OK ? changed[2] : 0;
  *requeued = status == DS_OK ? changed[3] : 0;
  return status;
}

static void read_count(sqlite3_stmt *st, void *counts) {
  static const char *const states[4] = {"queued", "running", "done", "failed"};
  const char *state = (const char *)sqlite3_column_text(st, 0);
  for (size_t i = 0; state && i < 4; i++)
    if (strcmp(state, states[i]) == 0)
      ((uint64_t *)counts)[i] = (uint64_t)sqlite3_column_int64(st, 1);
}

ds_status ds_store_job_counts(ds_store *store, uint64_t counts[4], ds_error *err) {
  if (!store || !counts)
    return ds_error_set(err, DS_E_ARG, "store: job_counts needs a store and an output");
  memset(counts, 0, 4 * sizeof counts[0]);
  size_t rows = 0;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, false, S_JOB_COUNTS, &st, err);
  if (status == DS_OK) /* size 0: every row (one per state) writes into the same counts */
    status = ds__store_many_rows(store, S_JOB_COUNTS, st, read_count, counts, 0, 4, &rows, err);
  return ds__store_tx_end(store, status, err);
}
