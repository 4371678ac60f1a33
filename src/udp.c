/*
 * UDP sockets as futures. A socket is a block with its libuv handle,
 * listed among the loop's operation handles (loop.c), so that a uv_walk
 * that closes it behind the library's back leaks nothing, and teardown
 * closes one the program left open.
 *
 * Receives wait in a queue, first asked first served; the handle reads
 * only while the queue is not empty, so that nothing is ever buffered by
 * the library: with no one waiting, datagrams stay in the system's
 * (bounded) buffer. Each datagram is read into a block of its own, which
 * becomes the value of the future it fulfils, so no buffer outlives a
 * read. Sends and receives are requests of the loop, which teardown
 * cancels and waits for.
 */
#include "internal.h"

#include <future/udp.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_RECV_SIZE ((size_t)65536)

typedef struct recv_s {
  struct recv_s *next, *prev;
  future_t *f; /* the request's reference */
  future_udp_t *u;
  size_t max;
  future__site_t site;
} recv_t;

struct future_udp_s {
  future__handle_t h; /* first: handle->data points here */
  uv_udp_t handle;
  recv_t *head, *tail; /* waiting receives */
  future_t *close_f;   /* future_udp_close's, until the handle is closed */
  int closing;         /* future_udp_close was called */
};

typedef struct {
  uv_udp_send_t req;
  future_t *f; /* the request's reference */
  size_t len;
  future__site_t site;
  char peer[64];
  char data[];
} send_t;

/* "127.0.0.1:9", "[::1]:9": the peer as messages name it. */
static void addr_text(const struct sockaddr *sa, char *out, size_t n) {
  char ip[64];
  if (sa != NULL && sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    if (uv_ip4_name(in, ip, sizeof ip) != 0)
      strcpy(ip, "?");
    snprintf(out, n, "%s:%d", ip, ntohs(in->sin_port));
  } else if (sa != NULL && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (uv_ip6_name(in6, ip, sizeof ip) != 0)
      strcpy(ip, "?");
    snprintf(out, n, "[%s]:%d", ip, ntohs(in6->sin6_port));
  } else {
    snprintf(out, n, "(no address)");
  }
}

static size_t addr_size(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
}

/* The socket's own address, for messages ("(no address)" if unbound). */
static void local_text(const future_udp_t *u, char *out, size_t n) {
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  if (uv_udp_getsockname(&u->handle, (struct sockaddr *)&ss, &len) == 0)
    addr_text((const struct sockaddr *)&ss, out, n);
  else
    addr_text(NULL, out, n);
}

static int usable(const future_udp_t *u) {
  return !u->closing && !uv_is_closing((const uv_handle_t *)&u->handle);
}

future_udp_t *future_udp_new(uv_loop_t *loop) {
  future__loop_t *lp;
  future_udp_t *u;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  u = future__calloc(1, sizeof(*u));
  if (u == NULL)
    return NULL;
  if (uv_udp_init(loop, &u->handle) != 0) {
    future__free(u);
    return NULL;
  }
  future__handle_list(lp, &u->h, &u->h, (uv_handle_t *)&u->handle);
  return u;
}

int future_udp_bind(future_udp_t *u, const struct sockaddr *addr,
                    unsigned flags) {
  if (u == NULL || addr == NULL || !usable(u))
    return UV_EINVAL;
  return uv_udp_bind(&u->handle, addr, flags);
}

int future_udp_local(const future_udp_t *u, struct sockaddr_storage *out) {
  int len = (int)sizeof(*out);
  if (u == NULL || out == NULL || !usable(u))
    return UV_EINVAL;
  return uv_udp_getsockname(&u->handle, (struct sockaddr *)out, &len);
}

/* Sending. */

static void on_send(uv_udp_send_t *req, int status) {
  send_t *s = req->data;
  future_t *f = s->f;
  if (status < 0) {
    future__source_fail(f, future__error_site(&s->site, status, "send %s",
                                              s->peer));
  } else {
    future__source_fulfil(f, (void *)(uintptr_t)s->len, NULL);
  }
  future__free(s);
}

static int send_cancel(future_t *f, void *req) {
  (void)f;
  (void)req;
  return 0; /* libuv cannot take a send back: on_send releases it */
}

future_t *future_udp_send(future_udp_t *u, const struct sockaddr *addr,
                          const void *data, size_t len) {
  future__site_t site;
  uv_loop_t *loop;
  send_t *s;
  future_t *f;
  uv_buf_t buf;
  int rc;
  if (u == NULL)
    return NULL;
  loop = u->handle.loop;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (addr == NULL || (data == NULL && len > 0) || !usable(u))
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL, "send: %s",
                                 addr == NULL ? "NULL address"
                                 : !usable(u) ? "socket closed"
                                              : "NULL data"));
  if (len > UINT_MAX) { /* more than a uv_buf_t holds, or any datagram */
    char peer[64];
    addr_text(addr, peer, sizeof peer);
    return future_rejected(
        loop, future__error_site(&site, UV_EMSGSIZE, "send %s", peer));
  }
  s = future__malloc(sizeof(*s) + (len > 0 ? len : 1));
  if (s == NULL)
    return NULL;
  s->f = future__source_new(u->h.lp, send_cancel, s);
  if (s->f == NULL) {
    future__free(s);
    return NULL;
  }
  s->len = len;
  s->site = site;
  addr_text(addr, s->peer, sizeof s->peer);
  if (len > 0)
    memcpy(s->data, data, len);
  s->req.data = s;
  FUTURE__TRACE_REQUEST(s->f, "udp.send %s", s->peer);
  buf = uv_buf_init(s->data, (unsigned)len);
  f = s->f;
  rc = uv_udp_send(&s->req, &u->handle, &buf, 1, addr, on_send);
  if (rc < 0)
    on_send(&s->req, rc); /* rejects, and the caller keeps its reference */
  return f;
}

/* Receiving. */

static void recv_unlink(future_udp_t *u, recv_t *r) {
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    u->head = r->next;
  if (r->next != NULL)
    r->next->prev = r->prev;
  else
    u->tail = r->prev;
  r->next = r->prev = NULL;
}

/* No one waits any more: stop reading, so that nothing is buffered. */
static void recv_maybe_stop(future_udp_t *u) {
  if (u->head == NULL && !uv_is_closing((uv_handle_t *)&u->handle))
    uv_udp_recv_stop(&u->handle);
}

/* The first waiting receive leaves the queue with `out`. */
static void recv_settle(future_udp_t *u, recv_t *r, future__outcome_t *out) {
  future_t *f = r->f;
  recv_unlink(u, r);
  future__free(r);
  future__source_done(f, out);
}

static void recv_fail(future_udp_t *u, recv_t *r, int code) {
  char local[80];
  future__outcome_t out = {NULL, NULL, NULL};
  local_text(u, local, sizeof local);
  out.error = future__error_site(&r->site, code, "recv %s", local);
  recv_settle(u, r, &out);
}

static int recv_cancel(future_t *f, void *req) {
  recv_t *r = req;
  future_udp_t *u = r->u;
  (void)f;
  recv_unlink(u, r);
  future__free(r);
  recv_maybe_stop(u);
  return 1;
}

/* Each datagram is read into a block of its own: the future_datagram_t,
 * then the bytes, then a NUL. */
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  future_udp_t *u = handle->data;
  size_t size = u->head != NULL ? u->head->max : DEFAULT_RECV_SIZE;
  future_datagram_t *d;
  (void)suggested;
  d = future__malloc(sizeof(*d) + size + 1);
  if (d == NULL) {
    *buf = uv_buf_init(NULL, 0); /* on_recv gets UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init((char *)(d + 1), (unsigned)size);
}

static void datagram_free(void *p) { future__free(p); }

static void on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  future_udp_t *u = handle->data;
  future_datagram_t *d =
      buf->base != NULL ? (future_datagram_t *)buf->base - 1 : NULL;
  recv_t *r = u->head;
  future__outcome_t out = {NULL, NULL, NULL};
  if (r == NULL || (nread == 0 && addr == NULL)) {
    future__free(d); /* nothing more to read now */
    return;
  }
  if (nread < 0) {
    future__free(d);
    /* UV_ENOBUFS: on_alloc had no memory for the datagram. */
    recv_fail(u, r, nread == UV_ENOBUFS ? UV_ENOMEM : (int)nread);
  } else {
    char *bytes = (char *)(d + 1);
    bytes[nread] = '\0';
    d->data = bytes;
    d->len = (size_t)nread;
    memset(&d->from, 0, sizeof d->from);
    memcpy(&d->from, addr, addr_size(addr));
    d->truncated = (flags & UV_UDP_PARTIAL) != 0;
    future__outcome_of_value(&out, d, datagram_free);
    recv_settle(u, r, &out);
  }
  recv_maybe_stop(u);
}

future_t *future_udp_recv(future_udp_t *u, size_t max_size) {
  future__site_t site;
  recv_t *r;
  future_t *f;
  int rc;
  if (u == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (!usable(u))
    return future_rejected(u->handle.loop,
                           future__error_site(&site, UV_EINVAL,
                                              "recv: socket closed"));
  r = future__calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  f = r->f = future__source_new(u->h.lp, recv_cancel, r);
  if (f == NULL) {
    future__free(r);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(f, "udp.recv");
  r->u = u;
  r->site = site;
  /* No datagram is larger than 64 KiB (IPv6 jumbograms aside), and a
   * larger buffer would only cost memory (or overflow a size). */
  r->max = max_size != 0 && max_size < DEFAULT_RECV_SIZE ? max_size
                                                         : DEFAULT_RECV_SIZE;
  r->prev = u->tail;
  if (u->tail != NULL)
    u->tail->next = r;
  else
    u->head = r;
  u->tail = r;
  if (r->prev == NULL) { /* the first to wait: start reading */
    rc = uv_udp_recv_start(&u->handle, on_alloc, on_recv);
    if (rc < 0)
      recv_fail(u, r, rc); /* the caller keeps its reference */
  }
  return f;
}

/* Closing. */

static void udp_closed(future__handle_t *h) {
  future_udp_t *u = (future_udp_t *)h;
  future_t *f = u->close_f;
  u->close_f = NULL;
  if (f != NULL)
    future__source_fulfil(f, NULL, NULL);
}

static int close_cancel(future_t *f, void *req) {
  (void)f;
  (void)req;
  return 0; /* the close completes all the same (udp_closed) */
}

future_t *future_udp_close(future_udp_t *u) {
  future_t *f;
  if (u == NULL || u->closing)
    return NULL;
  u->closing = 1;
  while (u->head != NULL)
    recv_fail(u, u->head, UV_ECANCELED);
  f = future__source_new(u->h.lp, close_cancel, u);
  if (f != NULL)
    FUTURE__TRACE_REQUEST(f, "udp.close");
  if (uv_is_closing((uv_handle_t *)&u->handle)) {
    /* A walk closed it: teardown frees the block. */
    if (f != NULL)
      future__source_fulfil(f, NULL, NULL); /* the caller keeps its own */
    return f;
  }
  uv_udp_recv_stop(&u->handle);
  u->close_f = f;
  u->h.closed = udp_closed;
  future__handle_close(&u->h);
  return f;
}
