/*
 * three_ways: one job, written three ways, with a heartbeat on the loop.
 *
 * THE JOB. Read poem.txt, upper-case it (counting its lines and words on
 * the way), write the result to POEM-x.txt. Then the same for missing.txt,
 * which does not exist: its read fails, the error lands where that file is
 * handled, is reported with its message, and the job goes on with what is
 * left. The job's outcome is the number of files converted: 1 of 2.
 *
 * WHAT STANDS FOR WHAT. The files are small and cached: they are read in
 * microseconds, too fast to see anything. So before each read the job
 * waits SLOW_MS (a future_delay): that wait stands for a slow disk or a
 * network file system. A raw libuv timer beats every BEAT_MS on the
 * program's loop: it stands for everything else the program does on that
 * loop (the other clients of a server, a user interface). The job starts
 * START_MS into each run, in a callback of the loop, as a server starts a
 * job when a request comes in.
 *
 * THE THREE WAYS. Each does the same steps, numbered the same in the code:
 * 1. the slow device (the delay), 2. read, 3. transform, 4. write,
 * 5. report the file's outcome, whichever it is.
 *
 *   (a) A CHAIN OF CONTINUATIONS. Each step is a callback that returns the
 *       future of the next; the read's error skips the steps after it and
 *       lands in the report step, the chain's on_rejected. The loop over
 *       the files becomes a continuation that starts the next file, and the
 *       variables that live across the steps move into a structure. The
 *       callback that starts the job returns at once: the loop stays free,
 *       and the heartbeat goes on.
 *   (b) FUTURE_WAIT, BLOCKING. The code reads top to bottom: wait for the
 *       delay, wait for the read, and so on, and an error is a status
 *       tested after each wait. But the job runs in a callback of the loop,
 *       and future_wait refuses to wait on that loop there (it would have
 *       to re-enter uv_run: FUTURE_EINCALLBACK). So the job waits on a loop
 *       of its own, which is how any synchronous function built on
 *       asynchronous I/O works (Node's fs.readFileSync is one). The
 *       callback holds the thread until the whole job is done, and the
 *       program's loop gets no turn meanwhile: no beat at all during the
 *       job. (Called from main instead, future_wait runs the program's loop
 *       while it waits, so the heartbeat would go on; examples/readfile.c
 *       shows that. But main is one place, and a program that serves
 *       requests handles them in callbacks.)
 *   (c) A FIBER AND FUTURE_AWAIT. The code of (b) word for word, with
 *       future_await in place of future_wait, on the program's loop: the
 *       callback starts it with future_async and returns. Each await puts
 *       the fiber aside and hands the thread back to the loop until the
 *       future settles. Top to bottom, and the heartbeat goes on.
 *
 * Each run prints its files' outcomes as they come, then how long the job
 * took and how many beats came during it. At the end, a timeline per run
 * (one column per 10 ms: '|' a beat, '#' the job) and a summary with the
 * largest gap between two beats. The program then checks that the three
 * ways wrote the same file, the poem upper-cased, and that none of them
 * wrote an output for the missing input; anything else makes it exit with
 * status 1. It works in a temporary directory, which it removes.
 *
 * SYNOPSIS
 *     $ ./examples/three_ways
 *     the job: poem.txt -> POEM-x.txt upper-cased, then missing.txt (no such
 *     file). A 100 ms future_delay before each read stands for a slow disk
 *     (the files are cached); a timer beating every 10 ms on the loop stands
 *     for the rest of the program.
 *
 *     (a) a chain of continuations
 *         poem.txt -> POEM-a.txt: 4 lines, 29 words, upper-cased
 *         missing.txt: open 'missing.txt': no such file or directory (ENOENT)
 *         converted 1 of 2 files; the job took 202 ms, 19 beats during it
 *     (b) future_wait, on a loop of its own (blocking)
 *         future_wait on the program's loop, in its callback, refuses:
 *           future_wait inside a loop callback would deadlock: cannot ...
 *         so the job waits on a loop of its own, and holds the program's loop
 *         poem.txt -> POEM-b.txt: 4 lines, 29 words, upper-cased
 *         missing.txt: open 'missing.txt': no such file or directory (ENOENT)
 *         converted 1 of 2 files; the job took 203 ms, 0 beats during it
 *     (c) a fiber and future_await
 *         poem.txt -> POEM-c.txt: 4 lines, 29 words, upper-cased
 *         missing.txt: open 'missing.txt': no such file or directory (ENOENT)
 *         converted 1 of 2 files; the job took 207 ms, 20 beats during it
 *
 *     timelines, one column per 10 ms: '|' a beat, '#' the job
 *     (a) beats  .|||||||||||||||||||||||||.
 *         job       #####################
 *     (b) beats  .||....................||||
 *         job      ######################
 *     (c) beats  .||||||||||||||||||||||||.|
 *         job      ######################
 *
 *     summary                 job  beats during  largest gap  the loop
 *       (a) chain           202 ms            19        11 ms  kept beating
 *       (b) future_wait     203 ms             0       212 ms  stopped
 *       (c) fiber           207 ms            20        13 ms  kept beating
 *
 *     POEM-a.txt, POEM-b.txt, POEM-c.txt: the same, the poem upper-cased
 *     MISSING-a.txt, MISSING-b.txt, MISSING-c.txt: not written
 */
#include <future.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEAT_MS 10   /* the heartbeat */
#define START_MS 30  /* when the job starts, into each run */
#define SLOW_MS 100  /* the slow device: a delay before each read */
#define MARGIN_MS 30 /* the loop runs on for this long after the job */
#define NFILES 2
#define MAX_BEATS 1024

static const char poem[] = "I set the kettle on, and then\n"
                           "I did not stand and watch it boil:\n"
                           "I laid the table, fed the hen,\n"
                           "and came back when it called again.\n";

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "three_ways: %s: %s (%s)\n", what, future_strerror(rc),
            future_err_name(rc));
    exit(EXIT_FAILURE);
  }
}

static void *check_ptr(void *p, const char *what) {
  if (p == NULL)
    check(UV_ENOMEM, what);
  return p;
}

/* ---- the job: what the three ways share ---- */

typedef struct {
  const char *in; /* the input's path */
  char out[32];   /* the output's path */
  size_t lines, words;
} file_t;

typedef struct {
  file_t files[NFILES];
  uint64_t start, end; /* uv_hrtime when the job started, and ended */
  /* (a) only: the loop's variables, kept across the continuations. */
  size_t next;
  intptr_t converted;
} job_t;

/* 3. Transform: upper-case `text`, counting lines and words; then start
 * 4. writing the result to file->out. The write takes the copy over (it
 * runs `free` on it when it no longer needs it). */
static future_t *transform_and_write(uv_loop_t *loop, file_t *file,
                                     const future_buf_t *text) {
  char *upper = malloc(text->len + 1);
  int in_word = 0;
  if (upper == NULL)
    return future_rejected(
        loop, future_error_new(UV_ENOMEM, "upper-casing '%s'", file->in));
  file->lines = file->words = 0;
  for (size_t i = 0; i < text->len; i++) {
    unsigned char c = (unsigned char)text->base[i];
    upper[i] = (char)toupper(c);
    if (c == '\n')
      file->lines++;
    if (isspace(c)) {
      in_word = 0;
    } else if (!in_word) {
      in_word = 1;
      file->words++;
    }
  }
  return future_fs_write_file(loop, file->out, upper, text->len, free);
}

/* 5. Report: the counts, or the error with its message. Returns 1 if the
 * file was converted, 0 if not. */
static int report(const file_t *file, const future_error_t *err) {
  if (err != NULL) {
    printf("    %s: %s\n", file->in, future_error_message(err));
    return 0;
  }
  printf("    %s -> %s: %zu lines, %zu words, upper-cased\n", file->in,
         file->out, file->lines, file->words);
  return 1;
}

/* ---- (a) a chain of continuations ---- */

static future_t *chain_read(future_t *settled, void *data) {
  file_t *file = data;
  return future_fs_read_file(future_loop(settled), file->in);
}

static future_t *chain_transform_and_write(future_t *settled, void *data) {
  return transform_and_write(future_loop(settled), data, future_value(settled));
}

/* Both outcomes come here: an error of any step before skips the others
 * and lands in this call, as on_rejected. */
static future_t *chain_report(future_t *settled, void *data) {
  int converted = report(data, future_error(settled));
  return future_resolved(future_loop(settled), (void *)(intptr_t)converted,
                         NULL);
}

static future_t *convert_chain(uv_loop_t *loop, file_t *file) {
  future_t *f = future_delay(loop, SLOW_MS);                 /* 1. slow */
  f = future_then(f, chain_read, NULL, file);                /* 2. read */
  f = future_then(f, chain_transform_and_write, NULL, file); /* 3. and 4. */
  return future_then(f, chain_report, chain_report, file);   /* 5. report */
}

/* The loop over the files: adds up the file just done (the first call's
 * value is 0), and starts the next one, with itself to follow. */
static future_t *chain_next_file(future_t *settled, void *data) {
  job_t *job = data;
  uv_loop_t *loop = future_loop(settled);
  job->converted += (intptr_t)future_value(settled);
  if (job->next == NFILES) {
    job->end = uv_hrtime();
    return future_resolved(loop, (void *)job->converted, NULL);
  }
  return future_then(convert_chain(loop, &job->files[job->next++]),
                     chain_next_file, NULL, job);
}

static future_t *job_chain(uv_loop_t *loop, job_t *job) {
  job->next = 0;
  job->converted = 0;
  return future_then(future_resolved(loop, NULL, NULL), chain_next_file, NULL,
                     job);
}

/* ---- (b) future_wait: blocking ---- */

static int convert_blocking(uv_loop_t *loop, file_t *file) {
  future_result_t r;
  int converted, rc = future_wait(future_delay(loop, SLOW_MS), &r); /* 1. */
  if (rc == 0) {
    future_result_release(&r);
    rc = future_wait(future_fs_read_file(loop, file->in), &r); /* 2. read */
  }
  if (rc == 0) {
    future_t *write = transform_and_write(loop, file, r.value); /* 3. */
    future_result_release(&r);
    rc = future_wait(write, &r); /* 4. write */
  }
  converted = report(file, r.error); /* 5. report */
  future_result_release(&r);
  return converted;
}

static future_t *job_blocking(uv_loop_t *loop, job_t *job) {
  uv_loop_t own;
  future_result_t r;
  intptr_t converted = 0;
  /* Waiting on the program's loop, inside one of its callbacks, is
   * refused (for any future of that loop: it is not even looked at). */
  if (future_wait(future_resolved(loop, NULL, NULL), &r) == FUTURE_EINCALLBACK)
    printf("    future_wait on the program's loop, in its callback, "
           "refuses:\n      %s\n"
           "    so the job waits on a loop of its own, and holds the "
           "program's loop\n",
           future_error_message(r.error));
  future_result_release(&r);

  check(uv_loop_init(&own), "uv_loop_init");
  for (size_t i = 0; i < NFILES; i++)
    converted += convert_blocking(&own, &job->files[i]);
  check(future_loop_close(&own), "future_loop_close");
  check(uv_loop_close(&own), "uv_loop_close");
  job->end = uv_hrtime();
  return future_resolved(loop, (void *)converted, NULL);
}

/* ---- (c) a fiber and future_await: (b) with await for wait ---- */

static int convert_fiber(uv_loop_t *loop, file_t *file) {
  future_result_t r;
  int converted, rc = future_await(future_delay(loop, SLOW_MS), &r); /* 1. */
  if (rc == 0) {
    future_result_release(&r);
    rc = future_await(future_fs_read_file(loop, file->in), &r); /* 2. read */
  }
  if (rc == 0) {
    future_t *write = transform_and_write(loop, file, r.value); /* 3. */
    future_result_release(&r);
    rc = future_await(write, &r); /* 4. write */
  }
  converted = report(file, r.error); /* 5. report */
  future_result_release(&r);
  return converted;
}

/* The fiber's function (a future_async_fn): it returns its outcome as a
 * future, as a continuation does. */
static future_t *job_fiber(uv_loop_t *loop, void *arg) {
  job_t *job = arg;
  intptr_t converted = 0;
  for (size_t i = 0; i < NFILES; i++)
    converted += convert_fiber(loop, &job->files[i]);
  job->end = uv_hrtime();
  return future_resolved(loop, (void *)converted, NULL);
}

/* ---- the runs ---- */

enum way { CHAIN, BLOCKING, FIBER };

typedef struct {
  enum way way;
  const char *label, *title, *name;
  job_t job;
  uint64_t t0, t_end; /* uv_hrtime: the run's start and end */
  uint64_t beats[MAX_BEATS];
  size_t nbeats;
} run_t;

static void on_beat(uv_timer_t *timer) {
  run_t *run = timer->data;
  if (run->nbeats < MAX_BEATS)
    run->beats[run->nbeats++] = uv_hrtime();
}

/* The request comes in: this callback of the loop starts the job, the
 * run's way, and returns the job's future (the run's future follows it). */
static future_t *start_job(future_t *settled, void *data) {
  run_t *run = data;
  uv_loop_t *loop = future_loop(settled);
  run->job.start = uv_hrtime();
  switch (run->way) {
  case CHAIN:
    return job_chain(loop, &run->job); /* returns at once */
  case BLOCKING:
    return job_blocking(loop, &run->job); /* returns when the job is done */
  default:
    return future_async(loop, job_fiber, &run->job, NULL); /* at once */
  }
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static size_t beats_during_job(const run_t *run) {
  size_t k = 0;
  for (size_t i = 0; i < run->nbeats; i++)
    if (run->beats[i] > run->job.start && run->beats[i] <= run->job.end)
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

/* Let the loop (and the heartbeat) run for `ms` milliseconds. */
static void pause_loop(uv_loop_t *loop, uint64_t ms) {
  uv_update_time(loop);
  check(future_wait(future_delay(loop, ms), NULL), "future_delay");
}

static int run_one(uv_loop_t *loop, uv_timer_t *heart, run_t *run) {
  future_result_t r;
  intptr_t converted;
  printf("%s %s\n", run->label, run->title);
  fflush(stdout);
  heart->data = run;
  uv_update_time(loop);
  run->t0 = uv_hrtime();
  check(uv_timer_start(heart, on_beat, BEAT_MS, BEAT_MS), "uv_timer_start");
  /* main, at the top of the program, may wait: future_wait runs the loop
   * until the run's future settles. */
  if (future_wait(
          future_then(future_delay(loop, START_MS), start_job, NULL, run),
          &r) != 0) {
    fprintf(stderr, "three_ways: %s failed:\n", run->title);
    future_error_print(r.error, stderr);
    exit(EXIT_FAILURE);
  }
  converted = (intptr_t)r.value;
  future_result_release(&r);
  printf("    converted %ld of %d files; the job took %.0f ms, %zu beats "
         "during it\n",
         (long)converted, NFILES, ms(run->job.end - run->job.start),
         beats_during_job(run));
  pause_loop(loop, MARGIN_MS);
  check(uv_timer_stop(heart), "uv_timer_stop");
  run->t_end = uv_hrtime();
  return converted == 1;
}

static void print_timeline(const run_t *run) {
  uint64_t col_ns = (uint64_t)BEAT_MS * 1000000;
  size_t cols = (size_t)((run->t_end - run->t0) / col_ns) + 1;
  char *beats = check_ptr(malloc(cols + 1), "malloc");
  char *job = check_ptr(malloc(cols + 1), "malloc");
  size_t a = (size_t)((run->job.start - run->t0) / col_ns);
  size_t b = (size_t)((run->job.end - run->t0) / col_ns);
  memset(beats, '.', cols);
  memset(job, ' ', cols);
  beats[cols] = job[cols] = '\0';
  for (size_t i = 0; i < run->nbeats; i++) {
    size_t c = (size_t)((run->beats[i] - run->t0) / col_ns);
    if (c < cols)
      beats[c] = '|';
  }
  for (size_t c = a; c <= b && c < cols; c++)
    job[c] = '#';
  if (b + 1 < cols)
    job[b + 1] = '\0'; /* no trailing blanks */
  printf("%s beats  %s\n", run->label, beats);
  printf("%*s job    %s\n", (int)strlen(run->label), "", job);
  free(beats);
  free(job);
}

/* ---- checking what the runs wrote ---- */

/* 1 if `path` holds the poem upper-cased. */
static int holds_upper_poem(uv_loop_t *loop, const char *path) {
  future_result_t r;
  int ok = 0;
  if (future_wait(future_fs_read_file(loop, path), &r) == 0) {
    const future_buf_t *buf = r.value;
    ok = buf->len == strlen(poem);
    for (size_t i = 0; ok && i < buf->len; i++)
      ok = buf->base[i] == (char)toupper((unsigned char)poem[i]);
  }
  if (!ok)
    fprintf(stderr, "three_ways: %s does not hold the poem upper-cased\n",
            path);
  future_result_release(&r);
  return ok;
}

/* 1 if nothing is at `path`. */
static int absent(uv_loop_t *loop, const char *path) {
  int rc = future_wait(future_fs_stat(loop, path), NULL);
  if (rc != UV_ENOENT)
    fprintf(stderr, "three_ways: %s should not exist\n", path);
  return rc == UV_ENOENT;
}

int main(void) {
  static run_t runs[3];
  static const char *const labels[3] = {"(a)", "(b)", "(c)"};
  static const char *const titles[3] = {"a chain of continuations",
                                        "future_wait, on a loop of its own "
                                        "(blocking)",
                                        "a fiber and future_await"};
  static const char *const names[3] = {"chain", "future_wait", "fiber"};
  static const char letters[3] = {'a', 'b', 'c'};
  uv_loop_t loop;
  uv_timer_t heart;
  future_result_t r;
  char cwd[4096], dir[4096], tpl[4096];
  size_t len = sizeof cwd;
  const char *tmp = getenv("TMPDIR");
  int ok = 1;

  check(uv_loop_init(&loop), "uv_loop_init");
  check(uv_timer_init(&loop, &heart), "uv_timer_init");

  /* Setup: a temporary directory to work in, and the poem. */
  check(uv_cwd(cwd, &len), "uv_cwd");
  snprintf(tpl, sizeof tpl, "%s/three_ways-XXXXXX",
           tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
  check(future_wait(future_fs_mkdtemp(&loop, tpl), &r), "mkdtemp");
  snprintf(dir, sizeof dir, "%s", (const char *)r.value);
  future_result_release(&r);
  check(uv_chdir(dir), "uv_chdir");
  check(future_wait(
            future_fs_write_file(&loop, "poem.txt", poem, strlen(poem), NULL),
            NULL),
        "writing poem.txt");

  printf("the job: poem.txt -> POEM-x.txt upper-cased, then missing.txt (no "
         "such\nfile). A %d ms future_delay before each read stands for a "
         "slow disk\n(the files are cached); a timer beating every %d ms on "
         "the loop stands\nfor the rest of the program.\n\n",
         SLOW_MS, BEAT_MS);

  for (int i = 0; i < 3; i++) {
    run_t *run = &runs[i];
    run->way = (enum way)i;
    run->label = labels[i];
    run->title = titles[i];
    run->name = names[i];
    run->job.files[0].in = "poem.txt";
    snprintf(run->job.files[0].out, sizeof run->job.files[0].out, "POEM-%c.txt",
             letters[i]);
    run->job.files[1].in = "missing.txt";
    snprintf(run->job.files[1].out, sizeof run->job.files[1].out,
             "MISSING-%c.txt", letters[i]);
    ok &= run_one(&loop, &heart, run);
  }

  printf("\ntimelines, one column per %d ms: '|' a beat, '#' the job\n",
         BEAT_MS);
  for (int i = 0; i < 3; i++)
    print_timeline(&runs[i]);

  printf("\nsummary                 job  beats during  largest gap  the "
         "loop\n");
  for (int i = 0; i < 3; i++) {
    const run_t *run = &runs[i];
    size_t during = beats_during_job(run);
    printf("  %s %-12s %6.0f ms %13zu %9.0f ms  %s\n", run->label, run->name,
           ms(run->job.end - run->job.start), during, ms(largest_gap(run)),
           during > 0 ? "kept beating" : "stopped");
  }

  /* What the runs wrote. */
  printf("\n");
  for (int i = 0; i < 3; i++)
    ok &= holds_upper_poem(&loop, runs[i].job.files[0].out);
  for (int i = 0; i < 3; i++)
    ok &= absent(&loop, runs[i].job.files[1].out);
  if (ok) {
    printf("%s, %s, %s: the same, the poem upper-cased\n",
           runs[0].job.files[0].out, runs[1].job.files[0].out,
           runs[2].job.files[0].out);
    printf("%s, %s, %s: not written\n", runs[0].job.files[1].out,
           runs[1].job.files[1].out, runs[2].job.files[1].out);
  }

  /* Teardown: back where we were, the directory removed. */
  check(uv_chdir(cwd), "uv_chdir");
  check(future_wait(future_fs_rm_r(&loop, dir, 0), NULL), "removing the "
                                                          "directory");
  uv_close((uv_handle_t *)&heart, NULL);
  check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  check(future_loop_close(&loop), "future_loop_close");
  check(uv_loop_close(&loop), "uv_loop_close");
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
