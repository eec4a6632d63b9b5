/*
 * respcache.c: rendered analysis answers, kept by key under a byte budget (least recently used
 * out first). Analysis results are immutable: the key holds the index's identity (its ETag), the
 * resource path and the parameters in a canonical order, so a rebuilt index never serves an old
 * answer and the same question asked twice is a copy. One mutex; entries are copied in and out.
 */
#include "respcache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096u

typedef struct entry {
  struct entry *next_in_bucket, *prev, *next; /* prev/next: LRU list, most recent first */
  uint64_t hash;
  char *key;
  char *body;
  size_t body_len, cost;
} entry;

struct ds_respcache {
  pthread_mutex_t lock;
  entry *buckets[BUCKETS];
  entry *head, *tail;
  size_t used, budget;
  uint64_t hits, misses;
};

static uint64_t hash_key(const char *key) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *key; key++)
    h = (h ^ (uint8_t)*key) * 1099511628211ull;
  return h;
}

ds_respcache *ds_respcache_new(size_t budget_bytes) {
  ds_respcache *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  pthread_mutex_init(&c->lock, NULL);
  c->budget = budget_bytes;
  return c;
}

static void unlink_lru(ds_respcache *c, entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void push_front(ds_respcache *c, entry *e) {
  e->next = c->head;
  if (c->head)
    c->head->prev = e;
  c->head = e;
  if (!c->tail)
    c->tail = e;
}

static void drop(ds_respcache *c, entry *e) {
  entry **p = &c->buckets[e->hash % BUCKETS];
  while (*p && *p != e)
    p = &(*p)->next_in_bucket;
  if (*p)
    *p = e->next_in_bucket;
  unlink_lru(c, e);
  c->used -= e->cost;
  free(e->key);
  free(e->body);
  free(e);
}

void ds_respcache_free(ds_respcache *c) {
  if (!c)
    return;
  while (c->head)
    drop(c, c->head);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

char *ds_respcache_get(ds_respcache *c, const char *key, size_t *len) {
  if (!c || !c->budget)
    return NULL;
  uint64_t h = hash_key(key);
  char *copy = NULL;
  pthread_mutex_lock(&c->lock);
  for (entry *e = c->buckets[h % BUCKETS]; e; e = e->next_in_bucket)
    if (e->hash == h && strcmp(e->key, key) == 0) {
      copy = malloc(e->body_len + 1);
      if (copy) {
        memcpy(copy, e->body, e->body_len + 1);
        *len = e->body_len;
        unlink_lru(c, e);
        push_front(c, e);
      }
      break;
    }
  if (copy)
    c->hits++;
  else
    c->misses++;
  pthread_mutex_unlock(&c->lock);
  return copy;
}

void ds_respcache_put(ds_respcache *c, const char *key, const char *body, size_t len) {
  size_t key_len = strlen(key), cost = len + key_len + sizeof(entry);
  if (!c || cost > c->budget / 8) /* one answer never takes more than an eighth of the cache */
    return;
  entry *e = calloc(1, sizeof *e);
  char *k = malloc(key_len + 1), *b = malloc(len + 1);
  if (!e || !k || !b) {
    free(e);
    free(k);
    free(b);
    return;
  }
  memcpy(k, key, key_len + 1);
  memcpy(b, body, len);
  b[len] = '\0';
  *e = (entry){.hash = hash_key(key), .key = k, .body = b, .body_len = len, .cost = cost};
  pthread_mutex_lock(&c->lock);
  for (entry *old = c->buckets[e->hash % BUCKETS]; old; old = old->next_in_bucket)
    if (old->hash == e->hash && strcmp(old->key, key) == 0) {
      drop(c, old);
      break;
    }
  while (c->tail && c->used + cost > c->budget)
    drop(c, c->tail);
  e->next_in_bucket = c->buckets[e->hash % BUCKETS];
  c->buckets[e->hash % BUCKETS] = e;
  push_front(c, e);
  c->used += cost;
  pthread_mutex_unlock(&c->lock);
}

void ds_respcache_stats(ds_respcache *c, uint64_t *hits, uint64_t *misses, size_t *bytes) {
  *hits = *misses = 0;
  *bytes = 0;
  if (!c)
    return;
  pthread_mutex_lock(&c->lock);
  *hits = c->hits;
  *misses = c->misses;
  *bytes = c->used;
  pthread_mutex_unlock(&c->lock);
}
