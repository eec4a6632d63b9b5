/*
 * memory.c: what lives at an address (SOSEX !mln), from the index and the dump's memory: a heap
 * object (an interior address resolves to the object, its field or element), a free block, a
 * thread's allocation context, a GC handle or finalizer-queue slot, a thread's stack (which
 * thread, which managed frame), a module image (which module, segment and section), JIT-compiled
 * code or a loader heap (ranges the analysis recorded), or unknown.
 *
 * The checks run from the most specific to the least: the GC heap's ranges, then the root slots
 * the index records, then stacks, code and loader ranges, then mapped images.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

#define STACK_RED_ZONE 128u /* bytes below the stack pointer a leaf function may use (SysV ABI) */

static json_t *thread_json(const ds_query *q, uint32_t os_id) {
  json_t *j = json_object();
  ds__jset(j, "os_id", json_integer(os_id));
  uint32_t ti;
  const ds_index_thread *t = ds__find_thread(q, os_id, &ti);
  ds__jset(j, "managed_id", t && t->os_id == os_id ? json_integer(t->managed_id) : json_null());
  return j;
}

/* "field Number", "element [3]", "object header", "method table pointer": where inside object i
 * the byte at offset (from the object's address; negative: its header) lies. */
static void describe_offset(const ds_query *q, uint32_t i, int64_t offset, char *out, size_t out_len,
                            json_t *doc) {
  const ds_index_type *t = ds__type_of(q, i);
  if (offset < 0) {
    snprintf(out, out_len, "object header");
    return;
  }
  if (offset < 8) {
    snprintf(out, out_len, "method table pointer");
    return;
  }
  if (!t)
    return;
  if (t->flags & DS_TYPE_STRING) {
    if ((uint64_t)offset >= q->layout->string_chars) {
      uint64_t k = ((uint64_t)offset - q->layout->string_chars) / 2;
      snprintf(out, out_len, "character [%llu]", (unsigned long long)k);
      ds__jset(doc, "element", json_integer((json_int_t)k));
    } else {
      snprintf(out, out_len, "string length");
    }
    return;
  }
  if (t->flags & DS_TYPE_ARRAY) {
    uint32_t esz = t->component_size ? t->component_size : 8;
    if ((uint64_t)offset >= q->layout->array_data) {
      uint64_t k = ((uint64_t)offset - q->layout->array_data) / esz;
      snprintf(out, out_len, "element [%llu]", (unsigned long long)k);
      ds__jset(doc, "element", json_integer((json_int_t)k));
    } else {
      snprintf(out, out_len, "array length");
    }
    return;
  }
  /* the field with the largest offset at or below the byte */
  const ds_index_field *best = NULL;
  for (uint32_t f = 0; f < t->field_count; f++) {
    uint64_t fi = (uint64_t)t->field_start + f;
    if (fi >= q->field_count)
      break;
    const ds_index_field *fd = &q->fields[fi];
    if (fd->offset <= (uint64_t)offset && (!best || fd->offset > best->offset))
      best = fd;
  }
  if (best) {
    snprintf(out, out_len, "field %s", ds_index_string(q->idx, best->name));
    ds__jset(doc, "field", ds__jstr(ds_index_string(q->idx, best->name)));
    ds__jset(doc, "field_offset", json_integer(best->offset));
  }
}

/* An address in a GC heap range: an object (or its header), a free block, an allocation context,
 * or heap space between objects. */
static void classify_heap(ds_query *q, uint64_t addr, const ds_index_segment *s, json_t *doc, char *text,
                          size_t text_len) {
  ds__jset(doc, "generation", ds__jstr(ds_gen_name((ds_gen)s->gen)));
  ds__jset(doc, "heap", json_integer(s->heap));
  ds__jset(doc, "segment", json_pack("{s:o,s:o,s:o}", "descriptor", ds__json_hex(s->descriptor), "start",
                                     ds__json_hex(s->start), "end", ds__json_hex(s->end)));
  uint32_t i = ds_query_find(q, addr, true);
  /* the header of the object that follows belongs to it, not to the one whose end it overlaps */
  uint64_t next_start = (addr | (q->layout->object_alignment - 1)) + 1;
  uint32_t next = next_start - addr <= 8 ? ds_query_find(q, next_start, false) : UINT32_MAX;
  if (next != UINT32_MAX)
    i = next;
  if (i == UINT32_MAX) {
    for (uint64_t t = 0; t < q->thread_count; t++) {
      const ds_index_thread *th = &q->threads[t];
      if (addr >= th->alloc_ptr && addr < th->alloc_limit) {
        ds__jset(doc, "kind", ds__jstr("allocation_context"));
        ds__jset(doc, "thread", thread_json(q, th->os_id));
        ds__jset(doc, "allocation_context",
                 json_pack("{s:o,s:o}", "ptr", ds__json_hex(th->alloc_ptr), "limit", ds__json_hex(th->alloc_limit)));
        snprintf(text, text_len, "allocation context of thread %u (%s)", th->os_id, ds_gen_name((ds_gen)s->gen));
        return;
      }
    }
    ds__jset(doc, "kind", ds__jstr("gc_heap"));
    snprintf(text, text_len, "GC heap (%s), between objects", ds_gen_name((ds_gen)s->gen));
    return;
  }
  const ds_index_type *t = ds__type_of(q, i);
  int64_t offset = (int64_t)(addr - q->addr[i]);
  if (t && (t->flags & DS_TYPE_FREE)) {
    ds__jset(doc, "kind", ds__jstr("free"));
    ds__jset(doc, "free_block", json_pack("{s:o,s:I}", "address", ds__json_hex(q->addr[i]), "size",
                                          (json_int_t)ds__obj_size(q, i)));
    ds__jset(doc, "offset", json_integer(offset));
    snprintf(text, text_len, "free block 0x%llx (%llu bytes) in %s, at +%lld", (unsigned long long)q->addr[i],
             (unsigned long long)ds__obj_size(q, i), ds_gen_name((ds_gen)s->gen), (long long)offset);
    return;
  }
  ds__jset(doc, "kind", ds__jstr("object"));
  json_t *o = ds__object_ref(q, i);
  ds__jset(o, "live", json_boolean(ds__is_live(q, i)));
  ds__jset(doc, "object", o);
  ds__jset(doc, "offset", json_integer(offset));
  char where[256] = "";
  describe_offset(q, i, offset, where, sizeof where, doc);
  if (where[0])
    ds__jset(doc, "part", ds__jstr(where));
  snprintf(text, text_len, "%s 0x%llx (%s, %s) at %+lld%s%s", offset ? "inside object" : "object",
           (unsigned long long)q->addr[i], ds__type_name(q, q->type[i]), ds_gen_name((ds_gen)s->gen),
           (long long)offset, where[0] ? ": " : "", where);
}

/* A root slot the index records: a GC handle or a finalizer-queue slot. */
static bool classify_root_slot(ds_query *q, uint64_t addr, json_t *doc, char *text, size_t text_len) {
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    bool handle = root->kind <= DS_ROOT_HANDLE_OTHER, queue = root->kind == DS_ROOT_FINALIZER_READY;
    if ((!handle && !queue) || !root->address || addr < root->address || addr - root->address >= 8)
      continue;
    ds__jset(doc, "kind", ds__jstr(handle ? "handle" : "finalizer_queue"));
    json_t *j = json_object();
    ds__jset(j, "kind", ds__jstr(ds_root_kind_name((ds_root_kind)root->kind)));
    ds__jset(j, "address", ds__json_hex(root->address));
    ds__jset(j, "pinned", json_boolean(root->pinned));
    ds__jset(j, "object", root->object < q->n ? ds__object_ref(q, root->object) : json_null());
    ds__jset(doc, handle ? "handle" : "slot", j);
    snprintf(text, text_len, "%s 0x%llx -> 0x%llx %s", handle ? ds_root_kind_name((ds_root_kind)root->kind)
                                                              : "finalizer queue slot",
             (unsigned long long)root->address, (unsigned long long)root->raw_object,
             root->object < q->n ? ds__type_name(q, q->type[root->object]) : "");
    return true;
  }
  return false;
}

/* The managed frame of thread index ti whose stack space holds addr: the one with the largest
 * stack pointer at or below it. */
static const ds_index_frame *frame_at(const ds_query *q, uint32_t ti, uint64_t addr) {
  const ds_index_thread *t = &q->threads[ti];
  const ds_index_frame *best = NULL;
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    const ds_index_frame *fr = &q->frames[fi];
    /* at one stack pointer, the method's own frame rather than the runtime's transition frame */
    if (fr->sp <= addr && (!best || fr->sp > best->sp || (fr->sp == best->sp && best->frame_address && !fr->frame_address)))
      best = fr;
  }
  return best;
}

/* A thread's stack: the region of the core holding its stack pointer. When several threads' stack
 * pointers share a region, the address belongs to the nearest one at or below it. */
static bool classify_stack(ds_query *q, uint64_t addr, json_t *doc, char *text, size_t text_len) {
  uint64_t start, end;
  if (!q->dump || !ds_dump_region_at(q->dump, addr, &start, &end))
    return false;
  const ds_dump_thread *owner = NULL, *lowest = NULL;
  for (size_t k = 0; k < ds_dump_thread_count(q->dump); k++) {
    const ds_dump_thread *th = ds_dump_thread_at(q->dump, k);
    uint64_t sp = th->regs[DS_REG_RSP];
    if (sp < start || sp >= end)
      continue;
    if (sp <= addr + STACK_RED_ZONE && (!owner || sp > owner->regs[DS_REG_RSP]))
      owner = th;
    if (!lowest || sp < lowest->regs[DS_REG_RSP])
      lowest = th;
  }
  bool in_use = owner != NULL;
  if (!owner)
    owner = lowest;
  if (!owner)
    return false;
  uint64_t sp = owner->regs[DS_REG_RSP];
  ds__jset(doc, "kind", ds__jstr("stack"));
  ds__jset(doc, "thread", thread_json(q, owner->tid));
  ds__jset(doc, "stack_pointer", ds__json_hex(sp));
  ds__jset(doc, "in_use", json_boolean(in_use));
  ds__jset(doc, "region", json_pack("{s:o,s:o}", "start", ds__json_hex(start), "end", ds__json_hex(end)));
  uint32_t ti;
  const ds_index_thread *t = ds__find_thread(q, owner->tid, &ti);
  const ds_index_frame *fr = t && t->os_id == owner->tid && in_use ? frame_at(q, ti, addr) : NULL;
  if (fr)
    ds__jset(doc, "frame", json_pack("{s:i,s:o,s:o,s:o,s:b}", "depth", (int)fr->depth, "method",
                                     ds__jstr(ds_index_string(q->idx, fr->method)), "sp", ds__json_hex(fr->sp), "ip",
                                     ds__json_hex(fr->ip), "runtime_frame", fr->frame_address != 0));
  else
    ds__jset(doc, "frame", json_null());
  /* a stack root recorded at exactly this slot */
  for (uint64_t r = 0; r < q->root_count; r++) {
    const ds_index_root *root = &q->roots[r];
    if (root->kind == DS_ROOT_STACK && root->address && addr >= root->address && addr - root->address < 8 &&
        root->object < q->n) {
      ds__jset(doc, "reference", ds__object_ref(q, root->object));
      break;
    }
  }
  if (!in_use)
    snprintf(text, text_len, "stack of thread %u, below its stack pointer 0x%llx (unused)", owner->tid,
             (unsigned long long)sp);
  else if (fr)
    snprintf(text, text_len, "stack of thread %u, frame %u %s (sp 0x%llx)", owner->tid, fr->depth,
             ds_index_string(q->idx, fr->method), (unsigned long long)fr->sp);
  else
    snprintf(text, text_len, "stack of thread %u, above its stack pointer 0x%llx, below its managed frames",
             owner->tid, (unsigned long long)sp);
  return true;
}

/* The recorded range holding addr that says the most: a method's code before the code heap
 * block around it, then loader heaps, then the handle table. NULL when none does. */
static const ds_index_memory_range *range_at(const ds_query *q, uint64_t addr) {
  static const int rank[] = {0, 2, 3, 4, 1, 1}; /* by DS_MEMORY_* kind: lower says more */
  ds__view v = ds__section_view(q->idx, DS_SEC_MEMORY_RANGES, sizeof(ds_index_memory_range));
  const ds_index_memory_range *ranges = v.data, *best = NULL;
  for (uint64_t r = 0; r < v.count; r++) {
    const ds_index_memory_range *x = &ranges[r];
    if (x->start > addr)
      break; /* sorted by start */
    if (addr - x->start >= x->size || x->kind == 0 || x->kind > DS_MEMORY_PRECOMPILED_METHOD)
      continue;
    if (!best || rank[x->kind] < rank[best->kind])
      best = x;
  }
  return best;
}

static json_t *method_json(const ds_query *q, const ds_index_memory_range *r, uint64_t addr) {
  json_t *m = json_object();
  ds__jset(m, "name", ds__jstr(ds_index_string(q->idx, r->name)));
  ds__jset(m, "method_desc", ds__json_hex(r->method_desc));
  ds__jset(m, "code_start", ds__json_hex(r->start));
  ds__jset(m, "code_size", json_integer((json_int_t)r->size));
  ds__jset(m, "offset", json_integer((json_int_t)(addr - r->start)));
  ds__jset(m, "jitted", json_boolean(r->kind == DS_MEMORY_JIT_METHOD));
  return m;
}

/* Runtime memory the analysis recorded: JIT-compiled code (and its method), a code heap, a loader
 * heap, the handle table. Precompiled code lies in a module image: classify_module names it. */
static bool classify_runtime(ds_query *q, uint64_t addr, json_t *doc, char *text, size_t text_len) {
  const ds_index_memory_range *r = range_at(q, addr);
  if (!r || r->kind == DS_MEMORY_PRECOMPILED_METHOD)
    return false;
  const char *name = ds_index_string(q->idx, r->name);
  switch (r->kind) {
  case DS_MEMORY_JIT_METHOD:
    ds__jset(doc, "kind", ds__jstr("jit_code"));
    ds__jset(doc, "method", method_json(q, r, addr));
    snprintf(text, text_len, "JIT-compiled code of %s +0x%llx", name, (unsigned long long)(addr - r->start));
    break;
  case DS_MEMORY_CODE_HEAP:
    ds__jset(doc, "kind", ds__jstr("jit_code"));
    ds__jset(doc, "method", json_null());
    snprintf(text, text_len, "JIT code heap (block 0x%llx, %llu bytes; no method on a stack holds it)",
             (unsigned long long)r->start, (unsigned long long)r->size);
    break;
  case DS_MEMORY_LOADER_HEAP:
    ds__jset(doc, "kind", ds__jstr("loader_heap"));
    ds__jset(doc, "loader_heap", ds__jstr(name));
    snprintf(text, text_len, "loader heap %s (block 0x%llx, %llu bytes)", name, (unsigned long long)r->start,
             (unsigned long long)r->size);
    break;
  default:
    ds__jset(doc, "kind", ds__jstr("handle_table"));
    snprintf(text, text_len, "GC handle table memory (no handle in use at this slot)");
    break;
  }
  if (r->kind != DS_MEMORY_JIT_METHOD)
    ds__jset(doc, "block", json_pack("{s:o,s:I}", "start", ds__json_hex(r->start), "size", (json_int_t)r->size));
  return true;
}

/* A mapped image: the module and the segment and section holding addr. */
static bool classify_module(ds_query *q, uint64_t addr, json_t *doc, char *text, size_t text_len) {
  ds_image_part part;
  if (!q->dump || !ds_dump_image_part(q->dump, addr, &part))
    return false;
  const ds_index_memory_range *r = range_at(q, addr);
  if (r && r->kind == DS_MEMORY_PRECOMPILED_METHOD)
    ds__jset(doc, "method", method_json(q, r, addr));
  const ds_module *mod = part.module;
  ds__jset(doc, "kind", ds__jstr("module"));
  json_t *m = json_object();
  ds__jset(m, "path", ds__jstr(mod->path));
  ds__jset(m, "base", ds__json_hex(mod->base));
  ds__jset(m, "end", ds__json_hex(mod->end));
  ds__jset(m, "format", ds__jstr(part.format));
  if (mod->build_id_len) {
    char hex[2 * DS_MAX_BUILD_ID_BYTES + 1];
    ds_build_id_hex(mod->build_id, mod->build_id_len, hex);
    ds__jset(m, "build_id", ds__jstr(hex));
  }
  ds__jset(doc, "module", m);
  ds__jset(doc, "offset", json_integer((json_int_t)part.module_offset));
  ds__jset(doc, "image_base", ds__json_hex(addr - part.module_offset));
  ds__jset(doc, "file_offset", part.has_file_offset ? json_integer((json_int_t)part.file_offset) : json_null());
  if (part.segment >= 0)
    ds__jset(doc, "segment", json_pack("{s:i,s:s,s:o,s:o}", "index", part.segment, "flags", part.segment_flags,
                                       "start", ds__json_hex(part.segment_start), "end",
                                       ds__json_hex(part.segment_end)));
  ds__jset(doc, "section", part.section[0] ? ds__jstr(part.section) : json_null());
  const char *slash = strrchr(mod->path, '/');
  snprintf(text, text_len, "%s+0x%llx%s%s%s%s%s%s", slash ? slash + 1 : mod->path,
           (unsigned long long)part.module_offset, part.section[0] ? " in " : "", part.section,
           part.segment >= 0 ? " segment " : "", part.segment >= 0 ? part.segment_flags : "",
           r && r->kind == DS_MEMORY_PRECOMPILED_METHOD ? ": precompiled code of " : "",
           r && r->kind == DS_MEMORY_PRECOMPILED_METHOD ? ds_index_string(q->idx, r->name) : "");
  return true;
}

static ds_status query_memory(ds_query *q, uint64_t addr, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_ROOTS, err) || !ds__need(q, DS_SEC_THREADS, err) ||
      !ds__need(q, DS_SEC_FRAMES, err) || !ds__need(q, DS_SEC_FIELDS, err) ||
      !ds__need(q, DS_SEC_MEMORY_RANGES, err))
    return err->code;
  json_t *doc = json_object();
  ds__jset(doc, "address", ds__json_hex(addr));
  char text[1024] = "";
  const ds_index_segment *s = ds__segment_of(q, addr);
  if (s)
    classify_heap(q, addr, s, doc, text, sizeof text);
  else if (!classify_root_slot(q, addr, doc, text, sizeof text) && !classify_stack(q, addr, doc, text, sizeof text) &&
           !classify_runtime(q, addr, doc, text, sizeof text) && !classify_module(q, addr, doc, text, sizeof text)) {
    ds__jset(doc, "kind", ds__jstr("unknown"));
    uint64_t start, end;
    bool held = q->dump && ds_dump_region_at(q->dump, addr, &start, &end);
    ds__jset(doc, "in_dump", json_boolean(held));
    if (held)
      ds__jset(doc, "region", json_pack("{s:o,s:o}", "start", ds__json_hex(start), "end", ds__json_hex(end)));
    snprintf(text, sizeof text, q->dump ? (held ? "unknown memory (held by the dump: native heap or other data)"
                                                : "not in the dump")
                                        : "unknown (the dump file is not accessible)");
  }
  ds__jset(doc, "description", ds__jstr(text));
  *out = doc;
  return DS_OK;
}

ds_status ds_query_memory(ds_query *q, uint64_t addr, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_memory(q, addr, out, err), out, err);
}
