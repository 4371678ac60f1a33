/* Fibers: future_async and future_await (src/async.c, src/fiber.c). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "helpers.h"
#include "suites.h"

#include <execinfo.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* The outcome of `f`, waited for from the loop's thread. */
static int wait_value(future_t *f, int *value) {
  future_result_t r;
  int rc = future_wait(f, &r);
  if (rc == 0 && value != NULL)
    *value = P2INT(r.value);
  future_result_release(&r);
  return rc;
}

/* ---- await on every kind of future ---- */

static future_error_t *square(void *arg, void **value) {
  intptr_t n = (intptr_t)arg;
  *value = INT2P(n * n);
  return NULL;
}

static future_t *settle_later(future_t *s, void *target) {
  future_resolve(target, INT2P(5), NULL);
  future_unref(target);
  return future_ref(s);
}

/* Each await's status and value, in order, into the log. */
typedef struct {
  int status[16];
  int value[16];
  int n;
  char text[16][128];
} await_log_t;

static void record(await_log_t *log, future_t *f) {
  future_result_t r;
  int i = log->n++;
  log->status[i] = future_await(f, &r);
  log->value[i] = r.status == 0 ? P2INT(r.value) : 0;
  snprintf(log->text[i], sizeof log->text[i], "%s",
           r.error != NULL ? future_error_message(r.error) : "");
  future_result_release(&r);
}

static future_t *await_every_kind(uv_loop_t *loop, void *arg) {
  await_log_t *log = arg;
  future_t *later = future_new(loop), *cancelled = future_new(loop);
  future_t *all_in[2];
  /* Settled already, both ways. */
  record(log, future_resolved(loop, INT2P(1), NULL));
  record(log, future_rejected(loop, future_error_new(UV_EIO, "broken")));
  /* Settled later, by a continuation of a delay. */
  future_unref(future_then(future_delay(loop, 2), settle_later, NULL,
                           future_ref(later)));
  record(log, later);
  /* Cancelled while awaited: by someone else, here at once. */
  future_cancel(cancelled);
  record(log, cancelled);
  /* A delay, work on the pool, the file system, a combinator. */
  record(log, future_then(future_delay(loop, 1), NULL, NULL, NULL));
  record(log, future_work(loop, square, INT2P(7), NULL));
  record(log, future_fs_stat(loop, "/"));
  all_in[0] = future_delay(loop, 1);
  all_in[1] = future_work(loop, square, INT2P(3), NULL);
  record(log, future_all(loop, all_in, 2));
  record(log, future_fs_open(loop, "/nonexistent/file", UV_FS_O_RDONLY, 0));
  /* Released unsettled as it is awaited: nothing can settle it. */
  record(log, future_new(loop));
  return future_resolved(loop, INT2P(log->n), NULL);
}

START_TEST(test_async_await_every_kind) {
  uv_loop_t loop;
  await_log_t log;
  int n = 0;
  memset(&log, 0, sizeof log);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, await_every_kind, &log, NULL), &n), 0);
  ck_assert_int_eq(n, 10);
  ck_assert_int_eq(log.status[0], 0);
  ck_assert_int_eq(log.value[0], 1);
  ck_assert_int_eq(log.status[1], UV_EIO);
  ck_assert_str_eq(log.text[1], "broken: i/o error (EIO)");
  ck_assert_int_eq(log.status[2], 0);
  ck_assert_int_eq(log.value[2], 5);
  ck_assert_int_eq(log.status[3], UV_ECANCELED);
  ck_assert_int_eq(log.status[4], 0);
  ck_assert_int_eq(log.status[5], 0);
  ck_assert_int_eq(log.value[5], 49);
  ck_assert_int_eq(log.status[6], 0);
  ck_assert_int_eq(log.status[7], 0);
  ck_assert_int_eq(log.status[8], UV_ENOENT);
  ck_assert_str_eq(log.text[8], "open '/nonexistent/file': no such file or "
                                "directory (ENOENT)");
  ck_assert_int_eq(log.status[9], FUTURE_ESTALLED);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A value with a destructor crosses the await in the result, and the
 * destructor runs once the result is released. */
static int freed;
static void count_free(void *p) {
  freed++;
  free(p);
}

static future_t *owned_value(future_t *s, void *d) {
  int *v = malloc(sizeof *v);
  (void)d;
  *v = 12;
  return future_resolved(future_loop(s), v, count_free);
}

static future_t *await_owned_value(uv_loop_t *loop, void *arg) {
  future_result_t r;
  int *v = malloc(sizeof *v);
  (void)arg;
  *v = 11;
  ck_assert_int_eq(future_await(future_resolved(loop, v, count_free), &r), 0);
  ck_assert_int_eq(*(int *)r.value, 11);
  ck_assert_int_eq(freed, 0);
  future_result_release(&r);
  ck_assert_int_eq(freed, 1);
  /* The same through a suspending await: the value settles later. */
  ck_assert_int_eq(
      future_await(future_then(future_delay(loop, 1), owned_value, NULL, NULL),
                   &r),
      0);
  ck_assert_int_eq(*(int *)r.value, 12);
  ck_assert_int_eq(freed, 1);
  future_result_release(&r);
  ck_assert_int_eq(freed, 2);
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_await_owned_value) {
  uv_loop_t loop;
  freed = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, await_owned_value, NULL, NULL), NULL), 0);
  ck_assert_int_eq(freed, 2);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- what the fiber returns ---- */

static future_t *return_arg(uv_loop_t *loop, void *arg) {
  return future_resolved(loop, arg, NULL);
}
static future_t *return_null(uv_loop_t *loop, void *arg) {
  (void)loop;
  (void)arg;
  return NULL;
}
static future_t *value_43(future_t *s, void *d) {
  (void)d;
  return future_resolved(future_loop(s), INT2P(43), NULL);
}
static future_t *return_pending(uv_loop_t *loop, void *arg) {
  (void)arg;
  return future_then(future_delay(loop, 2), value_43, NULL, NULL);
}
static future_t *raise_eio_later(future_t *s, void *d) {
  (void)d;
  return future_rejected(future_loop(s), future_error_new(UV_EIO, "later"));
}
static future_t *return_pending_rejection(uv_loop_t *loop, void *arg) {
  (void)arg;
  return future_then(future_delay(loop, 2), raise_eio_later, NULL, NULL);
}
/* What waits on the fiber's own future, returned: it would never settle. */
static future_t *return_follower_of_self(uv_loop_t *loop, void *arg) {
  future_t **self = arg;
  (void)loop;
  return future_then(future_ref(*self), NULL, NULL, NULL);
}
static future_t *return_other_loop(uv_loop_t *loop, void *arg) {
  (void)loop;
  return future_resolved(arg, NULL, NULL);
}
static future_t *return_rejection(uv_loop_t *loop, void *arg) {
  (void)arg;
  return future_rejected(loop, future_error_new(FUTURE_EUSER(3), "mine"));
}

START_TEST(test_async_return_values) {
  uv_loop_t loop, other;
  future_result_t r;
  int v = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  ck_assert_int_eq(wait_value(future_async(&loop, return_arg, INT2P(9), NULL),
                              &v),
                   0);
  ck_assert_int_eq(v, 9);
  ck_assert_int_eq(future_wait(future_async(&loop, return_null, NULL, NULL),
                               &r),
                   UV_ENOMEM);
  ck_assert_str_eq(future_error_message(r.error),
                   "a fiber's function returned NULL, not a future: not "
                   "enough memory (ENOMEM)");
  future_result_release(&r);
  /* A pending future: the fiber's stack goes, its future follows, to a
   * value or to an error. */
  ck_assert_int_eq(
      wait_value(future_async(&loop, return_pending, NULL, NULL), &v), 0);
  ck_assert_int_eq(v, 43);
  ck_assert_int_eq(future_wait(future_async(&loop, return_pending_rejection,
                                            NULL, NULL),
                               &r),
                   UV_EIO);
  ck_assert_str_eq(future_error_message(r.error), "later: i/o error (EIO)");
  future_result_release(&r);
  {
    future_t *self = future_async(&loop, return_follower_of_self, &self, NULL);
    ck_assert_int_eq(future_wait(self, &r), FUTURE_ECYCLE);
    ck_assert_str_eq(future_error_message(r.error),
                     "a fiber's function returned a future that waits on "
                     "the fiber itself: a future cannot adopt itself "
                     "(chaining cycle) (FUTURE_ECYCLE)");
    future_result_release(&r);
  }
  ck_assert_int_eq(
      future_wait(future_async(&loop, return_other_loop, &other, NULL), &r),
      UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_async(&loop, return_rejection, NULL, NULL), &r),
      FUTURE_EUSER(3));
  ck_assert_str_eq(future_error_message(r.error), "mine");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

/* A rejection the fiber never hands to anyone is reported as unhandled,
 * like any other: the fiber's own observers do not count as handling it. */
START_TEST(test_async_unobserved_rejection_is_reported) {
  uv_loop_t loop;
  unhandled_counter_t c;
  unhandled_install(&c);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_async(&loop, return_rejection, NULL, NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(c.count, 1);
  ck_assert_int_eq(c.last_code, FUTURE_EUSER(3));
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- bad arguments, and the three ways kept apart ---- */

static future_t *misuse_inside(uv_loop_t *loop, void *arg) {
  future_result_t r;
  uv_loop_t *other = arg;
  ck_assert(future_in_fiber());
  ck_assert_int_eq(future_await(NULL, &r), UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "future_await on a NULL future: invalid argument (EINVAL)");
  future_result_release(&r);
  ck_assert_int_eq(future_await(future_resolved(other, NULL, NULL), &r),
                   UV_EINVAL);
  future_result_release(&r);
  /* Blocking inside a fiber is refused, as in any callback. */
  ck_assert_int_eq(future_wait(future_resolved(loop, NULL, NULL), &r),
                   FUTURE_EINCALLBACK);
  future_result_release(&r);
  ck_assert_int_eq(future_loop_close(loop), FUTURE_EINCALLBACK);
  /* A NULL result is fine. */
  ck_assert_int_eq(future_await(future_resolved(loop, NULL, NULL), NULL), 0);
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_misuse) {
  uv_loop_t loop, other;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  ck_assert_ptr_null(future_async(NULL, return_arg, NULL, NULL));
  ck_assert_ptr_null(future_async(&loop, NULL, NULL, NULL));
  /* Outside a fiber: refused at once, the future consumed. */
  ck_assert(!future_in_fiber());
  ck_assert_int_eq(future_await(future_delay(&loop, 1), &r),
                   FUTURE_ENOTFIBER);
  ck_assert_str_eq(future_err_name(r.status), "FUTURE_ENOTFIBER");
  ck_assert_ptr_nonnull(strstr(future_error_message(r.error),
                               "future_await outside a fiber"));
  future_result_release(&r);
  ck_assert_int_eq(future_await(NULL, NULL), UV_EINVAL);
  ck_assert_int_eq(
      wait_value(future_async(&loop, misuse_inside, &other, NULL), NULL), 0);
  ck_assert(!future_in_fiber());
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

/* ---- ordering: an await is one trip through the run queue ---- */

static char order[32];
static void mark(char c) { order[strlen(order)] = c; }

static future_t *mark_then(future_t *s, void *c) {
  mark(*(char *)c);
  return future_ref(s);
}

static future_t *ordered_fiber(uv_loop_t *loop, void *arg) {
  (void)arg;
  mark('a');
  /* Queued before the await: runs before the fiber goes on, although
   * what it awaits has settled already. */
  future_unref(future_then(future_resolved(loop, NULL, NULL), mark_then, NULL,
                           "b"));
  future_await(future_resolved(loop, NULL, NULL), NULL);
  mark('c');
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_starts_from_the_queue_and_await_yields) {
  uv_loop_t loop;
  future_t *f;
  memset(order, 0, sizeof order);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_async(&loop, ordered_fiber, NULL, NULL);
  mark('0'); /* future_async returned before the fiber started */
  ck_assert_int_eq(wait_value(f, NULL), 0);
  ck_assert_str_eq(order, "0abc");
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- nesting and errors across awaits ---- */

static future_t *leaf(uv_loop_t *loop, void *arg) {
  future_result_t r;
  int n = P2INT(arg);
  future_await(future_delay(loop, 1), &r);
  future_result_release(&r);
  if (n < 0)
    return future_rejected(
        loop, future_error_new(UV_ENOENT, "leaf %d found nothing", -n));
  return future_resolved(loop, INT2P(n * 10), NULL);
}

/* Starts two leaves, awaits both; wraps a leaf's error with context. */
static future_t *middle(uv_loop_t *loop, void *arg) {
  future_result_t r;
  int n = P2INT(arg), sum = 0, rc;
  future_t *a = future_async(loop, leaf, INT2P(n), NULL);
  future_t *b = future_async(loop, leaf, INT2P(n < 0 ? 1 : n + 1), NULL);
  rc = future_await(a, &r);
  if (rc != 0) {
    future_error_t *err = future_error_wrap(r.error, rc, "middle %d", n);
    future_result_release(&r);
    future_unref(b);
    return future_rejected(loop, err);
  }
  sum += P2INT(r.value);
  future_result_release(&r);
  ck_assert_int_eq(future_await(b, &r), 0);
  sum += P2INT(r.value);
  future_result_release(&r);
  return future_resolved(loop, INT2P(sum), NULL);
}

static future_t *top(uv_loop_t *loop, void *arg) {
  future_result_t r;
  int total = 0, rc;
  (void)arg;
  rc = future_await(future_async(loop, middle, INT2P(1), NULL), &r);
  ck_assert_int_eq(rc, 0);
  total += P2INT(r.value); /* 10 + 20 */
  future_result_release(&r);
  rc = future_await(future_async(loop, middle, INT2P(-2), NULL), &r);
  ck_assert_int_eq(rc, UV_ENOENT);
  /* The error crossed two awaits, and says where it went through. */
  ck_assert_str_eq(future_error_message(r.error),
                   "middle -2: no such file or directory (ENOENT)");
  ck_assert_uint_eq(future_error_cause_count(r.error), 1);
  ck_assert_str_eq(future_error_message(future_error_cause(r.error)),
                   "leaf 2 found nothing: no such file or directory "
                   "(ENOENT)");
  future_result_release(&r);
  return future_resolved(loop, INT2P(total), NULL);
}

START_TEST(test_async_nesting_and_errors_across_awaits) {
  uv_loop_t loop;
  int v = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(wait_value(future_async(&loop, top, NULL, NULL), &v), 0);
  ck_assert_int_eq(v, 30);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- cycles ---- */

static future_t *await_self(uv_loop_t *loop, void *arg) {
  future_t **self = arg;
  future_result_t r;
  int rc = future_await(future_ref(*self), &r);
  ck_assert_int_eq(rc, FUTURE_ECYCLE);
  future_result_release(&r);
  /* And through a continuation of itself. */
  rc = future_await(future_then(future_ref(*self), NULL, NULL, NULL), &r);
  ck_assert_int_eq(rc, FUTURE_ECYCLE);
  future_result_release(&r);
  return future_resolved(loop, INT2P(1), NULL);
}

typedef struct {
  future_t *a, *b;
  int b_status;
} pair_t;

static future_t *await_b(uv_loop_t *loop, void *arg) {
  pair_t *p = arg;
  future_result_t r;
  int rc = future_await(future_ref(p->b), &r);
  future_result_release(&r);
  return future_resolved(loop, INT2P(rc), NULL);
}
static future_t *await_a(uv_loop_t *loop, void *arg) {
  pair_t *p = arg;
  /* a awaits b already: b awaiting a would wait forever. */
  p->b_status = future_await(future_ref(p->a), NULL);
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_await_cycle_is_refused) {
  uv_loop_t loop;
  future_t *self;
  pair_t p;
  int v = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  self = future_async(&loop, await_self, &self, NULL);
  ck_assert_int_eq(wait_value(self, &v), 0);
  ck_assert_int_eq(v, 1);
  p.a = future_async(&loop, await_b, &p, NULL);
  p.b = future_async(&loop, await_a, &p, NULL);
  ck_assert_int_eq(wait_value(future_ref(p.a), &v), 0);
  ck_assert_int_eq(p.b_status, FUTURE_ECYCLE);
  ck_assert_int_eq(v, 0); /* b fulfilled, once its await was refused */
  future_unref(p.a);
  future_unref(p.b);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- cancellation ---- */

static int ran;
static future_t *count_run(uv_loop_t *loop, void *arg) {
  (void)arg;
  ran++;
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_cancel_before_start_never_runs) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ran = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_async(&loop, count_run, NULL, NULL);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

typedef struct {
  int first, second, third;
  future_t *held;
} cancel_log_t;

/* Suspended in an await of a long delay that nothing else holds: the
 * cancel wakes it with UV_ECANCELED and cancels the delay (else the loop
 * would wait a minute). Later awaits work as usual; what it returns after
 * the cancel is released (the destructor runs). */
static future_t *cancelled_while_suspended(uv_loop_t *loop, void *arg) {
  cancel_log_t *log = arg;
  int *leftover = malloc(sizeof *leftover);
  log->first = future_await(future_delay(loop, 60000), NULL);
  log->second = future_await(future_delay(loop, 1), NULL);
  /* One held elsewhere is not cancelled: it settles as usual. */
  log->third = future_await(future_ref(log->held), NULL);
  return future_resolved(loop, leftover, count_free);
}

static future_t *cancel_it(future_t *s, void *target) {
  future_cancel(target);
  return future_ref(s);
}

START_TEST(test_async_cancel_while_suspended) {
  uv_loop_t loop;
  cancel_log_t log;
  future_t *f;
  future_result_t r;
  freed = 0;
  memset(&log, 0, sizeof log);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  log.held = future_new(&loop);
  f = future_async(&loop, cancelled_while_suspended, &log, NULL);
  future_unref(future_then(future_delay(&loop, 5), cancel_it, NULL, f));
  ck_assert_int_eq(future_wait(future_ref(f), &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(log.first, UV_ECANCELED);
  future_resolve(log.held, NULL, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* no minute-long wait */
  ck_assert_int_eq(log.second, 0);
  ck_assert_int_eq(log.third, 0);
  ck_assert_int_eq(freed, 1);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  future_unref(f);
  future_unref(log.held);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while it runs (by itself here): its next await learns it,
 * at once, and the future it would have awaited is cancelled. */
static future_t *cancels_itself(uv_loop_t *loop, void *arg) {
  future_t **self = arg;
  future_result_t r;
  int rc;
  ck_assert_int_eq(future_cancel(*self), 0);
  rc = future_await(future_delay(loop, 60000), &r);
  ck_assert_int_eq(rc, UV_ECANCELED);
  ck_assert_str_eq(future_error_message(r.error),
                   "future_await: the fiber's future was cancelled: "
                   "operation canceled (ECANCELED)");
  future_result_release(&r);
  ck_assert_int_eq(future_await(future_delay(loop, 1), NULL), 0);
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_cancel_while_running) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_async(&loop, cancels_itself, &f, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled after fn returned a pending future: that one is cancelled
 * too when nothing else holds it. */
static future_t *return_long_delay(uv_loop_t *loop, void *arg) {
  (void)arg;
  return future_delay(loop, 60000);
}

START_TEST(test_async_cancel_while_following) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_async(&loop, return_long_delay, NULL, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A cancel that arrives once what the fiber awaits has settled, but
 * before the fiber's turn: the await still reports the cancel. */
static future_t *awaits_settled(uv_loop_t *loop, void *arg) {
  cancel_log_t *log = arg;
  log->first = future_await(future_ref(log->held), NULL);
  return future_resolved(loop, NULL, NULL);
}

static future_t *settle_and_cancel(future_t *s, void *data) {
  cancel_log_t *log = data;
  future_t *f = future_value(s);
  future_resolve(log->held, NULL, NULL);
  future_cancel(f);
  return future_ref(s);
}

START_TEST(test_async_cancel_after_the_awaited_settled) {
  uv_loop_t loop;
  cancel_log_t log;
  future_t *f;
  memset(&log, 0, sizeof log);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  log.held = future_new(&loop);
  f = future_async(&loop, awaits_settled, &log, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0); /* suspended */
  future_unref(future_then(future_resolved(&loop, f, NULL), settle_and_cancel,
                           NULL, &log));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(log.first, UV_ECANCELED);
  future_unref(f);
  future_unref(log.held);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- teardown ---- */

static future_t *awaits_then_returns(uv_loop_t *loop, void *arg) {
  int *status = arg;
  *status = future_await(future_delay(loop, 60000), NULL);
  return future_resolved(loop, NULL, NULL);
}

static future_t *awaits_twice(uv_loop_t *loop, void *arg) {
  cancel_log_t *log = arg;
  log->first = future_await(future_delay(loop, 60000), NULL);
  /* Ignores the cancel, and awaits something only the test settles. */
  log->second = future_await(future_ref(log->held), NULL);
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_loop_close_cancels_fibers) {
  uv_loop_t loop;
  cancel_log_t log;
  int status = 1;
  memset(&log, 0, sizeof log);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_async(&loop, awaits_then_returns, &status, NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1); /* suspended */
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(status, UV_ECANCELED);
  ck_assert_int_eq(uv_loop_close(&loop), 0);

  /* A fiber still suspended after the cancel keeps the loop busy. */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  log.held = future_new(&loop);
  future_unref(future_async(&loop, awaits_twice, &log, NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ck_assert_int_eq(future_loop_close(&loop), UV_EBUSY);
  ck_assert_int_eq(log.first, UV_ECANCELED);
  future_resolve(log.held, NULL, NULL);
  future_unref(log.held);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(log.second, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- stacks ---- */

/* Deep enough to need most of a 64 KiB stack, not more. */
static int recurse(int depth) {
  volatile char pad[512];
  pad[0] = (char)depth;
  if (depth == 0)
    return pad[0];
  return recurse(depth - 1) + pad[0];
}

static future_t *uses_its_stack(uv_loop_t *loop, void *arg) {
  int depth = P2INT(arg);
  return future_resolved(loop, INT2P(recurse(depth)), NULL);
}

START_TEST(test_async_stack_sizes) {
  uv_loop_t loop;
  future_async_options_t big = {1024 * 1024, "big", 0};
  future_async_options_t tiny = {1, "tiny", 0}; /* raised to the minimum */
  future_async_options_t bare = {0, NULL, FUTURE_ASYNC_NO_GUARD};
  int v = -1;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, uses_its_stack, INT2P(60), NULL), &v), 0);
  ck_assert_int_eq(v, 1830);
  ck_assert_int_eq(
      wait_value(future_async(&loop, uses_its_stack, INT2P(1000), &big), &v),
      0);
  ck_assert_int_eq(v, recurse(1000)); /* as on the thread's own stack */
  ck_assert_int_eq(
      wait_value(future_async(&loop, uses_its_stack, INT2P(4), &tiny), &v), 0);
  ck_assert_int_eq(v, 10);
  ck_assert_int_eq(
      wait_value(future_async(&loop, uses_its_stack, INT2P(4), &bare), &v), 0);
  ck_assert_int_eq(v, 10);
  /* Only default-size stacks go back to the pool: a default fiber after
   * the tiny one gets 64 KiB, not the tiny one's 16 KiB. */
  ck_assert_int_eq(
      wait_value(future_async(&loop, uses_its_stack, INT2P(60), NULL), &v), 0);
  ck_assert_int_eq(v, 1830);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A fiber that overflows its stack dies on the guard page: in a child,
 * which must end by SIGSEGV (or, under AddressSanitizer, by its report
 * of a stack overflow), never by running on over other memory. */
static future_t *overflows(uv_loop_t *loop, void *arg) {
  (void)arg;
  return future_resolved(loop, INT2P(recurse(1 << 20)), NULL);
}

START_TEST(test_async_stack_overflow_hits_the_guard) {
  int fds[2], status;
  char out[4096];
  ssize_t n, len = 0;
  pid_t pid;
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    uv_loop_t loop;
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    signal(SIGSEGV, SIG_DFL);
    uv_loop_init(&loop);
    future_wait(future_async(&loop, overflows, NULL, NULL), NULL);
    _exit(0); /* not reached: the parent sees a clean exit and fails */
  }
  close(fds[1]);
  while (len < (ssize_t)sizeof(out) - 1 &&
         (n = read(fds[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
    len += n;
  out[len] = '\0';
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg((WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) ||
                    (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                     strstr(out, "stack-overflow") != NULL),
                "the overflow was not stopped (status %d): %s", status, out);
}
END_TEST

/* A backtrace taken in a fiber ends at the fiber's start, cleanly. */
static future_t *takes_a_backtrace(uv_loop_t *loop, void *arg) {
  void *frames[64];
  int n = backtrace(frames, 64);
  (void)arg;
  return future_resolved(loop, INT2P(n), NULL);
}

START_TEST(test_async_backtrace_ends_at_the_fiber) {
  uv_loop_t loop;
  int n = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, takes_a_backtrace, NULL, NULL), &n), 0);
  ck_assert_int_gt(n, 1);
  ck_assert_int_lt(n, 16);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- scale ---- */

static future_t *one_delay(uv_loop_t *loop, void *arg) {
  size_t *done = arg;
  ck_assert_int_eq(future_await(future_delay(loop, 1), NULL), 0);
  (*done)++;
  return future_resolved(loop, NULL, NULL);
}

static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE *fp = fopen("/proc/self/statm", "r");
  if (fp == NULL)
    return -1;
  if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
    resident = -1;
  fclose(fp);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* 100,000 fibers suspended at once, each awaiting a delay (unguarded: a
 * guarded stack takes two of the 65,530 mappings Linux allows). Under
 * valgrind 10,000, under ThreadSanitizer 5,000. Prints the memory each
 * suspended fiber costs. */
START_TEST(test_async_many_fibers_at_once) {
  uv_loop_t loop;
  future_async_options_t opt = {0, NULL, FUTURE_ASYNC_NO_GUARD};
  size_t n = RUNNING_ON_VALGRIND ? 10000 : 100000, i, done = 0;
#if defined(__SANITIZE_THREAD__)
  n = 5000; /* ThreadSanitizer counts each fiber as a thread: 8128 at most */
#endif
  long before, during;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  before = rss_kib();
  for (i = 0; i < n; i++)
    future_unref(future_async(&loop, one_delay, &done, &opt));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1); /* all suspended */
  ck_assert_uint_eq(done, 0);
  ck_assert_uint_eq(future_loop_live(&loop), 3 * n); /* fiber, delay, sink */
  during = rss_kib();
  if (before > 0 && during > 0)
    fprintf(stderr, "fibers: %zu suspended, %ld bytes each\n", n,
            (during - before) * 1024 / (long)n);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_uint_eq(done, n);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A million awaits in one fiber (100,000 under valgrind), in constant
 * memory. */
static future_t *many_awaits(uv_loop_t *loop, void *arg) {
  size_t n = *(size_t *)arg, i, sum = 0;
  for (i = 0; i < n; i++) {
    future_result_t r;
    ck_assert_int_eq(future_await(future_resolved(loop, INT2P(1), NULL), &r),
                     0);
    sum += (size_t)P2INT(r.value);
    future_result_release(&r);
  }
  return future_resolved(loop, INT2P((int)(sum == n)), NULL);
}

START_TEST(test_async_a_million_awaits) {
  uv_loop_t loop;
  size_t n = RUNNING_ON_VALGRIND ? 100000 : 1000000;
  int ok = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(wait_value(future_async(&loop, many_awaits, &n, NULL), &ok),
                   0);
  ck_assert_int_eq(ok, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- threads and tracing ---- */

static void resolve_later(void *arg) {
  future_resolver_t *res = arg;
  uv_sleep(5);
  future_resolver_resolve(res, INT2P(77), NULL);
}

static future_t *awaits_another_thread(uv_loop_t *loop, void *arg) {
  future_resolver_t *res;
  future_t *f = future_new_threadsafe(loop, &res);
  uv_thread_t t;
  future_result_t r;
  int v;
  (void)arg;
  ck_assert_int_eq(uv_thread_create(&t, resolve_later, res), 0);
  ck_assert_int_eq(future_await(f, &r), 0);
  v = P2INT(r.value);
  future_result_release(&r);
  uv_thread_join(&t);
  return future_resolved(loop, INT2P(v), NULL);
}

START_TEST(test_async_await_a_resolver_of_another_thread) {
  uv_loop_t loop;
  int v = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, awaits_another_thread, NULL, NULL), &v),
      0);
  ck_assert_int_eq(v, 77);
  LOOP_CLOSE(&loop);
}
END_TEST

static void await_from_thread(void *arg) {
  int *status = arg;
  *status = future_await(NULL, NULL);
}

START_TEST(test_async_await_on_another_thread_is_not_a_fiber) {
  uv_thread_t t;
  int status = 0;
  ck_assert_int_eq(uv_thread_create(&t, await_from_thread, &status), 0);
  uv_thread_join(&t);
  ck_assert_int_eq(status, UV_EINVAL);
}
END_TEST

START_TEST(test_async_traced_by_name) {
  uv_loop_t loop;
  future_async_options_t opt = {0, "reader", 0};
  char path[96];
  FILE *fp;
  char buf[65536];
  size_t len;
  snprintf(path, sizeof path, "/tmp/future-async-trace-%ld.json",
           (long)getpid());
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_eq(wait_value(future_async(&loop, one_delay,
                                           &(size_t){0}, &opt),
                              NULL),
                   0);
  ck_assert_int_eq(future_trace_stop(), 0);
  fp = fopen(path, "r");
  ck_assert_ptr_nonnull(fp);
  len = fread(buf, 1, sizeof buf - 1, fp);
  buf[len] = '\0';
  fclose(fp);
  unlink(path);
  /* Two slices: up to the await, and after it. */
  {
    const char *p = buf;
    int slices = 0;
    while ((p = strstr(p, "\"name\":\"reader\",\"cat\":\"future\",\"ph\":\"X\"")) != NULL) {
      slices++;
      p++;
    }
    ck_assert_int_eq(slices, 2);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* ---- where an await may suspend ---- */

typedef struct {
  int status[2];
  int in_fiber[2];
} factory_log_t;

/* A map's factory: called by future_map itself (inside the fiber's code)
 * for the first item, from the run queue for the second. */
static future_t *awaiting_factory(uv_loop_t *loop, size_t i, void *data) {
  factory_log_t *log = data;
  log->in_fiber[i] = future_in_fiber();
  log->status[i] = future_await(future_delay(loop, 1), NULL);
  return future_resolved(loop, INT2P((int)i), NULL);
}

static future_t *maps_with_awaiting_factory(uv_loop_t *loop, void *arg) {
  future_t *m = future_map(loop, 2, 1, awaiting_factory, arg);
  ck_assert(future_in_fiber());
  ck_assert_int_eq(future_await(m, NULL), 0);
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_await_in_a_library_callback_is_refused) {
  uv_loop_t loop;
  factory_log_t log;
  memset(&log, 0, sizeof log);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(wait_value(future_async(&loop, maps_with_awaiting_factory,
                                           &log, NULL),
                              NULL),
                   0);
  ck_assert_int_eq(log.in_fiber[0], 0);
  ck_assert_int_eq(log.status[0], FUTURE_EINCALLBACK);
  ck_assert_int_eq(log.in_fiber[1], 0);
  ck_assert_int_eq(log.status[1], FUTURE_ENOTFIBER);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A fiber of one loop waits (blocking) on another loop: that loop's
 * continuations run inside the fiber's future_wait, and are not the
 * fiber's code. */
typedef struct {
  uv_loop_t *a, *b;
  int in_fiber, status;
} two_loops_t;

static future_t *continuation_of_b(future_t *s, void *data) {
  two_loops_t *t = data;
  t->in_fiber = future_in_fiber();
  t->status = future_await(future_resolved(t->a, NULL, NULL), NULL);
  return future_ref(s);
}

static future_t *waits_on_another_loop(uv_loop_t *loop, void *data) {
  two_loops_t *t = data;
  ck_assert_int_eq(
      future_wait(future_then(future_delay(t->b, 1), continuation_of_b, NULL,
                              t),
                  NULL),
      0);
  ck_assert(future_in_fiber()); /* back in the fiber's own code */
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_another_loops_continuations_are_not_the_fiber) {
  uv_loop_t a, b;
  two_loops_t t = {&a, &b, -1, 0};
  ck_assert_int_eq(uv_loop_init(&a), 0);
  ck_assert_int_eq(uv_loop_init(&b), 0);
  ck_assert_int_eq(
      wait_value(future_async(&a, waits_on_another_loop, &t, NULL), NULL), 0);
  ck_assert_int_eq(t.in_fiber, 0);
  ck_assert_int_eq(t.status, FUTURE_ENOTFIBER);
  LOOP_CLOSE(&a);
  LOOP_CLOSE(&b);
}
END_TEST

/* An error the await makes itself, when memory runs out even for it: the
 * status is the code of the error in the result, UV_ENOMEM, as
 * future_wait's is (found by the fuzzer). */
START_TEST(test_async_await_status_is_its_errors_code) {
  future_result_t r;
  counting_install();
  counting.fail = 1;
  ck_assert_int_eq(future_await(NULL, &r), UV_ENOMEM);
  ck_assert_int_eq(r.status, future_error_code(r.error));
  future_result_release(&r);
  counting.fail = 0;
  counting_restore();
}
END_TEST

/* A fiber that future_loop_close cancels returns a new delay (cancelled
 * at once: nothing wants it): the close frees the heap of delays that
 * this delay allocated again (found by the fuzzer). */
static future_t *returns_a_delay_when_cancelled(uv_loop_t *loop, void *arg) {
  (void)arg;
  ck_assert_int_eq(future_await(future_delay(loop, 60000), NULL),
                   UV_ECANCELED);
  return future_delay(loop, 60000);
}

START_TEST(test_async_loop_close_frees_a_delay_made_while_closing) {
  uv_loop_t loop;
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_async(&loop, returns_a_delay_when_cancelled, NULL,
                            NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

/* The address space the process maps, in KiB. */
static long vm_kib(void) {
  long pages = -1;
  FILE *fp = fopen("/proc/self/statm", "r");
  if (fp == NULL)
    return -1;
  if (fscanf(fp, "%ld", &pages) != 1)
    pages = -1;
  fclose(fp);
  return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Stacks go when their fiber has returned: 200 fibers one after the
 * other, with 1 MiB stacks (unguarded: unmapped at once) and with the
 * default (guarded: back to the loop's pool, and used again), leave the
 * address space about as it was, not 200 stacks larger. */
static future_t *returns_at_once(uv_loop_t *loop, void *arg) {
  (void)arg;
  return future_resolved(loop, NULL, NULL);
}

START_TEST(test_async_stacks_are_let_go_of) {
  uv_loop_t loop;
  future_async_options_t big = {1024 * 1024, NULL, FUTURE_ASYNC_NO_GUARD};
  long before, after;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, returns_at_once, NULL, NULL), NULL), 0);
  before = vm_kib();
  if (before < 0)
    return; /* no /proc: nothing to measure with */
  for (i = 0; i < 200; i++) {
    ck_assert_int_eq(
        wait_value(future_async(&loop, returns_at_once, NULL, &big), NULL), 0);
    ck_assert_int_eq(
        wait_value(future_async(&loop, returns_at_once, NULL, NULL), NULL), 0);
  }
  after = vm_kib();
  /* Leaked, they would be 200 MiB and 12.5 MiB more. */
  ck_assert_msg(after - before < 8 * 1024, "%ld KiB more mapped",
                after - before);
  LOOP_CLOSE(&loop);
}
END_TEST

/* From /proc/self/maps: whether the mapping that holds `addr` has, right
 * below it, an inaccessible one page long. -1 without /proc. */
static int guarded_below(uintptr_t addr) {
  char line[512];
  uintptr_t lo = 0, hi = 0, start = 0;
  int found = 0, guarded = 0;
  FILE *fp = fopen("/proc/self/maps", "r");
  if (fp == NULL)
    return -1;
  while (!found && fgets(line, sizeof line, fp) != NULL)
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && lo <= addr &&
        addr < hi) {
      start = lo;
      found = 1;
    }
  rewind(fp);
  while (found && fgets(line, sizeof line, fp) != NULL) {
    char perms[8];
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) == 3 &&
        hi == start && strcmp(perms, "---p") == 0 &&
        hi - lo == (uintptr_t)sysconf(_SC_PAGESIZE))
      guarded = 1;
  }
  fclose(fp);
  return found ? guarded : -1;
}

static future_t *looks_below_its_stack(uv_loop_t *loop, void *arg) {
  volatile char here[16];
  (void)arg;
  here[0] = 1;
  return future_resolved(loop, INT2P(guarded_below((uintptr_t)here)), NULL);
}

/* The guard page is there, below a guarded stack: PROT_NONE, one page. */
START_TEST(test_async_stack_has_a_guard_page) {
  uv_loop_t loop;
  future_async_options_t big = {256 * 1024, NULL, 0};
  int v = -2;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      wait_value(future_async(&loop, looks_below_its_stack, NULL, NULL), &v),
      0);
  if (v != -1) /* -1: no /proc to look in */
    ck_assert_int_eq(v, 1);
  ck_assert_int_eq(
      wait_value(future_async(&loop, looks_below_its_stack, NULL, &big), &v),
      0);
  if (v != -1)
    ck_assert_int_eq(v, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *awaits_a_delay(uv_loop_t *loop, void *arg) {
  (void)arg;
  ck_assert_int_eq(future_await(future_delay(loop, 1), NULL), 0);
  return future_resolved(loop, NULL, NULL);
}

/* Up to 64 guarded default stacks stay mapped for reuse when their fibers
 * end (here 70 end together), and future_loop_close unmaps exactly those:
 * 64 times 64 KiB and a guard page. */
START_TEST(test_async_stack_pool_keeps_64) {
  uv_loop_t loop;
  long page_kib = sysconf(_SC_PAGESIZE) / 1024, before, after;
  int i;
  if (RUNNING_ON_VALGRIND)
    return; /* valgrind maps memory of its own as the program runs */
  /* malloc must not give memory back to the system meanwhile (the
   * library's slabs, freed by the close), nor map blocks of its own. */
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < 70; i++)
    future_unref(future_async(&loop, awaits_a_delay, NULL, NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_uint_eq(future_loop_live(&loop), 0);
  before = vm_kib();
  if (before < 0)
    return;
  ck_assert_int_eq(future_loop_close(&loop), 0);
  after = vm_kib();
  /* 64 stacks, give or take what else a close may unmap (less than half
   * a stack: 65 stacks, or none, would be wrong). */
  ck_assert_msg(before - after >= 64 * (64 + page_kib) &&
                    before - after < 64 * (64 + page_kib) + 32,
                "%ld KiB unmapped, not 64 stacks of %ld", before - after,
                64 + page_kib);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *make_async_suite(void) {
  Suite *s = suite_create("async");
  TCase *core = tcase_create("Core");
  TCase *scale = tcase_create("Scale");
  tcase_add_test(core, test_async_await_every_kind);
  tcase_add_test(core, test_async_await_owned_value);
  tcase_add_test(core, test_async_return_values);
  tcase_add_test(core, test_async_unobserved_rejection_is_reported);
  tcase_add_test(core, test_async_misuse);
  tcase_add_test(core, test_async_starts_from_the_queue_and_await_yields);
  tcase_add_test(core, test_async_nesting_and_errors_across_awaits);
  tcase_add_test(core, test_async_await_cycle_is_refused);
  tcase_add_test(core, test_async_cancel_before_start_never_runs);
  tcase_add_test(core, test_async_cancel_while_suspended);
  tcase_add_test(core, test_async_cancel_while_running);
  tcase_add_test(core, test_async_cancel_while_following);
  tcase_add_test(core, test_async_cancel_after_the_awaited_settled);
  tcase_add_test(core, test_async_loop_close_cancels_fibers);
  tcase_add_test(core, test_async_stack_sizes);
  tcase_add_test(core, test_async_stacks_are_let_go_of);
  tcase_add_test(core, test_async_stack_has_a_guard_page);
  tcase_add_test(core, test_async_stack_pool_keeps_64);
  tcase_add_test(core, test_async_stack_overflow_hits_the_guard);
  tcase_add_test(core, test_async_backtrace_ends_at_the_fiber);
  tcase_add_test(core, test_async_await_a_resolver_of_another_thread);
  tcase_add_test(core, test_async_await_on_another_thread_is_not_a_fiber);
  tcase_add_test(core, test_async_traced_by_name);
  tcase_add_test(core, test_async_await_status_is_its_errors_code);
  tcase_add_test(core, test_async_loop_close_frees_a_delay_made_while_closing);
  tcase_add_test(core, test_async_await_in_a_library_callback_is_refused);
  tcase_add_test(core, test_async_another_loops_continuations_are_not_the_fiber);
  suite_add_tcase(s, core);
  tcase_set_timeout(scale, 300);
  tcase_add_test(scale, test_async_many_fibers_at_once);
  tcase_add_test(scale, test_async_a_million_awaits);
  suite_add_tcase(s, scale);
  return s;
}
