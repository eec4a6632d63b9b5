/*
 * bench_dominators.c: the dominator search alone, on the graph of a built index, on one thread
 * with nothing else running (in the build it shares the machine with the other phases). Prints
 * figures; asserts nothing, but says whether the retained sizes equal the index's.
 *
 *   bench_dominators INDEX [--repeat N]
 *
 * Reports per run: the whole search and its steps (dominators.h: step_ms), and the working memory.
 * The roots are the index's GC roots (not the static-field roots, which name slots of arrays the
 * handles already root), as the build takes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dominators.h"
#include "dumpscope/index.h"
#include "dumpscope/roots.h"

static const void *section(ds_index *idx, ds_section_id id, uint64_t *count, size_t elem) {
  uint64_t size = 0;
  ds_error err = {0};
  if (ds_index_require(idx, id, &err) != DS_OK) {
    fprintf(stderr, "%s\n", err.message);
    exit(1);
  }
  const void *data = ds_index_section(idx, id, &size);
  *count = size / elem;
  return data;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_dominators INDEX [--repeat N]\n");
    return 2;
  }
  int repeat = argc >= 4 && strcmp(argv[2], "--repeat") == 0 ? atoi(argv[3]) : 3;
  ds_index *idx = NULL;
  ds_error err = {0};
  if (ds_index_open(argv[1], &idx, &err) != DS_OK) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  size_t n = ds_index_object_count(idx);
  uint64_t c, root_count, type_count, big_count;
  const uint32_t *size32 = section(idx, DS_SEC_OBJ_SIZE, &c, 4);
  const ds_index_big_size *big = section(idx, DS_SEC_BIG_SIZES, &big_count, sizeof *big);
  const ds_index_root *roots = section(idx, DS_SEC_ROOTS, &root_count, sizeof *roots);
  section(idx, DS_SEC_TYPES, &type_count, sizeof(ds_index_type));
  const uint64_t *retained = section(idx, DS_SEC_RETAINED, &c, 8);
  ds_dom_graph g = {.n = n, .type_count = type_count};
  g.out_off = section(idx, DS_SEC_OUT_OFF, &c, 4);
  g.out_edge = section(idx, DS_SEC_OUT_EDGE, &c, 4);
  g.in_off = section(idx, DS_SEC_IN_OFF, &c, 4);
  g.in_edge = section(idx, DS_SEC_IN_EDGE, &c, 4);
  g.type = section(idx, DS_SEC_OBJ_TYPE, &c, 4);
  uint64_t *bits = calloc(n / 64 + 1, 8), *size = malloc((n ? n : 1) * 8);
  if (!bits || !size)
    return 1;
  for (uint64_t r = 0; r < root_count; r++)
    if (roots[r].is_root && roots[r].kind != DS_ROOT_STATIC_FIELD && roots[r].object < n)
      bits[roots[r].object >> 6] |= 1ull << (roots[r].object & 63);
  for (size_t o = 0; o < n; o++)
    size[o] = size32[o];
  for (uint64_t k = 0; k < big_count; k++)
    if (big[k].object < n)
      size[big[k].object] = big[k].size;
  g.root_bits = bits, g.size = size;
  printf("index:      %s: %zu objects, %u references\n", argv[1], n, n ? g.out_off[n] : 0);
  for (int run = 0; run < repeat; run++) {
    ds_dom_result r;
    if (ds_dominators(&g, &r, &err) != DS_OK) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    size_t differ = 0;
    for (size_t o = 0; o < n; o++)
      differ += r.retained[o] != retained[o];
    printf("run %d:      %.0f ms (numbering %.0f, semidominators %.0f, immediate %.0f, retained %.0f, per type %.0f), "
           "%llu reachable, work %.0f MB, retained sizes %s\n",
           run + 1, r.ms, r.step_ms[0], r.step_ms[1], r.step_ms[2], r.step_ms[3], r.step_ms[4],
           (unsigned long long)r.reachable, r.work_bytes / 1048576.0, differ ? "DIFFER from the index's" : "equal the index's");
    ds_dom_result_free(&r);
  }
  free(bits), free(size);
  ds_index_close(idx);
  return 0;
}
