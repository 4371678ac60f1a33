/*
 * chain_loop, tightest hand-written libuv: the honest floor for libfuture's
 * chain_loop.
 *
 * What an expert would write by hand for an asynchronous loop: a run
 * queue of intrusive step records ({next, function pointer, data, value}),
 * drained from a uv_idle callback in one pass that also runs the steps
 * queued while it runs (as libfuture runs its continuations), and one step
 * record for the whole loop, which each hop updates with the next value
 * and queues again, the way fs_fanout_raw reuses one uv_fs_t from request
 * to request. A hop then costs a few instructions and no allocation:
 * chain_loop_raw, the callback-style reference, mallocs a new record every
 * hop and frees the old one, and most of its instructions are glibc's.
 *
 * bench/loops_tight.c includes this file (bench_run and main renamed)
 * to run the same code on several loops at once.
 *
 * Usage: chain_loop_tight [n]   (default 1000000)
 */
#include "bench.h"

typedef struct step_s step_t;
typedef struct queue_s queue_t;

struct step_s {
  step_t *next;
  void (*fn)(queue_t *q, step_t *s);
  void *data;
  intptr_t value;
};

struct queue_s {
  uv_idle_t idle;
  step_t *head, *tail;
  intptr_t n;
  intptr_t result;
  int done;
};

/* Queue step `s`, which is not queued (its owner keeps its memory). */
static void schedule(queue_t *q, step_t *s) {
  s->next = NULL;
  if (q->tail != NULL)
    q->tail->next = s;
  else
    q->head = s;
  q->tail = s;
}

static void hop(queue_t *q, step_t *s) {
  intptr_t v = s->value;
  if (v >= q->n) {
    q->result = v;
    q->done = 1;
    return;
  }
  s->value = v + 1;
  schedule(q, s);
}

static void drain(uv_idle_t *idle) {
  queue_t *q = idle->data;
  step_t *s;
  while ((s = q->head) != NULL) {
    q->head = s->next;
    if (q->head == NULL)
      q->tail = NULL;
    s->fn(q, s);
  }
  uv_idle_stop(idle);
  uv_close((uv_handle_t *)idle, NULL);
}

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n) {
  queue_t q;
  step_t step;
  memset(&q, 0, sizeof(q));
  q.n = (intptr_t)n;
  uv_idle_init(loop, &q.idle);
  q.idle.data = &q;
  step.fn = hop;
  step.data = NULL;
  step.value = 0;
  schedule(&q, &step);
  uv_idle_start(&q.idle, drain);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(q.done, "loop finished");
  return q.result;
}

int main(int argc, char **argv) {
  bench_result_t r = {"chain_loop", "tight", 0, 0, 0, 0, 0, 0};
  uv_loop_t loop;
  double w0, c0;
  intptr_t v;

  r.n = bench_arg_n(argc, argv, 1000000);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  v = bench_run(&loop, r.n);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.created_kib = bench_maxrss_kib();

  BENCH_CHECK(v == (intptr_t)r.n, "loop value %ld, expected %zu", (long)v,
              r.n);
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
