/*
 * findings.c: the findings phase of the index build (phase 10) and what every finding shares.
 *
 * A finding is what a support engineer should read first, graded as DebugDiag grades them (error,
 * warning, information, notification), with a one-line title, a description that carries the
 * numbers, a recommendation, the threshold it compared against, and evidence: the types, objects
 * and threads it is about. The lock findings are made by the wait graph (waitgraph.c); this phase
 * adds the heap's (findings_heap.c: finalization, HttpClient, application types, fragmentation,
 * pinned handles, exceptions; findings_strings.c: large and duplicate strings; suspects.c: leak
 * suspects from the dominator tree), gathers the
 * report's facts, and writes the findings, evidence, settings and report sections.
 *
 * Every threshold comes from the settings table (findings.h) through ds__setting; none is
 * written here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/limits.h"

#include "analyzeint.h"

#define MAX_FINDINGS 4096u       /* findings of one dump (each check adds a few at most) */
#define MAX_EVIDENCE (1u << 20)  /* evidence records of one dump */

ds_index_finding ds__no_details(void) {
  return (ds_index_finding){.details = DS_FINDING_NONE, .ref = UINT32_MAX, .object = UINT32_MAX, .holder = UINT32_MAX};
}

double ds__setting(const ds__build *b, ds_setting_id id) { return b->settings.value[id]; }

ds_status ds__push_evidence(ds__build *b, ds_evidence_kind kind, uint32_t ref, uint32_t label, uint64_t count,
                            uint64_t bytes, ds_error *err) {
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->evidence, ((ds_index_evidence){kind, ref, label, 0, count, bytes}), MAX_EVIDENCE, rc);
  return rc == DS_OK ? DS_OK : ds__vec_error(err, rc, "evidence records", MAX_EVIDENCE, "findings.c");
}

ds_status ds__add_finding(ds__build *b, const ds__finding_text *text, ds_index_finding details, size_t evidence_mark,
                          ds_error *err) {
  details.severity = ds__intern(b, text->severity);
  details.code = ds__intern(b, text->code);
  details.title = ds_strpool_add(&b->pool, text->title);
  details.description = ds_strpool_add(&b->pool, text->description);
  details.recommendation = ds__intern(b, text->recommendation);
  const ds_setting_info *setting = text->setting >= 0 ? ds_setting_at((size_t)text->setting) : NULL;
  details.setting = setting ? ds__intern(b, setting->name) : 0;
  if (evidence_mark > b->evidence.count)
    evidence_mark = b->evidence.count;
  details.first_evidence = (uint32_t)evidence_mark;
  details.evidence_count = (uint32_t)(b->evidence.count - evidence_mark);
  ds_status rc = DS_OK;
  DS__VEC_PUSH(b->findings, details, MAX_FINDINGS, rc);
  return rc == DS_OK ? DS_OK : ds__vec_error(err, rc, "findings", MAX_FINDINGS, "findings.c");
}

bool ds__is_app_type(const char *name) {
  static const char *const framework[] = {"System.", "Microsoft.", "Internal.", "Interop", "FxResources.",
                                          "Windows.", "Mono.", "<", "Free", NULL};
  if (!name || !*name)
    return false;
  for (const char *const *p = framework; *p; p++)
    if (strncmp(name, *p, strlen(*p)) == 0)
      return false;
  return true;
}

const char *ds__human_bytes(uint64_t bytes, char *out, size_t out_len) {
  static const char *const units[] = {"bytes", "KB", "MB", "GB", "TB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof units / sizeof *units) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(out, out_len, "%llu bytes", (unsigned long long)bytes);
  else
    snprintf(out, out_len, "%.1f %s", v, units[u]);
  return out;
}

const char *ds__grouped(uint64_t v, char *out, size_t out_len) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
  size_t o = 0;
  for (int i = 0; i < n && o + 2 < out_len; i++) {
    if (i && (n - i) % 3 == 0)
      out[o++] = ',';
    out[o++] = digits[i];
  }
  out[o] = '\0';
  return out;
}

/* ---- facts of the dump ------------------------------------------------------------------------ */

/* A full dump (createdump -u) carries the module images; a heap dump (-h) only the memory the
 * process wrote, plus a module's headers and written data pages. Pages sampled across
 * libcoreclr.so's mappings tell them apart: a full dump holds them all. A core that createdump
 * did not write (kernel, gcore) is a "core". */
static ds_dump_kind dump_kind(const ds__build *b) {
  enum { SAMPLES = 32 };
  if (!ds_dump_is_createdump(b->a->dump))
    return DS_DUMP_KIND_CORE; /* (no DIAGINFOHEADER page: the kernel's or gdb's) */
  const ds_module *coreclr = ds_dump_find_module(b->a->dump, "libcoreclr.so");
  if (!coreclr || coreclr->end <= coreclr->base)
    return DS_DUMP_KIND_UNKNOWN;
  unsigned present = 0;
  for (unsigned k = 0; k < SAMPLES; k++) {
    uint64_t at = (coreclr->base + (coreclr->end - coreclr->base) / SAMPLES * k) & ~(uint64_t)4095, offset;
    present += ds_dump_file_offset(b->a->dump, at < coreclr->base ? coreclr->base : at, &offset);
  }
  return present == SAMPLES ? DS_DUMP_KIND_FULL : DS_DUMP_KIND_HEAP;
}

/* Committed and used bytes of the GC's memory: each segment or region once (the parts of a split
 * ephemeral segment share their descriptor). */
static void memory_facts(ds__build *b) {
  uint64_t last_descriptor = 0;
  for (size_t si = 0; si < ds_heap_segment_count(b->heap); si++) {
    const ds_segment *s = ds_heap_segment(b->heap, si);
    if (s->end > s->start)
      b->report.used_bytes += s->end - s->start;
    if (s->descriptor == last_descriptor && si > 0)
      continue;
    last_descriptor = s->descriptor;
    if (s->committed > s->start)
      b->report.committed_bytes += s->committed - s->start;
  }
}

/* The dump was taken while a GC planned, relocated or compacted (the runtime's GC structures were
 * invalid): the build skipped the heap walk (build.c), so the report says what it lacks and why. */
static ds_status check_gc_in_progress(ds__build *b, ds_error *err) {
  if (ds_heap_gc_info(b->heap)->structures_valid)
    return DS_OK;
  b->report.gc_in_progress = 1;
  ds__finding_text text = {
      .severity = DS_SEVERITY_WARNING, .code = "gc-in-progress", .title = "Dump taken during a garbage collection",
      .description = "The GC's structures were not valid when the dump was taken (a collection was planning, "
                     "relocating or compacting): objects were moving, so the heap cannot be walked and this analysis "
                     "has no objects, types, references, retained sizes, strings or heap findings. Threads, stacks, "
                     "handles, sync-block locks and deadlocks come from the runtime without the heap and are shown.",
      .recommendation = "Take another dump; if dumps keep landing inside a GC, the process spends much of its "
                        "time collecting (check allocation rates and gen 2 collections).",
      .setting = -1};
  return ds__add_finding(b, &text, ds__no_details(), b->evidence.count, err);
}

/* ---- the phase -------------------------------------------------------------------------------- */

ds_status ds__build_findings(ds__build *b, ds_error *err) {
  double t0 = ds__now_ms();
  b->report.dump_kind = dump_kind(b);
  memory_facts(b);
  ds_status rc;
  if ((rc = check_gc_in_progress(b, err)) != DS_OK || (rc = ds__check_finalization(b, err)) != DS_OK ||
      (rc = ds__check_http_clients(b, err)) != DS_OK || (rc = ds__check_app_share(b, err)) != DS_OK ||
      (rc = ds__check_fragmentation(b, err)) != DS_OK || (rc = ds__check_pinned_handles(b, err)) != DS_OK ||
      (rc = ds__check_exceptions(b, err)) != DS_OK || (rc = ds__check_strings(b, err)) != DS_OK)
    return rc;
  b->report.findings_ms = ds__now_ms() - t0 - b->strings_wait_ms; /* the scan's thread is timed apart */
  return DS_OK;
}

ds_status ds__build_suspects(ds__build *b, ds_error *err) {
  double t0 = ds__now_ms();
  ds_status rc;
  if ((rc = ds__check_leak_suspects(b, err)) != DS_OK || (rc = ds__join_dominators(b, err)) != DS_OK)
    return rc;
  ds_index_setting used[DS_SET_COUNT_];
  for (size_t i = 0; i < DS_SET_COUNT_; i++)
    used[i] = (ds_index_setting){ds__intern(b, ds_setting_at(i)->name), 0, b->settings.value[i]};
  b->report.findings_ms += ds__now_ms() - t0;
  b->stats->findings_ms = b->report.findings_ms;
  struct { ds_section_id id; const void *data; uint64_t size; } secs[] = {
      {DS_SEC_FINDINGS, b->findings.items, b->findings.count * sizeof *b->findings.items},
      {DS_SEC_EVIDENCE, b->evidence.items, b->evidence.count * sizeof *b->evidence.items},
      {DS_SEC_SETTINGS, used, sizeof used},
      {DS_SEC_REPORT, &b->report, sizeof b->report},
      {DS_SEC_SUSPECTS, b->suspects.items, b->suspects.count * sizeof *b->suspects.items},
  };
  double t_write = ds__now_ms();
  for (size_t s = 0; s < sizeof secs / sizeof *secs; s++)
    if ((rc = ds_index_writer_add(b->w, secs[s].id, secs[s].data ? secs[s].data : "", secs[s].size, err)) != DS_OK)
      return rc;
  b->stats->write_ms += ds__now_ms() - t_write;
  return DS_OK;
}
