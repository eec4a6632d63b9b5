/*
 * metadata.c: the ECMA-335 metadata of a managed PE file or a portable PDB (ECMA-335 II.24, the
 * Portable PDB v1.0 spec): the PE headers that lead to it, the metadata root, its streams and the
 * compressed tables (#~), with every cell, heap entry and blob bounds-checked. Row sizes depend on
 * every table's row count, so all tables' schemas are here, in one table.
 */
#include <string.h>

#include "symbolsint.h"

/* Column kinds: a table index (< 0x40), a coded index (CI + kind), or a fixed/heap column. */
enum { U16 = 0x80, U32, STR, GUID, BLOB, CI = 0x40 };
enum {
  CI_TYPEDEFORREF, CI_HASCONSTANT, CI_HASCUSTOMATTR, CI_HASFIELDMARSHAL, CI_HASDECLSECURITY, CI_MEMBERREFPARENT,
  CI_HASSEMANTICS, CI_METHODDEFORREF, CI_MEMBERFORWARDED, CI_IMPLEMENTATION, CI_CUSTOMATTRTYPE, CI_RESOLUTIONSCOPE,
  CI_TYPEORMETHODDEF, CI_HASCUSTOMDEBUG, CI_COUNT
};

#define NONE 0xFF
/* The tables each coded index may name, in tag order (NONE: an unused tag). */
static const uint8_t coded_tables[CI_COUNT][28] = {
    [CI_TYPEDEFORREF] = {0x02, 0x01, 0x1B},
    [CI_HASCONSTANT] = {0x04, 0x08, 0x17},
    [CI_HASCUSTOMATTR] = {0x06, 0x04, 0x01, 0x02, 0x08, 0x09, 0x0A, 0x00, 0x0E, 0x17, 0x14, 0x11, 0x1A, 0x1B, 0x20,
                          0x23, 0x26, 0x27, 0x28, 0x2A, 0x2C, 0x2B},
    [CI_HASFIELDMARSHAL] = {0x04, 0x08},
    [CI_HASDECLSECURITY] = {0x02, 0x06, 0x20},
    [CI_MEMBERREFPARENT] = {0x02, 0x01, 0x1A, 0x06, 0x1B},
    [CI_HASSEMANTICS] = {0x14, 0x17},
    [CI_METHODDEFORREF] = {0x06, 0x0A},
    [CI_MEMBERFORWARDED] = {0x04, 0x06},
    [CI_IMPLEMENTATION] = {0x26, 0x23, 0x27},
    [CI_CUSTOMATTRTYPE] = {NONE, NONE, 0x06, 0x0A, NONE},
    [CI_RESOLUTIONSCOPE] = {0x00, 0x1A, 0x23, 0x01},
    [CI_TYPEORMETHODDEF] = {0x02, 0x06},
    [CI_HASCUSTOMDEBUG] = {0x06, 0x04, 0x01, 0x02, 0x08, 0x09, 0x0A, 0x00, 0x0E, 0x17, 0x14, 0x11, 0x1A, 0x1B,
                           0x20, 0x23, 0x26, 0x27, 0x28, 0x2A, 0x2C, 0x2B, 0x30, 0x32, 0x33, 0x34, 0x35},
};
static const uint8_t coded_count[CI_COUNT] = {3, 3, 22, 2, 3, 5, 2, 2, 2, 3, 5, 4, 2, 27};

/* Every table's columns (0: end). */
static const uint8_t schema[DS__MD_TABLES][8] = {
    [0x00] = {U16, STR, GUID, GUID, GUID},
    [0x01] = {CI + CI_RESOLUTIONSCOPE, STR, STR},
    [0x02] = {U32, STR, STR, CI + CI_TYPEDEFORREF, 0x04, 0x06},
    [0x03] = {0x04},
    [0x04] = {U16, STR, BLOB},
    [0x05] = {0x06},
    [0x06] = {U32, U16, U16, STR, BLOB, 0x08},
    [0x07] = {0x08},
    [0x08] = {U16, U16, STR},
    [0x09] = {0x02, CI + CI_TYPEDEFORREF},
    [0x0A] = {CI + CI_MEMBERREFPARENT, STR, BLOB},
    [0x0B] = {U16, CI + CI_HASCONSTANT, BLOB},
    [0x0C] = {CI + CI_HASCUSTOMATTR, CI + CI_CUSTOMATTRTYPE, BLOB},
    [0x0D] = {CI + CI_HASFIELDMARSHAL, BLOB},
    [0x0E] = {U16, CI + CI_HASDECLSECURITY, BLOB},
    [0x0F] = {U16, U32, 0x02},
    [0x10] = {U32, 0x04},
    [0x11] = {BLOB},
    [0x12] = {0x02, 0x14},
    [0x13] = {0x14},
    [0x14] = {U16, STR, CI + CI_TYPEDEFORREF},
    [0x15] = {0x02, 0x17},
    [0x16] = {0x17},
    [0x17] = {U16, STR, BLOB},
    [0x18] = {U16, 0x06, CI + CI_HASSEMANTICS},
    [0x19] = {0x02, CI + CI_METHODDEFORREF, CI + CI_METHODDEFORREF},
    [0x1A] = {STR},
    [0x1B] = {BLOB},
    [0x1C] = {U16, CI + CI_MEMBERFORWARDED, STR, 0x1A},
    [0x1D] = {U32, 0x04},
    [0x1E] = {U32, U32},
    [0x1F] = {U32},
    [0x20] = {U32, U16, U16, U16, U16, U32, BLOB, STR},
    [0x21] = {U32},
    [0x22] = {U32, U32, U32},
    [0x23] = {U16, U16, U16, U16, U32, BLOB, STR, STR},
    [0x24] = {U32, 0x23},
    [0x25] = {U32, U32, U32, 0x23},
    [0x26] = {U32, STR, BLOB},
    [0x27] = {U32, U32, STR, STR, CI + CI_IMPLEMENTATION},
    [0x28] = {U32, U32, STR, CI + CI_IMPLEMENTATION},
    [0x29] = {0x02, 0x02},
    [0x2A] = {U16, U16, CI + CI_TYPEORMETHODDEF, STR},
    [0x2B] = {CI + CI_METHODDEFORREF, BLOB},
    [0x2C] = {0x2A, CI + CI_TYPEDEFORREF},
    [0x30] = {BLOB, GUID, BLOB, GUID},
    [0x31] = {0x30, BLOB},
    [0x32] = {0x06, 0x35, 0x33, 0x34, U32, U32},
    [0x33] = {U16, U16, STR},
    [0x34] = {STR, BLOB},
    [0x35] = {0x35, BLOB},
    [0x36] = {0x06, 0x06},
    [0x37] = {CI + CI_HASCUSTOMDEBUG, GUID, BLOB},
};
/* U32 doubles as the heap sizes' "wide" case below; the Assembly table's HashAlgId etc. are U32. */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

bool ds__read_compressed(ds__blob *b, uint32_t *out) {
  if (b->len < 1)
    return false;
  uint8_t first = b->p[0];
  if ((first & 0x80) == 0) {
    *out = first;
    b->p++, b->len--;
  } else if ((first & 0xC0) == 0x80) {
    if (b->len < 2)
      return false;
    *out = (uint32_t)(first & 0x3F) << 8 | b->p[1];
    b->p += 2, b->len -= 2;
  } else if ((first & 0xE0) == 0xC0) {
    if (b->len < 4)
      return false;
    *out = (uint32_t)(first & 0x1F) << 24 | (uint32_t)b->p[1] << 16 | (uint32_t)b->p[2] << 8 | b->p[3];
    b->p += 4, b->len -= 4;
  } else {
    return false;
  }
  return true;
}

bool ds__read_compressed_signed(ds__blob *b, int32_t *out) {
  uint32_t before = b->len, raw;
  if (!ds__read_compressed(b, &raw))
    return false;
  unsigned bits = before - b->len == 1 ? 6 : before - b->len == 2 ? 13 : 28;
  int32_t value = (int32_t)(raw >> 1);
  *out = raw & 1 ? value - (int32_t)(1u << bits) : value;
  return true;
}

uint32_t ds__md_cell(const ds__md *md, unsigned t, uint32_t row, unsigned col) {
  if (t >= DS__MD_TABLES || !md->table[t] || row == 0 || row > md->rows[t] || col >= md->col_count[t])
    return 0;
  const uint8_t *p = md->table[t] + (size_t)(row - 1) * md->row_size[t] + md->col_offset[t][col];
  return md->col_size[t][col] == 2 ? rd16(p) : rd32(p);
}

const char *ds__md_string(const ds__md *md, uint32_t index) {
  if (index >= md->strings.len || !memchr(md->strings.p + index, 0, md->strings.len - index))
    return "";
  return (const char *)md->strings.p + index;
}

ds__blob ds__md_blob(const ds__md *md, uint32_t index) {
  static const uint8_t empty[1];
  if (!md->blobs.p || index >= md->blobs.len) /* no #Blob heap, or past it */
    return (ds__blob){empty, 0};
  ds__blob b = {md->blobs.p + index, md->blobs.len - index};
  uint32_t len;
  if (!ds__read_compressed(&b, &len) || len > b.len)
    return (ds__blob){empty, 0};
  b.len = len;
  return b;
}

const uint8_t *ds__md_guid(const ds__md *md, uint32_t index) {
  if (index == 0 || (uint64_t)index * 16 > md->guids.len)
    return NULL;
  return md->guids.p + (size_t)(index - 1) * 16;
}

/* The size of one column, from the row counts (all of them known by now). */
static unsigned column_size(const ds__md *md, uint8_t kind, uint8_t heap_sizes) {
  switch (kind) {
  case U16: return 2;
  case U32: return 4;
  case STR: return heap_sizes & 1 ? 4 : 2;
  case GUID: return heap_sizes & 2 ? 4 : 2;
  case BLOB: return heap_sizes & 4 ? 4 : 2;
  default: break;
  }
  if (kind < CI)
    return md->rows[kind] < 0x10000 ? 2 : 4;
  unsigned ci = kind - CI, tag_bits = 0;
  while ((1u << tag_bits) < coded_count[ci])
    tag_bits++;
  uint32_t max = 0;
  for (unsigned k = 0; k < coded_count[ci]; k++)
    if (coded_tables[ci][k] != NONE && md->rows[coded_tables[ci][k]] > max)
      max = md->rows[coded_tables[ci][k]];
  return max < (1u << (16 - tag_bits)) ? 2 : 4;
}

/* The #~ stream: row counts, then the tables laid out back to back. */
static ds_status open_tables(ds__md *md, ds__blob tables, const uint32_t *type_system_rows, uint64_t type_system_mask,
                             ds_error *err) {
  if (tables.len < 24)
    return ds_error_set(err, DS_E_TRUNCATED, "metadata: the #~ stream is %u bytes, shorter than its header", tables.len);
  uint8_t heap_sizes = tables.p[6];
  uint64_t valid = (uint64_t)rd32(tables.p + 8) | (uint64_t)rd32(tables.p + 12) << 32;
  size_t at = 24;
  for (unsigned t = 0; t < DS__MD_TABLES; t++) {
    if (!(valid >> t & 1))
      continue;
    if (!schema[t][0])
      return ds_error_set(err, DS_E_CORRUPT, "metadata: table 0x%02x is present but unknown", t);
    if (at + 4 > tables.len)
      return ds_error_set(err, DS_E_TRUNCATED, "metadata: the #~ stream ends in its row counts");
    md->rows[t] = rd32(tables.p + at);
    if (md->rows[t] > 0x00FFFFFFu)
      return ds_error_set(err, DS_E_CORRUPT, "metadata: table 0x%02x claims %u rows", t, md->rows[t]);
    at += 4;
  }
  for (unsigned t = 0, k = 0; type_system_rows && t < DS__MD_TABLES; t++)
    if (type_system_mask >> t & 1)
      md->rows[t] = type_system_rows[k++];
  for (unsigned t = 0; t < DS__MD_TABLES; t++) {
    unsigned offset = 0, c = 0;
    for (; c < 8 && schema[t][c]; c++) {
      md->col_offset[t][c] = (uint8_t)offset;
      md->col_size[t][c] = (uint8_t)column_size(md, schema[t][c], heap_sizes);
      offset += md->col_size[t][c];
    }
    md->col_count[t] = (uint8_t)c;
    md->row_size[t] = offset;
  }
  for (unsigned t = 0; t < DS__MD_TABLES; t++) {
    if (!(valid >> t & 1))
      continue;
    uint64_t bytes = (uint64_t)md->rows[t] * md->row_size[t];
    if (bytes > tables.len - at)
      return ds_error_set(err, DS_E_TRUNCATED, "metadata: table 0x%02x (%u rows) runs past the #~ stream", t,
                          md->rows[t]);
    md->table[t] = tables.p + at;
    at += (size_t)bytes;
  }
  return DS_OK;
}

ds_status ds__md_open(ds__md *md, const uint8_t *base, size_t size, bool pdb, ds_error *err) {
  memset(md, 0, sizeof *md);
  if (size < 32 || rd32(base) != 0x424A5342u)
    return ds_error_set(err, DS_E_FORMAT, "metadata: no metadata signature (BSJB)");
  if (size > UINT32_MAX)
    return ds_error_set(err, DS_E_LIMIT, "metadata: %zu bytes", size);
  md->base = base;
  md->size = (uint32_t)size;
  uint32_t version_len = rd32(base + 12);
  if (version_len > 256 || 16 + (size_t)version_len + 4 > size)
    return ds_error_set(err, DS_E_CORRUPT, "metadata: version string of %u bytes", version_len);
  size_t at = 16 + version_len;
  uint16_t streams = rd16(base + at + 2);
  at += 4;
  ds__blob tables = {0};
  for (uint16_t i = 0; i < streams; i++) {
    if (at + 8 > size)
      return ds_error_set(err, DS_E_TRUNCATED, "metadata: stream header %u past the end", i);
    uint32_t offset = rd32(base + at), len = rd32(base + at + 4);
    const char *name = (const char *)base + at + 8;
    size_t name_max = size - at - 8 < 32 ? size - at - 8 : 32, name_len = strnlen(name, name_max);
    if (name_len == name_max)
      return ds_error_set(err, DS_E_CORRUPT, "metadata: stream name %u not terminated", i);
    if (offset > size || len > size - offset)
      return ds_error_set(err, DS_E_TRUNCATED, "metadata: stream %s runs past the metadata", name);
    ds__blob b = {base + offset, len};
    if (strcmp(name, "#~") == 0)
      tables = b;
    else if (strcmp(name, "#Strings") == 0)
      md->strings = b;
    else if (strcmp(name, "#GUID") == 0)
      md->guids = b;
    else if (strcmp(name, "#Blob") == 0)
      md->blobs = b;
    else if (strcmp(name, "#Pdb") == 0)
      md->pdb = b;
    else if (strcmp(name, "#-") == 0)
      return ds_error_set(err, DS_E_UNSUPPORTED, "metadata: uncompressed (#-) tables are not supported");
    at += 8 + ((name_len + 4) & ~(size_t)3);
  }
  if (!tables.p)
    return ds_error_set(err, DS_E_CORRUPT, "metadata: no #~ stream");
  uint32_t type_rows[DS__MD_TABLES];
  uint64_t mask = 0;
  if (pdb) {
    if (md->pdb.len < 32)
      return ds_error_set(err, DS_E_CORRUPT, "PDB: no #Pdb stream");
    mask = (uint64_t)rd32(md->pdb.p + 24) | (uint64_t)rd32(md->pdb.p + 28) << 32;
    unsigned k = 0;
    for (unsigned t = 0; t < DS__MD_TABLES; t++) {
      if (!(mask >> t & 1))
        continue;
      if (32 + 4 * (size_t)(k + 1) > md->pdb.len)
        return ds_error_set(err, DS_E_TRUNCATED, "PDB: the #Pdb stream ends in its type system row counts");
      type_rows[k] = rd32(md->pdb.p + 32 + 4 * k);
      if (type_rows[k] > 0x00FFFFFFu)
        return ds_error_set(err, DS_E_CORRUPT, "PDB: type system table 0x%02x claims %u rows", t, type_rows[k]);
      k++;
    }
  }
  return open_tables(md, tables, pdb ? type_rows : NULL, mask, err);
}

bool ds__pe_offset(const ds_symbols *s, uint32_t rva, size_t *offset) {
  for (uint16_t i = 0; i < s->section_count; i++) {
    const uint8_t *sh = s->sections + 40 * (size_t)i;
    uint32_t vsize = rd32(sh + 8), va = rd32(sh + 12), raw_size = rd32(sh + 16), raw = rd32(sh + 20);
    uint32_t span = vsize > raw_size ? raw_size : vsize;
    if (rva >= va && rva - va < span) {
      uint64_t off = (uint64_t)raw + (rva - va);
      if (off >= s->assembly_len)
        return false;
      *offset = (size_t)off;
      return true;
    }
  }
  return false;
}

ds_status ds__pe_open(ds_symbols *s, const uint8_t **metadata, size_t *metadata_len, ds_error *err) {
  const uint8_t *f = s->assembly;
  size_t len = s->assembly_len;
  if (len < 0x40 || f[0] != 'M' || f[1] != 'Z')
    return ds_error_set(err, DS_E_FORMAT, "assembly: not a PE file (no MZ header)");
  uint32_t pe = rd32(f + 0x3C);
  if ((uint64_t)pe + 24 > len || memcmp(f + pe, "PE\0\0", 4) != 0)
    return ds_error_set(err, DS_E_FORMAT, "assembly: no PE signature");
  uint16_t sections = rd16(f + pe + 6), opt_size = rd16(f + pe + 20);
  size_t opt = (size_t)pe + 24;
  if (opt + opt_size > len || opt_size < 2)
    return ds_error_set(err, DS_E_TRUNCATED, "assembly: optional header past the end");
  uint16_t magic = rd16(f + opt);
  size_t dirs = opt + (magic == 0x20b ? 112 : magic == 0x10b ? 96 : 0);
  if (dirs == opt || dirs + 16 * 8 > opt + opt_size)
    return ds_error_set(err, DS_E_FORMAT, "assembly: optional header magic 0x%x or size %u", magic, opt_size);
  s->section_count = sections;
  s->sections = f + opt + opt_size;
  if ((size_t)(s->sections - f) + 40 * (size_t)sections > len)
    return ds_error_set(err, DS_E_TRUNCATED, "assembly: %u section headers past the end", sections);
  uint32_t cli_rva = rd32(f + dirs + 14 * 8), debug_rva = rd32(f + dirs + 6 * 8), debug_size = rd32(f + dirs + 6 * 8 + 4);
  size_t cli;
  if (!cli_rva || !ds__pe_offset(s, cli_rva, &cli) || cli + 72 > len)
    return ds_error_set(err, DS_E_FORMAT, "assembly: no CLI header (not a managed assembly)");
  uint32_t md_rva = rd32(f + cli + 8), md_size = rd32(f + cli + 12);
  size_t md;
  if (!ds__pe_offset(s, md_rva, &md) || md_size > len - md)
    return ds_error_set(err, DS_E_TRUNCATED, "assembly: metadata (%u bytes at RVA 0x%x) past the end", md_size, md_rva);
  *metadata = f + md;
  *metadata_len = md_size;
  size_t dbg;
  for (uint32_t e = 0; debug_rva && e < debug_size / 28 && e < 64 && ds__pe_offset(s, debug_rva + 28 * e, &dbg) &&
                       dbg + 28 <= len;
       e++) {
    uint32_t type = rd32(f + dbg + 12), data_size = rd32(f + dbg + 16), data_off = rd32(f + dbg + 24);
    if (type == 2 && data_size >= 24 && data_off <= len - 24 && memcmp(f + data_off, "RSDS", 4) == 0) {
      memcpy(s->codeview_guid, f + data_off + 4, 16);
      s->has_codeview = true;
      break;
    }
  }
  return DS_OK;
}
