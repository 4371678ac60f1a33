/* Tracing to Chrome trace-event JSON (src/trace.c). */
#include "helpers.h"
#include "suites.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(const char *path) {
  FILE *fp = fopen(path, "r");
  long n;
  char *text;
  ck_assert_ptr_nonnull(fp);
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  rewind(fp);
  text = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(text, 1, (size_t)n, fp), (size_t)n);
  text[n] = '\0';
  fclose(fp);
  return text;
}

static size_t count(const char *text, const char *what) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
    n++;
  return n;
}

static future_t *pass(future_t *s, void *d) {
  (void)d;
  return future_ref(s);
}

/* The line of `text` (one event a line) that contains `what`, copied into
 * `line`; NULL when there is none. */
static const char *line_with(const char *text, const char *what, char *line,
                             size_t size) {
  const char *p = strstr(text, what), *a, *b;
  size_t n;
  if (p == NULL)
    return NULL;
  for (a = p; a > text && a[-1] != '\n'; a--)
    ;
  b = strchr(p, '\n');
  n = b != NULL ? (size_t)(b - a) : strlen(a);
  if (n >= size)
    n = size - 1;
  memcpy(line, a, n);
  line[n] = '\0';
  return line;
}

/* The number after `"key":` in `line`, or -1. */
static long field(const char *line, const char *key) {
  char pat[64];
  const char *p;
  snprintf(pat, sizeof pat, "\"%s\":", key);
  p = strstr(line, pat);
  return p != NULL ? strtol(p + strlen(pat), NULL, 10) : -1;
}

START_TEST(test_trace_records_chain_wait_and_requests) {
  uv_loop_t loop;
  char path[64], line[512];
  char *json;
  future_result_t r;
  future_t *f;
  snprintf(path, sizeof path, "/tmp/future-trace-%ld.json", (long)getpid());
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_eq(future_trace_start(path), UV_EBUSY);
  f = future_then(future_delay(&loop, 1), pass, NULL, NULL);
  f = future_catch(f, pass, NULL);
  ck_assert_int_eq(future_wait(f, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  ck_assert_int_eq(future_trace_stop(), UV_EINVAL);

  json = slurp(path);
  ck_assert_ptr_nonnull(strstr(json, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":["));
  ck_assert_uint_eq(count(json, "\"name\":\"create\""), 3);
  ck_assert_uint_eq(count(json, "\"name\":\"fulfilled\""), 3);
  ck_assert_uint_eq(count(json, "\"name\":\"then pass\",\"cat\":\"future\",\"ph\":\"X\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"delay 1 ms\",\"cat\":\"request\",\"ph\":\"b\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"delay 1 ms\",\"cat\":\"request\",\"ph\":\"e\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"future_wait (blocked)\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"catch"), 0); /* skipped */
  /* An async slice's begin and end carry the id that pairs them (the
   * viewer matches "b" with "e" by it), and only they do: the delay's,
   * the first future of the trace. */
  ck_assert_uint_eq(count(json, "\"id\":"), 2);
  ck_assert_uint_eq(count(json, "\"id\":1,"), 2);
  ck_assert_ptr_nonnull(line_with(json, "\"ph\":\"b\"", line, sizeof line));
  ck_assert_int_eq(field(line, "future"), 1);
  ck_assert_ptr_nonnull(strstr(json, "\n]}\n"));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A trace whose file cannot be opened fails at the start, with the
 * reason, and nothing records. */
START_TEST(test_trace_bad_arguments) {
  ck_assert_int_eq(future_trace_start(NULL), UV_EINVAL);
  ck_assert_int_eq(future_trace_start(""), UV_EINVAL);
  ck_assert_int_eq(future_trace_stop(), UV_EINVAL);
  ck_assert_int_eq(future_trace_start("/nonexistent-dir/x.json"), UV_ENOENT);
  ck_assert_int_eq(future_trace_stop(), UV_EINVAL); /* not recording */
  ck_assert_int_eq(future_trace_start("/"), UV_EISDIR);
  ck_assert_int_eq(future_trace_stop(), UV_EINVAL);
}
END_TEST

/* Tracing allocates through the allocator hook like the rest of the
 * library: the buffer of events and the table of futures are seen, and
 * are freed by future_trace_stop, with the copies of the requests' names;
 * an allocator that fails makes future_trace_start fail with UV_ENOMEM;
 * and the allocator cannot be swapped while a trace is recording. */
START_TEST(test_trace_allocates_through_the_hook) {
  char path[] = "/tmp/future-trace-XXXXXX";
  int fd = mkstemp(path);
  uv_loop_t loop;
  future_result_t r;
  future_t *pending;
  long outstanding;
  ck_assert_int_ge(fd, 0);
  close(fd);
  counting_install();
  counting.fail = 1;
  ck_assert_int_eq(future_trace_start(path), UV_ENOMEM);
  counting.fail = 0;
  ck_assert_int_eq(counting.outstanding, 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_eq(counting.outstanding, 2); /* the buffer, the table */
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free),
                   UV_EBUSY);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_delay(&loop, 0), &r), 0);
  future_result_release(&r);
  /* A request's name is copied while its span is open, and let go when
   * it ends: delays one after another do not add up. */
  outstanding = counting.outstanding;
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(future_wait(future_delay(&loop, 0), &r), 0);
    future_result_release(&r);
  }
  ck_assert_int_eq(counting.outstanding, outstanding);
  /* Stopping lets go of the buffer, the table and the open span's name. */
  pending = future_delay(&loop, 1000);
  ck_assert_ptr_nonnull(pending);
  outstanding = counting.outstanding;
  ck_assert_int_eq(future_trace_stop(), 0);
  ck_assert_int_eq(counting.outstanding, outstanding - 3);
  future_cancel(pending);
  future_unref(pending);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
  unlink(path);
}
END_TEST

static void temp_path(char *path, size_t size, const char *what) {
  snprintf(path, size, "/tmp/future-trace-%s-%ld.json", what, (long)getpid());
}

static long file_size(const char *path) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  return (long)st.st_size;
}

/* Events go to the file as they come, a buffer at a time: the file grows
 * while the trace records, and keeps every event. */
START_TEST(test_trace_streams_to_the_file) {
  uv_loop_t loop;
  char path[96];
  char *json;
  int i;
  temp_path(path, sizeof path, "many");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_eq(file_size(path), 0);
  for (i = 0; i < 2100; i++) /* "create" and "fulfilled" each */
    future_unref(future_resolved(&loop, INT2P(i), NULL));
  ck_assert_int_gt(file_size(path), 64 * 1024 / 2);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  ck_assert_uint_eq(count(json, "\"name\":\"create\""), 2100);
  ck_assert_uint_eq(count(json, "\"name\":\"fulfilled\""), 2100);
  ck_assert_ptr_nonnull(strstr(json, "\n]}\n"));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* When the table of futures cannot grow, events are dropped, not the
 * program: the traced calls work as usual, later events are recorded,
 * and the trace ends with the count of what was lost. The futures come
 * from the loop's pool (warmed up first), so that making them needs no
 * memory while every allocation fails. */
START_TEST(test_trace_drops_events_when_memory_runs_out) {
  enum { N = 2000 };
  static future_t *held[N];
  uv_loop_t loop;
  char path[96], line[512];
  char *json;
  future_result_t r;
  int i;
  temp_path(path, sizeof path, "enomem");
  counting_install();
  setenv("FUTURE_POOL", "1", 1); /* also under valgrind */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < N; i++)
    held[i] = future_resolved(&loop, INT2P(i), NULL);
  for (i = 0; i < N; i++)
    future_unref(held[i]);
  ck_assert_int_eq(future_trace_start(path), 0);
  counting.fail = 1;
  for (i = 0; i < N; i++) {
    held[i] = future_resolved(&loop, INT2P(i), NULL);
    ck_assert_ptr_nonnull(held[i]);
  }
  counting.fail = 0;
  for (i = 0; i < N; i++)
    future_unref(held[i]);
  ck_assert_int_eq(future_wait(future_resolved(&loop, INT2P(7), NULL), &r), 0);
  ck_assert_int_eq(P2INT(r.value), 7);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  ck_assert_uint_gt(count(json, "\"name\":\"create\""), 0);
  ck_assert_uint_lt(count(json, "\"name\":\"create\""), N);
  ck_assert_uint_eq(count(json, "\"name\":\"future_wait (blocked)\""), 1);
  ck_assert_ptr_nonnull(line_with(json, "events dropped (out of memory)",
                                  line, sizeof line));
  ck_assert_int_eq(field(line, "dropped"),
                   2 * N - (long)count(json, "\"name\":\"create\"") -
                       (long)count(json, "\"name\":\"fulfilled\"") + 2);
  ck_assert_ptr_nonnull(strstr(json, "\n]}\n"));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
  unsetenv("FUTURE_POOL");
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
}
END_TEST

/* A slice that began before recording started (a future_wait during
 * which a callback starts the trace) is clamped to the trace's start,
 * not given a time before it. */
static future_t *start_tracing(future_t *s, void *path) {
  ck_assert_int_eq(future_trace_start(path), 0);
  return future_ref(s);
}

START_TEST(test_trace_slice_begun_before_start_is_clamped) {
  uv_loop_t loop;
  char path[96];
  char *json;
  future_t *f;
  future_result_t r;
  temp_path(path, sizeof path, "clamp");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  f = future_then(future_resolved(&loop, NULL, NULL), start_tracing, NULL,
                  path);
  ck_assert_int_eq(future_wait(f, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  ck_assert_uint_eq(count(json, "\"name\":\"future_wait (blocked)\""), 1);
  ck_assert_ptr_nonnull(strstr(json, "\"name\":\"future_wait (blocked)\","
                                     "\"cat\":\"future\",\"ph\":\"X\","
                                     "\"ts\":0.000,"));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A file that opens but cannot be written to the end (a full device)
 * gives UV_EIO, and the trace is over all the same. */
START_TEST(test_trace_write_error_is_eio) {
  uv_loop_t loop;
  if (access("/dev/full", W_OK) != 0)
    return; /* Linux's always-full device: nowhere else to try this */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start("/dev/full"), 0);
  future_unref(future_resolved(&loop, NULL, NULL));
  ck_assert_int_eq(future_trace_stop(), UV_EIO);
  ck_assert_int_eq(future_trace_stop(), UV_EINVAL); /* no longer recording */
  LOOP_CLOSE(&loop);
}
END_TEST

/* FUTURE_TRACE=path in the environment starts a recording at the
 * library's first use in a process, and the process's exit writes it.
 * That needs a process in which the library has not run yet: these tests
 * run this program again (its FUTURE_TEST_FRESH mode, below) and read
 * what it printed. */
int fresh_process_main(const char *mode) {
  if (strcmp(mode, "trace-start") == 0) {
    /* The first call is a start: the environment's recording has begun. */
    printf("%d\n", future_trace_start("/dev/null"));
    return 0;
  }
  if (strcmp(mode, "trace-stop") == 0) {
    /* The first call is a stop: it writes the environment's recording. */
    printf("%d\n", future_trace_stop());
    return 0;
  }
  fprintf(stderr, "FUTURE_TEST_FRESH: unknown mode %s\n", mode);
  return 2;
}

/* Run this program in `mode` with FUTURE_TRACE=`trace`; the number it
 * printed on stdout. What it wrote on stderr goes to `err` (if not NULL). */
static int run_fresh(const char *mode, const char *trace, char *err,
                     size_t errsize) {
  char self[4096], out[64], errpath[96];
  int fds[2], status;
  ssize_t n, len = 0;
  pid_t pid;
  /* readlink first: valgrind shows the program's own path here, where
   * exec of /proc/self/exe would start valgrind's tool. */
  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ck_assert_int_gt(n, 0);
  self[n] = '\0';
  temp_path(errpath, sizeof errpath, "stderr");
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    if (err != NULL && freopen(errpath, "w", stderr) == NULL)
      _exit(126);
    setenv("FUTURE_TEST_FRESH", mode, 1);
    setenv("FUTURE_TRACE", trace, 1);
    execl(self, self, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  while (len < (ssize_t)sizeof(out) - 1 &&
         (n = read(fds[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
    len += n;
  out[len] = '\0';
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "%s: status %d", mode, status);
  ck_assert_int_gt(len, 0);
  if (err != NULL) {
    FILE *fp = fopen(errpath, "r");
    size_t got;
    ck_assert_ptr_nonnull(fp);
    got = fread(err, 1, errsize - 1, fp);
    err[got] = '\0';
    fclose(fp);
    unlink(errpath);
  }
  return atoi(out);
}

START_TEST(test_trace_from_the_environment_is_recording_at_start) {
  char path[96];
  char *json;
  temp_path(path, sizeof path, "env-start");
  ck_assert_int_eq(run_fresh("trace-start", path, NULL, 0), UV_EBUSY);
  json = slurp(path); /* written at exit */
  ck_assert_ptr_nonnull(strstr(json, "{\"displayTimeUnit\":\"ms\""));
  free(json);
  unlink(path);
}
END_TEST

START_TEST(test_trace_from_the_environment_stops_and_writes) {
  char path[96];
  char *json;
  temp_path(path, sizeof path, "env-stop");
  ck_assert_int_eq(run_fresh("trace-stop", path, NULL, 0), 0);
  json = slurp(path);
  ck_assert_ptr_nonnull(strstr(json, "{\"displayTimeUnit\":\"ms\""));
  ck_assert_ptr_nonnull(strstr(json, "\n]}\n"));
  free(json);
  unlink(path);
}
END_TEST

/* FUTURE_TRACE naming a file that cannot be opened says so, in one line
 * on stderr, and nothing records (the first stop finds no trace). */
START_TEST(test_trace_from_the_environment_bad_path_says_so) {
  char err[1024];
  ck_assert_int_eq(run_fresh("trace-stop", "/nonexistent-dir/x.json", err,
                             sizeof err),
                   UV_EINVAL);
  ck_assert_msg(strstr(err, "libfuture: FUTURE_TRACE=/nonexistent-dir/x.json: "
                            "no such file or directory (ENOENT); not "
                            "tracing\n") == err,
                "stderr: %s", err);
  ck_assert_uint_eq(count(err, "\n"), 1);
}
END_TEST

/* Requests are spans named with their arguments. */

static future_error_t *work_fn(void *arg, void **value) {
  (void)arg;
  *value = NULL;
  return NULL;
}

static future_t *flaky(uv_loop_t *loop, unsigned attempt, void *data) {
  (void)data;
  if (attempt == 1)
    return future_rejected(loop, future_error_new(UV_EAGAIN, "busy"));
  return future_resolved(loop, INT2P(attempt), NULL);
}

static future_t *one(uv_loop_t *loop, size_t index, void *data) {
  (void)data;
  return future_resolved(loop, INT2P(index), NULL);
}

static const char *span_begins(const char *json, const char *name) {
  char what[512];
  snprintf(what, sizeof what, "\"name\":\"%s\",\"cat\":\"request\",\"ph\":\"b\"",
           name);
  return strstr(json, what);
}

static const char *span_ends(const char *json, const char *name) {
  char what[512];
  snprintf(what, sizeof what, "\"name\":\"%s\",\"cat\":\"request\",\"ph\":\"e\"",
           name);
  return strstr(json, what);
}

START_TEST(test_trace_names_requests) {
  static const future_retry_policy_t policy = {3, 1, 1, 1.0, 0, NULL, NULL};
  uv_loop_t loop;
  char path[96], file[96], line[512];
  char *json;
  future_t *all[8], *f;
  future_result_t r;
  size_t n = 0;
  FILE *fp;
  temp_path(path, sizeof path, "names");
  temp_path(file, sizeof file, "names-data");
  fp = fopen(file, "w");
  ck_assert_ptr_nonnull(fp);
  fputs("hello\n", fp);
  fclose(fp);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  all[n++] = future_fs_stat(&loop, file);
  all[n++] = future_fs_read_file(&loop, file);
  all[n++] = future_timeout(future_delay(&loop, 2), 100);
  all[n++] = future_work(&loop, work_fn, NULL, NULL);
  all[n++] = future_retry(&loop, flaky, NULL, &policy);
  all[n++] = future_map(&loop, 3, 2, one, NULL);
  all[n++] = future_yield(&loop);
  f = future_all(&loop, all, n);
  ck_assert_int_eq(future_wait(f, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_fs_stat(&loop, "/nonexistent-dir/y"),
                               &r), UV_ENOENT);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  {
    char what[256];
    snprintf(what, sizeof what, "fs.stat %s", file);
    ck_assert_ptr_nonnull(span_begins(json, what));
    ck_assert_ptr_nonnull(span_ends(json, what));
    snprintf(what, sizeof what, "fs.read_file %s", file);
    ck_assert_ptr_nonnull(span_begins(json, what));
    ck_assert_ptr_nonnull(span_ends(json, what));
  }
  ck_assert_ptr_nonnull(span_begins(json, "delay 2 ms"));
  ck_assert_ptr_nonnull(span_begins(json, "timeout 100 ms"));
  ck_assert_ptr_nonnull(span_ends(json, "timeout 100 ms"));
  ck_assert_ptr_nonnull(span_begins(json, "work"));
  ck_assert_ptr_nonnull(span_begins(json, "retry (at most 3 attempts)"));
  ck_assert_ptr_nonnull(span_begins(json, "retry backoff 1 ms"));
  ck_assert_ptr_nonnull(strstr(json, "\"name\":\"retry attempt 1\",\"cat\":"
                                     "\"future\",\"ph\":\"X\""));
  ck_assert_ptr_nonnull(strstr(json, "\"name\":\"retry attempt 2\",\"cat\":"
                                     "\"future\",\"ph\":\"X\""));
  ck_assert_ptr_nonnull(span_begins(json, "map 3 (limit 2)"));
  ck_assert_ptr_nonnull(span_begins(json, "yield"));
  ck_assert_ptr_nonnull(span_begins(json, "all of 7"));
  ck_assert_ptr_nonnull(span_ends(json, "all of 7"));
  /* A request that fails: its span ends, and the rejection says why. */
  ck_assert_ptr_nonnull(span_ends(json, "fs.stat /nonexistent-dir/y"));
  ck_assert_ptr_nonnull(line_with(json, "\"name\":\"rejected\"", line,
                                  sizeof line));
  ck_assert_ptr_nonnull(strstr(json, "\"error\":\"stat '/nonexistent-dir/y'"));
  /* Every span that began ended. */
  ck_assert_uint_eq(count(json, "\"ph\":\"b\""), count(json, "\"ph\":\"e\""));
  free(json);
  unlink(path);
  unlink(file);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Names are JSON strings: quotes, backslashes and control characters
 * in a path are escaped. */
START_TEST(test_trace_escapes_names) {
  uv_loop_t loop;
  char path[96];
  char *json;
  future_result_t r;
  temp_path(path, sizeof path, "escape");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_lt(future_wait(future_fs_stat(&loop, "/no\"such\\dir\n\x01"),
                               &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  ck_assert_ptr_nonnull(span_begins(json, "fs.stat /no\\\"such\\\\dir\\u000a\\u0001"));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Steps are labelled by what they are and by the callback that ran, as
 * the macros future_then, future_catch and future_finally wrote it. */

static future_t *ok(future_t *s, void *d) {
  (void)d;
  return future_ref(s);
}

static future_t *raise_it(future_t *s, void *d) {
  (void)d;
  return future_rejected(future_loop(s), future_error_new(UV_EINVAL, "no"));
}

static future_t *recover(future_t *s, void *d) {
  (void)d;
  return future_resolved(future_loop(s), NULL, NULL);
}

static future_t *cleanup(future_t *s, void *d) {
  (void)s;
  (void)d;
  return NULL;
}

START_TEST(test_trace_labels_steps) {
  uv_loop_t loop;
  char path[96];
  char *json;
  future_result_t r;
  future_t *f;
  temp_path(path, sizeof path, "labels");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  f = future_resolved(&loop, NULL, NULL);
  f = future_then(f, ok, NULL, NULL);          /* then ok */
  f = future_then(f, ok, recover, NULL);       /* then/catch ok */
  f = future_then(f, raise_it, NULL, NULL);    /* then raise_it */
  f = future_then(f, ok, NULL, NULL);          /* skipped */
  f = future_then(f, ok, recover, NULL);       /* then/catch recover */
  f = future_then(f, raise_it, NULL, NULL);    /* then raise_it */
  f = future_then(f, NULL, recover, NULL);     /* catch recover */
  f = future_finally(f, cleanup, NULL);        /* finally cleanup */
  f = (future_then)(f, ok, NULL, NULL);        /* the function: then */
  f = future_then_named(f, ok, NULL, NULL, "step seven", NULL);
  f = future_catch(f, recover, NULL);          /* skipped */
  ck_assert_int_eq(future_wait(f, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
#define SLICE(name) "\"name\":\"" name "\",\"cat\":\"future\",\"ph\":\"X\""
  ck_assert_uint_eq(count(json, SLICE("then ok")), 1);
  ck_assert_uint_eq(count(json, SLICE("then/catch ok")), 1);
  ck_assert_uint_eq(count(json, SLICE("then raise_it")), 2);
  ck_assert_uint_eq(count(json, SLICE("then/catch recover")), 1);
  ck_assert_uint_eq(count(json, SLICE("catch recover")), 1);
  ck_assert_uint_eq(count(json, SLICE("finally cleanup")), 1);
  ck_assert_uint_eq(count(json, SLICE("then")), 1);
  ck_assert_uint_eq(count(json, SLICE("then step seven")), 1);
#undef SLICE
  ck_assert_uint_eq(count(json, "\"ph\":\"X\""), 9 + 1); /* and the wait */
  /* The creation of a step says what it is and what it will call. */
  ck_assert_ptr_nonnull(strstr(json, "\"kind\":\"then/catch\",\"callback\":"
                                     "\"ok/recover\""));
  ck_assert_ptr_nonnull(strstr(json, "\"kind\":\"catch\",\"callback\":"
                                     "\"recover\""));
  ck_assert_ptr_nonnull(strstr(json, "\"kind\":\"finally\",\"callback\":"
                                     "\"cleanup\""));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Each future has an id of its own in a trace, also when the pool gives
 * one future's memory to the next. */
START_TEST(test_trace_ids_are_unique) {
  uv_loop_t loop;
  char path[96], line[512];
  char *json;
  const char *p;
  long last = 0, n = 0;
  temp_path(path, sizeof path, "ids");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  for (int i = 0; i < 33; i++) /* the same memory, 33 times (pooled) */
    future_unref(future_resolved(&loop, INT2P(i), NULL));
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  for (p = json; (p = strstr(p, "\"name\":\"create\"")) != NULL; p++) {
    long id;
    line_with(p, "\"name\":\"create\"", line, sizeof line);
    id = field(line, "future");
    ck_assert_int_eq(id, last + 1);
    last = id;
    n++;
  }
  ck_assert_int_eq(n, 33);
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Lanes are named: the loop's thread, the pool's, and others. */

static void other_thread(void *arg) {
  (void)arg;
  future_trace_mark("from another thread");
  future_trace_begin("a span elsewhere");
  future_trace_end("a span elsewhere");
}

/* A thread that marks before it runs a loop: its lane is renamed. */
static void thread_then_loop(void *arg) {
  uv_loop_t l;
  future_result_t r;
  int *ok = arg;
  future_trace_mark("before its loop");
  *ok = uv_loop_init(&l) == 0 &&
        future_wait(future_resolved(&l, NULL, NULL), &r) == 0 &&
        future_loop_close(&l) == 0 && uv_loop_close(&l) == 0;
}

START_TEST(test_trace_names_threads) {
  uv_loop_t loop;
  uv_thread_t t;
  int ok = 0;
  long renamed;
  char path[96], line[512];
  char *json;
  future_result_t r;
  long loop_tid, pool_tid, other_tid;
  temp_path(path, sizeof path, "threads");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_eq(future_wait(future_work(&loop, work_fn, NULL, NULL), &r),
                   0);
  future_result_release(&r);
  ck_assert_int_eq(uv_thread_create(&t, other_thread, NULL), 0);
  ck_assert_int_eq(uv_thread_join(&t), 0);
  ck_assert_int_eq(uv_thread_create(&t, thread_then_loop, &ok), 0);
  ck_assert_int_eq(uv_thread_join(&t), 0);
  ck_assert(ok);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  ck_assert_ptr_nonnull(line_with(json, "\"args\":{\"name\":\"loop ", line,
                                  sizeof line));
  loop_tid = field(line, "tid");
  ck_assert_ptr_nonnull(line_with(json, "\"args\":{\"name\":\"pool ", line,
                                  sizeof line));
  pool_tid = field(line, "tid");
  ck_assert_ptr_nonnull(line_with(json, "\"args\":{\"name\":\"thread ", line,
                                  sizeof line));
  other_tid = field(line, "tid");
  ck_assert_int_gt(loop_tid, 0);
  ck_assert_int_ne(loop_tid, pool_tid);
  ck_assert_int_ne(loop_tid, other_tid);
  ck_assert_int_ne(pool_tid, other_tid);
  /* The work ran on the pool's lane, and was waited for on the loop's. */
  ck_assert_ptr_nonnull(line_with(json, "\"name\":\"work\",\"cat\":\"pool\"",
                                  line, sizeof line));
  ck_assert_int_eq(field(line, "tid"), pool_tid);
  ck_assert_ptr_nonnull(line_with(json, "\"name\":\"future_wait (blocked)\"",
                                  line, sizeof line));
  ck_assert_int_eq(field(line, "tid"), loop_tid);
  ck_assert_ptr_nonnull(line_with(json, "\"name\":\"from another thread\"",
                                  line, sizeof line));
  ck_assert_int_eq(field(line, "tid"), other_tid);
  /* The last thread was "thread N" for its mark, then "loop M". */
  ck_assert_ptr_nonnull(line_with(json, "\"name\":\"before its loop\"",
                                  line, sizeof line));
  renamed = field(line, "tid");
  ck_assert_int_ne(renamed, other_tid);
  {
    char what[96];
    snprintf(what, sizeof what, "\"ph\":\"M\",\"pid\":1,\"tid\":%ld,"
             "\"args\":{\"name\":\"loop ", renamed);
    ck_assert_ptr_nonnull(strstr(json, what));
    snprintf(what, sizeof what, "\"ph\":\"M\",\"pid\":1,\"tid\":%ld,"
             "\"args\":{\"name\":\"thread ", renamed);
    ck_assert_ptr_nonnull(strstr(json, what));
  }
  /* Each lane is named once, but for that rename. */
  ck_assert_uint_eq(count(json, "\"name\":\"thread_name\""), 5);
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The user's marks and spans: on the caller's lane, in order, nothing
 * while no trace records. */
START_TEST(test_trace_user_marks_and_spans) {
  char path[96], line[512];
  char *json;
  const char *b, *m, *e;
  long tid;
  temp_path(path, sizeof path, "user");
  future_trace_mark("before"); /* not recording: nothing */
  future_trace_begin("before");
  future_trace_end("before");
  ck_assert_int_eq(future_trace_start(path), 0);
  future_trace_begin("load config");
  future_trace_mark("config \"found\"");
  future_trace_mark(NULL); /* nothing */
  future_trace_begin(NULL);
  future_trace_end("load config");
  ck_assert_int_eq(future_trace_stop(), 0);
  future_trace_mark("after");
  json = slurp(path);
  ck_assert_uint_eq(count(json, "before"), 0);
  ck_assert_uint_eq(count(json, "after"), 0);
  b = strstr(json, "\"name\":\"load config\",\"cat\":\"user\",\"ph\":\"B\"");
  m = strstr(json, "\"name\":\"config \\\"found\\\"\",\"cat\":\"user\","
                   "\"ph\":\"i\"");
  e = strstr(json, "\"name\":\"load config\",\"cat\":\"user\",\"ph\":\"E\"");
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(e);
  ck_assert(b < m && m < e);
  ck_assert_uint_eq(count(json, "\"cat\":\"user\""), 3);
  line_with(json, "\"ph\":\"B\"", line, sizeof line);
  tid = field(line, "tid");
  ck_assert_int_gt(tid, 0);
  line_with(json, "\"ph\":\"E\"", line, sizeof line);
  ck_assert_int_eq(field(line, "tid"), tid);
  free(json);
  unlink(path);
}
END_TEST

/* Memory stays bounded however many events: 200,000 links of a chain
 * that grows as it runs (a loop written with futures), traced, take no
 * more than the trace's buffer and its table of futures beyond what they
 * take untraced. The events go to /dev/null. */
static atomic_long bytes_now, bytes_peak;

static void *sized_malloc(size_t n) {
  size_t *p = malloc(n + 16);
  long now;
  if (p == NULL)
    return NULL;
  *p = n;
  now = atomic_fetch_add(&bytes_now, (long)n) + (long)n;
  if (now > atomic_load(&bytes_peak))
    atomic_store(&bytes_peak, now);
  return (char *)p + 16;
}

static void sized_free(void *q) {
  size_t *p;
  if (q == NULL)
    return;
  p = (size_t *)((char *)q - 16);
  atomic_fetch_sub(&bytes_now, (long)*p);
  free(p);
}

static void *sized_calloc(size_t k, size_t n) {
  void *q = k != 0 && n > SIZE_MAX / k ? NULL : sized_malloc(k * n);
  if (q != NULL)
    memset(q, 0, k * n);
  return q;
}

static void *sized_realloc(void *q, size_t n) {
  void *r;
  size_t old;
  if (q == NULL)
    return sized_malloc(n);
  old = *(size_t *)((char *)q - 16);
  r = sized_malloc(n);
  if (r == NULL)
    return NULL;
  memcpy(r, q, old < n ? old : n);
  sized_free(q);
  return r;
}

typedef struct {
  uv_loop_t *loop;
  intptr_t n;
} hop_ctx_t;

static future_t *hop(future_t *settled, void *data) {
  hop_ctx_t *ctx = data;
  intptr_t v = (intptr_t)future_value(settled);
  if (v < ctx->n)
    future_unref(future_then(future_resolved(ctx->loop, (void *)(v + 1), NULL),
                             hop, NULL, ctx));
  return future_ref(settled);
}

static long peak_of_links(intptr_t n, const char *trace) {
  uv_loop_t loop;
  hop_ctx_t ctx = {&loop, n};
  ck_assert_int_eq(future_set_allocator(sized_malloc, sized_realloc,
                                        sized_calloc, sized_free),
                   0);
  atomic_store(&bytes_now, 0);
  atomic_store(&bytes_peak, 0);
  if (trace != NULL)
    ck_assert_int_eq(future_trace_start(trace), 0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  future_unref(future_then(future_resolved(&loop, NULL, NULL), hop, NULL,
                           &ctx));
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  if (trace != NULL)
    ck_assert_int_eq(future_trace_stop(), 0);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(atomic_load(&bytes_now), 0);
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free), 0);
  return atomic_load(&bytes_peak);
}

/* With the loop's pool of futures (which recycles their addresses), and
 * without it (as under valgrind and ASan: malloc and free for each, and
 * the trace lets go of a freed future's entry). */
static void memory_is_bounded(const char *pool) {
  long small, big;
  setenv("FUTURE_POOL", pool, 1);
  small = peak_of_links(20000, "/dev/null") - peak_of_links(20000, NULL);
  big = peak_of_links(200000, "/dev/null") - peak_of_links(200000, NULL);
  unsetenv("FUTURE_POOL");
  /* 64 KiB of buffer and a table of the futures alive (32 KiB here; more
   * in a debug build, which holds freed futures back from reuse): what
   * tracing adds does not grow with the links. */
  ck_assert_msg(big - small <= 32 * 1024 && big <= 1024 * 1024,
                "traced links took %ld bytes more than untraced for 20,000 "
                "links, %ld for 200,000 (FUTURE_POOL=%s)",
                small, big, pool);
}

START_TEST(test_trace_memory_is_bounded) {
  memory_is_bounded("1");
  memory_is_bounded("0");
}
END_TEST

/* Every event of a future in the trace at `path` carries the id its
 * creation gave it: no event names a future never created, no future is
 * created twice. Returns the number of events about futures. */
static long check_ids(const char *path) {
  static unsigned char created[1 << 16];
  char *json, *line, *next;
  long events = 0;
  memset(created, 0, sizeof created);
  json = slurp(path);
  for (line = json; line != NULL && *line != '\0'; line = next) {
    long id;
    next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    id = field(line, "future");
    if (id <= 0)
      continue;
    ck_assert_int_lt(id, (long)sizeof created);
    if (strstr(line, "\"name\":\"create\"") != NULL) {
      ck_assert_msg(!created[id], "future %ld created twice", id);
      created[id] = 1;
    } else {
      ck_assert_msg(created[id], "an event of future %ld, never created: %s",
                    id, line);
    }
    events++;
  }
  free(json);
  unlink(path);
  return events;
}

/* Without the pool, futures come and go at addresses malloc chooses, and
 * leave the table as they go; the ids stay right: along a chain that grows
 * as it runs, and among many futures alive at once, every other one freed
 * before the rest settle. */
START_TEST(test_trace_ids_survive_freeing) {
  enum { LINKS = 3000, MANY = 1500 };
  static future_t *held[MANY];
  uv_loop_t loop;
  char path[96];
  temp_path(path, sizeof path, "forget");
  setenv("FUTURE_POOL", "0", 1);
  ck_assert_int_gt(peak_of_links(LINKS, path), 0);
  ck_assert_int_gt(check_ids(path), 3 * LINKS);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  for (int i = 0; i < MANY; i++)
    held[i] = future_new(&loop);
  for (int i = 1; i < MANY; i += 2)
    future_unref(held[i]);
  for (int i = 0; i < MANY; i += 2) {
    ck_assert_int_eq(future_resolve(held[i], INT2P(i), NULL), 0);
    future_unref(held[i]);
  }
  ck_assert_int_eq(future_trace_stop(), 0);
  unsetenv("FUTURE_POOL");
  ck_assert_int_eq(check_ids(path), MANY + MANY / 2);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_trace_suite(void) {
  Suite *s = suite_create("trace");
  TCase *core = tcase_create("Core");
  tcase_add_test(core, test_trace_records_chain_wait_and_requests);
  tcase_add_test(core, test_trace_bad_arguments);
  tcase_add_test(core, test_trace_allocates_through_the_hook);
  tcase_add_test(core, test_trace_streams_to_the_file);
  tcase_add_test(core, test_trace_drops_events_when_memory_runs_out);
  tcase_add_test(core, test_trace_slice_begun_before_start_is_clamped);
  tcase_add_test(core, test_trace_write_error_is_eio);
  tcase_add_test(core, test_trace_from_the_environment_is_recording_at_start);
  tcase_add_test(core, test_trace_from_the_environment_stops_and_writes);
  tcase_add_test(core, test_trace_from_the_environment_bad_path_says_so);
  tcase_add_test(core, test_trace_names_requests);
  tcase_add_test(core, test_trace_escapes_names);
  tcase_add_test(core, test_trace_labels_steps);
  tcase_add_test(core, test_trace_ids_are_unique);
  tcase_add_test(core, test_trace_names_threads);
  tcase_add_test(core, test_trace_user_marks_and_spans);
  tcase_add_test(core, test_trace_memory_is_bounded);
  tcase_add_test(core, test_trace_ids_survive_freeing);
  suite_add_tcase(s, core);
  /* 200,000 traced links take a while under valgrind */
  tcase_set_timeout(core, 60);
  return s;
}
