/*
 * elfcore.c: the ELF core reader behind dump.h.
 *
 * Layout of the work: open + mmap the file, recognise its format, validate the ELF and program
 * headers, collect PT_LOAD segments that carry data (sorted by address for binary search), parse
 * PT_NOTE notes (NT_PRSTATUS, NT_PRFPREG, NT_FILE), group NT_FILE entries into modules and read
 * each module's GNU build id from target memory. Reads that miss every PT_LOAD fall back to the
 * on-disk file of an NT_FILE mapping whose ELF build id matches the dump's, or that is a PE file
 * fitting its mappings (diskfile.c, with the module-mapping lookups; pefile.c: kernel cores and
 * gcore leave the assemblies' images out). The dump's state is in dumpint.h.
 */
#include "dumpint.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NT_FILE_TYPE 0x46494c45u
#define DIAGINFO_ADDRESS 0x00007ffffff10000ull

/* FNV-1a over bytes, continuing from h: the dump's identity (cheap, not cryptographic: it tells a
 * dump from another process's, not an attacker's forgery). */
static uint64_t identity_mix(uint64_t h, const void *data, size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static int compare_segments(const void *a, const void *b) {
  const load_segment *x = a, *y = b;
  return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int compare_mappings(const void *a, const void *b) {
  const file_mapping *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Index of the segment containing addr, or -1. */
static ptrdiff_t find_segment(const ds_dump *dump, uint64_t addr) {
  size_t lo = 0, hi = dump->segment_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const load_segment *s = &dump->segments[mid];
    if (addr < s->vaddr)
      hi = mid;
    else if (addr - s->vaddr >= s->size)
      lo = mid + 1;
    else
      return (ptrdiff_t)mid;
  }
  return -1;
}

const uint8_t *ds_dump_span(const ds_dump *dump, uint64_t addr, uint64_t *avail) {
  ptrdiff_t i = find_segment(dump, addr);
  if (i < 0) {
    *avail = 0;
    return NULL;
  }
  const load_segment *s = &dump->segments[i];
  *avail = s->size - (addr - s->vaddr);
  return dump->map + s->file_offset + (addr - s->vaddr);
}

size_t ds_dump_read(ds_dump *dump, uint64_t addr, void *buf, size_t len) {
  uint8_t *out = buf;
  size_t done = 0;
  while (done < len) {
    uint64_t here = addr + done;
    if (here < addr)
      break; /* wrapped around the address space */
    uint64_t avail;
    const uint8_t *src = ds_dump_span(dump, here, &avail);
    size_t n;
    if (src) {
      n = len - done;
      if (n > avail)
        n = (size_t)avail;
      memcpy(out + done, src, n);
    } else {
      /* Not in the core: try the on-disk file, but only up to the next segment with data. */
      n = ds__dump_read_from_disk(dump, here, out + done, len - done);
      if (n == 0)
        break;
    }
    done += n;
  }
  return done;
}

bool ds_dump_read_exact(ds_dump *dump, uint64_t addr, void *buf, size_t len) {
  return ds_dump_read(dump, addr, buf, len) == len;
}

bool ds_dump_read_u64(ds_dump *dump, uint64_t addr, uint64_t *value) {
  return ds_dump_read_exact(dump, addr, value, sizeof *value);
}

bool ds_dump_read_u32(ds_dump *dump, uint64_t addr, uint32_t *value) {
  return ds_dump_read_exact(dump, addr, value, sizeof *value);
}

uint64_t ds_dump_search(ds_dump *dump, uint64_t start, uint64_t end, const void *needle,
                        size_t needle_len) {
  enum { CHUNK = 1 << 20 };
  if (needle_len == 0 || needle_len > 4096 || end <= start)
    return 0;
  uint8_t *buf = malloc(CHUNK + 4096);
  if (!buf)
    return 0;
  uint64_t found = 0, addr = start;
  while (addr < end && !found) {
    size_t want = end - addr < CHUNK + needle_len ? (size_t)(end - addr) : CHUNK + needle_len;
    size_t got = ds_dump_read(dump, addr, buf, want);
    if (got >= needle_len) {
      const uint8_t *hit = memmem(buf, got, needle, needle_len);
      if (hit)
        found = addr + (uint64_t)(hit - buf);
    }
    /* advance past what we searched, or past the unreadable page */
    uint64_t step = got > needle_len ? got - needle_len + 1 : 0;
    if (step == 0)
      step = 4096 - (addr & 4095);
    if (addr + step < addr)
      break;
    addr += step;
  }
  free(buf);
  return found;
}

bool ds_dump_file_offset(const ds_dump *dump, uint64_t addr, uint64_t *offset) {
  ptrdiff_t i = find_segment(dump, addr);
  if (i < 0)
    return false;
  *offset = dump->segments[i].file_offset + (addr - dump->segments[i].vaddr);
  return true;
}

/* The first load segment that ends after addr (segments are sorted and do not overlap), or
 * segment_count. */
static size_t segment_at_or_after(const ds_dump *dump, uint64_t addr) {
  size_t lo = 0, hi = dump->segment_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const load_segment *s = &dump->segments[mid];
    if (addr >= s->vaddr && addr - s->vaddr >= s->size)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* Gives advice on the whole pages of the mapping under [addr, addr+len). */
static void advise(const ds_dump *dump, uint64_t addr, uint64_t len, int advice) {
  uint64_t end_addr = len > UINT64_MAX - addr ? UINT64_MAX : addr + len;
  /* every load segment the range crosses: a heap of regions is many of them */
  for (size_t i = segment_at_or_after(dump, addr); i < dump->segment_count; i++) {
    const load_segment *s = &dump->segments[i];
    if (s->vaddr >= end_addr)
      break;
    uint64_t from = addr > s->vaddr ? addr : s->vaddr;
    uint64_t to = end_addr - s->vaddr < s->size ? end_addr : s->vaddr + s->size;
    const uint8_t *p = dump->map + s->file_offset + (from - s->vaddr);
    uintptr_t start = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t end = ((uintptr_t)p + (to - from)) & ~(uintptr_t)4095;
    if (end > start)
      madvise((void *)start, end - start, advice);
  }
}

void ds_dump_release(const ds_dump *dump, uint64_t addr, uint64_t len) { advise(dump, addr, len, MADV_DONTNEED); }

void ds_dump_populate(const ds_dump *dump, uint64_t addr, uint64_t len) {
  advise(dump, addr, len, MADV_POPULATE_READ); /* an older kernel says EINVAL: the walk faults as before */
}

/* Reads a module's ELF header, program headers and build id note from target memory. */
static void identify_module(ds_dump *dump, ds_module *mod) {
  Elf64_Ehdr eh;
  if (!ds_dump_read_exact(dump, mod->base, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
      eh.e_phnum == 0 || eh.e_phnum > DS_MAX_MODULE_PROGRAM_HEADERS)
    return;
  mod->is_elf = true;
  Elf64_Phdr phdrs[DS_MAX_MODULE_PROGRAM_HEADERS];
  if (!ds_dump_read_exact(dump, mod->base + eh.e_phoff, phdrs, eh.e_phnum * sizeof(Elf64_Phdr)))
    return;
  uint64_t min_vaddr = UINT64_MAX;
  for (unsigned i = 0; i < eh.e_phnum; i++)
    if (phdrs[i].p_type == PT_LOAD && phdrs[i].p_vaddr < min_vaddr)
      min_vaddr = phdrs[i].p_vaddr & ~0xfffull;
  if (min_vaddr == UINT64_MAX)
    return;
  uint64_t bias = mod->base - min_vaddr;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    if (phdrs[i].p_type != PT_NOTE || phdrs[i].p_memsz > 65536)
      continue;
    uint8_t notes[DS_MAX_MODULE_NOTE_BYTES];
    size_t got = ds_dump_read(dump, bias + phdrs[i].p_vaddr, notes, phdrs[i].p_memsz);
    uint64_t pos = 0;
    ds_elf_note note;
    while (ds_elf_note_next(notes, got, &pos, &note) == DS_ELF_NOTE_OK)
      if (ds_elf_note_is_build_id(&note)) {
        memcpy(mod->build_id, note.desc, note.desc_size);
        mod->build_id_len = note.desc_size;
        return;
      }
  }
}

/* Parses the NT_FILE note into mappings and modules (grouped by path). */
static ds_status parse_nt_file(ds_dump *dump, const uint8_t *desc, uint64_t size, ds_error *err) {
  ds_status rc = DS_OK;
  if (dump->mappings) /* a second NT_FILE note: keep the first */
    return DS_OK;
  if (size < 16)
    return ds_error_set(err, DS_E_CORRUPT, "NT_FILE note is %llu bytes, too short for its header",
                        (unsigned long long)size);
  uint64_t count, page_size;
  memcpy(&count, desc, 8);
  memcpy(&page_size, desc + 8, 8);
  if (count > DS_MAX_MAPPED_FILES)
    return ds_error_set(err, DS_E_LIMIT, "NT_FILE note lists %llu mappings (limit %u)",
                        (unsigned long long)count, DS_MAX_MAPPED_FILES);
  if (page_size == 0 || page_size > (1u << 30) || (page_size & (page_size - 1)))
    return ds_error_set(err, DS_E_CORRUPT, "NT_FILE note has an invalid page size %llu",
                        (unsigned long long)page_size);
  if (count * 24 > size - 16)
    return ds_error_set(err, DS_E_CORRUPT, "NT_FILE note lists %llu mappings but holds only %llu bytes",
                        (unsigned long long)count, (unsigned long long)size);
  const uint8_t *names = desc + 16 + count * 24;
  uint64_t names_len = size - 16 - count * 24;

  dump->mappings = calloc(count ? count : 1, sizeof *dump->mappings);
  dump->modules = calloc(count ? count : 1, sizeof *dump->modules);
  dump->path_storage = malloc(names_len + 1);
  if (!dump->mappings || !dump->modules || !dump->path_storage)
    return ds_error_set(err, DS_E_NOMEM, "out of memory reading NT_FILE (%llu mappings)",
                        (unsigned long long)count);
  memcpy(dump->path_storage, names, names_len);
  dump->path_storage[names_len] = 0;

  uint64_t pos = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (pos >= names_len) {
      rc = ds_error_set(err, DS_E_CORRUPT, "NT_FILE note: path %llu of %llu is missing",
                        (unsigned long long)i + 1, (unsigned long long)count);
      goto out;
    }
    char *path = dump->path_storage + pos;
    size_t path_len = strnlen(path, names_len - pos);
    if (path_len > DS_MAX_PATH_BYTES) {
      rc = ds_error_set(err, DS_E_LIMIT, "NT_FILE note: path %llu is longer than %u bytes",
                        (unsigned long long)i + 1, DS_MAX_PATH_BYTES);
      goto out;
    }
    pos += path_len + 1;
    static const char deleted[] = " (deleted)";
    if (path_len > sizeof deleted - 1 &&
        strcmp(path + path_len - (sizeof deleted - 1), deleted) == 0)
      path[path_len - (sizeof deleted - 1)] = 0;

    uint64_t start, end, page_offset;
    memcpy(&start, desc + 16 + i * 24, 8);
    memcpy(&end, desc + 16 + i * 24 + 8, 8);
    memcpy(&page_offset, desc + 16 + i * 24 + 16, 8);
    if (end <= start || page_offset > UINT64_MAX / page_size)
      continue; /* a nonsensical entry describes nothing we can read */

    /* Group by path: modules are few, entries of one file are adjacent in practice. */
    size_t m;
    for (m = dump->module_count; m > 0; m--)
      if (strcmp(dump->modules[m - 1].path, path) == 0)
        break;
    if (m == 0) {
      m = dump->module_count++;
      dump->modules[m].path = path;
      dump->modules[m].base = start;
      dump->modules[m].end = end;
      if (page_offset != 0)
        dump->modules[m].build_id_len = (size_t)-1; /* marker: base not yet at offset 0 */
    } else {
      m--;
      ds_module *mod = &dump->modules[m];
      if (page_offset == 0 && mod->build_id_len == (size_t)-1) {
        mod->base = start;
        mod->build_id_len = 0;
      } else if (start < mod->base && mod->build_id_len == (size_t)-1) {
        mod->base = start;
      }
      if (end > mod->end)
        mod->end = end;
    }
    file_mapping *fm = &dump->mappings[dump->mapping_count++];
    fm->start = start;
    fm->end = end;
    fm->file_offset = page_offset * page_size;
    fm->module_index = m;
  }
  for (size_t m = 0; m < dump->module_count; m++)
    if (dump->modules[m].build_id_len == (size_t)-1)
      dump->modules[m].build_id_len = 0;
  qsort(dump->mappings, dump->mapping_count, sizeof *dump->mappings, compare_mappings);
out:
  return rc;
}

static ds_status parse_notes(ds_dump *dump, const uint8_t *notes, uint64_t size, size_t ph_index,
                             ds_error *err) {
  uint64_t pos = 0;
  ds_elf_note note;
  int found;
  while ((found = ds_elf_note_next(notes, size, &pos, &note)) == DS_ELF_NOTE_OK) {
    uint32_t descsz = note.desc_size, type = note.type;
    const uint8_t *desc = note.desc;
    bool core_name = note.name_size == 5 && memcmp(note.name, "CORE", 5) == 0;
    if (core_name && type == NT_PRSTATUS) {
      if (descsz < 112 + 27 * 8)
        return ds_error_set(err, DS_E_CORRUPT, "NT_PRSTATUS note is %u bytes (expected 336)", descsz);
      if (dump->thread_count >= DS_MAX_THREADS)
        return ds_error_set(err, DS_E_LIMIT, "more than %u thread notes", DS_MAX_THREADS);
      if ((dump->thread_count & (dump->thread_count - 1)) == 0) {
        size_t cap = dump->thread_count ? dump->thread_count * 2 : 16;
        ds_dump_thread *grown = realloc(dump->threads, cap * sizeof *grown);
        if (!grown)
          return ds_error_set(err, DS_E_NOMEM, "out of memory reading thread notes");
        dump->threads = grown;
      }
      ds_dump_thread *t = &dump->threads[dump->thread_count++];
      memset(t, 0, sizeof *t);
      memcpy(&t->tid, desc + 32, 4);
      memcpy(t->regs, desc + 112, sizeof t->regs);
    } else if (core_name && type == NT_PRFPREG) {
      /* belongs to the thread whose NT_PRSTATUS came last */
      if (dump->thread_count > 0 && descsz >= 512) {
        ds_dump_thread *t = &dump->threads[dump->thread_count - 1];
        memcpy(t->fpregs, desc, 512);
        t->has_fpregs = true;
      }
    } else if (core_name && type == NT_FILE_TYPE) {
      ds_status rc = parse_nt_file(dump, desc, descsz, err);
      if (rc != DS_OK)
        return rc;
    }
  }
  if (found == DS_ELF_NOTE_HEADER_CUT)
    return ds_error_set(err, DS_E_CORRUPT, "note segment %zu: a note header at offset %llu is cut off",
                        ph_index, (unsigned long long)pos);
  if (found == DS_ELF_NOTE_DESC_CUT)
    return ds_error_set(err, DS_E_CORRUPT,
                        "note segment %zu: note at offset %llu (type 0x%x) extends past the segment",
                        ph_index, (unsigned long long)pos, note.type);
  return DS_OK;
}

/* Decides what kind of file this is before trusting any ELF structure. */
static ds_status recognise(const ds_dump *dump, ds_error *err) {
  const uint8_t *p = dump->map;
  uint64_t n = dump->file_size;
  if (n == 0)
    return ds_error_set(err, DS_E_FORMAT, "%s is empty (0 bytes): not a dump", dump->path);
  if (n >= 4 && memcmp(p, "MDMP", 4) == 0)
    return ds_error_set(err, DS_E_UNSUPPORTED,
                        "%s is a Windows minidump; dumpscope analyses Linux ELF core dumps of "
                        ".NET 6-10 x86-64 processes (createdump, dotnet-dump collect)", dump->path);
  if (n < SELFMAG || memcmp(p, ELFMAG, SELFMAG) != 0)
    return ds_error_set(err, DS_E_FORMAT,
                        "%s is not a dump: no ELF core or minidump signature in its first bytes",
                        dump->path);
  if (n < sizeof(Elf64_Ehdr))
    return ds_error_set(err, DS_E_TRUNCATED, "%s is truncated: %llu bytes, shorter than an ELF header",
                        dump->path, (unsigned long long)n);
  if (p[EI_CLASS] != ELFCLASS64 || p[EI_DATA] != ELFDATA2LSB)
    return ds_error_set(err, DS_E_UNSUPPORTED,
                        "%s is a 32-bit or big-endian ELF file; only x86-64 cores are supported",
                        dump->path);
  Elf64_Ehdr eh;
  memcpy(&eh, p, sizeof eh);
  if (eh.e_type != ET_CORE)
    return ds_error_set(err, DS_E_FORMAT,
                        "%s is an ELF %s, not a core dump", dump->path,
                        eh.e_type == ET_EXEC ? "executable" : eh.e_type == ET_DYN ? "shared object"
                                                                                   : "file");
  if (eh.e_machine != EM_X86_64)
    return ds_error_set(err, DS_E_UNSUPPORTED,
                        "%s is a core of a non-x86-64 process (ELF machine %u); only x86-64 is supported",
                        dump->path, eh.e_machine);
  return DS_OK;
}

static ds_status parse(ds_dump *dump, ds_error *err) {
  ds_status rc = recognise(dump, err);
  if (rc != DS_OK)
    return rc;
  Elf64_Ehdr eh;
  memcpy(&eh, dump->map, sizeof eh);
  uint64_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM) {
    /* the real count is in section header 0's sh_info */
    if (eh.e_shoff == 0 || eh.e_shoff > dump->file_size ||
        dump->file_size - eh.e_shoff < sizeof(Elf64_Shdr))
      return ds_error_set(err, DS_E_TRUNCATED,
                          "dump is truncated: its section header (program header count) is past the end of the file");
    Elf64_Shdr sh;
    memcpy(&sh, dump->map + eh.e_shoff, sizeof sh);
    phnum = sh.sh_info;
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr))
    return ds_error_set(err, DS_E_CORRUPT, "ELF program header size is %u (expected %zu)",
                        eh.e_phentsize, sizeof(Elf64_Phdr));
  if (phnum == 0)
    return ds_error_set(err, DS_E_CORRUPT, "core has no program headers: no memory and no notes");
  if (phnum > DS_MAX_PROGRAM_HEADERS)
    return ds_error_set(err, DS_E_LIMIT, "core has %llu program headers (limit %u)",
                        (unsigned long long)phnum, DS_MAX_PROGRAM_HEADERS);
  if (eh.e_phoff > dump->file_size || phnum * sizeof(Elf64_Phdr) > dump->file_size - eh.e_phoff)
    return ds_error_set(err, DS_E_TRUNCATED,
                        "dump is truncated: its %llu program headers extend past the end of the file "
                        "(%llu bytes)", (unsigned long long)phnum, (unsigned long long)dump->file_size);

  const uint8_t *ph_base = dump->map + eh.e_phoff;
  size_t load_total = 0;
  for (uint64_t i = 0; i < phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, ph_base + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD)
      load_total++;
  }
  dump->segments = calloc(load_total ? load_total : 1, sizeof *dump->segments);
  if (!dump->segments)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for %zu segments", load_total);

  size_t load_index = 0, note_bytes = 0;
  dump->identity = identity_mix(1469598103934665603ull, &dump->file_size, sizeof dump->file_size);
  dump->identity = identity_mix(dump->identity, dump->map, sizeof(Elf64_Ehdr));
  dump->identity = identity_mix(dump->identity, ph_base, (size_t)phnum * sizeof(Elf64_Phdr));
  for (uint64_t i = 0; i < phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, ph_base + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
      continue;
    if (ph.p_type == PT_LOAD)
      load_index++;
    if (ph.p_filesz == 0)
      continue;
    if (ph.p_offset > dump->file_size || ph.p_filesz > dump->file_size - ph.p_offset) {
      if (ph.p_type == PT_LOAD)
        return ds_error_set(err, DS_E_TRUNCATED,
                            "dump is truncated: segment %zu of %zu (memory 0x%llx, %llu bytes at file "
                            "offset %llu) extends past the end of the file (%llu bytes)",
                            load_index, load_total, (unsigned long long)ph.p_vaddr,
                            (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_offset,
                            (unsigned long long)dump->file_size);
      return ds_error_set(err, DS_E_TRUNCATED,
                          "dump is truncated: its note segment (%llu bytes at file offset %llu) "
                          "extends past the end of the file (%llu bytes)",
                          (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_offset,
                          (unsigned long long)dump->file_size);
    }
    if (ph.p_type == PT_NOTE) {
      dump->identity = identity_mix(dump->identity, dump->map + ph.p_offset, ph.p_filesz);
      note_bytes += ph.p_filesz;
      if (note_bytes > DS_MAX_NOTE_BYTES)
        return ds_error_set(err, DS_E_LIMIT, "core notes exceed %u bytes", DS_MAX_NOTE_BYTES);
      rc = parse_notes(dump, dump->map + ph.p_offset, ph.p_filesz, (size_t)i, err);
      if (rc != DS_OK)
        return rc;
      continue;
    }
    if (ph.p_vaddr + ph.p_filesz < ph.p_vaddr)
      return ds_error_set(err, DS_E_CORRUPT, "segment %zu of %zu wraps around the address space",
                          load_index, load_total);
    load_segment *s = &dump->segments[dump->segment_count++];
    s->vaddr = ph.p_vaddr;
    s->size = ph.p_filesz;
    s->file_offset = ph.p_offset;
    dump->memory_bytes += ph.p_filesz;
  }
  qsort(dump->segments, dump->segment_count, sizeof *dump->segments, compare_segments);
  for (size_t i = 1; i < dump->segment_count; i++)
    if (dump->segments[i].vaddr < dump->segments[i - 1].vaddr + dump->segments[i - 1].size)
      return ds_error_set(err, DS_E_CORRUPT, "segments overlap at 0x%llx",
                          (unsigned long long)dump->segments[i].vaddr);

  dump->images = calloc(dump->module_count ? dump->module_count : 1, sizeof *dump->images);
  if (!dump->images)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for module table");
  for (size_t m = 0; m < dump->module_count; m++)
    identify_module(dump, &dump->modules[m]);

  char sig[14];
  dump->createdump = ds_dump_read_exact(dump, DIAGINFO_ADDRESS, sig, sizeof sig) &&
                     memcmp(sig, "DIAGINFOHEADER", sizeof sig) == 0;
  return DS_OK;
}

ds_status ds_dump_open(const char *path, ds_dump **out, ds_error *err) {
  ds_status rc = DS_OK;
  *out = NULL;
  ds_dump *dump = calloc(1, sizeof *dump);
  if (!dump)
    return ds_error_set(err, DS_E_NOMEM, "out of memory opening %s", path);
  dump->fd = -1;
  pthread_mutex_init(&dump->image_lock, NULL);
  dump->guard = -1;
  dump->path = strdup(path);
  if (!dump->path) {
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory opening %s", path);
    goto out;
  }
  dump->fd = ds_open_regular(path);
  if (dump->fd < 0) {
    rc = ds_error_set(err, DS_E_IO, "cannot open %s: %s", path,
                      errno == ENODEV ? "not a regular file (a pipe or a device is not a dump)" : strerror(errno));
    goto out;
  }
  struct stat st;
  if (fstat(dump->fd, &st) != 0) {
    rc = ds_error_set(err, DS_E_IO, "cannot stat %s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = ds_error_set(err, DS_E_ARG, "%s is not a regular file", path);
    goto out;
  }
  dump->file_size = (uint64_t)st.st_size;
  if (dump->file_size > 0) {
    void *map = mmap(NULL, dump->file_size, PROT_READ, MAP_PRIVATE, dump->fd, 0);
    if (map == MAP_FAILED) {
      rc = ds_error_set(err, DS_E_IO, "cannot map %s: %s", path, strerror(errno));
      goto out;
    }
    dump->map = map;
    dump->guard = ds_map_guard_add(map, dump->file_size);
  }
  rc = parse(dump, err);
out:
  if (rc != DS_OK) {
    ds_dump_close(dump);
    return rc;
  }
  *out = dump;
  return DS_OK;
}

void ds_dump_close(ds_dump *dump) {
  if (!dump)
    return;
  ds__dump_unmap_disk_images(dump);
  ds_map_guard_remove(dump->guard);
  if (dump->map)
    munmap((void *)dump->map, dump->file_size);
  if (dump->fd >= 0)
    close(dump->fd);
  pthread_mutex_destroy(&dump->image_lock);
  free(dump->segments);
  free(dump->mappings);
  free(dump->modules);
  free(dump->images);
  free(dump->path_storage);
  free(dump->threads);
  free(dump->path);
  free(dump);
}

bool ds_dump_region_at(const ds_dump *dump, uint64_t addr, uint64_t *start, uint64_t *end) {
  ptrdiff_t i = find_segment(dump, addr);
  if (i < 0)
    return false;
  *start = dump->segments[i].vaddr;
  *end = dump->segments[i].vaddr + dump->segments[i].size;
  return true;
}

size_t ds_dump_thread_count(const ds_dump *dump) { return dump->thread_count; }

const ds_dump_thread *ds_dump_thread_at(const ds_dump *dump, size_t index) {
  return index < dump->thread_count ? &dump->threads[index] : NULL;
}

const ds_dump_thread *ds_dump_find_thread(const ds_dump *dump, uint32_t tid) {
  for (size_t i = 0; i < dump->thread_count; i++)
    if (dump->threads[i].tid == tid)
      return &dump->threads[i];
  return NULL;
}

const char *ds_dump_path(const ds_dump *dump) { return dump->path; }
uint64_t ds_dump_file_size(const ds_dump *dump) { return dump->file_size; }
size_t ds_dump_segment_count(const ds_dump *dump) { return dump->segment_count; }
uint64_t ds_dump_memory_bytes(const ds_dump *dump) { return dump->memory_bytes; }
bool ds_dump_is_createdump(const ds_dump *dump) { return dump->createdump; }

bool ds_dump_changed(const ds_dump *dump) { return ds_map_guard_tripped(dump->guard); }

uint64_t ds_dump_identity(const ds_dump *dump) { return dump->identity; }
