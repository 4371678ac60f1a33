/*
 * future_async and future_await: code that reads top to bottom, on a fiber
 * that the loop runs (fiber.c has the stacks and the switch).
 *
 * A fiber is started and resumed by internal observers (sinks) that run
 * from the loop's run queue, like any continuation: the start observes a
 * settled future, so it runs at the next drain; an await observes the
 * awaited future, so the fiber goes on once that future has settled and
 * its turn in the queue has come. Between the two, the fiber's stack is
 * simply left where it stopped. Fibers are thus only ever switched to
 * from the loop's own stack, one at a time, on the loop's thread.
 *
 * The fiber's future is a source with a cancel hook (a request, for
 * future_cancel and future_loop_close) and a machine whose input is the
 * future it awaits, so that the cycle check sees through fibers: a fiber
 * awaiting a fiber that awaits it is refused, not a silent deadlock.
 */
#include "fiber.h"

#include <stddef.h>
#include <string.h>

enum async_state {
  ASYNC_STARTING,  /* queued to start: `sink` observes a settled future */
  ASYNC_RUNNING,   /* on its stack now */
  ASYNC_SUSPENDED, /* in future_await: `sink` observes the awaited future */
  ASYNC_RETURNED,  /* fn has returned: its stack is let go of next */
  ASYNC_FOLLOWING  /* fn returned a pending future: `sink` observes it */
};

typedef struct future__async_s {
  future__machine_t machine; /* first: the future's data points here */
  future__fiber_t fiber;
  future__loop_t *lp;
  uv_loop_t *loop;
  future_async_fn fn;
  void *arg;
  const char *name;
  future_t *self;            /* the fiber's future (the request's reference) */
  future_t *wake;            /* its observer, made once, attached anew for
                                each wait (the record holds a reference) */
  future_t *sink;            /* `wake` while attached, else NULL */
  future_t *ret;             /* what fn returned */
  future_result_t *result;   /* where the await in progress puts its outcome */
  struct future__async_s *prev, *next; /* the loop's fibers */
  unsigned depth; /* the loop's callback depth the fiber's code runs at */
  uint8_t state;
  uint8_t cancelled; /* the cancel, not yet handed to an await */
  uint8_t wake_cancelled; /* `sink` delivers the cancel, not its outcome */
} async_t;

static async_t *of_fiber(future__fiber_t *fb) {
  return (async_t *)(void *)((char *)fb - offsetof(async_t, fiber));
}

/* The fiber waits for `f` (whose reference this takes over): its observer
 * runs `cb` from the run queue once `f` has settled. The same observer
 * serves every wait, so that an await allocates nothing. */
static void wake_on(async_t *a, future_t *f, future__sink_cb cb) {
  future_t *w = a->wake;
  w->u.sink = cb;
  w->refs++; /* the waiter list's, or the run queue's */
  future__attach(f, w);
  future__loop_take_in_waits_hint(a->lp); /* as future_unref would */
  future__unref(f);
  a->sink = w;
}

/* The fiber's future is done with: settle it (unless cancelled, which
 * settled it already: then `out` is released), and free the record. The
 * stack has been let go of already. */
static void finish(async_t *a, future__outcome_t *out) {
  future__loop_t *lp = a->lp;
  if (a->prev != NULL)
    a->prev->next = a->next;
  else
    lp->fibers = a->next;
  if (a->next != NULL)
    a->next->prev = a->prev;
  future__source_done(a->self, out);
  future__unref(a->wake);
  future__free(a);
}

static void finish_error(async_t *a, int code, const char *msg) {
  future__outcome_t out = {NULL, NULL, NULL};
  out.error = future_error_new_at(__FILE__, __LINE__, "future_async", code,
                                  NULL, "%s", msg);
  finish(a, &out);
}

static void follow_settled(future_t *settled, void *data);

/* fn has returned `a->ret`, and its stack is free: the fiber's future
 * takes the outcome of what it returned, now or once that settles. */
static void returned(async_t *a) {
  future_t *r = a->ret;
  future__outcome_t out = {NULL, NULL, NULL};
  a->ret = NULL;
  future__fiber_release(a->lp, &a->fiber);
  if (a->self->state != FUTURE_PENDING) {
    /* Cancelled: what it returned is not wanted, an error included. */
    if (r != NULL) {
      r->flags |= FUTURE__HANDLED;
      if (future__unwanted(r, 1))
        future_cancel(r);
    }
    future_unref(r);
    finish(a, &out);
  } else if (r == NULL) {
    finish_error(a, UV_ENOMEM, "a fiber's function returned NULL, not a "
                               "future");
  } else if (r->lp != a->lp) {
    future_unref(r);
    finish_error(a, UV_EINVAL, "a fiber's function returned a future of "
                               "another loop");
  } else if (r == a->self ||
             (r->state == FUTURE_PENDING && future__waits_on(r, a->self))) {
    r->flags |= FUTURE__HANDLED;
    future_unref(r);
    finish_error(a, FUTURE_ECYCLE, "a fiber's function returned a future "
                                   "that waits on the fiber itself");
  } else if (r->state != FUTURE_PENDING) {
    r->flags |= FUTURE__HANDLED;
    future__outcome_of(&out, r);
    future_unref(r);
    finish(a, &out);
  } else {
    a->state = ASYNC_FOLLOWING;
    wake_on(a, r, follow_settled);
  }
}

/* Run the fiber until it awaits or returns. */
static void resume(async_t *a) {
  uint64_t t0 = FUTURE__TRACING() ? uv_hrtime() : 0;
  a->state = ASYNC_RUNNING;
  a->depth = a->lp->in_callback;
  future__fiber_resume(&a->fiber);
  if (t0 != 0)
    future__trace('X', a->name, a->self, t0, uv_hrtime() - t0);
  if (a->state == ASYNC_RETURNED)
    returned(a);
}

static void follow_settled(future_t *settled, void *data) {
  async_t *a = data;
  future__outcome_t out = {NULL, NULL, NULL};
  a->sink = NULL;
  if (a->wake_cancelled || a->self->state != FUTURE_PENDING) {
    finish(a, &out); /* cancelled: settled already */
  } else if (settled == NULL) {
    finish_error(a, FUTURE_ESTALLED, "the future a fiber's function "
                                     "returned was released unsettled");
  } else {
    future__outcome_of(&out, settled);
    finish(a, &out);
  }
}

static void started(future_t *settled, void *data) {
  async_t *a = data;
  future__outcome_t none = {NULL, NULL, NULL};
  (void)settled;
  a->sink = NULL;
  if (a->cancelled) {
    /* Cancelled before it started: fn never runs. */
    future__fiber_release(a->lp, &a->fiber);
    finish(a, &none);
    return;
  }
  resume(a);
}

/* Runs on the fiber: the whole of its life. */
static void fiber_body(future__fiber_t *fb) {
  async_t *a = of_fiber(fb);
  a->ret = a->fn(a->loop, a->arg);
  a->state = ASYNC_RETURNED;
}

/* The fiber's future is cancelled (it is rejected right after this): the
 * fiber learns it at its await. A fiber waiting on a future stops waiting
 * on it (which cancels that future if nothing else wants it): its
 * observer moves over to the fiber's own future, which is about to
 * reject, and so wakes the fiber with the cancel. The fiber goes on, and
 * finishes later: 0, the request still holds the future. */
static int async_cancel(future_t *self, void *req) {
  async_t *a = req;
  a->cancelled = 1;
  if ((a->state == ASYNC_SUSPENDED || a->state == ASYNC_FOLLOWING) &&
      a->sink != NULL) {
    a->wake_cancelled = 1;
    /* Queued already (what it awaited has settled): it will run soon,
     * and deliver the cancel in place of that outcome. */
    if (a->sink->flags & FUTURE__WAITING)
      future__sink_move(a->sink, self);
  }
  return 0;
}

/* For the cycle check: a fiber waits on what it awaits. */
static void async_inputs(const future__machine_t *m, future__visit_cb visit,
                         void *ctx) {
  const async_t *a = (const async_t *)m;
  if (a->sink != NULL && (a->sink->flags & FUTURE__WAITING))
    visit(a->sink->parent, ctx);
}

future_t *future_async(uv_loop_t *loop, future_async_fn fn, void *arg,
                       const future_async_options_t *options) {
  future_async_options_t defaults = {0, NULL, 0};
  future__loop_t *lp;
  async_t *a;
  future_t *self;
  int rc;
  if (loop == NULL || fn == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  FUTURE__CHECK_LOOP(lp);
  if (options == NULL)
    options = &defaults;
  a = future__calloc(1, sizeof(*a));
  if (a == NULL)
    return NULL;
  a->wake = future__alloc(lp, FUTURE__SINK);
  if (a->wake == NULL) {
    future__free(a);
    return NULL;
  }
  a->wake->data = a;
  self = future__source_unlisted(lp, async_cancel, a);
  if (self == NULL) {
    future__unref(a->wake);
    future__free(a);
    return NULL;
  }
  a->machine.inputs = async_inputs;
  self->flags |= FUTURE__MACHINE;
  a->lp = lp;
  a->loop = loop;
  a->fn = fn;
  a->arg = arg;
  a->name = options->name != NULL ? options->name : "fiber";
  a->self = self;
  FUTURE__TRACE_REQUEST(self, "async %s", a->name);
  a->state = ASYNC_STARTING;
  rc = future__fiber_init(lp, &a->fiber, options->stack_size, options->flags,
                          fiber_body);
  if (rc != 0) {
    future__outcome_t out = {NULL, NULL, NULL};
    out.error = future_error_new_at(
        __FILE__, __LINE__, "future_async", rc, NULL,
        "future_async: cannot map a stack of %zu bytes (out of memory, or "
        "of memory mappings: see vm.max_map_count)",
        options->stack_size != 0 ? options->stack_size
                                 : (size_t)FUTURE_ASYNC_STACK_DEFAULT);
    future__source_done(self, &out); /* drops the request's reference */
    future__unref(a->wake);
    future__free(a);
    return self;
  }
  /* Start from the run queue: the observer queued with nothing to watch,
   * as one whose future vanished is, runs `started` at the next drain. */
  a->wake->u.sink = started;
  a->wake->refs++;
  a->wake->parent = NULL;
  future__enqueue(a->wake);
  a->sink = a->wake;
  a->next = lp->fibers;
  if (lp->fibers != NULL)
    lp->fibers->prev = a;
  lp->fibers = a;
  return self;
}

/* A macro, so that the error's origin is the line that failed. */
#define await_fail(result, code, msg)                                          \
  do {                                                                         \
    (result)->error = future__error((code), (msg));                            \
    /* The error's code: UV_ENOMEM when even the error could not be had. */   \
    (result)->status = future_error_code((result)->error);                     \
  } while (0)

/* The outcome of the settled `f` into `result`. When the caller's is the
 * only reference, nothing else sees `f`: the outcome moves, and
 * releasing the result in the fiber lets the value go at once (not when
 * `f` goes). */
static void take_outcome(future_result_t *result, future_t *f) {
  future__outcome_t out;
  if (f->refs == 1) {
    out = future__outcome_peek(f);
    f->state = FUTURE_FULFILLED;
    f->u.out.ptr = NULL;
    f->u.out.holder = NULL;
  } else {
    future__outcome_of(&out, f);
  }
  result->value = out.value;
  result->reserved_holder = out.holder;
  result->error = out.error;
  result->status = out.error != NULL ? future_error_code(out.error) : 0;
}

static void await_settled(future_t *settled, void *data) {
  async_t *a = data;
  future_result_t *result = a->result;
  a->sink = NULL;
  a->result = NULL;
  if (a->wake_cancelled) {
    a->wake_cancelled = 0;
    a->cancelled = 0; /* handed over: later awaits work as usual */
    await_fail(result, UV_ECANCELED,
               "future_await: the fiber's future was cancelled");
  } else if (settled == NULL) {
    await_fail(result, FUTURE_ESTALLED,
               "future_await: the future was released unsettled; nothing "
               "can settle it");
  } else {
    take_outcome(result, settled);
  }
  resume(a);
}

int future_await(future_t *f, future_result_t *result) {
  future_result_t ignored;
  future__fiber_t *fb = future__fiber_current();
  async_t *a;
  int status;
  FUTURE__CHECK(f);
  if (result == NULL)
    result = &ignored;
  memset(result, 0, sizeof(*result));
  if (f == NULL) {
    await_fail(result, UV_EINVAL, "future_await on a NULL future");
  } else if (fb == NULL) {
    future_unref(f);
    await_fail(result, FUTURE_ENOTFIBER,
               "future_await outside a fiber: only a fiber started by "
               "future_async can be put aside (use future_wait to block, "
               "or return the future from a continuation)");
  } else if (a = of_fiber(fb), f->lp != a->lp) {
    future_unref(f);
    await_fail(result, UV_EINVAL,
               "future_await on a future of another loop than the fiber's");
  } else if (a->lp->in_callback != a->depth) {
    /* In a callback that the library runs on the fiber's stack (a map's
     * factory, called by future_map inside the fiber): suspending there
     * would suspend the library's call around it too. */
    future_unref(f);
    await_fail(result, FUTURE_EINCALLBACK,
               "future_await inside a callback that the library runs for "
               "the fiber: return the future from the callback instead");
  } else if (a->cancelled) {
    /* Cancelled while it ran: this await is the one that learns it. What
     * it would have awaited goes, cancelled if nothing else wants it. */
    a->cancelled = 0;
    f->flags |= FUTURE__HANDLED;
    if (future__unwanted(f, 1))
      future_cancel(f);
    future_unref(f);
    await_fail(result, UV_ECANCELED,
               "future_await: the fiber's future was cancelled");
  } else if (f == a->self ||
             (f->state == FUTURE_PENDING &&
              a->self->state == FUTURE_PENDING &&
              future__waits_on(f, a->self))) {
    f->flags |= FUTURE__HANDLED;
    future_unref(f);
    await_fail(result, FUTURE_ECYCLE,
               "future_await on a future that waits on the fiber itself");
  } else if (f->state != FUTURE_PENDING && a->lp->queue_head == NULL) {
    /* Settled, and nothing waits in the run queue: through the queue, the
     * fiber would be resumed before anything else could run, so the await
     * takes the outcome at once, without switching. (With anything
     * queued, it goes through the queue, behind what was there.) */
    f->flags |= FUTURE__HANDLED;
    take_outcome(result, f);
    future__loop_take_in_waits_hint(a->lp); /* as future_unref would */
    future__unref(f);
  } else {
    a->result = result;
    wake_on(a, f, await_settled);
    a->state = ASYNC_SUSPENDED;
    future__fiber_suspend(fb);
    /* Resumed by await_settled, which filled *result in. */
  }
  status = result->status;
  if (result == &ignored)
    future_result_release(&ignored);
  return status;
}

int future_in_fiber(void) {
  future__fiber_t *fb = future__fiber_current();
  return fb != NULL && of_fiber(fb)->lp->in_callback == of_fiber(fb)->depth;
}

void future__async_cancel_all(future__loop_t *lp) {
  async_t *a;
  for (a = lp->fibers; a != NULL; a = a->next)
    if (a->self->state == FUTURE_PENDING)
      future_cancel(a->self);
}
