/*
 * timeout_retry_cancel: three ways to stay in control of work that may not
 * go well.
 *
 * 1. timeout: a slow operation (two seconds of work on the thread pool,
 *    done in small slices, checking future_work_cancelled between them)
 *    gets 100 ms; the future rejects with ETIMEDOUT, the work is cancelled,
 *    and the worker stops early.
 * 2. retry: a flaky operation fails twice with EAGAIN (transient), then
 *    succeeds; future_retry waits a little longer before each attempt.
 * 3. cancel: work queued behind a busy thread pool is cancelled before it
 *    starts; its function never runs and its future rejects with ECANCELED.
 *
 * SYNOPSIS
 *     $ ./examples/timeout_retry_cancel
 *     == 1. timeout ==
 *       slow operation: rejected after 100 ms: timed out after 100 ms: ...
 */
#include <future.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "timeout_retry_cancel: %s: %s\n", what,
            future_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static uint64_t ms_since(uint64_t t0) { return (uv_hrtime() - t0) / 1000000; }

/* 1. A slow operation on the pool: two seconds of work in slices, which
 * checks between slices whether anyone still wants the result. */
static atomic_int stopped_at_slice;

static future_error_t *slow_operation(void *arg, void **value) {
  (void)arg;
  (void)value;
  for (int i = 0; i < 200; i++) {
    if (future_work_cancelled()) {
      atomic_store(&stopped_at_slice, i);
      return future_error_new(UV_ECANCELED, "slow operation, slice %d", i);
    }
    uv_sleep(10);
  }
  return NULL;
}

/* 2. A flaky operation: fails twice with a transient error. */
static future_t *flaky(uv_loop_t *loop, unsigned attempt, void *data) {
  uint64_t t0 = *(uint64_t *)data;
  printf("  attempt %u at %3llu ms\n", attempt,
         (unsigned long long)ms_since(t0));
  if (attempt < 3)
    return future_rejected(
        loop, future_error_new(UV_EAGAIN, "connecting, attempt %u", attempt));
  return future_resolved(loop, (void *)"connected", NULL);
}

/* 3. Pool control: blockers occupy every pool thread for a moment. */
static future_error_t *blocker(void *arg, void **value) {
  (void)arg;
  (void)value;
  uv_sleep(50);
  return NULL;
}

static int victim_ran;
static future_error_t *victim(void *arg, void **value) {
  (void)arg;
  (void)value;
  victim_ran = 1;
  return NULL;
}

int main(void) {
  uv_loop_t loop;
  future_result_t r;
  future_t *f;
  uint64_t t0;

  check(uv_loop_init(&loop), "uv_loop_init");

  printf("== 1. timeout ==\n");
  t0 = uv_hrtime();
  f = future_work(&loop, slow_operation, NULL, NULL);
  f = future_timeout(f, 100);
  if (f == NULL)
    check(UV_ENOMEM, "future_timeout");
  if (future_wait(f, &r) == UV_ETIMEDOUT)
    printf("  slow operation: rejected after %llu ms: %s\n",
           (unsigned long long)ms_since(t0), future_error_message(r.error));
  else
    printf("  slow operation: unexpectedly %s\n", future_strerror(r.status));
  future_result_release(&r);
  /* Let the worker notice and finish its slice. */
  check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  if (atomic_load(&stopped_at_slice) > 0)
    printf("  the worker saw the cancellation and stopped at slice %d of "
           "200\n",
           atomic_load(&stopped_at_slice));
  else
    printf("  the worker ran to the end\n");

  printf("\n== 2. retry ==\n");
  {
    future_retry_policy_t policy = {0};
    policy.max_attempts = 5;
    policy.initial_delay_ms = 20;
    policy.multiplier = 2.0;
    t0 = uv_hrtime();
    f = future_retry(&loop, flaky, &t0, &policy);
    if (f == NULL)
      check(UV_ENOMEM, "future_retry");
    check(future_wait(f, &r), "the flaky operation");
    printf("  flaky operation: %s after %llu ms\n", (const char *)r.value,
           (unsigned long long)ms_since(t0));
    future_result_release(&r);
  }

  printf("\n== 3. cancel ==\n");
  {
    future_t *busy[16], *v;
    int n = 4, i;
    const char *size = getenv("UV_THREADPOOL_SIZE");
    if (size != NULL && atoi(size) > 0 && atoi(size) <= 16)
      n = atoi(size);
    for (i = 0; i < n; i++)
      busy[i] = future_work(&loop, blocker, NULL, NULL);
    v = future_work(&loop, victim, NULL, NULL);
    printf("  %d blockers keep the pool busy; one more job is queued\n", n);
    check(future_cancel(v), "future_cancel");
    if (future_wait(v, &r) == UV_ECANCELED)
      printf("  queued job: %s\n", future_error_message(r.error));
    future_result_release(&r);
    for (i = 0; i < n; i++) {
      check(future_wait(busy[i], &r), "blocker");
      future_result_release(&r);
    }
    printf("  its function ran: %s\n", victim_ran ? "yes" : "no");
  }

  check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  check(future_loop_close(&loop), "future_loop_close");
  check(uv_loop_close(&loop), "uv_loop_close");
  return EXIT_SUCCESS;
}
