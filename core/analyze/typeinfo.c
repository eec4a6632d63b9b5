/*
 * typeinfo.c: the type records of the index and phase "type details" of the build: what SOSEX
 * !mdt and !mx need beyond the heap's own types.
 *
 * build_types (build.c) describes each heap type with ds__type_record and ds__describe_fields.
 * ds__build_type_details then adds the types those records point at without having instances:
 * the value types of fields (whose fields lie inline in the containing object), the types that
 * declare fields, and the types whose methods are on a thread's stack (static classes such as a
 * program's scenario classes), describes them the same way, until no new type appears. Then it
 * records every type's static fields (with their addresses when the type is initialized) and the
 * methods each type defines, and writes the field info, statics and methods sections.
 *
 * The DAC is asked once per type (fields, statics base, methods) and once per method (name,
 * native code), never per object.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dacmem.h"
#include "dumpscope/dactypes.h"

#include "analyzeint.h"

/* A field as the DAC described it, before its types have indices. */
typedef struct field_raw {
  uint64_t value_mt;     /* value-type fields: the declared type's MethodTable */
  uint64_t declaring_mt;
} field_raw;

typedef struct static_raw {
  uint32_t type;         /* declaring type's index */
  uint32_t offset;       /* from the static base (or the thread's storage) */
  ds_index_static rec;   /* address: offset from the static base until resolved */
  uint64_t value_mt;
} static_raw;

struct ds__typeinfo {
  DS__VEC(field_raw) fields;  /* parallel to b->fields */
  DS__VEC(static_raw) statics;
  DS__VEC(ds_index_memory_range) code; /* the native code of every compiled method */
  DS__VEC(ds__static_root) static_roots; /* static slots holding an object */
  uint8_t *described;         /* per type index: fields described (or not describable) */
  size_t described_cap;
};

void ds__typeinfo_free(ds__build *b) {
  if (!b->typeinfo)
    return;
  free(b->typeinfo->fields.items);
  free(b->typeinfo->statics.items);
  free(b->typeinfo->code.items);
  free(b->typeinfo->static_roots.items);
  free(b->typeinfo->described);
  free(b->typeinfo);
  b->typeinfo = NULL;
}

void ds__type_record(ds__build *b, const ds_type *ht, ds_index_type *it) {
  memset(it, 0, sizeof *it);
  it->mt = ht->mt;
  it->name = ds_strpool_add(&b->pool, ht->name ? ht->name : "");
  it->base_size = ht->base_size;
  it->component_size = ht->component_size;
  it->flags = ht->flags;
  it->element_type_index = UINT32_MAX;
}

static ds_status mark_described(ds__build *b, uint32_t t, ds_error *err) {
  struct ds__typeinfo *ti = b->typeinfo;
  if (t >= ti->described_cap) {
    size_t cap = ti->described_cap ? ti->described_cap : 1024;
    while (cap <= t)
      cap *= 2;
    uint8_t *grown = realloc(ti->described, cap);
    if (!grown)
      return ds_error_set(err, DS_E_NOMEM, "out of memory for type details");
    memset(grown + ti->described_cap, 0, cap - ti->described_cap);
    ti->described = grown;
    ti->described_cap = cap;
  }
  ti->described[t] = 1;
  return DS_OK;
}

static bool is_described(const ds__build *b, uint32_t t) {
  return b->typeinfo && t < b->typeinfo->described_cap && b->typeinfo->described[t];
}

/* Appends one instance field to the field table (and its raw type details). */
static ds_status add_instance_field(ds__build *b, const ds_field *f) {
  ds_index_field xf = {ds_strpool_add(&b->pool, f->name), ds_strpool_add(&b->pool, f->type_name), f->offset,
                       f->element_type};
  field_raw raw = {f->element_type == DS_ELEMENT_VALUETYPE ? f->type_mt : 0, f->declaring_mt};
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->fields, xf, DS_MAX_INDEX_FIELDS, rc);
  if (rc == DS_OK) {
    DS__VEC_PUSH(b->typeinfo->fields, raw, DS_MAX_INDEX_FIELDS, rc);
    if (rc != DS_OK)
      b->fields.count--; /* keep the two tables parallel */
  }
  return rc;
}

static ds_status add_static_field(ds__build *b, uint32_t t, const ds_field *f) {
  static_raw s = {t, f->offset,
                  {t, ds_strpool_add(&b->pool, f->name), ds_strpool_add(&b->pool, f->type_name), f->element_type,
                   f->is_thread_static ? DS_STATIC_THREAD : 0u, UINT32_MAX, f->offset},
                  f->element_type == DS_ELEMENT_VALUETYPE ? f->type_mt : 0};
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->typeinfo->statics, s, DS_MAX_INDEX_FIELDS, rc);
  return rc;
}

ds_status ds__describe_fields(ds__build *b, uint32_t t, const ds_type *ht, ds_index_type *it, ds_error *err) {
  if (!b->typeinfo && !(b->typeinfo = calloc(1, sizeof *b->typeinfo)))
    return ds_error_set(err, DS_E_NOMEM, "out of memory for type details");
  ds_status rc = mark_described(b, t, err);
  if (rc != DS_OK)
    return rc;
  ds_field *fl = NULL;
  size_t fc = 0;
  ds_error ignore = {0};
  if (ds_analysis_type_fields(b->a, ht->mt, true, &fl, &fc, &ignore) != DS_OK)
    return DS_OK; /* no layout: the type is listed without fields */
  it->field_start = (uint32_t)b->fields.count;
  uint32_t instance = 0;
  for (size_t f = 0; f < fc && rc == DS_OK; f++) {
    if (!fl[f].is_static) {
      rc = add_instance_field(b, &fl[f]);
      instance += rc == DS_OK;
    } else if (fl[f].declaring_mt == ht->mt) {
      rc = add_static_field(b, t, &fl[f]);
    }
  }
  free(fl);
  if (rc != DS_OK)
    return ds__vec_error(err, rc, "fields", DS_MAX_INDEX_FIELDS, "DS_MAX_INDEX_FIELDS");
  it->field_count = instance;
  return DS_OK;
}

/* ---- phase "type details" ---------------------------------------------------------------------- */

/* Records every type the heap's table gained since the last call, and describes the fields of
 * the ones that have some. */
static ds_status describe_new_types(ds__build *b, ds_error *err) {
  size_t total = ds_heap_type_count(b->heap);
  if (total > b->type_total) {
    ds_index_type *grown = realloc(b->types, total * sizeof *b->types);
    if (!grown)
      return ds_error_set(err, DS_E_NOMEM, "out of memory for types");
    b->types = grown;
    for (size_t t = b->type_total; t < total; t++)
      ds__type_record(b, ds_heap_type(b->heap, (uint32_t)t), &b->types[t]);
    b->type_total = total;
  }
  for (size_t t = 0; t < b->type_total; t++) {
    if (is_described(b, (uint32_t)t))
      continue;
    const ds_type copy = *ds_heap_type(b->heap, (uint32_t)t); /* describing may grow the table */
    ds_status rc;
    if (copy.flags & (DS_TYPE_ARRAY | DS_TYPE_STRING | DS_TYPE_FREE | DS_TYPE_INVALID))
      rc = mark_described(b, (uint32_t)t, err);
    else
      rc = ds__describe_fields(b, (uint32_t)t, &copy, &b->types[t], err);
    if (rc != DS_OK)
      return rc;
  }
  return DS_OK;
}

/* The index of MethodTable mt, adding it to the heap's table when new; UINT32_MAX when the DAC
 * cannot read it. */
static uint32_t type_of_mt(ds__build *b, uint64_t mt) {
  ds_error ignore = {0};
  if (!mt || ds_heap_type_count(b->heap) >= DS_MAX_TYPES)
    return UINT32_MAX;
  return ds_heap_type_index(b->heap, mt, &ignore);
}

/* The index of a type already recorded in b->types, UINT32_MAX otherwise (a type met only now
 * stays without a record's details). */
static uint32_t recorded_type(ds__build *b, uint64_t mt) {
  uint32_t t = type_of_mt(b, mt);
  return t < b->type_total ? t : UINT32_MAX;
}

/* Gives every type the heap's table holds a record (without fields), so that the table and the
 * records agree when the build goes on. */
static ds_status record_stragglers(ds__build *b, ds_error *err) {
  size_t total = ds_heap_type_count(b->heap);
  if (total <= b->type_total)
    return DS_OK;
  ds_index_type *grown = realloc(b->types, total * sizeof *b->types);
  if (!grown)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for types");
  b->types = grown;
  for (size_t t = b->type_total; t < total; t++)
    ds__type_record(b, ds_heap_type(b->heap, (uint32_t)t), &b->types[t]);
  b->type_total = total;
  return DS_OK;
}

/* The types whose methods run on a thread's stack (their code's MethodDesc's MethodTable). A
 * dynamic (LCG) method has none: ds_dac_method_desc refuses it, as it refuses a MethodDesc whose
 * chunk does not name a valid MethodTable, before the DAC is asked anything that could crash. */
static void stack_method_types(ds__build *b) {
  const ds_root_set *roots = b->roots;
  uint64_t last = 0;
  for (size_t f = 0; f < roots->frame_count; f++) {
    const ds_frame_info *fr = &roots->frames[f];
    uint64_t start, size, md, mt, code;
    uint32_t token;
    bool jitted;
    ds_error ignore = {0};
    if (fr->frame_address || !fr->ip ||
        ds_dac_method_code(b->a->dac, fr->ip, &start, &size, &md, &jitted, &ignore) != DS_OK || md == last ||
        ds_dac_method_desc(b->a->dac, md, &mt, &token, &code, &ignore) != DS_OK)
      continue;
    last = md;
    type_of_mt(b, mt);
  }
}

/* Types of the runtime the analysis needs though they have no instances, looked up in CoreLib
 * (the module of System.Object): System.Environment, whose statics the report reads
 * (s_commandLineArgs: the command line as Environment.GetCommandLineArgs gives it), and
 * System.IDisposable, the interface the undisposed-objects finding checks for. */
static void runtime_types(ds__build *b) {
  ds_dacp_useful_globals globals;
  ds_dacp_method_table object;
  ds_error ignore = {0};
  ds_addr environment = 0;
  if (ds_dac_useful_globals(b->a->dac, &globals, &ignore) != DS_OK || !globals.object_mt ||
      ds_dac_method_table(b->a->dac, globals.object_mt, &object, &ignore) != DS_OK || !object.module)
    return;
  if (ds_dac_module_type(b->a->dac, object.module, "System.Environment", &environment, &ignore) == DS_OK && environment)
    type_of_mt(b, environment);
  ds_dac_module_type(b->a->dac, object.module, "System.IDisposable", &b->idisposable_mt, &ignore);
}

/* Adds and describes the types that fields and statics point at (value types, declaring types)
 * until none is new, then gives each field its types' indices. */
static ds_status resolve_field_types(ds__build *b, ds_index_field_info **out, ds_error *err) {
  ds_status rc;
  for (int round = 0; round < (int)DS_MAX_TYPE_DEPTH; round++) {
    size_t before = ds_heap_type_count(b->heap);
    struct ds__typeinfo *ti = b->typeinfo;
    for (size_t f = 0; ti && f < ti->fields.count; f++) {
      type_of_mt(b, ti->fields.items[f].value_mt);
      type_of_mt(b, ti->fields.items[f].declaring_mt);
    }
    for (size_t s = 0; ti && s < ti->statics.count; s++)
      type_of_mt(b, ti->statics.items[s].value_mt);
    if ((rc = describe_new_types(b, err)) != DS_OK)
      return rc;
    if (ds_heap_type_count(b->heap) == before)
      break;
  }
  size_t n = b->fields.count;
  *out = malloc((n ? n : 1) * sizeof **out);
  if (!*out)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for field details");
  for (size_t f = 0; f < n; f++) {
    const field_raw *raw = b->typeinfo && f < b->typeinfo->fields.count ? &b->typeinfo->fields.items[f] : NULL;
    (*out)[f].field_type = raw && raw->value_mt ? recorded_type(b, raw->value_mt) : UINT32_MAX;
    (*out)[f].declaring_type = raw ? recorded_type(b, raw->declaring_mt) : UINT32_MAX;
  }
  return DS_OK;
}

/* The types that have statics but no instance (static classes above all): found from the known
 * types' modules (statics.c), and the declaring types of the thread-static roots. */
static ds_status storage_owner_types(ds__build *b, ds_error *err);

static ds_status static_types(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  for (size_t r = 0; r < roots->root_count; r++)
    if (roots->roots[r].field_mt)
      type_of_mt(b, roots->roots[r].field_mt);
  if (!b->a->dac)
    return DS_OK;
  size_t n = ds_heap_type_count(b->heap), count = 0;
  uint64_t *seeds = malloc((n ? n : 1) * sizeof *seeds), *mts = NULL;
  if (!seeds)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the types with statics");
  for (size_t t = 0; t < n; t++) {
    const ds_type *ht = ds_heap_type(b->heap, (uint32_t)t);
    if (ht && ht->mt && !(ht->flags & (DS_TYPE_FREE | DS_TYPE_INVALID)))
      seeds[count++] = ht->mt;
  }
  ds_status rc = ds__static_types(b->a, seeds, count, false, &mts, &n, err);
  free(seeds);
  for (size_t i = 0; rc == DS_OK && i < n; i++)
    type_of_mt(b, mts[i]);
  free(mts);
  /* before .NET 9, ds__static_types found the generic instantiations from their modules */
  return rc == DS_OK && ds_dac_has_sos(b->a->dac, 14) ? storage_owner_types(b, err) : rc;
}

static int compare_range(const void *x, const void *y) {
  uint64_t a = ((const uint64_t *)x)[0], b = ((const uint64_t *)y)[0];
  return a < b ? -1 : a > b;
}

static void on_owner(void *ctx, uint64_t mt) { type_of_mt(ctx, mt); }

/* The owners of the statics storage (statics.c): the storage is the object[] arrays that strong
 * and pinned handles hold directly. */
static ds_status storage_owner_types(ds__build *b, ds_error *err) {
  const ds_root_set *roots = b->roots;
  uint64_t *pairs = malloc((roots->root_count + 1) * 2 * sizeof *pairs);
  if (!pairs)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the statics storage");
  size_t n = 0;
  for (size_t r = 0; r < roots->root_count; r++) {
    const ds_root *root = &roots->roots[r];
    if ((root->kind != DS_ROOT_HANDLE_STRONG && root->kind != DS_ROOT_HANDLE_PINNED) || !root->object)
      continue;
    uint32_t ti = UINT32_MAX;
    uint64_t size = ds_heap_object_size(b->heap, root->object, &ti);
    const ds_type *t = ti != UINT32_MAX ? ds_heap_type(b->heap, ti) : NULL;
    if (!size || !t || !t->name || strcmp(t->name, "System.Object[]") != 0)
      continue;
    pairs[2 * n] = root->object;
    pairs[2 * n + 1] = root->object + size;
    n++;
  }
  qsort(pairs, n, 2 * sizeof *pairs, compare_range);
  size_t unique = 0;
  for (size_t i = 0; i < n; i++)
    if (unique == 0 || pairs[2 * (unique - 1)] != pairs[2 * i]) {
      pairs[2 * unique] = pairs[2 * i];
      pairs[2 * unique + 1] = pairs[2 * i + 1];
      unique++;
    }
  uint64_t *lo = malloc((unique + 1) * sizeof *lo), *hi = malloc((unique + 1) * sizeof *hi);
  ds_status rc = DS_OK;
  if (!lo || !hi)
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for the statics storage");
  for (size_t i = 0; rc == DS_OK && i < unique; i++) {
    lo[i] = pairs[2 * i];
    hi[i] = pairs[2 * i + 1];
  }
  if (rc == DS_OK)
    rc = ds__statics_owners(b->a, lo, hi, unique, on_owner, b, err);
  free(pairs);
  free(lo);
  free(hi);
  return rc;
}

uint32_t ds__typeinfo_thread_static(ds__build *b, const ds_root *r) {
  struct ds__typeinfo *ti = b->typeinfo;
  if (!ti || !r->field_mt)
    return UINT32_MAX;
  uint32_t t = recorded_type(b, r->field_mt);
  for (size_t s = 0; t != UINT32_MAX && s < ti->statics.count; s++) {
    const static_raw *raw = &ti->statics.items[s];
    if (raw->type == t && (raw->rec.flags & DS_STATIC_THREAD) && raw->offset == r->field_offset)
      return (uint32_t)s;
  }
  return UINT32_MAX;
}

size_t ds__typeinfo_static_roots(const ds__build *b, const ds__static_root **roots) {
  *roots = b->typeinfo ? b->typeinfo->static_roots.items : NULL;
  return b->typeinfo ? b->typeinfo->static_roots.count : 0;
}

/* Static fields with their addresses: primitives at the non-GC base, the rest at the GC base
 * (a slot of the statics storage: each one holding an object is a static-field root). */
static ds_status write_statics(ds__build *b, ds_error *err) {
  struct ds__typeinfo *ti = b->typeinfo;
  size_t n = ti ? ti->statics.count : 0;
  ds_index_static *recs = malloc((n ? n : 1) * sizeof *recs);
  if (!recs)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for statics");
  uint32_t bases_of = UINT32_MAX;
  uint64_t non_gc = 0, gc = 0;
  for (size_t s = 0; s < n; s++) {
    static_raw *raw = &ti->statics.items[s];
    recs[s] = raw->rec;
    if (raw->type != bases_of) {
      ds__static_bases(b->a, b->types[raw->type].mt, &non_gc, &gc);
      bases_of = raw->type;
    }
    uint64_t base = ds_element_type_size(raw->rec.element_type) ? non_gc : gc;
    recs[s].address = (raw->rec.flags & DS_STATIC_THREAD) || !base ? 0 : base + raw->rec.address;
    recs[s].field_type = raw->value_mt ? recorded_type(b, raw->value_mt) : UINT32_MAX;
    uint64_t object = 0;
    /* a collectible type's statics live only as long as its loader allocator: not a root */
    bool collectible = (b->types[raw->type].flags & DS_TYPE_COLLECTIBLE) != 0;
    if (recs[s].address && base == gc && !collectible && ds_dump_read_u64(b->a->dump, recs[s].address, &object) &&
        object) {
      ds_status rc = DS_OK;
      DS__VEC_PUSH(ti->static_roots, ((ds__static_root){recs[s].address, object, (uint32_t)s}), DS_MAX_ROOTS, rc);
      if (rc != DS_OK) {
        free(recs);
        return ds__vec_error(err, rc, "static roots", DS_MAX_ROOTS, "DS_MAX_ROOTS");
      }
    }
  }
  ds_status rc = ds_index_writer_add(b->w, DS_SEC_STATICS, recs, n * sizeof *recs, err);
  free(recs);
  return rc;
}

typedef struct method_sink {
  ds__build *b;
  uint32_t type;
  DS__VEC(ds_index_method) methods;
  ds_status status;
} method_sink;

static void on_method(void *ctx, const ds_dac_method *m) {
  method_sink *s = ctx;
  ds__build *b = s->b;
  if (s->status != DS_OK || (m->defining_mt && m->defining_mt != b->types[s->type].mt) || !m->method_desc)
    return;
  char name[4 * DS_MAX_FRAME_NAME_CHARS];
  uint64_t mt, code = 0;
  uint32_t token = m->token;
  ds_error ignore = {0};
  if (ds_dac_method_desc_name(b->a->dac, m->method_desc, name, sizeof name, &ignore) != DS_OK || !name[0])
    return;
  ds_dac_method_desc(b->a->dac, m->method_desc, &mt, &token, &code, &ignore);
  ds_index_method rec = {s->type, ds_strpool_add(&b->pool, name), m->method_desc, code, token, 0};
  DS__VEC_PUSH(s->methods, rec, DS_MAX_INDEX_METHODS, s->status);
  /* its code, so that an address inside it names the method (mln) */
  uint64_t start, size, md;
  bool jitted;
  struct ds__typeinfo *ti = b->typeinfo;
  if (code && ti && ti->code.count < DS_MAX_MEMORY_RANGES / 2 &&
      ds_dac_method_code(b->a->dac, code, &start, &size, &md, &jitted, &ignore) == DS_OK) {
    ds_index_memory_range r = {start, size, jitted ? DS_MEMORY_JIT_METHOD : DS_MEMORY_PRECOMPILED_METHOD, rec.name, md};
    ds_status rc = DS_OK;
    DS__VEC_PUSH(ti->code, r, DS_MAX_MEMORY_RANGES, rc);
    if (rc != DS_OK)
      s->status = rc;
  }
}

size_t ds__typeinfo_code(const ds__build *b, const ds_index_memory_range **ranges) {
  *ranges = b->typeinfo ? b->typeinfo->code.items : NULL;
  return b->typeinfo ? b->typeinfo->code.count : 0;
}

/* The methods every type defines (ISOSDacInterface15; without it the section stays empty). */
static ds_status write_methods(ds__build *b, ds_error *err) {
  method_sink s = {.b = b};
  for (size_t t = 0; t < b->type_total && s.status == DS_OK && b->a->dac && ds_dac_has_sos(b->a->dac, 15); t++) {
    if (b->types[t].flags & (DS_TYPE_ARRAY | DS_TYPE_FREE | DS_TYPE_INVALID))
      continue;
    s.type = (uint32_t)t;
    bool truncated;
    ds_error ignore = {0};
    ds_dac_type_methods(b->a->dac, b->types[t].mt, DS_MAX_METHODS_PER_TYPE, on_method, &s, &truncated, &ignore);
  }
  ds_status rc = s.status;
  if (rc != DS_OK)
    rc = ds__vec_error(err, rc, "methods", DS_MAX_INDEX_METHODS, "DS_MAX_INDEX_METHODS");
  else
    rc = ds_index_writer_add(b->w, DS_SEC_METHODS, s.methods.items ? (void *)s.methods.items : "",
                             s.methods.count * sizeof *s.methods.items, err);
  free(s.methods.items);
  return rc;
}

ds_status ds__build_type_details(ds__build *b, ds_error *err) {
  double t0 = ds__now_ms();
  stack_method_types(b);
  runtime_types(b);
  ds_index_field_info *info = NULL;
  ds_status rc = static_types(b, err);
  if (rc == DS_OK)
    rc = resolve_field_types(b, &info, err);
  if (rc == DS_OK)
    rc = ds_index_writer_add(b->w, DS_SEC_FIELD_INFO, info, b->fields.count * sizeof *info, err);
  free(info);
  if (rc == DS_OK)
    rc = write_statics(b, err);
  if (rc == DS_OK)
    rc = write_methods(b, err);
  if (rc == DS_OK)
    rc = record_stragglers(b, err);
  b->stats->types_ms += ds__now_ms() - t0;
  return rc;
}
