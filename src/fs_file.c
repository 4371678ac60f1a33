/*
 * The whole-file helpers of Node's fs.promises: read_file, write_file,
 * append_file and truncate, each one job on libuv's pool (fs_internal.h
 * says how they are laid out and how they end).
 */
#include "fs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* read_file: open, fstat, read until EOF, close.
 *
 * One job on libuv's pool does the four system calls of a regular file
 * (open, fstat, read, close), and the loop sees one completion per file
 * instead of four trips through the pool. The size fstat gives is a hint
 * (files grow and shrink): the buffer has room for it, the NUL and one
 * more byte, so that one read asking for a byte more than the size finds
 * the end too (it comes back short), and grows by doubling if the file
 * grew.
 *
 * When a cancel is noticed: while the job waits in the pool's queue it is
 * taken off it and never runs (nothing is opened). Once it runs, it checks
 * the cancel between two reads of at most FS_CHUNK bytes; a cancel seen
 * there, or one that comes after the job, discards what was read; the job
 * closes the file itself in every case, so nothing is left open.
 *
 * Other files (a FIFO, a character device, /proc files that say their
 * size is 0, a directory) may block on a read, or lie about their size:
 * the job opens them and fstats them, then hands the descriptor to the
 * loop, which reads with one uv_fs_read per read (each can be cancelled
 * while queued, and a cancel is noticed between two of them) until a read
 * returns 0, then closes it. */

typedef struct {
  future__fs_job_t j;
  int sized;        /* a regular file with a size: read in the job */
  uv_file fd;       /* the other files: the descriptor the loop reads */
  const char *what; /* the step that failed in the job */
  char *data;       /* the value's one block: RF_HEAD bytes for its
                       future_buf_t, then the bytes (RF_BYTES) */
  size_t len, cap;  /* of the bytes; cap counts the byte kept for the
                       final NUL */
  char path[];
} read_file_t;

/* The value is one allocation, the future_buf_t first and the bytes after
 * it: one malloc and one free per file, not two. */
#define RF_HEAD                                                                \
  ((sizeof(future_buf_t) + sizeof(max_align_t) - 1) / sizeof(max_align_t) *  \
   sizeof(max_align_t))
#define RF_BYTES(op) ((op)->data + RF_HEAD)

static void read_file_release(future__fs_base_t *b) {
  read_file_t *op = (read_file_t *)b;
  future__free(op->data);
  future__free(op);
}

static void buf_free(void *v) { future__free(v); }

/* The block for cap bytes; NULL when out of memory. */
static char *read_file_block(size_t cap) {
  return cap <= SIZE_MAX - RF_HEAD ? future__malloc(RF_HEAD + cap) : NULL;
}

/* Grow the buffer when it is full; UV_ENOMEM when it cannot. */
static int read_file_room(read_file_t *op) {
  if (op->cap - 1 - op->len == 0) {
    size_t cap = op->cap * 2;
    char *p = cap > op->cap && cap <= SIZE_MAX - RF_HEAD
                  ? future__realloc(op->data, RF_HEAD + cap)
                  : NULL;
    if (p == NULL)
      return UV_ENOMEM;
    op->data = p;
    op->cap = cap;
  }
  return 0;
}

/* On a pool thread. */
static void read_file_run(future__fs_job_t *j) {
  read_file_t *op = (read_file_t *)j;
  struct stat st;
  int rc = 0, fd = open(op->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    op->what = "open";
    j->code = uv_translate_sys_error(errno);
    return;
  }
  if (fstat(fd, &st) != 0) {
    op->what = "fstat";
    j->code = uv_translate_sys_error(errno);
    close(fd);
    return;
  }
  op->sized = S_ISREG(st.st_mode) && st.st_size > 0 &&
              (uint64_t)st.st_size <= SIZE_MAX / 2;
  op->cap = op->sized ? (size_t)st.st_size + 2 : 65536 + 2;
  if (!op->sized) {
    /* The loop reads it: until then it is the operation's to close,
     * whatever happens (the loop sees this after the job). */
    op->fd = fd;
    j->b.close_fd = fd;
    return;
  }
  op->what = "read";
  op->data = read_file_block(op->cap);
  if (op->data == NULL)
    rc = UV_ENOMEM;
  while (rc == 0) {
    size_t space;
    ssize_t n;
    if (future__fs_job_stopped(j)) {
      rc = UV_ECANCELED;
      break;
    }
    if ((rc = read_file_room(op)) < 0)
      break;
    space = op->cap - 1 - op->len;
    if (space > FS_CHUNK)
      space = FS_CHUNK;
    n = read(fd, RF_BYTES(op) + op->len, space);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = uv_translate_sys_error(errno);
    else if (n == 0)
      break;
    else
      op->len += (size_t)n;
    /* A short read of a regular file once the size fstat gave is in is
     * the end: no fifth system call to hear it from a read of 0. (A short
     * read before that size, of a file that shrank or of a file system
     * that reads in pieces, goes on to the read that returns 0.) */
    if (n > 0 && (size_t)n < space && op->len >= (size_t)st.st_size)
      break;
  }
  if (close(fd) != 0 && rc == 0 && errno != EINTR) {
    op->what = "close";
    rc = uv_translate_sys_error(errno);
  }
  j->code = rc;
}

/* The whole file is in: hand the buffer over. */
static void read_file_value(read_file_t *op) {
  future_buf_t *buf;
  if (op->cap - op->len > 65536) {
    char *p = future__realloc(op->data, RF_HEAD + op->len + 1);
    if (p != NULL)
      op->data = p;
  }
  buf = (future_buf_t *)op->data;
  RF_BYTES(op)[op->len] = '\0';
  buf->base = RF_BYTES(op);
  buf->len = op->len;
  op->data = NULL;
  op->j.b.value = buf;
  op->j.b.dtor = buf_free;
}

static void read_file_step(uv_fs_t *req);

/* The other files: the next uv_fs_read, into the room left. */
static int read_file_next(read_file_t *op) {
  uv_buf_t b;
  size_t space;
  int rc = read_file_room(op);
  if (rc < 0)
    return rc;
  space = op->cap - 1 - op->len;
  b.base = RF_BYTES(op) + op->len;
  b.len = space < FS_CHUNK ? space : FS_CHUNK;
  return uv_fs_read(op->j.b.loop, &op->j.b.req, op->fd, &b, 1, -1,
                    read_file_step);
}

/* On the loop's thread, after the job, unless cancelled meanwhile. */
static void read_file_done(future__fs_job_t *j) {
  read_file_t *op = (read_file_t *)j;
  future__fs_base_t *b = &j->b;
  int rc = j->code;
  if (rc == 0 && op->sized) {
    read_file_value(op);
  } else if (rc == 0) {
    op->what = "read";
    op->data = read_file_block(op->cap);
    rc = op->data != NULL ? read_file_next(op) : UV_ENOMEM;
    if (rc == 0) {
      j->handed_on = 1;
      return;
    }
    uv_fs_req_cleanup(&b->req);
  }
  if (rc < 0)
    b->err = FS_ERR(b, rc, op->what, op->path, NULL);
}

/* One uv_fs_read of another file done. */
static void read_file_step(uv_fs_t *req) {
  read_file_t *op = req->data;
  future__fs_base_t *b = &op->j.b;
  ssize_t r = req->result;
  int rc = 0;
  uv_fs_req_cleanup(req);
  if (future__fs_cancelled(b)) {
    future__fs_end(b);
    return;
  }
  if (r == 0) {
    read_file_value(op);
  } else if (r > 0) {
    op->len += (size_t)r;
    rc = read_file_next(op);
    if (rc == 0)
      return;
    uv_fs_req_cleanup(req);
  } else {
    rc = (int)r;
  }
  if (rc < 0)
    b->err = FS_ERR(b, rc, "read", op->path, NULL);
  future__fs_end(b);
}

future_t *future_fs_read_file(uv_loop_t *loop, const char *path) {
  read_file_t *op;
  FS_NEED(path != NULL, "read_file", "NULL path");
  op = future__fs_job_new(loop, __func__, sizeof(*op), strlen(path) + 1,
                          read_file_release, read_file_run, read_file_done);
  if (op == NULL)
    return NULL;
  strcpy(op->path, path);
  op->j.b.path = op->path;
  op->fd = -1;
  op->what = "open";
  return future__fs_job_start(&op->j);
}

/* write_file, append_file, truncate: one job on libuv's pool opens the
 * file, writes all of the data (or ftruncates it) and closes it; the loop
 * sees one completion instead of a trip through the pool for each step.
 *
 * The writes are sequential (at the descriptor's position), as Node's
 * writeFile's are. The descriptor is the job's own, fresh from open at
 * offset 0 (or at the end, with O_APPEND), so they land where positioned
 * writes would on a regular file; and they also work where there are no
 * positions: FIFOs, pipes, sockets and terminals (/dev/stdout,
 * /proc/self/fd/N). A write that would block (a FIFO whose reader is
 * slow) blocks the pool thread, as a uv_fs_write would.
 *
 * When a cancel is noticed: while the job waits in the pool's queue it is
 * taken off it and never runs (nothing is opened or created). Once it
 * runs, it checks the cancel between two writes of at most FS_CHUNK
 * bytes and stops there; what was written stays written (as with Node's
 * writeFile and an AbortSignal). The job closes the file itself in every
 * case; the data is released once the job is over. */

enum { WF_MODE_WRITE, WF_MODE_APPEND, WF_MODE_TRUNCATE };

typedef struct {
  future__fs_job_t j;
  int mode;
  const char *what; /* the step that failed */
  const char *data;
  size_t len;
  int64_t length;  /* truncate */
  future_dtor_cb data_dtor;
  char path[];
} write_file_t;

static void write_file_release(future__fs_base_t *b) {
  write_file_t *op = (write_file_t *)b;
  if (op->data_dtor != NULL)
    op->data_dtor((void *)op->data);
  future__free(op);
}

/* On a pool thread. */
static void write_file_run(future__fs_job_t *j) {
  write_file_t *op = (write_file_t *)j;
  size_t done = 0;
  int rc = 0, fd, flags;
  flags = op->mode == WF_MODE_TRUNCATE ? O_WRONLY
          : op->mode == WF_MODE_APPEND ? O_WRONLY | O_CREAT | O_APPEND
                                       : O_WRONLY | O_CREAT | O_TRUNC;
  fd = open(op->path, flags | O_CLOEXEC, 0666);
  if (fd < 0) {
    op->what = "open";
    j->code = uv_translate_sys_error(errno);
    return;
  }
  if (op->mode == WF_MODE_TRUNCATE) {
    op->what = "ftruncate";
    if (ftruncate(fd, (off_t)op->length) != 0)
      rc = uv_translate_sys_error(errno);
  } else {
    op->what = "write";
  }
  while (rc == 0 && done < op->len) {
    size_t left = op->len - done;
    ssize_t n;
    if (future__fs_job_stopped(j)) {
      rc = UV_ECANCELED;
      break;
    }
    n = write(fd, op->data + done, left < FS_CHUNK ? left : FS_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = uv_translate_sys_error(errno);
    else if (n == 0)
      rc = UV_EIO; /* nothing written and no error: do not spin */
    else
      done += (size_t)n;
  }
  if (close(fd) != 0 && rc == 0 && errno != EINTR) {
    op->what = "close";
    rc = uv_translate_sys_error(errno);
  }
  j->code = rc;
}

/* On the loop's thread, after the job, unless cancelled meanwhile. */
static void write_file_done(future__fs_job_t *j) {
  write_file_t *op = (write_file_t *)j;
  if (j->code < 0)
    j->b.err = FS_ERR(&j->b, j->code, op->what, op->path, NULL);
}

static future_t *write_file_start(uv_loop_t *loop, const char *func,
                                  const char *path, int mode,
                                  const void *data, size_t len,
                                  future_dtor_cb data_dtor, int64_t length) {
  write_file_t *op;
  op = future__fs_job_new(loop, func, sizeof(*op), strlen(path) + 1,
                          write_file_release, write_file_run,
                          write_file_done);
  if (op == NULL) {
    if (data_dtor != NULL)
      data_dtor((void *)data);
    return NULL;
  }
  strcpy(op->path, path);
  op->j.b.path = op->path;
  op->mode = mode;
  op->what = "open";
  op->data = data;
  op->len = len;
  op->data_dtor = data_dtor;
  op->length = length;
  return future__fs_job_start(&op->j);
}

static future_t *write_file_args(uv_loop_t *loop, const char *func,
                                 const char *what, const char *path,
                                 int mode, const void *data, size_t len,
                                 future_dtor_cb data_dtor) {
  if (loop == NULL || path == NULL || (data == NULL && len > 0)) {
    if (data_dtor != NULL)
      data_dtor((void *)data);
    if (loop == NULL)
      return NULL;
    return future__fs_reject(loop, __FILE__, __LINE__, func, UV_EINVAL, what,
                             path == NULL ? "NULL path" : "NULL data");
  }
  return write_file_start(loop, func, path, mode, data, len, data_dtor, 0);
}

future_t *future_fs_write_file(uv_loop_t *loop, const char *path,
                               const void *data, size_t len,
                               future_dtor_cb data_dtor) {
  return write_file_args(loop, __func__, "write_file", path, WF_MODE_WRITE,
                         data, len, data_dtor);
}

future_t *future_fs_append_file(uv_loop_t *loop, const char *path,
                                const void *data, size_t len,
                                future_dtor_cb data_dtor) {
  return write_file_args(loop, __func__, "append_file", path, WF_MODE_APPEND,
                         data, len, data_dtor);
}

future_t *future_fs_truncate(uv_loop_t *loop, const char *path,
                             int64_t length) {
  FS_NEED(path != NULL, "truncate", "NULL path");
  return write_file_start(loop, __func__, path, WF_MODE_TRUNCATE, NULL, 0,
                          NULL, length);
}

