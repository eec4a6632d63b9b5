/*
 * test_layout.c: the runtime layout module (layout.h) without a dump: which runtimes have a
 * layout (older and newer ones are refused with a message naming what is supported), the thin
 * lock bits of .NET 6-7 against 8+, the offsets every supported runtime shares, and the GC
 * descriptor cursor on hand-made descriptors (it must give exactly the slots the GC walks, and
 * never one past the object).
 */
#include <stdio.h>
#include <string.h>

#include "dumpscope/layout.h"
#include "fixture.h"

static void test_version_gate(void) {
  const ds_layout *l = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL(ds_layout_for_runtime(5, "5.0.17.1234", &l, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NULL(l);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 6 to 10"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 5 (runtime 5.0.17.1234)"));

  for (int major = DS_RUNTIME_MAJOR_MIN; major <= DS_RUNTIME_MAJOR_MAX; major++) {
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(ds_layout_for_runtime(major, NULL, &l, &err), DS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT(l->first_major <= major && major <= l->last_major);
    CU_ASSERT_EQUAL(err.code, DS_OK);
  }
  CU_ASSERT_EQUAL(ds_layout_for_runtime(6, "6.0.36", &l, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_layout_for_runtime(10, "10.0.1226.42308", &l, &err), DS_OK);

  /* a newer runtime is refused, not read with .NET 10's assumptions */
  CU_ASSERT_EQUAL(ds_layout_for_runtime(11, "11.0.100.5", &l, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NULL(l);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 6 to 10"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 11 (runtime 11.0.100.5)"));
  CU_ASSERT_EQUAL(ds_layout_for_runtime(0, NULL, &l, &err), DS_E_UNSUPPORTED);

  CU_ASSERT_PTR_NOT_NULL(ds_layout_for_version("8.0.11.5"));
  CU_ASSERT_PTR_NULL(ds_layout_for_version("11.0.0"));
  CU_ASSERT_PTR_NULL(ds_layout_for_version("5.0.1"));
  CU_ASSERT_PTR_NULL(ds_layout_for_version("garbage"));
  CU_ASSERT_PTR_NULL(ds_layout_for_version(""));
  CU_ASSERT_PTR_NULL(ds_layout_for_version(NULL));
  CU_ASSERT_PTR_EQUAL(ds_layout_default(), ds_layout_for_version("10.0.1"));

  /* enum_flag_Collectible moved in .NET 9 (0x10000000 before, 0x00200000 since) */
  CU_ASSERT_EQUAL(ds_layout_for_version("8.0.31")->mt_flag_collectible, 0x10000000u);
  CU_ASSERT_EQUAL(ds_layout_for_version("7.0.20")->mt_flag_collectible, 0x10000000u);
  CU_ASSERT_EQUAL(ds_layout_for_version("9.0.20")->mt_flag_collectible, 0x00200000u);
  CU_ASSERT_EQUAL(ds_layout_for_version("10.0.12")->mt_flag_collectible, 0x00200000u);
}

static void test_thin_locks(void) {
  const ds_layout *net7 = ds_layout_for_version("7.0.20"), *net8 = ds_layout_for_version("8.0.11");
  CU_ASSERT_PTR_NOT_NULL_FATAL(net7);
  CU_ASSERT_PTR_NOT_NULL_FATAL(net8);
  uint32_t id = 0, recursion = 0;
  /* .NET 6-7: id in bits 0-9, recursion in bits 10-15 */
  CU_ASSERT(ds_layout_thin_lock(net7, 0x0C05u, &id, &recursion));
  CU_ASSERT_EQUAL(id, 5);
  CU_ASSERT_EQUAL(recursion, 3);
  /* .NET 8+: id in bits 0-15, recursion in bits 16-21 */
  CU_ASSERT(ds_layout_thin_lock(net8, 0x00020405u, &id, &recursion));
  CU_ASSERT_EQUAL(id, 0x405);
  CU_ASSERT_EQUAL(recursion, 2);
  CU_ASSERT(ds_layout_thin_lock(net7, 0x00020405u, &id, &recursion));
  CU_ASSERT_EQUAL(id, 5);
  CU_ASSERT_EQUAL(recursion, 1);
  /* hash code / sync block index, spin lock, and no owner are not thin locks */
  CU_ASSERT_FALSE(ds_layout_thin_lock(net8, 0x08000005u, &id, &recursion));
  CU_ASSERT_FALSE(ds_layout_thin_lock(net8, 0x10000005u, &id, &recursion));
  CU_ASSERT_FALSE(ds_layout_thin_lock(net8, 0x00030000u, &id, &recursion));
  CU_ASSERT_FALSE(ds_layout_thin_lock(net7, 0x0000FC00u, &id, &recursion));
}

static void test_offsets(void) {
  for (int major = DS_RUNTIME_MAJOR_MIN; major <= DS_RUNTIME_MAJOR_MAX; major++) {
    const ds_layout *l = NULL;
    ds_error err = {0};
    CU_ASSERT_EQUAL_FATAL(ds_layout_for_runtime(major, NULL, &l, &err), DS_OK);
    CU_ASSERT_EQUAL(ds_layout_mt(l, 0x7f0000001237ull), 0x7f0000001230ull);
    CU_ASSERT_EQUAL(ds_layout_element(l, 0x1000, 3, 8), 0x1000 + 16 + 24);
    CU_ASSERT_EQUAL(ds_layout_chars(l, 0x1000), 0x100c);
    CU_ASSERT_EQUAL(ds_layout_field_offset(l, 0, false), 8);
    CU_ASSERT_EQUAL(ds_layout_field_offset(l, 16, true), 16);
    CU_ASSERT_EQUAL(ds_layout_aligned(l, 25), 32);
    CU_ASSERT_EQUAL(ds_layout_aligned(l, 24), 24);
    CU_ASSERT_EQUAL(l->min_object_size, 24);
  }
}

/* Collects every slot offset the cursor gives for an object of `size` bytes. */
static size_t slots(const ds_gc_desc *d, uint64_t size, uint64_t *out, size_t max) {
  ds_gc_desc_cursor c;
  ds_gc_desc_start(&c, d, size);
  uint64_t start, count;
  size_t n = 0;
  while (ds_gc_desc_next(&c, &start, &count))
    for (uint64_t k = 0; k < count && n < max; k++)
      out[n++] = start + 8 * k;
  return n;
}

static void test_gc_desc_cursor(void) {
  uint64_t got[64];
  /* a class of base size 40 with references at 8 and 16, and at 32: two series */
  uint64_t two[] = {16 - 40, 8, 8 - 40, 32};
  ds_gc_desc d = {2, two};
  CU_ASSERT_EQUAL_FATAL(slots(&d, 40, got, 64), 3);
  CU_ASSERT_EQUAL(got[0], 8);
  CU_ASSERT_EQUAL(got[1], 16);
  CU_ASSERT_EQUAL(got[2], 32);
  /* a series that does not fit the object is ignored, never overread */
  uint64_t wide[] = {64 - 24, 8};
  ds_gc_desc w = {1, wide};
  CU_ASSERT_EQUAL(slots(&w, 24, got, 64), 0);

  /* an array of 3 structs of 16 bytes (a reference, then 8 bytes of data) starting at 16:
   * one item: 1 pointer, skip 8 */
  uint64_t rep[] = {16, (8ull << 32) | 1};
  ds_gc_desc r = {-1, rep};
  CU_ASSERT_EQUAL_FATAL(slots(&r, 16 + 3 * 16 + 8, got, 64), 3);
  CU_ASSERT_EQUAL(got[0], 16);
  CU_ASSERT_EQUAL(got[1], 32);
  CU_ASSERT_EQUAL(got[2], 48);
  /* a zero-width element stops after one pass instead of looping forever */
  uint64_t zero[] = {16, 0};
  ds_gc_desc z = {-1, zero};
  CU_ASSERT_EQUAL(slots(&z, 1 << 20, got, 64), 0);
  /* no descriptor, no slots */
  ds_gc_desc none = {0, NULL};
  CU_ASSERT_EQUAL(slots(&none, 64, got, 64), 0);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("runtime layout", NULL, NULL);
  CU_add_test(s, "runtimes 6 to 10 have a layout; 5 and 11 are refused", test_version_gate);
  CU_add_test(s, "thin lock bits of .NET 6-7 and of .NET 8+", test_thin_locks);
  CU_add_test(s, "object, array, string and field offsets", test_offsets);
  CU_add_test(s, "GC descriptor cursor", test_gc_desc_cursor);
  return ds_test_main();
}
