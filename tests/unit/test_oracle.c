/*
 * test_oracle.c: a second, independent oracle. ClrMD (Microsoft.Diagnostics.Runtime, pinned in
 * tests/oracle) walks the same fixture dumps; our per-type histogram must be identical to its:
 * the same MethodTables with the same type names (as ClrMD spells them), counts and total sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/analysis.h"
#include "fixture.h"

static json_t *run_oracle(const char *dump) {
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

static void compare(ds_fixture *fx) {
  json_t *oracle = run_oracle(fx->dump);
  CU_ASSERT_PTR_NOT_NULL_FATAL(oracle);
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx->dump, &search, &a, &err), DS_OK);
  ds_histogram hist;
  CU_ASSERT_EQUAL_FATAL(ds_heap_histogram(a->heap, -1, &hist, &err), DS_OK);

  json_t *types = json_object_get(oracle, "types");
  size_t matched = 0, mismatches = 0, i;
  json_t *t;
  json_array_foreach(types, i, t) {
    uint64_t mt = 0;
    ds_test_hex(json_string_value(json_object_get(t, "mt")), &mt);
    const char *name = json_string_value(json_object_get(t, "name"));
    json_int_t count = json_integer_value(json_object_get(t, "count"));
    json_int_t size = json_integer_value(json_object_get(t, "total_size"));
    const ds_histogram_row *row = NULL;
    for (size_t r = 0; r < hist.row_count; r++)
      if (ds_heap_type(a->heap, hist.rows[r].type)->mt == mt)
        row = &hist.rows[r];
    char ours[DS_MAX_TYPE_NAME_CHARS] = "";
    if (row)
      ds_type_name_clrmd(ds_heap_type(a->heap, row->type)->name, ours, sizeof ours);
    if (!row || (json_int_t)row->count != count || (json_int_t)row->total_size != size ||
        strcmp(ours, name) != 0) {
      if (mismatches++ < 10)
        fprintf(stderr, "%s: MT %llx: ClrMD %s %lld/%lld, ours %s %llu/%llu\n", fx->name,
                (unsigned long long)mt, name, (long long)count, (long long)size, ours,
                row ? (unsigned long long)row->count : 0ull, row ? (unsigned long long)row->total_size : 0ull);
      continue;
    }
    matched++;
  }
  CU_ASSERT_EQUAL(mismatches, 0);
  CU_ASSERT_EQUAL(matched, hist.row_count); /* and no type of ours that ClrMD lacks */
  CU_ASSERT_EQUAL((json_int_t)hist.stats.objects, json_integer_value(json_object_get(oracle, "object_count")));
  ds_histogram_free(&hist);
  ds_analysis_close(a);
  json_decref(oracle);
}

static void test_histogram_equals_clrmd(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++)
    compare(&fx[i]);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("clrmd oracle", NULL, NULL);
  CU_add_test(s, "per-type histogram identical to ClrMD's on every fixture", test_histogram_equals_clrmd);
  return ds_test_main();
}
