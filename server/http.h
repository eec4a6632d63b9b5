/*
 * http.h: the daemon's HTTP side (libmicrohttpd, epoll thread pool): routing, bearer-token auth,
 * streamed uploads, long-polls, and api/'s resource table under /dumps/{id}/.
 */
#ifndef DUMPSCOPE_SERVER_HTTP_H
#define DUMPSCOPE_SERVER_HTTP_H

#include <stdint.h>

#include "dumpscope/error.h"
#include "service.h"

typedef struct ds_http ds_http;

/* Listens on config.listen; *port is the bound port (useful with port 0). */
ds_status ds_http_start(ds_service *svc, ds_http **out, uint16_t *port, ds_error *err);
/* Graceful stop: stop accepting, wake long-polls, let requests finish for up to grace_seconds,
 * then close every connection. */
void ds_http_stop(ds_http *http, uint64_t grace_seconds);

#endif
