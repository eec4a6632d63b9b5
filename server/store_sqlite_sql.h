/*
 * store_sqlite_sql.h: the SQL of the store (store_sqlite*.c) and nothing else: the numbered schema
 * migrations and every statement the store runs, each with the purpose its error messages name.
 * Included by store_sqliteint.h alone. Every statement is constant text; values are bound as ?N
 * parameters.
 */
#ifndef DUMPSCOPE_SERVER_STORE_SQLITE_SQL_H
#define DUMPSCOPE_SERVER_STORE_SQLITE_SQL_H

/* clang-format off: SQL laid out for reading */

/* ---- schema ------------------------------------------------------------------------------------ */

/* Migration i (0-based) takes the schema from version i to i+1, recorded in schema_version.
 * Append new ones; never edit one that has shipped. */
static const char *const ds__migrations[] = {
    /* 1: dumps, jobs, artifacts, tokens */
    "CREATE TABLE dumps ("
    "  id              TEXT PRIMARY KEY,"              /* first 16 hex digits of sha256 */
    "  sha256          TEXT NOT NULL UNIQUE,"
    "  size            INTEGER NOT NULL,"
    "  path            TEXT NOT NULL,"
    "  name            TEXT NOT NULL DEFAULT '',"
    "  status          TEXT NOT NULL CHECK (status IN ('queued', 'analysing', 'ready', 'failed')),"
    "  runtime_version TEXT NOT NULL DEFAULT '',"
    "  gc_mode         TEXT NOT NULL DEFAULT '',"
    "  dump_kind       TEXT NOT NULL DEFAULT 'unknown',"
    "  error           TEXT NOT NULL DEFAULT '',"
    "  last_job        INTEGER NOT NULL DEFAULT 0,"
    "  created_ms      INTEGER NOT NULL,"
    "  analysed_ms     INTEGER NOT NULL DEFAULT 0,"
    "  analysis_ms     REAL NOT NULL DEFAULT 0);"
    "CREATE INDEX dumps_by_created ON dumps (created_ms, id);"
    "CREATE INDEX dumps_by_status_created ON dumps (status, created_ms, id);"
    "CREATE TABLE jobs ("
    "  id               INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  dump_id          TEXT NOT NULL REFERENCES dumps (id) ON DELETE CASCADE,"
    "  kind             TEXT NOT NULL,"
    "  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    "  attempts         INTEGER NOT NULL DEFAULT 0,"
    "  lease_expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  worker_pid       INTEGER NOT NULL DEFAULT 0,"
    "  phase            TEXT NOT NULL DEFAULT '',"
    "  percent          INTEGER NOT NULL DEFAULT 0,"
    "  error            TEXT NOT NULL DEFAULT '',"
    "  created_ms       INTEGER NOT NULL,"
    "  started_ms       INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms      INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_by_state_created ON jobs (state, created_ms, id);"   /* the claim */
    "CREATE INDEX jobs_by_dump ON jobs (dump_id);"                          /* the cascade */
    "CREATE TABLE artifacts ("
    "  sha256         TEXT NOT NULL,"
    "  kind           TEXT NOT NULL,"
    "  format_version INTEGER NOT NULL,"
    "  path           TEXT NOT NULL,"
    "  size           INTEGER NOT NULL,"
    "  created_ms     INTEGER NOT NULL,"
    "  last_access_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (sha256, kind, format_version)) WITHOUT ROWID;"
    "CREATE INDEX artifacts_by_access ON artifacts (last_access_ms);"
    "CREATE TABLE tokens ("
    "  id         INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  hash       TEXT NOT NULL UNIQUE,"                /* sha256 hex of the token; never the token */
    "  role       INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
    "  name       TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL);",
    /* 2: imports (downloads of dumps from URLs); url is redacted: never a signature or query */
    "CREATE TABLE imports ("
    "  id            INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  url           TEXT NOT NULL,"
    "  name          TEXT NOT NULL DEFAULT '',"
    "  state         TEXT NOT NULL CHECK (state IN ('queued', 'downloading', 'ingesting', 'done', 'failed')),"
    "  bytes_total   INTEGER NOT NULL DEFAULT 0,"
    "  bytes_done    INTEGER NOT NULL DEFAULT 0,"
    "  dump_id       TEXT NOT NULL DEFAULT '',"       /* the stored dump once done (no cascade: */
    "  error         TEXT NOT NULL DEFAULT '',"       /* an import's record outlives its dump) */
    "  attempts      INTEGER NOT NULL DEFAULT 0,"     /* download processes started */
    "  allow_private INTEGER NOT NULL DEFAULT 0,"     /* host listed explicitly: private addresses allowed */
    "  created_ms    INTEGER NOT NULL,"
    "  started_ms    INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms   INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX imports_by_state ON imports (state, id);",
};
#define DS__SCHEMA_VERSION ((int64_t)(sizeof ds__migrations / sizeof ds__migrations[0]))

#define DS__SQL_SCHEMA_VERSION_TABLE \
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"
#define DS__SQL_SCHEMA_VERSION "SELECT coalesce(max(version), 0) FROM schema_version"
/* records the migration just applied (the next version), at the current time in ms */
#define DS__SQL_RECORD_MIGRATION \
    "INSERT INTO schema_version (version, applied_ms) SELECT coalesce(max(version), 0) + 1, " \
    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM schema_version"

/* ---- statements -------------------------------------------------------------------------------- */

#define DUMP_COLS "id, sha256, size, path, name, status, runtime_version, gc_mode, dump_kind, error, " \
                  "last_job, created_ms, analysed_ms, analysis_ms"
#define JOB_COLS "id, dump_id, kind, state, attempts, lease_expires_ms, worker_pid, phase, percent, " \
                 "error, created_ms, started_ms, finished_ms"
#define ART_COLS "sha256, kind, format_version, path, size, created_ms, last_access_ms"
#define IMPORT_COLS "id, url, name, state, bytes_total, bytes_done, dump_id, error, attempts, allow_private, " \
                    "created_ms, started_ms, finished_ms"
#define ART_KEY "sha256 = ?1 AND kind = ?2 AND format_version = ?3"
/* running jobs that recovery takes back (?1 now, ?2 all_running, j the job) */
#define RECOVERABLE "j.state = 'running' AND (?2 OR j.lease_expires_ms <= ?1)"

enum ds__stmt_id {
  S_DUMP_INSERT, S_DUMP_BY_SHA, S_DUMP_GET, S_DUMP_CURSOR, S_DUMP_PAGE, S_DUMP_TOTAL, S_DUMP_SET_STATUS,
  S_DUMP_DELETE_ARTIFACTS, S_DUMP_DELETE, S_DUMP_QUEUED, S_DUMP_ANALYSING,
  S_JOB_INSERT, S_JOB_GET, S_JOB_STATE, S_JOB_CLAIM, S_JOB_PROGRESS, S_JOB_FINISH, S_JOB_REQUEUE,
  S_RECOVER_DUMPS_FAIL, S_RECOVER_DUMPS_QUEUE, S_RECOVER_JOBS_FAIL, S_RECOVER_JOBS_QUEUE, S_JOB_COUNTS,
  S_ART_PUT, S_ART_GET, S_ART_TOUCH, S_ART_DELETE, S_ART_SUMMARY, S_ART_LRU,
  S_TOKEN_INSERT, S_TOKEN_ALL,
  S_IMPORT_INSERT, S_IMPORT_GET, S_IMPORT_STATE, S_IMPORT_PROGRESS, S_IMPORT_UNFINISHED,
  S__COUNT
};

/* What each statement is for (error messages name it) and its text. */
static const struct {
  const char *purpose, *sql;
} ds__stmts[S__COUNT] = {
    [S_DUMP_INSERT] = {"inserting a dump",
        "INSERT INTO dumps (id, sha256, size, path, name, status, dump_kind, created_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7) RETURNING " DUMP_COLS},
    [S_DUMP_BY_SHA] = {"reading a dump by sha256",
        "SELECT " DUMP_COLS " FROM dumps WHERE sha256 = ?1"},
    [S_DUMP_GET] = {"reading a dump",
        "SELECT " DUMP_COLS " FROM dumps WHERE id = ?1"},
    [S_DUMP_CURSOR] = {"reading the page cursor",
        "SELECT created_ms FROM dumps WHERE id = ?1"},
    [S_DUMP_PAGE] = {"listing dumps",
        "SELECT " DUMP_COLS " FROM dumps "
        "WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR (created_ms, id) < (?2, ?3)) "
        "ORDER BY created_ms DESC, id DESC LIMIT ?4"},
    [S_DUMP_TOTAL] = {"counting dumps",
        "SELECT count(*) FROM dumps WHERE (?1 IS NULL OR status = ?1)"},
    [S_DUMP_SET_STATUS] = {"setting a dump's status",
        "UPDATE dumps SET status = ?2, "
        "  error = CASE WHEN ?3 IS NOT NULL THEN ?3 WHEN ?2 = 'failed' THEN error ELSE '' END, "
        "  runtime_version = coalesce(?4, runtime_version), "
        "  gc_mode = coalesce(?5, gc_mode), "
        "  dump_kind = coalesce(?6, dump_kind), "
        "  analysis_ms = CASE WHEN ?2 = 'ready' THEN ?7 ELSE analysis_ms END, "
        "  analysed_ms = CASE WHEN ?2 IN ('ready', 'failed') THEN ?8 ELSE analysed_ms END "
        "WHERE id = ?1"},
    [S_DUMP_DELETE_ARTIFACTS] = {"deleting a dump's artifacts",
        "DELETE FROM artifacts WHERE sha256 = (SELECT sha256 FROM dumps WHERE id = ?1)"},
    [S_DUMP_DELETE] = {"deleting a dump",
        "DELETE FROM dumps WHERE id = ?1"},
    [S_DUMP_QUEUED] = {"marking a dump queued",
        "UPDATE dumps SET status = 'queued', error = '', last_job = coalesce(?2, last_job) WHERE id = ?1"},
    [S_DUMP_ANALYSING] = {"marking a dump analysing",
        "UPDATE dumps SET status = 'analysing' WHERE id = ?1"},

    [S_JOB_INSERT] = {"inserting a job",
        "INSERT INTO jobs (dump_id, kind, state, created_ms) VALUES (?1, ?2, 'queued', ?3) RETURNING id"},
    [S_JOB_GET] = {"reading a job",
        "SELECT " JOB_COLS " FROM jobs WHERE id = ?1"},
    [S_JOB_STATE] = {"reading a job's state",
        "SELECT state FROM jobs WHERE id = ?1"},
    [S_JOB_CLAIM] = {"claiming a job",
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_expires_ms = ?2, "
        "  started_ms = ?1, finished_ms = 0, worker_pid = 0, phase = '', percent = 0, error = '' "
        "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_ms, id LIMIT 1) "
        "RETURNING " JOB_COLS},
    [S_JOB_PROGRESS] = {"recording a job's progress",
        "UPDATE jobs SET worker_pid = ?2, phase = coalesce(?3, phase), percent = ?4, lease_expires_ms = ?5 "
        "WHERE id = ?1 AND state = 'running' RETURNING dump_id"},
    [S_JOB_FINISH] = {"finishing a job",
        "UPDATE jobs SET state = CASE WHEN ?2 THEN 'done' ELSE 'failed' END, "
        "  error = CASE WHEN ?2 THEN '' ELSE coalesce(?3, '') END, "
        "  finished_ms = ?4, worker_pid = 0, lease_expires_ms = 0 "
        "WHERE id = ?1 AND state = 'running' RETURNING dump_id"},
    [S_JOB_REQUEUE] = {"requeueing a job",
        "UPDATE jobs SET state = 'queued', worker_pid = 0, lease_expires_ms = 0 "
        "WHERE id = ?1 AND state = 'running' RETURNING dump_id"},
    /* recovery, in this order (?3 max_attempts, ?4 the error's format) */
    [S_RECOVER_DUMPS_FAIL] = {"failing the dumps of abandoned jobs",
        "UPDATE dumps SET status = 'failed', error = printf(?4, j.attempts), analysed_ms = ?1 "
        "FROM jobs AS j WHERE j.dump_id = dumps.id AND " RECOVERABLE " AND j.attempts >= ?3"},
    [S_RECOVER_DUMPS_QUEUE] = {"requeueing the dumps of abandoned jobs",
        "UPDATE dumps SET status = 'queued' "
        "FROM jobs AS j WHERE j.dump_id = dumps.id AND " RECOVERABLE " AND j.attempts < ?3"},
    [S_RECOVER_JOBS_FAIL] = {"failing abandoned jobs",
        "UPDATE jobs AS j SET state = 'failed', error = printf(?4, attempts), finished_ms = ?1, "
        "  worker_pid = 0, lease_expires_ms = 0 "
        "WHERE " RECOVERABLE " AND j.attempts >= ?3"},
    [S_RECOVER_JOBS_QUEUE] = {"requeueing abandoned jobs",
        "UPDATE jobs AS j SET state = 'queued', worker_pid = 0, lease_expires_ms = 0 "
        "WHERE " RECOVERABLE " AND j.attempts < ?3"},
    [S_JOB_COUNTS] = {"counting jobs",
        "SELECT state, count(*) FROM jobs GROUP BY state"},

    [S_ART_PUT] = {"storing an artifact",
        "INSERT INTO artifacts (" ART_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) "
        "ON CONFLICT (sha256, kind, format_version) DO UPDATE SET path = excluded.path, "
        "  size = excluded.size, created_ms = excluded.created_ms, last_access_ms = excluded.last_access_ms"},
    [S_ART_GET] = {"reading an artifact",
        "SELECT " ART_COLS " FROM artifacts WHERE " ART_KEY},
    [S_ART_TOUCH] = {"touching an artifact",
        "UPDATE artifacts SET last_access_ms = ?4 WHERE " ART_KEY},
    [S_ART_DELETE] = {"deleting an artifact",
        "DELETE FROM artifacts WHERE " ART_KEY},
    [S_ART_SUMMARY] = {"summing artifacts",
        "SELECT count(*), coalesce(sum(size), 0) FROM artifacts"},
    [S_ART_LRU] = {"listing artifacts",
        "SELECT " ART_COLS " FROM artifacts ORDER BY last_access_ms, sha256, kind, format_version"},

    [S_TOKEN_INSERT] = {"storing a token",
        "INSERT INTO tokens (hash, role, name, created_ms) VALUES (?1, ?2, ?3, ?4)"},
    [S_TOKEN_ALL] = {"reading tokens",
        "SELECT hash, role FROM tokens"},

    [S_IMPORT_INSERT] = {"inserting an import",
        "INSERT INTO imports (url, name, state, allow_private, created_ms) VALUES (?1, ?2, 'queued', ?3, ?4) "
        "RETURNING " IMPORT_COLS},
    [S_IMPORT_GET] = {"reading an import",
        "SELECT " IMPORT_COLS " FROM imports WHERE id = ?1"},
    /* ?2 state, ?3 error (NULL keeps), ?4 dump id (NULL keeps), ?5 now */
    [S_IMPORT_STATE] = {"setting an import's state",
        "UPDATE imports SET state = ?2, error = coalesce(?3, error), dump_id = coalesce(?4, dump_id), "
        "  attempts = attempts + (?2 = 'downloading'), "
        "  started_ms = CASE WHEN ?2 = 'downloading' AND started_ms = 0 THEN ?5 ELSE started_ms END, "
        "  finished_ms = CASE WHEN ?2 IN ('done', 'failed') THEN ?5 ELSE 0 END "
        "WHERE id = ?1 AND state NOT IN ('done', 'failed') RETURNING " IMPORT_COLS},
    [S_IMPORT_PROGRESS] = {"recording an import's progress",
        "UPDATE imports SET bytes_done = ?2, bytes_total = ?3 WHERE id = ?1 AND state NOT IN ('done', 'failed')"},
    /* ?2 a state, or NULL for every unfinished one */
    [S_IMPORT_UNFINISHED] = {"listing unfinished imports",
        "SELECT " IMPORT_COLS " FROM imports "
        "WHERE (?2 IS NULL AND state NOT IN ('done', 'failed')) OR state = ?2 ORDER BY id LIMIT ?1"},
};

/* clang-format on */

#endif
