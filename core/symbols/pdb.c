/*
 * pdb.c: opening an assembly with its portable PDB, and what the PDB says of a method: sequence
 * points (MethodDebugInformation, decoded as the Portable PDB spec's "Sequence Points Blob") and
 * local variable names (LocalScope, LocalVariable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

#include "symbolsint.h"

#define HIDDEN_LINE 0xFEEFEEu

static void note_set(char *note, size_t note_len, const char *text) {
  if (note && note_len)
    snprintf(note, note_len, "%s", text);
}

/* Reads a whole file of at most DS_MAX_SYMBOL_FILE_BYTES. */
static ds_status read_file(const char *path, uint8_t **out, size_t *len, ds_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return ds_error_set(err, DS_E_IO, "cannot open %s", path);
  ds_status rc = DS_OK;
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0)
    size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
    rc = ds_error_set(err, DS_E_IO, "cannot size %s", path);
  else if ((unsigned long)size > DS_MAX_SYMBOL_FILE_BYTES)
    rc = ds_error_set(err, DS_E_LIMIT, "%s is %ld bytes, more than DS_MAX_SYMBOL_FILE_BYTES", path, size);
  else if (!(*out = malloc(size ? (size_t)size : 1)))
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory reading %s", path);
  else if (fread(*out, 1, (size_t)size, f) != (size_t)size)
    rc = ds_error_set(err, DS_E_IO, "cannot read %s", path);
  fclose(f);
  if (rc != DS_OK) {
    free(*out);
    *out = NULL;
  }
  *len = rc == DS_OK ? (size_t)size : 0;
  return rc;
}

/* Takes the PDB bytes (owned) when they are a portable PDB whose id matches the assembly. */
static void attach_pdb(ds_symbols *s, uint8_t *pdb, size_t pdb_len, char *note, size_t note_len) {
  ds_error perr = {0};
  s->pdb_file = pdb;
  s->pdb_len = pdb_len;
  if (ds__md_open(&s->pdb, pdb, pdb_len, true, &perr) != DS_OK) {
    note_set(note, note_len, perr.message);
    return;
  }
  if (s->has_codeview && memcmp(s->pdb.pdb.p, s->codeview_guid, 16) != 0) {
    note_set(note, note_len, "the PDB's id does not match the assembly's (another build)");
    return;
  }
  s->has_pdb = true;
  note_set(note, note_len, "");
}

static ds_status open_assembly(ds_symbols *s, ds_error *err) {
  const uint8_t *metadata;
  size_t metadata_len;
  ds_status rc = ds__pe_open(s, &metadata, &metadata_len, err);
  if (rc == DS_OK)
    rc = ds__md_open(&s->md, metadata, metadata_len, false, err);
  return rc;
}

ds_status ds_symbols_open_bytes(const uint8_t *assembly, size_t assembly_len, const uint8_t *pdb, size_t pdb_len,
                                ds_symbols **out, char *note, size_t note_len, ds_error *err) {
  *out = NULL;
  note_set(note, note_len, "no PDB");
  ds_symbols *s = calloc(1, sizeof *s);
  if (!s || !(s->assembly = malloc(assembly_len ? assembly_len : 1))) {
    free(s);
    return ds_error_set(err, DS_E_NOMEM, "out of memory for an assembly");
  }
  memcpy(s->assembly, assembly, assembly_len);
  s->assembly_len = assembly_len;
  ds_status rc = open_assembly(s, err);
  if (rc == DS_OK && pdb) {
    uint8_t *copy = malloc(pdb_len ? pdb_len : 1);
    if (!copy)
      rc = ds_error_set(err, DS_E_NOMEM, "out of memory for a PDB");
    else {
      memcpy(copy, pdb, pdb_len);
      attach_pdb(s, copy, pdb_len, note, note_len);
    }
  }
  if (rc != DS_OK)
    ds_symbols_free(s);
  else
    *out = s;
  return rc;
}

ds_status ds_symbols_open(const char *assembly_path, ds_symbols **out, char *note, size_t note_len, ds_error *err) {
  *out = NULL;
  note_set(note, note_len, "no PDB next to the assembly");
  ds_symbols *s = calloc(1, sizeof *s);
  if (!s)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for an assembly");
  ds_status rc = read_file(assembly_path, &s->assembly, &s->assembly_len, err);
  if (rc == DS_OK)
    rc = open_assembly(s, err);
  if (rc == DS_OK) {
    char pdb_path[4096];
    size_t n = strlen(assembly_path);
    const char *dot = strrchr(assembly_path, '.'), *slash = strrchr(assembly_path, '/');
    if (dot && (!slash || dot > slash))
      n = (size_t)(dot - assembly_path);
    uint8_t *pdb;
    size_t pdb_len;
    ds_error ignore = {0};
    if (snprintf(pdb_path, sizeof pdb_path, "%.*s.pdb", (int)n, assembly_path) < (int)sizeof pdb_path &&
        read_file(pdb_path, &pdb, &pdb_len, &ignore) == DS_OK)
      attach_pdb(s, pdb, pdb_len, note, note_len);
  }
  if (rc != DS_OK)
    ds_symbols_free(s);
  else
    *out = s;
  return rc;
}

void ds_symbols_free(ds_symbols *s) {
  if (!s)
    return;
  free(s->assembly);
  free(s->pdb_file);
  free(s);
}

bool ds_symbols_has_pdb(const ds_symbols *s) { return s && s->has_pdb; }

/* A Document's name: a separator, then parts (blob indices) joined by it. */
static bool document_name(const ds_symbols *s, uint32_t doc, char *out, size_t out_len) {
  if (!out_len)
    return false;
  out[0] = '\0';
  if (doc == 0 || doc > s->pdb.rows[DS__T_DOCUMENT])
    return false;
  ds__blob name = ds__md_blob(&s->pdb, ds__md_cell(&s->pdb, DS__T_DOCUMENT, doc, 0));
  if (name.len < 1)
    return false;
  char sep = (char)name.p[0];
  name.p++, name.len--;
  size_t at = 0;
  for (unsigned part = 0; name.len && part < 4096; part++) {
    uint32_t index;
    if (!ds__read_compressed(&name, &index))
      return false;
    ds__blob text = index ? ds__md_blob(&s->pdb, index) : (ds__blob){NULL, 0};
    size_t need = (part && sep ? 1 : 0) + text.len;
    if (at + need + 1 > out_len)
      return false;
    if (part && sep)
      out[at++] = sep;
    if (text.len)
      memcpy(out + at, text.p, text.len);
    at += text.len;
    out[at] = '\0';
  }
  return memchr(out, '\0', at + 1) == out + at; /* no NUL inside a part */
}

/* Decodes a method's sequence points; fn gets each (hidden ones too, line HIDDEN_LINE) and returns
 * false to stop. */
static bool sequence_points(const ds_symbols *s, uint32_t method_token,
                            bool (*fn)(void *ctx, uint32_t doc, const ds_sequence_point *sp), void *ctx) {
  uint32_t row = method_token & 0x00FFFFFFu;
  if (!s || !s->has_pdb || method_token >> 24 != DS__T_METHODDEF || row == 0 || row > s->pdb.rows[DS__T_METHODDEBUG])
    return false;
  uint32_t doc = ds__md_cell(&s->pdb, DS__T_METHODDEBUG, row, 0);
  ds__blob b = ds__md_blob(&s->pdb, ds__md_cell(&s->pdb, DS__T_METHODDEBUG, row, 1));
  uint32_t local_sig, il = 0, line = 0, column = 0, delta_il, delta_lines;
  bool first = true, seen_visible = false;
  if (!b.len || !ds__read_compressed(&b, &local_sig) || (doc == 0 && !ds__read_compressed(&b, &doc)))
    return false;
  for (unsigned n = 0; b.len && n < DS_MAX_SEQUENCE_POINTS; n++) {
    if (!ds__read_compressed(&b, &delta_il))
      return false;
    if (!first && delta_il == 0) { /* a document record */
      if (!ds__read_compressed(&b, &doc))
        return false;
      continue;
    }
    il = first ? delta_il : il + delta_il;
    first = false;
    int32_t delta_columns_signed;
    uint32_t delta_columns;
    if (!ds__read_compressed(&b, &delta_lines))
      return false;
    if (delta_lines == 0) {
      if (!ds__read_compressed(&b, &delta_columns))
        return false;
    } else {
      if (!ds__read_compressed_signed(&b, &delta_columns_signed))
        return false;
      delta_columns = (uint32_t)delta_columns_signed;
    }
    ds_sequence_point sp = {il, HIDDEN_LINE, 0};
    if (delta_lines != 0 || delta_columns != 0) {
      if (!seen_visible) {
        uint32_t l, c;
        if (!ds__read_compressed(&b, &l) || !ds__read_compressed(&b, &c))
          return false;
        line = l, column = c;
      } else {
        int32_t dl, dc;
        if (!ds__read_compressed_signed(&b, &dl) || !ds__read_compressed_signed(&b, &dc))
          return false;
        line = (uint32_t)((int64_t)line + dl), column = (uint32_t)((int64_t)column + dc);
      }
      seen_visible = true;
      sp.line = line, sp.column = column;
    }
    if (!fn(ctx, doc, &sp))
      break;
  }
  return true;
}

typedef struct line_ctx {
  uint32_t il_offset, doc;
  ds_sequence_point best;
  bool found;
} line_ctx;

static bool on_line(void *ctx, uint32_t doc, const ds_sequence_point *sp) {
  line_ctx *c = ctx;
  if (sp->il_offset > c->il_offset)
    return false;
  if (sp->line != HIDDEN_LINE) {
    c->best = *sp;
    c->doc = doc;
    c->found = true;
  }
  return true;
}

bool ds_symbols_line(const ds_symbols *s, uint32_t method_token, uint32_t il_offset, char *file, size_t file_len,
                     uint32_t *line, uint32_t *column) {
  line_ctx c = {.il_offset = il_offset};
  if (!sequence_points(s, method_token, on_line, &c) || !c.found)
    return false;
  *line = c.best.line;
  *column = c.best.column;
  if (file && file_len && !document_name(s, c.doc, file, file_len))
    file[0] = '\0';
  return true;
}

typedef struct list_ctx {
  ds_sequence_point *out;
  size_t max, count;
  uint32_t doc;
} list_ctx;

static bool on_point(void *ctx, uint32_t doc, const ds_sequence_point *sp) {
  list_ctx *c = ctx;
  if (sp->line == HIDDEN_LINE)
    return true;
  if (c->count == 0)
    c->doc = doc;
  if (c->count >= c->max)
    return false;
  c->out[c->count++] = *sp;
  return true;
}

size_t ds_symbols_sequence_points(const ds_symbols *s, uint32_t method_token, ds_sequence_point *out, size_t max,
                                  char *file, size_t file_len) {
  list_ctx c = {out, max, 0, 0};
  if (file && file_len)
    file[0] = '\0';
  if (!sequence_points(s, method_token, on_point, &c))
    return 0;
  if (c.count && file && file_len && !document_name(s, c.doc, file, file_len))
    file[0] = '\0';
  return c.count;
}

bool ds_symbols_local_name(const ds_symbols *s, uint32_t method_token, uint32_t il_offset, uint32_t slot, char *out,
                           size_t out_len) {
  uint32_t method = method_token & 0x00FFFFFFu;
  if (!s || !s->has_pdb || !out_len || method_token >> 24 != DS__T_METHODDEF)
    return false;
  const ds__md *p = &s->pdb;
  uint32_t scopes = p->rows[DS__T_LOCALSCOPE], vars = p->rows[DS__T_LOCALVARIABLE];
  /* scopes are sorted by method: find the first of this method */
  uint32_t lo = 1, hi = scopes + 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ds__md_cell(p, DS__T_LOCALSCOPE, mid, 0) < method)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (uint32_t r = lo; r <= scopes && ds__md_cell(p, DS__T_LOCALSCOPE, r, 0) == method; r++) {
    uint32_t start = ds__md_cell(p, DS__T_LOCALSCOPE, r, 4), length = ds__md_cell(p, DS__T_LOCALSCOPE, r, 5);
    if (il_offset != UINT32_MAX && (il_offset < start || il_offset - start >= length))
      continue;
    uint32_t first = ds__md_cell(p, DS__T_LOCALSCOPE, r, 2);
    uint32_t end = r < scopes ? ds__md_cell(p, DS__T_LOCALSCOPE, r + 1, 2) : vars + 1;
    if (end > vars + 1)
      end = vars + 1;
    for (uint32_t v = first; v && v < end; v++) {
      if (ds__md_cell(p, DS__T_LOCALVARIABLE, v, 1) != slot)
        continue;
      const char *name = ds__md_string(p, ds__md_cell(p, DS__T_LOCALVARIABLE, v, 2));
      if (!*name)
        continue;
      snprintf(out, out_len, "%s", name);
      return true;
    }
  }
  return false;
}
