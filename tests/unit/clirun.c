/*
 * clirun.c: helpers of the tests that drive the dumpscope binary on the real dumps (test_sosex.c,
 * test_mdt.c, test_cli.c, ...): run it, read its JSON, find the truth's markers and threads.
 */
#include "clirun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

json_t *run_cli_command(const char *command, int *exit_code) {
  FILE *p = popen(command, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  json_error_t jerr;
  json_t *j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &jerr);
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return j;
}

/* Runs the CLI with args (--json added); returns its parsed stdout and sets *exit_code. */
json_t *run_cli(const char *args, int *exit_code) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' %s --json 2>/dev/null", getenv("DUMPSCOPE_CLI"), args);
  return run_cli_command(cmd, exit_code);
}

int run_cli_argv(const char *const *argv, char **out) {
  int fds[2];
  CU_ASSERT_FATAL(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(getenv("DUMPSCOPE_CLI"), (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0, cap = 1 << 16;
  *out = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(*out);
  ssize_t got;
  while ((got = read(fds[0], *out + len, cap - len - 1)) > 0) {
    len += (size_t)got;
    if (len + 1 == cap) {
      *out = realloc(*out, cap *= 2);
      CU_ASSERT_PTR_NOT_NULL_FATAL(*out);
    }
  }
  (*out)[len] = '\0';
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs the CLI without --json; returns its stdout (malloc'd) and sets *exit_code. */
char *run_cli_text(const char *args, int *exit_code) {
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

const char *marker_address(json_t *truth, const char *name) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return json_string_value(json_object_get(m, "address"));
  return NULL;
}

long long thread_os_id(json_t *truth, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(truth, "threads"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
      return json_integer_value(json_object_get(t, "os_id"));
  return -1;
}

/* The main-wks-full fixture and an index of it in this test's scratch folder (built once). */
ds_fixture *main_fixture(const char **index) {
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

/* mln ADDR --json on the main-wks-full index. */
json_t *mln(ds_fixture *f, const char *index, uint64_t addr) {
  char args[8192];
  int code;
  snprintf(args, sizeof args, "mln '%s' 0x%llx --index '%s'", f->dump, (unsigned long long)addr, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

const char *sget(json_t *o, const char *path) {
  char key[128];
  snprintf(key, sizeof key, "%s", path);
  json_t *cur = o;
  for (char *part = key, *dot; cur && part; part = dot ? dot + 1 : NULL) {
    dot = strchr(part, '.');
    if (dot)
      *dot = '\0';
    cur = json_object_get(cur, part);
  }
  const char *v = json_string_value(cur);
  return v ? v : "";
}

uint64_t hex_of(const char *text) {
  uint64_t v = 0;
  ds_test_hex(text, &v);
  return v;
}

/* The element of a JSON array of objects whose "name" is name. */
json_t *named(json_t *list, const char *name) {
  size_t i;
  json_t *x;
  json_array_foreach(list, i, x)
    if (strcmp(sget(x, "name"), name) == 0)
      return x;
  return NULL;
}

json_t *cli_json(ds_fixture *f, const char *index, const char *command, const char *rest) {
  char args[8192];
  int code;
  snprintf(args, sizeof args, "%s '%s' %s --index '%s'", command, f->dump, rest, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

long long ival(json_t *o, const char *key) { return (long long)json_integer_value(json_object_get(o, key)); }
