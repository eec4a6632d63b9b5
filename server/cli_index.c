/*
 * cli_index.c: the CLI's index commands: build the heap index of a dump (analysis: DAC), and
 * answer gen, refs, roots, gch, finq, frq, mdso, mfrag, strings, object and summary questions
 * from it (no DAC). A missing or damaged index is (re)built first.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpscope/build.h"
#include "dumpscope/query.h"
#include "dumpscope/rootscan.h"

static void ds_cli_index_path(const char *dump, const char *explicit_path, char *out, size_t out_len) {
  if (explicit_path)
    snprintf(out, out_len, "%s", explicit_path);
  else
    snprintf(out, out_len, "%s.dsindex", dump);
}

static ds_status ds_cli_build_index(const char *dump, const char *index_path, const ds_dac_search *search, bool quiet,
                             ds_build_stats *stats, ds_error *err) {
  ds_analysis *a = NULL;
  ds_status rc = ds_analysis_open(dump, search, &a, err);
  if (rc != DS_OK)
    return rc;
  rc = ds_index_build(a, NULL, index_path, stats, err);
  if (rc == DS_OK && !quiet)
    fprintf(stderr,
            "dumpscope: indexed %llu objects, %llu references, %llu roots in %.0f ms "
            "(roots %.0f ms, walk %.0f, types %.0f, references %.0f, reverse %.0f, liveness %.0f, write %.0f)\n",
            (unsigned long long)stats->objects, (unsigned long long)stats->edges, (unsigned long long)stats->roots,
            stats->total_ms, stats->collect_ms, stats->walk_ms,
            stats->types_ms, stats->edges_ms, stats->reverse_ms, stats->live_ms, stats->write_ms);
  ds_analysis_close(a);
  return rc;
}

/* Opens the index of a dump, building it when missing or damaged. */
static ds_status open_index(const ds_cli_args *o, ds_query **q, ds_error *err) {
  char path[4200];
  ds_cli_index_path(o->dump, o->index, path, sizeof path);
  ds_status rc = ds_query_open(path, o->dump, q, err);
  if (rc == DS_OK)
    return DS_OK;
  if (rc != DS_E_NOT_FOUND && rc != DS_E_CORRUPT && rc != DS_E_TRUNCATED && rc != DS_E_UNSUPPORTED &&
      rc != DS_E_FORMAT)
    return rc;
  if (rc != DS_E_NOT_FOUND && !o->json)
    fprintf(stderr, "dumpscope: rebuilding the index: %s\n", err->message);
  ds_dac_search search;
  ds_dac_search_env env;
  ds_dac_search_init_env(&search, &env, o->dac, o->offline);
  ds_build_stats stats;
  rc = ds_cli_build_index(o->dump, path, &search, o->json, &stats, err);
  if (rc != DS_OK)
    return rc;
  return ds_query_open(path, o->dump, q, err);
}

/* ---- text renderers --------------------------------------------------------------------------- */

static void print_stats_text(json_t *doc) {
  printf("%-18s %10s %14s %s\n", "MT", "Count", "TotalSize", "Class Name");
  size_t i;
  json_t *row;
  json_t *types = json_object_get(doc, "types");
  for (i = json_array_size(types); i-- > 0;) {
    row = json_array_get(types, i);
    printf("%-18s %10lld %14lld %s\n", json_string_value(json_object_get(row, "mt")),
           json_integer_value(json_object_get(row, "count")), json_integer_value(json_object_get(row, "total_size")),
           json_string_value(json_object_get(row, "type")));
  }
  printf("Total %lld objects, %lld bytes\n", json_integer_value(json_object_get(doc, "object_count")),
         json_integer_value(json_object_get(doc, "total_size")));
}

static void print_object_line(const char *prefix, json_t *o) {
  printf("%s%s %s (%lld bytes)", prefix, json_string_value(json_object_get(o, "address")),
         json_string_value(json_object_get(o, "type")), json_integer_value(json_object_get(o, "size")));
}

static void print_refs_text(json_t *doc) {
  print_object_line("Object ", doc);
  printf("\nReferenced by (%lld):\n", json_integer_value(json_object_get(doc, "referenced_by_count")));
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(doc, "referenced_by"), i, r) {
    print_object_line("  ", r);
    printf("  .%s\n", json_string_value(json_object_get(r, "field")));
  }
  printf("References (%lld):\n", json_integer_value(json_object_get(doc, "references_count")));
  json_array_foreach(json_object_get(doc, "references"), i, r) {
    printf("  .%-30s ", json_string_value(json_object_get(r, "field")));
    print_object_line("", r);
    printf("\n");
  }
}

static void print_roots_text(json_t *doc) {
  json_t *paths = json_object_get(doc, "paths");
  if (json_array_size(paths) == 0) {
    print_object_line("", doc);
    printf(": no root path (%s)\n", json_is_true(json_object_get(doc, "live")) ? "live, but no path found"
                                                                               : "not reachable: dead object");
    return;
  }
  size_t i, k;
  json_t *p, *hop;
  json_array_foreach(paths, i, p) {
    json_t *root = json_object_get(p, "root");
    printf("Root: %s at %s", json_string_value(json_object_get(root, "kind")),
           json_string_value(json_object_get(root, "address")));
    json_t *th = json_object_get(root, "thread"), *fr = json_object_get(root, "frame");
    if (th)
      printf(" thread %lld (managed %lld)", json_integer_value(json_object_get(th, "os_id")),
             json_integer_value(json_object_get(th, "managed_id")));
    if (fr)
      printf(" in %s", json_string_value(json_object_get(fr, "method")));
    printf("\n");
    json_array_foreach(json_object_get(p, "objects"), k, hop) {
      print_object_line("  -> ", hop);
      json_t *via = json_object_get(hop, "via_field");
      printf("%s%s\n", via ? "  ." : "", via ? json_string_value(via) : "");
    }
  }
}

static const char *str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

static void print_thread_ref(json_t *t) {
  if (json_is_object(t))
    printf("thread %lld (managed %lld)", json_integer_value(json_object_get(t, "os_id")),
           json_integer_value(json_object_get(t, "managed_id")));
  else
    printf("nobody");
}

static void print_wait(json_t *w) {
  if (!json_is_object(w))
    return;
  printf("waits on %s", str(w, "kind"));
  if (json_object_get(w, "mode"))
    printf(" (%s)", str(w, "mode"));
  json_t *obj = json_object_get(w, "object");
  if (json_is_object(obj))
    printf(" %s %s", str(obj, "address"), str(obj, "type"));
  if (json_is_object(json_object_get(w, "held_by"))) {
    printf(" held by ");
    print_thread_ref(json_object_get(w, "held_by"));
  }
}

/* SOS-like text for the thread and lock commands. */
static bool print_threads_text(const char *command, json_t *doc) {
  size_t i, k;
  json_t *x, *y;
  if (strcmp(command, "threads") == 0) {
    printf("%-8s %-8s %-12s %-12s %s\n", "OSID", "Managed", "GC mode", "Exception", "Top frame / wait");
    json_array_foreach(json_object_get(doc, "threads"), i, x) {
      json_t *exc = json_object_get(x, "exception");
      printf("%-8lld %-8lld %-12s %-12s %s%s\n", json_integer_value(json_object_get(x, "os_id")),
             json_integer_value(json_object_get(x, "managed_id")), str(x, "gc_mode"),
             json_is_object(exc) ? str(exc, "type") : "-", json_is_true(json_object_get(x, "finalizer")) ? "(finalizer) " : "",
             json_is_object(json_object_get(x, "top_frame")) ? str(json_object_get(x, "top_frame"), "method") : "");
      if (json_is_object(json_object_get(x, "waiting_on"))) {
        printf("%30s", "");
        print_wait(json_object_get(x, "waiting_on"));
        printf("\n");
      }
    }
    return true;
  }
  if (strcmp(command, "stack") == 0) {
    printf("Thread %lld (managed %lld)\n", json_integer_value(json_object_get(doc, "os_id")),
           json_integer_value(json_object_get(doc, "managed_id")));
    printf("%-18s %-18s %s\n", "SP", "IP", "Call site");
    json_array_foreach(json_object_get(doc, "frames"), i, x)
      printf("%-18s %-18s %s\n", str(x, "sp"), str(x, "ip"), str(x, "method"));
    if (json_is_object(json_object_get(doc, "waiting_on"))) {
      print_wait(json_object_get(doc, "waiting_on"));
      printf("\n");
    }
    return true;
  }
  if (strcmp(command, "waits") == 0) {
    json_array_foreach(json_object_get(doc, "waits"), i, x) {
      print_thread_ref(x);
      printf(": ");
      print_wait(json_object_get(x, "waiting_on"));
      printf("\n");
    }
    return true;
  }
  if (strcmp(command, "deadlocks") == 0) {
    size_t n = json_array_size(json_object_get(doc, "deadlocks"));
    printf("%zu deadlock(s)\n", n);
    json_array_foreach(json_object_get(doc, "deadlocks"), i, x) {
      printf("Deadlock %zu:\n", i + 1);
      json_array_foreach(json_object_get(x, "threads"), k, y) {
        printf("  ");
        print_thread_ref(y);
        json_t *h = json_array_get(json_object_get(y, "holds"), 0);
        if (h)
          printf(" holds %s %s,", str(h, "address"), str(h, "type"));
        printf(" ");
        print_wait(json_object_get(y, "waits_for"));
        json_t *top = json_array_get(json_object_get(y, "stack"), 0);
        printf("\n");
        size_t f;
        json_t *fr;
        json_array_foreach(json_object_get(y, "stack"), f, fr)
          if (!json_is_true(json_object_get(fr, "runtime_frame")))
            printf("      %s\n", str(fr, "method"));
        (void)top;
      }
    }
    json_array_foreach(json_object_get(doc, "contention"), i, x) {
      printf("Contention (not a deadlock): %s %s held by ", str(json_object_get(x, "object"), "address"),
             str(json_object_get(x, "object"), "type"));
      print_thread_ref(json_object_get(x, "held_by"));
      printf(", %zu waiter(s)\n", json_array_size(json_object_get(x, "waiters")));
    }
    return true;
  }
  if (strcmp(command, "findings") == 0) {
    json_array_foreach(json_object_get(doc, "findings"), i, x)
      printf("[%s] %s: %s\n    Recommendation: %s\n", str(x, "severity"), str(x, "title"), str(x, "description"),
             str(x, "recommendation"));
    return true;
  }
  return false;
}

static void print_doc(const ds_cli_args *o, const char *command, json_t *doc) {
  if (!o->json && print_threads_text(command, doc))
    return;
  bool has_text = strcmp(command, "gen") == 0 || strcmp(command, "refs") == 0 || strcmp(command, "roots") == 0 ||
                  strcmp(command, "heapstat") == 0;
  if (o->json || !has_text) {
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
  } else if (strcmp(command, "refs") == 0) {
    print_refs_text(doc);
  } else if (strcmp(command, "roots") == 0) {
    print_roots_text(doc);
  } else if (json_object_get(doc, "objects")) {
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "objects"), i, r) {
      print_object_line("", r);
      printf("\n");
    }
  } else {
    print_stats_text(doc);
  }
}

/* ---- commands ----------------------------------------------------------------------------------- */

int ds_cli_run_index(const char *command, const ds_cli_args *o) {
  ds_error err = {0};
  if (strcmp(command, "index") == 0) {
    char path[4200];
    ds_cli_index_path(o->dump, o->index, path, sizeof path);
    ds_dac_search search;
    ds_dac_search_env env;
    ds_dac_search_init_env(&search, &env, o->dac, o->offline);
    ds_build_stats stats;
    ds_status rc = ds_cli_build_index(o->dump, path, &search, o->json, &stats, &err);
    if (rc != DS_OK)
      return ds_cli_fail(o->json, &err);
    if (o->json) {
      json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:f}", "index", path, "objects", (json_int_t)stats.objects,
                            "references", (json_int_t)stats.edges, "roots", (json_int_t)stats.roots,
                            "live_objects", (json_int_t)stats.live_objects, "build_ms", stats.total_ms);
      json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      fputc('\n', stdout);
      json_decref(j);
    } else {
      printf("%s\n", path);
    }
    return 0;
  }
  uint64_t addr = 0;
  bool needs_addr = strcmp(command, "refs") == 0 || strcmp(command, "roots") == 0 || strcmp(command, "obj") == 0;
  if (needs_addr && !ds_cli_parse_address(o->address, &addr)) {
    ds_error_set(&err, DS_E_ARG, "%s needs an object address in hex, got \"%s\"", command, o->address ? o->address : "");
    return ds_cli_fail(o->json, &err);
  }
  uint64_t thread = 0;
  if (strcmp(command, "mdso") == 0 || strcmp(command, "stack") == 0) {
    char *end = NULL;
    thread = o->address ? strtoull(o->address, &end, 0) : 0;
    if (!o->address || !end || *end || thread > UINT32_MAX) {
      ds_error_set(&err, DS_E_ARG, "%s needs a thread (OS id or managed id), got \"%s\"", command,
                   o->address ? o->address : "");
      return ds_cli_fail(o->json, &err);
    }
  }
  ds_query *q = NULL;
  if (open_index(o, &q, &err) != DS_OK)
    return ds_cli_fail(o->json, &err);
  json_t *doc = NULL;
  ds_status rc;
  ds_object_filter f = {.gen = o->gen, .type_text = o->type_filter, .type_exact = o->type_exact,
                        .min_size = o->min_size, .max_size = o->max_size == UINT64_MAX ? 0 : o->max_size,
                        .free_only = o->free_only, .no_strings = o->no_strings,
                        .liveness = o->live ? DS_LIVE_ONLY : o->dead ? DS_DEAD_ONLY : DS_LIVE_ANY};
  if (strcmp(command, "gen") == 0 || strcmp(command, "heapstat") == 0) {
    if (o->list)
      rc = ds_query_objects(q, &f, o->after, o->limit, &doc, &err);
    else
      rc = ds_query_stats(q, &f, o->sort_count ? DS_SORT_COUNT : DS_SORT_SIZE, o->limit, &doc, &err);
  } else if (strcmp(command, "refs") == 0) {
    rc = ds_query_refs(q, addr, o->limit, &doc, &err);
  } else if (strcmp(command, "roots") == 0) {
    rc = ds_query_root_paths(q, addr, o->all, o->limit, &doc, &err);
  } else if (strcmp(command, "obj") == 0) {
    rc = ds_query_object(q, addr, o->after, o->limit, &doc, &err);
  } else if (strcmp(command, "gch") == 0) {
    rc = ds_query_handles(q, o->limit, &doc, &err);
  } else if (strcmp(command, "finq") == 0 || strcmp(command, "frq") == 0) {
    rc = ds_query_finalizer(q, command[1] == 'r', o->stat, o->limit, &doc, &err);
  } else if (strcmp(command, "mdso") == 0) {
    rc = ds_query_stack_objects(q, (uint32_t)thread, &doc, &err);
  } else if (strcmp(command, "stack") == 0) {
    rc = ds_query_stack(q, (uint32_t)thread, &doc, &err);
  } else if (strcmp(command, "threads") == 0) {
    rc = ds_query_threads(q, &doc, &err);
  } else if (strcmp(command, "locks") == 0) {
    rc = ds_query_locks(q, &doc, &err);
  } else if (strcmp(command, "waits") == 0) {
    rc = ds_query_waits(q, &doc, &err);
  } else if (strcmp(command, "findings") == 0) {
    rc = ds_query_findings(q, &doc, &err);
  } else if (strcmp(command, "deadlocks") == 0) {
    rc = ds_query_deadlocks(q, &doc, &err);
  } else if (strcmp(command, "mfrag") == 0) {
    rc = ds_query_fragmentation(q, o->limit, &doc, &err);
  } else if (strcmp(command, "strings") == 0) {
    rc = ds_query_strings(q, o->contains, o->min_length, o->duplicates, o->limit, &doc, &err);
  } else {
    rc = ds_query_summary(q, &doc, &err);
  }
  int code = 0;
  if (rc != DS_OK)
    code = ds_cli_fail(o->json, &err);
  else
    print_doc(o, command, doc);
  json_decref(doc);
  ds_query_close(q);
  return code;
}
