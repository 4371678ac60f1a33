/*
 * The harness of the `loops` workload (bench/loops_future.c,
 * bench/loops_tight.c): chain_loop or fs_fanout on 1, 2 and 4 libuv loops
 * at once, one uv_loop_t per thread, each loop doing the whole workload
 * (n hops, or reading the n files), to see how the total throughput
 * scales with the loops.
 *
 * The including program defines, before including this file:
 *
 *   LOOPS_IMPL                          the impl= of its result lines
 *   intptr_t loops_chain_loop(uv_loop_t *, size_t n)     n hops; returns n
 *   size_t loops_fs_fanout(uv_loop_t *, char **paths, size_t n)
 *                                       reads the files; returns how many
 *                                       gave 4096 bytes
 *   void loops_loop_ready(uv_loop_t *)  after uv_loop_init (untimed)
 *   void loops_loop_done(uv_loop_t *)   before uv_loop_close (untimed)
 *
 * Each loop's thread makes its loop and waits at a barrier (`ready`);
 * once every thread is there, the main thread reads the CPU clock and
 * lets them go (`go`). Each thread reads the wall clock when it starts
 * its workload and when it has finished it, then waits at a third barrier
 * (`stop`) before tearing its loop down, and the main thread reads the
 * CPU clock again once every thread is there. wall_s runs from the
 * earliest start to the latest finish (read by the workers themselves, so
 * that a main thread that the scheduler is slow to wake up, on a loaded
 * machine, adds nothing); cpu_s is the whole process's (every thread,
 * libuv's thread pool included) from `go` to `stop`. fs_fanout's loops all read the same n files; libuv's
 * thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise) is one
 * for the whole process, so their file system work shares it.
 *
 * Prints one line per number of loops:
 *
 *   workload=loops impl=... sub=chain_loop loops=2 n=... ops=... wall_s=...
 *   cpu_s=... maxrss_kib=... ns_per_op=... cpu_ns_per_op=... ops_per_s=...
 *
 * with n per loop, ops = loops * n, ns_per_op = wall_s / ops (the inverse
 * of the total throughput ops_per_s), cpu_ns_per_op = cpu_s / ops.
 *
 * Usage: loops_<impl> [n [chain_loop|fs_fanout [dir]]]   (default n
 * 10000000 hops, or 1000 files; without dir, fs_fanout makes the files in
 * a temporary directory and removes them)
 */
#ifndef LOOPS_H
#define LOOPS_H

#include "bench.h"

typedef struct {
  int fs;   /* fs_fanout, else chain_loop */
  size_t n;
  char **paths;
  uv_barrier_t *ready, *go, *stop;
  uint64_t t0, t1; /* uv_hrtime at the start and the end of the workload */
  size_t got;      /* hops made, or files read whole */
} loops_worker_t;

static void loops_worker(void *arg) {
  loops_worker_t *w = arg;
  uv_loop_t loop;
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  loops_loop_ready(&loop);
  uv_barrier_wait(w->ready);
  uv_barrier_wait(w->go);
  w->t0 = uv_hrtime();
  if (w->fs)
    w->got = loops_fs_fanout(&loop, w->paths, w->n);
  else
    w->got = (size_t)loops_chain_loop(&loop, w->n);
  w->t1 = uv_hrtime();
  uv_barrier_wait(w->stop);
  loops_loop_done(&loop);
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
}

static void loops_run(const char *sub, int fs, size_t n, char **paths,
                      unsigned k) {
  loops_worker_t w[4];
  uv_thread_t tid[4];
  uv_barrier_t ready, go, stop;
  uint64_t t0 = UINT64_MAX, t1 = 0;
  double c0, wall, cpu, ops = (double)k * (double)n;
  unsigned i;

  BENCH_CHECK(k <= 4, "at most 4 loops");
  BENCH_CHECK(uv_barrier_init(&ready, k + 1) == 0, "uv_barrier_init");
  BENCH_CHECK(uv_barrier_init(&go, k + 1) == 0, "uv_barrier_init");
  BENCH_CHECK(uv_barrier_init(&stop, k + 1) == 0, "uv_barrier_init");
  for (i = 0; i < k; i++) {
    w[i].fs = fs;
    w[i].n = n;
    w[i].paths = paths;
    w[i].ready = &ready;
    w[i].go = &go;
    w[i].stop = &stop;
    w[i].got = 0;
    BENCH_CHECK(uv_thread_create(&tid[i], loops_worker, &w[i]) == 0,
                "uv_thread_create");
  }
  uv_barrier_wait(&ready);
  c0 = bench_cpu();
  uv_barrier_wait(&go);
  uv_barrier_wait(&stop);
  cpu = bench_cpu() - c0;
  for (i = 0; i < k; i++) {
    BENCH_CHECK(uv_thread_join(&tid[i]) == 0, "uv_thread_join");
    BENCH_CHECK(w[i].got == n, "loop %u of %u: %zu of %zu %s", i + 1, k,
                w[i].got, n, fs ? "files read whole" : "hops");
    if (w[i].t0 < t0)
      t0 = w[i].t0;
    if (w[i].t1 > t1)
      t1 = w[i].t1;
  }
  wall = (double)(t1 - t0) / 1e9;
  uv_barrier_destroy(&ready);
  uv_barrier_destroy(&go);
  uv_barrier_destroy(&stop);
  printf("workload=loops impl=%s sub=%s loops=%u n=%zu ops=%.0f wall_s=%.4f "
         "cpu_s=%.4f maxrss_kib=%ld ns_per_op=%.1f cpu_ns_per_op=%.1f "
         "ops_per_s=%.0f\n",
         LOOPS_IMPL, sub, k, n, ops, wall, cpu, bench_maxrss_kib(),
         wall * 1e9 / ops, cpu * 1e9 / ops, ops / wall);
  fflush(stdout);
}

int main(int argc, char **argv) {
  static const unsigned loops[] = {1, 2, 4};
  const char *sub = argc > 2 ? argv[2] : "chain_loop";
  const char *dir_arg = argc > 3 ? argv[3] : NULL;
  char *own_dir = NULL;
  char **paths = NULL;
  int fs;
  size_t n, i;

  if (strcmp(sub, "chain_loop") == 0)
    fs = 0;
  else if (strcmp(sub, "fs_fanout") == 0)
    fs = 1;
  else {
    fprintf(stderr, "usage: %s [n [chain_loop|fs_fanout [dir]]]\n", argv[0]);
    return 2;
  }
  n = bench_arg_n(argc, argv, fs ? 1000 : 10000000);
  if (fs) {
    if (dir_arg == NULL)
      dir_arg = own_dir = bench_fs_make(n);
    paths = bench_fs_paths(dir_arg, n);
  }
  for (i = 0; i < sizeof(loops) / sizeof(loops[0]); i++)
    loops_run(sub, fs, n, paths, loops[i]);
  if (fs) {
    bench_fs_paths_free(paths, n);
    if (own_dir != NULL)
      bench_fs_remove(own_dir, n);
  }
  return 0;
}

#endif /* LOOPS_H */
