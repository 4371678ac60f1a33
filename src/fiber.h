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

/* Get a stack (from the loop's pool when it has one of that size, else
 * mapped) and make `fb` ready to run `entry(fb)` at its first resume.
 * 0, or UV_ENOMEM (mapping refused: out of memory or of mappings). */
int future__fiber_init(future__loop_t *lp, future__fiber_t *fb,
                       size_t stack_size, unsigned flags,
                       void (*entry)(future__fiber_t *fb));
/* From the loop's thread, outside the fiber: run it until it suspends
 * itself or its entry returns. */
void future__fiber_resume(future__fiber_t *fb);
/* From inside the fiber: back to whoever resumed it, until the next
 * resume. */
void future__fiber_suspend(future__fiber_t *fb);
/* The fiber running on this thread, or NULL. */
future__fiber_t *future__fiber_current(void);
/* After its entry has returned (or if it never ran): give the stack back
 * to the loop's pool, or unmap it. */
void future__fiber_release(future__loop_t *lp, future__fiber_t *fb);
/* Unmap the loop's pooled stacks (teardown). */
void future__stack_pool_destroy(future__loop_t *lp);

/* async.c: cancel every fiber of the loop (future_loop_close). */
void future__async_cancel_all(future__loop_t *lp);

#pragma GCC visibility pop

#endif /* FUTURE_FIBER_H */
