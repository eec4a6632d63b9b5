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
