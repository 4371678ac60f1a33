/*
 * What the file-system suites share (check_fs.c, check_fs_file.c,
 * check_fs_tree.c): a temporary directory per test and paths in it, ways
 * to wait for a future and check its value or its exact error message,
 * and ways to hold libuv's thread pool busy. Everything is static, so each
 * suite has its own copy and the suites share no state.
 */
#ifndef FUTURE_TEST_FS_HELPERS_H
#define FUTURE_TEST_FS_HELPERS_H

#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#endif

/* Not every suite uses every helper. */
#define FS_TEST_UNUSED __attribute__((unused))

/* How many rounds a race test runs: fewer under valgrind, which runs one
 * thread at a time, slowly; there the rounds check memory, not timing. */
static inline int race_rounds(int n) {
#ifdef HAVE_VALGRIND_MEMCHECK_H
  if (RUNNING_ON_VALGRIND)
    return n / 50 > 2 ? n / 50 : 2;
#endif
  return n;
}

/* The per-test directory and paths in it. */

static char root[64] FS_TEST_UNUSED;

static inline int remove_entry(const char *p, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static inline void setup(void) {
  strcpy(root, "/tmp/libfuture-fs-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
}

static inline void teardown(void) {
  nftw(root, remove_entry, 64, FTW_DEPTH | FTW_PHYS);
}

/* A path in the test directory; eight of them may be in use at once. */
static inline const char *tp(const char *fmt, ...) FUTURE_PRINTF(1, 2);
static inline const char *tp(const char *fmt, ...) {
  static char ring[8][4096];
  static unsigned next;
  char *b = ring[next++ % 8];
  int n = snprintf(b, 4096, "%s/", root);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b + n, 4096 - (size_t)n, fmt, ap);
  va_end(ap);
  return b;
}

static inline void put_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  ck_assert_ptr_nonnull(fp);
  fputs(text, fp);
  ck_assert_int_eq(fclose(fp), 0);
}

static inline int exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static inline int fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL)
    n++;
  closedir(d);
  return n;
}

static inline int dir_entries(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

/* Waiting. */

#define expect_ok(f, r) expect_ok_at((f), (r), __LINE__)
static inline void *expect_ok_at(future_t *f, future_result_t *r, int line) {
  int st = future_wait(f, r);
  ck_assert_msg(st == 0, "line %d: expected success, got %s", line,
                r->error != NULL ? future_error_message(r->error) : "?");
  return r->value;
}

/* Wait for `f`, expect `code` and, unless NULL, this exact message. */
#define expect_err(f, code, msg) expect_err_at((f), (code), (msg), __LINE__)
static inline void expect_err_at(future_t *f, int code, const char *msg, int line) {
  future_result_t r;
  int st = future_wait(f, &r);
  ck_assert_msg(st == code, "line %d: expected %s, got %s (%s)", line,
                future_err_name(code), future_err_name(st),
                r.error != NULL ? future_error_message(r.error) : "fulfilled");
  if (msg != NULL)
    ck_assert_str_eq(future_error_message(r.error), msg);
  future_result_release(&r);
}

static inline void wait_done(future_t *f) {
  future_result_t r;
  expect_ok(f, &r);
  future_result_release(&r);
}

static inline intptr_t wait_int(future_t *f) {
  future_result_t r;
  intptr_t v = (intptr_t)expect_ok(f, &r);
  future_result_release(&r);
  return v;
}

/* A message as "OP 'PATH': TEXT (NAME)". */
static inline const char *msg(const char *op, const char *path, int code) {
  static char b[8192];
  snprintf(b, sizeof(b), "%s '%s': %s (%s)", op, path, future_strerror(code),
           future_err_name(code));
  return b;
}

/* A continuation that counts deliveries: a cancelled future must never
 * reach one. */
static inline future_t *count_delivery(future_t *settled, void *data) {
  (*(int *)data)++;
  return future_ref(settled);
}

static int dtor_calls FS_TEST_UNUSED;
static inline void count_free(void *p) {
  dtor_calls++;
  free(p);
}

/* Fill libuv's thread pool with sleepers, so that what is queued next
 * stays queued until they finish. */
#define POOL_MAX 128
static uv_work_t sleepers[POOL_MAX] FS_TEST_UNUSED;
static int sleepers_done FS_TEST_UNUSED;

static inline void sleep_work(uv_work_t *w) {
  (void)w;
  uv_sleep(300);
}

static inline void sleep_after(uv_work_t *w, int status) {
  (void)w;
  (void)status;
  sleepers_done++;
}

static inline int pool_size(void) {
  const char *s = getenv("UV_THREADPOOL_SIZE");
  int n = s != NULL ? atoi(s) : 4;
  if (n < 1)
    n = 4;
  return n > POOL_MAX ? POOL_MAX : n;
}

static inline void block_pool(uv_loop_t *loop) {
  int i;
  sleepers_done = 0;
  for (i = 0; i < pool_size(); i++)
    ck_assert_int_eq(uv_queue_work(loop, &sleepers[i], sleep_work, sleep_after),
                     0);
}

/* Raise the soft limit on open files to the hard one: thousands of files
 * may be open at once. */
static inline void raise_nofile(void) {
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}


/* Wait until `path` exists: the request behind it has run. */
static inline void await_path(const char *path) {
  int i;
  for (i = 0; i < 5000 && !exists(path); i++)
    uv_sleep(1);
  ck_assert_msg(exists(path), "%s never appeared", path);
  uv_sleep(20); /* let the pool post the result */
}

static inline void await_entries(const char *path, int n) {
  int i;
  for (i = 0; i < 5000 && dir_entries(path) < n; i++)
    uv_sleep(1);
  ck_assert_int_ge(dir_entries(path), n);
  uv_sleep(20);
}


/* Allocation failures, one operation at a time, as check_alloc.c does for
 * whole scenarios: the library's allocator fails its k-th allocation, for
 * every k until the operation needs no more; then libuv's allocator fails
 * while the operation starts. Every failure must surface as a NULL future
 * or a UV_ENOMEM rejection and leave nothing behind: no memory, no
 * descriptor, no file or directory that the operation made. */
typedef struct {
  const char *name;
  void (*prep)(void);                 /* before each try, without the library */
  future_t *(*call)(uv_loop_t *loop); /* the operation */
  void (*keep)(void *value);          /* release a value that is a resource */
  void (*post)(void);                 /* after each try: undo a success */
} fs_op_t;

static atomic_long sw_calls FS_TEST_UNUSED, sw_fail_at FS_TEST_UNUSED,
    sw_held FS_TEST_UNUSED;
static atomic_int sw_uv_fail FS_TEST_UNUSED;
/* Set by a test whose operation must not meet a failure of libuv's own
 * allocator (a bug of libuv's there, not the library's: see its use). */
static int sw_skip_uv_fail FS_TEST_UNUSED;

static inline int sw_fails(void) {
  long k = atomic_fetch_add(&sw_calls, 1) + 1;
  return k == atomic_load(&sw_fail_at);
}
static inline void *sw_malloc(size_t n) {
  void *p = sw_fails() ? NULL : malloc(n);
  if (p != NULL)
    atomic_fetch_add(&sw_held, 1);
  return p;
}
static inline void *sw_calloc(size_t c, size_t n) {
  void *p = sw_fails() ? NULL : calloc(c, n);
  if (p != NULL)
    atomic_fetch_add(&sw_held, 1);
  return p;
}
static inline void *sw_realloc(void *o, size_t n) {
  void *p = sw_fails() ? NULL : realloc(o, n);
  if (p != NULL && o == NULL)
    atomic_fetch_add(&sw_held, 1);
  return p;
}
static inline void sw_free(void *p) {
  if (p != NULL)
    atomic_fetch_sub(&sw_held, 1);
  free(p);
}
static inline void *sw_uv_malloc(size_t n) {
  return atomic_load(&sw_uv_fail) ? NULL : malloc(n);
}

/* One try: 0 or UV_ENOMEM, whatever the operation gave. */
static inline int sweep_try(const fs_op_t *op, long fail_at, int uv_fail) {
  uv_loop_t loop;
  future_result_t r;
  future_t *f;
  int rc, fds, entries;
  fds = fd_count();
  entries = dir_entries(root);
  if (op->prep != NULL)
    op->prep();
  atomic_store(&sw_calls, 0);
  atomic_store(&sw_fail_at, fail_at);
  atomic_store(&sw_held, 0);
  ck_assert_int_eq(future_set_allocator(sw_malloc, sw_realloc, sw_calloc,
                                        sw_free),
                   0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  if (uv_fail) {
    atomic_store(&sw_uv_fail, 1);
    ck_assert_int_eq(uv_replace_allocator(sw_uv_malloc, realloc, calloc,
                                          free),
                     0);
  }
  f = op->call(&loop);
  if (uv_fail) {
    atomic_store(&sw_uv_fail, 0);
    ck_assert_int_eq(uv_replace_allocator(malloc, realloc, calloc, free), 0);
  }
  if (f == NULL) {
    rc = UV_ENOMEM;
  } else {
    rc = future_wait(f, &r);
    if (rc == 0 && op->keep != NULL)
      op->keep(r.value);
    future_result_release(&r);
  }
  atomic_store(&sw_fail_at, 0);
  LOOP_CLOSE(&loop);
  ck_assert_int_eq(future_set_allocator(malloc, realloc, calloc, free), 0);
  ck_assert_msg(rc == 0 || rc == UV_ENOMEM,
                "%s: allocation %ld failed (libuv's: %d) and gave %s",
                op->name, fail_at, uv_fail, future_strerror(rc));
  ck_assert_msg(atomic_load(&sw_held) == 0,
                "%s: allocation %ld failed: %ld blocks left", op->name,
                fail_at, atomic_load(&sw_held));
  if (op->post != NULL)
    op->post();
  ck_assert_msg(fd_count() == fds,
                "%s: allocation %ld failed (libuv's: %d): %d descriptors left",
                op->name, fail_at, uv_fail, fd_count() - fds);
  ck_assert_msg(dir_entries(root) == entries,
                "%s: allocation %ld failed (libuv's: %d): %d entries left",
                op->name, fail_at, uv_fail, dir_entries(root) - entries);
  return rc;
}

static inline void sweep_ops(const fs_op_t *ops, size_t n) {
  uv_loop_t loop;
  future_result_t r;
  size_t i;
  /* One allocation per future, none from a pool: the same count each
   * time. */
  setenv("FUTURE_POOL", "0", 1);
  /* What libuv opens once per process (the thread pool, its signal pipe)
   * is opened now, not counted as left by the first try. */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(future_wait(future_fs_stat(&loop, root), &r), 0);
  future_result_release(&r);
  LOOP_CLOSE(&loop);
  for (i = 0; i < n; i++) {
    long k, total = 0;
    int failures = 0;
    for (k = 0;; k++) {
      int rc = sweep_try(&ops[i], k, 0);
      if (k == 0) {
        ck_assert_msg(rc == 0, "%s fails with memory to spare: %s",
                      ops[i].name, future_strerror(rc));
        total = atomic_load(&sw_calls);
      } else {
        failures += rc != 0;
        if (k >= total)
          break;
      }
    }
    ck_assert_msg(failures > 0, "%s: no failure seen", ops[i].name);
    if (!sw_skip_uv_fail)
      sweep_try(&ops[i], 0, 1);
  }
  unsetenv("FUTURE_POOL");
}

/* Races: a thread exchanges two names over and over with
 * renameat2(RENAME_EXCHANGE), typically a directory of a tree and a
 * symbolic link to a directory outside it, while an operation runs; the
 * test then checks that the operation never reached outside. */

typedef struct {
  char a[4096], b[4096]; /* the names exchanged */
  atomic_int go;         /* exchange while set */
  atomic_int stop;
  atomic_ulong loops;    /* passes of the thread's loop */
  atomic_ulong swaps;    /* exchanges that took place */
  uv_thread_t tid;
} swapper_t;

static inline void swapper_run(void *arg) {
  swapper_t *s = arg;
  while (!atomic_load(&s->stop)) {
    if (atomic_load(&s->go)) {
      if (renameat2(AT_FDCWD, s->a, AT_FDCWD, s->b, RENAME_EXCHANGE) == 0)
        atomic_fetch_add(&s->swaps, 1);
#ifdef HAVE_VALGRIND_MEMCHECK_H
      /* valgrind runs one thread at a time and hands over unfairly: a
       * thread that loops on system calls can keep the others (the
       * operation under test) from running at all. */
      if (RUNNING_ON_VALGRIND)
        sched_yield();
#endif
    } else {
      sched_yield();
    }
    atomic_fetch_add(&s->loops, 1);
  }
}

static inline void swapper_start(swapper_t *s, const char *a, const char *b) {
  snprintf(s->a, sizeof(s->a), "%s", a);
  snprintf(s->b, sizeof(s->b), "%s", b);
  atomic_init(&s->go, 0);
  atomic_init(&s->stop, 0);
  atomic_init(&s->loops, 0);
  atomic_init(&s->swaps, 0);
  ck_assert_int_eq(uv_thread_create(&s->tid, swapper_run, s), 0);
}

/* Start exchanging, and return once the first exchange of this round is
 * done: the swapper is then surely at work while the operation under test
 * runs, however loaded the machine (or slow valgrind) makes its thread. */
static inline void swapper_go(swapper_t *s) {
  unsigned long n = atomic_load(&s->swaps);
  atomic_store(&s->go, 1);
  while (atomic_load(&s->swaps) == n)
    sched_yield();
}

/* Stop exchanging, and wait until an exchange in progress is over: two
 * more passes, the second of which began after `go` was cleared. */
static inline void swapper_pause(swapper_t *s) {
  unsigned long n;
  atomic_store(&s->go, 0);
  n = atomic_load(&s->loops);
  while (atomic_load(&s->loops) < n + 2)
    sched_yield();
}

static inline void swapper_stop(swapper_t *s) {
  atomic_store(&s->stop, 1);
  ck_assert_int_eq(uv_thread_join(&s->tid), 0);
}

/* outside/: RACE_FILES files and a directory holding one more, each
 * holding "precious", for a race test to check that nothing of it was
 * read, written or deleted; named as the files of the trees under attack,
 * so that a walk redirected there by a link finds something to act on. */
#define RACE_FILES 8
#define RACE_ROUNDS race_rounds(300)

static inline void race_outside(void) {
  int i;
  ck_assert_int_eq(mkdir(tp("outside"), 0755), 0);
  for (i = 0; i < RACE_FILES; i++)
    put_file(tp("outside/f%d", i), "precious");
  ck_assert_int_eq(mkdir(tp("outside/d"), 0755), 0);
  put_file(tp("outside/d/f0"), "precious");
}

/* A thread that removes the entries top/dN/f, top/dN, top/fN and top/lN
 * (N from 49 down to 0) over and over while an operation walks top: what
 * vanishes meanwhile must be skipped, never make an error. */
typedef struct {
  char top[4096];
  atomic_int stop;
  uv_thread_t tid;
} vanisher_t;

static inline void vanisher_run(void *arg) {
  vanisher_t *v = arg;
  char p[4200];
  int i;
  while (!atomic_load(&v->stop)) {
    for (i = 49; i >= 0; i--) {
      snprintf(p, sizeof(p), "%s/d%d/f", v->top, i);
      unlink(p);
      snprintf(p, sizeof(p), "%s/d%d", v->top, i);
      rmdir(p);
      snprintf(p, sizeof(p), "%s/f%d", v->top, i);
      unlink(p);
      snprintf(p, sizeof(p), "%s/l%d", v->top, i);
      unlink(p);
    }
  }
}

static inline void vanisher_start(vanisher_t *v, const char *top) {
  snprintf(v->top, sizeof(v->top), "%s", top);
  atomic_store(&v->stop, 0);
  ck_assert_int_eq(uv_thread_create(&v->tid, vanisher_run, v), 0);
}

static inline void vanisher_stop(vanisher_t *v) {
  atomic_store(&v->stop, 1);
  ck_assert_int_eq(uv_thread_join(&v->tid), 0);
}

/* Remove a tree without the library (and without following links), the
 * swapper paused. */
static inline void remove_tree(const char *path) {
  if (exists(path))
    nftw(path, remove_entry, 64, FTW_DEPTH | FTW_PHYS);
}

#endif
