/* Per-loop state: it never keeps a loop alive, tears down in one call, and
 * works on several loops in several threads (src/loop.c). */
#include "helpers.h"
#include "suites.h"

START_TEST(test_loop_state_does_not_keep_loop_alive) {
  uv_loop_t loop;
  future_t *pending, *settled;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  pending = future_new(&loop);
  settled = future_resolved(&loop, NULL, NULL);
  /* Nothing queued: uv_run has nothing to do and returns at once. */
  ck_assert_int_eq(uv_loop_alive(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  future_unref(pending);
  future_unref(settled);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_loop_queued_work_keeps_loop_alive_until_done) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, INT2P(1), NULL), NULL, NULL, NULL);
  ck_assert_int_ne(uv_loop_alive(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_int_eq(uv_loop_alive(&loop), 0);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_loop_close_without_state_is_noop) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_loop_close_refuses_while_futures_live) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_int_eq(future_loop_close(&loop), UV_EBUSY);
  ck_assert_uint_eq(future_loop_live(&loop), 1);
  /* Nothing was torn down: the future still works. */
  f = future_then(f, NULL, NULL, NULL);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Teardown runs what is still queued before it decides. */
static int ran;
static future_t *count_run(future_t *settled, void *data) {
  (void)data;
  ran++;
  return future_ref(settled);
}

START_TEST(test_loop_close_runs_queued_continuations) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  f = future_then(future_resolved(&loop, NULL, NULL), count_run, NULL, NULL);
  future_unref(f);
  ck_assert_int_eq(ran, 0);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(ran, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Teardown cancels what is still in flight: nothing waits an hour, and
 * nothing leaks. */
START_TEST(test_loop_close_cancels_requests_in_flight) {
  uv_loop_t loop;
  future_t *held;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  /* Fire and forget: an hour-long delay and a stat. */
  future_unref(future_then(future_delay(&loop, 3600 * 1000), count_run, NULL,
                           NULL));
  future_unref(future_fs_stat(&loop, "/"));
  held = future_then(future_delay(&loop, 3600 * 1000), count_run, NULL, NULL);
  /* The caller still holds one: it is cancelled, but not freed. */
  ck_assert_int_eq(future_loop_close(&loop), UV_EBUSY);
  ck_assert_int_eq(future_state(held), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(held)), UV_ECANCELED);
  ck_assert_int_eq(ran, 0);
  future_unref(held);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Delays wait in the loop's heap of delays, not in its list of requests
 * in flight: teardown cancels hundreds of them, and leaves a user's own
 * timer alone. */
START_TEST(test_loop_close_cancels_many_delays) {
  uv_loop_t loop;
  uv_timer_t mine;
  future_t *first;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &mine), 0);
  mine.data = &loop;
  ran = 0;
  first = future_delay(&loop, 3600 * 1000);
  for (i = 0; i < 300; i++)
    future_unref(future_then(future_delay(&loop, 3600 * 1000 + (unsigned)i),
                             count_run, NULL, NULL));
  future_unref(future_catch(future_ref(first), count_run, NULL));
  future_unref(first);
  ck_assert_uint_eq(future_loop_live(&loop), 602);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  /* Only the catch ran: every delay was cancelled, none fired. */
  ck_assert_int_eq(ran, 1);
  ck_assert(!uv_is_closing((uv_handle_t *)&mine));
  ck_assert_ptr_eq(mine.data, &loop);
  uv_close((uv_handle_t *)&mine, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static future_t *close_inside(future_t *settled, void *data) {
  int *rc = data;
  *rc = future_loop_close(future_loop(settled));
  return future_ref(settled);
}

START_TEST(test_loop_close_inside_callback_is_refused) {
  uv_loop_t loop;
  int rc = 0;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), close_inside, NULL, &rc);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(rc, FUTURE_EINCALLBACK);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_loop_reused_after_teardown) {
  uv_loop_t loop;
  future_result_t r;
  int round;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (round = 0; round < 3; round++) {
    future_t *f = future_then(future_resolved(&loop, INT2P(round), NULL),
                              NULL, NULL, NULL);
    ck_assert_int_eq(future_wait(f, &r), 0);
    ck_assert_int_eq(P2INT(r.value), round);
    future_result_release(&r);
    ck_assert_int_eq(future_loop_close(&loop), 0);
  }
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* The usual end of a libuv program: uv_walk closes every handle, the
 * library's included, in either order with future_loop_close, and with
 * work of every kind still pending: a continuation queued, a delay (in
 * the loop's heap), a timeout, a retry waiting out its backoff, a stat
 * and a job in the thread pool in flight. */
typedef struct {
  int closed;   /* handles the walk closed */
  int owned;    /* of which the library's, by future_loop_owns_handle */
} walk_count_t;

static void close_every_handle(uv_handle_t *h, void *arg) {
  walk_count_t *c = arg;
  if (uv_is_closing(h))
    return;
  c->closed++;
  c->owned += future_loop_owns_handle(h);
  uv_close(h, NULL);
}

/* Counts every handle the walk meets, closing ones included. */
static void count_handle(uv_handle_t *h, void *arg) {
  (void)h;
  ((walk_count_t *)arg)->closed++;
}

static future_t *always_again(uv_loop_t *loop, unsigned attempt, void *data) {
  (void)attempt;
  (void)data;
  return future_rejected(loop, future_error_new(UV_EAGAIN, "not yet"));
}

static future_error_t *short_job(void *arg, void **value) {
  (void)arg;
  uv_sleep(20);
  *value = INT2P(7);
  return NULL;
}

/* Start one of each, all fire and forget; `ran` counts the continuations
 * that ran on a fulfilled outcome. */
static void start_pending_work(uv_loop_t *loop) {
  future_retry_policy_t slow = {0};
  slow.max_attempts = 3;
  slow.initial_delay_ms = 3600 * 1000;
  ran = 0;
  future_unref(future_then(future_resolved(loop, NULL, NULL), count_run, NULL,
                           NULL));
  future_unref(future_then(future_delay(loop, 3600 * 1000), count_run, NULL,
                           NULL));
  future_unref(future_catch(
      future_timeout(future_delay(loop, 3600 * 1000), 1800 * 1000), NULL,
      NULL));
  future_unref(future_catch(future_retry(loop, always_again, NULL, &slow),
                            NULL, NULL));
  future_unref(future_then(future_fs_stat(loop, "/"), count_run, NULL, NULL));
  future_unref(
      future_then(future_work(loop, short_job, NULL, NULL), count_run, NULL, NULL));
}

START_TEST(test_loop_walk_then_close_with_work_pending) {
  uv_loop_t loop;
  uv_timer_t mine;
  walk_count_t c = {0, 0};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &mine), 0);
  start_pending_work(&loop);
  uv_walk(&loop, close_every_handle, &c);
  /* The library's three (idle, async, the timer of delays) and ours. */
  ck_assert_int_eq(c.owned, 3);
  ck_assert_int_eq(c.closed, 4);
  /* The loop ends once the stat and the job are back: nothing of the
   * library's keeps it alive, and nothing of it runs from the loop. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran, 0);
  /* Teardown runs what is queued (the resolved chain, the stat's and the
   * job's continuations), cancels the rest, and closes nothing twice. */
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(ran, 3);
  ck_assert_uint_eq(future_loop_live(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* The same without running the loop between the walk and teardown: the
 * closes the walk began are still under way, and teardown finishes them
 * before the memory of the handles goes. */
START_TEST(test_loop_walk_then_close_at_once) {
  uv_loop_t loop;
  walk_count_t c = {0, 0};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  start_pending_work(&loop);
  uv_walk(&loop, close_every_handle, &c);
  ck_assert_int_eq(c.owned, 3);
  /* The resolved chain ran; the stat and the job were cancelled or had
   * finished, by the time teardown asked. */
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_ge(ran, 1);
  ck_assert_int_le(ran, 3);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Nothing in flight, so teardown runs the loop for nothing of its own:
 * the closes the walk began are still under way when it decides to free
 * the state that holds those handles, and must be finished first (else
 * the next turn of the loop touches freed memory: ASan and valgrind see
 * it). */
START_TEST(test_loop_walk_then_close_with_only_delays) {
  uv_loop_t loop;
  walk_count_t c = {0, 0};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_delay(&loop, 3600 * 1000));
  future_unref(future_then(future_resolved(&loop, NULL, NULL), NULL, NULL,
                           NULL));
  uv_walk(&loop, close_every_handle, &c);
  ck_assert_int_eq(c.owned, 3);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  /* Finished: no handle is left among the loop's, not even closing (the
   * sanitizers do not see libuv's own reads of freed memory, so this says
   * it without them). */
  c.closed = 0;
  uv_walk(&loop, count_handle, &c);
  ck_assert_int_eq(c.closed, 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_loop_close_then_walk_with_work_pending) {
  uv_loop_t loop;
  uv_timer_t mine;
  walk_count_t c = {0, 0};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &mine), 0);
  start_pending_work(&loop);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_ge(ran, 1);
  ck_assert_int_le(ran, 3);
  /* The library's handles are gone: the walk finds only ours. */
  uv_walk(&loop, close_every_handle, &c);
  ck_assert_int_eq(c.closed, 1);
  ck_assert_int_eq(c.owned, 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A future still held when the walk comes: teardown refuses, as always,
 * and succeeds once it is released; nothing is closed twice. */
START_TEST(test_loop_walk_with_a_future_held) {
  uv_loop_t loop;
  walk_count_t c = {0, 0};
  future_t *held;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  held = future_delay(&loop, 3600 * 1000);
  uv_walk(&loop, close_every_handle, &c);
  ck_assert_int_eq(c.owned, 3);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_loop_close(&loop), UV_EBUSY);
  ck_assert_int_eq(future_state(held), FUTURE_REJECTED);
  future_unref(held);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* After the walk, future_wait runs continuations itself, takes in what
 * other threads delivered, and reports a delay that can no longer fire
 * as stalled instead of spinning. */
static void deliver_nine(void *arg) {
  ck_assert_int_eq(future_resolver_resolve(arg, INT2P(9), NULL), 0);
}

START_TEST(test_loop_wait_after_walk) {
  uv_loop_t loop;
  walk_count_t c = {0, 0};
  future_result_t r;
  future_resolver_t *resolver;
  future_t *remote;
  uv_thread_t t;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  remote = future_new_threadsafe(&loop, &resolver);
  ck_assert_ptr_nonnull(remote);
  uv_walk(&loop, close_every_handle, &c);
  ck_assert_int_eq(c.owned, 3);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);

  ck_assert_int_eq(future_wait(future_then(future_resolved(&loop, INT2P(1),
                                                           NULL),
                                           count_run, NULL, NULL),
                               &r),
                   0);
  ck_assert_int_eq(P2INT(r.value), 1);
  future_result_release(&r);

  ck_assert_int_eq(uv_thread_create(&t, deliver_nine, resolver), 0);
  ck_assert_int_eq(uv_thread_join(&t), 0);
  ck_assert_int_eq(future_wait(remote, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 9);
  future_result_release(&r);

  ck_assert_int_eq(future_wait(future_delay(&loop, 10), &r), FUTURE_ESTALLED);
  future_result_release(&r);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_loop_owns_handle) {
  uv_loop_t loop, other;
  uv_timer_t mine;
  walk_count_t c = {0, 0};
  future_t *f;
  ck_assert_int_eq(future_loop_owns_handle(NULL), 0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &mine), 0);
  ck_assert_int_eq(future_loop_owns_handle((uv_handle_t *)&mine), 0);
  f = future_delay(&loop, 1);
  ck_assert_int_eq(future_loop_owns_handle((uv_handle_t *)&mine), 0);
  ck_assert_int_eq(future_wait(f, NULL), 0);
  /* A walk that skips the library's handles closes only ours. */
  uv_walk(&loop, close_every_handle, &c);
  ck_assert_int_eq(c.owned, 3);
  ck_assert_int_eq(c.closed, 4);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  /* The other loop has no state; nothing of it is the library's. */
  c.closed = c.owned = 0;
  ck_assert_int_eq(uv_timer_init(&other, &mine), 0);
  uv_walk(&other, close_every_handle, &c);
  ck_assert_int_eq(c.closed, 1);
  ck_assert_int_eq(c.owned, 0);
  ck_assert_int_eq(uv_run(&other, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&other), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* The order docs/guide.md (section 5, the event loop) describes: two
 * timers due at the same time, the first resolving a future with a
 * continuation: the continuation runs after both timers (the library
 * runs its queue in the idle phase), where JavaScript would run it
 * between them. */
static char order[8];
static int norder;

static void timer_resolves(uv_timer_t *t) {
  order[norder++] = 'A';
  ck_assert_int_eq(future_resolve(t->data, NULL, NULL), 0);
}

static void timer_notes(uv_timer_t *t) {
  (void)t;
  order[norder++] = 'B';
}

static future_t *note_continuation(future_t *settled, void *data) {
  (void)data;
  order[norder++] = 'c';
  return future_ref(settled);
}

START_TEST(test_loop_continuations_run_after_the_due_timers) {
  uv_loop_t loop;
  uv_timer_t a, b;
  future_t *f, *c;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  norder = 0;
  f = future_new(&loop);
  c = future_then(future_ref(f), note_continuation, NULL, NULL);
  ck_assert_int_eq(uv_timer_init(&loop, &a), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &b), 0);
  a.data = f;
  ck_assert_int_eq(uv_timer_start(&a, timer_resolves, 5, 0), 0);
  ck_assert_int_eq(uv_timer_start(&b, timer_notes, 5, 0), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  order[norder] = '\0';
  ck_assert_str_eq(order, "ABc");
  future_unref(c);
  future_unref(f);
  uv_close((uv_handle_t *)&a, NULL);
  uv_close((uv_handle_t *)&b, NULL);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Several loops, each on its own thread, each with its own chain. */
#define LOOPS 4
#define LINKS 10000

static future_t *plus_one(future_t *settled, void *data) {
  (void)data;
  return future_resolved(future_loop(settled),
                         INT2P(P2INT(future_value(settled)) + 1), NULL);
}

typedef struct {
  int result;
  int ok;
} loop_thread_t;

static void loop_thread(void *arg) {
  loop_thread_t *lt = arg;
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  int i;
  if (uv_loop_init(&loop) != 0)
    return;
  f = future_resolved(&loop, INT2P(0), NULL);
  for (i = 0; i < LINKS; i++)
    f = future_then(f, plus_one, NULL, NULL);
  future_wait(f, &r);
  lt->result = P2INT(r.value);
  future_result_release(&r);
  lt->ok = future_loop_live(&loop) == 0 && future_loop_close(&loop) == 0 &&
           uv_loop_close(&loop) == 0;
}

START_TEST(test_loop_many_loops_many_threads) {
  uv_thread_t tids[LOOPS];
  loop_thread_t lts[LOOPS];
  int i;
  for (i = 0; i < LOOPS; i++) {
    lts[i].result = 0;
    lts[i].ok = 0;
    ck_assert_int_eq(uv_thread_create(&tids[i], loop_thread, &lts[i]), 0);
  }
  for (i = 0; i < LOOPS; i++) {
    ck_assert_int_eq(uv_thread_join(&tids[i]), 0);
    ck_assert_int_eq(lts[i].result, LINKS);
    ck_assert(lts[i].ok);
  }
}
END_TEST

START_TEST(test_loop_default_loop_works) {
  uv_loop_t *loop = uv_default_loop();
  future_result_t r;
  ck_assert_int_eq(
      future_wait(future_then(future_resolved(loop, INT2P(3), NULL), plus_one,
                              NULL, NULL),
                  &r),
      0);
  ck_assert_int_eq(P2INT(r.value), 4);
  future_result_release(&r);
  ck_assert_uint_eq(future_loop_live(loop), 0);
  ck_assert_int_eq(future_loop_close(loop), 0);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}
END_TEST

Suite *make_loop_suite(void) {
  Suite *s = suite_create("loop");
  TCase *core = tcase_create("Core");
  TCase *teardown = tcase_create("Teardown");
  TCase *threads = tcase_create("Threads");
  tcase_add_test(core, test_loop_state_does_not_keep_loop_alive);
  tcase_add_test(core, test_loop_queued_work_keeps_loop_alive_until_done);
  tcase_add_test(core, test_loop_default_loop_works);
  tcase_add_test(core, test_loop_continuations_run_after_the_due_timers);
  tcase_add_test(teardown, test_loop_close_without_state_is_noop);
  tcase_add_test(teardown, test_loop_close_refuses_while_futures_live);
  tcase_add_test(teardown, test_loop_close_runs_queued_continuations);
  tcase_add_test(teardown, test_loop_close_inside_callback_is_refused);
  tcase_add_test(teardown, test_loop_close_cancels_requests_in_flight);
  tcase_add_test(teardown, test_loop_close_cancels_many_delays);
  tcase_add_test(teardown, test_loop_reused_after_teardown);
  tcase_add_test(teardown, test_loop_walk_then_close_with_work_pending);
  tcase_add_test(teardown, test_loop_walk_then_close_at_once);
  tcase_add_test(teardown, test_loop_walk_then_close_with_only_delays);
  tcase_add_test(teardown, test_loop_close_then_walk_with_work_pending);
  tcase_add_test(teardown, test_loop_walk_with_a_future_held);
  tcase_add_test(teardown, test_loop_wait_after_walk);
  tcase_add_test(teardown, test_loop_owns_handle);
  tcase_set_timeout(threads, 60);
  tcase_add_test(threads, test_loop_many_loops_many_threads);
  suite_add_tcase(s, core);
  suite_add_tcase(s, teardown);
  suite_add_tcase(s, threads);
  return s;
}
