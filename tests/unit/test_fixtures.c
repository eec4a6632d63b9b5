/*
 * test_fixtures.c: every fixture dump is a real x86-64 ELF core of a .NET process, and its truth
 * file describes the same runtime (same libcoreclr.so path and commit).
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dac.h"
#include "dumpscope/dump.h"
#include "fixture.h"

static void test_fixture_dumps_are_dotnet_cores(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++) {
    ds_error err = {0};
    ds_dump *dump = NULL;
    ds_status rc = ds_dump_open(fx[i].dump, &dump, &err);
    if (rc != DS_OK)
      fprintf(stderr, "%s: %s\n", fx[i].name, err.message);
    CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
    /* createdump's, except the gdb `gcore` fixtures (kind "core": laid out as a kernel core) */
    CU_ASSERT_EQUAL(ds_dump_is_createdump(dump), strcmp(fx[i].kind, "core") != 0);
    CU_ASSERT(ds_dump_thread_count(dump) > 0);
    CU_ASSERT(ds_dump_segment_count(dump) > 0);
    const ds_module *coreclr = ds_dump_find_module(dump, "libcoreclr.so");
    CU_ASSERT_PTR_NOT_NULL_FATAL(coreclr);
    CU_ASSERT_EQUAL(coreclr->build_id_len, 20);

    CU_ASSERT_PTR_NOT_NULL_FATAL(fx[i].truth);
    const char *truth_path = ds_truth_string(fx[i].truth, "coreclr_path");
    const char *truth_commit = ds_truth_string(fx[i].truth, "runtime_commit");
    const char *truth_version = ds_truth_string(fx[i].truth, "runtime_version");
    CU_ASSERT_PTR_NOT_NULL_FATAL(truth_path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(truth_commit);
    CU_ASSERT_PTR_NOT_NULL_FATAL(truth_version);
    CU_ASSERT_STRING_EQUAL(coreclr->path, truth_path);

    ds_runtime_info rt;
    rc = ds_runtime_identify(dump, &rt, &err);
    if (rc != DS_OK)
      fprintf(stderr, "%s: %s\n", fx[i].name, err.message);
    CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
    /* the file version "10.0.1226.42308" and the product version "10.0.12" share major.minor,
       and both builds name the same commit */
    CU_ASSERT_STRING_EQUAL(rt.commit, truth_commit);
    const char *dot = strchr(truth_version, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    size_t mm = dot ? (size_t)(dot - truth_version) : strlen(truth_version);
    CU_ASSERT_EQUAL(strncmp(rt.version, truth_version, mm), 0);
    CU_ASSERT(rt.major >= 6);
    /* a fixture of an older runtime (net8.0, net9.0: a self-contained publish) is of that runtime */
    if (strncmp(fx[i].framework, "net", 3) == 0)
      CU_ASSERT_EQUAL(rt.major, atoi(fx[i].framework + 3));
    ds_dump_close(dump);
  }
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("fixtures", NULL, NULL);
  CU_add_test(s, "fixture dumps are .NET cores matching their truth", test_fixture_dumps_are_dotnet_cores);
  return ds_test_main();
}
