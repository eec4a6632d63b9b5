/*
 * config.c: the settings table and its three sources (file, environment, flags).
 */
#include "config.h"

#include "dumpscope/findings.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { SET_TEXT, SET_U64, SET_BYTES, SET_BOOL } setting_kind;

static const struct setting {
  const char *key;
  setting_kind kind;
  size_t offset;
  size_t size;
  const char *def;
  const char *help;
} settings[] = {
#define TEXT(k, d, h) {#k, SET_TEXT, offsetof(ds_config, k), sizeof(((ds_config *)0)->k), d, h}
#define NUM(k, kind, d, h) {#k, kind, offsetof(ds_config, k), sizeof(uint64_t), d, h}
    TEXT(listen, "127.0.0.1:8080", "address to listen on, HOST:PORT (port 0: any free port, printed at start)"),
    TEXT(data, "./dumpscope-data", "data folder: database, dumps, index cache, worker logs"),
    TEXT(web_root, "", "folder of the web UI's static files (default: web/ of the source tree)"),
    NUM(threads, SET_U64, "4", "HTTP worker threads"),
    NUM(connection_timeout, SET_U64, "60", "seconds an idle connection stays open"),
    NUM(connection_limit, SET_U64, "256", "open connections in all"),
    NUM(per_ip_limit, SET_U64, "64", "open connections per client address"),
    NUM(max_upload_bytes, SET_BYTES, "64G", "largest dump accepted by upload or import, as sent (413 beyond)"),
    NUM(max_dump_bytes, SET_BYTES, "64G", "largest dump once decompressed (.gz, .zst, .zip beyond it are refused)"),
    NUM(workers, SET_U64, "0", "analyses at once (0: number of cores)"),
    NUM(worker_timeout, SET_U64, "3600", "seconds of wall clock one analysis may take"),
    NUM(worker_memory, SET_BYTES, "0", "private memory per analysis worker (RLIMIT_DATA; 0: no limit)"),
    NUM(worker_cpu, SET_U64, "0", "CPU seconds per analysis worker (0: no limit)"),
    NUM(worker_log_bytes, SET_BYTES, "1M", "worker output kept per job"),
    NUM(max_attempts, SET_U64, "3", "interrupted analyses of one dump before it is marked failed"),
    NUM(lease_seconds, SET_U64, "300", "a running job not heard from for this long is requeued"),
    NUM(cache_bytes, SET_BYTES, "100G", "disk budget of the index cache (least recently used evicted)"),
    NUM(response_cache_bytes, SET_BYTES, "64M", "memory for rendered analysis answers (repeated questions are a copy)"),
    NUM(max_wait, SET_U64, "60", "longest ?wait=N a request may ask for, in seconds"),
    NUM(shutdown_grace, SET_U64, "10", "seconds to finish requests on SIGTERM before closing"),
    TEXT(dac, "", "libmscordaccore.so for workers (default: DUMPSCOPE_DAC, local runtimes, symbol servers)"),
    NUM(offline, SET_BOOL, "false", "workers never download a DAC from a symbol server"),
    TEXT(import_allowed_hosts, "",
         "hosts imports may download from, host[:port] comma-separated (empty: any public host; loopback, "
         "link-local and private addresses only when listed)"),
    NUM(import_concurrency, SET_U64, "2", "downloads at once (each in its own `dumpscope fetch` process)"),
    NUM(import_connections, SET_U64, "4", "parallel ranged GETs per download (1 to 16)"),
    NUM(import_chunk_bytes, SET_BYTES, "8M", "bytes per ranged GET, the unit a restarted download resumes from"),
    NUM(import_stall_seconds, SET_U64, "30", "a download connection below 1 KiB/s for this long is retried"),
    NUM(import_retries, SET_U64, "8", "retries of one request (408, 429, 5xx, lost connections), 1 s doubling"),
    NUM(metrics_open, SET_BOOL, "false", "serve /metrics without a token (else it needs the reader role)"),
    TEXT(finding_settings, "", "thresholds of the automatic findings, name=value,... (an index built with others is rebuilt) "
                               "(`dumpscope settings` lists them)"),
#undef TEXT
#undef NUM
};

#define SETTING_COUNT (sizeof settings / sizeof *settings)

/* Parses "123", "64K", "1M", "2G", "1T" (powers of 1024). */
static bool parse_bytes(const char *text, bool allow_suffix, uint64_t *out) {
  if (!text || !isdigit((unsigned char)text[0]))
    return false;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno)
    return false;
  unsigned shift = 0;
  if (allow_suffix && *end) {
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return false;
    }
    end++;
    if (toupper((unsigned char)*end) == 'B')
      end++;
  }
  if (*end || (shift && v > (UINT64_MAX >> shift)))
    return false;
  *out = (uint64_t)v << shift;
  return true;
}

static ds_status apply(ds_config *config, const struct setting *s, const char *value, const char *source,
                       ds_error *err) {
  char *field = (char *)config + s->offset;
  switch (s->kind) {
  case SET_TEXT:
    if (strlen(value) >= s->size)
      return ds_error_set(err, DS_E_ARG, "%s: %s is too long (at most %zu bytes)", source, s->key, s->size - 1);
    memcpy(field, value, strlen(value) + 1);
    return DS_OK;
  case SET_BOOL:
    if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
      *(bool *)field = true;
    else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
      *(bool *)field = false;
    else
      return ds_error_set(err, DS_E_ARG, "%s: %s must be true or false, got \"%.64s\"", source, s->key, value);
    return DS_OK;
  case SET_U64:
  case SET_BYTES: {
    uint64_t v;
    if (!parse_bytes(value, s->kind == SET_BYTES, &v))
      return ds_error_set(err, DS_E_ARG, "%s: %s must be a number%s, got \"%.64s\"", source, s->key,
                          s->kind == SET_BYTES ? " of bytes (suffixes K, M, G, T)" : "", value);
    memcpy(field, &v, sizeof v);
    return DS_OK;
  }
  }
  return DS_OK;
}

static const struct setting *find(const char *key, size_t key_len) {
  for (size_t i = 0; i < SETTING_COUNT; i++)
    if (strlen(settings[i].key) == key_len && strncmp(settings[i].key, key, key_len) == 0)
      return &settings[i];
  return NULL;
}

void ds_config_defaults(ds_config *config) {
  memset(config, 0, sizeof *config);
  ds_error ignored;
  for (size_t i = 0; i < SETTING_COUNT; i++)
    apply(config, &settings[i], settings[i].def, "default", &ignored);
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t len = strlen(s);
  while (len && isspace((unsigned char)s[len - 1]))
    s[--len] = '\0';
  return s;
}

static ds_status load_file(ds_config *config, const char *path, ds_error *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return ds_error_set(err, DS_E_IO, "cannot read the config file %s: %s", path, strerror(errno));
  char line[8192], source[4200];
  unsigned line_no = 0;
  ds_status rc = DS_OK;
  while (rc == DS_OK && fgets(line, sizeof line, f)) {
    line_no++;
    snprintf(source, sizeof source, "%s:%u", path, line_no);
    char *text = trim(line);
    if (!*text || *text == '#')
      continue;
    char *eq = strchr(text, '=');
    if (!eq) {
      rc = ds_error_set(err, DS_E_ARG, "%s: expected key = value", source);
      break;
    }
    *eq = '\0';
    char *key = trim(text), *value = trim(eq + 1);
    const struct setting *s = find(key, strlen(key));
    if (!s)
      rc = ds_error_set(err, DS_E_ARG, "%s: unknown setting \"%.64s\" (see dumpscope serve --help)", source, key);
    else
      rc = apply(config, s, value, source, err);
  }
  fclose(f);
  return rc;
}

static ds_status load_env(ds_config *config, ds_error *err) {
  for (size_t i = 0; i < SETTING_COUNT; i++) {
    char name[64] = "DUMPSCOPE_";
    size_t n = strlen(name);
    for (const char *k = settings[i].key; *k && n + 1 < sizeof name; k++)
      name[n++] = (char)toupper((unsigned char)*k);
    name[n] = '\0';
    const char *value = getenv(name);
    if (!value || !*value)
      continue;
    /* DUMPSCOPE_DAC is also the CLI's; the daemon passes it on to workers the same way. */
    ds_status rc = apply(config, &settings[i], value, name, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

ds_status ds_config_load(ds_config *config, int argc, char **argv, int first, ds_error *err) {
  for (int i = first; i + 1 < argc; i++)
    if (strcmp(argv[i], "--config") == 0) {
      if (strlen(argv[i + 1]) >= sizeof config->config_file)
        return ds_error_set(err, DS_E_ARG, "--config path too long");
      memcpy(config->config_file, argv[i + 1], strlen(argv[i + 1]) + 1);
    }
  ds_status rc = DS_OK;
  if (config->config_file[0] && (rc = load_file(config, config->config_file, err)) != DS_OK)
    return rc;
  if ((rc = load_env(config, err)) != DS_OK)
    return rc;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--config") == 0) {
      i++;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0)
      return ds_error_set(err, DS_E_ARG, "unexpected argument \"%.64s\" (settings are --key value)", arg);
    const char *key = arg + 2, *eq = strchr(key, '=');
    size_t key_len = eq ? (size_t)(eq - key) : strlen(key);
    char normalized[64];
    if (key_len >= sizeof normalized)
      return ds_error_set(err, DS_E_ARG, "unknown option %.64s (see dumpscope serve --help)", arg);
    for (size_t k = 0; k < key_len; k++)
      normalized[k] = key[k] == '-' ? '_' : key[k];
    const struct setting *s = find(normalized, key_len);
    if (!s)
      return ds_error_set(err, DS_E_ARG, "unknown option %.64s (see dumpscope serve --help)", arg);
    const char *value = eq ? eq + 1 : NULL;
    if (!value && s->kind == SET_BOOL)
      value = "true";
    if (!value) {
      if (i + 1 >= argc)
        return ds_error_set(err, DS_E_ARG, "%s needs a value", arg);
      value = argv[++i];
    }
    if ((rc = apply(config, s, value, "command line", err)) != DS_OK)
      return rc;
  }
  if (config->workers == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    config->workers = cores > 0 ? (uint64_t)cores : 1;
  }
  if (config->threads == 0 || config->threads > 256)
    return ds_error_set(err, DS_E_ARG, "threads must be between 1 and 256");
  if (config->import_concurrency == 0 || config->import_concurrency > 64)
    return ds_error_set(err, DS_E_ARG, "import_concurrency must be between 1 and 64");
  if (config->import_connections == 0 || config->import_connections > 16)
    return ds_error_set(err, DS_E_ARG, "import_connections must be between 1 and 16");
  if (config->import_chunk_bytes < 65536 || config->import_chunk_bytes > ((uint64_t)1 << 30))
    return ds_error_set(err, DS_E_ARG, "import_chunk_bytes must be between 64K and 1G");
  if (config->import_stall_seconds == 0 || config->import_stall_seconds > 3600)
    return ds_error_set(err, DS_E_ARG, "import_stall_seconds must be between 1 and 3600");
  if (config->import_retries > 100)
    return ds_error_set(err, DS_E_ARG, "import_retries must be at most 100");
  /* a bad threshold is refused now, not by every worker later */
  ds_finding_settings check;
  ds_finding_settings_init(&check);
  if (ds_finding_settings_apply(&check, config->finding_settings, err) != DS_OK)
    return ds_error_wrap(err, "finding_settings");
  return DS_OK;
}

void ds_config_help(FILE *out) {
  fprintf(out, "usage: dumpscope serve [--config FILE] [--KEY VALUE ...]\n\n"
               "Runs the daemon: uploads, the analysis queue with isolated workers, the REST API and web UI.\n"
               "Every setting comes from, in order (later wins): its default, the config file (key = value),\n"
               "the environment (DUMPSCOPE_KEY), the command line (--key value or --key=value).\n\n");
  for (size_t i = 0; i < SETTING_COUNT; i++) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", settings[i].key);
    for (char *p = flag + 2; *p; p++)
      if (*p == '_')
        *p = '-';
    fprintf(out, "  %-22s %s\n  %-22s default \"%s\"\n", flag, settings[i].help, "", settings[i].def);
  }
  fprintf(out, "\n--print-config prints a config file with every setting at its default (deploy/dumpscope.conf.example).\n");
  fprintf(out, "\nSizes take K, M, G, T suffixes (1024-based). Environment: DUMPSCOPE_ + the key in capitals\n"
               "(DUMPSCOPE_LISTEN, DUMPSCOPE_WORKER_TIMEOUT, ...).\n");
}

void ds_config_print_example(FILE *out) {
  fprintf(out, "# dumpscope serve: example configuration (dumpscope serve --config FILE).\n"
               "# Every setting, with its default; uncomment to change. The environment (DUMPSCOPE_<KEY>)\n"
               "# overrides this file, and command-line flags (--key value) override both.\n"
               "# Generated by `dumpscope serve --print-config`.\n");
  for (size_t i = 0; i < SETTING_COUNT; i++)
    fprintf(out, "\n# %s\n# %s = %s\n", settings[i].help, settings[i].key, settings[i].def);
}
