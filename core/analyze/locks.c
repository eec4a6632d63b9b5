/*
 * locks.c: the lock analysis of the index build (phase 6): the monitors (sync blocks from the
 * DAC, thin locks from object headers), what every blocked thread waits on, and the lock
 * instances in use with their state and waiters. waitgraph.c then finds the wait-for cycles,
 * contention and findings; queries only read what this phase writes.
 *
 * Everything about one kind of lock or wait is one row of lock_kinds[] below (curl's scheme
 * table habit): its name, the type of its objects, the methods of the frames it blocks in, how
 * the waited object is found on the stack, what the findings make of it, and the readers of its
 * owner and its state. Adding a kind is one row and its reader; nothing outside this file knows
 * the kinds (the index records their names and state as text and named values).
 *
 * Object fields are read by name through the field layouts the type phase took from the DAC,
 * never at hard-coded offsets.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

#include "analyzeint.h"

#define WAIT_WINDOW 24           /* innermost frames searched for a blocking method */
#define MAX_LOCK_VALUES 16       /* named values one lock instance reports */

/* ---- reading objects ------------------------------------------------------------------------ */

/* Text from the build's string pool ("" when out of range). */
static const char *pool_text(const ds__build *b, uint32_t offset) {
  return b->pool.data && offset < b->pool.len ? b->pool.data + offset : "";
}

uint32_t ds__intern(ds__build *b, const char *text) {
  for (size_t i = 0; i < b->interned_count; i++)
    if (strcmp(b->interned[i].text, text) == 0)
      return b->interned[i].offset;
  uint32_t offset = ds_strpool_add(&b->pool, text);
  if (offset && b->interned_count < DS__INTERNED_MAX)
    b->interned[b->interned_count++] = (ds__interned){text, offset};
  return offset;
}

static const char *type_name_of(const ds__build *b, uint32_t object) {
  uint32_t t = b->type.items[object];
  return t < b->type_total ? pool_text(b, b->types[t].name) : "<bad type>";
}

/* Reads the instance field of object that has one of names into *out (size 1, 2, 4 or 8 bytes);
 * false when the type has no such field or the dump lacks the bytes. */
static bool field_value(ds__build *b, uint32_t object, const char *const *names, uint32_t size, uint64_t *out) {
  uint32_t t = b->type.items[object];
  if (t >= b->type_total)
    return false;
  const ds_index_type *type = &b->types[t];
  for (uint32_t f = 0; f < type->field_count; f++) {
    size_t fi = (size_t)type->field_start + f;
    if (fi >= b->fields.count)
      break;
    const char *field_name = pool_text(b, b->fields.items[fi].name);
    for (const char *const *n = names; *n; n++)
      if (strcmp(field_name, *n) == 0) {
        *out = 0;
        return ds_dump_read_exact(b->a->dump, b->addr.items[object] + b->fields.items[fi].offset, out, size);
      }
  }
  return false;
}

/* The object a reference field of object points to (UINT32_MAX: null, unreadable, not in the heap). */
static uint32_t field_object(ds__build *b, uint32_t object, const char *const *names) {
  uint64_t address = 0;
  if (!field_value(b, object, names, 8, &address) || !address)
    return UINT32_MAX;
  return ds__find_exact(b->addr.items, b->n, address);
}

static uint32_t thread_by_managed_id(const ds__build *b, uint64_t id) {
  for (size_t t = 0; id && t < b->roots->thread_count; t++)
    if (b->ithreads[t].managed_id == id)
      return (uint32_t)t;
  return UINT32_MAX;
}

/* The monitor of the object at addr (b->monitors is sorted by address), or NULL. */
static const ds__monitor *monitor_of(const ds__build *b, uint64_t addr) {
  size_t lo = 0, hi = b->monitors.count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->monitors.items[mid].address < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < b->monitors.count && b->monitors.items[lo].address == addr ? &b->monitors.items[lo] : NULL;
}

/* ---- the named values of a lock instance ------------------------------------------------------ */

typedef struct lock_values {
  ds__build *b;
  ds_index_lock_value items[MAX_LOCK_VALUES];
  size_t count;
} lock_values;

static void add_value(lock_values *v, const char *name, uint32_t type, int64_t value) {
  if (v->count < MAX_LOCK_VALUES)
    v->items[v->count++] = (ds_index_lock_value){ds__intern(v->b, name), type, value};
}
static void value_int(lock_values *v, const char *name, int64_t x) { add_value(v, name, DS_VALUE_INT, x); }
static void value_bool(lock_values *v, const char *name, bool x) { add_value(v, name, DS_VALUE_BOOL, x); }
static void value_thread(lock_values *v, const char *name, uint32_t t) { add_value(v, name, DS_VALUE_THREAD, t); }
static void value_waiters(lock_values *v) { add_value(v, "waiters", DS_VALUE_WAITERS, 0); }

/* ---- owner and state readers, one per kind -------------------------------------------------- */

/* Who holds object for a thread waiting in mode (UINT32_MAX: nobody, or unknown); *readers: threads
 * holding it for reading. */
typedef uint32_t (*owner_reader)(ds__build *b, uint32_t object, const char *mode, uint32_t *readers);
/* The state of an instance with waiter_count waiting threads, as named values; false when it is not
 * in use (not held, nobody waits, no count of waiters), so it is not listed. */
typedef bool (*state_reader)(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out);

static const char *const LOCK_OWNER[] = {"_owningThreadId", NULL};
static const char *const LOCK_RECURSION[] = {"_recursionCount", NULL};
static const char *const RW_WRITER[] = {"_writeLockOwnerId", "writeLockOwnerId", NULL};
static const char *const RW_UPGRADER[] = {"_upgradeLockOwnerId", "upgradeLockOwnerId", NULL};
static const char *const RW_OWNERS[] = {"_owners", "owners", NULL};

static uint32_t monitor_owner(ds__build *b, uint32_t object, const char *mode, uint32_t *readers) {
  (void)mode;
  *readers = 0;
  const ds__monitor *m = monitor_of(b, b->addr.items[object]);
  return m ? m->owner : UINT32_MAX;
}

/* System.Threading.Lock records its owner's OS thread id on Linux (its ThreadId). */
static uint32_t lock_owner(ds__build *b, uint32_t object, const char *mode, uint32_t *readers) {
  (void)mode;
  *readers = 0;
  uint64_t id = 0;
  if (!field_value(b, object, LOCK_OWNER, 4, &id) || !id)
    return UINT32_MAX;
  for (size_t t = 0; t < b->roots->thread_count; t++)
    if (b->ithreads[t].os_id == id)
      return (uint32_t)t;
  return thread_by_managed_id(b, id);
}

static bool lock_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  uint32_t readers;
  uint32_t holder = lock_owner(b, object, NULL, &readers);
  uint64_t v = 0;
  if (holder == UINT32_MAX && waiter_count == 0 && !(field_value(b, object, LOCK_OWNER, 4, &v) && v))
    return false;
  value_thread(out, "held_by", holder);
  value_waiters(out);
  if (field_value(b, object, LOCK_RECURSION, 4, &v))
    value_int(out, "recursion", (int64_t)v);
  return true;
}

/* ReaderWriterLockSlim: the writer (or, for a writer or upgrader waiting, the upgrader) by managed
 * id; the reader count from _owners. */
static uint32_t rwlock_owner(ds__build *b, uint32_t object, const char *mode, uint32_t *readers) {
  *readers = 0;
  uint64_t v = 0, count = 0;
  if (field_value(b, object, RW_OWNERS, 4, &count))
    *readers = (uint32_t)(count & 0x0FFFFFFFu);
  if (field_value(b, object, RW_WRITER, 4, &v) && (int32_t)v > 0)
    return thread_by_managed_id(b, v);
  if (mode && strcmp(mode, "read") != 0 && field_value(b, object, RW_UPGRADER, 4, &v) && (int32_t)v > 0)
    return thread_by_managed_id(b, v);
  return UINT32_MAX;
}

static bool rwlock_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  static const char *const upgrader[] = {"_upgradeLockOwnerId", NULL}, *const write_waiters[] = {"_numWriteWaiters", NULL},
                           *const read_waiters[] = {"_numReadWaiters", NULL},
                           *const upgrade_waiters[] = {"_numUpgradeWaiters", NULL};
  uint32_t readers;
  uint32_t writer = rwlock_owner(b, object, "read", &readers);
  if (writer == UINT32_MAX && readers == 0 && waiter_count == 0)
    return false;
  value_thread(out, "writer", writer);
  value_int(out, "readers", (int)readers);
  value_waiters(out);
  uint64_t v = 0;
  if (field_value(b, object, upgrader, 4, &v) && (int32_t)v > 0)
    value_thread(out, "upgrader", thread_by_managed_id(b, v));
  if (field_value(b, object, write_waiters, 4, &v))
    value_int(out, "waiting_writers", (int64_t)v);
  if (field_value(b, object, read_waiters, 4, &v))
    value_int(out, "waiting_readers", (int64_t)v);
  if (field_value(b, object, upgrade_waiters, 4, &v))
    value_int(out, "waiting_upgraders", (int64_t)v);
  return true;
}

/* SemaphoreSlim: no owner; its count and the runtime's count of synchronous waiters. */
static bool semaphore_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  static const char *const count[] = {"m_currentCount", "_currentCount", NULL},
                           *const waits[] = {"m_waitCount", "_waitCount", NULL};
  uint64_t wait_count = 0, v = 0;
  field_value(b, object, waits, 4, &wait_count);
  if (waiter_count == 0 && wait_count == 0)
    return false;
  value_waiters(out);
  if (field_value(b, object, count, 4, &v))
    value_int(out, "current_count", (int32_t)v);
  value_int(out, "wait_count", (int32_t)wait_count);
  return true;
}

static const char *const EVENT_STATE[] = {"m_combinedState", "_combinedState", NULL};

/* ManualResetEventSlim: set (bit 31 of the combined state) and its waiter count (bits 0-18). */
static bool event_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  uint64_t st = 0;
  field_value(b, object, EVENT_STATE, 4, &st);
  if (waiter_count == 0 && (st & 0x7FFFFu) == 0)
    return false;
  value_bool(out, "set", (st >> 31) & 1);
  value_int(out, "waiter_count", (int)(st & 0x7FFFFu));
  value_waiters(out);
  return true;
}

/* Barrier (System.Threading.dll): _currentTotalCount holds the participants (bits 0-14) and how
 * many arrived in the current phase (bits 16-30); arrived participants wait in SignalAndWait. */
static bool barrier_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  static const char *const counts[] = {"_currentTotalCount", "m_currentTotalCount", NULL},
                           *const phase[] = {"_currentPhase", "m_currentPhase", NULL};
  uint64_t current_total = 0, v = 0;
  bool known = field_value(b, object, counts, 4, &current_total);
  uint32_t participants = current_total & 0x7FFFu, arrived = (current_total >> 16) & 0x7FFFu;
  if (waiter_count == 0 && arrived == 0)
    return false;
  if (known) {
    value_int(out, "participants", participants);
    value_int(out, "participants_remaining", (int64_t)participants - arrived);
  }
  if (field_value(b, object, phase, 8, &v))
    value_int(out, "phase", (int64_t)v);
  value_waiters(out);
  return true;
}

/* CountdownEvent (System.Threading.dll): the signals it was created with and those still
 * missing; its waiters block on its inner ManualResetEventSlim, whose waiter count is the
 * runtime's. */
static bool countdown_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  static const char *const initial[] = {"_initialCount", "m_initialCount", NULL},
                           *const current[] = {"_currentCount", "m_currentCount", NULL},
                           *const event[] = {"_event", "m_event", NULL};
  uint64_t v = 0, st = 0;
  uint32_t inner = field_object(b, object, event), event_waiters = 0;
  if (inner != UINT32_MAX && field_value(b, inner, EVENT_STATE, 4, &st))
    event_waiters = st & 0x7FFFFu;
  if (waiter_count == 0 && event_waiters == 0)
    return false;
  if (field_value(b, object, initial, 4, &v))
    value_int(out, "initial_count", (int32_t)v);
  if (field_value(b, object, current, 4, &v))
    value_int(out, "current_count", (int32_t)v);
  value_int(out, "waiter_count", event_waiters);
  value_waiters(out);
  return true;
}

/* Thread.Join: the thread a joining thread waits for is the one its Thread object stands for. */
static const char *const THREAD_MANAGED_ID[] = {"_managedThreadId", "m_ManagedThreadId", NULL};

static uint32_t joined_thread(ds__build *b, uint32_t object, const char *mode, uint32_t *readers) {
  (void)mode;
  *readers = 0;
  uint64_t id = 0;
  return field_value(b, object, THREAD_MANAGED_ID, 4, &id) ? thread_by_managed_id(b, id) : UINT32_MAX;
}

/* A Thread object is listed while threads join it: the thread it stands for, and its joiners. */
static bool join_state(ds__build *b, uint32_t object, size_t waiter_count, lock_values *out) {
  if (waiter_count == 0)
    return false;
  uint32_t readers;
  value_thread(out, "held_by", joined_thread(b, object, NULL, &readers));
  value_waiters(out);
  return true;
}

/* ---- the lock-kind table ---------------------------------------------------------------------- */

/* How the object a thread waits on is found among the stack roots of its innermost frames. */
typedef enum object_search {
  SEARCH_NONE,               /* no object (sleep) */
  SEARCH_TYPE,               /* an object whose type name starts with the row's type name */
  SEARCH_EXACT_TYPE,         /* an object of exactly the row's type */
  SEARCH_TYPE_OR_OWNER,      /* that, or else the object of that type referencing a stack object
                              * (its inner event: the waiting method no longer needs `this`) */
  SEARCH_MONITOR,            /* preferably an object another thread holds as a monitor */
  SEARCH_FRAME,              /* any object of the blocking frame not held by the thread itself */
} object_search;

typedef struct frame_match {
  const char *method;        /* a substring of the method name the DAC gives the frame */
  const char *mode;          /* the wait's mode when it blocks here, or NULL */
} frame_match;

#define MAX_FRAME_MATCHES 8

typedef struct ds__lock_kind {
  const char *name;          /* the wait's kind and the instance's display name */
  const char *type_name;     /* instances: exactly this type; waits: an object whose type starts so */
  frame_match frames[MAX_FRAME_MATCHES]; /* the methods it blocks in (ends at a NULL method) */
  object_search search;
  uint32_t flags;            /* DS__LK_* (analyzeint.h) */
  owner_reader owner;        /* who holds the waited object; NULL: nobody holds this kind */
  state_reader state;        /* instances in use are listed with this state; NULL: not listed */
} ds__lock_kind;

/* Higher rows win when several frames of one stack match: SemaphoreSlim.Wait blocks in
 * Monitor.Wait, Task.Wait in ManualResetEventSlim.Wait. */
static const ds__lock_kind lock_kinds[] = {
    {"task", "System.Threading.Tasks.Task",
     {{"System.Threading.Tasks.Task.Wait", NULL}, {"System.Threading.Tasks.Task.InternalWait", NULL},
      {"System.Threading.Tasks.Task.SpinThenBlockingWait", NULL}, {"System.Runtime.CompilerServices.TaskAwaiter", NULL},
      {"System.Threading.Tasks.Task`1.GetResultCore", NULL}},
     SEARCH_TYPE, DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_TASK, NULL, NULL},
    {"reader-writer lock", "System.Threading.ReaderWriterLockSlim",
     {{"ReaderWriterLockSlim.TryEnterReadLock", "read"}, {"ReaderWriterLockSlim.EnterReadLock", "read"},
      {"ReaderWriterLockSlim.TryEnterUpgradeableReadLock", "upgrade"},
      {"ReaderWriterLockSlim.EnterUpgradeableReadLock", "upgrade"}, {"ReaderWriterLockSlim.TryEnterWriteLock", "write"},
      {"ReaderWriterLockSlim.EnterWriteLock", "write"}},
     SEARCH_TYPE, DS__LK_WAITER | DS__LK_CONTENTION | DS__LK_READERS, rwlock_owner, rwlock_state},
    {"lock", "System.Threading.Lock", {{"System.Threading.Lock.Enter", NULL}, {"System.Threading.Lock.TryEnter", NULL}},
     SEARCH_TYPE, DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_CONTENTION, lock_owner, lock_state},
    {"semaphore", "System.Threading.SemaphoreSlim", {{"System.Threading.SemaphoreSlim.Wait", NULL}}, SEARCH_TYPE,
     DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_CONTENTION, NULL, semaphore_state},
    {"barrier", "System.Threading.Barrier", {{"System.Threading.Barrier.SignalAndWait", NULL}}, SEARCH_TYPE_OR_OWNER,
     DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_HAS_PARTS, NULL, barrier_state},
    {"countdown event", "System.Threading.CountdownEvent", {{"System.Threading.CountdownEvent.Wait", NULL}},
     SEARCH_TYPE_OR_OWNER, DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_HAS_PARTS, NULL, countdown_state},
    {"event", "System.Threading.ManualResetEventSlim", {{"System.Threading.ManualResetEventSlim.Wait", NULL}},
     SEARCH_TYPE, DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_CONTENTION, NULL, event_state},
    {"monitor", NULL,
     {{"System.Threading.Monitor.Enter", NULL}, {"System.Threading.Monitor.ReliableEnter", NULL},
      {"System.Threading.Monitor.TryEnter", NULL}},
     SEARCH_MONITOR, DS__LK_WAITER | DS__LK_POOL_BLOCKING | DS__LK_CONTENTION, monitor_owner, NULL},
    {"thread join", "System.Threading.Thread", {{"System.Threading.Thread.Join", NULL}}, SEARCH_EXACT_TYPE,
     DS__LK_WAITER | DS__LK_POOL_BLOCKING, joined_thread, join_state},
    {"wait handle", NULL, {{"System.Threading.WaitHandle.Wait", NULL}}, SEARCH_FRAME, DS__LK_POOL_BLOCKING, NULL, NULL},
    {"monitor wait (condition)", NULL, {{"System.Threading.Monitor.Wait", NULL}}, SEARCH_FRAME, 0, NULL, NULL},
    {"sleep", NULL, {{"System.Threading.Thread.Sleep", NULL}}, SEARCH_NONE, 0, NULL, NULL},
};

#define LOCK_KIND_COUNT (sizeof lock_kinds / sizeof *lock_kinds)

/* The first row with a blocking method in this frame's method name (LOCK_KIND_COUNT: none). */
static size_t classify_frame(const char *method, const char **mode) {
  for (size_t k = 0; k < LOCK_KIND_COUNT; k++)
    for (size_t f = 0; f < MAX_FRAME_MATCHES && lock_kinds[k].frames[f].method; f++)
      if (strstr(method, lock_kinds[k].frames[f].method)) {
        *mode = lock_kinds[k].frames[f].mode;
        return k;
      }
  return LOCK_KIND_COUNT;
}

/* ---- monitors --------------------------------------------------------------------------------- */

static int compare_monitor(const void *a, const void *b) {
  const ds__monitor *x = a, *y = b;
  return x->address < y->address ? -1 : x->address > y->address;
}

/* Thin locks live in the object header (layout.h): the owner is a managed thread id. The walk read
 * every header while the page was at hand (build.c: collect_object) and kept those holding a thin
 * lock; here they get their owners. */
static ds_status collect_thin_locks(ds__build *b, ds_error *err) {
  const ds_layout *l = b->layout;
  const ds_root_set *roots = b->roots;
  for (size_t k = 0; k < b->thin.count; k++) {
    uint32_t i = b->thin.items[k].object, id, recursion;
    if (!ds_layout_thin_lock(l, b->thin.items[k].header, &id, &recursion))
      continue;
    uint32_t owner = UINT32_MAX;
    for (size_t t = 0; t < roots->thread_count; t++)
      if (roots->threads[t].managed_id == id)
        owner = (uint32_t)t;
    ds__monitor m = {b->addr.items[i], i, owner, recursion, DS__MONITOR_THIN_LOCK, 0, 0};
    ds_status rc = DS_OK;
    DS__VEC_PUSH(b->monitors, m, DS_MAX_OBJECTS, rc);
    if (rc != DS_OK)
      return ds__vec_error(err, rc, "thin locks", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
  }
  return DS_OK;
}

/* Monitors: sync blocks from the DAC, thin locks from object headers, sorted by address. */
static ds_status collect_monitors(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  for (size_t sb = 0; sb < roots->sync_block_count; sb++) {
    const ds_sync_block *src = &roots->sync_blocks[sb];
    uint32_t owner = UINT32_MAX;
    for (size_t t = 0; src->owner && t < roots->thread_count; t++)
      if (roots->threads[t].address == src->owner)
        owner = (uint32_t)t;
    ds__monitor m = {src->object, ds__find_exact(b->addr.items, b->n, src->object), owner, src->recursion,
                     DS__MONITOR_SYNC_BLOCK, src->index, 0};
    ds_status rc = DS_OK;
    DS__VEC_PUSH(b->monitors, m, DS_MAX_OBJECTS, rc);
    if (rc != DS_OK)
      return ds__vec_error(err, rc, "monitors", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
  }
  ds_status rc = collect_thin_locks(b, err);
  if (rc == DS_OK && b->monitors.count)
    qsort(b->monitors.items, b->monitors.count, sizeof *b->monitors.items, compare_monitor);
  return rc;
}

/* ---- what each thread waits on ---------------------------------------------------------------- */

/* The stack roots of each thread, in root order: stack_roots[stack_root_start[t] ..
 * stack_root_start[t + 1]). */
static ds_status group_stack_roots(ds__build *b, ds_error *err) {
  size_t threads = b->roots->thread_count, root_count = b->roots->root_count;
  b->stack_root_start = calloc(threads + 2, sizeof *b->stack_root_start);
  b->stack_roots = malloc((root_count ? root_count : 1) * sizeof *b->stack_roots);
  if (!b->stack_root_start || !b->stack_roots)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the stack roots of %zu threads", threads);
  for (size_t r = 0; r < root_count; r++)
    if (b->iroots[r].kind == DS_ROOT_STACK && b->iroots[r].thread < threads)
      b->stack_root_start[b->iroots[r].thread + 2]++;
  for (size_t t = 0; t < threads; t++)
    b->stack_root_start[t + 2] += b->stack_root_start[t + 1];
  for (size_t r = 0; r < root_count; r++)
    if (b->iroots[r].kind == DS_ROOT_STACK && b->iroots[r].thread < threads)
      b->stack_roots[b->stack_root_start[b->iroots[r].thread + 1]++] = (uint32_t)r;
  return DS_OK;
}

/* How well a stack root fits as the object thread t waits on in w (-1: not at all). */
static bool has_wanted_type(const ds__build *b, const ds__wait *w, uint32_t object) {
  if (w->kind->search == SEARCH_EXACT_TYPE)
    return strcmp(type_name_of(b, object), w->kind->type_name) == 0;
  return strncmp(type_name_of(b, object), w->kind->type_name, strlen(w->kind->type_name)) == 0;
}

static int root_score(ds__build *b, uint32_t t, const ds__wait *w, const ds_index_root *root) {
  if (w->kind->search == SEARCH_TYPE || w->kind->search == SEARCH_EXACT_TYPE || w->kind->search == SEARCH_TYPE_OR_OWNER) {
    if (!has_wanted_type(b, w, root->object))
      return -1;
    return root->frame == w->frame ? 2 : 1;
  }
  const ds__monitor *m = monitor_of(b, b->addr.items[root->object]);
  if (m && m->owner == t)
    return -1; /* one it already holds */
  if (w->kind->search == SEARCH_FRAME)
    return root->frame == w->frame ? 1 : 0;
  /* a monitor: prefer an object locked by another thread, in the blocking frame */
  return (m && m->owner != UINT32_MAX ? 4 : 0) + (root->frame == w->frame ? 2 : root->frame < w->frame ? 1 : 0);
}

/* Whether a stack root of thread t lies in the frames searched for what it waits on in w. */
static bool in_wait_frames(const ds__build *b, const ds__wait *w, const ds_index_root *root) {
  return root->object < b->n && root->frame < b->roots->frame_count && root->frame <= w->frame + 1;
}

/* The first object of the wanted type that references an object on t's stack within the searched
 * frames (from the incoming references), or UINT32_MAX. */
static uint32_t owner_on_stack(ds__build *b, uint32_t t, const ds__wait *w) {
  for (uint32_t s = b->stack_root_start[t]; s < b->stack_root_start[t + 1]; s++) {
    const ds_index_root *root = &b->iroots[b->stack_roots[s]];
    if (!in_wait_frames(b, w, root))
      continue;
    for (uint32_t e = b->in_off[root->object]; e < b->in_off[root->object + 1]; e++)
      if (has_wanted_type(b, w, b->in_edge[e]))
        return b->in_edge[e];
  }
  return UINT32_MAX;
}

/* A dump without a walkable heap (taken during a GC) has no objects to score: the monitor thread t
 * waits on is a stack root of the blocking frame (or its caller) whose address is a sync block's
 * object held by another thread. Both addresses are the GC's view of the moment (a relocation
 * updates stack roots and sync blocks alike), so they agree outside the relocation itself. */
static void monitor_by_address(ds__build *b, uint32_t t, ds__wait *w) {
  const ds_root_set *roots = b->roots;
  for (size_t r = 0; r < roots->root_count; r++) {
    const ds_index_root *root = &b->iroots[r];
    if (root->kind != DS_ROOT_STACK || root->thread != t || root->frame >= roots->frame_count ||
        root->frame > w->frame + 1)
      continue;
    const ds__monitor *m = monitor_of(b, root->raw_object);
    if (m && m->owner != UINT32_MAX && m->owner != t) {
      w->monitor = m->address;
      w->holder = m->owner;
      return;
    }
  }
}

/* What thread t is blocked on: the blocking frame (the highest row among its innermost frames),
 * the object it waits for (from the stack roots of that frame and its caller), and who holds it. */
static void analyse_wait(ds__build *b, uint32_t t, ds__wait *w) {
  *w = (ds__wait){.frame = UINT32_MAX, .object = UINT32_MAX, .holder = UINT32_MAX};
  const ds_index_thread *th = &b->ithreads[t];
  if (!th->alive)
    return;
  size_t frame_count = b->roots->frame_count, best = LOCK_KIND_COUNT;
  uint32_t window = th->frame_count < WAIT_WINDOW ? th->frame_count : WAIT_WINDOW;
  for (uint32_t f = 0; f < window; f++) {
    size_t fi = (size_t)th->first_frame + f;
    if (fi >= frame_count)
      break;
    const char *mode = NULL, *method = b->roots->frames[fi].method;
    size_t k = classify_frame(method ? method : "", &mode);
    if (k < best) {
      best = k;
      w->mode = mode;
      w->frame = (uint32_t)fi;
    }
  }
  if (best == LOCK_KIND_COUNT)
    return;
  w->kind = &lock_kinds[best];
  w->name = w->kind->name;
  w->flags = w->kind->flags;
  if (w->kind->search == SEARCH_NONE)
    return;
  int best_score = -1;
  for (uint32_t s = b->stack_root_start[t]; s < b->stack_root_start[t + 1]; s++) {
    const ds_index_root *root = &b->iroots[b->stack_roots[s]];
    if (!in_wait_frames(b, w, root))
      continue;
    int score = root_score(b, t, w, root);
    if (score > best_score) {
      best_score = score;
      w->object = root->object;
    }
  }
  if (w->object == UINT32_MAX && w->kind->search == SEARCH_TYPE_OR_OWNER)
    w->object = owner_on_stack(b, t, w);
  if (!b->n && w->kind->search == SEARCH_MONITOR)
    monitor_by_address(b, t, w);
  if (w->object != UINT32_MAX && w->kind->owner) {
    w->holder = w->kind->owner(b, w->object, w->mode, &w->readers);
    if (w->holder == t)
      w->holder = UINT32_MAX;
  }
}

static ds_status analyse_waits(ds__build *b, ds_error *err) {
  size_t threads = b->roots->thread_count;
  b->waits = calloc(threads + 1, sizeof *b->waits);
  if (!b->waits)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the waits of %zu threads", threads);
  ds_status rc = group_stack_roots(b, err);
  if (rc != DS_OK)
    return rc;
  for (size_t t = 0; t < threads; t++) {
    ds__wait *w = &b->waits[t];
    analyse_wait(b, (uint32_t)t, w);
    if (!w->kind)
      continue;
    ds_index_wait iw = {(uint32_t)t, ds__intern(b, w->name), w->mode ? ds__intern(b, w->mode) : 0, w->frame,
                        w->object, w->holder, w->readers, (w->flags & DS__LK_READERS) ? DS_WAIT_READERS : 0};
    DS__VEC_PUSH(b->iwaits, iw, DS_MAX_THREADS, rc);
    if (rc != DS_OK)
      return ds__vec_error(err, rc, "waits", DS_MAX_THREADS, "DS_MAX_THREADS");
  }
  return DS_OK;
}

/* ---- lock instances --------------------------------------------------------------------------- */

/* Appends the threads waiting on object in a way that lists them as its waiters (DS__LK_WAITER),
 * in thread order, with their modes; *count of them (count_only: only counts). */
static ds_status add_lock_waiters(ds__build *b, uint32_t object, uint64_t monitor, bool count_only, uint32_t *count,
                                  ds_error *err) {
  *count = 0;
  for (size_t t = 0; t < b->roots->thread_count; t++) {
    const ds__wait *w = &b->waits[t];
    bool same = object != UINT32_MAX ? w->object == object : monitor && w->monitor == monitor;
    if (!same || !(w->flags & DS__LK_WAITER))
      continue;
    ++*count;
    if (count_only)
      continue;
    ds_status rc = DS_OK;
    ds_index_waiter iw = {(uint32_t)t, w->mode ? ds__intern(b, w->mode) : 0, UINT32_MAX, 0};
    DS__VEC_PUSH(b->waiters, iw, DS_MAX_OBJECTS, rc);
    if (rc != DS_OK)
      return ds__vec_error(err, rc, "waiting threads", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
  }
  return DS_OK;
}

ds_status ds__lock_waiters(ds__build *b, uint32_t object, uint32_t *first, uint32_t *count, ds_error *err) {
  *first = (uint32_t)b->waiters.count;
  return add_lock_waiters(b, object, 0, false, count, err);
}

/* Appends a lock instance with its values and (when it is in the heap) its waiters. */
static ds_status add_lock(ds__build *b, uint64_t address, uint32_t object, const char *kind, uint32_t flags,
                          const lock_values *values, ds_error *err) {
  ds_index_lock lock = {.address = address, .object = object, .kind = ds__intern(b, kind), .flags = flags,
                        .first_value = (uint32_t)b->lock_values.count, .value_count = (uint32_t)values->count,
                        .first_waiter = (uint32_t)b->waiters.count};
  ds_status rc = DS_OK;
  if ((object < b->n || (!b->n && flags == DS_LOCK_MONITOR)) &&
      (rc = add_lock_waiters(b, object, address, false, &lock.waiter_count, err)) != DS_OK)
    return rc;
  for (size_t v = 0; v < values->count && rc == DS_OK; v++)
    DS__VEC_PUSH(b->lock_values, values->items[v], DS_MAX_OBJECTS, rc);
  if (rc == DS_OK)
    DS__VEC_PUSH(b->ilocks, lock, DS_MAX_OBJECTS, rc);
  return rc == DS_OK ? DS_OK : ds__vec_error(err, rc, "lock instances", DS_MAX_OBJECTS, "DS_MAX_OBJECTS");
}

/* Monitors that are held or waited on (a sync block kept for a hash code only is not). */
static ds_status list_monitors(ds__build *b, ds_error *err) {
  for (size_t k = 0; k < b->monitors.count; k++) {
    const ds__monitor *m = &b->monitors.items[k];
    uint32_t waiter_count = 0;
    ds_status rc;
    if ((m->object < b->n || !b->n) &&
        (rc = add_lock_waiters(b, m->object, m->address, true, &waiter_count, err)) != DS_OK)
      return rc;
    if (m->owner == UINT32_MAX && waiter_count == 0)
      continue;
    bool sync_block = m->kind == DS__MONITOR_SYNC_BLOCK;
    lock_values values = {.b = b};
    value_thread(&values, "held_by", m->owner);
    value_int(&values, "recursion", m->recursion);
    if (sync_block)
      value_int(&values, "sync_block", m->sync_block);
    value_waiters(&values);
    if ((rc = add_lock(b, m->address, m->object, sync_block ? "sync block" : "thin lock", DS_LOCK_MONITOR, &values,
                       err)) != DS_OK)
      return rc;
  }
  return DS_OK;
}

/* Whether object is referenced by a lock whose kind reports its parts itself (the inner events
 * of a Barrier or a CountdownEvent, whose waiters are that lock's). */
static bool part_of_lock(const ds__build *b, const ds__lock_kind *const *kind_of_type, uint32_t object) {
  for (uint32_t e = b->in_off[object]; e < b->in_off[object + 1]; e++) {
    uint32_t t = b->type.items[b->in_edge[e]];
    if (t < b->type_total && kind_of_type[t] && (kind_of_type[t]->flags & DS__LK_HAS_PARTS))
      return true;
  }
  return false;
}

/* Objects of the lock types in use, in address order; which types those are is decided once per
 * type, not per object. */
static ds_status list_lock_objects(ds__build *b, ds_error *err) {
  const ds__lock_kind **kind_of_type = calloc(b->type_total + 1, sizeof *kind_of_type);
  if (!kind_of_type)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the lock types");
  bool any = false;
  for (size_t t = 0; t < b->type_total; t++)
    for (size_t k = 0; k < LOCK_KIND_COUNT; k++)
      if (lock_kinds[k].state && strcmp(pool_text(b, b->types[t].name), lock_kinds[k].type_name) == 0) {
        kind_of_type[t] = &lock_kinds[k];
        any = true;
        break;
      }
  ds_status rc = DS_OK;
  for (size_t i = 0; any && rc == DS_OK && i < b->n; i++) {
    uint32_t t = b->type.items[i];
    const ds__lock_kind *kind = t < b->type_total ? kind_of_type[t] : NULL;
    if (!kind)
      continue;
    uint32_t waiter_count = 0;
    lock_values values = {.b = b};
    if ((rc = add_lock_waiters(b, (uint32_t)i, 0, true, &waiter_count, err)) == DS_OK &&
        !(waiter_count == 0 && part_of_lock(b, kind_of_type, (uint32_t)i)) &&
        kind->state(b, (uint32_t)i, waiter_count, &values))
      rc = add_lock(b, b->addr.items[i], (uint32_t)i, kind->name, 0, &values, err);
  }
  free(kind_of_type);
  return rc;
}

/* ---- the phase -------------------------------------------------------------------------------- */

ds_status ds__build_locks(ds__build *b, ds_error *err) {
  double t_locks = ds__now_ms();
  ds_status rc;
  if ((rc = collect_monitors(b, err)) != DS_OK || (rc = analyse_waits(b, err)) != DS_OK ||
      (rc = list_monitors(b, err)) != DS_OK || (rc = list_lock_objects(b, err)) != DS_OK ||
      (rc = ds__build_wait_graph(b, err)) != DS_OK)
    return rc;
  struct { ds_section_id id; const void *data; uint64_t size; } secs[] = {
      {DS_SEC_WAITS, b->iwaits.items, b->iwaits.count * sizeof *b->iwaits.items},
      {DS_SEC_LOCKS, b->ilocks.items, b->ilocks.count * sizeof *b->ilocks.items},
      {DS_SEC_LOCK_VALUES, b->lock_values.items, b->lock_values.count * sizeof *b->lock_values.items},
      {DS_SEC_LOCK_WAITERS, b->waiters.items, b->waiters.count * sizeof *b->waiters.items},
      {DS_SEC_DEADLOCKS, b->deadlocks.items, b->deadlocks.count * sizeof *b->deadlocks.items},
  }; /* the findings go out with the heap's, in the findings phase */
  double t_write = ds__now_ms();
  b->stats->locks_ms = t_write - t_locks;
  for (size_t s = 0; s < sizeof secs / sizeof *secs; s++)
    if ((rc = ds_index_writer_add(b->w, secs[s].id, secs[s].data ? secs[s].data : "", secs[s].size, err)) != DS_OK)
      return rc;
  b->stats->write_ms += ds__now_ms() - t_write;
  return DS_OK;
}
