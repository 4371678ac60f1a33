/*
 * Timers as futures: future_delay, and future_timeout on any future.
 *
 * A timer handle may only be freed after its close callback has run, so
 * every path (fired, cancelled, inner future settled first) ends in
 * uv_close, and the memory goes in the close callback. The futures, on the
 * other hand, are let go as soon as they are settled.
 */
#include "internal.h"

#include <stdlib.h>

static void free_closed(uv_handle_t *handle) { future__free(handle->data); }

/* delay */

typedef struct {
  uv_timer_t timer;
  future_t *f;
} delay_t;

static void delay_fired(uv_timer_t *timer) {
  delay_t *d = timer->data;
  future__outcome_t none = {NULL, NULL, NULL};
  future__source_done(d->f, &none);
  uv_close((uv_handle_t *)timer, free_closed);
}

static int delay_cancel(future_t *f, void *req) {
  delay_t *d = req;
  (void)f;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t *)&d->timer, free_closed);
  return 1;
}

future_t *future_delay(uv_loop_t *loop, uint64_t ms) {
  future__loop_t *lp;
  delay_t *d;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  d = future__malloc(sizeof(*d));
  if (d == NULL)
    return NULL;
  d->f = future__source_new(lp, delay_cancel, d);
  if (d->f == NULL) {
    future__free(d);
    return NULL;
  }
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, delay_fired, ms, 0);
  return d->f;
}

/* timeout */

typedef struct {
  uv_timer_t timer;
  future_t *result; /* what the caller holds; NULL once settled */
  future_t *inner;  /* what we watch; NULL once its outcome has come */
  uint64_t ms;
  int holders;      /* the timer handle and the sink on `inner` */
} timeout_t;

static void timeout_release(timeout_t *t) {
  if (--t->holders == 0)
    future__free(t);
}

static void timeout_closed(uv_handle_t *handle) {
  timeout_release(handle->data);
}

static void timeout_stop(timeout_t *t) {
  if (uv_is_closing((uv_handle_t *)&t->timer))
    return;
  uv_timer_stop(&t->timer);
  uv_close((uv_handle_t *)&t->timer, timeout_closed);
}

/* Settle the result (if nobody did yet) and let it go. */
static void timeout_finish(timeout_t *t, future__outcome_t *out) {
  future_t *result = t->result;
  t->result = NULL;
  if (result != NULL)
    future__source_done(result, out);
  else
    future__outcome_release(out);
}

/* The inner future settled (perhaps because we cancelled it). */
static void timeout_inner_settled(future_t *settled, void *data) {
  timeout_t *t = data;
  future__outcome_t out;
  /* We hold `inner`, so it cannot vanish unsettled. */
  future__outcome_of(&out, settled);
  timeout_finish(t, &out);
  future_unref(t->inner);
  t->inner = NULL;
  timeout_stop(t);
  timeout_release(t);
}

static void timeout_fired(uv_timer_t *timer) {
  timeout_t *t = timer->data;
  future__outcome_t out = {NULL, NULL, NULL};
  out.error = future_error_new_at(__FILE__, __LINE__, __func__, UV_ETIMEDOUT,
                                  NULL, "timed out after %llu ms",
                                  (unsigned long long)t->ms);
  timeout_finish(t, &out);
  timeout_stop(t);
  if (t->inner != NULL)
    future_cancel(t->inner);
}

static int timeout_cancel(future_t *f, void *req) {
  timeout_t *t = req;
  (void)f;
  t->result = NULL; /* the canceller settles it and drops our reference */
  timeout_stop(t);
  if (t->inner != NULL)
    future_cancel(t->inner);
  return 1;
}

future_t *future_timeout(future_t *f, uint64_t ms) {
  timeout_t *t;
  if (f == NULL)
    return NULL;
  t = future__malloc(sizeof(*t));
  if (t == NULL) {
    future_unref(f);
    return NULL;
  }
  t->result = future__source_new(f->lp, timeout_cancel, t);
  if (t->result == NULL) {
    future__free(t);
    future_unref(f);
    return NULL;
  }
  t->inner = f;
  t->ms = ms;
  t->holders = 2;
  uv_timer_init(f->lp->loop, &t->timer);
  t->timer.data = t;
  if (future__sink(future_ref(f), timeout_inner_settled, t) == NULL) {
    /* Cannot watch `f`: fail now, and still close the timer. */
    future_t *result = t->result;
    future__outcome_t out = {NULL, NULL, NULL};
    out.error = future__error(UV_ENOMEM, "future_timeout");
    timeout_finish(t, &out); /* drops the request's reference only */
    future_unref(t->inner);
    t->inner = NULL;
    t->holders = 1;
    timeout_stop(t);
    return result;
  }
  uv_timer_start(&t->timer, timeout_fired, ms, 0);
  return t->result;
}
