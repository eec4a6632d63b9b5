/*
 * symbolsint.h: internals of core/symbols: an ECMA-335 metadata image (the tables of a managed
 * PE file's metadata or of a portable PDB) with bounds-checked cells, heaps and blobs.
 */
#ifndef DUMPSCOPE_SYMBOLSINT_H
#define DUMPSCOPE_SYMBOLSINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"
#include "dumpscope/symbols.h"

#define DS__MD_TABLES 64u

enum {
  DS__T_MODULE = 0x00, DS__T_TYPEREF = 0x01, DS__T_TYPEDEF = 0x02, DS__T_FIELD = 0x04, DS__T_METHODDEF = 0x06,
  DS__T_PARAM = 0x08, DS__T_MEMBERREF = 0x0A, DS__T_STANDALONESIG = 0x11, DS__T_TYPESPEC = 0x1B,
  DS__T_ASSEMBLYREF = 0x23, DS__T_NESTEDCLASS = 0x29,
  DS__T_DOCUMENT = 0x30, DS__T_METHODDEBUG = 0x31, DS__T_LOCALSCOPE = 0x32, DS__T_LOCALVARIABLE = 0x33,
};

/* A blob: bytes inside the image (never past its end). */
typedef struct ds__blob {
  const uint8_t *p;
  uint32_t len;
} ds__blob;

typedef struct ds__md {
  const uint8_t *base;        /* the metadata root */
  uint32_t size;
  ds__blob strings, guids, blobs, pdb;
  uint32_t rows[DS__MD_TABLES];
  uint32_t row_size[DS__MD_TABLES];
  uint8_t col_offset[DS__MD_TABLES][8], col_size[DS__MD_TABLES][8], col_count[DS__MD_TABLES];
  const uint8_t *table[DS__MD_TABLES];
} ds__md;

/* Parses the metadata root at [base, base+size). type_system_rows: for a PDB, the row counts of
 * the assembly's tables (its #Pdb stream's), NULL for an assembly. */
ds_status ds__md_open(ds__md *md, const uint8_t *base, size_t size, bool pdb, ds_error *err);
/* Cell `col` of 1-based row `row` of table t; 0 when out of range. */
uint32_t ds__md_cell(const ds__md *md, unsigned t, uint32_t row, unsigned col);
/* A #Strings entry ("" when out of range or not NUL-terminated inside the heap). */
const char *ds__md_string(const ds__md *md, uint32_t index);
/* A #Blob entry (len 0 when out of range). */
ds__blob ds__md_blob(const ds__md *md, uint32_t index);
/* A #GUID entry (NULL when out of range). */
const uint8_t *ds__md_guid(const ds__md *md, uint32_t index);
/* ECMA-335 II.23.2 compressed unsigned / signed integers; false past the end. */
bool ds__read_compressed(ds__blob *b, uint32_t *out);
bool ds__read_compressed_signed(ds__blob *b, int32_t *out);

struct ds_symbols {
  uint8_t *assembly;          /* the whole file */
  size_t assembly_len;
  uint8_t *pdb_file;
  size_t pdb_len;
  ds__md md;                  /* the assembly's metadata */
  ds__md pdb;                 /* the PDB's, when has_pdb */
  bool has_pdb;
  uint8_t codeview_guid[16];  /* the assembly's CodeView entry, when has_codeview */
  bool has_codeview;
  uint16_t section_count;
  const uint8_t *sections;    /* PE section headers (40 bytes each) */
};

/* The file offset of a PE RVA; false when no section holds it. */
bool ds__pe_offset(const ds_symbols *s, uint32_t rva, size_t *offset);
/* The assembly's PE headers: metadata root, CodeView entry, sections. */
ds_status ds__pe_open(ds_symbols *s, const uint8_t **metadata, size_t *metadata_len, ds_error *err);
/* The name of a TypeDefOrRefOrSpec-encoded type (reflection spelling). */
bool ds__type_name(const ds_symbols *s, ds__blob *sig, char *out, size_t out_len, unsigned depth);

#endif
