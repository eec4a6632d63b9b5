/*
 * httpint.h: private to http.c (transport) and routes.c (what each route does).
 */
#ifndef DUMPSCOPE_SERVER_HTTP_INT_H
#define DUMPSCOPE_SERVER_HTTP_INT_H

#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>

#include "api.h"
#include "http.h"
#include "respcache.h"

#define DS_HTTP_MAX_WAITING 1024

typedef struct ds_request ds_request;

struct ds_http {
  ds_service *svc;
  struct MHD_Daemon *daemon;
  pthread_t waker;
  pthread_mutex_t wait_lock;
  pthread_cond_t wait_cond;
  bool wake, stopping;
  ds_request *waiting[DS_HTTP_MAX_WAITING];
  size_t waiting_count;
  char web_root[PATH_MAX];
  ds_respcache *answers;     /* rendered analysis answers by (index identity, path, parameters) */
};

struct ds_request {
  ds_http *http;
  struct MHD_Connection *conn;
  int64_t started_ms;
  char method[16];
  char path[1024];
  bool path_too_long;
  ds_api_args args;          /* query string */
  ds_status args_rc;
  ds_error args_err;
  ds_role role;
  ds_upload *upload;         /* POST /dumps in progress */
  char *body;                /* POST /dumps/import: the JSON body collected (import_routes.c) */
  size_t body_len;
  ds_error upload_err;
  bool upload_failed;
  bool answered, suspended;
  int64_t wait_deadline_ms;  /* ?wait=N: when to stop waiting (0: not waiting) */
  unsigned status;
  char dump_id[24];
  char route[96];            /* the route template, for metrics ("/dumps/{id}/gen/{gen}") */
  struct {
    char name[32];
    char value[256];
  } headers[6];
  size_t header_count;
};

enum MHD_Result ds_http_send_json(ds_request *r, unsigned status, json_t *doc);
/* Sends a malloc'd JSON body (taken over; NULL: out of memory). */
enum MHD_Result ds_http_send_body(ds_request *r, unsigned status, char *body);
enum MHD_Result ds_http_send_error(ds_request *r, unsigned status, const char *code, const char *message);
/* Sends err with the status api/ maps its code to. */
enum MHD_Result ds_http_send_status(ds_request *r, const ds_error *err);
void ds_http_add_header(ds_request *r, const char *name, const char *value);
bool ds_http_authorize(ds_request *r, ds_role need);
/* Suspends the request until the next job change or a waker tick. */
void ds_http_suspend(ds_request *r);

/* routes.c */
enum MHD_Result ds_http_first_call(ds_request *r);
enum MHD_Result ds_http_body(ds_request *r, const char *data, size_t len);
enum MHD_Result ds_http_dispatch(ds_request *r);
void ds_http_web_init(ds_http *http);

/* import_routes.c: POST /dumps/import, GET /imports/{id} */
bool ds_http_is_import_post(const ds_request *r);
bool ds_http_is_import_route(const ds_request *r);
enum MHD_Result ds_http_import_first_call(ds_request *r);
enum MHD_Result ds_http_collect_body(ds_request *r, const char *data, size_t len);
enum MHD_Result ds_http_import_dispatch(ds_request *r);

#endif
