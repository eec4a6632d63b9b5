/*
 * test_heap.c: our heap walk against the scenario program's own account of its heap, for every
 * fixture (workstation/regions, server GC, segments GC; full and heap dumps): exact counts and
 * sizes of every scenario type, markers at their addresses with their type, size and generation,
 * string values read back exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/analysis.h"
#include "fixture.h"
#include "sha256.h"

typedef struct by_name {
  const ds_heap *heap;
  const ds_histogram *hist;
} by_name;

static const ds_histogram_row *find_row(const ds_heap *heap, const ds_histogram *hist, const char *name) {
  for (size_t i = 0; i < hist->row_count; i++) {
    const ds_type *t = ds_heap_type(heap, hist->rows[i].type);
    if (t->name && strcmp(t->name, name) == 0)
      return &hist->rows[i];
  }
  return NULL;
}

static int expected_gen(json_t *marker) {
  const char *heap = json_string_value(json_object_get(marker, "heap"));
  if (heap && strcmp(heap, "loh") == 0)
    return DS_GEN_LOH;
  if (heap && strcmp(heap, "poh") == 0)
    return DS_GEN_POH;
  if (heap && strcmp(heap, "frozen") == 0)
    return DS_GEN_FROZEN;
  return (int)json_integer_value(json_object_get(marker, "generation"));
}

/* Markers seen in generations 0 and 1 over all fixtures (the locks process has both). */
static size_t young_markers[2];

static void check_fixture(ds_fixture *fx) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  ds_status rc = ds_analysis_open(fx->dump, &search, &a, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", fx->name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  ds_gc_info *gc = ds_heap_gc_info(a->heap);
  json_t *truth = fx->truth;
  json_t *tgc = json_object_get(truth, "gc");
  CU_ASSERT_EQUAL(gc->server, json_is_true(json_object_get(tgc, "server")));
  CU_ASSERT_EQUAL(gc->heap_count, (uint32_t)json_integer_value(json_object_get(tgc, "heap_count")));
  CU_ASSERT_EQUAL(gc->regions, strcmp(fx->variant, "seg") != 0);

  ds_histogram hist;
  rc = ds_heap_histogram(a->heap, -1, &hist, &err);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  CU_ASSERT_EQUAL(hist.stats.error_count, 0);
  for (size_t i = 0; i < hist.stats.error_count && i < 5; i++)
    fprintf(stderr, "%s: heap error: %s\n", fx->name, hist.stats.errors[i].message);

  /* every truth list the loops below walk has entries: an empty one would pass vacuously */
  CU_ASSERT(json_object_size(json_object_get(truth, "types")) > 0);
  CU_ASSERT(json_array_size(json_object_get(truth, "markers")) > 0);
  if (strcmp(fx->process, "main") == 0)
    CU_ASSERT(json_array_size(json_object_get(truth, "strings")) > 0);

  /* exact counts and sizes per scenario type */
  const char *name;
  json_t *expect;
  json_object_foreach(json_object_get(truth, "types"), name, expect) {
    const ds_histogram_row *row = find_row(a->heap, &hist, name);
    json_int_t count = json_integer_value(json_object_get(expect, "count"));
    json_int_t size = json_integer_value(json_object_get(expect, "total_size"));
    if (!row || (json_int_t)row->count != count || (json_int_t)row->total_size != size)
      fprintf(stderr, "%s: %s: expected %lld objects / %lld bytes, found %llu / %llu\n", fx->name, name,
              (long long)count, (long long)size, row ? (unsigned long long)row->count : 0ull,
              row ? (unsigned long long)row->total_size : 0ull);
    CU_ASSERT_PTR_NOT_NULL(row);
    if (row) {
      CU_ASSERT_EQUAL((json_int_t)row->count, count);
      CU_ASSERT_EQUAL((json_int_t)row->total_size, size);
    }
  }

  /* markers: type, size and generation at the reported address */
  size_t i;
  json_t *marker;
  json_array_foreach(json_object_get(truth, "markers"), i, marker) {
    uint64_t addr = 0;
    CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(marker, "address")), &addr));
    uint32_t ti = UINT32_MAX;
    uint64_t size = ds_heap_object_size(a->heap, addr, &ti);
    const char *mname = json_string_value(json_object_get(marker, "name"));
    CU_ASSERT_NOT_EQUAL_FATAL(ti, UINT32_MAX);
    const ds_type *t = ds_heap_type(a->heap, ti);
    const char *want_type = json_string_value(json_object_get(marker, "type"));
    if (strcmp(t->name, want_type) != 0)
      fprintf(stderr, "%s: marker %s: type %s, truth says %s\n", fx->name, mname, t->name, want_type);
    CU_ASSERT_STRING_EQUAL(t->name, want_type);
    CU_ASSERT_EQUAL((json_int_t)size, json_integer_value(json_object_get(marker, "size")));
    int gen = ds_heap_generation_of(a->heap, addr);
    if (gen != expected_gen(marker))
      fprintf(stderr, "%s: marker %s at %llx: generation %d, truth says %d\n", fx->name, mname,
              (unsigned long long)addr, gen, expected_gen(marker));
    CU_ASSERT_EQUAL(gen, expected_gen(marker));
    if (gen == DS_GEN_0 || gen == DS_GEN_1)
      young_markers[gen]++;
  }

  /* strings read back exactly */
  json_t *str;
  json_array_foreach(json_object_get(truth, "strings"), i, str) {
    uint64_t addr = 0;
    CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(str, "address")), &addr));
    json_int_t length = json_integer_value(json_object_get(str, "length"));
    size_t cap = (size_t)length * 3 + 16;
    char *buf = malloc(cap);
    CU_ASSERT_FATAL(buf != NULL);
    int64_t got = ds_heap_read_string(a->heap, addr, (size_t)length, buf, cap);
    CU_ASSERT_EQUAL(got, length);
    const char *value = json_string_value(json_object_get(str, "value"));
    const char *sha = json_string_value(json_object_get(str, "sha256"));
    if (value) {
      CU_ASSERT_STRING_EQUAL(buf, value);
    } else {
      CU_ASSERT_PTR_NOT_NULL(sha);
      char hexsum[65];
      ds_test_sha256_hex(buf, strlen(buf), hexsum);
      if (sha)
        CU_ASSERT_STRING_EQUAL(hexsum, sha);
    }
    free(buf);
  }
  ds_histogram_free(&hist);
  ds_analysis_close(a);
}

static void test_heap_matches_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++)
    check_fixture(&fx[i]);
  /* generations 0 and 1 are checked, not only gen 2, LOH, POH and frozen */
  CU_ASSERT(young_markers[DS_GEN_0] > 0);
  CU_ASSERT(young_markers[DS_GEN_1] > 0);
}

/* A generation filter walks only that generation, and the parts add up to the whole. */
static void test_generation_walks_add_up(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  for (size_t f = 0; f < n; f++) {
    ds_error err = {0};
    ds_analysis *a = NULL;
    ds_dac_search search = {.offline = true};
    CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx[f].dump, &search, &a, &err), DS_OK);
    ds_walk_stats all, part;
    CU_ASSERT_EQUAL_FATAL(ds_heap_walk(a->heap, -1, NULL, NULL, &all, &err), DS_OK);
    uint64_t objects = 0, bytes = 0;
    for (int g = 0; g < DS_GEN_COUNT; g++) {
      CU_ASSERT_EQUAL_FATAL(ds_heap_walk(a->heap, g, NULL, NULL, &part, &err), DS_OK);
      objects += part.objects;
      bytes += part.bytes;
      ds_walk_stats_free(&part);
    }
    CU_ASSERT_EQUAL(objects, all.objects);
    CU_ASSERT_EQUAL(bytes, all.bytes);
    CU_ASSERT(all.free_objects > 0); /* the fragmentation scenario leaves free space */
    ds_walk_stats_free(&all);
    ds_analysis_close(a);
  }
}

static void test_clrmd_type_names(void) {
  static const char *const cases[][2] = {
      {"System.String", "System.String"},
      {"System.Collections.Generic.List`1[[System.String, System.Private.CoreLib]]",
       "System.Collections.Generic.List<System.String>"},
      {"System.Collections.Generic.Dictionary`2+Entry[[System.String, System.Private.CoreLib],[System.Object, "
       "System.Private.CoreLib]][]",
       "System.Collections.Generic.Dictionary<System.String, System.Object>+Entry[]"},
      {"PathTable`1+PathTableRow`1[[System.String, mscorlib],[System.String, mscorlib]][]",
       "PathTable<System.String>+PathTableRow<System.String>[]"},
      {"System.Int32[,]", "System.Int32[,]"},
      {"System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib],[System.Collections."
       "Generic.List`1[[System.Int32, System.Private.CoreLib]], System.Private.CoreLib]]",
       "System.Collections.Generic.Dictionary<System.String, System.Collections.Generic.List<System.Int32>>"},
      {"Test.Foo`2", "Test.Foo<T1, T2>"},
      {"Broken`1[[", "Broken`1[["},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char out[512];
    ds_type_name_clrmd(cases[i][0], out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, cases[i][1]);
  }
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("heap", NULL, NULL);
  CU_add_test(s, "heap walk matches the scenario truth on every fixture", test_heap_matches_truth);
  CU_add_test(s, "per-generation walks add up to the whole heap", test_generation_walks_add_up);
  CU_add_test(s, "DAC type names respelled as ClrMD does", test_clrmd_type_names);
  return ds_test_main();
}
