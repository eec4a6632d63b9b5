/*
 * diskfile.c: the pages a core lacks, read from the files the process mapped, and the lookups
 * over the modules and their NT_FILE mappings.
 *
 * A kernel core or a gdb `gcore` leaves out read-only file mappings (coredump_filter): the
 * assemblies' metadata and the ELF files' read-only pages. NT_FILE still says which file was
 * mapped where, so a missing page of a mapped file is read from that file on this machine, once
 * it is verified to be the one the process mapped: an ELF file by its build id (the one the dump
 * records in target memory), a PE file by its size and section table (pefile.c). A file that
 * cannot be verified is never read. The file is opened and checked on first use, under the
 * dump's image lock, and stays mapped until ds_dump_close.
 */
#include "dumpint.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Index of the NT_FILE mapping containing addr (mappings are sorted by address), or -1. */
static ptrdiff_t find_mapping(const ds_dump *dump, uint64_t addr) {
  size_t lo = 0, hi = dump->mapping_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const file_mapping *m = &dump->mappings[mid];
    if (addr < m->start)
      hi = mid;
    else if (addr >= m->end)
      lo = mid + 1;
    else
      return (ptrdiff_t)mid;
  }
  return -1;
}

size_t ds_dump_module_mappings(const ds_dump *dump, const ds_module *mod, ds_dump_mapping *out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < dump->mapping_count; i++) { /* sorted by address */
    const file_mapping *m = &dump->mappings[i];
    if (&dump->modules[m->module_index] != mod)
      continue;
    if (n < max)
      out[n] = (ds_dump_mapping){m->start, m->end, m->file_offset, mod};
    n++;
  }
  return n;
}

/* Whether the on-disk PE file fits every NT_FILE mapping of the module. */
static bool pe_fits(const ds_dump *dump, size_t module_index, const uint8_t *data, uint64_t size) {
  const ds_module *mod = &dump->modules[module_index];
  size_t n = ds_dump_module_mappings(dump, mod, NULL, 0);
  ds_dump_mapping *maps = calloc(n ? n : 1, sizeof *maps);
  if (!maps)
    return false;
  ds_dump_module_mappings(dump, mod, maps, n);
  bool fits = ds_pe_file_fits(data, size, maps, n);
  free(maps);
  return fits;
}

/* Maps the on-disk file of a module when it is verified to be the one the process mapped: an ELF
 * file with the dump's build id, or a PE file that fits the module's mappings. Caller holds lock. */
static void open_disk_image(ds_dump *dump, size_t module_index) {
  disk_image *img = &dump->images[module_index];
  const ds_module *mod = &dump->modules[module_index];
  img->state = -1;
  if (mod->is_elf && mod->build_id_len == 0)
    return; /* an ELF file without a build id: nothing to check it against */
  int fd = ds_open_regular(mod->path);
  if (fd < 0)
    return;
  struct stat st;
  char magic[2];
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
      (!mod->is_elf && (pread(fd, magic, 2, 0) != 2 || magic[0] != 'M' || magic[1] != 'Z'))) {
    close(fd); /* (not ELF: only a PE file is checked, other files are never mapped) */
    return;
  }
  void *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED)
    return;
  bool same;
  if (mod->is_elf) {
    uint8_t id[DS_MAX_BUILD_ID_BYTES];
    size_t id_len = ds_elf_image_build_id(data, (uint64_t)st.st_size, id);
    same = id_len == mod->build_id_len && memcmp(id, mod->build_id, id_len) == 0;
  } else {
    same = pe_fits(dump, module_index, data, (uint64_t)st.st_size);
  }
  if (!same) {
    munmap(data, (size_t)st.st_size);
    return;
  }
  img->data = data;
  img->size = (uint64_t)st.st_size;
  img->state = 1;
}

/* The verified on-disk file of a module, opened on first use; NULL when it is not usable. */
static const disk_image *usable_image(ds_dump *dump, size_t module_index) {
  pthread_mutex_lock(&dump->image_lock);
  if (dump->images[module_index].state == 0)
    open_disk_image(dump, module_index);
  pthread_mutex_unlock(&dump->image_lock);
  const disk_image *img = &dump->images[module_index];
  return img->state == 1 ? img : NULL;
}

size_t ds__dump_read_from_disk(ds_dump *dump, uint64_t addr, uint8_t *buf, size_t len) {
  ptrdiff_t mi = find_mapping(dump, addr);
  if (mi < 0)
    return 0;
  const file_mapping *m = &dump->mappings[mi];
  const disk_image *img = usable_image(dump, m->module_index);
  if (!img)
    return 0;
  uint64_t offset = m->file_offset + (addr - m->start);
  if (offset >= img->size)
    return 0;
  uint64_t n = len;
  if (n > m->end - addr)
    n = m->end - addr;
  if (n > img->size - offset)
    n = img->size - offset;
  memcpy(buf, img->data + offset, n);
  return (size_t)n;
}

void ds__dump_unmap_disk_images(ds_dump *dump) {
  for (size_t m = 0; dump->images && m < dump->module_count; m++)
    if (dump->images[m].state == 1)
      munmap((void *)dump->images[m].data, dump->images[m].size);
}

size_t ds_dump_module_count(const ds_dump *dump) { return dump->module_count; }

const ds_module *ds_dump_module(const ds_dump *dump, size_t index) {
  return index < dump->module_count ? &dump->modules[index] : NULL;
}

const ds_module *ds_dump_find_module(const ds_dump *dump, const char *name) {
  for (size_t m = 0; m < dump->module_count; m++) {
    const char *slash = strrchr(dump->modules[m].path, '/');
    const char *base = slash ? slash + 1 : dump->modules[m].path;
    if (strcmp(base, name) == 0)
      return &dump->modules[m];
  }
  return NULL;
}

bool ds_dump_mapping_at(const ds_dump *dump, uint64_t addr, ds_dump_mapping *out) {
  ptrdiff_t i = find_mapping(dump, addr);
  if (i < 0)
    return false;
  const file_mapping *m = &dump->mappings[i];
  *out = (ds_dump_mapping){m->start, m->end, m->file_offset, &dump->modules[m->module_index]};
  return true;
}

bool ds_dump_module_file_address(const ds_dump *dump, const ds_module *mod, uint64_t offset, uint64_t *addr) {
  for (size_t i = 0; i < dump->mapping_count; i++) {
    const file_mapping *m = &dump->mappings[i];
    if (&dump->modules[m->module_index] == mod && offset >= m->file_offset && offset - m->file_offset < m->end - m->start) {
      *addr = m->start + (offset - m->file_offset);
      return true;
    }
  }
  return false;
}

bool ds_dump_module_file(ds_dump *dump, const ds_module *mod, const uint8_t **data, uint64_t *size) {
  if (mod < dump->modules || mod >= dump->modules + dump->module_count)
    return false;
  size_t index = (size_t)(mod - dump->modules);
  const disk_image *img = usable_image(dump, index);
  if (!img)
    return false;
  *data = img->data;
  *size = img->size;
  return true;
}
