/*
 * main.c: the `dumpscope` executable: CLI analysis commands today, the daemon later.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fetch.h"
#include "serve.h"
#include "worker.h"

static void usage(FILE *out) {
  fprintf(out, "dumpscope: analyse memory dumps of .NET (CoreCLR) processes on Linux\n\n"
               "usage: dumpscope COMMAND [ARGS]\n\n"
               "Service:\n"
               "  serve [--listen HOST:PORT] [--data DIR] ...   run the daemon (dumpscope serve --help)\n"
               "  token create --role reader|uploader|admin [--data DIR]   print a new API token\n"
               "  import DUMP --server URL --token T             upload a dump to a running daemon\n"
               "  worker --dump PATH --index PATH                 one analysis (run by the daemon)\n"
               "  fetch --url-file PATH --out PATH --state PATH   one import's download (run by the daemon)\n"
               "  settings [--json]                              the thresholds of the findings (--set NAME=VALUE)\n\n");
  ds_cli_usage(out);
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("dumpscope 0.1.0\n");
    return 0;
  }
  if (strcmp(argv[1], "worker") == 0)
    return ds_worker_main(argc, argv);
  if (strcmp(argv[1], "fetch") == 0)
    return ds_fetch_main(argc, argv);
  if (strcmp(argv[1], "settings") == 0)
    return ds_cli_settings_main(argc, argv);
  if (strcmp(argv[1], "serve") == 0)
    return ds_serve_main(argc, argv);
  if (strcmp(argv[1], "token") == 0)
    return ds_token_main(argc, argv);
  if (strcmp(argv[1], "import") == 0) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = ds_import_main(argc, argv);
    curl_global_cleanup();
    return code;
  }
  if (!ds_cli_has_command(argv[1])) {
    fprintf(stderr, "dumpscope: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = ds_cli_run(argc, argv);
  curl_global_cleanup();
  return code;
}
