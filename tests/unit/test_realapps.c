/*
 * test_realapps.c: real applications nobody here wrote (tests/scenarios/realapps.sh, the "realapps"
 * list of fixtures.json): the Roslyn compiler server (VBCSCompiler) idle after two builds, and a
 * Kestrel application dumped with requests in flight. Their truth is the ClrMD oracle and what
 * the processes are known to be:
 *   - the per-type histogram from the index equals ClrMD's, row by row and in total;
 *   - the threads equal ClrMD's thread list (address, OS id, managed id, alive, finalizer);
 *   - every live thread has a role; the thread pool's gate is "thread pool gate" and a system
 *     thread; top_method is a managed method, never a runtime frame such as [InlinedCallFrame];
 *   - findings raise no warning and no error: both processes are healthy;
 *   - Kestrel: each open request's marker object is alive, exactly as many as the application
 *     counted, and its root path goes through the request's async state machine box;
 *   - the thread pool thresholds: the Kestrel application's one worker blocked in a synchronous
 *     wait is a finding only when blocked_pool_threads and blocked_pool_percent are lowered to it
 *     (and then names exactly that thread); the compiler server's gate thread, which always
 *     waits, is never one, whatever the thresholds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/findings.h"
#include "dumpscope/query.h"
#include "fixture.h"

typedef struct realapp {
  char name[64], process[32], dump[4096];
  json_t *truth;
} realapp;

/* The "realapps" list of the fixture set; a failure (never a skip) when it is empty. */
static size_t load_realapps(realapp **out) {
  char path[4200];
  snprintf(path, sizeof path, "%s/fixtures.json", ds_fixtures_dir());
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(root);
  json_t *list = json_object_get(root, "realapps");
  size_t n = json_array_size(list), i;
  realapp *apps = calloc(n + 1, sizeof *apps);
  json_t *f;
  json_array_foreach(list, i, f) {
    snprintf(apps[i].name, sizeof apps[i].name, "%s", json_string_value(json_object_get(f, "name")));
    snprintf(apps[i].process, sizeof apps[i].process, "%s", json_string_value(json_object_get(f, "process")));
    snprintf(apps[i].dump, sizeof apps[i].dump, "%s/%s", ds_fixtures_dir(),
             json_string_value(json_object_get(f, "dump")));
    snprintf(path, sizeof path, "%s/%s", ds_fixtures_dir(), json_string_value(json_object_get(f, "truth")));
    apps[i].truth = json_load_file(path, 0, &jerr);
    CU_ASSERT_PTR_NOT_NULL(apps[i].truth);
  }
  json_decref(root);
  CU_ASSERT_FATAL(n >= 2); /* the compiler server and the Kestrel application */
  *out = apps;
  return n;
}

/* The index of app's dump built with the finding settings text ("": the defaults), opened. */
static ds_query *open_index_with(const realapp *app, const char *settings_text, char *path, size_t path_len) {
  snprintf(path, path_len, "%s/%s.dsindex", ds_test_tmpdir(), app->name);
  return ds_test_index_open(app->name, app->dump, settings_text, path);
}

static ds_query *open_index(const realapp *app, char *path, size_t path_len) {
  return open_index_with(app, "", path, path_len);
}

/* Our histogram (from the index) against ClrMD's: every MethodTable, its name, count and bytes. */
static void check_histogram(const realapp *app, ds_query *q, json_t *oracle) {
  ds_error err = {0};
  json_t *doc = NULL;
  ds_object_filter all = {.gen = -1};
  CU_ASSERT_EQUAL_FATAL(ds_query_stats(q, &all, DS_SORT_SIZE, 0, &doc, &err), DS_OK);
  json_t *ours = json_object_get(doc, "types"), *theirs = json_object_get(oracle, "types");
  size_t mismatches = 0, i, k;
  json_t *t, *row;
  json_array_foreach(theirs, i, t) {
    const char *mt = json_string_value(json_object_get(t, "mt"));
    json_t *match = NULL;
    json_array_foreach(ours, k, row) if (strcmp(json_string_value(json_object_get(row, "mt")), mt) == 0)
        match = row;
    if (match &&
        json_integer_value(json_object_get(match, "count")) ==
            json_integer_value(json_object_get(t, "count")) &&
        json_integer_value(json_object_get(match, "total_size")) ==
            json_integer_value(json_object_get(t, "total_size")) &&
        strcmp(json_string_value(json_object_get(match, "display_name")),
               json_string_value(json_object_get(t, "name"))) == 0)
      continue;
    if (mismatches++ < 10)
      fprintf(stderr, "%s: MT %s %s: ClrMD %lld objects %lld bytes, ours %s %lld %lld\n", app->name, mt,
              json_string_value(json_object_get(t, "name")), json_integer_value(json_object_get(t, "count")),
              json_integer_value(json_object_get(t, "total_size")),
              match ? json_string_value(json_object_get(match, "display_name")) : "(none)",
              match ? json_integer_value(json_object_get(match, "count")) : 0,
              match ? json_integer_value(json_object_get(match, "total_size")) : 0);
  }
  CU_ASSERT_EQUAL(mismatches, 0);
  CU_ASSERT_EQUAL(json_array_size(ours), json_array_size(theirs));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "object_count")),
                  json_integer_value(json_object_get(oracle, "object_count")));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "total_size")),
                  json_integer_value(json_object_get(oracle, "total_size")));
  fprintf(stderr, "%s: %lld objects, %lld bytes, %zu types: equal to ClrMD\n", app->name,
          json_integer_value(json_object_get(doc, "object_count")),
          json_integer_value(json_object_get(doc, "total_size")), json_array_size(ours));
  json_decref(doc);
}

static bool same_string(json_t *a, json_t *b, const char *key) {
  const char *x = json_string_value(json_object_get(a, key)), *y = json_string_value(json_object_get(b, key));
  return x && y && strcmp(x, y) == 0;
}

static bool same_value(json_t *a, json_t *b, const char *key) {
  return json_equal(json_object_get(a, key), json_object_get(b, key));
}

/* Our threads against ClrMD's list, in the runtime's order; then the roles and methods. */
static void check_threads(const realapp *app, ds_query *q, json_t *oracle) {
  ds_error err = {0};
  json_t *doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_threads(q, &doc, &err), DS_OK);
  json_t *ours = json_object_get(doc, "threads"), *theirs = json_object_get(oracle, "threads");
  CU_ASSERT_EQUAL(json_array_size(ours), json_array_size(theirs));
  size_t i, gates = 0, workers = 0;
  json_t *t;
  json_array_foreach(theirs, i, t) {
    json_t *o = json_array_get(ours, i);
    bool same = o && same_string(o, t, "address") && same_value(o, t, "os_id") &&
                same_value(o, t, "managed_id") && same_value(o, t, "alive") && same_value(o, t, "finalizer");
    if (!same)
      fprintf(stderr, "%s: thread %zu differs from ClrMD's (os id %lld)\n", app->name, i,
              json_integer_value(json_object_get(t, "os_id")));
    CU_ASSERT(same);
  }
  json_array_foreach(ours, i, t) {
    const char *role = json_string_value(json_object_get(t, "role"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(role);
    CU_ASSERT(json_is_boolean(json_object_get(t, "system_thread")));
    json_t *method = json_object_get(t, "top_method");
    if (json_is_object(method)) {
      const char *m = json_string_value(json_object_get(method, "method"));
      CU_ASSERT(m && m[0] != '[');
      CU_ASSERT(json_is_false(json_object_get(method, "runtime_frame")));
    }
    if (strcmp(role, "thread pool gate") == 0) {
      gates++;
      CU_ASSERT(json_is_true(json_object_get(t, "system_thread")));
    }
    if (strcmp(role, "thread pool worker") == 0) {
      workers++;
      CU_ASSERT(json_is_false(json_object_get(t, "system_thread")));
      CU_ASSERT(json_is_object(method)); /* an idle worker waits in LowLevelLifoSemaphore */
    }
    if (json_is_true(json_object_get(t, "finalizer")))
      CU_ASSERT_STRING_EQUAL(role, "finalizer");
    if (json_is_false(json_object_get(t, "alive")))
      CU_ASSERT_STRING_EQUAL(role, "dead");
  }
  /* both processes ran work on the pool, so the pool has its gate thread and workers */
  CU_ASSERT_EQUAL(gates, 1);
  CU_ASSERT(workers >= 1);
  json_decref(doc);
}

/* A healthy process: findings may inform, never warn. */
static void check_findings(const realapp *app, ds_query *q) {
  ds_error err = {0};
  json_t *doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_findings(q, &doc, &err), DS_OK);
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f) {
    const char *severity = json_string_value(json_object_get(f, "severity"));
    bool quiet = strcmp(severity, "information") == 0 || strcmp(severity, "notification") == 0;
    if (!quiet)
      fprintf(stderr, "%s: healthy process, yet %s: %s\n", app->name, severity,
              json_string_value(json_object_get(f, "title")));
    CU_ASSERT(quiet);
  }
  json_decref(doc);
}

/* Kestrel: the open requests' markers, counted and held through async state machine boxes. */
static void check_requests(const realapp *app, ds_query *q) {
  size_t i;
  json_t *want;
  json_int_t total = 0;
  json_array_foreach(json_object_get(app->truth, "in_flight"), i, want) {
    ds_error err = {0};
    json_t *doc = NULL;
    const char *type = json_string_value(json_object_get(want, "type"));
    ds_object_filter live = {.gen = -1, .type_text = type, .type_exact = true, .liveness = DS_LIVE_ONLY};
    CU_ASSERT_EQUAL_FATAL(ds_query_objects(q, &live, 0, 1000, &doc, &err), DS_OK);
    json_t *objects = json_object_get(doc, "objects");
    CU_ASSERT_EQUAL((json_int_t)json_array_size(objects), json_integer_value(json_object_get(want, "count")));
    total += (json_int_t)json_array_size(objects);
    size_t k;
    json_t *o;
    json_array_foreach(objects, k, o) {
      uint64_t addr = 0;
      ds_test_hex(json_string_value(json_object_get(o, "address")), &addr);
      json_t *paths = NULL;
      CU_ASSERT_EQUAL_FATAL(ds_query_root_paths(q, addr, false, 1, &paths, &err), DS_OK);
      json_t *hops = json_object_get(json_array_get(json_object_get(paths, "paths"), 0), "objects");
      bool via_box = false;
      size_t h;
      json_t *hop;
      json_array_foreach(hops, h, hop) via_box |=
          strstr(json_string_value(json_object_get(hop, "type")), "AsyncStateMachineBox") != NULL;
      if (!via_box)
        fprintf(stderr, "%s: %s %s is not held through an async state machine box\n", app->name, type,
                json_string_value(json_object_get(o, "address")));
      CU_ASSERT(via_box);
      json_decref(paths);
    }
    json_decref(doc);
  }
  CU_ASSERT_EQUAL(total, json_integer_value(json_object_get(app->truth, "requests_in_flight")));
  /* each open request has its HttpContext */
  ds_error err = {0};
  json_t *doc = NULL;
  ds_object_filter contexts = {.gen = -1,
                               .type_text = "Microsoft.AspNetCore.Http.DefaultHttpContext",
                               .type_exact = true,
                               .liveness = DS_LIVE_ONLY};
  CU_ASSERT_EQUAL_FATAL(ds_query_stats(q, &contexts, DS_SORT_SIZE, 0, &doc, &err), DS_OK);
  CU_ASSERT(json_integer_value(json_object_get(doc, "object_count")) >= total);
  json_decref(doc);
}

/* The thread pool finding of app's dump under settings_text (NULL when there is none), its
 * evidence's thread OS ids in *os_ids (at most 8), their number in *count. */
static json_t *pool_finding(const realapp *app, const char *settings_text, json_int_t *os_ids,
                            size_t *count) {
  char path[512];
  ds_query *q = open_index_with(app, settings_text, path, sizeof path);
  ds_error err = {0};
  json_t *doc = NULL, *found = NULL, *f;
  CU_ASSERT_EQUAL_FATAL(ds_query_findings(q, &doc, &err), DS_OK);
  size_t i;
  *count = 0;
  json_array_foreach(json_object_get(doc, "findings"), i, f) {
    const char *code = json_string_value(json_object_get(f, "code"));
    if (strcmp(code, "blocked-thread-pool") != 0 && strcmp(code, "thread-pool-starvation") != 0)
      continue;
    found = json_deep_copy(f);
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(f, "evidence"), k,
                       e) if (json_is_object(json_object_get(e, "thread")) && *count < 8) os_ids[(*count)++] =
        json_integer_value(json_object_get(json_object_get(e, "thread"), "os_id"));
  }
  json_decref(doc);
  ds_query_close(q);
  unlink(path);
  return found;
}

/* Kestrel: its one blocked worker is reported only under thresholds lowered to it. */
static void check_pool_thresholds_kestrel(const realapp *app) {
  json_t *blocked = json_object_get(app->truth, "blocked_worker");
  CU_ASSERT_PTR_NOT_NULL_FATAL(blocked);
  json_int_t ids[8];
  size_t count;
  /* lowered to one thread and 1%: exactly the blocked worker, as a warning (the pool has others) */
  json_t *f = pool_finding(app, "blocked_pool_threads=1,blocked_pool_percent=1", ids, &count);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "code")), "blocked-thread-pool");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "severity")), "warning");
  CU_ASSERT_EQUAL(count, 1);
  CU_ASSERT_EQUAL(ids[0], json_integer_value(json_object_get(blocked, "os_id")));
  json_decref(f);
  /* one blocked thread is below a count of two, and below a share of 100% of several workers */
  static const char *const quiet[] = {"blocked_pool_threads=2,blocked_pool_percent=1",
                                      "blocked_pool_threads=1,blocked_pool_percent=100"};
  for (size_t k = 0; k < 2; k++) {
    f = pool_finding(app, quiet[k], ids, &count);
    if (f)
      fprintf(stderr, "%s: %s: unexpected %s\n", app->name, quiet[k],
              json_string_value(json_object_get(f, "title")));
    CU_ASSERT_PTR_NULL(f);
    json_decref(f);
  }
}

/* The compiler server's gate thread waits by design: no threshold makes it a blocked worker. */
static void check_pool_thresholds_idle(const realapp *app) {
  json_int_t ids[8];
  size_t count;
  json_t *f = pool_finding(app, "blocked_pool_threads=1,blocked_pool_percent=1", ids, &count);
  if (f)
    fprintf(stderr, "%s: idle, yet %s\n", app->name, json_string_value(json_object_get(f, "title")));
  CU_ASSERT_PTR_NULL(f);
  json_decref(f);
}

static void test_realapps(void) {
  realapp *apps;
  size_t n = load_realapps(&apps);
  bool vbcs = false, aspnet = false;
  for (size_t i = 0; i < n; i++) {
    realapp *app = &apps[i];
    json_t *oracle = ds_oracle_run(app->dump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(oracle);
    char path[512];
    ds_query *q = open_index(app, path, sizeof path);
    check_histogram(app, q, oracle);
    check_threads(app, q, oracle);
    check_findings(app, q);
    if (strcmp(app->process, "aspnet") == 0) {
      aspnet = true;
      check_requests(app, q);
    }
    ds_query_close(q);
    unlink(path);
    if (strcmp(app->process, "aspnet") == 0)
      check_pool_thresholds_kestrel(app);
    if (strcmp(app->process, "vbcs") == 0) {
      vbcs = true;
      check_pool_thresholds_idle(app);
    }
    json_decref(oracle);
    json_decref(app->truth);
  }
  CU_ASSERT(vbcs && aspnet);
  free(apps);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("realapps", NULL, NULL);
  CU_add_test(
      s, "compiler server and Kestrel: histogram and threads equal ClrMD's, roles, no warnings, requests",
      test_realapps);
  return ds_test_main();
}
