/*
 * line_server: a line-protocol server whose accept loop and whose
 * handling of each connection are chains of futures.
 *
 * The server listens on 127.0.0.1 (a port the system picks) and answers
 * every line with the line in capitals. Its accept loop is a chain: accept
 * the next connection, start its handling, accept again. Each connection
 * is a chain too: read up to a newline, write the answer, read the next
 * line... until the client's end. Nothing blocks: both clients are served
 * at once, by one thread.
 *
 * The program starts two clients of its own on the same loop: one says
 * two lines and reads the answers to its end; the other sends half a line
 * and disconnects. The server sees the end in the middle of a line: the
 * read of the line rejects with UV_EOF, and the half line is still in the
 * stream's buffer, where a plain read takes it. Then the listener closes,
 * which ends the accept loop (its pending accept rejects with
 * UV_ECANCELED), and the program exits 0.
 *
 * SYNOPSIS
 *     $ ./examples/line_server
 *     server: listening on 127.0.0.1:41234
 *     server: connection 1 from 127.0.0.1:50112
 *     server: connection 2 from 127.0.0.1:50114
 *     server: connection 1: "hello" -> "HELLO"
 *     server: connection 1: "world" -> "WORLD"
 *     server: connection 2 disconnected mid-line: "half a li" (9 bytes, no newline)
 *     server: connection 1 ended after 2 lines
 *     client 1 got: "HELLO\nWORLD\n"
 *     client 2 sent half a line and left
 *     server: accept loop ended: listener closed (ECANCELED)
 */
#include <future.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  future_stream_t *listener;
  int connections; /* accepted so far */
  int finished;    /* connections handled to their end */
} server_t;

typedef struct {
  server_t *srv;
  future_stream_t *s;
  int id;
  int lines;
} conn_t;

/* One connection: a chain of read a line, answer, read the next. */

static future_t *serve_line(conn_t *c);

static future_t *answered(future_t *settled, void *data) {
  (void)settled;
  return serve_line(data);
}

static future_t *got_line(future_t *settled, void *data) {
  conn_t *c = data;
  const future_buf_t *line = future_value(settled);
  char *answer = malloc(line->len);
  size_t i;
  if (answer == NULL)
    return future_rejected(future_loop(settled),
                           future_error_new(UV_ENOMEM, "answering"));
  for (i = 0; i < line->len; i++)
    answer[i] = (char)toupper((unsigned char)line->base[i]);
  c->lines++;
  printf("server: connection %d: \"%.*s\" -> \"%.*s\"\n", c->id,
         (int)line->len - 1, line->base, (int)line->len - 1, answer);
  /* The answer is given to the write, which frees it when done. */
  return future_then(future_stream_write_given(c->s, answer, line->len, free),
                     answered, NULL, c);
}

static future_t *report_half_line(future_t *settled, void *data) {
  conn_t *c = data;
  const future_buf_t *rest = future_value(settled);
  printf("server: connection %d disconnected mid-line: \"%s\" (%zu bytes, "
         "no newline)\n",
         c->id, rest->base, rest->len);
  return future_resolved(future_loop(settled), NULL, NULL);
}

/* The read of a line failed: the client's end, or an error. */
static future_t *line_failed(future_t *settled, void *data) {
  conn_t *c = data;
  const future_error_t *err = future_error(settled);
  if (future_error_code(err) != UV_EOF) {
    printf("server: connection %d: %s\n", c->id, future_error_message(err));
    return future_resolved(future_loop(settled), NULL, NULL);
  }
  if (future_stream_buffered(c->s) > 0) /* the end came mid-line */
    return future_then(future_stream_read(c->s), report_half_line, NULL, c);
  printf("server: connection %d ended after %d lines\n", c->id, c->lines);
  return future_resolved(future_loop(settled), NULL, NULL);
}

static future_t *serve_line(conn_t *c) {
  return future_then(future_stream_read_until(c->s, "\n", 1, 1024), got_line,
                     line_failed, c);
}

static future_t *connection_done(future_t *settled, void *data) {
  conn_t *c = data;
  (void)settled;
  c->srv->finished++;
  future_stream_unref(c->s); /* closes the connection */
  free(c);
  return NULL;
}

/* The accept loop: a chain that accepts, starts a connection's chain,
 * and accepts again. */

static future_t *accept_next(server_t *srv);

static future_t *accepted(future_t *settled, void *data) {
  server_t *srv = data;
  conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return future_rejected(future_loop(settled),
                           future_error_new(UV_ENOMEM, "accepting"));
  c->srv = srv;
  c->s = future_stream_ref(future_value(settled));
  c->id = ++srv->connections;
  printf("server: connection %d from %s\n", c->id, future_stream_peer(c->s));
  /* The connection's chain runs on its own; nobody waits for it but its
   * finally step, which lets the connection go. */
  future_unref(future_finally(serve_line(c), connection_done, c));
  return accept_next(srv);
}

static future_t *accept_next(server_t *srv) {
  return future_then(future_stream_accept(srv->listener), accepted, NULL,
                     srv);
}

/* The clients. */

typedef struct {
  future_stream_t *s;
} client_t;

static future_t *client1_read(future_t *settled, void *data) {
  client_t *cl = data;
  (void)settled;
  return future_stream_read_to_eof(cl->s, 4096);
}

static future_t *client1_sent(future_t *settled, void *data) {
  client_t *cl = data;
  (void)settled;
  /* Shut our side down: the server reads our end after the lines. */
  return future_then(future_stream_shutdown(cl->s), client1_read, NULL, cl);
}

static future_t *client1_connected(future_t *settled, void *data) {
  client_t *cl = data;
  cl->s = future_stream_ref(future_value(settled));
  return future_then(future_stream_write(cl->s, "hello\nworld\n", 12),
                     client1_sent, NULL, cl);
}

static future_t *client2_sent(future_t *settled, void *data) {
  client_t *cl = data;
  future_stream_unref(cl->s); /* gone, in the middle of a line */
  cl->s = NULL;
  return future_resolved(future_loop(settled), NULL, NULL);
}

static future_t *client2_connected(future_t *settled, void *data) {
  client_t *cl = data;
  cl->s = future_stream_ref(future_value(settled));
  return future_then(future_stream_write(cl->s, "half a li", 9), client2_sent,
                     NULL, cl);
}

int main(void) {
  uv_loop_t loop;
  server_t srv = {NULL, 0, 0};
  client_t c1 = {NULL}, c2 = {NULL};
  future_t *accept_loop, *clients[2];
  future_result_t r;
  int port, rc, status = 0;

  if ((rc = uv_loop_init(&loop)) != 0) {
    fprintf(stderr, "uv_loop_init: %s\n", uv_strerror(rc));
    return 1;
  }
  rc = future_tcp_listen(&loop, "127.0.0.1", 0, 16, &srv.listener);
  if (rc < 0) {
    fprintf(stderr, "listen: %s\n", future_strerror(rc));
    return 1;
  }
  port = future_stream_port(srv.listener);
  printf("server: listening on %s\n", future_stream_peer(srv.listener));
  accept_loop = accept_next(&srv);

  clients[0] = future_then(future_tcp_connect(&loop, "127.0.0.1", port),
                           client1_connected, NULL, &c1);
  clients[1] = future_then(future_tcp_connect(&loop, "127.0.0.1", port),
                           client2_connected, NULL, &c2);
  if (accept_loop == NULL || clients[0] == NULL || clients[1] == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }

  /* Client 1's answer; client 2 has nothing to wait for but its write. */
  if (future_wait(clients[0], &r) == 0) {
    const future_buf_t *answer = r.value;
    size_t i;
    printf("client 1 got: \"");
    for (i = 0; i < answer->len; i++) {
      if (answer->base[i] == '\n')
        fputs("\\n", stdout);
      else
        putchar(answer->base[i]);
    }
    printf("\"\n");
  } else {
    printf("client 1: %s\n", future_error_message(r.error));
    status = 1;
  }
  future_result_release(&r);
  if (future_wait(clients[1], &r) == 0) {
    printf("client 2 sent half a line and left\n");
  } else {
    printf("client 2: %s\n", future_error_message(r.error));
    status = 1;
  }
  future_result_release(&r);
  future_stream_unref(c1.s);

  /* Let the server finish both connections, then close the listener: the
   * pending accept rejects with UV_ECANCELED, which ends the loop. */
  while (srv.finished < 2 && uv_run(&loop, UV_RUN_ONCE) != 0)
    ;
  future_stream_unref(srv.listener);
  if (future_wait(accept_loop, &r) == UV_ECANCELED)
    printf("server: accept loop ended: listener closed (ECANCELED)\n");
  else
    status = 1;
  future_result_release(&r);

  if (srv.finished != 2)
    status = 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  if (future_loop_close(&loop) != 0 || uv_loop_close(&loop) != 0)
    status = 1;
  return status;
}
