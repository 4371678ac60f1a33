/*
 * tree_walk, tightest hand-written libuv: the honest floor for libfuture's
 * tree_walk (the total size of a tree, as du -s -B1 gives it).
 *
 * What an expert would write by hand with libuv: one uv_queue_work job per
 * directory, which on the thread pool opens the directory, reads it, and
 * lstats each entry relative to the directory's descriptor (fstatat with
 * AT_SYMLINK_NOFOLLOW), adding up the space used as it goes; it hands
 * back only the sum, the paths of the subdirectories, and the (device,
 * inode, size) of the files with several hard links (counted once, on the
 * loop). The callback on the loop queues a job for each subdirectory at
 * once: the pool's threads (4 by default) keep busy until the tree is
 * done. bench/tree.h says what is counted and the tree's shape.
 *
 * Usage: tree_walk_tight [n [dir]]   (default n 100000; without dir, the
 * program makes a tree of n entries in a temporary directory, checks that
 * it finds n entries, and removes it)
 */
#define _GNU_SOURCE
#include "tree.h"

#include <dirent.h>

typedef struct {
  uint64_t dev, ino, size;
} linked_t;

typedef struct walk_s walk_t;

typedef struct {
  uv_work_t req;
  walk_t *w;
  char *path;
  /* Filled in by the job. */
  unsigned long long bytes;
  size_t entries;
  char **subdirs;
  size_t nsub, subcap;
  linked_t *linked;
  size_t nlinked, linkcap;
  int err;
} job_t;

struct walk_s {
  uv_loop_t *loop;
  unsigned long long bytes;
  size_t entries;
  bench_inodes_t seen;
};

static void *grow(void *p, size_t *cap, size_t size) {
  *cap = *cap ? 2 * *cap : 16;
  p = realloc(p, *cap * size);
  BENCH_CHECK(p != NULL, "realloc");
  return p;
}

/* On a pool thread: the directory job->path. */
static void scan(uv_work_t *req) {
  job_t *job = req->data;
  size_t plen = strlen(job->path);
  struct dirent *d;
  DIR *dir;
  int fd = open(job->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
    job->err = errno;
    if (fd >= 0)
      close(fd);
    return;
  }
  while ((d = readdir(dir)) != NULL) {
    struct stat st;
    const char *name = d->d_name;
    if (name[0] == '.' &&
        (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
      continue;
    job->entries++;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue; /* gone meanwhile */
    if (S_ISDIR(st.st_mode)) {
      size_t nlen = strlen(name);
      char *p = malloc(plen + nlen + 2);
      BENCH_CHECK(p != NULL, "malloc");
      memcpy(p, job->path, plen);
      p[plen] = '/';
      memcpy(p + plen + 1, name, nlen + 1);
      if (job->nsub == job->subcap)
        job->subdirs = grow(job->subdirs, &job->subcap, sizeof(char *));
      job->subdirs[job->nsub++] = p;
      job->bytes += (unsigned long long)st.st_blocks * 512;
    } else if (st.st_nlink > 1) {
      if (job->nlinked == job->linkcap)
        job->linked = grow(job->linked, &job->linkcap, sizeof(linked_t));
      job->linked[job->nlinked].dev = st.st_dev;
      job->linked[job->nlinked].ino = st.st_ino;
      job->linked[job->nlinked++].size = (uint64_t)st.st_blocks * 512;
    } else {
      job->bytes += (unsigned long long)st.st_blocks * 512;
    }
  }
  closedir(dir);
}

static void start(walk_t *w, char *path);

/* On the loop. */
static void scanned(uv_work_t *req, int status) {
  job_t *job = req->data;
  walk_t *w = job->w;
  size_t i;
  BENCH_CHECK(status == 0, "uv_queue_work: %s", uv_strerror(status));
  BENCH_CHECK(job->err == 0, "open '%s': %s", job->path, strerror(job->err));
  w->bytes += job->bytes;
  w->entries += job->entries;
  for (i = 0; i < job->nlinked; i++)
    if (bench_inode_new(&w->seen, job->linked[i].dev, job->linked[i].ino))
      w->bytes += job->linked[i].size;
  for (i = 0; i < job->nsub; i++)
    start(w, job->subdirs[i]);
  free(job->subdirs);
  free(job->linked);
  free(job->path);
  free(job);
}

static void start(walk_t *w, char *path) {
  job_t *job = calloc(1, sizeof(*job));
  BENCH_CHECK(job != NULL, "calloc");
  job->req.data = job;
  job->w = w;
  job->path = path;
  BENCH_CHECK(uv_queue_work(w->loop, &job->req, scan, scanned) == 0,
              "uv_queue_work");
}

__attribute__((noinline)) static void bench_run(walk_t *w, const char *root) {
  struct stat st;
  BENCH_CHECK(lstat(root, &st) == 0, "lstat %s: %s", root, strerror(errno));
  w->bytes = (unsigned long long)st.st_blocks * 512;
  if (S_ISDIR(st.st_mode)) {
    start(w, strdup(root));
    BENCH_CHECK(uv_run(w->loop, UV_RUN_DEFAULT) == 0, "uv_run");
  }
}

int main(int argc, char **argv) {
  bench_result_t r = {"tree_walk", "tight", 0, 0, 0, 0, 0, 0};
  const char *dir = argc > 2 ? argv[2] : NULL;
  char *own = NULL;
  size_t n = bench_arg_n(argc, argv, 100000);
  uv_loop_t loop;
  walk_t w;
  double w0, c0;

  if (dir == NULL)
    dir = own = bench_tree_temp(n);
  memset(&w, 0, sizeof w);
  BENCH_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  w.loop = &loop;
  w0 = bench_wall();
  c0 = bench_cpu();
  bench_run(&w, dir);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.n = w.entries;
  if (own != NULL) {
    BENCH_CHECK(w.entries == n, "%zu entries of %zu", w.entries, n);
    bench_tree_remove(own);
    free(own);
  }
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  free(w.seen.slots);
  bench_tree_print(&r, w.bytes);
  return 0;
}
