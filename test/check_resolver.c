/* Settling futures from other threads (src/resolver.c). */
#include "helpers.h"
#include "suites.h"

#include <stdlib.h>

START_TEST(test_resolver_null_arguments) {
  uv_loop_t loop;
  future_resolver_t *r = (future_resolver_t *)1;
  int v = 0, calls = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_null(future_new_threadsafe(NULL, &r));
  ck_assert_ptr_null(r);
  ck_assert_ptr_null(future_new_threadsafe(&loop, NULL));
  ck_assert_int_eq(future_resolver_resolve(NULL, &v, NULL), UV_EINVAL);
  ck_assert_int_eq(future_resolver_reject(NULL, future_error_new(UV_EIO, "x")),
                   UV_EINVAL);
  (void)calls;
  LOOP_CLOSE(&loop);
}
END_TEST

/* Same thread: still delivered through the loop, never inline. */
START_TEST(test_resolver_same_thread_not_inline) {
  uv_loop_t loop;
  future_resolver_t *res;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new_threadsafe(&loop, &res);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(uv_loop_alive(&loop), 1); /* the resolver holds it */
  ck_assert_int_eq(future_resolver_resolve(res, INT2P(5), NULL), 0);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 5);
  future_result_release(&r);
  ck_assert_int_eq(uv_loop_alive(&loop), 0); /* and lets go after */
  LOOP_CLOSE(&loop);
}
END_TEST

/* 1,000 futures settled from 8 threads at once: every settle arrives,
 * although libuv coalesces the wakeups. */
#define THREADS 8
#define PER_THREAD 125

typedef struct {
  future_resolver_t *res[PER_THREAD];
  int base;
} settler_t;

static void settle_many(void *arg) {
  settler_t *s = arg;
  int i;
  for (i = 0; i < PER_THREAD; i++) {
    int n = s->base + i;
    if (n % 10 == 9)
      future_resolver_reject(s->res[i], future_error_new(FUTURE_EUSER(n), "n"));
    else
      future_resolver_resolve(s->res[i], INT2P(n), NULL);
  }
}

START_TEST(test_resolver_many_threads_none_lost) {
  uv_loop_t loop;
  uv_thread_t tids[THREADS];
  settler_t settlers[THREADS];
  future_t *fs[THREADS * PER_THREAD];
  int t, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (t = 0; t < THREADS; t++) {
    settlers[t].base = t * PER_THREAD;
    for (i = 0; i < PER_THREAD; i++) {
      fs[t * PER_THREAD + i] =
          future_new_threadsafe(&loop, &settlers[t].res[i]);
      ck_assert_ptr_nonnull(fs[t * PER_THREAD + i]);
    }
  }
  for (t = 0; t < THREADS; t++)
    ck_assert_int_eq(uv_thread_create(&tids[t], settle_many, &settlers[t]), 0);
  /* The outstanding resolvers keep the loop running until all arrive. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  for (t = 0; t < THREADS; t++)
    ck_assert_int_eq(uv_thread_join(&tids[t]), 0);
  for (i = 0; i < THREADS * PER_THREAD; i++) {
    future_result_t r;
    if (i % 10 == 9) {
      ck_assert_int_eq(future_wait(fs[i], &r), FUTURE_EUSER(i));
    } else {
      ck_assert_int_eq(future_wait(fs[i], &r), 0);
      ck_assert_int_eq(P2INT(r.value), i);
    }
    future_result_release(&r);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

static int freed;
static void count_free(void *v) {
  freed++;
  free(v);
}

typedef struct {
  future_resolver_t *res;
  uv_sem_t go;
} late_t;

static void deliver_late(void *arg) {
  late_t *l = arg;
  uv_sem_wait(&l->go);
  future_resolver_resolve(l->res, malloc(16), count_free);
}

/* Cancelled before the other thread delivers: the delivery is released. */
START_TEST(test_resolver_cancelled_delivery_is_released) {
  uv_loop_t loop;
  uv_thread_t tid;
  late_t l;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_sem_init(&l.go, 0), 0);
  freed = 0;
  f = future_new_threadsafe(&loop, &l.res);
  ck_assert_int_eq(uv_thread_create(&tid, deliver_late, &l), 0);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  uv_sem_post(&l.go);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(freed, 1);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  uv_sem_destroy(&l.go);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_resolver_reject_null_error) {
  uv_loop_t loop;
  future_resolver_t *res;
  future_result_t r;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new_threadsafe(&loop, &res);
  ck_assert_int_eq(future_resolver_reject(res, NULL), 0);
  ck_assert_int_eq(future_wait(f, &r), UV_EINVAL);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Another thread delivers while the loop's thread tears the loop down:
 * future_loop_close may take the delivery in and free the loop's state
 * while the delivering thread is still waking the loop up. No thread may
 * touch that state once it can be freed. (Under --enable-debug,
 * FUTURE_DEBUG_RACE_US widens the window: each cross-thread wake-up
 * sleeps that long first.) */
static void deliver_now(void *arg) {
  future_resolver_resolve(arg, INT2P(1), NULL);
}

START_TEST(test_resolver_deliver_during_loop_close) {
  setenv("FUTURE_DEBUG_RACE_US", "2000", 1);
  for (int i = 0; i < 100; i++) {
    uv_loop_t loop;
    uv_thread_t tid;
    future_resolver_t *res;
    future_t *f;
    int rc;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    f = future_new_threadsafe(&loop, &res);
    ck_assert_ptr_nonnull(f);
    future_unref(f); /* only the resolver keeps it */
    ck_assert_int_eq(uv_thread_create(&tid, deliver_now, res), 0);
    while ((rc = future_loop_close(&loop)) == UV_EBUSY)
      ;
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(uv_thread_join(&tid), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
  }
  unsetenv("FUTURE_DEBUG_RACE_US");
}
END_TEST

/* Without a resolver there is nobody to hand the value to: its
 * destructor runs at once, and a rejection's error is released. */
static int orphan_dtors;
static void orphan_dtor(void *v) {
  (void)v;
  orphan_dtors++;
}

START_TEST(test_resolver_null_releases_what_it_is_given) {
  orphan_dtors = 0;
  counting_install();
  ck_assert_int_eq(future_resolver_resolve(NULL, INT2P(1), orphan_dtor),
                   UV_EINVAL);
  ck_assert_int_eq(orphan_dtors, 1);
  ck_assert_int_eq(future_resolver_reject(NULL, future_error_new(UV_EIO, "x")),
                   UV_EINVAL);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

Suite *make_resolver_suite(void) {
  Suite *s = suite_create("resolver");
  TCase *core = tcase_create("Core");
  TCase *threads = tcase_create("Threads");
  tcase_add_test(core, test_resolver_null_arguments);
  tcase_add_test(core, test_resolver_null_releases_what_it_is_given);
  tcase_add_test(core, test_resolver_same_thread_not_inline);
  tcase_add_test(core, test_resolver_reject_null_error);
  tcase_set_timeout(threads, 60);
  tcase_add_test(threads, test_resolver_many_threads_none_lost);
  tcase_add_test(threads, test_resolver_cancelled_delivery_is_released);
  tcase_add_test(threads, test_resolver_deliver_during_loop_close);
  suite_add_tcase(s, core);
  suite_add_tcase(s, threads);
  return s;
}
