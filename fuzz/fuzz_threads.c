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
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>

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

/* Resolvers and helper threads.
 *
 * OP_THREADSAFE makes a future with future_new_threadsafe; OP_DELIVER
 * uses its resolver, from the loop's thread or from a helper thread. A
 * helper performs one queued action at a time, and the loop's thread
 * waits until a delivery is done before it goes on: the outcome then
 * reaches the loop at the next uv_run, on every run of the input. The
 * future must settle with what was delivered (or UV_ECANCELED, if it was
 * cancelled first). Resolvers still unused at the end are used then.
 *
 * OP_HELPER_WAIT hands a reference to a helper, which calls future_wait
 * on it (each helper waits at most once per input, and takes no more
 * actions after that): the result must agree with the future as the
 * loop's thread last saw it, and the helper releases it on its own
 * thread (FUZZ_OPS_AVOID=foreign-release hands it back to the loop's
 * thread instead). At the end, every wait must have been answered once
 * the loop has run until it has nothing left to do: a wait from another
 * thread keeps the loop alive (FUZZ_OPS_AVOID=foreign-wait looks past
 * that, today's defect).
 */

#define NHELPERS 4
#define HQ 16

enum { ACT_RESOLVE, ACT_REJECT, ACT_WAIT };

typedef struct {
  int kind;
  future_resolver_t *r;
  void *value;
  future_dtor_cb dtor;
  future_error_t *err;
  int wait;          /* ACT_WAIT: its record */
} action_t;

typedef struct {
  uv_thread_t tid;
  int running;
  uv_mutex_t lock;
  uv_cond_t cond;
  action_t q[HQ];
  unsigned head, tail, done; /* under lock */
  int quit, entered;         /* under lock */
  int rc;                    /* of the last delivery */
  int waiting;               /* the loop's thread gave it a wait */
} helper_t;

static helper_t helpers[NHELPERS];
static int helpers_ready;

typedef struct {
  future_t *f;               /* the reference handed over */
  int uid;
  future_state_t pre_st;     /* the future as the loop's thread saw it */
  void *pre_val;
  const future_error_t *pre_err;
  future_result_t kept;      /* FUZZ_OPS_AVOID=foreign-release */
  atomic_int answered;
  int status;
} wait_rec_t;

static wait_rec_t waits[NHELPERS];
static int nwaits;

typedef struct {
  future_resolver_t *r;      /* NULL once used */
  int uid;
  int delivered, rejected;
  void *value;
  int code;
} res_rec_t;

#define MAX_RES 64
static res_rec_t res[MAX_RES];
static int nres;

/* A value is alive, from any thread (the loop's thread may be adding
 * values meanwhile, so the bounds are the array's). */
static void check_value_any(const void *p) {
  const val_t *v = p;
  if (v >= S.vals && v < S.vals + MAX_VALS)
    CHECK(v->magic == VAL_MAGIC && v->alive,
          "a value is in use after its destructor ran (value %d)",
          (int)(v - S.vals));
}

static void helper_wait(wait_rec_t *w) {
  future_result_t r;
  int rc = future_wait(w->f, &r);
  CHECK(rc == r.status, "future_wait from a helper returned %d, status %d",
        rc, r.status);
  CHECK(rc <= 0 && rc != FUTURE_EINCALLBACK,
        "future_wait from a helper returned %d", rc);
  if (rc == 0) {
    CHECK(r.error == NULL, "future_wait: status 0 with an error");
    check_value_any(r.value);
  } else {
    CHECK(r.error != NULL && future_error_code(r.error) == rc,
          "future_wait: status %d without its error", rc);
  }
  if (w->pre_st == FUTURE_FULFILLED)
    CHECK((rc == 0 && r.value == w->pre_val) || ENOMEM_OK(rc),
          "future_wait from a helper on a fulfilled future returned %d", rc);
  else if (w->pre_st == FUTURE_REJECTED)
    CHECK(r.error == w->pre_err || ENOMEM_OK(rc),
          "future_wait from a helper on a rejected future returned another "
          "error");
  w->status = rc;
  if (S.avoid & AVOID_FOREIGN_RELEASE)
    w->kept = r;
  else
    future_result_release(&r);
  atomic_store(&w->answered, 1);
}

static void helper_main(void *arg) {
  helper_t *h = arg;
  for (;;) {
    action_t a;
    uv_mutex_lock(&h->lock);
    while (h->head == h->tail && !h->quit)
      uv_cond_wait(&h->cond, &h->lock);
    if (h->head == h->tail) {
      uv_mutex_unlock(&h->lock);
      return;
    }
    a = h->q[h->head % HQ];
    if (a.kind == ACT_WAIT) {
      h->entered = 1;
      uv_cond_broadcast(&h->cond);
    }
    uv_mutex_unlock(&h->lock);
    switch (a.kind) {
    case ACT_RESOLVE:
      h->rc = future_resolver_resolve(a.r, a.value, a.dtor);
      break;
    case ACT_REJECT:
      h->rc = future_resolver_reject(a.r, a.err);
      break;
    default:
      helper_wait(&waits[a.wait]);
      break;
    }
    uv_mutex_lock(&h->lock);
    h->head++;
    h->done++;
    uv_cond_broadcast(&h->cond);
    uv_mutex_unlock(&h->lock);
  }
}

static helper_t *helper_get(int i) {
  helper_t *h = &helpers[i];
  if (!helpers_ready) {
    for (int k = 0; k < NHELPERS; k++) {
      CHECK(uv_mutex_init(&helpers[k].lock) == 0, "uv_mutex_init");
      CHECK(uv_cond_init(&helpers[k].cond) == 0, "uv_cond_init");
    }
    helpers_ready = 1;
  }
  if (!h->running) {
    h->head = h->tail = h->done = 0;
    h->quit = h->entered = h->waiting = 0;
    CHECK(uv_thread_create(&h->tid, helper_main, h) == 0,
          "uv_thread_create");
    h->running = 1;
  }
  return h;
}

/* Queue an action; for a delivery, wait until it is done. */
static void helper_post(helper_t *h, const action_t *a) {
  unsigned ticket;
  uv_mutex_lock(&h->lock);
  CHECK(h->tail - h->head < HQ, "a helper's queue is full");
  h->q[h->tail % HQ] = *a;
  ticket = ++h->tail;
  uv_cond_broadcast(&h->cond);
  if (a->kind == ACT_WAIT) {
    while (!h->entered)
      uv_cond_wait(&h->cond, &h->lock);
    /* It posts its wait right after it says so, then sleeps: let it, so
     * that whatever the input does next finds the wait posted. */
    uv_mutex_unlock(&h->lock);
    usleep(1000);
    uv_mutex_lock(&h->lock);
  } else {
    while (h->done < ticket)
      uv_cond_wait(&h->cond, &h->lock);
  }
  uv_mutex_unlock(&h->lock);
}

int resolvers_outstanding(void) {
  for (int i = 0; i < nres; i++)
    if (res[i].r != NULL)
      return 1;
  return 0;
}

int helper_waits_issued(void) { return nwaits > 0; }

/* A connect or accept made in this input (OP_NET, below): its stream may
 * be the value of any future that passed it on. */
static int net_streams_made;

/* Whether a helper's future_result_t may hold a stream (the value of a
 * connect or an accept): a stream held, so future_loop_close answers
 * UV_EBUSY, with no future live, until the loop's thread takes in the
 * release the helper posted (or, with FUZZ_OPS_AVOID=foreign-release,
 * until the end releases what the helpers kept). */
int streams_in_results(void) { return nwaits > 0 && net_streams_made; }

/* OP_THREADSAFE: dst. */
void op_threadsafe(void) {
  int dst = next_byte() % NSLOTS, uid;
  future_resolver_t *r = (future_resolver_t *)&r; /* must become NULL */
  future_t *f;
  if (nres >= MAX_RES)
    return;
  NOCB(f = future_new_threadsafe(&S.loop, &r));
  if (f == NULL) {
    CHECK(OOM() && r == NULL, "future_new_threadsafe failed");
    return;
  }
  CHECK(r != NULL && future_state(f) == FUTURE_PENDING,
        "future_new_threadsafe gave no resolver, or a settled future");
  uid = new_uid(K_THREADSAFE);
  if (uid >= 0)
    S.meta[uid].aux = nres;
  memset(&res[nres], 0, sizeof(res[nres]));
  res[nres].r = r;
  res[nres].uid = uid;
  TRACE("  resolver %d\n", nres);
  nres++;
  put(dst, f, uid);
}

static void deliver(res_rec_t *rr, int how, uint8_t vb) {
  helper_t *h = NULL;
  action_t a;
  int rc, from = (how >> 2) % NHELPERS;
  memset(&a, 0, sizeof(a));
  a.r = rr->r;
  rr->r = NULL;
  rr->delivered = 1;
  if (how & 2) {
    /* From a helper, unless it is given to a wait. */
    h = helper_get(from);
    if (h->waiting)
      h = NULL;
  }
  if (how & 1) {
    a.kind = ACT_REJECT;
    a.err = make_error(vb);
    rr->rejected = 1;
    rr->code = a.err != NULL ? future_error_code(a.err) : UV_EINVAL;
  } else {
    a.kind = ACT_RESOLVE;
    make_value(vb, &a.value, &a.dtor);
    rr->value = a.value;
  }
  TRACE("  deliver resolver %d (%s) from %s\n", (int)(rr - res),
        (how & 1) ? "reject" : "resolve", h != NULL ? "a helper" : "the loop");
  if (h != NULL) {
    helper_post(h, &a);
    rc = h->rc;
  } else if (a.kind == ACT_REJECT) {
    rc = future_resolver_reject(a.r, a.err);
  } else {
    rc = future_resolver_resolve(a.r, a.value, a.dtor);
  }
  CHECK(rc == 0, "delivering through a resolver returned %d", rc);
}

/* OP_DELIVER: resolver byte, how byte (bit 0 reject, bit 1 from a helper,
 * the rest which helper), value or error byte. */
void op_deliver(void) {
  uint8_t rb = next_byte(), how = next_byte(), vb = next_byte();
  if (nres == 0 || res[rb % nres].r == NULL)
    return;
  deliver(&res[rb % nres], how, vb);
}

/* A threadsafe future's outcome, once seen. */
void resolver_seen(int uid, future_state_t st, void *value,
                   const future_error_t *err) {
  const res_rec_t *rr = &res[S.meta[uid].aux];
  if (st == FUTURE_FULFILLED) {
    CHECK(rr->delivered && !rr->rejected && value == rr->value,
          "a threadsafe future fulfilled with what was not delivered");
  } else {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code) ||
              (rr->delivered && rr->rejected && code == rr->code),
          "a threadsafe future rejected with %d, which was not delivered",
          code);
  }
}

/* OP_HELPER_WAIT: helper byte, source byte. */
void op_helper_wait(void) {
  uint8_t hb = next_byte(), sb = next_byte();
  slot_t *s = &S.pool[sb % NSLOTS];
  helper_t *h;
  wait_rec_t *w;
  action_t a;
  if (s->f == NULL || nwaits >= NHELPERS)
    return;
  h = helper_get(hb % NHELPERS);
  if (h->waiting)
    return;
  h->waiting = 1;
  w = &waits[nwaits];
  memset(w, 0, sizeof(*w));
  w->uid = s->uid;
  w->pre_st = future_state(s->f);
  w->pre_val = future_value(s->f);
  w->pre_err = future_error(s->f);
  w->f = take(sb);
  memset(&a, 0, sizeof(a));
  a.kind = ACT_WAIT;
  a.wait = nwaits++;
  TRACE("  helper %d waits on future %d\n", hb % NHELPERS, w->uid);
  helper_post(h, &a);
}

/* Run the loop for one turn even if nothing keeps it alive, so that what
 * other threads posted is taken in. */
static void poke_closed(uv_handle_t *h) { *(int *)h->data = 1; }

static void poke_cb(uv_timer_t *t) { uv_close((uv_handle_t *)t, poke_closed); }

static void poke_loop(void) {
  uv_timer_t t;
  int closed = 0;
  if (S.walked) {
    /* After the walk, only teardown (or a wait) takes posts in. */
    op_loop_close();
    return;
  }
  CHECK(uv_timer_init(&S.loop, &t) == 0, "uv_timer_init");
  t.data = &closed;
  CHECK(uv_timer_start(&t, poke_cb, 0, 0) == 0, "uv_timer_start");
  while (!closed)
    uv_run(&S.loop, UV_RUN_ONCE);
}

/* The end, before the loop's last run: every resolver is used. A wait
 * from another thread is answered by the loop's thread, which must be
 * running the loop meanwhile (the header's contract): a wait posted after
 * the loop's thread has left uv_run for good cannot be taken in by
 * anyone. The loop's last run answers the waits posted before it (a wait
 * taken in keeps the loop alive); threads_end then keeps running the loop
 * for the helpers still on their way to posting theirs, as a program
 * that waits from other threads must. (Whether a wait posted before the
 * loop's thread settles or drops its future is taken in, whatever keeps
 * the loop alive, is pinned by test/check_wait.c, deterministically.) */
void threads_finish(void) {
  for (int i = 0; i < nres; i++)
    if (res[i].r != NULL)
      deliver(&res[i], 0, 1);
  if (nwaits > 0 && (S.avoid & AVOID_FOREIGN_WAIT))
    poke_loop();
}

/* Whether a helper has a wait that is not answered yet. */
static int helper_busy(helper_t *h) {
  int busy;
  uv_mutex_lock(&h->lock);
  busy = h->done < h->tail;
  uv_mutex_unlock(&h->lock);
  return busy;
}

/* The end, once the loop has run dry: every wait has been answered. */
void threads_end(void) {
  for (int i = 0; i < NHELPERS; i++) {
    helper_t *h = &helpers[i];
    uint64_t deadline = uv_hrtime() + 2000000000ull;
    if (!h->running)
      continue;
    uv_mutex_lock(&h->lock);
    h->quit = 1;
    uv_cond_broadcast(&h->cond);
    uv_mutex_unlock(&h->lock);
    while (helper_busy(h) && uv_hrtime() < deadline) {
      poke_loop(); /* the loop's thread runs the loop while others wait */
      usleep(1000);
    }
    CHECK(!helper_busy(h),
          "a future_wait from another thread was never answered, though "
          "the loop's thread kept running the loop for 2 s");
    uv_thread_join(&h->tid);
    h->running = 0;
  }
  for (int i = 0; i < nwaits; i++) {
    CHECK(atomic_load(&waits[i].answered), "a helper's wait did not return");
    NOCB(future_result_release(&waits[i].kept));
  }
  /* What a release on another thread may have posted is taken in. */
  if (nwaits > 0)
    poke_loop();
  nwaits = nres = 0;
  net_streams_made = 0;
}

/* Name resolution and random bytes (include/future/dns.h), without a
 * network: sub % 4: 0 getaddrinfo of 127.0.0.1 port (sub >> 2), numeric;
 * 1 getaddrinfo of a name that AI_NUMERICHOST refuses (EAI_NONAME);
 * 2 getnameinfo of 127.0.0.1 port (sub >> 2), numeric; 3 future_random of
 * (sub >> 2) bytes. Like work, each is one request on libuv's pool, which
 * the barrier lets run; a cancel may meet it queued (the pool plugged). */
void op_dns(void) {
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  int what = sub % 4, n = sub >> 2;
  struct addrinfo hints;
  struct sockaddr_in in;
  char port[16];
  future_t *f = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  snprintf(port, sizeof port, "%d", n);
  S.pool_used = 1;
  TRACE("  dns %d, %d\n", what, n);
  switch (what) {
  case 0:
    NOCB(f = future_dns_getaddrinfo(&S.loop, "127.0.0.1", port, &hints));
    break;
  case 1:
    NOCB(f = future_dns_getaddrinfo(&S.loop, "not-a-number", NULL, &hints));
    break;
  case 2:
    uv_ip4_addr("127.0.0.1", n, &in);
    NOCB(f = future_dns_getnameinfo(&S.loop, (struct sockaddr *)&in,
                                    NI_NUMERICHOST | NI_NUMERICSERV));
    break;
  default:
    NOCB(f = future_random(&S.loop, (size_t)n));
    break;
  }
  if (f == NULL) {
    CHECK(OOM(), "a dns request returned NULL");
    return;
  }
  CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
        "a dns request is not pending");
  uid = new_uid(K_DNS);
  if (uid >= 0)
    S.meta[uid].aux = sub;
  pool_barrier();
  put(dst, f, uid);
}

void dns_seen(int uid, future_state_t st, void *value,
              const future_error_t *err) {
  int what = S.meta[uid].aux % 4, n = S.meta[uid].aux >> 2;
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code) ||
              (what == 1 && code == UV_EAI_NONAME),
          "dns request %d rejected with %s", what, future_err_name(code));
    return;
  }
  switch (what) {
  case 0: {
    const struct addrinfo *ai = value;
    const struct sockaddr_in *in = (const struct sockaddr_in *)ai->ai_addr;
    CHECK(ai->ai_family == AF_INET && ntohs(in->sin_port) == n &&
              ntohl(in->sin_addr.s_addr) == 0x7f000001u,
          "getaddrinfo of 127.0.0.1 port %d gave another address", n);
    break;
  }
  case 1:
    FAIL("getaddrinfo of a name with AI_NUMERICHOST fulfilled");
    break;
  case 2: {
    const future_dns_name_t *name = value;
    char port[16];
    snprintf(port, sizeof port, "%d", n);
    CHECK(strcmp(name->host, "127.0.0.1") == 0 &&
              strcmp(name->service, port) == 0,
          "getnameinfo of 127.0.0.1:%d gave %s:%s", n, name->host,
          name->service);
    break;
  }
  default: {
    const future_buf_t *b = value;
    CHECK(b->len == (size_t)n && b->base[n] == '\0',
          "future_random(%d) gave %zu bytes", n, b->len);
    break;
  }
  }
}

/* Signals (include/future/signal.h) and file watches (watch.h), whose
 * pending futures keep the loop alive: the harness keeps a reference to
 * each, to cancel it at the end (signals_finish).
 *
 * Signals: sub bit 0 picks SIGUSR1 or SIGUSR2;
 * bit 1 sends it to the process at once, while the new future's watcher
 * exists (without a watcher, these signals would end the process). The
 * harness keeps a reference to each to cancel it at the end: a pending
 * one keeps the loop alive. */
#define MAX_SIGNALS 64
static future_t *signals[MAX_SIGNALS];
static int nsignals;

/* A signal sent to the process is delivered when the system gets to it:
 * under valgrind, after the op may have cancelled the only watcher, and
 * SIGUSR1 and SIGUSR2 would then end the process. Watchers of the
 * harness's own, on a loop of their own, keep both caught for the whole
 * run; that loop is run now and then so that its signal pipe never
 * fills. */
static uv_loop_t guard_loop;
static uv_signal_t guards[2];
static int guarded;

static void ignore_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
}

static void guard_signals(void) {
  if (guarded) {
    uv_run(&guard_loop, UV_RUN_NOWAIT);
    return;
  }
  CHECK(uv_loop_init(&guard_loop) == 0, "uv_loop_init");
  CHECK(uv_signal_init(&guard_loop, &guards[0]) == 0 &&
            uv_signal_init(&guard_loop, &guards[1]) == 0 &&
            uv_signal_start(&guards[0], ignore_signal, SIGUSR1) == 0 &&
            uv_signal_start(&guards[1], ignore_signal, SIGUSR2) == 0,
        "guarding SIGUSR1 and SIGUSR2");
  guarded = 1;
}

void op_signal(void) {
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  int signum = (sub & 1) ? SIGUSR2 : SIGUSR1;
  future_t *f;
  if (nsignals >= MAX_SIGNALS)
    return;
  guard_signals();
  TRACE("  signal %s%s\n", (sub & 1) ? "SIGUSR2" : "SIGUSR1",
        (sub & 2) ? ", sent" : "");
  NOCB(f = future_signal(&S.loop, signum));
  if (f == NULL) {
    CHECK(OOM(), "future_signal returned NULL");
    return;
  }
  CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
        "future_signal is not pending");
  if ((sub & 2) && future_state(f) == FUTURE_PENDING)
    CHECK(uv_kill(getpid(), signum) == 0, "uv_kill");
  uid = new_uid(K_SIGNAL);
  if (uid >= 0)
    S.meta[uid].aux = signum;
  NOCB(signals[nsignals++] = future_ref(f));
  put(dst, f, uid);
}

void signal_seen(int uid, future_state_t st, void *value,
                 const future_error_t *err) {
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code),
          "future_signal rejected with %s", future_err_name(code));
    return;
  }
  CHECK((intptr_t)value == S.meta[uid].aux,
        "future_signal(%d) fulfilled with %ld", S.meta[uid].aux,
        (long)(intptr_t)value);
}

static void streams_finish(void);

void signals_finish(void) {
  if (guarded)
    uv_run(&guard_loop, UV_RUN_NOWAIT);
  for (int i = 0; i < nsignals; i++) {
    if (future_state(signals[i]) == FUTURE_PENDING)
      NOCB(future_cancel(signals[i]));
    NOCB(future_unref(signals[i]));
  }
  nsignals = 0;
  streams_finish();
}

/* File watches (include/future/watch.h) in the input's scratch directory:
 * sub bit 0: future_fs_watch of the directory, else future_fs_watch_file
 * of its file "w" every 1 ms; bit 1: write "w" at once (a change for
 * either). */
void op_watch(void) {
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  char path[4096];
  future_t *f;
  if (nsignals >= MAX_SIGNALS)
    return;
  scratch_path(path, "w");
  TRACE("  watch %s%s\n", (sub & 1) ? "the directory" : "the file w",
        (sub & 2) ? ", then write w" : "");
  if (sub & 1)
    NOCB(f = future_fs_watch(&S.loop, scratch_root(), 0));
  else
    NOCB(f = future_fs_watch_file(&S.loop, path, 1));
  if (f == NULL) {
    CHECK(OOM(), "a watch returned NULL");
    return;
  }
  CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
        "a watch is not pending");
  if (sub & 2) {
    FILE *w = fopen(path, "a");
    CHECK(w != NULL, "writing %s", path);
    fputs("x", w);
    fclose(w);
  }
  uid = new_uid(K_WATCH);
  if (uid >= 0)
    S.meta[uid].aux = sub & 1;
  NOCB(signals[nsignals++] = future_ref(f));
  put(dst, f, uid);
}

void watch_seen(int uid, future_state_t st, void *value,
                const future_error_t *err) {
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code),
          "a watch rejected with %s", future_err_name(code));
    return;
  }
  if (S.meta[uid].aux) {
    const future_fs_change_t *c = value;
    CHECK(c->name != NULL && (c->events & (UV_RENAME | UV_CHANGE)) != 0,
          "a directory watch fulfilled with events %d", c->events);
  } else {
    const future_fs_stat_change_t *c = value;
    CHECK(c->curr.st_size != c->prev.st_size ||
              c->curr.st_mtim.tv_nsec != c->prev.st_mtim.tv_nsec ||
              c->curr.st_mtim.tv_sec != c->prev.st_mtim.tv_sec ||
              c->curr.st_ctim.tv_nsec != c->prev.st_ctim.tv_nsec ||
              c->curr.st_ino != c->prev.st_ino,
          "a file watch fulfilled with no change");
  }
}

/* Streams: a socketpair, both ends opened as pipe streams (no loop turn
 * needed to connect), kept by the harness between ops. sub % 4: 0 write
 * "abc\n" (given, freed by the write), 1 read a line, 2 read a chunk, 3
 * close the end; sub bit 2 picks the end. A missing end (closed) makes the
 * next op start a new pair. Reads may never settle: they are listed with
 * the signals, so that the harness's wait refuses while one is pending,
 * and signals_finish cancels them and lets the streams go. */
static future_stream_t *ends[2];
static future_stream_t *listener; /* OP_NET's, below */

int streams_held(void) {
  return ends[0] != NULL || ends[1] != NULL || listener != NULL;
}

static void net_finish(void);

static void ends_release(void) {
  NOCB(future_stream_unref(ends[0]));
  NOCB(future_stream_unref(ends[1]));
  ends[0] = ends[1] = NULL;
}

static void streams_finish(void) {
  ends_release();
  net_finish();
}

static int stream_pair(void) {
  int sv[2], rc;
  if (ends[0] != NULL && ends[1] != NULL)
    return 1;
  ends_release();
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
  NOCB(rc = future_stream_open(&S.loop, FUTURE_STREAM_PIPE, sv[0], &ends[0]));
  if (rc == 0)
    NOCB(rc = future_stream_open(&S.loop, FUTURE_STREAM_PIPE, sv[1],
                                 &ends[1]));
  else
    close(sv[0]);
  if (rc != 0) {
    CHECK(OOM() && rc == UV_ENOMEM, "future_stream_open returned %d", rc);
    close(sv[1]);
    ends_release();
    return 0;
  }
  return 1;
}

void op_stream(void) {
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, uid, end = (sub >> 2) & 1;
  future_stream_t *s;
  future_t *f = NULL;
  char *bytes;
  int alt;
  if (nsignals >= MAX_SIGNALS || !stream_pair())
    return;
  s = ends[end];
  /* Bit 3 picks the other call of each kind: a borrowed write or a
   * writev, read exactly 2 bytes, read to the end, a shutdown. */
  alt = (sub >> 3) & 1;
  TRACE("  stream %s on end %d\n",
        (const char *[]){"write", "read a line", "read", "close", "borrowed write",
                         "read exactly 2", "read to EOF",
                         "shutdown"}[sub % 4 + 4 * alt],
        end);
  switch (sub % 4 + 4 * alt) {
  case 0:
    bytes = malloc(4);
    CHECK(bytes != NULL, "malloc");
    memcpy(bytes, "abc\n", 4);
    NOCB(f = future_stream_write_given(s, bytes, 4, free));
    break;
  case 4: {
    /* Borrowed: static bytes outlive the write. */
    static const uv_buf_t two[2] = {{(char *)"ab", 2}, {(char *)"c\n", 2}};
    if (sub & 0x10)
      NOCB(f = future_stream_write(s, "abc\n", 4));
    else
      NOCB(f = future_stream_writev(s, two, 2));
    break;
  }
  case 1:
    NOCB(f = future_stream_read_until(s, "\n", 1, 64));
    break;
  case 5:
    NOCB(f = future_stream_read_exactly(s, 2));
    break;
  case 2:
    NOCB(f = future_stream_read(s));
    break;
  case 6:
    NOCB(f = future_stream_read_to_eof(s, 1 << 16));
    break;
  case 7:
    NOCB(f = future_stream_shutdown(s));
    break;
  default:
    NOCB(f = future_stream_close(s));
    NOCB(future_stream_unref(s));
    ends[end] = NULL;
    break;
  }
  if (f == NULL) {
    CHECK(OOM(), "a stream op returned NULL");
    return;
  }
  uid = new_uid(K_STREAM);
  if (uid >= 0)
    S.meta[uid].aux = sub % 4 + 4 * alt;
  NOCB(signals[nsignals++] = future_ref(f));
  put(dst, f, uid);
}

void stream_seen(int uid, future_state_t st, void *value,
                 const future_error_t *err) {
  int op = S.meta[uid].aux;
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    /* A closed end: ECANCELED (closed while pending), EBADF (closed
     * before), EOF or a reset or broken pipe (the other end closed);
     * EBUSY for a second read. */
    CHECK(code == UV_ECANCELED || code == UV_EBADF || code == UV_EOF ||
              code == UV_ECONNRESET || code == UV_EPIPE ||
              (op != 0 && op != 4 && code == UV_EBUSY) ||
              (op == 7 && code == UV_ENOTCONN) || ENOMEM_OK(code),
          "a stream op rejected with %s", future_err_name(code));
    return;
  }
  if (op == 1 || op == 2 || op == 5 || op == 6) {
    const future_buf_t *b = value;
    size_t i;
    CHECK(b->base[b->len] == '\0', "a read not NUL-terminated");
    CHECK(op == 6 || b->len > 0, "a read fulfilled empty");
    CHECK(op != 5 || b->len == 2, "read exactly 2 gave %zu", b->len);
    CHECK(op != 1 || b->base[b->len - 1] == '\n', "a line without its end");
    for (i = 0; i < b->len; i++)
      CHECK(memchr("abc\n", b->base[i], 4) != NULL,
            "a read of bytes never sent");
  } else {
    CHECK(value == NULL, "a write, shutdown or close fulfilled with a value");
  }
}

/* TCP and pipe connections (OP_NET): a listener the harness keeps between
 * ops (TCP on 127.0.0.1 port 0, or a pipe ROOT/netN in the input's
 * scratch directory, by bit 3 of the byte that makes it), and per op, by
 * sub % 8:
 *   0 future_stream_accept on it;
 *   1 connect to it (future_tcp_connect by port, or with bit 4
 *     future_tcp_connect_addr; future_pipe_connect by name);
 *   2 connect to what refuses: a TCP port held by a socket of the
 *     harness's that is bound and never listens (UV_ECONNREFUSED), a pipe
 *     name that does not exist (UV_ENOENT); the error names the peer;
 *   3 future_stream_close of the listener, which the harness keeps (later
 *     accepts reject with UV_EBADF, connects are refused), or with bit 4
 *     releases at once (the next op listens anew); a pending accept
 *     rejects with UV_ECANCELED at once, either way;
 *   4 bad arguments, by bit 4-5: a name for an address, an address that
 *     is no IP address (bit 6: NULL), a NULL pipe name (bit 6: port
 *     65536), an accept on a stream that does not listen (an end of
 *     OP_STREAM's pair): each rejects with UV_EINVAL at once; also the
 *     calls with a NULL loop, stream or out, which return NULL or
 *     UV_EINVAL, and the accessors of NULL;
 *   5 an accept into dst and a connect into dst + 1;
 *   6 the listener's accessors, and listening again on its address
 *     (UV_EADDRINUSE);
 *   7 release the listener and listen anew, of the kind bit 3 picks.
 * Bit 5 cancels the new future at once: a pending one must then reject
 * with UV_ECANCELED. A stream a connect or an accept fulfils with is
 * checked when the harness sees it: its kind, its peer (what the connect
 * named; for an accept over TCP the client's 127.0.0.1 address, over a
 * pipe the listener's name), its port (the listener's for an accept, some
 * port for a connect; UV_EINVAL for a pipe; UV_EBADF only after a walk),
 * nothing buffered, its handle's type. The futures are kept with the
 * signals, so that future_wait refuses while one is pending (an accept
 * may never settle) and the end cancels them. */
enum {
  NET_ACCEPT,
  NET_CONNECT,
  NET_REFUSED,
  NET_CLOSE,
  NET_BAD,
  NET_PAIR,
  NET_LOOK,
  NET_RELISTEN
};

typedef struct {
  int action;      /* NET_ACCEPT, NET_CONNECT, NET_REFUSED, NET_CLOSE or
                      NET_BAD */
  future_stream_kind_t kind; /* of the stream it fulfils with */
  int port;        /* TCP: the listener's port */
  unsigned gen;    /* the listener's generation at the call */
  int open;        /* a connect: the listener was open then */
  char peer[PATH_MAX + 3]; /* what its stream or its error names */
  future_t *f;     /* borrowed (the signals hold it), or NULL */
} net_rec_t;

static net_rec_t nets[MAX_SIGNALS];
static int nnets;
static future_stream_kind_t listener_kind;
static int listener_port, listener_closed;
static unsigned listener_gen; /* moves whenever the listener closes or goes */
static char listener_name[PATH_MAX], listener_peer[PATH_MAX + 3];
static future_t *last_accept; /* borrowed: the signals hold it */
static unsigned pipe_names;   /* pipe listeners made in this input */
static int refuser = -1, refuser_port;

static void net_finish(void) {
  NOCB(future_stream_unref(listener));
  listener = NULL;
  listener_gen++;
  last_accept = NULL;
  nnets = 0; /* the records stay readable until the next input's ops */
  pipe_names = 0;
  if (refuser >= 0)
    close(refuser);
  refuser = -1;
}

/* The listener's accessors agree with how it was made. */
static void check_listener(void) {
  const char *peer = future_stream_peer(listener);
  int port = future_stream_port(listener);
  uv_stream_t *h = future_stream_handle(listener);
  CHECK(future_stream_kind(listener) == listener_kind,
        "a listener of kind %d says %d", (int)listener_kind,
        (int)future_stream_kind(listener));
  CHECK(strcmp(peer, listener_peer) == 0, "a listener's peer is '%s', not %s",
        peer, listener_peer);
  if (listener_kind != FUTURE_STREAM_TCP)
    CHECK(port == UV_EINVAL, "a pipe listener's port is %d", port);
  else if (listener_closed || S.walked)
    CHECK(port == UV_EBADF || (!listener_closed && port == listener_port),
          "a closed listener's port is %d", port);
  else
    CHECK(port == listener_port, "a listener's port is %d, not %d", port,
          listener_port);
  CHECK(future_stream_buffered(listener) == 0, "a listener has %zu bytes",
        future_stream_buffered(listener));
  CHECK(h != NULL && h->type == (listener_kind == FUTURE_STREAM_TCP
                                     ? UV_TCP
                                     : UV_NAMED_PIPE),
        "a listener's handle is of type %d", h != NULL ? (int)h->type : -1);
}

/* Make the listener if there is none; 0 if that failed (memory). */
static int net_listen(int pipe) {
  future_stream_t *l = (future_stream_t *)&token; /* must become NULL */
  int rc;
  if (listener != NULL)
    return 1;
  if (pipe) {
    char rel[32];
    snprintf(rel, sizeof rel, "net%u", pipe_names++);
    scratch_path(listener_name, rel);
    /* A Unix socket's name fits in 108 bytes; libuv 1.44 cuts it short. */
    pipe = strlen(listener_name) < 100;
  }
  if (pipe)
    NOCB(rc = future_pipe_listen(&S.loop, listener_name, 128, &l));
  else
    NOCB(rc = future_tcp_listen(&S.loop, "127.0.0.1", 0, 128, &l));
  if (rc != 0) {
    CHECK(OOM() && rc == UV_ENOMEM, "listening on %s failed: %s",
          pipe ? listener_name : "127.0.0.1", future_err_name(rc));
    CHECK(l == NULL, "a listen failed, but gave a stream");
    return 0;
  }
  CHECK(l != NULL, "a listen succeeded without a stream");
  S.loop_state = 1;
  listener = l;
  listener_gen++;
  listener_closed = 0;
  listener_kind = pipe ? FUTURE_STREAM_PIPE : FUTURE_STREAM_TCP;
  if (pipe) {
    listener_port = 0;
    snprintf(listener_peer, sizeof listener_peer, "'%s'", listener_name);
  } else {
    listener_port = future_stream_port(l);
    CHECK(listener_port > 0, "a TCP listener on port %d", listener_port);
    snprintf(listener_peer, sizeof listener_peer, "127.0.0.1:%d",
             listener_port);
  }
  TRACE("  listening on %s\n", listener_peer);
  check_listener();
  return 1;
}

/* A TCP port that refuses: a socket bound to it that never listens. */
static int refusing_port(void) {
  struct sockaddr_in a;
  socklen_t n = sizeof a;
  if (refuser >= 0)
    return refuser_port;
  refuser = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(refuser >= 0, "socket");
  CHECK(uv_ip4_addr("127.0.0.1", 0, &a) == 0 &&
            bind(refuser, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(refuser, (struct sockaddr *)&a, &n) == 0,
        "binding a socket to 127.0.0.1");
  refuser_port = ntohs(a.sin_port);
  return refuser_port;
}

/* Whether the last accept is pending: if so, it must reject with
 * UV_ECANCELED as soon as its listener closes. */
static int accept_pending(void) {
  return last_accept != NULL && future_state(last_accept) == FUTURE_PENDING;
}

static void check_accept_cancelled(int was_pending) {
  int code;
  if (!was_pending)
    return;
  CHECK(future_state(last_accept) == FUTURE_REJECTED,
        "an accept is still pending after its listener closed");
  code = future_error_code(future_error(last_accept));
  CHECK(code == UV_ECANCELED || ENOMEM_OK(code),
        "an accept rejected with %s when its listener closed",
        future_err_name(code));
  last_accept = NULL;
}

static void net_release(void) {
  int pending = accept_pending();
  if (listener == NULL)
    return;
  TRACE("  release the listener %s\n", listener_peer);
  NOCB(future_stream_unref(listener));
  listener = NULL;
  listener_gen++;
  check_accept_cancelled(pending);
}

/* Calls that refuse at once, whose outcome needs no future. */
static void net_edges(void) {
  future_stream_t *l = (future_stream_t *)&token;
  future_t *f;
  int rc;
  NOCB(f = future_stream_accept(NULL));
  CHECK(f == NULL, "future_stream_accept(NULL) gave a future");
  NOCB(f = future_tcp_connect(NULL, "127.0.0.1", 1));
  CHECK(f == NULL, "future_tcp_connect(NULL loop) gave a future");
  NOCB(f = future_tcp_connect_addr(NULL, NULL));
  CHECK(f == NULL, "future_tcp_connect_addr(NULL loop) gave a future");
  NOCB(f = future_pipe_connect(NULL, "x"));
  CHECK(f == NULL, "future_pipe_connect(NULL loop) gave a future");
  NOCB(rc = future_tcp_listen(NULL, "127.0.0.1", 0, 1, &l));
  CHECK(rc == UV_EINVAL && l == NULL, "future_tcp_listen(NULL loop): %s",
        future_err_name(rc));
  l = (future_stream_t *)&token;
  NOCB(rc = future_tcp_listen(&S.loop, "localhost", 0, 1, &l));
  CHECK((rc == UV_EINVAL || ENOMEM_OK(rc)) && l == NULL,
        "future_tcp_listen of a name: %s", future_err_name(rc));
  l = (future_stream_t *)&token;
  NOCB(rc = future_tcp_listen(&S.loop, "127.0.0.1", 65536, 1, &l));
  CHECK((rc == UV_EINVAL || ENOMEM_OK(rc)) && l == NULL,
        "future_tcp_listen on port 65536: %s", future_err_name(rc));
  NOCB(rc = future_tcp_listen(&S.loop, "127.0.0.1", 0, 1, NULL));
  CHECK(rc == UV_EINVAL, "future_tcp_listen(NULL out): %s",
        future_err_name(rc));
  l = (future_stream_t *)&token;
  NOCB(rc = future_pipe_listen(&S.loop, NULL, 1, &l));
  CHECK(rc == UV_EINVAL && l == NULL, "future_pipe_listen(NULL name): %s",
        future_err_name(rc));
  CHECK(strcmp(future_stream_peer(NULL), "") == 0 &&
            future_stream_port(NULL) == UV_EINVAL &&
            future_stream_kind(NULL) == 0 &&
            future_stream_buffered(NULL) == 0 &&
            future_stream_handle(NULL) == NULL,
        "the accessors of a NULL stream");
}

/* Listen again on the listener's own address: UV_EADDRINUSE. */
static void net_listen_again(void) {
  future_stream_t *l = (future_stream_t *)&token;
  int rc;
  if (listener == NULL || listener_closed)
    return;
  if (listener_kind == FUTURE_STREAM_TCP)
    NOCB(rc = future_tcp_listen(&S.loop, "127.0.0.1", listener_port, 1, &l));
  else
    NOCB(rc = future_pipe_listen(&S.loop, listener_name, 1, &l));
  CHECK((rc == UV_EADDRINUSE || ENOMEM_OK(rc)) && l == NULL,
        "listening again on %s: %s", listener_peer, future_err_name(rc));
}

static future_t *net_accept(net_rec_t *r) {
  future_t *f;
  int busy = last_accept != NULL &&
             future_state(last_accept) == FUTURE_PENDING;
  r->action = NET_ACCEPT;
  r->kind = listener_kind;
  net_streams_made = 1;
  r->port = listener_port;
  snprintf(r->peer, sizeof r->peer, "%s", listener_peer);
  NOCB(f = future_stream_accept(listener));
  if (f == NULL) {
    CHECK(OOM(), "future_stream_accept returned NULL");
    return NULL;
  }
  if (!ENOMEM_FUTURE(f)) {
    int code = future_error(f) != NULL ? future_error_code(future_error(f))
                                       : 0;
    /* What it must answer at once: a closed listener, one pending. */
    if (listener_closed)
      CHECK(code == UV_EBADF, "an accept on a closed listener: %s",
            future_err_name(code));
    else if (busy)
      CHECK(code == UV_EBUSY, "a second accept: %s", future_err_name(code));
    else
      CHECK(future_state(f) != FUTURE_REJECTED,
            "an accept rejected at once with %s", future_err_name(code));
  }
  if (future_state(f) == FUTURE_PENDING)
    last_accept = f;
  return f;
}

static future_t *net_connect(net_rec_t *r, int refused, int by_addr) {
  future_t *f;
  future_stream_kind_t kind =
      listener != NULL ? listener_kind : FUTURE_STREAM_TCP;
  r->action = refused ? NET_REFUSED : NET_CONNECT;
  net_streams_made = 1;
  r->kind = kind;
  r->gen = listener_gen;
  r->open = listener != NULL && !listener_closed;
  r->port = listener_port;
  if (kind == FUTURE_STREAM_TCP) {
    int port = refused ? refusing_port() : listener_port;
    snprintf(r->peer, sizeof r->peer, "127.0.0.1:%d", port);
    if (by_addr) {
      struct sockaddr_in a;
      CHECK(uv_ip4_addr("127.0.0.1", port, &a) == 0, "uv_ip4_addr");
      NOCB(f = future_tcp_connect_addr(&S.loop, (struct sockaddr *)&a));
    } else {
      NOCB(f = future_tcp_connect(&S.loop, "127.0.0.1", port));
    }
  } else {
    char name[PATH_MAX], rel[32];
    if (refused) {
      snprintf(rel, sizeof rel, "nowhere%u", pipe_names);
      scratch_path(name, rel);
    } else {
      snprintf(name, sizeof name, "%s", listener_name);
    }
    snprintf(r->peer, sizeof r->peer, "'%s'", name);
    NOCB(f = future_pipe_connect(&S.loop, name));
  }
  if (f == NULL) {
    CHECK(OOM(), "a connect returned NULL");
    return NULL;
  }
  /* Even a refusal comes from the loop. */
  CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
        "a connect to %s is not pending", r->peer);
  return f;
}

/* Bad arguments: a future rejected with UV_EINVAL at once. */
static future_t *net_bad(net_rec_t *r, uint8_t sub) {
  future_t *f = NULL;
  int v = (sub >> 4) & 3, other = (sub >> 6) & 1;
  r->action = NET_BAD;
  r->peer[0] = '\0';
  switch (v) {
  case 0:
    NOCB(f = future_tcp_connect(&S.loop, "localhost", 80));
    snprintf(r->peer, sizeof r->peer, "'localhost' port 80");
    break;
  case 1: {
    struct sockaddr_un u;
    memset(&u, 0, sizeof u);
    u.sun_family = AF_UNIX;
    NOCB(f = future_tcp_connect_addr(&S.loop,
                                     other ? NULL : (struct sockaddr *)&u));
    break;
  }
  case 2:
    if (other) {
      NOCB(f = future_tcp_connect(&S.loop, "127.0.0.1", 65536));
      snprintf(r->peer, sizeof r->peer, "'127.0.0.1' port 65536");
    } else {
      NOCB(f = future_pipe_connect(&S.loop, NULL));
    }
    break;
  default:
    if (!stream_pair())
      return NULL;
    snprintf(r->peer, sizeof r->peer, "%s", future_stream_peer(ends[0]));
    NOCB(f = future_stream_accept(ends[0]));
    break;
  }
  if (f == NULL) {
    CHECK(OOM(), "a call with bad arguments returned NULL");
    return NULL;
  }
  CHECK(ENOMEM_FUTURE(f) ||
            (future_state(f) == FUTURE_REJECTED &&
             future_error_code(future_error(f)) == UV_EINVAL),
        "a call with bad arguments (%d) did not reject with UV_EINVAL", v);
  return f;
}

/* Keep `f` with the signals and put it in slot dst. */
static void net_put(int dst, future_t *f, int rec, uint8_t sub) {
  int uid;
  if (f == NULL)
    return;
  if ((sub & 0x20) && future_state(f) == FUTURE_PENDING) {
    int rc;
    TRACE("  cancel it\n");
    NOCB(rc = future_cancel(f));
    CHECK(rc == 0, "cancelling a pending net future: %s",
          future_err_name(rc));
    CHECK(future_state(f) == FUTURE_REJECTED &&
              (future_error_code(future_error(f)) == UV_ECANCELED ||
               ENOMEM_OK(future_error_code(future_error(f)))),
          "a cancelled net future did not reject with UV_ECANCELED at once");
  }
  nets[rec].f = f;
  uid = new_uid(K_NET);
  if (uid >= 0)
    S.meta[uid].aux = rec;
  NOCB(signals[nsignals++] = future_ref(f));
  put(dst, f, uid);
}

static const char *const net_names[] = {
    "accept", "connect", "connect refused", "close the listener",
    "bad arguments", "accept and connect", "look at the listener",
    "listen anew"};

void op_net(void) {
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, action = sub % 8, pipe = (sub >> 3) & 1;
  future_t *f = NULL;
  int rec, pending;
  if (nsignals + 2 > MAX_SIGNALS || nnets + 2 > MAX_SIGNALS)
    return;
  TRACE("  net %s%s%s\n", net_names[action],
        action == NET_RELISTEN || listener == NULL
            ? (pipe ? " (a pipe listener)" : " (a TCP listener)")
            : "",
        (sub & 0x20) ? ", cancelled" : "");
  rec = nnets;
  /* The records this op may take (records of earlier inputs linger). */
  memset(&nets[rec], 0, 2 * sizeof nets[0]);
  switch (action) {
  case NET_ACCEPT:
    if (!net_listen(pipe))
      return;
    nnets++;
    f = net_accept(&nets[rec]);
    break;
  case NET_CONNECT:
  case NET_REFUSED:
    if (action == NET_CONNECT && !net_listen(pipe))
      return;
    nnets++;
    f = net_connect(&nets[rec], action == NET_REFUSED, (sub >> 4) & 1);
    break;
  case NET_CLOSE:
    if (listener == NULL)
      return;
    nnets++;
    nets[rec].action = NET_CLOSE;
    nets[rec].peer[0] = '\0';
    pending = accept_pending();
    NOCB(f = future_stream_close(listener));
    if (f != NULL) {
      listener_closed = 1;
      listener_gen++;
      check_accept_cancelled(pending);
      if (listener_kind == FUTURE_STREAM_TCP)
        CHECK(future_stream_port(listener) == UV_EBADF,
              "a closed listener still has a port");
    } else {
      CHECK(OOM(), "future_stream_close returned NULL");
    }
    if (sub & 0x10)
      net_release();
    break;
  case NET_BAD:
    net_edges();
    nnets++;
    f = net_bad(&nets[rec], sub);
    break;
  case NET_PAIR:
    if (!net_listen(pipe))
      return;
    nnets++;
    f = net_accept(&nets[rec]);
    net_put(dst, f, rec, sub);
    rec = nnets++;
    f = net_connect(&nets[rec], 0, (sub >> 4) & 1);
    dst = (dst + 1) % NSLOTS;
    break;
  case NET_LOOK:
    if (!net_listen(pipe))
      return;
    check_listener();
    net_listen_again();
    return;
  default:
    net_release();
    net_listen(pipe);
    return;
  }
  net_put(dst, f, rec, sub);
}

/* A stream a connect or an accept fulfilled with. */
static void check_net_stream(const net_rec_t *r, future_stream_t *s) {
  const char *peer;
  int port;
  uv_stream_t *h;
  CHECK(s != NULL, "a connect or accept fulfilled without a stream");
  peer = future_stream_peer(s);
  port = future_stream_port(s);
  h = future_stream_handle(s);
  CHECK(future_stream_kind(s) == r->kind, "a stream of kind %d, not %d",
        (int)future_stream_kind(s), (int)r->kind);
  CHECK(peer[0] != '\0' && strlen(peer) < 80, "a stream's peer is '%s'",
        peer);
  CHECK(future_stream_buffered(s) == 0, "a new stream has %zu bytes",
        future_stream_buffered(s));
  CHECK(h != NULL && h->type == (r->kind == FUTURE_STREAM_TCP
                                     ? UV_TCP
                                     : UV_NAMED_PIPE),
        "a stream's handle is of type %d", h != NULL ? (int)h->type : -1);
  if (r->kind != FUTURE_STREAM_TCP) {
    CHECK(port == UV_EINVAL, "a pipe stream's port is %d", port);
    CHECK(strcmp(peer, r->peer) == 0, "a pipe stream's peer is %s, not %s",
          peer, r->peer);
    return;
  }
  CHECK(port > 0 || (S.walked && port == UV_EBADF), "a TCP stream's port "
        "is %d", port);
  if (r->action == NET_ACCEPT) {
    char of[PATH_MAX + 16];
    snprintf(of, sizeof of, "(peer of %.60s)", r->peer);
    CHECK(port == r->port || port == UV_EBADF,
          "an accepted stream's port is %d, not the listener's %d", port,
          r->port);
    CHECK((strncmp(peer, "127.0.0.1:", 10) == 0 && atoi(peer + 10) > 0) ||
              strcmp(peer, of) == 0,
          "an accepted stream's peer is %s", peer);
  } else {
    CHECK(strcmp(peer, r->peer) == 0, "a connected stream's peer is %s, "
          "not %s", peer, r->peer);
  }
}

void net_seen(int uid, future_state_t st, void *value,
              const future_error_t *err) {
  const net_rec_t *r = &nets[S.meta[uid].aux];
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err), ok;
    const char *msg = future_error_message(err);
    switch (r->action) {
    case NET_ACCEPT:
      ok = code == UV_ECANCELED || code == UV_EBADF || code == UV_EBUSY;
      break;
    case NET_CONNECT:
      /* Refused or reset only once its listener has gone. */
      ok = code == UV_ECANCELED ||
           ((!r->open || r->gen != listener_gen || S.walked) &&
            (code == UV_ECONNREFUSED || code == UV_ECONNRESET ||
             code == UV_ENOENT));
      break;
    case NET_REFUSED:
      ok = code == UV_ECANCELED ||
           code == (r->kind == FUTURE_STREAM_TCP ? UV_ECONNREFUSED
                                                 : UV_ENOENT);
      break;
    case NET_CLOSE:
      ok = code == UV_ECANCELED;
      break;
    default:
      ok = code == UV_EINVAL;
      break;
    }
    TRACE("  net future %d (%s) rejected: %s\n", uid, net_names[r->action],
          msg != NULL ? msg : future_err_name(code));
    CHECK(ok || ENOMEM_OK(code), "a net op (%d) rejected with %s", r->action,
          future_err_name(code));
    if (code != UV_ECANCELED && !ENOMEM_OK(code) && r->peer[0] != '\0')
      CHECK(msg != NULL && strstr(msg, r->peer) != NULL,
            "the error \"%s\" does not name %s", msg != NULL ? msg : "(null)",
            r->peer);
    return;
  }
  TRACE("  net future %d (%s) fulfilled%s%s\n", uid, net_names[r->action],
        value != NULL ? ": a stream with peer " : "",
        value != NULL ? future_stream_peer(value) : "");
  switch (r->action) {
  case NET_ACCEPT:
  case NET_CONNECT:
    check_net_stream(r, value);
    break;
  case NET_CLOSE:
    CHECK(value == NULL, "closing a listener fulfilled with a value");
    break;
  default:
    FAIL("a net op (%d) fulfilled", r->action);
  }
}

/* A stream whose handle keeps the loop alive: a listener that listens, a
 * stream that reads. */
static int stream_active(future_stream_t *s) {
  uv_handle_t *h = (uv_handle_t *)future_stream_handle(s);
  return h != NULL && uv_is_active(h) && uv_has_ref(h);
}

/* Whether a stream the harness holds, or a connect or accept it made
 * fulfilled with, keeps the loop alive: future_wait on a future that
 * nothing settles would then block for ever, where it answers
 * FUTURE_ESTALLED once the loop runs out of work. */
static int streams_active(void) {
  if (stream_active(ends[0]) || stream_active(ends[1]) ||
      stream_active(listener))
    return 1;
  for (int i = 0; i < nnets; i++)
    if (nets[i].f != NULL && future_state(nets[i].f) == FUTURE_FULFILLED &&
        (nets[i].action == NET_ACCEPT || nets[i].action == NET_CONNECT) &&
        stream_active(future_value(nets[i].f)))
      return 1;
  return 0;
}

int watchers_pending(void) {
  for (int i = 0; i < nsignals; i++)
    if (future_state(signals[i]) == FUTURE_PENDING)
      return 1;
  return streams_active();
}

/* Child processes (include/future/process.h): sub % 4 picks the child:
 * 0 /bin/true, 1 sh exiting with 3 (and writing to both streams), 2 sh
 * that sleeps until it is ended (the end cancels it: SIGTERM, reaped
 * before teardown completes), 3 a program that does not exist. bit 2: a
 * grace period of 1 ms, else 20 ms (the end's drain allows no timer far
 * away). Kept with the signals, to be cancelled at the end. */
void op_process(void) {
  static const char *const scripts[] = {NULL, "echo out; echo err >&2; exit 3",
                                        "exec sleep 30", NULL};
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, uid, kind = sub % 4, alt;
  const char *args[] = {"sh", "-c", scripts[kind], NULL};
  future_spawn_options_t o;
  future_t *f;
  if (nsignals >= MAX_SIGNALS)
    return;
  memset(&o, 0, sizeof o);
  o.file = kind == 0 ? "/bin/true" : kind == 3 ? "/no/such/program" : "/bin/sh";
  o.args = kind == 1 || kind == 2 ? args : NULL;
  o.stdio[0].kind = FUTURE_STDIO_IGNORE;
  o.stdio[1].kind = FUTURE_STDIO_CAPTURE;
  o.stdio[2].kind = FUTURE_STDIO_CAPTURE;
  o.kill_grace_ms = (sub & 4) ? 1 : 20;
  /* Bit 3: future_exec rather than future_spawn for the missing program
   * 3 (only there: a cancelled exec waits its fixed 2000 ms grace, which
   * drain_loop would take for a forgotten timer), and for the sleeper 2 a
   * SIGTERM sent with future_process_kill at once. */
  alt = (sub >> 3) & 1;
  TRACE("  process %d%s%s\n", kind, (sub & 4) ? ", grace 1 ms" : "",
        !alt ? "" : kind == 2 ? ", killed" : kind == 3 ? ", exec" : "");
  if (alt && kind == 3)
    NOCB(f = future_exec(&S.loop, o.file, o.args, 0));
  else
    NOCB(f = future_spawn(&S.loop, &o));
  if (f == NULL) {
    CHECK(OOM(), "future_spawn returned NULL");
    return;
  }
  CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING ||
            (kind == 3 && future_state(f) == FUTURE_REJECTED),
        "future_spawn is not pending");
  if (future_state(f) == FUTURE_PENDING) {
    CHECK(future_process_pid(f) > 0, "a pending child without a pid");
    if (alt && kind == 2) {
      int rc;
      NOCB(rc = future_process_kill(f, SIGTERM));
      CHECK(rc == 0, "future_process_kill: %s", future_err_name(rc));
    }
  }
  uid = new_uid(K_PROCESS);
  if (uid >= 0)
    S.meta[uid].aux = kind + 4 * (alt && kind == 2);
  NOCB(signals[nsignals++] = future_ref(f));
  put(dst, f, uid);
}

void process_seen(int uid, future_state_t st, void *value,
                  const future_error_t *err) {
  int kind = S.meta[uid].aux;
  const future_exit_t *e = value;
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code) ||
              (kind == 3 && code == UV_ENOENT),
          "a child (%d) rejected with %s", kind, future_err_name(code));
    return;
  }
  if (kind == 6) { /* the sleeper, sent SIGTERM */
    CHECK(e->signal == SIGTERM, "a killed child ended with signal %d",
          e->signal);
    return;
  }
  CHECK(kind == 0 || kind == 1, "a child (%d) fulfilled", kind);
  CHECK(e->signal == 0 && e->status == (kind == 1 ? 3 : 0),
        "a child (%d) ended with status %lld, signal %d", kind,
        (long long)e->status, e->signal);
  CHECK(kind == 0 ? e->out_len == 0 && e->err_len == 0
                  : strcmp(e->out, "out\n") == 0 && strcmp(e->err, "err\n") == 0,
        "a child (%d) wrote something else", kind);
}

/* UDP (include/future/udp.h): a socket on 127.0.0.1, a receive, and
 * (sub bit 0) a datagram sent to itself; bit 1: the socket is closed at
 * once (the receive rejects), else it is left open for teardown (or a
 * walk) to close. The receive is kept with the signals, to be cancelled
 * at the end. */
void op_udp(void) {
  uint8_t sub = next_byte();
  int dst = next_byte() % NSLOTS, uid;
  struct sockaddr_in any;
  struct sockaddr_storage self;
  future_udp_t *u;
  future_t *f;
  if (nsignals >= MAX_SIGNALS)
    return;
  TRACE("  udp%s%s\n", (sub & 1) ? ", send" : "", (sub & 2) ? ", close" : "");
  NOCB(u = future_udp_new(&S.loop));
  if (u == NULL) {
    CHECK(OOM(), "future_udp_new returned NULL");
    return;
  }
  CHECK(uv_ip4_addr("127.0.0.1", 0, &any) == 0, "uv_ip4_addr");
  CHECK(future_udp_bind(u, (struct sockaddr *)&any, 0) == 0 &&
            future_udp_local(u, &self) == 0,
        "binding a UDP socket to 127.0.0.1");
  NOCB(f = future_udp_recv(u, 0));
  if (f == NULL) {
    CHECK(OOM(), "future_udp_recv returned NULL");
  } else if (sub & 1) {
    future_t *s;
    NOCB(s = future_udp_send(u, (struct sockaddr *)&self, "fuzz", 4));
    CHECK(s != NULL || OOM(), "future_udp_send returned NULL");
    NOCB(future_unref(s));
  }
  if (sub & 2) {
    future_t *c;
    NOCB(c = future_udp_close(u));
    CHECK(c != NULL || OOM(), "future_udp_close returned NULL");
    NOCB(future_unref(c));
  }
  if (f == NULL)
    return;
  uid = new_uid(K_UDP);
  NOCB(signals[nsignals++] = future_ref(f));
  put(dst, f, uid);
}

void udp_seen(int uid, future_state_t st, void *value,
              const future_error_t *err) {
  const future_datagram_t *d = value;
  (void)uid;
  if (st == FUTURE_REJECTED) {
    int code = future_error_code(err);
    CHECK(code == UV_ECANCELED || ENOMEM_OK(code),
          "a UDP receive rejected with %s", future_err_name(code));
    return;
  }
  CHECK(d->len == 4 && memcmp(d->data, "fuzz", 4) == 0 && !d->truncated,
        "a UDP receive fulfilled with %zu bytes", d->len);
}
