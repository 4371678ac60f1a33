/*
 * Fibers: stacks of their own, and the switch between the loop's thread's
 * stack and theirs. async.c builds future_async and future_await on this.
 *
 * The switch (future__fiber_switch, assembly below) saves the registers
 * that the calling convention says a call preserves on the current stack,
 * stores the stack pointer, loads the other one and restores its
 * registers from it: a function call that returns on another stack. That
 * is all a switch between two points of one thread needs; ucontext's
 * swapcontext also saves the signal mask, a system call per switch.
 *
 * A new fiber's stack is laid out as if it had been switched away from
 * just before its first instruction: the switch "returns" into
 * future__fiber_start, which calls fiber_entry with the fiber.
 *
 * The tools are told: valgrind of each stack (so that it does not take a
 * switch for a huge stack frame), AddressSanitizer of each switch (so
 * that it knows which stack is in use, and its fake stacks follow), and
 * ThreadSanitizer of each fiber (its shadow call stack is per fiber).
 */
#include "fiber.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

/* Stacks of the default size kept per loop for reuse. */
#define STACK_POOL_MAX 64

_Thread_local future__fiber_t *future__fiber_running;
#if !FUTURE__FIBER_ASM
_Thread_local future__fiber_t *future__fiber_entering;
#endif

future__fiber_t *future__fiber_hide(void) {
  future__fiber_t *fb = future__fiber_running;
  future__fiber_running = NULL;
  return fb;
}

void future__fiber_show(future__fiber_t *fb) { future__fiber_running = fb; }

static void fiber_entry(future__fiber_t *fb);

/* ---- the switch ---- */

#if FUTURE__FIBER_ASM
void future__fiber_start(void);

#if defined(__x86_64__)
/* System V AMD64: rbx, rbp, r12-r15, and the control words of the SSE
 * and x87 units (MXCSR, FPU control word) are preserved across calls.
 * The frame the switch leaves: the control words, r15-r12, rbx, rbp, then
 * the address to go back to. */
__asm__(".text\n"
        ".globl future__fiber_switch\n"
        ".hidden future__fiber_switch\n"
        ".type future__fiber_switch,@function\n"
        ".p2align 4\n"
        "future__fiber_switch:\n"
        "  .cfi_startproc\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        /* pop and jump rather than ret: the return predictor's guess (the
         * other stack's caller) is wrong after every switch, and a missed
         * return costs more than an indirect jump. */
        "  popq %rcx\n"
        "  jmpq *%rcx\n"
        "  .cfi_endproc\n"
        ".size future__fiber_switch,.-future__fiber_switch\n"
        /* The first "return" of a new fiber lands here, with the fiber in
         * r12 and fiber_entry in r13. The return address is undefined, so
         * that debuggers end a backtrace here. */
        ".globl future__fiber_start\n"
        ".hidden future__fiber_start\n"
        ".type future__fiber_start,@function\n"
        ".p2align 4\n"
        "future__fiber_start:\n"
        "  .cfi_startproc\n"
        "  .cfi_undefined rip\n"
        "  movq %r12, %rdi\n"
        "  callq *%r13\n"
        "  ud2\n"
        "  .cfi_endproc\n"
        ".size future__fiber_start,.-future__fiber_start\n");

/* The frame that future__fiber_switch pops: the control words, r15-r12,
 * rbx, rbp, then the address it returns to. */
static void *frame_new(future__fiber_t *fb) {
  uint64_t *sp = (uint64_t *)(void *)fb->stack.hi;
  /* At future__fiber_start's first instruction the stack pointer must be
   * 16-byte aligned (it then calls, as a function entered by a call
   * would after its own push of rbp). */
  sp -= 2;                                   /* hi is page aligned */
  *--sp = (uint64_t)(uintptr_t)future__fiber_start;
  *--sp = 0;                                 /* rbp: end of frame chain */
  *--sp = 0;                                 /* rbx */
  *--sp = (uint64_t)(uintptr_t)fb;           /* r12 */
  *--sp = (uint64_t)(uintptr_t)fiber_entry;  /* r13 */
  *--sp = 0;                                 /* r14 */
  *--sp = 0;                                 /* r15 */
  /* MXCSR 0x1f80 (all exceptions masked, round to nearest) and x87
   * control word 0x037f: the values a process starts with. */
  *--sp = 0x1f80u | ((uint64_t)0x037fu << 32);
  return sp;
}
#elif defined(__aarch64__)
/* AAPCS64: x19-x28, the frame pointer x29, the link register x30 and the
 * low halves of v8-v15 (d8-d15) are preserved across calls. */
__asm__(".text\n"
        ".globl future__fiber_switch\n"
        ".hidden future__fiber_switch\n"
        ".type future__fiber_switch,%function\n"
        ".p2align 4\n"
        "future__fiber_switch:\n"
        "  .cfi_startproc\n"
        "  sub sp, sp, #160\n"
        "  stp x19, x20, [sp, #0]\n"
        "  stp x21, x22, [sp, #16]\n"
        "  stp x23, x24, [sp, #32]\n"
        "  stp x25, x26, [sp, #48]\n"
        "  stp x27, x28, [sp, #64]\n"
        "  stp x29, x30, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  mov x2, sp\n"
        "  str x2, [x0]\n"
        "  mov sp, x1\n"
        "  ldp x19, x20, [sp, #0]\n"
        "  ldp x21, x22, [sp, #16]\n"
        "  ldp x23, x24, [sp, #32]\n"
        "  ldp x25, x26, [sp, #48]\n"
        "  ldp x27, x28, [sp, #64]\n"
        "  ldp x29, x30, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  add sp, sp, #160\n"
        "  ret\n"
        "  .cfi_endproc\n"
        ".size future__fiber_switch,.-future__fiber_switch\n"
        /* A new fiber's first "return": the fiber in x19, fiber_entry in
         * x20; the return address is undefined for debuggers. */
        ".globl future__fiber_start\n"
        ".hidden future__fiber_start\n"
        ".type future__fiber_start,%function\n"
        ".p2align 4\n"
        "future__fiber_start:\n"
        "  .cfi_startproc\n"
        "  .cfi_undefined x30\n"
        "  mov x0, x19\n"
        "  blr x20\n"
        "  brk #0\n"
        "  .cfi_endproc\n"
        ".size future__fiber_start,.-future__fiber_start\n");

static void *frame_new(future__fiber_t *fb) {
  uint64_t *sp = (uint64_t *)(void *)fb->stack.hi - 20; /* 160 bytes */
  memset(sp, 0, 160);
  sp[0] = (uint64_t)(uintptr_t)fb;          /* x19 */
  sp[1] = (uint64_t)(uintptr_t)fiber_entry; /* x20 */
  sp[11] = (uint64_t)(uintptr_t)future__fiber_start; /* x30 */
  return sp;
}
#endif

static int ctx_make(future__fiber_t *fb) {
  fb->self.sp = frame_new(fb);
  return 0;
}
#else /* ucontext */
/* makecontext passes int arguments only: the fiber being entered is
 * handed over in future__fiber_entering instead. */
static void uc_entry(void) { fiber_entry(future__fiber_entering); }

static int ctx_make(future__fiber_t *fb) {
  if (getcontext(&fb->self.uc) != 0)
    return UV_ENOMEM;
  fb->self.uc.uc_stack.ss_sp = fb->stack.lo;
  fb->self.uc.uc_stack.ss_size = (size_t)(fb->stack.hi - fb->stack.lo);
  fb->self.uc.uc_link = NULL;
  makecontext(&fb->self.uc, uc_entry, 0);
  return 0;
}
#endif

static void fiber_entry(future__fiber_t *fb) {
#ifdef FUTURE__ASAN
  __sanitizer_finish_switch_fiber(NULL, &fb->caller_bottom, &fb->caller_size);
#endif
  fb->entry(fb);
  future__fiber_switch_out(fb, 1);
  abort(); /* never resumed after its entry returned */
}

/* ---- stacks ---- */

static size_t page_size(void) {
  static size_t page;
  if (page == 0) {
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? (size_t)p : 4096;
  }
  return page;
}

/* A pooled stack keeps its description at its own top. */
typedef struct pooled_s {
  struct pooled_s *next;
  future__stack_t stack;
} pooled_t;

static int stack_map(future__stack_t *st, size_t size, int guarded) {
  size_t page = page_size(), guard = guarded ? page : 0;
  char *map;
  map = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
#ifdef MAP_STACK
                 | MAP_STACK
#endif
             ,
             -1, 0);
  if (map == MAP_FAILED)
    return UV_ENOMEM;
  if (guard != 0 && mprotect(map, guard, PROT_NONE) != 0) {
    munmap(map, size + guard);
    return UV_ENOMEM; /* splitting the mapping needs one more */
  }
  st->map = map;
  st->map_size = size + guard;
  st->lo = map + guard;
  st->hi = map + guard + size;
  st->vg_id = VALGRIND_STACK_REGISTER(st->lo, st->hi);
  return 0;
}

static void stack_unmap(future__stack_t *st) {
  VALGRIND_STACK_DEREGISTER(st->vg_id);
  munmap(st->map, st->map_size);
}

static int pool_fits(const future__stack_t *st) {
  return st->map_size == FUTURE_ASYNC_STACK_DEFAULT + page_size() &&
         st->lo != st->map;
}

int future__fiber_init(future__loop_t *lp, future__fiber_t *fb,
                       size_t stack_size, unsigned flags,
                       void (*entry)(future__fiber_t *fb)) {
  size_t page = page_size();
  int guarded = !(flags & FUTURE_ASYNC_NO_GUARD);
  memset(fb, 0, sizeof(*fb));
  if (stack_size == 0)
    stack_size = FUTURE_ASYNC_STACK_DEFAULT;
  if (stack_size < FUTURE_ASYNC_STACK_MIN)
    stack_size = FUTURE_ASYNC_STACK_MIN;
  if (stack_size > SIZE_MAX / 2)
    return UV_ENOMEM;
  stack_size = (stack_size + page - 1) / page * page;
  if (guarded && stack_size == FUTURE_ASYNC_STACK_DEFAULT &&
      lp->stack_pool != NULL) {
    pooled_t *p = lp->stack_pool;
    lp->stack_pool = p->next;
    lp->nstack_pool--;
    fb->stack = p->stack;
  } else {
    int rc = stack_map(&fb->stack, stack_size, guarded);
    if (rc != 0)
      return rc;
  }
  fb->entry = entry;
  if (ctx_make(fb) != 0) {
    stack_unmap(&fb->stack);
    return UV_ENOMEM;
  }
#ifdef FUTURE__TSAN
  fb->tsan_self = __tsan_create_fiber(0);
#endif
  return 0;
}

void future__fiber_release(future__loop_t *lp, future__fiber_t *fb) {
#ifdef FUTURE__TSAN
  if (fb->tsan_self != NULL)
    __tsan_destroy_fiber(fb->tsan_self);
  fb->tsan_self = NULL;
#endif
  if (fb->stack.map == NULL)
    return;
  if (pool_fits(&fb->stack) && lp->nstack_pool < STACK_POOL_MAX) {
    pooled_t *p = (pooled_t *)(void *)(fb->stack.hi - 64);
    p->stack = fb->stack;
    p->next = lp->stack_pool;
    lp->stack_pool = p;
    lp->nstack_pool++;
  } else {
    stack_unmap(&fb->stack);
  }
  fb->stack.map = NULL;
}

void future__stack_pool_destroy(future__loop_t *lp) {
  while (lp->stack_pool != NULL) {
    pooled_t *p = lp->stack_pool;
    future__stack_t st = p->stack;
    lp->stack_pool = p->next;
    stack_unmap(&st);
  }
  lp->nstack_pool = 0;
}
