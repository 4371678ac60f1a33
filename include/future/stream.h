/*
 * libfuture: streams as futures (libuv's uv_tcp_t, uv_pipe_t, uv_tty_t).
 * Included by <future.h>; do not include it directly.
 *
 * A future_stream_t is a connected stream (or a listener): a reference
 * counted object of the loop's thread that owns one libuv handle. Each
 * operation on it is a future: connect, accept the next connection, read
 * (the next chunk, exactly N bytes, up to the end, up to a delimiter),
 * write, shutdown, close. Node's `net`, one future per step: an accept
 * loop is a chain that accepts, hands the connection on and accepts
 * again.
 *
 * LIFETIME. The future of a connect or an accept fulfils with the stream
 * as its value and holds one reference to it, which goes with the future:
 * take your own with future_stream_ref to keep the stream beyond it, and
 * give it back with future_stream_unref. Pending operations do not keep
 * the stream alive: releasing the last reference closes the stream, and
 * its pending operations settle (see "closing" below). While you hold a
 * stream, future_loop_close answers UV_EBUSY. A future_result_t that
 * holds the stream (from future_wait on another thread) may be released
 * on any thread: the reference it held is then given back on the loop's
 * thread, the next time that thread runs the loop or tears it down.
 *
 * BACKPRESSURE. A stream starts reading from the system with its first
 * read future (uv_read_start) and then reads ahead while fewer than 64 KiB
 * wait in its buffer; with no read pending and 64 KiB buffered it stops
 * (uv_read_stop) until a read takes some. So the buffer holds at most 64
 * KiB with no read pending, and at most what the pending read asked for
 * plus 64 KiB: a peer that sends faster than the program reads fills the
 * system's buffers, and then its own sends block, as TCP intends. (Reading
 * ahead, rather than stopping as soon as no read is pending, spares a
 * program that reads again at once, as every request/response protocol
 * does, two epoll_ctl calls a read.) Reading ahead does not keep the
 * loop alive (the handle is unreferenced, uv_unref, while no read is
 * pending): uv_run returns, and future_wait answers FUTURE_ESTALLED, as if
 * the stream were not reading. The same holds for connections: a listener
 * takes a connection from the system only when an accept future asks for
 * one.
 *
 * ONE AT A TIME. A stream has at most one read pending, and a listener at
 * most one accept: a second one rejects with UV_EBUSY. Writes queue, and
 * complete in the order they were made.
 *
 * THE END. When the peer has finished sending (EOF), a read that still
 * needs bytes rejects with UV_EOF ("read 127.0.0.1:4000: end of file
 * (EOF)"), leaving the bytes it had not taken in the buffer for the next
 * read; future_stream_read_to_eof is the exception, for which the end is
 * its success. A connection reset or another error rejects the pending
 * read (and every later one) with the system's code: UV_ECONNRESET,
 * UV_ETIMEDOUT, ...
 *
 * CLOSING. future_stream_close, or releasing the last reference, closes
 * the handle. A pending read or accept rejects with UV_ECANCELED at once;
 * pending writes, a shutdown and a connect reject with UV_ECANCELED when
 * libuv hands them back (from the loop, soon after), unless they had
 * already completed, in which case their outcome stands. Later operations
 * on a closed stream reject with UV_EBADF. A uv_walk that closes the
 * stream's handle behind the library's back is the same as a close, but
 * for the stream's memory, which future_loop_close frees (once you have
 * released the stream).
 *
 * SIGPIPE. A write to a peer that has gone raises SIGPIPE, whose default
 * action ends the process (libuv leaves it to the program). As Node does,
 * the first stream made in the process sets SIGPIPE to be ignored, if its
 * disposition is still the default: such a write then rejects with
 * UV_EPIPE. A program with a handler of its own keeps it.
 *
 * ERRORS name the operation and the peer: "connect 127.0.0.1:9:
 * connection refused (ECONNREFUSED)", "read [::1]:4000: connection reset
 * by peer (ECONNRESET)", "write 'my.sock': broken pipe (EPIPE)".
 *
 * All of these functions run on the loop's thread only.
 */
#ifndef FUTURE_STREAM_H
#define FUTURE_STREAM_H

#include <future.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A stream: a TCP connection, a pipe, a TTY, or a listener. Opaque. */
typedef struct future_stream_s future_stream_t;

/** What a stream's handle is. */
typedef enum {
  FUTURE_STREAM_TCP = 1,  /**< uv_tcp_t */
  FUTURE_STREAM_PIPE = 2, /**< uv_pipe_t (a Unix domain socket, a pipe) */
  FUTURE_STREAM_TTY = 3   /**< uv_tty_t */
} future_stream_kind_t;

/* connecting */

/**
 * Connect over TCP to `ip` (a numeric IPv4 or IPv6 address, such as
 * "127.0.0.1" or "::1": resolve names first with future_dns_getaddrinfo)
 * at `port`. Node's net.connect(port, host).
 *
 * Cancel: closes the handle; the connect rejects with UV_ECANCELED at once
 * and libuv hands the request back (with UV_ECANCELED) from the loop soon
 * after, when the stream goes. A connect that had succeeded by then is
 * discarded the same way: the connection is closed.
 * @return a new reference, fulfilled with the connected stream (a
 * `future_stream_t *` the future holds a reference to; see LIFETIME);
 * rejected with the system's error naming the peer ("connect
 * 127.0.0.1:9: connection refused (ECONNREFUSED)"), or with UV_EINVAL if
 * `ip` is NULL or no numeric address or `port` is not in 0..65535. NULL if
 * `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_tcp_connect(uv_loop_t *loop, const char *ip,
                                           int port) FUTURE_WARN_UNUSED;

/**
 * future_tcp_connect to an address already in a sockaddr (struct
 * sockaddr_in or sockaddr_in6, copied), as getaddrinfo gives them.
 * @return as future_tcp_connect; rejected with UV_EINVAL if `addr` is NULL
 * or neither AF_INET nor AF_INET6.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_tcp_connect_addr(uv_loop_t *loop,
                                                const struct sockaddr *addr)
    FUTURE_WARN_UNUSED;

/**
 * Connect to the pipe (Unix domain socket) `name`. Node's
 * net.connect(path). Cancel: as future_tcp_connect.
 * @return as future_tcp_connect ("connect 'x.sock': no such file or
 * directory (ENOENT)"); rejected with UV_EINVAL if `name` is NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_pipe_connect(uv_loop_t *loop,
                                            const char *name)
    FUTURE_WARN_UNUSED;

/**
 * A stream over the open file descriptor (or socket) `fd` of the given
 * kind: a connected TCP socket, a pipe or socketpair end, or a terminal
 * (uv_tcp_open, uv_pipe_open, uv_tty_init). The stream owns `fd` from now
 * on, and closes it when it closes; if this fails, `fd` is still yours.
 * A terminal is the exception that libuv makes: when `fd` is the slave
 * side of a terminal, libuv opens the terminal anew (so that making it
 * non-blocking does not affect other processes sharing it), and `fd`
 * stays open and yours to close.
 * @param out receives the stream (a new reference), or NULL on failure.
 * @return 0; UV_EINVAL if `loop` or `out` is NULL or `kind` is unknown;
 * UV_ENOMEM; or libuv's error (UV_EBADF, UV_EINVAL for a TTY that is
 * none, ...).
 * @since 0.2.0
 */
FUTURE_EXTERN int future_stream_open(uv_loop_t *loop,
                                     future_stream_kind_t kind, uv_file fd,
                                     future_stream_t **out);

/* listening */

/**
 * Listen for TCP connections on `ip` (numeric, "0.0.0.0", "::1", ...)
 * at `port` (0: the system picks one, see future_stream_port), with a
 * queue of `backlog` connections (uv_listen). Node's
 * net.createServer().listen(port, host), without a callback: take the
 * connections with future_stream_accept.
 * @param out receives the listener (a new reference), or NULL on failure.
 * @return 0; UV_EINVAL for a NULL `loop`, `ip` or `out`, an address that
 * is not numeric or a port out of 0..65535; UV_ENOMEM; or the system's
 * error binding or listening (UV_EADDRINUSE, UV_EACCES, ...).
 * @since 0.2.0
 */
FUTURE_EXTERN int future_tcp_listen(uv_loop_t *loop, const char *ip, int port,
                                    int backlog, future_stream_t **out);

/**
 * Listen on the pipe (Unix domain socket) `name`, which must not exist
 * (the system's UV_EADDRINUSE otherwise); as future_tcp_listen.
 * @return as future_tcp_listen.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_pipe_listen(uv_loop_t *loop, const char *name,
                                     int backlog, future_stream_t **out);

/**
 * The next connection to `server` (borrowed; a listener). Node's
 * 'connection' event, one at a time: chain the next accept in the
 * continuation that receives this one.
 *
 * Cancel: the accept stops waiting; a connection that comes later stays
 * in the system's queue for the next accept.
 * @return a new reference, fulfilled with the new connection (a
 * `future_stream_t *` the future holds a reference to; see LIFETIME);
 * rejected with UV_EINVAL if `server` is not listening, UV_EBUSY if an
 * accept is pending already, UV_EBADF once it is closed, UV_ECANCELED if
 * it closes meanwhile, UV_ENOMEM, or the system's error ("accept
 * 127.0.0.1:4000: too many open files (EMFILE)"). NULL if `server` is NULL
 * or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_accept(future_stream_t *server)
    FUTURE_WARN_UNUSED;

/* reading */

/**
 * The next chunk of bytes from `s` (borrowed): what the stream has
 * buffered, or else the next bytes to come from the peer. Node's
 * 'data' event, one chunk at a time.
 *
 * Cancel: the stream stops reading (uv_read_stop), and bytes already read
 * stay in its buffer for the next read. So do the bytes of any read that
 * rejects.
 * @return a new reference, fulfilled with a `const future_buf_t *` owned by
 * the future (base NUL-terminated after its len bytes, for convenience;
 * len > 0); rejected with UV_EOF at the end of the stream, with the
 * error that ended it (UV_ECONNRESET, ...), with UV_EBUSY if another read
 * is pending, UV_EINVAL for a listener, UV_EBADF if the stream is closed,
 * UV_ECANCELED if it closes meanwhile. NULL if `s` is NULL or memory runs
 * out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_read(future_stream_t *s)
    FUTURE_WARN_UNUSED;

/**
 * Exactly `n` bytes from `s` (borrowed): for records of a known size.
 * `n` = 0 fulfils at once with an empty buffer. Cancel: as
 * future_stream_read.
 * @return as future_stream_read, fulfilled with `n` bytes; rejected with
 * UV_EOF if the stream ends first (the bytes that came stay buffered).
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_read_exactly(future_stream_t *s,
                                                   size_t n)
    FUTURE_WARN_UNUSED;

/**
 * Everything `s` (borrowed) sends until its end, at most `limit` bytes:
 * the end (EOF) is this read's success, with whatever came (maybe
 * nothing). Cancel: as future_stream_read.
 * @return as future_stream_read, fulfilled with the bytes up to the end;
 * rejected with UV_ENOBUFS as soon as more than `limit` bytes have come
 * ("read 127.0.0.1:4000: more than 1024 bytes before the end: no buffer
 * space available (ENOBUFS)"; they stay buffered), or with the error that
 * ended the stream otherwise.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_read_to_eof(future_stream_t *s,
                                                  size_t limit)
    FUTURE_WARN_UNUSED;

/**
 * The bytes of `s` (borrowed) up to and including the first occurrence of
 * `delim` (`dlen` bytes, copied; "\n" for lines, "\r\n\r\n" for HTTP
 * headers), at most `limit` bytes in all. Node's readline, one line at a
 * time. Cancel: as future_stream_read.
 * @return as future_stream_read, fulfilled with the bytes through the
 * delimiter; rejected with UV_ENOBUFS if no delimiter comes within `limit`
 * bytes, with UV_EOF if the stream ends first (a last line without its
 * delimiter stays buffered: future_stream_read takes it), with UV_EINVAL
 * if `delim` is NULL or `dlen` is 0.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_read_until(future_stream_t *s,
                                                 const char *delim,
                                                 size_t dlen, size_t limit)
    FUTURE_WARN_UNUSED;

/**
 * How many bytes `s` has read and no read has taken yet; 0 for NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN size_t future_stream_buffered(const future_stream_t *s);

/* writing */

/**
 * Write `len` bytes at `base` to `s` (borrowed). The bytes are BORROWED
 * until the future settles: keep them unchanged until then (libuv writes
 * straight from them). Node's socket.write.
 *
 * Cancel: libuv cannot take a write back, so cancelling closes the stream
 * (see CLOSING): the future rejects with UV_ECANCELED at once, and after
 * the close libuv reads nothing more from `base`, which is yours again.
 * Bytes written before the cancel may have reached the peer.
 * @return a new reference, fulfilled (with NULL) when the bytes are in
 * the system's hands; rejected with the system's error ("write
 * 127.0.0.1:4000: broken pipe (EPIPE)"), UV_EINVAL for a NULL `base` with
 * a non-zero `len` or a listener, UV_EBADF on a closed stream,
 * UV_ECANCELED if the stream closes first. NULL if `s` is NULL or memory
 * runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_write(future_stream_t *s,
                                            const void *base, size_t len)
    FUTURE_WARN_UNUSED;

/**
 * Write `len` bytes at `base` to `s` (borrowed), the bytes GIVEN to the
 * write: `dtor` (may be NULL) runs on `base` exactly once, when libuv is
 * done with them, whatever the outcome; also at once when the write
 * cannot start, and when this returns NULL. Cancel: as
 * future_stream_write.
 * @return as future_stream_write.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_write_given(future_stream_t *s,
                                                  void *base, size_t len,
                                                  future_dtor_cb dtor)
    FUTURE_WARN_UNUSED;

/**
 * Write the `nbufs` buffers `bufs` to `s` (borrowed) in one go, in order
 * (uv_write with several buffers: one system call where it can). The
 * array is copied; the bytes are BORROWED until the future settles.
 * Cancel: as future_stream_write.
 * @return as future_stream_write; rejected with UV_EINVAL if `bufs` is
 * NULL with a non-zero `nbufs`.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_writev(future_stream_t *s,
                                             const uv_buf_t *bufs,
                                             unsigned nbufs)
    FUTURE_WARN_UNUSED;

/* ending */

/**
 * Shut the writing side of `s` (borrowed) down once the pending writes
 * are done: the peer reads the end (EOF), and can still send. Node's
 * socket.end(). Cancel: as for a write, the stream closes.
 * @return a new reference, fulfilled (with NULL) once the shutdown is
 * done; rejected with the system's error, UV_ENOTCONN if the stream is
 * shutting down already, UV_EINVAL for a listener, UV_EBADF on a closed
 * stream, UV_ECANCELED if it closes first. NULL if `s` is NULL or memory
 * runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_shutdown(future_stream_t *s)
    FUTURE_WARN_UNUSED;

/**
 * Close `s` (borrowed; your reference stays yours to release): its
 * pending operations settle as CLOSING says. Node's socket.destroy() and
 * server.close(). Closing a closed stream fulfils too. Cancel: the close
 * goes on; the future just rejects with UV_ECANCELED.
 * @return a new reference, fulfilled (with NULL) once libuv has closed the
 * handle (at once if the stream was closed already, or if a uv_walk is
 * closing it). NULL if `s` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_stream_close(future_stream_t *s)
    FUTURE_WARN_UNUSED;

/** Add a reference to `s` and return it (NULL gives NULL). @since 0.2.0 */
FUTURE_EXTERN future_stream_t *future_stream_ref(future_stream_t *s);

/**
 * Drop a reference to `s`; the last one closes the stream (see CLOSING)
 * and frees it once libuv is done with it. NULL is a harmless no-op.
 * @since 0.2.0
 */
FUTURE_EXTERN void future_stream_unref(future_stream_t *s);

/* looking at a stream */

/**
 * Who is at the other end, as the errors name it: "127.0.0.1:4000",
 * "[::1]:4000", "'name'" for a pipe, "fd 7" for a stream opened from a
 * descriptor; for a listener, its own address. Valid as long as `s`;
 * "" for NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN const char *future_stream_peer(const future_stream_t *s);

/**
 * The local port of a TCP stream or listener (the one the system picked
 * for port 0); a negative libuv code otherwise (UV_EINVAL for NULL or a
 * stream that is not TCP, UV_EBADF once closed).
 * @since 0.2.0
 */
FUTURE_EXTERN int future_stream_port(const future_stream_t *s);

/**
 * The stream's libuv handle (a uv_tcp_t, uv_pipe_t or uv_tty_t), for the
 * options this header does not wrap (uv_tcp_nodelay, uv_tcp_keepalive,
 * uv_tty_set_mode...). Do not close it, read from it or write to it
 * directly: the stream does that. NULL for NULL.
 * @since 0.2.0
 */
FUTURE_EXTERN uv_stream_t *future_stream_handle(future_stream_t *s);

/** What `s`'s handle is; 0 for NULL. @since 0.2.0 */
FUTURE_EXTERN future_stream_kind_t future_stream_kind(const future_stream_t *s);

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_tcp_connect(...) FUTURE_AT(future_tcp_connect(__VA_ARGS__))
#define future_tcp_connect_addr(...)                                           \
  FUTURE_AT(future_tcp_connect_addr(__VA_ARGS__))
#define future_pipe_connect(...) FUTURE_AT(future_pipe_connect(__VA_ARGS__))
#define future_stream_accept(...) FUTURE_AT(future_stream_accept(__VA_ARGS__))
#define future_stream_read(...) FUTURE_AT(future_stream_read(__VA_ARGS__))
#define future_stream_read_exactly(...)                                        \
  FUTURE_AT(future_stream_read_exactly(__VA_ARGS__))
#define future_stream_read_to_eof(...)                                         \
  FUTURE_AT(future_stream_read_to_eof(__VA_ARGS__))
#define future_stream_read_until(...)                                          \
  FUTURE_AT(future_stream_read_until(__VA_ARGS__))
#define future_stream_write(...) FUTURE_AT(future_stream_write(__VA_ARGS__))
#define future_stream_write_given(...)                                         \
  FUTURE_AT(future_stream_write_given(__VA_ARGS__))
#define future_stream_writev(...) FUTURE_AT(future_stream_writev(__VA_ARGS__))
#define future_stream_shutdown(...)                                            \
  FUTURE_AT(future_stream_shutdown(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_STREAM_H */
