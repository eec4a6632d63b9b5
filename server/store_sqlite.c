/*
 * store_sqlite.c: the store (store.h) on one SQLite database in WAL mode.
 *
 * One connection, guarded by one mutex: every public function holds it for its whole transaction,
 * so transactions of different threads never interleave. Statements are constant strings, prepared
 * once (lazily) and kept; values are always bound, never spliced into SQL. Every write transaction
 * begins with BEGIN IMMEDIATE: it takes the write lock before reading anything, so it cannot fail
 * half-way with SQLITE_BUSY_SNAPSHOT.
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
 *   - artifact touch and delete of an absent row are DS_E_NOT_FOUND; list functions return *rows
 *     NULL when there are none.
 */
#include <errno.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "store.h"
#include "store_sqlite_sql.h"

#define DS__BUSY_TIMEOUT_MS 5000
#define DS__LIST_MAX 1000                                /* dumps per page */
#define DS__LRU_MAX 100000                               /* artifacts listed at once */
#define DS__LEASE_MAX_MS ((int64_t)7 * 24 * 3600 * 1000) /* a longer lease is a caller's bug */
#define DS__TOKEN_BYTES 32
#define DS__TOKEN_TEXT_LEN (4 + 2 * DS__TOKEN_BYTES) /* "dst_" + hex, without the NUL */
#define FIELD_CAP(type, member) sizeof(((type *)0)->member)

static const char DS__RECOVER_ERROR[] =
    "analysis was interrupted %d times (worker or daemon died); giving up";
static const char DS__HEX[] = "0123456789abcdef";

struct ds_store {
  sqlite3 *db;
  pthread_mutex_t lock;
  sqlite3_stmt *stmts[S__COUNT];
};

/* ---- helpers ----------------------------------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How much of text (full bytes) fits a field of cap bytes with its NUL, cut between UTF-8 characters. */
static size_t bounded_len(const char *text, size_t full, size_t cap) {
  if (full < cap)
    return full;
  size_t len = cap - 1;
  while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
    len--;
  return len;
}

/* Binds text truncated to a field of cap bytes (truncation on write); NULL binds SQL NULL. */
static void bind_text(sqlite3_stmt *st, int index, const char *text, size_t cap) {
  if (!text)
    sqlite3_bind_null(st, index);
  else
    sqlite3_bind_text(st, index, text, (int)bounded_len(text, strnlen(text, cap), cap), SQLITE_TRANSIENT);
}

/* Copies a text column into a field of cap bytes: truncated, always NUL-terminated. */
static void column_text(sqlite3_stmt *st, int col, char *dst, size_t cap) {
  const char *text = (const char *)sqlite3_column_text(st, col);
  size_t len = text ? bounded_len(text, (size_t)sqlite3_column_bytes(st, col), cap) : 0;
  if (len)
    memcpy(dst, text, len);
  dst[len] = 0;
}

static bool valid_id(const char *id) {
  size_t len = id ? strnlen(id, DS_STORE_ID_MAX) : 0;
  for (size_t i = 0; i < len; i++)
    if (id[i] <= 0x20 || id[i] >= 0x7f)
      return false;
  return len > 0 && len < DS_STORE_ID_MAX;
}

static bool valid_sha256(const char *hex) {
  if (!hex || strnlen(hex, 65) != 64)
    return false;
  for (size_t i = 0; i < 64; i++)
    if (!strchr(DS__HEX, hex[i]))
      return false;
  return true;
}

static bool valid_dump_status(const char *status) {
  static const char *const names[] = {"queued", "analysing", "ready", "failed"};
  for (size_t i = 0; status && i < 4; i++)
    if (strcmp(status, names[i]) == 0)
      return true;
  return false;
}

static ds_status db_error(ds_store *store, const char *purpose, ds_error *err) {
  return ds_error_set(err, DS_E_IO, "store: %s: %s", purpose, sqlite3_errmsg(store->db));
}

/* Executes constant SQL (transaction control, schema), never text that came from input. */
static ds_status exec_sql(ds_store *store, const char *sql, const char *purpose, ds_error *err) {
  return sqlite3_exec(store->db, sql, NULL, NULL, NULL) == SQLITE_OK ? DS_OK : db_error(store, purpose, err);
}

/* *st = statement `which`, prepared on first use, reset and with no bindings left from its last use. */
static ds_status prep(ds_store *store, enum ds__stmt_id which, sqlite3_stmt **st, ds_error *err) {
  sqlite3_stmt **slot = &store->stmts[which];
  *st = NULL;
  if (!*slot && sqlite3_prepare_v3(store->db, ds__stmts[which].sql, -1, SQLITE_PREPARE_PERSISTENT, slot,
                                   NULL) != SQLITE_OK) {
    *slot = NULL;
    return db_error(store, ds__stmts[which].purpose, err);
  }
  sqlite3_reset(*slot);
  sqlite3_clear_bindings(*slot);
  *st = *slot;
  return DS_OK;
}

/* Takes the lock, begins a transaction (BEGIN IMMEDIATE to write, deferred to read) and prepares
 * the first statement. Whatever it returns, tx_end must follow. */
static ds_status tx_begin(ds_store *store, bool write, enum ds__stmt_id first, sqlite3_stmt **st,
                          ds_error *err) {
  pthread_mutex_lock(&store->lock);
  *st = NULL;
  ds_status status = exec_sql(store, write ? "BEGIN IMMEDIATE" : "BEGIN", "starting a transaction", err);
  return status == DS_OK ? prep(store, first, st, err) : status;
}

/* Commits when status is DS_OK, else rolls back; releases the lock. Returns the final status. */
static ds_status tx_end(ds_store *store, ds_status status, ds_error *err) {
  if (status == DS_OK)
    status = exec_sql(store, "COMMIT", "committing", err);
  if (status != DS_OK && !sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_unlock(&store->lock);
  return status;
}

/* Runs a bound statement to completion and resets it; *changes (if given) gets the rows it changed. */
static ds_status run(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, size_t *changes,
                     ds_error *err) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE)
    return db_error(store, ds__stmts[which].purpose, err);
  if (changes)
    *changes = (size_t)sqlite3_changes(store->db);
  return DS_OK;
}

typedef void row_reader(sqlite3_stmt *st, void *out);

/* Runs a bound statement that yields at most one row (a SELECT by key, or a write with RETURNING):
 * *found says whether it did, and read copied it into out. Resets the statement. */
static ds_status one_row(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, row_reader *read,
                         void *out, bool *found, ds_error *err) {
  int rc = sqlite3_step(st);
  *found = rc == SQLITE_ROW;
  if (*found) {
    read(st, out);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) { /* a write with RETURNING completes on its own */
    }
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE)
    *found = false;
  return rc == SQLITE_DONE ? DS_OK : db_error(store, ds__stmts[which].purpose, err);
}

/* Reads up to capacity rows of size bytes each into rows; *filled counts them. Resets the statement. */
static ds_status many_rows(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, row_reader *read,
                           void *rows, size_t size, size_t capacity, size_t *filled, ds_error *err) {
  int rc = SQLITE_DONE;
  *filled = 0;
  while (*filled < capacity && (rc = sqlite3_step(st)) == SQLITE_ROW)
    read(st, (char *)rows + size * (*filled)++);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? DS_OK : db_error(store, ds__stmts[which].purpose, err);
}

static void read_int64(sqlite3_stmt *st, void *out) {
  *(int64_t *)out = sqlite3_column_int64(st, 0);
}

static void read_id(sqlite3_stmt *st, void *out) {
  column_text(st, 0, out, DS_STORE_ID_MAX);
}

static void read_dump(sqlite3_stmt *st, void *row) {
  ds_store_dump *out = row;
  memset(out, 0, sizeof *out);
  column_text(st, 0, out->id, sizeof out->id);
  column_text(st, 1, out->sha256, sizeof out->sha256);
  out->size = (uint64_t)sqlite3_column_int64(st, 2);
  column_text(st, 3, out->path, sizeof out->path);
  column_text(st, 4, out->name, sizeof out->name);
  column_text(st, 5, out->status, sizeof out->status);
  column_text(st, 6, out->runtime_version, sizeof out->runtime_version);
  column_text(st, 7, out->gc_mode, sizeof out->gc_mode);
  column_text(st, 8, out->dump_kind, sizeof out->dump_kind);
  column_text(st, 9, out->error, sizeof out->error);
  out->last_job = sqlite3_column_int64(st, 10);
  out->created_ms = sqlite3_column_int64(st, 11);
  out->analysed_ms = sqlite3_column_int64(st, 12);
  out->analysis_ms = sqlite3_column_double(st, 13);
}

static void read_job(sqlite3_stmt *st, void *row) {
  ds_store_job *out = row;
  memset(out, 0, sizeof *out);
  out->id = sqlite3_column_int64(st, 0);
  column_text(st, 1, out->dump_id, sizeof out->dump_id);
  column_text(st, 2, out->kind, sizeof out->kind);
  column_text(st, 3, out->state, sizeof out->state);
  out->attempts = sqlite3_column_int(st, 4);
  out->lease_expires_ms = sqlite3_column_int64(st, 5);
  out->worker_pid = sqlite3_column_int(st, 6);
  column_text(st, 7, out->phase, sizeof out->phase);
  out->percent = sqlite3_column_int(st, 8);
  column_text(st, 9, out->error, sizeof out->error);
  out->created_ms = sqlite3_column_int64(st, 10);
  out->started_ms = sqlite3_column_int64(st, 11);
  out->finished_ms = sqlite3_column_int64(st, 12);
}

static void read_artifact(sqlite3_stmt *st, void *row) {
  ds_store_artifact *out = row;
  memset(out, 0, sizeof *out);
  column_text(st, 0, out->sha256, sizeof out->sha256);
  column_text(st, 1, out->kind, sizeof out->kind);
  out->format_version = (uint32_t)sqlite3_column_int64(st, 2);
  column_text(st, 3, out->path, sizeof out->path);
  out->size = (uint64_t)sqlite3_column_int64(st, 4);
  out->created_ms = sqlite3_column_int64(st, 5);
  out->last_access_ms = sqlite3_column_int64(st, 6);
}

/* ---- open, migrations, close ------------------------------------------------------------------- */

/* Runs constant SQL that yields one value (a pragma, a version): as text into text (when given),
 * as an integer into number (when given); "" and 0 when it yields no row. */
static ds_status query_value(ds_store *store, const char *sql, const char *purpose, char *text, size_t cap,
                             int64_t *number, ds_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
  if (text)
    text[0] = 0;
  if (text && rc == SQLITE_ROW)
    column_text(st, 0, text, cap);
  if (number)
    *number = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  ds_status status = rc == SQLITE_ROW || rc == SQLITE_DONE ? DS_OK : db_error(store, purpose, err);
  sqlite3_finalize(st);
  return status;
}

/* Applies one missing migration per transaction until the schema is current; refuses a database
 * newer than this build. */
static ds_status migrate(ds_store *store, const char *db_path, ds_error *err) {
  for (;;) {
    int64_t version = 0;
    ds_status status = exec_sql(store, "BEGIN IMMEDIATE", "starting a migration", err);
    if (status == DS_OK)
      status = exec_sql(store, DS__SQL_SCHEMA_VERSION_TABLE, "creating the schema_version table", err);
    if (status == DS_OK)
      status =
          query_value(store, DS__SQL_SCHEMA_VERSION, "reading the schema version", NULL, 0, &version, err);
    if (status == DS_OK && version > DS__SCHEMA_VERSION)
      status =
          ds_error_set(err, DS_E_UNSUPPORTED,
                       "store %s has schema version %lld, newer than this build of dumpscope knows (%lld): "
                       "run a newer dumpscope, or use another data folder",
                       db_path, (long long)version, (long long)DS__SCHEMA_VERSION);
    if (status == DS_OK && version < 0)
      status =
          ds_error_set(err, DS_E_CORRUPT, "store %s: schema_version holds %lld", db_path, (long long)version);
    bool current = status == DS_OK && version == DS__SCHEMA_VERSION;
    if (status == DS_OK && !current) {
      char purpose[64];
      snprintf(purpose, sizeof purpose, "applying migration %lld", (long long)version + 1);
      status = exec_sql(store, ds__migrations[version], purpose, err);
      if (status == DS_OK)
        status = exec_sql(store, DS__SQL_RECORD_MIGRATION, "recording a migration", err);
    }
    if (status == DS_OK)
      status = exec_sql(store, "COMMIT", "committing a migration", err);
    if (status != DS_OK && !sqlite3_get_autocommit(store->db))
      sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    if (status != DS_OK || current)
      return status;
  }
}

ds_status ds_store_open(const char *db_path, ds_store **out, ds_error *err) {
  if (!db_path || !db_path[0] || !out)
    return ds_error_set(err, DS_E_ARG, "store: open needs a database path");
  *out = NULL;
  if (!sqlite3_threadsafe())
    return ds_error_set(err, DS_E_UNSUPPORTED, "store: this SQLite library was built without thread support");
  ds_store *store = calloc(1, sizeof *store);
  if (!store)
    return ds_error_set(err, DS_E_NOMEM, "store: out of memory");
  pthread_mutex_init(&store->lock, NULL);
  ds_status status = DS_OK;
  char value[32];
  /* the store's mutex serialises every use of the connection: SQLite's own is not needed */
  if (sqlite3_open_v2(db_path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    status = ds_error_set(err, DS_E_IO, "store: opening %s: %s", db_path,
                          store->db ? sqlite3_errmsg(store->db) : "out of memory");
    goto out;
  }
  sqlite3_busy_timeout(store->db, DS__BUSY_TIMEOUT_MS);
  status =
      query_value(store, "PRAGMA journal_mode = WAL", "switching to WAL", value, sizeof value, NULL, err);
  if (status == DS_OK && strcmp(value, "wal") != 0)
    status = ds_error_set(err, DS_E_IO,
                          "store: %s cannot use WAL (journal mode stays \"%s\"): keep the data "
                          "folder on a local file system",
                          db_path, value);
  if (status == DS_OK)
    status = exec_sql(store, "PRAGMA synchronous = NORMAL", "setting synchronous=NORMAL", err);
  if (status == DS_OK)
    status = exec_sql(store, "PRAGMA foreign_keys = ON", "enabling foreign keys", err);
  if (status == DS_OK)
    status =
        query_value(store, "PRAGMA foreign_keys", "reading foreign_keys", value, sizeof value, NULL, err);
  if (status == DS_OK && strcmp(value, "1") != 0)
    status = ds_error_set(err, DS_E_UNSUPPORTED, "store: this SQLite library does not enforce foreign keys");
  if (status == DS_OK)
    status = migrate(store, db_path, err);
out:
  if (status != DS_OK) {
    ds_store_close(store);
    return status;
  }
  *out = store;
  return DS_OK;
}

void ds_store_close(ds_store *store) {
  if (!store)
    return;
  for (size_t i = 0; i < S__COUNT; i++)
    sqlite3_finalize(store->stmts[i]);
  sqlite3_close(store->db);
  pthread_mutex_destroy(&store->lock);
  free(store);
}

/* ---- dumps ------------------------------------------------------------------------------------- */

#define DUMP_CAP(member) FIELD_CAP(ds_store_dump, member)

ds_status ds_store_dump_add(ds_store *store, const ds_store_dump *dump, bool *existed, ds_store_dump *out,
                            ds_error *err) {
  if (!store || !dump || !existed || !out)
    return ds_error_set(err, DS_E_ARG, "store: dump_add needs a store, a dump and outputs");
  if (!valid_sha256(dump->sha256) || !dump->path[0] || dump->size > INT64_MAX)
    return ds_error_set(err, DS_E_ARG,
                        "store: a dump needs a sha256 (64 lowercase hex digits), a path and a "
                        "size below 2^63");
  char id[17];
  memcpy(id, dump->sha256, 16);
  id[16] = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_DUMP_BY_SHA, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, dump->sha256, DUMP_CAP(sha256));
    status = one_row(store, S_DUMP_BY_SHA, st, read_dump, out, &found, err);
  }
  *existed = found;
  if (status == DS_OK && !found && (status = prep(store, S_DUMP_INSERT, &st, err)) == DS_OK) {
    bind_text(st, 1, id, sizeof id);
    bind_text(st, 2, dump->sha256, DUMP_CAP(sha256));
    sqlite3_bind_int64(st, 3, (sqlite3_int64)dump->size);
    bind_text(st, 4, dump->path, DUMP_CAP(path));
    bind_text(st, 5, dump->name, DUMP_CAP(name));
    bind_text(st, 6, dump->dump_kind[0] ? dump->dump_kind : "unknown", DUMP_CAP(dump_kind));
    sqlite3_bind_int64(st, 7, dump->created_ms > 0 ? dump->created_ms : now_ms());
    status = one_row(store, S_DUMP_INSERT, st, read_dump, out, &found, err);
  }
  return tx_end(store, status, err);
}

/* Reads dump `id` (in a transaction): DS_E_NOT_FOUND when there is none. */
static ds_status dump_read(ds_store *store, const char *id, ds_store_dump *out, ds_error *err) {
  sqlite3_stmt *st;
  bool found = false;
  ds_status status = prep(store, S_DUMP_GET, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, id, DS_STORE_ID_MAX);
    status = one_row(store, S_DUMP_GET, st, read_dump, out, &found, err);
  }
  return status == DS_OK && !found ? ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %s", id) : status;
}

ds_status ds_store_dump_get(ds_store *store, const char *id, ds_store_dump *out, ds_error *err) {
  if (!store || !out || !valid_id(id))
    return ds_error_set(err, DS_E_ARG, "store: a dump id is 1 to %d printable ASCII characters",
                        DS_STORE_ID_MAX - 1);
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_DUMP_GET, &st, err);
  if (status == DS_OK)
    status = dump_read(store, id, out, err);
  return tx_end(store, status, err);
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
  if ((after && !valid_id(after)) || limit > DS__LIST_MAX)
    return ds_error_set(err, DS_E_ARG, "a page cursor is a dump id, and a page holds at most %d dumps",
                        DS__LIST_MAX);
  ds_store_dump *page = NULL;
  size_t filled = 0, capacity = 0;
  int64_t matching = 0, cursor_created = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_DUMP_TOTAL, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, status_filter, DUMP_CAP(status));
    status = one_row(store, S_DUMP_TOTAL, st, read_int64, &matching, &found, err);
    capacity = (uint64_t)matching < limit ? (size_t)matching : limit;
  }
  if (status == DS_OK && after && (status = prep(store, S_DUMP_CURSOR, &st, err)) == DS_OK) {
    bind_text(st, 1, after, DS_STORE_ID_MAX);
    status = one_row(store, S_DUMP_CURSOR, st, read_int64, &cursor_created, &found, err);
    if (status == DS_OK && !found)
      status = ds_error_set(err, DS_E_NOT_FOUND, "page cursor: no dump with id %s", after);
  }
  if (status == DS_OK && capacity && !(page = calloc(capacity, sizeof *page)))
    status = ds_error_set(err, DS_E_NOMEM, "store: out of memory for %zu dumps", capacity);
  if (status == DS_OK && capacity && (status = prep(store, S_DUMP_PAGE, &st, err)) == DS_OK) {
    bind_text(st, 1, status_filter, DUMP_CAP(status));
    if (after) {
      sqlite3_bind_int64(st, 2, cursor_created);
      bind_text(st, 3, after, DS_STORE_ID_MAX);
    }
    sqlite3_bind_int64(st, 4, (sqlite3_int64)capacity);
    status = many_rows(store, S_DUMP_PAGE, st, read_dump, page, sizeof *page, capacity, &filled, err);
  }
  status = tx_end(store, status, err);
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
  if (!store || !valid_id(id) || !valid_dump_status(status_text))
    return ds_error_set(err, DS_E_ARG,
                        "store: set_status needs a store, a dump id and a status (queued, "
                        "analysing, ready, failed)");
  bool ready = strcmp(status_text, "ready") == 0;
  if (ready && !(isfinite(analysis_ms) && analysis_ms >= 0))
    return ds_error_set(err, DS_E_ARG, "store: analysis_ms must be a finite, non-negative duration");
  sqlite3_stmt *st;
  size_t changed = 0;
  ds_status status = tx_begin(store, true, S_DUMP_SET_STATUS, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, id, DS_STORE_ID_MAX);
    bind_text(st, 2, status_text, DUMP_CAP(status));
    bind_text(st, 3, error, DUMP_CAP(error));
    bind_text(st, 4, runtime_version, DUMP_CAP(runtime_version));
    bind_text(st, 5, gc_mode, DUMP_CAP(gc_mode));
    bind_text(st, 6, dump_kind, DUMP_CAP(dump_kind));
    sqlite3_bind_double(st, 7, ready ? analysis_ms : 0);
    sqlite3_bind_int64(st, 8, now_ms());
    status = run(store, S_DUMP_SET_STATUS, st, &changed, err);
  }
  if (status == DS_OK && changed == 0)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %s", id);
  return tx_end(store, status, err);
}

ds_status ds_store_dump_delete(ds_store *store, const char *id, ds_error *err) {
  if (!store || !valid_id(id))
    return ds_error_set(err, DS_E_ARG, "store: dump_delete needs a store and a dump id");
  sqlite3_stmt *st;
  size_t changed = 0;
  ds_status status = tx_begin(store, true, S_DUMP_DELETE_ARTIFACTS, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, id, DS_STORE_ID_MAX);
    status = run(store, S_DUMP_DELETE_ARTIFACTS, st, NULL, err);
  }
  if (status == DS_OK && (status = prep(store, S_DUMP_DELETE, &st, err)) == DS_OK) {
    bind_text(st, 1, id, DS_STORE_ID_MAX);
    status = run(store, S_DUMP_DELETE, st, &changed, err); /* its jobs go by ON DELETE CASCADE */
  }
  if (status == DS_OK && changed == 0)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %s", id);
  return tx_end(store, status, err);
}

/* ---- jobs -------------------------------------------------------------------------------------- */

ds_status ds_store_job_enqueue(ds_store *store, const char *dump_id, const char *kind, int64_t *job_id,
                               ds_error *err) {
  if (!store || !valid_id(dump_id) || !kind || !kind[0] || !job_id)
    return ds_error_set(err, DS_E_ARG, "store: job_enqueue needs a store, a dump id, a kind and an output");
  ds_store_dump dump;
  int64_t id = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_JOB_INSERT, &st, err);
  if (status == DS_OK)
    status = dump_read(store, dump_id, &dump, err);
  if (status == DS_OK) {
    bind_text(st, 1, dump_id, DS_STORE_ID_MAX);
    bind_text(st, 2, kind, FIELD_CAP(ds_store_job, kind));
    sqlite3_bind_int64(st, 3, now_ms());
    status = one_row(store, S_JOB_INSERT, st, read_int64, &id, &found, err);
  }
  if (status == DS_OK && (status = prep(store, S_DUMP_QUEUED, &st, err)) == DS_OK) {
    bind_text(st, 1, dump_id, DS_STORE_ID_MAX);
    sqlite3_bind_int64(st, 2, id);
    status = run(store, S_DUMP_QUEUED, st, NULL, err);
  }
  status = tx_end(store, status, err);
  *job_id = status == DS_OK ? id : 0;
  return status;
}

ds_status ds_store_job_get(ds_store *store, int64_t job_id, ds_store_job *out, ds_error *err) {
  if (!store || !out)
    return ds_error_set(err, DS_E_ARG, "store: job_get needs a store and an output");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_JOB_GET, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    status = one_row(store, S_JOB_GET, st, read_job, out, &found, err);
  }
  if (status == DS_OK && !found)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no job with id %lld", (long long)job_id);
  return tx_end(store, status, err);
}

ds_status ds_store_job_claim(ds_store *store, int64_t lease_ms, ds_store_job *out, bool *claimed,
                             ds_error *err) {
  if (!store || !out || !claimed || lease_ms <= 0 || lease_ms > DS__LEASE_MAX_MS)
    return ds_error_set(err, DS_E_ARG,
                        "store: job_claim needs a store, outputs and a lease of 1 ms to 7 days");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_JOB_CLAIM, &st, err);
  int64_t now = now_ms(); /* once the write lock is ours */
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, now + lease_ms);
    status = one_row(store, S_JOB_CLAIM, st, read_job, out, &found, err);
  }
  if (status == DS_OK && found && (status = prep(store, S_DUMP_ANALYSING, &st, err)) == DS_OK) {
    bind_text(st, 1, out->dump_id, DS_STORE_ID_MAX);
    status = run(store, S_DUMP_ANALYSING, st, NULL, err);
  }
  status = tx_end(store, status, err);
  *claimed = status == DS_OK && found;
  return status;
}

/* Runs a bound update of a running job (S_JOB_PROGRESS, _FINISH, _REQUEUE: RETURNING dump_id) in a
 * transaction. When it matched nothing, says why: no such job, or the job is not running. */
static ds_status update_running(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, int64_t job_id,
                                char dump_id[DS_STORE_ID_MAX], ds_error *err) {
  bool found = false;
  char state[DS_STORE_ID_MAX] = "";
  ds_status status = one_row(store, which, st, read_id, dump_id, &found, err);
  if (status != DS_OK || found)
    return status;
  if ((status = prep(store, S_JOB_STATE, &st, err)) != DS_OK)
    return status;
  sqlite3_bind_int64(st, 1, job_id);
  if ((status = one_row(store, S_JOB_STATE, st, read_id, state, &found, err)) != DS_OK)
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
  ds_status status = tx_begin(store, true, S_JOB_PROGRESS, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, worker_pid);
    bind_text(st, 3, phase, FIELD_CAP(ds_store_job, phase));
    sqlite3_bind_int(st, 4, percent);
    sqlite3_bind_int64(st, 5, now_ms() + lease_ms);
    status = update_running(store, S_JOB_PROGRESS, st, job_id, dump_id, err);
  }
  return tx_end(store, status, err);
}

ds_status ds_store_job_finish(ds_store *store, int64_t job_id, bool ok, const char *error, ds_error *err) {
  if (!store)
    return ds_error_set(err, DS_E_ARG, "store: job_finish needs a store");
  char dump_id[DS_STORE_ID_MAX];
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_JOB_FINISH, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, ok);
    bind_text(st, 3, error, FIELD_CAP(ds_store_job, error));
    sqlite3_bind_int64(st, 4, now_ms());
    status = update_running(store, S_JOB_FINISH, st, job_id, dump_id, err);
  }
  return tx_end(store, status, err);
}

ds_status ds_store_job_requeue(ds_store *store, int64_t job_id, ds_error *err) {
  if (!store)
    return ds_error_set(err, DS_E_ARG, "store: job_requeue needs a store");
  char dump_id[DS_STORE_ID_MAX];
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_JOB_REQUEUE, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, job_id);
    status = update_running(store, S_JOB_REQUEUE, st, job_id, dump_id, err);
  }
  if (status == DS_OK && (status = prep(store, S_DUMP_QUEUED, &st, err)) == DS_OK) {
    bind_text(st, 1, dump_id, DS_STORE_ID_MAX); /* ?2 NULL: last_job stays */
    status = run(store, S_DUMP_QUEUED, st, NULL, err);
  }
  return tx_end(store, status, err);
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
  ds_status status = tx_begin(store, true, steps[0], &st, err);
  int64_t now = now_ms(); /* once the write lock is ours */
  for (size_t i = 0; status == DS_OK && i < 4; i++) {
    if (i > 0 && (status = prep(store, steps[i], &st, err)) != DS_OK)
      break;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, all_running);
    sqlite3_bind_int(st, 3, max_attempts);
    if (sqlite3_bind_parameter_count(st) >= 4)
      sqlite3_bind_text(st, 4, DS__RECOVER_ERROR, -1, SQLITE_STATIC);
    status = run(store, steps[i], st, &changed[i], err);
  }
  status = tx_end(store, status, err);
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
  ds_status status = tx_begin(store, false, S_JOB_COUNTS, &st, err);
  if (status == DS_OK) /* size 0: every row (one per state) writes into the same counts */
    status = many_rows(store, S_JOB_COUNTS, st, read_count, counts, 0, 4, &rows, err);
  return tx_end(store, status, err);
}

/* ---- artifacts --------------------------------------------------------------------------------- */

/* Takes the lock, begins, prepares `which` and binds an artifact key as ?1..?3; tx_end must follow. */
static ds_status artifact_begin(ds_store *store, bool write, enum ds__stmt_id which, const char *sha256,
                                const char *kind, uint32_t format_version, sqlite3_stmt **st, ds_error *err) {
  ds_status status = tx_begin(store, write, which, st, err);
  if (status == DS_OK) {
    bind_text(*st, 1, sha256, FIELD_CAP(ds_store_artifact, sha256));
    bind_text(*st, 2, kind, FIELD_CAP(ds_store_artifact, kind));
    sqlite3_bind_int64(*st, 3, format_version);
  }
  return status;
}

static ds_status artifact_check(ds_store *store, const char *sha256, const char *kind, ds_error *err) {
  if (!store || !valid_sha256(sha256) || !kind || !kind[0])
    return ds_error_set(err, DS_E_ARG,
                        "store: an artifact key is a sha256 (64 lowercase hex digits) and a kind");
  return DS_OK;
}

static ds_status artifact_missing(const char *sha256, const char *kind, uint32_t format_version,
                                  ds_error *err) {
  return ds_error_set(err, DS_E_NOT_FOUND, "no %.16s artifact (format %u) for %s", kind,
                      (unsigned)format_version, sha256);
}

ds_status ds_store_artifact_put(ds_store *store, const ds_store_artifact *a, ds_error *err) {
  if (!a || artifact_check(store, a->sha256, a->kind, err) != DS_OK || !a->path[0] || a->size > INT64_MAX)
    return ds_error_set(err, DS_E_ARG, "store: an artifact needs a key, a path and a size below 2^63");
  sqlite3_stmt *st;
  ds_status status = artifact_begin(store, true, S_ART_PUT, a->sha256, a->kind, a->format_version, &st, err);
  if (status == DS_OK) {
    bind_text(st, 4, a->path, FIELD_CAP(ds_store_artifact, path));
    sqlite3_bind_int64(st, 5, (sqlite3_int64)a->size);
    sqlite3_bind_int64(st, 6, now_ms());
    status = run(store, S_ART_PUT, st, NULL, err);
  }
  return tx_end(store, status, err);
}

ds_status ds_store_artifact_get(ds_store *store, const char *sha256, const char *kind,
                                uint32_t format_version, ds_store_artifact *out, ds_error *err) {
  if (artifact_check(store, sha256, kind, err) != DS_OK || !out)
    return ds_error_set(err, DS_E_ARG, "store: artifact_get needs a store, a key and an output");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = artifact_begin(store, false, S_ART_GET, sha256, kind, format_version, &st, err);
  if (status == DS_OK)
    status = one_row(store, S_ART_GET, st, read_artifact, out, &found, err);
  if (status == DS_OK && !found)
    status = artifact_missing(sha256, kind, format_version, err);
  return tx_end(store, status, err);
}

/* Touch (?4 = now) and delete: one keyed write; DS_E_NOT_FOUND when it changed nothing. */
static ds_status artifact_write(ds_store *store, enum ds__stmt_id which, const char *sha256, const char *kind,
                                uint32_t format_version, ds_error *err) {
  if (artifact_check(store, sha256, kind, err) != DS_OK)
    return DS_E_ARG;
  size_t changed = 0;
  sqlite3_stmt *st;
  ds_status status = artifact_begin(store, true, which, sha256, kind, format_version, &st, err);
  if (status == DS_OK) {
    if (sqlite3_bind_parameter_count(st) >= 4)
      sqlite3_bind_int64(st, 4, now_ms());
    status = run(store, which, st, &changed, err);
  }
  if (status == DS_OK && changed == 0)
    status = artifact_missing(sha256, kind, format_version, err);
  return tx_end(store, status, err);
}

ds_status ds_store_artifact_touch(ds_store *store, const char *sha256, const char *kind,
                                  uint32_t format_version, ds_error *err) {
  return artifact_write(store, S_ART_TOUCH, sha256, kind, format_version, err);
}

ds_status ds_store_artifact_delete(ds_store *store, const char *sha256, const char *kind,
                                   uint32_t format_version, ds_error *err) {
  return artifact_write(store, S_ART_DELETE, sha256, kind, format_version, err);
}

static void read_summary(sqlite3_stmt *st, void *out) {
  ((int64_t *)out)[0] = sqlite3_column_int64(st, 0);
  ((int64_t *)out)[1] = sqlite3_column_int64(st, 1);
}

ds_status ds_store_artifact_lru(ds_store *store, ds_store_artifact **rows, size_t *count,
                                uint64_t *total_bytes, ds_error *err) {
  if (!store || !rows || !count || !total_bytes)
    return ds_error_set(err, DS_E_ARG, "store: artifact_lru needs a store and outputs");
  *rows = NULL;
  *count = 0;
  *total_bytes = 0;
  ds_store_artifact *list = NULL;
  int64_t summary[2] = {0, 0}; /* rows, bytes */
  size_t filled = 0;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_ART_SUMMARY, &st, err);
  if (status == DS_OK)
    status = one_row(store, S_ART_SUMMARY, st, read_summary, summary, &found, err);
  size_t capacity = (size_t)summary[0];
  if (status == DS_OK && capacity > DS__LRU_MAX)
    status = ds_error_set(err, DS_E_LIMIT, "store: %zu artifacts, more than the %d listed at once", capacity,
                          DS__LRU_MAX);
  if (status == DS_OK && capacity && !(list = calloc(capacity, sizeof *list)))
    status = ds_error_set(err, DS_E_NOMEM, "store: out of memory for %zu artifacts", capacity);
  if (status == DS_OK && capacity && (status = prep(store, S_ART_LRU, &st, err)) == DS_OK)
    status = many_rows(store, S_ART_LRU, st, read_artifact, list, sizeof *list, capacity, &filled, err);
  status = tx_end(store, status, err);
  if (status != DS_OK) {
    free(list);
    return status;
  }
  *rows = list;
  *count = filled;
  *total_bytes = (uint64_t)summary[1];
  return DS_OK;
}

/* ---- imports ---------------------------------------------------------------------------------- */

#define IMPORT_CAP(member) FIELD_CAP(ds_store_import, member)

static void read_import(sqlite3_stmt *st, void *row) {
  ds_store_import *out = row;
  memset(out, 0, sizeof *out);
  out->id = sqlite3_column_int64(st, 0);
  column_text(st, 1, out->url, sizeof out->url);
  column_text(st, 2, out->name, sizeof out->name);
  column_text(st, 3, out->state, sizeof out->state);
  out->bytes_total = (uint64_t)sqlite3_column_int64(st, 4);
  out->bytes_done = (uint64_t)sqlite3_column_int64(st, 5);
  column_text(st, 6, out->dump_id, sizeof out->dump_id);
  column_text(st, 7, out->error, sizeof out->error);
  out->attempts = sqlite3_column_int(st, 8);
  out->allow_private = sqlite3_column_int(st, 9) != 0;
  out->created_ms = sqlite3_column_int64(st, 10);
  out->started_ms = sqlite3_column_int64(st, 11);
  out->finished_ms = sqlite3_column_int64(st, 12);
}

static bool valid_import_state(const char *state) {
  static const char *const names[] = {"queued", "downloading", "ingesting", "done", "failed"};
  for (size_t i = 0; state && i < sizeof names / sizeof *names; i++)
    if (strcmp(state, names[i]) == 0)
      return true;
  return false;
}

/* Belt and braces for the callers' redaction: a URL that still carries a signature is never
 * written (design.md: SAS signatures never appear in the database). */
static bool holds_signature(const char *url) {
  for (const char *p = url; p && *p; p++)
    if (strncasecmp(p, "sig=", 4) == 0)
      return true;
  return false;
}

ds_status ds_store_import_add(ds_store *store, const char *url, const char *name, bool allow_private,
                              ds_store_import *out, ds_error *err) {
  if (!store || !url || !url[0] || !out || strnlen(url, DS_STORE_URL_MAX) >= DS_STORE_URL_MAX)
    return ds_error_set(err, DS_E_ARG, "store: an import needs a URL shorter than %d bytes", DS_STORE_URL_MAX);
  if (holds_signature(url))
    return ds_error_set(err, DS_E_ARG, "store: refusing to store an import URL that holds a signature");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_IMPORT_INSERT, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, url, IMPORT_CAP(url));
    bind_text(st, 2, name ? name : "", IMPORT_CAP(name));
    sqlite3_bind_int(st, 3, allow_private);
    sqlite3_bind_int64(st, 4, now_ms());
    status = one_row(store, S_IMPORT_INSERT, st, read_import, out, &found, err);
  }
  if (status == DS_OK && !found)
    status = ds_error_set(err, DS_E_IO, "store: inserting an import returned no row");
  return tx_end(store, status, err);
}

ds_status ds_store_import_get(ds_store *store, int64_t id, ds_store_import *out, ds_error *err) {
  if (!store || !out)
    return ds_error_set(err, DS_E_ARG, "store: import_get needs a store and an output");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_IMPORT_GET, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    status = one_row(store, S_IMPORT_GET, st, read_import, out, &found, err);
  }
  if (status == DS_OK && !found)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no import with id %lld", (long long)id);
  return tx_end(store, status, err);
}

ds_status ds_store_import_set_state(ds_store *store, int64_t id, const char *state, const char *error,
                                    const char *dump_id, ds_store_import *out, ds_error *err) {
  if (!store || !valid_import_state(state) || (dump_id && dump_id[0] && !valid_id(dump_id)))
    return ds_error_set(err, DS_E_ARG,
                        "store: import_set_state needs a state (queued, downloading, ingesting, done, failed) "
                        "and a valid dump id");
  if (holds_signature(error))
    return ds_error_set(err, DS_E_ARG, "store: refusing to store an import error that holds a signature");
  ds_store_import row;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_IMPORT_STATE, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, state, IMPORT_CAP(state));
    bind_text(st, 3, error, IMPORT_CAP(error));
    bind_text(st, 4, dump_id, IMPORT_CAP(dump_id));
    sqlite3_bind_int64(st, 5, now_ms());
    status = one_row(store, S_IMPORT_STATE, st, read_import, &row, &found, err);
  }
  if (status == DS_OK && !found && (status = prep(store, S_IMPORT_GET, &st, err)) == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    status = one_row(store, S_IMPORT_GET, st, read_import, &row, &found, err);
    if (status == DS_OK)
      status = found ? ds_error_set(err, DS_E_ARG, "store: import %lld is already %s", (long long)id, row.state)
                     : ds_error_set(err, DS_E_NOT_FOUND, "no import with id %lld", (long long)id);
  }
  status = tx_end(store, status, err);
  if (status == DS_OK && out)
    *out = row;
  return status;
}

ds_status ds_store_import_progress(ds_store *store, int64_t id, uint64_t bytes_done, uint64_t bytes_total,
                                   ds_error *err) {
  if (!store || bytes_done > INT64_MAX || bytes_total > INT64_MAX)
    return ds_error_set(err, DS_E_ARG, "store: import_progress needs a store and sizes below 2^63");
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_IMPORT_PROGRESS, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)bytes_done);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)bytes_total);
    status = run(store, S_IMPORT_PROGRESS, st, NULL, err);
  }
  return tx_end(store, status, err);
}

ds_status ds_store_import_list(ds_store *store, const char *state, size_t limit, ds_store_import **rows,
                               size_t *count, ds_error *err) {
  if (!store || !rows || !count || limit > DS_STORE_IMPORTS_MAX || (state && !valid_import_state(state)))
    return ds_error_set(err, DS_E_ARG, "store: import_list needs a store, outputs, a known state and a limit of at "
                        "most %d", DS_STORE_IMPORTS_MAX);
  *rows = NULL;
  *count = 0;
  if (limit == 0)
    return DS_OK;
  ds_store_import *list = calloc(limit, sizeof *list);
  if (!list)
    return ds_error_set(err, DS_E_NOMEM, "store: out of memory listing imports");
  size_t filled = 0;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_IMPORT_UNFINISHED, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    bind_text(st, 2, state, IMPORT_CAP(state));
    status = many_rows(store, S_IMPORT_UNFINISHED, st, read_import, list, sizeof *list, limit, &filled, err);
  }
  status = tx_end(store, status, err);
  if (status != DS_OK || filled == 0) {
    free(list);
    return status;
  }
  *rows = list;
  *count = filled;
  return DS_OK;
}

/* ---- tokens ------------------------------------------------------------------------------------ */

const char *ds_role_name(ds_role role) {
  switch (role) {
  case DS_ROLE_READER:
    return "reader";
  case DS_ROLE_UPLOADER:
    return "uploader";
  case DS_ROLE_ADMIN:
    return "admin";
  case DS_ROLE_NONE:
    break;
  }
  return "none";
}

ds_role ds_role_parse(const char *text) {
  for (int role = DS_ROLE_READER; text && role <= DS_ROLE_ADMIN; role++)
    if (strcmp(text, ds_role_name((ds_role)role)) == 0)
      return (ds_role)role;
  return DS_ROLE_NONE;
}

static void hex(const unsigned char *bytes, size_t len, char *out) {
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = DS__HEX[bytes[i] >> 4];
    out[2 * i + 1] = DS__HEX[bytes[i] & 15];
  }
  out[2 * len] = 0;
}

void ds_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32)
    hex(md, 32, out);
  else
    out[0] = 0; /* matches no stored hash */
}

ds_status ds_store_token_create(ds_store *store, ds_role role, const char *name, char *token_out,
                                size_t token_len, ds_error *err) {
  if (!store || !token_out || token_len < DS__TOKEN_TEXT_LEN + 1 || role < DS_ROLE_READER ||
      role > DS_ROLE_ADMIN)
    return ds_error_set(err, DS_E_ARG,
                        "store: token_create needs a store, a role (reader, uploader, admin) and "
                        "%d bytes for the token",
                        DS__TOKEN_TEXT_LEN + 1);
  token_out[0] = 0;
  unsigned char random[DS__TOKEN_BYTES];
  for (size_t got = 0; got < sizeof random;) {
    ssize_t n = getrandom(random + got, sizeof random - got, 0);
    if (n < 0 && errno != EINTR)
      return ds_error_set(err, DS_E_IO, "store: getrandom: %s", strerror(errno));
    got += n > 0 ? (size_t)n : 0;
  }
  char token[DS__TOKEN_TEXT_LEN + 1], hash[65];
  memcpy(token, "dst_", 4);
  hex(random, sizeof random, token + 4);
  OPENSSL_cleanse(random, sizeof random);
  ds_sha256_hex(token, DS__TOKEN_TEXT_LEN, hash);
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, true, S_TOKEN_INSERT, &st, err);
  if (status == DS_OK) {
    bind_text(st, 1, hash, sizeof hash);
    sqlite3_bind_int(st, 2, (int)role);
    bind_text(st, 3, name ? name : "", DS_STORE_TEXT_MAX);
    sqlite3_bind_int64(st, 4, now_ms());
    status = run(store, S_TOKEN_INSERT, st, NULL, err);
  }
  if ((status = tx_end(store, status, err)) == DS_OK)
    memcpy(token_out, token, sizeof token);
  OPENSSL_cleanse(token, sizeof token);
  return status;
}

struct token_match {
  const char *hash; /* of the presented token */
  ds_role role;     /* the matching row's, or DS_ROLE_NONE */
};

/* Compares one stored token hash with the presented one's, in constant time; keeps the role on a
 * match. Every row is compared: neither timing nor position says which one matched. */
static void match_token(sqlite3_stmt *st, void *state) {
  struct token_match *match = state;
  const void *stored = sqlite3_column_text(st, 0);
  int stored_role = sqlite3_column_int(st, 1);
  if (stored && sqlite3_column_bytes(st, 0) == 64 && CRYPTO_memcmp(stored, match->hash, 64) == 0 &&
      stored_role >= DS_ROLE_READER && stored_role <= DS_ROLE_ADMIN)
    match->role = (ds_role)stored_role;
}

ds_role ds_store_token_role(ds_store *store, const char *token) {
  char hash[65];
  if (!store || !token || strnlen(token, DS__TOKEN_TEXT_LEN + 1) != DS__TOKEN_TEXT_LEN ||
      memcmp(token, "dst_", 4) != 0)
    return DS_ROLE_NONE;
  ds_sha256_hex(token, DS__TOKEN_TEXT_LEN, hash);
  struct token_match match = {hash, DS_ROLE_NONE};
  size_t rows = 0;
  ds_error ignored;
  sqlite3_stmt *st;
  ds_status status = tx_begin(store, false, S_TOKEN_ALL, &st, &ignored);
  if (status == DS_OK && hash[0]) /* size 0: every row goes to the same matcher */
    status = many_rows(store, S_TOKEN_ALL, st, match_token, &match, 0, SIZE_MAX, &rows, &ignored);
  status = tx_end(store, status, &ignored);
  return status == DS_OK ? match.role : DS_ROLE_NONE;
}
