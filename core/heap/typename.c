/*
 * typename.c: respell DAC type names the way ClrMD (and so dotnet-dump's managed commands) do.
 *
 * The DAC writes "System.Collections.Generic.Dictionary`2+Entry[[System.String, System.Private.CoreLib],
 * [System.Object, System.Private.CoreLib]][]"; ClrMD shows "System.Collections.Generic.Dictionary<
 * System.String, System.Object>+Entry[]". Generic arguments are handed out, in order, to the
 * name segments by their arity; assembly names are dropped; array suffixes are kept.
 */
#include "dumpscope/heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_buf {
  char *p;
  size_t len, cap;
  bool overflow;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
  if (o->len + n + 1 > o->cap) {
    o->overflow = true;
    n = o->cap > o->len + 1 ? o->cap - o->len - 1 : 0;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = 0;
}

#define MAX_ARGS 64
#define MAX_DEPTH 32

/* Parses one type name starting at *pos; writes its ClrMD spelling to o. Stops at an unmatched
 * ',' or ']' (the caller's delimiter). Returns false on malformed input. */
static bool convert(const char *s, size_t *pos, out_buf *o, int depth) {
  if (depth > MAX_DEPTH)
    return false;
  size_t start = *pos, i = *pos;
  while (s[i] && s[i] != '[' && s[i] != ',' && s[i] != ']')
    i++;
  size_t name_end = i;
  /* generic arguments */
  char *args[MAX_ARGS];
  size_t arg_count = 0;
  bool ok = true;
  if (s[i] == '[' && s[i + 1] != ']' && s[i + 1] != ',' && s[i + 1] != '*') {
    i++; /* past '[' */
    while (ok && s[i] && s[i] != ']') {
      char buf[2048];
      out_buf arg = {buf, 0, sizeof buf, false};
      buf[0] = 0;
      if (s[i] == '[') {
        i++;
        ok = convert(s, &i, &arg, depth + 1);
        /* skip ", Assembly" up to the matching ']' */
        int nest = 0;
        while (ok && s[i] && !(s[i] == ']' && nest == 0)) {
          if (s[i] == '[')
            nest++;
          else if (s[i] == ']')
            nest--;
          i++;
        }
        if (s[i] != ']')
          ok = false;
        else
          i++;
      } else {
        ok = convert(s, &i, &arg, depth + 1);
      }
      if (ok && arg_count < MAX_ARGS) {
        args[arg_count] = strdup(buf);
        if (!args[arg_count])
          ok = false;
        else
          arg_count++;
      }
      if (s[i] == ',')
        i++;
    }
    if (s[i] != ']')
      ok = false;
    else
      i++;
  }
  /* name segments, each taking its arity's worth of arguments */
  size_t next_arg = 0, seg = start;
  while (ok && seg < name_end) {
    size_t seg_end = seg;
    while (seg_end < name_end && s[seg_end] != '+')
      seg_end++;
    const char *tick = memchr(s + seg, '`', seg_end - seg);
    if (tick) {
      put(o, s + seg, (size_t)(tick - (s + seg)));
      long arity = strtol(tick + 1, NULL, 10);
      put(o, "<", 1);
      for (long a = 0; a < arity; a++) {
        if (a)
          put(o, ", ", 2);
        if (next_arg < arg_count) {
          put(o, args[next_arg], strlen(args[next_arg]));
          next_arg++;
        } else {
          char t[16];
          int n = snprintf(t, sizeof t, "T%ld", a + 1);
          put(o, t, (size_t)n);
        }
      }
      put(o, ">", 1);
    } else {
      put(o, s + seg, seg_end - seg);
    }
    if (seg_end < name_end)
      put(o, "+", 1);
    seg = seg_end + 1;
  }
  /* array suffixes: [] [,] [*] */
  while (ok && s[i] == '[' && (s[i + 1] == ']' || s[i + 1] == ',' || s[i + 1] == '*')) {
    size_t j = i + 1;
    while (s[j] == ',' || s[j] == '*')
      j++;
    if (s[j] != ']') {
      ok = false;
      break;
    }
    put(o, s + i, j - i + 1);
    i = j + 1;
  }
  for (size_t a = 0; a < arg_count; a++)
    free(args[a]);
  *pos = i;
  return ok;
}

void ds_type_name_clrmd(const char *dac_name, char *out, size_t out_len) {
  if (!out_len)
    return;
  out_buf o = {out, 0, out_len, false};
  out[0] = 0;
  size_t pos = 0;
  if (!convert(dac_name, &pos, &o, 0) || dac_name[pos] != 0 || o.overflow)
    snprintf(out, out_len, "%s", dac_name); /* as ClrMD does: unchanged when it cannot parse */
}
