/*
 * libfuture: promises/futures on top of libuv.
 *
 * This header is the specification of the library: every claim made in a
 * comment here is a behaviour the test suite checks.
 *
 * A future_t stands for a result that is not there yet. It is PENDING, then
 * settles exactly once: FULFILLED with a value, or REJECTED with an error.
 * Continuations (future_then, future_catch, future_finally) build a new
 * future from the outcome of an earlier one, so asynchronous work reads as a
 * pipeline. An error skips the "then" steps and reaches the next "catch".
 *
 * THE OWNERSHIP RULE (the one rule; everything below follows it)
 *
 *   1. Every function that returns a future_t * hands the caller one
 *      reference ("new reference").
 *   2. Every function that takes a future_t * as its first argument and
 *      builds on it (future_then, future_catch, future_finally, future_wait,
 *      future_await, future_adopt's second argument) consumes one
 *      reference from the caller ("steals"), even when it fails. After
 *      the call, do not touch the future again unless you kept another
 *      reference with future_ref.
 *   3. Functions that only look at or settle a future (future_state,
 *      future_value, future_error, future_resolve, future_reject,
 *      future_adopt's first argument) borrow it.
 *   4. future_ref adds a reference (for fan-out, or to keep a resolver while
 *      chaining on it); future_unref drops one. future_unref(NULL) is a
 *      harmless no-op.
 *
 *   The library keeps what a chain needs alive by itself: a pending future
 *   owns the continuations attached to it, and an intermediate future is
 *   freed as soon as it has passed its outcome on. A pending future that
 *   nobody references any more (so nobody can ever settle it) is freed along
 *   with the continuations that hang from it.
 *
 *   Values are borrowed pointers unless a destructor is given when settling;
 *   the destructor then runs exactly once, when the last future or result
 *   sharing the value is released. Errors (future_error_t) are immutable and
 *   reference counted; they may be shared and released from any thread.
 *
 * THREADS
 *
 *   A future belongs to the uv_loop_t it was created on and must be used
 *   only from the thread that runs that loop, with these exceptions:
 *   future_wait may be called from another thread (it then blocks that
 *   thread until the loop's thread settles the future);
 *   future_result_release, the resolver calls (future_resolver_resolve,
 *   future_resolver_reject) and the error functions may be called from
 *   any thread. Several loops in several threads are fine. The loop's
 *   thread is the thread that created the first future on that loop.
 *
 *   What another thread hands to a loop (a wait, a resolver's delivery, a
 *   released list of futures) is taken in by the loop's thread: when it
 *   runs the loop, when it settles a future by hand (a posted wait), and
 *   in future_loop_close. Until then it keeps a future of the loop alive,
 *   so future_loop_close answers UV_EBUSY rather than tear the loop down
 *   under it.
 *
 * MISUSE
 *
 *   The default build checks what it can afford on every call: NULL
 *   arguments, a second settle, a future of another loop, waiting inside
 *   a callback, teardown with futures alive. It cannot tell a freed
 *   future from a live one, nor the loop's thread from another on every
 *   call. Configure with --enable-debug for a build that does: every
 *   public call checks a magic word in the future (one future_unref too
 *   many, a freed future used again, a pointer that is no future), freed
 *   futures are poisoned and held back from reuse, a resolver used twice
 *   is caught, and a call from a thread other than the loop's aborts with
 *   a message naming the call. docs/reference.md lists what each build
 *   checks.
 *
 * ERRORS
 *
 *   Functions return 0 or a negative error code. Codes are libuv's (UV_E*,
 *   between -4095 and -1), the library's own (FUTURE_E*, between
 *   FUTURE_ERRNO_MIN and FUTURE_ERRNO_MAX) and the user's (FUTURE_EUSER(n),
 *   at or below FUTURE_EUSER_BASE). Functions that return a future_t *
 *   return NULL only for a NULL future argument or when memory runs out.
 */
#ifndef FUTURE_H
#define FUTURE_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported API. Predefine it to override (test/exports.sh does,
 * to list the API from the preprocessed header). */
#ifndef FUTURE_EXTERN
#if defined(_WIN32)
#if defined(FUTURE_BUILDING)
#define FUTURE_EXTERN __declspec(dllexport)
#else
#define FUTURE_EXTERN __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define FUTURE_EXTERN __attribute__((visibility("default")))
#else
#define FUTURE_EXTERN
#endif
#endif

#if defined(__GNUC__)
#define FUTURE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define FUTURE_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define FUTURE_PRINTF(fmt, args)
#define FUTURE_WARN_UNUSED
#endif

/* version */

/**
 * The version of this header, which is the package's version: it is
 * defined here and nowhere else (configure.ac reads these macros, and
 * test/version.sh checks that everything else agrees). FUTURE_VERSION_HEX
 * is the three numbers in one, 0x010203 for 1.2.3, so that versions
 * compare with < and >=; future_version() gives the library's at run time.
 * @since 0.1.0
 */
#define FUTURE_VERSION_MAJOR 0
#define FUTURE_VERSION_MINOR 2
#define FUTURE_VERSION_PATCH 0
#define FUTURE_VERSION_HEX                                                     \
  ((FUTURE_VERSION_MAJOR << 16) | (FUTURE_VERSION_MINOR << 8) |                \
   FUTURE_VERSION_PATCH)

/**
 * The version of the library linked at run time, as FUTURE_VERSION_HEX.
 * @since 0.1.0
 */
FUTURE_EXTERN unsigned int future_version(void);

/**
 * The version of the library linked at run time, as "MAJOR.MINOR.PATCH".
 * @since 0.1.0
 */
FUTURE_EXTERN const char *future_version_string(void);

/* error codes */

/** The lowest of the library's own error codes. */
#define FUTURE_ERRNO_MIN (-30099)
/** The highest of the library's own error codes. */
#define FUTURE_ERRNO_MAX (-30000)

/**
 * The library's own error codes. All lie in [FUTURE_ERRNO_MIN,
 * FUTURE_ERRNO_MAX]; future_strerror and future_err_name describe them.
 */
enum {
  /** A continuation returned the very future it was resolving
   *  (Promises/A+ 2.3.1), or a future was adopted by itself. */
  FUTURE_ECYCLE = -30000,
  /** The future has already settled; a second settle changes nothing. */
  FUTURE_ESETTLED = -30001,
  /** future_wait was called from inside a callback run by the loop that
   *  must settle the future: waiting there would deadlock. */
  FUTURE_EINCALLBACK = -30002,
  /** Nothing can settle the future any more: future_wait ran the loop
   *  until it had nothing left to do and the future was still pending, or
   *  waited from another thread on a future nobody else held; a
   *  combinator, map or retry rejects with it when one of its inputs was
   *  released unsettled. */
  FUTURE_ESTALLED = -30003,
  /** Every input of future_any was rejected; the error's causes are their
   *  errors, in input order. */
  FUTURE_EAGGREGATE = -30005,
  /** future_await was called outside a fiber: only a fiber can be put
   *  aside until a future settles (see future/async.h). */
  FUTURE_ENOTFIBER = -30006
};

/** The highest code available to users; FUTURE_EUSER(0) equals it. */
#define FUTURE_EUSER_BASE (-31000)
/** The user's own error code number n (n >= 0): FUTURE_EUSER_BASE - n. */
#define FUTURE_EUSER(n) (FUTURE_EUSER_BASE - (n))

/**
 * A sentence describing an error code: libuv's text for UV_E* codes, the
 * library's for FUTURE_E* codes, "user error" for codes at or below
 * FUTURE_EUSER_BASE, "unknown error" otherwise. Never NULL; never allocates.
 * @since 0.1.0
 */
FUTURE_EXTERN const char *future_strerror(int code);

/**
 * The symbolic name of an error code ("ENOENT", "FUTURE_ECYCLE", "EUSER",
 * "UNKNOWN"). Never NULL; never allocates.
 * @since 0.1.0
 */
FUTURE_EXTERN const char *future_err_name(int code);

/* errors as values */

/**
 * An error: a negative code, a message saying what was being done, the
 * place where it was raised, and an optional cause (the error it wraps).
 * Immutable and reference counted; safe to share between threads.
 */
typedef struct future_error_s future_error_t;

/**
 * Create an error with code `code` and a printf-style message saying what
 * was being done (fmt may be NULL). The full message is the formatted text,
 * then ": ", the description of the code and its name in parentheses, as in
 * "open 'conf.json': no such file or directory (ENOENT)"; for a user code
 * (FUTURE_EUSER(n)) the formatted text stands alone. The raising site
 * (file, line, function) is captured by the macro.
 * @return a new reference; never NULL: when memory runs out it is a shared,
 * static UV_ENOMEM error (reference counting on it does nothing).
 * @since 0.1.0
 */
#define future_error_new(code, ...)                                            \
  future_error_new_at(__FILE__, __LINE__, __func__, (code), NULL, __VA_ARGS__)

/**
 * Like future_error_new, with `cause` (borrowed; may be NULL) recorded as the
 * error this one wraps: the way a catch step adds context to an error.
 * @return a new reference; never NULL (see future_error_new).
 * @since 0.1.0
 */
#define future_error_wrap(cause, code, ...)                                    \
  future_error_new_at(__FILE__, __LINE__, __func__, (code), (cause),           \
                      __VA_ARGS__)

/**
 * The function behind future_error_new and future_error_wrap, for bindings
 * and wrappers that capture the raising site themselves. A `code` of 0 or
 * above is replaced by UV_EINVAL, since an error always has a negative code.
 * @return a new reference; never NULL (see future_error_new).
 * @since 0.1.0
 */
FUTURE_EXTERN future_error_t *future_error_new_at(const char *file, int line,
                                                  const char *func, int code,
                                                  const future_error_t *cause,
                                                  const char *fmt, ...)
    FUTURE_PRINTF(6, 7);

/**
 * An error that gathers several causes (borrowed; `ncauses` of them, each
 * may be NULL only if ncauses is 0), as future_any reports that every input
 * failed. The first cause is also future_error_cause's answer.
 * @return a new reference; never NULL (see future_error_new).
 * @since 0.1.0
 */
#define future_error_aggregate(code, causes, ncauses, ...)                     \
  future_error_aggregate_at(__FILE__, __LINE__, __func__, (code), (causes),    \
                            (ncauses), __VA_ARGS__)

/** The function behind future_error_aggregate. @since 0.1.0 */
FUTURE_EXTERN future_error_t *future_error_aggregate_at(
    const char *file, int line, const char *func, int code,
    const future_error_t *const *causes, size_t ncauses, const char *fmt, ...)
    FUTURE_PRINTF(7, 8);

/** Add a reference to `err` and return it. NULL gives NULL. @since 0.1.0 */
FUTURE_EXTERN future_error_t *future_error_ref(future_error_t *err);

/** Drop a reference; the last one frees the error (and releases its cause).
 *  future_error_unref(NULL) is a harmless no-op. @since 0.1.0 */
FUTURE_EXTERN void future_error_unref(future_error_t *err);

/** The error's code (negative). @since 0.1.0 */
FUTURE_EXTERN int future_error_code(const future_error_t *err);

/** The error's full message; valid as long as the error. @since 0.1.0 */
FUTURE_EXTERN const char *future_error_message(const future_error_t *err);

/** The source file where the error was raised. @since 0.1.0 */
FUTURE_EXTERN const char *future_error_file(const future_error_t *err);

/** The source line where the error was raised. @since 0.1.0 */
FUTURE_EXTERN int future_error_line(const future_error_t *err);

/** The function in which the error was raised. @since 0.1.0 */
FUTURE_EXTERN const char *future_error_func(const future_error_t *err);

/** The error this one wraps (borrowed), or NULL; for an aggregate, its
 *  first cause. @since 0.1.0 */
FUTURE_EXTERN const future_error_t *
future_error_cause(const future_error_t *err);

/** How many errors this one wraps directly: 0, 1, or an aggregate's count.
 *  @since 0.1.0 */
FUTURE_EXTERN size_t future_error_cause_count(const future_error_t *err);

/** The i-th error this one wraps directly (borrowed), or NULL if there is
 *  no such cause. @since 0.1.0 */
FUTURE_EXTERN const future_error_t *
future_error_cause_at(const future_error_t *err, size_t i);

/**
 * Print the error, where it was raised, and its whole cause chain to `out`
 * (an aggregate's causes indented under it, as "cause 1", "cause 2", ...),
 * one line each:
 *
 *     error: reading settings: no such file or directory (ENOENT)
 *       at main.c:42 in load_settings
 *     caused by: open 'conf.json': no such file or directory (ENOENT)
 *       at fs.c:80 in future_fs_open
 * @since 0.1.0
 */
FUTURE_EXTERN void future_error_print(const future_error_t *err, FILE *out);

/**
 * Called with an unhandled rejection: a rejected future that was released
 * without its error ever being observed by a continuation or future_wait.
 * The error is borrowed for the duration of the call.
 */
typedef void (*future_unhandled_cb)(const future_error_t *err, void *data);

/**
 * Replace the process-wide unhandled-rejection hook; NULL restores the
 * default, which prints "libfuture: unhandled rejection" and the error with
 * future_error_print to stderr. Set it before futures are in use on other
 * threads. Returns the previous hook (never NULL) and, through
 * `previous_data` when not NULL, its data.
 * @since 0.1.0
 */
FUTURE_EXTERN future_unhandled_cb future_set_unhandled_hook(
    future_unhandled_cb hook, void *data, void **previous_data);


/* core */

/** A future: a result that is not there yet. Opaque and reference counted. */
typedef struct future_s future_t;

/** The state of a future. */
typedef enum {
  FUTURE_PENDING = 0,
  FUTURE_FULFILLED = 1,
  FUTURE_REJECTED = 2
} future_state_t;

/** Destroys a value when the last future sharing it is released. */
typedef void (*future_dtor_cb)(void *value);

/**
 * A new pending future on `loop`, to be settled with future_resolve,
 * future_reject or future_adopt.
 * @return a new reference, or NULL if loop is NULL or memory runs out.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_new(uv_loop_t *loop) FUTURE_WARN_UNUSED;

/**
 * A new future on `loop`, already fulfilled with `value`. If `dtor` is not
 * NULL it runs on the value exactly once, when the value is no longer used;
 * it also runs at once if the future cannot be created.
 * @return a new reference, or NULL if loop is NULL or memory runs out.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_resolved(uv_loop_t *loop, void *value,
                                        future_dtor_cb dtor) FUTURE_WARN_UNUSED;

/**
 * A new future on `loop`, already rejected with `err` (consumed). A NULL
 * `err` rejects with a UV_EINVAL error saying so.
 * @return a new reference, or NULL if loop is NULL or memory runs out.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_rejected(uv_loop_t *loop,
                                        future_error_t *err) FUTURE_WARN_UNUSED;

/**
 * Fulfil a pending future with `value` (and optional destructor `dtor`).
 * Continuations attached to `f` are queued, never run inside this call.
 * Only a future made by future_new can be settled by hand: chained futures,
 * and those of libuv requests and combinators, are settled by the library.
 * @return 0; FUTURE_ESETTLED if `f` has already settled, is adopting
 * another future, or is not a future_new future (nothing changes, and
 * `dtor` runs on `value`);
 * UV_EINVAL if `f` is NULL; UV_ENOMEM if the value's holder cannot be
 * allocated (then `f` is rejected with UV_ENOMEM and `dtor` runs).
 * @since 0.1.0
 */
FUTURE_EXTERN int future_resolve(future_t *f, void *value,
                                 future_dtor_cb dtor);

/**
 * Reject a pending future with `err` (consumed in every case; NULL rejects
 * with a UV_EINVAL error saying so).
 * @return 0; FUTURE_ESETTLED if `f` has already settled, is adopting
 * another future, or is not a future_new future; UV_EINVAL if `f` is
 * NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_reject(future_t *f, future_error_t *err);

/**
 * Settle the pending future `f` (borrowed) with the outcome of `src`
 * (consumed), now or whenever `src` settles (Promises/A+ 2.3.2). Adopting
 * `f` itself, or a future that waits (through what it follows) on `f`,
 * rejects `f` with FUTURE_ECYCLE instead of waiting forever.
 * @return 0; FUTURE_ESETTLED if `f` has settled, is already adopting, or is
 * not a future_new future;
 * UV_EINVAL if an argument is NULL or they belong to different loops.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_adopt(future_t *f, future_t *src);

/** Add a reference to `f` and return it (NULL gives NULL). @since 0.1.0 */
FUTURE_EXTERN future_t *future_ref(future_t *f);

/**
 * Drop a reference to `f`; NULL is a harmless no-op. Releasing the last
 * reference to a rejected future whose error nobody observed reports an
 * unhandled rejection (see future_set_unhandled_hook), unless the error is
 * UV_ECANCELED.
 * @since 0.1.0
 */
FUTURE_EXTERN void future_unref(future_t *f);

/** The state of `f` (borrowed); FUTURE_PENDING for NULL. @since 0.1.0 */
FUTURE_EXTERN future_state_t future_state(const future_t *f);

/** The value of a fulfilled future (borrowed, valid while you hold `f`),
 *  or NULL if `f` is not fulfilled. @since 0.1.0 */
FUTURE_EXTERN void *future_value(const future_t *f);

/** The error of a rejected future (borrowed, valid while you hold `f`), or
 *  NULL if `f` is not rejected. @since 0.1.0 */
FUTURE_EXTERN const future_error_t *future_error(const future_t *f);

/** The loop `f` belongs to, or NULL for NULL. @since 0.1.0 */
FUTURE_EXTERN uv_loop_t *future_loop(const future_t *f);

/* call sites */

/**
 * The functions that start a request (the file system, names, signals,
 * future_work, future_timeout) are also macros of the same name that
 * record where they are called: an error of the request then names the
 * caller's file, line and function ("at main.c:42 in load_settings"), so
 * that two reads of the same file in two places can be told apart. The
 * macro is FUTURE_AT(call): it pushes the call site, makes the call, and
 * pops the site. Taking a function's address (&future_fs_stat), or
 * calling it as (future_fs_stat)(loop, path), bypasses the macro; the
 * error then names the library's place. Define FUTURE_NO_CALL_SITES
 * before including <future.h> to have the plain functions only.
 * @since 0.2.0
 */
#define FUTURE_AT(call)                                                        \
  (future_call_site_push(__FILE__, __LINE__, __func__),                        \
   future_call_site_pop(call))

/**
 * FUTURE_AT's first half: record `file`, `line` and `func` (string
 * literals, or strings that outlive the program's requests) as the call
 * site of the requests this thread starts until the matching
 * future_call_site_pop. Sites nest (a request's arguments may start
 * another): the innermost wins.
 * @since 0.2.0
 */
FUTURE_EXTERN void future_call_site_push(const char *file, int line,
                                         const char *func);

/**
 * FUTURE_AT's second half: forget the call site the matching
 * future_call_site_push recorded, and return `f` unchanged.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_call_site_pop(future_t *f) FUTURE_WARN_UNUSED;

/* chaining */

/**
 * A continuation. `settled` is the future whose outcome triggered the call
 * (borrowed for the duration of the call; use future_value, future_error,
 * future_loop on it). `data` is the pointer given when chaining.
 *
 * The callback returns the next future (a new reference, which the chain
 * takes over): the chained future then adopts its outcome, waiting if it is
 * pending. Return future_resolved(...) to continue with a value,
 * future_rejected(...) to raise an error, future_ref(settled) to pass the
 * outcome on unchanged, or any pending future to wait for more work.
 */
typedef future_t *(*future_cb)(future_t *settled, void *data);

/**
 * Chain on `f` (consumed): when `f` fulfils, `on_fulfilled` runs; when it
 * rejects, `on_rejected` runs. A NULL callback passes that outcome through
 * unchanged. Callbacks run from the loop, never inside this call or inside
 * the call that settles `f`; the callbacks attached to one future run in
 * the order they were attached, each exactly once at most. A callback that
 * returns the chained future itself, or a pending future that waits on it,
 * rejects it with FUTURE_ECYCLE; one that
 * returns NULL rejects it with UV_ENOMEM (the way the future_* constructors
 * report running out of memory; a forgotten return lands there too).
 * @return the chained future (a new reference), or NULL if `f` is NULL or
 * memory runs out (then `f` is released all the same).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_then(future_t *f, future_cb on_fulfilled,
                                    future_cb on_rejected,
                                    void *data) FUTURE_WARN_UNUSED;

/**
 * future_then(f, NULL, on_rejected, data): a fulfilment passes through; an
 * error reaches `on_rejected`, which can recover (return a fulfilled
 * future), re-raise (return future_ref(settled)) or wrap the error with
 * context (return future_rejected(loop, future_error_wrap(...))).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_catch(future_t *f, future_cb on_rejected,
                                     void *data) FUTURE_WARN_UNUSED;

/**
 * Chain on `f` (consumed) with `on_settled`, which runs whatever the
 * outcome. It may return NULL, or a future to wait for first. The chained
 * future then takes the outcome of `f`, unless the returned future rejects:
 * then it rejects with that error instead. A NULL `on_settled` passes the
 * outcome through.
 * @return the chained future (a new reference), or NULL as for future_then.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_finally(future_t *f, future_cb on_settled,
                                       void *data) FUTURE_WARN_UNUSED;

/**
 * future_then, naming its callbacks in a trace (future_trace_start): when
 * the step runs on_fulfilled its slice is "then NAME" (NAME being
 * `fulfilled_name`), or "then/catch NAME" if it has both callbacks; when it
 * runs on_rejected, "catch NAME" or "then/catch NAME" with `rejected_name`.
 * The names are kept, not copied: they must stay valid until the step has
 * run (string literals do). NULL names nothing. The macro future_then
 * calls this with the callbacks as they are written in the call:
 * `future_then(f, parse, NULL, data)` gives the slice "then parse".
 * @return as future_then.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_then_named(future_t *f, future_cb on_fulfilled,
                                          future_cb on_rejected, void *data,
                                          const char *fulfilled_name,
                                          const char *rejected_name)
    FUTURE_WARN_UNUSED;

/**
 * future_catch, naming `on_rejected` in a trace: its slice is
 * "catch NAME". The name is kept as for future_then_named; the macro
 * future_catch passes the callback as written.
 * @return as future_then.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_catch_named(future_t *f, future_cb on_rejected,
                                           void *data,
                                           const char *name) FUTURE_WARN_UNUSED;

/**
 * future_finally, naming `on_settled` in a trace: its slice is
 * "finally NAME". The name is kept as for future_then_named; the macro
 * future_finally passes the callback as written.
 * @return as future_then.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_finally_named(future_t *f, future_cb on_settled,
                                             void *data,
                                             const char *name)
    FUTURE_WARN_UNUSED;

/* future_then, future_catch and future_finally are also macros that pass
 * the callbacks' names, as written, to the _named functions, so that a
 * trace says which callback ran. Each argument is evaluated once, as in a
 * call. (future_then) and a pointer to future_then reach the function
 * itself, which names nothing; defining FUTURE_NO_STEP_NAMES before
 * including this header leaves the macros out. */
#ifndef FUTURE_NO_STEP_NAMES
#define future_then(f, on_fulfilled, on_rejected, data)                        \
  future_then_named((f), (on_fulfilled), (on_rejected), (data),                \
                    #on_fulfilled, #on_rejected)
#define future_catch(f, on_rejected, data)                                     \
  future_catch_named((f), (on_rejected), (data), #on_rejected)
#define future_finally(f, on_settled, data)                                    \
  future_finally_named((f), (on_settled), (data), #on_settled)
#endif

/* pipelines */

/**
 * A pipeline: a chain of steps built as a list, for a chain whose links
 * nobody looks at one by one. `first` is consumed. The pipeline is a
 * pending future that carries the outcome of `first` through the steps
 * added with future_pipeline_then, as the chain
 * `future_then(future_then(first, a1, b1, d1), a2, b2, d2)...` would, and
 * then settles with the outcome of the last step.
 *
 * The steps follow future_then's rules: a fulfilment reaches on_fulfilled
 * and a rejection on_rejected; a NULL callback passes that outcome on; a
 * callback returns the next future, which the pipeline waits for if it is
 * pending; returning the pipeline itself, or a pending future that waits on
 * it, gives FUTURE_ECYCLE, and NULL gives UV_ENOMEM, both as a rejection
 * that the following steps see. Steps run from the loop, never inside the
 * call that adds them, in the order they were added, each at most once.
 *
 * What differs from a chain of future_then: the links in between are not
 * futures, so nothing can keep, chain on or cancel one of them; a step
 * waiting to run costs 24 bytes instead of a 64-byte future; and the steps
 * whose callbacks return settled futures run one after another in one turn
 * of the loop's run queue (up to 64 of them, then the pipeline goes to the
 * back of the queue), where a chain of future_then takes a turn per link.
 * A step may add steps to its own pipeline while it runs: that is how an
 * asynchronous loop is written (see future_pipeline_then).
 *
 * Cancelling the pipeline (future_cancel) rejects it with UV_ECANCELED: the
 * steps not yet run never run, and the future it waits on is cancelled
 * when nothing else wants it, as for a continuation. Releasing the last
 * reference does not stop it: like a continuation, a pending pipeline is
 * kept by the future it waits on.
 * @return the pipeline (a new reference), or NULL if `first` is NULL or
 * memory runs out (then `first` is released all the same).
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_pipeline(future_t *first) FUTURE_WARN_UNUSED;

/**
 * Add a step at the end of the pipeline `pipeline` (borrowed): when the
 * outcome before it is in, `on_fulfilled` or `on_rejected` runs with `data`,
 * as for future_then. Add every step before control returns to the loop,
 * or from a step of the same pipeline while it runs: a pipeline with no
 * step left when its outcome is in settles, and steps can no longer be
 * added. A step that adds the next one before returning makes a loop that
 * runs for as long as it keeps adding; the steps that have run give their
 * room back, so such a loop runs in constant memory.
 * @return 0; UV_EINVAL if `pipeline` is NULL or not a pipeline;
 * FUTURE_ESETTLED if it has settled (or was cancelled); UV_ENOMEM if
 * memory runs out (the pipeline is unchanged).
 * @since 0.2.0
 */
FUTURE_EXTERN int future_pipeline_then(future_t *pipeline,
                                       future_cb on_fulfilled,
                                       future_cb on_rejected, void *data);

/**
 * A value step of a pipeline (future_pipeline_then_value): `*value` is the
 * value the step before fulfilled with; the step may replace it. Return
 * NULL to go on with `*value`, or an error (a reference, which the
 * pipeline takes over) to reject instead. A value given back has no
 * destructor; if the value given in had one, it is released once the step
 * has given back another, so do not give back a pointer into it.
 */
typedef future_error_t *(*future_value_cb)(void **value, void *data);

/**
 * Add a value step at the end of `pipeline` (borrowed): when the outcome
 * before it is a fulfilment, `fn` runs with its value and `data`, and its
 * result goes on as a fulfilment or a rejection, with no future made for
 * it; a rejection passes it by. This is future_then's `return
 * future_resolved(loop, f(v), NULL)`, the shape of most steps, in a call
 * that allocates nothing. Added and run as future_pipeline_then's steps.
 * @return as future_pipeline_then; UV_EINVAL also if `fn` is NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_pipeline_then_value(future_t *pipeline,
                                             future_value_cb fn, void *data);

/* cancellation */

/**
 * Cancel the pending future `f` (borrowed): it rejects at once with
 * UV_ECANCELED, which travels down the chain like any error. If `f` stands
 * for a libuv request, the request is cancelled where libuv can (uv_cancel
 * on queued fs and work requests, stopping a timer); one that can no longer
 * be cancelled finishes, and its result is released, never delivered. If
 * `f` is a continuation, its callback never runs, and the future it waits
 * on is cancelled in turn when nothing else consumes that one any more
 * (no other continuation, no reference but the library's own), and so on
 * up the chain. A UV_ECANCELED rejection that nobody observes is not
 * reported as unhandled: cancelling is deliberate.
 * @return 0; FUTURE_ESETTLED if `f` has already settled (nothing changes);
 * UV_EINVAL if `f` is NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_cancel(future_t *f);

/* timer */

/**
 * A future that fulfils (with a NULL value) after `ms` milliseconds of the
 * loop's clock. While pending it keeps the loop alive, like any timer; a
 * cancelled one does not. Delays due at the same time fulfil in the order
 * they were made. (All the delays of a loop share one libuv timer.)
 * @return a new reference, or NULL if `loop` is NULL or memory runs out.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_delay(uv_loop_t *loop,
                                     uint64_t ms) FUTURE_WARN_UNUSED;

/**
 * future_then(future_delay(loop, ms), on_fulfilled, NULL, data) in one
 * future instead of two: `on_fulfilled` runs from the loop `ms`
 * milliseconds from now, and the future returned settles as the chained
 * future would (with what the callback returns). The callback's `settled`
 * is a future of the loop fulfilled with NULL, not a delay of its own,
 * since there is none; it may be chained on, passed on or kept like any
 * settled future (future_loop_close answers UV_EBUSY while a reference
 * kept to it is held). Cancelling the future cancels the delay. Delays
 * made either way fire in one order: by due time, then by creation. A
 * NULL `on_fulfilled` gives a plain delay.
 * @return a new reference, or NULL if `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_delay_then(uv_loop_t *loop, uint64_t ms,
                                          future_cb on_fulfilled,
                                          void *data) FUTURE_WARN_UNUSED;

/**
 * A future that fulfils (with a NULL value) once the loop has gone around:
 * the timers that are due and the I/O that is ready run first.
 * Continuations run on the loop's thread one after another for as long as
 * each has a settled future to go on with, and meanwhile no timer, I/O
 * callback or other request of the loop runs; a long computation split
 * into steps chained on resolved futures freezes the loop as much as one
 * long step. Chaining each step on future_yield instead lets the loop
 * breathe between steps. It is a delay of 0 ms (and cancels like one).
 * @return a new reference, or NULL if `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_yield(uv_loop_t *loop) FUTURE_WARN_UNUSED;

/**
 * A future with the outcome of `f` (consumed), unless `f` has not settled
 * after `ms` milliseconds: it then rejects with UV_ETIMEDOUT
 * ("timed out after N ms") and `f` is cancelled, which reaches the work
 * behind it (see future_cancel). Cancelling the returned future cancels
 * `f` too.
 * @return a new reference, or NULL if `f` is NULL or memory runs out (then
 * `f` is released all the same).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_timeout(future_t *f,
                                       uint64_t ms) FUTURE_WARN_UNUSED;

/* work */

/**
 * A function run on libuv's thread pool. It stores its result in `*value`
 * and returns NULL, or returns an error (a new reference, for example from
 * future_error_new, which is safe on any thread) to reject. It must not
 * touch futures or the loop: it runs on another thread.
 */
typedef future_error_t *(*future_work_cb)(void *arg, void **value);

/**
 * Run `work(arg, &value)` on libuv's thread pool (uv_queue_work) and get its
 * outcome as a future, settled on the loop's thread: the loop stays free
 * while the work runs. `value_dtor`, if not NULL, destroys the value when
 * the last holder releases it; it also runs if the future was cancelled
 * while the work was already running, since the value is then never
 * delivered. future_cancel removes work that has not started yet from the
 * pool's queue.
 * @return a new reference; NULL if `loop` is NULL or memory runs out. A
 * NULL `work` gives a future rejected with UV_EINVAL.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_work(uv_loop_t *loop, future_work_cb work,
                                    void *arg,
                                    future_dtor_cb value_dtor) FUTURE_WARN_UNUSED;

/**
 * For a future_work function, while it runs on the pool: non-zero once its
 * future has been cancelled (directly, by a timeout, by a combinator).
 * libuv cannot stop work that has started, so long work should call this
 * now and then and return early; its value is released, never delivered.
 * Returns 0 on any other thread.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_work_cancelled(void);

/* threads */

/**
 * The settling end of a future that may be settled from any thread.
 */
typedef struct future_resolver_s future_resolver_t;

/**
 * A new pending future on `loop` and, in `*resolver`, the means to settle it
 * from any thread. Call it on the loop's thread. The resolver must be used
 * exactly once, with future_resolver_resolve or future_resolver_reject,
 * which free it; until then it keeps the loop alive (through an async
 * handle), so that the loop is still running when the other thread
 * delivers. Deliveries from many threads at once are queued, never lost.
 * @return a new reference, or NULL if an argument is NULL or memory runs
 * out (then `*resolver` is NULL).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_new_threadsafe(
    uv_loop_t *loop, future_resolver_t **resolver) FUTURE_WARN_UNUSED;

/**
 * Fulfil the resolver's future with `value` (and optional destructor), from
 * any thread. The loop's thread settles the future soon after; if it was
 * cancelled meanwhile, the value is released instead (`dtor` runs). Frees
 * the resolver.
 * @return 0; UV_EINVAL if `resolver` is NULL (then `dtor` runs on `value`).
 * @since 0.1.0
 */
FUTURE_EXTERN int future_resolver_resolve(future_resolver_t *resolver,
                                          void *value, future_dtor_cb dtor);

/**
 * Reject the resolver's future with `err` (consumed; NULL rejects with a
 * UV_EINVAL error saying so), from any thread. Frees the resolver.
 * @return 0; UV_EINVAL if `resolver` is NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_resolver_reject(future_resolver_t *resolver,
                                         future_error_t *err);

/* composition */

/**
 * The value of future_all, future_all_settled and future_map: the input
 * futures, settled, in input order. Read each with future_state,
 * future_value and future_error; they live as long as the list, which the
 * fulfilled future owns (do not unref the items). A future_result_t
 * holding a list may be released on any thread: the items belong to the
 * loop, so on another thread they are let go of by the loop's thread when
 * it next takes posts in (see THREADS above); their values' destructors
 * run there.
 */
typedef struct future_list_s {
  size_t count;     /**< Number of items. */
  future_t **items; /**< The settled futures, in input order. */
} future_list_t;

/**
 * Fulfils, once every input has fulfilled, with a future_list_t of them;
 * rejects with the first error as soon as any input rejects, and then
 * cancels the inputs that are still pending and that nothing else consumes
 * (see future_cancel). The `n` inputs are consumed (the array itself is
 * borrowed); an empty set fulfils with an empty list. A NULL input, or one
 * of another loop, rejects with UV_EINVAL. An input that is released
 * unsettled (nobody else held it, so nothing can settle it) rejects the
 * result with FUTURE_ESTALLED instead of leaving it pending forever.
 * @return a new reference; NULL if `loop` is NULL or memory runs out (the
 * inputs are released all the same).
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_all(uv_loop_t *loop, future_t **inputs,
                                   size_t n) FUTURE_WARN_UNUSED;

/**
 * Fulfils, once every input has settled either way, with a future_list_t of
 * them; never rejects (but for UV_EINVAL as in future_all, and
 * FUTURE_ESTALLED if an input is released unsettled). Each input's error
 * counts as observed.
 * @return a new reference, or NULL as for future_all.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_all_settled(uv_loop_t *loop, future_t **inputs,
                                           size_t n) FUTURE_WARN_UNUSED;

/**
 * Fulfils with the value of the first input to fulfil, and cancels the
 * others that nothing else consumes; rejects when every input has rejected
 * (also for an empty set), with a FUTURE_EAGGREGATE error whose causes are
 * the inputs' errors in input order (FUTURE_ESTALLED for an input released
 * unsettled).
 * @return a new reference, or NULL as for future_all.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_any(uv_loop_t *loop, future_t **inputs,
                                   size_t n) FUTURE_WARN_UNUSED;

/**
 * Settles like the first input to settle, either way; the losers are
 * released at once and cancelled when nothing else consumes them. Unlike
 * JavaScript's Promise.race, which stays pending forever, an empty set
 * rejects with UV_EINVAL: in C a future that can never settle is a leak
 * waiting to happen. An input released unsettled can never win; if none is
 * left, the race rejects with FUTURE_ESTALLED.
 * @return a new reference, or NULL as for future_all.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_race(uv_loop_t *loop, future_t **inputs,
                                    size_t n) FUTURE_WARN_UNUSED;

/**
 * Makes the future for input number `index` (a new reference); NULL counts
 * as a UV_ENOMEM failure. Runs on the loop's thread.
 */
typedef future_t *(*future_map_cb)(uv_loop_t *loop, size_t index, void *data);

/**
 * Run `fn` for the indices 0..n-1 with at most `limit` of the futures it
 * returns pending at once (0 means no limit), starting the next as each
 * one settles. Fulfils with a future_list_t of the results in input order;
 * rejects with the first error, after which no new input is started and
 * those in flight are cancelled. `n` = 0 fulfils with an empty list.
 * @return a new reference; NULL if `loop` or `fn` is NULL or memory runs out.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_map(uv_loop_t *loop, size_t n, size_t limit,
                                   future_map_cb fn,
                                   void *data) FUTURE_WARN_UNUSED;

/** Makes attempt number `attempt` (1, 2, ...): a new reference. */
typedef future_t *(*future_attempt_cb)(uv_loop_t *loop, unsigned attempt,
                                       void *data);

/** Decides whether a failed attempt is worth another: non-zero to retry. */
typedef int (*future_retry_pred)(const future_error_t *err, unsigned attempt,
                                 void *data);

/**
 * How future_retry spaces its attempts. Zeroed fields take the defaults. A
 * multiplier that is negative, NaN or infinite, or a NaN jitter, makes
 * future_retry reject with UV_EINVAL; a jitter outside [0, 1] is clamped
 * into it; every delay is capped at max_delay_ms.
 */
typedef struct future_retry_policy_s {
  unsigned max_attempts;       /**< Attempts in all (default 5). */
  uint64_t initial_delay_ms;   /**< Delay before attempt 2 (default 10). */
  uint64_t max_delay_ms;       /**< Longest delay (default 10000). */
  double multiplier;           /**< Growth per attempt (default 2.0). */
  double jitter;               /**< Fraction of each delay drawn at random,
                                    0 to 1 (default 0: none). */
  future_retry_pred should_retry; /**< Default future_retry_transient. */
  void *data;                  /**< Passed to should_retry. */
} future_retry_policy_t;

/**
 * The default retry predicate: retries the transient libuv errors
 * (UV_EAGAIN, UV_EMFILE, UV_ENFILE, UV_EBUSY, UV_ETIMEDOUT, UV_ECONNRESET,
 * UV_ECONNREFUSED, UV_EINTR, UV_ENOBUFS, UV_EPIPE, UV_EAI_AGAIN); never
 * UV_ECANCELED or anything else (UV_ENOENT, UV_EACCES, UV_EISDIR, user
 * codes, ...).
 * @since 0.1.0
 */
FUTURE_EXTERN int future_retry_transient(const future_error_t *err,
                                         unsigned attempt, void *data);

/**
 * Call `attempt` until the future it returns fulfils, waiting between
 * attempts initial_delay_ms * multiplier^(k-1) (capped, with jitter), as
 * long as the policy's predicate says the error is worth retrying and
 * attempts remain. Fulfils with the successful attempt's value; rejects
 * with the last error, wrapped in one that says how many attempts were
 * made (same code, the last error as its cause). `policy` may be NULL
 * (defaults) and is copied. Cancelling the result cancels the attempt in
 * flight or the wait between attempts.
 * @return a new reference; NULL if `loop` or `attempt` is NULL or memory
 * runs out.
 * @since 0.1.0
 */
FUTURE_EXTERN future_t *future_retry(uv_loop_t *loop, future_attempt_cb attempt,
                                     void *data,
                                     const future_retry_policy_t *policy)
    FUTURE_WARN_UNUSED;

/* the blocking path */

/**
 * The outcome handed back by future_wait. It holds its own references:
 * release it with future_result_release. `value` is valid until then.
 */
typedef struct future_result_s {
  int status;             /**< 0 if fulfilled, else the error's code. */
  void *value;            /**< The value, when fulfilled. */
  future_error_t *error;  /**< The error, when rejected (owned). */
  void *reserved_holder;  /**< Private: keeps the value alive. */
} future_result_t;

/**
 * Block until `f` (consumed) settles, and put its outcome in `*result`.
 *
 * On the loop's own thread, outside any callback of that loop, it runs the
 * loop until `f` settles; if the loop runs out of work first, the result is
 * FUTURE_ESTALLED. Inside a callback that the library runs on that loop it
 * does not re-enter uv_run: the result is FUTURE_EINCALLBACK (libuv cannot
 * tell the library about callbacks of your own raw libuv handles: never
 * call future_wait from those). On any other thread it blocks that thread
 * until the loop's thread, which must be running the loop, settles `f`.
 * The loop's thread takes the wait in when it runs the loop or settles a
 * future by hand; from then until the wait is delivered, the wait keeps
 * the loop alive (uv_run does not return), as a resolver does.
 *
 * `*result` is always filled in, also on failure (then with an error saying
 * what went wrong), and must be released with future_result_release;
 * `result` may be NULL to discard the outcome. The error of `f` counts as
 * observed. From another thread, a future that nobody else holds can never
 * settle: the result is then FUTURE_ESTALLED.
 * @return result->status: 0 if `f` fulfilled, else a negative code.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_wait(future_t *f, future_result_t *result);

/**
 * Release what `result` holds (the value's share, the error) and zero it.
 * Safe on a zeroed result and from any thread.
 * @since 0.1.0
 */
FUTURE_EXTERN void future_result_release(future_result_t *result);

/* tracing */

/**
 * Start recording what the library does, in every loop and thread, to
 * `path` as Chrome trace-event JSON, which tools/future-trace (installed
 * as future-trace: a text timeline, or an HTML page), Perfetto
 * (ui.perfetto.dev) and chrome://tracing open: futures created and
 * settled (each with an id of its own, from 1), continuations run (with
 * their duration, labelled then, catch, then/catch or finally and the
 * callback's name), time blocked in future_wait, work on libuv's pool
 * threads, and libuv requests from start to settle, named with their
 * arguments ("fs.read_file /etc/hosts", "delay 50 ms", "work"). Each
 * thread is a lane: "loop N" for a thread that runs a loop, "pool N" for
 * libuv's pool threads, "thread N" for the others.
 *
 * The file is opened (created or truncated) here, and events are written
 * to it as they come, in blocks: a trace takes a buffer of 64 KiB and 32
 * bytes per future alive at once, however long it records. Setting the
 * environment variable FUTURE_TRACE to a path does the same from the first
 * future on, and writes the end of the file when the process exits; a
 * path it cannot open is reported in one line on stderr, and nothing is
 * recorded.
 * @return 0; UV_EBUSY if already recording; UV_EINVAL for a NULL or empty
 * path; UV_ENOMEM; or the error opening `path` (UV_ENOENT, UV_EACCES...).
 * @since 0.1.0
 */
FUTURE_EXTERN int future_trace_start(const char *path);

/**
 * Stop recording, write the rest of the trace and close the file.
 * @return 0; UV_EINVAL if not recording; UV_EIO if the file could not be
 * written (now or earlier in the trace).
 * @since 0.1.0
 */
FUTURE_EXTERN int future_trace_stop(void);

/**
 * An instant event `name` (copied) in the trace, on the calling thread's
 * lane, where a program marks moments of its own ("beat", "config
 * loaded"). Any thread may call it; while no trace records it does
 * nothing, nor for a NULL name.
 * @since 0.2.0
 */
FUTURE_EXTERN void future_trace_mark(const char *name);

/**
 * Begin a span `name` (copied) on the calling thread's lane; the next
 * future_trace_end on the same thread ends it. Spans of one thread nest
 * (end the inner one first). Any thread may call it; while no trace
 * records it does nothing, nor for a NULL name.
 * @since 0.2.0
 */
FUTURE_EXTERN void future_trace_begin(const char *name);

/**
 * End the span the calling thread began last with future_trace_begin;
 * `name` is the same name. Any thread; nothing while no trace records.
 * @since 0.2.0
 */
FUTURE_EXTERN void future_trace_end(const char *name);

/* memory */

/** Allocation functions, as for uv_replace_allocator. */
typedef void *(*future_malloc_fn)(size_t size);
typedef void *(*future_realloc_fn)(void *ptr, size_t size);
typedef void *(*future_calloc_fn)(size_t count, size_t size);
typedef void (*future_free_fn)(void *ptr);

/**
 * Make every allocation of the library (futures, errors, values it creates,
 * internal state, the trace's buffer) go through the given functions,
 * which must behave like
 * their standard namesakes and be safe to call from any thread (errors and
 * values may be released on other threads). libuv's own allocations are
 * not affected (see uv_replace_allocator). Call it before any future
 * exists. Useful to count memory, or to fail the n-th allocation in tests:
 * every failure surfaces as a UV_ENOMEM rejection or return code.
 * @return 0; UV_EINVAL if a function is NULL; UV_EBUSY if any loop has
 * library state or a trace is recording (memory from one allocator must
 * not reach another).
 * @since 0.1.0
 */
FUTURE_EXTERN int future_set_allocator(future_malloc_fn malloc_fn,
                                       future_realloc_fn realloc_fn,
                                       future_calloc_fn calloc_fn,
                                       future_free_fn free_fn);

/* loops */

/**
 * Tear down the library's state for `loop`: take in what other threads
 * have posted (waits, resolvers' deliveries, released lists); run the
 * continuations still queued; cancel every libuv request still in flight (fs, work, timers:
 * their futures reject with UV_ECANCELED, which travels down their chains
 * as usual) and run the loop until libuv has handed each one back; then,
 * if no future is left, close the library's handles and run the loop once
 * (UV_RUN_NOWAIT) so that their close callbacks complete. Afterwards
 * uv_loop_close(loop) can return 0. Calling it for a loop that never had
 * futures does nothing. Futures created on `loop` later start new state.
 * Other threads may be delivering, waiting or releasing meanwhile: each
 * keeps a future alive until the loop has taken its post in, and the
 * state is freed only once no thread is still inside such a call.
 *
 * Teardown may come before or after a uv_walk that closes every handle
 * (the usual end of a libuv program). The library keeps three handles per
 * loop (an idle handle that runs continuations, an async handle through
 * which other threads reach the loop, one timer for every future_delay,
 * timeout and retry backoff), and one watcher per pending future_signal,
 * future_fs_watch or future_fs_watch_file, and the process handle and
 * captured pipes of each child of future_spawn or future_exec (a child is
 * reaped before this call returns: see future/process.h), and each UDP
 * socket (future_udp_new) not closed yet, which this call closes, and
 * one handle per stream (future/stream.h);
 * files, work, timers and lookups have none of their own. When a walk
 * closes them first, the library notices: from then on continuations run
 * only in future_wait and in this call, delays no longer fire, and this
 * call finishes those closes (and frees the watchers) instead of closing
 * the handles again. Programs
 * whose walk frees handles can skip the library's with
 * future_loop_owns_handle.
 * @return 0; UV_EBUSY if futures or streams on `loop` are still referenced, by you,
 * by a resolver not yet used or by another thread's wait (nothing is torn
 * down: release them, then call again); FUTURE_EINCALLBACK if called from a callback that the
 * library runs on `loop`; UV_EINVAL if `loop` is NULL.
 * @since 0.1.0
 */
FUTURE_EXTERN int future_loop_close(uv_loop_t *loop);

/**
 * Whether `handle` is one of the library's own handles (those
 * future_loop_close closes: the loop's three, the watchers of
 * pending signal and file watches, the handles of children, UDP
 * sockets, and streams). A uv_walk callback that frees what it
 * closes, or that counts the program's handles, skips these; one that
 * only closes may close them too (see future_loop_close). Safe on any
 * handle of any loop, open or closed, on the thread that runs the
 * handle's loop (a uv_walk callback runs there).
 * @return 1 if it is; 0 if not, or if `handle` is NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_loop_owns_handle(const uv_handle_t *handle);

/**
 * The number of futures alive on `loop`: created and not yet freed. Useful
 * in tests and to find leaks. 0 for a loop without library state.
 * @since 0.1.0
 */
FUTURE_EXTERN size_t future_loop_live(uv_loop_t *loop);

/* The call-site macros (see FUTURE_AT above). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_timeout(...) FUTURE_AT(future_timeout(__VA_ARGS__))
#define future_work(...) FUTURE_AT(future_work(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

/* The libuv requests as futures, one header each; fibers and await. */
#include "future/fs.h"
#include "future/async.h"
#include "future/dns.h"
#include "future/signal.h"
#include "future/watch.h"
#include "future/process.h"
#include "future/udp.h"
#include "future/stream.h"

#endif /* FUTURE_H */
