/*
 * Settling a future from any thread. A resolver carries the outcome to the
 * loop's thread through the loop's inbox and its async handle; libuv
 * coalesces async wakeups, so the inbox, not the wakeup, is what ensures
 * that no delivery is lost.
 */
#include "internal.h"

#include <stdlib.h>

static int resolver_no_cancel(future_t *f, void *req) {
  /* Nothing to stop: the other thread delivers whenever it does, and the
   * delivery is then released. */
  (void)f;
  (void)req;
  return 0;
}

future_t *future_new_threadsafe(uv_loop_t *loop,
                                future_resolver_t **resolver) {
  future__loop_t *lp;
  future_resolver_t *r;
  if (resolver == NULL)
    return NULL;
  *resolver = NULL;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  r = future__calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
#if FUTURE_DEBUG
  r->magic = FUTURE__MAGIC_LIVE;
#endif
  r->f = future__source_new(lp, resolver_no_cancel, r);
  if (r->f == NULL) {
    future__free(r);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(r->f, "resolver");
  future__loop_resolver_opened(lp);
  *resolver = r;
  return r->f;
}

/* The resolver's future is alive until the loop's thread has taken the
 * delivery in (the request's reference), so the loop's state is too while
 * we post (see future__loop_post_settle). */
static void deliver(future_resolver_t *r, future__outcome_t *out) {
  r->out = *out;
  future__loop_post_settle(r->f->lp, r);
}

int future_resolver_resolve(future_resolver_t *r, void *value,
                            future_dtor_cb dtor) {
  future__outcome_t out;
#if FUTURE_DEBUG
  if (r != NULL)
    future__debug_use_resolver(r, __func__);
#endif
  if (r == NULL) {
    if (dtor != NULL)
      dtor(value);
    return UV_EINVAL;
  }
  future__outcome_of_value(&out, value, dtor);
  deliver(r, &out);
  return 0;
}

int future_resolver_reject(future_resolver_t *r, future_error_t *err) {
  future__outcome_t out = {NULL, NULL, err};
#if FUTURE_DEBUG
  if (r != NULL)
    future__debug_use_resolver(r, __func__);
#endif
  if (r == NULL) {
    future_error_unref(err);
    return UV_EINVAL;
  }
  if (err == NULL)
    out.error = future__error(UV_EINVAL, "future_resolver_reject: NULL error");
  deliver(r, &out);
  return 0;
}

/* On the loop's thread, from the async callback. The inbox is a stack;
 * reversing it settles in delivery order. */
void future__resolvers_deliver(future_resolver_t *list) {
  future_resolver_t *oldest = NULL;
  while (list != NULL) {
    future_resolver_t *n = list->next;
    list->next = oldest;
    oldest = list;
    list = n;
  }
  while (oldest != NULL) {
    future_resolver_t *n = oldest->next;
    future__loop_t *lp = oldest->f->lp;
    future__source_done(oldest->f, &oldest->out);
#if FUTURE_DEBUG
    future__debug_bury_resolver(lp, oldest);
#else
    future__free(oldest);
#endif
    future__loop_resolver_closed(lp);
    oldest = n;
  }
}
