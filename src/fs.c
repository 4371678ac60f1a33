/*
 * The file system as futures: every uv_fs_* request, and the whole-file
 * helpers of Node's fs.promises built as small state machines on them.
 *
 * Each operation is one allocation (fs_base_t first, then what the
 * operation needs, then copies of its paths) and one source future. The
 * request in flight always lives in the base's uv_fs_t; a machine reuses it
 * step after step, so each libuv callback starts the next request and
 * returns: no recursion, whatever the size of a file or of a tree.
 *
 * Every operation ends in fs_end, which first closes what must be closed
 * whatever the outcome (the fd of read_file, the directory of readdir),
 * then, unless the value is being delivered, undoes what the request made
 * (the fd of a cancelled open, the file of a cancelled mkstemp, ...), and
 * only then settles the future and frees the state. After a cancel the
 * future is already rejected; settling it then releases the value instead
 * of delivering it (future__source_done).
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The largest single read or write a helper issues: a cancel is noticed
 * between two of them, and a pool thread is never held for long. */
#define FS_CHUNK ((size_t)2 << 20)

/* What fs_end is doing with the request. */
enum {
  END_NONE = 0,
  END_CLOSE,     /* closing the helper's fd: errors count */
  END_CLOSEDIR,  /* closing the helper's directory: errors count */
  UNDO_CLOSE,    /* undoing: errors are ignored */
  UNDO_UNLINK,
  UNDO_RMDIR,
  UNDO_CLOSEDIR
};

typedef struct fs_base_s fs_base_t;

struct fs_base_s {
  uv_fs_t req;                      /* the request in flight */
  uv_loop_t *loop;
  future_t *f;
  const char *func;                 /* the public function, for errors */
  void (*release)(fs_base_t *b);    /* frees the operation's own memory */
  const char *path;                 /* for the errors of closing steps */
  /* The outcome being built. */
  void *value;
  future_dtor_cb dtor;
  future_error_t *err;
  /* Closed whatever the outcome. */
  uv_file close_fd;
  uv_dir_t *close_dir;
  /* Undone unless the value is delivered. */
  uv_file undo_fd;
  const char *undo_unlink;
  const char *undo_rmdir;
  uv_dir_t *undo_dir;
  /* The ending step in flight and its target. */
  uint8_t ending;
  uint8_t no_cancel;  /* the request in flight must not be uv_cancel'ed */
  uv_file end_fd;
  const char *end_path;
  uv_dir_t *end_dir;
};

/* Errors. */

static future_error_t *fs_err(const fs_base_t *b, int line, int code,
                              const char *op, const char *p1, const char *p2,
                              int fd, int fd2) {
  const char *func = b != NULL ? b->func : "future_fs";
  if (p1 != NULL && p2 != NULL)
    return future_error_new_at(__FILE__, line, func, code, NULL,
                               "%s '%s' -> '%s'", op, p1, p2);
  if (p1 != NULL)
    return future_error_new_at(__FILE__, line, func, code, NULL, "%s '%s'",
                               op, p1);
  if (fd >= 0 && fd2 >= 0)
    return future_error_new_at(__FILE__, line, func, code, NULL,
                               "%s fd %d -> fd %d", op, fd, fd2);
  if (fd >= 0)
    return future_error_new_at(__FILE__, line, func, code, NULL, "%s fd %d",
                               op, fd);
  return future_error_new_at(__FILE__, line, func, code, NULL, "%s", op);
}

#define FS_ERR(b, code, op, p1, p2)                                            \
  fs_err((b), __LINE__, (code), (op), (p1), (p2), -1, -1)

/* A future rejected at once, for arguments that cannot work. */
static future_t *fs_reject(uv_loop_t *loop, const char *func, int code,
                           const char *what, const char *why) {
  return future_rejected(loop, future_error_new_at(__FILE__, __LINE__, func,
                                                   code, NULL, "%s: %s", what,
                                                   why));
}

#define FS_NEED(cond, what, why)                                               \
  do {                                                                         \
    if (loop == NULL)                                                          \
      return NULL;                                                             \
    if (!(cond))                                                               \
      return fs_reject(loop, __func__, UV_EINVAL, (what), (why));              \
  } while (0)

/* The common machinery. */

static int fs_cancel(future_t *f, void *data) {
  fs_base_t *b = data;
  (void)f;
  /* Only a request still queued in the pool is removed; one running or
   * done completes, and its callback finds the future settled. A close is
   * never taken back: a descriptor that may or may not be closed would be
   * worse than useless. Either way the callback runs and ends the
   * operation (undoing what it must), so the request keeps its reference
   * until then: 0. */
  if (!b->no_cancel)
    uv_cancel((uv_req_t *)&b->req);
  return 0;
}

static int fs_cancelled(const fs_base_t *b) {
  return b->f->state != FUTURE_PENDING;
}

/* Allocate `size` bytes of operation (fs_base_t first) plus room for
 * `extra` bytes, and its future, cancelled with `cancel`. NULL when memory
 * runs out. */
static void *fs_alloc_with(uv_loop_t *loop, const char *func, size_t size,
                           size_t extra, void (*release)(fs_base_t *),
                           future__cancel_cb cancel) {
  future__loop_t *lp = future__loop_get(loop);
  fs_base_t *b;
  if (lp == NULL || size + extra < size)
    return NULL;
  b = future__calloc(1, size + extra);
  if (b == NULL)
    return NULL;
  b->f = future__source_new(lp, cancel, b);
  if (b->f == NULL) {
    future__free(b);
    return NULL;
  }
  b->loop = loop;
  b->func = func;
  b->release = release;
  b->close_fd = -1;
  b->undo_fd = -1;
  b->end_fd = -1;
  b->req.data = b;
  return b;
}

static void *fs_alloc(uv_loop_t *loop, const char *func, size_t size,
                      size_t extra, void (*release)(fs_base_t *)) {
  return fs_alloc_with(loop, func, size, extra, release, fs_cancel);
}

static void fs_release_plain(fs_base_t *b) { future__free(b); }

/* Copy `s` into `*mem` and advance it; NULL stays NULL. */
static const char *fs_stash(char **mem, const char *s) {
  char *p;
  size_t n;
  if (s == NULL)
    return NULL;
  n = strlen(s) + 1;
  p = *mem;
  memcpy(p, s, n);
  *mem = p + n;
  return p;
}

static size_t fs_len0(const char *s) { return s != NULL ? strlen(s) + 1 : 0; }

static void fs_settle(fs_base_t *b) {
  future_t *f = b->f;
  if (b->err != NULL) {
    if (b->dtor != NULL)
      b->dtor(b->value);
    future__source_fail(f, b->err);
  } else {
    /* After a cancel this releases the value instead of delivering it. */
    future__source_fulfil(f, b->value, b->dtor);
  }
  b->release(b);
}

/* Pick the next ending step; 0 when there is none left. */
static int end_pick(fs_base_t *b) {
  int delivering = !fs_cancelled(b) && b->err == NULL;
  b->no_cancel = 1;
  if (b->close_fd >= 0) {
    b->ending = END_CLOSE;
    b->end_fd = b->close_fd;
    b->close_fd = -1;
    return 1;
  }
  if (b->close_dir != NULL) {
    b->ending = END_CLOSEDIR;
    b->end_dir = b->close_dir;
    b->close_dir = NULL;
    return 1;
  }
  if (delivering) {
    b->undo_fd = -1;
    b->undo_unlink = b->undo_rmdir = NULL;
    b->undo_dir = NULL;
    return 0;
  }
  if (b->undo_fd >= 0) {
    b->ending = UNDO_CLOSE;
    b->end_fd = b->undo_fd;
    b->undo_fd = -1;
    return 1;
  }
  if (b->undo_unlink != NULL) {
    b->ending = UNDO_UNLINK;
    b->end_path = b->undo_unlink;
    b->undo_unlink = NULL;
    return 1;
  }
  if (b->undo_rmdir != NULL) {
    b->ending = UNDO_RMDIR;
    b->end_path = b->undo_rmdir;
    b->undo_rmdir = NULL;
    return 1;
  }
  if (b->undo_dir != NULL) {
    b->ending = UNDO_CLOSEDIR;
    b->end_dir = b->undo_dir;
    b->undo_dir = NULL;
    return 1;
  }
  return 0;
}

/* Start the picked step; with a NULL callback it runs synchronously and
 * the result is returned. */
static int end_submit(fs_base_t *b, uv_fs_cb cb) {
  switch (b->ending) {
  case END_CLOSE:
  case UNDO_CLOSE:
    return uv_fs_close(b->loop, &b->req, b->end_fd, cb);
  case END_CLOSEDIR:
  case UNDO_CLOSEDIR:
    return uv_fs_closedir(b->loop, &b->req, b->end_dir, cb);
  case UNDO_UNLINK:
    return uv_fs_unlink(b->loop, &b->req, b->end_path, cb);
  default:
    return uv_fs_rmdir(b->loop, &b->req, b->end_path, cb);
  }
}

static void end_result(fs_base_t *b, ssize_t result) {
  if (result < 0 && b->err == NULL && !fs_cancelled(b)) {
    if (b->ending == END_CLOSE)
      b->err = fs_err(b, __LINE__, (int)result, "close", b->path, NULL,
                      b->end_fd, -1);
    else if (b->ending == END_CLOSEDIR)
      b->err = FS_ERR(b, (int)result, "closedir", b->path, NULL);
  }
  b->ending = END_NONE;
}

static void end_step(uv_fs_t *req);

/* Close, undo, settle, free. */
static void fs_end(fs_base_t *b) {
  while (end_pick(b)) {
    ssize_t result;
    if (end_submit(b, end_step) == 0)
      return;
    /* Could not even start it (out of memory for a path copy): do it now,
     * on this thread, rather than leak a descriptor. */
    result = end_submit(b, NULL);
    uv_fs_req_cleanup(&b->req);
    end_result(b, result);
  }
  fs_settle(b);
}

static void end_step(uv_fs_t *req) {
  fs_base_t *b = req->data;
  ssize_t result = req->result;
  uv_fs_req_cleanup(req);
  end_result(b, result);
  fs_end(b);
}

/* Directory entries, gathered into one block that `free` releases. */

typedef struct {
  struct {
    size_t off;
    uv_dirent_type_t type;
  } *ents;
  size_t n, cap;
  char *names;
  size_t nlen, ncap;
} dirents_builder_t;

static int db_add(dirents_builder_t *db, const char *name,
                  uv_dirent_type_t type) {
  size_t l = strlen(name) + 1;
  if (db->n == db->cap) {
    size_t cap = db->cap ? db->cap * 2 : 16;
    void *p = future__realloc(db->ents, cap * sizeof(*db->ents));
    if (p == NULL)
      return UV_ENOMEM;
    db->ents = p;
    db->cap = cap;
  }
  if (db->ncap - db->nlen < l) {
    size_t cap = db->ncap ? db->ncap * 2 : 256;
    char *p;
    while (cap - db->nlen < l)
      cap *= 2;
    p = future__realloc(db->names, cap);
    if (p == NULL)
      return UV_ENOMEM;
    db->names = p;
    db->ncap = cap;
  }
  memcpy(db->names + db->nlen, name, l);
  db->ents[db->n].off = db->nlen;
  db->ents[db->n].type = type;
  db->n++;
  db->nlen += l;
  return 0;
}

static void db_free(dirents_builder_t *db) {
  future__free(db->ents);
  future__free(db->names);
  memset(db, 0, sizeof(*db));
}

static future_fs_dirents_t *db_finish(dirents_builder_t *db) {
  size_t align = sizeof(void *);
  size_t head = (sizeof(future_fs_dirents_t) + align - 1) / align * align;
  size_t size = head + db->n * sizeof(future_fs_dirent_t) + db->nlen;
  future_fs_dirents_t *d = future__malloc(size);
  size_t i;
  if (d != NULL) {
    char *names;
    d->count = db->n;
    d->entries = db->n ? (future_fs_dirent_t *)((char *)d + head) : NULL;
    names = (char *)d + head + db->n * sizeof(future_fs_dirent_t);
    if (db->nlen)
      memcpy(names, db->names, db->nlen);
    for (i = 0; i < db->n; i++) {
      d->entries[i].name = names + db->ents[i].off;
      d->entries[i].type = db->ents[i].type;
    }
  }
  db_free(db);
  return d;
}

/* One request, one result. */

enum {
  K_NONE = 0,  /* value NULL */
  K_INT,       /* value: the result as intptr_t */
  K_FD,        /* value: a new fd, closed again if not delivered */
  K_STAT,      /* value: uv_stat_t * */
  K_STATFS,    /* value: uv_statfs_t * */
  K_STRING,    /* value: a copy of the string in req->ptr */
  K_MKDTEMP,   /* value: the directory's name; removed if not delivered */
  K_MKSTEMP,   /* value: future_fs_tmpfile_t *; closed, removed if not */
  K_BUF,       /* value: future_buf_t *, allocated before the read */
  K_SCANDIR,   /* value: future_fs_dirents_t * */
  K_OPENDIR,   /* value: uv_dir_t *, closed again if not delivered */
  K_READDIR    /* value: future_fs_dirents_t * */
};

typedef struct {
  fs_base_t b;
  uint8_t kind;
  const char *op;
  const char *p1, *p2;  /* copies, for errors */
  int fd, fd2;          /* for errors, or -1 */
  size_t want;          /* read: the size asked for */
  void *wbuf;           /* write: the caller's buffer, and what frees it */
  future_dtor_cb wbuf_dtor;
  uv_dir_t *dir;        /* readdir */
  uv_dirent_t *dirents; /* readdir: where libuv puts the entries */
  char mem[];
} simple_t;

static void simple_release(fs_base_t *b) {
  simple_t *op = (simple_t *)b;
  if (op->wbuf_dtor != NULL)
    op->wbuf_dtor(op->wbuf);
  future__free(op);
}

static void tmpfile_free(void *v) { future__free(v); }

/* The value is made before the request where its size is known, so that
 * nothing can fail between getting a resource and handing it over. */
static simple_t *simple_new(uv_loop_t *loop, const char *func, int kind,
                            const char *op, const char *p1, const char *p2,
                            int fd, size_t extra) {
  simple_t *s;
  char *mem;
  s = fs_alloc(loop, func, sizeof(simple_t),
               fs_len0(p1) + fs_len0(p2) + extra, simple_release);
  if (s == NULL)
    return NULL;
  mem = s->mem;
  s->kind = (uint8_t)kind;
  s->op = op;
  s->p1 = fs_stash(&mem, p1);
  s->p2 = fs_stash(&mem, p2);
  s->b.path = s->p1;
  s->fd = fd;
  s->fd2 = -1;
  return s;
}

/* Make the value in advance for kinds of known size; 0 or UV_ENOMEM. */
static int simple_prepare(simple_t *s, size_t tpl_len) {
  switch (s->kind) {
  case K_STAT:
    s->b.value = future__malloc(sizeof(uv_stat_t));
    s->b.dtor = future__free;
    break;
  case K_STATFS:
    s->b.value = future__malloc(sizeof(uv_statfs_t));
    s->b.dtor = future__free;
    break;
  case K_MKDTEMP:
    s->b.value = future__malloc(tpl_len + 1);
    s->b.dtor = future__free;
    break;
  case K_MKSTEMP:
    s->b.value = future__malloc(sizeof(future_fs_tmpfile_t) + tpl_len + 1);
    s->b.dtor = tmpfile_free;
    break;
  default:
    return 0;
  }
  return s->b.value != NULL ? 0 : UV_ENOMEM;
}

static void simple_done(uv_fs_t *req) {
  simple_t *s = req->data;
  fs_base_t *b = &s->b;
  ssize_t r = req->result;

  if (r < 0) {
    b->err = fs_err(b, __LINE__, (int)r, s->op, s->p1, s->p2, s->fd, s->fd2);
  } else {
    switch (s->kind) {
    case K_INT:
      b->value = (void *)(intptr_t)r;
      break;
    case K_FD:
      b->value = (void *)(intptr_t)r;
      b->undo_fd = (uv_file)r;
      break;
    case K_STAT:
      memcpy(b->value, &req->statbuf, sizeof(uv_stat_t));
      break;
    case K_STATFS:
      memcpy(b->value, req->ptr, sizeof(uv_statfs_t));
      break;
    case K_STRING:
      b->value = future__strdup((const char *)req->ptr);
      b->dtor = future__free;
      if (b->value == NULL)
        b->err = FS_ERR(b, UV_ENOMEM, s->op, s->p1, NULL);
      break;
    case K_MKDTEMP:
      strcpy(b->value, req->path);
      b->undo_rmdir = b->value;
      break;
    case K_MKSTEMP: {
      future_fs_tmpfile_t *t = b->value;
      char *name = (char *)(t + 1);
      strcpy(name, req->path);
      t->fd = (uv_file)r;
      t->path = name;
      b->undo_fd = t->fd;
      b->undo_unlink = name;
      break;
    }
    case K_BUF: {
      future_buf_t *buf = b->value;
      if (s->want - (size_t)r > 65536) {
        /* A short read into a large buffer: give the rest back. */
        future_buf_t *p = future__realloc(buf, sizeof(*buf) + (size_t)r + 1);
        if (p != NULL)
          b->value = buf = p;
      }
      buf->base = (char *)(buf + 1);
      buf->len = (size_t)r;
      buf->base[r] = '\0';
      break;
    }
    case K_SCANDIR: {
      dirents_builder_t db;
      uv_dirent_t ent;
      int rc = 0;
      memset(&db, 0, sizeof(db));
      /* Read to the end even after a failure: libuv frees the entry last
       * returned only on the next call, and its cleanup misses the last
       * one of all. */
      while (uv_fs_scandir_next(req, &ent) == 0)
        if (rc == 0)
          rc = db_add(&db, ent.name, ent.type);
      if (rc == 0 && (b->value = db_finish(&db)) != NULL)
        b->dtor = future__free;
      else {
        db_free(&db);
        b->err = FS_ERR(b, UV_ENOMEM, s->op, s->p1, NULL);
      }
      break;
    }
    case K_OPENDIR:
      b->value = req->ptr;
      b->undo_dir = req->ptr;
      break;
    case K_READDIR: {
      dirents_builder_t db;
      ssize_t i;
      int rc = 0;
      memset(&db, 0, sizeof(db));
      for (i = 0; rc == 0 && i < r; i++)
        rc = db_add(&db, s->dirents[i].name, s->dirents[i].type);
      if (rc == 0 && (b->value = db_finish(&db)) != NULL)
        b->dtor = future__free;
      else {
        db_free(&db);
        b->err = FS_ERR(b, UV_ENOMEM, s->op, NULL, NULL);
      }
      break;
    }
    default:
      break;
    }
  }
  uv_fs_req_cleanup(req);
  if (s->kind == K_READDIR) {
    s->dir->dirents = NULL;
    s->dir->nentries = 0;
  }
  fs_end(b);
}

/* `rc` is what the uv_fs_* call returned: when it failed, its callback
 * will never run. */
static future_t *simple_start(simple_t *s, int rc) {
  future_t *f = s->b.f;
  if (rc < 0) {
    s->b.err = fs_err(&s->b, __LINE__, rc, s->op, s->p1, s->p2, s->fd, s->fd2);
    uv_fs_req_cleanup(&s->b.req);
    fs_end(&s->b);
  }
  return f;
}

/* Most operations: a path (or two, or an fd) in, nothing or a value out. */
#define SIMPLE(kind, op, p1, p2, fd, call)                                     \
  do {                                                                         \
    simple_t *s = simple_new(loop, __func__, (kind), (op), (p1), (p2), (fd),  \
                             0);                                               \
    if (s == NULL)                                                             \
      return NULL;                                                             \
    if (simple_prepare(s, 0) != 0)                                             \
      return simple_start(s, UV_ENOMEM);                                       \
    return simple_start(s, call);                                              \
  } while (0)

#define REQ (&s->b.req)

/* files and descriptors */

future_t *future_fs_open(uv_loop_t *loop, const char *path, int flags,
                         int mode) {
  FS_NEED(path != NULL, "open", "NULL path");
  SIMPLE(K_FD, "open", path, NULL, -1,
         uv_fs_open(loop, REQ, path, flags, mode, simple_done));
}

future_t *future_fs_close(uv_loop_t *loop, uv_file file) {
  simple_t *s;
  if (loop == NULL)
    return NULL;
  s = simple_new(loop, __func__, K_NONE, "close", NULL, NULL, file, 0);
  if (s == NULL)
    return NULL;
  s->b.no_cancel = 1;
  return simple_start(s, uv_fs_close(loop, REQ, file, simple_done));
}

future_t *future_fs_read(uv_loop_t *loop, uv_file file, size_t len,
                         int64_t offset) {
  simple_t *s;
  future_buf_t *buf;
  uv_buf_t b;
  if (loop == NULL)
    return NULL;
  s = simple_new(loop, __func__, K_BUF, "read", NULL, NULL, file, 0);
  if (s == NULL)
    return NULL;
  buf = len < SIZE_MAX - sizeof(*buf) ? future__malloc(sizeof(*buf) + len + 1) : NULL;
  if (buf == NULL)
    return simple_start(s, UV_ENOMEM);
  buf->base = (char *)(buf + 1);
  buf->len = 0;
  s->want = len;
  s->b.value = buf;
  s->b.dtor = future__free;
  b.base = buf->base;
  b.len = len;
  return simple_start(s,
                      uv_fs_read(loop, REQ, file, &b, 1, offset, simple_done));
}

future_t *future_fs_read_into(uv_loop_t *loop, uv_file file, void *buf,
                              size_t len, int64_t offset) {
  uv_buf_t b;
  FS_NEED(buf != NULL || len == 0, "read", "NULL buffer");
  b.base = buf;
  b.len = len;
  SIMPLE(K_INT, "read", NULL, NULL, file,
         uv_fs_read(loop, REQ, file, &b, 1, offset, simple_done));
}

future_t *future_fs_write(uv_loop_t *loop, uv_file file, const void *buf,
                          size_t len, int64_t offset, future_dtor_cb buf_dtor) {
  simple_t *s;
  uv_buf_t b;
  if (loop == NULL || (buf == NULL && len > 0)) {
    if (buf_dtor != NULL)
      buf_dtor((void *)buf);
    if (loop == NULL)
      return NULL;
    return fs_reject(loop, __func__, UV_EINVAL, "write", "NULL buffer");
  }
  s = simple_new(loop, __func__, K_INT, "write", NULL, NULL, file, 0);
  if (s == NULL) {
    if (buf_dtor != NULL)
      buf_dtor((void *)buf);
    return NULL;
  }
  s->wbuf = (void *)buf;
  s->wbuf_dtor = buf_dtor;
  b.base = (char *)buf;
  b.len = len;
  return simple_start(s,
                      uv_fs_write(loop, REQ, file, &b, 1, offset, simple_done));
}

future_t *future_fs_sendfile(uv_loop_t *loop, uv_file out_fd, uv_file in_fd,
                             int64_t in_offset, size_t length) {
  simple_t *s;
  if (loop == NULL)
    return NULL;
  s = simple_new(loop, __func__, K_INT, "sendfile", NULL, NULL, in_fd, 0);
  if (s == NULL)
    return NULL;
  s->fd2 = out_fd;
  return simple_start(s, uv_fs_sendfile(loop, REQ, out_fd, in_fd, in_offset,
                                        length, simple_done));
}

future_t *future_fs_fsync(uv_loop_t *loop, uv_file file) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_NONE, "fsync", NULL, NULL, file,
         uv_fs_fsync(loop, REQ, file, simple_done));
}

future_t *future_fs_fdatasync(uv_loop_t *loop, uv_file file) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_NONE, "fdatasync", NULL, NULL, file,
         uv_fs_fdatasync(loop, REQ, file, simple_done));
}

future_t *future_fs_ftruncate(uv_loop_t *loop, uv_file file, int64_t length) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_NONE, "ftruncate", NULL, NULL, file,
         uv_fs_ftruncate(loop, REQ, file, length, simple_done));
}

/* metadata */

future_t *future_fs_stat(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "stat", "NULL path");
  SIMPLE(K_STAT, "stat", path, NULL, -1,
         uv_fs_stat(loop, REQ, path, simple_done));
}

future_t *future_fs_fstat(uv_loop_t *loop, uv_file file) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_STAT, "fstat", NULL, NULL, file,
         uv_fs_fstat(loop, REQ, file, simple_done));
}

future_t *future_fs_lstat(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "lstat", "NULL path");
  SIMPLE(K_STAT, "lstat", path, NULL, -1,
         uv_fs_lstat(loop, REQ, path, simple_done));
}

future_t *future_fs_statfs(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "statfs", "NULL path");
  SIMPLE(K_STATFS, "statfs", path, NULL, -1,
         uv_fs_statfs(loop, REQ, path, simple_done));
}

future_t *future_fs_access(uv_loop_t *loop, const char *path, int mode) {
  FS_NEED(path != NULL, "access", "NULL path");
  SIMPLE(K_NONE, "access", path, NULL, -1,
         uv_fs_access(loop, REQ, path, mode, simple_done));
}

future_t *future_fs_chmod(uv_loop_t *loop, const char *path, int mode) {
  FS_NEED(path != NULL, "chmod", "NULL path");
  SIMPLE(K_NONE, "chmod", path, NULL, -1,
         uv_fs_chmod(loop, REQ, path, mode, simple_done));
}

future_t *future_fs_fchmod(uv_loop_t *loop, uv_file file, int mode) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_NONE, "fchmod", NULL, NULL, file,
         uv_fs_fchmod(loop, REQ, file, mode, simple_done));
}

future_t *future_fs_utime(uv_loop_t *loop, const char *path, double atime,
                          double mtime) {
  FS_NEED(path != NULL, "utime", "NULL path");
  SIMPLE(K_NONE, "utime", path, NULL, -1,
         uv_fs_utime(loop, REQ, path, atime, mtime, simple_done));
}

future_t *future_fs_futime(uv_loop_t *loop, uv_file file, double atime,
                           double mtime) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_NONE, "futime", NULL, NULL, file,
         uv_fs_futime(loop, REQ, file, atime, mtime, simple_done));
}

future_t *future_fs_lutime(uv_loop_t *loop, const char *path, double atime,
                           double mtime) {
  FS_NEED(path != NULL, "lutime", "NULL path");
  SIMPLE(K_NONE, "lutime", path, NULL, -1,
         uv_fs_lutime(loop, REQ, path, atime, mtime, simple_done));
}

future_t *future_fs_chown(uv_loop_t *loop, const char *path, uv_uid_t uid,
                          uv_gid_t gid) {
  FS_NEED(path != NULL, "chown", "NULL path");
  SIMPLE(K_NONE, "chown", path, NULL, -1,
         uv_fs_chown(loop, REQ, path, uid, gid, simple_done));
}

future_t *future_fs_fchown(uv_loop_t *loop, uv_file file, uv_uid_t uid,
                           uv_gid_t gid) {
  if (loop == NULL)
    return NULL;
  SIMPLE(K_NONE, "fchown", NULL, NULL, file,
         uv_fs_fchown(loop, REQ, file, uid, gid, simple_done));
}

future_t *future_fs_lchown(uv_loop_t *loop, const char *path, uv_uid_t uid,
                           uv_gid_t gid) {
  FS_NEED(path != NULL, "lchown", "NULL path");
  SIMPLE(K_NONE, "lchown", path, NULL, -1,
         uv_fs_lchown(loop, REQ, path, uid, gid, simple_done));
}

/* names */

future_t *future_fs_unlink(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "unlink", "NULL path");
  SIMPLE(K_NONE, "unlink", path, NULL, -1,
         uv_fs_unlink(loop, REQ, path, simple_done));
}

future_t *future_fs_rename(uv_loop_t *loop, const char *path,
                           const char *new_path) {
  FS_NEED(path != NULL && new_path != NULL, "rename", "NULL path");
  SIMPLE(K_NONE, "rename", path, new_path, -1,
         uv_fs_rename(loop, REQ, path, new_path, simple_done));
}

future_t *future_fs_copyfile(uv_loop_t *loop, const char *path,
                             const char *new_path, int flags) {
  FS_NEED(path != NULL && new_path != NULL, "copyfile", "NULL path");
  SIMPLE(K_NONE, "copyfile", path, new_path, -1,
         uv_fs_copyfile(loop, REQ, path, new_path, flags, simple_done));
}

future_t *future_fs_link(uv_loop_t *loop, const char *path,
                         const char *new_path) {
  FS_NEED(path != NULL && new_path != NULL, "link", "NULL path");
  SIMPLE(K_NONE, "link", path, new_path, -1,
         uv_fs_link(loop, REQ, path, new_path, simple_done));
}

future_t *future_fs_symlink(uv_loop_t *loop, const char *path,
                            const char *new_path, int flags) {
  FS_NEED(path != NULL && new_path != NULL, "symlink", "NULL path");
  SIMPLE(K_NONE, "symlink", path, new_path, -1,
         uv_fs_symlink(loop, REQ, path, new_path, flags, simple_done));
}

future_t *future_fs_readlink(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "readlink", "NULL path");
  SIMPLE(K_STRING, "readlink", path, NULL, -1,
         uv_fs_readlink(loop, REQ, path, simple_done));
}

future_t *future_fs_realpath(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "realpath", "NULL path");
  SIMPLE(K_STRING, "realpath", path, NULL, -1,
         uv_fs_realpath(loop, REQ, path, simple_done));
}

/* Templates: the value is as long as the template. */
static future_t *fs_temp(uv_loop_t *loop, const char *func, int kind,
                         const char *op, const char *tpl) {
  simple_t *s = simple_new(loop, func, kind, op, tpl, NULL, -1, 0);
  if (s == NULL)
    return NULL;
  if (simple_prepare(s, strlen(tpl)) != 0)
    return simple_start(s, UV_ENOMEM);
  if (kind == K_MKDTEMP)
    return simple_start(s, uv_fs_mkdtemp(loop, REQ, tpl, simple_done));
  return simple_start(s, uv_fs_mkstemp(loop, REQ, tpl, simple_done));
}

future_t *future_fs_mkstemp(uv_loop_t *loop, const char *tpl) {
  FS_NEED(tpl != NULL, "mkstemp", "NULL template");
  return fs_temp(loop, __func__, K_MKSTEMP, "mkstemp", tpl);
}

/* directories */

future_t *future_fs_mkdir(uv_loop_t *loop, const char *path, int mode) {
  FS_NEED(path != NULL, "mkdir", "NULL path");
  SIMPLE(K_NONE, "mkdir", path, NULL, -1,
         uv_fs_mkdir(loop, REQ, path, mode, simple_done));
}

future_t *future_fs_mkdtemp(uv_loop_t *loop, const char *tpl) {
  FS_NEED(tpl != NULL, "mkdtemp", "NULL template");
  return fs_temp(loop, __func__, K_MKDTEMP, "mkdtemp", tpl);
}

future_t *future_fs_rmdir(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "rmdir", "NULL path");
  SIMPLE(K_NONE, "rmdir", path, NULL, -1,
         uv_fs_rmdir(loop, REQ, path, simple_done));
}

future_t *future_fs_scandir(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "scandir", "NULL path");
  SIMPLE(K_SCANDIR, "scandir", path, NULL, -1,
         uv_fs_scandir(loop, REQ, path, 0, simple_done));
}

future_t *future_fs_opendir(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "opendir", "NULL path");
  SIMPLE(K_OPENDIR, "opendir", path, NULL, -1,
         uv_fs_opendir(loop, REQ, path, simple_done));
}

future_t *future_fs_dir_read(uv_loop_t *loop, uv_dir_t *dir,
                             size_t max_entries) {
  simple_t *s;
  FS_NEED(dir != NULL, "readdir", "NULL directory");
  if (max_entries == 0)
    max_entries = 32;
  if (max_entries > UINT_MAX / 2)
    max_entries = UINT_MAX / 2;
  s = simple_new(loop, __func__, K_READDIR, "readdir", NULL, NULL, -1,
                 max_entries * sizeof(uv_dirent_t) + sizeof(void *));
  if (s == NULL)
    return NULL;
  {
    /* The entries go after the struct, suitably aligned. */
    uintptr_t p = (uintptr_t)s->mem;
    p = (p + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *);
    s->dirents = (uv_dirent_t *)p;
  }
  s->dir = dir;
  dir->dirents = s->dirents;
  dir->nentries = max_entries;
  return simple_start(s, uv_fs_readdir(loop, REQ, dir, simple_done));
}

future_t *future_fs_dir_close(uv_loop_t *loop, uv_dir_t *dir) {
  simple_t *s;
  FS_NEED(dir != NULL, "closedir", "NULL directory");
  s = simple_new(loop, __func__, K_NONE, "closedir", NULL, NULL, -1, 0);
  if (s == NULL)
    return NULL;
  s->b.no_cancel = 1;
  return simple_start(s, uv_fs_closedir(loop, REQ, dir, simple_done));
}

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
  fs_base_t b;
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

static void read_file_release(fs_base_t *b) {
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
  return fs_cancel(f, data);
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
  fs_base_t *b = &op->b;
  const char *what = "read";
  int rc = 0;

  if (fs_cancelled(b)) {
    fs_end(b);
    return;
  }
  if (r < 0) {
    what = op->stage == RF_OPEN ? "open" : op->stage == RF_FSTAT ? "fstat"
                                                                 : "read";
    b->err = FS_ERR(b, (int)r, what, op->path, NULL);
    fs_end(b);
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
        fs_end(b);
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
    fs_end(b);
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
  op = fs_alloc_with(loop, __func__, sizeof(*op), strlen(path) + 1,
                     read_file_release, read_file_cancel);
  if (op == NULL)
    return NULL;
  strcpy(op->path, path);
  op->b.path = op->path;
  op->fd = -1;
  op->stage = RF_OPEN;
  f = op->b.f;
  rc = uv_fs_open(loop, &op->b.req, path, UV_FS_O_RDONLY, 0, read_file_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "open", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    fs_end(&op->b);
  }
  return f;
}

/* write_file, append_file, truncate: open, write all (or ftruncate),
 * close. */

enum { WF_OPEN, WF_WRITE, WF_TRUNCATE };
enum { WF_MODE_WRITE, WF_MODE_APPEND, WF_MODE_TRUNCATE };

typedef struct {
  fs_base_t b;
  int stage;
  int mode;
  uv_file fd;
  const char *data;
  size_t len, done;
  int64_t length;  /* truncate */
  future_dtor_cb data_dtor;
  char path[];
} write_file_t;

static void write_file_release(fs_base_t *b) {
  write_file_t *op = (write_file_t *)b;
  if (op->data_dtor != NULL)
    op->data_dtor((void *)op->data);
  future__free(op);
}

static void write_file_step(uv_fs_t *req);

static int write_file_next(write_file_t *op) {
  uv_buf_t b;
  size_t left = op->len - op->done;
  b.base = (char *)op->data + op->done;
  b.len = left < FS_CHUNK ? left : FS_CHUNK;
  op->stage = WF_WRITE;
  return uv_fs_write(op->b.loop, &op->b.req, op->fd, &b, 1,
                     op->mode == WF_MODE_APPEND ? -1 : (int64_t)op->done,
                     write_file_step);
}

static void write_file_step(uv_fs_t *req) {
  write_file_t *op = req->data;
  fs_base_t *b = &op->b;
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
  if (fs_cancelled(b)) {
    fs_end(b);
    return;
  }
  if (r == 0 && op->stage == WF_WRITE)
    r = UV_EIO; /* nothing written and no error: do not spin */
  if (r < 0) {
    b->err = FS_ERR(b, (int)r, what, op->path, NULL);
    fs_end(b);
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
      fs_end(b);
      return;
    }
  } else if (op->done < op->len) {
    what = "write";
    rc = write_file_next(op);
  } else {
    fs_end(b);
    return;
  }
  if (rc < 0) {
    b->err = FS_ERR(b, rc, what, op->path, NULL);
    uv_fs_req_cleanup(req);
    fs_end(b);
  }
}

static future_t *write_file_start(uv_loop_t *loop, const char *func,
                                  const char *path, int mode,
                                  const void *data, size_t len,
                                  future_dtor_cb data_dtor, int64_t length) {
  write_file_t *op;
  future_t *f;
  int flags, rc;
  op = fs_alloc(loop, func, sizeof(*op), strlen(path) + 1,
                write_file_release);
  if (op == NULL) {
    if (data_dtor != NULL)
      data_dtor((void *)data);
    return NULL;
  }
  strcpy(op->path, path);
  op->b.path = op->path;
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
    fs_end(&op->b);
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
    return fs_reject(loop, func, UV_EINVAL, what,
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

/* readdir: opendir, readdir in batches until the end, closedir. */

#define RD_BATCH 64

typedef struct {
  fs_base_t b;
  int opened;
  uv_dir_t *dir;
  dirents_builder_t db;
  uv_dirent_t ents[RD_BATCH];
  char path[];
} readdir_t;

static void readdir_release(fs_base_t *b) {
  readdir_t *op = (readdir_t *)b;
  db_free(&op->db);
  future__free(op);
}

static void readdir_step(uv_fs_t *req) {
  readdir_t *op = req->data;
  fs_base_t *b = &op->b;
  ssize_t r = req->result;
  int rc = 0;
  ssize_t i;

  if (!op->opened && r >= 0) {
    op->dir = req->ptr;
    b->close_dir = op->dir;
  }
  for (i = 0; op->opened && rc == 0 && i < r; i++)
    rc = db_add(&op->db, op->ents[i].name, op->ents[i].type);
  uv_fs_req_cleanup(req);
  if (fs_cancelled(b)) {
    fs_end(b);
    return;
  }
  if (r < 0 || rc < 0) {
    b->err = FS_ERR(b, r < 0 ? (int)r : rc, op->opened ? "readdir" : "opendir",
                    op->path, NULL);
    fs_end(b);
    return;
  }
  if (op->opened && r == 0) {
    b->value = db_finish(&op->db);
    b->dtor = future__free;
    if (b->value == NULL)
      b->err = FS_ERR(b, UV_ENOMEM, "readdir", op->path, NULL);
    fs_end(b);
    return;
  }
  op->opened = 1;
  op->dir->dirents = op->ents;
  op->dir->nentries = RD_BATCH;
  rc = uv_fs_readdir(b->loop, req, op->dir, readdir_step);
  if (rc < 0) {
    b->err = FS_ERR(b, rc, "readdir", op->path, NULL);
    uv_fs_req_cleanup(req);
    fs_end(b);
  }
}

future_t *future_fs_readdir(uv_loop_t *loop, const char *path) {
  readdir_t *op;
  future_t *f;
  int rc;
  FS_NEED(path != NULL, "readdir", "NULL path");
  op = fs_alloc(loop, __func__, sizeof(*op), strlen(path) + 1,
                readdir_release);
  if (op == NULL)
    return NULL;
  strcpy(op->path, path);
  op->b.path = op->path;
  f = op->b.f;
  rc = uv_fs_opendir(loop, &op->b.req, path, readdir_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "opendir", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    fs_end(&op->b);
  }
  return f;
}

/* mkdir_p: mkdir the path; on ENOENT go up one component at a time until
 * a mkdir works, then down again. The path is one normalised copy; the
 * directory being made is always one of its prefixes. */

enum { MP_MKDIR, MP_STAT };

typedef struct {
  fs_base_t b;
  int stage;
  int mode;
  size_t len;    /* of the whole path */
  size_t cur;    /* of the prefix being made */
  size_t first;  /* of the first directory made, or 0 */
  char path[];
} mkdir_p_t;

static void mkdir_p_step(uv_fs_t *req);

/* Start a mkdir of the prefix of length op->cur. libuv copies the path
 * before returning, so the prefix is cut only for the call. */
static int mkdir_p_next(mkdir_p_t *op) {
  char saved = op->path[op->cur];
  int rc;
  op->stage = MP_MKDIR;
  op->path[op->cur] = '\0';
  rc = uv_fs_mkdir(op->b.loop, &op->b.req, op->path, op->mode, mkdir_p_step);
  op->path[op->cur] = saved;
  return rc;
}

/* An error about the prefix being made. */
static future_error_t *mkdir_p_err(mkdir_p_t *op, int line, int code,
                                   const char *what) {
  char saved = op->path[op->cur];
  future_error_t *err;
  op->path[op->cur] = '\0';
  err = fs_err(&op->b, line, code, what, op->path, NULL, -1, -1);
  op->path[op->cur] = saved;
  return err;
}

static void mkdir_p_done(mkdir_p_t *op) {
  fs_base_t *b = &op->b;
  if (op->first > 0) {
    char *v = future__malloc(op->first + 1);
    if (v == NULL) {
      b->err = FS_ERR(b, UV_ENOMEM, "mkdir", op->path, NULL);
    } else {
      memcpy(v, op->path, op->first);
      v[op->first] = '\0';
      b->value = v;
      b->dtor = future__free;
    }
  }
  fs_end(b);
}

static void mkdir_p_step(uv_fs_t *req) {
  mkdir_p_t *op = req->data;
  fs_base_t *b = &op->b;
  ssize_t r = req->result;
  int is_dir = r >= 0 && S_ISDIR(req->statbuf.st_mode);
  int rc;

  uv_fs_req_cleanup(req);
  if (fs_cancelled(b)) {
    fs_end(b);
    return;
  }
  if (op->stage == MP_STAT) {
    /* The whole path existed: fine if it is a directory. */
    if (r < 0)
      b->err = FS_ERR(b, (int)r, "stat", op->path, NULL);
    else if (!is_dir)
      b->err = FS_ERR(b, UV_EEXIST, "mkdir", op->path, NULL);
    if (b->err != NULL)
      fs_end(b);
    else
      mkdir_p_done(op);
    return;
  }
  if (r == UV_ENOENT) {
    /* A parent is missing: make it first. */
    size_t i = op->cur;
    while (i > 0 && op->path[i - 1] != '/')
      i--;
    /* i - 1 is the slash before the last component; no parent is left
     * when that is the root or there is none. */
    if (i <= 1) {
      b->err = mkdir_p_err(op, __LINE__, (int)r, "mkdir");
      fs_end(b);
      return;
    }
    op->cur = i - 1;
  } else if (r < 0 && !(r == UV_EEXIST && op->cur < op->len)) {
    if (r == UV_EEXIST) {
      /* The whole path is there: is it a directory? */
      op->stage = MP_STAT;
      rc = uv_fs_stat(b->loop, req, op->path, mkdir_p_step);
      if (rc < 0) {
        b->err = FS_ERR(b, rc, "stat", op->path, NULL);
        uv_fs_req_cleanup(req);
        fs_end(b);
      }
      return;
    }
    b->err = mkdir_p_err(op, __LINE__, (int)r, "mkdir");
    fs_end(b);
    return;
  } else {
    /* Made (or, for a parent, already there): go down one component. A
     * parent that is a file shows as ENOTDIR on the next mkdir. */
    if (r == 0 && op->first == 0)
      op->first = op->cur;
    if (op->cur == op->len) {
      mkdir_p_done(op);
      return;
    }
    op->cur++;
    while (op->cur < op->len && op->path[op->cur] != '/')
      op->cur++;
  }
  rc = mkdir_p_next(op);
  if (rc < 0) {
    b->err = mkdir_p_err(op, __LINE__, rc, "mkdir");
    uv_fs_req_cleanup(req);
    fs_end(b);
  }
}

future_t *future_fs_mkdir_p(uv_loop_t *loop, const char *path, int mode) {
  mkdir_p_t *op;
  future_t *f;
  const char *s;
  char *d;
  int rc;
  FS_NEED(path != NULL, "mkdir", "NULL path");
  op = fs_alloc(loop, __func__, sizeof(*op), strlen(path) + 1,
                fs_release_plain);
  if (op == NULL)
    return NULL;
  /* Normalise: no repeated slashes, no trailing slash (but "/" stays). */
  for (s = path, d = op->path; *s != '\0'; s++)
    if (*s != '/' || d == op->path || d[-1] != '/')
      *d++ = *s;
  if (d - op->path > 1 && d[-1] == '/')
    d--;
  *d = '\0';
  op->len = op->cur = (size_t)(d - op->path);
  op->mode = mode;
  op->b.path = op->path;
  f = op->b.f;
  rc = mkdir_p_next(op);
  if (rc < 0) {
    op->b.err = mkdir_p_err(op, __LINE__, rc, "mkdir");
    uv_fs_req_cleanup(&op->b.req);
    fs_end(&op->b);
  }
  return f;
}

/* rm_r: a depth-first walk with an explicit stack of directories. The
 * current path is one buffer: a directory's frame remembers the length of
 * its path, and an entry's path is that plus "/name". */

enum { RM_LSTAT_TOP, RM_LSTAT, RM_SCANDIR, RM_UNLINK, RM_RMDIR };

typedef struct {
  future_fs_dirents_t *ents;  /* NULL until scanned */
  size_t next;
  size_t plen;
} rm_frame_t;

typedef struct {
  fs_base_t b;
  int stage;
  unsigned int flags;
  char *path;
  size_t plen, pcap;
  rm_frame_t *frames;
  size_t depth, fcap;
} rm_t;

static void rm_release(fs_base_t *b) {
  rm_t *op = (rm_t *)b;
  size_t i;
  for (i = 0; i < op->depth; i++)
    future__free(op->frames[i].ents);
  future__free(op->frames);
  future__free(op->path);
  future__free(op);
}

static void rm_step(uv_fs_t *req);

static int rm_push(rm_t *op) {
  if (op->depth == op->fcap) {
    size_t cap = op->fcap ? op->fcap * 2 : 8;
    rm_frame_t *p = future__realloc(op->frames, cap * sizeof(*p));
    if (p == NULL)
      return UV_ENOMEM;
    op->frames = p;
    op->fcap = cap;
  }
  op->frames[op->depth].ents = NULL;
  op->frames[op->depth].next = 0;
  op->frames[op->depth].plen = op->plen;
  op->depth++;
  op->stage = RM_SCANDIR;
  return uv_fs_scandir(op->b.loop, &op->b.req, op->path, 0, rm_step);
}

/* Back to the directory of the top frame. */
static void rm_cut(rm_t *op) {
  op->plen = op->frames[op->depth - 1].plen;
  op->path[op->plen] = '\0';
}

/* Start on the next entry of the top frame, or remove the directory. */
static int rm_advance(rm_t *op) {
  rm_frame_t *fr = &op->frames[op->depth - 1];
  if (fr->next < fr->ents->count) {
    const future_fs_dirent_t *e = &fr->ents->entries[fr->next];
    size_t n = strlen(e->name);
    if (op->pcap - op->plen < n + 2) {
      size_t cap = op->pcap * 2 + n + 2;
      char *p = future__realloc(op->path, cap);
      if (p == NULL)
        return UV_ENOMEM;
      op->path = p;
      op->pcap = cap;
    }
    op->path[op->plen++] = '/';
    memcpy(op->path + op->plen, e->name, n + 1);
    op->plen += n;
    if (e->type == UV_DIRENT_DIR)
      return rm_push(op);
    if (e->type == UV_DIRENT_UNKNOWN) {
      op->stage = RM_LSTAT;
      return uv_fs_lstat(op->b.loop, &op->b.req, op->path, rm_step);
    }
    op->stage = RM_UNLINK;
    return uv_fs_unlink(op->b.loop, &op->b.req, op->path, rm_step);
  }
  op->stage = RM_RMDIR;
  return uv_fs_rmdir(op->b.loop, &op->b.req, op->path, rm_step);
}

/* The current entry of the top frame is dealt with. */
static int rm_entry_done(rm_t *op) {
  rm_cut(op);
  op->frames[op->depth - 1].next++;
  return rm_advance(op);
}

static const char *rm_op_name(int stage) {
  switch (stage) {
  case RM_LSTAT_TOP:
  case RM_LSTAT:
    return "lstat";
  case RM_SCANDIR:
    return "scandir";
  case RM_UNLINK:
    return "unlink";
  default:
    return "rmdir";
  }
}

static void rm_step(uv_fs_t *req) {
  rm_t *op = req->data;
  fs_base_t *b = &op->b;
  ssize_t r = req->result;
  int is_dir = r >= 0 && S_ISDIR(req->statbuf.st_mode);
  future_fs_dirents_t *ents = NULL;
  int top = op->depth == 0 || (op->stage == RM_SCANDIR && op->depth == 1) ||
            (op->stage == RM_RMDIR && op->depth == 1);
  int rc = 0;

  if (op->stage == RM_SCANDIR && r >= 0) {
    dirents_builder_t db;
    uv_dirent_t ent;
    memset(&db, 0, sizeof(db));
    /* To the end even after a failure (see simple_done). */
    while (uv_fs_scandir_next(req, &ent) == 0)
      if (rc == 0)
        rc = db_add(&db, ent.name, ent.type);
    ents = rc == 0 ? db_finish(&db) : NULL;
    if (ents == NULL) {
      db_free(&db);
      rc = UV_ENOMEM;
    }
  }
  uv_fs_req_cleanup(req);
  if (fs_cancelled(b)) {
    future__free(ents);
    fs_end(b);
    return;
  }
  if (rc == 0 && r < 0) {
    /* Something that vanished meanwhile is what we wanted; only the top
     * must exist, unless forced. */
    if (r != UV_ENOENT || (top && !(op->flags & FUTURE_FS_RM_FORCE)))
      rc = (int)r;
    else if (op->stage == RM_SCANDIR || op->stage == RM_RMDIR) {
      future__free(op->frames[op->depth - 1].ents);
      op->depth--;
      if (op->depth == 0) {
        fs_end(b);
        return;
      }
      rc = rm_entry_done(op);
    } else if (op->depth == 0) {
      fs_end(b);
      return;
    } else {
      rc = rm_entry_done(op);
    }
  } else if (rc == 0) {
    switch (op->stage) {
    case RM_LSTAT_TOP:
    case RM_LSTAT:
      if (is_dir) {
        rc = rm_push(op);
      } else {
        op->stage = RM_UNLINK;
        rc = uv_fs_unlink(b->loop, req, op->path, rm_step);
      }
      break;
    case RM_SCANDIR:
      op->frames[op->depth - 1].ents = ents;
      ents = NULL;
      rc = rm_advance(op);
      break;
    case RM_UNLINK:
      if (op->depth == 0) {
        fs_end(b);
        return;
      }
      rc = rm_entry_done(op);
      break;
    default: /* RM_RMDIR */
      future__free(op->frames[op->depth - 1].ents);
      op->depth--;
      if (op->depth == 0) {
        fs_end(b);
        return;
      }
      rc = rm_entry_done(op);
      break;
    }
  }
  if (rc < 0) {
    b->err = FS_ERR(b, rc, rm_op_name(op->stage), op->path, NULL);
    uv_fs_req_cleanup(req);
    fs_end(b);
  }
}

future_t *future_fs_rm_r(uv_loop_t *loop, const char *path,
                         unsigned int flags) {
  rm_t *op;
  future_t *f;
  size_t n;
  int rc;
  FS_NEED(path != NULL, "rm", "NULL path");
  op = fs_alloc(loop, __func__, sizeof(*op), 0, rm_release);
  if (op == NULL)
    return NULL;
  n = strlen(path);
  op->pcap = n + 256;
  op->path = future__malloc(op->pcap);
  f = op->b.f;
  if (op->path == NULL) {
    op->b.err = FS_ERR(&op->b, UV_ENOMEM, "rm", path, NULL);
    fs_end(&op->b);
    return f;
  }
  memcpy(op->path, path, n + 1);
  /* Entries are appended as "/name": drop trailing slashes. */
  while (n > 1 && op->path[n - 1] == '/')
    op->path[--n] = '\0';
  op->plen = n;
  op->flags = flags;
  op->stage = RM_LSTAT_TOP;
  rc = uv_fs_lstat(loop, &op->b.req, op->path, rm_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "lstat", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    fs_end(&op->b);
  }
  return f;
}
