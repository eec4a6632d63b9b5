/*
 * bench_index.c: heap index figures. Prints; asserts nothing.
 *
 *   bench_index DUMP [INDEX_PATH]
 *
 * Build end to end (roots, walk, references, reverse references, liveness, write): time and
 * objects per second. Index size against the budget of 32 bytes per object + 8 per reference.
 * Then, from the index: open time, `refs` latency over 1000 random objects, shortest root path
 * latency over 200 random live objects (median and 95th percentile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "dumpscope/rootscan.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_index DUMP [INDEX_PATH]\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s", argc > 2 ? argv[2] : "/tmp/bench.dsindex");
  ds_error err = {0};
  double t0 = now_ms();
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  if (ds_analysis_open(argv[1], &search, &a, &err) != DS_OK) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  double t1 = now_ms();
  ds_build_stats st;
  if (ds_index_build(a, NULL, path, &st, &err) != DS_OK) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  double t3 = now_ms();
  ds_analysis_close(a);
  double build = t3 - t1;
  printf("dump:            %s\n", argv[1]);
  printf("objects:         %llu, references %llu, roots %llu, live %llu\n", (unsigned long long)st.objects,
         (unsigned long long)st.edges, (unsigned long long)st.roots, (unsigned long long)st.live_objects);
  printf("open -> DAC:     %.1f ms\n", t1 - t0);
  printf("index build:     %.0f ms end to end = %.2f million objects/s (roots %.0f, walk %.0f, types %.0f, "
         "references %.0f, reverse %.0f, locks %.0f, liveness %.0f, write %.0f)\n",
         build, st.objects / build / 1e3, st.collect_ms, st.walk_ms, st.types_ms, st.edges_ms, st.reverse_ms, st.locks_ms,
         st.live_ms, st.write_ms);
  struct stat sb;
  stat(path, &sb);
  double budget = 32.0 * (double)st.objects + 8.0 * (double)st.edges;
  printf("index size:      %.1f MB = %.1f bytes/object + refs (budget 32/object + 8/reference = %.1f MB: %s)\n",
         sb.st_size / 1048576.0, ((double)sb.st_size - 8.0 * (double)st.edges) / (double)st.objects,
         budget / 1048576.0, (double)sb.st_size <= budget ? "within" : "OVER");

  double o0 = now_ms();
  ds_query *q = NULL;
  if (ds_query_open(path, argv[1], &q, &err) != DS_OK) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  double o1 = now_ms();
  printf("index open:      %.2f ms (mmap + header, table and small-section checks)\n", o1 - o0);
  uint64_t size;
  const uint64_t *addrs = ds_index_section(ds_query_index(q), DS_SEC_OBJ_ADDR, &size);
  const uint64_t *live = ds_index_section(ds_query_index(q), DS_SEC_LIVE, &size);
  uint64_t n = ds_index_object_count(ds_query_index(q));
  srand(12345);
  /* first query pays the checksum of the sections it touches: report it separately */
  json_t *doc = NULL;
  double f0 = now_ms();
  ds_query_refs(q, addrs[n / 2], 100, &doc, &err);
  json_decref(doc);
  printf("first refs:      %.1f ms (includes verifying the sections it uses)\n", now_ms() - f0);
  double refs[1000];
  for (int i = 0; i < 1000; i++) {
    uint64_t k = ((uint64_t)rand() * (uint64_t)rand()) % n;
    double s = now_ms();
    ds_query_refs(q, addrs[k], 100, &doc, &err);
    refs[i] = now_ms() - s;
    json_decref(doc);
  }
  qsort(refs, 1000, sizeof *refs, compare_double);
  printf("refs:            median %.3f ms, p95 %.3f ms (1000 random objects)\n", refs[500], refs[950]);
  double paths[200];
  int done = 0, tries = 0;
  double first_path = -1;
  while (done < 200 && tries < 100000) {
    tries++;
    uint64_t k = ((uint64_t)rand() * (uint64_t)rand()) % n;
    if (!(live[k >> 6] >> (k & 63) & 1))
      continue;
    double s = now_ms();
    ds_query_root_paths(q, addrs[k], false, 1, &doc, &err);
    double e = now_ms() - s;
    json_decref(doc);
    if (first_path < 0) {
      first_path = e;
      continue;
    }
    paths[done++] = e;
  }
  qsort(paths, (size_t)done, sizeof *paths, compare_double);
  printf("root path:       median %.2f ms, p95 %.2f ms (%d random live objects; first query %.1f ms)\n",
         paths[done / 2], paths[done * 95 / 100], done, first_path);
  ds_query_close(q);
  return 0;
}
