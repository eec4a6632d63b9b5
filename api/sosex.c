/*
 * sosex.c: handlers and text forms of the resources that complete the SOSEX reference (mln, mdt,
 * mx, and the -d details of the lock resources). Rows for them live in resources.c's table like
 * every other resource; this file only keeps their code together.
 */
#include "api.h"
#include "apiint.h"

#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

/* ---- mln: what lives at an address ------------------------------------------------------------ */

ds_status ds_api_h_memory(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t addr;
  ds_status rc = ds_api_get_address(args, "addr", true, &addr, err);
  return rc != DS_OK ? rc : ds_query_memory(q, addr, out, err);
}

void ds_api_render_memory(json_t *doc, FILE *out) {
  fprintf(out, "%s: %s\n", str(doc, "address"), str(doc, "description"));
  json_t *m = json_object_get(doc, "module");
  if (json_is_object(m))
    fprintf(out, "  module %s (image at %s%s%s)\n", str(m, "path"), str(doc, "image_base"),
            json_is_string(json_object_get(m, "build_id")) ? ", build id " : "", str(m, "build_id"));
  json_t *th = json_object_get(doc, "thread");
  if (json_is_object(th)) {
    fprintf(out, "  thread %lld", (long long)json_integer_value(json_object_get(th, "os_id")));
    if (json_is_integer(json_object_get(th, "managed_id")))
      fprintf(out, " (managed %lld)", (long long)json_integer_value(json_object_get(th, "managed_id")));
    fprintf(out, "\n");
  }
  json_t *ref = json_object_get(doc, "reference");
  if (json_is_object(ref))
    fprintf(out, "  the slot holds %s %s\n", str(ref, "address"), str(ref, "type"));
}
