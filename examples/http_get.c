/*
 * http_get: a small concurrent HTTP/1.1 client, each GET a chain of
 * futures, several of them under way at once with a limit and a timeout.
 *
 * The JavaScript it mirrors:
 *
 *     const get = (url) =>
 *       fetch(url, { signal: AbortSignal.timeout(2000) })
 *         .then(async (r) => ({ status: r.status, body: await r.text() }))
 *         .catch((e) => ({ error: e.message }));
 *     // Promise.all(urls.map(get)), at most 2 at a time (p-map's limit):
 *     const results = await pMap(urls, get, { concurrency: 2 });
 *
 * Each GET is a chain: resolve the host (future_dns_getaddrinfo), connect,
 * write the request, read the headers up to "\r\n\r\n", read the body
 * (Content-Length bytes), close. future_timeout gives the whole chain
 * 2000 ms (AbortSignal.timeout) and cancels it when that runs out.
 * future_map runs the GETs with at most 2 in flight and hands the results
 * back in the order of the URLs, whatever order they finished in. A GET's
 * error is caught at its end and becomes its result, so that one failure
 * does not stop the others (future_map, like Promise.all, would give up at
 * the first rejection).
 *
 * The server is the program's own, on 127.0.0.1 at a port the system
 * picks, written with the same streams (as in line_server.c): /hello and
 * /big answer, /slow would answer after 10 s (the client gives up first;
 * the server notices the client has gone and drops the answer), anything
 * else is a 404. The last URL is a port where nobody listens.
 *
 * SYNOPSIS
 *     $ ./examples/http_get
 *     server: listening on 127.0.0.1:41234
 *     1. http://localhost:41234/hello -> 200, 13 bytes
 *     2. http://localhost:41234/big -> 200, 100000 bytes
 *     3. http://localhost:41234/slow -> error: timed out after 2000 ms: the
 *        future did not settle in time (ETIMEDOUT)
 *     4. http://localhost:41234/missing -> 404, 10 bytes
 *     5. http://127.0.0.1:1/ -> error: connect 127.0.0.1:1: connection refused (ECONNREFUSED)
 *     5 URLs: 3 answered (2 with 200, 1 with 404), 2 failed; at most 2 in flight (limit 2)
 */
#include <future.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NURLS 5
#define LIMIT 2
#define TIMEOUT_MS 2000

/* The server: an accept loop, and a chain for each connection. */

static future_t *conn_done(future_t *settled, void *data) {
  (void)settled;
  future_stream_unref(data); /* closes the connection */
  return NULL;
}

/* Write the answer for `path`: given to the write, which frees it. */
static future_t *answer(uv_loop_t *loop, future_stream_t *conn,
                        const char *path) {
  int hello = strcmp(path, "/hello") == 0, big = strcmp(path, "/big") == 0;
  const char *body = hello ? "hello, world\n" : "not found\n";
  size_t size = big ? 100000 : strlen(body);
  char *resp = malloc(size + 64);
  int n;
  if (resp == NULL)
    return future_rejected(loop, future_error_new(UV_ENOMEM, "answering"));
  n = sprintf(resp, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n",
              hello || big ? "200 OK" : "404 Not Found", size);
  if (big)
    memset(resp + n, 'x', size);
  else
    memcpy(resp + n, body, size);
  return future_stream_write_given(conn, resp, (size_t)n + size, free);
}

/* /slow: the 10 s are up (the delay won the race, with a NULL value), or
 * the client has hung up (its end, which read_to_eof waited for, won). */
static future_t *slow_done(future_t *settled, void *data) {
  if (future_value(settled) == NULL)
    return answer(future_loop(settled), data, "/hello");
  return future_resolved(future_loop(settled), NULL, NULL);
}

static future_t *serve(future_t *settled, void *data) {
  future_stream_t *conn = data;
  char path[64] = "";
  future_t *race[2];
  sscanf(((const future_buf_t *)future_value(settled))->base, "GET %63s", path);
  if (strcmp(path, "/slow") != 0)
    return answer(future_loop(settled), conn, path);
  race[0] = future_delay(future_loop(settled), 10000);
  race[1] = future_stream_read_to_eof(conn, 1024);
  return future_then(future_race(future_loop(settled), race, 2), slow_done,
                     NULL, conn);
}

static future_t *accept_next(future_stream_t *listener);

static future_t *accepted(future_t *settled, void *data) {
  future_stream_t *conn = future_stream_ref(future_value(settled));
  future_t *req = future_stream_read_until(conn, "\r\n\r\n", 4, 8192);
  future_unref(
      future_finally(future_then(req, serve, NULL, conn), conn_done, conn));
  return accept_next(data);
}

static future_t *accept_next(future_stream_t *listener) {
  return future_then(future_stream_accept(listener), accepted, NULL, listener);
}

/* The client: one GET, a chain of steps on its own state. */

typedef struct {
  char url[80], host[32], port[8], request[160];
  future_stream_t *s;
  int status;      /* the HTTP status, 0 if the GET failed */
  size_t size;     /* the body's size */
  char error[160]; /* the error's message if it failed */
} get_t;

static int in_flight, peak;

static future_t *got_body(future_t *settled, void *data) {
  get_t *g = data;
  g->size = ((const future_buf_t *)future_value(settled))->len;
  return future_resolved(future_loop(settled), g, NULL);
}

static future_t *got_headers(future_t *settled, void *data) {
  get_t *g = data;
  const char *h = ((const future_buf_t *)future_value(settled))->base;
  const char *cl = strstr(h, "\r\nContent-Length:");
  if (sscanf(h, "HTTP/1.%*d %d", &g->status) != 1 || cl == NULL)
    return future_rejected(future_loop(settled),
                           future_error_new(UV_EPROTO, "GET %s", g->url));
  return future_then(future_stream_read_exactly(g->s, strtoul(cl + 17, 0, 10)),
                     got_body, NULL, g);
}

static future_t *sent(future_t *settled, void *data) {
  get_t *g = data;
  (void)settled;
  return future_then(future_stream_read_until(g->s, "\r\n\r\n", 4, 8192),
                     got_headers, NULL, g);
}

static future_t *connected(future_t *settled, void *data) {
  get_t *g = data;
  g->s = future_stream_ref(future_value(settled));
  return future_then(future_stream_write(g->s, g->request, strlen(g->request)),
                     sent, NULL, g);
}

static future_t *resolved(future_t *settled, void *data) {
  const struct addrinfo *ai = future_value(settled);
  return future_then(future_tcp_connect_addr(future_loop(settled), ai->ai_addr),
                     connected, NULL, data);
}

/* The GET's error (the timeout's, or a step's) becomes its result. */
static future_t *failed(future_t *settled, void *data) {
  get_t *g = data;
  snprintf(g->error, sizeof g->error, "%s",
           future_error_message(future_error(settled)));
  return future_resolved(future_loop(settled), g, NULL);
}

static future_t *closed(future_t *settled, void *data) {
  get_t *g = data;
  (void)settled;
  future_stream_unref(g->s); /* the last reference: closes the connection */
  g->s = NULL;
  in_flight--;
  return NULL;
}

static future_t *get(uv_loop_t *loop, size_t i, void *data) {
  get_t *g = (get_t *)data + i;
  struct addrinfo hints;
  future_t *chain;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (++in_flight > peak)
    peak = in_flight;
  chain = future_then(future_dns_getaddrinfo(loop, g->host, g->port, &hints),
                      resolved, NULL, g);
  return future_finally(
      future_catch(future_timeout(chain, TIMEOUT_MS), failed, g), closed, g);
}

int main(void) {
  static const char *paths[NURLS] = {"/hello", "/big", "/slow", "/missing",
                                     "/"};
  uv_loop_t loop;
  future_stream_t *listener;
  get_t gets[NURLS];
  future_t *accept_loop;
  future_result_t r;
  int i, rc, ok = 0, not_found = 0, status = 0;

  if ((rc = uv_loop_init(&loop)) != 0 ||
      (rc = future_tcp_listen(&loop, "127.0.0.1", 0, 16, &listener)) != 0) {
    fprintf(stderr, "listen: %s\n", future_strerror(rc));
    return 1;
  }
  printf("server: listening on %s\n", future_stream_peer(listener));
  accept_loop = accept_next(listener);

  memset(gets, 0, sizeof gets);
  for (i = 0; i < NURLS; i++) {
    get_t *g = &gets[i];
    /* The last URL: a port where nobody listens. */
    snprintf(g->host, sizeof g->host, "%s",
             i == NURLS - 1 ? "127.0.0.1" : "localhost");
    snprintf(g->port, sizeof g->port, "%d",
             i == NURLS - 1 ? 1 : future_stream_port(listener));
    snprintf(g->url, sizeof g->url, "http://%.31s:%.7s%.20s", g->host, g->port,
             paths[i]);
    snprintf(
        g->request, sizeof g->request,
        "GET %.20s HTTP/1.1\r\nHost: %.31s:%.7s\r\nConnection: close\r\n\r\n",
        paths[i], g->host, g->port);
  }

  /* Every GET fulfils (its error caught), in the order of the URLs. */
  if (future_wait(future_map(&loop, NURLS, LIMIT, get, gets), &r) != 0) {
    fprintf(stderr, "future_map: %s\n", future_error_message(r.error));
    status = 1;
  }
  future_result_release(&r);
  for (i = 0; i < NURLS; i++) {
    if (gets[i].status != 0) {
      printf("%d. %s -> %d, %zu bytes\n", i + 1, gets[i].url, gets[i].status,
             gets[i].size);
      ok += gets[i].status == 200;
      not_found += gets[i].status == 404;
    } else {
      printf("%d. %s -> error: %s\n", i + 1, gets[i].url, gets[i].error);
    }
  }
  printf("%d URLs: %d answered (%d with 200, %d with 404), %d failed; at most "
         "%d in flight (limit %d)\n",
         NURLS, ok + not_found, ok, not_found, NURLS - ok - not_found, peak,
         LIMIT);

  /* Closing the listener ends the accept loop (UV_ECANCELED); the loop
   * then runs until the server has let its last connection go. */
  future_stream_unref(listener);
  if (future_wait(accept_loop, &r) != UV_ECANCELED)
    status = 1;
  future_result_release(&r);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (future_loop_close(&loop) != 0 || uv_loop_close(&loop) != 0)
    status = 1;
  return status;
}
