/*
 * test_mdt.c: SOSEX !mdt, !mx and !mdv through the dumpscope binary on a real dump, checked against
 * the scenario's truth and its source (LeakScenario.cs, DeadlockScenario.cs declare the types,
 * fields, locals and values the checks expect).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clirun.h"

/* The layout of Scenarios.Invoice (LeakScenario.cs: string Number, Customer Customer, decimal
 * Amount, int Index), by name and by its MethodTable: the fields fit the truth's instance size
 * without overlapping, and the decimal is expanded inline. */
static void test_mdt_type(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  json_t *by_name = cli_json(f, index, "mdt", "Scenarios.Invoice");
  CU_ASSERT_STRING_EQUAL(sget(by_name, "type"), "Scenarios.Invoice");
  json_t *by_mt = cli_json(f, index, "mdt", sget(by_name, "mt"));
  CU_ASSERT(json_equal(by_name, by_mt));
  json_decref(by_mt);
  long long instance_size = (long long)json_integer_value(
      json_object_get(json_object_get(json_object_get(f->truth, "types"), "Scenarios.Invoice"), "instance_size"));
  CU_ASSERT_EQUAL(ival(by_name, "base_size"), instance_size);
  static const struct { const char *name, *type; long long size; } expect[] = {
      {"Number", "System.String", 8}, {"Customer", "Scenarios.Customer", 8},
      {"Amount", "System.Decimal", 16}, {"Index", "System.Int32", 4}};
  json_t *fields = json_object_get(by_name, "fields");
  CU_ASSERT_EQUAL(json_array_size(fields), 4);
  long long last_end = 8;
  size_t i;
  json_t *fld;
  json_array_foreach(fields, i, fld) { /* in offset order, none overlapping, all inside the object */
    CU_ASSERT(ival(fld, "offset") >= last_end);
    for (size_t k = 0; k < 4; k++)
      if (strcmp(sget(fld, "name"), expect[k].name) == 0) {
        CU_ASSERT_STRING_EQUAL(sget(fld, "type"), expect[k].type);
        last_end = ival(fld, "offset") + expect[k].size;
      }
  }
  CU_ASSERT(last_end <= instance_size - 8); /* the header before the object is part of its size */
  for (size_t k = 0; k < 4; k++)
    CU_ASSERT_PTR_NOT_NULL(named(fields, expect[k].name));
  json_t *amount = named(fields, "Amount");
  CU_ASSERT_STRING_EQUAL(sget(amount, "element_type"), "ValueType");
  CU_ASSERT(json_array_size(json_object_get(amount, "fields")) >= 2); /* System.Decimal's own fields, inline */
  CU_ASSERT(ival(by_name, "method_count") >= 1);                      /* its constructor */
  CU_ASSERT(json_is_null(json_object_get(by_name, "object")));
  json_decref(by_name);

  /* statics with values: DeadlockScenario.A..D hold the truth's lock objects */
  json_t *dl = cli_json(f, index, "mdt", "Scenarios.DeadlockScenario");
  size_t l;
  json_t *lock;
  int statics_checked = 0;
  json_array_foreach(json_object_get(f->truth, "locks"), l, lock) {
    json_t *st = named(json_object_get(dl, "statics"), sget(lock, "name"));
    CU_ASSERT_PTR_NOT_NULL(st);
    if (st) {
      CU_ASSERT_STRING_EQUAL(sget(st, "value.address"), sget(lock, "address"));
      CU_ASSERT_STRING_EQUAL(sget(st, "value.type"), "Scenarios.MonitorLock");
      statics_checked++;
    }
  }
  CU_ASSERT(statics_checked == 4);
  json_decref(dl);
  /* a thread static has no single value */
  json_t *marker_type = cli_json(f, index, "mdt", "Scenarios.Marker");
  json_t *t_marker = named(json_object_get(marker_type, "statics"), "t_marker");
  CU_ASSERT_PTR_NOT_NULL(t_marker);
  CU_ASSERT(t_marker && json_is_true(json_object_get(t_marker, "thread_static")));
  json_decref(marker_type);

  /* an unknown type is a 404 that points at mx */
  char args[8192];
  int code;
  snprintf(args, sizeof args, "mdt '%s' Scenarios.NoSuchType --index '%s'", f->dump, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 3);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "mx"));
  json_decref(j);
  snprintf(args, sizeof args, "mdt '%s' Scenarios.Invoice -r 99 --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "depth"));
  json_decref(j);
}

/* invoice.last expanded: its values are the ones LeakScenario.Setup gave it (index 100002). */
static void test_mdt_object(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  const char *last = marker_address(f->truth, "invoice.last");
  char rest[256];
  snprintf(rest, sizeof rest, "%s -r 1", last);
  json_t *j = cli_json(f, index, "mdt", rest);
  json_t *o = json_object_get(j, "object");
  CU_ASSERT_STRING_EQUAL(sget(o, "address"), last);
  json_t *fields = json_object_get(o, "fields");
  const long long idx = 100002;
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(named(fields, "Index"), "value")), idx);
  CU_ASSERT_STRING_EQUAL(sget(named(fields, "Number"), "value.string"), "INV-100002");
  /* Amount = 10.25m * (index % 1000) = 20.50: scale 2, 2050 */
  json_t *amount = json_object_get(named(fields, "Amount"), "fields");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(named(amount, "_lo64"), "value")), 2050);
  CU_ASSERT_EQUAL((json_integer_value(json_object_get(named(amount, "_flags"), "value")) >> 16) & 0xff, 2);
  /* depth 1: the Customer is expanded, and its LastInvoice points back (the truth's cycle) */
  json_t *customer = json_object_get(named(fields, "Customer"), "value");
  CU_ASSERT_STRING_EQUAL(sget(customer, "type"), "Scenarios.Customer");
  json_t *cfields = json_object_get(customer, "fields");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(named(cfields, "Id"), "value")), idx);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(named(cfields, "AccountNo"), "value")), 1000000 + idx);
  CU_ASSERT_STRING_EQUAL(sget(named(cfields, "LastInvoice"), "value.address"), last);
  /* depth 1 stops there: LastInvoice is not expanded again */
  CU_ASSERT_PTR_NULL(json_object_get(json_object_get(named(cfields, "LastInvoice"), "value"), "fields"));
  json_decref(j);

  /* an array: the list's backing array, first elements are Invoices, invoice.first at [0] */
  const char *items = marker_address(f->truth, "invoice.list.items");
  snprintf(rest, sizeof rest, "%s --elements 3", items);
  j = cli_json(f, index, "mdt", rest);
  o = json_object_get(j, "object");
  CU_ASSERT_EQUAL(ival(o, "length"), 100003);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "elements")), 3);
  CU_ASSERT_STRING_EQUAL(sget(json_array_get(json_object_get(o, "elements"), 0), "address"),
                         marker_address(f->truth, "invoice.first"));
  json_decref(j);

  /* the marker's long constant (LeakScenario.cs: Magic = 0x5343454E4152494F) */
  j = cli_json(f, index, "mdt", marker_address(f->truth, "marker.local"));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(named(json_object_get(json_object_get(j, "object"), "fields"),
                                                           "Magic"), "value")),
                  0x5343454E4152494FLL);
  json_decref(j);

  /* text form: one line per field with its value */
  char args[8192];
  int code;
  snprintf(args, sizeof args, "mdt '%s' %s --index '%s'", f->dump, last, index);
  char *text = run_cli_text(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"INV-100002\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "Index = 100002"));
  free(text);
}

static void test_mx(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  /* a type by its exact name: that type only, with the truth's instance count */
  json_t *j = cli_json(f, index, "mx", "Scenarios.Invoice");
  CU_ASSERT_EQUAL(ival(j, "type_count"), 1);
  CU_ASSERT_EQUAL(ival(j, "field_count"), 0);
  CU_ASSERT_EQUAL(ival(j, "method_count"), 0);
  CU_ASSERT_STRING_EQUAL(sget(json_array_get(json_object_get(j, "types"), 0), "type"), "Scenarios.Invoice");
  CU_ASSERT_EQUAL(ival(json_array_get(json_object_get(j, "types"), 0), "instances"), 100003);
  json_decref(j);
  /* the members of a type: Invoice's four fields and its constructor, nothing else */
  j = cli_json(f, index, "mx", "Scenarios.Invoice.*");
  CU_ASSERT_EQUAL(ival(j, "type_count"), 0);
  CU_ASSERT_EQUAL(ival(j, "field_count"), 4);
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(j, "fields"), i, x) CU_ASSERT_STRING_EQUAL(sget(x, "type"), "Scenarios.Invoice");
  CU_ASSERT_PTR_NOT_NULL(named(json_object_get(j, "fields"), "Amount"));
  CU_ASSERT_EQUAL(ival(j, "method_count"), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(json_array_get(json_object_get(j, "methods"), 0), "name"), "Scenarios.Invoice..ctor"));
  json_decref(j);
  /* a static class's statics and methods (LeakScenario.cs), by wildcard */
  const char *marker_method = sget(f->truth, "scenario_data.leak.marker_method");
  j = cli_json(f, index, "mx", "Scenarios.LeakScenario.*");
  CU_ASSERT_EQUAL(ival(j, "type_count"), 0);
  CU_ASSERT_PTR_NOT_NULL(named(json_object_get(j, "fields"), "s_invoices"));
  bool hold = false;
  json_array_foreach(json_object_get(j, "methods"), i, x) {
    CU_ASSERT(strncmp(sget(x, "name"), "Scenarios.LeakScenario.", 23) == 0);
    hold = hold || strstr(sget(x, "name"), marker_method) != NULL;
  }
  CU_ASSERT(hold);
  json_decref(j);
  /* a method by its bare name, case-insensitively; its code is HoldMarker's JIT code */
  j = cli_json(f, index, "mx", "holdmarker --kind methods");
  CU_ASSERT_EQUAL(ival(j, "method_count"), 1);
  x = json_array_get(json_object_get(j, "methods"), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(x, "name"), marker_method));
  uint64_t code = hex_of(sget(x, "code"));
  json_decref(j);
  json_t *m = mln(f, index, code);
  CU_ASSERT_STRING_EQUAL(sget(m, "kind"), "jit_code");
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(m, "method.name"), marker_method));
  json_decref(m);
  /* a compiled method that is on no stack: an address inside its code still names it (mln) */
  j = cli_json(f, index, "mx", "Scenarios.LeakScenario.Setup --kind methods");
  CU_ASSERT_EQUAL(ival(j, "method_count"), 1);
  uint64_t setup = hex_of(sget(json_array_get(json_object_get(j, "methods"), 0), "code"));
  json_decref(j);
  CU_ASSERT_FATAL(setup != 0);
  m = mln(f, index, setup + 3);
  CU_ASSERT_STRING_EQUAL(sget(m, "kind"), "jit_code");
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(m, "method.name"), "Scenarios.LeakScenario.Setup("));
  CU_ASSERT_EQUAL(ival(json_object_get(m, "method"), "offset"), 3);
  json_decref(m);
  /* ? matches one character; a pattern that names nothing finds nothing */
  j = cli_json(f, index, "mx", "Scenarios.Invoic? --kind types");
  CU_ASSERT_EQUAL(ival(j, "type_count"), 1);
  json_decref(j);
  j = cli_json(f, index, "mx", "Scenarios.NoSuch*");
  CU_ASSERT_EQUAL(ival(j, "type_count") + ival(j, "field_count") + ival(j, "method_count"), 0);
  json_decref(j);
  char args[8192];
  int rc;
  snprintf(args, sizeof args, "mx '%s' x --kind bogus --index '%s'", f->dump, index);
  j = run_cli(args, &rc);
  CU_ASSERT_EQUAL(rc, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "kind"));
  json_decref(j);
}

/* mdv: DeadlockScenario.T1LockAThenB holds A and waits for B inside two C# lock statements, so its
 * frame's locals are the two lock objects (the truth's A and B) and their lockTaken flags (true for
 * A, still false for B); Monitor.Enter's lockTaken argument is a byref to that second flag. */
static void test_mdv(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  long long t1 = thread_os_id(f->truth, "T1");
  const char *a = NULL, *b = NULL;
  size_t i;
  json_t *lock;
  json_array_foreach(json_object_get(f->truth, "locks"), i, lock) {
    if (strcmp(sget(lock, "name"), "A") == 0)
      a = sget(lock, "address");
    if (strcmp(sget(lock, "name"), "B") == 0)
      b = sget(lock, "address");
  }
  CU_ASSERT_FATAL(t1 > 0 && a && b);
  char rest[64];
  snprintf(rest, sizeof rest, "%lld", t1);
  json_t *j = cli_json(f, index, "mdv", rest);
  CU_ASSERT_EQUAL(ival(j, "os_id"), t1);
  json_t *frames = json_object_get(j, "frames"), *frame, *mine = NULL, *enter = NULL;
  json_array_foreach(frames, i, frame) {
    if (strstr(sget(frame, "method"), "Scenarios.DeadlockScenario.T1LockAThenB"))
      mine = frame;
    if (strstr(sget(frame, "method"), "System.Threading.Monitor.Enter(") && !json_is_true(json_object_get(frame, "runtime_frame")))
      enter = frame;
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
  json_t *locals = json_object_get(mine, "locals"), *v;
  int refs = 0, flags_true = 0, flags_false = 0;
  const char *second_flag = NULL;
  json_array_foreach(locals, i, v) {
    CU_ASSERT_PTR_NOT_NULL(strstr(sget(v, "name"), "local_"));
    if (strcmp(sget(v, "kind"), "reference") == 0) {
      CU_ASSERT(strcmp(sget(v, "value.address"), refs == 0 ? a : b) == 0);
      CU_ASSERT_STRING_EQUAL(sget(v, "value.type"), "Scenarios.MonitorLock");
      refs++;
    } else if (strcmp(sget(v, "kind"), "primitive") == 0) {
      /* the declared type (the local signature) reads the flag as a bool */
      CU_ASSERT_STRING_EQUAL(sget(v, "type"), "System.Boolean");
      json_t *flag = json_object_get(v, "value");
      flags_true += json_is_true(flag);
      flags_false += json_is_false(flag);
      if (json_is_false(flag))
        second_flag = sget(v, "location");
    }
  }
  CU_ASSERT_EQUAL(refs, 2);
  CU_ASSERT_EQUAL(flags_true, 1);
  CU_ASSERT_EQUAL(flags_false, 1);
  /* Monitor.Enter(object obj, ref bool lockTaken): names from metadata, the byref points at the flag */
  CU_ASSERT_PTR_NOT_NULL_FATAL(enter);
  json_t *args = json_object_get(enter, "arguments");
  CU_ASSERT_EQUAL(json_array_size(args), 2);
  CU_ASSERT_STRING_EQUAL(sget(json_array_get(args, 0), "name"), "obj");
  json_t *taken = json_array_get(args, 1);
  CU_ASSERT_STRING_EQUAL(sget(taken, "name"), "lockTaken");
  if (json_is_true(json_object_get(taken, "available")) && second_flag)
    CU_ASSERT_EQUAL(hex_of(sget(taken, "value")), hex_of(second_flag));
  char method[512];
  snprintf(method, sizeof method, "%s", sget(mine, "method"));
  snprintf(rest, sizeof rest, "%lld --frame %lld", t1, ival(mine, "depth"));
  json_decref(j);

  /* one frame by depth: the same frame */
  j = cli_json(f, index, "mframe", rest);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "frames")), 1);
  CU_ASSERT_STRING_EQUAL(sget(json_array_get(json_object_get(j, "frames"), 0), "method"), method);
  json_decref(j);
  /* text: SOS !clrstack -a's layout */
  char args_text[8192];
  int code;
  snprintf(args_text, sizeof args_text, "mdv '%s' %lld --index '%s'", f->dump, t1, index);
  char *text = run_cli_text(args_text, &code);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "LOCALS:"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, a));
  free(text);
  snprintf(args_text, sizeof args_text, "mdv '%s' %lld --frame 999 --index '%s'", f->dump, t1, index);
  j = run_cli(args_text, &code);
  CU_ASSERT_EQUAL(code, 3);
  json_decref(j);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("mdt", NULL, NULL);
  CU_add_test(s, "mdt of a type: Invoice's layout, statics with values, thread statics", test_mdt_type);
  CU_add_test(s, "mdt of an object: values, a value type inline, references followed, arrays", test_mdt_object);
  CU_add_test(s, "mx: types, fields and methods by pattern, and nothing else", test_mx);
  CU_add_test(s, "mdv: a frame's locals (the truth's locks), arguments by name, one frame", test_mdv);
  return ds_test_main();
}
