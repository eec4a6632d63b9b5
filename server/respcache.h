/*
 * respcache.h: a byte-budgeted LRU cache of rendered analysis answers (respcache.c).
 */
#ifndef DUMPSCOPE_SERVER_RESPCACHE_H
#define DUMPSCOPE_SERVER_RESPCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ds_respcache ds_respcache;

/* budget 0: a cache that keeps nothing. */
ds_respcache *ds_respcache_new(size_t budget_bytes);
void ds_respcache_free(ds_respcache *cache);
/* A malloc'd copy of the cached body (NUL-terminated, *len without the NUL), or NULL. */
char *ds_respcache_get(ds_respcache *cache, const char *key, size_t *len);
/* Keeps a copy of body under key (replacing an older one), evicting the least recently used. */
void ds_respcache_put(ds_respcache *cache, const char *key, const char *body, size_t len);
void ds_respcache_stats(ds_respcache *cache, uint64_t *hits, uint64_t *misses, size_t *bytes);

#endif
