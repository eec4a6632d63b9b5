/*
 * url.c: see url.h. The grammar is deliberately narrower than RFC 3986 (no userinfo, no
 * percent-encoded or internationalised hosts) so that this parser and libcurl's cannot disagree
 * about which host a URL names; the fetch process checks libcurl's reading against ours anyway.
 */
#include "url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Characters a URL may hold at all: printable ASCII without space, quotes, backslash, <, >, ^, `, {, |, }. */
static bool url_char_ok(unsigned char c) {
  return c > 0x20 && c < 0x7f && !strchr("\"\\<>^`{|}", c);
}

static bool host_char_ok(unsigned char c) {
  return isalnum(c) || c == '.' || c == '-' || c == '_';
}

/* Host and port of an authority ("host", "host:port", "[v6]", "[v6]:port"). */
static ds_status parse_authority(const char *auth, size_t len, ds_url *out, ds_error *err) {
  const char *end = auth + len, *port_text = NULL;
  size_t host_len;
  if (len == 0)
    return ds_error_set(err, DS_E_ARG, "the URL has no host");
  if (memchr(auth, '@', len))
    return ds_error_set(err, DS_E_ARG, "the URL holds credentials (user@host): use a SAS URL instead");
  if (auth[0] == '[') {
    const char *close = memchr(auth, ']', len);
    if (!close)
      return ds_error_set(err, DS_E_ARG, "the URL's IPv6 host has no closing bracket");
    host_len = (size_t)(close - auth - 1);
    if (host_len == 0 || host_len >= sizeof out->host)
      return ds_error_set(err, DS_E_ARG, "the URL's IPv6 host is empty or too long");
    memcpy(out->host, auth + 1, host_len);
    out->host[host_len] = 0;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, out->host, &a6) != 1)
      return ds_error_set(err, DS_E_ARG, "the URL's host [%s] is not an IPv6 address", out->host);
    out->ipv6_literal = true;
    if (close + 1 < end && close[1] != ':')
      return ds_error_set(err, DS_E_ARG, "unexpected text after the URL's IPv6 host");
    port_text = close + 1 < end ? close + 2 : NULL;
  } else {
    const char *colon = memchr(auth, ':', len);
    host_len = colon ? (size_t)(colon - auth) : len;
    if (host_len == 0 || host_len >= sizeof out->host)
      return ds_error_set(err, DS_E_ARG, "the URL's host is empty or longer than %zu bytes", sizeof out->host - 1);
    for (size_t i = 0; i < host_len; i++) {
      if (!host_char_ok((unsigned char)auth[i]))
        return ds_error_set(err, DS_E_ARG, "the URL's host holds a character a host name cannot hold");
      out->host[i] = (char)tolower((unsigned char)auth[i]);
    }
    out->host[host_len] = 0;
    port_text = colon ? colon + 1 : NULL;
  }
  out->port = out->https ? 443 : 80;
  if (port_text) {
    size_t digits = (size_t)(end - port_text);
    unsigned long port = 0;
    if (digits == 0 || digits > 5)
      return ds_error_set(err, DS_E_ARG, "the URL's port is not a number from 1 to 65535");
    for (const char *p = port_text; p < end; p++) {
      if (!isdigit((unsigned char)*p))
        return ds_error_set(err, DS_E_ARG, "the URL's port is not a number from 1 to 65535");
      port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535)
      return ds_error_set(err, DS_E_ARG, "the URL's port is not a number from 1 to 65535");
    out->port = (unsigned)port;
    out->port_explicit = true;
  }
  return DS_OK;
}

ds_status ds_url_parse(const char *text, ds_url *out, ds_error *err) {
  memset(out, 0, sizeof *out);
  if (!text || !*text)
    return ds_error_set(err, DS_E_ARG, "the import needs a url");
  size_t len = strnlen(text, DS_URL_MAX);
  if (len >= DS_URL_MAX)
    return ds_error_set(err, DS_E_ARG, "the url is longer than %d bytes", DS_URL_MAX - 1);
  for (size_t i = 0; i < len; i++)
    if (!url_char_ok((unsigned char)text[i]))
      return ds_error_set(err, DS_E_ARG, "the url holds a space, a control character or a character URLs "
                                         "cannot hold unencoded");
  size_t scheme_len;
  if (strncasecmp(text, "https://", 8) == 0) {
    out->https = true;
    scheme_len = 8;
  } else if (strncasecmp(text, "http://", 7) == 0) {
    scheme_len = 7;
  } else {
    return ds_error_set(err, DS_E_ARG, "the url must start with https:// or http://");
  }
  const char *auth = text + scheme_len;
  size_t auth_len = strcspn(auth, "/?#");
  ds_status rc = parse_authority(auth, auth_len, out, err);
  if (rc != DS_OK)
    return rc;
  const char *rest = auth + auth_len;
  size_t path_len = strcspn(rest, "?#");
  bool has_query = rest[path_len] == '?';
  size_t fetch_len = (size_t)(rest - text) + strcspn(rest, "#");
  memcpy(out->full, text, fetch_len);
  out->full[fetch_len] = 0;
  char port[8] = "";
  if (out->port_explicit)
    snprintf(port, sizeof port, ":%u", out->port);
  const char *ellipsis = "";
  size_t room = sizeof out->redacted - 64 - strlen(out->host);
  if (path_len > room) {
    path_len = room;
    ellipsis = "...";
  }
  snprintf(out->redacted, sizeof out->redacted, "%s://%s%s%s%s%.*s%s%s", out->https ? "https" : "http",
           out->ipv6_literal ? "[" : "", out->host, out->ipv6_literal ? "]" : "", port, (int)path_len, rest, ellipsis,
           has_query ? "?<redacted>" : "");
  return DS_OK;
}

static bool in_v4(uint32_t a, uint32_t net, unsigned bits) {
  return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits));
}

static bool v4_is_public(uint32_t a) {
  static const struct {
    uint32_t net;
    unsigned bits;
  } blocked[] = {
      {0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10}, {0x7f000000, 8},  {0xa9fe0000, 16},
      {0xac100000, 12}, {0xc0000000, 24}, {0xc0000200, 24}, {0xc0a80000, 16}, {0xc6120000, 15},
      {0xc6336400, 24}, {0xcb007100, 24}, {0xe0000000, 4},  {0xf0000000, 4},
  };
  for (size_t i = 0; i < sizeof blocked / sizeof *blocked; i++)
    if (in_v4(a, blocked[i].net, blocked[i].bits))
      return false;
  return true;
}

bool ds_addr_is_public(const struct sockaddr *addr) {
  if (addr->sa_family == AF_INET)
    return v4_is_public(ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr));
  if (addr->sa_family != AF_INET6)
    return false;
  const unsigned char *b = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
    return v4_is_public((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
  bool zero_prefix = true; /* ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d */
  for (int i = 0; i < 12; i++)
    zero_prefix = zero_prefix && b[i] == 0;
  if (zero_prefix)
    return false;
  if (b[0] == 0xff || (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||
      (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
    return false; /* multicast, unique local, link-local, site-local */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
    return false; /* documentation */
  if (b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0)
    return false; /* discard-only 100::/64 */
  return true;
}

/* Whether entry (host or host:port, [v6] or [v6]:port; trimmed) names url's host and port. */
static bool entry_matches(const char *entry, size_t len, const ds_url *url) {
  char host[300];
  const char *end = entry + len, *port = NULL;
  size_t host_len;
  if (entry[0] == '[') {
    const char *close = memchr(entry, ']', len);
    if (!close)
      return false;
    host_len = (size_t)(close - entry - 1);
    port = close + 1 < end && close[1] == ':' ? close + 2 : NULL;
    entry++;
  } else {
    const char *colon = memchr(entry, ':', len);
    host_len = colon ? (size_t)(colon - entry) : len;
    port = colon ? colon + 1 : NULL;
  }
  if (host_len == 0 || host_len >= sizeof host)
    return false;
  for (size_t i = 0; i < host_len; i++)
    host[i] = (char)tolower((unsigned char)entry[i]);
  host[host_len] = 0;
  if (strcmp(host, url->host) != 0)
    return false;
  if (!port)
    return true;
  unsigned long p = 0;
  if (port == end || end - port > 5)
    return false;
  for (const char *c = port; c < end; c++) {
    if (!isdigit((unsigned char)*c))
      return false;
    p = p * 10 + (unsigned long)(*c - '0');
  }
  return p == url->port;
}

static bool is_listed(const ds_url *url, const char *allowed) {
  for (const char *p = allowed; p && *p;) {
    size_t len = strcspn(p, ",");
    const char *start = p;
    size_t n = len;
    while (n && isspace((unsigned char)*start))
      start++, n--;
    while (n && isspace((unsigned char)start[n - 1]))
      n--;
    if (n && entry_matches(start, n, url))
      return true;
    p += len + (p[len] == ',');
  }
  return false;
}

ds_status ds_url_check_host(const ds_url *url, const char *allowed_hosts, bool *listed, ds_error *err) {
  *listed = false;
  bool have_list = allowed_hosts && allowed_hosts[strspn(allowed_hosts, " ,\t")] != 0;
  if (have_list) {
    if (is_listed(url, allowed_hosts)) {
      *listed = true;
      return DS_OK;
    }
    return ds_error_set(err, DS_E_UNSUPPORTED, "imports from %s%s%s port %u are not allowed: the host is not in "
                        "this server's import_allowed_hosts", url->ipv6_literal ? "[" : "", url->host,
                        url->ipv6_literal ? "]" : "", url->port);
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list = NULL;
  int rc = getaddrinfo(url->host, NULL, &hints, &list);
  if (rc != 0)
    return ds_error_set(err, DS_E_NETWORK, "the url's host %s does not resolve: %s", url->host, gai_strerror(rc));
  ds_status status = DS_OK;
  for (struct addrinfo *a = list; a && status == DS_OK; a = a->ai_next)
    if (!ds_addr_is_public(a->ai_addr)) {
      char text[INET6_ADDRSTRLEN] = "?";
      const void *raw = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                                : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
      inet_ntop(a->ai_family, raw, text, sizeof text);
      status = ds_error_set(err, DS_E_UNSUPPORTED,
                            "imports from %s are not allowed: it is (or resolves to) %s, a loopback, link-local, "
                            "private or reserved address (list the host in import_allowed_hosts to allow it)",
                            url->host, text);
    }
  freeaddrinfo(list);
  return status;
}

void ds_url_redact_text(const char *text, char *out, size_t out_len) {
  static const char query[] = "?<redacted>", sig[] = "sig=REDACTED";
  size_t n = 0;
  if (!out_len)
    return;
  for (const char *p = text; p && *p && n + 1 < out_len;) {
    const char *piece = NULL;
    size_t run = *p == '?' ? strcspn(p + 1, " \t\r\n\"'") : 0;
    if (run && memchr(p + 1, '=', run)) { /* a query string: name=value... */
      piece = query;
      p += 1 + run;
    } else if (strncasecmp(p, "sig=", 4) == 0) {
      piece = sig;
      p += 4 + strcspn(p + 4, " \t\r\n\"'&");
    }
    if (piece) {
      size_t len = strlen(piece);
      if (n + len >= out_len)
        break;
      memcpy(out + n, piece, len);
      n += len;
    } else {
      out[n++] = *p++;
    }
  }
  out[n] = 0;
}
