/*
 * test_index_refs.c: the index reader checks every reference in the analysis' sections (waits,
 * locks, lock values, thread lists, deadlocks, findings, evidence, settings, the report's facts)
 * at open: a thread, frame, object, type,
 * string, value or list index that points outside the index is refused as corrupt, with checksums
 * that are all correct, so only the check itself can catch it. And a section the writer puts
 * around the page cache reads back whole.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "dumpscope/index.h"
#include "fixture.h"

/* A tiny consistent index: one object, two threads deadlocked on monitors. */
typedef struct tiny {
  ds_index_info info;
  uint64_t addr[1];
  uint32_t type[1], size[1], off[2];
  uint64_t live[1];
  ds_index_type types[1];
  ds_index_thread threads[2];
  ds_index_frame frames[2];
  ds_index_wait waits[2];
  ds_index_lock locks[1];
  ds_index_lock_value values[2];
  ds_index_waiter waiters[3];
  ds_index_deadlock deadlocks[1];
  ds_index_finding findings[1];
  ds_index_evidence evidence[3];
  ds_index_setting settings[1];
  ds_index_report report;
  ds_index_suspect suspects[1];
  uint32_t idom[2];          /* one more than the objects: only with with_idom */
  bool with_idom;
  char strings[64];
  size_t strings_len;
} tiny;

static void tiny_init(tiny *t) {
  memset(t, 0, sizeof *t);
  static const char pool[] = "\0Node\0monitor\0held_by\0waiters\0error";
  memcpy(t->strings, pool, sizeof pool);
  t->strings_len = sizeof pool;
  uint32_t node = 1, monitor = 6, held_by = 14, waiters = 22, error = 30;
  t->info = (ds_index_info){.object_count = 1, .type_count = 1, .free_type = UINT32_MAX, .string_type = UINT32_MAX};
  t->addr[0] = 0x1000;
  t->size[0] = 24;
  t->types[0] = (ds_index_type){.mt = 0x5000, .name = node, .base_size = 24, .element_type_index = UINT32_MAX};
  for (uint32_t i = 0; i < 2; i++) {
    t->threads[i] = (ds_index_thread){.os_id = 100 + i, .managed_id = 1 + i, .alive = 1, .first_frame = i, .frame_count = 1};
    t->frames[i] = (ds_index_frame){.thread = i, .method = monitor};
    t->waits[i] = (ds_index_wait){.thread = i, .kind = monitor, .frame = i, .object = 0, .holder = 1 - i};
  }
  t->locks[0] = (ds_index_lock){.address = 0x1000, .object = 0, .kind = monitor, .flags = DS_LOCK_MONITOR,
                                .first_value = 0, .value_count = 2, .first_waiter = 0, .waiter_count = 1};
  t->values[0] = (ds_index_lock_value){held_by, DS_VALUE_THREAD, 0};
  t->values[1] = (ds_index_lock_value){waiters, DS_VALUE_WAITERS, 0};
  t->waiters[0] = (ds_index_waiter){.thread = 1, .object = UINT32_MAX};
  t->waiters[1] = (ds_index_waiter){.thread = 0, .object = 0};
  t->waiters[2] = (ds_index_waiter){.thread = 1, .object = UINT32_MAX};
  t->deadlocks[0] = (ds_index_deadlock){.type = DS_DEADLOCK_CYCLE, .object = UINT32_MAX, .holder = UINT32_MAX,
                                        .first_waiter = 1, .waiter_count = 2};
  t->findings[0] = (ds_index_finding){.severity = error, .title = error, .description = error, .recommendation = error,
                                      .details = DS_FINDING_CYCLE, .ref = 0, .object = UINT32_MAX, .holder = UINT32_MAX,
                                      .code = error, .setting = monitor, .first_evidence = 0, .evidence_count = 3};
  t->evidence[0] = (ds_index_evidence){.kind = DS_EVIDENCE_THREAD, .ref = 1};
  t->evidence[1] = (ds_index_evidence){.kind = DS_EVIDENCE_OBJECT, .ref = 0, .count = 1, .bytes = 24};
  t->evidence[2] = (ds_index_evidence){.kind = DS_EVIDENCE_TYPE, .ref = 0, .label = node, .count = 1};
  t->settings[0] = (ds_index_setting){.name = held_by, .value = 3};
  t->report = (ds_index_report){.first_large = 1, .large_count = 1, .first_exception = 2, .exception_count_groups = 1,
                                .dump_kind = DS_DUMP_KIND_FULL};
  t->suspects[0] = (ds_index_suspect){.kind = DS_SUSPECT_OBJECT, .ref = 0, .accumulation = UINT32_MAX,
                                      .description = node, .first_group = 2, .group_count = 1, .retained = 24};
}

/* Writes t and opens it: the status of ds_index_open, its message in err. */
static ds_status tiny_open(const tiny *t, ds_error *err) {
  char path[512];
  snprintf(path, sizeof path, "%s/refs.dsindex", ds_test_tmpdir());
  ds_index_writer *w = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_index_writer_create(path, &w, err), DS_OK);
  struct { ds_section_id id; const void *data; size_t size; } secs[] = {
      {DS_SEC_INFO, &t->info, sizeof t->info},          {DS_SEC_OBJ_ADDR, t->addr, sizeof t->addr},
      {DS_SEC_OBJ_TYPE, t->type, sizeof t->type},       {DS_SEC_OBJ_SIZE, t->size, sizeof t->size},
      {DS_SEC_OUT_OFF, t->off, sizeof t->off},          {DS_SEC_IN_OFF, t->off, sizeof t->off},
      {DS_SEC_LIVE, t->live, sizeof t->live},           {DS_SEC_TYPES, t->types, sizeof t->types},
      {DS_SEC_STRINGS, t->strings, t->strings_len},     {DS_SEC_THREADS, t->threads, sizeof t->threads},
      {DS_SEC_FRAMES, t->frames, sizeof t->frames},     {DS_SEC_WAITS, t->waits, sizeof t->waits},
      {DS_SEC_LOCKS, t->locks, sizeof t->locks},        {DS_SEC_LOCK_VALUES, t->values, sizeof t->values},
      {DS_SEC_LOCK_WAITERS, t->waiters, sizeof t->waiters}, {DS_SEC_DEADLOCKS, t->deadlocks, sizeof t->deadlocks},
      {DS_SEC_FINDINGS, t->findings, sizeof t->findings}, {DS_SEC_EVIDENCE, t->evidence, sizeof t->evidence},
      {DS_SEC_SETTINGS, t->settings, sizeof t->settings}, {DS_SEC_REPORT, &t->report, sizeof t->report},
      {DS_SEC_IDOM, t->idom, t->with_idom ? sizeof t->idom : 0}, {DS_SEC_SUSPECTS, t->suspects, sizeof t->suspects},
  };
  for (size_t s = 0; s < sizeof secs / sizeof *secs; s++)
    if (secs[s].id != DS_SEC_IDOM || t->with_idom) /* an index may lack the dominator tree */
      CU_ASSERT_EQUAL_FATAL(ds_index_writer_add(w, secs[s].id, secs[s].data, secs[s].size, err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_index_writer_finish(w, err), DS_OK);
  ds_index_writer_free(w);
  ds_index *idx = NULL;
  ds_status rc = ds_index_open(path, &idx, err);
  ds_index_close(idx);
  unlink(path);
  return rc;
}

static void expect_refused(const tiny *t, const char *section) {
  ds_error err = {0};
  CU_ASSERT_EQUAL(tiny_open(t, &err), DS_E_CORRUPT);
  if (!strstr(err.message, section) || !strstr(err.message, "refers outside"))
    fprintf(stderr, "expected a bad reference in \"%s\", got: %s\n", section, err.message);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, section));
}

static void test_lock_sections_checked(void) {
  tiny t;
  ds_error err = {0};
  tiny_init(&t);
  CU_ASSERT_EQUAL(tiny_open(&t, &err), DS_OK);

  tiny_init(&t), t.waits[1].thread = 2; /* no such thread */
  expect_refused(&t, "\"waits\"");
  tiny_init(&t), t.waits[1].thread = 0; /* not ascending */
  expect_refused(&t, "\"waits\"");
  tiny_init(&t), t.waits[0].frame = 2;
  expect_refused(&t, "\"waits\"");
  tiny_init(&t), t.waits[0].holder = 7;
  expect_refused(&t, "\"waits\"");
  tiny_init(&t), t.waits[0].kind = 64; /* past the string pool */
  expect_refused(&t, "\"waits\"");
  tiny_init(&t), t.locks[0].object = 1;
  expect_refused(&t, "\"locks\"");
  tiny_init(&t), t.locks[0].value_count = 3;
  expect_refused(&t, "\"locks\"");
  tiny_init(&t), t.locks[0].first_waiter = UINT32_MAX; /* no wrap-around of first + count */
  expect_refused(&t, "\"locks\"");
  tiny_init(&t), t.values[0].value = 2;
  expect_refused(&t, "\"lock values\"");
  tiny_init(&t), t.values[1].type = DS_VALUE_TYPE_COUNT_;
  expect_refused(&t, "\"lock values\"");
  tiny_init(&t), t.waiters[1].object = 5;
  expect_refused(&t, "\"lock waiters\"");
  tiny_init(&t), t.deadlocks[0].type = 0;
  expect_refused(&t, "\"deadlocks\"");
  tiny_init(&t), t.deadlocks[0].waiter_count = 3;
  expect_refused(&t, "\"deadlocks\"");
  tiny_init(&t), t.findings[0].ref = 1; /* one deadlock only */
  expect_refused(&t, "\"findings\"");
  tiny_init(&t), t.findings[0].details = DS_FINDING_THREAD, t.findings[0].ref = 2;
  expect_refused(&t, "\"findings\"");
  tiny_init(&t), t.findings[0].evidence_count = 4; /* three evidence records */
  expect_refused(&t, "\"findings\"");
  tiny_init(&t), t.findings[0].code = 64;
  expect_refused(&t, "\"findings\"");
  tiny_init(&t), t.evidence[0].ref = 2; /* two threads */
  expect_refused(&t, "\"evidence\"");
  tiny_init(&t), t.evidence[1].ref = 1; /* one object */
  expect_refused(&t, "\"evidence\"");
  tiny_init(&t), t.evidence[2].ref = 1; /* one type */
  expect_refused(&t, "\"evidence\"");
  tiny_init(&t), t.evidence[2].kind = DS_EVIDENCE_KIND_COUNT_;
  expect_refused(&t, "\"evidence\"");
  tiny_init(&t), t.evidence[2].label = 64;
  expect_refused(&t, "\"evidence\"");
  tiny_init(&t), t.settings[0].name = 64;
  expect_refused(&t, "\"settings\"");
  tiny_init(&t), t.report.large_count = 3;
  expect_refused(&t, "\"report\"");
  tiny_init(&t), t.report.first_exception = UINT32_MAX;
  expect_refused(&t, "\"report\"");
  tiny_init(&t), t.report.dump_kind = DS_DUMP_KIND_COUNT_;
  expect_refused(&t, "\"report\"");
  tiny_init(&t), t.suspects[0].ref = 1; /* one object */
  expect_refused(&t, "\"leak suspects\"");
  tiny_init(&t), t.suspects[0].kind = DS_SUSPECT_TYPE, t.suspects[0].ref = 1; /* one type */
  expect_refused(&t, "\"leak suspects\"");
  tiny_init(&t), t.suspects[0].accumulation = 1;
  expect_refused(&t, "\"leak suspects\"");
  tiny_init(&t), t.suspects[0].group_count = 2; /* three evidence records from 2 */
  expect_refused(&t, "\"leak suspects\"");
  /* the dominator tree's sections are whole when present: two entries for one object */
  tiny_init(&t), t.with_idom = true;
  CU_ASSERT_EQUAL(tiny_open(&t, &err), DS_E_CORRUPT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "immediate dominators"));
}

/* A section written around the page cache (ds_index_writer_add_direct: whole pages through an
 * aligned buffer, a megabyte at a time) reads back whole from the file, between sections written
 * through the page cache that its padding must not touch. */
static void test_direct_section_round_trip(void) {
  static const size_t sizes[] = {0, 1, 33, 4095, 4096, 4097, (1u << 20) + 33, (3u << 20) - 5};
  char path[512];
  snprintf(path, sizeof path, "%s/direct.dsindex", ds_test_tmpdir());
  enum { DATA = (3u << 20) + 64 }; /* the largest size from the largest start */
  uint8_t *data = malloc(DATA);
  CU_ASSERT_PTR_NOT_NULL_FATAL(data);
  for (size_t i = 0; i < DATA; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  const char before[] = "before", after[] = "after: the next section";
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    ds_error err = {0};
    ds_index_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(ds_index_writer_create(path, &w, &err), DS_OK);
    CU_ASSERT_EQUAL(ds_index_writer_add(w, DS_SEC_INFO, before, sizeof before, &err), DS_OK); /* off a page */
    CU_ASSERT_EQUAL(ds_index_writer_add_direct(w, DS_SEC_RETAINED, data + k, sizes[k], &err), DS_OK); /* unaligned */
    CU_ASSERT_EQUAL(ds_index_writer_add(w, DS_SEC_STRINGS, after, sizeof after, &err), DS_OK);
    uint64_t got = 0;
    const void *map = ds_index_writer_map_section(w, DS_SEC_RETAINED, &got, &err);
    CU_ASSERT_EQUAL(got, sizes[k]);
    if (sizes[k])
      CU_ASSERT(map && memcmp(map, data + k, sizes[k]) == 0);
    map = ds_index_writer_map_section(w, DS_SEC_STRINGS, &got, &err);
    CU_ASSERT(map && got == sizeof after && memcmp(map, after, sizeof after) == 0);
    map = ds_index_writer_map_section(w, DS_SEC_INFO, &got, &err);
    CU_ASSERT(map && got == sizeof before && memcmp(map, before, sizeof before) == 0);
    ds_index_writer_free(w); /* unfinished: removed */
  }
  free(data);
}

/* The file's pages in the page cache (read in first when asked). */
static size_t cached_pages(const char *path, bool read_in) {
  int fd = open(path, O_RDONLY);
  CU_ASSERT_FATAL(fd >= 0);
  struct stat st;
  CU_ASSERT_FATAL(fstat(fd, &st) == 0 && st.st_size > 0);
  char buf[65536];
  while (read_in && read(fd, buf, sizeof buf) > 0)
    ;
  size_t len = (size_t)st.st_size, pages = (len + 4095) / 4096, cached = 0;
  void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  unsigned char *in = malloc(pages);
  CU_ASSERT_FATAL(map != MAP_FAILED && in && mincore(map, len, in) == 0);
  for (size_t k = 0; k < pages; k++)
    cached += in[k] & 1;
  free(in);
  munmap(map, len);
  close(fd);
  return cached;
}

/* An index a build is about to replace leaves the page cache at the build's start; a file that is
 * not an index stays as it is. */
static void test_replaced_index_leaves_cache(void) {
  char path[512], other[512];
  snprintf(path, sizeof path, "%s/old.dsindex", ds_test_tmpdir());
  snprintf(other, sizeof other, "%s/other.dmp", ds_test_tmpdir());
  static uint8_t data[1 << 20];
  memset(data, 'x', sizeof data);
  ds_error err = {0};
  ds_index_writer *w = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_index_writer_create(path, &w, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_index_writer_add(w, DS_SEC_STRINGS, data, sizeof data, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_index_writer_finish(w, &err), DS_OK); /* fsynced: clean pages */
  ds_index_writer_free(w);
  FILE *f = fopen(other, "wb");
  CU_ASSERT_FATAL(f && fwrite(data, 1, sizeof data, f) == sizeof data && fflush(f) == 0 && fsync(fileno(f)) == 0);
  fclose(f);
  struct statfs fs;
  bool droppable = statfs(path, &fs) == 0 && fs.f_type != 0x01021994 /* tmpfs: its pages are the file */;
  CU_ASSERT(cached_pages(path, true) > 256);
  size_t other_before = cached_pages(other, true);
  CU_ASSERT(other_before > 200); /* of 256 */
  ds_index_writer_drop_cached(path);
  ds_index_writer_drop_cached(other);
  if (droppable)
    CU_ASSERT_EQUAL(cached_pages(path, false), 0);
  CU_ASSERT_EQUAL(cached_pages(other, false), other_before);
  unlink(path);
  unlink(other);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("index_refs", NULL, NULL);
  CU_add_test(s, "references in the lock sections are checked at open", test_lock_sections_checked);
  CU_add_test(s, "a section written around the page cache reads back whole", test_direct_section_round_trip);
  CU_add_test(s, "an index about to be replaced leaves the page cache", test_replaced_index_leaves_cache);
  return ds_test_main();
}
