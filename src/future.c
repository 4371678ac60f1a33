/*
 * The future object: creation, reference counting, settling, and the links
 * between a future and the continuations that wait for it.
 */
#include "internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif
#ifdef FUTURE__ASAN
#include <sanitizer/asan_interface.h>
#endif

unsigned int future_version(void) { return FUTURE_VERSION_HEX; }

#define FUTURE__STR2(x) #x
#define FUTURE__STR(x) FUTURE__STR2(x)
const char *future_version_string(void) {
  return FUTURE__STR(FUTURE_VERSION_MAJOR) "." FUTURE__STR(
      FUTURE_VERSION_MINOR) "." FUTURE__STR(FUTURE_VERSION_PATCH);
}

/* The pool. A link of a chain allocates a future and, usually, frees one
 * (the future its callback returned), so futures are recycled through a
 * per-loop free list and allocated in slabs: no malloc header, and no
 * malloc or free on the hot path. Slabs are released by future_loop_close.
 *
 * A new slab is handed out front to back (a bump pointer), so that its
 * memory is touched only as it is used. Slabs double in size from 4 KiB
 * to 256 KiB: a small program keeps a small footprint, and a large one
 * gets slabs big enough for malloc to map them apart from the program's
 * other allocations (a program's own million uv_timer_t handles stay as
 * densely packed as without futures, and libuv's timer heap, which walks
 * them, as fast).
 *
 * Under valgrind or AddressSanitizer the pool is bypassed and every future
 * is malloc'ed and freed on its own, so that those tools see each use after
 * free and each leak exactly; FUTURE_POOL=0 or 1 in the environment
 * overrides the choice. */

#define FUTURE__SLAB_MIN 4096           /* bytes of the first slab */
#define FUTURE__SLAB_MAX (256 * 1024)   /* bytes of the largest */
#define FUTURE__LINE 64
/* What malloc adds to a block (glibc: the chunk's size word, and the
 * previous chunk's size it may borrow). A slab asks for its size less
 * this, so that the chunk is exactly a power of two: a 256 KiB slab that
 * asked for 256 KiB and a line more would be mapped as 65 pages, and
 * every future would cost 65 bytes of memory instead of 64. */
#define FUTURE__MALLOC_OVERHEAD (2 * sizeof(size_t))

#if !FUTURE_DEBUG /* the debug build adds a magic word */
_Static_assert(sizeof(future_t) == FUTURE__LINE,
               "a future is one cache line");
#endif

/* A slab is a cache-line aligned run of futures after one line holding
 * this header. */
typedef struct future__slab_s {
  struct future__slab_s *next;
  void *block; /* what future__malloc returned */
} future__slab_t;

int future__pool_wanted(void) {
  /* FUTURE_POOL=1 or 0 decides, for instance to count instructions of the
   * real path under callgrind (make bench-callgrind). */
  const char *env = getenv("FUTURE_POOL");
  if (env != NULL && (env[0] == '0' || env[0] == '1') && env[1] == '\0')
    return env[0] == '1';
#ifdef FUTURE__ASAN
  return 0;
#elif defined(HAVE_VALGRIND_MEMCHECK_H)
  return !RUNNING_ON_VALGRIND;
#else
  return 1;
#endif
}

static int pool_refill(future__loop_t *lp) {
  size_t bytes = lp->slab_size ? lp->slab_size : FUTURE__SLAB_MIN;
  /* The header's line and the alignment's slack come out of the slab. */
  size_t n = (bytes - FUTURE__MALLOC_OVERHEAD - 2 * FUTURE__LINE + 1) /
             sizeof(future_t);
  void *block = future__malloc(bytes - FUTURE__MALLOC_OVERHEAD);
  future__slab_t *slab;
  if (block == NULL)
    return UV_ENOMEM;
  slab = (future__slab_t *)(((uintptr_t)block + FUTURE__LINE - 1) &
                            ~(uintptr_t)(FUTURE__LINE - 1));
  slab->block = block;
  slab->next = lp->slabs;
  lp->slabs = slab;
  lp->fresh = (future_t *)((char *)slab + FUTURE__LINE);
  lp->fresh_end = lp->fresh + n;
  if (bytes < FUTURE__SLAB_MAX)
    lp->slab_size = bytes * 2;
  return 0;
}

void future__pool_destroy(future__loop_t *lp) {
#if FUTURE_DEBUG
  future__debug_flush(lp); /* what it held back goes back to the slabs */
#endif
  while (lp->slabs != NULL) {
    future__slab_t *slab = lp->slabs;
    lp->slabs = slab->next;
    future__free(slab->block);
  }
  lp->pool = NULL;
  lp->fresh = lp->fresh_end = NULL;
}

future_t *future__alloc_raw(future__loop_t *lp, uint8_t kind) {
  future_t *f;
#if FUTURE_DEBUG
  future__debug_check_loop(lp, "making a future");
#endif
  if (!lp->use_pool) {
    f = future__malloc(sizeof(*f));
    if (f == NULL)
      return NULL;
  } else if (lp->pool != NULL) {
    f = lp->pool;
    lp->pool = f->next;
  } else {
    if (lp->fresh == lp->fresh_end && pool_refill(lp) != 0)
      return NULL;
    f = lp->fresh++;
  }
  *f = (future_t){.lp = lp, .refs = 1, .kind = kind};
  FUTURE__MARK_LIVE(f);
  lp->live++;
  return f;
}

future_t *future__alloc_slow(future__loop_t *lp, uint8_t kind) {
  future_t *f = future__alloc_raw(lp, kind);
  if (f != NULL && FUTURE__TRACING())
    future__trace_create(f, NULL, NULL, NULL);
  return f;
}

void future__release_memory(future__loop_t *lp, future_t *f) {
  if (lp->use_pool) {
    f->next = lp->pool;
    lp->pool = f;
  } else {
    /* A pooled future's address comes back as a future's, whose creation
     * the trace sees; malloc's may not: the trace lets go of it now. */
    if (FUTURE__TRACING())
      future__trace_forget(f);
    future__free(f);
  }
}

/* Values and errors. */

void future__holder_unref(future__holder_t *h) {
  if (h != NULL &&
      atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1) {
    if (h->dtor != NULL)
      h->dtor(h->value);
    future__free(h);
  }
}

void future__keep(future_t *f, const future_t *p) {
  future__outcome_t kept;
  future__outcome_of(&kept, p);
  if (kept.error != NULL) {
    f->u.out.ptr = kept.error;
    f->u.out.holder = NULL;
    f->flags |= FUTURE__KEPT_ERROR;
  } else {
    f->u.out.ptr = kept.value;
    f->u.out.holder = kept.holder;
  }
  f->flags |= FUTURE__STEP2;
}

void future__unkeep(future_t *f) {
  if (f->kind == FUTURE__PIPE) {
    future__pipe_drop(f);
    return;
  }
  if (f->flags & FUTURE__STEP2) {
    future__outcome_t kept = future__kept(f);
    f->flags &= (uint8_t)~(FUTURE__STEP2 | FUTURE__KEPT_ERROR);
    f->u.out.ptr = NULL;
    f->u.out.holder = NULL;
    future__outcome_release(&kept);
  }
}

void future__outcome_release(future__outcome_t *out) {
  future__holder_unref(out->holder);
  future_error_unref(out->error);
  memset(out, 0, sizeof(*out));
}

/* Freeing. A future owns the continuations waiting for it, which may own
 * theirs in turn: a chain of a million links hangs from its root. Freeing
 * uses an explicit stack threaded through `next`, never recursion. */

/* Queue the observer `w` with no parent: the drain then tells it that its
 * future went away unsettled. The waiter list's reference moves to the
 * queue. */
static void vanish(future__loop_t *lp, future_t *w) {
  w->parent = NULL;
  w->next = NULL;
  w->flags |= FUTURE__QUEUED;
  if (lp->queue_tail != NULL)
    lp->queue_tail->next = w;
  else
    lp->queue_head = w;
  lp->queue_tail = w;
  future__loop_schedule(lp);
}

void future__free_all(future_t *f) {
  future__loop_t *lp;
  future_t *stack = f;
  f->next = NULL;
  while (stack != NULL) {
    future_t *x = stack;
    future_t *w;
    stack = x->next;
    w = NULL;
    if (x->waiters != NULL) { /* open the circle: first to last */
      w = x->waiters->next;
      x->waiters->next = NULL;
      x->waiters = NULL;
    }
    while (w != NULL) {
      future_t *wn = w->next;
      w->flags &= (uint8_t)~FUTURE__WAITING;
      if (w->kind == FUTURE__SINK) {
        /* An internal observer learns, from the loop, that what it
         * watched was released unsettled and can never settle. */
        vanish(x->lp, w);
      } else if (--w->refs == 0) {
        w->next = stack;
        stack = w;
      }
      w = wn;
    }
    if (x->state == FUTURE_REJECTED) {
      future_error_t *err = x->u.out.ptr;
      /* Cancelling is deliberate, so a UV_ECANCELED nobody looked at is
       * not worth a report. */
      if (!(x->flags & FUTURE__HANDLED) &&
          future_error_code(err) != UV_ECANCELED)
        future__report_unhandled(err);
      future_error_unref(err);
    } else if (x->state == FUTURE_FULFILLED) {
      future__holder_unref(x->u.out.holder);
    } else {
      future__unkeep(x);
    }
    lp = x->lp;
    lp->live--;
#if FUTURE_DEBUG
    future__debug_bury(lp, x);
#else
    future__release_memory(lp, x);
#endif
  }
}

future_t *future_ref(future_t *f) {
  FUTURE__CHECK(f);
  if (f != NULL)
    f->refs++;
  return f;
}

void future_unref(future_t *f) {
  FUTURE__CHECK(f);
  /* A wait another thread posted may hang on this future alone once this
   * reference goes: the loop must turn once more to take it in, so that it
   * hears the future went away unsettled. */
  if (f != NULL)
    future__loop_take_in_waits_hint(f->lp);
  future__unref(f);
}

/* Settling (see future__settle): every waiting continuation moves, in
 * attachment order, to the end of the loop's run queue. Each queued
 * continuation holds a reference on this future until it has run. */
void future__settled(future_t *f) {
  future__loop_t *lp = f->lp;
  future_t *w, *first, *last;
  uint32_t n = 0;

  if (FUTURE__TRACING())
    future__trace_settled(f);
  last = f->waiters;
  if (last == NULL) {
    if (lp->waited == f)
      uv_stop(lp->loop); /* see future_wait (wait.c) */
    return;
  }
  first = last->next;
  last->next = NULL;
  f->waiters = NULL;
  for (w = first; w != NULL; w = w->next) {
    w->flags = (uint8_t)((w->flags & ~FUTURE__WAITING) | FUTURE__QUEUED);
    n++;
  }
  f->refs += n;
  if (lp->queue_tail != NULL)
    lp->queue_tail->next = first;
  else
    lp->queue_head = first;
  lp->queue_tail = last;
  future__loop_schedule(lp);
}

future_t *future__sink(future_t *f, future__sink_cb cb, void *data) {
  future_t *s = future__alloc(f->lp, FUTURE__SINK);
  if (s != NULL) {
    s->u.sink = cb;
    s->data = data;
    future__attach(f, s);
  }
  future_unref(f);
  return s;
}

/* Cycle detection: whether the pending `src` waits, through what it
 * follows, on `f`. Two walks run in step, and the first to finish alone
 * decides, so that the cost is about twice the smaller of the two sides:
 *
 *   - up from `src`, over what it waits on: the future a continuation or
 *     adoption follows, and the inputs of a combinator, map or retry.
 *     Each future is visited once (marked FUTURE__SEEN during the walk).
 *     Reaching `f` is a cycle; running out means none.
 *   - down from `f`, over what waits on it: its waiters, their waiters,
 *     and so on. Each future waits in one list at most, so this is a tree
 *     and needs no marks. Reaching `src`, or a future the up walk has
 *     marked (which `src` waits on), is a cycle; running out means none.
 *     An internal observer (a combinator's, a timeout's) does not say
 *     which future it settles, so on meeting one this walk gives up and
 *     leaves the answer to the other.
 *
 * A chain built by adopting, from either end, stays linear overall: one
 * side is always a new future with nothing behind or below it. The lists
 * live on the C stack until they outgrow it; if memory runs out, the
 * answer is "no cycle". */
#define WALK_LOCAL 32

typedef struct {
  const future_t **items;
  size_t n, cap;
  const future_t *local[WALK_LOCAL];
  int failed;
} walk_list_t;

static void walk_list_init(walk_list_t *l) {
  l->items = l->local;
  l->n = 0;
  l->cap = WALK_LOCAL;
  l->failed = 0;
}

static void walk_list_push(walk_list_t *l, const future_t *x) {
  if (l->n == l->cap) {
    size_t cap = l->cap * 2;
    const future_t **grown = future__malloc(cap * sizeof(*grown));
    if (grown == NULL) {
      l->failed = 1;
      return;
    }
    memcpy(grown, l->items, l->n * sizeof(*grown));
    if (l->items != l->local)
      future__free((void *)l->items);
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->n++] = x;
}

static void walk_list_free(walk_list_t *l) {
  if (l->items != l->local)
    future__free((void *)l->items);
}

static void walk_visit(const future_t *x, void *ctx) {
  if (x != NULL && !(x->flags & FUTURE__SEEN))
    walk_list_push(ctx, x);
}

enum { WALK_GOING, WALK_NONE, WALK_FOUND, WALK_GAVE_UP };

/* One step up: the next future `src` waits on. */
static int walk_up(walk_list_t *todo, walk_list_t *seen, const future_t *f) {
  future_t *x;
  if (todo->n == 0)
    return WALK_NONE;
  x = (future_t *)todo->items[--todo->n];
  if (x == f)
    return WALK_FOUND;
  if ((x->flags & FUTURE__SEEN) || x->state != FUTURE_PENDING)
    return WALK_GOING;
  walk_list_push(seen, x); /* listed before marked: always unmarked */
  if (seen->failed)
    return WALK_GAVE_UP;
  x->flags |= FUTURE__SEEN;
  if (x->flags & FUTURE__WAITING) {
    walk_visit(x->parent, todo);
  } else if ((x->flags & FUTURE__MACHINE) && x->data != NULL) {
    const future__machine_t *m = x->data;
    m->inputs(m, walk_visit, todo);
  }
  return todo->failed ? WALK_GAVE_UP : WALK_GOING;
}

/* One step down: the waiters of the next future that waits on `f`. */
static int walk_down(walk_list_t *below, const future_t *src) {
  const future_t *y, *w;
  if (below->n == 0)
    return WALK_NONE;
  y = below->items[--below->n];
  if (y->waiters == NULL)
    return WALK_GOING;
  w = y->waiters; /* the last; its next is the first */
  do {
    w = w->next;
    if (w == src || (w->flags & FUTURE__SEEN))
      return WALK_FOUND;
    if (w->kind == FUTURE__SINK)
      return WALK_GAVE_UP;
    walk_list_push(below, w);
  } while (w != y->waiters && !below->failed);
  return below->failed ? WALK_GAVE_UP : WALK_GOING;
}

int future__waits_on(const future_t *src, const future_t *f) {
  walk_list_t todo, seen, below;
  int up = WALK_GOING, down = WALK_GOING;
  /* The common cases answer at once: `src` follows nothing (a new future,
   * a request), or nothing waits on `f` (so nothing can lead back to it). */
  if (src != f && (f->waiters == NULL ||
                   !(src->flags & (FUTURE__WAITING | FUTURE__MACHINE))))
    return 0;
  walk_list_init(&todo);
  walk_list_init(&seen);
  walk_list_init(&below);
  walk_visit(src, &todo);
  walk_list_push(&below, f);
  while (up == WALK_GOING) {
    up = walk_up(&todo, &seen, f);
    if (down == WALK_GOING && up == WALK_GOING) {
      down = walk_down(&below, src);
      if (down == WALK_FOUND || down == WALK_NONE)
        break;
    }
  }
  for (size_t i = 0; i < seen.n; i++)
    ((future_t *)seen.items[i])->flags &= (uint8_t)~FUTURE__SEEN;
  walk_list_free(&todo);
  walk_list_free(&seen);
  walk_list_free(&below);
  return up == WALK_FOUND || down == WALK_FOUND;
}

/* Sources. */

FUTURE__HOT future_t *new_source(uv_loop_t *loop) {
  future__loop_t *lp;
  if (loop == NULL)
    return NULL;
  lp = future__loop_get(loop);
  if (lp == NULL)
    return NULL;
  return future__alloc(lp, FUTURE__SOURCE);
}

future_t *future_new(uv_loop_t *loop) {
  future_t *f = new_source(loop);
  FUTURE__CHECK(f);
  return f;
}

/* future_resolved the general way: with a destructor, while tracing,
 * with the pool empty or the loop not in this thread's cache. Not inline,
 * so that the common path below saves no registers for its calls. */
static __attribute__((noinline)) future_t *
resolved_slow(uv_loop_t *loop, void *value, future_dtor_cb dtor) {
  future_t *f = new_source(loop);
  FUTURE__CHECK(f);
  if (f == NULL) {
    if (dtor != NULL)
      dtor(value);
    return NULL;
  }
  if (dtor == NULL) {
    /* Nothing waits on a future nobody has seen yet: settling is a store. */
    f->state = FUTURE_FULFILLED;
    f->u.out.ptr = value;
    if (FUTURE__TRACING())
      future__trace_settled(f);
    return f;
  }
  future_resolve(f, value, dtor);
  return f;
}

future_t *future_resolved(uv_loop_t *loop, void *value, future_dtor_cb dtor) {
#if FUTURE_DEBUG /* every new future is checked: the slow way */
  return resolved_slow(loop, value, dtor);
#else
  future__loop_t *lp;
  future_t *f;
  /* The common case of a continuation's `return future_resolved(...)`:
   * no destructor, the loop in this thread's cache, a future in the pool
   * or the newest slab; settling it is a store, since nothing waits on a
   * future nobody has seen yet. */
  if (dtor != NULL || loop == NULL || FUTURE__TRACING() ||
      future__loop_cache.loop != loop ||
      future__loop_cache.generation !=
          atomic_load_explicit(&future__registry_generation,
                               memory_order_acquire))
    return resolved_slow(loop, value, dtor);
  lp = future__loop_cache.lp;
  f = lp->pool;
  if (f != NULL)
    lp->pool = f->next;
  else if (lp->fresh != lp->fresh_end)
    f = lp->fresh++;
  else
    return resolved_slow(loop, value, dtor);
  *f = (future_t){.lp = lp,
                  .u.out.ptr = value,
                  .refs = 1,
                  .state = FUTURE_FULFILLED,
                  .kind = FUTURE__SOURCE};
  lp->live++;
  return f;
#endif
}

future_t *future_rejected(uv_loop_t *loop, future_error_t *err) {
  future_t *f = future_new(loop);
  if (f == NULL) {
    future_error_unref(err);
    return NULL;
  }
  future_reject(f, err);
  return f;
}

/* Only a pending source that follows no other future may be settled by
 * hand; a chained future is settled by the chain. */
static int settleable(const future_t *f) {
  return f->state == FUTURE_PENDING && f->kind == FUTURE__SOURCE &&
         !(f->flags & FUTURE__REQUEST);
}

future__holder_t *future__holder_new(void *value, future_dtor_cb dtor) {
  future__holder_t *h = future__malloc(sizeof(*h));
  if (h == NULL) {
    dtor(value);
    return NULL;
  }
  atomic_init(&h->refs, 1);
  h->value = value;
  h->dtor = dtor;
  return h;
}

void *future__holder_block(future__holder_t **h, size_t size) {
  typedef struct {
    future__holder_t h;
    max_align_t value[];
  } block_t;
  block_t *b = future__malloc(sizeof(*b) + size);
  if (b == NULL)
    return NULL;
  atomic_init(&b->h.refs, 1);
  b->h.value = b->value;
  b->h.dtor = NULL; /* future__holder_unref frees the block */
  *h = &b->h;
  return b->value;
}

/* Build the outcome of a fulfilment; a value with a destructor needs a
 * holder, and failing to allocate one turns into a UV_ENOMEM error. */
int future__outcome_of_value(future__outcome_t *out, void *value,
                            future_dtor_cb dtor) {
  memset(out, 0, sizeof(*out));
  out->value = value;
  if (dtor != NULL) {
    out->holder = future__holder_new(value, dtor);
    if (out->holder == NULL) {
      out->value = NULL;
      out->error = future__error(UV_ENOMEM, "keeping a value");
      return UV_ENOMEM;
    }
  }
  return 0;
}

int future_resolve(future_t *f, void *value, future_dtor_cb dtor) {
  future__outcome_t out;
  int rc;
  FUTURE__CHECK(f);
  if (f == NULL || !settleable(f)) {
    if (dtor != NULL)
      dtor(value);
    return f == NULL ? UV_EINVAL : FUTURE_ESETTLED;
  }
  future__loop_take_in_waits_hint(f->lp);
  rc = future__outcome_of_value(&out, value, dtor);
  future__settle(f, &out);
  return rc;
}

/* Request-backed sources. */

future_t *future__source_unlisted(future__loop_t *lp,
                                  future__cancel_cb cancel, void *req) {
  future_t *f = future__alloc(lp, FUTURE__SOURCE);
  if (f == NULL)
    return NULL;
  f->u.cancel = cancel;
  f->data = req;
  f->refs = 2;
  f->flags |= FUTURE__REQUEST;
  return f;
}

future_t *future__source_new(future__loop_t *lp, future__cancel_cb cancel,
                             void *req) {
  future_t *f = future__source_unlisted(lp, cancel, req);
  if (f != NULL)
    future__loop_request_add(lp, f);
  return f;
}

void future__source_done(future_t *f, future__outcome_t *out) {
  if (f->state == FUTURE_PENDING) {
    f->u.cancel = NULL; /* the outcome takes its place */
    future__settle(f, out);
  } else {
    future__outcome_release(out);
  }
  if (f->flags & FUTURE__REQUEST)
    future__loop_request_remove(f->lp, f);
  f->flags &= (uint8_t)~FUTURE__REQUEST;
  f->data = NULL;
  future_unref(f);
}

void future__source_fulfil(future_t *f, void *value, future_dtor_cb dtor) {
  future__outcome_t out;
  future__outcome_of_value(&out, value, dtor);
  future__source_done(f, &out);
}

void future__source_fulfil_held(future_t *f, void *value,
                                future__holder_t *h) {
  future__outcome_t out = {value, h, NULL};
  future__source_done(f, &out);
}

void future__source_fail(future_t *f, future_error_t *err) {
  future__outcome_t out = {NULL, NULL, err};
  future__source_done(f, &out);
}

int future_reject(future_t *f, future_error_t *err) {
  future__outcome_t out = {NULL, NULL, err};
  FUTURE__CHECK(f);
  if (f == NULL || !settleable(f)) {
    future_error_unref(err);
    return f == NULL ? UV_EINVAL : FUTURE_ESETTLED;
  }
  future__loop_take_in_waits_hint(f->lp);
  if (out.error == NULL)
    out.error = future__error(UV_EINVAL, "future_reject with NULL error");
  future__settle(f, &out);
  return 0;
}

int future_adopt(future_t *f, future_t *src) {
  future__outcome_t out;
  FUTURE__CHECK(f);
  FUTURE__CHECK(src);
  if (f == NULL || src == NULL) {
    future_unref(src);
    return UV_EINVAL;
  }
  if (!settleable(f)) {
    future_unref(src);
    return FUTURE_ESETTLED;
  }
  if (f->lp != src->lp) {
    future_unref(src);
    return UV_EINVAL;
  }
  if (src == f || future__waits_on(src, f)) {
    /* Reject before letting go: `src` may be the last reference to `f`. */
    int rc = future_reject(f, future__error(FUTURE_ECYCLE,
                                            src == f ? "future_adopt of itself"
                                                     : "future_adopt of a "
                                                       "future that waits on "
                                                       "it"));
    future_unref(src);
    return rc;
  }
  future__loop_take_in_waits_hint(f->lp);
  if (src->state != FUTURE_PENDING) {
    src->flags |= FUTURE__HANDLED;
    future__outcome_of(&out, src);
    future__settle(f, &out);
  } else {
    /* src's waiter list takes a reference on f; the caller keeps its own. */
    f->kind = FUTURE__ADOPT;
    f->refs++;
    future__attach(src, f);
  }
  future_unref(src);
  return 0;
}

/* Accessors. */

future_state_t future_state(const future_t *f) {
  FUTURE__CHECK(f);
  return f != NULL ? (future_state_t)f->state : FUTURE_PENDING;
}

void *future_value(const future_t *f) {
  FUTURE__CHECK(f);
  return f != NULL && f->state == FUTURE_FULFILLED ? f->u.out.ptr : NULL;
}

const future_error_t *future_error(const future_t *f) {
  FUTURE__CHECK(f);
  return f != NULL ? future__error_of(f) : NULL;
}

uv_loop_t *future_loop(const future_t *f) {
  FUTURE__CHECK(f);
  return f != NULL ? f->lp->loop : NULL;
}
