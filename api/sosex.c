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

/* ---- mdt: a type's layout, or an object expanded ---------------------------------------------- */

ds_status ds_api_h_mdt(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint64_t depth, elements;
  ds_status rc;
  const char *target = ds_api_args_get(args, "type");
  if (!target || !*target)
    return ds_error_set(err, DS_E_ARG, "type is required: an object address, a MethodTable or a type name");
  if ((rc = ds_api_get_u64(args, "depth", 0, 0, DS_MAX_MDT_DEPTH, &depth, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "elements", 10, 0, DS_MAX_MDT_ELEMENTS, &elements, err)) != DS_OK)
    return rc;
  return ds_query_mdt(q, target, (unsigned)depth, (size_t)elements, out, err);
}

static void render_value(json_t *v, FILE *out);

/* One line per field (offset, type, name, value), value types and followed references indented
 * below it. */
static void render_fields(json_t *fields, int indent, FILE *out) {
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    fprintf(out, "%*s+0x%-4llx %-12s %-40s %s", indent, "", (unsigned long long)json_integer_value(json_object_get(f, "offset")),
            str(f, "element_type"), str(f, "type"), str(f, "name"));
    json_t *v = json_object_get(f, "value");
    if (v) {
      fprintf(out, " = ");
      render_value(v, out);
    } else if (json_is_string(json_object_get(f, "address"))) {
      fprintf(out, " @ %s", str(f, "address"));
    }
    if (json_is_string(json_object_get(f, "declared_by")))
      fprintf(out, "  (%s)", str(f, "declared_by"));
    fprintf(out, "\n");
    json_t *inner = json_object_get(f, "fields");
    if (!json_is_array(inner) && json_is_object(v))
      inner = json_object_get(v, "fields");
    if (json_is_array(inner))
      render_fields(inner, indent + 4, out);
    json_t *elements = json_is_object(v) ? json_object_get(v, "elements") : NULL;
    size_t k;
    json_t *e;
    json_array_foreach(elements, k, e) {
      fprintf(out, "%*s[%zu] ", indent + 4, "", k);
      render_value(e, out);
      fprintf(out, "\n");
      if (json_is_array(json_object_get(e, "fields")))
        render_fields(json_object_get(e, "fields"), indent + 8, out);
    }
  }
}

static void render_value(json_t *v, FILE *out) {
  if (json_is_null(v))
    fprintf(out, "null");
  else if (json_is_integer(v))
    fprintf(out, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    fprintf(out, "%g", json_real_value(v));
  else if (json_is_boolean(v))
    fprintf(out, "%s", json_is_true(v) ? "true" : "false");
  else if (json_is_string(v))
    fprintf(out, "%s", json_string_value(v));
  else if (json_is_object(v)) {
    fprintf(out, "%s %s", str(v, "address"), str(v, "type"));
    if (json_is_string(json_object_get(v, "string")))
      fprintf(out, " \"%s\"", str(v, "string"));
    if (json_is_integer(json_object_get(v, "length")))
      fprintf(out, " length %lld", (long long)json_integer_value(json_object_get(v, "length")));
  }
}

void ds_api_render_mdt(json_t *doc, FILE *out) {
  fprintf(out, "%s (MT %s, base size %lld)\n", str(doc, "type"), str(doc, "mt"),
          (long long)json_integer_value(json_object_get(doc, "base_size")));
  json_t *o = json_object_get(doc, "object");
  if (json_is_object(o)) {
    fprintf(out, "Object %s (%lld bytes, %s%s)\n", str(o, "address"), (long long)json_integer_value(json_object_get(o, "size")),
            str(o, "generation"), json_is_true(json_object_get(o, "live")) ? ", live" : ", dead");
    render_fields(json_object_get(o, "fields"), 2, out);
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(o, "elements"), k, e) {
      fprintf(out, "  [%zu] ", k);
      render_value(e, out);
      fprintf(out, "\n");
      if (json_is_array(json_object_get(e, "fields")))
        render_fields(json_object_get(e, "fields"), 6, out);
    }
  } else {
    fprintf(out, "Instance fields:\n");
    render_fields(json_object_get(doc, "fields"), 2, out);
  }
  json_t *statics = json_object_get(doc, "statics");
  if (json_array_size(statics))
    fprintf(out, "Static fields:\n");
  size_t i;
  json_t *s;
  json_array_foreach(statics, i, s) {
    fprintf(out, "  %-12s %-40s %s = ", str(s, "element_type"), str(s, "type"), str(s, "name"));
    if (json_is_true(json_object_get(s, "thread_static")))
      fprintf(out, "(per thread)");
    else
      render_value(json_object_get(s, "value"), out);
    fprintf(out, "\n");
  }
  fprintf(out, "Methods: %lld\n", (long long)json_integer_value(json_object_get(doc, "method_count")));
  if (json_is_true(json_object_get(doc, "truncated")))
    fprintf(out, "(cut at the value limit; ask for less depth or fewer elements)\n");
}

/* ---- mx: names matching a pattern --------------------------------------------------------------- */

ds_status ds_api_h_search(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  static const char *const kinds[] = {"all", "types", "fields", "methods", NULL};
  static const unsigned masks[] = {DS_SEARCH_ALL, DS_SEARCH_TYPES, DS_SEARCH_FIELDS, DS_SEARCH_METHODS};
  uint64_t limit;
  int kind;
  ds_status rc;
  if ((rc = ds_api_get_enum(args, "kind", kinds, 0, &kind, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "limit", DS_API_DEFAULT_LIMIT, 1, DS_API_MAX_LIMIT, &limit, err)) != DS_OK)
    return rc;
  const char *pattern = ds_api_args_get(args, "q");
  if (pattern && !*pattern)
    return ds_error_set(err, DS_E_ARG, "q is empty: give a name pattern such as Scenarios.* or *Invoice*");
  return ds_query_search(q, pattern ? pattern : "*", masks[kind], (size_t)limit, out, err);
}

void ds_api_render_search(json_t *doc, FILE *out) {
  size_t i;
  json_t *x;
  fprintf(out, "Types (%lld):\n", (long long)json_integer_value(json_object_get(doc, "type_count")));
  json_array_foreach(json_object_get(doc, "types"), i, x)
    fprintf(out, "  %-18s %8lld  %s\n", str(x, "mt"), (long long)json_integer_value(json_object_get(x, "instances")),
            str(x, "type"));
  fprintf(out, "Fields (%lld):\n", (long long)json_integer_value(json_object_get(doc, "field_count")));
  json_array_foreach(json_object_get(doc, "fields"), i, x)
    fprintf(out, "  %s.%s  %s%s\n", str(x, "type"), str(x, "name"), str(x, "field_type"),
            json_is_true(json_object_get(x, "static")) ? "  (static)" : "");
  fprintf(out, "Methods (%lld):\n", (long long)json_integer_value(json_object_get(doc, "method_count")));
  json_array_foreach(json_object_get(doc, "methods"), i, x)
    fprintf(out, "  %-18s %s\n", json_is_string(json_object_get(x, "code")) ? str(x, "code") : "(not compiled)",
            str(x, "name"));
  if (json_is_true(json_object_get(doc, "truncated")))
    fprintf(out, "(more matches: raise --limit or narrow the pattern)\n");
}

/* ---- -d: the stacks of every thread a lock document names ------------------------------------- */

#define MAX_DETAIL_THREADS 4096u

/* Collects the distinct OS thread ids of every object in doc with an integer "os_id". */
static void collect_threads(json_t *doc, json_int_t *ids, size_t *count) {
  if (json_is_object(doc)) {
    json_t *id = json_object_get(doc, "os_id");
    if (json_is_integer(id)) {
      json_int_t v = json_integer_value(id);
      bool seen = false;
      for (size_t i = 0; i < *count && !seen; i++)
        seen = ids[i] == v;
      if (!seen && *count < MAX_DETAIL_THREADS)
        ids[(*count)++] = v;
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value) collect_threads(value, ids, count);
  } else if (json_is_array(doc)) {
    size_t i;
    json_t *value;
    json_array_foreach(doc, i, value) collect_threads(value, ids, count);
  }
}

ds_status ds_api_with_stacks(ds_query *q, const ds_api_args *args,
                             ds_status (*query)(ds_query *, json_t **, ds_error *), json_t **out, ds_error *err) {
  bool details;
  ds_status rc = ds_api_get_bool(args, "details", false, &details, err);
  if (rc != DS_OK || (rc = query(q, out, err)) != DS_OK || !details)
    return rc;
  json_int_t *ids = malloc(MAX_DETAIL_THREADS * sizeof *ids);
  json_t *stacks = json_array();
  if (!ids || !stacks) {
    free(ids);
    json_decref(stacks);
    return ds_error_set(err, DS_E_NOMEM, "out of memory collecting stacks");
  }
  size_t count = 0;
  collect_threads(*out, ids, &count);
  for (size_t i = 0; i < count; i++) {
    json_t *stack = NULL;
    ds_error ignore = {0};
    if (ids[i] < 0 || ids[i] > UINT32_MAX || ds_query_stack(q, (uint32_t)ids[i], &stack, &ignore) != DS_OK)
      continue; /* not a managed thread: nothing the index knows of its stack */
    json_object_del(stack, "waiting_on");
    json_array_append_new(stacks, stack);
  }
  free(ids);
  json_object_set_new(*out, "stacks", stacks);
  return DS_OK;
}

static void render_stacks(json_t *doc, FILE *out) {
  json_t *stacks = json_object_get(doc, "stacks");
  size_t i, k;
  json_t *s, *f;
  json_array_foreach(stacks, i, s) {
    fprintf(out, "\nThread %lld (managed %lld):\n", (long long)json_integer_value(json_object_get(s, "os_id")),
            (long long)json_integer_value(json_object_get(s, "managed_id")));
    json_array_foreach(json_object_get(s, "frames"), k, f)
      fprintf(out, "  %-18s %-18s %s\n", str(f, "sp"), str(f, "ip"), str(f, "method"));
  }
}

void ds_api_render_locks_details(json_t *doc, FILE *out) {
  ds_api_render_locks(doc, out);
  render_stacks(doc, out);
}

void ds_api_render_waits_details(json_t *doc, FILE *out) {
  ds_api_render_waits(doc, out);
  render_stacks(doc, out);
}

void ds_api_render_deadlocks_details(json_t *doc, FILE *out) {
  ds_api_render_deadlocks(doc, out);
  render_stacks(doc, out);
}

/* ---- strings of one module ------------------------------------------------------------------------- */

void ds_api_render_module_strings(json_t *doc, FILE *out) {
  json_t *literals = json_object_get(doc, "literals");
  if (!json_is_array(literals)) {
    ds_api_render_strings(doc, out);
    return;
  }
  fprintf(out, "%s: %lld string literal(s)\n", str(doc, "module"),
          (long long)json_integer_value(json_object_get(doc, "matched")));
  size_t i;
  json_t *x;
  json_array_foreach(literals, i, x) {
    json_t *o = json_object_get(x, "object");
    fprintf(out, "%-18s %8lld \"%.120s\"\n", json_is_object(o) ? str(o, "address") : "(not on the heap)",
            (long long)json_integer_value(json_object_get(x, "length")), str(x, "value"));
  }
}

/* ---- frames: arguments and locals (!mdv) ---------------------------------------------------------- */

ds_status ds_api_h_frames(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err) {
  uint32_t thread;
  uint64_t frame;
  ds_status rc;
  if ((rc = ds_api_get_thread(q, args, "thread", &thread, err)) != DS_OK ||
      (rc = ds_api_get_u64(args, "frame", UINT64_MAX, 0, DS_MAX_STACK_FRAMES, &frame, err)) != DS_OK)
    return rc;
  return ds_query_frames(q, thread, frame == UINT64_MAX ? -1 : (int64_t)frame, out, err);
}

static void render_vars(json_t *vars, FILE *out) {
  size_t i;
  json_t *v;
  json_array_foreach(vars, i, v) {
    fprintf(out, "      %-24s %-24s %-18s ", str(v, "name"),
            json_is_string(json_object_get(v, "type")) ? str(v, "type") : "?",
            json_is_string(json_object_get(v, "location")) ? str(v, "location") : "(register)");
    json_t *value = json_object_get(v, "value"), *fields = json_object_get(value, "fields");
    if (json_is_object(fields)) {
      const char *key;
      json_t *field;
      int n = 0;
      fprintf(out, "{");
      json_object_foreach(fields, key, field) {
        fprintf(out, "%s%s=", n++ ? ", " : "", key);
        render_value(field, out);
      }
      fprintf(out, "}");
    } else if (!json_is_true(json_object_get(v, "available")))
      fprintf(out, "<no data>");
    else
      render_value(value, out);
    fprintf(out, "\n");
  }
}

void ds_api_render_frames(json_t *doc, FILE *out) {
  fprintf(out, "Thread %lld (managed %lld)\n", (long long)json_integer_value(json_object_get(doc, "os_id")),
          (long long)json_integer_value(json_object_get(doc, "managed_id")));
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(doc, "frames"), i, f) {
    fprintf(out, "#%-3lld %-18s %-18s %s", (long long)json_integer_value(json_object_get(f, "depth")), str(f, "sp"),
            str(f, "ip"), str(f, "method"));
    if (json_is_integer(json_object_get(f, "il_offset")))
      fprintf(out, " [IL_%04llx]", (unsigned long long)json_integer_value(json_object_get(f, "il_offset")));
    if (json_is_integer(json_object_get(f, "line")))
      fprintf(out, " [%s @ %lld]", json_is_string(json_object_get(f, "file")) ? str(f, "file") : "?",
              (long long)json_integer_value(json_object_get(f, "line")));
    fprintf(out, "\n");
    if (json_is_true(json_object_get(f, "runtime_frame")))
      continue;
    if (json_array_size(json_object_get(f, "arguments"))) {
      fprintf(out, "    PARAMETERS:\n");
      render_vars(json_object_get(f, "arguments"), out);
    }
    if (json_array_size(json_object_get(f, "locals"))) {
      fprintf(out, "    LOCALS:\n");
      render_vars(json_object_get(f, "locals"), out);
    }
  }
}
