/*
 * Work on libuv's thread pool as a future: the answer to "a heavy loop
 * freezes the event loop". The work function runs on a pool thread; its
 * outcome is delivered on the loop's thread.
 */
#include "internal.h"

#include <stdlib.h>

typedef struct {
  uv_work_t req;
  atomic_int cancelled; /* set on the loop thread, read by the worker */
  future_t *f;
  future_work_cb work;
  void *arg;
  void *value;
  future_dtor_cb dtor;
  future_error_t *error;
} work_t;

/* The work running on this pool thread, for future_work_cancelled. */
static _Thread_local work_t *current_work;

static void work_run(uv_work_t *req) {
  work_t *w = req->data;
  uint64_t t0 = FUTURE__TRACING() ? uv_hrtime() : 0;
  current_work = w;
  w->error = w->work(w->arg, &w->value);
  current_work = NULL;
  if (t0 != 0) /* a slice on this pool thread's lane */
    future__trace_pool(w->f, t0, "work");
}

int future_work_cancelled(void) {
  return current_work != NULL && atomic_load(&current_work->cancelled);
}

static void work_done(uv_work_t *req, int status) {
  work_t *w = req->data;
  if (status == UV_ECANCELED) {
    /* Removed from the queue before it ran: the future was cancelled. */
    future_error_unref(w->error);
    future__source_fail(w->f, future__error(UV_ECANCELED, "work"));
  } else if (w->error != NULL) {
    future__source_fail(w->f, w->error);
  } else {
    future__source_fulfil(w->f, w->value, w->dtor);
  }
  future__free(w);
}

static int work_cancel(future_t *f, void *req) {
  work_t *w = req;
  (void)f;
  /* Succeeds only while the work is still queued; either way work_done
   * runs later and releases what the work produced. Work already running
   * can see the flag through future_work_cancelled and stop early. */
  atomic_store(&w->cancelled, 1);
  uv_cancel((uv_req_t *)&w->req);
  return 0;
}

future_t *future_work(uv_loop_t *loop, future_work_cb work, void *arg,
                      future_dtor_cb value_dtor) {
  future__loop_t *lp;
  work_t *w;
  future_t *f;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  if (work == NULL) {
    future__site_t site;
    future__site_get(&site, __FILE__, __LINE__, __func__);
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL, "future_work: NULL work"));
  }
  w = future__calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  f = future__source_new(lp, work_cancel, w);
  if (f == NULL) {
    future__free(w);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(f, "work");
  w->f = f;
  w->work = work;
  w->arg = arg;
  w->dtor = value_dtor;
  w->req.data = w;
  rc = uv_queue_work(loop, &w->req, work_run, work_done);
  if (rc < 0) {
    future__source_fail(f, future__error(rc, "uv_queue_work"));
    future__free(w);
  }
  return f;
}
