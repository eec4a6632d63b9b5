/*
 * replay_symbols.c: replays the assembly/PDB fuzz corpus as a test, each input as it is and with
 * a few hundred deterministic mutations (bytes overwritten, runs zeroed, the file cut short), so
 * the ordinary suite sends hostile metadata through the reader too. `replay_symbols --make-seed
 * DLL PDB OUT` writes a corpus input from an assembly and its PDB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int ds_fuzz_symbols_one(const uint8_t *data, size_t size);

#define MUTATIONS 400u

static uint64_t next(uint64_t *state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 33;
}

/* The input as it is, then mutated copies. */
static int one_and_mutations(const uint8_t *data, size_t size) {
  /* the outcome: whether the input opens, and how many of its mutations still do */
  ds_fuzz_note("open=%s", ds_fuzz_symbols_one(data, size) ? "ok" : "refused");
  if (size < 8)
    return 0;
  unsigned opened = 0;
  uint8_t *copy = malloc(size);
  if (!copy)
    return 0;
  uint64_t state = size;
  for (unsigned m = 0; m < MUTATIONS; m++) {
    memcpy(copy, data, size);
    size_t len = size;
    unsigned kind = m % 4;
    for (unsigned k = 0; k < 1 + m % 16; k++) {
      size_t at = 4 + next(&state) % (size - 4);
      if (kind == 0)
        copy[at] = (uint8_t)next(&state);
      else if (kind == 1)
        copy[at] ^= (uint8_t)(1u << (next(&state) % 8));
      else if (kind == 2)
        memset(copy + at, next(&state) & 1 ? 0xFF : 0, size - at < 16 ? size - at : 16);
      else
        len = at < len ? at : len;
    }
    opened += ds_fuzz_symbols_one(copy, len) ? 1u : 0u;
  }
  free(copy);
  ds_fuzz_note("mutations_opened=%u/%u", opened, MUTATIONS);
  return 0;
}

static int make_seed(const char *dll, const char *pdb, const char *out) {
  FILE *files[2] = {fopen(dll, "rb"), fopen(pdb, "rb")}, *o = fopen(out, "wb");
  int rc = 1;
  if (files[0] && files[1] && o) {
    long len[2];
    for (int i = 0; i < 2; i++) {
      fseek(files[i], 0, SEEK_END);
      len[i] = ftell(files[i]);
      fseek(files[i], 0, SEEK_SET);
    }
    uint32_t assembly_len = (uint32_t)len[0];
    fwrite(&assembly_len, 4, 1, o);
    rc = 0;
    for (int i = 0; i < 2; i++) {
      uint8_t *buf = malloc((size_t)len[i]);
      if (!buf || fread(buf, 1, (size_t)len[i], files[i]) != (size_t)len[i] || fwrite(buf, 1, (size_t)len[i], o) != (size_t)len[i])
        rc = 1;
      free(buf);
    }
  }
  for (int i = 0; i < 2; i++)
    if (files[i])
      fclose(files[i]);
  if (o)
    fclose(o);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--make-seed") == 0)
    return make_seed(argv[2], argv[3], argv[4]);
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--record") != 0)) {
    fprintf(stderr, "usage: replay_symbols CORPUS_DIR [--record] | --make-seed DLL PDB OUT\n");
    return 2;
  }
  return ds_fuzz_replay(argv[1], one_and_mutations, "symbols", argc == 3);
}
