/*
 * loops, tightest hand-written libuv: chain_loop or fs_fanout on 1, 2 and
 * 4 loops at once, one per thread (the harness and its output:
 * bench/loops.h), the floor for bench/loops_future.c. Each loop runs
 * exactly the code of bench/chain_loop_tight.c or bench/fs_fanout_onejob.c,
 * which this file includes with their bench_run and main renamed.
 *
 * Usage: loops_tight [n [chain_loop|fs_fanout [dir]]]
 */
#include "bench.h"

#define bench_run chain_loop_bench_run
#define main chain_loop_main
#include "chain_loop_tight.c"
#undef bench_run
#undef main

#define bench_run fs_fanout_bench_run
#define main fs_fanout_main
#include "fs_fanout_onejob.c"
#undef bench_run
#undef main

#define LOOPS_IMPL "tight"

static intptr_t loops_chain_loop(uv_loop_t *loop, size_t n) {
  return chain_loop_bench_run(loop, n);
}

static size_t loops_fs_fanout(uv_loop_t *loop, char **paths, size_t n) {
  return fs_fanout_bench_run(loop, paths, n);
}

static void loops_loop_ready(uv_loop_t *loop) { (void)loop; }

static void loops_loop_done(uv_loop_t *loop) { (void)loop; }

#include "loops.h"
