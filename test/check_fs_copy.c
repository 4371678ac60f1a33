/* The recursive copy (src/fs_copy.c): future_fs_cp, its options, its
 * refusals, its errors, its cancellation and the races it must survive.
 * Each test works in a temporary directory of its own under /tmp
 * (fs_helpers.h). */
#define _GNU_SOURCE
#include "fs_helpers.h"
#include "suites.h"

#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

/* What a file holds (at most 4095 bytes), "" when it cannot be read. */
static const char *content(const char *path) {
  static char b[4096];
  FILE *fp = fopen(path, "r");
  size_t n = 0;
  b[0] = '\0';
  if (fp != NULL) {
    n = fread(b, 1, sizeof(b) - 1, fp);
    fclose(fp);
  }
  b[n] = '\0';
  return b;
}

static const char *link_of(const char *path) {
  static char b[4096];
  ssize_t n = readlink(path, b, sizeof(b) - 1);
  ck_assert_msg(n >= 0, "%s is not a link", path);
  b[n] = '\0';
  return b;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  ck_assert_int_eq(lstat(path, &st), 0);
  return st.st_mode;
}

/* "cp 'A' -> 'B': TEXT (NAME)" for paths in the test directory. */
static const char *cp_msg(const char *a, const char *b, const char *text,
                          int code) {
  static char m[16384];
  char pa[4096], pb[4096];
  snprintf(pa, sizeof pa, "%s", tp("%s", a));
  snprintf(pb, sizeof pb, "%s", tp("%s", b));
  if (text != NULL)
    snprintf(m, sizeof m, "cp '%s' -> '%s': %s: %s (%s)", pa, pb, text,
             future_strerror(code), future_err_name(code));
  else
    snprintf(m, sizeof m, "cp '%s' -> '%s': %s (%s)", pa, pb,
             future_strerror(code), future_err_name(code));
  return m;
}

/* The descriptors open once the loop and libuv's pool are up: what a test
 * compares with before it closes its loop. */
static int warm_fds(uv_loop_t *loop) {
  wait_done(future_fs_stat(loop, root));
  return fd_count();
}

/* src/: files, an empty directory, nested directories, links inside
 * (relative) and to outside (absolute), odd modes. */
static void make_src(void) {
  ck_assert_int_eq(mkdir(tp("src"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src/empty"), 0700), 0);
  ck_assert_int_eq(mkdir(tp("src/a"), 0750), 0);
  ck_assert_int_eq(mkdir(tp("src/a/b"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src/a/b/c"), 0555), 0); /* read-only, empty */
  put_file(tp("src/top.txt"), "top");
  put_file(tp("src/a/one"), "one");
  put_file(tp("src/a/b/two"), "two");
  put_file(tp("src/a/b/empty-file"), "");
  ck_assert_int_eq(chmod(tp("src/a/one"), 0640), 0);
  ck_assert_int_eq(chmod(tp("src/a/b/two"), 0755), 0);
  ck_assert_int_eq(symlink("../top.txt", tp("src/a/rel-link")), 0);
  ck_assert_int_eq(mkdir(tp("outside"), 0755), 0);
  put_file(tp("outside/precious"), "precious");
  ck_assert_int_eq(symlink(tp("outside"), tp("src/a/b/out-link")), 0);
  ck_assert_int_eq(symlink("nowhere", tp("src/dangling")), 0);
}

static void check_copy(const char *d) {
  ck_assert_str_eq(content(tp("%s/top.txt", d)), "top");
  ck_assert_str_eq(content(tp("%s/a/one", d)), "one");
  ck_assert_str_eq(content(tp("%s/a/b/two", d)), "two");
  ck_assert_str_eq(content(tp("%s/a/b/empty-file", d)), "");
  ck_assert(S_ISDIR(mode_of(tp("%s/empty", d))));
  ck_assert_int_eq(dir_entries(tp("%s/empty", d)), 0);
  ck_assert_int_eq(dir_entries(tp("%s/a/b/c", d)), 0);
  /* Modes, exactly (no umask, no owner rwx left on). */
  ck_assert_uint_eq(mode_of(tp("%s/a/one", d)) & 07777, 0640);
  ck_assert_uint_eq(mode_of(tp("%s/a/b/two", d)) & 07777, 0755);
  ck_assert_uint_eq(mode_of(tp("%s/empty", d)) & 07777, 0700);
  ck_assert_uint_eq(mode_of(tp("%s/a", d)) & 07777, 0750);
  ck_assert_uint_eq(mode_of(tp("%s/a/b/c", d)) & 07777, 0555);
  /* Links as links, targets verbatim. */
  ck_assert(S_ISLNK(mode_of(tp("%s/a/rel-link", d))));
  ck_assert_str_eq(link_of(tp("%s/a/rel-link", d)), "../top.txt");
  ck_assert(S_ISLNK(mode_of(tp("%s/a/b/out-link", d))));
  ck_assert_str_eq(link_of(tp("%s/a/b/out-link", d)), tp("outside"));
  ck_assert(S_ISLNK(mode_of(tp("%s/dangling", d))));
  ck_assert_str_eq(link_of(tp("%s/dangling", d)), "nowhere");
  /* The outside is untouched, and was never copied into the tree. */
  ck_assert_int_eq(dir_entries(tp("outside")), 1);
  ck_assert_str_eq(content(tp("outside/precious")), "precious");
}

static int dir_entries_at(int fd) {
  DIR *d = fdopendir(dup(fd));
  struct dirent *e;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

/* `top` and `n` levels of "x" below it, with a file "f" in each. */
static void n_levels(const char *top, int n) {
  char p[4096];
  int i;
  size_t len = (size_t)snprintf(p, sizeof p, "%s", top);
  ck_assert_int_eq(mkdir(p, 0755), 0);
  for (i = 0; i < n; i++) {
    len += (size_t)snprintf(p + len, sizeof p - len, "/x");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p + len, sizeof p - len, "/f");
    put_file(p, "f");
    p[len] = '\0';
  }
}

static int count_levels(const char *top) {
  char p[4096];
  int n = 0;
  size_t len = (size_t)snprintf(p, sizeof p, "%s", top);
  for (;;) {
    snprintf(p + len, sizeof p - len, "/x/f");
    if (!exists(p) || strcmp(content(p), "f") != 0)
      return n;
    len += 2;
    p[len] = '\0';
    n++;
  }
}

START_TEST(test_fs_cp_tree) {
  uv_loop_t loop;
  future_result_t r;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  make_src();
  ck_assert_ptr_null(expect_ok(future_fs_cp(&loop, tp("src"), tp("dst"), 0),
                               &r));
  future_result_release(&r);
  check_copy("dst");
  ck_assert_int_eq(dir_entries(tp("dst")), dir_entries(tp("src")));
  /* Trailing slashes, and again into the same place: everything is there
   * already and skipped (the default), which is success. */
  wait_done(future_fs_cp(&loop, tp("src/"), tp("dst//"), 0));
  check_copy("dst");
  /* One file; one link (the link, not what it points to). */
  wait_done(future_fs_cp(&loop, tp("src/a/one"), tp("one-copy"), 0));
  ck_assert_str_eq(content(tp("one-copy")), "one");
  ck_assert_uint_eq(mode_of(tp("one-copy")) & 07777, 0640);
  wait_done(future_fs_cp(&loop, tp("src/a/b/out-link"), tp("ln"), 0));
  ck_assert_str_eq(link_of(tp("ln")), tp("outside"));
  /* A path through a link is followed up to the last component, as any
   * path: the top itself is not. */
  ck_assert_int_eq(symlink(tp("src"), tp("via")), 0);
  wait_done(future_fs_cp(&loop, tp("via/a/b"), tp("b-copy"), 0));
  ck_assert_str_eq(content(tp("b-copy/two")), "two");
  wait_done(future_fs_cp(&loop, tp("via"), tp("via-copy"), 0));
  ck_assert_str_eq(link_of(tp("via-copy")), tp("src"));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Relative paths, and "." as the source or the destination. */
START_TEST(test_fs_cp_relative_and_dot) {
  uv_loop_t loop;
  char cwd[4096];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  make_src();
  ck_assert_int_eq(chdir(tp("src")), 0);
  wait_done(future_fs_cp(&loop, ".", "../dot-copy", 0));
  ck_assert_int_eq(chdir(root), 0);
  wait_done(future_fs_cp(&loop, "src/a", "rel", 0));
  ck_assert_int_eq(mkdir(tp("into"), 0755), 0);
  ck_assert_int_eq(chdir(tp("into")), 0);
  wait_done(future_fs_cp(&loop, "../src", ".", 0)); /* merged into "." */
  ck_assert_int_eq(chdir(cwd), 0);
  check_copy("dot-copy");
  check_copy("into");
  ck_assert_str_eq(content(tp("rel/b/two")), "two");
  LOOP_CLOSE(&loop);
}
END_TEST

/* Options. */

START_TEST(test_fs_cp_existing_entries) {
  uv_loop_t loop;
  struct stat st;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("s"), 0755), 0);
  put_file(tp("s/f"), "new");
  put_file(tp("s/g"), "new g");
  ck_assert_int_eq(symlink("new-target", tp("s/l")), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0711), 0);
  put_file(tp("d/f"), "old");
  put_file(tp("d/other"), "stays");
  ck_assert_int_eq(symlink("old-target", tp("d/l")), 0);
  /* Default (Node's force: false): what is there stays, the rest is
   * copied, the directory is merged and keeps its mode. */
  wait_done(future_fs_cp(&loop, tp("s"), tp("d"), 0));
  ck_assert_str_eq(content(tp("d/f")), "old");
  ck_assert_str_eq(content(tp("d/g")), "new g");
  ck_assert_str_eq(link_of(tp("d/l")), "old-target");
  ck_assert_str_eq(content(tp("d/other")), "stays");
  ck_assert_uint_eq(mode_of(tp("d")) & 07777, 0711);
  /* errorOnExist. */
  expect_err(future_fs_cp(&loop, tp("s"), tp("d"),
                          FUTURE_FS_CP_ERROR_ON_EXIST),
             UV_EEXIST, cp_msg("s/f", "d/f", NULL, UV_EEXIST));
  expect_err(future_fs_cp(&loop, tp("s/l"), tp("d/l"),
                          FUTURE_FS_CP_ERROR_ON_EXIST),
             UV_EEXIST, cp_msg("s/l", "d/l", NULL, UV_EEXIST));
  /* force: replaced (force wins over errorOnExist, as in Node). */
  wait_done(future_fs_cp(&loop, tp("s"), tp("d"),
                         FUTURE_FS_CP_FORCE | FUTURE_FS_CP_ERROR_ON_EXIST));
  ck_assert_str_eq(content(tp("d/f")), "new");
  ck_assert_str_eq(link_of(tp("d/l")), "new-target");
  ck_assert_str_eq(content(tp("d/other")), "stays");
  /* A link in the destination is replaced, never written through. */
  ck_assert_int_eq(mkdir(tp("outside"), 0755), 0);
  put_file(tp("outside/f"), "precious");
  ck_assert_int_eq(unlink(tp("d/f")), 0);
  ck_assert_int_eq(symlink(tp("outside/f"), tp("d/f")), 0);
  wait_done(future_fs_cp(&loop, tp("s"), tp("d"), FUTURE_FS_CP_FORCE));
  ck_assert_str_eq(content(tp("outside/f")), "precious");
  ck_assert(S_ISREG(mode_of(tp("d/f"))));
  ck_assert_str_eq(content(tp("d/f")), "new");
  /* A directory is never replaced by a file, nor a file by a directory,
   * force or not. */
  ck_assert_int_eq(mkdir(tp("d2"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("d2/f"), 0755), 0);
  expect_err(future_fs_cp(&loop, tp("s"), tp("d2"), FUTURE_FS_CP_FORCE),
             UV_EISDIR, cp_msg("s/f", "d2/f", NULL, UV_EISDIR));
  ck_assert_int_eq(mkdir(tp("s2"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("s2/sub"), 0755), 0);
  put_file(tp("s2/sub/x"), "x");
  ck_assert_int_eq(mkdir(tp("d3"), 0755), 0);
  put_file(tp("d3/sub"), "a file");
  expect_err(future_fs_cp(&loop, tp("s2"), tp("d3"), FUTURE_FS_CP_FORCE),
             UV_ENOTDIR, cp_msg("s2/sub", "d3/sub", NULL, UV_ENOTDIR));
  ck_assert_str_eq(content(tp("d3/sub")), "a file");
  /* A link to a directory in place of a directory: not followed. */
  ck_assert_int_eq(unlink(tp("d3/sub")), 0);
  ck_assert_int_eq(symlink(tp("outside"), tp("d3/sub")), 0);
  expect_err(future_fs_cp(&loop, tp("s2"), tp("d3"), 0), UV_ENOTDIR,
             cp_msg("s2/sub", "d3/sub", NULL, UV_ENOTDIR));
  ck_assert(!exists(tp("outside/x")));
  /* dest itself a link: not followed either. */
  ck_assert_int_eq(symlink(tp("outside"), tp("dlink")), 0);
  expect_err(future_fs_cp(&loop, tp("s2"), tp("dlink"), FUTURE_FS_CP_FORCE),
             UV_ENOTDIR, cp_msg("s2", "dlink", NULL, UV_ENOTDIR));
  expect_err(future_fs_cp(&loop, tp("s/f"), tp("dlink"),
                          FUTURE_FS_CP_ERROR_ON_EXIST),
             UV_EEXIST, cp_msg("s/f", "dlink", NULL, UV_EEXIST));
  ck_assert_int_eq(dir_entries(tp("outside")), 1);
  wait_done(future_fs_cp(&loop, tp("s/f"), tp("dlink"), FUTURE_FS_CP_FORCE));
  ck_assert(S_ISREG(mode_of(tp("dlink"))));
  ck_assert_int_eq(dir_entries(tp("outside")), 1);
  /* Timestamps: kept when asked. */
  {
    struct timespec t[2] = {{1000000000, 0}, {1200000000, 500}};
    ck_assert_int_eq(utimensat(AT_FDCWD, tp("s/g"), t, 0), 0);
    ck_assert_int_eq(utimensat(AT_FDCWD, tp("s2/sub"), t, 0), 0);
    ck_assert_int_eq(utimensat(AT_FDCWD, tp("s/l"), t, AT_SYMLINK_NOFOLLOW),
                     0);
    wait_done(future_fs_cp(&loop, tp("s"), tp("ts"),
                           FUTURE_FS_CP_PRESERVE_TIMESTAMPS));
    wait_done(future_fs_cp(&loop, tp("s2"), tp("ts2"),
                           FUTURE_FS_CP_PRESERVE_TIMESTAMPS));
    ck_assert_int_eq(stat(tp("ts/g"), &st), 0);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1200000000);
    ck_assert_int_eq(st.st_atim.tv_sec, 1000000000);
    ck_assert_int_eq(lstat(tp("ts/l"), &st), 0);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1200000000);
    ck_assert_int_eq(stat(tp("ts2/sub"), &st), 0);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1200000000);
    /* Not asked: the copy's own times. */
    wait_done(future_fs_cp(&loop, tp("s/g"), tp("now"), 0));
    ck_assert_int_eq(stat(tp("now"), &st), 0);
    ck_assert_int_ne(st.st_mtim.tv_sec, 1200000000);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* FIFOs and sockets: refused, or skipped when asked; a FIFO is never
 * opened (that would block until a writer came). */
START_TEST(test_fs_cp_special_files) {
  uv_loop_t loop;
  struct sockaddr_un sa;
  int s;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("s"), 0755), 0);
  ck_assert_int_eq(mkfifo(tp("s/fifo"), 0644), 0);
  put_file(tp("s/file"), "x");
  expect_err(future_fs_cp(&loop, tp("s"), tp("d"), 0), UV_EINVAL,
             cp_msg("s/fifo", "d/fifo", "cannot copy a FIFO", UV_EINVAL));
  expect_err(future_fs_cp(&loop, tp("s/fifo"), tp("f2"), 0), UV_EINVAL,
             cp_msg("s/fifo", "f2", "cannot copy a FIFO", UV_EINVAL));
  ck_assert(!exists(tp("f2")));
  remove_tree(tp("d"));
  wait_done(future_fs_cp(&loop, tp("s"), tp("d"), FUTURE_FS_CP_SKIP_SPECIAL));
  ck_assert(!exists(tp("d/fifo")));
  ck_assert_str_eq(content(tp("d/file")), "x");
  /* A socket. */
  s = socket(AF_UNIX, SOCK_STREAM, 0);
  ck_assert_int_ge(s, 0);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tp("sock"));
  ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
  close(s);
  expect_err(future_fs_cp(&loop, tp("sock"), tp("sock2"), 0), UV_EINVAL,
             cp_msg("sock", "sock2", "cannot copy a socket", UV_EINVAL));
  wait_done(future_fs_cp(&loop, tp("sock"), tp("sock2"),
                         FUTURE_FS_CP_SKIP_SPECIAL));
  ck_assert(!exists(tp("sock2")));
  /* A device (readable by anyone: /dev/null). */
  {
    char m[8192];
    snprintf(m, sizeof m,
             "cp '/dev/null' -> '%s': cannot copy a device: invalid argument "
             "(EINVAL)",
             tp("null"));
    expect_err(future_fs_cp(&loop, "/dev/null", tp("null"), 0), UV_EINVAL, m);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* Refusals: into itself, onto itself, bad arguments. */
START_TEST(test_fs_cp_refusals) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  make_src();
  expect_err(future_fs_cp(&loop, tp("src"), tp("src/a/inside"), 0),
             UV_EINVAL,
             cp_msg("src", "src/a/inside",
                    "cannot copy a directory into itself", UV_EINVAL));
  ck_assert(!exists(tp("src/a/inside")));
  /* Found by identity, whatever the links on the way. */
  ck_assert_int_eq(symlink(tp("src/a"), tp("to-a")), 0);
  expect_err(future_fs_cp(&loop, tp("src"), tp("to-a/x"), 0), UV_EINVAL,
             cp_msg("src", "to-a/x", "cannot copy a directory into itself",
                    UV_EINVAL));
  ck_assert(!exists(tp("src/a/x")));
  expect_err(future_fs_cp(&loop, tp("src"), tp("src"), 0), UV_EINVAL,
             cp_msg("src", "src", "source and destination are the same",
                    UV_EINVAL));
  expect_err(future_fs_cp(&loop, tp("src/a"), tp("src/a/b"), 0), UV_EINVAL,
             NULL);
  /* The same directory by another name: dest is src. */
  ck_assert_int_eq(symlink(tp("src"), tp("alias")), 0);
  expect_err(future_fs_cp(&loop, tp("src"), tp("alias/."), 0), UV_EINVAL,
             NULL);
  /* A file onto itself, or onto a hard link to itself: even forced. */
  expect_err(future_fs_cp(&loop, tp("src/top.txt"), tp("src/top.txt"),
                          FUTURE_FS_CP_FORCE),
             UV_EINVAL,
             cp_msg("src/top.txt", "src/top.txt",
                    "source and destination are the same", UV_EINVAL));
  ck_assert_int_eq(link(tp("src/top.txt"), tp("hard")), 0);
  expect_err(future_fs_cp(&loop, tp("src/top.txt"), tp("hard"),
                          FUTURE_FS_CP_FORCE),
             UV_EINVAL, NULL);
  ck_assert_str_eq(content(tp("src/top.txt")), "top");
  /* A sibling whose name starts the same is not inside. */
  wait_done(future_fs_cp(&loop, tp("src/a"), tp("src/ab"), 0));
  ck_assert_str_eq(content(tp("src/ab/one")), "one");
  /* Arguments. */
  ck_assert_ptr_null(future_fs_cp(NULL, tp("src"), tp("d"), 0));
  expect_err(future_fs_cp(&loop, NULL, tp("d"), 0), UV_EINVAL,
             "cp: NULL path: invalid argument (EINVAL)");
  expect_err(future_fs_cp(&loop, tp("src"), NULL, 0), UV_EINVAL, NULL);
  expect_err(future_fs_cp(&loop, "", tp("d"), 0), UV_EINVAL,
             "cp: empty path: invalid argument (EINVAL)");
  expect_err(future_fs_cp(&loop, tp("src"), "", 0), UV_EINVAL, NULL);
  expect_err(future_fs_cp(&loop, tp("src"), tp("d"), 16), UV_EINVAL,
             "cp: unknown flags: invalid argument (EINVAL)");
  ck_assert(!exists(tp("d")));
  (void)r;
  LOOP_CLOSE(&loop);
}
END_TEST

/* Errors name both paths, where the walk was. */
START_TEST(test_fs_cp_errors_name_the_paths) {
  uv_loop_t loop;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  make_src();
  expect_err(future_fs_cp(&loop, tp("missing"), tp("d"), 0), UV_ENOENT,
             cp_msg("missing", "d", NULL, UV_ENOENT));
  expect_err(future_fs_cp(&loop, tp("nodir/missing"), tp("d"), 0),
             UV_ENOENT, cp_msg("nodir/missing", "d", NULL, UV_ENOENT));
  expect_err(future_fs_cp(&loop, tp("src"), tp("nodir/d"), 0), UV_ENOENT,
             cp_msg("src", "nodir/d", NULL, UV_ENOENT));
  expect_err(future_fs_cp(&loop, tp("src"), tp("src/top.txt/d"), 0),
             UV_ENOTDIR, cp_msg("src", "src/top.txt/d", NULL, UV_ENOTDIR));
  /* Midway: what was copied before the error stays. */
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("d/a"), 0755), 0);
  put_file(tp("d/a/b"), "in the way");
  expect_err(future_fs_cp(&loop, tp("src"), tp("d"), 0), UV_ENOTDIR,
             cp_msg("src/a/b", "d/a/b", NULL, UV_ENOTDIR));
  ck_assert_str_eq(content(tp("d/a/b")), "in the way");
  if (exists(tp("d/a/one")))
    ck_assert_str_eq(content(tp("d/a/one")), "one");
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Permission errors: a file the copy may not read, a directory it may not
 * write in. Root may do both, so as root the copy runs in a child that has
 * become nobody (65534); the child says which check failed by its exit
 * status. */
static int perm_expect(uv_loop_t *loop, const char *src, const char *dst,
                       const char *esrc, const char *edst) {
  future_result_t r;
  int rc = future_wait(future_fs_cp(loop, tp("%s", src), tp("%s", dst), 0),
                       &r);
  int ok = rc == UV_EACCES &&
           strcmp(future_error_message(r.error),
                  cp_msg(esrc, edst, NULL, UV_EACCES)) == 0;
  if (!ok)
    fprintf(stderr, "cp %s -> %s: %s\n", src, dst,
            r.error != NULL ? future_error_message(r.error) : "fulfilled");
  future_result_release(&r);
  return ok;
}

static int perm_checks(void) {
  uv_loop_t loop;
  int bad = 0;
  if (uv_loop_init(&loop) != 0)
    return 9;
  if (!perm_expect(&loop, "p", "w/pd", "p/secret", "w/pd/secret"))
    bad |= 1;
  /* What came before the error is copied (the order of the entries is
   * the file system's: "ok" may come after "secret"). */
  if (exists(tp("w/pd/ok")) && strcmp(content(tp("w/pd/ok")), "ok") != 0)
    bad |= 2;
  if (!perm_expect(&loop, "p", "ro/pd", "p", "ro/pd"))
    bad |= 4;
  if (!perm_expect(&loop, "p/secret", "w/s", "p/secret", "w/s") ||
      exists(tp("w/s")))
    bad |= 8;
  if (uv_run(&loop, UV_RUN_DEFAULT) != 0 || future_loop_close(&loop) != 0 ||
      uv_loop_close(&loop) != 0)
    bad |= 16;
  return bad;
}

START_TEST(test_fs_cp_permission_errors) {
  ck_assert_int_eq(chmod(root, 0755), 0);
  ck_assert_int_eq(mkdir(tp("p"), 0755), 0);
  put_file(tp("p/ok"), "ok");
  put_file(tp("p/secret"), "secret");
  ck_assert_int_eq(chmod(tp("p/secret"), 0600), 0);
  ck_assert_int_eq(mkdir(tp("w"), 0777), 0);
  ck_assert_int_eq(chmod(tp("w"), 0777), 0);
  ck_assert_int_eq(mkdir(tp("ro"), 0755), 0);
  if (geteuid() != 0) {
    ck_assert_int_eq(chmod(tp("p/secret"), 0), 0);
    ck_assert_int_eq(chmod(tp("ro"), 0555), 0);
    ck_assert_int_eq(perm_checks(), 0);
  } else {
    pid_t pid;
    int status;
#ifdef HAVE_VALGRIND_MEMCHECK_H
    if (RUNNING_ON_VALGRIND) {
      fprintf(stderr, "check_fs_copy: under valgrind as root: the permission "
                      "errors are not tested (a child that becomes nobody "
                      "would be judged by valgrind as a copy of the runner)\n");
      return;
    }
#endif
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(32);
      _exit(perm_checks());
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the permission checks as nobody: status %d", status);
  }
  ck_assert(!exists(tp("ro/pd")));
}
END_TEST

/* Large files cross several chunks; deep trees more directories than the
 * walk keeps open, and more than PATH_MAX of path. */
START_TEST(test_fs_cp_large_and_deep) {
  uv_loop_t loop;
  FILE *fp;
  struct stat st;
  size_t n, i;
  int fds, depth;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  /* 5 MiB + 3 bytes of a pattern: three chunks, the last short. */
  ck_assert_int_eq(mkdir(tp("s"), 0755), 0);
  fp = fopen(tp("s/big"), "w");
  ck_assert_ptr_nonnull(fp);
  for (i = 0; i < (5u << 20) + 3; i++)
    fputc((int)(i * 7 % 251), fp);
  ck_assert_int_eq(fclose(fp), 0);
  wait_done(future_fs_cp(&loop, tp("s"), tp("d"), 0));
  ck_assert_int_eq(stat(tp("d/big"), &st), 0);
  ck_assert_int_eq(st.st_size, (5 << 20) + 3);
  fp = fopen(tp("d/big"), "r");
  ck_assert_ptr_nonnull(fp);
  for (i = 0; i < (5u << 20) + 3; i++)
    if (fgetc(fp) != (int)(i * 7 % 251))
      break;
  fclose(fp);
  ck_assert_uint_eq(i, (5u << 20) + 3);
  /* 400 levels of "d123456789/" (over 4,400 bytes of path), a file at
   * each: made with *at calls, as a path would be too long. */
  {
    int fd = open(tp("s"), O_RDONLY | O_DIRECTORY), next;
    ck_assert_int_ge(fd, 0);
    for (depth = 0; depth < 400; depth++) {
      ck_assert_int_eq(mkdirat(fd, "d123456789", 0755), 0);
      next = openat(fd, "d123456789", O_RDONLY | O_DIRECTORY);
      ck_assert_int_ge(next, 0);
      close(fd);
      fd = next;
      n = (size_t)openat(fd, "f", O_WRONLY | O_CREAT, 0644);
      ck_assert_int_ge((int)n, 0);
      ck_assert_int_eq(write((int)n, "x", 1), 1);
      close((int)n);
    }
    close(fd);
  }
  wait_done(future_fs_cp(&loop, tp("s/d123456789"), tp("deep"), 0));
  /* Down the copy with *at calls: 400 levels, each with its file. */
  {
    int fd = open(tp("deep"), O_RDONLY | O_DIRECTORY), next;
    ck_assert_int_ge(fd, 0);
    for (depth = 1; depth < 400; depth++) {
      ck_assert_int_eq(fstatat(fd, "f", &st, 0), 0);
      next = openat(fd, "d123456789", O_RDONLY | O_DIRECTORY);
      ck_assert_msg(next >= 0, "the copy stops at level %d", depth);
      close(fd);
      fd = next;
    }
    ck_assert_int_eq(fstatat(fd, "f", &st, 0), 0);
    ck_assert_int_eq(dir_entries_at(fd), 1);
    close(fd);
  }
  wait_done(future_fs_rm_r(&loop, tp("deep"), 0));
  wait_done(future_fs_rm_r(&loop, tp("s"), 0));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* With few descriptors to spare the walk closes and opens again the
 * directories above it, and still copies everything. */
START_TEST(test_fs_cp_few_descriptors) {
  uv_loop_t loop;
  struct rlimit rl, low;
  future_result_t r;
  int spare, rc, fds, complete = 0;
#ifdef HAVE_VALGRIND_MEMCHECK_H
  if (RUNNING_ON_VALGRIND) {
    /* valgrind checks a new descriptor against the limit after the
     * kernel made it: an openat(O_CREAT) over the limit creates the file,
     * then says EMFILE, which the kernel alone never does. */
    fprintf(stderr, "check_fs_copy: under valgrind the walk short of "
                    "descriptors is not tested\n");
    return;
  }
#endif
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  n_levels(tp("s"), 40);
  fds = warm_fds(&loop);
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  /* From too few to copy anything to enough: an error (EMFILE), or the
   * whole copy, never a part of it called a success. */
  for (spare = 0; spare <= 8; spare++) {
    low = rl;
    low.rlim_cur = (rlim_t)fds + (rlim_t)spare;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    rc = future_wait(future_fs_cp(&loop, tp("s"), tp("d"), 0), &r);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_msg(rc == 0 || rc == UV_EMFILE, "%d spare: %s", spare,
                  future_error_message(r.error));
    future_result_release(&r);
    if (rc == 0) {
      ck_assert_msg(count_levels(tp("d")) == 40, "%d spare: %d levels copied",
                    spare, count_levels(tp("d")));
      complete++;
    }
    ck_assert_int_eq(fd_count(), fds);
    remove_tree(tp("d"));
  }
  ck_assert_int_gt(complete, 0);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Races (the swapper of fs_helpers.h): whatever the copy does while two
 * names change places, it must never read or write outside. */

/* Whether a regular file under `top` holds "precious": something read
 * from outside. */
static int found_precious;
static int look_for_precious(const char *p, const struct stat *sb, int flag,
                             struct FTW *ftw) {
  (void)ftw;
  if (flag == FTW_F && S_ISREG(sb->st_mode) &&
      strcmp(content(p), "precious") == 0)
    found_precious = 1;
  return 0;
}

/* The source: src/sub and src/swap (a link to outside/) change places
 * while cp copies src. Nothing of outside/ may be copied (read through
 * the link), and outside/ must stay as it was. */
START_TEST(test_fs_cp_race_source_never_leaves_the_tree) {
  uv_loop_t loop;
  swapper_t *s = calloc(1, sizeof(*s));
  future_result_t r;
  int round, i, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  race_outside();
  ck_assert_int_eq(mkdir(tp("src"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src/sub"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src/sub/d"), 0755), 0);
  put_file(tp("src/sub/d/f0"), "x");
  for (i = 0; i < RACE_FILES; i++)
    put_file(tp("src/sub/f%d", i), "x");
  ck_assert_int_eq(symlink(tp("outside"), tp("src/swap")), 0);
  swapper_start(s, tp("src/sub"), tp("src/swap"));
  for (round = 0; round < RACE_ROUNDS; round++) {
    swapper_go(s);
    /* Success or an error: under attack either may be right. */
    future_wait(future_fs_cp(&loop, tp("src"), tp("dst"), 0), &r);
    future_result_release(&r);
    swapper_pause(s);
    found_precious = 0;
    if (exists(tp("dst")))
      nftw(tp("dst"), look_for_precious, 16, FTW_PHYS);
    ck_assert_msg(!found_precious, "round %d: a file of outside/ was copied",
                  round);
    ck_assert_int_eq(dir_entries(tp("outside")), RACE_FILES + 1);
    ck_assert_int_eq(dir_entries(tp("outside/d")), 1);
    remove_tree(tp("dst"));
  }
  swapper_stop(s);
  ck_assert_uint_ge(atomic_load(&s->swaps), (unsigned long)RACE_ROUNDS);
  free(s);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* The destination: dst/sub, a directory cp has just made, and dst/swap (a
 * link to outside/) change places while cp fills dst/sub. Nothing may be
 * made outside. */
START_TEST(test_fs_cp_race_destination_never_leaves_the_tree) {
  uv_loop_t loop;
  swapper_t *s = calloc(1, sizeof(*s));
  future_result_t r;
  int round, i, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  ck_assert_int_eq(mkdir(tp("outside"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src/sub"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("src/sub/d"), 0755), 0);
  put_file(tp("src/sub/d/f0"), "x");
  for (i = 0; i < RACE_FILES; i++)
    put_file(tp("src/sub/f%d", i), "x");
  ck_assert_int_eq(mkdir(tp("dst"), 0755), 0);
  swapper_start(s, tp("dst/sub"), tp("dst/swap"));
  for (round = 0; round < RACE_ROUNDS; round++) {
    ck_assert_int_eq(symlink(tp("outside"), tp("dst/swap")), 0);
    /* The swapper cannot exchange before cp has made dst/sub: it is let
     * go without waiting for a first exchange. */
    atomic_store(&s->go, 1);
    future_wait(future_fs_cp(&loop, tp("src"), tp("dst"), 0), &r);
    future_result_release(&r);
    swapper_pause(s);
    ck_assert_msg(dir_entries(tp("outside")) == 0,
                  "round %d: cp made something outside the tree", round);
    remove_tree(tp("dst/sub"));
    remove_tree(tp("dst/swap"));
  }
  swapper_stop(s);
  if (RACE_ROUNDS >= 300)
    ck_assert_uint_gt(atomic_load(&s->swaps), 0);
  free(s);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A thread removes entries of the source while cp walks it: what vanishes
 * meanwhile is skipped, never an error, and what is copied is whole. */
START_TEST(test_fs_cp_things_vanishing_meanwhile) {
  uv_loop_t loop;
  vanisher_t *v = calloc(1, sizeof(*v));
  int round, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (round = 0; round < race_rounds(20); round++) {
    ck_assert_int_eq(mkdir(tp("s"), 0755), 0);
    for (i = 0; i < 50; i++) {
      ck_assert_int_eq(mkdir(tp("s/d%d", i), 0755), 0);
      put_file(tp("s/d%d/f", i), "x");
      put_file(tp("s/f%d", i), "x");
      ck_assert_int_eq(symlink("t", tp("s/l%d", i)), 0);
    }
    vanisher_start(v, tp("s"));
    wait_done(future_fs_cp(&loop, tp("s"), tp("d"), 0));
    vanisher_stop(v);
    for (i = 0; i < 50; i++) {
      if (exists(tp("d/f%d", i)))
        ck_assert_str_eq(content(tp("d/f%d", i)), "x");
      if (exists(tp("d/d%d/f", i)))
        ck_assert_str_eq(content(tp("d/d%d/f", i)), "x");
    }
    remove_tree(tp("s"));
    remove_tree(tp("d"));
  }
  free(v);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Cancel. */

static void flat_tree(const char *top, int n) {
  int i;
  ck_assert_int_eq(mkdir(top, 0755), 0);
  for (i = 0; i < n; i++)
    put_file(tp("s/%04d", i), "x");
}

/* Still queued: taken off the pool's queue, nothing made. */
START_TEST(test_fs_cp_cancel_queued) {
  uv_loop_t loop;
  future_t *f;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  make_src();
  block_pool(&loop);
  f = future_fs_cp(&loop, tp("src"), tp("dst"), 0);
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sleepers_done, pool_size());
  ck_assert(!exists(tp("dst")));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Midway: the walk stops before its next entry; what it copied stays,
 * whole, and a second cp completes it. The entries are links, which have
 * no chunks: only the walk's own check can stop it. */
START_TEST(test_fs_cp_cancel_midway) {
  uv_loop_t loop;
  future_t *f, *watch;
  int i, at_cancel, after, delivered = 0, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = warm_fds(&loop);
  ck_assert_int_eq(mkdir(tp("s"), 0755), 0);
  for (i = 0; i < 3000; i++)
    ck_assert_int_eq(symlink("target", tp("s/%04d", i)), 0);
  f = future_fs_cp(&loop, tp("s"), tp("d"), 0);
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  for (i = 0; i < 5000000 && (!exists(tp("d")) || dir_entries(tp("d")) == 0);
       i++)
    sched_yield();
  ck_assert_int_eq(future_cancel(f), 0);
  at_cancel = dir_entries(tp("d"));
  expect_err(watch, UV_ECANCELED, NULL);
  expect_err(f, UV_ECANCELED, "cancelled: operation canceled (ECANCELED)");
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  after = dir_entries(tp("d"));
  ck_assert_int_eq(delivered, 0);
  ck_assert_int_gt(after, 0);
  ck_assert_int_lt(after, 3000);
  ck_assert_int_le(after - at_cancel, 1); /* at most the one in progress */
  uv_sleep(20);
  ck_assert_int_eq(dir_entries(tp("d")), after);
  for (i = 0; i < 3000; i++)
    if (exists(tp("d/%04d", i)))
      ck_assert_str_eq(link_of(tp("d/%04d", i)), "target");
  ck_assert_int_eq(fd_count(), fds);
  wait_done(future_fs_cp(&loop, tp("s"), tp("d"), 0));
  ck_assert_int_eq(dir_entries(tp("d")), 3000);
  LOOP_CLOSE(&loop);
}
END_TEST

/* In the middle of a file: stopped between two chunks, the file removed.
 * The source is sparse (no disk for it); the copy is 256 MiB written. A
 * try whose cancel came after the last chunk proves nothing: up to five
 * tries for one that came before. */
START_TEST(test_fs_cp_cancel_in_a_file) {
  uv_loop_t loop;
  const off_t size = (off_t)256 << 20;
  int fd, i, tries, mid = 0, fds;
  struct stat st;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("s"), 0755), 0);
  fd = open(tp("s/big"), O_WRONLY | O_CREAT, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, size), 0);
  close(fd);
  wait_done(future_fs_stat(&loop, root)); /* the pool, started */
  fds = fd_count();
  for (tries = 0; tries < 5 && !mid; tries++) {
    future_t *f = future_fs_cp(&loop, tp("s"), tp("d"), 0);
    for (i = 0; i < 5000000 && (stat(tp("d/big"), &st) != 0 || st.st_size == 0);
         i++)
      sched_yield();
    ck_assert_int_eq(future_cancel(f), 0);
    mid = stat(tp("d/big"), &st) == 0 && st.st_size < size;
    expect_err(f, UV_ECANCELED, NULL);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    if (mid)
      ck_assert_msg(!exists(tp("d/big")), "a file cancelled midway stays");
    ck_assert_int_eq(fd_count(), fds);
    remove_tree(tp("d"));
  }
  LOOP_CLOSE(&loop);
#ifdef HAVE_VALGRIND_MEMCHECK_H
  /* valgrind slows the test's polling, not the kernel's copy. */
  if (!mid && RUNNING_ON_VALGRIND) {
    fprintf(stderr, "check_fs_copy: under valgrind no cancel came before "
                    "the last chunk of the file\n");
    return;
  }
#endif
  ck_assert_msg(mid, "no cancel came before the last chunk in five tries");
}
END_TEST

/* Left pending, a copy is cancelled by the teardown, before or after a
 * uv_walk that closes every handle (it has none of its own: the walk
 * meets the loop's three). */
START_TEST(test_fs_cp_teardown_with_walk) {
  uv_loop_t loop;
  int fds, n;
  /* What libuv opens once per process, opened now. */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  warm_fds(&loop);
  LOOP_CLOSE(&loop);
  fds = fd_count();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  flat_tree(tp("s"), 2000);
  future_unref(future_fs_cp(&loop, tp("s"), tp("d"), 0));
  ck_assert_int_eq(teardown_with_walk(&loop, _i),
                   _i != TEARDOWN_CLOSE_FIRST ? 3 : 0);
  ck_assert_int_eq(fd_count(), fds);
  /* Stopped: nothing more comes. */
  n = exists(tp("d")) ? dir_entries(tp("d")) : 0;
  uv_sleep(20);
  ck_assert_int_eq(exists(tp("d")) ? dir_entries(tp("d")) : 0, n);
}
END_TEST

/* Allocation failures. */

static void prep_cp(void) {
  ck_assert_int_eq(mkdir(tp("ms"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("ms/sub"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("ms/sub/deeper"), 0755), 0);
  put_file(tp("ms/f"), "f");
  put_file(tp("ms/sub/g"), "g");
  ck_assert_int_eq(symlink("f", tp("ms/sub/l")), 0);
}
static void post_cp(void) {
  remove_tree(tp("ms"));
  remove_tree(tp("md"));
}
static future_t *c_cp(uv_loop_t *l) {
  return future_fs_cp(l, tp("ms"), tp("md"), FUTURE_FS_CP_PRESERVE_TIMESTAMPS);
}
static future_t *c_cp_file(uv_loop_t *l) {
  return future_fs_cp(l, tp("ms/f"), tp("md"), 0);
}

static const fs_op_t cp_ops[] = {
    {"cp", prep_cp, c_cp, NULL, post_cp},
    {"cp file", prep_cp, c_cp_file, NULL, post_cp},
};

START_TEST(test_fs_cp_out_of_memory_everywhere) {
  sweep_ops(cp_ops, sizeof(cp_ops) / sizeof(cp_ops[0]));
}
END_TEST

Suite *make_fs_copy_suite(void) {
  Suite *s = suite_create("fs_copy");
  TCase *copy = tcase_create("Copy");
  TCase *cancel = tcase_create("Cancel");
  TCase *races = tcase_create("Races");
  TCase *memory = tcase_create("Memory");
  TCase *all[] = {copy, cancel, races, memory};
  size_t i;
  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    tcase_add_checked_fixture(all[i], setup, teardown);
    tcase_set_timeout(all[i], 120);
  }
  tcase_add_test(copy, test_fs_cp_tree);
  tcase_add_test(copy, test_fs_cp_relative_and_dot);
  tcase_add_test(copy, test_fs_cp_existing_entries);
  tcase_add_test(copy, test_fs_cp_special_files);
  tcase_add_test(copy, test_fs_cp_refusals);
  tcase_add_test(copy, test_fs_cp_errors_name_the_paths);
  tcase_add_test(copy, test_fs_cp_permission_errors);
  tcase_add_test(copy, test_fs_cp_large_and_deep);
  tcase_add_test(copy, test_fs_cp_few_descriptors);

  tcase_add_test(cancel, test_fs_cp_cancel_queued);
  tcase_add_test(cancel, test_fs_cp_cancel_midway);
  tcase_add_test(cancel, test_fs_cp_cancel_in_a_file);
  tcase_add_loop_test(cancel, test_fs_cp_teardown_with_walk, 0, 3);

  tcase_add_test(races, test_fs_cp_race_source_never_leaves_the_tree);
  tcase_add_test(races, test_fs_cp_race_destination_never_leaves_the_tree);
  tcase_add_test(races, test_fs_cp_things_vanishing_meanwhile);

  tcase_add_test(memory, test_fs_cp_out_of_memory_everywhere);

  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    suite_add_tcase(s, all[i]);
  return s;
}
