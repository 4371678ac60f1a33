/*
 * pipeline: a first look at libfuture.
 *
 * A timer delivers a number 50 ms from now. A pipeline of continuations is
 * built on it before it arrives: double it, check it, format it. The check
 * fails for the value we get, so the error skips the remaining "then" step
 * and reaches "catch", which recovers; "finally" runs either way. Nothing
 * in the pipeline runs while it is being built: the program says so, then
 * calls future_wait, the blocking path, which runs the loop until the
 * pipeline's last future settles.
 *
 * SYNOPSIS
 *     $ ./examples/pipeline
 *     main: pipeline built; nothing has run yet (state: pending)
 *     timer: fired after 50 ms (it was set for 50), resolving with 21
 *     then step 1: doubling 21
 *     then step 2: 42 is too large, raising an error
 *     then step 3: skipped (the error travels past it)
 *     caught: check '42': result too large (ERANGE)
 *       ... recovering with 0
 *     finally: the pipeline is done
 *     main: future_wait returned 0 with value 0
 */
#include <future.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(expr)                                                           \
  do {                                                                        \
    int check_rc_ = (expr);                                                   \
    if (check_rc_ < 0) {                                                      \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,           \
              future_strerror(check_rc_));                                    \
      exit(EXIT_FAILURE);                                                     \
    }                                                                         \
  } while (0)

static uint64_t started; /* when the timer was started, ns */

static void on_timer(uv_timer_t *timer) {
  future_t *source = timer->data;
  /* Measured, not announced: the loop's clock may run late. */
  printf("timer: fired after %llu ms (it was set for 50), resolving with "
         "21\n",
         (unsigned long long)((uv_hrtime() - started) / 1000000));
  CHECK(future_resolve(source, (void *)(intptr_t)21, NULL));
  future_unref(source);
  uv_close((uv_handle_t *)timer, NULL);
}

static future_t *double_it(future_t *settled, void *data) {
  intptr_t n = (intptr_t)future_value(settled);
  (void)data;
  printf("then step 1: doubling %ld\n", (long)n);
  return future_resolved(future_loop(settled), (void *)(n * 2), NULL);
}

static future_t *check_range(future_t *settled, void *data) {
  intptr_t n = (intptr_t)future_value(settled);
  (void)data;
  if (n > 40) {
    printf("then step 2: %ld is too large, raising an error\n", (long)n);
    return future_rejected(future_loop(settled),
                           future_error_new(UV_ERANGE, "check '%ld'", (long)n));
  }
  printf("then step 2: %ld is fine\n", (long)n);
  return future_ref(settled);
}

static future_t *format_it(future_t *settled, void *data) {
  (void)data;
  printf("then step 3: formatting %ld\n", (long)(intptr_t)future_value(settled));
  return future_ref(settled);
}

static future_t *note_skipped(future_t *settled, void *data) {
  (void)data;
  printf("then step 3: skipped (the error travels past it)\n");
  return future_ref(settled);
}

static future_t *recover(future_t *settled, void *data) {
  (void)data;
  printf("caught: %s\n", future_error_message(future_error(settled)));
  printf("  ... recovering with 0\n");
  return future_resolved(future_loop(settled), (void *)(intptr_t)0, NULL);
}

static future_t *done(future_t *settled, void *data) {
  (void)settled;
  (void)data;
  printf("finally: the pipeline is done\n");
  return NULL;
}

int main(void) {
  uv_loop_t loop;
  uv_timer_t timer;
  future_t *source, *f;
  future_result_t result;

  CHECK(uv_loop_init(&loop));
  source = future_new(&loop);
  if (source == NULL)
    return EXIT_FAILURE;

  /* The timer keeps its own reference to the source, to settle it. */
  CHECK(uv_timer_init(&loop, &timer));
  timer.data = future_ref(source);
  started = uv_hrtime();
  CHECK(uv_timer_start(&timer, on_timer, 50, 0));

  /* Each step consumes the previous future and returns the next. The
   * third step has a rejection handler too, only to say it was skipped:
   * it passes the error on unchanged. */
  f = future_then(source, double_it, NULL, NULL);
  f = future_then(f, check_range, NULL, NULL);
  f = future_then(f, format_it, note_skipped, NULL);
  f = future_catch(f, recover, NULL);
  f = future_finally(f, done, NULL);
  if (f == NULL)
    return EXIT_FAILURE;

  printf("main: pipeline built; nothing has run yet (state: %s)\n",
         future_state(f) == FUTURE_PENDING ? "pending" : "settled");

  /* The blocking path: run the loop until the pipeline settles. */
  if (future_wait(f, &result) == 0)
    printf("main: future_wait returned 0 with value %ld\n",
           (long)(intptr_t)result.value);
  else
    printf("main: future_wait failed: %s\n",
           future_error_message(result.error));
  future_result_release(&result);

  CHECK(future_loop_close(&loop));
  CHECK(uv_run(&loop, UV_RUN_DEFAULT));
  CHECK(uv_loop_close(&loop));
  return EXIT_SUCCESS;
}
