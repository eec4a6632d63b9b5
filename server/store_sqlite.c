/*
 * store_sqlite.c: the store (store.h) on one SQLite database in WAL mode: the connection, its
 * migrations, and the transaction and statement helpers the other parts use (store_sqliteint.h).
 * The tables live in store_sqlite_dumps.c (dumps, jobs) and store_sqlite_cache.c (artifacts,
 * imports, tokens).
 *
 * One connection, guarded by one mutex: every public function holds it for its whole transaction,
 * so transactions of different threads never interleave. Statements are constant strings, prepared
 * once (lazily) and kept; values are always bound, never spliced into SQL. Every write transaction
 * begins with BEGIN IMMEDIATE: it takes the write lock before reading anything, so it cannot fail
 * half-way with SQLITE_BUSY_SNAPSHOT.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_sqliteint.h"

#define DS__BUSY_TIMEOUT_MS 5000

struct ds_store {
  sqlite3 *db;
  pthread_mutex_t lock;
  sqlite3_stmt *stmts[S__COUNT];
};

/* ---- helpers ----------------------------------------------------------------------------------- */

int64_t ds__store_now_ms(void) {
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
void ds__store_bind_text(sqlite3_stmt *st, int index, const char *text, size_t cap) {
  if (!text)
    sqlite3_bind_null(st, index);
  else
    sqlite3_bind_text(st, index, text, (int)bounded_len(text, strnlen(text, cap), cap), SQLITE_TRANSIENT);
}

/* Copies a text column into a field of cap bytes: truncated, always NUL-terminated. */
void ds__store_column_text(sqlite3_stmt *st, int col, char *dst, size_t cap) {
  const char *text = (const char *)sqlite3_column_text(st, col);
  size_t len = text ? bounded_len(text, (size_t)sqlite3_column_bytes(st, col), cap) : 0;
  if (len)
    memcpy(dst, text, len);
  dst[len] = 0;
}

bool ds__store_valid_id(const char *id) {
  size_t len = id ? strnlen(id, DS_STORE_ID_MAX) : 0;
  for (size_t i = 0; i < len; i++)
    if (id[i] <= 0x20 || id[i] >= 0x7f)
      return false;
  return len > 0 && len < DS_STORE_ID_MAX;
}

bool ds__store_valid_sha256(const char *hex) {
  if (!hex || strnlen(hex, 65) != 64)
    return false;
  for (size_t i = 0; i < 64; i++)
    if (!strchr(DS__HEX, hex[i]))
      return false;
  return true;
}

static ds_status db_error(ds_store *store, const char *purpose, ds_error *err) {
  return ds_error_set(err, DS_E_IO, "store: %s: %s", purpose, sqlite3_errmsg(store->db));
}

/* Executes constant SQL (transaction control, schema), never text that came from input. */
static ds_status exec_sql(ds_store *store, const char *sql, const char *purpose, ds_error *err) {
  return sqlite3_exec(store->db, sql, NULL, NULL, NULL) == SQLITE_OK ? DS_OK : db_error(store, purpose, err);
}

/* *st = statement `which`, prepared on first use, reset and with no bindings left from its last use. */
ds_status ds__store_prep(ds_store *store, enum ds__stmt_id which, sqlite3_stmt **st, ds_error *err) {
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
ds_status ds__store_tx_begin(ds_store *store, bool write, enum ds__stmt_id first, sqlite3_stmt **st,
                             ds_error *err) {
  pthread_mutex_lock(&store->lock);
  *st = NULL;
  ds_status status = exec_sql(store, write ? "BEGIN IMMEDIATE" : "BEGIN", "starting a transaction", err);
  return status == DS_OK ? ds__store_prep(store, first, st, err) : status;
}

/* Commits when status is DS_OK, else rolls back; releases the lock. Returns the final status. */
ds_status ds__store_tx_end(ds_store *store, ds_status status, ds_error *err) {
  if (status == DS_OK)
    status = exec_sql(store, "COMMIT", "committing", err);
  if (status != DS_OK && !sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_unlock(&store->lock);
  return status;
}

/* Runs a bound statement to completion and resets it; *changes (if given) gets the rows it changed. */
ds_status ds__store_run(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, size_t *changes,
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

/* Runs a bound statement that yields at most one row (a SELECT by key, or a write with RETURNING):
 * *found says whether it did, and read copied it into out. Resets the statement. */
ds_status ds__store_one_row(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, row_reader *read,
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
ds_status ds__store_many_rows(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, row_reader *read,
                              void *rows, size_t size, size_t capacity, size_t *filled, ds_error *err) {
  int rc = SQLITE_DONE;
  *filled = 0;
  while (*filled < capacity && (rc = sqlite3_step(st)) == SQLITE_ROW)
    read(st, (char *)rows + size * (*filled)++);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? DS_OK : db_error(store, ds__stmts[which].purpose, err);
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
    ds__store_column_text(st, 0, text, cap);
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
