/*
 * image.c: which part of a mapped image holds an address (SOSEX !mln on module memory): the
 * module, and the ELF segment and section, or the PE section, that contains it.
 *
 * ELF program headers are read from the image's first page in the dump (createdump keeps it for
 * every module); section headers are not mapped by the loader, so they come from the on-disk file
 * when its build id matches (ds_dump_module_file). PE headers (managed assemblies) are read from
 * the dump, and the section is found by file offset, which holds for both the flat and the
 * section-by-section mappings the runtime makes. Everything read is untrusted: every count and
 * offset is bounded before use.
 */
#include "dumpscope/dump.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PE_MAX_SECTIONS 96u

static void flags_text(uint32_t p_flags, char out[4]) {
  out[0] = p_flags & PF_R ? 'r' : '-';
  out[1] = p_flags & PF_W ? 'w' : '-';
  out[2] = p_flags & PF_X ? 'x' : '-';
  out[3] = '\0';
}

/* The module's ELF header and program headers, read from the dump; false when unreadable. */
static bool read_elf_headers(ds_dump *dump, const ds_module *mod, Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *count) {
  if (!ds_dump_read_exact(dump, mod->base, eh, sizeof *eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
      eh->e_phnum > DS_MAX_MODULE_PROGRAM_HEADERS || eh->e_phoff > UINT32_MAX)
    return false;
  *count = eh->e_phnum;
  return ds_dump_read_exact(dump, mod->base + eh->e_phoff, ph, *count * sizeof *ph);
}

/* The load bias of an ELF image mapped at base: base minus the page of its first PT_LOAD. */
static uint64_t load_bias(const ds_module *mod, const Elf64_Phdr *ph, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (ph[i].p_type == PT_LOAD)
      return mod->base - (ph[i].p_vaddr & ~(uint64_t)0xfff);
  return mod->base;
}

/* The allocated section of an on-disk ELF file that holds virtual address vaddr. */
static void elf_section(const uint8_t *file, uint64_t size, uint64_t vaddr, char *out, size_t out_len) {
  Elf64_Ehdr eh;
  if (size < sizeof eh)
    return;
  memcpy(&eh, file, sizeof eh);
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > size || eh.e_shnum == 0 ||
      (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > size - eh.e_shoff || eh.e_shstrndx >= eh.e_shnum)
    return;
  Elf64_Shdr names;
  memcpy(&names, file + eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof names, sizeof names);
  if (names.sh_offset > size || names.sh_size > size - names.sh_offset)
    return;
  for (unsigned i = 0; i < eh.e_shnum; i++) {
    Elf64_Shdr sh;
    memcpy(&sh, file + eh.e_shoff + (uint64_t)i * sizeof sh, sizeof sh);
    if (!(sh.sh_flags & SHF_ALLOC) || vaddr < sh.sh_addr || vaddr - sh.sh_addr >= sh.sh_size)
      continue;
    if (sh.sh_name >= names.sh_size)
      return;
    const char *name = (const char *)file + names.sh_offset + sh.sh_name;
    size_t len = strnlen(name, names.sh_size - sh.sh_name);
    snprintf(out, out_len, "%.*s", (int)len, name);
    return;
  }
}

/* ELF: the PT_LOAD segment holding addr (and the section, from the file on disk). */
static bool elf_part(ds_dump *dump, const ds_module *mod, uint64_t addr, ds_image_part *part) {
  Elf64_Ehdr eh;
  Elf64_Phdr ph[DS_MAX_MODULE_PROGRAM_HEADERS];
  size_t count = 0;
  if (!read_elf_headers(dump, mod, &eh, ph, &count))
    return false;
  uint64_t bias = load_bias(mod, ph, count);
  part->module_offset = addr - bias;
  for (size_t i = 0; i < count; i++) {
    if (ph[i].p_type != PT_LOAD)
      continue;
    uint64_t start = bias + ph[i].p_vaddr, end = start + ph[i].p_memsz;
    if (end < start || addr < start || addr >= end)
      continue;
    part->format = "ELF";
    part->segment = (int)i;
    part->segment_start = start;
    part->segment_end = end;
    flags_text(ph[i].p_flags, part->segment_flags);
    const uint8_t *file;
    uint64_t file_size;
    if (ds_dump_module_file(dump, mod, &file, &file_size))
      elf_section(file, file_size, addr - bias, part->section, sizeof part->section);
    return true;
  }
  part->format = "ELF";
  return true;
}

/* PE (a managed assembly): the section whose raw data holds the file offset of addr. */
static void pe_part(ds_dump *dump, const ds_module *mod, ds_image_part *part) {
  uint8_t dos[64];
  uint32_t pe_offset, signature;
  uint16_t section_count, optional_size;
  if (!ds_dump_read_exact(dump, mod->base, dos, sizeof dos) || dos[0] != 'M' || dos[1] != 'Z')
    return;
  memcpy(&pe_offset, dos + 0x3c, 4);
  if (pe_offset > 4096 || !ds_dump_read_u32(dump, mod->base + pe_offset, &signature) || signature != 0x4550 ||
      !ds_dump_read_exact(dump, mod->base + pe_offset + 6, &section_count, 2) ||
      !ds_dump_read_exact(dump, mod->base + pe_offset + 20, &optional_size, 2))
    return;
  part->format = "PE";
  if (!part->has_file_offset || section_count > PE_MAX_SECTIONS)
    return;
  uint64_t table = mod->base + pe_offset + 24 + optional_size;
  uint32_t first_raw = UINT32_MAX;
  for (uint16_t i = 0; i < section_count; i++) {
    uint8_t sh[40];
    if (!ds_dump_read_exact(dump, table + (uint64_t)i * sizeof sh, sh, sizeof sh))
      return;
    uint32_t rva, raw_size, raw_ptr;
    memcpy(&rva, sh + 12, 4);
    memcpy(&raw_size, sh + 16, 4);
    memcpy(&raw_ptr, sh + 20, 4);
    if (raw_ptr && raw_ptr < first_raw)
      first_raw = raw_ptr;
    if (part->file_offset >= raw_ptr && part->file_offset - raw_ptr < raw_size) {
      size_t len = strnlen((const char *)sh, 8);
      snprintf(part->section, sizeof part->section, "%.*s", (int)len, (const char *)sh);
      part->module_offset = rva + (part->file_offset - raw_ptr);
      return;
    }
  }
  if (part->file_offset < first_raw) {
    snprintf(part->section, sizeof part->section, "(headers)");
    part->module_offset = part->file_offset;
  }
}

/* The ELF module whose segments (including anonymous tails past the file, such as .bss) hold
 * addr, for addresses no NT_FILE mapping covers. */
static const ds_module *module_by_segments(ds_dump *dump, uint64_t addr) {
  for (size_t m = 0; m < ds_dump_module_count(dump); m++) {
    const ds_module *mod = ds_dump_module(dump, m);
    if (!mod->is_elf || addr < mod->base)
      continue;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[DS_MAX_MODULE_PROGRAM_HEADERS];
    size_t count = 0;
    if (!read_elf_headers(dump, mod, &eh, ph, &count))
      continue;
    uint64_t bias = load_bias(mod, ph, count);
    for (size_t i = 0; i < count; i++)
      if (ph[i].p_type == PT_LOAD && addr >= bias + ph[i].p_vaddr && addr - (bias + ph[i].p_vaddr) < ph[i].p_memsz)
        return mod;
  }
  return NULL;
}

bool ds_dump_image_part(ds_dump *dump, uint64_t addr, ds_image_part *part) {
  memset(part, 0, sizeof *part);
  part->format = "";
  part->segment = -1;
  ds_dump_mapping mapping;
  const ds_module *mod = NULL;
  if (ds_dump_mapping_at(dump, addr, &mapping)) {
    mod = mapping.module;
    part->has_file_offset = true;
    part->file_offset = mapping.file_offset + (addr - mapping.start);
  } else {
    mod = module_by_segments(dump, addr);
  }
  if (!mod)
    return false;
  part->module = mod;
  part->module_offset = part->has_file_offset ? part->file_offset : addr - mod->base;
  if (mod->is_elf)
    elf_part(dump, mod, addr, part);
  else
    pe_part(dump, mod, part);
  return true;
}

/* ---- a managed assembly's user strings (ECMA-335 II.24) ------------------------------------------ */

#define PE_MAX_US_BYTES (64u << 20)

/* The target address of an RVA of a PE module: through the section table to a file offset, then
 * through the module's mappings (flat or section by section alike). */
static bool pe_rva_address(ds_dump *dump, const ds_module *mod, uint64_t table, uint16_t sections, uint32_t rva,
                           uint64_t *addr) {
  for (uint16_t i = 0; i < sections && i < PE_MAX_SECTIONS; i++) {
    uint8_t sh[40];
    if (!ds_dump_read_exact(dump, table + (uint64_t)i * sizeof sh, sh, sizeof sh))
      return false;
    uint32_t va, raw_size, raw_ptr;
    memcpy(&va, sh + 12, 4);
    memcpy(&raw_size, sh + 16, 4);
    memcpy(&raw_ptr, sh + 20, 4);
    if (rva >= va && rva - va < raw_size)
      return ds_dump_module_file_address(dump, mod, (uint64_t)raw_ptr + (rva - va), addr);
  }
  return false;
}

/* The #US stream of a PE module: its address and size. */
static bool pe_user_string_heap(ds_dump *dump, const ds_module *mod, uint64_t *heap, uint32_t *size) {
  uint8_t dos[64];
  uint32_t pe_offset, signature, cli_rva = 0, metadata_rva = 0;
  uint16_t sections, optional_size, magic;
  if (!ds_dump_read_exact(dump, mod->base, dos, sizeof dos) || dos[0] != 'M' || dos[1] != 'Z')
    return false;
  memcpy(&pe_offset, dos + 0x3c, 4);
  uint64_t pe = mod->base + pe_offset, optional = pe + 24;
  if (pe_offset > 4096 || !ds_dump_read_u32(dump, pe, &signature) || signature != 0x4550 ||
      !ds_dump_read_exact(dump, pe + 6, &sections, 2) || !ds_dump_read_exact(dump, pe + 20, &optional_size, 2) ||
      !ds_dump_read_exact(dump, optional, &magic, 2))
    return false;
  /* data directory 14 (the CLI header): after 96 (PE32) or 112 (PE32+) bytes, 8 bytes each */
  uint32_t directories = magic == 0x20b ? 112 : 96;
  if (directories + 15 * 8 > optional_size || !ds_dump_read_u32(dump, optional + directories + 14 * 8, &cli_rva) ||
      !cli_rva)
    return false;
  uint64_t table = optional + optional_size, cli, root;
  if (!pe_rva_address(dump, mod, table, sections, cli_rva, &cli) || !ds_dump_read_u32(dump, cli + 8, &metadata_rva) ||
      !pe_rva_address(dump, mod, table, sections, metadata_rva, &root))
    return false;
  uint32_t root_signature, version_length;
  uint16_t streams;
  if (!ds_dump_read_u32(dump, root, &root_signature) || root_signature != 0x424A5342 ||
      !ds_dump_read_u32(dump, root + 12, &version_length) || version_length > 256 ||
      !ds_dump_read_exact(dump, root + 16 + version_length + 2, &streams, 2))
    return false;
  uint64_t header = root + 16 + version_length + 4;
  for (uint16_t s = 0; s < streams && s < 16; s++) {
    uint8_t h[8 + 32];
    if (!ds_dump_read_exact(dump, header, h, sizeof h))
      return false;
    uint32_t offset, stream_size;
    memcpy(&offset, h, 4);
    memcpy(&stream_size, h + 4, 4);
    size_t name_len = strnlen((const char *)h + 8, 32);
    if (name_len == 32)
      return false;
    if (strcmp((const char *)h + 8, "#US") == 0) {
      *heap = root + offset;
      *size = stream_size;
      return stream_size <= PE_MAX_US_BYTES;
    }
    header += 8 + ((name_len + 4) & ~(size_t)3); /* the name and its NUL, padded to 4 */
  }
  return false;
}

bool ds_dump_pe_user_strings(ds_dump *dump, const ds_module *mod, size_t max,
                             void (*fn)(void *ctx, const uint16_t *chars, size_t count), void *ctx) {
  uint64_t heap = 0;
  uint32_t size = 0;
  if (mod->is_elf || !pe_user_string_heap(dump, mod, &heap, &size))
    return false;
  uint8_t *bytes = malloc(size ? size : 1);
  if (!bytes || !ds_dump_read_exact(dump, heap, bytes, size)) {
    free(bytes);
    return false;
  }
  uint16_t *units = malloc(size / 2 + 1);
  size_t delivered = 0;
  for (uint32_t at = 1; units && at < size && delivered < max;) { /* entry 0 is the empty blob */
    uint32_t b0 = bytes[at], len, head;
    if (!(b0 & 0x80)) {
      len = b0, head = 1;
    } else if ((b0 & 0xC0) == 0x80 && at + 1 < size) {
      len = (b0 & 0x3f) << 8 | bytes[at + 1], head = 2;
    } else if ((b0 & 0xE0) == 0xC0 && at + 3 < size) {
      len = (b0 & 0x1f) << 24 | (uint32_t)bytes[at + 1] << 16 | (uint32_t)bytes[at + 2] << 8 | bytes[at + 3], head = 4;
    } else {
      break;
    }
    if (len > size - at - head)
      break;
    if (len >= 1) { /* UTF-16 units, then one flag byte */
      size_t count = (len - 1) / 2;
      memcpy(units, bytes + at + head, count * 2);
      fn(ctx, units, count);
      delivered++;
    }
    at += head + len;
  }
  free(units);
  free(bytes);
  return true;
}
