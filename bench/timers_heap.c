/*
 * timers, hand-written libuv with a binary heap: the floor issue 14 set
 * for libfuture's timers (impl=heap). timers_wheel, the tightest floor
 * (impl=tight), keeps the timeouts in a timing wheel, as libfuture itself
 * has done since 0.2.0.
 *
 * What an expert would write by hand for a million pending timeouts, and
 * the design libfuture used before 0.2.0 (and still uses for delays a
 * second or more away), as Node.js does with its timer lists: one uv_timer_t for the whole program, armed for the
 * earliest timeout, and the timeouts in a binary heap of 32-byte entries
 * ({due, sequence, function, data}) in one growable array, ordered by due
 * time and then by creation (the order libuv fires its own timers in).
 * Adding a timeout is a sift-up in that array, which re-arms the libuv
 * timer only when the new entry is the earliest; when the timer fires,
 * its callback pops every entry that is due, calls its function, and arms
 * the timer again for the new earliest. A pending timeout costs its
 * 32-byte entry (up to 64 just after a doubling) and no handle; the
 * heap's walks stay in one array, most of them near its top.
 *
 * timers_raw, the callback-style reference, uses one heap-allocated
 * uv_timer_t per timeout instead (152 bytes in libuv's pointer-linked
 * heap), which is what a program with a few timeouts does.
 *
 * Usage: timers_heap [n]   (default 1000000)
 */
#include "bench.h"

typedef struct {
  uint64_t due; /* loop time, ms */
  uint64_t seq;
  void (*fn)(void *data);
  void *data;
} entry_t;

typedef struct {
  uv_timer_t timer;
  entry_t *heap;
  size_t len, cap;
  uint64_t seq;
  uint64_t armed; /* due time the timer is armed for, if active */
} timers_t;

static int before(const entry_t *a, const entry_t *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void timers_due(uv_timer_t *timer);

static void timers_arm(timers_t *t) {
  uint64_t due = t->heap[0].due, now = uv_now(t->timer.loop);
  t->armed = due;
  uv_timer_start(&t->timer, timers_due, due > now ? due - now : 0, 0);
}

/* Call fn(data) after `ms` milliseconds. */
static void timers_add(timers_t *t, uint64_t ms, void (*fn)(void *),
                       void *data) {
  entry_t x;
  size_t i;
  if (t->len == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->heap = realloc(t->heap, t->cap * sizeof(entry_t));
    BENCH_CHECK(t->heap != NULL, "realloc");
  }
  x.due = uv_now(t->timer.loop) + ms;
  x.seq = t->seq++;
  x.fn = fn;
  x.data = data;
  i = t->len++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(&x, &t->heap[parent]))
      break;
    t->heap[i] = t->heap[parent];
    i = parent;
  }
  t->heap[i] = x;
  if (i == 0 && (!uv_is_active((uv_handle_t *)&t->timer) || x.due < t->armed))
    timers_arm(t);
}

/* Take the earliest entry out of the heap. */
static entry_t timers_pop(timers_t *t) {
  entry_t top = t->heap[0], x;
  size_t i = 0, n = --t->len;
  if (n == 0)
    return top;
  x = t->heap[n];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && before(&t->heap[c + 1], &t->heap[c]))
      c++;
    if (!before(&t->heap[c], &x))
      break;
    t->heap[i] = t->heap[c];
    i = c;
  }
  t->heap[i] = x;
  return top;
}

static void timers_due(uv_timer_t *timer) {
  timers_t *t = timer->data;
  uint64_t now = uv_now(timer->loop);
  while (t->len > 0 && t->heap[0].due <= now) {
    entry_t e = timers_pop(t);
    e.fn(e.data); /* may add timeouts */
  }
  if (t->len > 0)
    timers_arm(t);
}

static void on_timeout(void *data) { (*(size_t *)data)++; }

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, size_t n,
                                           long *created_kib) {
  timers_t t;
  size_t i, fired = 0;
  memset(&t, 0, sizeof(t));
  uv_timer_init(loop, &t.timer);
  t.timer.data = &t;
  for (i = 0; i < n; i++)
    timers_add(&t, i % 1000, on_timeout, &fired);
  *created_kib = bench_maxrss_kib();
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(t.len == 0, "%zu timeouts left", t.len);
  free(t.heap);
  uv_close((uv_handle_t *)&t.timer, NULL);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  return fired;
}

int main(int argc, char **argv) {
  bench_result_t r = {"timers", "heap", 0, 0, 0, 0, 0, 1};
  uv_loop_t loop;
  double w0, c0;
  size_t got;

  r.n = bench_arg_n(argc, argv, 1000000);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");

  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  got = bench_run(&loop, r.n, &r.created_kib);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;

  BENCH_CHECK(got == r.n, "%zu of %zu timers fired", got, r.n);
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  bench_print(&r);
  return 0;
}
