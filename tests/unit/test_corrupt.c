/*
 * test_corrupt.c: bad input gets a specific error and never a crash: empty and random files, a
 * Windows minidump header, an ELF executable, truncated copies of a real dump, a core of a
 * process without .NET (gcore of sleep), and a real dump whose object has its MethodTable
 * overwritten (the walk names the object and the last good one, and goes on).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumpscope/analysis.h"
#include "fixture.h"

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  if (len)
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* Copies the first len bytes of src to dst (len = -1: all). */
static void copy_prefix(const char *src, const char *dst, off_t len) {
  int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CU_ASSERT_FATAL(in >= 0 && out >= 0);
  struct stat st;
  fstat(in, &st);
  off_t want = len < 0 ? st.st_size : len;
  off_t done = 0;
  while (done < want) {
    ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(want - done), 0);
    CU_ASSERT_FATAL(n > 0);
    done += n;
  }
  close(in);
  close(out);
}

static ds_status open_status(const char *path, ds_error *err) {
  ds_dump *dump = NULL;
  ds_status rc = ds_dump_open(path, &dump, err);
  ds_dump_close(dump);
  return rc;
}

static void test_not_dumps(void) {
  char path[512];
  ds_error err = {0};
  snprintf(path, sizeof path, "%s/empty", ds_test_tmpdir());
  write_file(path, "", 0);
  CU_ASSERT_EQUAL(open_status(path, &err), DS_E_FORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "empty"));

  unsigned char random_bytes[65536];
  unsigned seed = 12345;
  for (size_t i = 0; i < sizeof random_bytes; i++)
    random_bytes[i] = (unsigned char)(rand_r(&seed) >> 7);
  snprintf(path, sizeof path, "%s/random", ds_test_tmpdir());
  write_file(path, random_bytes, sizeof random_bytes);
  CU_ASSERT_EQUAL(open_status(path, &err), DS_E_FORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not a dump"));

  memcpy(random_bytes, "MDMP\x93\xa7\x00\x00", 8);
  snprintf(path, sizeof path, "%s/minidump", ds_test_tmpdir());
  write_file(path, random_bytes, 4096);
  CU_ASSERT_EQUAL(open_status(path, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "Windows minidump"));

  CU_ASSERT_EQUAL(open_status("/proc/self/exe", &err), DS_E_FORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not a core dump"));

  CU_ASSERT_EQUAL(open_status("/nonexistent/dump", &err), DS_E_IO);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "No such file"));
}

static void test_truncated_dumps(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  CU_ASSERT_FATAL(n > 0);
  /* a createdump dump: its last bytes are segment data (gdb's cores end with section headers,
     which nothing reads, so cutting their last page truncates nothing that is used) */
  const char *src = fx[0].dump;
  for (size_t i = n; i-- > 0;)
    if (strcmp(fx[i].kind, "core") != 0)
      src = fx[i].dump;
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(src, &st), 0);
  off_t cuts[] = {10, 40, 700, st.st_size / 3, st.st_size / 2, st.st_size - 4096, st.st_size - 1};
  char path[512];
  snprintf(path, sizeof path, "%s/truncated.dmp", ds_test_tmpdir());
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    copy_prefix(src, path, cuts[i]);
    ds_error err = {0};
    ds_status rc = open_status(path, &err);
    if (rc != DS_E_TRUNCATED)
      fprintf(stderr, "cut at %lld: %s (%s)\n", (long long)cuts[i], ds_status_name(rc), err.message);
    CU_ASSERT_EQUAL(rc, DS_E_TRUNCATED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "truncated"));
    if (cuts[i] > 100000) /* past the headers: the message names the segment */
      CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "extends past the end of the file"));
  }
  unlink(path);
}

static void test_non_dotnet_core(void) {
  char prefix[512], core[600];
  snprintf(prefix, sizeof prefix, "%s/sleep", ds_test_tmpdir());
  pid_t child = fork();
  CU_ASSERT_FATAL(child >= 0);
  if (child == 0) {
    execlp("sleep", "sleep", "300", (char *)NULL);
    _exit(127);
  }
  usleep(200 * 1000);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "gcore -o '%s' %d >/dev/null 2>&1", prefix, (int)child);
  int status = system(cmd);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  CU_ASSERT_EQUAL_FATAL(status, 0); /* gcore (from gdb) is part of the test toolchain */
  snprintf(core, sizeof core, "%s.%d", prefix, (int)child);
  ds_error err = {0};
  ds_dump *dump = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(core, &dump, &err), DS_OK);
  CU_ASSERT(ds_dump_thread_count(dump) >= 1);
  ds_runtime_info rt;
  CU_ASSERT_EQUAL(ds_runtime_identify(dump, &rt, &err), DS_E_NOT_DOTNET);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not a .NET process"));
  ds_dump_close(dump);
  unlink(core);
}

/* Overwrites the MethodTable of a marker object in a copy of a real dump. */
static void test_overwritten_method_table(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  ds_fixture *f = &fx[0];
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].kind, "heap") == 0) {
      f = &fx[i];
      break;
    }
  uint64_t victim = 0;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(f->truth, "markers"), i, m)
    if (strcmp(json_string_value(json_object_get(m, "name")), "invoice.last") == 0)
      ds_test_hex(json_string_value(json_object_get(m, "address")), &victim);
  CU_ASSERT_FATAL(victim != 0);

  ds_error err = {0};
  ds_dump *orig = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(f->dump, &orig, &err), DS_OK);
  uint64_t offset = 0;
  CU_ASSERT_FATAL(ds_dump_file_offset(orig, victim, &offset));
  ds_dump_close(orig);

  char path[512];
  snprintf(path, sizeof path, "%s/patched.dmp", ds_test_tmpdir());
  copy_prefix(f->dump, path, -1);
  int fd = open(path, O_WRONLY);
  CU_ASSERT_FATAL(fd >= 0);
  uint64_t garbage = 0x00004141414141a0ull;
  CU_ASSERT_EQUAL(pwrite(fd, &garbage, 8, (off_t)offset), 8);
  close(fd);

  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(path, &search, &a, &err), DS_OK);
  ds_walk_stats stats;
  CU_ASSERT_EQUAL_FATAL(ds_heap_walk(a->heap, -1, NULL, NULL, &stats, &err), DS_OK);
  CU_ASSERT_EQUAL(stats.error_count, 1);
  if (stats.error_count >= 1) {
    const ds_heap_error *e = &stats.errors[0];
    CU_ASSERT_EQUAL(e->object, victim);
    CU_ASSERT(e->last_good != 0 && e->last_good < victim);
    CU_ASSERT_EQUAL(e->mt, garbage & ~7ull);
    char want[128];
    snprintf(want, sizeof want, "object %llx does not have a valid MT", (unsigned long long)victim);
    CU_ASSERT_PTR_NOT_NULL(strstr(e->message, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "last good object"));
    const ds_segment *s = ds_heap_segment(a->heap, e->segment);
    CU_ASSERT(s && victim >= s->start && victim < s->end);
  }
  /* the walk went on with the other segments */
  ds_walk_stats clean;
  ds_analysis *b = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(f->dump, &search, &b, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_heap_walk(b->heap, -1, NULL, NULL, &clean, &err), DS_OK);
  CU_ASSERT(stats.objects < clean.objects);
  /* and past the damaged object: the walk resynchronised on the next one, so only the victim is
     missing (one bad object no longer hides the rest of its segment) */
  if (stats.objects != clean.objects - 1)
    fprintf(stderr, "walked %llu of %llu objects: %s\n", (unsigned long long)stats.objects, (unsigned long long)clean.objects, stats.error_count ? stats.errors[0].message : "");
  CU_ASSERT_EQUAL(stats.objects, clean.objects - 1);
  CU_ASSERT(stats.objects > clean.objects / 2);
  ds_walk_stats_free(&clean);
  ds_walk_stats_free(&stats);
  ds_analysis_close(b);
  ds_analysis_close(a);
  unlink(path);
}

/* A copy of a real dump with e_machine changed to aarch64, and one whose libcoreclr.so claims
 * .NET 5: both refused as unsupported, with a message that says what is supported. */
static void test_unsupported(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  ds_fixture *f = &fx[0];
  for (size_t i = 0; i < n; i++) /* (the SDK's .NET 10, not a net8.0/net9.0 publish) */
    if (strcmp(fx[i].kind, "full") == 0 && strcmp(fx[i].framework, "sdk") == 0)
      f = &fx[i];
  char path[512];
  snprintf(path, sizeof path, "%s/arm64.dmp", ds_test_tmpdir());
  copy_prefix(f->dump, path, 4096);
  int fd = open(path, O_WRONLY);
  CU_ASSERT_FATAL(fd >= 0);
  uint16_t machine = 183; /* EM_AARCH64 */
  CU_ASSERT_EQUAL(pwrite(fd, &machine, 2, 18), 2);
  close(fd);
  ds_error err = {0};
  CU_ASSERT_EQUAL(open_status(path, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "x86-64"));

  /* the version string lives in libcoreclr's data, which a full dump holds */
  ds_dump *dump = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(f->dump, &dump, &err), DS_OK);
  const ds_module *coreclr = ds_dump_find_module(dump, "libcoreclr.so");
  CU_ASSERT_PTR_NOT_NULL_FATAL(coreclr);
  uint64_t at = ds_dump_search(dump, coreclr->base, coreclr->end, "@(#)Version ", 12);
  uint64_t offset = 0;
  CU_ASSERT_FATAL(at != 0 && ds_dump_file_offset(dump, at + 12, &offset));
  char version[8];
  CU_ASSERT_FATAL(ds_dump_read_exact(dump, at + 12, version, 5));
  ds_dump_close(dump);
  snprintf(path, sizeof path, "%s/net5.dmp", ds_test_tmpdir());
  copy_prefix(f->dump, path, -1);
  fd = open(path, O_WRONLY);
  CU_ASSERT_FATAL(fd >= 0);
  /* "10.0." -> "5.0.1" keeps the length: version 5.0.1xxx */
  CU_ASSERT_EQUAL(pwrite(fd, "5.0.1", 5, (off_t)offset), 5);
  close(fd);
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(path, &dump, &err), DS_OK);
  ds_runtime_info rt;
  CU_ASSERT_EQUAL(ds_runtime_identify(dump, &rt, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 6 to 10"));
  ds_dump_close(dump);
  unlink(path);
}

/* A copy of a real dump whose libcoreclr.so claims .NET 11: a runtime newer than the newest
 * supported one is refused with a message naming what is supported, instead of being read with
 * .NET 10's object layout. */
static void test_newer_runtime(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("main", &fx);
  ds_fixture *f = &fx[0];
  for (size_t i = 0; i < n; i++) /* (the SDK's .NET 10, not a net8.0/net9.0 publish) */
    if (strcmp(fx[i].kind, "full") == 0 && strcmp(fx[i].framework, "sdk") == 0)
      f = &fx[i];
  ds_error err = {0};
  ds_dump *dump = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(f->dump, &dump, &err), DS_OK);
  const ds_module *coreclr = ds_dump_find_module(dump, "libcoreclr.so");
  CU_ASSERT_PTR_NOT_NULL_FATAL(coreclr);
  uint64_t at = ds_dump_search(dump, coreclr->base, coreclr->end, "@(#)Version ", 12);
  uint64_t offset = 0;
  CU_ASSERT_FATAL(at != 0 && ds_dump_file_offset(dump, at + 12, &offset));
  char version[4] = "";
  CU_ASSERT_FATAL(ds_dump_read_exact(dump, at + 12, version, 3));
  ds_dump_close(dump);
  CU_ASSERT_EQUAL_FATAL(memcmp(version, "10.", 3), 0); /* the fixtures run .NET 10 */
  char path[512];
  snprintf(path, sizeof path, "%s/net11.dmp", ds_test_tmpdir());
  copy_prefix(f->dump, path, -1);
  int fd = open(path, O_WRONLY);
  CU_ASSERT_FATAL(fd >= 0);
  /* "10." -> "11." keeps the length: version 11.0.xxx */
  CU_ASSERT_EQUAL(pwrite(fd, "11.", 3, (off_t)offset), 3);
  close(fd);
  CU_ASSERT_EQUAL_FATAL(ds_dump_open(path, &dump, &err), DS_OK);
  ds_runtime_info rt;
  CU_ASSERT_EQUAL(ds_runtime_identify(dump, &rt, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_EQUAL(rt.major, 11);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 6 to 10"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ".NET 11"));
  ds_dump_close(dump);
  /* the whole analysis stops there too */
  ds_analysis *a = NULL;
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL(ds_analysis_open(path, &search, &a, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_PTR_NULL(a);
  unlink(path);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("corrupt input", NULL, NULL);
  CU_add_test(s, "empty, random, minidump, executable, missing file", test_not_dumps);
  CU_add_test(s, "truncated copies of a real dump", test_truncated_dumps);
  CU_add_test(s, "a core of a process without .NET", test_non_dotnet_core);
  CU_add_test(s, "an object with its MethodTable overwritten", test_overwritten_method_table);
  CU_add_test(s, "a non-x86-64 core and a .NET 5 runtime are refused", test_unsupported);
  CU_add_test(s, "a runtime newer than the newest supported is refused", test_newer_runtime);
  return ds_test_main();
}
