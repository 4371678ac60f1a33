/*
 * Cancellation: future_cancel rejects a pending future with UV_ECANCELED,
 * asks the libuv request behind it to stop where libuv can, and walks up
 * the chain cancelling each future that nobody else consumes any more.
 */
#include "internal.h"

#include <string.h>

/* Take `f` out of the waiter list of the future it waits on. */
static void unlink_waiter(future_t *f) {
  future_t *parent = f->parent;
  future_t *last = parent->waiters, *prev = last;
  if (last == NULL)
    return;
  /* The list is circular: walk from the first waiter back to the last. */
  while (prev->next != f) {
    prev = prev->next;
    if (prev == last)
      return;
  }
  if (f->next == f)
    parent->waiters = NULL;
  else {
    prev->next = f->next;
    if (last == f)
      parent->waiters = prev;
  }
  f->next = NULL;
  f->flags &= (uint8_t)~FUTURE__WAITING;
}

/* References held by the library's own machinery (a waiter list, the run
 * queue, a request); any reference beyond these is a consumer's. */
static uint32_t machinery_refs(const future_t *f) {
  return (uint32_t)(!!(f->flags & FUTURE__WAITING) +
                    !!(f->flags & FUTURE__QUEUED) +
                    !!(f->flags & FUTURE__REQUEST));
}

/* Cancel one pending future; returns the future it was waiting on when
 * that one may now be unwanted, else NULL. */
static future_t *cancel_one(future_t *f) {
  future__outcome_t out = {NULL, NULL, NULL};
  future_t *up = NULL;
  int drop_list_ref = 0, drop_request_ref = 0;

  f->flags |= FUTURE__HANDLED;
  if (f->kind == FUTURE__SOURCE && f->u.cancel != NULL) {
    future__cancel_cb cancel = f->u.cancel;
    f->u.cancel = NULL;
    drop_request_ref = cancel(f, f->data);
  } else if (f->kind == FUTURE__TIMED) {
    /* future_delay_then's continuation: its delay goes with it, as it
     * would, unwanted, after a continuation's cancel. */
    drop_request_ref = future__timed_cancel(f);
  } else if (f->flags & FUTURE__WAITING) {
    up = f->parent;
    unlink_waiter(f);
    f->parent = NULL;
    drop_list_ref = 1;
  }
  /* A queued future stays in the queue; the drain skips it. A finally
   * step that kept its parent's outcome lets it go. */
  future__unkeep(f);
  out.error = future__error(UV_ECANCELED, "cancelled");
  future__settle(f, &out);
  if (drop_request_ref) {
    future__loop_request_remove(f->lp, f);
    f->flags &= (uint8_t)~FUTURE__REQUEST;
    f->data = NULL;
    future_unref(f);
  }
  if (drop_list_ref)
    future_unref(f);

  if (up != NULL && up->state == FUTURE_PENDING && up->waiters == NULL &&
      up->refs == machinery_refs(up))
    return up;
  return NULL;
}

int future__unwanted(const future_t *f, uint32_t held) {
  return f->state == FUTURE_PENDING && f->waiters == NULL &&
         f->refs == machinery_refs(f) + held;
}

void future__sink_move(future_t *s, future_t *to) {
  future_t *from = s->parent;
  unlink_waiter(s);
  s->parent = NULL;
  future__attach(to, s);
  if (future__unwanted(from, 0))
    future_cancel(from);
}

int future_cancel(future_t *f) {
  FUTURE__CHECK(f);
  if (f == NULL)
    return UV_EINVAL;
  if (f->state != FUTURE_PENDING)
    return FUTURE_ESETTLED;
  while (f != NULL)
    f = cancel_one(f);
  return 0;
}
