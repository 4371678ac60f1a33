/* UDP sockets as futures (src/udp.c), on loopback (127.0.0.1 and ::1)
 * with ports the kernel picks. */
#define _GNU_SOURCE /* fs_helpers.h: nftw, renameat2 */
#include "fs_helpers.h"
#include "helpers.h"
#include "suites.h"

#include <limits.h>
#include <string.h>

/* What libuv opens once per process (its signal pipe) is opened before a
 * test counts descriptors. */
static void udp_setup(void) {
  uv_loop_t loop;
  setup();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* A socket bound to `ip`, port 0; its address in `addr`. NULL when the
 * system has no such address (IPv6 disabled). */
static future_udp_t *bound(uv_loop_t *loop, const char *ip,
                           struct sockaddr_storage *addr) {
  struct sockaddr_storage ss;
  future_udp_t *u = future_udp_new(loop);
  int rc;
  ck_assert_ptr_nonnull(u);
  if (strchr(ip, ':') != NULL)
    ck_assert_int_eq(uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss), 0);
  else
    ck_assert_int_eq(uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss), 0);
  rc = future_udp_bind(u, (struct sockaddr *)&ss, 0);
  if (rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT) {
    future_unref(future_udp_close(u));
    return NULL;
  }
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(future_udp_local(u, addr), 0);
  return u;
}

static int port_of(const struct sockaddr_storage *ss) {
  return ss->ss_family == AF_INET6
             ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
             : ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void close_wait(future_udp_t *u) {
  future_result_t r;
  ck_assert_int_eq(future_wait(future_udp_close(u), &r), 0);
  future_result_release(&r);
}

static void send_wait(future_udp_t *u, const struct sockaddr_storage *to,
                      const char *text) {
  future_result_t r;
  size_t n = strlen(text);
  ck_assert_int_eq(
      future_wait(future_udp_send(u, (const struct sockaddr *)to, text, n),
                  &r),
      0);
  ck_assert_uint_eq((size_t)(uintptr_t)r.value, n);
  future_result_release(&r);
}

/* Send, then receive with the sender's address, on 127.0.0.1 (_i 0) and
 * ::1 (_i 1). */
START_TEST(test_udp_send_and_recv) {
  const char *ip = _i == 0 ? "127.0.0.1" : "::1";
  uv_loop_t loop;
  struct sockaddr_storage aa, ba;
  future_udp_t *a, *b;
  future_t *rf;
  future_result_t r;
  const future_datagram_t *d;
  int fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = bound(&loop, ip, &aa);
  if (a == NULL) { /* no IPv6 here */
    LOOP_CLOSE(&loop);
    return;
  }
  b = bound(&loop, ip, &ba);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_ne(port_of(&aa), 0);
  rf = future_udp_recv(a, 0);
  send_wait(b, &aa, "hello");
  ck_assert_int_eq(future_wait(rf, &r), 0);
  d = r.value;
  ck_assert_uint_eq(d->len, 5);
  ck_assert_str_eq(d->data, "hello");
  ck_assert_int_eq(d->truncated, 0);
  ck_assert_int_eq(d->from.ss_family, _i == 0 ? AF_INET : AF_INET6);
  ck_assert_int_eq(port_of(&d->from), port_of(&ba));
  future_result_release(&r);
  close_wait(a);
  close_wait(b);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Waiting receives are served in order; an empty datagram is one; a
 * datagram larger than the buffer is cut and says so. */
START_TEST(test_udp_order_empty_and_truncated) {
  uv_loop_t loop;
  struct sockaddr_storage aa;
  future_udp_t *a;
  future_t *r1, *r2, *r3, *r4;
  future_result_t r;
  const future_datagram_t *d;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = bound(&loop, "127.0.0.1", &aa);
  r1 = future_udp_recv(a, 0);
  r2 = future_udp_recv(a, 0);
  r3 = future_udp_recv(a, 4);
  r4 = future_udp_recv(a, SIZE_MAX); /* 64 KiB at most */
  send_wait(a, &aa, "first");
  send_wait(a, &aa, "");
  send_wait(a, &aa, "0123456789");
  ck_assert_int_eq(future_wait(r1, &r), 0);
  ck_assert_str_eq(((const future_datagram_t *)r.value)->data, "first");
  future_result_release(&r);
  ck_assert_int_eq(future_wait(r2, &r), 0);
  ck_assert_uint_eq(((const future_datagram_t *)r.value)->len, 0);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(r3, &r), 0);
  d = r.value;
  ck_assert_uint_eq(d->len, 4);
  ck_assert_str_eq(d->data, "0123");
  ck_assert_int_eq(d->truncated, 1);
  future_result_release(&r);
  send_wait(a, &aa, "last");
  ck_assert_int_eq(future_wait(r4, &r), 0);
  ck_assert_str_eq(((const future_datagram_t *)r.value)->data, "last");
  future_result_release(&r);
  close_wait(a);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A cancelled receive stops the reading: the loop is not kept alive, and
 * a datagram that comes meanwhile waits in the system for the next one. */
START_TEST(test_udp_recv_cancelled) {
  uv_loop_t loop;
  struct sockaddr_storage aa;
  future_udp_t *a;
  future_t *rf;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = bound(&loop, "127.0.0.1", &aa);
  rf = future_udp_recv(a, 0);
  ck_assert_int_eq(future_cancel(rf), 0);
  ck_assert_int_eq(future_error_code(future_error(rf)), UV_ECANCELED);
  future_unref(rf);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* nothing reads */
  send_wait(a, &aa, "kept");
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_wait(future_udp_recv(a, 0), &r), 0);
  ck_assert_str_eq(((const future_datagram_t *)r.value)->data, "kept");
  future_result_release(&r);
  close_wait(a);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_udp_errors) {
  uv_loop_t loop;
  struct sockaddr_storage aa, six;
  future_udp_t *a, *b;
  future_result_t r;
  future_t *rf;
  char want[200], *big;
  int line;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = bound(&loop, "127.0.0.1", &aa);
  b = future_udp_new(&loop);
  ck_assert_int_eq(future_udp_bind(b, (struct sockaddr *)&aa, 0),
                   UV_EADDRINUSE);
  close_wait(b);
  b = future_udp_new(&loop);
  ck_assert_int_eq(future_udp_local(b, &six), UV_EBADF); /* not bound */
  close_wait(b);

  big = calloc(1, 70000);
  ck_assert_ptr_nonnull(big);
  line = __LINE__ + 1;
  ck_assert_int_eq(future_wait(future_udp_send(a, (struct sockaddr *)&aa,
                                               big, 70000),
                               &r),
                   UV_EMSGSIZE);
  snprintf(want, sizeof want, "send 127.0.0.1:%d: message too long (EMSGSIZE)",
           port_of(&aa));
  ck_assert_str_eq(future_error_message(r.error), want);
  ck_assert_int_eq(future_error_line(r.error), line); /* the call site */
  future_result_release(&r);
  free(big);

  ck_assert_int_eq(uv_ip6_addr("::1", 9, (struct sockaddr_in6 *)&six), 0);
  ck_assert_int_lt(future_wait(future_udp_send(a, (struct sockaddr *)&six,
                                               "x", 1),
                               &r),
                   0); /* an IPv4 socket cannot reach ::1 */
  ck_assert_ptr_nonnull(strstr(future_error_message(r.error), "send [::1]:9: "));
  future_result_release(&r);

#if SIZE_MAX > UINT_MAX
  /* More than a uv_buf_t can say: refused before anything is read. */
  ck_assert_int_eq(future_wait(future_udp_send(a, (struct sockaddr *)&aa, "x",
                                               (size_t)UINT_MAX + 1),
                               &r),
                   UV_EMSGSIZE);
  future_result_release(&r);
#endif
  ck_assert_int_eq(future_wait(future_udp_send(a, NULL, "x", 1), &r),
                   UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_udp_send(a, (struct sockaddr *)&aa, NULL, 1), &r),
      UV_EINVAL);
  future_result_release(&r);
  ck_assert_ptr_null(future_udp_new(NULL));
  ck_assert_ptr_null(future_udp_send(NULL, (struct sockaddr *)&aa, "x", 1));
  ck_assert_ptr_null(future_udp_recv(NULL, 0));
  ck_assert_ptr_null(future_udp_close(NULL));
  ck_assert_int_eq(future_udp_bind(NULL, (struct sockaddr *)&aa, 0),
                   UV_EINVAL);
  ck_assert_int_eq(future_udp_bind(a, NULL, 0), UV_EINVAL);
  ck_assert_int_eq(future_udp_local(NULL, &six), UV_EINVAL);
  ck_assert_int_eq(future_udp_local(a, NULL), UV_EINVAL);

  /* Closing rejects the receives that wait. */
  rf = future_udp_recv(a, 0);
  snprintf(want, sizeof want,
           "recv 127.0.0.1:%d: operation canceled (ECANCELED)", port_of(&aa));
  close_wait(a);
  ck_assert_int_eq(future_wait(rf, &r), UV_ECANCELED);
  ck_assert_str_eq(future_error_message(r.error), want);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Teardown closes a socket left open, with a receive waiting, before or
 * after a uv_walk that closes every handle: the walk first meets the
 * loop's three handles and the socket. */
START_TEST(test_udp_teardown_with_a_walk) {
  uv_loop_t loop;
  struct sockaddr_storage aa;
  future_udp_t *a;
  int fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = bound(&loop, "127.0.0.1", &aa);
  future_unref(future_udp_recv(a, 0));
  future_unref(future_udp_send(a, (struct sockaddr *)&aa, "x", 1));
  ck_assert_int_eq(teardown_with_walk(&loop, _i),
                   _i != TEARDOWN_CLOSE_FIRST ? 4 : 0);
  ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Closed after a walk closed its handle: the close fulfils at once. */
START_TEST(test_udp_close_after_a_walk) {
  uv_loop_t loop;
  struct sockaddr_storage aa;
  future_udp_t *a;
  int owned = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  a = bound(&loop, "127.0.0.1", &aa);
  uv_walk(&loop, walk_close_counting, &owned);
  ck_assert_int_eq(owned, 4);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(future_udp_bind(a, (struct sockaddr *)&aa, 0), UV_EINVAL);
  close_wait(a);
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Allocation failures: a NULL future or a UV_ENOMEM rejection, nothing
 * left behind (teardown closes the socket). */
static future_t *op_roundtrip(uv_loop_t *l) {
  struct sockaddr_in any;
  struct sockaddr_storage self;
  future_udp_t *u = future_udp_new(l);
  future_t *rf, *sf;
  if (u == NULL)
    return NULL;
  ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &any), 0);
  ck_assert_int_eq(future_udp_bind(u, (struct sockaddr *)&any, 0), 0);
  ck_assert_int_eq(future_udp_local(u, &self), 0);
  rf = future_udp_recv(u, 0);
  if (rf == NULL)
    return NULL;
  sf = future_udp_send(u, (struct sockaddr *)&self, "ping", 4);
  if (sf == NULL) {
    future_cancel(rf);
    future_unref(rf);
    return NULL;
  }
  future_unref(sf);
  return rf;
}

START_TEST(test_udp_allocation_failures) {
  static const fs_op_t ops[] = {
      {"udp", NULL, op_roundtrip, NULL, NULL},
  };
  sweep_ops(ops, sizeof ops / sizeof ops[0]);
}
END_TEST

Suite *make_udp_suite(void) {
  Suite *s = suite_create("udp");
  TCase *core = tcase_create("core");
  tcase_add_checked_fixture(core, udp_setup, teardown);
  tcase_set_timeout(core, 60);
  tcase_add_loop_test(core, test_udp_send_and_recv, 0, 2);
  tcase_add_test(core, test_udp_order_empty_and_truncated);
  tcase_add_test(core, test_udp_recv_cancelled);
  tcase_add_test(core, test_udp_errors);
  tcase_add_loop_test(core, test_udp_teardown_with_a_walk, 0, 3);
  tcase_add_test(core, test_udp_close_after_a_walk);
  tcase_add_test(core, test_udp_allocation_failures);
  suite_add_tcase(s, core);
  return s;
}
