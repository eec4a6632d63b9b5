/*
 * test_report.c: the automatic analysis report (ds_query_report, `dumpscope analyze`) against the
 * scenario truth and against the other resources on every fixture: the GC mode and dump kind, the
 * scenario types at the top of their generations with the truth's counts and sizes, the LOH's
 * objects, the strings and their duplicates as the strings resource counts them, the findings as
 * the findings resource gives them, every threshold; and the CLI's text and JSON forms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/findings.h"
#include "dumpscope/query.h"
#include "clirun.h"

static ds_query *open_fixture(ds_fixture *fx, char *path, size_t path_len) {
  snprintf(path, path_len, "%s/%s.report.dsindex", ds_test_tmpdir(), fx->name);
  return ds_test_index_open(fx->name, fx->dump, NULL, path);
}

static json_t *row_named(json_t *list, const char *type) {
  size_t i;
  json_t *r;
  json_array_foreach(list, i, r)
    if (strcmp(json_string_value(json_object_get(r, "type")), type) == 0)
      return r;
  return NULL;
}

static json_int_t jint(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

/* The summary: GC mode, dump kind, counts that agree with the summary resource and the truth. */
static void check_summary(ds_fixture *fx, ds_query *q, json_t *report) {
  json_t *s = json_object_get(report, "summary"), *gc = json_object_get(s, "gc");
  json_t *tgc = json_object_get(fx->truth, "gc");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(gc, "mode")),
                         json_is_true(json_object_get(tgc, "server")) ? "server" : "workstation");
  CU_ASSERT_EQUAL(jint(gc, "heap_count"), jint(tgc, "heap_count"));
  CU_ASSERT_EQUAL(json_is_true(json_object_get(gc, "regions")), strcmp(fx->variant, "seg") != 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s, "dump_kind")), fx->kind);
  ds_error err = {0};
  json_t *summary = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_summary(q, &summary, &err), DS_OK);
  CU_ASSERT_EQUAL(jint(s, "objects"), jint(summary, "objects"));
  CU_ASSERT_EQUAL(jint(json_object_get(s, "heap"), "bytes"), jint(summary, "heap_bytes"));
  CU_ASSERT_EQUAL(jint(json_object_get(s, "heap"), "live_bytes"), jint(summary, "live_bytes"));
  json_decref(summary);
  /* the generations add up to the heap */
  json_int_t bytes = 0;
  size_t i;
  json_t *g;
  json_array_foreach(json_object_get(json_object_get(s, "heap"), "generations"), i, g)
    bytes += jint(g, "bytes");
  CU_ASSERT_EQUAL(bytes, jint(json_object_get(s, "heap"), "bytes"));
  json_t *heap = json_object_get(s, "heap");
  CU_ASSERT(jint(heap, "committed_bytes") >= jint(heap, "used_bytes"));
  CU_ASSERT(jint(heap, "used_bytes") >= jint(heap, "bytes"));
  /* every truth thread is a managed thread; the exception in flight is counted */
  json_t *th = json_object_get(s, "threads");
  CU_ASSERT(jint(th, "managed") >= (json_int_t)json_array_size(json_object_get(fx->truth, "threads")));
  json_t *exception = json_object_get(json_object_get(fx->truth, "scenario_data"), "exception");
  CU_ASSERT_EQUAL(jint(th, "with_exception"), exception ? 1 : 0);
  json_t *fin = json_object_get(fx->truth, "finalizer");
  if (fin)
    CU_ASSERT(jint(json_object_get(s, "finalization"), "ready") >= jint(fin, "ready_for_finalization"));
  /* the command line the runtime keeps, as the process itself reported it (Environment) */
  json_t *process = json_object_get(s, "process");
  CU_ASSERT(json_is_null(json_object_get(process, "uptime_seconds")));
  const char *line = json_string_value(json_object_get(process, "command_line"));
  CU_ASSERT_PTR_NOT_NULL_FATAL(line);
  CU_ASSERT_STRING_EQUAL(line, json_string_value(json_object_get(fx->truth, "command_line")));
  CU_ASSERT(json_equal(json_object_get(process, "command_line_args"), json_object_get(fx->truth, "command_line_args")));
}

/* Scenario types with the truth's count and size in the whole-heap lists and in their generation. */
static void check_types(ds_fixture *fx, json_t *report) {
  json_t *top = json_object_get(report, "top_types"), *by_size = json_object_get(top, "by_size");
  /* a full list ends at its smallest row: anything larger must be in it */
  json_int_t smallest = json_array_size(by_size) == 20 ? jint(json_array_get(by_size, 19), "bytes") : 0;
  const char *name;
  json_t *want;
  json_object_foreach(json_object_get(fx->truth, "types"), name, want) {
    json_t *r = row_named(by_size, name);
    if (!r)
      r = row_named(json_object_get(top, "by_count"), name);
    if (!r && jint(want, "total_size") > smallest)
      fprintf(stderr, "%s: %s (%lld bytes) missing from the top types by size\n", fx->name, name,
              (long long)jint(want, "total_size"));
    CU_ASSERT(r || jint(want, "total_size") <= smallest);
    if (!r)
      continue;
    CU_ASSERT_EQUAL(jint(r, "count"), jint(want, "count"));
    CU_ASSERT_EQUAL(jint(r, "bytes"), jint(want, "total_size"));
  }
  /* each marker's type is in its generation's lists when it is among the largest there */
  size_t i, k;
  json_t *m, *g;
  json_array_foreach(json_object_get(fx->truth, "markers"), i, m) {
    const char *heap = json_string_value(json_object_get(m, "heap"));
    if (!heap || strcmp(heap, "loh") != 0)
      continue;
    json_array_foreach(json_object_get(top, "generations"), k, g)
      if (strcmp(json_string_value(json_object_get(g, "generation")), "loh") == 0)
        CU_ASSERT_PTR_NOT_NULL(row_named(json_object_get(g, "by_size"), json_string_value(json_object_get(m, "type"))));
  }
  /* free space is not a type */
  json_array_foreach(json_object_get(top, "generations"), k, g)
    CU_ASSERT_PTR_NULL(row_named(json_object_get(g, "by_size"), "Free"));
  CU_ASSERT_PTR_NULL(row_named(json_object_get(top, "by_size"), "Free"));
  CU_ASSERT_PTR_NULL(row_named(json_object_get(top, "by_count"), "Free"));
  /* the LOH: its objects counted by the walk as by the histogram, every LOH marker among its
     largest objects (the scenarios put few there) */
  json_t *loh = json_object_get(report, "loh");
  json_array_foreach(json_object_get(json_object_get(json_object_get(report, "summary"), "heap"), "generations"), k, g)
    if (strcmp(json_string_value(json_object_get(g, "generation")), "loh") == 0) {
      CU_ASSERT_EQUAL(jint(loh, "objects"), jint(g, "objects"));
      CU_ASSERT_EQUAL(jint(loh, "bytes"), jint(g, "bytes") - jint(g, "free_bytes"));
    }
  json_array_foreach(json_object_get(fx->truth, "markers"), i, m) {
    const char *heap = json_string_value(json_object_get(m, "heap"));
    if (!heap || strcmp(heap, "loh") != 0)
      continue;
    bool found = false;
    json_t *o;
    json_array_foreach(json_object_get(loh, "largest"), k, o)
      found |= strcmp(json_string_value(json_object_get(o, "address")), json_string_value(json_object_get(m, "address"))) == 0;
    if (!found)
      fprintf(stderr, "%s: LOH marker %s not among the LOH's largest objects\n", fx->name,
              json_string_value(json_object_get(m, "name")));
    CU_ASSERT(found);
  }
  /* a dead LOH object counts (the histogram above counts live and dead alike) and is listed as dead */
  json_t *dead = json_object_get(json_object_get(json_object_get(fx->truth, "scenario_data"), "report"), "dead_loh");
  if (dead) {
    json_t *o, *hit = NULL;
    json_array_foreach(json_object_get(loh, "largest"), k, o)
      if (strcmp(json_string_value(json_object_get(o, "address")), json_string_value(json_object_get(dead, "address"))) == 0)
        hit = o;
    CU_ASSERT_PTR_NOT_NULL_FATAL(hit);
    CU_ASSERT(json_is_false(json_object_get(hit, "live")));
    CU_ASSERT_EQUAL(jint(hit, "size"), jint(dead, "size"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(hit, "type")), json_string_value(json_object_get(dead, "type")));
  }
}

/* Strings as the strings resource counts them; findings as the findings resource gives them. */
static void check_against_resources(ds_query *q, json_t *report) {
  ds_error err = {0};
  json_t *dups = NULL, *findings = NULL, *stats = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_strings(q, NULL, 0, true, 10, &dups, &err), DS_OK);
  json_t *strings = json_object_get(report, "strings");
  CU_ASSERT_EQUAL(jint(strings, "wasted_bytes"), jint(dups, "wasted_bytes"));
  CU_ASSERT_EQUAL(jint(strings, "duplicate_values"), jint(dups, "duplicate_groups"));
  CU_ASSERT_EQUAL(jint(strings, "count"), jint(dups, "matched"));
  CU_ASSERT_EQUAL(jint(strings, "bytes"), jint(dups, "matched_bytes"));
  json_t *top = json_array_get(json_object_get(strings, "top_duplicates"), 0), *first = json_array_get(json_object_get(dups, "duplicates"), 0);
  if (top && first) {
    CU_ASSERT_EQUAL(jint(top, "count"), jint(first, "count"));
    CU_ASSERT_EQUAL(jint(top, "bytes"), jint(first, "wasted_bytes"));
  }
  ds_object_filter f = {.gen = -1, .type_text = "System.String", .type_exact = true};
  CU_ASSERT_EQUAL_FATAL(ds_query_stats(q, &f, DS_SORT_SIZE, 0, &stats, &err), DS_OK);
  CU_ASSERT_EQUAL(jint(strings, "count"), jint(stats, "object_count"));
  CU_ASSERT_EQUAL_FATAL(ds_query_findings(q, &findings, &err), DS_OK);
  CU_ASSERT(json_equal(json_object_get(findings, "findings"), json_object_get(report, "findings")));
  json_t *counts = json_object_get(report, "finding_counts");
  json_int_t total = 0;
  const char *key;
  json_t *v;
  json_object_foreach(counts, key, v)
    total += json_integer_value(v);
  CU_ASSERT_EQUAL(total, (json_int_t)json_array_size(json_object_get(report, "findings")));
  CU_ASSERT_EQUAL(json_array_size(json_object_get(report, "settings")), ds_setting_count());
  json_decref(dups);
  json_decref(findings);
  json_decref(stats);
}

/* The leak suspect of the leak scenario, with its root path ending at the static list. */
static void check_suspects(ds_fixture *fx, json_t *report) {
  json_t *suspects = json_object_get(report, "leak_suspects");
  CU_ASSERT_FATAL(json_is_array(suspects));
  json_t *leak = json_object_get(json_object_get(fx->truth, "scenario_data"), "leak");
  if (!leak && !json_object_get(json_object_get(fx->truth, "scenario_data"), "growth")) {
    CU_ASSERT_EQUAL(json_array_size(suspects), 0);
    return;
  }
  CU_ASSERT_EQUAL_FATAL(json_array_size(suspects), 1);
  json_t *s = json_array_get(suspects, 0), *m;
  size_t i;
  const char *holder = NULL;
  json_array_foreach(json_object_get(fx->truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), leak ? "invoice.list" : "growth.records") == 0)
      holder = json_string_value(json_object_get(m, "address"));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(s, "object"), "address")), holder);
  json_t *objects = json_object_get(json_object_get(s, "root_path"), "objects");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(objects, json_array_size(objects) - 1), "address")),
                         holder);
  CU_ASSERT(json_number_value(json_object_get(s, "retained_percent")) > 50);
  CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(s, "description")), leak ? "100,003" : "0,000"));
}

static void test_report_matches_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx), checked = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(fx[i].process, "big") == 0)
      continue;
    char path[512];
    ds_query *q = open_fixture(&fx[i], path, sizeof path);
    json_t *report = NULL;
    ds_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ds_query_report(q, &report, &err), DS_OK);
    /* a walkable dump never says it was taken during a GC (test_midgc.c: the one that was) */
    CU_ASSERT(json_is_false(json_object_get(json_object_get(report, "summary"), "gc_in_progress")));
    json_t *finding;
    size_t f;
    json_array_foreach(json_object_get(report, "findings"), f, finding)
      CU_ASSERT_STRING_NOT_EQUAL(json_string_value(json_object_get(finding, "code")), "gc-in-progress");
    check_summary(&fx[i], q, report);
    check_types(&fx[i], report);
    check_against_resources(q, report);
    check_suspects(&fx[i], report);
    json_decref(report);
    ds_query_close(q);
    unlink(path);
    checked++;
  }
  CU_ASSERT(checked >= 9);
}

/* `dumpscope analyze`: text with every part of the report; --json is the report resource's
 * document; --set rebuilds with the given threshold. */
static void test_analyze_command(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char index[512];
  snprintf(index, sizeof index, "%s/analyze.dsindex", ds_test_tmpdir());
  unlink(index);
  char *text = NULL, *json = NULL;
  const char *const text_args[] = {"dumpscope", "analyze", fx[0].dump, "--index", index, "--offline", NULL};
  CU_ASSERT_EQUAL(run_cli_argv(text_args, &text), 0);
  static const char *const parts[] = {"Summary", "Findings (", "[ERROR] Deadlock", "Top types by size",
                                      "Top types by count", "Top types per generation", "Large object heap",
                                      "Strings", "Exceptions on the heap", "Thresholds used", "Scenarios.Invoice", NULL};
  for (const char *const *p = parts; *p; p++) {
    if (!strstr(text, *p))
      fprintf(stderr, "analyze: \"%s\" missing from the text report\n", *p);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, *p));
  }
  const char *const json_args[] = {"dumpscope", "analyze", fx[0].dump, "--index", index, "--json", NULL};
  CU_ASSERT_EQUAL(run_cli_argv(json_args, &json), 0);
  json_error_t jerr;
  json_t *doc = json_loads(json, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  ds_query *q = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_query_open(index, fx[0].dump, &q, &err), DS_OK);
  json_t *report = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_report(q, &report, &err), DS_OK);
  CU_ASSERT(json_equal(doc, report));
  json_decref(report);
  json_decref(doc);
  ds_query_close(q);
  free(text);
  free(json);
  /* a threshold given with --set rebuilds the index and shows in the report */
  const char *const set_args[] = {"dumpscope", "analyze", fx[0].dump, "--index", index, "--json", "--set",
                                  "pinned_handles=50", NULL};
  CU_ASSERT_EQUAL(run_cli_argv(set_args, &json), 0);
  doc = json_loads(json, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  bool pinned = false;
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f)
    pinned |= strcmp(json_string_value(json_object_get(f, "code")), "pinned-handles") == 0 &&
              jint(json_object_get(f, "setting"), "value") == 50;
  CU_ASSERT(pinned);
  json_decref(doc);
  free(json);
  const char *const bad_args[] = {"dumpscope", "analyze", fx[0].dump, "--index", index, "--set", "pinned_handles=x", NULL};
  CU_ASSERT_EQUAL(run_cli_argv(bad_args, &text), 2);
  free(text);
  unlink(index);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("report", NULL, NULL);
  CU_add_test(s, "the report matches the truth and the other resources on every fixture", test_report_matches_truth);
  CU_add_test(s, "dumpscope analyze prints the report as text and as the resource's JSON", test_analyze_command);
  return ds_test_main();
}
