/*
 * test_cli_env.c: `dumpscope index` and the index-backed commands honour the environment the
 * DAC search reads (DUMPSCOPE_DAC, DUMPSCOPE_RUNTIME_DIRS, DUMPSCOPE_SYMBOL_SERVERS,
 * DUMPSCOPE_CACHE) exactly like `info` does: each variable, set alone to something that cannot
 * work, makes the command fail with the DAC error that names it; set to something that works, it
 * is where the DAC comes from. Also ds_dac_search_init_env itself, the one function that builds
 * the search.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumpscope/dac.h"
#include "clirun.h"

/* Runs `env -i PATH=... HOME=<tmp> <assignments> dumpscope <args> --json`: a clean environment, so
 * the caller's DUMPSCOPE_* and DOTNET_ROOT cannot leak in. Returns the parsed JSON of stdout and
 * sets *exit_code. */
static json_t *run_cli_env(const char *assignments, const char *args, int *exit_code) {
  /* the sanitizers' settings (suppressions) pass through */
  char keep[4096] = "";
  static const char *const passed[] = {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"};
  for (size_t i = 0; i < sizeof passed / sizeof *passed; i++) {
    const char *v = getenv(passed[i]);
    size_t used = strlen(keep);
    if (v)
      snprintf(keep + used, sizeof keep - used, "%s='%s' ", passed[i], v);
  }
  char cmd[16384];
  snprintf(cmd, sizeof cmd, "env -i PATH=/usr/bin:/bin HOME='%s' %s%s '%s' %s --json 2>/dev/null", ds_test_tmpdir(),
           keep, assignments, getenv("DUMPSCOPE_CLI"), args);
  return run_cli_command(cmd, exit_code);
}

static const char *error_code(json_t *j) {
  const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  return code ? code : "";
}

static const char *error_message(json_t *j) {
  const char *message = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  return message ? message : "";
}

static const ds_fixture *main_dump(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  return &fx[0];
}

/* A fresh empty folder under the test's scratch folder. */
static void empty_dir(const char *name, char *out, size_t out_len) {
  snprintf(out, out_len, "%s/%s", ds_test_tmpdir(), name);
  mkdir(out, 0755);
}

/* Where `info` finds the DAC with the default search (the installed runtime), and the build id. */
static void installed_dac(const ds_fixture *f, char *dac, size_t dac_len, char *build_id, size_t build_id_len) {
  char args[8192];
  int code;
  snprintf(args, sizeof args, "info '%s' --offline", f->dump);
  json_t *j = run_cli_env("", args, &code);
  CU_ASSERT_EQUAL_FATAL(code, 0);
  snprintf(dac, dac_len, "%s", json_string_value(json_object_get(j, "dac_path")));
  snprintf(build_id, build_id_len, "%s", json_string_value(json_object_get(j, "coreclr_build_id")));
  json_decref(j);
  CU_ASSERT_FATAL(dac[0] && build_id[0]);
}

static void test_dac_variable(void) {
  const ds_fixture *f = main_dump();
  char args[8192], index[512];
  int code;
  snprintf(index, sizeof index, "%s/env-dac.dsindex", ds_test_tmpdir());
  unlink(index);
  snprintf(args, sizeof args, "index '%s' --index '%s'", f->dump, index);
  json_t *j = run_cli_env("DUMPSCOPE_DAC=/bin/ls", args, &code);
  CU_ASSERT_EQUAL(code, 1);
  CU_ASSERT_STRING_EQUAL(error_code(j), "dac_not_found");
  CU_ASSERT_PTR_NOT_NULL(strstr(error_message(j), "/bin/ls"));
  json_decref(j);
  CU_ASSERT_NOT_EQUAL(access(index, F_OK), 0);

  /* an index-backed query builds its missing index with the same search */
  snprintf(args, sizeof args, "summary '%s' --index '%s'", f->dump, index);
  j = run_cli_env("DUMPSCOPE_DAC=/bin/ls", args, &code);
  CU_ASSERT_EQUAL(code, 1);
  CU_ASSERT_STRING_EQUAL(error_code(j), "dac_not_found");
  json_decref(j);

  /* --dac wins over the variable */
  char dac[4096], build_id[256];
  installed_dac(f, dac, sizeof dac, build_id, sizeof build_id);
  snprintf(args, sizeof args, "index '%s' --index '%s' --dac '%s'", f->dump, index, dac);
  j = run_cli_env("DUMPSCOPE_DAC=/bin/ls", args, &code);
  CU_ASSERT_EQUAL(code, 0);
  json_decref(j);
  unlink(index);
}

static void test_search_variables(void) {
  const ds_fixture *f = main_dump();
  char dac[4096], build_id[256];
  installed_dac(f, dac, sizeof dac, build_id, sizeof build_id);
  char nothing[512], cache[512], index[512], args[8192], env[16384];
  empty_dir("env-no-runtimes", nothing, sizeof nothing);
  empty_dir("env-empty-cache", cache, sizeof cache);
  snprintf(index, sizeof index, "%s/env-search.dsindex", ds_test_tmpdir());
  unlink(index);
  snprintf(args, sizeof args, "index '%s' --index '%s'", f->dump, index);
  int code;

  /* no runtime folders, no symbol servers, an empty cache: nowhere to find the DAC */
  snprintf(env, sizeof env, "DUMPSCOPE_RUNTIME_DIRS='%s' DUMPSCOPE_SYMBOL_SERVERS= DUMPSCOPE_CACHE='%s'", nothing,
           cache);
  json_t *j = run_cli_env(env, args, &code);
  CU_ASSERT_EQUAL(code, 1);
  CU_ASSERT_STRING_EQUAL(error_code(j), "dac_not_found");
  CU_ASSERT_PTR_NOT_NULL(strstr(error_message(j), "the configured runtime folders"));
  CU_ASSERT_PTR_NOT_NULL(strstr(error_message(j), "no symbol servers configured"));
  CU_ASSERT_PTR_NOT_NULL(strstr(error_message(j), build_id));
  json_decref(j);

  /* the symbol server named by the variable is the one asked (nothing listens on port 9) */
  snprintf(env, sizeof env,
           "DUMPSCOPE_RUNTIME_DIRS='%s' DUMPSCOPE_SYMBOL_SERVERS=http://127.0.0.1:9/symbols DUMPSCOPE_CACHE='%s'",
           nothing, cache);
  j = run_cli_env(env, args, &code);
  CU_ASSERT_EQUAL(code, 1);
  CU_ASSERT_STRING_EQUAL(error_code(j), "dac_not_found");
  CU_ASSERT_PTR_NOT_NULL(strstr(error_message(j), "http://127.0.0.1:9/symbols/"));
  json_decref(j);

  /* the runtime folder named by the variable is searched: the installed runtime's folder works */
  char runtime_dir[4096];
  snprintf(runtime_dir, sizeof runtime_dir, "%s", dac);
  char *slash = strrchr(runtime_dir, '/');
  CU_ASSERT_PTR_NOT_NULL_FATAL(slash);
  *slash = 0;
  snprintf(env, sizeof env, "DUMPSCOPE_RUNTIME_DIRS='%s:%s' DUMPSCOPE_SYMBOL_SERVERS= DUMPSCOPE_CACHE='%s'", nothing,
           runtime_dir, cache);
  j = run_cli_env(env, args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_integer_value(json_object_get(j, "objects")) > 200000);
  json_decref(j);
  unlink(index);

  /* the cache named by the variable is used: a DAC placed where a download would go is found */
  char cached_dir[1024], cached[1200];
  snprintf(cached_dir, sizeof cached_dir, "%s/dac", cache);
  mkdir(cached_dir, 0755);
  snprintf(cached_dir, sizeof cached_dir, "%s/dac/%s", cache, build_id);
  mkdir(cached_dir, 0755);
  snprintf(cached, sizeof cached, "%s/libmscordaccore.so", cached_dir);
  unlink(cached);
  CU_ASSERT_EQUAL_FATAL(symlink(dac, cached), 0);
  snprintf(env, sizeof env, "DUMPSCOPE_RUNTIME_DIRS='%s' DUMPSCOPE_SYMBOL_SERVERS= DUMPSCOPE_CACHE='%s'", nothing,
           cache);
  j = run_cli_env(env, args, &code);
  CU_ASSERT_EQUAL(code, 0);
  json_decref(j);
  unlink(index);
  unlink(cached);
}

static void test_init_env(void) {
  ds_dac_search search;
  ds_dac_search_env env;
  setenv("DUMPSCOPE_DAC", "/env/libmscordaccore.so", 1);
  setenv("DUMPSCOPE_RUNTIME_DIRS", "/a:/b::/c", 1);
  setenv("DUMPSCOPE_SYMBOL_SERVERS", "http://one;http://two", 1);
  setenv("DUMPSCOPE_CACHE", "/cache", 1);
  ds_dac_search_init_env(&search, &env, NULL, true);
  CU_ASSERT_STRING_EQUAL(search.explicit_path, "/env/libmscordaccore.so");
  CU_ASSERT_EQUAL_FATAL(search.runtime_dir_count, 3);
  CU_ASSERT_STRING_EQUAL(search.runtime_dirs[0], "/a");
  CU_ASSERT_STRING_EQUAL(search.runtime_dirs[2], "/c");
  CU_ASSERT_EQUAL_FATAL(search.symbol_server_count, 2);
  CU_ASSERT_STRING_EQUAL(search.symbol_servers[1], "http://two");
  CU_ASSERT_STRING_EQUAL(search.cache_dir, "/cache");
  CU_ASSERT(search.offline);

  /* what the caller gives wins; an empty server list means none */
  setenv("DUMPSCOPE_SYMBOL_SERVERS", "", 1);
  ds_dac_search_init_env(&search, &env, "/given/libmscordaccore.so", false);
  CU_ASSERT_STRING_EQUAL(search.explicit_path, "/given/libmscordaccore.so");
  CU_ASSERT_FALSE(search.offline);
  CU_ASSERT_PTR_NOT_NULL(search.symbol_servers);
  CU_ASSERT_EQUAL(search.symbol_server_count, 0);

  /* unset: the defaults (NULL lists) */
  unsetenv("DUMPSCOPE_DAC");
  unsetenv("DUMPSCOPE_RUNTIME_DIRS");
  unsetenv("DUMPSCOPE_SYMBOL_SERVERS");
  unsetenv("DUMPSCOPE_CACHE");
  ds_dac_search_init_env(&search, &env, NULL, false);
  CU_ASSERT_PTR_NULL(search.explicit_path);
  CU_ASSERT_PTR_NULL(search.runtime_dirs);
  CU_ASSERT_PTR_NULL(search.symbol_servers);
  CU_ASSERT_PTR_NULL(search.cache_dir);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("cli environment", NULL, NULL);
  CU_add_test(s, "ds_dac_search_init_env reads every variable", test_init_env);
  CU_add_test(s, "index and index-backed commands honour DUMPSCOPE_DAC", test_dac_variable);
  CU_add_test(s, "index honours DUMPSCOPE_RUNTIME_DIRS, DUMPSCOPE_SYMBOL_SERVERS and DUMPSCOPE_CACHE",
              test_search_variables);
  return ds_test_main();
}
