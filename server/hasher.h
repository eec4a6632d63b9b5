/*
 * hasher.h: sha256 of a file being written, computed on its own thread behind the writer.
 */
#ifndef DUMPSCOPE_SERVER_HASHER_H
#define DUMPSCOPE_SERVER_HASHER_H

#include <stdbool.h>
#include <stdint.h>

#include "dumpscope/error.h"

typedef struct ds_hasher ds_hasher;

/* Starts hashing fd from offset 0 as bytes are reported written. The fd must stay open until
 * finish or abort. */
ds_status ds_hasher_start(int fd, ds_hasher **out, ds_error *err);
/* Reports that bytes more were written (appended) to the file. */
void ds_hasher_advance(ds_hasher *h, uint64_t bytes);
/* Waits for the hash to catch up, writes it as 64 lowercase hex digits and frees the hasher. */
ds_status ds_hasher_finish(ds_hasher *h, char hex[65], ds_error *err);
void ds_hasher_abort(ds_hasher *h);

#endif
