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
#include <stdlib.h>

#define LOOP_CLOSE(loop)                                                       \
  do {                                                                         \
    ck_assert_int_eq(uv_run((loop), UV_RUN_DEFAULT), 0);                       \
    ck_assert_uint_eq(future_loop_live(loop), 0);                              \
    ck_assert_int_eq(future_loop_close(loop), 0);                              \
    ck_assert_int_eq(uv_run((loop), UV_RUN_DEFAULT), 0);                       \
    ck_assert_int_eq(uv_loop_close(loop), 0);                                  \
  } while (0)

/* The usual end of a libuv program: a uv_walk that closes every handle,
 * the library's included, and future_loop_close, in one of three orders:
 * the walk, the loop run dry, then teardown (TEARDOWN_WALK_RUN, 0);
 * teardown, then the walk (TEARDOWN_CLOSE_FIRST, 1); the walk, then
 * teardown at once, the walk's closes still under way (TEARDOWN_WALK_NOW,
 * 2), which teardown must finish before the handles' memory goes: no handle
 * is left among the loop's afterwards (the sanitizers do not see libuv's
 * own reads of freed memory, so this says it without them). Then the loop
 * runs dry and closes. Returns how many of the handles the walk met were
 * the library's (future_loop_owns_handle). */
enum { TEARDOWN_WALK_RUN, TEARDOWN_CLOSE_FIRST, TEARDOWN_WALK_NOW };

static inline void walk_close_counting(uv_handle_t *h, void *arg) {
  *(int *)arg += future_loop_owns_handle(h);
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static inline void walk_count_all(uv_handle_t *h, void *arg) {
  (void)h;
  ++*(int *)arg;
}

static inline int teardown_with_walk(uv_loop_t *loop, int how) {
  int owned = 0, left = 0;
  if (how == TEARDOWN_CLOSE_FIRST) {
    ck_assert_int_eq(future_loop_close(loop), 0);
    uv_walk(loop, walk_close_counting, &owned);
  } else {
    uv_walk(loop, walk_close_counting, &owned);
    if (how == TEARDOWN_WALK_RUN)
      ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(future_loop_close(loop), 0);
    uv_walk(loop, walk_count_all, &left);
    ck_assert_int_eq(left, 0);
  }
  ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(loop), 0);
  return owned;
}

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

/* A counting allocator (future_set_allocator), for tests that show that
 * something leaks, or that the library's memory really goes through the
 * hook. Install it before the test's first future and restore it after
 * the last loop is closed: the allocator can only change while no loop has
 * library state. `counting.fail` makes every allocation fail while set. */
typedef struct {
  long outstanding; /* allocated and not yet freed */
  long calls;       /* allocations asked for */
  int fail;
} counting_alloc_t;

static counting_alloc_t counting;

static inline void *counting_malloc(size_t n) {
  void *p;
  counting.calls++;
  if (counting.fail)
    return NULL;
  p = malloc(n);
  counting.outstanding += p != NULL;
  return p;
}

static inline void *counting_calloc(size_t count, size_t n) {
  void *p;
  counting.calls++;
  if (counting.fail)
    return NULL;
  p = calloc(count, n);
  counting.outstanding += p != NULL;
  return p;
}

static inline void *counting_realloc(void *old, size_t n) {
  void *p;
  counting.calls++;
  if (counting.fail)
    return NULL;
  p = realloc(old, n);
  counting.outstanding += p != NULL && old == NULL;
  return p;
}

static inline void counting_free(void *p) {
  counting.outstanding -= p != NULL;
  free(p);
}

static inline void counting_install(void) {
  counting.outstanding = 0;
  counting.calls = 0;
  counting.fail = 0;
  ck_assert_int_eq(future_set_allocator(counting_malloc, counting_realloc,
                                        counting_calloc, counting_free),
                   0);
}

static inline void counting_restore(void) {
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free), 0);
}

#endif
