/*
 * chain_built, raw libuv: the floor for libfuture's chain_built.
 *
 * What a hand-written callback chain would be: one heap-allocated callback
 * record per step ({next, function pointer, data}), linked in a list that
 * hangs from the pending "root" (the list head). Resolving the root does
 * not run the callbacks synchronously (libfuture never does either): it
 * starts a uv_idle handle, whose callback walks the list once, calling
 * each record's function with the previous value and freeing the record as
 * soon as it has run. That is the same allocation pattern (one block per
 * link, allocated up front, freed when the link has passed its value on)
 * and the same deferral (one loop callback drains everything) as the
 * library, without anything a future adds: no reference counts, no state,
 * no result object per step, no error path.
 *
 * Usage: chain_built_raw [n]   (default 1000000)
 */
#include "bench.h"

typedef struct link_s {
  struct link_s *next;
  intptr_t (*fn)(intptr_t value, void *data);
  void *data;
} link_t;

typedef struct {
  uv_idle_t idle;
  link_t *head;
  intptr_t value;
  int done;
} root_t;

static intptr_t add1(intptr_t value, void *data) {
  (void)data;
  return value + 1;
}

static void run_chain(uv_idle_t *idle) {
  root_t *root = idle->data;
  link_t *l = root->head;
  intptr_t v = root->value;
  while (l != NULL) {
    link_t *next = l->next;
    v = l->fn(v, l->data);
    free(l);
    l = next;
  }
  root->head = NULL;
  root->value = v;
  root->done = 1;
  uv_idle_stop(idle);
  uv_close((uv_handle_t *)idle, NULL);
}

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n,
                                             long *created_kib) {
  root_t root;
  link_t **tail = &root.head;
  size_t i;

  memset(&root, 0, sizeof(root));
  for (i = 0; i < n; i++) {
    link_t *l = malloc(sizeof(*l));
    BENCH_CHECK(l != NULL, "malloc");
    l->next = NULL;
    l->fn = add1;
    l->data = NULL;
    *tail = l;
    tail = &l->next;
  }
  *created_kib = bench_maxrss_kib();

  /* Resolve the root with 0: schedule the chain on the loop. */
  root.value = 0;
  uv_idle_init(loop, &root.idle);
  root.idle.data = &root;
  uv_idle_start(&root.idle, run_chain);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(root.done, "chain ran");
  return root.value;
}

int main(int argc, char **argv) {
  bench_result_t r = {"chain_built", "raw", 0, 0, 0, 0, 0, 0};
  uv_loop_t loop;
  double w0, c0;
  intptr_t v;

  r.n = bench_arg_n(argc, argv, 1000000);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  v = bench_run(&loop, r.n, &r.created_kib);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;

  BENCH_CHECK(v == (intptr_t)r.n, "chain value %ld, expected %zu", (long)v,
              r.n);
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
