/*
 * args.c: request parameters for the resource table: storage, URL query decoding, typed readers,
 * and the mapping of error codes to HTTP statuses and the one error document shape.
 *
 * Every value arrives as untrusted text; each reader checks the whole text (no trailing bytes, no
 * overflow, inside the bounds) and names the parameter in its error.
 */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

ds_status ds_api_args_set(ds_api_args *args, const char *name, const char *value, ds_error *err) {
  size_t name_len = strlen(name), value_len = strlen(value);
  if (name_len == 0 || name_len >= sizeof args->items[0].name)
    return ds_error_set(err, DS_E_ARG, "parameter name \"%.40s\" is empty or too long", name);
  if (value_len >= DS_API_MAX_PARAM_BYTES)
    return ds_error_set(err, DS_E_ARG, "parameter %s is too long (%zu bytes; at most %u)", name, value_len,
                        DS_API_MAX_PARAM_BYTES - 1);
  size_t slot = args->count;
  for (size_t i = 0; i < args->count; i++)
    if (strcmp(args->items[i].name, name) == 0)
      slot = i;
  if (slot == args->count) {
    if (args->count == DS_API_MAX_PARAMS) /* bad input, not a server limit: a 400 */
      return ds_error_set(err, DS_E_ARG, "too many parameters (at most %u)", DS_API_MAX_PARAMS);
    args->count++;
  }
  memcpy(args->items[slot].name, name, name_len + 1);
  memcpy(args->items[slot].value, value, value_len + 1);
  return DS_OK;
}

const char *ds_api_args_get(const ds_api_args *args, const char *name) {
  for (size_t i = 0; i < args->count; i++)
    if (strcmp(args->items[i].name, name) == 0)
      return args->items[i].value;
  return NULL;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes [text, text+len) (percent escapes, '+' as space) into out; false on a bad escape, an
 * embedded NUL or an overlong result. */
static bool url_decode(const char *text, size_t len, char *out, size_t out_len) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      if (i + 2 >= len)
        return false;
      int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return false;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (o + 1 >= out_len)
      return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

ds_status ds_api_args_parse_query(ds_api_args *args, const char *query, ds_error *err) {
  if (!query)
    return DS_OK;
  const char *p = query;
  char name[64], value[DS_API_MAX_PARAM_BYTES];
  while (*p) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) {
      const char *eq = memchr(p, '=', len);
      size_t name_len = eq ? (size_t)(eq - p) : len;
      if (!url_decode(p, name_len, name, sizeof name))
        return ds_error_set(err, DS_E_ARG, "malformed query parameter name near \"%.40s\"", p);
      const char *v = eq ? eq + 1 : "";
      size_t v_len = eq ? len - name_len - 1 : 0;
      if (!url_decode(v, v_len, value, sizeof value))
        return ds_error_set(err, DS_E_ARG, "malformed or overlong value of query parameter \"%s\"", name);
      ds_status rc = ds_api_args_set(args, name, value, err);
      if (rc != DS_OK)
        return rc;
    }
    p += len;
    if (*p == '&')
      p++;
  }
  return DS_OK;
}

/* ---- typed readers --------------------------------------------------------------------------- */

static bool parse_number(const char *text, uint64_t *out) {
  if (!text || !*text || *text == '-' || *text == '+' || *text == ' ')
    return false;
  int base = 10;
  const char *p = text;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  }
  if (!*p)
    return false;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(p, &end, base);
  if (errno || end == p || *end)
    return false;
  *out = v;
  return true;
}

bool ds_api_parse_address(const char *text, uint64_t *out) {
  if (!text || !*text)
    return false;
  const char *p = text;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    p += 2;
  if (!*p || strlen(p) > 16)
    return false;
  uint64_t v = 0;
  for (; *p; p++) {
    int d = hex_digit(*p);
    if (d < 0)
      return false;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return true;
}

ds_status ds_api_get_u64(const ds_api_args *args, const char *name, uint64_t def, uint64_t min, uint64_t max,
                         uint64_t *out, ds_error *err) {
  const char *text = ds_api_args_get(args, name);
  if (!text) {
    *out = def;
    return DS_OK;
  }
  uint64_t v;
  if (!parse_number(text, &v))
    return ds_error_set(err, DS_E_ARG, "%s must be a non-negative number, got \"%.64s\"", name, text);
  if (v < min || v > max)
    return ds_error_set(err, DS_E_ARG, "%s must be between %llu and %llu, got %llu", name, (unsigned long long)min,
                        (unsigned long long)max, (unsigned long long)v);
  *out = v;
  return DS_OK;
}

ds_status ds_api_get_bool(const ds_api_args *args, const char *name, bool def, bool *out, ds_error *err) {
  const char *text = ds_api_args_get(args, name);
  if (!text) {
    *out = def;
    return DS_OK;
  }
  if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0 || *text == '\0')
    *out = true;
  else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0)
    *out = false;
  else
    return ds_error_set(err, DS_E_ARG, "%s must be true or false, got \"%.64s\"", name, text);
  return DS_OK;
}

ds_status ds_api_get_address(const ds_api_args *args, const char *name, bool required, uint64_t *out,
                             ds_error *err) {
  const char *text = ds_api_args_get(args, name);
  if (!text) {
    *out = 0;
    if (required)
      return ds_error_set(err, DS_E_ARG, "%s is required: an address in hex", name);
    return DS_OK;
  }
  if (!ds_api_parse_address(text, out))
    return ds_error_set(err, DS_E_ARG, "%s must be an address in hex (0x7f3a... or 7f3a...), got \"%.64s\"", name,
                        text);
  return DS_OK;
}

ds_status ds_api_get_enum(const ds_api_args *args, const char *name, const char *const *words, int def, int *out,
                          ds_error *err) {
  const char *text = ds_api_args_get(args, name);
  if (!text) {
    *out = def;
    return DS_OK;
  }
  char allowed[256] = "";
  size_t used = 0;
  for (int i = 0; words[i]; i++) {
    if (strcmp(words[i], text) == 0) {
      *out = i;
      return DS_OK;
    }
    int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "", words[i]);
    if (n > 0 && (size_t)n < sizeof allowed - used)
      used += (size_t)n;
  }
  return ds_error_set(err, DS_E_ARG, "%s must be one of %s; got \"%.64s\"", name, allowed, text);
}

ds_status ds_api_get_thread(ds_query *q, const ds_api_args *args, const char *name, uint32_t *out, ds_error *err) {
  const char *text = ds_api_args_get(args, name);
  if (!text)
    return ds_error_set(err, DS_E_ARG, "%s is required: an OS thread id or a managed id (m3)", name);
  bool managed = text[0] == 'm' || text[0] == 'M';
  uint64_t v;
  if (!parse_number(managed ? text + 1 : text, &v) || v > UINT32_MAX)
    return ds_error_set(err, DS_E_ARG, "%s must be an OS thread id or a managed id (m3), got \"%.64s\"", name, text);
  if (!managed) {
    *out = (uint32_t)v;
    return DS_OK;
  }
  json_t *doc = NULL;
  ds_status rc = ds_query_threads(q, &doc, err);
  if (rc != DS_OK)
    return rc;
  size_t i;
  json_t *t;
  rc = ds_error_set(err, DS_E_NOT_FOUND, "no managed thread with id %llu in this dump", (unsigned long long)v);
  json_array_foreach(json_object_get(doc, "threads"), i, t) {
    if ((uint64_t)json_integer_value(json_object_get(t, "managed_id")) == v) {
      *out = (uint32_t)json_integer_value(json_object_get(t, "os_id"));
      rc = DS_OK;
      break;
    }
  }
  json_decref(doc);
  return rc;
}

/* ---- errors ---------------------------------------------------------------------------------- */

int ds_api_http_status(ds_status code) {
  switch (code) {
  case DS_OK: return 200;
  case DS_E_ARG: return 400;
  case DS_E_NOT_FOUND: return 404;
  case DS_E_LIMIT: return 413;
  case DS_E_FORMAT:
  case DS_E_TRUNCATED:
  case DS_E_UNSUPPORTED:
  case DS_E_NOT_DOTNET:
  case DS_E_READ: return 422;
  case DS_E_MID_GC: return 409; /* the dump is fine; its heap was mid-collection */
  case DS_E_NO_DAC:
  case DS_E_NETWORK:
  case DS_E_CORRUPT: return 503;
  case DS_E_NOMEM:
  case DS_E_IO:
  case DS_E_DAC:
  default: return 500;
  }
}

/* A JSON string of text that may hold invalid UTF-8 (request bytes echoed in a message): bytes that
 * do not decode are replaced by '?'. */
static json_t *lossy_string(const char *text) {
  json_t *s = json_string(text);
  if (s)
    return s;
  char copy[DS_ERROR_MESSAGE_MAX + 64];
  size_t n = 0;
  for (; text[n] && n + 1 < sizeof copy; n++)
    copy[n] = (unsigned char)text[n] < 0x80 ? text[n] : '?';
  copy[n] = '\0';
  return json_string(copy);
}

json_t *ds_api_error_doc(const ds_error *err, const char *detail) {
  json_t *inner = json_object();
  json_object_set_new(inner, "code", json_string(ds_status_name(err->code)));
  json_object_set_new(inner, "message", lossy_string(err->message[0] ? err->message : ds_status_name(err->code)));
  if (detail)
    json_object_set_new(inner, "detail", lossy_string(detail));
  json_t *doc = json_object();
  json_object_set_new(doc, "error", inner);
  return doc;
}
