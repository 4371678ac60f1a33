/*
 * fanout: thousands of files, three ways, and how many reads are in flight
 * at once in each.
 *
 * The program makes N small files (default 2000) in a temporary directory,
 * each saying which file it is, then reads all of them:
 *
 *   (1) ALL AT ONCE: future_fs_read_file for every file, gathered with
 *       future_all. Every read is started before the first one finishes,
 *       so N reads are in flight together: N open files, N buffers, a
 *       thread-pool queue N deep. With a few thousand files that is close
 *       to the usual limit of 1024 open files per process (ulimit -n).
 *   (2) BOUNDED: future_map with a limit (default 64). It starts the next
 *       read only when one has finished, so never more than the limit are
 *       in flight, and it still gives the results in input order.
 *   (3) ONE BY ONE: future_fs_read_file and future_wait, file after file.
 *       One read in flight; every wait adds up.
 *
 * Each read is wrapped in a continuation that counts it in flight from
 * the moment it starts to the moment its outcome comes back, and keeps the
 * peak. The program checks that every result is the file of its index,
 * in input order, and that future_map never had more than the limit in
 * flight; it exits with status 1 otherwise. The times are only printed,
 * never relied on.
 *
 * Usage: fanout [N [LIMIT]]
 *
 * SYNOPSIS
 *     $ ./examples/fanout
 *     made 2000 files (0.5 MiB) in /tmp/fanout-Ytvnji; open files allowed: 20000
 *     (1) all at once: future_all over 2000 reads
 *         2000 files in 81.9 ms; peak in flight: 2000; results in input order: ok
 *     (2) bounded: future_map, at most 64 in flight
 *         2000 files in 59.6 ms; peak in flight: 64; results in input order: ok
 *     (3) one by one: future_wait on each read
 *         2000 files in 428.9 ms; peak in flight: 1; results in input order: ok
 *     future_map kept at most 64 reads in flight (limit 64)
 *
 *     $ (ulimit -n 1024; ./examples/fanout)
 *     ...
 *     (1) all at once: future_all over 2000 reads
 *         failed after 63.6 ms, 2000 reads started: open
 *         '/tmp/fanout-LAFlOA/001015.txt': too many open files (EMFILE)
 *         (this is what a limit is for: see run 2)
 *     (2) bounded: future_map, at most 64 in flight
 *         2000 files in 51.8 ms; peak in flight: 64; results in input order: ok
 *     ...
 */
#include <future.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define DEFAULT_N 2000
#define DEFAULT_LIMIT 64

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "fanout: %s: %s (%s)\n", what, future_strerror(rc),
            future_err_name(rc));
    exit(EXIT_FAILURE);
  }
}

static void *check_ptr(void *p, const char *what) {
  if (p == NULL)
    check(UV_ENOMEM, what);
  return p;
}

static void wait_ok(future_t *f, future_result_t *r, const char *what) {
  check_ptr(f, what);
  if (future_wait(f, r) != 0) {
    fprintf(stderr, "fanout: %s failed:\n", what);
    future_error_print(r->error, stderr);
    future_result_release(r);
    exit(EXIT_FAILURE);
  }
}

/* Counts the reads in flight: started, outcome not yet back. */
typedef struct {
  size_t in_flight, peak;
} gauge_t;

typedef struct {
  uv_loop_t *loop;
  size_t n;
  char *dir;
  char **paths;
  gauge_t gauge;
} files_t;

/* What file i holds: a line naming it, then a letter, 100 to 399 bytes in
 * all, so that two files never look alike. */
static size_t content(size_t i, char *buf, size_t cap) {
  size_t len = 100 + i % 300;
  int head = snprintf(buf, cap, "fanout file %zu\n", i);
  if (len > cap)
    len = cap;
  memset(buf + head, 'a' + (int)(i % 26), len - (size_t)head);
  return len;
}

static future_t *write_one(uv_loop_t *loop, size_t i, void *data) {
  files_t *fs = data;
  char *buf = malloc(400);
  size_t len;
  if (buf == NULL)
    return NULL;
  len = content(i, buf, 400);
  return future_fs_write_file(loop, fs->paths[i], buf, len, free);
}

static void make_files(files_t *fs) {
  const char *tmp = getenv("TMPDIR");
  char tpl[4096];
  future_result_t r;
  struct rlimit rl;
  size_t i, bytes = 0;
  char scratch[400];

  if (tmp == NULL || *tmp == '\0')
    tmp = "/tmp";
  snprintf(tpl, sizeof tpl, "%s/fanout-XXXXXX", tmp);
  wait_ok(future_fs_mkdtemp(fs->loop, tpl), &r, "making the directory");
  fs->dir = check_ptr(strdup(r.value), "strdup");
  future_result_release(&r);

  fs->paths = check_ptr(calloc(fs->n, sizeof(char *)), "calloc");
  for (i = 0; i < fs->n; i++) {
    size_t len = strlen(fs->dir) + 32;
    fs->paths[i] = check_ptr(malloc(len), "malloc");
    snprintf(fs->paths[i], len, "%s/%06zu.txt", fs->dir, i);
    bytes += content(i, scratch, sizeof scratch);
  }
  wait_ok(future_map(fs->loop, fs->n, 64, write_one, fs), &r,
          "writing the files");
  future_result_release(&r);
  printf("made %zu files (%.1f MiB) in %s", fs->n,
         (double)bytes / (1024.0 * 1024.0), fs->dir);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    printf("; open files allowed: %llu", (unsigned long long)rl.rlim_cur);
  printf("\n");
}

static void remove_files(files_t *fs) {
  future_result_t r;
  wait_ok(future_fs_rm_r(fs->loop, fs->dir, 0), &r, "removing the directory");
  future_result_release(&r);
  for (size_t i = 0; i < fs->n; i++)
    free(fs->paths[i]);
  free(fs->paths);
  free(fs->dir);
}

/* The wrapper: the read's outcome passes through unchanged; on the way
 * the gauge notes that it is no longer in flight. */
static future_t *landed(future_t *settled, void *data) {
  gauge_t *g = data;
  g->in_flight--;
  return future_ref(settled);
}

static future_t *tracked_read(files_t *fs, size_t i) {
  future_t *f = future_fs_read_file(fs->loop, fs->paths[i]);
  if (f == NULL)
    return NULL;
  if (++fs->gauge.in_flight > fs->gauge.peak)
    fs->gauge.peak = fs->gauge.in_flight;
  return future_then(f, landed, landed, &fs->gauge);
}

static future_t *map_read(uv_loop_t *loop, size_t i, void *data) {
  (void)loop;
  return tracked_read(data, i);
}

/* Is `buf` what file i holds? */
static int is_file(size_t i, const future_buf_t *buf) {
  char want[400];
  size_t len = content(i, want, sizeof want);
  return buf != NULL && buf->len == len && memcmp(buf->base, want, len) == 0;
}

/* Check a list of results: item i must be file i. Returns the number of
 * items that are not. */
static size_t check_list(const files_t *fs, const future_list_t *list) {
  size_t bad = 0;
  if (list->count != fs->n)
    return fs->n;
  for (size_t i = 0; i < list->count; i++) {
    if (!is_file(i, future_value(list->items[i]))) {
      fprintf(stderr, "fanout: result %zu is not %s\n", i, fs->paths[i]);
      bad++;
    }
  }
  return bad;
}

static double ms_since(uint64_t t0) { return (double)(uv_hrtime() - t0) / 1e6; }

static void report(const files_t *fs, uint64_t t0, size_t bad) {
  printf("    %zu files in %.1f ms; peak in flight: %zu; results in input "
         "order: %s\n",
         fs->n, ms_since(t0), fs->gauge.peak, bad == 0 ? "ok" : "WRONG");
}

/* (1) every read at once. */
static size_t read_all(files_t *fs) {
  future_t **inputs = check_ptr(malloc(fs->n * sizeof(future_t *)), "malloc");
  future_result_t r;
  uint64_t t0 = uv_hrtime();
  size_t bad = 0;

  printf("(1) all at once: future_all over %zu reads\n", fs->n);
  for (size_t i = 0; i < fs->n; i++)
    inputs[i] = tracked_read(fs, i);
  if (future_wait(check_ptr(future_all(fs->loop, inputs, fs->n), "future_all"),
                  &r) == 0) {
    bad = check_list(fs, r.value);
    report(fs, t0, bad);
  } else {
    /* Not a bug in this program: the lesson of this run. future_all has
     * cancelled the reads still in flight. */
    printf("    failed after %.1f ms, %zu reads started: %s\n",
           ms_since(t0), fs->gauge.peak, future_error_message(r.error));
    printf("    (this is what a limit is for: see run 2)\n");
  }
  future_result_release(&r);
  free(inputs);
  return bad;
}

/* (2) at most `limit` reads at once. */
static size_t read_bounded(files_t *fs, size_t limit) {
  future_result_t r;
  uint64_t t0 = uv_hrtime();
  size_t bad;

  printf("(2) bounded: future_map, at most %zu in flight\n", limit);
  wait_ok(future_map(fs->loop, fs->n, limit, map_read, fs), &r, "future_map");
  bad = check_list(fs, r.value);
  report(fs, t0, bad);
  future_result_release(&r);
  return bad;
}

/* (3) one read at a time. */
static size_t read_one_by_one(files_t *fs) {
  uint64_t t0 = uv_hrtime();
  size_t bad = 0;

  printf("(3) one by one: future_wait on each read\n");
  for (size_t i = 0; i < fs->n; i++) {
    future_result_t r;
    wait_ok(tracked_read(fs, i), &r, fs->paths[i]);
    if (!is_file(i, r.value)) {
      fprintf(stderr, "fanout: result %zu is not %s\n", i, fs->paths[i]);
      bad++;
    }
    future_result_release(&r);
  }
  report(fs, t0, bad);
  return bad;
}

static size_t parse(const char *s, const char *what) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v <= 0 || v > 10000000) {
    fprintf(stderr, "fanout: bad %s '%s'\nusage: fanout [N [LIMIT]]\n", what,
            s);
    exit(2);
  }
  return (size_t)v;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  files_t fs;
  size_t limit = DEFAULT_LIMIT, bad = 0, map_peak;

  memset(&fs, 0, sizeof fs);
  fs.n = DEFAULT_N;
  if (argc > 3) {
    fprintf(stderr, "usage: fanout [N [LIMIT]]\n");
    return 2;
  }
  if (argc > 1)
    fs.n = parse(argv[1], "number of files");
  if (argc > 2)
    limit = parse(argv[2], "limit");

  check(uv_loop_init(&loop), "uv_loop_init");
  fs.loop = &loop;
  make_files(&fs);

  bad += read_all(&fs);
  fs.gauge.peak = fs.gauge.in_flight = 0;
  bad += read_bounded(&fs, limit);
  map_peak = fs.gauge.peak;
  fs.gauge.peak = fs.gauge.in_flight = 0;
  bad += read_one_by_one(&fs);

  if (map_peak <= limit) {
    printf("future_map kept at most %zu reads in flight (limit %zu)\n",
           map_peak, limit);
  } else {
    fprintf(stderr, "fanout: future_map had %zu reads in flight, over its "
                    "limit of %zu\n",
            map_peak, limit);
    bad++;
  }

  remove_files(&fs);
  check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  check(future_loop_close(&loop), "future_loop_close");
  check(uv_loop_close(&loop), "uv_loop_close");
  return bad == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
