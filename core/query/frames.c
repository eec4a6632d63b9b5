/*
 * frames.c: a thread's managed frames with their IL offsets, source lines, arguments and locals
 * (SOSEX !mdv, !mframe; SOS !clrstack -a), from the index's frames, frame info and frame
 * variables sections. A reference's value is shown as the object it points at, from the index; a
 * primitive as its declared type reads it; a struct field by field, from its stack slot in the
 * dump, when the index knows its type's layout.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

#define IL_OFFSET_SPECIAL 0xFFFFFFF0u /* NO_MAPPING, PROLOG, EPILOG: not an offset */

/* The CorElementType of a primitive's declared type, 0 when it is not one. */
static uint32_t primitive_kind(const char *type) {
  static const struct {
    const char *name;
    uint32_t element_type;
  } kinds[] = {{"System.Boolean", 0x2}, {"System.Char", 0x3},   {"System.SByte", 0x4},  {"System.Byte", 0x5},
               {"System.Int16", 0x6},   {"System.UInt16", 0x7}, {"System.Int32", 0x8},  {"System.UInt32", 0x9},
               {"System.Int64", 0xa},   {"System.UInt64", 0xb}, {"System.Single", 0xc}, {"System.Double", 0xd},
               {"System.IntPtr", 0x18}, {"System.UIntPtr", 0x19}};
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
    if (strcmp(kinds[k].name, type) == 0)
      return kinds[k].element_type;
  return 0;
}

/* A primitive from its first bytes, as its declared type reads it. */
static json_t *primitive_json(const uint8_t *bytes, uint32_t size, uint32_t element_type) {
  uint64_t raw = 0;
  memcpy(&raw, bytes, 8);
  switch (element_type) {
  case 0x2: return json_boolean(raw & 0xFF);
  case 0x3: case 0x7: return json_integer((uint16_t)raw);
  case 0x4: return json_integer((int8_t)raw);
  case 0x5: return json_integer((uint8_t)raw);
  case 0x6: return json_integer((int16_t)raw);
  case 0x8: return json_integer((int32_t)raw);
  case 0x9: return json_integer((uint32_t)raw);
  case 0xc: { float f; memcpy(&f, bytes, 4); return json_real(f); }
  case 0xd: { double d; memcpy(&d, bytes, 8); return json_real(d); }
  case 0xa: case 0xb: case 0x18: case 0x19: return json_integer((json_int_t)raw);
  default: break;
  }
  /* the type is not known: shown as a signed integer of its size */
  switch (size) {
  case 1: return json_integer((int8_t)raw);
  case 2: return json_integer((int16_t)raw);
  case 4: return json_integer((int32_t)raw);
  default: return json_integer((json_int_t)raw);
  }
}

/* The index's type named name (the DAC spelling, '+' for nesting), UINT32_MAX when none. */
static uint32_t type_named(const ds_query *q, const char *name) {
  for (uint64_t t = 0; t < q->type_count; t++)
    if (strcmp(ds__type_name(q, (uint32_t)t), name) == 0)
      return (uint32_t)t;
  return UINT32_MAX;
}

/* A struct's fields read from its stack slot, when the index knows its type's layout. */
static json_t *struct_fields(ds_query *q, const ds_index_frame_var *v, const char *type) {
  uint32_t t = v->address && *type ? type_named(q, type) : UINT32_MAX;
  if (t == UINT32_MAX || !ds__need(q, DS_SEC_FIELDS, &(ds_error){0}))
    return NULL;
  ds__view fv = ds__section_view(q->idx, DS_SEC_FIELDS, sizeof(ds_index_field));
  const ds_index_type *ty = &q->types[t];
  if ((uint64_t)ty->field_start + ty->field_count > fv.count)
    return NULL;
  const ds_index_field *fields = fv.data;
  json_t *out = json_object();
  for (uint32_t k = 0; k < ty->field_count; k++) {
    const ds_index_field *fd = &fields[ty->field_start + k];
    if (fd->offset < 8 || fd->offset >= ty->base_size)
      continue; /* the boxed layout's offsets: the MethodTable pointer comes first */
    ds__jset(out, ds_index_string(q->idx, fd->name), ds__value_at(q, v->address + fd->offset - 8, fd->element_type));
  }
  return out;
}

static json_t *value_json(ds_query *q, const ds_index_frame_var *v, const char *type) {
  if (!(v->flags & DS_VAR_HAS_VALUE) && !((v->flags & DS_VAR_VALUE_TYPE) && v->address))
    return json_null();
  uint64_t raw = 0;
  memcpy(&raw, v->bytes, 8);
  if (v->flags & DS_VAR_REFERENCE) {
    if (!raw)
      return json_null();
    json_t *r = json_object();
    ds__jset(r, "address", ds__json_hex(raw));
    uint32_t i = ds_query_find(q, raw, false);
    if (i != UINT32_MAX) {
      ds__jset(r, "type", ds__jstr(ds__type_name(q, q->type[i])));
      const ds_index_type *t = ds__type_of(q, i);
      if (t && (t->flags & DS_TYPE_STRING)) {
        int64_t len;
        char *s = ds__read_string(q, raw, 256, &len);
        if (s)
          ds__jset(r, "string", ds__jstr(s));
        free(s);
      }
    }
    return r;
  }
  if ((v->flags & DS_VAR_PRIMITIVE) && v->size <= 8)
    return primitive_json(v->bytes, v->size, primitive_kind(type));
  if (v->flags & DS_VAR_VALUE_TYPE) {
    json_t *fields = struct_fields(q, v, type);
    if (fields)
      return json_pack("{s:o}", "fields", fields);
    if (!(v->flags & DS_VAR_HAS_VALUE))
      return json_null();
  }
  char hex[2 * sizeof v->bytes + 3] = "0x";
  uint32_t n = v->size < sizeof v->bytes ? v->size : (uint32_t)sizeof v->bytes;
  for (uint32_t k = n; k-- > 0;) /* little-endian: the most significant byte first */
    snprintf(hex + 2 + 2 * (n - 1 - k), 3, "%02x", v->bytes[k]);
  return ds__jstr(hex);
}

static json_t *var_json(ds_query *q, const ds_index_frame_var *v) {
  json_t *j = json_object();
  char local[32];
  snprintf(local, sizeof local, "local_%u", v->index);
  const char *name = ds_index_string(q->idx, v->name), *type = ds_index_string(q->idx, v->type_name);
  ds__jset(j, "name", ds__jstr(v->flags & DS_VAR_ARGUMENT || name[0] ? name : local));
  ds__jset(j, "index", json_integer(v->index));
  ds__jset(j, "type", type[0] ? ds__jstr(type) : json_null());
  ds__jset(j, "kind", ds__jstr(v->flags & DS_VAR_REFERENCE   ? "reference"
                               : v->flags & DS_VAR_PRIMITIVE  ? "primitive"
                               : v->flags & DS_VAR_VALUE_TYPE ? "struct"
                                                              : "other"));
  ds__jset(j, "location", v->address ? ds__json_hex(v->address) : json_null());
  ds__jset(j, "size", json_integer(v->size));
  ds__jset(j, "available", json_boolean(v->flags & DS_VAR_HAS_VALUE));
  ds__jset(j, "value", value_json(q, v, type));
  return j;
}

static json_t *frame_json(ds_query *q, uint64_t fi, const ds_index_frame_info *info, uint64_t info_count,
                          const ds_index_frame_var *vars, uint64_t var_count) {
  const ds_index_frame *f = &q->frames[fi];
  json_t *j = json_object();
  ds__jset(j, "depth", json_integer(f->depth));
  ds__jset(j, "method", ds__jstr(ds_index_string(q->idx, f->method)));
  ds__jset(j, "sp", ds__json_hex(f->sp));
  ds__jset(j, "ip", ds__json_hex(f->ip));
  ds__jset(j, "runtime_frame", json_boolean(f->frame_address != 0));
  json_t *args = json_array(), *locals = json_array();
  const ds_index_frame_info *fin = fi < info_count ? &info[fi] : NULL;
  ds__jset(j, "il_offset", fin && fin->il_offset < IL_OFFSET_SPECIAL ? json_integer(fin->il_offset) : json_null());
  ds__jset(j, "file", fin && fin->file ? ds__jstr(ds_index_string(q->idx, fin->file)) : json_null());
  ds__jset(j, "line", fin && fin->line ? json_integer(fin->line) : json_null());
  ds__jset(j, "column", fin && fin->line ? json_integer(fin->column) : json_null());
  for (uint32_t k = 0; fin && k < fin->var_count; k++) {
    uint64_t vi = (uint64_t)fin->first_var + k;
    if (vi >= var_count || vars[vi].frame != fi)
      break;
    ds__jappend(vars[vi].flags & DS_VAR_ARGUMENT ? args : locals, var_json(q, &vars[vi]));
  }
  ds__jset(j, "arguments", args);
  ds__jset(j, "locals", locals);
  return j;
}

static ds_status query_frames(ds_query *q, uint32_t thread, int64_t depth, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err) || !ds__need(q, DS_SEC_THREADS, err) || !ds__need(q, DS_SEC_FRAMES, err) ||
      !ds__need(q, DS_SEC_FRAME_INFO, err) || !ds__need(q, DS_SEC_FRAME_VARS, err))
    return err->code;
  uint32_t ti;
  const ds_index_thread *t = ds__find_thread(q, thread, &ti);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with OS id or managed id %u", thread);
  if (depth >= (int64_t)t->frame_count)
    return ds_error_set(err, DS_E_NOT_FOUND, "frame: thread %u has %u frames (0 to %u)", t->os_id, t->frame_count,
                        t->frame_count ? t->frame_count - 1 : 0);
  ds__view iv = ds__section_view(q->idx, DS_SEC_FRAME_INFO, sizeof(ds_index_frame_info));
  ds__view vv = ds__section_view(q->idx, DS_SEC_FRAME_VARS, sizeof(ds_index_frame_var));
  const ds_index_frame_info *info = iv.count == q->frame_count ? iv.data : NULL;
  json_t *doc = json_pack("{s:i,s:i}", "os_id", (int)t->os_id, "managed_id", (int)t->managed_id);
  json_t *frames = json_array();
  for (uint32_t f = 0; f < t->frame_count; f++) {
    uint64_t fi = (uint64_t)t->first_frame + f;
    if (fi >= q->frame_count)
      break;
    if (depth >= 0 && f != depth)
      continue;
    ds__jappend(frames, frame_json(q, fi, info, info ? iv.count : 0, vv.data, vv.count));
  }
  ds__jset(doc, "frames", frames);
  if (!info)
    ds__jset(doc, "variables", ds__jstr("unavailable: the index has no frame variables; rebuild it"));
  *out = doc;
  return DS_OK;
}

ds_status ds_query_frames(ds_query *q, uint32_t thread, int64_t depth, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_frames(q, thread, depth, out, err), out, err);
}
