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
 * Both canaries are checked after every op once the scratch exists: the
 * library may only ever remove what it was asked to.
 */
#define _GNU_SOURCE /* nftw, mkdtemp, realpath */
#include "fuzz_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX]; /* empty: no scratch for this input yet */

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

/* The end of the input: once every request is done. */
void scratch_end(void) {
  if (root[0] == '\0')
    return;
  scratch_check("end");
  nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  root[0] = '\0';
}
