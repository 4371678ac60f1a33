/*
 * Timers as futures: future_delay, and future_timeout on any future.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* delay
 *
 * A program may have a million delays pending. One uv_timer_t each (152
 * bytes, in libuv's heap of handles linked by pointers) would make the
 * timer heap walk a million scattered handles. Instead, as Node.js does
 * with its timer lists, a loop has one libuv timer, armed for the earliest
 * delay, and the delays wait in the library's own binary heap: an array of
 * 24-byte entries ordered by due time, then by creation, which is the
 * order libuv fires timers in. A delay costs its future and an entry.
 *
 * Cancelling a delay does not search the heap: the entry stays, holding
 * the request's reference on its (now rejected) future, and is dropped
 * when it comes to the top, when dead entries outnumber live ones (the
 * heap is then rebuilt without them), or at teardown. The libuv timer is
 * stopped whenever no live delay is left, so that cancelled delays never
 * keep the loop running. */

static int delay_before(const future__delay_t *a, const future__delay_t *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void delay_sift_up(future__delay_t *h, size_t i) {
  future__delay_t x = h[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!delay_before(&x, &h[parent]))
      break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = x;
}

static void delay_sift_down(future__delay_t *h, size_t n, size_t i) {
  future__delay_t x = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && delay_before(&h[c + 1], &h[c]))
      c++;
    if (!delay_before(&h[c], &x))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* Take the earliest entry out of the heap. */
static future_t *delay_pop(future__loop_t *lp) {
  future_t *f = lp->delays[0].f;
  lp->delays[0] = lp->delays[--lp->ndelays];
  if (lp->ndelays > 0)
    delay_sift_down(lp->delays, lp->ndelays, 0);
  return f;
}

/* The entry's future is done with: settled now if it is still pending
 * (the delay has elapsed), and the request's reference dropped. */
static void delay_release(future__loop_t *lp, future_t *f) {
  /* future__source_done, inline, without its search of the loop's list
   * of requests, where no delay is. */
  if (f->state == FUTURE_PENDING) {
    future__outcome_t none = {NULL, NULL, NULL};
    lp->delays_live--;
    f->u.cancel = NULL; /* the outcome takes its place */
    future__settle(f, &none);
  } else {
    lp->delays_dead--;
  }
  f->flags &= (uint8_t)~FUTURE__REQUEST;
  f->data = NULL;
  future__loop_take_in_waits_hint(lp);
  future__unref(f);
}

static void delays_due(uv_timer_t *timer);

/* Drop every entry but that of `keep` (NULL: every entry): all are
 * cancelled delays, since none is live. */
static void delays_flush(future__loop_t *lp, const future_t *keep) {
  while (lp->ndelays > 0) {
    future_t *f = lp->delays[--lp->ndelays].f;
    if (f != keep)
      delay_release(lp, f);
  }
}

/* Arm the loop's timer for the earliest delay; when no live delay is left,
 * stop it and drop the entries of cancelled ones. */
static void delays_arm(future__loop_t *lp) {
  uint64_t due, now;
  if (lp->delays_live == 0) {
    uv_timer_stop(&lp->delay_timer);
    lp->delay_on = 0;
    delays_flush(lp, NULL);
    return;
  }
  due = lp->delays[0].due;
  if (lp->delay_on && lp->delay_armed == due)
    return;
  now = uv_now(lp->loop);
  lp->delay_armed = due;
  uv_timer_start(&lp->delay_timer, delays_due, due > now ? due - now : 0, 0);
  /* Not started only when a uv_walk closed it behind the library's back;
   * asked here, when the earliest delay changes, not for every delay. */
  lp->delay_on = uv_is_active((uv_handle_t *)&lp->delay_timer);
}

static void delays_due(uv_timer_t *timer) {
  future__loop_t *lp = timer->data;
  uint64_t now = uv_now(lp->loop);
  lp->delay_on = 0; /* a timer without repeat stops before it calls */
  /* Settling queues continuations and runs no user code, so the heap
   * cannot change under this loop. */
  while (lp->ndelays > 0 && lp->delays[0].due <= now) {
    future_t *f = delay_pop(lp);
    /* The next entry's future is touched next: its line (and, with it,
     * most often its continuation's, made right after it) comes in while
     * this one is settled, rather than one cache miss after another. */
    if (lp->ndelays > 0)
      __builtin_prefetch(lp->delays[0].f);
    delay_release(lp, f);
  }
  delays_arm(lp);
}

/* Rebuild the heap without the entries of cancelled delays. */
static void delays_compact(future__loop_t *lp) {
  size_t i, n = lp->ndelays, live = 0;
  for (i = 0; i < n; i++) {
    future_t *f = lp->delays[i].f;
    if (f->state == FUTURE_PENDING)
      lp->delays[live++] = lp->delays[i];
    else
      delay_release(lp, f); /* settled: only drops a reference */
  }
  lp->ndelays = live;
  for (i = live / 2; i-- > 0;)
    delay_sift_down(lp->delays, live, i);
}

static int delay_cancel(future_t *f, void *req) {
  future__loop_t *lp = f->lp;
  (void)req;
  if (lp->delays_closing)
    return 0; /* future__delay_cancel_all drops the entry itself */
  lp->delays_live--;
  if (lp->delays_live == 0) {
    /* The last live delay: every entry goes now, and the canceller drops
     * this one's reference. */
    uv_timer_stop(&lp->delay_timer);
    lp->delay_on = 0;
    delays_flush(lp, f);
    return 1;
  }
  /* The entry keeps its reference until it is dropped (see above). */
  lp->delays_dead++;
  return 0;
}

void future__delay_cancel_all(future__loop_t *lp) {
  future__outcome_t none = {NULL, NULL, NULL};
  lp->delays_closing = 1;
  while (lp->ndelays > 0) {
    future_t *f = lp->delays[--lp->ndelays].f;
    if (f->state == FUTURE_PENDING)
      future_cancel(f);
    future__source_done(f, &none);
  }
  lp->delays_closing = 0;
  lp->delays_live = lp->delays_dead = 0;
  uv_timer_stop(&lp->delay_timer);
  lp->delay_on = 0;
  future__free(lp->delays);
  lp->delays = NULL;
  lp->delays_cap = 0;
}

future_t *future__delay_new(future__loop_t *lp, uint64_t ms) {
  future__delay_t *e;
  future_t *f;
  uint64_t now;
  if (lp->delays_dead > lp->delays_live && lp->delays_dead >= 64)
    delays_compact(lp);
  if (lp->ndelays == lp->delays_cap) {
    size_t cap = lp->delays_cap ? lp->delays_cap * 2 : 64;
    future__delay_t *grown = future__realloc(lp->delays, cap * sizeof(*grown));
    if (grown == NULL)
      return NULL;
    lp->delays = grown;
    lp->delays_cap = cap;
  }
  f = future__source_unlisted(lp, delay_cancel, NULL);
  if (f == NULL)
    return NULL;
  now = uv_now(lp->loop);
  e = &lp->delays[lp->ndelays];
  e->due = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
  e->seq = lp->delay_seq++;
  e->f = f;
  delay_sift_up(lp->delays, lp->ndelays++);
  lp->delays_live++;
  delays_arm(lp);
  return f;
}

future_t *future_delay(uv_loop_t *loop, uint64_t ms) {
  future__loop_t *lp;
  future_t *f;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  f = future__delay_new(lp, ms);
  if (f != NULL)
    FUTURE__TRACE_REQUEST(f, "delay %llu ms", (unsigned long long)ms);
  return f;
}

/* The loop goes around before a delay of 0 fires: the continuation that
 * made it ran in the idle phase, the poll for I/O (which does not block
 * while continuations are queued or a timer is due) comes next, then the
 * next turn's timers, whose phase settles the delay. */
future_t *future_yield(uv_loop_t *loop) {
  future__loop_t *lp;
  future_t *f;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  f = future__delay_new(lp, 0);
  if (f != NULL)
    FUTURE__TRACE_REQUEST(f, "yield");
  return f;
}

/* timeout
 *
 * A timeout watches two futures: the input, and a delay of the loop's
 * heap (the deadline), so that it owns no libuv handle of its own (a
 * program's uv_walk at shutdown cannot close one behind its back, and a
 * pending timeout costs a heap entry rather than a timer handle). The
 * first of the two to settle decides; the other is cancelled, and the
 * state goes when both observers have run. */

typedef struct {
  future_t *result;   /* what the caller holds; NULL once settled */
  future_t *inner;    /* what we watch; NULL once its outcome has come */
  future_t *deadline; /* the delay; NULL once its observer has run */
  uint64_t ms;
  int holders;        /* the observers on `inner` and on `deadline` */
  future__site_t site; /* where the timeout was asked for */
} timeout_t;

static void timeout_release(timeout_t *t) {
  if (--t->holders == 0)
    future__free(t);
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
  if (t->deadline != NULL)
    future_cancel(t->deadline); /* its observer still runs, and releases */
  timeout_release(t);
}

/* The deadline's delay elapsed, or was cancelled. */
static void timeout_deadline(future_t *settled, void *data) {
  timeout_t *t = data;
  future__outcome_t out = {NULL, NULL, NULL};
  t->deadline = NULL;
  if (settled != NULL && settled->state == FUTURE_FULFILLED &&
      t->result != NULL &&
      (t->inner == NULL || t->inner->state == FUTURE_PENDING)) {
    char text[48];
    snprintf(text, sizeof text, "timed out after %llu ms",
             (unsigned long long)t->ms);
    /* Not "connection timed out", libuv's words for UV_ETIMEDOUT. */
    out.error = future__error_described(t->site.file, t->site.line,
                                        t->site.func, UV_ETIMEDOUT,
                                        "the future did not settle in time",
                                        text);
    timeout_finish(t, &out);
    if (t->inner != NULL)
      future_cancel(t->inner);
  }
  /* Otherwise the input settled before its deadline (its observer may be
   * queued behind this one in the same turn of the loop): the input
   * wins. */
  timeout_release(t);
}

static int timeout_cancel(future_t *f, void *req) {
  timeout_t *t = req;
  (void)f;
  t->result = NULL; /* the canceller settles it and drops our reference */
  if (t->deadline != NULL)
    future_cancel(t->deadline);
  if (t->inner != NULL)
    future_cancel(t->inner);
  return 1;
}

future_t *future_timeout(future_t *f, uint64_t ms) {
  timeout_t *t;
  future_t *result;
  FUTURE__CHECK(f);
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
  result = t->result;
  future__site_get(&t->site, __FILE__, __LINE__, "future_timeout");
  FUTURE__TRACE_REQUEST(result, "timeout %llu ms", (unsigned long long)ms);
  t->inner = f;
  t->deadline = NULL;
  t->ms = ms;
  t->holders = 1;
  if (f->state == FUTURE_PENDING) {
    /* The deadline counts from now. The loop's cached time lags behind
     * when the thread was busy since the loop last ran, and a deadline
     * counted from it would come early. */
    future_t *d;
    uv_update_time(f->lp->loop);
    d = future__delay_new(f->lp, ms);
    if (d != NULL && future__sink(d, timeout_deadline, t) != NULL) {
      t->deadline = d; /* borrowed: the heap holds it until its observer
                          has run */
      t->holders++;
    } else if (d != NULL) {
      /* The delay is pending, held by the heap alone: the observer could
       * not be had, so nobody waits on it. */
      future_cancel(d);
      d = NULL;
    }
    if (d == NULL) {
      future__outcome_t out = {NULL, NULL, NULL};
      out.error = future__error(UV_ENOMEM, "future_timeout");
      timeout_finish(t, &out); /* drops the request's reference only */
      future_unref(f);
      future__free(t);
      return result;
    }
  }
  /* An input settled already has won: its observer is queued, and no
   * deadline is armed at all. */
  if (future__sink(future_ref(f), timeout_inner_settled, t) == NULL) {
    /* Cannot watch `f`: fail now, and cancel the deadline, whose observer
     * releases the state. */
    future__outcome_t out = {NULL, NULL, NULL};
    out.error = future__error(UV_ENOMEM, "future_timeout");
    timeout_finish(t, &out);
    future_unref(t->inner);
    t->inner = NULL;
    if (t->deadline != NULL)
      future_cancel(t->deadline);
    timeout_release(t);
  }
  return result;
}
