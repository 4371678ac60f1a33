/*
 * Streams as futures: a future_stream_t owns one libuv stream handle
 * (TCP, pipe, TTY) and settles a future per operation on it.
 *
 * The stream is listed among the loop's operation handles (loop.c), so
 * that a uv_walk closing its handle behind the library's back leaks
 * nothing: the registry calls stream_finalize once libuv has finished
 * with the handle (our close callback, or teardown), and the block goes
 * when that has happened and the user holds no reference.
 *
 * Reads are served from a buffer of the stream's, filled from the first
 * read on while a read future is pending or fewer than 64 KiB wait in it
 * (backpressure: uv_read_stop otherwise). Writes,
 * connects and shutdowns are libuv requests, each in a block of its own,
 * whose callbacks always come (with UV_ECANCELED after a close): their
 * cancel hooks close the stream, since libuv cannot take them back, and
 * leave the future to the callback (future__source_done releases what a
 * cancelled request brings).
 */
#include "internal.h"

#include <future/stream.h>

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* How much room a read gives libuv at a time. */
#define STREAM_CHUNK 65536
/* Read ahead: with no read pending, a stream that has started reading goes
 * on until this many bytes are buffered, and only then stops. Stopping as
 * soon as a read is served would cost a reader that reads again at once
 * (every request/response protocol) two epoll_ctl calls per read, since
 * libuv takes the descriptor out of epoll's interest and puts it back. */
#define STREAM_HIGH_WATER 65536

enum read_kind { READ_CHUNK = 1, READ_EXACTLY, READ_TO_EOF, READ_UNTIL };

struct future_stream_s {
  future__handle_t h; /* first: handle->data points here */
  union {
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } u;
  future__loop_t *lp;
  unsigned refs;
  future_stream_kind_t kind;
  int listening;
  int closed;      /* libuv has finished with the handle */
  int reading;     /* between uv_read_start and uv_read_stop */
  int eof;         /* the peer has finished sending */
  int err;         /* the error that ended reading, or 0 */
  int conn_ready;  /* a connection waits for uv_accept */
  int accept_err;  /* a listen error for the next accept */
  /* The buffer: bytes read and not yet taken are buf[start, start+len). */
  char *buf;
  size_t start, len, cap;
  /* The pending read, if any. */
  future_t *read_f;
  enum read_kind read_kind;
  size_t read_n;      /* exactly: n; to_eof and until: the limit */
  size_t scanned;     /* until: bytes searched without a match */
  char *delim;
  size_t dlen;
  future__site_t read_site;
  future_t *accept_f;
  future__site_t accept_site;
  future_t *close_f;
  struct op_s *spare; /* the last write's block, kept for the next write */
  future__release_t release; /* a value's last holder on another thread */
  char peer[80];
};

/* A request: a connect, a write or a shutdown. */
typedef struct op_s {
  union {
    uv_connect_t connect;
    uv_write_t write;
    uv_shutdown_t shutdown;
  } req;
  future_t *f;
  future_stream_t *s;
  void *given; /* write_given: the bytes and their destructor */
  future_dtor_cb dtor;
  future__site_t site;
} op_t;

/* Lifetime. */

static void stream_free(future_stream_t *s) {
  future__free(s->spare);
  future__free(s->buf);
  future__free(s->delim);
  future__free(s);
}

/* The handle is closed (our close callback, or teardown after a walk). */
static void stream_finalize(future__handle_t *h) {
  future_stream_t *s = (future_stream_t *)h;
  future_t *f = s->close_f;
  s->closed = 1;
  s->close_f = NULL;
  if (f != NULL)
    future__source_fulfil(f, NULL, NULL);
  if (s->refs == 0)
    stream_free(s);
}

static int stream_closing(const future_stream_t *s) {
  return s->closed || uv_is_closing((const uv_handle_t *)&s->u.stream);
}

static future_error_t *stream_error(const future__site_t *site,
                                    const future_stream_t *s, int code,
                                    const char *op) {
  return future__error_site(site, code, "%s %s", op, s->peer);
}

static void read_reject(future_stream_t *s, int code);

/* Close the handle (unless closing already): a pending read or accept
 * rejects at once; requests come back from libuv with UV_ECANCELED. */
static void stream_close(future_stream_t *s) {
  if (s->read_f != NULL)
    read_reject(s, UV_ECANCELED);
  if (s->accept_f != NULL) {
    future_t *f = s->accept_f;
    s->accept_f = NULL;
    future__source_fail(f, stream_error(&s->accept_site, s, UV_ECANCELED,
                                        "accept"));
  }
  s->reading = 0;
  if (!stream_closing(s))
    future__handle_close(&s->h);
}

future_stream_t *future_stream_ref(future_stream_t *s) {
  if (s != NULL)
    s->refs++;
  return s;
}

void future_stream_unref(future_stream_t *s) {
  if (s == NULL || --s->refs > 0)
    return;
  s->lp->objects--;
  if (s->closed) {
    stream_free(s);
    return;
  }
  /* Our close callback, or teardown after a walk, frees it. */
  stream_close(s);
}

/* The reference a connect's or accept's value holds. A future_result_t
 * may be released on any thread, the last holder of the value with it:
 * off the loop's thread, letting go is posted to the loop's thread (as a
 * list's items are, combine.c), which takes it in the next time it runs
 * the loop or tears it down; until then the stream counts as held. */
static void stream_release_posted(future__release_t *rel) {
  future_stream_unref(
      (future_stream_t *)((char *)rel - offsetof(future_stream_t, release)));
}

static void stream_unref_value(void *p) {
  future_stream_t *s = p;
  if (future__loop_on_thread(s->lp)) {
    future_stream_unref(s);
  } else {
    s->release.release = stream_release_posted;
    future__loop_post_release(s->lp, &s->release);
  }
}

/* A write to a peer that has gone raises SIGPIPE, whose default action
 * ends the process; libuv leaves that to the program. As Node does, the
 * first stream makes the process ignore it, unless the program has a
 * disposition of its own: the write then fails with UV_EPIPE. */
static uv_once_t sigpipe_once = UV_ONCE_INIT;

static void ignore_sigpipe(void) {
#ifdef SIGPIPE
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
      !(sa.sa_flags & SA_SIGINFO)) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
#endif
}

/* A new stream of `kind` on `loop`, its handle initialised (over `fd`
 * when not -1) and listed; one reference. NULL with *rc set on failure. */
static future_stream_t *stream_new(uv_loop_t *loop, future__loop_t *lp,
                                   future_stream_kind_t kind, uv_file fd,
                                   int *rc) {
  future_stream_t *s;
  uv_once(&sigpipe_once, ignore_sigpipe);
  s = future__calloc(1, sizeof(*s));
  if (s == NULL) {
    *rc = UV_ENOMEM;
    return NULL;
  }
  switch (kind) {
  case FUTURE_STREAM_TCP:
    *rc = uv_tcp_init(loop, &s->u.tcp);
    break;
  case FUTURE_STREAM_PIPE:
    *rc = uv_pipe_init(loop, &s->u.pipe, 0);
    break;
  default:
    *rc = uv_tty_init(loop, &s->u.tty, fd, 0);
    break;
  }
  if (*rc < 0) { /* nothing was registered with the loop */
    future__free(s);
    return NULL;
  }
  s->lp = lp;
  s->kind = kind;
  s->refs = 1;
  lp->objects++;
  s->h.finalize = stream_finalize;
  future__handle_list(lp, &s->h, &s->h, (uv_handle_t *)&s->u.stream);
  return s;
}

/* "127.0.0.1:80" or "[::1]:80". */
static void format_addr(char *out, size_t n, const struct sockaddr *sa) {
  char ip[64] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    snprintf(out, n, "[%s]:%d", ip, port);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
    snprintf(out, n, "%s:%d", ip, port);
  }
}

static void name_pipe(char *out, size_t n, const char *name) {
  snprintf(out, n, "'%s'", name);
}

/* Parse a numeric IPv4 or IPv6 address. */
static int parse_addr(const char *ip, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (ip == NULL || port < 0 || port > 65535)
    return UV_EINVAL;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0)
    return 0;
  if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  return UV_EINVAL;
}

/* Requests. */

static op_t *op_new(future_stream_t *s, const future__site_t *site,
                    future__cancel_cb cancel) {
  op_t *op = s->spare;
  if (op != NULL) { /* libuv initialises the request itself */
    s->spare = NULL;
    op->given = NULL;
    op->dtor = NULL;
  } else if ((op = future__calloc(1, sizeof(*op))) == NULL) {
    return NULL;
  }
  op->s = s;
  op->site = *site;
  op->f = future__source_new(s->lp, cancel, op);
  if (op->f == NULL) {
    future__free(op);
    return NULL;
  }
  op->req.write.data = op; /* the data field is first in every request */
  return op;
}

/* libuv cannot take a request back: closing the stream is the way to
 * stop it, and its callback comes all the same (0: the request keeps its
 * reference until then, and future__source_done discards the result). */
static int op_cancel(future_t *f, void *req) {
  op_t *op = req;
  (void)f;
  if (op->s != NULL)
    stream_close(op->s);
  return 0;
}

/* A request that could not start: its future rejects now. */
static future_t *op_failed(op_t *op, int rc, const char *what) {
  future_t *f = op->f;
  future__source_fail(f, stream_error(&op->site, op->s, rc, what));
  if (op->dtor != NULL)
    op->dtor(op->given);
  future__free(op);
  return f;
}

/* A future rejected at once with `code` ("write 1.2.3.4:5: ..."). */
static future_t *rejected_now(future_stream_t *s, const future__site_t *site,
                              int code, const char *what) {
  return future_rejected(s->u.stream.loop, stream_error(site, s, code, what));
}

/* connecting */

static void on_connect(uv_connect_t *req, int status) {
  op_t *op = req->data;
  future_stream_t *s = op->s;
  if (status == 0) {
    /* The future's value holds the connect's reference to the stream. */
    future__source_fulfil(op->f, s, stream_unref_value);
  } else {
    future__source_fail(op->f, stream_error(&op->site, s, status, "connect"));
    future_stream_unref(s);
  }
  future__free(op);
}

static future_t *connect_start(uv_loop_t *loop, future__loop_t *lp,
                               future_stream_kind_t kind,
                               const future__site_t *site,
                               const struct sockaddr *addr, const char *name) {
  future_stream_t *s;
  op_t *op;
  int rc;
  s = stream_new(loop, lp, kind, -1, &rc);
  if (s == NULL)
    return NULL; /* only UV_ENOMEM: uv_tcp_init and uv_pipe_init succeed */
  if (addr != NULL)
    format_addr(s->peer, sizeof s->peer, addr);
  else
    name_pipe(s->peer, sizeof s->peer, name);
  op = op_new(s, site, op_cancel);
  if (op == NULL) {
    future_stream_unref(s);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(op->f, "connect %s", s->peer);
  if (addr != NULL) {
    rc = uv_tcp_connect(&op->req.connect, &s->u.tcp, addr, on_connect);
    if (rc < 0) {
      future_t *f = op_failed(op, rc, "connect");
      future_stream_unref(s);
      return f;
    }
  } else {
    uv_pipe_connect(&op->req.connect, &s->u.pipe, name, on_connect);
  }
  return op->f;
}

future_t *future_tcp_connect_addr(uv_loop_t *loop,
                                  const struct sockaddr *addr) {
  future__loop_t *lp;
  future__site_t site;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (addr == NULL ||
      (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL, "connect: %s",
                                 addr == NULL ? "NULL address"
                                              : "not an IP address"));
  return connect_start(loop, lp, FUTURE_STREAM_TCP, &site, addr, NULL);
}

future_t *future_tcp_connect(uv_loop_t *loop, const char *ip, int port) {
  future__loop_t *lp;
  future__site_t site;
  struct sockaddr_storage ss;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (parse_addr(ip, port, &ss) < 0)
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL, "connect '%s' port %d",
                                 ip != NULL ? ip : "(null)", port));
  return connect_start(loop, lp, FUTURE_STREAM_TCP, &site,
                       (const struct sockaddr *)&ss, NULL);
}

future_t *future_pipe_connect(uv_loop_t *loop, const char *name) {
  future__loop_t *lp;
  future__site_t site;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (name == NULL)
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL, "connect: NULL name"));
  return connect_start(loop, lp, FUTURE_STREAM_PIPE, &site, NULL, name);
}

int future_stream_open(uv_loop_t *loop, future_stream_kind_t kind, uv_file fd,
                       future_stream_t **out) {
  future__loop_t *lp;
  future_stream_t *s;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (loop == NULL || out == NULL ||
      (kind != FUTURE_STREAM_TCP && kind != FUTURE_STREAM_PIPE &&
       kind != FUTURE_STREAM_TTY))
    return UV_EINVAL;
  if ((lp = future__loop_get(loop)) == NULL)
    return UV_ENOMEM;
  s = stream_new(loop, lp, kind, fd, &rc);
  if (s == NULL)
    return rc;
  if (kind == FUTURE_STREAM_TCP)
    rc = uv_tcp_open(&s->u.tcp, fd);
  else if (kind == FUTURE_STREAM_PIPE)
    rc = uv_pipe_open(&s->u.pipe, fd);
  if (rc < 0) {
    /* The fd stays the caller's: libuv took it only on success. */
    future_stream_unref(s);
    return rc;
  }
  snprintf(s->peer, sizeof s->peer, "fd %d", fd);
  *out = s;
  return 0;
}

/* listening */

static void do_accept(future_stream_t *server);

static void on_connection(uv_stream_t *server, int status) {
  future_stream_t *s = server->data;
  if (status < 0) {
    if (s->accept_f != NULL) {
      future_t *f = s->accept_f;
      s->accept_f = NULL;
      future__source_fail(f, stream_error(&s->accept_site, s, status,
                                          "accept"));
    } else {
      s->accept_err = status;
    }
    return;
  }
  /* Without uv_accept now, libuv stops watching the listener until the
   * next accept takes the connection: the backpressure of accepting. */
  s->conn_ready = 1;
  if (s->accept_f != NULL)
    do_accept(s);
}

static void do_accept(future_stream_t *server) {
  future_t *f = server->accept_f;
  future_stream_t *c;
  int rc;
  server->accept_f = NULL;
  c = stream_new(server->u.stream.loop, server->lp, server->kind, -1, &rc);
  if (c == NULL) { /* the connection waits for the next accept */
    future__source_fail(f, stream_error(&server->accept_site, server, rc,
                                        "accept"));
    return;
  }
  server->conn_ready = 0;
  rc = uv_accept(&server->u.stream, &c->u.stream);
  if (rc < 0) {
    future_stream_unref(c);
    future__source_fail(f, stream_error(&server->accept_site, server, rc,
                                        "accept"));
    return;
  }
  if (c->kind == FUTURE_STREAM_TCP) {
    struct sockaddr_storage ss;
    int n = sizeof ss;
    if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &n) == 0)
      format_addr(c->peer, sizeof c->peer, (struct sockaddr *)&ss);
    else
      snprintf(c->peer, sizeof c->peer, "(peer of %.60s)", server->peer);
  } else {
    snprintf(c->peer, sizeof c->peer, "%s", server->peer);
  }
  future__source_fulfil(f, c, stream_unref_value);
}

static int accept_cancel(future_t *f, void *req) {
  future_stream_t *s = req;
  (void)f;
  s->accept_f = NULL;
  return 1;
}

future_t *future_stream_accept(future_stream_t *s) {
  future__site_t site;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (stream_closing(s))
    return rejected_now(s, &site, UV_EBADF, "accept");
  if (!s->listening)
    return rejected_now(s, &site, UV_EINVAL, "accept (not listening)");
  if (s->accept_f != NULL)
    return rejected_now(s, &site, UV_EBUSY, "accept (one is pending)");
  if (s->accept_err < 0) {
    int rc = s->accept_err;
    s->accept_err = 0;
    return rejected_now(s, &site, rc, "accept");
  }
  s->accept_f = future__source_new(s->lp, accept_cancel, s);
  if (s->accept_f == NULL)
    return NULL;
  s->accept_site = site;
  FUTURE__TRACE_REQUEST(s->accept_f, "accept %s", s->peer);
  {
    future_t *f = future_ref(s->accept_f);
    if (s->conn_ready)
      do_accept(s);
    future__unref(f); /* the request's reference stays until it settles */
    return f;
  }
}

static int listen_start(future_stream_t *s, int backlog) {
  int rc = uv_listen(&s->u.stream, backlog, on_connection);
  if (rc == 0)
    s->listening = 1;
  return rc;
}

int future_tcp_listen(uv_loop_t *loop, const char *ip, int port, int backlog,
                      future_stream_t **out) {
  future__loop_t *lp;
  future_stream_t *s;
  struct sockaddr_storage ss;
  int rc, n;
  if (out != NULL)
    *out = NULL;
  if (loop == NULL || out == NULL || parse_addr(ip, port, &ss) < 0)
    return UV_EINVAL;
  if ((lp = future__loop_get(loop)) == NULL)
    return UV_ENOMEM;
  s = stream_new(loop, lp, FUTURE_STREAM_TCP, -1, &rc);
  if (s == NULL)
    return rc;
  rc = uv_tcp_bind(&s->u.tcp, (const struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = listen_start(s, backlog);
  if (rc < 0) {
    future_stream_unref(s);
    return rc;
  }
  n = sizeof ss;
  if (uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&ss, &n) == 0)
    format_addr(s->peer, sizeof s->peer, (struct sockaddr *)&ss);
  *out = s;
  return 0;
}

int future_pipe_listen(uv_loop_t *loop, const char *name, int backlog,
                       future_stream_t **out) {
  future__loop_t *lp;
  future_stream_t *s;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (loop == NULL || out == NULL || name == NULL)
    return UV_EINVAL;
  if ((lp = future__loop_get(loop)) == NULL)
    return UV_ENOMEM;
  s = stream_new(loop, lp, FUTURE_STREAM_PIPE, -1, &rc);
  if (s == NULL)
    return rc;
  rc = uv_pipe_bind(&s->u.pipe, name);
  if (rc == 0)
    rc = listen_start(s, backlog);
  if (rc < 0) {
    future_stream_unref(s);
    return rc;
  }
  name_pipe(s->peer, sizeof s->peer, name);
  *out = s;
  return 0;
}

/* reading */

static void read_stop(future_stream_t *s) {
  if (s->reading) {
    s->reading = 0;
    uv_read_stop(&s->u.stream);
  }
}

/* Whether the stream's reading keeps the loop alive: only while a read
 * is pending. Reading ahead with none pending must not keep uv_run from
 * returning (a program holding a stream it no longer reads would never
 * end, and future_wait could not tell that nothing will settle). */
static void read_keeps_loop(future_stream_t *s, int keeps) {
  if (keeps)
    uv_ref((uv_handle_t *)&s->u.stream);
  else
    uv_unref((uv_handle_t *)&s->u.stream);
}

/* The pending read leaves the stream. */
static future_t *read_take(future_stream_t *s) {
  future_t *f = s->read_f;
  s->read_f = NULL;
  s->scanned = 0;
  read_keeps_loop(s, 0);
  return f;
}

/* Reject the pending read. */
static void read_fail(future_stream_t *s, future_error_t *err) {
  future__source_fail(read_take(s), err);
}

static void read_reject(future_stream_t *s, int code) {
  read_fail(s, stream_error(&s->read_site, s, code, "read"));
}

/* Take `n` buffered bytes into a new future_buf_t (NUL-terminated), or NULL;
 * the buffer, its bytes and the holder the future keeps them in are one
 * allocation. */
static future_buf_t *take(future_stream_t *s, size_t n,
                          future__holder_t **h) {
  future_buf_t *b = future__holder_block(h, sizeof(*b) + n + 1);
  if (b == NULL)
    return NULL;
  b->base = (char *)(b + 1);
  b->len = n;
  if (n > 0)
    memcpy(b->base, s->buf + s->start, n);
  b->base[n] = '\0';
  s->start += n;
  s->len -= n;
  if (s->len == 0)
    s->start = 0;
  return b;
}

/* Deliver `n` bytes to the pending read. */
static void read_deliver(future_stream_t *s, size_t n) {
  future__holder_t *h;
  future_buf_t *b = take(s, n, &h);
  if (b == NULL) {
    read_fail(s, future__error_site(&s->read_site, UV_ENOMEM, "read %s",
                                    s->peer));
    return;
  }
  future__source_fulfil_held(read_take(s), b, h);
}

/* The end, or an error: what a read that needs more bytes gets. */
static int read_ended(future_stream_t *s) {
  if (s->err < 0) {
    read_reject(s, s->err);
    return 1;
  }
  if (s->eof) {
    read_reject(s, UV_EOF);
    return 1;
  }
  return 0;
}

static void read_too_much(future_stream_t *s, const char *what) {
  read_fail(s, future__error_site(&s->read_site, UV_ENOBUFS,
                                  "read %s: more than %zu bytes %s", s->peer,
                                  s->read_n, what));
}

static const char *find(const char *hay, size_t n, const char *needle,
                        size_t m) {
  size_t i;
  if (m > n)
    return NULL;
  for (i = 0; i + m <= n; i++) {
    const char *p = memchr(hay + i, needle[0], n - m - i + 1);
    if (p == NULL)
      return NULL;
    i = (size_t)(p - hay);
    if (memcmp(p, needle, m) == 0)
      return p;
  }
  return NULL;
}

/* Serve the pending read from the buffer if it can be: returns 1 if it
 * has settled. */
static int read_try(future_stream_t *s) {
  /* No buffer before the first bytes come, and NULL + 0 is undefined. */
  const char *data = s->buf != NULL ? s->buf + s->start : NULL;
  switch (s->read_kind) {
  case READ_CHUNK:
    if (s->len > 0) {
      read_deliver(s, s->len);
      return 1;
    }
    return read_ended(s);
  case READ_EXACTLY:
    if (s->len >= s->read_n) {
      read_deliver(s, s->read_n);
      return 1;
    }
    return read_ended(s);
  case READ_TO_EOF:
    if (s->len > s->read_n) {
      read_too_much(s, "before the end");
      return 1;
    }
    if (s->err < 0) {
      read_reject(s, s->err);
      return 1;
    }
    if (s->eof) {
      read_deliver(s, s->len);
      return 1;
    }
    return 0;
  default: {
    /* Search only what was not searched yet, with an overlap for a
     * delimiter split between two reads. */
    size_t from = s->scanned >= s->dlen ? s->scanned - s->dlen + 1 : 0;
    const char *p;
    if (s->len > 0 && (p = find(data + from, s->len - from, s->delim,
                                s->dlen)) != NULL) {
      size_t n = (size_t)(p - data) + s->dlen;
      if (n > s->read_n)
        read_too_much(s, "without a delimiter");
      else
        read_deliver(s, n);
      return 1;
    }
    s->scanned = s->len;
    if (s->len >= s->read_n) {
      read_too_much(s, "without a delimiter");
      return 1;
    }
    return read_ended(s);
  }
  }
}

static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf) {
  future_stream_t *s = handle->data;
  size_t room;
  (void)hint;
  if (s->start > 0 && s->start + s->len + STREAM_CHUNK > s->cap) {
    memmove(s->buf, s->buf + s->start, s->len);
    s->start = 0;
  }
  if (s->len + STREAM_CHUNK > s->cap) {
    char *nb = future__realloc(s->buf, s->len + STREAM_CHUNK);
    if (nb == NULL) { /* libuv reports UV_ENOBUFS to on_read */
      buf->base = NULL;
      buf->len = 0;
      return;
    }
    s->buf = nb;
    s->cap = s->len + STREAM_CHUNK;
  }
  buf->base = s->buf + s->start + s->len;
  room = s->cap - s->start - s->len;
  /* Reading ahead, fill only up to the high-water mark, where on_read
   * stops reading (no room at all would come back as UV_ENOBUFS, which
   * stops it too). */
  if (s->read_f == NULL) {
    size_t ahead = s->len < STREAM_HIGH_WATER ? STREAM_HIGH_WATER - s->len : 0;
    if (room > ahead)
      room = ahead;
  }
  buf->len = room;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  future_stream_t *s = stream->data;
  (void)buf;
  if (nread > 0) {
    s->len += (size_t)nread; /* libuv wrote into the buffer's free end */
  } else if (nread == UV_EOF) {
    s->eof = 1;
    read_stop(s);
  } else if (nread == UV_ENOBUFS) {
    /* Our allocation failed: the read fails, the stream does not. */
    read_stop(s);
    if (s->read_f != NULL)
      read_reject(s, UV_ENOMEM);
    return;
  } else if (nread < 0) {
    s->err = (int)nread;
    read_stop(s);
  }
  if (s->read_f != NULL)
    read_try(s);
  if (s->read_f == NULL && s->len >= STREAM_HIGH_WATER)
    read_stop(s); /* nobody waits and the buffer is full: backpressure */
}

static int read_cancel(future_t *f, void *req) {
  future_stream_t *s = req;
  (void)f;
  (void)read_take(s);
  read_stop(s);
  return 1; /* the bytes stay buffered */
}

static future_t *read_start(future_stream_t *s, const future__site_t *site,
                            enum read_kind kind, size_t n) {
  future_t *f;
  int rc;
  if (stream_closing(s))
    return rejected_now(s, site, UV_EBADF, "read");
  if (s->listening)
    return rejected_now(s, site, UV_EINVAL, "read (a listener)");
  if (s->read_f != NULL)
    return rejected_now(s, site, UV_EBUSY, "read (one is pending)");
  s->read_f = future__source_new(s->lp, read_cancel, s);
  if (s->read_f == NULL)
    return NULL;
  f = future_ref(s->read_f);
  read_keeps_loop(s, 1);
  s->read_kind = kind;
  s->read_n = n;
  s->read_site = *site;
  s->scanned = 0;
  FUTURE__TRACE_REQUEST(f, "read %s", s->peer);
  if (!read_try(s) && !s->reading) {
    rc = uv_read_start(&s->u.stream, on_alloc, on_read);
    if (rc < 0)
      read_reject(s, rc);
    else
      s->reading = 1;
  }
  future__unref(f);
  return f;
}

future_t *future_stream_read(future_stream_t *s) {
  future__site_t site;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  return read_start(s, &site, READ_CHUNK, 0);
}

future_t *future_stream_read_exactly(future_stream_t *s, size_t n) {
  future__site_t site;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  return read_start(s, &site, READ_EXACTLY, n);
}

future_t *future_stream_read_to_eof(future_stream_t *s, size_t limit) {
  future__site_t site;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  return read_start(s, &site, READ_TO_EOF, limit);
}

future_t *future_stream_read_until(future_stream_t *s, const char *delim,
                                   size_t dlen, size_t limit) {
  future__site_t site;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (delim == NULL || dlen == 0)
    return rejected_now(s, &site, UV_EINVAL, "read (no delimiter)");
  if (s->read_f == NULL && !stream_closing(s)) {
    /* Keep the delimiter (the stream's copy serves the next read too). */
    if (s->dlen != dlen || memcmp(s->delim, delim, dlen) != 0) {
      char *d = future__malloc(dlen);
      if (d == NULL)
        return NULL;
      memcpy(d, delim, dlen);
      future__free(s->delim);
      s->delim = d;
      s->dlen = dlen;
    }
  }
  return read_start(s, &site, READ_UNTIL, limit);
}

size_t future_stream_buffered(const future_stream_t *s) {
  return s != NULL ? s->len : 0;
}

/* writing */

static void on_write(uv_write_t *req, int status) {
  op_t *op = req->data;
  if (op->dtor != NULL)
    op->dtor(op->given);
  if (status == 0)
    future__source_fulfil(op->f, NULL, NULL);
  else
    future__source_fail(op->f, stream_error(&op->site, op->s, status, "write"));
  /* A write's block is 250 bytes and one calloc and one free a write:
   * the stream keeps the last one for its next write (freed with it). */
  if (op->s->spare == NULL && !stream_closing(op->s))
    op->s->spare = op;
  else
    future__free(op);
}

static future_t *write_start(future_stream_t *s, const future__site_t *site,
                             const uv_buf_t *bufs, unsigned nbufs, void *given,
                             future_dtor_cb dtor) {
  op_t *op;
  int rc;
  if (stream_closing(s) || s->listening) {
    if (dtor != NULL)
      dtor(given);
    return rejected_now(s, site, stream_closing(s) ? UV_EBADF : UV_EINVAL,
                        "write");
  }
  op = op_new(s, site, op_cancel);
  if (op == NULL) {
    if (dtor != NULL)
      dtor(given);
    return NULL;
  }
  op->given = given;
  op->dtor = dtor;
  FUTURE__TRACE_REQUEST(op->f, "write %s", s->peer);
  rc = uv_write(&op->req.write, &s->u.stream, bufs, nbufs, on_write);
  if (rc < 0)
    return op_failed(op, rc, "write");
  return op->f;
}

future_t *future_stream_write(future_stream_t *s, const void *base,
                              size_t len) {
  future__site_t site;
  uv_buf_t b;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (base == NULL && len > 0)
    return rejected_now(s, &site, UV_EINVAL, "write (NULL bytes)");
  b = uv_buf_init((char *)base, (unsigned)len);
  b.len = len;
  return write_start(s, &site, &b, 1, NULL, NULL);
}

future_t *future_stream_write_given(future_stream_t *s, void *base, size_t len,
                                    future_dtor_cb dtor) {
  future__site_t site;
  uv_buf_t b;
  if (s == NULL) {
    if (dtor != NULL)
      dtor(base);
    return NULL;
  }
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (base == NULL && len > 0)
    return rejected_now(s, &site, UV_EINVAL, "write (NULL bytes)");
  b = uv_buf_init(base, (unsigned)len);
  b.len = len;
  return write_start(s, &site, &b, 1, base, dtor);
}

future_t *future_stream_writev(future_stream_t *s, const uv_buf_t *bufs,
                               unsigned nbufs) {
  future__site_t site;
  uv_buf_t empty = {NULL, 0};
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (bufs == NULL && nbufs > 0)
    return rejected_now(s, &site, UV_EINVAL, "write (NULL buffers)");
  if (nbufs == 0) /* libuv wants at least one buffer */
    return write_start(s, &site, &empty, 1, NULL, NULL);
  return write_start(s, &site, bufs, nbufs, NULL, NULL);
}

/* ending */

static void on_shutdown(uv_shutdown_t *req, int status) {
  op_t *op = req->data;
  if (status == 0)
    future__source_fulfil(op->f, NULL, NULL);
  else
    future__source_fail(op->f,
                        stream_error(&op->site, op->s, status, "shutdown"));
  future__free(op);
}

future_t *future_stream_shutdown(future_stream_t *s) {
  future__site_t site;
  op_t *op;
  int rc;
  if (s == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (stream_closing(s) || s->listening)
    return rejected_now(s, &site, stream_closing(s) ? UV_EBADF : UV_EINVAL,
                        "shutdown");
  op = op_new(s, &site, op_cancel);
  if (op == NULL)
    return NULL;
  FUTURE__TRACE_REQUEST(op->f, "shutdown %s", s->peer);
  rc = uv_shutdown(&op->req.shutdown, &s->u.stream, on_shutdown);
  if (rc < 0)
    return op_failed(op, rc, "shutdown");
  return op->f;
}

static int close_cancel(future_t *f, void *req) {
  future_stream_t *s = req;
  (void)f;
  s->close_f = NULL; /* the close goes on */
  return 1;
}

future_t *future_stream_close(future_stream_t *s) {
  if (s == NULL)
    return NULL;
  if (s->close_f != NULL)
    return future_ref(s->close_f);
  if (s->closed ||
      (uv_is_closing((uv_handle_t *)&s->u.stream) && !s->h.closed_by_us)) {
    /* Closed, or being closed by somebody else (a walk), whose close
     * callback is not ours to wait for. */
    stream_close(s); /* settles a pending read or accept */
    return future_resolved(s->u.stream.loop, NULL, NULL);
  }
  s->close_f = future__source_new(s->lp, close_cancel, s);
  if (s->close_f == NULL)
    return NULL;
  FUTURE__TRACE_REQUEST(s->close_f, "close %s", s->peer);
  {
    future_t *f = future_ref(s->close_f);
    stream_close(s);
    future__unref(f);
    return f;
  }
}

/* looking at a stream */

const char *future_stream_peer(const future_stream_t *s) {
  return s != NULL ? s->peer : "";
}

int future_stream_port(const future_stream_t *s) {
  struct sockaddr_storage ss;
  int n = sizeof ss, rc;
  if (s == NULL || s->kind != FUTURE_STREAM_TCP)
    return UV_EINVAL;
  if (stream_closing(s))
    return UV_EBADF;
  rc = uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&ss, &n);
  if (rc < 0)
    return rc;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

uv_stream_t *future_stream_handle(future_stream_t *s) {
  return s != NULL ? &s->u.stream : NULL;
}

future_stream_kind_t future_stream_kind(const future_stream_t *s) {
  return s != NULL ? s->kind : (future_stream_kind_t)0;
}
