/*
 * chain_built, libfuture with a pipeline: the chain of chain_built_future.c
 * (n steps after a pending root, each adding 1 to the value; then the root
 * resolves with 0 and the chain runs to n), built with future_pipeline and
 * future_pipeline_then_value instead of a future_then per link. The steps are
 * the same callbacks; only the end of the chain is a future.
 *
 * Timed: building the chain, resolving, running it to the end and
 * releasing it. bytes_per_op: resident memory per pending step, measured
 * once the whole chain is built and before the root resolves.
 *
 * Usage: chain_built_pipeline [n [then]]   (default n 1000000)
 */
#include <future.h>

#include "bench.h"

static future_t *add1(future_t *settled, void *data) {
  intptr_t v = (intptr_t)future_value(settled);
  return future_resolved(data, (void *)(v + 1), NULL);
}

static future_error_t *add1_value(void **value, void *data) {
  (void)data;
  *value = (void *)((intptr_t)*value + 1);
  return NULL;
}

/* The measured region; not inlined so that `make bench-callgrind` can
 * count instructions in it alone (--toggle-collect=bench_run). */
__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n,
                                             int then, long *created_kib) {
  future_t *root, *pipe;
  intptr_t v;
  size_t i;

  root = future_new(loop);
  BENCH_CHECK(root != NULL, "future_new");
  pipe = future_pipeline(future_ref(root));
  BENCH_CHECK(pipe != NULL, "future_pipeline");
  if (then)
    for (i = 0; i < n; i++)
      BENCH_CHECK(future_pipeline_then(pipe, add1, NULL, loop) == 0,
                  "future_pipeline_then %zu", i);
  else
    for (i = 0; i < n; i++)
      BENCH_CHECK(future_pipeline_then_value(pipe, add1_value, NULL) == 0,
                  "future_pipeline_then_value %zu", i);
  *created_kib = bench_maxrss_kib();

  BENCH_CHECK(future_resolve(root, (void *)0, NULL) == 0, "future_resolve");
  future_unref(root);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(future_state(pipe) == FUTURE_FULFILLED, "chain settled");
  v = (intptr_t)future_value(pipe);
  future_unref(pipe);
  return v;
}

int main(int argc, char **argv) {
  bench_result_t r = {"chain_built", "pipeline", 0, 0, 0, 0, 0, 0};
  uv_loop_t loop;
  double w0, c0;
  intptr_t v;
  int then = argc > 2 && strcmp(argv[2], "then") == 0;

  r.n = bench_arg_n(argc, argv, 1000000);
  if (then)
    r.impl = "pipeline_then";
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  /* Create the library's per-loop state outside the timed region. */
  future_unref(future_resolved(&loop, NULL, NULL));

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  v = bench_run(&loop, r.n, then, &r.created_kib);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;

  BENCH_CHECK(v == (intptr_t)r.n, "chain value %ld, expected %zu", (long)v,
              r.n);
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
