/*
 * Helpers shared by the test suites: each test owns a loop, runs it, and
 * ends by proving that nothing is left: the loop runs to completion (closing
 * handles finish), no future is alive, the library's state is torn down, and
 * uv_loop_close() == 0 (libuv's MAKE_VALGRIND_HAPPY idea).
 */
#ifndef FUTURE_TEST_HELPERS_H
#define FUTURE_TEST_HELPERS_H

#include <check.h>
#include <future.h>
#include <stdint.h>

#define LOOP_CLOSE(loop)                                                       \
  do {                                                                         \
    ck_assert_int_eq(uv_run((loop), UV_RUN_DEFAULT), 0);                       \
    ck_assert_uint_eq(future_loop_live(loop), 0);                              \
    ck_assert_int_eq(future_loop_close(loop), 0);                              \
    ck_assert_int_eq(uv_run((loop), UV_RUN_DEFAULT), 0);                       \
    ck_assert_int_eq(uv_loop_close(loop), 0);                                  \
  } while (0)

#define INT2P(i) ((void *)(intptr_t)(i))
#define P2INT(p) ((int)(intptr_t)(p))

/* Counts unhandled rejections while installed. */
typedef struct {
  int count;
  int last_code;
  void *prev_data;
  future_unhandled_cb prev;
} unhandled_counter_t;

static inline void count_unhandled(const future_error_t *err, void *data) {
  unhandled_counter_t *c = data;
  c->count++;
  c->last_code = future_error_code(err);
}

static inline void unhandled_install(unhandled_counter_t *c) {
  c->count = 0;
  c->last_code = 0;
  c->prev = future_set_unhandled_hook(count_unhandled, c, &c->prev_data);
}

static inline void unhandled_restore(unhandled_counter_t *c) {
  future_set_unhandled_hook(c->prev, c->prev_data, NULL);
}

#endif
