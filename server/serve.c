/*
 * serve.c: the daemon's entry (`dumpscope serve`) and the administrator's commands that go with
 * it: `dumpscope token create --role R` and `dumpscope import PATH` (an upload to a running
 * daemon, so that only the daemon writes the store).
 *
 * Start-up order matters: signals are blocked first (every thread inherits the mask; the main
 * thread takes SIGINT/SIGTERM with sigwait), the supervisor is forked while the process has one
 * thread, then the store, the dispatcher and the HTTP threads start.
 */
#include "serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "service.h"
#include "store.h"

/* The base of a dump comparison (/dumps/{id}/diff?base=OTHER): another dump's index from the
 * cache, which must be analysed already. */
static ds_status open_other(void *ctx, const char *dump_id, ds_query **q, ds_error *err) {
  int64_t job = 0;
  ds_status rc = ds_service_query(ctx, dump_id, q, &job, err);
  if (rc == DS_E_NOT_FOUND)
    return ds_error_set(err, DS_E_NOT_FOUND, "no dump with id %.64s to compare with", dump_id);
  if (rc == DS_OK && !*q)
    return ds_error_set(err, DS_E_ARG, "dump %.64s is not analysed yet (job %lld); compare once it is ready", dump_id,
                        (long long)job);
  return rc;
}

static void release_other(void *ctx, ds_query *q) { ds_service_release(ctx, q); }

static int fail(const ds_error *err) {
  fprintf(stderr, "dumpscope: %s\n", err->message);
  return err->code == DS_E_ARG ? 2 : 1;
}

int ds_serve_main(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      ds_config_help(stdout);
      return 0;
    } else if (strcmp(argv[i], "--print-config") == 0) {
      ds_config_print_example(stdout);
      return 0;
    }
  ds_config config;
  ds_config_defaults(&config);
  ds_error err = {0};
  if (ds_config_load(&config, argc, argv, 2, &err) != DS_OK)
    return fail(&err);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return fail(&(ds_error){DS_E_IO, "cannot find the dumpscope executable (/proc/self/exe)"});
  exe[n] = '\0';
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  ds_service *svc = NULL;
  if (ds_service_start(&config, exe, &svc, &err) != DS_OK)
    return fail(&err);
  ds_api_set_other(&(ds_api_other){open_other, release_other, svc});
  ds_http *http = NULL;
  uint16_t port = 0;
  if (ds_http_start(svc, &http, &port, &err) != DS_OK) {
    ds_service_stop(svc);
    return fail(&err);
  }
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)strcspn(config.listen, ":"), config.listen);
  printf("listening http://%s:%u\n", host, port);
  fflush(stdout);
  ds_log_event("started", json_pack("{s:s,s:i,s:s,s:I}", "host", host, "port", (int)port, "data", config.data,
                                    "workers", (json_int_t)config.workers));
  int sig = 0;
  sigwait(&stop_signals, &sig);
  ds_log_event("stopping", json_pack("{s:s}", "signal", strsignal(sig)));
  ds_http_stop(http, config.shutdown_grace);
  ds_service_stop(svc);
  ds_log_event("stopped", NULL);
  return 0;
}

/* `dumpscope token create --role R [--name N] [--data DIR]`: prints only the token. */
int ds_token_main(int argc, char **argv) {
  const char *role_text = NULL, *name = "";
  ds_config config;
  ds_config_defaults(&config);
  const char *data = getenv("DUMPSCOPE_DATA") ? getenv("DUMPSCOPE_DATA") : config.data;
  if (argc < 3 || strcmp(argv[2], "create") != 0) {
    fprintf(stderr, "usage: dumpscope token create --role reader|uploader|admin [--name TEXT] [--data DIR]\n");
    return 2;
  }
  for (int i = 3; i < argc; i++) {
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--role") == 0 && next)
      role_text = argv[++i];
    else if (strcmp(argv[i], "--name") == 0 && next)
      name = argv[++i];
    else if (strcmp(argv[i], "--data") == 0 && next)
      data = argv[++i];
    else {
      fprintf(stderr, "dumpscope token: unknown argument \"%s\"\n", argv[i]);
      return 2;
    }
  }
  ds_role role = role_text ? ds_role_parse(role_text) : DS_ROLE_NONE;
  if (role == DS_ROLE_NONE) {
    fprintf(stderr, "dumpscope token: --role must be reader, uploader or admin\n");
    return 2;
  }
  char path[PATH_MAX];
  if (mkdir(data, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "dumpscope token: cannot create the data folder %s: %s\n", data, strerror(errno));
    return 1;
  }
  snprintf(path, sizeof path, "%s/dumpscope.db", data);
  ds_store *store = NULL;
  ds_error err = {0};
  char token[128];
  if (ds_store_open(path, &store, &err) != DS_OK ||
      ds_store_token_create(store, role, name, token, sizeof token, &err) != DS_OK) {
    ds_store_close(store);
    return fail(&err);
  }
  ds_store_close(store);
  printf("%s\n", token);
  return 0;
}

/* `dumpscope import PATH --server URL --token T`: streams a dump to a running daemon. */
int ds_import_main(int argc, char **argv) {
  const char *path = NULL, *server = getenv("DUMPSCOPE_SERVER"), *token = getenv("DUMPSCOPE_TOKEN");
  for (int i = 2; i < argc; i++) {
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--server") == 0 && next)
      server = argv[++i];
    else if (strcmp(argv[i], "--token") == 0 && next)
      token = argv[++i];
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      fprintf(stderr, "dumpscope import: unknown argument \"%s\"\n", argv[i]);
      return 2;
    }
  }
  if (!path || !server || !token) {
    fprintf(stderr, "usage: dumpscope import DUMP --server http://HOST:PORT --token TOKEN\n"
                    "       (or DUMPSCOPE_SERVER and DUMPSCOPE_TOKEN; the token needs the uploader role)\n");
    return 2;
  }
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0) {
    fprintf(stderr, "dumpscope import: cannot read %s: %s\n", path, strerror(errno));
    if (f)
      fclose(f);
    return 1;
  }
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  CURL *curl = curl_easy_init();
  char *escaped = curl_easy_escape(curl, base, 0);
  char url[4096], auth[512];
  snprintf(url, sizeof url, "%s/dumps?name=%s", server, escaped ? escaped : "");
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  curl_free(escaped);
  struct curl_slist *headers = curl_slist_append(NULL, auth);
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  /* the daemon answers a refused upload (401, 403, 413) before the body: with 100-continue the
   * answer arrives before a byte of the dump is sent, instead of a reset mid-send */
  headers = curl_slist_append(headers, "Expect: 100-continue");
  curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_READDATA, f);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  fclose(f);
  if (rc != CURLE_OK) {
    fprintf(stderr, "\ndumpscope import: %s\n", curl_easy_strerror(rc));
    return 1;
  }
  printf("\n");
  return status == 200 || status == 201 ? 0 : 1;
}
