/*
 * Shared helpers of the benchmark programs (bench/README.md): clocks,
 * memory figures, the argument n, and the one machine-readable line each
 * program prints. Header-only (static inline), so that every program stays
 * a single translation unit.
 *
 * Memory: the baseline is the resident set size *now* (/proc/self/statm,
 * which sees pages given back), taken before any item is created; the
 * figure after creating is the peak resident set (getrusage ru_maxrss).
 * bytes_per_op = (peak after creating - baseline) / n.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

/* Wall clock, seconds (monotonic). */
static inline double bench_wall(void) { return (double)uv_hrtime() / 1e9; }

/* CPU time of the whole process (every thread), user + system, seconds. */
static inline double bench_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Peak resident set size so far, KiB. */
static inline long bench_maxrss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Resident set size now, KiB. */
static inline long bench_rss_kib(void) {
  long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  if (resident == 0)
    return bench_maxrss_kib();
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* argv[1] as a positive count, or `def`. */
static inline size_t bench_arg_n(int argc, char **argv, size_t def) {
  char *end;
  unsigned long long v;
  if (argc < 2)
    return def;
  v = strtoull(argv[1], &end, 10);
  if (*end != '\0' || v == 0) {
    fprintf(stderr, "usage: %s [n]  (n > 0)\n", argv[0]);
    exit(2);
  }
  return (size_t)v;
}

/* What every counting workload reports. */
typedef struct bench_result_s {
  const char *workload;
  const char *impl;
  size_t n;
  double wall_s;       /* the timed region */
  double cpu_s;        /* CPU time of the timed region */
  long baseline_kib;   /* resident set before creating anything */
  long created_kib;    /* peak resident set once every item is pending */
  int per_op_cpu;      /* ns_per_op from cpu_s instead of wall_s */
} bench_result_t;

static inline void bench_print(const bench_result_t *r) {
  double per = r->per_op_cpu ? r->cpu_s : r->wall_s;
  long grown = r->created_kib - r->baseline_kib;
  if (grown < 0)
    grown = 0;
  printf("workload=%s impl=%s n=%zu wall_s=%.4f cpu_s=%.4f maxrss_kib=%ld "
         "ns_per_op=%.1f bytes_per_op=%.0f\n",
         r->workload, r->impl, r->n, r->wall_s, r->cpu_s, bench_maxrss_kib(),
         per * 1e9 / (double)r->n, (double)grown * 1024.0 / (double)r->n);
  fflush(stdout);
}

/* Close every handle still open on `loop` (none should be) and the loop. */
static inline int bench_loop_close(uv_loop_t *loop) {
  int rc = uv_loop_close(loop);
  if (rc != 0)
    fprintf(stderr, "uv_loop_close: %s\n", uv_strerror(rc));
  return rc;
}

#define BENCH_CHECK(cond, ...)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "bench: check failed: %s: ", #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* fs_fanout's files: <dir>/f00000, <dir>/f00001, ... (the names that
 * `split -d -a 5 -b 4096 - <dir>/f` gives, as bench/run.sh makes them),
 * each BENCH_FILE_SIZE bytes. */
#define BENCH_FILE_SIZE 4096

static inline char **bench_fs_paths(const char *dir, size_t n) {
  char **paths = malloc(n * sizeof(*paths));
  size_t i, len = strlen(dir) + 16;
  BENCH_CHECK(paths != NULL, "malloc");
  for (i = 0; i < n; i++) {
    paths[i] = malloc(len);
    BENCH_CHECK(paths[i] != NULL, "malloc");
    snprintf(paths[i], len, "%s/f%05zu", dir, i);
  }
  return paths;
}

static inline void bench_fs_paths_free(char **paths, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    free(paths[i]);
  free(paths);
}

/* Without a directory on the command line (a run by hand, under valgrind),
 * the program makes its own files in a temporary directory, reads them
 * once so that they are in the page cache, and removes them at the end. */
static inline char *bench_fs_make(size_t n) {
  char tpl[] = "/tmp/libfuture-bench-XXXXXX";
  char block[BENCH_FILE_SIZE];
  char *dir;
  char **paths;
  size_t i;
  BENCH_CHECK(mkdtemp(tpl) != NULL, "mkdtemp");
  dir = strdup(tpl);
  BENCH_CHECK(dir != NULL, "strdup");
  paths = bench_fs_paths(dir, n);
  for (i = 0; i < sizeof(block); i++)
    block[i] = (char)('a' + i % 26);
  for (i = 0; i < n; i++) {
    FILE *f = fopen(paths[i], "wb");
    BENCH_CHECK(f != NULL, "create %s", paths[i]);
    BENCH_CHECK(fwrite(block, 1, sizeof(block), f) == sizeof(block),
                "write %s", paths[i]);
    BENCH_CHECK(fclose(f) == 0, "close %s", paths[i]);
  }
  for (i = 0; i < n; i++) {
    FILE *f = fopen(paths[i], "rb");
    BENCH_CHECK(f != NULL, "open %s", paths[i]);
    BENCH_CHECK(fread(block, 1, sizeof(block), f) == sizeof(block),
                "read %s", paths[i]);
    fclose(f);
  }
  bench_fs_paths_free(paths, n);
  return dir;
}

static inline void bench_fs_remove(char *dir, size_t n) {
  char **paths = bench_fs_paths(dir, n);
  size_t i;
  for (i = 0; i < n; i++)
    unlink(paths[i]);
  bench_fs_paths_free(paths, n);
  rmdir(dir);
  free(dir);
}

/* argv[2], the directory of the files, or NULL. */
static inline const char *bench_arg_dir(int argc, char **argv) {
  return argc > 2 ? argv[2] : NULL;
}

/* heartbeat's CPU work: compute (xorshift) for `ms` milliseconds of the
 * monotonic clock, and return how many rounds were done (never 0). Safe on
 * any thread. */
static inline uint64_t bench_spin(uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * 1000000u;
  uint64_t x = 88172645463325252u, rounds = 0;
  volatile uint64_t sink;
  do {
    int k;
    for (k = 0; k < 4096; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    rounds++;
  } while (uv_hrtime() < end);
  sink = x;
  (void)sink;
  return rounds;
}

/* heartbeat's result line. */
static inline void bench_print_heartbeat(const char *impl, uint64_t work_ms,
                                         double loop_gap_ms,
                                         double pool_gap_ms,
                                         unsigned loop_ticks,
                                         unsigned pool_ticks, double wall_s,
                                         double cpu_s) {
  printf("workload=heartbeat impl=%s work_ms=%llu loop_gap_ms=%.1f "
         "pool_gap_ms=%.1f loop_ticks=%u pool_ticks=%u wall_s=%.4f "
         "cpu_s=%.4f maxrss_kib=%ld\n",
         impl, (unsigned long long)work_ms, loop_gap_ms, pool_gap_ms,
         loop_ticks, pool_ticks, wall_s, cpu_s, bench_maxrss_kib());
  fflush(stdout);
}

#endif /* BENCH_H */
