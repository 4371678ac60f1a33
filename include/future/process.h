/*
 * libfuture: child processes as futures (libuv's uv_spawn). Included by
 * <future.h>; do not include it directly.
 *
 * A child is its future: future_spawn starts the program and returns a
 * future for its end, fulfilled once the child has exited, libuv has
 * reaped it and every pipe the library reads from it has reached its end.
 * future_process_kill and future_process_pid reach the child through that
 * future while it is pending. future_exec runs a program and collects
 * what it writes, as Node's execFile does.
 *
 * While pending the future keeps the loop alive, as the running child
 * does. Cancelling it (future_cancel, future_race, future_timeout,
 * future_loop_close) asks the child to end with SIGTERM, and with SIGKILL
 * once the grace period has passed; the future rejects with UV_ECANCELED
 * at once, as every cancelled future does, but the library still reaps the
 * child: the loop stays alive until then, and future_loop_close waits for
 * it, so no zombie is left behind.
 */
#ifndef FUTURE_PROCESS_H
#define FUTURE_PROCESS_H

#include <future.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a child's standard stream (0, 1 or 2) is connected to. */
typedef enum {
  /** The parent's own stream of that number (the default: all fields
   *  zero). */
  FUTURE_STDIO_INHERIT = 0,
  /** /dev/null. */
  FUTURE_STDIO_IGNORE = 1,
  /** The parent's descriptor `fd`. */
  FUTURE_STDIO_FD = 2,
  /** A pipe the library reads to its end; what came is in the
   *  future_exit_t (stdout and stderr only). */
  FUTURE_STDIO_CAPTURE = 3
} future_stdio_kind_t;

/** One standard stream of a child. */
typedef struct future_stdio_s {
  future_stdio_kind_t kind;
  int fd; /**< For FUTURE_STDIO_FD. */
} future_stdio_t;

/** How to start a child: all fields but `file` may be left zero. */
typedef struct future_spawn_options_s {
  const char *file;        /**< The program: a path, or a name looked up
                                in PATH (execvp). */
  const char *const *args; /**< argv, NULL-terminated, args[0] included;
                                NULL: just `file`. */
  const char *const *env;  /**< "NAME=value" strings, NULL-terminated;
                                NULL: the parent's environment. */
  const char *cwd;         /**< Working directory; NULL: the parent's. */
  future_stdio_t stdio[3]; /**< stdin, stdout, stderr. */
  size_t max_output;       /**< Most bytes captured per stream; 0: 1 MiB
                                (Node's maxBuffer). */
  unsigned kill_grace_ms;  /**< Between SIGTERM and SIGKILL when the
                                child must end; 0: 2000 ms. */
} future_spawn_options_t;

/** How a child ended, and what the library captured of its output. */
typedef struct future_exit_s {
  int64_t status;     /**< Its exit status; 0 if a signal ended it. */
  int signal;         /**< The signal that ended it, or 0. */
  int pid;            /**< Its process id (reaped: do not signal it). */
  const char *out;    /**< Captured stdout, NUL-terminated; NULL if
                           stdout was not captured. */
  size_t out_len;     /**< Its length (it may hold NUL bytes). */
  const char *err;    /**< Captured stderr, the same way. */
  size_t err_len;
} future_exit_t;

/**
 * Start a child process (uv_spawn) as `opts` says, and give the future of
 * its end: fulfilled with a `const future_exit_t *` owned by the future,
 * whatever its exit status (a non-zero status, or a signal, is a normal
 * end: read `status` and `signal`). Node's child_process.spawn with the
 * 'exit' and 'close' events as one future.
 *
 * Rejected with: the error of the spawn, naming the program ("spawn
 * /no/such: no such file or directory (ENOENT)", also EACCES, a cwd that
 * does not exist...); UV_ENOBUFS ("spawn sh: stdout over 1024 bytes")
 * when a captured stream passes `max_output`, once the child has been
 * made to end (SIGTERM, then SIGKILL after the grace period) and has been
 * reaped; UV_EINVAL if `opts` or `opts->file` is NULL, a stdio kind is
 * unknown, a FUTURE_STDIO_FD has a negative fd, or stdin is to be
 * captured. A captured stream that cannot be read (memory runs out)
 * rejects the same way, with its error, after the child has ended.
 *
 * Cancelled, the future rejects with UV_ECANCELED at once; the library
 * stops reading, sends SIGTERM, SIGKILL after `kill_grace_ms` if the
 * child is still there, and reaps it (future_loop_close waits for that).
 * @return a new reference; NULL if `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_spawn(uv_loop_t *loop,
                                     const future_spawn_options_t *opts)
    FUTURE_WARN_UNUSED;

/**
 * Run `file` with `args` (as future_spawn: NULL-terminated, args[0]
 * included; NULL: just `file`), stdin from /dev/null, and collect its
 * stdout and stderr whole, each up to `max_output` bytes (0: 1 MiB).
 * Node's util.promisify(execFile), with one documented difference: a
 * non-zero exit status or a signal fulfils the future all the same
 * (Node rejects), since an error could not carry the output, which is
 * often what the caller wants to see; check `status` and `signal`.
 * @return a new reference, fulfilled with a `const future_exit_t *`
 * owned by the future (`out` and `err` both set); rejected as
 * future_spawn is (UV_ENOBUFS when the output passes the limit, after the
 * child has been ended and reaped). NULL if `loop` is NULL or memory runs
 * out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_exec(uv_loop_t *loop, const char *file,
                                    const char *const *args,
                                    size_t max_output) FUTURE_WARN_UNUSED;

/**
 * Send `signum` to the child behind the pending future `f` of
 * future_spawn or future_exec (borrowed). The future settles when the
 * child ends, as always. Node's subprocess.kill.
 * @return 0 (the signal was sent); UV_EINVAL if `f` is NULL or not the
 * future of a child, or `signum` is not a signal; FUTURE_ESETTLED if `f`
 * has settled (cancelled, say: the library is ending the child itself);
 * UV_ESRCH if the child has exited already (its output is still being
 * read).
 * @since 0.2.0
 */
FUTURE_EXTERN int future_process_kill(future_t *f, int signum);

/**
 * The process id of the child behind the pending future `f` of
 * future_spawn or future_exec (borrowed).
 * @return the pid; 0 if `f` is NULL, is no such future, or has settled
 * (the pid is then in its future_exit_t).
 * @since 0.2.0
 */
FUTURE_EXTERN int future_process_pid(const future_t *f);

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_spawn(...) FUTURE_AT(future_spawn(__VA_ARGS__))
#define future_exec(...) FUTURE_AT(future_exec(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_PROCESS_H */
