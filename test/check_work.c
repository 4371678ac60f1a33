/* Work on the thread pool as futures (src/work.c). */
#include "helpers.h"
#include "suites.h"

#include <stdlib.h>

static future_error_t *square(void *arg, void **value) {
  intptr_t n = (intptr_t)arg;
  *value = INT2P(n * n);
  return NULL;
}

static future_error_t *fail_work(void *arg, void **value) {
  (void)value;
  return future_error_new(UV_EINVAL, "parsing item %d", P2INT(arg));
}

START_TEST(test_work_result_delivered_on_loop) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_work(&loop, square, INT2P(12), NULL), &r),
                   0);
  ck_assert_int_eq(P2INT(r.value), 144);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_work_error_rejects_with_origin) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      future_wait(future_work(&loop, fail_work, INT2P(3), NULL), &r),
      UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "parsing item 3: invalid argument (EINVAL)");
  ck_assert_str_eq(future_error_func(r.error), "fail_work");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_work_null_arguments) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_null(future_work(NULL, square, NULL, NULL));
  ck_assert_int_eq(future_wait(future_work(&loop, NULL, NULL, NULL), &r),
                   UV_EINVAL);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *sum_step(future_t *settled, void *data) {
  long *sum = data;
  *sum += P2INT(future_value(settled));
  return future_ref(settled);
}

START_TEST(test_work_many_in_parallel) {
  uv_loop_t loop;
  future_t *fs[1000];
  long sum = 0, expect = 0;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < 1000; i++) {
    fs[i] = future_then(future_work(&loop, square, INT2P(i), NULL), sum_step,
                        NULL, &sum);
    expect += (long)i * i;
  }
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sum, expect);
  for (i = 0; i < 1000; i++)
    future_unref(fs[i]);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Pool control for the cancellation tests: blockers occupy every pool
 * thread until released, so that work queued behind them stays queued. */
static uv_sem_t gate, started;
static int ran_victim;

static future_error_t *blocker(void *arg, void **value) {
  (void)arg;
  (void)value;
  uv_sem_post(&started);
  uv_sem_wait(&gate);
  return NULL;
}

static future_error_t *victim(void *arg, void **value) {
  (void)arg;
  (void)value;
  ran_victim = 1;
  return NULL;
}

static int pool_size(void) {
  const char *s = getenv("UV_THREADPOOL_SIZE");
  int n = s != NULL ? atoi(s) : 4;
  return n > 0 ? n : 4;
}

START_TEST(test_work_cancel_queued_never_runs) {
  uv_loop_t loop;
  future_t *blockers[128], *v;
  future_result_t r;
  int i, n = pool_size();
  ck_assert_int_le(n, 128);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_sem_init(&gate, 0), 0);
  ck_assert_int_eq(uv_sem_init(&started, 0), 0);
  ran_victim = 0;
  for (i = 0; i < n; i++)
    blockers[i] = future_work(&loop, blocker, NULL, NULL);
  for (i = 0; i < n; i++)
    uv_sem_wait(&started); /* every pool thread is now busy */
  v = future_work(&loop, victim, NULL, NULL);
  ck_assert_int_eq(future_cancel(v), 0);
  for (i = 0; i < n; i++)
    uv_sem_post(&gate);
  ck_assert_int_eq(future_wait(v, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran_victim, 0);
  for (i = 0; i < n; i++) {
    ck_assert_int_eq(future_state(blockers[i]), FUTURE_FULFILLED);
    future_unref(blockers[i]);
  }
  uv_sem_destroy(&gate);
  uv_sem_destroy(&started);
  LOOP_CLOSE(&loop);
}
END_TEST

static int value_freed;
static void free_value(void *v) {
  value_freed++;
  free(v);
}

static future_error_t *slow_alloc(void *arg, void **value) {
  (void)arg;
  uv_sem_post(&started);
  uv_sem_wait(&gate);
  *value = malloc(64);
  return NULL;
}

static int delivered;
static future_t *note_delivery(future_t *settled, void *data) {
  (void)data;
  delivered++;
  return future_ref(settled);
}

START_TEST(test_work_cancel_running_releases_result) {
  uv_loop_t loop;
  future_t *w, *chain;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_sem_init(&gate, 0), 0);
  ck_assert_int_eq(uv_sem_init(&started, 0), 0);
  value_freed = delivered = 0;
  w = future_work(&loop, slow_alloc, NULL, free_value);
  chain = future_then(future_ref(w), note_delivery, NULL, NULL);
  uv_sem_wait(&started); /* running: libuv can no longer cancel it */
  ck_assert_int_eq(future_cancel(w), 0);
  uv_sem_post(&gate);
  ck_assert_int_eq(future_wait(chain, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(delivered, 0);   /* never delivered to the chain */
  ck_assert_int_eq(value_freed, 1); /* and not leaked */
  future_unref(w);
  uv_sem_destroy(&gate);
  uv_sem_destroy(&started);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_work_cancel_after_settle) {
  uv_loop_t loop;
  future_t *w;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  w = future_work(&loop, square, INT2P(2), NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_cancel(w), FUTURE_ESETTLED);
  ck_assert_int_eq(P2INT(future_value(w)), 4);
  future_unref(w);
  LOOP_CLOSE(&loop);
}
END_TEST

/* future_work_cancelled: 0 while the work runs uncancelled, non-zero once
 * its future is cancelled, and 0 on any thread that is not running work,
 * here the loop's, even while cancelled work runs elsewhere. */
static int seen_before, seen_after;

static future_error_t *watch_cancel(void *arg, void **value) {
  (void)arg;
  (void)value;
  seen_before = future_work_cancelled();
  uv_sem_post(&started);
  uv_sem_wait(&gate);
  seen_after = future_work_cancelled();
  return NULL;
}

START_TEST(test_work_cancelled_seen_by_the_running_work_only) {
  uv_loop_t loop;
  future_t *w;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_sem_init(&gate, 0), 0);
  ck_assert_int_eq(uv_sem_init(&started, 0), 0);
  seen_before = seen_after = -1;
  ck_assert_int_eq(future_work_cancelled(), 0);
  w = future_work(&loop, watch_cancel, NULL, NULL);
  uv_sem_wait(&started); /* running */
  ck_assert_int_eq(future_cancel(w), 0);
  ck_assert_int_eq(future_work_cancelled(), 0); /* not this thread's work */
  uv_sem_post(&gate);
  ck_assert_int_eq(future_wait(w, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* the work is done */
  ck_assert_int_eq(seen_before, 0);
  ck_assert_int_ne(seen_after, 0);
  uv_sem_destroy(&gate);
  uv_sem_destroy(&started);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Out of memory before the loop even has the library's state: NULL, and
 * nothing is left behind; with memory back, work runs as usual. */
START_TEST(test_work_without_memory_for_the_loop_state) {
  uv_loop_t loop;
  future_result_t r;
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  counting.fail = 1;
  ck_assert_ptr_null(future_work(&loop, square, INT2P(2), NULL));
  counting.fail = 0;
  ck_assert_int_gt(counting.calls, 0);
  ck_assert_int_eq(counting.outstanding, 0);
  ck_assert_int_eq(future_wait(future_work(&loop, square, INT2P(2), NULL), &r),
                   0);
  ck_assert_int_eq(P2INT(r.value), 4);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

Suite *make_work_suite(void) {
  Suite *s = suite_create("work");
  TCase *core = tcase_create("Core");
  TCase *cancel = tcase_create("Cancel");
  tcase_set_timeout(core, 60);
  tcase_set_timeout(cancel, 60);
  tcase_add_test(core, test_work_result_delivered_on_loop);
  tcase_add_test(core, test_work_error_rejects_with_origin);
  tcase_add_test(core, test_work_null_arguments);
  tcase_add_test(core, test_work_many_in_parallel);
  tcase_add_test(core, test_work_without_memory_for_the_loop_state);
  tcase_add_test(cancel, test_work_cancel_queued_never_runs);
  tcase_add_test(cancel, test_work_cancel_running_releases_result);
  tcase_add_test(cancel, test_work_cancel_after_settle);
  tcase_add_test(cancel, test_work_cancelled_seen_by_the_running_work_only);
  suite_add_tcase(s, core);
  suite_add_tcase(s, cancel);
  return s;
}
