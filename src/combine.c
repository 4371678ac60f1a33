/*
 * Composition of several futures into one: all, all_settled, any, race.
 *
 * Each input gets an internal observer (a sink). When the combined future
 * is decided, the sinks still waiting are detached at once, and each input
 * that nothing else consumes is cancelled (future_cancel's rule), so that
 * losers neither leak nor keep working for nobody.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef enum { ALL, ALL_SETTLED, ANY, RACE } combine_mode_t;

struct combine_s;

/* The combinator holds no reference on a pending input: the input owns
 * its observer (sink), so an input that nobody else holds is released as
 * usual, and the observer hears of it (with NULL). `sink` points to the
 * observer until its callback runs or we cancel it; `input` is our
 * reference to the input once it has settled. */
typedef struct {
  struct combine_s *c;
  future_t *input;
  future_t *sink;
} slot_t;

typedef struct combine_s {
  future__machine_t machine; /* first: see future__waits_on */
  future_t *result; /* NULL once decided */
  combine_mode_t mode;
  size_t n;
  size_t remaining;
  slot_t slots[];
} combine_t;

/* A list value (future_all, future_all_settled, future_map) holds futures
 * of the loop, whose reference counts only the loop's thread may touch.
 * The list itself may be released on any thread (a future_result_t can
 * be): on another thread, letting go of the items is posted to the loop's
 * thread, which takes it in the next time it runs the loop or tears it
 * down (future_loop_close). Until then the items keep the loop's state
 * alive, so the post is always taken in. */
typedef struct {
  future_list_t list;        /* first: the value handed out */
  future__release_t release; /* the post, on another thread */
  future__loop_t *lp;        /* the items' loop; NULL for no items */
} list_box_t;

static void list_items_release(future__release_t *rel) {
  list_box_t *box =
      (list_box_t *)((char *)rel - offsetof(list_box_t, release));
  for (size_t i = 0; i < box->list.count; i++)
    future_unref(box->list.items[i]);
  future__free(box);
}

static void list_free(void *value) {
  list_box_t *box = value;
  if (box->lp == NULL || future__loop_on_thread(box->lp))
    list_items_release(&box->release);
  else
    future__loop_post_release(box->lp, &box->release);
}

/* A list value holding `n` references taken over from `items` (the array
 * itself is copied; on failure the references are released). */
int future__list_outcome(future__outcome_t *out, future_t **items, size_t n) {
  list_box_t *box = future__malloc(sizeof(*box) + n * sizeof(future_t *));
  future_list_t *list;
  memset(out, 0, sizeof(*out));
  if (box == NULL) {
    for (size_t i = 0; i < n; i++)
      future_unref(items[i]);
    out->error = future__error(UV_ENOMEM, "building a list of results");
    return UV_ENOMEM;
  }
  list = &box->list;
  box->release.release = list_items_release;
  box->lp = n > 0 ? items[0]->lp : NULL;
  list->count = n;
  list->items = (future_t **)(box + 1);
  if (n > 0)
    memcpy(list->items, items, n * sizeof(future_t *));
  out->value = list;
  out->holder = future__holder_new(list, list_free);
  if (out->holder == NULL) {
    out->value = NULL;
    out->error = future__error(UV_ENOMEM, "building a list of results");
    return UV_ENOMEM;
  }
  return 0;
}

/* Stop observing every input still pending; future_cancel's rule then
 * cancels the inputs that nothing else wants. */
static void detach_pending(combine_t *c) {
  for (size_t i = 0; i < c->n; i++) {
    future_t *sink = c->slots[i].sink;
    c->slots[i].sink = NULL;
    if (sink != NULL)
      future_cancel(sink);
  }
}

static void release_inputs(combine_t *c) {
  for (size_t i = 0; i < c->n; i++) {
    future_unref(c->slots[i].input);
    c->slots[i].input = NULL;
  }
}

/* Decide the combined future with `out` and let everything else go. */
static void finish(combine_t *c, future__outcome_t *out) {
  future_t *result = c->result;
  c->result = NULL;
  future__source_done(result, out);
  detach_pending(c);
  release_inputs(c);
  future__free(c);
}

static void finish_list(combine_t *c) {
  future__outcome_t out;
  future_t **items = future__malloc((c->n ? c->n : 1) * sizeof(future_t *));
  if (items == NULL) {
    memset(&out, 0, sizeof(out));
    out.error = future__error(UV_ENOMEM, "building a list of results");
  } else {
    for (size_t i = 0; i < c->n; i++) {
      items[i] = c->slots[i].input;
      c->slots[i].input = NULL;
    }
    future__list_outcome(&out, items, c->n);
    future__free(items);
  }
  finish(c, &out);
}

static void finish_aggregate(combine_t *c) {
  future__outcome_t out = {NULL, NULL, NULL};
  const future_error_t **causes =
      future__malloc((c->n ? c->n : 1) * sizeof(future_error_t *));
  if (causes == NULL) {
    out.error = future__error(UV_ENOMEM, "future_any");
  } else {
    for (size_t i = 0; i < c->n; i++)
      causes[i] = c->slots[i].input != NULL ? future__error_of(c->slots[i].input)
                                            : NULL;
    out.error = future_error_aggregate(FUTURE_EAGGREGATE, causes, c->n,
                                       "all %zu futures were rejected", c->n);
    future__free(causes);
  }
  finish(c, &out);
}

static void on_input_settled(future_t *settled, void *data) {
  slot_t *s = data;
  combine_t *c = s->c;
  future__outcome_t out;

  s->sink = NULL;
  if (settled == NULL) {
    /* The input was released unsettled: it never will settle, so neither
     * can a combination that needs it; race and any may still be decided
     * by the others. */
    future_error_t *err = future_error_new_at(
        __FILE__, __LINE__, __func__, FUTURE_ESTALLED, NULL,
        "input %zu was released unsettled", (size_t)(s - c->slots));
    out.value = NULL;
    out.holder = NULL;
    out.error = err;
    switch (c->mode) {
    case ALL:
    case ALL_SETTLED:
      finish(c, &out);
      break;
    case RACE:
      if (--c->remaining == 0)
        finish(c, &out);
      else
        future_error_unref(err);
      break;
    case ANY:
      /* Kept as a rejected input, so that the aggregate lists it. */
      s->input = future_rejected(c->result->lp->loop, err);
      if (s->input != NULL)
        s->input->flags |= FUTURE__HANDLED;
      if (--c->remaining == 0)
        finish_aggregate(c);
      break;
    }
    return;
  }
  s->input = future_ref(settled);
  switch (c->mode) {
  case ALL:
    if (settled->state == FUTURE_REJECTED) {
      future__outcome_of(&out, settled);
      finish(c, &out);
    } else if (--c->remaining == 0) {
      finish_list(c);
    }
    break;
  case ALL_SETTLED:
    if (--c->remaining == 0)
      finish_list(c);
    break;
  case ANY:
    if (settled->state == FUTURE_FULFILLED) {
      future__outcome_of(&out, settled);
      finish(c, &out);
    } else if (--c->remaining == 0) {
      finish_aggregate(c);
    }
    break;
  case RACE:
    future__outcome_of(&out, settled);
    finish(c, &out);
    break;
  }
}

static int combine_cancel(future_t *f, void *req) {
  combine_t *c = req;
  (void)f;
  /* The canceller rejects the result and drops the reference we hold. */
  c->result = NULL;
  detach_pending(c);
  release_inputs(c);
  future__free(c);
  return 1;
}

static void combine_inputs(const future__machine_t *m, future__visit_cb visit,
                           void *ctx) {
  const combine_t *c = (const combine_t *)m;
  for (size_t i = 0; i < c->n; i++) {
    const future_t *sink = c->slots[i].sink;
    if (sink != NULL && (sink->flags & FUTURE__WAITING))
      visit(sink->parent, ctx);
  }
}

static void release_array(future_t **inputs, size_t n) {
  if (inputs == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    future_unref(inputs[i]);
}

static future_t *combine(uv_loop_t *loop, future_t **inputs, size_t n,
                         combine_mode_t mode, const char *name) {
  future__loop_t *lp;
  combine_t *c;
  future_t *result;
  int failed = 0;

  if (loop == NULL || (lp = future__loop_get(loop)) == NULL) {
    release_array(inputs, n);
    return NULL;
  }
  if (n > 0 && inputs == NULL)
    return future_rejected(loop, future_error_new_at(__FILE__, __LINE__,
                                                     name, UV_EINVAL, NULL,
                                                     "%s: NULL inputs", name));
  for (size_t i = 0; i < n; i++) {
    FUTURE__CHECK(inputs[i]);
    if (inputs[i] == NULL || inputs[i]->lp != lp) {
      release_array(inputs, n);
      return future_rejected(
          loop, future_error_new_at(__FILE__, __LINE__, name, UV_EINVAL, NULL,
                                    "%s: input %zu is %s", name, i,
                                    inputs[i] == NULL ? "NULL"
                                                      : "of another loop"));
    }
  }
  if (n == 0) {
    future__outcome_t out;
    switch (mode) {
    case ALL:
    case ALL_SETTLED:
      result = future_new(loop);
      if (result != NULL) {
        future__list_outcome(&out, NULL, 0);
        future__settle(result, &out);
      }
      return result;
    case ANY:
      return future_rejected(
          loop, future_error_aggregate_at(__FILE__, __LINE__, name,
                                          FUTURE_EAGGREGATE, NULL, 0,
                                          "%s of no futures", name));
    case RACE:
      return future_rejected(
          loop, future_error_new_at(__FILE__, __LINE__, name, UV_EINVAL, NULL,
                                    "%s of no futures", name));
    }
  }

  c = future__malloc(sizeof(*c) + n * sizeof(slot_t));
  if (c == NULL) {
    release_array(inputs, n);
    return NULL;
  }
  result = future__source_new(lp, combine_cancel, c);
  if (result == NULL) {
    future__free(c);
    release_array(inputs, n);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(result, "%s of %zu", name + 7 /* future_ */, n);
  c->machine.inputs = combine_inputs;
  result->flags |= FUTURE__MACHINE;
  c->result = result;
  c->mode = mode;
  c->n = n;
  c->remaining = n;
  /* Observers run from the loop, never in here, so the state is complete
   * before any of them can run. */
  for (size_t i = 0; i < n; i++) {
    slot_t *s = &c->slots[i];
    s->c = c;
    s->input = NULL;
    /* The observer takes over the caller's reference to the input. */
    s->sink = future__sink(inputs[i], on_input_settled, s);
    if (s->sink == NULL)
      failed = 1;
  }
  if (failed) {
    future__outcome_t out = {NULL, NULL, NULL};
    out.error = future_error_new_at(__FILE__, __LINE__, __func__, UV_ENOMEM,
                                    NULL, "%s", name);
    finish(c, &out); /* drops the request's reference, not the caller's */
    return result;
  }
  return result;
}

future_t *future_all(uv_loop_t *loop, future_t **inputs, size_t n) {
  return combine(loop, inputs, n, ALL, "future_all");
}

future_t *future_all_settled(uv_loop_t *loop, future_t **inputs, size_t n) {
  return combine(loop, inputs, n, ALL_SETTLED, "future_all_settled");
}

future_t *future_any(uv_loop_t *loop, future_t **inputs, size_t n) {
  return combine(loop, inputs, n, ANY, "future_any");
}

future_t *future_race(uv_loop_t *loop, future_t **inputs, size_t n) {
  return combine(loop, inputs, n, RACE, "future_race");
}
