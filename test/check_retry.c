/* future_retry: backoff, transient versus permanent errors, cancellation
 * (src/retry.c). */
#include "helpers.h"
#include "suites.h"

#include <math.h>
#include <string.h>

typedef struct {
  unsigned calls;
  unsigned succeed_at; /* attempt that succeeds; 0 = never */
  int code;            /* error of the failing attempts */
  uint64_t times[16];  /* loop time of each attempt */
} flaky_t;

static future_t *flaky(uv_loop_t *loop, unsigned attempt, void *data) {
  flaky_t *fl = data;
  ck_assert_uint_eq(attempt, fl->calls + 1);
  if (fl->calls < 16)
    fl->times[fl->calls] = uv_now(loop);
  fl->calls++;
  if (fl->succeed_at != 0 && attempt >= fl->succeed_at)
    return future_resolved(loop, INT2P(attempt), NULL);
  return future_rejected(loop,
                         future_error_new(fl->code, "attempt %u", attempt));
}

START_TEST(test_retry_succeeds_after_transient_failures) {
  uv_loop_t loop;
  flaky_t fl = {0, 3, UV_EAGAIN, {0}};
  future_retry_policy_t pol = {5, 10, 1000, 2.0, 0, NULL, NULL};
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r), 0);
  ck_assert_int_eq(P2INT(r.value), 3);
  ck_assert_uint_eq(fl.calls, 3);
  /* Backoff: at least 10 ms, then at least 20 ms (timers never fire
   * early; no upper bound is asserted on a shared machine). */
  ck_assert_uint_ge(fl.times[1] - fl.times[0], 10);
  ck_assert_uint_ge(fl.times[2] - fl.times[1], 20);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_retry_gives_up_with_last_error_as_cause) {
  uv_loop_t loop;
  flaky_t fl = {0, 0, UV_EBUSY, {0}};
  future_retry_policy_t pol = {3, 1, 5, 2.0, 0.5, NULL, NULL};
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r),
                   UV_EBUSY);
  ck_assert_uint_eq(fl.calls, 3);
  ck_assert_str_eq(future_error_message(r.error),
                   "giving up after 3 attempts: resource busy or locked "
                   "(EBUSY)");
  ck_assert_str_eq(future_error_message(future_error_cause(r.error)),
                   "attempt 3: resource busy or locked (EBUSY)");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_retry_permanent_error_not_retried) {
  uv_loop_t loop;
  flaky_t fl = {0, 0, UV_ENOENT, {0}};
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, NULL), &r),
                   UV_ENOENT);
  ck_assert_uint_eq(fl.calls, 1);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

static int retry_user_codes(const future_error_t *err, unsigned attempt,
                            void *data) {
  (void)attempt;
  *(int *)data += 1;
  return future_error_code(err) == FUTURE_EUSER(1);
}

START_TEST(test_retry_user_predicate) {
  uv_loop_t loop;
  flaky_t fl = {0, 4, FUTURE_EUSER(1), {0}};
  int asked = 0;
  future_retry_policy_t pol = {0};
  future_result_t r;
  pol.initial_delay_ms = 1;
  pol.should_retry = retry_user_codes;
  pol.data = &asked;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r), 0);
  ck_assert_uint_eq(fl.calls, 4);
  ck_assert_int_eq(asked, 3);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_retry_transient_table) {
  const int transient[] = {UV_EAGAIN,  UV_EMFILE,       UV_ENFILE,
                           UV_EBUSY,   UV_ETIMEDOUT,    UV_ECONNRESET,
                           UV_ECONNREFUSED, UV_EINTR,   UV_ENOBUFS,
                           UV_EPIPE,   UV_EAI_AGAIN};
  const int permanent[] = {UV_ENOENT, UV_EACCES, UV_EISDIR, UV_ENOTDIR,
                           UV_EINVAL, UV_ECANCELED, FUTURE_EUSER(0)};
  for (size_t i = 0; i < sizeof transient / sizeof *transient; i++) {
    future_error_t *e = future_error_new(transient[i], NULL);
    ck_assert_int_eq(future_retry_transient(e, 1, NULL), 1);
    future_error_unref(e);
  }
  for (size_t i = 0; i < sizeof permanent / sizeof *permanent; i++) {
    future_error_t *e = future_error_new(permanent[i], NULL);
    ck_assert_int_eq(future_retry_transient(e, 1, NULL), 0);
    future_error_unref(e);
  }
}
END_TEST

START_TEST(test_retry_cancel_during_backoff) {
  uv_loop_t loop;
  flaky_t fl = {0, 0, UV_EAGAIN, {0}};
  future_retry_policy_t pol = {5, 60000, 60000, 2.0, 0, NULL, NULL};
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_retry(&loop, flaky, &fl, &pol);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1); /* now backing off */
  ck_assert_uint_eq(fl.calls, 1);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* timer gone */
  ck_assert_uint_eq(fl.calls, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *slow_attempt(uv_loop_t *loop, unsigned attempt, void *data) {
  (void)attempt;
  (void)data;
  return future_delay(loop, 60000);
}

START_TEST(test_retry_cancel_during_attempt) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_retry(&loop, slow_attempt, NULL, NULL);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* attempt cancelled */
  LOOP_CLOSE(&loop);
}
END_TEST

/* Every attempt runs as a library callback, the later ones from the
 * backoff timer too: waiting in one is refused. */
static future_t *waits_inside(uv_loop_t *loop, unsigned attempt, void *data) {
  int *status = data;
  future_result_t r;
  status[attempt - 1] = future_wait(future_delay(loop, 1), &r);
  future_result_release(&r);
  if (attempt < 3)
    return future_rejected(loop, future_error_new(UV_EAGAIN, "again"));
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_retry_wait_in_attempt_is_refused) {
  uv_loop_t loop;
  int status[3] = {0, 0, 0};
  future_retry_policy_t pol = {0};
  future_result_t r;
  pol.initial_delay_ms = 1;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      future_wait(future_retry(&loop, waits_inside, status, &pol), &r), 0);
  future_result_release(&r);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(status[i], FUTURE_EINCALLBACK);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *bad_attempt(uv_loop_t *loop, unsigned attempt, void *data) {
  uv_loop_t *other = data;
  (void)attempt;
  if (other == NULL)
    return NULL;                /* as when memory runs out */
  if (other == loop)
    return future_new(loop);    /* released unsettled: can never settle */
  return future_resolved(other, NULL, NULL); /* of another loop */
}

START_TEST(test_retry_bad_attempts) {
  uv_loop_t loop, other;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  ck_assert_int_eq(future_wait(future_retry(&loop, bad_attempt, NULL, NULL),
                               &r),
                   UV_ENOMEM);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_retry(&loop, bad_attempt, &other, NULL), &r),
      UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_retry(&loop, bad_attempt, &loop, NULL), &r),
      FUTURE_ESTALLED);
  ck_assert_str_eq(future_error_message(r.error),
                   "future_retry: attempt 1 was released unsettled: nothing "
                   "can settle the future any more (FUTURE_ESTALLED)");
  future_result_release(&r);
  ck_assert_ptr_null(future_retry(NULL, bad_attempt, NULL, NULL));
  ck_assert_ptr_null(future_retry(&loop, NULL, NULL, NULL));
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

/* Delays are capped by max_delay_ms, and jitter outside [0, 1] is
 * clamped (no timing is asserted: only that the attempts all happen). */
START_TEST(test_retry_cap_and_clamped_jitter) {
  uv_loop_t loop;
  flaky_t fl = {0, 4, UV_EAGAIN, {0}};
  future_retry_policy_t pol = {6, 1, 2, 100.0, 7.5, NULL, NULL};
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r), 0);
  ck_assert_uint_eq(fl.calls, 4);
  future_result_release(&r);
  fl.calls = 0;
  pol.jitter = -3;
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r), 0);
  ck_assert_uint_eq(fl.calls, 4);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An attempt that cancels the retry's own result: the retry stops at once,
 * the attempt's future is released, and no other attempt is made. */
typedef struct {
  future_t *result;
  unsigned calls;
} retry_cancel_t;

static future_t *cancels_own_retry(uv_loop_t *loop, unsigned attempt,
                                   void *data) {
  retry_cancel_t *rc = data;
  rc->calls++;
  if (attempt == 2)
    ck_assert_int_eq(future_cancel(rc->result), 0);
  return future_rejected(loop, future_error_new(UV_EAGAIN, "attempt %u",
                                                attempt));
}

START_TEST(test_retry_cancel_from_attempt) {
  uv_loop_t loop;
  future_result_t r;
  future_retry_policy_t pol = {5, 1, 1, 2.0, 0, NULL, NULL};
  retry_cancel_t rc = {NULL, 0};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  rc.result = future_retry(&loop, cancels_own_retry, &rc, &pol);
  ck_assert_int_eq(future_wait(rc.result, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_uint_eq(rc.calls, 2);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A policy that cannot describe delays (a NaN or infinite multiplier, a
 * NaN jitter) is refused with UV_EINVAL instead of never settling; a
 * huge multiplier is clamped to max_delay_ms. */
START_TEST(test_retry_invalid_policy_is_einval) {
  uv_loop_t loop;
  future_result_t r;
  flaky_t fl = {0, 0, UV_EAGAIN, {0}};
  future_retry_policy_t pol = {3, 1, 5, 0, 0, NULL, NULL};
  double bad[] = {NAN, INFINITY, -1.0};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    pol.multiplier = bad[i];
    ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r),
                     UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(future_error_message(r.error), "multiplier"));
    future_result_release(&r);
  }
  pol.multiplier = 2.0;
  pol.jitter = NAN;
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r),
                   UV_EINVAL);
  ck_assert_ptr_nonnull(strstr(future_error_message(r.error), "jitter"));
  future_result_release(&r);
  ck_assert_uint_eq(fl.calls, 0); /* refused before the first attempt */
  pol.jitter = 0;
  pol.multiplier = 1e300; /* 1e300 ms is clamped to max_delay_ms (5 ms) */
  ck_assert_int_eq(future_wait(future_retry(&loop, flaky, &fl, &pol), &r),
                   UV_EAGAIN);
  future_result_release(&r);
  ck_assert_uint_eq(fl.calls, 3);
  ck_assert_uint_le(fl.times[2] - fl.times[1], 1000);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The policy, attempt by attempt, seen through the loop time at which
 * each attempt starts (a timer never fires early, so lower bounds are
 * exact; the one upper bound below has a margin of 500 times). */
static future_retry_policy_t policy(unsigned attempts, uint64_t initial,
                                    uint64_t max, double multiplier,
                                    double jitter) {
  future_retry_policy_t p = {attempts, initial, max, multiplier, jitter,
                             NULL, NULL};
  return p;
}

static flaky_t run_flaky(uv_loop_t *loop, const future_retry_policy_t *p) {
  flaky_t fl = {0, 0, UV_EAGAIN, {0}};
  future_result_t r;
  ck_assert_int_eq(future_wait(future_retry(loop, flaky, &fl, p), &r),
                   UV_EAGAIN);
  future_result_release(&r);
  return fl;
}

START_TEST(test_retry_policy_spacing) {
  uv_loop_t loop;
  future_retry_policy_t p;
  flaky_t fl;
  int shorter;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* Defaults: 5 attempts, 10 ms then doubling (10, 20, 40, 80). */
  fl = run_flaky(&loop, NULL);
  ck_assert_uint_eq(fl.calls, 5);
  ck_assert_uint_ge(fl.times[1] - fl.times[0], 10);
  ck_assert_uint_ge(fl.times[2] - fl.times[1], 20);
  ck_assert_uint_ge(fl.times[4] - fl.times[3], 80);
  /* A multiplier of 0 takes the default (2.0), not 0. */
  p = policy(4, 10, 0, 0, 0);
  fl = run_flaky(&loop, &p);
  ck_assert_uint_ge(fl.times[3] - fl.times[2], 40);
  /* The multiplier applies once per attempt after the second: before
   * attempt 2 the delay is the initial one (1 ms), not 1000 ms. */
  p = policy(2, 1, 100000, 1000.0, 0);
  fl = run_flaky(&loop, &p);
  ck_assert_uint_lt(fl.times[1] - fl.times[0], 500);
  /* Jitter spreads each delay below it, never above: with a jitter of 1,
   * each of five delays of 100 ms is drawn from 0 to 100 ms, so some gap
   * is shorter than 100 ms (drawn above, none could be; all five at 100 ms
   * or more would take a draw in the top tenth five times running, plus
   * 10 ms of overhead each). */
  p = policy(6, 100, 100, 1.0, 1.0);
  fl = run_flaky(&loop, &p);
  shorter = 0;
  for (int k = 1; k < 6; k++)
    shorter += fl.times[k] - fl.times[k - 1] < 100;
  ck_assert_int_gt(shorter, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An attempt that returns the retry's own result, or a future that waits
 * on it, is a cycle: FUTURE_ECYCLE, not a retry waiting for itself. */
typedef struct {
  future_t *result;
  int follower;
} retry_self_t;

static future_t *returns_the_retry(uv_loop_t *loop, unsigned attempt,
                                   void *data) {
  retry_self_t *rs = data;
  if (attempt == 1)
    return future_rejected(loop, future_error_new(UV_EAGAIN, "first"));
  return rs->follower ? future_then(future_ref(rs->result), NULL, NULL, NULL)
                      : future_ref(rs->result);
}

START_TEST(test_retry_attempt_returning_the_retry_is_a_cycle) {
  uv_loop_t loop;
  future_result_t r;
  future_retry_policy_t pol = {3, 1, 1, 2.0, 0, NULL, NULL};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (int follower = 0; follower < 2; follower++) {
    retry_self_t rs = {NULL, follower};
    rs.result = future_retry(&loop, returns_the_retry, &rs, &pol);
    ck_assert_int_eq(future_wait(rs.result, &r), FUTURE_ECYCLE);
    future_result_release(&r);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_retry_suite(void) {
  Suite *s = suite_create("retry");
  TCase *core = tcase_create("Core");
  TCase *cancel = tcase_create("Cancel");
  tcase_set_timeout(core, 30);
  tcase_add_test(core, test_retry_succeeds_after_transient_failures);
  tcase_add_test(core, test_retry_gives_up_with_last_error_as_cause);
  tcase_add_test(core, test_retry_permanent_error_not_retried);
  tcase_add_test(core, test_retry_user_predicate);
  tcase_add_test(core, test_retry_transient_table);
  tcase_add_test(core, test_retry_wait_in_attempt_is_refused);
  tcase_add_test(core, test_retry_bad_attempts);
  tcase_add_test(core, test_retry_cap_and_clamped_jitter);
  tcase_add_test(core, test_retry_invalid_policy_is_einval);
  tcase_add_test(core, test_retry_attempt_returning_the_retry_is_a_cycle);
  tcase_add_test(core, test_retry_policy_spacing);
  tcase_add_test(cancel, test_retry_cancel_during_backoff);
  tcase_add_test(cancel, test_retry_cancel_during_attempt);
  tcase_add_test(cancel, test_retry_cancel_from_attempt);
  suite_add_tcase(s, core);
  suite_add_tcase(s, cancel);
  return s;
}
