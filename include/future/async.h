/*
 * libfuture: await in C, on fibers run by the loop. Included by
 * <future.h>; do not include it directly.
 *
 * Three ways to consume a future, side by side:
 *
 *   - continuations (future_then and friends): the loop stays free, and
 *     the code is cut into callbacks;
 *   - future_wait: the code reads top to bottom, and the thread blocks
 *     (on the loop's thread, nothing but that loop runs meanwhile);
 *   - future_await inside a fiber started by future_async: the code reads
 *     top to bottom, and the loop stays free. A fiber is a function with a
 *     stack of its own. future_await puts the fiber aside until the future
 *     settles; the loop's thread goes back to the loop, and runs timers,
 *     I/O callbacks, continuations and other fibers meanwhile; when the
 *     future settles, the fiber goes on from where it stopped.
 *
 * A fiber runs only on its loop's thread, only while the loop runs
 * continuations (it is started and resumed from the loop's run queue, as
 * a continuation is), and only one at a time: its code is never run by two
 * threads, and between two awaits nothing else runs, so the data it shares
 * with callbacks of the same loop needs no lock. Code in a fiber is code
 * in a callback of the loop: future_wait and future_loop_close refuse with
 * FUTURE_EINCALLBACK there, as in any callback. A fiber that runs for long
 * without awaiting holds the loop up, as a long callback does.
 *
 * STACKS. Each fiber has a stack of its own, of options->stack_size bytes
 * (default FUTURE_ASYNC_STACK_DEFAULT, 64 KiB, rounded up to whole pages,
 * at least FUTURE_ASYNC_STACK_MIN), mapped with mmap below a guard page
 * that is never accessible: a fiber that overflows its stack dies of
 * SIGSEGV on the guard instead of writing over other memory. Only the
 * pages a fiber touches use memory: a fiber suspended in an await of a
 * delay costs about 4.5 KB in all, its stack's touched page, its record
 * and its futures (test_async_many_fibers_at_once prints it). Guarded
 * stacks of the default size are kept per loop for reuse (up to 64, with
 * the pages their fibers touched: at most 4 MiB), and unmapped by
 * future_loop_close; others are unmapped when their fiber ends. Stacks
 * are not allocations of the allocator hook (future_set_allocator): they
 * need the guard page, which malloc cannot give; every other allocation
 * is.
 *
 * A fiber's function must return to end it: do not longjmp out of it (or
 * into it from elsewhere), and do not run its own loop (uv_run) inside it.
 *
 * Linux allows a process vm.max_map_count memory mappings (65530 by
 * default), and a guarded stack takes two: about 32,000 guarded fibers
 * can exist at once. FUTURE_ASYNC_NO_GUARD drops the guard page, for
 * programs that keep more fibers alive and whose fibers' stack use is
 * known. Past the limit, future_async rejects with UV_ENOMEM.
 *
 * THE SWITCH is a few instructions of assembly on x86-64 and AArch64
 * (the registers the calling convention preserves, and the stack
 * pointer), and ucontext's swapcontext elsewhere (which also makes a
 * system call per switch, to save the signal mask). valgrind, and the
 * address and thread sanitizers, are told of every stack and every
 * switch. gdb's backtrace in a fiber ends at the fiber's start.
 */
#ifndef FUTURE_ASYNC_H
#define FUTURE_ASYNC_H

#ifdef __cplusplus
extern "C" {
#endif

/** The default stack size of a fiber: 64 KiB. Enough for the library's
 *  calls, libuv's, and formatted output (printf needs a few KiB); not for
 *  deep recursion or large arrays on the stack. */
#define FUTURE_ASYNC_STACK_DEFAULT (64u * 1024u)
/** The smallest stack size a fiber gets, whatever it asks for: 16 KiB. */
#define FUTURE_ASYNC_STACK_MIN (16u * 1024u)

/** For future_async_options_t.flags: no guard page below the stack (see
 *  STACKS above). An overflow then corrupts memory silently. */
#define FUTURE_ASYNC_NO_GUARD 1u

/**
 * How future_async runs a fiber. Zeroed fields take the defaults; a NULL
 * options pointer is all defaults.
 */
typedef struct future_async_options_s {
  size_t stack_size; /**< Bytes (default FUTURE_ASYNC_STACK_DEFAULT). */
  const char *name;  /**< Names the fiber's slices in a trace (default
                          "fiber"). Borrowed: it must outlive the fiber
                          (a string literal does). */
  unsigned flags;    /**< FUTURE_ASYNC_NO_GUARD, or 0. */
} future_async_options_t;

/**
 * The function a fiber runs. It returns the fiber's outcome as a future,
 * as a continuation does: future_resolved(loop, value, dtor) to fulfil,
 * future_rejected(loop, err) to reject, or any other future of `loop`,
 * whose outcome the fiber's future then takes once it settles. NULL
 * rejects with UV_ENOMEM (constructors return NULL only when memory runs
 * out).
 */
typedef future_t *(*future_async_fn)(uv_loop_t *loop, void *arg);

/**
 * Run `fn(loop, arg)` on a new fiber of `loop`, and get its outcome as a
 * future. `fn` does not run inside future_async: it starts from the
 * loop's run queue, as a continuation of a settled future would, so the
 * loop must run (uv_run, or future_wait on the result).
 *
 * Cancelling the result rejects it with UV_ECANCELED at once. If the fiber
 * has not started, `fn` never runs. If it is suspended in future_await,
 * that await returns UV_ECANCELED (and the future it awaited is cancelled
 * when nothing else holds it); if it is running (it cancelled its own
 * future), its next future_await does. Only that one await: the fiber
 * decides what to do, and may await more (to clean up) before it returns.
 * What it returns then is released, never delivered. Its stack is let go
 * of when `fn` has returned.
 *
 * future_loop_close cancels every fiber of the loop, as it cancels
 * requests in flight, and runs the continuations that follow, so that
 * fibers that return when cancelled are gone when it returns. A fiber
 * still suspended then (it awaits something that nothing will settle,
 * or a delay it made after the cancel) keeps its future alive:
 * future_loop_close answers UV_EBUSY, as for any future still held. A
 * fiber never runs after its loop's state is torn down.
 *
 * @return a new reference; NULL if `loop` or `fn` is NULL, or memory runs
 * out. When the stack cannot be mapped (see STACKS), a future rejected
 * with UV_ENOMEM whose message says so.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_async(uv_loop_t *loop, future_async_fn fn,
                                     void *arg,
                                     const future_async_options_t *options)
    FUTURE_WARN_UNUSED;

/**
 * Inside a fiber: consume `f`, suspend the fiber until `f` settles while
 * the loop runs everything else, then put the outcome in `*result`, as
 * future_wait does. An await never runs ahead of work queued before it:
 * when `f` has settled and something waits in the loop's run queue, the
 * fiber is suspended and goes on after it, as a continuation would; when
 * `f` has settled and nothing is queued, the await returns at once (going
 * through the queue would resume the fiber before anything else could
 * run). A fiber that awaits settled futures in a loop holds the loop up,
 * as a chain of continuations on settled futures does.
 *
 * `*result` is always filled in and must be released with
 * future_result_release; `result` may be NULL to discard the outcome. The
 * error of `f` counts as observed.
 *
 * @return result->status: 0 if `f` fulfilled, else a negative code: the
 * error of `f`; UV_ECANCELED if the fiber's own future was cancelled (see
 * future_async); FUTURE_ESTALLED if `f` was released unsettled while
 * awaited (nothing can settle it); FUTURE_ECYCLE if `f` waits on the
 * fiber's own future (the fiber would wait for itself); UV_EINVAL if `f`
 * is NULL or of another loop. Outside a fiber it does not block: it
 * consumes `f` and returns FUTURE_ENOTFIBER at once, since only a fiber
 * can be put aside (on the loop's thread, future_wait blocks instead; in
 * a continuation, return the future). Continuations run by the loop are
 * outside any fiber, also those of another loop that a fiber runs with
 * future_wait. In a callback that the library calls from inside the
 * fiber's code (a factory of future_map, called by future_map itself), it
 * consumes `f` and returns FUTURE_EINCALLBACK: suspending there would
 * suspend the library's own call around it; return the future instead.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_await(future_t *f, future_result_t *result);

/**
 * Non-zero where future_await can suspend: in the code of a fiber that
 * runs now on this thread. 0 anywhere else, also in a callback that the
 * library calls from inside the fiber's code, and in continuations that a
 * fiber's future_wait on another loop runs.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_in_fiber(void);

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_ASYNC_H */
