/*
 * cli_api.c: the CLI's index commands. `index` builds a dump's heap index; every other command is
 * a row of api/'s resource table, asked with the same parameters the HTTP API takes and printed
 * as the same JSON document (--json) or the row's text form. A missing or damaged index is
 * (re)built first.
 */
#include "cli.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "api.h"
#include "dumpscope/query.h"
#include "worker.h"

/* CLI spellings of resources: SOSEX and SOS names (support engineers type them from habit), with
 * the parameters they imply. */
static const struct {
  const char *command;
  const char *resource;
  const char *list_resource;  /* with --list */
  const char *stat_resource;  /* with --stat (the option is consumed: the resource does not take it) */
  const char *fixed_name, *fixed_value;
} cli_aliases[] = {
    /* SOSEX */
    {"gen", "gen", "gen_objects", NULL, NULL, NULL},
    {"heapstat", "heap_stat", "heap_objects", NULL, NULL, NULL},
    {"obj", "object", NULL, NULL, NULL, NULL},
    {"gch", "handles", NULL, NULL, NULL, NULL},
    {"finq", "finalizer", NULL, NULL, "queue", "finalizable"},
    {"frq", "finalizer", NULL, NULL, "queue", "ready"},
    {"mdso", "thread_objects", NULL, NULL, NULL, NULL},
    {"analyze", "report", NULL, NULL, NULL, NULL},
    {"mfrag", "fragmentation", NULL, NULL, NULL, NULL},
    {"dlk", "deadlocks", NULL, NULL, NULL, NULL},
    {"mlocks", "locks", NULL, NULL, NULL, NULL},
    {"mwaits", "waits", NULL, NULL, NULL, NULL},
    /* SOS */
    {"dumpheap", "heap_objects", NULL, "heap_stat", NULL, NULL},
    {"gcroot", "roots", NULL, NULL, NULL, NULL},
    {"clrthreads", "threads", NULL, NULL, NULL, NULL},
    {"clrstack", "stack", NULL, NULL, NULL, NULL},
    {"syncblk", "locks", NULL, NULL, NULL, NULL},
    {"gcwhere", "address", NULL, NULL, NULL, NULL},
    {"gchandles", "handles", NULL, NULL, NULL, NULL},
    {"finalizequeue", "finalizer", NULL, NULL, "queue", "finalizable"},
    {"dumpstackobjects", "thread_objects", NULL, NULL, NULL, NULL},
    {"dso", "thread_objects", NULL, NULL, NULL, NULL},
    {"mdv", "frames", NULL, NULL, NULL, NULL},
    {"mframe", "frames", NULL, NULL, NULL, NULL},
};

/* Where a dump's index lives: --index, else next to the dump, else (the dump's folder is not
 * writable and has no index yet) in the per-user cache, named after the dump's absolute path. */
static void index_path(const ds_cli_args *o, char *out, size_t out_len) {
  if (o->index) {
    snprintf(out, out_len, "%s", o->index);
    return;
  }
  snprintf(out, out_len, "%s.dsindex", o->dump);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", o->dump);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  if (access(out, F_OK) == 0 || access(dir, W_OK) == 0)
    return;
  char absolute[PATH_MAX], cache[4096];
  if (!realpath(o->dump, absolute))
    return;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(cache, sizeof cache, "%s/dumpscope/index", xdg);
  else if (home && *home)
    snprintf(cache, sizeof cache, "%s/.cache/dumpscope/index", home);
  else
    return;
  char partial[4096];
  for (char *p = strchr(cache + 1, '/'); p; p = strchr(p + 1, '/')) {
    snprintf(partial, sizeof partial, "%.*s", (int)(p - cache), cache);
    mkdir(partial, 0700);
  }
  mkdir(cache, 0700);
  uint64_t h = 1469598103934665603ull;
  for (const char *c = absolute; *c; c++)
    h = (h ^ (uint8_t)*c) * 1099511628211ull;
  const char *base = strrchr(absolute, '/') ? strrchr(absolute, '/') + 1 : absolute;
  snprintf(out, out_len, "%s/%.200s-%016llx.dsindex", cache, base, (unsigned long long)h);
  if (!o->json)
    fprintf(stderr, "dumpscope: %s is not writable; the index goes to %s\n", dir, out);
}

/* The findings' thresholds the command line asks for (the defaults, then each --set in order). */
static ds_status cli_settings(const ds_cli_args *o, ds_finding_settings *settings, ds_error *err) {
  ds_finding_settings_init(settings);
  for (size_t i = 0; i < o->set_count; i++)
    if (ds_finding_settings_apply(settings, o->set[i], err) != DS_OK)
      return err->code;
  return DS_OK;
}

/* Whether an index was built with the thresholds the command line asks for (always, without
 * --set: an existing index is used as it is). */
static bool same_settings(const ds_cli_args *o, ds_query *q) {
  ds_finding_settings want;
  ds_error ignore;
  if (!o->set_count || cli_settings(o, &want, &ignore) != DS_OK)
    return true;
  return ds_query_settings_equal(q, &want);
}

static ds_status build_index(const ds_cli_args *o, const char *path, ds_build_stats *stats, ds_error *err) {
  ds_dac_search search;
  ds_dac_search_env env;
  ds_dac_search_init_env(&search, &env, o->dac, o->offline);
  ds_finding_settings settings;
  ds_status rc = cli_settings(o, &settings, err);
  if (rc != DS_OK)
    return rc;
  uint64_t budget;
  if ((rc = ds_worker_memory_budget(o->memory_budget, &budget, err)) != DS_OK)
    return rc;
  rc = ds_worker_build_index(o->dump, path, &search, &settings, budget, NULL, stats, err);
  if (rc == DS_OK && !o->json)
    fprintf(stderr,
            "dumpscope: indexed %llu objects, %llu references, %llu roots in %.0f ms "
            "(roots %.0f ms, walk %.0f, types %.0f, references %.0f, reverse %.0f, locks %.0f, liveness %.0f, "
            "dominators %.0f, findings %.0f, write %.0f)\n",
            (unsigned long long)stats->objects, (unsigned long long)stats->edges, (unsigned long long)stats->roots,
            stats->total_ms, stats->collect_ms, stats->walk_ms, stats->types_ms, stats->edges_ms, stats->reverse_ms,
            stats->locks_ms, stats->live_ms, stats->dominators_ms, stats->findings_ms, stats->write_ms);
  if (rc == DS_OK && getenv("DUMPSCOPE_BUILD_PHASES"))
    ds_build_stats_print(stats, stderr);
  return rc;
}

/* Where a root search writes its index: in memory (/dev/shm, a tmpfs) when it has room for half
 * the dump, since the file lives only until it is opened (on big, 1.5 s instead of 2.1 s: no
 * writeback to disk); else beside the index. */
static void search_index_path(const ds_cli_args *o, const char *index, char *out, size_t len) {
  struct statfs fs;
  struct stat dump;
  if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC && access("/dev/shm", W_OK) == 0 &&
      stat(o->dump, &dump) == 0 && (uint64_t)fs.f_bavail * (uint64_t)fs.f_bsize > (uint64_t)dump.st_size / 2) {
    snprintf(out, len, "/dev/shm/dumpscope-search-%ld.dsindex", (long)getpid());
    return;
  }
  snprintf(out, len, "%s.search-%ld", index, (long)getpid());
}

/* `roots DUMP ADDR` (one path) with no index yet: a root search answers it at a fraction of the
 * full build's cost, and nothing is kept: the next question builds the index. Its index is
 * unlinked as soon as it is open. DS_E_NOT_FOUND: not such a question (the caller builds). */
static ds_status open_search_index(const ds_cli_args *o, const ds_api_resource *r, ds_query **q, ds_error *err) {
  char path[4200], search_path[4300];
  index_path(o, path, sizeof path);
  char *end = NULL;
  uint64_t target = o->address ? strtoull(o->address, &end, 16) : 0;
  if (strcmp(r->name, "roots") != 0 || o->all || !target || !end || *end || access(path, F_OK) == 0)
    return DS_E_NOT_FOUND;
  search_index_path(o, path, search_path, sizeof search_path);
  ds_dac_search search;
  ds_dac_search_env env;
  ds_dac_search_init_env(&search, &env, o->dac, o->offline);
  ds_build_stats stats;
  ds_status rc = ds_worker_root_search(o->dump, target, search_path, &search, &stats, err);
  if (rc == DS_OK)
    rc = ds_query_open_unchecked(search_path, o->dump, q, err); /* written just now, without checksums */
  unlink(search_path);
  if (rc == DS_OK && !o->json)
    fprintf(stderr,
            "dumpscope: no index yet: answered by a root search in %.0f ms (%llu objects walked, %llu of their "
            "references read before the object was reached); "
            "`dumpscope index %s` builds the index that answers every question in milliseconds\n",
            stats.total_ms, (unsigned long long)stats.objects, (unsigned long long)stats.edges, o->dump);
  if (rc == DS_OK && getenv("DUMPSCOPE_BUILD_PHASES"))
    ds_build_stats_print(&stats, stderr);
  return rc;
}

/* Opens the index of a dump, building it when missing or damaged. */
static ds_status open_index(const ds_cli_args *o, ds_query **q, ds_error *err) {
  char path[4200];
  index_path(o, path, sizeof path);
  ds_status rc = ds_query_open(path, o->dump, q, err);
  if (rc == DS_OK && same_settings(o, *q))
    return DS_OK;
  if (rc == DS_OK) {
    ds_query_close(*q);
    *q = NULL;
    if (!o->json)
      fprintf(stderr, "dumpscope: rebuilding the index with the thresholds given by --set\n");
    ds_build_stats stats;
    if ((rc = build_index(o, path, &stats, err)) != DS_OK)
      return rc;
    return ds_query_open(path, o->dump, q, err);
  }
  if (rc != DS_E_NOT_FOUND && rc != DS_E_CORRUPT && rc != DS_E_TRUNCATED && rc != DS_E_UNSUPPORTED &&
      rc != DS_E_FORMAT)
    return rc;
  if (rc != DS_E_NOT_FOUND && !o->json)
    fprintf(stderr, "dumpscope: rebuilding the index: %s\n", err->message);
  ds_build_stats stats;
  rc = build_index(o, path, &stats, err);
  if (rc != DS_OK)
    return rc;
  return ds_query_open(path, o->dump, q, err);
}

static int cmd_index(const ds_cli_args *o) {
  ds_error err = {0};
  char path[4200];
  index_path(o, path, sizeof path);
  ds_build_stats stats;
  if (build_index(o, path, &stats, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  int code = stats.heap_errors ? 4 : 0; /* built, but from a damaged heap: the corruption code */
  if (stats.heap_errors && !o->json)
    fprintf(stderr, "dumpscope: the heap is damaged: %zu error(s); the index covers what could be walked\n",
            stats.heap_errors);
  if (stats.heap_not_walkable && !o->json) /* still a success: the report says it (README) */
    fprintf(stderr, "dumpscope: the dump was taken during a garbage collection: indexed without the heap "
                    "(threads, stacks, handles and locks only)\n");
  if (o->json) {
    json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:f}", "index", path, "objects", (json_int_t)stats.objects,
                          "references", (json_int_t)stats.edges, "roots", (json_int_t)stats.roots, "live_objects",
                          (json_int_t)stats.live_objects, "build_ms", stats.total_ms);
    json_object_set_new(j, "heap_errors", json_integer((json_int_t)stats.heap_errors));
    json_object_set_new(j, "heap_walkable", json_boolean(!stats.heap_not_walkable));
    ds_cli_print_json(j);
  } else {
    printf("%s\n", path);
  }
  return code;
}

/* Sets a parameter from an option the user gave; records the first failure in err. */
static void set(ds_api_args *a, const char *name, const char *value, ds_status *rc, ds_error *err) {
  if (*rc == DS_OK)
    *rc = ds_api_args_set(a, name, value, err);
}

static void set_u64(ds_api_args *a, const char *name, uint64_t value, ds_status *rc, ds_error *err) {
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)value);
  set(a, name, text, rc, err);
}

/* Whether the resource accepts the parameter name. */
static bool takes(const ds_api_resource *r, const char *name) {
  size_t len = strlen(name);
  for (const char *p = r->params; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t item = comma ? (size_t)(comma - p) : strlen(p);
    if (item == len && memcmp(p, name, len) == 0)
      return true;
    p = comma ? comma + 1 : NULL;
  }
  return false;
}

/* Translates the command line into the resource's parameters: only options the user gave. */
static ds_status cli_to_args(const ds_cli_args *o, const ds_api_resource *r, ds_api_args *a, ds_error *err) {
  ds_status rc = DS_OK;
  if (r->path_param && o->address)
    set(a, r->path_param, o->address, &rc, err);
  else if (!r->path_param && o->address && strstr(r->params, "q,") == r->params)
    set(a, "q", o->address, &rc, err); /* mx PATTERN, strings TEXT: the pattern is the positional */
  else if (!r->path_param && o->address && takes(r, "gen"))
    set(a, "gen", o->address, &rc, err); /* finq GEN */
  if (o->depth)
    set(a, "depth", o->depth, &rc, err);
  if (o->elements)
    set(a, "elements", o->elements, &rc, err);
  if (o->kind)
    set(a, "kind", o->kind, &rc, err);
  if (o->mt)
    set(a, "mt", o->mt, &rc, err);
  if (o->details)
    set(a, "details", "true", &rc, err);
  if (o->module)
    set(a, "module", o->module, &rc, err);
  if (o->frame)
    set(a, "frame", o->frame, &rc, err);
  if (o->around)
    set(a, "around", o->around, &rc, err);
  if (strcmp(r->name, "dominators") == 0 && o->address)
    set(a, "parent", o->address, &rc, err);
  if (o->by_type)
    set(a, "by", "type", &rc, err);
  if (o->gen >= 0 && (!r->path_param || strcmp(r->path_param, "gen") != 0))
    set(a, "gen", ds_gen_name((ds_gen)o->gen), &rc, err);
  if (o->type_filter)
    set(a, strcmp(r->name, "types") == 0 ? "q" : "type", o->type_filter, &rc, err);
  if (o->type_exact)
    set(a, "exact", "true", &rc, err);
  if (o->min_size)
    set_u64(a, "min_size", o->min_size, &rc, err);
  if (o->max_size != UINT64_MAX)
    set_u64(a, "max_size", o->max_size, &rc, err);
  if (o->no_strings)
    set(a, "strings", "false", &rc, err);
  if (o->free_only)
    set(a, "free", "true", &rc, err);
  if (o->live || o->dead)
    set(a, "liveness", o->live ? "live" : "dead", &rc, err);
  if (o->sort_count)
    set(a, "sort", "count", &rc, err);
  if (o->all)
    set(a, "all", "true", &rc, err);
  if (o->stat)
    set(a, "stat", "true", &rc, err);
  if (o->duplicates)
    set(a, "duplicates", "true", &rc, err);
  if (o->contains)
    set(a, "q", o->contains, &rc, err);
  if (o->min_length)
    set_u64(a, "min_length", o->min_length, &rc, err);
  if (o->limit)
    set_u64(a, "limit", o->limit, &rc, err);
  else if (r->list_key)
    set_u64(a, "limit", DS_API_MAX_LIMIT, &rc, err); /* a shell shows the whole list by default */
  if (o->after_given) {
    if (strcmp(r->name, "object") == 0) {
      set_u64(a, "offset", o->after, &rc, err);
    } else if (r->list_key) {
      set_u64(a, "cursor", o->after, &rc, err); /* lists paged by position: --after N skips N rows */
    } else {
      char text[32];
      snprintf(text, sizeof text, "0x%llx", (unsigned long long)o->after);
      set(a, "cursor", text, &rc, err);
    }
  }
  return rc;
}

/* The comparison's other dump, opened (built when needed) from its path like the main one. */
static ds_status open_other(void *ctx, const char *path, ds_query **q, ds_error *err) {
  const ds_cli_args *given = ctx;
  ds_cli_args other = *given;
  other.dump = path;
  /* its own index, next to it; --index names AFTER's (so also BEFORE's when it is the same dump) */
  other.index = given->index && given->address && strcmp(path, given->address) == 0 ? given->index : NULL;
  return open_index(&other, q, err);
}

static void release_other(void *ctx, ds_query *q) {
  (void)ctx;
  ds_query_close(q);
}

bool ds_cli_is_resource_command(const char *command) {
  if (strcmp(command, "index") == 0 || ds_api_find(command))
    return true;
  for (size_t i = 0; i < sizeof cli_aliases / sizeof *cli_aliases; i++)
    if (strcmp(cli_aliases[i].command, command) == 0)
      return true;
  return false;
}

int ds_cli_run_resource(const char *command, const ds_cli_args *o) {
  if (strcmp(command, "index") == 0)
    return cmd_index(o);
  ds_error err = {0};
  const ds_api_resource *r = ds_api_find(command);
  const char *fixed_name = NULL, *fixed_value = NULL;
  ds_cli_args alias_options;
  for (size_t i = 0; !r && i < sizeof cli_aliases / sizeof *cli_aliases; i++)
    if (strcmp(cli_aliases[i].command, command) == 0) {
      const char *name = cli_aliases[i].resource;
      if (o->list && cli_aliases[i].list_resource)
        name = cli_aliases[i].list_resource;
      if (o->stat && cli_aliases[i].stat_resource) {
        name = cli_aliases[i].stat_resource;
        alias_options = *o;
        alias_options.stat = false; /* the choice of resource says it */
        o = &alias_options;
      }
      r = ds_api_find(name);
      fixed_name = cli_aliases[i].fixed_name;
      fixed_value = cli_aliases[i].fixed_value;
    }
  if (!r) {
    ds_error_set(&err, DS_E_ARG, "unknown command \"%s\"", command);
    return ds_cli_fail(o->json, &err);
  }
  if (r->path_param && !o->address) {
    ds_error_set(&err, DS_E_ARG, "usage: dumpscope %s DUMP %s [options]", command, r->path_param);
    return ds_cli_fail(o->json, &err);
  }
  /* diff BEFORE AFTER: the resource runs on AFTER's index and opens BEFORE's as its base */
  bool diff = strcmp(r->name, "diff") == 0;
  ds_cli_args after = *o;
  if (diff) {
    if (!o->address) {
      ds_error_set(&err, DS_E_ARG, "usage: dumpscope diff BEFORE AFTER [--by-count] [--limit N] [--index AFTER-INDEX]");
      return ds_cli_fail(o->json, &err);
    }
    after.dump = o->address;
    after.address = NULL;
    ds_api_set_other(&(ds_api_other){open_other, release_other, (void *)o});
  }
  ds_api_args args = {0};
  if (cli_to_args(&after, r, &args, &err) != DS_OK ||
      (fixed_name && ds_api_args_set(&args, fixed_name, fixed_value, &err) != DS_OK) ||
      (diff && ds_api_args_set(&args, "base", o->dump, &err) != DS_OK))
    return ds_cli_fail(o->json, &err);
  o = &after;
  ds_query *q = NULL;
  ds_status opened = open_search_index(o, r, &q, &err);
  if (opened == DS_E_NOT_FOUND)
    opened = open_index(o, &q, &err);
  if (opened != DS_OK)
    return ds_cli_fail(o->json, &err);
  json_t *doc = NULL;
  int code = 0;
  ds_status rc = ds_api_call(r, q, &args, &doc, &err);
  if (rc == DS_E_CORRUPT) {
    /* a section failed its checksum when first touched: the index is damaged; rebuild it once */
    ds_query_close(q);
    q = NULL;
    if (!o->json)
      fprintf(stderr, "dumpscope: rebuilding the index: %s\n", err.message);
    char path[4200];
    index_path(o, path, sizeof path);
    ds_build_stats stats;
    rc = build_index(o, path, &stats, &err);
    if (rc == DS_OK)
      rc = ds_query_open(path, o->dump, &q, &err);
    if (rc == DS_OK)
      rc = ds_api_call(r, q, &args, &doc, &err);
  }
  if (rc != DS_OK)
    code = ds_cli_fail(o->json, &err);
  else if (o->json || !r->render_text)
    ds_cli_print_json(json_incref(doc));
  else
    r->render_text(doc, stdout);
  if (rc == DS_OK && !o->json) {
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(doc, "warnings"), i, w)
      fprintf(stderr, "dumpscope: warning: %s\n", json_string_value(w));
  }
  json_decref(doc);
  ds_query_close(q);
  return code;
}

void ds_cli_resource_usage(FILE *out) {
  fprintf(out, "Index commands (answered from the heap index; HTTP: GET /dumps/{id}/ROUTE):\n");
  fprintf(out, "  %-14s %s\n", "index", "build the heap index (DUMP.dsindex, or --index PATH)");
  for (size_t i = 0; i < ds_api_resource_count(); i++) {
    const ds_api_resource *r = ds_api_resource_at(i);
    fprintf(out, "  %-14s %s\n      /%s%s%s\n", r->name, r->help, r->route, r->params[0] ? "  ?" : "", r->params);
  }
  fprintf(out, "  SOSEX spellings: gen GEN --list, heapstat --live|--dead, obj, gch, finq [GEN], frq, mdso, mfrag [-mt:MT],\n"
               "                   dlk|mlocks|mwaits [-d], mdv|mframe THREAD [--frame N]\n");
  fprintf(out, "  SOS spellings:   dumpheap [--stat], gcroot, clrthreads, clrstack, syncblk, gcwhere, gchandles,\n"
               "                   finalizequeue, dumpstackobjects (dso); DAC: dumpobj, dumpmt, verifyheap, eeheap\n");
  fprintf(out, "  analyze DUMP [--json] [--set NAME=VALUE]: the report (MAT's batch mode), the same as `report`\n");
}
