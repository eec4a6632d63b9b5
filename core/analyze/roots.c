/*
 * roots.c: build a ds_root_set from the DAC (threads, stacks, handles, finalization queue, sync
 * blocks).
 *
 * The DAC facts come from core/dac/stack.c (dacstack.h) and the handle walk of bridge.c; this
 * file only arranges them: frames in one array with their thread, stack references attributed
 * to a frame, handle types mapped to root kinds, queue slots read from the dump. Partial
 * failures become warnings (rootscan.h).
 */
#include "dumpscope/rootscan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacstack.h"

#include "analyzeint.h"

/* Frees everything a collection allocated, leaving an empty set. */
void ds_root_set_free(ds_root_set *set) {
  if (!set)
    return;
  for (size_t i = 0; i < set->frame_count; i++)
    free(set->frames[i].method);
  free(set->frames);
  for (size_t i = 0; i < set->var_count; i++)
    free(set->vars[i].name);
  free(set->vars);
  free(set->roots);
  free(set->threads);
  free(set->finalizable);
  free(set->sync_blocks);
  memset(set, 0, sizeof *set);
}

/* ---- building the set ------------------------------------------------------------------- */

typedef struct collector {
  ds_analysis *analysis;
  ds_root_set *set;
  size_t root_cap, frame_cap, finalizable_cap, var_cap;
  ds_status failed;           /* first failure inside a callback */
  ds_error *err;
} collector;

/* Appends to set->warnings, marking the end when it no longer fits. */
static void warn(ds_root_set *set, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(ds_root_set *set, const char *fmt, ...) {
  size_t used = strnlen(set->warnings, sizeof set->warnings);
  static const char more[] = " ...";
  if (used + sizeof more >= sizeof set->warnings)
    return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t room = sizeof set->warnings - used - sizeof more;
  int n = snprintf(set->warnings + used, room, "%s%s", used ? "; " : "", line);
  if (n < 0 || (size_t)n >= room)
    memcpy(set->warnings + sizeof set->warnings - sizeof more, more, sizeof more);
}

/* Grows *items (of *cap elements of size bytes) to hold one more, bounded by limit. */
static ds_status grow(void **items, size_t *cap, size_t used, size_t size, size_t limit, const char *what,
                      ds_error *err) {
  if (used < *cap)
    return DS_OK;
  if (used >= limit)
    return ds_error_set(err, DS_E_LIMIT, "more than %zu %s", limit, what);
  size_t next = *cap ? *cap * 2 : 256;
  if (next > limit)
    next = limit;
  void *grown = realloc(*items, next * size);
  if (!grown)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for %zu %s", next, what);
  *items = grown;
  *cap = next;
  return DS_OK;
}

/* Appends one root under DS_MAX_ROOTS. */
static ds_status add_root(collector *c, const ds_root *root) {
  ds_root_set *set = c->set;
  ds_status rc = grow((void **)&set->roots, &c->root_cap, set->root_count, sizeof *set->roots, DS_MAX_ROOTS,
                      "roots (DS_MAX_ROOTS)", c->err);
  if (rc == DS_OK)
    set->roots[set->root_count++] = *root;
  return rc;
}

typedef struct walk_ctx {
  collector *c;
  uint32_t thread;
  uint32_t depth;
} walk_ctx;

/* Keeps one variable of the frame just added. */
static ds_status on_var(void *ctx, const ds_dac_var *var) {
  walk_ctx *w = ctx;
  ds_root_set *set = w->c->set;
  ds_status rc = grow((void **)&set->vars, &w->c->var_cap, set->var_count, sizeof *set->vars, DS_MAX_FRAME_VARS,
                      "frame variables (DS_MAX_FRAME_VARS)", w->c->err);
  if (rc != DS_OK)
    return rc;
  char *name = strdup(var->name);
  if (!name)
    return ds_error_set(w->c->err, DS_E_NOMEM, "out of memory for a variable name");
  ds_frame_var *v = &set->vars[set->var_count++];
  *v = (ds_frame_var){.frame = (uint32_t)(set->frame_count - 1), .index = var->index, .is_argument = var->is_argument,
                      .name = name, .flags = var->flags, .has_address = var->has_address,
                      .has_value = var->has_value, .address = var->address, .size = var->size};
  memcpy(v->bytes, var->bytes, sizeof v->bytes);
  return DS_OK;
}

/* Keeps one frame of a thread's walk, with its arguments and locals. */
static ds_status on_frame(void *ctx, const ds_dac_frame *frame) {
  walk_ctx *w = ctx;
  ds_root_set *set = w->c->set;
  ds_status rc = grow((void **)&set->frames, &w->c->frame_cap, set->frame_count, sizeof *set->frames,
                      DS_MAX_TOTAL_FRAMES, "stack frames (DS_MAX_TOTAL_FRAMES)", w->c->err);
  if (rc != DS_OK)
    return rc;
  char *method = strdup(frame->name);
  if (!method)
    return ds_error_set(w->c->err, DS_E_NOMEM, "out of memory for a method name");
  set->frames[set->frame_count++] = (ds_frame_info){
      .thread = w->thread,
      .depth = w->depth++,
      .sp = frame->sp,
      .ip = frame->ip,
      .frame_address = frame->frame_address,
      .method = method,
      .il_offset = UINT32_MAX,
  };
  if (frame->frame_address)
    return DS_OK;
  ds_error ignore = {0};
  uint32_t il_offset = UINT32_MAX;
  rc = ds_dac_frame_variables(w->c->analysis->dac, frame, &il_offset, on_var, w, &ignore);
  set->frames[set->frame_count - 1].il_offset = il_offset;
  return rc == DS_E_NOMEM ? rc : DS_OK; /* what the DAC cannot tell, or past the cap, is left out */
}

/* The frame of [first, end) a stack reference belongs to: the one whose IP and SP it names (or
 * whose explicit Frame it names); failing that, the frame nearest to its stack pointer. */
static uint32_t attribute(const ds_root_set *set, size_t first, size_t end, const ds_dacp_stack_ref *ref) {
  for (size_t i = first; i < end; i++) {
    const ds_frame_info *f = &set->frames[i];
    if (ref->source_type == DS_STACK_SOURCE_FRAME ? f->frame_address == ref->source
                                                  : f->frame_address == 0 && f->ip == ref->source &&
                                                        f->sp == ref->stack_pointer)
      return (uint32_t)i;
  }
  uint32_t best = UINT32_MAX;
  uint64_t best_distance = UINT64_MAX;
  for (size_t i = first; i < end; i++) {
    const ds_frame_info *f = &set->frames[i];
    uint64_t distance = f->sp > ref->stack_pointer ? f->sp - ref->stack_pointer : ref->stack_pointer - f->sp;
    if (distance < best_distance) {
      best_distance = distance;
      best = (uint32_t)i;
    }
  }
  return best;
}

/* Frames and stack roots of one live thread. Only resource failures are returned; what the DAC
 * cannot tell becomes a warning. */
static ds_status collect_thread(collector *c, uint32_t thread_index) {
  ds_root_set *set = c->set;
  ds_dac *dac = c->analysis->dac;
  uint32_t os_id = set->threads[thread_index].os_id;
  size_t first = set->frame_count;
  walk_ctx w = {c, thread_index, 0};
  ds_error werr = {0};
  ds_error *saved = c->err;
  c->err = &werr;
  ds_status rc = ds_dac_stack_walk(dac, os_id, on_frame, &w, &werr);
  c->err = saved;
  if (rc == DS_E_NOMEM || (rc == DS_E_LIMIT && set->frame_count >= DS_MAX_TOTAL_FRAMES)) {
    ds_error_set(c->err, rc, "%s", werr.message);
    return rc;
  }
  if (rc != DS_OK)
    warn(set, "stack walk of thread %u: %s", os_id, werr.message);
  size_t end = set->frame_count;

  ds_dacp_stack_ref *refs = NULL;
  size_t ref_count = 0, error_count = 0;
  rc = ds_dac_stack_refs(dac, os_id, &refs, &ref_count, &error_count, &werr);
  if (rc == DS_E_NOMEM) {
    ds_error_set(c->err, rc, "%s", werr.message);
    return rc;
  }
  if (rc != DS_OK) {
    warn(set, "stack references of thread %u: %s", os_id, werr.message);
    return DS_OK;
  }
  if (error_count)
    warn(set, "stack references of thread %u: the GC stack walk failed on %zu range(s)", os_id, error_count);
  for (size_t i = 0; i < ref_count && rc == DS_OK; i++) {
    const ds_dacp_stack_ref *r = &refs[i];
    if (r->object == 0)
      continue;
    ds_root root = {
        .object = r->object,
        .address = r->address,
        .kind = DS_ROOT_STACK,
        .thread = thread_index,
        .frame = attribute(set, first, end, r),
        .pinned = (r->flags & DS_STACK_REF_PINNED) != 0,
        .interior = (r->flags & DS_STACK_REF_INTERIOR) != 0,
    };
    rc = add_root(c, &root);
  }
  free(refs);
  return rc;
}

/* SOSHandleData.Type -> our kind (HandleType values of the runtime's gcinterface.h). */
static ds_root_kind handle_kind(uint32_t type) {
  switch (type) {
  case 0: return DS_ROOT_HANDLE_WEAK_SHORT;
  case 1: return DS_ROOT_HANDLE_WEAK_LONG;
  case 2: return DS_ROOT_HANDLE_STRONG;
  case 3: return DS_ROOT_HANDLE_PINNED;
  case 5: return DS_ROOT_HANDLE_REFCOUNTED;
  case 6: return DS_ROOT_HANDLE_DEPENDENT;
  case 7: return DS_ROOT_HANDLE_ASYNC_PINNED;
  case 8: return DS_ROOT_HANDLE_SIZEDREF;
  default: return DS_ROOT_HANDLE_OTHER; /* 4 variable, 9 weak native COM / WinRT */
  }
}

/* Keeps one handle whose slot holds an object; empty slots (freed handles) are dropped. */
static void on_handle(void *ctx, const ds_dacp_handle *h) {
  collector *c = ctx;
  if (c->failed != DS_OK)
    return;
  uint64_t object = 0;
  if (!ds_dump_read_u64(c->analysis->dump, h->handle, &object) || object == 0)
    return;
  ds_root_kind kind = handle_kind(h->type);
  ds_root root = {
      .object = object,
      .address = h->handle,
      .secondary = kind == DS_ROOT_HANDLE_DEPENDENT ? h->secondary : 0,
      .kind = kind,
      .ref_count = h->ref_count,
      .thread = UINT32_MAX,
      .frame = UINT32_MAX,
      .pinned = kind == DS_ROOT_HANDLE_PINNED || kind == DS_ROOT_HANDLE_ASYNC_PINNED,
  };
  c->failed = add_root(c, &root);
}

/* An async pinned handle pins an OverlappedData; the buffer the I/O really uses is its user
 * object (ClrMD roots it too). Best effort: 0 when the field is not found. */
static uint64_t async_user_object(ds_analysis *a, uint64_t object) {
  uint64_t mt = 0, user = 0;
  ds_field *fields = NULL;
  size_t field_count = 0;
  ds_error ignore = {0};
  if (!ds_layout_read_mt(ds_analysis_layout(a), a->dump, object, &mt) ||
      ds_analysis_type_fields(a, mt, false, &fields, &field_count, &ignore) != DS_OK)
    return 0;
  for (size_t i = 0; i < field_count; i++)
    if (strcmp(fields[i].name, "_userObject") == 0 || strcmp(fields[i].name, "m_userObject") == 0) {
      if (!ds_dump_read_u64(a->dump, object + fields[i].offset, &user))
        user = 0;
      break;
    }
  free(fields);
  return user;
}

/* Reads the object pointers of queue slots [start, end): ready ones become roots (address = the
 * slot), the others go to set->finalizable. Empty slots are skipped. */
static ds_status read_queue(collector *c, uint64_t start, uint64_t end, bool ready) {
  ds_root_set *set = c->set;
  uint64_t chunk[512];
  for (uint64_t slot = start; slot < end;) {
    size_t n = (size_t)((end - slot) / 8 < 512 ? (end - slot) / 8 : 512);
    if (!ds_dump_read_exact(c->analysis->dump, slot, chunk, n * 8)) {
      warn(set, "finalization queue slots at 0x%" PRIx64 " are not in the dump", slot);
      return DS_OK;
    }
    for (size_t i = 0; i < n; i++) {
      if (chunk[i] == 0)
        continue;
      if (ready) {
        ds_root root = {.object = chunk[i], .address = slot + 8 * i, .kind = DS_ROOT_FINALIZER_READY,
                        .thread = UINT32_MAX, .frame = UINT32_MAX};
        ds_status rc = add_root(c, &root);
        if (rc != DS_OK)
          return rc;
      } else {
        ds_status rc = grow((void **)&set->finalizable, &c->finalizable_cap, set->finalizable_count,
                            sizeof *set->finalizable, DS_MAX_ROOTS, "finalizable objects (DS_MAX_ROOTS)", c->err);
        if (rc != DS_OK)
          return rc;
        set->finalizable[set->finalizable_count++] = chunk[i];
      }
    }
    slot += n * 8;
  }
  return DS_OK;
}

/* ---- thread statics (statics.c, statics8.c) ----------------------------------------------- */

static ds_status add_root_cb(void *ctx, const ds_root *root) { return add_root(ctx, root); }

/* Roots held in [ThreadStatic] fields of every live thread. The seeds of the search for types
 * with thread statics are the types we can list cheaply: every type with an object on the heap
 * (one walk, no DAC per object, fills the heap's MethodTable cache) and the types of the objects
 * the roots point to; statics.c adds their bases and their modules' types. */
static ds_status collect_thread_statics(collector *c) {
  ds_analysis *a = c->analysis;
  ds_root_set *set = c->set;
  if (a->heap && !ds_heap_types_complete(a->heap)) {
    ds_walk_stats walk;
    ds_error ignore = {0};
    if (ds_heap_walk(a->heap, -1, NULL, NULL, &walk, &ignore) == DS_OK)
      ds_walk_stats_free(&walk);
  }
  size_t type_count = a->heap ? ds_heap_type_count(a->heap) : 0;
  size_t cap = type_count + set->root_count;
  if (cap > DS_MAX_THREAD_STATIC_TYPES)
    cap = DS_MAX_THREAD_STATIC_TYPES;
  uint64_t *mts = malloc((cap ? cap : 1) * sizeof *mts);
  if (!mts)
    return ds_error_set(c->err, DS_E_NOMEM, "out of memory for %zu candidate types", cap);
  size_t n = 0;
  for (size_t i = 0; i < type_count && n < cap; i++) {
    const ds_type *t = ds_heap_type(a->heap, (uint32_t)i);
    if (t && t->mt && !(t->flags & (DS_TYPE_FREE | DS_TYPE_INVALID)))
      mts[n++] = t->mt;
  }
  for (size_t i = 0; i < set->root_count && n < cap; i++) {
    uint64_t mt = 0;
    if (!set->roots[i].interior && ds_layout_read_mt(ds_analysis_layout(a), a->dump, set->roots[i].object, &mt) && mt)
      mts[n++] = mt;
  }
  ds_status rc = ds__thread_static_roots(a, set->threads, set->thread_count, mts, n, add_root_cb, c, c->err);
  free(mts);
  return rc;
}

/* Threads and their stacks, then handles, then the finalization queues, then thread statics,
 * then the sync blocks. */
ds_status ds_roots_collect(ds_analysis *a, ds_root_set *out, ds_error *err) {
  memset(out, 0, sizeof *out);
  collector c = {.analysis = a, .set = out, .failed = DS_OK, .err = err};
  ds_dac_finalizer_queue *queues = NULL;
  size_t queue_count = 0;
  ds_status rc = ds_dac_managed_threads(a->dac, &out->threads, &out->thread_count, err);
  if (rc != DS_OK) {
    ds_error_wrap(err, "listing managed threads");
    goto out;
  }
  for (size_t t = 0; t < out->thread_count; t++)
    if (out->threads[t].alive && (rc = collect_thread(&c, (uint32_t)t)) != DS_OK)
      goto out;

  size_t first_handle = out->root_count;
  if ((rc = ds_dac_enum_handles(a->dac, on_handle, &c, err)) != DS_OK) {
    ds_error_wrap(err, "enumerating GC handles");
    goto out;
  }
  if ((rc = c.failed) != DS_OK)
    goto out;
  for (size_t i = first_handle; i < out->root_count; i++)
    if (out->roots[i].kind == DS_ROOT_HANDLE_ASYNC_PINNED)
      out->roots[i].secondary = async_user_object(a, out->roots[i].object);

  ds_error qerr = {0};
  if (ds_dac_finalizer_queues(a->dac, &queues, &queue_count, &qerr) != DS_OK)
    warn(out, "finalization queue: %s", qerr.message);
  for (size_t q = 0; q < queue_count; q++) {
    if ((rc = read_queue(&c, queues[q].finalizable_start, queues[q].finalizable_end, false)) != DS_OK ||
        (rc = read_queue(&c, queues[q].ready_start, queues[q].ready_end, true)) != DS_OK)
      goto out;
  }
  if ((rc = collect_thread_statics(&c)) != DS_OK)
    goto out;

  ds_error serr = {0};
  if (ds_dac_sync_blocks(a->dac, &out->sync_blocks, &out->sync_block_count, &serr) != DS_OK)
    warn(out, "sync blocks: %s", serr.message);
out:
  free(queues);
  if (rc != DS_OK)
    ds_root_set_free(out);
  return rc;
}
