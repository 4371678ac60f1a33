/* Continuations: then, catch, finally; asynchrony, order, error routing,
 * fan-out, flattening, and chains of a million links (src/chain.c). */
#include "helpers.h"
#include "suites.h"

#include <stdlib.h>
#include <string.h>

/* A log of which step ran, in order. */
typedef struct {
  char text[512];
} trail_t;

static void note(trail_t *t, const char *what) {
  strncat(t->text, what, sizeof t->text - strlen(t->text) - 1);
  strncat(t->text, " ", sizeof t->text - strlen(t->text) - 1);
}

typedef struct {
  trail_t *trail;
  const char *name;
  int add;          /* then: fulfil with value + add */
  int raise;        /* then/catch: reject with this code instead */
} step_t;

static future_t *step_add(future_t *settled, void *data) {
  step_t *s = data;
  note(s->trail, s->name);
  if (s->raise)
    return future_rejected(future_loop(settled),
                           future_error_new(s->raise, "%s", s->name));
  return future_resolved(future_loop(settled),
                         INT2P(P2INT(future_value(settled)) + s->add), NULL);
}

static future_t *step_recover(future_t *settled, void *data) {
  step_t *s = data;
  note(s->trail, s->name);
  return future_resolved(future_loop(settled), INT2P(s->add), NULL);
}

static future_t *step_reraise(future_t *settled, void *data) {
  step_t *s = data;
  note(s->trail, s->name);
  return future_ref(settled);
}

static future_t *step_wrap(future_t *settled, void *data) {
  step_t *s = data;
  note(s->trail, s->name);
  return future_rejected(
      future_loop(settled),
      future_error_wrap(future_error(settled), s->raise, "%s", s->name));
}

/* For finally: returning NULL means "nothing to wait for". */
static future_t *step_note(future_t *settled, void *data) {
  step_t *s = data;
  (void)settled;
  note(s->trail, s->name);
  return NULL;
}

/* For then: note the step and pass the outcome on. */
static future_t *step_pass(future_t *settled, void *data) {
  step_t *s = data;
  note(s->trail, s->name);
  return future_ref(settled);
}

START_TEST(test_then_runs_from_loop_not_inline) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t s1 = {&t, "a", 1, 0};
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, INT2P(1), NULL), step_add, NULL, &s1);
  ck_assert_str_eq(t.text, ""); /* not inside future_then */
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "a ");
  ck_assert_int_eq(P2INT(future_value(f)), 2);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_then_not_inline_in_resolve) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t s1 = {&t, "a", 1, 0};
  future_t *src, *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  src = future_new(&loop);
  f = future_then(future_ref(src), step_add, NULL, &s1);
  ck_assert_int_eq(future_resolve(src, INT2P(5), NULL), 0);
  ck_assert_str_eq(t.text, ""); /* not inside future_resolve */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(P2INT(future_value(f)), 6);
  future_unref(src);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_then_rejects_skip_to_catch) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", 1, 0}, b = {&t, "b", 1, UV_ENOENT},
         c = {&t, "c", 1, 0}, d = {&t, "d", 1, 0}, k = {&t, "catch", 100, 0},
         e = {&t, "e", 1, 0};
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_resolved(&loop, INT2P(0), NULL);
  f = future_then(f, step_add, NULL, &a);
  f = future_then(f, step_add, NULL, &b); /* raises */
  f = future_then(f, step_add, NULL, &c); /* skipped */
  f = future_then(f, step_add, NULL, &d); /* skipped */
  f = future_catch(f, step_recover, &k);  /* recovers with 100 */
  f = future_then(f, step_add, NULL, &e); /* runs again */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "a b catch e ");
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_int_eq(P2INT(future_value(f)), 101);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_catch_skipped_on_fulfilment) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t k = {&t, "catch", 0, 0};
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_catch(future_resolved(&loop, INT2P(9), NULL), step_recover, &k);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "");
  ck_assert_int_eq(P2INT(future_value(f)), 9);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_catch_reraise_keeps_same_error) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t k1 = {&t, "k1", 0, 0}, k2 = {&t, "k2", 0, 0};
  future_error_t *e = future_error_new(UV_EPIPE, "write");
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_rejected(&loop, future_error_ref(e));
  f = future_catch(f, step_reraise, &k1);
  f = future_catch(f, step_reraise, &k2);
  ck_assert_int_eq(future_wait(f, &r), UV_EPIPE);
  ck_assert_str_eq(t.text, "k1 k2 ");
  ck_assert_ptr_eq(r.error, e); /* the very same error object */
  future_result_release(&r);
  future_error_unref(e);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Passing the settled future on (`return future_ref(settled)`) hands its
 * outcome over: moved when nothing else holds the future, shared when
 * something does. Either way a value with a destructor arrives intact and
 * is destroyed once, after its last holder lets go. */
static int passed_freed;
static void passed_free(void *v) {
  passed_freed++;
  free(v);
}

START_TEST(test_pass_through_moves_or_shares_the_outcome) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", 0, 0}, b = {&t, "b", 0, 0}, c = {&t, "c", 0, 0};
  future_t *held, *chained, *alone;
  int *v1 = malloc(sizeof *v1), *v2 = malloc(sizeof *v2);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  *v1 = 1;
  *v2 = 2;
  passed_freed = 0;
  held = future_resolved(&loop, v1, passed_free);
  chained = future_then(future_ref(held), step_pass, NULL, &a);
  alone = future_then(future_then(future_resolved(&loop, v2, passed_free),
                                  step_pass, NULL, &b),
                      step_pass, NULL, &c);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "a b c ");
  /* Shared with `held`, which still has it. */
  ck_assert_ptr_eq(future_value(chained), v1);
  ck_assert_ptr_eq(future_value(held), v1);
  /* Moved twice along a chain nothing else holds. */
  ck_assert_ptr_eq(future_value(alone), v2);
  ck_assert_int_eq(passed_freed, 0);
  future_unref(chained);
  ck_assert_int_eq(passed_freed, 0);
  future_unref(held);
  ck_assert_int_eq(passed_freed, 1);
  future_unref(alone);
  ck_assert_int_eq(passed_freed, 2);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_catch_wrap_adds_context_with_cause) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t w = {&t, "loading settings", 0, FUTURE_EUSER(1)};
  future_error_t *e = future_error_new(UV_ENOENT, "open 'conf.json'");
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_catch(future_rejected(&loop, future_error_ref(e)), step_wrap, &w);
  ck_assert_int_eq(future_wait(f, &r), FUTURE_EUSER(1));
  ck_assert_str_eq(future_error_message(r.error), "loading settings");
  ck_assert_ptr_eq(future_error_cause(r.error), e);
  future_result_release(&r);
  future_error_unref(e);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_finally_runs_on_both_and_passes_through) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t n1 = {&t, "fin1", 0, 0}, n2 = {&t, "fin2", 0, 0};
  future_t *ok, *bad;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ok = future_finally(future_resolved(&loop, INT2P(3), NULL), step_note, &n1);
  bad = future_finally(
      future_rejected(&loop, future_error_new(UV_EIO, "x")), step_note, &n2);
  ck_assert_int_eq(future_wait(ok, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 3);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(bad, &r), UV_EIO);
  future_result_release(&r);
  ck_assert_str_eq(t.text, "fin1 fin2 ");
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *finally_fails(future_t *settled, void *data) {
  (void)data;
  return future_rejected(future_loop(settled),
                         future_error_new(UV_EBUSY, "cleanup"));
}

static future_t *finally_returns_value(future_t *settled, void *data) {
  (void)data;
  return future_resolved(future_loop(settled), INT2P(999), NULL);
}

START_TEST(test_finally_failure_replaces_outcome) {
  uv_loop_t loop;
  future_t *f, *g;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_finally(future_resolved(&loop, INT2P(3), NULL), finally_fails,
                     NULL);
  g = future_finally(future_rejected(&loop, future_error_new(UV_EIO, "x")),
                     finally_fails, NULL);
  ck_assert_int_eq(future_wait(f, &r), UV_EBUSY);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(g, &r), UV_EBUSY);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_finally_value_does_not_replace_outcome) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_finally(future_resolved(&loop, INT2P(3), NULL),
                     finally_returns_value, NULL);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 3);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* finally waits for the future its callback returns before passing on. */
static future_t *finally_waits(future_t *settled, void *data) {
  future_t **gate = data;
  (void)settled;
  return future_ref(*gate);
}

START_TEST(test_finally_waits_for_returned_future) {
  uv_loop_t loop;
  future_t *gate, *f;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  gate = future_new(&loop);
  f = future_finally(future_resolved(&loop, INT2P(4), NULL), finally_waits,
                     &gate);
  for (i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_resolve(gate, INT2P(77), NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_int_eq(P2INT(future_value(f)), 4);
  future_unref(gate);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_finally_waits_then_rejection_wins) {
  uv_loop_t loop;
  future_t *gate, *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  gate = future_new(&loop);
  f = future_finally(future_resolved(&loop, INT2P(4), NULL), finally_waits,
                     &gate);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(future_reject(gate, future_error_new(UV_EAGAIN, "gate")),
                   0);
  ck_assert_int_eq(future_wait(f, &r), UV_EAGAIN);
  future_result_release(&r);
  future_unref(gate);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_null_callbacks_pass_through) {
  uv_loop_t loop;
  future_t *ok, *bad, *fin;
  future_error_t *e = future_error_new(UV_EIO, "x");
  int v = 0;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ok = future_then(future_resolved(&loop, &v, NULL), NULL, NULL, NULL);
  bad = future_catch(future_rejected(&loop, future_error_ref(e)), NULL, NULL);
  fin = future_finally(future_resolved(&loop, &v, NULL), NULL, NULL);
  ck_assert_int_eq(future_wait(ok, &r), 0);
  ck_assert_ptr_eq(r.value, &v);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(bad, &r), UV_EIO);
  ck_assert_ptr_eq(r.error, e);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(fin, &r), 0);
  ck_assert_ptr_eq(r.value, &v);
  future_result_release(&r);
  future_error_unref(e);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *return_null(future_t *settled, void *data) {
  (void)settled;
  (void)data;
  return NULL;
}

START_TEST(test_then_returning_null_rejects_enomem) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), return_null, NULL, NULL);
  ck_assert_int_eq(future_wait(f, &r), UV_ENOMEM);
  ck_assert_str_eq(future_error_message(r.error),
                   "a continuation returned NULL, not a future: not enough "
                   "memory (ENOMEM)");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *return_self(future_t *settled, void *data) {
  (void)settled;
  return future_ref(*(future_t **)data);
}

START_TEST(test_then_returning_itself_rejects_ecycle) {
  uv_loop_t loop;
  future_t *f, *g;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), return_self, NULL, &f);
  g = future_finally(future_resolved(&loop, NULL, NULL), return_self, &g);
  ck_assert_int_eq(future_wait(f, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(g, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

static future_t *return_other_loop(future_t *settled, void *data) {
  (void)settled;
  return future_resolved(data, NULL, NULL);
}

START_TEST(test_then_returning_other_loop_rejects_einval) {
  uv_loop_t loop, other;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), return_other_loop, NULL,
                  &other);
  ck_assert_int_eq(future_wait(f, &r), UV_EINVAL);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

/* A callback that returns a pending future which itself waits on the
 * chained future: waiting would never end, so the chained future rejects
 * with FUTURE_ECYCLE, for then as for finally; the returned future, which
 * follows it, gets the same error. (The test keeps the returned future to
 * see that, so that no rejection goes unobserved.) */
typedef struct {
  future_t *self;     /* the chained future */
  future_t *follower; /* what the callback returned */
} follow_t;

static future_t *return_follower(future_t *settled, void *data) {
  follow_t *fo = data;
  (void)settled;
  fo->follower = future_then(future_ref(fo->self), NULL, NULL, NULL);
  return future_ref(fo->follower);
}

START_TEST(test_then_returning_a_follower_rejects_ecycle) {
  uv_loop_t loop;
  follow_t a = {NULL, NULL}, b = {NULL, NULL};
  future_result_t r;
  unhandled_counter_t c;
  unhandled_install(&c);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a.self = future_then(future_resolved(&loop, NULL, NULL), return_follower,
                       NULL, &a);
  b.self = future_finally(future_resolved(&loop, NULL, NULL), return_follower,
                          &b);
  ck_assert_int_eq(future_wait(a.self, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(b.self, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(a.follower, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(b.follower, &r), FUTURE_ECYCLE);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  unhandled_restore(&c);
  ck_assert_int_eq(c.count, 0);
}
END_TEST

/* finally's callback returning a future of another loop: as for then,
 * UV_EINVAL, whatever the outcome it would have passed on. */
START_TEST(test_finally_returning_other_loop_rejects_einval) {
  uv_loop_t loop, other;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  f = future_finally(future_resolved(&loop, INT2P(5), NULL), return_other_loop,
                     &other);
  ck_assert_int_eq(future_wait(f, &r), UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "continuation returned a future of another loop: invalid "
                   "argument (EINVAL)");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  LOOP_CLOSE(&other);
}
END_TEST

/* A callback that cancels its own chained future and then passes the
 * outcome on: the cancel stands, and the value it would have passed is
 * not kept by the chained future (its destructor runs once, at once). */
static int pass_dtor_calls;
static void pass_dtor(void *v) {
  pass_dtor_calls++;
  free(v);
}

static future_t *cancel_myself_and_pass(future_t *settled, void *data) {
  ck_assert_int_eq(future_cancel(*(future_t **)data), 0);
  return future_ref(settled);
}

START_TEST(test_then_cancelled_by_own_callback_then_pass_through) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  pass_dtor_calls = 0;
  f = future_then(future_resolved(&loop, malloc(8), pass_dtor),
                  cancel_myself_and_pass, NULL, &f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_ptr_null(future_value(f));
  ck_assert_int_eq(pass_dtor_calls, 1);
  ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(pass_dtor_calls, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Fan-out: every continuation of one future sees the same outcome, in the
 * order attached; the value's destructor runs once, after all of them. */
static int fan_dtor_calls;
static void fan_dtor(void *v) {
  fan_dtor_calls++;
  free(v);
}

typedef struct {
  trail_t *trail;
  const char *name;
  void *expect;
} fan_t;

static future_t *fan_check(future_t *settled, void *data) {
  fan_t *fa = data;
  ck_assert_ptr_eq(future_value(settled), fa->expect);
  ck_assert_int_eq(fan_dtor_calls, 0);
  note(fa->trail, fa->name);
  return future_ref(settled);
}

START_TEST(test_fanout_same_value_in_order) {
  uv_loop_t loop;
  trail_t t = {""};
  int *v = malloc(sizeof *v);
  future_t *src, *outs[5];
  fan_t fans[5];
  char names[5][4];
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fan_dtor_calls = 0;
  src = future_new(&loop);
  for (i = 0; i < 5; i++) {
    snprintf(names[i], sizeof names[i], "f%d", i);
    fans[i].trail = &t;
    fans[i].name = names[i];
    fans[i].expect = v;
    outs[i] = future_then(future_ref(src), fan_check, NULL, &fans[i]);
  }
  ck_assert_int_eq(future_resolve(src, v, fan_dtor), 0);
  future_unref(src);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "f0 f1 f2 f3 f4 ");
  ck_assert_int_eq(fan_dtor_calls, 0); /* the outputs still share it */
  for (i = 0; i < 5; i++) {
    ck_assert_ptr_eq(future_value(outs[i]), v);
    future_unref(outs[i]);
  }
  ck_assert_int_eq(fan_dtor_calls, 1);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Handlers attached while the queue drains run after those already queued,
 * in the same turn of the loop. */
typedef struct {
  trail_t *trail;
  future_t *src;
  future_t *late;
  step_t late_step;
} adder_t;

static future_t *attach_more(future_t *settled, void *data) {
  adder_t *a = data;
  note(a->trail, "first");
  a->late = future_then(future_ref(a->src), step_pass, NULL, &a->late_step);
  return future_ref(settled);
}

START_TEST(test_handlers_added_during_drain_run_in_order) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t second = {&t, "second", 0, 0};
  adder_t a;
  future_t *f1, *f2;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a.trail = &t;
  a.src = future_resolved(&loop, NULL, NULL);
  a.late_step = (step_t){&t, "late", 0, 0};
  f1 = future_then(future_ref(a.src), attach_more, NULL, &a);
  f2 = future_then(future_ref(a.src), step_pass, NULL, &second);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
  ck_assert_str_eq(t.text, "first second late ");
  future_unref(f1);
  future_unref(f2);
  future_unref(a.late);
  future_unref(a.src);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A continuation that returns a pending future: the chain waits for it. */
static future_t *return_gate(future_t *settled, void *data) {
  (void)settled;
  return future_ref(*(future_t **)data);
}

START_TEST(test_then_flattens_pending_future) {
  uv_loop_t loop;
  future_t *gate, *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  gate = future_new(&loop);
  f = future_then(future_resolved(&loop, NULL, NULL), return_gate, NULL,
                  &gate);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_resolve(gate, INT2P(12), NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(P2INT(future_value(f)), 12);
  future_unref(gate);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The deep-chain cases run on a thread with a 256 KiB stack: a recursive
 * implementation (in running, settling or freeing) would overflow it. */
#define DEEP_LINKS 1000000
#define SMALL_STACK (256 * 1024)

static future_t *add_one(future_t *settled, void *data) {
  (void)data;
  return future_resolved(future_loop(settled),
                         INT2P(P2INT(future_value(settled)) + 1), NULL);
}

static void run_on_small_stack(uv_thread_cb body, void *arg) {
  uv_thread_t tid;
  uv_thread_options_t opts;
  opts.flags = UV_THREAD_HAS_STACK_SIZE;
  opts.stack_size = SMALL_STACK;
  ck_assert_int_eq(uv_thread_create_ex(&tid, &opts, body, arg), 0);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
}

typedef struct {
  int result;
  size_t live_peak;
  int ok;
} deep_t;

static void deep_built_body(void *arg) {
  deep_t *d = arg;
  uv_loop_t loop;
  future_t *root, *f;
  int i;
  if (uv_loop_init(&loop) != 0)
    return;
  root = future_new(&loop);
  f = future_ref(root);
  for (i = 0; i < DEEP_LINKS; i++)
    f = future_then(f, add_one, NULL, NULL);
  d->live_peak = future_loop_live(&loop);
  future_resolve(root, INT2P(0), NULL);
  future_unref(root);
  uv_run(&loop, UV_RUN_DEFAULT);
  d->result = P2INT(future_value(f));
  future_unref(f);
  d->ok = future_loop_live(&loop) == 0 && future_loop_close(&loop) == 0 &&
          uv_loop_close(&loop) == 0;
}

START_TEST(test_deep_chain_built_up_front) {
  deep_t d = {0, 0, 0};
  run_on_small_stack(deep_built_body, &d);
  ck_assert_uint_eq(d.live_peak, DEEP_LINKS + 1);
  ck_assert_int_eq(d.result, DEEP_LINKS);
  ck_assert(d.ok);
}
END_TEST

/* chain_loop: each continuation chains the next hop itself. */
typedef struct {
  int remaining;
} hops_t;

static future_t *hop(future_t *settled, void *data) {
  hops_t *h = data;
  int v = P2INT(future_value(settled));
  if (h->remaining-- == 0)
    return future_ref(settled);
  return future_then(future_resolved(future_loop(settled), INT2P(v + 1), NULL),
                     hop, NULL, h);
}

static void deep_loop_body(void *arg) {
  deep_t *d = arg;
  uv_loop_t loop;
  hops_t h = {DEEP_LINKS};
  future_t *f;
  if (uv_loop_init(&loop) != 0)
    return;
  f = future_then(future_resolved(&loop, INT2P(0), NULL), hop, NULL, &h);
  uv_run(&loop, UV_RUN_DEFAULT);
  d->result = P2INT(future_value(f));
  future_unref(f);
  d->ok = future_loop_live(&loop) == 0 && future_loop_close(&loop) == 0 &&
          uv_loop_close(&loop) == 0;
}

START_TEST(test_deep_chain_one_hop_at_a_time) {
  deep_t d = {0, 0, 0};
  run_on_small_stack(deep_loop_body, &d);
  ck_assert_int_eq(d.result, DEEP_LINKS);
  ck_assert(d.ok);
}
END_TEST

static void deep_free_body(void *arg) {
  deep_t *d = arg;
  uv_loop_t loop;
  future_t *root, *f;
  int i;
  if (uv_loop_init(&loop) != 0)
    return;
  root = future_new(&loop);
  f = future_ref(root);
  for (i = 0; i < DEEP_LINKS; i++)
    f = future_then(f, add_one, NULL, NULL);
  future_unref(f);
  d->live_peak = future_loop_live(&loop);
  future_unref(root); /* never settled: the whole chain is freed */
  d->ok = future_loop_live(&loop) == 0 && future_loop_close(&loop) == 0 &&
          uv_loop_close(&loop) == 0;
}

START_TEST(test_deep_chain_freed_unsettled) {
  deep_t d = {0, 0, 0};
  run_on_small_stack(deep_free_body, &d);
  ck_assert_uint_eq(d.live_peak, DEEP_LINKS + 1);
  ck_assert(d.ok);
}
END_TEST

/* A rejection travels a million skipped steps to the catch at the end. */
static void deep_reject_body(void *arg) {
  deep_t *d = arg;
  uv_loop_t loop;
  future_t *root, *f;
  int i;
  if (uv_loop_init(&loop) != 0)
    return;
  root = future_new(&loop);
  f = future_ref(root);
  for (i = 0; i < DEEP_LINKS; i++)
    f = future_then(f, add_one, NULL, NULL);
  future_reject(root, future_error_new(UV_EIO, "deep"));
  future_unref(root);
  uv_run(&loop, UV_RUN_DEFAULT);
  d->result = future_error_code(future_error(f));
  {
    future_result_t r;
    future_wait(f, &r);
    future_result_release(&r);
  }
  d->ok = future_loop_live(&loop) == 0 && future_loop_close(&loop) == 0 &&
          uv_loop_close(&loop) == 0;
}

START_TEST(test_deep_chain_rejection_skips_all) {
  deep_t d = {0, 0, 0};
  run_on_small_stack(deep_reject_body, &d);
  ck_assert_int_eq(d.result, UV_EIO);
  ck_assert(d.ok);
}
END_TEST

/* finally, step 2: the parent was rejected and the callback returned a
 * pending future that then fulfils. The kept outcome is the parent's
 * error, and the chained future rejects with that very error. */
static future_t *finally_pending(future_t *settled, void *data) {
  (void)data;
  return future_delay(future_loop(settled), 1);
}

START_TEST(test_finally_step2_keeps_the_parent_error) {
  uv_loop_t loop;
  future_error_t *e = future_error_new(UV_EIO, "parent");
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(
      future_wait(future_finally(future_rejected(&loop, future_error_ref(e)),
                                 finally_pending, NULL),
                  &r),
      UV_EIO);
  ck_assert_ptr_eq(r.error, e);
  ck_assert_ptr_null(r.value);
  future_result_release(&r);
  future_error_unref(e);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled in step 2, a finally lets go of the outcome it kept: the
 * parent's value is destroyed once everything is released, and the
 * parent's error is freed (the counting allocator sees every byte back). */
static int kept_dtors;
static void kept_dtor(void *v) {
  (void)v;
  kept_dtors++;
}

static future_t *finally_never(future_t *settled, void *data) {
  future_t **never = data;
  *never = future_new(future_loop(settled));
  return future_ref(*never);
}

START_TEST(test_finally_cancelled_in_step2_releases_kept_outcome) {
  uv_loop_t loop;
  future_t *f, *never = NULL;
  future_result_t r;
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  kept_dtors = 0;
  for (int rejected = 0; rejected < 2; rejected++) {
    future_t *parent =
        rejected ? future_rejected(&loop, future_error_new(UV_EIO, "kept"))
                 : future_resolved(&loop, INT2P(1), kept_dtor);
    f = future_finally(parent, finally_never, &never);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0); /* now in step 2 */
    ck_assert_ptr_nonnull(never);
    ck_assert_int_eq(future_cancel(f), 0);
    ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
    future_result_release(&r);
    future_unref(never);
    never = NULL;
  }
  ck_assert_int_eq(kept_dtors, 1);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

Suite *make_chain_suite(void) {
  Suite *s = suite_create("chain");
  TCase *core = tcase_create("Core");
  TCase *errors = tcase_create("Errors");
  TCase *deep = tcase_create("Deep");
  tcase_add_test(core, test_pass_through_moves_or_shares_the_outcome);
  tcase_add_test(core, test_then_runs_from_loop_not_inline);
  tcase_add_test(core, test_then_not_inline_in_resolve);
  tcase_add_test(core, test_finally_runs_on_both_and_passes_through);
  tcase_add_test(core, test_finally_value_does_not_replace_outcome);
  tcase_add_test(core, test_finally_waits_for_returned_future);
  tcase_add_test(core, test_null_callbacks_pass_through);
  tcase_add_test(core, test_fanout_same_value_in_order);
  tcase_add_test(core, test_handlers_added_during_drain_run_in_order);
  tcase_add_test(core, test_then_flattens_pending_future);
  tcase_add_test(errors, test_then_rejects_skip_to_catch);
  tcase_add_test(errors, test_catch_skipped_on_fulfilment);
  tcase_add_test(errors, test_catch_reraise_keeps_same_error);
  tcase_add_test(errors, test_catch_wrap_adds_context_with_cause);
  tcase_add_test(errors, test_finally_failure_replaces_outcome);
  tcase_add_test(errors, test_finally_waits_then_rejection_wins);
  tcase_add_test(errors, test_finally_step2_keeps_the_parent_error);
  tcase_add_test(errors, test_finally_cancelled_in_step2_releases_kept_outcome);
  tcase_add_test(errors, test_then_returning_null_rejects_enomem);
  tcase_add_test(errors, test_then_returning_itself_rejects_ecycle);
  tcase_add_test(errors, test_then_returning_other_loop_rejects_einval);
  tcase_add_test(errors, test_then_returning_a_follower_rejects_ecycle);
  tcase_add_test(errors, test_finally_returning_other_loop_rejects_einval);
  tcase_add_test(errors, test_then_cancelled_by_own_callback_then_pass_through);
  /* Generous: under valgrind a million links take a while. */
  tcase_set_timeout(deep, 600);
  tcase_add_test(deep, test_deep_chain_built_up_front);
  tcase_add_test(deep, test_deep_chain_one_hop_at_a_time);
  tcase_add_test(deep, test_deep_chain_freed_unsettled);
  tcase_add_test(deep, test_deep_chain_rejection_skips_all);
  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, deep);
  return s;
}
