/*
 * The tree walks: readdir (a directory in batches), scandir_stat (a
 * directory and each entry's lstat, in one job), mkdir_p and rm_r
 * (fs_internal.h says how an operation is laid out and how it ends).
 */
#define _GNU_SOURCE /* getdents64's number, fdopendir, O_DIRECTORY */
#include "fs_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* readdir: opendir, readdir in batches until the end, closedir. */

#define RD_BATCH 64

typedef struct {
  future__fs_base_t b;
  int opened;
  uv_dir_t *dir;
  future__fs_db_t db;
  uv_dirent_t ents[RD_BATCH];
  char path[];
} readdir_t;

static void readdir_release(future__fs_base_t *b) {
  readdir_t *op = (readdir_t *)b;
  future__fs_db_free(&op->db);
  future__free(op);
}

static void readdir_step(uv_fs_t *req) {
  readdir_t *op = req->data;
  future__fs_base_t *b = &op->b;
  ssize_t r = req->result;
  int rc = 0;
  ssize_t i;

  if (!op->opened && r >= 0) {
    op->dir = req->ptr;
    b->close_dir = op->dir;
  }
  for (i = 0; op->opened && rc == 0 && i < r; i++)
    rc = future__fs_db_add(&op->db, op->ents[i].name, op->ents[i].type);
  uv_fs_req_cleanup(req);
  if (future__fs_cancelled(b)) {
    future__fs_end(b);
    return;
  }
  if (r < 0 || rc < 0) {
    b->err = FS_ERR(b, r < 0 ? (int)r : rc, op->opened ? "readdir" : "opendir",
                    op->path, NULL);
    future__fs_end(b);
    return;
  }
  if (op->opened && r == 0) {
    b->value = future__fs_db_finish(&op->db);
    b->dtor = future__free;
    if (b->value == NULL)
      b->err = FS_ERR(b, UV_ENOMEM, "readdir", op->path, NULL);
    future__fs_end(b);
    return;
  }
  op->opened = 1;
  op->dir->dirents = op->ents;
  op->dir->nentries = RD_BATCH;
  rc = uv_fs_readdir(b->loop, req, op->dir, readdir_step);
  if (rc < 0) {
    b->err = FS_ERR(b, rc, "readdir", op->path, NULL);
    uv_fs_req_cleanup(req);
    future__fs_end(b);
  }
}

future_t *future_fs_readdir(uv_loop_t *loop, const char *path) {
  readdir_t *op;
  future_t *f;
  int rc;
  FS_NEED(path != NULL, "readdir", "NULL path");
  op = future__fs_alloc(loop, __func__, sizeof(*op), strlen(path) + 1,
                        readdir_release);
  if (op == NULL)
    return NULL;
  strcpy(op->path, path);
  op->b.path = op->path;
  FS_TRACE(&op->b, -1);
  f = op->b.f;
  rc = uv_fs_opendir(loop, &op->b.req, path, readdir_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "opendir", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    future__fs_end(&op->b);
  }
  return f;
}

/* scandir_stat: one job on libuv's pool opens the directory, reads it,
 * lstats each entry relative to the directory's descriptor (fstatat), and
 * closes it; the loop sees one completion per directory. The entries are
 * gathered where the value will have them: in a growing block that starts
 * with room for the value's header (SS_HEAD bytes); the names go to a
 * buffer of their own (each entry's name holds an offset into it until
 * the end), and are copied after the entries once the block has its final
 * size. */

#define SS_HEAD                                                                \
  ((sizeof(future_fs_stat_entries_t) + sizeof(void *) - 1) / sizeof(void *) * \
   sizeof(void *))

typedef struct {
  future__fs_job_t j;
  const char *what;  /* the step that failed */
  char *block;       /* SS_HEAD bytes, then cap entries */
  size_t n, cap;
  char *names;
  size_t nlen, ncap;
  future_fs_stat_entries_t *value; /* the block, once made */
  char path[];
} scandir_stat_t;

#define SS_ENTS(op) ((future_fs_stat_entry_t *)((op)->block + SS_HEAD))

static void scandir_stat_release(future__fs_base_t *b) {
  scandir_stat_t *op = (scandir_stat_t *)b;
  future__free(op->block);
  future__free(op->names);
  future__free(op);
}

static void ss_timespec(uv_timespec_t *to, const struct timespec *from) {
  to->tv_sec = from->tv_sec;
  to->tv_nsec = from->tv_nsec;
}

/* What libuv's uv_fs_lstat fills in from the same struct stat. */
static void ss_to_uv(uv_stat_t *to, const struct stat *st) {
  to->st_flags = 0;
  to->st_gen = 0;
  to->st_dev = st->st_dev;
  to->st_mode = st->st_mode;
  to->st_nlink = st->st_nlink;
  to->st_uid = st->st_uid;
  to->st_gid = st->st_gid;
  to->st_rdev = st->st_rdev;
  to->st_ino = st->st_ino;
  to->st_size = st->st_size;
  to->st_blksize = st->st_blksize;
  to->st_blocks = st->st_blocks;
  ss_timespec(&to->st_atim, &st->st_atim);
  ss_timespec(&to->st_mtim, &st->st_mtim);
  ss_timespec(&to->st_ctim, &st->st_ctim);
  ss_timespec(&to->st_birthtim, &st->st_ctim); /* as libuv without statx */
}

static uv_dirent_type_t ss_type_of_mode(mode_t m) {
  switch (m & S_IFMT) {
  case S_IFREG: return UV_DIRENT_FILE;
  case S_IFDIR: return UV_DIRENT_DIR;
  case S_IFLNK: return UV_DIRENT_LINK;
  case S_IFIFO: return UV_DIRENT_FIFO;
  case S_IFSOCK: return UV_DIRENT_SOCKET;
  case S_IFCHR: return UV_DIRENT_CHAR;
  case S_IFBLK: return UV_DIRENT_BLOCK;
  default: return UV_DIRENT_UNKNOWN;
  }
}

static uv_dirent_type_t ss_type_of_dirent(unsigned char t) {
  switch (t) {
  case DT_REG: return UV_DIRENT_FILE;
  case DT_DIR: return UV_DIRENT_DIR;
  case DT_LNK: return UV_DIRENT_LINK;
  case DT_FIFO: return UV_DIRENT_FIFO;
  case DT_SOCK: return UV_DIRENT_SOCKET;
  case DT_CHR: return UV_DIRENT_CHAR;
  case DT_BLK: return UV_DIRENT_BLOCK;
  default: return UV_DIRENT_UNKNOWN;
  }
}

/* Add the entry `name` (lstat'ed from `dirfd`); UV_ENOMEM when out of
 * memory. */
static int ss_add(scandir_stat_t *op, int dirfd, const char *name,
                  unsigned char dtype) {
  size_t len = strlen(name) + 1;
  future_fs_stat_entry_t *e;
  struct stat st;
  if (op->n == op->cap) {
    size_t cap = op->cap ? 2 * op->cap : 128;
    void *p = cap < (SIZE_MAX - SS_HEAD) / sizeof(*e)
                  ? future__realloc(op->block, SS_HEAD + cap * sizeof(*e))
                  : NULL;
    if (p == NULL)
      return UV_ENOMEM;
    op->block = p;
    op->cap = cap;
  }
  if (op->ncap - op->nlen < len) {
    size_t cap = op->ncap ? op->ncap : 1024;
    char *p;
    while (cap - op->nlen < len && cap < SIZE_MAX / 2)
      cap *= 2;
    p = future__realloc(op->names, cap);
    if (p == NULL)
      return UV_ENOMEM;
    op->names = p;
    op->ncap = cap;
  }
  memcpy(op->names + op->nlen, name, len);
  e = &SS_ENTS(op)[op->n++];
  e->name = (const char *)(uintptr_t)op->nlen; /* an offset, until done */
  op->nlen += len;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    e->error = 0;
    e->type = ss_type_of_mode(st.st_mode);
    ss_to_uv(&e->stat, &st);
  } else {
    e->error = uv_translate_sys_error(errno);
    e->type = ss_type_of_dirent(dtype);
    memset(&e->stat, 0, sizeof(e->stat));
  }
  return 0;
}

/* On a pool thread. */
static void scandir_stat_run(future__fs_job_t *j) {
  scandir_stat_t *op = (scandir_stat_t *)j;
  int rc = 0, fd = open(op->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir;
  if (fd < 0) {
    op->what = "open";
    j->code = uv_translate_sys_error(errno);
    return;
  }
  dir = fdopendir(fd);
  if (dir == NULL) {
    op->what = "opendir";
    j->code = uv_translate_sys_error(errno);
    close(fd);
    return;
  }
  op->what = "readdir";
  for (;;) {
    struct dirent *d;
    if (future__fs_job_stopped(j)) {
      rc = UV_ECANCELED;
      break;
    }
    errno = 0;
    d = readdir(dir);
    if (d == NULL) {
      if (errno != 0)
        rc = uv_translate_sys_error(errno);
      break;
    }
    if (d->d_name[0] == '.' &&
        (d->d_name[1] == '\0' || (d->d_name[1] == '.' && d->d_name[2] == '\0')))
      continue;
    if ((rc = ss_add(op, fd, d->d_name, d->d_type)) < 0)
      break;
  }
  closedir(dir); /* closes fd */
  if (rc == 0) {
    /* The value: the block, at its final size (header, entries, names). */
    size_t i, ents = op->n * sizeof(future_fs_stat_entry_t);
    char *v = future__realloc(op->block, SS_HEAD + ents + op->nlen);
    if (v == NULL) {
      rc = UV_ENOMEM;
    } else {
      future_fs_stat_entries_t *d = (future_fs_stat_entries_t *)v;
      char *names = v + SS_HEAD + ents;
      op->block = v;
      d->count = op->n;
      d->entries = op->n ? SS_ENTS(op) : NULL;
      if (op->nlen)
        memcpy(names, op->names, op->nlen);
      for (i = 0; i < op->n; i++)
        d->entries[i].name = names + (uintptr_t)d->entries[i].name;
      op->value = d;
    }
  }
  j->code = rc;
}

/* On the loop's thread, after the job, unless cancelled meanwhile. */
static void scandir_stat_done(future__fs_job_t *j) {
  scandir_stat_t *op = (scandir_stat_t *)j;
  if (j->code < 0) {
    j->b.err = FS_ERR(&j->b, j->code, op->what, op->path, NULL);
    return;
  }
  j->b.value = op->value;
  j->b.dtor = future__free;
  op->block = NULL; /* the value's now */
}

future_t *future_fs_scandir_stat(uv_loop_t *loop, const char *path) {
  scandir_stat_t *op;
  FS_NEED(path != NULL, "scandir_stat", "NULL path");
  op = future__fs_job_new(loop, __func__, sizeof(*op), strlen(path) + 1,
                          scandir_stat_release, scandir_stat_run,
                          scandir_stat_done);
  if (op == NULL)
    return NULL;
  strcpy(op->path, path);
  op->j.b.path = op->path;
  op->what = "open";
  return future__fs_job_start(&op->j);
}

/* mkdir_p: one job on libuv's pool goes down the path one component at a
 * time from a directory descriptor (mkdirat, then openat of what it made
 * or found), so that each component is resolved once, relative to the
 * directory above it, and each directory is made inside the one that was
 * opened before it. A walk by full paths resolves "a", then "a/b" anew,
 * and so on: swap "a" for a link between two steps and "a/b" is made
 * elsewhere. The directories that already exist are followed when they
 * are links, as mkdir -p does; those made here are entered with
 * O_NOFOLLOW, so that one swapped for a link right after its making is an
 * error (ELOOP), never followed. One job rather than a request per
 * component, because libuv has no mkdirat or openat; a cancel is noticed
 * before each component. */

typedef struct {
  future__fs_job_t j;
  int mode;
  size_t len;   /* of the normalised path */
  size_t first; /* the length of the first directory made, or 0 */
  /* The failure: the step, and how much of the path it is about. */
  const char *err_op;
  size_t err_len;
  int err_line;
  char path[];  /* normalised: no repeated or trailing slash */
} mkdir_p_t;

#define MP_FAIL(op, what, e, len) mp_fail((op), (what), (e), (len), __LINE__)
static int mp_fail(mkdir_p_t *op, const char *what, int e, size_t len,
                   int line) {
  op->err_op = what;
  op->err_len = len;
  op->err_line = line;
  return uv_translate_sys_error(e);
}

/* The walk, from `*dirfd` (AT_FDCWD, or the descriptor it leaves open for
 * the caller to close). */
static int mp_walk(mkdir_p_t *op, int *dirfd) {
  char *p = op->path;
  size_t i = 0, end;
  if (op->len == 0)
    return MP_FAIL(op, "mkdir", ENOENT, 0);
  if (p[0] == '/') {
    *dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
      return MP_FAIL(op, "open", errno, 1);
    i = 1;
  }
  for (; i < op->len; i = end + 1) {
    int made, fd;
    if (future__fs_job_stopped(&op->j))
      return UV_ECANCELED;
    for (end = i; end < op->len && p[end] != '/'; end++)
      ;
    p[end] = '\0'; /* the component alone, for the *at calls */
    made = mkdirat(*dirfd, p + i, (mode_t)op->mode) == 0;
    if (!made && errno != EEXIST) {
      int e = errno;
      p[end] = end < op->len ? '/' : '\0';
      return MP_FAIL(op, "mkdir", e, end);
    }
    if (made && op->first == 0)
      op->first = end;
    if (end == op->len) {
      /* The last: made, or there already, which is fine if it is a
       * directory (or a link to one). */
      struct stat st;
      if (made)
        return 0;
      if (fstatat(*dirfd, p + i, &st, 0) != 0)
        return MP_FAIL(op, "stat", errno, end);
      return S_ISDIR(st.st_mode) ? 0 : MP_FAIL(op, "mkdir", EEXIST, end);
    }
    fd = openat(*dirfd, p + i,
                O_RDONLY | O_DIRECTORY | O_CLOEXEC | (made ? O_NOFOLLOW : 0));
    p[end] = '/';
    if (fd < 0) {
      /* Something that is not a directory in the way: as mkdir of the
       * whole path would say. */
      if (errno == ENOTDIR && !made)
        return MP_FAIL(op, "mkdir", ENOTDIR, op->len);
      return MP_FAIL(op, "open", errno, end);
    }
    if (*dirfd != AT_FDCWD)
      close(*dirfd);
    *dirfd = fd;
  }
  return 0;
}

static void mkdir_p_run(future__fs_job_t *j) {
  mkdir_p_t *op = (mkdir_p_t *)j;
  int dirfd = AT_FDCWD;
  j->code = mp_walk(op, &dirfd);
  if (dirfd >= 0)
    close(dirfd);
}

static void mkdir_p_done(future__fs_job_t *j) {
  mkdir_p_t *op = (mkdir_p_t *)j;
  future__fs_base_t *b = &j->b;
  if (j->code < 0) {
    char saved = op->path[op->err_len];
    op->path[op->err_len] = '\0';
    b->err = future__fs_err(b, __FILE__, op->err_line, j->code, op->err_op,
                            op->path, NULL, -1, -1);
    op->path[op->err_len] = saved;
    return;
  }
  if (op->first > 0) {
    char *v = future__malloc(op->first + 1);
    if (v == NULL) {
      b->err = FS_ERR(b, UV_ENOMEM, "mkdir", op->path, NULL);
      return;
    }
    memcpy(v, op->path, op->first);
    v[op->first] = '\0';
    b->value = v;
    b->dtor = future__free;
  }
}

future_t *future_fs_mkdir_p(uv_loop_t *loop, const char *path, int mode) {
  mkdir_p_t *op;
  const char *s;
  char *d;
  FS_NEED(path != NULL, "mkdir", "NULL path");
  op = future__fs_job_new(loop, __func__, sizeof(*op), strlen(path) + 1,
                          future__fs_release_plain, mkdir_p_run,
                          mkdir_p_done);
  if (op == NULL)
    return NULL;
  /* Normalise: no repeated slashes, no trailing slash (but "/" stays). */
  for (s = path, d = op->path; *s != '\0'; s++)
    if (*s != '/' || d == op->path || d[-1] != '/')
      *d++ = *s;
  if (d - op->path > 1 && d[-1] == '/')
    d--;
  *d = '\0';
  op->len = (size_t)(d - op->path);
  op->mode = mode;
  op->j.b.path = op->path;
  return future__fs_job_start(&op->j);
}

/* rm_r: one job on libuv's pool walks the tree with directory descriptors
 * (fstatat, openat, unlinkat relative to the directory being emptied) and
 * never resolves a path from the top again, so that nothing renamed, or
 * swapped for a symbolic link, while it runs can lead it out of the tree.
 * A walk by full paths can be led out: between its look at "t/sub" and
 * its removal of "t/sub/f", "t/sub" may have become a link to elsewhere
 * (CVE-2022-21658 was this bug in Rust's remove_dir_all).
 *
 * Each directory is looked at with fstatat (no following), opened with
 * O_NOFOLLOW | O_DIRECTORY, and checked with fstat to be the directory
 * that was looked at (st_dev, st_ino): something swapped in between is
 * looked at again, never entered.
 *
 * One job for the whole walk rather than one per directory: the walk's
 * descriptors then live and die on one thread within one call, no state
 * crosses trips through the pool, and a cancel is noticed before each
 * entry through the job's flag rather than only between trips. The price
 * is that a huge tree holds one pool thread until it is gone, as
 * uv_fs_scandir of a huge directory does.
 *
 * The walk keeps a stack of frames, one per directory from the top down,
 * of which at most RM_FDS, the deepest, have a descriptor open, so that a
 * tree of any depth needs a bounded number of files (RM_FDS + 2 at most,
 * fewer if the process runs short: then the walk closes more). A frame
 * closed on the way down is opened again on the way up, with openat(child,
 * "..") from the directory just emptied, and checked to be the same
 * directory as before; if it is not (the tree was moved meanwhile), the
 * walk stops with UV_EAGAIN rather than guess where the rest of it went.
 *
 * Entries are read with getdents64 into buffers from the library's
 * allocator (one of RM_BUF bytes per open frame) rather than with readdir,
 * whose buffer libc allocates unseen by future_set_allocator; systems
 * without getdents64 use readdir on fdopendir. The job allocates on its
 * pool thread (the allocator is thread-safe by contract) and leaves the
 * making of the error, if any, to the loop's thread. */

#if defined(__linux__) && defined(SYS_getdents64) &&                          \
    !defined(FUTURE_FS_READDIR)
#define RM_GETDENTS 1
#endif

#define RM_FDS 16    /* directory descriptors a walk keeps open at most */
#define RM_BUF 8192  /* bytes of entries one getdents64 reads */
#define RM_TRIES 8   /* looks at an entry that keeps changing, at most */

typedef struct {
  int fd;           /* -1 while closed: a frame above the open ones */
  dev_t dev;        /* what the directory is: checked at every opening */
  ino_t ino;
  size_t plen;      /* the length of its path in the path buffer */
  size_t name;      /* where its name starts there */
#ifdef RM_GETDENTS
  size_t pos, end;  /* the entries read and not yet handled, in its buffer */
#else
  DIR *dir;         /* from the first read on (then it owns fd) */
#endif
} rm_frame_t;

typedef struct {
  future__fs_job_t j;
  unsigned int flags;
  int parent;             /* the directory that holds the top */
  char *path;             /* the path of what the walk is at, for errors */
  size_t plen, pcap;
  rm_frame_t *frames;
  size_t depth, fcap;
  size_t open;            /* frames with a descriptor: the deepest ones */
#ifdef RM_GETDENTS
  char *bufs[RM_FDS];     /* frame i reads into bufs[i % RM_FDS] */
#endif
  /* The failure, for the loop's thread to make into an error. */
  const char *err_op;
  const char *err_path;
  int err_line;
  char top[];             /* the path as given, trailing slashes cut */
} rm_t;

#ifdef RM_GETDENTS
struct rm_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};
#endif

static void rm_release(future__fs_base_t *b) {
  rm_t *op = (rm_t *)b;
#ifdef RM_GETDENTS
  size_t i;
  for (i = 0; i < RM_FDS; i++)
    future__free(op->bufs[i]);
#endif
  future__free(op->frames);
  future__free(op->path);
  future__free(op);
}

/* Remember a failure (an errno value) of step `what` at the path in the
 * buffer, cut at `len`; the error is made on the loop's thread. */
#define RM_FAIL(op, what, e, len) rm_fail((op), (what), (e), (len), __LINE__)
static int rm_fail(rm_t *op, const char *what, int e, size_t len, int line) {
  op->err_op = what;
  op->err_path = op->path;
  op->plen = len;
  op->path[len] = '\0';
  op->err_line = line;
  return uv_translate_sys_error(e);
}

/* Room for `n` bytes of path. */
static int rm_room(rm_t *op, size_t n) {
  char *p;
  size_t cap;
  if (n <= op->pcap)
    return 0;
  for (cap = op->pcap * 2; cap < n; cap *= 2)
    ;
  p = future__realloc(op->path, cap);
  if (p == NULL)
    return -1;
  op->path = p;
  op->pcap = cap;
  return 0;
}

static void rm_close(rm_frame_t *fr) {
#ifdef RM_GETDENTS
  close(fr->fd);
  fr->pos = fr->end = 0;
#else
  if (fr->dir != NULL)
    closedir(fr->dir); /* and with it fr->fd */
  else
    close(fr->fd);
  fr->dir = NULL;
#endif
  fr->fd = -1;
}

/* Close the shallowest frame that has a descriptor, to make room; 0 when
 * none may be closed (only the deepest, which the walk is in, is open). */
static int rm_shed(rm_t *op) {
  if (op->open < 2)
    return 0;
  rm_close(&op->frames[op->depth - op->open]);
  op->open--;
  return 1;
}

/* openat a directory, never through a link; when the process is out of
 * descriptors, close shallower frames for room. The descriptor, or minus
 * the errno value. */
static int rm_openat(rm_t *op, int dirfd, const char *name) {
  for (;;) {
    int fd = openat(dirfd, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
      return fd;
    if ((errno != EMFILE && errno != ENFILE) || !rm_shed(op))
      return -errno;
  }
}

/* Push the frame of the directory just opened as `fd` (`st` its status),
 * whose name is at `name` in the path buffer: 1, or an error. */
static int rm_push(rm_t *op, int fd, const struct stat *st, size_t name) {
  rm_frame_t *fr;
  if (op->depth == op->fcap) {
    size_t cap = op->fcap ? op->fcap * 2 : 16;
    rm_frame_t *p = future__realloc(op->frames, cap * sizeof(*p));
    if (p == NULL) {
      close(fd);
      return RM_FAIL(op, "rm", ENOMEM, op->plen);
    }
    op->frames = p;
    op->fcap = cap;
  }
#ifdef RM_GETDENTS
  if (op->bufs[op->depth % RM_FDS] == NULL &&
      (op->bufs[op->depth % RM_FDS] = future__malloc(RM_BUF)) == NULL) {
    close(fd);
    return RM_FAIL(op, "rm", ENOMEM, op->plen);
  }
#endif
  if (op->open == RM_FDS)
    rm_shed(op);
  fr = &op->frames[op->depth++];
  memset(fr, 0, sizeof(*fr));
  fr->fd = fd;
  fr->dev = st->st_dev;
  fr->ino = st->st_ino;
  fr->plen = op->plen;
  fr->name = name;
  op->open++;
  return 1;
}

/* Deal with the entry at `name` in the path buffer (which ends with it),
 * in the directory `dirfd`; `type` is what getdents said it is (DT_UNKNOWN
 * if nothing). A file or a link is unlinked; a directory is opened and
 * pushed, to be emptied and removed later. 0 when the entry is dealt
 * with, 1 when a frame was pushed, or an error. ENOENT means the entry
 * vanished meanwhile, which is what was wanted, except for the top
 * itself, which must exist unless FUTURE_FS_RM_FORCE. */
static int rm_entry(rm_t *op, int dirfd, size_t name, unsigned char type,
                    int top) {
  const char *nm = op->path + name;
  int missing_ok = !top || (op->flags & FUTURE_FS_RM_FORCE);
  int tries, unlink_errno = 0;
  for (tries = 0; tries < RM_TRIES; tries++) {
    struct stat st, opened;
    int fd;
    if (type != DT_DIR && type != DT_UNKNOWN) {
      if (unlinkat(dirfd, nm, 0) == 0 || (errno == ENOENT && missing_ok))
        return 0;
      /* EISDIR is Linux's answer for a directory, EPERM POSIX's (and that
       * of things that may not be removed): look at what it is. */
      if (errno != EISDIR && errno != EPERM)
        return RM_FAIL(op, "unlink", errno, op->plen);
      unlink_errno = errno;
    }
    if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && missing_ok)
        return 0;
      return RM_FAIL(op, "lstat", errno, op->plen);
    }
    if (!S_ISDIR(st.st_mode)) {
      if (unlink_errno == EPERM)
        return RM_FAIL(op, "unlink", EPERM, op->plen);
      type = DT_REG; /* a directory a moment ago, maybe: unlink it now */
      unlink_errno = 0;
      continue;
    }
    fd = rm_openat(op, dirfd, nm);
    if (fd == -ENOENT && missing_ok)
      return 0;
    if (fd == -ELOOP || fd == -ENOTDIR) {
      /* No longer a directory: look again. */
      type = DT_UNKNOWN;
      unlink_errno = 0;
      continue;
    }
    if (fd < 0)
      return RM_FAIL(op, "open", -fd, op->plen);
    if (fstat(fd, &opened) != 0 || opened.st_dev != st.st_dev ||
        opened.st_ino != st.st_ino) {
      /* Another directory than the one looked at: look again. */
      close(fd);
      type = DT_UNKNOWN;
      unlink_errno = 0;
      continue;
    }
    return rm_push(op, fd, &opened, name);
  }
  return RM_FAIL(op, "open", EAGAIN, op->plen);
}

/* The next entry of the deepest frame, "." and ".." aside: 1 with its
 * name and type, 0 at the end, or minus an errno value. */
static int rm_next(rm_t *op, const char **name, unsigned char *type) {
  rm_frame_t *fr = &op->frames[op->depth - 1];
#ifdef RM_GETDENTS
  char *buf = op->bufs[(op->depth - 1) % RM_FDS];
  for (;;) {
    struct rm_dirent64 *d;
    long n;
    if (fr->pos == fr->end) {
      n = syscall(SYS_getdents64, fr->fd, buf, RM_BUF);
      if (n <= 0)
        return n == 0 ? 0 : -errno;
      fr->pos = 0;
      fr->end = (size_t)n;
    }
    d = (struct rm_dirent64 *)(buf + fr->pos);
    fr->pos += d->d_reclen;
    if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
      *name = d->d_name;
      *type = d->d_type;
      return 1;
    }
  }
#else
  struct dirent *d;
  if (fr->dir == NULL && (fr->dir = fdopendir(fr->fd)) == NULL)
    return -errno;
  for (;;) {
    errno = 0;
    d = readdir(fr->dir);
    if (d == NULL)
      return errno != 0 ? -errno : 0;
    if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
      *name = d->d_name;
#ifdef _DIRENT_HAVE_D_TYPE
      *type = d->d_type;
#else
      *type = DT_UNKNOWN;
#endif
      return 1;
    }
  }
#endif
}

/* The deepest directory is empty: remove it from its parent, opening the
 * parent again first if its frame was closed. 0 or an error. */
static int rm_pop(rm_t *op) {
  rm_frame_t *fr = &op->frames[op->depth - 1];
  int parent = op->parent;
  if (op->depth > 1) {
    rm_frame_t *up = fr - 1;
    if (up->fd < 0) {
      struct stat st;
      int fd = rm_openat(op, fr->fd, "..");
      if (fd < 0)
        return RM_FAIL(op, "open", -fd, up->plen);
      if (fstat(fd, &st) != 0 || st.st_dev != up->dev ||
          st.st_ino != up->ino) {
        close(fd);
        return RM_FAIL(op, "open", EAGAIN, up->plen);
      }
      up->fd = fd;
      op->open++;
    }
    parent = up->fd;
  }
  rm_close(fr);
  op->open--;
  op->plen = fr->plen;
  op->path[op->plen] = '\0';
  if (future__fs_job_stopped(&op->j))
    return UV_ECANCELED;
  if (unlinkat(parent, op->path + fr->name, AT_REMOVEDIR) != 0 &&
      !(errno == ENOENT &&
        (op->depth > 1 || (op->flags & FUTURE_FS_RM_FORCE))))
    return RM_FAIL(op, "rmdir", errno, op->plen);
  op->depth--;
  return 0;
}

static int rm_walk(rm_t *op) {
  size_t n = strlen(op->top), name = n;
  int rc;
  memcpy(op->path, op->top, n + 1);
  op->plen = n;
  /* The directory that holds the top: what precedes its last component,
   * opened once, following links as any path does. */
  while (name > 0 && op->path[name - 1] != '/')
    name--;
  if (name == 0) {
    op->parent = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else {
    size_t len = name;
    char saved = op->path[len];
    op->path[len] = '\0';
    op->parent = open(op->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    op->path[len] = saved;
    while (len > 1 && op->path[len - 1] == '/')
      len--;
    if (op->parent < 0) {
      if (errno == ENOENT && (op->flags & FUTURE_FS_RM_FORCE))
        return 0;
      return RM_FAIL(op, "open", errno, len);
    }
  }
  if (op->parent < 0) {
    rc = RM_FAIL(op, "open", errno, 0);
    op->err_path = ".";
    return rc;
  }
  rc = rm_entry(op, op->parent, name, DT_UNKNOWN, 1);
  while (rc >= 0 && op->depth > 0) {
    rm_frame_t *fr = &op->frames[op->depth - 1];
    const char *entry = NULL;
    unsigned char type = DT_UNKNOWN;
    size_t len;
    if (future__fs_job_stopped(&op->j))
      return UV_ECANCELED;
    op->plen = fr->plen;
    op->path[op->plen] = '\0';
    rc = rm_next(op, &entry, &type);
    if (rc == -ENOENT)
      rc = 0; /* the directory itself was removed meanwhile */
    if (rc < 0)
      return RM_FAIL(op, "readdir", -rc, op->plen);
    if (rc == 0) {
      rc = rm_pop(op);
      continue;
    }
    len = strlen(entry);
    if (rm_room(op, op->plen + len + 2) != 0)
      return RM_FAIL(op, "rm", ENOMEM, op->plen);
    op->path[op->plen] = '/';
    memcpy(op->path + op->plen + 1, entry, len + 1);
    op->plen += len + 1;
    rc = rm_entry(op, fr->fd, fr->plen + 1, type, 0);
  }
  return rc < 0 ? rc : 0;
}

static void rm_run(future__fs_job_t *j) {
  rm_t *op = (rm_t *)j;
  size_t i;
  j->code = rm_walk(op);
  /* Whatever the outcome, nothing stays open. */
  for (i = 0; i < op->depth; i++)
    if (op->frames[i].fd >= 0)
      rm_close(&op->frames[i]);
  if (op->parent >= 0)
    close(op->parent);
  op->parent = -1;
}

static void rm_done(future__fs_job_t *j) {
  rm_t *op = (rm_t *)j;
  if (j->code < 0)
    j->b.err = future__fs_err(&j->b, __FILE__, op->err_line, j->code,
                              op->err_op, op->err_path, NULL, -1, -1);
}

/* Whether the last component of `path` (trailing slashes cut, `n` bytes
 * long) is "." or "..". */
static int rm_is_dot(const char *path, size_t n) {
  size_t s = n;
  while (s > 0 && path[s - 1] != '/')
    s--;
  return (n - s == 1 && path[s] == '.') ||
         (n - s == 2 && path[s] == '.' && path[s + 1] == '.');
}

future_t *future_fs_rm_r(uv_loop_t *loop, const char *path,
                         unsigned int flags) {
  rm_t *op;
  size_t n;
  FS_NEED(path != NULL, "rm", "NULL path");
  /* Entries are appended as "/name": cut trailing slashes (not the only
   * one of "/"). */
  n = strlen(path);
  while (n > 1 && path[n - 1] == '/')
    n--;
  if (n == 1 && path[0] == '/') {
    /* Like rm -r (--preserve-root): nothing would be left to stand on. */
    char what[64];
    snprintf(what, sizeof(what), "rm '%.*s'", 32, path);
    return future__fs_reject(loop, __FILE__, __LINE__, __func__, UV_EINVAL,
                             what, "refusing to remove '/'");
  }
  if (rm_is_dot(path, n)) {
    /* Like rm -r: removing "." or ".." would pull the floor from under
     * the walk (and, for "..", reach above the working directory). */
    future__site_t site;
    future_error_t *err;
    future__site_get(&site, __FILE__, __LINE__, __func__);
    err = future__error_site(&site, UV_EINVAL,
                             "rm '%s': refusing to remove '.' or '..' "
                             "directory",
                             path);
    return future_rejected(loop, err);
  }
  op = future__fs_job_new(loop, __func__, sizeof(*op), n + 1, rm_release,
                          rm_run, rm_done);
  if (op == NULL)
    return NULL;
  memcpy(op->top, path, n);
  op->top[n] = '\0';
  op->j.b.path = op->top;
  op->flags = flags;
  op->parent = -1;
  /* The path buffer starts as the top and room for a name below it. */
  op->pcap = n + 258;
  op->path = future__malloc(op->pcap);
  if (op->path == NULL) {
    future_t *f = op->j.b.f;
    op->j.b.err = FS_ERR(&op->j.b, UV_ENOMEM, "rm", op->top, NULL);
    future__fs_end(&op->j.b);
    return f;
  }
  return future__fs_job_start(&op->j);
}
