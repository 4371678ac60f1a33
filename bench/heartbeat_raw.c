/*
 * heartbeat, raw libuv: the floor for libfuture's heartbeat. A repeating
 * 10 ms uv_timer_t is the heartbeat; 50 ms in, a one-shot timer starts
 * 400 ms of CPU work,
 *
 *   loop: in the timer's callback, on the loop's thread;
 *   pool: with uv_queue_work, on libuv's thread pool;
 *
 * and 50 ms after the work a last timer stops the heartbeat. Prints the
 * largest gap between two beats for each variant.
 *
 * Usage: heartbeat_raw [work_ms]   (default 400)
 */
#include "bench.h"

#define BEAT_MS 10
#define MARGIN_MS 50

typedef struct {
  uv_loop_t *loop;
  uv_timer_t beat, step;
  uv_work_t work;
  uint64_t work_ms;
  uint64_t last, max_gap;
  unsigned beats;
  int on_pool;
  uint64_t rounds;
} hb_t;

static void on_beat(uv_timer_t *t) {
  hb_t *hb = t->data;
  uint64_t now = uv_hrtime();
  if (hb->beats++ > 0 && now - hb->last > hb->max_gap)
    hb->max_gap = now - hb->last;
  hb->last = now;
}

static void on_margin(uv_timer_t *t) {
  hb_t *hb = t->data;
  uv_timer_stop(&hb->beat);
  uv_close((uv_handle_t *)&hb->beat, NULL);
  uv_close((uv_handle_t *)&hb->step, NULL);
}

static void work_finished(hb_t *hb) {
  /* After work on the loop's thread, the loop's clock is behind. */
  uv_update_time(hb->loop);
  uv_timer_start(&hb->step, on_margin, MARGIN_MS, 0);
}

static void spin_work(uv_work_t *req) {
  hb_t *hb = req->data;
  hb->rounds = bench_spin(hb->work_ms);
}

static void spin_done(uv_work_t *req, int status) {
  BENCH_CHECK(status == 0, "uv_queue_work: %s", uv_strerror(status));
  work_finished(req->data);
}

static void on_start(uv_timer_t *t) {
  hb_t *hb = t->data;
  if (hb->on_pool) {
    BENCH_CHECK(uv_queue_work(hb->loop, &hb->work, spin_work, spin_done) == 0,
                "uv_queue_work");
  } else {
    hb->rounds = bench_spin(hb->work_ms);
    work_finished(hb);
  }
}

static double run(uv_loop_t *loop, uint64_t work_ms, int on_pool,
                  unsigned *beats) {
  hb_t hb;
  memset(&hb, 0, sizeof(hb));
  hb.loop = loop;
  hb.work_ms = work_ms;
  hb.on_pool = on_pool;
  hb.beat.data = hb.step.data = hb.work.data = &hb;
  uv_timer_init(loop, &hb.beat);
  uv_timer_init(loop, &hb.step);
  uv_timer_start(&hb.beat, on_beat, BEAT_MS, BEAT_MS);
  uv_timer_start(&hb.step, on_start, MARGIN_MS, 0);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
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
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print_heartbeat("raw", work_ms, loop_gap, pool_gap, loop_beats,
                        pool_beats, bench_wall() - w0, bench_cpu() - c0);
  return 0;
}
