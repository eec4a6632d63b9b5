/*
 * precode.c: following a call target through the runtime's x64 stubs (precode.h).
 */
#include "dumpscope/precode.h"

#include <string.h>

#define MAX_HOPS 4

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
    if (!ds_dump_read_exact(dump, *code, b, sizeof b))
      return;
    if (b[0] == 0xFF && b[1] == 0x25) { /* FixupPrecode: jmp [rip+d] -> {Target, MethodDesc} */
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
