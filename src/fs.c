/*
 * The file system as futures: every single uv_fs_* request, and the
 * machinery that every operation of src/fs*.c shares (fs_internal.h says
 * how an operation is laid out and how it ends).
 */
#include "fs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int) /* <linux/fs.h>'s, as libuv does */
#endif
#endif

/* What future__fs_end is doing with the request. */
enum {
  END_NONE = 0,
  END_CLOSE,     /* closing the helper's fd: errors count */
  END_CLOSEDIR,  /* closing the helper's directory: errors count */
  UNDO_CLOSE,    /* undoing: errors are ignored */
  UNDO_UNLINK,
  UNDO_RMDIR,
  UNDO_CLOSEDIR
};

/* Errors. */

future_error_t *future__fs_err(const future__fs_base_t *b, const char *file,
                               int line, int code, const char *op,
                               const char *p1, const char *p2, int fd,
                               int fd2) {
  const char *func = b->func;
  if (b->site.file != NULL) { /* the caller's place (FUTURE_AT) */
    file = b->site.file;
    line = b->site.line;
    func = b->site.func;
  }
  if (p1 != NULL && p2 != NULL)
    return future_error_new_at(file, line, func, code, NULL,
                               "%s '%s' -> '%s'", op, p1, p2);
  if (p1 != NULL)
    return future_error_new_at(file, line, func, code, NULL, "%s '%s'", op,
                               p1);
  if (fd >= 0 && fd2 >= 0)
    return future_error_new_at(file, line, func, code, NULL,
                               "%s fd %d -> fd %d", op, fd, fd2);
  if (fd >= 0)
    return future_error_new_at(file, line, func, code, NULL, "%s fd %d", op,
                               fd);
  return future_error_new_at(file, line, func, code, NULL, "%s", op);
}

future_t *future__fs_reject(uv_loop_t *loop, const char *file, int line,
                            const char *func, int code, const char *what,
                            const char *why) {
  future__site_t site;
  future__site_get(&site, file, line, func);
  return future_rejected(loop,
                         future__error_site(&site, code, "%s: %s", what, why));
}

/* The common machinery. */

int future__fs_cancel(future_t *f, void *data) {
  future__fs_base_t *b = data;
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

void *future__fs_alloc_with(uv_loop_t *loop, const char *func, size_t size,
                            size_t extra, void (*release)(future__fs_base_t *),
                            future__cancel_cb cancel) {
  future__loop_t *lp = future__loop_get(loop);
  future__fs_base_t *b;
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
  future__site_get(&b->site, NULL, 0, NULL);
  b->release = release;
  b->close_fd = -1;
  b->undo_fd = -1;
  b->end_fd = -1;
  b->req.data = b;
  return b;
}

void *future__fs_alloc(uv_loop_t *loop, const char *func, size_t size,
                       size_t extra, void (*release)(future__fs_base_t *)) {
  return future__fs_alloc_with(loop, func, size, extra, release,
                               future__fs_cancel);
}

void future__fs_release_plain(future__fs_base_t *b) { future__free(b); }

/* The operation's name in a trace, into `out`. */
static void fs_name(char *out, size_t size, const future__fs_base_t *b,
                    int fd) {
  const char *op = b->func;
  int n;
  if (strncmp(op, "future_fs_", 10) == 0)
    op += 10;
  n = snprintf(out, size, "fs.%s", op);
  if (n < 0 || (size_t)n >= size)
    return;
  if (b->path != NULL && b->path2 != NULL)
    snprintf(out + n, size - (size_t)n, " %s -> %s", b->path, b->path2);
  else if (b->path != NULL)
    snprintf(out + n, size - (size_t)n, " %s", b->path);
  else if (fd >= 0)
    snprintf(out + n, size - (size_t)n, " fd %d", fd);
}

void future__fs_trace(const future__fs_base_t *b, int fd) {
  char name[256];
  fs_name(name, sizeof name, b, fd);
  future__trace_request(b->f, "%s", name);
}

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

static void fs_settle(future__fs_base_t *b) {
  future_t *f = b->f;
  if (b->err != NULL) {
    if (b->holder != NULL)
      future__holder_unref(b->holder); /* which runs the destructor */
    else if (b->dtor != NULL)
      b->dtor(b->value);
    future__source_fail(f, b->err);
  } else if (b->holder != NULL) {
    /* After a cancel this too releases the value. */
    future__outcome_t out = {b->value, b->holder, NULL};
    future__source_done(f, &out);
  } else {
    /* After a cancel this releases the value instead of delivering it. */
    future__source_fulfil(f, b->value, b->dtor);
  }
  b->release(b);
}

/* Pick the next ending step; 0 when there is none left. */
static int end_pick(future__fs_base_t *b) {
  int delivering = !future__fs_cancelled(b) && b->err == NULL;
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
static int end_submit(future__fs_base_t *b, uv_fs_cb cb) {
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

static void end_result(future__fs_base_t *b, ssize_t result) {
  if (result < 0 && b->err == NULL && !future__fs_cancelled(b)) {
    if (b->ending == END_CLOSE)
      b->err = future__fs_err(b, __FILE__, __LINE__, (int)result, "close",
                              b->path, NULL, b->end_fd, -1);
    else if (b->ending == END_CLOSEDIR)
      b->err = FS_ERR(b, (int)result, "closedir", b->path, NULL);
  }
  b->ending = END_NONE;
}

static void end_step(uv_fs_t *req);

/* Close, undo, settle, free. */
void future__fs_end(future__fs_base_t *b) {
  /* A value with a destructor is delivered in a holder. Have it before
   * end_pick decides that the value is being delivered and skips the undo
   * steps: running out of memory for it is then an error like any other,
   * and what the request made is undone (the file of a mkstemp closed and
   * removed, the directory of a mkdtemp removed) rather than leaked. */
  if (b->dtor != NULL && b->holder == NULL && b->err == NULL &&
      !future__fs_cancelled(b)) {
    b->holder = future__malloc(sizeof(*b->holder));
    if (b->holder == NULL) {
      b->err = FS_ERR(b, UV_ENOMEM, "keeping the value", NULL, NULL);
    } else {
      atomic_init(&b->holder->refs, 1);
      b->holder->value = b->value;
      b->holder->dtor = b->dtor;
    }
  }
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
  future__fs_base_t *b = req->data;
  ssize_t result = req->result;
  uv_fs_req_cleanup(req);
  end_result(b, result);
  future__fs_end(b);
}

/* Jobs. */

static int fs_job_cancel(future_t *f, void *data) {
  future__fs_job_t *j = data;
  if (j->handed_on) /* `done` went on with a uv_fs_t request */
    return future__fs_cancel(f, data);
  /* A job that has started sees the flag at its next step and stops; one
   * still queued is taken off the queue. Either way fs_job_after runs and
   * ends the operation, so the job keeps its reference until then: 0. */
  atomic_store_explicit(&j->stop, 1, memory_order_relaxed);
  uv_cancel((uv_req_t *)&j->work);
  return 0;
}

static void fs_job_run(uv_work_t *w) {
  future__fs_job_t *j = w->data;
  uint64_t t0 = FUTURE__TRACING() ? uv_hrtime() : 0;
  j->run(j);
  if (t0 != 0) { /* a slice on this pool thread's lane */
    char name[256];
    fs_name(name, sizeof name, &j->b, -1);
    future__trace_pool(j->b.f, t0, "%s", name);
  }
}

static void fs_job_after(uv_work_t *w, int status) {
  future__fs_job_t *j = w->data;
  /* A job taken off the queue (status UV_ECANCELED) never ran; either way
   * a cancelled future wants no value and no error. */
  (void)status;
  if (!future__fs_cancelled(&j->b))
    j->done(j);
  if (!j->handed_on)
    future__fs_end(&j->b);
}

void *future__fs_job_new(uv_loop_t *loop, const char *func, size_t size,
                         size_t extra, void (*release)(future__fs_base_t *),
                         void (*run)(future__fs_job_t *),
                         void (*done)(future__fs_job_t *)) {
  future__fs_job_t *j = future__fs_alloc_with(loop, func, size, extra,
                                              release, fs_job_cancel);
  if (j == NULL)
    return NULL;
  j->work.data = j;
  j->run = run;
  j->done = done;
  return j;
}

future_t *future__fs_job_start(future__fs_job_t *j) {
  future_t *f = j->b.f;
  int rc;
  FS_TRACE(&j->b, -1);
  rc = uv_queue_work(j->b.loop, &j->work, fs_job_run, fs_job_after);
  if (rc < 0) {
    /* Not queued (libuv refuses only a NULL work function): `done` is for
     * what `run` reports, and it never ran. */
    j->b.err = FS_ERR(&j->b, rc, "uv_queue_work", j->b.path, NULL);
    future__fs_end(&j->b);
  }
  return f;
}

/* Directory entries, gathered into one block that `free` releases. */

int future__fs_db_add(future__fs_db_t *db, const char *name,
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

void future__fs_db_free(future__fs_db_t *db) {
  future__free(db->ents);
  future__free(db->names);
  memset(db, 0, sizeof(*db));
}

future_fs_dirents_t *future__fs_db_finish(future__fs_db_t *db) {
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
  future__fs_db_free(db);
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
  future__fs_base_t b;
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

static void simple_release(future__fs_base_t *b) {
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
  s = future__fs_alloc(loop, func, sizeof(simple_t),
                       fs_len0(p1) + fs_len0(p2) + extra, simple_release);
  if (s == NULL)
    return NULL;
  mem = s->mem;
  s->kind = (uint8_t)kind;
  s->op = op;
  s->p1 = fs_stash(&mem, p1);
  s->p2 = fs_stash(&mem, p2);
  s->b.path = s->p1;
  s->b.path2 = s->p2;
  s->fd = fd;
  s->fd2 = -1;
  FS_TRACE(&s->b, fd);
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
  future__fs_base_t *b = &s->b;
  ssize_t r = req->result;

  if (r < 0) {
    b->err = future__fs_err(b, __FILE__, __LINE__, (int)r, s->op, s->p1, s->p2,
                            s->fd, s->fd2);
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
      future__fs_db_t db;
      uv_dirent_t ent;
      int rc = 0;
      memset(&db, 0, sizeof(db));
      /* Read to the end even after a failure: libuv frees the entry last
       * returned only on the next call, and its cleanup misses the last
       * one of all. */
      while (uv_fs_scandir_next(req, &ent) == 0)
        if (rc == 0)
          rc = future__fs_db_add(&db, ent.name, ent.type);
      if (rc == 0 && (b->value = future__fs_db_finish(&db)) != NULL)
        b->dtor = future__free;
      else {
        future__fs_db_free(&db);
        b->err = FS_ERR(b, UV_ENOMEM, s->op, s->p1, NULL);
      }
      break;
    }
    case K_OPENDIR:
      b->value = req->ptr;
      b->undo_dir = req->ptr;
      break;
    case K_READDIR: {
      future__fs_db_t db;
      ssize_t i;
      int rc = 0;
      memset(&db, 0, sizeof(db));
      for (i = 0; rc == 0 && i < r; i++)
        rc = future__fs_db_add(&db, s->dirents[i].name, s->dirents[i].type);
      if (rc == 0 && (b->value = future__fs_db_finish(&db)) != NULL)
        b->dtor = future__free;
      else {
        future__fs_db_free(&db);
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
  future__fs_end(b);
}

/* `rc` is what the uv_fs_* call returned: when it failed, its callback
 * will never run. */
static future_t *simple_start(simple_t *s, int rc) {
  future_t *f = s->b.f;
  if (rc < 0) {
    s->b.err = future__fs_err(&s->b, __FILE__, __LINE__, rc, s->op, s->p1,
                              s->p2, s->fd, s->fd2);
    uv_fs_req_cleanup(&s->b.req);
    future__fs_end(&s->b);
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
    return simple_start(s, call);                                              \
  } while (0)

/* The same for the kinds whose value is made before the request. */
#define SIMPLE_PREPARED(kind, op, p1, p2, fd, call)                            \
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
    return future__fs_reject(loop, __FILE__, __LINE__, __func__, UV_EINVAL,
                             "write", "NULL buffer");
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
  SIMPLE_PREPARED(K_STAT, "stat", path, NULL, -1,
                  uv_fs_stat(loop, REQ, path, simple_done));
}

future_t *future_fs_fstat(uv_loop_t *loop, uv_file file) {
  if (loop == NULL)
    return NULL;
  SIMPLE_PREPARED(K_STAT, "fstat", NULL, NULL, file,
                  uv_fs_fstat(loop, REQ, file, simple_done));
}

future_t *future_fs_lstat(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "lstat", "NULL path");
  SIMPLE_PREPARED(K_STAT, "lstat", path, NULL, -1,
                  uv_fs_lstat(loop, REQ, path, simple_done));
}

future_t *future_fs_statfs(uv_loop_t *loop, const char *path) {
  FS_NEED(path != NULL, "statfs", "NULL path");
  SIMPLE_PREPARED(K_STATFS, "statfs", path, NULL, -1,
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

/* copyfile: one job on libuv's pool, as uv_fs_copyfile, except for one
 * step. uv_fs_copyfile removes a destination it could not fill by its
 * path, resolved anew after the copy failed: if a directory on the way was
 * renamed or swapped for a link meanwhile, that removes a file elsewhere,
 * one the copy never opened. Here the directory that holds the destination
 * is opened once, the destination is made in it (openat), and on failure
 * its name there is unlinked only while it still names the file that was
 * opened (st_dev, st_ino). Everything else is uv_fs_copyfile's: the mode
 * goes with the content, an existing destination is truncated (through a
 * link at its name, as cp does) unless UV_FS_COPYFILE_EXCL, a copy onto
 * the source itself does nothing, the FICLONE flags ask for a
 * copy-on-write clone, and the bytes move with uv_fs_sendfile (which uses
 * copy_file_range where it can), here in chunks of FS_CHUNK bytes so that
 * a cancel is noticed between two of them. */

typedef struct {
  future__fs_job_t j;
  int flags;
  const char *path, *new_path;
  char mem[];
} copyfile_t;

int future__fs_copy_bytes(future__fs_job_t *j, int src, int dst,
                          int64_t size) {
  int64_t off = 0, left = size;
  while (left > 0) {
    uv_fs_t req;
    ssize_t n;
    size_t chunk = left < (int64_t)FS_CHUNK ? (size_t)left : FS_CHUNK;
    if (future__fs_job_stopped(j))
      return UV_ECANCELED;
    n = uv_fs_sendfile(NULL, &req, dst, src, off, chunk, NULL);
    uv_fs_req_cleanup(&req);
    if (n < 0)
      return (int)n;
    if (n == 0)
      break; /* the source got shorter: what it has is copied */
    off += n;
    left -= n;
  }
  return 0;
}

/* The copy proper, from `src` to `dst` (`st` is the source's status). */
static int copyfile_fill(copyfile_t *op, int src, int dst,
                         const struct stat *st) {
  if (fchmod(dst, st->st_mode & 07777) != 0) {
    int e = errno;
#ifdef __linux__
    /* Like uv_fs_copyfile: on CIFS shares, fchmod always fails with EPERM
     * (unless mounted with noperm) and means nothing: ignore it there. */
    struct statfs sf;
    if (!(e == EPERM && fstatfs(dst, &sf) == 0 &&
          (unsigned)sf.f_type == 0xFF534D42u))
#endif
      return uv_translate_sys_error(e);
  }
  if (op->flags & (UV_FS_COPYFILE_FICLONE | UV_FS_COPYFILE_FICLONE_FORCE)) {
#ifdef FICLONE
    if (ioctl(dst, FICLONE, src) == 0)
      return 0;
    if (op->flags & UV_FS_COPYFILE_FICLONE_FORCE)
      return uv_translate_sys_error(errno);
#else
    if (op->flags & UV_FS_COPYFILE_FICLONE_FORCE)
      return UV_ENOSYS;
#endif
  }
  return future__fs_copy_bytes(&op->j, src, dst, st->st_size);
}

static void copyfile_run(future__fs_job_t *j) {
  copyfile_t *op = (copyfile_t *)j;
  char *to = (char *)op->new_path;
  size_t name = strlen(to);
  int src, dir = AT_FDCWD, dst = -1, rc = 0;
  struct stat st, made;
  src = open(op->path, O_RDONLY | O_CLOEXEC);
  if (src < 0 || fstat(src, &st) != 0) {
    rc = uv_translate_sys_error(errno);
    goto out;
  }
  /* The directory that holds the destination, opened once. A name that
   * ends in a slash has no such directory; it cannot be created either,
   * so it is opened as it is, and nothing is ever made to remove. */
  while (name > 0 && to[name - 1] != '/')
    name--;
  if (name > 0 && to[name] != '\0') {
    char saved = to[name];
    to[name] = '\0';
    dir = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    to[name] = saved;
    if (dir < 0) {
      rc = uv_translate_sys_error(errno);
      goto out;
    }
  } else {
    name = 0;
  }
  dst = openat(dir, to + name,
               O_WRONLY | O_CREAT | O_CLOEXEC |
                   (op->flags & UV_FS_COPYFILE_EXCL ? O_EXCL : 0),
               st.st_mode & 07777);
  if (dst < 0 || fstat(dst, &made) != 0) {
    rc = uv_translate_sys_error(errno);
    if (dst >= 0) {
      close(dst);
      dst = -1;
    }
    goto out;
  }
  if (!(op->flags & UV_FS_COPYFILE_EXCL)) {
    if (made.st_dev == st.st_dev && made.st_ino == st.st_ino)
      goto out; /* onto itself: nothing to do, and nothing to remove */
    if (ftruncate(dst, 0) != 0) {
      rc = uv_translate_sys_error(errno);
      goto out;
    }
  }
  rc = copyfile_fill(op, src, dst, &st);
out:
  if (src >= 0)
    close(src);
  if (dst >= 0) {
    if (close(dst) != 0 && rc == 0 && errno != EINTR)
      rc = uv_translate_sys_error(errno);
    if (rc < 0) {
      /* Remove what could not be filled, if its name still names it. */
      struct stat now;
      if (fstatat(dir, to + name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
          now.st_dev == made.st_dev && now.st_ino == made.st_ino)
        unlinkat(dir, to + name, 0);
    }
  }
  if (dir >= 0)
    close(dir);
  j->code = rc;
}

static void copyfile_done(future__fs_job_t *j) {
  copyfile_t *op = (copyfile_t *)j;
  if (j->code < 0)
    j->b.err = future__fs_err(&j->b, __FILE__, __LINE__, j->code,
                              "copyfile", op->path, op->new_path, -1, -1);
}

future_t *future_fs_copyfile(uv_loop_t *loop, const char *path,
                             const char *new_path, int flags) {
  copyfile_t *op;
  char *mem;
  FS_NEED(path != NULL && new_path != NULL, "copyfile", "NULL path");
  op = future__fs_job_new(loop, __func__, sizeof(*op),
                          fs_len0(path) + fs_len0(new_path),
                          future__fs_release_plain, copyfile_run,
                          copyfile_done);
  if (op == NULL)
    return NULL;
  mem = op->mem;
  op->path = fs_stash(&mem, path);
  op->new_path = fs_stash(&mem, new_path);
  op->j.b.path = op->path;
  op->j.b.path2 = op->new_path;
  op->flags = flags;
  return future__fs_job_start(&op->j);
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

