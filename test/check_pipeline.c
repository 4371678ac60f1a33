/* Pipelines: future_pipeline, future_pipeline_then, future_pipeline_then_value
 * (src/pipeline.c). The main property: a pipeline gives the outcome, and
 * runs the callbacks in the order, that the same chain of future_then
 * would; then what differs (the batch of ready steps, steps added while
 * running, value steps that change the outcome in place), cancellation,
 * release, teardown and running out of memory. */
#include "helpers.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A log of which step ran, in order. */
typedef struct {
  char text[4096];
} trail_t;

static void note(trail_t *t, const char *what) {
  strncat(t->text, what, sizeof t->text - strlen(t->text) - 1);
  strncat(t->text, " ", sizeof t->text - strlen(t->text) - 1);
}

/* What a step does, for both a then-chain and a pipeline. */
enum {
  DO_ADD,     /* fulfil with value + arg */
  DO_RAISE,   /* reject with code arg */
  DO_RECOVER, /* fulfil with arg (as a catch) */
  DO_RERAISE, /* pass the outcome on (future_ref(settled)) */
  DO_WRAP,    /* reject with code arg, the error before as its cause */
  DO_LATER,   /* fulfil with value + arg through a future settled later */
};

typedef struct {
  trail_t *trail;
  char name[8];
  int what, arg;
  future_t **later; /* DO_LATER: where the pending future goes */
} step_t;

static future_t *step_run(future_t *settled, void *data) {
  step_t *s = data;
  uv_loop_t *loop = future_loop(settled);
  int v = future_state(settled) == FUTURE_FULFILLED
              ? P2INT(future_value(settled))
              : 0;
  note(s->trail, s->name);
  switch (s->what) {
  case DO_ADD:
    return future_resolved(loop, INT2P(v + s->arg), NULL);
  case DO_RAISE:
    return future_rejected(loop, future_error_new(s->arg, "%s", s->name));
  case DO_RECOVER:
    return future_resolved(loop, INT2P(s->arg), NULL);
  case DO_RERAISE:
    return future_ref(settled);
  case DO_WRAP:
    return future_rejected(
        loop, future_error_wrap(future_error(settled), s->arg, "%s", s->name));
  default: { /* DO_LATER */
    future_t *f = future_new(loop);
    *s->later = future_ref(f);
    future_unref(future_then(future_delay(loop, 0), NULL, NULL, NULL));
    return f;
  }
  }
}

/* The value step of DO_ADD and DO_RAISE. */
static future_error_t *value_run(void **value, void *data) {
  step_t *s = data;
  note(s->trail, s->name);
  if (s->what == DO_RAISE)
    return future_error_new(s->arg, "%s", s->name);
  *value = INT2P(P2INT(*value) + s->arg);
  return NULL;
}

/* Settle the DO_LATER futures as they appear, from a timer, so that a
 * step waits on a future that settles in a later turn of the loop. */
typedef struct {
  future_t *later;
  int settled;
} later_t;

static void settle_later(uv_idle_t *idle) {
  later_t *l = idle->data;
  if (l->later != NULL) {
    ck_assert_int_eq(future_resolve(l->later, INT2P(1000), NULL), 0);
    future_unref(l->later);
    l->later = NULL;
    l->settled++;
  }
}

START_TEST(test_pipeline_runs_steps_from_loop_in_order) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", DO_ADD, 1, NULL}, b = {&t, "b", DO_ADD, 10, NULL},
         c = {&t, "c", DO_ADD, 100, NULL};
  future_t *pl;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  pl = future_pipeline(future_resolved(&loop, INT2P(5), NULL));
  ck_assert_ptr_nonnull(pl);
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(future_pipeline_then_value(pl, value_run, &b), 0);
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &c), 0);
  ck_assert_str_eq(t.text, ""); /* nothing runs inside the calls */
  ck_assert_int_eq(future_state(pl), FUTURE_PENDING);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "a b c ");
  ck_assert_int_eq(future_state(pl), FUTURE_FULFILLED);
  ck_assert_int_eq(P2INT(future_value(pl)), 116);
  future_unref(pl);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Run `n` steps described by `what`/`arg` on a first future fulfilled
 * with `start` (or rejected with code -start if start < 0) as a then-chain
 * (pipe 0) or a pipeline (pipe 1; value steps where `value[i]`), and
 * return the trail and the outcome. */
typedef struct {
  trail_t trail;
  int state, value, code, cause;
} outcome_t;

static void run_steps(int pipe, int start, int n, const int *what,
                      const int *arg, const int *on_rejected,
                      const int *value, outcome_t *o) {
  uv_loop_t loop;
  step_t steps[32];
  future_t *f;
  uv_idle_t idle;
  later_t later = {NULL, 0};
  int i;
  ck_assert_int_le(n, 32);
  memset(o, 0, sizeof(*o));
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_idle_init(&loop, &idle), 0);
  idle.data = &later;
  ck_assert_int_eq(uv_idle_start(&idle, settle_later), 0);
  uv_unref((uv_handle_t *)&idle);
  f = start >= 0 ? future_resolved(&loop, INT2P(start), NULL)
                 : future_rejected(&loop, future_error_new(-start, "first"));
  if (pipe)
    f = future_pipeline(f);
  for (i = 0; i < n; i++) {
    step_t *s = &steps[i];
    s->trail = &o->trail;
    snprintf(s->name, sizeof s->name, "%s%d", on_rejected[i] ? "r" : "f", i);
    s->what = what[i];
    s->arg = arg[i];
    s->later = &later.later;
    if (!pipe) {
      f = on_rejected[i] ? future_catch(f, step_run, s)
                         : future_then(f, step_run, NULL, s);
    } else if (value[i] && !on_rejected[i]) {
      ck_assert_int_eq(future_pipeline_then_value(f, value_run, s), 0);
    } else {
      ck_assert_int_eq(future_pipeline_then(f, on_rejected[i] ? NULL : step_run,
                                            on_rejected[i] ? step_run : NULL,
                                            s),
                       0);
    }
  }
  /* The steps waiting on a DO_LATER future need the idle handle to keep
   * the loop going until it is settled. */
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0 || later.later != NULL ||
         future_state(f) == FUTURE_PENDING) {
    if (later.later != NULL)
      settle_later(&idle);
    ck_assert_int_lt(later.settled, 64);
    if (future_state(f) == FUTURE_PENDING && later.later == NULL &&
        uv_run(&loop, UV_RUN_NOWAIT) == 0 && future_state(f) == FUTURE_PENDING)
      ck_abort_msg("the chain is stuck");
  }
  o->state = future_state(f);
  if (o->state == FUTURE_FULFILLED) {
    o->value = P2INT(future_value(f));
  } else {
    const future_error_t *e = future_error(f);
    o->code = future_error_code(e);
    o->cause = future_error_cause(e) != NULL
                   ? future_error_code(future_error_cause(e))
                   : 0;
  }
  future_unref(f);
  uv_close((uv_handle_t *)&idle, NULL);
  LOOP_CLOSE(&loop);
}

/* The equivalence, over a thousand sequences of steps drawn at random
 * (a fixed seed): fulfilments, rejections, recoveries, re-raises, wrapped
 * errors, futures settled later, value steps; then steps and catch steps
 * mixed. The trail (which callbacks ran, in which order) and the outcome
 * (state, value, error code and its cause's) must be the same. */
START_TEST(test_pipeline_does_what_the_then_chain_does) {
  unsigned seed = 12345;
  int round;
  for (round = 0; round < 1000; round++) {
    int what[32], arg[32], on_rejected[32], value[32];
    int n, i, start;
    outcome_t chain, pipe;
#define RAND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    n = 1 + RAND() % 12;
    start = RAND() % 4 == 0 ? -(int)(1 + RAND() % 50) : (int)(RAND() % 100);
    for (i = 0; i < n; i++) {
      on_rejected[i] = RAND() % 3 == 0;
      what[i] = RAND() % 6;
      arg[i] = 1 + RAND() % 90;
      value[i] = (what[i] == DO_ADD || what[i] == DO_RAISE) && RAND() % 2;
    }
#undef RAND
    run_steps(0, start, n, what, arg, on_rejected, value, &chain);
    run_steps(1, start, n, what, arg, on_rejected, value, &pipe);
    ck_assert_msg(strcmp(chain.trail.text, pipe.trail.text) == 0,
                  "round %d: chain ran \"%s\", pipeline \"%s\"", round,
                  chain.trail.text, pipe.trail.text);
    ck_assert_int_eq(pipe.state, chain.state);
    ck_assert_int_eq(pipe.value, chain.value);
    ck_assert_int_eq(pipe.code, chain.code);
    ck_assert_int_eq(pipe.cause, chain.cause);
  }
}
END_TEST

START_TEST(test_pipeline_waits_for_a_pending_first) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", DO_ADD, 1, NULL};
  future_t *first, *pl;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  first = future_new(&loop);
  pl = future_pipeline(future_ref(first));
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "");
  ck_assert_int_eq(future_state(pl), FUTURE_PENDING);
  ck_assert_int_eq(future_resolve(first, INT2P(41), NULL), 0);
  future_unref(first);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "a ");
  ck_assert_int_eq(P2INT(future_value(pl)), 42);
  future_unref(pl);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A step that returns a pending future: the steps after it wait, and get
 * its outcome. */
static future_t *step_pending(future_t *settled, void *data) {
  future_t **out = data;
  *out = future_new(future_loop(settled));
  return future_ref(*out);
}

START_TEST(test_pipeline_waits_for_a_pending_step) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t b = {&t, "b", DO_ADD, 1, NULL};
  future_t *pl, *pending = NULL;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  pl = future_pipeline(future_resolved(&loop, INT2P(1), NULL));
  ck_assert_int_eq(future_pipeline_then(pl, step_pending, NULL, &pending), 0);
  ck_assert_int_eq(future_pipeline_then_value(pl, value_run, &b), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_ptr_nonnull(pending);
  ck_assert_str_eq(t.text, "");
  ck_assert_int_eq(future_state(pl), FUTURE_PENDING);
  ck_assert_int_eq(future_resolve(pending, INT2P(20), NULL), 0);
  future_unref(pending);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "b ");
  ck_assert_int_eq(P2INT(future_value(pl)), 21);
  future_unref(pl);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_pipeline_null_callbacks_pass_the_outcome_on) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t r = {&t, "r", DO_RECOVER, 7, NULL};
  future_t *pl;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* A fulfilment passes a catch step and a step with no callback. */
  pl = future_pipeline(future_resolved(&loop, INT2P(3), NULL));
  ck_assert_int_eq(future_pipeline_then(pl, NULL, step_run, &r), 0);
  ck_assert_int_eq(future_pipeline_then(pl, NULL, NULL, NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "");
  ck_assert_int_eq(P2INT(future_value(pl)), 3);
  future_unref(pl);
  /* A rejection passes a value step and a step with no callback, and
   * reaches the catch, which recovers. */
  pl = future_pipeline(
      future_rejected(&loop, future_error_new(UV_EIO, "first")));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_run, &r), 0);
  ck_assert_int_eq(future_pipeline_then(pl, NULL, NULL, NULL), 0);
  ck_assert_int_eq(future_pipeline_then(pl, NULL, step_run, &r), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "r ");
  ck_assert_int_eq(P2INT(future_value(pl)), 7);
  future_unref(pl);
  /* No step at all: the pipeline takes the outcome of its first. */
  pl = future_pipeline(future_resolved(&loop, INT2P(9), NULL));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(P2INT(future_value(pl)), 9);
  future_unref(pl);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Value steps and who sees the outcome: a first that the caller still
 * holds keeps its own value; a value with a destructor is released once,
 * when a step gives back another value, and kept when a step leaves it. */
static int freed;
static void count_free(void *p) {
  freed++;
  free(p);
}

static future_error_t *value_keep(void **value, void *data) {
  int *seen = data;
  *seen = **(int **)value;
  return NULL;
}

static future_error_t *value_replace(void **value, void *data) {
  (void)data;
  *value = INT2P(77);
  return NULL;
}

static future_error_t *value_fail(void **value, void *data) {
  (void)value;
  (void)data;
  return future_error_new(UV_EPROTO, "bad value");
}

START_TEST(test_value_steps_change_only_what_nobody_else_sees) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t add = {&t, "a", DO_ADD, 5, NULL};
  future_t *first, *pl;
  int *boxed, seen = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);

  /* Shared first: its value stays 10; the pipeline's becomes 15. */
  first = future_resolved(&loop, INT2P(10), NULL);
  pl = future_pipeline(future_ref(first));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_run, &add), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(P2INT(future_value(first)), 10);
  ck_assert_int_eq(P2INT(future_value(pl)), 15);
  future_unref(first);
  future_unref(pl);

  /* A value with a destructor, left as it is, keeps it: freed once, with
   * the pipeline. */
  freed = 0;
  boxed = malloc(sizeof *boxed);
  *boxed = 31;
  pl = future_pipeline(future_resolved(&loop, boxed, count_free));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_keep, &seen), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(seen, 31);
  ck_assert_ptr_eq(future_value(pl), boxed);
  ck_assert_int_eq(freed, 0);
  future_unref(pl);
  ck_assert_int_eq(freed, 1);

  /* Replaced: released at once, the new value has no destructor. */
  freed = 0;
  boxed = malloc(sizeof *boxed);
  pl = future_pipeline(future_resolved(&loop, boxed, count_free));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_replace, NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(freed, 1);
  ck_assert_int_eq(P2INT(future_value(pl)), 77);
  future_unref(pl);
  ck_assert_int_eq(freed, 1);

  /* Replaced while another holder shares the value: that holder keeps
   * it; freed once, when the last one goes. */
  freed = 0;
  boxed = malloc(sizeof *boxed);
  first = future_resolved(&loop, boxed, count_free);
  pl = future_pipeline(future_ref(first));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_replace, NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(freed, 0);
  ck_assert_ptr_eq(future_value(first), boxed);
  ck_assert_int_eq(P2INT(future_value(pl)), 77);
  future_unref(pl);
  future_unref(first);
  ck_assert_int_eq(freed, 1);

  /* A value step's error rejects, in place or not, and its destructor
   * runs once. */
  freed = 0;
  boxed = malloc(sizeof *boxed);
  pl = future_pipeline(future_resolved(&loop, boxed, count_free));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_fail, NULL), 0);
  ck_assert_int_eq(future_pipeline_then_value(pl, value_replace, NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(freed, 1);
  ck_assert_int_eq(future_state(pl), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(pl)), UV_EPROTO);
  future_unref(pl);
  first = future_resolved(&loop, INT2P(1), NULL);
  pl = future_pipeline(future_ref(first));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_fail, NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(first), FUTURE_FULFILLED);
  ck_assert_int_eq(future_error_code(future_error(pl)), UV_EPROTO);
  future_unref(first);
  future_unref(pl);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An unhandled rejection made by a value step is reported once, when the
 * pipeline that ends with it goes unobserved; one a later step handled is
 * not reported. */
START_TEST(test_value_step_errors_are_reported_when_unhandled) {
  uv_loop_t loop;
  unhandled_counter_t c;
  trail_t t = {""};
  step_t r = {&t, "r", DO_RECOVER, 1, NULL};
  future_t *pl;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  unhandled_install(&c);
  pl = future_pipeline(future_resolved(&loop, INT2P(1), NULL));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_fail, NULL), 0);
  ck_assert_int_eq(future_pipeline_then(pl, NULL, step_run, &r), 0);
  future_unref(pl);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(c.count, 0);
  ck_assert_str_eq(t.text, "r ");
  pl = future_pipeline(future_resolved(&loop, INT2P(1), NULL));
  ck_assert_int_eq(future_pipeline_then_value(pl, value_fail, NULL), 0);
  future_unref(pl);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(c.count, 1);
  ck_assert_int_eq(c.last_code, UV_EPROTO);
  unhandled_restore(&c);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An asynchronous loop: a step adds the next one before it returns. The
 * steps that have run give their room back: ten thousand hops allocate
 * no more than the first steps' room. */
typedef struct {
  future_t *pl;
  int n, hops;
} hop_t;

static future_error_t *hop(void **value, void *data) {
  hop_t *h = data;
  h->hops++;
  if (P2INT(*value) < h->n) {
    ck_assert_int_eq(future_pipeline_then_value(h->pl, hop, h), 0);
    *value = INT2P(P2INT(*value) + 1);
  }
  return NULL;
}

START_TEST(test_pipeline_steps_adding_steps_loop_in_constant_memory) {
  uv_loop_t loop;
  hop_t h = {NULL, 10000, 0};
  long calls;
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  h.pl = future_pipeline(future_resolved(&loop, INT2P(0), NULL));
  ck_assert_int_eq(future_pipeline_then_value(h.pl, hop, &h), 0);
  calls = counting.calls;
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(h.hops, 10001);
  ck_assert_int_eq(P2INT(future_value(h.pl)), 10000);
  /* No allocation at all while it ran: the hops reuse the room. */
  ck_assert_int_eq(counting.calls, calls);
  ck_assert_int_eq(future_pipeline_then(h.pl, NULL, NULL, NULL),
                   FUTURE_ESETTLED);
  future_unref(h.pl);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

/* Ready steps run 64 to a turn of the run queue: a continuation queued
 * behind the pipeline runs after its 64th step, not after its last nor
 * after its first. */
static future_error_t *count_step(void **value, void *data) {
  (void)value;
  ++*(int *)data;
  return NULL;
}

typedef struct {
  int *steps;
  int seen_at;
} other_t;

static future_t *other_ran(future_t *settled, void *data) {
  other_t *o = data;
  o->seen_at = *o->steps;
  return future_ref(settled);
}

/* The same count for then steps: one that passes its settled future on,
 * and one that returns a new one. */
static future_t *count_pass(future_t *settled, void *data) {
  ++*(int *)data;
  return future_ref(settled);
}

static future_t *count_new(future_t *settled, void *data) {
  ++*(int *)data;
  return future_resolved(future_loop(settled), NULL, NULL);
}

START_TEST(test_pipeline_runs_64_ready_steps_a_turn) {
  uv_loop_t loop;
  int kind;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (kind = 0; kind < 3; kind++) {
    int steps = 0, i;
    other_t o = {&steps, -1};
    future_t *pl, *other;
    pl = future_pipeline(future_resolved(&loop, NULL, NULL));
    for (i = 0; i < 200; i++)
      ck_assert_int_eq(
          kind == 0   ? future_pipeline_then_value(pl, count_step, &steps)
          : kind == 1 ? future_pipeline_then(pl, count_pass, NULL, &steps)
                      : future_pipeline_then(pl, count_new, NULL, &steps),
          0);
    other =
        future_then(future_resolved(&loop, NULL, NULL), other_ran, NULL, &o);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(steps, 200);
    ck_assert_int_eq(o.seen_at, 64);
    future_unref(other);
    future_unref(pl);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* Steps that add steps while others still wait: the array never empties,
 * and the room of the steps that ran is reused (moved to the front) rather
 * than the array growing: two hops in flight, ten thousand hops, no
 * allocation while they run, each hop run once. */
typedef struct {
  future_t *pl;
  int left, hops;
} pair_t;

static future_error_t *pair_hop(void **value, void *data) {
  pair_t *h = data;
  h->hops++;
  *value = INT2P(P2INT(*value) + 1);
  if (h->left > 0) {
    h->left--;
    ck_assert_int_eq(future_pipeline_then_value(h->pl, pair_hop, h), 0);
  }
  return NULL;
}

START_TEST(test_pipeline_reuses_the_room_of_steps_run) {
  uv_loop_t loop;
  pair_t h = {NULL, 10000, 0};
  long calls;
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  h.pl = future_pipeline(future_resolved(&loop, INT2P(0), NULL));
  ck_assert_int_eq(future_pipeline_then_value(h.pl, pair_hop, &h), 0);
  ck_assert_int_eq(future_pipeline_then_value(h.pl, pair_hop, &h), 0);
  calls = counting.calls;
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(h.hops, 10002);
  ck_assert_int_eq(P2INT(future_value(h.pl)), 10002);
  ck_assert_int_eq(counting.calls, calls);
  future_unref(h.pl);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

START_TEST(test_pipeline_bad_arguments) {
  uv_loop_t loop;
  future_t *f, *pl;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_null(future_pipeline(NULL));
  ck_assert_int_eq(future_pipeline_then(NULL, NULL, NULL, NULL), UV_EINVAL);
  ck_assert_int_eq(future_pipeline_then_value(NULL, value_replace, NULL),
                   UV_EINVAL);
  f = future_new(&loop);
  ck_assert_int_eq(future_pipeline_then(f, NULL, NULL, NULL), UV_EINVAL);
  ck_assert_int_eq(future_pipeline_then_value(f, value_replace, NULL),
                   UV_EINVAL);
  /* A pipeline is settled by its steps, not by hand (as a then step). */
  pl = future_pipeline(future_ref(f));
  ck_assert_int_eq(future_resolve(pl, NULL, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(pl), FUTURE_PENDING);
  ck_assert_int_eq(future_pipeline_then_value(pl, NULL, NULL), UV_EINVAL);
  ck_assert_int_eq(future_resolve(f, INT2P(4), NULL), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(P2INT(future_value(pl)), 4);
  ck_assert_int_eq(future_pipeline_then(pl, NULL, NULL, NULL),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_pipeline_then_value(pl, value_replace, NULL),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_pipeline_then_value(pl, NULL, NULL),
                   FUTURE_ESETTLED);
  future_unref(pl);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* What future_then rejects, a pipeline rejects the same way, and the
 * steps after see it. */
typedef struct {
  int what;
  future_t *pl;
  uv_loop_t *other;
} bad_t;

static future_t *step_bad(future_t *settled, void *data) {
  bad_t *b = data;
  switch (b->what) {
  case 0:
    return NULL;
  case 1:
    return future_ref(b->pl);
  case 2: /* pending, and waits on the pipeline */
    return future_then(future_ref(b->pl), NULL, NULL, NULL);
  default:
    (void)settled;
    return future_resolved(b->other, NULL, NULL);
  }
}

static future_t *catch_code(future_t *settled, void *data) {
  *(int *)data = future_error_code(future_error(settled));
  return future_resolved(future_loop(settled), INT2P(1), NULL);
}

START_TEST(test_pipeline_step_returning_bad_futures) {
  static const int codes[] = {UV_ENOMEM, FUTURE_ECYCLE, FUTURE_ECYCLE,
                              UV_EINVAL};
  uv_loop_t loop, other;
  int what;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  for (what = 0; what < 4; what++) {
    bad_t b = {what, NULL, &other};
    int code = 0, v = 0;
    future_t *pl = future_pipeline(future_resolved(&loop, NULL, NULL));
    b.pl = pl;
    ck_assert_int_eq(future_pipeline_then(pl, step_bad, NULL, &b), 0);
    ck_assert_int_eq(future_pipeline_then_value(pl, count_step, &v), 0);
    ck_assert_int_eq(future_pipeline_then(pl, NULL, catch_code, &code), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(code, codes[what]);
    ck_assert_int_eq(v, 0); /* the value step was passed by */
    ck_assert_int_eq(P2INT(future_value(pl)), 1);
    future_unref(pl);
  }
  LOOP_CLOSE(&other);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancellation: queued, waiting on its first, waiting on a step's
 * future, and by one of its own steps. */
static future_t *step_cancel_own(future_t *settled, void *data) {
  future_t **pl = data;
  ck_assert_int_eq(future_cancel(*pl), 0);
  return future_resolved(future_loop(settled), NULL, NULL);
}

static future_error_t *value_cancel_own(void **value, void *data) {
  future_t **pl = data;
  (void)value;
  ck_assert_int_eq(future_cancel(*pl), 0);
  return future_error_new(UV_EIO, "not seen");
}

START_TEST(test_pipeline_cancel_at_every_stage) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", DO_ADD, 1, NULL};
  future_t *pl, *first, *pending = NULL;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);

  /* Queued: no step runs. */
  pl = future_pipeline(future_resolved(&loop, NULL, NULL));
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(future_cancel(pl), 0);
  ck_assert_int_eq(future_error_code(future_error(pl)), UV_ECANCELED);
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_cancel(pl), FUTURE_ESETTLED);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "");
  future_unref(pl);

  /* Waiting on a first that nothing else wants: the cancel travels up to
   * it (a delay of a day would otherwise keep the loop running). */
  pl = future_pipeline(future_delay(&loop, 86400000));
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ck_assert_int_eq(future_cancel(pl), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "");
  future_unref(pl);

  /* Waiting on a first the caller still holds: that one stays. */
  first = future_new(&loop);
  pl = future_pipeline(future_ref(first));
  ck_assert_int_eq(future_cancel(pl), 0);
  ck_assert_int_eq(future_state(first), FUTURE_PENDING);
  future_unref(first);
  future_unref(pl);

  /* Waiting on what a step returned, which nothing else wants. */
  pl = future_pipeline(future_resolved(&loop, NULL, NULL));
  ck_assert_int_eq(future_pipeline_then(pl, step_pending, NULL, &pending), 0);
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_ptr_nonnull(pending);
  future_unref(pending); /* now only the pipeline wants it */
  ck_assert_int_eq(future_cancel(pl), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "");
  ck_assert_uint_eq(future_loop_live(&loop), 1); /* pl only */
  future_unref(pl);

  /* By its own step, a then step and a value step: what the step returned
   * is let go of, and no step after it runs. */
  for (i = 0; i < 2; i++) {
    pl = future_pipeline(future_resolved(&loop, NULL, NULL));
    if (i == 0)
      ck_assert_int_eq(future_pipeline_then(pl, step_cancel_own, NULL, &pl),
                       0);
    else
      ck_assert_int_eq(future_pipeline_then_value(pl, value_cancel_own, &pl),
                       0);
    ck_assert_int_eq(future_pipeline_then(pl, step_run, step_run, &a), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_str_eq(t.text, "");
    ck_assert_int_eq(future_error_code(future_error(pl)), UV_ECANCELED);
    future_unref(pl);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* Letting go of the pipeline while it waits to run does not stop it: the
 * steps run, and it goes afterwards. */
START_TEST(test_pipeline_released_early_still_runs) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", DO_ADD, 1, NULL}, b = {&t, "b", DO_ADD, 1, NULL};
  future_t *first, *pl;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  first = future_new(&loop);
  pl = future_pipeline(future_ref(first));
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(future_pipeline_then_value(pl, value_run, &b), 0);
  future_unref(pl);
  ck_assert_uint_eq(future_loop_live(&loop), 2);
  ck_assert_int_eq(future_resolve(first, INT2P(1), NULL), 0);
  future_unref(first);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_str_eq(t.text, "a b ");
  LOOP_CLOSE(&loop);
}
END_TEST

/* Teardown: pipelines waiting on a delay, on a step's future and in the
 * queue, under each of the walk-and-close orders. */
START_TEST(test_pipeline_teardown_with_walk) {
  int how;
  for (how = 0; how < 3; how++) {
    uv_loop_t loop;
    trail_t t = {""};
    step_t a = {&t, "a", DO_ADD, 1, NULL};
    future_t *pl, *pending = NULL;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    pl = future_pipeline(future_delay(&loop, 86400000));
    ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
    future_unref(pl);
    pl = future_pipeline(future_resolved(&loop, NULL, NULL));
    ck_assert_int_eq(future_pipeline_then(pl, step_pending, NULL, &pending),
                     0);
    ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
    ck_assert_ptr_nonnull(pending);
    /* The step's pending future is the pipeline's alone (no reference of
     * ours may outlive the loop's teardown). */
    future_unref(pending);
    future_unref(pl);
    pl = future_pipeline(future_resolved(&loop, NULL, NULL));
    ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
    future_unref(pl);
    /* The walk meets the library's handles, unless teardown came first. */
    if (how == TEARDOWN_CLOSE_FIRST)
      ck_assert_int_eq(teardown_with_walk(&loop, how), 0);
    else
      ck_assert_int_gt(teardown_with_walk(&loop, how), 0);
  }
}
END_TEST

/* Out of memory: a step that cannot be added leaves the pipeline as it
 * was, and the pipeline still runs the steps it has. */
START_TEST(test_pipeline_out_of_memory) {
  uv_loop_t loop;
  future_t *pl;
  int v = 0, i;
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  pl = future_pipeline(future_resolved(&loop, NULL, NULL));
  ck_assert_ptr_nonnull(pl);
  counting.fail = 1;
  ck_assert_int_eq(future_pipeline_then_value(pl, count_step, &v), UV_ENOMEM);
  counting.fail = 0;
  /* Four fit in the first room; the fifth needs more. */
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(future_pipeline_then_value(pl, count_step, &v), 0);
  counting.fail = 1;
  ck_assert_int_eq(future_pipeline_then_value(pl, count_step, &v), UV_ENOMEM);
  ck_assert_int_eq(future_pipeline_then(pl, NULL, NULL, NULL), UV_ENOMEM);
  counting.fail = 0;
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(v, 4);
  ck_assert_int_eq(future_state(pl), FUTURE_FULFILLED);
  future_unref(pl);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

/* A trace names the pipeline and its steps' slices. */
START_TEST(test_pipeline_in_a_trace) {
  uv_loop_t loop;
  trail_t t = {""};
  step_t a = {&t, "a", DO_ADD, 1, NULL};
  char path[] = "/tmp/pipeline-trace-XXXXXX", text[65536];
  future_t *pl;
  FILE *fp;
  size_t n;
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  pl = future_pipeline(future_resolved(&loop, INT2P(1), NULL));
  ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &a), 0);
  ck_assert_int_eq(future_pipeline_then_value(pl, value_run, &a), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_trace_stop(), 0);
  ck_assert_int_eq(P2INT(future_value(pl)), 3);
  future_unref(pl);
  fp = fopen(path, "r");
  ck_assert_ptr_nonnull(fp);
  n = fread(text, 1, sizeof text - 1, fp);
  text[n] = '\0';
  fclose(fp);
  unlink(path);
  ck_assert_ptr_nonnull(strstr(text, "\"kind\":\"pipeline\""));
  ck_assert_ptr_nonnull(strstr(text, "\"pipeline then\""));
  ck_assert_ptr_nonnull(strstr(text, "\"pipeline value\""));
  LOOP_CLOSE(&loop);
}
END_TEST

/* A million value steps, and a hundred thousand then steps, in one
 * pipeline: constant stack, the right sum. */
START_TEST(test_pipeline_deep) {
  uv_loop_t loop;
  future_t *pl;
  int steps = 0, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  pl = future_pipeline(future_new(&loop));
  for (i = 0; i < 1000000; i++)
    ck_assert_int_eq(future_pipeline_then_value(pl, count_step, &steps), 0);
  future_unref(pl); /* the pending first keeps it... and goes with it */
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(steps, 0);
  ck_assert_uint_eq(future_loop_live(&loop), 0);

  pl = future_pipeline(future_resolved(&loop, INT2P(0), NULL));
  for (i = 0; i < 100000; i++) {
    static step_t one = {NULL, "", DO_ADD, 1, NULL};
    static trail_t quiet;
    one.trail = &quiet;
    quiet.text[0] = '\0';
    ck_assert_int_eq(future_pipeline_then(pl, step_run, NULL, &one), 0);
  }
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(P2INT(future_value(pl)), 100000);
  future_unref(pl);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_pipeline_suite(void) {
  Suite *s = suite_create("pipeline");
  TCase *core = tcase_create("Core");
  TCase *life = tcase_create("Lifetime");
  TCase *deep = tcase_create("Deep");
  tcase_set_timeout(core, 120);
  tcase_add_test(core, test_pipeline_runs_steps_from_loop_in_order);
  tcase_add_test(core, test_pipeline_does_what_the_then_chain_does);
  tcase_add_test(core, test_pipeline_waits_for_a_pending_first);
  tcase_add_test(core, test_pipeline_waits_for_a_pending_step);
  tcase_add_test(core, test_pipeline_null_callbacks_pass_the_outcome_on);
  tcase_add_test(core, test_value_steps_change_only_what_nobody_else_sees);
  tcase_add_test(core, test_value_step_errors_are_reported_when_unhandled);
  tcase_add_test(core,
                 test_pipeline_steps_adding_steps_loop_in_constant_memory);
  tcase_add_test(core, test_pipeline_runs_64_ready_steps_a_turn);
  tcase_add_test(core, test_pipeline_reuses_the_room_of_steps_run);
  tcase_add_test(core, test_pipeline_bad_arguments);
  tcase_add_test(core, test_pipeline_step_returning_bad_futures);
  tcase_add_test(core, test_pipeline_in_a_trace);
  tcase_add_test(life, test_pipeline_cancel_at_every_stage);
  tcase_add_test(life, test_pipeline_released_early_still_runs);
  tcase_add_test(life, test_pipeline_teardown_with_walk);
  tcase_add_test(life, test_pipeline_out_of_memory);
  tcase_set_timeout(deep, 600);
  tcase_add_test(deep, test_pipeline_deep);
  suite_add_tcase(s, core);
  suite_add_tcase(s, life);
  suite_add_tcase(s, deep);
  return s;
}
