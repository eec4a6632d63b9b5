/*
 * import_routes.c: the HTTP side of imports. POST /dumps/import (uploader) takes a small JSON body
 * {"url": "...", "name": "..."} and answers 202 with the import resource; GET /imports/{id}
 * (reader, ?wait=N long-polls until it is done or failed) shows it. The download itself runs in a
 * fetch process (import.c); nothing here waits for it or touches the network, except resolving the
 * URL's host to check it against the import policy.
 *
 * The URL is a secret (a SAS signature): it is never logged, echoed in an error, or returned; the
 * resource shows the redacted form.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpint.h"

#define IMPORT_BODY_MAX 16384 /* bytes of a POST /dumps/import body */

bool ds_http_is_import_post(const ds_request *r) {
  return strcmp(r->method, "POST") == 0 && strcmp(r->path, "/dumps/import") == 0;
}

bool ds_http_is_import_route(const ds_request *r) {
  return strcmp(r->path, "/dumps/import") == 0 || strncmp(r->path, "/imports/", 9) == 0;
}

enum MHD_Result ds_http_import_first_call(ds_request *r) {
  if (!ds_http_authorize(r, DS_ROLE_UPLOADER))
    return MHD_YES;
  const char *length = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
  if (length) {
    char *end = NULL;
    errno = 0;
    unsigned long long declared = strtoull(length, &end, 10);
    if (errno || !*length || *end)
      return ds_http_send_error(r, 400, "invalid_argument", "Content-Length is not a number");
    if (declared > IMPORT_BODY_MAX)
      return ds_http_send_error(r, 413, "payload_too_large", "an import request is a small JSON document");
  }
  r->body = malloc(IMPORT_BODY_MAX);
  if (!r->body)
    return ds_http_send_error(r, 503, "out_of_memory", "cannot take the request now");
  r->body_len = 0;
  return MHD_YES;
}

enum MHD_Result ds_http_collect_body(ds_request *r, const char *data, size_t len) {
  if (len > IMPORT_BODY_MAX - r->body_len) {
    free(r->body);
    r->body = NULL;
    return ds_http_send_error(r, 413, "payload_too_large", "an import request is a small JSON document");
  }
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
  return MHD_YES;
}

/* Which error a refused import gets: the code says whether the URL or the host was wrong. */
static enum MHD_Result send_refusal(ds_request *r, const ds_error *err) {
  switch (err->code) {
  case DS_E_ARG:
    return ds_http_send_error(r, 400, "invalid_url", err->message);
  case DS_E_UNSUPPORTED:
    return ds_http_send_error(r, 403, "host_not_allowed", err->message);
  case DS_E_NETWORK:
    return ds_http_send_error(r, 400, "invalid_url", err->message);
  default:
    return ds_http_send_error(r, 503, "storage_unavailable", err->message);
  }
}

static enum MHD_Result post_import(ds_request *r) {
  json_error_t jerr;
  json_t *doc = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
  if (!doc || !json_is_object(doc)) {
    json_decref(doc);
    return ds_http_send_error(r, 400, "invalid_json",
                              "the body must be a JSON object: {\"url\": \"https://...\", \"name\": \"...\"}");
  }
  json_t *url = json_object_get(doc, "url"), *name = json_object_get(doc, "name");
  enum MHD_Result ret;
  if (!json_is_string(url) || !json_string_length(url)) {
    ret = ds_http_send_error(r, 400, "invalid_url", "the body needs \"url\": the http(s) URL of the dump");
  } else if (name && !json_is_string(name) && !json_is_null(name)) {
    ret = ds_http_send_error(r, 400, "invalid_argument", "\"name\" must be a string");
  } else if (strlen(json_string_value(url)) != json_string_length(url)) {
    ret = ds_http_send_error(r, 400, "invalid_url", "the url holds a NUL character");
  } else {
    ds_store_import imp;
    ds_error err = {0};
    if (ds_service_import_start(r->http->svc, json_string_value(url), json_is_string(name) ? json_string_value(name) : NULL,
                                &imp, &err) != DS_OK) {
      ret = send_refusal(r, &err);
    } else {
      char location[64];
      snprintf(location, sizeof location, "/imports/%lld", (long long)imp.id);
      ds_http_add_header(r, "Location", location);
      ret = ds_http_send_json(r, 202, ds_service_import_json(&imp));
    }
  }
  json_decref(doc);
  return ret;
}

static enum MHD_Result get_import(ds_request *r, const char *id_text) {
  ds_error err = {0};
  char *end = NULL;
  long long id = strtoll(id_text, &end, 10);
  ds_store_import imp;
  if (!*id_text || *end || id <= 0 || ds_store_import_get(ds_service_store(r->http->svc), id, &imp, &err) != DS_OK)
    return ds_http_send_error(r, 404, "import_not_found", "no import with this id");
  uint64_t wait = 0;
  if (ds_api_get_u64(&r->args, "wait", 0, 0, UINT32_MAX, &wait, &err) != DS_OK)
    return ds_http_send_status(r, &err);
  const ds_config *c = ds_service_config(r->http->svc);
  bool finished = strcmp(imp.state, "done") == 0 || strcmp(imp.state, "failed") == 0;
  if (!finished && wait) {
    if (!r->wait_deadline_ms)
      r->wait_deadline_ms = ds_monotonic_ms() + (int64_t)(wait < c->max_wait ? wait : c->max_wait) * 1000;
    if (ds_monotonic_ms() < r->wait_deadline_ms) {
      ds_http_suspend(r);
      if (r->suspended)
        return MHD_YES;
    }
  }
  if (!finished)
    ds_http_add_header(r, "Retry-After", "2");
  return ds_http_send_json(r, 200, ds_service_import_json(&imp));
}

enum MHD_Result ds_http_import_dispatch(ds_request *r) {
  bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
  bool post = strcmp(r->path, "/dumps/import") == 0;
  snprintf(r->route, sizeof r->route, "%s", post ? "/dumps/import" : "/imports/{id}"); /* metrics' label */
  if (post) {
    if (strcmp(r->method, "POST") != 0) {
      ds_http_add_header(r, "Allow", "POST");
      return ds_http_send_error(r, 405, "method_not_allowed", "/dumps/import takes POST");
    }
    return post_import(r);
  }
  if (!get) {
    ds_http_add_header(r, "Allow", "GET");
    return ds_http_send_error(r, 405, "method_not_allowed", "/imports/{id} takes GET");
  }
  return ds_http_authorize(r, DS_ROLE_READER) ? get_import(r, r->path + 9) : MHD_YES;
}
