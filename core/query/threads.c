/*
 * threads.c: questions about threads and synchronisation, answered from the index: managed
 * threads and their stacks, what each blocked thread waits on (from its blocking frame and its
 * stack roots), the locks in use (monitors from the index, Lock, ReaderWriterLockSlim,
 * SemaphoreSlim and ManualResetEventSlim read from their fields), wait-for cycles, and findings.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

/* ---- threads, locks, waits, deadlocks -------------------------------------------------------- */

/* Thread::ThreadState bits, as SOS !clrthreads decodes them (threads.h). */
static json_t *thread_state_words(uint32_t state) {
  static const struct { uint32_t bit; const char *word; } words[] = {
      {0x1, "abort requested"},      {0x2, "GC suspend pending"},   {0x4, "user suspend pending"},
      {0x8, "debug suspend pending"}, {0x20, "legal to join"},      {0x200, "background"},
      {0x400, "unstarted"},          {0x800, "dead"},               {0x1000, "we own"},
      {0x4000, "STA"},               {0x8000, "MTA"},               {0x10000, "report dead"},
      {0x20000, "fully initialized"}, {0x80000, "sync suspended"},  {0x100000, "debug will sync"},
      {0x400000, "suspend unstarted"}, {0x800000, "aborted"},       {0x1000000, "thread pool worker"},
      {0x2000000, "interruptible"},  {0x4000000, "interrupted"},    {0x8000000, "completion port"},
      {0x10000000, "abort initiated"}, {0x20000000, "finalized"},   {0x40000000, "failed to start"},
      {0x80000000u, "detached"},
  };
  json_t *list = json_array();
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (state & words[i].bit)
      ds__jappend(list, ds__jstr(words[i].word));
  return list;
}

/* Reads an instance field of object i by name into a u64 (size 1, 2, 4 or 8 bytes). */
static bool field_value(ds_query *q, uint32_t i, const char *const *names, uint32_t size, uint64_t *out) {
  const ds_index_type *t = ds__type_of(q, i);
  if (!t || !q->dump)
    return false;
  for (uint32_t f = 0; f < t->field_count; f++) {
    uint64_t fi = (uint64_t)t->field_start + f;
    if (fi >= q->field_count)
      break;
    const char *fname = ds_index_string(q->idx, q->fields[fi].name);
    for (const char *const *n = names; *n; n++)
      if (strcmp(fname, *n) == 0) {
        *out = 0;
        return ds_dump_read_exact(q->dump, q->addr[i] + q->fields[fi].offset, out, size);
      }
  }
  return false;
}

static json_t *thread_ref(const ds_query *q, uint32_t t) {
  if (t >= q->thread_count)
    return json_null();
  return json_pack("{s:i,s:i}", "os_id", (int)q->threads[t].os_id, "managed_id", (int)q->threads[t].managed_id);
}

static uint32_t thread_by_managed_id(const ds_query *q, uint64_t id) {
  for (uint64_t t = 0; id && t < q->thread_count; t++)
    if (q->threads[t].managed_id == id)
      return (uint32_t)t;
  return UINT32_MAX;
}

/* The monitor record of an object (the section is sorted by address), or NULL. */
static const ds_index_monitor *monitor_of(const ds_query *q, uint64_t addr) {
  ds__view v = ds__section_view(q->idx, DS_SEC_MONITORS, sizeof(ds_index_monitor));
  const ds_index_monitor *m = v.data;
  size_t at = ds__lower_bound_u64(m, v.count, sizeof *m, addr);
  return at < v.count && m[at].address == addr ? &m[at] : NULL;
}

typedef enum wait_kind {
  WAIT_NONE = 0, WAIT_SLEEP, WAIT_MONITOR_WAIT, WAIT_HANDLE, WAIT_JOIN, WAIT_MONITOR, WAIT_EVENT, WAIT_SEMAPHORE,
  WAIT_LOCK, WAIT_RWLOCK, WAIT_TASK,
} wait_kind;

static const char *wait_kind_name(wait_kind k) {
  static const char *const names[] = {"none", "sleep", "monitor wait (condition)", "wait handle", "thread join",
                                      "monitor", "event", "semaphore", "lock", "reader-writer lock", "task"};
  return names[k];
}

/* Blocking APIs by the method names the DAC gives frames. Higher kinds win when several frames
 * match (SemaphoreSlim.Wait blocks in Monitor.Wait; Task.Wait in ManualResetEventSlim.Wait). */
static wait_kind classify_frame(const char *m, const char **mode) {
  static const struct { const char *needle; wait_kind kind; const char *mode; } table[] = {
      {"System.Threading.Tasks.Task.Wait", WAIT_TASK, NULL},
      {"System.Threading.Tasks.Task.InternalWait", WAIT_TASK, NULL},
      {"System.Threading.Tasks.Task.SpinThenBlockingWait", WAIT_TASK, NULL},
      {"System.Runtime.CompilerServices.TaskAwaiter", WAIT_TASK, NULL},
      {"System.Threading.Tasks.Task`1.GetResultCore", WAIT_TASK, NULL},
      {"ReaderWriterLockSlim.TryEnterReadLock", WAIT_RWLOCK, "read"},
      {"ReaderWriterLockSlim.EnterReadLock", WAIT_RWLOCK, "read"},
      {"ReaderWriterLockSlim.TryEnterUpgradeableReadLock", WAIT_RWLOCK, "upgrade"},
      {"ReaderWriterLockSlim.EnterUpgradeableReadLock", WAIT_RWLOCK, "upgrade"},
      {"ReaderWriterLockSlim.TryEnterWriteLock", WAIT_RWLOCK, "write"},
      {"ReaderWriterLockSlim.EnterWriteLock", WAIT_RWLOCK, "write"},
      {"System.Threading.Lock.Enter", WAIT_LOCK, NULL},
      {"System.Threading.Lock.TryEnter", WAIT_LOCK, NULL},
      {"System.Threading.SemaphoreSlim.Wait", WAIT_SEMAPHORE, NULL},
      {"System.Threading.ManualResetEventSlim.Wait", WAIT_EVENT, NULL},
      {"System.Threading.Monitor.Enter", WAIT_MONITOR, NULL},
      {"System.Threading.Monitor.ReliableEnter", WAIT_MONITOR, NULL},
      {"System.Threading.Monitor.TryEnter", WAIT_MONITOR, NULL},
      {"System.Threading.Thread.Join", WAIT_JOIN, NULL},
      {"System.Threading.WaitHandle.Wait", WAIT_HANDLE, NULL},
      {"System.Threading.Monitor.Wait", WAIT_MONITOR_WAIT, NULL},
      {"System.Threading.Thread.Sleep", WAIT_SLEEP, NULL},
  };
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strstr(m, table[i].needle)) {
      *mode = table[i].mode;
      return table[i].kind;
    }
  return WAIT_NONE;
}

static const char *wait_object_type(wait_kind k) {
  switch (k) {
  case WAIT_LOCK: return "System.Threading.Lock";
  case WAIT_RWLOCK: return "System.Threading.ReaderWriterLockSlim";
  case WAIT_SEMAPHORE: return "System.Threading.SemaphoreSlim";
  case WAIT_EVENT: return "System.Threading.ManualResetEventSlim";
  case WAIT_TASK: return "System.Threading.Tasks.Task";
  default: return NULL;
  }
}

typedef struct thread_wait {
  wait_kind kind;
  const char *mode;
  uint32_t frame;             /* the blocking frame */
  uint32_t object;            /* the lock/event/task object, UINT32_MAX when unknown */
  uint32_t holder;            /* the thread holding it, UINT32_MAX when none or unknown */
  uint32_t readers;           /* rwlock: readers holding it */
} thread_wait;

/* Does thread t hold object o as a lock (monitor, Lock, or rwlock writer/upgrader)? */
static uint32_t lock_holder(ds_query *q, uint32_t o, wait_kind kind, const char *mode, uint32_t *readers) {
  *readers = 0;
  if (kind == WAIT_MONITOR || kind == WAIT_NONE) {
    const ds_index_monitor *m = monitor_of(q, q->addr[o]);
    return m ? m->owner : UINT32_MAX;
  }
  uint64_t v = 0;
  if (kind == WAIT_LOCK) {
    /* System.Threading.Lock records the owner's OS thread id on Linux (its ThreadId) */
    static const char *const owner[] = {"_owningThreadId", NULL};
    if (!field_value(q, o, owner, 4, &v) || !v)
      return UINT32_MAX;
    for (uint64_t t = 0; t < q->thread_count; t++)
      if (q->threads[t].os_id == v)
        return (uint32_t)t;
    return thread_by_managed_id(q, v);
  }
  if (kind == WAIT_RWLOCK) {
    static const char *const writer[] = {"_writeLockOwnerId", "writeLockOwnerId", NULL};
    static const char *const upgrader[] = {"_upgradeLockOwnerId", "upgradeLockOwnerId", NULL};
    static const char *const owners[] = {"_owners", "owners", NULL};
    uint64_t count = 0;
    if (field_value(q, o, owners, 4, &count))
      *readers = (uint32_t)(count & 0x0FFFFFFFu);
    if (field_value(q, o, writer, 4, &v) && (int32_t)v > 0)
      return thread_by_managed_id(q, v);
    if (mode && strcmp(mode, "read") != 0 && field_value(q, o, upgrader, 4, &v) && (int32_t)v > 0)
      return thread_by_managed_id(q, v);
  }
  return UINT32_MAX;
}

/* What thread t is blocked on: the blocking frame, the object it waits for (from the stack roots
 * of that frame and its caller), and who holds it. */
static thread_wait analyse_wait(ds_query *q, uint32_t t) {
  thread_wait w = {WAIT_NONE, NULL, UINT32_MAX, UINT32_MAX, UINT32_MAX, 0};
  const ds_index_thread *th = &q->threads[t];
  if (!th->alive)
    return w;
  uint32_t window = th->frame_count < 24 ? th->frame_count : 24;
  for (uint32_t f = 0; f < window; f++) {
    uint64_t fi = (uint64_t)th->first_frame + f;
    if (fi >= q->frame_count)
      break;
    const char *mode = NULL;
    wait_kind k = classify_frame(ds_index_string(q->idx, q->frames[fi].method), &mode);
    if (k > w.kind) {
      w.kind = k;
      w.mode = mode;
      w.frame = (uint32_t)fi;
    }
  }
  if (w.kind == WAIT_NONE || w.kind == WAIT_SLEEP)
    return w;
  /* candidates: stack roots of this thread from the innermost frame up to the caller of the
   * blocking frame */
  const char *want = wait_object_type(w.kind);
  uint32_t best = UINT32_MAX;
  int best_score = -1;
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind != DS_ROOT_STACK || root->thread != t || root->object >= q->n || root->frame >= q->frame_count)
      continue;
    if (root->frame > w.frame + 1)
      continue;
    const char *tn = ds__type_name(q, q->type[root->object]);
    int score;
    if (want) {
      if (strncmp(tn, want, strlen(want)) != 0)
        continue;
      score = root->frame == w.frame ? 2 : 1;
    } else {
      /* a monitor: prefer an object locked by another thread, in the blocking frame */
      const ds_index_monitor *m = monitor_of(q, q->addr[root->object]);
      if (m && m->owner == t)
        continue; /* one it already holds */
      score = (m && m->owner != UINT32_MAX ? 4 : 0) + (root->frame == w.frame ? 2 : root->frame < w.frame ? 1 : 0);
      if (w.kind == WAIT_MONITOR_WAIT || w.kind == WAIT_HANDLE || w.kind == WAIT_JOIN)
        score = root->frame == w.frame ? 1 : 0;
    }
    if (score > best_score) {
      best_score = score;
      best = root->object;
    }
  }
  w.object = best;
  if (best != UINT32_MAX && (w.kind == WAIT_MONITOR || w.kind == WAIT_LOCK || w.kind == WAIT_RWLOCK)) {
    w.holder = lock_holder(q, best, w.kind, w.mode, &w.readers);
    if (w.holder == t)
      w.holder = UINT32_MAX;
  }
  return w;
}

static bool require_threads(ds_query *q, ds_error *err) {
  return ds__require_objects(q, err) && ds__need(q, DS_SEC_THREADS, err) && ds__need(q, DS_SEC_FRAMES, err) &&
         ds__need(q, DS_SEC_ROOTS, err) && ds__need(q, DS_SEC_MONITORS, err) && ds__need(q, DS_SEC_FIELDS, err);
}

static json_t *frame_json(const ds_query *q, uint64_t fi) {
  const ds_index_frame *f = &q->frames[fi];
  return json_pack("{s:o,s:o,s:o,s:b}", "method", ds__jstr(ds_index_string(q->idx, f->method)), "sp", ds__json_hex(f->sp), "ip",
                   ds__json_hex(f->ip), "runtime_frame", f->frame_address != 0);
}

static json_t *wait_json(ds_query *q, const thread_wait *w) {
  if (w->kind == WAIT_NONE)
    return json_null();
  json_t *j = json_object();
  ds__jset(j, "kind", ds__jstr(wait_kind_name(w->kind)));
  if (w->mode)
    ds__jset(j, "mode", ds__jstr(w->mode));
  if (w->frame < q->frame_count)
    ds__jset(j, "frame", ds__jstr(ds_index_string(q->idx, q->frames[w->frame].method)));
  ds__jset(j, "object", w->object < q->n ? ds__object_ref(q, w->object) : json_null());
  ds__jset(j, "held_by", thread_ref(q, w->holder));
  if (w->kind == WAIT_RWLOCK)
    ds__jset(j, "readers", json_integer(w->readers));
  return j;
}

static ds_status query_threads(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  json_t *list = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    const ds_index_thread *th = &q->threads[t];
    json_t *j = json_object();
    ds__jset(j, "os_id", json_integer(th->os_id));
    ds__jset(j, "managed_id", json_integer(th->managed_id));
    ds__jset(j, "address", ds__json_hex(th->address));
    ds__jset(j, "alive", json_boolean(th->alive));
    ds__jset(j, "finalizer", json_boolean(th->finalizer));
    ds__jset(j, "state", ds__json_hex(th->state));
    ds__jset(j, "state_words", thread_state_words(th->state));
    ds__jset(j, "gc_mode", ds__jstr(th->cooperative ? "cooperative" : "preemptive"));
    /* .NET 9+ no longer keeps a per-thread lock count: the DAC reports -1 */
    ds__jset(j, "lock_count", th->lock_count == UINT32_MAX ? json_null() : json_integer(th->lock_count));
    ds__jset(j, "allocation_context", json_pack("{s:o,s:o}", "ptr", ds__json_hex(th->alloc_ptr), "limit",
                                                           ds__json_hex(th->alloc_limit)));
    json_t *exc = json_null();
    if (th->exception) {
      exc = json_object();
      ds__jset(exc, "address", ds__json_hex(th->exception));
      uint32_t e = ds_query_find(q, th->exception, false);
      if (e != UINT32_MAX) {
        ds__jset(exc, "type", ds__jstr(ds__type_name(q, q->type[e])));
        static const char *const message[] = {"_message", NULL};
        uint64_t m = 0;
        if (field_value(q, e, message, 8, &m) && m) {
          int64_t len;
          char *text = ds__read_string(q, m, 1024, &len);
          if (text)
            ds__jset(exc, "message", ds__jstr(text));
          free(text);
        }
      }
    }
    ds__jset(j, "exception", exc);
    uint64_t top = (uint64_t)th->first_frame;
    ds__jset(j, "frame_count", json_integer(th->frame_count));
    ds__jset(j, "top_frame", th->frame_count && top < q->frame_count ? frame_json(q, top) : json_null());
    thread_wait w = analyse_wait(q, (uint32_t)t);
    ds__jset(j, "waiting_on", wait_json(q, &w));
    ds__jappend(list, j);
  }
  *out = json_pack("{s:o}", "threads", list);
  return DS_OK;
}

static ds_status query_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  uint32_t ti;
  const ds_index_thread *t = ds__find_thread(q, thread, &ti);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with OS id or managed id %u", thread);
  json_t *frames = json_array();
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    ds__jappend(frames, frame_json(q, fi));
  }
  thread_wait w = analyse_wait(q, ti);
  *out = json_pack("{s:i,s:i,s:o,s:o}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id, "frames", frames,
                   "waiting_on", wait_json(q, &w));
  return DS_OK;
}

/* Every thread's wait, computed once per query. */
static thread_wait *all_waits(ds_query *q) {
  thread_wait *w = calloc(q->thread_count + 1, sizeof *w);
  for (uint64_t t = 0; w && t < q->thread_count; t++)
    w[t] = analyse_wait(q, (uint32_t)t);
  return w;
}

static json_t *waiters_of(ds_query *q, const thread_wait *w, uint32_t object) {
  json_t *list = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++)
    if (w[t].object == object && w[t].kind >= WAIT_MONITOR) {
      json_t *r = thread_ref(q, (uint32_t)t);
      if (w[t].mode)
        ds__jset(r, "mode", ds__jstr(w[t].mode));
      ds__jappend(list, r);
    }
  return list;
}

static ds_status query_locks(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  thread_wait *w = all_waits(q);
  if (!w)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  json_t *doc = json_object(), *monitors = json_array(), *others = json_array();
  ds__view monitor_view = ds__section_view(q->idx, DS_SEC_MONITORS, sizeof(ds_index_monitor));
  const ds_index_monitor *m = monitor_view.data;
  uint64_t size = monitor_view.count;
  for (uint64_t k = 0; k < size; k++) {
    json_t *waiters = m[k].object < q->n ? waiters_of(q, w, m[k].object) : json_array();
    if (m[k].owner == UINT32_MAX && json_array_size(waiters) == 0) {
      json_decref(waiters);
      continue; /* a sync block kept for a hash code only */
    }
    json_t *j = json_object();
    ds__jset(j, "kind", ds__jstr(m[k].kind == 1 ? "sync block" : "thin lock"));
    ds__jset(j, "object", m[k].object < q->n ? ds__object_ref(q, m[k].object) : ds__json_hex(m[k].address));
    ds__jset(j, "held_by", thread_ref(q, m[k].owner));
    ds__jset(j, "recursion", json_integer(m[k].recursion));
    if (m[k].kind == 1)
      ds__jset(j, "sync_block", json_integer(m[k].sync_block));
    ds__jset(j, "waiters", waiters);
    ds__jappend(monitors, j);
  }
  /* lock types read from their fields (layout from the index, never hard-coded offsets) */
  /* which types are lock types is decided once per type, not per object */
  const char **lock_type = calloc(q->type_count + 1, sizeof *lock_type);
  if (!lock_type) {
    free(w);
    json_decref(doc);
    json_decref(monitors);
    json_decref(others);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  bool any_lock_type = false;
  for (uint64_t t = 0; t < q->type_count; t++) {
    const char *tn = ds__type_name(q, (uint32_t)t);
    if (strncmp(tn, "System.Threading.", 17) == 0 &&
        (strcmp(tn + 17, "Lock") == 0 || strcmp(tn + 17, "ReaderWriterLockSlim") == 0 ||
         strcmp(tn + 17, "SemaphoreSlim") == 0 || strcmp(tn + 17, "ManualResetEventSlim") == 0)) {
      lock_type[t] = tn + 17;
      any_lock_type = true;
    }
  }
  for (uint64_t ii = 0; any_lock_type && ii < q->n; ii++) {
    uint32_t i = (uint32_t)ii;
    const char *rest = q->type[i] < q->type_count ? lock_type[q->type[i]] : NULL;
    if (!rest)
      continue;
    json_t *j = NULL;
    uint64_t v = 0;
    if (strcmp(rest, "Lock") == 0) {
      static const char *const owner[] = {"_owningThreadId", NULL}, *const rec[] = {"_recursionCount", NULL};
      uint32_t r;
      uint32_t holder = lock_holder(q, i, WAIT_LOCK, NULL, &r);
      json_t *waiters = waiters_of(q, w, i);
      if (holder == UINT32_MAX && json_array_size(waiters) == 0 && !(field_value(q, i, owner, 4, &v) && v)) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:o,s:o}", "kind", "lock", "object", ds__object_ref(q, i), "held_by", thread_ref(q, holder),
                    "waiters", waiters);
      if (field_value(q, i, rec, 4, &v))
        ds__jset(j, "recursion", json_integer((json_int_t)v));
    } else if (strcmp(rest, "ReaderWriterLockSlim") == 0) {
      static const char *const upgrader[] = {"_upgradeLockOwnerId", NULL}, *const ww[] = {"_numWriteWaiters", NULL},
                               *const rw[] = {"_numReadWaiters", NULL}, *const uw[] = {"_numUpgradeWaiters", NULL};
      uint32_t readers;
      uint32_t writer = lock_holder(q, i, WAIT_RWLOCK, "read", &readers);
      json_t *waiters = waiters_of(q, w, i);
      if (writer == UINT32_MAX && readers == 0 && json_array_size(waiters) == 0) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:o,s:i,s:o}", "kind", "reader-writer lock", "object", ds__object_ref(q, i), "writer",
                    thread_ref(q, writer), "readers", (int)readers, "waiters", waiters);
      if (field_value(q, i, upgrader, 4, &v) && (int32_t)v > 0)
        ds__jset(j, "upgrader", thread_ref(q, thread_by_managed_id(q, v)));
      if (field_value(q, i, ww, 4, &v))
        ds__jset(j, "waiting_writers", json_integer((json_int_t)v));
      if (field_value(q, i, rw, 4, &v))
        ds__jset(j, "waiting_readers", json_integer((json_int_t)v));
      if (field_value(q, i, uw, 4, &v))
        ds__jset(j, "waiting_upgraders", json_integer((json_int_t)v));
    } else if (strcmp(rest, "SemaphoreSlim") == 0) {
      static const char *const count[] = {"m_currentCount", "_currentCount", NULL},
                               *const waits[] = {"m_waitCount", "_waitCount", NULL};
      json_t *waiters = waiters_of(q, w, i);
      uint64_t wc = 0;
      field_value(q, i, waits, 4, &wc);
      if (json_array_size(waiters) == 0 && wc == 0) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:o}", "kind", "semaphore", "object", ds__object_ref(q, i), "waiters", waiters);
      if (field_value(q, i, count, 4, &v))
        ds__jset(j, "current_count", json_integer((int32_t)v));
      ds__jset(j, "wait_count", json_integer((int32_t)wc));
    } else if (strcmp(rest, "ManualResetEventSlim") == 0) {
      static const char *const state[] = {"m_combinedState", "_combinedState", NULL};
      json_t *waiters = waiters_of(q, w, i);
      uint64_t st = 0;
      field_value(q, i, state, 4, &st);
      if (json_array_size(waiters) == 0 && (st & 0x7FFFFu) == 0) {
        json_decref(waiters);
        continue;
      }
      j = json_pack("{s:s,s:o,s:b,s:i,s:o}", "kind", "event", "object", ds__object_ref(q, i), "set",
                    (int)((st >> 31) & 1), "waiter_count", (int)(st & 0x7FFFFu), "waiters", waiters);
    }
    if (j)
      ds__jappend(others, j);
  }
  ds__jset(doc, "monitors", monitors);
  ds__jset(doc, "other_locks", others);
  free(lock_type);
  free(w);
  *out = doc;
  return DS_OK;
}

static ds_status query_waits(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  json_t *list = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    thread_wait w = analyse_wait(q, (uint32_t)t);
    if (w.kind == WAIT_NONE)
      continue;
    json_t *j = thread_ref(q, (uint32_t)t);
    ds__jset(j, "waiting_on", wait_json(q, &w));
    ds__jappend(list, j);
  }
  *out = json_pack("{s:o}", "waits", list);
  return DS_OK;
}

static ds_status query_deadlocks(ds_query *q, json_t **out, ds_error *err) {
  if (!require_threads(q, err))
    return err->code;
  thread_wait *w = all_waits(q);
  uint8_t *state = calloc(q->thread_count + 1, 1); /* 0 new, 1 on the current path, 2 done */
  uint32_t *path = calloc(q->thread_count + 1, sizeof *path);
  uint8_t *in_cycle = calloc(q->thread_count + 1, 1);
  if (!w || !state || !path || !in_cycle) {
    free(w);
    free(state);
    free(path);
    free(in_cycle);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  json_t *cycles = json_array();
  /* each waiting thread has at most one holder to wait for: follow the chain from every thread;
   * meeting the current chain again closes a cycle */
  for (uint64_t start = 0; start < q->thread_count; start++) {
    if (state[start])
      continue;
    size_t len = 0;
    uint32_t t = (uint32_t)start;
    while (t < q->thread_count && state[t] == 0) {
      state[t] = 1;
      path[len++] = t;
      t = w[t].holder;
    }
    if (t < q->thread_count && state[t] == 1) {
      size_t from = 0;
      while (path[from] != t)
        from++;
      json_t *members = json_array();
      for (size_t k = from; k < len; k++) {
        uint32_t m = path[k];
        in_cycle[m] = 1;
        json_t *j = thread_ref(q, m);
        ds__jset(j, "waits_for", wait_json(q, &w[m]));
        json_t *holds = json_array();
        uint32_t prev = path[k > from ? k - 1 : len - 1]; /* it waits for what m holds */
        if (w[prev].object < q->n)
          ds__jappend(holds, ds__object_ref(q, w[prev].object));
        ds__jset(j, "holds", holds);
        json_t *frames = json_array();
        const ds_index_thread *th = &q->threads[m];
        for (uint32_t f = 0; f < th->frame_count && f < 32; f++)
          if ((uint64_t)th->first_frame + f < q->frame_count)
            ds__jappend(frames, frame_json(q, (uint64_t)th->first_frame + f));
        ds__jset(j, "stack", frames);
        ds__jappend(members, j);
      }
      ds__jappend(cycles, json_pack("{s:o}", "threads", members));
    }
    for (size_t k = 0; k < len; k++)
      state[path[k]] = 2;
  }
  /* contention: a held lock with waiters, outside every cycle */
  json_t *contention = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (w[t].holder == UINT32_MAX || in_cycle[t] || w[t].object >= q->n)
      continue;
    bool first = true;
    for (uint64_t u = 0; u < t; u++)
      if (w[u].object == w[t].object && w[u].holder != UINT32_MAX && !in_cycle[u])
        first = false;
    if (!first)
      continue;
    json_t *waiters = json_array();
    for (uint64_t u = 0; u < q->thread_count; u++)
      if (w[u].object == w[t].object && !in_cycle[u])
        ds__jappend(waiters, thread_ref(q, (uint32_t)u));
    ds__jappend(contention, json_pack("{s:o,s:s,s:o,s:o}", "object", ds__object_ref(q, w[t].object), "kind",
                                                wait_kind_name(w[t].kind), "held_by", thread_ref(q, w[t].holder),
                                                "waiters", waiters));
  }
  *out = json_pack("{s:o,s:o}", "deadlocks", cycles, "contention", contention);
  free(w);
  free(state);
  free(path);
  free(in_cycle);
  return DS_OK;
}

static void add_finding(json_t *list, const char *severity, const char *title, const char *description,
                        const char *recommendation, json_t *details) {
  ds__jappend(list, json_pack("{s:s,s:s,s:s,s:s,s:o}", "severity", severity, "title", title,
                                        "description", description, "recommendation", recommendation, "details",
                                        details ? details : json_null()));
}

static ds_status query_findings(ds_query *q, json_t **out, ds_error *err) {
  json_t *dl = NULL;
  ds_status rc = query_deadlocks(q, &dl, err);
  if (rc != DS_OK)
    return rc;
  thread_wait *w = all_waits(q);
  if (!w) {
    json_decref(dl);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  json_t *list = json_array();
  char text[512];
  size_t i;
  json_t *cycle;
  json_array_foreach(json_object_get(dl, "deadlocks"), i, cycle) {
    snprintf(text, sizeof text, "%zu threads wait for each other in a cycle and can never proceed.",
             json_array_size(json_object_get(cycle, "threads")));
    add_finding(list, "error", "Deadlock", text,
                "Acquire these locks in one global order everywhere, or use timeouts (Monitor.TryEnter, "
                "Lock.TryEnter) and back off.",
                json_incref(cycle));
  }
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (!q->threads[t].finalizer || w[t].kind == WAIT_NONE)
      continue;
    uint64_t ready = 0;
    for (uint64_t r = 0; r < q->root_count; r++)
      ready += q->roots[r].kind == DS_ROOT_FINALIZER_READY;
    snprintf(text, sizeof text,
             "The finalizer thread is blocked (%s) while %llu objects are ready for finalization; they and "
             "everything they reference stay in memory until it runs again.",
             wait_kind_name(w[t].kind), (unsigned long long)ready);
    json_t *d = thread_ref(q, (uint32_t)t);
    ds__jset(d, "waiting_on", wait_json(q, &w[t]));
    add_finding(list, "error", "Blocked finalizer thread", text,
                "Finalizers must not block or wait: dispose objects explicitly (using/Dispose) and keep "
                "finalizers short; fix the finalizer shown in the stack.",
                d);
  }
  uint64_t pool = 0, pool_blocked = 0;
  json_t *blocked = json_array();
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (!(q->threads[t].state & 0x1000000u) || !q->threads[t].alive)
      continue;
    pool++;
    if (w[t].kind == WAIT_TASK || w[t].kind == WAIT_EVENT || w[t].kind == WAIT_SEMAPHORE ||
        w[t].kind == WAIT_MONITOR || w[t].kind == WAIT_LOCK || w[t].kind == WAIT_HANDLE) {
      pool_blocked++;
      json_t *d = thread_ref(q, (uint32_t)t);
      ds__jset(d, "waiting_on", wait_json(q, &w[t]));
      ds__jappend(blocked, d);
    }
  }
  uint64_t on_tasks = 0;
  for (uint64_t t = 0; t < q->thread_count; t++)
    on_tasks += (q->threads[t].state & 0x1000000u) && w[t].kind == WAIT_TASK;
  if (pool_blocked) {
    snprintf(text, sizeof text,
             "%llu of %llu thread pool threads are blocked (%llu waiting synchronously on tasks: "
             "sync-over-async). New work waits for the pool to inject threads, which it does slowly.",
             (unsigned long long)pool_blocked, (unsigned long long)pool, (unsigned long long)on_tasks);
    add_finding(list, pool_blocked == pool ? "error" : "warning",
                pool_blocked == pool ? "Thread pool starvation" : "Blocked thread pool threads", text,
                "Use await instead of .Result, .Wait() and GetAwaiter().GetResult() on thread pool threads; "
                "as a stopgap, raise ThreadPool.SetMinThreads.",
                blocked);
  } else {
    json_decref(blocked);
  }
  /* many threads waiting on one lock */
  for (uint64_t t = 0; t < q->thread_count; t++) {
    if (w[t].object >= q->n || w[t].kind < WAIT_MONITOR || w[t].kind == WAIT_TASK)
      continue;
    uint64_t n = 0;
    bool first = true;
    for (uint64_t u = 0; u < q->thread_count; u++)
      if (w[u].object == w[t].object) {
        n++;
        if (u < t)
          first = false;
      }
    if (!first || n < 3)
      continue;
    snprintf(text, sizeof text, "%llu threads wait on the same %s.", (unsigned long long)n, wait_kind_name(w[t].kind));
    json_t *d = json_pack("{s:o,s:o,s:o}", "object", ds__object_ref(q, w[t].object), "held_by",
                          thread_ref(q, w[t].holder), "waiters", waiters_of(q, w, w[t].object));
    add_finding(list, "warning", "Lock contention", text,
                "Shorten the work done under this lock, split it, or use a concurrent collection or "
                "a reader-writer lock where most access is reading.",
                d);
  }
  free(w);
  json_decref(dl);
  *out = json_pack("{s:o}", "findings", list);
  return DS_OK;
}

/* ---- the public queries: each document is complete, or an error ---------------------------------- */

ds_status ds_query_threads(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_threads(q, out, err), out, err);
}

ds_status ds_query_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_stack(q, thread, out, err), out, err);
}

ds_status ds_query_locks(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_locks(q, out, err), out, err);
}

ds_status ds_query_waits(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_waits(q, out, err), out, err);
}

ds_status ds_query_deadlocks(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_deadlocks(q, out, err), out, err);
}

ds_status ds_query_findings(ds_query *q, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_findings(q, out, err), out, err);
}
