/*
 * fixture.h: test helpers: the real-dump fixtures (tests/scenarios/FIXTURES.md) and their truth.
 *
 * DS_FIXTURES points at a fixture set (the folder holding fixtures.json); ctest sets it. A test
 * that needs fixtures fails loudly when they are missing: it never skips.
 */
#ifndef DS_TEST_FIXTURE_H
#define DS_TEST_FIXTURE_H

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/query.h"

typedef struct ds_fixture {
  char name[64];
  char process[32];
  char variant[16];
  char kind[16];        /* "full" or "heap" (createdump), "core" (gdb gcore, as a kernel core) */
  char framework[16];   /* "sdk" (the SDK's runtime), "net8.0", "net9.0" (self-contained publish) */
  char dump[4096];      /* absolute path */
  char truth_path[4096];
  json_t *truth;        /* parsed truth, owned */
  bool gc_structures_valid; /* false: taken during a GC (process "midgc"): no heap to walk */
} ds_fixture;

/* Loads the fixture list (cached for the process). process may be NULL for every fixture whose
 * heap can be walked (the mid-GC dumps are asked for by name: ds_fixtures("midgc", ...)). Returns
 * the number of fixtures and sets *out; 0 (and a CUnit failure) when none are available. */
size_t ds_fixtures(const char *process, ds_fixture **out);
/* Directory of the fixture set, e.g. for writing scratch copies next to it. */
const char *ds_fixtures_dir(void);
/* A scratch directory for this test process (created on first use). */
const char *ds_test_tmpdir(void);

/* The major version of the fixture's runtime (its truth's runtime_version), 0 when unknown. */
int ds_fixture_runtime_major(const ds_fixture *fx);

/* Parses "0x..." into *value. */
bool ds_test_hex(const char *text, uint64_t *value);
/* Reads a truth field "a.b.c" as a string / integer (NULL / -1 when absent). */
const char *ds_truth_string(json_t *truth, const char *path);

/* Builds the index of dump (named name in messages) at path, finding the DAC offline, with the
 * findings' thresholds of settings_text ("NAME=VALUE" lines; NULL: the build's defaults), and
 * opens it. Any failure fails the test at once (the build's error is printed). */
ds_query *ds_test_index_open(const char *name, const char *dump, const char *settings_text, const char *path);

/* ClrMD's view of a dump (tests/oracle/run-oracle.sh: histogram, generations, segments); NULL
 * (and the reason on stderr) when the oracle fails. */
json_t *ds_oracle_run(const char *dump);

/* Runs the registered CUnit suites and returns the process exit code. */
int ds_test_main(void);

#endif
