/*
 * pefile.c: may an on-disk PE file (a managed assembly) stand in for the pages of it that a core
 * dump lacks?
 *
 * A kernel core or a gdb `gcore` leaves out read-only file mappings (coredump_filter), so the
 * assemblies' metadata, which the DAC reads through the data target, is missing from it. NT_FILE
 * still says which file was mapped where. The runtime maps an assembly in one or both of two
 * ways: flat (the whole file at offset 0, one page-rounded mapping) and section by section (the
 * headers at offset 0, each section at header base + its RVA from its raw-data offset, both
 * rounded down to a page; a mapping may be a page-aligned part of a section when protections split
 * it). The file fits when it is a PE image and every mapping of the module is one of those for
 * this file's size and section table: a file of another size or layout (another build, a
 * replaced file) is refused. Everything is untrusted: every count and offset is bounded.
 */
#include "dumpscope/dump.h"

#include <string.h>

#define PE_PAGE 4096u
#define PE_MAX_SECTIONS 96u

typedef struct pe_section {
  uint64_t va, raw, span; /* page-aligned RVA and file offset, page-rounded mapped length */
} pe_section;

static uint64_t page_up(uint64_t v) { return (v + PE_PAGE - 1) & ~(uint64_t)(PE_PAGE - 1); }

/* Reads the section table of a PE file; false when it is not a PE image we can check. */
static bool pe_sections(const uint8_t *data, uint64_t size, pe_section *out, size_t *count) {
  if (size < 64 || data[0] != 'M' || data[1] != 'Z')
    return false;
  uint32_t pe, signature;
  uint16_t sections, optional_size, magic;
  memcpy(&pe, data + 0x3c, 4);
  if (pe > 4096 || (uint64_t)pe + 26 > size)
    return false;
  memcpy(&signature, data + pe, 4);
  memcpy(&sections, data + pe + 6, 2);
  memcpy(&optional_size, data + pe + 20, 2);
  if (signature != 0x4550 || sections == 0 || sections > PE_MAX_SECTIONS || optional_size < 2)
    return false;
  uint64_t table = (uint64_t)pe + 24 + optional_size;
  if (table + (uint64_t)sections * 40 > size)
    return false;
  memcpy(&magic, data + pe + 24, 2);
  if (magic != 0x10b && magic != 0x20b) /* PE32 (IL-only AnyCPU) or PE32+ (ReadyToRun) */
    return false;
  for (uint16_t i = 0; i < sections; i++) {
    const uint8_t *sh = data + table + (uint64_t)i * 40;
    uint32_t vsize, va, raw_size, raw;
    memcpy(&vsize, sh + 8, 4);
    memcpy(&va, sh + 12, 4);
    memcpy(&raw_size, sh + 16, 4);
    memcpy(&raw, sh + 20, 4);
    uint64_t len = vsize > raw_size ? vsize : raw_size;
    out[i] = (pe_section){va & ~(PE_PAGE - 1), raw & ~(PE_PAGE - 1), page_up((va & (PE_PAGE - 1)) + (uint64_t)len)};
  }
  *count = sections;
  return true;
}

bool ds_pe_file_fits(const uint8_t *data, uint64_t size, const ds_dump_mapping *maps, size_t count) {
  pe_section sec[PE_MAX_SECTIONS];
  size_t sections = 0;
  if (count == 0 || !pe_sections(data, size, sec, &sections))
    return false;
  uint64_t file_pages = page_up(size), first_va = UINT64_MAX;
  for (size_t s = 0; s < sections; s++)
    if (sec[s].va < first_va)
      first_va = sec[s].va;
  uint64_t header_base = 0;
  bool have_header = false;
  for (size_t i = 0; i < count; i++) { /* maps: this module's mappings, by address */
    const ds_dump_mapping *m = &maps[i];
    uint64_t len = m->end - m->start;
    if (m->file_offset > file_pages || len > file_pages - m->file_offset)
      return false; /* maps bytes past the end of this file */
    bool fits = false; /* a section (or a page-aligned part of one) of the view at header_base */
    uint64_t rva = m->start - header_base;
    for (size_t s = 0; have_header && s < sections && !fits; s++)
      fits = rva >= sec[s].va && m->file_offset >= sec[s].raw && rva - sec[s].va == m->file_offset - sec[s].raw &&
             rva - sec[s].va + len <= sec[s].span;
    if (fits)
      continue;
    /* else the flat view (the whole file), or the headers of a section-by-section view (below the
       first section): the base that the sections mapped after it count from */
    if (m->file_offset != 0 || (len != file_pages && len > first_va))
      return false;
    header_base = m->start;
    have_header = true;
  }
  return true;
}
