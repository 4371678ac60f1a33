/*
 * libfuture: signals as futures (libuv's uv_signal_t). Included by
 * <future.h>; do not include it directly.
 */
#ifndef FUTURE_SIGNAL_H
#define FUTURE_SIGNAL_H

#include <future.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A future for the next delivery of the signal `signum` (SIGINT, SIGTERM,
 * SIGUSR1, ...) to the process, fulfilled on the loop's thread with the
 * signal's number as its value: (int)(intptr_t)future_value(f).
 *
 * Each future has its own libuv signal watcher, started at once: a
 * delivery fulfils every future waiting for that signal, and one that
 * comes while none waits is not kept for the next. While a watcher
 * exists, libuv catches the signal, so its default action (ending the
 * process, for SIGINT) does not happen; libuv restores the previous
 * disposition when the last watcher of the signal goes.
 *
 * While pending the future keeps the loop alive, as an active timer does:
 * cancel it (future_cancel, or let future_race or a timeout do it) when
 * the signal is no longer awaited. Cancelling stops the watcher at once.
 * future_loop_close cancels it too; a uv_walk that closes its handle
 * first leaves it pending until then, and loses nothing.
 * @return a new reference; rejected with UV_EINVAL ("watch signal N: ...")
 * if `signum` is not a signal libuv can watch; NULL if `loop` is NULL or
 * memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_signal(uv_loop_t *loop,
                                      int signum) FUTURE_WARN_UNUSED;

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_signal(...) FUTURE_AT(future_signal(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_SIGNAL_H */
