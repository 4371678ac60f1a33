/* Cancellation along chains (src/cancel.c). */
#include "helpers.h"
#include "suites.h"

static int ran;
static future_t *mark(future_t *settled, void *data) {
  (void)data;
  ran++;
  return future_ref(settled);
}

START_TEST(test_cancel_null_and_settled) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_cancel(NULL), UV_EINVAL);
  f = future_resolved(&loop, INT2P(1), NULL);
  ck_assert_int_eq(future_cancel(f), FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_cancel_pending_source_rejects_ecanceled) {
  uv_loop_t loop;
  unhandled_counter_t c;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  f = future_new(&loop);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  /* The resolver's late settle is refused. */
  ck_assert_int_eq(future_resolve(f, NULL, NULL), FUTURE_ESETTLED);
  future_unref(f);
  ck_assert_int_eq(c.count, 0); /* cancelling is not an unhandled error */
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ECANCELED travels down the chain like any error: then skipped, catch
 * reached. */
static future_t *saw_cancel(future_t *settled, void *data) {
  int *code = data;
  *code = future_error_code(future_error(settled));
  return future_resolved(future_loop(settled), INT2P(1), NULL);
}

START_TEST(test_cancel_travels_down_chain) {
  uv_loop_t loop;
  future_t *src, *f;
  int code = 0;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  src = future_new(&loop);
  f = future_then(future_ref(src), mark, NULL, NULL);
  f = future_catch(f, saw_cancel, &code);
  ck_assert_int_eq(future_cancel(src), 0);
  ck_assert_int_eq(future_wait(f, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(ran, 0);
  ck_assert_int_eq(code, UV_ECANCELED);
  future_unref(src);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelling the end of a chain cancels the sources nobody else uses. */
START_TEST(test_cancel_derived_cancels_unshared_source) {
  uv_loop_t loop;
  future_t *timer, *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  timer = future_delay(&loop, 60000);
  f = future_then(timer, mark, NULL, NULL);
  f = future_then(f, mark, NULL, NULL);
  ck_assert_int_eq(future_cancel(f), 0);
  /* The hour-long timer was stopped: the loop ends at once. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran, 0);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ... but not a source that another consumer still needs. */
START_TEST(test_cancel_derived_spares_shared_source) {
  uv_loop_t loop;
  future_t *timer, *a, *b;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  timer = future_delay(&loop, 5);
  a = future_then(future_ref(timer), mark, NULL, NULL);
  b = future_then(timer, mark, NULL, NULL);
  ck_assert_int_eq(future_cancel(a), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran, 1); /* b's step ran: the timer went on */
  ck_assert_int_eq(future_state(b), FUTURE_FULFILLED);
  future_unref(a);
  future_unref(b);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ... nor one the user still holds. */
START_TEST(test_cancel_derived_spares_held_source) {
  uv_loop_t loop;
  future_t *timer, *a;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  timer = future_delay(&loop, 5);
  a = future_then(future_ref(timer), mark, NULL, NULL);
  ck_assert_int_eq(future_cancel(a), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(timer), FUTURE_FULFILLED);
  future_unref(a);
  future_unref(timer);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled after its parent settled but before it ran: it never runs. */
START_TEST(test_cancel_queued_continuation_never_runs) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  f = future_then(future_resolved(&loop, NULL, NULL), mark, NULL, NULL);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran, 0);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelling a chain that waits on a returned (adopted) future. */
static future_t *return_delay(future_t *settled, void *data) {
  (void)data;
  return future_delay(future_loop(settled), 60000);
}

START_TEST(test_cancel_while_adopting) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), return_delay, NULL,
                  NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1); /* waits on the delay */
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* delay stopped too */
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A finally waiting on its callback's future, cancelled. */
static future_t *finally_delay(future_t *settled, void *data) {
  (void)data;
  return future_delay(future_loop(settled), 60000);
}

START_TEST(test_cancel_finally_waiting) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_finally(future_resolved(&loop, INT2P(3), NULL), finally_delay,
                     NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A callback that cancels the very future it is settling: the cancel
 * stands, what the callback returns is let go, nothing settles twice. */
static future_t *cancel_myself(future_t *settled, void *data) {
  future_t **self = data;
  ck_assert_int_eq(future_cancel(*self), 0);
  return future_resolved(future_loop(settled), INT2P(1), NULL);
}

START_TEST(test_cancel_from_own_callback) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), cancel_myself, NULL,
                  &f);
  ck_assert_int_eq(future_wait(future_ref(f), &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The run queue's reference is the library's, not a consumer's: a queued
 * continuation whose only follower is cancelled is cancelled in turn, and
 * its callback never runs. */
static int queued_calls;
static future_t *count_queued(future_t *settled, void *data) {
  (void)data;
  queued_calls++;
  return future_ref(settled);
}

START_TEST(test_cancel_travels_up_through_a_queued_continuation) {
  uv_loop_t loop;
  future_t *up, *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  queued_calls = 0;
  up = future_then(future_resolved(&loop, NULL, NULL), count_queued, NULL,
                   NULL); /* queued: its parent has settled */
  f = future_then(up, NULL, NULL, NULL); /* consumes our reference to up */
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(queued_calls, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelling one continuation among several attached to one future takes
 * it, and only it, out of the future's list of waiters, wherever it sits
 * (first, in the middle, last): the others still run, in the order they
 * were attached, once the future settles, and nothing is left behind. */
static int ran_order[8], nran;
static future_t *note_run(future_t *settled, void *data) {
  ran_order[nran++] = P2INT(data);
  return future_ref(settled);
}

START_TEST(test_cancel_one_of_several_waiters) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (int victim = 0; victim < 5; victim++) {
    future_t *src = future_new(&loop), *w[5];
    for (int i = 0; i < 5; i++)
      w[i] = future_then(future_ref(src), note_run, NULL, INT2P(i));
    nran = 0;
    ck_assert_int_eq(future_cancel(w[victim]), 0);
    if (victim == 2) /* and the last one too: two cancels in one list */
      ck_assert_int_eq(future_cancel(w[4]), 0);
    ck_assert_int_eq(future_resolve(src, NULL, NULL), 0);
    future_unref(src);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    for (int i = 0, k = 0; i < 5; i++) {
      if (i == victim || (victim == 2 && i == 4)) {
        ck_assert_int_eq(future_error_code(future_error(w[i])), UV_ECANCELED);
      } else {
        ck_assert_int_eq(future_state(w[i]), FUTURE_FULFILLED);
        ck_assert_int_eq(ran_order[k++], i);
      }
      future_unref(w[i]);
    }
    ck_assert_int_eq(nran, victim == 2 ? 3 : 4);
    ck_assert_uint_eq(future_loop_live(&loop), 0);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_cancel_suite(void) {
  Suite *s = suite_create("cancel");
  TCase *core = tcase_create("Cancel");
  tcase_add_test(core, test_cancel_null_and_settled);
  tcase_add_test(core, test_cancel_pending_source_rejects_ecanceled);
  tcase_add_test(core, test_cancel_travels_down_chain);
  tcase_add_test(core, test_cancel_derived_cancels_unshared_source);
  tcase_add_test(core, test_cancel_derived_spares_shared_source);
  tcase_add_test(core, test_cancel_derived_spares_held_source);
  tcase_add_test(core, test_cancel_queued_continuation_never_runs);
  tcase_add_test(core, test_cancel_one_of_several_waiters);
  tcase_add_test(core, test_cancel_travels_up_through_a_queued_continuation);
  tcase_add_test(core, test_cancel_while_adopting);
  tcase_add_test(core, test_cancel_finally_waiting);
  tcase_add_test(core, test_cancel_from_own_callback);
  suite_add_tcase(s, core);
  return s;
}
