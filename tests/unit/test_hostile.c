/*
 * test_hostile.c: the CLI given hostile or unlucky paths (issue: hardening): a FIFO as the dump, as
 * --index or as DUMPSCOPE_DAC must not hang; --index naming a file that is not an index must not
 * replace it. Every run is under `timeout`, so a hang fails with exit 124 instead of blocking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include "dumpscope/dump.h"
#include "dumpscope/index.h"
#include "fixture.h"
#include "sha256.h"

/* Runs `timeout 20 dumpscope ARGS` with env (may be ""); returns the exit code, stderr in err. */
static int run(const char *env, const char *args, char *err, size_t err_len) {
  char cmd[8192], err_path[4200];
  snprintf(err_path, sizeof err_path, "%s/stderr.txt", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "%s timeout 20 '%s' %s >/dev/null 2>'%s'", env, getenv("DUMPSCOPE_CLI"), args, err_path);
  int status = system(cmd);
  FILE *f = fopen(err_path, "r");
  size_t n = f ? fread(err, 1, err_len - 1, f) : 0;
  err[n] = '\0';
  if (f)
    fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void file_sha(const char *path, char out[65]) {
  FILE *f = fopen(path, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)len);
  CU_ASSERT_FATAL(data && fread(data, 1, (size_t)len, f) == (size_t)len);
  fclose(f);
  ds_test_sha256_hex(data, (size_t)len, out);
  free(data);
}

static void test_fifos_do_not_hang(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char fifo[4200], args[8800], env[4400], err[4096];
  snprintf(fifo, sizeof fifo, "%s/fifo", ds_test_tmpdir());
  unlink(fifo);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);

  snprintf(args, sizeof args, "summary '%s'", fifo);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));

  snprintf(args, sizeof args, "summary '%s' --index '%s'", fx[0].dump, fifo);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));

  snprintf(args, sizeof args, "index '%s' --index '%s/x.dsindex'", fx[0].dump, ds_test_tmpdir());
  snprintf(env, sizeof env, "DUMPSCOPE_DAC='%s'", fifo);
  CU_ASSERT_EQUAL(run(env, args, err, sizeof err), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "DAC"));

  snprintf(args, sizeof args, "info '%s'", ds_test_tmpdir());
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "Is a directory"));
}

static void test_index_never_replaces_other_files(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char victim[4200], cmd[8800], args[8800], err[4096], before[65], after[65];
  snprintf(victim, sizeof victim, "%s/victim.dmp", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fx[0].dump, victim);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  file_sha(victim, before);
  snprintf(args, sizeof args, "summary '%s' --index '%s'", fx[0].dump, victim);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a dumpscope index"));
  snprintf(args, sizeof args, "index '%s' --index '%s'", fx[0].dump, victim);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 2);
  file_sha(victim, after);
  CU_ASSERT_STRING_EQUAL(before, after);
  unlink(victim);
}

/* A flipped byte deep inside the index: opening is cheap and does not notice; the first query that
 * touches the damaged section does, and the CLI then rebuilds the index once and answers. */
static void test_damaged_section_is_rebuilt(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char index[4200], args[8800], err[4096];
  snprintf(index, sizeof index, "%s/damaged.dsindex", ds_test_tmpdir());
  snprintf(args, sizeof args, "index '%s' --index '%s'", fx[0].dump, index);
  CU_ASSERT_EQUAL_FATAL(run("", args, err, sizeof err), 0);
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(index, &st), 0);
  int fd = open(index, O_RDWR);
  CU_ASSERT_FATAL(fd >= 0);
  uint8_t byte;
  off_t where = st.st_size / 2;
  CU_ASSERT_EQUAL_FATAL(pread(fd, &byte, 1, where), 1);
  byte ^= 0x5a;
  CU_ASSERT_EQUAL_FATAL(pwrite(fd, &byte, 1, where), 1);
  close(fd);
  ds_index *idx = NULL;
  ds_error e = {0};
  CU_ASSERT_EQUAL_FATAL(ds_index_open(index, &idx, &e), DS_OK);
  CU_ASSERT_EQUAL(ds_index_verify_all(idx, &e), DS_E_CORRUPT);
  ds_index_close(idx);
  const char *queries[] = {"roots", "refs", "obj"};
  const char *invoice = NULL;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(fx[0].truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), "invoice.first") == 0)
      invoice = json_string_value(json_object_get(m, "address"));
  CU_ASSERT_PTR_NOT_NULL_FATAL(invoice);
  for (size_t q = 0; q < 3; q++) {
    snprintf(args, sizeof args, "%s '%s' %s --index '%s'", queries[q], fx[0].dump, invoice, index);
    int code = run("", args, err, sizeof err);
    if (code != 0)
      fprintf(stderr, "%s: exit %d: %s\n", args, code, err);
    CU_ASSERT_EQUAL(code, 0);
  }
  CU_ASSERT_EQUAL_FATAL(ds_index_open(index, &idx, &e), DS_OK);
  CU_ASSERT_EQUAL(ds_index_verify_all(idx, &e), DS_OK);
  ds_index_close(idx);

  /* a build killed half-way left "<index>.tmp.<pid>": the next build removes it */
  char stale[4300];
  snprintf(stale, sizeof stale, "%s.tmp.999999999", index);
  FILE *f = fopen(stale, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fclose(f);
  snprintf(args, sizeof args, "index '%s' --index '%s'", fx[0].dump, index);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 0);
  CU_ASSERT_NOT_EQUAL(access(stale, F_OK), 0);
}

/* The dump shrinks while it is read: reads past the new end see zeros instead of killing the
 * process with SIGBUS, and the dump says it changed; the CLI says so too. */
static void test_shrinking_dump(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char copy[4200], cmd[8800];
  snprintf(copy, sizeof copy, "%s/shrinking.dmp", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fx[0].dump, copy);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  ds_dump *dump = NULL;
  ds_error e = {0};
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(copy, &dump, &e), DS_OK);
  CU_ASSERT_FALSE(ds_dump_changed(dump));
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(copy, &st), 0);
  CU_ASSERT_EQUAL_FATAL(truncate(copy, st.st_size / 8), 0);
  /* read every segment's span: those past the cut raised SIGBUS before */
  uint8_t buf[4096];
  for (size_t i = 0; i < ds_dump_module_count(dump); i++)
    ds_dump_read(dump, ds_dump_module(dump, i)->base, buf, sizeof buf);
  CU_ASSERT_TRUE(ds_dump_changed(dump));
  ds_dump_close(dump);
  unlink(copy);
}

/* Bad arguments exit 2 with a message that names what is wrong. */
static void test_bad_arguments(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  const struct {
    const char *command, *argument, *message;
  } cases[] = {
      {"gcgen", "-1", "needs an object address"},
      {"dumpobj", "zz", "dumpobj needs"},
      {"mt", "0x1234567890abcdef12", "needs a MethodTable address"},
      {"heapstat", "--min", "--min needs a value"},
      {"roots", "0x1234567890abcdef12", "must be an address"},
      {"gen", "7", "unknown generation"},
  };
  char args[8800], err[4096];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    snprintf(args, sizeof args, "%s '%s' %s", cases[i].command, fx[0].dump, cases[i].argument);
    int code = run("", args, err, sizeof err);
    if (code != 2 || !strstr(err, cases[i].message))
      fprintf(stderr, "%s: exit %d, %s\n", args, code, err);
    CU_ASSERT_EQUAL(code, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].message));
  }
}

/* A dump in a folder the user cannot write: the index goes to the user's cache folder, and the
 * command says where. Run as nobody (root may write anywhere). */
static void test_read_only_folder(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("locks", &fx);
  CU_ASSERT_FATAL(n > 0);
  char dir[4200], home[4200], cmd[16384], err[4096];
  snprintf(dir, sizeof dir, "%s/readonly", ds_test_tmpdir());
  snprintf(home, sizeof home, "%s/nobody-home", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s' '%s' && cp '%s' '%s/app.dmp' && chmod 755 '%s' && chmod 644 '%s/app.dmp' && chmod 777 '%s' "
           "&& chmod o+x '%s'",
           dir, home, fx[0].dump, dir, dir, dir, home, ds_test_tmpdir());
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  char env[8800], args[8800];
  snprintf(env, sizeof env, "HOME='%s' XDG_CACHE_HOME= setpriv --reuid=65534 --regid=65534 --clear-groups", home);
  snprintf(args, sizeof args, "summary '%s/app.dmp'", dir);
  int code = run(env, args, err, sizeof err);
  if (code != 0)
    fprintf(stderr, "read-only folder: exit %d: %s\n", code, err);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not writable; the index goes to"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "/.cache/dumpscope/index/app.dmp-"));
  snprintf(cmd, sizeof cmd, "ls '%s/.cache/dumpscope/index/' | grep -q '^app.dmp-.*\\.dsindex$'", home);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

/* A heap with a damaged object: `index` exits 4, every answer from that index carries the damage in
 * `warnings` (JSON) or a warning line (text), and the walk went past the damage. */
static void test_damaged_heap_is_reported(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  const char *victim_text = NULL;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(fx[0].truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), "invoice.last") == 0)
      victim_text = json_string_value(json_object_get(m, "address"));
  uint64_t victim = 0;
  CU_ASSERT_FATAL(victim_text && ds_test_hex(victim_text, &victim));
  ds_dump *dump = NULL;
  ds_error e = {0};
  uint64_t offset = 0;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(fx[0].dump, &dump, &e), DS_OK);
  CU_ASSERT_FATAL(ds_dump_file_offset(dump, victim, &offset));
  ds_dump_close(dump);
  char copy[4200], index[4300], cmd[9000], args[9000], err[4096];
  snprintf(copy, sizeof copy, "%s/damaged-heap.dmp", ds_test_tmpdir());
  snprintf(index, sizeof index, "%s.dsindex", copy);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s'", fx[0].dump, copy, index);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  int fd = open(copy, O_WRONLY);
  uint64_t garbage = 0x00004141414141a0ull;
  CU_ASSERT_EQUAL_FATAL(pwrite(fd, &garbage, 8, (off_t)offset), 8);
  close(fd);

  snprintf(args, sizeof args, "index '%s'", copy);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 4);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "the heap is damaged"));

  char out_path[4300];
  snprintf(out_path, sizeof out_path, "%s/summary.json", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "'%s' heapstat '%s' --live --json > '%s'", getenv("DUMPSCOPE_CLI"), copy, out_path);
  CU_ASSERT_EQUAL(system(cmd), 0);
  json_error_t jerr;
  json_t *doc = json_load_file(out_path, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  const char *warning = json_string_value(json_array_get(json_object_get(doc, "warnings"), 0));
  CU_ASSERT_PTR_NOT_NULL(warning);
  CU_ASSERT_PTR_NOT_NULL(warning ? strstr(warning, victim_text + 2) : NULL);
  json_decref(doc);

  snprintf(args, sizeof args, "deadlocks '%s'", copy);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "warning: the heap is damaged"));
  unlink(copy);
  unlink(index);
}

/* A damaged segment list (the descriptor of a gen2 segment overwritten): the build says which list
 * is damaged and exits 4, and what does not need the heap (threads, stacks) still answers, with the
 * damage as a warning. Before, every command failed with "memory missing from the dump". */
static void test_damaged_segment_list(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char copy[4200], index[4300], cmd[9000], args[9000], err[4096], out_path[4300];
  snprintf(copy, sizeof copy, "%s/damaged-segments.dmp", ds_test_tmpdir());
  snprintf(index, sizeof index, "%s.dsindex", copy);
  snprintf(out_path, sizeof out_path, "%s/eeheap.json", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "'%s' eeheap '%s' --json > '%s'", getenv("DUMPSCOPE_CLI"), fx[0].dump, out_path);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  json_error_t jerr;
  json_t *doc = json_load_file(out_path, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  /* the first gen2 segment: its list goes on after it, so the damage hides the rest of the list */
  uint64_t victim = 0;
  size_t i, gen2_count = 0;
  json_t *seg;
  json_array_foreach(json_object_get(doc, "segments"), i, seg)
    if (strcmp(json_string_value(json_object_get(seg, "generation")), "gen2") == 0 && gen2_count++ == 0)
      CU_ASSERT_FATAL(ds_test_hex(json_string_value(json_object_get(seg, "descriptor")), &victim));
  json_decref(doc);
  CU_ASSERT_FATAL(victim != 0 && gen2_count >= 2);

  ds_dump *dump = NULL;
  ds_error e = {0};
  uint64_t offset = 0;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(fx[0].dump, &dump, &e), DS_OK);
  CU_ASSERT_FATAL(ds_dump_file_offset(dump, victim, &offset));
  ds_dump_close(dump);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s'", fx[0].dump, copy, index);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  unsigned char garbage[64];
  memset(garbage, 0x41, sizeof garbage);
  int fd = open(copy, O_WRONLY);
  CU_ASSERT_EQUAL_FATAL(pwrite(fd, garbage, sizeof garbage, (off_t)offset), (ssize_t)sizeof garbage);
  close(fd);

  char where[64];
  snprintf(where, sizeof where, "0x%llx", (unsigned long long)victim); /* the bad one or its link */
  snprintf(args, sizeof args, "index '%s'", copy);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 4);
  snprintf(args, sizeof args, "verify '%s'", copy);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 4);

  /* threads answer from the index, every truth thread with its OS id, and carry the warning */
  snprintf(cmd, sizeof cmd, "'%s' threads '%s' --json > '%s'", getenv("DUMPSCOPE_CLI"), copy, out_path);
  CU_ASSERT_EQUAL(system(cmd), 0);
  doc = json_load_file(out_path, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  const char *warning = json_string_value(json_array_get(json_object_get(doc, "warnings"), 0));
  CU_ASSERT_PTR_NOT_NULL(warning ? strstr(warning, "gen2 segment list of heap 0 is damaged") : NULL);
  CU_ASSERT_PTR_NOT_NULL(warning ? strstr(warning, where) : NULL);
  json_t *truth_threads = json_object_get(fx[0].truth, "threads"), *tt, *t;
  size_t j, k, matched = 0;
  CU_ASSERT_FATAL(json_array_size(truth_threads) > 0);
  json_array_foreach(truth_threads, j, tt)
    json_array_foreach(json_object_get(doc, "threads"), k, t)
      if (json_integer_value(json_object_get(t, "os_id")) == json_integer_value(json_object_get(tt, "os_id")))
        matched++;
  CU_ASSERT_EQUAL(matched, json_array_size(truth_threads));
  json_decref(doc);

  /* the marker holder's stack still shows the method the truth names */
  json_array_foreach(truth_threads, j, tt) {
    if (strcmp(json_string_value(json_object_get(tt, "name")), "marker-holder") != 0)
      continue;
    snprintf(cmd, sizeof cmd, "'%s' stack '%s' %lld > '%s' 2>/dev/null", getenv("DUMPSCOPE_CLI"), copy,
             (long long)json_integer_value(json_object_get(tt, "managed_id")), out_path);
    CU_ASSERT_EQUAL(system(cmd), 0);
    FILE *f = fopen(out_path, "r");
    char text[16384];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
      fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, json_string_value(json_object_get(tt, "blocked_in"))));
  }
  unlink(copy);
  unlink(index);
}

/* Lists paged by position page from the CLI too: --after N skips the first N rows. */
static void test_cli_paging(void) {
  ds_fixture *fx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  char path[4300], cmd[9000];
  json_error_t jerr;
  snprintf(path, sizeof path, "%s/page.json", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "'%s' gen '%s' 2 --limit 4 --json > '%s'", getenv("DUMPSCOPE_CLI"), fx[0].dump, path);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  json_t *all = json_load_file(path, 0, &jerr);
  snprintf(cmd, sizeof cmd, "'%s' gen '%s' 2 --limit 2 --after 2 --json > '%s'", getenv("DUMPSCOPE_CLI"), fx[0].dump,
           path);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  json_t *page = json_load_file(path, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(all);
  CU_ASSERT_PTR_NOT_NULL_FATAL(page);
  json_t *a = json_object_get(all, "types"), *p = json_object_get(page, "types");
  CU_ASSERT_EQUAL(json_array_size(p), 2);
  CU_ASSERT(json_equal(json_array_get(a, 2), json_array_get(p, 0)));
  CU_ASSERT(json_equal(json_array_get(a, 3), json_array_get(p, 1)));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(page, "next_cursor")), "4");
  json_decref(all);
  json_decref(page);
}

/* Another dump copied over app.dmp while app.dmp.dsindex stays: the index is bound to its dump and
 * is rebuilt, never answered from (the old index would describe the other process). */
static void test_foreign_index_is_rebuilt(void) {
  ds_fixture *fx, *lx;
  CU_ASSERT_FATAL(ds_fixtures("main", &fx) > 0);
  CU_ASSERT_FATAL(ds_fixtures("locks", &lx) > 0);
  char app[4200], cmd[9000], args[9000], err[4096];
  snprintf(app, sizeof app, "%s/app.dmp", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s.dsindex'", fx[0].dump, app, app);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  snprintf(args, sizeof args, "deadlocks '%s'", app);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 0);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", lx[0].dump, app);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  char out_path[4300];
  snprintf(out_path, sizeof out_path, "%s/threads.json", ds_test_tmpdir());
  snprintf(cmd, sizeof cmd, "'%s' threads '%s' --json > '%s' 2>/dev/null", getenv("DUMPSCOPE_CLI"), app, out_path);
  CU_ASSERT_EQUAL(system(cmd), 0);
  json_error_t jerr;
  json_t *doc = json_load_file(out_path, 0, &jerr);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  /* the answer is the locks process's: its truth's thread ids, not the main process's */
  json_int_t want = json_integer_value(json_object_get(json_array_get(json_object_get(lx[0].truth, "threads"), 0), "os_id"));
  bool found = false;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(doc, "threads"), i, t)
    found = found || json_integer_value(json_object_get(t, "os_id")) == want;
  CU_ASSERT_TRUE(found);
  json_decref(doc);
  snprintf(args, sizeof args, "summary '%s'", app);
  CU_ASSERT_EQUAL(run("", args, err, sizeof err), 0);
  unlink(app);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("hostile paths", NULL, NULL);
  CU_add_test(s, "a FIFO as dump, index or DAC is refused, never waited on", test_fifos_do_not_hang);
  CU_add_test(s, "--index never replaces a file that is not an index", test_index_never_replaces_other_files);
  CU_add_test(s, "a damaged section found by a query is rebuilt once, then answered", test_damaged_section_is_rebuilt);
  CU_add_test(s, "a dump truncated while being read is reported, not a SIGBUS", test_shrinking_dump);
  CU_add_test(s, "bad arguments exit 2 and say what is wrong", test_bad_arguments);
  CU_add_test(s, "a dump in a read-only folder gets its index in the user's cache", test_read_only_folder);
  CU_add_test(s, "a damaged heap: index exits 4 and every answer carries a warning", test_damaged_heap_is_reported);
  CU_add_test(s, "--after pages position-paged lists from the CLI", test_cli_paging);
  CU_add_test(s, "a damaged segment list is named; threads and stacks still answer", test_damaged_segment_list);
  CU_add_test(s, "an index left from another dump at the same path is rebuilt", test_foreign_index_is_rebuilt);
  return ds_test_main();
}
