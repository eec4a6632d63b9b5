/*
 * test_verify.c: heap verification (verify.h, `dumpscope verify`) beyond the walk. Every fixture
 * verifies clean with references and (where the process locks) sync blocks actually checked; a
 * copy of the real locks dump with reference fields and headers of truth objects overwritten at
 * their file offsets (real damage in a real dump) reports exactly those objects, with the field,
 * its offset and the bad value, and each header whose sync block number disagrees with the
 * runtime's sync block table.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clirun.h"
#include "dumpscope/analysis.h"
#include "dumpscope/dacstack.h"
#include "dumpscope/verify.h"
#include "fixture.h"

static ds_status verify_dump(const char *dump, ds_verify_result *r, ds_analysis **out) {
  ds_error err = {0};
  ds_dac_search search = {.offline = true};
  ds_status rc = ds_analysis_open(dump, &search, out, &err);
  if (rc != DS_OK)
    return rc;
  ds_sync_block *sync_blocks = NULL;
  size_t count = 0;
  rc = ds_dac_sync_blocks((*out)->dac, &sync_blocks, &count, &err);
  if (rc == DS_OK)
    rc = ds_heap_verify((*out)->heap, sync_blocks, count, r, &err);
  if (rc != DS_OK)
    fprintf(stderr, "%s: %s\n", dump, err.message);
  free(sync_blocks);
  return rc;
}

static void test_fixtures_verify_clean(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures(NULL, &fx);
  CU_ASSERT_FATAL(n > 0);
  for (size_t i = 0; i < n; i++) {
    ds_analysis *a = NULL;
    ds_verify_result r;
    CU_ASSERT_EQUAL_FATAL(verify_dump(fx[i].dump, &r, &a), DS_OK);
    for (size_t e = 0; e < r.error_count && e < 5; e++)
      fprintf(stderr, "%s: %s\n", fx[i].name, r.errors[e].message);
    CU_ASSERT_EQUAL(r.walk.error_count, 0);
    CU_ASSERT_EQUAL(r.error_count, 0);
    CU_ASSERT(r.references > r.walk.objects / 4); /* references were checked, not skipped */
    if (strcmp(fx[i].process, "locks") == 0 || strcmp(fx[i].process, "main") == 0)
      CU_ASSERT(r.sync_blocks > 0); /* both processes inflate monitors */
    ds_verify_result_free(&r);
    ds_analysis_close(a);
  }
}

/* A truth lock's address. */
static uint64_t lock_address(json_t *truth, const char *name) {
  size_t i;
  json_t *l;
  uint64_t addr = 0;
  json_array_foreach(json_object_get(truth, "locks"), i, l)
    if (strcmp(json_string_value(json_object_get(l, "name")), name) == 0)
      ds_test_hex(json_string_value(json_object_get(l, "address")), &addr);
  return addr;
}

/* The offset of the instance field `name` of the object at addr, read through the DAC. */
static uint64_t field_offset(ds_analysis *a, uint64_t addr, const char *name) {
  uint32_t ti = UINT32_MAX;
  ds_heap_object_size(a->heap, addr, &ti);
  CU_ASSERT_FATAL(ti != UINT32_MAX);
  ds_field *fields = NULL;
  size_t count = 0;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_type_fields(a, ds_heap_type(a->heap, ti)->mt, false, &fields, &count, &err), DS_OK);
  uint64_t offset = 0;
  for (size_t i = 0; i < count; i++)
    if (strcmp(fields[i].name, name) == 0)
      offset = fields[i].offset;
  free(fields);
  CU_ASSERT_FATAL(offset != 0);
  return offset;
}

/* The first free object of the heap (the GC's filler between objects). */
typedef struct first_free {
  ds_heap *heap;
  uint64_t address;
} first_free;

static bool find_free(void *ctx, const ds_heap_object *o) {
  first_free *f = ctx;
  if (ds_heap_type(f->heap, o->type)->flags & DS_TYPE_FREE) {
    f->address = o->address;
    return false;
  }
  return true;
}

typedef struct damage {
  const char *lock;      /* the truth lock whose object is damaged */
  bool header;           /* the header word (else the Name field) */
  uint64_t value;        /* written there (header: 32 bits); 0 with a target: target + 8 */
  const char *target;    /* a lock whose object the value points into ("free": at a free object) */
  uint32_t kind;         /* the finding expected */
  const char *says;      /* in its message */
  uint64_t address, offset, written;
} damage;

static const ds_verify_error *finding_for(const ds_verify_result *r, uint64_t object) {
  for (size_t i = 0; i < r->error_count; i++)
    if (r->errors[i].object == object)
      return &r->errors[i];
  return NULL;
}

static void test_damaged_references_and_headers(void) {
  ds_fixture *fx;
  size_t n = ds_fixtures("locks", &fx);
  CU_ASSERT_FATAL(n > 0);
  ds_fixture *f = &fx[0];
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].kind, "heap") == 0)
      f = &fx[i];
  damage d[] = {
      {"A", false, 0xccccccccccccccccull, NULL, DS_VERIFY_REFERENCE, "is not pointer aligned", 0, 0, 0},
      {"B", false, 0, "A", DS_VERIFY_REFERENCE, "not at the start of an object", 0, 0, 0},
      {"X", false, 0x10000, NULL, DS_VERIFY_REFERENCE, "is not in the GC heap", 0, 0, 0},
      {"M", false, 0, "free", DS_VERIFY_REFERENCE, "points at a free object", 0, 0, 0},
      {"Y", true, 0x08000000, NULL, DS_VERIFY_SYNC_BLOCK, "sync block number 0", 0, 0, 0},
      {"HI", true, 0x08000000 | 4000, NULL, DS_VERIFY_SYNC_BLOCK, "names sync block 4000, which is not in use", 0, 0, 0},
      {"Z", true, 0, NULL, DS_VERIFY_SYNC_BLOCK, "whose header 00000000 names no sync block", 0, 0, 0},
  };
  size_t count = sizeof d / sizeof *d;

  /* where each damage goes, from the clean dump */
  ds_analysis *a = NULL;
  ds_error err = {0};
  ds_dac_search search = {.offline = true};
  CU_ASSERT_EQUAL_FATAL(ds_analysis_open(f->dump, &search, &a, &err), DS_OK);
  char path[512];
  snprintf(path, sizeof path, "%s/damaged-refs.dmp", ds_test_tmpdir());
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cp --reflink=auto '%s' '%s'", f->dump, path);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  int fd = open(path, O_WRONLY);
  CU_ASSERT_FATAL(fd >= 0);
  ds_dump *dump = ds_heap_dump(a->heap);
  first_free free_object = {a->heap, 0};
  ds_walk_stats walked;
  CU_ASSERT_EQUAL_FATAL(ds_heap_walk(a->heap, -1, find_free, &free_object, &walked, &err), DS_OK);
  ds_walk_stats_free(&walked);
  CU_ASSERT_FATAL(free_object.address != 0);
  for (size_t i = 0; i < count; i++) {
    d[i].address = lock_address(f->truth, d[i].lock);
    CU_ASSERT_FATAL(d[i].address != 0);
    uint64_t at = d[i].header ? d[i].address - 4 : d[i].address + field_offset(a, d[i].address, "Name");
    d[i].offset = d[i].header ? 0 : at - d[i].address;
    if (d[i].target && strcmp(d[i].target, "free") == 0)
      d[i].written = free_object.address;
    else
      d[i].written = d[i].target ? lock_address(f->truth, d[i].target) + 8 : d[i].value;
    uint64_t file_offset = 0;
    CU_ASSERT_FATAL(ds_dump_file_offset(dump, at, &file_offset));
    size_t len = d[i].header ? 4 : 8;
    CU_ASSERT_EQUAL_FATAL(pwrite(fd, &d[i].written, len, (off_t)file_offset), (ssize_t)len);
  }
  close(fd);
  ds_analysis_close(a);

  ds_verify_result r;
  CU_ASSERT_EQUAL_FATAL(verify_dump(path, &r, &a), DS_OK);
  CU_ASSERT_EQUAL(r.walk.error_count, 0); /* every object is still walkable */
  for (size_t e = 0; r.error_count != count && e < r.error_count && e < 20; e++)
    fprintf(stderr, "found: %s\n", r.errors[e].message);
  CU_ASSERT_EQUAL(r.error_count, count); /* exactly the damage, nothing else */
  for (size_t i = 0; i < count; i++) {
    const ds_verify_error *e = finding_for(&r, d[i].address);
    if (!e)
      fprintf(stderr, "no finding for lock %s at %llx\n", d[i].lock, (unsigned long long)d[i].address);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->kind, d[i].kind);
    CU_ASSERT_PTR_NOT_NULL(strstr(e->message, d[i].says));
    if (d[i].kind == DS_VERIFY_REFERENCE) {
      CU_ASSERT_EQUAL(e->offset, d[i].offset);
      CU_ASSERT_EQUAL(e->value, d[i].written);
    } else {
      CU_ASSERT_EQUAL(e->value, (uint32_t)d[i].written);
    }
  }
  ds_verify_result_free(&r);
  ds_analysis_close(a);

  /* the CLI names the field and exits 4 */
  int code = -1;
  char args[600];
  snprintf(args, sizeof args, "verify '%s'", path);
  json_t *doc = run_cli(args, &code);
  CU_ASSERT_EQUAL(code, 4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  CU_ASSERT(json_is_false(json_object_get(doc, "ok")));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "error_count")), (json_int_t)count);
  size_t named_fields = 0, k;
  json_t *e;
  json_array_foreach(json_object_get(doc, "errors"), k, e)
    if (strcmp(sget(e, "kind"), "reference") == 0) {
      CU_ASSERT_STRING_EQUAL(sget(e, "field"), "Name");
      named_fields++;
    }
  CU_ASSERT_EQUAL(named_fields, 4);
  json_decref(doc);
  char *text = run_cli_text(args, &code);
  CU_ASSERT_EQUAL(code, 4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  char want[64];
  snprintf(want, sizeof want, "%zu error(s) found", count);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "(field Name)"));
  free(text);
  unlink(path);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("verify", NULL, NULL);
  CU_add_test(s, "every fixture verifies clean, references and sync blocks checked", test_fixtures_verify_clean);
  CU_add_test(s, "damaged reference fields and headers in a real dump are each reported",
              test_damaged_references_and_headers);
  return ds_test_main();
}
