/*
 * disasm.c: the mu and muf resources (SOSEX !mu ADDR, !muf METHOD|ADDR): a managed method's native
 * code disassembled, annotated with IL offsets and source lines, calls named; and their text form
 * (IL and source headers between the instructions, as SOSEX interleaves them).
 */
#include "api.h"
#include "apiint.h"

#include <stdio.h>
#include <string.h>

#include "dumpscope/limits.h"

#define DEFAULT_AROUND 16u
#define MAX_AROUND 4096u

ds_status ds_api_h_mu(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t addr, around;
  char text[32];
  ds_status rc;
  if ((rc = ds_api_get_address(args, "addr", true, &addr, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "around", DEFAULT_AROUND, 0, MAX_AROUND, &around, err)) != DS_OK)
    return rc;
  snprintf(text, sizeof text, "0x%llx", (unsigned long long)addr);
  return ds_query_disasm(q, text, (uint32_t)around, out, err);
}

ds_status ds_api_h_muf(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  const char *method = ds_api_args_get(args, "method");
  if (!method || !*method)
    return ds_error_set(err, DS_E_ARG, "a method name or a code address is required");
  return ds_query_disasm(q, method, UINT32_MAX, out, err);
}

static const char *text_of(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

void ds_api_render_disasm(json_t *doc, FILE *out) {
  fprintf(out, "%s\n  code %s, %lld bytes, %s", text_of(doc, "method"), text_of(doc, "code_start"),
          (long long)json_integer_value(json_object_get(doc, "code_size")),
          json_is_true(json_object_get(doc, "jitted")) ? "JIT-compiled" : "precompiled");
  if (json_is_string(json_object_get(doc, "file")))
    fprintf(out, ", %s", text_of(doc, "file"));
  fprintf(out, "\n");
  size_t i;
  json_t *insn;
  json_int_t last_il = -2, last_line = -1;
  json_array_foreach(json_object_get(doc, "instructions"), i, insn) {
    json_t *il = json_object_get(insn, "il_offset"), *line = json_object_get(insn, "line");
    json_int_t il_value = json_is_integer(il) ? json_integer_value(il) : -1;
    if (json_is_integer(line) && json_integer_value(line) != last_line) {
      last_line = json_integer_value(line);
      fprintf(out, "%s @ %lld:\n", text_of(doc, "file"), (long long)last_line);
    }
    if (il_value != last_il) {
      last_il = il_value;
      if (il_value >= 0)
        fprintf(out, "  IL_%04llx:\n", (long long)il_value);
      else
        fprintf(out, "  [%s]\n", text_of(insn, "il_region"));
    }
    fprintf(out, "%s %s %-20s %-8s %s", json_is_true(json_object_get(insn, "current")) ? ">>>" : "   ",
            text_of(insn, "address"), text_of(insn, "bytes"), text_of(insn, "mnemonic"), text_of(insn, "operands"));
    json_t *target = json_object_get(insn, "target");
    if (json_is_string(json_object_get(target, "name")))
      fprintf(out, "  ; %s", text_of(target, "name"));
    fprintf(out, "\n");
  }
  if (json_is_true(json_object_get(doc, "truncated")))
    fprintf(out, "(more instructions: muf shows the whole method)\n");
}

/* ---- mk: the mixed stack ---------------------------------------------------------------------- */

ds_status ds_api_h_mixed(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint32_t thread;
  ds_status rc = ds_api_get_thread(q, args, "thread", &thread, err);
  return rc != DS_OK ? rc : ds_query_mixed_stack(q, thread, out, err);
}

void ds_api_render_mixed(json_t *doc, FILE *out) {
  fprintf(out, "Thread %lld (managed %lld)\n", (long long)json_integer_value(json_object_get(doc, "os_id")),
          (long long)json_integer_value(json_object_get(doc, "managed_id")));
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "frames"), i, f) {
    const char *kind = text_of(f, "kind");
    fprintf(out, "%-3zu %s %s ", i, text_of(f, "sp"), text_of(f, "ip"));
    if (strcmp(kind, "native") == 0)
      fprintf(out, "%s!%s+0x%llx\n", json_is_string(json_object_get(f, "module")) ? text_of(f, "module") : "?",
              json_is_string(json_object_get(f, "function")) ? text_of(f, "function") : "?",
              (unsigned long long)json_integer_value(json_object_get(f, "offset")));
    else
      fprintf(out, "%s%s\n", strcmp(kind, "runtime") == 0 ? "(runtime) " : "", text_of(f, "method"));
  }
  fprintf(out, "(native unwinding ended at: %s)\n", text_of(doc, "native_unwind_ended"));
}
