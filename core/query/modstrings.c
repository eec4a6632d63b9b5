/*
 * modstrings.c: the strings of one module (SOSEX !strings ModuleAddr): the string literals a
 * managed assembly's code uses (its #US metadata heap, read from the dump), filtered like the heap
 * strings, each with the heap's string object of the same value when one exists (literals the
 * code has run are interned: frozen-heap or pinned strings).
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "queryint.h"

typedef struct literal {
  uint16_t *units;
  size_t count;
  char *utf8;
  uint32_t object;           /* the heap string with this value, UINT32_MAX when none */
} literal;

typedef struct collect {
  const char *contains;
  size_t min_length, limit;
  literal *items;
  size_t count;
  uint64_t matched;
  bool failed;
} collect;

static void on_literal(void *ctx, const uint16_t *units, size_t count) {
  collect *c = ctx;
  if (c->failed || count < c->min_length)
    return;
  char *utf8 = malloc(count * 3 + 1);
  if (!utf8) {
    c->failed = true;
    return;
  }
  ds_utf16_to_utf8(units, count, false, utf8, count * 3 + 1);
  if (c->contains && *c->contains && !strstr(utf8, c->contains)) {
    free(utf8);
    return;
  }
  c->matched++;
  uint16_t *copy = c->count < c->limit ? malloc(count * 2 + 2) : NULL;
  if (!copy) {
    free(utf8);
    c->failed = c->count < c->limit;
    return;
  }
  memcpy(copy, units, count * 2);
  c->items[c->count++] = (literal){copy, count, utf8, UINT32_MAX};
}

/* The module whose file name (or name without extension) is name, case-insensitively. A name
 * without extension means the assembly (.dll or .exe): a process also maps other files of the
 * same stem, e.g. the portable PDB (Scenarios.pdb) the runtime reads for an exception's stack
 * trace, which has no string literals. */
static const ds_module *find_module(ds_dump *dump, const char *name) {
  for (size_t m = 0; m < ds_dump_module_count(dump); m++) {
    const ds_module *mod = ds_dump_module(dump, m);
    const char *slash = strrchr(mod->path, '/'), *base = slash ? slash + 1 : mod->path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot ? (size_t)(dot - base) : strlen(base);
    bool assembly = !dot || strcasecmp(dot, ".dll") == 0 || strcasecmp(dot, ".exe") == 0;
    if (strcasecmp(base, name) == 0 || strcasecmp(mod->path, name) == 0 ||
        (assembly && strlen(name) == stem && strncasecmp(base, name, stem) == 0))
      return mod;
  }
  return NULL;
}

/* One pass over the heap's strings: the first object equal to each literal. */
static void match_heap_strings(ds_query *q, literal *items, size_t count) {
  uint32_t st = q->info->string_type;
  size_t found = 0;
  uint16_t *buf = NULL;
  size_t buf_cap = 0;
  for (uint64_t ii = 0; ii < q->n && found < count; ii++) {
    uint32_t i = (uint32_t)ii, len = 0;
    if (q->type[i] != st || !ds__string_length(q, q->addr[i], &len))
      continue;
    bool loaded = false;
    for (size_t k = 0; k < count; k++) {
      if (items[k].object != UINT32_MAX || items[k].count != len)
        continue;
      if (!loaded) {
        if (len + 1 > buf_cap) {
          uint16_t *grown = realloc(buf, (len + 1) * sizeof *buf);
          if (!grown)
            goto out;
          buf = grown;
          buf_cap = len + 1;
        }
        if (!ds_dump_read_exact(q->dump, ds_layout_chars(q->layout, q->addr[i]), buf, (size_t)len * 2))
          break;
        loaded = true;
      }
      if (memcmp(buf, items[k].units, (size_t)len * 2) == 0) {
        items[k].object = i;
        found++;
      }
    }
  }
out:
  free(buf);
}

static ds_status query_module_strings(ds_query *q, const char *module, const char *contains, size_t min_length,
                                      size_t limit, json_t **out, ds_error *err) {
  if (!ds__require_objects(q, err))
    return err->code;
  if (!q->dump)
    return ds_error_set(err, DS_E_IO, "a module's strings need the dump file, which is not accessible");
  const ds_module *mod = find_module(q->dump, module);
  if (!mod)
    return ds_error_set(err, DS_E_NOT_FOUND, "module: no module named \"%.200s\" is mapped in this dump", module);
  if (!limit)
    limit = 100;
  collect c = {contains, min_length, limit, calloc(limit, sizeof(literal)), 0, 0, false};
  if (!c.items)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  ds_status rc = DS_OK;
  if (!ds_dump_pe_user_strings(q->dump, mod, DS_MAX_MODULE_STRINGS, on_literal, &c))
    rc = ds_error_set(err, DS_E_NOT_FOUND,
                      "module: %.200s has no string literals this dump holds (not a managed assembly, or its "
                      "metadata pages are not in the dump)", mod->path);
  else if (c.failed)
    rc = ds_error_set(err, DS_E_NOMEM, "out of memory reading the module's strings");
  if (rc == DS_OK) {
    match_heap_strings(q, c.items, c.count);
    json_t *doc = json_object(), *list = json_array();
    for (size_t k = 0; k < c.count; k++) {
      json_t *j = json_object();
      ds__jset(j, "value", ds__jstr(c.items[k].utf8));
      ds__jset(j, "length", json_integer((json_int_t)c.items[k].count));
      ds__jset(j, "object", c.items[k].object < q->n ? ds__object_ref(q, c.items[k].object) : json_null());
      ds__jappend(list, j);
    }
    ds__jset(doc, "module", ds__jstr(mod->path));
    ds__jset(doc, "matched", json_integer((json_int_t)c.matched));
    ds__jset(doc, "literals", list);
    *out = doc;
  }
  for (size_t k = 0; k < c.count; k++) {
    free(c.items[k].units);
    free(c.items[k].utf8);
  }
  free(c.items);
  return rc;
}

ds_status ds_query_module_strings(ds_query *q, const char *module, const char *contains, size_t min_length,
                                  size_t limit, json_t **out, ds_error *err) {
  ds__json_begin();
  return ds__json_end(query_module_strings(q, module, contains, min_length, limit, out, err), out, err);
}
