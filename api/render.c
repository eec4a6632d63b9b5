/*
 * render.c: SOS-like text for the resources that have a text form (the CLI without --json).
 * Each renderer reads only the resource's JSON document, so text and JSON never disagree.
 */
#include "api.h"
#include "apiint.h"

#include <string.h>


void ds_api_render_stats(json_t *doc, FILE *out) {
  fprintf(out, "%-18s %10s %14s %s\n", "MT", "Count", "TotalSize", "Class Name");
  size_t i;
  json_t *row;
  json_t *types = json_object_get(doc, "types");
  for (i = json_array_size(types); i-- > 0;) {
    row = json_array_get(types, i);
    fprintf(out, "%-18s %10lld %14lld %s\n", json_string_value(json_object_get(row, "mt")),
           json_integer_value(json_object_get(row, "count")), json_integer_value(json_object_get(row, "total_size")),
           json_string_value(json_object_get(row, "type")));
  }
  fprintf(out, "Total %lld objects, %lld bytes\n", json_integer_value(json_object_get(doc, "object_count")),
         json_integer_value(json_object_get(doc, "total_size")));
}

static void print_object_line(FILE *out, const char *prefix, json_t *o) {
  fprintf(out, "%s%s %s (%lld bytes)", prefix, json_string_value(json_object_get(o, "address")),
         json_string_value(json_object_get(o, "type")), json_integer_value(json_object_get(o, "size")));
}

void ds_api_render_refs(json_t *doc, FILE *out) {
  print_object_line(out, "Object ", doc);
  fprintf(out, "\nReferenced by (%lld):\n", json_integer_value(json_object_get(doc, "referenced_by_count")));
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(doc, "referenced_by"), i, r) {
    print_object_line(out, "  ", r);
    fprintf(out, "  .%s\n", json_string_value(json_object_get(r, "field")));
  }
  fprintf(out, "References (%lld):\n", json_integer_value(json_object_get(doc, "references_count")));
  json_array_foreach(json_object_get(doc, "references"), i, r) {
    fprintf(out, "  .%-30s ", json_string_value(json_object_get(r, "field")));
    print_object_line(out, "", r);
    fprintf(out, "\n");
  }
}

static const char *str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

void ds_api_render_roots(json_t *doc, FILE *out) {
  json_t *paths = json_object_get(doc, "paths");
  if (json_array_size(paths) == 0) {
    print_object_line(out, "", doc);
    fprintf(out, ": no root path (%s)\n", json_is_true(json_object_get(doc, "live")) ? "live, but no path found"
                                                                               : "not reachable: dead object");
    return;
  }
  size_t i, k;
  json_t *p, *hop;
  json_array_foreach(paths, i, p) {
    json_t *root = json_object_get(p, "root");
    json_t *field = json_object_get(root, "field"), *storage = json_object_get(root, "storage");
    fprintf(out, "Root: %s%s%s at %s", json_string_value(json_object_get(root, "kind")), json_is_string(field) ? " " : "",
            json_is_string(field) ? json_string_value(field) : "", json_string_value(json_object_get(root, "address")));
    if (storage) {
      json_t *handle = json_object_get(storage, "handle");
      fprintf(out, " (%s %s", str(storage, "what"), str(storage, "array"));
      if (handle)
        fprintf(out, ", held by %s %s", str(handle, "kind"), str(handle, "address"));
      fprintf(out, ")");
    }
    json_t *th = json_object_get(root, "thread"), *fr = json_object_get(root, "frame");
    if (th)
      fprintf(out, " thread %lld (managed %lld)", json_integer_value(json_object_get(th, "os_id")),
             json_integer_value(json_object_get(th, "managed_id")));
    if (fr)
      fprintf(out, " in %s", json_string_value(json_object_get(fr, "method")));
    fprintf(out, "\n");
    json_array_foreach(json_object_get(p, "objects"), k, hop) {
      print_object_line(out, "  -> ", hop);
      json_t *via = json_object_get(hop, "via_field");
      fprintf(out, "%s%s\n", via ? "  ." : "", via ? json_string_value(via) : "");
    }
  }
}


static void print_thread_ref(FILE *out, json_t *t) {
  if (json_is_object(t))
    fprintf(out, "thread %lld (managed %lld)", json_integer_value(json_object_get(t, "os_id")),
           json_integer_value(json_object_get(t, "managed_id")));
  else
    fprintf(out, "nobody");
}

static void print_wait(FILE *out, json_t *w) {
  if (!json_is_object(w))
    return;
  fprintf(out, "waits on %s", str(w, "kind"));
  if (json_object_get(w, "mode"))
    fprintf(out, " (%s)", str(w, "mode"));
  json_t *obj = json_object_get(w, "object");
  if (json_is_object(obj))
    fprintf(out, " %s %s", str(obj, "address"), str(obj, "type"));
  if (json_is_object(json_object_get(w, "held_by"))) {
    fprintf(out, " held by ");
    print_thread_ref(out, json_object_get(w, "held_by"));
  }
}

/* One line per thread: ids, GC mode, exception, role, and what it is doing: the innermost managed
 * method (the runtime frames above it, such as [InlinedCallFrame], say only that it is in native
 * code) and, when it is blocked, what it waits on. */
void ds_api_render_threads(json_t *doc, FILE *out) {
  size_t i;
  json_t *x;
  fprintf(out, "%-8s %-8s %-12s %-12s %-28s %s\n", "OSID", "Managed", "GC mode", "Exception", "Role", "Method / wait");
  json_array_foreach(json_object_get(doc, "threads"), i, x) {
    json_t *exc = json_object_get(x, "exception"), *method = json_object_get(x, "top_method");
    if (!json_is_object(method))
      method = json_object_get(x, "top_frame");
    fprintf(out, "%-8lld %-8lld %-12s %-12s %-28s %s\n", json_integer_value(json_object_get(x, "os_id")),
            json_integer_value(json_object_get(x, "managed_id")), str(x, "gc_mode"),
            json_is_object(exc) ? str(exc, "type") : "-", str(x, "role"),
            json_is_object(method) ? str(method, "method") : "");
    if (json_is_object(json_object_get(x, "waiting_on"))) {
      fprintf(out, "%72s", "");
      print_wait(out, json_object_get(x, "waiting_on"));
      fprintf(out, "\n");
    }
  }
}

void ds_api_render_stack(json_t *doc, FILE *out) {
  size_t i, k;
  json_t *x, *y;
  (void)k;
  (void)y;
  fprintf(out, "Thread %lld (managed %lld)\n", json_integer_value(json_object_get(doc, "os_id")),
         json_integer_value(json_object_get(doc, "managed_id")));
  fprintf(out, "%-18s %-18s %s\n", "SP", "IP", "Call site");
  json_array_foreach(json_object_get(doc, "frames"), i, x)
    fprintf(out, "%-18s %-18s %s\n", str(x, "sp"), str(x, "ip"), str(x, "method"));
  if (json_is_object(json_object_get(doc, "waiting_on"))) {
    print_wait(out, json_object_get(doc, "waiting_on"));
    fprintf(out, "\n");
  }
}

void ds_api_render_waits(json_t *doc, FILE *out) {
  size_t i, k;
  json_t *x, *y;
  (void)k;
  (void)y;
  json_array_foreach(json_object_get(doc, "waits"), i, x) {
    print_thread_ref(out, x);
    fprintf(out, ": ");
    print_wait(out, json_object_get(x, "waiting_on"));
    fprintf(out, "\n");
  }
}

void ds_api_render_deadlocks(json_t *doc, FILE *out) {
  size_t i, k;
  json_t *x, *y;
  (void)k;
  (void)y;
  size_t n = json_array_size(json_object_get(doc, "deadlocks"));
  fprintf(out, "%zu deadlock(s)\n", n);
  json_array_foreach(json_object_get(doc, "deadlocks"), i, x) {
    fprintf(out, "Deadlock %zu:\n", i + 1);
    json_array_foreach(json_object_get(x, "threads"), k, y) {
      fprintf(out, "  ");
      print_thread_ref(out, y);
      json_t *h = json_array_get(json_object_get(y, "holds"), 0);
      if (h)
        fprintf(out, " holds %s %s,", str(h, "address"), str(h, "type"));
      fprintf(out, " ");
      print_wait(out, json_object_get(y, "waits_for"));
      json_t *top = json_array_get(json_object_get(y, "stack"), 0);
      fprintf(out, "\n");
      size_t f;
      json_t *fr;
      json_array_foreach(json_object_get(y, "stack"), f, fr)
        if (!json_is_true(json_object_get(fr, "runtime_frame")))
          fprintf(out, "      %s\n", str(fr, "method"));
      (void)top;
    }
  }
  json_array_foreach(json_object_get(doc, "contention"), i, x) {
    fprintf(out, "Contention (not a deadlock): %s %s held by ", str(json_object_get(x, "object"), "address"),
           str(json_object_get(x, "object"), "type"));
    print_thread_ref(out, json_object_get(x, "held_by"));
    fprintf(out, ", %zu waiter(s)\n", json_array_size(json_object_get(x, "waiters")));
  }
}

void ds_api_render_objects(json_t *doc, FILE *out) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(doc, "objects"), i, r) {
    print_object_line(out, "", r);
    fprintf(out, "\n");
  }
  if (json_is_string(json_object_get(doc, "next_cursor")))
    fprintf(out, "More: --after %s\n", json_string_value(json_object_get(doc, "next_cursor")));
}

static long long num(json_t *o, const char *key) { return (long long)json_integer_value(json_object_get(o, key)); }

void ds_api_render_summary(json_t *doc, FILE *out) {
  fprintf(out, "Runtime          %s (%s GC%s, %lld heap(s))\n", str(doc, "runtime_version"),
          json_is_true(json_object_get(doc, "server_gc")) ? "server" : "workstation",
          json_is_true(json_object_get(doc, "regions")) ? ", regions" : ", segments", num(doc, "heap_count"));
  fprintf(out, "Dump             %s%s\n", str(doc, "dump"),
          json_is_true(json_object_get(doc, "dump_available")) ? "" : " (not available: values unreadable)");
  fprintf(out, "Objects          %lld (%lld live), %lld types, %lld references, %lld roots\n", num(doc, "objects"),
          num(doc, "live_objects"), num(doc, "types"), num(doc, "references"), num(doc, "roots"));
  if (json_is_false(json_object_get(doc, "heap_walkable")))
    fprintf(out, "Heap             not walkable: the dump was taken during a garbage collection\n");
  else
    fprintf(out, "Heap             %lld bytes, %lld free, %lld live\n", num(doc, "heap_bytes"), num(doc, "free_bytes"),
            num(doc, "live_bytes"));
  if (num(doc, "heap_errors"))
    fprintf(out, "Heap errors      %lld\n", num(doc, "heap_errors"));
}

/* The "Held by" column: the owner of a monitor or Lock, the writer or readers of a reader-writer
 * lock, else what the kind of lock records (a semaphore's count, an event's state, ...). */
static void lock_state(json_t *m, char *out, size_t len) {
  json_t *h = json_object_get(m, "held_by"), *w = json_object_get(m, "writer");
  if (json_is_object(h))
    snprintf(out, len, "thread %lld (managed %lld)", num(h, "os_id"), num(h, "managed_id"));
  else if (json_is_object(w))
    snprintf(out, len, "writer: thread %lld (managed %lld)", num(w, "os_id"), num(w, "managed_id"));
  else if (num(m, "readers") > 0)
    snprintf(out, len, "%lld reader(s)", num(m, "readers"));
  else if (json_object_get(m, "current_count") && json_object_get(m, "initial_count"))
    snprintf(out, len, "count %lld of %lld", num(m, "current_count"), num(m, "initial_count"));
  else if (json_object_get(m, "current_count"))
    snprintf(out, len, "count %lld", num(m, "current_count"));
  else if (json_object_get(m, "set"))
    snprintf(out, len, "%s", json_is_true(json_object_get(m, "set")) ? "set" : "not set");
  else if (json_object_get(m, "participants"))
    snprintf(out, len, "phase %lld, %lld of %lld to arrive", num(m, "phase"), num(m, "participants_remaining"),
             num(m, "participants"));
  else
    snprintf(out, len, "nobody");
}

void ds_api_render_locks(json_t *doc, FILE *out) {
  size_t i, k;
  json_t *m, *w;
  fprintf(out, "%-18s %-18s %-40s %-34s %s\n", "Object", "Kind", "Type", "Held by", "Waiters");
  const char *lists[] = {"monitors", "other_locks"};
  for (size_t l = 0; l < 2; l++)
    json_array_foreach(json_object_get(doc, lists[l]), i, m) {
      json_t *obj = json_object_get(m, "object");
      char holder[96];
      lock_state(m, holder, sizeof holder);
      /* an object the index does not hold (a mid-GC dump has no heap) is its address alone */
      const char *address = json_is_string(obj) ? json_string_value(obj) : str(obj, "address");
      fprintf(out, "%-18s %-18s %-40s %-34s", address, str(m, "kind"), json_is_string(obj) ? "" : str(obj, "type"),
              holder);
      json_array_foreach(json_object_get(m, "waiters"), k, w)
        fprintf(out, " %lld", num(w, "os_id"));
      fprintf(out, "\n");
    }
}

void ds_api_render_handles(json_t *doc, FILE *out) {
  const char *kind;
  json_t *k;
  fprintf(out, "%lld handles, %lld pinned\n", num(doc, "total"), num(doc, "pinned"));
  json_object_foreach(json_object_get(doc, "kinds"), kind, k) {
    fprintf(out, "%s: %lld\n", kind, num(k, "count"));
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(k, "handles"), i, h) {
      fprintf(out, "  %s -> ", str(h, "handle"));
      if (json_is_null(json_object_get(h, "object")) && json_is_string(json_object_get(h, "target")))
        fprintf(out, "%s (not in the index)", str(h, "target"));
      else
        print_object_line(out, "", json_object_get(h, "object"));
      fprintf(out, "%s", json_is_true(json_object_get(h, "pinned")) ? " pinned" : "");
      if (json_object_get(h, "static_fields"))
        fprintf(out, " (statics storage: %lld static fields)", num(h, "static_fields"));
      fprintf(out, "\n");
    }
  }
  json_t *statics = json_object_get(doc, "statics");
  fprintf(out, "static field: %lld\n", num(statics, "count"));
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(statics, "fields"), i, f) {
    json_t *field = json_object_get(f, "field");
    fprintf(out, "  %s %s -> ", str(f, "slot"), json_is_string(field) ? json_string_value(field) : "(unnamed)");
    print_object_line(out, "", json_object_get(f, "object"));
    fprintf(out, "\n");
  }
}

void ds_api_render_finalizer(json_t *doc, FILE *out) {
  size_t i;
  json_t *x;
  fprintf(out, "%s queue: %lld objects, %lld bytes\n", str(doc, "queue"), num(doc, "count"), num(doc, "total_size"));
  fprintf(out, "%10s %12s %s\n", "Count", "TotalSize", "Type");
  json_array_foreach(json_object_get(doc, "by_type"), i, x)
    fprintf(out, "%10lld %12lld %s\n", num(x, "count"), num(x, "total_size"), str(x, "type"));
  json_array_foreach(json_object_get(doc, "objects"), i, x) {
    print_object_line(out, "", x);
    fprintf(out, "\n");
  }
}

void ds_api_render_fragmentation(json_t *doc, FILE *out) {
  size_t i;
  json_t *x;
  fprintf(out, "%-8s %10s %14s %14s %16s %8s\n", "Gen", "FreeBlocks", "FreeBytes", "LargestFree", "GenerationBytes",
          "Frag%");
  json_array_foreach(json_object_get(doc, "generations"), i, x)
    fprintf(out, "%-8s %10lld %14lld %14lld %16lld %7.1f%%\n", str(x, "generation"), num(x, "free_blocks"),
            num(x, "free_bytes"), num(x, "largest_free_block"), num(x, "generation_bytes"),
            100.0 * json_number_value(json_object_get(x, "fragmentation")));
  fprintf(out, "Pinned objects holding gaps open: %lld\n", num(doc, "pinned_gap_holders_count"));
  json_array_foreach(json_object_get(doc, "pinned_gap_holders"), i, x) {
    print_object_line(out, "  ", x);
    fprintf(out, " %s, gap of %lld bytes before it\n", str(x, "generation"), num(x, "gap_before"));
  }
}

void ds_api_render_strings(json_t *doc, FILE *out) {
  size_t i;
  json_t *x;
  if (json_object_get(doc, "duplicates")) {
    fprintf(out, "%lld duplicate groups, %lld bytes wasted\n", num(doc, "duplicate_groups"), num(doc, "wasted_bytes"));
    json_array_foreach(json_object_get(doc, "duplicates"), i, x)
      fprintf(out, "%8lld x %8lld bytes wasted  \"%.120s\"\n", num(x, "count"), num(x, "wasted_bytes"), str(x, "value"));
    return;
  }
  fprintf(out, "%lld strings, %lld bytes\n", num(doc, "matched"), num(doc, "matched_bytes"));
  json_array_foreach(json_object_get(doc, "strings"), i, x)
    fprintf(out, "%s %8lld \"%.120s\"\n", str(x, "address"), num(x, "length"), str(x, "value"));
}
