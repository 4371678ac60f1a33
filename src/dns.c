/*
 * Name resolution and random bytes as futures: uv_getaddrinfo,
 * uv_getnameinfo and uv_random, each one request on libuv's thread pool.
 *
 * Each request lives in a block of its own with the strings it was asked
 * about (the error names them). The future is a request-backed source:
 * a cancel asks libuv to take the request out of the pool's queue
 * (uv_cancel, which fails once it runs), and the request's callback
 * always comes, so the block is freed there, with the result when nobody
 * wants it any more.
 */
#include "internal.h"

#include <future/dns.h>

#include <stdio.h>
#include <string.h>

/* getaddrinfo */

typedef struct {
  uv_getaddrinfo_t req;
  future_t *f;
  future__site_t site; /* where it was asked for */
  char *node;    /* copies, NULL when not given; in `text` */
  char *service;
  char text[];
} gai_t;

static void free_addrinfo(void *ai) { uv_freeaddrinfo(ai); }

static int request_cancel(future_t *f, void *req) {
  (void)f;
  /* Succeeds only while the request waits in the pool's queue; either way
   * its callback comes and releases what it holds: 0, the request keeps
   * its reference until then. */
  uv_cancel(req);
  return 0;
}

static void gai_done(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  gai_t *g = req->data;
  if (status == 0) {
    future__source_fulfil(g->f, res, free_addrinfo);
  } else {
    char what[512];
    if (g->node != NULL && g->service != NULL)
      snprintf(what, sizeof what, "getaddrinfo '%s' port '%s'", g->node,
               g->service);
    else if (g->node != NULL)
      snprintf(what, sizeof what, "getaddrinfo '%s'", g->node);
    else
      snprintf(what, sizeof what, "getaddrinfo port '%s'", g->service);
    uv_freeaddrinfo(res); /* NULL on failure; freed all the same */
    future__source_fail(g->f, future__error_site(&g->site, status, "%s", what));
  }
  future__free(g);
}

future_t *future_dns_getaddrinfo(uv_loop_t *loop, const char *node,
                                 const char *service,
                                 const struct addrinfo *hints) {
  future__loop_t *lp;
  size_t nlen, slen;
  gai_t *g;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  if (node == NULL && service == NULL) {
    future__site_t site;
    future__site_get(&site, __FILE__, __LINE__, __func__);
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL,
                                 "future_dns_getaddrinfo: neither a node nor "
                                 "a service"));
  }
  nlen = node != NULL ? strlen(node) + 1 : 0;
  slen = service != NULL ? strlen(service) + 1 : 0;
  g = future__calloc(1, sizeof(*g) + nlen + slen);
  if (g == NULL)
    return NULL;
  if (node != NULL)
    g->node = memcpy(g->text, node, nlen);
  if (service != NULL)
    g->service = memcpy(g->text + nlen, service, slen);
  future__site_get(&g->site, __FILE__, __LINE__, "future_dns_getaddrinfo");
  g->f = future__source_new(lp, request_cancel, &g->req);
  if (g->f == NULL) {
    future__free(g);
    return NULL;
  }
  g->req.data = g;
  FUTURE__TRACE_REQUEST(g->f, "dns.getaddrinfo %s%s%s",
                        g->node != NULL ? g->node : "",
                        g->service != NULL ? " port " : "",
                        g->service != NULL ? g->service : "");
  rc = uv_getaddrinfo(loop, &g->req, gai_done, g->node, g->service, hints);
  if (rc < 0) {
    future_t *f = g->f;
    future__source_fail(f, future__error_site(&g->site, rc, "uv_getaddrinfo"));
    future__free(g);
    return f;
  }
  return g->f;
}

/* getnameinfo */

typedef struct {
  uv_getnameinfo_t req;
  future_t *f;
  future__site_t site;
  char addr[64]; /* the address asked about, for the error */
} gni_t;

static void gni_done(uv_getnameinfo_t *req, int status, const char *host,
                     const char *service) {
  gni_t *g = req->data;
  if (status == 0) {
    future_dns_name_t *name = future__malloc(sizeof(*name));
    if (name == NULL) {
      future__source_fail(g->f, future__error(UV_ENOMEM, "getnameinfo"));
    } else {
      snprintf(name->host, sizeof name->host, "%s", host);
      snprintf(name->service, sizeof name->service, "%s", service);
      future__source_fulfil(g->f, name, future__free);
    }
  } else {
    future__source_fail(g->f, future__error_site(&g->site, status,
                                                 "getnameinfo %s", g->addr));
  }
  future__free(g);
}

/* "127.0.0.1:80" or "[::1]:80", for the error. */
static void format_addr(const struct sockaddr *addr, char *out, size_t size) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    uv_ip4_name(in, host, sizeof host);
    snprintf(out, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
  } else {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    uv_ip6_name(in6, host, sizeof host);
    snprintf(out, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
  }
}

future_t *future_dns_getnameinfo(uv_loop_t *loop, const struct sockaddr *addr,
                                 int flags) {
  future__loop_t *lp;
  gni_t *g;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  if (addr == NULL ||
      (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
    future__site_t site;
    future__site_get(&site, __FILE__, __LINE__, __func__);
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL,
                                 "future_dns_getnameinfo: not an IPv4 or "
                                 "IPv6 address"));
  }
  g = future__calloc(1, sizeof(*g));
  if (g == NULL)
    return NULL;
  format_addr(addr, g->addr, sizeof g->addr);
  future__site_get(&g->site, __FILE__, __LINE__, "future_dns_getnameinfo");
  g->f = future__source_new(lp, request_cancel, &g->req);
  if (g->f == NULL) {
    future__free(g);
    return NULL;
  }
  g->req.data = g;
  FUTURE__TRACE_REQUEST(g->f, "dns.getnameinfo %s", g->addr);
  /* libuv copies the address into the request. */
  rc = uv_getnameinfo(loop, &g->req, gni_done, addr, flags);
  if (rc < 0) {
    future_t *f = g->f;
    future__source_fail(f, future__error_site(&g->site, rc, "getnameinfo %s",
                                              g->addr));
    future__free(g);
    return f;
  }
  return g->f;
}

/* random */

typedef struct {
  uv_random_t req;
  future_t *f;
  future__site_t site;
  future_buf_t buf; /* handed over to the future when it is done */
  char bytes[];
} random_t;

static void random_free(void *buf) {
  /* The buffer is the block's: free the block it sits in. */
  future__free((char *)buf - offsetof(random_t, buf));
}

static void random_done(uv_random_t *req, int status, void *bytes,
                        size_t len) {
  random_t *r = req->data;
  (void)bytes;
  (void)len;
  if (status == 0) {
    future__source_fulfil(r->f, &r->buf, random_free);
  } else {
    future__source_fail(r->f, future__error_site(&r->site, status,
                                                 "random %zu bytes",
                                                 r->buf.len));
    future__free(r);
  }
}

future_t *future_random(uv_loop_t *loop, size_t len) {
  future__loop_t *lp;
  random_t *r;
  future_t *f;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  if (len > SIZE_MAX - sizeof(*r) - 1)
    return NULL;
  r = future__malloc(sizeof(*r) + len + 1);
  if (r == NULL)
    return NULL;
  memset(r, 0, sizeof(*r));
  r->buf.base = r->bytes;
  r->buf.len = len;
  r->bytes[len] = '\0';
  future__site_get(&r->site, __FILE__, __LINE__, "future_random");
  f = r->f = future__source_new(lp, request_cancel, &r->req);
  if (f == NULL) {
    future__free(r);
    return NULL;
  }
  r->req.data = r;
  FUTURE__TRACE_REQUEST(f, "random %zu bytes", len);
  rc = uv_random(loop, &r->req, r->bytes, len, 0, random_done);
  if (rc < 0) {
    future__source_fail(f, future__error_site(&r->site, rc, "random %zu bytes",
                                              len));
    future__free(r);
  }
  return f;
}
