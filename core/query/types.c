/*
 * types.c: types, fields and methods from the index (SOSEX !mdt and !mx).
 *
 * mdt shows a type's instance field layout (offsets, field types, value types expanded inline),
 * its static fields with their values and the methods it defines; or an object with its fields'
 * values, value types expanded inline and references followed a chosen number of levels. mx
 * searches type, field and method names with wildcards. Everything comes from the index (types,
 * fields, field info, statics, methods) and values from the dump's memory.
 */
#include "dumpscope/query.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

/* ---- lookups ----------------------------------------------------------------------------------- */

typedef struct type_views {
  const ds_index_field_info *field_info; /* NULL when absent or not parallel to the fields */
  const ds_index_static *statics;
  uint64_t static_count;
  const ds_index_method *methods;
  uint64_t method_count;
} type_views;

static bool load_views(ds_query *q, type_views *v, ds_error *err) {
  if (!ds__need(q, DS_SEC_FIELDS, err) || !ds__need(q, DS_SEC_FIELD_INFO, err) || !ds__need(q, DS_SEC_STATICS, err) ||
      !ds__need(q, DS_SEC_METHODS, err))
    return false;
  ds__view fi = ds__section_view(q->idx, DS_SEC_FIELD_INFO, sizeof(ds_index_field_info));
  v->field_info = fi.count == q->field_count ? fi.data : NULL;
  ds__view st = ds__section_view(q->idx, DS_SEC_STATICS, sizeof(ds_index_static));
  v->statics = st.data, v->static_count = st.count;
  ds__view me = ds__section_view(q->idx, DS_SEC_METHODS, sizeof(ds_index_method));
  v->methods = me.data, v->method_count = me.count;
  return true;
}

/* The type whose MethodTable is mt, UINT32_MAX when none. */
static uint32_t type_by_mt(const ds_query *q, uint64_t mt) {
  for (uint64_t t = 0; t < q->type_count; t++)
    if (q->types[t].mt == mt)
      return (uint32_t)t;
  return UINT32_MAX;
}

/* The type named name (SOS or ClrMD spelling), UINT32_MAX when none. */
static uint32_t type_by_name(const ds_query *q, const char *name) {
  for (uint64_t t = 0; t < q->type_count; t++) {
    const char *n = ds__type_name(q, (uint32_t)t);
    if (strcmp(n, name) == 0)
      return (uint32_t)t;
    char clr[DS_MAX_TYPE_NAME_CHARS];
    ds_type_name_clrmd(n, clr, sizeof clr);
    if (strcmp(clr, name) == 0)
      return (uint32_t)t;
  }
  return UINT32_MAX;
}

static bool parse_hex(const char *text, uint64_t *out) {
  const char *p = text;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    p += 2;
  size_t len = strlen(p);
  if (len == 0 || len > 16 || strspn(p, "0123456789abcdefABCDEF") != len)
    return false;
  *out = strtoull(p, NULL, 16);
  return true;
}

static const char *element_name(uint32_t et) {
  switch (et) {
  case 0x2: return "Boolean";
  case 0x3: return "Char";
  case 0x4: return "SByte";
  case 0x5: return "Byte";
  case 0x6: return "Int16";
  case 0x7: return "UInt16";
  case 0x8: return "Int32";
  case 0x9: return "UInt32";
  case 0xa: return "Int64";
  case 0xb: return "UInt64";
  case 0xc: return "Single";
  case 0xd: return "Double";
  case 0xe: return "String";
  case 0xf: return "Pointer";
  case 0x11: return "ValueType";
  case 0x12: return "Class";
  case 0x14: return "Array";
  case 0x18: return "IntPtr";
  case 0x19: return "UIntPtr";
  case 0x1b: return "FunctionPointer";
  case 0x1c: return "Object";
  case 0x1d: return "SZArray";
  default: return "Unknown";
  }
}

/* ---- expansion ----------------------------------------------------------------------------------- */

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct expand {
  ds_query *q;
  const type_views *v;
  size_t elements;           /* array elements shown per array */
  size_t budget;             /* values left to produce */
  bool truncated;
} expand;

static json_t *object_body(expand *x, uint32_t i, unsigned depth);

/* Adds the members of body (an object's fields or elements) to value, an object, releasing body. */
static void merge(json_t *value, json_t *body) {
  json_object_update(value, body);
  json_decref(body);
}

/* The instance fields of type t, laid out at base (the address the type's field offsets count
 * from: an object's address, or an embedded value's address minus the MethodTable pointer).
 * values: read them from the dump; depth: reference levels still to follow; nesting: value
 * types inside value types. */
static json_t *fields_of(expand *x, uint32_t t, uint64_t base, bool values, unsigned depth, unsigned nesting) {
  ds_query *q = x->q;
  json_t *list = json_array();
  if (t >= q->type_count)
    return list;
  const ds_index_type *ty = &q->types[t];
  /* in offset order, as the object lays them out */
  uint64_t order[DS_MAX_MDT_FIELDS];
  size_t count = 0;
  for (uint32_t f = 0; f < ty->field_count && count < DS_MAX_MDT_FIELDS; f++) {
    uint64_t fi = (uint64_t)ty->field_start + f;
    if (fi >= q->field_count)
      break;
    order[count++] = (uint64_t)q->fields[fi].offset << 32 | fi;
  }
  qsort(order, count, sizeof *order, compare_u64);
  for (size_t k = 0; k < count; k++) {
    uint64_t fi = order[k] & 0xffffffffu;
    if (x->budget == 0) {
      x->truncated = true;
      break;
    }
    x->budget--;
    const ds_index_field *fd = &q->fields[fi];
    json_t *j = json_object();
    ds__jset(j, "name", ds__jstr(ds_index_string(q->idx, fd->name)));
    ds__jset(j, "type", ds__jstr(ds_index_string(q->idx, fd->type_name)));
    /* a value type's fields count from its first byte; an object's from its MethodTable pointer */
    ds__jset(j, "offset", json_integer(nesting ? (json_int_t)fd->offset - 8 : (json_int_t)fd->offset));
    ds__jset(j, "element_type", ds__jstr(element_name(fd->element_type)));
    uint32_t declaring = x->v->field_info ? x->v->field_info[fi].declaring_type : UINT32_MAX;
    if (declaring != UINT32_MAX && declaring != t && declaring < q->type_count)
      ds__jset(j, "declared_by", ds__jstr(ds__type_name(q, declaring)));
    uint64_t where = base + fd->offset;
    uint32_t vt = x->v->field_info ? x->v->field_info[fi].field_type : UINT32_MAX;
    if (fd->element_type == 0x11) {
      /* a value type lies inline: its fields count from where minus the MethodTable pointer */
      json_t *inner = vt < q->type_count && nesting < DS_MAX_MDT_NESTING
                          ? fields_of(x, vt, where - 8, values, depth, nesting + 1)
                          : NULL;
      if (values)
        ds__jset(j, "address", ds__json_hex(where));
      if (inner)
        ds__jset(j, "fields", inner);
    } else if (values) {
      json_t *value = ds__value_at(q, where, fd->element_type);
      json_t *target = json_object_get(value, "address");
      uint64_t ref = 0;
      if (depth > 0 && json_is_string(target) && parse_hex(json_string_value(target), &ref)) {
        uint32_t o = ds_query_find(q, ref, false);
        if (o != UINT32_MAX)
          merge(value, object_body(x, o, depth - 1));
      }
      ds__jset(j, "value", value);
    }
    ds__jappend(list, j);
  }
  return list;
}

/* An array's first elements, each expanded like a field. */
static json_t *elements_of(expand *x, uint32_t i, unsigned depth) {
  ds_query *q = x->q;
  const ds_index_type *t = ds__type_of(q, i);
  json_t *list = json_array();
  uint32_t length = 0;
  if (!t || !q->dump || !ds_layout_read_length(q->layout, q->dump, q->addr[i], &length))
    return list;
  uint32_t esz = t->component_size ? t->component_size : 8, et = t->element_type ? t->element_type : 0x12;
  for (uint64_t k = 0; k < length && k < x->elements; k++) {
    if (x->budget == 0) {
      x->truncated = true;
      break;
    }
    x->budget--;
    uint64_t where = ds_layout_element(q->layout, q->addr[i], k, esz);
    json_t *e;
    if (et == 0x11) {
      e = json_object();
      ds__jset(e, "address", ds__json_hex(where));
      if (t->element_type_index < q->type_count)
        ds__jset(e, "fields", fields_of(x, t->element_type_index, where - 8, true, depth, 1));
    } else {
      e = ds__value_at(q, where, et);
      json_t *target = json_object_get(e, "address");
      uint64_t ref = 0;
      if (depth > 0 && json_is_string(target) && parse_hex(json_string_value(target), &ref)) {
        uint32_t o = ds_query_find(q, ref, false);
        if (o != UINT32_MAX)
          merge(e, object_body(x, o, depth - 1));
      }
    }
    ds__jappend(list, e);
  }
  return list;
}

/* What an object holds: its fields, or an array's length and first elements (strings hold their
 * value already). */
static json_t *object_body(expand *x, uint32_t i, unsigned depth) {
  ds_query *q = x->q;
  json_t *body = json_object();
  const ds_index_type *t = ds__type_of(q, i);
  if (!t || (t->flags & (DS_TYPE_STRING | DS_TYPE_FREE)))
    return body;
  if (t->flags & DS_TYPE_ARRAY) {
    uint32_t length = 0;
    if (q->dump && ds_layout_read_length(q->layout, q->dump, q->addr[i], &length))
      ds__jset(body, "length", json_integer(length));
    ds__jset(body, "elements", elements_of(x, i, depth));
  } else {
    ds__jset(body, "fields", fields_of(x, q->type[i], q->addr[i], true, depth, 0));
  }
  return body;
}

/* ---- mdt ----------------------------------------------------------------------------------------- */

static json_t *statics_of(expand *x, uint32_t t) {
  ds_query *q = x->q;
  const type_views *v = x->v;
  json_t *list = json_array();
  for (uint64_t s = 0; s < v->static_count; s++) {
    const ds_index_static *st = &v->statics[s];
    if (st->type != t)
      continue;
    json_t *j = json_object();
    ds__jset(j, "name", ds__jstr(ds_index_string(q->idx, st->name)));
    ds__jset(j, "type", ds__jstr(ds_index_string(q->idx, st->type_name)));
    ds__jset(j, "element_type", ds__jstr(element_name(st->element_type)));
    ds__jset(j, "thread_static", json_boolean(st->flags & DS_STATIC_THREAD));
    ds__jset(j, "address", st->address ? ds__json_hex(st->address) : json_null());
    /* a value-type static is boxed: its slot holds a reference like any other */
    uint32_t et = st->element_type == 0x11 ? 0x12 : st->element_type;
    json_t *value = st->address ? ds__value_at(q, st->address, et) : json_null();
    json_t *target = json_object_get(value, "address");
    uint64_t ref = 0;
    if (st->element_type == 0x11 && json_is_string(target) && parse_hex(json_string_value(target), &ref)) {
      uint32_t o = ds_query_find(q, ref, false);
      if (o != UINT32_MAX)
        merge(value, object_body(x, o, 0));
    }
    ds__jset(j, "value", value);
    ds__jappend(list, j);
  }
  return list;
}

static json_t *methods_of(const ds_query *q, const type_views *v, uint32_t t, size_t limit, uint64_t *total) {
  json_t *list = json_array();
  *total = 0;
  for (uint64_t m = 0; m < v->method_count; m++) {
    const ds_index_method *me = &v->methods[m];
    if (me->type != t)
      continue;
    if ((*total)++ >= limit)
      continue;
    ds__jappend(list, json_pack("{s:o,s:o,s:o,s:o}", "name", ds__jstr(ds_index_string(q->idx, me->name)),
                                "method_desc", ds__json_hex(me->method_desc), "code",
                                me->code ? ds__json_hex(me->code) : json_null(), "token", ds__json_hex(me->token)));
  }
  return list;
}

static json_t *type_head(const ds_query *q, uint32_t t) {
  const ds_index_type *ty = &q->types[t];
  json_t *j = json_object();
  char clr[DS_MAX_TYPE_NAME_CHARS];
  ds_type_name_clrmd(ds__type_name(q, t), clr, sizeof clr);
  ds__jset(j, "type", ds__jstr(ds__type_name(q, t)));
  ds__jset(j, "display_name", ds__jstr(clr));
  ds__jset(j, "mt", ds__json_hex(ty->mt));
  ds__jset(j, "base_size", json_integer(ty->base_size));
  ds__jset(j, "component_size", json_integer(ty->component_size));
  return j;
}

static ds_status query_mdt(ds_query *q, const char *target, unsigned depth, size_t elements, json_t **out,
                           ds_error *err) {
  type_views v;
  if (!ds__require_objects(q, err) || !load_views(q, &v, err))
    return err->code;
  uint64_t addr = 0;
  uint32_t object = UINT32_MAX, t = UINT32_MAX;
  if (parse_hex(target, &addr)) {
    object = ds_query_find(q, addr, false);
    t = object != UINT32_MAX ? q->type[object] : type_by_mt(q, addr);
    if (t == UINT32_MAX) {
      uint32_t c = ds_query_find(q, addr, true);
      if (c != UINT32_MAX)
        return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is inside object 0x%llx (%s), not at its start",
                            (unsigned long long)addr, (unsigned long long)q->addr[c], ds__type_name(q, q->type[c]));
    }
  }
  if (t == UINT32_MAX && object == UINT32_MAX)
    t = type_by_name(q, target);
  if (t >= q->type_count)
    return ds_error_set(err, DS_E_NOT_FOUND,
                        "no object, MethodTable or type named \"%.200s\" in the index (mx PATTERN finds names)", target);
  expand x = {q, &v, elements, DS_MAX_MDT_VALUES, false};
  json_t *doc = type_head(q, t);
  ds__jset(doc, "fields", fields_of(&x, t, 0, false, 0, 0));
  ds__jset(doc, "statics", statics_of(&x, t));
  uint64_t method_total = 0;
  ds__jset(doc, "methods", methods_of(q, &v, t, DS_MAX_MDT_METHODS, &method_total));
  ds__jset(doc, "method_count", json_integer((json_int_t)method_total));
  if (object != UINT32_MAX) {
    json_t *o = ds__object_ref(q, object);
    int g = ds__gen_of(q, object);
    ds__jset(o, "generation", ds__jstr(g >= 0 ? ds_gen_name((ds_gen)g) : "unknown"));
    ds__jset(o, "live", json_boolean(ds__is_live(q, object)));
    merge(o, object_body(&x, object, depth));
    ds__jset(doc, "object", o);
  } else {
    ds__jset(doc, "object", json_null());
  }
  ds__jset(doc, "depth", json_integer(depth));
  ds__jset(doc, "truncated", json_boolean(x.truncated));
  if (!q->dump && object != UINT32_MAX)
    ds__jset(doc, "values", ds__jstr("unavailable: the dump file is not accessible"));
  *out = doc;
  return DS_OK;
}

ds_status ds_query_mdt(ds_query *q, const char *target, unsigned depth, size_t elements, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_mdt(q, target, depth, elements, out, err), out, err);
}

/* ---- mx ------------------------------------------------------------------------------------------- */

/* Case-insensitive wildcard match: '*' any run of characters, '?' one character. */
static bool glob(const char *p, const char *s) {
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      resume = s;
    } else if (*p == '?' || (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s))) {
      p++;
      s++;
    } else if (star) {
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (*p == '*')
    p++;
  return *p == '\0';
}

/* A method's name matches with or without its parameter list. */
static bool method_matches(const char *pattern, const char *name) {
  if (glob(pattern, name))
    return true;
  const char *paren = strchr(name, '(');
  char bare[DS_MAX_FRAME_NAME_CHARS];
  if (!paren || (size_t)(paren - name) >= sizeof bare)
    return false;
  memcpy(bare, name, (size_t)(paren - name));
  bare[paren - name] = '\0';
  const char *dot = strrchr(bare, '.');
  return glob(pattern, bare) || (dot && glob(pattern, dot + 1));
}

static bool type_matches(const ds_query *q, const char *pattern, uint32_t t) {
  const char *n = ds__type_name(q, t);
  if (glob(pattern, n))
    return true;
  char clr[DS_MAX_TYPE_NAME_CHARS];
  ds_type_name_clrmd(n, clr, sizeof clr);
  return glob(pattern, clr);
}

/* "Type.field" or the field's bare name. */
static bool member_matches(const char *pattern, const char *type, const char *name) {
  char full[DS_MAX_TYPE_NAME_CHARS + 256];
  snprintf(full, sizeof full, "%s.%s", type, name);
  return glob(pattern, full) || glob(pattern, name);
}

static void search_fields(ds_query *q, const type_views *v, const char *pattern, size_t limit, json_t *list,
                          uint64_t *total) {
  for (uint64_t t = 0; t < q->type_count; t++) {
    const ds_index_type *ty = &q->types[t];
    const char *tn = ds__type_name(q, (uint32_t)t);
    for (uint32_t f = 0; f < ty->field_count; f++) {
      uint64_t fi = (uint64_t)ty->field_start + f;
      if (fi >= q->field_count)
        break;
      uint32_t declaring = v->field_info ? v->field_info[fi].declaring_type : (uint32_t)t;
      if (declaring != t) /* listed with the type that declares it */
        continue;
      const ds_index_field *fd = &q->fields[fi];
      const char *name = ds_index_string(q->idx, fd->name);
      if (!member_matches(pattern, tn, name) || (*total)++ >= limit)
        continue;
      ds__jappend(list, json_pack("{s:o,s:o,s:o,s:o,s:i,s:b}", "type", ds__jstr(tn), "mt", ds__json_hex(ty->mt),
                                  "name", ds__jstr(name), "field_type",
                                  ds__jstr(ds_index_string(q->idx, fd->type_name)), "offset", (int)fd->offset,
                                  "static", false));
    }
  }
  for (uint64_t s = 0; s < v->static_count; s++) {
    const ds_index_static *st = &v->statics[s];
    if (st->type >= q->type_count)
      continue;
    const char *tn = ds__type_name(q, st->type), *name = ds_index_string(q->idx, st->name);
    if (!member_matches(pattern, tn, name) || (*total)++ >= limit)
      continue;
    ds__jappend(list, json_pack("{s:o,s:o,s:o,s:o,s:o,s:b}", "type", ds__jstr(tn), "mt",
                                ds__json_hex(q->types[st->type].mt), "name", ds__jstr(name), "field_type",
                                ds__jstr(ds_index_string(q->idx, st->type_name)), "address",
                                st->address ? ds__json_hex(st->address) : json_null(), "static", true));
  }
}

/* One more method whose type the index does not hold (no instances, never on a stack): its type
 * is what its name says, its MethodTable unknown. */
static void add_other_method(ds_query *q, const char *name, uint64_t md, uint64_t code, json_t *methods) {
  char type[DS_MAX_FRAME_NAME_CHARS];
  const char *paren = strchr(name, '(');
  size_t len = paren ? (size_t)(paren - name) : strlen(name);
  if (len >= sizeof type)
    len = sizeof type - 1;
  memcpy(type, name, len);
  type[len] = '\0';
  char *dot = strrchr(type, '.');
  if (dot && dot > type && dot[-1] == '.') /* "Ns.Type..ctor" */
    dot--;
  if (dot)
    *dot = '\0';
  (void)q;
  ds__jappend(methods, json_pack("{s:s,s:n,s:s,s:o,s:o}", "type", type, "mt", "name", name, "method_desc",
                                 ds__json_hex(md), "code", code ? ds__json_hex(code) : json_null()));
}

/* The methods the index knows beyond its types' own: the code it recorded (methods on stacks and
 * the methods recorded code calls) and the callees known only by their MethodDesc. */
static bool search_other_methods(ds_query *q, const type_views *v, const char *pattern, size_t limit, json_t *methods,
                                 uint64_t *total) {
  uint64_t *known = malloc((v->method_count + 1) * sizeof *known);
  if (!known)
    return false;
  for (uint64_t m = 0; m < v->method_count; m++)
    known[m] = v->methods[m].method_desc;
  qsort(known, v->method_count, sizeof *known, compare_u64);
  ds__view rv = ds__section_view(q->idx, DS_SEC_MEMORY_RANGES, sizeof(ds_index_memory_range));
  ds__view cv = ds__section_view(q->idx, DS_SEC_CALLEES, sizeof(ds_index_callee));
  const ds_index_memory_range *ranges = rv.data;
  const ds_index_callee *callees = cv.data;
  for (uint64_t r = 0; r < rv.count + cv.count; r++) {
    bool is_range = r < rv.count;
    uint64_t md = is_range ? ranges[r].method_desc : callees[r - rv.count].method_desc;
    if (is_range && ranges[r].kind != DS_MEMORY_JIT_METHOD && ranges[r].kind != DS_MEMORY_PRECOMPILED_METHOD)
      continue;
    const char *name = ds_index_string(q->idx, is_range ? ranges[r].name : callees[r - rv.count].name);
    if (!md || bsearch(&md, known, v->method_count, sizeof *known, compare_u64) || !method_matches(pattern, name))
      continue;
    bool dup = false; /* a method recorded twice (a range and a callee) is listed once */
    for (uint64_t k = 0; k < r && !dup; k++)
      dup = k < rv.count ? ranges[k].method_desc == md && (ranges[k].kind == DS_MEMORY_JIT_METHOD ||
                                                           ranges[k].kind == DS_MEMORY_PRECOMPILED_METHOD)
                         : callees[k - rv.count].method_desc == md;
    if (dup || (*total)++ >= limit)
      continue;
    add_other_method(q, name, md, is_range ? ranges[r].start : 0, methods);
  }
  free(known);
  return true;
}

static ds_status query_search(ds_query *q, const char *pattern, unsigned kinds, size_t limit, json_t **out,
                              ds_error *err) {
  type_views v;
  if (!ds__require_objects(q, err) || !load_views(q, &v, err) || !ds__need(q, DS_SEC_GEN_HIST, err))
    return err->code;
  uint64_t *counts = calloc(q->type_count + 1, sizeof *counts);
  if (!counts)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  ds__view hv = ds__section_view(q->idx, DS_SEC_GEN_HIST, sizeof(ds_index_hist));
  const ds_index_hist *hist = hv.data;
  for (uint64_t h = 0; h < hv.count; h++)
    if (hist[h].type < q->type_count)
      counts[hist[h].type] += hist[h].count;
  json_t *doc = json_object(), *types = json_array(), *fields = json_array(), *methods = json_array();
  uint64_t type_total = 0, field_total = 0, method_total = 0;
  for (uint64_t t = 0; (kinds & DS_SEARCH_TYPES) && t < q->type_count; t++) {
    if (!type_matches(q, pattern, (uint32_t)t) || type_total++ >= limit)
      continue;
    json_t *j = type_head(q, (uint32_t)t);
    ds__jset(j, "instances", json_integer((json_int_t)counts[t]));
    ds__jappend(types, j);
  }
  if (kinds & DS_SEARCH_FIELDS)
    search_fields(q, &v, pattern, limit, fields, &field_total);
  for (uint64_t m = 0; (kinds & DS_SEARCH_METHODS) && m < v.method_count; m++) {
    const ds_index_method *me = &v.methods[m];
    const char *name = ds_index_string(q->idx, me->name);
    if (me->type >= q->type_count || !method_matches(pattern, name) || method_total++ >= limit)
      continue;
    ds__jappend(methods, json_pack("{s:o,s:o,s:o,s:o,s:o}", "type", ds__jstr(ds__type_name(q, me->type)), "mt",
                                   ds__json_hex(q->types[me->type].mt), "name", ds__jstr(name), "method_desc",
                                   ds__json_hex(me->method_desc), "code",
                                   me->code ? ds__json_hex(me->code) : json_null()));
  }
  free(counts);
  if ((kinds & DS_SEARCH_METHODS) && !search_other_methods(q, &v, pattern, limit, methods, &method_total)) {
    json_decref(doc);
    json_decref(types);
    json_decref(fields);
    json_decref(methods);
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  }
  ds__jset(doc, "pattern", ds__jstr(pattern));
  ds__jset(doc, "types", types);
  ds__jset(doc, "type_count", json_integer((json_int_t)type_total));
  ds__jset(doc, "fields", fields);
  ds__jset(doc, "field_count", json_integer((json_int_t)field_total));
  ds__jset(doc, "methods", methods);
  ds__jset(doc, "method_count", json_integer((json_int_t)method_total));
  ds__jset(doc, "truncated", json_boolean(type_total > limit || field_total > limit || method_total > limit));
  *out = doc;
  return DS_OK;
}

ds_status ds_query_search(ds_query *q, const char *pattern, unsigned kinds, size_t limit, json_t **out,
                          ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_search(q, pattern, kinds, limit, out, err), out, err);
}
