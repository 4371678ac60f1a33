/* Composition: all, all_settled, any, race (src/combine.c). */
#include "helpers.h"
#include "suites.h"

#include <stdatomic.h>
#include <stdlib.h>

static future_t *ok(uv_loop_t *loop, int v) {
  return future_resolved(loop, INT2P(v), NULL);
}
static future_t *bad(uv_loop_t *loop, int code) {
  return future_rejected(loop, future_error_new(code, "input"));
}

/* A pending input settled later by a timer (kept in `later`). */
typedef struct {
  uv_timer_t timer;
  future_t *f;
  int value;
  int code;
} later_t;

static void later_fire(uv_timer_t *t) {
  later_t *l = t->data;
  if (l->code)
    future_reject(l->f, future_error_new(l->code, "later"));
  else
    future_resolve(l->f, INT2P(l->value), NULL);
  future_unref(l->f);
  uv_close((uv_handle_t *)t, NULL);
}

static future_t *later(uv_loop_t *loop, later_t *l, uint64_t ms, int value,
                       int code) {
  future_t *f = future_new(loop);
  l->f = future_ref(f);
  l->value = value;
  l->code = code;
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  uv_timer_start(&l->timer, later_fire, ms, 0);
  return f;
}

START_TEST(test_all_fulfils_in_input_order) {
  uv_loop_t loop;
  later_t l1, l2;
  future_t *in[4];
  future_result_t r;
  const future_list_t *list;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in[0] = later(&loop, &l1, 20, 10, 0); /* settles last */
  in[1] = ok(&loop, 11);
  in[2] = later(&loop, &l2, 5, 12, 0);
  in[3] = ok(&loop, 13);
  ck_assert_int_eq(future_wait(future_all(&loop, in, 4), &r), 0);
  list = r.value;
  ck_assert_uint_eq(list->count, 4);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(future_state(list->items[i]), FUTURE_FULFILLED);
    ck_assert_int_eq(P2INT(future_value(list->items[i])), 10 + i);
  }
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_all_empty_fulfils_empty_list) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_all(&loop, NULL, 0), &r), 0);
  ck_assert_uint_eq(((future_list_t *)r.value)->count, 0);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_all_settled(&loop, NULL, 0), &r), 0);
  ck_assert_uint_eq(((future_list_t *)r.value)->count, 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Fail fast: the first error decides, and the slow input is cancelled. */
START_TEST(test_all_fails_fast_and_cancels_rest) {
  uv_loop_t loop;
  future_t *in[3], *slow;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  slow = future_delay(&loop, 60000);
  in[0] = ok(&loop, 1);
  in[1] = slow;
  in[2] = bad(&loop, UV_ENOENT);
  ck_assert_int_eq(future_wait(future_all(&loop, in, 3), &r), UV_ENOENT);
  future_result_release(&r);
  /* The hour-long delay was cancelled: the loop has nothing left. */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An input the caller still holds is released but not cancelled. */
START_TEST(test_all_spares_inputs_held_elsewhere) {
  uv_loop_t loop;
  future_t *in[2], *held;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  held = future_delay(&loop, 5);
  in[0] = future_ref(held);
  in[1] = bad(&loop, UV_EIO);
  ck_assert_int_eq(future_wait(future_all(&loop, in, 2), &r), UV_EIO);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(held), FUTURE_FULFILLED);
  future_unref(held);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_all_null_or_foreign_input_is_einval) {
  uv_loop_t loop, other;
  future_t *in[2];
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  in[0] = ok(&loop, 1);
  in[1] = NULL;
  ck_assert_int_eq(future_wait(future_all(&loop, in, 2), &r), UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "future_all: input 1 is NULL: invalid argument (EINVAL)");
  future_result_release(&r);
  in[0] = ok(&loop, 1);
  in[1] = ok(&other, 2);
  ck_assert_int_eq(future_wait(future_race(&loop, in, 2), &r), UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "future_race: input 1 is of another loop: invalid argument "
                   "(EINVAL)");
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_any(&loop, NULL, 3), &r), UV_EINVAL);
  future_result_release(&r);
  in[0] = ok(&loop, 1);
  ck_assert_ptr_null(future_all(NULL, in, 1)); /* released all the same */
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

START_TEST(test_all_settled_reports_each_outcome) {
  uv_loop_t loop;
  later_t l;
  unhandled_counter_t c;
  future_t *in[3];
  future_result_t r;
  const future_list_t *list;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  in[0] = bad(&loop, UV_EIO);
  in[1] = later(&loop, &l, 5, 0, UV_EPIPE);
  in[2] = ok(&loop, 7);
  ck_assert_int_eq(future_wait(future_all_settled(&loop, in, 3), &r), 0);
  list = r.value;
  ck_assert_uint_eq(list->count, 3);
  ck_assert_int_eq(future_error_code(future_error(list->items[0])), UV_EIO);
  ck_assert_int_eq(future_error_code(future_error(list->items[1])), UV_EPIPE);
  ck_assert_int_eq(P2INT(future_value(list->items[2])), 7);
  future_result_release(&r);
  ck_assert_int_eq(c.count, 0); /* the errors count as observed */
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_any_first_fulfilment_wins) {
  uv_loop_t loop;
  later_t l;
  future_t *in[3], *slow;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  slow = future_delay(&loop, 60000);
  in[0] = bad(&loop, UV_EIO);
  in[1] = later(&loop, &l, 5, 42, 0);
  in[2] = slow;
  ck_assert_int_eq(future_wait(future_any(&loop, in, 3), &r), 0);
  ck_assert_int_eq(P2INT(r.value), 42);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* slow cancelled */
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_any_all_rejected_aggregates_causes) {
  uv_loop_t loop;
  later_t l;
  future_t *in[3];
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in[0] = later(&loop, &l, 5, 0, UV_EPIPE); /* settles last */
  in[1] = bad(&loop, UV_EIO);
  in[2] = bad(&loop, UV_ENOENT);
  ck_assert_int_eq(future_wait(future_any(&loop, in, 3), &r),
                   FUTURE_EAGGREGATE);
  ck_assert_uint_eq(future_error_cause_count(r.error), 3);
  /* In input order, not in the order they failed. */
  ck_assert_int_eq(future_error_code(future_error_cause_at(r.error, 0)),
                   UV_EPIPE);
  ck_assert_int_eq(future_error_code(future_error_cause_at(r.error, 1)),
                   UV_EIO);
  ck_assert_int_eq(future_error_code(future_error_cause_at(r.error, 2)),
                   UV_ENOENT);
  ck_assert_ptr_null(future_error_cause_at(r.error, 3));
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_any_empty_rejects_aggregate) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_any(&loop, NULL, 0), &r),
                   FUTURE_EAGGREGATE);
  ck_assert_uint_eq(future_error_cause_count(r.error), 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_race_first_outcome_either_way) {
  uv_loop_t loop;
  later_t l;
  future_t *in[2];
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in[0] = later(&loop, &l, 30, 1, 0);
  in[1] = future_then(future_delay(&loop, 1), NULL, NULL, NULL);
  ck_assert_int_eq(future_wait(future_race(&loop, in, 2), &r), 0);
  ck_assert_ptr_null(r.value); /* the delay won */
  future_result_release(&r);
  in[0] = future_delay(&loop, 60000);
  in[1] = bad(&loop, UV_ECONNRESET);
  ck_assert_int_eq(future_wait(future_race(&loop, in, 2), &r), UV_ECONNRESET);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_race_empty_is_einval) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_race(&loop, NULL, 0), &r), UV_EINVAL);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* 100,000 races against a future that never settles: each race's
 * observer on it is removed when the race is decided, so memory (the
 * number of live futures) stays flat. */
START_TEST(test_race_against_never_stays_flat) {
  uv_loop_t loop;
  future_t *never;
  size_t live_after_first = 0;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  never = future_new(&loop);
  for (i = 0; i < 100000; i++) {
    future_t *in[2];
    future_result_t r;
    in[0] = future_ref(never);
    in[1] = ok(&loop, i);
    ck_assert_int_eq(future_wait(future_race(&loop, in, 2), &r), 0);
    ck_assert_int_eq(P2INT(r.value), i);
    future_result_release(&r);
    if (i == 0)
      live_after_first = future_loop_live(&loop);
    else
      ck_assert_uint_eq(future_loop_live(&loop), live_after_first);
  }
  ck_assert_uint_eq(live_after_first, 1); /* just `never` */
  ck_assert_int_eq(future_state(never), FUTURE_PENDING); /* held: spared */
  future_unref(never);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_cancel_combined_cancels_inputs) {
  uv_loop_t loop;
  future_t *in[3], *all;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in[0] = future_delay(&loop, 60000);
  in[1] = future_delay(&loop, 60000);
  in[2] = ok(&loop, 3);
  all = future_all(&loop, in, 3);
  ck_assert_int_eq(future_cancel(all), 0);
  ck_assert_int_eq(future_wait(all, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* delays stopped */
  LOOP_CLOSE(&loop);
}
END_TEST

/* An input that nobody else holds and nobody can settle is released; the
 * combination hears of it instead of waiting forever, and nothing leaks
 * whether or not the caller keeps the result. */
START_TEST(test_combine_input_released_unsettled) {
  uv_loop_t loop;
  future_t *in[2];
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  in[0] = future_new(&loop); /* consumed: nobody can settle it */
  in[1] = future_delay(&loop, 60000);
  ck_assert_int_eq(future_wait(future_all(&loop, in, 2), &r), FUTURE_ESTALLED);
  ck_assert_str_eq(future_error_message(r.error),
                   "input 0 was released unsettled: nothing can settle the "
                   "future any more (FUTURE_ESTALLED)");
  future_result_release(&r);
  in[0] = future_new(&loop);
  in[1] = bad(&loop, UV_EIO);
  ck_assert_int_eq(future_wait(future_any(&loop, in, 2), &r),
                   FUTURE_EAGGREGATE);
  ck_assert_int_eq(future_error_code(future_error_cause_at(r.error, 0)),
                   FUTURE_ESTALLED);
  ck_assert_int_eq(future_error_code(future_error_cause_at(r.error, 1)),
                   UV_EIO);
  future_result_release(&r);
  in[0] = future_new(&loop);
  in[1] = ok(&loop, 5);
  ck_assert_int_eq(future_wait(future_race(&loop, in, 2), &r), 0);
  ck_assert_int_eq(P2INT(r.value), 5);
  future_result_release(&r);
  /* Result dropped too: everything goes, and the aggregate error that
   * nobody looks at is reported. */
  {
    unhandled_counter_t c;
    unhandled_install(&c);
    in[0] = future_new(&loop);
    future_unref(future_any(&loop, in, 1));
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(c.count, 1);
    ck_assert_int_eq(c.last_code, FUTURE_EAGGREGATE);
    unhandled_restore(&c);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* b adopts all([a, b]): b would wait on itself through the combinator. */
START_TEST(test_combine_cycle_through_adopt_is_refused) {
  uv_loop_t loop;
  future_t *a, *b, *in[2], *all;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = future_new(&loop);
  b = future_new(&loop);
  in[0] = future_ref(a);
  in[1] = future_ref(b);
  all = future_all(&loop, in, 2);
  ck_assert_int_eq(future_adopt(b, future_ref(all)), 0);
  ck_assert_int_eq(future_error_code(future_error(b)), FUTURE_ECYCLE);
  ck_assert_int_eq(future_resolve(a, NULL, NULL), 0);
  ck_assert_int_eq(future_wait(all, &r), FUTURE_ECYCLE); /* b's error */
  future_result_release(&r);
  future_unref(a);
  future_unref(b);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The value of future_all and future_all_settled holds the input futures,
 * which belong to the loop. A result released on another thread (which
 * the header allows) must not release them there: their values'
 * destructors run on the loop's thread, after the loop has taken the
 * release in. */
static uv_thread_t loop_thread;
static int dtor_on_loop_thread, dtor_elsewhere;

static void note_dtor_thread(void *v) {
  uv_thread_t self = uv_thread_self();
  (void)v;
  if (uv_thread_equal(&self, &loop_thread))
    dtor_on_loop_thread++;
  else
    dtor_elsewhere++;
}

static void release_result(void *arg) { future_result_release(arg); }

START_TEST(test_list_released_on_another_thread) {
  uv_loop_t loop;
  future_result_t r;
  uv_thread_t tid;
  future_t *in[3];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  loop_thread = uv_thread_self();
  dtor_on_loop_thread = dtor_elsewhere = 0;
  for (int mode = 0; mode < 2; mode++) {
    for (int i = 0; i < 3; i++)
      in[i] = future_resolved(&loop, INT2P(i + 1), note_dtor_thread);
    ck_assert_int_eq(future_wait(mode ? future_all_settled(&loop, in, 3)
                                      : future_all(&loop, in, 3),
                                 &r),
                     0);
    ck_assert_uint_eq(((future_list_t *)r.value)->count, 3);
    ck_assert_int_eq(uv_thread_create(&tid, release_result, &r), 0);
    ck_assert_int_eq(uv_thread_join(&tid), 0);
    ck_assert_ptr_null(r.value);
  }
  ck_assert_int_eq(dtor_elsewhere, 0);
  /* The first release was taken in while the second round ran the loop.
   * Nothing keeps the loop running now, so the second one waits for the
   * loop's thread to call in: future_loop_close takes it in. */
  ck_assert_uint_eq(future_loop_live(&loop), 3);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(dtor_on_loop_thread, 6);
  ck_assert_int_eq(dtor_elsewhere, 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Many threads release results while the loop's thread keeps making and
 * freeing futures: under ThreadSanitizer or the sanitizers, any release
 * that touched the loop's futures from those threads shows up. */
#define RELEASERS 4
#define RELEASES 200

typedef struct {
  future_result_t results[RELEASES];
  atomic_int *done;
} releaser_t;

static void release_many(void *arg) {
  releaser_t *rl = arg;
  for (int i = 0; i < RELEASES; i++)
    future_result_release(&rl->results[i]);
  atomic_fetch_add(rl->done, 1);
}

START_TEST(test_list_released_on_threads_while_loop_runs) {
  uv_loop_t loop;
  static releaser_t rl[RELEASERS];
  uv_thread_t tids[RELEASERS];
  atomic_int done;
  future_t *in[4];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  atomic_init(&done, 0);
  for (int t = 0; t < RELEASERS; t++) {
    rl[t].done = &done;
    for (int i = 0; i < RELEASES; i++) {
      for (int k = 0; k < 4; k++)
        in[k] = future_resolved(&loop, INT2P(k), NULL);
      ck_assert_int_eq(future_wait(future_all(&loop, in, 4), &rl[t].results[i]),
                       0);
    }
  }
  for (int t = 0; t < RELEASERS; t++)
    ck_assert_int_eq(uv_thread_create(&tids[t], release_many, &rl[t]), 0);
  while (atomic_load(&done) < RELEASERS) {
    /* Keep the loop's own futures churning meanwhile. */
    future_result_t r;
    future_t *f = future_resolved(&loop, NULL, NULL);
    for (int k = 0; k < 16; k++)
      f = future_then(f, NULL, NULL, NULL);
    ck_assert_int_eq(future_wait(f, &r), 0);
    future_result_release(&r);
  }
  for (int t = 0; t < RELEASERS; t++)
    ck_assert_int_eq(uv_thread_join(&tids[t]), 0);
  ck_assert_int_eq(future_loop_close(&loop), 0); /* takes the rest in */
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *make_combine_suite(void) {
  Suite *s = suite_create("combine");
  TCase *all = tcase_create("All");
  TCase *any = tcase_create("AnyRace");
  TCase *cancel = tcase_create("Cancel");
  tcase_add_test(all, test_all_fulfils_in_input_order);
  tcase_add_test(all, test_all_empty_fulfils_empty_list);
  tcase_add_test(all, test_all_fails_fast_and_cancels_rest);
  tcase_add_test(all, test_all_spares_inputs_held_elsewhere);
  tcase_add_test(all, test_all_null_or_foreign_input_is_einval);
  tcase_add_test(all, test_all_settled_reports_each_outcome);
  tcase_add_test(all, test_list_released_on_another_thread);
  tcase_add_test(all, test_list_released_on_threads_while_loop_runs);
  tcase_add_test(any, test_any_first_fulfilment_wins);
  tcase_add_test(any, test_any_all_rejected_aggregates_causes);
  tcase_add_test(any, test_any_empty_rejects_aggregate);
  tcase_add_test(any, test_race_first_outcome_either_way);
  tcase_add_test(any, test_race_empty_is_einval);
  tcase_set_timeout(any, 120);
  tcase_add_test(any, test_race_against_never_stays_flat);
  tcase_add_test(cancel, test_cancel_combined_cancels_inputs);
  tcase_add_test(cancel, test_combine_input_released_unsettled);
  tcase_add_test(cancel, test_combine_cycle_through_adopt_is_refused);
  suite_add_tcase(s, all);
  suite_add_tcase(s, any);
  suite_add_tcase(s, cancel);
  return s;
}
