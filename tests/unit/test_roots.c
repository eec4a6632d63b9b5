/*
 * test_roots.c: root collection (threads, stack walks, stack roots, GC handles, finalization
 * queue) against the scenario program's own account, on every main fixture (workstation/regions,
 * server GC, segments GC; full and heap dumps): the pinned handles, the marker held only by a
 * local of HoldMarker, the ready and registered finalizable objects, and every scenario thread
 * with its managed id and frames.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dumpscope/analysis.h"
#include "dumpscope/dacstack.h"
#include "dumpscope/rootscan.h"
#include "fixture.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The address of the truth marker called name; fails the test when absent. */
static uint64_t marker_address(json_t *truth, const char *name) {
  size_t i;
  json_t *marker;
  json_array_foreach(json_object_get(truth, "markers"), i, marker) {
    if (strcmp(json_string_value(json_object_get(marker, "name")), name) == 0) {
      uint64_t addr = 0;
      CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(marker, "address")), &addr));
      return addr;
    }
  }
  CU_FAIL_FATAL("marker missing from the truth");
  return 0;
}

static json_t *truth_thread(json_t *truth, const char *name) {
  size_t i;
  json_t *thread;
  json_array_foreach(json_object_get(truth, "threads"), i, thread) {
    if (strcmp(json_string_value(json_object_get(thread, "name")), name) == 0)
      return thread;
  }
  CU_FAIL_FATAL("thread missing from the truth");
  return NULL;
}

static size_t thread_by_os_id(const ds_root_set *set, uint32_t os_id) {
  for (size_t t = 0; t < set->thread_count; t++)
    if (set->threads[t].os_id == os_id)
      return t;
  return SIZE_MAX;
}

static bool has_root(const ds_root_set *set, ds_root_kind kind, uint64_t object) {
  for (size_t i = 0; i < set->root_count; i++)
    if (set->roots[i].kind == kind && set->roots[i].object == object)
      return true;
  return false;
}

static const char *type_of(ds_analysis *a, uint64_t object) {
  uint32_t ti = UINT32_MAX;
  if (ds_heap_object_size(a->heap, object, &ti) == 0 || ti == UINT32_MAX)
    return "";
  const ds_type *t = ds_heap_type(a->heap, ti);
  return t->name ? t->name : "";
}

static bool thread_has_frame(const ds_root_set *set, size_t thread, const char *needle) {
  for (size_t f = 0; f < set->frame_count; f++)
    if (set->frames[f].thread == thread && strstr(set->frames[f].method, needle))
      return true;
  return false;
}

/* Indices, depths and kinds are consistent: what the graph builder will rely on. */
static void check_shape(const ds_root_set *set) {
  for (size_t f = 0; f < set->frame_count; f++) {
    const ds_frame_info *fr = &set->frames[f];
    CU_ASSERT(fr->thread < set->thread_count);
    CU_ASSERT_PTR_NOT_NULL(fr->method);
    if (f > 0 && set->frames[f - 1].thread == fr->thread) {
      CU_ASSERT_EQUAL(fr->depth, set->frames[f - 1].depth + 1);
    } else {
      CU_ASSERT_EQUAL(fr->depth, 0);
    }
  }
  for (size_t i = 0; i < set->root_count; i++) {
    const ds_root *r = &set->roots[i];
    CU_ASSERT(r->kind < DS_ROOT_KIND_COUNT);
    CU_ASSERT_NOT_EQUAL(r->object, 0);
    if (r->kind == DS_ROOT_STACK) {
      CU_ASSERT(r->thread < set->thread_count);
      CU_ASSERT(r->frame < set->frame_count);
      if (r->frame < set->frame_count) {
        CU_ASSERT_EQUAL(set->frames[r->frame].thread, r->thread);
      }
    } else if (r->kind == DS_ROOT_THREAD_STATIC) {
      CU_ASSERT(r->thread < set->thread_count);
      CU_ASSERT_EQUAL(r->frame, UINT32_MAX);
      CU_ASSERT_NOT_EQUAL(r->address, 0);
    } else {
      CU_ASSERT_EQUAL(r->thread, UINT32_MAX);
      CU_ASSERT_EQUAL(r->frame, UINT32_MAX);
    }
  }
}

/* The ds_thread_info of the truth thread called name, NULL (and a failure) when absent. */
static const ds_thread_info *thread_named(json_t *truth, const ds_root_set *set, const char *name) {
  uint32_t os_id = (uint32_t)json_integer_value(json_object_get(truth_thread(truth, name), "os_id"));
  size_t t = thread_by_os_id(set, os_id);
  CU_ASSERT_FATAL(t != SIZE_MAX);
  return &set->threads[t];
}

/* Each monitor the scenario holds is either inflated (a sync block owned by the holder's Thread*)
 * or a thin lock in the object header (.NET 9+ layout: holder's managed id in the low 16 bits),
 * never both and never neither. Blocked threads wait in preemptive mode. */
static void check_locks(ds_fixture *fx, ds_analysis *a, const ds_root_set *set) {
  json_t *truth = fx->truth;
  for (size_t s = 0; s < set->sync_block_count; s++) {
    CU_ASSERT_NOT_EQUAL(set->sync_blocks[s].object, 0);
    CU_ASSERT(set->sync_blocks[s].index >= 1);
  }
  size_t i, held_locks = 0;
  json_t *lock;
  json_array_foreach(json_object_get(truth, "locks"), i, lock) {
    const char *name = json_string_value(json_object_get(lock, "name"));
    const char *held_by = json_string_value(json_object_get(lock, "held_by"));
    if (!held_by)
      continue;
    uint64_t address = 0;
    CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(lock, "address")), &address));
    const ds_thread_info *holder = thread_named(truth, set, held_by);
    const ds_sync_block *inflated = NULL;
    size_t blocks_for_object = 0;
    for (size_t s = 0; s < set->sync_block_count; s++)
      if (set->sync_blocks[s].object == address) {
        blocks_for_object++;
        if (set->sync_blocks[s].owner == holder->address)
          inflated = &set->sync_blocks[s];
      }
    CU_ASSERT(blocks_for_object <= 1);
    uint32_t header = 0;
    CU_ASSERT_FATAL(ds_dump_read_u32(a->dump, address - 4, &header));
    bool thin = (header & (0x08000000u | 0x10000000u)) == 0 && (header & 0xFFFFu) == holder->managed_id;
    if (inflated)
      fprintf(stderr, "%s: lock %s (held by %s): sync block %u, recursion %u, monitor_held %u, waiters %u\n",
              fx->name, name, held_by, inflated->index, inflated->recursion, inflated->monitor_held,
              inflated->waiters);
    else if (thin)
      fprintf(stderr, "%s: lock %s (held by %s): thin lock, header 0x%08x, recursion %u\n", fx->name, name,
              held_by, header, (header & 0x3F0000u) >> 16);
    else
      fprintf(stderr, "%s: lock %s (held by %s): neither a sync block of the holder nor its thin lock "
              "(header 0x%08x, %zu sync block(s) for the object)\n", fx->name, name, held_by, header,
              blocks_for_object);
    CU_ASSERT((inflated != NULL) != thin);
    held_locks++;
  }
  CU_ASSERT(held_locks > 0); /* the loop above checked something */
  static const char *const blocked[] = {"finalizer", "T1", "T2", "T3", "T4"};
  for (size_t b = 0; b < sizeof blocked / sizeof *blocked; b++) {
    const ds_thread_info *t = thread_named(truth, set, blocked[b]);
    CU_ASSERT(!t->cooperative);
  }
  /* .NET 8+ no longer counts locks per thread: the DAC reports (DWORD)-1, which must read as
     unknown; before 8 a real count */
  const char *version = json_string_value(json_object_get(truth, "runtime_version"));
  CU_ASSERT_PTR_NOT_NULL_FATAL(version);
  bool counted = strtol(version, NULL, 10) < 8; /* .NET 8 reports (DWORD)-1 too */
  for (size_t t = 0; t < set->thread_count; t++) {
    uint32_t locks = set->threads[t].lock_count;
    if (counted) {
      CU_ASSERT(locks < 1000);
    } else {
      CU_ASSERT_EQUAL(locks, DS_THREAD_LOCK_COUNT_UNKNOWN);
    }
    CU_ASSERT(set->threads[t].alloc_ptr <= set->threads[t].alloc_limit);
  }
}

static void check_fixture(ds_fixture *fx) {
  ds_error err = {0};
  ds_analysis *a = NULL;
  ds_status rc = ds_analysis_open(fx->dump, &(ds_dac_search){.offline = true}, &a, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", fx->name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  json_t *truth = fx->truth;
  ds_root_set set;
  double t0 = now_ms();
  rc = ds_roots_collect(a, &set, &err);
  double took = now_ms() - t0;
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", fx->name, err.message);
  CU_ASSERT_EQUAL_FATAL(rc, DS_OK);
  fprintf(stderr, "%s: %zu roots, %zu threads, %zu frames, %zu finalizable in %.1f ms\n", fx->name,
          set.root_count, set.thread_count, set.frame_count, set.finalizable_count, took);
  if (set.warnings[0])
    fprintf(stderr, "%s: warnings: %s\n", fx->name, set.warnings);
  CU_ASSERT_STRING_EQUAL(set.warnings, ""); /* healthy dumps: nothing partial */
  check_shape(&set);

  /* pinned handles: the pinned array and the 64 fragmentation arrays */
  CU_ASSERT(has_root(&set, DS_ROOT_HANDLE_PINNED, marker_address(truth, "pinned.array")));
  json_t *frag = json_object_get(json_object_get(json_object_get(truth, "scenario_data"), "fragmentation"), "pinned");
  CU_ASSERT_EQUAL(json_array_size(frag), 64);
  size_t i;
  json_t *cell;
  json_array_foreach(frag, i, cell) {
    uint64_t addr = 0;
    CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(cell, "address")), &addr));
    CU_ASSERT(has_root(&set, DS_ROOT_HANDLE_PINNED, addr));
  }
  for (size_t r = 0; r < set.root_count; r++) {
    if (set.roots[r].kind == DS_ROOT_HANDLE_PINNED) {
      CU_ASSERT(set.roots[r].pinned);
    }
  }

  /* the marker is held only by a local of HoldMarker on the marker-holder thread */
  uint64_t marker = marker_address(truth, "marker.local");
  uint32_t holder_os = (uint32_t)json_integer_value(json_object_get(truth_thread(truth, "marker-holder"), "os_id"));
  size_t holder = thread_by_os_id(&set, holder_os);
  CU_ASSERT_FATAL(holder != SIZE_MAX);
  size_t marker_roots = 0, marker_stack_roots = 0;
  for (size_t r = 0; r < set.root_count; r++) {
    const ds_root *root = &set.roots[r];
    if (root->object != marker)
      continue;
    marker_roots++;
    if (root->kind == DS_ROOT_STACK && root->thread == holder && root->frame < set.frame_count &&
        strstr(set.frames[root->frame].method, "HoldMarker")) {
      marker_stack_roots++;
      CU_ASSERT(!root->interior);
    }
  }
  CU_ASSERT(marker_stack_roots >= 1);
  CU_ASSERT_EQUAL(marker_roots, marker_stack_roots);

  /* the thread-static marker: a [ThreadStatic] field of the marker-holder thread */
  uint64_t ts_marker = marker_address(truth, "threadstatic.marker");
  json_t *leak = json_object_get(json_object_get(truth, "scenario_data"), "leak");
  uint32_t ts_os = (uint32_t)json_integer_value(json_object_get(leak, "threadstatic_thread_os_id"));
  size_t ts_thread = thread_by_os_id(&set, ts_os);
  CU_ASSERT_FATAL(ts_thread != SIZE_MAX);
  size_t ts_roots = 0;
  for (size_t r = 0; r < set.root_count; r++) {
    const ds_root *root = &set.roots[r];
    if (root->kind == DS_ROOT_THREAD_STATIC && root->object == ts_marker) {
      ts_roots++;
      CU_ASSERT_EQUAL(root->thread, ts_thread);
    }
  }
  if (ts_roots != 1)
    fprintf(stderr, "%s: %zu thread-static roots for threadstatic.marker\n", fx->name, ts_roots);
  CU_ASSERT_EQUAL(ts_roots, 1);

  /* finalization queue */
  json_t *fin = json_object_get(truth, "finalizer");
  const char *ready_type = json_string_value(json_object_get(fin, "ready_type"));
  const char *undisposed_type = json_string_value(json_object_get(fin, "type"));
  uint64_t blocking = marker_address(truth, "finalizer.blocking_object");
  size_t ready = 0, undisposed = 0, ready_undisposed = 0;
  for (size_t r = 0; r < set.root_count; r++) {
    const ds_root *root = &set.roots[r];
    if (root->kind != DS_ROOT_FINALIZER_READY)
      continue;
    CU_ASSERT_NOT_EQUAL(root->address, 0);
    CU_ASSERT_NOT_EQUAL(root->object, blocking); /* dequeued: its finalizer is running */
    const char *type = type_of(a, root->object);
    ready += strcmp(type, ready_type) == 0;
    ready_undisposed += strcmp(type, undisposed_type) == 0;
  }
  size_t finalizable_ready = 0;
  for (size_t f = 0; f < set.finalizable_count; f++) {
    CU_ASSERT_NOT_EQUAL(set.finalizable[f], blocking);
    const char *type = type_of(a, set.finalizable[f]);
    undisposed += strcmp(type, undisposed_type) == 0;
    finalizable_ready += strcmp(type, ready_type) == 0;
  }
  CU_ASSERT_EQUAL((json_int_t)ready, json_integer_value(json_object_get(fin, "ready_for_finalization")));
  CU_ASSERT_EQUAL((json_int_t)undisposed, json_integer_value(json_object_get(fin, "undisposed")));
  CU_ASSERT_EQUAL(ready_undisposed, 0);
  CU_ASSERT_EQUAL(finalizable_ready, 0);

  /* the finalizer thread keeps the blocking object alive from its Finalize frame */
  uint32_t fin_os = (uint32_t)json_integer_value(json_object_get(fin, "blocked_finalizer_thread_os_id"));
  size_t fin_thread = thread_by_os_id(&set, fin_os);
  CU_ASSERT_FATAL(fin_thread != SIZE_MAX);
  CU_ASSERT(set.threads[fin_thread].finalizer);
  bool blocking_on_stack = false;
  for (size_t r = 0; r < set.root_count; r++) {
    const ds_root *root = &set.roots[r];
    if (root->kind == DS_ROOT_STACK && root->object == blocking && root->thread == fin_thread &&
        strstr(set.frames[root->frame].method, "BlockingFinalizable.Finalize"))
      blocking_on_stack = true;
  }
  CU_ASSERT(blocking_on_stack);

  /* every scenario thread, by OS id, with its managed id and where it is blocked */
  json_t *thread;
  size_t finalizer_flags = 0;
  for (size_t t = 0; t < set.thread_count; t++)
    finalizer_flags += set.threads[t].finalizer;
  CU_ASSERT_EQUAL(finalizer_flags, 1);
  json_array_foreach(json_object_get(truth, "threads"), i, thread) {
    const char *name = json_string_value(json_object_get(thread, "name"));
    uint32_t os_id = (uint32_t)json_integer_value(json_object_get(thread, "os_id"));
    size_t t = thread_by_os_id(&set, os_id);
    if (t == SIZE_MAX) {
      fprintf(stderr, "%s: thread %s (os id %u) not found\n", fx->name, name, os_id);
      CU_FAIL("truth thread not found");
      continue;
    }
    const ds_thread_info *info = &set.threads[t];
    CU_ASSERT_EQUAL((json_int_t)info->managed_id, json_integer_value(json_object_get(thread, "managed_id")));
    CU_ASSERT(info->alive);
    CU_ASSERT_EQUAL(info->finalizer, strcmp(name, "finalizer") == 0);
    char blocked_in[512];
    snprintf(blocked_in, sizeof blocked_in, "%s(", json_string_value(json_object_get(thread, "blocked_in")));
    if (!thread_has_frame(&set, t, blocked_in))
      fprintf(stderr, "%s: thread %s has no frame in %s\n", fx->name, name, blocked_in);
    CU_ASSERT(thread_has_frame(&set, t, blocked_in));
    if (strcmp(name, "T1") == 0) {
      CU_ASSERT(thread_has_frame(&set, t, "Monitor") || thread_has_frame(&set, t, "Enter"));
      CU_ASSERT(thread_has_frame(&set, t, "T1LockAThenB"));
    }
  }
  check_locks(fx, a, &set);
  ds_root_set_free(&set);
  CU_ASSERT_EQUAL(set.root_count, 0);
  CU_ASSERT_PTR_NULL(set.roots);
  ds_analysis_close(a);
}

static void test_roots_match_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  for (size_t i = 0; i < n; i++)
    check_fixture(&fx[i]);
}

/* Which kinds keep objects alive follows ClrMD; every kind has a name. */
static void test_kinds(void) {
  for (int k = 0; k < DS_ROOT_KIND_COUNT; k++)
    CU_ASSERT_STRING_NOT_EQUAL(ds_root_kind_name((ds_root_kind)k), "unknown");
  CU_ASSERT_STRING_EQUAL(ds_root_kind_name(DS_ROOT_KIND_COUNT), "unknown");
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_HANDLE_STRONG, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_HANDLE_PINNED, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_HANDLE_ASYNC_PINNED, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_HANDLE_SIZEDREF, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_STACK, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_FINALIZER_READY, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_THREAD_STATIC, 0));
  CU_ASSERT(ds_root_kind_is_root(DS_ROOT_HANDLE_REFCOUNTED, 1));
  CU_ASSERT(!ds_root_kind_is_root(DS_ROOT_HANDLE_REFCOUNTED, 0));
  CU_ASSERT(!ds_root_kind_is_root(DS_ROOT_HANDLE_WEAK_SHORT, 5));
  CU_ASSERT(!ds_root_kind_is_root(DS_ROOT_HANDLE_WEAK_LONG, 5));
  CU_ASSERT(!ds_root_kind_is_root(DS_ROOT_HANDLE_DEPENDENT, 5));
  CU_ASSERT(!ds_root_kind_is_root(DS_ROOT_HANDLE_OTHER, 5));
  ds_root_set empty;
  memset(&empty, 0, sizeof empty);
  ds_root_set_free(&empty);
  ds_root_set_free(NULL);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("roots", NULL, NULL);
  CU_add_test(s, "root kinds: names and which keep objects alive", test_kinds);
  CU_add_test(s, "roots, threads and frames match the scenario truth on every main fixture",
              test_roots_match_truth);
  return ds_test_main();
}
