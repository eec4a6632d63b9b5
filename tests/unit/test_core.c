/*
 * test_core.c: a core written by gdb's gcore (laid out as a kernel core: no read-only file
 * mappings) of the main scenario. The assemblies' pages it lacks are read from their files on
 * disk, only when the file fits every NT_FILE mapping of it; so the types have their names, the
 * same as in the createdump full dump of the same process. The truth tests run on the core fixture
 * too (they take every fixture of the process); this checks the file check itself.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/analysis.h"
#include "dumpscope/dump.h"
#include "fixture.h"

enum { MAX_MAPS = 64 };

static ds_fixture *named(const char *name) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].name, name) == 0)
      return &fx[i];
  CU_FAIL_FATAL("fixture missing (tests/scenarios/make-fixtures.sh makes it)");
  return NULL;
}

/* The module's on-disk file, read whole (the test's own copy, not the dump's mapping). */
static uint8_t *read_file(const char *path, uint64_t *size) {
  FILE *f = fopen(path, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc(len > 0 ? (size_t)len : 1);
  CU_ASSERT_FATAL(data && fread(data, 1, (size_t)len, f) == (size_t)len);
  fclose(f);
  *size = (uint64_t)len;
  return data;
}

static void test_assemblies_read_from_disk(void) {
  ds_fixture *fx = named("main-wks-core");
  ds_dump *dump = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(fx->dump, &dump, &err), DS_OK);
  CU_ASSERT_FALSE(ds_dump_is_createdump(dump));
  const char *names[] = {"System.Private.CoreLib.dll", "System.Console.dll", "Scenarios.dll"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const ds_module *mod = ds_dump_find_module(dump, names[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mod);
    uint64_t offset;
    CU_ASSERT_FALSE(ds_dump_file_offset(dump, mod->base, &offset)); /* not in the core */
    char mz[2] = "";
    CU_ASSERT(ds_dump_read_exact(dump, mod->base, mz, 2) && mz[0] == 'M' && mz[1] == 'Z'); /* from the file */
    const uint8_t *data;
    uint64_t size;
    CU_ASSERT(ds_dump_module_file(dump, mod, &data, &size));
  }

  /* the check: CoreLib's mappings (flat view, and headers + sections) fit CoreLib, not another
     assembly; a section mapped one page off, or a flat view a page short, fits nothing */
  const ds_module *corelib = ds_dump_find_module(dump, "System.Private.CoreLib.dll");
  const ds_module *console = ds_dump_find_module(dump, "System.Console.dll");
  ds_dump_mapping maps[MAX_MAPS], other[MAX_MAPS];
  size_t n = ds_dump_module_mappings(dump, corelib, maps, MAX_MAPS);
  size_t m = ds_dump_module_mappings(dump, console, other, MAX_MAPS);
  CU_ASSERT_FATAL(n >= 3 && n <= MAX_MAPS && m >= 2 && m <= MAX_MAPS); /* flat + headers + sections */
  uint64_t corelib_size, console_size;
  uint8_t *corelib_file = read_file(corelib->path, &corelib_size);
  uint8_t *console_file = read_file(console->path, &console_size);
  CU_ASSERT_TRUE(ds_pe_file_fits(corelib_file, corelib_size, maps, n));
  CU_ASSERT_TRUE(ds_pe_file_fits(console_file, console_size, other, m));
  CU_ASSERT_FALSE(ds_pe_file_fits(console_file, console_size, maps, n));
  CU_ASSERT_FALSE(ds_pe_file_fits(corelib_file, corelib_size, other, m));
  size_t section = SIZE_MAX, flat = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    if (maps[i].file_offset != 0 && section == SIZE_MAX)
      section = i;
    if (maps[i].file_offset == 0 && maps[i].end - maps[i].start >= corelib_size)
      flat = i;
  }
  CU_ASSERT_FATAL(section != SIZE_MAX && flat != SIZE_MAX);
  maps[section].start += 4096, maps[section].end += 4096;
  CU_ASSERT_FALSE(ds_pe_file_fits(corelib_file, corelib_size, maps, n));
  maps[section].start -= 4096, maps[section].end -= 4096;
  maps[flat].end -= 4096;
  CU_ASSERT_FALSE(ds_pe_file_fits(corelib_file, corelib_size, maps, n));
  maps[flat].end += 4096;

  /* untrusted bytes: not PE, cut short, a header pointing outside, too many sections */
  CU_ASSERT_FALSE(ds_pe_file_fits(corelib_file, 63, maps, n));
  CU_ASSERT_FALSE(ds_pe_file_fits(corelib_file, 0x100, maps, n));
  uint8_t bad[4096];
  memcpy(bad, corelib_file, sizeof bad);
  uint32_t far = 4000;
  memcpy(bad + 0x3c, &far, 4);
  CU_ASSERT_FALSE(ds_pe_file_fits(bad, sizeof bad, maps, n));
  memcpy(bad, corelib_file, sizeof bad);
  uint32_t pe;
  memcpy(&pe, bad + 0x3c, 4);
  uint16_t many = 0xffff;
  memcpy(bad + pe + 6, &many, 2);
  CU_ASSERT_FALSE(ds_pe_file_fits(bad, sizeof bad, maps, n));
  bad[0] = 'X';
  CU_ASSERT_FALSE(ds_pe_file_fits(bad, sizeof bad, maps, n));
  CU_ASSERT_FALSE(ds_pe_file_fits(corelib_file, corelib_size, maps, 0));
  free(corelib_file);
  free(console_file);
  ds_dump_close(dump);
}

/* Every type of the core has the name it has in the createdump full dump of the same process
 * (the same run: the same MethodTables), and none is unknown. */
static void test_names_equal_full_dump(void) {
  ds_fixture *core = named("main-wks-core"), *full = named("main-wks-full");
  CU_ASSERT_STRING_EQUAL_FATAL(core->truth_path, full->truth_path);
  ds_dac_search search = {.offline = true};
  ds_analysis *a = NULL, *b = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(core->dump, &search, &a, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(full->dump, &search, &b, &err), DS_OK);
  ds_histogram hist, ref;
  CU_ASSERT_EQUAL_FATAL(ds_heap_histogram(a->heap, -1, &hist, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_heap_histogram(b->heap, -1, &ref, &err), DS_OK);
  size_t unknown = 0, differ = 0;
  for (size_t r = 0; r < hist.row_count; r++) {
    const ds_type *t = ds_heap_type(a->heap, hist.rows[r].type);
    if (strncmp(t->name, "<unknown", 8) == 0)
      unknown++;
    for (size_t k = 0; k < ref.row_count; k++) {
      const ds_type *u = ds_heap_type(b->heap, ref.rows[k].type);
      if (u->mt == t->mt && strcmp(u->name, t->name) != 0 && differ++ < 5)
        fprintf(stderr, "MT %llx: core %s, full %s\n", (unsigned long long)t->mt, t->name, u->name);
    }
  }
  CU_ASSERT_EQUAL(unknown, 0);
  CU_ASSERT_EQUAL(differ, 0);
  CU_ASSERT(hist.row_count > 100);
  ds_histogram_free(&hist);
  ds_histogram_free(&ref);
  ds_analysis_close(a);
  ds_analysis_close(b);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("kernel-style cores (gcore)", NULL, NULL);
  CU_add_test(s, "assemblies' missing pages come from the files that fit their mappings", test_assemblies_read_from_disk);
  CU_add_test(s, "every type has its name, as in the full dump of the same process", test_names_equal_full_dump);
  return ds_test_main();
}
