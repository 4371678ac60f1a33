/*
 * The recursive copy: future_fs_cp (Node's fs.promises.cp), walked with
 * directory descriptors as rm_r walks (fs_internal.h says how an
 * operation is laid out and how it ends; fs_tree.c has rm_r).
 */
#define _GNU_SOURCE /* O_DIRECTORY, O_NOFOLLOW, fdopendir, futimens */
#include "fs_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cp: one job on libuv's pool walks the source with directory
 * descriptors (fstatat and openat with AT_SYMLINK_NOFOLLOW / O_NOFOLLOW,
 * relative to the directory being copied) and makes the destination with
 * mkdirat, openat(O_CREAT | O_EXCL | O_NOFOLLOW) and symlinkat relative to
 * the destination directory it made or opened. No path is resolved from
 * the top again after a check: swapping a directory of either tree for a
 * link while the copy runs can make it fail, never read or write outside
 * the two trees. A walk by full paths can be led out: between its look at
 * "src/sub" and its open of "src/sub/f", "src/sub" may have become a link
 * to elsewhere (the rm_r race, CVE-2022-21658, in a copy).
 *
 * Each source directory is looked at with fstatat (no following), opened
 * with O_NOFOLLOW | O_DIRECTORY and checked with fstat to be the one that
 * was looked at (st_dev, st_ino); a file likewise (opened O_NONBLOCK, so
 * that a FIFO swapped in cannot block the open). Something swapped in
 * between is looked at again (CP_TRIES times at most), never used.
 *
 * A directory's entries are read whole when it is entered (its names are
 * kept, so that its descriptor may be closed and opened again without
 * reading it anew), then copied one by one. As in rm_r, a stack of frames
 * holds one source and one destination descriptor per directory for at
 * most CP_FDS of the deepest; a frame closed on the way down is opened
 * again on the way up with openat(child, "..") and checked to be the same
 * directory as before (UV_EAGAIN if it is not: the tree was moved). A
 * directory made here is made with its source's mode plus owner rwx (so
 * that the copy can fill it) and given its exact mode once it is full.
 *
 * A cancel is noticed before each entry and between two chunks of a file:
 * the file being copied is removed (if its name still names it), what was
 * copied before stays. */

#define CP_FDS 8   /* directory frames with descriptors open, at most */
#define CP_TRIES 8 /* looks at an entry that keeps changing, at most */
#define CP_AGAIN 2 /* an entry changed between the look and the use */
#define CP_FLAGS                                                               \
  (FUTURE_FS_CP_FORCE | FUTURE_FS_CP_ERROR_ON_EXIST |                          \
   FUTURE_FS_CP_PRESERVE_TIMESTAMPS | FUTURE_FS_CP_SKIP_SPECIAL)

/* What an error says beyond its code. */
enum { CP_PLAIN, CP_INTO_SELF, CP_SAME, CP_FIFO, CP_SOCKET, CP_DEVICE };

typedef struct {
  int sfd, dfd;         /* -1 while closed: a frame above the open ones */
  dev_t sdev, ddev;     /* what the directories are: checked at reopening */
  ino_t sino, dino;
  size_t splen, dplen;  /* the lengths of their paths in the path buffers */
  future__fs_db_t db;   /* the source's entries */
  size_t next;          /* the next of them to copy */
  int made;             /* the destination was made here: set its mode */
  mode_t mode;
  struct timespec times[2];
} cp_frame_t;

typedef struct {
  future__fs_job_t j;
  unsigned int flags;
  int sparent, dparent; /* the directories that hold the two tops */
  int have_dtop;        /* the destination's top directory is known */
  dev_t dtop_dev;
  ino_t dtop_ino;
  /* The paths of what the walk is at, for errors. */
  char *sp, *dp;
  size_t splen, dplen, spcap, dpcap;
  cp_frame_t *frames;
  size_t depth, fcap, open;
  /* The failure, for the loop's thread to make into an error. */
  const char *err_op;
  int err_kind;
  int err_line;
  /* The tops: as given (trailing slashes cut), and each split into the
   * directory that holds it and its name there ("." when the path ends in
   * "." or "..", or is "/": then the directory is the path itself). */
  const char *src, *dst, *sdir, *sname, *ddir, *dname;
  char mem[];
} cp_t;

static void cp_release(future__fs_base_t *b) {
  cp_t *op = (cp_t *)b;
  size_t i;
  for (i = 0; i < op->depth; i++)
    future__fs_db_free(&op->frames[i].db);
  future__free(op->frames);
  future__free(op->sp);
  future__free(op->dp);
  future__free(op);
}

/* Remember a failure (an errno value) of step `what` at the paths the
 * buffers hold; the error is made on the loop's thread. */
#define CP_FAIL(op, what, e) cp_fail((op), (what), CP_PLAIN, (e), __LINE__)
#define CP_REFUSE(op, kind) cp_fail((op), "cp", (kind), EINVAL, __LINE__)
static int cp_fail(cp_t *op, const char *what, int kind, int e, int line) {
  op->err_op = what;
  op->err_kind = kind;
  op->err_line = line;
  return uv_translate_sys_error(e);
}

/* Room for `n` bytes of path in one of the buffers. */
static int cp_room(char **buf, size_t *cap, size_t n) {
  char *p;
  size_t c;
  if (n <= *cap)
    return 0;
  for (c = *cap * 2; c < n; c *= 2)
    ;
  p = future__realloc(*buf, c);
  if (p == NULL)
    return -1;
  *buf = p;
  *cap = c;
  return 0;
}

/* Both paths, one level down: "/name" appended to each. */
static int cp_down(cp_t *op, const char *name) {
  size_t len = strlen(name);
  if (cp_room(&op->sp, &op->spcap, op->splen + len + 2) != 0 ||
      cp_room(&op->dp, &op->dpcap, op->dplen + len + 2) != 0)
    return CP_FAIL(op, "cp", ENOMEM);
  op->sp[op->splen] = '/';
  memcpy(op->sp + op->splen + 1, name, len + 1);
  op->splen += len + 1;
  op->dp[op->dplen] = '/';
  memcpy(op->dp + op->dplen + 1, name, len + 1);
  op->dplen += len + 1;
  return 0;
}

static void cp_at(cp_t *op, size_t splen, size_t dplen) {
  op->splen = splen;
  op->sp[splen] = '\0';
  op->dplen = dplen;
  op->dp[dplen] = '\0';
}

static void cp_close(cp_frame_t *fr) {
  if (fr->sfd >= 0)
    close(fr->sfd);
  if (fr->dfd >= 0)
    close(fr->dfd);
  fr->sfd = fr->dfd = -1;
}

/* Close the shallowest frame that has descriptors, to make room; 0 when
 * none may be closed. The two deepest stay open: the walk works in the
 * deepest, and while it enters a directory (or comes back up to one) it
 * has two frames in hand, the new one and the one it makes it in. */
static int cp_shed(cp_t *op) {
  if (op->open < 3)
    return 0;
  cp_close(&op->frames[op->depth - op->open]);
  op->open--;
  return 1;
}

/* openat, closing shallower frames for room when the process is out of
 * descriptors. The descriptor, or minus the errno value. */
static int cp_openat(cp_t *op, int dirfd, const char *name, int flags,
                     mode_t mode) {
  for (;;) {
    int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
    if (fd >= 0)
      return fd;
    if ((errno != EMFILE && errno != ENFILE) || !cp_shed(op))
      return -errno;
  }
}

#define CP_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW)

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static void cp_times(const struct stat *st, struct timespec t[2]) {
  t[0] = st->st_atim;
  t[1] = st->st_mtim;
}

/* A non-directory is to be made at `name` in `dfd` and something is there
 * already (`src` is the source's status): 0 to try making it again, 1 to
 * skip it, or an error. */
static int cp_in_the_way(cp_t *op, int dfd, const char *name,
                         const struct stat *src) {
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : CP_FAIL(op, "cp", errno);
  if (same_file(&st, src))
    return CP_REFUSE(op, CP_SAME);
  if (S_ISDIR(st.st_mode))
    return CP_FAIL(op, "cp", EISDIR); /* a directory is never replaced */
  if (op->flags & FUTURE_FS_CP_FORCE) {
    if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
      return CP_FAIL(op, "cp", errno);
    return 0;
  }
  if (op->flags & FUTURE_FS_CP_ERROR_ON_EXIST)
    return CP_FAIL(op, "cp", EEXIST);
  return 1;
}

/* The bytes of `sfd` (`st` its status) into `dfd`, in chunks of FS_CHUNK
 * bytes so that a cancel is noticed between two of them; then the mode,
 * and the times if asked. */
static int cp_fill(cp_t *op, int sfd, int dfd, const struct stat *st) {
  int rc = future__fs_copy_bytes(&op->j, sfd, dfd, st->st_size);
  if (rc < 0) {
    if (rc != UV_ECANCELED) {
      op->err_op = "cp";
      op->err_kind = CP_PLAIN;
      op->err_line = __LINE__;
    }
    return rc;
  }
  if (fchmod(dfd, st->st_mode & 07777) != 0)
    return CP_FAIL(op, "cp", errno);
  if (op->flags & FUTURE_FS_CP_PRESERVE_TIMESTAMPS) {
    struct timespec t[2];
    cp_times(st, t);
    if (futimens(dfd, t) != 0)
      return CP_FAIL(op, "cp", errno);
  }
  return 0;
}

/* A regular file: 0 when copied (or skipped), CP_AGAIN when it changed
 * under us, or an error. */
static int cp_file(cp_t *op, int sdir, int ddir, const char *sn,
                   const char *dn, const struct stat *st, int top) {
  struct stat opened, made;
  int sfd, dfd = -1, rc = 0, tries;
  sfd = cp_openat(op, sdir, sn, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
                  0);
  if (sfd == -ENOENT && !top)
    return 0; /* gone meanwhile: nothing to copy */
  if (sfd == -ELOOP)
    return CP_AGAIN;
  if (sfd < 0)
    return CP_FAIL(op, "cp", -sfd);
  if (fstat(sfd, &opened) != 0) {
    rc = CP_FAIL(op, "cp", errno);
    goto out;
  }
  if (!S_ISREG(opened.st_mode) || !same_file(&opened, st)) {
    rc = CP_AGAIN;
    goto out;
  }
  for (tries = 0; dfd < 0; tries++) {
    if (tries == CP_TRIES) {
      rc = CP_FAIL(op, "cp", EAGAIN);
      goto out;
    }
    dfd = cp_openat(op, ddir, dn, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                    0600);
    if (dfd == -EEXIST) {
      rc = cp_in_the_way(op, ddir, dn, &opened);
      if (rc != 0)
        goto out; /* skipped (1 is done, not an error) or failed */
      continue;
    }
    if (dfd < 0) {
      rc = CP_FAIL(op, "cp", -dfd);
      goto out;
    }
  }
  if (fstat(dfd, &made) != 0) {
    /* Not known what was made: it is left rather than guessed at. */
    rc = CP_FAIL(op, "cp", errno);
    close(dfd);
    goto out;
  }
  rc = cp_fill(op, sfd, dfd, &opened);
  if (close(dfd) != 0 && rc == 0 && errno != EINTR)
    rc = CP_FAIL(op, "cp", errno);
  if (rc < 0) {
    /* Remove what could not be filled, if its name still names it. */
    struct stat now;
    if (fstatat(ddir, dn, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        same_file(&now, &made))
      unlinkat(ddir, dn, 0);
  }
out:
  close(sfd);
  return rc == 1 ? 0 : rc;
}

/* A symbolic link, made again with the same target, never followed. */
static int cp_link(cp_t *op, int sdir, int ddir, const char *sn,
                   const char *dn, const struct stat *st, int top) {
  size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
  char *target = NULL;
  ssize_t n;
  int rc = 0, tries;
  for (;;) {
    char *p = future__realloc(target, cap);
    if (p == NULL) {
      rc = CP_FAIL(op, "cp", ENOMEM);
      goto out;
    }
    target = p;
    n = readlinkat(sdir, sn, target, cap);
    if (n < 0) {
      if (errno == ENOENT && !top)
        goto out; /* gone meanwhile */
      /* EINVAL: no longer a link. */
      rc = errno == EINVAL ? CP_AGAIN : CP_FAIL(op, "cp", errno);
      goto out;
    }
    if ((size_t)n < cap)
      break;
    cap *= 2; /* the link grew meanwhile */
  }
  target[n] = '\0';
  for (tries = 0;; tries++) {
    if (tries == CP_TRIES) {
      rc = CP_FAIL(op, "cp", EAGAIN);
      goto out;
    }
    if (symlinkat(target, ddir, dn) == 0)
      break;
    if (errno != EEXIST) {
      rc = CP_FAIL(op, "cp", errno);
      goto out;
    }
    rc = cp_in_the_way(op, ddir, dn, st);
    if (rc != 0)
      goto out;
  }
  if (op->flags & FUTURE_FS_CP_PRESERVE_TIMESTAMPS) {
    struct timespec t[2];
    cp_times(st, t);
    if (utimensat(ddir, dn, t, AT_SYMLINK_NOFOLLOW) != 0)
      rc = CP_FAIL(op, "cp", errno);
  }
out:
  future__free(target);
  return rc == 1 ? 0 : rc;
}

/* Every entry of the directory `fd`, "." and ".." aside, into `db`. The
 * reading goes through a second descriptor (fdopendir takes the one it is
 * given), closed here. 0 or minus an errno value. */
static int cp_read(cp_t *op, int fd, future__fs_db_t *db) {
  struct dirent *d;
  DIR *dir;
  int e = 0, fd2;
  for (;;) {
    fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd2 >= 0)
      break;
    if ((errno != EMFILE && errno != ENFILE) || !cp_shed(op))
      return -errno;
  }
  dir = fdopendir(fd2);
  if (dir == NULL) {
    e = errno;
    close(fd2);
    return -e;
  }
  for (;;) {
    errno = 0;
    d = readdir(dir);
    if (d == NULL) {
      e = errno;
      break;
    }
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
      continue;
    if (future__fs_db_add(db, d->d_name, UV_DIRENT_UNKNOWN) != 0) {
      e = ENOMEM;
      break;
    }
  }
  closedir(dir);
  return -e;
}

/* A directory: 1 when a frame was pushed, 0 when gone meanwhile, CP_AGAIN
 * when it changed under us, or an error. */
static int cp_dir(cp_t *op, int sdir, int ddir, const char *sn,
                  const char *dn, const struct stat *st, int top) {
  cp_frame_t *fr;
  struct stat opened, dst;
  int sfd, dfd, made, rc;
  sfd = cp_openat(op, sdir, sn, CP_DIR_FLAGS, 0);
  if (sfd == -ENOENT && !top)
    return 0;
  if (sfd == -ELOOP || sfd == -ENOTDIR)
    return CP_AGAIN;
  if (sfd < 0)
    return CP_FAIL(op, "cp", -sfd);
  if (fstat(sfd, &opened) != 0 || !same_file(&opened, st)) {
    close(sfd);
    return CP_AGAIN;
  }
  if (op->have_dtop && opened.st_dev == op->dtop_dev &&
      opened.st_ino == op->dtop_ino) {
    /* The destination has come inside the source: copying it would copy
     * the copy, without end. */
    close(sfd);
    return CP_REFUSE(op, CP_INTO_SELF);
  }
  if (op->depth == op->fcap) {
    size_t cap = op->fcap ? op->fcap * 2 : 16;
    cp_frame_t *p = future__realloc(op->frames, cap * sizeof(*p));
    if (p == NULL) {
      close(sfd);
      return CP_FAIL(op, "cp", ENOMEM);
    }
    op->frames = p;
    op->fcap = cap;
  }
  if (op->open == CP_FDS)
    cp_shed(op);
  /* The frame is pushed at once, so that whatever happens next its
   * descriptors and entries are let go with the others. */
  fr = &op->frames[op->depth++];
  memset(fr, 0, sizeof(*fr));
  fr->sfd = sfd;
  fr->dfd = -1;
  fr->sdev = opened.st_dev;
  fr->sino = opened.st_ino;
  fr->splen = op->splen;
  fr->dplen = op->dplen;
  fr->mode = opened.st_mode & 07777;
  cp_times(&opened, fr->times);
  op->open++;
  rc = cp_read(op, sfd, &fr->db);
  if (rc < 0)
    return CP_FAIL(op, "cp", -rc);
  made = mkdirat(ddir, dn, fr->mode | 0700) == 0;
  if (!made && errno != EEXIST)
    return CP_FAIL(op, "cp", errno);
  dfd = cp_openat(op, ddir, dn, CP_DIR_FLAGS, 0);
  if (dfd < 0) {
    /* Not a directory in the way (a file, a link): a directory never
     * replaces it. One made here and swapped for a link: ELOOP. */
    if (!made && (dfd == -ENOTDIR || dfd == -ELOOP))
      return CP_FAIL(op, "cp", ENOTDIR);
    return CP_FAIL(op, "cp", -dfd);
  }
  fr->dfd = dfd;
  fr->made = made;
  if (fstat(dfd, &dst) != 0)
    return CP_FAIL(op, "cp", errno);
  fr->ddev = dst.st_dev;
  fr->dino = dst.st_ino;
  if (top) {
    op->have_dtop = 1;
    op->dtop_dev = dst.st_dev;
    op->dtop_ino = dst.st_ino;
    if (same_file(&dst, &opened))
      return CP_REFUSE(op, CP_SAME);
  }
  return 1;
}

/* The entry `sn` of `sdir`, to be `dn` in `ddir`; the path buffers end
 * with them. 0 when done, 1 when a frame was pushed, or an error. An
 * entry that vanished meanwhile is skipped, except the top, which must
 * exist. */
static int cp_entry(cp_t *op, int sdir, int ddir, const char *sn,
                    const char *dn, int top) {
  int tries;
  for (tries = 0; tries < CP_TRIES; tries++) {
    struct stat st;
    int rc;
    if (fstatat(sdir, sn, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && !top)
        return 0;
      return CP_FAIL(op, "cp", errno);
    }
    if (S_ISDIR(st.st_mode))
      rc = cp_dir(op, sdir, ddir, sn, dn, &st, top);
    else if (S_ISREG(st.st_mode))
      rc = cp_file(op, sdir, ddir, sn, dn, &st, top);
    else if (S_ISLNK(st.st_mode))
      rc = cp_link(op, sdir, ddir, sn, dn, &st, top);
    else if (op->flags & FUTURE_FS_CP_SKIP_SPECIAL)
      rc = 0;
    else
      rc = CP_REFUSE(op, S_ISFIFO(st.st_mode)   ? CP_FIFO
                         : S_ISSOCK(st.st_mode) ? CP_SOCKET
                                                : CP_DEVICE);
    if (rc != CP_AGAIN)
      return rc;
  }
  return CP_FAIL(op, "cp", EAGAIN);
}

/* Open again the frame above the deepest one, closed on the way down,
 * from the deepest: its "..", checked to be what it was. */
static int cp_reopen(cp_t *op) {
  cp_frame_t *fr = &op->frames[op->depth - 1], *up = fr - 1;
  struct stat st;
  int fd;
  cp_at(op, up->splen, up->dplen);
  fd = cp_openat(op, fr->sfd, "..", O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0)
    return CP_FAIL(op, "cp", -fd);
  if (fstat(fd, &st) != 0 || st.st_dev != up->sdev || st.st_ino != up->sino) {
    close(fd);
    return CP_FAIL(op, "cp", EAGAIN);
  }
  up->sfd = fd;
  op->open++;
  fd = cp_openat(op, fr->dfd, "..", O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0)
    return CP_FAIL(op, "cp", -fd);
  if (fstat(fd, &st) != 0 || st.st_dev != up->ddev || st.st_ino != up->dino) {
    close(fd);
    return CP_FAIL(op, "cp", EAGAIN);
  }
  up->dfd = fd;
  return 0;
}

/* The deepest directory is copied: give a directory made here its mode
 * (and times), close it, go up. 0 or an error. */
static int cp_pop(cp_t *op) {
  cp_frame_t *fr = &op->frames[op->depth - 1];
  if (fr->made) {
    if (fchmod(fr->dfd, fr->mode) != 0)
      return CP_FAIL(op, "cp", errno);
    if ((op->flags & FUTURE_FS_CP_PRESERVE_TIMESTAMPS) &&
        futimens(fr->dfd, fr->times) != 0)
      return CP_FAIL(op, "cp", errno);
  }
  if (op->depth > 1 && fr[-1].sfd < 0) {
    int rc = cp_reopen(op);
    if (rc < 0)
      return rc;
  }
  cp_close(fr);
  op->open--;
  future__fs_db_free(&fr->db);
  op->depth--;
  if (op->depth > 0)
    cp_at(op, fr[-1].splen, fr[-1].dplen);
  return 0;
}

/* Whether the directory `st` is `dir` or one of the directories above it
 * (found by "..", never by a path): then a copy of `st` into `dir` would
 * copy itself. 1, 0, or minus an errno value. */
static int cp_is_above(int dir, const struct stat *st) {
  int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;
  struct stat here, up;
  if (fd < 0)
    return -errno;
  if (fstat(fd, &here) != 0)
    rc = -errno;
  while (rc == 0) {
    int upfd;
    if (same_file(&here, st)) {
      rc = 1;
      break;
    }
    upfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (upfd < 0 || fstat(upfd, &up) != 0) {
      rc = -errno;
      if (upfd >= 0)
        close(upfd);
      break;
    }
    close(fd);
    fd = upfd;
    if (same_file(&up, &here))
      break; /* the root: its ".." is itself */
    here = up;
  }
  close(fd);
  return rc;
}

static int cp_walk(cp_t *op) {
  struct stat st;
  int rc;
  op->sparent = open(op->sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (op->sparent < 0)
    return CP_FAIL(op, "cp", errno);
  op->dparent = open(op->ddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (op->dparent < 0)
    return CP_FAIL(op, "cp", errno);
  if (fstatat(op->sparent, op->sname, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return CP_FAIL(op, "cp", errno);
  if (S_ISDIR(st.st_mode)) {
    /* Refused before anything is made: a destination inside the source. */
    rc = cp_is_above(op->dparent, &st);
    if (rc < 0)
      return CP_FAIL(op, "cp", -rc);
    if (rc == 1)
      return CP_REFUSE(op, CP_INTO_SELF);
  }
  rc = cp_entry(op, op->sparent, op->dparent, op->sname, op->dname, 1);
  while (rc >= 0 && op->depth > 0) {
    cp_frame_t *fr = &op->frames[op->depth - 1];
    const char *name;
    if (future__fs_job_stopped(&op->j))
      return UV_ECANCELED;
    cp_at(op, fr->splen, fr->dplen);
    if (fr->next == fr->db.n) {
      rc = cp_pop(op);
      continue;
    }
    name = fr->db.names + fr->db.ents[fr->next++].off;
    rc = cp_down(op, name);
    if (rc == 0)
      rc = cp_entry(op, fr->sfd, fr->dfd, name, name, 0);
  }
  return rc < 0 ? rc : 0;
}

static void cp_run(future__fs_job_t *j) {
  cp_t *op = (cp_t *)j;
  size_t i;
  j->code = cp_walk(op);
  /* Whatever the outcome, nothing stays open. */
  for (i = 0; i < op->depth; i++)
    cp_close(&op->frames[i]);
  if (op->sparent >= 0)
    close(op->sparent);
  if (op->dparent >= 0)
    close(op->dparent);
  op->sparent = op->dparent = -1;
}

static void cp_done(future__fs_job_t *j) {
  cp_t *op = (cp_t *)j;
  future__fs_base_t *b = &j->b;
  static const char *const why[] = {
      NULL,
      "cannot copy a directory into itself",
      "source and destination are the same",
      "cannot copy a FIFO",
      "cannot copy a socket",
      "cannot copy a device",
  };
  const char *file = __FILE__, *func = b->func;
  int line = op->err_line;
  if (j->code >= 0)
    return;
  if (op->err_op == NULL || op->err_kind == CP_PLAIN) {
    b->err = future__fs_err(b, __FILE__, line, j->code,
                            op->err_op != NULL ? op->err_op : "cp", op->sp,
                            op->dp, -1, -1);
    return;
  }
  if (b->site.file != NULL) {
    file = b->site.file;
    line = b->site.line;
    func = b->site.func;
  }
  b->err = future_error_new_at(file, line, func, j->code, NULL,
                               "cp '%s' -> '%s': %s", op->sp, op->dp,
                               why[op->err_kind]);
}

/* Split `path` (trailing slashes cut, `n` bytes) into the directory that
 * holds its last component and that component, into `mem`. A last
 * component "." or "..", or "/", is its own directory: the name is then
 * "." in it. */
static void cp_split(const char *path, size_t n, char **mem, const char **dir,
                     const char **name) {
  size_t s = n;
  char *m = *mem;
  while (s > 0 && path[s - 1] != '/')
    s--;
  if ((n - s == 1 && path[s] == '.') ||
      (n - s == 2 && path[s] == '.' && path[s + 1] == '.') ||
      (n == 1 && path[0] == '/')) {
    memcpy(m, path, n);
    m[n] = '\0';
    *dir = m;
    *name = ".";
    *mem = m + n + 1;
    return;
  }
  if (s == 0) {
    *dir = ".";
  } else {
    size_t d = s;
    while (d > 1 && path[d - 1] == '/')
      d--; /* "a//b": the directory is "a" */
    memcpy(m, path, d);
    m[d] = '\0';
    *dir = m;
    m += d + 1;
  }
  memcpy(m, path + s, n - s);
  m[n - s] = '\0';
  *name = m;
  *mem = m + (n - s) + 1;
}

static size_t cut_slashes(const char *path) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/')
    n--;
  return n;
}

future_t *future_fs_cp(uv_loop_t *loop, const char *src, const char *dest,
                       unsigned int flags) {
  cp_t *op;
  size_t sn, dn;
  char *mem, *p;
  FS_NEED(src != NULL && dest != NULL, "cp", "NULL path");
  FS_NEED(*src != '\0' && *dest != '\0', "cp", "empty path");
  FS_NEED((flags & ~CP_FLAGS) == 0, "cp", "unknown flags");
  sn = cut_slashes(src);
  dn = cut_slashes(dest);
  /* Each path twice: as given, and split. */
  op = future__fs_job_new(loop, __func__, sizeof(*op), 2 * (sn + dn) + 8,
                          cp_release, cp_run, cp_done);
  if (op == NULL)
    return NULL;
  mem = op->mem;
  memcpy(mem, src, sn);
  mem[sn] = '\0';
  op->src = mem;
  mem += sn + 1;
  memcpy(mem, dest, dn);
  mem[dn] = '\0';
  op->dst = mem;
  mem += dn + 1;
  cp_split(op->src, sn, &mem, &op->sdir, &op->sname);
  cp_split(op->dst, dn, &mem, &op->ddir, &op->dname);
  op->j.b.path = op->src;
  op->j.b.path2 = op->dst;
  op->flags = flags;
  op->sparent = op->dparent = -1;
  /* The path buffers start as the tops and room for a name below them. */
  op->spcap = sn + 258;
  op->dpcap = dn + 258;
  op->sp = future__malloc(op->spcap);
  op->dp = p = future__malloc(op->dpcap);
  if (op->sp == NULL || p == NULL) {
    future_t *f = op->j.b.f;
    op->j.b.err = FS_ERR(&op->j.b, UV_ENOMEM, "cp", op->src, op->dst);
    future__fs_end(&op->j.b);
    return f;
  }
  memcpy(op->sp, op->src, sn + 1);
  memcpy(op->dp, op->dst, dn + 1);
  op->splen = sn;
  op->dplen = dn;
  return future__fs_job_start(&op->j);
}
