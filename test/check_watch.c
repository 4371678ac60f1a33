/* Watching files as futures (src/watch.c), on real files in the test's
 * directory. */
#define _GNU_SOURCE /* fs_helpers.h: nftw, renameat2 */
#include "fs_helpers.h"
#include "helpers.h"
#include "suites.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* A change made from a timer callback, after the watch has started. */
typedef struct {
  uv_timer_t timer;
  void (*change)(void);
} later_t;

static void run_change(uv_timer_t *t) {
  later_t *l = t->data;
  l->change();
  uv_close((uv_handle_t *)t, NULL);
}

static void change_later(uv_loop_t *loop, later_t *l, void (*change)(void),
                         uint64_t ms) {
  ck_assert_int_eq(uv_timer_init(loop, &l->timer), 0);
  l->timer.data = l;
  l->change = change;
  ck_assert_int_eq(uv_timer_start(&l->timer, run_change, ms, 0), 0);
}

static void make_new_entry(void) { put_file(tp("dir/new.txt"), "hello\n"); }

START_TEST(test_watch_directory_sees_a_new_entry) {
  uv_loop_t loop;
  future_result_t r;
  later_t l;
  const future_fs_change_t *c;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("dir"), 0755), 0);
  change_later(&loop, &l, make_new_entry, 10);
  ck_assert_int_eq(future_wait(future_fs_watch(&loop, tp("dir"), 0), &r), 0);
  c = r.value;
  ck_assert_str_eq(c->name, "new.txt");
  ck_assert_int_ne(c->events & (UV_RENAME | UV_CHANGE), 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A stat watch compares with the first stat its watcher takes, on the
 * thread pool, some time after the call: a change made before that is not
 * seen. So the tests change the file over and over from a timer until
 * the watches have seen what they look for: the file created (its prev all
 * zero), removed (its curr all zero), and grown. */
static int toggles;

/* The file appears with its content whole (written aside, then renamed):
 * a stat never sees it half written. */
static void put_whole(const char *path, const char *text) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  put_file(tmp, text);
  ck_assert_int_eq(rename(tmp, path), 0);
}

static void toggle_file(uv_timer_t *t) {
  (void)t;
  if (toggles++ % 2 == 0)
    put_whole(tp("f"), "hello\n");
  else
    ck_assert_int_eq(unlink(tp("f")), 0);
}

START_TEST(test_watch_file_sees_creation_and_removal) {
  uv_loop_t loop;
  uv_timer_t t;
  future_result_t r;
  int created = 0, removed = 0, rounds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &t), 0);
  toggles = 0;
  ck_assert_int_eq(uv_timer_start(&t, toggle_file, 5, 5), 0);
  for (rounds = 0; rounds < 200 && !(created && removed); rounds++) {
    const future_fs_stat_change_t *c;
    ck_assert_int_eq(future_wait(future_fs_watch_file(&loop, tp("f"), 2), &r),
                     0);
    c = r.value;
    if (c->prev.st_mtim.tv_sec == 0 && c->prev.st_size == 0) {
      ck_assert_uint_eq(c->curr.st_size, 6); /* created */
      created = 1;
    } else if (c->curr.st_mtim.tv_sec == 0 && c->curr.st_size == 0) {
      ck_assert_uint_eq(c->prev.st_size, 6); /* removed */
      removed = 1;
    }
    future_result_release(&r);
  }
  ck_assert(created && removed);
  uv_close((uv_handle_t *)&t, NULL);
  LOOP_CLOSE(&loop);
}
END_TEST

static void resize_file(uv_timer_t *t) {
  (void)t;
  put_whole(tp("f"), toggles++ % 2 ? "small\n" : "grown to more\n");
}

START_TEST(test_watch_file_sees_a_change_of_size) {
  uv_loop_t loop;
  uv_timer_t t;
  future_result_t r;
  const future_fs_stat_change_t *c;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "small\n");
  ck_assert_int_eq(uv_timer_init(&loop, &t), 0);
  toggles = 0;
  ck_assert_int_eq(uv_timer_start(&t, resize_file, 5, 5), 0);
  ck_assert_int_eq(future_wait(future_fs_watch_file(&loop, tp("f"), 2), &r),
                   0);
  c = r.value;
  ck_assert(c->curr.st_size == 6 || c->curr.st_size == 14);
  ck_assert(c->prev.st_size == 6 || c->prev.st_size == 14);
  ck_assert(c->prev.st_size != c->curr.st_size ||
            c->prev.st_mtim.tv_nsec != c->curr.st_mtim.tv_nsec ||
            c->prev.st_mtim.tv_sec != c->curr.st_mtim.tv_sec);
  future_result_release(&r);
  uv_close((uv_handle_t *)&t, NULL);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_watch_errors) {
  uv_loop_t loop;
  future_result_t r;
  char want[4200];
  int line;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  line = __LINE__ + 1;
  ck_assert_int_eq(future_wait(future_fs_watch(&loop, tp("missing"), 0), &r),
                   UV_ENOENT);
  snprintf(want, sizeof want,
           "watch '%s': no such file or directory (ENOENT)", tp("missing"));
  ck_assert_str_eq(future_error_message(r.error), want);
  ck_assert_int_eq(future_error_line(r.error), line); /* the call site */
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_fs_watch(&loop, NULL, 0), &r),
                   UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(future_wait(future_fs_watch_file(&loop, NULL, 5), &r),
                   UV_EINVAL);
  future_result_release(&r);
  ck_assert_int_eq(
      future_wait(future_fs_watch_file(&loop, tp("missing"), 0), &r),
      UV_EINVAL);
  future_result_release(&r);
  ck_assert_ptr_null(future_fs_watch(NULL, tp("x"), 0));
  ck_assert_ptr_null(future_fs_watch_file(NULL, tp("x"), 5));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled, a watch stops at once and keeps nothing alive; left pending,
 * teardown cancels it, before or after a uv_walk that closes its handle
 * (a stat watcher closes only when its stat in the pool is back). */
START_TEST(test_watch_cancel_and_teardown) {
  uv_loop_t loop;
  future_t *a, *b;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("file.txt"), "x\n");
  a = future_fs_watch(&loop, root, 0);
  b = future_fs_watch_file(&loop, tp("file.txt"), 1);
  ck_assert_int_eq(future_cancel(a), 0);
  ck_assert_int_eq(future_cancel(b), 0);
  ck_assert_int_eq(future_error_code(future_error(b)), UV_ECANCELED);
  future_unref(a);
  future_unref(b);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);

  future_unref(future_fs_watch(&loop, root, 0));
  future_unref(future_fs_watch_file(&loop, tp("file.txt"), 1));
  /* The walk first meets the loop's three handles and both watchers. */
  ck_assert_int_eq(teardown_with_walk(&loop, _i),
                   _i != TEARDOWN_CLOSE_FIRST ? 5 : 0);
}
END_TEST

/* Allocation failures: a NULL future or a UV_ENOMEM rejection, nothing
 * left behind. A thread of the test rewrites a file during each try, so
 * that a watch that did start sees a change. */
static future_t *op_watch(uv_loop_t *l) { return future_fs_watch(l, root, 0); }
static future_t *op_watch_file(uv_loop_t *l) {
  return future_fs_watch_file(l, tp("appears"), 2);
}
static uv_thread_t maker;
static atomic_int maker_stop;
static char maker_path[4096]; /* made on the test's thread: tp() is not
                                 safe on another */
/* Rewrites the file every 5 ms until told to stop: a watch that started
 * sees a change sooner or later, however slow the machine. */
static void make_changes(void *arg) {
  int i = 0;
  (void)arg;
  while (!atomic_load(&maker_stop)) {
    uv_sleep(5);
    put_whole(maker_path, i++ % 2 ? "1\n" : "22\n");
  }
}
static void start_maker(void) {
  snprintf(maker_path, sizeof maker_path, "%s", tp("appears"));
  unlink(maker_path);
  atomic_store(&maker_stop, 0);
  ck_assert_int_eq(uv_thread_create(&maker, make_changes, NULL), 0);
}
static void join_maker(void) {
  atomic_store(&maker_stop, 1);
  ck_assert_int_eq(uv_thread_join(&maker), 0);
  unlink(maker_path);
}

START_TEST(test_watch_allocation_failures) {
  static const fs_op_t ops[] = {
      {"watch", start_maker, op_watch, NULL, join_maker},
  };
  static const fs_op_t stat_ops[] = {
      {"watch_file", start_maker, op_watch_file, NULL, join_maker},
  };
  sweep_ops(ops, sizeof ops / sizeof ops[0]);
  /* Not libuv's allocator failing for a stat watcher: when the first stat
   * of uv_fs_poll_start cannot start, libuv (1.44.2, Debian 12's) frees
   * its context with the context's timer still among the loop's handles,
   * and the loop's next turn writes into freed memory. */
  sw_skip_uv_fail = 1;
  sweep_ops(stat_ops, 1);
  sw_skip_uv_fail = 0;
}
END_TEST

Suite *make_watch_suite(void) {
  Suite *s = suite_create("watch");
  TCase *core = tcase_create("core");
  tcase_add_checked_fixture(core, setup, teardown);
  tcase_set_timeout(core, 120);
  tcase_add_test(core, test_watch_directory_sees_a_new_entry);
  tcase_add_test(core, test_watch_file_sees_creation_and_removal);
  tcase_add_test(core, test_watch_file_sees_a_change_of_size);
  tcase_add_test(core, test_watch_errors);
  tcase_add_loop_test(core, test_watch_cancel_and_teardown, 0, 3);
  tcase_add_test(core, test_watch_allocation_failures);
  suite_add_tcase(s, core);
  return s;
}
