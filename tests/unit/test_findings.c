/*
 * test_findings.c: the automatic findings against the scenario truth, on every fixture. Each
 * dump raises exactly the findings its truth implies under the default thresholds (main: a
 * deadlock, a blocked finalizer, undisposed Finalizable objects, application types in gen 2,
 * fragmentation by pinned arrays, a large string, duplicate strings; locks: its deadlocks,
 * starvation, contention, an exception in flight; report: undisposed PooledConnections, many
 * HttpClients, many pinned handles, exceptions kept on the heap; growth: none), with the numbers
 * and evidence the truth gives; and thresholds changed with settings add and remove exactly the
 * findings they govern.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/findings.h"
#include "dumpscope/query.h"
#include "clirun.h"

#define MAX_CODES 32

/* The findings of a fixture's dump built with settings text ("" = defaults). */
static json_t *findings_of(ds_fixture *fx, const char *settings_text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.findings.dsindex", ds_test_tmpdir(), fx->name);
  ds_query *q = ds_test_index_open(fx->name, fx->dump, settings_text, path);
  ds_error err = {0};
  json_t *doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_findings(q, &doc, &err), DS_OK);
  ds_query_close(q);
  unlink(path);
  return doc;
}

typedef struct expected {
  const char *code[MAX_CODES];
  size_t count;
} expected;

static void expect(expected *e, const char *code) {
  if (e->count < MAX_CODES)
    e->code[e->count++] = code;
}

static json_t *sd(json_t *truth, const char *name) {
  return json_object_get(json_object_get(truth, "scenario_data"), name);
}

/* What the truth implies under the default thresholds (findings.h). */
static void implied(json_t *truth, expected *e) {
  for (size_t i = 0; i < json_array_size(json_object_get(truth, "deadlocks")); i++)
    expect(e, "deadlock");
  if (json_object_get(truth, "finalizer"))
    expect(e, "blocked-finalizer");
  if (sd(truth, "threadpool"))
    expect(e, "thread-pool-starvation");
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(truth, "contention"), i, c)
    if (json_array_size(json_object_get(c, "waiters")) >= 3)
      expect(e, "lock-contention");
  if (sd(truth, "exception"))
    expect(e, "thread-exceptions");
  if (sd(truth, "exception") || json_array_size(json_object_get(sd(truth, "report"), "exceptions")))
    expect(e, "heap-exceptions");
  json_t *fin = json_object_get(truth, "finalizer"), *rep = sd(truth, "report");
  if (json_integer_value(json_object_get(fin, "undisposed")) >= 100 ||
      json_integer_value(json_object_get(rep, "undisposed")) >= 100)
    expect(e, "undisposed-objects");
  if (json_integer_value(json_object_get(rep, "http_clients")) >= 10)
    expect(e, "http-clients");
  if (json_integer_value(json_object_get(rep, "pinned_handles")) >= 100)
    expect(e, "pinned-handles");
  /* the application's own objects in gen 2: the scenario types that are not arrays */
  const char *name;
  json_t *type;
  json_int_t app_gen2 = 0;
  json_object_foreach(json_object_get(truth, "types"), name, type)
    if (strncmp(name, "Scenarios.", 10) == 0 && !strchr(name, '['))
      app_gen2 += json_integer_value(json_object_get(type, "total_size"));
  if (app_gen2 >= 8 * 1024 * 1024)
    expect(e, "application-types");
  if (json_integer_value(json_object_get(json_object_get(sd(truth, "fragmentation"), "gaps_summary"), "free_bytes")) >=
      1024 * 1024)
    expect(e, "fragmentation");
  json_t *s;
  json_array_foreach(json_object_get(truth, "strings"), i, s)
    if (json_integer_value(json_object_get(s, "size")) >= 85000) {
      expect(e, "large-strings");
      break;
    }
  /* the leak and the growth programs keep most of their heap behind one static collection */
  if (sd(truth, "leak") || sd(truth, "growth"))
    expect(e, "leak-suspect");
  json_t *dups = json_object_get(sd(truth, "strings"), "duplicates");
  json_array_foreach(dups, i, s)
    if ((json_integer_value(json_object_get(s, "count")) - 1) * json_integer_value(json_object_get(s, "instance_size")) >=
        64 * 1024) {
      expect(e, "duplicate-strings");
      break;
    }
}

static json_t *finding(json_t *doc, const char *code) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f)
    if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0)
      return f;
  return NULL;
}

static size_t count_code(json_t *doc, const char *code) {
  size_t n = 0, i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f)
    n += strcmp(json_string_value(json_object_get(f, "code")), code) == 0;
  return n;
}

/* The findings' codes are exactly the expected ones (as multisets), every one fully described. */
static void check_codes(const char *fixture, json_t *doc, const expected *e) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f) {
    const char *code = json_string_value(json_object_get(f, "code"));
    size_t want = 0;
    for (size_t k = 0; k < e->count; k++)
      want += strcmp(e->code[k], code) == 0;
    if (count_code(doc, code) != want)
      fprintf(stderr, "%s: finding %s raised %zu times, the truth implies %zu\n", fixture, code,
              count_code(doc, code), want);
    CU_ASSERT_EQUAL(count_code(doc, code), want);
    static const char *const severities[] = {"error", "warning", "information", "notification", NULL};
    bool known = false;
    for (const char *const *sv = severities; *sv; sv++)
      known |= strcmp(json_string_value(json_object_get(f, "severity")), *sv) == 0;
    CU_ASSERT(known);
    CU_ASSERT(strlen(json_string_value(json_object_get(f, "title"))) > 0);
    CU_ASSERT(strlen(json_string_value(json_object_get(f, "description"))) > 0);
    CU_ASSERT(strlen(json_string_value(json_object_get(f, "recommendation"))) > 0);
    CU_ASSERT(json_array_size(json_object_get(f, "evidence")) > 0);
  }
  for (size_t k = 0; k < e->count; k++) {
    if (!finding(doc, e->code[k]))
      fprintf(stderr, "%s: the truth implies finding %s; not raised\n", fixture, e->code[k]);
    CU_ASSERT_PTR_NOT_NULL(finding(doc, e->code[k]));
  }
}

static json_t *evidence_at(json_t *f, size_t k) { return json_array_get(json_object_get(f, "evidence"), k); }

static json_int_t ev_int(json_t *e, const char *key) { return json_integer_value(json_object_get(e, key)); }

static const char *ev_type(json_t *e) {
  json_t *o = json_object_get(e, "object");
  return json_string_value(o ? json_object_get(o, "type") : json_object_get(e, "type"));
}

/* The type evidence of finding f named type, or NULL. */
static json_t *type_evidence(json_t *f, const char *type, const char *label) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(f, "evidence"), i, e)
    if (ev_type(e) && strcmp(ev_type(e), type) == 0 &&
        (!label || (json_string_value(json_object_get(e, "label")) &&
                    strcmp(json_string_value(json_object_get(e, "label")), label) == 0)))
      return e;
  return NULL;
}

/* The numbers and evidence of each finding against the truth. */
static void check_numbers(ds_fixture *fx, json_t *doc) {
  json_t *truth = fx->truth, *f;
  if ((f = finding(doc, "undisposed-objects"))) {
    json_t *fin = json_object_get(truth, "finalizer"), *rep = sd(truth, "report");
    const char *type = json_string_value(json_object_get(fin ? fin : rep, fin ? "type" : "undisposed_type"));
    json_t *e = type_evidence(f, type, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(ev_int(e, "count"), json_integer_value(json_object_get(fin ? fin : rep, "undisposed")));
    /* disposed ones do not count; a type IDisposable through its base class does; a finalizable
       type that is not IDisposable does not */
    json_t *derived = json_object_get(rep, "derived_undisposed_type");
    if (derived) {
      CU_ASSERT(json_is_true(json_object_get(rep, "derived_is_disposable")));
      CU_ASSERT(json_is_false(json_object_get(rep, "finalizable_only_is_disposable")));
      json_t *d = type_evidence(f, json_string_value(derived), NULL);
      CU_ASSERT_PTR_NOT_NULL_FATAL(d);
      CU_ASSERT_EQUAL(ev_int(d, "count"), json_integer_value(json_object_get(rep, "derived_undisposed")));
      CU_ASSERT_PTR_NULL(type_evidence(f, json_string_value(json_object_get(rep, "finalizable_only_type")), NULL));
    }
    CU_ASSERT_EQUAL(json_array_size(json_object_get(f, "evidence")), derived ? 2 : 1);
  }
  if ((f = finding(doc, "http-clients"))) {
    json_t *rep = sd(truth, "report");
    json_t *e = type_evidence(f, json_string_value(json_object_get(rep, "http_client_type")), NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(ev_int(e, "count"), json_integer_value(json_object_get(rep, "http_clients")));
    e = type_evidence(f, json_string_value(json_object_get(rep, "http_handler_type")), NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(ev_int(e, "count"), json_integer_value(json_object_get(rep, "http_clients")));
  }
  if ((f = finding(doc, "pinned-handles")) && sd(truth, "report")) {
    json_t *e = type_evidence(f, "System.Byte[]", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT(ev_int(e, "count") >= json_integer_value(json_object_get(sd(truth, "report"), "pinned_handles")));
  }
  if ((f = finding(doc, "heap-exceptions"))) {
    size_t i;
    json_t *want;
    json_t *list = json_object_get(sd(truth, "report"), "exceptions");
    json_array_foreach(list, i, want) {
      json_t *e = type_evidence(f, json_string_value(json_object_get(want, "type")),
                                json_string_value(json_object_get(want, "message")));
      CU_ASSERT_PTR_NOT_NULL(e);
      if (e)
        CU_ASSERT_EQUAL(ev_int(e, "count"), json_integer_value(json_object_get(want, "count")));
    }
    json_t *x = sd(truth, "exception");
    if (x)
      CU_ASSERT_PTR_NOT_NULL(type_evidence(f, json_string_value(json_object_get(x, "type")),
                                           json_string_value(json_object_get(x, "message"))));
  }
  if ((f = finding(doc, "thread-exceptions"))) {
    json_t *x = sd(truth, "exception"), *e = evidence_at(f, 0), *t;
    size_t i;
    json_int_t os = -1;
    json_array_foreach(json_object_get(truth, "threads"), i, t)
      if (strcmp(json_string_value(json_object_get(t, "name")), json_string_value(json_object_get(x, "thread"))) == 0)
        os = json_integer_value(json_object_get(t, "os_id"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(e, "thread"), "os_id")), os);
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(e, "label")),
                                  json_string_value(json_object_get(x, "message"))));
  }
  if ((f = finding(doc, "application-types")))
    CU_ASSERT_PTR_NOT_NULL(type_evidence(f, "Scenarios.Invoice", NULL));
  if ((f = finding(doc, "fragmentation"))) {
    /* every pinned object named is one the scenario pinned */
    json_t *frag = sd(truth, "fragmentation"), *e, *p, *m;
    size_t i, k;
    json_array_foreach(json_object_get(f, "evidence"), i, e) {
      const char *addr = json_string_value(json_object_get(json_object_get(e, "object"), "address"));
      bool known = false;
      json_array_foreach(json_object_get(frag, "pinned"), k, p)
        known |= strcmp(json_string_value(json_object_get(p, "address")), addr) == 0;
      json_array_foreach(json_object_get(truth, "markers"), k, m)
        known |= strcmp(json_string_value(json_object_get(m, "name")), "pinned.array") == 0 &&
                 strcmp(json_string_value(json_object_get(m, "address")), addr) == 0;
      if (!known)
        fprintf(stderr, "%s: fragmentation names %s, which the scenario did not pin\n", fx->name, addr);
      CU_ASSERT(known);
    }
    char gen[16];
    snprintf(gen, sizeof gen, "gen%d", (int)json_integer_value(json_object_get(json_array_get(json_object_get(frag, "pinned"), 0), "generation")));
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(f, "title")), gen));
  }
  if ((f = finding(doc, "large-strings"))) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(truth, "strings"), i, s)
      if (strcmp(json_string_value(json_object_get(s, "name")), "large") == 0)
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(evidence_at(f, 0), "object"), "address")),
                               json_string_value(json_object_get(s, "address")));
  }
  if ((f = finding(doc, "duplicate-strings"))) {
    json_t *want = json_array_get(json_object_get(sd(truth, "strings"), "duplicates"), 0), *e = evidence_at(f, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "label")), json_string_value(json_object_get(want, "value")));
    CU_ASSERT_EQUAL(ev_int(e, "count"), json_integer_value(json_object_get(want, "count")));
    CU_ASSERT_EQUAL(ev_int(e, "bytes"), (json_integer_value(json_object_get(want, "count")) - 1) *
                                            json_integer_value(json_object_get(want, "instance_size")));
  }
}

/* A truth marker's address, "" when the truth has none (a string to compare ours with). */
static const char *marker_or_empty(json_t *truth, const char *name) {
  const char *address = marker_address(truth, name);
  return address ? address : "";
}

/* The leak suspect is the static collection, it accumulates the scenario's objects. */
static void check_suspect(ds_fixture *fx, json_t *doc) {
  json_t *f = finding(doc, "leak-suspect");
  if (!f)
    return;
  bool leak = sd(fx->truth, "leak") != NULL;
  const char *holder = marker_or_empty(fx->truth, leak ? "invoice.list" : "growth.records");
  const char *item = leak ? "Scenarios.Invoice" : "Scenarios.GrowthRecord";
  json_t *e = evidence_at(f, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(e, "object"), "address")), holder);
  if (leak) /* through the list's backing array */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(evidence_at(f, 1), "object"), "address")),
                           marker_or_empty(fx->truth, "invoice.list.items"));
  json_t *g = type_evidence(f, item, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(ev_int(g, "count"), json_integer_value(json_object_get(json_object_get(json_object_get(fx->truth, "types"), item), "count")));
}

/* Each deadlock finding's thread evidence is exactly one truth cycle (by OS id), every cycle is
 * named by one finding; the blocked-finalizer finding names the truth's finalizer thread. */
static void check_thread_evidence(ds_fixture *fx, json_t *doc) {
  json_t *cycles = json_object_get(fx->truth, "deadlocks");
  size_t i, k, matched = 0;
  json_t *cycle, *f;
  json_array_foreach(cycles, i, cycle) {
    size_t hits = 0;
    json_array_foreach(json_object_get(doc, "findings"), k, f) {
      if (strcmp(json_string_value(json_object_get(f, "code")), "deadlock") != 0)
        continue;
      json_t *ev = json_object_get(f, "evidence"), *e, *w;
      size_t n = 0, j, all = 0;
      json_array_foreach(ev, j, e) {
        json_t *t = json_object_get(e, "thread");
        if (!t)
          continue;
        all++;
        size_t m;
        json_array_foreach(cycle, m, w)
          n += json_integer_value(json_object_get(t, "os_id")) == thread_os_id(fx->truth, json_string_value(w));
      }
      hits += n == json_array_size(cycle) && all == n;
    }
    if (hits != 1)
      fprintf(stderr, "%s: deadlock %zu of the truth named by %zu findings\n", fx->name, i, hits);
    CU_ASSERT_EQUAL(hits, 1);
    matched++;
  }
  CU_ASSERT_EQUAL(matched, count_code(doc, "deadlock"));
  json_t *fin = json_object_get(fx->truth, "finalizer");
  if ((f = finding(doc, "blocked-finalizer")) && fin) {
    json_t *t = json_object_get(evidence_at(f, 0), "thread");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(t, "os_id")),
                    json_integer_value(json_object_get(fin, "blocked_finalizer_thread_os_id")));
  }
}

static void test_findings_match_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx), checked = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(fx[i].process, "big") == 0)
      continue;
    json_t *doc = findings_of(&fx[i], "");
    expected e = {0};
    implied(fx[i].truth, &e);
    check_codes(fx[i].name, doc, &e);
    check_numbers(&fx[i], doc);
    check_suspect(&fx[i], doc);
    check_thread_evidence(&fx[i], doc);
    json_decref(doc);
    checked++;
  }
  CU_ASSERT(checked >= 9);
}

/* Lowered thresholds raise the findings they govern (with the truth's numbers); raised ones
 * remove them; the findings name the thresholds they used. */
static void test_settings_change_findings(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  json_t *truth = fx[0].truth;
  json_t *doc = findings_of(&fx[0], "finalizer_ready_objects=100, pinned_handles=50,app_share_percent=95,"
                                    "undisposed_objects=501");
  expected e = {0};
  implied(truth, &e);
  expected changed = {0};
  for (size_t k = 0; k < e.count; k++)
    if (strcmp(e.code[k], "application-types") != 0 && strcmp(e.code[k], "undisposed-objects") != 0)
      expect(&changed, e.code[k]);
  expect(&changed, "finalization-backlog");
  expect(&changed, "pinned-handles");
  check_codes(fx[0].name, doc, &changed);
  json_t *f = finding(doc, "finalization-backlog");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  json_t *fin = json_object_get(truth, "finalizer");
  json_t *ev = type_evidence(f, json_string_value(json_object_get(fin, "ready_type")), NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
  CU_ASSERT_EQUAL(ev_int(ev, "count"), json_integer_value(json_object_get(fin, "ready_for_finalization")));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(f, "setting"), "value")), 100);
  f = finding(doc, "pinned-handles");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  ev = type_evidence(f, json_string_value(json_object_get(sd(truth, "fragmentation"), "pinned_type")), NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
  CU_ASSERT_EQUAL(ev_int(ev, "count"), json_integer_value(json_object_get(sd(truth, "fragmentation"), "pinned_count")));
  json_decref(doc);
}

static void test_settings_parse(void) {
  ds_finding_settings s;
  ds_finding_settings_init(&s);
  ds_error err = {0};
  CU_ASSERT_EQUAL(s.value[DS_SET_UNDISPOSED], 100);
  CU_ASSERT_EQUAL(ds_finding_settings_apply(&s, "undisposed_objects=5, duplicate_string_bytes=1M", &err), DS_OK);
  CU_ASSERT_EQUAL(s.value[DS_SET_UNDISPOSED], 5);
  CU_ASSERT_EQUAL(s.value[DS_SET_DUPLICATE_STRING_BYTES], 1024 * 1024);
  static const char *const bad[] = {"nope=1", "undisposed_objects", "undisposed_objects=", "undisposed_objects=-1",
                                    "undisposed_objects=1x", "app_share_percent=101", "app_share_percent=5K",
                                    "pinned_handles=1e99", NULL};
  for (const char *const *b = bad; *b; b++) {
    ds_finding_settings before = s;
    CU_ASSERT_EQUAL(ds_finding_settings_apply(&s, *b, &err), DS_E_ARG);
    CU_ASSERT(memcmp(&before, &s, sizeof s) == 0); /* nothing applied from a bad list */
  }
  CU_ASSERT_EQUAL(ds_finding_settings_apply(&s, "undisposed_objects=7,nope=1", &err), DS_E_ARG);
  CU_ASSERT_EQUAL(s.value[DS_SET_UNDISPOSED], 5);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "nope"));
  for (size_t i = 0; i < ds_setting_count(); i++) {
    const ds_setting_info *info = ds_setting_at(i);
    CU_ASSERT(info->def >= info->min && info->def <= info->max);
    CU_ASSERT(strlen(info->meaning) > 10);
  }
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("findings", NULL, NULL);
  CU_add_test(s, "settings parse by name, with units and ranges", test_settings_parse);
  CU_add_test(s, "every fixture raises exactly the findings its truth implies", test_findings_match_truth);
  CU_add_test(s, "thresholds given as settings add and remove the findings they govern", test_settings_change_findings);
  return ds_test_main();
}
