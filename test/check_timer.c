/* Timers as futures: future_delay and future_timeout (src/timer.c). */
#include "helpers.h"
#include "suites.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_timer_delay_fulfils_after_ms) {
  uv_loop_t loop;
  future_result_t r;
  uint64_t start;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  uv_update_time(&loop);
  start = uv_now(&loop);
  ck_assert_int_eq(future_wait(future_delay(&loop, 30), &r), 0);
  /* Not a timing assertion: libuv never fires a timer early. */
  ck_assert_uint_ge(uv_now(&loop) - start, 30);
  ck_assert_ptr_null(r.value);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_delay_keeps_loop_alive) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_delay(&loop, 5);
  ck_assert_int_ne(uv_loop_alive(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_delay_null_loop) {
  ck_assert_ptr_null(future_delay(NULL, 1));
  ck_assert_ptr_null(future_timeout(NULL, 1));
}
END_TEST

/* Appends its data's character to the string `settled_log` when the
 * delay it follows settles. */
static char settled_log[8];
static future_t *log_settled(future_t *settled, void *data) {
  size_t n = strlen(settled_log);
  settled_log[n] = *(const char *)data;
  return future_ref(settled);
}

/* The delay due first settles first. Recorded by continuations rather than
 * by looking at the slow one's state when the fast one has settled: on a
 * loaded machine the loop may wake after both are due (both then settle
 * in the same turn, still in this order). */
START_TEST(test_timer_delays_settle_in_time_order) {
  uv_loop_t loop;
  future_t *slow, *fast;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(settled_log, 0, sizeof(settled_log));
  slow = future_then(future_delay(&loop, 40), log_settled, NULL, "s");
  fast = future_then(future_delay(&loop, 5), log_settled, NULL, "f");
  ck_assert_int_eq(future_wait(slow, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(fast, &r), 0);
  future_result_release(&r);
  ck_assert_str_eq(settled_log, "fs");
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_cancel_delay) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_delay(&loop, 60000);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_cancel(f), FUTURE_ESETTLED);
  ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
  future_result_release(&r);
  /* The timer is stopped: the loop has nothing left to wait for. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_timeout_passes_fast_outcome) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      future_wait(future_timeout(future_resolved(&loop, INT2P(8), NULL), 1000),
                  &r),
      0);
  ck_assert_int_eq(P2INT(r.value), 8);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_timeout(future_rejected(&loop, future_error_new(
                                                             UV_EIO, "x")),
                                 1000),
                  &r),
      UV_EIO);
  future_result_release(&r);
  /* The timeout's timer is gone: nothing keeps the loop. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_timeout_rejects_and_cancels_inner) {
  uv_loop_t loop;
  future_t *inner, *t;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  inner = future_delay(&loop, 60000);
  t = future_timeout(future_ref(inner), 10);
  ck_assert_int_eq(future_wait(t, &r), UV_ETIMEDOUT);
  ck_assert_str_eq(future_error_message(r.error),
                   "timed out after 10 ms: the future did not settle in time (ETIMEDOUT)");
  future_result_release(&r);
  /* The slow work was cancelled, not left running for a minute. */
  ck_assert_int_eq(future_state(inner), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(inner)), UV_ECANCELED);
  future_unref(inner);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_timeout_of_pending_forever) {
  uv_loop_t loop;
  future_t *never;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  never = future_new(&loop);
  ck_assert_int_eq(future_wait(future_timeout(future_ref(never), 5), &r),
                   UV_ETIMEDOUT);
  future_result_release(&r);
  ck_assert_int_eq(future_error_code(future_error(never)), UV_ECANCELED);
  future_unref(never);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_cancel_timeout_cancels_inner) {
  uv_loop_t loop;
  future_t *inner, *t;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  inner = future_delay(&loop, 60000);
  t = future_timeout(future_ref(inner), 60000);
  ck_assert_int_eq(future_cancel(t), 0);
  ck_assert_int_eq(future_wait(t, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(future_error_code(future_error(inner)), UV_ECANCELED);
  future_unref(inner);
  /* The deadline was cancelled too: nothing keeps the loop alive for the
   * minute it had left. */
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(uv_loop_alive(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Thousands of timers at once, all released, none leaked. */
START_TEST(test_timer_many_delays) {
  uv_loop_t loop;
  future_t *fs[2000];
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < 2000; i++)
    fs[i] = future_delay(&loop, (uint64_t)(i % 10));
  for (i = 0; i < 2000; i += 2)
    ck_assert_int_eq(future_cancel(fs[i]), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  for (i = 0; i < 2000; i++) {
    ck_assert_int_eq(future_state(fs[i]),
                     i % 2 ? FUTURE_FULFILLED : FUTURE_REJECTED);
    future_unref(fs[i]);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* The delays wait in the library's heap (src/timer.c): they must come
 * out in the order libuv fires timers in, by due time and, for the same
 * due time, by creation. 3000 delays with scrambled times, recorded as
 * they fire. */
typedef struct {
  int *order;
  int n;
} fired_t;

typedef struct {
  fired_t *log;
  int index;
} fired_one_t;

static future_t *record_fired(future_t *settled, void *data) {
  fired_one_t *one = data;
  one->log->order[one->log->n++] = one->index;
  return future_ref(settled);
}

#define ORDER_N 3000
static uint64_t order_ms(int i) { return (uint64_t)((i * 7919) % 23); }

START_TEST(test_timer_delays_fire_by_due_time_then_creation) {
  uv_loop_t loop;
  static int order[ORDER_N];
  static fired_one_t ones[ORDER_N];
  fired_t log = {order, 0};
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < ORDER_N; i++) {
    ones[i].log = &log;
    ones[i].index = i;
    future_unref(future_then(future_delay(&loop, order_ms(i)), record_fired,
                             NULL, &ones[i]));
  }
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(log.n, ORDER_N);
  for (i = 1; i < ORDER_N; i++) {
    uint64_t a = order_ms(order[i - 1]), b = order_ms(order[i]);
    ck_assert_msg(a < b || (a == b && order[i - 1] < order[i]),
                  "delay %d (%llu ms) fired after delay %d (%llu ms)",
                  order[i], (unsigned long long)b, order[i - 1],
                  (unsigned long long)a);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* The delays' structures (src/timer.c): a wheel of a slot per millisecond
 * for the next 1024, a heap for later ones, a list for a delay of 0 made
 * in the millisecond just processed. The order must hold across all three
 * and across a stall of the loop longer than the wheel's turn: delays of 0
 * to 1100 ms, half with future_then (two futures) and half with
 * future_delay_then (one), some cancelled, all made in one millisecond; then the thread is
 * busy for 1.2 s before the loop runs, and all are due at once. */
#define STALL_N 600
static uint64_t stall_ms(int i) {
  return i % 7 == 0 ? 1100 - (uint64_t)(i % 3) /* in the heap */
                    : (uint64_t)((i * 7919) % 1031);
}

START_TEST(test_timer_order_holds_across_wheel_heap_and_a_stall) {
  uv_loop_t loop;
  static int order[STALL_N];
  static fired_one_t ones[STALL_N];
  fired_t log = {order, 0};
  int i, expected = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < STALL_N; i++) {
    future_t *c;
    ones[i].log = &log;
    ones[i].index = i;
    if (i % 2)
      c = future_delay_then(&loop, stall_ms(i), record_fired, &ones[i]);
    else
      c = future_then(future_delay(&loop, stall_ms(i)), record_fired, NULL,
                      &ones[i]);
    if (i % 11 == 3)
      ck_assert_int_eq(future_cancel(c), 0);
    else
      expected++;
    future_unref(c);
  }
  usleep(1200 * 1000);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(log.n, expected);
  for (i = 0; i < log.n; i++)
    ck_assert_int_ne(order[i] % 11, 3);
  for (i = 1; i < log.n; i++) {
    uint64_t a = stall_ms(order[i - 1]), b = stall_ms(order[i]);
    ck_assert_msg(a < b || (a == b && order[i - 1] < order[i]),
                  "delay %d (%llu ms) fired after delay %d (%llu ms)",
                  order[i], (unsigned long long)b, order[i - 1],
                  (unsigned long long)a);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* In a continuation of a delay, the loop's time is the millisecond just
 * processed: a delay of 1 made there is due in the next millisecond, and a
 * delay of 0 made after it is due in this one, so it fires first (libuv's
 * order: due time first). */
static future_t *make_two(future_t *settled, void *data) {
  fired_one_t *ones = data;
  uv_loop_t *loop = future_loop(settled);
  future_unref(future_then(future_delay(loop, 1), record_fired, NULL, &ones[0]));
  future_unref(future_then(future_delay(loop, 0), record_fired, NULL, &ones[1]));
  future_unref(future_then(future_delay(loop, 0), record_fired, NULL, &ones[2]));
  return future_ref(settled);
}

START_TEST(test_timer_delay_of_0_in_a_delay_continuation_fires_first) {
  uv_loop_t loop;
  int order[3];
  fired_t log = {order, 0};
  fired_one_t ones[3] = {{&log, 0}, {&log, 1}, {&log, 2}};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_then(future_delay(&loop, 2), make_two, NULL, ones));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(log.n, 3);
  ck_assert_int_eq(order[0], 1);
  ck_assert_int_eq(order[1], 2);
  ck_assert_int_eq(order[2], 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* future_delay_then is future_then(future_delay(...)) in one future: its
 * callback sees a fulfilled future of the loop with NULL (not a delay of
 * its own), which it may chain on and pass on, and which cannot be
 * cancelled; future_then on a delay, the caller's or not, gives the
 * callback the delay itself. The outcome is the same in each case. */
typedef struct {
  future_t *seen;
  int state, cancel, calls;
  uv_loop_t *loop;
} saw_t;

static future_t *saw_delay(future_t *settled, void *data) {
  saw_t *s = data;
  s->calls++;
  s->seen = settled;
  s->state = future_state(settled);
  s->cancel = future_cancel(settled);
  ck_assert_ptr_null(future_value(settled));
  ck_assert_ptr_eq(future_loop(settled), s->loop);
  return future_then(future_ref(settled), NULL, NULL, NULL);
}

START_TEST(test_timer_delay_then_sees_a_fulfilled_future) {
  uv_loop_t loop;
  int how;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (how = 0; how < 4; how++) {
    saw_t s = {NULL, -1, 0, 0, &loop};
    future_t *d = NULL, *c;
    if (how == 0) {
      c = future_delay_then(&loop, 1, saw_delay, &s);
    } else {
      d = future_delay(&loop, 1);
      if (how == 1) /* the delay is the caller's no more */
        c = future_then(d, saw_delay, NULL, &s);
      else if (how == 2)
        c = future_then(d, saw_delay, saw_delay, &s);
      else
        c = future_then(future_ref(d), saw_delay, NULL, &s);
    }
    ck_assert_uint_eq(future_loop_live(&loop), how == 0 ? 1 : 2);
    ck_assert_int_eq(future_state(c), FUTURE_PENDING);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_int_eq(s.state, FUTURE_FULFILLED);
    ck_assert_int_eq(s.cancel, FUTURE_ESETTLED);
    if (how > 0)
      ck_assert_ptr_eq(s.seen, d); /* the future it was chained on */
    else
      ck_assert_ptr_ne(s.seen, c);
    ck_assert_int_eq(future_state(c), FUTURE_FULFILLED);
    ck_assert_ptr_null(future_value(c));
    future_unref(c);
    if (how == 3)
      future_unref(d);
  }
  /* Without a callback: a plain delay. */
  {
    future_t *d = future_delay_then(&loop, 1, NULL, NULL);
    ck_assert_uint_eq(future_loop_live(&loop), 1);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(future_state(d), FUTURE_FULFILLED);
    future_unref(d);
  }
  ck_assert_ptr_null(future_delay_then(NULL, 1, saw_delay, NULL));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelling future_delay_then's future (directly, or from below, as
 * nobody else wants it) stops its delay: the callback never runs, the
 * chain below sees UV_ECANCELED, and a delay of a day no longer keeps the
 * loop running. */
static future_t *note_code(future_t *settled, void *data) {
  *(int *)data = future_error_code(future_error(settled));
  return future_ref(settled);
}

START_TEST(test_timer_cancel_delay_then) {
  uv_loop_t loop;
  int how;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (how = 0; how < 2; how++) {
    saw_t s = {NULL, -1, 0, 0, &loop};
    int code = 0;
    future_t *c = future_delay_then(&loop, 86400000, saw_delay, &s);
    future_t *g = future_then(future_ref(c), NULL, note_code, &code);
    ck_assert_uint_eq(future_loop_live(&loop), 2);
    if (how == 0) {
      ck_assert_int_eq(future_cancel(c), 0);
    } else {
      future_unref(c);
      c = NULL;
      ck_assert_int_eq(future_cancel(g), 0);
    }
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(s.calls, 0);
    if (how == 0) {
      ck_assert_int_eq(code, UV_ECANCELED);
      ck_assert_int_eq(future_error_code(future_error(c)), UV_ECANCELED);
      future_unref(c);
    }
    ck_assert_int_eq(future_error_code(future_error(g)), UV_ECANCELED);
    future_unref(g);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* Teardown cancels future_delay_then's future as it would cancel a delay:
 * the chain below it sees UV_ECANCELED; in each walk-and-close order. */
START_TEST(test_timer_teardown_with_delay_then) {
  int how;
  for (how = 0; how < 3; how++) {
    uv_loop_t loop;
    saw_t s = {NULL, -1, 0, 0, &loop};
    int code = 0, i;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    for (i = 0; i < 10; i++) {
      future_t *c =
          future_delay_then(&loop, 86400000 + (unsigned)i, saw_delay, &s);
      future_unref(future_then(c, NULL, note_code, &code));
    }
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
    if (how == TEARDOWN_CLOSE_FIRST)
      ck_assert_int_eq(teardown_with_walk(&loop, how), 0);
    else
      ck_assert_int_gt(teardown_with_walk(&loop, how), 0);
    ck_assert_int_eq(s.calls, 0);
    ck_assert_int_eq(code, UV_ECANCELED);
  }
}
END_TEST

/* future_delay_then's future is a continuation like future_then's: an
 * error its callback raises, which nobody observes, is reported. */
static future_t *raise_eio(future_t *settled, void *data) {
  (void)data;
  return future_rejected(future_loop(settled),
                         future_error_new(UV_EIO, "after the delay"));
}

START_TEST(test_timer_delay_then_error_unobserved_is_reported) {
  uv_loop_t loop;
  unhandled_counter_t c;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  future_unref(future_delay_then(&loop, 1, raise_eio, NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(c.count, 1);
  ck_assert_int_eq(c.last_code, UV_EIO);
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A callback may keep the future future_delay_then gave it, as any
 * settled future: the loop cannot be torn down while it does. */
static future_t *keep_settled(future_t *settled, void *data) {
  *(future_t **)data = future_ref(settled);
  return future_ref(settled);
}

START_TEST(test_timer_kept_settled_future_of_delay_then) {
  uv_loop_t loop;
  future_t *kept = NULL;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_delay_then(&loop, 1, keep_settled, &kept));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_ptr_nonnull(kept);
  ck_assert_int_eq(future_state(kept), FUTURE_FULFILLED);
  ck_assert_int_eq(future_loop_close(&loop), UV_EBUSY);
  future_unref(kept);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A cancelled delay never keeps the loop running, even while its entry
 * still waits in the heap behind a live one, and nothing is left once
 * the live one has fired. */
START_TEST(test_timer_cancelled_delay_does_not_keep_loop_alive) {
  uv_loop_t loop;
  future_t *hour, *soon;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  hour = future_delay(&loop, 3600 * 1000);
  soon = future_delay(&loop, 1);
  ck_assert_int_eq(future_cancel(hour), 0);
  future_unref(hour);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(soon), FUTURE_FULFILLED);
  future_unref(soon);
  ck_assert_uint_eq(future_loop_live(&loop), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled delays behind a long live one are dropped once they outnumber
 * the live ones: memory stays bounded however many come and go. */
START_TEST(test_timer_cancelled_delays_do_not_pile_up) {
  uv_loop_t loop;
  future_t *hour;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  hour = future_delay(&loop, 3600 * 1000);
  for (i = 0; i < 10000; i++) {
    future_t *d = future_delay(&loop, 10 + (uint64_t)(i % 50));
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(future_cancel(d), 0);
    future_unref(d);
    ck_assert_uint_le(future_loop_live(&loop), 200);
  }
  /* The last live delay cancelled: every entry goes at once. */
  ck_assert_int_eq(future_cancel(hour), 0);
  future_unref(hour);
  ck_assert_uint_eq(future_loop_live(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A continuation of a delay that fired cancels another due at the same
 * time (already settled: too late) and one due later (cancelled). */
static future_t *cancel_others(future_t *settled, void *data) {
  future_t **others = data;
  ck_assert_int_eq(future_cancel(others[0]), FUTURE_ESETTLED);
  ck_assert_int_eq(future_cancel(others[1]), 0);
  return future_ref(settled);
}

START_TEST(test_timer_cancel_from_a_delay_continuation) {
  uv_loop_t loop;
  future_t *first, *others[2];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  first = future_delay(&loop, 5);
  others[0] = future_delay(&loop, 5);
  others[1] = future_delay(&loop, 3600 * 1000);
  future_unref(future_then(first, cancel_others, NULL, others));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(others[0]), FUTURE_FULFILLED);
  ck_assert_int_eq(future_state(others[1]), FUTURE_REJECTED);
  future_unref(others[0]);
  future_unref(others[1]);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An input that has already settled when the timeout is made wins over
 * its deadline, even a deadline of 0 ms, and even when the loop's cached
 * time is stale because the thread was busy before the loop ran. */
START_TEST(test_timer_timeout_settled_input_wins) {
  uv_loop_t loop;
  future_result_t r;
  future_t *t;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(
        future_wait(future_timeout(future_resolved(&loop, INT2P(i), NULL), 0),
                    &r),
        0);
    ck_assert_int_eq(P2INT(r.value), i);
    future_result_release(&r);
  }
  t = future_timeout(future_resolved(&loop, INT2P(5), NULL), 5);
  uv_sleep(20); /* blocked before the loop runs: the deadline has passed */
  ck_assert_int_eq(future_wait(t, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 5);
  future_result_release(&r);
  /* An input that settles later, but before its deadline, counted from
   * the moment future_timeout is called, not from a stale loop time. */
  uv_sleep(300); /* the loop's cached time is now 300 ms behind */
  t = future_timeout(future_then(future_delay(&loop, 1), NULL, NULL, NULL),
                     200);
  ck_assert_int_eq(future_wait(t, &r), 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A delay of nearly UINT64_MAX ms must not wrap around the loop's clock
 * and fire at once: it is still pending after a short one has fired. */
START_TEST(test_timer_huge_delay_does_not_overflow) {
  uv_loop_t loop;
  future_t *huge;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  huge = future_delay(&loop, UINT64_MAX - 1);
  ck_assert_int_eq(future_wait(future_delay(&loop, 5), &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_state(huge), FUTURE_PENDING);
  ck_assert_int_eq(future_cancel(huge), 0);
  future_unref(huge);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The input settles in a callback that runs just before its deadline's,
 * in the same turn of the loop (both timers are due when the loop gets to
 * run): the input settled first, so it wins, although its observer has
 * not run yet when the deadline fires. */
static void settle_input(uv_timer_t *t) {
  future_resolve(t->data, INT2P(11), NULL);
  uv_close((uv_handle_t *)t, NULL);
}

/* A timeout of 10 ms on an input that a timer settles after `input_ms`,
 * with the loop kept from running until both are due: the input wins. */
static void input_and_deadline_in_one_turn(uint64_t input_ms) {
  uv_loop_t loop;
  uv_timer_t timer;
  future_t *in, *t;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in = future_new(&loop);
  t = future_timeout(future_ref(in), 10);
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = in;
  ck_assert_int_eq(uv_timer_start(&timer, settle_input, input_ms, 0), 0);
  uv_sleep(30); /* both are due when the loop runs */
  ck_assert_int_eq(future_wait(t, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 11);
  future_result_release(&r);
  future_unref(in);
  LOOP_CLOSE(&loop);
}

START_TEST(test_timer_timeout_input_settled_in_the_same_turn_wins) {
  input_and_deadline_in_one_turn(5);
}
END_TEST

/* The same when the deadline comes first in that turn: the loop's timer
 * of delays was started first, for the same due time, so libuv fires it
 * first; the input settles in the next timer callback of the same turn,
 * before the deadline's observer runs. The input has settled by then, so
 * it wins. */
START_TEST(test_timer_timeout_input_settled_after_the_deadline_in_the_same_turn_wins) {
  input_and_deadline_in_one_turn(10);
}
END_TEST

/* The documented rule for dropping cancelled delays: a new delay that
 * finds more cancelled entries than live ones, and at least 64, rebuilds
 * the heap without them. At 63 they stay (future_loop_live still counts
 * their futures); at 64 the next delay lets them go. */
START_TEST(test_timer_cancelled_delays_dropped_at_64) {
  uv_loop_t loop;
  future_t *hour, *d;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  hour = future_delay(&loop, 3600 * 1000);
  for (int i = 0; i < 63; i++) {
    d = future_delay(&loop, 1000);
    ck_assert_int_eq(future_cancel(d), 0);
    future_unref(d);
  }
  d = future_delay(&loop, 1000); /* 63 cancelled: kept */
  ck_assert_uint_eq(future_loop_live(&loop), 1 + 63 + 1);
  ck_assert_int_eq(future_cancel(d), 0);
  future_unref(d);
  d = future_delay(&loop, 1000); /* 64 cancelled: dropped */
  ck_assert_uint_eq(future_loop_live(&loop), 1 + 1);
  ck_assert_int_eq(future_cancel(d), 0);
  future_unref(d);
  ck_assert_int_eq(future_cancel(hour), 0);
  future_unref(hour);
  LOOP_CLOSE(&loop);
}
END_TEST

/* future_yield: the loop goes around between the steps of a chain. A
 * uv_check handle counts the turns (its callback runs once per turn,
 * after the poll for I/O). Steps chained on resolved futures all run in
 * one turn; steps chained on future_yield each see a later turn, and a
 * due timer and ready I/O run before the step after the yield. */
#define YIELD_STEPS 5
typedef struct {
  uv_check_t check;
  uv_timer_t due;
  uv_pipe_t in;
  int fds[2];
  unsigned turns;
  unsigned seen[YIELD_STEPS];
  int step;
  int yield;               /* chain on future_yield, else on resolved */
  int timer_fired, read_fired;
  int timer_ran, read_ran; /* as the step after the first yield saw them */
} turns_t;

static void count_turn(uv_check_t *c) { ((turns_t *)c->data)->turns++; }

static void on_due(uv_timer_t *timer) {
  ((turns_t *)timer->data)->timer_fired = 1;
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  static char space[64];
  (void)h;
  (void)size;
  *buf = uv_buf_init(space, sizeof space);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  if (n > 0)
    ((turns_t *)s->data)->read_fired = 1;
  uv_read_stop(s);
}

static future_t *yield_step(future_t *prev, void *data) {
  turns_t *t = data;
  uv_loop_t *loop = future_loop(prev);
  if (t->step == 0) {
    /* A timer due now, and a byte ready to read. */
    ck_assert_int_eq(uv_timer_start(&t->due, on_due, 0, 0), 0);
    ck_assert_int_eq(write(t->fds[1], "x", 1), 1);
  } else if (t->step == 1) {
    t->timer_ran = t->timer_fired;
    t->read_ran = t->read_fired;
  }
  t->seen[t->step++] = t->turns;
  if (t->step == YIELD_STEPS)
    return future_resolved(loop, INT2P(t->step), NULL);
  return future_then(t->yield ? future_yield(loop)
                              : future_resolved(loop, NULL, NULL),
                     yield_step, NULL, t);
}

static void run_steps(int yield, turns_t *t) {
  uv_loop_t loop;
  future_result_t r;
  memset(t, 0, sizeof(*t));
  t->yield = yield;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_check_init(&loop, &t->check), 0);
  t->check.data = t;
  ck_assert_int_eq(uv_check_start(&t->check, count_turn), 0);
  uv_unref((uv_handle_t *)&t->check);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, t->fds), 0);
  ck_assert_int_eq(uv_pipe_init(&loop, &t->in, 0), 0);
  ck_assert_int_eq(uv_pipe_open(&t->in, t->fds[0]), 0);
  t->in.data = t;
  ck_assert_int_eq(uv_read_start((uv_stream_t *)&t->in, alloc_cb, on_read), 0);
  uv_unref((uv_handle_t *)&t->in);
  ck_assert_int_eq(uv_timer_init(&loop, &t->due), 0);
  t->due.data = t;
  ck_assert_int_eq(future_wait(future_then(future_resolved(&loop, NULL, NULL),
                                           yield_step, NULL, t),
                               &r),
                   0);
  ck_assert_int_eq(P2INT(r.value), YIELD_STEPS);
  future_result_release(&r);
  uv_close((uv_handle_t *)&t->due, NULL);
  uv_close((uv_handle_t *)&t->in, NULL);
  uv_close((uv_handle_t *)&t->check, NULL);
  close(t->fds[1]);
  LOOP_CLOSE(&loop);
}

START_TEST(test_timer_yield_lets_the_loop_go_around) {
  turns_t t;
  int i;
  run_steps(1, &t);
  for (i = 1; i < YIELD_STEPS; i++)
    ck_assert_uint_gt(t.seen[i], t.seen[i - 1]);
  ck_assert_int_eq(t.timer_ran, 1);
  ck_assert_int_eq(t.read_ran, 1);
}
END_TEST

START_TEST(test_timer_resolved_steps_hold_the_loop) {
  turns_t t;
  int i;
  run_steps(0, &t);
  for (i = 1; i < YIELD_STEPS; i++)
    ck_assert_uint_eq(t.seen[i], t.seen[0]);
  ck_assert_int_eq(t.timer_ran, 0);
  ck_assert_int_eq(t.read_ran, 0);
}
END_TEST

/* The deadline's error names where the timeout was asked for (FUTURE_AT),
 * in the library's words. */
START_TEST(test_timer_timeout_error_names_the_call_site) {
  uv_loop_t loop;
  future_result_t r;
  future_t *in, *t;
  int line;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in = future_new(&loop);
  line = __LINE__ + 1;
  t = future_timeout(future_ref(in), 5);
  ck_assert_int_eq(future_wait(t, &r), UV_ETIMEDOUT);
  ck_assert_str_eq(future_error_file(r.error), __FILE__);
  ck_assert_int_eq(future_error_line(r.error), line);
  ck_assert_str_eq(future_error_func(r.error), __func__);
  future_result_release(&r);
  future_unref(in);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_timer_yield_cancel_and_null) {
  uv_loop_t loop;
  future_t *y;
  ck_assert_ptr_null(future_yield(NULL));
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  y = future_yield(&loop);
  ck_assert_int_eq(future_state(y), FUTURE_PENDING);
  ck_assert_int_eq(future_cancel(y), 0);
  ck_assert_int_eq(future_error_code(future_error(y)), UV_ECANCELED);
  /* A cancelled yield does not keep the loop alive. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
  future_unref(y);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_timer_suite(void) {
  Suite *s = suite_create("timer");
  TCase *core = tcase_create("Core");
  TCase *cancel = tcase_create("Cancel");
  tcase_set_timeout(core, 30);
  tcase_add_test(core, test_timer_delay_fulfils_after_ms);
  tcase_add_test(core, test_timer_delay_keeps_loop_alive);
  tcase_add_test(core, test_timer_delay_null_loop);
  tcase_add_test(core, test_timer_huge_delay_does_not_overflow);
  tcase_add_test(core, test_timer_delays_settle_in_time_order);
  tcase_add_test(core, test_timer_timeout_passes_fast_outcome);
  tcase_add_test(core, test_timer_timeout_rejects_and_cancels_inner);
  tcase_add_test(core, test_timer_timeout_of_pending_forever);
  tcase_add_test(core, test_timer_timeout_settled_input_wins);
  tcase_add_test(core, test_timer_timeout_input_settled_in_the_same_turn_wins);
  tcase_add_test(core, test_timer_timeout_input_settled_after_the_deadline_in_the_same_turn_wins);
  tcase_add_test(core, test_timer_many_delays);
  tcase_add_test(core, test_timer_delays_fire_by_due_time_then_creation);
  tcase_add_test(core, test_timer_order_holds_across_wheel_heap_and_a_stall);
  tcase_add_test(core, test_timer_delay_of_0_in_a_delay_continuation_fires_first);
  tcase_add_test(core, test_timer_delay_then_sees_a_fulfilled_future);
  tcase_add_test(cancel, test_timer_cancel_delay_then);
  tcase_add_test(cancel, test_timer_teardown_with_delay_then);
  tcase_add_test(cancel, test_timer_kept_settled_future_of_delay_then);
  tcase_add_test(core, test_timer_delay_then_error_unobserved_is_reported);
  tcase_add_test(core, test_timer_yield_lets_the_loop_go_around);
  tcase_add_test(core, test_timer_resolved_steps_hold_the_loop);
  tcase_add_test(cancel, test_timer_yield_cancel_and_null);
  tcase_add_test(core, test_timer_timeout_error_names_the_call_site);
  tcase_add_test(cancel, test_timer_cancelled_delay_does_not_keep_loop_alive);
  tcase_add_test(cancel, test_timer_cancelled_delays_do_not_pile_up);
  tcase_add_test(cancel, test_timer_cancelled_delays_dropped_at_64);
  tcase_add_test(cancel, test_timer_cancel_from_a_delay_continuation);
  tcase_add_test(cancel, test_timer_cancel_delay);
  tcase_add_test(cancel, test_timer_cancel_timeout_cancels_inner);
  suite_add_tcase(s, core);
  suite_add_tcase(s, cancel);
  return s;
}
