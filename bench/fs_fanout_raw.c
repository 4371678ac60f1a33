/*
 * fs_fanout, raw libuv: the floor for libfuture's fs_fanout.
 *
 * Each file is read the way a hand-written libuv program reads a whole
 * file, with one uv_fs_t per file reused from step to step: open, fstat
 * for the size, read until that many bytes have arrived (or a read returns
 * 0), close; the same four requests per file as Node's fs.promises
 * readFile. All n files are started at once; every buffer is kept until
 * all files are read (as future_all and Promise.all keep them), then
 * checked (4096 bytes each) and freed.
 *
 * Usage: fs_fanout_raw [n [dir]]   (default n 10000; without dir, the
 * program makes the files in a temporary directory and removes them)
 */
#include "bench.h"

#include <fcntl.h>

typedef struct {
  uv_fs_t req;
  uv_file fd;
  char *buf;
  size_t size;  /* from fstat; 0 if unknown */
  size_t cap;
  size_t len;
  size_t *done;
} job_t;

static void on_close(uv_fs_t *req);
static void on_read(uv_fs_t *req);

static void fail(uv_fs_t *req, const char *what) {
  BENCH_CHECK(0, "%s '%s': %s", what, req->path ? req->path : "?",
              uv_strerror((int)req->result));
}

static void start_read(job_t *job) {
  uv_buf_t b;
  if (job->len == job->cap) {
    job->cap = job->cap ? job->cap * 2 : 4096;
    job->buf = realloc(job->buf, job->cap);
    BENCH_CHECK(job->buf != NULL, "realloc");
  }
  b = uv_buf_init(job->buf + job->len, (unsigned)(job->cap - job->len));
  uv_fs_read(job->req.loop, &job->req, job->fd, &b, 1, (int64_t)job->len,
             on_read);
}

static void on_read(uv_fs_t *req) {
  job_t *job = req->data;
  ssize_t got = req->result;
  if (got < 0)
    fail(req, "read");
  uv_fs_req_cleanup(req);
  job->len += (size_t)got;
  if (got == 0 || (job->size > 0 && job->len >= job->size))
    uv_fs_close(req->loop, req, job->fd, on_close);
  else
    start_read(job);
}

static void on_fstat(uv_fs_t *req) {
  job_t *job = req->data;
  if (req->result < 0)
    fail(req, "fstat");
  job->size = (size_t)req->statbuf.st_size;
  uv_fs_req_cleanup(req);
  job->cap = job->size > 0 ? job->size : 4096;
  job->buf = malloc(job->cap);
  BENCH_CHECK(job->buf != NULL, "malloc");
  start_read(job);
}

static void on_open(uv_fs_t *req) {
  job_t *job = req->data;
  if (req->result < 0)
    fail(req, "open");
  job->fd = (uv_file)req->result;
  uv_fs_req_cleanup(req);
  uv_fs_fstat(req->loop, req, job->fd, on_fstat);
}

static void on_close(uv_fs_t *req) {
  job_t *job = req->data;
  if (req->result < 0)
    fail(req, "close");
  uv_fs_req_cleanup(req);
  (*job->done)++;
}

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, char **paths,
                                           size_t n) {
  job_t *jobs = calloc(n, sizeof(*jobs));
  size_t i, done = 0, ok = 0;

  BENCH_CHECK(jobs != NULL, "calloc");
  for (i = 0; i < n; i++) {
    jobs[i].req.data = &jobs[i];
    jobs[i].done = &done;
    BENCH_CHECK(uv_fs_open(loop, &jobs[i].req, paths[i], O_RDONLY, 0,
                           on_open) == 0,
                "uv_fs_open");
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
  bench_result_t r = {"fs_fanout", "raw", 0, 0, 0, 0, 0, 0};
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
