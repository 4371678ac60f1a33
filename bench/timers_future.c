/*
 * timers, libfuture: n timers pending at once, timer i due after i % 1000
 * ms (future_delay), each with a continuation that counts it; check that
 * every one fired. The run lasts about a second whatever the speed, so
 * the figures that matter are CPU time (ns_per_op is CPU time per timer)
 * and memory per pending timer.
 *
 * Timed: creating the n timers and their continuations, running the loop
 * until all have fired, releasing everything. bytes_per_op: resident
 * memory per pending timer once all n are pending.
 *
 * With "delay_then" as the second argument, each timer and its
 * continuation are one future (future_delay_then) instead of two.
 *
 * Usage: timers_future [n [delay_then]]   (default n 1000000)
 */
#include <future.h>

#include "bench.h"

static future_t *count(future_t *settled, void *data) {
  (*(size_t *)data)++;
  return future_ref(settled);
}

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, size_t n,
                                           int one, long *created_kib) {
  size_t i, fired = 0;
  for (i = 0; i < n; i++) {
    future_t *c =
        one ? future_delay_then(loop, i % 1000, count, &fired)
            : future_then(future_delay(loop, i % 1000), count, NULL, &fired);
    BENCH_CHECK(c != NULL, "future_delay / future_then");
    future_unref(c); /* the timer's future owns its continuation */
  }
  *created_kib = bench_maxrss_kib();
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  return fired;
}

int main(int argc, char **argv) {
  bench_result_t r = {"timers", "future", 0, 0, 0, 0, 0, 1};
  uv_loop_t loop;
  double w0, c0;
  size_t fired;
  int one = argc > 2 && strcmp(argv[2], "delay_then") == 0;

  r.n = bench_arg_n(argc, argv, 1000000);
  if (one)
    r.impl = "delay_then";
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  future_unref(future_resolved(&loop, NULL, NULL));

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  fired = bench_run(&loop, r.n, one, &r.created_kib);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;

  BENCH_CHECK(fired == r.n, "%zu of %zu timers fired", fired, r.n);
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
