/*
 * fetchint.h: private to fetch.c and fetch_ranges.c (the `dumpscope fetch` command).
 */
#ifndef DUMPSCOPE_SERVER_FETCH_INT_H
#define DUMPSCOPE_SERVER_FETCH_INT_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "url.h"

#define FETCH_MS_VERSION "x-ms-version: 2021-12-02"
#define FETCH_RANGE_MD5_MAX (4u << 20) /* Azure computes a range's MD5 for ranges up to 4 MiB */
#define FETCH_BACKOFF_CAP_MS 30000
#define FETCH_RETRY_AFTER_CAP_S 120
#define FETCH_CONNECT_TIMEOUT_S 30
#define FETCH_MAX_CHUNKS 65536        /* a larger file gets larger chunks: the state stays small */
#define FETCH_STATE_EVERY_MS 500      /* with many chunks, the state is saved at most this often */
#define FETCH_SLOTS_MAX 16
#define FETCH_STATE_MAX (FETCH_MAX_CHUNKS + 4096)

/* What one response's headers said. */
typedef struct reply {
  long status;
  bool has_length, has_range, accept_ranges;
  uint64_t length, range_start, range_end, range_total;
  long retry_after; /* seconds; -1 when absent */
  char etag[256], md5[64], blob_md5[64], ms_error[96];
} reply;

typedef struct fetch {
  const char *url_file, *out_path, *state_path;
  char state_default[4096];
  unsigned connections, stall_seconds, retries;
  uint64_t chunk_bytes, max_bytes;
  bool allow_private, refused_address;
  char refused_text[64];
  ds_url url;
  int fd;
  bool size_known, ranges;
  uint64_t size, done_bytes;
  char etag[256], md5[64];
  struct curl_slist *md5_headers; /* the request headers plus x-ms-range-get-content-md5 */
  size_t chunk_count;
  unsigned char *done;     /* 1 per finished chunk */
  int64_t last_save_ms;
  int last_percent;
} fetch;

/* A failure: the @error code and message (already redacted when printed). */
typedef struct failure {
  const char *code;
  char message[DS_ERROR_MESSAGE_MAX];
  bool retry;
  long retry_after;
  bool ranges_ignored;
} failure;

int64_t ds__fetch_now_ms(void);
void ds__fetch_fail(failure *f, const char *code, bool retry, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The options every request of this fetch shares; r is reset for the response. */
void ds__fetch_setup_easy(fetch *f, CURL *easy, reply *r, struct curl_slist *headers, char *errbuf);
/* What a finished request means when it did not deliver (transport error or an HTTP status). */
void ds__fetch_classify(fetch *f, CURLcode rc, const reply *r, const char *errbuf, const char *what, failure *out);
/* 1 s doubling to the cap, or what Retry-After asked for. */
int64_t ds__fetch_backoff_ms(unsigned attempt, long retry_after);
/* Saves the state (at most every FETCH_STATE_EVERY_MS with many chunks) and prints @progress. */
void ds__fetch_report_progress(fetch *f);
/* Writes the state file (tmp + rename) after syncing the data it describes. */
void ds__fetch_save_state(fetch *f, bool complete);
void ds__fetch_md5_base64(EVP_MD_CTX *md, char out[32]);
/* fetch_ranges.c: every chunk not yet done, on up to f->connections parallel ranged GETs; false with
 * *fail when one fails for good (fail->ranges_ignored: the server answers ranges with 200). */
bool ds__fetch_ranges(fetch *f, struct curl_slist *headers, failure *fail);

#endif
