/*
 * next_line: the story of the source texts, in one program.
 *
 * A blocking read makes the program wait: the line after it runs only
 * once the data is there. A non-blocking read is handed to libuv, and
 * "the next line of the script" runs at once; the result arrives later,
 * in a callback. This program reads the same file four ways and prints,
 * with a timestamp, what runs when:
 *
 *   1. blocking: open(2) and read(2), as any C program does;
 *   2. raw libuv: uv_fs_open and uv_fs_read with callbacks, the way
 *      Node's fs.readFile works underneath;
 *   3. a future: future_fs_read_file, then a `then` step and a `catch`;
 *   4. a fiber: future_async, and future_await inside it, which reads top
 *      to bottom like (1) yet leaves the loop free like (2) and (3).
 *
 * Then the same four with a file that does not exist, to show where the
 * error lands in each: (1) a return code, tested right after the call,
 * before the next line; (2) a callback's argument, after the caller has
 * returned; (3) the chain's `catch`; (4) future_await's status, in the
 * fiber. The text after "<-" on a line says what to notice.
 *
 * Times are milliseconds since that version started; they depend on the
 * machine, the order does not. The program checks the order itself: in
 * (1) the result comes before the next line, in (2), (3) and (4) after
 * it; anything else makes it exit with status 1. It works on a file it
 * writes in a temporary directory, which it removes.
 *
 * SYNOPSIS
 *     $ ./examples/next_line
 *     reading data.txt (262144 bytes), four ways
 *
 *     1. blocking: open(2) + read(2)
 *         0.002 ms  open(2) + read(2) called
 *         0.183 ms  read(2) returned 262144 bytes                <- the result, first
 *         0.188 ms  the next line runs                           <- only now
 *     2. raw libuv: uv_fs_open, uv_fs_read with callbacks
 *         1.811 ms  uv_fs_open(..., on_open) returned 0 (started, not done)
 *         1.816 ms  the next line runs                           <- before the outcome
 *         1.817 ms  uv_run: the loop takes over
 *         1.866 ms  on_open: fd 9; uv_fs_read(..., on_read)
 *         2.142 ms  on_read: 262144 bytes                        <- the result, later
 *     3. a future: future_fs_read_file, then/catch
 *         0.042 ms  future_fs_read_file returned a pending future
 *         0.045 ms  the next line runs                           <- before the outcome
 *         0.046 ms  future_wait: the loop takes over
 *         0.345 ms  then: 262144 bytes                           <- the result, later
 *     4. a fiber: future_async, future_await
 *         0.015 ms  future_async returned (the fiber starts from the loop)
 *         0.016 ms  the next line runs                           <- before the outcome
 *         0.017 ms  future_wait: the loop takes over
 *         0.018 ms  fiber: future_await(future_fs_read_file(...))
 *         0.320 ms  fiber: await returned 0: 262144 bytes        <- the result, top to bottom
 *
 *     the same with missing.txt, which does not exist: where does the error land?
 *
 *     1. blocking: the error is a return code
 *         0.000 ms  open(2) + read(2) called
 *         0.019 ms  open(2) returned -1: no such file or directory (ENOENT)
 *                                                                <- the error, at once: a return code
 *         0.020 ms  the next line runs                           <- only now, after the error was handled
 *     2. raw libuv: the error is a callback's argument
 *         ...
 *         0.014 ms  on_open: req->result is ENOENT (no such file or directory)
 *                                                                <- the error, later: a callback argument
 *     3. a future: the error reaches the catch
 *         ...
 *         0.055 ms  catch: open 'missing.txt': no such file or directory (ENOENT)
 *                                                                <- the error, later: in the catch
 *     4. a fiber: the error is future_await's status
 *         ...
 *         0.021 ms  fiber: await returned ENOENT: open 'missing.txt': no such file or directory (ENOENT)
 *                                                                <- the error: await's status
 *
 *     in 1 the outcome came before the next line; in 2, 3 and 4 the next line ran first, and the outcome came later
 *
 * (The first uv_fs_open of the program took 1.8 ms: the first request
 * starts libuv's thread pool, four threads by default.)
 */
#include <future.h>
#include <future/async.h>
#include <future/fs.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIZE (256 * 1024)

static uint64_t t0;
static int step;          /* lines printed in this version, in order */
static int next_line_at;  /* the step at which the next line ran */
static int result_at;     /* the step at which the outcome was seen */

static void start(const char *title) {
  printf("%s\n", title);
  t0 = uv_hrtime();
  step = next_line_at = result_at = 0;
}

/* One line of the story: the time, what happened, and what to notice. */
static void vsay(const char *note, const char *fmt, va_list ap) {
  char what[160];
  vsnprintf(what, sizeof what, fmt, ap);
  step++;
  printf("  %7.3f ms  ", (uv_hrtime() - t0) / 1e6);
  if (note == NULL)
    printf("%s\n", what);
  else if (strlen(what) <= 44)
    printf("%-44s <- %s\n", what, note);
  else /* too long to share its line with the note */
    printf("%s\n  %10s  %-44s <- %s\n", what, "", "", note);
}

static void say(const char *note, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const char *note, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(note, fmt, ap);
  va_end(ap);
}

static void next_line(const char *note) {
  say(note, "the next line runs");
  next_line_at = step;
}

/* The read's outcome, a result or an error, as the version sees it. */
static void outcome(const char *note, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void outcome(const char *note, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(note, fmt, ap);
  va_end(ap);
  result_at = step;
}

/* 1. blocking */

static void blocking(const char *path) {
  static char buf[SIZE];
  ssize_t got = 0, n;
  int fd;
  say(NULL, "open(2) + read(2) called");
  fd = open(path, O_RDONLY);
  if (fd < 0) {
    int code = uv_translate_sys_error(errno);
    outcome("the error, at once: a return code",
            "open(2) returned -1: %s (%s)", uv_strerror(code),
            uv_err_name(code));
    next_line("only now, after the error was handled");
    return;
  }
  while ((n = read(fd, buf + got, sizeof buf - (size_t)got)) > 0)
    got += n;
  close(fd);
  outcome("the result, first", "read(2) returned %ld bytes", (long)got);
  next_line("only now");
}

/* 2. raw libuv callbacks */

typedef struct {
  uv_loop_t *loop;
  uv_fs_t req;
  uv_file fd;
  char buf[SIZE];
  size_t got;
} raw_read_t;

static void on_read(uv_fs_t *req);

static void read_more(raw_read_t *r) {
  uv_buf_t b = uv_buf_init(r->buf + r->got, (unsigned)(SIZE - r->got));
  uv_fs_read(r->loop, &r->req, r->fd, &b, 1, -1, on_read);
}

static void on_read(uv_fs_t *req) {
  raw_read_t *r = req->data;
  ssize_t n = req->result;
  uv_fs_t close_req;
  uv_fs_req_cleanup(req);
  if (n > 0 && r->got + (size_t)n < SIZE) {
    r->got += (size_t)n;
    read_more(r);
    return;
  }
  if (n > 0)
    r->got += (size_t)n;
  outcome("the result, later", "on_read: %ld bytes", (long)r->got);
  uv_fs_close(NULL, &close_req, r->fd, NULL); /* synchronous: no callback */
  uv_fs_req_cleanup(&close_req);
}

static void on_open(uv_fs_t *req) {
  raw_read_t *r = req->data;
  int result = (int)req->result;
  uv_fs_req_cleanup(req);
  if (result < 0) {
    outcome("the error, later: a callback argument",
            "on_open: req->result is %s (%s)", uv_err_name(result),
            uv_strerror(result));
    return;
  }
  r->fd = result;
  say(NULL, "on_open: fd %d; uv_fs_read(..., on_read)", result);
  read_more(r);
}

static void raw_libuv(uv_loop_t *loop, const char *path) {
  static raw_read_t read_state;
  raw_read_t *r = &read_state;
  int rc;
  memset(r, 0, offsetof(raw_read_t, buf));
  r->loop = loop;
  r->req.data = r;
  rc = uv_fs_open(loop, &r->req, path, O_RDONLY, 0, on_open);
  say(NULL, "uv_fs_open(..., on_open) returned %d (started, not done)", rc);
  next_line("before the outcome");
  say(NULL, "uv_run: the loop takes over");
  uv_run(loop, UV_RUN_DEFAULT);
}

/* 3. a future with then/catch */

static future_t *got_it(future_t *read, void *data) {
  const future_buf_t *b = future_value(read);
  (void)data;
  outcome("the result, later", "then: %ld bytes", (long)b->len);
  return future_resolved(future_loop(read), NULL, NULL);
}

static future_t *caught(future_t *read, void *data) {
  (void)data;
  outcome("the error, later: in the catch", "catch: %s",
          future_error_message(future_error(read)));
  return future_resolved(future_loop(read), NULL, NULL);
}

static void with_a_future(uv_loop_t *loop, const char *path) {
  future_t *f = future_fs_read_file(loop, path);
  say(NULL, "future_fs_read_file returned a %s future",
      future_state(f) == FUTURE_PENDING ? "pending" : "settled");
  f = future_catch(future_then(f, got_it, NULL, NULL), caught, NULL);
  next_line("before the outcome");
  say(NULL, "future_wait: the loop takes over");
  if (future_wait(f, NULL) != 0)
    exit(1);
}

/* 4. a fiber and future_await */

static future_t *fiber(uv_loop_t *loop, void *arg) {
  future_result_t r;
  int rc;
  say(NULL, "fiber: future_await(future_fs_read_file(...))");
  rc = future_await(future_fs_read_file(loop, arg), &r);
  if (rc == 0)
    outcome("the result, top to bottom", "fiber: await returned 0: %ld bytes",
            (long)((const future_buf_t *)r.value)->len);
  else
    outcome("the error: await's status", "fiber: await returned %s: %s",
            uv_err_name(rc), future_error_message(r.error));
  future_result_release(&r);
  return future_resolved(loop, NULL, NULL);
}

static void with_a_fiber(uv_loop_t *loop, const char *path) {
  future_t *f = future_async(loop, fiber, (void *)path, NULL);
  say(NULL, "future_async returned (the fiber starts from the loop)");
  next_line("before the outcome");
  say(NULL, "future_wait: the loop takes over");
  if (future_wait(f, NULL) != 0)
    exit(1);
}

/* The order the story claims, checked. */
static int check(const char *version, int blocking_one) {
  int ok = blocking_one ? result_at > 0 && result_at < next_line_at
                        : next_line_at > 0 && next_line_at < result_at;
  if (!ok)
    printf("   WRONG ORDER in %s: the next line at line %d, the outcome at "
           "line %d\n",
           version, next_line_at, result_at);
  return ok;
}

static int four_ways(uv_loop_t *loop, const char *path, int missing) {
  int ok = 1;
  start(missing ? "1. blocking: the error is a return code"
                : "1. blocking: open(2) + read(2)");
  blocking(path);
  ok &= check("1", 1);
  start(missing ? "2. raw libuv: the error is a callback's argument"
                : "2. raw libuv: uv_fs_open, uv_fs_read with callbacks");
  raw_libuv(loop, path);
  ok &= check("2", 0);
  start(missing ? "3. a future: the error reaches the catch"
                : "3. a future: future_fs_read_file, then/catch");
  with_a_future(loop, path);
  ok &= check("3", 0);
  start(missing ? "4. a fiber: the error is future_await's status"
                : "4. a fiber: future_async, future_await");
  with_a_fiber(loop, path);
  ok &= check("4", 0);
  return ok;
}

int main(void) {
  char dir[] = "/tmp/next_line-XXXXXX";
  const char *path = "data.txt", *missing = "missing.txt";
  static char data[SIZE];
  uv_loop_t loop;
  int ok, fd;

  if (mkdtemp(dir) == NULL)
    return 1;
  if (chdir(dir) != 0)
    return 1;
  memset(data, 'x', sizeof data);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data)
    return 1;
  close(fd);
  if (uv_loop_init(&loop) != 0)
    return 1;

  printf("reading data.txt (%d bytes), four ways\n\n", SIZE);
  ok = four_ways(&loop, path, 0);
  printf("\nthe same with missing.txt, which does not exist: where does the "
         "error land?\n\n");
  ok &= four_ways(&loop, missing, 1);
  printf("\n%s\n",
         ok ? "in 1 the outcome came before the next line; in 2, 3 and 4 the "
              "next line ran first, and the outcome came later"
            : "the order was not the one the story tells");

  unlink(path);
  if (chdir("/") != 0 || rmdir(dir) != 0)
    return 1;
  if (future_loop_close(&loop) != 0 || uv_loop_close(&loop) != 0)
    return 1;
  return ok ? 0 : 1;
}
