/*
 * metrics.h: the daemon's counters and histograms, served as Prometheus text (format 0.0.4) on
 * /metrics: requests and latency by route template and status, analysis durations, jobs by
 * state and queue length, cache bytes and evictions, ingest bytes and failures.
 *
 * Recording is thread-safe and cheap (one mutex, fixed tables); labels are route templates
 * ("/dumps/{id}/gen/{gen}"), never request text, so their number stays bounded.
 */
#ifndef DUMPSCOPE_SERVER_METRICS_H
#define DUMPSCOPE_SERVER_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

#define DS_METRICS_MAX_SERIES 512 /* (route, method, status) combinations kept; more are "other" */

void ds_metrics_request(const char *route, const char *method, unsigned status, double seconds);
void ds_metrics_analysis(bool ok, double seconds);
void ds_metrics_ingest(uint64_t bytes, bool ok);
void ds_metrics_eviction(uint64_t bytes);

/* Writes every metric; jobs and cache figures are read from the store now. Returns a malloc'd
 * text (free it), NULL when out of memory. */
char *ds_metrics_render(ds_store *store);

#endif
