/*
 * statics.c: the types that have statics, and the thread-static roots of every live thread.
 *
 * Which types have statics: the DAC cannot list every loaded type, so the candidates are the
 * types we know (a heap walk's table: every type with an instance, plus what the caller adds),
 * their base types, and every type defined by the modules those types come from (each module's
 * TypeDef -> MethodTable map), so that a static class, which has no instance, is found. Generic
 * instantiations are in no module's map: they, and any type no list gives, are found from the
 * loader heaps, as the owners of the statics storage (ds__statics_owners) and as the types with
 * a ThreadStaticsInfo (loader_heap_thread_static_types).
 *
 * Thread statics on .NET 9+ (dotnet/runtime threadstatics.h): each thread's ThreadLocalData
 * (native TLS, reached from the Thread's m_ThreadLocalDataPtr) holds
 *   int32 cNonCollectibleTlsData @0, int32 cCollectibleTlsData @4, Object* pNonCollectibleTlsArrayData @8,
 *   OBJECTHANDLE* pCollectibleTlsArrayData @16, Thread* pThread @24, ...
 * The managed object[] at @8 is what the GC reports for the thread (ScanThreadStaticRoots): one
 * element per type with thread statics, that type's storage (an object[] of its reference and
 * boxed value-type thread statics). We root that array for each thread, so that everything a
 * thread static holds is live even when its type is not among the candidates, and name each
 * field of the candidate types through ISOSDacInterface14 (its GC thread-static base per thread).
 * Collectible types' thread statics hang off their LoaderAllocator (handles), not this array.
 *
 * Before .NET 9 (no ISOSDacInterface14) the bases come from the modules' DomainLocalModule and
 * the threads' ThreadLocalModules, and the generic instantiations from the modules' dynamic
 * statics tables: statics8.c.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/analysis.h"
#include "dumpscope/dac.h"
#include "dumpscope/dacmem.h"
#include "dumpscope/dacstack.h"
#include "dumpscope/dactypes.h"
#include "dumpscope/limits.h"
#include "dumpscope/roots.h"

#include "analyzeint.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct mt_list {
  uint64_t *items;
  size_t count, cap;
  bool failed;
} mt_list;

static void push_mt(void *ctx, uint64_t mt) {
  mt_list *l = ctx;
  if (l->failed || !mt)
    return;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 1024;
    if (cap > DS_MAX_THREAD_STATIC_TYPES) {
      l->failed = l->count >= DS_MAX_THREAD_STATIC_TYPES;
      cap = DS_MAX_THREAD_STATIC_TYPES;
      if (l->failed)
        return;
    }
    uint64_t *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) {
      l->failed = true;
      return;
    }
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->count++] = mt;
}

static void sort_unique(mt_list *l) {
  qsort(l->items, l->count, sizeof *l->items, cmp_u64);
  size_t unique = 0;
  for (size_t i = 0; i < l->count; i++)
    if (unique == 0 || l->items[unique - 1] != l->items[i])
      l->items[unique++] = l->items[i];
  l->count = unique;
}

ds_status ds__static_types(ds_analysis *a, const uint64_t *seeds, size_t seed_count, bool thread_statics_only,
                           uint64_t **out, size_t *count, ds_error *err) {
  *out = NULL;
  *count = 0;
  mt_list all = {0}, modules = {0};
  for (size_t i = 0; i < seed_count; i++) {
    /* the seed and its base types */
    uint64_t mt = seeds[i];
    for (unsigned depth = 0; mt && depth < DS_MAX_TYPE_DEPTH; depth++) {
      ds_dacp_method_table data;
      ds_error ignore = {0};
      if (ds_dac_method_table(a->dac, mt, &data, &ignore) != DS_OK)
        break;
      push_mt(&all, mt);
      if (depth == 0)
        push_mt(&modules, data.module);
      mt = data.parent_method_table;
    }
  }
  sort_unique(&modules);
  bool before_net9 = !ds_dac_has_sos(a->dac, 14);
  for (size_t m = 0; m < modules.count && !all.failed; m++) {
    ds_error ignore = {0};
    ds_dac_module_types(a->dac, modules.items[m], push_mt, &all, &ignore);
    if (before_net9) /* generic instantiations: the module's dynamic statics (statics8.c) */
      ds__statics8_module_types(a, modules.items[m], push_mt, &all);
  }
  free(modules.items);
  if (all.failed && all.count < DS_MAX_THREAD_STATIC_TYPES) {
    free(all.items);
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the types with statics");
  }
  sort_unique(&all);
  size_t kept = 0;
  for (size_t i = 0; i < all.count; i++) {
    ds_dacp_field_table ft;
    ds_error ignore = {0};
    if (ds_dac_method_table_fields(a->dac, all.items[i], &ft, &ignore) != DS_OK)
      continue;
    if (thread_statics_only ? ft.num_thread_static_fields > 0 : ft.num_static_fields > 0)
      all.items[kept++] = all.items[i];
  }
  *out = all.items;
  *count = kept;
  return DS_OK;
}

void ds__static_bases(ds_analysis *a, uint64_t mt, uint64_t *non_gc, uint64_t *gc) {
  ds_error ignore = {0};
  if (ds_dac_has_sos(a->dac, 14))
    ds_dac_static_bases(a->dac, mt, non_gc, gc, &ignore);
  else
    ds__statics8_bases(a, mt, non_gc, gc);
}

/* ---- the owners of the statics storage ------------------------------------------------------ */

/* .NET 9+ (dotnet/runtime methodtable.h): each type with statics has a DynamicStaticsInfo in the
 * loader heap, { m_pGCStatics, m_pNonGCStatics, m_pMethodTable }, m_pGCStatics pointing at the
 * type's first slot in a statics storage array (its low bit set until the class is initialized).
 * A word of a loader heap that points into a storage array, followed by the MethodTable whose
 * auxiliary data comes next (statics_info_of) and whose GC static base (asked of the DAC) is that
 * very slot, names the type that owns the slot: generic instantiations without instances too,
 * which no list of the DAC's gives. */
typedef struct region_list {
  uint64_t *start, *size;
  size_t count, cap;
} region_list;

static void on_loader_region(void *ctx, ds_dac_region_kind kind, uint64_t start, uint64_t size, const char *name) {
  (void)name;
  region_list *l = ctx;
  if (kind != DS_DAC_REGION_LOADER_HEAP || l->count == l->cap)
    return;
  l->start[l->count] = start;
  l->size[l->count++] = size;
}

/* Whether addr lies in one of the n sorted, disjoint ranges [lo[i], hi[i]). */
static bool in_ranges(const uint64_t *lo, const uint64_t *hi, size_t n, uint64_t addr) {
  size_t a = 0, b = n;
  while (a < b) {
    size_t mid = a + (b - a) / 2;
    if (hi[mid] <= addr)
      a = mid + 1;
    else
      b = mid;
  }
  return a < n && lo[a] <= addr;
}

/* .NET 9+ (methodtable.h): a MethodTable's m_pAuxiliaryData is at +0x20 (after flags, base size,
 * flags2, token, virtuals, interfaces, parent, module), and the type's DynamicStaticsInfo (or
 * the ThreadStaticsInfo that ends with it) sits immediately before that auxiliary data
 * (MethodTableAuxiliaryData::GetDynamicStaticsInfo is `(DynamicStaticsInfo *)this - 1`). */
#define MT_AUXILIARY_DATA 0x20u

/* The structural check of a loader-heap candidate before any DAC call: a MethodTable whose
 * auxiliary data starts right where the candidate statics info ends (aux_at). A word pair that
 * merely looks like statics info almost never passes, and the DAC never sees what does not:
 * some of its calls do not survive a bogus MethodTable (.NET 9's GetMethodTableFieldData). */
static bool statics_info_of(ds_analysis *a, uint64_t mt, uint64_t aux_at) {
  uint64_t aux = 0;
  return mt && !(mt & 7) && ds_dump_read_u64(a->dump, mt + MT_AUXILIARY_DATA, &aux) && aux == aux_at;
}

#define STORAGE_MAX_REGIONS 65536u
ds_status ds__statics_owners(ds_analysis *a, const uint64_t *lo, const uint64_t *hi, size_t range_count,
                             void (*fn)(void *ctx, uint64_t mt), void *ctx, ds_error *err) {
  if (!range_count || !ds_dac_has_sos(a->dac, 14))
    return DS_OK;
  region_list regions = {malloc(STORAGE_MAX_REGIONS * sizeof *regions.start),
                         malloc(STORAGE_MAX_REGIONS * sizeof *regions.size), 0, STORAGE_MAX_REGIONS};
  if (!regions.start || !regions.size) {
    free(regions.start);
    free(regions.size);
    return ds_error_set(err, DS_E_NOMEM, "out of memory for the loader heaps");
  }
  bool truncated = false;
  ds_error ignore = {0};
  ds_dac_memory_regions(a->dac, STORAGE_MAX_REGIONS, on_loader_region, &regions, &truncated, &ignore);
  uint64_t last = 0;
  for (size_t r = 0; r < regions.count; r++) {
    uint64_t avail = 0;
    const uint8_t *mem = ds_dump_span(a->dump, regions.start[r], &avail);
    if (!mem || (regions.start[r] & 7))
      continue;
    uint64_t words = (avail < regions.size[r] ? avail : regions.size[r]) / 8;
    for (uint64_t w = 0; w + 2 < words; w++) {
      uint64_t gc;
      memcpy(&gc, mem + w * 8, 8);
      gc &= ~(uint64_t)1;
      if (!gc || (gc & 7) || !in_ranges(lo, hi, range_count, gc))
        continue;
      uint64_t mt;
      memcpy(&mt, mem + (w + 2) * 8, 8);
      uint64_t non_gc = 0, base = 0;
      if (!mt || mt == last || !statics_info_of(a, mt, regions.start[r] + (w + 3) * 8) ||
          ds_dac_static_bases(a->dac, mt, &non_gc, &base, &ignore) != DS_OK || base != gc)
        continue;
      last = mt;
      fn(ctx, mt);
    }
  }
  free(regions.start);
  free(regions.size);
  return DS_OK;
}

/* Types with thread statics, generic instantiations without instances too (.NET 9+,
 * methodtable.h): a type with thread statics has a ThreadStaticsInfo in the loader heap,
 *   { u32 NonGCTlsIndex, u32 GCTlsIndex, FieldDesc* (generics), DynamicStaticsInfo { gc statics,
 *     non-GC statics, MethodTable* } },
 * just before its MethodTableAuxiliaryData. Candidates: a GC TLS index that is allocated and
 * small, a non-GC one unallocated or small, statics words that are 0 or a (flagged) pointer, and
 * a MethodTable pointer into a loader heap whose auxiliary data starts right after the candidate
 * (statics_info_of); each is then asked of the DAC (it must have thread statics). */
static bool plausible_tls_index(uint32_t v, bool allow_unallocated) {
  if (v == UINT32_MAX)
    return allow_unallocated;
  return (v >> 24) <= 2 && (v & 0xFFFFFFu) < (1u << 16);
}

static bool plausible_statics_word(uint64_t w) { return (w & ~(uint64_t)1) == 0 || ((w & ~(uint64_t)1) & 7) == 0; }

static void loader_heap_thread_static_types(ds_analysis *a, mt_list *out) {
  region_list regions = {malloc(STORAGE_MAX_REGIONS * sizeof *regions.start),
                         malloc(STORAGE_MAX_REGIONS * sizeof *regions.size), 0, STORAGE_MAX_REGIONS};
  uint64_t *pairs = malloc(STORAGE_MAX_REGIONS * 2 * sizeof *pairs);
  if (!regions.start || !regions.size || !pairs)
    goto out;
  bool truncated = false;
  ds_error ignore = {0};
  ds_dac_memory_regions(a->dac, STORAGE_MAX_REGIONS, on_loader_region, &regions, &truncated, &ignore);
  for (size_t r = 0; r < regions.count; r++) {
    pairs[2 * r] = regions.start[r];
    pairs[2 * r + 1] = regions.start[r] + regions.size[r];
  }
  qsort(pairs, regions.count, 2 * sizeof *pairs, cmp_u64);
  /* the pairs as two arrays of starts and ends (regions of loader heaps do not overlap) */
  uint64_t *lo = regions.start, *hi = regions.size;
  for (size_t r = 0; r < regions.count; r++) {
    lo[r] = pairs[2 * r];
    hi[r] = pairs[2 * r + 1];
  }
  uint64_t last = 0;
  for (size_t r = 0; r < regions.count && !out->failed; r++) {
    uint64_t avail = 0;
    const uint8_t *mem = ds_dump_span(a->dump, lo[r], &avail);
    if (!mem || (lo[r] & 7))
      continue;
    uint64_t words = (avail < hi[r] - lo[r] ? avail : hi[r] - lo[r]) / 8;
    for (uint64_t w = 0; w + 5 <= words; w++) {
      uint32_t idx[2];
      uint64_t v[4];
      memcpy(idx, mem + w * 8, 8);
      if (!plausible_tls_index(idx[1], false) || !plausible_tls_index(idx[0], true))
        continue;
      memcpy(v, mem + (w + 1) * 8, sizeof v); /* FieldDesc*, gc, non-gc, MethodTable* */
      uint64_t mt = v[3];
      if (!mt || (mt & 7) || (v[0] & 7) || !plausible_statics_word(v[1]) || !plausible_statics_word(v[2]) ||
          mt == last || !in_ranges(lo, hi, regions.count, mt) || !statics_info_of(a, mt, lo[r] + (w + 5) * 8))
        continue;
      /* and then GetMethodTableData, which validates a MethodTable, before GetMethodTableFieldData,
       * which does not */
      ds_dacp_method_table mtd;
      ds_dacp_field_table ft;
      if (ds_dac_method_table(a->dac, mt, &mtd, &ignore) != DS_OK ||
          ds_dac_method_table_fields(a->dac, mt, &ft, &ignore) != DS_OK || ft.num_thread_static_fields == 0)
        continue;
      last = mt;
      push_mt(out, mt);
    }
  }
out:
  free(regions.start);
  free(regions.size);
  free(pairs);
}

/* ---- thread statics ---------------------------------------------------------------------------- */

/* The thread-static fields introduced by mt whose value lives in the GC storage (references and
 * boxed value types): their offsets. Returns the count (0 on any DAC failure), at most max. */
static size_t gc_thread_static_offsets(ds_dac *dac, uint64_t mt, uint32_t *offsets, size_t max) {
  ds_error ignore = {0};
  ds_dacp_field_table ft;
  if (ds_dac_method_table_fields(dac, mt, &ft, &ignore) != DS_OK || ft.num_thread_static_fields == 0)
    return 0;
  ds_dacp_method_table data;
  if (ds_dac_method_table(dac, mt, &data, &ignore) != DS_OK)
    return 0;
  uint32_t inherited = 0;
  ds_dacp_field_table pft;
  if (data.parent_method_table && ds_dac_method_table_fields(dac, data.parent_method_table, &pft, &ignore) == DS_OK)
    inherited = pft.num_instance_fields;
  /* FirstField lists this class's own instance FieldDescs, then its statics (thread statics
   * included): graph-threads-locks.md 2.1/2.2. */
  uint32_t own_instance = ft.num_instance_fields > inherited ? ft.num_instance_fields - inherited : 0;
  uint32_t total = own_instance + ft.num_static_fields;
  size_t n = 0;
  ds_addr fd = ft.first_field;
  for (uint32_t i = 0; i < total && i < DS_MAX_FIELDS_PER_TYPE && fd && n < max; i++) {
    ds_dacp_field f;
    if (ds_dac_field(dac, fd, &f, &ignore) != DS_OK)
      break;
    fd = f.next_field;
    if (f.is_thread_local && (ds_element_type_is_reference(f.type) || f.type == DS_ELEMENT_VALUETYPE))
      offsets[n++] = f.offset;
  }
  return n;
}

/* The thread's ThreadLocalData, found from its Thread object: the pointer in the Thread whose
 * target names this Thread back at +24 and holds plausible counts and an object (or nothing) at
 * +8. 0 when none is found (a thread that never ran managed code has none). */
#define THREAD_SCAN_BYTES 0x1000u
static uint64_t thread_local_data(ds_analysis *a, uint64_t thread) {
  uint64_t words[THREAD_SCAN_BYTES / 8];
  size_t bytes = THREAD_SCAN_BYTES;
  while (bytes >= 0x100 && !ds_dump_read_exact(a->dump, thread, words, bytes))
    bytes /= 2; /* the Thread may end a mapping: scan what the dump holds */
  if (bytes < 0x100)
    return 0;
  for (size_t k = 0; k < bytes / 8; k++) {
    uint64_t p = words[k], tld[4];
    int32_t counts[2];
    if (!p || (p & 7) || p == thread || !ds_dump_read_exact(a->dump, p, counts, sizeof counts) ||
        !ds_dump_read_exact(a->dump, p + 8, tld, sizeof tld))
      continue;
    if (tld[2] != thread || counts[0] < 0 || counts[1] < 0 || counts[0] > (1 << 24) || counts[1] > (1 << 24))
      continue;
    uint64_t mt = 0;
    if (tld[0] && !ds_layout_read_mt(ds_analysis_layout(a), a->dump, tld[0], &mt))
      continue;
    return p;
  }
  return 0;
}

ds_status ds__thread_static_roots(ds_analysis *a, const ds_thread_info *threads, size_t thread_count,
                                  const uint64_t *seeds, size_t seed_count,
                                  ds_status (*add)(void *ctx, const ds_root *root), void *ctx, ds_error *err) {
  bool net9 = ds_dac_has_sos(a->dac, 14);
  ds_status rc = DS_OK;
  /* each thread's whole storage: everything it holds is live (before .NET 9 there is no such
   * array: a thread's statics are Object[]s of its ThreadLocalModules held by strong handles) */
  for (size_t t = 0; t < thread_count && rc == DS_OK && net9; t++) {
    if (!threads[t].alive)
      continue;
    uint64_t tld = thread_local_data(a, threads[t].address), array = 0;
    if (!tld || !ds_dump_read_u64(a->dump, tld + 8, &array) || !array)
      continue;
    ds_root root = {.object = array, .address = tld + 8, .kind = DS_ROOT_THREAD_STATIC, .thread = (uint32_t)t,
                    .frame = UINT32_MAX};
    rc = add(ctx, &root);
  }
  uint64_t *found = NULL;
  size_t found_count = 0;
  if (rc != DS_OK || (rc = ds__static_types(a, seeds, seed_count, true, &found, &found_count, err)) != DS_OK)
    return rc;
  mt_list list = {found, found_count, found_count, false};
  /* the ThreadStaticsInfo layout is the same on .NET 9 and 10 (checked on both fixtures); before
   * .NET 9, ds__static_types listed the generic instantiations from their modules */
  if (net9)
    loader_heap_thread_static_types(a, &list);
  sort_unique(&list);
  uint64_t *mts = list.items;
  size_t mt_count = list.count;
  uint32_t offsets[DS_MAX_THREAD_STATIC_FIELDS];
  for (size_t i = 0; i < mt_count && rc == DS_OK; i++) {
    size_t nf = gc_thread_static_offsets(a->dac, mts[i], offsets, sizeof offsets / sizeof *offsets);
    for (size_t t = 0; t < thread_count && nf && rc == DS_OK; t++) {
      if (!threads[t].alive)
        continue;
      ds_addr base = 0;
      ds_error ignore = {0};
      if (!net9)
        base = ds__statics8_thread_gc_base(a, mts[i], threads[t].address);
      else if (ds_dac_thread_static_gc_base(a->dac, mts[i], threads[t].address, &base, &ignore) != DS_OK)
        continue;
      if (!base)
        continue;
      for (size_t f = 0; f < nf && rc == DS_OK; f++) {
        uint64_t slot = base + offsets[f], object = 0;
        if (!ds_dump_read_u64(a->dump, slot, &object) || object == 0)
          continue;
        ds_root root = {.object = object, .address = slot, .kind = DS_ROOT_THREAD_STATIC, .thread = (uint32_t)t,
                        .frame = UINT32_MAX, .field_mt = mts[i], .field_offset = offsets[f]};
        rc = add(ctx, &root);
      }
    }
  }
  free(mts);
  return rc;
}
