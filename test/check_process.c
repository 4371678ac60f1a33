/* Child processes as futures (src/process.c): real children, /bin/sh -c
 * with controlled output, exit codes and signals. Every test ends by
 * proving that no child is left (waitpid(-1, WNOHANG) finds none) and no
 * descriptor either. */
#define _GNU_SOURCE /* fs_helpers.h: nftw, renameat2 */
#include "fs_helpers.h"
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SH "/bin/sh"

/* What libuv opens once per process (its signal pipe, which reports
 * SIGCHLD) is opened before a test counts descriptors. */
static void process_setup(void) {
  uv_loop_t loop;
  setup();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void no_child_left(void) {
  errno = 0;
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
}

static const future_exit_t *exec_ok(uv_loop_t *loop, const char *script,
                                    size_t max, future_result_t *r) {
  const char *args[] = {"sh", "-c", script, NULL};
  ck_assert_int_eq(future_wait(future_exec(loop, SH, args, max), r), 0);
  ck_assert_ptr_nonnull(r->value);
  return r->value;
}

START_TEST(test_process_exec_collects_output_and_status) {
  uv_loop_t loop;
  future_result_t r;
  const future_exit_t *e;
  int fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  e = exec_ok(&loop, "printf hello; printf oops >&2; exit 3", 0, &r);
  ck_assert_int_eq(e->status, 3); /* fulfilled all the same */
  ck_assert_int_eq(e->signal, 0);
  ck_assert_int_gt(e->pid, 0);
  ck_assert_uint_eq(e->out_len, 5);
  ck_assert_str_eq(e->out, "hello");
  ck_assert_uint_eq(e->err_len, 4);
  ck_assert_str_eq(e->err, "oops");
  future_result_release(&r);

  e = exec_ok(&loop, "printf x", SIZE_MAX, &r); /* no limit to speak of */
  ck_assert_str_eq(e->out, "x");
  future_result_release(&r);

  e = exec_ok(&loop, "true", 0, &r);
  ck_assert_int_eq(e->status, 0);
  ck_assert_uint_eq(e->out_len, 0);
  ck_assert_str_eq(e->out, ""); /* captured, empty */
  ck_assert_str_eq(e->err, "");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  no_child_left();
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(test_process_signal_ends_the_child) {
  uv_loop_t loop;
  future_result_t r;
  const future_exit_t *e;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  e = exec_ok(&loop, "printf before; kill -TERM $$; printf after", 0, &r);
  ck_assert_int_eq(e->signal, SIGTERM);
  ck_assert_int_eq(e->status, 0);
  ck_assert_str_eq(e->out, "before");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  no_child_left();
}
END_TEST

/* Arguments, environment, working directory, and every stdio choice. */
START_TEST(test_process_spawn_options) {
  uv_loop_t loop;
  future_result_t r;
  const future_exit_t *e;
  future_spawn_options_t o;
  const char *args[] = {"sh", "-c",
                        "printf '%s|%s|%s' \"$FOO\" \"$(pwd)\" \"$1\"; "
                        "printf e >&2",
                        "sh", "first arg", NULL};
  const char *env[] = {"FOO=bar baz", NULL};
  char want[4200], text[4200];
  FILE *fp;
  int fd, fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(&o, 0, sizeof o);
  o.file = SH;
  o.args = args;
  o.env = env;
  o.cwd = root;
  o.stdio[0].kind = FUTURE_STDIO_IGNORE;
  o.stdio[1].kind = FUTURE_STDIO_CAPTURE;
  o.stdio[2].kind = FUTURE_STDIO_IGNORE;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), 0);
  e = r.value;
  snprintf(want, sizeof want, "bar baz|%s|first arg", root);
  ck_assert_str_eq(e->out, want);
  ck_assert_ptr_null(e->err); /* not captured */
  ck_assert_uint_eq(e->err_len, 0);
  future_result_release(&r);

  /* stdout to a descriptor of ours; stderr inherited (nothing written). */
  fd = open(tp("out.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  args[2] = "printf to-file";
  o.env = NULL;
  o.cwd = NULL;
  o.stdio[1].kind = FUTURE_STDIO_FD;
  o.stdio[1].fd = fd;
  o.stdio[2].kind = FUTURE_STDIO_INHERIT;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), 0);
  e = r.value;
  ck_assert_int_eq(e->status, 0);
  ck_assert_ptr_null(e->out);
  ck_assert_ptr_null(e->err);
  future_result_release(&r);
  ck_assert_int_eq(close(fd), 0);
  fp = fopen(tp("out.txt"), "r");
  ck_assert_ptr_nonnull(fp);
  ck_assert_ptr_nonnull(fgets(text, sizeof text, fp));
  fclose(fp);
  ck_assert_str_eq(text, "to-file");

  /* No args: just the file, argv[0] its name. */
  memset(&o, 0, sizeof o);
  o.file = "/bin/true";
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), 0);
  ck_assert_int_eq(((const future_exit_t *)r.value)->status, 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  no_child_left();
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(test_process_errors) {
  uv_loop_t loop;
  future_result_t r;
  future_spawn_options_t o;
  char want[4200];
  int line, fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  line = __LINE__ + 1;
  ck_assert_int_eq(future_wait(future_exec(&loop, "/no/such", NULL, 0), &r),
                   UV_ENOENT);
  ck_assert_str_eq(future_error_message(r.error),
                   "spawn /no/such: no such file or directory (ENOENT)");
  ck_assert_int_eq(future_error_line(r.error), line); /* the call site */
  future_result_release(&r);

  memset(&o, 0, sizeof o);
  o.file = SH;
  o.cwd = tp("missing");
  o.stdio[1].kind = FUTURE_STDIO_CAPTURE;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_ENOENT);
  ck_assert_str_eq(future_error_message(r.error),
                   "spawn /bin/sh: no such file or directory (ENOENT)");
  future_result_release(&r);

  put_file(tp("not-exec"), "#!/bin/sh\n");
  o.cwd = NULL;
  o.file = tp("not-exec");
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_EACCES);
  snprintf(want, sizeof want, "spawn %s: permission denied (EACCES)",
           tp("not-exec"));
  ck_assert_str_eq(future_error_message(r.error), want);
  future_result_release(&r);

  ck_assert_int_eq(future_wait(future_spawn(&loop, NULL), &r), UV_EINVAL);
  future_result_release(&r);
  o.file = NULL;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_exec(&loop, NULL, NULL, 0), &r),
                   UV_EINVAL);
  future_result_release(&r);
  o.file = SH;
  o.stdio[0].kind = FUTURE_STDIO_CAPTURE;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_EINVAL);
  ck_assert_str_eq(future_error_message(r.error),
                   "spawn /bin/sh: stdin cannot be captured: invalid argument "
                   "(EINVAL)");
  future_result_release(&r);
  o.stdio[0].kind = FUTURE_STDIO_FD;
  o.stdio[0].fd = -1;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_EINVAL);
  future_result_release(&r);
  o.stdio[0].kind = (future_stdio_kind_t)42;
  ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_EINVAL);
  future_result_release(&r);

  ck_assert_ptr_null(future_spawn(NULL, &o));
  ck_assert_ptr_null(future_exec(NULL, SH, NULL, 0));
  ck_assert_int_eq(future_process_kill(NULL, SIGTERM), UV_EINVAL);
  ck_assert_int_eq(future_process_pid(NULL), 0);
  LOOP_CLOSE(&loop);
  no_child_left();
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Output over the limit: rejected with UV_ENOBUFS once the child has been
 * ended and reaped, also when it ignores SIGTERM (SIGKILL after the grace
 * period). */
START_TEST(test_process_output_over_the_limit) {
  static const char *const scripts[] = {
      "while :; do echo 0123456789; done",
      "trap '' TERM; while :; do echo 0123456789; done",
      "while :; do echo 0123456789 >&2; done",
  };
  uv_loop_t loop;
  future_result_t r;
  future_spawn_options_t o;
  size_t i;
  int fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
    const char *args[] = {"sh", "-c", scripts[i], NULL};
    char want[200];
    memset(&o, 0, sizeof o);
    o.file = SH;
    o.args = args;
    o.stdio[1].kind = FUTURE_STDIO_CAPTURE;
    o.stdio[2].kind = FUTURE_STDIO_CAPTURE;
    o.max_output = 1000;
    o.kill_grace_ms = 50;
    ck_assert_int_eq(future_wait(future_spawn(&loop, &o), &r), UV_ENOBUFS);
    snprintf(want, sizeof want,
             "spawn /bin/sh: %s over 1000 bytes: no buffer space available "
             "(ENOBUFS)",
             i == 2 ? "stderr" : "stdout");
    ck_assert_str_eq(future_error_message(r.error), want);
    future_result_release(&r);
    no_child_left(); /* reaped before the future settled */
  }
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* A child that closes stdout early and writes a lot to stderr; and one
 * whose output is large (and binary) but within the limit. */
START_TEST(test_process_streams_end_apart) {
  uv_loop_t loop;
  future_result_t r;
  const future_exit_t *e;
  size_t i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  e = exec_ok(&loop,
              "printf early; exec 1>&-; i=0; while [ $i -lt 3000 ]; do "
              "echo 0123456789abcdef >&2; i=$((i+1)); done; exit 7",
              0, &r);
  ck_assert_int_eq(e->status, 7);
  ck_assert_str_eq(e->out, "early");
  ck_assert_uint_eq(e->err_len, 3000 * 17);
  ck_assert_int_eq(memcmp(e->err, "0123456789abcdef\n", 17), 0);
  future_result_release(&r);

  e = exec_ok(&loop, "head -c 300000 /dev/zero", 300000, &r);
  ck_assert_uint_eq(e->out_len, 300000);
  for (i = 0; i < e->out_len; i++)
    ck_assert_int_eq(e->out[i], 0);
  ck_assert_int_eq(e->out[e->out_len], '\0');
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  no_child_left();
}
END_TEST

/* future_process_kill and future_process_pid. */
START_TEST(test_process_kill_and_pid) {
  uv_loop_t loop;
  future_result_t r;
  future_t *f, *plain;
  const char *args[] = {"sh", "-c", "exec sleep 100", NULL};
  int pid;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_exec(&loop, SH, args, 0);
  pid = future_process_pid(f);
  ck_assert_int_gt(pid, 0);
  ck_assert_int_eq(future_process_kill(f, 0), UV_EINVAL);
  ck_assert_int_eq(future_process_kill(f, 12345), UV_EINVAL);
  ck_assert_int_eq(future_process_kill(f, SIGTERM), 0);
  ck_assert_int_eq(future_wait(future_ref(f), &r), 0);
  ck_assert_int_eq(((const future_exit_t *)r.value)->signal, SIGTERM);
  ck_assert_int_eq(((const future_exit_t *)r.value)->pid, pid);
  future_result_release(&r);
  ck_assert_int_eq(future_process_kill(f, SIGTERM), FUTURE_ESETTLED);
  ck_assert_int_eq(future_process_pid(f), 0);
  future_unref(f);
  plain = future_new(&loop);
  ck_assert_int_eq(future_process_kill(plain, SIGTERM), UV_EINVAL);
  ck_assert_int_eq(future_process_pid(plain), 0);
  future_unref(plain);
  LOOP_CLOSE(&loop);
  no_child_left();
}
END_TEST

/* The child writes `ready` once it ignores SIGTERM. */
static future_t *spawn_stubborn(uv_loop_t *loop, unsigned grace_ms,
                                int capture) {
  static char script[4200];
  const char *args[] = {"sh", "-c", script, NULL};
  future_spawn_options_t o;
  snprintf(script, sizeof script, "trap '' TERM; : > '%s'; exec sleep 100",
           tp("ready"));
  unlink(tp("ready"));
  memset(&o, 0, sizeof o);
  o.file = SH;
  o.args = args;
  o.kill_grace_ms = grace_ms;
  if (capture)
    o.stdio[1].kind = o.stdio[2].kind = FUTURE_STDIO_CAPTURE;
  return future_spawn(loop, &o);
}

/* The child gets there without the loop. (Not future_wait on a delay:
 * with the child's handles active and no other timer, a delay that is
 * already due when uv_run(UV_RUN_ONCE) starts fires before the poll,
 * which then blocks; see the lead's note on future_wait.) */
static void await_ready(void) {
  while (!exists(tp("ready")))
    uv_sleep(2);
}

/* Cancelled, the future rejects at once; the child is ended (SIGTERM)
 * and reaped before the loop runs dry. One that ignores SIGTERM can only
 * go by the SIGKILL that follows the grace period. */
START_TEST(test_process_cancel_kills_and_reaps) {
  uv_loop_t loop;
  future_t *f;
  const char *args[] = {"sh", "-c", "exec sleep 100", NULL};
  int pid, fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_exec(&loop, SH, args, 0);
  pid = future_process_pid(f);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ECANCELED);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  no_child_left();
  ck_assert_int_eq(kill(pid, 0), -1);

  f = spawn_stubborn(&loop, 30, _i);
  await_ready();
  pid = future_process_pid(f);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_cancel(f), FUTURE_ESETTLED);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  no_child_left();
  ck_assert_int_eq(kill(pid, 0), -1);

  /* Cancelled after it exited, while its output is still read: a
   * grandchild holds the pipe open, writing until the pipe is closed. */
  {
    const char *gargs[] = {
        "sh", "-c", "(while echo x; do sleep 0.01; done) & exit 0", NULL};
    future_result_t r;
    f = future_exec(&loop, SH, gargs, 0);
    ck_assert_int_eq(
        future_wait(future_race(&loop, (future_t *[]){future_ref(f),
                                                      future_delay(&loop, 300)},
                                2),
                    &r),
        0);
    future_result_release(&r);
    ck_assert_int_eq(future_state(f), FUTURE_PENDING);
    ck_assert_int_eq(future_cancel(f), 0);
    future_unref(f);
  }
  LOOP_CLOSE(&loop);
  no_child_left();
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Teardown with a child still running: future_loop_close ends and reaps
 * it (and waits for the grace period of one that ignores SIGTERM); in
 * either order with a uv_walk that closes every handle, the process
 * handle and its pipes included. */
START_TEST(test_process_teardown_with_a_walk) {
  uv_loop_t loop;
  int fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(spawn_stubborn(&loop, 30, 1));
  await_ready();
  /* The walk first meets the loop's three handles, the process and its
   * two pipes. */
  ck_assert_int_eq(teardown_with_walk(&loop, _i),
                   _i != TEARDOWN_CLOSE_FIRST ? 6 : 0);
  no_child_left();
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(test_process_close_waits_for_the_reap) {
  uv_loop_t loop;
  int fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(spawn_stubborn(&loop, 30, 0));
  await_ready();
  ck_assert_int_eq(future_loop_close(&loop), 0);
  no_child_left();
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Allocation failures: a NULL future or a UV_ENOMEM rejection, nothing
 * left behind: no memory, no descriptor, no child. */
static future_t *op_exec(uv_loop_t *l) {
  static const char *const args[] = {"sh", "-c", "echo out; echo err >&2",
                                     NULL};
  return future_exec(l, SH, args, 0);
}

static future_t *op_spawn_over(uv_loop_t *l) {
  static const char *const args[] = {"sh", "-c",
                                     "while :; do echo 0123456789; done",
                                     NULL};
  future_spawn_options_t o;
  memset(&o, 0, sizeof o);
  o.file = SH;
  o.args = args;
  o.stdio[1].kind = FUTURE_STDIO_CAPTURE;
  o.stdio[2].kind = FUTURE_STDIO_IGNORE; /* its complaints, once cut off */
  o.max_output = 100;
  return future_spawn(l, &o);
}

static void after_try(void) { no_child_left(); }

START_TEST(test_process_allocation_failures) {
  static const fs_op_t ops[] = {
      {"exec", NULL, op_exec, NULL, after_try},
  };
  sweep_ops(ops, sizeof ops / sizeof ops[0]);
}
END_TEST

/* The same for an output over the limit, which the sweep sees as a
 * failure of its own (UV_ENOBUFS): each try gives UV_ENOBUFS or UV_ENOMEM
 * and leaves nothing. */
START_TEST(test_process_allocation_failures_over_the_limit) {
  long k;
  int fds = fd_count();
  setenv("FUTURE_POOL", "0", 1);
  for (k = 1; k < 40; k++) {
    uv_loop_t loop;
    future_result_t r;
    future_t *f;
    int rc;
    atomic_store(&sw_calls, 0);
    atomic_store(&sw_fail_at, k);
    atomic_store(&sw_held, 0);
    ck_assert_int_eq(
        future_set_allocator(sw_malloc, sw_realloc, sw_calloc, sw_free), 0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    f = op_spawn_over(&loop);
    rc = f == NULL ? UV_ENOMEM : future_wait(f, &r);
    if (f != NULL)
      future_result_release(&r);
    atomic_store(&sw_fail_at, 0);
    LOOP_CLOSE(&loop);
    ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free), 0);
    ck_assert_msg(rc == UV_ENOBUFS || rc == UV_ENOMEM,
                  "allocation %ld: %s", k, future_strerror(rc));
    ck_assert_int_eq(atomic_load(&sw_held), 0);
    no_child_left();
    ck_assert_int_eq(fd_count(), fds);
  }
  unsetenv("FUTURE_POOL");
}
END_TEST

Suite *make_process_suite(void) {
  Suite *s = suite_create("process");
  TCase *core = tcase_create("core");
  tcase_add_checked_fixture(core, process_setup, teardown);
  tcase_set_timeout(core, 120);
  tcase_add_test(core, test_process_exec_collects_output_and_status);
  tcase_add_test(core, test_process_signal_ends_the_child);
  tcase_add_test(core, test_process_spawn_options);
  tcase_add_test(core, test_process_errors);
  tcase_add_test(core, test_process_output_over_the_limit);
  tcase_add_test(core, test_process_streams_end_apart);
  tcase_add_test(core, test_process_kill_and_pid);
  tcase_add_loop_test(core, test_process_cancel_kills_and_reaps, 0, 2);
  tcase_add_loop_test(core, test_process_teardown_with_a_walk, 0, 3);
  tcase_add_test(core, test_process_close_waits_for_the_reap);
  tcase_add_test(core, test_process_allocation_failures);
  tcase_add_test(core, test_process_allocation_failures_over_the_limit);
  suite_add_tcase(s, core);
  return s;
}
