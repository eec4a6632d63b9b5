/*
 * indexint.h: what the index's own files share (not for other modules): the file's header and
 * section table, the per-section record sizes and names, and the reader's state.
 */
#ifndef DUMPSCOPE_INDEXINT_H
#define DUMPSCOPE_INDEXINT_H

#include <pthread.h>

#include "dumpscope/index.h"

#define SECTION_ALIGN 64u

typedef struct file_header {
  char magic[8];
  uint32_t version, header_size;
  uint64_t file_size;
  uint32_t section_count, reserved;
  uint64_t table_checksum;
  uint64_t header_checksum; /* over the bytes above */
} file_header;

typedef struct section_entry {
  uint32_t id, reserved;
  uint64_t offset, size, checksum;
} section_entry;

/* The section checksum (ds_index_checksum) in pieces: begin, blocks (each piece a multiple of 32
 * bytes), end with the last size % 32 bytes and the whole size. */
typedef struct ds__checksum {
  uint64_t h[4];
} ds__checksum;
void ds__checksum_begin(ds__checksum *c);
void ds__checksum_blocks(ds__checksum *c, const void *data, uint64_t size);
uint64_t ds__checksum_end(const ds__checksum *c, const void *tail, uint64_t tail_size, uint64_t size);

/* Record size of each section (1 = bytes; 0 = no such section), and its name for messages. */
uint32_t ds__section_element_size(uint32_t id);
const char *ds__section_name(uint32_t id);

struct ds_index {
  const uint8_t *map;
  uint64_t size;
  struct { const uint8_t *data; uint64_t size, checksum; int verified; } sections[DS_SEC_COUNT_];
  pthread_mutex_t lock;
  const ds_index_info *info;
  const char *strings;
  uint64_t strings_size;
};

/* Checks every record of the analysis' sections (locks, findings, evidence, report) against the
 * index's counts; DS_E_CORRUPT naming the first bad one (records.c). */
ds_status ds__check_record_sections(const ds_index *idx, const char *path, ds_error *err);

#endif
