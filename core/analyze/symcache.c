/*
 * symcache.c: the assemblies (and their portable PDBs) the build reads symbols from, opened once
 * each: the DAC names a method's module file (GetPEFileName), core/symbols reads it from disk.
 */
#include <stdlib.h>
#include <string.h>

#include "dumpscope/dactypes.h"
#include "dumpscope/limits.h"
#include "dumpscope/symbols.h"

#include "analyzeint.h"

struct ds__symcache {
  struct {
    char *path;
    ds_symbols *symbols;     /* NULL: could not be read */
  } entries[DS_MAX_SYMBOL_MODULES];
  size_t count;
  struct {
    uint64_t md;
    uint32_t token;
    int entry;               /* -1: none */
  } last;                    /* consecutive questions often name the same method */
};

static int open_entry(ds__symcache *c, const char *path) {
  for (size_t i = 0; i < c->count; i++)
    if (strcmp(c->entries[i].path, path) == 0)
      return (int)i;
  char *copy = c->count < DS_MAX_SYMBOL_MODULES ? strdup(path) : NULL;
  if (!copy)
    return -1;
  ds_symbols *s = NULL;
  ds_error ignore = {0};
  ds_symbols_open(path, &s, NULL, 0, &ignore);
  c->entries[c->count].path = copy;
  c->entries[c->count].symbols = s;
  return (int)c->count++;
}

ds_symbols *ds__symbols_of_method(ds__build *b, uint64_t md, uint32_t *token) {
  *token = 0;
  if (!b->symbols && !(b->symbols = calloc(1, sizeof *b->symbols)))
    return NULL;
  ds__symcache *c = b->symbols;
  if (md && c->last.md == md) {
    *token = c->last.token;
    return c->last.entry >= 0 ? c->entries[c->last.entry].symbols : NULL;
  }
  char path[DS_MAX_PATH_BYTES];
  ds_error ignore = {0};
  int entry = -1;
  if (md && ds_dac_method_image(b->a->dac, md, token, path, sizeof path, &ignore) == DS_OK && path[0])
    entry = open_entry(c, path);
  c->last.md = md;
  c->last.token = *token;
  c->last.entry = entry;
  return entry >= 0 ? c->entries[entry].symbols : NULL;
}

void ds__symcache_free(ds__build *b) {
  ds__symcache *c = b->symbols;
  if (!c)
    return;
  for (size_t i = 0; i < c->count; i++) {
    free(c->entries[i].path);
    ds_symbols_free(c->entries[i].symbols);
  }
  free(c);
  b->symbols = NULL;
}
