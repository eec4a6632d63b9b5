/*
 * codemap.c: phase "code map" of the index build: for every JIT-compiled method the memory map
 * recorded, the IL-to-native map the JIT gave the debugger (the DAC's GetILAddressMap) and, where
 * the method's assembly has a portable PDB next to it, the source line of each IL offset; written
 * as the code map section, so that mu/muf annotate disassembly without the DAC.
 *
 * Before that, phase "callees": the methods that code calls, followed through the runtime's stubs,
 * so that disassembly names them and mln knows their code.
 *
 * What the DAC or the PDB cannot tell is left out; only running out of memory or failing to write
 * stops the build. Precompiled (ReadyToRun) code is not mapped: its maps live in the image.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacmem.h"
#include "dumpscope/dactypes.h"
#include "dumpscope/precode.h"
#include "dumpscope/limits.h"
#include "dumpscope/symbols.h"

#include "analyzeint.h"

#define MAX_MAP_ENTRIES 4096u /* IL map entries kept of one method */

typedef struct codemap {
  ds__build *b;
  DS__VEC(ds_index_code_map) entries;
  ds_status status;
} codemap;

/* One method's map, with lines. */
static void map_method(codemap *m, const ds_index_memory_range *r, ds_dac_il_entry *scratch) {
  size_t count = 0;
  ds_error ignore = {0};
  if (ds_dac_il_map(m->b->a->dac, r->start, scratch, MAX_MAP_ENTRIES, &count, &ignore) != DS_OK)
    return;
  uint32_t token = 0;
  ds_symbols *s = ds__symbols_of_method(m->b, r->method_desc, &token);
  char file[1024];
  for (size_t i = 0; i < count && m->status == DS_OK; i++) {
    const ds_dac_il_entry *e = &scratch[i];
    if (e->start < r->start || e->end < e->start || e->end - r->start > r->size)
      continue; /* outside the hot code the range records (cold code is not kept) */
    ds_index_code_map out = {r->start, (uint32_t)(e->start - r->start), (uint32_t)(e->end - r->start), e->il_offset,
                             0, 0, 0};
    uint32_t line, column;
    if (s && e->il_offset < DS_CODE_IL_EPILOG && ds_symbols_line(s, token, e->il_offset, file, sizeof file, &line, &column)) {
      out.line = line;
      out.file = file[0] ? ds_strpool_add(&m->b->pool, file) : 0;
    }
    DS__VEC_PUSH(m->entries, out, DS_MAX_CODE_MAP_ENTRIES, m->status);
  }
}

static int compare_entry(const void *x, const void *y) {
  const ds_index_code_map *a = x, *b = y;
  if (a->code != b->code)
    return a->code < b->code ? -1 : 1;
  return a->native_start < b->native_start ? -1 : a->native_start > b->native_start;
}

ds_status ds__build_code_map(ds__build *b, const ds_index_memory_range *ranges, size_t count, ds_error *err) {
  codemap m = {.b = b};
  ds_dac_il_entry *scratch = malloc(MAX_MAP_ENTRIES * sizeof *scratch);
  if (!scratch)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for an IL map");
  for (size_t r = 0; r < count && m.status == DS_OK; r++)
    if (ranges[r].kind == DS_MEMORY_JIT_METHOD && ranges[r].method_desc)
      map_method(&m, &ranges[r], scratch);
  free(scratch);
  ds_status rc = m.status;
  if (rc != DS_OK) {
    free(m.entries.items);
    return ds__vec_error(err, rc, "code map entries", DS_MAX_CODE_MAP_ENTRIES, "DS_MAX_CODE_MAP_ENTRIES");
  }
  if (m.entries.count)
    qsort(m.entries.items, m.entries.count, sizeof *m.entries.items, compare_entry);
  rc = ds_index_writer_add(b->w, DS_SEC_CODE_MAP, m.entries.items ? (void *)m.entries.items : "",
                           m.entries.count * sizeof *m.entries.items, err);
  free(m.entries.items);
  return rc;
}

/* ---- callees -------------------------------------------------------------------------------- */

typedef struct callees {
  ds__build *b;
  const ds_index_memory_range *ranges; /* sorted by start */
  size_t count;
  DS__VEC(ds_index_memory_range) extra;
  DS__VEC(ds_index_callee) named;
  DS__VEC(uint64_t) seen;              /* call targets already followed */
  ds_status status;
} callees;

static bool recorded(const callees *c, uint64_t code) {
  size_t lo = 0, hi = c->count;
  while (lo < hi) { /* the last range starting at or before code */
    size_t mid = lo + (hi - lo) / 2;
    if (c->ranges[mid].start <= code)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i-- > 0 && lo - i < 8;)
    if ((c->ranges[i].kind == DS_MEMORY_JIT_METHOD || c->ranges[i].kind == DS_MEMORY_PRECOMPILED_METHOD) &&
        code - c->ranges[i].start < c->ranges[i].size)
      return true;
  for (size_t i = 0; i < c->extra.count; i++)
    if (code >= c->extra.items[i].start && code - c->extra.items[i].start < c->extra.items[i].size)
      return true;
  return false;
}

/* One call target: the method whose code it reaches (a new range), or the MethodDesc its stub names. */
static void follow(callees *c, uint64_t target) {
  for (size_t i = 0; i < c->seen.count; i++)
    if (c->seen.items[i] == target)
      return;
  DS__VEC_PUSH(c->seen, target, DS_MAX_CODE_MAP_ENTRIES, c->status);
  uint64_t code, md, start, size, code_md;
  bool jitted;
  ds_error ignore = {0};
  char name[DS_MAX_FRAME_NAME_CHARS];
  ds_precode_resolve(c->b->a->dump, target, &code, &md);
  if (recorded(c, code))
    return;
  if (ds_dac_method_code(c->b->a->dac, code, &start, &size, &code_md, &jitted, &ignore) == DS_OK && size &&
      ds_dac_method_desc_name(c->b->a->dac, code_md, name, sizeof name, &ignore) == DS_OK) {
    ds_index_memory_range r = {start, size, jitted ? DS_MEMORY_JIT_METHOD : DS_MEMORY_PRECOMPILED_METHOD,
                               ds_strpool_add(&c->b->pool, name), code_md};
    DS__VEC_PUSH(c->extra, r, DS_MAX_MEMORY_RANGES, c->status);
    return;
  }
  for (size_t i = 0; md && i < c->named.count; i++)
    if (c->named.items[i].method_desc == md)
      return;
  if (md && ds_dac_method_desc_name(c->b->a->dac, md, name, sizeof name, &ignore) == DS_OK && name[0]) {
    ds_index_callee e = {md, ds_strpool_add(&c->b->pool, name), 0};
    DS__VEC_PUSH(c->named, e, DS_MAX_CODE_MAP_ENTRIES, c->status);
  }
}

/* The targets of a method's calls: call rel32 (E8) and call [rip+d] (FF 15), found by their
 * encodings; a false match only costs a target that leads nowhere. */
static void scan_calls(callees *c, const ds_index_memory_range *r) {
  size_t size = r->size < DS_MAX_DISASM_BYTES ? (size_t)r->size : DS_MAX_DISASM_BYTES;
  uint8_t *code = malloc(size ? size : 1);
  if (!code || !ds_dump_read_exact(c->b->a->dump, r->start, code, size)) {
    free(code);
    return;
  }
  for (size_t i = 0; i + 5 <= size && c->status == DS_OK; i++) {
    int32_t disp;
    uint64_t target = 0;
    if (code[i] == 0xE8) {
      memcpy(&disp, code + i + 1, 4);
      target = r->start + i + 5 + (uint64_t)(int64_t)disp;
    } else if (code[i] == 0xFF && i + 6 <= size && code[i + 1] == 0x15) {
      memcpy(&disp, code + i + 2, 4);
      if (!ds_dump_read_u64(c->b->a->dump, r->start + i + 6 + (uint64_t)(int64_t)disp, &target))
        target = 0;
    }
    if (target && (target < r->start || target - r->start >= r->size))
      follow(c, target);
  }
  free(code);
}

ds_status ds__build_callees(ds__build *b, const ds_index_memory_range *ranges, size_t count,
                            ds_index_memory_range **extra, size_t *extra_count, ds_error *err) {
  callees c = {.b = b, .ranges = ranges, .count = count};
  *extra = NULL;
  *extra_count = 0;
  for (size_t r = 0; r < count && c.status == DS_OK; r++)
    if (ranges[r].kind == DS_MEMORY_JIT_METHOD && ranges[r].method_desc)
      scan_calls(&c, &ranges[r]);
  free(c.seen.items);
  ds_status rc = c.status;
  if (rc != DS_OK) {
    free(c.extra.items);
    free(c.named.items);
    return ds__vec_error(err, rc, "callees", DS_MAX_CODE_MAP_ENTRIES, "DS_MAX_CODE_MAP_ENTRIES");
  }
  rc = ds_index_writer_add(b->w, DS_SEC_CALLEES, c.named.items ? (void *)c.named.items : "",
                           c.named.count * sizeof *c.named.items, err);
  free(c.named.items);
  if (rc != DS_OK) {
    free(c.extra.items);
    return rc;
  }
  *extra = c.extra.items;
  *extra_count = c.extra.count;
  return DS_OK;
}
