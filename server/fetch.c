/*
 * fetch.c: `dumpscope fetch` (see fetch.h): the requests' shared setup and error classification,
 * the state file, HEAD, the streaming GET, the final checks and the command itself. The ranged
 * parallel GETs are fetch_ranges.c's.
 */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetchint.h"

int64_t ds__fetch_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void ds__fetch_fail(failure *f, const char *code, bool retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ds__fetch_fail(failure *f, const char *code, bool retry, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
  f->code = code;
  f->retry = retry;
}

/* ---- headers and sockets ---------------------------------------------------------------------- */

static void header_value(const char *line, size_t len, char *out, size_t cap) {
  const char *colon = memchr(line, ':', len);
  size_t n = 0;
  if (colon) {
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
      v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
      end--;
    n = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
    memcpy(out, v, n);
  }
  out[n] = 0;
}

static bool header_is(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static size_t on_header(char *line, size_t size, size_t count, void *ctx) {
  reply *r = ctx;
  size_t len = size * count;
  char value[256];
  if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
    const char *sp = memchr(line, ' ', len);
    r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
  } else if (header_is(line, len, "Content-Length")) {
    header_value(line, len, value, sizeof value);
    r->length = strtoull(value, NULL, 10);
    r->has_length = value[0] != 0;
  } else if (header_is(line, len, "ETag")) {
    header_value(line, len, r->etag, sizeof r->etag);
  } else if (header_is(line, len, "Content-MD5")) {
    header_value(line, len, r->md5, sizeof r->md5);
  } else if (header_is(line, len, "x-ms-blob-content-md5")) {
    header_value(line, len, r->blob_md5, sizeof r->blob_md5);
  } else if (header_is(line, len, "Accept-Ranges")) {
    header_value(line, len, value, sizeof value);
    r->accept_ranges = strstr(value, "bytes") != NULL;
  } else if (header_is(line, len, "x-ms-error-code")) {
    header_value(line, len, r->ms_error, sizeof r->ms_error);
  } else if (header_is(line, len, "Retry-After")) {
    header_value(line, len, value, sizeof value);
    char *end = NULL;
    long seconds = strtol(value, &end, 10);
    if (end == value) /* an HTTP date */
      seconds = (long)(curl_getdate(value, NULL) - time(NULL));
    r->retry_after = seconds < 0 ? 0 : seconds > FETCH_RETRY_AFTER_CAP_S ? FETCH_RETRY_AFTER_CAP_S : seconds;
  } else if (header_is(line, len, "Content-Range")) {
    header_value(line, len, value, sizeof value);
    unsigned long long a, b, total;
    r->has_range = sscanf(value, "bytes %llu-%llu/%llu", &a, &b, &total) == 3;
    r->range_start = a, r->range_end = b, r->range_total = total;
  }
  return len;
}

/* Every address libcurl connects to passes the import policy here (DNS rebinding included). */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr) {
  fetch *f = ctx;
  (void)purpose;
  if (!f->allow_private && !ds_addr_is_public(&addr->addr)) {
    f->refused_address = true;
    const void *raw = addr->family == AF_INET ? (const void *)&((struct sockaddr_in *)&addr->addr)->sin_addr
                                              : (const void *)&((struct sockaddr_in6 *)&addr->addr)->sin6_addr;
    if (!inet_ntop(addr->family, raw, f->refused_text, sizeof f->refused_text))
      snprintf(f->refused_text, sizeof f->refused_text, "?");
    return CURL_SOCKET_BAD;
  }
  return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* The options every request of this fetch shares. */
void ds__fetch_setup_easy(fetch *f, CURL *easy, reply *r, struct curl_slist *headers, char *errbuf) {
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, f->url.full);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, (long)FETCH_CONNECT_TIMEOUT_S);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long)f->stall_seconds);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "dumpscope-fetch/0.1");
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, f);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  errbuf[0] = 0;
  memset(r, 0, sizeof *r);
  r->retry_after = -1;
}

static bool retryable_status(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static bool retryable_curl(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_PARTIAL_FILE:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

/* What a finished request means when it did not deliver (transport error or an HTTP status). */
void ds__fetch_classify(fetch *f, CURLcode rc, const reply *r, const char *errbuf, const char *what, failure *out) {
  out->retry_after = r->retry_after;
  if (f->refused_address) {
    ds__fetch_fail(out, "host_not_allowed", false, "%s: the host resolves to %s, a loopback, link-local, private or "
             "reserved address (list the host in import_allowed_hosts to allow it)", what, f->refused_text);
  } else if (rc != CURLE_OK) {
    ds__fetch_fail(out, "network", retryable_curl(rc), "%s: %s%s%s", what, curl_easy_strerror(rc), errbuf[0] ? ": " : "",
             errbuf);
  } else if (r->status == 412) {
    ds__fetch_fail(out, "blob_changed", false, "%s: the blob changed during the download (its ETag no longer matches, "
             "HTTP 412): import it again", what);
  } else if (r->status == 401 || r->status == 403) {
    ds__fetch_fail(out, "access_denied", false, "%s: access denied (HTTP %ld%s%s): the SAS token may have expired or "
             "lack read permission", what, r->status, r->ms_error[0] ? " " : "", r->ms_error);
  } else if (r->status == 404) {
    ds__fetch_fail(out, "not_found", false, "%s: no blob at this URL (HTTP 404%s%s)", what, r->ms_error[0] ? " " : "",
             r->ms_error);
  } else if (r->status >= 300 && r->status < 400) {
    ds__fetch_fail(out, "http_error", false, "%s: the server redirects (HTTP %ld); redirects are not followed", what,
             r->status);
  } else {
    ds__fetch_fail(out, "http_error", retryable_status(r->status), "%s: HTTP %ld%s%s", what, r->status,
             r->ms_error[0] ? " " : "", r->ms_error);
  }
}

/* 1 s doubling to the cap, or what Retry-After asked for. */
int64_t ds__fetch_backoff_ms(unsigned attempt, long retry_after) {
  if (retry_after >= 0)
    return (int64_t)retry_after * 1000;
  int64_t ms = 1000;
  for (unsigned i = 0; i < attempt && ms < FETCH_BACKOFF_CAP_MS; i++)
    ms *= 2;
  return ms < FETCH_BACKOFF_CAP_MS ? ms : FETCH_BACKOFF_CAP_MS;
}

/* base64 of an MD5 digest. */
void ds__fetch_md5_base64(EVP_MD_CTX *md, char out[32]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(md, digest, &len);
  EVP_EncodeBlock((unsigned char *)out, digest, (int)len);
}

/* ---- the state file -------------------------------------------------------------------------- */

/* Writes the state (tmp + rename) after syncing the data it describes. */
void ds__fetch_save_state(fetch *f, bool complete) {
  if (f->fd >= 0)
    fdatasync(f->fd);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", f->state_path);
  FILE *out = fopen(tmp, "we");
  if (!out)
    return;
  fprintf(out, "dumpscope-fetch 1\nsize %llu\netag %s\nchunk %llu\nbytes_done %llu\ncomplete %d\ndone ",
          (unsigned long long)f->size, f->etag[0] ? f->etag : "-", (unsigned long long)f->chunk_bytes,
          (unsigned long long)f->done_bytes, complete ? 1 : 0);
  for (size_t i = 0; f->ranges && i < f->chunk_count; i++)
    fputc(f->done[i] ? '1' : '0', out);
  fputc('\n', out);
  bool ok = fflush(out) == 0 && ferror(out) == 0;
  fclose(out);
  if (ok)
    rename(tmp, f->state_path);
  else
    unlink(tmp);
  f->last_save_ms = ds__fetch_now_ms();
}

/* Reads the finished chunks of an earlier run, when it fetched the same blob the same way. */
static void load_state(fetch *f) {
  FILE *in = fopen(f->state_path, "re");
  if (!in)
    return;
  char *line = malloc(FETCH_STATE_MAX);
  unsigned long long size = 0, chunk = 0;
  char etag[256] = "";
  bool magic = false, match = false;
  while (line && fgets(line, FETCH_STATE_MAX, in)) {
    line[strcspn(line, "\n")] = 0;
    if (strcmp(line, "dumpscope-fetch 1") == 0)
      magic = true;
    else if (strncmp(line, "size ", 5) == 0)
      size = strtoull(line + 5, NULL, 10);
    else if (strncmp(line, "chunk ", 6) == 0)
      chunk = strtoull(line + 6, NULL, 10);
    else if (strncmp(line, "etag ", 5) == 0)
      snprintf(etag, sizeof etag, "%s", line + 5);
    else if (strncmp(line, "done ", 5) == 0) {
      match = magic && size == f->size && chunk == f->chunk_bytes && strcmp(etag, f->etag) == 0 &&
              strlen(line + 5) == f->chunk_count;
      for (size_t i = 0; match && i < f->chunk_count; i++)
        if (line[5 + i] == '1') {
          f->done[i] = 1;
          uint64_t start = (uint64_t)i * f->chunk_bytes;
          f->done_bytes += f->size - start < f->chunk_bytes ? f->size - start : f->chunk_bytes;
        }
    }
  }
  free(line);
  fclose(in);
  size_t finished = 0;
  for (size_t i = 0; i < f->chunk_count; i++)
    finished += f->done[i];
  if (finished)
    printf("@resume chunks=%zu of %zu bytes=%llu\n", finished, f->chunk_count, (unsigned long long)f->done_bytes);
}

void ds__fetch_report_progress(fetch *f) {
  int percent = f->size_known && f->size ? (int)(f->done_bytes * 100 / f->size) : 0;
  bool many = f->chunk_count > 4096;
  if (!many || ds__fetch_now_ms() - f->last_save_ms >= FETCH_STATE_EVERY_MS) {
    ds__fetch_save_state(f, false);
    printf("@progress download %d\n", percent > 100 ? 100 : percent);
    fflush(stdout);
  }
  f->last_percent = percent;
}

/* ---- HEAD ------------------------------------------------------------------------------------- */

/* Learns size, ETag, MD5 and range support; a server that refuses HEAD leaves them unknown. */
static bool do_head(fetch *f, struct curl_slist *headers, failure *fail) {
  CURL *easy = curl_easy_init();
  reply r;
  char errbuf[CURL_ERROR_SIZE];
  bool ok = false;
  for (unsigned attempt = 0; easy; attempt++) {
    ds__fetch_setup_easy(f, easy, &r, headers, errbuf);
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(easy);
    if (rc == CURLE_OK && r.status >= 200 && r.status < 300) {
      f->size_known = r.has_length;
      f->size = r.length;
      /* a weak ETag cannot be used with If-Match */
      if (r.etag[0] == '"')
        snprintf(f->etag, sizeof f->etag, "%s", r.etag);
      snprintf(f->md5, sizeof f->md5, "%s", r.md5[0] ? r.md5 : r.blob_md5);
      f->ranges = r.accept_ranges && f->size_known && f->etag[0] && f->size > 0;
      ok = true;
      break;
    }
    if (rc == CURLE_OK && (r.status == 405 || r.status == 501)) {
      ok = true; /* no HEAD here: one streaming GET will tell */
      break;
    }
    ds__fetch_classify(f, rc, &r, errbuf, "HEAD", fail);
    if (!fail->retry || attempt >= f->retries)
      break;
    int64_t wait = ds__fetch_backoff_ms(attempt, fail->retry_after);
    printf("@retry HEAD in %lld ms: %s\n", (long long)wait, fail->code);
    fflush(stdout);
    sleep_ms(wait);
  }
  if (!easy)
    ds__fetch_fail(fail, "io", false, "out of memory starting libcurl");
  curl_easy_cleanup(easy);
  return ok;
}

/* ---- one streaming GET ---------------------------------------------------------------------- */

typedef struct stream {
  fetch *f;
  reply r;
  uint64_t got;
  bool bad;
  const char *why_code;
  char why[200];
} stream;

static size_t on_stream_data(char *data, size_t size, size_t count, void *ctx) {
  stream *st = ctx;
  fetch *f = st->f;
  size_t n = size * count;
  if (st->r.status != 200)
    return n;
  if (st->got == 0 && f->etag[0] && st->r.etag[0] && strcmp(st->r.etag, f->etag) != 0) {
    st->bad = true, st->why_code = "blob_changed";
    snprintf(st->why, sizeof st->why, "the blob changed during the download (another ETag): import it again");
    return 0;
  }
  if (n > f->max_bytes - st->got || (f->size_known && n > f->size - st->got)) {
    st->bad = true, st->why_code = "too_large";
    snprintf(st->why, sizeof st->why, "the download is larger than %s",
             f->size_known ? "its announced size" : "this server accepts (max_upload_bytes)");
    return 0;
  }
  for (size_t off = 0; off < n;) {
    ssize_t w = write(f->fd, data + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      st->bad = true, st->why_code = "io";
      snprintf(st->why, sizeof st->why, "%s", w < 0 && errno == ENOSPC ? "the data folder's disk is full"
                                                                        : "cannot write the download");
      return 0;
    }
    off += (size_t)w;
  }
  st->got += n;
  f->done_bytes = st->got;
  if (ds__fetch_now_ms() - f->last_save_ms >= FETCH_STATE_EVERY_MS)
    ds__fetch_report_progress(f);
  return n;
}

/* One GET of the whole file from its start; retried from the start. */
static bool stream_download(fetch *f, struct curl_slist *headers, failure *fail) {
  CURL *easy = curl_easy_init();
  stream st = {.f = f};
  char errbuf[CURL_ERROR_SIZE];
  bool ok = false;
  for (unsigned attempt = 0; easy; attempt++) {
    if (ftruncate(f->fd, 0) != 0 || lseek(f->fd, 0, SEEK_SET) != 0) {
      ds__fetch_fail(fail, "io", false, "cannot write the download: %s", strerror(errno));
      break;
    }
    st.got = 0, st.bad = false;
    f->done_bytes = 0;
    ds__fetch_setup_easy(f, easy, &st.r, headers, errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_stream_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &st);
    CURLcode rc = curl_easy_perform(easy);
    memset(fail, 0, sizeof *fail);
    fail->retry_after = -1;
    if (st.bad) {
      ds__fetch_fail(fail, st.why_code, false, "GET: %s", st.why);
    } else if (rc == CURLE_OK && st.r.status == 200) {
      if (!f->size_known || st.got == f->size) {
        f->size = st.got;
        f->size_known = true;
        if (!f->md5[0])
          snprintf(f->md5, sizeof f->md5, "%s", st.r.md5);
        ok = true;
        break;
      }
      ds__fetch_fail(fail, "network", true, "GET: the body ended after %llu of %llu bytes", (unsigned long long)st.got,
               (unsigned long long)f->size);
    } else {
      ds__fetch_classify(f, rc, &st.r, errbuf, "GET", fail);
    }
    if (!fail->retry || attempt >= f->retries) {
      if (fail->retry)
        snprintf(fail->message + strnlen(fail->message, sizeof fail->message - 40), 40,
                 " (gave up after %u retries)", f->retries);
      break;
    }
    int64_t wait = ds__fetch_backoff_ms(attempt, fail->retry_after);
    printf("@retry GET in %lld ms: %s\n", (long long)wait, fail->code);
    fflush(stdout);
    sleep_ms(wait);
  }
  if (!easy)
    ds__fetch_fail(fail, "io", false, "out of memory starting libcurl");
  curl_easy_cleanup(easy);
  return ok;
}

/* ---- the whole run ------------------------------------------------------------------------------ */

/* The blob's stored MD5 (when the server gave one) against the file's. */
static bool verify_md5(fetch *f, failure *fail) {
  if (!f->md5[0])
    return true;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  char *block = malloc(1u << 20), got[32] = "";
  bool ok = md && block && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1;
  for (uint64_t off = 0; ok && off < f->size;) {
    ssize_t n = pread(f->fd, block, 1u << 20, (off_t)off);
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    if (ok)
      EVP_DigestUpdate(md, block, (size_t)n), off += (uint64_t)n;
  }
  if (ok)
    ds__fetch_md5_base64(md, got);
  EVP_MD_CTX_free(md);
  free(block);
  if (!ok) {
    ds__fetch_fail(fail, "io", false, "cannot read the download back to check its MD5");
    return false;
  }
  if (strcmp(got, f->md5) != 0) {
    memset(f->done, 0, f->chunk_count); /* nothing of it can be trusted for a resume */
    ds__fetch_fail(fail, "corrupt", false, "the downloaded file's MD5 does not match the blob's Content-MD5");
    return false;
  }
  return true;
}

/* Opens the output: kept (with the recorded chunks) for a resumed ranged download, else empty and,
 * for ranges, preallocated. */
static bool prepare_output(fetch *f, failure *fail) {
  f->fd = open(f->out_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f->fd < 0) {
    ds__fetch_fail(fail, "io", false, "cannot create the download file: %s", strerror(errno));
    return false;
  }
  if (!f->ranges)
    return true;
  if (f->size > f->chunk_bytes * (uint64_t)FETCH_MAX_CHUNKS)
    f->chunk_bytes = (f->size / FETCH_MAX_CHUNKS + 65535) / 65536 * 65536;
  f->chunk_count = (size_t)((f->size + f->chunk_bytes - 1) / f->chunk_bytes);
  f->done = calloc(f->chunk_count, 1);
  if (!f->done) {
    ds__fetch_fail(fail, "io", false, "out of memory for %zu chunks", f->chunk_count);
    return false;
  }
  struct stat st;
  if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size == f->size)
    load_state(f);
  if (f->done_bytes == 0) {
    int rc = ftruncate(f->fd, 0) == 0 ? posix_fallocate(f->fd, 0, (off_t)f->size) : errno;
    if (rc == EOPNOTSUPP || rc == EINVAL)
      rc = ftruncate(f->fd, (off_t)f->size) == 0 ? 0 : errno;
    if (rc != 0) {
      ds__fetch_fail(fail, "io", false, "cannot make room for %llu bytes: %s", (unsigned long long)f->size, strerror(rc));
      return false;
    }
  }
  ds__fetch_save_state(f, false);
  return true;
}

/* Reads and checks the URL from its file; libcurl must read the same host and port from it. */
static bool read_url(fetch *f, failure *fail) {
  char text[DS_URL_MAX + 2];
  ds_error err = {0};
  FILE *in = fopen(f->url_file, "re");
  size_t n = in ? fread(text, 1, sizeof text - 1, in) : 0;
  if (in)
    fclose(in);
  text[n] = 0;
  text[strcspn(text, "\r\n")] = 0;
  if (!in || ds_url_parse(text, &f->url, &err) != DS_OK) {
    ds__fetch_fail(fail, "invalid_url", false, "the import's URL file is unreadable or invalid: %s",
             in ? err.message : strerror(errno));
    return false;
  }
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL;
  bool same = u && curl_url_set(u, CURLUPART_URL, f->url.full, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
  char expect[300];
  snprintf(expect, sizeof expect, f->url.ipv6_literal ? "[%s]" : "%s", f->url.host);
  same = same && strcasecmp(host, expect) == 0 && strtoul(port, NULL, 10) == f->url.port;
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (!same)
    ds__fetch_fail(fail, "invalid_url", false, "libcurl reads another host or port from the URL than the daemon checked");
  return same;
}

static void usage(FILE *out) {
  fprintf(out, "usage: dumpscope fetch --url-file PATH --out PATH [--state PATH] [--connections N] [--chunk-bytes N]\n"
               "                       [--max-bytes N] [--stall-seconds N] [--retries N] [--allow-private]\n"
               "  Downloads one import (run by the daemon's supervisor); the state file (default OUT.state)\n"
               "  records the finished chunks. Exit codes: 0 downloaded, 1 failed (an @error line says why),\n"
               "  2 bad arguments.\n");
}

static bool parse_args(fetch *f, int argc, char **argv) {
  for (int i = 2; i < argc; i++) {
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    unsigned long long value = 0;
    if (strcmp(argv[i], "--allow-private") == 0) {
      f->allow_private = true;
      continue;
    }
    if (!next)
      return false;
    if (strcmp(argv[i], "--url-file") == 0)
      f->url_file = next;
    else if (strcmp(argv[i], "--out") == 0)
      f->out_path = next;
    else if (strcmp(argv[i], "--state") == 0)
      f->state_path = next;
    else {
      value = strtoull(next, &end, 10);
      if (end == next || *end)
        return false;
      if (strcmp(argv[i], "--connections") == 0 && value >= 1 && value <= FETCH_SLOTS_MAX)
        f->connections = (unsigned)value;
      else if (strcmp(argv[i], "--chunk-bytes") == 0 && value >= 65536)
        f->chunk_bytes = value;
      else if (strcmp(argv[i], "--max-bytes") == 0 && value > 0)
        f->max_bytes = value;
      else if (strcmp(argv[i], "--stall-seconds") == 0 && value >= 1 && value <= 3600)
        f->stall_seconds = (unsigned)value;
      else if (strcmp(argv[i], "--retries") == 0 && value <= 100)
        f->retries = (unsigned)value;
      else
        return false;
    }
    i++;
  }
  if (f->out_path && !f->state_path && strlen(f->out_path) + 7 <= sizeof f->state_default) {
    snprintf(f->state_default, sizeof f->state_default, "%s.state", f->out_path);
    f->state_path = f->state_default;
  }
  return f->url_file && f->out_path && f->state_path;
}

static int report_failure(const failure *fail) {
  char safe[DS_ERROR_MESSAGE_MAX + 64];
  ds_url_redact_text(fail->message, safe, sizeof safe);
  fprintf(stderr, "@error %s %s\n", fail->code ? fail->code : "failed", safe);
  return 1;
}

int ds_fetch_main(int argc, char **argv) {
  fetch f = {.connections = 4, .stall_seconds = 30, .retries = 8, .chunk_bytes = 8u << 20,
             .max_bytes = UINT64_MAX, .fd = -1};
  failure fail = {.code = "failed"};
  if (!parse_args(&f, argc, argv)) {
    usage(stderr);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct curl_slist *headers = curl_slist_append(NULL, FETCH_MS_VERSION);
  bool ok = headers && read_url(&f, &fail) && do_head(&f, headers, &fail);
  if (ok && f.size_known && f.size > f.max_bytes) {
    ds__fetch_fail(&fail, "too_large", false, "the blob is %llu bytes; this server accepts at most %llu (max_upload_bytes)",
             (unsigned long long)f.size, (unsigned long long)f.max_bytes);
    ok = false;
  }
  if (ok && f.etag[0]) {
    char if_match[300];
    snprintf(if_match, sizeof if_match, "If-Match: %s", f.etag);
    struct curl_slist *more = curl_slist_append(headers, if_match);
    ok = more != NULL;
    headers = more ? more : headers;
  }
  if (ok) {
    for (struct curl_slist *h = headers; h && ok; h = h->next)
      ok = (f.md5_headers = curl_slist_append(f.md5_headers, h->data)) != NULL;
    struct curl_slist *more = ok ? curl_slist_append(f.md5_headers, "x-ms-range-get-content-md5: true") : NULL;
    ok = more != NULL;
    f.md5_headers = more ? more : f.md5_headers;
  }
  ok = ok && prepare_output(&f, &fail);
  if (ok && f.ranges) {
    printf("@mode ranges size=%llu chunks=%zu connections=%u\n", (unsigned long long)f.size, f.chunk_count,
           f.connections);
    fflush(stdout);
    ok = ds__fetch_ranges(&f, headers, &fail);
    if (!ok && fail.ranges_ignored) {
      printf("@mode stream (the server ignored ranges)\n");
      f.ranges = false;
      ok = stream_download(&f, headers, &fail);
    }
  } else if (ok) {
    printf("@mode stream\n");
    fflush(stdout);
    ok = stream_download(&f, headers, &fail);
  }
  ok = ok && verify_md5(&f, &fail);
  if (ok && fsync(f.fd) != 0) {
    ds__fetch_fail(&fail, "io", false, "cannot sync the download: %s", strerror(errno));
    ok = false;
  }
  if (f.fd >= 0) {
    f.done_bytes = ok ? f.size : f.done_bytes;
    ds__fetch_save_state(&f, ok);
    close(f.fd);
  }
  curl_slist_free_all(headers);
  curl_slist_free_all(f.md5_headers);
  free(f.done);
  curl_global_cleanup();
  if (!ok)
    return report_failure(&fail);
  printf("@progress download 100\n@result bytes=%llu\n", (unsigned long long)f.size);
  return 0;
}
