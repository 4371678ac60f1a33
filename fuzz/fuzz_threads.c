/*
 * fuzz_threads.c: the fuzz harness and other threads: libuv's pool (the
 * file system requests and future_work), resolvers, helper threads.
 *
 * The pool is made deterministic, so that replaying an input does what
 * fuzzing it did. libuv runs it with one thread (UV_THREADPOOL_SIZE=1, set
 * before the first request), so requests run one at a time in the order
 * they were queued, and the harness keeps it in one of two regimes:
 *   - open (the default): after every op that queued requests and around
 *     every uv_run, the harness waits on a barrier (a request of its own,
 *     on a loop of its own, queued behind everything else) until the pool
 *     is idle. Whenever an op runs, every request has finished its work
 *     and waits for the loop to deliver it: a cancel then always meets a
 *     request that has run (the "finishes and is released" path);
 *   - plugged (OP_POOL): a request of its own blocks the pool's thread, so
 *     that every request queued meanwhile waits in the queue: a cancel
 *     then always meets a request that has not started (uv_cancel takes
 *     it back). Unplugging lets them all run, and waits on the barrier.
 * Anything that runs the loop until requests come back (future_wait on
 * the loop's thread, future_loop_close, the end of the input) unplugs
 * first. A future_work job that polls future_work_cancelled (OP_WORK)
 * runs until the next barrier releases it, and the loop's thread waits
 * until it has started: whether it sees the cancel is decided by whether
 * the input cancels it before the next barrier.
 *
 * future_work jobs allocate nothing (their error is made beforehand on the
 * loop's thread), so that the n-th allocation is the same on every run.
 */
#include "fuzz_ops.h"

#include <unistd.h>

static uv_loop_t pool_loop; /* the harness's own requests */
static uv_mutex_t pool_lock;
static uv_cond_t pool_cond;
static uv_work_t plug_req, barrier_req;
static int plugged;          /* plug_req holds (or will hold) the thread */
static int plug_open;        /* under pool_lock: the plug may go */
static atomic_uint poll_gen; /* moves at every barrier: pollers stop */
static int poller_running;   /* a poller has started since the barrier */

static void plug_work(uv_work_t *req) {
  (void)req;
  uv_mutex_lock(&pool_lock);
  while (!plug_open)
    uv_cond_wait(&pool_cond, &pool_lock);
  uv_mutex_unlock(&pool_lock);
}

static void nop_work(uv_work_t *req) { (void)req; }

static void nop_done(uv_work_t *req, int status) {
  (void)req;
  CHECK(status == 0, "a harness request on the pool ended with %d", status);
}

void pool_init(void) {
  /* Before libuv starts its pool, which happens once per process. */
  CHECK(setenv("UV_THREADPOOL_SIZE", "1", 1) == 0, "setenv");
  CHECK(uv_loop_init(&pool_loop) == 0, "uv_loop_init");
  CHECK(uv_mutex_init(&pool_lock) == 0, "uv_mutex_init");
  CHECK(uv_cond_init(&pool_cond) == 0, "uv_cond_init");
}

/* Wait until every request queued so far has run; release the pollers. */
void pool_barrier(void) {
  if (!S.pool_used || plugged)
    return;
  atomic_fetch_add(&poll_gen, 1);
  poller_running = 0;
  CHECK(uv_queue_work(&pool_loop, &barrier_req, nop_work, nop_done) == 0,
        "uv_queue_work");
  uv_run(&pool_loop, UV_RUN_DEFAULT);
}

static void pool_unplug(void) {
  if (!plugged)
    return;
  TRACE("  unplug the pool\n");
  uv_mutex_lock(&pool_lock);
  plug_open = 1;
  uv_cond_signal(&pool_cond);
  uv_mutex_unlock(&pool_lock);
  plugged = 0;
  pool_barrier(); /* also takes plug_req back */
}

static void pool_plug(void) {
  if (plugged)
    return;
  TRACE("  plug the pool\n");
  plug_open = 0;
  CHECK(uv_queue_work(&pool_loop, &plug_req, plug_work, nop_done) == 0,
        "uv_queue_work");
  plugged = 1;
}

/* Before running the loop until requests come back: nothing may hold the
 * pool's thread. */
void pool_unblock(void) {
  pool_unplug();
  pool_barrier();
}

/* OP_POOL: byte & 1: plug, or unplug. */
void op_pool(void) {
  S.pool_used = 1;
  if (next_byte() & 1)
    pool_unplug();
  else
    pool_plug();
}

/* future_work jobs. */

static uint32_t compute(uint8_t seed) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < 1000; i++) {
    h ^= (uint8_t)(seed + i);
    h *= 16777619u;
  }
  return h;
}

enum {
  JOB_VALUE,      /* computes, fulfils with a counted value */
  JOB_ERROR,      /* computes, rejects with FUTURE_EUSER(data) */
  JOB_POLL,       /* polls future_work_cancelled until released */
  JOB_NULL,       /* future_work with a NULL function: UV_EINVAL */
  JOB_TOKEN,      /* fulfils with a value that has no destructor */
  JOB_POLL_ERROR, /* polls, then rejects */
  NJOBKINDS
};

static future_error_t *job_run(void *arg, void **value) {
  job_t *j = arg;
  future_error_t *err = j->err;
  atomic_store(&j->ran, 1);
  if (j->kind == JOB_POLL || j->kind == JOB_POLL_ERROR) {
    uv_mutex_lock(&pool_lock);
    atomic_store(&j->started, 1);
    uv_cond_broadcast(&pool_cond);
    uv_mutex_unlock(&pool_lock);
    while (atomic_load(&poll_gen) == j->gen && !future_work_cancelled())
      usleep(50);
    /* Once released, the answer no longer changes: the loop's thread
     * waits on the barrier, so it cannot cancel meanwhile. */
    j->saw_cancel = future_work_cancelled();
  }
  j->result = compute(j->data);
  if (j->kind == JOB_ERROR || j->kind == JOB_POLL_ERROR ||
      (j->kind == JOB_POLL && j->saw_cancel))
    return err;
  future_error_unref(err); /* frees, and allocates nothing */
  if (j->kind == JOB_TOKEN) {
    *value = &token;
  } else {
    j->val->sum = j->result;
    j->val->alive = 1;
    S.vals_born++;
    *value = j->val;
  }
  return NULL;
}

/* OP_WORK: kind byte, dst, data byte. */
void op_work(void) {
  uint8_t kb = next_byte(), db;
  int dst = next_byte() % NSLOTS, uid;
  job_t *j;
  future_t *f;
  db = next_byte();
  if (S.njobs >= MAX_JOBS || S.nvals >= MAX_VALS)
    return;
  j = &S.jobs[S.njobs];
  memset(j, 0, sizeof(*j));
  j->kind = kb % NJOBKINDS;
  j->data = db;
  j->gen = atomic_load(&poll_gen);
  /* A value slot, alive only once the job delivers it. */
  j->val = &S.vals[S.nvals++];
  j->val->magic = VAL_MAGIC;
  j->val->alive = 0;
  j->err = future_error_new(FUTURE_EUSER(db), "fuzz work %d", S.njobs);
  S.pool_used = 1;
  TRACE("  work job %d, kind %d\n", S.njobs, j->kind);
  if (j->kind == JOB_NULL) {
    NOCB(f = future_work(&S.loop, NULL, j, val_dtor));
  } else {
    NOCB(f = future_work(&S.loop, job_run, j,
                         j->kind == JOB_TOKEN ? NULL : val_dtor));
  }
  if (f == NULL) {
    CHECK(OOM(), "future_work returned NULL");
    future_error_unref(j->err);
    return;
  }
  uid = new_uid(K_WORK);
  if (uid >= 0)
    S.meta[uid].aux = S.njobs;
  S.njobs++;
  if (j->kind == JOB_NULL) {
    future_error_unref(j->err);
    j->err = NULL;
    CHECK(future_error(f) != NULL &&
              (future_error_code(future_error(f)) == UV_EINVAL ||
               ENOMEM_OK(future_error_code(future_error(f)))),
          "future_work(NULL) did not reject with UV_EINVAL");
  } else if (j->kind == JOB_POLL || j->kind == JOB_POLL_ERROR) {
    CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
          "future_work is not pending");
    /* Wait until it runs, unless something ahead of it holds the pool
     * (then it starts only after the next barrier, which releases it). */
    if (!plugged && !poller_running && future_state(f) == FUTURE_PENDING) {
      uv_mutex_lock(&pool_lock);
      while (!atomic_load(&j->started))
        uv_cond_wait(&pool_cond, &pool_lock);
      uv_mutex_unlock(&pool_lock);
      poller_running = 1;
    }
  } else {
    CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
          "future_work is not pending");
    pool_barrier();
  }
  put(dst, f, uid);
}

/* A job's outcome, once seen. */
void work_seen(int uid, future_state_t st, void *value,
               const future_error_t *err) {
  const job_t *j = &S.jobs[S.meta[uid].aux];
  if (st == FUTURE_FULFILLED) {
    CHECK(atomic_load(&j->ran), "work fulfilled without running");
    if (j->kind == JOB_TOKEN) {
      CHECK(value == &token, "work fulfilled with another value");
    } else {
      CHECK(j->kind == JOB_VALUE || (j->kind == JOB_POLL && !j->saw_cancel),
            "work of kind %d fulfilled", j->kind);
      CHECK(value == j->val && j->val->sum == compute(j->data),
            "work fulfilled with another value");
      check_value(value);
    }
  } else {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code) ||
              (j->kind == JOB_NULL && code == UV_EINVAL) ||
              (code == FUTURE_EUSER(j->data) &&
               (j->kind == JOB_ERROR || j->kind == JOB_POLL_ERROR ||
                (j->kind == JOB_POLL && j->saw_cancel))),
          "work of kind %d rejected with %d", j->kind, code);
  }
}

/* The end of the input, with the pool idle: errors of jobs that never ran
 * (cancelled while queued) are the harness's to release. */
void work_end(void) {
  for (int i = 0; i < S.njobs; i++)
    if (S.jobs[i].err != NULL && !atomic_load(&S.jobs[i].ran))
      future_error_unref(S.jobs[i].err);
  S.njobs = 0;
}
