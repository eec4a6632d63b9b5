/*
 * replay_index.c: replays the index fuzz corpus as a test; --make-seed DIR writes a small valid
 * index (three objects, two references, one root, two threads in a monitor deadlock with their
 * waits, locks, cycle and finding with its evidence, a setting, the report's facts and the
 * dominator tree) for the corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/index.h"
#include "dumpscope/roots.h"
#include "fuzz_common.h"

int ds_fuzz_index_one(const uint8_t *data, size_t size);

static int make_seed(const char *dir) {
  ds_strpool pool = {0};
  ds_strpool_add(&pool, "");
  uint64_t addr[3] = {0x1000, 0x1020, 0x1040};
  uint32_t type[3] = {0, 0, 1}, size[3] = {32, 32, 24};
  uint32_t out_off[4] = {0, 1, 2, 2}, out_edge[2] = {1, 2}, in_off[4] = {0, 0, 1, 2}, in_edge[2] = {0, 1};
  uint64_t live[1] = {7};
  ds_index_type types[2] = {{.mt = 0x5000, .name = ds_strpool_add(&pool, "Node"), .base_size = 32, .flags = 8,
                             .element_type_index = UINT32_MAX},
                            {.mt = 0x6000, .name = ds_strpool_add(&pool, "Leaf"), .base_size = 24,
                             .element_type_index = UINT32_MAX}};
  ds_index_field fields[1] = {{ds_strpool_add(&pool, "next"), ds_strpool_add(&pool, "Node"), 8, 0x12}};
  types[0].field_count = 1;
  ds_index_segment segs[1] = {{.start = 0x1000, .end = 0x1058, .gen = 2, .first_object = 0, .object_count = 3}};
  ds_index_root roots[1] = {{.address = 0x9000, .raw_object = 0x1000, .object = 0, .secondary = UINT32_MAX,
                             .kind = DS_ROOT_HANDLE_STRONG, .thread = UINT32_MAX, .frame = UINT32_MAX, .is_root = 1}};
  /* two threads, each holding one Node's monitor and waiting for the other's */
  ds_index_thread threads[2] = {{.address = 0xa000, .os_id = 100, .managed_id = 1, .alive = 1, .first_frame = 0,
                                 .frame_count = 1, .lock_count = UINT32_MAX},
                                {.address = 0xb000, .os_id = 101, .managed_id = 2, .alive = 1, .first_frame = 1,
                                 .frame_count = 1, .lock_count = UINT32_MAX}};
  uint32_t enter = ds_strpool_add(&pool, "System.Threading.Monitor.Enter(System.Object)");
  ds_index_frame frames[2] = {{.sp = 0x7000, .ip = 0x8000, .thread = 0, .method = enter},
                              {.sp = 0x7100, .ip = 0x8000, .thread = 1, .method = enter}};
  uint32_t monitor = ds_strpool_add(&pool, "monitor"), thin = ds_strpool_add(&pool, "thin lock");
  ds_index_wait waits[2] = {{.thread = 0, .kind = monitor, .frame = 0, .object = 1, .holder = 1},
                            {.thread = 1, .kind = monitor, .frame = 1, .object = 0, .holder = 0}};
  uint32_t held_by = ds_strpool_add(&pool, "held_by"), recursion = ds_strpool_add(&pool, "recursion"),
           waiters_name = ds_strpool_add(&pool, "waiters");
  ds_index_lock_value values[6] = {{held_by, DS_VALUE_THREAD, 0}, {recursion, DS_VALUE_INT, 1},
                                   {waiters_name, DS_VALUE_WAITERS, 0}, {held_by, DS_VALUE_THREAD, 1},
                                   {recursion, DS_VALUE_INT, 1}, {waiters_name, DS_VALUE_WAITERS, 0}};
  ds_index_lock locks[2] = {{.address = 0x1000, .object = 0, .kind = thin, .flags = DS_LOCK_MONITOR, .first_value = 0,
                             .value_count = 3, .first_waiter = 0, .waiter_count = 1},
                            {.address = 0x1020, .object = 1, .kind = thin, .flags = DS_LOCK_MONITOR, .first_value = 3,
                             .value_count = 3, .first_waiter = 1, .waiter_count = 1}};
  ds_index_waiter waiters[4] = {{.thread = 1, .object = UINT32_MAX}, {.thread = 0, .object = UINT32_MAX},
                                {.thread = 0, .object = 0}, {.thread = 1, .object = 1}};
  ds_index_deadlock deadlocks[1] = {{.type = DS_DEADLOCK_CYCLE, .object = UINT32_MAX, .holder = UINT32_MAX,
                                     .first_waiter = 2, .waiter_count = 2}};
  ds_index_finding findings[1] = {{.severity = ds_strpool_add(&pool, "error"), .title = ds_strpool_add(&pool, "Deadlock"),
                                   .description = ds_strpool_add(&pool, "2 threads wait for each other."),
                                   .recommendation = ds_strpool_add(&pool, "Take locks in one order."),
                                   .details = DS_FINDING_CYCLE, .ref = 0, .object = UINT32_MAX, .holder = UINT32_MAX,
                                   .code = ds_strpool_add(&pool, "deadlock"), .first_evidence = 0, .evidence_count = 3}};
  ds_index_evidence evidence[4] = {{.kind = DS_EVIDENCE_THREAD, .ref = 0}, {.kind = DS_EVIDENCE_THREAD, .ref = 1},
                                   {.kind = DS_EVIDENCE_OBJECT, .ref = 1, .count = 1, .bytes = 32},
                                   {.kind = DS_EVIDENCE_TYPE, .ref = 0, .label = ds_strpool_add(&pool, "a message"),
                                    .count = 2, .bytes = 64}};
  ds_index_setting settings[1] = {{.name = ds_strpool_add(&pool, "contention_waiters"), .value = 3}};
  ds_index_report report = {.string_count = 0, .first_exception = 3, .exception_count_groups = 1,
                            .exception_count = 2, .dump_kind = DS_DUMP_KIND_HEAP};
  ds_index_info info = {.object_count = 3, .edge_count = 2, .type_count = 2, .root_count = 1, .free_type = UINT32_MAX,
                        .string_type = UINT32_MAX, .gc_structures_valid = 1}; /* 0: a mid-GC index, no heap */
  ds_index_writer *w = NULL;
  ds_error err;
  char path[4096];
  snprintf(path, sizeof path, "%s/tiny.dsindex", dir);
  if (ds_index_writer_create(path, &w, &err) != DS_OK) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  ds_index_writer_add(w, DS_SEC_INFO, &info, sizeof info, &err);
  ds_index_writer_add(w, DS_SEC_OBJ_ADDR, addr, sizeof addr, &err);
  ds_index_writer_add(w, DS_SEC_OBJ_TYPE, type, sizeof type, &err);
  ds_index_writer_add(w, DS_SEC_OBJ_SIZE, size, sizeof size, &err);
  ds_index_writer_add(w, DS_SEC_OUT_OFF, out_off, sizeof out_off, &err);
  ds_index_writer_add(w, DS_SEC_OUT_EDGE, out_edge, sizeof out_edge, &err);
  ds_index_writer_add(w, DS_SEC_IN_OFF, in_off, sizeof in_off, &err);
  ds_index_writer_add(w, DS_SEC_IN_EDGE, in_edge, sizeof in_edge, &err);
  ds_index_writer_add(w, DS_SEC_TYPES, types, sizeof types, &err);
  ds_index_writer_add(w, DS_SEC_FIELDS, fields, sizeof fields, &err);
  ds_index_writer_add(w, DS_SEC_SEGMENTS, segs, sizeof segs, &err);
  ds_index_writer_add(w, DS_SEC_ROOTS, roots, sizeof roots, &err);
  ds_index_writer_add(w, DS_SEC_LIVE, live, sizeof live, &err);
  ds_index_writer_add(w, DS_SEC_THREADS, threads, sizeof threads, &err);
  ds_index_writer_add(w, DS_SEC_FRAMES, frames, sizeof frames, &err);
  ds_index_writer_add(w, DS_SEC_WAITS, waits, sizeof waits, &err);
  ds_index_writer_add(w, DS_SEC_LOCKS, locks, sizeof locks, &err);
  ds_index_writer_add(w, DS_SEC_LOCK_VALUES, values, sizeof values, &err);
  ds_index_writer_add(w, DS_SEC_LOCK_WAITERS, waiters, sizeof waiters, &err);
  ds_index_writer_add(w, DS_SEC_DEADLOCKS, deadlocks, sizeof deadlocks, &err);
  ds_index_writer_add(w, DS_SEC_FINDINGS, findings, sizeof findings, &err);
  ds_index_writer_add(w, DS_SEC_EVIDENCE, evidence, sizeof evidence, &err);
  ds_index_writer_add(w, DS_SEC_SETTINGS, settings, sizeof settings, &err);
  ds_index_writer_add(w, DS_SEC_REPORT, &report, sizeof report, &err);
  uint32_t idom[3] = {UINT32_MAX, 0, 1};
  uint64_t retained[3] = {88, 56, 24}, type_retained[2] = {88, 24};
  ds_index_writer_add(w, DS_SEC_IDOM, idom, sizeof idom, &err);
  ds_index_writer_add(w, DS_SEC_RETAINED, retained, sizeof retained, &err);
  ds_index_writer_add(w, DS_SEC_TYPE_RETAINED, type_retained, sizeof type_retained, &err);
  ds_index_suspect suspects[1] = {{.kind = DS_SUSPECT_OBJECT, .ref = 0, .accumulation = 1,
                                   .description = ds_strpool_add(&pool, "One Node retains everything."),
                                   .first_group = 3, .group_count = 1, .retained = 88, .instances = 1}};
  ds_index_writer_add(w, DS_SEC_SUSPECTS, suspects, sizeof suspects, &err);
  ds_index_writer_add(w, DS_SEC_STRINGS, pool.data, pool.len, &err);
  ds_status rc = ds_index_writer_finish(w, &err);
  ds_index_writer_free(w);
  ds_strpool_free(&pool);
  if (rc != DS_OK)
    fprintf(stderr, "%s\n", err.message);
  return rc == DS_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--make-seed") == 0)
    return make_seed(argv[2]);
  return ds_fuzz_replay_main(argc, argv, ds_fuzz_index_one, "index");
}
