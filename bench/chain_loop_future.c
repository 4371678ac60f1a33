/*
 * chain_loop, libfuture: n hops, each continuation chaining the next one,
 * the way an asynchronous loop is written with futures:
 *
 *     hop(v): if v < n, chain hop on future_resolved(v + 1); pass v on.
 *
 * The chain is never built up front: each hop attaches the next link, one
 * link at a time, and lets go of it (the pending link is owned by the
 * future it waits on), so memory stays constant. This is the C form of
 * JavaScript's `function hop(v) { if (v < n) Promise.resolve(v + 1).then(hop) }`
 * (bench/chain_loop.js).
 *
 * With "adopt" as the second argument, each hop instead *returns* the next
 * link, which the previous one adopts (Promises/A+ flattening):
 *
 *     hop(v) = v == n ? v : future_then(future_resolved(v + 1), hop)
 *
 * so that the n links stay pending until the last one settles and then
 * settle in a cascade (memory grows with n). run.sh runs the default form.
 *
 * Timed: the whole loop, from the first hop to the final value, and the
 * release of everything. bytes_per_op: peak resident memory over the whole
 * run, per hop (constant memory gives about 0).
 *
 * bench/loops_future.c includes this file (bench_run and main renamed)
 * to run the same code on several loops at once.
 *
 * Usage: chain_loop_future [n [adopt]]   (default n 1000000)
 */
#include <future.h>

#include "bench.h"

typedef struct {
  uv_loop_t *loop;
  intptr_t n;
  intptr_t result;
  int done;
} ctx_t;

static future_t *hop(future_t *settled, void *data) {
  ctx_t *ctx = data;
  intptr_t v = (intptr_t)future_value(settled);
  if (v >= ctx->n) {
    ctx->result = v;
    ctx->done = 1;
  } else {
    future_t *next = future_then(
        future_resolved(ctx->loop, (void *)(v + 1), NULL), hop, NULL, ctx);
    BENCH_CHECK(next != NULL, "future_then");
    future_unref(next);
  }
  return future_ref(settled);
}

static future_t *hop_adopt(future_t *settled, void *data) {
  ctx_t *ctx = data;
  intptr_t v = (intptr_t)future_value(settled);
  if (v >= ctx->n)
    return future_ref(settled);
  return future_then(future_resolved(ctx->loop, (void *)(v + 1), NULL),
                     hop_adopt, NULL, ctx);
}

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n,
                                             int adopt) {
  ctx_t ctx = {loop, (intptr_t)n, -1, 0};
  future_t *f;
  intptr_t v;

  f = future_then(future_resolved(loop, (void *)0, NULL),
                  adopt ? hop_adopt : hop, NULL, &ctx);
  BENCH_CHECK(f != NULL, "future_then");
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(future_state(f) == FUTURE_FULFILLED, "loop settled");
  v = adopt ? (intptr_t)future_value(f) : ctx.done ? ctx.result : -1;
  future_unref(f);
  return v;
}

int main(int argc, char **argv) {
  bench_result_t r = {"chain_loop", "future", 0, 0, 0, 0, 0, 0};
  uv_loop_t loop;
  double w0, c0;
  intptr_t v;
  int adopt = argc > 2 && strcmp(argv[2], "adopt") == 0;

  r.n = bench_arg_n(argc, argv, 1000000);
  if (adopt)
    r.impl = "future_adopt";
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  future_unref(future_resolved(&loop, NULL, NULL));

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  v = bench_run(&loop, r.n, adopt);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.created_kib = bench_maxrss_kib();

  BENCH_CHECK(v == (intptr_t)r.n, "loop value %ld, expected %zu", (long)v,
              r.n);
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
