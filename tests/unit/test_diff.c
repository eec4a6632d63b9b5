/*
 * test_diff.c: comparing two dumps of one program (the growth scenario at 20,000 and 50,000
 * records): the growth of every scenario type equals the difference of the two truths, rows come
 * largest growth first for each sort, retained growth equals the difference of the indexes'
 * per-type retained sizes, a dump against itself shows no growth, and `dumpscope diff` prints
 * the same document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "clirun.h"

static ds_fixture *fixture_named(const char *name) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].name, name) == 0)
      return &fx[i];
  CU_FAIL_FATAL("growth fixture missing");
  return NULL;
}

static ds_query *open_built(ds_fixture *fx) {
  char path[512];
  snprintf(path, sizeof path, "%s.dsindex", fx->dump); /* where `dumpscope diff` looks too */
  return ds_test_index_open(fx->name, fx->dump, NULL, path);
}

static json_t *row(json_t *doc, const char *type) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(doc, "types"), i, r)
    if (strcmp(json_string_value(json_object_get(r, "type")), type) == 0)
      return r;
  return NULL;
}

static json_int_t jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static json_int_t type_retained(ds_query *q, const char *type) {
  json_t *doc = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_query_dominators(q, 0, true, 10000, &doc, &err), DS_OK);
  json_int_t v = 0;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(doc, "types"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "type")), type) == 0)
      v += jint(t, "retained_size"); /* every type of the name (a second copy of an assembly) */
  json_decref(doc);
  return v;
}

static void test_growth_equals_truth(void) {
  ds_fixture *before = fixture_named("growth1-wks-heap"), *after = fixture_named("growth2-wks-heap");
  ds_query *qa = open_built(before), *qb = open_built(after);
  ds_error err = {0};
  json_t *doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_diff(qa, qb, DS_DIFF_BYTES, 10000, &doc, &err), DS_OK);
  const char *name;
  json_t *want;
  json_t *ta = json_object_get(before->truth, "types"), *tb = json_object_get(after->truth, "types");
  /* a type of the same name from a second copy of the assembly (another load context) is the same
     row: a comparison by name adds both */
  json_t *copy_a = json_object_get(json_object_get(json_object_get(before->truth, "scenario_data"), "growth"), "second_copy");
  json_t *copy_b = json_object_get(json_object_get(json_object_get(after->truth, "scenario_data"), "growth"), "second_copy");
  CU_ASSERT_PTR_NOT_NULL_FATAL(copy_a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(copy_b);
  const char *copy_name = json_string_value(json_object_get(copy_b, "type"));
  json_object_foreach(tb, name, want) {
    json_t *r = row(doc, name), *was = json_object_get(ta, name);
    json_int_t dc = jint(want, "count") - jint(was, "count"), db = jint(want, "total_size") - jint(was, "total_size");
    json_int_t copies_after = 0;
    if (strcmp(name, copy_name) == 0) {
      dc += jint(copy_b, "count") - jint(copy_a, "count");
      db += jint(copy_b, "total_size") - jint(copy_a, "total_size");
      copies_after = jint(copy_b, "count");
    }
    if (!r) {
      CU_ASSERT(dc == 0 && db == 0);
      continue;
    }
    CU_ASSERT_EQUAL(jint(r, "count_growth"), dc);
    CU_ASSERT_EQUAL(jint(r, "bytes_growth"), db);
    CU_ASSERT_EQUAL(jint(r, "count_after"), jint(want, "count") + copies_after);
    CU_ASSERT_EQUAL(jint(r, "retained_growth"), type_retained(qb, name) - type_retained(qa, name));
  }
  CU_ASSERT_PTR_NULL(row(doc, "Free")); /* free space is not a type */
  json_t *records = row(doc, "Scenarios.GrowthRecord");
  CU_ASSERT_PTR_NOT_NULL_FATAL(records);
  CU_ASSERT_EQUAL(jint(records, "count_growth"), 30000 + 3000);
  size_t named = 0; /* one row per name */
  for (size_t k = 0; k < json_array_size(json_object_get(doc, "types")); k++)
    named += strcmp(json_string_value(json_object_get(json_array_get(json_object_get(doc, "types"), k), "type")), copy_name) == 0;
  CU_ASSERT_EQUAL(named, 1);
  /* largest growth first, for each sort */
  static const struct { ds_diff_sort sort; const char *key; } sorts[] = {
      {DS_DIFF_BYTES, "bytes_growth"}, {DS_DIFF_COUNT, "count_growth"}, {DS_DIFF_RETAINED, "retained_growth"}};
  for (size_t s = 0; s < 3; s++) {
    json_t *d = NULL;
    CU_ASSERT_EQUAL_FATAL(ds_query_diff(qa, qb, sorts[s].sort, 10000, &d, &err), DS_OK);
    json_t *types = json_object_get(d, "types");
    for (size_t i = 1; i < json_array_size(types); i++)
      CU_ASSERT(jint(json_array_get(types, i - 1), sorts[s].key) >= jint(json_array_get(types, i), sorts[s].key));
    CU_ASSERT_EQUAL(jint(d, "type_count"), (json_int_t)json_array_size(types));
    json_decref(d);
  }
  /* the totals add up */
  json_int_t objects = 0;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(doc, "types"), i, r)
    objects += jint(r, "count_growth");
  CU_ASSERT_EQUAL(objects, jint(doc, "objects_growth"));
  CU_ASSERT_EQUAL(jint(json_object_get(doc, "after"), "objects") - jint(json_object_get(doc, "before"), "objects"),
                  jint(doc, "objects_growth"));
  /* a dump against itself: nothing grew */
  json_t *same = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_diff(qb, qb, DS_DIFF_BYTES, 100, &same, &err), DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(same, "types")), 0);
  CU_ASSERT_EQUAL(jint(same, "bytes_growth"), 0);
  json_decref(same);

  /* the CLI prints the same document (each dump's index next to it, as built above) */
  const char *args[] = {"dumpscope", "diff", before->dump, after->dump, "--json", "--limit", "10000", NULL};
  char *out = NULL;
  CU_ASSERT_EQUAL(run_cli_argv(args, &out), 0);
  json_error_t jerr;
  json_t *cli = json_loads(out, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cli);
  CU_ASSERT(json_equal(json_object_get(cli, "types"), json_object_get(doc, "types")));
  json_decref(cli);
  free(out);
  json_decref(doc);
  ds_query_close(qa);
  ds_query_close(qb);
  char path[4200];
  snprintf(path, sizeof path, "%s.dsindex", before->dump);
  unlink(path);
  snprintf(path, sizeof path, "%s.dsindex", after->dump);
  unlink(path);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("diff", NULL, NULL);
  CU_add_test(s, "growth between two dumps equals the difference of their truths", test_growth_equals_truth);
  return ds_test_main();
}
