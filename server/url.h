/*
 * url.h: import URLs, the untrusted text of POST /dumps/import, checked at the boundary.
 *
 * A URL is accepted only as http or https with a plain host (a name, IPv4 or [IPv6]) and an
 * optional port: no credentials in it, no spaces or control characters, at most DS_URL_MAX bytes.
 * Its query string (an Azure SAS token: sp, se, sv, sig...) is a secret: every logged, stored or
 * returned form of the URL is the redacted one, with the query replaced by "?<redacted>". The full
 * URL exists only in memory, in a 0600 file of the data folder and in the `dumpscope fetch`
 * process that reads that file.
 *
 * Where a URL may point: import_allowed_hosts lists host[:port] entries; when it is set, only those
 * hosts are allowed. When it is empty, any host whose addresses are all public is allowed.
 * Loopback, link-local, private, shared, multicast and reserved addresses are refused unless the
 * host is listed explicitly; the fetch process re-checks each address it connects to, so a name
 * that resolves differently later (DNS rebinding) is refused too.
 */
#ifndef DUMPSCOPE_SERVER_URL_H
#define DUMPSCOPE_SERVER_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "dumpscope/error.h"

#define DS_URL_MAX 8192
#define DS_URL_REDACTED_MAX 2048 /* what the store keeps (DS_STORE_URL_MAX) */

typedef struct ds_url {
  bool https;
  char host[256];              /* lowercase; an IPv6 address without its brackets */
  bool ipv6_literal;
  unsigned port;               /* the explicit port, or 80 / 443 */
  bool port_explicit;
  char full[DS_URL_MAX];       /* what is fetched: the URL without its fragment */
  char redacted[DS_URL_REDACTED_MAX]; /* scheme://host[:port]/path[?<redacted>] */
} ds_url;

/* Parses and checks text; DS_E_ARG with the reason when it is not an acceptable URL. */
ds_status ds_url_parse(const char *text, ds_url *out, ds_error *err);

/* Whether the policy lets an import fetch from url: DS_OK (*listed: the host is in allowed_hosts,
 * so its private addresses are allowed too), DS_E_UNSUPPORTED with the reason when the host is not
 * allowed, DS_E_NETWORK when its name does not resolve. Resolves names (getaddrinfo) when
 * allowed_hosts is empty. */
ds_status ds_url_check_host(const ds_url *url, const char *allowed_hosts, bool *listed, ds_error *err);

/* Whether an address is one anybody may reach on the internet (not loopback, link-local, private,
 * shared, unspecified, multicast, reserved or documentation; IPv4-mapped IPv6 judged as IPv4). */
bool ds_addr_is_public(const struct sockaddr *addr);

/* Copies text into out (bounded), replacing every query string ("?" and a run without spaces or
 * quotes that holds "=") by "?<redacted>" and every "sig=" value by "sig=REDACTED": for messages
 * that may quote a URL. */
void ds_url_redact_text(const char *text, char *out, size_t out_len);

#endif
