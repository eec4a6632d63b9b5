/*
 * ingest.c: dumps coming in, and going away. An upload streams into tmp/ while its sha256 is
 * computed (OpenSSL EVP), is validated as an ELF core of a .NET process without the DAC (the ELF
 * reader's checks, then libcoreclr.so among the mapped files), is fsynced and renamed to
 * dumps/<sha256>.dmp, and only then becomes a row in the store with its analysis queued. The same
 * bytes uploaded twice are one dump. Every failure removes the temporary file.
 *
 * This is the one entry of dumps into the service: uploads and imports (downloads from a URL) both
 * end in ds_service_ingest_file, which also decompresses .gz, .zst and .zip dumps (told by their
 * first bytes) into a second temporary file while hashing the decompressed bytes: a dump's identity
 * is its content, however it was shipped.
 */
#include "serviceint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decompress.h"
#include "dumpscope/dump.h"
#include "dumpscope/index.h"
#include "hasher.h"
#include "metrics.h"

struct ds_upload {
  ds_service *svc;
  int fd;
  char tmp_path[PATH_MAX];
  char name[DS_STORE_TEXT_MAX];
  ds_hasher *hasher;         /* sha256 on its own thread, reading behind the writes */
  uint64_t size;
  uint64_t flushed;          /* bytes whose writeback has been started */
};

#define WRITEBACK_STEP (32u << 20) /* start writing back every 32 MiB, so the final fsync waits little */

ds_status ds_service_upload_begin(ds_service *svc, const char *name, ds_upload **out, ds_error *err) {
  *out = NULL;
  ds_upload *up = calloc(1, sizeof *up);
  if (!up)
    return ds_error_set(err, DS_E_NOMEM, "out of memory");
  up->svc = svc;
  snprintf(up->name, sizeof up->name, "%s", name ? name : "");
  snprintf(up->tmp_path, sizeof up->tmp_path, "%s/tmp/upload-XXXXXX", svc->config.data);
  up->fd = mkostemp(up->tmp_path, O_CLOEXEC);
  if (up->fd < 0) {
    ds_status rc = ds_error_set(err, DS_E_IO, "cannot start the upload in %s/tmp: %s", svc->config.data,
                                strerror(errno));
    ds_service_upload_abort(up);
    return rc;
  }
  ds_status rc = ds_hasher_start(up->fd, &up->hasher, err);
  if (rc != DS_OK) {
    ds_service_upload_abort(up);
    return rc;
  }
  *out = up;
  return DS_OK;
}

ds_status ds_service_upload_write(ds_upload *up, const void *data, size_t len, ds_error *err) {
  const char *p = data;
  size_t left = len;
  while (left) {
    ssize_t n = write(up->fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return ds_error_set(err, DS_E_IO, "cannot store the upload: %s", n < 0 ? strerror(errno) : "short write");
    p += n;
    left -= (size_t)n;
  }
  ds_hasher_advance(up->hasher, len);
  up->size += len;
  if (up->size - up->flushed >= WRITEBACK_STEP) {
    /* the disk works while the next chunks arrive and are hashed */
    sync_file_range(up->fd, (off64_t)up->flushed, (off64_t)(up->size - up->flushed), SYNC_FILE_RANGE_WRITE);
    up->flushed = up->size;
  }
  return DS_OK;
}

uint64_t ds_service_upload_size(const ds_upload *up) { return up->size; }

void ds_service_upload_abort(ds_upload *up) {
  if (!up)
    return;
  if (up->fd >= 0) {
    close(up->fd);
    unlink(up->tmp_path);
  }
  ds_hasher_abort(up->hasher);
  free(up);
}

/* Checks the received file is an ELF core of a .NET process (no DAC: the ELF reader and the list
 * of mapped files). Also tells the dump kind from what it holds. */
static ds_status validate(const char *path, char *kind, size_t kind_len, ds_error *err) {
  ds_dump *dump = NULL;
  ds_status rc = ds_dump_open(path, &dump, err);
  if (rc != DS_OK)
    return rc;
  if (!ds_dump_find_module(dump, "libcoreclr.so"))
    rc = ds_error_set(err, DS_E_NOT_DOTNET,
                      "not a .NET process: libcoreclr.so is not among the %zu files mapped in the dump "
                      "(dumpscope analyses CoreCLR 6-10 processes on Linux)",
                      ds_dump_module_count(dump));
  snprintf(kind, kind_len, "%s", ds_dump_is_createdump(dump) ? "createdump" : "core");
  ds_dump_close(dump);
  return rc;
}

/* sha256 of a whole file, read in blocks (a download, written out of order, is hashed here). */
static ds_status hash_file(const char *path, char sha[65], uint64_t *size, ds_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  char *block = malloc(1u << 20);
  ds_status rc = DS_OK;
  *size = 0;
  if (fd < 0 || !md || !block || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    rc = ds_error_set(err, DS_E_IO, "cannot hash the dump: %s", fd < 0 ? strerror(errno) : "out of memory");
    goto out;
  }
  for (;;) {
    ssize_t n = read(fd, block, 1u << 20);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = ds_error_set(err, DS_E_IO, "cannot hash the dump: %s", strerror(errno));
      goto out;
    }
    if (n == 0)
      break;
    EVP_DigestUpdate(md, block, (size_t)n);
    *size += (uint64_t)n;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned digest_len = 0;
  if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len != 32) {
    rc = ds_error_set(err, DS_E_IO, "cannot compute the dump's sha256");
    goto out;
  }
  for (unsigned i = 0; i < 32; i++)
    snprintf(sha + 2 * i, 3, "%02x", digest[i]);
out:
  if (fd >= 0)
    close(fd);
  EVP_MD_CTX_free(md);
  free(block);
  return rc;
}

/* When the file at *path is compressed (by its first bytes): decompresses it into a new file in
 * tmp/ while hashing, removes the compressed one and points *path at the new one. *sha and *size
 * are then the decompressed dump's. */
static ds_status unpack(ds_service *svc, char *path, size_t path_len, char sha[65], uint64_t *size, bool *packed,
                        ds_error *err) {
  unsigned char head[8] = {0};
  *packed = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ds_error_set(err, DS_E_IO, "cannot read the dump: %s", strerror(errno));
  ssize_t got = pread(fd, head, sizeof head, 0);
  close(fd);
  ds_pack_kind kind = ds_pack_detect(head, got > 0 ? (size_t)got : 0);
  if (kind == DS_PACK_NONE)
    return DS_OK;
  char out_path[PATH_MAX];
  snprintf(out_path, sizeof out_path, "%s/tmp/unpacked-XXXXXX", svc->config.data);
  int out_fd = mkostemp(out_path, O_CLOEXEC);
  if (out_fd < 0)
    return ds_error_set(err, DS_E_IO, "cannot decompress into %s/tmp: %s", svc->config.data, strerror(errno));
  uint64_t packed_size = *size;
  ds_status rc = ds_pack_extract(path, kind, out_fd, svc->config.max_dump_bytes, sha, size, err);
  if (rc == DS_OK && fsync(out_fd) != 0)
    rc = ds_error_set(err, DS_E_IO, "cannot store the decompressed dump: fsync: %s", strerror(errno));
  close(out_fd);
  if (rc != DS_OK) {
    unlink(out_path);
    return rc;
  }
  unlink(path);
  snprintf(path, path_len, "%s", out_path);
  *packed = true;
  ds_log_event("dump_decompressed", json_pack("{s:s,s:I,s:I}", "format", ds_pack_name(kind), "bytes_in",
                                              (json_int_t)packed_size, "bytes_out", (json_int_t)*size));
  return DS_OK;
}

ds_status ds_service_ingest_file(ds_service *svc, const char *path, const char *raw_sha256, const char *name,
                                 ds_store_dump *stored, bool *existed, ds_error *err) {
  char work[PATH_MAX], sha[65] = "", kind[16] = "unknown";
  snprintf(work, sizeof work, "%s", path);
  struct stat st;
  uint64_t size = 0;
  bool packed = false;
  ds_status rc = DS_OK;
  *existed = false;
  if (stat(work, &st) != 0) {
    rc = ds_error_set(err, DS_E_IO, "cannot read the dump: %s", strerror(errno));
    goto out;
  }
  if ((size = (uint64_t)st.st_size) == 0) {
    rc = ds_error_set(err, DS_E_ARG, "the dump is empty (0 bytes)");
    goto out;
  }
  if ((rc = unpack(svc, work, sizeof work, sha, &size, &packed, err)) != DS_OK)
    goto out;
  if (!packed && raw_sha256 && strlen(raw_sha256) == 64)
    memcpy(sha, raw_sha256, 65);
  else if (!packed && (rc = hash_file(work, sha, &size, err)) != DS_OK)
    goto out;
  if ((rc = validate(work, kind, sizeof kind, err)) != DS_OK)
    goto out;
  ds_store_dump row = {.size = size};
  snprintf(row.id, sizeof row.id, "%.16s", sha);
  memcpy(row.sha256, sha, sizeof sha);
  snprintf(row.path, sizeof row.path, "dumps/%s.dmp", sha);
  snprintf(row.name, sizeof row.name, "%s", name ? name : "");
  snprintf(row.dump_kind, sizeof row.dump_kind, "%s", kind);
  char final_path[PATH_MAX];
  snprintf(final_path, sizeof final_path, "%s/%s", svc->config.data, row.path);
  /* The file goes into place before the row exists: a crash between the two leaves an orphan file
   * that the next upload of the same bytes replaces, never a row without its file. */
  if (rename(work, final_path) != 0) {
    rc = ds_error_set(err, DS_E_IO, "cannot store the dump: %s", strerror(errno));
    goto out;
  }
  work[0] = 0;
  if ((rc = ds_store_dump_add(svc->store, &row, existed, stored, err)) != DS_OK || *existed)
    goto out; /* a failed or evicted dump is not re-run by an upload: its failure is remembered */
  int64_t job = 0;
  if ((rc = ds_store_job_enqueue(svc->store, stored->id, "index", &job, err)) != DS_OK)
    goto out;
  rc = ds_store_dump_get(svc->store, stored->id, stored, err);
  ds_log_event("dump_added", json_pack("{s:s,s:I,s:I,s:s,s:b}", "dump", stored->id, "bytes", (json_int_t)size, "job",
                                       (json_int_t)job, "name", row.name, "decompressed", packed));
out:
  if (work[0])
    unlink(work);
  return rc;
}

ds_status ds_service_upload_finish(ds_upload *up, ds_store_dump *stored, bool *existed, ds_error *err) {
  ds_service *svc = up->svc;
  ds_status rc = DS_OK;
  char sha[65];
  *existed = false;
  if (up->size == 0) {
    rc = ds_error_set(err, DS_E_ARG, "the upload is empty: send the dump file as the request body");
    goto out;
  }
  rc = ds_hasher_finish(up->hasher, sha, err);
  up->hasher = NULL;
  if (rc != DS_OK)
    goto out;
  if (fsync(up->fd) != 0) {
    rc = ds_error_set(err, DS_E_IO, "cannot store the upload: fsync: %s", strerror(errno));
    goto out;
  }
  close(up->fd);
  up->fd = -1; /* the file is ingest's now: moved into the store or removed */
  rc = ds_service_ingest_file(svc, up->tmp_path, sha, up->name, stored, existed, err);
out:
  ds_metrics_ingest(up->size, rc == DS_OK);
  ds_service_upload_abort(up);
  return rc;
}

ds_status ds_service_delete_dump(ds_service *svc, const char *id, ds_error *err) {
  ds_store_dump dump;
  ds_status rc = ds_store_dump_get(svc->store, id, &dump, err);
  if (rc != DS_OK)
    return rc;
  ds_store_job job;
  ds_error ignored;
  if (dump.last_job && ds_store_job_get(svc->store, dump.last_job, &job, &ignored) == DS_OK &&
      strcmp(job.state, "running") == 0)
    ds_supervisor_cancel(svc->supervisor, job.id, &ignored);
  if ((rc = ds_store_dump_delete(svc->store, id, err)) != DS_OK)
    return rc;
  ds_service_cache_forget(svc, dump.sha256);
  char path[PATH_MAX];
  ds_service_index_path(svc, dump.sha256, path, sizeof path);
  unlink(path);
  snprintf(path, sizeof path, "%s/%s", svc->config.data, dump.path);
  unlink(path);
  ds_log_event("dump_deleted", json_pack("{s:s}", "dump", id));
  return DS_OK;
}

json_t *ds_service_dump_json(ds_service *svc, const ds_store_dump *d) {
  (void)svc;
  json_t *j = json_object();
  json_object_set_new(j, "id", json_string(d->id));
  json_object_set_new(j, "name", json_string(d->name));
  json_object_set_new(j, "size", json_integer((json_int_t)d->size));
  json_object_set_new(j, "sha256", json_string(d->sha256));
  json_object_set_new(j, "status", json_string(d->status));
  json_object_set_new(j, "runtime_version", d->runtime_version[0] ? json_string(d->runtime_version) : json_null());
  json_object_set_new(j, "gc_mode", d->gc_mode[0] ? json_string(d->gc_mode) : json_null());
  json_object_set_new(j, "dump_kind", json_string(d->dump_kind));
  json_object_set_new(j, "error", d->error[0] ? json_string(d->error) : json_null());
  char job_url[64];
  snprintf(job_url, sizeof job_url, "/jobs/%lld", (long long)d->last_job);
  json_object_set_new(j, "job", d->last_job ? json_string(job_url) : json_null());
  json_object_set_new(j, "created_ms", json_integer(d->created_ms));
  json_object_set_new(j, "analysed_ms", d->analysed_ms ? json_integer(d->analysed_ms) : json_null());
  json_object_set_new(j, "analysis_ms", d->analysis_ms > 0 ? json_real(d->analysis_ms) : json_null());
  return j;
}

json_t *ds_service_job_json(const ds_store_job *job) {
  json_t *j = json_object();
  json_object_set_new(j, "id", json_integer(job->id));
  json_object_set_new(j, "dump_id", json_string(job->dump_id));
  json_object_set_new(j, "kind", json_string(job->kind));
  json_object_set_new(j, "state", json_string(job->state));
  json_object_set_new(j, "attempts", json_integer(job->attempts));
  json_object_set_new(j, "progress", json_pack("{s:s,s:i}", "phase", job->phase, "percent", job->percent));
  json_object_set_new(j, "error", job->error[0] ? json_string(job->error) : json_null());
  json_object_set_new(j, "created_ms", json_integer(job->created_ms));
  json_object_set_new(j, "started_ms", job->started_ms ? json_integer(job->started_ms) : json_null());
  json_object_set_new(j, "finished_ms", job->finished_ms ? json_integer(job->finished_ms) : json_null());
  return j;
}
