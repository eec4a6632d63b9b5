/*
 * store_sqliteint.h: what the parts of the SQLite store share, and nothing else. Included by
 * store_sqlite.c (the connection: open, migrations, transactions, statement and row helpers),
 * store_sqlite_dumps.c (dumps and their analysis jobs) and store_sqlite_cache.c (artifacts, URL
 * imports, API tokens) alone; everyone else sees the store through store.h.
 *
 * struct ds_store stays private to store_sqlite.c: the other parts reach the connection only
 * through these helpers. Each public function in a part takes the lock with ds__store_tx_begin and
 * gives it back with ds__store_tx_end, whatever happened in between.
 */
#ifndef DUMPSCOPE_SERVER_STORE_SQLITEINT_H
#define DUMPSCOPE_SERVER_STORE_SQLITEINT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_sqlite_sql.h"

#define FIELD_CAP(type, member) sizeof(((type *)0)->member)

static const char DS__HEX[] = "0123456789abcdef";

/* Copies the current row of st into out (a row struct, or an accumulator). */
typedef void row_reader(sqlite3_stmt *st, void *out);

/* Wall-clock milliseconds since the epoch: what every *_ms column holds. */
int64_t ds__store_now_ms(void);

/* Binding and reading text, truncated to the field it comes from or goes to (see store_sqlite.c). */
void ds__store_bind_text(sqlite3_stmt *st, int index, const char *text, size_t cap);
void ds__store_column_text(sqlite3_stmt *st, int col, char *dst, size_t cap);

/* Checks of caller input: a dump id (printable ASCII, 1..DS_STORE_ID_MAX-1 bytes), a lowercase sha256. */
bool ds__store_valid_id(const char *id);
bool ds__store_valid_sha256(const char *hex);

/* Statements and transactions: see their definitions in store_sqlite.c. */
ds_status ds__store_prep(ds_store *store, enum ds__stmt_id which, sqlite3_stmt **st, ds_error *err);
ds_status ds__store_tx_begin(ds_store *store, bool write, enum ds__stmt_id first, sqlite3_stmt **st,
                             ds_error *err);
ds_status ds__store_tx_end(ds_store *store, ds_status status, ds_error *err);
ds_status ds__store_run(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, size_t *changes,
                        ds_error *err);
ds_status ds__store_one_row(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, row_reader *read,
                            void *out, bool *found, ds_error *err);
ds_status ds__store_many_rows(ds_store *store, enum ds__stmt_id which, sqlite3_stmt *st, row_reader *read,
                              void *rows, size_t size, size_t capacity, size_t *filled, ds_error *err);

#endif
