/*
 * writeback.c: how the index build hands its sections to the index writer (analyzeint.h):
 * written and mapped back at once (ds__write_mapped), or queued to a writer thread that writes
 * them while the phases go on, putting the file's pages in place of the arrays it wrote
 * (ds__write_behind).
 */
#include <pthread.h>
#include <stdlib.h>

#include "analyzeint.h"

ds_status ds__write_mapped(ds__build *b, ds_section_id id, void **data, uint64_t size, ds_error *err) {
  const void *map = ds_index_writer_add_mapped(b->w, id, *data ? *data : "", size, err);
  if (!map)
    return err->code;
  ds__spill_free(b, *data);
  *data = (void *)map; /* read-only from here on: nothing writes these arrays after their phase */
  return DS_OK;
}

enum { WQ_MAX = 24 }; /* sections written behind in one build (eleven today) */

typedef struct wq_entry {
  ds_section_id id;
  void *data;
  uint64_t size;
  unsigned flags;            /* DS__WB_* */
  bool done, in_place;
} wq_entry;

typedef struct ds__write_queue {
  ds__side_thread side;
  pthread_mutex_t lock;
  pthread_cond_t cond;       /* an entry queued, an entry written, or stop */
  ds__build *b;
  wq_entry e[WQ_MAX];
  size_t count, next;        /* entries queued; the next one to write */
  bool stop;                 /* the build ends: what is left is not written */
  ds_status rc;              /* the first failure: later entries are not written */
  ds_error err;
  double ms;
} ds__write_queue;

static void write_entry(ds__build *b, wq_entry *e, ds_status *rc, ds_error *err) {
  if (*rc != DS_OK)
    return;
  if ((e->flags & DS__WB_IN_PLACE) && e->data && e->size && !((uintptr_t)e->data & 4095)) {
    if ((*rc = ds_index_writer_add_in_place(b->w, e->id, e->data, e->size, err)) == DS_OK) {
      e->in_place = true;
      if (e->flags & DS__WB_RELEASE)
        ds_index_writer_release(e->data, e->size);
    }
  } else if ((e->flags & DS__WB_DIRECT) && e->data) {
    *rc = ds_index_writer_add_direct(b->w, e->id, e->data, e->size, err);
  } else {
    *rc = ds_index_writer_add(b->w, e->id, e->data ? e->data : "", e->size, err);
  }
}

static void *write_queue_run(void *p) {
  ds__write_queue *q = p;
  pthread_mutex_lock(&q->lock);
  for (;;) {
    while (q->next == q->count && !q->stop)
      pthread_cond_wait(&q->cond, &q->lock);
    if (q->next == q->count)
      break;
    wq_entry *e = &q->e[q->next];
    ds_status rc = q->stop ? DS_E_ARG : q->rc; /* stopped: skipped, not failed */
    ds_error err = {0};
    pthread_mutex_unlock(&q->lock);
    double t = ds__now_ms();
    write_entry(q->b, e, &rc, &err);
    pthread_mutex_lock(&q->lock);
    q->ms += ds__now_ms() - t;
    if (rc != DS_OK && q->rc == DS_OK && !q->stop)
      q->rc = rc, q->err = err;
    e->done = true;
    q->next++;
    pthread_cond_broadcast(&q->cond);
  }
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

void ds__write_behind_start(ds__build *b) {
  if (b->wq)
    return;
  ds__write_queue *q = calloc(1, sizeof *q);
  if (!q)
    return;
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->cond, NULL);
  q->b = b;
  ds__side_start(&q->side, write_queue_run, q); /* no thread: entries are written as they come */
  b->wq = q;
}

ds_status ds__write_behind(ds__build *b, ds_section_id id, void *data, uint64_t size, unsigned flags, ds_error *err) {
  wq_entry one = {.id = id, .data = data, .size = size, .flags = b->budget ? 0 : flags};
  ds__write_queue *q = b->wq;
  if (!q) { /* under a memory budget the arrays are spill files, written at once as they are (so
             * without a queue, which only the object sections start) */
    ds_status rc = DS_OK;
    write_entry(b, &one, &rc, err);
    return rc;
  }
  pthread_mutex_lock(&q->lock);
  ds_status rc = q->rc;
  if (rc != DS_OK) {
    *err = q->err;
  } else if (q->count == WQ_MAX) {
    rc = ds_error_set(err, DS_E_LIMIT, "more than %d sections written behind", WQ_MAX);
  } else {
    wq_entry *e = &q->e[q->count++];
    *e = one;
    if (!q->side.started) { /* no thread: here and now */
      write_entry(b, e, &rc, err);
      e->done = true;
      q->next = q->count;
      if (rc != DS_OK)
        q->rc = rc, q->err = *err;
    }
    pthread_cond_broadcast(&q->cond);
  }
  pthread_mutex_unlock(&q->lock);
  return rc;
}

/* The last entry queued for the array at data, once written (NULL: none). q->lock held. */
static wq_entry *written_entry(ds__write_queue *q, const void *data) {
  wq_entry *e = NULL;
  for (size_t k = 0; k < q->count; k++)
    if (q->e[k].data == data)
      e = &q->e[k];
  while (e && !e->done)
    pthread_cond_wait(&q->cond, &q->lock);
  return e;
}

bool ds__written_in_place(ds__build *b, const void *data) {
  ds__write_queue *q = b->wq;
  if (!q || !data)
    return false;
  pthread_mutex_lock(&q->lock);
  wq_entry *e = written_entry(q, data);
  bool in_place = e && e->in_place;
  pthread_mutex_unlock(&q->lock);
  return in_place;
}

bool ds__swap_for_section(ds__build *b, ds_section_id id, void **data, uint64_t size, unsigned mapped) {
  ds__write_queue *q = b->wq;
  if (!q || !*data || b->budget)
    return false;
  pthread_mutex_lock(&q->lock);
  wq_entry *e = written_entry(q, *data);
  bool written = e && e->id == id && !e->in_place && q->rc == DS_OK;
  pthread_mutex_unlock(&q->lock);
  uint64_t got = 0;
  ds_error ignore = {0};
  const void *map = written ? ds_index_writer_map_section(b->w, id, &got, &ignore) : NULL;
  if (!map || got != size)
    return false; /* the array stays as it is */
  ds__spill_recycle(b, *data, size);
  *data = (void *)map;
  b->mapped |= mapped;
  return true;
}

ds_status ds__write_behind_drain(ds__build *b, ds_error *err) {
  ds__write_queue *q = b->wq;
  if (!q)
    return DS_OK;
  pthread_mutex_lock(&q->lock);
  while (q->next < q->count)
    pthread_cond_wait(&q->cond, &q->lock);
  ds_status rc = q->rc;
  if (rc != DS_OK)
    *err = q->err;
  b->stats->write_ms += q->ms;
  q->ms = 0;
  pthread_mutex_unlock(&q->lock);
  return rc;
}

/* The build's end, on any path: what was not written yet is left, and the thread stops. */
void ds__write_behind_stop(ds__build *b) {
  ds__write_queue *q = b->wq;
  if (!q)
    return;
  pthread_mutex_lock(&q->lock);
  q->stop = true;
  pthread_cond_broadcast(&q->cond);
  pthread_mutex_unlock(&q->lock);
  ds__side_join(&q->side);
  pthread_cond_destroy(&q->cond);
  pthread_mutex_destroy(&q->lock);
  free(q);
  b->wq = NULL;
}

