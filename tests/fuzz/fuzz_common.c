/* fuzz_common.c: see fuzz_common.h. */
#include "fuzz_common.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char outcome[512];

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

void ds_fuzz_note(const char *fmt, ...) {
  size_t used = strlen(outcome);
  if (used && used + 1 < sizeof outcome)
    outcome[used++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(outcome + used, sizeof outcome - used, fmt, ap);
  va_end(ap);
}

typedef struct entry {
  char name[256];
  char outcome[512];
} entry;

static int by_name(const void *a, const void *b) { return strcmp(((const entry *)a)->name, ((const entry *)b)->name); }

/* Reads every file of dir and runs it; fills *out (sorted by name). */
static size_t run_all(const char *dir, int (*one)(const uint8_t *, size_t), entry **out) {
  DIR *d = opendir(dir);
  *out = NULL;
  if (!d)
    return 0;
  size_t count = 0, cap = 0;
  struct dirent *e;
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
    outcome[0] = '\0';
    if (buf && (len == 0 || fread(buf, 1, (size_t)len, f) == (size_t)len))
      one(buf, (size_t)len);
    free(buf);
    fclose(f);
    if (count == cap) {
      cap = cap ? 2 * cap : 64;
      entry *grown = realloc(*out, cap * sizeof *grown);
      if (!grown)
        break;
      *out = grown;
    }
    snprintf((*out)[count].name, sizeof (*out)[count].name, "%s", e->d_name);
    snprintf((*out)[count].outcome, sizeof (*out)[count].outcome, "%s", outcome[0] ? outcome : "-");
    count++;
  }
  closedir(d);
  if (count)
    qsort(*out, count, sizeof **out, by_name);
  return count;
}

/* The recorded outcome of name in the expectations text, copied to out; false when none. */
static bool recorded(const char *text, const char *name, char *out, size_t len) {
  size_t n = strlen(name);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, name, n) == 0 && p[n] == '\t') {
      const char *v = p + n + 1, *eol = strchr(v, '\n');
      snprintf(out, len, "%.*s", (int)(eol ? (size_t)(eol - v) : strlen(v)), v);
      return true;
    }
  return false;
}

int ds_fuzz_replay(const char *dir, int (*one)(const uint8_t *, size_t), const char *what, bool record) {
  entry *all = NULL;
  size_t count = run_all(dir, one, &all);
  if (!count) {
    fprintf(stderr, "cannot read corpus %s\n", dir);
    free(all);
    return 1;
  }
  char expected_path[4200];
  snprintf(expected_path, sizeof expected_path, "%s.expected", dir);
  if (record) {
    FILE *f = fopen(expected_path, "w");
    if (!f) {
      fprintf(stderr, "cannot write %s\n", expected_path);
      free(all);
      return 1;
    }
    for (size_t i = 0; i < count; i++)
      fprintf(f, "%s\t%s\n", all[i].name, all[i].outcome);
    fclose(f);
    printf("recorded the outcomes of %zu %s corpus inputs in %s\n", count, what, expected_path);
    free(all);
    return 0;
  }
  FILE *f = fopen(expected_path, "rb");
  char *text = NULL;
  size_t text_len = 0;
  if (f) {
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, len > 0 ? (size_t)len + 1 : 1);
    if (text && len > 0)
      text_len = fread(text, 1, (size_t)len, f);
    fclose(f);
  }
  if (!text) {
    fprintf(stderr, "no expected outcomes in %s: run the replayer with --record and review them\n", expected_path);
    free(all);
    return 1;
  }
  (void)text_len;
  size_t failed = 0;
  for (size_t i = 0; i < count; i++) {
    char want[512];
    if (!recorded(text, all[i].name, want, sizeof want)) {
      fprintf(stderr, "%s: %s has no recorded outcome (got \"%s\"): record it with --record\n", what, all[i].name,
              all[i].outcome);
      failed++;
    } else if (strcmp(want, all[i].outcome) != 0) {
      fprintf(stderr, "%s: %s: expected \"%s\", got \"%s\"\n", what, all[i].name, want, all[i].outcome);
      failed++;
    }
  }
  free(text);
  free(all);
  printf("replayed %zu %s corpus inputs, %zu with another outcome than recorded\n", count, what, failed);
  return failed ? 1 : 0;
}

int ds_fuzz_replay_main(int argc, char **argv, int (*one)(const uint8_t *, size_t), const char *what) {
  if (argc < 2 || (argc == 3 && strcmp(argv[2], "--record") != 0) || argc > 3) {
    fprintf(stderr, "usage: %s CORPUS_DIR [--record]\n", argv[0]);
    return 2;
  }
  return ds_fuzz_replay(argv[1], one, what, argc == 3);
}
