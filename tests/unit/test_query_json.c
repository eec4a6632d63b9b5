/*
 * test_query_json.c: a query's document is whole or it is an error. A tiny index written here (three
 * objects, two types) answers normally; the same index with a type name that is not UTF-8 (which
 * jansson refuses) makes the queries that print the name fail with DS_E_CORRUPT instead of
 * returning a document with the member silently missing.
 */
#include <stdio.h>
#include <string.h>

#include "dumpscope/query.h"
#include "dumpscope/roots.h"
#include "fixture.h"

static void write_index(const char *path, const char *node_name) {
  ds_strpool pool = {0};
  ds_strpool_add(&pool, "");
  uint64_t addr[3] = {0x1000, 0x1020, 0x1040};
  uint32_t type[3] = {0, 0, 1}, size[3] = {32, 32, 24};
  uint32_t out_off[4] = {0, 1, 2, 2}, out_edge[2] = {1, 2}, in_off[4] = {0, 0, 1, 2}, in_edge[2] = {0, 1};
  uint64_t live[1] = {7};
  ds_index_type types[2] = {{.mt = 0x5000, .name = ds_strpool_add(&pool, node_name), .base_size = 32, .flags = 8,
                             .element_type_index = UINT32_MAX},
                            {.mt = 0x6000, .name = ds_strpool_add(&pool, "Leaf"), .base_size = 24,
                             .element_type_index = UINT32_MAX}};
  ds_index_segment segs[1] = {{.start = 0x1000, .end = 0x1058, .gen = 2, .first_object = 0, .object_count = 3}};
  ds_index_root roots[1] = {{.address = 0x9000, .raw_object = 0x1000, .object = 0, .secondary = UINT32_MAX,
                             .kind = DS_ROOT_HANDLE_STRONG, .thread = UINT32_MAX, .frame = UINT32_MAX, .is_root = 1}};
  ds_index_info info = {.object_count = 3, .edge_count = 2, .type_count = 2, .root_count = 1,
                        .free_type = UINT32_MAX, .string_type = UINT32_MAX};
  ds_index_writer *w = NULL;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_index_writer_create(path, &w, &err), DS_OK);
  struct { ds_section_id id; const void *data; uint64_t size; } secs[] = {
      {DS_SEC_INFO, &info, sizeof info},       {DS_SEC_OBJ_ADDR, addr, sizeof addr},
      {DS_SEC_OBJ_TYPE, type, sizeof type},    {DS_SEC_OBJ_SIZE, size, sizeof size},
      {DS_SEC_OUT_OFF, out_off, sizeof out_off}, {DS_SEC_OUT_EDGE, out_edge, sizeof out_edge},
      {DS_SEC_IN_OFF, in_off, sizeof in_off},  {DS_SEC_IN_EDGE, in_edge, sizeof in_edge},
      {DS_SEC_TYPES, types, sizeof types},     {DS_SEC_FIELDS, "", 0},
      {DS_SEC_SEGMENTS, segs, sizeof segs},    {DS_SEC_ROOTS, roots, sizeof roots},
      {DS_SEC_LIVE, live, sizeof live},        {DS_SEC_STRINGS, pool.data, pool.len},
  };
  for (size_t i = 0; i < sizeof secs / sizeof *secs; i++)
    CU_ASSERT_EQUAL_FATAL(ds_index_writer_add(w, secs[i].id, secs[i].data, secs[i].size, &err), DS_OK);
  CU_ASSERT_EQUAL_FATAL(ds_index_writer_finish(w, &err), DS_OK);
  ds_index_writer_free(w);
  ds_strpool_free(&pool);
}

static void test_whole_or_error(void) {
  char good[512], bad[512];
  snprintf(good, sizeof good, "%s/good.dsindex", ds_test_tmpdir());
  snprintf(bad, sizeof bad, "%s/not-utf8.dsindex", ds_test_tmpdir());
  write_index(good, "Node");
  write_index(bad, "No\xff\xfe" "de");
  ds_object_filter all = {.gen = -1};
  ds_error err = {0};

  ds_query *q = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_open(good, NULL, &q, &err), DS_OK);
  json_t *doc = NULL;
  CU_ASSERT_EQUAL(ds_query_stats(q, &all, DS_SORT_SIZE, 0, &doc, &err), DS_OK);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "types")), 2);
  json_decref(doc);
  doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_refs(q, 0x1000, 0, &doc, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "type")), "Node");
  json_decref(doc);
  ds_query_close(q);

  CU_ASSERT_EQUAL_FATAL(ds_query_open(bad, NULL, &q, &err), DS_OK);
  doc = NULL;
  CU_ASSERT_EQUAL(ds_query_stats(q, &all, DS_SORT_SIZE, 0, &doc, &err), DS_E_CORRUPT);
  CU_ASSERT_PTR_NULL(doc);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "UTF-8"));
  doc = NULL;
  CU_ASSERT_EQUAL(ds_query_refs(q, 0x1000, 0, &doc, &err), DS_E_CORRUPT);
  CU_ASSERT_PTR_NULL(doc);
  /* a question that does not print the name still has its answer */
  doc = NULL;
  CU_ASSERT_EQUAL_FATAL(ds_query_gcgen(q, 0x1040, &doc, &err), DS_OK);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(doc, "object"), "type")), "Leaf");
  json_decref(doc);
  ds_query_close(q);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("query documents", NULL, NULL);
  CU_add_test(s, "a document is whole, or the query fails", test_whole_or_error);
  return ds_test_main();
}
