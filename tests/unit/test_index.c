/*
 * test_index.c: the heap index against the scenario truth on every main fixture (root paths of
 * the markers, refs, finalizer queues, duplicate strings, pinned handles, liveness), and the
 * index reader against damaged files (truncated, bit-flipped, wrong version): rejected with the
 * reason, never read past its end. A root search (the first root path before any index exists)
 * answers exactly as the full index does, on every fixture.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "dumpscope/rootscan.h"
#include "fixture.h"

static const char *marker(json_t *truth, const char *name, const char *field) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return json_string_value(json_object_get(m, field));
  json_array_foreach(json_object_get(truth, "strings"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return json_string_value(json_object_get(m, field));
  return NULL;
}

static json_t *thread_named(json_t *truth, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(truth, "threads"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
      return t;
  return NULL;
}

static uint64_t addr_of(const char *hex) {
  uint64_t v = 0;
  CU_ASSERT_FATAL(ds_test_hex(hex, &v));
  return v;
}

/* Builds the index of a fixture into the scratch folder; returns its path. */
static void build_index(ds_fixture *fx, char *path, size_t len) {
  snprintf(path, len, "%s/%s.dsindex", ds_test_tmpdir(), fx->name);
  if (access(path, R_OK) == 0)
    return;
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx->dump, &search, &a, &err), DS_OK);
  ds_root_set roots = {0};
  ds_status rc = ds_roots_collect(a, &roots, &err);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  ds_build_stats stats;
  rc = ds_index_build(a, &roots, path, &stats, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", fx->name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  CU_ASSERT_EQUAL(stats.heap_errors, 0);
  ds_root_set_free(&roots);
  ds_analysis_close(a);
}

static json_t *path_objects(json_t *doc, size_t p) {
  return json_object_get(json_array_get(json_object_get(doc, "paths"), p), "objects");
}

static void check_invoice_path(ds_fixture *fx, ds_query *q, const char *marker_name,
                               const char *index_field) {
  json_t *truth = fx->truth;
  ds_error err = {0};
  json_t *doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_root_paths(q, addr_of(marker(truth, marker_name, "address")), false, 0, &doc, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(doc, "paths")), 1);
  json_t *root = json_object_get(json_array_get(json_object_get(doc, "paths"), 0), "root");
  json_t *objs = path_objects(doc, 0);
  size_t n = json_array_size(objs);
  /* the root is the static field, named, with the statics storage array (a pinned Object[]
   * held by a strong handle) and its handle as its detail */
  const char *kind = json_string_value(json_object_get(root, "kind"));
  const char *field = json_string_value(json_object_get(root, "field"));
  if (!kind || !field || strcmp(kind, "static field") != 0)
    fprintf(stderr, "%s: %s: root %s %s, expected static field Scenarios.LeakScenario.s_invoices\n", fx->name,
            marker_name, kind ? kind : "?", field ? field : "(unnamed)");
  CU_ASSERT_STRING_EQUAL(kind ? kind : "", "static field");
  CU_ASSERT_STRING_EQUAL(field ? field : "", "Scenarios.LeakScenario.s_invoices");
  CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(root, "storage"), "handle"));
  CU_ASSERT_FATAL(n >= 3);
  json_t *list = json_array_get(objs, n - 3), *items = json_array_get(objs, n - 2), *inv = json_array_get(objs, n - 1);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(list, "type")),
                         marker(truth, "invoice.list", "type"));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(list, "address")), marker(truth, "invoice.list", "address"));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(list, "via_field")), "_items");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(items, "address")),
                         marker(truth, "invoice.list.items", "address"));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(items, "via_field")), index_field);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(inv, "address")), marker(truth, marker_name, "address"));
  json_decref(doc);
}

static uint64_t count_of_type(json_t *doc, const char *type) {
  size_t i;
  json_t *row;
  json_array_foreach(json_object_get(doc, "by_type"), i, row)
    if (strcmp(json_string_value(json_object_get(row, "type")), type) == 0)
      return (uint64_t)json_integer_value(json_object_get(row, "count"));
  json_array_foreach(json_object_get(doc, "types"), i, row)
    if (strcmp(json_string_value(json_object_get(row, "type")), type) == 0)
      return (uint64_t)json_integer_value(json_object_get(row, "count"));
  return 0;
}

static void check_fixture(ds_fixture *fx) {
  char path[512];
  build_index(fx, path, sizeof path);
  ds_error err = {0};
  ds_query *q = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_open(path, fx->dump, &q, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_index_verify_all(ds_query_index(q), &err), DS_OK);
  json_t *truth = fx->truth, *doc = NULL;

  /* root paths: static List -> array -> Invoice */
  check_invoice_path(fx, q, "invoice.first", "[0]");
  char last_index[32];
  snprintf(last_index, sizeof last_index, "[%lld]",
           (long long)json_integer_value(json_object_get(json_object_get(json_object_get(truth, "scenario_data"), "leak"),
                                                         "invoice_count")) - 1);
  check_invoice_path(fx, q, "invoice.last", last_index);

  /* pinned handle */
  CU_ASSERT_EQUAL_FATAL(ds_query_root_paths(q, addr_of(marker(truth, "pinned.array", "address")), true, 0, &doc, &err),
                        DS_OK);
  json_t *p0 = json_array_get(json_object_get(doc, "paths"), 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(p0, "root"), "kind")), "pinned handle");
  CU_ASSERT(json_is_true(json_object_get(json_object_get(p0, "root"), "pinned")));
  CU_ASSERT_EQUAL(json_array_size(json_object_get(p0, "objects")), 1);
  json_decref(doc);

  /* a local in thread marker-holder's frame HoldMarker */
  CU_ASSERT_EQUAL_FATAL(ds_query_root_paths(q, addr_of(marker(truth, "marker.local", "address")), true, 0, &doc, &err),
                        DS_OK);
  CU_ASSERT(json_array_size(json_object_get(doc, "paths")) >= 1);
  json_t *root = json_object_get(json_array_get(json_object_get(doc, "paths"), 0), "root");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "kind")), "stack");
  json_t *holder = thread_named(truth, "marker-holder");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(root, "thread"), "os_id")),
                  json_integer_value(json_object_get(holder, "os_id")));
  const char *method = json_string_value(json_object_get(json_object_get(root, "frame"), "method"));
  CU_ASSERT(method && strstr(method, "LeakScenario.HoldMarker"));
  json_decref(doc);

  /* a [ThreadStatic] field of thread marker-holder */
  CU_ASSERT_EQUAL_FATAL(
      ds_query_root_paths(q, addr_of(marker(truth, "threadstatic.marker", "address")), true, 0, &doc, &err), DS_OK);
  bool thread_static = false;
  size_t ts_i;
  json_t *ts_path;
  json_array_foreach(json_object_get(doc, "paths"), ts_i, ts_path) {
    json_t *ts_root = json_object_get(ts_path, "root");
    if (strcmp(json_string_value(json_object_get(ts_root, "kind")), "thread static") == 0) {
      thread_static = true;
      CU_ASSERT_EQUAL(json_array_size(json_object_get(ts_path, "objects")), 1);
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(ts_root, "thread"), "os_id")),
                      json_integer_value(json_object_get(holder, "os_id")));
    }
  }
  CU_ASSERT(thread_static);
  json_decref(doc);

  /* refs of invoice.first: exactly its Number string and its Customer; referenced by its
     Customer (LastInvoice) and the list's array at [0] */
  CU_ASSERT_EQUAL_FATAL(ds_query_refs(q, addr_of(marker(truth, "invoice.first", "address")), 0, &doc, &err), DS_OK);
  json_t *outs = json_object_get(doc, "references");
  CU_ASSERT_EQUAL(json_array_size(outs), 2);
  bool number = false, customer = false, from_customer = false, from_array = false;
  size_t i;
  json_t *r;
  json_array_foreach(outs, i, r) {
    const char *field = json_string_value(json_object_get(r, "field"));
    const char *a = json_string_value(json_object_get(r, "address"));
    if (strcmp(field, "Number") == 0 && strcmp(a, marker(truth, "invoice.first.number", "address")) == 0)
      number = true;
    if (strcmp(field, "Customer") == 0 && strcmp(a, marker(truth, "customer.first", "address")) == 0)
      customer = true;
  }
  json_array_foreach(json_object_get(doc, "referenced_by"), i, r) {
    const char *field = json_string_value(json_object_get(r, "field"));
    const char *a = json_string_value(json_object_get(r, "address"));
    if (strcmp(a, marker(truth, "customer.first", "address")) == 0 && strcmp(field, "LastInvoice") == 0)
      from_customer = true;
    if (strcmp(a, marker(truth, "invoice.list.items", "address")) == 0 && strcmp(field, "[0]") == 0)
      from_array = true;
  }
  CU_ASSERT(number && customer && from_customer && from_array);
  json_decref(doc);

  /* dependent handles: a ConditionalWeakTable's value is referenced by its key (the handle's
     edge; besides, the truth's marker array holds it); the first key lies below most of the heap
     (scenario "dependent") */
  for (int k = 0; k < 2; k++) {
    const char *key = marker(truth, k ? "dependent.key.last" : "dependent.key.first", "address");
    const char *value = marker(truth, k ? "dependent.value.last" : "dependent.value.first", "address");
    CU_ASSERT_FATAL(key && value);
    CU_ASSERT_EQUAL_FATAL(ds_query_refs(q, addr_of(value), 0, &doc, &err), DS_OK);
    bool from_key = false;
    json_array_foreach(json_object_get(doc, "referenced_by"), i, r)
      from_key |= strcmp(json_string_value(json_object_get(r, "address")), key) == 0 &&
                  strcmp(json_string_value(json_object_get(r, "field")), "(dependent handle)") == 0;
    CU_ASSERT(from_key);
    json_decref(doc);
    CU_ASSERT_EQUAL_FATAL(ds_query_refs(q, addr_of(key), 0, &doc, &err), DS_OK);
    bool to_value = false;
    json_array_foreach(json_object_get(doc, "references"), i, r)
      to_value |= strcmp(json_string_value(json_object_get(r, "address")), value) == 0;
    CU_ASSERT(to_value);
    json_decref(doc);
  }

  /* finalizer queues */
  json_t *fin = json_object_get(truth, "finalizer");
  CU_ASSERT_EQUAL_FATAL(ds_query_finalizer(q, false, true, 0, &doc, &err), DS_OK);
  CU_ASSERT_EQUAL(count_of_type(doc, json_string_value(json_object_get(fin, "type"))),
                  (uint64_t)json_integer_value(json_object_get(fin, "undisposed")));
  json_decref(doc);
  CU_ASSERT_EQUAL_FATAL(ds_query_finalizer(q, true, true, 0, &doc, &err), DS_OK);
  CU_ASSERT_EQUAL(count_of_type(doc, json_string_value(json_object_get(fin, "ready_type"))),
                  (uint64_t)json_integer_value(json_object_get(fin, "ready_for_finalization")));
  json_decref(doc);

  /* duplicate strings */
  json_t *dups = json_object_get(json_object_get(json_object_get(truth, "scenario_data"), "strings"), "duplicates");
  json_t *want = json_array_get(dups, 0);
  CU_ASSERT_EQUAL_FATAL(ds_query_strings(q, NULL, 0, true, 1000, &doc, &err), DS_OK);
  bool found = false;
  json_array_foreach(json_object_get(doc, "duplicates"), i, r)
    if (strcmp(json_string_value(json_object_get(r, "value")), json_string_value(json_object_get(want, "value"))) == 0) {
      found = true;
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "count")), json_integer_value(json_object_get(want, "count")));
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "total_size")),
                      json_integer_value(json_object_get(want, "total_size")));
      json_int_t size = json_integer_value(json_object_get(r, "total_size")) / json_integer_value(json_object_get(r, "count"));
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "wasted_bytes")),
                      json_integer_value(json_object_get(r, "total_size")) - size);
    }
  CU_ASSERT(found);
  json_decref(doc);

  /* pinned handles: every fragmentation array and the pinned array */
  CU_ASSERT_EQUAL_FATAL(ds_query_handles(q, 100000, &doc, &err), DS_OK);
  json_t *pinned = json_object_get(json_object_get(json_object_get(doc, "kinds"), "pinned handle"), "handles");
  json_t *frag = json_object_get(json_object_get(json_object_get(truth, "scenario_data"), "fragmentation"), "pinned");
  size_t matched = 0, k;
  json_t *fp, *h;
  json_array_foreach(frag, k, fp) {
    json_array_foreach(pinned, i, h) {
      if (strcmp(json_string_value(json_object_get(json_object_get(h, "object"), "address")),
                 json_string_value(json_object_get(fp, "address"))) == 0) {
        matched++;
        break;
      }
    }
  }
  CU_ASSERT_EQUAL(matched, json_array_size(frag));
  json_decref(doc);

  /* liveness: every Invoice is reachable */
  ds_object_filter live = {.gen = -1, .type_text = "Scenarios.Invoice", .type_exact = true, .liveness = DS_LIVE_ONLY};
  CU_ASSERT_EQUAL_FATAL(ds_query_stats(q, &live, DS_SORT_SIZE, 0, &doc, &err), DS_OK);
  CU_ASSERT_EQUAL(count_of_type(doc, "Scenarios.Invoice"),
                  (uint64_t)json_integer_value(json_object_get(json_object_get(json_object_get(truth, "types"),
                                                                              "Scenarios.Invoice"), "count")));
  json_decref(doc);

  /* the fragmentation query sees the pinned arrays holding gaps open */
  CU_ASSERT_EQUAL_FATAL(ds_query_fragmentation(q, 1000, &doc, &err), DS_OK);
  CU_ASSERT(json_integer_value(json_object_get(doc, "pinned_gap_holders_count")) > 0);
  json_decref(doc);

  /* value-type arrays with references (the GC descriptor's repeating series): every
     Dictionary<string, object> entry array references exactly its non-null keys and values */
  ds_object_filter entries = {.gen = -1,
                              .type_text = "System.Collections.Generic.Dictionary`2+Entry[[System.String, "
                                           "System.Private.CoreLib],[System.Object, System.Private.CoreLib]][]",
                              .type_exact = true};
  CU_ASSERT_EQUAL_FATAL(ds_query_objects(q, &entries, 0, 100, &doc, &err), DS_OK);
  ds_dump *dump = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(fx->dump, &dump, &err), DS_OK);
  size_t arrays = 0;
  json_t *o;
  json_array_foreach(json_object_get(doc, "objects"), i, o) {
    uint64_t arr = addr_of(json_string_value(json_object_get(o, "address")));
    uint32_t length = 0;
    CU_ASSERT_FATAL(ds_dump_read_u32(dump, arr + 8, &length));
    json_int_t expect = 0;
    for (uint32_t e = 0; e < length; e++)
      for (int slot = 0; slot < 2; slot++) { /* Entry: key @0, value @8, next @16, hashCode @20 */
        uint64_t v = 0;
        CU_ASSERT_FATAL(ds_dump_read_u64(dump, arr + 16 + 24ull * e + 8ull * (uint64_t)slot, &v));
        expect += v != 0;
      }
    json_t *refs = NULL;
    CU_ASSERT_EQUAL_FATAL(ds_query_refs(q, arr, 0, &refs, &err), DS_OK);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(refs, "references_count")), expect);
    json_decref(refs);
    arrays++;
  }
  CU_ASSERT(arrays > 0);
  ds_dump_close(dump);
  json_decref(doc);

  /* an address that is not an object */
  CU_ASSERT_EQUAL(ds_query_refs(q, 0x10, 0, &doc, &err), DS_E_NOT_FOUND);
  ds_query_close(q);
}

/* Every reference the index holds is real: the target's address is a word in the referring
 * object's memory in the dump, or the pair is a dependent handle's edge (the extra edges section),
 * or the target is the LoaderAllocator of a collectible type. Checks the whole outgoing CSR of
 * every fixture of process "main" (its scenario "dependent" puts handle edges low in the heap):
 * references written at the wrong place, or to the wrong object, fail it. */
static bool in_extras(const ds_index_extra_edge *x, size_t count, uint32_t from, uint32_t to) {
  for (size_t k = 0; k < count; k++)
    if (x[k].from == from && x[k].to == to)
      return true;
  return false;
}

static void check_references_real(ds_fixture *fx) {
  char path[512];
  build_index(fx, path, sizeof path);
  ds_error err = {0};
  ds_index *idx = NULL;
  ds_dump *dump = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_index_open(path, &idx, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(fx->dump, &dump, &err), DS_OK);
  uint64_t bytes[7];
  const uint64_t *addr = ds_index_section(idx, DS_SEC_OBJ_ADDR, &bytes[0]);
  const uint32_t *size = ds_index_section(idx, DS_SEC_OBJ_SIZE, &bytes[1]);
  const uint32_t *type = ds_index_section(idx, DS_SEC_OBJ_TYPE, &bytes[2]);
  const uint32_t *off = ds_index_section(idx, DS_SEC_OUT_OFF, &bytes[3]);
  const uint32_t *edge = ds_index_section(idx, DS_SEC_OUT_EDGE, &bytes[4]);
  const ds_index_extra_edge *extras = ds_index_section(idx, DS_SEC_EXTRA_EDGES, &bytes[5]);
  const ds_index_type *types = ds_index_section(idx, DS_SEC_TYPES, &bytes[6]);
  uint64_t strings_len = 0;
  const char *strings = ds_index_section(idx, DS_SEC_STRINGS, &strings_len);
  CU_ASSERT_FATAL(addr && size && type && off && edge && types && strings);
  size_t n = bytes[0] / 8, extra_count = extras ? bytes[5] / sizeof *extras : 0, checked = 0, handles = 0;
  CU_ASSERT_EQUAL_FATAL(bytes[3], (n + 1) * 4);
  CU_ASSERT_EQUAL(off[n] * 4ull, bytes[4]);
  uint8_t *mem = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < n; i++) {
    if (off[i + 1] == off[i])
      continue;
    CU_ASSERT_FATAL(off[i + 1] > off[i] && size[i] != UINT32_MAX);
    if (size[i] > cap) {
      cap = size[i];
      mem = realloc(mem, cap);
      CU_ASSERT_FATAL(mem != NULL);
    }
    CU_ASSERT_EQUAL_FATAL(ds_dump_read(dump, addr[i], mem, size[i]), size[i]);
    for (uint32_t e = off[i]; e < off[i + 1]; e++) {
      uint32_t t = edge[e];
      CU_ASSERT_FATAL(t < n);
      bool found = false;
      for (uint32_t w = 0; !found && w + 8 <= size[i]; w += 8) {
        uint64_t v;
        memcpy(&v, mem + w, 8);
        found = v == addr[t];
      }
      if (!found && in_extras(extras, extra_count, (uint32_t)i, t))
        found = true, handles++;
      if (!found && strstr(strings + types[type[t]].name, "LoaderAllocator"))
        found = true;
      if (!found)
        fprintf(stderr, "%s: object %zu (0x%llx) has a reference to 0x%llx that is not in its memory\n", fx->name, i,
                (unsigned long long)addr[i], (unsigned long long)addr[t]);
      CU_ASSERT_FATAL(found);
      checked++;
    }
  }
  CU_ASSERT(checked > 100000);
  CU_ASSERT(handles >= 64); /* scenario "dependent" */
  free(mem);
  ds_dump_close(dump);
  ds_index_close(idx);
}

static void test_references_real(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT(n > 0);
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].kind, "heap") == 0)
      check_references_real(&fx[i]);
}

/* The incoming references are the outgoing ones inverted: for every object, exactly the objects
 * that refer to it, once per reference, in ascending order. Inverted here the plain way, one
 * pass, so the build's split of the work between threads is checked against it. */
static void check_incoming_inverted(ds_fixture *fx) {
  char path[512];
  build_index(fx, path, sizeof path);
  ds_error err = {0};
  ds_index *idx = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_index_open(path, &idx, &err), DS_OK);
  uint64_t bytes[4];
  const uint32_t *off = ds_index_section(idx, DS_SEC_OUT_OFF, &bytes[0]);
  const uint32_t *edge = ds_index_section(idx, DS_SEC_OUT_EDGE, &bytes[1]);
  const uint32_t *in_off = ds_index_section(idx, DS_SEC_IN_OFF, &bytes[2]);
  const uint32_t *in_edge = ds_index_section(idx, DS_SEC_IN_EDGE, &bytes[3]);
  CU_ASSERT_FATAL(off && edge && in_off && in_edge);
  size_t n = bytes[0] / 4 - 1, edges = bytes[1] / 4;
  CU_ASSERT_EQUAL_FATAL(bytes[2], bytes[0]);
  CU_ASSERT_EQUAL_FATAL(bytes[3], bytes[1]);
  CU_ASSERT_FATAL(n > 1000 && edges > 1000);
  uint32_t *start = calloc(n + 1, sizeof *start), *want = malloc(edges * sizeof *want);
  CU_ASSERT_FATAL(start && want);
  for (size_t e = 0; e < edges; e++) {
    CU_ASSERT_FATAL(edge[e] < n);
    start[edge[e] + 1]++;
  }
  for (size_t t = 0; t < n; t++)
    start[t + 1] += start[t];
  for (size_t t = 0; t <= n; t++)
    if (in_off[t] != start[t]) {
      fprintf(stderr, "%s: object %zu's incoming references start at %u, not %u\n", fx->name, t, in_off[t], start[t]);
      CU_FAIL_FATAL("incoming offsets differ from the inverted outgoing references");
    }
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t e = off[i]; e < off[i + 1]; e++)
      want[start[edge[e]]++] = i;
  size_t differ = 0;
  for (size_t e = 0; e < edges; e++)
    differ += in_edge[e] != want[e];
  if (differ)
    fprintf(stderr, "%s: %zu of %zu incoming references differ from the inverted outgoing ones\n", fx->name, differ,
            edges);
  CU_ASSERT_EQUAL(differ, 0);
  free(start);
  free(want);
  ds_index_close(idx);
}

static void test_incoming_inverted(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT(n > 0);
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].kind, "heap") == 0)
      check_incoming_inverted(&fx[i]);
}

/* Files in dir whose name starts with prefix. */
static size_t files_starting(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  size_t count = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    count += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
  if (d)
    closedir(d);
  return count;
}

/* A rebuild that cannot write its file (a file size limit of 1 MiB: writes fail with EFBIG,
 * among them those of the sections written behind on the writer thread) fails with the reason,
 * leaves no temporary file, and the index already there stays as it was. In a child process,
 * which the limit binds alone. */
static void test_write_failure(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx), k = 0;
  while (k < n && strcmp(fx[k].kind, "heap") != 0)
    k++;
  CU_ASSERT_FATAL(k < n);
  char path[512], name[600];
  build_index(&fx[k], path, sizeof path);
  struct stat before, after;
  CU_ASSERT_FATAL(stat(path, &before) == 0 && before.st_size > (1 << 20));
  pid_t pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {1 << 20, 1 << 20};
    ds_error err = {0};
    ds_analysis *a = NULL;
    ds_dac_search search = {.offline = true};
    ds_root_set roots = {0};
    ds_build_stats stats;
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0 || ds_analysis_open(fx[k].dump, &search, &a, &err) != DS_OK ||
        ds_roots_collect(a, &roots, &err) != DS_OK)
      _exit(10);
    ds_status rc = ds_index_build(a, &roots, path, &stats, &err);
    if (rc != DS_E_IO || !strstr(err.message, "cannot write") || !strstr(err.message, "File too large")) {
      fprintf(stderr, "build under a file size limit: status %d, \"%s\"\n", (int)rc, err.message);
      _exit(11);
    }
    _exit(0);
  }
  int status = 0;
  CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
  CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CU_ASSERT_FATAL(stat(path, &after) == 0);
  CU_ASSERT_EQUAL(after.st_size, before.st_size);
  CU_ASSERT(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  const char *base = strrchr(path, '/') + 1;
  snprintf(name, sizeof name, "%s.tmp.", base);
  CU_ASSERT_EQUAL(files_starting(ds_test_tmpdir(), name), 0);
  ds_error err = {0};
  ds_index *idx = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_index_open(path, &idx, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_index_verify_all(idx, &err), DS_OK);
  ds_index_close(idx);
}

static void test_index_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  for (size_t i = 0; i < n; i++)
    check_fixture(&fx[i]);
}

/* The per-type statistics come from the index's histogram section when no size filter applies and
 * from a walk over the objects otherwise (min_size 1 passes every object): both must agree for
 * every generation and liveness, with and without a type filter. */
static void test_stats_paths_agree(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    build_index(&fx[i], path, sizeof path);
    ds_query *q = NULL;
    ds_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ds_query_open(path, fx[i].dump, &q, &err), DS_OK);
    const char *filters[] = {NULL, "Invoice", "System.String"};
    for (int gen = -1; gen < 6; gen++)
      for (int live = 0; live < 3; live++)
        for (size_t t = 0; t < 3; t++) {
          ds_object_filter fast = {.gen = gen, .liveness = (ds_liveness)live, .type_text = filters[t]};
          ds_object_filter walk = fast;
          walk.min_size = 1;
          json_t *a = NULL, *b = NULL;
          CU_ASSERT_EQUAL_FATAL(ds_query_stats(q, &fast, DS_SORT_SIZE, 0, &a, &err), DS_OK);
          CU_ASSERT_EQUAL_FATAL(ds_query_stats(q, &walk, DS_SORT_SIZE, 0, &b, &err), DS_OK);
          if (!json_equal(a, b))
            fprintf(stderr, "%s: gen %d liveness %d type %s: histogram and walk disagree\n", fx[i].name, gen, live,
                    filters[t] ? filters[t] : "*");
          CU_ASSERT(json_equal(a, b));
          json_decref(a);
          json_decref(b);
        }
    ds_query_close(q);
  }
}

/* The objects to ask a root search about: markers of the truth, objects on the full index's
 * paths to them (held at every depth, by every kind of root), and a dead object. */
static size_t search_targets(ds_fixture *fx, ds_query *q, uint64_t *out, size_t cap) {
  size_t count = 0, i;
  json_t *m;
  json_array_foreach(json_object_get(fx->truth, "markers"), i, m) {
    if (count + 3 > cap)
      break;
    if (i % 2)
      continue;
    uint64_t addr = addr_of(json_string_value(json_object_get(m, "address")));
    out[count++] = addr;
    json_t *doc = NULL;
    ds_error err = {0};
    if (i % 4 || ds_query_root_paths(q, addr, false, 0, &doc, &err) != DS_OK)
      continue;
    json_t *hops = json_object_get(json_array_get(json_object_get(doc, "paths"), 0), "objects");
    if (json_array_size(hops) >= 3) /* the object right below the root */
      out[count++] = addr_of(json_string_value(json_object_get(json_array_get(hops, 1), "address")));
    json_decref(doc);
  }
  ds_object_filter dead = {.gen = -1, .liveness = DS_DEAD_ONLY};
  json_t *doc = NULL;
  ds_error err = {0};
  if (count < cap && ds_query_objects(q, &dead, 0, 1, &doc, &err) == DS_OK) {
    json_t *first = json_array_get(json_object_get(doc, "objects"), 0);
    if (first)
      out[count++] = addr_of(json_string_value(json_object_get(first, "address")));
  }
  json_decref(doc);
  return count;
}

/* `roots DUMP ADDR` before the index exists: the root search's index must give the same root
 * path, field names and liveness as the full index, for live objects near and far from their
 * roots and for dead ones (the test makes sure it asked about both). On the main fixtures. */
static void test_root_search_agrees(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx), deep = 0, dead = 0, asked = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096], search_path[4200];
    build_index(&fx[i], path, sizeof path);
    snprintf(search_path, sizeof search_path, "%s/%s.search.dsindex", ds_test_tmpdir(), fx[i].name);
    ds_query *q = NULL;
    ds_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ds_query_open(path, fx[i].dump, &q, &err), DS_OK);
    ds_analysis *a = NULL;
    ds_dac_search search = {.offline = true};
    CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx[i].dump, &search, &a, &err), DS_OK);
    json_t *summary = NULL;
    CU_ASSERT_EQUAL_FATAL(ds_query_summary(q, &summary, &err), DS_OK);
    uint64_t all_edges = (uint64_t)json_integer_value(json_object_get(summary, "references"));
    json_decref(summary);
    CU_ASSERT(all_edges > 0);
    uint64_t targets[14];
    size_t count = search_targets(&fx[i], q, targets, sizeof targets / sizeof *targets);
    for (size_t t = 0; t < count; t++) {
      json_t *want = NULL, *got = NULL;
      ds_status want_rc = ds_query_root_paths(q, targets[t], false, 0, &want, &err);
      ds_build_stats stats;
      CU_ASSERT_EQUAL_FATAL(ds_index_build_root_search(a, targets[t], search_path, &stats, &err), DS_OK);
      ds_query *sq = NULL;
      /* its sections carry no checksums: the ordinary open refuses it as damaged */
      CU_ASSERT_EQUAL(ds_query_open(search_path, fx[i].dump, &sq, &err), DS_E_CORRUPT);
      ds_query_close(sq);
      sq = NULL;
      CU_ASSERT_EQUAL_FATAL(ds_query_open_unchecked(search_path, fx[i].dump, &sq, &err), DS_OK);
      unlink(search_path);
      ds_status got_rc = ds_query_root_paths(sq, targets[t], false, 0, &got, &err);
      CU_ASSERT_EQUAL(got_rc, want_rc);
      if (!json_equal(want, got)) {
        char *w = json_dumps(want, JSON_COMPACT), *g = json_dumps(got, JSON_COMPACT);
        fprintf(stderr, "%s 0x%llx: the root search answers\n  %.600s\nthe full index\n  %.600s\n", fx[i].name,
                (unsigned long long)targets[t], g ? g : "(null)", w ? w : "(null)");
        free(w);
        free(g);
      }
      CU_ASSERT(json_equal(want, got));
      json_t *first = json_array_get(json_object_get(want, "paths"), 0);
      deep += json_integer_value(json_object_get(first, "length")) >= 3;
      dead += want && !json_is_true(json_object_get(want, "live"));
      /* the search reads fewer references than the full index holds, except when it must
         exhaust the graph (a dead target) */
      if (json_is_true(json_object_get(want, "live")))
        CU_ASSERT(stats.edges <= all_edges);
      asked++;
      json_decref(want);
      json_decref(got);
      ds_query_close(sq);
    }
    ds_analysis_close(a);
    ds_query_close(q);
  }
  fprintf(stderr, "root search: %zu targets, %zu three or more objects from their root, %zu dead\n", asked, deep,
          dead);
  CU_ASSERT(deep > 0);
  CU_ASSERT(dead > 0);
}

/* ---- robustness ---------------------------------------------------------------------------------- */

static void copy_file(const char *src, const char *dst, off_t len) {
  int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CU_ASSERT_FATAL(in >= 0 && out >= 0);
  struct stat st;
  fstat(in, &st);
  off_t want = len < 0 ? st.st_size : len, done = 0;
  char buf[1 << 16];
  while (done < want) {
    ssize_t n = read(in, buf, (size_t)(want - done) < sizeof buf ? (size_t)(want - done) : sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_FATAL(write(out, buf, (size_t)n) == n);
    done += n;
  }
  close(in);
  close(out);
}

static void patch(const char *path, off_t offset, const void *bytes, size_t len) {
  int fd = open(path, O_RDWR);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(pwrite(fd, bytes, len, offset), (ssize_t)len);
  close(fd);
}

/* ds_index_require_many checks several sections on two threads: every verdict is the one
 * ds_index_require gives, and a flipped bit in one section is reported with that section's name
 * while the others pass. */
static void test_require_many(void) {
  ds_fixture *fx;
  ds_fixtures("main", &fx);
  char good[512], bad[600];
  build_index(&fx[0], good, sizeof good);
  snprintf(bad, sizeof bad, "%s/damaged-many.dsindex", ds_test_tmpdir());
  const ds_section_id ids[] = {DS_SEC_OBJ_ADDR, DS_SEC_OBJ_TYPE, DS_SEC_OBJ_SIZE, DS_SEC_IN_OFF,
                               DS_SEC_IN_EDGE,  DS_SEC_OUT_OFF,  DS_SEC_OUT_EDGE, DS_SEC_LIVE};
  const size_t count = sizeof ids / sizeof *ids;
  ds_error err = {0};
  ds_index *idx = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_index_open(good, &idx, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_index_require_many(idx, ids, count, &err), DS_OK);
  /* where the incoming references lie in the file: found by their bytes */
  uint64_t size = 0;
  const uint8_t *edges = ds_index_section(idx, DS_SEC_IN_EDGE, &size);
  CU_ASSERT_FATAL(edges && size >= 4096);
  int fd = open(good, O_RDONLY);
  struct stat st;
  CU_ASSERT_FATAL(fd >= 0 && fstat(fd, &st) == 0);
  uint8_t *file = malloc((size_t)st.st_size);
  CU_ASSERT_FATAL(file && read(fd, file, (size_t)st.st_size) == st.st_size);
  close(fd);
  const uint8_t *at = memmem(file, (size_t)st.st_size, edges, 4096);
  CU_ASSERT_FATAL(at != NULL);
  off_t where = (off_t)(at - file) + (off_t)(size / 2);
  uint8_t byte = (uint8_t)(file[where] ^ 0x04);
  free(file);
  ds_index_close(idx);

  copy_file(good, bad, -1);
  patch(bad, where, &byte, 1);
  CU_ASSERT_EQUAL_FATAL(ds_index_open(bad, &idx, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_index_require_many(idx, ids, count, &err), DS_E_CORRUPT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "incoming references"));
  for (size_t k = 0; k < count; k++)
    CU_ASSERT_EQUAL(ds_index_require(idx, ids[k], &err), ids[k] == DS_SEC_IN_EDGE ? DS_E_CORRUPT : DS_OK);
  ds_index_close(idx);
  unlink(bad);
}

static void test_damaged_index(void) {
  ds_fixture *fx;
  ds_fixtures("main", &fx);
  char good[512], bad[600];
  build_index(&fx[0], good, sizeof good);
  snprintf(bad, sizeof bad, "%s/damaged.dsindex", ds_test_tmpdir());
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(good, &st), 0);
  ds_error err = {0};
  ds_index *idx = NULL;

  /* truncated at several points */
  off_t cuts[] = {0, 20, 47, 200, st.st_size / 2, st.st_size - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    copy_file(good, bad, cuts[i]);
    ds_status rc = ds_index_open(bad, &idx, &err);
    CU_ASSERT(rc == DS_E_TRUNCATED || rc == DS_E_CORRUPT);
    CU_ASSERT(strstr(err.message, "truncated") || strstr(err.message, "checksum") || strstr(err.message, "outside"));
    CU_ASSERT_PTR_NULL(idx);
  }

  /* wrong version (with a consistent header checksum: the version is what is refused) */
  copy_file(good, bad, -1);
  uint8_t header[48];
  int fd = open(bad, O_RDONLY);
  CU_ASSERT_EQUAL_FATAL(read(fd, header, sizeof header), (ssize_t)sizeof header);
  close(fd);
  uint32_t version = DS_INDEX_VERSION + 7;
  memcpy(header + 8, &version, 4);
  uint64_t sum = ds_index_checksum(header, 40);
  memcpy(header + 40, &sum, 8);
  patch(bad, 0, header, sizeof header);
  CU_ASSERT_EQUAL(ds_index_open(bad, &idx, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "version"));

  /* a flipped bit in the header */
  copy_file(good, bad, -1);
  uint8_t b = 0x10;
  patch(bad, 20, &b, 1);
  CU_ASSERT_EQUAL(ds_index_open(bad, &idx, &err), DS_E_CORRUPT);

  /* a flipped bit deep in a large section: opening is cheap, the first query touching that
     section refuses it, and so does a full verification */
  copy_file(good, bad, -1);
  off_t where = st.st_size - 4096;
  uint8_t byte;
  fd = open(bad, O_RDONLY);
  CU_ASSERT_EQUAL(pread(fd, &byte, 1, where), 1);
  close(fd);
  byte ^= 0x01;
  patch(bad, where, &byte, 1);
  ds_status rc = ds_index_open(bad, &idx, &err);
  if (rc == DS_OK) {
    CU_ASSERT_EQUAL(ds_index_verify_all(idx, &err), DS_E_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "checksum"));
    ds_index_close(idx);
    ds_query *q = NULL;
    CU_ASSERT_EQUAL_FATAL(ds_query_open(bad, fx[0].dump, &q, &err), DS_OK);
    ds_object_filter all = {.gen = -1};
    json_t *doc = NULL;
    ds_status s1 = ds_query_stats(q, &all, DS_SORT_SIZE, 0, &doc, &err);
    json_decref(doc);
    doc = NULL;
    uint64_t some = addr_of(marker(fx[0].truth, "invoice.first", "address"));
    ds_status s2 = ds_query_root_paths(q, some, false, 0, &doc, &err);
    json_decref(doc);
    CU_ASSERT(s1 == DS_E_CORRUPT || s2 == DS_E_CORRUPT);
    ds_query_close(q);
  } else {
    CU_ASSERT_EQUAL(rc, DS_E_CORRUPT);
  }

  /* not an index at all */
  CU_ASSERT_EQUAL(ds_index_open(fx[0].dump, &idx, &err), DS_E_FORMAT);
  unlink(bad);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("index", NULL, NULL);
  CU_add_test(s, "index answers match the scenario truth on every fixture", test_index_truth);
  CU_add_test(s, "every reference in the index is a pointer in its object or a handle's edge", test_references_real);
  CU_add_test(s, "the incoming references are the outgoing ones inverted, in source order", test_incoming_inverted);
  CU_add_test(s, "damaged index files are refused with their reason", test_damaged_index);
  CU_add_test(s, "a rebuild that cannot write fails with the reason and keeps the old index", test_write_failure);
  CU_add_test(s, "sections checked together on two threads give each one's verdict", test_require_many);
  CU_add_test(s, "type statistics from the histogram equal those from the walk", test_stats_paths_agree);
  CU_add_test(s, "a root search answers a root path as the full index does", test_root_search_agrees);
  return ds_test_main();
}
