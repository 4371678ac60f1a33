/*
 * The Promises/A+ compliance suite (clauses 2.1, 2.2 and 2.3 of the spec),
 * ported from promises-aplus-tests (2.1.2.js ... 2.3.4.js) to C and Check.
 *
 * Mapping of the JS notions:
 *   promise            a future_t
 *   then(a, b)         future_then(f, a, b, data), which consumes f
 *   return x           return future_resolved(loop, x, dtor)
 *   throw e            return future_rejected(loop, e)
 *   non-function arg   a NULL callback
 *   asynchronous       the callback has not run when future_then /
 *                      future_resolve / future_reject return; it runs
 *                      during uv_run
 *   thenables (2.3.3)  no C analogue; the same sequences are tested on the
 *                      settling functions (future_resolve, future_reject,
 *                      future_adopt) instead
 *   this (2.2.5)       no C analogue (callbacks get `data`): skipped
 *
 * test_fulfilled / test_rejected run a test body three times, like the JS
 * suite's testFulfilled / testRejected, with a source future that is
 * (1) already settled (future_resolved / future_rejected), (2) settled
 * immediately (future_new, the body chains, then the source is settled in
 * the same tick) and (3) settled eventually (from a 1 ms uv_timer_t).
 *
 * Count: 134 tests (START_TEST functions); 72 of them run through
 * test_fulfilled / test_rejected (3 cases each), 62 are single cases:
 * 278 cases in all.
 *
 * TCases (one per clause group): 2.1 (12 tests), 2.2.1 (6), 2.2.2 (10),
 * 2.2.3 (10), 2.2.4 (12), 2.2.6 (14), 2.2.7 (16), 2.3.1 (4), 2.3.2 (13),
 * 2.3.3 (19), 2.3.4 (18). 2.2.5 has no C analogue and no TCase.
 *
 * Every test owns its loop, runs it, checks, releases every reference and
 * ends with LOOP_CLOSE; every test installs the counting unhandled-
 * rejection hook and asserts that no error went unobserved (rejected
 * leaves are checked through future_wait, which observes them).
 */
#include "helpers.h"
#include "suites.h"

#include <stdlib.h>
#include <string.h>

/* Values to fulfil with, compared by address (the JS suite's dummy and
 * sentinel objects). */
static int dummy_obj, sentinel_obj, other_obj;
#define DUMMY ((void *)&dummy_obj)
#define SENTINEL ((void *)&sentinel_obj)
#define OTHER ((void *)&other_obj)

#define REASON_CODE FUTURE_EUSER(1)
#define OTHER_CODE FUTURE_EUSER(2)

/* ------------------------------------------------------------------------ */
/* Timers: run a function once, later, from the loop.                       */

typedef struct later_s later_t;
typedef void (*later_fn)(later_t *l);

struct later_s {
  uv_timer_t timer; /* first member: the callback casts back */
  later_fn fn;
  void *ctx;
  int arg;
  int fired;
};

static void later_cb(uv_timer_t *t) {
  later_t *l = (later_t *)t;
  l->fired = 1;
  l->fn(l);
  uv_close((uv_handle_t *)t, NULL);
}

static void later(uv_loop_t *loop, later_t *l, uint64_t ms, later_fn fn,
                  void *ctx, int arg) {
  l->fn = fn;
  l->ctx = ctx;
  l->arg = arg;
  l->fired = 0;
  ck_assert_int_eq(uv_timer_init(loop, &l->timer), 0);
  ck_assert_int_eq(uv_timer_start(&l->timer, later_cb, ms, 0), 0);
}

/* ------------------------------------------------------------------------ */
/* Outcome checks. future_wait counts as observing an error, so rejected    */
/* leaves are checked (and consumed) through it.                            */

static void expect_fulfilled(future_t *f, void *value) {
  future_result_t r;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_ptr_eq(r.value, value);
  future_result_release(&r);
}

/* Rejected with the very same error object. */
static void expect_rejected(future_t *f, const future_error_t *err) {
  future_result_t r;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_ptr_eq(future_error(f), err);
  ck_assert_int_eq(future_wait(f, &r), future_error_code(err));
  ck_assert_ptr_eq(r.error, err);
  future_result_release(&r);
}

/* Rejected with code `code` (an error made by the library). */
static void expect_rejected_code(future_t *f, int code) {
  future_result_t r;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_wait(f, &r), code);
  ck_assert_int_eq(future_error_code(r.error), code);
  future_result_release(&r);
}

static void expect_pending(future_t *f) {
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  future_unref(f);
}

/* ------------------------------------------------------------------------ */
/* The three-kinds harness (testFulfilled / testRejected).                  */

enum { KIND_ALREADY, KIND_IMMEDIATE, KIND_EVENTUAL, KIND_COUNT };

typedef struct aplus_s aplus_t;

/* What a callback does when it runs. */
enum {
  ACT_PASS,   /* return future_ref(settled) */
  ACT_VALUE,  /* return future_resolved(loop, h->value, NULL) */
  ACT_THROW,  /* return future_rejected(loop, future_error_ref(h->err)) */
  ACT_NEST,   /* attach h->nested to `settled`, then pass */
  ACT_SELF,   /* return future_ref(*h->self): the chained future itself */
  ACT_RETURN, /* return future_ref(h->ret): some other future */
  ACT_NULL    /* return NULL */
};

typedef struct handler_s {
  aplus_t *a;
  int id;     /* recorded in a->order when the handler runs */
  int action; /* ACT_* */
  void *value;
  future_error_t *err;       /* ACT_THROW (borrowed from the test) */
  struct handler_s *nested;  /* ACT_NEST */
  future_t **nested_out;     /* ACT_NEST: where the nested chain goes */
  future_t **self;           /* ACT_SELF */
  future_t *ret;             /* ACT_RETURN (borrowed) */
  /* what the handler saw */
  int calls;
  int saw_state;
  void *saw_value;
  const future_error_t *saw_err;
  int source_was_settled; /* a->settled when it ran */
  int chain_returned;     /* a->returned when it ran */
} handler_t;

#define MAX_HANDLERS 8
#define MAX_OUT 8

struct aplus_s {
  uv_loop_t loop;
  int kind;
  int rejecting;
  void *value;          /* what the source fulfils with */
  future_error_t *err;  /* what the source rejects with (the test's ref) */
  future_t *resolver;   /* the pending source (immediate, eventual) */
  later_t settle_timer; /* eventual */
  int settled;          /* set the moment the source settles */
  int returned;         /* set by bodies once their chaining returned */
  handler_t h[MAX_HANDLERS];
  future_t *out[MAX_OUT];
  int order[32];
  int norder;
  later_t timers[4];
  future_error_t *errs[4]; /* errors handlers raise (the test's refs) */
  void *user;
  future_t *x;     /* 2.3.2: the future a callback returns (test's ref) */
  int xmode;       /* 2.3.2: how x settles (XM_*) */
  int out_pending_when_x_settled;
};

typedef void (*aplus_body)(aplus_t *a, future_t *promise);
typedef void (*aplus_check)(aplus_t *a);

static future_t *handle(future_t *settled, void *data);

static handler_t *H(aplus_t *a, int i, int action) {
  handler_t *h = &a->h[i];
  memset(h, 0, sizeof *h);
  h->a = a;
  h->id = i;
  h->action = action;
  return h;
}

static future_t *handle(future_t *settled, void *data) {
  handler_t *h = data;
  aplus_t *a = h->a;
  uv_loop_t *loop = future_loop(settled);
  h->calls++;
  h->saw_state = future_state(settled);
  h->saw_value = future_value(settled);
  h->saw_err = future_error(settled);
  h->source_was_settled = a->settled;
  h->chain_returned = a->returned;
  if (a->norder < (int)(sizeof a->order / sizeof a->order[0]))
    a->order[a->norder++] = h->id;
  switch (h->action) {
  case ACT_VALUE:
    return future_resolved(loop, h->value, NULL);
  case ACT_THROW:
    return future_rejected(loop, future_error_ref(h->err));
  case ACT_NEST:
    *h->nested_out =
        future_then(future_ref(settled), handle, handle, h->nested);
    ck_assert_int_eq(h->nested->calls, 0); /* not run inside then */
    return future_ref(settled);
  case ACT_SELF:
    return future_ref(*h->self);
  case ACT_RETURN:
    return future_ref(h->ret);
  case ACT_NULL:
    return NULL;
  default:
    return future_ref(settled);
  }
}

static void settle_source(aplus_t *a) {
  a->settled = 1;
  if (a->rejecting)
    ck_assert_int_eq(future_reject(a->resolver, future_error_ref(a->err)), 0);
  else
    ck_assert_int_eq(future_resolve(a->resolver, a->value, NULL), 0);
}

static void settle_later(later_t *l) { settle_source(l->ctx); }
static void settle_source_later(later_t *l) { settle_source(l->ctx); }

static void run_kinds(int rejecting, void *value, aplus_body body,
                      aplus_check check, void *user) {
  int kind, i;
  for (kind = 0; kind < KIND_COUNT; kind++) {
    aplus_t *a = calloc(1, sizeof *a);
    unhandled_counter_t unh;
    future_t *promise;
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(uv_loop_init(&a->loop), 0);
    unhandled_install(&unh);
    a->kind = kind;
    a->rejecting = rejecting;
    a->value = value;
    a->user = user;
    a->err = rejecting ? future_error_new(REASON_CODE, "reason") : NULL;
    for (i = 0; i < 4; i++)
      a->errs[i] = future_error_new(OTHER_CODE, "thrown %d", i);
    if (kind == KIND_ALREADY) {
      a->settled = 1;
      promise = rejecting ? future_rejected(&a->loop, future_error_ref(a->err))
                          : future_resolved(&a->loop, value, NULL);
    } else {
      a->resolver = future_new(&a->loop);
      promise = future_ref(a->resolver);
    }
    ck_assert_ptr_nonnull(promise);
    body(a, promise);
    /* 2.2.4 for every case: no handler ran inside future_then ... */
    for (i = 0; i < MAX_HANDLERS; i++)
      ck_assert_int_eq(a->h[i].calls, 0);
    if (kind == KIND_IMMEDIATE) {
      settle_source(a);
      /* ... nor inside the settling call */
      for (i = 0; i < MAX_HANDLERS; i++)
        ck_assert_int_eq(a->h[i].calls, 0);
    } else if (kind == KIND_EVENTUAL)
      later(&a->loop, &a->settle_timer, 1, settle_later, a, 0);
    ck_assert_int_eq(uv_run(&a->loop, UV_RUN_DEFAULT), 0);
    ck_assert(a->settled);
    check(a);
    for (i = 0; i < MAX_OUT; i++)
      ck_assert_msg(a->out[i] == NULL, "out[%d] not checked (kind %d)", i,
                    kind);
    future_unref(a->resolver);
    future_error_unref(a->err);
    for (i = 0; i < 4; i++)
      future_error_unref(a->errs[i]);
    ck_assert_int_eq(unh.count, 0);
    unhandled_restore(&unh);
    LOOP_CLOSE(&a->loop);
    free(a);
  }
}

static void test_fulfilled(void *value, aplus_body body, aplus_check check,
                           void *user) {
  run_kinds(0, value, body, check, user);
}

static void test_rejected(aplus_body body, aplus_check check, void *user) {
  run_kinds(1, NULL, body, check, user);
}

/* Take a->out[i] for checking (and clear the slot). */
static future_t *OUT(aplus_t *a, int i) {
  future_t *f = a->out[i];
  a->out[i] = NULL;
  return f;
}

/* ------------------------------------------------------------------------ */
/* Single-loop helpers for the direct tests.                                */

typedef struct {
  uv_loop_t loop;
  unhandled_counter_t unh;
} fixture_t;

static void fx_init(fixture_t *fx) {
  ck_assert_int_eq(uv_loop_init(&fx->loop), 0);
  unhandled_install(&fx->unh);
}

static void fx_done(fixture_t *fx) {
  ck_assert_int_eq(fx->unh.count, 0); /* every error was observed */
  unhandled_restore(&fx->unh);
  LOOP_CLOSE(&fx->loop);
}

static int dtor_calls;
static void count_dtor(void *value) {
  (void)value;
  dtor_calls++;
}

/* ======================================================================== */
/* 2.1 Promise states                                                       */

/* 2.1.1.1: a pending future may transition to fulfilled. */
START_TEST(test_aplus_2_1_1_pending_to_fulfilled) {
  fixture_t fx;
  future_t *f;
  fx_init(&fx);
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_ptr_null(future_value(f));
  ck_assert_ptr_null(future_error(f));
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_ptr_eq(future_value(f), DUMMY);
  expect_fulfilled(f, DUMMY);
  fx_done(&fx);
}
END_TEST

/* 2.1.1.1: a pending future may transition to rejected. */
START_TEST(test_aplus_2_1_1_pending_to_rejected) {
  fixture_t fx;
  future_t *f;
  future_error_t *e;
  fx_init(&fx);
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_ptr_eq(future_error(f), e);
  ck_assert_ptr_null(future_value(f));
  expect_rejected(f, e);
  future_error_unref(e);
  fx_done(&fx);
}
END_TEST

/* 2.1.1.1: a pending future that adopts a pending one stays pending until
 * that one settles, and then takes its state. */
START_TEST(test_aplus_2_1_1_pending_while_adopting) {
  fixture_t fx;
  future_t *f, *src;
  fx_init(&fx);
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  /* while adopting, f can no longer be settled directly */
  ck_assert_int_eq(future_resolve(f, OTHER, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(future_resolve(src, DUMMY, NULL), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  expect_fulfilled(f, DUMMY);
  future_unref(src);
  fx_done(&fx);
}
END_TEST

/* 2.1.2.1: when fulfilled, a future must not transition to any other state:
 * trying to fulfil then immediately reject. */
START_TEST(test_aplus_2_1_2_fulfil_then_reject) {
  fixture_t fx;
  future_t *f;
  fx_init(&fx);
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  ck_assert_int_eq(future_reject(f, future_error_new(REASON_CODE, "late")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_ptr_eq(future_value(f), DUMMY);
  ck_assert_ptr_null(future_error(f));
  expect_fulfilled(f, DUMMY);
  fx_done(&fx);
}
END_TEST

/* 2.1.2.2: when fulfilled, a future must have a value which must not
 * change: fulfilling again changes nothing and the second value's
 * destructor runs at once. */
START_TEST(test_aplus_2_1_2_fulfil_twice_keeps_value) {
  fixture_t fx;
  future_t *f;
  fx_init(&fx);
  dtor_calls = 0;
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  ck_assert_int_eq(future_resolve(f, OTHER, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_ptr_eq(future_value(f), DUMMY);
  expect_fulfilled(f, DUMMY);
  ck_assert_int_eq(dtor_calls, 1);
  fx_done(&fx);
}
END_TEST

/* 2.1.2.1: an already-fulfilled future (future_resolved) cannot be
 * rejected, fulfilled again, or made to adopt. */
START_TEST(test_aplus_2_1_2_already_fulfilled_is_final) {
  fixture_t fx;
  future_t *f;
  fx_init(&fx);
  f = future_resolved(&fx.loop, DUMMY, NULL);
  ck_assert_int_eq(future_reject(f, future_error_new(REASON_CODE, "late")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_resolve(f, OTHER, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(
      future_adopt(f, future_resolved(&fx.loop, OTHER, NULL)),
      FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  expect_fulfilled(f, DUMMY);
  fx_done(&fx);
}
END_TEST

static void reject_later(later_t *l) {
  ck_assert_int_eq(
      future_reject(l->ctx, future_error_new(REASON_CODE, "delayed")),
      FUTURE_ESETTLED);
}

static void resolve_later(later_t *l) {
  ck_assert_int_eq(future_resolve(l->ctx, OTHER, NULL), FUTURE_ESETTLED);
}

/* 2.1.2.1: trying to fulfil then reject, delayed (from a timer, after the
 * handlers ran): nothing changes, handlers are not called again. */
START_TEST(test_aplus_2_1_2_fulfil_then_reject_delayed) {
  fixture_t fx;
  future_t *f, *g;
  later_t l;
  aplus_t *a = calloc(1, sizeof *a);
  handler_t *h = H(a, 0, ACT_PASS);
  a->settled = 1;
  fx_init(&fx);
  f = future_new(&fx.loop);
  g = future_then(future_ref(f), handle, handle, h);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  later(&fx.loop, &l, 1, reject_later, f, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(l.fired);
  ck_assert_int_eq(h->calls, 1);
  ck_assert_int_eq(h->saw_state, FUTURE_FULFILLED);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  expect_fulfilled(g, DUMMY);
  expect_fulfilled(f, DUMMY);
  free(a);
  fx_done(&fx);
}
END_TEST

/* 2.1.2.1: trying to fulfil immediately, then fulfil again delayed. */
START_TEST(test_aplus_2_1_2_fulfil_then_fulfil_delayed) {
  fixture_t fx;
  future_t *f;
  later_t l;
  fx_init(&fx);
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  later(&fx.loop, &l, 1, resolve_later, f, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(l.fired);
  expect_fulfilled(f, DUMMY);
  fx_done(&fx);
}
END_TEST

/* 2.1.3.1: when rejected, a future must not transition to any other state:
 * trying to reject then immediately fulfil. */
START_TEST(test_aplus_2_1_3_reject_then_fulfil) {
  fixture_t fx;
  future_t *f;
  future_error_t *e;
  fx_init(&fx);
  dtor_calls = 0;
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  ck_assert_int_eq(future_resolve(f, DUMMY, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1); /* the refused value is released */
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_ptr_null(future_value(f));
  expect_rejected(f, e);
  future_error_unref(e);
  fx_done(&fx);
}
END_TEST

/* 2.1.3.2: when rejected, a future must have a reason which must not
 * change: rejecting again changes nothing. */
START_TEST(test_aplus_2_1_3_reject_twice_keeps_reason) {
  fixture_t fx;
  future_t *f;
  future_error_t *e;
  fx_init(&fx);
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  ck_assert_int_eq(future_reject(f, future_error_new(OTHER_CODE, "second")),
                   FUTURE_ESETTLED);
  ck_assert_ptr_eq(future_error(f), e);
  expect_rejected(f, e);
  future_error_unref(e);
  fx_done(&fx);
}
END_TEST

/* 2.1.3.1: an already-rejected future (future_rejected) cannot be
 * fulfilled, rejected again, or made to adopt. */
START_TEST(test_aplus_2_1_3_already_rejected_is_final) {
  fixture_t fx;
  future_t *f;
  future_error_t *e;
  fx_init(&fx);
  e = future_error_new(REASON_CODE, "reason");
  f = future_rejected(&fx.loop, future_error_ref(e));
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(future_reject(f, future_error_new(OTHER_CODE, "again")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_adopt(f, future_resolved(&fx.loop, DUMMY, NULL)),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  expect_rejected(f, e);
  future_error_unref(e);
  fx_done(&fx);
}
END_TEST

static void resolve_later_refused(later_t *l) {
  ck_assert_int_eq(future_resolve(l->ctx, DUMMY, NULL), FUTURE_ESETTLED);
}

/* 2.1.3.1: trying to reject then fulfil, delayed (from a timer, after the
 * handlers ran): nothing changes, handlers are not called again. */
START_TEST(test_aplus_2_1_3_reject_then_fulfil_delayed) {
  fixture_t fx;
  future_t *f, *g;
  future_error_t *e;
  later_t l;
  aplus_t *a = calloc(1, sizeof *a);
  handler_t *h = H(a, 0, ACT_PASS);
  fx_init(&fx);
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  g = future_then(future_ref(f), handle, handle, h);
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  later(&fx.loop, &l, 1, resolve_later_refused, f, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(l.fired);
  ck_assert_int_eq(h->calls, 1);
  ck_assert_int_eq(h->saw_state, FUTURE_REJECTED);
  ck_assert_ptr_eq(h->saw_err, e);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  expect_rejected(g, e);
  expect_rejected(f, e);
  future_error_unref(e);
  free(a);
  fx_done(&fx);
}
END_TEST

/* ======================================================================== */
/* 2.2.1 Both onFulfilled and onRejected are optional                       */

/* on_fulfilled NULL, on_rejected set: rejection reaches on_rejected. */
static void body_2_2_1_null_fulfilled(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, NULL, handle, H(a, 0, ACT_PASS));
}
static void check_2_2_1_null_fulfilled_rejected(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_ptr_eq(a->h[0].saw_err, a->err);
  expect_rejected(OUT(a, 0), a->err);
}
static void check_2_2_1_null_fulfilled_fulfilled(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 0);
  expect_fulfilled(OUT(a, 0), DUMMY);
}

/* 2.2.1.1: if onFulfilled is not a function (NULL), it is ignored: applied
 * to a rejected future, on_rejected still runs. */
START_TEST(test_aplus_2_2_1_1_null_on_fulfilled_rejected) {
  test_rejected(body_2_2_1_null_fulfilled,
                check_2_2_1_null_fulfilled_rejected, NULL);
}
END_TEST

/* 2.2.1.1: NULL onFulfilled is ignored: a fulfilment passes through and
 * on_rejected does not run. */
START_TEST(test_aplus_2_2_1_1_null_on_fulfilled_fulfilled) {
  test_fulfilled(DUMMY, body_2_2_1_null_fulfilled,
                 check_2_2_1_null_fulfilled_fulfilled, NULL);
}
END_TEST

static void body_2_2_1_null_fulfilled_chained(aplus_t *a, future_t *p) {
  p = future_then(p, NULL, NULL, NULL);
  a->out[0] = future_then(p, NULL, handle, H(a, 0, ACT_PASS));
}

/* 2.2.1.1: NULL onFulfilled on a future rejected and then chained on. */
START_TEST(test_aplus_2_2_1_1_null_on_fulfilled_chained) {
  test_rejected(body_2_2_1_null_fulfilled_chained,
                check_2_2_1_null_fulfilled_rejected, NULL);
}
END_TEST

static void body_2_2_1_null_rejected(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, handle, NULL, H(a, 0, ACT_PASS));
}
static void check_2_2_1_null_rejected_fulfilled(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_ptr_eq(a->h[0].saw_value, DUMMY);
  expect_fulfilled(OUT(a, 0), DUMMY);
}
static void check_2_2_1_null_rejected_rejected(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 0);
  expect_rejected(OUT(a, 0), a->err);
}

/* 2.2.1.2: if onRejected is not a function (NULL), it is ignored: applied
 * to a fulfilled future, on_fulfilled still runs. */
START_TEST(test_aplus_2_2_1_2_null_on_rejected_fulfilled) {
  test_fulfilled(DUMMY, body_2_2_1_null_rejected,
                 check_2_2_1_null_rejected_fulfilled, NULL);
}
END_TEST

/* 2.2.1.2: NULL onRejected is ignored: a rejection passes through and
 * on_fulfilled does not run. */
START_TEST(test_aplus_2_2_1_2_null_on_rejected_rejected) {
  test_rejected(body_2_2_1_null_rejected, check_2_2_1_null_rejected_rejected,
                NULL);
}
END_TEST

static void body_2_2_1_null_rejected_chained(aplus_t *a, future_t *p) {
  p = future_then(p, NULL, NULL, NULL);
  a->out[0] = future_then(p, handle, NULL, H(a, 0, ACT_PASS));
}

/* 2.2.1.2: NULL onRejected on a future fulfilled and then chained on. */
START_TEST(test_aplus_2_2_1_2_null_on_rejected_chained) {
  test_fulfilled(DUMMY, body_2_2_1_null_rejected_chained,
                 check_2_2_1_null_rejected_fulfilled, NULL);
}
END_TEST

/* ======================================================================== */
/* 2.2.2 If onFulfilled is a function / 2.2.3 If onRejected is a function   */
/* The bodies below take `rejecting` and serve both clauses.                */

static void body_attach_one(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, handle, handle, H(a, 0, ACT_PASS));
  a->returned = 1;
  ck_assert_int_eq(a->h[0].calls, 0);
}

static void check_2_2_2_1(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_int_eq(a->h[0].saw_state, FUTURE_FULFILLED);
  ck_assert_ptr_eq(a->h[0].saw_value, SENTINEL);
  ck_assert(a->h[0].source_was_settled);
  expect_fulfilled(OUT(a, 0), SENTINEL);
}

static void check_2_2_3_1(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_int_eq(a->h[0].saw_state, FUTURE_REJECTED);
  ck_assert_ptr_eq(a->h[0].saw_err, a->err);
  ck_assert_ptr_null(a->h[0].saw_value);
  ck_assert(a->h[0].source_was_settled);
  expect_rejected(OUT(a, 0), a->err);
}

/* 2.2.2.1: it must be called after the future is fulfilled, with the
 * future's value as its first argument. */
START_TEST(test_aplus_2_2_2_1_called_with_value) {
  test_fulfilled(SENTINEL, body_attach_one, check_2_2_2_1, NULL);
}
END_TEST

/* 2.2.3.1: it must be called after the future is rejected, with the
 * future's reason (the very same error) as its first argument. */
START_TEST(test_aplus_2_2_3_1_called_with_reason) {
  test_rejected(body_attach_one, check_2_2_3_1, NULL);
}
END_TEST

/* A direct (single-loop) aplus_t: a pending source d = a->resolver that
 * fulfils with DUMMY or rejects with a->err. */
static aplus_t *direct_new(fixture_t *fx, int rejecting) {
  aplus_t *a = calloc(1, sizeof *a);
  int i;
  ck_assert_ptr_nonnull(a);
  fx_init(fx);
  a->rejecting = rejecting;
  a->value = DUMMY;
  a->err = rejecting ? future_error_new(REASON_CODE, "reason") : NULL;
  for (i = 0; i < 4; i++)
    a->errs[i] = future_error_new(OTHER_CODE, "thrown %d", i);
  a->resolver = future_new(&fx->loop);
  return a;
}

static void direct_done(fixture_t *fx, aplus_t *a) {
  int i;
  for (i = 0; i < MAX_OUT; i++)
    ck_assert_msg(a->out[i] == NULL, "out[%d] not checked", i);
  future_unref(a->resolver);
  future_error_unref(a->err);
  for (i = 0; i < 4; i++)
    future_error_unref(a->errs[i]);
  free(a);
  fx_done(fx);
}

/* The outcome the source settled with, checked on a pass-through. */
static void expect_source_outcome(aplus_t *a, future_t *f) {
  if (a->rejecting)
    expect_rejected(f, a->err);
  else
    expect_fulfilled(f, a->value);
}

/* Try to settle the source a second time (the other value / error). */
static void settle_again(aplus_t *a, int other_way) {
  int reject = other_way ? !a->rejecting : a->rejecting;
  if (reject)
    ck_assert_int_eq(
        future_reject(a->resolver, future_error_ref(a->errs[0])),
        FUTURE_ESETTLED);
  else
    ck_assert_int_eq(future_resolve(a->resolver, OTHER, count_dtor),
                     FUTURE_ESETTLED);
}

static void settle_again_later(later_t *l) { settle_again(l->ctx, l->arg); }

static void check_handler_once(aplus_t *a, handler_t *h) {
  ck_assert_int_eq(h->calls, 1);
  ck_assert(h->source_was_settled);
  if (a->rejecting) {
    ck_assert_int_eq(h->saw_state, FUTURE_REJECTED);
    ck_assert_ptr_eq(h->saw_err, a->err);
  } else {
    ck_assert_int_eq(h->saw_state, FUTURE_FULFILLED);
    ck_assert_ptr_eq(h->saw_value, a->value);
  }
}

/* 2.2.2.2 / 2.2.3.2: not called before the future settles (settled after a
 * delay): the handler sees the source flagged as settled. */
static void not_before_delayed(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  later(&fx.loop, &a->settle_timer, 1, settle_later, a, 0);
  ck_assert_int_eq(a->h[0].calls, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* 2.2.2.2 / 2.2.3.2: never settled: never called. */
static void never_settled(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 0);
  expect_pending(OUT(a, 0));
  future_unref(a->resolver); /* nobody can settle it: freed with its chain */
  a->resolver = NULL;
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 0);
  direct_done(&fx, a);
}

/* 2.2.2.3 / 2.2.3.3: not more than once: already settled, loop run twice. */
static void once_already(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  settle_source(a);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* 2.2.2.3 / 2.2.3.3: settling a pending future twice (the same way, or the
 * other way when `other_way`), immediately: called once, with the first. */
static void once_settle_twice_immediately(int rejecting, int other_way) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  dtor_calls = 0;
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  settle_source(a);
  settle_again(a, other_way);
  ck_assert_int_eq(a->h[0].calls, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
  ck_assert_int_eq(dtor_calls, (other_way ? !rejecting : rejecting) ? 0 : 1);
  direct_done(&fx, a);
}

/* 2.2.2.3 / 2.2.3.3: settling twice, both delayed (two timers). */
static void once_settle_twice_delayed(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  later(&fx.loop, &a->timers[0], 1, settle_source_later, a, 0);
  later(&fx.loop, &a->timers[1], 3, settle_again_later, a, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(a->timers[0].fired && a->timers[1].fired);
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* 2.2.2.3 / 2.2.3.3: settling twice, immediately then delayed. */
static void once_settle_immediately_then_delayed(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  settle_source(a);
  later(&fx.loop, &a->timers[0], 1, settle_again_later, a, 1);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(a->timers[0].fired);
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* Attach handler `arg` to the future in ctx (a->resolver) from a timer. */
static void attach_later(later_t *l) {
  aplus_t *a = l->ctx;
  a->out[l->arg] = future_then(future_ref(a->resolver), handle, handle,
                               H(a, l->arg, ACT_PASS));
  ck_assert_int_eq(a->h[l->arg].calls, 0);
}

/* 2.2.2.3 / 2.2.3.3: multiple then calls spaced apart in time: each handler
 * is called once, in order. */
static void spaced_apart(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  int i;
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  later(&fx.loop, &a->timers[0], 1, attach_later, a, 1);
  later(&fx.loop, &a->timers[1], 3, attach_later, a, 2);
  later(&fx.loop, &a->timers[2], 5, settle_source_later, a, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  for (i = 0; i < 3; i++) {
    check_handler_once(a, &a->h[i]);
    expect_source_outcome(a, OUT(a, i));
  }
  ck_assert_int_eq(a->norder, 3);
  ck_assert_int_eq(a->order[0], 0);
  ck_assert_int_eq(a->order[1], 1);
  ck_assert_int_eq(a->order[2], 2);
  direct_done(&fx, a);
}

/* 2.2.2.3 / 2.2.3.3: then interleaved with settling: one handler attached
 * before the settle, one after; each called once. */
static void interleaved(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  settle_source(a);
  a->out[1] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 1, ACT_PASS));
  ck_assert_int_eq(a->h[0].calls + a->h[1].calls, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  check_handler_once(a, &a->h[1]);
  ck_assert_int_eq(a->order[0], 0);
  ck_assert_int_eq(a->order[1], 1);
  expect_source_outcome(a, OUT(a, 0));
  expect_source_outcome(a, OUT(a, 1));
  direct_done(&fx, a);
}

/* 2.2.2.2: not called before the future is fulfilled: fulfilled after a
 * delay. */
START_TEST(test_aplus_2_2_2_2_not_before_fulfilled_delayed) {
  not_before_delayed(0);
}
END_TEST

/* 2.2.2.2: not called before the future is fulfilled: never fulfilled. */
START_TEST(test_aplus_2_2_2_2_never_fulfilled) { never_settled(0); }
END_TEST

/* 2.2.2.3: not called more than once: already fulfilled. */
START_TEST(test_aplus_2_2_2_3_once_already_fulfilled) { once_already(0); }
END_TEST

/* 2.2.2.3: fulfilling a pending future more than once, immediately. */
START_TEST(test_aplus_2_2_2_3_once_fulfil_twice_immediately) {
  once_settle_twice_immediately(0, 0);
}
END_TEST

/* 2.2.2.3: fulfilling then rejecting, immediately: on_fulfilled once, and
 * on_rejected never. */
START_TEST(test_aplus_2_2_2_3_once_fulfil_then_reject_immediately) {
  once_settle_twice_immediately(0, 1);
}
END_TEST

/* 2.2.2.3: fulfilling a pending future more than once, delayed. */
START_TEST(test_aplus_2_2_2_3_once_fulfil_twice_delayed) {
  once_settle_twice_delayed(0);
}
END_TEST

/* 2.2.2.3: fulfilling immediately, then rejecting delayed. */
START_TEST(test_aplus_2_2_2_3_once_fulfil_immediately_then_delayed) {
  once_settle_immediately_then_delayed(0);
}
END_TEST

/* 2.2.2.3: multiple then calls spaced apart in time. */
START_TEST(test_aplus_2_2_2_3_once_spaced_apart) { spaced_apart(0); }
END_TEST

/* 2.2.2.3: then interleaved with fulfilment. */
START_TEST(test_aplus_2_2_2_3_once_interleaved) { interleaved(0); }
END_TEST

/* 2.2.3.2: not called before the future is rejected: rejected after a
 * delay. */
START_TEST(test_aplus_2_2_3_2_not_before_rejected_delayed) {
  not_before_delayed(1);
}
END_TEST

/* 2.2.3.2: not called before the future is rejected: never rejected. */
START_TEST(test_aplus_2_2_3_2_never_rejected) { never_settled(1); }
END_TEST

/* 2.2.3.3: not called more than once: already rejected. */
START_TEST(test_aplus_2_2_3_3_once_already_rejected) { once_already(1); }
END_TEST

/* 2.2.3.3: rejecting a pending future more than once, immediately. */
START_TEST(test_aplus_2_2_3_3_once_reject_twice_immediately) {
  once_settle_twice_immediately(1, 0);
}
END_TEST

/* 2.2.3.3: rejecting then fulfilling, immediately: on_rejected once, and
 * on_fulfilled never (the refused value's destructor runs at once). */
START_TEST(test_aplus_2_2_3_3_once_reject_then_fulfil_immediately) {
  once_settle_twice_immediately(1, 1);
}
END_TEST

/* 2.2.3.3: rejecting a pending future more than once, delayed. */
START_TEST(test_aplus_2_2_3_3_once_reject_twice_delayed) {
  once_settle_twice_delayed(1);
}
END_TEST

/* 2.2.3.3: rejecting immediately, then fulfilling delayed. */
START_TEST(test_aplus_2_2_3_3_once_reject_immediately_then_delayed) {
  once_settle_immediately_then_delayed(1);
}
END_TEST

/* 2.2.3.3: multiple then calls spaced apart in time. */
START_TEST(test_aplus_2_2_3_3_once_spaced_apart) { spaced_apart(1); }
END_TEST

/* 2.2.3.3: then interleaved with rejection. */
START_TEST(test_aplus_2_2_3_3_once_interleaved) { interleaved(1); }
END_TEST

/* ======================================================================== */
/* 2.2.4 onFulfilled or onRejected must not be called until the execution   */
/* context stack contains only platform code: here, not inside future_then  */
/* or the settling call, only from uv_run.                                  */

static void check_then_returned_first(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert(a->h[0].chain_returned);
  expect_source_outcome(a, OUT(a, 0));
}

/* 2.2.4: then returns before the future's on_fulfilled is called. */
START_TEST(test_aplus_2_2_4_then_returns_before_fulfilled_cb) {
  test_fulfilled(DUMMY, body_attach_one, check_then_returned_first, NULL);
}
END_TEST

/* 2.2.4: then returns before the future's on_rejected is called. */
START_TEST(test_aplus_2_2_4_then_returns_before_rejected_cb) {
  test_rejected(body_attach_one, check_then_returned_first, NULL);
}
END_TEST

/* 2.2.4: handler added immediately before the settle: not called inside
 * the settling call. */
static void added_before_settle(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  settle_source(a);
  ck_assert_int_eq(a->h[0].calls, 0);
  a->returned = 1;
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  ck_assert(a->h[0].chain_returned);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* 2.2.4: handler added immediately after the settle: not called inside
 * future_then. */
static void added_after_settle(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  settle_source(a);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  ck_assert_int_eq(a->h[0].calls, 0);
  a->returned = 1;
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  ck_assert(a->h[0].chain_returned);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* 2.2.4: the future is settled asynchronously (from a timer callback), with
 * the handler attached before: not called inside the settling call. */
static void settle_and_check_later(later_t *l) {
  aplus_t *a = l->ctx;
  settle_source(a);
  ck_assert_int_eq(a->h[0].calls, 0);
  a->returned = 1;
}

static void settled_asynchronously(int rejecting) {
  fixture_t fx;
  aplus_t *a = direct_new(&fx, rejecting);
  a->out[0] = future_then(future_ref(a->resolver), handle, handle,
                          H(a, 0, ACT_PASS));
  later(&fx.loop, &a->timers[0], 1, settle_and_check_later, a, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  check_handler_once(a, &a->h[0]);
  ck_assert(a->h[0].chain_returned);
  expect_source_outcome(a, OUT(a, 0));
  direct_done(&fx, a);
}

/* 2.2.4: a handler added inside another handler of the same future is not
 * called inside that future_then (checked in handle(), ACT_NEST), and runs
 * after the outer handler has returned. */
static void body_nested(aplus_t *a, future_t *p) {
  handler_t *outer = H(a, 0, ACT_NEST);
  outer->nested = H(a, 1, ACT_PASS);
  outer->nested_out = &a->out[1];
  a->out[0] = future_then(p, handle, handle, outer);
}

static void check_nested(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_int_eq(a->h[1].calls, 1);
  ck_assert_int_eq(a->norder, 2);
  ck_assert_int_eq(a->order[0], 0);
  ck_assert_int_eq(a->order[1], 1);
  expect_source_outcome(a, OUT(a, 0));
  expect_source_outcome(a, OUT(a, 1));
}

/* on_rejected of one future attaches an on_fulfilled to another (already
 * fulfilled) future; that one is not called inside future_then. */
typedef struct {
  handler_t *inner;
  future_t *other;
  future_t *inner_out;
  int outer_done;
  int inner_saw_outer_done;
} cross_t;

static future_t *cross_inner(future_t *settled, void *data) {
  cross_t *c = data;
  c->inner_saw_outer_done = c->outer_done;
  return future_ref(settled);
}

static future_t *cross_outer(future_t *settled, void *data) {
  cross_t *c = data;
  c->inner_out = future_then(future_ref(c->other), cross_inner, NULL, c);
  ck_assert_int_eq(c->inner_saw_outer_done, 0);
  c->outer_done = 1;
  return future_resolved(future_loop(settled), NULL, NULL);
}

static void cross_handlers(int outer_rejects) {
  fixture_t fx;
  cross_t c;
  future_error_t *e;
  future_t *src, *g;
  memset(&c, 0, sizeof c);
  fx_init(&fx);
  e = future_error_new(REASON_CODE, "reason");
  src = outer_rejects ? future_rejected(&fx.loop, future_error_ref(e))
                      : future_resolved(&fx.loop, DUMMY, NULL);
  c.other = future_resolved(&fx.loop, SENTINEL, NULL);
  g = outer_rejects ? future_then(src, NULL, cross_outer, &c)
                    : future_then(src, cross_outer, NULL, &c);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(c.outer_done);
  ck_assert(c.inner_saw_outer_done);
  expect_fulfilled(g, NULL);
  expect_fulfilled(c.inner_out, SENTINEL);
  future_unref(c.other);
  future_error_unref(e);
  fx_done(&fx);
}

/* 2.2.4: on_fulfilled added immediately before the future is fulfilled. */
START_TEST(test_aplus_2_2_4_added_before_fulfilment) {
  added_before_settle(0);
}
END_TEST

/* 2.2.4: on_fulfilled added immediately after the future is fulfilled. */
START_TEST(test_aplus_2_2_4_added_after_fulfilment) { added_after_settle(0); }
END_TEST

/* 2.2.4: on_rejected added immediately before the future is rejected. */
START_TEST(test_aplus_2_2_4_added_before_rejection) { added_before_settle(1); }
END_TEST

/* 2.2.4: on_rejected added immediately after the future is rejected. */
START_TEST(test_aplus_2_2_4_added_after_rejection) { added_after_settle(1); }
END_TEST

/* 2.2.4: when the future is fulfilled asynchronously (from a timer). */
START_TEST(test_aplus_2_2_4_fulfilled_asynchronously) {
  settled_asynchronously(0);
}
END_TEST

/* 2.2.4: when the future is rejected asynchronously (from a timer). */
START_TEST(test_aplus_2_2_4_rejected_asynchronously) {
  settled_asynchronously(1);
}
END_TEST

/* 2.2.4: when one on_fulfilled is added inside another on_fulfilled. */
START_TEST(test_aplus_2_2_4_fulfilled_added_inside_fulfilled) {
  test_fulfilled(DUMMY, body_nested, check_nested, NULL);
}
END_TEST

/* 2.2.4: when one on_rejected is added inside another on_rejected. */
START_TEST(test_aplus_2_2_4_rejected_added_inside_rejected) {
  test_rejected(body_nested, check_nested, NULL);
}
END_TEST

/* 2.2.4: when on_fulfilled (of another future) is added inside an
 * on_rejected. */
START_TEST(test_aplus_2_2_4_fulfilled_added_inside_rejected) {
  cross_handlers(1);
}
END_TEST

/* 2.2.4: when on_fulfilled (of another future) is added inside an
 * on_fulfilled. */
START_TEST(test_aplus_2_2_4_fulfilled_added_inside_other_fulfilled) {
  cross_handlers(0);
}
END_TEST

/* ======================================================================== */
/* 2.2.5 onFulfilled and onRejected must be called as functions (with no    */
/* `this` value). C callbacks have no `this` (they get `settled` and        */
/* `data`): there is nothing to port, and the clause is skipped.            */

/* ======================================================================== */
/* 2.2.6 then may be called multiple times on the same future (fan-out with */
/* future_ref); the handlers run in the order of their originating calls.   */

/* Attach handler i (already set up) to a new reference of p. */
static void attach(aplus_t *a, future_t *p, int i) {
  a->out[i] = future_then(future_ref(p), handle, handle, &a->h[i]);
  ck_assert_ptr_nonnull(a->out[i]);
}

static void check_order(aplus_t *a, int n) {
  int i;
  ck_assert_int_eq(a->norder, n);
  for (i = 0; i < n; i++)
    ck_assert_int_eq(a->order[i], i);
}

static void body_fanout_boring(aplus_t *a, future_t *p) {
  int i;
  for (i = 0; i < 3; i++) {
    H(a, i, ACT_PASS);
    attach(a, p, i);
  }
  future_unref(p);
}

static void check_fanout_boring(aplus_t *a) {
  int i;
  for (i = 0; i < 3; i++) {
    check_handler_once(a, &a->h[i]);
    expect_source_outcome(a, OUT(a, i));
  }
  check_order(a, 3);
}

/* One handler throws (returns a rejected future); the others still run and
 * their chains are unaffected. */
static void body_fanout_one_throws(aplus_t *a, future_t *p) {
  handler_t *h;
  H(a, 0, a->rejecting ? ACT_VALUE : ACT_PASS)->value = OTHER;
  h = H(a, 1, ACT_THROW);
  h->err = a->errs[1];
  H(a, 2, a->rejecting ? ACT_VALUE : ACT_PASS)->value = OTHER;
  attach(a, p, 0);
  attach(a, p, 1);
  attach(a, p, 2);
  future_unref(p);
}

static void check_fanout_one_throws(aplus_t *a) {
  int i;
  for (i = 0; i < 3; i++)
    check_handler_once(a, &a->h[i]);
  check_order(a, 3);
  if (a->rejecting) {
    expect_fulfilled(OUT(a, 0), OTHER);
    expect_fulfilled(OUT(a, 2), OTHER);
  } else {
    expect_fulfilled(OUT(a, 0), a->value);
    expect_fulfilled(OUT(a, 2), a->value);
  }
  expect_rejected(OUT(a, 1), a->errs[1]);
}

/* Multiple branching chains, each with its own fulfilment value. */
static void body_fanout_branching(aplus_t *a, future_t *p) {
  int i;
  for (i = 0; i < 3; i++) {
    H(a, i, ACT_VALUE)->value = INT2P(100 + i);
    attach(a, p, i);
  }
  future_unref(p);
}

static void check_fanout_branching(aplus_t *a) {
  int i;
  for (i = 0; i < 3; i++) {
    check_handler_once(a, &a->h[i]);
    expect_fulfilled(OUT(a, i), INT2P(100 + i));
  }
}

/* A mix: a value, a throw, a pass-through, a NULL-callback pass-through, a
 * NULL return (UV_ENOMEM) and another throw; each branch gets its
 * own outcome, none affects the others. */
static void body_fanout_mixed(aplus_t *a, future_t *p) {
  H(a, 0, ACT_VALUE)->value = SENTINEL;
  H(a, 1, ACT_THROW)->err = a->errs[1];
  H(a, 2, ACT_PASS);
  H(a, 4, ACT_NULL);
  H(a, 5, ACT_THROW)->err = a->errs[2];
  attach(a, p, 0);
  attach(a, p, 1);
  attach(a, p, 2);
  a->out[3] = future_then(future_ref(p), NULL, NULL, NULL);
  attach(a, p, 4);
  attach(a, p, 5);
  future_unref(p);
}

static void check_fanout_mixed(aplus_t *a) {
  ck_assert_int_eq(a->norder, 5);
  ck_assert_int_eq(a->order[0], 0);
  ck_assert_int_eq(a->order[1], 1);
  ck_assert_int_eq(a->order[2], 2);
  ck_assert_int_eq(a->order[3], 4);
  ck_assert_int_eq(a->order[4], 5);
  expect_fulfilled(OUT(a, 0), SENTINEL);
  expect_rejected(OUT(a, 1), a->errs[1]);
  expect_source_outcome(a, OUT(a, 2));
  expect_source_outcome(a, OUT(a, 3));
  expect_rejected_code(OUT(a, 4), UV_ENOMEM);
  expect_rejected(OUT(a, 5), a->errs[2]);
}

/* Handlers are called in the original order (five of them). */
static void body_fanout_order(aplus_t *a, future_t *p) {
  int i;
  for (i = 0; i < 5; i++) {
    H(a, i, ACT_PASS);
    attach(a, p, i);
  }
  future_unref(p);
}

static void check_fanout_order(aplus_t *a) {
  int i;
  check_order(a, 5);
  for (i = 0; i < 5; i++)
    expect_source_outcome(a, OUT(a, i));
}

/* One handler is added inside another handler: it runs after the handlers
 * already queued (order 0 1 2, then 3 added by 0). */
static void body_fanout_nested(aplus_t *a, future_t *p) {
  handler_t *h0 = H(a, 0, ACT_NEST);
  H(a, 1, ACT_PASS);
  H(a, 2, ACT_PASS);
  h0->nested = H(a, 3, ACT_PASS);
  h0->nested_out = &a->out[3];
  attach(a, p, 0);
  attach(a, p, 1);
  attach(a, p, 2);
  future_unref(p);
}

static void check_fanout_nested(aplus_t *a) {
  int i;
  check_order(a, 4);
  for (i = 0; i < 4; i++) {
    check_handler_once(a, &a->h[i]);
    expect_source_outcome(a, OUT(a, i));
  }
}

/* A handler that throws adds a handler inside; the throw does not stop the
 * nested one or the later ones. */
static void body_fanout_nested_throws(aplus_t *a, future_t *p) {
  handler_t *h0 = H(a, 0, ACT_NEST);
  h0->nested = H(a, 2, ACT_THROW);
  h0->nested->err = a->errs[0];
  h0->nested_out = &a->out[2];
  H(a, 1, ACT_THROW)->err = a->errs[1];
  attach(a, p, 0);
  attach(a, p, 1);
  future_unref(p);
}

static void check_fanout_nested_throws(aplus_t *a) {
  check_order(a, 3);
  expect_source_outcome(a, OUT(a, 0));
  expect_rejected(OUT(a, 1), a->errs[1]);
  expect_rejected(OUT(a, 2), a->errs[0]);
}

/* 2.2.6.1: multiple boring fulfilment handlers: each called once with the
 * value. */
START_TEST(test_aplus_2_2_6_1_boring_handlers) {
  test_fulfilled(SENTINEL, body_fanout_boring, check_fanout_boring, NULL);
}
END_TEST

/* 2.2.6.1: multiple fulfilment handlers, one of which throws. */
START_TEST(test_aplus_2_2_6_1_one_throws) {
  test_fulfilled(SENTINEL, body_fanout_one_throws, check_fanout_one_throws,
                 NULL);
}
END_TEST

/* 2.2.6.1: results in multiple branching chains with their own fulfilment
 * values. */
START_TEST(test_aplus_2_2_6_1_branching_chains) {
  test_fulfilled(DUMMY, body_fanout_branching, check_fanout_branching, NULL);
}
END_TEST

/* 2.2.6.1: on_fulfilled handlers are called in the original order. */
START_TEST(test_aplus_2_2_6_1_fulfilled_order) {
  test_fulfilled(DUMMY, body_fanout_order, check_fanout_order, NULL);
}
END_TEST

/* 2.2.6.1: order kept even when one handler is added inside another. */
START_TEST(test_aplus_2_2_6_1_fulfilled_order_nested) {
  test_fulfilled(DUMMY, body_fanout_nested, check_fanout_nested, NULL);
}
END_TEST

/* 2.2.6.1: a mix of values, throws, pass-throughs and NULL results. */
START_TEST(test_aplus_2_2_6_1_mixed_handlers) {
  test_fulfilled(DUMMY, body_fanout_mixed, check_fanout_mixed, NULL);
}
END_TEST

/* 2.2.6.1: throwing handlers around a nested handler. */
START_TEST(test_aplus_2_2_6_1_nested_with_throws) {
  test_fulfilled(DUMMY, body_fanout_nested_throws,
                 check_fanout_nested_throws, NULL);
}
END_TEST

/* 2.2.6.2: multiple boring rejection handlers: each called once with the
 * reason. */
START_TEST(test_aplus_2_2_6_2_boring_handlers) {
  test_rejected(body_fanout_boring, check_fanout_boring, NULL);
}
END_TEST

/* 2.2.6.2: multiple rejection handlers, one of which throws. */
START_TEST(test_aplus_2_2_6_2_one_throws) {
  test_rejected(body_fanout_one_throws, check_fanout_one_throws, NULL);
}
END_TEST

/* 2.2.6.2: results in multiple branching chains with their own fulfilment
 * values. */
START_TEST(test_aplus_2_2_6_2_branching_chains) {
  test_rejected(body_fanout_branching, check_fanout_branching, NULL);
}
END_TEST

/* 2.2.6.2: on_rejected handlers are called in the original order. */
START_TEST(test_aplus_2_2_6_2_rejected_order) {
  test_rejected(body_fanout_order, check_fanout_order, NULL);
}
END_TEST

/* 2.2.6.2: order kept even when one handler is added inside another. */
START_TEST(test_aplus_2_2_6_2_rejected_order_nested) {
  test_rejected(body_fanout_nested, check_fanout_nested, NULL);
}
END_TEST

/* 2.2.6.2: a mix of values, throws, pass-throughs and NULL results. */
START_TEST(test_aplus_2_2_6_2_mixed_handlers) {
  test_rejected(body_fanout_mixed, check_fanout_mixed, NULL);
}
END_TEST

/* 2.2.6.2: throwing handlers around a nested handler. */
START_TEST(test_aplus_2_2_6_2_nested_with_throws) {
  test_rejected(body_fanout_nested_throws, check_fanout_nested_throws, NULL);
}
END_TEST

/* ======================================================================== */
/* 2.2.7 then must return a promise: promise2 = promise1.then(a, b)         */

static void body_then_returns_future(aplus_t *a, future_t *p) {
  future_t *before = p;
  a->out[0] = future_then(p, handle, handle, H(a, 0, ACT_PASS));
  ck_assert_ptr_nonnull(a->out[0]);
  ck_assert_ptr_ne(a->out[0], before);
  ck_assert_int_eq(future_state(a->out[0]), FUTURE_PENDING);
  ck_assert_ptr_eq(future_loop(a->out[0]), &a->loop);
}

static void check_then_returns_future(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
}

/* 2.2.7: then returns a (new, pending) future, for a fulfilled source. */
START_TEST(test_aplus_2_2_7_returns_future_fulfilled) {
  test_fulfilled(DUMMY, body_then_returns_future, check_then_returns_future,
                 NULL);
}
END_TEST

/* 2.2.7: then returns a (new, pending) future, for a rejected source. */
START_TEST(test_aplus_2_2_7_returns_future_rejected) {
  test_rejected(body_then_returns_future, check_then_returns_future, NULL);
}
END_TEST

static void body_returns_value(aplus_t *a, future_t *p) {
  H(a, 0, ACT_VALUE)->value = SENTINEL;
  a->out[0] = future_then(p, handle, handle, &a->h[0]);
}

static void check_returns_value(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  expect_fulfilled(OUT(a, 0), SENTINEL);
}

/* 2.2.7.1: on_fulfilled returns a value x: promise2 is fulfilled with x. */
START_TEST(test_aplus_2_2_7_1_fulfilled_returns_value) {
  test_fulfilled(DUMMY, body_returns_value, check_returns_value, NULL);
}
END_TEST

/* 2.2.7.1: on_rejected returns a value x: promise2 is fulfilled with x. */
START_TEST(test_aplus_2_2_7_1_rejected_returns_value) {
  test_rejected(body_returns_value, check_returns_value, NULL);
}
END_TEST

static void body_throws(aplus_t *a, future_t *p) {
  H(a, 0, ACT_THROW)->err = a->errs[3];
  a->out[0] = future_then(p, handle, handle, &a->h[0]);
}

static void check_throws(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  expect_rejected(OUT(a, 0), a->errs[3]);
}

/* 2.2.7.2: on_fulfilled throws e: promise2 is rejected with the very same
 * error e. */
START_TEST(test_aplus_2_2_7_2_fulfilled_throws) {
  test_fulfilled(DUMMY, body_throws, check_throws, NULL);
}
END_TEST

/* 2.2.7.2: on_rejected throws e: promise2 is rejected with the very same
 * error e. */
START_TEST(test_aplus_2_2_7_2_rejected_throws) {
  test_rejected(body_throws, check_throws, NULL);
}
END_TEST

/* Throw errors of every code range: libuv's, the library's, the user's. */
static void body_throws_codes(aplus_t *a, future_t *p) {
  static const int codes[3] = {UV_EIO, FUTURE_ESTALLED, FUTURE_EUSER(42)};
  int i;
  for (i = 0; i < 3; i++) {
    future_error_unref(a->errs[i]);
    a->errs[i] = future_error_new(codes[i], "code %d", i);
    H(a, i, ACT_THROW)->err = a->errs[i];
    attach(a, p, i);
  }
  future_unref(p);
}

static void check_throws_codes(aplus_t *a) {
  int i;
  for (i = 0; i < 3; i++)
    expect_rejected(OUT(a, i), a->errs[i]);
}

/* 2.2.7.2: thrown reasons of any kind (libuv, library and user codes) reach
 * promise2 unchanged. */
START_TEST(test_aplus_2_2_7_2_throw_any_code) {
  test_fulfilled(DUMMY, body_throws_codes, check_throws_codes, NULL);
}
END_TEST

/* on_rejected wraps the reason: promise2 is rejected with the new error,
 * whose cause is the very same original error. */
static future_t *wrap_reason(future_t *settled, void *data) {
  (void)data;
  return future_rejected(
      future_loop(settled),
      future_error_wrap(future_error(settled), OTHER_CODE, "wrapped"));
}

static void body_wrap(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, NULL, wrap_reason, NULL);
}

static void check_wrap(aplus_t *a) {
  future_result_t r;
  future_t *f = OUT(a, 0);
  ck_assert_int_eq(future_wait(f, &r), OTHER_CODE);
  ck_assert_ptr_eq(future_error_cause(r.error), a->err);
  future_result_release(&r);
}

/* 2.2.7.2: on_rejected throws a new error wrapping the reason. */
START_TEST(test_aplus_2_2_7_2_rejected_throws_wrapped) {
  test_rejected(body_wrap, check_wrap, NULL);
}
END_TEST

static void body_null_on_fulfilled(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, NULL, handle, H(a, 0, ACT_VALUE));
}

static void check_passes_through(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 0);
  expect_source_outcome(a, OUT(a, 0));
}

/* 2.2.7.3: on_fulfilled NULL and promise1 fulfilled: promise2 fulfilled
 * with the same value. */
START_TEST(test_aplus_2_2_7_3_null_on_fulfilled_passes_value) {
  test_fulfilled(SENTINEL, body_null_on_fulfilled, check_passes_through,
                 NULL);
}
END_TEST

/* 2.2.7.3: the same, with a NULL value. */
START_TEST(test_aplus_2_2_7_3_null_on_fulfilled_passes_null) {
  test_fulfilled(NULL, body_null_on_fulfilled, check_passes_through, NULL);
}
END_TEST

static void body_catch_only(aplus_t *a, future_t *p) {
  a->out[0] = future_catch(p, handle, H(a, 0, ACT_VALUE));
}

/* 2.2.7.3: future_catch (on_fulfilled NULL) on a fulfilled future passes
 * the value through. */
START_TEST(test_aplus_2_2_7_3_catch_passes_value) {
  test_fulfilled(INT2P(-7), body_catch_only, check_passes_through, NULL);
}
END_TEST

static void body_null_on_rejected(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, handle, NULL, H(a, 0, ACT_VALUE));
}

/* 2.2.7.4: on_rejected NULL and promise1 rejected: promise2 rejected with
 * the very same error. */
START_TEST(test_aplus_2_2_7_4_null_on_rejected_passes_reason) {
  test_rejected(body_null_on_rejected, check_passes_through, NULL);
}
END_TEST

static void body_null_chain(aplus_t *a, future_t *p) {
  int i;
  for (i = 0; i < 4; i++)
    p = future_then(p, NULL, NULL, NULL);
  a->out[0] = future_then(p, NULL, NULL, H(a, 0, ACT_VALUE));
}

/* 2.2.7.4: a rejection passes several NULL-callback links unchanged. */
START_TEST(test_aplus_2_2_7_4_null_chain_passes_reason) {
  test_rejected(body_null_chain, check_passes_through, NULL);
}
END_TEST

/* 2.2.7.3: a fulfilment passes several NULL-callback links unchanged. */
START_TEST(test_aplus_2_2_7_3_null_chain_passes_value) {
  test_fulfilled(SENTINEL, body_null_chain, check_passes_through, NULL);
}
END_TEST

static void body_returns_null(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, handle, handle, H(a, 0, ACT_NULL));
}

static void check_returns_null(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  expect_rejected_code(OUT(a, 0), UV_ENOMEM);
}

/* 2.2.7 (C specific): a callback that returns NULL instead of a future
 * rejects promise2 with UV_ENOMEM, for either callback. */
START_TEST(test_aplus_2_2_7_returns_null_fulfilled) {
  test_fulfilled(DUMMY, body_returns_null, check_returns_null, NULL);
}
END_TEST

/* 2.2.7 (C specific): as above, from on_rejected. */
START_TEST(test_aplus_2_2_7_returns_null_rejected) {
  test_rejected(body_returns_null, check_returns_null, NULL);
}
END_TEST

/* ======================================================================== */
/* 2.3.1 If promise and x refer to the same object, reject promise with a   */
/* TypeError: here FUTURE_ECYCLE.                                           */

static void body_returns_self(aplus_t *a, future_t *p) {
  handler_t *h = H(a, 0, ACT_SELF);
  h->self = &a->out[0];
  a->out[0] = future_then(p, handle, handle, h);
  /* and see the error travel on */
  a->out[1] = future_then(future_ref(a->out[0]), NULL, handle,
                          H(a, 1, ACT_PASS));
}

static void check_returns_self(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  ck_assert_int_eq(a->h[1].calls, 1);
  ck_assert_int_eq(future_error_code(a->h[1].saw_err), FUTURE_ECYCLE);
  ck_assert_ptr_eq(a->h[1].saw_err, future_error(a->out[0]));
  expect_rejected_code(OUT(a, 0), FUTURE_ECYCLE);
  expect_rejected_code(OUT(a, 1), FUTURE_ECYCLE);
}

/* 2.3.1: on_fulfilled returns the chained future itself: it rejects with
 * FUTURE_ECYCLE. */
START_TEST(test_aplus_2_3_1_fulfilled_returns_self) {
  test_fulfilled(DUMMY, body_returns_self, check_returns_self, NULL);
}
END_TEST

/* 2.3.1: on_rejected returns the chained future itself: it rejects with
 * FUTURE_ECYCLE. */
START_TEST(test_aplus_2_3_1_rejected_returns_self) {
  test_rejected(body_returns_self, check_returns_self, NULL);
}
END_TEST

/* 2.3.1: a pending future adopting itself rejects with FUTURE_ECYCLE. */
START_TEST(test_aplus_2_3_1_adopt_self) {
  fixture_t fx;
  future_t *f, *g;
  aplus_t *a = calloc(1, sizeof *a);
  fx_init(&fx);
  f = future_new(&fx.loop);
  g = future_then(future_ref(f), handle, handle, H(a, 0, ACT_PASS));
  ck_assert_int_eq(future_adopt(f, future_ref(f)), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  ck_assert_int_eq(future_error_code(future_error(f)), FUTURE_ECYCLE);
  /* settled now: no second settle */
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), FUTURE_ESETTLED);
  ck_assert_int_eq(a->h[0].calls, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_int_eq(future_error_code(a->h[0].saw_err), FUTURE_ECYCLE);
  expect_rejected_code(g, FUTURE_ECYCLE);
  expect_rejected_code(f, FUTURE_ECYCLE);
  free(a);
  fx_done(&fx);
}
END_TEST

/* 2.3.1: the self-return is detected also when the chained future is only
 * referenced by the callback's data (the test dropped its own reference). */
static future_t *return_self_ptr(future_t *settled, void *data) {
  future_t **self = data;
  (void)settled;
  return future_ref(*self);
}

START_TEST(test_aplus_2_3_1_returns_self_then_chained) {
  fixture_t fx;
  future_t *p2, *tail;
  fx_init(&fx);
  p2 = future_then(future_resolved(&fx.loop, DUMMY, NULL), return_self_ptr,
                   NULL, &p2);
  tail = future_then(future_ref(p2), NULL, NULL, NULL);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  expect_rejected_code(tail, FUTURE_ECYCLE);
  expect_rejected_code(p2, FUTURE_ECYCLE);
  fx_done(&fx);
}
END_TEST

/* ======================================================================== */
/* 2.3.2 If x is a promise, adopt its state: here a callback returns a      */
/* future x (or future_adopt is called with it).                            */

enum {
  XM_PENDING_FOREVER,
  XM_FULFILLED_ALREADY,
  XM_REJECTED_ALREADY,
  XM_FULFILLED_EVENTUALLY,
  XM_REJECTED_EVENTUALLY
};

static void settle_x_later(later_t *l) {
  aplus_t *a = l->ctx;
  /* 2.3.2.1: promise2 stayed pending until now */
  a->out_pending_when_x_settled = future_state(a->out[0]) == FUTURE_PENDING;
  if (a->xmode == XM_FULFILLED_EVENTUALLY)
    ck_assert_int_eq(future_resolve(a->x, SENTINEL, NULL), 0);
  else
    ck_assert_int_eq(future_reject(a->x, future_error_ref(a->errs[3])), 0);
}

static void make_x(aplus_t *a, int xmode) {
  a->xmode = xmode;
  switch (xmode) {
  case XM_FULFILLED_ALREADY:
    a->x = future_resolved(&a->loop, SENTINEL, NULL);
    break;
  case XM_REJECTED_ALREADY:
    a->x = future_rejected(&a->loop, future_error_ref(a->errs[3]));
    break;
  default:
    a->x = future_new(&a->loop);
    break;
  }
  ck_assert_ptr_nonnull(a->x);
}

/* A callback (on either side) returns x. */
static void body_returns_x(aplus_t *a, future_t *p) {
  handler_t *h = H(a, 0, ACT_RETURN);
  make_x(a, P2INT(a->user));
  h->ret = a->x;
  a->out[0] = future_then(p, handle, handle, h);
  /* x settles 3 ms later: after the handler (the source settles by 1 ms) */
  if (a->xmode == XM_FULFILLED_EVENTUALLY || a->xmode == XM_REJECTED_EVENTUALLY)
    later(&a->loop, &a->timers[3], 3, settle_x_later, a, 0);
}

static void check_x_outcome(aplus_t *a) {
  switch (a->xmode) {
  case XM_PENDING_FOREVER:
    expect_pending(OUT(a, 0));
    break;
  case XM_FULFILLED_ALREADY:
    expect_fulfilled(OUT(a, 0), SENTINEL);
    break;
  case XM_REJECTED_ALREADY:
    expect_rejected(OUT(a, 0), a->errs[3]);
    break;
  case XM_FULFILLED_EVENTUALLY:
    ck_assert(a->out_pending_when_x_settled);
    expect_fulfilled(OUT(a, 0), SENTINEL);
    break;
  default:
    ck_assert(a->out_pending_when_x_settled);
    expect_rejected(OUT(a, 0), a->errs[3]);
    break;
  }
  future_unref(a->x);
  a->x = NULL;
}

static void check_returns_x(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  check_x_outcome(a);
}

#define X(mode) INT2P(mode)

/* 2.3.2.1: x pending (forever): promise2 remains pending; via return from
 * a fulfilled future. */
START_TEST(test_aplus_2_3_2_1_pending_from_fulfilled) {
  test_fulfilled(DUMMY, body_returns_x, check_returns_x,
                 X(XM_PENDING_FOREVER));
}
END_TEST

/* 2.3.2.1: x pending (forever); via return from a rejected future. */
START_TEST(test_aplus_2_3_2_1_pending_from_rejected) {
  test_rejected(body_returns_x, check_returns_x, X(XM_PENDING_FOREVER));
}
END_TEST

/* 2.3.2.1 + 2.3.2.2: x pending, fulfilled later: promise2 stays pending,
 * then fulfils with the same value; via return from a fulfilled future. */
START_TEST(test_aplus_2_3_2_2_eventually_fulfilled_from_fulfilled) {
  test_fulfilled(DUMMY, body_returns_x, check_returns_x,
                 X(XM_FULFILLED_EVENTUALLY));
}
END_TEST

/* 2.3.2.1 + 2.3.2.2: as above, via return from a rejected future. */
START_TEST(test_aplus_2_3_2_2_eventually_fulfilled_from_rejected) {
  test_rejected(body_returns_x, check_returns_x, X(XM_FULFILLED_EVENTUALLY));
}
END_TEST

/* 2.3.2.2: x already fulfilled: promise2 fulfils with the same value; via
 * return from a fulfilled future. */
START_TEST(test_aplus_2_3_2_2_already_fulfilled_from_fulfilled) {
  test_fulfilled(DUMMY, body_returns_x, check_returns_x,
                 X(XM_FULFILLED_ALREADY));
}
END_TEST

/* 2.3.2.2: x already fulfilled; via return from a rejected future. */
START_TEST(test_aplus_2_3_2_2_already_fulfilled_from_rejected) {
  test_rejected(body_returns_x, check_returns_x, X(XM_FULFILLED_ALREADY));
}
END_TEST

/* 2.3.2.1 + 2.3.2.3: x pending, rejected later: promise2 stays pending,
 * then rejects with the same error; via return from a fulfilled future. */
START_TEST(test_aplus_2_3_2_3_eventually_rejected_from_fulfilled) {
  test_fulfilled(DUMMY, body_returns_x, check_returns_x,
                 X(XM_REJECTED_EVENTUALLY));
}
END_TEST

/* 2.3.2.1 + 2.3.2.3: as above, via return from a rejected future. */
START_TEST(test_aplus_2_3_2_3_eventually_rejected_from_rejected) {
  test_rejected(body_returns_x, check_returns_x, X(XM_REJECTED_EVENTUALLY));
}
END_TEST

/* 2.3.2.3: x already rejected: promise2 rejects with the same error; via
 * return from a fulfilled future. */
START_TEST(test_aplus_2_3_2_3_already_rejected_from_fulfilled) {
  test_fulfilled(DUMMY, body_returns_x, check_returns_x,
                 X(XM_REJECTED_ALREADY));
}
END_TEST

/* 2.3.2.3: x already rejected; via return from a rejected future. */
START_TEST(test_aplus_2_3_2_3_already_rejected_from_rejected) {
  test_rejected(body_returns_x, check_returns_x, X(XM_REJECTED_ALREADY));
}
END_TEST

/* future_adopt(f, p) with the three kinds of source p. */
static void body_adopt(aplus_t *a, future_t *p) {
  future_t *f = future_new(&a->loop);
  ck_assert_int_eq(future_adopt(f, p), 0);
  a->out[0] = f;
  a->out[1] = future_then(future_ref(f), handle, handle, H(a, 0, ACT_PASS));
  if (!a->settled)
    ck_assert_int_eq(future_state(f), FUTURE_PENDING);
}

static void check_adopt(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  expect_source_outcome(a, OUT(a, 0));
  expect_source_outcome(a, OUT(a, 1));
}

/* 2.3.2.2: future_adopt of a fulfilled (already / immediately / eventually)
 * future takes its value. */
START_TEST(test_aplus_2_3_2_2_adopt_fulfilled) {
  test_fulfilled(SENTINEL, body_adopt, check_adopt, NULL);
}
END_TEST

/* 2.3.2.3: future_adopt of a rejected (already / immediately / eventually)
 * future takes its error. */
START_TEST(test_aplus_2_3_2_3_adopt_rejected) {
  test_rejected(body_adopt, check_adopt, NULL);
}
END_TEST

/* 2.3.2.1: future_adopt of a future that never settles: stays pending; all
 * of it is freed once released. */
START_TEST(test_aplus_2_3_2_1_adopt_pending_forever) {
  fixture_t fx;
  future_t *f, *src, *g;
  aplus_t *a = calloc(1, sizeof *a);
  fx_init(&fx);
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), 0);
  g = future_then(future_ref(f), handle, handle, H(a, 0, ACT_PASS));
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 0);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  expect_pending(g);
  expect_pending(f);
  expect_pending(src);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 0);
  free(a);
  fx_done(&fx);
}
END_TEST

/* ======================================================================== */
/* 2.3.3 x is a thenable: no C analogue (a future is the only "thenable").  */
/* Ported as the same call sequences on the settling functions:             */
/* future_resolve / future_reject / future_adopt, first call wins.          */

/* 2.3.3.3.3: resolve twice: the first call wins, the second returns
 * FUTURE_ESETTLED and its value's destructor runs at once. */
START_TEST(test_aplus_2_3_3_resolve_twice) {
  fixture_t fx;
  future_t *f;
  fx_init(&fx);
  dtor_calls = 0;
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  ck_assert_int_eq(future_resolve(f, OTHER, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1);
  expect_fulfilled(f, DUMMY);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: resolve then reject: the first call wins. */
START_TEST(test_aplus_2_3_3_resolve_then_reject) {
  fixture_t fx;
  future_t *f, *g;
  aplus_t *a = calloc(1, sizeof *a);
  fx_init(&fx);
  f = future_new(&fx.loop);
  g = future_then(future_ref(f), handle, handle, H(a, 0, ACT_PASS));
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  ck_assert_int_eq(future_reject(f, future_error_new(REASON_CODE, "no")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_int_eq(a->h[0].saw_state, FUTURE_FULFILLED);
  expect_fulfilled(g, DUMMY);
  expect_fulfilled(f, DUMMY);
  free(a);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: reject then resolve: the first call wins. */
START_TEST(test_aplus_2_3_3_reject_then_resolve) {
  fixture_t fx;
  future_t *f, *g;
  future_error_t *e;
  aplus_t *a = calloc(1, sizeof *a);
  fx_init(&fx);
  dtor_calls = 0;
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  g = future_then(future_ref(f), handle, handle, H(a, 0, ACT_PASS));
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  ck_assert_int_eq(future_resolve(f, DUMMY, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(a->h[0].calls, 1);
  ck_assert_ptr_eq(a->h[0].saw_err, e);
  expect_rejected(g, e);
  expect_rejected(f, e);
  future_error_unref(e);
  free(a);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: reject twice: the first call wins. */
START_TEST(test_aplus_2_3_3_reject_twice) {
  fixture_t fx;
  future_t *f;
  future_error_t *e;
  fx_init(&fx);
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_reject(f, future_error_ref(e)), 0);
  ck_assert_int_eq(future_reject(f, future_error_new(OTHER_CODE, "2nd")),
                   FUTURE_ESETTLED);
  expect_rejected(f, e);
  future_error_unref(e);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: adopting a pending future, then rejecting: the adoption wins
 * (FUTURE_ESETTLED), and f later takes the source's value. */
START_TEST(test_aplus_2_3_3_adopt_pending_then_reject) {
  fixture_t fx;
  future_t *f, *src;
  fx_init(&fx);
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), 0);
  ck_assert_int_eq(future_reject(f, future_error_new(REASON_CODE, "no")),
                   FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_resolve(src, SENTINEL, NULL), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  expect_fulfilled(f, SENTINEL);
  future_unref(src);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: adopting a pending future that later rejects, then resolving:
 * the adoption wins, and f later takes the source's error. */
START_TEST(test_aplus_2_3_3_adopt_pending_rejected_then_resolve) {
  fixture_t fx;
  future_t *f, *src;
  future_error_t *e;
  fx_init(&fx);
  dtor_calls = 0;
  e = future_error_new(REASON_CODE, "reason");
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), 0);
  ck_assert_int_eq(future_resolve(f, DUMMY, count_dtor), FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(future_reject(src, future_error_ref(e)), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  expect_rejected(f, e);
  expect_rejected(src, e);
  future_error_unref(e);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: adopting twice: the second adoption returns FUTURE_ESETTLED
 * and releases its source (consumed all the same). */
START_TEST(test_aplus_2_3_3_adopt_twice) {
  fixture_t fx;
  future_t *f, *src;
  fx_init(&fx);
  dtor_calls = 0;
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), 0);
  ck_assert_int_eq(
      future_adopt(f, future_resolved(&fx.loop, OTHER, count_dtor)),
      FUTURE_ESETTLED);
  ck_assert_int_eq(dtor_calls, 1); /* second source released at once */
  ck_assert_int_eq(future_resolve(src, DUMMY, NULL), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  expect_fulfilled(f, DUMMY);
  future_unref(src);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: resolve first, then adopt: the adoption is refused. */
START_TEST(test_aplus_2_3_3_resolve_then_adopt) {
  fixture_t fx;
  future_t *f, *src;
  fx_init(&fx);
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), FUTURE_ESETTLED);
  ck_assert_int_eq(future_resolve(src, OTHER, NULL), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  expect_fulfilled(f, DUMMY);
  expect_fulfilled(src, OTHER);
  fx_done(&fx);
}
END_TEST

/* 2.3.3.3.3: both settling calls made asynchronously (from two timers):
 * the first wins. */
static void resolve_first_later(later_t *l) {
  ck_assert_int_eq(future_resolve(l->ctx, DUMMY, NULL), 0);
}

START_TEST(test_aplus_2_3_3_resolve_then_reject_async) {
  fixture_t fx;
  future_t *f, *g;
  later_t l1, l2;
  fx_init(&fx);
  f = future_new(&fx.loop);
  g = future_then(future_ref(f), NULL, NULL, NULL);
  later(&fx.loop, &l1, 1, resolve_first_later, f, 0);
  later(&fx.loop, &l2, 2, reject_later, f, 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert(l1.fired && l2.fired);
  expect_fulfilled(g, DUMMY);
  expect_fulfilled(f, DUMMY);
  fx_done(&fx);
}
END_TEST

/* Adopt chains: f[0] adopts f[1] adopts ... f[n-1], which settles from a
 * timer; every link takes the outcome. `reverse` builds the links from
 * the inside out. */
static void settle_deepest(later_t *l) {
  future_t **f = l->ctx;
  if (l->arg)
    ck_assert_int_eq(future_reject(f[0], future_error_new(REASON_CODE, "d")),
                     0);
  else
    ck_assert_int_eq(future_resolve(f[0], SENTINEL, NULL), 0);
}

static void adopt_chain(int n, int rejecting, int reverse) {
  fixture_t fx;
  future_t **f = calloc((size_t)n, sizeof *f);
  future_t *g;
  later_t l;
  int i;
  fx_init(&fx);
  for (i = 0; i < n; i++)
    f[i] = future_new(&fx.loop);
  for (i = 0; i < n - 1; i++) {
    int k = reverse ? n - 2 - i : i;
    ck_assert_int_eq(future_adopt(f[k], future_ref(f[k + 1])), 0);
  }
  g = future_then(future_ref(f[0]), NULL, NULL, NULL);
  later(&fx.loop, &l, 1, settle_deepest, &f[n - 1], rejecting);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  if (rejecting) {
    const future_error_t *e = future_error(f[n - 1]);
    ck_assert_ptr_nonnull(e);
    for (i = 0; i < n; i++)
      ck_assert_ptr_eq(future_error(f[i]), e);
    expect_rejected(g, e);
    for (i = n - 1; i >= 0; i--)
      expect_rejected(f[i], e);
  } else {
    expect_fulfilled(g, SENTINEL);
    for (i = 0; i < n; i++)
      expect_fulfilled(f[i], SENTINEL);
  }
  free(f);
  fx_done(&fx);
}

/* 2.3.3.3.1 (y is itself a "thenable"): adopt chain five deep, fulfilled. */
START_TEST(test_aplus_2_3_3_adopt_chain_fulfilled) { adopt_chain(5, 0, 0); }
END_TEST

/* 2.3.3.3.2: adopt chain five deep, rejected: every link has the same
 * error. */
START_TEST(test_aplus_2_3_3_adopt_chain_rejected) { adopt_chain(5, 1, 0); }
END_TEST

/* 2.3.3.3.1: adopt chain built inside out, 100 deep. */
START_TEST(test_aplus_2_3_3_adopt_chain_deep_reverse) {
  adopt_chain(100, 0, 1);
}
END_TEST

/* 2.3.3.3.2: adopt chain built inside out, 100 deep, rejected. */
START_TEST(test_aplus_2_3_3_adopt_chain_deep_reverse_rejected) {
  adopt_chain(100, 1, 1);
}
END_TEST

/* A callback returns the end of another chain: q -> +1 -> +1 -> end, where
 * q is settled from a timer after the callback ran. */
static future_t *add_one(future_t *settled, void *data) {
  (void)data;
  return future_resolved(future_loop(settled),
                         INT2P(P2INT(future_value(settled)) + 1), NULL);
}

static void settle_q_later(later_t *l) {
  aplus_t *a = l->ctx;
  a->out_pending_when_x_settled = future_state(a->out[0]) == FUTURE_PENDING;
  ck_assert_int_eq(future_resolve(a->x, INT2P(40), NULL), 0);
}

static void body_returns_chain_end(aplus_t *a, future_t *p) {
  handler_t *h = H(a, 0, ACT_RETURN);
  future_t *end;
  a->x = future_new(&a->loop);
  end = future_then(future_ref(a->x), add_one, NULL, NULL);
  end = future_then(end, add_one, NULL, NULL);
  h->ret = end;
  a->out[0] = future_then(p, handle, handle, h);
  a->out[1] = end; /* the test's reference to the end of the chain */
  later(&a->loop, &a->timers[3], 3, settle_q_later, a, 0);
}

static void check_returns_chain_end(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  ck_assert(a->out_pending_when_x_settled);
  expect_fulfilled(OUT(a, 0), INT2P(42));
  expect_fulfilled(OUT(a, 1), INT2P(42));
  future_unref(a->x);
  a->x = NULL;
}

/* 2.3.3.3.1: on_fulfilled returns a future that is the end of another
 * chain, settled later: promise2 takes the chain's final value. */
START_TEST(test_aplus_2_3_3_returns_chain_end_from_fulfilled) {
  test_fulfilled(DUMMY, body_returns_chain_end, check_returns_chain_end,
                 NULL);
}
END_TEST

/* 2.3.3.3.1: the same from on_rejected. */
START_TEST(test_aplus_2_3_3_returns_chain_end_from_rejected) {
  test_rejected(body_returns_chain_end, check_returns_chain_end, NULL);
}
END_TEST

/* A callback returns a future that adopts a future that settles later
 * (a "thenable for a thenable"). */
static void body_returns_adopter(aplus_t *a, future_t *p) {
  handler_t *h = H(a, 0, ACT_RETURN);
  future_t *y = future_new(&a->loop);
  make_x(a, P2INT(a->user));
  ck_assert_int_eq(future_adopt(y, future_ref(a->x)), 0);
  h->ret = y;
  a->out[0] = future_then(p, handle, handle, h);
  a->out[1] = y;
  if (a->xmode == XM_FULFILLED_EVENTUALLY || a->xmode == XM_REJECTED_EVENTUALLY)
    later(&a->loop, &a->timers[3], 3, settle_x_later, a, 0);
}

static void check_returns_adopter(aplus_t *a) {
  future_t *y = OUT(a, 1);
  if (a->xmode == XM_FULFILLED_EVENTUALLY)
    expect_fulfilled(y, SENTINEL);
  else
    expect_rejected(y, a->errs[3]);
  check_returns_x(a);
}

/* 2.3.3.3.1: on_fulfilled returns an adopter of an eventually-fulfilled
 * future. */
START_TEST(test_aplus_2_3_3_returns_adopter_fulfilled) {
  test_fulfilled(DUMMY, body_returns_adopter, check_returns_adopter,
                 X(XM_FULFILLED_EVENTUALLY));
}
END_TEST

/* 2.3.3.3.2: on_rejected returns an adopter of an eventually-rejected
 * future. */
START_TEST(test_aplus_2_3_3_returns_adopter_rejected) {
  test_rejected(body_returns_adopter, check_returns_adopter,
                X(XM_REJECTED_EVENTUALLY));
}
END_TEST

/* A callback returns a future that is itself a continuation on a timer
 * (future_delay), whose own callback returns a value. */
static future_t *value_after_delay(future_t *settled, void *data) {
  (void)data;
  ck_assert_ptr_null(future_value(settled));
  return future_resolved(future_loop(settled), OTHER, NULL);
}

static future_t *return_delayed_chain(future_t *settled, void *data) {
  handler_t *h = data;
  h->calls++;
  return future_then(future_delay(future_loop(settled), 2),
                     value_after_delay, NULL, NULL);
}

static void body_returns_delayed_chain(aplus_t *a, future_t *p) {
  handler_t *h = H(a, 0, ACT_PASS);
  a->out[0] = future_then(p, return_delayed_chain, return_delayed_chain, h);
}

static void check_returns_delayed_chain(aplus_t *a) {
  ck_assert_int_eq(a->h[0].calls, 1);
  expect_fulfilled(OUT(a, 0), OTHER);
}

/* 2.3.3.3.1: a callback returns a pending continuation that fulfils later
 * (after a library timer): promise2 waits and takes its value. */
START_TEST(test_aplus_2_3_3_returns_pending_continuation) {
  test_fulfilled(DUMMY, body_returns_delayed_chain,
                 check_returns_delayed_chain, NULL);
}
END_TEST

/* 2.3.3 (C specific): adopting a future of another loop is refused with
 * UV_EINVAL; the source is consumed all the same; nothing changes. */
START_TEST(test_aplus_2_3_3_adopt_other_loop_refused) {
  fixture_t fx;
  uv_loop_t other;
  future_t *f;
  fx_init(&fx);
  ck_assert_int_eq(uv_loop_init(&other), 0);
  dtor_calls = 0;
  f = future_new(&fx.loop);
  ck_assert_int_eq(
      future_adopt(f, future_resolved(&other, OTHER, count_dtor)), UV_EINVAL);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_resolve(f, DUMMY, NULL), 0);
  expect_fulfilled(f, DUMMY);
  LOOP_CLOSE(&other);
  fx_done(&fx);
}
END_TEST

/* ======================================================================== */
/* 2.3.4 If x is not an object or function, fulfil promise with x: here     */
/* plain values (NULL, integers through intptr_t, pointers).                */

static void body_returns_plain(aplus_t *a, future_t *p) {
  H(a, 0, ACT_VALUE)->value = a->user;
  a->out[0] = future_then(p, handle, handle, &a->h[0]);
}

static void check_returns_plain(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  expect_fulfilled(OUT(a, 0), a->user);
  if (a->user != NULL && a->user != SENTINEL) {
    /* integers survive the round trip through the pointer */
    ck_assert(a->user == INT2P((intptr_t)a->user));
  }
}

/* 2.3.4: on_fulfilled returns NULL (the "undefined"/"null" case). */
START_TEST(test_aplus_2_3_4_fulfilled_returns_null) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain, NULL);
}
END_TEST

/* 2.3.4: on_fulfilled returns the integer 0 ("false" / 0). */
START_TEST(test_aplus_2_3_4_fulfilled_returns_zero) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain, INT2P(0));
}
END_TEST

/* 2.3.4: on_fulfilled returns the integer 1 ("true"). */
START_TEST(test_aplus_2_3_4_fulfilled_returns_one) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain, INT2P(1));
}
END_TEST

/* 2.3.4: on_fulfilled returns the integer -1. */
START_TEST(test_aplus_2_3_4_fulfilled_returns_minus_one) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain, INT2P(-1));
}
END_TEST

/* 2.3.4: on_fulfilled returns INTPTR_MAX. */
START_TEST(test_aplus_2_3_4_fulfilled_returns_intptr_max) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain,
                 INT2P(INTPTR_MAX));
}
END_TEST

/* 2.3.4: on_fulfilled returns INTPTR_MIN. */
START_TEST(test_aplus_2_3_4_fulfilled_returns_intptr_min) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain,
                 INT2P(INTPTR_MIN));
}
END_TEST

/* 2.3.4: on_fulfilled returns a plain pointer. */
START_TEST(test_aplus_2_3_4_fulfilled_returns_pointer) {
  test_fulfilled(DUMMY, body_returns_plain, check_returns_plain, SENTINEL);
}
END_TEST

/* 2.3.4: on_rejected returns NULL: promise2 fulfils with NULL. */
START_TEST(test_aplus_2_3_4_rejected_returns_null) {
  test_rejected(body_returns_plain, check_returns_plain, NULL);
}
END_TEST

/* 2.3.4: on_rejected returns the integer -1. */
START_TEST(test_aplus_2_3_4_rejected_returns_minus_one) {
  test_rejected(body_returns_plain, check_returns_plain, INT2P(-1));
}
END_TEST

/* 2.3.4: on_rejected returns INTPTR_MIN. */
START_TEST(test_aplus_2_3_4_rejected_returns_intptr_min) {
  test_rejected(body_returns_plain, check_returns_plain, INT2P(INTPTR_MIN));
}
END_TEST

/* 2.3.4: on_rejected returns a plain pointer. */
START_TEST(test_aplus_2_3_4_rejected_returns_pointer) {
  test_rejected(body_returns_plain, check_returns_plain, SENTINEL);
}
END_TEST

/* 2.3.4: future_resolve with plain values: each future has exactly its
 * value, which passes a NULL-callback link unchanged. */
START_TEST(test_aplus_2_3_4_resolve_plain_values) {
  static const intptr_t ints[] = {0, 1, -1, 42, INTPTR_MAX, INTPTR_MIN};
  enum { N = sizeof ints / sizeof ints[0] };
  fixture_t fx;
  future_t *f[N], *g[N];
  int i;
  fx_init(&fx);
  for (i = 0; i < N; i++) {
    f[i] = future_new(&fx.loop);
    g[i] = future_then(future_ref(f[i]), NULL, NULL, NULL);
    ck_assert_int_eq(future_resolve(f[i], INT2P(ints[i]), NULL), 0);
  }
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  for (i = 0; i < N; i++) {
    ck_assert((intptr_t)future_value(f[i]) == ints[i]);
    expect_fulfilled(g[i], INT2P(ints[i]));
    expect_fulfilled(f[i], INT2P(ints[i]));
  }
  fx_done(&fx);
}
END_TEST

/* Values with a destructor: counted, freed. */
static int value_dtor_calls;
static void value_dtor(void *value) {
  value_dtor_calls++;
  free(value);
}

static void *new_value(int n) {
  int *v = malloc(sizeof *v);
  ck_assert_ptr_nonnull(v);
  *v = n;
  return v;
}

/* 2.3.4: a pointer with a destructor, fanned out to several branches: the
 * destructor runs exactly once, after the last holder is released. */
START_TEST(test_aplus_2_3_4_dtor_once_after_fanout) {
  fixture_t fx;
  future_t *f, *g[3];
  void *v;
  int i;
  fx_init(&fx);
  value_dtor_calls = 0;
  v = new_value(7);
  f = future_resolved(&fx.loop, v, value_dtor);
  for (i = 0; i < 3; i++)
    g[i] = future_then(future_ref(f), NULL, NULL, NULL);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  future_unref(f);
  for (i = 0; i < 3; i++) {
    ck_assert_int_eq(value_dtor_calls, 0);
    ck_assert_ptr_eq(future_value(g[i]), v);
    ck_assert_int_eq(*(int *)future_value(g[i]), 7);
    future_unref(g[i]);
  }
  ck_assert_int_eq(value_dtor_calls, 1);
  fx_done(&fx);
}
END_TEST

/* 2.3.4: a callback returns a value with a destructor: promise2 holds it;
 * the destructor runs once, when promise2 is released. */
static future_t *return_owned_value(future_t *settled, void *data) {
  return future_resolved(future_loop(settled), data, value_dtor);
}

START_TEST(test_aplus_2_3_4_dtor_value_from_callback) {
  fixture_t fx;
  future_t *g;
  void *v;
  fx_init(&fx);
  value_dtor_calls = 0;
  v = new_value(8);
  g = future_then(future_resolved(&fx.loop, DUMMY, NULL), return_owned_value,
                  NULL, v);
  g = future_then(g, NULL, NULL, NULL); /* one more link */
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(value_dtor_calls, 0);
  ck_assert_ptr_eq(future_value(g), v);
  future_unref(g);
  ck_assert_int_eq(value_dtor_calls, 1);
  fx_done(&fx);
}
END_TEST

/* 2.3.4: future_wait's result holds the value: the destructor runs once,
 * at future_result_release. */
START_TEST(test_aplus_2_3_4_dtor_held_by_result) {
  fixture_t fx;
  future_t *f;
  future_result_t r;
  void *v;
  fx_init(&fx);
  value_dtor_calls = 0;
  v = new_value(9);
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, v, value_dtor), 0);
  f = future_then(f, NULL, NULL, NULL);
  ck_assert_int_eq(future_wait(f, &r), 0);
  ck_assert_ptr_eq(r.value, v);
  ck_assert_int_eq(value_dtor_calls, 0);
  future_result_release(&r);
  ck_assert_int_eq(value_dtor_calls, 1);
  fx_done(&fx);
}
END_TEST

/* 2.3.4: a value with a destructor shared through adoption: the destructor
 * runs once, after both the source and the adopter are released. */
START_TEST(test_aplus_2_3_4_dtor_shared_by_adoption) {
  fixture_t fx;
  future_t *f, *src;
  void *v;
  fx_init(&fx);
  value_dtor_calls = 0;
  v = new_value(10);
  f = future_new(&fx.loop);
  src = future_new(&fx.loop);
  ck_assert_int_eq(future_adopt(f, future_ref(src)), 0);
  ck_assert_int_eq(future_resolve(src, v, value_dtor), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  ck_assert_ptr_eq(future_value(f), v);
  future_unref(src);
  ck_assert_int_eq(value_dtor_calls, 0);
  ck_assert_ptr_eq(future_value(f), v);
  future_unref(f);
  ck_assert_int_eq(value_dtor_calls, 1);
  fx_done(&fx);
}
END_TEST

/* 2.3.4: a value with a destructor that nobody chains on: released once
 * with its future. */
START_TEST(test_aplus_2_3_4_dtor_unobserved_value) {
  fixture_t fx;
  future_t *f;
  fx_init(&fx);
  value_dtor_calls = 0;
  f = future_new(&fx.loop);
  ck_assert_int_eq(future_resolve(f, new_value(11), value_dtor), 0);
  ck_assert_int_eq(value_dtor_calls, 0);
  future_unref(f);
  ck_assert_int_eq(value_dtor_calls, 1);
  fx_done(&fx);
}
END_TEST

/* 2.3.4: a value with a destructor passed on by a callback that returns
 * future_ref(settled): shared by the source and promise2, destroyed once,
 * after both are released. */
static void body_dtor_pass(aplus_t *a, future_t *p) {
  a->out[0] = future_then(p, handle, NULL, H(a, 0, ACT_PASS));
}

static void check_dtor_pass(aplus_t *a) {
  check_handler_once(a, &a->h[0]);
  ck_assert_int_eq(value_dtor_calls, 0);
  expect_fulfilled(OUT(a, 0), a->value);
}

START_TEST(test_aplus_2_3_4_dtor_through_pass) {
  fixture_t fx;
  future_t *src, *g;
  aplus_t *a = calloc(1, sizeof *a);
  void *v;
  fx_init(&fx);
  value_dtor_calls = 0;
  v = new_value(12);
  a->value = v;
  src = future_new(&fx.loop);
  body_dtor_pass(a, future_ref(src));
  a->settled = 1;
  ck_assert_int_eq(future_resolve(src, v, value_dtor), 0);
  ck_assert_int_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
  g = a->out[0];
  ck_assert_ptr_eq(future_value(g), v);
  future_unref(src);
  check_dtor_pass(a);
  ck_assert_int_eq(value_dtor_calls, 1);
  free(a);
  fx_done(&fx);
}
END_TEST

/* ======================================================================== */

/* The suite: one TCase per clause group (counts at the top of the file). */
Suite *make_aplus_suite(void) {
  Suite *s = suite_create("aplus");
  TCase *tc;

  tc = tcase_create("2.1");
  tcase_add_test(tc, test_aplus_2_1_1_pending_to_fulfilled);
  tcase_add_test(tc, test_aplus_2_1_1_pending_to_rejected);
  tcase_add_test(tc, test_aplus_2_1_1_pending_while_adopting);
  tcase_add_test(tc, test_aplus_2_1_2_fulfil_then_reject);
  tcase_add_test(tc, test_aplus_2_1_2_fulfil_twice_keeps_value);
  tcase_add_test(tc, test_aplus_2_1_2_already_fulfilled_is_final);
  tcase_add_test(tc, test_aplus_2_1_2_fulfil_then_reject_delayed);
  tcase_add_test(tc, test_aplus_2_1_2_fulfil_then_fulfil_delayed);
  tcase_add_test(tc, test_aplus_2_1_3_reject_then_fulfil);
  tcase_add_test(tc, test_aplus_2_1_3_reject_twice_keeps_reason);
  tcase_add_test(tc, test_aplus_2_1_3_already_rejected_is_final);
  tcase_add_test(tc, test_aplus_2_1_3_reject_then_fulfil_delayed);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.2.1");
  tcase_add_test(tc, test_aplus_2_2_1_1_null_on_fulfilled_rejected);
  tcase_add_test(tc, test_aplus_2_2_1_1_null_on_fulfilled_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_1_1_null_on_fulfilled_chained);
  tcase_add_test(tc, test_aplus_2_2_1_2_null_on_rejected_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_1_2_null_on_rejected_rejected);
  tcase_add_test(tc, test_aplus_2_2_1_2_null_on_rejected_chained);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.2.2");
  tcase_add_test(tc, test_aplus_2_2_2_1_called_with_value);
  tcase_add_test(tc, test_aplus_2_2_2_2_not_before_fulfilled_delayed);
  tcase_add_test(tc, test_aplus_2_2_2_2_never_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_already_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_fulfil_twice_immediately);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_fulfil_then_reject_immediately);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_fulfil_twice_delayed);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_fulfil_immediately_then_delayed);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_spaced_apart);
  tcase_add_test(tc, test_aplus_2_2_2_3_once_interleaved);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.2.3");
  tcase_add_test(tc, test_aplus_2_2_3_1_called_with_reason);
  tcase_add_test(tc, test_aplus_2_2_3_2_not_before_rejected_delayed);
  tcase_add_test(tc, test_aplus_2_2_3_2_never_rejected);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_already_rejected);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_reject_twice_immediately);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_reject_then_fulfil_immediately);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_reject_twice_delayed);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_reject_immediately_then_delayed);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_spaced_apart);
  tcase_add_test(tc, test_aplus_2_2_3_3_once_interleaved);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.2.4");
  tcase_add_test(tc, test_aplus_2_2_4_then_returns_before_fulfilled_cb);
  tcase_add_test(tc, test_aplus_2_2_4_then_returns_before_rejected_cb);
  tcase_add_test(tc, test_aplus_2_2_4_added_before_fulfilment);
  tcase_add_test(tc, test_aplus_2_2_4_added_after_fulfilment);
  tcase_add_test(tc, test_aplus_2_2_4_added_before_rejection);
  tcase_add_test(tc, test_aplus_2_2_4_added_after_rejection);
  tcase_add_test(tc, test_aplus_2_2_4_fulfilled_asynchronously);
  tcase_add_test(tc, test_aplus_2_2_4_rejected_asynchronously);
  tcase_add_test(tc, test_aplus_2_2_4_fulfilled_added_inside_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_4_rejected_added_inside_rejected);
  tcase_add_test(tc, test_aplus_2_2_4_fulfilled_added_inside_rejected);
  tcase_add_test(tc, test_aplus_2_2_4_fulfilled_added_inside_other_fulfilled);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.2.6");
  tcase_add_test(tc, test_aplus_2_2_6_1_boring_handlers);
  tcase_add_test(tc, test_aplus_2_2_6_1_one_throws);
  tcase_add_test(tc, test_aplus_2_2_6_1_branching_chains);
  tcase_add_test(tc, test_aplus_2_2_6_1_fulfilled_order);
  tcase_add_test(tc, test_aplus_2_2_6_1_fulfilled_order_nested);
  tcase_add_test(tc, test_aplus_2_2_6_1_mixed_handlers);
  tcase_add_test(tc, test_aplus_2_2_6_1_nested_with_throws);
  tcase_add_test(tc, test_aplus_2_2_6_2_boring_handlers);
  tcase_add_test(tc, test_aplus_2_2_6_2_one_throws);
  tcase_add_test(tc, test_aplus_2_2_6_2_branching_chains);
  tcase_add_test(tc, test_aplus_2_2_6_2_rejected_order);
  tcase_add_test(tc, test_aplus_2_2_6_2_rejected_order_nested);
  tcase_add_test(tc, test_aplus_2_2_6_2_mixed_handlers);
  tcase_add_test(tc, test_aplus_2_2_6_2_nested_with_throws);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.2.7");
  tcase_add_test(tc, test_aplus_2_2_7_returns_future_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_7_returns_future_rejected);
  tcase_add_test(tc, test_aplus_2_2_7_1_fulfilled_returns_value);
  tcase_add_test(tc, test_aplus_2_2_7_1_rejected_returns_value);
  tcase_add_test(tc, test_aplus_2_2_7_2_fulfilled_throws);
  tcase_add_test(tc, test_aplus_2_2_7_2_rejected_throws);
  tcase_add_test(tc, test_aplus_2_2_7_2_throw_any_code);
  tcase_add_test(tc, test_aplus_2_2_7_2_rejected_throws_wrapped);
  tcase_add_test(tc, test_aplus_2_2_7_3_null_on_fulfilled_passes_value);
  tcase_add_test(tc, test_aplus_2_2_7_3_null_on_fulfilled_passes_null);
  tcase_add_test(tc, test_aplus_2_2_7_3_catch_passes_value);
  tcase_add_test(tc, test_aplus_2_2_7_3_null_chain_passes_value);
  tcase_add_test(tc, test_aplus_2_2_7_4_null_on_rejected_passes_reason);
  tcase_add_test(tc, test_aplus_2_2_7_4_null_chain_passes_reason);
  tcase_add_test(tc, test_aplus_2_2_7_returns_null_fulfilled);
  tcase_add_test(tc, test_aplus_2_2_7_returns_null_rejected);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.3.1");
  tcase_add_test(tc, test_aplus_2_3_1_fulfilled_returns_self);
  tcase_add_test(tc, test_aplus_2_3_1_rejected_returns_self);
  tcase_add_test(tc, test_aplus_2_3_1_adopt_self);
  tcase_add_test(tc, test_aplus_2_3_1_returns_self_then_chained);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.3.2");
  tcase_add_test(tc, test_aplus_2_3_2_1_pending_from_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_2_1_pending_from_rejected);
  tcase_add_test(tc, test_aplus_2_3_2_1_adopt_pending_forever);
  tcase_add_test(tc, test_aplus_2_3_2_2_eventually_fulfilled_from_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_2_2_eventually_fulfilled_from_rejected);
  tcase_add_test(tc, test_aplus_2_3_2_2_already_fulfilled_from_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_2_2_already_fulfilled_from_rejected);
  tcase_add_test(tc, test_aplus_2_3_2_2_adopt_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_2_3_eventually_rejected_from_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_2_3_eventually_rejected_from_rejected);
  tcase_add_test(tc, test_aplus_2_3_2_3_already_rejected_from_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_2_3_already_rejected_from_rejected);
  tcase_add_test(tc, test_aplus_2_3_2_3_adopt_rejected);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.3.3");
  tcase_add_test(tc, test_aplus_2_3_3_resolve_twice);
  tcase_add_test(tc, test_aplus_2_3_3_resolve_then_reject);
  tcase_add_test(tc, test_aplus_2_3_3_reject_then_resolve);
  tcase_add_test(tc, test_aplus_2_3_3_reject_twice);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_pending_then_reject);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_pending_rejected_then_resolve);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_twice);
  tcase_add_test(tc, test_aplus_2_3_3_resolve_then_adopt);
  tcase_add_test(tc, test_aplus_2_3_3_resolve_then_reject_async);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_chain_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_chain_rejected);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_chain_deep_reverse);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_chain_deep_reverse_rejected);
  tcase_add_test(tc, test_aplus_2_3_3_returns_chain_end_from_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_3_returns_chain_end_from_rejected);
  tcase_add_test(tc, test_aplus_2_3_3_returns_adopter_fulfilled);
  tcase_add_test(tc, test_aplus_2_3_3_returns_adopter_rejected);
  tcase_add_test(tc, test_aplus_2_3_3_returns_pending_continuation);
  tcase_add_test(tc, test_aplus_2_3_3_adopt_other_loop_refused);
  suite_add_tcase(s, tc);

  tc = tcase_create("2.3.4");
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_null);
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_zero);
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_one);
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_minus_one);
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_intptr_max);
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_intptr_min);
  tcase_add_test(tc, test_aplus_2_3_4_fulfilled_returns_pointer);
  tcase_add_test(tc, test_aplus_2_3_4_rejected_returns_null);
  tcase_add_test(tc, test_aplus_2_3_4_rejected_returns_minus_one);
  tcase_add_test(tc, test_aplus_2_3_4_rejected_returns_intptr_min);
  tcase_add_test(tc, test_aplus_2_3_4_rejected_returns_pointer);
  tcase_add_test(tc, test_aplus_2_3_4_resolve_plain_values);
  tcase_add_test(tc, test_aplus_2_3_4_dtor_once_after_fanout);
  tcase_add_test(tc, test_aplus_2_3_4_dtor_value_from_callback);
  tcase_add_test(tc, test_aplus_2_3_4_dtor_held_by_result);
  tcase_add_test(tc, test_aplus_2_3_4_dtor_shared_by_adoption);
  tcase_add_test(tc, test_aplus_2_3_4_dtor_unobserved_value);
  tcase_add_test(tc, test_aplus_2_3_4_dtor_through_pass);
  suite_add_tcase(s, tc);


  return s;
}
