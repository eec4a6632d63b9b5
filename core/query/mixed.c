/*
 * mixed.c: a thread's mixed stack (SOSEX !mk): its native frames, unwound from the core with the
 * images' CFI until managed code is reached (unwind.h), then its managed frames from the index,
 * runtime transition frames marked, all ordered by stack pointer.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/unwind.h"

#include "queryint.h"

#define MAX_NATIVE_FRAMES 128u

/* Managed code: a recorded method's code, or no mapped ELF image (JIT code heaps). */
static bool is_managed(void *ctx, uint64_t ip) {
  ds_query *q = ctx;
  ds__view v = ds__section_view(q->idx, DS_SEC_MEMORY_RANGES, sizeof(ds_index_memory_range));
  const ds_index_memory_range *r = v.data;
  for (uint64_t i = 0; i < v.count && r[i].start <= ip; i++)
    if ((r[i].kind == DS_MEMORY_JIT_METHOD || r[i].kind == DS_MEMORY_PRECOMPILED_METHOD || r[i].kind == DS_MEMORY_CODE_HEAP) &&
        ip - r[i].start < r[i].size)
      return true;
  return false;
}

static json_t *native_json(const ds_native_frame *f) {
  json_t *j = json_object();
  ds__jset(j, "kind", ds__jstr("native"));
  ds__jset(j, "sp", ds__json_hex(f->sp));
  ds__jset(j, "ip", ds__json_hex(f->ip));
  const char *path = f->module ? f->module->path : NULL, *slash = path ? strrchr(path, '/') : NULL;
  ds__jset(j, "module", path ? ds__jstr(slash ? slash + 1 : path) : json_null());
  char name[256];
  uint64_t offset = 0;
  bool named = path && ds_elf_symbol(path, f->module_offset, name, sizeof name, &offset);
  ds__jset(j, "function", named ? ds__jstr(name) : json_null());
  ds__jset(j, "offset", json_integer((json_int_t)(named ? offset : f->module_offset)));
  return j;
}

static const char *end_text(ds_unwind_end end) {
  switch (end) {
  case DS_UNWIND_STOPPED: return "managed code";
  case DS_UNWIND_NO_INFO: return "no unwind information";
  case DS_UNWIND_END_OF_STACK: return "end of stack";
  case DS_UNWIND_BAD_FRAME: return "unreadable frame";
  default: return "frame limit";
  }
}

static ds_status query_mixed(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  if (!ds__need(q, DS_SEC_THREADS, err) || !ds__need(q, DS_SEC_FRAMES, err) || !ds__need(q, DS_SEC_MEMORY_RANGES, err))
    return err->code;
  uint32_t ti;
  const ds_index_thread *t = ds__find_thread(q, thread, &ti);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with OS id or managed id %u", thread);
  if (!q->dump)
    return ds_error_set(err, DS_E_READ, "the dump file is not accessible: native frames cannot be unwound");
  ds_native_frame *native = calloc(MAX_NATIVE_FRAMES, sizeof *native);
  if (!native)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for native frames");
  size_t count = 0;
  ds_unwind_end end = DS_UNWIND_NO_INFO;
  ds_error ignore = {0};
  ds_unwind_native(q->dump, t->os_id, is_managed, q, native, MAX_NATIVE_FRAMES, &count, &end, &ignore);
  json_t *doc = json_pack("{s:i,s:i}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id);
  json_t *frames = json_array();
  /* native frames first (innermost, lowest stack pointers), then the managed ones; a managed
   * frame below the last native one's stack pointer is listed before it */
  size_t n = 0;
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    const ds_index_frame *fr = &q->frames[fi];
    /* a runtime Frame lives on the stack at its address: the transition it marks is there */
    uint64_t at = fr->frame_address ? fr->frame_address : fr->sp;
    while (n < count && native[n].sp <= at)
      ds__jappend(frames, native_json(&native[n++]));
    json_t *j = json_object();
    ds__jset(j, "kind", ds__jstr(fr->frame_address ? "runtime" : "managed"));
    ds__jset(j, "sp", ds__json_hex(fr->sp));
    ds__jset(j, "ip", ds__json_hex(fr->ip));
    ds__jset(j, "method", ds__jstr(ds_index_string(q->idx, fr->method)));
    ds__jappend(frames, j);
  }
  while (n < count)
    ds__jappend(frames, native_json(&native[n++]));
  free(native);
  ds__jset(doc, "frames", frames);
  ds__jset(doc, "native_frames", json_integer((json_int_t)count));
  ds__jset(doc, "native_unwind_ended", ds__jstr(end_text(end)));
  *out = doc;
  return DS_OK;
}

ds_status ds_query_mixed_stack(ds_query *q, uint32_t thread, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_mixed(q, thread, out, err), out, err);
}
