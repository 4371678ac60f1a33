/*
 * tcp_echo, libfuture: round trips of a 64-byte message over loopback TCP,
 * with future/stream.h on both ends. The server's accept loop and each
 * connection are chains (read exactly 64 bytes, write them back, again);
 * each client is a chain (write 64 bytes, read exactly 64, again), all the
 * clients at once.
 *
 * Usage: tcp_echo_future [n] [conns]   n round trips in all (100000),
 *                                      over conns connections (1)
 */
#include "bench.h"

#include <future.h>

#define MSG 64

static char message[MSG];

/* Each turn of a loop (a connection's, a client's) starts the next turn
 * as a chain of its own and passes its settled future on (future_ref):
 * returning the next turn instead would keep every turn's future pending
 * until the last one (each adopts the next), memory growing with the
 * turns. */

/* The server. */
typedef struct {
  future_stream_t *listener;
  size_t accepted, want;
} server_t;

typedef struct {
  future_stream_t *s;
  future_t *held; /* the read whose bytes the write borrows */
} sconn_t;

static void serve(sconn_t *c);

static future_t *echoed(future_t *settled, void *data) {
  sconn_t *c = data;
  future_unref(c->held);
  c->held = NULL;
  serve(c);
  return future_ref(settled);
}

static future_t *got(future_t *settled, void *data) {
  sconn_t *c = data;
  const future_buf_t *b = future_value(settled);
  c->held = future_ref(settled);
  return future_then(future_stream_write(c->s, b->base, b->len), echoed, NULL,
                     c);
}

/* The client's end (EOF) ends the connection. */
static future_t *ended(future_t *settled, void *data) {
  sconn_t *c = data;
  BENCH_CHECK(future_error_code(future_error(settled)) == UV_EOF, "%s",
              future_error_message(future_error(settled)));
  future_unref(c->held);
  future_stream_unref(c->s);
  free(c);
  return future_resolved(future_loop(settled), NULL, NULL);
}

static void serve(sconn_t *c) {
  future_unref(
      future_then(future_stream_read_exactly(c->s, MSG), got, ended, c));
}

static future_t *accept_next(server_t *srv);

static future_t *accepted(future_t *settled, void *data) {
  server_t *srv = data;
  sconn_t *c = calloc(1, sizeof(*c));
  BENCH_CHECK(c != NULL, "calloc");
  c->s = future_stream_ref(future_value(settled));
  serve(c);
  if (++srv->accepted == srv->want)
    return future_resolved(future_loop(settled), NULL, NULL);
  return accept_next(srv);
}

static future_t *accept_next(server_t *srv) {
  return future_then(future_stream_accept(srv->listener), accepted, NULL, srv);
}

/* The clients. */
typedef struct {
  future_stream_t *s;
  future_t *done; /* fulfilled after the last round trip */
  size_t left;
} client_t;

static void send_one(client_t *cl);

static future_t *came_back(future_t *settled, void *data) {
  client_t *cl = data;
  const future_buf_t *b = future_value(settled);
  BENCH_CHECK(b->len == MSG && memcmp(b->base, message, MSG) == 0,
              "the echo differs");
  if (--cl->left == 0)
    BENCH_CHECK(future_resolve(cl->done, NULL, NULL) == 0, "resolve");
  else
    send_one(cl);
  return future_ref(settled);
}

static future_t *sent(future_t *settled, void *data) {
  client_t *cl = data;
  (void)settled;
  return future_then(future_stream_read_exactly(cl->s, MSG), came_back, NULL,
                     cl);
}

static void send_one(client_t *cl) {
  future_unref(future_then(future_stream_write(cl->s, message, MSG), sent,
                           NULL, cl));
}

static future_t *connected(future_t *settled, void *data) {
  client_t *cl = data;
  cl->s = future_stream_ref(future_value(settled));
  send_one(cl);
  return future_ref(cl->done);
}

int main(int argc, char **argv) {
  size_t n = bench_arg_n(argc, argv, 100000), conns = 1, i;
  uv_loop_t loop;
  server_t srv = {NULL, 0, 0};
  client_t *clients;
  future_t **fs, *accepting;
  future_result_t r;
  bench_result_t res = {"tcp_echo", "future", 0, 0, 0, 0, 0, 0};
  uint64_t t0;
  double c0;
  int port;
  if (argc > 2)
    conns = strtoul(argv[2], NULL, 10);
  BENCH_CHECK(conns > 0 && conns <= n, "usage: %s [n] [conns]", argv[0]);
  n -= n % conns;
  for (i = 0; i < MSG; i++)
    message[i] = (char)('a' + i % 26);
  clients = calloc(conns, sizeof(*clients));
  fs = calloc(conns, sizeof(*fs));
  BENCH_CHECK(clients != NULL && fs != NULL, "calloc");
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  BENCH_CHECK(future_tcp_listen(&loop, "127.0.0.1", 0, 1024, &srv.listener) ==
                  0,
              "listen");
  port = future_stream_port(srv.listener);
  srv.want = conns;
  res.baseline_kib = bench_rss_kib();
  t0 = uv_hrtime();
  c0 = bench_cpu();
  accepting = accept_next(&srv);
  for (i = 0; i < conns; i++) {
    clients[i].left = n / conns;
    clients[i].done = future_new(&loop);
    fs[i] = future_then(future_tcp_connect(&loop, "127.0.0.1", port),
                        connected, NULL, &clients[i]);
  }
  BENCH_CHECK(future_wait(future_all(&loop, fs, conns), &r) == 0, "%s",
              r.error != NULL ? future_error_message(r.error) : "?");
  future_result_release(&r);
  res.wall_s = (double)(uv_hrtime() - t0) / 1e9;
  res.cpu_s = bench_cpu() - c0;
  res.created_kib = bench_rss_kib();
  res.n = n;
  if (conns > 1)
    res.workload = "tcp_echo_100";
  BENCH_CHECK(future_wait(accepting, NULL) == 0, "the accept loop");
  for (i = 0; i < conns; i++) {
    future_unref(clients[i].done);
    future_stream_unref(clients[i].s);
  }
  future_stream_unref(srv.listener);
  uv_run(&loop, UV_RUN_DEFAULT);
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  free(clients);
  free(fs);
  bench_print(&res);
  return 0;
}
