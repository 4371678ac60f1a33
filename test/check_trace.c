/* Tracing to Chrome trace-event JSON (src/trace.c). */
#include "helpers.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

START_TEST(test_trace_records_chain_wait_and_requests) {
  uv_loop_t loop;
  char path[64];
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
  ck_assert_uint_eq(count(json, "\"name\":\"then\",\"cat\":\"future\",\"ph\":\"X\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"request\",\"cat\":\"future\",\"ph\":\"b\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"request\",\"cat\":\"future\",\"ph\":\"e\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"future_wait (blocked)\""), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"catch\""), 0); /* skipped */
  /* An async slice's begin and end carry the id that pairs them (the
   * viewer matches "b" with "e" by it), and only they do. */
  ck_assert_uint_eq(count(json, "\"id\":"), 2);
  {
    const char *b = strstr(json, "\"ph\":\"b\"");
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(strstr(b, "\"id\":"));
    ck_assert(strstr(b, "\"id\":") < strchr(b, '}'));
  }
  ck_assert_ptr_nonnull(strstr(json, "\n]}\n"));
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_trace_bad_arguments) {
  ck_assert_int_eq(future_trace_start(NULL), UV_EINVAL);
  ck_assert_int_eq(future_trace_start(""), UV_EINVAL);
  ck_assert_int_eq(future_trace_stop(), UV_EINVAL);
  ck_assert_int_eq(future_trace_start("/nonexistent-dir/x.json"), 0);
  ck_assert_int_eq(future_trace_stop(), UV_EIO);
}
END_TEST

/* Tracing allocates through the allocator hook like the rest of the
 * library: the path's copy and the buffer of events are seen, and are
 * all freed by future_trace_stop; an allocator that fails makes
 * future_trace_start fail with UV_ENOMEM; and the allocator cannot be
 * swapped while a trace is recording. */
START_TEST(test_trace_allocates_through_the_hook) {
  char path[] = "/tmp/future-trace-XXXXXX";
  int fd = mkstemp(path);
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_ge(fd, 0);
  close(fd);
  counting_install();
  counting.fail = 1;
  ck_assert_int_eq(future_trace_start(path), UV_ENOMEM);
  counting.fail = 0;
  ck_assert_int_eq(counting.outstanding, 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  ck_assert_int_eq(counting.outstanding, 1); /* the path's copy */
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free),
                   UV_EBUSY);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_resolved(&loop, NULL, NULL), &r), 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(counting.outstanding, 2); /* and the events */
  ck_assert_int_eq(future_trace_stop(), 0);
  ck_assert_int_eq(counting.outstanding, 0);
  counting_restore();
  unlink(path);
}
END_TEST

static void temp_path(char *path, size_t size, const char *what) {
  snprintf(path, size, "/tmp/future-trace-%s-%ld.json", what, (long)getpid());
}

/* The buffer of events starts at 4096 and grows: a trace with more
 * events than that keeps them all. */
START_TEST(test_trace_keeps_more_events_than_the_first_buffer) {
  uv_loop_t loop;
  char path[96];
  char *json;
  int i;
  temp_path(path, sizeof path, "many");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_trace_start(path), 0);
  for (i = 0; i < 2100; i++) /* "create" and "fulfilled" each */
    future_unref(future_resolved(&loop, INT2P(i), NULL));
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

/* When the buffer cannot grow, the event is dropped, not the program:
 * the traced call works as usual, and later events are recorded. */
START_TEST(test_trace_drops_an_event_when_memory_runs_out) {
  uv_loop_t loop;
  char path[96];
  char *json;
  future_t *a, *b;
  future_result_t r;
  temp_path(path, sizeof path, "enomem");
  counting_install();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = future_resolved(&loop, INT2P(1), NULL);
  b = future_resolved(&loop, INT2P(2), NULL);
  ck_assert_int_eq(future_trace_start(path), 0);
  counting.fail = 1; /* the first event needs the buffer */
  ck_assert_int_eq(future_wait(a, &r), 0);
  ck_assert_int_eq(P2INT(r.value), 1);
  future_result_release(&r);
  counting.fail = 0;
  ck_assert_int_eq(future_wait(b, &r), 0);
  future_result_release(&r);
  ck_assert_int_eq(future_trace_stop(), 0);
  json = slurp(path);
  ck_assert_uint_eq(count(json, "\"name\":"), 1);
  ck_assert_uint_eq(count(json, "\"name\":\"future_wait (blocked)\""), 1);
  free(json);
  unlink(path);
  LOOP_CLOSE(&loop);
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

/* Run this program in `mode` with FUTURE_TRACE=`trace`; its stdout. */
static int run_fresh(const char *mode, const char *trace) {
  char self[4096], out[64];
  int fds[2], status;
  ssize_t n, len = 0;
  pid_t pid;
  /* readlink first: valgrind shows the program's own path here, where
   * exec of /proc/self/exe would start valgrind's tool. */
  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ck_assert_int_gt(n, 0);
  self[n] = '\0';
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
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
  return atoi(out);
}

START_TEST(test_trace_from_the_environment_is_recording_at_start) {
  char path[96];
  char *json;
  temp_path(path, sizeof path, "env-start");
  ck_assert_int_eq(run_fresh("trace-start", path), UV_EBUSY);
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
  ck_assert_int_eq(run_fresh("trace-stop", path), 0);
  json = slurp(path);
  ck_assert_ptr_nonnull(strstr(json, "{\"displayTimeUnit\":\"ms\""));
  ck_assert_ptr_nonnull(strstr(json, "\n]}\n"));
  free(json);
  unlink(path);
}
END_TEST

Suite *make_trace_suite(void) {
  Suite *s = suite_create("trace");
  TCase *core = tcase_create("Core");
  tcase_add_test(core, test_trace_records_chain_wait_and_requests);
  tcase_add_test(core, test_trace_bad_arguments);
  tcase_add_test(core, test_trace_allocates_through_the_hook);
  tcase_add_test(core, test_trace_keeps_more_events_than_the_first_buffer);
  tcase_add_test(core, test_trace_drops_an_event_when_memory_runs_out);
  tcase_add_test(core, test_trace_slice_begun_before_start_is_clamped);
  tcase_add_test(core, test_trace_write_error_is_eio);
  tcase_add_test(core, test_trace_from_the_environment_is_recording_at_start);
  tcase_add_test(core, test_trace_from_the_environment_stops_and_writes);
  suite_add_tcase(s, core);
  return s;
}
