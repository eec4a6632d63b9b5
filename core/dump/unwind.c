/*
 * unwind.c: native stack unwinding from a core with DWARF CFI (unwind.h). The CFI program is run
 * up to the frame's pc for the CFA and the saved return address, rbp and rbx; the rules other
 * registers need are not kept (x86-64 code addresses its frames through these).
 */
#include "dumpscope/unwind.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

#define MAX_CFI_BYTES 4096u
#define MAX_STATE_STACK 8
#define REG_COUNT 17 /* DWARF x86-64: 0-15 general registers, 16 the return address */
enum { DW_RBX = 3, DW_RBP = 6, DW_RSP = 7, DW_RA = 16 };
/* user_regs_struct order (dump.h) */
enum { U_RBP = 4, U_RBX = 5, U_RIP = 16, U_RSP = 19 };

typedef struct cursor {
  ds_dump *dump;
  const uint8_t *p, *end;
  uint64_t base;               /* target address of p's buffer start, for pc-relative pointers */
  const uint8_t *start;
} cursor;

static bool rd(cursor *c, void *out, size_t n) {
  if ((size_t)(c->end - c->p) < n)
    return false;
  memcpy(out, c->p, n);
  c->p += n;
  return true;
}

static bool uleb(cursor *c, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!rd(c, &b, 1))
      return false;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

static bool sleb(cursor *c, int64_t *out) {
  int64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    if (shift >= 64 || !rd(c, &b, 1))
      return false;
    v |= (int64_t)(b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 64 && (b & 0x40))
    v |= -((int64_t)1 << shift);
  *out = v;
  return true;
}

/* A DW_EH_PE-encoded pointer (absptr, udata/sdata 2/4/8, uleb/sleb; pcrel or datarel to data_base). */
static bool encoded(cursor *c, uint8_t enc, uint64_t data_base, uint64_t *out) {
  if (enc == 0xff)
    return false;
  uint64_t at = c->base + (uint64_t)(c->p - c->start), v = 0;
  switch (enc & 0x0f) {
  case 0x00: if (!rd(c, &v, 8)) return false; break;
  case 0x01: if (!uleb(c, &v)) return false; break;
  case 0x02: { uint16_t x; if (!rd(c, &x, 2)) return false; v = x; break; }
  case 0x03: { uint32_t x; if (!rd(c, &x, 4)) return false; v = x; break; }
  case 0x04: if (!rd(c, &v, 8)) return false; break;
  case 0x09: { int64_t x; if (!sleb(c, &x)) return false; v = (uint64_t)x; break; }
  case 0x0a: { int16_t x; if (!rd(c, &x, 2)) return false; v = (uint64_t)(int64_t)x; break; }
  case 0x0b: { int32_t x; if (!rd(c, &x, 4)) return false; v = (uint64_t)(int64_t)x; break; }
  case 0x0c: if (!rd(c, &v, 8)) return false; break;
  default: return false;
  }
  switch (enc & 0x70) {
  case 0x00: break;
  case 0x10: v += at; break;
  case 0x30: v += data_base; break;
  default: return false;
  }
  *out = v;
  return true;
}

/* Reads [addr, addr+len) of the target (clipped to what the dump holds) into a cursor's buffer. */
static bool load(ds_dump *dump, uint64_t addr, uint8_t *buf, size_t len, cursor *c) {
  size_t got = len;
  while (got > 16 && !ds_dump_read_exact(dump, addr, buf, got))
    got /= 2;
  if (got <= 16 && !ds_dump_read_exact(dump, addr, buf, got))
    return false;
  *c = (cursor){dump, buf, buf + got, addr, buf};
  return true;
}

typedef struct rule {
  uint8_t kind;                /* 0 undefined/same, 1 at CFA+offset */
  int64_t offset;
} rule;

typedef struct cfa_state {
  uint64_t cfa_reg;
  int64_t cfa_offset;
  rule regs[REG_COUNT];
} cfa_state;

typedef struct cie {
  uint64_t code_align;
  int64_t data_align;
  uint64_t ra_reg;
  uint8_t fde_enc;
  bool has_z;
  uint64_t insns, insns_len; /* target address and length of its initial instructions */
} cie;

/* Runs a CFI program until loc passes pc. */
static bool run_cfi(ds_dump *dump, uint64_t insns, uint64_t len, const cie *ci, uint64_t loc, uint64_t pc,
                    cfa_state *st, const cfa_state *initial) {
  uint8_t buf[MAX_CFI_BYTES];
  cursor c;
  if (len == 0)
    return true;
  if (len > sizeof buf || !load(dump, insns, buf, (size_t)len, &c) || (uint64_t)(c.end - c.p) < len)
    return false;
  cfa_state stack[MAX_STATE_STACK];
  int depth = 0;
  while (c.p < c.end) {
    uint8_t op;
    uint64_t a, b;
    int64_t s;
    rd(&c, &op, 1);
    uint8_t high = op & 0xc0, low = op & 0x3f;
    if (high == 0x40) { /* advance_loc */
      loc += low * ci->code_align;
      if (loc > pc)
        return true;
      continue;
    }
    if (high == 0x80) { /* offset */
      if (!uleb(&c, &a))
        return false;
      if (low < REG_COUNT)
        st->regs[low] = (rule){1, (int64_t)a * ci->data_align};
      continue;
    }
    if (high == 0xc0) { /* restore */
      if (low < REG_COUNT)
        st->regs[low] = initial ? initial->regs[low] : (rule){0, 0};
      continue;
    }
    switch (op) {
    case 0x00: break;
    case 0x02: case 0x03: case 0x04: { /* advance_loc1/2/4 */
      uint32_t d = 0;
      if (!rd(&c, &d, op == 0x02 ? 1 : op == 0x03 ? 2 : 4))
        return false;
      loc += d * ci->code_align;
      if (loc > pc)
        return true;
      break;
    }
    case 0x05: /* offset_extended */
      if (!uleb(&c, &a) || !uleb(&c, &b))
        return false;
      if (a < REG_COUNT)
        st->regs[a] = (rule){1, (int64_t)b * ci->data_align};
      break;
    case 0x06: case 0x07: case 0x08: /* restore_extended, undefined, same_value */
      if (!uleb(&c, &a))
        return false;
      if (a < REG_COUNT)
        st->regs[a] = op == 0x06 && initial ? initial->regs[a] : (rule){0, 0};
      break;
    case 0x09: /* register: not followed */
      if (!uleb(&c, &a) || !uleb(&c, &b))
        return false;
      if (a < REG_COUNT)
        st->regs[a] = (rule){0, 0};
      break;
    case 0x0a:
      if (depth == MAX_STATE_STACK)
        return false;
      stack[depth++] = *st;
      break;
    case 0x0b: /* restore_state: the whole row, the CFA rule included */
      if (depth == 0)
        return false;
      *st = stack[--depth];
      break;
    case 0x0c: /* def_cfa */
      if (!uleb(&c, &a) || !uleb(&c, &b))
        return false;
      st->cfa_reg = a, st->cfa_offset = (int64_t)b;
      break;
    case 0x0d: if (!uleb(&c, &a)) return false; st->cfa_reg = a; break;
    case 0x0e: if (!uleb(&c, &a)) return false; st->cfa_offset = (int64_t)a; break;
    case 0x11: /* offset_extended_sf */
      if (!uleb(&c, &a) || !sleb(&c, &s))
        return false;
      if (a < REG_COUNT)
        st->regs[a] = (rule){1, s * ci->data_align};
      break;
    case 0x12: /* def_cfa_sf */
      if (!uleb(&c, &a) || !sleb(&c, &s))
        return false;
      st->cfa_reg = a, st->cfa_offset = s * ci->data_align;
      break;
    case 0x13: if (!sleb(&c, &s)) return false; st->cfa_offset = s * ci->data_align; break;
    case 0x2e: if (!uleb(&c, &a)) return false; break; /* GNU_args_size */
    default: return false; /* expressions (signal frames, PLT): not followed */
    }
  }
  return true;
}

/* The CIE at addr. */
static bool read_cie(ds_dump *dump, uint64_t addr, cie *out) {
  uint8_t buf[256];
  cursor c;
  uint32_t len, id;
  if (!load(dump, addr, buf, sizeof buf, &c) || !rd(&c, &len, 4) || len == 0xffffffffu || !rd(&c, &id, 4) || id != 0)
    return false;
  uint64_t end = addr + 4 + len;
  uint8_t version;
  const char *aug = (const char *)c.p;
  if (!rd(&c, &version, 1) || !memchr(c.p, 0, (size_t)(c.end - c.p)))
    return false;
  aug = (const char *)c.p;
  c.p += strlen(aug) + 1;
  if (strstr(aug, "eh"))
    c.p += 8;
  uint64_t ra;
  if (!uleb(&c, &out->code_align) || !sleb(&c, &out->data_align))
    return false;
  if (version == 1) {
    uint8_t r;
    if (!rd(&c, &r, 1))
      return false;
    ra = r;
  } else if (!uleb(&c, &ra)) {
    return false;
  }
  out->ra_reg = ra;
  out->fde_enc = 0;
  out->has_z = aug[0] == 'z';
  if (out->has_z) {
    uint64_t aug_len;
    if (!uleb(&c, &aug_len))
      return false;
    const uint8_t *aug_end = c.p + aug_len;
    for (const char *a = aug + 1; *a && c.p < aug_end; a++) {
      if (*a == 'R') {
        if (!rd(&c, &out->fde_enc, 1))
          return false;
      } else if (*a == 'P') {
        uint8_t enc;
        uint64_t ignore;
        if (!rd(&c, &enc, 1) || !encoded(&c, enc & 0x7f, 0, &ignore))
          return false;
      } else if (*a == 'L') {
        c.p++;
      }
    }
    c.p = aug_end;
  }
  uint64_t insns = c.base + (uint64_t)(c.p - c.start);
  if (insns > end)
    return false;
  out->insns = insns;
  out->insns_len = end - insns;
  return true;
}

/* The CFA rule at pc of the image whose .eh_frame_hdr is at hdr. */
static bool cfi_at(ds_dump *dump, uint64_t hdr, uint64_t pc, cfa_state *st, cie *ci) {
  uint8_t buf[16];
  cursor c;
  if (!load(dump, hdr, buf, sizeof buf, &c))
    return false;
  uint8_t version, ptr_enc, count_enc, table_enc;
  uint64_t eh_frame, count;
  if (!rd(&c, &version, 1) || !rd(&c, &ptr_enc, 1) || !rd(&c, &count_enc, 1) || !rd(&c, &table_enc, 1) ||
      version != 1 || !encoded(&c, ptr_enc, hdr, &eh_frame) || !encoded(&c, count_enc, hdr, &count) ||
      table_enc != 0x3b || count == 0 || count > (1u << 24))
    return false;
  uint64_t table = hdr + (uint64_t)(c.p - c.start), lo = 0, hi = count;
  while (lo + 1 < hi) { /* the last entry whose start is <= pc */
    uint64_t mid = lo + (hi - lo) / 2;
    int32_t start;
    if (!ds_dump_read_exact(dump, table + mid * 8, &start, 4))
      return false;
    if (hdr + (uint64_t)(int64_t)start <= pc)
      lo = mid;
    else
      hi = mid;
  }
  int32_t entry[2];
  if (!ds_dump_read_exact(dump, table + lo * 8, entry, 8))
    return false;
  uint64_t fde = hdr + (uint64_t)(int64_t)entry[1];
  uint8_t fbuf[64];
  uint32_t len, cie_off;
  if (!load(dump, fde, fbuf, sizeof fbuf, &c) || !rd(&c, &len, 4) || !rd(&c, &cie_off, 4) || cie_off == 0)
    return false;
  if (!read_cie(dump, fde + 4 - cie_off, ci))
    return false;
  uint64_t begin, range;
  if (!encoded(&c, ci->fde_enc, 0, &begin) || !encoded(&c, ci->fde_enc & 0x0f, 0, &range) || pc < begin ||
      pc - begin >= range)
    return false;
  if (ci->has_z) {
    uint64_t aug_len;
    if (!uleb(&c, &aug_len) || aug_len > (uint64_t)(c.end - c.p))
      return false;
    c.p += aug_len;
  }
  uint64_t insns = c.base + (uint64_t)(c.p - c.start), end = fde + 4 + len;
  if (insns > end)
    return false;
  memset(st, 0, sizeof *st);
  if (!run_cfi(dump, ci->insns, ci->insns_len, ci, begin, UINT64_MAX, st, NULL))
    return false;
  cfa_state initial = *st;
  return run_cfi(dump, insns, end - insns, ci, begin, pc, st, &initial);
}

/* The .eh_frame_hdr of the ELF image holding ip. */
static bool image_of(ds_dump *dump, uint64_t ip, const ds_module **mod, uint64_t *offset, uint64_t *hdr) {
  ds_image_part part;
  if (!ds_dump_image_part(dump, ip, &part) || strcmp(part.format, "ELF") != 0)
    return false;
  *mod = part.module;
  *offset = part.module_offset;
  Elf64_Ehdr eh;
  Elf64_Phdr ph[64];
  if (!ds_dump_read_exact(dump, part.module->base, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64 ||
      !ds_dump_read_exact(dump, part.module->base + eh.e_phoff, ph, eh.e_phnum * sizeof *ph))
    return false;
  uint64_t bias = ip - part.module_offset;
  for (size_t i = 0; i < eh.e_phnum; i++)
    if (ph[i].p_type == PT_GNU_EH_FRAME) {
      *hdr = bias + ph[i].p_vaddr;
      return true;
    }
  return false;
}

ds_status ds_unwind_native(ds_dump *dump, uint32_t tid, bool (*stop)(void *ctx, uint64_t ip), void *ctx,
                           ds_native_frame *out, size_t max, size_t *count, ds_unwind_end *end, ds_error *err) {
  *count = 0;
  *end = DS_UNWIND_LIMIT;
  const ds_dump_thread *t = ds_dump_find_thread(dump, tid);
  if (!t)
    return ds_error_set(err, DS_E_NOT_FOUND, "no thread %u in the dump", tid);
  uint64_t ip = t->regs[U_RIP], sp = t->regs[U_RSP], rbp = t->regs[U_RBP], rbx = t->regs[U_RBX];
  for (size_t depth = 0; depth < max; depth++) {
    if (ip == 0) {
      *end = DS_UNWIND_END_OF_STACK;
      return DS_OK;
    }
    if (stop && stop(ctx, ip)) {
      *end = DS_UNWIND_STOPPED;
      return DS_OK;
    }
    const ds_module *mod = NULL;
    uint64_t offset = 0, hdr = 0;
    bool have_image = image_of(dump, ip, &mod, &offset, &hdr);
    out[(*count)++] = (ds_native_frame){ip, sp, mod, offset};
    cfa_state st;
    cie ci;
    /* a return address points after the call: its CFI is the call's, at ip - 1 */
    if (!have_image || !cfi_at(dump, hdr, depth ? ip - 1 : ip, &st, &ci)) {
      *end = DS_UNWIND_NO_INFO;
      return DS_OK;
    }
    uint64_t base = st.cfa_reg == DW_RSP ? sp : st.cfa_reg == DW_RBP ? rbp : st.cfa_reg == DW_RBX ? rbx : 0;
    if (!base || ci.ra_reg != DW_RA || st.regs[DW_RA].kind != 1) {
      *end = DS_UNWIND_BAD_FRAME;
      return DS_OK;
    }
    uint64_t cfa = base + (uint64_t)st.cfa_offset, ra;
    if (!ds_dump_read_u64(dump, cfa + (uint64_t)st.regs[DW_RA].offset, &ra)) {
      *end = DS_UNWIND_BAD_FRAME;
      return DS_OK;
    }
    if (st.regs[DW_RBP].kind == 1 && !ds_dump_read_u64(dump, cfa + (uint64_t)st.regs[DW_RBP].offset, &rbp))
      rbp = 0;
    if (st.regs[DW_RBX].kind == 1 && !ds_dump_read_u64(dump, cfa + (uint64_t)st.regs[DW_RBX].offset, &rbx))
      rbx = 0;
    if (cfa <= sp) {
      *end = DS_UNWIND_BAD_FRAME;
      return DS_OK;
    }
    sp = cfa;
    ip = ra;
  }
  return DS_OK;
}

bool ds_elf_symbol(const char *path, uint64_t vaddr, char *name, size_t name_len, uint64_t *offset) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  bool found = false;
  Elf64_Ehdr eh;
  Elf64_Shdr *sh = NULL;
  if (fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 4096 ||
      !(sh = calloc(eh.e_shnum, sizeof *sh)) || fseek(f, (long)eh.e_shoff, SEEK_SET) != 0 ||
      fread(sh, sizeof *sh, eh.e_shnum, f) != eh.e_shnum)
    goto out;
  uint64_t best_value = 0, best_name = 0;
  uint32_t best_strtab = 0;
  for (int pass = 0; pass < 2 && !found; pass++) {
    uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
    for (uint16_t s = 0; s < eh.e_shnum; s++) {
      if (sh[s].sh_type != want || sh[s].sh_entsize != sizeof(Elf64_Sym) || sh[s].sh_link >= eh.e_shnum ||
          sh[s].sh_size > (64u << 20) || fseek(f, (long)sh[s].sh_offset, SEEK_SET) != 0)
        continue;
      Elf64_Sym sym;
      for (uint64_t k = 0; k < sh[s].sh_size / sizeof sym && fread(&sym, sizeof sym, 1, f) == 1; k++) {
        if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value == 0 || vaddr < sym.st_value)
          continue;
        if ((sym.st_size && vaddr - sym.st_value < sym.st_size) && (!found || sym.st_value >= best_value)) {
          found = true;
          best_value = sym.st_value;
          best_name = sym.st_name;
          best_strtab = sh[s].sh_link;
        }
      }
    }
  }
  if (found) {
    char buf[256];
    size_t got = 0;
    if (best_name < sh[best_strtab].sh_size && fseek(f, (long)(sh[best_strtab].sh_offset + best_name), SEEK_SET) == 0)
      got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    snprintf(name, name_len, "%s", buf);
    *offset = vaddr - best_value;
    found = buf[0] != '\0';
  }
out:
  free(sh);
  fclose(f);
  return found;
}
