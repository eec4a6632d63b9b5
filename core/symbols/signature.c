/*
 * signature.c: declared types of a method's arguments and locals, from the assembly's MethodDef
 * signature and its body's local signature (ECMA-335 II.23.2), spelled as reflection's
 * Type.FullName spells them for non-generic types ("System.Int32", "Outer+Inner", "T[]", "T&").
 * Generic instantiations are spelled "List`1[[System.Int32]]" (the argument names without their
 * assemblies); type and method generic parameters "!0" and "!!0".
 */
#include <stdio.h>
#include <string.h>

#include "dumpscope/limits.h"

#include "symbolsint.h"

static const char *const primitive_names[] = {
    [0x01] = "System.Void",   [0x02] = "System.Boolean", [0x03] = "System.Char",   [0x04] = "System.SByte",
    [0x05] = "System.Byte",   [0x06] = "System.Int16",   [0x07] = "System.UInt16", [0x08] = "System.Int32",
    [0x09] = "System.UInt32", [0x0a] = "System.Int64",   [0x0b] = "System.UInt64", [0x0c] = "System.Single",
    [0x0d] = "System.Double", [0x0e] = "System.String",  [0x16] = "System.TypedReference",
    [0x18] = "System.IntPtr", [0x19] = "System.UIntPtr", [0x1c] = "System.Object",
};

/* Appends text to out (always terminated; false when it did not fit). */
static bool append(char *out, size_t out_len, const char *text) {
  size_t have = strnlen(out, out_len), add = strlen(text);
  if (have + add + 1 > out_len)
    return false;
  memcpy(out + have, text, add + 1);
  return true;
}

/* "Ns.Name" of a TypeDef row, with its enclosing types ("Ns.Outer+Inner"). */
static bool typedef_name(const ds_symbols *s, uint32_t row, char *out, size_t out_len, unsigned depth) {
  const ds__md *md = &s->md;
  if (row == 0 || row > md->rows[DS__T_TYPEDEF] || depth > DS_MAX_SIGNATURE_DEPTH)
    return false;
  /* NestedClass (nested, enclosing) rows: a linear scan, bounded by the table */
  for (uint32_t n = 1; n <= md->rows[DS__T_NESTEDCLASS]; n++)
    if (ds__md_cell(md, DS__T_NESTEDCLASS, n, 0) == row) {
      if (!typedef_name(s, ds__md_cell(md, DS__T_NESTEDCLASS, n, 1), out, out_len, depth + 1))
        return false;
      return append(out, out_len, "+") && append(out, out_len, ds__md_string(md, ds__md_cell(md, DS__T_TYPEDEF, row, 1)));
    }
  const char *ns = ds__md_string(md, ds__md_cell(md, DS__T_TYPEDEF, row, 2));
  return (!*ns || (append(out, out_len, ns) && append(out, out_len, "."))) &&
         append(out, out_len, ds__md_string(md, ds__md_cell(md, DS__T_TYPEDEF, row, 1)));
}

/* "Ns.Name" of a TypeRef row; a ResolutionScope that is a TypeRef makes it nested. */
static bool typeref_name(const ds_symbols *s, uint32_t row, char *out, size_t out_len, unsigned depth) {
  const ds__md *md = &s->md;
  if (row == 0 || row > md->rows[DS__T_TYPEREF] || depth > DS_MAX_SIGNATURE_DEPTH)
    return false;
  uint32_t scope = ds__md_cell(md, DS__T_TYPEREF, row, 0);
  if ((scope & 3) == 3) {
    if (!typeref_name(s, scope >> 2, out, out_len, depth + 1))
      return false;
    return append(out, out_len, "+") && append(out, out_len, ds__md_string(md, ds__md_cell(md, DS__T_TYPEREF, row, 1)));
  }
  const char *ns = ds__md_string(md, ds__md_cell(md, DS__T_TYPEREF, row, 2));
  return (!*ns || (append(out, out_len, ns) && append(out, out_len, "."))) &&
         append(out, out_len, ds__md_string(md, ds__md_cell(md, DS__T_TYPEREF, row, 1)));
}

static bool type_def_or_ref(const ds_symbols *s, uint32_t coded, char *out, size_t out_len, unsigned depth) {
  switch (coded & 3) {
  case 0: return typedef_name(s, coded >> 2, out, out_len, depth);
  case 1: return typeref_name(s, coded >> 2, out, out_len, depth);
  case 2: {
    if ((coded >> 2) == 0 || (coded >> 2) > s->md.rows[DS__T_TYPESPEC])
      return false;
    ds__blob spec = ds__md_blob(&s->md, ds__md_cell(&s->md, DS__T_TYPESPEC, coded >> 2, 0));
    return ds__type_name(s, &spec, out, out_len, depth + 1);
  }
  default: return false;
  }
}

bool ds__type_name(const ds_symbols *s, ds__blob *sig, char *out, size_t out_len, unsigned depth) {
  if (depth > DS_MAX_SIGNATURE_DEPTH || sig->len < 1)
    return false;
  uint8_t et = sig->p[0];
  sig->p++, sig->len--;
  uint32_t value, count;
  char number[32];
  if (et < sizeof primitive_names / sizeof *primitive_names && primitive_names[et])
    return append(out, out_len, primitive_names[et]);
  switch (et) {
  case 0x0f: /* PTR */
    return ds__type_name(s, sig, out, out_len, depth + 1) && append(out, out_len, "*");
  case 0x10: /* BYREF */
    return ds__type_name(s, sig, out, out_len, depth + 1) && append(out, out_len, "&");
  case 0x11: /* VALUETYPE */
  case 0x12: /* CLASS */
    return ds__read_compressed(sig, &value) && type_def_or_ref(s, value, out, out_len, depth + 1);
  case 0x13: /* VAR */
  case 0x1e: /* MVAR */
    if (!ds__read_compressed(sig, &value))
      return false;
    snprintf(number, sizeof number, "%s%u", et == 0x13 ? "!" : "!!", value);
    return append(out, out_len, number);
  case 0x1d: /* SZARRAY */
    return ds__type_name(s, sig, out, out_len, depth + 1) && append(out, out_len, "[]");
  case 0x14: { /* ARRAY type rank numSizes sizes numLoBounds loBounds */
    uint32_t rank, n;
    if (!ds__type_name(s, sig, out, out_len, depth + 1) || !ds__read_compressed(sig, &rank) || rank > 32)
      return false;
    for (int pass = 0; pass < 2; pass++) {
      if (!ds__read_compressed(sig, &n) || n > 32)
        return false;
      for (uint32_t k = 0; k < n; k++) {
        int32_t skip;
        if (pass == 0 ? !ds__read_compressed(sig, &value) : !ds__read_compressed_signed(sig, &skip))
          return false;
      }
    }
    if (!append(out, out_len, "["))
      return false;
    for (uint32_t k = 1; k < rank; k++)
      if (!append(out, out_len, ","))
        return false;
    return append(out, out_len, "]");
  }
  case 0x15: /* GENERICINST (CLASS|VALUETYPE) type count args */
    if (sig->len < 1 || (sig->p[0] != 0x11 && sig->p[0] != 0x12))
      return false;
    sig->p++, sig->len--;
    if (!ds__read_compressed(sig, &value) || !type_def_or_ref(s, value, out, out_len, depth + 1) ||
        !ds__read_compressed(sig, &count) || count > 64 || !append(out, out_len, "["))
      return false;
    for (uint32_t k = 0; k < count; k++)
      if (!append(out, out_len, k ? ",[" : "[") || !ds__type_name(s, sig, out, out_len, depth + 1) ||
          !append(out, out_len, "]"))
        return false;
    return append(out, out_len, "]");
  case 0x1f: /* CMOD_REQD */
  case 0x20: /* CMOD_OPT */
    return ds__read_compressed(sig, &value) && ds__type_name(s, sig, out, out_len, depth + 1);
  case 0x45: /* PINNED */
    return ds__type_name(s, sig, out, out_len, depth + 1);
  case 0x1b: /* FNPTR: named, not decoded */
    return append(out, out_len, "System.IntPtr");
  default: return false;
  }
}

/* Skips one type in a signature. */
static bool skip_type(const ds_symbols *s, ds__blob *sig) {
  char scratch[DS_MAX_TYPE_NAME_CHARS];
  scratch[0] = '\0';
  return ds__type_name(s, sig, scratch, sizeof scratch, 0);
}

bool ds_symbols_argument_type(const ds_symbols *s, uint32_t method_token, uint32_t index, char *out, size_t out_len) {
  uint32_t row = method_token & 0x00FFFFFFu, count, generic;
  if (!s || !out_len || method_token >> 24 != DS__T_METHODDEF || row == 0 || row > s->md.rows[DS__T_METHODDEF])
    return false;
  out[0] = '\0';
  ds__blob sig = ds__md_blob(&s->md, ds__md_cell(&s->md, DS__T_METHODDEF, row, 4));
  if (sig.len < 1)
    return false;
  uint8_t conv = sig.p[0];
  sig.p++, sig.len--;
  if ((conv & 0x10) && !ds__read_compressed(&sig, &generic))
    return false;
  if (!ds__read_compressed(&sig, &count) || !skip_type(s, &sig))
    return false;
  if ((conv & 0x20) && !(conv & 0x40)) { /* HASTHIS: `this` is argument 0, of the declaring type */
    if (index == 0) {
      for (uint32_t t = s->md.rows[DS__T_TYPEDEF]; t >= 1; t--)
        if (ds__md_cell(&s->md, DS__T_TYPEDEF, t, 5) <= row && ds__md_cell(&s->md, DS__T_TYPEDEF, t, 5) != 0)
          return typedef_name(s, t, out, out_len, 0);
      return false;
    }
    index--;
  }
  if (index >= count)
    return false;
  for (uint32_t k = 0; k < index; k++)
    if (!skip_type(s, &sig))
      return false;
  out[0] = '\0';
  return ds__type_name(s, &sig, out, out_len, 0);
}

bool ds_symbols_local_type(const ds_symbols *s, uint32_t method_token, uint32_t slot, char *out, size_t out_len) {
  uint32_t row = method_token & 0x00FFFFFFu, count;
  if (!s || !out_len || method_token >> 24 != DS__T_METHODDEF || row == 0 || row > s->md.rows[DS__T_METHODDEF])
    return false;
  out[0] = '\0';
  size_t body;
  uint32_t rva = ds__md_cell(&s->md, DS__T_METHODDEF, row, 0);
  if (!rva || !ds__pe_offset(s, rva, &body) || body + 12 > s->assembly_len)
    return false;
  const uint8_t *h = s->assembly + body;
  if ((h[0] & 3) != 3) /* a tiny header: no locals */
    return false;
  uint32_t token = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
  if (token >> 24 != DS__T_STANDALONESIG)
    return false;
  ds__blob sig = ds__md_blob(&s->md, ds__md_cell(&s->md, DS__T_STANDALONESIG, token & 0x00FFFFFFu, 0));
  if (sig.len < 1 || sig.p[0] != 0x07)
    return false;
  sig.p++, sig.len--;
  if (!ds__read_compressed(&sig, &count) || slot >= count)
    return false;
  for (uint32_t k = 0; k < slot; k++)
    if (!skip_type(s, &sig))
      return false;
  out[0] = '\0';
  return ds__type_name(s, &sig, out, out_len, 0);
}
