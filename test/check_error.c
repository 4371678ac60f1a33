/* Errors as values: codes, names, messages, origins, causes, printing and
 * the unhandled-rejection hook (src/error.c). */
#include "helpers.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

START_TEST(test_error_strerror_and_names) {
  ck_assert_str_eq(future_strerror(UV_ENOENT), "no such file or directory");
  ck_assert_str_eq(future_err_name(UV_ENOENT), "ENOENT");
  ck_assert_str_eq(future_err_name(UV_ECANCELED), "ECANCELED");
  ck_assert_str_eq(future_err_name(FUTURE_ECYCLE), "FUTURE_ECYCLE");
  ck_assert_str_eq(future_err_name(FUTURE_ESETTLED), "FUTURE_ESETTLED");
  ck_assert_str_eq(future_err_name(FUTURE_EINCALLBACK), "FUTURE_EINCALLBACK");
  ck_assert_str_eq(future_err_name(FUTURE_ESTALLED), "FUTURE_ESTALLED");
  ck_assert_str_eq(future_err_name(FUTURE_EAGGREGATE), "FUTURE_EAGGREGATE");
  ck_assert_str_eq(future_err_name(FUTURE_EUSER(7)), "EUSER");
  ck_assert_str_eq(future_strerror(FUTURE_EUSER(0)), "user error");
  ck_assert_str_eq(future_strerror(FUTURE_ESETTLED), "future already settled");
  ck_assert_uint_eq(future_error_cause_count(NULL), 0);
  /* Unknown codes get a fixed text: no allocation, unlike uv_strerror. */
  ck_assert_str_eq(future_strerror(-29999), "unknown error");
  ck_assert_str_eq(future_err_name(-29999), "UNKNOWN");
}
END_TEST

/* Every libuv code, walked with libuv's own UV_ERRNO_MAP: the library's
 * text and name are libuv's (uv_strerror, uv_err_name), and looking them
 * up allocates nothing through the library's allocator. */
START_TEST(test_error_every_libuv_code_has_libuv_text_and_name) {
  int n = 0;
  counting_install();
  counting.fail = 1; /* an allocation would show, and fail */
#define XX(name, text)                                                         \
  ck_assert_str_eq(future_strerror(UV_##name), text);                          \
  ck_assert_str_eq(future_strerror(UV_##name), uv_strerror(UV_##name));        \
  ck_assert_str_eq(future_err_name(UV_##name), #name);                         \
  ck_assert_str_eq(future_err_name(UV_##name), uv_err_name(UV_##name));        \
  n++;
  UV_ERRNO_MAP(XX)
#undef XX
  ck_assert_int_gt(n, 70); /* the map was really walked */
  ck_assert_int_eq(counting.calls, 0);
  counting.fail = 0;
  counting_restore();
}
END_TEST

START_TEST(test_error_code_ranges_are_disjoint) {
  ck_assert_int_eq(FUTURE_EUSER(0), FUTURE_EUSER_BASE);
  ck_assert_int_lt(FUTURE_EUSER_BASE, FUTURE_ERRNO_MIN);
  ck_assert_int_lt(FUTURE_ERRNO_MAX, -4095); /* below every libuv code */
  ck_assert_int_ge(FUTURE_EAGGREGATE, FUTURE_ERRNO_MIN);
  ck_assert_int_le(FUTURE_ECYCLE, FUTURE_ERRNO_MAX);
}
END_TEST

START_TEST(test_error_message_names_operation_and_code) {
  int line = __LINE__ + 1;
  future_error_t *e = future_error_new(UV_ENOENT, "open '%s'", "conf.json");
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(future_error_code(e), UV_ENOENT);
  ck_assert_str_eq(future_error_message(e),
                   "open 'conf.json': no such file or directory (ENOENT)");
  ck_assert_str_eq(future_error_file(e), __FILE__);
  ck_assert_int_eq(future_error_line(e), line);
  ck_assert_str_eq(future_error_func(e), __func__);
  ck_assert_ptr_null(future_error_cause(e));
  future_error_unref(e);
}
END_TEST

START_TEST(test_error_without_text_and_user_codes) {
  future_error_t *e = future_error_new(UV_EAGAIN, NULL);
  future_error_t *u = future_error_new(FUTURE_EUSER(3), "quota of %d", 5);
  ck_assert_str_eq(future_error_message(e),
                   "resource temporarily unavailable (EAGAIN)");
  ck_assert_str_eq(future_error_message(u), "quota of 5");
  ck_assert_int_eq(future_error_code(u), FUTURE_EUSER(3));
  future_error_unref(e);
  future_error_unref(u);
}
END_TEST

START_TEST(test_error_nonnegative_code_becomes_einval) {
  future_error_t *e = future_error_new(0, "zero");
  future_error_t *p = future_error_new(42, "positive");
  ck_assert_int_eq(future_error_code(e), UV_EINVAL);
  ck_assert_int_eq(future_error_code(p), UV_EINVAL);
  future_error_unref(e);
  future_error_unref(p);
}
END_TEST

START_TEST(test_error_long_message_is_kept_whole) {
  char text[1000];
  future_error_t *e;
  memset(text, 'x', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  e = future_error_new(FUTURE_EUSER(1), "%s", text);
  ck_assert_str_eq(future_error_message(e), text);
  future_error_unref(e);
}
END_TEST

START_TEST(test_error_wrap_keeps_cause_alive) {
  future_error_t *root = future_error_new(UV_ENOENT, "open 'a'");
  future_error_t *mid = future_error_wrap(root, UV_ENOENT, "loading %s", "a");
  future_error_t *top;
  future_error_unref(root); /* the wrapper holds its own reference */
  top = future_error_wrap(mid, FUTURE_EUSER(1), "starting up");
  future_error_unref(mid);
  ck_assert_str_eq(future_error_message(future_error_cause(top)),
                   "loading a: no such file or directory (ENOENT)");
  ck_assert_str_eq(
      future_error_message(future_error_cause(future_error_cause(top))),
      "open 'a': no such file or directory (ENOENT)");
  ck_assert_ptr_null(
      future_error_cause(future_error_cause(future_error_cause(top))));
  future_error_unref(top);
}
END_TEST

START_TEST(test_error_ref_and_null_are_safe) {
  future_error_t *e = future_error_new(UV_EIO, "x");
  ck_assert_ptr_eq(future_error_ref(e), e);
  future_error_unref(e);
  ck_assert_int_eq(future_error_code(e), UV_EIO); /* still one reference */
  future_error_unref(e);
  future_error_unref(NULL);
  ck_assert_ptr_null(future_error_ref(NULL));
  ck_assert_int_eq(future_error_code(NULL), 0);
  ck_assert_str_eq(future_error_message(NULL), "");
  ck_assert_ptr_null(future_error_cause(NULL));
}
END_TEST

START_TEST(test_error_deep_cause_chain_frees_iteratively) {
  future_error_t *e = future_error_new(UV_EIO, "root");
  int i;
  for (i = 0; i < 200000; i++) {
    future_error_t *w = future_error_wrap(e, UV_EIO, "level %d", i);
    future_error_unref(e);
    e = w;
  }
  future_error_unref(e);
}
END_TEST

static char *print_to_string(const future_error_t *e) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(out);
  future_error_print(e, out);
  fclose(out);
  return buf;
}

START_TEST(test_error_print_shows_origin_and_causes) {
  future_error_t *root = future_error_new(UV_ENOENT, "open 'conf.json'");
  future_error_t *top = future_error_wrap(root, UV_ENOENT, "reading settings");
  char *text = print_to_string(top);
  char expected[512];
  snprintf(expected, sizeof expected,
           "error: reading settings: no such file or directory (ENOENT)\n"
           "  at %s:%d in %s\n"
           "caused by: open 'conf.json': no such file or directory (ENOENT)\n"
           "  at %s:%d in %s\n",
           future_error_file(top), future_error_line(top), __func__,
           future_error_file(root), future_error_line(root), __func__);
  ck_assert_str_eq(text, expected);
  free(text);
  future_error_unref(root);
  future_error_unref(top);
}
END_TEST

/* An aggregate (future_any's "all rejected") prints each cause under it,
 * numbered and indented, in order, with its own origin. */
START_TEST(test_error_print_shows_aggregate_causes) {
  future_error_t *a = future_error_new(UV_ECONNREFUSED, "mirror a");
  future_error_t *b = future_error_new(UV_ETIMEDOUT, "mirror b");
  const future_error_t *causes[2];
  future_error_t *all, *top;
  char *text, *one, *two;
  causes[0] = a;
  causes[1] = b;
  all = future_error_aggregate(FUTURE_EAGGREGATE, causes, 2, "no mirror");
  top = future_error_wrap(all, UV_EIO, "fetching");
  text = print_to_string(top);
  ck_assert_ptr_nonnull(strstr(text, "error: fetching"));
  ck_assert_ptr_nonnull(strstr(text, "caused by: no mirror"));
  one = strstr(text, "\n  cause 1: mirror a");
  two = strstr(text, "\n  cause 2: mirror b");
  ck_assert_ptr_nonnull(one);
  ck_assert_ptr_nonnull(two);
  ck_assert(one < two);
  /* Each cause's origin line sits under it, indented further. */
  ck_assert_ptr_nonnull(strstr(one, "\n    at "));
  free(text);
  future_error_unref(a);
  future_error_unref(b);
  future_error_unref(all);
  future_error_unref(top);
}
END_TEST

/* The accessors answer NULL with empty values rather than crash, as
 * future_error_code and future_error_message do. */
START_TEST(test_error_accessors_of_null) {
  ck_assert_str_eq(future_error_file(NULL), "");
  ck_assert_int_eq(future_error_line(NULL), 0);
  ck_assert_str_eq(future_error_func(NULL), "");
  ck_assert_ptr_null(future_error_cause_at(NULL, 0));
}
END_TEST

/* A plain wrapper has one direct cause: index 0 is it, there is no 1. */
START_TEST(test_error_cause_at_of_a_wrapper) {
  future_error_t *root = future_error_new(UV_ENOENT, "open 'a'");
  future_error_t *top = future_error_wrap(root, UV_EIO, "loading");
  ck_assert_uint_eq(future_error_cause_count(top), 1);
  ck_assert_ptr_eq(future_error_cause_at(top, 0), root);
  ck_assert_ptr_eq(future_error_cause_at(top, 0), future_error_cause(top));
  ck_assert_ptr_null(future_error_cause_at(top, 1));
  ck_assert_uint_eq(future_error_cause_count(root), 0);
  ck_assert_ptr_null(future_error_cause_at(root, 0));
  future_error_unref(root);
  future_error_unref(top);
}
END_TEST

/* A binding that has no raising site to give passes NULLs: the error
 * still names a place, "?", and prints. */
START_TEST(test_error_new_at_without_a_site) {
  future_error_t *e = future_error_new_at(NULL, 0, NULL, UV_EIO, NULL, "x");
  char *text;
  ck_assert_str_eq(future_error_file(e), "?");
  ck_assert_str_eq(future_error_func(e), "?");
  ck_assert_int_eq(future_error_line(e), 0);
  text = print_to_string(e);
  ck_assert_str_eq(text, "error: x: i/o error (EIO)\n  at ?:0 in ?\n");
  free(text);
  future_error_unref(e);
}
END_TEST

/* When memory runs out, every constructor answers the one static
 * UV_ENOMEM error, whether the error itself or the text of a long
 * message could not be had; reference counting on it does nothing. */
START_TEST(test_error_out_of_memory_is_the_static_enomem) {
  char text[600];
  future_error_t *small, *big, *agg;
  const future_error_t *causes[1];
  memset(text, 'y', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  counting_install();
  counting.fail = 1;
  small = future_error_new(UV_EIO, "short");
  big = future_error_new(UV_EIO, "long: %s", text); /* text needs the heap */
  causes[0] = small;
  agg = future_error_aggregate(FUTURE_EAGGREGATE, causes, 1, "all");
  counting.fail = 0;
  ck_assert_ptr_nonnull(small);
  ck_assert_ptr_eq(big, small);
  ck_assert_ptr_eq(agg, small);
  ck_assert_int_eq(future_error_code(small), UV_ENOMEM);
  ck_assert_str_eq(future_error_message(small), "out of memory (ENOMEM)");
  ck_assert_ptr_eq(future_error_ref(small), small);
  future_error_unref(small);
  future_error_unref(small);
  future_error_unref(big);
  future_error_unref(agg);
  ck_assert_int_eq(future_error_code(small), UV_ENOMEM); /* still there */
  ck_assert_int_eq(counting.outstanding, 0);
  ck_assert_int_ge(counting.calls, 3);
  counting_restore();
}
END_TEST

/* A message that the C library cannot format (here a wide character with
 * no encoding in the "C" locale) still gives an error, with the code's
 * own description, as for a NULL fmt. Where the C library can format it,
 * the text is kept as usual. */
START_TEST(test_error_unformattable_message_keeps_the_code) {
  future_error_t *e = future_error_new(UV_EIO, "bad %lc", (wint_t)0x20ac);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(future_error_code(e), UV_EIO);
  if (snprintf(NULL, 0, "bad %lc", (wint_t)0x20ac) < 0)
    ck_assert_str_eq(future_error_message(e), "i/o error (EIO)");
  else
    ck_assert_ptr_nonnull(strstr(future_error_message(e), "bad "));
  future_error_unref(e);
}
END_TEST

START_TEST(test_error_hook_replace_and_restore) {
  unhandled_counter_t c;
  void *data = (void *)1;
  future_unhandled_cb prev;
  unhandled_install(&c);
  prev = future_set_unhandled_hook(NULL, NULL, &data);
  ck_assert_ptr_eq((void *)prev, (void *)count_unhandled);
  ck_assert_ptr_eq(data, &c);
  /* NULL restored the default, which is not our counter. */
  prev = future_set_unhandled_hook(NULL, NULL, NULL);
  ck_assert_ptr_ne((void *)prev, (void *)count_unhandled);
  ck_assert_ptr_nonnull((void *)prev);
}
END_TEST

/* The default hook prints the error, its origin and its causes to stderr. */
START_TEST(test_error_default_hook_prints_to_stderr) {
  uv_loop_t loop;
  char path[] = "/tmp/future-stderr-XXXXXX";
  int fd = mkstemp(path), saved = dup(2);
  future_error_t *cause = future_error_new(UV_ENOENT, "open 'x'");
  char buf[1024];
  ssize_t n;
  future_t *f;

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fflush(stderr);
  dup2(fd, 2);
  f = future_rejected(&loop, future_error_wrap(cause, UV_ENOENT, "load"));
  future_error_unref(cause);
  future_unref(f); /* released unobserved: reported */
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  n = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  unlink(path);
  ck_assert_int_gt(n, 0);
  buf[n] = '\0';
  ck_assert_ptr_nonnull(strstr(buf, "libfuture: unhandled rejection\n"));
  ck_assert_ptr_nonnull(
      strstr(buf, "error: load: no such file or directory (ENOENT)\n"));
  ck_assert_ptr_nonnull(strstr(buf, "caused by: open 'x'"));
  ck_assert_ptr_nonnull(strstr(buf, "check_error.c"));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Formatted messages are made in a 256-byte buffer on the stack when they
 * fit: the boundary lengths (255 and 256 characters, then 257) are kept
 * whole, to the last character. */
START_TEST(test_error_message_at_the_inline_buffer_boundary) {
  for (size_t n = 254; n <= 258; n++) {
    char text[300];
    future_error_t *e;
    for (size_t i = 0; i < n; i++)
      text[i] = (char)('a' + i % 26);
    text[n] = '\0';
    e = future_error_new(FUTURE_EUSER(1), "%s", text);
    ck_assert_uint_eq(strlen(future_error_message(e)), n);
    ck_assert_str_eq(future_error_message(e), text);
    future_error_unref(e);
  }
}
END_TEST

Suite *make_error_suite(void) {
  Suite *s = suite_create("error");
  TCase *core = tcase_create("Core");
  TCase *hook = tcase_create("Unhandled");
  tcase_add_test(core, test_error_strerror_and_names);
  tcase_add_test(core, test_error_every_libuv_code_has_libuv_text_and_name);
  tcase_add_test(core, test_error_print_shows_aggregate_causes);
  tcase_add_test(core, test_error_code_ranges_are_disjoint);
  tcase_add_test(core, test_error_message_names_operation_and_code);
  tcase_add_test(core, test_error_without_text_and_user_codes);
  tcase_add_test(core, test_error_nonnegative_code_becomes_einval);
  tcase_add_test(core, test_error_long_message_is_kept_whole);
  tcase_add_test(core, test_error_message_at_the_inline_buffer_boundary);
  tcase_add_test(core, test_error_wrap_keeps_cause_alive);
  tcase_add_test(core, test_error_ref_and_null_are_safe);
  tcase_add_test(core, test_error_deep_cause_chain_frees_iteratively);
  tcase_add_test(core, test_error_accessors_of_null);
  tcase_add_test(core, test_error_cause_at_of_a_wrapper);
  tcase_add_test(core, test_error_new_at_without_a_site);
  tcase_add_test(core, test_error_out_of_memory_is_the_static_enomem);
  tcase_add_test(core, test_error_unformattable_message_keeps_the_code);
  tcase_add_test(core, test_error_print_shows_origin_and_causes);
  tcase_add_test(hook, test_error_hook_replace_and_restore);
  tcase_add_test(hook, test_error_default_hook_prints_to_stderr);
  suite_add_tcase(s, core);
  suite_add_tcase(s, hook);
  return s;
}
