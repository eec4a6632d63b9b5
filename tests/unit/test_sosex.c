/*
 * test_sosex.c: the rest of the SOSEX reference and the SOS spellings, through the dumpscope
 * binary on real dumps, checked against the scenario truth: SOS aliases answer exactly what the
 * commands they stand for answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"

/* Runs the CLI with args (--json added); returns its parsed stdout and sets *exit_code. */
static json_t *run_cli(const char *args, int *exit_code) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' %s --json 2>/dev/null", getenv("DUMPSCOPE_CLI"), args);
  FILE *p = popen(cmd, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  json_error_t jerr;
  json_t *j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &jerr);
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return j;
}

/* Runs the CLI without --json; returns its stdout (malloc'd) and sets *exit_code. */
static char *run_cli_text(const char *args, int *exit_code) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", getenv("DUMPSCOPE_CLI"), args);
  FILE *p = popen(cmd, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  size_t cap = 1 << 16, len = 0;
  char *text = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t got;
  while ((got = fread(text + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (len + 1 == cap) {
      cap *= 2;
      text = realloc(text, cap);
      CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    }
  }
  text[len] = '\0';
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return text;
}

static const char *marker_address(json_t *truth, const char *name) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return json_string_value(json_object_get(m, "address"));
  return NULL;
}

static long long thread_os_id(json_t *truth, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(truth, "threads"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
      return json_integer_value(json_object_get(t, "os_id"));
  return -1;
}

/* The main-wks-full fixture and an index of it in this test's scratch folder (built once). */
static ds_fixture *main_fixture(const char **index) {
  static char path[512];
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  ds_fixture *f = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].name, "main-wks-full") == 0)
      f = &fx[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  if (!path[0]) {
    snprintf(path, sizeof path, "%s/main-wks-full.dsindex", ds_test_tmpdir());
    char args[8192];
    int code;
    snprintf(args, sizeof args, "index '%s' --index '%s'", f->dump, path);
    json_decref(run_cli(args, &code));
    CU_ASSERT_EQUAL_FATAL(code, 0);
  }
  *index = path;
  return f;
}

/* `alias` and `command` (each "NAME [ARG] [options]", the dump and index inserted) print the same
 * JSON document, with exit status 0. */
static void same_answer(ds_fixture *f, const char *index, const char *alias, const char *alias_rest,
                        const char *command, const char *command_rest) {
  char args[8192];
  int code_a, code_c;
  snprintf(args, sizeof args, "%s '%s' %s --index '%s'", alias, f->dump, alias_rest, index);
  json_t *a = run_cli(args, &code_a);
  snprintf(args, sizeof args, "%s '%s' %s --index '%s'", command, f->dump, command_rest, index);
  json_t *c = run_cli(args, &code_c);
  CU_ASSERT_EQUAL(code_a, 0);
  CU_ASSERT_EQUAL(code_c, 0);
  CU_ASSERT_PTR_NOT_NULL(a);
  CU_ASSERT_PTR_NOT_NULL(c);
  CU_ASSERT(a && c && json_object_get(a, "error") == NULL);
  if (!(a && c && json_equal(a, c)))
    fprintf(stderr, "\n%s %s differs from %s %s\n", alias, alias_rest, command, command_rest);
  CU_ASSERT(a && c && json_equal(a, c));
  json_decref(a);
  json_decref(c);
}

static void test_sos_aliases(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  const char *invoice = marker_address(f->truth, "invoice.first");
  const char *marker = marker_address(f->truth, "marker.local");
  CU_ASSERT_PTR_NOT_NULL_FATAL(invoice);
  CU_ASSERT_PTR_NOT_NULL_FATAL(marker);
  long long holder = thread_os_id(f->truth, "marker-holder");
  CU_ASSERT_FATAL(holder > 0);
  char tid[32], rest[256];
  snprintf(tid, sizeof tid, "%lld", holder);

  same_answer(f, index, "dumpheap", "--type Scenarios.Invoice --exact --limit 5", "heap_objects",
              "--type Scenarios.Invoice --exact --limit 5");
  same_answer(f, index, "dumpheap", "-stat -type Scenarios.Invoice", "heap_stat", "--type Scenarios.Invoice");
  same_answer(f, index, "dumpheap", "--stat", "heap_stat", "");
  same_answer(f, index, "gcroot", invoice, "roots", invoice);
  same_answer(f, index, "clrthreads", "", "threads", "");
  same_answer(f, index, "clrstack", tid, "stack", tid);
  same_answer(f, index, "syncblk", "", "locks", "");
  same_answer(f, index, "gcwhere", invoice, "address", invoice);
  same_answer(f, index, "gchandles", "", "handles", "");
  same_answer(f, index, "finalizequeue", "", "finq", "");
  same_answer(f, index, "dumpstackobjects", tid, "thread_objects", tid);
  same_answer(f, index, "dso", tid, "mdso", tid);

  /* the stack objects of marker-holder hold the marker (the truth: its only root is that local) */
  char args[8192];
  int code;
  snprintf(args, sizeof args, "dso '%s' %s --index '%s'", f->dump, tid, index);
  json_t *j = run_cli(args, &code);
  char *text = json_dumps(j, 0);
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, marker));
  free(text);
  json_decref(j);

  /* the DAC commands' SOS spellings */
  snprintf(args, sizeof args, "obj '%s' %s --index '%s'", f->dump, invoice, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  char mt[32];
  snprintf(mt, sizeof mt, "%s", json_string_value(json_object_get(j, "mt")) ? json_string_value(json_object_get(j, "mt")) : "0");
  json_decref(j);
  snprintf(args, sizeof args, "dumpmt '%s' %s", f->dump, mt);
  json_t *a = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  snprintf(args, sizeof args, "mt '%s' %s", f->dump, mt);
  json_t *c = run_cli(args, &code);
  CU_ASSERT(json_equal(a, c));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "name")), "Scenarios.Invoice");
  json_decref(a);
  json_decref(c);

  snprintf(args, sizeof args, "verifyheap '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_is_true(json_object_get(j, "ok")));
  json_decref(j);

  snprintf(args, sizeof args, "dumpobj '%s' %s", f->dump, invoice);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "type")), "Scenarios.Invoice");
  json_decref(j);

  snprintf(args, sizeof args, "eeheap '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_array_size(json_object_get(j, "segments")) > 0);
  json_decref(j);

  /* text form of an alias: SOS's !dumpheap -stat layout, the Invoice row with the truth's count */
  snprintf(rest, sizeof rest, "dumpheap '%s' -stat -type Scenarios.Invoice -exact --index '%s'", f->dump, index);
  text = run_cli_text(rest, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "100003"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "Scenarios.Invoice"));
  free(text);

  /* an SOS option we do not have is refused by name */
  snprintf(args, sizeof args, "dumpheap '%s' -bogus --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  json_decref(j);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("sosex", NULL, NULL);
  CU_add_test(s, "SOS spellings answer as the commands they stand for", test_sos_aliases);
  return ds_test_main();
}
