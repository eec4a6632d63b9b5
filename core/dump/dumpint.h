/*
 * dumpint.h: internals of the dump reader shared by the files of core/dump (elfcore.c parses the
 * core and serves its segments, diskfile.c serves the pages it lacks from the mapped files on
 * disk and answers the module-mapping lookups). Nobody outside core/dump includes this.
 */
#ifndef DUMPSCOPE_DUMP_INT_H
#define DUMPSCOPE_DUMP_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dump.h"

typedef struct load_segment {
  uint64_t vaddr;
  uint64_t size;        /* p_filesz: bytes present in the file */
  uint64_t file_offset;
} load_segment;

/* One NT_FILE entry. */
typedef struct file_mapping {
  uint64_t start, end, file_offset;
  size_t module_index;
} file_mapping;

/* Lazily opened on-disk copy of a module, for pages the core does not hold. */
typedef struct disk_image {
  int state;            /* 0 untried, 1 usable, -1 unusable */
  const uint8_t *data;
  uint64_t size;
} disk_image;

struct ds_dump {
  char *path;
  int fd;
  const uint8_t *map;
  uint64_t file_size;

  load_segment *segments;
  size_t segment_count;
  uint64_t memory_bytes;

  file_mapping *mappings;
  size_t mapping_count;

  ds_module *modules;
  disk_image *images;
  size_t module_count;
  char *path_storage;

  ds_dump_thread *threads;
  size_t thread_count;

  bool createdump;
  pthread_mutex_t image_lock;
  int guard;                 /* guard.c slot of the mapping, -1 if none */
  uint64_t identity;         /* hash of the size, ELF and program headers and notes */
};

/* Copies bytes at addr, which no PT_LOAD segment holds, from the verified on-disk file of the
 * NT_FILE mapping there, up to the end of that mapping; returns the bytes copied (0: none). */
size_t ds__dump_read_from_disk(ds_dump *dump, uint64_t addr, uint8_t *buf, size_t len);

/* Unmaps the on-disk files that were opened (ds_dump_close). */
void ds__dump_unmap_disk_images(ds_dump *dump);

#endif
