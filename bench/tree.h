/*
 * tree_walk's shared parts: the tree it walks, the set of hard-linked
 * files already counted, and its result line.
 *
 * The tree (bench_tree_make): n entries below a root, in two levels of
 * directories: max(1, n / 100) leaf directories of about 100 files each,
 * spread over about sqrt(leaves) top directories; file k holds (k % 4) *
 * 100 bytes. n = 100000 gives 31 top directories, 1000 leaves and 98969
 * files. Everything is deterministic, so every program and du find the
 * same total.
 *
 * What each program computes is du -s -B1's figure: the space used
 * (st_blocks * 512) of every entry, the root included, without following
 * symbolic links, a file with several hard links counted once.
 */
#ifndef BENCH_TREE_H
#define BENCH_TREE_H

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "bench.h"

/* Make the tree of n entries in the new directory `dir`. */
static inline void bench_tree_make(const char *dir, size_t n) {
  size_t leaves = n / 100 > 0 ? n / 100 : 1, tops = 1, i, k, files;
  char path[4096];
  static const char bytes[300] = {0};
  while ((tops + 1) * (tops + 1) <= leaves)
    tops++;
  BENCH_CHECK(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
  for (i = 0; i < tops && i < n; i++) {
    snprintf(path, sizeof path, "%s/t%03zu", dir, i);
    BENCH_CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
  }
  if (n <= tops)
    return;
  if (leaves > n - tops)
    leaves = n - tops;
  for (i = 0; i < leaves; i++) {
    snprintf(path, sizeof path, "%s/t%03zu/l%04zu", dir, i % tops, i);
    BENCH_CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
  }
  files = n - tops - leaves;
  for (k = 0; k < files; k++) {
    size_t len = (k % 4) * 100;
    int fd;
    i = k % leaves;
    snprintf(path, sizeof path, "%s/t%03zu/l%04zu/f%06zu", dir, i % tops, i,
             k);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    BENCH_CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
    BENCH_CHECK(len == 0 || write(fd, bytes, len) == (ssize_t)len, "write %s",
                path);
    close(fd);
  }
}

/* Remove it again (rm -rf: the tree is the program's own). */
static inline void bench_tree_remove(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  BENCH_CHECK(system(cmd) == 0, "%s", cmd);
}

/* A temporary tree of n entries, read once (a warm cache). */
static inline char *bench_tree_temp(size_t n) {
  char tpl[] = "/tmp/libfuture-tree-XXXXXX";
  char *dir;
  BENCH_CHECK(mkdtemp(tpl) != NULL, "mkdtemp");
  BENCH_CHECK(rmdir(tpl) == 0, "rmdir");
  dir = strdup(tpl);
  BENCH_CHECK(dir != NULL, "strdup");
  bench_tree_make(dir, n);
  return dir;
}

/* The (device, inode) pairs of the hard-linked files already counted. */
typedef struct {
  uint64_t *slots; /* dev, ino pairs; (0, 0) is empty */
  size_t cap, count;
} bench_inodes_t;

/* 1 if the pair is new (and now in the set), 0 if seen. */
static inline int bench_inode_new(bench_inodes_t *s, uint64_t dev,
                                  uint64_t ino) {
  size_t i;
  if (2 * (s->count + 1) > s->cap) {
    bench_inodes_t big = {NULL, s->cap ? 2 * s->cap : 1024, 0};
    big.slots = calloc(2 * big.cap, sizeof(uint64_t));
    BENCH_CHECK(big.slots != NULL, "calloc");
    for (i = 0; i < s->cap; i++)
      if (s->slots[2 * i] != 0 || s->slots[2 * i + 1] != 0)
        bench_inode_new(&big, s->slots[2 * i], s->slots[2 * i + 1]);
    free(s->slots);
    *s = big;
  }
  i = (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) & (s->cap - 1);
  for (;; i = (i + 1) & (s->cap - 1)) {
    uint64_t *p = &s->slots[2 * i];
    if (p[0] == dev && p[1] == ino)
      return 0;
    if (p[0] == 0 && p[1] == 0) {
      p[0] = dev;
      p[1] = ino;
      s->count++;
      return 1;
    }
  }
}

/* The result line: bench_print's, with the entries walked (the root
 * aside) and the total. n is the entries. */
static inline void bench_tree_print(bench_result_t *r, unsigned long long bytes) {
  double per = r->wall_s;
  printf("workload=%s impl=%s n=%zu wall_s=%.4f cpu_s=%.4f maxrss_kib=%ld "
         "ns_per_op=%.1f bytes_per_op=0 entries=%zu bytes=%llu\n",
         r->workload, r->impl, r->n ? r->n : 1, r->wall_s, r->cpu_s,
         bench_maxrss_kib(), per * 1e9 / (double)(r->n ? r->n : 1), r->n,
         bytes);
  fflush(stdout);
}

#endif /* BENCH_TREE_H */
