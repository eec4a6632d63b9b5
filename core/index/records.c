/*
 * records.c: the analysis' sections of an index (locks, findings, evidence, report) refer to
 * threads, frames, objects, strings and each other by number: every such number is checked once,
 * at open, so queries can use them without checks.
 */
#include "indexint.h"


/* What the references of the lock sections must stay below. */
typedef struct ref_bounds {
  uint64_t threads, frames, objects, strings, values, waiters, deadlocks, types, evidence;
} ref_bounds;

static bool opt_thread(const ref_bounds *b, uint32_t t) { return t == UINT32_MAX || t < b->threads; }
static bool opt_object(const ref_bounds *b, uint32_t o) { return o == UINT32_MAX || o < b->objects; }
static bool range_in(uint32_t first, uint32_t count, uint64_t total) { return (uint64_t)first + count <= total; }

static bool wait_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_wait *w = rec;
  return w->thread < b->threads && (i == 0 || w[-1].thread < w->thread) && w->kind < b->strings &&
         w->mode < b->strings && (w->frame == UINT32_MAX || w->frame < b->frames) && opt_object(b, w->object) &&
         opt_thread(b, w->holder);
}

static bool lock_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_lock *l = rec;
  (void)i;
  return opt_object(b, l->object) && l->kind < b->strings && range_in(l->first_value, l->value_count, b->values) &&
         range_in(l->first_waiter, l->waiter_count, b->waiters);
}

static bool value_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_lock_value *v = rec;
  (void)i;
  if (v->name >= b->strings || v->type == 0 || v->type >= DS_VALUE_TYPE_COUNT_)
    return false;
  return v->type != DS_VALUE_THREAD || (v->value >= 0 && v->value <= UINT32_MAX && opt_thread(b, (uint32_t)v->value));
}

static bool waiter_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_waiter *w = rec;
  (void)i;
  return w->thread < b->threads && w->mode < b->strings && opt_object(b, w->object);
}

static bool deadlock_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_deadlock *d = rec;
  (void)i;
  return d->type != 0 && d->type < DS_DEADLOCK_TYPE_COUNT_ && opt_object(b, d->object) && d->kind < b->strings &&
         opt_thread(b, d->holder) && range_in(d->first_waiter, d->waiter_count, b->waiters);
}

static bool finding_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_finding *f = rec;
  (void)i;
  if (f->severity >= b->strings || f->title >= b->strings || f->description >= b->strings ||
      f->recommendation >= b->strings || f->details >= DS_FINDING_DETAILS_COUNT_ || !opt_object(b, f->object) ||
      !opt_thread(b, f->holder) || !range_in(f->first_waiter, f->waiter_count, b->waiters) ||
      f->code >= b->strings || f->setting >= b->strings || !range_in(f->first_evidence, f->evidence_count, b->evidence))
    return false;
  if (f->details == DS_FINDING_CYCLE)
    return f->ref < b->deadlocks;
  if (f->details == DS_FINDING_THREAD)
    return f->ref < b->threads;
  return true;
}

static bool evidence_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_evidence *e = rec;
  (void)i;
  if (e->label >= b->strings)
    return false;
  switch (e->kind) {
  case DS_EVIDENCE_TYPE: return e->ref < b->types;
  case DS_EVIDENCE_OBJECT: return e->ref < b->objects;
  case DS_EVIDENCE_THREAD: return e->ref < b->threads;
  default: return false;
  }
}

static bool setting_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  (void)i;
  return ((const ds_index_setting *)rec)->name < b->strings;
}

static bool report_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_report *r = rec;
  return i == 0 && range_in(r->first_duplicate, r->duplicate_count, b->evidence) &&
         range_in(r->first_large, r->large_count, b->evidence) &&
         range_in(r->first_exception, r->exception_count_groups, b->evidence) && r->dump_kind < DS_DUMP_KIND_COUNT_;
}

static bool suspect_ok(const ref_bounds *b, const void *rec, uint64_t i) {
  const ds_index_suspect *s = rec;
  (void)i;
  if (s->description >= b->strings || !range_in(s->first_group, s->group_count, b->evidence))
    return false;
  if (s->kind == DS_SUSPECT_OBJECT)
    return s->ref < b->objects && opt_object(b, s->accumulation);
  return s->kind == DS_SUSPECT_TYPE && s->ref < b->types && s->accumulation == UINT32_MAX;
}

/* Checks every record of the analysis' sections (locks, findings, evidence, report); DS_E_CORRUPT
 * naming the first bad one. */
ds_status ds__check_record_sections(const ds_index *idx, const char *path, ds_error *err) {
  ref_bounds b = {
      .threads = idx->sections[DS_SEC_THREADS].size / sizeof(ds_index_thread),
      .frames = idx->sections[DS_SEC_FRAMES].size / sizeof(ds_index_frame),
      .objects = idx->info->object_count,
      .strings = idx->strings_size,
      .values = idx->sections[DS_SEC_LOCK_VALUES].size / sizeof(ds_index_lock_value),
      .waiters = idx->sections[DS_SEC_LOCK_WAITERS].size / sizeof(ds_index_waiter),
      .deadlocks = idx->sections[DS_SEC_DEADLOCKS].size / sizeof(ds_index_deadlock),
      .types = idx->info->type_count,
      .evidence = idx->sections[DS_SEC_EVIDENCE].size / sizeof(ds_index_evidence),
  };
  static const struct {
    ds_section_id id;
    bool (*ok)(const ref_bounds *, const void *, uint64_t);
  } checks[] = {
      {DS_SEC_WAITS, wait_ok},         {DS_SEC_LOCKS, lock_ok},         {DS_SEC_LOCK_VALUES, value_ok},
      {DS_SEC_LOCK_WAITERS, waiter_ok}, {DS_SEC_DEADLOCKS, deadlock_ok}, {DS_SEC_FINDINGS, finding_ok},
      {DS_SEC_EVIDENCE, evidence_ok},   {DS_SEC_SETTINGS, setting_ok},   {DS_SEC_REPORT, report_ok},
      {DS_SEC_SUSPECTS, suspect_ok},
  };
  for (size_t c = 0; c < sizeof checks / sizeof *checks; c++) {
    uint32_t es = ds__section_element_size(checks[c].id);
    const uint8_t *data = idx->sections[checks[c].id].data;
    uint64_t count = idx->sections[checks[c].id].size / es;
    for (uint64_t i = 0; i < count; i++)
      if (!checks[c].ok(&b, data + i * es, i))
        return ds_error_set(err, DS_E_CORRUPT, "index %s: record %llu of section \"%s\" refers outside the index",
                            path, (unsigned long long)i, ds__section_name(checks[c].id));
  }
  return DS_OK;
}
