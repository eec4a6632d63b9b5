/*
 * bench_walk.c: how fast we read a dump. Prints figures; asserts nothing.
 *
 *   bench_walk DUMP [--repeat N]
 *
 * Reports: time from opening the dump to the DAC being ready (and the heap described), then the
 * full per-type histogram walk: objects, seconds, objects per second on one core, and memory:
 * peak anonymous RSS (what the walk allocates) and peak file-backed RSS (mapped dump pages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dumpscope/analysis.h"

static double clock_s(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

/* Reads a "Key:   N kB" line of /proc/self/status. */
static long status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t klen = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, klen) == 0 && line[klen] == ':')
      v = strtol(line + klen + 1, NULL, 10);
  if (f)
    fclose(f);
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_walk DUMP [--repeat N]\n");
    return 2;
  }
  int repeat = 3;
  if (argc >= 4 && strcmp(argv[2], "--repeat") == 0)
    repeat = atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  double t0 = now_s();
  if (ds_analysis_open(argv[1], &search, &a, &err) != DS_OK) {
    fprintf(stderr, "bench_walk: %s\n", err.message);
    return 1;
  }
  double t1 = now_s();
  printf("dump:                 %s (%.1f MB)\n", argv[1], ds_dump_file_size(a->dump) / 1048576.0);
  printf("open -> DAC ready:    %.1f ms (dump open %.1f ms, DAC %.1f ms); heap described in %.1f ms\n",
         (t1 - t0) * 1e3 - a->heap_ms, a->open_ms, a->dac_ms, a->heap_ms);
  double best = 1e30, best_cpu = 1e30; /* CPU time too: on a shared machine it is the steadier figure */
  uint64_t objects = 0, types = 0, bytes = 0;
  for (int r = 0; r < repeat; r++) {
    ds_histogram hist;
    double s = now_s(), c = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (ds_heap_histogram(a->heap, -1, &hist, &err) != DS_OK) {
      fprintf(stderr, "bench_walk: %s\n", err.message);
      return 1;
    }
    double e = now_s() - s, ce = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c;
    if (e < best)
      best = e;
    if (ce < best_cpu)
      best_cpu = ce;
    objects = hist.stats.objects;
    bytes = hist.stats.bytes;
    types = hist.row_count;
    ds_histogram_free(&hist);
  }
  printf("histogram walk:       %llu objects, %llu types, %.1f MB of objects\n", (unsigned long long)objects,
         (unsigned long long)types, bytes / 1048576.0);
  printf("walk time (best of %d): %.3f s = %.1f million objects/s (one core)\n", repeat, best,
         objects / best / 1e6);
  printf("walk CPU time (best):  %.3f s = %.1f million objects/s per CPU second\n", best_cpu, objects / best_cpu / 1e6);
  printf("peak RSS:             %ld kB total (RssAnon now %ld kB, RssFile now %ld kB, VmHWM %ld kB)\n",
         status_kb("VmHWM"), status_kb("RssAnon"), status_kb("RssFile"), status_kb("VmHWM"));
  printf("MethodTable cache:    %zu types\n", ds_heap_type_count(a->heap));
  ds_analysis_close(a);
  return 0;
}
