/*
 * apiint.h: api/'s private declarations: the text renderers the resource table points at.
 */
#ifndef DUMPSCOPE_API_INT_H
#define DUMPSCOPE_API_INT_H

#include <jansson.h>
#include <stdio.h>

void ds_api_render_stats(json_t *doc, FILE *out);
void ds_api_render_objects(json_t *doc, FILE *out);
void ds_api_render_refs(json_t *doc, FILE *out);
void ds_api_render_roots(json_t *doc, FILE *out);
void ds_api_render_threads(json_t *doc, FILE *out);
void ds_api_render_stack(json_t *doc, FILE *out);
void ds_api_render_waits(json_t *doc, FILE *out);
void ds_api_render_deadlocks(json_t *doc, FILE *out);
void ds_api_render_findings(json_t *doc, FILE *out);
/* One finding as text (render_report.c): severity, title, description, recommendation, evidence. */
void ds_api_render_finding(json_t *finding, FILE *out);
/* The report as text, laid out like MAT's batch report (render_report.c). */
void ds_api_render_report(json_t *doc, FILE *out);
/* The dominator tree listing as text (render_report.c). */
void ds_api_render_dominators(json_t *doc, FILE *out);
/* A dump comparison as text (render_report.c). */
void ds_api_render_diff(json_t *doc, FILE *out);
void ds_api_render_summary(json_t *doc, FILE *out);
void ds_api_render_locks(json_t *doc, FILE *out);
void ds_api_render_handles(json_t *doc, FILE *out);
void ds_api_render_finalizer(json_t *doc, FILE *out);
void ds_api_render_fragmentation(json_t *doc, FILE *out);
void ds_api_render_strings(json_t *doc, FILE *out);

/* sosex.c: the rest of the SOSEX reference */
#include "api.h"
ds_status ds_api_h_memory(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
void ds_api_render_memory(json_t *doc, FILE *out);
ds_status ds_api_h_mdt(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
void ds_api_render_mdt(json_t *doc, FILE *out);
ds_status ds_api_h_search(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
/* SOSEX -d: runs query; with details=true adds {stacks: [{os_id, managed_id, frames}]} for every
 * thread the document names (any object member "os_id"). */
ds_status ds_api_with_stacks(ds_query *q, const ds_api_args *args,
                             ds_status (*query)(ds_query *, json_t **, ds_error *), json_t **out, ds_error *err);
void ds_api_render_locks_details(json_t *doc, FILE *out);
void ds_api_render_waits_details(json_t *doc, FILE *out);
void ds_api_render_deadlocks_details(json_t *doc, FILE *out);
/* strings: a module's literals (module=NAME), else the heap's strings (ds_api_render_strings). */
void ds_api_render_module_strings(json_t *doc, FILE *out);
ds_status ds_api_h_frames(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
/* mu / muf (disasm.c) */
ds_status ds_api_h_mu(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
ds_status ds_api_h_muf(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
void ds_api_render_disasm(json_t *doc, FILE *out);
ds_status ds_api_h_mixed(ds_query *q, const ds_api_args *args, json_t **out, ds_error *err);
void ds_api_render_mixed(json_t *doc, FILE *out);
void ds_api_render_frames(json_t *doc, FILE *out);
void ds_api_render_search(json_t *doc, FILE *out);

#endif
