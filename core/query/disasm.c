/*
 * disasm.c: a managed method's native code disassembled (SOSEX !mu, !muf) with Capstone, from the
 * dump's memory: the method's range comes from the index's memory ranges, each instruction's IL
 * offset and source line from its code map, and a call's or jump's target is named: the method
 * whose code holds it, the method a precode stub stands for (its MethodDesc, read from the stub's
 * data), or the module and offset of native code (JIT helpers in libcoreclr.so).
 */
#include "dumpscope/query.h"

#include <capstone/capstone.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"
#include "dumpscope/precode.h"

#include "queryint.h"

typedef struct views {
  const ds_index_memory_range *ranges;
  uint64_t range_count;
  const ds_index_code_map *map;
  uint64_t map_count;
  const ds_index_method *methods;
  uint64_t method_count;
  const ds_index_callee *callees;
  uint64_t callee_count;
} views;

static bool is_code(const ds_index_memory_range *r) {
  return r->kind == DS_MEMORY_JIT_METHOD || r->kind == DS_MEMORY_PRECOMPILED_METHOD;
}

/* The method whose code holds addr, NULL when none is recorded. */
static const ds_index_memory_range *method_at(const views *v, uint64_t addr) {
  for (uint64_t r = 0; r < v->range_count && v->ranges[r].start <= addr; r++)
    if (is_code(&v->ranges[r]) && addr - v->ranges[r].start < v->ranges[r].size)
      return &v->ranges[r];
  return NULL;
}

/* The method named name: exactly, or name followed by its signature. */
static const ds_index_memory_range *method_named(ds_query *q, const views *v, const char *name, uint32_t *overloads) {
  const ds_index_memory_range *found = NULL;
  size_t len = strlen(name);
  *overloads = 0;
  for (uint64_t r = 0; r < v->range_count; r++) {
    const char *n = ds_index_string(q->idx, v->ranges[r].name);
    if (is_code(&v->ranges[r]) && strncmp(n, name, len) == 0 && (n[len] == '\0' || n[len] == '(')) {
      if (!found)
        found = &v->ranges[r];
      ++*overloads;
    }
  }
  return found;
}

/* The code map entry holding offset of the method at code, NULL when none. */
static const ds_index_code_map *map_at(const views *v, uint64_t code, uint32_t offset) {
  size_t lo = 0, hi = v->map_count;
  while (lo < hi) { /* first entry of the method */
    size_t mid = lo + (hi - lo) / 2;
    if (v->map[mid].code < code)
      lo = mid + 1;
    else
      hi = mid;
  }
  const ds_index_code_map *best = NULL;
  for (size_t i = lo; i < v->map_count && v->map[i].code == code && v->map[i].native_start <= offset; i++)
    if (offset < v->map[i].native_end)
      best = &v->map[i];
  return best;
}

static const char *method_by_desc(ds_query *q, const views *v, uint64_t md) {
  for (uint64_t m = 0; md && m < v->method_count; m++)
    if (v->methods[m].method_desc == md)
      return ds_index_string(q->idx, v->methods[m].name);
  for (uint64_t r = 0; md && r < v->range_count; r++)
    if (is_code(&v->ranges[r]) && v->ranges[r].method_desc == md)
      return ds_index_string(q->idx, v->ranges[r].name);
  for (uint64_t c = 0; md && c < v->callee_count; c++)
    if (v->callees[c].method_desc == md)
      return ds_index_string(q->idx, v->callees[c].name);
  return NULL;
}

/* Names what lives at a call's target: a method's code, directly or through the runtime's stubs
 * (the method they lead to, or the MethodDesc a precode names), else a module's native code. */
static json_t *target_json(ds_query *q, const views *v, uint64_t target) {
  json_t *j = json_object();
  ds__jset(j, "address", ds__json_hex(target));
  uint64_t code = target, md = 0;
  if (q->dump)
    ds_precode_resolve(q->dump, target, &code, &md);
  const ds_index_memory_range *r = method_at(v, code);
  const char *name = r ? ds_index_string(q->idx, r->name) : method_by_desc(q, v, md);
  if (name) {
    ds__jset(j, "name", ds__jstr(name));
    ds__jset(j, "kind", ds__jstr(code == target && r ? "method" : "stub"));
    if (r && code != r->start)
      ds__jset(j, "offset", json_integer((json_int_t)(code - r->start)));
    return j;
  }
  ds_image_part part;
  if (q->dump && ds_dump_image_part(q->dump, target, &part)) {
    const char *slash = strrchr(part.module->path, '/');
    char text[512];
    snprintf(text, sizeof text, "%s+0x%llx", slash ? slash + 1 : part.module->path,
             (unsigned long long)part.module_offset);
    ds__jset(j, "name", ds__jstr(text));
    ds__jset(j, "kind", ds__jstr("native"));
    return j;
  }
  ds__jset(j, "name", json_null());
  ds__jset(j, "kind", ds__jstr("unknown"));
  if (md)
    ds__jset(j, "method_desc", ds__json_hex(md));
  return j;
}

/* The target of a call or jump: an immediate, or a pointer read from memory at [rip+disp] or an
 * absolute address. 0 when it goes through a register. */
static uint64_t branch_target(ds_query *q, const cs_insn *insn) {
  const cs_x86 *x = &insn->detail->x86;
  if (x->op_count != 1)
    return 0;
  const cs_x86_op *op = &x->operands[0];
  uint64_t cell, value;
  if (op->type == X86_OP_IMM)
    return (uint64_t)op->imm;
  if (op->type != X86_OP_MEM || op->mem.index != X86_REG_INVALID || op->size != 8)
    return 0;
  if (op->mem.base == X86_REG_RIP)
    cell = insn->address + insn->size + (uint64_t)op->mem.disp;
  else if (op->mem.base == X86_REG_INVALID)
    cell = (uint64_t)op->mem.disp;
  else
    return 0;
  return q->dump && ds_dump_read_u64(q->dump, cell, &value) ? value : 0;
}

static json_t *instruction_json(ds_query *q, const views *v, const ds_index_memory_range *r, csh handle,
                                const cs_insn *insn, uint64_t mark) {
  json_t *j = json_object();
  char bytes[2 * 16 + 1] = "";
  for (uint16_t k = 0; k < insn->size && k < 16; k++)
    snprintf(bytes + 2 * k, 3, "%02x", insn->bytes[k]);
  uint32_t offset = (uint32_t)(insn->address - r->start);
  ds__jset(j, "address", ds__json_hex(insn->address));
  ds__jset(j, "offset", json_integer(offset));
  ds__jset(j, "bytes", ds__jstr(bytes));
  ds__jset(j, "mnemonic", ds__jstr(insn->mnemonic));
  ds__jset(j, "operands", ds__jstr(insn->op_str));
  const ds_index_code_map *m = map_at(v, r->start, offset);
  ds__jset(j, "il_offset", m && m->il_offset < DS_CODE_IL_EPILOG ? json_integer(m->il_offset) : json_null());
  ds__jset(j, "il_region", ds__jstr(!m                                    ? "unknown"
                                    : m->il_offset == DS_CODE_IL_PROLOG   ? "prolog"
                                    : m->il_offset == DS_CODE_IL_EPILOG   ? "epilog"
                                    : m->il_offset == DS_CODE_IL_NO_MAPPING ? "no_mapping"
                                                                          : "il"));
  ds__jset(j, "line", m && m->line ? json_integer(m->line) : json_null());
  if (mark && insn->address <= mark && mark - insn->address < insn->size)
    ds__jset(j, "current", json_true());
  bool branch = cs_insn_group(handle, insn, CS_GRP_CALL) || cs_insn_group(handle, insn, CS_GRP_JUMP);
  uint64_t target = branch ? branch_target(q, insn) : 0;
  /* a jump inside the method is control flow, not a callee */
  if (target && !(target >= r->start && target - r->start < r->size))
    ds__jset(j, "target", target_json(q, v, target));
  return j;
}

/* Disassembles the method's code: every instruction, or `around` on each side of mark. */
static ds_status disassemble(ds_query *q, const views *v, const ds_index_memory_range *r, const uint8_t *code,
                             size_t size, uint64_t mark, uint32_t around, json_t *list, bool *truncated,
                             ds_error *err) {
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK)
    return ds_error_set(err, DS_E_UNSUPPORTED, "the disassembler (Capstone) cannot start");
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn *insn = cs_malloc(handle);
  ds_status rc = insn ? DS_OK : ds_error_set(err, DS_E_NOMEM, "out of memory for the disassembler");
  const uint8_t *p = code;
  uint64_t address = r->start;
  size_t mark_index = SIZE_MAX;
  while (rc == DS_OK && size > 0) {
    if (!cs_disasm_iter(handle, &p, &size, &address, insn)) {
      /* not an instruction (data, padding): shown as one byte */
      json_t *bad = json_pack("{s:o,s:I,s:s,s:s,s:s}", "address", ds__json_hex(address), "offset",
                              (json_int_t)(address - r->start), "bytes", "", "mnemonic", "(bad)", "operands", "");
      char b[3];
      snprintf(b, sizeof b, "%02x", *p);
      ds__jset(bad, "bytes", ds__jstr(b));
      ds__jappend(list, bad);
      p++, size--, address++;
      continue;
    }
    if (mark && insn->address <= mark && mark - insn->address < insn->size)
      mark_index = json_array_size(list);
    ds__jappend(list, instruction_json(q, v, r, handle, insn, mark));
  }
  if (insn)
    cs_free(insn, 1);
  cs_close(&handle);
  if (rc == DS_OK && around != UINT32_MAX && mark_index != SIZE_MAX) {
    size_t first = mark_index > around ? mark_index - around : 0, last = mark_index + around;
    for (size_t i = json_array_size(list); i-- > 0;)
      if (i < first || i > last) {
        json_array_remove(list, i);
        *truncated = true;
      }
  }
  return rc;
}

static bool parse_address(const char *text, uint64_t *out) {
  const char *p = text;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    p += 2;
  if (!*p || strlen(p) > 16)
    return false;
  char *end;
  *out = strtoull(p, &end, 16);
  return *end == '\0';
}

static ds_status query_disasm(ds_query *q, const char *target, uint32_t around, json_t **out, ds_error *err) {
  if (!ds__need(q, DS_SEC_MEMORY_RANGES, err) || !ds__need(q, DS_SEC_METHODS, err))
    return err->code;
  ds__view rv = ds__section_view(q->idx, DS_SEC_MEMORY_RANGES, sizeof(ds_index_memory_range));
  ds__view mv = ds__section_view(q->idx, DS_SEC_CODE_MAP, sizeof(ds_index_code_map));
  ds__view me = ds__section_view(q->idx, DS_SEC_METHODS, sizeof(ds_index_method));
  ds__view cv = ds__section_view(q->idx, DS_SEC_CALLEES, sizeof(ds_index_callee));
  views v = {rv.data, rv.count, mv.data, mv.count, me.data, me.count, cv.data, cv.count};
  uint64_t addr = 0;
  uint32_t overloads = 1;
  const ds_index_memory_range *r = parse_address(target, &addr) ? method_at(&v, addr) : NULL;
  if (!r && !addr)
    r = method_named(q, &v, target, &overloads);
  if (!r)
    return ds_error_set(err, DS_E_NOT_FOUND,
                        addr ? "no managed method's code recorded at 0x%.40s (mln says what lives there)"
                             : "no compiled method named \"%.200s\" recorded (mx PATTERN --kind methods finds names)",
                        addr && target[0] == '0' && (target[1] == 'x' || target[1] == 'X') ? target + 2 : target);
  if (!q->dump)
    return ds_error_set(err, DS_E_READ, "the dump file is not accessible: its code cannot be read");
  size_t size = r->size < DS_MAX_DISASM_BYTES ? (size_t)r->size : DS_MAX_DISASM_BYTES;
  uint8_t *code = malloc(size ? size : 1);
  if (!code)
    return ds_error_set(err, DS_E_NOMEM, "out of memory for %zu bytes of code", size);
  if (!ds_dump_read_exact(q->dump, r->start, code, size)) {
    free(code);
    return ds_error_set(err, DS_E_READ, "the code of %s (0x%llx, %zu bytes) is not in the dump",
                        ds_index_string(q->idx, r->name), (unsigned long long)r->start, size);
  }
  json_t *doc = json_object(), *list = json_array();
  bool truncated = size < r->size;
  ds__jset(doc, "method", ds__jstr(ds_index_string(q->idx, r->name)));
  ds__jset(doc, "method_desc", ds__json_hex(r->method_desc));
  ds__jset(doc, "code_start", ds__json_hex(r->start));
  ds__jset(doc, "code_size", json_integer((json_int_t)r->size));
  ds__jset(doc, "jitted", json_boolean(r->kind == DS_MEMORY_JIT_METHOD));
  ds__jset(doc, "address", addr ? ds__json_hex(addr) : json_null());
  if (overloads > 1)
    ds__jset(doc, "overloads", json_integer(overloads));
  const ds_index_code_map *with_file = NULL;
  bool mapped = false;
  for (uint64_t i = 0; i < v.map_count && !with_file; i++)
    if (v.map[i].code == r->start) {
      mapped = true;
      if (v.map[i].file)
        with_file = &v.map[i];
    }
  ds__jset(doc, "file", with_file ? ds__jstr(ds_index_string(q->idx, with_file->file)) : json_null());
  ds__jset(doc, "il_map", json_boolean(mapped));
  ds_status rc = disassemble(q, &v, r, code, size, addr, around, list, &truncated, err);
  free(code);
  ds__jset(doc, "instructions", list);
  ds__jset(doc, "truncated", json_boolean(truncated));
  if (rc != DS_OK) {
    json_decref(doc);
    return rc;
  }
  *out = doc;
  return DS_OK;
}

ds_status ds_query_disasm(ds_query *q, const char *target, uint32_t around, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_disasm(q, target, around, out, err), out, err);
}
