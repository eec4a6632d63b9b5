/*
 * test_oracle.c: a second, independent oracle. ClrMD (Microsoft.Diagnostics.Runtime, pinned in
 * tests/oracle) walks the same fixture dumps; our per-type histogram must be identical to its:
 * the same MethodTables with the same type names (as ClrMD spells them), counts and total sizes;
 * and the same objects and bytes per generation, and per segment the same kind and object count.
 *
 * A core fixture (gdb gcore, laid out as a kernel core) lacks the assemblies' images, which ClrMD
 * does not look for on disk: there its counts and sizes per MethodTable are compared as usual,
 * and the names against ClrMD's on the createdump full dump of the same process (the same run,
 * so the same MethodTables).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/analysis.h"
#include "fixture.h"

/* ClrMD's segment kind as our generation name (an ephemeral segment holds several: NULL). */
static const char *kind_gen(const char *kind) {
  static const char *const map[][2] = {{"Gen0", "gen0"}, {"Gen1", "gen1"}, {"Gen2", "gen2"},
                                       {"Large", "loh"}, {"Pinned", "poh"}, {"Frozen", "frozen"}};
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (strcmp(kind, map[i][0]) == 0)
      return map[i][1];
  return NULL;
}

typedef struct seg_counts {
  ds_heap *heap;
  uint64_t *objects;   /* per range of ours */
} seg_counts;

static bool count_in_range(void *ctx, const ds_heap_object *o) {
  seg_counts *c = ctx;
  const ds_segment *s = ds_heap_segment_at(c->heap, o->address);
  if (s)
    c->objects[s - ds_heap_segment(c->heap, 0)]++;
  return true;
}

/* Per generation (objects and bytes, as ClrSegment.GetGeneration places them) and per segment
 * (its kind and object count): a generation label swapped anywhere shows here. */
static void compare_generations(ds_fixture *fx, ds_analysis *a, json_t *oracle) {
  ds_error err = {0};
  json_t *gens = json_object_get(oracle, "generations");
  CU_ASSERT(json_object_size(gens) >= 3);
  for (int g = 0; g < DS_GEN_COUNT; g++) {
    ds_histogram hist;
    CU_ASSERT_EQUAL_FATAL(ds_heap_histogram(a->heap, g, &hist, &err), DS_OK);
    uint64_t bytes = 0;
    for (size_t r = 0; r < hist.row_count; r++)
      bytes += hist.rows[r].total_size;
    json_t *want = json_object_get(gens, ds_gen_name((ds_gen)g));
    json_int_t want_count = json_integer_value(json_object_get(want, "object_count"));
    json_int_t want_bytes = json_integer_value(json_object_get(want, "total_size"));
    if ((json_int_t)hist.stats.objects != want_count || (json_int_t)bytes != want_bytes)
      fprintf(stderr, "%s: %s: ClrMD %lld objects / %lld bytes, ours %llu / %llu\n", fx->name,
              ds_gen_name((ds_gen)g), (long long)want_count, (long long)want_bytes,
              (unsigned long long)hist.stats.objects, (unsigned long long)bytes);
    CU_ASSERT_EQUAL((json_int_t)hist.stats.objects, want_count);
    CU_ASSERT_EQUAL((json_int_t)bytes, want_bytes);
    ds_histogram_free(&hist);
  }
  seg_counts c = {a->heap, calloc(ds_heap_segment_count(a->heap) + 1, sizeof *c.objects)};
  CU_ASSERT_PTR_NOT_NULL_FATAL(c.objects);
  ds_walk_stats stats;
  CU_ASSERT_EQUAL_FATAL(ds_heap_walk(a->heap, -1, count_in_range, &c, &stats, &err), DS_OK);
  ds_walk_stats_free(&stats);
  size_t i, compared = 0;
  json_t *seg;
  json_array_foreach(json_object_get(oracle, "segments"), i, seg) {
    uint64_t start = 0, end = 0;
    ds_test_hex(json_string_value(json_object_get(seg, "start")), &start);
    ds_test_hex(json_string_value(json_object_get(seg, "end")), &end);
    const char *gen = kind_gen(json_string_value(json_object_get(seg, "kind")));
    uint64_t ours = 0;
    bool kind_ok = true;
    for (size_t s = 0; s < ds_heap_segment_count(a->heap); s++) {
      const ds_segment *r = ds_heap_segment(a->heap, s);
      if (r->start < start || r->start >= (end > start ? end : start + 1))
        continue;
      ours += c.objects[s];
      if (gen && strcmp(ds_gen_name((ds_gen)r->gen), gen) != 0)
        kind_ok = false;
    }
    json_int_t want = json_integer_value(json_object_get(seg, "object_count"));
    if ((json_int_t)ours != want || !kind_ok)
      fprintf(stderr, "%s: segment %s (%s): ClrMD %lld objects, ours %llu%s\n", fx->name,
              json_string_value(json_object_get(seg, "start")), json_string_value(json_object_get(seg, "kind")),
              (long long)want, (unsigned long long)ours, kind_ok ? "" : ", another generation");
    CU_ASSERT_EQUAL((json_int_t)ours, want);
    CU_ASSERT(kind_ok);
    compared += want > 0;
  }
  CU_ASSERT(compared > 0);
  free(c.objects);
}

/* ClrMD's name of MethodTable mt in an oracle document; NULL when it has none. */
static const char *oracle_name(json_t *oracle, uint64_t mt) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(oracle, "types"), i, t) {
    uint64_t v = 0;
    if (ds_test_hex(json_string_value(json_object_get(t, "mt")), &v) && v == mt)
      return json_string_value(json_object_get(t, "name"));
  }
  return NULL;
}

static void compare(ds_fixture *fx, ds_fixture *all, size_t all_count) {
  json_t *oracle = ds_oracle_run(fx->dump);
  CU_ASSERT_PTR_NOT_NULL_FATAL(oracle);
  json_t *names = oracle; /* where ClrMD's names come from */
  if (strcmp(fx->kind, "core") == 0) {
    names = NULL;
    for (size_t i = 0; i < all_count && !names; i++)
      if (strcmp(all[i].truth_path, fx->truth_path) == 0 && strcmp(all[i].kind, "full") == 0)
        names = ds_oracle_run(all[i].dump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(names); /* make-fixtures.sh makes a core only beside a full dump */
  }
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
    const char *name = names == oracle ? json_string_value(json_object_get(t, "name")) : oracle_name(names, mt);
    if (!name)
      name = "(no name from ClrMD)";
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
  compare_generations(fx, a, oracle);
  ds_analysis_close(a);
  if (names != oracle)
    json_decref(names);
  json_decref(oracle);
}

static void test_histogram_equals_clrmd(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++)
    compare(&fx[i], fx, n);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("clrmd oracle", NULL, NULL);
  CU_add_test(s, "per-type, per-generation and per-segment counts identical to ClrMD's on every fixture",
              test_histogram_equals_clrmd);
  return ds_test_main();
}
