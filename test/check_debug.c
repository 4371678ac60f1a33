/* The debug build (configure --enable-debug, src/debug.c) catches misuse
 * that a default build cannot afford to look for: one future_unref too
 * many, a freed future used again, a resolver used twice, and calls from
 * a thread that is not the loop's. Each misuse runs in a child process
 * whose stderr is captured: it must abort with a message that names the
 * call and the mistake. In a default build the suite is empty. */
#include "helpers.h"
#include "suites.h"

#include "config.h"

#if FUTURE_DEBUG
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*misuse_fn)(void);

/* Run `fn` in a child; it must die of SIGABRT after writing `expect` (and
 * `expect2`, if not NULL) to stderr. */
static void expect_abort(misuse_fn fn, const char *expect,
                         const char *expect2) {
  int fds[2], status;
  char out[4096];
  size_t len = 0;
  ssize_t n;
  pid_t pid;
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    signal(SIGABRT, SIG_DFL);
    fn();
    _exit(0); /* not caught: the parent sees a clean exit and fails */
  }
  close(fds[1]);
  while (len < sizeof(out) - 1 &&
         (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
    len += (size_t)n;
  out[len] = '\0';
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                "the misuse was not caught (status %d, stderr: %s)", status,
                out);
  ck_assert_msg(strstr(out, expect) != NULL, "stderr lacks '%s': %s", expect,
                out);
  if (expect2 != NULL)
    ck_assert_msg(strstr(out, expect2) != NULL, "stderr lacks '%s': %s",
                  expect2, out);
}

static void unref_too_many(void) {
  uv_loop_t loop;
  future_t *f;
  uv_loop_init(&loop);
  f = future_resolved(&loop, NULL, NULL);
  future_unref(f);
  future_unref(f);
}

START_TEST(test_debug_unref_too_many) {
  expect_abort(unref_too_many, "libfuture: future_unref: future",
               "already freed");
}
END_TEST

/* In a default build the pool hands the freed memory to the next future
 * at once, and the stale pointer then reads (and may settle) a live
 * future. The debug build holds the memory back, poisoned. */
static void use_after_free(void) {
  uv_loop_t loop;
  future_t *f, *g;
  uv_loop_init(&loop);
  f = future_new(&loop);
  future_unref(f);
  g = future_new(&loop);
  if (g == f)
    _exit(3); /* reused at once: the test fails on the exit status */
  future_resolve(f, NULL, NULL);
}

START_TEST(test_debug_freed_future_is_not_reused) {
  expect_abort(use_after_free, "libfuture: future_resolve: future",
               "already freed");
}
END_TEST

static void resolver_twice(void) {
  uv_loop_t loop;
  future_resolver_t *r;
  future_t *f;
  uv_loop_init(&loop);
  f = future_new_threadsafe(&loop, &r);
  (void)f;
  future_resolver_resolve(r, NULL, NULL);
  future_resolver_resolve(r, NULL, NULL);
}

static void resolver_after_delivery(void) {
  uv_loop_t loop;
  future_resolver_t *r;
  future_result_t res;
  future_t *f;
  uv_loop_init(&loop);
  f = future_new_threadsafe(&loop, &r);
  future_resolver_resolve(r, NULL, NULL);
  future_wait(f, &res); /* delivered: the resolver is freed */
  future_resolver_reject(r, NULL);
}

START_TEST(test_debug_resolver_used_twice) {
  expect_abort(resolver_twice, "libfuture: future_resolver_resolve: resolver",
               "used a second time");
  expect_abort(resolver_after_delivery,
               "libfuture: future_resolver_reject: resolver",
               "already delivered");
}
END_TEST

static future_t *cross_f;

static void then_on_thread(void *arg) {
  (void)arg;
  future_unref(future_then(cross_f, NULL, NULL, NULL));
}

static void wrong_thread_then(void) {
  uv_loop_t loop;
  uv_thread_t tid;
  uv_loop_init(&loop);
  cross_f = future_new(&loop);
  uv_thread_create(&tid, then_on_thread, NULL);
  uv_thread_join(&tid);
}

static uv_loop_t cross_loop;

static void new_on_thread(void *arg) {
  (void)arg;
  future_unref(future_delay(&cross_loop, 1));
}

static void wrong_thread_new(void) {
  uv_thread_t tid;
  uv_loop_init(&cross_loop);
  future_unref(future_new(&cross_loop)); /* this thread is the loop's */
  uv_thread_create(&tid, new_on_thread, NULL);
  uv_thread_join(&tid);
}

START_TEST(test_debug_wrong_thread) {
  expect_abort(wrong_thread_then, "libfuture: future_then: called on the "
                                  "wrong thread",
               NULL);
  expect_abort(wrong_thread_new, "called on the wrong thread", NULL);
}
END_TEST

static void not_a_future(void) {
  static uint64_t junk[16];
  future_cancel((future_t *)junk);
}

START_TEST(test_debug_not_a_future) {
  expect_abort(not_a_future, "libfuture: future_cancel:", "is not a future");
}
END_TEST

/* What the debug build allows stays allowed: future_wait and
 * future_result_release from another thread, and a clean run leaves
 * nothing behind (what it held back is let go at teardown). */
static void wait_on_thread(void *arg) {
  future_result_t r;
  ck_assert_int_eq(future_wait(arg, &r), 0);
  future_result_release(&r);
}

START_TEST(test_debug_allowed_cross_thread_calls) {
  uv_loop_t loop;
  uv_thread_t tid;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_new(&loop);
  ck_assert_int_eq(uv_thread_create(&tid, wait_on_thread, future_ref(f)), 0);
  uv_sleep(20);
  ck_assert_int_eq(future_resolve(f, NULL, NULL), 0);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  LOOP_CLOSE(&loop);
}
END_TEST
#endif /* FUTURE_DEBUG */

Suite *make_debug_suite(void) {
  Suite *s = suite_create("debug");
#if FUTURE_DEBUG
  TCase *misuse = tcase_create("Misuse");
  tcase_set_timeout(misuse, 30);
  tcase_add_test(misuse, test_debug_unref_too_many);
  tcase_add_test(misuse, test_debug_freed_future_is_not_reused);
  tcase_add_test(misuse, test_debug_resolver_used_twice);
  tcase_add_test(misuse, test_debug_wrong_thread);
  tcase_add_test(misuse, test_debug_not_a_future);
  tcase_add_test(misuse, test_debug_allowed_cross_thread_calls);
  suite_add_tcase(s, misuse);
#endif
  return s;
}
