/*
 * decompress.h: compressed dumps (.gz, .zst, .zip with one file inside), as support cases ship
 * them. The kind is told by the first bytes, never by a name: 1f 8b gzip, 28 b5 2f fd zstd,
 * 50 4b 03 04 zip. Decompression is libarchive's (the system's zlib and libzstd underneath); the
 * output is capped, so a zip bomb is bad input, not a full disk.
 */
#ifndef DUMPSCOPE_SERVER_DECOMPRESS_H
#define DUMPSCOPE_SERVER_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "dumpscope/error.h"

typedef enum ds_pack_kind { DS_PACK_NONE = 0, DS_PACK_GZIP, DS_PACK_ZSTD, DS_PACK_ZIP } ds_pack_kind;

/* The compression of a file from its first bytes (len may be short: then DS_PACK_NONE). */
ds_pack_kind ds_pack_detect(const unsigned char *head, size_t len);
/* "gzip", "zstd", "zip", "none". */
const char *ds_pack_name(ds_pack_kind kind);

/* Decompresses the file at in_path (of the given kind) into out_fd, written from its current
 * position, computing the sha256 of the decompressed bytes (64 hex digits + NUL into sha_hex) and
 * counting them into *size. More than max_bytes is DS_E_LIMIT; a zip holding no file or several is
 * DS_E_FORMAT; damaged data DS_E_CORRUPT; a write failure DS_E_IO. On failure out_fd holds part of
 * the output: the caller removes it. */
ds_status ds_pack_extract(const char *in_path, ds_pack_kind kind, int out_fd, uint64_t max_bytes, char sha_hex[65],
                          uint64_t *size, ds_error *err);

#endif
