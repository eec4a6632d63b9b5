/*
 * analysis.c: open a dump for analysis (dump -> runtime -> DAC -> heap description), plus the
 * DAC-backed type details (fields, array elements) that the walk itself never needs.
 */
#include "dumpscope/analysis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

ds_status ds_analysis_open(const char *dump_path, const ds_dac_search *search, ds_analysis **out,
                           ds_error *err) {
  *out = NULL;
  ds_analysis *a = calloc(1, sizeof *a);
  if (!a)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  double t0 = now_ms();
  ds_status rc = ds_dump_open(dump_path, &a->dump, err);
  if (rc != DS_OK)
    goto out;
  double t1 = now_ms();
  a->open_ms = t1 - t0;
  if ((rc = ds_runtime_identify(a->dump, &a->runtime, err)) != DS_OK)
    goto out;
  if ((rc = ds_dac_locate(&a->runtime, search, a->dac_path, sizeof a->dac_path, err)) != DS_OK)
    goto out;
  if ((rc = ds_dac_open(a->dump, &a->runtime, a->dac_path, &a->dac, err)) != DS_OK)
    goto out;
  double t2 = now_ms();
  a->dac_ms = t2 - t1;
  if ((rc = ds_heap_load(a->dac, a->dump, &a->heap, err)) != DS_OK) {
    ds_error_wrap(err, "reading the GC heap description");
    goto out;
  }
  a->heap_ms = now_ms() - t2;
out:
  if (rc != DS_OK) {
    ds_analysis_close(a);
    return rc;
  }
  *out = a;
  return DS_OK;
}

void ds_analysis_close(ds_analysis *a) {
  if (!a)
    return;
  ds_heap_destroy(a->heap);
  ds_dac_close(a->dac);
  ds_dump_close(a->dump);
  free(a);
}

const ds_layout *ds_analysis_layout(const ds_analysis *a) {
  if (a->heap)
    return ds_heap_layout(a->heap);
  const ds_layout *l = ds_layout_for_version(a->runtime.version);
  return l ? l : ds_layout_default();
}

const char *ds_element_type_name(uint32_t t) {
  switch (t) {
  case DS_ELEMENT_BOOLEAN: return "System.Boolean";
  case DS_ELEMENT_CHAR: return "System.Char";
  case DS_ELEMENT_I1: return "System.SByte";
  case DS_ELEMENT_U1: return "System.Byte";
  case DS_ELEMENT_I2: return "System.Int16";
  case DS_ELEMENT_U2: return "System.UInt16";
  case DS_ELEMENT_I4: return "System.Int32";
  case DS_ELEMENT_U4: return "System.UInt32";
  case DS_ELEMENT_I8: return "System.Int64";
  case DS_ELEMENT_U8: return "System.UInt64";
  case DS_ELEMENT_R4: return "System.Single";
  case DS_ELEMENT_R8: return "System.Double";
  case DS_ELEMENT_STRING: return "System.String";
  case DS_ELEMENT_I: return "System.IntPtr";
  case DS_ELEMENT_U: return "System.UIntPtr";
  case DS_ELEMENT_OBJECT: return "System.Object";
  default: return NULL;
  }
}

uint32_t ds_element_type_size(uint32_t t) {
  switch (t) {
  case DS_ELEMENT_BOOLEAN: case DS_ELEMENT_I1: case DS_ELEMENT_U1: return 1;
  case DS_ELEMENT_CHAR: case DS_ELEMENT_I2: case DS_ELEMENT_U2: return 2;
  case DS_ELEMENT_I4: case DS_ELEMENT_U4: case DS_ELEMENT_R4: return 4;
  case DS_ELEMENT_I8: case DS_ELEMENT_U8: case DS_ELEMENT_R8: case DS_ELEMENT_I: case DS_ELEMENT_U:
  case DS_ELEMENT_PTR: case DS_ELEMENT_FNPTR: return 8;
  default: return 0;
  }
}

bool ds_element_type_is_reference(uint32_t t) {
  return t == DS_ELEMENT_STRING || t == DS_ELEMENT_CLASS || t == DS_ELEMENT_OBJECT ||
         t == DS_ELEMENT_SZARRAY || t == DS_ELEMENT_ARRAY;
}

/* Appends the fields introduced by mt (after its parents'). */
static ds_status collect_fields(ds_analysis *a, uint64_t mt, bool with_statics, ds_field **fields,
                                size_t *count, size_t *cap, int depth, uint32_t *instance_total,
                                ds_error *err) {
  if (depth > (int)DS_MAX_TYPE_DEPTH)
    return ds_error_set(err, DS_E_CORRUPT, "type hierarchy of 0x%llx deeper than %u (DS_MAX_TYPE_DEPTH)",
                        (unsigned long long)mt, DS_MAX_TYPE_DEPTH);
  ds_dacp_method_table data;
  ds_status rc = ds_dac_method_table(a->dac, mt, &data, err);
  if (rc != DS_OK)
    return rc;
  uint32_t inherited = 0;
  if (data.parent_method_table) {
    rc = collect_fields(a, data.parent_method_table, with_statics, fields, count, cap, depth + 1,
                        &inherited, err);
    if (rc != DS_OK)
      return rc;
  }
  ds_dacp_field_table ft;
  if ((rc = ds_dac_method_table_fields(a->dac, mt, &ft, err)) != DS_OK)
    return rc;
  *instance_total = ft.num_instance_fields;
  /* instance fields of this class = cumulative count - parents'; statics follow */
  uint32_t own_instance = ft.num_instance_fields > inherited ? ft.num_instance_fields - inherited : 0;
  uint32_t total = own_instance + ft.num_static_fields;
  if (total > DS_MAX_FIELDS_PER_TYPE)
    return ds_error_set(err, DS_E_LIMIT, "type 0x%llx has %u fields", (unsigned long long)mt, total);
  ds_addr fd = ft.first_field;
  for (uint32_t i = 0; i < total && fd; i++) {
    ds_dacp_field f;
    if ((rc = ds_dac_field(a->dac, fd, &f, err)) != DS_OK)
      return rc;
    fd = f.next_field;
    if (f.is_static && !with_statics)
      continue;
    if (*count == *cap) {
      size_t ncap = *cap ? *cap * 2 : 16;
      ds_field *p = realloc(*fields, ncap * sizeof *p);
      if (!p)
        return ds_error_set(err, DS_E_NOMEM, "out of memory listing fields");
      *fields = p;
      *cap = ncap;
    }
    ds_field *out = &(*fields)[(*count)++];
    memset(out, 0, sizeof *out);
    out->offset = ds_layout_field_offset(ds_analysis_layout(a), f.offset, f.is_static != 0);
    out->element_type = f.type;
    out->type_mt = f.mt_of_type;
    out->is_static = f.is_static != 0;
    out->is_thread_static = f.is_thread_local != 0;
    out->declaring_mt = mt;
    ds_error ignore = {0};
    if (ds_dac_field_name(a->dac, data.module, f.field_token, out->name, sizeof out->name, &ignore) != DS_OK)
      snprintf(out->name, sizeof out->name, "<field 0x%x>", f.field_token);
    const char *prim = ds_element_type_name(f.type);
    if (f.mt_of_type && ds_dac_method_table_name(a->dac, f.mt_of_type, out->type_name,
                                                 sizeof out->type_name, &ignore) == DS_OK)
      ;
    else if (prim)
      snprintf(out->type_name, sizeof out->type_name, "%s", prim);
    else
      snprintf(out->type_name, sizeof out->type_name, "%s",
               f.type == DS_ELEMENT_VALUETYPE ? "<struct>" : "System.Object");
  }
  return DS_OK;
}

ds_status ds_analysis_type_fields(ds_analysis *a, uint64_t mt, bool with_statics, ds_field **fields,
                                  size_t *count, ds_error *err) {
  *fields = NULL;
  *count = 0;
  size_t cap = 0;
  uint32_t total = 0;
  ds_status rc = collect_fields(a, mt, with_statics, fields, count, &cap, 0, &total, err);
  if (rc != DS_OK) {
    free(*fields);
    *fields = NULL;
    *count = 0;
  }
  return rc;
}

ds_status ds_analysis_array_element(ds_analysis *a, uint64_t array, uint64_t *element_mt,
                                    uint32_t *element_type, ds_error *err) {
  return ds_dac_array_element(a->dac, array, element_mt, element_type, err);
}
