/*
 * errors: how an error travels down a chain, and across time.
 *
 * 1. A step raises an error: the `then` steps after it are skipped (their
 *    callbacks never run: only steps that ran print anything, and the
 *    program lists the ones that never did), and the error reaches the
 *    next `catch`. The chain is built first, and the error comes 30 ms
 *    later, from a step that waited on a timer: it crosses time as a
 *    value would, and lands where the chain says, not where it was built.
 * 2. A catch can recover: the chain goes on with a value.
 * 3. A catch can re-raise with context: the original error becomes the
 *    cause of a new one, and both are printed with where they were raised.
 *    `finally` runs either way and passes the outcome through.
 * 4. future_all fails fast: three inputs settle after 20 ms (a value),
 *    50 ms (an error) and 200 ms (a value); all rejects at about 50 ms,
 *    and cancels the slow input. future_all_settled waits for every
 *    input, about 200 ms, and reports each outcome.
 * 5. An error nobody looks at is reported as an unhandled rejection when
 *    its last reference goes (on stderr, by the default hook).
 *
 * Times are measured (milliseconds since the chain was built); they vary
 * with the machine, the order does not.
 *
 * SYNOPSIS
 *     $ ./examples/errors
 *     == 1. an error skips the then steps and reaches catch; 2. catch recovers ==
 *          0 ms  the chain is built: read, parse, validate, apply, catch, listen
 *         30 ms  step "read": ran with 1 (after a 30 ms read)
 *         30 ms  step "parse": raising EINVAL
 *         30 ms  catch: got "parsing 'port=eighty': invalid argument (EINVAL)", recovering with 8080
 *         30 ms  step "listen": ran with 8080
 *         30 ms  => fulfilled with 8081
 *       steps that never ran: validate, apply
 *
 *     == 3. catch re-raises with context; finally runs anyway ==
 *          0 ms  step "parse": raising EINVAL
 *          0 ms  catch: adding context and re-raising
 *          0 ms  finally: cleaning up (the outcome was an error)
 *          0 ms  => rejected:
 *     error: loading settings from app.conf
 *       at examples/errors.c:150 in wrap
 *     caused by: parsing 'port=eighty': invalid argument (EINVAL)
 *       at examples/errors.c:133 in step_raise
 *       steps that never ran: listen
 *
 *     == 4. all fails fast; all_settled waits for every input ==
 *       inputs settle after 20 ms (a value), 50 ms (an error), 200 ms (a value)
 *         50 ms  all: rejected: open 'b.txt': no such file or directory (ENOENT)
 *        200 ms  all_settled: fulfilled, with every outcome:
 *         input 0: fulfilled with 1
 *         input 1: rejected: open 'b.txt': no such file or directory (ENOENT)
 *         input 2: fulfilled with 3
 *
 *     == 5. an error nobody looks at ==
 *       dropping a rejected future without a catch (report on stderr):
 *     libfuture: unhandled rejection
 *     error: writing the audit log: broken pipe (EPIPE)
 *       at examples/errors.c:276 in main
 */
#include <future.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static uint64_t t0;

/* The time since the chain was built, as the start of a line. */
static void at(void) {
  printf("  %5llu ms  ", (unsigned long long)((uv_hrtime() - t0) / 1000000));
}

/* Steps that ran, by name: the others never did. */
static char ran[256];

static void note_ran(const char *name) {
  strncat(ran, name, sizeof ran - strlen(ran) - 2);
  strcat(ran, ",");
}

static void print_never_ran(const char *const names[], size_t n) {
  const char *sep = "";
  printf("  steps that never ran: ");
  for (size_t i = 0; i < n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s,", names[i]);
    if (strstr(ran, key) == NULL) {
      printf("%s%s", sep, names[i]);
      sep = ", ";
    }
  }
  printf("%s\n", *sep == '\0' ? "none" : "");
}

/* A `then` step: it has no rejection handler, so an error travelling
 * down the chain passes it by without calling it. */
static future_t *step(future_t *settled, void *data) {
  at();
  printf("step \"%s\": ran with %ld\n", (const char *)data,
         (long)(intptr_t)future_value(settled));
  note_ran(data);
  return future_resolved(future_loop(settled),
                         (void *)((intptr_t)future_value(settled) + 1), NULL);
}

/* The first step: a read that takes 30 ms (a delay stands for it). */
static future_t *read_done(future_t *settled, void *data) {
  at();
  printf("step \"%s\": ran with 1 (after a 30 ms read)\n", (const char *)data);
  note_ran(data);
  return future_resolved(future_loop(settled), (void *)1, NULL);
}

static future_t *step_raise(future_t *settled, void *data) {
  at();
  printf("step \"%s\": raising EINVAL\n", (const char *)data);
  note_ran(data);
  return future_rejected(future_loop(settled),
                         future_error_new(UV_EINVAL, "parsing 'port=eighty'"));
}

static future_t *recover(future_t *settled, void *data) {
  (void)data;
  at();
  printf("catch: got \"%s\", recovering with 8080\n",
         future_error_message(future_error(settled)));
  return future_resolved(future_loop(settled), (void *)8080, NULL);
}

static future_t *wrap(future_t *settled, void *data) {
  (void)data;
  at();
  printf("catch: adding context and re-raising\n");
  return future_rejected(
      future_loop(settled),
      future_error_wrap(future_error(settled), FUTURE_EUSER(1),
                        "loading settings from %s", "app.conf"));
}

static future_t *cleanup(future_t *settled, void *data) {
  (void)data;
  at();
  printf("finally: cleaning up (the outcome was %s)\n",
         future_state(settled) == FUTURE_FULFILLED ? "a value" : "an error");
  return NULL;
}

static void show(future_t *f) {
  future_result_t r;
  int rc = future_wait(f, &r);
  at();
  if (rc == 0) {
    printf("=> fulfilled with %ld\n", (long)(intptr_t)r.value);
  } else {
    printf("=> rejected:\n");
    future_error_print(r.error, stdout);
  }
  future_result_release(&r);
}

/* Section 4's inputs: settled after 20, 50 and 200 ms. */

static future_t *give_value(future_t *settled, void *data) {
  return future_resolved(future_loop(settled), data, NULL);
}

static future_t *give_error(future_t *settled, void *data) {
  (void)data;
  return future_rejected(future_loop(settled),
                         future_error_new(UV_ENOENT, "open 'b.txt'"));
}

static future_t *value_after(uv_loop_t *loop, uint64_t ms, intptr_t v) {
  return future_then(future_delay(loop, ms), give_value, NULL, (void *)v);
}

static void make_inputs(uv_loop_t *loop, future_t *in[3]) {
  in[0] = check_ptr(value_after(loop, 20, 1), "input 0");
  in[1] = check_ptr(
      future_then(future_delay(loop, 50), give_error, NULL, NULL), "input 1");
  in[2] = check_ptr(value_after(loop, 200, 3), "input 2");
}

int main(void) {
  static const char *const chain1[] = {"read", "parse", "validate", "apply",
                                       "listen"};
  static const char *const chain2[] = {"parse", "listen"};
  uv_loop_t loop;
  future_t *f, *in[3];
  future_result_t r;

  check(uv_loop_init(&loop), "uv_loop_init");

  printf("== 1. an error skips the then steps and reaches catch; "
         "2. catch recovers ==\n");
  t0 = uv_hrtime();
  ran[0] = '\0';
  f = check_ptr(future_delay(&loop, 30), "future_delay");
  f = future_then(f, read_done, NULL, "read");
  f = future_then(f, step_raise, NULL, "parse");
  f = future_then(f, step, NULL, "validate");
  f = future_then(f, step, NULL, "apply");
  f = future_catch(f, recover, NULL);
  f = future_then(f, step, NULL, "listen");
  at();
  printf("the chain is built: read, parse, validate, apply, catch, listen\n");
  show(check_ptr(f, "building chain 1"));
  print_never_ran(chain1, 5);

  printf("\n== 3. catch re-raises with context; finally runs anyway ==\n");
  t0 = uv_hrtime();
  ran[0] = '\0';
  f = check_ptr(future_resolved(&loop, (void *)1, NULL), "future_resolved");
  f = future_then(f, step_raise, NULL, "parse");
  f = future_catch(f, wrap, NULL);
  f = future_finally(f, cleanup, NULL);
  f = future_then(f, step, NULL, "listen");
  show(check_ptr(f, "building chain 2"));
  print_never_ran(chain2, 2);

  printf("\n== 4. all fails fast; all_settled waits for every input ==\n");
  printf("  inputs settle after 20 ms (a value), 50 ms (an error), 200 ms "
         "(a value)\n");
  t0 = uv_hrtime();
  make_inputs(&loop, in);
  {
    int rc = future_wait(check_ptr(future_all(&loop, in, 3), "future_all"),
                         &r);
    at();
    if (rc == 0)
      printf("all: fulfilled (it should not have)\n");
    else
      printf("all: rejected: %s\n", future_error_message(r.error));
    future_result_release(&r);
  }
  t0 = uv_hrtime();
  make_inputs(&loop, in);
  check(future_wait(check_ptr(future_all_settled(&loop, in, 3), "all_settled"),
                    &r),
        "future_all_settled");
  at();
  printf("all_settled: fulfilled, with every outcome:\n");
  {
    const future_list_t *list = r.value;
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

  printf("\n== 5. an error nobody looks at ==\n");
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
