/*
 * worker.c: building a dump's heap index, as the CLI's `index` command and as `dumpscope worker`,
 * the process the daemon's supervisor runs for each analysis job (design.md, rule 1: the DAC is
 * loaded only here, never in the daemon).
 *
 * The worker reports through its exit code, stdout progress lines ("@progress PHASE PERCENT") and
 * one "@error CODE MESSAGE" line on stderr when it fails; the index itself is written to a
 * temporary name and renamed into place by the index writer, so a killed worker leaves nothing
 * half-written behind.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dumpscope/build.h"

static void progress(FILE *out, const char *phase, int percent) {
  if (!out)
    return;
  fprintf(out, "@progress %s %d\n", phase, percent);
  fflush(out);
}

/* "512M", "2G", "1048576": bytes (1024-based suffixes K, M, G, T). */
static bool parse_size(const char *text, uint64_t *out) {
  char *end = NULL;
  if (!text || !*text || *text == '-')
    return false;
  unsigned long long v = strtoull(text, &end, 10);
  int shift = 0;
  if (end && *end) {
    const char *units = "KMGT", *u = strchr(units, *end & ~0x20);
    if (!u || end[1] || !*u)
      return false;
    shift = 10 * (int)(u - units + 1);
  }
  if (end == text || (shift && v > (UINT64_MAX >> shift)))
    return false;
  *out = (uint64_t)v << shift;
  return true;
}

ds_status ds_worker_memory_budget(const char *given, uint64_t *budget, ds_error *err) {
  *budget = 0;
  const char *text = given ? given : getenv("DUMPSCOPE_MEMORY_BUDGET");
  if (text && *text) {
    if (!parse_size(text, budget))
      return ds_error_set(err, DS_E_ARG, "the memory budget \"%s\" is not a size (bytes, or with K, M, G, T)", text);
    return DS_OK;
  }
  struct rlimit limit;
  if (getrlimit(RLIMIT_DATA, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    *budget = (uint64_t)limit.rlim_cur / 4 * 3;
  return DS_OK;
}

ds_status ds_worker_build_index(const char *dump, const char *index_path, const ds_dac_search *search,
                                const ds_finding_settings *settings, uint64_t memory_budget, FILE *progress_out,
                                ds_build_stats *stats, ds_error *err) {
  ds_analysis *analysis = NULL;
  progress(progress_out, "open", 5);
  ds_status rc = ds_analysis_open(dump, search, &analysis, err);
  if (rc != DS_OK)
    return rc;
  progress(progress_out, "index", 20);
  memset(stats, 0, sizeof *stats);
  rc = ds_index_build_budget(analysis, NULL, settings, memory_budget, index_path, stats, err);
  if (rc == DS_OK)
    progress(progress_out, "done", 100);
  ds_analysis_close(analysis);
  return rc;
}

ds_status ds_worker_root_search(const char *dump, uint64_t target, const char *index_path, const ds_dac_search *search,
                                ds_build_stats *stats, ds_error *err) {
  ds_analysis *analysis = NULL;
  ds_status rc = ds_analysis_open(dump, search, &analysis, err);
  if (rc != DS_OK)
    return rc;
  rc = ds_index_build_root_search(analysis, target, index_path, stats, err);
  ds_analysis_close(analysis);
  return rc;
}

static void usage(FILE *out) {
  fprintf(out, "usage: dumpscope worker --dump PATH --index PATH [--dac PATH] [--offline] [--memory-budget BYTES]\n"
               "                        [--set NAME=VALUE[,...]]\n"
               "  Builds the heap index of one dump (run by the daemon's supervisor, one process per job).\n"
               "  --memory-budget: build within about this much memory, spilling to disk beside the index\n"
               "  (default: DUMPSCOPE_MEMORY_BUDGET, else 3/4 of the worker's memory limit, RLIMIT_DATA).\n"
               "  --set overrides thresholds of the findings (`dumpscope settings` lists them); repeatable.\n"
               "  Exit codes: 0 built, 1 the dump cannot be analysed (an @error line says why), 2 bad arguments.\n");
}

int ds_worker_main(int argc, char **argv) {
  const char *dump = NULL, *index = NULL, *dac = NULL, *budget_text = NULL;
  bool offline = false;
  ds_finding_settings settings;
  ds_finding_settings_init(&settings);
  ds_error err = {0};
  for (int i = 2; i < argc; i++) {
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--dump") == 0 && next) {
      dump = next;
      i++;
    } else if (strcmp(argv[i], "--index") == 0 && next) {
      index = next;
      i++;
    } else if (strcmp(argv[i], "--dac") == 0 && next) {
      dac = next;
      i++;
    } else if (strcmp(argv[i], "--offline") == 0) {
      offline = true;
    } else if (strcmp(argv[i], "--memory-budget") == 0 && next) {
      budget_text = next;
      i++;
    } else if (strcmp(argv[i], "--set") == 0 && next) {
      if (ds_finding_settings_apply(&settings, next, &err) != DS_OK) {
        fprintf(stderr, "@error %s %s\n", ds_status_name(err.code), err.message);
        return 2;
      }
      i++;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!dump || !index) {
    usage(stderr);
    return 2;
  }
  ds_dac_search search;
  ds_dac_search_env env;
  ds_dac_search_init_env(&search, &env, dac, offline);
  uint64_t budget;
  if (ds_worker_memory_budget(budget_text, &budget, &err) != DS_OK) {
    fprintf(stderr, "@error %s %s\n", ds_status_name(err.code), err.message);
    return 2;
  }
  ds_build_stats stats;
  ds_status rc = ds_worker_build_index(dump, index, &search, &settings, budget, stdout, &stats, &err);
  if (rc != DS_OK) {
    fprintf(stderr, "@error %s %s\n", ds_status_name(err.code), err.message);
    return 1;
  }
  fprintf(stdout, "@result objects=%llu references=%llu roots=%llu build_ms=%.0f\n",
          (unsigned long long)stats.objects, (unsigned long long)stats.edges, (unsigned long long)stats.roots,
          stats.total_ms);
  return 0;
}
