/*
 * Per-loop state: the run queue of continuations, the idle handle that
 * drains it, the async handle through which other threads reach the loop,
 * and teardown.
 *
 * The state is found from the uv_loop_t through a small process-wide
 * registry (loop->data belongs to the user), with a per-thread cache in
 * front of it. Neither handle keeps the loop alive by itself: the idle
 * handle is active only while continuations are queued, and the async
 * handle is unreferenced.
 */
#include "fiber.h"

#include <stdlib.h>
#include <string.h>

static uv_once_t registry_once = UV_ONCE_INIT;
static uv_mutex_t registry_lock;
static future__loop_t *registry;
/* Bumped whenever state is torn down, so that per-thread caches of a loop
 * whose state is gone (or whose address was reused) are not trusted. */
atomic_uint future__registry_generation;

_Thread_local future__loop_cache_t future__loop_cache
    __attribute__((tls_model("initial-exec")));

static void registry_init(void) {
  if (uv_mutex_init(&registry_lock) != 0)
    abort();
}

static void on_idle(uv_idle_t *idle) {
  future__loop_drain(idle->data);
}

/* Attach the posted waits `w` (a stack) in the order they were posted. */
static void attach_waits(future__loop_t *lp, future__waiter_t *w) {
  future__waiter_t *rev = NULL;
  while (w != NULL) {
    future__waiter_t *n = w->next;
    w->next = rev;
    rev = w;
    w = n;
  }
  while (rev != NULL) {
    future__waiter_t *n = rev->next;
    future__loop_attach_waiter(lp, rev);
    rev = n;
  }
}

/* Take in everything other threads have posted: releases first (they only
 * free), then deliveries, then waits. */
static void take_in(future__loop_t *lp) {
  future__waiter_t *w;
  future_resolver_t *settles;
  future__release_t *rel;

  uv_mutex_lock(&lp->inbox_lock);
  w = lp->inbox;
  lp->inbox = NULL;
  atomic_store_explicit(&lp->waits_posted, 0, memory_order_relaxed);
  settles = lp->settles;
  lp->settles = NULL;
  rel = lp->releases;
  lp->releases = NULL;
  uv_mutex_unlock(&lp->inbox_lock);

  while (rel != NULL) {
    future__release_t *n = rel->next;
    rel->release(rel);
    rel = n;
  }
  future__resolvers_deliver(settles);
  attach_waits(lp, w);
}

static void on_async(uv_async_t *async) { take_in(async->data); }

/* Find the state of `loop` without creating it; caller holds the lock. */
static future__loop_t *registry_find(uv_loop_t *loop) {
  future__loop_t *lp;
  for (lp = registry; lp != NULL; lp = lp->next_loop)
    if (lp->loop == loop)
      return lp;
  return NULL;
}

static future__loop_t *loop_create(uv_loop_t *loop) {
  future__loop_t *lp = future__calloc(1, sizeof(*lp));
  if (lp == NULL)
    return NULL;
  lp->loop = loop;
  lp->thread = uv_thread_self();
  future__trace_thread_loop(); /* this thread's lane is "loop N" */
  lp->use_pool = future__pool_wanted();
  if (uv_mutex_init(&lp->inbox_lock) != 0) {
    future__free(lp);
    return NULL;
  }
  if (uv_async_init(loop, &lp->async, on_async) != 0) {
    uv_mutex_destroy(&lp->inbox_lock);
    future__free(lp);
    return NULL;
  }
  uv_idle_init(loop, &lp->idle);
  lp->idle.data = lp;
  uv_timer_init(loop, &lp->delay_timer);
  lp->delay_timer.data = lp;
  /* The loop's reference keeps it: it is never freed, and not counted. */
  lp->fired = (future_t){.lp = lp,
                         .refs = 1,
                         .state = FUTURE_FULFILLED,
                         .kind = FUTURE__SOURCE,
                         .flags = FUTURE__HANDLED};
  FUTURE__MARK_LIVE(&lp->fired);
  lp->async.data = lp;
  uv_unref((uv_handle_t *)&lp->async);
  return lp;
}

future__loop_t *future__loop_find(uv_loop_t *loop) {
  unsigned gen;
  future__loop_t *lp;

  uv_once(&registry_once, registry_init);
  future__trace_setup(); /* FUTURE_TRACE in the environment */
  uv_mutex_lock(&registry_lock);
  lp = registry_find(loop);
  if (lp == NULL) {
    lp = loop_create(loop);
    if (lp != NULL) {
      lp->next_loop = registry;
      registry = lp;
    }
  }
  gen = atomic_load_explicit(&future__registry_generation, memory_order_acquire);
  uv_mutex_unlock(&registry_lock);
  if (lp != NULL) {
    future__loop_cache.loop = loop;
    future__loop_cache.lp = lp;
    future__loop_cache.generation = gen;
  }
  return lp;
}

/* Request-backed futures in flight, so that teardown can cancel them. A
 * source never waits on anything, so its next and parent links are free
 * for this list while its request runs. */
void future__loop_request_add(future__loop_t *lp, future_t *f) {
  f->parent = NULL;
  f->next = lp->requests;
  if (lp->requests != NULL)
    lp->requests->parent = f;
  lp->requests = f;
  lp->nrequests++;
}

void future__loop_request_remove(future__loop_t *lp, future_t *f) {
  if (f->parent == NULL && lp->requests != f)
    return; /* not listed: future__source_unlisted */
  if (f->parent != NULL)
    f->parent->next = f->next;
  else
    lp->requests = f->next;
  if (f->next != NULL)
    f->next->parent = f->parent;
  f->next = f->parent = NULL;
  lp->nrequests--;
}

/* Cancel every pending request-backed future. They are first gathered,
 * each with a reference, since a cancel hook may finish others (a
 * timeout cancels what it watches). */
static void cancel_requests(future__loop_t *lp) {
  size_t n = 0, i;
  future_t **all, *f;
  if (lp->nrequests == 0)
    return;
  all = future__malloc(lp->nrequests * sizeof(*all));
  if (all == NULL) { /* one at a time, from the head, then */
    for (f = lp->requests; f != NULL;) {
      if (f->state == FUTURE_PENDING) {
        future_cancel(f);
        f = lp->requests;
      } else {
        f = f->next;
      }
    }
    return;
  }
  for (f = lp->requests; f != NULL; f = f->next)
    all[n++] = future_ref(f);
  for (i = 0; i < n; i++) {
    if (all[i]->state == FUTURE_PENDING)
      future_cancel(all[i]);
    future_unref(all[i]);
  }
  future__free(all);
}

/* Whether any loop has library state now. */
int future__loop_any(void) {
  int any;
  uv_once(&registry_once, registry_init);
  uv_mutex_lock(&registry_lock);
  any = registry != NULL;
  uv_mutex_unlock(&registry_lock);
  return any;
}

static future__loop_t *loop_lookup(uv_loop_t *loop) {
  future__loop_t *lp;
  uv_once(&registry_once, registry_init);
  uv_mutex_lock(&registry_lock);
  lp = registry_find(loop);
  uv_mutex_unlock(&registry_lock);
  return lp;
}

/* The loop's handles were closed behind the library's back: a program
 * that ends with uv_walk closing every handle closes these three too.
 * From then on nothing of the library's runs from the loop by itself:
 * future_wait and future_loop_close run the queue themselves (see
 * future__loop_run_orphaned), and delays never fire. Only idle is asked:
 * a walk closes all three at once, and future_loop_close is the only
 * other closer, after which the state is gone. */
int future__loop_orphaned(const future__loop_t *lp) {
  return uv_is_closing((const uv_handle_t *)&lp->idle);
}

void future__loop_wake(future__loop_t *lp) {
  if (!uv_is_active((uv_handle_t *)&lp->idle) && !future__loop_orphaned(lp))
    uv_idle_start(&lp->idle, on_idle);
}

int future__loop_run_orphaned(future__loop_t *lp) {
  if (!future__loop_orphaned(lp))
    return 0;
  take_in(lp);
  future__loop_drain(lp);
  return 1;
}

int future_loop_owns_handle(const uv_handle_t *handle) {
  future__loop_t *lp;
  const future__handle_t *op;
  const uv_handle_t *h = handle;
  if (handle == NULL || handle->loop == NULL)
    return 0;
  lp = loop_lookup(handle->loop);
  if (lp == NULL)
    return 0;
  FUTURE__CHECK_LOOP(lp); /* the list of handles is the loop thread's */
  if (h == (const uv_handle_t *)&lp->idle ||
      h == (const uv_handle_t *)&lp->async ||
      h == (const uv_handle_t *)&lp->delay_timer)
    return 1;
  for (op = lp->handles; op != NULL; op = op->next)
    if (op->handle == h)
      return 1;
  return 0;
}

/* The operations' handles. */

static void handle_unlink(future__loop_t *lp, future__handle_t *h) {
  if (h->prev != NULL)
    h->prev->next = h->next;
  else
    lp->handles = h->next;
  if (h->next != NULL)
    h->next->prev = h->prev;
}

/* The block goes: its finalize hook, or free. */
static void block_release(future__handle_t *block) {
  if (block->finalize != NULL)
    block->finalize(block);
  else
    future__free(block);
}

/* `h` leaves the list; its block goes with the last of its handles. */
static void handle_drop(future__handle_t *h) {
  future__handle_t *block = h->block;
  handle_unlink(h->lp, h);
  if (--block->listed == 0)
    block_release(block);
}

static void handle_closed(uv_handle_t *handle) {
  future__handle_t *h = handle->data;
  if (h->closed != NULL)
    h->closed(h);
  handle_drop(h);
}

static void handle_close(future__handle_t *h) {
  if (uv_is_closing(h->handle))
    return; /* a walk closed it, with a close callback not ours */
  h->closed_by_us = 1;
  uv_close(h->handle, handle_closed);
}

void future__handle_close(future__handle_t *h) { handle_close(h); }

future_t *future__handle_finish(future__handle_t *h) {
  future_t *f = h->f;
  h->f = NULL;
  handle_close(h);
  return f;
}

static int handle_cancel(future_t *f, void *req) {
  (void)f;
  /* The canceller settles the future and drops the operation's reference. */
  future__handle_finish(req);
  return 1;
}

void future__handle_list(future__loop_t *lp, future__handle_t *block,
                         future__handle_t *h, uv_handle_t *handle) {
  h->handle = handle;
  h->lp = lp;
  h->closed_by_us = 0;
  h->closed = NULL;
  h->block = block;
  block->listed++;
  h->prev = NULL;
  h->next = lp->handles;
  if (lp->handles != NULL)
    lp->handles->prev = h;
  lp->handles = h;
  handle->data = h;
}

future_t *future__handle_source(future__loop_t *lp, future__handle_t *h,
                                uv_handle_t *handle) {
  future__handle_list(lp, h, h, handle);
  h->f = future__source_new(lp, handle_cancel, h);
  if (h->f == NULL)
    handle_close(h);
  return h->f;
}

/* Whether `h` is still among the loop's handles: a closed handle leaves
 * them once libuv has finished closing it. */
typedef struct {
  const uv_handle_t *target;
  int found;
} handle_search_t;

static void handle_seen(uv_handle_t *h, void *arg) {
  handle_search_t *s = arg;
  if (h == s->target)
    s->found = 1;
}

static int handle_registered(uv_loop_t *loop, const uv_handle_t *h) {
  handle_search_t s = {h, 0};
  uv_walk(loop, handle_seen, &s);
  return s.found;
}

/* Teardown: every operation's handle is closed by now (their futures were
 * cancelled); wait for the closes, then release the ones somebody else
 * closed, whose close callbacks were not ours, once libuv has finished
 * closing them (a file-poll watcher finishes only when its stat in the
 * thread pool comes back). */
static void handles_finish(future__loop_t *lp) {
  future__handle_t *h, *next;
  int ours;
  for (;;) {
    ours = 0;
    for (h = lp->handles; h != NULL; h = h->next) {
      handle_close(h); /* none should be open by now */
      if (h->closed_by_us)
        ours = 1;
    }
    if (!ours)
      break;
    uv_run(lp->loop, UV_RUN_NOWAIT); /* our close callbacks unlink them */
  }
  for (h = lp->handles; h != NULL; h = h->next)
    while (handle_registered(lp->loop, h->handle))
      uv_run(lp->loop, UV_RUN_ONCE); /* a walk's close under way finishes */
  /* A block goes with the last of its handles, after every other entry
   * in it has been passed. */
  for (h = lp->handles; h != NULL; h = next) {
    next = h->next;
    if (--h->block->listed == 0)
      block_release(h->block);
  }
  lp->handles = NULL;
}

int future__loop_on_thread(const future__loop_t *lp) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &lp->thread);
}

/* Posts from other threads (see internal.h): link under the lock, then
 * wake the loop before letting go of the lock. uv_async_send is the last
 * touch of the loop's state, and future_loop_close takes the lock before
 * it frees that state. */
static void post_wake_unlock(future__loop_t *lp) {
  FUTURE__RACE_WINDOW();
  uv_async_send(&lp->async);
  uv_mutex_unlock(&lp->inbox_lock);
}

void future__loop_post_waiter(future__loop_t *lp, future__waiter_t *w) {
  uv_mutex_lock(&lp->inbox_lock);
  w->next = lp->inbox;
  lp->inbox = w;
  atomic_store_explicit(&lp->waits_posted, 1, memory_order_relaxed);
  post_wake_unlock(lp);
}

void future__loop_post_settle(future__loop_t *lp, future_resolver_t *r) {
  uv_mutex_lock(&lp->inbox_lock);
  r->next = lp->settles;
  lp->settles = r;
  post_wake_unlock(lp);
}

void future__loop_post_release(future__loop_t *lp, future__release_t *rel) {
  uv_mutex_lock(&lp->inbox_lock);
  rel->next = lp->releases;
  lp->releases = rel;
  post_wake_unlock(lp);
}

/* An outstanding resolver, or a wait from another thread that the loop has
 * taken in, keeps the loop alive, so that the loop is still running when
 * the other thread delivers, or when the waited future settles. */
void future__loop_hold(future__loop_t *lp) {
  if (lp->holds++ == 0)
    uv_ref((uv_handle_t *)&lp->async);
}

void future__loop_unhold(future__loop_t *lp) {
  if (--lp->holds == 0)
    uv_unref((uv_handle_t *)&lp->async);
}

void future__loop_resolver_opened(future__loop_t *lp) {
  lp->resolvers++;
  future__loop_hold(lp);
}

void future__loop_resolver_closed(future__loop_t *lp) {
  lp->resolvers--;
  future__loop_unhold(lp);
}

size_t future_loop_live(uv_loop_t *loop) {
  future__loop_t *lp = loop != NULL ? loop_lookup(loop) : NULL;
  if (lp != NULL)
    FUTURE__CHECK_LOOP(lp);
  return lp != NULL ? lp->live : 0;
}

static void on_close(uv_handle_t *handle) {
  future__loop_t *lp = handle->data;
  lp->closing--;
}

/* Close one of the loop's handles, unless somebody else already has
 * (uv_close on a closing handle aborts inside libuv). */
static void close_own(future__loop_t *lp, uv_handle_t *handle) {
  if (uv_is_closing(handle))
    return;
  lp->closing++;
  uv_close(handle, on_close);
}

int future_loop_close(uv_loop_t *loop) {
  future__loop_t *lp;
  int orphaned;

  if (loop == NULL)
    return UV_EINVAL;
  lp = loop_lookup(loop);
  if (lp == NULL)
    return 0;
  FUTURE__CHECK_LOOP(lp);
  if (lp->in_callback || lp->draining)
    return FUTURE_EINCALLBACK;

  /* Waits posted by other threads become continuations, and everything
   * already queued runs. Then every request still in flight is cancelled,
   * and the loop runs until libuv has handed each one back (a resolver's
   * delivery is another thread's to make: that one is not waited for).
   * Only then do we decide whether anything is left. */
  take_in(lp);
  future__loop_drain(lp);
  future__delay_cancel_all(lp);
  cancel_requests(lp);
  future__async_cancel_all(lp);
  future__loop_drain(lp);
  while (lp->nrequests > lp->resolvers) {
    uv_run(loop, UV_RUN_ONCE);
    take_in(lp);
    future__loop_drain(lp);
  }
  /* A callback may have kept the future a delay gave it (`fired`). */
  if (lp->live > 0 || lp->objects > 0 || lp->fired.refs > 1)
    return UV_EBUSY;

  handles_finish(lp);

  /* No future is left, so no other thread can post any more (a post keeps
   * a future alive until it is taken in). One may still be inside its
   * wake-up call: taking the lock waits for it to leave. */
  uv_mutex_lock(&lp->inbox_lock);
  uv_mutex_unlock(&lp->inbox_lock);

  uv_mutex_lock(&registry_lock);
  {
    future__loop_t **pp = &registry;
    while (*pp != lp)
      pp = &(*pp)->next_loop;
    *pp = lp->next_loop;
  }
  atomic_fetch_add_explicit(&future__registry_generation, 1, memory_order_acq_rel);
  uv_mutex_unlock(&registry_lock);

  /* A handle closed behind our back may not have finished closing (the
   * loop has not run since the walk): one turn of the loop finishes every
   * close under way, before the memory goes. */
  orphaned = future__loop_orphaned(lp);
  lp->closing = 0;
  close_own(lp, (uv_handle_t *)&lp->delay_timer);
  close_own(lp, (uv_handle_t *)&lp->idle);
  close_own(lp, (uv_handle_t *)&lp->async);
  if (orphaned)
    uv_run(loop, UV_RUN_NOWAIT);
  while (lp->closing > 0)
    uv_run(loop, UV_RUN_NOWAIT);
  uv_mutex_destroy(&lp->inbox_lock);
  /* No future is left, so the heap of delays has no entry; but a delay
   * made during this call (by a cancelled fiber, say) may have allocated
   * it again. */
  future__free(lp->delays);
  future__free(lp->wheel);
  future__stack_pool_destroy(lp);
  future__pool_destroy(lp);
  future__free(lp);
  return 0;
}
