/*
 * heartbeat, libfuture: a 10 ms heartbeat (future_delay re-armed by its
 * own continuation) while 400 ms of CPU work runs, started 50 ms in,
 *
 *   loop: on the loop's thread, inside a continuation, which freezes the
 *         loop: the heartbeat's largest gap is about the length of the work;
 *   pool: on libuv's thread pool (future_work), which leaves the loop free:
 *         the largest gap stays near 10 ms.
 *
 * The heartbeat runs on until 50 ms after the work. Prints the largest gap
 * between two beats for each variant (loop_gap_ms, pool_gap_ms).
 *
 * Usage: heartbeat_future [work_ms]   (default 400)
 */
#include <future.h>

#include "bench.h"

#define BEAT_MS 10
#define MARGIN_MS 50

typedef struct {
  uv_loop_t *loop;
  uint64_t work_ms;
  uint64_t last;     /* time of the last beat, ns */
  uint64_t max_gap;  /* ns */
  unsigned beats;
  int stop;
  uint64_t rounds;   /* the work's result */
} hb_t;

static future_t *beat(future_t *settled, void *data) {
  hb_t *hb = data;
  uint64_t now = uv_hrtime();
  if (hb->beats++ > 0 && now - hb->last > hb->max_gap)
    hb->max_gap = now - hb->last;
  hb->last = now;
  if (!hb->stop) {
    future_t *next =
        future_then(future_delay(hb->loop, BEAT_MS), beat, NULL, hb);
    BENCH_CHECK(next != NULL, "future_then");
    future_unref(next);
  }
  return future_ref(settled);
}

static future_t *work_on_loop(future_t *settled, void *data) {
  hb_t *hb = data;
  (void)settled;
  return future_resolved(hb->loop, (void *)(uintptr_t)bench_spin(hb->work_ms),
                         NULL);
}

static future_error_t *spin_work(void *arg, void **value) {
  *value = (void *)(uintptr_t)bench_spin(*(uint64_t *)arg);
  return NULL;
}

static future_t *work_on_pool(future_t *settled, void *data) {
  hb_t *hb = data;
  (void)settled;
  return future_work(hb->loop, spin_work, &hb->work_ms, NULL);
}

static future_t *work_done(future_t *settled, void *data) {
  hb_t *hb = data;
  hb->rounds = (uintptr_t)future_value(settled);
  /* After work on the loop's thread, the loop's clock is 400 ms behind:
   * without this the margin would be over at once. */
  uv_update_time(hb->loop);
  return future_delay(hb->loop, MARGIN_MS);
}

static future_t *stop(future_t *settled, void *data) {
  ((hb_t *)data)->stop = 1;
  return future_ref(settled);
}

static double run(uv_loop_t *loop, uint64_t work_ms, int on_pool,
                  unsigned *beats) {
  hb_t hb;
  future_t *f;
  memset(&hb, 0, sizeof(hb));
  hb.loop = loop;
  hb.work_ms = work_ms;

  f = future_then(future_delay(loop, BEAT_MS), beat, NULL, &hb);
  BENCH_CHECK(f != NULL, "future_then");
  future_unref(f);
  f = future_then(future_delay(loop, MARGIN_MS),
                  on_pool ? work_on_pool : work_on_loop, NULL, &hb);
  f = future_then(f, work_done, NULL, &hb);
  f = future_then(f, stop, NULL, &hb);
  BENCH_CHECK(f != NULL, "future_then");
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(future_state(f) == FUTURE_FULFILLED, "work done");
  future_unref(f);
  BENCH_CHECK(hb.rounds > 0, "the work ran");
  BENCH_CHECK(hb.beats >= 3, "%u beats", hb.beats);
  *beats = hb.beats;
  return (double)hb.max_gap / 1e6;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  uint64_t work_ms = bench_arg_n(argc, argv, 400);
  unsigned loop_beats, pool_beats;
  double w0, c0, loop_gap, pool_gap;

  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  w0 = bench_wall();
  c0 = bench_cpu();
  loop_gap = run(&loop, work_ms, 0, &loop_beats);
  pool_gap = run(&loop, work_ms, 1, &pool_beats);
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print_heartbeat("future", work_ms, loop_gap, pool_gap, loop_beats,
                        pool_beats, bench_wall() - w0, bench_cpu() - c0);
  return 0;
}
