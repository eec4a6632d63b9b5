/*
 * codemap.c: phase "code map" of the index build: for every JIT-compiled method the memory map
 * recorded, the IL-to-native map the JIT gave the debugger (the DAC's GetILAddressMap) and, where
 * the method's assembly has a portable PDB next to it, the source line of each IL offset; written
 * as the code map section, so that mu/muf annotate disassembly without the DAC.
 *
 * What the DAC or the PDB cannot tell is left out; only running out of memory or failing to write
 * stops the build. Precompiled (ReadyToRun) code is not mapped: its maps live in the image.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacmem.h"
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
