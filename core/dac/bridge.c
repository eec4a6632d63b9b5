/*
 * bridge.c: load libmscordaccore.so and talk to it through its COM-style vtables.
 *
 * On Linux x64 a DAC interface pointer is a pointer to an object whose first word is a vtable of
 * plain functions called with the SysV ABI, `this` first. We implement the data target the DAC
 * reads the dump through (ICLRDataTarget, plus ICLRRuntimeLocator and ICLRMetadataLocator as
 * separate objects returned by its QueryInterface), and call ISOSDacInterface methods by slot.
 * Slots, IIDs and struct layouts: ../shared/reference/dac-from-c.md (checked on real dumps).
 */
#include "dumpscope/dac.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dacint.h"

typedef ds__guid guid;

#define S_OK 0
#define S_FALSE 1
#define E_NOTIMPL ((HRESULT)0x80004001)
#define E_NOINTERFACE ((HRESULT)0x80004002)
#define E_FAIL ((HRESULT)0x80004005)
#define E_INVALIDARG ((HRESULT)0x80070057)

static const guid IID_IUnknown = {0x00000000, 0x0000, 0x0000, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
static const guid IID_ICLRDataTarget = {0x3E11CCEE, 0xD08B, 0x43e5, {0xAF, 0x01, 0x32, 0x71, 0x7A, 0x64, 0xDA, 0x03}};
static const guid IID_ICLRRuntimeLocator = {0xb760bf44, 0x9377, 0x4597, {0x8b, 0xe7, 0x58, 0x08, 0x3b, 0xdc, 0x51, 0x46}};
static const guid IID_ICLRMetadataLocator = {0xaa8fa804, 0xbc05, 0x4642, {0xb2, 0xc5, 0xc3, 0x53, 0xed, 0x22, 0xfc, 0x63}};
static const guid IID_IXCLRDataProcess = {0x5c552ab6, 0xfc09, 0x4cb3, {0x8e, 0x36, 0x22, 0xfa, 0x03, 0xc7, 0x98, 0xb7}};
static const guid IID_IMetaDataImport = {0x7DAC8207, 0xD3AE, 0x4c75, {0x9B, 0x67, 0x92, 0x80, 0x1A, 0x49, 0x7D, 0x44}};

/* ISOSDacInterface, ISOSDacInterface2 .. 17 (index = N; 0 and 1 unused except 1 = base). */
static const guid IID_SOS[18] = {
    {0},
    {0x436f00f2, 0xb42a, 0x4b9f, {0x87, 0x0c, 0xe7, 0x3d, 0xb6, 0x6a, 0xe9, 0x30}},
    {0xA16026EC, 0x96F4, 0x40BA, {0x87, 0xFB, 0x55, 0x75, 0x98, 0x6F, 0xB7, 0xAF}},
    {0xB08C5CDC, 0xFD8A, 0x49C5, {0xAB, 0x38, 0x5F, 0xEE, 0xF3, 0x52, 0x35, 0xB4}},
    {0x74B9D34C, 0xA612, 0x4B07, {0x93, 0xDD, 0x54, 0x62, 0x17, 0x8F, 0xCE, 0x11}},
    {0x127d6abe, 0x6c86, 0x4e48, {0x8e, 0x7b, 0x22, 0x07, 0x81, 0xc5, 0x81, 0x01}},
    {0x11206399, 0x4B66, 0x4EDB, {0x98, 0xEA, 0x85, 0x65, 0x4E, 0x59, 0xAD, 0x45}},
    {0xc1020dde, 0xfe98, 0x4536, {0xa5, 0x3b, 0xf3, 0x5a, 0x74, 0xc3, 0x27, 0xeb}},
    {0xc12f35a9, 0xe55c, 0x4520, {0xa8, 0x94, 0xb3, 0xdc, 0x51, 0x65, 0xdf, 0xce}},
    {0x4eca42d8, 0x7e7b, 0x4c8a, {0xa1, 0x16, 0x7b, 0xfb, 0xf6, 0x92, 0x92, 0x67}},
    {0x90B8FCC3, 0x7251, 0x4B0A, {0xAE, 0x3D, 0x5C, 0x13, 0xA6, 0x7E, 0xC9, 0xAA}},
    {0x96BA1DB9, 0x14CD, 0x4492, {0x80, 0x65, 0x1C, 0xAA, 0xEC, 0xF6, 0xE5, 0xCF}},
    {0x1b93bacc, 0x8ca4, 0x432d, {0x94, 0x3a, 0x3e, 0x6e, 0x7e, 0xc0, 0xb0, 0xa3}},
    {0x3176a8ed, 0x597b, 0x4f54, {0xa7, 0x1f, 0x83, 0x69, 0x5c, 0x6a, 0x8c, 0x5e}},
    {0x9aa22aca, 0x6dc6, 0x4a0c, {0xb4, 0xe0, 0x70, 0xd2, 0x41, 0x6b, 0x98, 0x37}},
    {0x7ed81261, 0x52a9, 0x4a23, {0xa3, 0x58, 0xc3, 0x31, 0x3d, 0xea, 0x30, 0xa8}},
    {0x4ba12ff8, 0xdaac, 0x4e43, {0xac, 0x56, 0x98, 0xcf, 0x8d, 0x5c, 0x59, 0x5d}},
    {0x2f4bb585, 0xed50, 0x479e, {0xbb, 0xe0, 0x10, 0xa9, 0x5a, 0x5d, 0xa3, 0xbb}},
};

#define VCALL DS_VCALL
#define MODULE_CACHE DS__MODULE_CACHE
typedef ds__com_object com_object;

static bool guid_eq(const guid *a, const guid *b) { return memcmp(a, b, sizeof *a) == 0; }

/* ---- UTF-16 helpers --------------------------------------------------------------------- */

const char *ds_hresult_name(int32_t hr) {
  switch ((uint32_t)hr) {
  case 0x80004001u: return "E_NOTIMPL";
  case 0x80004002u: return "E_NOINTERFACE";
  case 0x80004003u: return "E_POINTER";
  case 0x80004005u: return "E_FAIL";
  case 0x8000FFFFu: return "E_UNEXPECTED";
  case 0x80070057u: return "E_INVALIDARG";
  case 0x8007000Eu: return "E_OUTOFMEMORY";
  case 0x80131c49u: return "CORDBG_E_READVIRTUAL_FAILURE (memory missing from the dump)";
  case 0x80131c4fu: return "CORDBG_E_MISSING_DEBUGGER_EXPORTS (libcoreclr.so's exports are not in the dump)";
  case 0x80131c3bu: return "CORDBG_E_UNSUPPORTED";
  case 0x80131c4au: return "CORDBG_E_INCOMPATIBLE_PLATFORMS";
  case 0x80131c30u: return "CORDBG_E_CORRUPT_OBJECT";
  default: return "unknown HRESULT";
  }
}

ds_status ds__hr_error(ds_error *err, HRESULT hr, const char *what) {
  return ds_error_set(err, DS_E_DAC, "%s failed: 0x%08x %s", what, (uint32_t)hr, ds_hresult_name(hr));
}

/* ---- the data target ------------------------------------------------------------------ */

static HRESULT target_query_interface(com_object *self, const guid *riid, void **ppv) {
  struct ds_dac *dac = self->dac;
  if (guid_eq(riid, &IID_IUnknown) || guid_eq(riid, &IID_ICLRDataTarget)) {
    *ppv = &dac->target;
    return S_OK;
  }
  if (guid_eq(riid, &IID_ICLRRuntimeLocator)) {
    *ppv = &dac->runtime_locator;
    return S_OK;
  }
  if (guid_eq(riid, &IID_ICLRMetadataLocator)) {
    *ppv = &dac->metadata_locator;
    return S_OK;
  }
  *ppv = NULL;
  return E_NOINTERFACE;
}

/* Our objects live as long as the ds_dac: reference counts are constants. */
static uint32_t target_add_ref(com_object *self) { return 1; }
static uint32_t target_release(com_object *self) { return 1; }

static HRESULT target_machine_type(com_object *self, uint32_t *machine) {
  *machine = 0x8664; /* IMAGE_FILE_MACHINE_AMD64 */
  return S_OK;
}

static HRESULT target_pointer_size(com_object *self, uint32_t *size) {
  *size = 8;
  return S_OK;
}

static HRESULT target_image_base(com_object *self, const uint16_t *image_path, uint64_t *base) {
  char name[1024];
  ds_utf16_to_utf8(image_path, SIZE_MAX, true, name, sizeof name);
  const char *slash = strrchr(name, '/');
  const char *want = slash ? slash + 1 : name;
  ds_dump *dump = self->dac->dump;
  for (size_t i = 0; i < ds_dump_module_count(dump); i++) {
    const ds_module *m = ds_dump_module(dump, i);
    const char *ms = strrchr(m->path, '/');
    if (strcasecmp(ms ? ms + 1 : m->path, want) == 0) {
      *base = m->base;
      return S_OK;
    }
  }
  return E_FAIL;
}

static HRESULT target_read_virtual(com_object *self, uint64_t addr, uint8_t *buf, uint32_t size,
                                   uint32_t *done) {
  size_t n = ds_dump_read(self->dac->dump, addr, buf, size);
  /* once the file has shrunk, pages past its end read as zeros (guard.c); the DAC must not be
   * fed zeros for runtime structures (it follows them and crashes), so every read fails from then
   * on and the analysis stops with "the dump changed or was truncated" */
  if (ds_dump_changed(self->dac->dump))
    n = 0;
  if (done)
    *done = (uint32_t)n;
  return n > 0 ? S_OK : E_FAIL;
}

static HRESULT target_write_virtual(com_object *self, uint64_t addr, uint8_t *buf, uint32_t size,
                                    uint32_t *done) {
  return E_NOTIMPL;
}

static HRESULT target_get_tls(com_object *self, uint32_t tid, uint32_t index, uint64_t *value) {
  return E_FAIL;
}

static HRESULT target_set_tls(com_object *self, uint32_t tid, uint32_t index, uint64_t value) {
  return E_FAIL;
}

static HRESULT target_current_thread(com_object *self, uint32_t *tid) { return E_FAIL; }

/* Fills a Windows-layout AMD64 CONTEXT from the thread's NT_PRSTATUS registers. */
static HRESULT target_thread_context(com_object *self, uint32_t tid, uint32_t flags, uint32_t size,
                                     uint8_t *ctx) {
  const ds_dump_thread *t = ds_dump_find_thread(self->dac->dump, tid);
  if (!t || size < 0x4d0)
    return E_FAIL;
  memset(ctx, 0, size);
  uint32_t context_flags = 0x100007; /* AMD64 | CONTROL | INTEGER | SEGMENTS */
  const uint64_t *r = t->regs;
  uint16_t seg;
  seg = (uint16_t)r[DS_REG_CS]; memcpy(ctx + 0x38, &seg, 2);
  seg = (uint16_t)r[DS_REG_DS]; memcpy(ctx + 0x3A, &seg, 2);
  seg = (uint16_t)r[DS_REG_ES]; memcpy(ctx + 0x3C, &seg, 2);
  seg = (uint16_t)r[DS_REG_FS]; memcpy(ctx + 0x3E, &seg, 2);
  seg = (uint16_t)r[DS_REG_GS]; memcpy(ctx + 0x40, &seg, 2);
  seg = (uint16_t)r[DS_REG_SS]; memcpy(ctx + 0x42, &seg, 2);
  uint32_t eflags = (uint32_t)r[DS_REG_EFLAGS];
  memcpy(ctx + 0x44, &eflags, 4);
  const int order[16] = {DS_REG_RAX, DS_REG_RCX, DS_REG_RDX, DS_REG_RBX, DS_REG_RSP, DS_REG_RBP,
                         DS_REG_RSI, DS_REG_RDI, DS_REG_R8,  DS_REG_R9,  DS_REG_R10, DS_REG_R11,
                         DS_REG_R12, DS_REG_R13, DS_REG_R14, DS_REG_R15};
  for (int i = 0; i < 16; i++)
    memcpy(ctx + 0x78 + 8 * i, &r[order[i]], 8);
  memcpy(ctx + 0xF8, &r[DS_REG_RIP], 8);
  if (t->has_fpregs) {
    memcpy(ctx + 0x100, t->fpregs, 512);
    memcpy(ctx + 0x34, t->fpregs + 24, 4); /* MxCsr */
    context_flags |= 0x8;
  }
  memcpy(ctx + 0x30, &context_flags, 4);
  return S_OK;
}

static HRESULT target_set_thread_context(com_object *self, uint32_t tid, uint32_t size, uint8_t *ctx) {
  return E_NOTIMPL;
}

static HRESULT target_request(com_object *self, uint32_t code, uint32_t in_size, uint8_t *in,
                              uint32_t out_size, uint8_t *out) {
  return E_NOTIMPL;
}

static const void *const target_vtbl[] = {
    (void *)target_query_interface, (void *)target_add_ref,       (void *)target_release,
    (void *)target_machine_type,    (void *)target_pointer_size,  (void *)target_image_base,
    (void *)target_read_virtual,    (void *)target_write_virtual, (void *)target_get_tls,
    (void *)target_set_tls,         (void *)target_current_thread, (void *)target_thread_context,
    (void *)target_set_thread_context, (void *)target_request,
};

static HRESULT locator_runtime_base(com_object *self, uint64_t *base) {
  *base = self->dac->rt->coreclr->base;
  return S_OK;
}

static const void *const runtime_locator_vtbl[] = {
    (void *)target_query_interface, (void *)target_add_ref, (void *)target_release,
    (void *)locator_runtime_base,
};

/* RVA -> file offset through the PE section table; 0 when outside every section. */
static uint64_t pe_rva_to_offset(const uint8_t *pe, uint64_t size, uint64_t sections, unsigned count,
                                 uint32_t rva) {
  for (unsigned i = 0; i < count; i++) {
    uint64_t sh = sections + (uint64_t)i * 40;
    if (sh + 40 > size)
      return 0;
    uint32_t vsize, vaddr, raw_size, raw_ptr;
    memcpy(&vsize, pe + sh + 8, 4);
    memcpy(&vaddr, pe + sh + 12, 4);
    memcpy(&raw_size, pe + sh + 16, 4);
    memcpy(&raw_ptr, pe + sh + 20, 4);
    uint32_t span = vsize > raw_size ? vsize : raw_size;
    if (rva >= vaddr && rva - vaddr < span)
      return (uint64_t)raw_ptr + (rva - vaddr);
  }
  return 0;
}

/* Serves an assembly's metadata from the file on disk when timestamp and image size match. */
static HRESULT metadata_get(com_object *self, const uint16_t *image_path, uint32_t timestamp,
                            uint32_t image_size, void *mvid, uint32_t md_rva, uint32_t flags,
                            uint32_t buf_size, uint8_t *buf, uint32_t *data_size) {
  char path[4096];
  ds_utf16_to_utf8(image_path, SIZE_MAX, true, path, sizeof path);
  int fd = ds_open_regular(path);
  if (fd < 0)
    return E_FAIL;
  struct stat st;
  HRESULT hr = E_FAIL;
  const uint8_t *pe = MAP_FAILED;
  uint64_t size = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 64) {
    size = (uint64_t)st.st_size;
    pe = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  close(fd);
  if (pe == MAP_FAILED)
    return E_FAIL;
  uint32_t pe_off, file_timestamp, file_image_size, cli_rva = 0, cli_size = 0;
  uint16_t section_count, opt_size, magic;
  memcpy(&pe_off, pe + 0x3c, 4);
  if (pe[0] != 'M' || pe[1] != 'Z' || (uint64_t)pe_off + 24 + 240 > size ||
      memcmp(pe + pe_off, "PE\0\0", 4) != 0)
    goto out;
  memcpy(&section_count, pe + pe_off + 6, 2);
  memcpy(&file_timestamp, pe + pe_off + 8, 4);
  memcpy(&opt_size, pe + pe_off + 20, 2);
  uint64_t opt = pe_off + 24;
  memcpy(&magic, pe + opt, 2);
  memcpy(&file_image_size, pe + opt + 56, 4);
  if (file_timestamp != timestamp || file_image_size != image_size)
    goto out;
  uint64_t dirs = opt + (magic == 0x20b ? 112 : 96);
  if (dirs + 15 * 8 > size)
    goto out;
  memcpy(&cli_rva, pe + dirs + 14 * 8, 4);
  memcpy(&cli_size, pe + dirs + 14 * 8 + 4, 4);
  uint64_t sections = opt + opt_size;
  uint32_t rva = md_rva, md_size = buf_size;
  if (rva == 0) {
    uint64_t cli = pe_rva_to_offset(pe, size, sections, section_count, cli_rva);
    if (cli == 0 || cli + 16 > size)
      goto out;
    memcpy(&rva, pe + cli + 8, 4);
    memcpy(&md_size, pe + cli + 12, 4);
  }
  uint64_t md = pe_rva_to_offset(pe, size, sections, section_count, rva);
  if (md == 0 || md >= size)
    goto out;
  uint64_t n = md_size < buf_size ? md_size : buf_size;
  if (n > size - md)
    n = size - md;
  memcpy(buf, pe + md, n);
  if (data_size)
    *data_size = (uint32_t)n;
  hr = S_OK;
out:
  munmap((void *)pe, size);
  return hr;
}

static const void *const metadata_locator_vtbl[] = {
    (void *)target_query_interface, (void *)target_add_ref, (void *)target_release,
    (void *)metadata_get,
};

/* ---- loading ---------------------------------------------------------------------------- */

typedef HRESULT (*create_instance_fn)(const guid *iid, void *target, void **iface);
typedef int (*dll_main_fn)(void *instance, uint32_t reason, void *reserved);
typedef ds__qi_fn qi_fn;
typedef ds__release_fn release_fn;

ds_status ds_dac_open(ds_dump *dump, const ds_runtime_info *rt, const char *dac_path, ds_dac **out,
                      ds_error *err) {
  *out = NULL;
  ds_dac *dac = calloc(1, sizeof *dac);
  if (!dac)
    return ds_error_set(err, DS_E_NOMEM, "out of memory creating the DAC bridge");
  ds_status rc = DS_OK;
  dac->dump = dump;
  dac->rt = rt;
  dac->target = (com_object){target_vtbl, dac};
  dac->runtime_locator = (com_object){runtime_locator_vtbl, dac};
  dac->metadata_locator = (com_object){metadata_locator_vtbl, dac};

  /* Loaded once per process and never unloaded: dlopen of the same path returns it again. */
  void *lib = dlopen(dac_path, RTLD_LAZY | RTLD_LOCAL);
  if (!lib) {
    rc = ds_error_set(err, DS_E_NO_DAC, "cannot load the DAC %s: %s", dac_path, dlerror());
    goto out;
  }
  if (dlsym(lib, "DAC_PAL_InitializeDLL") || dlsym(lib, "PAL_InitializeDLL")) {
    dll_main_fn dll_main = (dll_main_fn)dlsym(lib, "DllMain");
    if (dll_main)
      dll_main(lib, 1 /* DLL_PROCESS_ATTACH */, NULL);
  }
  create_instance_fn create = (create_instance_fn)dlsym(lib, "CLRDataCreateInstance");
  if (!create) {
    rc = ds_error_set(err, DS_E_NO_DAC, "%s does not export CLRDataCreateInstance: not a DAC", dac_path);
    goto out;
  }
  HRESULT hr = create(&IID_IXCLRDataProcess, &dac->target, &dac->process);
  ds__dac_took(dac, dac->process);
  if (hr < 0 || !dac->process) {
    rc = ds_error_set(err, DS_E_DAC,
                      "the DAC could not attach to the dump (CLRDataCreateInstance: 0x%08x %s)%s",
                      (uint32_t)hr, ds_hresult_name(hr),
                      (uint32_t)hr == 0x80131c4fu
                          ? "; the dump lacks libcoreclr.so's export tables: was it written by the kernel "
                            "or gcore rather than createdump/dotnet-dump?"
                          : (uint32_t)hr == 0x80131c3bu ? "; the runtime was not yet initialised" : "");
    goto out;
  }
  for (int n = 1; n <= 17; n++) {
    void *iface = NULL;
    if (VCALL(dac->process, DS__IUNKNOWN_QUERY_INTERFACE, qi_fn)(dac->process, &IID_SOS[n], &iface) >= 0)
      dac->sos[n] = ds__dac_took(dac, iface);
  }
  if (!dac->sos[1]) {
    rc = ds_error_set(err, DS_E_DAC, "the DAC does not offer ISOSDacInterface");
    goto out;
  }
  uint32_t revision = 0;
  typedef HRESULT (*request_fn)(void *, uint32_t, uint32_t, uint8_t *, uint32_t, uint8_t *);
  if (VCALL(dac->process, DS__PROCESS_REQUEST, request_fn)(dac->process, DS__CLRDATA_REQUEST_REVISION, 0, NULL, 4,
                                                          (uint8_t *)&revision) >= 0)
    dac->revision = revision;
out:
  if (rc != DS_OK) {
    ds_dac_close(dac);
    return rc;
  }
  *out = dac;
  return DS_OK;
}

void *ds__dac_took(ds_dac *dac, void *obj) {
  if (obj)
    __atomic_add_fetch(&dac->held, 1, __ATOMIC_RELAXED);
  return obj;
}

void ds__dac_release(ds_dac *dac, void *obj) {
  if (!obj)
    return;
  __atomic_sub_fetch(&dac->held, 1, __ATOMIC_RELAXED);
  VCALL(obj, DS__IUNKNOWN_RELEASE, release_fn)(obj);
}

void ds_dac_close(ds_dac *dac) {
  if (!dac)
    return;
  for (size_t i = 0; i < dac->md_cache_count; i++)
    ds__dac_release(dac, dac->md_cache[i].import);
  for (int n = 1; n <= 17; n++)
    ds__dac_release(dac, dac->sos[n]);
  ds__dac_release(dac, dac->process);
  long held = __atomic_load_n(&dac->held, __ATOMIC_RELAXED);
  if (held != 0) {
    /* our bug, never the dump's: say so loudly; tests make it fatal (DUMPSCOPE_DAC_LEDGER=abort) */
    fprintf(stderr, "dumpscope: internal error: %ld DAC interface(s) obtained and never released\n", held);
    const char *mode = getenv("DUMPSCOPE_DAC_LEDGER");
    if (mode && strcmp(mode, "abort") == 0)
      abort();
  }
  free(dac);
}

uint32_t ds_dac_revision(ds_dac *dac) { return dac->revision; }

const ds_runtime_info *ds_dac_runtime(const ds_dac *dac) { return dac->rt; }

bool ds_dac_has_sos(ds_dac *dac, int n) { return n >= 1 && n <= 17 && dac->sos[n] != NULL; }

/* ---- ISOSDacInterface wrappers ------------------------------------------------------------ */

#define SOS(dac) ((dac)->sos[1])

ds_status ds_dac_gc_heap_data(ds_dac *dac, ds_dacp_gc_heap_data *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_dacp_gc_heap_data *);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_GC_HEAP_DATA, fn)(SOS(dac), out);
  return hr < 0 ? ds__hr_error(err, hr, "GetGCHeapData") : DS_OK;
}

ds_status ds_dac_gc_heap_list(ds_dac *dac, uint32_t count, ds_addr *heaps, ds_error *err) {
  typedef HRESULT (*fn)(void *, uint32_t, ds_addr *, uint32_t *);
  uint32_t needed = 0;
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_GC_HEAP_LIST, fn)(SOS(dac), count, heaps, &needed);
  return hr < 0 ? ds__hr_error(err, hr, "GetGCHeapList") : DS_OK;
}

ds_status ds_dac_gc_heap_details(ds_dac *dac, ds_addr heap, ds_dacp_heap_details *out, ds_error *err) {
  memset(out, 0, sizeof *out);
  HRESULT hr;
  if (heap) {
    typedef HRESULT (*fn)(void *, ds_addr, ds_dacp_heap_details *);
    hr = VCALL(SOS(dac), DS__SOS_GET_GC_HEAP_DETAILS, fn)(SOS(dac), heap, out);
  } else {
    typedef HRESULT (*fn)(void *, ds_dacp_heap_details *);
    hr = VCALL(SOS(dac), DS__SOS_GET_GC_HEAP_STATIC_DATA, fn)(SOS(dac), out);
  }
  return hr < 0 ? ds__hr_error(err, hr, heap ? "GetGCHeapDetails" : "GetGCHeapStaticData") : DS_OK;
}

ds_status ds_dac_generation_table(ds_dac *dac, ds_addr heap, ds_dacp_generation *gens, uint32_t *count,
                                  ds_error *err) {
  void *s8 = dac->sos[8];
  if (!s8)
    return ds_error_set(err, DS_E_UNSUPPORTED, "the DAC lacks ISOSDacInterface8 (generation table)");
  uint32_t needed = 0;
  HRESULT hr;
  if (heap) {
    typedef HRESULT (*fn)(void *, ds_addr, uint32_t, ds_dacp_generation *, uint32_t *);
    hr = VCALL(s8, DS__SOS8_GET_GENERATION_TABLE_SVR, fn)(s8, heap, *count, gens, &needed);
  } else {
    typedef HRESULT (*fn)(void *, uint32_t, ds_dacp_generation *, uint32_t *);
    hr = VCALL(s8, DS__SOS8_GET_GENERATION_TABLE, fn)(s8, *count, gens, &needed);
  }
  if (hr < 0)
    return ds__hr_error(err, hr, "GetGenerationTable");
  if (hr == S_FALSE || needed > *count)
    return ds_error_set(err, DS_E_DAC, "GetGenerationTable needs %u entries, given %u", needed, *count);
  *count = needed;
  return DS_OK;
}

ds_status ds_dac_finalization_fill_pointers(ds_dac *dac, ds_addr heap, ds_addr *fill, uint32_t *count,
                                            ds_error *err) {
  void *s8 = dac->sos[8];
  if (!s8)
    return ds_error_set(err, DS_E_UNSUPPORTED, "the DAC lacks ISOSDacInterface8 (fill pointers)");
  uint32_t needed = 0;
  HRESULT hr;
  if (heap) {
    typedef HRESULT (*fn)(void *, ds_addr, uint32_t, ds_addr *, uint32_t *);
    hr = VCALL(s8, DS__SOS8_GET_FINALIZATION_FILL_POINTERS_SVR, fn)(s8, heap, *count, fill, &needed);
  } else {
    typedef HRESULT (*fn)(void *, uint32_t, ds_addr *, uint32_t *);
    hr = VCALL(s8, DS__SOS8_GET_FINALIZATION_FILL_POINTERS, fn)(s8, *count, fill, &needed);
  }
  if (hr < 0)
    return ds__hr_error(err, hr, "GetFinalizationFillPointers");
  if (hr == S_FALSE || needed > *count)
    return ds_error_set(err, DS_E_DAC, "GetFinalizationFillPointers needs %u entries, given %u", needed,
                        *count);
  *count = needed;
  return DS_OK;
}

ds_status ds_dac_segment(ds_dac *dac, ds_addr segment, ds_dacp_segment *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, ds_dacp_segment *);
  memset(out, 0, sizeof *out);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_HEAP_SEGMENT_DATA, fn)(SOS(dac), segment, out);
  if (hr < 0) {
    ds__hr_error(err, hr, "GetHeapSegmentData");
    return ds_error_wrap(err, "segment 0x%llx", (unsigned long long)segment);
  }
  return DS_OK;
}

ds_status ds_dac_useful_globals(ds_dac *dac, ds_dacp_useful_globals *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_dacp_useful_globals *);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_USEFUL_GLOBALS, fn)(SOS(dac), out);
  return hr < 0 ? ds__hr_error(err, hr, "GetUsefulGlobals") : DS_OK;
}

ds_status ds_dac_method_table(ds_dac *dac, ds_addr mt, ds_dacp_method_table *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, ds_dacp_method_table *);
  memset(out, 0, sizeof *out);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_METHOD_TABLE_DATA, fn)(SOS(dac), mt, out);
  if (hr < 0) {
    ds__hr_error(err, hr, "GetMethodTableData");
    return ds_error_wrap(err, "MethodTable 0x%llx", (unsigned long long)mt);
  }
  return DS_OK;
}

ds_status ds_dac_method_table_name(ds_dac *dac, ds_addr mt, char *out, size_t out_len, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, uint32_t, uint16_t *, uint32_t *);
  uint32_t needed = 0;
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_METHOD_TABLE_NAME, fn)(SOS(dac), mt, 0, NULL, &needed);
  if (hr < 0 || needed == 0) {
    ds__hr_error(err, hr, "GetMethodTableName");
    return ds_error_wrap(err, "MethodTable 0x%llx", (unsigned long long)mt);
  }
  if (needed > DS_MAX_TYPE_NAME_CHARS)
    needed = DS_MAX_TYPE_NAME_CHARS;
  uint16_t *wide = malloc(needed * sizeof *wide);
  if (!wide)
    return ds_error_set(err, DS_E_NOMEM, "out of memory reading a type name");
  uint32_t got = 0;
  hr = VCALL(SOS(dac), DS__SOS_GET_METHOD_TABLE_NAME, fn)(SOS(dac), mt, needed, wide, &got);
  if (hr >= 0)
    ds_utf16_to_utf8(wide, needed, true, out, out_len);
  free(wide);
  if (hr < 0) {
    ds__hr_error(err, hr, "GetMethodTableName");
    return ds_error_wrap(err, "MethodTable 0x%llx", (unsigned long long)mt);
  }
  return DS_OK;
}

ds_status ds_dac_method_table_fields(ds_dac *dac, ds_addr mt, ds_dacp_field_table *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, ds_dacp_field_table *);
  memset(out, 0, sizeof *out);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_METHOD_TABLE_FIELD_DATA, fn)(SOS(dac), mt, out);
  return hr < 0 ? ds__hr_error(err, hr, "GetMethodTableFieldData") : DS_OK;
}

ds_status ds_dac_field(ds_dac *dac, ds_addr field_desc, ds_dacp_field *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, ds_dacp_field *);
  memset(out, 0, sizeof *out);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_FIELD_DESC_DATA, fn)(SOS(dac), field_desc, out);
  return hr < 0 ? ds__hr_error(err, hr, "GetFieldDescData") : DS_OK;
}

/* IMetaDataImport of a module, cached; NULL when unavailable. */
static void *metadata_import(ds_dac *dac, ds_addr module) {
  for (size_t i = 0; i < dac->md_cache_count; i++)
    if (dac->md_cache[i].module == module)
      return dac->md_cache[i].import;
  typedef HRESULT (*get_module_fn)(void *, ds_addr, void **);
  void *xmodule = NULL, *import = NULL;
  if (VCALL(SOS(dac), DS__SOS_GET_MODULE, get_module_fn)(SOS(dac), module, &xmodule) >= 0 &&
      ds__dac_took(dac, xmodule)) {
    if (VCALL(xmodule, DS__IUNKNOWN_QUERY_INTERFACE, qi_fn)(xmodule, &IID_IMetaDataImport, &import) < 0)
      import = NULL;
    ds__dac_took(dac, import);
    ds__dac_release(dac, xmodule);
  }
  size_t slot = dac->md_cache_count < MODULE_CACHE ? dac->md_cache_count++ : (size_t)(module % MODULE_CACHE);
  if (slot < dac->md_cache_count && dac->md_cache[slot].import && dac->md_cache[slot].module != module)
    ds__dac_release(dac, dac->md_cache[slot].import);
  dac->md_cache[slot].module = module;
  dac->md_cache[slot].import = import;
  return import;
}

/* TraverseModuleMap's callback (MODULEMAPTRAVERSE): keeps the MethodTable of the wanted TypeDef. */
typedef struct typedef_search {
  uint32_t rid;
  ds_addr mt;
} typedef_search;

static void on_typedef_entry(uint32_t rid, ds_addr mt, void *token) {
  typedef_search *s = token;
  if (rid == s->rid && mt)
    s->mt = mt;
}

ds_status ds_dac_module_type(ds_dac *dac, ds_addr module, const char *name, ds_addr *mt, ds_error *err) {
  *mt = 0;
  void *import = metadata_import(dac, module);
  if (!import)
    return ds_error_set(err, DS_E_DAC, "no metadata for module 0x%llx", (unsigned long long)module);
  uint16_t wide[256];
  size_t n = strlen(name);
  if (n >= sizeof wide / sizeof *wide)
    return ds_error_set(err, DS_E_ARG, "type name too long");
  for (size_t i = 0; i <= n; i++)
    wide[i] = (uint8_t)name[i];
  typedef HRESULT (*find_fn)(void *, const uint16_t *, uint32_t, uint32_t *);
  uint32_t token = 0;
  HRESULT hr = VCALL(import, DS__METADATA_FIND_TYPE_DEF_BY_NAME, find_fn)(import, wide, 0, &token);
  if (hr < 0 || (token >> 24) != 0x02) /* CLDB_E_RECORD_NOTFOUND, or not a TypeDef */
    return DS_OK;
  typedef HRESULT (*traverse_fn)(void *, int, ds_addr, void (*)(uint32_t, ds_addr, void *), void *);
  typedef_search search = {token & 0xFFFFFFu, 0};
  hr = VCALL(SOS(dac), DS__SOS_TRAVERSE_MODULE_MAP, traverse_fn)(SOS(dac), 0 /* TYPEDEFTOMETHODTABLE */, module,
                                                                   on_typedef_entry, &search);
  if (hr < 0)
    return ds__hr_error(err, hr, "TraverseModuleMap");
  *mt = search.mt;
  return DS_OK;
}

ds_status ds_dac_field_name(ds_dac *dac, ds_addr module, uint32_t field_token, char *out, size_t out_len,
                            ds_error *err) {
  void *import = metadata_import(dac, module);
  if (!import)
    return ds_error_set(err, DS_E_DAC, "no metadata for module 0x%llx", (unsigned long long)module);
  typedef HRESULT (*fn)(void *, uint32_t, uint32_t *, uint16_t *, uint32_t, uint32_t *, uint32_t *,
                        const uint8_t **, uint32_t *, uint32_t *, const void **, uint32_t *);
  uint16_t name[512];
  uint32_t klass = 0, name_len = 0, attr = 0, sig_len = 0, cplus = 0, value_len = 0;
  const uint8_t *sig = NULL;
  const void *value = NULL;
  HRESULT hr = VCALL(import, DS__METADATA_GET_FIELD_PROPS, fn)(import, field_token, &klass, name, 512, &name_len,
                                                               &attr, &sig, &sig_len, &cplus, &value, &value_len);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetFieldProps");
  ds_utf16_to_utf8(name, 512, true, out, out_len);
  return DS_OK;
}

ds_status ds_dac_thread_store(ds_dac *dac, ds_dacp_thread_store *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_dacp_thread_store *);
  memset(out, 0, sizeof *out);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_THREAD_STORE_DATA, fn)(SOS(dac), out);
  return hr < 0 ? ds__hr_error(err, hr, "GetThreadStoreData") : DS_OK;
}

ds_status ds_dac_thread(ds_dac *dac, ds_addr thread, ds_dacp_thread *out, ds_error *err) {
  typedef HRESULT (*fn)(void *, ds_addr, ds_dacp_thread *);
  memset(out, 0, sizeof *out);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_THREAD_DATA, fn)(SOS(dac), thread, out);
  return hr < 0 ? ds__hr_error(err, hr, "GetThreadData") : DS_OK;
}

ds_status ds_dac_global_alloc_context(ds_dac *dac, ds_addr *ptr, ds_addr *limit, ds_error *err) {
  *ptr = *limit = 0;
  void *s12 = dac->sos[12];
  if (!s12)
    return DS_OK;
  typedef HRESULT (*fn)(void *, ds_addr *, ds_addr *);
  HRESULT hr = VCALL(s12, DS__SOS12_GET_GLOBAL_ALLOCATION_CONTEXT, fn)(s12, ptr, limit);
  return hr < 0 ? ds__hr_error(err, hr, "GetGlobalAllocationContext") : DS_OK;
}

ds_status ds_dac_array_element(ds_dac *dac, ds_addr obj, ds_addr *element_mt, uint32_t *element_type,
                               ds_error *err) {
  uint8_t data[96];
  typedef HRESULT (*fn)(void *, ds_addr, uint8_t *);
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_OBJECT_DATA, fn)(SOS(dac), obj, data);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetObjectData");
  memcpy(element_mt, data + 24, 8);
  memcpy(element_type, data + 32, 4);
  return DS_OK;
}

ds_status ds_dac_collectible_handle(ds_dac *dac, ds_addr mt, ds_addr *handle, ds_error *err) {
  *handle = 0;
  void *s6 = dac->sos[6];
  if (!s6)
    return DS_OK;
  struct { ds_addr handle; int32_t collectible; } data = {0, 0};
  typedef HRESULT (*fn)(void *, ds_addr, void *);
  HRESULT hr = VCALL(s6, DS__SOS6_GET_METHOD_TABLE_COLLECTIBLE_DATA, fn)(s6, mt, &data);
  if (hr < 0)
    return ds__hr_error(err, hr, "GetMethodTableCollectibleData");
  if (data.collectible)
    *handle = data.handle;
  return DS_OK;
}

ds_status ds_dac_enum_handles(ds_dac *dac, ds_dac_handle_fn fn_cb, void *ctx, ds_error *err) {
  typedef HRESULT (*get_enum_fn)(void *, void **);
  typedef HRESULT (*count_fn)(void *, uint32_t *);
  typedef HRESULT (*next_fn)(void *, uint32_t, ds_dacp_handle *, uint32_t *);
  void *handle_enum = NULL;
  HRESULT hr = VCALL(SOS(dac), DS__SOS_GET_HANDLE_ENUM, get_enum_fn)(SOS(dac), &handle_enum);
  ds__dac_took(dac, handle_enum);
  if (hr < 0 || !handle_enum)
    return ds__hr_error(err, hr, "GetHandleEnum");
  ds_status rc = DS_OK;
  uint32_t total = 0;
  if (VCALL(handle_enum, DS__ENUM_GET_COUNT, count_fn)(handle_enum, &total) < 0)
    total = 0;
  /* Before .NET 8 the walker misbehaved with buffers smaller than the total; ask for it all. */
  uint32_t batch = total > 1024 ? total : 1024;
  if (batch > DS_MAX_HANDLE_BATCH)
    batch = DS_MAX_HANDLE_BATCH;
  ds_dacp_handle *buf = malloc(batch * sizeof *buf);
  if (!buf) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory for %u handles", batch);
    goto out;
  }
  for (;;) {
    uint32_t fetched = 0;
    hr = VCALL(handle_enum, DS__ENUM_NEXT, next_fn)(handle_enum, batch, buf, &fetched);
    if (hr < 0) {
      rc = ds__hr_error(err, hr, "ISOSHandleEnum::Next");
      break;
    }
    for (uint32_t i = 0; i < fetched; i++)
      fn_cb(ctx, &buf[i]);
    if (fetched == 0)
      break;
  }
out:
  free(buf);
  ds__dac_release(dac, handle_enum);
  return rc;
}
