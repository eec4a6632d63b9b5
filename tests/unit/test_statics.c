/*
 * test_statics.c: roots through the runtime's static storage and the paths no other test walks,
 * against the "statics" scenario's own account (scenario_data.statics) on every main fixture:
 *  - objects held only by [ThreadStatic] fields of a static class (a reference field, and a
 *    value-type field holding a reference) are thread-static roots of the right thread;
 *  - the root path of an object held by a static names the static field ("static field
 *    Ns.Type.field"), for a static class, a generic type's instantiation and the leak scenario's
 *    invoice list, with the statics storage array and its handle as detail;
 *  - an object held by a collectible type's static is live through its LoaderAllocator, and a
 *    collectible context unloaded before the dump leaves none of its objects;
 *  - an object held only by a suspended async method is live through the state machine box.
 * .NET 8 has no ISOSDacInterface14: its statics are found from the DomainLocalModule and each
 * thread's ThreadLocalModule (statics8.c) and named the same way; only the thread's whole
 * thread-static storage root is 9+ only (see check_collected).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/analysis.h"
#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "dumpscope/rootscan.h"
#include "fixture.h"

static uint64_t marker_address(json_t *truth, const char *name) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(truth, "markers"), i, m) {
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0) {
      uint64_t addr = 0;
      CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(m, "address")), &addr));
      return addr;
    }
  }
  fprintf(stderr, "marker %s missing from the truth\n", name);
  CU_FAIL_FATAL("marker missing from the truth");
  return 0;
}

static json_t *statics_truth(ds_fixture *fx) {
  json_t *s = json_object_get(json_object_get(fx->truth, "scenario_data"), "statics");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  return s;
}

/* The collected roots: the thread-static markers are named roots of the tls-holder thread, and
 * each thread's whole storage is rooted too (.NET 9+). */
static void check_collected(ds_fixture *fx, ds_analysis *a, const ds_root_set *set) {
  json_t *st = statics_truth(fx);
  uint32_t os_id = (uint32_t)json_integer_value(json_object_get(st, "tls_thread_os_id"));
  size_t thread = SIZE_MAX;
  for (size_t t = 0; t < set->thread_count; t++)
    if (set->threads[t].os_id == os_id)
      thread = t;
  CU_ASSERT_FATAL(thread != SIZE_MAX);
  uint64_t payload = marker_address(fx->truth, "tls.payload");
  /* .NET 9+ keeps a thread's thread statics in one array the GC reports for the thread, rooted
   * as a whole; .NET 8 has no such array (each ThreadLocalModule's Object[] is held by a strong
   * handle, a root of its own), so there is no storage root there */
  size_t storage_expected = ds_fixture_runtime_major(fx) >= 9 ? 1 : 0;
  size_t named = 0, storage = 0;
  for (size_t r = 0; r < set->root_count; r++) {
    const ds_root *root = &set->roots[r];
    if (root->kind != DS_ROOT_THREAD_STATIC)
      continue;
    if (root->field_mt == 0 && root->thread == thread)
      storage++;
    if (root->object == payload) {
      named++;
      CU_ASSERT_EQUAL(root->thread, thread);
      CU_ASSERT_NOT_EQUAL(root->field_mt, 0);
    }
  }
  if (named != 1 || storage != storage_expected)
    fprintf(stderr, "%s: tls.payload: %zu named thread-static root(s), %zu storage root(s) of tls-holder\n",
            fx->name, named, storage);
  CU_ASSERT_EQUAL(named, 1);
  CU_ASSERT_EQUAL(storage, storage_expected);
  (void)a;
}

static void build_index(ds_fixture *fx, ds_analysis *a, const ds_root_set *roots, char *path, size_t len) {
  snprintf(path, len, "%s/%s.statics.dsindex", ds_test_tmpdir(), fx->name);
  ds_error err = {0};
  ds_build_stats stats;
  ds_status rc = ds_index_build(a, roots, path, &stats, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", fx->name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
}

static json_t *root_paths(ds_query *q, uint64_t addr, bool all) {
  ds_error err = {0};
  json_t *doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_root_paths(q, addr, all, 0, &doc, &err), DS_OK);
  return doc;
}

/* The expected root of each marker: kind, field and (thread statics) thread; the statics storage
 * and its handle are detail of a static field, never a path of their own. */
static void check_expected_roots(ds_fixture *fx, ds_query *q) {
  json_t *st = statics_truth(fx);
  json_int_t tls_os = json_integer_value(json_object_get(st, "tls_thread_os_id"));
  const char *name;
  json_t *want;
  json_object_foreach(json_object_get(st, "expected_roots"), name, want) {
    json_t *doc = root_paths(q, marker_address(fx->truth, name), true);
    CU_ASSERT(json_is_true(json_object_get(doc, "live")));
    json_t *paths = json_object_get(doc, "paths");
    CU_ASSERT_FATAL(json_array_size(paths) >= 1);
    json_t *root = json_object_get(json_array_get(paths, 0), "root");
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const char *field = json_string_value(json_object_get(root, "field"));
    const char *want_kind = json_string_value(json_object_get(want, "kind"));
    const char *want_field = json_string_value(json_object_get(want, "field"));
    if (!kind || !field || strcmp(kind, want_kind) != 0 || strcmp(field, want_field) != 0)
      fprintf(stderr, "%s: %s: root %s %s, expected %s %s\n", fx->name, name, kind ? kind : "?",
              field ? field : "(unnamed)", want_kind, want_field);
    CU_ASSERT_STRING_EQUAL(kind ? kind : "", want_kind);
    CU_ASSERT_STRING_EQUAL(field ? field : "", want_field);
    /* the static's own object, or (a value-type static) its box first */
    CU_ASSERT(json_integer_value(json_object_get(json_array_get(paths, 0), "length")) <= 2);
    json_t *storage = json_object_get(root, "storage");
    CU_ASSERT_PTR_NOT_NULL(storage);
    if (strcmp(want_kind, "static field") == 0) {
      /* the storage array is held by a strong handle, and no path goes through that handle */
      CU_ASSERT_PTR_NOT_NULL(json_object_get(storage, "handle"));
      size_t p;
      json_t *path;
      json_array_foreach(paths, p, path) {
        const char *k = json_string_value(json_object_get(json_object_get(path, "root"), "kind"));
        CU_ASSERT(strstr(k, "handle") == NULL);
      }
    } else {
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(root, "thread"), "os_id")), tls_os);
    }
    json_decref(doc);
  }
}

/* Whether the first path of addr passes an object whose type name contains needle. */
static bool path_has_type(ds_query *q, uint64_t addr, const char *needle, bool *live) {
  json_t *doc = root_paths(q, addr, false);
  *live = json_is_true(json_object_get(doc, "live"));
  json_t *objs = json_object_get(json_array_get(json_object_get(doc, "paths"), 0), "objects");
  bool found = false;
  size_t i;
  json_t *o;
  json_array_foreach(objs, i, o) found |= strstr(json_string_value(json_object_get(o, "type")), needle) != NULL;
  json_decref(doc);
  return found;
}

static size_t gone_count;
static const char *gone_type;
static ds_heap *gone_heap;
static bool count_gone(void *ctx, const ds_heap_object *obj) {
  (void)ctx;
  const ds_type *t = ds_heap_type(gone_heap, obj->type);
  gone_count += t && t->name && strcmp(t->name, gone_type) == 0;
  return true;
}

static void check_fixture(ds_fixture *fx) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx->dump, &(ds_dac_search){.offline = true}, &a, &err), DS_OK);
  ds_root_set set;
  ds_status rc = ds_roots_collect(a, &set, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", fx->name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  check_collected(fx, a, &set);

  char path[4096];
  build_index(fx, a, &set, path, sizeof path);
  ds_query *q = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_open(path, fx->dump, &q, &err), DS_OK);
  check_expected_roots(fx, q);

  json_t *st = statics_truth(fx);
  bool live = false;
  bool through_la = path_has_type(q, marker_address(fx->truth, "collectible.payload"),
                                  json_string_value(json_object_get(st, "collectible_loader_allocator_type")), &live);
  CU_ASSERT(live);
  CU_ASSERT(through_la);
  bool through_box = path_has_type(q, marker_address(fx->truth, "async.payload"),
                                   json_string_value(json_object_get(st, "async_box_type_contains")), &live);
  CU_ASSERT(live);
  CU_ASSERT(through_box);
  if (!through_la || !through_box)
    fprintf(stderr, "%s: collectible path through the loader allocator %d, async path through the box %d\n", fx->name,
            through_la, through_box);
  ds_query_close(q);
  unlink(path);

  /* the unloaded context left none of its objects */
  gone_type = json_string_value(json_object_get(st, "collectible_gone_type"));
  gone_heap = a->heap;
  gone_count = 0;
  ds_walk_stats walk;
  CU_ASSERT_EQUAL_FATAL(ds_heap_walk(a->heap, -1, count_gone, NULL, &walk, &err), DS_OK);
  ds_walk_stats_free(&walk);
  CU_ASSERT_EQUAL(gone_count, 0);

  ds_root_set_free(&set);
  ds_analysis_close(a);
}

static void test_statics_match_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  for (size_t i = 0; i < n; i++)
    check_fixture(&fx[i]);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("statics", NULL, NULL);
  CU_add_test(s, "thread statics, static fields, collectible and async roots match the scenario truth",
              test_statics_match_truth);
  return ds_test_main();
}
