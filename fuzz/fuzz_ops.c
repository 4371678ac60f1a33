/*
 * fuzz_ops: a libFuzzer harness (LLVMFuzzerTestOneInput) that reads its
 * input as a small program of operations on the futures of ONE uv_loop_t,
 * created for that input, and checks the library's promises as it goes.
 * Any broken promise is an abort(), which the fuzzer reports as a crash.
 * fuzz/README.md describes the encoding; FUZZ_OPS_TRACE=1 in the
 * environment prints each operation as it is decoded.
 *
 * The harness holds its references in a pool of NSLOTS slots. Ops that
 * name a slot use byte % NSLOTS and skip an empty one; a "source" byte
 * also says (bit 4) whether the op consumes the slot's reference (the slot
 * is emptied) or a new one taken with future_ref (the slot keeps its own).
 *
 * Checked, with abort() on violation:
 *   - a settled future never changes state, value pointer or error pointer
 *     (every held future is compared before and after every op, and at the
 *     start and end of every callback);
 *   - the results the header promises for each call (return codes, the
 *     state right after the call, FUTURE_ECYCLE, UV_ECANCELED, the list of
 *     future_all, what future_wait reports, ...);
 *   - callbacks never run inside a call that must not run them (settling,
 *     chaining, cancelling, combining, releasing);
 *   - each continuation callback runs at most once, with the future it was
 *     attached to, in the state its kind expects;
 *   - continuations attached to the same future run in attachment order;
 *   - a value's destructor runs exactly once, never while a held future
 *     still carries the value, and every one has run by the end;
 *   - an unhandled-rejection report never carries UV_ECANCELED;
 *   - at the end, with everything dropped and the loop run to completion,
 *     future_loop_live() == 0, and future_loop_close() and uv_loop_close()
 *     both return 0.
 *   - the same after a uv_walk closed every handle, the library's too
 *     (op walk, which ends the input): the walk meets the library's three
 *     handles when it has state, and teardown then completes.
 * This file holds the core ops (op bytes below 216), pipelines (242) and the
 * end of an input. The other ops from 216 on, each with its own checks, live
 * by area: fuzz_hooks.c (the allocator hook, which also checks that every
 * block the library allocated is freed by the end; tracing; the API's
 * edges), fuzz_fs.c (the file system, in a scratch directory per input),
 * fuzz_threads.c (libuv's pool, future_work, resolvers, helper threads),
 * fuzz_compose.c (timers, future_map, future_retry), fuzz_async.c (fibers:
 * future_async, future_await). The outcome of each future is checked once by
 * its kind's own rules, when the harness first sees it (in the pool, in a
 * callback, from future_wait or future_await): seen_outcome.
 *
 * FUZZ_OPS_TIDY=1 in the environment makes the harness a tidier user, to
 * look past known bugs: it never lets go of its last reference to a
 * pending future that it could still settle (future_new, not adopting),
 * and settles every such future before the end ("sources"); never makes a
 * future wait, through future_adopt or a callback's result, on one that
 * already waits on it, an indirect cycle ("cycles"); and never cancels,
 * from a callback, the future that callback is settling, nor one that
 * waits on it, since cancelling travels up ("cancel"). A comma-separated
 * list of these names picks some of the habits. By default it does all of
 * these, which the header does not forbid ("a pending future that nobody
 * references any more ... is freed along with the continuations that
 * hang from it").
 *
 * FUZZ_OPS_AVOID (same syntax) steers around known defects of the
 * library, by the names of fuzz/README.md's "Known bugs", so that fuzzing
 * finds new ones instead of the same one again.
 */
#include "fuzz_ops.h"

fuzz_state_t S;

char token; /* a value without destructor */

uint8_t next_byte(void) {
  return S.pos < S.size ? S.data[S.pos++] : 0;
}

/* Values. */

void val_dtor(void *p) {
  val_t *v = p;
  CHECK(v >= S.vals && v < S.vals + S.nvals, "destructor on a foreign value");
  CHECK(v->magic == VAL_MAGIC, "destructor on a corrupted value");
  CHECK(atomic_exchange(&v->alive, 0), "value destructor ran twice (value %d)",
        (int)(v - S.vals));
  S.vals_freed++;
}

int is_val(const void *p) {
  const val_t *v = p;
  return v >= S.vals && v < S.vals + S.nvals;
}

void check_value(const void *p) {
  if (is_val(p)) {
    const val_t *v = p;
    CHECK(v->alive, "a value is in use after its destructor ran (value %d)",
          (int)(v - S.vals));
  }
}

/* A value and its destructor per value byte. */
void make_value(uint8_t b, void **value, future_dtor_cb *dtor) {
  *value = NULL;
  *dtor = NULL;
  switch (b % 4) {
  case 0:
  case 3:
    if (S.nvals < MAX_VALS) {
      val_t *v = &S.vals[S.nvals++];
      v->magic = VAL_MAGIC;
      v->alive = 1;
      S.vals_born++;
      *value = v;
      *dtor = val_dtor;
    }
    break;
  case 1:
    break;
  case 2:
    *value = &token;
    break;
  }
}

/* An error per error byte (NULL is allowed: it means UV_EINVAL). */
future_error_t *make_error(uint8_t b) {
  switch (b % 4) {
  case 0:
    return future_error_new(FUTURE_EUSER(b >> 2), "fuzz error %d", b >> 2);
  case 1:
    return future_error_new(UV_ECANCELED, "fuzz cancel");
  case 2:
    return NULL;
  default:
    return future_error_new(UV_EIO, NULL);
  }
}

/* The pool. */

int new_uid(int kind) {
  meta_t *m;
  if (S.nuids >= MAX_UIDS)
    return -1;
  m = &S.meta[S.nuids];
  memset(m, 0, sizeof(*m));
  m->kind = kind;
  S.edge_head[S.nuids] = -1;
  return S.nuids++;
}

/* Record that `x` waits on `y`; 0 if the edge table is full. */
int add_edge(int x, int y) {
  if (x < 0 || y < 0)
    return 1;
  if (S.nedges >= MAX_EDGES)
    return 0;
  S.edge_to[S.nedges] = y;
  S.edge_next[S.nedges] = S.edge_head[x];
  S.edge_head[x] = S.nedges++;
  return 1;
}

/* Whether `from` waits, directly or not, on `to` (or is it). */
int reaches(int from, int to) {
  int sp = 0;
  if (from < 0 || to < 0)
    return 0;
  if (++S.mark_gen == 0) {
    memset(S.mark, 0, sizeof(S.mark));
    S.mark_gen = 1;
  }
  S.stack[sp++] = from;
  S.mark[from] = S.mark_gen;
  while (sp > 0) {
    int x = S.stack[--sp];
    if (x == to)
      return 1;
    for (int e = S.edge_head[x]; e >= 0; e = S.edge_next[e]) {
      int y = S.edge_to[e];
      if (S.mark[y] != S.mark_gen) {
        S.mark[y] = S.mark_gen;
        S.stack[sp++] = y;
      }
    }
  }
  return 0;
}

/* FUZZ_OPS_TIDY: whether making `x` wait on `y` would close a cycle (or
 * cannot be tracked any more). `x` == `y` is left to the library, which
 * answers it with FUTURE_ECYCLE. */
int tidy_refuses(int x, int y) {
  if (!(S.tidy & TIDY_CYCLES) || x == y)
    return 0;
  return reaches(y, x) || S.nedges >= MAX_EDGES;
}

void observe(slot_t *s) {
  s->st = future_state(s->f);
  s->val = future_value(s->f);
  s->err = future_error(s->f);
}

/* FUZZ_OPS_TIDY: the slot holds the last reference the pool has
 * to a pending future that the harness could settle; move it to the kept
 * list instead of letting it go. Returns 1 if it did. */
static int keep_last(int i) {
  slot_t *s = &S.pool[i];
  if (!(S.tidy & TIDY_SOURCES) || S.finishing || s->f == NULL ||
      S.nkept >= MAX_KEPT || S.meta[s->uid].kind != K_NEW ||
      S.meta[s->uid].adopting || future_state(s->f) != FUTURE_PENDING)
    return 0;
  for (int j = 0; j < NSLOTS; j++)
    if (j != i && S.pool[j].f == s->f)
      return 0;
  S.kept_uid[S.nkept] = s->uid;
  S.kept[S.nkept++] = s->f;
  s->f = NULL;
  return 1;
}

void drop(int i) {
  future_t *f;
  if (keep_last(i))
    return;
  f = S.pool[i].f;
  S.pool[i].f = NULL;
  if (f != NULL)
    NOCB(future_unref(f));
}

/* Put `f` (a reference handed over) in slot i, dropping what was there. */
void put(int i, future_t *f, int uid) {
  drop(i);
  if (f == NULL)
    return;
  S.loop_state = 1;
  if (uid < 0) { /* out of identities: let it go */
    NOCB(future_unref(f));
    return;
  }
  S.pool[i].f = f;
  S.pool[i].uid = uid;
  observe(&S.pool[i]);
  seen_outcome(uid, S.pool[i].st, S.pool[i].val, S.pool[i].err);
}

/* The reference an op passes on for a source byte: the slot's own
 * (consume: the slot empties) or a new one. NULL for an empty slot. */
future_t *take(uint8_t b) {
  slot_t *s = &S.pool[b % NSLOTS];
  future_t *f = s->f;
  if (f == NULL)
    return NULL;
  if ((b & 16) && !keep_last(b % NSLOTS)) {
    s->f = NULL;
    return f;
  }
  NOCB(future_ref(f));
  return f;
}

static void check_list(const slot_t *s, const meta_t *m) {
  const future_list_t *list = s->val;
  CHECK(list != NULL, "future_all/all_settled fulfilled without a list");
  CHECK(list->count == m->ninputs, "list of %zu items for %zu inputs",
        list->count, m->ninputs);
  for (size_t i = 0; i < list->count; i++) {
    future_state_t st = future_state(list->items[i]);
    CHECK(list->items[i] == m->inputs[i], "list item %zu is not input %zu",
          i, i);
    CHECK(st != FUTURE_PENDING, "list item %zu is pending", i);
    if (m->kind == K_ALL || m->kind == K_MAP)
      CHECK(st == FUTURE_FULFILLED, "future_all or future_map fulfilled with "
            "a rejection");
    check_value(future_value(list->items[i]));
  }
}

/* Every held future: a settled one never changes; what is observed is
 * consistent. */
void check_pool(const char *where) {
  for (int i = 0; i < NSLOTS; i++) {
    slot_t *s = &S.pool[i];
    future_state_t st;
    void *v;
    const future_error_t *e;
    const meta_t *m;
    if (s->f == NULL)
      continue;
    m = &S.meta[s->uid];
    st = future_state(s->f);
    v = future_value(s->f);
    e = future_error(s->f);
    if (s->st != FUTURE_PENDING) {
      CHECK(st == s->st, "%s: slot %d settled twice: state %d became %d",
            where, i, s->st, st);
      CHECK(v == s->val, "%s: slot %d: the value changed", where, i);
      CHECK(e == s->err, "%s: slot %d: the error changed", where, i);
    }
    switch (st) {
    case FUTURE_PENDING:
      CHECK(v == NULL && e == NULL, "%s: slot %d: pending with an outcome",
            where, i);
      break;
    case FUTURE_FULFILLED:
      CHECK(e == NULL, "%s: slot %d: fulfilled with an error", where, i);
      check_value(v);
      if (m->kind == K_DELAY)
        CHECK(v == NULL, "%s: slot %d: a delay fulfilled with a value", where,
              i);
      if (m->kind == K_ALL || m->kind == K_ALL_SETTLED || m->kind == K_MAP) {
        s->val = v;
        check_list(s, m);
      }
      break;
    case FUTURE_REJECTED:
      CHECK(e != NULL && v == NULL, "%s: slot %d: bad rejection", where, i);
      CHECK(future_error_code(e) < 0, "%s: slot %d: error code %d", where, i,
            future_error_code(e));
      if (m->kind == K_DELAY)
        CHECK(future_error_code(e) == UV_ECANCELED ||
                  ENOMEM_OK(future_error_code(e)),
              "%s: slot %d: a delay rejected with %d", where, i,
              future_error_code(e));
      /* Cancelled, or an input was released unsettled (FUTURE_ESTALLED). */
      if (m->kind == K_ALL_SETTLED)
        CHECK(future_error_code(e) == UV_ECANCELED ||
                  future_error_code(e) == FUTURE_ESTALLED ||
                  ENOMEM_OK(future_error_code(e)),
              "%s: slot %d: future_all_settled rejected with %d", where, i,
              future_error_code(e));
      break;
    default:
      FAIL("%s: slot %d: unknown state %d", where, i, st);
    }
    if (s->st == FUTURE_PENDING)
      seen_outcome(s->uid, st, v, e);
    observe(s);
  }
}

static void pipe_seen(int uid, future_state_t st, void *value,
                      const future_error_t *err);

/* The outcome of the future `uid` is seen (in the pool, by a callback, by
 * future_wait): the checks of its kind, once. */
void seen_outcome(int uid, future_state_t st, void *value,
                  const future_error_t *err) {
  meta_t *m;
  if (uid < 0 || st == FUTURE_PENDING)
    return;
  m = &S.meta[uid];
  if (m->seen)
    return;
  m->seen = 1;
  switch (m->kind) {
  case K_WORK:
    work_seen(uid, st, value, err);
    break;
  case K_FS:
    fs_seen(uid, st, value, err);
    break;
  case K_THREADSAFE:
    resolver_seen(uid, st, value, err);
    break;
  case K_TIMEOUT:
    timeout_seen(uid, st, value, err);
    break;
  case K_MAP:
    map_seen(uid, st, value, err);
    break;
  case K_RETRY:
    retry_seen(uid, st, value, err);
    break;
  case K_ASYNC:
    async_seen(uid, st, value, err);
    break;
  case K_DNS:
    dns_seen(uid, st, value, err);
    break;
  case K_SIGNAL:
    signal_seen(uid, st, value, err);
    break;
  case K_WATCH:
    watch_seen(uid, st, value, err);
    break;
  case K_PROCESS:
    process_seen(uid, st, value, err);
    break;
  case K_UDP:
    udp_seen(uid, st, value, err);
    break;
  case K_STREAM:
    stream_seen(uid, st, value, err);
    break;
  case K_NET:
    net_seen(uid, st, value, err);
    break;
  case K_PIPE:
    pipe_seen(uid, st, value, err);
    break;
  default:
    break;
  }
}

static void on_unhandled(const future_error_t *err, void *data) {
  (void)data;
  CHECK(err != NULL, "unhandled-rejection hook called with NULL");
  CHECK(future_error_code(err) != UV_ECANCELED,
        "UV_ECANCELED reported as an unhandled rejection");
  S.unhandled++;
}

/* Ops, shared by the top level and by callbacks' side effects. */

int settleable(int i) {
  const slot_t *s = &S.pool[i];
  return s->f != NULL && S.meta[s->uid].kind == K_NEW &&
         !S.meta[s->uid].adopting && future_state(s->f) == FUTURE_PENDING;
}

void op_new(int dst) {
  future_t *f;
  NOCB(f = future_new(&S.loop));
  CHECK(f != NULL || OOM(), "future_new failed");
  CHECK(f == NULL || future_state(f) == FUTURE_PENDING,
        "future_new is not pending");
  put(dst, f, new_uid(K_NEW));
}

void op_resolve(int i, uint8_t vb) {
  void *value;
  future_dtor_cb dtor;
  int expect, rc;
  if (S.pool[i].f == NULL)
    return;
  expect = settleable(i) ? 0 : FUTURE_ESETTLED;
  make_value(vb, &value, &dtor);
  NOCB(rc = future_resolve(S.pool[i].f, value, dtor));
  if (expect == 0 && ENOMEM_OK(rc)) {
    /* No holder for the value: rejected with UV_ENOMEM instead. */
    const future_error_t *e = future_error(S.pool[i].f);
    CHECK(e != NULL && future_error_code(e) == UV_ENOMEM,
          "future_resolve returned UV_ENOMEM but did not reject so");
    CHECK(dtor == NULL || !((val_t *)value)->alive,
          "future_resolve out of memory did not run the destructor");
    return;
  }
  CHECK(rc == expect, "future_resolve returned %d, expected %d", rc, expect);
  if (rc == 0) {
    CHECK(future_state(S.pool[i].f) == FUTURE_FULFILLED &&
              future_value(S.pool[i].f) == value,
          "future_resolve did not fulfil with the value");
  } else if (dtor != NULL) {
    CHECK(!((val_t *)value)->alive,
          "a refused future_resolve did not run the destructor");
  }
}

void op_reject(int i, uint8_t eb) {
  future_error_t *err;
  int expect, rc, code;
  if (S.pool[i].f == NULL)
    return;
  expect = settleable(i) ? 0 : FUTURE_ESETTLED;
  err = make_error(eb);
  code = err != NULL ? future_error_code(err) : UV_EINVAL;
  NOCB(rc = future_reject(S.pool[i].f, err));
  CHECK(rc == expect, "future_reject returned %d, expected %d", rc, expect);
  if (rc == 0) {
    const future_error_t *e = future_error(S.pool[i].f);
    CHECK(future_state(S.pool[i].f) == FUTURE_REJECTED && e != NULL &&
              (future_error_code(e) == code ||
               (err == NULL && ENOMEM_OK(future_error_code(e)))),
          "future_reject did not reject with the error");
    CHECK(err == NULL || e == err, "future_reject stored another error");
  }
}

void op_cancel(int i) {
  int pending, rc;
  if (S.pool[i].f == NULL)
    return;
  pending = future_state(S.pool[i].f) == FUTURE_PENDING;
  NOCB(rc = future_cancel(S.pool[i].f));
  CHECK(rc == (pending ? 0 : FUTURE_ESETTLED), "future_cancel returned %d",
        rc);
  if (pending) {
    const future_error_t *e = future_error(S.pool[i].f);
    CHECK(future_state(S.pool[i].f) == FUTURE_REJECTED && e != NULL &&
              (future_error_code(e) == UV_ECANCELED ||
               ENOMEM_OK(future_error_code(e))),
          "future_cancel did not reject with UV_ECANCELED");
  }
}

/* Callbacks. */

static future_t *cb_return(ctx_t *c, const spec_t *sp, future_t *settled) {
  future_t *r = NULL;
  switch (sp->ret) {
  case R_PASS:
    NOCB(r = future_ref(settled));
    break;
  case R_RESOLVED: {
    void *value;
    future_dtor_cb dtor;
    make_value(0, &value, &dtor);
    NOCB(r = future_resolved(&S.loop, value, dtor));
    break;
  }
  case R_REJECTED:
    NOCB(r = future_rejected(&S.loop, make_error((uint8_t)(c->id << 2))));
    break;
  case R_NULL:
    break;
  case R_POOL: {
    slot_t *s = &S.pool[sp->ret_slot];
    if (s->f == NULL && !S.finishing)
      op_new(sp->ret_slot);
    if (s->f != NULL && !tidy_refuses(c->self_uid, s->uid)) {
      add_edge(c->self_uid, s->uid);
      NOCB(r = future_ref(s->f));
    }
    break;
  }
  case R_SELF:
    NOCB(r = future_ref(c->self));
    break;
  default:
    NOCB(r = future_resolved(&S.loop, NULL, NULL));
    break;
  }
  return r;
}

static future_t *callback(ctx_t *c, const spec_t *sp, future_t *settled,
                          const char *name) {
  meta_t *m = &S.meta[c->src_uid];
  future_state_t st = future_state(settled);
  CHECK(S.nocb == 0, "callback %d (%s) ran inside a library call", c->id,
        name);
  CHECK(!future_in_fiber(), "callback %d (%s) ran inside a fiber", c->id,
        name);
  CHECK(++c->calls == 1, "callback %d (%s) ran %d times", c->id, name,
        c->calls);
  CHECK(settled == c->src, "callback %d (%s) got another future", c->id,
        name);
  CHECK(c->self != NULL, "callback %d ran before its chaining call returned",
        c->id);
  if (c->kind == K_FINALLY)
    CHECK(st != FUTURE_PENDING, "finally callback %d on a pending future",
          c->id);
  else if (sp == &c->on_f)
    CHECK(st == FUTURE_FULFILLED, "on_fulfilled %d on state %d", c->id, st);
  else
    CHECK(st == FUTURE_REJECTED, "on_rejected %d on state %d", c->id, st);
  CHECK(c->seq > m->last_run,
        "continuation %u of future %d ran after its continuation %u", c->seq,
        c->src_uid, m->last_run);
  m->last_run = c->seq;
  check_value(future_value(settled));
  TRACE("  callback %d (%s) of future %d, #%u\n", c->id, name, c->src_uid,
        c->seq);
  seen_outcome(c->src_uid, st, future_value(settled), future_error(settled));
  check_pool("callback entry");

  switch (sp->side) {
  case S_CANCEL:
    /* Cancelling reaches up to what the target waits on. */
    if (!((S.tidy & TIDY_CANCEL) && S.pool[sp->side_slot].f != NULL &&
          (S.pool[sp->side_slot].uid == c->self_uid ||
           reaches(S.pool[sp->side_slot].uid, c->self_uid))))
      op_cancel(sp->side_slot);
    break;
  case S_RESOLVE:
    op_resolve(sp->side_slot, 0);
    break;
  case S_REJECT:
    op_reject(sp->side_slot, (uint8_t)(c->id << 2));
    break;
  case S_DROP:
    drop(sp->side_slot);
    break;
  case S_NEW:
    if (!S.finishing)
      op_new(sp->side_slot);
    break;
  case S_LOOP_CLOSE: {
    int rc = future_loop_close(&S.loop);
    CHECK(rc == FUTURE_EINCALLBACK,
          "future_loop_close in a callback returned %d", rc);
    break;
  }
  default:
    break;
  }
  check_pool("callback side effect");
  return cb_return(c, sp, settled);
}

static future_t *cb_fulfilled(future_t *settled, void *data) {
  ctx_t *c = data;
  return callback(c, &c->on_f, settled, "on_fulfilled");
}

static future_t *cb_rejected(future_t *settled, void *data) {
  ctx_t *c = data;
  return callback(c, &c->on_r, settled, "on_rejected");
}

static future_t *cb_finally(future_t *settled, void *data) {
  ctx_t *c = data;
  return callback(c, &c->on_f, settled, "finally");
}

static spec_t read_spec(void) {
  spec_t sp;
  uint8_t a = next_byte(), b = next_byte();
  sp.ret = a & 7;
  sp.side = (a >> 3) & 7;
  sp.ret_slot = b % NSLOTS;
  sp.side_slot = (uint8_t)((b >> 4) % NSLOTS);
  return sp;
}

static void op_chain(int kind, uint8_t sb, int dst, spec_t on_f,
                     spec_t on_r) {
  slot_t *s = &S.pool[sb % NSLOTS];
  ctx_t *c = NULL;
  future_cb f_cb = NULL, r_cb = NULL;
  future_t *in, *out;
  int uid, src_uid = s->uid;
  if (s->f == NULL)
    return;
  if (kind == K_CATCH)
    on_f.ret = R_NOCB;
  if (kind == K_FINALLY)
    on_r.ret = R_NOCB;
  if ((on_f.ret != R_NOCB || on_r.ret != R_NOCB) && S.nctx < MAX_CTX) {
    c = &S.ctx[S.nctx];
    memset(c, 0, sizeof(*c));
    c->id = S.nctx++;
    c->kind = kind;
    c->src_uid = s->uid;
    c->src = s->f;
    c->seq = ++S.meta[s->uid].next_seq;
    c->on_f = on_f;
    c->on_r = on_r;
    if (on_f.ret != R_NOCB)
      f_cb = kind == K_FINALLY ? cb_finally : cb_fulfilled;
    if (on_r.ret != R_NOCB)
      r_cb = cb_rejected;
  }
  TRACE("  chain %s on future %d, callback %d\n",
        kind == K_THEN ? "then" : kind == K_CATCH ? "catch" : "finally",
        s->uid, c != NULL ? c->id : -1);
  in = take(sb);
  switch (kind) {
  case K_THEN:
    NOCB(out = future_then(in, f_cb, r_cb, c));
    break;
  case K_CATCH:
    NOCB(out = future_catch(in, r_cb, c));
    break;
  default:
    NOCB(out = future_finally(in, f_cb, c));
    break;
  }
  if (out == NULL) {
    CHECK(OOM(), "chaining failed");
    return;
  }
  CHECK(future_state(out) == FUTURE_PENDING,
        "a chained future settled inside the chaining call");
  uid = new_uid(kind);
  add_edge(uid, src_uid);
  if (c != NULL) {
    c->self = out;
    c->self_uid = uid;
  }
  put(dst, out, uid);
}

static void op_combine(uint8_t mb, int dst) {
  static const int kinds[4] = {K_ALL, K_ALL_SETTLED, K_ANY, K_RACE};
  int kind = kinds[mb % 4];
  size_t want = (size_t)((mb >> 2) % (MAX_INPUTS + 1)), n = 0;
  future_t *inputs[MAX_INPUTS], *out;
  int uid, in_uids[MAX_INPUTS];
  for (size_t k = 0; k < want; k++) {
    uint8_t b = next_byte();
    int in_uid = S.pool[b % NSLOTS].uid;
    future_t *f = take(b);
    if (f != NULL) {
      in_uids[n] = in_uid;
      inputs[n++] = f;
    }
  }
  TRACE("  combine kind %d over %zu inputs\n", kind, n);
  switch (kind) {
  case K_ALL:
    NOCB(out = future_all(&S.loop, inputs, n));
    break;
  case K_ALL_SETTLED:
    NOCB(out = future_all_settled(&S.loop, inputs, n));
    break;
  case K_ANY:
    NOCB(out = future_any(&S.loop, inputs, n));
    break;
  default:
    NOCB(out = future_race(&S.loop, inputs, n));
    break;
  }
  if (out == NULL) {
    CHECK(OOM(), "combining failed");
    return;
  }
  if (n > 0) {
    CHECK(future_state(out) == FUTURE_PENDING || ENOMEM_FUTURE(out),
          "a combined future settled inside the combining call");
  } else if (kind == K_ALL || kind == K_ALL_SETTLED) {
    const future_list_t *list = future_value(out);
    CHECK((future_state(out) == FUTURE_FULFILLED && list != NULL &&
           list->count == 0) ||
              (future_error(out) != NULL &&
               ENOMEM_OK(future_error_code(future_error(out)))),
          "all/all_settled of nothing is not an empty list");
  } else {
    const future_error_t *e = future_error(out);
    CHECK(future_state(out) == FUTURE_REJECTED && e != NULL &&
              (future_error_code(e) ==
                   (kind == K_ANY ? FUTURE_EAGGREGATE : UV_EINVAL) ||
               ENOMEM_OK(future_error_code(e))),
          "any/race of nothing did not reject as documented");
  }
  uid = new_uid(kind);
  if (uid >= 0) {
    S.meta[uid].ninputs = n;
    memcpy(S.meta[uid].inputs, inputs, n * sizeof(future_t *));
    for (size_t k = 0; k < n; k++)
      add_edge(uid, in_uids[k]);
  }
  put(dst, out, uid);
}

static void op_wait(uint8_t sb) {
  int i = sb % NSLOTS, uid, rc;
  slot_t pre;
  future_result_t r;
  future_t *f;
  if (S.pool[i].f == NULL)
    return;
  pre = S.pool[i];
  uid = pre.uid;
  f = take(sb);
  rc = future_wait(f, &r);
  CHECK(rc == r.status, "future_wait returned %d, status %d", rc, r.status);
  CHECK(rc != FUTURE_EINCALLBACK, "future_wait outside callbacks: EINCALLBACK");
  CHECK(rc <= 0, "future_wait returned %d", rc);
  if (rc == 0) {
    CHECK(r.error == NULL, "future_wait: status 0 with an error");
    check_value(r.value);
  } else {
    CHECK(r.error != NULL && future_error_code(r.error) == rc,
          "future_wait: status %d without its error", rc);
  }
  if (pre.st == FUTURE_FULFILLED)
    CHECK(rc == 0 && r.value == pre.val,
          "future_wait on a fulfilled future returned %d", rc);
  else if (pre.st == FUTURE_REJECTED)
    CHECK(r.error == pre.err,
          "future_wait on a rejected future returned another error");
  if (S.pool[i].f != NULL && S.pool[i].uid == uid && !ENOMEM_OK(rc)) {
    /* Still held: its state agrees with what was reported (unless the
     * report itself could not be made, out of memory). */
    future_state_t st = future_state(S.pool[i].f);
    if (rc == FUTURE_ESTALLED && st != FUTURE_REJECTED)
      /* Either the wait stalled, or the future itself was rejected with
       * FUTURE_ESTALLED (a combination whose input was released
       * unsettled). */
      CHECK(st == FUTURE_PENDING, "future_wait stalled on a settled future");
    else if (rc == 0)
      CHECK(st == FUTURE_FULFILLED && future_value(S.pool[i].f) == r.value,
            "future_wait's value differs from the future's");
    else
      CHECK(st == FUTURE_REJECTED && future_error(S.pool[i].f) == r.error,
            "future_wait's error differs from the future's");
  }
  NOCB(future_result_release(&r));
}

static void op_adopt(int i, uint8_t sb) {
  slot_t *a = &S.pool[i];
  const slot_t *b = &S.pool[sb % NSLOTS];
  future_t *af, *src;
  int expect, rc, same, src_st, auid;
  void *src_val;
  const future_error_t *src_err;
  if (a->f == NULL || b->f == NULL)
    return;
  af = a->f;
  auid = a->uid;
  if (tidy_refuses(auid, b->uid))
    return;
  add_edge(auid, b->uid);
  same = af == b->f;
  src_st = future_state(b->f);
  src_val = future_value(b->f);
  src_err = future_error(b->f);
  expect = settleable(i) ? 0 : FUTURE_ESETTLED;
  src = take(sb);
  NOCB(rc = future_adopt(af, src));
  CHECK(rc == expect, "future_adopt returned %d, expected %d", rc, expect);
  /* If `a` was consumed as the source, it may be gone now. */
  if (rc != 0 || a->f != af)
    return;
  if (same) {
    const future_error_t *e = future_error(af);
    CHECK(e != NULL && (future_error_code(e) == FUTURE_ECYCLE ||
                        ENOMEM_OK(future_error_code(e))),
          "future_adopt of itself did not reject with FUTURE_ECYCLE");
  } else if (src_st == FUTURE_PENDING &&
             future_state(af) == FUTURE_REJECTED) {
    /* The pending source waits, through what it follows, on `a`: the
     * library refuses the cycle. */
    const future_error_t *e = future_error(af);
    CHECK(future_error_code(e) == FUTURE_ECYCLE ||
              ENOMEM_OK(future_error_code(e)),
          "future_adopt of a pending future rejected at once, not as a "
          "cycle");
  } else if (src_st == FUTURE_PENDING) {
    CHECK(future_state(af) == FUTURE_PENDING,
          "future_adopt of a pending future settled at once");
    S.meta[auid].adopting = 1;
  } else {
    CHECK((int)future_state(af) == src_st && future_value(af) == src_val &&
              future_error(af) == src_err,
          "future_adopt of a settled future did not copy its outcome");
  }
}

int op_loop_close(void) {
  int rc;
  pool_unblock();
  S.closing = 1;
  rc = future_loop_close(&S.loop);
  S.closing = 0;
  CHECK(rc == 0 || rc == UV_EBUSY, "future_loop_close returned %d", rc);
  CHECK(rc == UV_EBUSY || !resolvers_outstanding(),
        "future_loop_close tore down a loop with a resolver not yet used");
  if (rc == 0) {
    for (int i = 0; i < NSLOTS; i++)
      CHECK(S.pool[i].f == NULL,
            "future_loop_close tore down a loop whose futures are held");
    CHECK(S.nkept == 0,
          "future_loop_close tore down a loop whose futures are held");
    CHECK(future_loop_live(&S.loop) == 0, "torn down with live futures");
    S.loop_state = 0;
    async_loop_closed();
  } else {
    CHECK(future_loop_live(&S.loop) > 0 || streams_held() ||
              streams_in_results(),
          "UV_EBUSY with no live future and no stream held");
  }
  /* The other way round: while the harness holds a stream (an end of
   * its socketpair, its listener), the header promises UV_EBUSY. */
  CHECK(rc == UV_EBUSY || !streams_held(),
        "future_loop_close tore down a loop whose streams are held");
  return rc;
}

/* The usual end of a libuv program: uv_walk closes every handle, the
 * library's included, with work pending; sub bit 0 first tears the
 * library's state down (which may refuse: futures are held). The input
 * ends here; the end of an input then checks that teardown still
 * completes, frees everything and runs every destructor. */
static void close_every_handle(uv_handle_t *h, void *arg) {
  int *owned = arg;
  *owned += future_loop_owns_handle(h);
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void op_walk(void) {
  uint8_t sub = next_byte();
  int owned = 0;
  TRACE("  walk, %s\n", sub & 1 ? "after future_loop_close" : "first");
  pool_unblock();
  if (sub & 1)
    op_loop_close();
  uv_walk(&S.loop, close_every_handle, &owned);
  /* The loop's three, and the watchers of signal futures. */
  CHECK(owned == 0 || owned >= 3,
        "the walk met %d of the library's handles, not 0 or 3 and more",
        owned);
  CHECK(owned >= 3 || !S.loop_state,
        "the library has state for the loop, but the walk met none of its "
        "handles");
  S.walked = 1;
}

/* Pipelines (op pipeline): future_pipeline on a slot's future, pending or
 * settled, held elsewhere or not, and steps of every kind, read from the
 * input as specs of three bytes `t s b` (fuzz/README.md). The harness
 * keeps a model of each pipeline: the list of its steps and, while it can
 * know it, the outcome in hand (state, value pointer, error code). Checked:
 *   - steps run from the loop, never inside a call, in the order they were
 *     added, each at most once, only while the pipeline is pending;
 *   - a step that did not run is one whose callback does not apply to the
 *     outcome that went past it (a NULL callback, or a value step on a
 *     rejection), and a step whose callback applies did run;
 *   - what a step receives is the model's outcome: the value pointer that
 *     the steps before gave (a value step adding constants to a number
 *     sees the sum), or a rejection with the code a step returned
 *     (FUTURE_ECYCLE for the pipeline itself, UV_ENOMEM for NULL,
 *     UV_EINVAL for a future of another loop);
 *   - the pipeline settles with the model's outcome, UV_ECANCELED once a
 *     step cancelled it, or, out of memory, UV_ENOMEM;
 *   - future_pipeline_then(_value) answer 0 on a pending pipeline,
 *     FUTURE_ESETTLED on a settled one, UV_EINVAL for NULL, a future that
 *     is no pipeline, or a NULL function (UV_ENOMEM out of memory); a new
 *     pipeline is pending, even on a settled future.
 * A "number" is a value pointer below any mapping (pnum): value steps do
 * arithmetic on it, so a chain of them is checked against its sum. */
#define MAX_PIPES 64
#define MAX_PSPECS 16
#define MAX_PSTEPS 160 /* steps a pipeline may be given: bounds the loops
                          of steps adding steps (more than a batch of 64) */
#define PNUM_BASE 0x100u
#define PNUM_MASK 0x7fffu

typedef struct {
  uint8_t t, s, b;
} pspec_t;

struct pipe_ctx;

typedef struct {
  struct pipe_ctx *pc;
  int spec;
  int ran;
} pstep_t;

typedef struct pipe_ctx {
  int uid;
  future_t *pl;     /* no reference: used only while its steps run */
  int nspecs;
  pspec_t specs[MAX_PSPECS];
  int nsteps;
  pstep_t steps[MAX_PSTEPS];
  int last;         /* the last step that ran, or -1 */
  int known;        /* the outcome in hand is known: */
  future_state_t st;
  void *val;
  int code;
  int cancelled;    /* by one of its own steps */
  int first_uid;    /* what it waits on first, or -1 */
} pipe_ctx_t;

static pipe_ctx_t pipes[MAX_PIPES];
static int npipes;
static uv_loop_t other_loop; /* for steps returning a future of another loop */
static int other_used;

static void *pnum(unsigned n) {
  return (void *)(uintptr_t)(PNUM_BASE + (n & PNUM_MASK));
}

static int is_pnum(const void *p) {
  return (uintptr_t)p >= PNUM_BASE && (uintptr_t)p <= PNUM_BASE + PNUM_MASK;
}

/* Whether the step's callback runs on an outcome in state `st`. */
static int pstep_applies(const pspec_t *sp, future_state_t st) {
  int kind = sp->t & 3;
  if (kind == 0)
    return st == FUTURE_FULFILLED;
  if (sp->t & 0x80)
    return 0; /* both callbacks NULL */
  return st == FUTURE_FULFILLED ? (kind & 1) != 0 : (kind & 2) != 0;
}

static void pipe_model(pipe_ctx_t *pc, future_state_t st, void *val,
                       int code) {
  pc->known = 1;
  pc->st = st;
  pc->val = st == FUTURE_FULFILLED ? val : NULL;
  pc->code = st == FUTURE_REJECTED ? code : 0;
}

/* The model after a step returned `r`, a settled future of the loop. */
static void pipe_model_of(pipe_ctx_t *pc, future_t *r) {
  future_state_t st = future_state(r);
  pipe_model(pc, st, future_value(r),
             st == FUTURE_REJECTED ? future_error_code(future_error(r)) : 0);
}

static future_t *pipe_fulfilled(future_t *settled, void *data);
static future_t *pipe_rejected(future_t *settled, void *data);
static future_error_t *pipe_value(void **value, void *data);

/* Add spec `spec` of `pc` as a step of `pl`: the answer must be what the
 * header says for the pipeline's state. */
static void pipe_add(pipe_ctx_t *pc, future_t *pl, int spec) {
  const pspec_t *sp = &pc->specs[spec];
  int kind = sp->t & 3, rc, pending, expect;
  pstep_t *st;
  if (pc->nsteps >= MAX_PSTEPS)
    return;
  st = &pc->steps[pc->nsteps];
  st->pc = pc;
  st->spec = spec;
  st->ran = 0;
  pending = future_state(pl) == FUTURE_PENDING;
  expect = pending ? 0 : FUTURE_ESETTLED;
  if (kind == 0 && (sp->t & 0x80)) {
    NOCB(rc = future_pipeline_then_value(pl, NULL, st));
    CHECK(rc == (pending ? UV_EINVAL : FUTURE_ESETTLED),
          "future_pipeline_then_value with no function returned %d", rc);
    return;
  }
  if (kind == 0) {
    NOCB(rc = future_pipeline_then_value(pl, pipe_value, st));
  } else {
    future_cb a = NULL, b = NULL;
    if (!(sp->t & 0x80)) {
      a = (kind & 1) ? pipe_fulfilled : NULL;
      b = (kind & 2) ? pipe_rejected : NULL;
    }
    NOCB(rc = future_pipeline_then(pl, a, b, st));
  }
  CHECK(rc == expect || (expect == 0 && ENOMEM_OK(rc)),
        "adding step %d to pipeline %d returned %d, expected %d", pc->nsteps,
        pc->uid, rc, expect);
  if (rc == 0)
    pc->nsteps++;
}

/* Step `st` runs on an outcome `st_in` (value or error code): the checks
 * of order, of the steps passed by, and of the model. */
static void pipe_enter(pstep_t *st, future_state_t st_in, void *val, int code,
                       const char *what) {
  pipe_ctx_t *pc = st->pc;
  int k = (int)(st - pc->steps);
  const pspec_t *sp = &pc->specs[st->spec];
  CHECK(S.nocb == 0, "pipeline %d: step %d (%s) ran inside a library call",
        pc->uid, k, what);
  CHECK(!future_in_fiber(), "pipeline %d: step %d ran inside a fiber",
        pc->uid, k);
  CHECK(!st->ran, "pipeline %d: step %d ran twice", pc->uid, k);
  st->ran = 1;
  CHECK(future_state(pc->pl) == FUTURE_PENDING,
        "pipeline %d: step %d ran on a settled pipeline", pc->uid, k);
  CHECK(k > pc->last, "pipeline %d: step %d ran after step %d", pc->uid, k,
        pc->last);
  CHECK(pstep_applies(sp, st_in), "pipeline %d: step %d (%s) ran on state %d",
        pc->uid, k, what, st_in);
  for (int i = pc->last + 1; i < k; i++)
    CHECK(!pstep_applies(&pc->specs[pc->steps[i].spec], st_in),
          "pipeline %d: step %d was passed by on state %d", pc->uid, i,
          st_in);
  if (pc->known) {
    CHECK(st_in == pc->st, "pipeline %d: step %d got state %d, not %d",
          pc->uid, k, st_in, pc->st);
    if (st_in == FUTURE_FULFILLED)
      CHECK(val == pc->val, "pipeline %d: step %d got value %p, not %p",
            pc->uid, k, val, pc->val);
    else
      CHECK(code == pc->code || ENOMEM_OK(code),
            "pipeline %d: step %d got error %d, not %d", pc->uid, k, code,
            pc->code);
  }
  pc->last = k;
  pipe_model(pc, st_in, val, code);
  check_value(val);
  TRACE("  pipeline %d: step %d (%s)\n", pc->uid, k, what);
  check_pool("pipeline step entry");
}

/* What a step does first: `s & 7` to slot `s >> 4` as a callback's side
 * effect (7: future_wait, refused), `s & 8` cancel its own pipeline; then,
 * with `t & 0x20`, it adds 1 or 2 steps to its own pipeline. */
static void pipe_side(pstep_t *st) {
  pipe_ctx_t *pc = st->pc;
  const pspec_t *sp = &pc->specs[st->spec];
  int slot = sp->s >> 4, rc;
  switch (sp->s & 7) {
  case S_CANCEL:
    if (!((S.tidy & TIDY_CANCEL) && S.pool[slot].f != NULL &&
          (S.pool[slot].f == pc->pl || reaches(S.pool[slot].uid, pc->uid))))
      op_cancel(slot);
    break;
  case S_RESOLVE:
    op_resolve(slot, sp->b);
    break;
  case S_REJECT:
    op_reject(slot, sp->b);
    break;
  case S_DROP:
    drop(slot);
    break;
  case S_NEW:
    if (!S.finishing)
      op_new(slot);
    break;
  case S_LOOP_CLOSE:
    rc = future_loop_close(&S.loop);
    CHECK(rc == FUTURE_EINCALLBACK,
          "future_loop_close in a pipeline step returned %d", rc);
    break;
  case S_NONE2: {
    future_result_t r;
    rc = future_wait(future_ref(pc->pl), &r);
    CHECK(rc == FUTURE_EINCALLBACK || ENOMEM_OK(rc),
          "future_wait in a pipeline step returned %d", rc);
    NOCB(future_result_release(&r));
    break;
  }
  default:
    break;
  }
  if (sp->s & 8) {
    int pending = future_state(pc->pl) == FUTURE_PENDING;
    NOCB(rc = future_cancel(pc->pl));
    CHECK(rc == (pending ? 0 : FUTURE_ESETTLED),
          "a step cancelling its own pipeline got %d", rc);
  }
  if (future_state(pc->pl) != FUTURE_PENDING) {
    const future_error_t *e = future_error(pc->pl);
    CHECK(e != NULL && (future_error_code(e) == UV_ECANCELED ||
                        ENOMEM_OK(future_error_code(e))),
          "pipeline %d settled inside its own step, not cancelled", pc->uid);
    pc->cancelled = 1;
  }
  if ((sp->t & 0x20) && !S.finishing) {
    int n = 1 + ((sp->t >> 6) & 1), first = (sp->b >> 4) % pc->nspecs;
    for (int i = 0; i < n; i++)
      pipe_add(pc, pc->pl, (first + i) % pc->nspecs);
  }
  check_pool("pipeline step side effect");
}

/* Whether the pending future `uid` waits on the running pipeline `pl`
 * for sure: a continuation or a pipeline made on it, whose callback
 * cannot have run (the pipeline is pending), so that it still waits on
 * its source (for a continuation, the first edge the harness recorded). */
static int waits_on_pipe(int uid, int pl) {
  int e, last = -1, kind;
  if (uid < 0)
    return 0;
  kind = S.meta[uid].kind;
  if (kind == K_PIPE)
    return pipes[S.meta[uid].aux].first_uid == pl;
  if (kind != K_THEN && kind != K_CATCH && kind != K_FINALLY)
    return 0;
  for (e = S.edge_head[uid]; e >= 0; e = S.edge_next[e])
    last = e;
  return last >= 0 && S.edge_to[last] == pl;
}

static uv_loop_t *pipe_other_loop(void) {
  if (!other_used) {
    CHECK(uv_loop_init(&other_loop) == 0, "uv_loop_init");
    other_used = 1;
  }
  return &other_loop;
}

static future_t *pipe_then(future_t *settled, void *data, int rejected) {
  pstep_t *st = data;
  pipe_ctx_t *pc = st->pc;
  const pspec_t *sp = &pc->specs[st->spec];
  future_state_t s_in = future_state(settled);
  future_t *r = NULL;
  CHECK(s_in == (rejected ? FUTURE_REJECTED : FUTURE_FULFILLED),
        "pipeline %d: %s ran on state %d", pc->uid,
        rejected ? "on_rejected" : "on_fulfilled", s_in);
  pipe_enter(st, s_in, future_value(settled),
             rejected ? future_error_code(future_error(settled)) : 0,
             rejected ? "on_rejected" : "on_fulfilled");
  pipe_side(st);
  switch ((sp->t >> 2) & 7) {
  case R_PASS:
    NOCB(r = future_ref(settled));
    return r; /* the model stands */
  case R_RESOLVED: {
    void *value;
    future_dtor_cb dtor;
    make_value(sp->b, &value, &dtor);
    NOCB(r = future_resolved(&S.loop, value, dtor));
    break;
  }
  case R_REJECTED:
    NOCB(r = future_rejected(&S.loop, make_error(sp->b)));
    break;
  case R_NULL:
    pipe_model(pc, FUTURE_REJECTED, NULL, UV_ENOMEM);
    return NULL;
  case R_POOL: {
    slot_t *s = &S.pool[sp->b % NSLOTS];
    if (s->f == NULL && !S.finishing)
      op_new(sp->b % NSLOTS);
    if (s->f != NULL && !tidy_refuses(pc->uid, s->uid)) {
      add_edge(pc->uid, s->uid);
      NOCB(r = future_ref(s->f));
      if (r == pc->pl || (future_state(r) == FUTURE_PENDING &&
                          waits_on_pipe(s->uid, pc->uid)))
        pipe_model(pc, FUTURE_REJECTED, NULL, FUTURE_ECYCLE);
      else if (future_state(r) == FUTURE_PENDING)
        pc->known = 0; /* waits for it (or FUTURE_ECYCLE, if it waits on
                          the pipeline in a way the harness does not
                          follow) */
      else
        pipe_model_of(pc, r);
      return r;
    }
    NOCB(r = future_ref(settled));
    return r;
  }
  case R_SELF:
    NOCB(r = future_ref(pc->pl));
    pipe_model(pc, FUTURE_REJECTED, NULL, FUTURE_ECYCLE);
    return r;
  case R_RESOLVED0:
    /* A future of another loop: UV_EINVAL. */
    NOCB(r = future_resolved(pipe_other_loop(), NULL, NULL));
    pipe_model(pc, FUTURE_REJECTED, NULL, r != NULL ? UV_EINVAL : UV_ENOMEM);
    return r;
  default:
    NOCB(r = future_resolved(&S.loop, pnum(sp->b), NULL));
    break;
  }
  if (r == NULL)
    pipe_model(pc, FUTURE_REJECTED, NULL, UV_ENOMEM);
  else
    pipe_model_of(pc, r);
  return r;
}

static future_t *pipe_fulfilled(future_t *settled, void *data) {
  return pipe_then(settled, data, 0);
}

static future_t *pipe_rejected(future_t *settled, void *data) {
  return pipe_then(settled, data, 1);
}

/* A value step, by `(t >> 2) & 7`: 0 add b (a number; anything else
 * becomes the number b), 1 keep the value, 2 NULL, 3 the token, 4 reject
 * with make_error(b) (its NULL goes on with the value), 5 change the
 * value and reject with UV_EIO, 6 the number b, 7 add 1. */
static future_error_t *pipe_value(void **value, void *data) {
  pstep_t *st = data;
  pipe_ctx_t *pc = st->pc;
  const pspec_t *sp = &pc->specs[st->spec];
  future_error_t *err = NULL;
  void *v;
  pipe_enter(st, FUTURE_FULFILLED, *value, 0, "value");
  pipe_side(st);
  v = *value;
  switch ((sp->t >> 2) & 7) {
  case 0:
    v = is_pnum(v) ? pnum((unsigned)((uintptr_t)v - PNUM_BASE) + sp->b)
                   : pnum(sp->b);
    break;
  case 1:
    break;
  case 2:
    v = NULL;
    break;
  case 3:
    v = &token;
    break;
  case 4:
    err = make_error(sp->b);
    break;
  case 5:
    v = &token;
    err = future_error_new(UV_EIO, "pipeline step %d", (int)(st - pc->steps));
    break;
  case 6:
    v = pnum(sp->b);
    break;
  default:
    v = is_pnum(v) ? pnum((unsigned)((uintptr_t)v - PNUM_BASE) + 1)
                   : pnum(1);
    break;
  }
  *value = v;
  if (err != NULL)
    pipe_model(pc, FUTURE_REJECTED, NULL, future_error_code(err));
  else
    pipe_model(pc, FUTURE_FULFILLED, v, 0);
  return err;
}

/* The pipeline `uid` is seen settled: it settled with the model's outcome,
 * with no step left that should have run; or it was cancelled (by a step,
 * an op, what waits on it, a loop close), or ran out of memory. */
static void pipe_seen(int uid, future_state_t st, void *value,
                      const future_error_t *err) {
  pipe_ctx_t *pc = &pipes[S.meta[uid].aux];
  int code = st == FUTURE_REJECTED ? future_error_code(err) : 0;
  if (st == FUTURE_REJECTED && (code == UV_ECANCELED || ENOMEM_OK(code)))
    return;
  CHECK(!pc->cancelled, "pipeline %d, cancelled by its step, settled with %d",
        uid, code);
  for (int i = pc->last + 1; i < pc->nsteps; i++)
    CHECK(!pstep_applies(&pc->specs[pc->steps[i].spec], st),
          "pipeline %d settled (state %d) before its step %d ran", uid, st,
          i);
  if (!pc->known)
    return;
  CHECK(st == pc->st, "pipeline %d settled in state %d, not %d", uid, st,
        pc->st);
  if (st == FUTURE_FULFILLED)
    CHECK(value == pc->val, "pipeline %d fulfilled with %p, not %p", uid,
          value, pc->val);
  else
    CHECK(code == pc->code, "pipeline %d rejected with %d, not %d", uid,
          code, pc->code);
}

/* The calls' answers at the edges: NULL, a future that is no pipeline. */
static void pipe_edges(future_t *other) {
  future_t *f;
  int rc;
  NOCB(f = future_pipeline(NULL));
  CHECK(f == NULL, "future_pipeline(NULL) returned a future");
  NOCB(rc = future_pipeline_then(NULL, pipe_fulfilled, NULL, NULL));
  CHECK(rc == UV_EINVAL, "future_pipeline_then(NULL) returned %d", rc);
  NOCB(rc = future_pipeline_then_value(NULL, pipe_value, NULL));
  CHECK(rc == UV_EINVAL, "future_pipeline_then_value(NULL) returned %d", rc);
  NOCB(rc = future_pipeline_then_value(NULL, NULL, NULL));
  CHECK(rc == UV_EINVAL, "future_pipeline_then_value(NULL, NULL) returned %d",
        rc);
  if (other != NULL) {
    NOCB(rc = future_pipeline_then(other, pipe_fulfilled, pipe_rejected,
                                   NULL));
    CHECK(rc == UV_EINVAL, "future_pipeline_then on no pipeline returned %d",
          rc);
    NOCB(rc = future_pipeline_then_value(other, pipe_value, NULL));
    CHECK(rc == UV_EINVAL,
          "future_pipeline_then_value on no pipeline returned %d", rc);
  }
}

/* op pipeline: src, dst, count, then `1 + count % 8` specs `t s b`. */
static void op_pipeline(void) {
  uint8_t sb = next_byte();
  int dst = next_byte() % NSLOTS, n = 1 + next_byte() % 8;
  slot_t *s = &S.pool[sb % NSLOTS];
  pspec_t specs[8];
  pipe_ctx_t *pc;
  future_t *first, *pl;
  int uid;
  for (int i = 0; i < n; i++) {
    specs[i].t = next_byte();
    specs[i].s = next_byte();
    specs[i].b = next_byte();
  }
  pipe_edges(s->f != NULL && S.meta[s->uid].kind != K_PIPE ? s->f : NULL);
  if ((sb & 32) && s->f != NULL && S.meta[s->uid].kind == K_PIPE) {
    /* More steps at the end of a pipeline the pool holds: 0 while it is
     * pending, FUTURE_ESETTLED once it has settled. */
    pc = &pipes[S.meta[s->uid].aux];
    TRACE("  pipeline %d: %d more steps\n", pc->uid, n);
    for (int i = 0; i < n && pc->nspecs < MAX_PSPECS; i++) {
      pc->specs[pc->nspecs] = specs[i];
      pipe_add(pc, s->f, pc->nspecs++);
    }
    return;
  }
  if (npipes >= MAX_PIPES)
    return;
  pc = &pipes[npipes];
  memset(pc, 0, sizeof(*pc));
  pc->last = -1;
  if (s->f == NULL) {
    NOCB(first = future_resolved(&S.loop, pnum(sb), NULL));
    if (first == NULL) {
      CHECK(OOM(), "future_resolved returned NULL");
      return;
    }
    uid = -1;
  } else {
    uid = s->uid;
    first = take(sb);
  }
  if (future_state(first) != FUTURE_PENDING)
    pipe_model_of(pc, first);
  NOCB(pl = future_pipeline(first));
  if (pl == NULL) {
    CHECK(OOM(), "future_pipeline returned NULL");
    return;
  }
  CHECK(future_state(pl) == FUTURE_PENDING,
        "a pipeline settled inside future_pipeline");
  pc->pl = pl;
  pc->uid = new_uid(K_PIPE);
  if (pc->uid < 0) {
    NOCB(future_unref(pl));
    return;
  }
  npipes++;
  S.meta[pc->uid].aux = (int)(pc - pipes);
  pc->first_uid = uid;
  add_edge(pc->uid, uid);
  TRACE("  pipeline %d on future %d, %d steps\n", pc->uid, uid, n);
  for (int i = 0; i < n; i++) {
    pc->specs[pc->nspecs] = specs[i];
    pipe_add(pc, pl, pc->nspecs++);
  }
  put(dst, pl, pc->uid);
}

/* The end of an input: the other loop's state goes (its futures were
 * released by the pipelines that refused them). */
static void pipes_end(void) {
  if (other_used) {
    int rc = future_loop_close(&other_loop);
    CHECK(rc == 0, "future_loop_close of the other loop returned %d", rc);
    uv_run(&other_loop, UV_RUN_NOWAIT);
    rc = uv_loop_close(&other_loop);
    CHECK(rc == 0, "uv_loop_close of the other loop returned %d", rc);
    other_used = 0;
  }
}

static const char *const op_names[OP_END] = {
    "new",    "resolved", "rejected", "resolve", "reject",   "then",
    "catch",  "finally",  "ref",      "drop",    "cancel",   "combine",
    "delay0", "run",      "wait",     "adopt",   "timeout0", "loop_close",
    "alloc",  "misc",     "trace",   "pool",    "work",     "fs",
    "tree",   "threadsafe", "deliver", "helper_wait", "delay", "timeout",
    "run_timers", "map",  "retry", "async",   "await",   "walk",
    "dns",    "signal", "watch", "cp",    "process", "udp",
    "stream", "net",  "pipeline"};

static void run_op(uint8_t opb) {
  int op = opb < NEW_OP_BASE ? opb % NOPS
                             : NOPS + (opb - NEW_OP_BASE) % NNEWOPS;
  TRACE("op %s @%zu\n", op_names[op], S.pos - 1);
  switch (op) {
  case OP_NEW:
    op_new(next_byte() % NSLOTS);
    break;
  case OP_RESOLVED: {
    int dst = next_byte() % NSLOTS;
    void *value;
    future_dtor_cb dtor;
    future_t *f;
    make_value(next_byte(), &value, &dtor);
    NOCB(f = future_resolved(&S.loop, value, dtor));
    if (OOM() && (f == NULL || future_state(f) == FUTURE_REJECTED)) {
      /* No future, or no holder for the value: the destructor ran. */
      CHECK(dtor == NULL || !((val_t *)value)->alive,
            "future_resolved out of memory did not run the destructor");
      CHECK(f == NULL ||
                future_error_code(future_error(f)) == UV_ENOMEM,
            "future_resolved rejected, not with UV_ENOMEM");
    } else {
      CHECK(f != NULL && future_state(f) == FUTURE_FULFILLED &&
                future_value(f) == value,
            "future_resolved is not fulfilled with its value");
    }
    put(dst, f, new_uid(K_RESOLVED));
    break;
  }
  case OP_REJECTED: {
    int dst = next_byte() % NSLOTS;
    future_error_t *err = make_error(next_byte());
    future_t *f;
    NOCB(f = future_rejected(&S.loop, err));
    CHECK((f == NULL && OOM()) ||
              (f != NULL && future_state(f) == FUTURE_REJECTED &&
               (err == NULL || future_error(f) == err)),
          "future_rejected is not rejected with its error");
    put(dst, f, new_uid(K_REJECTED));
    break;
  }
  case OP_RESOLVE: {
    int i = next_byte() % NSLOTS;
    op_resolve(i, next_byte());
    break;
  }
  case OP_REJECT: {
    int i = next_byte() % NSLOTS;
    op_reject(i, next_byte());
    break;
  }
  case OP_THEN: {
    uint8_t sb = next_byte();
    int dst = next_byte() % NSLOTS;
    spec_t f = read_spec(), r = read_spec();
    op_chain(K_THEN, sb, dst, f, r);
    break;
  }
  case OP_CATCH:
  case OP_FINALLY: {
    uint8_t sb = next_byte();
    int dst = next_byte() % NSLOTS;
    spec_t sp = read_spec();
    if (op == OP_CATCH)
      op_chain(K_CATCH, sb, dst, sp, sp);
    else
      op_chain(K_FINALLY, sb, dst, sp, sp);
    break;
  }
  case OP_REF: {
    int src = next_byte() % NSLOTS, dst = next_byte() % NSLOTS;
    if (S.pool[src].f != NULL) {
      future_t *f;
      NOCB(f = future_ref(S.pool[src].f));
      CHECK(f == S.pool[src].f, "future_ref returned another future");
      put(dst, f, S.pool[src].uid);
    }
    break;
  }
  case OP_DROP:
    drop(next_byte() % NSLOTS);
    break;
  case OP_CANCEL:
    op_cancel(next_byte() % NSLOTS);
    break;
  case OP_COMBINE: {
    uint8_t mb = next_byte();
    int dst = next_byte() % NSLOTS;
    op_combine(mb, dst);
    break;
  }
  case OP_DELAY0: {
    /* Bit 4 of the slot byte: future_yield, which is a delay of 0. */
    uint8_t db = next_byte();
    int dst = db % NSLOTS;
    future_t *f;
    NOCB(f = (db & 16) ? future_yield(&S.loop) : future_delay(&S.loop, 0));
    CHECK(ENOMEM_FUTURE(f) || future_state(f) == FUTURE_PENDING,
          "future_delay is not pending");
    put(dst, f, new_uid(K_DELAY));
    break;
  }
  case OP_RUN: {
    int n = (next_byte() & 3) + 1;
    while (n-- > 0) {
      pool_barrier();
      uv_run(&S.loop, UV_RUN_NOWAIT);
    }
    pool_barrier();
    break;
  }
  case OP_WAIT: {
    uint8_t sb = next_byte();
    /* Not while something outside the loop holds it alive (a resolver not
     * yet used, a wait from another thread): that would block for ever. */
    if (resolvers_outstanding() || helper_waits_issued() ||
        long_retry_pending() || watchers_pending())
      break;
    pool_unblock();
    op_wait(sb);
    pool_barrier();
    break;
  }
  case OP_ADOPT: {
    int i = next_byte() % NSLOTS;
    op_adopt(i, next_byte());
    break;
  }
  case OP_TIMEOUT0: {
    uint8_t sb = next_byte();
    make_timeout(sb, next_byte() % NSLOTS, 0);
    break;
  }
  case OP_LOOP_CLOSE:
    op_loop_close();
    break;
  case OP_ALLOC:
    op_alloc();
    break;
  case OP_MISC:
    op_misc();
    break;
  case OP_TRACE:
    op_trace();
    break;
  case OP_POOL:
    op_pool();
    break;
  case OP_WORK:
    op_work();
    break;
  case OP_FS:
    op_fs();
    break;
  case OP_TREE:
    op_tree();
    break;
  case OP_THREADSAFE:
    op_threadsafe();
    break;
  case OP_DELIVER:
    op_deliver();
    break;
  case OP_HELPER_WAIT:
    op_helper_wait();
    break;
  case OP_DELAY:
    op_delay();
    break;
  case OP_TIMEOUT:
    op_timeout();
    break;
  case OP_RUN_TIMERS:
    op_run_timers();
    break;
  case OP_MAP:
    op_map();
    break;
  case OP_RETRY:
    op_retry();
    break;
  case OP_ASYNC:
    op_async();
    break;
  case OP_WALK:
    op_walk();
    break;
  case OP_DNS:
    op_dns();
    break;
  case OP_SIGNAL:
    op_signal();
    break;
  case OP_WATCH:
    op_watch();
    break;
  case OP_CP:
    op_cp();
    break;
  case OP_PROCESS:
    op_process();
    break;
  case OP_UDP:
    op_udp();
    break;
  case OP_STREAM:
    op_stream();
    break;
  case OP_NET:
    op_net();
    break;
  case OP_AWAIT:
    op_await();
    break;
  case OP_PIPELINE:
    op_pipeline();
    break;
  }
  check_pool(op_names[op]);
  scratch_check(op_names[op]);
}

/* A switch of the environment: unset, empty or "0" for none, "1" or
 * "all" for every bit, else the bits whose names appear in it. */
typedef struct {
  const char *name;
  int bit;
} flag_name_t;

static int env_flags(const char *var, const flag_name_t *names) {
  const char *t = getenv(var);
  int bits = 0, all = 0;
  for (const flag_name_t *n = names; n->name != NULL; n++)
    all |= n->bit;
  if (t == NULL || *t == '\0' || strcmp(t, "0") == 0)
    return 0;
  if (strcmp(t, "1") == 0 || strstr(t, "all") != NULL)
    return all;
  for (const flag_name_t *n = names; n->name != NULL; n++)
    if (strstr(t, n->name) != NULL)
      bits |= n->bit;
  return bits;
}

static const flag_name_t tidy_names[] = {{"sources", TIDY_SOURCES},
                                         {"cycles", TIDY_CYCLES},
                                         {"cancel", TIDY_CANCEL},
                                         {NULL, 0}};

static const flag_name_t avoid_names[] = {
    {"wait-null", AVOID_WAIT_NULL},
    {"trace-alloc", AVOID_TRACE_ALLOC},
    {"fifo", AVOID_FIFO},
    {"rm-swap", AVOID_RM_SWAP},
    {"foreign-release", AVOID_FOREIGN_RELEASE},
    {"foreign-wait", AVOID_FOREIGN_WAIT},
    {"timeout-settled", AVOID_TIMEOUT_SETTLED},
    {"factory-cancel", AVOID_FACTORY_CANCEL},
    {"nan-retry", AVOID_NAN_RETRY},
    {"huge-delay", AVOID_HUGE_DELAY},
    {"map-cycle", AVOID_MAP_CYCLE},
    {"mkdir-p-dangling", AVOID_MKDIR_P_DANGLING},
    {"await-status", AVOID_AWAIT_STATUS},
    {"close-delay", AVOID_CLOSE_DELAY},
    {NULL, 0}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int initialised;
  int ops = 0, rc;

  if (!initialised) {
    const char *t = getenv("FUZZ_OPS_TRACE");
    S.trace = t != NULL && *t != '\0' && *t != '0';
    S.tidy = env_flags("FUZZ_OPS_TIDY", tidy_names);
    S.avoid = env_flags("FUZZ_OPS_AVOID", avoid_names);
    future_set_unhandled_hook(on_unhandled, NULL, NULL);
    pool_init();
    initialised = 1;
  }
  memset(S.pool, 0, sizeof(S.pool));
  S.nuids = S.nvals = S.nctx = 0;
  npipes = 0;
  S.vals_born = S.vals_freed = 0;
  S.pool_used = 0;
  fs_begin();
  compose_begin();
  async_begin();
  S.nocb = S.finishing = S.closing = S.nkept = S.nedges = 0;
  S.walked = 0;
  S.unhandled = 0;
  S.loop_state = 0;
  S.data = data;
  S.size = size;
  S.pos = 0;
  hooks_begin();
  CHECK(uv_loop_init(&S.loop) == 0, "uv_loop_init failed");

  while (S.pos < S.size && ops++ < MAX_OPS && !S.walked)
    run_op(next_byte());

  /* The end: drop everything, run the loop dry, and nothing may remain. */
  TRACE("end\n");
  if (S.tidy & TIDY_SOURCES) {
    /* Settle every source still pending, the held ones too. */
    for (int k = 0; k < S.nkept; k++) {
      int rc;
      /* Another slot may have made it adopt since. */
      if (future_state(S.kept[k]) != FUTURE_PENDING ||
          S.meta[S.kept_uid[k]].adopting)
        continue;
      NOCB(rc = (k & 1) ? future_resolve(S.kept[k], NULL, NULL)
                        : future_reject(S.kept[k], make_error(0)));
      CHECK(rc == 0, "settling a kept source returned %d", rc);
    }
    for (int i = 0; i < NSLOTS; i++)
      if (settleable(i))
        op_resolve(i, 1);
  }
  S.finishing = 1;
  for (int i = 0; i < NSLOTS; i++)
    drop(i);
  for (int k = 0; k < S.nkept; k++)
    NOCB(future_unref(S.kept[k]));
  S.nkept = 0;
  compose_finish();
  signals_finish();
  pool_unblock();
  threads_finish();
  drain_loop();
  if (S.walked) {
    /* Nothing of the library's runs from the loop any more: teardown
     * runs what is queued and cancels the rest. Fibers that await again
     * when cancelled (a delay made after the cancel) need another call,
     * one for each of their steps (up to fuzz_async.c's MAX_STEPS, 6:
     * four calls were too few, FUZZ_OPS_TIDY found), and fibers started
     * by fibers more; the bound only stops a loop that never ends. Then
     * the watched futures are let go. */
    for (int k = 0; k < 32 && op_loop_close() != 0; k++)
      ;
  }
  async_finish();
  drain_loop();
  threads_end();
  for (int i = 0; i < NSLOTS; i++)
    CHECK(S.pool[i].f == NULL, "a callback filled the pool while finishing");
  CHECK(future_loop_live(&S.loop) == 0,
        "%zu futures still alive after everything was dropped",
        future_loop_live(&S.loop));
  rc = future_loop_close(&S.loop);
  CHECK(rc == 0, "future_loop_close returned %d", rc);
  async_loop_closed();
  if (S.walked)
    CHECK(uv_run(&S.loop, UV_RUN_DEFAULT) == 0, "the loop runs on after the walk");
  rc = uv_loop_close(&S.loop);
  CHECK(rc == 0, "uv_loop_close returned %d", rc);
  pipes_end();
  trace_end();
  work_end();
  scratch_end();
  CHECK(S.vals_freed == S.vals_born, "%d of %d value destructors ran",
        (int)S.vals_freed, (int)S.vals_born);
  for (int i = 0; i < S.nvals; i++)
    CHECK(!S.vals[i].alive, "value %d was never destroyed", i);
  hooks_end();
  TRACE("ok: %d ops, %d futures, %d values, %d callbacks, %ld unhandled\n",
        ops, S.nuids, S.nvals, S.nctx, S.unhandled);
  return 0;
}
