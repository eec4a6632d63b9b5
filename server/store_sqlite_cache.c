/*
 * store_sqlite_cache.c: the tables beside the dumps (store.h): the artifact cache, URL imports and
 * API tokens, on the connection of store_sqlite.c (store_sqliteint.h).
 *
 * Decisions the header leaves open:
 *   - artifact touch and delete of an absent row are DS_E_NOT_FOUND; list functions return *rows
 *     NULL when there are none.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "store_sqliteint.h"

#define DS__LRU_MAX 100000 /* artifacts listed at once */
#define DS__TOKEN_BYTES 32
#define DS__TOKEN_TEXT_LEN (4 + 2 * DS__TOKEN_BYTES) /* "dst_" + hex, without the NUL */

/* ---- artifacts --------------------------------------------------------------------------------- */

static void read_artifact(sqlite3_stmt *st, void *row) {
  ds_store_artifact *out = row;
  memset(out, 0, sizeof *out);
  ds__store_column_text(st, 0, out->sha256, sizeof out->sha256);
  ds__store_column_text(st, 1, out->kind, sizeof out->kind);
  out->format_version = (uint32_t)sqlite3_column_int64(st, 2);
  ds__store_column_text(st, 3, out->path, sizeof out->path);
  out->size = (uint64_t)sqlite3_column_int64(st, 4);
  out->created_ms = sqlite3_column_int64(st, 5);
  out->last_access_ms = sqlite3_column_int64(st, 6);
}

/* Takes the lock, begins, prepares `which` and binds an artifact key as ?1..?3; tx_end must follow. */
static ds_status artifact_begin(ds_store *store, bool write, enum ds__stmt_id which, const char *sha256,
                                const char *kind, uint32_t format_version, sqlite3_stmt **st, ds_error *err) {
  ds_status status = ds__store_tx_begin(store, write, which, st, err);
  if (status == DS_OK) {
    ds__store_bind_text(*st, 1, sha256, FIELD_CAP(ds_store_artifact, sha256));
    ds__store_bind_text(*st, 2, kind, FIELD_CAP(ds_store_artifact, kind));
    sqlite3_bind_int64(*st, 3, format_version);
  }
  return status;
}

static ds_status artifact_check(ds_store *store, const char *sha256, const char *kind, ds_error *err) {
  if (!store || !ds__store_valid_sha256(sha256) || !kind || !kind[0])
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
    ds__store_bind_text(st, 4, a->path, FIELD_CAP(ds_store_artifact, path));
    sqlite3_bind_int64(st, 5, (sqlite3_int64)a->size);
    sqlite3_bind_int64(st, 6, ds__store_now_ms());
    status = ds__store_run(store, S_ART_PUT, st, NULL, err);
  }
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_artifact_get(ds_store *store, const char *sha256, const char *kind,
                                uint32_t format_version, ds_store_artifact *out, ds_error *err) {
  if (artifact_check(store, sha256, kind, err) != DS_OK || !out)
    return ds_error_set(err, DS_E_ARG, "store: artifact_get needs a store, a key and an output");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = artifact_begin(store, false, S_ART_GET, sha256, kind, format_version, &st, err);
  if (status == DS_OK)
    status = ds__store_one_row(store, S_ART_GET, st, read_artifact, out, &found, err);
  if (status == DS_OK && !found)
    status = artifact_missing(sha256, kind, format_version, err);
  return ds__store_tx_end(store, status, err);
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
      sqlite3_bind_int64(st, 4, ds__store_now_ms());
    status = ds__store_run(store, which, st, &changed, err);
  }
  if (status == DS_OK && changed == 0)
    status = artifact_missing(sha256, kind, format_version, err);
  return ds__store_tx_end(store, status, err);
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
  ds_status status = ds__store_tx_begin(store, false, S_ART_SUMMARY, &st, err);
  if (status == DS_OK)
    status = ds__store_one_row(store, S_ART_SUMMARY, st, read_summary, summary, &found, err);
  size_t capacity = (size_t)summary[0];
  if (status == DS_OK && capacity > DS__LRU_MAX)
    status = ds_error_set(err, DS_E_LIMIT, "store: %zu artifacts, more than the %d listed at once", capacity,
                          DS__LRU_MAX);
  if (status == DS_OK && capacity && !(list = calloc(capacity, sizeof *list)))
    status = ds_error_set(err, DS_E_NOMEM, "store: out of memory for %zu artifacts", capacity);
  if (status == DS_OK && capacity && (status = ds__store_prep(store, S_ART_LRU, &st, err)) == DS_OK)
    status =
        ds__store_many_rows(store, S_ART_LRU, st, read_artifact, list, sizeof *list, capacity, &filled, err);
  status = ds__store_tx_end(store, status, err);
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
  ds__store_column_text(st, 1, out->url, sizeof out->url);
  ds__store_column_text(st, 2, out->name, sizeof out->name);
  ds__store_column_text(st, 3, out->state, sizeof out->state);
  out->bytes_total = (uint64_t)sqlite3_column_int64(st, 4);
  out->bytes_done = (uint64_t)sqlite3_column_int64(st, 5);
  ds__store_column_text(st, 6, out->dump_id, sizeof out->dump_id);
  ds__store_column_text(st, 7, out->error, sizeof out->error);
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
  ds_status status = ds__store_tx_begin(store, true, S_IMPORT_INSERT, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, url, IMPORT_CAP(url));
    ds__store_bind_text(st, 2, name ? name : "", IMPORT_CAP(name));
    sqlite3_bind_int(st, 3, allow_private);
    sqlite3_bind_int64(st, 4, ds__store_now_ms());
    status = ds__store_one_row(store, S_IMPORT_INSERT, st, read_import, out, &found, err);
  }
  if (status == DS_OK && !found)
    status = ds_error_set(err, DS_E_IO, "store: inserting an import returned no row");
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_import_get(ds_store *store, int64_t id, ds_store_import *out, ds_error *err) {
  if (!store || !out)
    return ds_error_set(err, DS_E_ARG, "store: import_get needs a store and an output");
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, false, S_IMPORT_GET, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    status = ds__store_one_row(store, S_IMPORT_GET, st, read_import, out, &found, err);
  }
  if (status == DS_OK && !found)
    status = ds_error_set(err, DS_E_NOT_FOUND, "no import with id %lld", (long long)id);
  return ds__store_tx_end(store, status, err);
}

ds_status ds_store_import_set_state(ds_store *store, int64_t id, const char *state, const char *error,
                                    const char *dump_id, ds_store_import *out, ds_error *err) {
  if (!store || !valid_import_state(state) || (dump_id && dump_id[0] && !ds__store_valid_id(dump_id)))
    return ds_error_set(err, DS_E_ARG,
                        "store: import_set_state needs a state (queued, downloading, ingesting, done, failed) "
                        "and a valid dump id");
  if (holds_signature(error))
    return ds_error_set(err, DS_E_ARG, "store: refusing to store an import error that holds a signature");
  ds_store_import row;
  bool found = false;
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_IMPORT_STATE, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    ds__store_bind_text(st, 2, state, IMPORT_CAP(state));
    ds__store_bind_text(st, 3, error, IMPORT_CAP(error));
    ds__store_bind_text(st, 4, dump_id, IMPORT_CAP(dump_id));
    sqlite3_bind_int64(st, 5, ds__store_now_ms());
    status = ds__store_one_row(store, S_IMPORT_STATE, st, read_import, &row, &found, err);
  }
  if (status == DS_OK && !found && (status = ds__store_prep(store, S_IMPORT_GET, &st, err)) == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    status = ds__store_one_row(store, S_IMPORT_GET, st, read_import, &row, &found, err);
    if (status == DS_OK)
      status = found ? ds_error_set(err, DS_E_ARG, "store: import %lld is already %s", (long long)id, row.state)
                     : ds_error_set(err, DS_E_NOT_FOUND, "no import with id %lld", (long long)id);
  }
  status = ds__store_tx_end(store, status, err);
  if (status == DS_OK && out)
    *out = row;
  return status;
}

ds_status ds_store_import_progress(ds_store *store, int64_t id, uint64_t bytes_done, uint64_t bytes_total,
                                   ds_error *err) {
  if (!store || bytes_done > INT64_MAX || bytes_total > INT64_MAX)
    return ds_error_set(err, DS_E_ARG, "store: import_progress needs a store and sizes below 2^63");
  sqlite3_stmt *st;
  ds_status status = ds__store_tx_begin(store, true, S_IMPORT_PROGRESS, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)bytes_done);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)bytes_total);
    status = ds__store_run(store, S_IMPORT_PROGRESS, st, NULL, err);
  }
  return ds__store_tx_end(store, status, err);
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
  ds_status status = ds__store_tx_begin(store, false, S_IMPORT_UNFINISHED, &st, err);
  if (status == DS_OK) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    ds__store_bind_text(st, 2, state, IMPORT_CAP(state));
    status = ds__store_many_rows(store, S_IMPORT_UNFINISHED, st, read_import, list, sizeof *list, limit,
                                 &filled, err);
  }
  status = ds__store_tx_end(store, status, err);
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
  ds_status status = ds__store_tx_begin(store, true, S_TOKEN_INSERT, &st, err);
  if (status == DS_OK) {
    ds__store_bind_text(st, 1, hash, sizeof hash);
    sqlite3_bind_int(st, 2, (int)role);
    ds__store_bind_text(st, 3, name ? name : "", DS_STORE_TEXT_MAX);
    sqlite3_bind_int64(st, 4, ds__store_now_ms());
    status = ds__store_run(store, S_TOKEN_INSERT, st, NULL, err);
  }
  if ((status = ds__store_tx_end(store, status, err)) == DS_OK)
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
  ds_status status = ds__store_tx_begin(store, false, S_TOKEN_ALL, &st, &ignored);
  if (status == DS_OK && hash[0]) /* size 0: every row goes to the same matcher */
    status = ds__store_many_rows(store, S_TOKEN_ALL, st, match_token, &match, 0, SIZE_MAX, &rows, &ignored);
  status = ds__store_tx_end(store, status, &ignored);
  return status == DS_OK ? match.role : DS_ROLE_NONE;
}
