/*
 * render_report.c: text forms of the findings and of the automatic report, for the CLI (the
 * JSON documents are the API's; these only lay them out for a terminal, like MAT's batch mode).
 */
#include <stdio.h>
#include <string.h>

#include "apiint.h"

static const char *str(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static long long num(json_t *o, const char *key) { return (long long)json_integer_value(json_object_get(o, key)); }

/* One evidence item on one line: what it is, how many, how many bytes, its label. */
static void print_evidence(FILE *out, json_t *e) {
  const char *kind = str(e, "kind");
  if (strcmp(kind, "type") == 0) {
    fprintf(out, "      type   %s", str(e, "display_name"));
  } else if (strcmp(kind, "object") == 0) {
    json_t *o = json_object_get(e, "object");
    fprintf(out, "      object %s %s (%lld bytes)", str(o, "address"), str(o, "type"), num(o, "size"));
  } else if (strcmp(kind, "thread") == 0) {
    json_t *t = json_object_get(e, "thread");
    fprintf(out, "      thread %lld (managed %lld)", num(t, "os_id"), num(t, "managed_id"));
  } else {
    fprintf(out, "      %s", kind);
  }
  if (json_object_get(e, "count"))
    fprintf(out, "  count %lld", num(e, "count"));
  if (json_object_get(e, "bytes"))
    fprintf(out, "  bytes %lld", num(e, "bytes"));
  if (json_object_get(e, "label"))
    fprintf(out, "  \"%s\"", str(e, "label"));
  fputc('\n', out);
}

void ds_api_render_finding(json_t *f, FILE *out) {
  char severity[16];
  snprintf(severity, sizeof severity, "%s", str(f, "severity"));
  for (char *c = severity; *c; c++)
    *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
  fprintf(out, "[%s] %s\n    %s\n    Recommendation: %s\n", severity, str(f, "title"), str(f, "description"),
          str(f, "recommendation"));
  json_t *setting = json_object_get(f, "setting");
  if (json_is_object(setting)) {
    json_t *v = json_object_get(setting, "value");
    fprintf(out, "    Threshold: %s = ", str(setting, "name"));
    if (json_is_integer(v))
      fprintf(out, "%lld\n", (long long)json_integer_value(v));
    else
      fprintf(out, "%g\n", json_number_value(v));
  }
  size_t i;
  json_t *e;
  if (json_array_size(json_object_get(f, "evidence")))
    fprintf(out, "    Evidence:\n");
  json_array_foreach(json_object_get(f, "evidence"), i, e)
    print_evidence(out, e);
}

void ds_api_render_findings(json_t *doc, FILE *out) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "findings"), i, f)
    ds_api_render_finding(f, out);
  if (json_array_size(json_object_get(doc, "findings")) == 0)
    fprintf(out, "No findings.\n");
}

/* ---- the report ------------------------------------------------------------------------------- */

/* "1,234,567" */
static const char *grouped(long long v, char *out, size_t len) {
  char digits[32];
  snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
  size_t n = strlen(digits), o = 0;
  if (v < 0 && o + 1 < len)
    out[o++] = '-';
  for (size_t i = 0; i < n && o + 2 < len; i++) {
    if (i && (n - i) % 3 == 0)
      out[o++] = ',';
    out[o++] = digits[i];
  }
  out[o] = '\0';
  return out;
}

static const char *human(long long bytes, char *out, size_t len) {
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof units / sizeof *units) {
    v /= 1024.0;
    u++;
  }
  snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return out;
}

static void section(FILE *out, const char *title) {
  fprintf(out, "\n%s\n", title);
  for (size_t i = 0; i < strlen(title); i++)
    fputc('-', out);
  fputc('\n', out);
}

static void render_summary(json_t *s, FILE *out) {
  char a[32], b[32], c[32], d[32], e[32];
  json_t *gc = json_object_get(s, "gc"), *heap = json_object_get(s, "heap"), *th = json_object_get(s, "threads");
  fprintf(out, "Dump            %s (%s dump, %s)\n", str(s, "dump"), str(s, "dump_kind"), human(num(s, "dump_size"), a, sizeof a));
  const char *line = json_string_value(json_object_get(json_object_get(s, "process"), "command_line"));
  if (line)
    fprintf(out, "Command line    %s\n", line);
  fprintf(out, "Runtime         .NET %s, %s GC%s, %lld heap%s\n", str(s, "runtime_version"), str(gc, "mode"),
          json_is_true(json_object_get(gc, "regions")) ? " (regions)" : " (segments)", num(gc, "heap_count"),
          num(gc, "heap_count") == 1 ? "" : "s");
  bool no_heap = json_is_true(json_object_get(s, "gc_in_progress"));
  if (no_heap)
    fprintf(out, "                TAKEN DURING A GARBAGE COLLECTION: the heap cannot be walked\n"
                 "Heap            not walkable: see the threads, stacks, handles and locks\n");
  else
    fprintf(out, "Heap            %s in %s objects of %s types; %s live (%s objects)\n",
            human(num(heap, "bytes"), a, sizeof a), grouped(num(s, "objects"), b, sizeof b),
            grouped(num(s, "types"), c, sizeof c), human(num(heap, "live_bytes"), d, sizeof d),
            grouped(num(s, "live_objects"), e, sizeof e));
  if (json_is_integer(json_object_get(heap, "committed_bytes")))
    fprintf(out, "Memory          %s committed, %s used by the GC's segments\n", human(num(heap, "committed_bytes"), a, sizeof a),
            human(num(heap, "used_bytes"), b, sizeof b));
  size_t i;
  json_t *g;
  json_array_foreach(json_object_get(heap, "generations"), i, g) {
    if (no_heap)
      break; /* per-generation object counts come from the walk */
    long long bytes = num(g, "bytes");
    fprintf(out, "  %-7s %10s  %12s objects  %5.1f%% free  %10s live\n", str(g, "generation"), human(bytes, a, sizeof a),
            grouped(num(g, "objects"), b, sizeof b), bytes ? 100.0 * (double)num(g, "free_bytes") / (double)bytes : 0.0,
            human(num(g, "live_bytes"), c, sizeof c));
  }
  json_t *fin = json_object_get(s, "finalization");
  if (!no_heap) /* its counts are of objects */
    fprintf(out, "Finalization    %lld registered (%lld never disposed), %lld ready for finalization\n",
            num(fin, "registered"), num(fin, "undisposed"), num(fin, "ready"));
  fprintf(out, "Threads         %lld managed: %lld alive, %lld blocked, %lld thread pool, %lld with an exception\n",
          num(th, "managed"), num(th, "alive"), num(th, "blocked"), num(th, "thread_pool"), num(th, "with_exception"));
  fprintf(out, "Roots           %s, %lld pinned handles; %s references\n", grouped(num(s, "roots"), a, sizeof a),
          num(s, "pinned_handles"), grouped(num(s, "references"), b, sizeof b));
  fprintf(out, "Analysis        %lld ms\n", num(s, "analysis_ms"));
}

static void render_types(FILE *out, json_t *list, const char *indent) {
  char a[32], b[32];
  size_t i;
  json_t *t;
  json_array_foreach(list, i, t)
    fprintf(out, "%s%14s %12s  %s\n", indent, grouped(num(t, "count"), a, sizeof a), grouped(num(t, "bytes"), b, sizeof b),
            str(t, "display_name"));
}

static void render_strings(FILE *out, json_t *s) {
  char a[32], b[32], c[32], d[32], v[32], f[32], g[32];
  fprintf(out, "%s strings, %s; %s large (%s); %s values held by %s strings waste %s\n",
          grouped(num(s, "count"), a, sizeof a), human(num(s, "bytes"), b, sizeof b), grouped(num(s, "large_count"), c, sizeof c),
          human(num(s, "large_bytes"), d, sizeof d), grouped(num(s, "duplicate_values"), v, sizeof v),
          grouped(num(s, "duplicate_strings"), f, sizeof f), human(num(s, "wasted_bytes"), g, sizeof g));
  size_t i;
  json_t *e;
  if (json_array_size(json_object_get(s, "top_duplicates")))
    fprintf(out, "  Most wasteful duplicates (copies, bytes wasted, value):\n");
  json_array_foreach(json_object_get(s, "top_duplicates"), i, e)
    fprintf(out, "  %10s %12s  \"%.80s\"\n", grouped(num(e, "count"), a, sizeof a), grouped(num(e, "bytes"), b, sizeof b),
            str(e, "label"));
  if (json_array_size(json_object_get(s, "largest")))
    fprintf(out, "  Largest (address, bytes, value):\n");
  json_array_foreach(json_object_get(s, "largest"), i, e)
    fprintf(out, "  %s %12s  \"%.60s\"\n", str(json_object_get(e, "object"), "address"), grouped(num(e, "bytes"), a, sizeof a),
            str(e, "label"));
}

void ds_api_render_dominators(json_t *doc, FILE *out);

/* Leak suspects, retained sizes, top types, LOH, strings and exceptions: what the heap walk gives. */
static void render_heap_sections(json_t *doc, FILE *out) {
  char a[32], b[32];
  json_t *suspects = json_object_get(doc, "leak_suspects");
  if (json_is_array(suspects)) {
    section(out, "Leak suspects");
    size_t i;
    json_t *s;
    json_array_foreach(suspects, i, s) {
      fprintf(out, "%zu. %s\n", i + 1, str(s, "description"));
      json_t *path = json_object_get(s, "root_path");
      if (json_is_object(path)) {
        json_t *root = json_object_get(path, "root");
        fprintf(out, "   Root path: %s%s%s", str(root, "kind"), json_is_string(json_object_get(root, "field")) ? " " : "",
                str(root, "field"));
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(path, "objects"), k, o)
          fprintf(out, " -> %s %s%s%s", str(o, "type"), str(o, "address"), json_object_get(o, "via_field") ? " via " : "",
                  str(o, "via_field"));
        fputc('\n', out);
      }
      size_t k;
      json_t *g;
      char c1[32], c2[32];
      json_array_foreach(json_object_get(s, "accumulates"), k, g)
        fprintf(out, "   %14s objects of %s retaining %s bytes\n", grouped(num(g, "count"), c1, sizeof c1),
                str(g, "display_name"), grouped(num(g, "bytes"), c2, sizeof c2));
    }
    if (!json_array_size(suspects))
      fprintf(out, "None: no object or type retains a large share of the heap.\n");
  }
  json_t *retained = json_object_get(doc, "retained");
  if (json_is_object(retained)) {
    section(out, "Retained sizes (dominator tree)");
    fprintf(out, "The roots retain %s. Largest objects dominated only by the roots:\n",
            human(num(retained, "reachable_bytes"), a, sizeof a));
    json_t *r = json_pack("{s:O}", "objects", json_object_get(retained, "top_objects"));
    ds_api_render_dominators(r, out);
    json_decref(r);
    fprintf(out, "Types by retained size:\n");
    r = json_pack("{s:O}", "types", json_object_get(retained, "top_types"));
    ds_api_render_dominators(r, out);
    json_decref(r);
  }
  json_t *top = json_object_get(doc, "top_types");
  section(out, "Top types by size (whole heap)");
  fprintf(out, "%14s %12s  %s\n", "Count", "Bytes", "Type");
  render_types(out, json_object_get(top, "by_size"), "");
  section(out, "Top types by count (whole heap)");
  fprintf(out, "%14s %12s  %s\n", "Count", "Bytes", "Type");
  render_types(out, json_object_get(top, "by_count"), "");
  section(out, "Top types per generation (by size)");
  size_t i;
  json_t *g;
  json_array_foreach(json_object_get(top, "generations"), i, g) {
    fprintf(out, "%s:\n", str(g, "generation"));
    render_types(out, json_object_get(g, "by_size"), "  ");
  }
  json_t *loh = json_object_get(doc, "loh");
  section(out, "Large object heap");
  fprintf(out, "%s objects, %s\n", grouped(num(loh, "objects"), a, sizeof a), human(num(loh, "bytes"), b, sizeof b));
  json_t *o;
  json_array_foreach(json_object_get(loh, "largest"), i, o)
    fprintf(out, "  %s %12s  %s%s\n", str(o, "address"), grouped(num(o, "size"), a, sizeof a), str(o, "type"),
            json_is_true(json_object_get(o, "live")) ? "" : " (dead)");
  section(out, "Strings");
  render_strings(out, json_object_get(doc, "strings"));
  json_t *exc = json_object_get(doc, "exceptions");
  section(out, "Exceptions on the heap");
  fprintf(out, "%lld exception objects (the runtime's preallocated ones not counted)\n", num(exc, "count"));
  json_t *e;
  json_array_foreach(json_object_get(exc, "groups"), i, e)
    fprintf(out, "  %8lld  %s: %s\n", num(e, "count"), str(e, "type"), str(e, "label"));
}

void ds_api_render_report(json_t *doc, FILE *out) {
  fprintf(out, "dumpscope analysis report\n=========================\n");
  section(out, "Summary");
  render_summary(json_object_get(doc, "summary"), out);
  json_t *counts = json_object_get(doc, "finding_counts");
  char title[128];
  snprintf(title, sizeof title, "Findings (%lld errors, %lld warnings, %lld information)", num(counts, "error"),
           num(counts, "warning"), num(counts, "information"));
  section(out, title);
  ds_api_render_findings(doc, out);
  if (json_is_true(json_object_get(json_object_get(doc, "summary"), "gc_in_progress"))) {
    section(out, "Heap");
    fprintf(out, "Not walkable: the dump was taken during a garbage collection, so there are no leak suspects,\n"
                 "retained sizes, types, strings or exceptions from the heap. Take another dump for those.\n");
  } else {
    render_heap_sections(doc, out);
  }
  section(out, "Thresholds used");
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(doc, "settings"), i, s) {
    json_t *v = json_object_get(s, "value");
    if (json_is_integer(v))
      fprintf(out, "  %-26s %lld\n", str(s, "name"), (long long)json_integer_value(v));
    else
      fprintf(out, "  %-26s %g\n", str(s, "name"), json_number_value(v));
  }
}

/* ---- the dominator tree ----------------------------------------------------------------------- */

void ds_api_render_dominators(json_t *doc, FILE *out) {
  char a[32], b[32];
  size_t i;
  json_t *x;
  json_t *parent = json_object_get(doc, "parent");
  if (json_is_object(parent))
    fprintf(out, "Dominated by %s %s (retained %s bytes): %lld objects\n", str(parent, "address"), str(parent, "type"),
            grouped(num(parent, "retained_size"), a, sizeof a), num(doc, "count"));
  else if (json_object_get(doc, "objects") && json_object_get(doc, "count"))
    fprintf(out, "Top of the dominator tree: %lld objects dominated only by the roots\n", num(doc, "count"));
  if (json_object_get(doc, "types")) {
    fprintf(out, "%14s %14s %7s %12s  %s\n", "Retained", "Shallow", "%", "Count", "Type");
    json_array_foreach(json_object_get(doc, "types"), i, x)
      fprintf(out, "%14s %14lld %6.1f%% %12lld  %s\n", grouped(num(x, "retained_size"), a, sizeof a), num(x, "size"),
              json_number_value(json_object_get(x, "retained_percent")), num(x, "count"), str(x, "display_name"));
    return;
  }
  fprintf(out, "%14s %7s %-18s %10s  %s\n", "Retained", "%", "Address", "Size", "Type");
  json_array_foreach(json_object_get(doc, "objects"), i, x)
    fprintf(out, "%14s %6.1f%% %-18s %10s  %s\n", grouped(num(x, "retained_size"), a, sizeof a),
            json_number_value(json_object_get(x, "retained_percent")), str(x, "address"),
            grouped(num(x, "size"), b, sizeof b), str(x, "type"));
}

/* ---- a comparison of two dumps ---------------------------------------------------------------- */

/* "+1,234" / "-56" */
static const char *signed_grouped(long long v, char *out, size_t len) {
  char digits[32];
  grouped(v < 0 ? -v : v, digits, sizeof digits);
  snprintf(out, len, "%s%s", v < 0 ? "-" : v > 0 ? "+" : "", digits);
  return out;
}

void ds_api_render_diff(json_t *doc, FILE *out) {
  char a[32], b[32], c[32], d[32];
  json_t *before = json_object_get(doc, "before"), *after = json_object_get(doc, "after");
  fprintf(out, "Before  %s: %s objects, %s bytes\n", str(before, "dump"), grouped(num(before, "objects"), a, sizeof a),
          grouped(num(before, "bytes"), b, sizeof b));
  fprintf(out, "After   %s: %s objects, %s bytes\n", str(after, "dump"), grouped(num(after, "objects"), a, sizeof a),
          grouped(num(after, "bytes"), b, sizeof b));
  fprintf(out, "Growth  %s objects, %s bytes; largest growth (by %s) first:\n",
          signed_grouped(num(doc, "objects_growth"), a, sizeof a), signed_grouped(num(doc, "bytes_growth"), b, sizeof b),
          str(doc, "sort"));
  fprintf(out, "%14s %16s %16s %14s  %s\n", "Count", "Bytes", "Retained", "Count after", "Type");
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(doc, "types"), i, t)
    fprintf(out, "%14s %16s %16s %14s  %s\n", signed_grouped(num(t, "count_growth"), a, sizeof a),
            signed_grouped(num(t, "bytes_growth"), b, sizeof b),
            json_object_get(t, "retained_growth") ? signed_grouped(num(t, "retained_growth"), c, sizeof c) : "",
            grouped(num(t, "count_after"), d, sizeof d), str(t, "display_name"));
}
