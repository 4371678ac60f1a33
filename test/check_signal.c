/* Signals as futures (src/signal.c): real signals sent to the test process
 * with uv_kill, always while a watcher exists (SIGUSR1 and SIGUSR2 would
 * otherwise end the process). */
#define _GNU_SOURCE /* fs_helpers.h: nftw, renameat2 */
#include "fs_helpers.h"
#include "helpers.h"
#include "suites.h"

#include <signal.h>
#include <unistd.h>

static int owned_now;
static void count_owned(uv_handle_t *h, void *arg) {
  *(int *)arg += future_loop_owns_handle(h);
}

START_TEST(test_signal_next_delivery_fulfils) {
  uv_loop_t loop;
  future_result_t r;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_signal(&loop, SIGUSR1);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(uv_kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_int_eq(P2INT(r.value), SIGUSR1);
  future_result_release(&r);
  /* The watcher is closed once it has fired: after a turn of the loop,
   * only the loop's three handles are the library's. */
  uv_run(&loop, UV_RUN_NOWAIT);
  owned_now = 0;
  uv_walk(&loop, count_owned, &owned_now);
  ck_assert_int_eq(owned_now, 3);
  LOOP_CLOSE(&loop);
}
END_TEST

/* One delivery fulfils every future waiting for that signal, and only
 * those: a future for another signal stays pending. */
START_TEST(test_signal_one_delivery_fulfils_every_waiter) {
  uv_loop_t loop;
  future_t *a, *b, *other;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = future_signal(&loop, SIGUSR1);
  b = future_signal(&loop, SIGUSR1);
  other = future_signal(&loop, SIGUSR2);
  ck_assert_int_eq(uv_kill(getpid(), SIGUSR1), 0);
  while (future_state(a) == FUTURE_PENDING ||
         future_state(b) == FUTURE_PENDING)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(P2INT(future_value(a)), SIGUSR1);
  ck_assert_int_eq(P2INT(future_value(b)), SIGUSR1);
  ck_assert_int_eq(future_state(other), FUTURE_PENDING);
  ck_assert_int_eq(future_cancel(other), 0);
  future_unref(a);
  future_unref(b);
  future_unref(other);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A pending one keeps the loop alive; a cancelled one does not, and its
 * watcher is gone at once. */
START_TEST(test_signal_cancel_stops_watching) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_signal(&loop, SIGUSR2);
  ck_assert_int_ne(uv_loop_alive(&loop), 0);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_signal_errors) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_signal(&loop, 9999), &r), UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "watch signal 9999: invalid argument (EINVAL)");
  ck_assert_str_eq(future_error_file(r.error), __FILE__);
  ck_assert_int_eq(future_error_line(r.error), __LINE__ - 4);
  future_result_release(&r);
  ck_assert_ptr_null(future_signal(NULL, SIGUSR1));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Teardown cancels a pending one, in either order with a uv_walk that
 * closes every handle, the watcher included: the walk first meets the
 * library's three handles and both watchers; after teardown, none. */
START_TEST(test_signal_teardown_with_a_walk) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_signal(&loop, SIGUSR1));
  future_unref(future_signal(&loop, SIGUSR2));
  ck_assert_int_eq(teardown_with_walk(&loop, _i),
                   _i != TEARDOWN_CLOSE_FIRST ? 5 : 0);
}
END_TEST

/* Allocation failures: a NULL future or a UV_ENOMEM rejection, nothing
 * left behind. The signal comes from a helper thread a little later, so
 * that a future that did start its watcher is fulfilled. */
static void kill_soon(void *arg) {
  (void)arg;
  uv_sleep(20);
  uv_kill(getpid(), SIGUSR1);
}

static uv_thread_t killer;
static uv_signal_t guard; /* keeps SIGUSR1 caught during the sweep */

static void start_killer(void) {
  ck_assert_int_eq(uv_thread_create(&killer, kill_soon, NULL), 0);
}

static void join_killer(void) { ck_assert_int_eq(uv_thread_join(&killer), 0); }

static future_t *op_signal(uv_loop_t *l) { return future_signal(l, SIGUSR1); }

static void ignore_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
}

START_TEST(test_signal_allocation_failures) {
  static const fs_op_t ops[] = {
      {"signal", start_killer, op_signal, NULL, join_killer},
  };
  uv_loop_t guard_loop;
  ck_assert_int_eq(uv_loop_init(&guard_loop), 0);
  ck_assert_int_eq(uv_signal_init(&guard_loop, &guard), 0);
  ck_assert_int_eq(uv_signal_start(&guard, ignore_signal, SIGUSR1), 0);
  sweep_ops(ops, sizeof ops / sizeof ops[0]);
  uv_close((uv_handle_t *)&guard, NULL);
  ck_assert_int_eq(uv_run(&guard_loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&guard_loop), 0);
}
END_TEST

Suite *make_signal_suite(void) {
  Suite *s = suite_create("signal");
  TCase *core = tcase_create("core");
  tcase_add_checked_fixture(core, setup, teardown);
  tcase_set_timeout(core, 60);
  tcase_add_test(core, test_signal_next_delivery_fulfils);
  tcase_add_test(core, test_signal_one_delivery_fulfils_every_waiter);
  tcase_add_test(core, test_signal_cancel_stops_watching);
  tcase_add_test(core, test_signal_errors);
  tcase_add_loop_test(core, test_signal_teardown_with_a_walk, 0, 3);
  tcase_add_test(core, test_signal_allocation_failures);
  suite_add_tcase(s, core);
  return s;
}
