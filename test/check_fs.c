/* The file system as futures, single requests (src/fs.c): every wrapper,
 * its errors, cancellation at every stage, and scale. Each test works in a
 * temporary directory of its own under /tmp (fs_helpers.h). */
#define _GNU_SOURCE
#include "fs_helpers.h"
#include "suites.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

/* Core: every wrapper on its success path. */

START_TEST(test_fs_open_write_read_close) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  uv_stat_t *st;
  char into[16];
  int fd, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = fd_count();
  fd = (int)wait_int(future_fs_open(&loop, tp("a.txt"),
                                    UV_FS_O_RDWR | UV_FS_O_CREAT, 0644));
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(fd_count(), fds + 1);
  ck_assert_int_eq(
      wait_int(future_fs_write(&loop, fd, "hello world", 11, 0, NULL)), 11);

  buf = expect_ok(future_fs_read(&loop, fd, 64, 0), &r);
  ck_assert_uint_eq(buf->len, 11);
  ck_assert_str_eq(buf->base, "hello world"); /* NUL-terminated */
  future_result_release(&r);

  buf = expect_ok(future_fs_read(&loop, fd, 64, 11), &r);
  ck_assert_uint_eq(buf->len, 0); /* end of file */
  future_result_release(&r);

  buf = expect_ok(future_fs_read(&loop, fd, (size_t)1 << 20, 6), &r);
  ck_assert_uint_eq(buf->len, 5); /* short: the rest is given back */
  ck_assert_str_eq(buf->base, "world");
  future_result_release(&r);

  memset(into, 0, sizeof(into));
  ck_assert_int_eq(
      wait_int(future_fs_read_into(&loop, fd, into, 5, 6)), 5);
  ck_assert_str_eq(into, "world");

  wait_done(future_fs_fsync(&loop, fd));
  wait_done(future_fs_fdatasync(&loop, fd));
  wait_done(future_fs_ftruncate(&loop, fd, 5));
  wait_done(future_fs_fchmod(&loop, fd, 0600));
  wait_done(future_fs_futime(&loop, fd, 1000000000.0, 1000000001.0));
  wait_done(future_fs_fchown(&loop, fd, getuid(), getgid()));
  st = expect_ok(future_fs_fstat(&loop, fd), &r);
  ck_assert_uint_eq(st->st_size, 5);
  ck_assert_uint_eq(st->st_mode & 0777, 0600);
  ck_assert_int_eq(st->st_mtim.tv_sec, 1000000001);
  future_result_release(&r);

  ck_assert_ptr_null(
      expect_ok(future_fs_close(&loop, fd), &r)); /* fulfilled with NULL */
  future_result_release(&r);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_write_takes_buffer_ownership) {
  uv_loop_t loop;
  char *data = strdup("owned");
  future_t *f;
  int fd;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fd = (int)wait_int(future_fs_open(
      &loop, tp("o"), UV_FS_O_WRONLY | UV_FS_O_CREAT, 0644));
  dtor_calls = 0;
  f = future_fs_write(&loop, fd, data, 5, -1, count_free);
  ck_assert_int_eq(dtor_calls, 0);
  ck_assert_int_eq(wait_int(f), 5);
  ck_assert_int_eq(dtor_calls, 1);
  /* Refused at once: the destructor still runs, exactly once. */
  expect_err(future_fs_write(&loop, fd, NULL, 3, 0, count_free), UV_EINVAL,
             "write: NULL buffer: invalid argument (EINVAL)");
  ck_assert_int_eq(dtor_calls, 2);
  wait_done(future_fs_close(&loop, fd));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_stat_lstat_statfs_access) {
  uv_loop_t loop;
  future_result_t r;
  uv_stat_t *st;
  uv_statfs_t *sfs;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "12345");
  ck_assert_int_eq(symlink(tp("f"), tp("l")), 0);

  st = expect_ok(future_fs_stat(&loop, tp("l")), &r);
  ck_assert(S_ISREG(st->st_mode));
  ck_assert_uint_eq(st->st_size, 5);
  future_result_release(&r);

  st = expect_ok(future_fs_lstat(&loop, tp("l")), &r);
  ck_assert(S_ISLNK(st->st_mode));
  future_result_release(&r);

  sfs = expect_ok(future_fs_statfs(&loop, root), &r);
  ck_assert_uint_gt(sfs->f_bsize, 0);
  ck_assert_uint_gt(sfs->f_blocks, 0);
  future_result_release(&r);

  wait_done(future_fs_access(&loop, tp("f"), F_OK));
  wait_done(future_fs_access(&loop, tp("f"), R_OK | W_OK));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_names_and_links) {
  uv_loop_t loop;
  future_result_t r;
  uv_stat_t *st;
  char real[4096];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("a"), "content");

  wait_done(future_fs_rename(&loop, tp("a"), tp("b")));
  ck_assert(!exists(tp("a")) && exists(tp("b")));

  wait_done(future_fs_link(&loop, tp("b"), tp("hard")));
  st = expect_ok(future_fs_stat(&loop, tp("b")), &r);
  ck_assert_uint_eq(st->st_nlink, 2);
  future_result_release(&r);

  wait_done(future_fs_symlink(&loop, "b", tp("soft"), 0));
  ck_assert_str_eq(expect_ok(future_fs_readlink(&loop, tp("soft")), &r), "b");
  future_result_release(&r);
  ck_assert_ptr_nonnull(realpath(tp("b"), real));
  ck_assert_str_eq(expect_ok(future_fs_realpath(&loop, tp("soft")), &r), real);
  future_result_release(&r);

  wait_done(future_fs_copyfile(&loop, tp("b"), tp("c"), 0));
  st = expect_ok(future_fs_stat(&loop, tp("c")), &r);
  ck_assert_uint_eq(st->st_size, 7);
  ck_assert_uint_eq(st->st_nlink, 1);
  future_result_release(&r);

  wait_done(future_fs_chmod(&loop, tp("c"), 0640));
  wait_done(future_fs_chown(&loop, tp("c"), getuid(), getgid()));
  wait_done(future_fs_lchown(&loop, tp("soft"), getuid(), getgid()));
  wait_done(future_fs_utime(&loop, tp("c"), 1500000000.0, 1600000000.0));
  wait_done(future_fs_lutime(&loop, tp("soft"), 1500000000.0, 1700000000.0));
  st = expect_ok(future_fs_stat(&loop, tp("c")), &r);
  ck_assert_uint_eq(st->st_mode & 0777, 0640);
  ck_assert_int_eq(st->st_mtim.tv_sec, 1600000000);
  ck_assert_int_eq(st->st_atim.tv_sec, 1500000000);
  future_result_release(&r);
  st = expect_ok(future_fs_lstat(&loop, tp("soft")), &r);
  ck_assert_int_eq(st->st_mtim.tv_sec, 1700000000);
  future_result_release(&r);

  wait_done(future_fs_unlink(&loop, tp("hard")));
  wait_done(future_fs_unlink(&loop, tp("soft")));
  ck_assert(!exists(tp("hard")) && !exists(tp("soft")) && exists(tp("b")));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_mkdir_scandir_rmdir) {
  uv_loop_t loop;
  future_result_t r;
  future_fs_dirents_t *d;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  wait_done(future_fs_mkdir(&loop, tp("d"), 0755));
  put_file(tp("d/b.txt"), "x");
  put_file(tp("d/a.txt"), "y");
  wait_done(future_fs_mkdir(&loop, tp("d/sub"), 0755));

  d = expect_ok(future_fs_scandir(&loop, tp("d")), &r);
  ck_assert_uint_eq(d->count, 3); /* sorted, no "." nor ".." */
  ck_assert_str_eq(d->entries[0].name, "a.txt");
  ck_assert_int_eq(d->entries[0].type, UV_DIRENT_FILE);
  ck_assert_str_eq(d->entries[1].name, "b.txt");
  ck_assert_str_eq(d->entries[2].name, "sub");
  ck_assert_int_eq(d->entries[2].type, UV_DIRENT_DIR);
  future_result_release(&r);

  d = expect_ok(future_fs_scandir(&loop, tp("d/sub")), &r);
  ck_assert_uint_eq(d->count, 0);
  ck_assert_ptr_null(d->entries);
  future_result_release(&r);

  expect_err(future_fs_rmdir(&loop, tp("d")), UV_ENOTEMPTY,
             msg("rmdir", tp("d"), UV_ENOTEMPTY));
  wait_done(future_fs_rmdir(&loop, tp("d/sub")));
  ck_assert(!exists(tp("d/sub")));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_mkdtemp_mkstemp) {
  uv_loop_t loop;
  future_result_t r;
  future_fs_tmpfile_t *t;
  const char *name;
  struct stat st;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = fd_count();
  name = expect_ok(future_fs_mkdtemp(&loop, tp("dirXXXXXX")), &r);
  ck_assert_int_eq(strncmp(name, tp("dir"), strlen(tp("dir"))), 0);
  ck_assert_str_ne(name, tp("dirXXXXXX"));
  ck_assert_int_eq(stat(name, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  future_result_release(&r);

  t = expect_ok(future_fs_mkstemp(&loop, tp("fileXXXXXX")), &r);
  ck_assert_int_ge(t->fd, 0);
  ck_assert_int_eq(strncmp(t->path, tp("file"), strlen(tp("file"))), 0);
  ck_assert_int_eq(wait_int(future_fs_write(&loop, t->fd, "tmp", 3, 0, NULL)),
                   3);
  wait_done(future_fs_close(&loop, t->fd));
  ck_assert_int_eq(stat(t->path, &st), 0);
  ck_assert_int_eq(st.st_size, 3);
  future_result_release(&r);

  expect_err(future_fs_mkstemp(&loop, tp("no-x")), UV_EINVAL, NULL);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_opendir_read_close) {
  uv_loop_t loop;
  future_result_t r;
  uv_dir_t *dir;
  int seen = 0, batches = 0, i, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < 5; i++)
    put_file(tp("e%d", i), "");
  fds = fd_count();
  dir = expect_ok(future_fs_opendir(&loop, root), &r);
  future_result_release(&r); /* the uv_dir_t is ours, not the future's */
  ck_assert_int_eq(fd_count(), fds + 1);
  for (;;) {
    future_fs_dirents_t *d = expect_ok(future_fs_dir_read(&loop, dir, 2), &r);
    size_t k;
    if (d->count == 0) {
      future_result_release(&r);
      break;
    }
    ck_assert_uint_le(d->count, 2);
    for (k = 0; k < d->count; k++) {
      ck_assert_int_eq(d->entries[k].name[0], 'e');
      ck_assert_int_eq(d->entries[k].type, UV_DIRENT_FILE);
      seen |= 1 << (d->entries[k].name[1] - '0');
    }
    batches++;
    future_result_release(&r);
  }
  ck_assert_int_eq(seen, 0x1f);
  ck_assert_int_ge(batches, 3);
  /* At the end, whatever the batch asked for. */
  ck_assert_uint_eq(
      ((future_fs_dirents_t *)expect_ok(future_fs_dir_read(&loop, dir, 1000),
                                        &r))
          ->count,
      0);
  future_result_release(&r);
  wait_done(future_fs_dir_close(&loop, dir));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_sendfile) {
  uv_loop_t loop;
  int in, out;
  char b[16] = {0};
  FILE *fp;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("src"), "0123456789");
  in = (int)wait_int(future_fs_open(&loop, tp("src"), UV_FS_O_RDONLY, 0));
  out = (int)wait_int(future_fs_open(
      &loop, tp("dst"), UV_FS_O_WRONLY | UV_FS_O_CREAT, 0644));
  ck_assert_int_eq(wait_int(future_fs_sendfile(&loop, out, in, 3, 5)), 5);
  wait_done(future_fs_close(&loop, in));
  wait_done(future_fs_close(&loop, out));
  fp = fopen(tp("dst"), "r");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fread(b, 1, sizeof(b), fp), 5);
  fclose(fp);
  ck_assert_str_eq(b, "34567");
  LOOP_CLOSE(&loop);
}
END_TEST

/* A pipeline: the values travel down a chain like any other. */
static future_t *stat_size(future_t *settled, void *data) {
  uv_stat_t *st = future_value(settled);
  (void)data;
  return future_resolved(future_loop(settled), INT2P(st->st_size), NULL);
}

START_TEST(test_fs_values_travel_down_chains) {
  uv_loop_t loop;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "four");
  ck_assert_int_eq(
      future_wait(future_then(future_fs_stat(&loop, tp("f")), stat_size, NULL,
                              NULL),
                  &r),
      0);
  ck_assert_int_eq(P2INT(r.value), 4);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Errors: each names the operation and the path. */

START_TEST(test_fs_enoent) {
  uv_loop_t loop;
  char nope[4096];
  char two[8192];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  strcpy(nope, tp("nope"));
  expect_err(future_fs_open(&loop, nope, UV_FS_O_RDONLY, 0), UV_ENOENT,
             msg("open", nope, UV_ENOENT));
  expect_err(future_fs_stat(&loop, nope), UV_ENOENT,
             msg("stat", nope, UV_ENOENT));
  expect_err(future_fs_lstat(&loop, nope), UV_ENOENT,
             msg("lstat", nope, UV_ENOENT));
  expect_err(future_fs_statfs(&loop, nope), UV_ENOENT,
             msg("statfs", nope, UV_ENOENT));
  expect_err(future_fs_access(&loop, nope, F_OK), UV_ENOENT,
             msg("access", nope, UV_ENOENT));
  expect_err(future_fs_unlink(&loop, nope), UV_ENOENT,
             msg("unlink", nope, UV_ENOENT));
  expect_err(future_fs_rmdir(&loop, nope), UV_ENOENT,
             msg("rmdir", nope, UV_ENOENT));
  expect_err(future_fs_readlink(&loop, nope), UV_ENOENT,
             msg("readlink", nope, UV_ENOENT));
  expect_err(future_fs_realpath(&loop, nope), UV_ENOENT,
             msg("realpath", nope, UV_ENOENT));
  expect_err(future_fs_scandir(&loop, nope), UV_ENOENT,
             msg("scandir", nope, UV_ENOENT));
  expect_err(future_fs_opendir(&loop, nope), UV_ENOENT,
             msg("opendir", nope, UV_ENOENT));
  expect_err(future_fs_chmod(&loop, nope, 0644), UV_ENOENT, NULL);
  expect_err(future_fs_chown(&loop, nope, 0, 0), UV_ENOENT, NULL);
  expect_err(future_fs_lchown(&loop, nope, 0, 0), UV_ENOENT, NULL);
  expect_err(future_fs_utime(&loop, nope, 1, 1), UV_ENOENT, NULL);
  expect_err(future_fs_lutime(&loop, nope, 1, 1), UV_ENOENT, NULL);
  expect_err(future_fs_mkdir(&loop, tp("nope/sub"), 0755), UV_ENOENT,
             msg("mkdir", tp("nope/sub"), UV_ENOENT));
  expect_err(future_fs_mkdtemp(&loop, tp("nope/XXXXXX")), UV_ENOENT, NULL);
  expect_err(future_fs_mkstemp(&loop, tp("nope/XXXXXX")), UV_ENOENT, NULL);
  snprintf(two, sizeof(two), "rename '%s' -> '%s': %s (ENOENT)", nope,
           tp("other"), future_strerror(UV_ENOENT));
  expect_err(future_fs_rename(&loop, nope, tp("other")), UV_ENOENT, two);
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (ENOENT)", nope,
           tp("other"), future_strerror(UV_ENOENT));
  expect_err(future_fs_copyfile(&loop, nope, tp("other"), 0), UV_ENOENT, two);
  expect_err(future_fs_link(&loop, nope, tp("other")), UV_ENOENT, NULL);
  expect_err(future_fs_read_file(&loop, nope), UV_ENOENT,
             msg("open", nope, UV_ENOENT));
  expect_err(future_fs_readdir(&loop, nope), UV_ENOENT,
             msg("opendir", nope, UV_ENOENT));
  expect_err(future_fs_truncate(&loop, nope, 0), UV_ENOENT,
             msg("open", nope, UV_ENOENT));
  expect_err(future_fs_write_file(&loop, tp("nope/f"), "x", 1, NULL),
             UV_ENOENT, msg("open", tp("nope/f"), UV_ENOENT));
  expect_err(future_fs_append_file(&loop, tp("nope/f"), "x", 1, NULL),
             UV_ENOENT, msg("open", tp("nope/f"), UV_ENOENT));
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_conf_json_message) {
  /* The example of the header, word for word, with a relative path. */
  uv_loop_t loop;
  char cwd[4096];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(root), 0);
  expect_err(future_fs_open(&loop, "conf.json", UV_FS_O_RDONLY, 0), UV_ENOENT,
             "open 'conf.json': no such file or directory (ENOENT)");
  ck_assert_int_eq(chdir(cwd), 0);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_eexist) {
  uv_loop_t loop;
  char two[8192];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "x");
  put_file(tp("g"), "y");
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  expect_err(future_fs_mkdir(&loop, tp("d"), 0755), UV_EEXIST,
             msg("mkdir", tp("d"), UV_EEXIST));
  expect_err(future_fs_open(&loop, tp("f"),
                            UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_EXCL,
                            0644),
             UV_EEXIST, msg("open", tp("f"), UV_EEXIST));
  snprintf(two, sizeof(two), "link '%s' -> '%s': %s (EEXIST)", tp("f"),
           tp("g"), future_strerror(UV_EEXIST));
  expect_err(future_fs_link(&loop, tp("f"), tp("g")), UV_EEXIST, two);
  expect_err(future_fs_symlink(&loop, tp("f"), tp("g"), 0), UV_EEXIST, NULL);
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (EEXIST)", tp("f"),
           tp("g"), future_strerror(UV_EEXIST));
  expect_err(future_fs_copyfile(&loop, tp("f"), tp("g"), UV_FS_COPYFILE_EXCL),
             UV_EEXIST, two);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_eisdir) {
  uv_loop_t loop;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  fds = fd_count();
  expect_err(future_fs_open(&loop, tp("d"), UV_FS_O_WRONLY, 0), UV_EISDIR,
             msg("open", tp("d"), UV_EISDIR));
  expect_err(future_fs_unlink(&loop, tp("d")), UV_EISDIR,
             msg("unlink", tp("d"), UV_EISDIR));
  /* Opening a directory read-only works; reading it does not, and the
   * file is closed on that error path too. */
  expect_err(future_fs_read_file(&loop, tp("d")), UV_EISDIR,
             msg("read", tp("d"), UV_EISDIR));
  expect_err(future_fs_write_file(&loop, tp("d"), "x", 1, NULL), UV_EISDIR,
             msg("open", tp("d"), UV_EISDIR));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_enotdir) {
  uv_loop_t loop;
  int fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "x");
  fds = fd_count();
  expect_err(future_fs_stat(&loop, tp("f/x")), UV_ENOTDIR,
             msg("stat", tp("f/x"), UV_ENOTDIR));
  expect_err(future_fs_mkdir(&loop, tp("f/x"), 0755), UV_ENOTDIR,
             msg("mkdir", tp("f/x"), UV_ENOTDIR));
  expect_err(future_fs_rmdir(&loop, tp("f")), UV_ENOTDIR,
             msg("rmdir", tp("f"), UV_ENOTDIR));
  expect_err(future_fs_scandir(&loop, tp("f")), UV_ENOTDIR,
             msg("scandir", tp("f"), UV_ENOTDIR));
  expect_err(future_fs_opendir(&loop, tp("f")), UV_ENOTDIR,
             msg("opendir", tp("f"), UV_ENOTDIR));
  expect_err(future_fs_readdir(&loop, tp("f")), UV_ENOTDIR,
             msg("opendir", tp("f"), UV_ENOTDIR));
  expect_err(future_fs_read_file(&loop, tp("f/x")), UV_ENOTDIR,
             msg("open", tp("f/x"), UV_ENOTDIR));
  expect_err(future_fs_mkdir_p(&loop, tp("f/x/y"), 0755), UV_ENOTDIR,
             msg("mkdir", tp("f/x/y"), UV_ENOTDIR));
  /* rm_r opens the directory that holds its top: here, a file. */
  expect_err(future_fs_rm_r(&loop, tp("f/x"), 0), UV_ENOTDIR,
             msg("open", tp("f"), UV_ENOTDIR));
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_ebadf) {
  uv_loop_t loop;
  const int bad = 1000000; /* above any descriptor limit: never open */
  char b[4];
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  expect_err(future_fs_fstat(&loop, bad), UV_EBADF,
             "fstat fd 1000000: bad file descriptor (EBADF)");
  expect_err(future_fs_close(&loop, bad), UV_EBADF,
             "close fd 1000000: bad file descriptor (EBADF)");
  expect_err(future_fs_read(&loop, bad, 4, 0), UV_EBADF,
             "read fd 1000000: bad file descriptor (EBADF)");
  expect_err(future_fs_read_into(&loop, bad, b, 4, 0), UV_EBADF, NULL);
  expect_err(future_fs_write(&loop, bad, "x", 1, 0, NULL), UV_EBADF,
             "write fd 1000000: bad file descriptor (EBADF)");
  expect_err(future_fs_fsync(&loop, bad), UV_EBADF, NULL);
  expect_err(future_fs_fdatasync(&loop, bad), UV_EBADF, NULL);
  expect_err(future_fs_ftruncate(&loop, bad, 0), UV_EBADF, NULL);
  expect_err(future_fs_fchmod(&loop, bad, 0644), UV_EBADF, NULL);
  expect_err(future_fs_fchown(&loop, bad, 0, 0), UV_EBADF, NULL);
  expect_err(future_fs_futime(&loop, bad, 1, 1), UV_EBADF, NULL);
  expect_err(future_fs_sendfile(&loop, bad, bad, 0, 1), UV_EBADF,
             "sendfile fd 1000000 -> fd 1000000: bad file descriptor (EBADF)");
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_null_arguments) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_ptr_null(future_fs_stat(NULL, "x"));
  ck_assert_ptr_null(future_fs_open(NULL, "x", 0, 0));
  ck_assert_ptr_null(future_fs_close(NULL, 0));
  ck_assert_ptr_null(future_fs_read_file(NULL, "x"));
  ck_assert_ptr_null(future_fs_rm_r(NULL, "x", 0));
  dtor_calls = 0;
  ck_assert_ptr_null(
      future_fs_write_file(NULL, "x", strdup("data"), 4, count_free));
  ck_assert_int_eq(dtor_calls, 1);
  expect_err(future_fs_stat(&loop, NULL), UV_EINVAL,
             "stat: NULL path: invalid argument (EINVAL)");
  expect_err(future_fs_open(&loop, NULL, 0, 0), UV_EINVAL,
             "open: NULL path: invalid argument (EINVAL)");
  expect_err(future_fs_rename(&loop, "a", NULL), UV_EINVAL, NULL);
  expect_err(future_fs_symlink(&loop, NULL, "b", 0), UV_EINVAL, NULL);
  expect_err(future_fs_mkdtemp(&loop, NULL), UV_EINVAL, NULL);
  expect_err(future_fs_dir_read(&loop, NULL, 1), UV_EINVAL, NULL);
  expect_err(future_fs_dir_close(&loop, NULL), UV_EINVAL, NULL);
  expect_err(future_fs_read_into(&loop, 0, NULL, 4, 0), UV_EINVAL, NULL);
  expect_err(future_fs_read_file(&loop, NULL), UV_EINVAL, NULL);
  expect_err(future_fs_write_file(&loop, tp("f"), NULL, 4, count_free),
             UV_EINVAL, "write_file: NULL data: invalid argument (EINVAL)");
  ck_assert_int_eq(dtor_calls, 2); /* the destructor runs whatever happens */
  expect_err(future_fs_append_file(&loop, NULL, strdup("x"), 1, count_free),
             UV_EINVAL, "append_file: NULL path: invalid argument (EINVAL)");
  ck_assert_int_eq(dtor_calls, 3);
  expect_err(future_fs_mkdir_p(&loop, NULL, 0755), UV_EINVAL, NULL);
  expect_err(future_fs_rm_r(&loop, NULL, 0), UV_EINVAL, NULL);
  expect_err(future_fs_readdir(&loop, NULL), UV_EINVAL, NULL);
  ck_assert(!exists(tp("f")));
  LOOP_CLOSE(&loop);
}
END_TEST

/* Every function, with no loop: NULL, nothing started (a buffer given
 * with its destructor is freed all the same). */
START_TEST(test_fs_null_loop_everywhere) {
  uv_dir_t dir;
  char b[4];
  dtor_calls = 0;
  ck_assert_ptr_null(future_fs_open(NULL, "x", 0, 0));
  ck_assert_ptr_null(future_fs_close(NULL, 0));
  ck_assert_ptr_null(future_fs_read(NULL, 0, 4, 0));
  ck_assert_ptr_null(future_fs_read_into(NULL, 0, b, 4, 0));
  ck_assert_ptr_null(future_fs_write(NULL, 0, strdup("x"), 1, 0, count_free));
  ck_assert_ptr_null(future_fs_sendfile(NULL, 0, 0, 0, 1));
  ck_assert_ptr_null(future_fs_fsync(NULL, 0));
  ck_assert_ptr_null(future_fs_fdatasync(NULL, 0));
  ck_assert_ptr_null(future_fs_ftruncate(NULL, 0, 0));
  ck_assert_ptr_null(future_fs_stat(NULL, "x"));
  ck_assert_ptr_null(future_fs_fstat(NULL, 0));
  ck_assert_ptr_null(future_fs_lstat(NULL, "x"));
  ck_assert_ptr_null(future_fs_statfs(NULL, "x"));
  ck_assert_ptr_null(future_fs_access(NULL, "x", F_OK));
  ck_assert_ptr_null(future_fs_chmod(NULL, "x", 0644));
  ck_assert_ptr_null(future_fs_fchmod(NULL, 0, 0644));
  ck_assert_ptr_null(future_fs_utime(NULL, "x", 1, 1));
  ck_assert_ptr_null(future_fs_futime(NULL, 0, 1, 1));
  ck_assert_ptr_null(future_fs_lutime(NULL, "x", 1, 1));
  ck_assert_ptr_null(future_fs_chown(NULL, "x", 0, 0));
  ck_assert_ptr_null(future_fs_fchown(NULL, 0, 0, 0));
  ck_assert_ptr_null(future_fs_lchown(NULL, "x", 0, 0));
  ck_assert_ptr_null(future_fs_unlink(NULL, "x"));
  ck_assert_ptr_null(future_fs_rename(NULL, "x", "y"));
  ck_assert_ptr_null(future_fs_copyfile(NULL, "x", "y", 0));
  ck_assert_ptr_null(future_fs_link(NULL, "x", "y"));
  ck_assert_ptr_null(future_fs_symlink(NULL, "x", "y", 0));
  ck_assert_ptr_null(future_fs_readlink(NULL, "x"));
  ck_assert_ptr_null(future_fs_realpath(NULL, "x"));
  ck_assert_ptr_null(future_fs_mkstemp(NULL, "xXXXXXX"));
  ck_assert_ptr_null(future_fs_mkdir(NULL, "x", 0755));
  ck_assert_ptr_null(future_fs_mkdtemp(NULL, "xXXXXXX"));
  ck_assert_ptr_null(future_fs_rmdir(NULL, "x"));
  ck_assert_ptr_null(future_fs_scandir(NULL, "x"));
  ck_assert_ptr_null(future_fs_opendir(NULL, "x"));
  ck_assert_ptr_null(future_fs_dir_read(NULL, &dir, 1));
  ck_assert_ptr_null(future_fs_dir_close(NULL, &dir));
  ck_assert_ptr_null(future_fs_read_file(NULL, "x"));
  ck_assert_ptr_null(
      future_fs_append_file(NULL, "x", strdup("x"), 1, count_free));
  ck_assert_ptr_null(future_fs_truncate(NULL, "x", 0));
  ck_assert_ptr_null(future_fs_mkdir_p(NULL, "x", 0755));
  ck_assert_ptr_null(future_fs_rm_r(NULL, "x", 0));
  ck_assert_ptr_null(future_fs_readdir(NULL, "x"));
  ck_assert_int_eq(dtor_calls, 2);
  ck_assert_int_eq(dir_entries(root), 0);
}
END_TEST

/* Every function that takes a path, with NULL for it: rejected with
 * UV_EINVAL, and the message says which function and what is NULL. */
START_TEST(test_fs_null_paths_everywhere) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
#define NULL_PATH(call, op)                                                    \
  expect_err((call), UV_EINVAL, op ": NULL path: invalid argument (EINVAL)")
  NULL_PATH(future_fs_lstat(&loop, NULL), "lstat");
  NULL_PATH(future_fs_statfs(&loop, NULL), "statfs");
  NULL_PATH(future_fs_access(&loop, NULL, F_OK), "access");
  NULL_PATH(future_fs_chmod(&loop, NULL, 0644), "chmod");
  NULL_PATH(future_fs_utime(&loop, NULL, 1, 1), "utime");
  NULL_PATH(future_fs_lutime(&loop, NULL, 1, 1), "lutime");
  NULL_PATH(future_fs_chown(&loop, NULL, 0, 0), "chown");
  NULL_PATH(future_fs_lchown(&loop, NULL, 0, 0), "lchown");
  NULL_PATH(future_fs_unlink(&loop, NULL), "unlink");
  NULL_PATH(future_fs_rename(&loop, NULL, "y"), "rename");
  NULL_PATH(future_fs_copyfile(&loop, "x", NULL, 0), "copyfile");
  NULL_PATH(future_fs_copyfile(&loop, NULL, "y", 0), "copyfile");
  NULL_PATH(future_fs_link(&loop, "x", NULL), "link");
  NULL_PATH(future_fs_symlink(&loop, "x", NULL, 0), "symlink");
  NULL_PATH(future_fs_readlink(&loop, NULL), "readlink");
  NULL_PATH(future_fs_realpath(&loop, NULL), "realpath");
  NULL_PATH(future_fs_mkdir(&loop, NULL, 0755), "mkdir");
  NULL_PATH(future_fs_rmdir(&loop, NULL), "rmdir");
  NULL_PATH(future_fs_scandir(&loop, NULL), "scandir");
  NULL_PATH(future_fs_opendir(&loop, NULL), "opendir");
  NULL_PATH(future_fs_truncate(&loop, NULL, 0), "truncate");
  NULL_PATH(future_fs_mkdir_p(&loop, NULL, 0755), "mkdir");
  NULL_PATH(future_fs_rm_r(&loop, NULL, 0), "rm");
  NULL_PATH(future_fs_readdir(&loop, NULL), "readdir");
  NULL_PATH(future_fs_read_file(&loop, NULL), "read_file");
#undef NULL_PATH
  expect_err(future_fs_mkstemp(&loop, NULL), UV_EINVAL,
             "mkstemp: NULL template: invalid argument (EINVAL)");
  expect_err(future_fs_dir_read(&loop, NULL, 0), UV_EINVAL,
             "readdir: NULL directory: invalid argument (EINVAL)");
  expect_err(future_fs_dir_close(&loop, NULL), UV_EINVAL,
             "closedir: NULL directory: invalid argument (EINVAL)");
  LOOP_CLOSE(&loop);
}
END_TEST

/* Called through the macros (FUTURE_AT), a request's errors name the
 * caller's place: this file, the line of the call, this function; two
 * calls on two lines are told apart. */
START_TEST(test_fs_error_origin) {
  uv_loop_t loop;
  future_result_t r;
  int line;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  line = __LINE__ + 1;
  ck_assert_int_eq(future_wait(future_fs_open(&loop, tp("nope"), 0, 0), &r),
                   UV_ENOENT);
  ck_assert_str_eq(future_error_func(r.error), __func__);
  ck_assert_str_eq(future_error_file(r.error), __FILE__);
  ck_assert_int_eq(future_error_line(r.error), line);
  future_result_release(&r);
  line = __LINE__ + 1;
  ck_assert_int_eq(future_wait(future_fs_read_file(&loop, tp("nope")), &r),
                   UV_ENOENT);
  ck_assert_int_eq(future_error_line(r.error), line);
  ck_assert_str_eq(future_error_file(r.error), __FILE__);
  future_result_release(&r);
  /* An argument refused before any request: the caller's place too. */
  line = __LINE__ + 1;
  ck_assert_int_eq(future_wait(future_fs_mkdir_p(&loop, NULL, 0755), &r),
                   UV_EINVAL);
  ck_assert_int_eq(future_error_line(r.error), line);
  future_result_release(&r);
  /* Nested: the timeout's deadline names the timeout's call, the read
   * inside it its own. */
  {
    int outer = __LINE__ + 1;
    future_t *t = future_timeout(
        future_fs_read_file(&loop, tp("nope")), 3600 * 1000);
    int inner = __LINE__ - 1;
    ck_assert_int_eq(future_wait(t, &r), UV_ENOENT);
    ck_assert_int_eq(future_error_line(r.error), inner);
    ck_assert_int_ne(outer, inner);
    future_result_release(&r);
  }
  LOOP_CLOSE(&loop);
}
END_TEST

/* Bypassing the macro (the name in parentheses, or a pointer): the error
 * names the library's place and the public function. */
START_TEST(test_fs_error_origin_without_call_site) {
  uv_loop_t loop;
  future_result_t r;
  future_t *(*read_file)(uv_loop_t *, const char *) = &future_fs_read_file;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait((future_fs_open)(&loop, tp("nope"), 0, 0), &r),
                   UV_ENOENT);
  ck_assert_str_eq(future_error_func(r.error), "future_fs_open");
  ck_assert_ptr_nonnull(strstr(future_error_file(r.error), "fs.c"));
  future_result_release(&r);
  ck_assert_int_eq(future_wait(read_file(&loop, tp("nope")), &r), UV_ENOENT);
  ck_assert_str_eq(future_error_func(r.error), "future_fs_read_file");
  /* Raised in the file that holds the helper, not in the shared code. */
  ck_assert_ptr_nonnull(strstr(future_error_file(r.error), "fs_file.c"));
  future_result_release(&r);
  ck_assert_int_eq(future_wait((future_fs_mkdir_p)(&loop, NULL, 0755), &r),
                   UV_EINVAL);
  ck_assert_ptr_nonnull(strstr(future_error_file(r.error), "fs_tree.c"));
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST


START_TEST(test_fs_copyfile_whole) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  char *data = malloc(100000);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(data, 'z', 100000);
  wait_done(future_fs_write_file(&loop, tp("a"), data, 100000, free));
  wait_done(future_fs_copyfile(&loop, tp("a"), tp("b"), 0));
  buf = expect_ok(future_fs_read_file(&loop, tp("b")), &r);
  ck_assert_uint_eq(buf->len, 100000);
  ck_assert_int_eq(buf->base[0], 'z');
  ck_assert_int_eq(buf->base[99999], 'z');
  future_result_release(&r);
  LOOP_CLOSE(&loop);
}
END_TEST


/* copyfile removes a destination it could not fill, and only the file it
 * made: tree/sub, where it makes its copy, and tree/swap (a link to
 * outside/, which holds a file of the same name) change places meanwhile.
 * The copy is made to fail after the destination exists by asking for a
 * copy-on-write clone, which this file system cannot make. */
static int can_clone(const char *a, const char *b) {
  int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT, 0644);
  int ok = in >= 0 && out >= 0 && ioctl(out, FICLONE, in) == 0;
  close(in);
  close(out);
  unlink(b);
  return ok;
}

START_TEST(test_fs_copyfile_race_never_leaves_the_dir) {
  uv_loop_t loop;
  swapper_t *s = calloc(1, sizeof(*s));
  future_result_t r;
  int round, st;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("src"), "copy me");
  if (can_clone(tp("src"), tp("probe"))) {
    free(s);
    LOOP_CLOSE(&loop);
    return; /* the failure this test needs cannot happen here */
  }
  ck_assert_int_eq(mkdir(tp("outside"), 0755), 0);
  put_file(tp("outside/victim"), "precious");
  ck_assert_int_eq(mkdir(tp("tree"), 0755), 0);
  ck_assert_int_eq(mkdir(tp("tree/sub"), 0755), 0);
  ck_assert_int_eq(symlink(tp("outside"), tp("tree/swap")), 0);
  swapper_start(s, tp("tree/sub"), tp("tree/swap"));
  for (round = 0; round < race_rounds(300); round++) {
    swapper_go(s);
    st = future_wait(future_fs_copyfile(&loop, tp("src"),
                                        tp("tree/sub/victim"),
                                        UV_FS_COPYFILE_EXCL |
                                            UV_FS_COPYFILE_FICLONE_FORCE),
                     &r);
    future_result_release(&r);
    swapper_pause(s);
    ck_assert_int_ne(st, 0);
    ck_assert_msg(exists(tp("outside/victim")),
                  "round %d: copyfile removed outside/victim", round);
    /* Whichever name the real directory has now, its copy is gone. */
    ck_assert(!exists(tp("tree/sub/victim")) || exists(tp("outside/victim")));
    unlink(tp("tree/sub/victim"));
    unlink(tp("tree/swap/victim"));
    put_file(tp("outside/victim"), "precious");
  }
  swapper_stop(s);
  ck_assert_uint_ge(atomic_load(&s->swaps), (unsigned long)race_rounds(300));
  free(s);
  LOOP_CLOSE(&loop);
}
END_TEST

/* What uv_fs_copyfile did, copyfile still does. */
START_TEST(test_fs_copyfile_behaviour) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  struct stat st;
  char two[8192], cwd[4096];
  int code;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("a"), "content a");
  ck_assert_int_eq(chmod(tp("a"), 0640), 0);

  /* The mode goes with the content. */
  wait_done(future_fs_copyfile(&loop, tp("a"), tp("b"), 0));
  ck_assert_int_eq(stat(tp("b"), &st), 0);
  ck_assert_uint_eq(st.st_mode & 07777, 0640);
  ck_assert_uint_eq(st.st_size, 9);

  /* An existing destination is replaced whole, through a link at its
   * name (as cp does), unless EXCL. */
  put_file(tp("long"), "a much longer existing content");
  ck_assert_int_eq(symlink("long", tp("via")), 0);
  wait_done(future_fs_copyfile(&loop, tp("a"), tp("via"), 0));
  buf = expect_ok(future_fs_read_file(&loop, tp("long")), &r);
  ck_assert_str_eq(buf->base, "content a");
  future_result_release(&r);
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (EEXIST)", tp("a"),
           tp("via"), future_strerror(UV_EEXIST));
  expect_err(future_fs_copyfile(&loop, tp("a"), tp("via"), UV_FS_COPYFILE_EXCL),
             UV_EEXIST, two);

  /* Onto itself: nothing to do, nothing lost. */
  wait_done(future_fs_copyfile(&loop, tp("a"), tp("a"), 0));
  buf = expect_ok(future_fs_read_file(&loop, tp("a")), &r);
  ck_assert_str_eq(buf->base, "content a");
  future_result_release(&r);

  /* An empty file, and a clone asked for where it may not be had. */
  put_file(tp("empty"), "");
  wait_done(future_fs_copyfile(&loop, tp("empty"), tp("e2"), 0));
  ck_assert_int_eq(stat(tp("e2"), &st), 0);
  ck_assert_uint_eq(st.st_size, 0);
  wait_done(future_fs_copyfile(&loop, tp("a"), tp("c"),
                               UV_FS_COPYFILE_FICLONE));
  buf = expect_ok(future_fs_read_file(&loop, tp("c")), &r);
  ck_assert_str_eq(buf->base, "content a");
  future_result_release(&r);
  if (!can_clone(tp("a"), tp("probe"))) {
    /* Forced: an error, and the destination it made is removed. */
    code = future_wait(
        future_fs_copyfile(&loop, tp("a"), tp("d"),
                           UV_FS_COPYFILE_FICLONE_FORCE),
        &r);
    ck_assert_int_ne(code, 0);
    ck_assert_str_eq(future_error_func(r.error), __func__);
    future_result_release(&r);
    ck_assert(!exists(tp("d")));
  }

  /* A file shorter than its size says (as sysfs files are): copied as
   * far as it goes. */
  if (stat("/sys/devices/system/cpu/online", &st) == 0 && st.st_size > 8) {
    wait_done(future_fs_copyfile(&loop, "/sys/devices/system/cpu/online",
                                 tp("online"), 0));
    ck_assert_int_eq(stat(tp("online"), &st), 0);
    ck_assert_int_gt(st.st_size, 0);
    ck_assert_int_lt(st.st_size, 4096);
  }

  /* Relative paths, from the working directory. */
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(root), 0);
  wait_done(future_fs_copyfile(&loop, "a", "rel", 0));
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert(exists(tp("rel")));

  /* Errors name both paths. */
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (EISDIR)", tp("a"),
           tp("x/"), future_strerror(UV_EISDIR));
  expect_err(future_fs_copyfile(&loop, tp("a"), tp("x/"), 0), UV_EISDIR,
             two);
  ck_assert_int_eq(mkdir(tp("dir"), 0755), 0);
  /* A directory is opened, but its bytes cannot be copied: the
   * destination made for them is removed again. */
  ck_assert_int_eq(stat(tp("dir"), &st), 0);
  if (st.st_size > 0) {
    snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (EISDIR)",
             tp("dir"), tp("fromdir"), future_strerror(UV_EISDIR));
    expect_err(future_fs_copyfile(&loop, tp("dir"), tp("fromdir"), 0),
               UV_EISDIR, two);
    ck_assert(!exists(tp("fromdir")));
  }
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (EISDIR)", tp("a"),
           tp("dir"), future_strerror(UV_EISDIR));
  expect_err(future_fs_copyfile(&loop, tp("a"), tp("dir"), 0), UV_EISDIR,
             two);
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (ENOENT)", tp("a"),
           tp("nope/b"), future_strerror(UV_ENOENT));
  expect_err(future_fs_copyfile(&loop, tp("a"), tp("nope/b"), 0), UV_ENOENT,
             two);
  snprintf(two, sizeof(two), "copyfile '%s' -> '%s': %s (ENOTDIR)", tp("a"),
           tp("a/b"), future_strerror(UV_ENOTDIR));
  expect_err(future_fs_copyfile(&loop, tp("a"), tp("a/b"), 0), UV_ENOTDIR,
             two);
  LOOP_CLOSE(&loop);
}
END_TEST

/* A copy cancelled midway stops between two chunks and removes the
 * destination it was filling; one that finished before the cancel was
 * noticed leaves a whole copy. Never half a file. */
START_TEST(test_fs_cancel_copyfile_midway) {
  uv_loop_t loop;
  future_t *f;
  struct stat st;
  const size_t n = (size_t)256 << 20;
  int fd, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fd = open(tp("big"), O_WRONLY | O_CREAT, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, (off_t)n), 0); /* sparse, but n bytes */
  close(fd);
  f = future_fs_copyfile(&loop, tp("big"), tp("copy"), 0);
  for (i = 0; i < 5000000 && !exists(tp("copy")); i++)
    sched_yield();
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert(stat(tp("copy"), &st) != 0 || (size_t)st.st_size == n);
  LOOP_CLOSE(&loop);
}
END_TEST

/* An allocator that fills what it gives with a byte that is not NUL, so
 * that a terminator the library forgets shows. */
static void *poison_malloc(size_t n) {
  void *p = malloc(n);
  if (p != NULL)
    memset(p, 0xa5, n);
  return p;
}

START_TEST(test_fs_read_buffer_is_nul_terminated) {
  uv_loop_t loop;
  future_result_t r;
  future_buf_t *buf;
  int fd;
  ck_assert_int_eq(future_set_allocator(poison_malloc, realloc, calloc, free),
                   0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "hello");
  fd = open(tp("f"), O_RDONLY);
  ck_assert_int_ge(fd, 0);
  buf = expect_ok(future_fs_read(&loop, fd, 64, 0), &r);
  ck_assert_uint_eq(buf->len, 5);
  ck_assert_int_eq(buf->base[5], '\0');
  future_result_release(&r);
  /* A short read into a large buffer, given back: still terminated. */
  buf = expect_ok(future_fs_read(&loop, fd, (size_t)1 << 20, 1), &r);
  ck_assert_uint_eq(buf->len, 4);
  ck_assert_int_eq(buf->base[4], '\0');
  future_result_release(&r);
  buf = expect_ok(future_fs_read(&loop, fd, 16, 5), &r);
  ck_assert_uint_eq(buf->len, 0);
  ck_assert_int_eq(buf->base[0], '\0');
  future_result_release(&r);
  close(fd);
  buf = expect_ok(future_fs_read_file(&loop, tp("f")), &r);
  ck_assert_uint_eq(buf->len, 5);
  ck_assert_int_eq(buf->base[5], '\0');
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free), 0);
}
END_TEST

/* When libuv cannot start a request (here: out of memory for its copy of
 * the path), the value made for it in advance is freed. An allocator that
 * counts what the library holds, and one of libuv's that can be made to
 * fail. */
static atomic_long held;
static void *held_malloc(size_t n) {
  void *p = malloc(n);
  if (p != NULL)
    atomic_fetch_add(&held, 1);
  return p;
}
static void *held_calloc(size_t c, size_t n) {
  void *p = calloc(c, n);
  if (p != NULL)
    atomic_fetch_add(&held, 1);
  return p;
}
static void *held_realloc(void *o, size_t n) {
  void *p = realloc(o, n);
  if (p != NULL && o == NULL)
    atomic_fetch_add(&held, 1);
  return p;
}
static void held_free(void *p) {
  if (p != NULL)
    atomic_fetch_sub(&held, 1);
  free(p);
}

static atomic_int uv_fail;
static void *uv_malloc_or_fail(size_t n) {
  return atomic_load(&uv_fail) ? NULL : malloc(n);
}

START_TEST(test_fs_prepared_value_freed_when_request_cannot_start) {
  uv_loop_t loop;
  future_t *f[4];
  long left;
  int i;
  atomic_store(&held, 0);
  ck_assert_int_eq(future_set_allocator(held_malloc, held_realloc,
                                        held_calloc, held_free),
                   0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  atomic_store(&uv_fail, 1);
  ck_assert_int_eq(
      uv_replace_allocator(uv_malloc_or_fail, realloc, calloc, free), 0);
  f[0] = future_fs_stat(&loop, tp("f"));     /* a uv_stat_t */
  f[1] = future_fs_statfs(&loop, tp("f"));   /* a uv_statfs_t */
  f[2] = future_fs_mkdtemp(&loop, tp("dXXXXXX")); /* a name */
  f[3] = future_fs_mkstemp(&loop, tp("fXXXXXX")); /* a name and an fd */
  atomic_store(&uv_fail, 0);
  ck_assert_int_eq(uv_replace_allocator(malloc, realloc, calloc, free), 0);
  for (i = 0; i < 4; i++) {
    ck_assert_ptr_nonnull(f[i]);
    ck_assert_int_eq(future_state(f[i]), FUTURE_REJECTED);
    expect_err(f[i], UV_ENOMEM, NULL);
  }
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free), 0);
  left = atomic_load(&held);
  ck_assert_int_eq(left, 0); /* the values made in advance were freed */
  ck_assert_int_eq(dir_entries(root), 0);
}
END_TEST

/* Out of memory: every operation, every allocation (fs_helpers.h). The
 * files it works on: f (a file), w (open for writing), l (a link to f),
 * d (a directory). */

static int sw_rfd = -1, sw_wfd = -1, sw_cfd = -1;
static uv_dir_t *sw_dir, *sw_cdir;
static int sw_cdir_taken;
static char sw_into[16];

static void sw_setup(void) {
  uv_fs_t req;
  put_file(tp("f"), "hello");
  ck_assert_int_eq(symlink("f", tp("l")), 0);
  ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
  put_file(tp("d/e"), "");
  sw_rfd = open(tp("f"), O_RDONLY);
  sw_wfd = open(tp("w"), O_WRONLY | O_CREAT, 0644);
  ck_assert_int_ge(sw_rfd, 0);
  ck_assert_int_ge(sw_wfd, 0);
  ck_assert_int_eq(uv_fs_opendir(NULL, &req, tp("d"), NULL), 0);
  sw_dir = req.ptr;
  uv_fs_req_cleanup(&req);
}

static void sw_teardown(void) {
  uv_fs_t req;
  close(sw_rfd);
  close(sw_wfd);
  uv_fs_closedir(NULL, &req, sw_dir, NULL);
  uv_fs_req_cleanup(&req);
}

static void keep_fd(void *v) { close((int)(intptr_t)v); }
static void keep_tmpfile(void *v) {
  future_fs_tmpfile_t *t = v;
  close(t->fd);
  unlink(t->path);
}
static void keep_tmpdir(void *v) { rmdir(v); }
static void keep_dir(void *v) {
  uv_fs_t req;
  uv_fs_closedir(NULL, &req, v, NULL);
  uv_fs_req_cleanup(&req);
}

static void prep_cfd(void) {
  sw_cfd = open(tp("f"), O_RDONLY);
  ck_assert_int_ge(sw_cfd, 0);
}
static void post_cfd(void) {
  if (fcntl(sw_cfd, F_GETFD) != -1)
    close(sw_cfd);
}
static void prep_cdir(void) {
  uv_fs_t req;
  ck_assert_int_eq(uv_fs_opendir(NULL, &req, tp("d"), NULL), 0);
  sw_cdir = req.ptr;
  uv_fs_req_cleanup(&req);
}
static void post_cdir(void) {
  if (!sw_cdir_taken)
    keep_dir(sw_cdir);
}
static void prep_u(void) { put_file(tp("u"), "x"); }
static void post_u(void) { unlink(tp("u")); }
static void post_r(void) {
  unlink(tp("u"));
  unlink(tp("r"));
}
static void post_c(void) { unlink(tp("c")); }
static void post_h(void) { unlink(tp("h")); }
static void post_s(void) { unlink(tp("s")); }
static void post_m(void) { rmdir(tp("m")); }
static void prep_m(void) { ck_assert_int_eq(mkdir(tp("m"), 0755), 0); }

static future_t *c_open(uv_loop_t *l) {
  return future_fs_open(l, tp("f"), UV_FS_O_RDONLY, 0);
}
static future_t *c_close(uv_loop_t *l) { return future_fs_close(l, sw_cfd); }
static future_t *c_read(uv_loop_t *l) { return future_fs_read(l, sw_rfd, 8, 0); }
static future_t *c_read_into(uv_loop_t *l) {
  return future_fs_read_into(l, sw_rfd, sw_into, sizeof(sw_into), 0);
}
static future_t *c_write(uv_loop_t *l) {
  return future_fs_write(l, sw_wfd, strdup("abc"), 3, 0, free);
}
static future_t *c_sendfile(uv_loop_t *l) {
  return future_fs_sendfile(l, sw_wfd, sw_rfd, 0, 5);
}
static future_t *c_fsync(uv_loop_t *l) { return future_fs_fsync(l, sw_wfd); }
static future_t *c_fdatasync(uv_loop_t *l) {
  return future_fs_fdatasync(l, sw_wfd);
}
static future_t *c_ftruncate(uv_loop_t *l) {
  return future_fs_ftruncate(l, sw_wfd, 2);
}
static future_t *c_stat(uv_loop_t *l) { return future_fs_stat(l, tp("f")); }
static future_t *c_fstat(uv_loop_t *l) { return future_fs_fstat(l, sw_rfd); }
static future_t *c_lstat(uv_loop_t *l) { return future_fs_lstat(l, tp("l")); }
static future_t *c_statfs(uv_loop_t *l) { return future_fs_statfs(l, root); }
static future_t *c_access(uv_loop_t *l) {
  return future_fs_access(l, tp("f"), R_OK);
}
static future_t *c_chmod(uv_loop_t *l) {
  return future_fs_chmod(l, tp("f"), 0644);
}
static future_t *c_fchmod(uv_loop_t *l) {
  return future_fs_fchmod(l, sw_wfd, 0644);
}
static future_t *c_utime(uv_loop_t *l) {
  return future_fs_utime(l, tp("f"), 1e9, 1e9);
}
static future_t *c_futime(uv_loop_t *l) {
  return future_fs_futime(l, sw_wfd, 1e9, 1e9);
}
static future_t *c_lutime(uv_loop_t *l) {
  return future_fs_lutime(l, tp("l"), 1e9, 1e9);
}
static future_t *c_chown(uv_loop_t *l) {
  return future_fs_chown(l, tp("f"), getuid(), getgid());
}
static future_t *c_fchown(uv_loop_t *l) {
  return future_fs_fchown(l, sw_wfd, getuid(), getgid());
}
static future_t *c_lchown(uv_loop_t *l) {
  return future_fs_lchown(l, tp("l"), getuid(), getgid());
}
static future_t *c_unlink(uv_loop_t *l) { return future_fs_unlink(l, tp("u")); }
static future_t *c_rename(uv_loop_t *l) {
  return future_fs_rename(l, tp("u"), tp("r"));
}
static future_t *c_copyfile(uv_loop_t *l) {
  return future_fs_copyfile(l, tp("f"), tp("c"), 0);
}
static future_t *c_link(uv_loop_t *l) {
  return future_fs_link(l, tp("f"), tp("h"));
}
static future_t *c_symlink(uv_loop_t *l) {
  return future_fs_symlink(l, "f", tp("s"), 0);
}
static future_t *c_readlink(uv_loop_t *l) {
  return future_fs_readlink(l, tp("l"));
}
static future_t *c_realpath(uv_loop_t *l) {
  return future_fs_realpath(l, tp("l"));
}
static future_t *c_mkstemp(uv_loop_t *l) {
  return future_fs_mkstemp(l, tp("tXXXXXX"));
}
static future_t *c_mkdir(uv_loop_t *l) {
  return future_fs_mkdir(l, tp("m"), 0755);
}
static future_t *c_mkdtemp(uv_loop_t *l) {
  return future_fs_mkdtemp(l, tp("tXXXXXX"));
}
static future_t *c_rmdir(uv_loop_t *l) { return future_fs_rmdir(l, tp("m")); }
static future_t *c_scandir(uv_loop_t *l) {
  return future_fs_scandir(l, tp("d"));
}
static future_t *c_opendir(uv_loop_t *l) {
  return future_fs_opendir(l, tp("d"));
}
static future_t *c_dir_read(uv_loop_t *l) {
  return future_fs_dir_read(l, sw_dir, 0);
}
static future_t *c_dir_close(uv_loop_t *l) {
  future_t *f = future_fs_dir_close(l, sw_cdir);
  sw_cdir_taken = f != NULL; /* once started, the close is not taken back */
  return f;
}

static const fs_op_t single_ops[] = {
    {"open", NULL, c_open, keep_fd, NULL},
    {"close", prep_cfd, c_close, NULL, post_cfd},
    {"read", NULL, c_read, NULL, NULL},
    {"read_into", NULL, c_read_into, NULL, NULL},
    {"write", NULL, c_write, NULL, NULL},
    {"sendfile", NULL, c_sendfile, NULL, NULL},
    {"fsync", NULL, c_fsync, NULL, NULL},
    {"fdatasync", NULL, c_fdatasync, NULL, NULL},
    {"ftruncate", NULL, c_ftruncate, NULL, NULL},
    {"stat", NULL, c_stat, NULL, NULL},
    {"fstat", NULL, c_fstat, NULL, NULL},
    {"lstat", NULL, c_lstat, NULL, NULL},
    {"statfs", NULL, c_statfs, NULL, NULL},
    {"access", NULL, c_access, NULL, NULL},
    {"chmod", NULL, c_chmod, NULL, NULL},
    {"fchmod", NULL, c_fchmod, NULL, NULL},
    {"utime", NULL, c_utime, NULL, NULL},
    {"futime", NULL, c_futime, NULL, NULL},
    {"lutime", NULL, c_lutime, NULL, NULL},
    {"chown", NULL, c_chown, NULL, NULL},
    {"fchown", NULL, c_fchown, NULL, NULL},
    {"lchown", NULL, c_lchown, NULL, NULL},
    {"unlink", prep_u, c_unlink, NULL, post_u},
    {"rename", prep_u, c_rename, NULL, post_r},
    {"copyfile", NULL, c_copyfile, NULL, post_c},
    {"link", NULL, c_link, NULL, post_h},
    {"symlink", NULL, c_symlink, NULL, post_s},
    {"readlink", NULL, c_readlink, NULL, NULL},
    {"realpath", NULL, c_realpath, NULL, NULL},
    {"mkstemp", NULL, c_mkstemp, keep_tmpfile, NULL},
    {"mkdir", NULL, c_mkdir, NULL, post_m},
    {"mkdtemp", NULL, c_mkdtemp, keep_tmpdir, NULL},
    {"rmdir", prep_m, c_rmdir, NULL, post_m},
    {"scandir", NULL, c_scandir, NULL, NULL},
    {"opendir", NULL, c_opendir, keep_dir, NULL},
    {"dir_read", NULL, c_dir_read, NULL, NULL},
    {"dir_close", prep_cdir, c_dir_close, NULL, post_cdir},
};

START_TEST(test_fs_out_of_memory_everywhere) {
  sw_setup();
  sweep_ops(single_ops, sizeof(single_ops) / sizeof(single_ops[0]));
  sw_teardown();
}
END_TEST

/* Cancel. */

/* Queued behind busy pool threads: the request is taken off the queue,
 * never runs, and the future rejects at once. */
START_TEST(test_fs_cancel_queued) {
  uv_loop_t loop;
  future_t *f[8], *watch;
  int delivered = 0, fds, i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("exists"), "data");
  fds = fd_count();
  block_pool(&loop);
  f[0] = future_fs_open(&loop, tp("created"), UV_FS_O_WRONLY | UV_FS_O_CREAT,
                        0644);
  f[1] = future_fs_mkdir(&loop, tp("dir"), 0755);
  f[2] = future_fs_unlink(&loop, tp("exists"));
  f[3] = future_fs_read_file(&loop, tp("exists"));
  f[4] = future_fs_write_file(&loop, tp("written"), "x", 1, NULL);
  f[5] = future_fs_mkdtemp(&loop, tp("tmpXXXXXX"));
  f[6] = future_fs_rm_r(&loop, tp("exists"), 0);
  f[7] = future_fs_mkdir_p(&loop, tp("p/q/r"), 0755);
  watch = future_then(future_ref(f[0]), count_delivery, NULL, &delivered);
  for (i = 0; i < 8; i++) {
    ck_assert_int_eq(future_cancel(f[i]), 0);
    ck_assert_int_eq(future_state(f[i]), FUTURE_REJECTED);
    ck_assert_int_eq(future_error_code(future_error(f[i])), UV_ECANCELED);
    ck_assert_int_eq(future_cancel(f[i]), FUTURE_ESETTLED);
  }
  expect_err(watch, UV_ECANCELED, NULL);
  for (i = 0; i < 8; i++)
    expect_err(f[i], UV_ECANCELED, "cancelled: operation canceled (ECANCELED)");
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(sleepers_done, pool_size());
  ck_assert_int_eq(delivered, 0);
  /* None of them ran. */
  ck_assert(!exists(tp("created")) && !exists(tp("dir")) &&
            !exists(tp("written")) && !exists(tp("p")));
  ck_assert(exists(tp("exists")));
  ck_assert_int_eq(dir_entries(root), 1);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST


/* The request has run but its result has not reached the loop: cancel
 * must release the result (close the fd, remove the temporary) instead of
 * delivering it. */
START_TEST(test_fs_cancel_completed_releases_results) {
  uv_loop_t loop;
  future_t *f, *watch;
  int delivered = 0, fds, fd;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mkdir(tp("m"), 0755), 0);
  put_file(tp("file"), "some bytes");
  ck_assert_int_eq(symlink("file", tp("link")), 0);
  fds = fd_count();

  /* open: the descriptor is closed again. */
  f = future_fs_open(&loop, tp("new"), UV_FS_O_WRONLY | UV_FS_O_CREAT, 0644);
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  await_path(tp("new"));
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(f, UV_ECANCELED, NULL);
  expect_err(watch, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(fd_count(), fds);

  /* mkstemp: closed and removed. */
  f = future_fs_mkstemp(&loop, tp("m/sXXXXXX"));
  await_entries(tp("m"), 1);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(dir_entries(tp("m")), 0);
  ck_assert_int_eq(fd_count(), fds);

  /* mkdtemp: removed. */
  f = future_fs_mkdtemp(&loop, tp("m/dXXXXXX"));
  await_entries(tp("m"), 1);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(dir_entries(tp("m")), 0);

  /* Values that are memory: freed, never delivered (valgrind watches). */
  fd = open(tp("file"), O_RDONLY);
  ck_assert_int_ge(fd, 0);
  f = future_fs_read(&loop, fd, 16, 0);
  watch = future_then(future_ref(f), count_delivery, NULL, &delivered);
  future_unref(f);
  uv_sleep(50);
  ck_assert_int_eq(future_cancel(watch), 0); /* reaches f: no consumer */
  future_unref(watch);
  f = future_fs_readlink(&loop, tp("link"));
  uv_sleep(50);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  f = future_fs_stat(&loop, tp("file"));
  uv_sleep(50);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  f = future_fs_scandir(&loop, root);
  uv_sleep(50);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);

  /* opendir, and the readdir helper: the directory is closed again. */
  f = future_fs_opendir(&loop, root);
  uv_sleep(50);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  f = future_fs_readdir(&loop, root);
  uv_sleep(50);
  ck_assert_int_eq(future_cancel(f), 0);
  future_unref(f);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(close(fd), 0);
  ck_assert_int_eq(fd_count(), fds);
  ck_assert_int_eq(delivered, 0);
  LOOP_CLOSE(&loop);
}
END_TEST


/* A close is never taken back, even when cancelled while queued. */
START_TEST(test_fs_cancel_close_still_closes) {
  uv_loop_t loop;
  future_t *f;
  int fd, fds;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  fds = fd_count();
  fd = open(tp("f"), O_WRONLY | O_CREAT, 0644);
  ck_assert_int_ge(fd, 0);
  block_pool(&loop);
  f = future_fs_close(&loop, fd);
  ck_assert_int_eq(future_cancel(f), 0);
  expect_err(f, UV_ECANCELED, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
  ck_assert_int_eq(fd_count(), fds);
  LOOP_CLOSE(&loop);
}
END_TEST

START_TEST(test_fs_cancel_after_settle) {
  uv_loop_t loop;
  future_t *f;
  future_result_t r;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "abc");
  f = future_fs_read_file(&loop, tp("f"));
  ck_assert_ptr_nonnull(expect_ok(future_ref(f), &r));
  future_result_release(&r);
  ck_assert_int_eq(future_cancel(f), FUTURE_ESETTLED);
  ck_assert_int_eq(future_state(f), FUTURE_FULFILLED);
  ck_assert_str_eq(((future_buf_t *)future_value(f))->base, "abc");
  future_unref(f);
  f = future_fs_stat(&loop, tp("nope"));
  expect_err(future_ref(f), UV_ENOENT, NULL);
  ck_assert_int_eq(future_cancel(f), FUTURE_ESETTLED);
  ck_assert_int_eq(future_error_code(future_error(f)), UV_ENOENT);
  future_unref(f);
  LOOP_CLOSE(&loop);
}
END_TEST

/* Scale. */

#define MANY 10000

START_TEST(test_fs_scale_10000_stat) {
  uv_loop_t loop;
  future_t **fs = malloc(MANY * sizeof(*fs));
  future_result_t r;
  int i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "12345678");
  for (i = 0; i < MANY; i++) {
    fs[i] = future_fs_stat(&loop, i % 2 ? tp("f") : root);
    ck_assert_ptr_nonnull(fs[i]);
  }
  for (i = 0; i < MANY; i++) {
    uv_stat_t *st = expect_ok(fs[i], &r);
    ck_assert(i % 2 ? st->st_size == 8 : S_ISDIR(st->st_mode));
    future_result_release(&r);
  }
  free(fs);
  LOOP_CLOSE(&loop);
}
END_TEST


/* 10,000 opens cancelled at once, some still queued, some done: not one
 * descriptor leaks. */
START_TEST(test_fs_scale_cancel_10000_opens) {
  uv_loop_t loop;
  future_t **fs = malloc(MANY * sizeof(*fs));
  int i, fds;
  raise_nofile();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  put_file(tp("f"), "x");
  fds = fd_count();
  for (i = 0; i < MANY; i++)
    fs[i] = future_fs_open(&loop, tp("f"), UV_FS_O_RDONLY, 0);
  uv_sleep(20); /* let the pool get through some of them */
  for (i = 0; i < MANY; i++) {
    ck_assert_int_eq(future_cancel(fs[i]), 0);
    future_unref(fs[i]);
  }
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(fd_count(), fds);
  free(fs);
  LOOP_CLOSE(&loop);
}
END_TEST

Suite *make_fs_suite(void) {
  Suite *s = suite_create("fs");
  TCase *core = tcase_create("Core");
  TCase *errors = tcase_create("Errors");
  TCase *cancel = tcase_create("Cancel");
  TCase *scale = tcase_create("Scale");
  TCase *races = tcase_create("Races");
  TCase *memory = tcase_create("Memory");
  TCase *all[] = {core, errors, cancel, scale, races, memory};
  size_t i;
  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    tcase_add_checked_fixture(all[i], setup, teardown);

  tcase_add_test(core, test_fs_open_write_read_close);
  tcase_add_test(core, test_fs_write_takes_buffer_ownership);
  tcase_add_test(core, test_fs_stat_lstat_statfs_access);
  tcase_add_test(core, test_fs_names_and_links);
  tcase_add_test(core, test_fs_mkdir_scandir_rmdir);
  tcase_add_test(core, test_fs_mkdtemp_mkstemp);
  tcase_add_test(core, test_fs_opendir_read_close);
  tcase_add_test(core, test_fs_sendfile);
  tcase_add_test(core, test_fs_values_travel_down_chains);
  tcase_add_test(core, test_fs_copyfile_whole);
  tcase_add_test(core, test_fs_copyfile_behaviour);
  tcase_add_test(core, test_fs_read_buffer_is_nul_terminated);

  tcase_add_test(errors, test_fs_enoent);
  tcase_add_test(errors, test_fs_conf_json_message);
  tcase_add_test(errors, test_fs_eexist);
  tcase_add_test(errors, test_fs_eisdir);
  tcase_add_test(errors, test_fs_enotdir);
  tcase_add_test(errors, test_fs_ebadf);
  tcase_add_test(errors, test_fs_null_arguments);
  tcase_add_test(errors, test_fs_error_origin);
  tcase_add_test(errors, test_fs_error_origin_without_call_site);
  tcase_add_test(errors, test_fs_null_loop_everywhere);
  tcase_add_test(errors, test_fs_null_paths_everywhere);
  tcase_add_test(errors, test_fs_prepared_value_freed_when_request_cannot_start);

  tcase_set_timeout(cancel, 60);
  tcase_add_test(cancel, test_fs_cancel_queued);
  tcase_add_test(cancel, test_fs_cancel_completed_releases_results);
  tcase_add_test(cancel, test_fs_cancel_close_still_closes);
  tcase_add_test(cancel, test_fs_cancel_after_settle);
  tcase_add_test(cancel, test_fs_cancel_copyfile_midway);

  tcase_set_timeout(races, 120);
  tcase_add_test(races, test_fs_copyfile_race_never_leaves_the_dir);

  tcase_set_timeout(scale, 300);
  tcase_add_test(scale, test_fs_scale_10000_stat);
  tcase_add_test(scale, test_fs_scale_cancel_10000_opens);

  suite_add_tcase(s, core);
  suite_add_tcase(s, errors);
  suite_add_tcase(s, cancel);
  suite_add_tcase(s, scale);
  tcase_set_timeout(memory, 120);
  tcase_add_test(memory, test_fs_out_of_memory_everywhere);

  suite_add_tcase(s, races);
  suite_add_tcase(s, memory);
  return s;
}
