/*
 * fuzz_index.c: libFuzzer target for the heap index reader and the queries on top of it (with
 * no dump: values come back unavailable). The corpus in tests/fuzz/corpus/index is replayed by
 * the test suite (replay_index); `replay_index --make-seed DIR` writes a small valid index there.
 *
 * A mutated input almost never keeps its checksums right, so it would stop at the header check:
 * each input is also tried with its version, file size and checksums made right again, which
 * takes the mutations into the section checks and the queries.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "dumpscope/index.h"
#include "dumpscope/query.h"

int ds_fuzz_index_one(const uint8_t *data, size_t size);

/* The file layout (core/index/indexint.h, writer.c): a 48-byte header (magic, version @8, file size @16, section count @24,
 * table checksum @32, header checksum @40), then 32-byte section entries (offset @8, size @16,
 * checksum @24). */
#define HEADER_BYTES 48u
#define ENTRY_BYTES 32u

static void put(uint8_t *p, const void *value, size_t len) { memcpy(p, value, len); }

/* Makes the version, file size and every checksum of an index image right again. */
static void fix_checksums(uint8_t *p, size_t size) {
  if (size < HEADER_BYTES || memcmp(p, DS_INDEX_MAGIC, 8) != 0)
    return;
  uint32_t version = DS_INDEX_VERSION, count;
  uint64_t file_size = size, sum;
  put(p + 8, &version, 4);
  put(p + 16, &file_size, 8);
  memcpy(&count, p + 24, 4);
  if (count <= 64 && HEADER_BYTES + (uint64_t)count * ENTRY_BYTES <= size) {
    for (uint32_t i = 0; i < count; i++) {
      uint8_t *e = p + HEADER_BYTES + i * ENTRY_BYTES;
      uint64_t offset, len;
      memcpy(&offset, e + 8, 8);
      memcpy(&len, e + 16, 8);
      if (offset <= size && len <= size - offset) {
        sum = ds_index_checksum(p + offset, len);
        put(e + 24, &sum, 8);
      }
    }
    sum = ds_index_checksum(p + HEADER_BYTES, (uint64_t)count * ENTRY_BYTES);
    put(p + 32, &sum, 8);
  }
  sum = ds_index_checksum(p, 40);
  put(p + 40, &sum, 8);
}

static void run_queries(const uint8_t *data, size_t size, const char *label) {
  char path[64];
  int fd = ds_fuzz_memfd(data, size, path, sizeof path);
  if (fd < 0)
    return;
  ds_error err;
  ds_query *q = NULL;
  ds_status opened = ds_query_open(path, "/nonexistent", &q, &err);
  if (opened != DS_OK)
    opened = ds_query_open(path, NULL, &q, &err);
  ds_fuzz_note("%s=%s", label, ds_status_name(opened));
  if (opened == DS_OK) {
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
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) /* mu/muf (no dump: code unreadable) */
      if (ds_query_disasm(q, targets[i], i ? 4 : UINT32_MAX, &doc, &err) == DS_OK)
        json_decref(doc);
    if (ds_query_handles(q, 10, &doc, &err) == DS_OK)
      json_decref(doc);
    if (ds_query_fragmentation(q, 10, &doc, &err) == DS_OK)
      json_decref(doc);
    ds_status (*thread_queries[])(ds_query *, json_t **, ds_error *) = {
        ds_query_threads, ds_query_locks, ds_query_waits, ds_query_deadlocks, ds_query_findings};
    size_t answered = 0;
    for (size_t i = 0; i < sizeof thread_queries / sizeof *thread_queries; i++)
      if (thread_queries[i](q, &doc, &err) == DS_OK) {
        json_decref(doc);
        answered++;
      }
    ds_fuzz_note("thread_queries_ok=%zu", answered);
    if (ds_query_stack(q, 100, &doc, &err) == DS_OK)
      json_decref(doc);
    ds_query_close(q);
  }
  close(fd);
}

int ds_fuzz_index_one(const uint8_t *data, size_t size) {
  run_queries(data, size, "open");
  uint8_t *fixed = size ? malloc(size) : NULL;
  if (fixed) {
    memcpy(fixed, data, size);
    fix_checksums(fixed, size);
    if (memcmp(fixed, data, size) != 0)
      run_queries(fixed, size, "fixed_open");
    free(fixed);
  }
  return 0;
}

#ifdef DS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ds_fuzz_index_one(data, size); }
#endif
