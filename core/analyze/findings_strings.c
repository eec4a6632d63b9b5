/*
 * findings_strings.c: the strings of the heap for the report and its findings: how many and how
 * many bytes, the large ones (at least the large_string_bytes setting, i.e. on the LOH by
 * default), and the values held by more than one string with the bytes the copies waste.
 *
 * Duplicates are found by hashing every string's characters straight from the mapped dump into a
 * (hash, object) array, sorting it, and confirming equal values within each run of equal hashes:
 * 16 bytes per string and one pass, with no per-string allocation.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

#include "analyzeint.h"

#define TOP_STRINGS 10           /* large strings and duplicate values listed */
#define VALUE_CHARS 80           /* characters of a value shown */

typedef struct string_hash {
  uint64_t hash;
  uint32_t object, length;
} string_hash;

/* The characters of string object o (length UTF-16 units), straight from the mapping or copied
 * into *copy (freed by the caller); NULL when unreadable. */
static const uint8_t *string_chars(ds__build *b, uint32_t o, uint32_t length, uint8_t **copy) {
  *copy = NULL;
  uint64_t at = ds_layout_chars(b->layout, b->addr.items[o]), avail = 0;
  const uint8_t *chars = ds_dump_span(b->a->dump, at, &avail);
  if (chars && avail >= (uint64_t)length * 2)
    return chars;
  *copy = malloc((size_t)length * 2 + 1);
  if (!*copy || !ds_dump_read_exact(b->a->dump, at, *copy, (size_t)length * 2)) {
    free(*copy);
    *copy = NULL;
    return NULL;
  }
  return *copy;
}

static uint64_t hash_chars(const uint8_t *p, size_t n, uint32_t length) {
  uint64_t h = 1469598103934665603ull ^ length;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) { /* eight bytes a step: these strings add up to hundreds of MB */
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static int compare_hash(const void *x, const void *y) {
  const string_hash *a = x, *b = y;
  if (a->hash != b->hash)
    return a->hash < b->hash ? -1 : 1;
  if (a->length != b->length)
    return a->length < b->length ? -1 : 1;
  return a->object < b->object ? -1 : a->object > b->object;
}

static bool hash_less(const string_hash *x, const string_hash *y) {
  return compare_hash(x, y) < 0;
}

/* Sorts into compare_hash's order: one radix pass on the top 16 bits of the hash into a second
 * array, then each bucket (a few dozen entries for millions of strings) by insertion, or qsort
 * when large. Returns the sorted array, h or the second one (the caller frees both), NULL when
 * out of memory. glibc's qsort took 0.67 s for big's 2.5 million strings; an in-place radix
 * pass (American flag sort) 0.23 s, nearly all of it a chain of cache misses, each move's
 * address hanging on the entry the previous one displaced; the moves into a second array are
 * independent of each other, and the processor overlaps their misses. */
static string_hash *sort_hashes(string_hash *h, size_t n, string_hash **spare) {
  enum { SHIFT = 48, BUCKETS = 1 << 16 };
  size_t *start = calloc(BUCKETS + 1, sizeof *start);
  string_hash *out = *spare = ds__big_malloc((n ? n : 1) * sizeof *out);
  if (!start || !out) {
    free(start);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    start[(h[i].hash >> SHIFT) + 1]++;
  for (size_t k = 0; k < BUCKETS; k++)
    start[k + 1] += start[k];
  for (size_t i = 0; i < n; i++) /* start[k] moves on to where bucket k + 1 starts */
    out[start[h[i].hash >> SHIFT]++] = h[i];
  for (size_t k = 0, from = 0; k < BUCKETS; from = start[k++]) {
    string_hash *b = out + from;
    size_t count = start[k] - from;
    if (count > 64) {
      qsort(b, count, sizeof *b, compare_hash);
      continue;
    }
    for (size_t i = 1; i < count; i++) {
      string_hash x = b[i];
      size_t j = i;
      for (; j && hash_less(&x, &b[j - 1]); j--)
        b[j] = b[j - 1];
      b[j] = x;
    }
  }
  free(start);
  return out;
}

static bool same_value(ds__build *b, const string_hash *x, const string_hash *y) {
  if (x->length != y->length)
    return false;
  uint8_t *cx, *cy;
  const uint8_t *px = string_chars(b, x->object, x->length, &cx), *py = string_chars(b, y->object, y->length, &cy);
  bool same = px && py && memcmp(px, py, (size_t)x->length * 2) == 0;
  free(cx);
  free(cy);
  return same;
}

/* A value shared by several strings. */
typedef struct dup_group {
  uint32_t example;
  uint64_t count, wasted;
} dup_group;

/* Keeps the top[TOP_STRINGS] largest by key (a small sorted insertion: the lists are short). */
static void keep_top(dup_group *top, size_t *count, dup_group g) {
  size_t at = *count;
  while (at > 0 && top[at - 1].wasted < g.wasted)
    at--;
  if (at >= TOP_STRINGS)
    return;
  size_t last = *count < TOP_STRINGS ? *count : TOP_STRINGS - 1;
  memmove(&top[at + 1], &top[at], (last - at) * sizeof *top);
  top[at] = g;
  if (*count < TOP_STRINGS)
    ++*count;
}

/* The string's value as UTF-8, cut at VALUE_CHARS characters, in the string pool. */
static uint32_t value_label(ds__build *b, uint32_t o) {
  char text[VALUE_CHARS * 4 + 8];
  int64_t length = ds_heap_read_string(b->heap, b->addr.items[o], VALUE_CHARS, text, sizeof text);
  if (length < 0)
    return 0;
  if (length > VALUE_CHARS) {
    size_t len = strlen(text);
    snprintf(text + len, sizeof text - len, "...");
  }
  return ds_strpool_add(&b->pool, text);
}

/* Strings this many objects ahead have their length's line fetched before they are reached. */
enum { STRING_AHEAD = 32 };

/* Every string: counts, the large ones, and the hashes for the duplicate search. */
static ds_status collect_strings(ds__build *b, bool addr_in_file, string_hash *hashes, size_t *hash_count,
                                 dup_group *large, size_t *large_count) {
  uint64_t large_min = (uint64_t)ds__setting(b, DS_SET_LARGE_STRING_BYTES), released = 0;
  /* the addresses are the index file's pages by now: those behind the scan leave the resident
   * set as it goes (the few later reads fault them back), as the dump's do */
  enum { ADDR_STEP = 1 << 22 /* objects: 32 MiB of addresses */ };
  ds__dump_window win = {0}; /* one lookup per piece of the core, not two per string */
  for (size_t i = 0; i < b->n; i++) {
    if (addr_in_file && i && !(i % ADDR_STEP))
      ds_index_writer_release(b->addr.items + (i - ADDR_STEP), (uint64_t)ADDR_STEP * 8);
    if (i + STRING_AHEAD < b->n && (b->types[b->type.items[i + STRING_AHEAD]].flags & DS_TYPE_STRING)) {
      const uint8_t *ahead = ds__window_at(&win, b->a->dump, b->addr.items[i + STRING_AHEAD], 64);
      if (ahead)
        __builtin_prefetch(ahead + b->layout->array_length);
    }
    uint32_t t = b->type.items[i];
    if (!(b->types[t].flags & DS_TYPE_STRING))
      continue;
    ds__release_behind(b, &released, b->addr.items[i], false);
    uint64_t size = ds__object_size(b, i);
    b->report.string_count++;
    b->report.string_bytes += size;
    if (size >= large_min) {
      b->report.large_string_count++;
      b->report.large_string_bytes += size;
      keep_top(large, large_count, (dup_group){(uint32_t)i, 1, size});
    }
    uint32_t length = 0;
    uint8_t *copy = NULL;
    const uint8_t *chars = NULL, *at = ds__window_at(&win, b->a->dump, b->addr.items[i], size);
    if (at) { /* the whole string in the window: its length and characters without a lookup */
      memcpy(&length, at + b->layout->array_length, 4);
      if ((uint64_t)b->layout->string_chars + (uint64_t)length * 2 <= size)
        chars = at + b->layout->string_chars;
    }
    if (!at && !ds_layout_read_length(b->layout, b->a->dump, b->addr.items[i], &length))
      continue;
    if (length > DS_MAX_STRING_READ_CHARS * 64u || (!chars && !(chars = string_chars(b, (uint32_t)i, length, &copy))))
      continue;
    hashes[(*hash_count)++] = (string_hash){hash_chars(chars, (size_t)length * 2, length), (uint32_t)i, length};
    free(copy);
  }
  if (b->n)
    ds__release_behind(b, &released, b->addr.items[b->n - 1] + ds__object_size(b, b->n - 1), true);
  return DS_OK;
}

/* Runs of equal hashes, split into runs of equal values: the groups of two or more. */
static void group_duplicates(ds__build *b, string_hash *hashes, size_t hash_count, dup_group *top, size_t *top_count) {
  size_t run = 0;
  while (run < hash_count) {
    size_t end = run + 1;
    while (end < hash_count && hashes[end].hash == hashes[run].hash && hashes[end].length == hashes[run].length)
      end++;
    /* within the run, each value against the run's first; others (a hash collision) stay alone */
    uint64_t count = 1;
    for (size_t k = run + 1; k < end; k++)
      count += same_value(b, &hashes[run], &hashes[k]);
    if (count > 1) {
      uint64_t size = ds__object_size(b, hashes[run].object);
      b->report.duplicate_groups++;
      b->report.duplicate_strings += count;
      b->report.duplicate_wasted += (count - 1) * size;
      keep_top(top, top_count, (dup_group){hashes[run].object, count, (count - 1) * size});
    }
    run = end;
  }
}

/* The largest strings as the report's list, and information when there is any. */
static ds_status large_strings(ds__build *b, const dup_group *large, size_t large_count, ds_error *err) {
  b->report.first_large = (uint32_t)b->evidence.count;
  ds_status rc = DS_OK;
  for (size_t k = 0; k < large_count && rc == DS_OK; k++)
    rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, large[k].example, value_label(b, large[k].example), 1,
                           large[k].wasted, err);
  b->report.large_count = (uint32_t)(b->evidence.count - b->report.first_large);
  if (rc != DS_OK || !b->report.large_string_count)
    return rc;
  char title[128], text[768], size_h[32];
  uint64_t count = b->report.large_string_count;
  snprintf(title, sizeof title, "%llu large string%s", (unsigned long long)count, count == 1 ? "" : "s");
  snprintf(text, sizeof text,
           "%llu string%s of %llu bytes or more take%s %s. Large strings live on the large object heap, which is "
           "collected only with gen 2 and not compacted by default.",
           (unsigned long long)count, count == 1 ? "" : "s", (unsigned long long)ds__setting(b, DS_SET_LARGE_STRING_BYTES),
           count == 1 ? "s" : "", ds__human_bytes(b->report.large_string_bytes, size_h, sizeof size_h));
  ds__finding_text f = {DS_SEVERITY_INFORMATION, "large-strings", title, text,
                        "Stream large text (Stream, PipeReader, Utf8JsonReader) instead of building it in one "
                        "string; use StringBuilder chunks or pooled buffers for big payloads.",
                        DS_SET_LARGE_STRING_BYTES};
  return ds__add_finding(b, &f, ds__no_details(), b->report.first_large, err);
}

/* The most wasteful duplicated values as the report's list, and information past the setting. */
static ds_status duplicate_strings(ds__build *b, const dup_group *top, size_t top_count, ds_error *err) {
  b->report.first_duplicate = (uint32_t)b->evidence.count;
  ds_status rc = DS_OK;
  for (size_t k = 0; k < top_count && rc == DS_OK; k++)
    rc = ds__push_evidence(b, DS_EVIDENCE_OBJECT, top[k].example, value_label(b, top[k].example), top[k].count,
                           top[k].wasted, err);
  b->report.duplicate_count = (uint32_t)(b->evidence.count - b->report.first_duplicate);
  if (rc != DS_OK || b->report.duplicate_wasted < (uint64_t)ds__setting(b, DS_SET_DUPLICATE_STRING_BYTES))
    return rc;
  char title[128], text[768], h1[32], h2[32];
  snprintf(title, sizeof title, "Duplicate strings waste %s", ds__human_bytes(b->report.duplicate_wasted, h1, sizeof h1));
  snprintf(text, sizeof text,
           "%llu values are held by more than one string (%llu strings in all); the copies waste %s. The most "
           "wasteful value is held by %llu strings.",
           (unsigned long long)b->report.duplicate_groups, (unsigned long long)b->report.duplicate_strings,
           ds__human_bytes(b->report.duplicate_wasted, h2, sizeof h2), (unsigned long long)(top_count ? top[0].count : 0));
  ds__finding_text f = {DS_SEVERITY_INFORMATION, "duplicate-strings", title, text,
                        "Intern or cache repeated values (string.Intern, a lookup table, an enum instead of text), "
                        "or keep them as spans of one buffer instead of many copies.",
                        DS_SET_DUPLICATE_STRING_BYTES};
  return ds__add_finding(b, &f, ds__no_details(), b->report.first_duplicate, err);
}

struct ds__string_scan {
  ds__side_thread side;
  ds_status rc;
  dup_group large[TOP_STRINGS + 1], top[TOP_STRINGS + 1];
  size_t large_count, top_count;
};

/* The scan of every string: counts, the largest, the duplicated values. Reads only what earlier
 * phases finished (objects, types, histograms) and the dump, and writes only its own state and
 * the report's string counts, so it runs on a second thread beside the dominator search. */
static void *scan_strings(void *p) {
  ds__build *b = p;
  ds__string_scan *scan = b->string_scan;
  size_t strings = 0;
  for (size_t t = 0; t < b->type_total; t++)
    if (b->types[t].flags & DS_TYPE_STRING)
      for (int g = 0; g < DS_GEN_COUNT; g++)
        strings += b->hist_acc[((size_t)g * b->type_total + t) * 4];
  string_hash *hashes = ds__big_malloc((strings ? strings : 1) * sizeof *hashes); /* sorted in place, at random */
  if (!hashes) {
    scan->rc = DS_E_NOMEM;
    return NULL;
  }
  size_t hash_count = 0;
  bool addr_in_file = b->mapped & DS__MAPPED_ADDR; /* swapped after the references, or a spill file */
  scan->rc = collect_strings(b, addr_in_file, hashes, &hash_count, scan->large, &scan->large_count);
  string_hash *spare = NULL, *sorted;
  if (scan->rc == DS_OK && hash_count > 1) {
    if ((sorted = sort_hashes(hashes, hash_count, &spare)))
      group_duplicates(b, sorted, hash_count, scan->top, &scan->top_count);
    else
      scan->rc = DS_E_NOMEM;
  }
  free(hashes);
  free(spare);
  /* read through once: the few later reads fault pages back in (collect_strings released all
   * but the last step's already) */
  if (addr_in_file)
    ds_index_writer_release(b->addr.items, b->n * 8);
  return NULL;
}

ds_status ds__start_strings(ds__build *b, ds_error *err) {
  if (!(b->string_scan = calloc(1, sizeof *b->string_scan)))
    return ds_error_set(err, DS_E_NOMEM, "out of memory scanning strings");
  ds__side_start(&b->string_scan->side, scan_strings, b);
  return DS_OK; /* when no thread starts, ds__check_strings scans here */
}

void ds__join_strings(ds__build *b) {
  if (b->string_scan)
    ds__side_join(&b->string_scan->side);
}

void ds__string_scan_free(ds__build *b) {
  ds__join_strings(b);
  free(b->string_scan);
  b->string_scan = NULL;
}

ds_status ds__check_strings(ds__build *b, ds_error *err) {
  ds_status rc;
  if (!b->string_scan && (rc = ds__start_strings(b, err)) != DS_OK)
    return rc;
  ds__string_scan *scan = b->string_scan;
  if (scan->side.started) {
    double t = ds__now_ms();
    ds__join_strings(b);
    b->strings_wait_ms = ds__now_ms() - t; /* not the findings' own time (findings.c) */
  }
  else
    scan_strings(b);
  if (scan->rc != DS_OK)
    return ds_error_set(err, scan->rc, "out of memory hashing strings");
  if ((rc = large_strings(b, scan->large, scan->large_count, err)) == DS_OK)
    rc = duplicate_strings(b, scan->top, scan->top_count, err);
  return rc;
}
