/* Timers as futures: future_delay and future_timeout (src/timer.c). */
#include "helpers.h"
#include "suites.h"

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

START_TEST(test_timer_delays_settle_in_time_order) {
  uv_loop_t loop;
  future_t *slow, *fast;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  slow = future_delay(&loop, 40);
  fast = future_delay(&loop, 5);
  ck_assert_int_eq(future_wait(future_ref(fast), &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_state(slow), FUTURE_PENDING);
  ck_assert_int_eq(future_wait(slow, &r), 0);
  future_result_release(&r);
  future_unref(fast);
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
                   "timed out after 10 ms: connection timed out (ETIMEDOUT)");
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

Suite *make_timer_suite(void) {
  Suite *s = suite_create("timer");
  TCase *core = tcase_create("Core");
  TCase *cancel = tcase_create("Cancel");
  tcase_set_timeout(core, 30);
  tcase_add_test(core, test_timer_delay_fulfils_after_ms);
  tcase_add_test(core, test_timer_delay_keeps_loop_alive);
  tcase_add_test(core, test_timer_delay_null_loop);
  tcase_add_test(core, test_timer_delays_settle_in_time_order);
  tcase_add_test(core, test_timer_timeout_passes_fast_outcome);
  tcase_add_test(core, test_timer_timeout_rejects_and_cancels_inner);
  tcase_add_test(core, test_timer_timeout_of_pending_forever);
  tcase_add_test(core, test_timer_many_delays);
  tcase_add_test(cancel, test_timer_cancel_delay);
  tcase_add_test(cancel, test_timer_cancel_timeout_cancels_inner);
  suite_add_tcase(s, core);
  suite_add_tcase(s, cancel);
  return s;
}
