/*
 * test_api.c: api/ without HTTP. The router (every route of the table, trailing slashes, empty
 * segments, unknown paths, parameters that do not fit), the query-string decoder and the typed
 * parameter readers, the status mapping and the error document; then every resource of the table
 * called through ds_api_call on a real fixture index (main-wks-heap) with valid parameters,
 * checked against the scenario truth, and with bad ones, checked for the error code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "dumpscope/rootscan.h"
#include "fixture.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* Parses "name=value&..." into fresh args (CUnit failure when it does not parse). */
static ds_api_args args_of(const char *query) {
  ds_api_args a = {0};
  ds_error err = {0};
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&a, query, &err), DS_OK);
  return a;
}

static const char *route_name(const char *subpath, ds_api_args *a, ds_error *err) {
  const ds_api_resource *r = ds_api_route(subpath, a, err);
  return r ? r->name : NULL;
}

/* ---- routing --------------------------------------------------------------------------------- */

static void test_routes(void) {
  static const struct {
    const char *path, *name, *param, *value;
  } cases[] = {
      {"summary", "summary", NULL, NULL},
      {"gen/2", "gen", "gen", "2"},
      {"gen/loh", "gen", "gen", "loh"},
      {"gen/2/objects", "gen_objects", "gen", "2"},
      {"heap/stat", "heap_stat", NULL, NULL},
      {"heap/objects", "heap_objects", NULL, NULL},
      {"types", "types", NULL, NULL},
      {"objects/0x7f00", "object", "addr", "0x7f00"},
      {"objects/7f00/refs", "refs", "addr", "7f00"},
      {"roots/0x10", "roots", "addr", "0x10"},
      {"addresses/0x10", "address", "addr", "0x10"},
      {"handles", "handles", NULL, NULL},
      {"finalizer", "finalizer", NULL, NULL},
      {"fragmentation", "fragmentation", NULL, NULL},
      {"strings", "strings", NULL, NULL},
      {"threads", "threads", NULL, NULL},
      {"threads/m4/stack", "stack", "thread", "m4"},
      {"threads/2832/objects", "thread_objects", "thread", "2832"},
      {"locks", "locks", NULL, NULL},
      {"waits", "waits", NULL, NULL},
      {"deadlocks", "deadlocks", NULL, NULL},
      {"findings", "findings", NULL, NULL},
      {"heap", "heap", NULL, NULL},
      {"types/Scenarios.Invoice", "mdt", "type", "Scenarios.Invoice"},
      {"search", "mx", NULL, NULL},
      {"memory/0x10", "mln", "addr", "0x10"},
      {"threads/m1/frames", "frames", "thread", "m1"},
      {"code/0x10", "mu", "addr", "0x10"},
      {"threads/m1/mixed", "mk", "thread", "m1"},
      {"methods/Scenarios.Invoice..ctor/code", "muf", "method", "Scenarios.Invoice..ctor"},
      {"dominators", "dominators", NULL, NULL},
      {"diff", "diff", NULL, NULL},
      {"report", "report", NULL, NULL},
      /* one trailing slash, as /dumps/ and /dumps/{id}/ */
      {"summary/", "summary", NULL, NULL},
      {"gen/2/", "gen", "gen", "2"},
      {"objects/0x10/refs/", "refs", "addr", "0x10"},
  };
  bool routed[64] = {false};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ds_api_args a = {0};
    ds_error err = {0};
    const char *name = route_name(cases[i].path, &a, &err);
    CU_ASSERT_PTR_NOT_NULL(name);
    if (!name) {
      fprintf(stderr, "no route for %s: %s\n", cases[i].path, err.message);
      continue;
    }
    CU_ASSERT_STRING_EQUAL(name, cases[i].name);
    if (cases[i].param) {
      CU_ASSERT_EQUAL(a.count, 1);
      CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, cases[i].param), cases[i].value);
    } else {
      CU_ASSERT_EQUAL(a.count, 0);
    }
    for (size_t k = 0; k < ds_api_resource_count(); k++)
      if (strcmp(ds_api_resource_at(k)->name, name) == 0)
        routed[k] = true;
  }
  /* every row of the table has a route case above */
  CU_ASSERT_EQUAL(ds_api_resource_count(), 32);
  for (size_t k = 0; k < ds_api_resource_count(); k++) {
    CU_ASSERT(routed[k]);
    CU_ASSERT_PTR_EQUAL(ds_api_find(ds_api_resource_at(k)->name), ds_api_resource_at(k));
  }
  CU_ASSERT_PTR_NULL(ds_api_resource_at(ds_api_resource_count()));
  CU_ASSERT_PTR_NULL(ds_api_find("nonsense"));
}

static void test_unknown_routes(void) {
  static const char *const paths[] = {
      "", "/", "//", "nonsense", "gen", "gen/", "gen//objects", "gen/2//", "gen/2/objects/x", "objects",
      "objects/", "objects//refs", "roots/0x10/refs", "threads/m4", "threads//stack", "summary//",
      "summary/x", "/summary", "heap/x", "heap/stat/objects", "Gen/2", "locks?x=1", "summaryx",
  };
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    ds_api_args a = {0};
    ds_error err = {0};
    const ds_api_resource *r = ds_api_route(paths[i], &a, &err);
    if (r)
      fprintf(stderr, "\"%s\" routed to %s\n", paths[i], r->name);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT_EQUAL(err.code, DS_E_NOT_FOUND);
    CU_ASSERT_EQUAL(a.count, 0);
  }
  /* a path parameter longer than a parameter value: no route */
  char long_path[3000] = "objects/";
  memset(long_path + 8, 'a', 1100);
  long_path[1108] = '\0';
  ds_api_args a = {0};
  ds_error err = {0};
  CU_ASSERT_PTR_NULL(ds_api_route(long_path, &a, &err));
  CU_ASSERT_EQUAL(err.code, DS_E_NOT_FOUND);
  memset(long_path, 'a', sizeof long_path - 1);
  long_path[sizeof long_path - 1] = '\0';
  CU_ASSERT_PTR_NULL(ds_api_route(long_path, &a, &err));
  /* a route that matches while the arguments are full: the argument error, not "no route" */
  ds_api_args full = {0};
  for (int i = 0; i < DS_API_MAX_PARAMS; i++) {
    char name[16];
    snprintf(name, sizeof name, "p%d", i);
    CU_ASSERT_EQUAL(ds_api_args_set(&full, name, "1", &err), DS_OK);
  }
  CU_ASSERT_PTR_NULL(ds_api_route("gen/2", &full, &err));
  CU_ASSERT_EQUAL(err.code, DS_E_ARG);
  CU_ASSERT_PTR_NOT_NULL(ds_api_route("summary", &full, &err)); /* no path parameter to add */
}

/* ---- query strings and parameter readers ------------------------------------------------------ */

static void test_query_strings(void) {
  ds_api_args a = args_of("a=1&b=x%20y&c=x+y&d&e=&&f=%C3%A9&a=2");
  CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, "a"), "2"); /* the last one wins */
  CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, "b"), "x y");
  CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, "c"), "x y");
  CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, "d"), "");
  CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, "e"), "");
  CU_ASSERT_STRING_EQUAL(ds_api_args_get(&a, "f"), "\xc3\xa9");
  CU_ASSERT_PTR_NULL(ds_api_args_get(&a, "g"));
  CU_ASSERT_EQUAL(a.count, 6);
  ds_api_args empty = args_of("");
  CU_ASSERT_EQUAL(empty.count, 0);
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&empty, NULL, NULL), DS_OK);

  static const char *const bad[] = {"a=%zz", "a=%4", "a=%", "a=%00", "%zz=1", "=1", "a=1&=2"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ds_api_args b = {0};
    ds_error err = {0};
    CU_ASSERT_EQUAL(ds_api_args_parse_query(&b, bad[i], &err), DS_E_ARG);
    CU_ASSERT(err.message[0] != '\0');
  }
  /* bounds: a value of DS_API_MAX_PARAM_BYTES - 1 bytes fits, one more does not; names < 32 */
  char *q = malloc(DS_API_MAX_PARAM_BYTES + 16);
  ds_error err = {0};
  snprintf(q, DS_API_MAX_PARAM_BYTES + 16, "v=%0*d", DS_API_MAX_PARAM_BYTES - 1, 0);
  ds_api_args b = {0};
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&b, q, &err), DS_OK);
  CU_ASSERT_EQUAL(strlen(ds_api_args_get(&b, "v")), DS_API_MAX_PARAM_BYTES - 1);
  snprintf(q, DS_API_MAX_PARAM_BYTES + 16, "v=%0*d", DS_API_MAX_PARAM_BYTES, 0);
  ds_api_args c = {0};
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&c, q, &err), DS_E_ARG);
  free(q);
  ds_api_args n = {0};
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&n, "abcdefghijklmnopqrstuvwxyz0123456=1", &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&n, "abcdefghijklmnopqrstuvwxyz01234=1", &err), DS_OK);
  /* at most DS_API_MAX_PARAMS names: more is bad input (400), not a server limit */
  char many[DS_API_MAX_PARAMS * 8 + 16] = "";
  size_t used = 0;
  for (int i = 0; i <= DS_API_MAX_PARAMS; i++)
    used += (size_t)snprintf(many + used, sizeof many - used, "%sp%d=1", i ? "&" : "", i);
  ds_api_args m = {0};
  CU_ASSERT_EQUAL(ds_api_args_parse_query(&m, many, &err), DS_E_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "too many parameters"));
  CU_ASSERT_EQUAL(ds_api_http_status(err.code), 400);
}

static void test_readers(void) {
  ds_error err = {0};
  uint64_t v;
  ds_api_args a = args_of("n=42&h=0x2A&big=18446744073709551615&over=18446744073709551616&neg=-1&sp=%205"
                          "&plus=%2B5&junk=5x&empty=&hex=0x&b1=true&b2=0&b3=yes&b4=&b5=maybe"
                          "&e=asc&e2=ASC&addr=0x7F3a&bare=7f3a&a17=0x12345678901234567&az=0xZZ&t=m");
  CU_ASSERT_EQUAL(ds_api_get_u64(&a, "n", 7, 0, 100, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, 42);
  CU_ASSERT_EQUAL(ds_api_get_u64(&a, "h", 7, 0, 100, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, 42);
  CU_ASSERT_EQUAL(ds_api_get_u64(&a, "absent", 7, 0, 100, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, 7);
  CU_ASSERT_EQUAL(ds_api_get_u64(&a, "big", 0, 0, UINT64_MAX, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, UINT64_MAX);
  static const char *const bad_numbers[] = {"over", "neg", "sp", "plus", "junk", "empty", "hex"};
  for (size_t i = 0; i < sizeof bad_numbers / sizeof *bad_numbers; i++) {
    CU_ASSERT_EQUAL(ds_api_get_u64(&a, bad_numbers[i], 0, 0, UINT64_MAX, &v, &err), DS_E_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, bad_numbers[i])); /* the message names the parameter */
  }
  CU_ASSERT_EQUAL(ds_api_get_u64(&a, "n", 0, 43, 100, &v, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_api_get_u64(&a, "n", 0, 0, 41, &v, &err), DS_E_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "between 0 and 41"));

  bool b;
  CU_ASSERT_EQUAL(ds_api_get_bool(&a, "b1", false, &b, &err), DS_OK);
  CU_ASSERT(b);
  CU_ASSERT_EQUAL(ds_api_get_bool(&a, "b2", true, &b, &err), DS_OK);
  CU_ASSERT(!b);
  CU_ASSERT_EQUAL(ds_api_get_bool(&a, "b3", false, &b, &err), DS_OK);
  CU_ASSERT(b);
  CU_ASSERT_EQUAL(ds_api_get_bool(&a, "b4", false, &b, &err), DS_OK);
  CU_ASSERT(b);
  CU_ASSERT_EQUAL(ds_api_get_bool(&a, "absent", true, &b, &err), DS_OK);
  CU_ASSERT(b);
  CU_ASSERT_EQUAL(ds_api_get_bool(&a, "b5", false, &b, &err), DS_E_ARG);

  static const char *const words[] = {"desc", "asc", NULL};
  int e;
  CU_ASSERT_EQUAL(ds_api_get_enum(&a, "e", words, 0, &e, &err), DS_OK);
  CU_ASSERT_EQUAL(e, 1);
  CU_ASSERT_EQUAL(ds_api_get_enum(&a, "absent", words, -1, &e, &err), DS_OK);
  CU_ASSERT_EQUAL(e, -1);
  CU_ASSERT_EQUAL(ds_api_get_enum(&a, "e2", words, 0, &e, &err), DS_E_ARG);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "desc, asc"));

  CU_ASSERT_EQUAL(ds_api_get_address(&a, "addr", true, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, 0x7f3a);
  CU_ASSERT_EQUAL(ds_api_get_address(&a, "bare", true, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, 0x7f3a);
  CU_ASSERT_EQUAL(ds_api_get_address(&a, "absent", false, &v, &err), DS_OK);
  CU_ASSERT_EQUAL(v, 0);
  CU_ASSERT_EQUAL(ds_api_get_address(&a, "absent", true, &v, &err), DS_E_ARG);
  static const char *const bad_addresses[] = {"a17", "az", "hex", "empty", "neg", "sp"};
  for (size_t i = 0; i < sizeof bad_addresses / sizeof *bad_addresses; i++)
    CU_ASSERT_EQUAL(ds_api_get_address(&a, bad_addresses[i], true, &v, &err), DS_E_ARG);
  CU_ASSERT(ds_api_parse_address("ffffffffffffffff", &v));
  CU_ASSERT_EQUAL(v, UINT64_MAX);
  CU_ASSERT(!ds_api_parse_address(NULL, &v));
  CU_ASSERT(!ds_api_parse_address("0X", &v));

  /* threads: OS ids need no index; a bad one is an argument error before any lookup */
  uint32_t tid;
  ds_api_args t = args_of("thread=2832");
  CU_ASSERT_EQUAL(ds_api_get_thread(NULL, &t, "thread", &tid, &err), DS_OK);
  CU_ASSERT_EQUAL(tid, 2832);
  ds_api_args t2 = args_of("thread=4294967296");
  CU_ASSERT_EQUAL(ds_api_get_thread(NULL, &t2, "thread", &tid, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_api_get_thread(NULL, &a, "t", &tid, &err), DS_E_ARG);
  CU_ASSERT_EQUAL(ds_api_get_thread(NULL, &a, "absent", &tid, &err), DS_E_ARG);
}

static void test_errors(void) {
  CU_ASSERT_EQUAL(ds_api_http_status(DS_OK), 200);
  CU_ASSERT_EQUAL(ds_api_http_status(DS_E_ARG), 400);
  CU_ASSERT_EQUAL(ds_api_http_status(DS_E_NOT_FOUND), 404);
  CU_ASSERT_EQUAL(ds_api_http_status(DS_E_TRUNCATED), 422);
  CU_ASSERT_EQUAL(ds_api_http_status(DS_E_CORRUPT), 503);
  CU_ASSERT_EQUAL(ds_api_http_status(DS_E_NOMEM), 500);
  ds_error err = {0};
  ds_error_set(&err, DS_E_ARG, "limit must be between 1 and 10000, got \xff");
  json_t *doc = ds_api_error_doc(&err, "detail \xfe");
  json_t *inner = json_object_get(doc, "error");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(inner, "code")), "invalid_argument");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(inner, "message")),
                         "limit must be between 1 and 10000, got ?");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(inner, "detail")), "detail ?");
  CU_ASSERT_EQUAL(json_object_size(doc), 1);
  CU_ASSERT_EQUAL(json_object_size(inner), 3);
  json_decref(doc);
  ds_error none = {.code = DS_E_NOT_FOUND};
  doc = ds_api_error_doc(&none, NULL);
  inner = json_object_get(doc, "error");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(inner, "message")), "not_found");
  CU_ASSERT_PTR_NULL(json_object_get(inner, "detail"));
  json_decref(doc);
}

/* ---- every resource on a real index -------------------------------------------------------- */

static ds_fixture *fx;
static ds_query *q;

static json_t *truth_marker(const char *name) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(fx->truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return m;
  json_array_foreach(json_object_get(fx->truth, "strings"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return m;
  CU_FAIL_FATAL("marker missing from the truth");
  return NULL;
}

static const char *marker_addr(const char *name) {
  return json_string_value(json_object_get(truth_marker(name), "address"));
}

static json_t *truth_thread(const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(fx->truth, "threads"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
      return t;
  CU_FAIL_FATAL("thread missing from the truth");
  return NULL;
}

static json_int_t thread_os(const char *name) { return json_integer_value(json_object_get(truth_thread(name), "os_id")); }

static json_int_t num(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }
static const char *str(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* Calls resource `name` with the query string and the path parameter; expect is the status. */
static json_t *call(const char *name, const char *path_value, const char *query, ds_status expect) {
  const ds_api_resource *r = ds_api_find(name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  ds_api_args a = args_of(query);
  ds_error err = {0};
  if (r->path_param)
    CU_ASSERT_EQUAL_FATAL(ds_api_args_set(&a, r->path_param, path_value, &err), DS_OK);
  json_t *doc = NULL;
  ds_status rc = ds_api_call(r, q, &a, &doc, &err);
  if (rc != expect)
    fprintf(stderr, "%s %s ?%s: got %s (%s), want %s\n", name, path_value ? path_value : "", query,
            ds_status_name(rc), err.message, ds_status_name(expect));
  CU_ASSERT_EQUAL(rc, expect);
  if (rc != DS_OK) {
    CU_ASSERT_PTR_NULL(doc);
    CU_ASSERT(err.message[0] != '\0');
    return NULL;
  }
  CU_ASSERT_FATAL(json_is_object(doc));
  return doc;
}

/* The row of a histogram document for a type, or NULL. */
static json_t *stat_row(json_t *doc, const char *type) {
  size_t i;
  json_t *row;
  json_array_foreach(json_object_get(doc, "types"), i, row)
    if (strcmp(str(row, "type"), type) == 0)
      return row;
  return NULL;
}

/* Opens (building it the first time) the index of main-wks-heap; called by each resource test, so
 * a failure is a test failure with its reason, never an assertion outside a test. */
static int open_index(void) {
  if (q)
    return 0;
  ds_fixture *all = NULL;
  size_t n = ds_fixtures("main", &all);
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i].name, "main-wks-heap") == 0)
      fx = &all[i];
  if (!fx)
    return 1;
  char path[4200];
  snprintf(path, sizeof path, "%s/%s.dsindex", ds_test_tmpdir(), fx->name);
  ds_error err = {0};
  if (access(path, R_OK) != 0) {
    ds_analysis *an = NULL;
    ds_dac_search search = {.offline = true};
    if (ds_analysis_open(fx->dump, &search, &an, &err) != DS_OK) {
      fprintf(stderr, "%s: %s\n", fx->name, err.message);
      return 1;
    }
    ds_build_stats stats;
    ds_status rc = ds_index_build(an, NULL, path, &stats, &err);
    ds_analysis_close(an);
    if (rc != DS_OK) {
      fprintf(stderr, "%s: %s\n", fx->name, err.message);
      return 1;
    }
  }
  if (ds_query_open(path, fx->dump, &q, &err) != DS_OK) {
    fprintf(stderr, "%s: %s\n", path, err.message);
    return 1;
  }
  return 0;
}

static int close_index(void) {
  ds_query_close(q);
  q = NULL;
  return 0;
}

#define NEED_INDEX() CU_ASSERT_EQUAL_FATAL(open_index(), 0)

static void test_histograms(void) {
  NEED_INDEX();
  json_t *invoice = json_object_get(json_object_get(fx->truth, "types"), "Scenarios.Invoice");
  json_t *doc = call("gen", "2", "limit=10000", DS_OK);
  json_t *row = stat_row(doc, "Scenarios.Invoice");
  CU_ASSERT_PTR_NOT_NULL_FATAL(row);
  CU_ASSERT_EQUAL(num(row, "count"), num(invoice, "count"));
  CU_ASSERT_EQUAL(num(row, "total_size"), num(invoice, "total_size"));
  CU_ASSERT_STRING_EQUAL(str(doc, "generation"), "gen2");
  CU_ASSERT_EQUAL(num(doc, "total"), num(doc, "type_count"));
  CU_ASSERT(json_is_null(json_object_get(doc, "next_cursor")));
  json_int_t any = num(doc, "object_count");
  json_t *types = json_object_get(doc, "types");

  /* paging: the window and its cursor */
  json_t *p1 = call("gen", "2", "limit=3", DS_OK), *p2 = call("gen", "2", "limit=3&cursor=3", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(p1, "types")), 3);
  CU_ASSERT_STRING_EQUAL(str(p1, "next_cursor"), "3");
  CU_ASSERT(json_equal(json_array_get(json_object_get(p2, "types"), 0), json_array_get(types, 3)));
  json_t *last = call("gen", "2", "limit=3&cursor=100000", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(last, "types")), 0);
  CU_ASSERT(json_is_null(json_object_get(last, "next_cursor")));

  /* liveness splits the generation; order reverses; the exact filter keeps one type */
  json_t *live = call("gen", "2", "liveness=live&limit=1", DS_OK), *dead = call("gen", "2", "liveness=dead&limit=1", DS_OK);
  CU_ASSERT_EQUAL(num(live, "object_count") + num(dead, "object_count"), any);
  json_t *asc = call("gen", "2", "order=asc&limit=10000", DS_OK);
  size_t n = json_array_size(types);
  CU_ASSERT(n > 2 && json_equal(json_array_get(json_object_get(asc, "types"), 0), json_array_get(types, n - 1)));
  json_t *exact = call("gen", "gen2", "type=Scenarios.Invoice&exact=1", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(exact, "types")), 1);
  json_t *by_name = call("gen", "2", "sort=name&limit=2", DS_OK);
  CU_ASSERT_STRING_EQUAL(str(by_name, "order"), "asc");
  CU_ASSERT(strcmp(str(json_array_get(json_object_get(by_name, "types"), 0), "type"),
                   str(json_array_get(json_object_get(by_name, "types"), 1), "type")) < 0);

  json_t *heap = call("heap_stat", NULL, "gen=2&type=Scenarios.Invoice&exact=true", DS_OK);
  CU_ASSERT_EQUAL(num(stat_row(heap, "Scenarios.Invoice"), "count"), num(invoice, "count"));
  json_t *free_only = call("heap_stat", NULL, "free=true", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(free_only, "types")), 1);
  CU_ASSERT_PTR_NOT_NULL(stat_row(free_only, "Free"));
  json_t *mx = call("types", NULL, "q=Scenarios.Invoice", DS_OK);
  CU_ASSERT_PTR_NOT_NULL(stat_row(mx, "Scenarios.Invoice[]"));
  CU_ASSERT_STRING_EQUAL(str(mx, "generation"), "all");

  /* bad parameters */
  call("gen", "7", "", DS_E_ARG);       /* unknown generation */
  call("gen", "2", "limit=0", DS_E_ARG);
  call("gen", "2", "limit=10001", DS_E_ARG);
  call("gen", "2", "cursor=x", DS_E_ARG);
  call("gen", "2", "cursor=-1", DS_E_ARG);
  call("gen", "2", "cursor=%205", DS_E_ARG);
  call("gen", "2", "cursor=99999999999", DS_E_ARG);
  call("gen", "2", "sort=weight", DS_E_ARG);
  call("gen", "2", "order=up", DS_E_ARG);
  call("gen", "2", "liveness=maybe", DS_E_ARG);
  call("gen", "2", "min_size=9&max_size=3", DS_E_ARG);
  call("gen", "2", "free=true", DS_E_ARG); /* heap/stat takes free, gen does not */
  call("heap_stat", NULL, "gen=7", DS_E_ARG);
  call("types", NULL, "type=x", DS_E_ARG);
  json_t *docs[] = {doc, p1, p2, last, live, dead, asc, exact, by_name, heap, free_only, mx};
  for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
    json_decref(docs[i]);
}

static void test_listings(void) {
  NEED_INDEX();
  json_t *p1 = call("gen_objects", "2", "limit=3", DS_OK);
  json_t *objs = json_object_get(p1, "objects");
  CU_ASSERT_EQUAL(json_array_size(objs), 3);
  CU_ASSERT_STRING_EQUAL(str(json_array_get(objs, 0), "generation"), "gen2");
  char query[128];
  snprintf(query, sizeof query, "limit=3&cursor=%s", str(p1, "next_cursor"));
  json_t *p2 = call("gen_objects", "2", query, DS_OK);
  uint64_t a = 0, b = 0;
  ds_test_hex(str(json_array_get(objs, 2), "address"), &a);
  ds_test_hex(str(json_array_get(json_object_get(p2, "objects"), 0), "address"), &b);
  CU_ASSERT(a < b);
  json_t *marker = call("heap_objects", NULL, "type=Scenarios.Marker&exact=true", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(marker, "objects")), 1);
  CU_ASSERT_STRING_EQUAL(str(json_array_get(json_object_get(marker, "objects"), 0), "address"),
                         marker_addr("marker.local"));
  CU_ASSERT(json_is_null(json_object_get(marker, "next_cursor")));
  call("gen_objects", "2", "cursor=0xZZ", DS_E_ARG);
  call("gen_objects", "x", "", DS_E_ARG);
  call("heap_objects", NULL, "limit=0", DS_E_ARG);
  call("heap_objects", NULL, "sort=size", DS_E_ARG); /* listings are in address order */
  json_decref(p1);
  json_decref(p2);
  json_decref(marker);
}

static void test_object_resources(void) {
  NEED_INDEX();
  const char *inv = marker_addr("invoice.first");
  json_t *number = truth_marker("invoice.first.number");
  json_t *o = call("object", inv, "", DS_OK);
  CU_ASSERT_STRING_EQUAL(str(o, "type"), "Scenarios.Invoice");
  CU_ASSERT_EQUAL(num(o, "size"), num(truth_marker("invoice.first"), "size"));
  CU_ASSERT(json_is_true(json_object_get(o, "live")));
  size_t i;
  json_t *f, *found = NULL;
  json_array_foreach(json_object_get(o, "fields"), i, f)
    if (strcmp(str(f, "name"), "Number") == 0)
      found = json_object_get(f, "value");
  CU_ASSERT_PTR_NOT_NULL_FATAL(found);
  CU_ASSERT_STRING_EQUAL(str(found, "address"), str(number, "address"));
  CU_ASSERT_STRING_EQUAL(str(found, "string"), str(number, "value"));
  json_t *arr = call("object", marker_addr("invoice.list.items"), "offset=5&limit=2", DS_OK);
  CU_ASSERT_EQUAL(num(arr, "length"),
                  json_integer_value(json_object_get(json_object_get(json_object_get(fx->truth, "scenario_data"), "leak"),
                                                     "invoice_count")));
  CU_ASSERT_EQUAL(num(arr, "element_offset"), 5);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(arr, "elements")), 2);

  json_t *in = call("refs", inv, "direction=in", DS_OK), *out = call("refs", inv, "direction=out&limit=1", DS_OK);
  CU_ASSERT_PTR_NULL(json_object_get(in, "references"));
  CU_ASSERT(json_array_size(json_object_get(in, "referenced_by")) >= 2);
  CU_ASSERT_PTR_NULL(json_object_get(out, "referenced_by"));
  CU_ASSERT_EQUAL(json_array_size(json_object_get(out, "references")), 1);

  json_t *roots = call("roots", marker_addr("marker.local"), "", DS_OK);
  json_t *path = json_array_get(json_object_get(roots, "paths"), 0);
  CU_ASSERT_STRING_EQUAL(str(json_object_get(path, "root"), "kind"), "stack");
  CU_ASSERT_EQUAL(num(json_object_get(json_object_get(path, "root"), "thread"), "os_id"), thread_os("marker-holder"));
  json_t *all = call("roots", marker_addr("marker.local"), "all=true&limit=1", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(all, "paths")), 1);

  char inside[32];
  uint64_t at = 0;
  ds_test_hex(inv, &at);
  snprintf(inside, sizeof inside, "%llx", (unsigned long long)at + 8); /* bare hex */
  json_t *addr = call("address", inside, "", DS_OK);
  CU_ASSERT_STRING_EQUAL(str(json_object_get(addr, "object"), "address"), inv);
  CU_ASSERT_STRING_EQUAL(str(addr, "generation"), "gen2");

  call("object", inside, "", DS_E_NOT_FOUND); /* inside an object, not at its start */
  call("object", "0x10", "", DS_E_NOT_FOUND);
  call("object", "0xZZ", "", DS_E_ARG);
  call("object", "12345678901234567890", "", DS_E_ARG);
  call("object", inv, "limit=1001", DS_E_ARG);
  call("refs", inv, "direction=sideways", DS_E_ARG);
  call("refs", "0x10", "", DS_E_NOT_FOUND);
  call("roots", "0x10", "", DS_E_NOT_FOUND);
  call("roots", inv, "all=perhaps", DS_E_ARG);
  call("roots", inv, "limit=0", DS_E_ARG);
  call("address", "0x10", "", DS_E_NOT_FOUND);
  call("address", "", "", DS_E_ARG);
  json_t *docs[] = {o, arr, in, out, roots, all, addr};
  for (size_t k = 0; k < sizeof docs / sizeof *docs; k++)
    json_decref(docs[k]);
}

static void test_roots_and_memory(void) {
  NEED_INDEX();
  json_t *fin = json_object_get(fx->truth, "finalizer");
  json_t *h = call("handles", NULL, "limit=1", DS_OK);
  json_int_t sum = 0;
  const char *kind;
  json_t *k;
  json_object_foreach(json_object_get(h, "kinds"), kind, k) {
    sum += num(k, "count");
    CU_ASSERT(json_array_size(json_object_get(k, "handles")) <= 1);
  }
  CU_ASSERT_EQUAL(sum, num(h, "total"));

  json_t *finq = call("finalizer", NULL, "stat=true", DS_OK);
  CU_ASSERT_STRING_EQUAL(str(finq, "queue"), "finalizable");
  CU_ASSERT_PTR_NULL(json_object_get(finq, "objects"));
  size_t i;
  json_t *row;
  json_int_t finalizable = -1, ready_count = -1;
  json_array_foreach(json_object_get(finq, "by_type"), i, row)
    if (strcmp(str(row, "type"), str(fin, "type")) == 0)
      finalizable = num(row, "count");
  CU_ASSERT_EQUAL(finalizable, num(fin, "undisposed"));
  CU_ASSERT_EQUAL(num(json_object_get(finq, "finalizer_thread"), "os_id"), num(fin, "blocked_finalizer_thread_os_id"));
  json_t *ready = call("finalizer", NULL, "queue=ready&limit=150", DS_OK);
  CU_ASSERT_STRING_EQUAL(str(ready, "queue"), "ready");
  json_array_foreach(json_object_get(ready, "by_type"), i, row)
    if (strcmp(str(row, "type"), str(fin, "ready_type")) == 0)
      ready_count = num(row, "count");
  CU_ASSERT_EQUAL(ready_count, num(fin, "ready_for_finalization"));
  CU_ASSERT_EQUAL(json_array_size(json_object_get(ready, "objects")), 150);
  CU_ASSERT_EQUAL(num(ready, "total"), num(ready, "count"));
  CU_ASSERT_STRING_EQUAL(str(ready, "next_cursor"), "150");
  json_t *rest = call("finalizer", NULL, "queue=ready&limit=150&cursor=150", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(rest, "objects")), (size_t)num(ready, "count") - 150);
  CU_ASSERT(json_is_null(json_object_get(rest, "next_cursor")));

  json_t *frag = call("fragmentation", NULL, "limit=2", DS_OK);
  CU_ASSERT(json_array_size(json_object_get(frag, "generations")) >= 3);
  CU_ASSERT(json_array_size(json_object_get(frag, "pinned_gap_holders")) <= 2);

  json_t *want = json_array_get(json_object_get(json_object_get(json_object_get(fx->truth, "scenario_data"), "strings"),
                                                "duplicates"), 0);
  json_t *dups = call("strings", NULL, "duplicates=true&limit=5", DS_OK);
  json_t *group = NULL;
  json_array_foreach(json_object_get(dups, "duplicates"), i, row)
    if (strcmp(str(row, "value"), str(want, "value")) == 0)
      group = row;
  CU_ASSERT_PTR_NOT_NULL_FATAL(group);
  CU_ASSERT_EQUAL(num(group, "count"), num(want, "count"));
  CU_ASSERT_EQUAL(num(group, "total_size"), num(want, "total_size"));
  json_t *search = call("strings", NULL, "q=INV-00000&limit=2", DS_OK);
  CU_ASSERT_EQUAL(num(search, "matched"), 10);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(search, "strings")), 2);

  call("handles", NULL, "limit=0", DS_E_ARG);
  call("handles", NULL, "limit=100001", DS_E_ARG);
  call("finalizer", NULL, "queue=later", DS_E_ARG);
  call("finalizer", NULL, "stat=perhaps", DS_E_ARG);
  call("finalizer", NULL, "cursor=a", DS_E_ARG);
  call("fragmentation", NULL, "limit=x", DS_E_ARG);
  call("strings", NULL, "min_length=-1", DS_E_ARG);
  call("strings", NULL, "duplicates=2", DS_E_ARG);
  json_t *docs[] = {h, finq, ready, rest, frag, dups, search};
  for (size_t d = 0; d < sizeof docs / sizeof *docs; d++)
    json_decref(docs[d]);
}

static void test_threads_and_locks(void) {
  NEED_INDEX();
  json_t *threads = call("threads", NULL, "limit=10000", DS_OK);
  size_t i, k;
  json_t *t, *row;
  json_array_foreach(json_object_get(fx->truth, "threads"), i, t) {
    bool seen = false;
    json_array_foreach(json_object_get(threads, "threads"), k, row)
      if (num(row, "os_id") == num(t, "os_id") && num(row, "managed_id") == num(t, "managed_id"))
        seen = true;
    CU_ASSERT(seen);
  }
  json_t *page = call("threads", NULL, "limit=2&cursor=2", DS_OK);
  CU_ASSERT(json_equal(json_array_get(json_object_get(page, "threads"), 0), json_array_get(json_object_get(threads, "threads"), 2)));

  json_t *holder = truth_thread("marker-holder");
  char managed[32], os[32];
  snprintf(managed, sizeof managed, "m%lld", (long long)num(holder, "managed_id"));
  snprintf(os, sizeof os, "%lld", (long long)num(holder, "os_id"));
  json_t *by_managed = call("stack", managed, "", DS_OK), *by_os = call("stack", os, "", DS_OK);
  CU_ASSERT(json_equal(by_managed, by_os));
  CU_ASSERT_EQUAL(num(by_managed, "os_id"), num(holder, "os_id"));
  json_t *objects = call("thread_objects", managed, "", DS_OK);
  bool has_marker = false;
  json_t *frame, *o;
  json_array_foreach(json_object_get(objects, "frames"), i, frame)
    json_array_foreach(json_object_get(frame, "objects"), k, o)
      if (strcmp(str(o, "address"), marker_addr("marker.local")) == 0)
        has_marker = true;
  CU_ASSERT(has_marker);

  json_t *locks = call("locks", NULL, "", DS_OK);
  json_t *lock;
  json_array_foreach(json_object_get(fx->truth, "locks"), i, lock) {
    json_t *mon = NULL;
    json_array_foreach(json_object_get(locks, "monitors"), k, row)
      if (strcmp(str(json_object_get(row, "object"), "address"), str(lock, "address")) == 0)
        mon = row;
    CU_ASSERT_PTR_NOT_NULL_FATAL(mon);
    CU_ASSERT_EQUAL(num(json_object_get(mon, "held_by"), "os_id"), thread_os(str(lock, "held_by")));
    CU_ASSERT_EQUAL(json_array_size(json_object_get(mon, "waiters")), json_array_size(json_object_get(lock, "waiters")));
  }
  json_t *waits = call("waits", NULL, "", DS_OK);
  bool t3 = false;
  json_array_foreach(json_object_get(waits, "waits"), i, row)
    if (num(row, "os_id") == thread_os("T3"))
      t3 = num(json_object_get(json_object_get(row, "waiting_on"), "held_by"), "os_id") == thread_os("T4");
  CU_ASSERT(t3);
  json_t *dl = call("deadlocks", NULL, "", DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(dl, "deadlocks")), json_array_size(json_object_get(fx->truth, "deadlocks")));
  json_t *members = json_object_get(json_array_get(json_object_get(dl, "deadlocks"), 0), "threads");
  CU_ASSERT_EQUAL_FATAL(json_array_size(members), 2);
  json_int_t m0 = num(json_array_get(members, 0), "os_id"), m1 = num(json_array_get(members, 1), "os_id");
  CU_ASSERT((m0 == thread_os("T1") && m1 == thread_os("T2")) || (m0 == thread_os("T2") && m1 == thread_os("T1")));
  json_t *findings = call("findings", NULL, "", DS_OK);
  bool deadlock = false, finalizer = false;
  json_array_foreach(json_object_get(findings, "findings"), i, row) {
    deadlock |= strcmp(str(row, "title"), "Deadlock") == 0;
    finalizer |= strcmp(str(row, "title"), "Blocked finalizer thread") == 0;
  }
  CU_ASSERT(deadlock && finalizer);

  call("stack", "m99999", "", DS_E_NOT_FOUND);
  call("stack", "999999", "", DS_E_NOT_FOUND);
  call("stack", "abc", "", DS_E_ARG);
  call("stack", "m", "", DS_E_ARG);
  call("thread_objects", "m-1", "", DS_E_ARG);
  call("threads", NULL, "limit=0", DS_E_ARG);
  call("threads", NULL, "cursor=-2", DS_E_ARG);
  json_t *docs[] = {threads, page, by_managed, by_os, objects, locks, waits, dl, findings};
  for (size_t d = 0; d < sizeof docs / sizeof *docs; d++)
    json_decref(docs[d]);
}

/* Every resource: valid minimal parameters answer; an unknown parameter is an argument error that
 * names it; the summary matches the index. */
/* The base of a comparison: this test's own index (a dump against itself). */
static ds_status open_self(void *ctx, const char *ref, ds_query **out, ds_error *err) {
  (void)ctx;
  if (strcmp(ref, "self") != 0)
    return ds_error_set(err, DS_E_NOT_FOUND, "no dump %s", ref);
  *out = q;
  return DS_OK;
}

static void test_every_resource(void) {
  NEED_INDEX();
  ds_api_set_other(&(ds_api_other){open_self, NULL, NULL});
  json_t *summary = call("summary", NULL, "", DS_OK);
  CU_ASSERT(num(summary, "objects") > 0);
  CU_ASSERT(json_is_false(json_object_get(summary, "server_gc")));
  CU_ASSERT(json_is_true(json_object_get(summary, "dump_available")));
  CU_ASSERT_EQUAL(num(summary, "heap_errors"), 0);
  json_decref(summary);
  char managed[32];
  snprintf(managed, sizeof managed, "m%lld", (long long)num(truth_thread("main"), "managed_id"));
  /* mu's address: code of a method (muf names it) */
  json_t *code = call("muf", "Scenarios.FrameArgsScenario.Hold", "", DS_OK);
  char code_start[32];
  snprintf(code_start, sizeof code_start, "%s", code ? str(code, "code_start") : "0x0");
  json_decref(code);
  for (size_t i = 0; i < ds_api_resource_count(); i++) {
    const ds_api_resource *r = ds_api_resource_at(i);
    const char *value = !r->path_param                       ? NULL
                        : strcmp(r->path_param, "gen") == 0    ? "2"
                        : strcmp(r->path_param, "thread") == 0 ? managed
                        : strcmp(r->path_param, "method") == 0 ? "Scenarios.FrameArgsScenario.Hold"
                        : strcmp(r->name, "mu") == 0           ? code_start
                                                               : marker_addr("invoice.first");
    json_decref(call(r->name, value, strcmp(r->name, "diff") == 0 ? "base=self" : "", DS_OK));
    const ds_api_resource *found = ds_api_find(r->name);
    CU_ASSERT_PTR_EQUAL(found, r);
    ds_api_args a = args_of("bogus=1");
    ds_error err = {0};
    if (r->path_param)
      ds_api_args_set(&a, r->path_param, value, &err);
    json_t *doc = NULL;
    CU_ASSERT_EQUAL(ds_api_call(r, q, &a, &doc, &err), DS_E_ARG);
    CU_ASSERT_PTR_NULL(doc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "bogus"));
    /* the path parameter of another resource is unknown too */
    ds_api_args b = args_of(r->path_param && strcmp(r->path_param, "addr") == 0 ? "thread=1" : "addr=0x1");
    if (r->path_param)
      ds_api_args_set(&b, r->path_param, value, &err);
    CU_ASSERT_EQUAL(ds_api_call(r, q, &b, &doc, &err), DS_E_ARG);
  }
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite routing = CU_add_suite("api routing and parameters", NULL, NULL);
  CU_add_test(routing, "every route of the table, with its path parameter", test_routes);
  CU_add_test(routing, "unknown paths, empty segments, overlong parameters", test_unknown_routes);
  CU_add_test(routing, "query strings: decoding, bounds, too many parameters", test_query_strings);
  CU_add_test(routing, "typed readers: numbers, booleans, enums, addresses, threads", test_readers);
  CU_add_test(routing, "status mapping and the error document", test_errors);
  CU_pSuite resources = CU_add_suite("api resources on main-wks-heap", NULL, close_index);
  CU_add_test(resources, "gen, heap_stat, types: truth, paging, sort, liveness, bad parameters", test_histograms);
  CU_add_test(resources, "gen_objects, heap_objects: address order, cursors", test_listings);
  CU_add_test(resources, "object, refs, roots, address: truth and not-found", test_object_resources);
  CU_add_test(resources, "handles, finalizer, fragmentation, strings: truth and paging", test_roots_and_memory);
  CU_add_test(resources, "threads, stack, thread_objects, locks, waits, deadlocks, findings", test_threads_and_locks);
  CU_add_test(resources, "every resource answers, and refuses an unknown parameter", test_every_resource);
  return ds_test_main();
}
