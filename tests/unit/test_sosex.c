/*
 * test_sosex.c: the rest of the SOSEX reference and the SOS spellings, through the dumpscope
 * binary on real dumps, checked against the scenario truth: SOS aliases answer exactly what the
 * commands they stand for answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clirun.h"

/* `alias` and `command` (each "NAME [ARG] [options]", the dump and index inserted) print the same
 * JSON document, with exit status 0. */
static void same_answer(ds_fixture *f, const char *index, const char *alias, const char *alias_rest,
                        const char *command, const char *command_rest) {
  char args[8192];
  int code_a, code_c;
  snprintf(args, sizeof args, "%s '%s' %s --index '%s'", alias, f->dump, alias_rest, index);
  json_t *a = run_cli(args, &code_a);
  snprintf(args, sizeof args, "%s '%s' %s --index '%s'", command, f->dump, command_rest, index);
  json_t *c = run_cli(args, &code_c);
  CU_ASSERT_EQUAL(code_a, 0);
  CU_ASSERT_EQUAL(code_c, 0);
  CU_ASSERT_PTR_NOT_NULL(a);
  CU_ASSERT_PTR_NOT_NULL(c);
  CU_ASSERT(a && c && json_object_get(a, "error") == NULL);
  if (!(a && c && json_equal(a, c)))
    fprintf(stderr, "\n%s %s differs from %s %s\n", alias, alias_rest, command, command_rest);
  CU_ASSERT(a && c && json_equal(a, c));
  json_decref(a);
  json_decref(c);
}

static void test_sos_aliases(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  const char *invoice = marker_address(f->truth, "invoice.first");
  const char *marker = marker_address(f->truth, "marker.local");
  CU_ASSERT_PTR_NOT_NULL_FATAL(invoice);
  CU_ASSERT_PTR_NOT_NULL_FATAL(marker);
  long long holder = thread_os_id(f->truth, "marker-holder");
  CU_ASSERT_FATAL(holder > 0);
  char tid[32], rest[256];
  snprintf(tid, sizeof tid, "%lld", holder);

  same_answer(f, index, "dumpheap", "--type Scenarios.Invoice --exact --limit 5", "heap_objects",
              "--type Scenarios.Invoice --exact --limit 5");
  same_answer(f, index, "dumpheap", "-stat -type Scenarios.Invoice", "heap_stat", "--type Scenarios.Invoice");
  same_answer(f, index, "dumpheap", "--stat", "heap_stat", "");
  same_answer(f, index, "gcroot", invoice, "roots", invoice);
  same_answer(f, index, "clrthreads", "", "threads", "");
  same_answer(f, index, "clrstack", tid, "stack", tid);
  same_answer(f, index, "syncblk", "", "locks", "");
  same_answer(f, index, "gcwhere", invoice, "address", invoice);
  same_answer(f, index, "gchandles", "", "handles", "");
  same_answer(f, index, "finalizequeue", "", "finq", "");
  same_answer(f, index, "dumpstackobjects", tid, "thread_objects", tid);
  same_answer(f, index, "dso", tid, "mdso", tid);

  /* the stack objects of marker-holder hold the marker (the truth: its only root is that local) */
  char args[8192];
  int code;
  snprintf(args, sizeof args, "dso '%s' %s --index '%s'", f->dump, tid, index);
  json_t *j = run_cli(args, &code);
  char *text = json_dumps(j, 0);
  CU_ASSERT_PTR_NOT_NULL(text && strstr(text, marker));
  free(text);
  json_decref(j);

  /* the DAC commands' SOS spellings */
  snprintf(args, sizeof args, "obj '%s' %s --index '%s'", f->dump, invoice, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  char mt[32];
  snprintf(mt, sizeof mt, "%s", json_string_value(json_object_get(j, "mt")) ? json_string_value(json_object_get(j, "mt")) : "0");
  json_decref(j);
  snprintf(args, sizeof args, "dumpmt '%s' %s", f->dump, mt);
  json_t *a = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  snprintf(args, sizeof args, "mt '%s' %s", f->dump, mt);
  json_t *c = run_cli(args, &code);
  CU_ASSERT(json_equal(a, c));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "name")), "Scenarios.Invoice");
  json_decref(a);
  json_decref(c);

  snprintf(args, sizeof args, "verifyheap '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_is_true(json_object_get(j, "ok")));
  json_decref(j);

  snprintf(args, sizeof args, "dumpobj '%s' %s", f->dump, invoice);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "type")), "Scenarios.Invoice");
  json_decref(j);

  snprintf(args, sizeof args, "eeheap '%s'", f->dump);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(json_array_size(json_object_get(j, "segments")) > 0);
  json_decref(j);

  /* text form of an alias: SOS's !dumpheap -stat layout, the Invoice row with the truth's count */
  snprintf(rest, sizeof rest, "dumpheap '%s' -stat -type Scenarios.Invoice -exact --index '%s'", f->dump, index);
  text = run_cli_text(rest, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "100003"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "Scenarios.Invoice"));
  free(text);

  /* an SOS option we do not have is refused by name */
  snprintf(args, sizeof args, "dumpheap '%s' -bogus --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  json_decref(j);
}

/* ---- mln ------------------------------------------------------------------------------------- */

/* The virtual address range of section `name` in an ELF file on disk (an oracle independent of the
 * dump: the loader never maps section headers). */
static bool elf_section_range(const char *path, const char *name, uint64_t *start, uint64_t *size) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return false;
  unsigned char eh[64];
  bool found = false;
  if (fread(eh, 1, sizeof eh, fp) == sizeof eh) {
    uint64_t shoff;
    uint16_t shentsize, shnum, shstrndx;
    memcpy(&shoff, eh + 0x28, 8);
    memcpy(&shentsize, eh + 0x3a, 2);
    memcpy(&shnum, eh + 0x3c, 2);
    memcpy(&shstrndx, eh + 0x3e, 2);
    unsigned char sh[64], names_sh[64];
    char names[65536];
    if (shentsize == 64 && shstrndx < shnum && fseek(fp, (long)(shoff + 64ull * shstrndx), SEEK_SET) == 0 &&
        fread(names_sh, 1, 64, fp) == 64) {
      uint64_t names_off, names_size;
      memcpy(&names_off, names_sh + 0x18, 8);
      memcpy(&names_size, names_sh + 0x20, 8);
      if (names_size > sizeof names - 1)
        names_size = sizeof names - 1;
      if (fseek(fp, (long)names_off, SEEK_SET) == 0 && fread(names, 1, names_size, fp) == names_size) {
        names[names_size] = '\0';
        for (uint16_t i = 0; i < shnum && !found; i++) {
          if (fseek(fp, (long)(shoff + 64ull * i), SEEK_SET) != 0 || fread(sh, 1, 64, fp) != 64)
            break;
          uint32_t name_off;
          memcpy(&name_off, sh, 4);
          if (name_off < names_size && strcmp(names + name_off, name) == 0) {
            memcpy(start, sh + 0x10, 8);
            memcpy(size, sh + 0x20, 8);
            found = true;
          }
        }
      }
    }
  }
  fclose(fp);
  return found;
}

/* The frame of a thread's stack (stack --json) whose method contains text; NULL when none. */
static json_t *frame_with(json_t *stack, const char *text) {
  size_t i;
  json_t *fr;
  json_array_foreach(json_object_get(stack, "frames"), i, fr)
    if (strstr(sget(fr, "method"), text) && !json_is_true(json_object_get(fr, "runtime_frame")))
      return fr;
  return NULL;
}

static void test_mln(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  char args[8192];
  int code;

  /* a heap object, an interior address (the field obj reports at that offset), its header */
  const char *invoice_text = marker_address(f->truth, "invoice.first");
  uint64_t invoice = hex_of(invoice_text);
  json_t *j = mln(f, index, invoice);
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "object");
  CU_ASSERT_STRING_EQUAL(sget(j, "object.address"), invoice_text);
  CU_ASSERT_STRING_EQUAL(sget(j, "object.type"), "Scenarios.Invoice");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "offset")), 0);
  json_decref(j);
  snprintf(args, sizeof args, "obj '%s' %s --index '%s'", f->dump, invoice_text, index);
  json_t *obj = run_cli(args, &code);
  size_t i;
  json_t *fld;
  int checked_fields = 0;
  json_array_foreach(json_object_get(obj, "fields"), i, fld) {
    json_int_t off = json_integer_value(json_object_get(fld, "offset"));
    j = mln(f, index, invoice + (uint64_t)off + 1);
    CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "object");
    CU_ASSERT_STRING_EQUAL(sget(j, "object.address"), invoice_text);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "offset")), off + 1);
    CU_ASSERT_STRING_EQUAL(sget(j, "field"), sget(fld, "name"));
    checked_fields++;
    json_decref(j);
  }
  CU_ASSERT(checked_fields >= 2);
  json_decref(obj);
  j = mln(f, index, invoice - 8);
  CU_ASSERT_STRING_EQUAL(sget(j, "object.address"), invoice_text);
  CU_ASSERT_STRING_EQUAL(sget(j, "part"), "object header");
  json_decref(j);

  /* a free block: a gap between pinned arrays that the program walked and found one free object */
  size_t g;
  json_t *gap;
  int free_checked = 0;
  json_array_foreach(json_object_get(json_object_get(json_object_get(f->truth, "scenario_data"), "fragmentation"), "gaps"),
                     g, gap) {
    if (strcmp(sget(gap, "walk"), "complete") != 0 || json_integer_value(json_object_get(gap, "free_objects")) != 1 ||
        json_integer_value(json_object_get(gap, "other_objects")) != 0 || free_checked >= 2)
      continue;
    uint64_t from = hex_of(sget(gap, "from"));
    j = mln(f, index, from + 100);
    CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "free");
    CU_ASSERT_EQUAL(hex_of(sget(j, "free_block.address")), from);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "free_block"), "size")),
                    json_integer_value(json_object_get(gap, "free_bytes")));
    free_checked++;
    json_decref(j);
  }
  CU_ASSERT(free_checked > 0);

  /* a stack slot: the local of LeakScenario.HoldMarker on marker-holder that holds the Marker */
  long long holder = thread_os_id(f->truth, "marker-holder");
  const char *marker = marker_address(f->truth, "marker.local");
  const char *marker_method = sget(f->truth, "scenario_data.leak.marker_method");
  CU_ASSERT_FATAL(holder > 0 && marker && marker_method[0]);
  snprintf(args, sizeof args, "mdso '%s' %lld --index '%s'", f->dump, holder, index);
  json_t *dso = run_cli(args, &code);
  uint64_t slot = 0;
  json_array_foreach(json_object_get(dso, "frames"), i, fld) {
    size_t k;
    json_t *o;
    json_array_foreach(json_object_get(fld, "objects"), k, o)
      if (strcmp(sget(o, "address"), marker) == 0)
        slot = hex_of(sget(o, "slot"));
  }
  json_decref(dso);
  CU_ASSERT_FATAL(slot != 0);
  j = mln(f, index, slot);
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "stack");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "thread"), "os_id")), holder);
  CU_ASSERT(json_is_true(json_object_get(j, "in_use")));
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "frame.method"), marker_method));
  CU_ASSERT_STRING_EQUAL(sget(j, "reference.address"), marker);
  json_decref(j);

  /* JIT-compiled code: the return address in HoldMarker (compiled at run time, unoptimized) */
  snprintf(args, sizeof args, "stack '%s' %lld --index '%s'", f->dump, holder, index);
  json_t *stack = run_cli(args, &code);
  json_t *hold = frame_with(stack, marker_method);
  CU_ASSERT_PTR_NOT_NULL_FATAL(hold);
  uint64_t ip = hex_of(sget(hold, "ip"));
  j = mln(f, index, ip);
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "jit_code");
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "method.name"), marker_method));
  CU_ASSERT(json_is_true(json_object_get(json_object_get(j, "method"), "jitted")));
  uint64_t code_start = hex_of(sget(j, "method.code_start"));
  CU_ASSERT(code_start <= ip && ip - code_start == (uint64_t)json_integer_value(
                                                        json_object_get(json_object_get(j, "method"), "offset")));
  json_decref(j);
  /* precompiled code: Thread.Sleep's frame, in CoreLib's image */
  json_t *sleep = frame_with(stack, "System.Threading.Thread.Sleep");
  CU_ASSERT_PTR_NOT_NULL_FATAL(sleep);
  j = mln(f, index, hex_of(sget(sleep, "ip")));
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "module");
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "module.path"), "/System.Private.CoreLib.dll"));
  CU_ASSERT_STRING_EQUAL(sget(j, "module.format"), "PE");
  CU_ASSERT_STRING_EQUAL(sget(j, "section"), ".text");
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "method.name"), "System.Threading.Thread.Sleep"));
  json_decref(j);
  json_decref(stack);

  /* a GC handle: the only root of pinned.array is a pinned handle */
  const char *pinned = marker_address(f->truth, "pinned.array");
  snprintf(args, sizeof args, "gch '%s' --index '%s'", f->dump, index);
  json_t *gch = run_cli(args, &code);
  uint64_t handle = 0;
  json_array_foreach(json_object_get(json_object_get(json_object_get(gch, "kinds"), "pinned handle"), "handles"), i, fld)
    if (strcmp(sget(fld, "object.address"), pinned) == 0)
      handle = hex_of(sget(fld, "handle"));
  json_decref(gch);
  CU_ASSERT_FATAL(handle != 0);
  j = mln(f, index, handle);
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "handle");
  CU_ASSERT_STRING_EQUAL(sget(j, "handle.kind"), "pinned handle");
  CU_ASSERT_STRING_EQUAL(sget(j, "handle.object.address"), pinned);
  json_decref(j);

  /* a loader heap: Invoice's MethodTable lives in one */
  snprintf(args, sizeof args, "obj '%s' %s --index '%s'", f->dump, invoice_text, index);
  obj = run_cli(args, &code);
  j = mln(f, index, hex_of(sget(obj, "mt")));
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "loader_heap");
  CU_ASSERT(strlen(sget(j, "loader_heap")) > 0);
  json_decref(j);
  json_decref(obj);

  /* a module image: libcoreclr's .text, located by the section headers of the file on disk */
  const char *coreclr = sget(f->truth, "coreclr_path");
  snprintf(args, sizeof args, "info '%s'", f->dump);
  json_t *info = run_cli(args, &code);
  uint64_t base = 0;
  json_array_foreach(json_object_get(info, "modules"), i, fld)
    if (strcmp(sget(fld, "path"), coreclr) == 0)
      base = hex_of(sget(fld, "base"));
  json_decref(info);
  uint64_t text_start = 0, text_size = 0;
  CU_ASSERT_FATAL(base != 0 && elf_section_range(coreclr, ".text", &text_start, &text_size) && text_size > 64);
  uint64_t inside = text_start + text_size / 2;
  j = mln(f, index, base + inside);
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "module");
  CU_ASSERT_STRING_EQUAL(sget(j, "module.path"), coreclr);
  CU_ASSERT_STRING_EQUAL(sget(j, "section"), ".text");
  CU_ASSERT_STRING_EQUAL(sget(j, "segment.flags"), "r-x");
  CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(j, "offset")), inside);
  json_decref(j);

  /* nothing: the first page of the address space */
  j = mln(f, index, 0x10);
  CU_ASSERT_STRING_EQUAL(sget(j, "kind"), "unknown");
  CU_ASSERT(json_is_false(json_object_get(j, "in_dump")));
  json_decref(j);

  /* the text form says the same */
  snprintf(args, sizeof args, "mln '%s' 0x%llx --index '%s'", f->dump, (unsigned long long)slot, index);
  char *text = run_cli_text(args, &code);
  char expect[64];
  snprintf(expect, sizeof expect, "stack of thread %lld", holder);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, expect));
  free(text);
  /* a bad address is refused by parameter name */
  snprintf(args, sizeof args, "mln '%s' 0xZZ --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "addr"));
  json_decref(j);
}

/* ---- SOSEX options: mfrag -mt, finq GEN, dlk/mlocks/mwaits -d, strings of a module ---------------- */

/* The stack (with -d) of the thread with this OS id, NULL when the document has none. */
static json_t *stack_of(json_t *doc, long long os_id) {
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(doc, "stacks"), i, st)
    if (ival(st, "os_id") == os_id)
      return st;
  return NULL;
}

static bool has_frame(json_t *stack, const char *method) {
  size_t i;
  json_t *fr;
  json_array_foreach(json_object_get(stack, "frames"), i, fr)
    if (strstr(sget(fr, "method"), method))
      return true;
  return false;
}

/* mfrag -mt:MT lists only holders of that type: the fragmentation scenario's pinned arrays, each
 * holding open the gap the program walked before it. */
static void test_mfrag_mt(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  json_t *obj = cli_json(f, index, "obj", marker_address(f->truth, "fragmentation.pinned.first"));
  char rest[256];
  snprintf(rest, sizeof rest, "-mt:%s", sget(obj, "mt"));
  json_decref(obj);
  json_t *j = cli_json(f, index, "mfrag", rest);
  json_t *holders = json_object_get(j, "pinned_gap_holders");
  size_t i, g;
  json_t *h, *gap;
  json_array_foreach(holders, i, h) CU_ASSERT_STRING_EQUAL(sget(h, "type"), "Scenarios.FragCell[]");
  CU_ASSERT(ival(j, "pinned_gap_holders_count") <= 64);
  int gaps_checked = 0;
  json_array_foreach(json_object_get(json_object_get(json_object_get(f->truth, "scenario_data"), "fragmentation"), "gaps"),
                     g, gap) {
    if (strcmp(sget(gap, "walk"), "complete") != 0 || ival(gap, "free_objects") != 1 || ival(gap, "other_objects") != 0)
      continue;
    bool found = false;
    json_array_foreach(holders, i, h)
      found = found || (strcmp(sget(h, "address"), sget(gap, "to")) == 0 && strcmp(sget(h, "gap_start"), sget(gap, "from")) == 0 &&
                        ival(h, "gap_before") == ival(gap, "free_bytes"));
    CU_ASSERT(found);
    gaps_checked++;
  }
  CU_ASSERT(gaps_checked > 0);
  json_decref(j);
  /* a type that pins nothing holds no gap */
  json_t *inv = cli_json(f, index, "obj", marker_address(f->truth, "invoice.first"));
  snprintf(rest, sizeof rest, "--mt %s", sget(inv, "mt"));
  json_decref(inv);
  j = cli_json(f, index, "mfrag", rest);
  CU_ASSERT_EQUAL(ival(j, "pinned_gap_holders_count"), 0);
  json_decref(j);
  char args[8192];
  int code;
  snprintf(args, sizeof args, "mfrag '%s' -mt:zz --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "mt"));
  json_decref(j);
}

/* finq GEN: the finalizable objects of one generation; the generations add up to the whole queue,
 * and the scenario's 500 undisposed Finalizables are in their marker's generation. */
static void test_finq_gen(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  json_t *all = cli_json(f, index, "finq", "--stat");
  long long total = ival(all, "count"), sum = 0;
  json_decref(all);
  static const char *const gens[] = {"0", "1", "2", "loh", "poh"};
  long long marker_gen = -1;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(f->truth, "markers"), i, m)
    if (strcmp(sget(m, "name"), "finalizable.first") == 0)
      marker_gen = ival(m, "generation");
  for (size_t g = 0; g < 5; g++) {
    char rest[64];
    snprintf(rest, sizeof rest, "%s --stat", gens[g]);
    json_t *j = cli_json(f, index, "finq", rest);
    sum += ival(j, "count");
    json_t *row;
    json_array_foreach(json_object_get(j, "by_type"), i, row)
      if (strcmp(sget(row, "type"), sget(f->truth, "finalizer.type")) == 0)
        CU_ASSERT_EQUAL((long long)g, marker_gen); /* all 500 sit in one generation */
    if ((long long)g == marker_gen) {
      bool found = false;
      json_array_foreach(json_object_get(j, "by_type"), i, row)
        if (strcmp(sget(row, "type"), sget(f->truth, "finalizer.type")) == 0) {
          CU_ASSERT_EQUAL(ival(row, "count"), json_integer_value(json_object_get(json_object_get(f->truth, "finalizer"), "undisposed")));
          found = true;
        }
      CU_ASSERT(found);
    }
    json_decref(j);
  }
  CU_ASSERT_EQUAL(sum, total);
  char args[8192];
  int code;
  snprintf(args, sizeof args, "finq '%s' 7 --index '%s'", f->dump, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "gen"));
  json_decref(j);
}

/* -d: the stacks of every thread the lock documents name, each in the frame the truth says it is
 * blocked in. */
static void test_lock_details(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  static const char *const commands[] = {"dlk", "mlocks", "mwaits"};
  static const char *const threads[] = {"T1", "T2", "T3", "T4"};
  for (size_t c = 0; c < 3; c++) {
    json_t *plain = cli_json(f, index, commands[c], "");
    CU_ASSERT_PTR_NULL(json_object_get(plain, "stacks"));
    json_decref(plain);
    json_t *j = cli_json(f, index, commands[c], "-d");
    for (size_t t = 0; t < 4; t++) {
      long long os_id = thread_os_id(f->truth, threads[t]);
      json_t *st = stack_of(j, os_id);
      CU_ASSERT_PTR_NOT_NULL(st);
      size_t i;
      json_t *tt;
      json_array_foreach(json_object_get(f->truth, "threads"), i, tt)
        if (st && strcmp(sget(tt, "name"), threads[t]) == 0)
          CU_ASSERT(has_frame(st, sget(tt, "blocked_in")));
    }
    json_decref(j);
  }
  char args[8192];
  int code;
  snprintf(args, sizeof args, "dlk '%s' --index '%s'", f->dump, index);
  char *text = run_cli_text(args, &code);
  snprintf(args, sizeof args, "dlk '%s' -d --index '%s'", f->dump, index);
  char *details = run_cli_text(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  char expect[64];
  snprintf(expect, sizeof expect, "Thread %lld (managed", thread_os_id(f->truth, "T4"));
  CU_ASSERT_PTR_NULL(strstr(text, expect));
  CU_ASSERT_PTR_NOT_NULL(strstr(details, expect));
  free(text);
  free(details);
}

/* strings of one module: Scenarios.dll's literal that the JIT interned on the frozen heap */
static void test_module_strings(void) {
  const char *index;
  ds_fixture *f = main_fixture(&index);
  const char *literal = marker_address(f->truth, "string.literal");
  json_t *j = cli_json(f, index, "strings", "dumpscope-frozen --module Scenarios.dll");
  CU_ASSERT_EQUAL(ival(j, "matched"), 1);
  json_t *l = json_array_get(json_object_get(j, "literals"), 0);
  CU_ASSERT_STRING_EQUAL(sget(l, "value"), "dumpscope-frozen-literal-marker");
  CU_ASSERT_STRING_EQUAL(sget(l, "object.address"), literal);
  CU_ASSERT(strstr(sget(j, "module"), "/Scenarios.dll") != NULL);
  json_decref(j);
  /* by name without extension, every literal */
  j = cli_json(f, index, "strings", "--module scenarios");
  CU_ASSERT(ival(j, "matched") > 10);
  json_decref(j);
  char args[8192];
  int code;
  snprintf(args, sizeof args, "strings '%s' --module NoSuchModule.dll --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 3);
  json_decref(j);
  snprintf(args, sizeof args, "strings '%s' --module Scenarios.dll --duplicates --index '%s'", f->dump, index);
  j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(sget(j, "error.message"), "module"));
  json_decref(j);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("sosex", NULL, NULL);
  CU_add_test(s, "SOS spellings answer as the commands they stand for", test_sos_aliases);
  CU_add_test(s, "mln: object, interior, header, free block, stack, JIT and precompiled code, handle, loader heap, "
                 "module section, unknown", test_mln);
  CU_add_test(s, "mfrag -mt:MT: only that type's pinned gap holders, the truth's gaps among them", test_mfrag_mt);
  CU_add_test(s, "finq GEN: one generation's finalizable objects", test_finq_gen);
  CU_add_test(s, "dlk/mlocks/mwaits -d: every involved thread's stack", test_lock_details);
  CU_add_test(s, "strings --module: an assembly's literals and their heap objects", test_module_strings);
  return ds_test_main();
}
