/*
 * fuzz_async.c: fibers in the fuzz harness: future_async, whose function
 * runs a little program read from the input, and future_await, inside a
 * fiber and outside.
 *
 * OP_ASYNC starts a fiber whose program is a few steps and a return. Each
 * step first does something, as a callback's side effect does (cancel,
 * settle or drop a slot, cancel the fiber's own future, future_wait or
 * future_loop_close, which must refuse with FUTURE_EINCALLBACK), then
 * awaits a future: a slot's (a new reference, or the slot's own, consumed),
 * a new delay, a settled future, the fiber's own future or a continuation
 * of it, a nested fiber with a program of its own, or NULL. The return
 * hands back a value, a rejection, NULL, a slot's future, a new pending
 * one, the fiber's own future, a future nothing can settle, or a delay.
 * OP_AWAIT calls future_await outside any fiber. Checked:
 *   - fn runs once at most, only after future_async returned, on the
 *     loop's thread inside a fiber (future_in_fiber), never inside a call
 *     that must not run callbacks, never once its future was cancelled
 *     before it started, never after future_loop_close returned 0; and
 *     future_loop_close returns 0 only when every fiber that started has
 *     returned (else a suspended fiber holds its future: UV_EBUSY);
 *   - each await returns result->status, which is its error's code, and:
 *     UV_EINVAL for NULL; UV_ECANCELED at once when the fiber's future was
 *     cancelled while the fiber ran and no await has reported it yet, and
 *     for the await during which it was cancelled (only those: one cancel,
 *     one report); else FUTURE_ECYCLE for the fiber's own future, for a
 *     continuation of it while it is pending, and for a fiber suspended
 *     (through other fibers) on this one, and only for a future that the
 *     harness saw could wait on the fiber; else the outcome of the future:
 *     exactly, for one that had settled, or one a slot still holds after
 *     the await (a held future is never reported FUTURE_ESTALLED); a delay
 *     fulfils with NULL or is cancelled; a future_new whose only reference
 *     went to the await reports FUTURE_ESTALLED; a nested fiber's outcome
 *     follows its own rules;
 *   - an await that reports a cancel at once leaves the futures the harness
 *     holds as they were (nothing else runs);
 *   - the cancel reaches what the fiber awaited: a nested fiber that only
 *     the await held, and that no continuation consumes (future_cancel's
 *     rule), is cancelled with it: it never starts, or its future is no
 *     longer pending;
 *   - the fiber's future settles with what fn returned (the same value or
 *     error, UV_ENOMEM for NULL, FUTURE_ECYCLE for itself or a future
 *     waiting on it, FUTURE_ESTALLED for a future nothing can settle, or
 *     the outcome of the pending future it returned), unless it was
 *     cancelled: then, and only then, with UV_ECANCELED;
 *   - continuations never run inside a fiber (fuzz_ops.c's callbacks);
 *   - outside a fiber, future_await returns FUTURE_ENOTFIBER and consumes
 *     its future (a fresh one is freed, its value's destructor run).
 * Values and allocation failures follow the harness's usual rules.
 *
 * FUZZ_OPS_TIDY: "cycles" awaits and returns nothing that waits on the
 * fiber, but the fiber's own future (left to the library, which answers
 * FUTURE_ECYCLE); "cancel" never cancels, from a fiber, its own future
 * or one that waits on it; "sources" keeps the last reference to a
 * future_new, as everywhere (a future nothing can settle, returned, is
 * kept and settled in the end).
 *
 * FUZZ_OPS_AVOID: "await-status" accepts a status that is not its error's
 * code when that error is the library's UV_ENOMEM (fuzz/known-bugs);
 * "close-delay" makes no delay in a fiber running inside the harness's
 * future_loop_close.
 *
 * A fiber runs the harness's code on its own stack (64 KiB by default):
 * the code here keeps its frames small.
 */
#include "fuzz_ops.h"

#define MAX_FIBERS 1024
#define MAX_STEPS 6
#define MAX_DEPTH 2 /* a fiber at depth 2 starts no nested fiber */

/* What a step awaits (a & 7). */
enum {
  AW_SLOT,     /* a new reference of a slot (a new pending future if empty) */
  AW_TAKE,     /* the slot's own reference, consumed (idem) */
  AW_DELAY,    /* a new delay of 1 + b % 3 ms */
  AW_SETTLED,  /* future_resolved(make_value(b)) */
  AW_REJECTED, /* future_rejected(make_error(b)) */
  AW_SELF,     /* its own future (variant: a continuation of it) */
  AW_NESTED,   /* a nested fiber (variant: also kept in a slot) */
  AW_NULL      /* NULL */
};

/* What a step does first ((a >> 3) & 7), to slot b >> 4. */
enum {
  FS_NONE,
  FS_CANCEL,
  FS_RESOLVE,
  FS_REJECT,
  FS_DROP,
  FS_CANCEL_SELF,
  FS_WAIT,      /* future_wait: FUTURE_EINCALLBACK */
  FS_LOOP_CLOSE /* future_loop_close: FUTURE_EINCALLBACK */
};

/* What the fiber returns (a & 7 of the return). */
enum {
  FR_VALUE,    /* future_resolved(make_value(b)) */
  FR_REJECTED, /* future_rejected(FUTURE_EUSER(b)) */
  FR_NULL,     /* NULL: UV_ENOMEM */
  FR_SLOT,     /* a slot's future (a new pending one if empty) */
  FR_PENDING,  /* a new pending future, left in the slot */
  FR_SELF,     /* its own future: FUTURE_ECYCLE */
  FR_BARE,     /* a future_new handed over alone: FUTURE_ESTALLED */
  FR_DELAY     /* a delay of 1 + b % 3 ms */
};

typedef struct {
  uint8_t what, side, slot, side_slot, arg;
  uint8_t variant; /* bit 6 */
  uint8_t stop;    /* bit 7: return at once if the await says UV_ECANCELED */
  int nested;      /* AW_NESTED: the nested fiber's context, or -1 */
} fstep_t;

typedef struct {
  int uid;             /* its future's identity, -1 if none */
  int depth;
  uint8_t opts;
  future_t *self;      /* borrowed: the fiber holds it while fn runs */
  future_t *watch;     /* the harness's own reference (opts bit 2) */
  int nsteps;
  fstep_t steps[MAX_STEPS];
  fstep_t ret;
  int made;            /* future_async returned its future */
  int must_not_run;    /* future_async gave up: fn must never run */
  int started, returned;
  int delivered;       /* an await has reported the cancel of its future */
  int consumed;        /* a continuation of its future was made (which
                          keeps it wanted, though nobody holds that one) */
  int suspended;       /* in future_await, on awaiting_uid */
  int awaiting_uid;
  unsigned epoch;      /* future_loop_close successes when it was made */
  /* What fn returned. */
  int ret_kind;
  int ret_uid;
  future_state_t ret_st; /* the returned future's, when returned */
  void *ret_val;
  const future_error_t *ret_err;
  int ret_cycle;       /* it must answer FUTURE_ECYCLE */
  int cancelled_at_return;
} fiber_t;

static fiber_t fibers[MAX_FIBERS];
static fiber_t scratch; /* parses a program when fibers[] is full */
static int nfibers;
static unsigned close_epoch; /* future_loop_close returned 0 this often */

static const char *const aw_names[8] = {"slot", "take", "delay", "settled",
                                        "rejected", "self", "nested", "NULL"};
static const char *const fr_names[8] = {"value", "rejection", "NULL", "slot",
                                        "pending", "self", "bare", "delay"};

/* A program: options byte, count byte (% (MAX_STEPS + 1) steps), two bytes
 * per step, each AW_NESTED step followed by the nested program, then the
 * return's two bytes. Returns the context, or -1 (parsed, but no room). */
static int parse_program(int depth) {
  int ci = nfibers < MAX_FIBERS ? nfibers++ : -1;
  fiber_t *c = ci >= 0 ? &fibers[ci] : &scratch;
  uint8_t a, b;
  memset(c, 0, sizeof(*c));
  c->uid = -1;
  c->ret_uid = -1;
  c->awaiting_uid = -1;
  c->depth = depth;
  c->opts = next_byte();
  c->nsteps = next_byte() % (MAX_STEPS + 1);
  for (int k = 0; k < c->nsteps; k++) {
    fstep_t *sp = &c->steps[k];
    a = next_byte();
    b = next_byte();
    sp->what = a & 7;
    sp->side = (a >> 3) & 7;
    sp->variant = (a >> 6) & 1;
    sp->stop = a >> 7;
    sp->slot = b % NSLOTS;
    sp->side_slot = (uint8_t)((b >> 4) % NSLOTS);
    sp->arg = b;
    sp->nested = -1;
    if (sp->what == AW_NESTED) {
      if (depth < MAX_DEPTH)
        sp->nested = parse_program(depth + 1);
      else
        sp->what = AW_SETTLED;
      /* `c` may be the scratch context, reused by the nested parse: a
       * nested program of a fiber that has no room has none either. */
      if (ci < 0)
        return -1;
    }
  }
  a = next_byte();
  b = next_byte();
  c->ret.what = a & 7;
  c->ret.side = (a >> 3) & 7;
  c->ret.slot = b % NSLOTS;
  c->ret.side_slot = (uint8_t)((b >> 4) % NSLOTS);
  c->ret.arg = b;
  c->ret.nested = -1;
  return ci;
}

static fiber_t *of_uid(int uid) {
  if (uid < 0 || S.meta[uid].kind != K_ASYNC)
    return NULL;
  return &fibers[S.meta[uid].aux];
}

/* The future `uid` is held by the harness (a slot, or the kept list):
 * alive, so never released unsettled. NULL if not. */
static future_t *held_uid(int uid) {
  if (uid < 0)
    return NULL;
  for (int i = 0; i < NSLOTS; i++)
    if (S.pool[i].f != NULL && S.pool[i].uid == uid)
      return S.pool[i].f;
  for (int k = 0; k < S.nkept; k++)
    if (S.kept_uid[k] == uid)
      return S.kept[k];
  return NULL;
}

/* Whether the future `x` is a pending fiber suspended on an await that,
 * through other such fibers, is on the fiber `me`: then `me` awaiting `x`
 * closes a cycle the library must refuse (`me` is pending). */
static int fiber_waits(int x, int me) {
  for (int hops = 0; hops <= MAX_FIBERS && x >= 0; hops++) {
    const fiber_t *c;
    if (x == me)
      return hops > 0;
    c = of_uid(x);
    if (c == NULL || !c->suspended || c->self == NULL ||
        future_state(c->self) != FUTURE_PENDING)
      return 0;
    x = c->awaiting_uid;
  }
  return 0;
}

/* Checks made whenever a fiber's code runs (at the start, after each
 * await). */
static void fiber_running(const fiber_t *c, const char *where) {
  CHECK(future_in_fiber(), "%s: fiber %d runs, but not in a fiber", where,
        (int)(c - fibers));
  CHECK(S.nocb == 0, "%s: fiber %d runs inside a library call", where,
        (int)(c - fibers));
  CHECK(c->epoch == close_epoch,
        "%s: fiber %d runs after future_loop_close returned 0", where,
        (int)(c - fibers));
  check_pool(where);
}

static future_t *fiber_fn(uv_loop_t *loop, void *arg);

static const char fiber_name[] = "fuzz fiber";

/* future_async for the context `c`: its future (a new reference), or
 * NULL. */
static future_t *start_fiber(fiber_t *c) {
  future_async_options_t o;
  future_t *f;
  memset(&o, 0, sizeof(o));
  switch (c->opts & 3) {
  case 2:
    o.stack_size = 128 * 1024;
    break;
  case 3:
    o.flags = FUTURE_ASYNC_NO_GUARD;
    break;
  default:
    break;
  }
  if (c->opts & 8)
    o.name = fiber_name;
  c->epoch = close_epoch;
  NOCB(f = future_async(&S.loop, fiber_fn, c, (c->opts & 16) ? NULL : &o));
  if (f == NULL) {
    CHECK(OOM(), "future_async returned NULL");
    c->must_not_run = 1;
    return NULL;
  }
  S.loop_state = 1;
  c->made = 1;
  c->self = f;
  CHECK(future_state(f) == FUTURE_PENDING || ENOMEM_FUTURE(f),
        "a fiber's future settled inside future_async");
  if (future_state(f) != FUTURE_PENDING)
    c->must_not_run = 1;
  c->uid = new_uid(K_ASYNC);
  if (c->uid >= 0)
    S.meta[c->uid].aux = (int)(c - fibers);
  if (c->opts & 4)
    NOCB(c->watch = future_ref(f));
  TRACE("  fiber %d: future %d, %d steps, returns %s\n", (int)(c - fibers),
        c->uid, c->nsteps, fr_names[c->ret.what]);
  return f;
}

/* What the harness expects of an await. */
enum { EXP_NULL, EXP_FUTURE, EXP_DELAY, EXP_BARE, EXP_SELF, EXP_THEN_SELF,
       EXP_NESTED };

typedef struct {
  int kind;
  int uid;               /* the awaited future's identity, or -1 */
  future_state_t pre_st; /* its state when awaited */
  void *pre_val;
  const future_error_t *pre_err; /* compared, never read: the await may
                                    free it */
  int pre_code;
  fiber_t *orphan;       /* a nested fiber only this await holds */
} expect_t;

static void expect_of(expect_t *ex, int kind, int uid, const future_t *f) {
  ex->kind = kind;
  ex->uid = uid;
  ex->pre_st = f != NULL ? future_state(f) : FUTURE_PENDING;
  ex->pre_val = f != NULL ? future_value(f) : NULL;
  ex->pre_err = f != NULL ? future_error(f) : NULL;
  ex->pre_code = ex->pre_err != NULL ? future_error_code(ex->pre_err) : 0;
  ex->orphan = NULL;
}

/* The await's status, against what the awaited future did. */
static void check_outcome(const fiber_t *c, const expect_t *ex, int rc,
                          const future_result_t *r, int self_was_pending) {
  int me = (int)(c - fibers);
  future_t *h;
  switch (ex->kind) {
  case EXP_SELF:
    CHECK(rc == FUTURE_ECYCLE, "fiber %d awaited its own future: %d", me, rc);
    return;
  case EXP_THEN_SELF:
    if (self_was_pending) {
      CHECK(rc == FUTURE_ECYCLE,
            "fiber %d awaited a continuation of its own pending future: %d",
            me, rc);
    } else {
      const future_error_t *e = future_error(c->self);
      CHECK(e != NULL && rc == future_error_code(e) &&
                (r == NULL || r->error == e),
            "fiber %d awaited a continuation of its own settled future: "
            "%d, not its error",
            me, rc);
    }
    return;
  case EXP_DELAY:
    CHECK((rc == 0 && (r == NULL || r->value == NULL)) || rc == UV_ECANCELED,
          "fiber %d awaited a delay: %d", me, rc);
    return;
  case EXP_BARE:
    CHECK(rc == FUTURE_ESTALLED,
          "fiber %d awaited a future_new nobody else holds: %d, not "
          "FUTURE_ESTALLED",
          me, rc);
    return;
  case EXP_NESTED:
    if (r != NULL)
      seen_outcome(ex->uid, rc == 0 ? FUTURE_FULFILLED : FUTURE_REJECTED,
                   r->value, r->error);
    return;
  default:
    break;
  }
  if (ex->uid >= 0 && ex->uid == c->uid) {
    CHECK(rc == FUTURE_ECYCLE, "fiber %d awaited its own future: %d", me, rc);
    return;
  }
  if (ex->pre_st != FUTURE_PENDING) {
    /* Settled already: its outcome, exactly. */
    if (ex->pre_st == FUTURE_FULFILLED)
      CHECK(rc == 0 && (r == NULL || r->value == ex->pre_val),
            "fiber %d awaited a fulfilled future: %d, or another value", me,
            rc);
    else
      CHECK(rc == ex->pre_code && (r == NULL || r->error == ex->pre_err),
            "fiber %d awaited a future rejected with %d: %d, or another "
            "error",
            me, ex->pre_code, rc);
    return;
  }
  h = held_uid(ex->uid);
  if (h != NULL) {
    /* Still held, so never released: its outcome, unless the await
     * refused a cycle. */
    future_state_t st = future_state(h);
    const future_error_t *e = future_error(h);
    if (rc == 0) {
      CHECK(st == FUTURE_FULFILLED &&
                (r == NULL || r->value == future_value(h)),
            "fiber %d's await fulfilled, the future it awaited %s", me,
            st == FUTURE_FULFILLED ? "with another value" : "did not");
    } else if (!(st == FUTURE_REJECTED && future_error_code(e) == rc &&
                 (r == NULL || r->error == e))) {
      CHECK(rc == FUTURE_ECYCLE && reaches(ex->uid, c->uid),
            "fiber %d's await of future %d returned %d, which is neither "
            "its outcome nor a cycle it could close",
            me, ex->uid, rc);
    }
  }
}

/* The await of the nested fiber `n`, which nothing else held, reported
 * the cancel of its parent: unless `n` had finished, or a continuation of
 * its own future consumes it (future_cancel's rule), its future was
 * cancelled too, as unwanted. */
static void orphaned(fiber_t *n) {
  if (n->returned || n->consumed)
    return; /* finished before, cancelled while following, or still
               consumed by a continuation of its own: unknown */
  if (!n->started) {
    TRACE("  fiber %d: cancelled before it started\n", (int)(n - fibers));
    n->must_not_run = 1;
    return;
  }
  CHECK(future_state(n->self) != FUTURE_PENDING,
        "fiber %d's parent was cancelled awaiting it, nothing else held its "
        "future, and it was not cancelled",
        (int)(n - fibers));
}

/* future_await(f) as fiber `c` (f: a reference handed over, or NULL). */
static int fiber_await(fiber_t *c, future_t *f, const expect_t *ex,
                       int with_result) {
  int me = (int)(c - fibers), rc, must_cycle, self_was_pending,
      pending_cancel, self_now_pending;
  future_result_t r, *rp = with_result ? &r : NULL;
  future_t *h = held_uid(ex->uid);
  future_state_t held_st = h != NULL ? future_state(h) : FUTURE_PENDING;
  self_was_pending = future_state(c->self) == FUTURE_PENDING;
  pending_cancel = !self_was_pending && !c->delivered;
  must_cycle = f != NULL && !pending_cancel &&
               (ex->kind == EXP_SELF || (ex->uid >= 0 && ex->uid == c->uid) ||
                (self_was_pending &&
                 (ex->kind == EXP_THEN_SELF || fiber_waits(ex->uid, c->uid))));
  if (ex->uid >= 0)
    add_edge(c->uid, ex->uid);
  TRACE("  fiber %d: await future %d%s%s\n", me, ex->uid,
        pending_cancel ? " (cancelled)" : "", must_cycle ? " (cycle)" : "");
  c->suspended = 1;
  c->awaiting_uid = ex->uid;
  rc = future_await(f, rp);
  c->suspended = 0;
  c->awaiting_uid = -1;
  TRACE("  fiber %d: await future %d returned %d\n", me, ex->uid, rc);
  fiber_running(c, "fiber await");
  CHECK(rc <= 0, "future_await returned %d", rc);
  if (rp != NULL) {
    CHECK(rc == r.status, "future_await returned %d, status %d", rc,
          r.status);
    if (rc == 0) {
      CHECK(r.error == NULL, "future_await: status 0 with an error");
      check_value(r.value);
    } else {
      CHECK(r.error != NULL && r.value == NULL,
            "future_await: status %d without its error, or with a value", rc);
      CHECK(future_error_code(r.error) == rc ||
                ((S.avoid & AVOID_AWAIT_STATUS) && OOM() &&
                 future_error_code(r.error) == UV_ENOMEM),
            "future_await: status %d, but its error's code is %d", rc,
            future_error_code(r.error));
    }
  }
  self_now_pending = future_state(c->self) == FUTURE_PENDING;
  if (f == NULL) {
    CHECK(rc == UV_EINVAL || ENOMEM_OK(rc), "future_await(NULL) returned %d",
          rc);
  } else if (pending_cancel) {
    CHECK(rc == UV_ECANCELED || ENOMEM_OK(rc),
          "fiber %d's future was cancelled while it ran: its next await "
          "returned %d",
          me, rc);
    c->delivered = 1;
    /* A nested fiber made for this await, which nothing else holds, is
     * cancelled with it, before it could start. */
    if (ex->orphan != NULL)
      ex->orphan->must_not_run = 1;
    /* At once: nothing ran, and a future the harness holds is wanted. */
    if (h != NULL && held_uid(ex->uid) == h)
      CHECK(future_state(h) == held_st,
            "an await refused at once changed the future it was given");
  } else if (self_was_pending && !self_now_pending) {
    /* Cancelled during the await: it says so, unless it returned at once
     * (the next await will). */
    if (rc == UV_ECANCELED) {
      c->delivered = 1;
      if (ex->orphan != NULL)
        orphaned(ex->orphan);
    } else
      CHECK(rc == FUTURE_ECYCLE || ENOMEM_OK(rc),
            "fiber %d's future was cancelled during its await, which "
            "returned %d",
            me, rc);
  } else {
    if (must_cycle)
      CHECK(rc == FUTURE_ECYCLE || ENOMEM_OK(rc),
            "fiber %d awaited future %d, which waits on it: %d, not "
            "FUTURE_ECYCLE",
            me, ex->uid, rc);
    if (!ENOMEM_OK(rc))
      check_outcome(c, ex, rc, rp, self_was_pending);
  }
  if (rp != NULL)
    NOCB(future_result_release(&r));
  return rc;
}

/* Whether fiber `c` may cancel slot i, for FUZZ_OPS_TIDY=cancel. */
static int tidy_cancel_refuses(const fiber_t *c, int i) {
  const slot_t *s = &S.pool[i];
  return (S.tidy & TIDY_CANCEL) && s->f != NULL &&
         (s->f == c->self || (c->uid >= 0 && (s->uid == c->uid ||
                                              reaches(s->uid, c->uid))));
}

/* What a step (or the return) does first. */
static void fiber_side(fiber_t *c, const fstep_t *sp) {
  int i = sp->side_slot, rc;
  switch (sp->side) {
  case FS_CANCEL:
    if (!tidy_cancel_refuses(c, i))
      op_cancel(i);
    break;
  case FS_RESOLVE:
    op_resolve(i, sp->arg);
    break;
  case FS_REJECT:
    op_reject(i, sp->arg);
    break;
  case FS_DROP:
    drop(i);
    break;
  case FS_CANCEL_SELF: {
    int pending = future_state(c->self) == FUTURE_PENDING;
    if (S.tidy & TIDY_CANCEL)
      break;
    TRACE("  fiber %d: cancel its own future\n", (int)(c - fibers));
    NOCB(rc = future_cancel(c->self));
    CHECK(rc == (pending ? 0 : FUTURE_ESETTLED),
          "a fiber cancelling its own future: %d", rc);
    if (pending) {
      const future_error_t *e = future_error(c->self);
      CHECK(future_state(c->self) == FUTURE_REJECTED && e != NULL &&
                (future_error_code(e) == UV_ECANCELED ||
                 ENOMEM_OK(future_error_code(e))),
            "a fiber's own future, cancelled, is not rejected with "
            "UV_ECANCELED");
    }
    break;
  }
  case FS_WAIT: {
    future_result_t r;
    future_t *f;
    if (S.pool[i].f != NULL)
      NOCB(f = future_ref(S.pool[i].f));
    else
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
    NOCB(rc = future_wait(f, &r));
    CHECK(rc == FUTURE_EINCALLBACK || (f == NULL && rc == UV_EINVAL) ||
              ENOMEM_OK(rc),
          "future_wait in a fiber returned %d", rc);
    NOCB(future_result_release(&r));
    break;
  }
  case FS_LOOP_CLOSE:
    NOCB(rc = future_loop_close(&S.loop));
    CHECK(rc == FUTURE_EINCALLBACK, "future_loop_close in a fiber returned %d",
          rc);
    break;
  default:
    break;
  }
}

/* A new reference of slot i's future, making a pending one there if it is
 * empty (not while finishing); NULL if there is none. */
static future_t *slot_ref(int i) {
  future_t *f;
  if (S.pool[i].f == NULL && !S.finishing)
    op_new(i);
  if (S.pool[i].f == NULL)
    return NULL;
  NOCB(f = future_ref(S.pool[i].f));
  return f;
}

/* One step: its side effect, then its await. Returns the await's status,
 * or 1 if it awaited nothing. */
static int fiber_step(fiber_t *c, const fstep_t *sp) {
  expect_t ex = {EXP_NULL, -1, FUTURE_PENDING, NULL, NULL, 0, NULL};
  future_t *f = NULL;
  int with_result = !sp->variant, i = sp->slot;
  TRACE("  fiber %d: step: side %d on slot %d, await %s\n", (int)(c - fibers),
        sp->side, sp->side_slot, aw_names[sp->what]);
  fiber_side(c, sp);
  check_pool("fiber side effect");
  switch (sp->what) {
  case AW_SLOT:
  case AW_TAKE: {
    int uid, fresh = S.pool[i].f == NULL;
    if (S.pool[i].f == NULL && !S.finishing)
      op_new(i);
    if (S.pool[i].f == NULL) {
      /* Finishing, or out of memory: a settled one instead. */
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
      expect_of(&ex, EXP_FUTURE, -1, f);
      break;
    }
    uid = S.pool[i].uid;
    if (tidy_refuses(c->uid, uid))
      return 1;
    expect_of(&ex, EXP_FUTURE, uid, S.pool[i].f);
    if (sp->what == AW_SLOT) {
      NOCB(f = future_ref(S.pool[i].f));
    } else {
      f = take((uint8_t)(i | 16));
      if (fresh && held_uid(uid) == NULL)
        ex.kind = EXP_BARE;
    }
    break;
  }
  case AW_DELAY:
    if (S.closing && (S.avoid & AVOID_CLOSE_DELAY)) {
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
      expect_of(&ex, EXP_FUTURE, -1, f);
      break;
    }
    NOCB(f = future_delay(&S.loop, 1 + sp->arg % 3));
    expect_of(&ex, EXP_DELAY, -1, f);
    if (f != NULL && future_state(f) != FUTURE_PENDING)
      ex.kind = EXP_FUTURE; /* out of memory */
    break;
  case AW_SETTLED: {
    void *value;
    future_dtor_cb dtor;
    make_value(sp->arg, &value, &dtor);
    NOCB(f = future_resolved(&S.loop, value, dtor));
    expect_of(&ex, EXP_FUTURE, -1, f);
    break;
  }
  case AW_REJECTED:
    NOCB(f = future_rejected(&S.loop, make_error(sp->arg)));
    expect_of(&ex, EXP_FUTURE, -1, f);
    break;
  case AW_SELF:
    if (!sp->variant) {
      NOCB(f = future_ref(c->self));
      expect_of(&ex, EXP_SELF, c->uid, NULL);
    } else {
      if ((S.tidy & TIDY_CYCLES) && future_state(c->self) == FUTURE_PENDING)
        return 1;
      NOCB(f = future_then(future_ref(c->self), NULL, NULL, NULL));
      c->consumed = 1;
      expect_of(&ex, EXP_THEN_SELF, -1, NULL);
      if (f == NULL) {
        CHECK(OOM(), "future_then failed");
        ex.kind = EXP_NULL;
      }
    }
    break;
  case AW_NESTED: {
    fiber_t *n = sp->nested >= 0 ? &fibers[sp->nested] : NULL;
    if (n == NULL)
      return 1;
    f = start_fiber(n);
    if (f == NULL) {
      ex.kind = EXP_NULL;
      ex.uid = -1;
      break;
    }
    expect_of(&ex, EXP_NESTED, n->uid, f);
    if (future_state(f) != FUTURE_PENDING)
      ex.kind = EXP_FUTURE; /* no stack */
    if (sp->variant && !S.finishing && n->uid >= 0) {
      future_t *g;
      NOCB(g = future_ref(f));
      put(sp->side_slot, g, n->uid);
    } else if (n->watch == NULL && ex.kind == EXP_NESTED) {
      ex.orphan = n;
    }
    with_result = 1;
    break;
  }
  default:
    expect_of(&ex, EXP_NULL, -1, NULL);
    break;
  }
  if (f == NULL)
    ex.kind = EXP_NULL;
  return fiber_await(c, f, &ex, with_result);
}

/* The return: its side effect, then the future fn hands back, noted. */
static future_t *fiber_return(fiber_t *c) {
  const fstep_t *sp = &c->ret;
  int i = sp->slot;
  future_t *f = NULL;
  fiber_side(c, sp);
  c->ret_kind = sp->what;
  switch (sp->what) {
  case FR_VALUE: {
    void *value;
    future_dtor_cb dtor;
    make_value(sp->arg, &value, &dtor);
    NOCB(f = future_resolved(&S.loop, value, dtor));
    break;
  }
  case FR_REJECTED:
    NOCB(f = future_rejected(
             &S.loop, future_error_new(FUTURE_EUSER(sp->arg), "fuzz fiber")));
    break;
  case FR_NULL:
    break;
  case FR_SLOT:
  case FR_PENDING:
    if (sp->what == FR_PENDING && !S.finishing)
      op_new(i);
    if (S.pool[i].f != NULL && tidy_refuses(c->uid, S.pool[i].uid)) {
      c->ret_kind = FR_VALUE;
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
      break;
    }
    f = slot_ref(i);
    if (f != NULL)
      c->ret_uid = S.pool[i].uid;
    else
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
    break;
  case FR_SELF:
    NOCB(f = future_ref(c->self));
    c->ret_uid = c->uid;
    break;
  case FR_BARE:
    if ((S.tidy & TIDY_SOURCES) && (S.finishing || S.nkept >= MAX_KEPT)) {
      c->ret_kind = FR_VALUE;
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
      break;
    }
    NOCB(f = future_new(&S.loop));
    if (f != NULL && (S.tidy & TIDY_SOURCES)) {
      /* A tidy user keeps it, and settles it in the end. */
      int uid = new_uid(K_NEW);
      if (uid >= 0) {
        S.kept_uid[S.nkept] = uid;
        NOCB(S.kept[S.nkept++] = future_ref(f));
        c->ret_uid = uid;
        c->ret_kind = FR_SLOT;
      }
    }
    break;
  default:
    if (S.closing && (S.avoid & AVOID_CLOSE_DELAY)) {
      c->ret_kind = FR_VALUE;
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
      break;
    }
    NOCB(f = future_delay(&S.loop, 1 + sp->arg % 3));
    break;
  }
  if (f != NULL) {
    c->ret_st = future_state(f);
    c->ret_val = future_value(f);
    c->ret_err = future_error(f);
  }
  c->cancelled_at_return = future_state(c->self) != FUTURE_PENDING;
  c->ret_cycle =
      f != NULL && !c->cancelled_at_return &&
      (f == c->self || (c->ret_uid >= 0 && c->ret_st == FUTURE_PENDING &&
                        fiber_waits(c->ret_uid, c->uid)));
  add_edge(c->uid, c->ret_uid);
  TRACE("  fiber %d: returns %s%s\n", (int)(c - fibers), fr_names[sp->what],
        c->cancelled_at_return ? " (cancelled)" : "");
  c->returned = 1;
  return f;
}

static future_t *fiber_fn(uv_loop_t *loop, void *arg) {
  fiber_t *c = arg;
  int me = (int)(c - fibers);
  CHECK(loop == &S.loop, "fiber %d got another loop", me);
  CHECK(!c->must_not_run, "fiber %d runs, though future_async gave up", me);
  CHECK(c->made, "fiber %d runs inside future_async", me);
  CHECK(!c->started, "fiber %d runs twice", me);
  c->started = 1;
  TRACE("  fiber %d (future %d) starts\n", me, c->uid);
  CHECK(future_state(c->self) == FUTURE_PENDING,
        "fiber %d runs, though its future was cancelled before it started",
        me);
  fiber_running(c, "fiber start");
  for (int k = 0; k < c->nsteps; k++) {
    int rc = fiber_step(c, &c->steps[k]);
    if (rc == UV_ECANCELED && c->steps[k].stop)
      break;
  }
  return fiber_return(c);
}

/* OP_ASYNC: dst, then the program (fuzz/README.md). */
void op_async(void) {
  int dst = next_byte() % NSLOTS, ci = parse_program(0);
  future_t *f;
  if (ci < 0)
    return;
  NOCB(f = future_async(&S.loop, NULL, NULL, NULL));
  CHECK(f == NULL, "future_async without a function made a future");
  NOCB(f = future_async(NULL, fiber_fn, &fibers[ci], NULL));
  CHECK(f == NULL, "future_async without a loop made a future");
  f = start_fiber(&fibers[ci]);
  if (f != NULL)
    put(dst, f, fibers[ci].uid);
}

/* OP_AWAIT: src. future_await outside a fiber: FUTURE_ENOTFIBER, the
 * future consumed. An empty slot: a fresh future with a counted value,
 * which must be freed by the call. */
void op_await(void) {
  uint8_t sb = next_byte();
  future_result_t r, *rp = (sb & 32) ? NULL : &r;
  future_t *f;
  int rc, fresh = S.pool[sb % NSLOTS].f == NULL;
  size_t live = 0;
  void *value = NULL;
  CHECK(!future_in_fiber(), "future_in_fiber outside any fiber");
  if (fresh) {
    future_dtor_cb dtor;
    make_value(0, &value, &dtor);
    NOCB(f = future_resolved(&S.loop, value, dtor));
    if (f == NULL)
      return;
    S.loop_state = 1;
    live = future_loop_live(&S.loop);
  } else {
    f = take(sb);
  }
  NOCB(rc = future_await(f, rp));
  TRACE("  future_await outside a fiber: %d\n", rc);
  /* UV_ENOMEM when even the error could not be had: the status is the
   * code of the result's error. */
  CHECK(rc == FUTURE_ENOTFIBER || ENOMEM_OK(rc),
        "future_await outside a fiber returned %d, not FUTURE_ENOTFIBER", rc);
  if (rp != NULL) {
    CHECK(r.status == rc && r.value == NULL && r.error != NULL,
          "future_await outside a fiber: a result of status %d", r.status);
    CHECK(future_error_code(r.error) == rc ||
              ((S.avoid & AVOID_AWAIT_STATUS) && OOM() &&
               future_error_code(r.error) == UV_ENOMEM),
          "future_await outside a fiber: status %d, its error's code %d", rc,
          future_error_code(r.error));
    NOCB(future_result_release(&r));
  }
  if (fresh) {
    CHECK(future_loop_live(&S.loop) + 1 == live,
          "future_await outside a fiber did not consume its future");
    CHECK(value == NULL || !((val_t *)value)->alive,
          "future_await outside a fiber kept the value of its future");
  }
  NOCB(rc = future_await(NULL, rp));
  CHECK(rc == UV_EINVAL || ENOMEM_OK(rc),
        "future_await(NULL) outside a fiber returned %d", rc);
  if (rp != NULL)
    NOCB(future_result_release(&r));
}

/* A fiber's outcome, once seen. */
void async_seen(int uid, future_state_t st, void *value,
                const future_error_t *err) {
  fiber_t *c = &fibers[S.meta[uid].aux];
  int me = (int)(c - fibers), code = err != NULL ? future_error_code(err) : 0;
  future_t *h;
  if (ENOMEM_OK(code))
    return;
  if (!c->returned || c->cancelled_at_return) {
    CHECK(code == UV_ECANCELED,
          "fiber %d's future settled (%d) before its function returned, "
          "and was not cancelled",
          me, code);
    return;
  }
  if (c->ret_cycle || c->ret_kind == FR_SELF) {
    CHECK(code == FUTURE_ECYCLE,
          "fiber %d returned a future that waits on it: %d, not "
          "FUTURE_ECYCLE",
          me, code);
    return;
  }
  switch (c->ret_kind) {
  case FR_NULL:
    CHECK(code == UV_ENOMEM, "fiber %d returned NULL: %d, not UV_ENOMEM", me,
          code);
    return;
  case FR_BARE:
    CHECK(code == FUTURE_ESTALLED || code == UV_ECANCELED,
          "fiber %d returned a future nothing can settle: %d", me, code);
    return;
  case FR_DELAY:
    CHECK((st == FUTURE_FULFILLED && value == NULL) || code == UV_ECANCELED,
          "fiber %d returned a delay: %d", me, code);
    return;
  default:
    break;
  }
  if (c->ret_st == FUTURE_FULFILLED) {
    CHECK(st == FUTURE_FULFILLED && value == c->ret_val,
          "fiber %d returned a fulfilled future, and its own %s", me,
          st == FUTURE_FULFILLED ? "has another value" : "rejected");
    return;
  }
  if (c->ret_st == FUTURE_REJECTED) {
    CHECK(st == FUTURE_REJECTED && err == c->ret_err,
          "fiber %d returned a rejected future, and its own %s", me,
          st == FUTURE_REJECTED ? "has another error" : "fulfilled");
    return;
  }
  /* It followed a pending future. Cancelled, or a cycle the library
   * refused: say so. Else its outcome, when the harness still holds it. */
  if (code == UV_ECANCELED)
    return;
  h = held_uid(c->ret_uid);
  if (h == NULL)
    return; /* its outcome is not known here */
  if (st == FUTURE_FULFILLED)
    CHECK(future_state(h) == FUTURE_FULFILLED && future_value(h) == value,
          "fiber %d fulfilled, the future it returned did not (or with "
          "another value)",
          me);
  else if (!(future_state(h) == FUTURE_REJECTED && future_error(h) == err))
    CHECK(code == FUTURE_ECYCLE && reaches(c->ret_uid, c->uid),
          "fiber %d rejected with %d, not the outcome of the future it "
          "returned (held, so never released)",
          me, code);
}

/* future_loop_close returned 0: no fiber is suspended, and none runs
 * again. */
void async_loop_closed(void) {
  for (int i = 0; i < nfibers; i++) {
    const fiber_t *c = &fibers[i];
    if (c->epoch == close_epoch && c->started)
      CHECK(c->returned,
            "future_loop_close returned 0 while fiber %d is suspended", i);
  }
  close_epoch++;
}

/* The end, with the loop run dry: every fiber the harness watches has
 * settled. */
void async_finish(void) {
  for (int i = 0; i < nfibers; i++) {
    fiber_t *c = &fibers[i];
    future_t *w = c->watch;
    if (w == NULL)
      continue;
    c->watch = NULL;
    CHECK(future_state(w) != FUTURE_PENDING,
          "fiber %d's future is pending after the loop ran dry (it %s)", i,
          !c->started ? "never started" : c->returned ? "returned"
                                                      : "is suspended");
    if (c->uid >= 0)
      seen_outcome(c->uid, future_state(w), future_value(w), future_error(w));
    NOCB(future_unref(w));
  }
}

void async_begin(void) { nfibers = 0; }
