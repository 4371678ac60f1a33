/*
 * Private to the file-system part of libfuture (src/fs*.c): never
 * installed, never included by users.
 *
 * src/fs.c holds the single uv_fs_* requests and the machinery every
 * operation shares (declared here); src/fs_file.c the whole-file helpers
 * (read_file, write_file, append_file, truncate); src/fs_tree.c the tree
 * walks (mkdir_p, rm_r, readdir). As in internal.h, the functions shared
 * between these files carry the future__fs_ prefix and hidden visibility;
 * the macros keep short names, since nothing outside src/fs*.c sees them.
 *
 * Each operation is one allocation (future__fs_base_t first, then what the
 * operation needs, then copies of its paths) and one source future. The
 * request in flight always lives in the base's uv_fs_t; a machine reuses it
 * step after step, so each libuv callback starts the next request and
 * returns: no recursion, whatever the size of a file or of a tree.
 *
 * Every operation ends in future__fs_end, which first closes what must be
 * closed whatever the outcome (the fd of read_file, the directory of
 * readdir), then, unless the value is being delivered, undoes what the
 * request made (the fd of a cancelled open, the file of a cancelled
 * mkstemp, ...), and only then settles the future and frees the state.
 * After a cancel the future is already rejected; settling it then releases
 * the value instead of delivering it (future__source_done).
 */
#ifndef FUTURE_FS_INTERNAL_H
#define FUTURE_FS_INTERNAL_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* The largest single read or write a helper issues: a cancel is noticed
 * between two of them, and a pool thread is never held for long. */
#define FS_CHUNK ((size_t)2 << 20)

typedef struct future__fs_base_s future__fs_base_t;

struct future__fs_base_s {
  uv_fs_t req;                      /* the request in flight */
  uv_loop_t *loop;
  future_t *f;
  const char *func;                 /* the public function, for errors */
  future__site_t site;              /* the caller's, when recorded */
  void (*release)(future__fs_base_t *b); /* frees the operation's memory */
  const char *path;                 /* for the errors of closing steps */
  const char *path2;                /* a second path, for the trace */
  /* The outcome being built. */
  void *value;
  future_dtor_cb dtor;
  future__holder_t *holder;  /* the value's, once future__fs_end made it */
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

/* Errors. An error names the operation and the path(s), or the
 * descriptor(s) when there is no path; `file` and `line` are where it was
 * raised, so that future_error_file says which of the fs*.c files. */
future_error_t *future__fs_err(const future__fs_base_t *b, const char *file,
                               int line, int code, const char *op,
                               const char *p1, const char *p2, int fd,
                               int fd2);

#define FS_ERR(b, code, op, p1, p2)                                            \
  future__fs_err((b), __FILE__, __LINE__, (code), (op), (p1), (p2), -1, -1)

/* A future rejected at once, for arguments that cannot work. */
future_t *future__fs_reject(uv_loop_t *loop, const char *file, int line,
                            const char *func, int code, const char *what,
                            const char *why);

#define FS_NEED(cond, what, why)                                               \
  do {                                                                         \
    if (loop == NULL)                                                          \
      return NULL;                                                             \
    if (!(cond))                                                               \
      return future__fs_reject(loop, __FILE__, __LINE__, __func__, UV_EINVAL,  \
                               (what), (why));                                 \
  } while (0)

/* The common machinery. */

/* The cancel hook of an operation whose request in flight is the base's
 * uv_fs_t. */
int future__fs_cancel(future_t *f, void *data);

/* Whether the operation's future was settled by a cancel (on the loop's
 * thread only). */
static inline int future__fs_cancelled(const future__fs_base_t *b) {
  return b->f->state != FUTURE_PENDING;
}

/* Allocate `size` bytes of operation (future__fs_base_t first) plus room
 * for `extra` bytes, and its future, cancelled with `cancel`. NULL when
 * memory runs out. */
void *future__fs_alloc_with(uv_loop_t *loop, const char *func, size_t size,
                            size_t extra,
                            void (*release)(future__fs_base_t *),
                            future__cancel_cb cancel);
/* The same, cancelled with future__fs_cancel. */
void *future__fs_alloc(uv_loop_t *loop, const char *func, size_t size,
                       size_t extra, void (*release)(future__fs_base_t *));
/* A release for operations that own nothing beyond their allocation. */
void future__fs_release_plain(future__fs_base_t *b);

/* Name the operation's request in a trace, from the public function, the
 * path(s) or the descriptor `fd` (-1: none): "fs.stat /tmp/x",
 * "fs.rename /a -> /b", "fs.read fd 7". */
void future__fs_trace(const future__fs_base_t *b, int fd);
#define FS_TRACE(b, fd)                                                        \
  do {                                                                         \
    if (FUTURE__TRACING())                                                     \
      future__fs_trace((b), (fd));                                             \
  } while (0)

/* Close, undo, settle, free. */
void future__fs_end(future__fs_base_t *b);

/* Jobs. What libuv has no request for (the *at system calls of the tree
 * walks, a copy that removes only the file it made) runs as one job on
 * libuv's thread pool (uv_queue_work): `run` on a pool thread, which
 * leaves nothing open behind it and reports 0 or a UV_E* code in `code`;
 * then, on the loop's thread, `done` (only if `run` ran and the future was
 * not cancelled meanwhile), which turns that into the operation's value
 * or error, and future__fs_end. A cancel sets `stop`, which `run` checks
 * between its steps (and then reports UV_ECANCELED), and takes the job off
 * the pool's queue if it has not started. A `done` that goes on with a
 * request of the base's uv_fs_t instead (read_file, when the file is not
 * a regular one) sets `handed_on`: that request's callback then ends the
 * operation, and a cancel goes to it (future__fs_cancel). */

typedef struct future__fs_job_s future__fs_job_t;

struct future__fs_job_s {
  future__fs_base_t b;
  uv_work_t work;
  atomic_int stop;                  /* set by a cancel, read by `run` */
  void (*run)(future__fs_job_t *j); /* on a pool thread */
  void (*done)(future__fs_job_t *j); /* on the loop's thread */
  int code;                         /* what `run` ended with */
  int handed_on;                    /* `done` started a uv_fs_t request */
};

/* A job of `size` bytes (future__fs_job_t first) plus `extra`, and its
 * future; NULL when memory runs out. Start it with future__fs_job_start,
 * which returns its future. */
void *future__fs_job_new(uv_loop_t *loop, const char *func, size_t size,
                         size_t extra, void (*release)(future__fs_base_t *),
                         void (*run)(future__fs_job_t *),
                         void (*done)(future__fs_job_t *));
future_t *future__fs_job_start(future__fs_job_t *j);

/* Whether the job was asked to stop (from any thread). */
static inline int future__fs_job_stopped(future__fs_job_t *j) {
  return atomic_load_explicit(&j->stop, memory_order_relaxed);
}

/* The `size` bytes of `src` into `dst` from offset 0, with uv_fs_sendfile
 * (copy_file_range where it can) in chunks of FS_CHUNK bytes, so that the
 * job `j` notices a cancel between two of them (UV_ECANCELED). A source
 * that got shorter is copied as it now is. On a pool thread: copyfile and
 * cp. */
int future__fs_copy_bytes(future__fs_job_t *j, int src, int dst,
                          int64_t size);

/* Directory entries, gathered into one block that `free` releases. */

typedef struct {
  struct {
    size_t off;
    uv_dirent_type_t type;
  } *ents;
  size_t n, cap;
  char *names;
  size_t nlen, ncap;
} future__fs_db_t;

int future__fs_db_add(future__fs_db_t *db, const char *name,
                      uv_dirent_type_t type);
void future__fs_db_free(future__fs_db_t *db);
future_fs_dirents_t *future__fs_db_finish(future__fs_db_t *db);

#pragma GCC visibility pop

#endif /* FUTURE_FS_INTERNAL_H */
