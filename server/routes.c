/*
 * routes.c: what each HTTP route does. The service's own resources (/health, /dumps, /dumps/{id},
 * /jobs/{id}) are here; everything below /dumps/{id}/ is a row of api/'s resource table.
 *
 * Roles: reader for GETs, uploader for POST /dumps, admin for DELETE. /health and the web UI's
 * static shell need no token; /me tells any valid token its own role (the UI hides what it cannot do).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dumpscope/dump.h"
#include "dumpscope/index.h"
#include "httpint.h"
#include "metrics.h"

#ifndef DS_WEB_ROOT
#define DS_WEB_ROOT "web"
#endif

#define MAX_IGNORED_BODY (1u << 20) /* bytes of an unexpected request body we read and drop */

static bool is_dump_id(const char *text, size_t len) {
  if (len != 16)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isxdigit((unsigned char)text[i]) || isupper((unsigned char)text[i]))
      return false;
  return true;
}

/* ---- uploads -------------------------------------------------------------------------------- */

static bool is_upload(const ds_request *r) {
  return strcmp(r->method, "POST") == 0 && (strcmp(r->path, "/dumps") == 0 || strcmp(r->path, "/dumps/") == 0);
}

enum MHD_Result ds_http_first_call(ds_request *r) {
  if (r->path_too_long)
    return ds_http_send_error(r, 414, "uri_too_long", "the request path is too long");
  if (r->args_rc != DS_OK)
    return ds_http_send_status(r, &r->args_err);
  if (ds_http_is_import_post(r))
    return ds_http_import_first_call(r);
  if (!is_upload(r))
    return MHD_YES;
  if (!ds_http_authorize(r, DS_ROLE_UPLOADER))
    return MHD_YES;
  const ds_config *c = ds_service_config(r->http->svc);
  const char *length = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
  if (length) {
    char *end = NULL;
    errno = 0;
    unsigned long long declared = strtoull(length, &end, 10);
    if (errno || !*length || *end)
      return ds_http_send_error(r, 400, "invalid_argument", "Content-Length is not a number");
    if (declared > c->max_upload_bytes) {
      char msg[200];
      snprintf(msg, sizeof msg, "the dump is %llu bytes; this server accepts at most %llu", declared,
               (unsigned long long)c->max_upload_bytes);
      return ds_http_send_error(r, 413, "payload_too_large", msg);
    }
  }
  const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
  if (type && strncasecmp(type, "multipart/", 10) == 0)
    return ds_http_send_error(r, 415, "unsupported_media_type",
                              "send the dump file itself as the request body (application/octet-stream), "
                              "not a multipart form");
  const char *name = ds_api_args_get(&r->args, "name");
  if (ds_service_upload_begin(r->http->svc, name, &r->upload, &r->upload_err) != DS_OK)
    return ds_http_send_error(r, 503, "storage_unavailable", r->upload_err.message);
  return MHD_YES;
}

enum MHD_Result ds_http_body(ds_request *r, const char *data, size_t len) {
  if (r->body)
    return ds_http_collect_body(r, data, len);
  if (!r->upload) {
    r->status += 0;
    if (len > MAX_IGNORED_BODY)
      return ds_http_send_error(r, 413, "payload_too_large", "this request takes no body");
    return MHD_YES;
  }
  const ds_config *c = ds_service_config(r->http->svc);
  if (ds_service_upload_size(r->upload) + len > c->max_upload_bytes) {
    ds_service_upload_abort(r->upload);
    r->upload = NULL;
    return ds_http_send_error(r, 413, "payload_too_large", "the dump is larger than this server accepts");
  }
  if (ds_service_upload_write(r->upload, data, len, &r->upload_err) != DS_OK) {
    ds_service_upload_abort(r->upload);
    r->upload = NULL;
    return ds_http_send_error(r, 507, "insufficient_storage", r->upload_err.message);
  }
  return MHD_YES;
}

/* Messages from the dump reader name the file they read: inside the data folder that is our own
 * temporary file, which is not the client's business. Such paths become "the upload". */
static void scrub_paths(char *message, const char *data) {
  size_t data_len = strlen(data);
  char out[DS_ERROR_MESSAGE_MAX];
  size_t o = 0;
  for (const char *p = message; *p && o + 1 < sizeof out;) {
    if (data_len && strncmp(p, data, data_len) == 0) {
      o += (size_t)snprintf(out + o, sizeof out - o, "the upload");
      p += data_len;
      while (*p && *p != ' ' && *p != ':' && *p != ',' && *p != ')')
        p++;
      if (o >= sizeof out)
        o = sizeof out - 1;
      continue;
    }
    out[o++] = *p++;
  }
  out[o] = '\0';
  memcpy(message, out, o + 1);
}

static enum MHD_Result finish_upload(ds_request *r) {
  ds_upload *up = r->upload;
  r->upload = NULL;
  ds_store_dump dump;
  bool existed = false;
  ds_error err = {0};
  if (ds_service_upload_finish(up, &dump, &existed, &err) != DS_OK) {
    unsigned status = 422;
    const char *code = ds_status_name(err.code);
    if (err.code == DS_E_ARG)
      status = 400;
    else if (err.code == DS_E_LIMIT)
      status = 413, code = "payload_too_large";
    else if (err.code == DS_E_FORMAT || err.code == DS_E_UNSUPPORTED)
      status = 415;
    else if (err.code == DS_E_IO || err.code == DS_E_NOMEM)
      status = 507, code = "insufficient_storage";
    scrub_paths(err.message, ds_service_config(r->http->svc)->data);
    return ds_http_send_error(r, status, code, err.message);
  }
  snprintf(r->dump_id, sizeof r->dump_id, "%s", dump.id);
  char location[64];
  snprintf(location, sizeof location, "/dumps/%s", dump.id);
  ds_http_add_header(r, "Location", location);
  json_t *doc = ds_service_dump_json(r->http->svc, &dump);
  json_object_set_new(doc, "existed", json_boolean(existed));
  return ds_http_send_json(r, existed ? 200 : 201, doc);
}

/* ---- service resources ------------------------------------------------------------------------ */

static enum MHD_Result health(ds_request *r) {
  uint64_t counts[4] = {0};
  ds_error err = {0};
  bool store_ok = ds_store_job_counts(ds_service_store(r->http->svc), counts, &err) == DS_OK;
  json_t *doc = json_pack("{s:s,s:s,s:{s:I,s:I,s:I,s:I}}", "status", store_ok ? "ok" : "degraded", "version", "0.1.0",
                          "jobs", "queued", (json_int_t)counts[0], "running", (json_int_t)counts[1], "done",
                          (json_int_t)counts[2], "failed", (json_int_t)counts[3]);
  return ds_http_send_json(r, store_ok ? 200 : 503, doc);
}

static enum MHD_Result list_dumps(ds_request *r) {
  static const char *const statuses[] = {"queued", "analysing", "ready", "failed", NULL};
  ds_error err = {0};
  uint64_t limit;
  int status = -1;
  const char *cursor = ds_api_args_get(&r->args, "cursor");
  for (size_t i = 0; i < r->args.count; i++)
    if (strcmp(r->args.items[i].name, "status") != 0 && strcmp(r->args.items[i].name, "limit") != 0 &&
        strcmp(r->args.items[i].name, "cursor") != 0) {
      ds_error_set(&err, DS_E_ARG, "/dumps does not take the parameter \"%.40s\" (it takes: status, limit, cursor)",
                   r->args.items[i].name);
      return ds_http_send_status(r, &err);
    }
  if (ds_api_get_u64(&r->args, "limit", 50, 1, 1000, &limit, &err) != DS_OK ||
      ds_api_get_enum(&r->args, "status", statuses, -1, &status, &err) != DS_OK)
    return ds_http_send_status(r, &err);
  if (cursor && !is_dump_id(cursor, strlen(cursor))) {
    ds_error_set(&err, DS_E_ARG, "cursor \"%.40s\" is not one this server issued", cursor);
    return ds_http_send_status(r, &err);
  }
  ds_store_dump *rows = NULL;
  size_t count = 0;
  uint64_t total = 0;
  if (ds_store_dump_list(ds_service_store(r->http->svc), status >= 0 ? statuses[status] : NULL, cursor, (size_t)limit,
                         &rows, &count, &total, &err) != DS_OK)
    return ds_http_send_status(r, &err);
  json_t *list = json_array();
  for (size_t i = 0; i < count; i++)
    json_array_append_new(list, ds_service_dump_json(r->http->svc, &rows[i]));
  json_t *doc = json_object();
  json_object_set_new(doc, "dumps", list);
  json_object_set_new(doc, "total", json_integer((json_int_t)total));
  json_object_set_new(doc, "limit", json_integer((json_int_t)limit));
  json_object_set_new(doc, "next_cursor", count == limit && count ? json_string(rows[count - 1].id) : json_null());
  free(rows);
  return ds_http_send_json(r, 200, doc);
}

/* ?wait=N: how long this request may still wait (0: answer now). */
static bool still_waiting(ds_request *r, ds_error *err, bool *bad) {
  uint64_t wait = 0;
  const ds_config *c = ds_service_config(r->http->svc);
  *bad = ds_api_get_u64(&r->args, "wait", 0, 0, UINT32_MAX, &wait, err) != DS_OK;
  if (*bad || wait == 0)
    return false;
  if (wait > c->max_wait)
    wait = c->max_wait; /* the server's cap on long-polls; the client sees 202 and polls again */
  if (!r->wait_deadline_ms)
    r->wait_deadline_ms = ds_monotonic_ms() + (int64_t)wait * 1000;
  return ds_monotonic_ms() < r->wait_deadline_ms;
}

/* Sends a 400 naming the first query parameter not in the comma-separated list (true when sent). */
static bool reject_unknown_params(ds_request *r, const char *route, const char *accepted) {
  for (size_t i = 0; i < r->args.count; i++) {
    const char *name = r->args.items[i].name;
    size_t len = strlen(name);
    bool found = false;
    for (const char *p = accepted; *p && !found;) {
      const char *comma = strchr(p, ',');
      size_t item = comma ? (size_t)(comma - p) : strlen(p);
      found = item == len && memcmp(p, name, len) == 0;
      p += item + (comma ? 1 : 0);
    }
    if (!found) {
      ds_error err = {0};
      ds_error_set(&err, DS_E_ARG, "%s does not take the parameter \"%.40s\" (%s%s)", route, name,
                   *accepted ? "it takes: " : "it takes none", accepted);
      ds_http_send_status(r, &err);
      return true;
    }
  }
  return false;
}

/* Parks a ?wait=N request until the next job change (the waker resumes it and MHD calls the
 * handler again); false when it cannot wait (the waiting list is full, or the daemon stops), so
 * the caller answers now. r->suspended cannot tell afterwards: the waker thread may resume the
 * request between ds_http_suspend's unlock and the check, and the request then answered 202 at
 * once instead of waiting. Whether there is room is decided here, before suspending. */
static bool suspend_for_wait(ds_request *r) {
  ds_http *http = r->http;
  pthread_mutex_lock(&http->wait_lock);
  bool room = http->waiting_count < DS_HTTP_MAX_WAITING && !http->stopping;
  pthread_mutex_unlock(&http->wait_lock);
  if (!room)
    return false;
  /* if another request took the last place meanwhile, the request is neither suspended nor
   * answered: MHD calls the handler again, which waits or answers then */
  ds_http_suspend(r);
  return true;
}

static enum MHD_Result get_job(ds_request *r, const char *id_text) {
  ds_error err = {0};
  if (reject_unknown_params(r, "/jobs/{id}", "wait"))
    return MHD_YES;
  /* a bad wait is a 400 even when the job has finished and the wait would not apply */
  uint64_t wait_checked;
  if (ds_api_get_u64(&r->args, "wait", 0, 0, UINT32_MAX, &wait_checked, &err) != DS_OK)
    return ds_http_send_status(r, &err);
  char *end = NULL;
  long long id = strtoll(id_text, &end, 10);
  ds_store_job job;
  if (!*id_text || *end || id <= 0 || ds_store_job_get(ds_service_store(r->http->svc), id, &job, &err) != DS_OK)
    return ds_http_send_error(r, 404, "job_not_found", "no job with this id");
  bool bad = false;
  bool finished = strcmp(job.state, "done") == 0 || strcmp(job.state, "failed") == 0;
  if (!finished && still_waiting(r, &err, &bad) && suspend_for_wait(r))
    return MHD_YES;
  if (bad)
    return ds_http_send_status(r, &err);
  snprintf(r->dump_id, sizeof r->dump_id, "%s", job.dump_id);
  return ds_http_send_json(r, 200, ds_service_job_json(&job));
}

static int compare_arg_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The answer cache's key: the index identity, the resource and its parameters sorted by name, so
 * the same question in another order is the same entry. An over-long key is simply not cached. */
static void cache_key(const char *etag, const ds_api_resource *res, const ds_api_args *args, char *out, size_t len) {
  const char *names[DS_API_MAX_PARAMS];
  for (size_t i = 0; i < args->count; i++)
    names[i] = args->items[i].name;
  qsort(names, args->count, sizeof *names, compare_arg_names);
  size_t used = (size_t)snprintf(out, len, "%s %s", etag, res->name);
  for (size_t i = 0; i < args->count && used < len; i++)
    used += (size_t)snprintf(out + used, len - used, "\x1f%s=%s", names[i], ds_api_args_get(args, names[i]));
  if (used >= len)
    out[0] = '\0';
}


/* The index records where the dump was read from: in the daemon, a path in its data folder that
 * is nobody's business outside. Every "dump" value of an answer becomes the dump's resource
 * ("/dumps/ID": stored dumps are dumps/SHA256.dmp, and the id is the sha's first 16 digits), or
 * just its file name. */
static void redact_dump_paths(json_t *doc) {
  const char *key;
  json_t *value;
  size_t i;
  if (json_is_array(doc)) {
    json_array_foreach(doc, i, value)
      redact_dump_paths(value);
    return;
  }
  json_object_foreach(doc, key, value) {
    if (!json_is_string(value) || strcmp(key, "dump") != 0) {
      redact_dump_paths(value);
      continue;
    }
    const char *path = json_string_value(value), *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t hex = strspn(base, "0123456789abcdef");
    char text[256];
    if (hex == 64 && strcmp(base + 64, ".dmp") == 0)
      snprintf(text, sizeof text, "/dumps/%.16s", base);
    else
      snprintf(text, sizeof text, "%.200s", base);
    json_string_set(value, text);
  }
}
static enum MHD_Result dump_resource(ds_request *r, const char *id, const char *sub) {
  ds_service *svc = r->http->svc;
  ds_error err = {0};
  ds_api_args args = r->args;
  /* wait is the transport's, not the resource's */
  for (size_t i = 0; i < args.count; i++)
    if (strcmp(args.items[i].name, "wait") == 0) {
      args.items[i] = args.items[--args.count];
      break;
    }
  uint64_t wait_ignored;
  if (ds_api_get_u64(&r->args, "wait", 0, 0, UINT32_MAX, &wait_ignored, &err) != DS_OK)
    return ds_http_send_status(r, &err);
  const ds_api_resource *res = ds_api_route(sub, &args, &err);
  if (!res && err.code != DS_E_NOT_FOUND) /* a route matched but its path parameter did not fit */
    return ds_http_send_status(r, &err);
  if (!res)
    return ds_http_send_error(r, 404, "route_not_found", err.message);
  snprintf(r->route, sizeof r->route, "/dumps/{id}/%s", res->route);
  ds_query *q = NULL;
  int64_t job = 0;
  if (ds_service_query(svc, id, &q, &job, &err) != DS_OK) {
    if (err.code == DS_E_NOT_FOUND)
      return ds_http_send_error(r, 404, "dump_not_found", "no dump with this id");
    return ds_http_send_error(r, 422, "analysis_failed", err.message);
  }
  if (!q) {
    bool bad = false;
    if (still_waiting(r, &err, &bad) && suspend_for_wait(r))
      return MHD_YES;
    if (bad)
      return ds_http_send_status(r, &err);
    char url[64];
    snprintf(url, sizeof url, "/jobs/%lld", (long long)job);
    ds_http_add_header(r, "Location", url);
    ds_http_add_header(r, "Retry-After", "2");
    ds_store_dump dump;
    json_t *doc = json_pack("{s:s,s:s}", "status", "analysing", "job", url);
    if (ds_store_dump_get(ds_service_store(svc), id, &dump, &err) == DS_OK)
      json_object_set_new(doc, "status", json_string(dump.status));
    return ds_http_send_json(r, 202, doc);
  }
  char etag[96];
  const ds_index_info *info = ds_index_get_info(ds_query_index(q));
  snprintf(etag, sizeof etag, "\"%s-v%u-%llx\"", id, DS_INDEX_VERSION, (unsigned long long)info->build_ms);
  const char *match = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
  ds_http_add_header(r, "ETag", etag);
  ds_http_add_header(r, "Cache-Control", "private, max-age=86400");
  if (match && strcmp(match, etag) == 0) {
    ds_service_release(svc, q);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "private, max-age=86400"); /* as the 200 would */
    r->status = 304;
    r->answered = true;
    enum MHD_Result ret = MHD_queue_response(r->conn, 304, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  char key[4096];
  size_t cached_len = 0;
  cache_key(etag, res, &args, key, sizeof key);
  char *cached = key[0] ? ds_respcache_get(r->http->answers, key, &cached_len) : NULL;
  if (cached) {
    ds_service_release(svc, q);
    return ds_http_send_body(r, 200, cached);
  }
  json_t *doc = NULL;
  ds_status rc = ds_api_call(res, q, &args, &doc, &err);
  ds_service_release(svc, q);
  if (rc == DS_OK)
    redact_dump_paths(doc);
  if (rc == DS_E_CORRUPT) {
    /* the index failed a checksum when this query first touched a section: never trusted, rebuilt */
    int64_t rebuild_job = 0;
    ds_error rebuild_err = {0};
    if (ds_service_index_damaged(svc, id, &rebuild_job, &rebuild_err) == DS_OK && rebuild_job) {
      char url[64];
      snprintf(url, sizeof url, "/jobs/%lld", (long long)rebuild_job);
      r->header_count = 0;
      ds_http_add_header(r, "Location", url);
      ds_http_add_header(r, "Retry-After", "2");
      return ds_http_send_json(r, 202, json_pack("{s:s,s:s,s:s}", "status", "queued", "job", url, "reason", err.message));
    }
  }
  if (rc != DS_OK) {
    r->header_count = 0;
    return ds_http_send_status(r, &err);
  }
  char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (body && key[0])
    ds_respcache_put(r->http->answers, key, body, strlen(body));
  return ds_http_send_body(r, 200, body);
}

static enum MHD_Result dump_routes(ds_request *r, const char *rest) {
  const char *slash = strchr(rest, '/');
  size_t id_len = slash ? (size_t)(slash - rest) : strlen(rest);
  if (!is_dump_id(rest, id_len))
    return ds_http_send_error(r, 404, "dump_not_found", "no dump with this id (ids are 16 lowercase hex digits)");
  char id[24];
  memcpy(id, rest, id_len);
  id[id_len] = '\0';
  snprintf(r->dump_id, sizeof r->dump_id, "%s", id);
  const char *sub = slash ? slash + 1 : "";
  bool is_delete = strcmp(r->method, "DELETE") == 0;
  if (!is_delete && strcmp(r->method, "GET") != 0) {
    ds_http_add_header(r, "Allow", *sub ? "GET" : "GET, DELETE");
    return ds_http_send_error(r, 405, "method_not_allowed", "this resource takes GET (and DELETE for a dump)");
  }
  if (!ds_http_authorize(r, is_delete ? DS_ROLE_ADMIN : DS_ROLE_READER))
    return MHD_YES;
  ds_error err = {0};
  if (*sub && !is_delete)
    return dump_resource(r, id, sub);
  snprintf(r->route, sizeof r->route, "/dumps/{id}");
  if (*sub)
    return ds_http_send_error(r, 405, "method_not_allowed", "DELETE applies to /dumps/{id} only");
  if (reject_unknown_params(r, "/dumps/{id}", ""))
    return MHD_YES;
  if (is_delete) {
    if (ds_service_delete_dump(r->http->svc, id, &err) != DS_OK)
      return err.code == DS_E_NOT_FOUND ? ds_http_send_error(r, 404, "dump_not_found", "no dump with this id")
                                        : ds_http_send_status(r, &err);
    return ds_http_send_json(r, 200, json_pack("{s:s}", "deleted", id));
  }
  ds_store_dump dump;
  if (ds_store_dump_get(ds_service_store(r->http->svc), id, &dump, &err) != DS_OK)
    return ds_http_send_error(r, 404, "dump_not_found", "no dump with this id");
  return ds_http_send_json(r, 200, ds_service_dump_json(r->http->svc, &dump));
}

/* ---- the web UI's static shell ------------------------------------------------------------ */

void ds_http_web_init(ds_http *http) {
  const ds_config *c = ds_service_config(http->svc);
  snprintf(http->web_root, sizeof http->web_root, "%s", c->web_root[0] ? c->web_root : DS_WEB_ROOT);
}

/* Serves one of a fixed list of files: request text only selects an entry, never a path. */
static enum MHD_Result static_file(ds_request *r) {
  static const struct {
    const char *url, *file, *type;
  } files[] = {
      {"/", "index.html", "text/html; charset=utf-8"},
      {"/app.js", "app.js", "text/javascript; charset=utf-8"},
      {"/app.css", "app.css", "text/css; charset=utf-8"},
      {"/favicon.svg", "favicon.svg", "image/svg+xml"},
      {"/js/api.js", "js/api.js", "text/javascript; charset=utf-8"},
      {"/js/ui.js", "js/ui.js", "text/javascript; charset=utf-8"},
      {"/js/draw.js", "js/draw.js", "text/javascript; charset=utf-8"},
      {"/js/dumps.js", "js/dumps.js", "text/javascript; charset=utf-8"},
      {"/js/overview.js", "js/overview.js", "text/javascript; charset=utf-8"},
      {"/js/heap.js", "js/heap.js", "text/javascript; charset=utf-8"},
      {"/js/object.js", "js/object.js", "text/javascript; charset=utf-8"},
      {"/js/threads.js", "js/threads.js", "text/javascript; charset=utf-8"},
      {"/js/locks.js", "js/locks.js", "text/javascript; charset=utf-8"},
      {"/js/queues.js", "js/queues.js", "text/javascript; charset=utf-8"},
      {"/js/imports.js", "js/imports.js", "text/javascript; charset=utf-8"},
      {"/js/report.js", "js/report.js", "text/javascript; charset=utf-8"},
      {"/js/sosex.js", "js/sosex.js", "text/javascript; charset=utf-8"},
  };
  size_t pick = 0;
  bool found = strncmp(r->path, "/ui/", 4) == 0; /* client-side routes get the shell */
  for (size_t i = 0; !found && i < sizeof files / sizeof *files; i++)
    if (strcmp(r->path, files[i].url) == 0) {
      pick = i;
      found = true;
    }
  if (!found)
    return ds_http_send_error(r, 404, "route_not_found", "no such route");
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", r->http->web_root, files[pick].file);
  int fd = ds_open_regular(path);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0)
      close(fd);
    return ds_http_send_error(r, 404, "route_not_found", "the web UI is not installed");
  }
  /* validators, so a reload revalidates instead of downloading every module again */
  char etag[64];
  snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
           (unsigned long long)st.st_mtim.tv_nsec, (unsigned long long)st.st_size);
  const char *match = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
  bool unchanged = match && strcmp(match, etag) == 0;
  struct MHD_Response *resp = unchanged ? MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT)
                                        : MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
  if (unchanged)
    close(fd);
  MHD_add_response_header(resp, "ETag", etag);
  MHD_add_response_header(resp, "Content-Type", files[pick].type);
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  r->status = unchanged ? 304 : 200;
  r->answered = true;
  enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* GET /me: the token's role and what it allows, so a client can offer only what will work. */
static enum MHD_Result whoami(ds_request *r) {
  if (!ds_http_authorize(r, DS_ROLE_READER))
    return MHD_YES;
  const ds_config *c = ds_service_config(r->http->svc);
  json_t *doc = json_pack("{s:s,s:b,s:b,s:b,s:I}", "role", ds_role_name(r->role), "can_upload",
                          r->role >= DS_ROLE_UPLOADER, "can_import", r->role >= DS_ROLE_UPLOADER, "can_delete",
                          r->role >= DS_ROLE_ADMIN, "max_upload_bytes", (json_int_t)c->max_upload_bytes);
  return ds_http_send_json(r, 200, doc);
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static enum MHD_Result metrics(ds_request *r) {
  const ds_config *c = ds_service_config(r->http->svc);
  if (!c->metrics_open && !ds_http_authorize(r, DS_ROLE_READER))
    return MHD_YES;
  char *body = ds_metrics_render(ds_service_store(r->http->svc));
  if (!body)
    return ds_http_send_error(r, 503, "out_of_memory", "cannot render the metrics");
  struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r->status = 200;
  r->answered = true;
  enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
  MHD_destroy_response(resp);
  return ret;
}

enum MHD_Result ds_http_dispatch(ds_request *r) {
  const char *p = r->path;
  bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
  if (is_upload(r)) {
    snprintf(r->route, sizeof r->route, "/dumps");
    return r->upload ? finish_upload(r) : ds_http_send_error(r, 500, "internal", "upload state lost");
  }
  if (strcmp(p, "/health") == 0) {
    snprintf(r->route, sizeof r->route, "/health");
    return get ? health(r) : ds_http_send_error(r, 405, "method_not_allowed", "/health takes GET");
  }
  if (strcmp(p, "/metrics") == 0) {
    snprintf(r->route, sizeof r->route, "/metrics");
    return get ? metrics(r) : ds_http_send_error(r, 405, "method_not_allowed", "/metrics takes GET");
  }
  if (strcmp(p, "/me") == 0) {
    snprintf(r->route, sizeof r->route, "/me");
    if (!get) {
      ds_http_add_header(r, "Allow", "GET");
      return ds_http_send_error(r, 405, "method_not_allowed", "/me takes GET");
    }
    return whoami(r);
  }
  if (strcmp(p, "/dumps") == 0 || strcmp(p, "/dumps/") == 0) {
    snprintf(r->route, sizeof r->route, "/dumps");
    if (!get) {
      ds_http_add_header(r, "Allow", "GET, POST");
      return ds_http_send_error(r, 405, "method_not_allowed", "/dumps takes GET (list) and POST (upload)");
    }
    return ds_http_authorize(r, DS_ROLE_READER) ? list_dumps(r) : MHD_YES;
  }
  if (ds_http_is_import_route(r))
    return ds_http_import_dispatch(r);
  if (strncmp(p, "/dumps/", 7) == 0)
    return dump_routes(r, p + 7);
  if (strncmp(p, "/jobs/", 6) == 0) {
    snprintf(r->route, sizeof r->route, "/jobs/{id}");
    if (!get)
      return ds_http_send_error(r, 405, "method_not_allowed", "/jobs/{id} takes GET");
    return ds_http_authorize(r, DS_ROLE_READER) ? get_job(r, p + 6) : MHD_YES;
  }
  if (get) {
    snprintf(r->route, sizeof r->route, "static");
    return static_file(r);
  }
  return ds_http_send_error(r, 404, "route_not_found", "no such route");
}
