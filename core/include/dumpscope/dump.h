/*
 * dump.h: read a Linux ELF core file of an x86-64 process (createdump, dotnet-dump, kernel, gcore).
 *
 * The file is memory-mapped, never read whole. Target memory is served from PT_LOAD segments
 * that carry file data; pages absent from the core but backed by a mapped file on this machine
 * are read from that file when it is verified to be the one the process mapped: an ELF file whose
 * build id matches the one recorded in the dump, or a PE file (a managed assembly, which kernel
 * cores and gcore leave out) whose size and sections fit its mappings.
 * Everything in the file is untrusted: ds_dump_open checks every offset and size, and refuses
 * Windows minidumps, non-core ELF files, non-x86-64 cores and random bytes with a specific error.
 * After a successful open the object is read-only and may be used from several threads.
 */
#ifndef DUMPSCOPE_DUMP_H
#define DUMPSCOPE_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"
#include "dumpscope/limits.h"

typedef struct ds_dump ds_dump;

/* A file mapped into the process (from NT_FILE), grouped by path. */
typedef struct ds_module {
  const char *path;        /* path on the machine that produced the dump, " (deleted)" stripped */
  uint64_t base;           /* start of the mapping at file offset 0, else the lowest start */
  uint64_t end;            /* highest end of its mappings */
  bool is_elf;             /* an ELF header was readable at base */
  uint8_t build_id[DS_MAX_BUILD_ID_BYTES];
  size_t build_id_len;     /* 0 when the GNU build id note is not readable */
} ds_module;

/* One thread's registers from NT_PRSTATUS (and NT_PRFPREG when present). */
typedef struct ds_dump_thread {
  uint32_t tid;            /* Linux LWP id (pr_pid) */
  uint64_t regs[27];       /* user_regs_struct, kernel order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8
                              rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base
                              ds es fs gs */
  bool has_fpregs;
  uint8_t fpregs[512];     /* FXSAVE image */
} ds_dump_thread;

enum { DS_REG_R15, DS_REG_R14, DS_REG_R13, DS_REG_R12, DS_REG_RBP, DS_REG_RBX, DS_REG_R11,
       DS_REG_R10, DS_REG_R9, DS_REG_R8, DS_REG_RAX, DS_REG_RCX, DS_REG_RDX, DS_REG_RSI,
       DS_REG_RDI, DS_REG_ORIG_RAX, DS_REG_RIP, DS_REG_CS, DS_REG_EFLAGS, DS_REG_RSP, DS_REG_SS,
       DS_REG_FS_BASE, DS_REG_GS_BASE, DS_REG_DS, DS_REG_ES, DS_REG_FS, DS_REG_GS };

/* Opens and validates a core file. On failure *out is NULL and err says why. */
ds_status ds_dump_open(const char *path, ds_dump **out, ds_error *err);
void ds_dump_close(ds_dump *dump);

/* Copies up to len bytes of target memory at addr, stopping at the first byte that is not in
 * the dump (or a matching on-disk file). Returns the number of bytes copied. */
size_t ds_dump_read(ds_dump *dump, uint64_t addr, void *buf, size_t len);

/* Reads exactly len bytes or returns false. */
bool ds_dump_read_exact(ds_dump *dump, uint64_t addr, void *buf, size_t len);
bool ds_dump_read_u64(ds_dump *dump, uint64_t addr, uint64_t *value);
bool ds_dump_read_u32(ds_dump *dump, uint64_t addr, uint32_t *value);

/* A pointer straight into the mapped core at addr, and how many bytes follow it contiguously
 * (within one PT_LOAD segment). NULL when addr is not in a segment with file data. This is the
 * heap walk's fast path: no copy. */
const uint8_t *ds_dump_span(const ds_dump *dump, uint64_t addr, uint64_t *avail);

/* Tells the kernel we are done with [addr, addr+len) for now: its pages leave our resident set
 * (they stay in the page cache and come back on the next access). Keeps a full-heap walk's
 * memory bounded. */
void ds_dump_release(const ds_dump *dump, uint64_t addr, uint64_t len);
/* Maps the pages of [addr, addr+len) at once (a sequential walk is about to read them): one call
 * instead of a page fault per few pages. Advice only: nothing fails. */
void ds_dump_populate(const ds_dump *dump, uint64_t addr, uint64_t len);

/* Where target address addr is stored in the core file; false when it is not in the file. */
bool ds_dump_file_offset(const ds_dump *dump, uint64_t addr, uint64_t *offset);

size_t ds_dump_module_count(const ds_dump *dump);
const ds_module *ds_dump_module(const ds_dump *dump, size_t index);
/* Finds a module whose file name (the part after the last '/') equals name exactly. */
const ds_module *ds_dump_find_module(const ds_dump *dump, const char *name);

/* One NT_FILE entry: [start, end) maps the module's file from file_offset. */
typedef struct ds_dump_mapping {
  uint64_t start, end, file_offset;
  const ds_module *module;
} ds_dump_mapping;
/* The NT_FILE mapping containing addr; false when no file is mapped there. */
bool ds_dump_mapping_at(const ds_dump *dump, uint64_t addr, ds_dump_mapping *out);
/* Up to max of the module's NT_FILE mappings, by address, into out; returns how many it has. */
size_t ds_dump_module_mappings(const ds_dump *dump, const ds_module *mod, ds_dump_mapping *out, size_t max);
/* The target address at which byte `offset` of a module's file is mapped; false when no mapping
 * of the module covers it. */
bool ds_dump_module_file_address(const ds_dump *dump, const ds_module *mod, uint64_t offset, uint64_t *addr);
/* The PT_LOAD segment with data holding addr: one mapping of the process (createdump joins
 * adjacent mappings of equal protection), so a thread's stack is one such region. false when
 * addr is not in the core. */
bool ds_dump_region_at(const ds_dump *dump, uint64_t addr, uint64_t *start, uint64_t *end);
/* The on-disk file of a module, mapped read-only, when it is a regular file that is verified to be
 * the one the process mapped: an ELF file whose build id equals the one the dump records (section
 * headers live there, not in the process's memory), or a PE file that fits every mapping of the
 * module (ds_pe_file_fits). */
bool ds_dump_module_file(ds_dump *dump, const ds_module *mod, const uint8_t **data, uint64_t *size);

/* Which part of a mapped image holds an address: the module, the offset from its base, and the
 * ELF segment (PT_LOAD, read from the image's headers in the dump) and section (from the
 * verified on-disk file) or the PE section (from the headers in the dump). */
typedef struct ds_image_part {
  const ds_module *module;
  uint64_t module_offset;    /* ELF: the virtual address in the image (addr - load bias); PE: the
                                RVA when the section is known; else the file offset */
  bool has_file_offset;      /* addr is file-backed (NT_FILE) */
  uint64_t file_offset;
  const char *format;        /* "ELF", "PE" or "" */
  int segment;               /* ELF: index of the PT_LOAD program header, -1 when unknown */
  char segment_flags[4];     /* "r-x" */
  uint64_t segment_start, segment_end; /* target addresses of that segment */
  char section[32];          /* ".text", "" when unknown */
} ds_image_part;
/* Fills part for an address inside a mapped module (or its ELF segments' anonymous tails, such as
 * .bss); false when addr lies in no module. */
bool ds_dump_image_part(ds_dump *dump, uint64_t addr, ds_image_part *part);

/* Calls fn with each entry of a managed assembly's user-string heap (#US: the string literals of its
 * code), as UTF-16 units, in heap order, at most max entries. false when the module is not a PE
 * image with CLI metadata whose heap the dump holds. */
bool ds_dump_pe_user_strings(ds_dump *dump, const ds_module *mod, size_t max,
                             void (*fn)(void *ctx, const uint16_t *chars, size_t count), void *ctx);

size_t ds_dump_thread_count(const ds_dump *dump);
const ds_dump_thread *ds_dump_thread_at(const ds_dump *dump, size_t index);
const ds_dump_thread *ds_dump_find_thread(const ds_dump *dump, uint32_t tid);

const char *ds_dump_path(const ds_dump *dump);
uint64_t ds_dump_file_size(const ds_dump *dump);
/* Number of PT_LOAD segments with data, and the bytes of target memory they hold. */
size_t ds_dump_segment_count(const ds_dump *dump);
uint64_t ds_dump_memory_bytes(const ds_dump *dump);
/* True when the dump carries createdump's DIAGINFOHEADER page. */
bool ds_dump_is_createdump(const ds_dump *dump);

/* Searches target memory [start, end) for the bytes needle; returns the address or 0. */
uint64_t ds_dump_search(ds_dump *dump, uint64_t start, uint64_t end, const void *needle,
                        size_t needle_len);

/* Converts UTF-16LE to UTF-8 (lone surrogates become U+FFFD), at most in_len units, stopping at
 * a NUL when stop_at_nul; always terminates out. Returns the bytes written. */
size_t ds_utf16_to_utf8(const uint16_t *in, size_t in_len, bool stop_at_nul, char *out, size_t out_len);

/* The dump's identity: a hash of its size, ELF and program headers and notes (threads' registers,
 * mapped files). An index records it and is not used for a dump whose identity differs. */
uint64_t ds_dump_identity(const ds_dump *dump);

/* True when the dump file shrank while it was being read: the pages past its new end read as
 * zeros, so every answer computed since is suspect (see guard.c). */
bool ds_dump_changed(const ds_dump *dump);

/* Guarded file mappings (guard.c): a SIGBUS inside one (its file was truncated) maps a zero page
 * there and marks the guard instead of killing the process. add returns a slot (-1: unguarded). */
int ds_map_guard_add(const void *base, size_t size);
void ds_map_guard_remove(int slot);
bool ds_map_guard_tripped(int slot);

/* True when an on-disk PE file can be what the process mapped at maps (one module's NT_FILE
 * mappings, by address): its size and section table explain every mapping (pefile.c). */
bool ds_pe_file_fits(const uint8_t *data, uint64_t size, const ds_dump_mapping *maps, size_t count);

/* Opens path read-only if it is a regular file, without ever blocking: a FIFO, a device or a
 * directory given as a dump, an index or a DAC is refused (errno ENODEV, or EISDIR) instead of
 * hanging the open. Returns the descriptor, or -1 with errno set. */
int ds_open_regular(const char *path);

/* Formats a build id as lowercase hex into out (2*len+1 bytes). */
void ds_build_id_hex(const uint8_t *id, size_t len, char *out);

/* ---- ELF notes ------------------------------------------------------------------------------ */

/* One note of an ELF note segment: pointers into the segment's bytes. */
typedef struct ds_elf_note {
  uint32_t type;
  uint32_t name_size, desc_size;   /* name_size counts the name's NUL */
  const uint8_t *name, *desc;
  uint64_t offset;                 /* of the note's header in the segment */
} ds_elf_note;

enum {
  DS_ELF_NOTE_DESC_CUT = -2,       /* the descriptor extends past the segment (note->type set) */
  DS_ELF_NOTE_HEADER_CUT = -1,     /* fewer than 12 bytes left for a note header */
  DS_ELF_NOTE_END = 0,             /* no more notes */
  DS_ELF_NOTE_OK = 1,              /* *note holds the next note */
};

/* The one ELF note iterator: the note at *pos of notes[0, size) (start with *pos = 0), advancing
 * *pos past it (name and descriptor padded to 4 bytes). Never reads outside the buffer. */
int ds_elf_note_next(const uint8_t *notes, uint64_t size, uint64_t *pos, ds_elf_note *note);
/* Whether a note is the GNU build id note (NT_GNU_BUILD_ID, name "GNU") of a usable size. */
bool ds_elf_note_is_build_id(const ds_elf_note *note);
/* The GNU build id of an ELF image held in memory [image, image + size), read through its
 * PT_NOTE segments, into out (DS_MAX_BUILD_ID_BYTES); returns its length, 0 when absent. */
size_t ds_elf_image_build_id(const uint8_t *image, uint64_t size, uint8_t *out);

#endif
