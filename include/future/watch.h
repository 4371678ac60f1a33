/*
 * libfuture: watching files as futures (libuv's uv_fs_event_t and
 * uv_fs_poll_t). Included by <future.h>; do not include it directly.
 *
 * Each future is the next change, one shot: it starts a watcher of its
 * own, which stops at the first change (the future fulfils) or when the
 * future is cancelled. Changes between two futures, while none watches,
 * are not seen: to follow a file, start the next watch before handling
 * the change you got, or compare what you read with what you had.
 *
 * While pending, a watch keeps the loop alive, as an active timer does:
 * cancel it (future_cancel, future_race, future_timeout) when the change
 * is no longer awaited. future_loop_close cancels it too; a uv_walk that
 * closes its handle first leaves it pending until then, and loses
 * nothing (see future_loop_close).
 */
#ifndef FUTURE_WATCH_H
#define FUTURE_WATCH_H

#include <future.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A change that future_fs_watch saw. */
typedef struct future_fs_change_s {
  const char *name; /**< The entry that changed: a name in the directory
                         watched, or the file's own name (may be empty
                         when the system does not say). */
  int events;       /**< UV_RENAME (created, removed, renamed) and/or
                         UV_CHANGE (written, attributes). */
} future_fs_change_t;

/**
 * The next change of the file or directory `path` (a directory: of an
 * entry in it), as the system reports it (inotify on Linux, FSEvents,
 * kqueue, ...; uv_fs_event_start). `flags` are libuv's
 * (UV_FS_EVENT_RECURSIVE where the system can). Node's fs.watch, one
 * event at a time.
 * @return a new reference, fulfilled with a `const future_fs_change_t *`
 * owned by the future; rejected with the system's error ("watch 'p': no
 * such file or directory (ENOENT)") if `path` cannot be watched, or with
 * UV_EINVAL if `path` is NULL. NULL if `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_fs_watch(uv_loop_t *loop, const char *path,
                                        unsigned flags) FUTURE_WARN_UNUSED;

/** The stat of a file before and after a change future_fs_watch_file saw. */
typedef struct future_fs_stat_change_s {
  uv_stat_t prev; /**< Before; all zero if the file did not exist. */
  uv_stat_t curr; /**< After; all zero if the file was removed. */
} future_fs_stat_change_t;

/**
 * The next change of the stat of `path` (size, times, mode, ...), checked
 * every `interval_ms` milliseconds on the thread pool (uv_fs_poll_start):
 * slower than future_fs_watch, but it works where change events do not
 * (network file systems) and for a file that does not exist yet, whose
 * creation is a change. A removal is a change too. Node's fs.watchFile,
 * one change at a time.
 * @return a new reference, fulfilled with a `const
 * future_fs_stat_change_t *` owned by the future; rejected with the
 * system's error ("watch 'p': permission denied (EACCES)") for an error
 * other than the file not existing, or with UV_EINVAL if `path` is NULL or
 * `interval_ms` is 0. NULL if `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_fs_watch_file(uv_loop_t *loop,
                                             const char *path,
                                             unsigned interval_ms)
    FUTURE_WARN_UNUSED;

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_fs_watch(...) FUTURE_AT(future_fs_watch(__VA_ARGS__))
#define future_fs_watch_file(...) FUTURE_AT(future_fs_watch_file(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_WATCH_H */
