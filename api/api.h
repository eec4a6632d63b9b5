/*
 * api.h: the resources dumpscope answers from a heap index, in one table (Redis's commands.def).
 *
 * A resource is a row: its name (also the CLI command), its route below /dumps/{id}/, the path
 * parameter the CLI takes as its second positional, the query parameters it accepts, a handler
 * that turns (index, parameters) into a JSON document, an optional text renderer, and the list
 * that paging applies to. The HTTP router (server/http.c) and the CLI (server/cli.c) both
 * dispatch from this table, so a resource has exactly one JSON shape wherever it is asked.
 *
 * No sockets, no DAC, no SQLite here: api/ depends on core/'s query layer only. Parameters are
 * untrusted text (a URL's query string or a command line): every value is parsed and checked
 * here, and a bad one is a DS_E_ARG with a message naming the parameter.
 */
#ifndef DUMPSCOPE_API_H
#define DUMPSCOPE_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpscope/error.h"
#include "dumpscope/query.h"

#define DS_API_MAX_PARAMS 32
#define DS_API_MAX_PARAM_BYTES 1024     /* one parameter value */
#define DS_API_DEFAULT_LIMIT 100
#define DS_API_MAX_LIMIT 10000

/* Decoded name=value pairs (query string, path parameters, CLI options). Values are copied. */
typedef struct ds_api_args {
  struct {
    char name[32];
    char value[DS_API_MAX_PARAM_BYTES];
  } items[DS_API_MAX_PARAMS];
  size_t count;
} ds_api_args;

/* Adds or replaces name=value; DS_E_ARG past DS_API_MAX_PARAMS or for an empty or overlong one. */
ds_status ds_api_args_set(ds_api_args *args, const char *name, const char *value, ds_error *err);
/* The value of name, or NULL. */
const char *ds_api_args_get(const ds_api_args *args, const char *name);
/* Parses a URL query string ("a=1&b=x%20y"), percent- and plus-decoding each part. */
ds_status ds_api_args_parse_query(ds_api_args *args, const char *query, ds_error *err);

typedef ds_status (*ds_api_handler)(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
typedef void (*ds_api_renderer)(json_t *doc, FILE *out);

typedef struct ds_api_resource {
  const char *name;          /* "gen": CLI command and operation name */
  const char *route;         /* "gen/{gen}": path below /dumps/{id}/ ("" for the dump itself) */
  const char *path_param;    /* the {param} in route (the CLI's second positional), or NULL */
  const char *params;        /* accepted query parameters, comma-separated ("limit,cursor,sort") */
  ds_api_handler handler;
  ds_api_renderer render_text; /* NULL: the CLI prints JSON */
  const char *list_key;      /* array that limit/cursor page (offset cursors), or NULL */
  const char *total_key;     /* field holding the list's full length when the handler caps it */
  const char *help;
} ds_api_resource;

/* Another dump's index, for the resources that compare two dumps (diff, its `base` parameter): the
 * daemon opens it from its index cache by dump id, the CLI by dump path. Set once at start-up,
 * before any request; unset, a comparison answers that it is not available. */
typedef struct ds_api_other {
  ds_status (*open)(void *ctx, const char *ref, ds_query **q, ds_error *err);
  void (*release)(void *ctx, ds_query *q);
  void *ctx;
} ds_api_other;
void ds_api_set_other(const ds_api_other *other);

size_t ds_api_resource_count(void);
const ds_api_resource *ds_api_resource_at(size_t index);
const ds_api_resource *ds_api_find(const char *name);

/* Matches a path below /dumps/{id}/ ("gen/2", "objects/0x1f/refs", one trailing slash allowed) to
 * a resource and adds its path parameter to args. NULL with DS_E_NOT_FOUND in err when no route
 * matches, with DS_E_ARG when one matches but its parameter does not fit in args. */
const ds_api_resource *ds_api_route(const char *subpath, ds_api_args *args, ds_error *err);

/* Checks that every parameter is one the resource accepts, runs its handler and pages its list.
 * The document is the same for the CLI and HTTP. */
ds_status ds_api_call(const ds_api_resource *resource, ds_query *q, const ds_api_args *args, json_t **out,
                      ds_error *err);

/* HTTP status for an error code (400 bad argument, 404 not found, 422 unusable dump, ...). */
int ds_api_http_status(ds_status code);
/* {"error": {"code", "message", "detail"?}} */
json_t *ds_api_error_doc(const ds_error *err, const char *detail);

/* ---- parameter readers (for handlers; each names the parameter in its error) ---------------- */

/* An unsigned decimal (or 0x hex) number in [min, max]; def when absent. */
ds_status ds_api_get_u64(const ds_api_args *args, const char *name, uint64_t def, uint64_t min, uint64_t max,
                         uint64_t *out, ds_error *err);
/* true/false/1/0/yes/no; def when absent. */
ds_status ds_api_get_bool(const ds_api_args *args, const char *name, bool def, bool *out, ds_error *err);
/* An address: hex with or without 0x. required: absent is an error. */
ds_status ds_api_get_address(const ds_api_args *args, const char *name, bool required, uint64_t *out, ds_error *err);
/* One of the listed words (NULL-terminated list); *out = its index, def when absent. */
ds_status ds_api_get_enum(const ds_api_args *args, const char *name, const char *const *words, int def, int *out,
                          ds_error *err);
/* A thread: OS id (decimal) or managed id ("m3"), resolved to the OS id through the index. */
ds_status ds_api_get_thread(ds_query *q, const ds_api_args *args, const char *name, uint32_t *out, ds_error *err);

/* Parses a hex address with or without 0x (the whole text, nothing after it). */
bool ds_api_parse_address(const char *text, uint64_t *out);

#endif
