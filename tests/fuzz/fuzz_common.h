/* fuzz_common.h: what the fuzz targets and their corpus replayers share. */
#ifndef DS_FUZZ_COMMON_H
#define DS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Puts data in a memory file; returns its fd (or -1) and a path that opens it. */
int ds_fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_len);
/* Feeds every file of a corpus folder to one; returns the process exit code. */
int ds_fuzz_replay(const char *dir, int (*one)(const uint8_t *, size_t), const char *what);

#endif
