/*
 * test_store.c: the SQLite store (server/store.h) on real database files in a scratch folder:
 * migrations and refusing a newer schema, dumps (dedupe, paging, status), the job queue (FIFO
 * claims, progress, finish, lease recovery, two threads claiming at once), the artifact cache
 * API tokens (only hashes on disk) and imports (never a signature). Needs no dumps.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "store.h"

/* A fresh database path in the scratch folder (unique per call). */
static const char *fresh_db(void) {
  static char path[512];
  static int serial;
  snprintf(path, sizeof path, "%s/store-%d.db", ds_test_tmpdir(), ++serial);
  return path;
}

static ds_store *open_fresh(char *path_out, size_t cap) {
  const char *path = fresh_db();
  if (path_out)
    snprintf(path_out, cap, "%s", path);
  ds_store *store = NULL;
  ds_error err = {0};
  ds_status rc = ds_store_open(path, &store, &err);
  if (rc != DS_OK)
    fprintf(stderr, "open %s: %s\n", path, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  return store;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A dump record whose sha256 is that of `seed` (so every seed is a different dump). */
static ds_store_dump make_dump(const char *seed, int64_t created_ms) {
  ds_store_dump dump;
  memset(&dump, 0, sizeof dump);
  ds_sha256_hex(seed, strlen(seed), dump.sha256);
  dump.size = 1000 + strlen(seed);
  snprintf(dump.path, sizeof dump.path, "dumps/%.64s.core", dump.sha256);
  snprintf(dump.name, sizeof dump.name, "%s.core", seed);
  dump.created_ms = created_ms;
  return dump;
}

static void add_dump(ds_store *store, const char *seed, int64_t created_ms, ds_store_dump *out) {
  ds_store_dump dump = make_dump(seed, created_ms);
  bool existed = true;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_store_dump_add(store, &dump, &existed, out, &err), DS_OK);
  CU_ASSERT_FALSE(existed);
}

/* One integer from a raw SQLite query on the database file (to look behind the store's back). */
static int64_t raw_int(const char *db_path, const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t value = -1;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return value;
}

static void test_sha256(void) {
  char hex[65];
  ds_sha256_hex("abc", 3, hex);
  CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ds_sha256_hex("", 0, hex);
  CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_migrations(void) {
  char path[512];
  ds_store *store = open_fresh(path, sizeof path);
  ds_store_dump row;
  add_dump(store, "migrations", 0, &row);
  ds_store_close(store);

  int64_t versions = raw_int(path, "SELECT count(*) FROM schema_version");
  CU_ASSERT(versions >= 1);
  CU_ASSERT_EQUAL(raw_int(path, "SELECT max(version) FROM schema_version"), versions);
  CU_ASSERT_EQUAL(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                                "('dumps', 'jobs', 'artifacts', 'tokens')"),
                  4);
  CU_ASSERT_EQUAL(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
                                "('jobs_by_state_created', 'dumps_by_created')"),
                  2);

  /* reopening applies nothing again and keeps the data */
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_store_open(path, &store, &err), DS_OK);
  ds_store_dump again;
  CU_ASSERT_EQUAL(ds_store_dump_get(store, row.id, &again, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(again.sha256, row.sha256);
  ds_store_close(store);
  CU_ASSERT_EQUAL(raw_int(path, "SELECT count(*) FROM schema_version"), versions);
  CU_ASSERT_EQUAL(raw_int(path, "SELECT count(*) FROM dumps"), 1);

  /* a raw connection sees WAL (persistent in the file) */
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
  CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_ROW);
  CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void test_future_schema(void) {
  char path[512];
  ds_store_close(open_fresh(path, sizeof path));
  sqlite3 *db = NULL;
  CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
  CU_ASSERT_EQUAL(
      sqlite3_exec(db, "INSERT INTO schema_version (version, applied_ms) VALUES (999, 0)", NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  ds_store *store = (ds_store *)1;
  ds_error err = {0};
  CU_ASSERT_EQUAL(ds_store_open(path, &store, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NULL(store);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "999"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "newer"));

  /* not a database at all: an I/O error naming the reason */
  char junk[512];
  snprintf(junk, sizeof junk, "%s/junk.db", ds_test_tmpdir());
  FILE *f = fopen(junk, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (int i = 0; i < 200; i++)
    fputs("this is not an SQLite database\n", f);
  fclose(f);
  CU_ASSERT_EQUAL(ds_store_open(junk, &store, &err), DS_E_IO);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not a database"));
}

static void test_dump_add_get(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  ds_store_dump dump = make_dump("first", 0), first, second;
  bool existed = true;
  CU_ASSERT_EQUAL_FATAL(ds_store_dump_add(store, &dump, &existed, &first, &err), DS_OK);
  CU_ASSERT_FALSE(existed);
  CU_ASSERT_EQUAL(strlen(first.id), 16);
  CU_ASSERT_EQUAL(strncmp(first.id, dump.sha256, 16), 0);
  CU_ASSERT_STRING_EQUAL(first.status, "queued");
  CU_ASSERT_STRING_EQUAL(first.dump_kind, "unknown");
  CU_ASSERT_STRING_EQUAL(first.name, "first.core");
  CU_ASSERT_STRING_EQUAL(first.path, dump.path);
  CU_ASSERT_EQUAL(first.size, dump.size);
  CU_ASSERT(first.created_ms > 0);

  /* the same bytes again, under another name: the stored row, nothing written */
  snprintf(dump.name, sizeof dump.name, "renamed.core");
  CU_ASSERT_EQUAL_FATAL(ds_store_dump_add(store, &dump, &existed, &second, &err), DS_OK);
  CU_ASSERT_TRUE(existed);
  CU_ASSERT_STRING_EQUAL(second.id, first.id);
  CU_ASSERT_STRING_EQUAL(second.name, "first.core");
  CU_ASSERT_EQUAL(second.created_ms, first.created_ms);

  ds_store_dump got;
  CU_ASSERT_EQUAL(ds_store_dump_get(store, first.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.sha256, dump.sha256);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, "0123456789abcdef", &got, &err), DS_E_NOT_FOUND);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0123456789abcdef"));
  CU_ASSERT_EQUAL(ds_store_dump_get(store, "", &got, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, "x'; DROP TABLE dumps; --", &got, &err), DS_E_ARG);

  /* bad input is refused, not stored */
  ds_store_dump bad = make_dump("bad", 0);
  bad.sha256[3] = 'X';
  CU_ASSERT_EQUAL(ds_store_dump_add(store, &bad, &existed, &got, &err), DS_E_ARG);

  /* status: ready fills the analysis fields; failed keeps its error; queued clears it */
  CU_ASSERT_EQUAL(
      ds_store_dump_set_status(store, first.id, "ready", NULL, "8.0.11", "server", "full", 1234.5, &err),
      DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, first.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.status, "ready");
  CU_ASSERT_STRING_EQUAL(got.runtime_version, "8.0.11");
  CU_ASSERT_STRING_EQUAL(got.gc_mode, "server");
  CU_ASSERT_STRING_EQUAL(got.dump_kind, "full");
  CU_ASSERT_DOUBLE_EQUAL(got.analysis_ms, 1234.5, 0.001);
  CU_ASSERT(got.analysed_ms >= got.created_ms);
  CU_ASSERT_EQUAL(
      ds_store_dump_set_status(store, first.id, "failed", "the DAC failed", NULL, NULL, NULL, 0, &err),
      DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, first.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.error, "the DAC failed");
  CU_ASSERT_STRING_EQUAL(got.runtime_version, "8.0.11");
  CU_ASSERT_DOUBLE_EQUAL(got.analysis_ms, 1234.5, 0.001);
  CU_ASSERT_EQUAL(ds_store_dump_set_status(store, first.id, "queued", NULL, NULL, NULL, NULL, 0, &err),
                  DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, first.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.error, "");
  CU_ASSERT_EQUAL(ds_store_dump_set_status(store, first.id, "finished", NULL, NULL, NULL, NULL, 0, &err),
                  DS_E_ARG);
  CU_ASSERT_EQUAL(
      ds_store_dump_set_status(store, "0123456789abcdef", "ready", NULL, NULL, NULL, NULL, 1, &err),
      DS_E_NOT_FOUND);
  ds_store_close(store);
}

static void test_dump_list(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  /* 7 dumps; "d2" and "d3" share a time, so the id breaks the tie */
  static const char *const seeds[7] = {"d0", "d1", "d2", "d3", "d4", "d5", "d6"};
  static const int64_t times[7] = {1000, 2000, 3000, 3000, 5000, 6000, 7000};
  ds_store_dump added[7];
  for (int i = 0; i < 7; i++)
    add_dump(store, seeds[i], times[i], &added[i]);
  for (int i = 0; i < 7; i += 2) /* d0 d2 d4 d6 ready */
    CU_ASSERT_EQUAL(ds_store_dump_set_status(store, added[i].id, "ready", NULL, NULL, NULL, NULL, 1, &err),
                    DS_OK);

  /* expected order: created desc, id desc */
  bool d2_first = strcmp(added[2].id, added[3].id) > 0;
  int order[7] = {6, 5, 4, d2_first ? 2 : 3, d2_first ? 3 : 2, 1, 0};

  char after[DS_STORE_ID_MAX] = "";
  size_t seen = 0;
  for (int page_no = 0; page_no < 4; page_no++) {
    ds_store_dump *rows = NULL;
    size_t count = 0;
    uint64_t total = 0;
    CU_ASSERT_EQUAL_FATAL(ds_store_dump_list(store, NULL, after, 3, &rows, &count, &total, &err), DS_OK);
    CU_ASSERT_EQUAL(total, 7);
    CU_ASSERT_EQUAL(count, page_no < 2 ? 3 : page_no == 2 ? 1 : 0);
    for (size_t i = 0; i < count && seen < 7; i++, seen++)
      CU_ASSERT_STRING_EQUAL(rows[i].id, added[order[seen]].id);
    if (count)
      snprintf(after, sizeof after, "%s", rows[count - 1].id);
    free(rows);
  }
  CU_ASSERT_EQUAL(seen, 7);

  /* filtered: the ready ones, newest first, total counts the filter */
  ds_store_dump *rows = NULL;
  size_t count = 0;
  uint64_t total = 0;
  CU_ASSERT_EQUAL_FATAL(ds_store_dump_list(store, "ready", NULL, 3, &rows, &count, &total, &err), DS_OK);
  CU_ASSERT_EQUAL(total, 4);
  CU_ASSERT_EQUAL_FATAL(count, 3);
  CU_ASSERT_STRING_EQUAL(rows[0].id, added[6].id);
  CU_ASSERT_STRING_EQUAL(rows[1].id, added[4].id);
  CU_ASSERT_STRING_EQUAL(rows[2].id, added[2].id);
  snprintf(after, sizeof after, "%s", rows[2].id);
  free(rows);
  CU_ASSERT_EQUAL_FATAL(ds_store_dump_list(store, "ready", after, 3, &rows, &count, &total, &err), DS_OK);
  CU_ASSERT_EQUAL(total, 4);
  CU_ASSERT_EQUAL_FATAL(count, 1);
  CU_ASSERT_STRING_EQUAL(rows[0].id, added[0].id);
  free(rows);
  CU_ASSERT_EQUAL(ds_store_dump_list(store, "queued", NULL, 10, &rows, &count, &total, &err), DS_OK);
  CU_ASSERT_EQUAL(total, 3);
  CU_ASSERT_EQUAL(count, 3);
  free(rows);
  /* totals only */
  CU_ASSERT_EQUAL(ds_store_dump_list(store, "", "", 0, &rows, &count, &total, &err), DS_OK);
  CU_ASSERT_EQUAL(total, 7);
  CU_ASSERT_EQUAL(count, 0);
  free(rows);

  /* bad filter, unknown cursor */
  CU_ASSERT_EQUAL(ds_store_dump_list(store, "bogus", NULL, 3, &rows, &count, &total, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_dump_list(store, NULL, "0123456789abcdef", 3, &rows, &count, &total, &err),
                  DS_E_NOT_FOUND);
  CU_ASSERT_PTR_NULL(rows);
  ds_store_close(store);
}

static void test_job_queue(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  ds_store_job job;
  bool claimed = true;
  CU_ASSERT_EQUAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_FALSE(claimed);

  ds_store_dump a, b, c;
  add_dump(store, "job-a", 0, &a);
  add_dump(store, "job-b", 0, &b);
  add_dump(store, "job-c", 0, &c);
  int64_t ids[3];
  CU_ASSERT_EQUAL(ds_store_job_enqueue(store, b.id, "index", &ids[0], &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_enqueue(store, a.id, "index", &ids[1], &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_enqueue(store, c.id, "index", &ids[2], &err), DS_OK);
  int64_t none = 0;
  CU_ASSERT_EQUAL(ds_store_job_enqueue(store, "0123456789abcdef", "index", &none, &err), DS_E_NOT_FOUND);
  ds_store_dump got;
  CU_ASSERT_EQUAL(ds_store_dump_get(store, a.id, &got, &err), DS_OK);
  CU_ASSERT_EQUAL(got.last_job, ids[1]);
  uint64_t counts[4];
  CU_ASSERT_EQUAL(ds_store_job_counts(store, counts, &err), DS_OK);
  CU_ASSERT_EQUAL(counts[0], 3);

  /* FIFO: the order they were queued in */
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL_FATAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
    CU_ASSERT_TRUE_FATAL(claimed);
    CU_ASSERT_EQUAL(job.id, ids[i]);
    CU_ASSERT_STRING_EQUAL(job.state, "running");
    CU_ASSERT_EQUAL(job.attempts, 1);
    CU_ASSERT(job.lease_expires_ms >= job.started_ms + 60000);
    CU_ASSERT_STRING_EQUAL(job.kind, "index");
  }
  CU_ASSERT_STRING_EQUAL(job.dump_id, c.id);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, b.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.status, "analysing");
  CU_ASSERT_EQUAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_FALSE(claimed);

  /* progress extends the lease and records the worker */
  ds_store_job before, after;
  CU_ASSERT_EQUAL(ds_store_job_get(store, ids[0], &before, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_progress(store, ids[0], 4242, "walk", 37, 600000, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_get(store, ids[0], &after, &err), DS_OK);
  CU_ASSERT_EQUAL(after.worker_pid, 4242);
  CU_ASSERT_STRING_EQUAL(after.phase, "walk");
  CU_ASSERT_EQUAL(after.percent, 37);
  CU_ASSERT(after.lease_expires_ms >= before.lease_expires_ms + 500000);
  CU_ASSERT_EQUAL(ds_store_job_progress(store, ids[0], 4242, "walk", 101, 1000, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_job_progress(store, 99999, 4242, "walk", 10, 1000, &err), DS_E_NOT_FOUND);

  /* finish: done and failed; the dump is the caller's business */
  CU_ASSERT_EQUAL(ds_store_job_finish(store, ids[0], true, NULL, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_finish(store, ids[1], false, "worker crashed (SIGSEGV)", &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_get(store, ids[0], &job, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(job.state, "done");
  CU_ASSERT_EQUAL(job.worker_pid, 0);
  CU_ASSERT(job.finished_ms >= job.started_ms);
  CU_ASSERT_EQUAL(ds_store_job_get(store, ids[1], &job, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(job.state, "failed");
  CU_ASSERT_STRING_EQUAL(job.error, "worker crashed (SIGSEGV)");
  CU_ASSERT_EQUAL(ds_store_dump_get(store, a.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.status, "analysing");
  CU_ASSERT_EQUAL(ds_store_job_finish(store, ids[0], true, NULL, &err), DS_E_ARG); /* not running */
  CU_ASSERT_EQUAL(ds_store_job_progress(store, ids[0], 1, "x", 1, 1000, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_job_finish(store, 99999, true, NULL, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_job_get(store, 99999, &job, &err), DS_E_NOT_FOUND);

  /* requeue: back in the queue, the dump queued, claimable again */
  CU_ASSERT_EQUAL(ds_store_job_requeue(store, ids[2], &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, c.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.status, "queued");
  CU_ASSERT_EQUAL(ds_store_job_counts(store, counts, &err), DS_OK);
  CU_ASSERT_EQUAL(counts[0], 1);
  CU_ASSERT_EQUAL(counts[1], 0);
  CU_ASSERT_EQUAL(counts[2], 1);
  CU_ASSERT_EQUAL(counts[3], 1);
  CU_ASSERT_EQUAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_TRUE(claimed);
  CU_ASSERT_EQUAL(job.id, ids[2]);
  CU_ASSERT_EQUAL(job.attempts, 2);

  /* deleting a dump takes its jobs (foreign key cascade) and its artifact rows */
  ds_store_artifact art = {.kind = "index", .format_version = 3, .path = "index/a.idx", .size = 10};
  memcpy(art.sha256, a.sha256, sizeof art.sha256);
  CU_ASSERT_EQUAL(ds_store_artifact_put(store, &art, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_delete(store, a.id, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, a.id, &got, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_job_get(store, ids[1], &job, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, a.sha256, "index", 3, &art, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_dump_delete(store, a.id, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_job_get(store, ids[0], &job, &err), DS_OK); /* another dump's job stays */
  ds_store_close(store);
}

static void test_recover(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  ds_store_dump dump, got;
  add_dump(store, "recover", 0, &dump);
  int64_t id = 0;
  CU_ASSERT_EQUAL_FATAL(ds_store_job_enqueue(store, dump.id, "index", &id, &err), DS_OK);
  ds_store_job job;
  bool claimed = false;
  size_t requeued = 9, failed = 9;

  /* a live lease is left alone by periodic recovery; an expired one is taken back */
  CU_ASSERT_EQUAL_FATAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_recover(store, false, 3, &requeued, &failed, &err), DS_OK);
  CU_ASSERT_EQUAL(requeued, 0);
  CU_ASSERT_EQUAL(failed, 0);
  CU_ASSERT_EQUAL(ds_store_job_progress(store, id, 77, "walk", 5, 1, &err), DS_OK);
  sleep_ms(20);
  CU_ASSERT_EQUAL(ds_store_job_recover(store, false, 3, &requeued, &failed, &err), DS_OK);
  CU_ASSERT_EQUAL(requeued, 1);
  CU_ASSERT_EQUAL(failed, 0);
  CU_ASSERT_EQUAL(ds_store_job_get(store, id, &job, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(job.state, "queued");
  CU_ASSERT_EQUAL(job.worker_pid, 0);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, dump.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.status, "queued");

  /* start-up recovery (all running): attempt 2 requeues, attempt 3 gives up */
  CU_ASSERT_EQUAL_FATAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_EQUAL(job.attempts, 2);
  CU_ASSERT_EQUAL(ds_store_job_recover(store, true, 3, &requeued, &failed, &err), DS_OK);
  CU_ASSERT_EQUAL(requeued, 1);
  CU_ASSERT_EQUAL(failed, 0);
  CU_ASSERT_EQUAL_FATAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_TRUE(claimed);
  CU_ASSERT_EQUAL(job.attempts, 3);
  CU_ASSERT_EQUAL(ds_store_job_recover(store, true, 3, &requeued, &failed, &err), DS_OK);
  CU_ASSERT_EQUAL(requeued, 0);
  CU_ASSERT_EQUAL(failed, 1);
  CU_ASSERT_EQUAL(ds_store_job_get(store, id, &job, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(job.state, "failed");
  CU_ASSERT_PTR_NOT_NULL(strstr(job.error, "interrupted 3 times"));
  CU_ASSERT(job.finished_ms > 0);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, dump.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.status, "failed");
  CU_ASSERT_STRING_EQUAL(got.error, job.error);
  CU_ASSERT(got.analysed_ms > 0);
  CU_ASSERT_EQUAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_FALSE(claimed);
  CU_ASSERT_EQUAL(ds_store_job_recover(store, true, 0, &requeued, &failed, &err), DS_E_ARG);
  ds_store_close(store);
}

enum { CLAIM_JOBS = 50 };
struct claimer {
  ds_store *store;
  int64_t ids[CLAIM_JOBS];
  size_t count;
  int errors;
};

static void *claim_all(void *arg) {
  struct claimer *c = arg;
  for (;;) {
    ds_store_job job;
    bool claimed = false;
    ds_error err = {0};
    if (ds_store_job_claim(c->store, 60000, &job, &claimed, &err) != DS_OK) {
      c->errors++;
      break;
    }
    if (!claimed)
      break;
    if (c->count < CLAIM_JOBS)
      c->ids[c->count++] = job.id;
    if (ds_store_job_progress(c->store, job.id, 1, "walk", 50, 60000, &err) != DS_OK)
      c->errors++;
  }
  return NULL;
}

static void test_concurrent_claims(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  int64_t ids[CLAIM_JOBS];
  for (int i = 0; i < CLAIM_JOBS; i++) {
    char seed[32];
    snprintf(seed, sizeof seed, "concurrent-%d", i);
    ds_store_dump dump;
    add_dump(store, seed, 0, &dump);
    CU_ASSERT_EQUAL_FATAL(ds_store_job_enqueue(store, dump.id, "index", &ids[i], &err), DS_OK);
  }
  struct claimer claimers[2] = {{.store = store}, {.store = store}};
  pthread_t threads[2];
  for (int i = 0; i < 2; i++)
    CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[i], NULL, claim_all, &claimers[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(threads[i], NULL);
  CU_ASSERT_EQUAL(claimers[0].errors + claimers[1].errors, 0);
  CU_ASSERT_EQUAL(claimers[0].count + claimers[1].count, CLAIM_JOBS);
  int seen[CLAIM_JOBS] = {0};
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < claimers[t].count; i++)
      for (int j = 0; j < CLAIM_JOBS; j++)
        if (claimers[t].ids[i] == ids[j])
          seen[j]++;
  for (int j = 0; j < CLAIM_JOBS; j++)
    CU_ASSERT_EQUAL(seen[j], 1);
  uint64_t counts[4];
  CU_ASSERT_EQUAL(ds_store_job_counts(store, counts, &err), DS_OK);
  CU_ASSERT_EQUAL(counts[0], 0);
  CU_ASSERT_EQUAL(counts[1], CLAIM_JOBS);
  for (int j = 0; j < CLAIM_JOBS; j++) {
    ds_store_job job;
    CU_ASSERT_EQUAL(ds_store_job_get(store, ids[j], &job, &err), DS_OK);
    CU_ASSERT_EQUAL(job.attempts, 1);
  }
  ds_store_close(store);
}

static void test_artifacts(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  ds_store_artifact a = {.kind = "index", .format_version = 3, .path = "index/a.idx", .size = 1000};
  ds_store_artifact b = {.kind = "index", .format_version = 3, .path = "index/b.idx", .size = 234};
  ds_sha256_hex("a", 1, a.sha256);
  ds_sha256_hex("b", 1, b.sha256);
  CU_ASSERT_EQUAL(ds_store_artifact_put(store, &a, &err), DS_OK);
  sleep_ms(5);
  CU_ASSERT_EQUAL(ds_store_artifact_put(store, &b, &err), DS_OK);

  ds_store_artifact got;
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, a.sha256, "index", 3, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.path, "index/a.idx");
  CU_ASSERT_EQUAL(got.size, 1000);
  CU_ASSERT_EQUAL(got.format_version, 3);
  CU_ASSERT(got.created_ms > 0 && got.last_access_ms == got.created_ms);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, a.sha256, "index", 4, &got, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, a.sha256, "report", 3, &got, &err), DS_E_NOT_FOUND);

  ds_store_artifact *rows = NULL;
  size_t count = 0;
  uint64_t bytes = 0;
  CU_ASSERT_EQUAL_FATAL(ds_store_artifact_lru(store, &rows, &count, &bytes, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(count, 2);
  CU_ASSERT_EQUAL(bytes, 1234);
  CU_ASSERT_STRING_EQUAL(rows[0].sha256, a.sha256);
  CU_ASSERT_STRING_EQUAL(rows[1].sha256, b.sha256);
  free(rows);

  /* touching a makes b the least recently used */
  sleep_ms(5);
  CU_ASSERT_EQUAL(ds_store_artifact_touch(store, a.sha256, "index", 3, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, a.sha256, "index", 3, &got, &err), DS_OK);
  CU_ASSERT(got.last_access_ms > got.created_ms);
  CU_ASSERT_EQUAL_FATAL(ds_store_artifact_lru(store, &rows, &count, &bytes, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(count, 2);
  CU_ASSERT_STRING_EQUAL(rows[0].sha256, b.sha256);
  CU_ASSERT_STRING_EQUAL(rows[1].sha256, a.sha256);
  free(rows);
  CU_ASSERT_EQUAL(ds_store_artifact_touch(store, a.sha256, "index", 9, &err), DS_E_NOT_FOUND);

  /* put again replaces */
  b.size = 500;
  snprintf(b.path, sizeof b.path, "index/b2.idx");
  CU_ASSERT_EQUAL(ds_store_artifact_put(store, &b, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, b.sha256, "index", 3, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.path, "index/b2.idx");

  CU_ASSERT_EQUAL(ds_store_artifact_delete(store, a.sha256, "index", 3, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, a.sha256, "index", 3, &got, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_artifact_delete(store, a.sha256, "index", 3, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL_FATAL(ds_store_artifact_lru(store, &rows, &count, &bytes, &err), DS_OK);
  CU_ASSERT_EQUAL(count, 1);
  CU_ASSERT_EQUAL(bytes, 500);
  free(rows);
  CU_ASSERT_EQUAL(ds_store_artifact_get(store, "nothex", "index", 3, &got, &err), DS_E_ARG);
  ds_store_close(store);
}

/* Whether `needle` occurs in the file at path (a missing file has nothing). */
static bool file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  size_t cap = 16 << 20, len = 0;
  char *buf = malloc(cap);
  bool found = false;
  if (buf) {
    len = fread(buf, 1, cap, f);
    found = memmem(buf, len, needle, strlen(needle)) != NULL;
  }
  free(buf);
  fclose(f);
  return found;
}

static void test_tokens(void) {
  char path[512], wal[600];
  ds_store *store = open_fresh(path, sizeof path);
  snprintf(wal, sizeof wal, "%s-wal", path);
  ds_error err = {0};
  char admin[80], reader[80];
  CU_ASSERT_EQUAL_FATAL(ds_store_token_create(store, DS_ROLE_ADMIN, "ops", admin, sizeof admin, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_store_token_create(store, DS_ROLE_READER, "grafana", reader, sizeof reader, &err),
                        DS_OK);
  CU_ASSERT_EQUAL(strlen(admin), 68);
  CU_ASSERT_EQUAL(strncmp(admin, "dst_", 4), 0);
  CU_ASSERT_EQUAL(strspn(admin + 4, "0123456789abcdef"), 64);
  CU_ASSERT_STRING_NOT_EQUAL(admin, reader);

  CU_ASSERT_EQUAL(ds_store_token_role(store, admin), DS_ROLE_ADMIN);
  CU_ASSERT_EQUAL(ds_store_token_role(store, reader), DS_ROLE_READER);
  char wrong[80];
  snprintf(wrong, sizeof wrong, "%s", admin);
  wrong[40] = wrong[40] == 'a' ? 'b' : 'a';
  CU_ASSERT_EQUAL(ds_store_token_role(store, wrong), DS_ROLE_NONE);
  CU_ASSERT_EQUAL(ds_store_token_role(store, ""), DS_ROLE_NONE);
  CU_ASSERT_EQUAL(ds_store_token_role(store, "dst_"), DS_ROLE_NONE);
  CU_ASSERT_EQUAL(ds_store_token_role(store, NULL), DS_ROLE_NONE);
  char small[40];
  CU_ASSERT_EQUAL(ds_store_token_create(store, DS_ROLE_ADMIN, "x", small, sizeof small, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_token_create(store, DS_ROLE_NONE, "x", wrong, sizeof wrong, &err), DS_E_ARG);

  /* on disk (database and WAL): the hash, never the token */
  char hash[65];
  ds_sha256_hex(admin, strlen(admin), hash);
  CU_ASSERT_TRUE(file_contains(path, hash) || file_contains(wal, hash));
  CU_ASSERT_FALSE(file_contains(path, admin + 4));
  CU_ASSERT_FALSE(file_contains(wal, admin + 4));
  CU_ASSERT_FALSE(file_contains(path, reader + 4));
  CU_ASSERT_FALSE(file_contains(wal, reader + 4));
  ds_store_close(store);
  CU_ASSERT_FALSE(file_contains(path, admin + 4));

  CU_ASSERT_EQUAL(ds_role_parse("uploader"), DS_ROLE_UPLOADER);
  CU_ASSERT_EQUAL(ds_role_parse("root"), DS_ROLE_NONE);
  CU_ASSERT_STRING_EQUAL(ds_role_name(DS_ROLE_ADMIN), "admin");
}

static void test_truncation(void) {
  char path[512];
  ds_store *store = open_fresh(path, sizeof path);
  ds_error err = {0};
  ds_store_dump dump;
  add_dump(store, "truncation", 0, &dump);
  char long_error[4000];
  memset(long_error, 'e', sizeof long_error - 1);
  long_error[sizeof long_error - 1] = 0;
  CU_ASSERT_EQUAL(ds_store_dump_set_status(store, dump.id, "failed", long_error, NULL, NULL, NULL, 0, &err),
                  DS_OK);
  struct {
    ds_store_dump dump;
    char guard[64];
  } got;
  memset(got.guard, 0x5a, sizeof got.guard);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, dump.id, &got.dump, &err), DS_OK);
  CU_ASSERT_EQUAL(strlen(got.dump.error), DS_STORE_TEXT_MAX - 1);
  CU_ASSERT_EQUAL(strncmp(got.dump.error, long_error, DS_STORE_TEXT_MAX - 1), 0);
  CU_ASSERT_EQUAL(got.dump.last_job, 0);
  for (size_t i = 0; i < sizeof got.guard; i++)
    CU_ASSERT_EQUAL(got.guard[i], 0x5a);
  /* truncated on write: the database holds no more than the field does */
  CU_ASSERT_EQUAL(raw_int(path, "SELECT length(error) FROM dumps"), DS_STORE_TEXT_MAX - 1);

  /* multi-byte UTF-8 is cut between characters, not inside one: 2-byte "é" x 1000 */
  char accents[2001];
  for (int i = 0; i < 1000; i++)
    memcpy(accents + 2 * i, "\xc3\xa9", 2);
  accents[2000] = 0;
  CU_ASSERT_EQUAL(ds_store_dump_set_status(store, dump.id, "failed", accents,
                                           "8.0.11-with-a-very-long-suffix-"
                                           "that-goes-on-and-on-past-sixty-four-bytes-of-text",
                                           NULL, NULL, 0, &err),
                  DS_OK);
  CU_ASSERT_EQUAL(ds_store_dump_get(store, dump.id, &got.dump, &err), DS_OK);
  CU_ASSERT_EQUAL(strlen(got.dump.error), DS_STORE_TEXT_MAX - 2);
  CU_ASSERT_EQUAL(strlen(got.dump.runtime_version), sizeof got.dump.runtime_version - 1);

  /* a job's error and phase too */
  int64_t id = 0;
  ds_store_job job;
  bool claimed = false;
  CU_ASSERT_EQUAL_FATAL(ds_store_job_enqueue(store, dump.id, "index", &id, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_store_job_claim(store, 60000, &job, &claimed, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_progress(store, id, 5, long_error, 10, 60000, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_finish(store, id, false, long_error, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_job_get(store, id, &job, &err), DS_OK);
  CU_ASSERT_EQUAL(strlen(job.error), DS_STORE_TEXT_MAX - 1);
  CU_ASSERT_EQUAL(strlen(job.phase), sizeof job.phase - 1);
  ds_store_close(store);
}

/* Imports: the row's life (queued -> downloading -> ingesting -> done, attempts counted), final
 * states are final, listing by state, and a URL or an error holding a signature is never stored. */
static void test_imports(void) {
  ds_store *store = open_fresh(NULL, 0);
  ds_error err = {0};
  ds_store_import a, b, got;
  CU_ASSERT_EQUAL_FATAL(ds_store_import_add(store, "https://acct.blob.core.windows.net/c/a.dmp?<redacted>", "a.dmp",
                                            false, &a, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_store_import_add(store, "http://127.0.0.1:9/b.dmp", "", true, &b, &err), DS_OK);
  CU_ASSERT(b.id > a.id);
  CU_ASSERT_STRING_EQUAL(a.state, "queued");
  CU_ASSERT(b.allow_private && !a.allow_private);
  CU_ASSERT_EQUAL(ds_store_import_add(store, "https://x/c/a.dmp?sv=1&sig=abc", "", false, &got, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_import_add(store, "https://x/c/a.dmp?SIG=abc", "", false, &got, &err), DS_E_ARG);

  CU_ASSERT_EQUAL(ds_store_import_set_state(store, a.id, "downloading", NULL, NULL, &got, &err), DS_OK);
  CU_ASSERT_EQUAL(got.attempts, 1);
  CU_ASSERT(got.started_ms > 0);
  CU_ASSERT_EQUAL(ds_store_import_progress(store, a.id, 10, 100, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, a.id, "queued", NULL, NULL, NULL, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, a.id, "downloading", NULL, NULL, &got, &err), DS_OK);
  CU_ASSERT_EQUAL(got.attempts, 2);
  CU_ASSERT_EQUAL(got.bytes_done, 10);
  CU_ASSERT_EQUAL(got.bytes_total, 100);

  ds_store_import *rows = NULL;
  size_t count = 0;
  CU_ASSERT_EQUAL(ds_store_import_list(store, "queued", 10, &rows, &count, &err), DS_OK);
  CU_ASSERT_EQUAL(count, 1);
  CU_ASSERT(count == 1 && rows[0].id == b.id);
  free(rows);
  CU_ASSERT_EQUAL(ds_store_import_list(store, NULL, 10, &rows, &count, &err), DS_OK);
  CU_ASSERT_EQUAL(count, 2);
  free(rows);
  CU_ASSERT_EQUAL(ds_store_import_list(store, "bogus", 10, &rows, &count, &err), DS_E_ARG);

  CU_ASSERT_EQUAL(ds_store_import_set_state(store, a.id, "ingesting", NULL, NULL, NULL, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, a.id, "done", NULL, "0123456789abcdef", &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.dump_id, "0123456789abcdef");
  CU_ASSERT(got.finished_ms > 0);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, a.id, "failed", "late", NULL, NULL, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_import_progress(store, a.id, 1, 1, &err), DS_OK); /* a finished one is left alone */
  CU_ASSERT_EQUAL(ds_store_import_get(store, a.id, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.state, "done");
  CU_ASSERT_EQUAL(got.bytes_done, 10);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, b.id, "failed", "HTTP 403 for ?sv=1&sig=x", NULL, NULL, &err),
                  DS_E_ARG);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, b.id, "failed", "HTTP 403", NULL, &got, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(got.error, "HTTP 403");
  CU_ASSERT_EQUAL(ds_store_import_get(store, 999999, &got, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_import_set_state(store, 999999, "queued", NULL, NULL, NULL, &err), DS_E_NOT_FOUND);
  CU_ASSERT_EQUAL(ds_store_import_list(store, NULL, 10, &rows, &count, &err), DS_OK);
  CU_ASSERT_EQUAL(count, 0);
  CU_ASSERT_PTR_NULL(rows);
  ds_store_close(store);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("store", NULL, NULL);
  CU_add_test(s, "sha256 hex", test_sha256);
  CU_add_test(s, "migrations on a fresh and an existing database", test_migrations);
  CU_add_test(s, "a newer schema and a non-database are refused", test_future_schema);
  CU_add_test(s, "dump add, dedupe, get, status", test_dump_add_get);
  CU_add_test(s, "dump list paging, filter, totals", test_dump_list);
  CU_add_test(s, "job queue: FIFO claims, progress, finish, requeue, delete cascade", test_job_queue);
  CU_add_test(s, "job recovery: expired leases, start-up, giving up", test_recover);
  CU_add_test(s, "two threads claiming never share a job", test_concurrent_claims);
  CU_add_test(s, "artifacts put, get, touch, LRU, delete", test_artifacts);
  CU_add_test(s, "tokens: roles, wrong tokens, only hashes on disk", test_tokens);
  CU_add_test(s, "over-long text is truncated, never overflowed", test_truncation);
  CU_add_test(s, "imports: states, attempts, listing, no signature stored", test_imports);
  return ds_test_main();
}
