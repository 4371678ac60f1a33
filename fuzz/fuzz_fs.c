/*
 * fuzz_fs.c: the file system part of the fuzz harness.
 *
 * Each input that touches the file system gets a scratch directory of its
 * own, made on first use (mkdtemp under $TMPDIR or /tmp) and removed at
 * the end of the input (nftw, depth first, never following a link):
 *
 *     ROOT/in/         where every generated path points (a, b, c, d below)
 *     ROOT/out/canary  the outside: a sibling of in/ that no generated path
 *     ROOT/out/keep/canary2   names, which must survive every input
 *
 *     ROOT/fifo/p      a FIFO, which the harness holds open for reading
 *
 * Both canaries are checked after every op once the scratch exists: the
 * library may only ever remove what it was asked to.
 *
 * OP_FS starts one operation of <future/fs.h> on a generated path (or on
 * a descriptor from an open the harness saw fulfilled). The harness
 * writes only letters (a-z), so that whatever is read back is letters or
 * the zeros of a hole, never stray bytes. Checked, besides the core's
 * checks on every future:
 *   - each value has the shape the header promises (a descriptor, a byte
 *     count no larger than asked, a NUL-terminated buffer, sorted
 *     entries without "." or "..", the first directory mkdir_p made);
 *   - a buffer handed over with a destructor is destroyed exactly once
 *     (and really freed, so that a use after that is a use after free);
 *   - at the end, with the loop closed, no descriptor into the scratch is
 *     open but those the harness was given: every cancelled open, every
 *     read_file, readdir and write_file closed its own (checked when the
 *     harness saw the outcome of every open it made);
 *   - write_file and append_file to a FIFO with a reader succeed.
 *
 * OP_TREE changes the scratch directly, with plain system calls: it makes
 * small trees of files, directories and symbolic links (named l, m and n,
 * which no generated path names, pointing inside in/, at the outside, at
 * the canaries, at their own directory, at nothing), or swaps a directory
 * for a symbolic link (the directory moves to ROOT/attic). rm_r must never
 * remove anything outside the tree it was given: at each rm_r the harness
 * notes every entry of in/ and out/ that is not in that tree, and once the
 * rm_r has settled (or at the end, if the harness never saw it settle or
 * it was cancelled) each of them must still be there, unless another
 * removal (rm_r, unlink, a swap) that could have taken it was in flight or
 * started since. Physical paths are compared (a generated path may go
 * through a swapped link); when a swap happened while a removal was in
 * flight the comparison is left to the canaries.
 */
#define _GNU_SOURCE /* nftw, mkdtemp, realpath */
#include "fuzz_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX]; /* empty: no scratch for this input yet */

/* Memory that lives until the end of the input: paths, borrowed buffers. */
typedef struct arena_s {
  struct arena_s *next;
  char data[];
} arena_t;
static arena_t *arena;

static void *arena_alloc(size_t n) {
  arena_t *a = malloc(sizeof(*a) + n);
  CHECK(a != NULL, "out of memory");
  a->next = arena;
  arena = a;
  return a->data;
}

static char *arena_strdup(const char *s) {
  return strcpy(arena_alloc(strlen(s) + 1), s);
}

/* Each file system future the harness made (meta.aux). */
#define MAX_FSOPS 1024
#define NFDS 16
typedef struct {
  int sub;            /* FS_* */
  const char *path;
  int sorted;         /* readdir: scandir, whose entries come sorted */
  int with_stat;      /* readdir: scandir_stat, entries with their lstat */
  int removal;        /* rm_r, unlink: its entry in removals[], or -1 */
  size_t len;         /* asked to read or write */
  char *buf;          /* read_into: the harness's buffer */
} fsop_t;
static fsop_t fsops[MAX_FSOPS];
static int nfsops;
static int fds[NFDS];            /* descriptors given to the harness */
static int opens_made, opens_seen;
static int fds_unknown;          /* a descriptor's fate is not known */
static int fifo_rd = -1, fifo_writes;
static atomic_int bufs_given, bufs_freed;
static char rroot[PATH_MAX];     /* the scratch's real path */

/* Removals (rm_r, unlink, swaps), for the rm_r check. */
#define MAX_REMOVALS 256
#define MAX_SNAP 256
typedef struct {
  const char *phys;   /* the physical path of what it may remove */
  int issued, done;   /* sequence numbers; done 0: in flight, or unknown */
  int rm;             /* an rm_r, with a snapshot to check */
  int checked;
  const char **snap;  /* rm_r: the entries outside its tree */
  int nsnap;          /* -1: too many to note */
} removal_t;
static removal_t removals[MAX_REMOVALS];
static int nremovals, seq, last_swap, nattic;

static void write_small_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0, "creating %s: %s", path, strerror(errno));
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text),
        "writing %s", path);
  close(fd);
}

/* a + "/" + b, in `out` (PATH_MAX bytes). */
static void join(char *out, const char *a, const char *b) {
  int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
  CHECK(n > 0 && n < PATH_MAX, "a path longer than PATH_MAX");
}

/* ROOT + "/" + rel, in `out` (PATH_MAX bytes). */
void scratch_path(char *out, const char *rel) { join(out, scratch_root(), rel); }

const char *scratch_root(void) {
  char p[PATH_MAX];
  const char *tmp;
  if (root[0] != '\0')
    return root;
  tmp = getenv("TMPDIR");
  if (tmp == NULL || *tmp == '\0')
    tmp = "/tmp";
  join(root, tmp, "fuzz_ops.XXXXXX");
  CHECK(mkdtemp(root) != NULL, "mkdtemp %s: %s", root, strerror(errno));
  CHECK(realpath(root, rroot) != NULL, "realpath %s", root);
  TRACE("  scratch %s\n", root);
  join(p, root, "in");
  CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
  join(p, root, "out");
  CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
  join(p, root, "out/keep");
  CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
  join(p, root, "out/canary");
  write_small_file(p, "canary");
  join(p, root, "out/keep/canary2");
  write_small_file(p, "canary");
  return root;
}

int scratch_exists(void) { return root[0] != '\0'; }

/* The canaries outside in/ are still there. */
void scratch_check(const char *where) {
  static const char *const canaries[] = {"out", "out/canary", "out/keep",
                                         "out/keep/canary2"};
  char p[PATH_MAX];
  struct stat st;
  if (root[0] == '\0')
    return;
  for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++) {
    join(p, root, canaries[i]);
    CHECK(lstat(p, &st) == 0, "%s: %s outside the tree was removed", where,
          canaries[i]);
  }
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0 && errno != ENOENT)
    FAIL("removing %s: %s", path, strerror(errno));
  return 0;
}

/* Physical paths. */

/* The physical path of `path` (under the scratch), its last component not
 * followed: the part that exists is resolved, the rest appended. */
static const char *phys_of(const char *path) {
  char out[PATH_MAX], cand[PATH_MAX], comp[PATH_MAX];
  const char *p = path + strlen(root), *last = strrchr(path, '/');
  int missing = 0;
  strcpy(out, rroot);
  while (*p == '/' && p < last) {
    const char *e = strchr(p + 1, '/');
    size_t n = (size_t)((e != NULL ? e : p + strlen(p)) - (p + 1));
    struct stat st;
    memcpy(comp, p + 1, n);
    comp[n] = '\0';
    join(cand, out, comp);
    if (!missing && lstat(cand, &st) == 0) {
      if (S_ISLNK(st.st_mode) && realpath(cand, out) != NULL)
        ; /* followed */
      else
        strcpy(out, cand);
    } else {
      missing = 1;
      strcpy(out, cand);
    }
    p = e;
  }
  join(cand, out, last + 1);
  return arena_strdup(cand);
}

static int under(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static removal_t *removal_add(const char *path, int rm) {
  removal_t *r;
  if (nremovals >= MAX_REMOVALS)
    return NULL;
  r = &removals[nremovals++];
  memset(r, 0, sizeof(*r));
  r->phys = phys_of(path);
  r->issued = ++seq;
  r->rm = rm;
  return r;
}

/* The snapshot of an rm_r: what is outside its tree. */
static removal_t *snap_target;
static int snap_one(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  removal_t *r = snap_target;
  (void)st;
  (void)flag;
  (void)ftw;
  if (r->nsnap < 0 || under(path, r->phys))
    return 0;
  if (r->nsnap >= MAX_SNAP) {
    r->nsnap = -1;
    return 0;
  }
  r->snap[r->nsnap++] = arena_strdup(path);
  return 0;
}

static void snapshot(removal_t *r) {
  char p[PATH_MAX];
  r->snap = arena_alloc(MAX_SNAP * sizeof(*r->snap));
  snap_target = r;
  join(p, rroot, "in");
  nftw(p, snap_one, 16, FTW_PHYS);
  join(p, rroot, "out");
  nftw(p, snap_one, 16, FTW_PHYS);
}

/* rm_r `r` has settled (or the input ends): nothing outside its tree may
 * be gone, but what another removal may have taken. */
static void rm_check(removal_t *r) {
  int first = r->issued;
  if (r->checked || r->nsnap < 0)
    return;
  r->checked = 1;
  for (int k = 0; k < nremovals; k++) {
    const removal_t *o = &removals[k];
    if (o->issued < r->issued && (o->done == 0 || o->done > r->issued) &&
        o->issued < first)
      first = o->issued;
  }
  if (last_swap > first)
    return; /* paths changed meaning meanwhile: the canaries tell */
  for (int i = 0; i < r->nsnap; i++) {
    struct stat st;
    int excused = 0;
    if (lstat(r->snap[i], &st) == 0)
      continue;
    for (int k = 0; k < nremovals && !excused; k++) {
      const removal_t *o = &removals[k];
      excused = o != r && (o->issued > r->issued || o->done == 0 ||
                           o->done > r->issued) &&
                under(r->snap[i], o->phys);
    }
    CHECK(excused, "rm_r of %s removed %s, outside the tree it was given",
          r->phys + strlen(rroot), r->snap[i] + strlen(rroot));
  }
}

/* The file system ops. */

enum {
  FS_OPEN,
  FS_CLOSE,
  FS_READ,
  FS_READ_INTO,
  FS_WRITE,
  FS_STAT,
  FS_READDIR,
  FS_READ_FILE,
  FS_WRITE_FILE,
  FS_MKDIR_P,
  FS_RM_R,
  FS_UNLINK,
  FS_FIFO,
  NFS,
  FS_CP = NFS /* OP_CP's, not one of OP_FS's */
};

static const char *const fs_names[NFS + 1] = {
    "open",       "close",   "read",  "read_into", "write",
    "stat",       "readdir", "read_file", "write_file", "mkdir_p",
    "rm_r",       "unlink",  "fifo",  "cp"};

/* A path under in/ from a byte: 0xff is in/ itself, any other byte one to
 * three components named a, b, c or d. */
static const char *gen_path(uint8_t b) {
  static const char *const names[4] = {"a", "b", "c", "d"};
  char rel[32] = "in", p[PATH_MAX];
  if (b != 0xff) {
    int depth = 1 + (b >> 6) % 3;
    for (int k = 0; k < depth; k++) {
      strcat(rel, "/");
      strcat(rel, names[(b >> (2 * k)) & 3]);
    }
  }
  scratch_path(p, rel);
  return arena_strdup(p);
}

static void fill(char *data, size_t len, uint8_t content) {
  for (size_t i = 0; i < len; i++)
    data[i] = (char)('a' + (content + i) % 26);
}

/* A buffer handed over with a destructor: malloc'ed, freed by it. */
#define FBUF_MAGIC 0xb0ffe4edu
typedef struct {
  uint32_t magic;
  char data[];
} fbuf_t;

static void fbuf_dtor(void *data) {
  fbuf_t *b = (fbuf_t *)((char *)data - offsetof(fbuf_t, data));
  CHECK(b->magic == FBUF_MAGIC, "a buffer's destructor ran twice");
  b->magic = 0;
  bufs_freed++;
  free(b);
}

/* `len` bytes of letters, handed over (owned) or borrowed. */
static char *make_buf(size_t len, uint8_t content, int owned,
                      future_dtor_cb *dtor) {
  char *data;
  if (owned) {
    fbuf_t *b = malloc(sizeof(*b) + len + 1);
    CHECK(b != NULL, "out of memory");
    b->magic = FBUF_MAGIC;
    bufs_given++;
    data = b->data;
    *dtor = fbuf_dtor;
  } else {
    data = arena_alloc(len + 1);
    *dtor = NULL;
  }
  fill(data, len, content);
  return data;
}

static void check_letters(const char *what, const char *data, size_t len) {
  for (size_t i = 0; i < len; i++)
    CHECK((data[i] >= 'a' && data[i] <= 'z') || data[i] == '\0',
          "%s brought byte %d at %zu, which nobody wrote", what,
          (unsigned char)data[i], i);
}

static void keep_fd(int fd) {
  for (int i = 0; i < NFDS; i++)
    if (fds[i] < 0) {
      fds[i] = fd;
      return;
    }
  close(fd); /* no room: the harness closes it itself */
}

static void fifo_open(void) {
  char p[PATH_MAX];
  if (fifo_rd >= 0)
    return;
  scratch_path(p, "fifo");
  CHECK(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
  scratch_path(p, "fifo/p");
  CHECK(mkfifo(p, 0644) == 0, "mkfifo %s: %s", p, strerror(errno));
  /* A reader from the start, so that no open for writing blocks. */
  fifo_rd = open(p, O_RDONLY | O_NONBLOCK);
  CHECK(fifo_rd >= 0, "opening %s: %s", p, strerror(errno));
}

/* OP_FS: sub-op byte, then its operands (fuzz/README.md). */
void op_fs(void) {
  static const int open_flags[8] = {
      UV_FS_O_RDONLY,
      UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_TRUNC,
      UV_FS_O_RDWR | UV_FS_O_CREAT,
      UV_FS_O_WRONLY | UV_FS_O_APPEND | UV_FS_O_CREAT,
      UV_FS_O_RDONLY | UV_FS_O_DIRECTORY,
      UV_FS_O_RDWR,
      UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_EXCL,
      UV_FS_O_RDONLY | UV_FS_O_NOFOLLOW};
  static const int modes[4] = {0755, 0700, 0777, 0750};
  static const int64_t offsets[4] = {-1, 0, 3, 1000};
  uint8_t sub = next_byte() % NFS, b1 = next_byte(), b2 = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  fsop_t *op;
  future_t *f = NULL;
  future_dtor_cb dtor;
  char *data;

  if (nfsops >= MAX_FSOPS)
    return;
  scratch_root();
  op = &fsops[nfsops];
  memset(op, 0, sizeof(*op));
  op->sub = sub;
  op->removal = -1;
  switch (sub) {
  case FS_OPEN:
    op->path = gen_path(b1);
    NOCB(f = future_fs_open(&S.loop, op->path, open_flags[b2 % 8], 0644));
    opens_made += f != NULL;
    break;
  case FS_CLOSE:
  case FS_READ:
  case FS_READ_INTO:
  case FS_WRITE: {
    int fd = fds[b1 % NFDS];
    uint8_t b3 = next_byte();
    if (fd < 0)
      return;
    op->len = b2;
    if (sub == FS_CLOSE) {
      fds[b1 % NFDS] = -1; /* a close is never taken back */
      NOCB(f = future_fs_close(&S.loop, fd));
      /* Out of memory, no close was started: the descriptor is still
       * the harness's. Rejected at once, who knows. */
      if (f == NULL)
        fds[b1 % NFDS] = fd;
      else if (ENOMEM_FUTURE(f))
        fds_unknown = 1;
    } else if (sub == FS_READ) {
      NOCB(f = future_fs_read(&S.loop, fd, op->len, offsets[b3 % 4]));
    } else if (sub == FS_READ_INTO) {
      op->buf = arena_alloc(op->len + 1);
      NOCB(f = future_fs_read_into(&S.loop, fd, op->buf, op->len,
                                   offsets[b3 % 4]));
    } else {
      /* At 0 or the descriptor's position (which may be past the end,
       * after a truncation: a hole reads as zeros). */
      data = make_buf(op->len, b3 >> 2, b3 & 1, &dtor);
      NOCB(f = future_fs_write(&S.loop, fd, data, op->len,
                               (b3 & 2) ? 0 : -1, dtor));
    }
    break;
  }
  case FS_STAT:
    op->path = gen_path(b1);
    if (b2 & 1)
      NOCB(f = future_fs_lstat(&S.loop, op->path));
    else
      NOCB(f = future_fs_stat(&S.loop, op->path));
    break;
  case FS_READDIR:
    op->path = gen_path(b1);
    op->sorted = b2 & 1;
    op->with_stat = !op->sorted && (b2 & 2);
    if (op->with_stat)
      NOCB(f = future_fs_scandir_stat(&S.loop, op->path));
    else if (op->sorted)
      NOCB(f = future_fs_scandir(&S.loop, op->path));
    else
      NOCB(f = future_fs_readdir(&S.loop, op->path));
    break;
  case FS_READ_FILE:
    op->path = gen_path(b1);
    NOCB(f = future_fs_read_file(&S.loop, op->path));
    break;
  case FS_WRITE_FILE:
  case FS_FIFO: {
    uint8_t b3 = next_byte();
    if (sub == FS_FIFO) {
      char p[PATH_MAX];
      /* Never more than the pipe holds: a write must not block. */
      if ((S.avoid & AVOID_FIFO) || fifo_writes >= 64)
        return;
      fifo_writes++;
      fifo_open();
      scratch_path(p, "fifo/p");
      op->path = arena_strdup(p);
    } else {
      op->path = gen_path(b1);
    }
    op->len = b2;
    data = make_buf(op->len, b3 >> 2, b3 & 1, &dtor);
    if (b3 & 2)
      NOCB(f = future_fs_append_file(&S.loop, op->path, data, op->len,
                                     dtor));
    else
      NOCB(f = future_fs_write_file(&S.loop, op->path, data, op->len,
                                    dtor));
    break;
  }
  case FS_MKDIR_P:
    /* A swap may have left a link to nothing on the way, and mkdir_p
     * then goes up and down for ever (FUZZ_OPS_AVOID=mkdir-p-dangling). */
    if ((S.avoid & AVOID_MKDIR_P_DANGLING) && nattic > 0)
      return;
    op->path = gen_path(b1);
    NOCB(f = future_fs_mkdir_p(&S.loop, op->path, modes[b2 % 4]));
    break;
  case FS_RM_R:
  default: {
    removal_t *r;
    op->path = gen_path(b1);
    r = removal_add(op->path, sub == FS_RM_R);
    op->removal = r != NULL ? (int)(r - removals) : -1;
    if (r != NULL && r->rm)
      snapshot(r);
    if (sub == FS_RM_R)
      NOCB(f = future_fs_rm_r(&S.loop, op->path,
                              (b2 & 1) ? FUTURE_FS_RM_FORCE : 0));
    else
      NOCB(f = future_fs_unlink(&S.loop, op->path));
    break;
  }
  }
  TRACE("  fs %s %s -> %d\n", fs_names[sub],
        op->path != NULL ? op->path + strlen(root) : "(fd)", nfsops);
  S.pool_used = 1;
  if (f == NULL) {
    CHECK(OOM(), "future_fs_%s returned NULL", fs_names[sub]);
    return;
  }
  CHECK(future_state(f) == FUTURE_PENDING || ENOMEM_FUTURE(f),
        "future_fs_%s settled at once", fs_names[sub]);
  uid = new_uid(K_FS);
  if (uid >= 0)
    S.meta[uid].aux = nfsops;
  nfsops++;
  pool_barrier();
  put(dst, f, uid);
}

/* OP_CP: future_fs_cp of one generated path to another, flags from the
 * third byte. With FUTURE_FS_CP_FORCE it unlinks what is in its way in the
 * destination, so it counts as a removal there (the rm_r check excuses
 * it); the canaries, outside in/, must survive it as any op. */
void op_cp(void) {
  uint8_t b1 = next_byte(), b2 = next_byte(), b3 = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  unsigned int flags = b3 % 16;
  fsop_t *op;
  future_t *f = NULL;
  if (nfsops >= MAX_FSOPS)
    return;
  scratch_root();
  op = &fsops[nfsops];
  memset(op, 0, sizeof(*op));
  op->sub = FS_CP;
  op->removal = -1;
  op->path = gen_path(b1);
  if (flags & FUTURE_FS_CP_FORCE) {
    removal_t *r = removal_add(gen_path(b2), 0);
    op->removal = r != NULL ? (int)(r - removals) : -1;
  }
  NOCB(f = future_fs_cp(&S.loop, op->path, gen_path(b2), flags));
  TRACE("  fs cp %s -> %s (flags %u) -> %d\n", op->path + strlen(root),
        gen_path(b2) + strlen(root), flags, nfsops);
  S.pool_used = 1;
  if (f == NULL) {
    CHECK(OOM(), "future_fs_cp returned NULL");
    return;
  }
  CHECK(future_state(f) == FUTURE_PENDING || ENOMEM_FUTURE(f),
        "future_fs_cp settled at once");
  uid = new_uid(K_FS);
  if (uid >= 0)
    S.meta[uid].aux = nfsops;
  nfsops++;
  pool_barrier();
  put(dst, f, uid);
}

/* OP_TREE: the scratch changed directly. */

/* Where the symbolic links of OP_TREE point. */
static const char *link_target(uint8_t t, char *buf) {
  switch (t % 8) {
  case 0:
    join(buf, rroot, "out");
    return buf;
  case 1:
    join(buf, rroot, "out/keep");
    return buf;
  case 2:
    join(buf, rroot, "out/canary");
    return buf;
  case 3:
    join(buf, rroot, "in");
    return buf;
  case 4:
    return "..";
  case 5:
    return ".";
  case 6:
    return "nowhere";
  default:
    join(buf, rroot, "in/a");
    return buf;
  }
}

/* mkdir -p, quietly: what cannot be made is left alone. */
static void mkdirs(const char *path) {
  char p[PATH_MAX];
  size_t n = strlen(root) + 1;
  strcpy(p, path);
  for (char *c = p + n; *c != '\0'; c++)
    if (*c == '/') {
      *c = '\0';
      mkdir(p, 0755);
      *c = '/';
    }
  mkdir(p, 0755);
}

static void tree_file(const char *dir, const char *name, uint8_t content) {
  char p[PATH_MAX], data[32];
  int fd;
  join(p, dir, name);
  fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return;
  fill(data, sizeof(data), content);
  if (write(fd, data, 1 + content % sizeof(data)) < 0)
    FAIL("writing %s: %s", p, strerror(errno));
  close(fd);
}

static void tree_link(const char *dir, const char *name, uint8_t t) {
  char p[PATH_MAX], target[PATH_MAX];
  join(p, dir, name);
  symlink(link_target(t, target), p);
}

/* Whether an rm_r may be walking now. */
static int rm_in_flight(void) {
  for (int k = 0; k < nremovals; k++)
    if (removals[k].rm && removals[k].done == 0)
      return 1;
  return 0;
}

/* OP_TREE: sub-op byte % 3, path byte, then: 0 a tree (shape byte, link
 * byte), 1 a swap of a directory for a link (link byte), 2 one link (name
 * and link byte). */
void op_tree(void) {
  uint8_t sub = next_byte() % 3, pb = next_byte(), b2 = next_byte(), b3;
  const char *path;
  char p[PATH_MAX], attic[PATH_MAX], num[16];
  struct stat st;
  scratch_root();
  path = gen_path(pb);
  switch (sub) {
  case 0:
    b3 = next_byte();
    TRACE("  tree %s shape %02x links %02x\n", path + strlen(root), b2, b3);
    mkdirs(path);
    if (b2 & 1)
      tree_file(path, "a", b3);
    if (b2 & 2) {
      join(p, path, "b");
      mkdir(p, 0755);
      tree_file(p, "c", b3 + 1);
      if (b2 & 8)
        tree_link(p, "m", b3 >> 3);
    }
    if (b2 & 4)
      tree_link(path, "l", b3);
    if (b2 & 16) {
      join(p, path, "c/d");
      mkdirs(p);
      tree_file(p, "a", b3 + 2);
    }
    if (b2 & 32)
      tree_file(path, "d", b3 + 3);
    if (b2 & 64)
      tree_link(path, "n", b3 >> 5);
    break;
  case 1: {
    removal_t *r;
    /* A directory under in/, not in/ itself, and not through a link. */
    if (pb == 0xff || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
      break;
    if ((S.avoid & AVOID_RM_SWAP) && rm_in_flight())
      break;
    TRACE("  swap %s for a link\n", path + strlen(root));
    join(p, rroot, "attic");
    mkdir(p, 0755);
    snprintf(num, sizeof(num), "%d", nattic++);
    join(attic, p, num);
    r = removal_add(path, 0);
    CHECK(rename(path, attic) == 0, "rename %s: %s", path, strerror(errno));
    last_swap = seq;
    if (r != NULL)
      r->done = ++seq;
    symlink(link_target(b2, p), path);
    break;
  }
  default:
    b3 = next_byte();
    TRACE("  link %s/%c\n", path + strlen(root), "lmn"[b2 % 3]);
    tree_link(path, b2 % 3 == 0 ? "l" : b2 % 3 == 1 ? "m" : "n", b3);
    break;
  }
  seq++;
}

static void check_dirents(const fsop_t *op, const future_fs_dirents_t *d) {
  CHECK(d != NULL, "%s fulfilled without entries", fs_names[op->sub]);
  CHECK(d->count == 0 || d->entries != NULL, "entries without a list");
  for (size_t i = 0; i < d->count; i++) {
    const char *n = d->entries[i].name;
    CHECK(n != NULL && *n != '\0' && strchr(n, '/') == NULL &&
              strcmp(n, ".") != 0 && strcmp(n, "..") != 0,
          "a bad directory entry");
    CHECK(!op->sorted || i == 0 || strcmp(d->entries[i - 1].name, n) < 0,
          "scandir's entries are not sorted");
  }
}

static void check_stat_entries(const future_fs_stat_entries_t *d) {
  CHECK(d != NULL, "scandir_stat fulfilled without entries");
  CHECK(d->count == 0 || d->entries != NULL, "entries without a list");
  for (size_t i = 0; i < d->count; i++) {
    const future_fs_stat_entry_t *e = &d->entries[i];
    CHECK(e->name != NULL && *e->name != '\0' &&
              strchr(e->name, '/') == NULL && strcmp(e->name, ".") != 0 &&
              strcmp(e->name, "..") != 0,
          "a bad directory entry");
    /* An entry's lstat, or why not (the fuzzer's tree changes under it). */
    CHECK(e->error == 0 ? e->stat.st_mode != 0 : e->error < 0,
          "scandir_stat: an entry without a stat or an error");
    CHECK(e->error != 0 || e->type != UV_DIRENT_DIR ||
              S_ISDIR(e->stat.st_mode),
          "scandir_stat: type and mode disagree");
  }
}

/* The outcome of a file system future, once seen. */
void fs_seen(int uid, future_state_t st, void *value,
             const future_error_t *err) {
  const fsop_t *op = &fsops[S.meta[uid].aux];
  const char *name = fs_names[op->sub];
  TRACE("  fs %d (%s) %s\n", S.meta[uid].aux, name,
        st == FUTURE_FULFILLED ? "fulfilled"
                               : future_err_name(future_error_code(err)));
  if (op->sub == FS_OPEN)
    opens_seen++;
  if (op->removal >= 0) {
    removal_t *r = &removals[op->removal];
    /* A cancelled removal may still take one more entry. */
    if (st == FUTURE_FULFILLED ||
        future_error_code(err) != UV_ECANCELED) {
      r->done = ++seq;
      if (r->rm)
        rm_check(r);
    }
  }
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    /* A FIFO with a reader takes writes whatever their offset. */
    if (op->sub == FS_FIFO)
      CHECK(code == UV_ECANCELED || ENOMEM_OK(code),
            "write_file or append_file to a FIFO failed with %s",
            future_err_name(code));
    return;
  }
  switch (op->sub) {
  case FS_OPEN:
    CHECK((intptr_t)value >= 0, "open fulfilled with %ld", (long)(intptr_t)value);
    keep_fd((int)(intptr_t)value);
    break;
  case FS_READ:
  case FS_READ_FILE: {
    const future_buf_t *b = value;
    CHECK(b != NULL && b->base != NULL, "%s fulfilled without a buffer",
          name);
    CHECK(op->sub == FS_READ_FILE || b->len <= op->len,
          "read of %zu bytes brought %zu", op->len, b->len);
    CHECK(b->base[b->len] == '\0', "%s: the buffer is not NUL-terminated",
          name);
    check_letters(name, b->base, b->len);
    break;
  }
  case FS_READ_INTO:
  case FS_WRITE: {
    intptr_t n = (intptr_t)value;
    CHECK(n >= 0 && (size_t)n <= op->len, "%s of %zu bytes says %ld", name,
          op->len, (long)n);
    if (op->sub == FS_READ_INTO)
      check_letters(name, op->buf, (size_t)n);
    break;
  }
  case FS_STAT: {
    const uv_stat_t *sb = value;
    CHECK(sb != NULL, "stat fulfilled without a uv_stat_t");
    CHECK(S_ISREG(sb->st_mode) || S_ISDIR(sb->st_mode) ||
              S_ISLNK(sb->st_mode),
          "stat of %s: mode %o", op->path, (unsigned)sb->st_mode);
    break;
  }
  case FS_READDIR:
    if (op->with_stat)
      check_stat_entries(value);
    else
      check_dirents(op, value);
    break;
  case FS_MKDIR_P: {
    const char *made = value;
    size_t n = made != NULL ? strlen(made) : 0;
    CHECK(made == NULL || (strncmp(made, op->path, n) == 0 &&
                           (op->path[n] == '\0' || op->path[n] == '/')),
          "mkdir_p %s says it made %s", op->path, made);
    break;
  }
  default:
    CHECK(value == NULL, "%s fulfilled with a value", name);
    break;
  }
}

/* Descriptors open into the scratch that the harness was not given. */
static void close_strays(void) {
  char link[PATH_MAX], fdpath[64];
  size_t rlen = strlen(root);
  int checked = opens_made == opens_seen && !fds_unknown, open_fds[256],
      n = 0;
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *e;
  if (dir == NULL)
    return;
  while ((e = readdir(dir)) != NULL && n < 256)
    if (e->d_name[0] != '.')
      open_fds[n++] = atoi(e->d_name);
  closedir(dir);
  for (int i = 0; i < n; i++) {
    ssize_t len;
    if (open_fds[i] == fifo_rd)
      continue;
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", open_fds[i]);
    len = readlink(fdpath, link, sizeof(link) - 1);
    if (len < 0)
      continue;
    link[len] = '\0';
    if (strncmp(link, root, rlen) != 0 || link[rlen] != '/')
      continue;
    CHECK(!checked,
          "descriptor %d on %s is still open: the library did not close it",
          open_fds[i], link + rlen);
    close(open_fds[i]);
  }
}

void fs_begin(void) {
  nfsops = opens_made = opens_seen = fifo_writes = fds_unknown = 0;
  nremovals = seq = last_swap = nattic = 0;
  bufs_given = bufs_freed = 0;
  for (int i = 0; i < NFDS; i++)
    fds[i] = -1;
}

/* The end of the input: once the loop is closed. */
void scratch_end(void) {
  for (int i = 0; i < NFDS; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  CHECK(bufs_freed == bufs_given, "%d of %d buffers handed over were "
        "destroyed", (int)bufs_freed, (int)bufs_given);
  if (root[0] != '\0') {
    scratch_check("end");
    for (int k = 0; k < nremovals; k++)
      if (removals[k].rm)
        rm_check(&removals[k]);
    close_strays();
    if (fifo_rd >= 0)
      close(fifo_rd);
    fifo_rd = -1;
    nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    root[0] = '\0';
  }
  while (arena != NULL) {
    arena_t *next = arena->next;
    free(arena);
    arena = next;
  }
}
