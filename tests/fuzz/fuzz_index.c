/*
 * fuzz_index.c: libFuzzer target for the heap index reader and the queries on top of it (with
 * no dump: values come back unavailable). The corpus in tests/fuzz/corpus/index is replayed by
 * the test suite (replay_index); `replay_index --make-seed DIR` writes a small valid index there.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "dumpscope/index.h"
#include "dumpscope/query.h"

int ds_fuzz_index_one(const uint8_t *data, size_t size);

int ds_fuzz_index_one(const uint8_t *data, size_t size) {
  char path[64];
  int fd = ds_fuzz_memfd(data, size, path, sizeof path);
  if (fd < 0)
    return 0;
  ds_error err;
  ds_query *q = NULL;
  if (ds_query_open(path, "/nonexistent", &q, &err) == DS_OK || ds_query_open(path, NULL, &q, &err) == DS_OK) {
    json_t *doc = NULL;
    ds_object_filter all = {.gen = -1};
    if (ds_query_stats(q, &all, DS_SORT_SIZE, 10, &doc, &err) == DS_OK)
      json_decref(doc);
    uint64_t probe[] = {0, 0x1000, 0x7f0000001000ull};
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
      if (ds_query_refs(q, probe[i], 10, &doc, &err) == DS_OK)
        json_decref(doc);
      if (ds_query_root_paths(q, probe[i], true, 10, &doc, &err) == DS_OK)
        json_decref(doc);
      if (ds_query_memory(q, probe[i], &doc, &err) == DS_OK)
        json_decref(doc);
    }
    /* the SOSEX queries over types, names and frames (sosex.c's resources) */
    const char *targets[] = {"System.String", "0x1000", "*"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++)
      if (ds_query_mdt(q, targets[i], 2, 5, &doc, &err) == DS_OK)
        json_decref(doc);
    if (ds_query_search(q, "*e*", DS_SEARCH_ALL, 10, &doc, &err) == DS_OK)
      json_decref(doc);
    if (ds_query_frames(q, 1, -1, &doc, &err) == DS_OK)
      json_decref(doc);
    if (ds_query_handles(q, 10, &doc, &err) == DS_OK)
      json_decref(doc);
    if (ds_query_fragmentation(q, 10, &doc, &err) == DS_OK)
      json_decref(doc);
    if (ds_query_threads(q, &doc, &err) == DS_OK)
      json_decref(doc);
    ds_query_close(q);
  }
  close(fd);
  return 0;
}

#ifdef DS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ds_fuzz_index_one(data, size); }
#endif
