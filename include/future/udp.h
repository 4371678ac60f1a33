/*
 * libfuture: UDP sockets as futures (libuv's uv_udp_t). Included by
 * <future.h>; do not include it directly.
 *
 * A future_udp_t is a socket of the loop: bind it (or let the first send
 * bind it), send datagrams (a future each, settled when the datagram has
 * gone to the system), and ask for the next datagram (a future fulfilled
 * with its bytes and its sender). The socket receives only while a
 * future_udp_recv waits: with no one waiting, libuv stops reading
 * (uv_udp_recv_stop), and datagrams wait in the system's buffer, which is
 * bounded (what does not fit is dropped, as UDP does), never in the
 * library's. Node's dgram, one datagram at a time.
 *
 * future_udp_close closes the socket and is a future too. A socket left
 * open is closed by future_loop_close (its pointer is then gone), before
 * or after a uv_walk that closes its handle.
 */
#ifndef FUTURE_UDP_H
#define FUTURE_UDP_H

#include <future.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A UDP socket of a loop (opaque). */
typedef struct future_udp_s future_udp_t;

/** A datagram that future_udp_recv received. */
typedef struct future_datagram_s {
  const char *data;             /**< Its bytes (NUL-terminated after
                                     `len`, for convenience). */
  size_t len;                   /**< How many (0 for an empty datagram). */
  struct sockaddr_storage from; /**< Its sender. */
  int truncated;                /**< 1 if it was larger than the buffer
                                     (UV_UDP_PARTIAL): the rest is lost. */
} future_datagram_t;

/**
 * A new UDP socket of `loop`, not bound yet (uv_udp_init). Use it on the
 * loop's thread only.
 * @return the socket, to close with future_udp_close; NULL if `loop` is
 * NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_udp_t *future_udp_new(uv_loop_t *loop)
    FUTURE_WARN_UNUSED;

/**
 * Bind `u` to `addr` (an IPv4 or IPv6 address; port 0: the system picks
 * one, see future_udp_local) with libuv's `flags` (UV_UDP_IPV6ONLY,
 * UV_UDP_REUSEADDR). Binding is immediate, so it returns a code rather
 * than a future. Node's socket.bind.
 * @return 0; the system's error (UV_EADDRINUSE, UV_EADDRNOTAVAIL, ...);
 * UV_EINVAL if `u` or `addr` is NULL or `u` is closing.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_udp_bind(future_udp_t *u, const struct sockaddr *addr,
                                  unsigned flags);

/**
 * The address `u` is bound to (uv_udp_getsockname), into `out`.
 * @return 0; the system's error (UV_EBADF if not bound yet); UV_EINVAL if
 * `u` or `out` is NULL or `u` is closing.
 * @since 0.2.0
 */
FUTURE_EXTERN int future_udp_local(const future_udp_t *u,
                                   struct sockaddr_storage *out);

/**
 * Send the `len` bytes at `data` (copied) to `addr` in one datagram
 * (uv_udp_send); an unbound socket is bound to any address of `addr`'s
 * family first. Node's socket.send.
 * @return a new reference, fulfilled with the byte count
 * ((size_t)(uintptr_t)future_value(f)) once the datagram has gone to the
 * system; rejected with the system's error naming the peer ("send
 * 127.0.0.1:9: message too long (EMSGSIZE)"; also at once when `len` is
 * more than a uv_buf_t holds, UINT_MAX), with UV_ECANCELED if the
 * socket is closed first, or with UV_EINVAL if `addr` is NULL, `data` is
 * NULL while `len` is not 0, or `u` is closing. NULL if `u` is NULL or
 * memory runs out. Cancelling rejects the future at once, but libuv cannot
 * take a send back: the datagram may still go.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_udp_send(future_udp_t *u,
                                        const struct sockaddr *addr,
                                        const void *data,
                                        size_t len) FUTURE_WARN_UNUSED;

/**
 * The next datagram `u` receives, read into a buffer of `max_size` bytes
 * (0, or more than 65536: 65536, the largest a datagram can be); a larger
 * datagram is cut and says so (`truncated`). Several futures wait in turn: the first
 * asked gets the first datagram. An unbound socket is bound to 0.0.0.0,
 * port 0. Node's socket.on('message'), one datagram at a time.
 * @return a new reference, fulfilled with a `const future_datagram_t *`
 * owned by the future; rejected with the system's error naming the
 * socket ("recv 127.0.0.1:5000: ..."), with UV_ECANCELED if the socket is
 * closed first, or with UV_EINVAL if `u` is closing. NULL if `u` is NULL
 * or memory runs out. Cancelling rejects at once and, if no other future
 * waits, stops receiving: a datagram that comes meanwhile stays in the
 * system's buffer for the next future.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_udp_recv(future_udp_t *u,
                                        size_t max_size) FUTURE_WARN_UNUSED;

/**
 * Close `u`: its waiting receives reject with UV_ECANCELED, its sends
 * still in libuv's queue reject with UV_ECANCELED, and the socket is
 * closed (uv_close). `u` must not be used after this call. Node's
 * socket.close.
 * @return a new reference, fulfilled (NULL value) once libuv has closed
 * the socket (at once if a uv_walk closed it already); NULL if `u` is
 * NULL or already closing, or if memory runs out (the socket is closed
 * all the same).
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_udp_close(future_udp_t *u) FUTURE_WARN_UNUSED;

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_udp_send(...) FUTURE_AT(future_udp_send(__VA_ARGS__))
#define future_udp_recv(...) FUTURE_AT(future_udp_recv(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_UDP_H */
