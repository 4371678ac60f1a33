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
 * timer heap walk a million scattered handles. Instead a loop has one
 * libuv timer, armed for the earliest delay, and the delays wait in the
 * library's own structures, in the order libuv fires timers in: by due
 * time, then by creation.
 *
 * A delay due within WHEEL milliseconds of the wheel's base waits in a
 * timing wheel: a slot per millisecond, each a list of the delays due
 * then, linked through their futures' `next` (unused while a source is
 * pending), in creation order. A delay costs its future and nothing else,
 * and adding one is an append. The base is the first millisecond not yet
 * processed; every delay in the wheel is due in [base, base + WHEEL), so a
 * slot holds one due time, found from the slot's index. A delay due
 * later waits in a binary heap of 24-byte entries (due, creation, future)
 * and moves into the wheel as soon as the base comes within WHEEL of it,
 * before any delay made later can be put there, so that creation order
 * holds in a slot. A delay of 0 made in the millisecond the wheel has just
 * processed is due at base - 1: it goes to the `late` list, which fires
 * before every slot.
 *
 * future_delay_then(loop, ms, fn, data) is future_then(future_delay(loop,
 * ms), fn, NULL, data) in one future: the delay's future is the
 * continuation (kind FUTURE__TIMED) and waits in the wheel itself; when it
 * is due, it is queued as a continuation of the loop's `fired` future,
 * which is what a delay fulfils with (NULL), and `fn` sees `fired` as its
 * settled future. future_then on a delay never does this: its callback
 * gets the delay's own future, as the header says of every callback.
 *
 * Cancelling a delay does not search for it: the entry stays, holding the
 * structure's reference on its (now rejected) future, and is dropped when
 * its time comes, when dead entries outnumber live ones (the structures
 * are then swept), or at teardown. The libuv timer is stopped whenever no
 * live delay is left, so that cancelled delays never keep the loop
 * running. */

#define WHEEL 1024u /* slots, one per millisecond: a power of two */
#define WHEEL_MASK (WHEEL - 1)

struct future__wheel_s {
  future_t *head[WHEEL], *tail[WHEEL];
  uint64_t used[WHEEL / 64];   /* a bit per slot that holds delays */
  future_t *late, *late_tail;  /* due at base - 1 */
};

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

static void list_append(future_t **head, future_t **tail, future_t *f) {
  f->next = NULL;
  if (*tail != NULL)
    (*tail)->next = f;
  else
    *head = f;
  *tail = f;
}

/* Put `f`, due at `due` (in [base, base + WHEEL)), in its slot. */
static void wheel_put(future__loop_t *lp, future_t *f, uint64_t due) {
  struct future__wheel_s *w = lp->wheel;
  unsigned s = (unsigned)(due & WHEEL_MASK);
  list_append(&w->head[s], &w->tail[s], f);
  w->used[s / 64] |= (uint64_t)1 << (s % 64);
  lp->nwheel++;
}

/* The due time of the first slot that holds delays, or UINT64_MAX. */
static uint64_t wheel_first(const future__loop_t *lp) {
  const struct future__wheel_s *w = lp->wheel;
  unsigned b = (unsigned)(lp->wheel_base & WHEEL_MASK), k;
  if (lp->nwheel == 0)
    return UINT64_MAX;
  /* Words from the base's on, round the wheel; the base's word is seen
   * twice: its bits from the base first, those before it last. */
  for (k = 0; k <= WHEEL / 64; k++) {
    unsigned word = (b / 64 + k) % (WHEEL / 64);
    uint64_t bits = w->used[word];
    if (k == 0)
      bits &= ~(uint64_t)0 << (b % 64);
    else if (k == WHEEL / 64)
      bits &= ((uint64_t)1 << (b % 64)) - 1;
    if (bits != 0) {
      unsigned s = word * 64 + (unsigned)__builtin_ctzll(bits);
      return lp->wheel_base + ((s - b) & WHEEL_MASK);
    }
  }
  return UINT64_MAX; /* not reached: nwheel counts the slots' delays */
}

/* The base moved on: the heap's delays now within WHEEL of it go to
 * their slots, earliest (and, at one time, first made) first. */
static void wheel_take_from_heap(future__loop_t *lp) {
  while (lp->ndelays > 0 &&
         lp->delays[0].due - lp->wheel_base < WHEEL) {
    uint64_t due = lp->delays[0].due;
    wheel_put(lp, delay_pop(lp), due);
  }
}

/* When the wheel holds nothing, its base may move up to now (or the
 * heap's earliest, if that is sooner): delays made from now on then fit
 * in it. */
static void wheel_catch_up(future__loop_t *lp, uint64_t now) {
  uint64_t to = now;
  if (lp->nwheel > 0 || lp->wheel->late != NULL)
    return;
  if (lp->ndelays > 0 && lp->delays[0].due < to)
    to = lp->delays[0].due;
  if (to > lp->wheel_base) {
    lp->wheel_base = to;
    wheel_take_from_heap(lp);
  }
}

/* The earliest due time of every entry, dead or alive, or UINT64_MAX. */
static uint64_t delays_first(const future__loop_t *lp) {
  uint64_t due;
  if (lp->wheel == NULL)
    return UINT64_MAX;
  if (lp->wheel->late != NULL)
    return lp->wheel_base - 1;
  due = wheel_first(lp);
  if (due == UINT64_MAX && lp->ndelays > 0)
    due = lp->delays[0].due;
  return due;
}

/* The structure's reference on the settled `f` goes (a cancelled delay's
 * entry, dropped). */
static void delay_drop(future__loop_t *lp, future_t *f) {
  lp->delays_dead--;
  f->flags &= (uint8_t)~FUTURE__REQUEST;
  if (f->kind == FUTURE__SOURCE)
    f->data = NULL;
  future__loop_take_in_waits_hint(lp);
  future__unref(f);
}

/* The delay `f` is due (or, dead, is dropped): its future fulfils with
 * NULL, or the continuation folded into it is queued, and the structure's
 * reference goes (to the queue, for a continuation). */
static void delay_fire(future__loop_t *lp, future_t *f) {
  if (f->state != FUTURE_PENDING) {
    delay_drop(lp, f);
    return;
  }
  lp->delays_live--;
  f->flags &= (uint8_t)~FUTURE__REQUEST;
  if (f->kind == FUTURE__TIMED) {
    f->kind = FUTURE__THEN;
    lp->fired.refs++;
    f->parent = &lp->fired;
    future__enqueue(f);
    return;
  }
  {
    /* future__source_done, inline, without its search of the loop's list
     * of requests, where no delay is. */
    future__outcome_t none = {NULL, NULL, NULL};
    f->u.cancel = NULL; /* the outcome takes its place */
    future__settle(f, &none);
  }
  f->data = NULL;
  future__loop_take_in_waits_hint(lp);
  future__unref(f);
}

/* Fire (or drop) every delay of a list, in order. */
static void delay_fire_list(future__loop_t *lp, future_t *f) {
  while (f != NULL) {
    future_t *next = f->next;
    f->next = NULL;
    /* The next entry's future is touched next: its line comes in while
     * this one is fired, rather than one cache miss after another. */
    if (next != NULL)
      __builtin_prefetch(next);
    delay_fire(lp, f);
    f = next;
  }
}

static void delays_due(uv_timer_t *timer);

/* Take the list of slot `s` out of the wheel. */
static future_t *wheel_take(future__loop_t *lp, unsigned s) {
  struct future__wheel_s *w = lp->wheel;
  future_t *f = w->head[s], *x;
  w->head[s] = w->tail[s] = NULL;
  w->used[s / 64] &= ~((uint64_t)1 << (s % 64));
  for (x = f; x != NULL; x = x->next)
    lp->nwheel--;
  return f;
}

/* The first slot at or after `from` (in index order, not round the
 * wheel) that holds delays, or WHEEL. */
static unsigned wheel_next_used(const struct future__wheel_s *w,
                                unsigned from) {
  unsigned word = from / 64;
  uint64_t bits;
  if (from >= WHEEL)
    return WHEEL;
  bits = w->used[word] & (~(uint64_t)0 << (from % 64));
  for (;;) {
    if (bits != 0)
      return word * 64 + (unsigned)__builtin_ctzll(bits);
    if (++word == WHEEL / 64)
      return WHEEL;
    bits = w->used[word];
  }
}

/* Drop every entry but that of `keep` (NULL: every entry): all are
 * cancelled delays, since none is live. The wheel's base stays. */
static void delays_flush(future__loop_t *lp, const future_t *keep) {
  struct future__wheel_s *w = lp->wheel;
  unsigned s;
  future_t *f;
  if (w == NULL)
    return;
  while (lp->ndelays > 0) {
    f = lp->delays[--lp->ndelays].f;
    if (f != keep)
      delay_drop(lp, f);
  }
  /* The late list, then every slot that holds delays. */
  f = w->late;
  w->late = w->late_tail = NULL;
  for (s = wheel_next_used(w, 0);; s = wheel_next_used(w, s + 1)) {
    while (f != NULL) {
      future_t *next = f->next;
      f->next = NULL;
      if (f != keep)
        delay_drop(lp, f);
      f = next;
    }
    if (s >= WHEEL)
      break;
    f = wheel_take(lp, s);
  }
}

static void delays_start(future__loop_t *lp, uint64_t due) {
  uint64_t now = uv_now(lp->loop);
  lp->delay_armed = due;
  uv_timer_start(&lp->delay_timer, delays_due, due > now ? due - now : 0, 0);
  /* Not started only when a uv_walk closed it behind the library's back;
   * asked here, when the earliest delay changes, not for every delay. */
  lp->delay_on = uv_is_active((uv_handle_t *)&lp->delay_timer);
}

/* Arm the loop's timer for the earliest delay; when no live delay is left,
 * stop it and drop the entries of cancelled ones. */
static void delays_arm(future__loop_t *lp) {
  uint64_t due;
  if (lp->delays_live == 0) {
    uv_timer_stop(&lp->delay_timer);
    lp->delay_on = 0;
    delays_flush(lp, NULL);
    return;
  }
  due = delays_first(lp);
  if (lp->delay_on && lp->delay_armed == due)
    return;
  delays_start(lp, due);
}

static void delays_due(uv_timer_t *timer) {
  future__loop_t *lp = timer->data;
  struct future__wheel_s *w = lp->wheel;
  uint64_t now = uv_now(lp->loop);
  lp->delay_on = 0; /* a timer without repeat stops before it calls */
  /* Firing queues continuations and runs no user code, so nothing is
   * added under these loops. */
  if (w->late != NULL) {
    future_t *f = w->late;
    w->late = w->late_tail = NULL;
    delay_fire_list(lp, f);
  }
  while (lp->wheel_base <= now) {
    uint64_t limit = now - lp->wheel_base < WHEEL
                         ? now
                         : lp->wheel_base + WHEEL - 1;
    uint64_t due;
    while ((due = wheel_first(lp)) <= limit) {
      future_t *f = wheel_take(lp, (unsigned)(due & WHEEL_MASK));
      /* The next search starts from this slot's time. */
      lp->wheel_base = due;
      delay_fire_list(lp, f);
    }
    lp->wheel_base = limit + 1;
    if (lp->nwheel == 0) {
      /* Nothing in the wheel: skip to the heap's earliest (or past now),
       * rather than a turn of the wheel at a time. */
      uint64_t to = now + 1;
      if (lp->ndelays > 0 && lp->delays[0].due < to)
        to = lp->delays[0].due;
      if (to > lp->wheel_base)
        lp->wheel_base = to;
    }
    wheel_take_from_heap(lp);
  }
  delays_arm(lp);
}

/* Sweep the entries of cancelled delays out of the heap and the wheel. */
static void delays_compact(future__loop_t *lp) {
  struct future__wheel_s *w = lp->wheel;
  size_t i, n = lp->ndelays, live = 0;
  unsigned s;
  for (i = 0; i < n; i++) {
    future_t *f = lp->delays[i].f;
    if (f->state == FUTURE_PENDING)
      lp->delays[live++] = lp->delays[i];
    else
      delay_drop(lp, f);
  }
  lp->ndelays = live;
  for (i = live / 2; i-- > 0;)
    delay_sift_down(lp->delays, live, i);
  for (s = wheel_next_used(w, 0);; s = wheel_next_used(w, s + 1)) {
    /* Every slot that holds delays, then the late list (s == WHEEL). */
    future_t **head = s < WHEEL ? &w->head[s] : &w->late;
    future_t **tail = s < WHEEL ? &w->tail[s] : &w->late_tail;
    future_t *f = *head, *keep = NULL, *keep_tail = NULL;
    while (f != NULL) {
      future_t *next = f->next;
      if (f->state == FUTURE_PENDING) {
        list_append(&keep, &keep_tail, f);
      } else {
        f->next = NULL;
        if (s < WHEEL)
          lp->nwheel--;
        delay_drop(lp, f);
      }
      f = next;
    }
    *head = keep;
    *tail = keep_tail;
    if (s >= WHEEL)
      break;
    if (keep == NULL)
      w->used[s / 64] &= ~((uint64_t)1 << (s % 64));
  }
}

/* A delay, or a continuation folded into one, is cancelled: returns 1 if
 * the canceller drops the structure's reference (the last live delay:
 * every entry goes now), else 0 (the entry keeps it until dropped). */
static int delay_cancelled(future_t *f) {
  future__loop_t *lp = f->lp;
  if (lp->delays_closing)
    return 0; /* future__delay_cancel_all drops the entry itself */
  lp->delays_live--;
  if (lp->delays_live == 0) {
    uv_timer_stop(&lp->delay_timer);
    lp->delay_on = 0;
    delays_flush(lp, f);
    return 1;
  }
  lp->delays_dead++;
  return 0;
}

static int delay_cancel(future_t *f, void *req) {
  (void)req;
  return delay_cancelled(f);
}

int future__timed_cancel(future_t *f) { return delay_cancelled(f); }

/* Cancel each pending delay of the list `f` (linked through `next`), and
 * drop the structure's reference on each. */
static void cancel_each(future_t *f) {
  future__outcome_t none = {NULL, NULL, NULL};
  while (f != NULL) {
    future_t *next = f->next;
    f->next = NULL;
    if (f->state == FUTURE_PENDING)
      future_cancel(f);
    if (f->kind == FUTURE__SOURCE) {
      future__source_done(f, &none);
    } else {
      f->flags &= (uint8_t)~FUTURE__REQUEST;
      future_unref(f);
    }
    f = next;
  }
}

void future__delay_cancel_all(future__loop_t *lp) {
  struct future__wheel_s *w = lp->wheel;
  unsigned s;
  if (w == NULL)
    return;
  lp->delays_closing = 1;
  /* Every entry, in one list: the cancels run no user code, but settling
   * may queue continuations; nothing is added meanwhile. */
  {
    future_t *all = NULL, *all_tail = NULL;
    while (lp->ndelays > 0)
      list_append(&all, &all_tail, lp->delays[--lp->ndelays].f);
    for (s = 0; s <= WHEEL; s++) {
      future_t *f = s < WHEEL ? w->head[s] : w->late;
      while (f != NULL) {
        future_t *next = f->next;
        list_append(&all, &all_tail, f);
        f = next;
      }
    }
    lp->wheel = NULL;
    lp->nwheel = 0;
    future__free(w);
    cancel_each(all);
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
  future_t *f;
  uint64_t now = uv_now(lp->loop), due;
  if (lp->wheel == NULL) {
    lp->wheel = future__calloc(1, sizeof(*lp->wheel));
    if (lp->wheel == NULL)
      return NULL;
    lp->wheel_base = now;
  }
  if (lp->delays_dead > lp->delays_live && lp->delays_dead >= 64)
    delays_compact(lp);
  due = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
  wheel_catch_up(lp, now);
  if (due >= lp->wheel_base && due - lp->wheel_base >= WHEEL &&
      lp->ndelays == lp->delays_cap) {
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
  if (due < lp->wheel_base) {
    /* Made in the millisecond the wheel has just processed (the loop's
     * time has not moved since): due before every slot. */
    list_append(&lp->wheel->late, &lp->wheel->late_tail, f);
    due = lp->wheel_base - 1;
  } else if (due - lp->wheel_base < WHEEL) {
    wheel_put(lp, f, due);
  } else {
    future__delay_t *e = &lp->delays[lp->ndelays];
    e->due = due;
    e->seq = lp->delay_seq++;
    e->f = f;
    delay_sift_up(lp->delays, lp->ndelays++);
  }
  lp->delays_live++;
  /* The timer is armed for the earliest entry: only an earlier one moves
   * it. Not armed (the first delay, or the timer closed by a walk): arm
   * it for the earliest. */
  if (!lp->delay_on)
    delays_arm(lp);
  else if (due < lp->delay_armed)
    delays_start(lp, due);
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

future_t *future_delay_then(uv_loop_t *loop, uint64_t ms,
                            future_cb on_fulfilled, void *data) {
  future_t *d = future_delay(loop, ms);
  if (d == NULL || on_fulfilled == NULL)
    return d; /* a delay whose outcome passes through: the delay */
  if (FUTURE__TRACING())
    /* The trace shows the delay and the step as two futures. */
    return (future_then)(d, on_fulfilled, NULL, data);
  /* The delay's future becomes the continuation (see "delay" above). */
  d->kind = FUTURE__TIMED;
  d->u.cb.on_fulfilled = on_fulfilled;
  d->u.cb.on_rejected = NULL;
  d->data = data;
  return d;
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
