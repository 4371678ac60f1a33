/* future_map: N inputs, at most K in flight, results in order
 * (src/map.c). */
#include "helpers.h"
#include "suites.h"

typedef struct {
  size_t limit;
  size_t in_flight;
  size_t peak;
  size_t started;
  size_t fail_at;  /* index that fails, or (size_t)-1 */
} map_probe_t;

static future_t *count_down(future_t *settled, void *data) {
  map_probe_t *p = data;
  p->in_flight--;
  return future_ref(settled);
}

/* Input `fail_at` fails after a millisecond; the others are short delays. */
static future_t *fail_step(future_t *settled, void *data) {
  return future_rejected(future_loop(settled),
                         future_error_new(UV_EIO, "input %d", P2INT(data)));
}

static future_t *make_input(uv_loop_t *loop, size_t i, void *data) {
  map_probe_t *p = data;
  future_t *f;
  p->started++;
  if (++p->in_flight > p->peak)
    p->peak = p->in_flight;
  if (i == p->fail_at)
    f = future_then(future_delay(loop, 1), fail_step, NULL, INT2P(i));
  else
    f = future_delay(loop, (uint64_t)(i % 3));
  return future_finally(f, count_down, p);
}

static future_t *index_value(uv_loop_t *loop, size_t i, void *data) {
  map_probe_t *p = data;
  p->started++;
  if (++p->in_flight > p->peak)
    p->peak = p->in_flight;
  return future_finally(
      future_then(future_delay(loop, (uint64_t)(i % 4)), NULL, NULL, NULL),
      count_down, p);
}

START_TEST(test_map_respects_limit_and_order) {
  uv_loop_t loop;
  map_probe_t p = {8, 0, 0, 0, (size_t)-1};
  future_result_t r;
  const future_list_t *list;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_map(&loop, 200, 8, index_value, &p), &r),
                   0);
  list = r.value;
  ck_assert_uint_eq(list->count, 200);
  for (size_t i = 0; i < list->count; i++)
    ck_assert_int_eq(future_state(list->items[i]), FUTURE_FULFILLED);
  ck_assert_uint_eq(p.started, 200);
  ck_assert_uint_le(p.peak, 8);
  ck_assert_uint_eq(p.peak, 8); /* and it does use the room it has */
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *value_is_index(uv_loop_t *loop, size_t i, void *data) {
  (void)data;
  /* Later indices settle sooner: order must come from the input, not
   * from completion. */
  return future_then(future_delay(loop, (uint64_t)(20 - i)),
                     NULL, NULL, NULL);
}

static future_t *tag(future_t *settled, void *data) {
  return future_resolved(future_loop(settled), data, NULL);
}

static future_t *tagged(uv_loop_t *loop, size_t i, void *data) {
  return future_then(value_is_index(loop, i, data), tag, NULL, INT2P(i));
}

START_TEST(test_map_results_in_input_order) {
  uv_loop_t loop;
  future_result_t r;
  const future_list_t *list;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_map(&loop, 20, 0, tagged, NULL), &r), 0);
  list = r.value;
  for (size_t i = 0; i < 20; i++)
    ck_assert_int_eq(P2INT(future_value(list->items[i])), (int)i);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_map_fails_fast_and_stops_starting) {
  uv_loop_t loop;
  map_probe_t p = {4, 0, 0, 0, 10};
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_map(&loop, 1000, 4, make_input, &p), &r),
                   UV_EIO);
  ck_assert_str_eq(future_error_message(r.error),
                   "input 10: i/o error (EIO)");
  future_result_release(&r);
  ck_assert_uint_lt(p.started, 1000); /* no new inputs after the failure */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_map_empty_and_bad_arguments) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_map(&loop, 0, 4, tagged, NULL), &r), 0);
  ck_assert_uint_eq(((future_list_t *)r.value)->count, 0);
  future_result_release(&r);
  ck_assert_ptr_null(future_map(NULL, 1, 1, tagged, NULL));
  ck_assert_ptr_null(future_map(&loop, 1, 1, NULL, NULL));
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *returns_null(uv_loop_t *loop, size_t i, void *data) {
  (void)loop;
  (void)i;
  (void)data;
  return NULL;
}

START_TEST(test_map_null_input_is_enomem) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_map(&loop, 3, 1, returns_null, NULL), &r),
                   UV_ENOMEM);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_map_cancel_stops_everything) {
  uv_loop_t loop;
  map_probe_t p = {4, 0, 0, 0, (size_t)-1};
  future_t *m;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  m = future_map(&loop, 100, 4, index_value, &p);
  ck_assert_uint_eq(p.started, 4);
  ck_assert_int_eq(future_cancel(m), 0);
  ck_assert_int_eq(future_wait(m, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_uint_eq(p.started, 4);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The factory runs as a library callback: waiting in it is refused. */
static future_t *waits_inside(uv_loop_t *loop, size_t i, void *data) {
  int *status = data;
  future_result_t r;
  status[i] = future_wait(future_delay(loop, 1), &r);
  future_result_release(&r);
  return future_resolved(loop, INT2P(i), NULL);
}

START_TEST(test_map_wait_in_factory_is_refused) {
  uv_loop_t loop;
  int status[4] = {0, 0, 0, 0};
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_map(&loop, 4, 2, waits_inside, status),
                               &r),
                   0);
  future_result_release(&r);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(status[i], FUTURE_EINCALLBACK);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A factory that cancels the map's own result: the map stops, what the
 * factory returned is released, and nothing is touched after it is
 * freed. */
typedef struct {
  future_t *result;
  size_t cancel_at;
  size_t calls;
  int dtors;
} map_cancel_t;

static void count_map_dtor(void *v) { ((map_cancel_t *)v)->dtors++; }

static future_t *cancels_own_map(uv_loop_t *loop, size_t i, void *data) {
  map_cancel_t *mc = data;
  mc->calls++;
  if (i == mc->cancel_at)
    ck_assert_int_eq(future_cancel(mc->result), 0);
  return future_resolved(loop, mc, count_map_dtor);
}

START_TEST(test_map_cancel_from_factory) {
  uv_loop_t loop;
  future_result_t r;
  size_t limits[] = {1, 2, 3};
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
    /* With a limit, index 3 starts from the settling of an earlier one,
     * when the caller already holds the result. */
    map_cancel_t mc = {NULL, 3, 0, 0};
    mc.result = future_map(&loop, 6, limits[k], cancels_own_map, &mc);
    ck_assert_ptr_nonnull(mc.result);
    ck_assert_int_eq(future_wait(mc.result, &r), UV_ECANCELED);
    ck_assert_uint_eq(mc.calls, 4); /* no input started after the cancel */
    future_result_release(&r);
    ck_assert_int_eq(mc.dtors, (int)mc.calls);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* A factory that returns a future of another loop fails the map with
 * UV_EINVAL, and nothing after it starts. */
static future_t *foreign_at_two(uv_loop_t *loop, size_t i, void *data) {
  uv_loop_t *other = data;
  return future_resolved(i == 2 ? other : loop, INT2P(i), NULL);
}

START_TEST(test_map_input_of_another_loop_is_einval) {
  uv_loop_t loop, other;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  ck_assert_int_eq(
      future_wait(future_map(&loop, 5, 1, foreign_at_two, &other), &r),
      UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "future_map: input 2 is of another loop: invalid argument "
                   "(EINVAL)");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

/* A factory that returns the map's own result, or a future that waits on
 * it, is a cycle: the map rejects with FUTURE_ECYCLE instead of waiting
 * for itself for ever, and nothing leaks. */
typedef struct {
  future_t *result;
  int follower; /* return a future that waits on the result */
} map_self_t;

static future_t *returns_the_map(uv_loop_t *loop, size_t i, void *data) {
  map_self_t *ms = data;
  if (i < 1)
    return future_resolved(loop, INT2P(i), NULL);
  return ms->follower ? future_then(future_ref(ms->result), NULL, NULL, NULL)
                      : future_ref(ms->result);
}

START_TEST(test_map_factory_returning_the_map_is_a_cycle) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (int follower = 0; follower < 2; follower++) {
    map_self_t ms = {NULL, follower};
    ms.result = future_map(&loop, 3, 1, returns_the_map, &ms);
    ck_assert_int_eq(future_wait(ms.result, &r), FUTURE_ECYCLE);
    future_result_release(&r);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* The cycle check sees through a map: a future that would adopt a map
 * one of whose inputs (still in flight, behind one already settled) waits
 * on that future is refused with FUTURE_ECYCLE. */
static future_t *follow_data(uv_loop_t *loop, size_t i, void *data) {
  if (i == 0)
    return future_resolved(loop, NULL, NULL);
  return future_then(future_ref(data), NULL, NULL, NULL);
}

START_TEST(test_map_cycle_through_an_input_is_refused) {
  uv_loop_t loop;
  future_t *f, *m;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  m = future_map(&loop, 2, 0, follow_data, f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0); /* input 0 settles */
  ck_assert_int_eq(future_adopt(f, future_ref(m)), 0);
  ck_assert_int_eq(future_wait(f, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(m, &r), FUTURE_ECYCLE); /* its input's */
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_map_suite(void) {
  Suite *s = suite_create("map");
  TCase *core = tcase_create("Core");
  tcase_set_timeout(core, 60);
  tcase_add_test(core, test_map_respects_limit_and_order);
  tcase_add_test(core, test_map_results_in_input_order);
  tcase_add_test(core, test_map_fails_fast_and_stops_starting);
  tcase_add_test(core, test_map_empty_and_bad_arguments);
  tcase_add_test(core, test_map_null_input_is_enomem);
  tcase_add_test(core, test_map_cancel_stops_everything);
  tcase_add_test(core, test_map_cancel_from_factory);
  tcase_add_test(core, test_map_input_of_another_loop_is_einval);
  tcase_add_test(core, test_map_factory_returning_the_map_is_a_cycle);
  tcase_add_test(core, test_map_cycle_through_an_input_is_refused);
  tcase_add_test(core, test_map_wait_in_factory_is_refused);
  suite_add_tcase(s, core);
  return s;
}
