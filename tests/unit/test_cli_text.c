/*
 * test_cli_text.c: the CLI's text output (what a support engineer reads), not only --json,
 * against golden lines derived from the scenario truth: heapstat and gen rows (count and size in
 * their columns), the generation of the gen 0 / gen 1 markers, a root path ending at a marker,
 * every truth thread's row, every deadlock member's line, every waiter's line, the monitors of
 * `locks`, and the deadlock findings. The lines are built from the truth, never copied from our
 * own output.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clirun.h"
#include "fixture.h"

static ds_fixture *fixture_named(const char *process, const char *name) {
  ds_fixture *fx;
  size_t n = ds_fixtures(process, &fx);
  CU_ASSERT_FATAL(n > 0);
  for (size_t i = 0; i < n; i++)
    if (strcmp(fx[i].name, name) == 0)
      return &fx[i];
  CU_FAIL_FATAL("fixture missing");
  return NULL;
}

/* Builds (once per fixture) an index in the scratch folder; returns its path. */
static const char *index_of(ds_fixture *f) {
  static char paths[8][512];
  static const ds_fixture *owners[8];
  for (size_t i = 0; i < 8; i++) {
    if (owners[i] == f)
      return paths[i];
    if (!owners[i]) {
      snprintf(paths[i], sizeof paths[i], "%s/%s.text.dsindex", ds_test_tmpdir(), f->name);
      char args[8192];
      snprintf(args, sizeof args, "index '%s' --index '%s'", f->dump, paths[i]);
      int code = -1;
      json_t *j = run_cli(args, &code);
      CU_ASSERT_EQUAL_FATAL(code, 0);
      json_decref(j);
      owners[i] = f;
      return paths[i];
    }
  }
  CU_FAIL_FATAL("too many indexes");
  return NULL;
}

/* Runs `COMMAND DUMP REST` (with the fixture's index when indexed) as text; exit status 0. */
static char *text_of(ds_fixture *f, bool indexed, const char *command, const char *rest) {
  char args[9000];
  if (indexed)
    snprintf(args, sizeof args, "%s '%s' %s --index '%s'", command, f->dump, rest, index_of(f));
  else
    snprintf(args, sizeof args, "%s '%s' %s", command, f->dump, rest);
  int code = -1;
  char *text = run_cli_text(args, &code);
  CU_ASSERT_EQUAL(code, 0);
  return text;
}

/* True when text has a line equal to the formatted one. */
static bool has_line(const char *text, const char *fmt, ...) {
  char want[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(want, sizeof want, fmt, ap);
  va_end(ap);
  size_t len = strlen(want);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, want, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
      return true;
  fprintf(stderr, "no line \"%s\"\n", want);
  return false;
}

/* Count and size of a histogram row (MT, Count, TotalSize, Class Name) naming `type`. */
static bool histogram_row(const char *text, const char *type, unsigned long long *count, unsigned long long *size) {
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
    char mt[40], name[512];
    unsigned long long c, s;
    if (sscanf(p, "%39s %llu %llu %511[^\n]", mt, &c, &s, name) == 4 && strncmp(mt, "0x", 2) == 0 &&
        strcmp(name, type) == 0) {
      *count = c;
      *size = s;
      return true;
    }
  }
  return false;
}

static size_t count_lines_starting(const char *text, const char *prefix) {
  size_t n = 0, len = strlen(prefix);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    n += strncmp(p, prefix, len) == 0;
  return n;
}

/* "thread OS (managed ID)" of a truth thread. */
static const char *thread_ref(json_t *truth, const char *name, char *out, size_t len) {
  json_t *t = named(json_object_get(truth, "threads"), name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  snprintf(out, len, "thread %lld (managed %lld)", (long long)json_integer_value(json_object_get(t, "os_id")),
           (long long)json_integer_value(json_object_get(t, "managed_id")));
  return out;
}

/* How a wait on a truth lock reads: "monitor 0x... Scenarios.LockObject held by thread ...";
 * the kinds named for the call the thread made read as the product names them ("countdown event",
 * "thread join", as test_locks checks in JSON). */
static const char *wait_text(json_t *truth, json_t *lock, char *out, size_t len) {
  const char *kind = json_string_value(json_object_get(lock, "kind"));
  char kind_text[64];
  if (strcmp(kind, "rwlock") == 0)
    snprintf(kind_text, sizeof kind_text, "reader-writer lock (%s)", json_string_value(json_object_get(lock, "wait_mode")));
  else
    snprintf(kind_text, sizeof kind_text, "%s",
             strcmp(kind, "countdown") == 0 ? "countdown event" : strcmp(kind, "join") == 0 ? "thread join" : kind);
  const char *holder = json_string_value(json_object_get(lock, "held_by"));
  char held[96] = "";
  if (holder) {
    char ref[64];
    snprintf(held, sizeof held, " held by %s", thread_ref(truth, holder, ref, sizeof ref));
  }
  snprintf(out, len, "%s %s %s%s", kind_text, json_string_value(json_object_get(lock, "address")),
           json_string_value(json_object_get(lock, "type")), held);
  return out;
}

static json_t *lock_held_by(json_t *truth, const char *thread) {
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(truth, "locks"), i, l) {
    const char *h = json_string_value(json_object_get(l, "held_by"));
    if (h && strcmp(h, thread) == 0)
      return l;
  }
  return NULL;
}

static json_t *lock_waited_by(json_t *truth, const char *thread) {
  size_t i, k;
  json_t *l, *w;
  json_array_foreach(json_object_get(truth, "locks"), i, l)
    json_array_foreach(json_object_get(l, "waiters"), k, w)
      if (strcmp(json_string_value(w), thread) == 0)
        return l;
  return NULL;
}

/* heapstat (the DAC walk) and gen (the index): each truth type's row has the truth's count in
 * the Count column and its total size in the TotalSize column. */
static void test_histogram_text(void) {
  ds_fixture *f = fixture_named("main", "main-wks-heap");
  char *walk = text_of(f, false, "heapstat", "--type Scenarios.");
  const char *name;
  json_t *t;
  size_t checked = 0;
  json_object_foreach(json_object_get(f->truth, "types"), name, t) {
    unsigned long long count = 0, size = 0;
    bool found = histogram_row(walk, name, &count, &size);
    if (!found)
      fprintf(stderr, "heapstat: no row for %s\n", name);
    CU_ASSERT(found);
    CU_ASSERT_EQUAL((json_int_t)count, json_integer_value(json_object_get(t, "count")));
    CU_ASSERT_EQUAL((json_int_t)size, json_integer_value(json_object_get(t, "total_size")));
    checked++;
  }
  CU_ASSERT(checked > 5);
  free(walk);

  json_t *customer = json_object_get(json_object_get(f->truth, "types"), "Scenarios.Customer");
  char *gen = text_of(f, true, "gen", "2 --type Scenarios.Customer --exact");
  unsigned long long count = 0, size = 0;
  CU_ASSERT(histogram_row(gen, "Scenarios.Customer", &count, &size));
  CU_ASSERT_EQUAL((json_int_t)count, json_integer_value(json_object_get(customer, "count")));
  CU_ASSERT_EQUAL((json_int_t)size, json_integer_value(json_object_get(customer, "total_size")));
  CU_ASSERT(has_line(gen, "Total %lld objects, %lld bytes", (long long)json_integer_value(json_object_get(customer, "count")),
                     (long long)json_integer_value(json_object_get(customer, "total_size"))));
  free(gen);
}

/* gen 0 and gen 1: the young markers' types are listed in exactly their generation, with the
 * number of markers the truth places there. */
static void test_young_generations_text(void) {
  ds_fixture *f = fixture_named("locks", "locks-wks-heap");
  static const char *const types[] = {"Scenarios.YoungGen0Marker", "Scenarios.YoungGen1Marker"};
  size_t seen = 0;
  for (int g = 0; g <= 1; g++)
    for (size_t k = 0; k < 2; k++) {
      long long want = 0, want_size = 0;
      size_t i;
      json_t *m;
      json_array_foreach(json_object_get(f->truth, "markers"), i, m)
        if (strcmp(json_string_value(json_object_get(m, "type")), types[k]) == 0 &&
            json_integer_value(json_object_get(m, "generation")) == g) {
          want++;
          want_size += json_integer_value(json_object_get(m, "size"));
        }
      seen += (size_t)want;
      char rest[128];
      snprintf(rest, sizeof rest, "%d --type %s --exact", g, types[k]);
      char *text = text_of(f, true, "gen", rest);
      unsigned long long count = 0, size = 0;
      bool row = histogram_row(text, types[k], &count, &size);
      CU_ASSERT_EQUAL(row, want > 0);
      CU_ASSERT_EQUAL((long long)count, want);
      CU_ASSERT_EQUAL((long long)size, want_size);
      free(text);
    }
  CU_ASSERT(seen >= 2);
}

/* roots: the path ends at the marker, shown with the truth's type and size. */
static void test_roots_text(void) {
  ds_fixture *f = fixture_named("main", "main-wks-heap");
  static const char *const markers[] = {"invoice.first", "customer.first", "poh.array"};
  for (size_t k = 0; k < sizeof markers / sizeof *markers; k++) {
    size_t i;
    json_t *m, *marker = NULL;
    json_array_foreach(json_object_get(f->truth, "markers"), i, m)
      if (strcmp(json_string_value(json_object_get(m, "name")), markers[k]) == 0)
        marker = m;
    CU_ASSERT_PTR_NOT_NULL_FATAL(marker);
    const char *addr = json_string_value(json_object_get(marker, "address"));
    char *text = text_of(f, true, "roots", addr);
    CU_ASSERT(count_lines_starting(text, "Root: ") >= 1);
    CU_ASSERT(has_line(text, "  -> %s %s (%lld bytes)", addr, json_string_value(json_object_get(marker, "type")),
                       (long long)json_integer_value(json_object_get(marker, "size"))));
    free(text);
  }
}

/* threads, deadlocks, waits, locks and findings of the locks process. */
static void test_threads_and_locks_text(void) {
  ds_fixture *f = fixture_named("locks", "locks-wks-heap");
  json_t *truth = f->truth;
  char ref[96], ref2[64], wait[512];
  size_t i, k;
  json_t *t, *l, *w, *cycle;

  char *text = text_of(f, true, "threads", "");
  json_array_foreach(json_object_get(truth, "threads"), i, t) {
    long long os = json_integer_value(json_object_get(t, "os_id")), mid = json_integer_value(json_object_get(t, "managed_id"));
    bool found = false;
    for (const char *p = text; p && *p && !found; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
      long long a, b;
      found = sscanf(p, "%lld %lld", &a, &b) == 2 && a == os && b == mid;
    }
    if (!found)
      fprintf(stderr, "threads: no row for %lld (managed %lld)\n", os, mid);
    CU_ASSERT(found);
  }
  CU_ASSERT(json_array_size(json_object_get(truth, "threads")) > 10);
  free(text);

  json_t *deadlocks = json_object_get(truth, "deadlocks");
  CU_ASSERT_FATAL(json_array_size(deadlocks) > 0);
  text = text_of(f, true, "deadlocks", "");
  CU_ASSERT(has_line(text, "%zu deadlock(s)", json_array_size(deadlocks)));
  CU_ASSERT_EQUAL(count_lines_starting(text, "Deadlock "), json_array_size(deadlocks));
  json_array_foreach(deadlocks, i, cycle)
    json_array_foreach(cycle, k, w) {
      const char *member = json_string_value(w);
      json_t *holds = lock_held_by(truth, member), *wants = lock_waited_by(truth, member);
      CU_ASSERT_PTR_NOT_NULL_FATAL(holds);
      CU_ASSERT_PTR_NOT_NULL_FATAL(wants);
      CU_ASSERT(has_line(text, "  %s holds %s %s, waits on %s", thread_ref(truth, member, ref, sizeof ref),
                         json_string_value(json_object_get(holds, "address")),
                         json_string_value(json_object_get(holds, "type")), wait_text(truth, wants, wait, sizeof wait)));
    }
  free(text);

  text = text_of(f, true, "waits", "");
  size_t waiters = 0;
  json_array_foreach(json_object_get(truth, "locks"), i, l)
    json_array_foreach(json_object_get(l, "waiters"), k, w) {
      CU_ASSERT(has_line(text, "%s: waits on %s", thread_ref(truth, json_string_value(w), ref, sizeof ref),
                         wait_text(truth, l, wait, sizeof wait)));
      waiters++;
    }
  CU_ASSERT(waiters > 10);
  free(text);

  /* every held monitor, Lock and reader-writer lock: its row names the type and the holder (a
     reader-writer lock's writer as "writer: thread ...") */
  text = text_of(f, true, "locks", "");
  size_t monitors = 0, rwlocks = 0;
  json_array_foreach(json_object_get(truth, "locks"), i, l) {
    const char *holder = json_string_value(json_object_get(l, "held_by"));
    const char *kind = json_string_value(json_object_get(l, "kind"));
    if (!holder || (strcmp(kind, "monitor") != 0 && strcmp(kind, "lock") != 0 && strcmp(kind, "rwlock") != 0))
      continue;
    const char *addr = json_string_value(json_object_get(l, "address"));
    bool found = false;
    thread_ref(truth, holder, ref2, sizeof ref2);
    snprintf(ref, sizeof ref, "%s%s", strcmp(kind, "rwlock") == 0 ? "writer: " : "", ref2);
    rwlocks += strcmp(kind, "rwlock") == 0;
    for (const char *p = text; p && *p && !found; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
      const char *eol = strchr(p, '\n');
      size_t len = eol ? (size_t)(eol - p) : strlen(p);
      char line[1024];
      snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
      found = strncmp(line, addr, strlen(addr)) == 0 && line[strlen(addr)] == ' ' && strstr(line, ref) &&
              strstr(line, json_string_value(json_object_get(l, "type")));
    }
    if (!found)
      fprintf(stderr, "locks: no row for %s held by %s\n", addr, ref);
    CU_ASSERT(found);
    monitors++;
  }
  CU_ASSERT(monitors > 5);
  CU_ASSERT(rwlocks > 0);
  free(text);

  /* findings: one Deadlock finding per cycle, naming its members */
  text = text_of(f, true, "findings", "");
  CU_ASSERT_EQUAL(count_lines_starting(text, "[ERROR] Deadlock"), json_array_size(deadlocks));
  json_array_foreach(deadlocks, i, cycle)
    json_array_foreach(cycle, k, w)
      CU_ASSERT(has_line(text, "      %s", thread_ref(truth, json_string_value(w), ref2, sizeof ref2)));
  free(text);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("cli text", NULL, NULL);
  CU_add_test(s, "heapstat and gen rows: count and size columns equal the truth", test_histogram_text);
  CU_add_test(s, "gen 0 and gen 1 list the young markers in their own generation", test_young_generations_text);
  CU_add_test(s, "roots ends at the marker with its type and size", test_roots_text);
  CU_add_test(s, "threads, deadlocks, waits, locks and findings lines from the truth", test_threads_and_locks_text);
  return ds_test_main();
}
