/*
 * Pipelines: a chain of steps built as a list rather than as a future per
 * step (future_pipeline, future_pipeline_then).
 *
 * A chain of future_then makes a 64-byte future for every link, which the
 * caller may keep, chain on or cancel, and every link is a trip through
 * the run queue. Most long chains need none of that: only the end is ever
 * looked at. A pipeline is one future, of kind FUTURE__PIPE, with an array
 * of 24-byte steps. It waits on the future in front of it (the first, or
 * what the last step returned); when that one has settled, it is queued,
 * and its turn runs steps one after another for as long as each returns a
 * settled future, up to PIPE_BATCH of them, then queues itself again. A
 * step that returns a pending future makes the pipeline wait on it. When
 * no step is left, the pipeline settles with the outcome in hand.
 *
 * The steps are the callbacks of future_then, with the same rules
 * (Promises/A+ 2.2 and 2.3): which callback runs, a NULL callback passing
 * the outcome on, adoption of what a callback returns, FUTURE_ECYCLE,
 * UV_ENOMEM for NULL. Only the outcome in hand is a future: it is what the
 * next step receives as `settled`.
 */
#include "internal.h"

#include <string.h>

/* Ready steps run back to back in one turn of the run queue, up to this
 * many; then the pipeline goes to the back of the queue, so that a long
 * pipeline holds other continuations back no longer than 64 steps. */
#define PIPE_BATCH 64
/* Steps the array has room for at first. */
#define PIPE_FIRST 4

/* A step: cb[0] runs on a fulfilment, cb[1] on a rejection. */
typedef struct {
  future_cb cb[2];
  void *data;
} pipe_step_t;

/* Steps [head, tail) are still to run; [0, head) have run. */
struct future__pipe_s {
  size_t head, tail, cap;
  pipe_step_t steps[];
};

future_t *future_pipeline(future_t *first) {
  future_t *pl;
  FUTURE__CHECK(first);
  if (first == NULL)
    return NULL;
  pl = future__alloc(first->lp, FUTURE__PIPE);
  if (pl == NULL) {
    future_unref(first);
    return NULL;
  }
  pl->u.pipe = NULL; /* no step yet: the array comes with the first */
  pl->refs = 2;      /* the caller's, and the waiter list's or queue's */
  future__attach(first, pl);
  future__unref(first);
  return pl;
}

/* Room for one more step at the end: reuse the room of the steps that
 * have run when they are at least half of it, else double it. */
static __attribute__((noinline)) int pipe_grow(future_t *pl) {
  struct future__pipe_s *pp = pl->u.pipe, *grown;
  size_t cap;
  if (pp != NULL && pp->head > 0 && pp->head >= pp->cap / 2) {
    memmove(pp->steps, pp->steps + pp->head,
            (pp->tail - pp->head) * sizeof(pipe_step_t));
    pp->tail -= pp->head;
    pp->head = 0;
    return 0;
  }
  cap = pp != NULL ? pp->cap * 2 : PIPE_FIRST;
  if (cap > (SIZE_MAX - sizeof(*pp)) / sizeof(pipe_step_t))
    return UV_ENOMEM;
  grown = future__realloc(pp, sizeof(*pp) + cap * sizeof(pipe_step_t));
  if (grown == NULL)
    return UV_ENOMEM;
  if (pp == NULL)
    grown->head = grown->tail = 0;
  grown->cap = cap;
  pl->u.pipe = grown;
  return 0;
}

/* A value step (future_pipeline_then_value) is kept as cb[0] = its
 * callback, cb[1] = this mark: on a rejection it passes the outcome on,
 * as a NULL on_rejected does. */
static future_t *value_mark(future_t *settled, void *data) {
  (void)settled;
  (void)data;
  return NULL;
}
#define VALUE_MARK ((future_cb)value_mark)

/* future_pipeline_then's checks and growth, off its common path. */
static __attribute__((noinline)) int add_slow(future_t *pl, future_cb a,
                                              future_cb b, void *data) {
  struct future__pipe_s *pp;
  if (pl == NULL || pl->kind != FUTURE__PIPE)
    return UV_EINVAL;
  if (pl->state != FUTURE_PENDING)
    return FUTURE_ESETTLED;
  pp = pl->u.pipe;
  if (pp == NULL || pp->tail == pp->cap) {
    int rc = pipe_grow(pl);
    if (rc != 0)
      return rc;
    pp = pl->u.pipe;
  }
  pp->steps[pp->tail++] = (pipe_step_t){{a, b}, data};
  return 0;
}

/* Add a step: a store at the end of the array, when there is room. */
static inline __attribute__((always_inline)) int
add(future_t *pl, future_cb a, future_cb b, void *data) {
  struct future__pipe_s *pp;
  FUTURE__CHECK(pl);
  if (__builtin_expect(pl != NULL && pl->kind == FUTURE__PIPE &&
                           pl->state == FUTURE_PENDING &&
                           (pp = pl->u.pipe) != NULL && pp->tail != pp->cap,
                       1)) {
    pp->steps[pp->tail++] = (pipe_step_t){{a, b}, data};
    return 0;
  }
  return add_slow(pl, a, b, data);
}

int future_pipeline_then(future_t *pl, future_cb on_fulfilled,
                         future_cb on_rejected, void *data) {
  return add(pl, on_fulfilled, on_rejected, data);
}

int future_pipeline_then_value(future_t *pl, future_value_cb fn, void *data) {
  if (fn == NULL) {
    FUTURE__CHECK(pl);
    return pl == NULL || pl->kind != FUTURE__PIPE ? UV_EINVAL
           : pl->state != FUTURE_PENDING          ? FUTURE_ESETTLED
                                                  : UV_EINVAL;
  }
  return add(pl, (future_cb)(void (*)(void))fn, VALUE_MARK, data);
}

void future__pipe_drop(future_t *pl) {
  future__free(pl->u.pipe);
  pl->u.pipe = NULL;
}

/* A step's callback, while tracing: a slice for it. */
static __attribute__((noinline)) future_t *
call_traced(future_t *pl, future_cb cb, future_t *p, void *data) {
  int rejected = p->state == FUTURE_REJECTED;
  uint64_t t0 = uv_hrtime();
  future_t *r = cb(p, data);
  future__trace_step(pl, rejected ? "pipeline catch" : "pipeline then",
                     rejected, t0);
  return r;
}

/* A settled future rejected with `err` (taken over), to hand to the next
 * step as a callback's failure; NULL if memory runs out (then `err` is
 * let go of). */
static future_t *rejected_with(future__loop_t *lp, future_error_t *err) {
  future_t *f = future__alloc(lp, FUTURE__SOURCE);
  future__outcome_t out = {NULL, NULL, err};
  if (f == NULL) {
    future_error_unref(err);
    return NULL;
  }
  future__settle(f, &out);
  return f;
}

/* What a step's callback returned, `r` (a reference now ours), when it is
 * not a settled future of the loop, checked as future_then checks it (see
 * resolve_with in chain.c): `r` if it is a pending future to wait for, a
 * rejected one for an error, or NULL if memory ran out making that. */
static future_t *checked(future_t *pl, future_t *r) {
  future_error_t *err;
  if (r == NULL) {
    err = future__error(UV_ENOMEM,
                        "a pipeline step returned NULL, not a future");
  } else if (r->lp != pl->lp) {
    /* Before the cycle walk, which must not walk another loop's futures
     * (another thread's, perhaps). */
    future__unref(r);
    err = future__error(UV_EINVAL,
                        "pipeline step returned a future of another loop");
  } else if (r == pl ||
             (r->state == FUTURE_PENDING && future__waits_on(r, pl))) {
    future__unref(r);
    err = future__error(FUTURE_ECYCLE, NULL);
  } else {
    return r;
  }
  return rejected_with(pl->lp, err);
}

/* A value step on the fulfilled `p` (our reference): the outcome it gives
 * is stored in `p` itself when nothing else sees `p`, else in a new
 * future. Returns the future of the outcome, or NULL if `pl` has settled
 * (cancelled by the step, or rejected with UV_ENOMEM), `p` then let go. */
static future_t *run_value(future_t *pl, future_t *p, future_value_cb fn,
                           void *data, int tracing) {
  void *value = p->u.out.ptr;
  future_error_t *err;
  future_t *n;
  if (__builtin_expect(tracing, 0)) {
    uint64_t t0 = uv_hrtime();
    err = fn(&value, data);
    future__trace_step(pl, "pipeline value", 0, t0);
  } else {
    err = fn(&value, data);
  }
  if (__builtin_expect(pl->state != FUTURE_PENDING, 0)) {
    future_error_unref(err);
    future__unref(p);
    return NULL;
  }
  if (__builtin_expect(err == NULL && p->refs == 1 && p->u.out.holder == NULL,
                       1)) {
    /* The common case: nobody else sees `p`, and it owns nothing; the new
     * value goes in its place. */
    p->u.out.ptr = value;
    return p;
  }
  if (err == NULL && value == p->u.out.ptr)
    return p; /* unchanged: a value with a destructor keeps it */
  if (p->refs == 1) {
    /* Nobody else sees `p`: the outcome changes in place. */
    future__holder_unref(p->u.out.holder);
    p->u.out.holder = NULL;
    if (err != NULL) {
      p->state = FUTURE_REJECTED;
      p->u.out.ptr = err;
      p->flags &= (uint8_t)~FUTURE__HANDLED;
    } else {
      p->u.out.ptr = value;
    }
    return p;
  }
  p->flags |= FUTURE__HANDLED;
  future__unref(p);
  n = future__alloc(pl->lp, FUTURE__SOURCE);
  if (n == NULL) {
    future_error_unref(err);
    return NULL;
  } else {
    future__outcome_t out = {value, NULL, err};
    future__settle(n, &out);
  }
  return n;
}

/* No step left: `pl` settles with the outcome of `p` (taken over), and
 * the queue's reference on `pl` goes. */
static void pipe_finish(future_t *pl, future_t *p) {
  future__pipe_drop(pl);
  future__settle_take(pl, p);
  future__unref(pl);
}

/* The turn of the queued `pl`: steps one after another, from the settled
 * `p`, for as long as each returns a settled future (PIPE_BATCH at most). */
void future__pipe_run(future_t *pl, future_t *p) {
  future__loop_t *lp = pl->lp;
  unsigned budget = PIPE_BATCH;
  /* Read once a turn: a trace started by a step applies from the next. */
  int tracing = FUTURE__TRACING();

  /* The whole turn counts as one library callback (future_wait refuses to
   * run inside one): between two steps only this code runs. */
  lp->in_callback++;
  for (;;) {
    struct future__pipe_s *pp = pl->u.pipe;
    pipe_step_t *st;
    future_cb cb;
    future_t *r;

    if (pp == NULL || pp->head == pp->tail)
      break; /* no step left */
    st = &pp->steps[pp->head];
    /* The array empties: the next step added goes at its start again (a
     * loop of steps adding steps stays at the start). The step's fields
     * are read before its callback may add one in its place. */
    if (++pp->head == pp->tail)
      pp->head = pp->tail = 0;
    if (st->cb[1] == VALUE_MARK) {
      if (p->state != FUTURE_FULFILLED)
        continue; /* a rejection passes by */
      p = run_value(pl, p, (future_value_cb)(void (*)(void))st->cb[0],
                    st->data, tracing);
      if (p == NULL) {
        lp->in_callback--;
        if (pl->state == FUTURE_PENDING) { /* out of memory */
          future__outcome_t out = {
              NULL, NULL, future__error(UV_ENOMEM, "out of memory")};
          future__pipe_drop(pl);
          future__settle(pl, &out);
        }
        future__unref(pl);
        return;
      }
      goto ran;
    }
    cb = st->cb[p->state != FUTURE_FULFILLED];
    if (cb == NULL)
      continue; /* the outcome passes on */
    r = __builtin_expect(tracing, 0) ? call_traced(pl, cb, p, st->data)
                                     : cb(p, st->data);
    if (pl->state != FUTURE_PENDING) {
      /* The step cancelled its own pipeline: that outcome stands (the
       * steps left went with the cancel), and what it returned goes. */
      lp->in_callback--;
      future__unref(r);
      future__unref(p);
      future__unref(pl);
      return;
    }
    if (r == p) {
      /* Passed on (`return future_ref(settled)`): both references on `p`
       * are ours, and one is enough. */
      p->refs--;
      goto ran;
    }
    p->flags |= FUTURE__HANDLED;
    future__unref(p);
    /* The common case first: a settled future of this loop (so not `pl`,
     * which is pending). */
    if (__builtin_expect(r == NULL || r->state == FUTURE_PENDING ||
                             r->lp != lp,
                         0)) {
      r = checked(pl, r);
      if (r == NULL) {
        future__outcome_t out = {NULL, NULL,
                                 future__error(UV_ENOMEM, "out of memory")};
        lp->in_callback--;
        future__pipe_drop(pl);
        future__settle(pl, &out);
        future__unref(pl);
        return;
      }
      if (r->state == FUTURE_PENDING) {
        /* Wait for it: the queue's reference on `pl` moves to its waiter
         * list, and ours on `r` goes (`pl` follows it through its parent
         * link, as a waiting continuation does). */
        lp->in_callback--;
        future__attach(r, pl);
        future__unref(r);
        return;
      }
    }
    p = r;
  ran:
    /* A callback ran: after PIPE_BATCH of them, the back of the queue,
     * unless no step is left (then the pipeline settles now). */
    if (--budget == 0 && pl->u.pipe->head != pl->u.pipe->tail) {
      lp->in_callback--;
      pl->parent = p;
      future__enqueue(pl);
      return;
    }
  }
  lp->in_callback--;
  pipe_finish(pl, p);
}
