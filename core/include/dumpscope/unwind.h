/*
 * unwind.h: a thread's native frames, unwound from its registers in the core with the DWARF call
 * frame information (.eh_frame_hdr / .eh_frame) of the mapped ELF images, read from the dump's
 * memory, and named from the ELF symbol tables of the images' files (SOSEX !mk's native half).
 * No DAC: this reads the dump only. Every read is bounded; a frame without unwind information
 * ends the walk.
 */
#ifndef DUMPSCOPE_UNWIND_H
#define DUMPSCOPE_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dump.h"
#include "dumpscope/error.h"

typedef struct ds_native_frame {
  uint64_t ip, sp;
  const ds_module *module;   /* NULL when ip lies in no mapped ELF image */
  uint64_t module_offset;    /* ip as a virtual address of the image */
} ds_native_frame;

/* Why a walk ended. */
typedef enum ds_unwind_end {
  DS_UNWIND_STOPPED = 0,     /* stop() said so (managed code reached) */
  DS_UNWIND_NO_INFO,         /* ip in no ELF image, or no CFI for it */
  DS_UNWIND_END_OF_STACK,    /* a return address of 0, or the outermost frame */
  DS_UNWIND_BAD_FRAME,       /* unreadable memory, a CFA that does not grow, an unknown CFI op */
  DS_UNWIND_LIMIT,           /* max frames */
} ds_unwind_end;

/* Unwinds thread tid from its registers: out gets up to max frames, innermost first. Before each
 * frame, stop(ctx, ip) may end the walk (the frame is not delivered). DS_E_NOT_FOUND when the dump
 * has no such thread. */
ds_status ds_unwind_native(ds_dump *dump, uint32_t tid, bool (*stop)(void *ctx, uint64_t ip), void *ctx,
                           ds_native_frame *out, size_t max, size_t *count, ds_unwind_end *end, ds_error *err);

/* The name of the function holding vaddr (a virtual address of the image) from the symbol tables
 * (.symtab, else .dynsym) of the ELF file at path, and vaddr's offset into it. False when none. */
bool ds_elf_symbol(const char *path, uint64_t vaddr, char *name, size_t name_len, uint64_t *offset);

#endif
