/*
 * metrics.c: counters and histograms behind one mutex, rendered as Prometheus text.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double analysis_buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
#define LATENCY_BUCKETS (sizeof latency_buckets / sizeof *latency_buckets)
#define ANALYSIS_BUCKETS (sizeof analysis_buckets / sizeof *analysis_buckets)

typedef struct request_series {
  char route[96];
  char method[8];
  unsigned status;
  uint64_t count;
} request_series;

typedef struct latency_series {
  char route[96];
  uint64_t buckets[LATENCY_BUCKETS];
  uint64_t count;
  double sum;
} latency_series;

static struct {
  pthread_mutex_t lock;
  request_series requests[DS_METRICS_MAX_SERIES];
  size_t request_count;
  latency_series latency[DS_METRICS_MAX_SERIES / 4];
  size_t latency_count;
  uint64_t analysis_buckets[ANALYSIS_BUCKETS];
  uint64_t analysis_count, analysis_failed;
  double analysis_sum;
  uint64_t ingest_bytes, ingest_ok, ingest_failed;
  uint64_t evictions, evicted_bytes;
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

void ds_metrics_request(const char *route, const char *method, unsigned status, double seconds) {
  pthread_mutex_lock(&m.lock);
  size_t i;
  for (i = 0; i < m.request_count; i++)
    if (m.requests[i].status == status && strcmp(m.requests[i].route, route) == 0 &&
        strcmp(m.requests[i].method, method) == 0)
      break;
  if (i == m.request_count && m.request_count < DS_METRICS_MAX_SERIES) {
    request_series *s = &m.requests[m.request_count++];
    snprintf(s->route, sizeof s->route, "%s", route);
    snprintf(s->method, sizeof s->method, "%s", method);
    s->status = status;
  }
  if (i < m.request_count)
    m.requests[i].count++;
  for (i = 0; i < m.latency_count; i++)
    if (strcmp(m.latency[i].route, route) == 0)
      break;
  if (i == m.latency_count && m.latency_count < sizeof m.latency / sizeof *m.latency)
    snprintf(m.latency[m.latency_count++].route, sizeof m.latency[0].route, "%s", route);
  if (i < m.latency_count) {
    latency_series *l = &m.latency[i];
    for (size_t b = 0; b < LATENCY_BUCKETS; b++)
      if (seconds <= latency_buckets[b])
        l->buckets[b]++;
    l->count++;
    l->sum += seconds;
  }
  pthread_mutex_unlock(&m.lock);
}

void ds_metrics_analysis(bool ok, double seconds) {
  pthread_mutex_lock(&m.lock);
  if (ok) {
    for (size_t b = 0; b < ANALYSIS_BUCKETS; b++)
      if (seconds <= analysis_buckets[b])
        m.analysis_buckets[b]++;
    m.analysis_count++;
    m.analysis_sum += seconds;
  } else {
    m.analysis_failed++;
  }
  pthread_mutex_unlock(&m.lock);
}

void ds_metrics_ingest(uint64_t bytes, bool ok) {
  pthread_mutex_lock(&m.lock);
  m.ingest_bytes += bytes;
  if (ok)
    m.ingest_ok++;
  else
    m.ingest_failed++;
  pthread_mutex_unlock(&m.lock);
}

void ds_metrics_eviction(uint64_t bytes) {
  pthread_mutex_lock(&m.lock);
  m.evictions++;
  m.evicted_bytes += bytes;
  pthread_mutex_unlock(&m.lock);
}

/* A growing text buffer; appends fail quietly once out of memory (render then returns NULL). */
typedef struct text {
  char *data;
  size_t len, cap;
  bool failed;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...) {
  if (t->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->failed = true;
      return;
    }
    if (t->data && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap ? t->cap * 2 : 16384;
    while (cap < t->len + (size_t)n + 1)
      cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
      t->failed = true;
      return;
    }
    t->data = grown;
    t->cap = cap;
  }
}

static void histogram(text *t, const char *name, const char *labels, const double *bounds, size_t n,
                      const uint64_t *buckets, uint64_t count, double sum) {
  for (size_t b = 0; b < n; b++)
    put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "", bounds[b],
        (unsigned long long)buckets[b]);
  put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "", (unsigned long long)count);
  const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
  put(t, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name, open, labels, close, sum, name, open, labels, close,
      (unsigned long long)count);
}

char *ds_metrics_render(ds_store *store) {
  text t = {0};
  uint64_t jobs[4] = {0}, cache_bytes = 0;
  ds_error err;
  bool jobs_ok = ds_store_job_counts(store, jobs, &err) == DS_OK;
  ds_store_artifact *rows = NULL;
  size_t artifacts = 0;
  if (ds_store_artifact_lru(store, &rows, &artifacts, &cache_bytes, &err) != DS_OK)
    artifacts = 0;
  free(rows);
  static const char *const states[] = {"queued", "running", "done", "failed"};
  put(&t, "# HELP dumpscope_jobs Analysis jobs by state.\n# TYPE dumpscope_jobs gauge\n");
  for (size_t i = 0; jobs_ok && i < 4; i++)
    put(&t, "dumpscope_jobs{state=\"%s\"} %llu\n", states[i], (unsigned long long)jobs[i]);
  put(&t, "# HELP dumpscope_queue_length Jobs waiting for a worker.\n# TYPE dumpscope_queue_length gauge\n"
          "dumpscope_queue_length %llu\n", (unsigned long long)jobs[0]);
  put(&t, "# HELP dumpscope_cache_bytes Bytes of heap indexes in the cache.\n# TYPE dumpscope_cache_bytes gauge\n"
          "dumpscope_cache_bytes %llu\n", (unsigned long long)cache_bytes);
  put(&t, "# HELP dumpscope_cache_artifacts Heap indexes in the cache.\n# TYPE dumpscope_cache_artifacts gauge\n"
          "dumpscope_cache_artifacts %zu\n", artifacts);
  pthread_mutex_lock(&m.lock);
  put(&t, "# HELP dumpscope_cache_evictions_total Indexes evicted to keep the cache under its budget.\n"
          "# TYPE dumpscope_cache_evictions_total counter\ndumpscope_cache_evictions_total %llu\n",
      (unsigned long long)m.evictions);
  put(&t, "# HELP dumpscope_cache_evicted_bytes_total Bytes of evicted indexes.\n"
          "# TYPE dumpscope_cache_evicted_bytes_total counter\ndumpscope_cache_evicted_bytes_total %llu\n",
      (unsigned long long)m.evicted_bytes);
  put(&t, "# HELP dumpscope_ingest_bytes_total Bytes of dumps received.\n# TYPE dumpscope_ingest_bytes_total counter\n"
          "dumpscope_ingest_bytes_total %llu\n", (unsigned long long)m.ingest_bytes);
  put(&t, "# HELP dumpscope_ingest_total Dumps received, by result.\n# TYPE dumpscope_ingest_total counter\n"
          "dumpscope_ingest_total{result=\"stored\"} %llu\ndumpscope_ingest_total{result=\"refused\"} %llu\n",
      (unsigned long long)m.ingest_ok, (unsigned long long)m.ingest_failed);
  put(&t, "# HELP dumpscope_analysis_failures_total Analyses that failed.\n"
          "# TYPE dumpscope_analysis_failures_total counter\ndumpscope_analysis_failures_total %llu\n",
      (unsigned long long)m.analysis_failed);
  put(&t, "# HELP dumpscope_analysis_seconds Duration of successful analyses.\n"
          "# TYPE dumpscope_analysis_seconds histogram\n");
  histogram(&t, "dumpscope_analysis_seconds", "", analysis_buckets, ANALYSIS_BUCKETS, m.analysis_buckets,
            m.analysis_count, m.analysis_sum);
  put(&t, "# HELP dumpscope_http_requests_total HTTP requests by route, method and status.\n"
          "# TYPE dumpscope_http_requests_total counter\n");
  for (size_t i = 0; i < m.request_count; i++)
    put(&t, "dumpscope_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n", m.requests[i].route,
        m.requests[i].method, m.requests[i].status, (unsigned long long)m.requests[i].count);
  put(&t, "# HELP dumpscope_http_request_seconds HTTP request latency by route.\n"
          "# TYPE dumpscope_http_request_seconds histogram\n");
  for (size_t i = 0; i < m.latency_count; i++) {
    char labels[128];
    snprintf(labels, sizeof labels, "route=\"%s\"", m.latency[i].route);
    histogram(&t, "dumpscope_http_request_seconds", labels, latency_buckets, LATENCY_BUCKETS, m.latency[i].buckets,
              m.latency[i].count, m.latency[i].sum);
  }
  pthread_mutex_unlock(&m.lock);
  if (t.failed) {
    free(t.data);
    return NULL;
  }
  return t.data;
}
