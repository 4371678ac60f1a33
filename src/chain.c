/*
 * Continuations: then, catch, finally, and running a queued continuation
 * once the future it waits for has settled.
 */
#include "internal.h"

#include <string.h>

static void settle_error(future_t *c, future_error_t *err) {
  future__outcome_t out = {NULL, NULL, err};
  future__settle(c, &out);
}

static void settle_copy(future_t *c, future_t *src) {
  future__outcome_t out;
  future__outcome_of(&out, src);
  future__settle(c, &out);
}

/* Settle `c` with the outcome of the settled `r`, whose reference the
 * caller hands over. When that is the last reference, which is the usual
 * case of a callback returning future_resolved(...), the outcome moves
 * instead of being copied and released. */
FUTURE__HOT void settle_take(future_t *c, future_t *r) {
  future__outcome_t out;
  if (r->refs == 1) {
    /* Nothing else sees `r`: no continuation waits on it (a queued one
     * would hold a reference), so it can be emptied before it goes. */
    out = future__outcome_peek(r);
    r->state = FUTURE_FULFILLED;
    r->u.out.ptr = NULL;
    r->u.out.holder = NULL;
  } else {
    r->flags |= FUTURE__HANDLED;
    future__outcome_of(&out, r);
  }
  future__settle(c, &out);
  future__unref(r);
}

/* Settle `c` from the future `r` that its callback returned (a reference
 * the chain now owns), following Promises/A+ 2.3. Returns 1 if `c` now
 * waits on `r`, in which case the queue's reference on `c` has moved to
 * `r`'s waiter list. */
FUTURE__HOT int resolve_with(future_t *c, future_t *r) {
  if (r != NULL && r != c && r->state != FUTURE_PENDING &&
      c->state == FUTURE_PENDING && r->lp == c->lp) {
    /* The common case first: the callback returned a settled future,
     * adopted at once; the continuations of `c` still run from the
     * queue, so ordering is unchanged. */
    settle_take(c, r);
    return 0;
  }
  if (c->state != FUTURE_PENDING) {
    /* The callback cancelled its own chained future: that outcome stands,
     * and what the callback returned is let go. */
    future__unref(r);
    return 0;
  }
  if (r == NULL) {
    /* The constructors return NULL only when memory runs out, so that is
     * what a NULL most likely means. */
    settle_error(c, future__error(UV_ENOMEM,
                                  "a continuation returned NULL, not a future"));
    return 0;
  }
  if (r == c || (r->state == FUTURE_PENDING && future__waits_on(r, c))) {
    future__unref(r);
    settle_error(c, future__error(FUTURE_ECYCLE, NULL));
    return 0;
  }
  if (r->lp != c->lp) {
    future__unref(r);
    settle_error(c, future__error(
                        UV_EINVAL,
                        "continuation returned a future of another loop"));
    return 0;
  }
  c->kind = FUTURE__ADOPT;
  future__attach(r, c);
  future__unref(r);
  return 1;
}

static const char *step_name(const future_t *c, const future_t *p) {
  if (c->kind == FUTURE__FINALLY)
    return "finally";
  return p->state == FUTURE_FULFILLED ? "then" : "catch";
}

FUTURE__HOT future_t *call(future_t *c, future_cb cb, future_t *p) {
  future__loop_t *lp = c->lp;
  future_t *r;
  uint64_t t0 = 0;
  int tracing = atomic_load_explicit(&future__tracing, memory_order_relaxed);
  if (tracing)
    t0 = uv_hrtime();
  lp->in_callback++;
  r = cb(p, c->data);
  lp->in_callback--;
  if (tracing)
    future__trace('X', step_name(c, p), c, t0, uv_hrtime() - t0);
  return r;
}

static int run_finally(future_t *c, future_t *p) {
  future_t *r;
  if (c->flags & FUTURE__STEP2) {
    /* `p` is what on_settled returned: its error wins over the stored
     * outcome; otherwise the stored outcome passes on. */
    future__outcome_t kept = future__kept(c);
    c->flags &= (uint8_t)~(FUTURE__STEP2 | FUTURE__KEPT_ERROR);
    if (p->state == FUTURE_REJECTED) {
      future__outcome_release(&kept);
      settle_copy(c, p);
    } else {
      future__settle(c, &kept);
    }
    return 0;
  }
  if (c->u.cb.on_fulfilled == NULL) {
    settle_copy(c, p);
    return 0;
  }
  r = call(c, c->u.cb.on_fulfilled, p);
  if (c->state != FUTURE_PENDING) { /* cancelled by its own callback */
    future__unref(r);
    return 0;
  }
  if (r == NULL) {
    settle_copy(c, p);
    return 0;
  }
  if (r == c || r->lp != c->lp ||
      (r->state == FUTURE_PENDING && future__waits_on(r, c))) {
    c->kind = FUTURE__THEN;
    return resolve_with(c, r);
  }
  if (r->state == FUTURE_REJECTED) {
    settle_take(c, r);
    return 0;
  }
  if (r->state == FUTURE_FULFILLED) {
    settle_copy(c, p);
    future__unref(r);
    return 0;
  }
  /* Keep the outcome of `p` while waiting for `r` (the callbacks are no
   * longer needed, and the kept outcome takes their place). */
  future__keep(c, p);
  future__attach(r, c);
  future__unref(r);
  return 1;
}

/* Run one queued continuation `c`. The queue holds one reference on `c`,
 * and `c` holds one on its parent; both are released here unless `c` moved
 * on to wait for another future. */
FUTURE__HOT void run(future_t *c) {
  future_t *p = c->parent;
  int moved = 0;

  c->parent = NULL;
  if (c->kind == FUTURE__THEN && c->state == FUTURE_PENDING) {
    /* The common case first. */
    future_cb cb = p->state == FUTURE_FULFILLED ? c->u.cb.on_fulfilled
                                                : c->u.cb.on_rejected;
    if (cb == NULL) {
      settle_copy(c, p);
    } else {
      future_t *r = call(c, cb, p);
      if (r == p && c->state == FUTURE_PENDING) {
        /* Passed through (`return future_ref(settled)`): `p` moves on,
         * and the two references on it are ours. */
        p->refs--;
        settle_take(c, p);
        future__unref(c);
        return;
      }
      moved = resolve_with(c, r);
    }
    future__unref(p);
    if (!moved)
      future__unref(c);
    return;
  }
  if (c->kind == FUTURE__SINK && p == NULL && c->state == FUTURE_PENDING) {
    /* What it watched was released unsettled (see vanish in future.c). */
    c->lp->in_callback++;
    c->u.sink(NULL, c->data);
    c->lp->in_callback--;
    future__unref(c);
    return;
  }
  if (c->state != FUTURE_PENDING) {
    /* Cancelled while queued: its callbacks never run. */
    future__unref(p);
    future__unref(c);
    return;
  }
  switch (c->kind) {
  case FUTURE__ADOPT:
    settle_copy(c, p);
    break;
  case FUTURE__FINALLY:
    moved = run_finally(c, p);
    break;
  case FUTURE__SINK:
    c->lp->in_callback++;
    c->u.sink(p, c->data);
    c->lp->in_callback--;
    break;
  default:
    break;
  }
  future__unref(p);
  if (!moved)
    future__unref(c);
}

/* Run every queued continuation, including those queued while running:
 * one flat loop, so that chains of any length use constant stack. */
void future__loop_drain(future__loop_t *lp) {
  future_t *c;
  struct future__fiber_s *fiber = future__fiber_hide();
  lp->draining++;
  while ((c = lp->queue_head) != NULL) {
    lp->queue_head = c->next;
    if (lp->queue_head == NULL)
      lp->queue_tail = NULL;
    c->next = NULL;
    c->flags &= (uint8_t)~FUTURE__QUEUED;
    run(c);
  }
  lp->draining--;
  if (!lp->draining)
    uv_idle_stop(&lp->idle);
  future__fiber_show(fiber);
}

FUTURE__HOT future_t *chain(future_t *f, uint8_t kind, future_cb a,
                            future_cb b, void *data) {
  future_t *c;
  if (f == NULL)
    return NULL;
  c = future__alloc(f->lp, kind);
  if (c == NULL) {
    future__unref(f);
    return NULL;
  }
  c->u.cb.on_fulfilled = a;
  c->u.cb.on_rejected = b;
  c->data = data;
  c->refs = 2; /* one for the caller, one for the waiter list or queue */
  if (f->state != FUTURE_PENDING) {
    /* The caller's reference on `f` becomes the queued `c`'s. */
    c->parent = f;
    f->flags |= FUTURE__HANDLED;
    future__enqueue(c);
    return c;
  }
  future__attach(f, c);
  future__unref(f);
  return c;
}

future_t *future_then(future_t *f, future_cb on_fulfilled,
                      future_cb on_rejected, void *data) {
  FUTURE__CHECK(f);
  return chain(f, FUTURE__THEN, on_fulfilled, on_rejected, data);
}

future_t *future_catch(future_t *f, future_cb on_rejected, void *data) {
  FUTURE__CHECK(f);
  return chain(f, FUTURE__THEN, NULL, on_rejected, data);
}

future_t *future_finally(future_t *f, future_cb on_settled, void *data) {
  FUTURE__CHECK(f);
  return chain(f, FUTURE__FINALLY, on_settled, NULL, data);
}
