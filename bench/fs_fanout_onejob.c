/*
 * fs_fanout, tightest hand-written libuv: the honest floor for libfuture's
 * fs_fanout.
 *
 * What an expert would write by hand to read many small files with libuv:
 * one uv_queue_work job per file, which makes the four system calls on the
 * thread pool in one go (open, fstat for the size, read until that many
 * bytes have arrived or a read returns 0, close), then one callback on the
 * loop when the file is in. That is one trip through the thread pool per
 * file, where uv_fs_open, uv_fs_fstat, uv_fs_read and uv_fs_close make
 * four (a job queued, a pool thread woken, a completion posted back
 * through the loop's async handle, a callback, each time). All n files are
 * started at once; every buffer is kept until all files are read (as
 * future_all and Promise.all keep them), then checked (4096 bytes each)
 * and freed.
 *
 * fs_fanout_raw, the callback-style reference, makes the four requests
 * one after the other with uv_fs_*, as Node's readFile does and as
 * libfuture's future_fs_read_file does.
 *
 * bench/loops_tight.c includes this file (bench_run and main renamed)
 * to run the same code on several loops at once.
 *
 * Usage: fs_fanout_onejob [n [dir]]   (default n 10000; without dir, the
 * program makes the files in a temporary directory and removes them)
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

typedef struct {
  uv_work_t req;
  const char *path;
  char *buf;
  size_t len;
  int err;          /* errno of the call that failed, or 0 */
  const char *what; /* that call */
  size_t *done;
} job_t;

/* On a pool thread: the whole file into job->buf. */
static void read_whole(uv_work_t *req) {
  job_t *job = req->data;
  struct stat st;
  size_t cap;
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    job->err = errno;
    job->what = "open";
    return;
  }
  if (fstat(fd, &st) != 0) {
    job->err = errno;
    job->what = "fstat";
    close(fd);
    return;
  }
  cap = st.st_size > 0 ? (size_t)st.st_size : 4096;
  job->buf = malloc(cap);
  if (job->buf == NULL) {
    job->err = ENOMEM;
    job->what = "malloc";
    close(fd);
    return;
  }
  for (;;) {
    ssize_t got;
    if (job->len == cap) {
      char *grown;
      if (st.st_size > 0)
        break; /* the size fstat gave is in */
      grown = realloc(job->buf, cap * 2);
      if (grown == NULL) {
        job->err = ENOMEM;
        job->what = "realloc";
        break;
      }
      job->buf = grown;
      cap *= 2;
    }
    got = pread(fd, job->buf + job->len, cap - job->len, (off_t)job->len);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      job->err = errno;
      job->what = "read";
      break;
    }
    if (got == 0)
      break;
    job->len += (size_t)got;
  }
  if (close(fd) != 0 && job->err == 0) {
    job->err = errno;
    job->what = "close";
  }
}

/* On the loop. */
static void read_done(uv_work_t *req, int status) {
  job_t *job = req->data;
  BENCH_CHECK(status == 0, "uv_queue_work: %s", uv_strerror(status));
  BENCH_CHECK(job->err == 0, "%s '%s': %s", job->what, job->path,
              strerror(job->err));
  (*job->done)++;
}

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, char **paths,
                                           size_t n) {
  job_t *jobs = calloc(n, sizeof(*jobs));
  size_t i, done = 0, ok = 0;

  BENCH_CHECK(jobs != NULL, "calloc");
  for (i = 0; i < n; i++) {
    jobs[i].req.data = &jobs[i];
    jobs[i].path = paths[i];
    jobs[i].done = &done;
    BENCH_CHECK(uv_queue_work(loop, &jobs[i].req, read_whole, read_done) == 0,
                "uv_queue_work");
  }
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(done == n, "%zu of %zu files done", done, n);
  for (i = 0; i < n; i++) {
    if (jobs[i].len == BENCH_FILE_SIZE)
      ok++;
    else
      fprintf(stderr, "%s: %zu bytes\n", paths[i], jobs[i].len);
    free(jobs[i].buf);
  }
  free(jobs);
  return ok;
}

int main(int argc, char **argv) {
  bench_result_t r = {"fs_fanout", "tight", 0, 0, 0, 0, 0, 0};
  const char *dir_arg = bench_arg_dir(argc, argv);
  char *own_dir = NULL;
  char **paths;
  uv_loop_t loop;
  double w0, c0;
  size_t ok;

  r.n = bench_arg_n(argc, argv, 10000);
  if (dir_arg == NULL)
    dir_arg = own_dir = bench_fs_make(r.n);
  paths = bench_fs_paths(dir_arg, r.n);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  ok = bench_run(&loop, paths, r.n);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.created_kib = bench_maxrss_kib();

  BENCH_CHECK(ok == r.n, "%zu of %zu files read with %d bytes", ok, r.n,
              BENCH_FILE_SIZE);
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_fs_paths_free(paths, r.n);
  if (own_dir != NULL)
    bench_fs_remove(own_dir, r.n);
  bench_print(&r);
  return 0;
}
