/*
 * test_corpus.c: the corrupt-dump corpus (issue: hardening). One real heap dump is damaged the ways
 * an unlucky upload is damaged: cut short at several points, random pages over type data (the
 * MethodTables of Invoice and String), random bytes over object headers (truth markers), over
 * segment descriptors and over pages in the middle of segments, and a file that shrinks while it
 * is indexed. Every command a user runs first (index, verify, threads, roots, heapstat, deadlocks)
 * runs on each under a timeout, and under ASan+UBSan in that preset. Each must end with an exit
 * code of the README (0, 1, 3, 4), never a signal, a sanitizer report or a hang, and every failure
 * must say what is wrong. The damage is seeded, so a failure reproduces.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clirun.h"
#include "dumpscope/dump.h"

typedef struct corpus {
  ds_fixture *fx;
  char copy[4200], index[4300], err_path[4300], out_path[4300];
  uint64_t seed;
  size_t runs, failures_explained;
} corpus;

static uint64_t next_random(corpus *c) {
  c->seed ^= c->seed << 13;
  c->seed ^= c->seed >> 7;
  c->seed ^= c->seed << 17;
  return c->seed;
}

static void fresh_copy(corpus *c) {
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s'", c->fx->dump, c->copy, c->index);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
}

/* Random bytes over [addr, addr + len) of the copy, through the dump's own address map. */
static bool damage(corpus *c, uint64_t addr, size_t len) {
  ds_dump *dump = NULL;
  ds_error e = {0};
  uint64_t offset = 0;
  if (ds_dump_open(c->fx->dump, &dump, &e) != DS_OK)
    return false;
  bool mapped = ds_dump_file_offset(dump, addr, &offset);
  ds_dump_close(dump);
  if (!mapped)
    return false;
  unsigned char bytes[4096];
  if (len > sizeof bytes)
    len = sizeof bytes;
  for (size_t i = 0; i < len; i++)
    bytes[i] = (unsigned char)next_random(c);
  int fd = open(c->copy, O_WRONLY);
  bool ok = fd >= 0 && pwrite(fd, bytes, len, (off_t)offset) == (ssize_t)len;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* Runs one command on the damaged copy and checks how it ended; returns its exit code. */
static int run_checked(corpus *c, const char *variant, const char *command, const char *rest) {
  char cmd[12000];
  snprintf(cmd, sizeof cmd,
           "ASAN_OPTIONS=\"$ASAN_OPTIONS:exitcode=86\" UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1 "
           "timeout -k 5 180 '%s' %s '%s' %s --index '%s' >'%s' 2>'%s'",
           getenv("DUMPSCOPE_CLI"), command, c->copy, rest, c->index, c->out_path, c->err_path);
  int status = system(cmd);
  char err[8192] = "";
  FILE *f = fopen(c->err_path, "r");
  if (f) {
    size_t n = fread(err, 1, sizeof err - 1, f);
    err[n] = '\0';
    fclose(f);
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  bool allowed = code == 0 || code == 1 || code == 3 || code == 4;
  bool sanitizer = strstr(err, "AddressSanitizer") || strstr(err, "runtime error:") ||
                   strstr(err, "LeakSanitizer") || strstr(err, "internal error");
  /* a failure says what is wrong: "dumpscope: <specific text>"; heap corruption (4) names the bad
   * object ("heap error: object ... does not have a valid MT"), the bad reference or sync block
   * (verify), or the damaged list */
  const char *said = strstr(err, "dumpscope: ");
  snprintf(cmd, sizeof cmd,
           "grep -qE 'does not have a valid|is damaged|heap error|the reference at offset|"
           "names sync block|sync block number|names no sync block' '%s' '%s'",
           c->out_path, c->err_path);
  bool explained = code == 0 || (said && strlen(said) > strlen("dumpscope: ") + 20 && code != 4) ||
                   (code == 4 && system(cmd) == 0);
  c->runs++;
  if (code != 0 && explained)
    c->failures_explained++;
  char first_line[160] = "";
  if (said || err[0]) {
    snprintf(first_line, sizeof first_line, "%s", said ? said : err);
    first_line[strcspn(first_line, "\n")] = '\0';
  }
  printf("  corpus %-22s %-10s exit %-3d %s\n", variant, command, code, first_line);
  if (!allowed || sanitizer || !explained)
    fprintf(stderr, "corpus %s: `%s` ended with %d%s:\n%s\n", variant, command, code,
            code == 124 ? " (timeout: a hang)" : "", err);
  CU_ASSERT(allowed);
  CU_ASSERT(code != 124 && code < 128);
  CU_ASSERT(!sanitizer);
  CU_ASSERT(explained);
  return code;
}

/* The commands a user runs first; the index-backed ones only once an index exists. */
static void run_all(corpus *c, const char *variant, const char *marker) {
  int built = run_checked(c, variant, "index", "");
  run_checked(c, variant, "verify", "");
  if (built != 0 && built != 4)
    return;
  char rest[64];
  snprintf(rest, sizeof rest, "%s", marker);
  run_checked(c, variant, "threads", "");
  run_checked(c, variant, "roots", rest);
  run_checked(c, variant, "heapstat", "");
  run_checked(c, variant, "deadlocks", "");
}

/* The MethodTable of the object at a marker, from `obj --json` on the clean dump. */
static uint64_t marker_mt(ds_fixture *fx, const char *marker) {
  char args[4400];
  int code = 0;
  const char *at = marker_address(fx->truth, marker);
  if (!at)
    return 0;
  snprintf(args, sizeof args, "obj '%s' %s", fx->dump, at);
  json_t *doc = run_cli(args, &code);
  uint64_t mt = doc ? hex_of(sget(doc, "mt")) : 0;
  json_decref(doc);
  return mt;
}

static void test_corrupt_corpus(void) {
  ds_fixture *all;
  size_t n = ds_fixtures("main", &all);
  ds_fixture *fx = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i].variant, "wks") == 0 && strcmp(all[i].kind, "heap") == 0)
      fx = &all[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
  corpus c = {.fx = fx, .seed = 0x9e3779b97f4a7c15ull};
  snprintf(c.copy, sizeof c.copy, "%s/corpus.dmp", ds_test_tmpdir());
  snprintf(c.index, sizeof c.index, "%s/corpus.dsindex", ds_test_tmpdir());
  snprintf(c.err_path, sizeof c.err_path, "%s/corpus.err", ds_test_tmpdir());
  snprintf(c.out_path, sizeof c.out_path, "%s/corpus.out", ds_test_tmpdir());
  const char *first = marker_address(fx->truth, "invoice.first");
  const char *markers[] = {"invoice.first", "invoice.last", "pinned.array", "marker.local"};
  CU_ASSERT_PTR_NOT_NULL_FATAL(first);

  /* the clean dump's shape: its size, segments and the MethodTables of two hot types */
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(fx->dump, &st), 0);
  char args[4400], variant[64];
  int code = 0;
  snprintf(args, sizeof args, "eeheap '%s'", fx->dump);
  json_t *heap = run_cli(args, &code);
  json_t *segments = json_object_get(heap, "segments");
  CU_ASSERT_FATAL(json_array_size(segments) >= 3);
  uint64_t invoice_mt = marker_mt(fx, "invoice.first");
  uint64_t string_mt = marker_mt(fx, "string.large");
  CU_ASSERT_FATAL(invoice_mt != 0);

  /* 1. cut short */
  const double cuts[] = {0.05, 0.25, 0.5, 0.75, 0.95};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    fresh_copy(&c);
    CU_ASSERT_EQUAL_FATAL(truncate(c.copy, (off_t)((double)st.st_size * cuts[i]) & ~(off_t)4095), 0);
    snprintf(variant, sizeof variant, "truncated-%02d%%", (int)(cuts[i] * 100));
    run_all(&c, variant, first);
  }
  /* 2. random pages over type data */
  uint64_t mts[] = {invoice_mt, string_mt};
  for (size_t i = 0; i < 2; i++) {
    if (!mts[i])
      continue;
    fresh_copy(&c);
    CU_ASSERT_FATAL(damage(&c, mts[i] & ~4095ull, 4096));
    snprintf(variant, sizeof variant, "type-page-%s", i == 0 ? "invoice" : "string");
    run_all(&c, variant, first);
  }
  /* 3. object headers and MethodTable pointers of truth objects */
  for (size_t i = 0; i < sizeof markers / sizeof *markers; i++) {
    const char *at = marker_address(fx->truth, markers[i]);
    if (!at)
      continue;
    fresh_copy(&c);
    CU_ASSERT_FATAL(damage(&c, hex_of(at) - 8, 16));
    snprintf(variant, sizeof variant, "header-%s", markers[i]);
    run_all(&c, variant, i == 0 ? marker_address(fx->truth, markers[1]) : first);
  }
  /* 4. segment descriptors: the first, one in the middle, the last */
  size_t count = json_array_size(segments), picks[] = {0, count / 2, count - 1};
  for (size_t i = 0; i < 3; i++) {
    fresh_copy(&c);
    CU_ASSERT_FATAL(damage(&c, hex_of(sget(json_array_get(segments, picks[i]), "descriptor")), 64));
    snprintf(variant, sizeof variant, "segment-desc-%zu", picks[i]);
    run_all(&c, variant, first);
  }
  /* 5. random pages inside the largest segments */
  for (size_t i = 0; i < 4; i++) {
    json_t *seg = json_array_get(segments, next_random(&c) % count);
    uint64_t start = hex_of(sget(seg, "start")), end = hex_of(sget(seg, "end"));
    if (end <= start + 8192)
      continue;
    fresh_copy(&c);
    uint64_t at = (start + next_random(&c) % (end - start - 4096)) & ~4095ull;
    CU_ASSERT_FATAL(damage(&c, at, 4096));
    snprintf(variant, sizeof variant, "heap-page-%zu", i);
    run_all(&c, variant, first);
  }
  /* 6. a file that shrinks while it is indexed, at several moments of the build (the DAC, fed the
   * zero pages that replace a vanished file, once crashed here with SIGSEGV) */
  char cmd[9000];
  for (int ms = 100; ms <= 500; ms += 100) {
    fresh_copy(&c);
    snprintf(cmd, sizeof cmd, "(sleep 0.%d; truncate -s %lld '%s') &", ms / 100, (long long)st.st_size / 3, c.copy);
    CU_ASSERT_EQUAL(system(cmd), 0);
    snprintf(variant, sizeof variant, "shrinking-after-%dms", ms);
    run_checked(&c, variant, "index", "");
    usleep(600 * 1000); /* the truncation has happened before the next copy */
  }
  json_decref(heap);
  unlink(c.copy);
  unlink(c.index);
  printf("  corpus: %zu runs, %zu failures, each with its own message\n", c.runs, c.failures_explained);
  CU_ASSERT(c.runs >= 40);
  CU_ASSERT(c.failures_explained > 0);
}

int main(void) {
  CU_pSuite s = NULL;
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  s = CU_add_suite("corpus", NULL, NULL);
  CU_add_test(s, "a corrupt-dump corpus: exit codes, never a crash, hang or sanitizer report", test_corrupt_corpus);
  return ds_test_main();
}
