/* Name resolution and random bytes as futures (src/dns.c). Loopback and
 * numeric lookups only: the tests need no network and no DNS server. */
#define _GNU_SOURCE /* fs_helpers.h: nftw, renameat2 */
#include "fs_helpers.h"
#include "helpers.h"
#include "suites.h"

#include <arpa/inet.h>
#include <string.h>

static const struct addrinfo *expect_addrinfo(future_t *f,
                                              future_result_t *r) {
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(future_state(f), FUTURE_PENDING);
  ck_assert_int_eq(future_wait(f, r), 0);
  ck_assert_ptr_nonnull(r->value);
  return r->value;
}

START_TEST(test_dns_getaddrinfo_numeric) {
  uv_loop_t loop;
  future_result_t r;
  struct addrinfo hints;
  const struct addrinfo *ai;
  const struct sockaddr_in *in;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  ai = expect_addrinfo(
      future_dns_getaddrinfo(&loop, "127.0.0.1", "8080", &hints), &r);
  ck_assert_int_eq(ai->ai_family, AF_INET);
  ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
  in = (const struct sockaddr_in *)ai->ai_addr;
  ck_assert_uint_eq(ntohs(in->sin_port), 8080);
  ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), 0x7f000001u);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* "localhost" comes from /etc/hosts: a loopback address, 127.0.0.1 or
 * ::1, and nothing else. */
START_TEST(test_dns_getaddrinfo_localhost) {
  uv_loop_t loop;
  future_result_t r;
  const struct addrinfo *ai;
  int n = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ai = expect_addrinfo(future_dns_getaddrinfo(&loop, "localhost", NULL, NULL),
                       &r);
  for (; ai != NULL; ai = ai->ai_next, n++) {
    if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *in = (const struct sockaddr_in *)ai->ai_addr;
      ck_assert_uint_eq(ntohl(in->sin_addr.s_addr) >> 24, 127);
    } else {
      const struct sockaddr_in6 *in6 =
          (const struct sockaddr_in6 *)ai->ai_addr;
      ck_assert_int_eq(ai->ai_family, AF_INET6);
      ck_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    }
  }
  ck_assert_int_gt(n, 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_dns_getaddrinfo_errors_name_what_was_asked) {
  uv_loop_t loop;
  future_result_t r;
  struct addrinfo hints;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST;
  ck_assert_int_eq(future_wait(future_dns_getaddrinfo(&loop, "not-a-number",
                                                      "443", &hints),
                               &r),
                   UV_EAI_NONAME);
  ck_assert_str_eq(future_error_message(r.error),
                   "getaddrinfo 'not-a-number' port '443': unknown node or "
                   "service (EAI_NONAME)");
  /* Raised where it was asked for (FUTURE_AT): here. */
  ck_assert_str_eq(future_error_func(r.error), __func__);
  ck_assert_str_eq(future_error_file(r.error), __FILE__);
  future_result_release(&r);
  /* Neither a node nor a service: refused before asking. */
  ck_assert_int_eq(
      future_wait(future_dns_getaddrinfo(&loop, NULL, NULL, NULL), &r),
      UV_EINVAL);
  future_result_release(&r);
  ck_assert_ptr_null(future_dns_getaddrinfo(NULL, "localhost", NULL, NULL));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_dns_getnameinfo_numeric) {
  uv_loop_t loop;
  future_result_t r;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  const future_dns_name_t *name;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 8080, &in), 0);
  ck_assert_int_eq(
      future_wait(future_dns_getnameinfo(&loop, (struct sockaddr *)&in,
                                         NI_NUMERICHOST | NI_NUMERICSERV),
                  &r),
      0);
  name = r.value;
  ck_assert_str_eq(name->host, "127.0.0.1");
  ck_assert_str_eq(name->service, "8080");
  future_result_release(&r);
  ck_assert_int_eq(uv_ip6_addr("::1", 443, &in6), 0);
  ck_assert_int_eq(
      future_wait(future_dns_getnameinfo(&loop, (struct sockaddr *)&in6,
                                         NI_NUMERICHOST | NI_NUMERICSERV),
                  &r),
      0);
  name = r.value;
  ck_assert_str_eq(name->host, "::1");
  ck_assert_str_eq(name->service, "443");
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_dns_getnameinfo_errors) {
  uv_loop_t loop;
  future_result_t r;
  struct sockaddr_in in;
  struct sockaddr unix_addr;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(&unix_addr, 0, sizeof unix_addr);
  unix_addr.sa_family = AF_UNIX;
  ck_assert_int_eq(future_wait(future_dns_getnameinfo(&loop, &unix_addr, 0),
                               &r),
                   UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_dns_getnameinfo(&loop, NULL, 0), &r),
                   UV_EINVAL);
  future_result_release(&r);
  /* No name for 127.0.0.2 in a test machine's hosts file, and a name is
   * required: the resolver's error names the address. Without a resolver
   * the lookup may also fail another way; either way it names it. */
  ck_assert_int_eq(uv_ip4_addr("192.0.2.1", 9, &in), 0);
  if (future_wait(future_dns_getnameinfo(&loop, (struct sockaddr *)&in,
                                         NI_NAMEREQD | NI_NUMERICSERV),
                  &r) != 0)
    ck_assert_ptr_nonnull(
        strstr(future_error_message(r.error), "getnameinfo 192.0.2.1:9: "));
  future_result_release(&r);
  ck_assert_ptr_null(future_dns_getnameinfo(NULL, (struct sockaddr *)&in, 0));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_dns_random) {
  uv_loop_t loop;
  future_result_t r;
  const future_buf_t *b;
  size_t i, nonzero = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_random(&loop, 64), &r), 0);
  b = r.value;
  ck_assert_uint_eq(b->len, 64);
  for (i = 0; i < b->len; i++)
    nonzero += b->base[i] != 0;
  ck_assert_uint_gt(nonzero, 0); /* all zero: 1 chance in 2^512 */
  ck_assert_int_eq(b->base[64], '\0');
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_random(&loop, 0), &r), 0);
  b = r.value;
  ck_assert_uint_eq(b->len, 0);
  future_result_release(&r);
  ck_assert_ptr_null(future_random(NULL, 8));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while queued behind a busy pool: removed from the queue, never
 * run; cancelled at any time: rejected at once, and what the request
 * produced is freed (valgrind and ASan see to that). */
static future_t *lookup(uv_loop_t *loop, int which) {
  struct sockaddr_in in;
  switch (which) {
  case 0:
    return future_dns_getaddrinfo(loop, "localhost", "80", NULL);
  case 1:
    uv_ip4_addr("127.0.0.1", 80, &in);
    return future_dns_getnameinfo(loop, (struct sockaddr *)&in,
                                  NI_NUMERICHOST);
  default:
    return future_random(loop, 16);
  }
}

START_TEST(test_dns_cancel_queued) {
  uv_loop_t loop;
  future_result_t r;
  future_t *f;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  block_pool(&loop);
  f = lookup(&loop, _i);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_wait(f, &r), UV_ECANCELED);
  future_result_release(&r);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sleepers_done, pool_size());
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_dns_cancel_in_flight) {
  uv_loop_t loop;
  future_result_t r;
  future_t *f;
  int k;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (k = 0; k < 20; k++) {
    f = lookup(&loop, _i);
    /* Run the loop a little first, so that some cancels meet a request
     * that runs or is done. */
    if (k % 2)
      uv_run(&loop, UV_RUN_NOWAIT);
    if (future_state(f) == FUTURE_PENDING)
      ck_assert_int_eq(future_cancel(f), 0);
    ck_assert_int_le(future_wait(f, &r), 0);
    future_result_release(&r);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* Teardown cancels lookups in flight, like any request. */
START_TEST(test_dns_loop_close_cancels) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  block_pool(&loop);
  future_unref(lookup(&loop, 0));
  future_unref(lookup(&loop, 1));
  future_unref(lookup(&loop, 2));
  ck_assert_int_eq(future_loop_close(&loop), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Allocation failures: a NULL future or a UV_ENOMEM rejection, nothing
 * left behind. */
static future_t *op_gai(uv_loop_t *l) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST;
  return future_dns_getaddrinfo(l, "127.0.0.1", "80", &hints);
}
static future_t *op_gni(uv_loop_t *l) { return lookup(l, 1); }
static future_t *op_random(uv_loop_t *l) { return future_random(l, 32); }

START_TEST(test_dns_allocation_failures) {
  static const fs_op_t ops[] = {
      {"getaddrinfo", NULL, op_gai, NULL, NULL},
      {"getnameinfo", NULL, op_gni, NULL, NULL},
      {"random", NULL, op_random, NULL, NULL},
  };
  sweep_ops(ops, sizeof ops / sizeof ops[0]);
}
END_TEST

Suite *make_dns_suite(void) {
  Suite *s = suite_create("dns");
  TCase *core = tcase_create("core");
  TCase *cancel = tcase_create("cancel");
  tcase_add_checked_fixture(core, setup, teardown);
  tcase_add_checked_fixture(cancel, setup, teardown);
  tcase_set_timeout(core, 30);
  tcase_set_timeout(cancel, 60);
  tcase_add_test(core, test_dns_getaddrinfo_numeric);
  tcase_add_test(core, test_dns_getaddrinfo_localhost);
  tcase_add_test(core, test_dns_getaddrinfo_errors_name_what_was_asked);
  tcase_add_test(core, test_dns_getnameinfo_numeric);
  tcase_add_test(core, test_dns_getnameinfo_errors);
  tcase_add_test(core, test_dns_random);
  tcase_add_test(core, test_dns_allocation_failures);
  tcase_add_loop_test(cancel, test_dns_cancel_queued, 0, 3);
  tcase_add_loop_test(cancel, test_dns_cancel_in_flight, 0, 3);
  tcase_add_test(cancel, test_dns_loop_close_cancels);
  suite_add_tcase(s, core);
  suite_add_tcase(s, cancel);
  return s;
}
