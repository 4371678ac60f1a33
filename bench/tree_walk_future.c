/*
 * tree_walk, libfuture: the total size of a tree, as du -s -B1 gives it,
 * the way examples/fdu walks: breadth first, one level at a time, each
 * level a future_map with at most 64 future_fs_scandir_stat in flight
 * (one pool job per directory: its entries with their lstat). bench/tree.h
 * says what is counted and the tree's shape; bench/tree_walk_tight.c is
 * the floor.
 *
 * Usage: tree_walk_future [n [dir]]   (default n 100000; without dir, the
 * program makes a tree of n entries in a temporary directory, checks that
 * it finds n entries, and removes it)
 */
#include <future.h>

#include "tree.h"

#define JOBS 64

typedef struct {
  char **dirs; /* this level's */
  size_t ndirs;
  char **next; /* the next level's */
  size_t nnext, nextcap;
  unsigned long long bytes;
  size_t entries;
  bench_inodes_t seen;
} walk_t;

static future_t *start_scan(uv_loop_t *loop, size_t i, void *data) {
  walk_t *w = data;
  return future_fs_scandir_stat(loop, w->dirs[i]);
}

static char *join(const char *dir, const char *name) {
  size_t dl = strlen(dir), nl = strlen(name);
  char *p = malloc(dl + nl + 2);
  BENCH_CHECK(p != NULL, "malloc");
  memcpy(p, dir, dl);
  p[dl] = '/';
  memcpy(p + dl + 1, name, nl + 1);
  return p;
}

__attribute__((noinline)) static void bench_run(uv_loop_t *loop, walk_t *w,
                                                const char *root) {
  future_result_t r;
  uv_stat_t *st;
  size_t i, j;
  BENCH_CHECK(future_wait(future_fs_lstat(loop, root), &r) == 0, "lstat %s",
              root);
  st = r.value;
  w->bytes = st->st_blocks * 512;
  if (S_ISDIR(st->st_mode)) {
    w->dirs = malloc(sizeof(char *));
    BENCH_CHECK(w->dirs != NULL, "malloc");
    w->dirs[0] = strdup(root);
    w->ndirs = 1;
  }
  future_result_release(&r);
  while (w->ndirs > 0) {
    const future_list_t *list;
    int rc = future_wait(future_map(loop, w->ndirs, JOBS, start_scan, w), &r);
    if (rc != 0)
      future_error_print(r.error, stderr);
    BENCH_CHECK(rc == 0, "a level of the walk");
    list = r.value;
    for (i = 0; i < w->ndirs; i++) {
      const future_fs_stat_entries_t *d = future_value(list->items[i]);
      for (j = 0; j < d->count; j++) {
        const future_fs_stat_entry_t *e = &d->entries[j];
        w->entries++;
        if (e->error != 0)
          continue; /* gone meanwhile */
        if (S_ISDIR(e->stat.st_mode)) {
          if (w->nnext == w->nextcap) {
            w->nextcap = w->nextcap ? 2 * w->nextcap : 64;
            w->next = realloc(w->next, w->nextcap * sizeof(char *));
            BENCH_CHECK(w->next != NULL, "realloc");
          }
          w->next[w->nnext++] = join(w->dirs[i], e->name);
        } else if (e->stat.st_nlink > 1 &&
                   !bench_inode_new(&w->seen, e->stat.st_dev,
                                    e->stat.st_ino)) {
          continue;
        }
        w->bytes += e->stat.st_blocks * 512;
      }
      free(w->dirs[i]);
    }
    future_result_release(&r);
    free(w->dirs);
    w->dirs = w->next;
    w->ndirs = w->nnext;
    w->next = NULL;
    w->nnext = w->nextcap = 0;
  }
  free(w->dirs);
}

int main(int argc, char **argv) {
  bench_result_t r = {"tree_walk", "future", 0, 0, 0, 0, 0, 0};
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
  w0 = bench_wall();
  c0 = bench_cpu();
  bench_run(&loop, &w, dir);
  r.wall_s = bench_wall() - w0;
  r.cpu_s = bench_cpu() - c0;
  r.n = w.entries;
  if (own != NULL) {
    BENCH_CHECK(w.entries == n, "%zu entries of %zu", w.entries, n);
    bench_tree_remove(own);
    free(own);
  }
  BENCH_CHECK(future_loop_live(&loop) == 0, "%zu futures still alive",
              future_loop_live(&loop));
  BENCH_CHECK(future_loop_close(&loop) == 0, "future_loop_close");
  BENCH_CHECK(bench_loop_close(&loop) == 0, "uv_loop_close");
  free(w.seen.slots);
  bench_tree_print(&r, w.bytes);
  return 0;
}
