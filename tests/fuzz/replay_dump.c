/*
 * replay_dump.c: runs every file of the dump-reader fuzz corpus through the reader, as a test, each
 * input's outcome checked against the one recorded in the corpus folder's .expected file.
 */
#include <stdio.h>

#include "fuzz_common.h"

int ds_fuzz_dump_one(const uint8_t *data, size_t size);

int main(int argc, char **argv) { return ds_fuzz_replay_main(argc, argv, ds_fuzz_dump_one, "dump"); }
