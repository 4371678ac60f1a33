/*
 * chain_loop, raw libuv: the floor for libfuture's chain_loop.
 *
 * What a hand-written asynchronous loop in callback style would be: each
 * step is a heap-allocated callback record ({next, function pointer, data,
 * value}) put on a run queue; running a step frees its record and, unless
 * the loop is done, allocates and queues the record of the next step (the
 * continuation chaining the next one). The queue is drained from a
 * uv_idle callback, in one pass that also runs the steps queued while it
 * runs, which is how libfuture runs its continuations too: so the floor
 * has the library's allocation pattern (one block per hop, freed after the
 * hop) and deferral, without what a future adds (reference counts,
 * adoption of the returned future, a result object per step).
 *
 * Usage: chain_loop_raw [n]   (default 1000000)
 */
#include "bench.h"

typedef struct step_s step_t;
typedef struct queue_s queue_t;

struct step_s {
  step_t *next;
  void (*fn)(queue_t *q, intptr_t value, void *data);
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

static void schedule(queue_t *q, void (*fn)(queue_t *, intptr_t, void *),
                     intptr_t value, void *data) {
  step_t *s = malloc(sizeof(*s));
  BENCH_CHECK(s != NULL, "malloc");
  s->next = NULL;
  s->fn = fn;
  s->data = data;
  s->value = value;
  if (q->tail != NULL)
    q->tail->next = s;
  else
    q->head = s;
  q->tail = s;
}

static void hop(queue_t *q, intptr_t v, void *data) {
  if (v >= q->n) {
    q->result = v;
    q->done = 1;
    return;
  }
  schedule(q, hop, v + 1, data);
}

static void drain(uv_idle_t *idle) {
  queue_t *q = idle->data;
  step_t *s;
  while ((s = q->head) != NULL) {
    q->head = s->next;
    if (q->head == NULL)
      q->tail = NULL;
    s->fn(q, s->value, s->data);
    free(s);
  }
  uv_idle_stop(idle);
  uv_close((uv_handle_t *)idle, NULL);
}

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n) {
  queue_t q;
  memset(&q, 0, sizeof(q));
  q.n = (intptr_t)n;
  uv_idle_init(loop, &q.idle);
  q.idle.data = &q;
  schedule(&q, hop, 0, NULL);
  uv_idle_start(&q.idle, drain);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(q.done, "loop finished");
  return q.result;
}

int main(int argc, char **argv) {
  bench_result_t r = {"chain_loop", "raw", 0, 0, 0, 0, 0, 0};
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
