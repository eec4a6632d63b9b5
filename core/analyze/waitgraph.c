/*
 * waitgraph.c: the wait-for graph of the lock phase (locks.c found every thread's wait): cycles
 * (deadlocks), contention that is not a deadlock, and the findings a reader should look at first
 * (deadlocks, a blocked finalizer thread, thread pool starvation, many threads on one lock), with
 * their text. Written as index sections; the queries render them as they are.
 *
 * Each waiting thread waits for at most one holder, so the graph is a functional graph: following
 * the chain from every thread finds every cycle once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"
#include "dumpscope/roots.h"
#include "dumpscope/threadroles.h"

#include "analyzeint.h"

/* The role of thread t, from the role table (threadroles.h) over its frames. */
typedef struct build_frames {
  const ds__build *b;
  const ds_index_thread *thread;
} build_frames;

static const char *frame_method(const void *ctx, uint32_t k) {
  const build_frames *bf = ctx;
  size_t fi = (size_t)bf->thread->first_frame + k;
  return k < bf->thread->frame_count && fi < bf->b->roots->frame_count ? bf->b->roots->frames[fi].method : NULL;
}

static const ds_thread_role *role_of(const ds__build *b, size_t t) {
  const ds_index_thread *th = &b->ithreads[t];
  build_frames bf = {b, th};
  return ds_thread_role_of(th->state, th->alive, th->finalizer, th->frame_count, frame_method, &bf);
}

static ds_status push_waiter(ds__build *b, uint32_t thread, uint32_t object, ds_error *err) {
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->waiters, ((ds_index_waiter){thread, 0, object, 0}), DS_MAX_OBJECTS, rc);
  return rc == DS_OK ? DS_OK : ds__vec_error(err, rc, "waiting threads", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
}

static ds_status push_deadlock(ds__build *b, ds_index_deadlock d, ds_error *err) {
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->deadlocks, d, DS_MAX_THREADS, rc);
  return rc == DS_OK ? DS_OK : ds__vec_error(err, rc, "deadlocks", DS_MAX_THREADS, "DS_MAX_THREADS");
}

/* One cycle, closed by path[from .. len): its members in order, each with the object it holds that
 * the previous member waits for. */
static ds_status add_cycle(ds__build *b, const uint32_t *path, size_t from, size_t len, ds_error *err) {
  ds_index_deadlock d = {.type = DS_DEADLOCK_CYCLE, .object = UINT32_MAX, .holder = UINT32_MAX,
                         .first_waiter = (uint32_t)b->waiters.count, .waiter_count = (uint32_t)(len - from)};
  for (size_t k = from; k < len; k++) {
    uint32_t member = path[k], prev = path[k > from ? k - 1 : len - 1];
    b->in_cycle[member] = 1;
    uint32_t holds = b->waits[prev].object < b->n ? b->waits[prev].object : UINT32_MAX;
    ds_status rc = push_waiter(b, member, holds, err);
    if (rc != DS_OK)
      return rc;
  }
  return push_deadlock(b, d, err);
}

/* Follows the chain of holders from every thread; meeting the current chain again closes a cycle. */
static ds_status find_cycles(ds__build *b, ds_error *err) {
  size_t threads = b->roots->thread_count;
  uint8_t *state = calloc(threads + 1, 1); /* 0 new, 1 on the current path, 2 done */
  uint32_t *path = calloc(threads + 1, sizeof *path);
  ds_status rc = DS_OK;
  if (!state || !path) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the wait graph of %zu threads", threads);
    goto out;
  }
  for (size_t start = 0; start < threads && rc == DS_OK; start++) {
    if (state[start])
      continue;
    size_t len = 0;
    uint32_t t = (uint32_t)start;
    while (t < threads && state[t] == 0) {
      state[t] = 1;
      path[len++] = t;
      t = b->waits[t].holder;
    }
    if (t < threads && state[t] == 1) {
      size_t from = 0;
      while (path[from] != t)
        from++;
      rc = add_cycle(b, path, from, len, err);
    }
    for (size_t k = 0; k < len; k++)
      state[path[k]] = 2;
  }
out:
  free(state);
  free(path);
  return rc;
}

/* Contention: a held object with waiters, outside every cycle; once per object, in the order of
 * its first waiter. */
static ds_status find_contention(ds__build *b, ds_error *err) {
  size_t threads = b->roots->thread_count;
  const ds__wait *w = b->waits;
  for (size_t t = 0; t < threads; t++) {
    /* a thread joining another waits for it to finish, it does not contend for a lock */
    if (w[t].holder == UINT32_MAX || b->in_cycle[t] || w[t].object >= b->n || !(w[t].flags & DS__LK_CONTENTION))
      continue;
    bool first = true;
    for (size_t u = 0; u < t && first; u++)
      if (w[u].object == w[t].object && w[u].holder != UINT32_MAX && !b->in_cycle[u])
        first = false;
    if (!first)
      continue;
    ds_index_deadlock d = {.type = DS_DEADLOCK_CONTENTION, .object = w[t].object, .kind = ds__intern(b, w[t].name),
                           .holder = w[t].holder, .first_waiter = (uint32_t)b->waiters.count};
    for (size_t u = 0; u < threads; u++) {
      if (w[u].object != w[t].object || b->in_cycle[u])
        continue;
      ds_status rc = push_waiter(b, (uint32_t)u, UINT32_MAX, err);
      if (rc != DS_OK)
        return rc;
      d.waiter_count++;
    }
    ds_status rc = push_deadlock(b, d, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

/* ---- findings (their thresholds: the settings table, findings.h) ------------------------------ */

/* Pushes the threads of a run of b->waiters as the evidence of a finding. */
static ds_status push_thread_evidence(ds__build *b, uint32_t first, uint32_t count, ds_error *err) {
  ds_status rc = DS_OK;
  for (uint32_t k = first; k < first + count && k < b->waiters.count && rc == DS_OK; k++)
    rc = ds__push_evidence(b, DS_EVIDENCE_THREAD, b->waiters.items[k].thread, 0, 0, 0, err);
  return rc;
}

static ds_status deadlock_findings(ds__build *b, ds_error *err) {
  char text[512];
  for (size_t d = 0; d < b->deadlocks.count; d++) {
    if (b->deadlocks.items[d].type != DS_DEADLOCK_CYCLE)
      continue;
    snprintf(text, sizeof text, "%zu threads wait for each other in a cycle and can never proceed.",
             (size_t)b->deadlocks.items[d].waiter_count);
    ds_index_finding f = ds__no_details();
    f.details = DS_FINDING_CYCLE;
    f.ref = (uint32_t)d;
    size_t mark = b->evidence.count;
    ds__finding_text t = {DS_SEVERITY_ERROR, "deadlock", "Deadlock", text,
                          "Acquire these locks in one global order everywhere, or use timeouts (Monitor.TryEnter, "
                          "Lock.TryEnter) and back off.",
                          -1};
    ds_status rc = push_thread_evidence(b, b->deadlocks.items[d].first_waiter, b->deadlocks.items[d].waiter_count, err);
    if (rc == DS_OK)
      rc = ds__add_finding(b, &t, f, mark, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

static ds_status finalizer_findings(ds__build *b, ds_error *err) {
  char text[512];
  uint64_t ready = 0;
  for (size_t r = 0; r < b->roots->root_count; r++)
    ready += b->iroots[r].kind == DS_ROOT_FINALIZER_READY;
  for (size_t t = 0; t < b->roots->thread_count; t++) {
    if (!b->ithreads[t].finalizer || !b->waits[t].kind)
      continue;
    snprintf(text, sizeof text,
             "The finalizer thread is blocked (%s) while %llu objects are ready for finalization; they and "
             "everything they reference stay in memory until it runs again.",
             b->waits[t].name, (unsigned long long)ready);
    ds_index_finding f = ds__no_details();
    f.details = DS_FINDING_THREAD;
    f.ref = (uint32_t)t;
    size_t mark = b->evidence.count;
    ds__finding_text ft = {DS_SEVERITY_ERROR, "blocked-finalizer", "Blocked finalizer thread", text,
                           "Finalizers must not block or wait: dispose objects explicitly (using/Dispose) and keep "
                           "finalizers short; fix the finalizer shown in the stack.",
                           -1};
    ds_status rc = ds__push_evidence(b, DS_EVIDENCE_THREAD, (uint32_t)t, 0, 0, 0, err);
    if (rc == DS_OK && b->waits[t].object < b->n)
      rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, b->waits[t].object, 0, 1, ds__object_size(b, b->waits[t].object), err);
    if (rc == DS_OK)
      rc = ds__add_finding(b, &ft, f, mark, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

/* Blocked thread pool workers: the runtime's own pool threads (gate, wait threads) wait by design
 * and are not counted; a few blocked workers of many are not starvation (the thresholds). */
static ds_status thread_pool_findings(ds__build *b, ds_error *err) {
  uint64_t pool = 0, blocked = 0, on_tasks = 0;
  ds_index_finding f = ds__no_details();
  f.details = DS_FINDING_THREADS;
  f.first_waiter = (uint32_t)b->waiters.count;
  for (size_t t = 0; t < b->roots->thread_count; t++) {
    if (!b->ithreads[t].alive || !role_of(b, t)->pool_worker)
      continue;
    pool++;
    if (b->waits[t].flags & DS__LK_POOL_BLOCKING) {
      blocked++;
      on_tasks += (b->waits[t].flags & DS__LK_TASK) != 0;
      ds_status rc = push_waiter(b, (uint32_t)t, UINT32_MAX, err);
      if (rc != DS_OK)
        return rc;
    }
  }
  bool starved = blocked == pool;
  if (!blocked || (double)blocked < ds__setting(b, DS_SET_BLOCKED_POOL_THREADS) ||
      (!starved && (double)blocked * 100.0 < ds__setting(b, DS_SET_BLOCKED_POOL_PERCENT) * (double)pool)) {
    b->waiters.count = f.first_waiter; /* nothing to report: drop the list */
    return DS_OK;
  }
  f.waiter_count = (uint32_t)blocked;
  char text[512];
  snprintf(text, sizeof text,
           "%llu of %llu thread pool workers are blocked (%llu waiting synchronously on tasks: "
           "sync-over-async). New work waits for the pool to inject threads, which it does slowly.",
           (unsigned long long)blocked, (unsigned long long)pool, (unsigned long long)on_tasks);
  size_t mark = b->evidence.count;
  ds__finding_text t = {starved ? DS_SEVERITY_ERROR : DS_SEVERITY_WARNING,
                        starved ? "thread-pool-starvation" : "blocked-thread-pool",
                        starved ? "Thread pool starvation" : "Blocked thread pool threads", text,
                        "Use await instead of .Result, .Wait() and GetAwaiter().GetResult() on thread pool threads; "
                        "as a stopgap, raise ThreadPool.SetMinThreads.",
                        starved ? DS_SET_BLOCKED_POOL_THREADS : DS_SET_BLOCKED_POOL_PERCENT};
  ds_status rc = push_thread_evidence(b, f.first_waiter, f.waiter_count, err);
  return rc != DS_OK ? rc : ds__add_finding(b, &t, f, mark, err);
}

/* Many threads waiting on one lock (once per object, at its first waiter). */
static ds_status contention_findings(ds__build *b, ds_error *err) {
  const ds__wait *w = b->waits;
  size_t threads = b->roots->thread_count;
  char text[512];
  for (size_t t = 0; t < threads; t++) {
    if (w[t].object >= b->n || !(w[t].flags & DS__LK_CONTENTION))
      continue;
    uint64_t count = 0;
    bool first = true;
    for (size_t u = 0; u < threads; u++)
      if (w[u].object == w[t].object) {
        count++;
        if (u < t)
          first = false;
      }
    if (!first || (double)count < ds__setting(b, DS_SET_CONTENTION_WAITERS))
      continue;
    snprintf(text, sizeof text, "%llu threads wait on the same %s.", (unsigned long long)count, w[t].name);
    ds_index_finding f = ds__no_details();
    f.details = DS_FINDING_LOCK;
    f.object = w[t].object;
    f.holder = w[t].holder;
    size_t mark = b->evidence.count;
    ds__finding_text ft = {DS_SEVERITY_WARNING, "lock-contention", "Lock contention", text,
                           "Shorten the work done under this lock, split it, or use a concurrent collection or "
                           "a reader-writer lock where most access is reading.",
                           DS_SET_CONTENTION_WAITERS};
    ds_status rc = ds__lock_waiters(b, w[t].object, &f.first_waiter, &f.waiter_count, err);
    if (rc == DS_OK)
      rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, w[t].object, 0, 1, ds__object_size(b, w[t].object), err);
    if (rc == DS_OK && w[t].holder != UINT32_MAX)
      rc = ds__push_evidence(b, DS_EVIDENCE_THREAD, w[t].holder, ds__intern(b, "holder"), 0, 0, err);
    if (rc == DS_OK)
      rc = push_thread_evidence(b, f.first_waiter, f.waiter_count, err);
    if (rc == DS_OK)
      rc = ds__add_finding(b, &ft, f, mark, err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

ds_status ds__build_wait_graph(ds__build *b, ds_error *err) {
  b->in_cycle = calloc(b->roots->thread_count + 1, 1);
  if (!b->in_cycle)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the wait graph");
  ds_status rc;
  if ((rc = find_cycles(b, err)) != DS_OK || (rc = find_contention(b, err)) != DS_OK ||
      (rc = deadlock_findings(b, err)) != DS_OK || (rc = finalizer_findings(b, err)) != DS_OK ||
      (rc = thread_pool_findings(b, err)) != DS_OK || (rc = contention_findings(b, err)) != DS_OK)
    return rc;
  return DS_OK;
}
