/*
 * future_map: N inputs, at most K in flight, results in input order.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct map_s map_t;

typedef struct {
  map_t *m;
  future_t *sink; /* its observer, until the observer's callback runs or
                     we cancel it (the input owns the observer) */
} map_slot_t;

struct map_s {
  future__machine_t machine; /* first: see future__waits_on */
  future_t *result; /* NULL once decided */
  future__loop_t *lp;
  uv_loop_t *loop;
  int in_factory;   /* fn is running: a cancel must not free the map */
  future_map_cb fn;
  void *data;
  size_t n, limit;
  size_t next;      /* next index to start */
  size_t done;      /* inputs fulfilled */
  size_t in_flight;
  future_t **items; /* our references to the inputs that have settled */
  map_slot_t *slots;
};

static void map_free(map_t *m) {
  for (size_t i = 0; i < m->next; i++)
    future__unref(m->items[i]);
  future__free(m->items);
  future__free(m->slots);
  future__free(m);
}

/* Stop observing what is in flight; cancel what nothing else wants. */
static void map_detach(map_t *m) {
  for (size_t i = 0; i < m->next; i++) {
    future_t *sink = m->slots[i].sink;
    m->slots[i].sink = NULL;
    if (sink != NULL)
      future_cancel(sink);
  }
}

static void map_finish(map_t *m, future__outcome_t *out) {
  future_t *result = m->result;
  m->result = NULL;
  future__source_done(result, out);
  map_detach(m);
  map_free(m);
}

static void map_fail(map_t *m, future_error_t *err) {
  future__outcome_t out = {NULL, NULL, err};
  map_finish(m, &out);
}

static void map_succeed(map_t *m) {
  future__outcome_t out;
  /* The list takes over the references to the items. */
  future__list_outcome(&out, m->items, m->n);
  memset(m->items, 0, (m->n ? m->n : 1) * sizeof(future_t *));
  map_finish(m, &out);
}

static void on_item_settled(future_t *settled, void *data);

/* Start inputs until the limit is reached or none are left. Returns 0, or
 * -1 if the map was decided (and freed) meanwhile. */
static int map_fill(map_t *m) {
  while (m->next < m->n && (m->limit == 0 || m->in_flight < m->limit)) {
    size_t i = m->next;
    future_t *f;
    /* The factory is a library callback like any other: future_wait in it
     * must refuse rather than run the loop under our feet. */
    m->in_factory = 1;
    m->lp->in_callback++;
    f = m->fn(m->loop, i, m->data);
    m->lp->in_callback--;
    m->in_factory = 0;
    if (m->result == NULL) {
      /* The factory cancelled the map's own result (map_cancel left the
       * freeing to us): what it returned is not wanted any more, and its
       * outcome, an error included, is discarded as deliberately. */
      if (f != NULL)
        f->flags |= FUTURE__HANDLED;
      future_unref(f);
      map_free(m);
      return -1;
    }
    if (f == NULL) {
      map_fail(m, future_error_new_at(__FILE__, __LINE__, __func__, UV_ENOMEM,
                                      NULL, "future_map: input %zu", i));
      return -1;
    }
    if (f == m->result ||
        (f->state == FUTURE_PENDING && future__waits_on(f, m->result))) {
      /* The map would wait for itself. What the factory returned is let
       * go, its outcome (this same cycle) counting as observed. */
      f->flags |= FUTURE__HANDLED;
      future_unref(f);
      map_fail(m, future_error_new_at(__FILE__, __LINE__, __func__,
                                      FUTURE_ECYCLE, NULL,
                                      "future_map: input %zu waits on the "
                                      "map itself",
                                      i));
      return -1;
    }
    if (f->lp != m->lp) {
      future_unref(f);
      map_fail(m, future_error_new_at(__FILE__, __LINE__, __func__, UV_EINVAL,
                                      NULL,
                                      "future_map: input %zu is of another "
                                      "loop",
                                      i));
      return -1;
    }
    m->next++;
    m->in_flight++;
    m->slots[i].m = m;
    /* The observer takes over the reference fn gave us. */
    m->slots[i].sink = future__sink(f, on_item_settled, &m->slots[i]);
    if (m->slots[i].sink == NULL) {
      map_fail(m, future__error(UV_ENOMEM, "future_map"));
      return -1;
    }
  }
  return 0;
}

static void on_item_settled(future_t *settled, void *data) {
  map_slot_t *s = data;
  map_t *m = s->m;
  size_t i = (size_t)(s - m->slots);
  s->sink = NULL;
  if (settled == NULL) {
    /* Released unsettled: the map can never have all its results. */
    map_fail(m, future_error_new_at(__FILE__, __LINE__, __func__,
                                    FUTURE_ESTALLED, NULL,
                                    "future_map: input %zu was released "
                                    "unsettled",
                                    i));
    return;
  }
  m->items[i] = future_ref(settled);
  m->in_flight--;
  if (settled->state == FUTURE_REJECTED) {
    future__outcome_t out;
    future__outcome_of(&out, settled);
    map_finish(m, &out);
    return;
  }
  if (++m->done == m->n) {
    map_succeed(m);
    return;
  }
  map_fill(m);
}

static int map_cancel(future_t *f, void *req) {
  map_t *m = req;
  (void)f;
  m->result = NULL;
  map_detach(m);
  if (!m->in_factory) /* else map_fill frees it when the factory returns */
    map_free(m);
  return 1;
}

static void map_inputs(const future__machine_t *mm, future__visit_cb visit,
                       void *ctx) {
  const map_t *m = (const map_t *)mm;
  for (size_t i = 0; i < m->next; i++) {
    const future_t *sink = m->slots[i].sink;
    if (sink != NULL && (sink->flags & FUTURE__WAITING))
      visit(sink->parent, ctx);
  }
}

future_t *future_map(uv_loop_t *loop, size_t n, size_t limit,
                     future_map_cb fn, void *data) {
  future__loop_t *lp;
  map_t *m;
  future_t *result;
  if (loop == NULL || fn == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  m = future__calloc(1, sizeof(*m));
  if (m == NULL)
    return NULL;
  m->items = future__calloc(n ? n : 1, sizeof(future_t *));
  m->slots = future__calloc(n ? n : 1, sizeof(map_slot_t));
  result = m->items && m->slots ? future__source_new(lp, map_cancel, m) : NULL;
  if (result == NULL) {
    future__free(m->items);
    future__free(m->slots);
    future__free(m);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(result, "map %zu (limit %zu)", n, limit);
  m->machine.inputs = map_inputs;
  result->flags |= FUTURE__MACHINE;
  m->result = result;
  m->lp = lp;
  m->loop = loop;
  m->fn = fn;
  m->data = data;
  m->n = n;
  m->limit = limit;
  if (n == 0)
    map_succeed(m);
  else
    map_fill(m);
  return result;
}
