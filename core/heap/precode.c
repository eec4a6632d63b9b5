/*
 * precode.c: following a call target through the runtime's x64 stubs (precode.h).
 */
#include "dumpscope/precode.h"

#include <string.h>

#define MAX_HOPS 4

/* The runtime's interleaved stub pages (x64 Linux, .NET 8 and later): a page of stub code, then a
 * page of their data at the same offsets; a FixupPrecode's code is 24 bytes. */
#define STUB_PAGE_SIZE 0x4000u
#define FIXUP_PRECODE_SIZE 24u

static bool in_coreclr(ds_dump *dump, uint64_t addr) {
  ds_image_part part;
  if (!addr || !ds_dump_image_part(dump, addr, &part) || !part.module || !part.module->path)
    return false;
  const char *slash = strrchr(part.module->path, '/');
  return strcmp(slash ? slash + 1 : part.module->path, "libcoreclr.so") == 0;
}

/* A heap dump holds the stubs' data pages but not their code pages: a FixupPrecode there is
 * recognised by its data alone: {Target, MethodDesc} in an order that changed across runtime
 * versions, then PrecodeFixupThunk (the runtime's own thunk in libcoreclr.so, the same in every
 * FixupPrecode), at a stub's place in its page. Which of the first two is the MethodDesc the page
 * itself tells: a FixupPrecode whose method was never called jumps to its own second instruction
 * (stub + 6), and the precodes of one MethodDescChunk are allocated together, so their
 * MethodDescs follow one another a few dozen bytes apart while the targets scatter. Without such
 * evidence the stub stays unresolved: a wrong guess would hand code to the DAC as a MethodDesc,
 * and the DAC crashes on it. */
static bool fixup_data(ds_dump *dump, uint64_t stub, uint64_t *next, uint64_t *md) {
  static uint64_t page[STUB_PAGE_SIZE / 8];
  uint64_t offset = stub % STUB_PAGE_SIZE, base = stub - offset;
  if (offset % FIXUP_PRECODE_SIZE != 0 || offset + FIXUP_PRECODE_SIZE > STUB_PAGE_SIZE ||
      !ds_dump_read_exact(dump, base + STUB_PAGE_SIZE, page, sizeof page))
    return false;
  const uint64_t *data = page + offset / 8;
  if (!data[0] || !data[1] || !in_coreclr(dump, data[2]))
    return false;
  int target = -1;
  unsigned runs[2] = {0, 0};
  for (uint64_t o = 0; o + FIXUP_PRECODE_SIZE <= STUB_PAGE_SIZE && target < 0; o += FIXUP_PRECODE_SIZE) {
    const uint64_t *d = page + o / 8;
    if (d[2] != data[2])
      continue;
    if (d[0] == base + o + 6)
      target = 0;
    else if (d[1] == base + o + 6)
      target = 1;
    const uint64_t *n = d + FIXUP_PRECODE_SIZE / 8;
    if (o + 2 * FIXUP_PRECODE_SIZE <= STUB_PAGE_SIZE && n[2] == data[2])
      for (int k = 0; k < 2; k++)
        if (n[k] > d[k] && n[k] - d[k] <= 0x100 && (n[k] - d[k]) % 8 == 0)
          runs[k]++;
  }
  if (target < 0 && runs[0] >= 4 && runs[0] > 4 * runs[1])
    target = 1; /* the first field runs through a chunk's MethodDescs */
  else if (target < 0 && runs[1] >= 4 && runs[1] > 4 * runs[0])
    target = 0;
  if (target < 0)
    return false;
  *next = data[target];
  *md = data[1 - target];
  return true;
}

/* The cell a rip-relative operand ending at next_ip with displacement at p names. */
static uint64_t rip_cell(const uint8_t *p, uint64_t next_ip) {
  int32_t disp;
  memcpy(&disp, p, 4);
  return next_ip + (uint64_t)(int64_t)disp;
}

void ds_precode_resolve(ds_dump *dump, uint64_t target, uint64_t *code, uint64_t *method_desc) {
  *code = target;
  *method_desc = 0;
  for (int hop = 0; hop < MAX_HOPS; hop++) {
    uint8_t b[24];
    uint64_t next = 0, md = 0;
    if (!ds_dump_read_exact(dump, *code, b, sizeof b)) {
      if (!fixup_data(dump, *code, &next, &md))
        return;
      *method_desc = md;
    } else if (b[0] == 0xFF && b[1] == 0x25) { /* FixupPrecode: jmp [rip+d] -> {Target, MethodDesc} */
      uint64_t cell = rip_cell(b + 2, *code + 6);
      if (!ds_dump_read_u64(dump, cell, &next))
        return;
      if (ds_dump_read_u64(dump, cell + 8, &md) && md)
        *method_desc = md;
    } else if (b[0] == 0x4C && b[1] == 0x8B && b[2] == 0x15 && b[7] == 0xFF && b[8] == 0x25) {
      /* mov r10, [rip+d] (the MethodDesc); jmp [rip+d'] (StubPrecode, or FixupPrecode entered at +6) */
      if (ds_dump_read_u64(dump, rip_cell(b + 3, *code + 7), &md) && md)
        *method_desc = md;
      if (!ds_dump_read_u64(dump, rip_cell(b + 9, *code + 13), &next))
        return; /* (the jump may go to the method's code, or to the runtime's prestub) */
    } else if (b[0] == 0x48 && b[1] == 0x8B && b[2] == 0x05 && b[7] == 0x66 && b[8] == 0xFF && b[9] == 0x08 &&
               b[10] == 0x74 && b[12] == 0xFF && b[13] == 0x25) {
      /* call-counting stub: its first jump goes to the method's current code */
      if (!ds_dump_read_u64(dump, rip_cell(b + 14, *code + 18), &next))
        return;
    } else {
      return;
    }
    if (!next || next == *code)
      return;
    *code = next;
  }
}
