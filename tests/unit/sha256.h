#ifndef DS_TEST_SHA256_H
#define DS_TEST_SHA256_H
#include <stddef.h>
#include <stdint.h>
void ds_test_sha256_hex(const void *data, size_t len, char out[65]);
#endif
