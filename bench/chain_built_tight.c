/*
 * chain_built, tightest hand-written libuv: the honest floor for
 * libfuture's chain_built.
 *
 * What an expert would write by hand for "n callbacks registered on a
 * pending value, run in order once it arrives": the callbacks are 16-byte
 * {function, data} entries in one growable array (doubled when full) that
 * hangs from the pending root, so that registering one is a store at the
 * end of the array and costs no allocation of its own. Resolving the root
 * does not run them synchronously (libfuture never does either): it starts
 * a uv_idle handle, whose callback walks the array once, calling each
 * entry's function with the previous value, then frees the array. So it
 * keeps the library's deferral (one loop callback drains everything) but
 * none of its per-link cost: no block per link (chain_built_raw's malloc
 * and free are nine tenths of its instructions), no reference counts, no
 * state, no result object per step, no error path. A link costs 16 bytes
 * (up to 32 just after a doubling) and a few instructions.
 *
 * chain_built_raw, the callback-style reference, allocates one record per
 * link instead, as the library allocates one future per link.
 *
 * Usage: chain_built_tight [n]   (default 1000000)
 */
#include "bench.h"

typedef struct {
  intptr_t (*fn)(intptr_t value, void *data);
  void *data;
} entry_t;

typedef struct {
  uv_idle_t idle;
  entry_t *entries;
  size_t len, cap;
  intptr_t value;
  int done;
} root_t;

static intptr_t add1(intptr_t value, void *data) {
  (void)data;
  return value + 1;
}

/* Register a callback on the pending root. */
static void root_then(root_t *root, intptr_t (*fn)(intptr_t, void *),
                      void *data) {
  if (root->len == root->cap) {
    root->cap = root->cap ? root->cap * 2 : 64;
    root->entries = realloc(root->entries, root->cap * sizeof(entry_t));
    BENCH_CHECK(root->entries != NULL, "realloc");
  }
  root->entries[root->len].fn = fn;
  root->entries[root->len].data = data;
  root->len++;
}

static void run_chain(uv_idle_t *idle) {
  root_t *root = idle->data;
  const entry_t *e = root->entries, *end = e + root->len;
  intptr_t v = root->value;
  for (; e < end; e++)
    v = e->fn(v, e->data);
  free(root->entries);
  root->entries = NULL;
  root->len = root->cap = 0;
  root->value = v;
  root->done = 1;
  uv_idle_stop(idle);
  uv_close((uv_handle_t *)idle, NULL);
}

__attribute__((noinline)) intptr_t bench_run(uv_loop_t *loop, size_t n,
                                             long *created_kib) {
  root_t root;
  size_t i;

  memset(&root, 0, sizeof(root));
  for (i = 0; i < n; i++)
    root_then(&root, add1, NULL);
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
  bench_result_t r = {"chain_built", "tight", 0, 0, 0, 0, 0, 0};
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
