/*
 * await_loop, libfuture: n sequential awaits of an already settled future
 * in one fiber, the C form of JavaScript's
 *
 *     for (let i = 1; i <= n; i++) sum += await Promise.resolve(i);
 *
 * (bench/await_loop.js):
 *
 *     for (i = 1; i <= n; i++) {
 *       future_await(future_resolved(loop, i, NULL), &r);
 *       sum += r.value;
 *       future_result_release(&r);
 *     }
 *
 * future_await suspends the fiber even on a settled future: each await is
 * one trip through the loop's run queue, as a hop of chain_loop is, plus
 * two switches of stack (into the fiber and back out). This workload is
 * what that costs against a chain_loop hop (bench/chain_loop_future.c) and
 * against Node.js's await.
 *
 * Timed: starting the fiber (its stack comes from a fresh mapping), the n
 * awaits, the fiber's return and the release of everything. bytes_per_op:
 * peak resident memory over the whole run, per await (constant memory:
 * about 0; the fiber's stack is a few pages for the whole run).
 *
 * The program checks the sum (n (n + 1) / 2), that every await fulfilled,
 * that the fiber's future fulfilled with the sum, and that no future is
 * left alive.
 *
 * Usage: await_loop_future [n]   (default 1000000)
 */
#include <future.h>
#include <string.h>

#include "bench.h"

typedef struct {
  size_t n;
  intptr_t sum;
  size_t failed; /* awaits that did not fulfil */
  int suspend;   /* await a pass-through continuation of it instead */
} ctx_t;

static future_t *body(uv_loop_t *loop, void *arg) {
  ctx_t *ctx = arg;
  future_result_t r;
  intptr_t sum = 0;
  size_t i;
  for (i = 1; i <= ctx->n; i++) {
    future_t *f = future_resolved(loop, (void *)(intptr_t)i, NULL);
    /* `suspend`: the future awaited is still pending (a continuation that
     * passes the value on, queued), so every await suspends the fiber
     * and goes through the queue: the time is then a hop plus a
     * suspending await. */
    if (ctx->suspend)
      f = future_then(f, NULL, NULL, NULL);
    if (future_await(f, &r) != 0)
      ctx->failed++;
    sum += (intptr_t)r.value;
    future_result_release(&r);
  }
  ctx->sum = sum;
  return future_resolved(loop, (void *)sum, NULL);
}

/* The measured region; not inlined so that `make bench-callgrind` can
 * count instructions in it alone (--toggle-collect=bench_run). */
static int suspend_mode;

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n) {
  ctx_t ctx = {n, -1, 0, suspend_mode};
  future_t *f;
  intptr_t v;

  f = future_async(loop, body, &ctx, NULL);
  BENCH_CHECK(f != NULL, "future_async");
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(future_state(f) == FUTURE_FULFILLED, "the fiber fulfilled");
  BENCH_CHECK(ctx.failed == 0, "%zu awaits did not fulfil", ctx.failed);
  v = (intptr_t)future_value(f);
  BENCH_CHECK(v == ctx.sum, "the fiber's value %ld, its sum %ld", (long)v,
              (long)ctx.sum);
  future_unref(f);
  return v;
}

int main(int argc, char **argv) {
  bench_result_t r = {"await_loop", "future", 0, 0, 0, 0, 0, 0};
  uv_loop_t loop;
  double w0, c0;
  intptr_t v, expected;

  r.n = bench_arg_n(argc, argv, 1000000);
  /* `await_loop_future N suspend`: every await suspends (see body). */
  if (argc > 2 && strcmp(argv[2], "suspend") == 0) {
    suspend_mode = 1;
    r.impl = "future_suspend";
  }
  expected = (intptr_t)(r.n * (r.n + 1) / 2);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  /* The library's per-loop state, outside the timed region (as in
   * chain_loop_future). */
  future_unref(future_resolved(&loop, NULL, NULL));

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  v = bench_run(&loop, r.n);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.created_kib = bench_maxrss_kib();

  BENCH_CHECK(v == expected, "sum %ld, expected %ld", (long)v,
              (long)expected);
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
