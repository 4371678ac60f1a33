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
    future__settle_take(c, r);
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
  if (r->lp != c->lp) {
    /* Before the cycle walk, which must not walk another loop's futures
     * (another thread's, perhaps). */
    future__unref(r);
    settle_error(c, future__error(
                        UV_EINVAL,
                        "continuation returned a future of another loop"));
    return 0;
  }
  if (r == c || (r->state == FUTURE_PENDING && future__waits_on(r, c))) {
    future__unref(r);
    settle_error(c, future__error(FUTURE_ECYCLE, NULL));
    return 0;
  }
  c->kind = FUTURE__ADOPT;
  future__attach(r, c);
  future__unref(r);
  return 1;
}

/* What a step is, for the trace: then, catch (a pure rejection handler),
 * then/catch (both), finally. */
static const char *step_label(uint8_t kind, future_cb a, future_cb b) {
  if (kind == FUTURE__FINALLY)
    return "finally";
  if (a != NULL && b != NULL)
    return "then/catch";
  return a == NULL && b != NULL ? "catch" : "then";
}

/* call, while tracing: a slice for the callback. Not inline: the path of
 * every link tests the flag once and carries none of this. */
static __attribute__((noinline)) future_t *call_traced(future_t *c,
                                                       future_cb cb,
                                                       future_t *p) {
  future__loop_t *lp = c->lp;
  /* Before the callback: it may settle `c`, whose callbacks then go. */
  const char *label =
      step_label(c->kind, c->u.cb.on_fulfilled, c->u.cb.on_rejected);
  int rejected = c->kind != FUTURE__FINALLY && p->state == FUTURE_REJECTED;
  uint64_t t0 = uv_hrtime();
  future_t *r;
  lp->in_callback++;
  r = cb(p, c->data);
  lp->in_callback--;
  future__trace_step(c, label, rejected, t0);
  return r;
}

FUTURE__HOT future_t *call(future_t *c, future_cb cb, future_t *p) {
  future__loop_t *lp = c->lp;
  future_t *r;
  if (FUTURE__TRACING())
    return call_traced(c, cb, p);
  lp->in_callback++;
  r = cb(p, c->data);
  lp->in_callback--;
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
    future__settle_take(c, r);
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
        future__settle_take(c, p);
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
  if (c->kind == FUTURE__PIPE && c->state == FUTURE_PENDING) {
    future__pipe_run(c, p);
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

/* A new step, while tracing: it has an id, a label and its callbacks'
 * names in the trace. */
static __attribute__((noinline)) future_t *
alloc_traced(future__loop_t *lp, uint8_t kind, future_cb a, future_cb b,
             const char *name_a, const char *name_b) {
  future_t *c = future__alloc_raw(lp, kind);
  if (c != NULL)
    future__trace_create(c, step_label(kind, a, b), a != NULL ? name_a : NULL,
                         b != NULL ? name_b : NULL);
  return c;
}

/* Attach the new step `c` to `f` (see chain). */
FUTURE__HOT future_t *chain_link(future_t *f, future_t *c, future_cb a,
                                 future_cb b, void *data) {
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

/* A step made the slow way: while tracing, or with the pool empty. Not
 * inline, so that the common path below saves no registers for it. */
static __attribute__((noinline)) future_t *
chain_slow(future_t *f, uint8_t kind, future_cb a, future_cb b, void *data,
           const char *name_a, const char *name_b) {
  future_t *c;
  if (FUTURE__TRACING())
    c = alloc_traced(f->lp, kind, a, b, name_a, name_b);
  else
    c = future__alloc_untraced(f->lp, kind);
  if (c == NULL) {
    future__unref(f);
    return NULL;
  }
  return chain_link(f, c, a, b, data);
}

FUTURE__HOT future_t *chain(future_t *f, uint8_t kind, future_cb a,
                            future_cb b, void *data, const char *name_a,
                            const char *name_b) {
  future__loop_t *lp;
  future_t *c;
  if (f == NULL)
    return NULL;
  lp = f->lp;
#if FUTURE_DEBUG /* every new future is checked: the slow way */
  return chain_slow(f, kind, a, b, data, name_a, name_b);
#endif
  if (FUTURE__TRACING())
    return chain_slow(f, kind, a, b, data, name_a, name_b);
  /* future__alloc_untraced's common cases: from the pool, or the slab. */
  c = lp->pool;
  if (c != NULL)
    lp->pool = c->next;
  else if (lp->fresh != lp->fresh_end)
    c = lp->fresh++;
  else
    return chain_slow(f, kind, a, b, data, name_a, name_b);
  *c = (future_t){.lp = lp, .refs = 1, .kind = kind};
  lp->live++;
  return chain_link(f, c, a, b, data);
}

/* future.h makes future_then, future_catch and future_finally macros that
 * call the _named functions with the callbacks' names; the functions of
 * those names stay (the parentheses keep the macros out), for programs
 * built before, and for a pointer to them. */

future_t *(future_then)(future_t *f, future_cb on_fulfilled,
                        future_cb on_rejected, void *data) {
  FUTURE__CHECK(f);
  return chain(f, FUTURE__THEN, on_fulfilled, on_rejected, data, NULL, NULL);
}

future_t *(future_catch)(future_t *f, future_cb on_rejected, void *data) {
  FUTURE__CHECK(f);
  return chain(f, FUTURE__THEN, NULL, on_rejected, data, NULL, NULL);
}

future_t *(future_finally)(future_t *f, future_cb on_settled, void *data) {
  FUTURE__CHECK(f);
  return chain(f, FUTURE__FINALLY, on_settled, NULL, data, NULL, NULL);
}

future_t *future_then_named(future_t *f, future_cb on_fulfilled,
                            future_cb on_rejected, void *data,
                            const char *fulfilled_name,
                            const char *rejected_name) {
  FUTURE__CHECK_AS(f, "future_then"); /* what the user wrote (a macro) */
  return chain(f, FUTURE__THEN, on_fulfilled, on_rejected, data,
               fulfilled_name, rejected_name);
}

future_t *future_catch_named(future_t *f, future_cb on_rejected, void *data,
                             const char *name) {
  FUTURE__CHECK_AS(f, "future_catch");
  return chain(f, FUTURE__THEN, NULL, on_rejected, data, NULL, name);
}

future_t *future_finally_named(future_t *f, future_cb on_settled, void *data,
                               const char *name) {
  FUTURE__CHECK_AS(f, "future_finally");
  return chain(f, FUTURE__FINALLY, on_settled, NULL, data, name, NULL);
}
