/*
 * fuzz_symbols.c: libFuzzer target for the assembly and portable PDB reader (core/symbols): an
 * input is a 4-byte little-endian assembly length, the assembly, then the PDB (possibly empty).
 * After opening, every question the analysis asks is asked of the first methods: source lines,
 * sequence points, local names, argument and local types.
 */
#include <stdint.h>
#include <string.h>

#include "dumpscope/symbols.h"

int ds_fuzz_symbols_one(const uint8_t *data, size_t size);

int ds_fuzz_symbols_one(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint32_t assembly_len;
  memcpy(&assembly_len, data, 4);
  if (assembly_len > size - 4)
    return 0;
  const uint8_t *pdb = data + 4 + assembly_len;
  size_t pdb_len = size - 4 - assembly_len;
  ds_symbols *s = NULL;
  ds_error err;
  char note[256], text[512];
  if (ds_symbols_open_bytes(data + 4, assembly_len, pdb_len ? pdb : NULL, pdb_len, &s, note, sizeof note, &err) != DS_OK)
    return 0;
  int opened = 1;
  ds_sequence_point points[64];
  for (uint32_t row = 1; row <= 300; row++) {
    uint32_t token = 0x06000000u | row, line, column;
    ds_symbols_line(s, token, 0, text, sizeof text, &line, &column);
    ds_symbols_line(s, token, 0x40, text, sizeof text, &line, &column);
    ds_symbols_sequence_points(s, token, points, 64, text, sizeof text);
    for (uint32_t slot = 0; slot < 4; slot++) {
      ds_symbols_local_name(s, token, 0x10, slot, text, sizeof text);
      ds_symbols_local_name(s, token, UINT32_MAX, slot, text, sizeof text);
      ds_symbols_argument_type(s, token, slot, text, sizeof text);
      ds_symbols_local_type(s, token, slot, text, sizeof text);
    }
  }
  ds_symbols_argument_type(s, 0x02000001u, 0, text, sizeof text); /* not a MethodDef token */
  ds_symbols_local_type(s, 0x06FFFFFFu, 0, text, sizeof text);
  ds_symbols_free(s);
  return opened;
}

#ifdef DS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ds_fuzz_symbols_one(data, size);
  return 0;
}
#endif
