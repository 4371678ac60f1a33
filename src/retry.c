/*
 * future_retry: attempts spaced by exponential backoff with jitter, for as
 * long as the policy deems the error transient.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

int future_retry_transient(const future_error_t *err, unsigned attempt,
                           void *data) {
  (void)attempt;
  (void)data;
  switch (future_error_code(err)) {
  case UV_EAGAIN:
  case UV_EMFILE:
  case UV_ENFILE:
  case UV_EBUSY:
  case UV_ETIMEDOUT:
  case UV_ECONNRESET:
  case UV_ECONNREFUSED:
  case UV_EINTR:
  case UV_ENOBUFS:
  case UV_EPIPE:
  case UV_EAI_AGAIN:
    return 1;
  default:
    return 0;
  }
}

typedef struct {
  future__machine_t machine; /* first: see future__waits_on */
  future_t *backoff;    /* the delay between attempts, a delay of the
                           loop's heap (no handle of our own: see
                           future_timeout); borrowed, NULL once its
                           observer has run */
  future_t *result;     /* NULL once decided */
  future__loop_t *lp;
  future_attempt_cb attempt;
  void *data;
  future_retry_policy_t policy;
  unsigned attempts;    /* made so far */
  future_t *sink;       /* the observer of the attempt in flight, until its
                           callback runs or we cancel it (the attempt owns
                           the observer) */
  uint64_t rng;
  int holders;          /* the machine itself, and the backoff's observer
                           while there is one */
} retry_t;

static void retry_release(retry_t *r) {
  if (--r->holders == 0)
    future__free(r);
}

/* Stop everything; the state goes once the backoff's observer (if any)
 * has run. */
static void retry_end(retry_t *r) {
  if (r->sink != NULL) {
    future_t *sink = r->sink;
    r->sink = NULL;
    future_cancel(sink);
  }
  if (r->backoff != NULL)
    future_cancel(r->backoff);
  retry_release(r);
}

static void retry_finish(retry_t *r, future__outcome_t *out) {
  future_t *result = r->result;
  r->result = NULL;
  future__source_done(result, out);
  retry_end(r);
}

/* xorshift64*: jitter needs spread, not cryptographic strength. */
static double retry_random(retry_t *r) {
  r->rng ^= r->rng >> 12;
  r->rng ^= r->rng << 25;
  r->rng ^= r->rng >> 27;
  return (double)((r->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* The delay before the next attempt: initial * multiplier^(attempts-1),
 * capped at max_delay_ms, then with jitter drawn below it. The policy is
 * validated (a finite, positive multiplier; a jitter in [0, 1]), and the
 * value is kept within [0, max_delay_ms] before it becomes an integer:
 * converting a double out of uint64_t's range is undefined. */
static uint64_t retry_delay(retry_t *r) {
  double cap = (double)r->policy.max_delay_ms;
  double d = (double)r->policy.initial_delay_ms;
  for (unsigned k = 1; k < r->attempts && d < cap; k++)
    d *= r->policy.multiplier;
  if (!(d < cap)) /* also catches what overflowed to infinity */
    d = cap;
  if (r->policy.jitter > 0)
    d = d * (1.0 - r->policy.jitter) + d * r->policy.jitter * retry_random(r);
  if (d >= 18446744073709551616.0) /* 2^64: UINT64_MAX rounds up to it */
    return UINT64_MAX;
  return d > 0 ? (uint64_t)d : 0;
}

static void retry_start(retry_t *r);
static void retry_backoff_over(future_t *settled, void *data);

static void on_attempt_settled(future_t *settled, void *data) {
  retry_t *r = data;
  future__outcome_t out = {NULL, NULL, NULL};
  const future_error_t *err = settled != NULL ? future__error_of(settled) : NULL;

  r->sink = NULL;
  if (settled == NULL) {
    out.error = future_error_new_at(__FILE__, __LINE__, __func__,
                                    FUTURE_ESTALLED, NULL,
                                    "future_retry: attempt %u was released "
                                    "unsettled",
                                    r->attempts);
    retry_finish(r, &out);
    return;
  }
  if (settled->state == FUTURE_FULFILLED) {
    future__outcome_of(&out, settled);
    retry_finish(r, &out);
    return;
  }
  if (r->attempts < r->policy.max_attempts &&
      r->policy.should_retry(err, r->attempts, r->policy.data)) {
    uint64_t ms = retry_delay(r);
    future_t *d = future__delay_new(r->lp, ms);
    if (d != NULL)
      FUTURE__TRACE_REQUEST(d, "retry backoff %llu ms",
                            (unsigned long long)ms);
    if (d != NULL && future__sink(d, retry_backoff_over, r) != NULL) {
      r->backoff = d;
      r->holders++;
      return;
    }
    if (d != NULL)
      future_cancel(d); /* held by the heap alone, watched by nobody */
    out.error = future__error(UV_ENOMEM, "future_retry");
    retry_finish(r, &out);
    return;
  }
  out.error = future_error_wrap(err, future_error_code(err),
                                "giving up after %u attempt%s", r->attempts,
                                r->attempts == 1 ? "" : "s");
  retry_finish(r, &out);
}

static void retry_start(retry_t *r) {
  future_t *f;
  if (r == NULL || r->result == NULL)
    return;
  /* A library callback, also when the backoff's observer calls us:
   * future_wait in it must refuse rather than run the loop under our
   * feet. */
  {
    uint64_t t0 = FUTURE__TRACING() ? uv_hrtime() : 0;
    r->lp->in_callback++;
    f = r->attempt(r->lp->loop, ++r->attempts, r->data);
    r->lp->in_callback--;
    if (t0 != 0) /* about the retry's result, unless it was cancelled */
      future__trace_slice(r->result, t0, "retry attempt %u", r->attempts);
  }
  if (r->result == NULL) {
    /* The attempt cancelled the retry's own result: retry_cancel has
     * ended everything (the state lives on while we run),
     * and this attempt is not wanted any more: its outcome, an error
     * included, is discarded as deliberately as the cancel was. */
    if (f != NULL)
      f->flags |= FUTURE__HANDLED;
    future_unref(f);
    return;
  }
  if (f != NULL && f->lp == r->lp &&
      (f == r->result ||
       (f->state == FUTURE_PENDING && future__waits_on(f, r->result)))) {
    /* The retry would wait for itself: refused, as a continuation that
     * returns its own future is. */
    future__outcome_t out = {NULL, NULL, NULL};
    f->flags |= FUTURE__HANDLED;
    future_unref(f);
    out.error = future_error_new_at(__FILE__, __LINE__, __func__,
                                    FUTURE_ECYCLE, NULL,
                                    "future_retry: attempt %u waits on the "
                                    "retry itself",
                                    r->attempts);
    retry_finish(r, &out);
    return;
  }
  if (f == NULL || f->lp != r->lp) {
    future__outcome_t out = {NULL, NULL, NULL};
    int code = f == NULL ? UV_ENOMEM : UV_EINVAL;
    future_unref(f);
    out.error = future_error_new_at(
        __FILE__, __LINE__, __func__, code, NULL, "future_retry: attempt %u %s",
        r->attempts, f == NULL ? "returned NULL" : "is of another loop");
    retry_finish(r, &out);
    return;
  }
  /* The observer takes over the attempt's reference. */
  r->sink = future__sink(f, on_attempt_settled, r);
  if (r->sink == NULL) {
    future__outcome_t out = {NULL, NULL, NULL};
    out.error = future__error(UV_ENOMEM, "future_retry");
    retry_finish(r, &out);
  }
}

/* The backoff elapsed (the next attempt starts), or was cancelled by
 * retry_end (the retry is over). */
static void retry_backoff_over(future_t *settled, void *data) {
  retry_t *r = data;
  r->backoff = NULL;
  if (settled != NULL && settled->state == FUTURE_FULFILLED)
    retry_start(r);
  retry_release(r);
}

static int retry_cancel(future_t *f, void *req) {
  retry_t *r = req;
  (void)f;
  r->result = NULL;
  retry_end(r);
  return 1;
}

static void retry_inputs(const future__machine_t *m, future__visit_cb visit,
                         void *ctx) {
  const retry_t *r = (const retry_t *)m;
  if (r->sink != NULL && (r->sink->flags & FUTURE__WAITING))
    visit(r->sink->parent, ctx);
}

future_t *future_retry(uv_loop_t *loop, future_attempt_cb attempt, void *data,
                       const future_retry_policy_t *policy) {
  future__loop_t *lp;
  retry_t *r;
  if (loop == NULL || attempt == NULL ||
      (lp = future__loop_get(loop)) == NULL)
    return NULL;
  if (policy != NULL && (isnan(policy->multiplier) ||
                         isinf(policy->multiplier) || policy->multiplier < 0))
    return future_rejected(
        loop, future_error_new_at(__FILE__, __LINE__, __func__, UV_EINVAL, NULL,
                                  "future_retry: the multiplier (%g) must be "
                                  "a finite number, 0 or above",
                                  policy->multiplier));
  if (policy != NULL && isnan(policy->jitter))
    return future_rejected(
        loop, future__error(UV_EINVAL, "future_retry: the jitter is NaN"));
  r = future__calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->result = future__source_new(lp, retry_cancel, r);
  if (r->result == NULL) {
    future__free(r);
    return NULL;
  }
  if (policy != NULL)
    r->policy = *policy;
  if (r->policy.max_attempts == 0)
    r->policy.max_attempts = 5;
  if (r->policy.initial_delay_ms == 0)
    r->policy.initial_delay_ms = 10;
  if (r->policy.max_delay_ms == 0)
    r->policy.max_delay_ms = 10000;
  if (r->policy.multiplier == 0)
    r->policy.multiplier = 2.0;
  if (r->policy.jitter < 0)
    r->policy.jitter = 0;
  if (r->policy.jitter > 1)
    r->policy.jitter = 1;
  if (r->policy.should_retry == NULL)
    r->policy.should_retry = future_retry_transient;
  FUTURE__TRACE_REQUEST(r->result, "retry (at most %u attempts)",
                        r->policy.max_attempts);
  r->lp = lp;
  r->machine.inputs = retry_inputs;
  r->result->flags |= FUTURE__MACHINE;
  r->attempt = attempt;
  r->data = data;
  r->rng = uv_hrtime() | 1;
  r->holders = 1;
  {
    future_t *result = r->result;
    retry_start(r); /* may decide at once (and free r) */
    return result;
  }
}
