/*
 * fetch_ranges.c: the ranged download of `dumpscope fetch`: the chunks not yet done, on up to
 * `connections` transfers of one curl multi handle, each a GET with Range and If-Match whose 206,
 * Content-Range (and ETag, when the reply carries one) are checked before a byte is written at
 * its offset; a finished chunk is recorded in the state file, a failed one retried after its
 * backoff or, for good, the end of the download.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetchint.h"

typedef struct slot {
  fetch *f;
  CURL *easy;
  bool busy, bad, ranges_ignored;
  size_t chunk;
  uint64_t start, len, got;
  reply r;
  EVP_MD_CTX *md;
  char why[200];
  const char *why_code;
  char errbuf[CURL_ERROR_SIZE];
} slot;

static size_t slot_bad(slot *s, const char *code, const char *why) {
  s->bad = true;
  s->why_code = code;
  snprintf(s->why, sizeof s->why, "%s", why);
  return 0; /* aborts the transfer */
}

/* Body bytes of one chunk: checked against what was asked, written at their offset. */
static size_t on_chunk_data(char *data, size_t size, size_t count, void *ctx) {
  slot *s = ctx;
  size_t n = size * count;
  bool whole = s->start == 0 && s->len == s->f->size; /* a 200 answers that as well as a 206 */
  if (s->r.status == 200 && !whole) {
    s->ranges_ignored = true;
    return slot_bad(s, "http_error", "the server ignored the Range header");
  }
  if (s->r.status != 206 && s->r.status != 200)
    return n; /* an error's body: read and dropped, the status decides */
  if (s->got == 0 && s->r.status == 206 &&
      (!s->r.has_range || s->r.range_start != s->start || s->r.range_end != s->start + s->len - 1 ||
       s->r.range_total != s->f->size))
    return slot_bad(s, "http_error", "the server answered another range than the one asked for (Content-Range)");
  if (s->got == 0 && s->r.etag[0] && strcmp(s->r.etag, s->f->etag) != 0)
    return slot_bad(s, "blob_changed", "the blob changed during the download (another ETag): import it again");
  if (n > s->len - s->got)
    return slot_bad(s, "http_error", "the server sent more bytes than the range asked for");
  for (size_t off = 0; off < n;) {
    ssize_t w = pwrite(s->f->fd, data + off, n - off, (off_t)(s->start + s->got + off));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return slot_bad(s, "io", w < 0 && errno == ENOSPC ? "the data folder's disk is full" : "cannot write the download");
    off += (size_t)w;
  }
  if (s->md)
    EVP_DigestUpdate(s->md, data, n);
  s->got += n;
  return n;
}

static void slot_start(fetch *f, slot *s, size_t chunk, struct curl_slist *headers) {
  s->chunk = chunk;
  s->start = (uint64_t)chunk * f->chunk_bytes;
  s->len = f->size - s->start < f->chunk_bytes ? f->size - s->start : f->chunk_bytes;
  s->got = 0;
  s->bad = s->ranges_ignored = false;
  s->busy = true;
  ds__fetch_setup_easy(f, s->easy, &s->r, headers, s->errbuf);
  char range[64];
  snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)s->start, (unsigned long long)(s->start + s->len - 1));
  curl_easy_setopt(s->easy, CURLOPT_RANGE, range);
  if (s->len <= FETCH_RANGE_MD5_MAX)
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, f->md5_headers);
  curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_chunk_data);
  curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
  EVP_DigestInit_ex(s->md, EVP_md5(), NULL);
}

/* A finished chunk transfer: true when the chunk is now whole; else *fail says why. */
static bool slot_finished(fetch *f, slot *s, CURLcode rc, failure *fail) {
  char what[64];
  snprintf(what, sizeof what, "bytes %llu-%llu", (unsigned long long)s->start,
           (unsigned long long)(s->start + s->len - 1));
  memset(fail, 0, sizeof *fail);
  fail->retry_after = -1;
  if (s->bad) {
    ds__fetch_fail(fail, s->why_code, false, "%s: %s", what, s->why);
    fail->ranges_ignored = s->ranges_ignored;
    return false;
  }
  bool whole = s->start == 0 && s->len == f->size;
  if (rc != CURLE_OK || !(s->r.status == 206 || (s->r.status == 200 && whole))) {
    ds__fetch_classify(f, rc, &s->r, s->errbuf, what, fail);
    return false;
  }
  if (s->got != s->len) {
    ds__fetch_fail(fail, "network", true, "%s: the body ended after %llu of %llu bytes", what, (unsigned long long)s->got,
             (unsigned long long)s->len);
    return false;
  }
  if (s->len <= FETCH_RANGE_MD5_MAX && s->r.md5[0] && !whole) { /* asked for: the range's own MD5 */
    char got[32];
    ds__fetch_md5_base64(s->md, got);
    if (strcmp(got, s->r.md5) != 0) {
      ds__fetch_fail(fail, "network", true, "%s: the range's MD5 does not match its Content-MD5", what);
      return false;
    }
  }
  return true;
}

/* The next chunk to fetch: not done, not in flight, its backoff over; SIZE_MAX when none now. */
static size_t next_chunk(const fetch *f, const unsigned char *in_flight, const int64_t *not_before, int64_t now,
                         bool *any_left) {
  *any_left = false;
  for (size_t i = 0; i < f->chunk_count; i++) {
    if (f->done[i] || in_flight[i])
      continue;
    *any_left = true;
    if (not_before[i] <= now)
      return i;
  }
  return SIZE_MAX;
}

/* Runs the chunks on up to `connections` parallel transfers until every chunk is done, or one
 * fails for good (*fail). */
bool ds__fetch_ranges(fetch *f, struct curl_slist *headers, failure *fail) {
  CURLM *multi = curl_multi_init();
  slot slots[FETCH_SLOTS_MAX];
  unsigned char *in_flight = calloc(f->chunk_count, 1), *attempts = calloc(f->chunk_count, 1);
  int64_t *not_before = calloc(f->chunk_count, sizeof *not_before);
  unsigned nslots = f->connections < FETCH_SLOTS_MAX ? f->connections : FETCH_SLOTS_MAX;
  bool ok = multi && in_flight && attempts && not_before, failed = false;
  memset(slots, 0, sizeof slots);
  for (unsigned i = 0; ok && i < nslots; i++) {
    slots[i].f = f;
    slots[i].easy = curl_easy_init();
    slots[i].md = EVP_MD_CTX_new();
    ok = slots[i].easy && slots[i].md;
  }
  if (!ok)
    ds__fetch_fail(fail, "io", false, "out of memory starting the download");
  while (ok && !failed) {
    int64_t now = ds__fetch_now_ms();
    bool any_left = false, busy = false;
    for (unsigned i = 0; i < nslots; i++) {
      if (!slots[i].busy) {
        size_t chunk = next_chunk(f, in_flight, not_before, now, &any_left);
        if (chunk != SIZE_MAX) {
          slot_start(f, &slots[i], chunk, headers);
          in_flight[chunk] = 1;
          curl_multi_add_handle(multi, slots[i].easy);
        }
      }
      busy = busy || slots[i].busy;
    }
    next_chunk(f, in_flight, not_before, now, &any_left);
    if (!busy && !any_left)
      break; /* every chunk is done */
    int running = 0;
    curl_multi_perform(multi, &running);
    curl_multi_poll(multi, NULL, 0, 200, NULL);
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    int left = 0;
    while (!failed && (msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      slot *s = NULL;
      for (unsigned i = 0; i < nslots && !s; i++)
        if (slots[i].busy && slots[i].easy == msg->easy_handle)
          s = &slots[i];
      CURLcode rc = msg->data.result;
      curl_multi_remove_handle(multi, msg->easy_handle);
      if (!s)
        continue;
      s->busy = false;
      in_flight[s->chunk] = 0;
      if (slot_finished(f, s, rc, fail)) {
        f->done[s->chunk] = 1;
        f->done_bytes += s->len;
        ds__fetch_report_progress(f);
      } else if (fail->retry && attempts[s->chunk] < f->retries) {
        int64_t wait = ds__fetch_backoff_ms(attempts[s->chunk]++, fail->retry_after);
        not_before[s->chunk] = ds__fetch_now_ms() + wait;
        printf("@retry chunk %zu in %lld ms: %s\n", s->chunk, (long long)wait, fail->code);
        fflush(stdout);
      } else {
        if (fail->retry)
          snprintf(fail->message + strnlen(fail->message, sizeof fail->message - 40),
                   40, " (gave up after %u retries)", f->retries);
        failed = true;
      }
    }
  }
  for (unsigned i = 0; i < nslots; i++) {
    if (slots[i].busy)
      curl_multi_remove_handle(multi, slots[i].easy);
    curl_easy_cleanup(slots[i].easy);
    EVP_MD_CTX_free(slots[i].md);
  }
  curl_multi_cleanup(multi);
  free(in_flight);
  free(attempts);
  free(not_before);
  ds__fetch_save_state(f, false);
  return ok && !failed;
}

