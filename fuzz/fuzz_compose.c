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

/* OP_DELAY: dst, ms byte (1 + b % 3). */
void op_delay(void) {
  int dst = next_byte() % NSLOTS;
  uint64_t ms = 1 + next_byte() % 3;
  future_t *f;
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
