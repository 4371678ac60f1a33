/* The whole-file helpers (src/fs_file.c): read_file, write_file,
 * append_file and truncate, their cancellation midway, and scale. Each
 * test works in a temporary directory of its own under /tmp
 * (fs_helpers.h). */
#define _GNU_SOURCE
#include "fs_helpers.h"
#include "suites.h"

/* Whole files. */

START_TEST(test_fs_write_read_append_truncate) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  wait_done(future_fs_write_file(&loop, tp("f"), "first", 5, NULL));
  buf = expect_ok(future_fs_read_file(&loop, tp("f")), &r);
  ck_assert_uint_eq(buf->len, 5);
  ck_assert_str_eq(buf->base, "first");
  future_result_release(&r);

  /* Replaced, not merged. */
  wait_done(future_fs_write_file(&loop, tp("f"), "2nd", 3, NULL));
  wait_done(future_fs_append_file(&loop, tp("f"), "+more", 5, NULL));
  wait_done(future_fs_append_file(&loop, tp("new"), "created", 7, NULL));
  buf = expect_ok(future_fs_read_file(&loop, tp("f")), &r);
  ck_assert_str_eq(buf->base, "2nd+more");
  future_result_release(&r);
  buf = expect_ok(future_fs_read_file(&loop, tp("new")), &r);
  ck_assert_str_eq(buf->base, "created");
  future_result_release(&r);

  wait_done(future_fs_truncate(&loop, tp("f"), 2));
  buf = expect_ok(future_fs_read_file(&loop, tp("f")), &r);
  ck_assert_uint_eq(buf->len, 2);
  ck_assert_str_eq(buf->base, "2n");
  future_result_release(&r);

  /* Empty files both ways. */
  wait_done(future_fs_write_file(&loop, tp("f"), NULL, 0, NULL));
  buf = expect_ok(future_fs_read_file(&loop, tp("f")), &r);
  ck_assert_uint_eq(buf->len, 0);
  ck_assert_str_eq(buf->base, "");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A byte pattern that differs at every offset of a large file. */
static unsigned char pattern(size_t i) {
  return (unsigned char)((i * 2654435761u) >> 13 ^ (i >> 20));
}

START_TEST(test_fs_read_file_64mib) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  const size_t n = ((size_t)64 << 20) + 4099; /* not a multiple of anything */
  unsigned char *data = malloc(n);
  size_t i;
  int fds;
  ck_assert_ptr_nonnull(data);
  for (i = 0; i < n; i++)
    data[i] = pattern(i);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = fd_count();
  dtor_calls = 0;
  wait_done(future_fs_write_file(&loop, tp("big"), data, n, count_free));
  ck_assert_int_eq(dtor_calls, 1); /* the data went with the request */
  buf = expect_ok(future_fs_read_file(&loop, tp("big")), &r);
  ck_assert_uint_eq(buf->len, n);
  for (i = 0; i < n; i++)
    if ((unsigned char)buf->base[i] != pattern(i))
      ck_abort_msg("byte %zu differs", i);
  ck_assert_int_eq(buf->base[n], '\0');
  future_result_release(&r);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A FIFO has no size and gives short reads: read_file must grow its
 * buffer and read until the writer closes. */
#define FIFO_BYTES (300 * 1000)
static void fifo_writer(void *arg) {
  const char *path = arg;
  char chunk[1000];
  int fd = open(path, O_WRONLY), i;
  if (fd < 0)
    return;
  for (i = 0; i < FIFO_BYTES / 1000; i++) {
    memset(chunk, 'a' + i % 26, sizeof(chunk));
    if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
      break;
  }
  close(fd);
}

START_TEST(test_fs_read_file_fifo_short_reads) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  uv_thread_t tid;
  static char path[4096];
  size_t i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  strcpy(path, tp("fifo"));
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  ck_assert_int_eq(uv_thread_create(&tid, fifo_writer, path), 0);
  buf = expect_ok(future_fs_read_file(&loop, path), &r);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_uint_eq(buf->len, FIFO_BYTES);
  for (i = 0; i < FIFO_BYTES; i++)
    if (buf->base[i] != 'a' + (char)(i / 1000 % 26))
      ck_abort_msg("byte %zu differs", i);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_read_file_proc) {
  /* /proc files say they are empty; their content is not. */
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  buf = expect_ok(future_fs_read_file(&loop, "/proc/self/status"), &r);
  ck_assert_uint_gt(buf->len, 0);
  ck_assert_ptr_nonnull(strstr(buf->base, "Name:"));
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST


/* A reader of a FIFO or a pipe on a thread of its own: reads until the
 * end of the file or `want` bytes, and checks them against pattern(). */
typedef struct {
  const char *path; /* a FIFO to open, or NULL to read `fd` */
  int fd;
  size_t want;
  size_t got;
  int bad; /* bytes that differ from the pattern */
} reader_t;

static void reader_run(void *arg) {
  reader_t *rd = arg;
  char b[8192];
  int fd = rd->path != NULL ? open(rd->path, O_RDONLY) : rd->fd;
  if (fd < 0)
    return;
  while (rd->got < rd->want) {
    size_t room = rd->want - rd->got < sizeof(b) ? rd->want - rd->got
                                                 : sizeof(b);
    ssize_t n = read(fd, b, room), i;
    if (n <= 0)
      break;
    for (i = 0; i < n; i++)
      rd->bad += (unsigned char)b[i] != pattern(rd->got + (size_t)i);
    rd->got += (size_t)n;
  }
  if (rd->path != NULL) {
    /* To the end: nothing more may come. */
    while (read(fd, b, sizeof(b)) > 0)
      rd->bad++;
    close(fd);
  }
}

static char *pattern_block(size_t n) {
  char *data = malloc(n);
  size_t i;
  ck_assert_ptr_nonnull(data);
  for (i = 0; i < n; i++)
    data[i] = (char)pattern(i);
  return data;
}

/* A FIFO has no positions: write_file writes at the descriptor's position,
 * as Node's writeFile does, and so does append_file. */
START_TEST(test_fs_write_file_fifo) {
  uv_loop_t loop;
  uv_thread_t tid;
  reader_t rd;
  const size_t n = 300 * 1000; /* several times a pipe's buffer */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkfifo(tp("fifo"), 0600), 0);
  memset(&rd, 0, sizeof(rd));
  rd.path = tp("fifo");
  rd.want = n;
  ck_assert_int_eq(uv_thread_create(&tid, reader_run, &rd), 0);
  wait_done(future_fs_write_file(&loop, rd.path, pattern_block(n), n, free));
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_uint_eq(rd.got, n);
  ck_assert_int_eq(rd.bad, 0);

  memset(&rd, 0, sizeof(rd));
  rd.path = tp("fifo");
  rd.want = n;
  ck_assert_int_eq(uv_thread_create(&tid, reader_run, &rd), 0);
  wait_done(future_fs_append_file(&loop, rd.path, pattern_block(n), n, free));
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_uint_eq(rd.got, n);
  ck_assert_int_eq(rd.bad, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A pipe, by its name in /proc/self/fd (as /dev/stdout is when the output
 * is piped). */
START_TEST(test_fs_write_file_pipe) {
  uv_loop_t loop;
  uv_thread_t tid;
  reader_t rd;
  char name[64];
  int p[2];
  const size_t n = 200 * 1000;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(pipe(p), 0);
  memset(&rd, 0, sizeof(rd));
  rd.fd = p[0];
  rd.want = n;
  ck_assert_int_eq(uv_thread_create(&tid, reader_run, &rd), 0);
  snprintf(name, sizeof(name), "/proc/self/fd/%d", p[1]);
  wait_done(future_fs_write_file(&loop, name, pattern_block(n), n, free));
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_uint_eq(rd.got, n);
  ck_assert_int_eq(rd.bad, 0);
  close(p[0]);
  close(p[1]);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Out of memory: every helper, every allocation (fs_helpers.h). */

static void prep_file(void) { put_file(tp("f"), "some content"); }
static void post_file(void) { unlink(tp("f")); }

static future_t *c_read_file(uv_loop_t *l) {
  return future_fs_read_file(l, tp("f"));
}
/* Not a regular file: the loop reads it (/proc says its size is 0). */
static future_t *c_read_proc(uv_loop_t *l) {
  return future_fs_read_file(l, "/proc/self/stat");
}
static future_t *c_write_file(uv_loop_t *l) {
  return future_fs_write_file(l, tp("f"), strdup("new content"), 11, free);
}
static future_t *c_append_file(uv_loop_t *l) {
  return future_fs_append_file(l, tp("f"), strdup("+more"), 5, free);
}
static future_t *c_truncate(uv_loop_t *l) {
  return future_fs_truncate(l, tp("f"), 4);
}

static const fs_op_t file_ops[] = {
    {"read_file", prep_file, c_read_file, NULL, post_file},
    {"read_file /proc", NULL, c_read_proc, NULL, NULL},
    {"write_file", NULL, c_write_file, NULL, post_file},
    {"append_file", prep_file, c_append_file, NULL, post_file},
    {"truncate", prep_file, c_truncate, NULL, post_file},
};

START_TEST(test_fs_file_out_of_memory_everywhere) {
  sweep_ops(file_ops, sizeof(file_ops) / sizeof(file_ops[0]));
}
END_TEST

/* Cancel. */

/* Wait, without running the loop, until the process has `n` descriptors
 * open (a job on the pool has opened its file and is still at work), or
 * the future's job is over: on a loaded machine this thread may be off
 * its core for the whole job. Either way the cancel that follows must
 * leave nothing open and deliver nothing; whether it came while the job
 * ran is returned (1), for the tests to count when they can. */
static int await_fds(int n) {
  int i;
  for (i = 0; i < 200000; i++)
    if (fd_count() == n)
      return 1;
  return 0;
}

/* Cancelled while its job reads (a large regular file, read in chunks of
 * FS_CHUNK): the job sees the cancel between two reads, or finishes; it
 * closes the file either way, the buffer is freed, nothing delivered. */
START_TEST(test_fs_cancel_read_file_midway) {
  uv_loop_t loop;
  future_t *f, *watch;
  const size_t n = (size_t)24 << 20;
  int delivered = 0, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  wait_done(future_fs_write_file(&loop, tp("big"), calloc(1, n), n, free));
  fds = fd_count();
  f = future_fs_read_file(&loop, tp("big"));
  watch = future_then(f, count_delivery, NULL, &delivered);
  /* The job runs without the loop: wait until the file is open. */
  (void)await_fds(fds + 1);
  /* Cancelling the continuation reaches the read_file under it. */
  ck_assert_int_eq(future_cancel(watch), 0);
  expect_err(watch, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(delivered, 0);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while its job waits in the pool's queue (behind sleepers): the
 * job never runs, nothing is opened, the future rejects at once. */
START_TEST(test_fs_cancel_read_file_queued) {
  uv_loop_t loop;
  future_t *f, *watch;
  int delivered = 0, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "some content");
  fds = fd_count();
  block_pool(&loop);
  f = future_fs_read_file(&loop, tp("f"));
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  expect_err(watch, UV_ECANCELED, NULL);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(fd_count(), fds);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sleepers_done, pool_size());
  ck_assert_int_eq(delivered, 0);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The FIFO at `path` opened for writing, once a reader (the job) has it
 * open: a non-blocking open for writing fails until then. */
static int open_fifo_writer(const char *path) {
  int wfd = -1, i;
  for (i = 0; i < 5000 && wfd < 0; i++) {
    wfd = open(path, O_WRONLY | O_NONBLOCK);
    if (wfd < 0)
      uv_sleep(1);
  }
  ck_assert_int_ge(wfd, 0);
  return wfd;
}

/* A FIFO: the job's open waits for a writer. Cancelled while the job runs
 * (the writer is there, so the open returns): whether the job has handed
 * the descriptor to the loop or not, it is closed and nothing delivered. */
START_TEST(test_fs_cancel_read_file_fifo_running) {
  uv_loop_t loop;
  future_t *f;
  static char path[4096];
  int fds, wfd;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  strcpy(path, tp("fifo"));
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  fds = fd_count();
  f = future_fs_read_file(&loop, path);
  wfd = open_fifo_writer(path); /* the job is running, inside its open */
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(future_ref(f), UV_ECANCELED, NULL);
  ck_assert_int_eq(write(wfd, "x", 1), 1);
  close(wfd);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A FIFO with a writer that writes nothing yet: the job hands the
 * descriptor to the loop, whose uv_fs_read waits. Cancelled there: once
 * the read returns, the descriptor is closed and nothing delivered. */
START_TEST(test_fs_cancel_read_file_fifo_reading) {
  uv_loop_t loop;
  future_t *f;
  static char path[4096];
  int fds, wfd = -1, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  strcpy(path, tp("fifo"));
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  fds = fd_count();
  f = future_fs_read_file(&loop, path);
  wfd = open_fifo_writer(path);
  /* Let the job's end reach the loop, which starts the read. */
  for (i = 0; i < 50; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
  }
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(fd_count(), fds + 2);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(write(wfd, "x", 1), 1);
  close(wfd);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while its job writes: the job stops between two writes (or
 * finishes), closes the file; the data is released only once the job is
 * over. */
START_TEST(test_fs_cancel_write_file_midway) {
  uv_loop_t loop;
  future_t *f;
  const size_t n = (size_t)24 << 20;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = fd_count();
  dtor_calls = 0;
  f = future_fs_write_file(&loop, tp("big"), calloc(1, n), n, count_free);
  (void)await_fds(fds + 1);
  ck_assert_int_eq(future_cancel(f), 0);
  /* The job may still be using the buffer: not freed yet. */
  ck_assert_int_eq(dtor_calls, 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while queued: write_file never opens (so never creates) the
 * file, and releases the data. */
START_TEST(test_fs_cancel_write_file_queued) {
  uv_loop_t loop;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  dtor_calls = 0;
  block_pool(&loop);
  f = future_fs_append_file(&loop, tp("new"), strdup("data"), 4, count_free);
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(future_ref(f), UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sleepers_done, pool_size());
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert(!exists(tp("new")));
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The usual end of a libuv program while the jobs are in flight (and one
 * read of a FIFO from the loop): a uv_walk that closes every handle,
 * before future_loop_close (with a loop run between or not) or after it.
 * The jobs finish, their files are closed, nothing is left. */
START_TEST(test_fs_file_jobs_teardown_with_walk) {
  uv_loop_t warm;
  int how;
  /* What libuv opens once per process (the pool, its signal pipe) is
   * opened now, not counted as left behind. */
  ck_assert_int_eq(uv_loop_init(&warm), 0);
  wait_done(future_fs_write_file(&warm, tp("w"), "x", 1, NULL));
  LOOP_CLOSE(&warm);
  for (how = 0; how < 3; how++) {
    uv_loop_t loop;
    static char path[4096];
    int fds = fd_count(), wfd = -1, i;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    put_file(tp("f"), "some content");
    strcpy(path, tp("fifo%d", how));
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    future_unref(future_fs_read_file(&loop, tp("f")));
    future_unref(future_fs_scandir_stat(&loop, root));
    future_unref(
        future_fs_write_file(&loop, tp("w"), strdup("data"), 4, free));
    future_unref(future_fs_read_file(&loop, path));
    for (i = 0; i < 5000 && wfd < 0; i++) {
      wfd = open(path, O_WRONLY | O_NONBLOCK);
      if (wfd < 0)
        uv_sleep(1);
    }
    ck_assert_int_ge(wfd, 0);
    ck_assert_int_eq(write(wfd, "x", 1), 1);
    close(wfd); /* the FIFO's reads end */
    teardown_with_walk(&loop, how);
    ck_assert_int_eq(fd_count(), fds);
    unlink(path);
  }
}
END_TEST

/* Scale. */

#define MANY 10000

static void fill_4k(char *b, int i) {
  memset(b, 'a' + i % 26, 4096);
  snprintf(b, 32, "file %05d", i);
}

START_TEST(test_fs_scale_10000_files) {
  uv_loop_t loop;
  future_t **fs = malloc(MANY * sizeof(*fs));
  future_result_t r;
  char expect[4096];
  int i, fds;
  raise_nofile();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = fd_count();
  for (i = 0; i < MANY; i++) {
    char *b = malloc(4096);
    fill_4k(b, i);
    fs[i] = future_fs_write_file(&loop, tp("%05d", i), b, 4096, free);
    ck_assert_ptr_nonnull(fs[i]);
  }
  for (i = 0; i < MANY; i++)
    wait_done(fs[i]);
  ck_assert_int_eq(dir_entries(root), MANY);
  for (i = 0; i < MANY; i++)
    fs[i] = future_fs_read_file(&loop, tp("%05d", i));
  for (i = 0; i < MANY; i++) {
    future_buf_t *buf = expect_ok(fs[i], &r);
    fill_4k(expect, i);
    ck_assert_uint_eq(buf->len, 4096);
    ck_assert_int_eq(memcmp(buf->base, expect, 4096), 0);
    future_result_release(&r);
  }
  ck_assert_int_eq(fd_count(), fds);
  free(fs);
  LOOP_CLOSE(&loop);
}
END_TEST


Suite *make_fs_file_suite(void) {
  Suite *s = suite_create("fs_file");
  TCase *whole = tcase_create("Whole");
  TCase *cancel = tcase_create("Cancel");
  TCase *scale = tcase_create("Scale");
  TCase *memory = tcase_create("Memory");
  TCase *all[] = {whole, cancel, scale, memory};
  size_t i;
  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    tcase_add_checked_fixture(all[i], setup, teardown);

  tcase_set_timeout(whole, 120);
  tcase_add_test(whole, test_fs_write_read_append_truncate);
  tcase_add_test(whole, test_fs_read_file_64mib);
  tcase_add_test(whole, test_fs_read_file_fifo_short_reads);
  tcase_add_test(whole, test_fs_read_file_proc);
  tcase_add_test(whole, test_fs_write_file_fifo);
  tcase_add_test(whole, test_fs_write_file_pipe);

  tcase_set_timeout(cancel, 60);
  tcase_add_test(cancel, test_fs_cancel_read_file_midway);
  tcase_add_test(cancel, test_fs_cancel_read_file_queued);
  tcase_add_test(cancel, test_fs_cancel_read_file_fifo_running);
  tcase_add_test(cancel, test_fs_cancel_read_file_fifo_reading);
  tcase_add_test(cancel, test_fs_cancel_write_file_midway);
  tcase_add_test(cancel, test_fs_cancel_write_file_queued);
  tcase_add_test(cancel, test_fs_file_jobs_teardown_with_walk);

  tcase_set_timeout(scale, 300);
  tcase_add_test(scale, test_fs_scale_10000_files);

  suite_add_tcase(s, whole);
  suite_add_tcase(s, cancel);
  tcase_add_test(memory, test_fs_file_out_of_memory_everywhere);

  suite_add_tcase(s, scale);
  suite_add_tcase(s, memory);
  return s;
}
