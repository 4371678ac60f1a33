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
} watch_t;

static void on_signal(uv_signal_t *watcher, int signum) {
  watch_t *w = watcher->data;
  future_t *f = future__handle_finish(&w->h);
  if (f != NULL)
    future__source_fulfil(f, (void *)(intptr_t)signum, NULL);
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
  f = future__handle_source(lp, &w->h, (uv_handle_t *)&w->watcher);
  if (f == NULL)
    return NULL;
  FUTURE__TRACE_REQUEST(f, "signal %d", signum);
  rc = uv_signal_start_oneshot(&w->watcher, on_signal, signum);
  if (rc < 0) {
    future__handle_finish(&w->h);
    future__source_fail(f,
                        future__error_site(&site, rc, "watch signal %d", signum));
  }
  return f;
}
