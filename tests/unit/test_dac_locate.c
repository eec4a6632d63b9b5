/*
 * test_dac_locate.c: finding the DAC for a dump's runtime: explicit path, local runtime folders,
 * and a symbol server on 127.0.0.1 (libmicrohttpd) serving the installed DAC under the real key.
 * A wrong file from a server is refused; a server without the file gives an error naming the
 * build id, the version and where we looked; a downloaded DAC is cached and really works.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dumpscope/analysis.h"
#include "fixture.h"

static char served_dac[4096];
static int requests;

/* /slow/...: 1 KiB every half second, forever (above curl's low-speed limit, so only an overall
 * deadline stops it). */
static ssize_t trickle(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls;
  (void)pos;
  usleep(500000);
  size_t n = max < 1024 ? max : 1024;
  memset(buf, 'x', n);
  return (ssize_t)n;
}

/* /good/<key> -> the installed DAC; /bad/<key> -> /etc/hostname-like junk; else 404. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state) {
  requests++;
  struct MHD_Response *resp;
  enum MHD_Result ret;
  bool good = strncmp(url, "/good/libmscordaccore.so/elf-buildid-coreclr-", 45) == 0 &&
              strstr(url, "/libmscordaccore.so") != NULL;
  bool bad = strncmp(url, "/bad/", 5) == 0;
  if (strncmp(url, "/slow/", 6) == 0) {
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, trickle, NULL, NULL);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  } else if (good) {
    FILE *f = fopen(served_dac, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0)
      return MHD_NO;
    int fd = dup(fileno(f));
    fclose(f);
    resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  } else if (bad) {
    static const char junk[] = "this is not a DAC\n";
    resp = MHD_create_response_from_buffer(sizeof junk - 1, (void *)junk, MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  } else {
    static const char missing[] = "not found";
    resp = MHD_create_response_from_buffer(sizeof missing - 1, (void *)missing, MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
  }
  MHD_destroy_response(resp);
  return ret;
}

static void test_locate(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  ds_error err = {0};
  ds_dump *dump = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(fx[0].dump, &dump, &err), DS_OK);
  ds_runtime_info rt;
  CU_ASSERT_EQUAL_FATAL(ds_runtime_identify(dump, &rt, &err), DS_OK);

  /* local: the default search finds the installed runtime with the same build id */
  ds_dac_search local = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_dac_locate(&rt, &local, served_dac, sizeof served_dac, &err), DS_OK);
  CU_ASSERT_PTR_NOT_NULL(strstr(served_dac, "libmscordaccore.so"));
  /* a configured runtime root works the same way */
  const char *roots[] = {"/usr/share/dotnet"};
  char path[4096];
  ds_dac_search configured = {.runtime_dirs = roots, .runtime_dir_count = 1, .offline = true};
  CU_ASSERT_EQUAL(ds_dac_locate(&rt, &configured, path, sizeof path, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(path, served_dac);

  /* explicit path that is not the DAC: refused with the reason */
  ds_dac_search wrong = {.explicit_path = "/bin/ls"};
  CU_ASSERT_EQUAL(ds_dac_locate(&rt, &wrong, path, sizeof path, &err), DS_E_NO_DAC);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, rt.build_id_hex));

  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, NULL,
                                          MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                          (unsigned)10, MHD_OPTION_END);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info->port;
  char bad_url[128], good_url[128], missing_url[128], cache[512];
  snprintf(bad_url, sizeof bad_url, "http://127.0.0.1:%u/bad", port);
  snprintf(good_url, sizeof good_url, "http://127.0.0.1:%u/good/", port);
  snprintf(missing_url, sizeof missing_url, "http://127.0.0.1:%u/missing", port);
  snprintf(cache, sizeof cache, "%s/daccache", ds_test_tmpdir());

  /* no local runtimes; the first server serves junk, the second the DAC */
  const char *servers[] = {bad_url, good_url};
  ds_dac_search remote = {.runtime_dirs = roots, .runtime_dir_count = 0, .symbol_servers = servers,
                          .symbol_server_count = 2, .cache_dir = cache};
  CU_ASSERT_EQUAL_FATAL(ds_dac_locate(&rt, &remote, path, sizeof path, &err), DS_OK);
  CU_ASSERT_PTR_NOT_NULL(strstr(path, cache));
  CU_ASSERT_PTR_NOT_NULL(strstr(path, rt.build_id_hex));
  int after_download = requests;
  CU_ASSERT(after_download >= 2);

  /* second time: from the cache, no request */
  CU_ASSERT_EQUAL(ds_dac_locate(&rt, &remote, path, sizeof path, &err), DS_OK);
  CU_ASSERT_EQUAL(requests, after_download);

  /* the downloaded DAC really analyses the dump */
  ds_analysis *a = NULL;
  ds_dac_search cached_only = {.explicit_path = path};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(fx[0].dump, &cached_only, &a, &err), DS_OK);
  ds_walk_stats stats;
  CU_ASSERT_EQUAL(ds_heap_walk(a->heap, -1, NULL, NULL, &stats, &err), DS_OK);
  CU_ASSERT(stats.objects > 100000);
  ds_walk_stats_free(&stats);
  ds_analysis_close(a);

  /* a server without the file, fresh cache: the error says what was looked for and where */
  char cache2[512];
  snprintf(cache2, sizeof cache2, "%s/daccache2", ds_test_tmpdir());
  const char *only_missing[] = {missing_url};
  ds_dac_search nowhere = {.runtime_dirs = roots, .runtime_dir_count = 0, .symbol_servers = only_missing,
                           .symbol_server_count = 1, .cache_dir = cache2};
  CU_ASSERT_EQUAL(ds_dac_locate(&rt, &nowhere, path, sizeof path, &err), DS_E_NO_DAC);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, rt.build_id_hex));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, rt.version));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "404"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "elf-buildid-coreclr-"));

  /* a server trickling forever: the overall deadline ends it, and nothing is left in the cache; a
     download left behind by a killed process is cleaned up */
  char slow_url[128], cache3[512], stale_dir[700], stale[800];
  snprintf(slow_url, sizeof slow_url, "http://127.0.0.1:%u/slow", port);
  snprintf(cache3, sizeof cache3, "%s/daccache3", ds_test_tmpdir());
  snprintf(stale_dir, sizeof stale_dir, "%s/dac/%s", cache3, rt.build_id_hex);
  char mk[1024];
  snprintf(mk, sizeof mk, "mkdir -p '%s'", stale_dir);
  CU_ASSERT_EQUAL_FATAL(system(mk), 0);
  snprintf(stale, sizeof stale, "%s/libmscordaccore.so.999999999.tmp", stale_dir);
  FILE *sf = fopen(stale, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(sf);
  fclose(sf);
  const char *only_slow[] = {slow_url};
  ds_dac_search slow = {.runtime_dirs = roots, .runtime_dir_count = 0, .symbol_servers = only_slow,
                        .symbol_server_count = 1, .cache_dir = cache3};
  setenv("DUMPSCOPE_SYMBOL_TIMEOUT", "2", 1);
  time_t t0 = time(NULL);
  CU_ASSERT_EQUAL(ds_dac_locate(&rt, &slow, path, sizeof path, &err), DS_E_NO_DAC);
  unsetenv("DUMPSCOPE_SYMBOL_TIMEOUT");
  CU_ASSERT(time(NULL) - t0 < 10);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "timed out"));
  CU_ASSERT_NOT_EQUAL(access(stale, F_OK), 0);
  snprintf(mk, sizeof mk, "ls '%s' | grep -c tmp", stale_dir);
  FILE *ls = popen(mk, "r");
  char count[16] = "";
  CU_ASSERT_PTR_NOT_NULL_FATAL(fgets(count, sizeof count, ls));
  pclose(ls);
  CU_ASSERT_STRING_EQUAL(count, "0\n");

  MHD_stop_daemon(d);
  ds_dump_close(dump);
}

static void test_symbol_key(void) {
  char key[256];
  ds_dac_symbol_key("79945f51fb2612f13b7667a10a8fd29122664791", key, sizeof key);
  CU_ASSERT_STRING_EQUAL(key, "libmscordaccore.so/elf-buildid-coreclr-79945f51fb2612f13b7667a10a8fd29122664791/"
                              "libmscordaccore.so");
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("dac locate", NULL, NULL);
  CU_add_test(s, "symbol server key", test_symbol_key);
  CU_add_test(s, "local, explicit and symbol-server DAC lookup", test_locate);
  return ds_test_main();
}
