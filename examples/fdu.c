/*
 * fdu: disk usage, like du, with many file-system requests in flight.
 *
 * A real tool built on the library. It walks each PATH (one after the
 * other, as du does) breadth first, one level of the tree at a time: each
 * level is a future_map with at most JOBS requests in flight (-j, default
 * 64), one future_fs_scandir_stat per directory of the level, which lists
 * the directory and lstats every entry in it as one job on libuv's thread
 * pool (one trip through the pool per directory, not one per entry); the
 * directories among the entries make the next level. The PATH itself is
 * lstat-ed first (future_fs_lstat).
 *
 * The levels are chained with future_then, so the whole walk is one
 * future. Ctrl-C is a future too (future_signal), and main waits for
 * whichever comes first, the walk or Ctrl-C (future_race): the loser is
 * cancelled, so that Ctrl-C cancels the walk, which reaches the requests
 * in flight, and a finished walk stops watching for Ctrl-C.
 * future_map gives its results in input order, so each step reads them
 * back in order once the level is done, and the output is the same from
 * run to run whatever order the requests finished in. An entry that
 * cannot be read is caught where it fails (future_catch), reported on
 * stderr, and the walk goes on; the exit status is then 1.
 *
 * Like du, fdu counts st_blocks * 512 bytes (the space used), or st_size
 * with --apparent-size (-b); prints a total for every directory (down to
 * depth N with -d N, only the PATHs with -s), and for files too with -a;
 * never follows a symbolic link; counts a file with several hard links
 * once (and, with several PATHs, anything reached twice once). Sizes are
 * in bytes (like du -B1), or human-readable with -h (like du -h: powers of
 * 1024, rounded up). The totals of each PATH are du's; a hard-linked file
 * is counted under the first of its names that fdu reaches, breadth
 * first, where du, depth first in directory order, may pick another.
 *
 * What a tree of millions of entries costs: one level's lstat results are
 * held until that level is done (future_map keeps its results for the
 * list), and a node is kept per directory (and per printed file with -a).
 *
 * SYNOPSIS
 *     $ ./examples/fdu -d 1 -h /usr/share/doc
 *     ...
 *     44K     /usr/share/doc/zlib1g
 *     1.1M    /usr/share/doc/zlib1g-dev
 *     68K     /usr/share/doc/zstd
 *     130M    /usr/share/doc
 *     $ ./examples/fdu -s --apparent-size /usr/share/doc /nonexistent
 *     fdu: cannot access '/nonexistent': no such file or directory (ENOENT)
 *     122591964       /usr/share/doc
 *     $ echo $?
 *     1
 *     $ ./examples/fdu /        (then Ctrl-C)
 *     ^Cfdu: interrupted
 *     $ echo $?
 *     130
 */
#include <future.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_JOBS 64

static const char usage[] =
    "usage: fdu [-a] [-s] [-d DEPTH] [-j JOBS] [-h] [-b] [--apparent-size] "
    "[PATH...]\n"
    "Print the disk usage of each PATH (default: the current directory) and\n"
    "of the directories in it, in bytes.\n"
    "\n"
    "  -a               also print files, not only directories\n"
    "  -s               print only a total for each PATH (same as -d 0)\n"
    "  -d DEPTH         print totals down to DEPTH levels below a PATH\n"
    "  -j JOBS          at most JOBS file-system requests at once (default "
    "64)\n"
    "  -h               human-readable sizes (1.5K, 234M, 2.0G)\n"
    "  --apparent-size  count file sizes (st_size), not the space used\n"
    "  -b               same as --apparent-size\n"
    "  --help           print this help and exit\n"
    "\n"
    "Symbolic links are never followed; a file with several hard links is\n"
    "counted once. Exit status: 0, 1 if anything could not be read, 130 if\n"
    "interrupted.\n";

static void die(int rc, const char *what) {
  fprintf(stderr, "fdu: %s: %s (%s)\n", what, future_strerror(rc),
          future_err_name(rc));
  exit(EXIT_FAILURE);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    die(UV_ENOMEM, "malloc");
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL)
    die(UV_ENOMEM, "realloc");
  return p;
}

/* The set of (device, inode) pairs already counted. */

typedef struct {
  uint64_t dev, ino;
} inode_t;

typedef struct {
  inode_t *slots; /* ino 0 with dev 0 marks an empty slot */
  size_t cap, count;
  int has_zero;   /* the pair (0, 0) itself has been seen */
} inode_set_t;

static size_t inode_hash(uint64_t dev, uint64_t ino, size_t cap) {
  uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^ (dev + 0x632be59bd9b4e019ull);
  h ^= h >> 29;
  return (size_t)(h & (cap - 1));
}

/* Returns 1 if the pair was new (and is now in the set), 0 if seen. */
static int inode_insert(inode_set_t *s, uint64_t dev, uint64_t ino) {
  size_t i;
  if (dev == 0 && ino == 0) {
    int was = s->has_zero;
    s->has_zero = 1;
    return !was;
  }
  if (2 * (s->count + 1) > s->cap) {
    inode_set_t bigger = {NULL, s->cap ? 2 * s->cap : 256, 0, s->has_zero};
    bigger.slots = calloc(bigger.cap, sizeof(inode_t));
    if (bigger.slots == NULL)
      die(UV_ENOMEM, "calloc");
    for (i = 0; i < s->cap; i++)
      if (s->slots[i].dev != 0 || s->slots[i].ino != 0)
        inode_insert(&bigger, s->slots[i].dev, s->slots[i].ino);
    free(s->slots);
    *s = bigger;
  }
  for (i = inode_hash(dev, ino, s->cap);; i = (i + 1) & (s->cap - 1)) {
    inode_t *slot = &s->slots[i];
    if (slot->dev == dev && slot->ino == ino)
      return 0;
    if (slot->dev == 0 && slot->ino == 0) {
      slot->dev = dev;
      slot->ino = ino;
      s->count++;
      return 1;
    }
  }
}

/* The tree: a node per directory, and per file that will be printed. */

typedef struct node_s node_t;
struct node_s {
  char *path;
  node_t **kids; /* in the order the directory gave them */
  size_t nkids, kcap;
  uint64_t total; /* its own size and its unprinted files'; the kids are
                     added at the end */
  int depth;
};

/* A PATH, waiting for its lstat. */
typedef struct {
  char *path;     /* owned until it moves to a node */
  node_t *parent; /* NULL for a PATH */
  int depth;
  int status;     /* 0, or the code lstat failed with */
} entry_t;

typedef struct {
  uv_loop_t *loop;
  /* options */
  int all, human, apparent;
  long max_depth; /* -1: no limit */
  size_t jobs;
  /* state */
  char **paths;   /* the PATHs */
  node_t **roots; /* one per PATH, NULL if it could not be read */
  size_t nroots;
  size_t next;    /* the next PATH to walk */
  entry_t *level; /* the PATH being lstat-ed */
  size_t nlevel;
  node_t **dirs;  /* the directories being listed */
  node_t **next_dirs; /* those of the next level */
  size_t nnext, next_cap;
  int *dir_status;
  size_t ndirs;
  inode_set_t seen;
  int count_once; /* several PATHs: count anything reached twice once */
  int errors;
  int interrupted;
} walk_t;

static node_t *node_new(char *path, node_t *parent, int depth) {
  node_t *n = xmalloc(sizeof(*n));
  memset(n, 0, sizeof(*n));
  n->path = path;
  n->depth = depth;
  if (parent != NULL) {
    if (parent->nkids == parent->kcap) {
      parent->kcap = parent->kcap ? 2 * parent->kcap : 4;
      parent->kids = xrealloc(parent->kids, parent->kcap * sizeof(node_t *));
    }
    parent->kids[parent->nkids++] = n;
  }
  return n;
}

static void node_free(node_t *n) {
  /* An explicit stack: trees can be deep. */
  node_t **stack = xmalloc(sizeof(node_t *));
  size_t top = 0, cap = 1;
  if (n == NULL) {
    free(stack);
    return;
  }
  stack[top++] = n;
  while (top > 0) {
    node_t *x = stack[--top];
    for (size_t i = 0; i < x->nkids; i++) {
      if (top == cap) {
        cap *= 2;
        stack = xrealloc(stack, cap * sizeof(node_t *));
      }
      stack[top++] = x->kids[i];
    }
    free(x->kids);
    free(x->path);
    free(x);
  }
  free(stack);
}

static char *join(const char *dir, const char *name) {
  size_t dl = strlen(dir), nl = strlen(name);
  int slash = dl > 0 && dir[dl - 1] != '/';
  char *p = xmalloc(dl + (size_t)slash + nl + 1);
  memcpy(p, dir, dl);
  if (slash)
    p[dl] = '/';
  memcpy(p + dl + (size_t)slash, name, nl + 1);
  return p;
}

static void report(walk_t *w, const char *doing, const char *path, int code) {
  fprintf(stderr, "fdu: %s '%s': %s (%s)\n", doing, path,
          future_strerror(code), future_err_name(code));
  w->errors = 1;
}

/* The PATH: lstat it. A failure is noted in the entry and turned into a
 * NULL value. */

static future_t *lstat_failed(future_t *settled, void *data) {
  entry_t *e = data;
  e->status = future_error_code(future_error(settled));
  return future_resolved(future_loop(settled), NULL, NULL);
}

/* A level: list every directory of it with its entries' lstat, so that a
 * directory that cannot be read does not stop the map (which rejects,
 * and cancels the rest, on the first error). */

static future_t *scan_failed(future_t *settled, void *data) {
  int *status = data;
  *status = future_error_code(future_error(settled));
  return future_resolved(future_loop(settled), NULL, NULL);
}

static future_t *start_scan(uv_loop_t *loop, size_t i, void *data) {
  walk_t *w = data;
  return future_catch(future_fs_scandir_stat(loop, w->dirs[i]->path),
                      scan_failed, &w->dir_status[i]);
}

static future_t *path_done(future_t *settled, void *data);
static future_t *dirs_listed(future_t *settled, void *data);

/* The PATHs are walked one after the other, as du does, so that a tree
 * given twice, or inside another PATH, is counted where du counts it:
 * under the first PATH that reaches it. */
static future_t *next_path(walk_t *w) {
  const char *path;
  size_t len;
  if (w->next == w->nroots)
    return future_resolved(w->loop, NULL, NULL);
  path = w->paths[w->next++];
  len = strlen(path);
  w->level = xmalloc(sizeof(entry_t));
  w->level[0].path = xmalloc(len + 1);
  memcpy(w->level[0].path, path, len + 1);
  w->level[0].parent = NULL;
  w->level[0].depth = 0;
  w->level[0].status = 0;
  w->nlevel = 1;
  return future_then(future_catch(future_fs_lstat(w->loop, w->level[0].path),
                                  lstat_failed, &w->level[0]),
                     path_done, NULL, w);
}

static void free_level(walk_t *w) {
  for (size_t i = 0; i < w->nlevel; i++)
    free(w->level[i].path);
  free(w->level);
  w->level = NULL;
  w->nlevel = 0;
}

static void free_dirs(walk_t *w) {
  free(w->dirs);
  free(w->dir_status);
  w->dirs = NULL;
  w->dir_status = NULL;
  w->ndirs = 0;
}

/* Count the entry `name` of `parent` (the PATH itself when `parent` is
 * NULL, named `*path`) with its lstat `st`. `*path`, when not NULL, is
 * taken if the entry needs a node; otherwise it is made when needed. */
static void count_entry(walk_t *w, node_t *parent, int depth,
                        const char *name, char **path, const uv_stat_t *st) {
  uint64_t size;
  int is_dir, printed;
  node_t *n;
  is_dir = S_ISDIR(st->st_mode);
  if ((w->count_once || (!is_dir && st->st_nlink > 1)) &&
      !inode_insert(&w->seen, st->st_dev, st->st_ino))
    return; /* counted already, through another name */
  size = w->apparent ? st->st_size : st->st_blocks * 512;
  printed = parent == NULL ||
            (w->all && (w->max_depth < 0 || depth <= w->max_depth));
  if (!is_dir && !printed) {
    parent->total += size;
    return;
  }
  n = node_new(path != NULL ? *path : join(parent->path, name), parent, depth);
  if (path != NULL)
    *path = NULL; /* the node has it now */
  n->total = size;
  if (parent == NULL)
    w->roots[w->next - 1] = n;
  if (is_dir) {
    if (w->nnext == w->next_cap) {
      w->next_cap = w->next_cap ? 2 * w->next_cap : 16;
      w->next_dirs = xrealloc(w->next_dirs, w->next_cap * sizeof(node_t *));
    }
    w->next_dirs[w->nnext++] = n;
  }
}

/* List the directories of the next level, or go on with the next PATH. */
static future_t *list_level(walk_t *w) {
  free_dirs(w);
  if (w->nnext == 0)
    return next_path(w);
  w->dirs = w->next_dirs;
  w->ndirs = w->nnext;
  w->next_dirs = NULL;
  w->nnext = w->next_cap = 0;
  w->dir_status = xmalloc(w->ndirs * sizeof(int));
  memset(w->dir_status, 0, w->ndirs * sizeof(int));
  return future_then(future_map(w->loop, w->ndirs, w->jobs, start_scan, w),
                     dirs_listed, NULL, w);
}

/* The PATH has its lstat. */
static future_t *path_done(future_t *settled, void *data) {
  walk_t *w = data;
  entry_t *e = &w->level[0];
  const uv_stat_t *st = future_value(settled);
  if (st == NULL)
    report(w, "cannot access", e->path, e->status);
  else
    count_entry(w, NULL, 0, NULL, &e->path, st);
  free_level(w);
  return list_level(w);
}

/* Every directory of the level is listed with its entries' lstat: count
 * them, in order; the directories among them make the next level. */
static future_t *dirs_listed(future_t *settled, void *data) {
  walk_t *w = data;
  const future_list_t *list = future_value(settled);
  size_t i, j;

  for (i = 0; i < w->ndirs; i++) {
    const future_fs_stat_entries_t *d = future_value(list->items[i]);
    node_t *dir = w->dirs[i];
    if (d == NULL) {
      report(w, "cannot read directory", dir->path, w->dir_status[i]);
      continue;
    }
    for (j = 0; j < d->count; j++) {
      const future_fs_stat_entry_t *e = &d->entries[j];
      if (e->error != 0) {
        char *p = join(dir->path, e->name);
        report(w, "cannot access", p, e->error);
        free(p);
        continue;
      }
      count_entry(w, dir, dir->depth + 1, e->name, NULL, &e->stat);
    }
  }
  return list_level(w);
}

/* Ctrl-C came first: the race rejects with UV_ECANCELED, and cancels the
 * walk, whose requests in flight are cancelled or, if already running,
 * finish and are released. */
static future_t *on_sigint(future_t *settled, void *data) {
  walk_t *w = data;
  w->interrupted = 1;
  return future_rejected(future_loop(settled),
                         future_error_new(UV_ECANCELED, "interrupted"));
}

/* The totals, children first; then the lines, children first, like du. */

static void add_up(node_t *n) {
  for (size_t i = 0; i < n->nkids; i++) {
    add_up(n->kids[i]);
    n->total += n->kids[i]->total;
  }
}

static void human(uint64_t bytes, char *out, size_t cap) {
  static const char units[] = "KMGTPE";
  double v = (double)bytes;
  int u = -1;
  if (bytes < 1024) {
    snprintf(out, cap, "%llu", (unsigned long long)bytes);
    return;
  }
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  /* Round up, as du does: one decimal below 10, none above. */
  if (v < 10) {
    double r = (double)(uint64_t)(v * 10);
    if (r < v * 10)
      r += 1;
    if (r >= 100) {
      snprintf(out, cap, "%d%c", 10, units[u]);
      return;
    }
    snprintf(out, cap, "%.1f%c", r / 10, units[u]);
    return;
  }
  {
    double r = (double)(uint64_t)v;
    if (r < v)
      r += 1;
    if (r >= 1024 && u < 5) {
      snprintf(out, cap, "1.0%c", units[u + 1]);
      return;
    }
    snprintf(out, cap, "%.0f%c", r, units[u]);
  }
}

static void print_tree(const walk_t *w, const node_t *n) {
  char size[32];
  for (size_t i = 0; i < n->nkids; i++)
    print_tree(w, n->kids[i]);
  if (w->max_depth >= 0 && n->depth > w->max_depth)
    return;
  if (w->human)
    human(n->total, size, sizeof size);
  else
    snprintf(size, sizeof size, "%llu", (unsigned long long)n->total);
  printf("%s\t%s\n", size, n->path);
}

static long number(const char *s, const char *opt) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0) {
    fprintf(stderr, "fdu: invalid argument '%s' for %s\n"
                    "Try 'fdu --help'.\n",
            s, opt);
    exit(EXIT_FAILURE);
  }
  return v;
}

/* Parse the options; returns the index of the first PATH. */
static int parse_args(walk_t *w, int argc, char **argv) {
  int i;
  for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0)
      return i + 1;
    if (strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      exit(EXIT_SUCCESS);
    }
    if (strcmp(a, "--apparent-size") == 0) {
      w->apparent = 1;
      continue;
    }
    if (a[1] == '-') {
      fprintf(stderr, "fdu: unknown option '%s'\nTry 'fdu --help'.\n", a);
      exit(EXIT_FAILURE);
    }
    for (const char *c = a + 1; *c != '\0'; c++) {
      const char *arg;
      switch (*c) {
      case 'a': w->all = 1; break;
      case 'b': w->apparent = 1; break;
      case 'h': w->human = 1; break;
      case 's': w->max_depth = 0; break;
      case 'd':
      case 'j':
        /* The value follows, in this word or the next one. */
        if (c[1] != '\0')
          arg = c + 1;
        else if (i + 1 < argc)
          arg = argv[++i];
        else {
          fprintf(stderr, "fdu: option '-%c' needs a value\n"
                          "Try 'fdu --help'.\n",
                  *c);
          exit(EXIT_FAILURE);
        }
        if (*c == 'd') {
          w->max_depth = number(arg, "-d");
        } else {
          w->jobs = (size_t)number(arg, "-j");
          if (w->jobs == 0) {
            fprintf(stderr, "fdu: -j needs at least 1\n");
            exit(EXIT_FAILURE);
          }
        }
        c += strlen(c) - 1; /* the rest of the word was the value */
        break;
      default:
        fprintf(stderr, "fdu: unknown option '-%c'\nTry 'fdu --help'.\n", *c);
        exit(EXIT_FAILURE);
      }
    }
  }
  return i;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  static char here[] = ".";
  char *dot[] = {here};
  walk_t w;
  future_t *f;
  future_result_t r;
  int first, rc, walked, status;
  size_t i;

  memset(&w, 0, sizeof w);
  w.max_depth = -1;
  w.jobs = DEFAULT_JOBS;
  first = parse_args(&w, argc, argv);

  rc = uv_loop_init(&loop);
  if (rc < 0)
    die(rc, "uv_loop_init");
  w.loop = &loop;

  if (first < argc) {
    w.paths = argv + first;
    w.nroots = (size_t)(argc - first);
  } else { /* like du: the current directory */
    w.paths = dot;
    w.nroots = 1;
  }
  w.count_once = w.nroots > 1;
  w.roots = xmalloc(w.nroots * sizeof(node_t *));
  for (i = 0; i < w.nroots; i++)
    w.roots[i] = NULL;

  /* The whole walk is one future, and Ctrl-C another: whichever comes
   * first decides, and the race cancels the other. */
  f = next_path(&w);
  if (f == NULL)
    die(UV_ENOMEM, "starting the walk");
  {
    future_t *in[2];
    in[0] = f;
    in[1] = future_then(future_signal(&loop, SIGINT), on_sigint, NULL, &w);
    if (in[1] == NULL)
      die(UV_ENOMEM, "watching for Ctrl-C");
    f = future_race(&loop, in, 2);
    if (f == NULL)
      die(UV_ENOMEM, "the race of the walk and Ctrl-C");
  }
  walked = future_wait(f, &r);
  if (walked == UV_ECANCELED && w.interrupted) {
    fflush(stdout);
    fprintf(stderr, "fdu: interrupted\n");
  } else if (walked != 0) {
    fprintf(stderr, "fdu: the walk failed:\n");
    future_error_print(r.error, stderr);
  }
  future_result_release(&r);

  /* Let the cancelled requests finish and release what they held. */
  rc = uv_run(&loop, UV_RUN_DEFAULT);
  if (rc < 0)
    die(rc, "uv_run");

  if (w.interrupted) {
    status = 130;
  } else if (walked == 0) {
    status = w.errors ? EXIT_FAILURE : EXIT_SUCCESS;
    for (i = 0; i < w.nroots; i++) {
      if (w.roots[i] == NULL)
        continue;
      add_up(w.roots[i]);
      print_tree(&w, w.roots[i]);
    }
  } else {
    status = EXIT_FAILURE;
  }

  for (i = 0; i < w.nroots; i++)
    node_free(w.roots[i]);
  free(w.roots);
  free_level(&w);
  free_dirs(&w);
  free(w.next_dirs);
  free(w.seen.slots);
  rc = future_loop_close(&loop);
  if (rc < 0)
    die(rc, "future_loop_close");
  rc = uv_loop_close(&loop);
  if (rc < 0)
    die(rc, "uv_loop_close");
  return status;
}
