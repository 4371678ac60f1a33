/*
 * Private to libfuture: never installed, never included by users.
 *
 * Internal functions shared between source files carry the future__ prefix
 * and hidden visibility (the library is built with -fvisibility=hidden).
 */
#ifndef FUTURE_INTERNAL_H
#define FUTURE_INTERNAL_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "future.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Whether AddressSanitizer or ThreadSanitizer instruments this build
 * (gcc says so with a macro, clang with __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define FUTURE__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUTURE__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define FUTURE__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FUTURE__TSAN 1
#endif
#endif

/* Everything declared from here on is internal to the shared object, so
 * that calls and variable accesses need no PLT or GOT indirection. */
#pragma GCC visibility push(hidden)

/* A value that has a destructor lives in a holder shared, by reference
 * count, by every future and result that carries it. Values without a
 * destructor are copied as plain pointers and need no holder. */
typedef struct future__holder_s {
  atomic_uint refs;
  void *value;
  future_dtor_cb dtor;
} future__holder_t;

/* An outcome on its way from whoever produced it to a future (or to a
 * future_result_t): what future__settle consumes. */
typedef struct future__outcome_s {
  void *value;               /* fulfilled: the value */
  future__holder_t *holder;  /* fulfilled: its holder, or NULL */
  future_error_t *error;     /* rejected: the error (one reference) */
} future__outcome_t;

/* How a future gets its outcome. */
enum future__kind {
  FUTURE__SOURCE = 0,  /* settled by its creator (future_new and friends) */
  FUTURE__THEN,        /* runs on_fulfilled / on_rejected on its parent */
  FUTURE__FINALLY,     /* runs on_settled, then passes the parent through */
  FUTURE__ADOPT,       /* takes the outcome of the future it waits on */
  FUTURE__SINK,        /* internal observer: calls sink_cb, then goes away */
  FUTURE__PIPE,        /* a pipeline: runs its list of steps (pipeline.c) */
  FUTURE__TIMED        /* future_delay_then's: a THEN and its delay in one,
                          pending in the delays' wheel or heap (timer.c) */
};

enum future__flag {
  FUTURE__HANDLED = 1,  /* a consumer saw (or will see) the outcome */
  FUTURE__WAITING = 2,  /* linked in another future's waiter list */
  FUTURE__STEP2 = 4,    /* finally: the callback has run, now waiting on it */
  FUTURE__QUEUED = 8,   /* in the loop's run queue (which holds a ref) */
  FUTURE__REQUEST = 16, /* a libuv request holds a ref until it completes */
  FUTURE__MACHINE = 32, /* settled by a future__machine_t (its data) */
  FUTURE__SEEN = 64,    /* marked during a cycle check (future__waits_on) */
  FUTURE__KEPT_ERROR = 128 /* finally, step 2: the kept outcome is an error */
};

/* Library machinery that settles a source future from the outcomes of
 * other futures (combinators, map, retry) starts its state with this
 * header, and flags the source FUTURE__MACHINE, so that cycle detection
 * can see which futures the source waits on. */
typedef void (*future__visit_cb)(const struct future_s *input, void *ctx);
typedef struct future__machine_s {
  /* Call visit for every input still pending. */
  void (*inputs)(const struct future__machine_s *m, future__visit_cb visit,
                 void *ctx);
} future__machine_t;

/* An internal observer callback (future_wait, combinators), called once
 * from the loop: with the settled future, or with NULL if the future was
 * released unsettled (nobody can settle it any more) - unless the owner
 * cancels the observer first, and then never. */
typedef void (*future__sink_cb)(future_t *settled, void *data);

/* Asks the request behind a source future to stop, if libuv still can.
 * The future is rejected with UV_ECANCELED right after this returns. The
 * hook returns 1 if the request is done with the future from now on (its
 * reference is then dropped right after the rejection; the request must
 * not touch the future again), or 0 if the request completes later all the
 * same and then calls future__source_done, which releases its result
 * instead of delivering it. */
typedef int (*future__cancel_cb)(future_t *f, void *req);

typedef struct future__loop_s future__loop_t;

/* A pending future_delay: an entry of the loop's heap of delays (timer.c). */
typedef struct {
  uint64_t due;  /* loop time (ms) it is due at */
  uint64_t seq;  /* creation order, among delays due at the same time */
  future_t *f;   /* its future (the request's reference) */
} future__delay_t;

/* 64 bytes, one cache line: a link of a chain costs one line of memory.
 * The callbacks, the sink and the cancel hook are needed only until the
 * future settles, and the outcome only from then on, so they share `u`. */
struct future_s {
  future__loop_t *lp;
  /* One link, used by exactly one list at a time: a parent's waiter list,
   * the loop's run queue, or a stack of futures being freed. */
  future_t *next;
  /* The future whose outcome this one consumes once it is queued. */
  future_t *parent;
  /* Continuations waiting for this future to settle (owned references):
   * the last one, whose `next` is the first (a circular list), or NULL. */
  future_t *waiters;
  union {
    struct {
      future_cb on_fulfilled;
      future_cb on_rejected;
    } cb;                     /* pending THEN or FINALLY */
    future__sink_cb sink;     /* SINK */
    future__cancel_cb cancel; /* pending SOURCE with a request */
    struct future__pipe_s *pipe; /* pending PIPE: its steps, or NULL */
    /* Settled (or a FINALLY in step 2, keeping its parent's outcome):
     * the value or the error (by state, or FUTURE__KEPT_ERROR), and the
     * value's holder (NULL for an error or a value without destructor). */
    struct {
      void *ptr;
      future__holder_t *holder;
    } out;
  } u;
  void *data;
  uint32_t refs;
  uint8_t state;  /* future_state_t */
  uint8_t kind;   /* enum future__kind */
  uint8_t flags;  /* enum future__flag */
#if FUTURE_DEBUG
  uint32_t magic; /* FUTURE__MAGIC_LIVE while the future is alive */
#endif
};

/* debug.c: the checks of the debug build (configure --enable-debug). In a
 * default build the macros cost nothing and check nothing. */
#define FUTURE__MAGIC_LIVE 0xF07E11FEu
#define FUTURE__MAGIC_DEAD 0xDEADF07Eu
#if FUTURE_DEBUG
#define FUTURE__MARK_LIVE(f) ((f)->magic = FUTURE__MAGIC_LIVE)
/* Abort unless `f` is a live future used on its loop's thread (or, with
 * any_thread, on any thread). NULL passes: the calls report it. */
void future__debug_check(const future_t *f, const char *func, int any_thread);
/* Abort unless the caller runs on the thread of the loop `lp`. */
void future__debug_check_loop(const struct future__loop_s *lp,
                              const char *func);
/* Poison a freed future and hold it back from reuse for a while. */
void future__debug_bury(struct future__loop_s *lp, future_t *f);
/* Let every future held back go for good (teardown). */
void future__debug_flush(struct future__loop_s *lp);
/* Sleep FUTURE_DEBUG_RACE_US microseconds, when that is set. */
void future__debug_race_window(void);
#define FUTURE__CHECK(f) future__debug_check((f), __func__, 0)
/* The same, naming the public call the user wrote (a macro's function). */
#define FUTURE__CHECK_AS(f, name) future__debug_check((f), (name), 0)
#define FUTURE__CHECK_ANY_THREAD(f) future__debug_check((f), __func__, 1)
#define FUTURE__CHECK_LOOP(lp) future__debug_check_loop((lp), __func__)
#define FUTURE__RACE_WINDOW() future__debug_race_window()
#else
#define FUTURE__MARK_LIVE(f) ((void)0)
#define FUTURE__CHECK(f) ((void)0)
#define FUTURE__CHECK_AS(f, name) ((void)0)
#define FUTURE__CHECK_ANY_THREAD(f) ((void)0)
#define FUTURE__CHECK_LOOP(lp) ((void)0)
#define FUTURE__RACE_WINDOW() ((void)0)
#endif

/* How many freed futures (and used resolvers) the debug build holds back
 * from reuse, per loop, so that a late use finds them poisoned. */
#define FUTURE__BURIED 1024

/* Per-loop state. */
struct future__loop_s {
  uv_loop_t *loop;
  uv_idle_t idle;          /* runs the queue; active only while non-empty */
  uv_async_t async;        /* wakes the loop for other threads; unref'd */
  uv_thread_t thread;      /* the loop's thread */
  future_t *queue_head;    /* continuations ready to run (owned refs) */
  future_t *queue_tail;
  size_t live;             /* futures created and not yet freed */
  unsigned in_callback;    /* depth of library callbacks running now */
  future_t *waited;        /* the future whose future_wait is in uv_run
                              now, or NULL: settling it stops the loop */
  unsigned draining;
  /* What other threads post to the loop's thread (see loop.c). */
  uv_mutex_t inbox_lock;           /* guards the three lists */
  struct future__waiter_s *inbox;  /* cross-thread waits to attach */
  future_resolver_t *settles;      /* cross-thread settles to deliver */
  struct future__release_s *releases; /* values let go on other threads */
  atomic_int waits_posted;         /* a hint: inbox is not empty */
  size_t resolvers;                /* resolvers not yet delivered */
  size_t holds;                    /* resolvers and cross-thread waits
                                      that keep the loop alive */
  future__loop_t *next_loop;       /* registry link */
  unsigned closing;
  future_t *requests;              /* request-backed futures in flight,
                                      linked through next and parent */
  size_t nrequests;
  int use_pool;                    /* 0 under valgrind and ASan */
  future_t *pool;                  /* freed futures, ready for reuse */
  future_t *fresh, *fresh_end;     /* never used yet, in the newest slab */
  size_t slab_size;                /* bytes of the next slab */
  struct future__slab_s *slabs;    /* where pooled futures live */
  uv_timer_t delay_timer;          /* armed for the earliest delay */
  struct future__wheel_s *wheel;   /* delays due soon (timer.c) */
  uint64_t wheel_base;             /* the first ms the wheel has not done */
  size_t nwheel;                   /* delays in the wheel's slots */
  future_t fired;                  /* fulfilled with NULL: what
                                      future_delay_then's callback gets
                                      (never freed, not counted live) */
  future__delay_t *delays;         /* the heap of later delays (timer.c) */
  size_t ndelays, delays_cap;
  size_t delays_live;              /* entries whose future is pending */
  size_t delays_dead;              /* entries of cancelled delays */
  uint64_t delay_seq;
  uint64_t delay_armed;            /* the due time the timer is set for */
  int delay_on;                    /* the timer is started (as libuv's
                                      uv_is_active would say, but without
                                      a call for every new delay) */
  int delays_closing;              /* in future__delay_cancel_all */
  struct future__async_s *fibers;  /* fibers not yet finished (async.c) */
  struct future__handle_s *handles; /* the operations' own handles */
  size_t objects;                  /* streams the user still holds: a
                                      teardown answers UV_EBUSY */
  void *stack_pool;                /* fibers' stacks kept for reuse */
  size_t nstack_pool;
#if FUTURE_DEBUG
  /* Freed futures and used resolvers, poisoned and held back from reuse
   * (debug.c): rings of the most recent ones. */
  future_t *buried[FUTURE__BURIED];
  size_t buried_next;
  struct future_resolver_s *buried_resolvers[FUTURE__BURIED];
  size_t buried_resolvers_next;
#endif
};

/* A cross-thread future_wait in progress (lives on the waiting stack). */
typedef struct future__waiter_s {
  struct future__waiter_s *next;
  future__loop_t *lp;
  future_t *f;
  future_result_t *result;
  uv_mutex_t lock;
  uv_cond_t cond;
  int done;
} future__waiter_t;

/* alloc.c: every allocation of the library goes through these. */
void *future__malloc(size_t size);
void *future__realloc(void *p, size_t size);
void *future__calloc(size_t n, size_t size);
void future__free(void *p);
char *future__strdup(const char *s);

/* loop.c */
int future__loop_any(void);
void future__loop_request_add(future__loop_t *lp, future_t *f);
void future__loop_request_remove(future__loop_t *lp, future_t *f);

/* The state of `loop` (created on first use), or NULL when out of memory.
 * A per-thread cache answers without a lock; the generation, bumped
 * whenever some loop's state is torn down, says when it is stale.
 * initial-exec: no __tls_get_addr call on the path of every new future. */
typedef struct {
  uv_loop_t *loop;
  future__loop_t *lp;
  unsigned generation;
} future__loop_cache_t;
extern _Thread_local future__loop_cache_t future__loop_cache
    __attribute__((tls_model("initial-exec")));
extern atomic_uint future__registry_generation;
future__loop_t *future__loop_find(uv_loop_t *loop);
static inline future__loop_t *future__loop_get(uv_loop_t *loop) {
  if (future__loop_cache.loop == loop &&
      future__loop_cache.generation ==
          atomic_load_explicit(&future__registry_generation,
                               memory_order_acquire))
    return future__loop_cache.lp;
  return future__loop_find(loop);
}

/* Continuations were queued: make sure the loop drains the queue (it
 * already does when the queue is being drained). */
void future__loop_wake(future__loop_t *lp);
/* An operation with a libuv handle of its own (a signal or file watcher):
 * its handle is listed per loop, so that a uv_walk that closes it behind
 * the library's back (with its own close callback) leaks nothing, and so
 * that future_loop_owns_handle knows it. The future__handle_t is the
 * first member of the operation's block (allocated with future__calloc,
 * freed with future__free once libuv has finished with the handle), and
 * handle->data points to it. */
typedef struct future__handle_s {
  struct future__handle_s *next, *prev;
  uv_handle_t *handle;
  future__loop_t *lp;
  future_t *f;      /* the operation's future; NULL once settled */
  int closed_by_us; /* else a uv_close of somebody else's (a walk) is
                       not followed by ours: freed at teardown */
  /* A block may hold several handles (a child process: the process and
   * its pipes): `block` is the entry at the start of the block, whose
   * `listed` counts the block's handles still listed. The block goes when
   * the last of them leaves the list. */
  struct future__handle_s *block;
  unsigned listed;
  /* If set, called when a close of ours has completed, before the block
   * may go (not after a walk's close: teardown frees such blocks). */
  void (*closed)(struct future__handle_s *h);
  /* Called on the block instead of future__free(block) once its last
   * handle has left the list (our close callback, or teardown for a
   * handle a walk closed); NULL for most. A stream (stream.c) outlives
   * its handle while the user still holds it. */
  void (*finalize)(struct future__handle_s *h);
} future__handle_t;
/* List `handle` (initialised, in the block that starts with `h`) and make
 * the operation's future, which a cancel settles and which stops the
 * handle. NULL when memory runs out: the handle is then closed and the
 * block goes. */
future_t *future__handle_source(future__loop_t *lp, future__handle_t *h,
                                uv_handle_t *handle);
/* The operation is over: close its handle (the block goes once libuv has
 * finished with it) and return its future for the caller to settle, or
 * NULL if a cancel settled it already. */
future_t *future__handle_finish(future__handle_t *h);
/* List one more handle (initialised) of the block that starts with
 * `block`, without a future of its own: `h` lives in that block, and the
 * block goes only once each of its listed handles is closed. */
void future__handle_list(future__loop_t *lp, future__handle_t *block,
                         future__handle_t *h, uv_handle_t *handle);
/* Close a listed handle, unless somebody else (a walk) already has. */
void future__handle_close(future__handle_t *h);

/* Whether the loop's handles were closed behind the library's back (a
 * uv_walk closing every handle), and if so, take in what other threads
 * posted and run the queue here; returns whether it did. */
int future__loop_orphaned(const future__loop_t *lp);
int future__loop_run_orphaned(future__loop_t *lp);
static inline void future__loop_schedule(future__loop_t *lp) {
  if (!lp->draining)
    future__loop_wake(lp);
}
int future__loop_on_thread(const future__loop_t *lp);

/* Something that must be let go of on the loop's thread, although its
 * last holder is on another thread (a list of futures, see combine.c). */
typedef struct future__release_s {
  struct future__release_s *next;
  void (*release)(struct future__release_s *self);
} future__release_t;

/* Posting from another thread: the item is linked under the inbox lock,
 * and the loop is woken while the lock is still held, so that
 * future_loop_close, which takes the lock before it frees the loop's
 * state, never frees it under a thread still inside a post. A post is
 * only legitimate while it keeps a future of the loop alive (the waited
 * future, the resolver's, the list's items): the state cannot be torn
 * down before the loop's thread has taken the post in. */
void future__loop_post_waiter(future__loop_t *lp, future__waiter_t *w);
void future__loop_post_settle(future__loop_t *lp, future_resolver_t *r);
void future__loop_post_release(future__loop_t *lp, future__release_t *rel);

/* On the loop's thread, when a future is settled by hand or let go: if
 * another thread has posted a wait that the loop has not taken in, make
 * sure the loop turns once more (the idle handle), so that it polls and
 * its async callback takes the wait in, even if nothing else would keep
 * the loop alive. Taking it in here instead would run the library's
 * machinery inside whatever called this (a cancel walking a chain). */
static inline void future__loop_take_in_waits_hint(future__loop_t *lp) {
  if (atomic_load_explicit(&lp->waits_posted, memory_order_relaxed))
    future__loop_wake(lp);
}

/* Resolvers and cross-thread waits keep the loop alive (they reference
 * the async handle) until they are delivered. */
void future__loop_hold(future__loop_t *lp);
void future__loop_unhold(future__loop_t *lp);
void future__loop_resolver_opened(future__loop_t *lp);
void future__loop_resolver_closed(future__loop_t *lp);

/* timer.c: cancel every future_delay of the loop still pending, and let
 * go of the heap of delays. */
void future__delay_cancel_all(future__loop_t *lp);
/* timer.c: a delay of `ms` from the loop's cached time, in the loop's heap
 * (future_delay, and the deadlines of timeouts and retries). */
future_t *future__delay_new(future__loop_t *lp, uint64_t ms);
/* timer.c: the pending FUTURE__TIMED `f` is cancelled: returns 1 if the
 * canceller drops the delay structure's reference on it. */
int future__timed_cancel(future_t *f);

/* resolver.c */
/* Settle the futures of a list of delivered resolvers, oldest first. */
void future__resolvers_deliver(future_resolver_t *list);
/* A resolver, and then the delivery it carries to the loop's thread. */
struct future_resolver_s {
  struct future_resolver_s *next; /* in the loop's inbox */
  future_t *f;
  future__outcome_t out;
#if FUTURE_DEBUG
  uint32_t magic;  /* FUTURE__MAGIC_LIVE until delivered */
  atomic_int used; /* set by the first resolve or reject */
#endif
};
#if FUTURE_DEBUG
/* Abort unless `r` is a live resolver used for the first time. */
void future__debug_use_resolver(future_resolver_t *r, const char *func);
/* Poison a delivered resolver and hold it back from reuse for a while. */
void future__debug_bury_resolver(future__loop_t *lp, future_resolver_t *r);
#endif

/* wait.c */
void future__loop_attach_waiter(future__loop_t *lp, future__waiter_t *w);

/* For the few helpers of the per-link path that must not cost a call. */
#define FUTURE__HOT static inline __attribute__((always_inline))

/* trace.c: hooks cost one branch while tracing is off. */
extern atomic_int future__tracing;
#define FUTURE__TRACING()                                                      \
  atomic_load_explicit(&future__tracing, memory_order_relaxed)

/* future.c */
/* A new future of `lp` with one reference, or NULL when out of memory.
 * The common case, a future from the loop's pool, is inline. _slow also
 * tells the trace (future__trace_create), _raw does not. */
future_t *future__alloc_slow(future__loop_t *lp, uint8_t kind);
future_t *future__alloc_raw(future__loop_t *lp, uint8_t kind);
/* Without the trace's test, for a caller that made it (chain.c): the
 * path of every link costs one branch for tracing, not two. */
static inline future_t *future__alloc_untraced(future__loop_t *lp,
                                               uint8_t kind) {
  future_t *f = lp->pool;
#if FUTURE_DEBUG /* every new future: on its loop's thread */
  future__debug_check_loop(lp, "making a future");
#endif
  if (f != NULL)
    lp->pool = f->next;
  else if (lp->fresh != lp->fresh_end)
    f = lp->fresh++;
  else
    return future__alloc_slow(lp, kind);
  /* A compound literal, which compilers turn into a few wide stores
   * rather than a call to memset. */
  *f = (future_t){.lp = lp, .refs = 1, .kind = kind};
  FUTURE__MARK_LIVE(f);
  lp->live++;
  return f;
}
static inline future_t *future__alloc(future__loop_t *lp, uint8_t kind) {
  if (FUTURE__TRACING())
    return future__alloc_slow(lp, kind);
  return future__alloc_untraced(lp, kind);
}
void future__free_all(future_t *f);

/* future_unref without the call, for the library's hot paths. The common
 * case, a fulfilled future that owns nothing, goes straight back to the
 * pool; everything else goes through future__free_all. */
static inline void future__unref(future_t *f) {
  if (f != NULL && --f->refs == 0) {
#if !FUTURE_DEBUG /* the debug build buries every freed future */
    future__loop_t *lp = f->lp;
    /* A settled future has no waiters: settling moved them all to the
     * run queue, and a continuation attached later is queued at once. */
    if (f->state == FUTURE_FULFILLED && f->u.out.holder == NULL &&
        lp->use_pool) {
      lp->live--;
      f->next = lp->pool;
      lp->pool = f;
      return;
    }
#endif
    future__free_all(f);
  }
}
/* Give the memory of a freed future back: to the pool, or to free. */
void future__release_memory(future__loop_t *lp, future_t *f);
void future__pool_destroy(future__loop_t *lp);
int future__pool_wanted(void);

/* The error of a settled future, or NULL (no reference taken). */
static inline future_error_t *future__error_of(const future_t *f) {
  return f->state == FUTURE_REJECTED ? (future_error_t *)f->u.out.ptr : NULL;
}
/* The outcome of the settled `f`, without taking references. */
static inline future__outcome_t future__outcome_peek(const future_t *f) {
  future__outcome_t out = {NULL, NULL, NULL};
  if (f->state == FUTURE_REJECTED) {
    out.error = f->u.out.ptr;
  } else {
    out.value = f->u.out.ptr;
    out.holder = f->u.out.holder;
  }
  return out;
}
/* The outcome a pending FINALLY in step 2 keeps (no references taken). */
static inline future__outcome_t future__kept(const future_t *f) {
  future__outcome_t out = {NULL, NULL, NULL};
  if (f->flags & FUTURE__KEPT_ERROR) {
    out.error = f->u.out.ptr;
  } else {
    out.value = f->u.out.ptr;
    out.holder = f->u.out.holder;
  }
  return out;
}
/* A pending FINALLY keeps a copy of the outcome of the settled `p` (in
 * place of its callbacks, which have run) and enters step 2. */
void future__keep(future_t *f, const future_t *p);
/* Let go of what future__keep kept, and leave step 2; for a pending
 * pipeline, let go of its steps that have not run. */
void future__unkeep(future_t *f);
/* A copy of the outcome of the settled `src`, with its own references. */
static inline void future__outcome_of(future__outcome_t *dst,
                                      const future_t *src) {
  *dst = future__outcome_peek(src);
  if (dst->holder != NULL)
    atomic_fetch_add_explicit(&dst->holder->refs, 1, memory_order_relaxed);
  if (dst->error != NULL)
    future_error_ref(dst->error);
}

/* Put `c` (whose reference the queue takes over) at the end of its loop's
 * run queue; c->parent is settled. */
static inline void future__enqueue(future_t *c) {
  future__loop_t *lp = c->lp;
  c->next = NULL;
  c->flags |= FUTURE__QUEUED;
  if (lp->queue_tail != NULL)
    lp->queue_tail->next = c;
  else
    lp->queue_head = c;
  lp->queue_tail = c;
  future__loop_schedule(lp);
}

/* Settle the pending `f` with `out`, which it takes over (`out` is left
 * empty). The store is inline; queueing the waiting continuations (and
 * tracing) is future__settled's. */
void future__settled(future_t *f);
static inline void future__settle(future_t *f, future__outcome_t *out) {
  if (out->error != NULL) {
    f->state = FUTURE_REJECTED;
    f->u.out.ptr = out->error;
    f->u.out.holder = NULL;
  } else {
    f->state = FUTURE_FULFILLED;
    f->u.out.ptr = out->value;
    f->u.out.holder = out->holder;
  }
  out->value = NULL;
  out->holder = NULL;
  out->error = NULL;
  if (__builtin_expect(FUTURE__TRACING(), 0)) {
    future__settled(f);
    return;
  }
  if (f->waiters == NULL) {
    if (__builtin_expect(f->lp->waited == f, 0))
      uv_stop(f->lp->loop); /* see future_wait (wait.c) */
    return;
  }
  if (f->waiters->next == f->waiters) {
    /* One continuation waits, as on every link of a chain: it moves to
     * the run queue here, without the call and the loop of
     * future__settled. */
    future_t *w = f->waiters;
    future__loop_t *lp = f->lp;
    f->waiters = NULL;
    f->refs++;
    w->flags = (uint8_t)((w->flags & ~FUTURE__WAITING) | FUTURE__QUEUED);
    w->next = NULL;
    if (lp->queue_tail != NULL)
      lp->queue_tail->next = w;
    else
      lp->queue_head = w;
    lp->queue_tail = w;
    future__loop_schedule(lp);
    return;
  }
  future__settled(f);
}

/* Make `child` (whose reference the caller hands over) consume the outcome
 * of `parent`: now, through the run queue, if `parent` has settled; when it
 * settles otherwise. */
static inline void future__attach(future_t *parent, future_t *child) {
  child->parent = parent;
  parent->flags |= FUTURE__HANDLED;
  if (parent->state == FUTURE_PENDING) {
    future_t *last = parent->waiters;
    child->flags |= FUTURE__WAITING;
    if (last != NULL) {
      child->next = last->next;
      last->next = child;
    } else {
      child->next = child;
    }
    parent->waiters = child;
    return;
  }
  parent->refs++;
  future__enqueue(child);
}
void future__outcome_release(future__outcome_t *out);

/* Settle the pending `c` with the outcome of the settled `r`, whose
 * reference the caller hands over. When that is the last reference, which
 * is the usual case of a callback returning future_resolved(...), the
 * outcome moves instead of being copied and released. */
static inline __attribute__((always_inline)) void
future__settle_take(future_t *c, future_t *r) {
  future__outcome_t out;
  if (r->refs == 1) {
    /* Nothing else sees `r`: no continuation waits on it (a queued one
     * would hold a reference), so it can be emptied before it goes. */
    out = future__outcome_peek(r);
#if !FUTURE_DEBUG /* the debug build buries every freed future */
    if (r->lp->use_pool) {
      /* Emptied, it owns nothing: straight back to the pool, without
       * future__unref's tests of what it might own. */
      future__loop_t *lp = r->lp;
      lp->live--;
      r->next = lp->pool;
      lp->pool = r;
      future__settle(c, &out);
      return;
    }
#endif
    r->state = FUTURE_FULFILLED;
    r->u.out.ptr = NULL;
    r->u.out.holder = NULL;
  } else {
    r->flags |= FUTURE__HANDLED;
    future__outcome_of(&out, r);
  }
  future__settle(c, &out);
  future__unref(r);
}
future_t *future__sink(future_t *f, future__sink_cb cb, void *data);

/* Sources backed by a libuv request (fs, timers, work, ...). The new future
 * has two references: the caller's, and the request's, which
 * future__source_done drops. `req` is passed to `cancel` (may be NULL).
 * The creator names the request for the trace (FUTURE__TRACE_REQUEST):
 * a request without a name has no span. */
future_t *future__source_new(future__loop_t *lp, future__cancel_cb cancel,
                             void *req);
/* The same, for a request that teardown finds by other means (delays, in
 * the loop's heap of delays): not in the loop's list of requests in
 * flight. */
future_t *future__source_unlisted(future__loop_t *lp,
                                  future__cancel_cb cancel, void *req);
/* The request behind `f` has completed (on the loop's thread): settle `f`
 * with `out` unless it was cancelled meanwhile, in which case `out` is
 * released (the value's destructor runs). Consumes `out` and the
 * request's reference. */
void future__source_done(future_t *f, future__outcome_t *out);
void future__source_fulfil(future_t *f, void *value, future_dtor_cb dtor);
/* Whether the pending `src` waits, through the futures it follows, on `f`
 * (so that making `f` wait on `src` would be a cycle). */
int future__waits_on(const future_t *src, const future_t *f);
void future__source_fail(future_t *f, future_error_t *err);
/* A holder for a value with a destructor; NULL when out of memory (then
 * the destructor has run on the value). */
future__holder_t *future__holder_new(void *value, future_dtor_cb dtor);
/* The outcome of fulfilling with `value`: a holder when there is a
 * destructor, or a UV_ENOMEM error (and the destructor run) when the
 * holder cannot be had. Returns 0 or UV_ENOMEM. */
int future__outcome_of_value(future__outcome_t *out, void *value,
                             future_dtor_cb dtor);
void future__holder_unref(future__holder_t *h);
/* A holder and `size` bytes for its value in one allocation: the value's
 * memory (aligned for any type) goes with the holder's last reference, so
 * the holder has no destructor. NULL when out of memory. */
void *future__holder_block(future__holder_t **h, size_t size);
/* Fulfil the request-backed `f` with `value`, which lives in `h`'s block
 * (future__holder_block). */
void future__source_fulfil_held(future_t *f, void *value,
                                future__holder_t *h);

/* trace.c */
void future__trace_setup(void);
/* Whether a trace is recording (its buffers hold the allocator's memory). */
int future__trace_recording(void);
/* The calling thread runs a loop: its lane is "loop N" (loop.c, when a
 * loop gets its state; costs nothing while not tracing). */
void future__trace_thread_loop(void);
/* An event about the future `f` (phase 'i' instant, 'X' slice from ts
 * lasting dur; ts 0 is now). */
void future__trace(char phase, const char *name, const void *f, uint64_t ts,
                   uint64_t dur);
#define FUTURE__TRACE(phase, name, f)                                          \
  do {                                                                         \
    if (FUTURE__TRACING())                                                     \
      future__trace((phase), (name), (f), 0, 0);                               \
  } while (0)
/* The new future `f` gets its id: `what` it is (NULL: by its kind) and the
 * names of its callbacks (for a step: on_fulfilled's, on_rejected's; NULL
 * where there is none), which must outlive the trace. */
void future__trace_create(const future_t *f, const char *what,
                          const char *name0, const char *name1);
/* The request behind the source `f` starts: its span, named printf-style
 * with its arguments ("fs.stat /tmp/x"), lasts until `f` settles. */
void future__trace_request(const future_t *f, const char *fmt, ...)
    FUTURE_PRINTF(2, 3);
#define FUTURE__TRACE_REQUEST(f, ...)                                          \
  do {                                                                         \
    if (FUTURE__TRACING())                                                     \
      future__trace_request((f), __VA_ARGS__);                                 \
  } while (0)
/* `f`, not pooled, is freed: its address may be anything's next. */
void future__trace_forget(const future_t *f);
/* `f` settled (and its request's span, if it has one, ends). */
void future__trace_settled(const future_t *f);
/* The continuation `c`, a step labelled `label` ("then", "catch",
 * "then/catch", "finally"), ran its on_fulfilled (rejected 0) or its
 * on_rejected (1) from t0 until now. */
void future__trace_step(const future_t *c, const char *label, int rejected,
                        uint64_t t0);
/* A slice from t0 until now on the calling thread, about `f` (or NULL),
 * named printf-style; _pool's thread is one of libuv's pool ("pool N"). */
void future__trace_slice(const void *f, uint64_t t0, const char *fmt, ...)
    FUTURE_PRINTF(3, 4);
void future__trace_pool(const void *f, uint64_t t0, const char *fmt, ...)
    FUTURE_PRINTF(3, 4);

/* cancel.c: move the observer `s`, waiting on a pending future, to wait
 * on the pending `to` instead (its reference goes along), and cancel the
 * future it waited on when nothing else wants it any more, as a cancel
 * travelling up would. */
void future__sink_move(future_t *s, future_t *to);
/* Whether the pending `f` is wanted by nobody but the library's machinery
 * and the `held` references of the caller (a cancel travelling up would
 * cancel it). */
int future__unwanted(const future_t *f, uint32_t held);

/* combine.c */
int future__list_outcome(future__outcome_t *out, future_t **items, size_t n);

/* fiber.c: the fiber running on this thread is put out of sight while a
 * loop's run queue drains (a nested run of another loop, inside a fiber,
 * must not take that loop's continuations for the fiber's code), and
 * brought back after. */
struct future__fiber_s *future__fiber_hide(void);
void future__fiber_show(struct future__fiber_s *fb);

/* chain.c: run every queued continuation (loop.c's idle handle calls it). */
void future__loop_drain(future__loop_t *lp);

/* pipeline.c: run the queued pipeline `pl` (its state pending) on the
 * settled `p`: the queue's reference on `pl` and its reference on `p` are
 * the callee's. */
void future__pipe_run(future_t *pl, future_t *p);
/* Let go of the steps of the pending pipeline `pl` that have not run. */
void future__pipe_drop(future_t *pl);

/* error.c */
/* An error raised by the library itself, with its origin in src/. */
/* Where a request was asked for: the caller's place when a FUTURE_AT
 * macro recorded it (the innermost call site of this thread), else the
 * library's own (`file`, `line`, `func`). Errors of the request are raised
 * there. */
typedef struct {
  const char *file;
  int line;
  const char *func;
} future__site_t;
void future__site_get(future__site_t *site, const char *file, int line,
                      const char *func);
/* future_error_new_at at `site`. */
future_error_t *future__error_site(const future__site_t *site, int code,
                                   const char *fmt, ...) FUTURE_PRINTF(3, 4);

/* An error whose message describes the code in the library's words rather
 * than the system's: "<text>: <desc> (<NAME>)" (a timeout of the library's
 * is not a connection timing out, though its code is UV_ETIMEDOUT). */
future_error_t *future__error_described(const char *file, int line,
                                        const char *func, int code,
                                        const char *desc, const char *text);
#define future__error(code, msg)                                               \
  future_error_new_at(__FILE__, __LINE__, __func__, (code), NULL, (msg))
void future__report_unhandled(const future_error_t *err);

#pragma GCC visibility pop

#endif /* FUTURE_INTERNAL_H */
