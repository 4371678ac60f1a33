/*
 * Private to libfuture: the machine under future_async (fiber.c), the
 * stacks and the switch between them, and what the tools are told.
 * async.c builds the futures on it.
 */
#ifndef FUTURE_FIBER_H
#define FUTURE_FIBER_H

#include "internal.h"

/* Which switch: the assembly one where there is one, ucontext elsewhere
 * (or when FUTURE_FIBER_UCONTEXT is defined, to test the fallback). */
#if !defined(FUTURE_FIBER_UCONTEXT) && defined(__ELF__) &&                    \
    (defined(__x86_64__) || defined(__aarch64__))
#define FUTURE__FIBER_ASM 1
#else
#define FUTURE__FIBER_ASM 0
#include <ucontext.h>
#endif

/* The tools that must be told of stacks and switches (FUTURE__ASAN and
 * FUTURE__TSAN come from internal.h). */
#ifdef FUTURE__ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old,
                                     size_t *size_old);
#endif
#ifdef FUTURE__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#pragma GCC visibility push(hidden)

/* A fiber's stack: `size` usable bytes below `hi`, above a guard page when
 * `guarded`, all in one mapping. */
typedef struct {
  char *map;          /* the mapping: guard page (if any), then the stack */
  size_t map_size;
  char *lo, *hi;      /* the usable stack, [lo, hi) */
  unsigned vg_id;     /* valgrind's stack id */
} future__stack_t;

/* One side of a switch: where a suspended context resumes. */
typedef struct {
#if FUTURE__FIBER_ASM
  void *sp; /* its saved registers are on its stack, at sp */
#else
  ucontext_t uc;
#endif
} future__ctx_t;

typedef struct future__fiber_s {
  future__ctx_t self;    /* the fiber, while suspended */
  future__ctx_t caller;  /* whoever resumed it, while it runs */
  future__stack_t stack;
  void (*entry)(struct future__fiber_s *fb); /* run on the fiber */
  struct future__fiber_s *outer; /* the fiber running before a resume */
  /* AddressSanitizer: the fake stacks of each side while switched out,
   * and the caller's stack bounds (learnt at each switch in). */
  void *asan_self_fake, *asan_caller_fake;
  const void *caller_bottom;
  size_t caller_size;
  /* ThreadSanitizer's fiber, and the caller's. */
  void *tsan_self, *tsan_caller;
} future__fiber_t;

/* The fiber running on this thread, or NULL. initial-exec: no
 * __tls_get_addr call on every switch. */
extern _Thread_local future__fiber_t *future__fiber_running
    __attribute__((tls_model("initial-exec")));

#if FUTURE__FIBER_ASM
/* Save the preserved registers on the current stack, store the stack
 * pointer in *save, switch to the stack `load` and restore its registers:
 * returns where that context called this (or, for a new fiber, into its
 * start). Assembly, in fiber.c. */
void future__fiber_switch(void **save, void *load);
static inline void future__ctx_switch(future__ctx_t *save,
                                      const future__ctx_t *load) {
  future__fiber_switch(&save->sp, load->sp);
}
#else
/* The fiber being entered for the first time (makecontext passes no
 * pointer). */
extern _Thread_local future__fiber_t *future__fiber_entering;
static inline void future__ctx_switch(future__ctx_t *save,
                                      const future__ctx_t *load) {
  swapcontext(&save->uc, &load->uc);
}
#endif

/* The switches are inline, so that the calls around a switch (whose
 * returns the processor mispredicts after it) are as few as can be. */

/* From the loop's thread, outside the fiber: run it until it suspends
 * itself or its entry returns. */
static inline void future__fiber_resume(future__fiber_t *fb) {
  fb->outer = future__fiber_running;
  future__fiber_running = fb;
#if !FUTURE__FIBER_ASM
  future__fiber_entering = fb;
#endif
#ifdef FUTURE__TSAN
  fb->tsan_caller = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(fb->tsan_self, 0);
#endif
#ifdef FUTURE__ASAN
  __sanitizer_start_switch_fiber(&fb->asan_caller_fake, fb->stack.lo,
                                 (size_t)(fb->stack.hi - fb->stack.lo));
#endif
  future__ctx_switch(&fb->caller, &fb->self);
#ifdef FUTURE__ASAN
  __sanitizer_finish_switch_fiber(fb->asan_caller_fake, NULL, NULL);
#endif
  future__fiber_running = fb->outer;
}

/* Back out of the fiber, to whoever resumed it; `last` when it will never
 * be resumed (its entry has returned): AddressSanitizer then lets its
 * fake stack go. */
static inline void future__fiber_switch_out(future__fiber_t *fb, int last) {
#ifdef FUTURE__TSAN
  __tsan_switch_to_fiber(fb->tsan_caller, 0);
#endif
#ifdef FUTURE__ASAN
  __sanitizer_start_switch_fiber(last ? NULL : &fb->asan_self_fake,
                                 fb->caller_bottom, fb->caller_size);
#else
  (void)last;
#endif
  future__ctx_switch(&fb->self, &fb->caller);
  /* Resumed: the caller may be another stack than last time. */
#ifdef FUTURE__ASAN
  __sanitizer_finish_switch_fiber(fb->asan_self_fake, &fb->caller_bottom,
                                  &fb->caller_size);
#endif
}

/* From inside the fiber: back to whoever resumed it, until the next
 * resume. */
static inline void future__fiber_suspend(future__fiber_t *fb) {
  future__fiber_switch_out(fb, 0);
}

/* The fiber running on this thread, or NULL. */
static inline future__fiber_t *future__fiber_current(void) {
  return future__fiber_running;
}

/* Get a stack (from the loop's pool when it has one of that size, else
 * mapped) and make `fb` ready to run `entry(fb)` at its first resume.
 * 0, or UV_ENOMEM (mapping refused: out of memory or of mappings). */
int future__fiber_init(future__loop_t *lp, future__fiber_t *fb,
                       size_t stack_size, unsigned flags,
                       void (*entry)(future__fiber_t *fb));
/* After its entry has returned (or if it never ran): give the stack back
 * to the loop's pool, or unmap it. */
void future__fiber_release(future__loop_t *lp, future__fiber_t *fb);
/* Unmap the loop's pooled stacks (teardown). */
void future__stack_pool_destroy(future__loop_t *lp);

/* async.c: cancel every fiber of the loop (future_loop_close). */
void future__async_cancel_all(future__loop_t *lp);

#pragma GCC visibility pop

#endif /* FUTURE_FIBER_H */
