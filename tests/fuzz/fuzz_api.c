/*
 * fuzz_api.c: libFuzzer target for api/'s request side: the query-string decoder, the router and
 * the parameter readers, then the whole call (ds_api_call: parameter checks, the handler, paging)
 * and the resource's text renderer, on a tiny real index (tests/fuzz/corpus/index/tiny.dsindex,
 * opened once; without it only the request side runs).
 *
 * Input: "PATH?QUERY" (the first '?' splits; no '?': a path alone), as an HTTP request below
 * /dumps/{id}/ would arrive. The corpus in tests/fuzz/corpus/api is replayed by the test suite
 * (replay_api).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzz_common.h"

#ifndef DS_FUZZ_API_INDEX
#define DS_FUZZ_API_INDEX ""
#endif

int ds_fuzz_api_one(const uint8_t *data, size_t size);

static ds_query *tiny;
static FILE *sink;
static bool opened;

static void open_once(void) {
  if (opened)
    return;
  opened = true;
  ds_error err = {0};
  const char *path = getenv("DS_FUZZ_API_INDEX");
  if (!path || !*path)
    path = DS_FUZZ_API_INDEX;
  if (*path && ds_query_open(path, NULL, &tiny, &err) != DS_OK) {
    fprintf(stderr, "fuzz_api: %s: %s (fuzzing the request side only)\n", path, err.message);
    tiny = NULL;
  }
  sink = fopen("/dev/null", "w");
}

/* The route's template with the parameter put in must give back the path (one trailing slash
 * aside): the router never matches what the table does not say. */
static void check_route(const ds_api_resource *r, const char *path, const ds_api_args *args) {
  char rebuilt[3 * DS_API_MAX_PARAM_BYTES];
  const char *brace = strchr(r->route, '{');
  if (brace) {
    const char *close = strchr(brace, '}');
    snprintf(rebuilt, sizeof rebuilt, "%.*s%s%s", (int)(brace - r->route), r->route,
             ds_api_args_get(args, r->path_param), close + 1);
  } else {
    snprintf(rebuilt, sizeof rebuilt, "%s", r->route);
  }
  size_t len = strlen(path);
  if (strcmp(rebuilt, path) != 0 &&
      !(len && path[len - 1] == '/' && strlen(rebuilt) == len - 1 && strncmp(rebuilt, path, len - 1) == 0))
    abort();
}

/* A paged list: at most limit items; next_cursor set exactly when the list goes on. */
static void check_page(const ds_api_resource *r, json_t *doc) {
  if (!r->list_key || !json_is_array(json_object_get(doc, r->list_key)))
    return;
  json_int_t total = json_integer_value(json_object_get(doc, "total"));
  json_int_t limit = json_integer_value(json_object_get(doc, "limit"));
  size_t have = json_array_size(json_object_get(doc, r->list_key));
  json_t *next = json_object_get(doc, "next_cursor");
  if (limit < 1 || (json_int_t)have > limit || (json_int_t)have > total || !next)
    abort();
  if (json_is_string(next) && strtoll(json_string_value(next), NULL, 10) >= total)
    abort();
}

/* The readers every handler uses, on every parameter name the request carries: each either
 * parses the whole text or fails with a message naming the parameter. */
static void read_all(const ds_api_args *args) {
  static const char *const words[] = {"size", "count", "name", NULL};
  for (size_t i = 0; i < args->count; i++) {
    const char *name = args->items[i].name;
    ds_error err = {0};
    uint64_t u;
    bool b;
    int e;
    if (ds_api_get_u64(args, name, 0, 1, 10000, &u, &err) != DS_OK && !strstr(err.message, name))
      abort();
    ds_api_get_bool(args, name, false, &b, &err);
    ds_api_get_enum(args, name, words, 0, &e, &err);
    if (ds_api_get_address(args, name, true, &u, &err) == DS_OK) {
      uint64_t again;
      if (!ds_api_parse_address(ds_api_args_get(args, name), &again) || again != u)
        abort();
    }
    if (!tiny) {
      uint32_t t;
      const char *v = ds_api_args_get(args, name);
      if (v[0] != 'm' && v[0] != 'M') /* a managed id needs an index */
        ds_api_get_thread(NULL, args, name, &t, &err);
    }
    json_decref(ds_api_error_doc(&err, ds_api_args_get(args, name)));
  }
}

int ds_fuzz_api_one(const uint8_t *data, size_t size) {
  open_once();
  if (size > 8192) {
    ds_fuzz_note("too_long");
    return 0;
  }
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *query = memchr(text, '?', size);
  if (query)
    *query++ = '\0';
  ds_api_args *args = calloc(1, sizeof *args);
  ds_error err = {0};
  ds_status parsed = args ? ds_api_args_parse_query(args, query, &err) : DS_E_NOMEM;
  ds_fuzz_note("query=%s", ds_status_name(parsed));
  if (args && parsed == DS_OK) {
    read_all(args);
    const ds_api_resource *r = ds_api_route(text, args, &err);
    ds_fuzz_note("route=%s", r ? r->name : "none");
    if (r && r->path_param && !ds_api_args_get(args, r->path_param))
      abort(); /* a route with a parameter always sets it */
    if (r)
      check_route(r, text, args);
    if (r && tiny) {
      json_t *doc = NULL;
      ds_status rc = ds_api_call(r, tiny, args, &doc, &err);
      ds_fuzz_note("call=%s", ds_status_name(rc));
      /* bad input is a 4xx; the tiny index lacks the thread sections (503 corrupt-or-missing) and
       * has no dump to read strings from (500): nothing else may come back */
      if (rc != DS_OK && rc != DS_E_ARG && rc != DS_E_NOT_FOUND && rc != DS_E_CORRUPT &&
          !(rc == DS_E_IO && strcmp(r->name, "strings") == 0))
        abort();
      if (rc == DS_OK)
        check_page(r, doc);
      if (rc == DS_OK) {
        char *body = json_dumps(doc, JSON_COMPACT);
        if (!body)
          abort(); /* every document serialises */
        free(body);
        if (r->render_text && sink)
          r->render_text(doc, sink);
        json_decref(doc);
      } else {
        if (doc || ds_api_http_status(rc) < 400)
          abort();
        json_t *e = ds_api_error_doc(&err, NULL);
        char *body = json_dumps(e, JSON_COMPACT);
        if (!body)
          abort(); /* error messages echo request text: still valid JSON */
        free(body);
        json_decref(e);
      }
    }
  } else if (args) {
    json_t *e = ds_api_error_doc(&err, NULL);
    char *body = json_dumps(e, JSON_COMPACT);
    if (!body)
      abort();
    free(body);
    json_decref(e);
  }
  free(args);
  free(text);
  return 0;
}

#ifdef DS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ds_fuzz_api_one(data, size); }
#endif
