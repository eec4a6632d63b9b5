/* fixture.c: see fixture.h. */
#include "fixture.h"

#include <CUnit/Basic.h>
#include "dumpscope/build.h"
#include "dumpscope/findings.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ds_fixture *cache;
static size_t cache_count;
static bool loaded;
static char dir[4096];

const char *ds_fixtures_dir(void) {
  const char *d = getenv("DS_FIXTURES");
  return d ? d : "";
}

static size_t missing_count; /* listed fixtures whose dump file is gone */

static void load_all(void) {
  loaded = true;
  const char *d = getenv("DS_FIXTURES");
  if (!d || !*d) {
    fprintf(stderr, "DS_FIXTURES is not set: run the tests through ctest (it generates the fixtures)\n");
    return;
  }
  snprintf(dir, sizeof dir, "%s", d);
  char path[4200];
  snprintf(path, sizeof path, "%s/fixtures.json", dir);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    fprintf(stderr, "cannot read %s: %s (did the fixture generation fail?)\n", path, jerr.text);
    return;
  }
  json_t *list = json_object_get(root, "fixtures");
  size_t n = json_array_size(list);
  cache = calloc(n ? n : 1, sizeof *cache);
  for (size_t i = 0; i < n; i++) {
    json_t *f = json_array_get(list, i);
    ds_fixture *x = &cache[cache_count];
    snprintf(x->name, sizeof x->name, "%s", json_string_value(json_object_get(f, "name")));
    snprintf(x->process, sizeof x->process, "%s", json_string_value(json_object_get(f, "process")));
    snprintf(x->variant, sizeof x->variant, "%s", json_string_value(json_object_get(f, "variant")));
    snprintf(x->kind, sizeof x->kind, "%s", json_string_value(json_object_get(f, "kind")));
    const char *framework = json_string_value(json_object_get(f, "framework"));
    snprintf(x->framework, sizeof x->framework, "%s", framework ? framework : "sdk");
    snprintf(x->dump, sizeof x->dump, "%s/%s", dir, json_string_value(json_object_get(f, "dump")));
    snprintf(x->truth_path, sizeof x->truth_path, "%s/%s", dir, json_string_value(json_object_get(f, "truth")));
    json_t *valid = json_object_get(f, "gc_structures_valid");
    x->gc_structures_valid = !json_is_false(valid);
    if (access(x->dump, R_OK) != 0) {
      /* make-fixtures.sh lists only what it made: a listed dump that is gone is a broken fixture
         set, and every test that asks for fixtures fails naming it */
      fprintf(stderr, "fixture %s: its dump %s is missing (regenerate: tests/scenarios/make-fixtures.sh)\n", x->name,
              x->dump);
      missing_count++;
      continue;
    }
    x->truth = json_load_file(x->truth_path, 0, &jerr);
    cache_count++;
  }
  json_decref(root);
}

size_t ds_fixtures(const char *process, ds_fixture **out) {
  if (!loaded)
    load_all();
  static ds_fixture *selected;
  static size_t selected_cap;
  if (selected_cap < cache_count + 1) {
    selected = realloc(selected, (cache_count + 1) * sizeof *selected);
    selected_cap = cache_count + 1;
  }
  size_t n = 0;
  for (size_t i = 0; i < cache_count; i++)
    if (process ? strcmp(cache[i].process, process) == 0 : cache[i].gc_structures_valid)
      selected[n++] = cache[i];
  CU_ASSERT_FATAL(n > 0); /* no fixtures = a failure, never a skip */
  CU_ASSERT_FATAL(missing_count == 0); /* a listed dump that is missing fails too (named on stderr) */
  *out = selected;
  return n;
}

const char *ds_test_tmpdir(void) {
  static char tmp[256];
  if (!tmp[0]) {
    snprintf(tmp, sizeof tmp, "/tmp/dumpscope-test-XXXXXX");
    if (!mkdtemp(tmp))
      snprintf(tmp, sizeof tmp, "/tmp");
  }
  return tmp;
}

int ds_fixture_runtime_major(const ds_fixture *fx) {
  const char *v = fx->truth ? ds_truth_string(fx->truth, "runtime_version") : NULL;
  return v ? atoi(v) : 0;
}

bool ds_test_hex(const char *text, uint64_t *value) {
  if (!text)
    return false;
  char *end = NULL;
  *value = strtoull(text, &end, 16);
  return end && *end == 0 && end != text;
}

const char *ds_truth_string(json_t *truth, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *node = truth;
  for (char *part = buf, *dot; node && part; part = dot ? dot + 1 : NULL) {
    dot = strchr(part, '.');
    if (dot)
      *dot = 0;
    node = json_object_get(node, part);
  }
  return node ? json_string_value(node) : NULL;
}

int ds_test_main(void) {
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures();
  unsigned failed_tests = CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  const char *tmp = ds_test_tmpdir();
  if (strncmp(tmp, "/tmp/dumpscope-test-", 20) == 0) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", tmp);
  }
  return failures || failed_tests ? 1 : 0;
}

ds_query *ds_test_index_open(const char *name, const char *dump, const char *settings_text, const char *path) {
  ds_error err = {0};
  ds_finding_settings settings;
  ds_finding_settings_init(&settings);
  if (settings_text)
    CU_ASSERT_EQUAL_FATAL(ds_finding_settings_apply(&settings, settings_text, &err), DS_OK);
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(dump, &search, &a, &err), DS_OK);
  ds_build_stats stats;
  ds_status rc = ds_index_build_with(a, NULL, settings_text ? &settings : NULL, path, &stats, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  ds_analysis_close(a);
  ds_query *q = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_open(path, dump, &q, &err), DS_OK);
  return q;
}

json_t *ds_oracle_run(const char *dump) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "bash '%s/tests/oracle/run-oracle.sh' '%s'", getenv("DS_SOURCE_DIR"), dump);
  FILE *p = popen(cmd, "r");
  if (!p)
    return NULL;
  json_error_t jerr;
  json_t *j = json_loadf(p, 0, &jerr);
  int status = pclose(p);
  if (status != 0 || !j) {
    fprintf(stderr, "oracle failed on %s (status %d): %s\n", dump, status, j ? "" : jerr.text);
    json_decref(j);
    return NULL;
  }
  return j;
}
