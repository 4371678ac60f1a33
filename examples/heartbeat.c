/*
 * heartbeat: why a heavy loop must not run on the event loop's thread.
 *
 * A timer beats every 10 ms. Twenty milliseconds in, 400 ms of CPU work
 * starts. In the first run the work runs in a continuation, on the loop's
 * own thread: while it runs the loop cannot do anything else, so no beat
 * happens and the largest gap between beats is about 400 ms.
 *
 * Cutting the work into steps does not help by itself. In the second run
 * it runs as 40 steps of 10 ms, each a continuation chained on a resolved
 * future: each step finds its input settled, so the next one runs at
 * once, and the loop still gets no turn until the last step is done. In
 * the third run each step is chained on future_yield(loop) instead, a
 * future that settles once the loop has gone around: between two steps
 * the loop runs its timers and I/O, and the heart beats.
 *
 * In the fourth run the whole work goes to libuv's thread pool with
 * future_work: the loop's thread is free all along, the beats go on, and
 * the largest gap stays near 10 ms. That is the answer for heavy work;
 * yielding is for work that must stay on the loop's thread.
 *
 * Each run ends with a plain-text timeline, one column per 10 ms: '|' a
 * beat came in that column, '.' none came, '#' the work was running.
 *
 * SYNOPSIS
 *     $ ./examples/heartbeat
 *     one column per 10 ms: '|' a beat came, '.' no beat came, '#' the work ran
 *     run 1: the work runs ON THE LOOP THREAD (a continuation, blocking)
 *       beats  ||...........................................|||||||||
 *       work     ########################################
 *       largest gap between beats: 402 ms
 *     run 2: 40 STEPS chained on resolved futures (still the loop thread)
 *       beats  ||...........................................|||||||||
 *       work     ########################################
 *       largest gap between beats: 403 ms
 *     run 3: 40 STEPS chained on future_yield (the loop runs between steps)
 *       beats  ||||||||||||||||||||||||||||||||||||||||||||||||||||||||
 *       work     #########################################
 *       largest gap between beats: 20 ms
 *     run 4: the work runs ON THE THREAD POOL (future_work, non-blocking)
 *       beats  |||||||||||||||||||||||||||||||||||||||||||||||||||||||
 *       work     ########################################
 *       largest gap between beats: 10 ms
 */
#include <future.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEAT_MS 10
#define WORK_MS 400
#define START_MS 20
#define RUN_MS 560
#define SLOTS (RUN_MS / BEAT_MS)
#define STEPS 40

enum mode { ON_LOOP, STEPS_RESOLVED, STEPS_YIELD, ON_POOL };

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "heartbeat: %s: %s\n", what, future_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

typedef struct {
  uint64_t t0;         /* start of the run, ns */
  uint64_t last_beat;  /* ns */
  uint64_t max_gap;    /* ns */
  uint64_t work_start; /* ns since t0 */
  uint64_t work_end;
  int steps_done;
  enum mode mode;
  char beats[SLOTS + 1];
} run_t;

static uint64_t ms_since(const run_t *r, uint64_t ns) {
  return (ns - r->t0) / 1000000;
}

static void on_beat(uv_timer_t *timer) {
  run_t *r = timer->data;
  uint64_t now = uv_hrtime();
  uint64_t slot = ms_since(r, now) / BEAT_MS;
  if (now - r->last_beat > r->max_gap)
    r->max_gap = now - r->last_beat;
  r->last_beat = now;
  future_trace_mark("beat"); /* in a trace (FUTURE_TRACE=...), if one records */
  if (slot < SLOTS)
    r->beats[slot] = '|';
  if (ms_since(r, now) >= RUN_MS)
    uv_close((uv_handle_t *)timer, NULL);
}

/* The heavy loop: burns CPU for `ms`, whatever thread it is on. */
static void burn_cpu(uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * 1000000;
  volatile uint64_t x = 0;
  while (uv_hrtime() < end)
    for (int i = 0; i < 1000; i++)
      x += (uint64_t)i * i;
}

/* Run 1: the work in a continuation, on the loop thread. */
static future_t *work_on_loop(future_t *settled, void *data) {
  run_t *r = data;
  r->work_start = uv_hrtime();
  burn_cpu(WORK_MS);
  r->work_end = uv_hrtime();
  return future_ref(settled);
}

/* Runs 2 and 3: the same work in STEPS continuations, each chained on the
 * future of the one before: a resolved one, or future_yield. */
static future_t *work_step(future_t *settled, void *data) {
  run_t *r = data;
  uv_loop_t *loop = future_loop(settled);
  if (r->steps_done == 0)
    r->work_start = uv_hrtime();
  burn_cpu(WORK_MS / STEPS);
  if (++r->steps_done == STEPS) {
    r->work_end = uv_hrtime();
    return future_resolved(loop, NULL, NULL);
  }
  return future_then(r->mode == STEPS_YIELD ? future_yield(loop)
                                            : future_resolved(loop, NULL, NULL),
                     work_step, NULL, r);
}

/* Run 2: the work on the pool; it only records when it ran. */
typedef struct {
  uint64_t start, end;
} span_t;

static future_error_t *work_on_pool(void *arg, void **value) {
  span_t *s = arg;
  s->start = uv_hrtime();
  burn_cpu(WORK_MS);
  s->end = uv_hrtime();
  *value = s;
  return NULL;
}

static future_t *start_pool_work(future_t *settled, void *data) {
  static span_t span;
  (void)data;
  return future_work(future_loop(settled), work_on_pool, &span, NULL);
}

static future_t *note_pool_span(future_t *settled, void *data) {
  run_t *r = data;
  const span_t *s = future_value(settled);
  r->work_start = s->start;
  r->work_end = s->end;
  return future_ref(settled);
}

static void print_run(const run_t *r) {
  char work[SLOTS + 1];
  uint64_t a = ms_since(r, r->work_start) / BEAT_MS;
  uint64_t b = ms_since(r, r->work_end) / BEAT_MS;
  memset(work, ' ', SLOTS);
  work[SLOTS] = '\0';
  for (uint64_t i = a; i <= b && i < SLOTS; i++)
    work[i] = '#';
  printf("  beats  %s\n", r->beats);
  printf("  work   %s\n", work);
  printf("  largest gap between beats: %llu ms\n",
         (unsigned long long)(r->max_gap / 1000000));
}

static void run(uv_loop_t *loop, enum mode mode) {
  run_t r;
  uv_timer_t beat;
  future_t *f;
  future_result_t result;

  memset(&r, 0, sizeof r);
  r.mode = mode;
  memset(r.beats, '.', SLOTS);
  uv_update_time(loop);
  r.t0 = r.last_beat = uv_hrtime();
  check(uv_timer_init(loop, &beat), "uv_timer_init");
  beat.data = &r;
  check(uv_timer_start(&beat, on_beat, BEAT_MS, BEAT_MS), "uv_timer_start");

  switch (mode) {
  case ON_LOOP:
    printf("run 1: the work runs ON THE LOOP THREAD (a continuation, "
           "blocking)\n");
    f = future_then(future_delay(loop, START_MS), work_on_loop, NULL, &r);
    break;
  case STEPS_RESOLVED:
  case STEPS_YIELD:
    printf(mode == STEPS_RESOLVED
               ? "run 2: %d STEPS chained on resolved futures (still the "
                 "loop thread)\n"
               : "run 3: %d STEPS chained on future_yield (the loop runs "
                 "between steps)\n",
           STEPS);
    f = future_then(future_delay(loop, START_MS), work_step, NULL, &r);
    break;
  default:
    printf("run 4: the work runs ON THE THREAD POOL (future_work, "
           "non-blocking)\n");
    f = future_then(future_delay(loop, START_MS), start_pool_work, NULL, NULL);
    f = future_then(f, note_pool_span, NULL, &r);
  }
  if (f == NULL)
    check(UV_ENOMEM, "building the chain");
  check(future_wait(f, &result), "the work");
  future_result_release(&result);
  /* Let the heartbeat finish its run. */
  check(uv_run(loop, UV_RUN_DEFAULT), "uv_run");
  print_run(&r);
}

int main(void) {
  uv_loop_t loop;
  check(uv_loop_init(&loop), "uv_loop_init");
  printf("one column per %d ms: '|' a beat came, '.' no beat came, '#' the "
         "work ran\n",
         BEAT_MS);
  run(&loop, ON_LOOP);
  run(&loop, STEPS_RESOLVED);
  run(&loop, STEPS_YIELD);
  run(&loop, ON_POOL);
  check(future_loop_close(&loop), "future_loop_close");
  check(uv_loop_close(&loop), "uv_loop_close");
  return EXIT_SUCCESS;
}
