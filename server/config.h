/*
 * config.h: the daemon's settings, from one table: defaults, then a config file (key = value),
 * then the environment (DUMPSCOPE_<KEY>), then command-line flags (--key value); later wins.
 * Defaults work out of the box: 127.0.0.1:8080, ./dumpscope-data.
 */
#ifndef DUMPSCOPE_SERVER_CONFIG_H
#define DUMPSCOPE_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpscope/error.h"

typedef struct ds_config {
  char listen[256];            /* HOST:PORT; port 0 picks a free one */
  char data[4096];             /* data folder: database, dumps, index cache, job logs */
  char web_root[4096];         /* static UI folder ("" = the one next to the executable's source) */
  uint64_t threads;            /* HTTP thread pool size */
  uint64_t connection_timeout; /* seconds of inactivity before a connection is closed */
  uint64_t connection_limit;   /* open connections in all */
  uint64_t per_ip_limit;       /* open connections per client address */
  uint64_t max_upload_bytes;   /* larger uploads are refused with 413 */
  uint64_t max_dump_bytes;     /* a compressed dump larger than this once decompressed is refused */
  uint64_t workers;            /* analysis workers at once (0 = number of cores) */
  uint64_t worker_timeout;     /* seconds of wall clock per analysis */
  uint64_t worker_memory;      /* bytes of private memory per worker (RLIMIT_DATA), 0 = no limit */
  uint64_t worker_cpu;         /* CPU seconds per worker, 0 = no limit */
  uint64_t worker_log_bytes;   /* captured worker output kept per job */
  uint64_t max_attempts;       /* analyses of one dump interrupted this often fail for good */
  uint64_t lease_seconds;      /* a running job not heard from for this long is requeued */
  uint64_t cache_bytes;        /* disk budget of the index cache; least recently used evicted */
  uint64_t max_wait;           /* longest ?wait=N a request may ask for, seconds */
  uint64_t shutdown_grace;     /* seconds to drain requests on SIGTERM */
  char dac[4096];              /* explicit libmscordaccore.so for workers ("" = search) */
  bool offline;                /* workers never download a DAC */
  char import_allowed_hosts[1024]; /* host[:port],... imports may fetch from ("" = any public host) */
  uint64_t import_concurrency; /* downloads at once (each a `dumpscope fetch` process) */
  uint64_t import_connections; /* parallel ranged GETs per download */
  uint64_t import_chunk_bytes; /* bytes per ranged GET: the unit of resume */
  uint64_t import_stall_seconds; /* a connection below 1 KiB/s for this long is retried */
  uint64_t import_retries;     /* retries of one request (408, 429, 5xx, connection errors) */
  uint64_t response_cache_bytes; /* rendered answers kept in memory */
  bool metrics_open;           /* /metrics without a token (for a scraper on a private network) */
  char finding_settings[1024]; /* thresholds of the findings for workers, "name=value,..." ("" = defaults) */
  char config_file[4096];      /* where settings were read from ("" = none) */
} ds_config;

/* Fills the defaults. */
void ds_config_defaults(ds_config *config);
/* Applies a config file, the environment and the flags argv[first..argc) in that order. A --config
 * PATH flag names the file. Unknown keys and bad values are errors naming the key and the source. */
ds_status ds_config_load(ds_config *config, int argc, char **argv, int first, ds_error *err);
/* Prints every setting with its flag, environment variable, default and meaning. */
void ds_config_help(FILE *out);
/* Prints a config file with every setting commented out at its default (deploy/'s example). */
void ds_config_print_example(FILE *out);

#endif
