/* The tree walks (src/fs_tree.c): mkdir_p, rm_r and readdir, and their
 * cancellation. Each test works in a temporary directory of its own under
 * /tmp (fs_helpers.h). */
#define _GNU_SOURCE
#include "fs_helpers.h"
#include "suites.h"

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>

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

/* Descriptor 0 is a descriptor like any other: with standard input
 * closed, the first directory rm_r opens gets it (in a child, so that the
 * runner keeps its standard input). */
START_TEST(test_fs_rm_r_with_stdin_closed) {
  pid_t pid;
  int status;
#ifdef HAVE_VALGRIND_MEMCHECK_H
  if (RUNNING_ON_VALGRIND)
    return; /* the child's exit would be judged by valgrind's leak check
               of a forked copy of the whole runner */
#endif
  ck_assert_int_eq(mkdir(tp("t"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("t/sub"), 0755), 0);
  put_file(tp("t/sub/f"), "x");
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    uv_loop_t loop;
    int rc;
    close(0);
    if (uv_loop_init(&loop) != 0)
      _exit(3);
    rc = future_wait(future_fs_rm_r(&loop, tp("t"), 0), NULL);
    _exit(rc == 0 ? 0 : 1);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "rm_r with standard input closed: status %d", status);
  ck_assert(!exists(tp("t")));
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


/* scandir_stat: every entry with its lstat, links not followed. */
static const future_fs_stat_entry_t *ss_find(const future_fs_stat_entries_t *d,
                                             const char *name) {
  size_t i;
  for (i = 0; i < d->count; i++)
    if (strcmp(d->entries[i].name, name) == 0)
      return &d->entries[i];
  return NULL;
}

START_TEST(test_fs_scandir_stat) {
  uv_loop_t loop;
  future_result_t r;
  future_fs_stat_entries_t *d;
  const future_fs_stat_entry_t *e;
  struct stat st;
  char seen[300];
  size_t i;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  for (i = 0; i < 300; i++)
    put_file(tp("d/%zu", i), i % 2 ? "odd" : "");
  put_file(tp("d/five"), "hello");
  ck_assert_int_eq(mkdir(tp("d/sub"), 0755), 0);
  ck_assert_int_eq(symlink("sub", tp("d/link")), 0);
  ck_assert_int_eq(symlink("nowhere", tp("d/dangling")), 0);
  ck_assert_int_eq(mkfifo(tp("d/fifo"), 0600), 0);
  fds = fd_count();
  d = expect_ok(future_fs_scandir_stat(&loop, tp("d")), &r);
  ck_assert_int_eq(fd_count(), fds);
  ck_assert_uint_eq(d->count, 305);
  memset(seen, 0, sizeof(seen));
  for (i = 0; i < d->count; i++) {
    e = &d->entries[i];
    ck_assert_int_eq(e->error, 0);
    ck_assert_str_ne(e->name, ".");
    ck_assert_str_ne(e->name, "..");
    if (e->name[0] >= '0' && e->name[0] <= '9') {
      int k = atoi(e->name);
      seen[k]++;
      ck_assert_int_eq(e->type, UV_DIRENT_FILE);
      ck_assert_uint_eq(e->stat.st_size, k % 2 ? 3 : 0);
    }
  }
  for (i = 0; i < 300; i++)
    ck_assert_int_eq(seen[i], 1);
  /* The same as lstat says, field by field. */
  e = ss_find(d, "five");
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(lstat(tp("d/five"), &st), 0);
  ck_assert_int_eq(e->type, UV_DIRENT_FILE);
  ck_assert_uint_eq(e->stat.st_size, 5);
  ck_assert_uint_eq(e->stat.st_ino, st.st_ino);
  ck_assert_uint_eq(e->stat.st_dev, st.st_dev);
  ck_assert_uint_eq(e->stat.st_mode, st.st_mode);
  ck_assert_uint_eq(e->stat.st_nlink, st.st_nlink);
  ck_assert_uint_eq(e->stat.st_blocks, st.st_blocks);
  ck_assert_int_eq(e->stat.st_mtim.tv_sec, st.st_mtim.tv_sec);
  ck_assert_int_eq(e->stat.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
  e = ss_find(d, "sub");
  ck_assert_int_eq(e->type, UV_DIRENT_DIR);
  ck_assert(S_ISDIR(e->stat.st_mode));
  /* Links are not followed: the link itself, its size its target's name. */
  e = ss_find(d, "link");
  ck_assert_int_eq(e->type, UV_DIRENT_LINK);
  ck_assert(S_ISLNK(e->stat.st_mode));
  ck_assert_uint_eq(e->stat.st_size, 3);
  e = ss_find(d, "dangling");
  ck_assert_int_eq(e->error, 0);
  ck_assert_int_eq(e->type, UV_DIRENT_LINK);
  e = ss_find(d, "fifo");
  ck_assert_int_eq(e->type, UV_DIRENT_FIFO);
  future_result_release(&r);
  /* Empty; and through a link to a directory, which is followed. */
  d = expect_ok(future_fs_scandir_stat(&loop, tp("d/link")), &r);
  ck_assert_uint_eq(d->count, 0);
  ck_assert_ptr_null(d->entries);
  future_result_release(&r);
  /* Errors name the step and the path; nothing is left open. */
  expect_err(future_fs_scandir_stat(&loop, tp("nope")), UV_ENOENT,
             msg("open", tp("nope"), UV_ENOENT));
  expect_err(future_fs_scandir_stat(&loop, tp("d/five")), UV_ENOTDIR,
             msg("open", tp("d/five"), UV_ENOTDIR));
  expect_err(future_fs_scandir_stat(&loop, tp("d/dangling")), UV_ENOENT,
             msg("open", tp("d/dangling"), UV_ENOENT));
  expect_err(future_fs_scandir_stat(&loop, NULL), UV_EINVAL,
             "scandir_stat: NULL path: invalid argument (EINVAL)");
  ck_assert_ptr_null(future_fs_scandir_stat(NULL, tp("d")));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while queued (behind sleepers): the job never runs, nothing is
 * opened, the future rejects at once. */
START_TEST(test_fs_cancel_scandir_stat_queued) {
  uv_loop_t loop;
  future_t *f, *watch;
  int delivered = 0, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  fds = fd_count();
  block_pool(&loop);
  f = future_fs_scandir_stat(&loop, tp("d"));
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  ck_assert_int_eq(future_cancel(f), 0);
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  expect_err(watch, UV_ECANCELED, NULL);
  expect_err(f, UV_ECANCELED, "cancelled: operation canceled (ECANCELED)");
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sleepers_done, pool_size());
  ck_assert_int_eq(delivered, 0);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancelled while the job lists a large directory: it stops before its
 * next entry (or finishes), closes the directory, delivers nothing. */
START_TEST(test_fs_cancel_scandir_stat_running) {
  uv_loop_t loop;
  future_t *f, *watch;
  int delivered = 0, fds, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  for (i = 0; i < 20000; i++)
    put_file(tp("d/%05d", i), "");
  fds = fd_count();
  f = future_fs_scandir_stat(&loop, tp("d"));
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  /* The job runs without the loop: wait until the directory is open (or
   * the job is over, on a loaded machine that kept this thread off its
   * core: the cancel then discards the result, which must leave nothing
   * open and deliver nothing just the same). */
  for (i = 0; i < 200000 && fd_count() == fds; i++)
    ;
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(watch, UV_ECANCELED, NULL);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(delivered, 0);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST


/* Build `levels` nested directories named "d" under `top`, walking down
 * with mkdirat and openat from the descriptor of each level (so that the
 * depth is not limited by PATH_MAX); a file at every `every`-th level. */
static void build_deep(const char *top, int levels, int every) {
  int fd, i;
  ck_assert_int_eq(mkdir(top, 0755), 0);
  fd = open(top, O_RDONLY | O_DIRECTORY);
  ck_assert_int_ge(fd, 0);
  for (i = 0; i < levels; i++) {
    int next;
    ck_assert_int_eq(mkdirat(fd, "d", 0755), 0);
    if (every > 0 && i % every == 0) {
      int f = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
      ck_assert_int_ge(f, 0);
      close(f);
    }
    next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(next, 0);
    close(fd);
    fd = next;
  }
  close(fd);
}

/* The lowest descriptor number free now: with a soft limit on open files
 * of `lowest_free_fd() + n`, at most n more files can be opened. */
static int lowest_free_fd(void) {
  int fd = dup(0);
  ck_assert_int_ge(fd, 0);
  close(fd);
  return fd;
}

static void set_nofile(rlim_t soft, struct rlimit *saved) {
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (saved != NULL)
    *saved = rl;
  rl.rlim_cur = soft;
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Relative paths start from the working directory. */
START_TEST(test_fs_tree_relative_paths) {
  uv_loop_t loop;
  future_result_t r;
  char cwd[4096];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(root), 0);
  ck_assert_str_eq(expect_ok(future_fs_mkdir_p(&loop, "rel/a/b", 0755), &r),
                   "rel");
  future_result_release(&r);
  put_file("rel/a/b/f", "x");
  put_file("lone", "x");
  wait_done(future_fs_rm_r(&loop, "lone", 0));
  wait_done(future_fs_rm_r(&loop, "rel/", 0));
  expect_err(future_fs_rm_r(&loop, "rel", 0), UV_ENOENT,
             "lstat 'rel': no such file or directory (ENOENT)");
  wait_done(future_fs_rm_r(&loop, "nope/rel", FUTURE_FS_RM_FORCE));
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert_int_eq(dir_entries(root), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* mkdir_p's errors name the step and the part of the path it was at. */
START_TEST(test_fs_mkdir_p_errors) {
  uv_loop_t loop;
  struct rlimit saved;
  char cwd[4096];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* /proc makes nothing, on the way or at the end. */
  expect_err(future_fs_mkdir_p(&loop, "/proc/self/x/y", 0755), UV_ENOENT,
             msg("mkdir", "/proc/self/x", UV_ENOENT));
  expect_err(future_fs_mkdir_p(&loop, "/proc/self/x", 0755), UV_ENOENT,
             msg("mkdir", "/proc/self/x", UV_ENOENT));
  /* Out of descriptors: the walk cannot open where it starts ("/"), or,
   * from the working directory, what it made. */
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(root), 0);
  wait_done(future_fs_stat(&loop, root)); /* the pool's threads are up */
  set_nofile((rlim_t)lowest_free_fd(), &saved);
  expect_err(future_fs_mkdir_p(&loop, tp("e/f"), 0755), UV_EMFILE,
             msg("open", "/", UV_EMFILE));
  expect_err(future_fs_mkdir_p(&loop, "e/f", 0755), UV_EMFILE,
             msg("open", "e", UV_EMFILE));
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert(exists(tp("e")) && !exists(tp("e/f")));
  LOOP_CLOSE(&loop);
}
END_TEST

/* How many directories named "ab" go down in a row from `top`, found
 * with openat from each (the path may be longer than PATH_MAX). */
static int count_depth(const char *top) {
  int fd = open(top, O_RDONLY | O_DIRECTORY), n = 0;
  while (fd >= 0) {
    int next = openat(fd, "ab", O_RDONLY | O_DIRECTORY);
    close(fd);
    fd = next;
    n += fd >= 0;
  }
  return n;
}

/* mkdir_p goes a component at a time from a descriptor: a path longer
 * than PATH_MAX is made, and a cancel stops it between two components. */
START_TEST(test_fs_mkdir_p_deeper_than_path_max_and_cancel) {
  uv_loop_t loop;
  future_t *f;
  char *deep = malloc(3 * 3000 + 64);
  size_t n;
  int i, depth;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  n = (size_t)sprintf(deep, "%s/m", root);
  for (i = 0; i < 3000; i++)
    n += (size_t)sprintf(deep + n, "/ab");
  ck_assert_uint_gt(n, PATH_MAX);
  wait_done(future_fs_mkdir_p(&loop, deep, 0755));
  ck_assert_int_eq(count_depth(tp("m")), 3000);
  wait_done(future_fs_rm_r(&loop, tp("m"), 0));
  ck_assert(!exists(tp("m")));

  f = future_fs_mkdir_p(&loop, deep, 0755);
  for (i = 0; i < 5000000 && !exists(tp("m/ab/ab")); i++)
    sched_yield();
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  /* However far it got, it goes no further. */
  depth = count_depth(tp("m"));
  ck_assert_int_ge(depth, 2);
  uv_sleep(20);
  ck_assert_int_eq(count_depth(tp("m")), depth);
  wait_done(future_fs_rm_r(&loop, tp("m"), 0));
  free(deep);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Races (the swapper of fs_helpers.h): whatever the walk does while two
 * names of the tree change places, it must never reach outside. */

static void race_check_outside(int round) {
  int i;
  for (i = 0; i < RACE_FILES; i++)
    ck_assert_msg(exists(tp("outside/f%d", i)),
                  "round %d: outside/f%d was deleted", round, i);
  ck_assert_msg(exists(tp("outside/d/f0")),
                "round %d: outside/d/f0 was deleted", round);
}

/* CVE-2022-21658's pattern: tree/sub and tree/swap (a link to outside/)
 * change places while rm_r removes tree. */
START_TEST(test_fs_rm_r_race_never_leaves_the_tree) {
  uv_loop_t loop;
  swapper_t *s = calloc(1, sizeof(*s));
  int round, i;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  race_outside();
  swapper_start(s, tp("tree/sub"), tp("tree/swap"));
  for (round = 0; round < RACE_ROUNDS; round++) {
    /* Built under another name, then renamed into place whole, so that
     * the swapper never sees half a tree. */
    ck_assert_int_eq(mkdir(tp("build"), 0755), 0);
    ck_assert_int_eq(mkdir(tp("build/sub"), 0755), 0);
    ck_assert_int_eq(mkdir(tp("build/sub/d"), 0755), 0);
    put_file(tp("build/sub/d/f0"), "x");
    for (i = 0; i < RACE_FILES; i++)
      put_file(tp("build/sub/f%d", i), "x");
    ck_assert_int_eq(symlink(tp("outside"), tp("build/swap")), 0);
    ck_assert_int_eq(rename(tp("build"), tp("tree")), 0);
    swapper_go(s);
    /* Success or an error: under attack either may be right. */
    future_wait(future_fs_rm_r(&loop, tp("tree"), 0), &r);
    future_result_release(&r);
    swapper_pause(s);
    race_check_outside(round);
    remove_tree(tp("tree"));
  }
  swapper_stop(s);
  /* The race did happen: the names were exchanged many times. */
  ck_assert_uint_ge(atomic_load(&s->swaps), (unsigned long)RACE_ROUNDS);
  free(s);
  LOOP_CLOSE(&loop);
}
END_TEST

/* mkdir_p: tree/x, a directory mkdir_p has just made, and tree/swap (a
 * link to outside/) change places while mkdir_p goes on down tree/x/y/z.
 * Whatever it makes must be made inside the tree. */
START_TEST(test_fs_mkdir_p_race_never_leaves_the_tree) {
  uv_loop_t loop;
  swapper_t *s = calloc(1, sizeof(*s));
  future_result_t r;
  int round;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("outside"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("tree"), 0755), 0);
  swapper_start(s, tp("tree/x"), tp("tree/swap"));
  for (round = 0; round < RACE_ROUNDS; round++) {
    ck_assert_int_eq(symlink(tp("outside"), tp("tree/swap")), 0);
    /* The swapper cannot exchange before mkdir_p has made tree/x: it is
     * let go without waiting for a first exchange. */
    atomic_store(&s->go, 1);
    future_wait(future_fs_mkdir_p(&loop, tp("tree/x/y/z"), 0755), &r);
    future_result_release(&r);
    swapper_pause(s);
    ck_assert_msg(dir_entries(tp("outside")) == 0,
                  "round %d: mkdir_p made a directory outside the tree",
                  round);
    remove_tree(tp("tree/x"));
    remove_tree(tp("tree/swap"));
  }
  swapper_stop(s);
  /* The race did happen (under valgrind, whose threads take turns, the
   * few rounds may see none). */
  if (RACE_ROUNDS >= 300)
    ck_assert_uint_gt(atomic_load(&s->swaps), 0);
  free(s);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A thread removes the entries of the tree while rm_r walks it: what
 * vanishes meanwhile inside the tree is what rm_r wanted, not an error. */
START_TEST(test_fs_rm_r_things_vanishing_meanwhile) {
  uv_loop_t loop;
  vanisher_t *v = calloc(1, sizeof(*v));
  int round, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (round = 0; round < race_rounds(20); round++) {
    ck_assert_int_eq(mkdir(tp("build"), 0755), 0);
    for (i = 0; i < 50; i++) {
      ck_assert_int_eq(mkdir(tp("build/d%d", i), 0755), 0);
      put_file(tp("build/d%d/f", i), "x");
      put_file(tp("build/f%d", i), "x");
    }
    ck_assert_int_eq(rename(tp("build"), tp("t")), 0);
    vanisher_start(v, tp("t"));
    wait_done(future_fs_rm_r(&loop, tp("t"), 0));
    vanisher_stop(v);
    ck_assert(!exists(tp("t")));
  }
  free(v);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A thread keeps making a file in t/d while rm_r removes t: the rmdir of
 * t/d then fails, and the error names the operation and the path. */
typedef struct {
  char path[4096];
  atomic_int stop;
} maker_t;

static void maker_run(void *arg) {
  maker_t *m = arg;
  while (!atomic_load(&m->stop)) {
    int fd = open(m->path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
      close(fd);
  }
}

START_TEST(test_fs_rm_r_error_names_the_path) {
  uv_loop_t loop;
  maker_t *m = calloc(1, sizeof(*m));
  uv_thread_t tid;
  future_result_t r;
  int round, st = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  snprintf(m->path, sizeof(m->path), "%s", tp("t/d/new"));
  ck_assert_int_eq(uv_thread_create(&tid, maker_run, m), 0);
  for (round = 0; round < 1000 && st == 0; round++) {
    mkdir(tp("t"), 0755);
    mkdir(tp("t/d"), 0755);
    st = future_wait(future_fs_rm_r(&loop, tp("t"), 0), &r);
    if (st != 0) {
      ck_assert_int_eq(st, UV_ENOTEMPTY);
      ck_assert_str_eq(future_error_message(r.error),
                       msg("rmdir", tp("t/d"), UV_ENOTEMPTY));
      ck_assert_str_eq(future_error_func(r.error), __func__);
    }
    future_result_release(&r);
  }
  atomic_store(&m->stop, 1);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(st, UV_ENOTEMPTY); /* it did happen */
  free(m);

  /* /proc refuses to remove anything: the first failure names its path. */
  expect_err(future_fs_rm_r(&loop, "/proc/self/status", 0), UV_EPERM,
             msg("unlink", "/proc/self/status", UV_EPERM));
  ck_assert_int_eq(
      future_wait(future_fs_rm_r(&loop, "/proc/self/fdinfo/", 0), &r),
      UV_EPERM);
  ck_assert_int_eq(
      strncmp(future_error_message(r.error), "unlink '/proc/self/fdinfo/", 26),
      0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Counts the open files of the process, over and over, until stopped:
 * the most it saw. */
typedef struct {
  atomic_int stop;
  int most;
} fd_watch_t;

static void fd_watch_run(void *arg) {
  fd_watch_t *w = arg;
  while (!atomic_load(&w->stop)) {
    int n = fd_count();
    if (n > w->most)
      w->most = n;
  }
}

/* 5,000 levels: a path of 10,000 bytes, over PATH_MAX, which a walk by
 * full paths cannot even name. With no more than 64 open files, and
 * without needing them: the walk holds a bounded number of directories
 * open (16, plus the one that holds the top, plus one being opened). */
START_TEST(test_fs_rm_r_deeper_than_path_max) {
  uv_loop_t loop;
  struct rlimit saved;
  fd_watch_t w;
  uv_thread_t tid;
  int before;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_gt(5000 * 2, PATH_MAX);
  build_deep(tp("deep"), 5000, 100);
  wait_done(future_fs_stat(&loop, root)); /* the pool's threads are up */
  set_nofile(64, &saved);
  atomic_init(&w.stop, 0);
  w.most = before = fd_count();
  ck_assert_int_eq(uv_thread_create(&tid, fd_watch_run, &w), 0);
  wait_done(future_fs_rm_r(&loop, tp("deep"), 0));
  atomic_store(&w.stop, 1);
  ck_assert_int_eq(uv_thread_join(&tid), 0);
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ck_assert(!exists(tp("deep")));
  ck_assert_int_eq(dir_entries(root), 0);
  /* One more for the count itself: a listing of /proc/self/fd is not
   * atomic, and may see a descriptor closed and another opened after. */
  ck_assert_int_le(w.most - before, 16 + 2 + 1);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Out of descriptors: none at all, one only, and a few. */
START_TEST(test_fs_rm_r_few_descriptors) {
  uv_loop_t loop;
  struct rlimit saved;
  int low;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  build_deep(tp("t"), 60, 7);
  /* Start the pool's threads now: they open nothing, but be sure. */
  wait_done(future_fs_stat(&loop, root));
  low = lowest_free_fd();
  ck_assert_int_eq(fcntl(low + 1, F_GETFD), -1); /* free too */
  ck_assert_int_eq(fcntl(low + 2, F_GETFD), -1);
  set_nofile((rlim_t)low, &saved);
  /* Not even the directory that holds t can be opened. */
  expect_err(future_fs_rm_r(&loop, tp("t"), 0), UV_EMFILE,
             msg("open", root, UV_EMFILE));
  /* Room for that and t itself, not for t/d. */
  set_nofile((rlim_t)low + 2, NULL);
  expect_err(future_fs_rm_r(&loop, tp("t"), 0), UV_EMFILE,
             msg("open", tp("t/d"), UV_EMFILE));
  ck_assert(exists(tp("t/d/d")));
  /* A little more room: the walk makes do with what it can open. */
  set_nofile((rlim_t)low + 4, NULL);
  wait_done(future_fs_rm_r(&loop, tp("t"), 0));
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ck_assert(!exists(tp("t")));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Like rm -r: '.' and '..', or a path that ends in one of them, are
 * refused, and nothing is removed. */
START_TEST(test_fs_rm_r_refuses_dot_and_dotdot) {
  static const char *const refused[] = {".",    "..",     "./",   "../",
                                        ".//",  "sub/.",  "sub/..",
                                        "sub/./", "sub/../", "./.",
                                        "sub/../."};
  uv_loop_t loop;
  char cwd[4096], want[256];
  size_t i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("w"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("w/sub"), 0755), 0);
  put_file(tp("w/a"), "x");
  put_file(tp("w/sub/b"), "x");
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(tp("w/sub")), 0);
  for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    snprintf(want, sizeof(want),
             "rm '%s': refusing to remove '.' or '..' directory: invalid "
             "argument (EINVAL)",
             refused[i]);
    expect_err(future_fs_rm_r(&loop, refused[i], 0), UV_EINVAL, want);
    expect_err(future_fs_rm_r(&loop, refused[i], FUTURE_FS_RM_FORCE),
               UV_EINVAL, want);
  }
  ck_assert_int_eq(chdir(cwd), 0);
  /* The working directory, its parent and their content are intact. */
  ck_assert(exists(tp("w/a")) && exists(tp("w/sub/b")));
  /* Names that merely start with dots are names like any other. */
  put_file(tp("w/..."), "x");
  put_file(tp("w/.hidden"), "x");
  wait_done(future_fs_rm_r(&loop, tp("w/..."), 0));
  wait_done(future_fs_rm_r(&loop, tp("w/.hidden"), 0));
  ck_assert(!exists(tp("w/...")) && !exists(tp("w/.hidden")));
  LOOP_CLOSE(&loop);
}
END_TEST

/* rm_r("/") is refused, as rm -r refuses it. Checked in a child process
 * jailed with chroot in a directory of its own, so that a mistake cannot
 * cost more than that directory; skipped without the privilege. */
START_TEST(test_fs_rm_r_refuses_the_root) {
  pid_t pid;
  int status;
  ck_assert_int_eq(mkdir(tp("jail"), 0755), 0);
  put_file(tp("jail/canary"), "x");
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    uv_loop_t loop;
    future_result_t r;
    int a, b;
    if (chroot(tp("jail")) != 0 || chdir("/") != 0)
      _exit(77);
    if (access("/canary", F_OK) != 0) /* not in the jail: do nothing */
      _exit(78);
    if (uv_loop_init(&loop) != 0)
      _exit(79);
    a = future_wait(future_fs_rm_r(&loop, "/", FUTURE_FS_RM_FORCE), &r);
    if (a == UV_EINVAL &&
        strcmp(future_error_message(r.error),
               "rm '/': refusing to remove '/': invalid argument (EINVAL)") !=
            0)
      a = 1;
    future_result_release(&r);
    b = future_wait(future_fs_rm_r(&loop, "//", 0), &r);
    future_result_release(&r);
    future_loop_close(&loop);
    uv_loop_close(&loop);
    _exit(a == UV_EINVAL && b == UV_EINVAL ? 0 : 1);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    return; /* no chroot here: nothing to check */
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  ck_assert(exists(tp("jail/canary")));
}
END_TEST

/* mkdir_p of "/" (and of "//"): the root exists, nothing is made. */
START_TEST(test_fs_mkdir_p_root) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_null(expect_ok(future_fs_mkdir_p(&loop, "/", 0755), &r));
  future_result_release(&r);
  ck_assert_ptr_null(expect_ok(future_fs_mkdir_p(&loop, "//", 0755), &r));
  future_result_release(&r);
  /* An empty path names nothing. */
  expect_err(future_fs_mkdir_p(&loop, "", 0755), UV_ENOENT,
             "mkdir '': no such file or directory (ENOENT)");
  LOOP_CLOSE(&loop);
}
END_TEST

/* mkdir -p follows a link among the directories that already exist, and
 * at the end; a link to nowhere at the end is in the way. */
START_TEST(test_fs_mkdir_p_follows_existing_links) {
  uv_loop_t loop;
  future_result_t r;
  struct stat st;
  mode_t mask = umask(0);
  umask(mask);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("real"), 0755), 0);
  ck_assert_int_eq(symlink("real", tp("link")), 0);
  ck_assert_str_eq(
      expect_ok(future_fs_mkdir_p(&loop, tp("link/a/b"), 0700), &r),
      tp("link/a"));
  future_result_release(&r);
  ck_assert_int_eq(stat(tp("real/a/b"), &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_uint_eq(st.st_mode & 0777, 0700 & ~mask);
  ck_assert_ptr_null(expect_ok(future_fs_mkdir_p(&loop, tp("link"), 0755),
                               &r));
  future_result_release(&r);
  ck_assert_int_eq(symlink("nowhere", tp("dangling")), 0);
  expect_err(future_fs_mkdir_p(&loop, tp("dangling"), 0755), UV_ENOENT,
             msg("stat", tp("dangling"), UV_ENOENT));
  /* On the way, it cannot be gone through (the walk by full paths went
   * up and down between "dangling" and "dangling/x" for ever). */
  expect_err(future_fs_mkdir_p(&loop, tp("dangling/x/y"), 0755), UV_ENOENT,
             msg("open", tp("dangling"), UV_ENOENT));
  /* "..": made, then left. */
  ck_assert_str_eq(
      expect_ok(future_fs_mkdir_p(&loop, tp("p/../q"), 0755), &r), tp("p"));
  future_result_release(&r);
  ck_assert(exists(tp("p")) && exists(tp("q")));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Out of memory: every walk, every allocation (fs_helpers.h). */

static void prep_tree(void) {
  int i;
  ck_assert_int_eq(mkdir(tp("t"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("t/a"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("t/a/b"), 0755), 0);
  for (i = 0; i < 3; i++)
    put_file(tp("t/a/b/f%d", i), "x");
  ck_assert_int_eq(symlink("a", tp("t/l")), 0);
}
static void post_tree(void) { remove_tree(tp("t")); }
static void post_p(void) { remove_tree(tp("p")); }

static future_t *c_mkdir_p(uv_loop_t *l) {
  return future_fs_mkdir_p(l, tp("p/q/r"), 0755);
}
static future_t *c_rm_r(uv_loop_t *l) { return future_fs_rm_r(l, tp("t"), 0); }
static future_t *c_readdir(uv_loop_t *l) {
  return future_fs_readdir(l, tp("t/a/b"));
}

static future_t *c_scandir_stat(uv_loop_t *l) {
  return future_fs_scandir_stat(l, tp("t/a/b"));
}

static const fs_op_t tree_ops[] = {
    {"scandir_stat", prep_tree, c_scandir_stat, NULL, post_tree},
    {"mkdir_p", NULL, c_mkdir_p, NULL, post_p},
    {"rm_r", prep_tree, c_rm_r, NULL, post_tree},
    {"readdir", prep_tree, c_readdir, NULL, post_tree},
};

START_TEST(test_fs_tree_out_of_memory_everywhere) {
  sweep_ops(tree_ops, sizeof(tree_ops) / sizeof(tree_ops[0]));
}
END_TEST

/* Cancel. */

/* A cancel stops the walk before its next entry: after the cancel, at
 * most the removal in progress completes. The tree is 3,000 directories
 * with a file each, so that the link count of the top says at once how
 * many are left. */
static nlink_t links_of(const char *path) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  return st.st_nlink;
}

START_TEST(test_fs_cancel_rm_r_midway) {
  uv_loop_t loop;
  future_t *f, *watch;
  nlink_t start, at_cancel, after;
  int i, delivered = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("t"), 0755), 0);
  for (i = 0; i < 3000; i++) {
    ck_assert_int_eq(mkdir(tp("t/%04d", i), 0755), 0);
    put_file(tp("t/%04d/f", i), "x");
  }
  start = links_of(tp("t"));
  f = future_fs_rm_r(&loop, tp("t"), 0);
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  /* The walk runs on the pool without the loop: wait for its first
   * directory to go. */
  for (i = 0; i < 5000000 && links_of(tp("t")) == start; i++)
    sched_yield();
  ck_assert_uint_lt(links_of(tp("t")), start);
  ck_assert_int_eq(future_cancel(f), 0);
  at_cancel = links_of(tp("t"));
  ck_assert_int_eq(future_state(f), FUTURE_REJECTED);
  expect_err(watch, UV_ECANCELED, NULL);
  expect_err(f, UV_ECANCELED, "cancelled: operation canceled (ECANCELED)");
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  after = links_of(tp("t"));
  ck_assert_int_eq(delivered, 0);
  ck_assert_uint_gt(after, 2);             /* stopped on the way */
  ck_assert_uint_le(at_cancel - after, 1); /* at most the one in progress */
  ck_assert_int_eq(dir_entries(tp("t")), (int)after - 2);
  /* What is left is whole, and a second rm_r removes it. */
  wait_done(future_fs_rm_r(&loop, tp("t"), 0));
  ck_assert(!exists(tp("t")));
  LOOP_CLOSE(&loop);
}
END_TEST


Suite *make_fs_tree_suite(void) {
  Suite *s = suite_create("fs_tree");
  TCase *tree = tcase_create("Tree");
  TCase *cancel = tcase_create("Cancel");
  TCase *races = tcase_create("Races");
  TCase *memory = tcase_create("Memory");
  TCase *all[] = {tree, cancel, races, memory};
  size_t i;
  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    tcase_add_checked_fixture(all[i], setup, teardown);

  tcase_set_timeout(tree, 120);
  tcase_add_test(tree, test_fs_mkdir_p);
  tcase_add_test(tree, test_fs_rm_r);
  tcase_add_test(tree, test_fs_rm_r_with_stdin_closed);
  tcase_add_test(tree, test_fs_readdir_all);
  tcase_add_test(tree, test_fs_scandir_stat);
  tcase_add_test(tree, test_fs_rm_r_deeper_than_path_max);
  tcase_add_test(tree, test_fs_rm_r_few_descriptors);
  tcase_add_test(tree, test_fs_rm_r_refuses_dot_and_dotdot);
  tcase_add_test(tree, test_fs_rm_r_refuses_the_root);
  tcase_add_test(tree, test_fs_mkdir_p_root);
  tcase_add_test(tree, test_fs_mkdir_p_follows_existing_links);
  tcase_add_test(tree, test_fs_tree_relative_paths);
  tcase_add_test(tree, test_fs_mkdir_p_errors);

  tcase_set_timeout(cancel, 60);
  tcase_add_test(cancel, test_fs_cancel_rm_r_midway);
  tcase_add_test(cancel, test_fs_cancel_scandir_stat_queued);
  tcase_add_test(cancel, test_fs_cancel_scandir_stat_running);
  tcase_add_test(cancel, test_fs_mkdir_p_deeper_than_path_max_and_cancel);

  suite_add_tcase(s, tree);
  tcase_set_timeout(races, 120);
  tcase_add_test(races, test_fs_rm_r_race_never_leaves_the_tree);
  tcase_add_test(races, test_fs_mkdir_p_race_never_leaves_the_tree);
  tcase_add_test(races, test_fs_rm_r_things_vanishing_meanwhile);
  tcase_add_test(races, test_fs_rm_r_error_names_the_path);

  suite_add_tcase(s, cancel);
  tcase_add_test(memory, test_fs_tree_out_of_memory_everywhere);

  suite_add_tcase(s, races);
  suite_add_tcase(s, memory);
  return s;
}
