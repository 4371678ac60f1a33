/*
 * fs_fanout, libfuture: read n files of 4 KiB fully, all started at once
 * (future_fs_read_file for each, gathered with future_all), from a warm
 * page cache; check that every file gave 4096 bytes.
 *
 * Timed: starting the n reads, running the loop until every file has been
 * read, checking and releasing the buffers. bytes_per_op: peak resident
 * memory over the run, per file (every buffer is held until all are read,
 * as Promise.all holds them in Node).
 *
 * bench/loops_future.c includes this file (bench_run and main renamed)
 * to run the same code on several loops at once.
 *
 * Usage: fs_fanout_future [n [dir]]   (default n 10000; without dir, the
 * program makes the files in a temporary directory and removes them)
 */
#include <future.h>

#include "bench.h"

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, char **paths,
                                           size_t n) {
  future_t **inputs = malloc(n * sizeof(*inputs));
  const future_list_t *list;
  future_t *all;
  size_t i, ok = 0;

  BENCH_CHECK(inputs != NULL, "malloc");
  for (i = 0; i < n; i++) {
    inputs[i] = future_fs_read_file(loop, paths[i]);
    BENCH_CHECK(inputs[i] != NULL, "future_fs_read_file");
  }
  all = future_all(loop, inputs, n);
  free(inputs);
  BENCH_CHECK(all != NULL, "future_all");
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  if (future_state(all) == FUTURE_REJECTED)
    future_error_print(future_error(all), stderr);
  BENCH_CHECK(future_state(all) == FUTURE_FULFILLED, "every file read");
  list = future_value(all);
  BENCH_CHECK(list != NULL && list->count == n, "list of %zu", n);
  for (i = 0; i < n; i++) {
    const future_buf_t *buf = future_value(list->items[i]);
    if (buf != NULL && buf->len == BENCH_FILE_SIZE)
      ok++;
    else
      fprintf(stderr, "%s: %zu bytes\n", paths[i],
              buf != NULL ? buf->len : (size_t)0);
  }
  future_unref(all);
  return ok;
}

int main(int argc, char **argv) {
  bench_result_t r = {"fs_fanout", "future", 0, 0, 0, 0, 0, 0};
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
  future_unref(future_resolved(&loop, NULL, NULL));

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  ok = bench_run(&loop, paths, r.n);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.created_kib = bench_maxrss_kib();

  BENCH_CHECK(ok == r.n, "%zu of %zu files read with %d bytes", ok, r.n,
              BENCH_FILE_SIZE);
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_fs_paths_free(paths, r.n);
  if (own_dir != NULL)
    bench_fs_remove(own_dir, r.n);
  bench_print(&r);
  return 0;
}
