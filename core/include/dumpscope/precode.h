/*
 * precode.h: the runtime's x64 call stubs, read from the dump's memory: what a call from managed
 * code lands on before the callee's code. FixupPrecode (jmp [rip+d] to its data {Target,
 * MethodDesc, ...}; entered at +6 it loads the MethodDesc with mov r10, [rip+d]), StubPrecode
 * (mov r10, [rip+d]: its data {MethodDesc, Target}) and the tiered-compilation call-counting stub
 * (mov rax, [rip+d]; dec word [rax]; je; jmp [rip+d] to the method's current code). Layouts as in
 * the runtime's precode.h / callcounting.h for .NET 8 and later. Where the dump lacks the stub's
 * code page (a heap dump), a FixupPrecode is still recognised by its data page.
 */
#ifndef DUMPSCOPE_PRECODE_H
#define DUMPSCOPE_PRECODE_H

#include <stdint.h>

#include "dumpscope/dump.h"

/* Follows target through at most a few stubs. *code: where the chain ends (target itself when it
 * is no stub); *method_desc: the MethodDesc a precode names, 0 when none was passed. */
void ds_precode_resolve(ds_dump *dump, uint64_t target, uint64_t *code, uint64_t *method_desc);

#endif
