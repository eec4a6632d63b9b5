/*
 * test_sosex.c: the rest of the SOSEX reference and the SOS spellings, through the dumpscope
 * binary on real dumps, checked against the scenario truth: SOS aliases answer exactly what the
 * commands they stand for answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fixture.h"

/* Runs the CLI with args (--json added); returns its parsed stdout and sets *exit_code. */
static json_t *run_cli(const char *args, int *exit_code) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' %s --json 2>/dev/null", getenv("DUMPSCOPE_CLI"), args);
  FILE *p = popen(cmd, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  json_error_t jerr;
  json_t *j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &jerr);
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return j;
}

/* Runs the CLI without --json; returns its stdout (malloc'd) and sets *exit_code. */
static char *run_cli_text(const char *args, int *exit_code) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", getenv("DUMPSCOPE_CLI"), args);
  FILE *p = popen(cmd, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  size_t cap = 1 << 16, len = 0;
  char *text = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t got;
  while ((got = fread(text + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (len + 1 == cap) {
      cap *= 2;
      text = realloc(text, cap);
      CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    }
  }
  text[len] = '\0';
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return text;
}

static const char *marker_address(json_t *truth, const char *name) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
      return json_string_value(json_object_get(m, "address"));
  return NULL;
}

static long long thread_os_id(json_t *truth, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(truth, "threads"), i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
      return json_integer_value(json_object_get(t, "os_id"));
  return -1;
}

/* The main-wks-full fixture and an index of it in this test's scratch folder (built once). */
static ds_fixture *main_fixture(const char **index) {
  static char path[512];
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  ds_fixture *f = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].name, "main-wks-full") == 0)
      f = &fx[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  if (!path[0]) {
    snprintf(path, sizeof path, "%s/main-wks-full.dsindex", ds_test_tmpdir());
    char args[8192];
    int code;
    snprintf(args, sizeof args, "index '%s' --index '%s'", f->dump, path);
    json_decref(run_cli(args, &code));
    CU_ASSERT_EQUAL_FATAL(code, 0);
  }
  *index = path;
  return f;
}

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

/* mln ADDR --json on the main-wks-full index. */
static json_t *mln(ds_fixture *f, const char *index, uint64_t addr) {
  char args[8192];
  int code;
  snprintf(args, sizeof args, "mln '%s' 0x%llx --index '%s'", f->dump, (unsigned long long)addr, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

static const char *sget(json_t *o, const char *path) {
  char key[128];
  snprintf(key, sizeof key, "%s", path);
  json_t *cur = o;
  for (char *part = key, *dot; cur && part; part = dot ? dot + 1 : NULL) {
    dot = strchr(part, '.');
    if (dot)
      *dot = '\0';
    cur = json_object_get(cur, part);
  }
  const char *v = json_string_value(cur);
  return v ? v : "";
}

static uint64_t hex_of(const char *text) {
  uint64_t v = 0;
  ds_test_hex(text, &v);
  return v;
}

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

/* ---- mdt and mx -------------------------------------------------------------------------------- */

/* The element of a JSON array of objects whose "name" is name. */
static json_t *named(json_t *list, const char *name) {
  size_t i;
  json_t *x;
  json_array_foreach(list, i, x)
    if (strcmp(sget(x, "name"), name) == 0)
      return x;
  return NULL;
}

static json_t *cli_json(ds_fixture *f, const char *index, const char *command, const char *rest) {
  char args[8192];
  int code;
  snprintf(args, sizeof args, "%s '%s' %s --index '%s'", command, f->dump, rest, index);
  json_t *j = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

static long long ival(json_t *o, const char *key) { return (long long)json_integer_value(json_object_get(o, key)); }

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

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("sosex", NULL, NULL);
  CU_add_test(s, "SOS spellings answer as the commands they stand for", test_sos_aliases);
  CU_add_test(s, "mln: object, interior, header, free block, stack, JIT and precompiled code, handle, loader heap, "
                 "module section, unknown", test_mln);
  CU_add_test(s, "mdt of a type: Invoice's layout, statics with values, thread statics", test_mdt_type);
  CU_add_test(s, "mdt of an object: values, a value type inline, references followed, arrays", test_mdt_object);
  CU_add_test(s, "mx: types, fields and methods by pattern, and nothing else", test_mx);
  return ds_test_main();
}
