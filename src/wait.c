/*
 * The blocking path: future_wait, beside the non-blocking continuations.
 *
 * On the loop's thread, waiting means running the loop until the future
 * settles: the thread is blocked for everything but that loop. On another
 * thread, waiting means sleeping on a condition variable until the loop's
 * thread, through an internal continuation, hands the outcome over.
 */
#include "internal.h"

#include <string.h>

static void result_fill(future_result_t *result, const future_t *f) {
  future__outcome_t out;
  future__outcome_of(&out, f);
  result->value = out.value;
  result->reserved_holder = out.holder;
  result->error = out.error;
  result->status = out.error != NULL ? future_error_code(out.error) : 0;
}

/* A macro, so that the error's origin is the line that failed. */
#define result_fail(result, code, msg)                                         \
  do {                                                                         \
    (result)->error = future__error((code), (msg));                            \
    (result)->status = future_error_code((result)->error);                     \
  } while (0)

void future_result_release(future_result_t *result) {
  if (result == NULL)
    return;
  future__holder_unref(result->reserved_holder);
  future_error_unref(result->error);
  memset(result, 0, sizeof(*result));
}

/* Hand the result over to the waiting thread. After the unlock, `w` may
 * vanish with the waiting thread's stack, so nothing touches it
 * afterwards. */
static void wake(future__waiter_t *w) {
  uv_mutex_lock(&w->lock);
  FUTURE__RACE_WINDOW();
  w->done = 1;
  uv_cond_signal(&w->cond);
  uv_mutex_unlock(&w->lock);
}

/* Runs on the loop's thread when the future a foreign thread waits for has
 * settled (or was released unsettled). */
static void wake_waiter(future_t *settled, void *data) {
  future__waiter_t *w = data;
  future__loop_t *lp = w->lp;
  if (settled != NULL)
    result_fill(w->result, settled);
  else
    result_fail(w->result, FUTURE_ESTALLED,
                "future_wait: the future was released unsettled; nothing "
                "can settle it");
  wake(w);
  future__loop_unhold(lp);
}

/* On the loop's thread: a wait posted by another thread is taken in. From
 * now until it is woken, it keeps the loop alive, as a resolver does. */
void future__loop_attach_waiter(future__loop_t *lp, future__waiter_t *w) {
  future__loop_hold(lp);
  if (future__sink(w->f, wake_waiter, w) == NULL) {
    result_fail(w->result, UV_ENOMEM, "future_wait from another thread");
    wake(w);
    future__loop_unhold(lp);
  }
}

static int wait_foreign(future_t *f, future_result_t *result) {
  future__waiter_t w;
  memset(&w, 0, sizeof(w));
  w.lp = f->lp;
  w.f = f;
  w.result = result;
  if (uv_mutex_init(&w.lock) != 0)
    return UV_ENOMEM;
  if (uv_cond_init(&w.cond) != 0) {
    uv_mutex_destroy(&w.lock);
    return UV_ENOMEM;
  }
  future__loop_post_waiter(f->lp, &w);
  uv_mutex_lock(&w.lock);
  while (!w.done)
    uv_cond_wait(&w.cond, &w.lock);
  uv_mutex_unlock(&w.lock);
  uv_cond_destroy(&w.cond);
  uv_mutex_destroy(&w.lock);
  return 0;
}

int future_wait(future_t *f, future_result_t *result) {
  future_result_t ignored;
  future__loop_t *lp;

  FUTURE__CHECK_ANY_THREAD(f);
  if (result == NULL)
    result = &ignored;
  memset(result, 0, sizeof(*result));
  lp = f != NULL ? f->lp : NULL;

  if (f == NULL) {
    result_fail(result, UV_EINVAL, "future_wait on a NULL future");
  } else if (!future__loop_on_thread(lp)) {
    /* The future is the loop thread's business: hand our reference over
     * and sleep until it reports back. */
    if (wait_foreign(f, result) != 0) {
      /* We could not even build the means to wait, so we cannot hand
       * the reference over either: leak nothing we own, report. */
      result_fail(result, UV_ENOMEM, "future_wait from another thread");
    }
  } else if (lp->in_callback > 0 || lp->draining > 0) {
    future_unref(f);
    result_fail(result, FUTURE_EINCALLBACK,
                "future_wait inside a loop callback would deadlock");
  } else {
    uint64_t t0 = uv_hrtime();
    int alive;
    f->flags |= FUTURE__HANDLED;
    while (f->state == FUTURE_PENDING) {
      /* After a uv_walk closed the library's handles, the loop no longer
       * runs the queue: run it here. */
      if (future__loop_run_orphaned(lp) && f->state != FUTURE_PENDING)
        break;
      /* While uv_run runs, settling `f` stops the loop (future__settle):
       * settled before the poll (by a timer, or the queue's drain) with
       * other handles alive and no timer due, the poll would otherwise
       * wait for ever. Only while uv_run runs: it clears the stop. */
      lp->waited = f;
      alive = uv_run(lp->loop, UV_RUN_ONCE);
      lp->waited = NULL;
      if (alive == 0 && f->state == FUTURE_PENDING && lp->queue_head == NULL)
        break;
    }
    if (f->state == FUTURE_PENDING)
      result_fail(result, FUTURE_ESTALLED,
                  "future_wait: the loop ran out of work, the future is "
                  "still pending");
    else
      result_fill(result, f);
    if (atomic_load_explicit(&future__tracing, memory_order_relaxed))
      future__trace('X', "future_wait (blocked)", f, t0, uv_hrtime() - t0);
    future_unref(f);
  }
  {
    int status = result->status;
    if (result == &ignored)
      future_result_release(&ignored);
    return status;
  }
}
