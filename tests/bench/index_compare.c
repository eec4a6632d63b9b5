/*
 * index_compare.c: are two heap indexes the same index? Compares every section byte for byte,
 * except what measures the build rather than the heap (the build time in the info record, the
 * findings' and dominators' times and working memory in the report). Used by the spill test
 * (an index built under a small memory budget equals the one built in memory) and by hand
 * against an index of the main branch's binary.
 *
 *   index_compare A.dsindex B.dsindex     exit 0 same, 1 different (the sections are named), 2 error
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/index.h"

/* A copy of a section with the build's own measurements zeroed. */
static void *normalised(ds_section_id id, const void *data, uint64_t size) {
  void *copy = malloc(size ? size : 1);
  if (!copy)
    return NULL;
  memcpy(copy, data, size);
  if (id == DS_SEC_INFO && size >= sizeof(ds_index_info)) {
    ((ds_index_info *)copy)->build_ms = 0;
  } else if (id == DS_SEC_REPORT && size >= sizeof(ds_index_report)) {
    ds_index_report *r = copy;
    r->findings_ms = r->dominators_ms = 0;
    r->dominators_work_bytes = 0;
  }
  return copy;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: index_compare A.dsindex B.dsindex\n");
    return 2;
  }
  ds_index *idx[2];
  for (int k = 0; k < 2; k++) {
    ds_error err = {0};
    if (ds_index_open(argv[1 + k], &idx[k], &err) != DS_OK) {
      fprintf(stderr, "index_compare: %s: %s\n", argv[1 + k], err.message);
      return 2;
    }
  }
  int differ = 0;
  for (int id = DS_SEC_INFO; id < DS_SEC_COUNT_; id++) {
    uint64_t size[2] = {0, 0};
    const void *data[2] = {ds_index_section(idx[0], (ds_section_id)id, &size[0]),
                           ds_index_section(idx[1], (ds_section_id)id, &size[1])};
    if (!data[0] && !data[1])
      continue;
    if (!data[0] || !data[1] || size[0] != size[1]) {
      printf("section %d: sizes %llu and %llu\n", id, (unsigned long long)size[0], (unsigned long long)size[1]);
      differ = 1;
      continue;
    }
    void *a = normalised((ds_section_id)id, data[0], size[0]), *b = normalised((ds_section_id)id, data[1], size[1]);
    if (!a || !b) {
      fprintf(stderr, "index_compare: out of memory\n");
      return 2;
    }
    if (memcmp(a, b, size[0]) != 0) {
      uint64_t at = 0;
      while (((const uint8_t *)a)[at] == ((const uint8_t *)b)[at])
        at++;
      printf("section %d: %llu bytes differ from byte %llu\n", id, (unsigned long long)size[0], (unsigned long long)at);
      differ = 1;
    }
    free(a);
    free(b);
  }
  ds_index_close(idx[0]);
  ds_index_close(idx[1]);
  if (!differ)
    printf("same index: %s and %s\n", argv[1], argv[2]);
  return differ;
}
