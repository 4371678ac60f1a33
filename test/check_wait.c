/* The blocking path: future_wait on the loop's thread, inside callbacks,
 * and from other threads (src/wait.c). */
#include "helpers.h"
#include "suites.h"

#include <stdatomic.h>
#include <stdlib.h>

static void resolve_on_timer(uv_timer_t *t) {
  future_t *f = t->data;
  future_resolve(f, INT2P(42), NULL);
  future_unref(f);
  uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_wait_drives_loop_until_settled) {
  uv_loop_t loop;
  uv_timer_t timer;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = future_ref(f);
  ck_assert_int_eq(uv_timer_start(&timer, resolve_on_timer, 20, 0), 0);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(P2INT(r.value), 42);
  ck_assert_ptr_null(r.error);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *pass_value(future_t *settled, void *data) {
  (void)data;
  return future_ref(settled);
}

/* The future settles in uv_run's timers phase (a delay already due),
 * while another handle keeps the loop alive and no timer is left: the
 * poll that follows must not wait for ever (it did: the wait hung). The
 * same for a future the queue's drain settles, and one a user's timer
 * callback resolves. */
START_TEST(test_wait_returns_with_other_handles_alive) {
  uv_loop_t loop;
  uv_async_t keep; /* active and referenced: the loop stays alive */
  uv_timer_t timer;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_async_init(&loop, &keep, NULL), 0);
  f = future_delay(&loop, 1);
  uv_sleep(5); /* due before the wait's first uv_run */
  ck_assert_int_eq(future_wait(f, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_then(future_resolved(&loop, INT2P(7), NULL),
                              pass_value, NULL, NULL),
                  &r),
      0);
  ck_assert_int_eq(P2INT(r.value), 7);
  future_result_release(&r);
  f = future_new(&loop);
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = future_ref(f);
  ck_assert_int_eq(uv_timer_start(&timer, resolve_on_timer, 1, 0), 0);
  uv_sleep(5);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 42);
  future_result_release(&r);
  uv_close((uv_handle_t *)&keep, NULL); /* the timer closed itself */
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_wait_rejected_hands_error_over) {
  uv_loop_t loop;
  future_error_t *e = future_error_new(UV_ENOENT, "open 'x'");
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_rejected(&loop, future_error_ref(e)), &r),
                   UV_ENOENT);
  ck_assert_int_eq(r.status, UV_ENOENT);
  ck_assert_ptr_eq(r.error, e);
  ck_assert_ptr_null(r.value);
  future_error_unref(e); /* the result keeps its own reference */
  ck_assert_str_eq(future_error_message(r.error),
                   "open 'x': no such file or directory (ENOENT)");
  future_result_release(&r);
  ck_assert_ptr_null(r.error);
  LOOP_CLOSE(&loop);
}
END_TEST

static int dtor_calls;
static void free_count(void *v) {
  dtor_calls++;
  free(v);
}

START_TEST(test_wait_result_keeps_value_alive) {
  uv_loop_t loop;
  int *v = malloc(sizeof *v);
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  *v = 5;
  dtor_calls = 0;
  ck_assert_int_eq(future_wait(future_resolved(&loop, v, free_count), &r), 0);
  ck_assert_int_eq(dtor_calls, 0); /* the future is gone; the result holds */
  ck_assert_int_eq(*(int *)r.value, 5);
  future_result_release(&r);
  ck_assert_int_eq(dtor_calls, 1);
  future_result_release(&r); /* a zeroed result: harmless */
  ck_assert_int_eq(dtor_calls, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_wait_stalls_when_nothing_can_settle) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_int_eq(future_wait(future_ref(f), &r), FUTURE_ESTALLED);
  ck_assert_int_eq(future_error_code(r.error), FUTURE_ESTALLED);
  future_result_release(&r);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_wait_null_is_einval) {
  future_result_t r;
  ck_assert_int_eq(future_wait(NULL, &r), UV_EINVAL);
  ck_assert_int_eq(future_error_code(r.error), UV_EINVAL);
  future_result_release(&r);
  future_result_release(NULL);
}
END_TEST

START_TEST(test_wait_null_result_is_allowed) {
  uv_loop_t loop;
  int *v = malloc(sizeof *v);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_calls = 0;
  ck_assert_int_eq(future_wait(future_resolved(&loop, v, free_count), NULL),
                   0);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(
      future_wait(future_rejected(&loop, future_error_new(UV_EIO, "x")), NULL),
      UV_EIO);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Waiting inside a continuation would re-enter uv_run: refused. */
typedef struct {
  int status;
  int error_code;
} inner_t;

static future_t *wait_inside(future_t *settled, void *data) {
  inner_t *in = data;
  future_result_t r;
  in->status = future_wait(future_ref(settled), &r);
  in->error_code = future_error_code(r.error);
  future_result_release(&r);
  return future_ref(settled);
}

START_TEST(test_wait_inside_callback_is_refused) {
  uv_loop_t loop;
  inner_t in = {0, 0};
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, INT2P(1), NULL), wait_inside, NULL,
                  &in);
  ck_assert_int_eq(future_wait(f, &r), 0); /* the chain itself goes on */
  future_result_release(&r);
  ck_assert_int_eq(in.status, FUTURE_EINCALLBACK);
  ck_assert_int_eq(in.error_code, FUTURE_EINCALLBACK);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Another thread waits while the loop's thread runs the loop and settles
 * the future later. */
#define WAITERS 4

typedef struct {
  future_t *f;
  int status;
  int value;
  atomic_int *done;
} waiter_arg_t;

static void waiter_thread(void *arg) {
  waiter_arg_t *w = arg;
  future_result_t r;
  w->status = future_wait(w->f, &r);
  w->value = P2INT(r.value);
  future_result_release(&r);
  atomic_fetch_add(w->done, 1);
}

typedef struct {
  future_t *f;
  int ticks;
  atomic_int done;
  int expected;
} ticker_t;

/* Settle only after the waiters have had time to block, and keep the loop
 * running until every waiter has its answer (the library's own handle for
 * other threads does not keep the loop alive). */
static void settle_later(uv_timer_t *t) {
  ticker_t *tk = t->data;
  if (++tk->ticks == 5) {
    future_resolve(tk->f, INT2P(99), NULL);
    future_unref(tk->f);
  }
  if (tk->ticks >= 5 && atomic_load(&tk->done) == tk->expected)
    uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_wait_from_other_threads) {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_thread_t tids[WAITERS];
  waiter_arg_t args[WAITERS];
  ticker_t tk;
  future_t *src;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  tk.ticks = 0;
  tk.expected = WAITERS;
  atomic_init(&tk.done, 0);
  src = future_new(&loop);
  for (i = 0; i < WAITERS; i++) {
    args[i].f = future_then(future_ref(src), NULL, NULL, NULL);
    args[i].status = -1;
    args[i].done = &tk.done;
    ck_assert_int_eq(uv_thread_create(&tids[i], waiter_thread, &args[i]), 0);
  }
  tk.f = src;
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = &tk;
  ck_assert_int_eq(uv_timer_start(&timer, settle_later, 10, 10), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  for (i = 0; i < WAITERS; i++) {
    ck_assert_int_eq(uv_thread_join(&tids[i]), 0);
    ck_assert_int_eq(args[i].status, 0);
    ck_assert_int_eq(args[i].value, 99);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* A foreign thread waits for a future that is already settled: the loop
 * thread still has to hand it over. */
static void keep_alive_until_done(uv_timer_t *t) {
  atomic_int *done = t->data;
  if (atomic_load(done))
    uv_close((uv_handle_t *)t, NULL);
}

typedef struct {
  waiter_arg_t w;
  atomic_int done;
} late_t;

static void late_waiter(void *arg) {
  late_t *l = arg;
  waiter_thread(&l->w);
}

START_TEST(test_wait_from_other_thread_already_rejected) {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_thread_t tid;
  late_t l;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  l.w.f = future_rejected(&loop, future_error_new(UV_EPIPE, "x"));
  l.w.status = 0;
  atomic_init(&l.done, 0);
  l.w.done = &l.done;
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = &l.done;
  ck_assert_int_eq(uv_timer_start(&timer, keep_alive_until_done, 1, 1), 0);
  ck_assert_int_eq(uv_thread_create(&tid, late_waiter, &l), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(l.w.status, UV_EPIPE);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Another thread waits on a future that nobody else holds: nothing can
 * ever settle it, and the wait says so instead of blocking forever. */
START_TEST(test_wait_from_other_thread_unreferenced) {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_thread_t tid;
  late_t l;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  l.w.f = future_new(&loop);
  l.w.status = 0;
  atomic_init(&l.done, 0);
  l.w.done = &l.done;
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = &l.done;
  ck_assert_int_eq(uv_timer_start(&timer, keep_alive_until_done, 1, 1), 0);
  ck_assert_int_eq(uv_thread_create(&tid, late_waiter, &l), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(l.w.status, FUTURE_ESTALLED);
  LOOP_CLOSE(&loop);
}
END_TEST

/* future_wait(NULL, NULL) builds an error to report, and must not keep
 * it: with nowhere to hand it, it is released at once. */
START_TEST(test_wait_null_without_result_leaks_nothing) {
  counting_install();
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(future_wait(NULL, NULL), UV_EINVAL);
  ck_assert_int_gt(counting.calls, 0);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

/* The loop's thread settles the future before it runs the loop, after
 * another thread has posted its wait: the wait must still be delivered,
 * although nothing else keeps the loop alive. */
typedef struct {
  future_t *f;
  future_t *wf; /* the waiting thread's reference */
  atomic_int posted;
  atomic_int done;
  int status;
  int value;
} late_wait_t;

/* Whether `flag` becomes set within about `ms` milliseconds: the waiting
 * thread sets it once future_wait has returned there, which may be a
 * little after the loop's thread handed the result over. */
static int becomes_set(atomic_int *flag, int ms) {
  for (int i = 0; i < ms && !atomic_load(flag); i++)
    uv_sleep(1);
  return atomic_load(flag);
}

static void late_wait_thread(void *arg) {
  late_wait_t *lw = arg;
  future_result_t r;
  atomic_store(&lw->posted, 1);
  lw->status = future_wait(lw->f, &r);
  lw->value = P2INT(r.value);
  future_result_release(&r);
  atomic_store(&lw->done, 1);
}

START_TEST(test_wait_from_other_thread_posted_before_settle) {
  uv_loop_t loop;
  uv_thread_t tid;
  late_wait_t lw;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  lw.f = future_ref(f);
  atomic_init(&lw.posted, 0);
  atomic_init(&lw.done, 0);
  lw.status = -1;
  ck_assert_int_eq(uv_thread_create(&tid, late_wait_thread, &lw), 0);
  while (!atomic_load(&lw.posted))
    uv_sleep(1);
  uv_sleep(50); /* long enough for the wait to be posted */
  ck_assert_int_eq(future_resolve(f, INT2P(7), NULL), 0);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(becomes_set(&lw.done, 5000), 1);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(lw.status, 0);
  ck_assert_int_eq(lw.value, 7);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Once the loop has taken a wait from another thread in, the wait keeps
 * the loop running until it is delivered, as a resolver does: here the
 * future is settled by an unreferenced timer, which alone would not keep
 * uv_run from returning. */
static void resolve_unref_timer(uv_timer_t *t) {
  late_wait_t *lw = t->data;
  if (!atomic_load(&lw->posted))
    return;
  uv_timer_stop(t);
  ck_assert_int_eq(future_resolve(lw->f, INT2P(9), NULL), 0);
  future_unref(lw->f);
  uv_close((uv_handle_t *)t, NULL);
}

static void posted_wait_thread(void *arg) {
  late_wait_t *lw = arg;
  future_result_t r;
  lw->status = future_wait(lw->wf, &r);
  lw->value = P2INT(r.value);
  future_result_release(&r);
  atomic_store(&lw->done, 1);
}

static void note_posted(uv_timer_t *t) {
  late_wait_t *lw = t->data;
  /* The wait is taken in by the loop once it is posted; poll for that. */
  if (future_loop_live(t->loop) >= 2) { /* f and the wait's observer */
    atomic_store(&lw->posted, 1);
    uv_close((uv_handle_t *)t, NULL);
  }
}

START_TEST(test_wait_from_other_thread_keeps_loop_alive) {
  uv_loop_t loop;
  uv_timer_t poll, settle;
  uv_thread_t tid;
  late_wait_t lw;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  lw.f = future_new(&loop);
  lw.wf = future_ref(lw.f);
  atomic_init(&lw.posted, 0);
  atomic_init(&lw.done, 0);
  lw.status = -1;
  ck_assert_int_eq(uv_timer_init(&loop, &poll), 0);
  poll.data = &lw;
  ck_assert_int_eq(uv_timer_start(&poll, note_posted, 1, 1), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &settle), 0);
  settle.data = &lw;
  ck_assert_int_eq(uv_timer_start(&settle, resolve_unref_timer, 20, 20), 0);
  uv_unref((uv_handle_t *)&settle);
  ck_assert_int_eq(uv_thread_create(&tid, posted_wait_thread, &lw), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(becomes_set(&lw.done, 5000), 1);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(lw.status, 0);
  ck_assert_int_eq(lw.value, 9);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A value's destructor is a callback too: one that runs while the loop
 * drains its queue (here when the settled future a continuation consumed
 * is let go) must not re-enter uv_run either. */
typedef struct {
  uv_loop_t *loop;
  int calls;
  int status;
} dtor_wait_t;

static dtor_wait_t dtor_wait;

static void wait_in_dtor(void *v) {
  future_result_t r;
  dtor_wait.calls++;
  dtor_wait.status =
      future_wait(future_resolved(dtor_wait.loop, INT2P(1), NULL), &r);
  future_result_release(&r);
  free(v);
}

static future_t *fresh_value(future_t *settled, void *data) {
  (void)data;
  return future_resolved(future_loop(settled), INT2P(2), NULL);
}

START_TEST(test_wait_inside_a_destructor_run_by_the_loop_is_refused) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_wait.loop = &loop;
  dtor_wait.calls = 0;
  dtor_wait.status = 0;
  f = future_then(future_resolved(&loop, malloc(4), wait_in_dtor),
                  fresh_value, NULL, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(dtor_wait.calls, 1);
  ck_assert_int_eq(dtor_wait.status, FUTURE_EINCALLBACK);
  ck_assert_int_eq(P2INT(future_value(f)), 2); /* the chain goes on */
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The loop's thread takes in a wait from another thread when memory has
 * run out: the waiting thread is woken with UV_ENOMEM instead of
 * blocking, the waited future is neither lost nor leaked, and the loop
 * is not held alive by the failed wait. */
START_TEST(test_wait_from_other_thread_without_memory) {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_thread_t tid;
  late_t l;
  future_t *f;
  setenv("FUTURE_POOL", "0", 1); /* every future is an allocation */
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  l.w.f = future_ref(f);
  l.w.status = 0;
  atomic_init(&l.done, 0);
  l.w.done = &l.done;
  ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
  timer.data = &l.done;
  ck_assert_int_eq(uv_timer_start(&timer, keep_alive_until_done, 1, 1), 0);
  counting.fail = 1; /* the waiting thread itself allocates nothing */
  ck_assert_int_eq(uv_thread_create(&tid, late_waiter, &l), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  counting.fail = 0;
  ck_assert_int_eq(l.w.status, UV_ENOMEM);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_uint_eq(future_loop_live(&loop), 1); /* the wait's share went */
  ck_assert_int_eq(future_resolve(f, INT2P(3), NULL), 0);
  future_unref(f);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
  unsetenv("FUTURE_POOL");
}
END_TEST

/* Another thread waits; before the loop has taken the wait in, the loop's
 * thread lets go of the future, so that nothing can settle it any more.
 * The wait must come back FUTURE_ESTALLED rather than be left behind when
 * the loop runs dry. */
START_TEST(test_wait_from_other_thread_posted_then_released) {
  uv_loop_t loop;
  uv_thread_t tid;
  late_wait_t lw;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  lw.f = future_ref(f);
  atomic_init(&lw.posted, 0);
  atomic_init(&lw.done, 0);
  lw.status = -1;
  ck_assert_int_eq(uv_thread_create(&tid, late_wait_thread, &lw), 0);
  while (!atomic_load(&lw.posted))
    uv_sleep(1);
  uv_sleep(50); /* long enough for the wait to be posted */
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(becomes_set(&lw.done, 5000), 1);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(lw.status, FUTURE_ESTALLED);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_wait_suite(void) {
  Suite *s = suite_create("wait");
  TCase *core = tcase_create("Core");
  TCase *errors = tcase_create("Errors");
  TCase *threads = tcase_create("Threads");
  tcase_add_test(core, test_wait_drives_loop_until_settled);
  tcase_add_test(core, test_wait_returns_with_other_handles_alive);
  tcase_add_test(core, test_wait_rejected_hands_error_over);
  tcase_add_test(core, test_wait_result_keeps_value_alive);
  tcase_add_test(core, test_wait_null_result_is_allowed);
  tcase_add_test(errors, test_wait_stalls_when_nothing_can_settle);
  tcase_add_test(errors, test_wait_null_is_einval);
  tcase_add_test(errors, test_wait_null_without_result_leaks_nothing);
  tcase_add_test(errors, test_wait_inside_callback_is_refused);
  tcase_add_test(errors,
                 test_wait_inside_a_destructor_run_by_the_loop_is_refused);
  tcase_set_timeout(threads, 60);
  tcase_add_test(threads, test_wait_from_other_threads);
  tcase_add_test(threads, test_wait_from_other_thread_already_rejected);
  tcase_add_test(threads, test_wait_from_other_thread_unreferenced);
  tcase_add_test(threads, test_wait_from_other_thread_posted_before_settle);
  tcase_add_test(threads, test_wait_from_other_thread_posted_then_released);
  tcase_add_test(threads, test_wait_from_other_thread_keeps_loop_alive);
  tcase_add_test(threads, test_wait_from_other_thread_without_memory);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, threads);
  return s;
}
