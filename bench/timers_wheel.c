/*
 * timers, hand-written libuv with a timing wheel: the tightest floor for
 * libfuture's timers, whose delays wait in a wheel too (src/timer.c).
 *
 * One uv_timer_t for the whole program, armed for the earliest timeout; a
 * wheel of 1024 slots, one per millisecond, each a list of the timeouts
 * due then, in creation order (so that, for one due time, they fire in
 * the order libuv fires its own timers in); a bit per slot says which
 * hold timeouts, so that finding the earliest is a scan of 16 words. A
 * timeout is a 24-byte entry ({next, fn, data}) from a slab of entries
 * that fired ones go back to: adding one is an append, firing one a call.
 * This floor serves delays shorter than the wheel's turn (the workload's
 * are below 1000 ms); a general one would keep later ones in a heap, as
 * timers_heap does and as libfuture does, and move them into the wheel as
 * they come near.
 *
 * timers_heap is the floor the binary heap gives (libfuture's design
 * before 0.2.0); timers_raw the callback-style reference, a uv_timer_t
 * per timeout.
 *
 * Usage: timers_wheel [n]   (default 1000000)
 */
#include "bench.h"

#define WHEEL 1024u
#define WHEEL_MASK (WHEEL - 1)
#define SLAB 4096

typedef struct entry_s {
  struct entry_s *next;
  void (*fn)(void *data);
  void *data;
} entry_t;

typedef struct slab_s {
  struct slab_s *next;
  entry_t entries[SLAB];
} slab_t;

typedef struct {
  uv_timer_t timer;
  entry_t *head[WHEEL], *tail[WHEEL];
  uint64_t used[WHEEL / 64];
  uint64_t base;  /* first ms not processed: timeouts in [base, base+WHEEL) */
  size_t pending;
  uint64_t armed; /* due time the timer is armed for, if active */
  entry_t *free;  /* fired entries, for reuse */
  slab_t *slabs;
  size_t fresh;   /* entries of the newest slab not handed out yet */
} timers_t;

static void timers_due(uv_timer_t *timer);

/* The due time of the first slot holding timeouts (pending > 0). */
static uint64_t timers_first(const timers_t *t) {
  unsigned b = (unsigned)(t->base & WHEEL_MASK), k;
  for (k = 0; k <= WHEEL / 64; k++) {
    unsigned word = (b / 64 + k) % (WHEEL / 64);
    uint64_t bits = t->used[word];
    if (k == 0)
      bits &= ~(uint64_t)0 << (b % 64);
    else if (k == WHEEL / 64)
      bits &= ((uint64_t)1 << (b % 64)) - 1;
    if (bits != 0) {
      unsigned s = word * 64 + (unsigned)__builtin_ctzll(bits);
      return t->base + ((s - b) & WHEEL_MASK);
    }
  }
  return UINT64_MAX;
}

static void timers_arm(timers_t *t, uint64_t due) {
  uint64_t now = uv_now(t->timer.loop);
  t->armed = due;
  uv_timer_start(&t->timer, timers_due, due > now ? due - now : 0, 0);
}

/* Call fn(data) after `ms` milliseconds (ms < WHEEL). */
static void timers_add(timers_t *t, uint64_t ms, void (*fn)(void *),
                       void *data) {
  uint64_t now = uv_now(t->timer.loop), due;
  unsigned s;
  entry_t *e = t->free;
  if (e != NULL) {
    t->free = e->next;
  } else {
    if (t->slabs == NULL || t->fresh == SLAB) {
      slab_t *slab = malloc(sizeof(*slab));
      BENCH_CHECK(slab != NULL, "malloc");
      slab->next = t->slabs;
      t->slabs = slab;
      t->fresh = 0;
    }
    e = &t->slabs->entries[t->fresh++];
  }
  if (t->pending == 0 && now > t->base)
    t->base = now; /* an empty wheel catches up with the loop's time */
  due = now + ms < t->base ? t->base : now + ms;
  BENCH_CHECK(due - t->base < WHEEL, "a timeout of %llu ms is too long",
              (unsigned long long)ms);
  e->next = NULL;
  e->fn = fn;
  e->data = data;
  s = (unsigned)(due & WHEEL_MASK);
  if (t->tail[s] != NULL)
    t->tail[s]->next = e;
  else
    t->head[s] = e;
  t->tail[s] = e;
  t->used[s / 64] |= (uint64_t)1 << (s % 64);
  t->pending++;
  if (!uv_is_active((uv_handle_t *)&t->timer) || due < t->armed)
    timers_arm(t, due);
}

static void timers_due(uv_timer_t *timer) {
  timers_t *t = timer->data;
  uint64_t now = uv_now(timer->loop), due;
  while (t->pending > 0 && (due = timers_first(t)) <= now) {
    unsigned s = (unsigned)(due & WHEEL_MASK);
    entry_t *e = t->head[s];
    t->head[s] = t->tail[s] = NULL;
    t->used[s / 64] &= ~((uint64_t)1 << (s % 64));
    t->base = due + 1;
    while (e != NULL) {
      entry_t *next = e->next;
      t->pending--;
      e->fn(e->data);
      e->next = t->free;
      t->free = e;
      e = next;
    }
  }
  if (now + 1 > t->base)
    t->base = now + 1;
  if (t->pending > 0)
    timers_arm(t, timers_first(t));
}

static void on_timeout(void *data) { (*(size_t *)data)++; }

__attribute__((noinline)) size_t bench_run(uv_loop_t *loop, size_t n,
                                           long *created_kib) {
  static timers_t t;
  size_t i, fired = 0;
  memset(&t, 0, sizeof(t));
  uv_timer_init(loop, &t.timer);
  t.timer.data = &t;
  t.base = uv_now(loop);
  for (i = 0; i < n; i++)
    timers_add(&t, i % 1000, on_timeout, &fired);
  *created_kib = bench_maxrss_kib();
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  BENCH_CHECK(t.pending == 0, "%zu timeouts left", t.pending);
  while (t.slabs != NULL) {
    slab_t *next = t.slabs->next;
    free(t.slabs);
    t.slabs = next;
  }
  uv_close((uv_handle_t *)&t.timer, NULL);
  BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "uv_run");
  return fired;
}

int main(int argc, char **argv) {
  bench_result_t r = {"timers", "tight", 0, 0, 0, 0, 0, 1};
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
