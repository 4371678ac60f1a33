/* The future object: creation, settling exactly once, values with
 * destructors, adoption, references and unhandled rejections
 * (src/future.c). */
#include "helpers.h"
#include "suites.h"

#include <stdlib.h>

static int dtor_calls;
static void count_dtor(void *value) {
  (void)value;
  dtor_calls++;
}
static void free_dtor(void *value) {
  dtor_calls++;
  free(value);
}

START_TEST(test_future_new_is_pending) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_ptr_null(future_value(f));
  ck_assert_ptr_null(future_error(f));
  ck_assert_ptr_eq(future_loop(f), &loop);
  ck_assert_uint_eq(future_loop_live(&loop), 1);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_null_arguments) {
  uv_loop_t loop;
  int v = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_calls = 0;
  ck_assert_ptr_null(future_new(NULL));
  ck_assert_ptr_null(future_resolved(NULL, &v, count_dtor));
  ck_assert_int_eq(dtor_calls, 1); /* the value is not leaked */
  ck_assert_ptr_null(future_rejected(NULL, future_error_new(UV_EIO, "x")));
  ck_assert_int_eq(future_resolve(NULL, &v, count_dtor), UV_EINVAL);
  ck_assert_int_eq(dtor_calls, 2);
  ck_assert_int_eq(future_reject(NULL, future_error_new(UV_EIO, "x")),
                   UV_EINVAL);
  ck_assert_int_eq(future_adopt(NULL, NULL), UV_EINVAL);
  /* A source given with a NULL target is still consumed: released. */
  ck_assert_int_eq(future_adopt(NULL, future_resolved(&loop, &v, count_dtor)),
                   UV_EINVAL);
  ck_assert_int_eq(dtor_calls, 3);
  ck_assert_ptr_null(future_ref(NULL));
  future_unref(NULL);
  ck_assert_int_eq(future_state(NULL), FUTURE_PENDING);
  ck_assert_ptr_null(future_value(NULL));
  ck_assert_ptr_null(future_error(NULL));
  ck_assert_ptr_null(future_loop(NULL));
  ck_assert_ptr_null(future_then(NULL, NULL, NULL, NULL));
  ck_assert_ptr_null(future_catch(NULL, NULL, NULL));
  ck_assert_ptr_null(future_finally(NULL, NULL, NULL));
  ck_assert_uint_eq(future_loop_live(NULL), 0);
  ck_assert_int_eq(future_loop_close(NULL), UV_EINVAL);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_resolve_once) {
  uv_loop_t loop;
  future_t *f;
  int a = 1, b = 2;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_int_eq(future_resolve(f, &a, NULL), 0);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_ptr_eq(future_value(f), &a);
  /* A second settle is reported and changes nothing. */
  ck_assert_int_eq(future_resolve(f, &b, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(future_reject(f, future_error_new(UV_EIO, "late")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_ptr_eq(future_value(f), &a);
  ck_assert_ptr_null(future_error(f));
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_reject_once) {
  uv_loop_t loop;
  future_t *f;
  future_error_t *e = future_error_new(UV_EIO, "first");
  int b = 2;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_calls = 0;
  f = future_new(&loop);
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_ptr_eq(future_error(f), e);
  ck_assert_int_eq(future_resolve(f, &b, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1); /* a refused value is destroyed */
  ck_assert_int_eq(future_reject(f, future_error_new(UV_EPIPE, "second")),
                   FUTURE_ESETTLED);
  ck_assert_ptr_eq(future_error(f), e);
  ck_assert_ptr_null(future_value(f));
  future_error_unref(e);
  /* Observe the error, so that releasing it is not an unhandled one. */
  future_result_t r;
  ck_assert_int_eq(future_wait(f, &r), UV_EIO);
  ck_assert_ptr_eq(r.error, e);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_reject_null_error_is_einval) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_rejected(&loop, NULL);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_EINVAL);
  ck_assert_int_eq(future_wait(f, &r), UV_EINVAL);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_value_destructor_runs_once) {
  uv_loop_t loop;
  future_t *f, *g;
  int *v = malloc(sizeof *v);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_calls = 0;
  f = future_resolved(&loop, v, free_dtor);
  g = future_ref(f);
  future_unref(f);
  ck_assert_int_eq(dtor_calls, 0);
  future_unref(g);
  ck_assert_int_eq(dtor_calls, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_chained_future_cannot_be_settled_by_hand) {
  uv_loop_t loop;
  future_t *src, *c;
  int v = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_calls = 0;
  src = future_new(&loop);
  c = future_then(future_ref(src), NULL, NULL, NULL);
  ck_assert_int_eq(future_resolve(c, &v, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(future_reject(c, future_error_new(UV_EIO, "x")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_adopt(c, future_resolved(&loop, NULL, NULL)),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_resolve(src, &v, NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_ptr_eq(future_value(c), &v);
  future_unref(src);
  future_unref(c);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_adopt_settled_and_pending) {
  uv_loop_t loop;
  future_t *a, *b, *src;
  int v = 7;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = future_new(&loop);
  ck_assert_int_eq(future_adopt(a, future_resolved(&loop, &v, NULL)), 0);
  ck_assert_int_eq(future_state(a), FUTURE_FULFILLED);
  ck_assert_ptr_eq(future_value(a), &v);

  b = future_new(&loop);
  src = future_new(&loop);
  ck_assert_int_eq(future_adopt(b, future_ref(src)), 0);
  ck_assert_int_eq(future_state(b), FUTURE_PENDING);
  /* Once adopting, b is resolved: it cannot be settled again by hand. */
  ck_assert_int_eq(future_resolve(b, NULL, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(future_resolve(src, &v, NULL), 0);
  ck_assert_int_eq(future_state(b), FUTURE_PENDING); /* not synchronous */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(b), FUTURE_FULFILLED);
  ck_assert_ptr_eq(future_value(b), &v);
  future_unref(a);
  future_unref(b);
  future_unref(src);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_adopt_itself_is_cycle) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_int_eq(future_adopt(f, future_ref(f)), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_wait(f, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* a adopts b, then b adopts a: a cycle, refused instead of two futures
 * waiting on each other forever (and never freed). */
START_TEST(test_future_adopt_cycle_is_refused) {
  uv_loop_t loop;
  future_t *a, *b;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = future_new(&loop);
  b = future_new(&loop);
  ck_assert_int_eq(future_adopt(a, future_ref(b)), 0);
  ck_assert_int_eq(future_adopt(b, future_ref(a)), 0);
  ck_assert_int_eq(future_error_code(future_error(b)), FUTURE_ECYCLE);
  ck_assert_int_eq(future_wait(a, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  future_unref(b);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The caller's only reference given as the source of adopting itself. */
START_TEST(test_future_adopt_self_last_reference) {
  uv_loop_t loop;
  unhandled_counter_t c;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  f = future_new(&loop);
  ck_assert_int_eq(future_adopt(f, f), 0); /* f is gone afterwards */
  ck_assert_int_eq(c.count, 1);             /* its ECYCLE went unseen */
  ck_assert_int_eq(c.last_code, FUTURE_ECYCLE);
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_adopt_other_loop_is_einval) {
  uv_loop_t l1, l2;
  future_t *a, *b;
  ck_assert_int_eq(uv_loop_init(&l1), 0);
  ck_assert_int_eq(uv_loop_init(&l2), 0);
  a = future_new(&l1);
  b = future_resolved(&l2, NULL, NULL);
  ck_assert_int_eq(future_adopt(a, b), UV_EINVAL);
  ck_assert_int_eq(future_state(a), FUTURE_PENDING);
  future_unref(a);
  LOOP_CLOSE(&l1);
  LOOP_CLOSE(&l2);
}
END_TEST

START_TEST(test_future_unhandled_rejection_reported_once) {
  uv_loop_t loop;
  unhandled_counter_t c;
  future_t *f, *g;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  f = future_rejected(&loop, future_error_new(UV_EPIPE, "write"));
  g = future_ref(f);
  future_unref(f);
  ck_assert_int_eq(c.count, 0); /* still referenced */
  future_unref(g);
  ck_assert_int_eq(c.count, 1);
  ck_assert_int_eq(c.last_code, UV_EPIPE);
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An error that travels down a chain is reported once, at its end, and
 * not for the futures it passed through. */
START_TEST(test_future_unhandled_reported_at_end_of_chain) {
  uv_loop_t loop;
  unhandled_counter_t c;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  f = future_rejected(&loop, future_error_new(UV_EIO, "x"));
  f = future_then(f, NULL, NULL, NULL);
  f = future_then(f, NULL, NULL, NULL);
  future_unref(f); /* nobody will look at the end of the chain */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(c.count, 1);
  ck_assert_int_eq(c.last_code, UV_EIO);
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_observed_rejection_not_reported) {
  uv_loop_t loop;
  unhandled_counter_t c;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  f = future_rejected(&loop, future_error_new(UV_EIO, "x"));
  ck_assert_int_eq(future_wait(f, &r), UV_EIO);
  future_result_release(&r);
  ck_assert_int_eq(c.count, 0);
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A pending future that nobody can settle any more is freed with the
 * continuations hanging from it, which never run. */
static int ran;
static future_t *mark_ran(future_t *settled, void *data) {
  (void)data;
  ran++;
  return future_ref(settled);
}

START_TEST(test_future_abandoned_pending_chain_is_freed) {
  uv_loop_t loop;
  future_t *root, *f;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ran = 0;
  root = future_new(&loop);
  f = future_ref(root);
  for (i = 0; i < 10; i++)
    f = future_then(f, mark_ran, mark_ran, NULL);
  ck_assert_uint_eq(future_loop_live(&loop), 11);
  future_unref(f); /* the chain still hangs from the root */
  ck_assert_uint_eq(future_loop_live(&loop), 11);
  future_unref(root); /* now nobody can settle it */
  ck_assert_uint_eq(future_loop_live(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(ran, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_future_version) {
  ck_assert_uint_eq(future_version(), FUTURE_VERSION_HEX);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", FUTURE_VERSION_MAJOR,
           FUTURE_VERSION_MINOR, FUTURE_VERSION_PATCH);
  ck_assert_str_eq(future_version_string(), want);
}
END_TEST

/* Chains built with future_adopt, each new future adopting the one
 * before it (from the root), and the other way round (each new future
 * adopted by the one before), with a continuation hanging from each link:
 * the cycle check must not walk the whole chain at every link. A
 * quadratic check takes minutes here (the test case's timeout fails it);
 * a linear one, well under a second. */
#define ADOPT_LINKS 200000

START_TEST(test_future_adopt_chain_is_linear) {
  uv_loop_t loop;
  future_t *root, *prev, *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (int pattern = 0; pattern < 3; pattern++) {
    root = future_new(&loop);
    prev = future_ref(root);
    for (int i = 0; i < ADOPT_LINKS; i++) {
      f = future_new(&loop);
      if (pattern == 2) /* a waiter on the new future, then adopt */
        future_unref(future_then(future_ref(f), NULL, NULL, NULL));
      if (pattern == 1) {
        /* The previous one adopts the new one: walk toward the leaves. */
        ck_assert_int_eq(future_adopt(prev, future_ref(f)), 0);
      } else {
        ck_assert_int_eq(future_adopt(f, future_ref(prev)), 0);
      }
      future_unref(prev);
      prev = f;
    }
    if (pattern == 1) {
      ck_assert_int_eq(future_resolve(prev, INT2P(3), NULL), 0);
      future_unref(prev);
      ck_assert_int_eq(future_wait(root, &r), 0);
    } else {
      ck_assert_int_eq(future_resolve(root, INT2P(3), NULL), 0);
      future_unref(root);
      ck_assert_int_eq(future_wait(prev, &r), 0);
    }
    ck_assert_int_eq(P2INT(r.value), 3);
    future_result_release(&r);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *swallow(future_t *settled, void *data) {
  (void)data;
  return future_resolved(future_loop(settled), NULL, NULL);
}

/* The linear check still finds every cycle: adopting the far end of a
 * chain (either way round) is refused. */
START_TEST(test_future_adopt_long_cycle_is_refused) {
  uv_loop_t loop;
  future_t *root, *prev, *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  root = future_new(&loop);
  prev = future_ref(root);
  for (int i = 0; i < 1000; i++) {
    f = future_new(&loop);
    future_unref(future_catch(future_ref(f), swallow, NULL));
    ck_assert_int_eq(future_adopt(f, future_ref(prev)), 0);
    future_unref(prev);
    prev = f;
  }
  /* root would wait on prev, which waits (1000 links up) on root. */
  ck_assert_int_eq(future_adopt(root, future_ref(prev)), 0);
  ck_assert_int_eq(future_state(root), FUTURE_REJECTED);
  ck_assert_int_eq(future_wait(root, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(prev, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A future backed by a request (a delay, a file-system request, work on
 * the pool) is settled by the library alone: settling it by hand is
 * refused and changes nothing. */
static int refused_dtors;
static void refused_dtor(void *v) {
  (void)v;
  refused_dtors++;
}

START_TEST(test_future_request_sources_cannot_be_settled_by_hand) {
  uv_loop_t loop;
  future_t *req[2];
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  refused_dtors = 0;
  req[0] = future_delay(&loop, 10);
  req[1] = future_fs_stat(&loop, ".");
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(future_resolve(req[i], INT2P(5), refused_dtor),
                     FUTURE_ESETTLED);
    ck_assert_int_eq(future_reject(req[i], future_error_new(UV_EIO, "no")),
                     FUTURE_ESETTLED);
    ck_assert_int_eq(future_adopt(req[i], future_resolved(&loop, NULL, NULL)),
                     FUTURE_ESETTLED);
    ck_assert_int_eq(future_state(req[i]), FUTURE_PENDING);
  }
  ck_assert_int_eq(refused_dtors, 2); /* the refused values are destroyed */
  ck_assert_int_eq(future_wait(req[0], &r), 0);
  ck_assert_ptr_null(r.value); /* the delay's own outcome, not 5 */
  future_result_release(&r);
  ck_assert_int_eq(future_wait(req[1], &r), 0);
  ck_assert_ptr_nonnull(r.value); /* a uv_stat_t */
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_future_suite(void) {
  Suite *s = suite_create("future");
  TCase *core = tcase_create("Core");
  TCase *errors = tcase_create("Errors");
  TCase *scale = tcase_create("Scale");
  /* Linear work; a quadratic cycle check would take minutes. */
  tcase_set_timeout(scale, 60);
  tcase_add_test(scale, test_future_adopt_chain_is_linear);
  tcase_add_test(core, test_future_new_is_pending);
  tcase_add_test(core, test_future_resolve_once);
  tcase_add_test(core, test_future_reject_once);
  tcase_add_test(core, test_future_value_destructor_runs_once);
  tcase_add_test(core, test_future_adopt_settled_and_pending);
  tcase_add_test(core, test_future_abandoned_pending_chain_is_freed);
  tcase_add_test(core, test_future_version);
  tcase_add_test(errors, test_future_null_arguments);
  tcase_add_test(errors, test_future_reject_null_error_is_einval);
  tcase_add_test(errors, test_future_chained_future_cannot_be_settled_by_hand);
  tcase_add_test(errors, test_future_request_sources_cannot_be_settled_by_hand);
  tcase_add_test(errors, test_future_adopt_itself_is_cycle);
  tcase_add_test(errors, test_future_adopt_other_loop_is_einval);
  tcase_add_test(errors, test_future_adopt_cycle_is_refused);
  tcase_add_test(errors, test_future_adopt_long_cycle_is_refused);
  tcase_add_test(errors, test_future_adopt_self_last_reference);
  tcase_add_test(errors, test_future_unhandled_rejection_reported_once);
  tcase_add_test(errors, test_future_unhandled_reported_at_end_of_chain);
  tcase_add_test(errors, test_future_observed_rejection_not_reported);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, scale);
  return s;
}
