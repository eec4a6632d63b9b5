/*
 * test_locks.c: threads, locks, waits and deadlocks against the scenario truth, on every fixture
 * (the main process: a monitor 2-cycle and contention; the locks process: monitor 2- and 3-cycles,
 * a System.Threading.Lock cycle, a ReaderWriterLockSlim writer vs a monitor, contention, a
 * semaphore, an event, a barrier, a countdown event, a Thread.Join and a starved thread pool).
 * Every cycle is found with exactly its members, and nothing else is called a deadlock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "clirun.h"

static json_t *lock_named(json_t *truth, const char *name) {
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(truth, "locks"), i, l)
    if (strcmp(json_string_value(json_object_get(l, "name")), name) == 0)
      return l;
  return NULL;
}

static int compare_int(const void *a, const void *b) {
  json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorted os ids of a JSON array of thread refs (or of thread names via the truth). */
static size_t ids_of(json_t *arr, json_t *truth, json_int_t *out, size_t cap) {
  size_t n = 0, i;
  json_t *x;
  json_array_foreach(arr, i, x) {
    if (n == cap)
      break;
    out[n++] = json_is_string(x) ? thread_os_id(truth, json_string_value(x)) : json_integer_value(json_object_get(x, "os_id"));
  }
  qsort(out, n, sizeof *out, compare_int);
  return n;
}

/* A barrier or countdown event against scenario_data.barrier / .countdown: its kind, its counts,
 * no holder, and exactly its waiters. */
static void check_counted_lock(json_t *truth, json_t *lock, json_t *entry) {
  bool barrier = strcmp(json_string_value(json_object_get(lock, "kind")), "barrier") == 0;
  json_t *data = json_object_get(json_object_get(truth, "scenario_data"), barrier ? "barrier" : "countdown");
  CU_ASSERT_PTR_NOT_NULL_FATAL(data);
  static const char *const barrier_counts[] = {"participants", "participants_remaining", "phase", NULL};
  static const char *const countdown_counts[] = {"initial_count", "current_count", NULL};
  for (const char *const *c = barrier ? barrier_counts : countdown_counts; *c; c++) {
    json_t *got = json_object_get(entry, *c);
    CU_ASSERT(json_is_integer(got));
    CU_ASSERT_EQUAL(json_integer_value(got), json_integer_value(json_object_get(data, *c)));
  }
  if (!barrier)
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(entry, "waiter_count")),
                    (json_int_t)json_array_size(json_object_get(lock, "waiters")));
  json_int_t w_ids[64], f_ids[64];
  size_t wn = ids_of(json_object_get(lock, "waiters"), truth, w_ids, 64);
  size_t fn = ids_of(json_object_get(entry, "waiters"), truth, f_ids, 64);
  CU_ASSERT(wn == fn && memcmp(w_ids, f_ids, wn * sizeof *w_ids) == 0);
  CU_ASSERT_PTR_NULL(json_object_get(entry, "held_by")); /* nothing owns either */
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(entry, "kind")), barrier ? "barrier" : "countdown event");
}

/* The monitor held 3 times by the thread with managed id >= 1024 (scenario_data.high_id_lock):
 * the kind the runtime chose (the header word says: a thin lock unless the sync block bit is
 * set), the owner by managed and OS id, and a thin lock's recursion level (acquisitions - 1). */
static void check_high_id_lock(json_t *truth, json_t *locks_doc) {
  json_t *data = json_object_get(json_object_get(truth, "scenario_data"), "high_id_lock");
  CU_ASSERT_PTR_NOT_NULL_FATAL(data);
  json_int_t owner_id = json_integer_value(json_object_get(data, "owner_managed_id"));
  json_int_t acquisitions = json_integer_value(json_object_get(data, "acquisitions"));
  uint32_t header = (uint32_t)json_integer_value(json_object_get(data, "header"));
  CU_ASSERT(owner_id > 1023); /* beyond the 10 id bits of .NET 6/7 */
  CU_ASSERT(acquisitions > 1);
  bool thin = !(header & 0x08000000u);
  const char *addr = json_string_value(json_object_get(data, "address"));
  json_t *entry = NULL, *m;
  size_t k;
  json_array_foreach(json_object_get(locks_doc, "monitors"), k, m)
    if (strcmp(json_string_value(json_object_get(json_object_get(m, "object"), "address")), addr) == 0)
      entry = m;
  CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(entry, "kind")), thin ? "thin lock" : "sync block");
  json_t *held = json_object_get(entry, "held_by");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(held, "managed_id")), owner_id);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(held, "os_id")),
                  thread_os_id(truth, json_string_value(json_object_get(data, "owner"))));
  if (thin)
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(entry, "recursion")), acquisitions - 1);
}

static void check_fixture(ds_fixture *fx) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.locks.dsindex", ds_test_tmpdir(), fx->name);
  ds_query *q = ds_test_index_open(fx->name, fx->dump, NULL, path);
  ds_error err = {0};
  json_t *truth = fx->truth, *doc = NULL;

  /* deadlocks: exactly the truth's cycles (main and locks both have some: never a vacuous loop) */
  CU_ASSERT_EQUAL_FATAL(ds_query_deadlocks(q, &doc, &err), DS_OK);
  if (strcmp(fx->process, "main") == 0 || strcmp(fx->process, "locks") == 0)
    CU_ASSERT(json_array_size(json_object_get(truth, "deadlocks")) > 0);
  json_t *found = json_object_get(doc, "deadlocks"), *expected = json_object_get(truth, "deadlocks");
  if (json_array_size(found) != json_array_size(expected))
    fprintf(stderr, "%s: %zu deadlocks found, truth has %zu\n", fx->name, json_array_size(found),
            json_array_size(expected));
  CU_ASSERT_EQUAL(json_array_size(found), json_array_size(expected));
  size_t i, k;
  json_t *cycle, *want;
  json_array_foreach(expected, i, want) {
    json_int_t w_ids[64], f_ids[64];
    size_t wn = ids_of(want, truth, w_ids, 64);
    bool matched = false;
    json_array_foreach(found, k, cycle) {
      json_t *members = json_object_get(cycle, "threads");
      size_t fn = ids_of(members, truth, f_ids, 64);
      if (fn == wn && memcmp(f_ids, w_ids, wn * sizeof *w_ids) == 0) {
        matched = true;
        /* each member holds what the truth says it holds */
        size_t m;
        json_t *member;
        json_array_foreach(members, m, member) {
          size_t l;
          json_t *lock;
          json_array_foreach(json_object_get(truth, "locks"), l, lock) {
            const char *holder = json_string_value(json_object_get(lock, "held_by"));
            if (!holder || thread_os_id(truth, holder) != json_integer_value(json_object_get(member, "os_id")))
              continue;
            if (json_array_size(json_object_get(lock, "waiters")) == 0)
              continue; /* (T4's lock D: held, nobody waits) */
            bool holds = false;
            size_t h;
            json_t *held;
            json_array_foreach(json_object_get(member, "holds"), h, held)
              holds |= strcmp(json_string_value(json_object_get(held, "address")),
                              json_string_value(json_object_get(lock, "address"))) == 0;
            if (!holds)
              fprintf(stderr, "%s: %s does not show holding %s\n", fx->name, holder,
                      json_string_value(json_object_get(lock, "name")));
            CU_ASSERT(holds);
          }
        }
      }
    }
    if (!matched)
      fprintf(stderr, "%s: cycle %zu of the truth not found\n", fx->name, i);
    CU_ASSERT(matched);
  }
  /* contention that is not a deadlock */
  json_t *cont;
  json_array_foreach(json_object_get(truth, "contention"), i, want) {
    json_t *lock = lock_named(truth, json_string_value(json_object_get(want, "lock")));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lock);
    bool matched = false;
    json_array_foreach(json_object_get(doc, "contention"), k, cont) {
      if (strcmp(json_string_value(json_object_get(json_object_get(cont, "object"), "address")),
                 json_string_value(json_object_get(lock, "address"))) != 0)
        continue;
      json_int_t w_ids[64], f_ids[64];
      size_t wn = ids_of(json_object_get(want, "waiters"), truth, w_ids, 64);
      size_t fn = ids_of(json_object_get(cont, "waiters"), truth, f_ids, 64);
      matched = wn == fn && memcmp(w_ids, f_ids, wn * sizeof *w_ids) == 0 &&
                json_integer_value(json_object_get(json_object_get(cont, "held_by"), "os_id")) ==
                    thread_os_id(truth, json_string_value(json_object_get(want, "held_by")));
    }
    CU_ASSERT(matched);
  }
  /* and nothing else: a thread joining another waits for it, it does not contend for a lock */
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "contention")), json_array_size(json_object_get(truth, "contention")));
  json_decref(doc);

  /* waits: every waiter of every truth lock waits on that object, held by the holder */
  CU_ASSERT_EQUAL_FATAL(ds_query_waits(q, &doc, &err), DS_OK);
  json_t *lock;
  json_array_foreach(json_object_get(truth, "locks"), i, lock) {
    json_t *waiter;
    json_array_foreach(json_object_get(lock, "waiters"), k, waiter) {
      json_int_t os = thread_os_id(truth, json_string_value(waiter));
      bool ok = false;
      size_t m;
      json_t *w;
      json_array_foreach(json_object_get(doc, "waits"), m, w) {
        if (json_integer_value(json_object_get(w, "os_id")) != os)
          continue;
        json_t *on = json_object_get(w, "waiting_on");
        ok = strcmp(json_string_value(json_object_get(json_object_get(on, "object"), "address")),
                    json_string_value(json_object_get(lock, "address"))) == 0;
        const char *holder = json_string_value(json_object_get(lock, "held_by"));
        if (ok && holder)
          ok = json_integer_value(json_object_get(json_object_get(on, "held_by"), "os_id")) == thread_os_id(truth, holder);
        /* the kinds added as table rows are named for what the thread called */
        const char *lock_kind = json_string_value(json_object_get(lock, "kind"));
        const char *wait_kind = strcmp(lock_kind, "barrier") == 0     ? "barrier"
                                : strcmp(lock_kind, "countdown") == 0 ? "countdown event"
                                : strcmp(lock_kind, "join") == 0      ? "thread join"
                                                                      : NULL;
        if (ok && wait_kind)
          ok = strcmp(json_string_value(json_object_get(on, "kind")), wait_kind) == 0;
      }
      if (!ok)
        fprintf(stderr, "%s: %s's wait on %s not found\n", fx->name, json_string_value(waiter),
                json_string_value(json_object_get(lock, "name")));
      CU_ASSERT(ok);
    }
  }
  json_decref(doc);

  /* lock objects read from their fields: Lock owners, the RWLS writer and its waiting reader, the
     semaphore's count and waiter, the event's state and waiter, the barrier's participants and
     phase, the countdown event's counts */
  CU_ASSERT_EQUAL_FATAL(ds_query_locks(q, &doc, &err), DS_OK);
  if (strcmp(fx->process, "main") == 0 || strcmp(fx->process, "locks") == 0)
    CU_ASSERT(json_array_size(json_object_get(truth, "locks")) > 0); /* the loop below checks something */
  CU_ASSERT(json_array_size(json_object_get(truth, "threads")) > 0);
  if (strcmp(fx->process, "locks") == 0)
    check_high_id_lock(truth, doc);
  json_array_foreach(json_object_get(truth, "locks"), i, lock) {
    const char *kind = json_string_value(json_object_get(lock, "kind"));
    const char *addr = json_string_value(json_object_get(lock, "address"));
    const char *holder = json_string_value(json_object_get(lock, "held_by"));
    json_t *list = json_object_get(doc, strcmp(kind, "monitor") == 0 ? "monitors" : "other_locks"), *entry = NULL, *l;
    json_array_foreach(list, k, l)
      if (strcmp(json_string_value(json_object_get(json_object_get(l, "object"), "address")), addr) == 0)
        entry = l;
    if (!holder && json_array_size(json_object_get(lock, "waiters")) == 0)
      continue;
    CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
    json_t *owner = json_object_get(entry, strcmp(kind, "rwlock") == 0 ? "writer" : "held_by");
    if (holder)
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(owner, "os_id")), thread_os_id(truth, holder));
    if (strcmp(kind, "rwlock") == 0)
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(entry, "waiting_readers")),
                      (json_int_t)json_array_size(json_object_get(lock, "waiters")));
    if (strcmp(kind, "semaphore") == 0)
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(entry, "wait_count")),
                      (json_int_t)json_array_size(json_object_get(lock, "waiters")));
    if (strcmp(kind, "event") == 0) {
      CU_ASSERT(json_is_false(json_object_get(entry, "set")));
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(entry, "waiter_count")),
                      (json_int_t)json_array_size(json_object_get(lock, "waiters")));
    }
    if (strcmp(kind, "barrier") == 0 || strcmp(kind, "countdown") == 0)
      check_counted_lock(truth, lock, entry);
    if (strcmp(kind, "join") == 0) { /* the joined thread's Thread object, its joiners as waiters */
      CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(entry, "kind")), "thread join");
      json_t *joiners = json_object_get(entry, "waiters"), *named = json_object_get(lock, "waiters");
      CU_ASSERT_EQUAL_FATAL(json_array_size(joiners), json_array_size(named));
      for (size_t w = 0; w < json_array_size(named); w++)
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(joiners, w), "os_id")),
                        thread_os_id(truth, json_string_value(json_array_get(named, w))));
    }
  }
  json_decref(doc);

  /* threads: every truth thread with its managed id */
  CU_ASSERT_EQUAL_FATAL(ds_query_threads(q, &doc, &err), DS_OK);
  json_t *tt;
  json_array_foreach(json_object_get(truth, "threads"), i, tt) {
    bool ok = false;
    json_t *t;
    json_array_foreach(json_object_get(doc, "threads"), k, t)
      if (json_integer_value(json_object_get(t, "os_id")) == json_integer_value(json_object_get(tt, "os_id")))
        ok = json_integer_value(json_object_get(t, "managed_id")) == json_integer_value(json_object_get(tt, "managed_id"));
    CU_ASSERT(ok);
  }
  /* the exception in flight on the thread the truth names */
  json_t *exc_truth = json_object_get(json_object_get(truth, "scenario_data"), "exception");
  if (exc_truth) {
    json_int_t os = thread_os_id(truth, json_string_value(json_object_get(exc_truth, "thread")));
    bool ok = false;
    json_t *t;
    json_array_foreach(json_object_get(doc, "threads"), k, t) {
      if (json_integer_value(json_object_get(t, "os_id")) != os)
        continue;
      json_t *exc = json_object_get(t, "exception");
      ok = json_is_object(exc) &&
           strcmp(json_string_value(json_object_get(exc, "type")), json_string_value(json_object_get(exc_truth, "type"))) == 0 &&
           json_string_value(json_object_get(exc, "message")) &&
           strcmp(json_string_value(json_object_get(exc, "message")),
                  json_string_value(json_object_get(exc_truth, "message"))) == 0;
    }
    CU_ASSERT(ok);
  } else {
    CU_ASSERT(strcmp(fx->process, "locks") != 0); /* the locks process always reports one */
  }
  json_decref(doc);

  /* findings */
  CU_ASSERT_EQUAL_FATAL(ds_query_findings(q, &doc, &err), DS_OK);
  bool starvation = false, finalizer = false, contention = false;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f) {
    const char *title = json_string_value(json_object_get(f, "title"));
    starvation |= strcmp(title, "Thread pool starvation") == 0;
    finalizer |= strcmp(title, "Blocked finalizer thread") == 0;
    contention |= strcmp(title, "Lock contention") == 0;
  }
  if (strcmp(fx->process, "locks") == 0) {
    CU_ASSERT(starvation);
    CU_ASSERT(contention);
  } else {
    CU_ASSERT_EQUAL(finalizer, json_object_get(truth, "finalizer") != NULL); /* main blocks its finalizer */
  }
  json_decref(doc);
  ds_query_close(q);
  unlink(path);
}

static void test_locks_match_truth(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  size_t locks = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(fx[i].process, "big") == 0)
      continue;
    locks += strcmp(fx[i].process, "locks") == 0;
    check_fixture(&fx[i]);
  }
  CU_ASSERT(locks >= 2); /* the locks process, full and heap dump */
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("locks", NULL, NULL);
  CU_add_test(s, "deadlocks, contention, waits, threads and findings match the truth", test_locks_match_truth);
  return ds_test_main();
}
