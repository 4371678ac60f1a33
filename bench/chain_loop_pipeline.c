/*
 * chain_loop, libfuture with a pipeline: the asynchronous loop of
 * chain_loop_future.c (n hops, each going on with v + 1) written as a
 * pipeline whose step adds the next step before it returns:
 *
 *     hop(v): if v < n, add hop to the pipeline; go on with v + 1
 *
 * hop is a value step (future_pipeline_then_value); with "then" as the
 * second argument it is a future_pipeline_then step that returns
 * future_resolved(v + 1).
 *
 * The pipeline gives each hop's room back once it has run, so memory stays
 * constant, as in chain_loop_future.
 *
 * Timed: the whole loop, from the first hop to the final value, and the
 * release of everything. bytes_per_op: peak resident memory over the whole
 * run, per hop (constant memory gives about 0).
 *
 * Usage: chain_loop_pipeline [n [then]]   (default n 1000000)
 */
#include <future.h>

#include "bench.h"

typedef struct {
  uv_loop_t *loop;
  future_t *pipe;
  intptr_t n;
} ctx_t;

static future_t *hop(future_t *settled, void *data) {
  ctx_t *ctx = data;
  intptr_t v = (intptr_t)future_value(settled);
  if (v >= ctx->n)
    return future_ref(settled);
  BENCH_CHECK(future_pipeline_then(ctx->pipe, hop, NULL, ctx) == 0,
              "future_pipeline_then");
  return future_resolved(ctx->loop, (void *)(v + 1), NULL);
}

static future_error_t *hop_value(void **value, void *data) {
  ctx_t *ctx = data;
  intptr_t v = (intptr_t)*value;
  if (v < ctx->n) {
    BENCH_CHECK(future_pipeline_then_value(ctx->pipe, hop_value, ctx) == 0,
                "future_pipeline_then_value");
    *value = (void *)(v + 1);
  }
  return NULL;
}

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n,
                                             int then) {
  ctx_t ctx = {loop, NULL, (intptr_t)n};
  intptr_t v;

  ctx.pipe = future_pipeline(future_resolved(loop, (void *)0, NULL));
  BENCH_CHECK(ctx.pipe != NULL, "future_pipeline");
  BENCH_CHECK((then ? future_pipeline_then(ctx.pipe, hop, NULL, &ctx)
                    : future_pipeline_then_value(ctx.pipe, hop_value, &ctx)) ==
                  0,
              "future_pipeline_then");
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(future_state(ctx.pipe) == FUTURE_FULFILLED, "loop settled");
  v = (intptr_t)future_value(ctx.pipe);
  future_unref(ctx.pipe);
  return v;
}

int main(int argc, char **argv) {
  bench_result_t r = {"chain_loop", "pipeline", 0, 0, 0, 0, 0, 0};
  uv_loop_t loop;
  double w0, c0;
  intptr_t v;
  int then = argc > 2 && strcmp(argv[2], "then") == 0;

  r.n = bench_arg_n(argc, argv, 1000000);
  if (then)
    r.impl = "pipeline_then";
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  future_unref(future_resolved(&loop, NULL, NULL));

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  v = bench_run(&loop, r.n, then);
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
