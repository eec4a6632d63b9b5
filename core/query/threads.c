/*
 * threads.c: questions about threads and synchronisation, answered from the index: managed
 * threads and their stacks, what each blocked thread waits on, the locks in use with their state
 * and waiters, wait-for cycles and contention, and findings.
 *
 * The analysis (core/analyze/locks.c) decided all of that when it built the index; this file only
 * renders its sections (DS_SEC_WAITS, _LOCKS, _LOCK_VALUES, _LOCK_WAITERS, _DEADLOCKS,
 * _FINDINGS), whose every thread, object and string reference ds_index_open has checked. It knows
 * no lock kind: names and state come from the index as text and named values.
 */
#include "dumpscope/query.h"
#include "dumpscope/threadroles.h"

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

/* The sections of the lock analysis, as record arrays. */
typedef struct lock_sections {
  const ds_index_wait *waits;
  uint64_t wait_count;
  const ds_index_lock *locks;
  uint64_t lock_count;
  const ds_index_lock_value *values;
  uint64_t value_count;
  const ds_index_waiter *waiters;
  uint64_t waiter_count;
  const ds_index_deadlock *deadlocks;
  uint64_t deadlock_count;
  const ds_index_finding *findings;
  uint64_t finding_count;
} lock_sections;

/* Checks the sections the thread and lock queries read and maps them. */
static bool require_threads(ds_query *q, lock_sections *s, ds_error *err) {
  static const ds_section_id ids[] = {DS_SEC_THREADS,      DS_SEC_FRAMES,    DS_SEC_FIELDS,
                                      DS_SEC_WAITS,        DS_SEC_LOCKS,     DS_SEC_LOCK_VALUES,
                                      DS_SEC_LOCK_WAITERS, DS_SEC_DEADLOCKS, DS_SEC_FINDINGS};
  if (!ds__require_objects(q, err))
    return false;
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
    if (!ds__need(q, ids[i], err))
      return false;
  ds__view v;
  v = ds__section_view(q->idx, DS_SEC_WAITS, sizeof *s->waits);
  s->waits = v.data, s->wait_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_LOCKS, sizeof *s->locks);
  s->locks = v.data, s->lock_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_LOCK_VALUES, sizeof *s->values);
  s->values = v.data, s->value_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_LOCK_WAITERS, sizeof *s->waiters);
  s->waiters = v.data, s->waiter_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_DEADLOCKS, sizeof *s->deadlocks);
  s->deadlocks = v.data, s->deadlock_count = v.count;
  v = ds__section_view(q->idx, DS_SEC_FINDINGS, sizeof *s->findings);
  s->findings = v.data, s->finding_count = v.count;
  return true;
}

/* The wait of thread t (the section is sorted by thread), or NULL when it is not blocked. */
static const ds_index_wait *wait_of(const lock_sections *s, uint32_t t) {
  uint64_t lo = 0, hi = s->wait_count;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (s->waits[mid].thread < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->wait_count && s->waits[lo].thread == t ? &s->waits[lo] : NULL;
}

static json_t *frame_json(const ds_query *q, uint64_t fi) {
  const ds_index_frame *f = &q->frames[fi];
  return json_pack("{s:o,s:o,s:o,s:b}", "method", ds__jstr(ds_index_string(q->idx, f->method)), "sp", ds__json_hex(f->sp), "ip",
                   ds__json_hex(f->ip), "runtime_frame", f->frame_address != 0);
}

static json_t *wait_json(ds_query *q, const ds_index_wait *w) {
  if (!w)
    return json_null();
  json_t *j = json_object();
  ds__jset(j, "kind", ds__jstr(ds_index_string(q->idx, w->kind)));
  if (w->mode)
    ds__jset(j, "mode", ds__jstr(ds_index_string(q->idx, w->mode)));
  if (w->frame < q->frame_count)
    ds__jset(j, "frame", ds__jstr(ds_index_string(q->idx, q->frames[w->frame].method)));
  ds__jset(j, "object", w->object < q->n ? ds__object_ref(q, w->object) : json_null());
  ds__jset(j, "held_by", thread_ref(q, w->holder));
  if (w->flags & DS_WAIT_READERS)
    ds__jset(j, "readers", json_integer(w->readers));
  return j;
}

/* Thread t with what it waits on, under key. */
static json_t *thread_waiting(ds_query *q, const lock_sections *s, uint32_t t, const char *key) {
  json_t *j = thread_ref(q, t);
  ds__jset(j, key, wait_json(q, wait_of(s, t)));
  return j;
}

/* A run of the thread lists: {os_id, managed_id, mode?} each. */
static json_t *waiters_json(ds_query *q, const lock_sections *s, uint32_t first, uint32_t count) {
  json_t *list = json_array();
  for (uint64_t k = first; k < (uint64_t)first + count && k < s->waiter_count; k++) {
    json_t *r = thread_ref(q, s->waiters[k].thread);
    if (s->waiters[k].mode)
      ds__jset(r, "mode", ds__jstr(ds_index_string(q->idx, s->waiters[k].mode)));
    ds__jappend(list, r);
  }
  return list;
}

/* The frames of one thread, for the role table (threadroles.h). */
typedef struct thread_frames {
  const ds_query *q;
  const ds_index_thread *thread;
} thread_frames;

static const char *frame_method(const void *ctx, uint32_t k) {
  const thread_frames *tf = ctx;
  uint64_t fi = (uint64_t)tf->thread->first_frame + k;
  return k < tf->thread->frame_count && fi < tf->q->frame_count ? ds_index_string(tf->q->idx, tf->q->frames[fi].method)
                                                                 : NULL;
}

static ds_status query_threads(ds_query *q, json_t **out, ds_error *err) {
  lock_sections s;
  if (!require_threads(q, &s, err))
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
    thread_frames tf = {q, th};
    const ds_thread_role *role = ds_thread_role_of(th->state, th->alive, th->finalizer, th->frame_count, frame_method, &tf);
    ds__jset(j, "role", ds__jstr(role->name));
    ds__jset(j, "system_thread", json_boolean(role->system));
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
    uint32_t managed = ds_first_managed_frame(th->frame_count, frame_method, &tf);
    ds__jset(j, "top_method", managed != UINT32_MAX ? frame_json(q, top + managed) : json_null());
    ds__jset(j, "waiting_on", wait_json(q, wait_of(&s, (uint32_t)t)));
    ds__jappend(list, j);
  }
  *out = json_pack("{s:o}", "threads", list);
  return DS_OK;
}

static ds_status query_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  lock_sections s;
  if (!require_threads(q, &s, err))
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
  *out = json_pack("{s:i,s:i,s:o,s:o}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id, "frames", frames,
                   "waiting_on", wait_json(q, wait_of(&s, ti)));
  return DS_OK;
}

/* One lock instance: its kind, its object, then its named values in their order. */
static json_t *lock_json(ds_query *q, const lock_sections *s, const ds_index_lock *l) {
  json_t *j = json_object();
  ds__jset(j, "kind", ds__jstr(ds_index_string(q->idx, l->kind)));
  ds__jset(j, "object", l->object < q->n ? ds__object_ref(q, l->object) : ds__json_hex(l->address));
  for (uint64_t k = l->first_value; k < (uint64_t)l->first_value + l->value_count && k < s->value_count; k++) {
    const ds_index_lock_value *v = &s->values[k];
    const char *name = ds_index_string(q->idx, v->name);
    switch (v->type) {
    case DS_VALUE_INT: ds__jset(j, name, json_integer((json_int_t)v->value)); break;
    case DS_VALUE_BOOL: ds__jset(j, name, json_boolean(v->value != 0)); break;
    case DS_VALUE_THREAD: ds__jset(j, name, thread_ref(q, (uint32_t)v->value)); break;
    case DS_VALUE_WAITERS: ds__jset(j, name, waiters_json(q, s, l->first_waiter, l->waiter_count)); break;
    default: break;
    }
  }
  return j;
}

static ds_status query_locks(ds_query *q, json_t **out, ds_error *err) {
  lock_sections s;
  if (!require_threads(q, &s, err))
    return err->code;
  json_t *monitors = json_array(), *others = json_array();
  for (uint64_t k = 0; k < s.lock_count; k++)
    ds__jappend(s.locks[k].flags & DS_LOCK_MONITOR ? monitors : others, lock_json(q, &s, &s.locks[k]));
  *out = json_pack("{s:o,s:o}", "monitors", monitors, "other_locks", others);
  return DS_OK;
}

static ds_status query_waits(ds_query *q, json_t **out, ds_error *err) {
  lock_sections s;
  if (!require_threads(q, &s, err))
    return err->code;
  json_t *list = json_array();
  for (uint64_t k = 0; k < s.wait_count; k++)
    ds__jappend(list, thread_waiting(q, &s, s.waits[k].thread, "waiting_on"));
  *out = json_pack("{s:o}", "waits", list);
  return DS_OK;
}

/* A cycle: {threads: [member with waits_for, holds, stack]}. */
static json_t *cycle_json(ds_query *q, const lock_sections *s, const ds_index_deadlock *d) {
  json_t *members = json_array();
  for (uint64_t k = d->first_waiter; k < (uint64_t)d->first_waiter + d->waiter_count && k < s->waiter_count; k++) {
    const ds_index_waiter *m = &s->waiters[k];
    json_t *j = thread_waiting(q, s, m->thread, "waits_for");
    json_t *holds = json_array();
    if (m->object < q->n)
      ds__jappend(holds, ds__object_ref(q, m->object));
    ds__jset(j, "holds", holds);
    json_t *frames = json_array();
    const ds_index_thread *th = &q->threads[m->thread];
    for (uint32_t f = 0; f < th->frame_count && f < 32; f++)
      if ((uint64_t)th->first_frame + f < q->frame_count)
        ds__jappend(frames, frame_json(q, (uint64_t)th->first_frame + f));
    ds__jset(j, "stack", frames);
    ds__jappend(members, j);
  }
  return json_pack("{s:o}", "threads", members);
}

static ds_status query_deadlocks(ds_query *q, json_t **out, ds_error *err) {
  lock_sections s;
  if (!require_threads(q, &s, err))
    return err->code;
  json_t *cycles = json_array(), *contention = json_array();
  for (uint64_t k = 0; k < s.deadlock_count; k++) {
    const ds_index_deadlock *d = &s.deadlocks[k];
    if (d->type == DS_DEADLOCK_CYCLE)
      ds__jappend(cycles, cycle_json(q, &s, d));
    else if (d->type == DS_DEADLOCK_CONTENTION && d->object < q->n)
      ds__jappend(contention, json_pack("{s:o,s:o,s:o,s:o}", "object", ds__object_ref(q, d->object), "kind",
                                        ds__jstr(ds_index_string(q->idx, d->kind)), "held_by",
                                        thread_ref(q, d->holder), "waiters",
                                        waiters_json(q, &s, d->first_waiter, d->waiter_count)));
  }
  *out = json_pack("{s:o,s:o}", "deadlocks", cycles, "contention", contention);
  return DS_OK;
}

/* The details of a finding, by their kind. */
static json_t *finding_details(ds_query *q, const lock_sections *s, const ds_index_finding *f) {
  switch (f->details) {
  case DS_FINDING_CYCLE:
    return f->ref < s->deadlock_count ? cycle_json(q, s, &s->deadlocks[f->ref]) : json_null();
  case DS_FINDING_THREAD:
    return thread_waiting(q, s, f->ref, "waiting_on");
  case DS_FINDING_THREADS: {
    json_t *list = json_array();
    for (uint64_t k = f->first_waiter; k < (uint64_t)f->first_waiter + f->waiter_count && k < s->waiter_count; k++)
      ds__jappend(list, thread_waiting(q, s, s->waiters[k].thread, "waiting_on"));
    return list;
  }
  case DS_FINDING_LOCK:
    if (f->object >= q->n)
      return json_null();
    return json_pack("{s:o,s:o,s:o}", "object", ds__object_ref(q, f->object), "held_by", thread_ref(q, f->holder),
                     "waiters", waiters_json(q, s, f->first_waiter, f->waiter_count));
  default:
    return json_null();
  }
}

/* Rank of a severity word: error first, then warning, information, notification, anything else. */
static int severity_rank(const char *severity) {
  static const char *const order[] = {DS_SEVERITY_ERROR, DS_SEVERITY_WARNING, DS_SEVERITY_INFORMATION,
                                      DS_SEVERITY_NOTIFICATION};
  for (int r = 0; r < 4; r++)
    if (strcmp(severity, order[r]) == 0)
      return r;
  return 4;
}

/* One finding: its text, the threshold it compared against, its evidence, and its details. */
static json_t *finding_json(ds_query *q, const lock_sections *s, const ds_index_finding *f) {
  json_t *j = json_object();
  ds__jset(j, "severity", ds__jstr(ds_index_string(q->idx, f->severity)));
  ds__jset(j, "code", ds__jstr(ds_index_string(q->idx, f->code)));
  ds__jset(j, "title", ds__jstr(ds_index_string(q->idx, f->title)));
  ds__jset(j, "description", ds__jstr(ds_index_string(q->idx, f->description)));
  ds__jset(j, "recommendation", ds__jstr(ds_index_string(q->idx, f->recommendation)));
  ds__jset(j, "setting", f->setting ? ds__setting_json(q, f->setting) : json_null());
  ds__jset(j, "evidence", ds__evidence_json(q, f->first_evidence, f->evidence_count));
  ds__jset(j, "details", finding_details(q, s, f));
  return j;
}

json_t *ds__findings_json(ds_query *q, ds_error *err) {
  lock_sections s;
  if (!require_threads(q, &s, err) || !ds__need(q, DS_SEC_EVIDENCE, err) || !ds__need(q, DS_SEC_SETTINGS, err))
    return NULL;
  json_t *list = json_array();
  /* most severe first; in the order the analysis made them within a severity */
  for (int rank = 0; rank <= 4; rank++)
    for (uint64_t k = 0; k < s.finding_count; k++)
      if (severity_rank(ds_index_string(q->idx, s.findings[k].severity)) == rank)
        ds__jappend(list, finding_json(q, &s, &s.findings[k]));
  return list;
}

static ds_status query_findings(ds_query *q, json_t **out, ds_error *err) {
  json_t *list = ds__findings_json(q, err);
  if (!list)
    return err->code;
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
