/*
 * tcp_echo, raw libuv: the floor for libfuture's tcp_echo. The tightest
 * hand-written program for the same round trips: the server echoes what
 * each read brings with one uv_write from a buffer of the connection's;
 * each client writes its 64 bytes from a static buffer, reads into a
 * buffer of its own until 64 have come back, and writes again.
 *
 * Usage: tcp_echo_raw [n] [conns]   n round trips in all (100000), over
 *                                   conns connections (1)
 */
#include "bench.h"

#define MSG 64

static char message[MSG];

typedef struct {
  uv_tcp_t tcp;
  uv_write_t w;
  char in[65536];
  char out[65536];
} sconn_t;

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t c;
  uv_write_t w;
  size_t left, got;
  char in[MSG * 2];
} client_t;

static uv_tcp_t server;
static size_t accepted, want, done;

static void closed_free(uv_handle_t *h) { free(h->data); }

static void s_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  sconn_t *c = h->data;
  (void)hint;
  *b = uv_buf_init(c->in, sizeof c->in);
}

static void s_wrote(uv_write_t *w, int status) {
  (void)w;
  BENCH_CHECK(status == 0, "write: %s", uv_strerror(status));
}

static void s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  sconn_t *c = st->data;
  uv_buf_t o;
  (void)b;
  if (n < 0) {
    uv_close((uv_handle_t *)st, closed_free);
    return;
  }
  if (n == 0)
    return;
  /* One message at a time per connection: the last write is done. */
  memcpy(c->out, c->in, (size_t)n);
  o = uv_buf_init(c->out, (unsigned)n);
  BENCH_CHECK(uv_write(&c->w, st, &o, 1, s_wrote) == 0, "uv_write");
}

static void on_conn(uv_stream_t *srv, int status) {
  sconn_t *c = malloc(sizeof(*c));
  BENCH_CHECK(status == 0 && c != NULL, "accept");
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  BENCH_CHECK(uv_accept(srv, (uv_stream_t *)&c->tcp) == 0, "uv_accept");
  uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
  if (++accepted == want)
    uv_close((uv_handle_t *)&server, NULL);
}

static void c_send(client_t *cl);

static void c_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  client_t *cl = h->data;
  (void)hint;
  *b = uv_buf_init(cl->in + cl->got, (unsigned)(sizeof cl->in - cl->got));
}

static void c_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  client_t *cl = st->data;
  (void)b;
  BENCH_CHECK(n >= 0, "read: %s", uv_strerror((int)n));
  cl->got += (size_t)n;
  if (cl->got < MSG)
    return;
  BENCH_CHECK(cl->got == MSG && memcmp(cl->in, message, MSG) == 0,
              "the echo differs");
  cl->got = 0;
  if (--cl->left == 0) {
    uv_close((uv_handle_t *)st, NULL);
    done++;
    return;
  }
  c_send(cl);
}

static void c_wrote(uv_write_t *w, int status) {
  (void)w;
  BENCH_CHECK(status == 0, "write: %s", uv_strerror(status));
}

static void c_send(client_t *cl) {
  uv_buf_t b = uv_buf_init(message, MSG);
  BENCH_CHECK(uv_write(&cl->w, (uv_stream_t *)&cl->tcp, &b, 1, c_wrote) == 0,
              "uv_write");
}

static void c_connected(uv_connect_t *c, int status) {
  client_t *cl = c->data;
  BENCH_CHECK(status == 0, "connect: %s", uv_strerror(status));
  uv_read_start((uv_stream_t *)&cl->tcp, c_alloc, c_read);
  c_send(cl);
}

int main(int argc, char **argv) {
  size_t n = bench_arg_n(argc, argv, 100000), conns = 1, i;
  uv_loop_t loop;
  client_t *clients;
  struct sockaddr_in addr;
  int len = sizeof addr;
  bench_result_t res = {"tcp_echo", "tight", 0, 0, 0, 0, 0, 0};
  uint64_t t0;
  double c0;
  if (argc > 2)
    conns = strtoul(argv[2], NULL, 10);
  BENCH_CHECK(conns > 0 && conns <= n, "usage: %s [n] [conns]", argv[0]);
  n -= n % conns;
  for (i = 0; i < MSG; i++)
    message[i] = (char)('a' + i % 26);
  clients = calloc(conns, sizeof(*clients));
  BENCH_CHECK(clients != NULL, "calloc");
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  uv_tcp_init(&loop, &server);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  BENCH_CHECK(uv_tcp_bind(&server, (struct sockaddr *)&addr, 0) == 0, "bind");
  BENCH_CHECK(uv_listen((uv_stream_t *)&server, 1024, on_conn) == 0, "listen");
  uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
  want = conns;
  res.baseline_kib = bench_rss_kib();
  t0 = uv_hrtime();
  c0 = bench_cpu();
  for (i = 0; i < conns; i++) {
    clients[i].left = n / conns;
    uv_tcp_init(&loop, &clients[i].tcp);
    clients[i].tcp.data = clients[i].c.data = &clients[i];
    BENCH_CHECK(uv_tcp_connect(&clients[i].c, &clients[i].tcp,
                               (struct sockaddr *)&addr, c_connected) == 0,
                "uv_tcp_connect");
  }
  while (done < conns)
    uv_run(&loop, UV_RUN_ONCE);
  res.wall_s = (double)(uv_hrtime() - t0) / 1e9;
  res.cpu_s = bench_cpu() - c0;
  res.created_kib = bench_rss_kib();
  res.n = n;
  if (conns > 1)
    res.workload = "tcp_echo_100";
  uv_run(&loop, UV_RUN_DEFAULT); /* the servers' ends close */
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  free(clients);
  bench_print(&res);
  return 0;
}
