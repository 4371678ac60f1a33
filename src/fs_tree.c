/*
 * The tree walks: readdir (a directory in batches), mkdir_p and rm_r
 * (fs_internal.h says how an operation is laid out and how it ends).
 */
#include "fs_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
  f = op->b.f;
  rc = uv_fs_opendir(loop, &op->b.req, path, readdir_step);
  if (rc < 0) {
    op->b.err = FS_ERR(&op->b, rc, "opendir", op->path, NULL);
    uv_fs_req_cleanup(&op->b.req);
    future__fs_end(&op->b);
  }
  return f;
}

/* mkdir_p: mkdir the path; on ENOENT go up one component at a time until
 * a mkdir works, then down again. The path is one normalised copy; the
 * directory being made is always one of its prefixes. */

enum { MP_MKDIR, MP_STAT };

typedef struct {
  future__fs_base_t b;
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
  err = future__fs_err(&op->b, __FILE__, line, code, what, op->path, NULL, -1,
                       -1);
  op->path[op->cur] = saved;
  return err;
}

static void mkdir_p_done(mkdir_p_t *op) {
  future__fs_base_t *b = &op->b;
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
  future__fs_end(b);
}

static void mkdir_p_step(uv_fs_t *req) {
  mkdir_p_t *op = req->data;
  future__fs_base_t *b = &op->b;
  ssize_t r = req->result;
  int is_dir = r >= 0 && S_ISDIR(req->statbuf.st_mode);
  int rc;

  uv_fs_req_cleanup(req);
  if (future__fs_cancelled(b)) {
    future__fs_end(b);
    return;
  }
  if (op->stage == MP_STAT) {
    /* The whole path existed: fine if it is a directory. */
    if (r < 0)
      b->err = FS_ERR(b, (int)r, "stat", op->path, NULL);
    else if (!is_dir)
      b->err = FS_ERR(b, UV_EEXIST, "mkdir", op->path, NULL);
    if (b->err != NULL)
      future__fs_end(b);
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
      future__fs_end(b);
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
        future__fs_end(b);
      }
      return;
    }
    b->err = mkdir_p_err(op, __LINE__, (int)r, "mkdir");
    future__fs_end(b);
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
    future__fs_end(b);
  }
}

future_t *future_fs_mkdir_p(uv_loop_t *loop, const char *path, int mode) {
  mkdir_p_t *op;
  future_t *f;
  const char *s;
  char *d;
  int rc;
  FS_NEED(path != NULL, "mkdir", "NULL path");
  op = future__fs_alloc(loop, __func__, sizeof(*op), strlen(path) + 1,
                        future__fs_release_plain);
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
    future__fs_end(&op->b);
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
  future__fs_base_t b;
  int stage;
  unsigned int flags;
  char *path;
  size_t plen, pcap;
  rm_frame_t *frames;
  size_t depth, fcap;
} rm_t;

static void rm_release(future__fs_base_t *b) {
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
  future__fs_base_t *b = &op->b;
  ssize_t r = req->result;
  int is_dir = r >= 0 && S_ISDIR(req->statbuf.st_mode);
  future_fs_dirents_t *ents = NULL;
  int top = op->depth == 0 || (op->stage == RM_SCANDIR && op->depth == 1) ||
            (op->stage == RM_RMDIR && op->depth == 1);
  int rc = 0;

  if (op->stage == RM_SCANDIR && r >= 0) {
    future__fs_db_t db;
    uv_dirent_t ent;
    memset(&db, 0, sizeof(db));
    /* To the end even after a failure (see simple_done). */
    while (uv_fs_scandir_next(req, &ent) == 0)
      if (rc == 0)
        rc = future__fs_db_add(&db, ent.name, ent.type);
    ents = rc == 0 ? future__fs_db_finish(&db) : NULL;
    if (ents == NULL) {
      future__fs_db_free(&db);
      rc = UV_ENOMEM;
    }
  }
  uv_fs_req_cleanup(req);
  if (future__fs_cancelled(b)) {
    future__free(ents);
    future__fs_end(b);
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
        future__fs_end(b);
        return;
      }
      rc = rm_entry_done(op);
    } else if (op->depth == 0) {
      future__fs_end(b);
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
        future__fs_end(b);
        return;
      }
      rc = rm_entry_done(op);
      break;
    default: /* RM_RMDIR */
      future__free(op->frames[op->depth - 1].ents);
      op->depth--;
      if (op->depth == 0) {
        future__fs_end(b);
        return;
      }
      rc = rm_entry_done(op);
      break;
    }
  }
  if (rc < 0) {
    b->err = FS_ERR(b, rc, rm_op_name(op->stage), op->path, NULL);
    uv_fs_req_cleanup(req);
    future__fs_end(b);
  }
}

future_t *future_fs_rm_r(uv_loop_t *loop, const char *path,
                         unsigned int flags) {
  rm_t *op;
  future_t *f;
  size_t n;
  int rc;
  FS_NEED(path != NULL, "rm", "NULL path");
  op = future__fs_alloc(loop, __func__, sizeof(*op), 0, rm_release);
  if (op == NULL)
    return NULL;
  n = strlen(path);
  op->pcap = n + 256;
  op->path = future__malloc(op->pcap);
  f = op->b.f;
  if (op->path == NULL) {
    op->b.err = FS_ERR(&op->b, UV_ENOMEM, "rm", path, NULL);
    future__fs_end(&op->b);
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
    future__fs_end(&op->b);
  }
  return f;
}

