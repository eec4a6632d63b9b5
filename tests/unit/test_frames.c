/*
 * test_frames.c: frames / mdv / mframe on the frame-args scenario, through the dumpscope binary on
 * every main dump (full and heap, each GC variant), checked against the truth the program reports
 * about itself: Hold(int count, string label, object payload, FramePoint where)'s source file and
 * line (the runtime's own StackFrame read them from the PDB), and each argument's and local's name
 * (locals: from the portable PDB), declared type (the assembly's signatures) and value; then mu and
 * muf on Hold's code, and the methods of a type the index does not hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clirun.h"

#define HOLD "Scenarios.FrameArgsScenario.Hold("

/* The variable of list named name, NULL when none. */
static json_t *var_named(json_t *list, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v)
    if (strcmp(sget(v, "name"), name) == 0)
      return v;
  return NULL;
}

/* One truth variable against ours: name, declared type, value. */
static void check_var(json_t *ours_list, json_t *truth, const char *fixture) {
  const char *name = sget(truth, "name");
  json_t *v = var_named(ours_list, name);
  if (!v)
    fprintf(stderr, "\n%s: no variable named %s\n", fixture, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT_STRING_EQUAL(sget(v, "type"), sget(truth, "type"));
  json_t *value = json_object_get(v, "value");
  if (json_object_get(truth, "value")) {
    CU_ASSERT_STRING_EQUAL(sget(v, "kind"), "primitive");
    CU_ASSERT(json_integer_value(value) == json_integer_value(json_object_get(truth, "value")));
  } else if (json_object_get(truth, "address")) {
    CU_ASSERT_STRING_EQUAL(sget(v, "kind"), "reference");
    CU_ASSERT_STRING_EQUAL(sget(value, "address"), sget(truth, "address"));
    CU_ASSERT_STRING_EQUAL(sget(value, "type"), sget(truth, "object_type"));
  } else {
    CU_ASSERT_STRING_EQUAL(sget(v, "kind"), "struct");
    json_t *fields = json_object_get(value, "fields"), *want = json_object_get(truth, "fields"), *field;
    const char *key;
    CU_ASSERT_EQUAL(json_object_size(fields), json_object_size(want));
    json_object_foreach(want, key, field)
      CU_ASSERT(json_integer_value(json_object_get(fields, key)) == json_integer_value(field));
  }
}

static void check_fixture(ds_fixture *f) {
  json_t *truth = json_object_get(json_object_get(f->truth, "scenario_data"), "frame-args");
  CU_ASSERT_PTR_NOT_NULL_FATAL(truth);
  long long tid = thread_os_id(f->truth, sget(truth, "thread"));
  CU_ASSERT_FATAL(tid > 0);
  char index[512], rest[64];
  snprintf(index, sizeof index, "%s/%s.frames.dsindex", ds_test_tmpdir(), f->name);
  snprintf(rest, sizeof rest, "%lld", tid);
  json_t *doc = cli_json(f, index, "mdv", rest), *frame, *hold = NULL;
  size_t i;
  json_array_foreach(json_object_get(doc, "frames"), i, frame)
    if (strstr(sget(frame, "method"), HOLD))
      hold = frame;
  if (!hold)
    fprintf(stderr, "\n%s: no frame of %s\n", f->name, HOLD);
  CU_ASSERT_PTR_NOT_NULL_FATAL(hold);
  /* where Hold is: the file and line the runtime's StackFrame read from the same PDB */
  CU_ASSERT_STRING_EQUAL(sget(hold, "file"), sget(truth, "file"));
  CU_ASSERT_EQUAL(ival(hold, "line"), ival(truth, "line"));
  json_t *args = json_object_get(hold, "arguments"), *locals = json_object_get(hold, "locals"), *t;
  CU_ASSERT_EQUAL(json_array_size(args), json_array_size(json_object_get(truth, "arguments")));
  json_array_foreach(json_object_get(truth, "arguments"), i, t)
    check_var(args, t, f->name);
  json_array_foreach(json_object_get(truth, "locals"), i, t)
    check_var(locals, t, f->name);
  /* a frame of an assembly without a PDB next to it (CoreLib): no position, its types still known */
  json_array_foreach(json_object_get(doc, "frames"), i, frame)
    if (strstr(sget(frame, "method"), "System.Threading.Thread.StartCallback(")) {
      CU_ASSERT(json_is_null(json_object_get(frame, "line")));
      CU_ASSERT_STRING_EQUAL(sget(json_array_get(json_object_get(frame, "arguments"), 0), "type"),
                             "System.Threading.Thread");
    }
  long long depth = ival(hold, "depth");
  json_decref(doc);

  /* mframe: the same frame alone; the text form names the source line and the locals */
  snprintf(rest, sizeof rest, "%lld --frame %lld", tid, depth);
  doc = cli_json(f, index, "mframe", rest);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "frames")), 1);
  CU_ASSERT_EQUAL(ival(json_array_get(json_object_get(doc, "frames"), 0), "line"), ival(truth, "line"));
  json_decref(doc);
  char args_text[8192], where[600];
  int code;
  snprintf(args_text, sizeof args_text, "mdv '%s' %s --index '%s'", f->dump, rest, index);
  char *text = run_cli_text(args_text, &code);
  CU_ASSERT_EQUAL(code, 0);
  snprintf(where, sizeof where, "%s @ %lld]", sget(truth, "file"), ival(truth, "line"));
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, where));
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "Scenarios.FramePoint"));
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "{X=11, Y=-22}"));
  free(text);
}

/* The instruction of a disassembly whose call target is named name, NULL when none. */
static json_t *call_to(json_t *doc, const char *name) {
  size_t i;
  json_t *insn;
  json_array_foreach(json_object_get(doc, "instructions"), i, insn)
    if (strcmp(sget(insn, "target.name"), name) == 0)
      return insn;
  return NULL;
}

/* muf Hold: its calls named (Park, on the stack; Native.GetTid, of a type with no instances, reached
 * through a call-counting stub), IL offsets and the truth's source line; mu at Hold's return
 * address into it: that instruction marked, on the truth's line, right after the call to Park. */
static void test_mu_muf(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  json_t *truth = json_object_get(json_object_get(f->truth, "scenario_data"), "frame-args");
  json_t *doc = cli_json(f, index, "muf", "Scenarios.FrameArgsScenario.Hold");
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(doc, "method"), HOLD));
  CU_ASSERT_STRING_EQUAL(sget(doc, "file"), sget(truth, "file"));
  CU_ASSERT(json_is_true(json_object_get(doc, "jitted")));
  json_t *park = call_to(doc, "Scenarios.FrameArgsScenario.Park()");
  CU_ASSERT_PTR_NOT_NULL_FATAL(park);
  CU_ASSERT_EQUAL(ival(park, "line"), ival(truth, "line"));
  CU_ASSERT(json_is_integer(json_object_get(park, "il_offset")));
  CU_ASSERT_PTR_NOT_NULL(call_to(doc, "Scenarios.Native.GetTid()"));
  CU_ASSERT_PTR_NOT_NULL(call_to(doc, "System.String.Concat(System.String, System.String)"));
  size_t count = json_array_size(json_object_get(doc, "instructions"));
  uint64_t park_end = hex_of(sget(park, "address")) + strlen(sget(park, "bytes")) / 2;
  json_decref(doc);

  /* mu at the return address: the frame's IP, as the stack reports it */
  long long tid = thread_os_id(f->truth, sget(truth, "thread"));
  char rest[64], ip[32] = "";
  snprintf(rest, sizeof rest, "%lld", tid);
  doc = cli_json(f, index, "stack", rest);
  size_t i;
  json_t *frame;
  json_array_foreach(json_object_get(doc, "frames"), i, frame)
    if (strstr(sget(frame, "method"), HOLD))
      snprintf(ip, sizeof ip, "%s", sget(frame, "ip"));
  json_decref(doc);
  CU_ASSERT_EQUAL_FATAL(hex_of(ip), park_end);
  snprintf(rest, sizeof rest, "%s --around 3", ip);
  doc = cli_json(f, index, "mu", rest);
  json_t *insn, *marked = NULL, *before = NULL;
  json_array_foreach(json_object_get(doc, "instructions"), i, insn) {
    if (json_is_true(json_object_get(insn, "current"))) {
      marked = insn;
      before = i ? json_array_get(json_object_get(doc, "instructions"), i - 1) : NULL;
    }
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(marked);
  CU_ASSERT_STRING_EQUAL(sget(marked, "address"), ip);
  CU_ASSERT_EQUAL(ival(marked, "line"), ival(truth, "line"));
  CU_ASSERT_STRING_EQUAL(sget(before, "target.name"), "Scenarios.FrameArgsScenario.Park()");
  CU_ASSERT(json_array_size(json_object_get(doc, "instructions")) <= 7 && count > 7);
  CU_ASSERT(json_is_true(json_object_get(doc, "truncated")));
  json_decref(doc);

  /* text: SOSEX's interleaving of source lines, IL offsets and named calls */
  char args[8192], where[600];
  int code;
  snprintf(args, sizeof args, "muf '%s' Scenarios.FrameArgsScenario.Hold --index '%s'", f->dump, index);
  char *text = run_cli_text(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  snprintf(where, sizeof where, "%s @ %lld:", sget(truth, "file"), ival(truth, "line"));
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, where));
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "; Scenarios.FrameArgsScenario.Park()"));
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "IL_"));
  free(text);
  /* what names no code: not found (exit 3) */
  snprintf(args, sizeof args, "muf '%s' Scenarios.NoSuch.Method --index '%s'", f->dump, index);
  json_decref(run_cli(args, &code));
  CU_ASSERT_EQUAL(code, 3);
  snprintf(args, sizeof args, "mu '%s' 0x10 --index '%s'", f->dump, index);
  json_decref(run_cli(args, &code));
  CU_ASSERT_EQUAL(code, 3);
}

/* Methods of a type the index does not hold (Scenarios.Native: static, no instances, never on a
 * stack when the dump was taken): mx lists them, mln names their code. */
static void test_methods_beyond_types(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  json_t *doc = cli_json(f, index, "mx", "Scenarios.Native --kind types");
  CU_ASSERT_EQUAL(ival(doc, "type_count"), 0);
  json_decref(doc);
  doc = cli_json(f, index, "mx", "Scenarios.Native.GetTid --kind methods");
  CU_ASSERT_EQUAL(ival(doc, "method_count"), 1);
  json_t *m = json_array_get(json_object_get(doc, "methods"), 0);
  CU_ASSERT_STRING_EQUAL(sget(m, "type"), "Scenarios.Native");
  CU_ASSERT_STRING_EQUAL(sget(m, "name"), "Scenarios.Native.GetTid()");
  uint64_t code = hex_of(sget(m, "code"));
  json_decref(doc);
  CU_ASSERT_FATAL(code != 0);
  json_t *where = mln(f, index, code + 1);
  CU_ASSERT_STRING_EQUAL(sget(where, "kind"), "jit_code");
  CU_ASSERT_STRING_EQUAL(sget(where, "method.name"), "Scenarios.Native.GetTid()");
  json_decref(where);
}

/* mk on the frame-args thread, parked in Thread.Sleep: native frames unwound from the core (libc's
 * wait, libcoreclr's) above the managed frames, down to managed code; runtime frames marked. */
static void test_mk(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  for (size_t k = 0; k < n; k++) {
    ds_fixture *f = &fx[k];
    json_t *truth = json_object_get(json_object_get(f->truth, "scenario_data"), "frame-args");
    char index[512], rest[64];
    snprintf(index, sizeof index, "%s/%s.frames.dsindex", ds_test_tmpdir(), f->name);
    snprintf(rest, sizeof rest, "%lld", thread_os_id(f->truth, sget(truth, "thread")));
    json_t *doc = cli_json(f, index, "mk", rest), *frame;
    size_t i, libc = SIZE_MAX, sleep = SIZE_MAX, hold = SIZE_MAX, natives = 0, named = 0, runtime = 0;
    json_array_foreach(json_object_get(doc, "frames"), i, frame) {
      const char *kind = sget(frame, "kind");
      if (strcmp(kind, "native") == 0) {
        natives++;
        named += json_is_string(json_object_get(frame, "function"));
        if (libc == SIZE_MAX && strncmp(sget(frame, "module"), "libc.so", 7) == 0)
          libc = i;
      } else if (strcmp(kind, "runtime") == 0) {
        runtime++;
      } else if (strstr(sget(frame, "method"), "System.Threading.Thread.Sleep(") && sleep == SIZE_MAX) {
        sleep = i;
      } else if (strstr(sget(frame, "method"), HOLD)) {
        hold = i;
      }
    }
    if (libc == SIZE_MAX || sleep == SIZE_MAX)
      fprintf(stderr, "\n%s: mk has no libc frame or no Thread.Sleep frame\n", f->name);
    CU_ASSERT(libc < sleep && sleep < hold && hold != SIZE_MAX);
    CU_ASSERT(natives >= 2 && named >= 1 && runtime >= 1);
    CU_ASSERT_EQUAL(ival(doc, "native_frames"), (long long)natives);
    CU_ASSERT_STRING_EQUAL(sget(doc, "native_unwind_ended"), "managed code");
    json_decref(doc);
  }
}

static void test_frame_args(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  for (size_t i = 0; i < n; i++)
    check_fixture(&fx[i]);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("frames", NULL, NULL);
  CU_add_test(s, "frame-args: file, line, names, declared types and values of arguments and locals", test_frame_args);
  CU_add_test(s, "mu, muf: Hold's code with IL offsets, its source line and its calls named", test_mu_muf);
  CU_add_test(s, "mx, mln: methods of a type with no instances", test_methods_beyond_types);
  CU_add_test(s, "mk: libc and runtime native frames above the managed ones, unwound from the core", test_mk);
  return ds_test_main();
}
