/*
 * libfuture: name resolution as futures (libuv's uv_getaddrinfo and
 * uv_getnameinfo, which run on libuv's thread pool), and random bytes
 * from the system (uv_random). Included by <future.h>; do not include it
 * directly.
 *
 * ERRORS name the operation and what was asked, as in
 *
 *     getaddrinfo 'no.such.host' port 'http': unknown node or service (EAI_NONAME)
 *     getnameinfo 127.0.0.1:80: ...
 *
 * The code is libuv's (UV_EAI_NONAME, UV_EAI_AGAIN, ...; future_err_name
 * gives its name). UV_EAI_AGAIN, a temporary failure, is one that
 * future_retry_transient retries.
 *
 * CANCELLATION. future_cancel rejects the future at once with
 * UV_ECANCELED. A lookup still waiting in the thread pool's queue is
 * removed from it and never runs; one already running cannot be
 * interrupted (the system's resolver has no way to): it finishes, and its
 * result is freed, never delivered. Either way the loop stays alive
 * until libuv has handed the request back.
 *
 * Like every request of the library, these need no handle: a uv_walk at
 * the end of a program does not meet them (see future_loop_close).
 */
#ifndef FUTURE_DNS_H
#define FUTURE_DNS_H

#include <future.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Resolve `node` (a host name or a numeric address; may be NULL when
 * `service` is not) and `service` (a port number or a service name from
 * /etc/services; may be NULL) with the system's getaddrinfo, on libuv's
 * thread pool. `hints` (may be NULL) is copied before the call returns,
 * as are `node` and `service`.
 * @return a new reference, fulfilled with the list of addresses, a
 * `const struct addrinfo *` owned by the future: walk it with `ai_next`
 * while you hold the future (or a future_result_t that carries it); the
 * library frees it (uv_freeaddrinfo) when the last holder lets go.
 * Rejected with UV_EINVAL if both `node` and `service` are NULL, or with
 * the resolver's error (UV_EAI_NONAME, ...). NULL if `loop` is NULL or
 * memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_dns_getaddrinfo(uv_loop_t *loop,
                                               const char *node,
                                               const char *service,
                                               const struct addrinfo *hints)
    FUTURE_WARN_UNUSED;

/** The host and service names future_dns_getnameinfo finds. */
typedef struct future_dns_name_s {
  char host[NI_MAXHOST];    /**< The host's name, or its number with
                                 NI_NUMERICHOST. */
  char service[NI_MAXSERV]; /**< The service's name, or the port number. */
} future_dns_name_t;

/**
 * The names of the address `addr` (an IPv4 or IPv6 socket address, copied
 * before the call returns) with the system's getnameinfo, on libuv's
 * thread pool; `flags` are getnameinfo's (NI_NUMERICHOST, NI_NAMEREQD,
 * ...).
 * @return a new reference, fulfilled with a `const future_dns_name_t *`
 * owned by the future. Rejected with UV_EINVAL if `addr` is NULL or of
 * another family, or with the resolver's error. NULL if `loop` is NULL or
 * memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_dns_getnameinfo(uv_loop_t *loop,
                                               const struct sockaddr *addr,
                                               int flags) FUTURE_WARN_UNUSED;

/**
 * `len` random bytes from the system's source of cryptographic randomness
 * (uv_random: getrandom(2), or /dev/urandom), gathered on libuv's thread
 * pool, which matters when the system has not gathered enough entropy yet
 * after booting and the call would block.
 * @return a new reference, fulfilled with a `const future_buf_t *` of
 * `len` bytes owned by the future (0 bytes for `len` 0). Rejected with the
 * system's error. NULL if `loop` is NULL or memory runs out.
 * @since 0.2.0
 */
FUTURE_EXTERN future_t *future_random(uv_loop_t *loop,
                                      size_t len) FUTURE_WARN_UNUSED;

/* The call-site macros (see FUTURE_AT in <future.h>). */
#if !defined(FUTURE_BUILDING) && !defined(FUTURE_NO_CALL_SITES)
#define future_dns_getaddrinfo(...) FUTURE_AT(future_dns_getaddrinfo(__VA_ARGS__))
#define future_dns_getnameinfo(...) FUTURE_AT(future_dns_getnameinfo(__VA_ARGS__))
#define future_random(...) FUTURE_AT(future_random(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* FUTURE_DNS_H */
