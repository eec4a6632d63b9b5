/*
 * framevars.c: phase "frame variables" of the index build: each frame's IL offset and the
 * arguments and locals the root collection read of the managed frames (SOSEX !mdv), written as
 * the frame info and frame variables sections.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacstack.h"

#include "analyzeint.h"

ds_status ds__build_frame_vars(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  size_t frames = roots->frame_count, vars = roots->var_count;
  ds_index_frame_info *info = calloc(frames ? frames : 1, sizeof *info);
  ds_index_frame_var *out = calloc(vars ? vars : 1, sizeof *out);
  ds_status rc = DS_OK;
  if (!info || !out) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for frame variables");
    goto out;
  }
  for (size_t f = 0; f < frames; f++)
    info[f] = (ds_index_frame_info){roots->frames[f].il_offset, 0, 0, 0};
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
    out[kept] = (ds_index_frame_var){(uint32_t)src->frame, src->is_argument ? ds_strpool_add(&b->pool, src->name) : 0,
                                     src->index, flags, src->has_address ? src->address : 0, src->size, 0, {0}};
    memcpy(out[kept].bytes, src->bytes, sizeof out[kept].bytes);
    kept++;
  }
  if ((rc = ds_index_writer_add(b->w, DS_SEC_FRAME_INFO, info, frames * sizeof *info, err)) == DS_OK)
    rc = ds_index_writer_add(b->w, DS_SEC_FRAME_VARS, out, kept * sizeof *out, err);
out:
  free(info);
  free(out);
  return rc;
}
