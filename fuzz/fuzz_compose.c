/*
 * fuzz_compose.c: time and composition in the fuzz harness: delays and
 * timeouts that take real (if tiny) time, and the loop's last run.
 *
 * OP_DELAY and OP_TIMEOUT use 1 to 3 ms, and OP_RUN_TIMERS lets the loop
 * wait for a timer that is due within a few milliseconds, so that timers
 * fire during an input while an input still takes milliseconds at most.
 * The invariants do not depend on timing:
 *   - a delay fulfils with NULL, or is cancelled;
 *   - a timeout settles with its input's outcome, or rejects with
 *     UV_ETIMEDOUT, and then its input (if the harness holds it) is no
 *     longer pending, since the timeout cancels it;
 *   - a timeout made on an input that had already settled settles with
 *     that input's outcome, never with UV_ETIMEDOUT: the input did settle
 *     within the time (FUZZ_OPS_AVOID=timeout-settled looks past today's
 *     defect);
 *   - at the end, with everything dropped, the loop runs dry within a
 *     bounded time, and never waits for a timer far in the future (every
 *     delay the harness asks for is short).
 */
#include "fuzz_ops.h"

#include <unistd.h>

/* The longest wait for a timer that the end of an input accepts. */
#define LONG_MS 1000

static int slept_ms; /* by OP_RUN_TIMERS, in this input */

/* future_delay_then's callback: once, from the loop, with a fulfilled
 * future of the loop holding NULL, which it passes on, so that the future
 * fulfils with NULL as a delay does. */
static future_t *delay_then_cb(future_t *settled, void *data) {
  (void)data;
  CHECK(S.nocb == 0, "future_delay_then's callback ran inside a call");
  CHECK(future_state(settled) == FUTURE_FULFILLED &&
            future_value(settled) == NULL &&
            future_loop(settled) == &S.loop,
        "future_delay_then's callback got no fulfilled NULL future");
  return future_ref(settled);
}

/* OP_DELAY: dst, ms byte (1 + b % 3; future_delay_then with a callback
 * that passes the delay's NULL on when (b / 3) % 2). */
void op_delay(void) {
  int dst = next_byte() % NSLOTS;
  uint8_t b = next_byte();
  uint64_t ms = 1 + b % 3;
  future_t *f;
  if ((b / 3) % 2)
    NOCB(f = future_delay_then(&S.loop, ms, delay_then_cb, NULL));
  else
    NOCB(f = future_delay(&S.loop, ms));
  CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
        "future_delay(%d) is not pending", (int)ms);
  put(dst, f, new_uid(K_DELAY));
}

/* A timeout on the future of source byte `sb` (OP_TIMEOUT0 and
 * OP_TIMEOUT): what its input was when it was made is noted. */
void make_timeout(uint8_t sb, int dst, uint64_t ms) {
  const slot_t *s = &S.pool[sb % NSLOTS];
  int in_uid = s->uid, uid, in_code;
  future_state_t in_st;
  void *in_val;
  future_t *in, *out;
  if (s->f == NULL)
    return;
  in_st = future_state(s->f);
  in_val = future_value(s->f);
  in_code = in_st == FUTURE_REJECTED ? future_error_code(future_error(s->f))
                                     : 0;
  in = take(sb);
  NOCB(out = future_timeout(in, ms));
  CHECK(ENOMEM_FUTURE(out) || future_state(out) == FUTURE_PENDING,
        "future_timeout is not pending");
  uid = new_uid(K_TIMEOUT);
  add_edge(uid, in_uid);
  if (uid >= 0) {
    meta_t *m = &S.meta[uid];
    m->in_uid = in_uid;
    m->in_st = in_st;
    m->in_val = in_val;
    m->in_code = in_code;
  }
  put(dst, out, uid);
}

/* OP_TIMEOUT: source, dst, ms byte (1 + b % 3). */
void op_timeout(void) {
  uint8_t sb = next_byte();
  int dst = next_byte() % NSLOTS;
  make_timeout(sb, dst, 1 + next_byte() % 3);
}

/* The slot holding the future `uid`, or NULL. */
static const slot_t *held(int uid) {
  for (int i = 0; i < NSLOTS; i++)
    if (S.pool[i].f != NULL && S.pool[i].uid == uid)
      return &S.pool[i];
  return NULL;
}

/* A timeout's outcome, once seen. */
void timeout_seen(int uid, future_state_t st, void *value,
                  const future_error_t *err) {
  const meta_t *m = &S.meta[uid];
  const slot_t *in = held(m->in_uid);
  int code = err != NULL ? future_error_code(err) : 0;
  if (code == UV_ECANCELED || ENOMEM_OK(code))
    return; /* cancelled, or no memory to say more */
  if (m->in_st != FUTURE_PENDING && !(S.avoid & AVOID_TIMEOUT_SETTLED))
    CHECK(st == m->in_st && (st == FUTURE_FULFILLED ? value == m->in_val
                                                    : code == m->in_code),
          "a timeout made on a future that had already %s %s",
          m->in_st == FUTURE_FULFILLED ? "fulfilled" : "rejected",
          code == UV_ETIMEDOUT ? "rejected with UV_ETIMEDOUT"
                               : "did not take its outcome");
  if (in == NULL)
    return;
  if (code == UV_ETIMEDOUT) {
    CHECK(future_state(in->f) != FUTURE_PENDING,
          "a timeout fired, and its input is still pending");
  } else if (st == FUTURE_FULFILLED) {
    CHECK(future_state(in->f) == FUTURE_FULFILLED &&
              future_value(in->f) == value,
          "a timeout fulfilled with what its input did not");
  } else {
    CHECK(future_state(in->f) == FUTURE_REJECTED &&
              future_error_code(future_error(in->f)) == code,
          "a timeout rejected with %d, its input with something else", code);
  }
}

/* OP_RUN_TIMERS: count byte ((n & 3) + 1 turns of the loop), each first
 * sleeping until the next timer if it is due within 5 ms (at most 100 ms
 * in all per input). The loop itself never blocks: something may keep it
 * alive that only the harness can end (a resolver not yet used). */
void op_run_timers(void) {
  int n = (next_byte() & 3) + 1;
  while (n-- > 0) {
    int t;
    pool_barrier();
    t = uv_backend_timeout(&S.loop);
    if (t > 0 && t <= 5 && slept_ms + t <= 100) {
      slept_ms += t;
      usleep((useconds_t)t * 1000);
    }
    uv_run(&S.loop, UV_RUN_NOWAIT);
    pool_barrier();
  }
}

/* The end of the input: run the loop until nothing keeps it alive. Timers
 * are waited for, but none may be far away; and the whole takes seconds
 * at most. */
void drain_loop(void) {
  uint64_t deadline = uv_hrtime() + 10000000000ull;
  for (;;) {
    int t;
    pool_barrier();
    if (!uv_loop_alive(&S.loop))
      break;
    t = uv_backend_timeout(&S.loop);
    CHECK(t <= LONG_MS,
          "with everything dropped, the loop waits %d ms for a timer, though "
          "every delay asked for was short",
          t);
    /* Never blocking in the loop, so that the deadline holds. */
    if (t > 0)
      usleep((useconds_t)(t < 5 ? t : 5) * 1000);
    else if (t < 0) /* nothing due: requests on the pool, other threads */
      usleep(100);
    uv_run(&S.loop, UV_RUN_NOWAIT);
    CHECK(uv_hrtime() < deadline,
          "the loop still runs 10 s after everything was dropped");
  }
}

void compose_begin(void) { slept_ms = 0; }

/* future_map and future_retry.
 *
 * OP_MAP runs future_map over n (0 to 8) indices with a limit (0 to 3);
 * OP_RETRY runs future_retry with a policy built from fuzz bytes, odd
 * values included (0, huge, a NaN or negative or infinite multiplier,
 * jitter outside [0, 1]) and a predicate of the harness or the default.
 * The factory, or the attempt function, follows one of the input's specs
 * per call: what it returns (a slot's future, fresh settled or pending
 * futures, a delay, NULL), and what it does first (cancel a slot, the
 * map's or retry's own result included, settle or drop one, future_wait,
 * future_loop_close). Checked:
 *   - the factory sees indices 0, 1, 2, ... in order, each once, never
 *     after the map has settled; future_map itself calls it exactly
 *     min(n, limit) times (n with no limit) unless a call stops the map;
 *     n = 0 fulfils at once with an empty list; a fulfilled map's list
 *     holds what the factory returned, in order, all fulfilled;
 *   - the attempts are numbered 1, 2, 3, ..., never more than the
 *     policy's attempts, never after the retry has settled, and after the
 *     first only when the predicate said so; the predicate sees the
 *     failed attempt's number and its error;
 *   - attempt k + 1 comes no sooner than the policy's delay after attempt
 *     k was made: initial_delay_ms * multiplier^(k-1), capped, less its
 *     jitter (a lower bound only, which slowness cannot break; checked
 *     for a finite, positive multiplier, the only kind the header
 *     describes);
 *   - future_wait and future_loop_close inside them refuse with
 *     FUTURE_EINCALLBACK.
 * A retry whose delays may exceed 10 ms is watched by the harness (it
 * keeps a reference) and cancelled at the end, so that the input ends
 * fast; future_wait on the loop's thread is skipped while one is pending.
 */

#include <math.h>

#define MAX_MAPS 64
#define MAX_SPECS 4

typedef struct {
  uint8_t ret, side, slot, side_slot, arg;
} fspec_t;

typedef struct {
  int uid;               /* of its result, once future_map returned */
  size_t n, limit, calls;
  int nspecs;
  fspec_t specs[MAX_SPECS];
  int stopped;           /* a call returned NULL: the map failed */
  int self_cancelled;
  int decided;           /* the harness saw the result settle */
  future_t *items[MAX_ITEMS];
} map_ctx_t;

typedef struct {
  int uid;
  future_retry_policy_t policy;
  unsigned max_attempts;
  unsigned attempts;
  unsigned approved;     /* the attempt the predicate last said yes after */
  int own_pred;
  uint8_t answers;       /* the harness predicate's answers, one bit each */
  int nspecs;
  fspec_t specs[MAX_SPECS];
  int decided;
  future_t *watch;       /* a reference kept for a retry with long delays */
  uint64_t last_at;      /* loop time of the last attempt */
} retry_ctx_t;

static map_ctx_t maps[MAX_MAPS];
static retry_ctx_t retries[MAX_MAPS];
static int nmaps, nretries;

static void read_fspecs(fspec_t *specs, int *nspecs) {
  *nspecs = 1 + next_byte() % MAX_SPECS;
  for (int i = 0; i < *nspecs; i++) {
    uint8_t a = next_byte(), b = next_byte();
    specs[i].ret = a & 7;
    specs[i].side = (a >> 3) & 7;
    specs[i].slot = b % NSLOTS;
    specs[i].side_slot = (uint8_t)((b >> 4) % NSLOTS);
    specs[i].arg = b;
  }
}

/* What a factory or attempt does first; `self` is the identity of the
 * map's or retry's result, -1 while the call that makes it runs. */
static void fspec_side(const fspec_t *sp, int self, int *self_cancelled) {
  int i = sp->side_slot, rc;
  switch (sp->side) {
  case 1: /* cancel its own result, if the harness holds it */
    if (self < 0 || (S.tidy & TIDY_CANCEL) || (S.avoid & AVOID_FACTORY_CANCEL))
      break;
    for (int k = 0; k < NSLOTS; k++)
      if (S.pool[k].f != NULL && S.pool[k].uid == self) {
        TRACE("  cancel its own result, future %d\n", self);
        *self_cancelled = 1;
        op_cancel(k);
        break;
      }
    break;
  case 2: { /* cancel a slot (cancelling travels up what it waits on) */
    int hits_self = S.pool[i].f != NULL && self >= 0 &&
                    (S.pool[i].uid == self || reaches(S.pool[i].uid, self));
    if (hits_self &&
        ((S.tidy & TIDY_CANCEL) || (S.avoid & AVOID_FACTORY_CANCEL)))
      break;
    *self_cancelled |= hits_self;
    op_cancel(i);
    break;
  }
  case 3:
    op_resolve(i, sp->arg);
    break;
  case 4:
    drop(i);
    break;
  case 5:
    if (S.pool[i].f != NULL) {
      future_result_t r;
      rc = future_wait(future_ref(S.pool[i].f), &r);
      CHECK(rc == FUTURE_EINCALLBACK || ENOMEM_OK(rc),
            "future_wait in a factory returned %d", rc);
      NOCB(future_result_release(&r));
    }
    break;
  case 6:
    rc = future_loop_close(&S.loop);
    CHECK(rc == FUTURE_EINCALLBACK,
          "future_loop_close in a factory returned %d", rc);
    break;
  default:
    break;
  }
}

/* What a factory or attempt returns (a new reference); `self` as above. */
static future_t *fspec_ret(const fspec_t *sp, int self) {
  future_t *f = NULL;
  slot_t *s = &S.pool[sp->slot];
  switch (sp->ret) {
  case 0: /* a slot's future; a new pending one if the slot is empty */
  case 7: /* always a new pending future, left in the slot */
    if (!S.finishing && (sp->ret == 7 || s->f == NULL))
      op_new(sp->slot);
    /* Returning the result itself, or a future that waits on it, makes
     * it wait on itself: the library does not refuse that today (nor
     * does the header promise it), so a tidy user does not do it
     * (FUZZ_OPS_AVOID=map-cycle steers around it too). */
    if (s->f != NULL && self >= 0 &&
        (s->uid == self || reaches(s->uid, self)) &&
        ((S.tidy & TIDY_CYCLES) || (S.avoid & AVOID_MAP_CYCLE))) {
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
    } else if (s->f != NULL && !tidy_refuses(self, s->uid)) {
      add_edge(self, s->uid);
      NOCB(f = future_ref(s->f));
    } else {
      NOCB(f = future_resolved(&S.loop, NULL, NULL));
    }
    break;
  case 1: {
    void *value;
    future_dtor_cb dtor;
    make_value(0, &value, &dtor);
    NOCB(f = future_resolved(&S.loop, value, dtor));
    break;
  }
  case 2:
    NOCB(f = future_rejected(&S.loop,
                             future_error_new(FUTURE_EUSER(sp->arg),
                                              "fuzz factory")));
    break;
  case 3:
    break;
  case 4:
    NOCB(f = future_delay(&S.loop, 1 + sp->arg % 3));
    break;
  case 5:
    NOCB(f = future_rejected(&S.loop,
                             future_error_new(UV_EAGAIN, "fuzz factory")));
    break;
  default:
    NOCB(f = future_resolved(&S.loop, &token, NULL));
    break;
  }
  return f;
}

static future_t *map_fn(uv_loop_t *loop, size_t index, void *data) {
  map_ctx_t *c = data;
  const fspec_t *sp = &c->specs[index % (size_t)c->nspecs];
  future_t *f;
  CHECK(loop == &S.loop, "the map factory got another loop");
  CHECK(!future_in_fiber(), "the map factory ran inside a fiber");
  CHECK(index == c->calls, "the map factory got index %zu, expected %zu",
        index, c->calls);
  CHECK(index < c->n, "the map factory got index %zu of %zu", index, c->n);
  CHECK(!c->decided, "the map factory ran after the map settled");
  c->calls++;
  TRACE("  map %d: factory(%zu)\n", (int)(c - maps), index);
  check_pool("factory entry");
  fspec_side(sp, c->uid, &c->self_cancelled);
  f = fspec_ret(sp, c->uid);
  c->items[index] = f;
  if (c->uid >= 0)
    S.meta[c->uid].inputs[index] = f;
  if (f == NULL)
    c->stopped = 1;
  check_pool("factory exit");
  return f;
}

/* OP_MAP: n byte (% 9), limit byte (% 4), dst, then the specs: a count
 * byte (1 + % 4) and two bytes each. */
void op_map(void) {
  uint8_t nb = next_byte(), lb = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  map_ctx_t *c;
  future_t *f;
  size_t want;
  if (nmaps >= MAX_MAPS)
    return;
  c = &maps[nmaps];
  memset(c, 0, sizeof(*c));
  c->uid = -1;
  c->n = nb % 9;
  c->limit = lb % 4;
  read_fspecs(c->specs, &c->nspecs);
  TRACE("  map %d over %zu, limit %zu\n", nmaps, c->n, c->limit);
  nmaps++;
  NOCB(f = future_map(&S.loop, c->n, c->limit, NULL, c));
  CHECK(f == NULL, "future_map with a NULL factory made a future");
  f = future_map(&S.loop, c->n, c->limit, map_fn, c);
  if (f == NULL) {
    CHECK(OOM(), "future_map returned NULL");
    return;
  }
  want = c->limit == 0 || c->limit > c->n ? c->n : c->limit;
  CHECK(c->calls == want || c->stopped || c->self_cancelled || OOM(),
        "future_map called its factory %zu times, expected %zu", c->calls,
        want);
  if (c->n == 0) {
    const future_list_t *list = future_value(f);
    CHECK(ENOMEM_FUTURE(f) || (future_state(f) == FUTURE_FULFILLED &&
                               list != NULL && list->count == 0),
          "future_map of nothing is not an empty list");
  }
  uid = new_uid(K_MAP);
  c->uid = uid;
  if (uid >= 0) {
    S.meta[uid].aux = (int)(c - maps);
    S.meta[uid].ninputs = c->n;
    memcpy(S.meta[uid].inputs, c->items, sizeof(c->items));
    for (size_t k = 0; k < c->calls; k++)
      if (c->items[k] != NULL)
        for (int i = 0; i < NSLOTS; i++)
          if (S.pool[i].f == c->items[k])
            add_edge(uid, S.pool[i].uid);
  }
  put(dst, f, uid);
}

void map_seen(int uid, future_state_t st, void *value,
              const future_error_t *err) {
  map_ctx_t *c = &maps[S.meta[uid].aux];
  (void)st;
  (void)value;
  (void)err;
  c->decided = 1; /* the list itself is checked with the pool */
}

/* Retry. */

static int retry_pred(const future_error_t *err, unsigned attempt,
                      void *data) {
  retry_ctx_t *c = data;
  int yes = (c->answers >> ((attempt - 1) % 8)) & 1;
  CHECK(err != NULL && future_error_code(err) < 0,
        "the retry predicate got no error");
  CHECK(attempt == c->attempts,
        "the retry predicate got attempt %u, the last was %u", attempt,
        c->attempts);
  TRACE("  retry %d: predicate(%u) says %s\n", (int)(c - retries), attempt,
        yes ? "again" : "stop");
  if (yes)
    c->approved = attempt;
  return yes;
}

/* The shortest delay the policy allows before attempt k (k >= 2), or 0
 * when the header does not say (a multiplier that is not finite and
 * positive). */
static double retry_min_delay(const retry_ctx_t *c, unsigned k) {
  const future_retry_policy_t *p = &c->policy;
  double d = p->initial_delay_ms ? (double)p->initial_delay_ms : 10;
  double max = p->max_delay_ms ? (double)p->max_delay_ms : 10000;
  double m = p->multiplier == 0 ? 2 : p->multiplier, j = p->jitter;
  if (!(m > 0) || isinf(m))
    return 0;
  if (!(j > 0))
    j = 0;
  if (j > 1)
    j = 1;
  for (unsigned i = 1; i < k - 1 && d < max; i++)
    d *= m;
  if (d > max)
    d = max;
  return d * (1 - j);
}

static future_t *retry_fn(uv_loop_t *loop, unsigned attempt, void *data) {
  retry_ctx_t *c = data;
  const fspec_t *sp = &c->specs[(attempt - 1) % (unsigned)c->nspecs];
  int self_cancelled = 0;
  future_t *f;
  CHECK(loop == &S.loop, "an attempt got another loop");
  CHECK(!future_in_fiber(), "an attempt ran inside a fiber");
  CHECK(attempt == c->attempts + 1, "attempt %u after attempt %u", attempt,
        c->attempts);
  CHECK(attempt <= c->max_attempts, "attempt %u of at most %u", attempt,
        c->max_attempts);
  CHECK(!c->decided, "an attempt ran after the retry settled");
  CHECK(attempt == 1 || !c->own_pred || c->approved == attempt - 1,
        "attempt %u though the predicate did not ask for it", attempt);
  if (attempt > 1) {
    /* The library waits (uint64_t) of its delay: up to 1 ms less. */
    double want = retry_min_delay(c, attempt) - 1;
    uint64_t waited = uv_now(loop) - c->last_at;
    CHECK((double)waited + 1 >= want,
          "attempt %u came %llu ms after the last, the policy asks for %g",
          attempt, (unsigned long long)waited, want);
  }
  c->last_at = uv_now(loop);
  c->attempts = attempt;
  TRACE("  retry %d: attempt %u\n", (int)(c - retries), attempt);
  check_pool("attempt entry");
  fspec_side(sp, c->uid, &self_cancelled);
  f = fspec_ret(sp, c->uid);
  check_pool("attempt exit");
  return f;
}

/* The longest wait between attempts the policy allows, as the header
 * describes it (a multiplier that is not positive counts as 2). */
static double retry_worst_delay(const retry_ctx_t *c) {
  const future_retry_policy_t *p = &c->policy;
  double d = p->initial_delay_ms ? (double)p->initial_delay_ms : 10;
  double max = p->max_delay_ms ? (double)p->max_delay_ms : 10000;
  double m = p->multiplier > 0 ? p->multiplier : 2, worst = 0;
  for (unsigned k = 1; k < c->max_attempts; k++) {
    double capped = d < max ? d : max;
    if (capped > worst)
      worst = capped;
    d = d * m < 1e300 ? d * m : 1e300;
  }
  return worst;
}

/* OP_RETRY: dst, attempts byte (% 7; 0 is the default), delays byte
 * (initial: low 3 bits, max: next 3), growth byte (multiplier: low 3
 * bits, jitter: next 3), predicate byte (bit 0: the harness's, whose
 * answers are the other bits), then the specs as for OP_MAP. */
void op_retry(void) {
  static const uint64_t initials[8] = {0, 1, 2, 3, 1, 2, UINT64_MAX,
                                       1ull << 40};
  static const uint64_t maxes[8] = {0, 1, 3, 2, UINT64_MAX, 1, 3, 1ull << 40};
  static const double mults[8] = {0, 0.5, 1, 2, NAN, -1, INFINITY, 1e308};
  static const double jitters[8] = {0, 0.5, 1, -0.5, 2, NAN, 0.25, -INFINITY};
  int dst = next_byte() % NSLOTS, uid;
  uint8_t ab = next_byte(), db = next_byte(), gb = next_byte(),
          pb = next_byte();
  retry_ctx_t *c;
  future_t *f;
  if (nretries >= MAX_MAPS)
    return;
  c = &retries[nretries];
  memset(c, 0, sizeof(*c));
  c->uid = -1;
  c->policy.max_attempts = ab % 7;
  c->policy.initial_delay_ms = initials[db & 7];
  c->policy.max_delay_ms = maxes[(db >> 3) & 7];
  c->policy.multiplier = mults[gb & 7];
  c->policy.jitter = jitters[(gb >> 3) & 7];
  if ((S.avoid & AVOID_NAN_RETRY) && isnan(c->policy.multiplier))
    c->policy.multiplier = 2;
  if ((S.avoid & AVOID_HUGE_DELAY) && c->policy.initial_delay_ms == UINT64_MAX)
    c->policy.initial_delay_ms = 1ull << 40;
  if ((S.avoid & AVOID_HUGE_DELAY) && c->policy.max_delay_ms == UINT64_MAX)
    c->policy.max_delay_ms = 1ull << 40;
  c->own_pred = pb & 1;
  c->answers = pb >> 1;
  if (c->own_pred) {
    c->policy.should_retry = retry_pred;
    c->policy.data = c;
  }
  c->max_attempts = c->policy.max_attempts ? c->policy.max_attempts : 5;
  read_fspecs(c->specs, &c->nspecs);
  TRACE("  retry %d: %u attempts, delays %llu..%llu, x%g, jitter %g\n",
        nretries, c->max_attempts,
        (unsigned long long)c->policy.initial_delay_ms,
        (unsigned long long)c->policy.max_delay_ms, c->policy.multiplier,
        c->policy.jitter);
  nretries++;
  NOCB(f = future_retry(&S.loop, NULL, c, &c->policy));
  CHECK(f == NULL, "future_retry with a NULL attempt made a future");
  f = future_retry(&S.loop, retry_fn, c, &c->policy);
  if (f == NULL) {
    CHECK(OOM(), "future_retry returned NULL");
    return;
  }
  if (retry_worst_delay(c) > 10)
    c->watch = future_ref(f);
  uid = new_uid(K_RETRY);
  c->uid = uid;
  if (uid >= 0)
    S.meta[uid].aux = (int)(c - retries);
  put(dst, f, uid);
}

void retry_seen(int uid, future_state_t st, void *value,
                const future_error_t *err) {
  retry_ctx_t *c = &retries[S.meta[uid].aux];
  (void)st;
  (void)value;
  (void)err;
  c->decided = 1;
}

/* A retry with long delays is pending: the loop may wait for long. */
int long_retry_pending(void) {
  for (int i = 0; i < nretries; i++)
    if (retries[i].watch != NULL &&
        future_state(retries[i].watch) == FUTURE_PENDING)
      return 1;
  return 0;
}

/* The end, before the loop's last run: long retries are cancelled. */
void compose_finish(void) {
  for (int i = 0; i < nretries; i++) {
    future_t *w = retries[i].watch;
    if (w == NULL)
      continue;
    retries[i].watch = NULL;
    if (future_state(w) == FUTURE_PENDING)
      NOCB(future_cancel(w));
    NOCB(future_unref(w));
  }
  nmaps = nretries = 0;
}
