/*
 * timers, raw libuv: the floor for libfuture's timers. One heap-allocated
 * uv_timer_t per timer (due after i % 1000 ms), whose callback counts it
 * and closes the handle; the memory goes in the close callback, as libuv
 * requires. That is what a hand-written program with n independent
 * timeouts does, and what future_delay does underneath.
 *
 * Usage: timers_raw [n]   (default 1000000)
 */
#include "bench.h"

static size_t fired;

static void on_closed(uv_handle_t *handle) { free(handle); }

static void on_timer(uv_timer_t *timer) {
  fired++;
  uv_close((uv_handle_t *)timer, on_closed);
}

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, size_t n,
                                           long *created_kib) {
  size_t i;
  for (i = 0; i < n; i++) {
    uv_timer_t *t = malloc(sizeof(*t));
    BENCH_CHECK(t != NULL, "malloc");
    uv_timer_init(loop, t);
    uv_timer_start(t, on_timer, i % 1000, 0);
  }
  *created_kib = bench_maxrss_kib();
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  return fired;
}

int main(int argc, char **argv) {
  bench_result_t r = {"timers", "raw", 0, 0, 0, 0, 0, 1};
  uv_loop_t loop;
  double w0, c0;
  size_t got;

  r.n = bench_arg_n(argc, argv, 1000000);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  got = bench_run(&loop, r.n, &r.created_kib);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;

  BENCH_CHECK(got == r.n, "%zu of %zu timers fired", got, r.n);
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
