/*
 * http.c: HTTP for the daemon. One access handler: the first call of a request checks the route
 * and the token (and for uploads the declared size: 413 before any body is read); body calls
 * stream into the upload; the last call answers. A request that asks ?wait=N for an analysis
 * still running is suspended and resumed by the waker thread whenever a job changes state (and
 * every 250 ms for deadlines), then answered from the new state.
 *
 * Nothing here builds a path from request text: dump ids are checked to be 16 hex digits and
 * looked up in the store; addresses and parameters are parsed by api/.
 */
#include "http.h"

#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "httpint.h"
#include "metrics.h"
#include "dumpscope/index.h"

/* ---- responses ------------------------------------------------------------------------------ */

enum MHD_Result ds_http_send_json(ds_request *r, unsigned status, json_t *doc) {
  char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(doc);
  return ds_http_send_body(r, status, body);
}

enum MHD_Result ds_http_send_body(ds_request *r, unsigned status, char *body) {
  if (!body) {
    body = strdup("{\"error\":{\"code\":\"out_of_memory\",\"message\":\"cannot render the response\"}}");
    status = 500;
  }
  struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(resp, "Content-Type", "application/json");
  for (size_t i = 0; i < r->header_count; i++)
    MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  r->status = status;
  enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  r->answered = true;
  return ret;
}

enum MHD_Result ds_http_send_error(ds_request *r, unsigned status, const char *code, const char *message) {
  json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
  if (!doc) {
    ds_error e = {.code = DS_E_ARG};
    snprintf(e.message, sizeof e.message, "%s", message);
    doc = ds_api_error_doc(&e, NULL);
    json_object_set_new(json_object_get(doc, "error"), "code", json_string(code));
  }
  return ds_http_send_json(r, status, doc);
}

enum MHD_Result ds_http_send_status(ds_request *r, const ds_error *err) {
  return ds_http_send_json(r, (unsigned)ds_api_http_status(err->code), ds_api_error_doc(err, NULL));
}

void ds_http_add_header(ds_request *r, const char *name, const char *value) {
  if (r->header_count == sizeof r->headers / sizeof *r->headers)
    return;
  snprintf(r->headers[r->header_count].name, sizeof r->headers[0].name, "%s", name);
  snprintf(r->headers[r->header_count].value, sizeof r->headers[0].value, "%s", value);
  r->header_count++;
}

/* ---- auth ----------------------------------------------------------------------------------- */

/* The caller's role from "Authorization: Bearer <token>"; sends 401/403 and returns false when it
 * is missing, unknown or below need. */
bool ds_http_authorize(ds_request *r, ds_role need) {
  const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
    ds_http_add_header(r, "WWW-Authenticate", "Bearer");
    ds_http_send_error(r, 401, "unauthorized", "this request needs a bearer token (Authorization: Bearer <token>)");
    return false;
  }
  const char *token = auth + 7;
  while (*token == ' ')
    token++;
  ds_role role = strlen(token) < 128 ? ds_store_token_role(ds_service_store(r->http->svc), token) : DS_ROLE_NONE;
  if (role == DS_ROLE_NONE) {
    ds_http_add_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    ds_http_send_error(r, 401, "unauthorized", "the bearer token is not valid");
    return false;
  }
  if (role < need) {
    char msg[160];
    snprintf(msg, sizeof msg, "this request needs the %s role; the token has %s", ds_role_name(need), ds_role_name(role));
    ds_http_send_error(r, 403, "forbidden", msg);
    return false;
  }
  r->role = role;
  return true;
}

/* ---- suspended requests (long-polls) ------------------------------------------------------------ */

void ds_http_suspend(ds_request *r) {
  ds_http *http = r->http;
  pthread_mutex_lock(&http->wait_lock);
  if (http->waiting_count < DS_HTTP_MAX_WAITING && !http->stopping) {
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    http->waiting[http->waiting_count++] = r;
  }
  pthread_mutex_unlock(&http->wait_lock);
}

static void resume_all(ds_http *http) {
  pthread_mutex_lock(&http->wait_lock);
  for (size_t i = 0; i < http->waiting_count; i++) {
    http->waiting[i]->suspended = false;
    MHD_resume_connection(http->waiting[i]->conn);
  }
  http->waiting_count = 0;
  pthread_mutex_unlock(&http->wait_lock);
}

static void on_job_change(void *ctx) {
  ds_http *http = ctx;
  pthread_mutex_lock(&http->wait_lock);
  http->wake = true;
  pthread_cond_signal(&http->wait_cond);
  pthread_mutex_unlock(&http->wait_lock);
}

static void *waker_main(void *arg) {
  ds_http *http = arg;
  pthread_mutex_lock(&http->wait_lock);
  while (!http->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 250 * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    if (!http->wake)
      pthread_cond_timedwait(&http->wait_cond, &http->wait_lock, &until);
    http->wake = false;
    pthread_mutex_unlock(&http->wait_lock);
    resume_all(http);
    pthread_mutex_lock(&http->wait_lock);
  }
  pthread_mutex_unlock(&http->wait_lock);
  return NULL;
}

/* ---- the access handler -------------------------------------------------------------------- */

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  ds_request *r = cls;
  if (r->args_rc == DS_OK)
    r->args_rc = ds_api_args_set(&r->args, key, value ? value : "", &r->args_err);
  return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
  (void)version;
  ds_http *http = cls;
  ds_request *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    r->http = http;
    r->conn = conn;
    r->started_ms = ds_monotonic_ms();
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", url);
    r->path_too_long = strlen(url) >= sizeof r->path;
    *con_cls = r;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, r);
    return ds_http_first_call(r);
  }
  if (r->answered) {
    *upload_data_size = 0; /* an early answer (413, 401): the rest of the body is discarded */
    return MHD_YES;
  }
  if (*upload_data_size) {
    enum MHD_Result ret = ds_http_body(r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return ret;
  }
  return ds_http_dispatch(r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  ds_request *r = *con_cls;
  if (!r)
    return;
  if (r->upload)
    ds_service_upload_abort(r->upload);
  free(r->body);
  json_t *f = json_pack("{s:s,s:s,s:i,s:f}", "method", r->method, "path", r->path, "status", (int)r->status, "ms",
                        (double)(ds_monotonic_ms() - r->started_ms));
  if (r->dump_id[0])
    json_object_set_new(f, "dump", json_string(r->dump_id));
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
    json_object_set_new(f, "terminated", json_integer(toe));
  ds_log_event("request", f);
  ds_metrics_request(r->route[0] ? r->route : "unmatched", r->method, r->status,
                     (double)(ds_monotonic_ms() - r->started_ms) / 1000.0);
  free(r);
  *con_cls = NULL;
}

/* ---- start and stop ------------------------------------------------------------------------- */

static ds_status parse_listen(const char *listen, struct sockaddr_in *addr, ds_error *err) {
  const char *colon = strrchr(listen, ':');
  char host[64];
  if (!colon || (size_t)(colon - listen) >= sizeof host)
    return ds_error_set(err, DS_E_ARG, "listen must be HOST:PORT (an IPv4 address), got \"%s\"", listen);
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  char *end = NULL;
  unsigned long port = strtoul(colon + 1, &end, 10);
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t)port);
  if (!*(colon + 1) || *end || port > 65535 || inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
                                                          &addr->sin_addr) != 1)
    return ds_error_set(err, DS_E_ARG, "listen must be HOST:PORT with an IPv4 address, got \"%s\"", listen);
  return DS_OK;
}

ds_status ds_http_start(ds_service *svc, ds_http **out, uint16_t *port, ds_error *err) {
  *out = NULL;
  const ds_config *c = ds_service_config(svc);
  struct sockaddr_in addr;
  ds_status rc = parse_listen(c->listen, &addr, err);
  if (rc != DS_OK)
    return rc;
  ds_http *http = calloc(1, sizeof *http);
  if (!http)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  http->svc = svc;
  pthread_mutex_init(&http->wait_lock, NULL);
  pthread_cond_init(&http->wait_cond, NULL);
  ds_http_web_init(http);
  http->answers = ds_respcache_new((size_t)c->response_cache_bytes);
  http->daemon = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, http,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->connection_timeout, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)c->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->per_ip_limit,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256u << 10), MHD_OPTION_NOTIFY_COMPLETED, completed, http,
      MHD_OPTION_END);
  if (!http->daemon) {
    pthread_cond_destroy(&http->wait_cond);
    pthread_mutex_destroy(&http->wait_lock);
    free(http);
    return ds_error_set(err, DS_E_IO, "cannot listen on %s (address in use, or not an address of this machine)",
                        c->listen);
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
  *port = info ? info->port : 0;
  ds_service_on_job_change(svc, on_job_change, http);
  pthread_create(&http->waker, NULL, waker_main, http);
  *out = http;
  return DS_OK;
}

void ds_http_stop(ds_http *http, uint64_t grace_seconds) {
  if (!http)
    return;
  MHD_quiesce_daemon(http->daemon);
  pthread_mutex_lock(&http->wait_lock);
  http->stopping = true;
  pthread_cond_signal(&http->wait_cond);
  pthread_mutex_unlock(&http->wait_lock);
  pthread_join(http->waker, NULL);
  resume_all(http); /* long-polls answer with the state they have */
  int64_t deadline = ds_monotonic_ms() + (int64_t)grace_seconds * 1000;
  while (ds_monotonic_ms() < deadline) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (!info || info->num_connections == 0)
      break;
    usleep(20000);
  }
  ds_service_on_job_change(http->svc, NULL, NULL);
  MHD_stop_daemon(http->daemon);
  ds_respcache_free(http->answers);
  pthread_cond_destroy(&http->wait_cond);
  pthread_mutex_destroy(&http->wait_lock);
  free(http);
}
