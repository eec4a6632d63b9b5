/*
 * framevars.c: phase "frame variables" of the index build: each frame's IL offset and the
 * arguments and locals the root collection read of the managed frames (SOSEX !mdv), written as
 * the frame info and frame variables sections; with, where the method's assembly is on disk, the
 * declared types of its variables (the assembly's signatures) and, where a matching portable PDB
 * sits next to it, the frame's source file and line and its locals' names.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacmem.h"
#include "dumpscope/dacstack.h"
#include "dumpscope/limits.h"
#include "dumpscope/symbols.h"

#include "analyzeint.h"

/* The frame's method: its assembly's symbols and MethodDef token (NULL when unknown). */
static ds_symbols *frame_symbols(ds__build *b, const ds_frame_info *fr, uint32_t *token) {
  uint64_t start, size, md;
  bool jitted;
  ds_error ignore = {0};
  *token = 0;
  if (fr->frame_address || !fr->ip ||
      ds_dac_method_code(b->a->dac, fr->ip, &start, &size, &md, &jitted, &ignore) != DS_OK)
    return NULL;
  return ds__symbols_of_method(b, md, token);
}

/* File and line of the frame's IL offset, from the PDB. */
static void frame_position(ds__build *b, ds_symbols *s, ds_index_frame_info *info) {
  char file[1024];
  uint32_t line, column;
  if (s && info->il_offset != UINT32_MAX &&
      ds_symbols_line(s, info->token, info->il_offset, file, sizeof file, &line, &column)) {
    info->line = line;
    info->column = column;
    info->file = file[0] ? ds_strpool_add(&b->pool, file) : 0;
  }
}

/* A variable's name: an argument's from metadata (the DAC), a local's from the PDB. */
static uint32_t var_name(ds__build *b, ds_symbols *s, const ds_index_frame_info *info, const ds_frame_var *v) {
  char name[512];
  if (v->is_argument)
    return ds_strpool_add(&b->pool, v->name);
  if (s && ds_symbols_local_name(s, info->token, info->il_offset, v->index, name, sizeof name))
    return ds_strpool_add(&b->pool, name);
  return 0;
}

static uint32_t var_type(ds__build *b, ds_symbols *s, const ds_index_frame_info *info, const ds_frame_var *v) {
  char type[DS_MAX_TYPE_NAME_CHARS];
  type[0] = '\0';
  if (!s || !info->token)
    return 0;
  bool ok = v->is_argument ? ds_symbols_argument_type(s, info->token, v->index, type, sizeof type)
                           : ds_symbols_local_type(s, info->token, v->index, type, sizeof type);
  return ok && type[0] ? ds_strpool_add(&b->pool, type) : 0;
}

ds_status ds__build_frame_vars(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  size_t frames = roots->frame_count, vars = roots->var_count;
  ds_index_frame_info *info = calloc(frames ? frames : 1, sizeof *info);
  ds_index_frame_var *out = calloc(vars ? vars : 1, sizeof *out);
  ds_symbols **symbols = calloc(frames ? frames : 1, sizeof *symbols);
  ds_status rc = DS_OK;
  if (!info || !out || !symbols) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for frame variables");
    goto out;
  }
  for (size_t f = 0; f < frames; f++) {
    info[f] = (ds_index_frame_info){.il_offset = roots->frames[f].il_offset};
    symbols[f] = frame_symbols(b, &roots->frames[f], &info[f].token);
    frame_position(b, symbols[f], &info[f]);
  }
  size_t kept = 0;
  for (size_t v = 0; v < vars; v++) {
    const ds_frame_var *src = &roots->vars[v];
    if (src->frame >= frames)
      continue;
    ds_index_frame_info *fi = &info[src->frame];
    if (fi->var_count == 0)
      fi->first_var = (uint32_t)kept;
    fi->var_count++; /* the collector appends a frame's variables together, in order */
    uint32_t flags = (src->is_argument ? DS_VAR_ARGUMENT : 0u) | (src->has_value ? DS_VAR_HAS_VALUE : 0u) |
                     (src->flags & DS_DAC_VALUE_PRIMITIVE ? DS_VAR_PRIMITIVE : 0u) |
                     (src->flags & DS_DAC_VALUE_VALUE_TYPE ? DS_VAR_VALUE_TYPE : 0u) |
                     (src->flags & (DS_DAC_VALUE_REFERENCE | DS_DAC_VALUE_STRING | DS_DAC_VALUE_ARRAY) ? DS_VAR_REFERENCE
                                                                                                      : 0u);
    out[kept] = (ds_index_frame_var){(uint32_t)src->frame,
                                     var_name(b, symbols[src->frame], fi, src),
                                     src->index,
                                     flags,
                                     src->has_address ? src->address : 0,
                                     src->size,
                                     var_type(b, symbols[src->frame], fi, src),
                                     {0}};
    memcpy(out[kept].bytes, src->bytes, sizeof out[kept].bytes);
    kept++;
  }
  if ((rc = ds_index_writer_add(b->w, DS_SEC_FRAME_INFO, info, frames * sizeof *info, err)) == DS_OK)
    rc = ds_index_writer_add(b->w, DS_SEC_FRAME_VARS, out, kept * sizeof *out, err);
out:
  free(info);
  free(out);
  free(symbols);
  return rc;
}
