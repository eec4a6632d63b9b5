/* fuzz_common.c: see fuzz_common.h. */
#include "fuzz_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int ds_fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_len) {
  int fd = memfd_create("fuzz-input", 0);
  if (fd < 0)
    return -1;
  if (size && write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return -1;
  }
  snprintf(path, path_len, "/proc/self/fd/%d", fd);
  return fd;
}

int ds_fuzz_replay(const char *dir, int (*one)(const uint8_t *, size_t), const char *what) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "cannot open corpus %s\n", dir);
    return 1;
  }
  struct dirent *e;
  size_t count = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && (len == 0 || fread(buf, 1, (size_t)len, f) == (size_t)len))
      one(buf, (size_t)len);
    free(buf);
    fclose(f);
    count++;
  }
  closedir(d);
  printf("replayed %zu %s corpus inputs\n", count, what);
  return count > 0 ? 0 : 1;
}
