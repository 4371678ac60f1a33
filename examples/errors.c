/*
 * errors: how an error travels down a chain, told step by step.
 *
 * 1. A step raises an error: the "then" steps after it are skipped, and the
 *    error reaches the next "catch".
 * 2. A catch can recover: the chain goes on with a value.
 * 3. A catch can re-raise with context: the original error becomes the
 *    cause of a new one, and both are printed with where they were raised.
 * 4. finally runs either way and passes the outcome through.
 * 5. all fails fast on the first error; all_settled reports every outcome.
 * 6. An error nobody looks at is reported as an unhandled rejection when
 *    its last reference goes (on stderr, by the default hook).
 *
 * SYNOPSIS
 *     $ ./examples/errors
 *     == 1. an error skips the then steps ==
 *       step "parse": raising EINVAL
 *       step "validate": skipped
 *       ...
 */
#include <future.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "errors: %s: %s\n", what, future_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void *check_ptr(void *p, const char *what) {
  if (p == NULL)
    check(UV_ENOMEM, what);
  return p;
}

/* A named step: on_fulfilled says it ran; on_rejected says it was skipped
 * and passes the error on unchanged. */
static future_t *step_ran(future_t *settled, void *data) {
  printf("  step \"%s\": ran with %ld\n", (const char *)data,
         (long)(intptr_t)future_value(settled));
  return future_resolved(future_loop(settled),
                         (void *)((intptr_t)future_value(settled) + 1), NULL);
}

static future_t *step_skipped(future_t *settled, void *data) {
  printf("  step \"%s\": skipped (%s is travelling)\n", (const char *)data,
         future_err_name(future_error_code(future_error(settled))));
  return future_ref(settled);
}

static future_t *step_raise(future_t *settled, void *data) {
  (void)settled;
  printf("  step \"%s\": raising EINVAL\n", (const char *)data);
  return future_rejected(future_loop(settled),
                         future_error_new(UV_EINVAL, "parsing 'port=eighty'"));
}

static future_t *recover(future_t *settled, void *data) {
  (void)data;
  printf("  catch: got \"%s\", recovering with 8080\n",
         future_error_message(future_error(settled)));
  return future_resolved(future_loop(settled), (void *)8080, NULL);
}

static future_t *wrap(future_t *settled, void *data) {
  (void)data;
  printf("  catch: adding context and re-raising\n");
  return future_rejected(
      future_loop(settled),
      future_error_wrap(future_error(settled), FUTURE_EUSER(1),
                        "loading settings from %s", "app.conf"));
}

static future_t *cleanup(future_t *settled, void *data) {
  (void)data;
  printf("  finally: cleaning up (the outcome was %s)\n",
         future_state(settled) == FUTURE_FULFILLED ? "a value" : "an error");
  return NULL;
}

static void show(future_t *f) {
  future_result_t r;
  if (future_wait(f, &r) == 0) {
    printf("  => fulfilled with %ld\n", (long)(intptr_t)r.value);
  } else {
    printf("  => rejected:\n");
    future_error_print(r.error, stdout);
  }
  future_result_release(&r);
}

int main(void) {
  uv_loop_t loop;
  future_t *f, *in[3];
  future_result_t r;

  check(uv_loop_init(&loop), "uv_loop_init");

  printf("== 1. an error skips the then steps and reaches catch ==\n");
  printf("== 2. catch recovers ==\n");
  f = check_ptr(future_resolved(&loop, (void *)1, NULL), "future_resolved");
  f = future_then(f, step_ran, step_skipped, "read");
  f = future_then(f, step_raise, step_skipped, "parse");
  f = future_then(f, step_ran, step_skipped, "validate");
  f = future_then(f, step_ran, step_skipped, "apply");
  f = future_catch(f, recover, NULL);
  f = future_then(f, step_ran, step_skipped, "listen");
  show(check_ptr(f, "building chain 1"));

  printf("\n== 3. catch re-raises with context; 4. finally runs anyway ==\n");
  f = check_ptr(future_resolved(&loop, (void *)1, NULL), "future_resolved");
  f = future_then(f, step_raise, step_skipped, "parse");
  f = future_catch(f, wrap, NULL);
  f = future_finally(f, cleanup, NULL);
  f = future_then(f, step_ran, step_skipped, "listen");
  show(check_ptr(f, "building chain 2"));

  printf("\n== 5. all fails fast; all_settled reports each outcome ==\n");
  in[0] = future_resolved(&loop, (void *)1, NULL);
  in[1] = future_rejected(&loop, future_error_new(UV_ENOENT, "open 'b.txt'"));
  in[2] = future_resolved(&loop, (void *)3, NULL);
  printf("  all:\n");
  show(check_ptr(future_all(&loop, in, 3), "future_all"));
  in[0] = future_resolved(&loop, (void *)1, NULL);
  in[1] = future_rejected(&loop, future_error_new(UV_ENOENT, "open 'b.txt'"));
  in[2] = future_resolved(&loop, (void *)3, NULL);
  check(future_wait(check_ptr(future_all_settled(&loop, in, 3), "all_settled"),
                    &r),
        "future_all_settled");
  {
    const future_list_t *list = r.value;
    printf("  all_settled:\n");
    for (size_t i = 0; i < list->count; i++) {
      future_t *item = list->items[i];
      if (future_state(item) == FUTURE_FULFILLED)
        printf("    input %zu: fulfilled with %ld\n", i,
               (long)(intptr_t)future_value(item));
      else
        printf("    input %zu: rejected: %s\n", i,
               future_error_message(future_error(item)));
    }
  }
  future_result_release(&r);

  printf("\n== 6. an error nobody looks at ==\n");
  printf("  dropping a rejected future without a catch (report on "
         "stderr):\n");
  fflush(stdout);
  future_unref(future_rejected(
      &loop, future_error_new(UV_EPIPE, "writing the audit log")));

  check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  check(future_loop_close(&loop), "future_loop_close");
  check(uv_loop_close(&loop), "uv_loop_close");
  return EXIT_SUCCESS;
}
