/* The tree walks (src/fs_tree.c): mkdir_p, rm_r and readdir, and their
 * cancellation. Each test works in a temporary directory of its own under
 * /tmp (fs_helpers.h). */
#define _GNU_SOURCE
#include "fs_helpers.h"
#include "suites.h"

/* Trees. */

START_TEST(test_fs_mkdir_p) {
  uv_loop_t loop;
  future_result_t r;
  struct stat st;
  char deep[4096];
  int i, n;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_str_eq(expect_ok(future_fs_mkdir_p(&loop, tp("a/b/c"), 0755), &r),
                   tp("a"));
  future_result_release(&r);
  ck_assert_int_eq(stat(tp("a/b/c"), &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  /* All there: success, nothing made. */
  ck_assert_ptr_null(expect_ok(future_fs_mkdir_p(&loop, tp("a/b/c"), 0755),
                               &r));
  future_result_release(&r);
  ck_assert_ptr_null(expect_ok(future_fs_mkdir_p(&loop, root, 0755), &r));
  future_result_release(&r);
  /* Some there, some not; messy slashes. */
  ck_assert_str_eq(
      expect_ok(future_fs_mkdir_p(&loop, tp("a//b/d/e/"), 0755), &r),
      tp("a/b/d"));
  future_result_release(&r);
  ck_assert(exists(tp("a/b/d/e")));
  /* A file in the way. */
  put_file(tp("file"), "x");
  expect_err(future_fs_mkdir_p(&loop, tp("file"), 0755), UV_EEXIST,
             msg("mkdir", tp("file"), UV_EEXIST));
  put_file(tp("a/file"), "x");
  expect_err(future_fs_mkdir_p(&loop, tp("a/file/x/y"), 0755), UV_ENOTDIR,
             msg("mkdir", tp("a/file/x/y"), UV_ENOTDIR));
  /* Deep: 150 levels in one call. */
  n = snprintf(deep, sizeof(deep), "%s/deep", root);
  for (i = 0; i < 150; i++)
    n += snprintf(deep + n, sizeof(deep) - (size_t)n, "/%d", i % 10);
  ck_assert_str_eq(expect_ok(future_fs_mkdir_p(&loop, deep, 0700), &r),
                   tp("deep"));
  future_result_release(&r);
  ck_assert_int_eq(stat(deep, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_rm_r) {
  uv_loop_t loop;
  char deep[4096];
  int i, n;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* A tree with files, empty and full directories, and links. */
  ck_assert_int_eq(mkdir(tp("t"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("t/empty"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("t/full"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("t/full/inner"), 0755), 0);
  for (i = 0; i < 20; i++)
    put_file(tp("t/full/inner/f%d", i), "data");
  put_file(tp("t/top.txt"), "x");
  ck_assert_int_eq(mkdir(tp("keep"), 0755), 0);
  put_file(tp("keep/precious"), "do not follow links");
  ck_assert_int_eq(symlink(tp("keep"), tp("t/full/link-to-keep")), 0);
  ck_assert_int_eq(symlink(tp("nowhere"), tp("t/dangling")), 0);
  wait_done(future_fs_rm_r(&loop, tp("t"), 0));
  ck_assert(!exists(tp("t")));
  ck_assert(exists(tp("keep/precious")));

  /* The top must exist, unless forced. */
  expect_err(future_fs_rm_r(&loop, tp("t"), 0), UV_ENOENT,
             msg("lstat", tp("t"), UV_ENOENT));
  wait_done(future_fs_rm_r(&loop, tp("t"), FUTURE_FS_RM_FORCE));

  /* A file, a link (not what it points to), a trailing slash. */
  put_file(tp("lone"), "x");
  wait_done(future_fs_rm_r(&loop, tp("lone"), 0));
  ck_assert(!exists(tp("lone")));
  ck_assert_int_eq(symlink(tp("keep"), tp("ln")), 0);
  wait_done(future_fs_rm_r(&loop, tp("ln"), 0));
  ck_assert(!exists(tp("ln")) && exists(tp("keep/precious")));
  wait_done(future_fs_rm_r(&loop, tp("keep/"), 0));
  ck_assert(!exists(tp("keep")));

  /* Deep: 150 levels, one file at each. */
  n = snprintf(deep, sizeof(deep), "%s/deep", root);
  ck_assert_int_eq(mkdir(deep, 0755), 0);
  for (i = 0; i < 150; i++) {
    char f[4200];
    n += snprintf(deep + n, sizeof(deep) - (size_t)n, "/%d", i % 10);
    ck_assert_int_eq(mkdir(deep, 0755), 0);
    snprintf(f, sizeof(f), "%s/file", deep);
    put_file(f, "x");
  }
  wait_done(future_fs_rm_r(&loop, tp("deep"), 0));
  ck_assert(!exists(tp("deep")));
  ck_assert_int_eq(dir_entries(root), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_readdir_all) {
  uv_loop_t loop;
  future_result_t r;
  future_fs_dirents_t *d;
  char seen[300];
  size_t i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  for (i = 0; i < 300; i++)
    put_file(tp("d/%zu", i), "");
  ck_assert_int_eq(mkdir(tp("d/sub"), 0755), 0);
  d = expect_ok(future_fs_readdir(&loop, tp("d")), &r);
  ck_assert_uint_eq(d->count, 301);
  memset(seen, 0, sizeof(seen));
  for (i = 0; i < d->count; i++) {
    if (strcmp(d->entries[i].name, "sub") == 0) {
      ck_assert_int_eq(d->entries[i].type, UV_DIRENT_DIR);
      continue;
    }
    seen[atoi(d->entries[i].name)]++;
  }
  for (i = 0; i < 300; i++)
    ck_assert_int_eq(seen[i], 1);
  future_result_release(&r);
  d = expect_ok(future_fs_readdir(&loop, tp("d/sub")), &r);
  ck_assert_uint_eq(d->count, 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST


/* Cancel. */

START_TEST(test_fs_cancel_rm_r_midway) {
  uv_loop_t loop;
  future_t *f;
  int i, j;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < 10; i++) {
    ck_assert_int_eq(mkdir(tp("%d", i), 0755), 0);
    for (j = 0; j < 20; j++)
      put_file(tp("%d/%d", i, j), "x");
  }
  f = future_fs_rm_r(&loop, root, 0);
  for (i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert(exists(root)); /* stopped on the way */
  wait_done(future_fs_rm_r(&loop, root, 0));
  ck_assert(!exists(root));
  ck_assert_int_eq(mkdir(root, 0700), 0); /* for teardown */
  LOOP_CLOSE(&loop);
}
END_TEST


Suite *make_fs_tree_suite(void) {
  Suite *s = suite_create("fs_tree");
  TCase *tree = tcase_create("Tree");
  TCase *cancel = tcase_create("Cancel");
  TCase *all[] = {tree, cancel};
  size_t i;
  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    tcase_add_checked_fixture(all[i], setup, teardown);

  tcase_set_timeout(tree, 120);
  tcase_add_test(tree, test_fs_mkdir_p);
  tcase_add_test(tree, test_fs_rm_r);
  tcase_add_test(tree, test_fs_readdir_all);

  tcase_set_timeout(cancel, 60);
  tcase_add_test(cancel, test_fs_cancel_rm_r_midway);

  suite_add_tcase(s, tree);
  suite_add_tcase(s, cancel);
  return s;
}
