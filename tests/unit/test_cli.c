/*
 * test_cli.c: the dumpscope binary end to end on a real dump: heapstat, gcgen, obj, mt, eeheap,
 * verify and info with --json, answers checked against the scenario truth; bad arguments and bad
 * files give the documented error codes and exit statuses.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clirun.h"

static json_t *marker_named(json_t *truth, const char *name) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return m;
  return NULL;
}

static json_int_t truth_int(json_t *truth, const char *a, const char *b, const char *c) {
  json_t *v = json_object_get(json_object_get(truth, a), b);
  if (c)
    v = json_object_get(v, c);
  CU_ASSERT(json_is_integer(v));
  return json_integer_value(v);
}

static void test_cli_answers(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  ds_fixture *f = &fx[0];
  char args[8192];
  int code;

  snprintf(args, sizeof args, "heapstat '%s' --type Scenarios.Invoice --exact", f->dump);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  json_t *types = json_object_get(j, "types");
  CU_ASSERT_EQUAL_FATAL(json_array_size(types), 1);
  json_t *truth_invoice = json_object_get(json_object_get(f->truth, "types"), "Scenarios.Invoice");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(types, 0), "count")),
                  json_integer_value(json_object_get(truth_invoice, "count")));
  json_decref(j);

  /* the LOH byte arrays: as many as the truth says, of the truth's size */
  json_t *loh0 = marker_named(f->truth, "loh.array.0");
  CU_ASSERT_PTR_NOT_NULL_FATAL(loh0);
  json_int_t loh_size = json_integer_value(json_object_get(loh0, "size"));
  snprintf(args, sizeof args, "heapstat '%s' --gen loh --type System.Byte[] --exact --min %lld --max %lld", f->dump,
           (long long)loh_size, (long long)loh_size);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "object_count")),
                  truth_int(f->truth, "scenario_data", "leak", "loh_array_count"));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "total_size")),
                  loh_size * truth_int(f->truth, "scenario_data", "leak", "loh_array_count"));
  json_decref(j);

  const char *invoice = marker_address(f->truth, "invoice.first");
  CU_ASSERT_PTR_NOT_NULL_FATAL(invoice);
  snprintf(args, sizeof args, "gcgen '%s' %s", f->dump, invoice);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  char want_gen[16];
  snprintf(want_gen, sizeof want_gen, "gen%lld",
           (long long)json_integer_value(json_object_get(marker_named(f->truth, "invoice.first"), "generation")));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "generation")), want_gen);
  json_decref(j);

  snprintf(args, sizeof args, "obj '%s' %s", f->dump, invoice);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "type")), "Scenarios.Invoice");
  json_t *fields = json_object_get(j, "fields");
  bool found_number = false;
  size_t i;
  json_t *fld;
  json_array_foreach(fields, i, fld) {
    if (strcmp(json_string_value(json_object_get(fld, "name")), "Number") == 0) {
      json_t *v = json_object_get(fld, "value");
      /* the truth's format "INV-{index:D6}" for the first invoice (index 0) */
      char want[32];
      int digits = 0;
      const char *fmt = ds_truth_string(f->truth, "scenario_data.leak.invoice_number_format");
      CU_ASSERT_FATAL(fmt && sscanf(fmt, "INV-{index:D%d}", &digits) == 1);
      snprintf(want, sizeof want, "INV-%0*d", digits, 0);
      CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "string")), want);
      found_number = true;
    }
  }
  CU_ASSERT(found_number);
  const char *mt = json_string_value(json_object_get(j, "mt"));
  char mt_copy[32];
  snprintf(mt_copy, sizeof mt_copy, "%s", mt ? mt : "0");
  json_decref(j);

  snprintf(args, sizeof args, "mt '%s' %s", f->dump, mt_copy);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "name")), "Scenarios.Invoice");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "base_size")),
                  truth_int(f->truth, "types", "Scenarios.Invoice", "instance_size"));
  json_decref(j);

  snprintf(args, sizeof args, "verify '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_is_true(json_object_get(j, "ok")));
  json_decref(j);

  snprintf(args, sizeof args, "eeheap '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_array_size(json_object_get(j, "segments")) > 0);
  json_decref(j);

  snprintf(args, sizeof args, "info '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "runtime_commit")),
                         json_string_value(json_object_get(f->truth, "runtime_commit")));
  json_decref(j);
}

static void test_cli_index_commands(void) {
  ds_fixture *fx;
  ds_fixtures("main", &fx);
  ds_fixture *f = &fx[0];
  char args[8192], index[512];
  int code;
  snprintf(index, sizeof index, "%s/cli.dsindex", ds_test_tmpdir());
  snprintf(args, sizeof args, "index '%s' --index '%s'", f->dump, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL_FATAL(code, 0);
  CU_ASSERT(json_integer_value(json_object_get(j, "objects")) >
            truth_int(f->truth, "types", "Scenarios.Invoice", "count") + truth_int(f->truth, "types", "Scenarios.Customer", "count"));
  json_decref(j);

  const char *invoice = marker_address(f->truth, "invoice.first");
  snprintf(args, sizeof args, "roots '%s' %s --index '%s'", f->dump, invoice, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "paths")), 1);

  /* with no index yet: a root search, the same answer, and no file left behind (neither the
     index nor the search's own, beside it or in /dev/shm) */
  char none[600];
  snprintf(none, sizeof none, "%s/cli-none.dsindex", ds_test_tmpdir());
  snprintf(args, sizeof args, "roots '%s' %s --index '%s'", f->dump, invoice, none);
  json_t *searched = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_equal(searched, j));
  CU_ASSERT_NOT_EQUAL(access(none, F_OK), 0);
  char leftover[700];
  snprintf(leftover, sizeof leftover, "%s.search-*", none);
  glob_t found = {0};
  CU_ASSERT_EQUAL(glob("/dev/shm/dumpscope-search-*", 0, NULL, &found), GLOB_NOMATCH);
  globfree(&found);
  CU_ASSERT_EQUAL(glob(leftover, 0, NULL, &found), GLOB_NOMATCH);
  globfree(&found);
  json_decref(searched);
  json_decref(j);

  snprintf(args, sizeof args, "refs '%s' %s --index '%s'", f->dump, invoice, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "references_count")), 2);
  json_decref(j);

  snprintf(args, sizeof args, "gen '%s' 2 --type Scenarios.Customer --exact --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "object_count")),
                  truth_int(f->truth, "types", "Scenarios.Customer", "count"));
  json_decref(j);

  snprintf(args, sizeof args, "heapstat '%s' --live --type Scenarios.ReadyFinalizable --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "object_count")),
                  truth_int(f->truth, "finalizer", "ready_for_finalization", NULL) ); /* f-reachable = live */
  json_decref(j);

  /* every truth string read back through the index's query path (not the heap walk's reader):
     its length (the large one is over 65,535 characters) and size */
  size_t si;
  json_t *ts;
  json_array_foreach(json_object_get(f->truth, "strings"), si, ts) {
    snprintf(args, sizeof args, "object '%s' %s --index '%s'", f->dump,
             json_string_value(json_object_get(ts, "address")), index);
    j = run_cli(args, &code);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "length")), json_integer_value(json_object_get(ts, "length")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "size")), json_integer_value(json_object_get(ts, "size")));
    json_decref(j);
  }
  CU_ASSERT(si > 0);

  snprintf(args, sizeof args, "strings '%s' --duplicates --limit 1 --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_integer_value(json_object_get(j, "duplicate_groups")) >= 1);
  json_decref(j);

  /* a damaged index is rebuilt, not trusted */
  FILE *fp = fopen(index, "r+b");
  CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
  fseek(fp, 16, SEEK_SET);
  fputc(0x5a, fp);
  fclose(fp);
  snprintf(args, sizeof args, "summary '%s' --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_integer_value(json_object_get(j, "objects")) > 200000);
  json_decref(j);
}

static void test_cli_errors(void) {
  int code;
  json_t *j = run_cli("heapstat /nonexistent/core", &code);
  CU_ASSERT_EQUAL(code, 1);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "io_error");
  json_decref(j);

  ds_fixture *fx;
  ds_fixtures("main", &fx);
  char args[8192];
  snprintf(args, sizeof args, "obj '%s' not-an-address", fx[0].dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                         "invalid_argument");
  json_decref(j);

  snprintf(args, sizeof args, "gcgen '%s' 0x10", fx[0].dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 3);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "not_found");
  json_decref(j);

  snprintf(args, sizeof args, "heapstat '%s' --gen 9", fx[0].dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  json_decref(j);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("cli", NULL, NULL);
  CU_add_test(s, "analysis commands answer from a real dump", test_cli_answers);
  CU_add_test(s, "index commands: index, roots, refs, gen, heapstat --live, strings, rebuild", test_cli_index_commands);
  CU_add_test(s, "bad arguments and files give specific errors", test_cli_errors);
  return ds_test_main();
}
