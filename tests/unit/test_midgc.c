/*
 * test_midgc.c: a dump taken during a garbage collection (the "midgc" fixture: make-fixtures.sh
 * dumps a process that collects in a loop until a dump reports gc_structures_valid false). Its
 * index holds no heap but everything the DAC gives without a walk: the threads with the truth's
 * ids, their stacks through the truth's methods, the sync blocks held and waited on as the truth
 * says, the deadlock the truth names; the findings are exactly the deadlock and gc-in-progress;
 * every resource that needs the heap answers DS_E_MID_GC (HTTP 409 heap_not_walkable), and the CLI
 * exits 0 for index/analyze/findings and 5 for heap commands and verify. The other fixtures never
 * raise gc-in-progress (test_report.c checks that on each of them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "clirun.h"
#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "fixture.h"

static ds_fixture *midgc(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("midgc", &fx) == 1);
  CU_ASSERT_FATAL(!fx[0].gc_structures_valid);
  return &fx[0];
}

static ds_query *open_midgc(ds_fixture *fx, char *path, size_t len) {
  snprintf(path, len, "%s/midgc.dsindex", ds_test_tmpdir());
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx->dump, &search, &a, &err), DS_OK);
  CU_ASSERT_FATAL(!ds_heap_gc_info(a->heap)->structures_valid); /* the fixture did catch a GC */
  ds_build_stats stats;
  ds_status rc = ds_index_build(a, NULL, path, &stats, &err);
  if (rc != DS_OK)
    fprintf(stderr, "midgc: index build failed: %s\n", err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  CU_ASSERT_EQUAL(stats.objects, 0);
  ds_analysis_close(a);
  ds_query *q = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_open(path, fx->dump, &q, &err), DS_OK);
  return q;
}

/* The document of a resource (subpath below /dumps/{id}/, with a query string), or NULL with *err. */
static json_t *call(ds_query *q, const char *subpath, const char *query, ds_error *err) {
  ds_api_args args = {0};
  json_t *doc = NULL;
  if (ds_api_args_parse_query(&args, query, err) == DS_OK) {
    const ds_api_resource *r = ds_api_route(subpath, &args, err);
    if (r && ds_api_call(r, q, &args, &doc, err) != DS_OK)
      doc = NULL;
  }
  return doc;
}

static json_t *must(ds_query *q, const char *subpath, const char *query) {
  ds_error err = {0};
  json_t *doc = call(q, subpath, query, &err);
  if (!doc)
    fprintf(stderr, "midgc: %s: %s\n", subpath, err.message);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  return doc;
}

static long long os_id_of(json_t *truth, const char *name) { return thread_os_id(truth, name); }

/* Whether every truth thread named in names has a row (with its "os_id") in rows. */
static bool all_named_threads_in(json_t *truth, json_t *names, json_t *rows) {
  size_t i, k;
  json_t *name, *row;
  json_array_foreach(names, i, name) {
    long long want = os_id_of(truth, json_string_value(name));
    bool seen = false;
    json_array_foreach(rows, k, row) seen |= json_integer_value(json_object_get(row, "os_id")) == want;
    if (!seen) {
      fprintf(stderr, "midgc: thread %s (os %lld) missing\n", json_string_value(name), want);
      return false;
    }
  }
  return true;
}

/* ---- threads and stacks ------------------------------------------------------------------------ */

static void test_threads_and_stacks(void) {
  ds_fixture *fx = midgc();
  char path[512];
  ds_query *q = open_midgc(fx, path, sizeof path);
  json_t *threads = must(q, "threads", "limit=1000"), *list = json_object_get(threads, "threads");
  json_t *truth_threads = json_object_get(fx->truth, "threads");
  CU_ASSERT(json_array_size(truth_threads) >= 7); /* main, T1..T4, gc-loop, churn */
  size_t i;
  json_t *t;
  json_array_foreach(truth_threads, i, t) {
    const char *name = json_string_value(json_object_get(t, "name"));
    json_int_t os = json_integer_value(json_object_get(t, "os_id"));
    json_int_t managed = json_integer_value(json_object_get(t, "managed_id"));
    json_t *found = NULL, *row;
    size_t k;
    json_array_foreach(list, k, row) if (json_integer_value(json_object_get(row, "os_id")) == os) found = row;
    if (!found)
      fprintf(stderr, "midgc: thread %s (os %lld) missing\n", name, (long long)os);
    CU_ASSERT_PTR_NOT_NULL_FATAL(found);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(found, "managed_id")), managed);
    /* its stack runs through the scenario method the truth names */
    char sub[64];
    snprintf(sub, sizeof sub, "threads/%lld/stack", (long long)os);
    json_t *stack = must(q, sub, ""), *frame;
    const char *blocked_in = json_string_value(json_object_get(t, "blocked_in"));
    bool seen = false;
    size_t f;
    json_array_foreach(json_object_get(stack, "frames"), f, frame) {
      const char *m = json_string_value(json_object_get(frame, "method"));
      if (m && strncmp(m, blocked_in, strlen(blocked_in)) == 0 && m[strlen(blocked_in)] == '(')
        seen = true;
    }
    if (!seen)
      fprintf(stderr, "midgc: %s's stack does not run through %s\n", name, blocked_in);
    CU_ASSERT(seen);
    json_decref(stack);
  }
  json_decref(threads);
  json_t *summary = must(q, "summary", "");
  CU_ASSERT(json_is_false(json_object_get(summary, "heap_walkable")));
  CU_ASSERT(json_is_false(json_object_get(summary, "server_gc")));
  json_decref(summary);
  ds_query_close(q);
  unlink(path);
}

/* ---- locks, deadlocks, findings -------------------------------------------------------------------- */

/* The monitor held by os id holder in the locks document, NULL when none. */
static json_t *monitor_held_by(json_t *locks, long long holder) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(locks, "monitors"), i, m) {
    if (json_integer_value(json_object_get(json_object_get(m, "held_by"), "os_id")) == holder)
      return m;
  }
  return NULL;
}

static void test_locks_and_findings(void) {
  ds_fixture *fx = midgc();
  char path[512];
  ds_query *q = open_midgc(fx, path, sizeof path);
  json_t *locks = must(q, "locks", ""), *lock;
  size_t i, checked = 0;
  json_array_foreach(json_object_get(fx->truth, "locks"), i, lock) {
    json_t *waiters = json_object_get(lock, "waiters");
    if (!json_array_size(waiters))
      continue; /* an uncontended monitor may be a thin lock in the object header: the heap's */
    json_t *m = monitor_held_by(locks, os_id_of(fx->truth, json_string_value(json_object_get(lock, "held_by"))));
    if (!m)
      fprintf(stderr, "midgc: no monitor held as the truth's lock %s\n",
              json_string_value(json_object_get(lock, "name")));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    json_t *got = json_object_get(m, "waiters");
    CU_ASSERT_EQUAL(json_array_size(got), json_array_size(waiters));
    CU_ASSERT(all_named_threads_in(fx->truth, waiters, got));
    checked++;
  }
  CU_ASSERT(checked >= 3); /* A, B, C */
  json_decref(locks);

  /* the truth's deadlock, and no other */
  json_t *dl = must(q, "deadlocks", ""), *cycles = json_object_get(dl, "deadlocks");
  json_t *truth_cycles = json_object_get(fx->truth, "deadlocks");
  CU_ASSERT_EQUAL_FATAL(json_array_size(cycles), json_array_size(truth_cycles));
  json_t *cycle = json_array_get(truth_cycles, 0), *threads = json_object_get(json_array_get(cycles, 0), "threads");
  CU_ASSERT_EQUAL(json_array_size(threads), json_array_size(cycle));
  CU_ASSERT(all_named_threads_in(fx->truth, cycle, threads));
  json_decref(dl);

  /* exactly the deadlock (truth) and gc-in-progress, a Warning saying what is missing */
  json_t *findings = must(q, "findings", ""), *f;
  size_t deadlock = 0, gc = 0, other = 0;
  json_array_foreach(json_object_get(findings, "findings"), i, f) {
    const char *code = json_string_value(json_object_get(f, "code"));
    if (strcmp(code, "deadlock") == 0) {
      deadlock++;
    } else if (strcmp(code, "gc-in-progress") == 0) {
      gc++;
      CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "severity")), "warning");
      const char *d = json_string_value(json_object_get(f, "description"));
      CU_ASSERT_PTR_NOT_NULL(strstr(d, "heap"));
      CU_ASSERT_PTR_NOT_NULL(strstr(d, "Threads"));
    } else {
      fprintf(stderr, "midgc: unexpected finding %s\n", code);
      other++;
    }
  }
  CU_ASSERT_EQUAL(deadlock, json_array_size(truth_cycles));
  CU_ASSERT_EQUAL(gc, 1);
  CU_ASSERT_EQUAL(other, 0);
  json_decref(findings);
  json_t *report = must(q, "report", "");
  CU_ASSERT(json_is_true(json_object_get(json_object_get(report, "summary"), "gc_in_progress")));
  json_decref(report);
  ds_query_close(q);
  unlink(path);
}

/* ---- the heap resources refuse ------------------------------------------------------------------ */

static void test_heap_resources_refuse(void) {
  ds_fixture *fx = midgc();
  char path[512];
  ds_query *q = open_midgc(fx, path, sizeof path);
  static const char *const heap_paths[] = {"gen/2", "gen/0/objects", "heap", "heap/stat", "heap/objects", "types",
                                           "objects/0x1000", "objects/0x1000/refs", "roots/0x1000", "addresses/0x1000",
                                           "finalizer", "fragmentation", "strings", "dominators", "threads/1/objects",
                                           "types/System.String", "memory/0x1000", "search", NULL};
  for (const char *const *p = heap_paths; *p; p++) {
    ds_error err = {0};
    json_t *doc = call(q, *p, strcmp(*p, "search") == 0 ? "q=Mid*" : "", &err);
    if (doc || err.code != DS_E_MID_GC)
      fprintf(stderr, "midgc: %s answered %s (%s)\n", *p, doc ? "a document" : ds_status_name(err.code), err.message);
    CU_ASSERT_PTR_NULL(doc);
    json_decref(doc);
    CU_ASSERT_EQUAL(err.code, DS_E_MID_GC);
    CU_ASSERT_STRING_EQUAL(ds_status_name(err.code), "heap_not_walkable");
    CU_ASSERT_EQUAL(ds_api_http_status(err.code), 409);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "during a garbage collection"));
  }
  /* the handles hold addresses the index has no objects for: each non-null one names its target */
  json_t *handles = must(q, "handles", "limit=100000"), *kind, *h;
  const char *kind_name;
  size_t targets = 0, i;
  json_object_foreach(json_object_get(handles, "kinds"), kind_name, kind) {
    json_array_foreach(json_object_get(kind, "handles"), i, h) {
      CU_ASSERT(json_is_null(json_object_get(h, "object")));
      if (json_is_string(json_object_get(h, "target")))
        targets++;
    }
  }
  CU_ASSERT(json_integer_value(json_object_get(handles, "total")) > 0);
  CU_ASSERT(targets > 0);
  json_decref(handles);
  /* the resources that need no heap answer */
  static const char *const fine[] = {"summary", "threads", "handles", "locks", "waits", "deadlocks", "findings",
                                     "report", NULL};
  for (const char *const *p = fine; *p; p++)
    json_decref(must(q, *p, ""));
  ds_query_close(q);
  unlink(path);
}

/* ---- the CLI ------------------------------------------------------------------------------------- */

static void test_cli_exit_codes(void) {
  ds_fixture *fx = midgc();
  char index[512], args[5000];
  snprintf(index, sizeof index, "%s/midgc-cli.dsindex", ds_test_tmpdir());
  unlink(index);
  int code = -1;
  static const struct {
    const char *command;
    int exit_code;
  } cases[] = {{"index", 0}, {"analyze", 0}, {"findings", 0}, {"threads", 0}, {"deadlocks", 0},
               {"gen 2", 5}, {"heapstat", 5}, {"verify", 5}, {"dominators", 5}, {"strings", 5}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *cmd = cases[i].command, *rest = strchr(cmd, ' ');
    char word[32];
    snprintf(word, sizeof word, "%.*s", (int)(rest ? (size_t)(rest - cmd) : strlen(cmd)), cmd);
    snprintf(args, sizeof args, "%s %s%s --index %s --offline", word, fx->dump, rest ? rest : "", index);
    char *text = run_cli_text(args, &code);
    if (code != cases[i].exit_code)
      fprintf(stderr, "midgc: dumpscope %s exited %d, expected %d\n", cmd, code, cases[i].exit_code);
    CU_ASSERT_EQUAL(code, cases[i].exit_code);
    if (strcmp(cmd, "analyze") == 0) {
      CU_ASSERT_PTR_NOT_NULL(strstr(text, "Dump taken during a garbage collection"));
      CU_ASSERT_PTR_NOT_NULL(strstr(text, "Heap            not walkable"));
      CU_ASSERT_PTR_NULL(strstr(text, "Top types by size")); /* no empty heap sections */
    }
    if (strcmp(cmd, "index") == 0) {
      json_t *doc = run_cli(args, &code);
      CU_ASSERT_EQUAL(code, 0);
      CU_ASSERT(json_is_false(json_object_get(doc, "heap_walkable")));
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "objects")), 0);
      json_decref(doc);
    }
    free(text);
    if (cases[i].exit_code == 5) {
      json_t *doc = run_cli(args, &code);
      CU_ASSERT_EQUAL(code, 5);
      CU_ASSERT_STRING_EQUAL(sget(doc, "error.code"), "heap_not_walkable");
      json_decref(doc);
    }
  }
  unlink(index);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("midgc", NULL, NULL);
  CU_add_test(s, "a mid-GC dump's threads and stacks match the truth", test_threads_and_stacks);
  CU_add_test(s, "its sync blocks, deadlock and findings match the truth", test_locks_and_findings);
  CU_add_test(s, "every heap resource answers heap_not_walkable", test_heap_resources_refuse);
  CU_add_test(s, "the CLI succeeds on it and heap commands exit 5", test_cli_exit_codes);
  return ds_test_main();
}
