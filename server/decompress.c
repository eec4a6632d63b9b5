/*
 * decompress.c: see decompress.h. One libarchive reader per pass: gzip and zstd are the "raw"
 * format behind a filter (one stream, no entries); zip is read seekably (its central directory
 * first), once to count the files in it and once to extract the one file.
 */
#include "decompress.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PACK_BLOCK (1u << 20)        /* bytes read from the archive and written at once */
#define PACK_ZIP_ENTRIES_MAX 100000  /* entries looked at when counting a zip's files */

ds_pack_kind ds_pack_detect(const unsigned char *head, size_t len) {
  if (len >= 2 && head[0] == 0x1f && head[1] == 0x8b)
    return DS_PACK_GZIP;
  if (len >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
    return DS_PACK_ZSTD;
  if (len >= 4 && head[0] == 0x50 && head[1] == 0x4b && head[2] == 0x03 && head[3] == 0x04)
    return DS_PACK_ZIP;
  return DS_PACK_NONE;
}

const char *ds_pack_name(ds_pack_kind kind) {
  switch (kind) {
  case DS_PACK_GZIP: return "gzip";
  case DS_PACK_ZSTD: return "zstd";
  case DS_PACK_ZIP: return "zip";
  case DS_PACK_NONE: break;
  }
  return "none";
}

/* A reader of in_path set up for kind; NULL with err filled when it cannot be opened. */
static struct archive *open_reader(const char *in_path, ds_pack_kind kind, ds_error *err) {
  struct archive *a = archive_read_new();
  if (!a) {
    ds_error_set(err, DS_E_NOMEM, "out of memory opening a %s file", ds_pack_name(kind));
    return NULL;
  }
  int rc = ARCHIVE_OK;
  if (kind == DS_PACK_ZIP) {
    rc = archive_read_support_format_zip_seekable(a);
  } else {
    rc = kind == DS_PACK_GZIP ? archive_read_support_filter_gzip(a) : archive_read_support_filter_zstd(a);
    if (rc == ARCHIVE_OK)
      rc = archive_read_support_format_raw(a);
  }
  if (rc != ARCHIVE_OK || archive_read_open_filename(a, in_path, PACK_BLOCK) != ARCHIVE_OK) {
    ds_error_set(err, DS_E_CORRUPT, "cannot read the %s file: %s", ds_pack_name(kind),
                 archive_error_string(a) ? archive_error_string(a) : "unknown error");
    archive_read_free(a);
    return NULL;
  }
  return a;
}

static ds_status archive_failure(struct archive *a, ds_pack_kind kind, ds_error *err) {
  const char *why = archive_error_string(a);
  return ds_error_set(err, DS_E_CORRUPT, "the %s data is damaged or incomplete: %s", ds_pack_name(kind),
                      why ? why : "unknown error");
}

/* Counts the regular files in a zip (directories do not count). */
static ds_status zip_count_files(const char *in_path, size_t *files, ds_error *err) {
  *files = 0;
  struct archive *a = open_reader(in_path, DS_PACK_ZIP, err);
  if (!a)
    return err->code;
  ds_status rc = DS_OK;
  struct archive_entry *entry;
  for (size_t seen = 0; seen < PACK_ZIP_ENTRIES_MAX; seen++) {
    int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      rc = archive_failure(a, DS_PACK_ZIP, err);
      break;
    }
    if (archive_entry_filetype(entry) == AE_IFREG)
      (*files)++;
  }
  archive_read_free(a);
  return rc;
}

static ds_status write_all(int fd, const void *data, size_t len, ds_error *err) {
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return ds_error_set(err, DS_E_IO, "cannot store the decompressed dump: %s", n < 0 ? strerror(errno) : "short write");
    p += n;
    len -= (size_t)n;
  }
  return DS_OK;
}

/* Streams the current entry's data into out_fd and the digest, under the cap. */
static ds_status copy_entry(struct archive *a, ds_pack_kind kind, int out_fd, uint64_t max_bytes, EVP_MD_CTX *md,
                            uint64_t *size, ds_error *err) {
  char *block = malloc(PACK_BLOCK);
  if (!block)
    return ds_error_set(err, DS_E_NOMEM, "out of memory decompressing");
  ds_status rc = DS_OK;
  for (;;) {
    la_ssize_t n = archive_read_data(a, block, PACK_BLOCK);
    if (n == 0)
      break;
    if (n < 0) {
      rc = archive_failure(a, kind, err);
      break;
    }
    if ((uint64_t)n > max_bytes - *size) {
      rc = ds_error_set(err, DS_E_LIMIT,
                        "the %s file decompresses to more than %llu bytes, the largest dump this server accepts "
                        "(max_dump_bytes)",
                        ds_pack_name(kind), (unsigned long long)max_bytes);
      break;
    }
    if ((rc = write_all(out_fd, block, (size_t)n, err)) != DS_OK)
      break;
    EVP_DigestUpdate(md, block, (size_t)n);
    *size += (uint64_t)n;
  }
  free(block);
  return rc;
}

/* Moves a zip reader to its one regular file. */
static ds_status zip_find_file(struct archive *a, uint64_t max_bytes, ds_error *err) {
  struct archive_entry *entry;
  for (size_t seen = 0; seen < PACK_ZIP_ENTRIES_MAX; seen++) {
    int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return archive_failure(a, DS_PACK_ZIP, err);
    if (archive_entry_filetype(entry) != AE_IFREG)
      continue;
    if (archive_entry_size_is_set(entry) && (uint64_t)archive_entry_size(entry) > max_bytes)
      return ds_error_set(err, DS_E_LIMIT,
                          "the zip's file is %llu bytes decompressed, more than the largest dump this server "
                          "accepts (max_dump_bytes %llu)",
                          (unsigned long long)archive_entry_size(entry), (unsigned long long)max_bytes);
    return DS_OK;
  }
  return ds_error_set(err, DS_E_FORMAT, "the zip holds no file");
}

ds_status ds_pack_extract(const char *in_path, ds_pack_kind kind, int out_fd, uint64_t max_bytes, char sha_hex[65],
                          uint64_t *size, ds_error *err) {
  *size = 0;
  sha_hex[0] = 0;
  if (kind == DS_PACK_NONE)
    return ds_error_set(err, DS_E_ARG, "not a compressed file");
  if (kind == DS_PACK_ZIP) {
    size_t files = 0;
    ds_status rc = zip_count_files(in_path, &files, err);
    if (rc != DS_OK)
      return rc;
    if (files == 0)
      return ds_error_set(err, DS_E_FORMAT, "the zip holds no file: it must hold exactly one dump");
    if (files > 1)
      return ds_error_set(err, DS_E_FORMAT, "the zip holds %zu files: it must hold exactly one dump", files);
  }
  struct archive *a = open_reader(in_path, kind, err);
  if (!a)
    return err->code;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  ds_status rc = DS_OK;
  if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    rc = ds_error_set(err, DS_E_NOMEM, "cannot start a sha256 digest");
    goto out;
  }
  if (kind == DS_PACK_ZIP) {
    rc = zip_find_file(a, max_bytes, err);
  } else {
    struct archive_entry *entry;
    int r = archive_read_next_header(a, &entry);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      rc = archive_failure(a, kind, err);
  }
  if (rc == DS_OK)
    rc = copy_entry(a, kind, out_fd, max_bytes, md, size, err);
  if (rc == DS_OK && *size == 0)
    rc = ds_error_set(err, DS_E_FORMAT, "the %s file holds no data", ds_pack_name(kind));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned digest_len = 0;
  if (rc == DS_OK && (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len != 32))
    rc = ds_error_set(err, DS_E_IO, "cannot compute the dump's sha256");
  for (unsigned i = 0; rc == DS_OK && i < 32; i++) {
    static const char hex[] = "0123456789abcdef";
    sha_hex[2 * i] = hex[digest[i] >> 4];
    sha_hex[2 * i + 1] = hex[digest[i] & 15];
    sha_hex[64] = 0;
  }
out:
  EVP_MD_CTX_free(md);
  archive_read_free(a);
  return rc;
}
