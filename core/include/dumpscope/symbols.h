/*
 * symbols.h: what a managed assembly and its portable PDB say about a method: the declared types
 * of its arguments and locals (the assembly's ECMA-335 metadata: MethodDef and local signatures),
 * the source file and line of an IL offset (the PDB's sequence points) and the names of its
 * locals (the PDB's local scopes).
 *
 * Both files are untrusted input: they are read whole (at most DS_MAX_SYMBOL_FILE_BYTES each),
 * every table, heap and blob access is bounds-checked, and a file that is not what it claims is
 * refused with a message (or, for the PDB, ignored: the assembly's types still answer). A PDB is
 * used only when its id matches the assembly's CodeView debug entry. No DAC: these are files on
 * disk, read by the analysis next to the dump's module paths.
 */
#ifndef DUMPSCOPE_SYMBOLS_H
#define DUMPSCOPE_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

typedef struct ds_symbols ds_symbols;

/* Reads the assembly at assembly_path and, when "<path without .dll/.exe>.pdb" exists and matches
 * it, that portable PDB. DS_E_IO when the assembly cannot be read; DS_E_FORMAT / DS_E_CORRUPT /
 * DS_E_TRUNCATED when it is not a managed PE file. *note says why a PDB was not used ("" when it
 * was); may be NULL. */
ds_status ds_symbols_open(const char *assembly_path, ds_symbols **out, char *note, size_t note_len, ds_error *err);
/* The same from bytes in memory (copied); pdb may be NULL. For tests and the fuzzer. */
ds_status ds_symbols_open_bytes(const uint8_t *assembly, size_t assembly_len, const uint8_t *pdb, size_t pdb_len,
                                ds_symbols **out, char *note, size_t note_len, ds_error *err);
void ds_symbols_free(ds_symbols *s);
/* Whether a (matching) portable PDB was read. */
bool ds_symbols_has_pdb(const ds_symbols *s);

/* The source position of il_offset in the method with MethodDef token method_token: the last
 * visible sequence point at or before it. False when unknown (no PDB, no sequence point). */
bool ds_symbols_line(const ds_symbols *s, uint32_t method_token, uint32_t il_offset, char *file, size_t file_len,
                     uint32_t *line, uint32_t *column);
/* The name of local slot `slot` in scope at il_offset (UINT32_MAX: in any scope of the method).
 * False when the PDB does not name it (compiler temporaries, no PDB). */
bool ds_symbols_local_name(const ds_symbols *s, uint32_t method_token, uint32_t il_offset, uint32_t slot, char *out,
                           size_t out_len);
/* The declared type of argument `index` as the runtime counts them (an instance method's `this`
 * is 0), spelled as reflection's Type.FullName spells non-generic types ("System.Int32",
 * "Scenarios.Outer+Inner", "System.Byte[]", "System.Int32&"). */
bool ds_symbols_argument_type(const ds_symbols *s, uint32_t method_token, uint32_t index, char *out, size_t out_len);
/* The declared type of local slot `slot`, from the method body's local signature. */
bool ds_symbols_local_type(const ds_symbols *s, uint32_t method_token, uint32_t slot, char *out, size_t out_len);

/* One sequence point of a method: IL offset and source line (hidden ones are not delivered). */
typedef struct ds_sequence_point {
  uint32_t il_offset, line, column;
} ds_sequence_point;
/* The visible sequence points of a method, in IL order (at most max); returns how many were
 * written. file receives the document of the first one. */
size_t ds_symbols_sequence_points(const ds_symbols *s, uint32_t method_token, ds_sequence_point *out, size_t max,
                                  char *file, size_t file_len);

#endif
