/*
 * hasher.c: the sha256 of a file while it is being written, on a thread of its own that reads
 * behind the writer (from the page cache, where the bytes just went). Hashing (about 1.3 GB/s)
 * and receiving + writing then overlap instead of adding up, and no chunk is copied or held in
 * memory: an upload's speed approaches the disk's.
 */
#include "hasher.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (4u << 20)

struct ds_hasher {
  int fd;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  uint64_t written, hashed;
  bool closing, failed;
  int read_errno;
  EVP_MD_CTX *md;
  unsigned char *buffer;
};

static void *hasher_main(void *arg) {
  ds_hasher *h = arg;
  for (;;) {
    pthread_mutex_lock(&h->lock);
    while (h->hashed == h->written && !h->closing)
      pthread_cond_wait(&h->cond, &h->lock);
    uint64_t target = h->written, from = h->hashed;
    bool closing = h->closing;
    pthread_mutex_unlock(&h->lock);
    if (from == target) {
      if (closing)
        break;
      continue;
    }
    size_t want = target - from < READ_CHUNK ? (size_t)(target - from) : READ_CHUNK;
    ssize_t n = pread(h->fd, h->buffer, want, (off_t)from);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || EVP_DigestUpdate(h->md, h->buffer, (size_t)n) != 1) {
      pthread_mutex_lock(&h->lock);
      h->failed = true;
      h->read_errno = n < 0 ? errno : EIO;
      pthread_cond_broadcast(&h->cond);
      pthread_mutex_unlock(&h->lock);
      break;
    }
    pthread_mutex_lock(&h->lock);
    h->hashed += (uint64_t)n;
    pthread_mutex_unlock(&h->lock);
  }
  return NULL;
}

ds_status ds_hasher_start(int fd, ds_hasher **out, ds_error *err) {
  *out = NULL;
  ds_hasher *h = calloc(1, sizeof *h);
  if (!h)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  h->fd = fd;
  h->md = EVP_MD_CTX_new();
  h->buffer = malloc(READ_CHUNK);
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->cond, NULL);
  if (!h->md || !h->buffer || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1 ||
      pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
    EVP_MD_CTX_free(h->md);
    free(h->buffer);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
    return ds_error_set(err, DS_E_NOMEM, "cannot start hashing the upload");
  }
  *out = h;
  return DS_OK;
}

void ds_hasher_advance(ds_hasher *h, uint64_t bytes) {
  pthread_mutex_lock(&h->lock);
  h->written += bytes;
  pthread_cond_signal(&h->cond);
  pthread_mutex_unlock(&h->lock);
}

static void stop(ds_hasher *h) {
  pthread_mutex_lock(&h->lock);
  h->closing = true;
  pthread_cond_signal(&h->cond);
  pthread_mutex_unlock(&h->lock);
  pthread_join(h->thread, NULL);
}

static void release(ds_hasher *h) {
  EVP_MD_CTX_free(h->md);
  free(h->buffer);
  pthread_cond_destroy(&h->cond);
  pthread_mutex_destroy(&h->lock);
  free(h);
}

ds_status ds_hasher_finish(ds_hasher *h, char hex[65], ds_error *err) {
  stop(h);
  unsigned char digest[32];
  unsigned len = 0;
  ds_status rc = DS_OK;
  if (h->failed || h->hashed != h->written)
    rc = ds_error_set(err, DS_E_IO, "cannot read back the upload to hash it: %s", strerror(h->read_errno));
  else if (EVP_DigestFinal_ex(h->md, digest, &len) != 1 || len != 32)
    rc = ds_error_set(err, DS_E_IO, "cannot compute the upload's sha256");
  else
    for (unsigned i = 0; i < 32; i++)
      snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  release(h);
  return rc;
}

void ds_hasher_abort(ds_hasher *h) {
  if (!h)
    return;
  stop(h);
  release(h);
}
