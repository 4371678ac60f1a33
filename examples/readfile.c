/*
 * readfile: blocking and non-blocking reads, side by side, with a
 * heartbeat that shows whether the loop stayed free.
 *
 * The program makes N files (default 200) of 64 KiB in a temporary
 * directory, then reads every one of them three ways:
 *
 *   (a) BLOCKING: open/read/close with plain read(2), one file after
 *       another, on the loop's thread. The same thing as uv_fs_read with
 *       a NULL callback. While these calls run the loop cannot run, so the
 *       heartbeat stops: no beat happens until the last file is read.
 *   (b) ONE BY ONE: future_fs_read_file for a file, future_wait for it,
 *       then the next. The reads run on libuv's thread pool and
 *       future_wait runs the loop while it waits, so the heartbeat goes
 *       on; but only one read is ever in flight, so the waits add up.
 *   (c) ALL AT ONCE: future_fs_read_file for every file, future_all to
 *       gather them, one future_wait. The pool works on several files at
 *       a time and the loop stays free.
 *
 * A raw libuv timer beats every 5 ms during each run. Each run waits
 * 20 ms, reads, and waits 20 ms again, so the timeline shows the beats
 * before, during and after the reads. Every file's content is checked
 * against a checksum made when it was written: any mismatch makes the
 * program exit with status 1.
 *
 * Before each run the files are written back and dropped from the page
 * cache (fdatasync, posix_fadvise POSIX_FADV_DONTNEED), so that every run
 * reads from the disk, as a program does the first time it reads a file.
 * The files go to $TMPDIR if set, else to /tmp, or to /var/tmp when /tmp
 * is a tmpfs (in memory, as on several distributions) and /var/tmp is not.
 * Where the reads come from memory anyway, they are much shorter, and the
 * blocking run may end before the heartbeat would have beaten at all.
 *
 * The output ends with what the run shows, said from its own numbers:
 * whether the blocking reads kept every beat out, or were too fast to
 * (then it says so, why, and how many files would show it); why waiting
 * on each future in turn can be slower than blocking reads (each file is
 * a few requests handed to the pool and back, and nothing overlaps); and
 * what reading all at once gains. The times are whatever the machine
 * gives; nothing else depends on them.
 *
 * Usage: readfile [N]
 *
 * SYNOPSIS
 *     $ ./examples/readfile
 *     made 200 files of 64 KiB (12.5 MiB) in /tmp/readfile-6KBZQT
 *     (a) blocking read(2), one file after another
 *       200 files read in 46.4 ms, all 200 verified
 *       beats during the reads: 0 (a free loop beats about every 5 ms)
 *     (b) future_fs_read_file + future_wait, one file after another
 *       200 files read in 84.8 ms, all 200 verified
 *       beats during the reads: 17 (a free loop beats about every 5 ms)
 *     (c) future_fs_read_file for every file + future_all + one future_wait
 *       200 files read in 32.9 ms, all 200 verified
 *       beats during the reads: 5 (a free loop beats about every 5 ms)
 *
 *     timelines, one column per 2 ms: '|' a beat, '#' reading
 *     (a) beats  ..|..|..|........................|.|..|..|..
 *         reads            ########################
 *     (b) beats  ..|..|.|..|.|..|.|..|.|..|.|..|.|..|.|..|.|..|.|..|.|..|..
 *         reads           ############################################
 *     (c) beats  ..|..|.|..|.|..|.|..|.|...|..|.|..|..
 *         reads            #################
 *
 *     summary                 time  beats during  largest gap
 *       (a) blocking read(2)    46.4 ms        0         51 ms
 *       (b) wait on each        84.8 ms       17          5 ms
 *       (c) all at once         32.9 ms        5          8 ms
 */
#include <future.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#define TMPFS_MAGIC_NUMBER 0x01021994
#endif

#define DEFAULT_N 200
#define FILE_SIZE (64 * 1024)
#define BEAT_MS 5
#define MARGIN_MS 20
#define MAX_COLUMNS 72

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "readfile: %s: %s (%s)\n", what, future_strerror(rc),
            future_err_name(rc));
    exit(EXIT_FAILURE);
  }
}

static void *check_ptr(void *p, const char *what) {
  if (p == NULL)
    check(UV_ENOMEM, what);
  return p;
}

/* Wait for `f` and exit with its error if it rejected. */
static void wait_ok(future_t *f, future_result_t *r, const char *what) {
  check_ptr(f, what);
  if (future_wait(f, r) != 0) {
    fprintf(stderr, "readfile: %s failed:\n", what);
    future_error_print(r->error, stderr);
    future_result_release(r);
    exit(EXIT_FAILURE);
  }
}

/* The files: their names and the checksum of what was written. */

typedef struct {
  uv_loop_t *loop;
  size_t n;
  char *dir;
  char **paths;
  uint64_t *sums;
  int in_memory; /* the directory is a tmpfs */
} files_t;

/* FNV-1a over 8-byte words: cheap enough not to hide the reads. */
static uint64_t checksum(const char *p, size_t len) {
  uint64_t h = 14695981039346656037ull ^ len;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < len; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

/* Different bytes for every file (splitmix64 seeded with its number). */
static void fill(char *p, size_t len, uint64_t seed) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    memcpy(p + i, &z, len - i < 8 ? len - i : 8);
  }
}

/* future_map callback: write file number i (the library frees the buffer
 * when the write no longer needs it). */
static future_t *write_one(uv_loop_t *loop, size_t i, void *data) {
  files_t *fs = data;
  char *buf = malloc(FILE_SIZE);
  if (buf == NULL)
    return NULL;
  fill(buf, FILE_SIZE, i);
  fs->sums[i] = checksum(buf, FILE_SIZE);
  return future_fs_write_file(loop, fs->paths[i], buf, FILE_SIZE, free);
}

/* Whether `dir` is in memory (tmpfs), where no read waits for a disk. */
static int in_memory(const char *dir) {
#ifdef __linux__
  struct statfs st;
  return statfs(dir, &st) == 0 && st.f_type == TMPFS_MAGIC_NUMBER;
#else
  (void)dir;
  return 0;
#endif
}

static void make_files(files_t *fs) {
  const char *tmp = getenv("TMPDIR");
  const char *why = "";
  char tpl[4096];
  future_result_t r;
  size_t i;

  /* A disk shows the point best: /tmp is a tmpfs (memory) on several
   * distributions, /var/tmp seldom is. $TMPDIR, when set, decides. */
  if (tmp == NULL || *tmp == '\0') {
    tmp = "/tmp";
    if (in_memory("/tmp") && !in_memory("/var/tmp")) {
      tmp = "/var/tmp";
      why = " (/tmp is a tmpfs, in memory; /var/tmp is on a disk)";
    }
  }
  snprintf(tpl, sizeof tpl, "%s/readfile-XXXXXX", tmp);
  wait_ok(future_fs_mkdtemp(fs->loop, tpl), &r, "making the directory");
  fs->dir = check_ptr(strdup(r.value), "strdup");
  future_result_release(&r);

  fs->paths = check_ptr(calloc(fs->n, sizeof(char *)), "calloc");
  fs->sums = check_ptr(calloc(fs->n, sizeof(uint64_t)), "calloc");
  for (i = 0; i < fs->n; i++) {
    size_t len = strlen(fs->dir) + 32;
    fs->paths[i] = check_ptr(malloc(len), "malloc");
    snprintf(fs->paths[i], len, "%s/file-%05zu", fs->dir, i);
  }
  /* 64 at a time: the setup is not the point, and it must not run out of
   * file descriptors. */
  wait_ok(future_map(fs->loop, fs->n, 64, write_one, fs), &r,
          "writing the files");
  future_result_release(&r);
  printf("made %zu files of %d KiB (%.1f MiB) in %s%s\n", fs->n,
         FILE_SIZE / 1024, (double)fs->n * FILE_SIZE / (1024.0 * 1024.0),
         fs->dir, why);
  fs->in_memory = in_memory(fs->dir);
}

/* Ask the kernel to forget the files' pages (written back first), so that
 * each run reads from the disk rather than from memory. Setup, not timed;
 * where the kernel does not do it (tmpfs, other systems) the runs simply
 * read from memory. */
static void drop_from_cache(const files_t *fs) {
  for (size_t i = 0; i < fs->n; i++) {
    int fd = open(fs->paths[i], O_RDONLY);
    if (fd < 0)
      check(uv_translate_sys_error(errno), fs->paths[i]);
    (void)fdatasync(fd);
#ifdef POSIX_FADV_DONTNEED
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
#endif
    close(fd);
  }
}

static void remove_files(files_t *fs) {
  future_result_t r;
  wait_ok(future_fs_rm_r(fs->loop, fs->dir, 0), &r, "removing the directory");
  future_result_release(&r);
  for (size_t i = 0; i < fs->n; i++)
    free(fs->paths[i]);
  free(fs->paths);
  free(fs->sums);
  free(fs->dir);
}

/* One run: when it read, and when the heartbeat beat. */

typedef struct {
  const char *title;
  const char *label;
  uint64_t t0, work_start, work_end, t_end; /* uv_hrtime, ns */
  uint64_t *beats;
  size_t nbeats, cap;
  size_t verified, bad;
} run_t;

static void on_beat(uv_timer_t *timer) {
  run_t *run = timer->data;
  if (run->nbeats == run->cap) {
    run->cap = run->cap ? 2 * run->cap : 64;
    run->beats = check_ptr(realloc(run->beats, run->cap * sizeof(uint64_t)),
                           "realloc");
  }
  run->beats[run->nbeats++] = uv_hrtime();
}

static void verify(const files_t *fs, run_t *run, size_t i, const char *p,
                   size_t len) {
  if (len == FILE_SIZE && checksum(p, len) == fs->sums[i]) {
    run->verified++;
  } else {
    fprintf(stderr, "readfile: %s: wrong content (%zu bytes)\n", fs->paths[i],
            len);
    run->bad++;
  }
}

/* (a) blocking: plain read(2) on the loop's thread. */
static void read_blocking(const files_t *fs, run_t *run) {
  static char buf[FILE_SIZE + 1];
  for (size_t i = 0; i < fs->n; i++) {
    size_t len = 0;
    ssize_t got;
    int fd = open(fs->paths[i], O_RDONLY);
    if (fd < 0)
      check(uv_translate_sys_error(errno), fs->paths[i]);
    /* Read until the end of the file, however short each read. */
    while ((got = read(fd, buf + len, sizeof buf - len)) > 0)
      len += (size_t)got;
    if (got < 0)
      check(uv_translate_sys_error(errno), fs->paths[i]);
    if (close(fd) != 0)
      check(uv_translate_sys_error(errno), fs->paths[i]);
    verify(fs, run, i, buf, len);
  }
}

/* (b) one by one: a future per file, and a wait for each. */
static void read_one_by_one(const files_t *fs, run_t *run) {
  for (size_t i = 0; i < fs->n; i++) {
    future_result_t r;
    const future_buf_t *buf;
    wait_ok(future_fs_read_file(fs->loop, fs->paths[i]), &r, fs->paths[i]);
    buf = r.value;
    verify(fs, run, i, buf->base, buf->len);
    future_result_release(&r);
  }
}

/* (c) all at once: every read started, one wait for all of them. */
static void read_all_at_once(const files_t *fs, run_t *run) {
  future_t **inputs = check_ptr(malloc(fs->n * sizeof(future_t *)), "malloc");
  const future_list_t *list;
  future_result_t r;
  for (size_t i = 0; i < fs->n; i++)
    inputs[i] = future_fs_read_file(fs->loop, fs->paths[i]);
  /* future_all takes the inputs over, even a NULL one (it rejects then). */
  wait_ok(future_all(fs->loop, inputs, fs->n), &r, "reading every file");
  free(inputs);
  list = r.value;
  for (size_t i = 0; i < list->count; i++) {
    const future_buf_t *buf = future_value(list->items[i]);
    verify(fs, run, i, buf->base, buf->len);
  }
  future_result_release(&r);
}

/* Let the loop (and the heartbeat) run for `ms` milliseconds. The loop's
 * clock is refreshed first: after blocking calls it lags behind, and the
 * delay would count from a moment long past. */
static void pause_loop(uv_loop_t *loop, uint64_t ms) {
  future_result_t r;
  uv_update_time(loop);
  wait_ok(future_delay(loop, ms), &r, "future_delay");
  future_result_release(&r);
}

static void run_one(const files_t *fs, uv_timer_t *heart, run_t *run,
                    void (*reader)(const files_t *, run_t *)) {
  printf("%s\n", run->title);
  fflush(stdout);
  drop_from_cache(fs);
  heart->data = run;
  uv_update_time(fs->loop);
  run->t0 = uv_hrtime();
  check(uv_timer_start(heart, on_beat, BEAT_MS, BEAT_MS), "uv_timer_start");
  pause_loop(fs->loop, MARGIN_MS);
  run->work_start = uv_hrtime();
  reader(fs, run);
  run->work_end = uv_hrtime();
  pause_loop(fs->loop, MARGIN_MS);
  check(uv_timer_stop(heart), "uv_timer_stop");
  run->t_end = uv_hrtime();
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static size_t beats_during(const run_t *run) {
  size_t k = 0;
  for (size_t i = 0; i < run->nbeats; i++)
    if (run->beats[i] > run->work_start && run->beats[i] <= run->work_end)
      k++;
  return k;
}

/* The longest stretch without a beat, from the start of the run to its
 * end. */
static uint64_t largest_gap(const run_t *run) {
  uint64_t last = run->t0, gap = 0;
  for (size_t i = 0; i < run->nbeats; i++) {
    if (run->beats[i] - last > gap)
      gap = run->beats[i] - last;
    last = run->beats[i];
  }
  if (run->t_end - last > gap)
    gap = run->t_end - last;
  return gap;
}

static void print_result(const files_t *fs, const run_t *run) {
  printf("  %zu files read in %.1f ms, ", fs->n,
         ms(run->work_end - run->work_start));
  if (run->bad == 0)
    printf("all %zu verified\n", run->verified);
  else
    printf("%zu of %zu WRONG\n", run->bad, fs->n);
  printf("  beats during the reads: %zu (a free loop beats about every %d "
         "ms)\n",
         beats_during(run), BEAT_MS);
}

static void print_timeline(const run_t *run, uint64_t col_ms) {
  uint64_t col_ns = col_ms * 1000000;
  size_t cols = (size_t)((run->t_end - run->t0) / col_ns) + 1;
  char *beats = check_ptr(malloc(cols + 1), "malloc");
  char *reads = check_ptr(malloc(cols + 1), "malloc");
  size_t a = (size_t)((run->work_start - run->t0) / col_ns);
  size_t b = (size_t)((run->work_end - run->t0) / col_ns);

  memset(beats, '.', cols);
  memset(reads, ' ', cols);
  beats[cols] = reads[cols] = '\0';
  for (size_t i = 0; i < run->nbeats; i++) {
    size_t c = (size_t)((run->beats[i] - run->t0) / col_ns);
    if (c < cols)
      beats[c] = '|';
  }
  for (size_t c = a; c <= b && c < cols; c++)
    reads[c] = '#';
  printf("%s beats  %s\n", run->label, beats);
  printf("%*s reads  %s\n", (int)strlen(run->label), "", reads);
  free(beats);
  free(reads);
}

/* What the numbers of this run show, said from the numbers themselves. */
static void explain(const files_t *fs, const run_t runs[3]) {
  double a = ms(runs[0].work_end - runs[0].work_start);
  double b = ms(runs[1].work_end - runs[1].work_start);
  double c = ms(runs[2].work_end - runs[2].work_start);
  printf("\nwhat this run shows\n");
  if (a < 2 * BEAT_MS) {
    printf("  (a) took only %.1f ms, less than two beats: the files came "
           "from memory\n  (%s), too fast for the heartbeat to miss a beat. Run "
           "it with more files, as in\n  `./examples/readfile %zu`, to see "
           "the blocking reads freeze the loop.\n",
           a, fs->in_memory ? "the directory is a tmpfs" : "the page cache "
                                                           "kept them",
           fs->n * 10);
  } else if (beats_during(&runs[0]) == 0) {
    printf("  (a) is the run without a beat during its reads: the blocking "
           "calls held the\n  loop's thread for %.1f ms, and the timer that "
           "was due meanwhile had to wait.\n",
           a);
  }
  if (b > a)
    printf("  (b) kept the loop free but took longer than (a): each file is "
           "a few requests\n  (open, fstat, reads to the end, close) handed to the thread "
           "pool and back, and waiting for\n  each file before starting the "
           "next adds up those hand-overs without overlapping\n  any. The "
           "blocking calls make the same system calls on the spot.\n");
  if (c < b)
    printf("  (c) keeps many reads in flight on the pool's threads at once: "
           "it overlaps what\n  (b) does one at a time, and the loop stays "
           "free.\n");
}

int main(int argc, char **argv) {
  static const uint64_t scales[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
  uv_loop_t loop;
  uv_timer_t heart;
  files_t fs;
  run_t runs[3];
  void (*readers[3])(const files_t *, run_t *) = {
      read_blocking, read_one_by_one, read_all_at_once};
  uint64_t longest = 0, col_ms = scales[0];
  size_t bad = 0, i;

  memset(&fs, 0, sizeof fs);
  fs.n = DEFAULT_N;
  if (argc > 2 || (argc == 2 && (strtol(argv[1], NULL, 10) <= 0 ||
                                 strtol(argv[1], NULL, 10) > 1000000))) {
    fprintf(stderr, "usage: readfile [N]   (N files of 64 KiB, default %d)\n",
            DEFAULT_N);
    return 2;
  }
  if (argc == 2)
    fs.n = (size_t)strtol(argv[1], NULL, 10);

  check(uv_loop_init(&loop), "uv_loop_init");
  fs.loop = &loop;
  check(uv_timer_init(&loop, &heart), "uv_timer_init");
  make_files(&fs);

  memset(runs, 0, sizeof runs);
  runs[0].title = "(a) blocking read(2), one file after another";
  runs[0].label = "(a)";
  runs[1].title = "(b) future_fs_read_file + future_wait, one file after "
                  "another";
  runs[1].label = "(b)";
  runs[2].title = "(c) future_fs_read_file for every file + future_all + one "
                  "future_wait";
  runs[2].label = "(c)";
  for (i = 0; i < 3; i++) {
    run_one(&fs, &heart, &runs[i], readers[i]);
    print_result(&fs, &runs[i]);
    bad += runs[i].bad;
    if (runs[i].t_end - runs[i].t0 > longest)
      longest = runs[i].t_end - runs[i].t0;
  }

  /* One scale for the three timelines, so that they compare. */
  for (i = 0; i < sizeof scales / sizeof scales[0]; i++) {
    col_ms = scales[i];
    if (longest / (col_ms * 1000000) < MAX_COLUMNS)
      break;
  }
  printf("\ntimelines, one column per %llu ms: '|' a beat, '#' reading\n",
         (unsigned long long)col_ms);
  for (i = 0; i < 3; i++)
    print_timeline(&runs[i], col_ms);

  printf("\nsummary                 time  beats during  largest gap\n");
  for (i = 0; i < 3; i++) {
    static const char *names[] = {"blocking read(2)", "wait on each",
                                  "all at once"};
    printf("  %s %-16s %7.1f ms %8zu %10.0f ms\n", runs[i].label, names[i],
           ms(runs[i].work_end - runs[i].work_start), beats_during(&runs[i]),
           ms(largest_gap(&runs[i])));
  }
  explain(&fs, runs);
  for (i = 0; i < 3; i++)
    free(runs[i].beats);

  remove_files(&fs);
  uv_close((uv_handle_t *)&heart, NULL);
  check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  check(future_loop_close(&loop), "future_loop_close");
  check(uv_loop_close(&loop), "uv_loop_close");
  if (bad != 0) {
    fprintf(stderr, "readfile: %zu reads gave the wrong content\n", bad);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
