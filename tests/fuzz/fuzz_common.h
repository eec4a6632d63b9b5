/* fuzz_common.h: what the fuzz targets and their corpus replayers share. */
#ifndef DS_FUZZ_COMMON_H
#define DS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Puts data in a memory file; returns its fd (or -1) and a path that opens it. */
int ds_fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_len);
/* Notes a step's outcome of the input being run ("open=ok", "route=gen status=not_found"): the
 * notes of one input, joined by spaces, are its outcome. Cheap; libFuzzer runs ignore them. */
void ds_fuzz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Feeds every file of a corpus folder to one and compares each input's outcome with the one
 * recorded for it in DIR.expected ("NAME<TAB>OUTCOME" lines): an input without a record, or
 * with another outcome, fails the replay, naming it. record: write DIR.expected from this run
 * instead. Returns the process exit code. */
int ds_fuzz_replay(const char *dir, int (*one)(const uint8_t *, size_t), const char *what, bool record);
/* The replayers' main: `NAME CORPUS_DIR [--record]`. */
int ds_fuzz_replay_main(int argc, char **argv, int (*one)(const uint8_t *, size_t), const char *what);

#endif
