/*
 * switch_cost: what one fiber switch costs, against the floor of a
 * function call. Not a workload of its own: it explains await_loop.
 *
 * The switch (future__fiber_switch, assembly in src/fiber.c) is internal
 * to the library (hidden), so this program is built from src/fiber.c
 * itself (Makefile.am compiles that file into it, with the library's own
 * flags and config.h): what runs here is the library's switch, not a copy.
 * It needs no loop: a zeroed future__loop_t is all future__fiber_init
 * touches (its pool of stacks).
 *
 * Three loops of n iterations each, timed one after the other:
 *
 *   call    a call to a function that is not inlined and takes the
 *           switch's two arguments (an empty asm keeps the call from being
 *           removed): the floor, one call and one return.
 *   switch  one round trip of the bare switch: future__fiber_switch from
 *           this stack to a fiber's, and the fiber's future__fiber_switch
 *           straight back. Two switches per iteration.
 *   fiber   one round trip as future_await makes it: future__fiber_resume
 *           from this stack, future__fiber_suspend from the fiber (the
 *           same two switches, plus the bookkeeping of which fiber runs,
 *           a thread-local variable).
 *
 * Each loop prints its own result line (bench.h's format), with
 * workload=switch_cost and impl=call, switch or fiber; ns_per_op is per
 * iteration (per call; per round trip, that is per two switches) and
 * includes the loop's own increment and branch, alike in all three.
 *
 * Usage: switch_cost [n [call|switch|fiber]]   (default n 10000000, all
 * three). With a mode, only that loop runs (bench/run.sh --callgrind runs
 * each under callgrind, counting inside bench_run). Where there is no
 * bare switch to time (ucontext's instead of the assembly one, or a build
 * with the address or thread sanitizer), `switch` is left out.
 */
#include "fiber.h"

#include "bench.h"

/* The bare switch: only with the assembly one, and not under the address
 * or thread sanitizer, which must be told of every switch (fiber.c's
 * resume and suspend tell them; the bare switch does not). */
#define BARE_SWITCH FUTURE__FIBER_ASM
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#undef BARE_SWITCH
#define BARE_SWITCH 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#undef BARE_SWITCH
#define BARE_SWITCH 0
#endif
#endif

#if BARE_SWITCH
/* In src/fiber.c; not in fiber.h, since only fiber.c calls it. */
void future__fiber_switch(void **save, void *load);
#endif

enum mode { MODE_CALL, MODE_SWITCH, MODE_FIBER };

static const char *const mode_names[] = {"call", "switch", "fiber"};

static future__loop_t lp; /* zeroed: no pooled stack yet */
static future__fiber_t fb;
static volatile int stop;
static enum mode fiber_mode;

__attribute__((noinline)) void callee(void *save, void *load) {
  __asm__ volatile("" : : "r"(save), "r"(load) : "memory");
}

/* The fiber: switch straight back each time it is switched to, until
 * told to stop; then its entry returns (fiber.c switches out a last
 * time). */
static void entry(future__fiber_t *self) {
  while (!stop) {
#if BARE_SWITCH
    if (fiber_mode == MODE_SWITCH) {
      future__fiber_switch(&self->self.sp, self->caller.sp);
      continue;
    }
#endif
    future__fiber_suspend(self);
  }
}

/* The measured region; not inlined so that `make bench-callgrind` can
 * count instructions in it alone (--toggle-collect=bench_run). */
__attribute__((noinline)) void bench_run(enum mode m, size_t n) {
  size_t i;
  switch (m) {
  case MODE_CALL:
    for (i = 0; i < n; i++)
      callee(&fb.caller, &fb.self);
    break;
  case MODE_SWITCH:
#if BARE_SWITCH
    for (i = 0; i < n; i++)
      future__fiber_switch(&fb.caller.sp, fb.self.sp);
#endif
    break;
  case MODE_FIBER:
    for (i = 0; i < n; i++)
      future__fiber_resume(&fb);
    break;
  }
}

static void measure(enum mode m, size_t n) {
  bench_result_t r = {"switch_cost", mode_names[m], n, 0, 0, 0, 0, 0};
  double w0, c0;

  if (m != MODE_CALL) {
    /* A fiber, started: it suspends itself at once, ready to be switched
     * to. */
    stop = 0;
    fiber_mode = m;
    BENCH_CHECK(future__fiber_init(&lp, &fb, 0, 0, entry) == 0,
                "future__fiber_init");
    future__fiber_resume(&fb);
  }
  r.baseline_kib = bench_rss_kib();
  w0 = bench_wall();
  c0 = bench_cpu();
  bench_run(m, n);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.created_kib = bench_maxrss_kib();
  if (m != MODE_CALL) {
    BENCH_CHECK(future__fiber_current() == NULL, "back on the main stack");
    stop = 1;
    future__fiber_resume(&fb); /* its entry returns */
    future__fiber_release(&lp, &fb);
    future__stack_pool_destroy(&lp);
  }
  /* Nothing grows: report 0 bytes per op, not the noise of the RSS. */
  r.created_kib = r.baseline_kib;
  bench_print(&r);
}

int main(int argc, char **argv) {
  size_t n = bench_arg_n(argc, argv, 10000000);
  int only = -1, m;

  if (argc > 2) {
    for (m = MODE_CALL; m <= MODE_FIBER; m++)
      if (strcmp(argv[2], mode_names[m]) == 0)
        only = m;
    if (only < 0) {
      fprintf(stderr, "usage: %s [n [call|switch|fiber]]\n", argv[0]);
      return 2;
    }
  }
#if !BARE_SWITCH
  if (only == MODE_SWITCH) {
    fprintf(stderr, "switch_cost: no bare switch in this build (ucontext, "
                    "or a sanitizer); try fiber\n");
    return 2;
  }
#endif
  for (m = MODE_CALL; m <= MODE_FIBER; m++) {
    if (only >= 0 && m != only)
      continue;
#if !BARE_SWITCH
    if (m == MODE_SWITCH)
      continue;
#endif
    measure((enum mode)m, n);
  }
  return 0;
}
