/*
 * The whole-file helpers of Node's fs.promises: read_file, write_file,
 * append_file and truncate, small state machines on single uv_fs_*
 * requests (fs_internal.h says how they are laid out and how they end).
 */
#include "fs_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* read_file: open, fstat, read until EOF, close.
 *
 * A regular file with a size is read by a work item (RF_JOB) instead of
 * uv_fs_read: on the pool thread it reads as uv_fs_read would and, while
 * the reads come back short, reads again at once, so that the read that
 * returns 0 rides along with the one that brought the last bytes instead of
 * costing a round trip through the pool of its own. The reads, their sizes
 * and their order are the same as one uv_fs_read per read: a file of any
 * size, growing or shrinking, is read until a read returns 0. A job reads
 * at most FS_CHUNK bytes and then comes back to the loop, where a cancel is
 * noticed, as between two reads. Other files (FIFOs, /proc, size 0) keep
 * one uv_fs_read per read, so that a read that may block never follows
 * another without a look at the loop first. */

enum { RF_OPEN, RF_FSTAT, RF_READ, RF_JOB };

typedef struct {
  future__fs_base_t b;
  int stage;
  int sized;        /* a regular file that reported a size: read by jobs */
  uv_file fd;
  char *data;
  size_t len, cap;  /* cap counts the byte kept for the final NUL */
  uv_work_t work;   /* RF_JOB: the job in flight */
  size_t job_len;   /* the room the job may fill, after len */
  size_t job_got;   /* what it read */
  ssize_t job_end;  /* its last read's result: 0 at the end, < 0 an error */
  char path[];
} read_file_t;

static void read_file_release(future__fs_base_t *b) {
  read_file_t *op = (read_file_t *)b;
  future__free(op->data);
  future__free(op);
}

/* Cancel the request in flight: the job, or the uv_fs_t. */
static int read_file_cancel(future_t *f, void *data) {
  read_file_t *op = data;
  if (op->stage == RF_JOB) {
    uv_cancel((uv_req_t *)&op->work);
    return 0;
  }
  return future__fs_cancel(f, data);
}

static void buf_free(void *v) {
  future_buf_t *buf = v;
  future__free(buf->base);
  future__free(buf);
}

static void read_file_step(uv_fs_t *req);
static void read_file_job(uv_work_t *w);
static void read_file_job_done(uv_work_t *w, int status);

static int read_file_next(read_file_t *op) {
  uv_buf_t b;
  size_t space;
  if (op->cap - 1 - op->len == 0) {
    size_t cap = op->cap * 2;
    char *p = cap > op->cap ? future__realloc(op->data, cap) : NULL;
    if (p == NULL)
      return UV_ENOMEM;
    op->data = p;
    op->cap = cap;
  }
  space = op->cap - 1 - op->len;
  if (op->sized) {
    op->stage = RF_JOB;
    op->job_len = space < FS_CHUNK ? space : FS_CHUNK;
    return uv_queue_work(op->b.loop, &op->work, read_file_job,
                         read_file_job_done);
  }
  b.base = op->data + op->len;
  b.len = space < FS_CHUNK ? space : FS_CHUNK;
  op->stage = RF_READ;
  return uv_fs_read(op->b.loop, &op->b.req, op->fd, &b, 1, -1,
                    read_file_step);
}

/* On a pool thread: read into the job's room until a read returns 0, fails,
 * or the room is full. Touches only the job's fields and the room. */
static void read_file_job(uv_work_t *w) {
  read_file_t *op = (read_file_t *)((char *)w - offsetof(read_file_t, work));
  size_t got = 0;
  ssize_t r;
  do {
    uv_fs_t req;
    uv_buf_t b = uv_buf_init(op->data + op->len + got,
                             (unsigned int)(op->job_len - got));
    r = uv_fs_read(op->b.loop, &req, op->fd, &b, 1, -1, NULL);
    uv_fs_req_cleanup(&req);
    if (r > 0)
      got += (size_t)r;
  } while (r > 0 && got < op->job_len);
  op->job_got = got;
  op->job_end = r;
}

/* The whole file is in: hand the buffer over. */
static int read_file_value(read_file_t *op) {
  future_buf_t *buf = future__malloc(sizeof(*buf));
  if (buf == NULL)
    return UV_ENOMEM;
  if (op->cap - op->len > 65536) {
    char *p = future__realloc(op->data, op->len + 1);
    if (p != NULL)
      op->data = p;
  }
  op->data[op->len] = '\0';
  buf->base = op->data;
  buf->len = op->len;
  op->data = NULL;
  op->b.value = buf;
  op->b.dtor = buf_free;
  return 0;
}

/* One step done with result `r` (for a read: the bytes it brought, 0 at
 * the end of the file). */
static void read_file_on(read_file_t *op, ssize_t r) {
  future__fs_base_t *b = &op->b;
  const char *what = "read";
  int rc = 0;

  if (future__fs_cancelled(b)) {
    future__fs_end(b);
    return;
  }
  if (r < 0) {
    what = op->stage == RF_OPEN ? "open" : op->stage == RF_FSTAT ? "fstat"
                                                                 : "read";
    b->err = FS_ERR(b, (int)r, what, op->path, NULL);
    future__fs_end(b);
    return;
  }
  switch (op->stage) {
  case RF_OPEN:
    op->stage = RF_FSTAT;
    what = "fstat";
    rc = uv_fs_fstat(b->loop, &b->req, op->fd, read_file_step);
    break;
  case RF_FSTAT:
    op->data = future__malloc(op->cap);
    rc = op->data != NULL ? read_file_next(op) : UV_ENOMEM;
    break;
  default:
    if (r == 0) {
      rc = read_file_value(op);
      if (rc == 0) {
        future__fs_end(b);
        return;
      }
    } else {
      op->len += (size_t)r;
      rc = read_file_next(op);
    }
    break;
  }
  if (rc < 0) {
    b->err = FS_ERR(b, rc, what, op->path, NULL);
    uv_fs_req_cleanup(&b->req);
    future__fs_end(b);
  }
}

static void read_file_job_done(uv_work_t *w, int status) {
  read_file_t *op = (read_file_t *)((char *)w - offsetof(read_file_t, work));
  op->stage = RF_READ;
  if (status < 0) {
    read_file_on(op, status); /* UV_ECANCELED: never ran */
  } else if (op->job_end < 0) {
    read_file_on(op, op->job_end);
  } else if (op->job_got == 0) {
    read_file_on(op, 0);
  } else if (op->job_end > 0) {
    read_file_on(op, (ssize_t)op->job_got); /* the room is full: go on */
  } else {
    /* The bytes, then the end, as two reads would have reported them. */
    op->len += op->job_got;
    read_file_on(op, 0);
  }
}

static void read_file_step(uv_fs_t *req) {
  read_file_t *op = req->data;
  ssize_t r = req->result;

  if (op->stage == RF_OPEN && r >= 0) {
    op->fd = (uv_file)r;
    op->b.close_fd = op->fd; /* from now on, whatever happens */
  }
  if (op->stage == RF_FSTAT && r >= 0) {
    uint64_t size = req->statbuf.st_size;
    op->sized = size > 0 && size <= SIZE_MAX / 2 &&
                (req->statbuf.st_mode & S_IFMT) == S_IFREG;
    /* The size is a hint (files grow and shrink, /proc says 0): room for
     * it, the NUL, and one more byte, so that the read that finds the end
     * needs no growing. */
    if (size == 0 || size > SIZE_MAX / 2)
      size = 65536;
    op->cap = (size_t)size + 2;
  }
  uv_fs_req_cleanup(req);
  read_file_on(op, r);
}

future_t *future_fs_read_file(uv_loop_t *loop, const char *path) {
  read_file_t *op;
  future_t *f;
  int rc;
  FS_NEED(path != NULL, "read_file", "NULL path");
  op = future__fs_alloc_with(loop, __func__, sizeof(*op), strlen(path) + 1,
                             read_file_release, read_file_cancel);
  if (op == NULL)
    return NULL;
  strcpy(op->path, path);
  op->b.path = op->path;
  FS_TRACE(&op->b, -1);
  op->fd = -1;
  op->stage = RF_OPEN;
  f = op->b.f;
  rc = uv_fs_open(loop, &op->b.req, path, UV_FS_O_RDONLY, 0, read_file_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "open", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    future__fs_end(&op->b);
  }
  return f;
}

/* write_file, append_file, truncate: open, write all (or ftruncate),
 * close. */

enum { WF_OPEN, WF_WRITE, WF_TRUNCATE };
enum { WF_MODE_WRITE, WF_MODE_APPEND, WF_MODE_TRUNCATE };

typedef struct {
  future__fs_base_t b;
  int stage;
  int mode;
  uv_file fd;
  const char *data;
  size_t len, done;
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

static void write_file_step(uv_fs_t *req);

/* The writes are sequential (offset -1: at the descriptor's position), as
 * Node's writeFile's are. The descriptor is the helper's own, fresh from
 * open at offset 0 (or at the end, with O_APPEND), so they land where
 * positioned writes would on a regular file; and they also work where
 * there are no positions, which positioned writes refuse with ESPIPE:
 * FIFOs, pipes, sockets and terminals (/dev/stdout, /proc/self/fd/N). */
static int write_file_next(write_file_t *op) {
  uv_buf_t b;
  size_t left = op->len - op->done;
  b.base = (char *)op->data + op->done;
  b.len = left < FS_CHUNK ? left : FS_CHUNK;
  op->stage = WF_WRITE;
  return uv_fs_write(op->b.loop, &op->b.req, op->fd, &b, 1, -1,
                     write_file_step);
}

static void write_file_step(uv_fs_t *req) {
  write_file_t *op = req->data;
  future__fs_base_t *b = &op->b;
  ssize_t r = req->result;
  const char *what = op->stage == WF_OPEN    ? "open"
                     : op->stage == WF_WRITE ? "write"
                                             : "ftruncate";
  int rc = 0;

  if (op->stage == WF_OPEN && r >= 0) {
    op->fd = (uv_file)r;
    b->close_fd = op->fd;
  }
  uv_fs_req_cleanup(req);
  if (future__fs_cancelled(b)) {
    future__fs_end(b);
    return;
  }
  if (r == 0 && op->stage == WF_WRITE)
    r = UV_EIO; /* nothing written and no error: do not spin */
  if (r < 0) {
    b->err = FS_ERR(b, (int)r, what, op->path, NULL);
    future__fs_end(b);
    return;
  }
  if (op->stage == WF_WRITE)
    op->done += (size_t)r;
  if (op->mode == WF_MODE_TRUNCATE) {
    if (op->stage == WF_OPEN) {
      op->stage = WF_TRUNCATE;
      what = "ftruncate";
      rc = uv_fs_ftruncate(b->loop, req, op->fd, op->length, write_file_step);
    } else {
      future__fs_end(b);
      return;
    }
  } else if (op->done < op->len) {
    what = "write";
    rc = write_file_next(op);
  } else {
    future__fs_end(b);
    return;
  }
  if (rc < 0) {
    b->err = FS_ERR(b, rc, what, op->path, NULL);
    uv_fs_req_cleanup(req);
    future__fs_end(b);
  }
}

static future_t *write_file_start(uv_loop_t *loop, const char *func,
                                  const char *path, int mode,
                                  const void *data, size_t len,
                                  future_dtor_cb data_dtor, int64_t length) {
  write_file_t *op;
  future_t *f;
  int flags, rc;
  op = future__fs_alloc(loop, func, sizeof(*op), strlen(path) + 1,
                        write_file_release);
  if (op == NULL) {
    if (data_dtor != NULL)
      data_dtor((void *)data);
    return NULL;
  }
  strcpy(op->path, path);
  op->b.path = op->path;
  FS_TRACE(&op->b, -1);
  op->mode = mode;
  op->fd = -1;
  op->data = data;
  op->len = len;
  op->data_dtor = data_dtor;
  op->length = length;
  op->stage = WF_OPEN;
  f = op->b.f;
  flags = mode == WF_MODE_TRUNCATE ? UV_FS_O_WRONLY
          : mode == WF_MODE_APPEND
              ? UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_APPEND
              : UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_TRUNC;
  rc = uv_fs_open(loop, &op->b.req, path, flags, 0666, write_file_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "open", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    future__fs_end(&op->b);
  }
  return f;
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

