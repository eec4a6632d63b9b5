/*
 * replay_dump.c: runs every file of the dump-reader fuzz corpus through the reader, as a test.
 */
#include <stdio.h>

#include "fuzz_common.h"

int ds_fuzz_dump_one(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: replay_dump CORPUS_DIR\n");
    return 2;
  }
  return ds_fuzz_replay(argv[1], ds_fuzz_dump_one, "dump");
}
