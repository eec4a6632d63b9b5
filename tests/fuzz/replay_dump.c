/*
 * replay_dump.c: runs every file of the dump-reader fuzz corpus through the reader, as a test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ds_fuzz_dump_one(const unsigned char *data, size_t size);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: replay_dump CORPUS_DIR\n");
    return 2;
  }
  DIR *d = opendir(argv[1]);
  if (!d) {
    fprintf(stderr, "cannot open corpus %s\n", argv[1]);
    return 1;
  }
  struct dirent *e;
  size_t count = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && (len == 0 || fread(buf, 1, (size_t)len, f) == (size_t)len))
      ds_fuzz_dump_one(buf, (size_t)len);
    free(buf);
    fclose(f);
    count++;
  }
  closedir(d);
  printf("replayed %zu corpus inputs\n", count);
  return count > 0 ? 0 : 1;
}
