/*
 * Signals as futures: one libuv signal watcher per future, started in one
 * shot (uv_signal_start_oneshot), closed as soon as it has fired or its
 * future is cancelled. The watcher is one of the operations' handles of
 * the loop (loop.c), so that a uv_walk that closes it behind the
 * library's back leaks nothing.
 */
#include "internal.h"

#include <future/signal.h>

#include <stdint.h>

typedef struct {
  future__handle_t h; /* first: handle->data points here */
  uv_signal_t watcher;
  future_t *f; /* NULL once settled */
} watch_t;

static void watch_release(future__handle_t *h) { future__free(h); }

static void on_signal(uv_signal_t *watcher, int signum) {
  watch_t *w = watcher->data;
  future_t *f = w->f;
  w->f = NULL;
  future__handle_close(w->h.lp, &w->h);
  if (f != NULL)
    future__source_fulfil(f, (void *)(intptr_t)signum, NULL);
}

static int watch_cancel(future_t *f, void *req) {
  watch_t *w = req;
  (void)f;
  w->f = NULL; /* the canceller settles it and drops our reference */
  future__handle_close(w->h.lp, &w->h);
  return 1;
}

future_t *future_signal(uv_loop_t *loop, int signum) {
  future__loop_t *lp;
  future__site_t site;
  watch_t *w;
  future_t *f;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  w = future__calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  rc = uv_signal_init(loop, &w->watcher);
  if (rc < 0) {
    future__free(w);
    return future_rejected(
        loop, future__error_site(&site, rc, "watch signal %d", signum));
  }
  future__handle_add(lp, &w->h, (uv_handle_t *)&w->watcher, watch_release);
  f = w->f = future__source_new(lp, watch_cancel, w);
  if (f == NULL) {
    future__handle_close(lp, &w->h);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(f, "signal %d", signum);
  rc = uv_signal_start_oneshot(&w->watcher, on_signal, signum);
  if (rc < 0) {
    w->f = NULL;
    future__handle_close(lp, &w->h);
    future__source_fail(f,
                        future__error_site(&site, rc, "watch signal %d", signum));
  }
  return f;
}
