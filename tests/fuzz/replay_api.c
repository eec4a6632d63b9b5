/*
 * replay_api.c: replays the api fuzz corpus (tests/fuzz/corpus/api) as a test, each
 * input's outcome checked against the one recorded in the corpus folder's .expected file: each file is one
 * "PATH?QUERY" request through the router, the parameter readers and ds_api_call on the tiny
 * index.
 */
#include <stdio.h>

#include "fuzz_common.h"

int ds_fuzz_api_one(const uint8_t *data, size_t size);

int main(int argc, char **argv) { return ds_fuzz_replay_main(argc, argv, ds_fuzz_api_one, "api"); }
