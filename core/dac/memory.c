/*
 * memory.c: the runtime's memory outside the GC heap, through the DAC (dacmem.h): JIT code heaps,
 * loader heaps and the handle table's memory, and one method's native code.
 *
 * Slots: ISOSDacInterface 4 GetAppDomainStoreData, 5 GetAppDomainList, 26 GetCodeHeaderData,
 * 27 GetJitManagerList, 67 TraverseLoaderHeap, 68 GetCodeHeapList; ISOSDacInterface13 3
 * TraverseLoaderHeap (with the heap's kind), 4 GetDomainLoaderAllocator, 5
 * GetLoaderAllocatorHeapNames, 6 GetLoaderAllocatorHeaps, 7 GetHandleTableMemoryRegions
 * (sospriv.idl; layouts from dacprivate.h, checked with static asserts).
 */
#include "dumpscope/dacmem.h"

#include <stdlib.h>
#include <string.h>

#include "dacint.h"

#define SOS(dac) ((dac)->sos[1])
#define SOS13(dac) ((dac)->sos[13])

enum { SOS_GET_APP_DOMAIN_STORE_DATA = 4, SOS_GET_APP_DOMAIN_LIST = 5, SOS_GET_CODE_HEADER_DATA = 26,
       SOS_GET_JIT_MANAGER_LIST = 27, SOS_TRAVERSE_LOADER_HEAP = 67, SOS_GET_CODE_HEAP_LIST = 68 };
enum { SOS13_TRAVERSE_LOADER_HEAP = 3, SOS13_GET_DOMAIN_LOADER_ALLOCATOR = 4, SOS13_GET_HEAP_NAMES = 5,
       SOS13_GET_LOADER_ALLOCATOR_HEAPS = 6, SOS13_GET_HANDLE_TABLE_REGIONS = 7 };

#define MAX_JIT_MANAGERS 16u
#define MAX_CODE_HEAPS 4096u
#define MAX_DOMAINS 64u
#define MAX_LOADER_HEAPS 64u
#define LOADER_HEAP_KIND_EXPLICIT_CONTROL 1
#define CODEHEAP_LOADER 0u
#define CODEHEAP_HOST 1u
#define JIT_TYPE_JIT 1u

typedef struct jit_manager {
  ds_addr manager;
  uint32_t code_type;
  ds_addr heap_list;
} jit_manager;
_Static_assert(sizeof(jit_manager) == 24, "DacpJitManagerInfo layout");

typedef struct code_heap {
  uint32_t type;
  ds_addr a, b; /* loader: a = LoaderHeap; host: a = base, b = current */
} code_heap;
_Static_assert(sizeof(code_heap) == 24, "DacpJitCodeHeapInfo layout");

typedef struct code_header {
  ds_addr gc_info;
  uint32_t jit_type;
  ds_addr method_desc, method_start;
  uint32_t method_size;
  ds_addr cold_start;
  uint32_t cold_size, hot_size;
} code_header;
_Static_assert(sizeof(code_header) == 56, "DacpCodeHeaderData layout");

typedef struct memory_region {
  ds_addr start, size, extra;
  int32_t heap;
} memory_region;
_Static_assert(sizeof(memory_region) == 32, "SOSMemoryRegion layout");


/* ---- one sink for every region ------------------------------------------------------------ */

typedef struct region_sink {
  ds_dac_region_fn fn;
  void *ctx;
  size_t delivered, max;
  bool truncated;
  ds_dac_region_kind kind;   /* of the heap being traversed */
  const char *name;
} region_sink;

static void deliver(region_sink *s, ds_dac_region_kind kind, uint64_t start, uint64_t size, const char *name) {
  if (!start || !size)
    return;
  if (s->delivered >= s->max) {
    s->truncated = true;
    return;
  }
  s->delivered++;
  s->fn(s->ctx, kind, start, size, name);
}

/* TraverseLoaderHeap's callback takes no context: the heap being traversed is the one of this
 * thread (the DAC is used from one thread per ds_dac, and traversals do not nest). */
static _Thread_local region_sink *traversal;

static void visit_block(ds_addr block, size_t size, int32_t is_current) {
  (void)is_current;
  if (traversal)
    deliver(traversal, traversal->kind, block, size, traversal->name);
}

/* Every block of one loader heap. */
static void traverse_heap(ds_dac *dac, region_sink *s, ds_addr heap, int kind, ds_dac_region_kind what,
                          const char *name) {
  typedef void (*visit_fn)(ds_addr, size_t, int32_t);
  s->kind = what;
  s->name = name;
  traversal = s;
  if (SOS13(dac)) {
    typedef HRESULT (*fn)(void *, ds_addr, int, visit_fn);
    DS_VCALL(SOS13(dac), SOS13_TRAVERSE_LOADER_HEAP, fn)(SOS13(dac), heap, kind, visit_block);
  } else if (kind == 0) {
    typedef HRESULT (*fn)(void *, ds_addr, visit_fn);
    DS_VCALL(SOS(dac), SOS_TRAVERSE_LOADER_HEAP, fn)(SOS(dac), heap, visit_block);
  }
  traversal = NULL;
}

/* ---- JIT code heaps ------------------------------------------------------------------------- */

static ds_status code_heaps(ds_dac *dac, region_sink *s, ds_error *err) {
  typedef HRESULT (*managers_fn)(void *, uint32_t, jit_manager *, uint32_t *);
  typedef HRESULT (*heaps_fn)(void *, ds_addr, uint32_t, code_heap *, uint32_t *);
  jit_manager managers[MAX_JIT_MANAGERS];
  uint32_t count = 0;
  HRESULT hr = DS_VCALL(SOS(dac), SOS_GET_JIT_MANAGER_LIST, managers_fn)(SOS(dac), 0, NULL, &count);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetJitManagerList");
  if (count > MAX_JIT_MANAGERS)
    count = MAX_JIT_MANAGERS;
  memset(managers, 0, sizeof managers);
  hr = DS_VCALL(SOS(dac), SOS_GET_JIT_MANAGER_LIST, managers_fn)(SOS(dac), count, managers, &count);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetJitManagerList");
  code_heap *heaps = malloc(MAX_CODE_HEAPS * sizeof *heaps);
  if (!heaps)
    return ds_error_set(err, DS_E_NOMEM, "out of memory listing code heaps");
  for (uint32_t m = 0; m < count && m < MAX_JIT_MANAGERS; m++) {
    uint32_t n = 0;
    if (DS_VCALL(SOS(dac), SOS_GET_CODE_HEAP_LIST, heaps_fn)(SOS(dac), managers[m].manager, 0, NULL, &n) < 0 || !n)
      continue;
    if (n > MAX_CODE_HEAPS)
      n = MAX_CODE_HEAPS;
    memset(heaps, 0, n * sizeof *heaps);
    if (DS_VCALL(SOS(dac), SOS_GET_CODE_HEAP_LIST, heaps_fn)(SOS(dac), managers[m].manager, n, heaps, &n) < 0)
      continue;
    for (uint32_t h = 0; h < n && h < MAX_CODE_HEAPS; h++) {
      if (heaps[h].type == CODEHEAP_LOADER)
        traverse_heap(dac, s, heaps[h].a, LOADER_HEAP_KIND_EXPLICIT_CONTROL, DS_DAC_REGION_CODE_HEAP, "code heap");
      else if (heaps[h].type == CODEHEAP_HOST && heaps[h].b > heaps[h].a)
        deliver(s, DS_DAC_REGION_CODE_HEAP, heaps[h].a, heaps[h].b - heaps[h].a, "code heap");
    }
  }
  free(heaps);
  return DS_OK;
}

/* ---- loader heaps --------------------------------------------------------------------------- */

/* The system domain and every app domain. */
static size_t domains(ds_dac *dac, ds_addr *out) {
  typedef HRESULT (*store_fn)(void *, ds_addr *);
  typedef HRESULT (*list_fn)(void *, uint32_t, ds_addr *, uint32_t *);
  ds_addr store[3] = {0}; /* sharedDomain, systemDomain, DomainCount (+ pad) */
  size_t n = 0;
  if (DS_VCALL(SOS(dac), SOS_GET_APP_DOMAIN_STORE_DATA, store_fn)(SOS(dac), store) >= 0) {
    if (store[1])
      out[n++] = store[1];
    if (store[0])
      out[n++] = store[0];
  }
  uint32_t count = 0;
  ds_addr list[MAX_DOMAINS];
  if (DS_VCALL(SOS(dac), SOS_GET_APP_DOMAIN_LIST, list_fn)(SOS(dac), MAX_DOMAINS, list, &count) >= 0)
    for (uint32_t i = 0; i < count && i < MAX_DOMAINS && n < MAX_DOMAINS; i++)
      if (list[i])
        out[n++] = list[i];
  return n;
}

static void loader_heaps(ds_dac *dac, region_sink *s) {
  typedef HRESULT (*allocator_fn)(void *, ds_addr, ds_addr *);
  typedef HRESULT (*names_fn)(void *, int, const char **, int *);
  typedef HRESULT (*heaps_fn)(void *, ds_addr, int, ds_addr *, int *, int *);
  if (!SOS13(dac))
    return;
  const char *names[MAX_LOADER_HEAPS] = {0};
  int name_count = 0;
  if (DS_VCALL(SOS13(dac), SOS13_GET_HEAP_NAMES, names_fn)(SOS13(dac), MAX_LOADER_HEAPS, names, &name_count) < 0)
    name_count = 0;
  ds_addr domain_list[MAX_DOMAINS + 2], seen[MAX_DOMAINS + 2];
  size_t domain_count = domains(dac, domain_list), seen_count = 0;
  for (size_t d = 0; d < domain_count; d++) {
    ds_addr allocator = 0;
    if (DS_VCALL(SOS13(dac), SOS13_GET_DOMAIN_LOADER_ALLOCATOR, allocator_fn)(SOS13(dac), domain_list[d], &allocator) < 0 ||
        !allocator)
      continue;
    bool again = false;
    for (size_t k = 0; k < seen_count; k++)
      again = again || seen[k] == allocator;
    if (again)
      continue;
    seen[seen_count++] = allocator;
    ds_addr heaps[MAX_LOADER_HEAPS] = {0};
    int kinds[MAX_LOADER_HEAPS] = {0}, count = 0;
    if (DS_VCALL(SOS13(dac), SOS13_GET_LOADER_ALLOCATOR_HEAPS, heaps_fn)(SOS13(dac), allocator, MAX_LOADER_HEAPS, heaps,
                                                                          kinds, &count) < 0)
      continue;
    for (int h = 0; h < count && h < (int)MAX_LOADER_HEAPS; h++)
      if (heaps[h])
        traverse_heap(dac, s, heaps[h], kinds[h], DS_DAC_REGION_LOADER_HEAP,
                      h < name_count && names[h] ? names[h] : "loader heap");
  }
}

/* ---- the handle table ----------------------------------------------------------------------- */

static void handle_table(ds_dac *dac, region_sink *s) {
  typedef HRESULT (*regions_fn)(void *, void **);
  typedef HRESULT (*next_fn)(void *, uint32_t, memory_region *, uint32_t *);
  void *regions = NULL;
  if (!SOS13(dac))
    return;
  HRESULT hr = DS_VCALL(SOS13(dac), SOS13_GET_HANDLE_TABLE_REGIONS, regions_fn)(SOS13(dac), &regions);
  ds__dac_took(dac, regions);
  if (hr < 0 || !regions) {
    ds__dac_release(dac, regions);
    return;
  }
  memory_region batch[64];
  for (size_t guard = 0; guard < 1u << 16; guard++) {
    uint32_t fetched = 0;
    if (DS_VCALL(regions, DS__ENUM_NEXT, next_fn)(regions, 64, batch, &fetched) < 0 || fetched == 0)
      break;
    for (uint32_t i = 0; i < fetched && i < 64; i++)
      deliver(s, DS_DAC_REGION_HANDLE_TABLE, batch[i].start, batch[i].size, "handle table");
  }
  ds__dac_release(dac, regions);
}

ds_status ds_dac_memory_regions(ds_dac *dac, size_t max_regions, ds_dac_region_fn fn, void *ctx, bool *truncated,
                                ds_error *err) {
  region_sink s = {.fn = fn, .ctx = ctx, .max = max_regions};
  ds_status rc = code_heaps(dac, &s, err);
  if (rc == DS_OK) {
    loader_heaps(dac, &s);
    handle_table(dac, &s);
  }
  *truncated = s.truncated;
  return rc;
}

ds_status ds_dac_method_code(ds_dac *dac, uint64_t ip, uint64_t *start, uint64_t *size, uint64_t *method_desc,
                             bool *jitted, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, code_header *);
  code_header h;
  memset(&h, 0, sizeof h);
  HRESULT hr = DS_VCALL(SOS(dac), SOS_GET_CODE_HEADER_DATA, fn)(SOS(dac), ip, &h);
  if (hr < 0 || !h.method_start)
    return ds_error_set(err, DS_E_NOT_FOUND, "0x%llx is not managed code", (unsigned long long)ip);
  *start = h.method_start;
  *size = h.hot_size ? h.hot_size : h.method_size;
  *method_desc = h.method_desc;
  *jitted = h.jit_type == JIT_TYPE_JIT;
  return DS_OK;
}
