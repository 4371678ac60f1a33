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


/* delay
 *
 * A program may have a million delays pending, so a delay is kept lean:
 * it is not in the loop's list of requests in flight (whose upkeep costs
 * two more cache lines touched per timer), and teardown finds the pending
 * ones among the loop's handles instead, by a tag in `data` that no user
 * handle can carry: the address of a variable private to the library. */

typedef struct {
  uv_timer_t timer; /* first: a delay_t is found from its timer */
  future_t *f;
} delay_t;

static const char delay_tag;

static void delay_closed(uv_handle_t *handle) { future__free(handle); }

static void delay_fired(uv_timer_t *timer) {
  delay_t *d = (delay_t *)timer;
  future__outcome_t none = {NULL, NULL, NULL};
  future_t *f = d->f;
  d->f = NULL;
  future__source_done(f, &none);
  uv_close((uv_handle_t *)timer, delay_closed);
}

static int delay_cancel(future_t *f, void *req) {
  delay_t *d = req;
  (void)f;
  d->f = NULL;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t *)&d->timer, delay_closed);
  return 1;
}

typedef struct {
  future_t **items;
  size_t n, cap;
  int failed;
} delay_list_t;

static void delay_collect(uv_handle_t *handle, void *arg) {
  delay_list_t *l = arg;
  delay_t *d = (delay_t *)handle;
  if (handle->data != &delay_tag || uv_is_closing(handle) || d->f == NULL)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    future_t **grown = future__realloc(l->items, cap * sizeof(*grown));
    if (grown == NULL) {
      l->failed = 1;
      return;
    }
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->n++] = future_ref(d->f);
}

void future__delay_cancel_all(future__loop_t *lp) {
  delay_list_t l = {NULL, 0, 0, 0};
  do {
    /* Gathered first, each with a reference, since a cancel may close
     * handles (and run continuations) under the walk. Out of memory, the
     * ones gathered are cancelled and the walk starts over. */
    l.failed = 0;
    l.n = 0;
    uv_walk(lp->loop, delay_collect, &l);
    for (size_t i = 0; i < l.n; i++) {
      if (l.items[i]->state == FUTURE_PENDING)
        future_cancel(l.items[i]);
      future_unref(l.items[i]);
    }
  } while (l.failed && l.n > 0);
  future__free(l.items);
}

future_t *future_delay(uv_loop_t *loop, uint64_t ms) {
  future__loop_t *lp;
  delay_t *d;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  d = future__malloc(sizeof(*d));
  if (d == NULL)
    return NULL;
  d->f = future__source_unlisted(lp, delay_cancel, d);
  if (d->f == NULL) {
    future__free(d);
    return NULL;
  }
  uv_timer_init(loop, &d->timer);
  d->timer.data = (void *)&delay_tag;
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
