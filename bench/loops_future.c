/*
 * loops, libfuture: chain_loop or fs_fanout on 1, 2 and 4 loops at once,
 * one per thread (the harness and its output: bench/loops.h). Each loop
 * runs exactly the code of bench/chain_loop_future.c (default form) or
 * bench/fs_fanout_future.c, which this file includes with their
 * bench_run and main renamed.
 *
 * Usage: loops_future [n [chain_loop|fs_fanout [dir]]]
 */
#include <future.h>

#include "bench.h"

#define bench_run chain_loop_bench_run
#define main chain_loop_main
#include "chain_loop_future.c"
#undef bench_run
#undef main

#define bench_run fs_fanout_bench_run
#define main fs_fanout_main
#include "fs_fanout_future.c"
#undef bench_run
#undef main

#define LOOPS_IMPL "future"

static intptr_t loops_chain_loop(uv_loop_t *loop, size_t n) {
  return chain_loop_bench_run(loop, n, 0);
}

static size_t loops_fs_fanout(uv_loop_t *loop, char **paths, size_t n) {
  return fs_fanout_bench_run(loop, paths, n);
}

/* The library's per-loop state is made outside the timed region, as in
 * the single-loop programs. */
static void loops_loop_ready(uv_loop_t *loop) {
  future_unref(future_resolved(loop, NULL, NULL));
}

static void loops_loop_done(uv_loop_t *loop) {
  BENCH_CHECK(future_loop_live(loop) == 0, "%zu futures still alive",
              future_loop_live(loop));
  BENCH_CHECK(future_loop_close(loop) == 0, "future_loop_close");
}

#include "loops.h"
