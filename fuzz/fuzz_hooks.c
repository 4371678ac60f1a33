/*
 * fuzz_hooks.c: the process-wide hooks of the library, as the fuzz harness
 * uses them, and calls at the edges of the API.
 *
 * The allocator. Every input starts with future_set_allocator (which must
 * succeed: the previous input tore its loop down) installing a counting
 * allocator, so that every allocation the library makes is seen:
 *   - at the end of the input, every block handed out has been freed (the
 *     count of blocks outstanding is back where it started);
 *   - each block carries a header, so that freeing a block the hook never
 *     handed out (or one already freed) is caught;
 *   - OP_ALLOC makes it fail the n-th allocation from now, or every one
 *     from the n-th on, chosen by the input; from then on OOM() is true
 *     and the harness accepts NULL returns and UV_ENOMEM outcomes, but
 *     nothing else (a settled future still never changes, destructors
 *     still run exactly once, nothing leaks, the loop still closes).
 * The counters are atomic: the library may allocate and free on the
 * threads of libuv's pool and on the harness's helper threads.
 *
 * Tracing. OP_TRACE starts and stops future_trace_start/stop to a file in
 * the scratch directory (fuzz_fs.c); every trace written must be JSON,
 * one object, starting with '{'. While every allocation fails, starting a
 * trace must fail with UV_ENOMEM: it needs its buffer, and the library
 * promises that all its memory comes from the hook. Starting one to a path
 * whose directory does not exist must fail at once, with UV_ENOENT.
 */
#include "fuzz_ops.h"

#include <limits.h>
#include <stdatomic.h>

/* The header in front of each block; 16 bytes keep malloc's alignment. */
#define HDR 16
#define ALLOC_MAGIC 0xa110c8edu
#define FREED_MAGIC 0xf4eedb10u

static atomic_long outstanding;   /* blocks handed out and not freed */
static long outstanding_at_start;
static atomic_ulong nallocs;      /* allocations asked for so far */
static atomic_ulong fail_nth;     /* 0, or the allocation that fails */
static atomic_ulong fail_from;    /* 0, or where failing every one starts */
static atomic_int failed;         /* one has failed during this input */

int alloc_failed(void) { return atomic_load(&failed); }

static int should_fail(void) {
  unsigned long n = atomic_fetch_add(&nallocs, 1) + 1;
  unsigned long nth = atomic_load(&fail_nth), from = atomic_load(&fail_from);
  if ((nth != 0 && n == nth) || (from != 0 && n >= from)) {
    atomic_store(&failed, 1);
    return 1;
  }
  return 0;
}

static void *hand_out(char *block) {
  if (block == NULL)
    return NULL;
  *(uint32_t *)block = ALLOC_MAGIC;
  atomic_fetch_add(&outstanding, 1);
  return block + HDR;
}

/* The block behind `p`, which must be one the hook handed out. */
static char *block_of(void *p) {
  char *block = (char *)p - HDR;
  uint32_t magic = *(uint32_t *)block;
  CHECK(magic != FREED_MAGIC, "the library freed a block twice");
  CHECK(magic == ALLOC_MAGIC,
        "the library freed, through the allocator hook, a block that the "
        "hook never handed out");
  return block;
}

static void *fz_malloc(size_t n) {
  if (n > SIZE_MAX - HDR || should_fail())
    return NULL;
  return hand_out(malloc(n + HDR));
}

static void *fz_calloc(size_t count, size_t n) {
  if ((n != 0 && count > (SIZE_MAX - HDR) / n) || should_fail())
    return NULL;
  return hand_out(calloc(1, count * n + HDR));
}

static void *fz_realloc(void *p, size_t n) {
  char *block, *grown;
  if (p == NULL)
    return fz_malloc(n);
  block = block_of(p);
  if (n > SIZE_MAX - HDR || should_fail())
    return NULL;
  grown = realloc(block, n + HDR);
  return grown != NULL ? grown + HDR : NULL;
}

static void fz_free(void *p) {
  char *block;
  if (p == NULL)
    return;
  block = block_of(p);
  *(uint32_t *)block = FREED_MAGIC;
  atomic_fetch_sub(&outstanding, 1);
  free(block);
}

void hooks_begin(void) {
  int rc = future_set_allocator(fz_malloc, fz_realloc, fz_calloc, fz_free);
  CHECK(rc == 0, "future_set_allocator at the start of an input returned %d",
        rc);
  atomic_store(&fail_nth, 0);
  atomic_store(&fail_from, 0);
  atomic_store(&failed, 0);
  outstanding_at_start = atomic_load(&outstanding);
}

/* After the loop is closed and every thread joined. */
void hooks_end(void) {
  long now = atomic_load(&outstanding);
  CHECK(now == outstanding_at_start,
        "%ld blocks of the library were allocated and never freed",
        now - outstanding_at_start);
}

/* OP_ALLOC: mode byte m, count byte k. m % 4: 0 fail the n-th allocation
 * from now, 1 fail every one from the n-th on, 2 stop failing, 3 call
 * future_set_allocator now (n = 1 + k + 256 * ((m >> 2) & 3)). */
void op_alloc(void) {
  uint8_t m = next_byte(), k = next_byte();
  unsigned long n = 1 + k + 256ul * ((m >> 2) & 3);
  unsigned long now = atomic_load(&nallocs);
  int rc;
  switch (m % 4) {
  case 0:
    TRACE("  fail allocation %lu from now\n", n);
    atomic_store(&fail_nth, now + n);
    break;
  case 1:
    TRACE("  fail every allocation from the %lu-th from now\n", n);
    atomic_store(&fail_from, now + n);
    break;
  case 2:
    TRACE("  stop failing allocations\n");
    atomic_store(&fail_nth, 0);
    atomic_store(&fail_from, 0);
    break;
  default:
    rc = future_set_allocator(NULL, fz_realloc, fz_calloc, fz_free);
    CHECK(rc == UV_EINVAL, "future_set_allocator(NULL, ...) returned %d",
          rc);
    /* The same functions again: 0 if no loop has state (nothing can mix
     * allocators then), UV_EBUSY when one has. */
    rc = future_set_allocator(fz_malloc, fz_realloc, fz_calloc, fz_free);
    CHECK(rc == 0 || rc == UV_EBUSY, "future_set_allocator returned %d", rc);
    CHECK(rc == UV_EBUSY || !S.loop_state,
          "future_set_allocator succeeded while the loop has futures");
    break;
  }
}

/* OP_MISC: the calls at the edges of the API, sub-op byte % 4: 0
 * future_wait(NULL, NULL); 1 future_wait(f, NULL) on a settled future of
 * slot sub >> 2, and future_wait(NULL, &r); 2 NULL futures, loops and
 * resolvers everywhere; 3 future_adopt with a NULL side. */
void op_misc(void) {
  uint8_t sub = next_byte();
  int rc;
  TRACE("  misc %d\n", sub % 4);
  switch (sub % 4) {
  case 0:
    if (S.avoid & AVOID_WAIT_NULL)
      break;
    rc = future_wait(NULL, NULL);
    CHECK(rc == UV_EINVAL || ENOMEM_OK(rc), "future_wait(NULL, NULL) = %d",
          rc);
    break;
  case 1: {
    /* Without a result: the status alone, of a settled future in slot
     * sub >> 2 (a pending one could make it run the loop). */
    const slot_t *s = &S.pool[(sub >> 2) % NSLOTS];
    future_result_t r;
    if (s->f != NULL && future_state(s->f) != FUTURE_PENDING) {
      int want = future_state(s->f) == FUTURE_FULFILLED
                     ? 0
                     : future_error_code(future_error(s->f));
      rc = future_wait(future_ref(s->f), NULL);
      CHECK(rc == want, "future_wait(f, NULL) returned %d, not %d", rc,
            want);
    }
    rc = future_wait(NULL, &r);
    CHECK(rc == r.status, "future_wait(NULL) returned %d, status %d", rc,
          r.status);
    CHECK((rc == UV_EINVAL || ENOMEM_OK(rc)) && r.error != NULL &&
              future_error_code(r.error) == rc && r.value == NULL,
          "future_wait(NULL, &r) = %d", rc);
    future_result_release(&r);
    CHECK(r.error == NULL && r.status == 0,
          "future_result_release did not zero the result");
    future_result_release(&r);
    break;
  }
  case 2: {
    /* NULL futures and loops: refused, and whatever was handed over is
     * still released (a destructor runs, an error is consumed). */
    void *value;
    future_dtor_cb dtor;
    future_t *f;
    CHECK(future_cancel(NULL) == UV_EINVAL, "future_cancel(NULL)");
    NOCB(future_unref(NULL));
    CHECK(future_ref(NULL) == NULL && future_state(NULL) == FUTURE_PENDING &&
              future_value(NULL) == NULL && future_error(NULL) == NULL &&
              future_loop(NULL) == NULL && future_loop_live(NULL) == 0,
          "an accessor on NULL");
    CHECK(future_loop_close(NULL) == UV_EINVAL, "future_loop_close(NULL)");
    make_value(0, &value, &dtor);
    rc = future_resolve(NULL, value, dtor);
    CHECK(rc == UV_EINVAL, "future_resolve(NULL) returned %d", rc);
    CHECK(value == NULL || !is_val(value) ||
              !atomic_load(&((val_t *)value)->alive),
          "future_resolve(NULL) did not run the destructor");
    rc = future_reject(NULL, make_error(sub >> 2));
    CHECK(rc == UV_EINVAL, "future_reject(NULL) returned %d", rc);
    make_value(0, &value, &dtor);
    rc = future_resolver_resolve(NULL, value, dtor);
    CHECK(rc == UV_EINVAL, "future_resolver_resolve(NULL) returned %d", rc);
    CHECK(value == NULL || !is_val(value) ||
              !atomic_load(&((val_t *)value)->alive),
          "future_resolver_resolve(NULL) did not run the destructor");
    rc = future_resolver_reject(NULL, make_error(sub >> 2));
    CHECK(rc == UV_EINVAL, "future_resolver_reject(NULL) returned %d", rc);
    CHECK(future_new_threadsafe(&S.loop, NULL) == NULL,
          "future_new_threadsafe without a resolver made a future");
    make_value(0, &value, &dtor);
    NOCB(f = future_resolved(NULL, value, dtor));
    CHECK(f == NULL, "future_resolved(NULL loop) made a future");
    CHECK(value == NULL || !is_val(value) ||
              !atomic_load(&((val_t *)value)->alive),
          "future_resolved(NULL loop) did not run the destructor");
    NOCB(f = future_rejected(NULL, make_error(sub >> 2)));
    CHECK(f == NULL && future_new(NULL) == NULL &&
              future_delay(NULL, 1) == NULL && future_timeout(NULL, 1) == NULL &&
              future_then(NULL, NULL, NULL, NULL) == NULL &&
              future_all(NULL, NULL, 0) == NULL,
          "a call on a NULL loop or future made a future");
    break;
  }
  default: {
    /* future_adopt with a NULL side consumes the other. */
    int i = (sub >> 2) % NSLOTS;
    if (S.pool[i].f == NULL)
      break;
    NOCB(rc = future_adopt(S.pool[i].f, NULL));
    CHECK(rc == UV_EINVAL, "future_adopt(f, NULL) returned %d", rc);
    NOCB(rc = future_adopt(NULL, future_ref(S.pool[i].f)));
    CHECK(rc == UV_EINVAL, "future_adopt(NULL, f) returned %d", rc);
    break;
  }
  }
}

/* Tracing: process-wide, started and stopped by OP_TRACE, stopped at the
 * end of every input; each trace written must be JSON (one object). */

static int tracing;        /* started and not stopped */

/* A small JSON syntax checker: enough to say the file is well formed. */
typedef struct {
  const char *p, *end;
  int depth;
} json_t;

static void json_ws(json_t *j) {
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
    j->p++;
}

static int json_lit(json_t *j, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
    return 0;
  j->p += n;
  return 1;
}

static int json_string(json_t *j) {
  if (j->p >= j->end || *j->p != '"')
    return 0;
  for (j->p++; j->p < j->end && *j->p != '"'; j->p++) {
    if ((unsigned char)*j->p < 0x20)
      return 0;
    if (*j->p == '\\') {
      if (++j->p >= j->end)
        return 0;
      if (*j->p == 'u') {
        for (int k = 0; k < 4; k++)
          if (++j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p))
            return 0;
      } else if (!strchr("\"\\/bfnrt", *j->p)) {
        return 0;
      }
    }
  }
  if (j->p >= j->end)
    return 0;
  j->p++;
  return 1;
}

static int json_digits(json_t *j) {
  const char *start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
    j->p++;
  return j->p > start;
}

static int json_number(json_t *j) {
  if (j->p < j->end && *j->p == '-')
    j->p++;
  if (j->p < j->end && *j->p == '0')
    j->p++;
  else if (!json_digits(j))
    return 0;
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (!json_digits(j))
      return 0;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
      j->p++;
    if (!json_digits(j))
      return 0;
  }
  return 1;
}

static int json_value(json_t *j) {
  int ok = 1;
  json_ws(j);
  if (j->p >= j->end || ++j->depth > 64)
    return 0;
  switch (*j->p) {
  case '{':
  case '[': {
    char close = *j->p == '{' ? '}' : ']';
    int object = close == '}';
    j->p++;
    json_ws(j);
    if (j->p < j->end && *j->p == close) {
      j->p++;
      break;
    }
    for (;;) {
      if (object) {
        json_ws(j);
        if (!json_string(j))
          return 0;
        json_ws(j);
        if (j->p >= j->end || *j->p++ != ':')
          return 0;
      }
      if (!json_value(j))
        return 0;
      json_ws(j);
      if (j->p >= j->end)
        return 0;
      if (*j->p == close) {
        j->p++;
        break;
      }
      if (*j->p++ != ',')
        return 0;
    }
    break;
  }
  case '"':
    ok = json_string(j);
    break;
  case 't':
    ok = json_lit(j, "true");
    break;
  case 'f':
    ok = json_lit(j, "false");
    break;
  case 'n':
    ok = json_lit(j, "null");
    break;
  default:
    ok = json_number(j);
    break;
  }
  j->depth--;
  return ok;
}

static void check_trace_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  char *text;
  long len;
  json_t j;
  CHECK(fp != NULL, "future_trace_stop returned 0 but wrote no %s", path);
  fseek(fp, 0, SEEK_END);
  len = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  text = malloc(len > 0 ? (size_t)len : 1);
  CHECK(text != NULL, "out of memory reading the trace");
  CHECK(fread(text, 1, (size_t)len, fp) == (size_t)len, "reading the trace");
  fclose(fp);
  CHECK(len > 0 && text[0] == '{', "the trace does not start with '{'");
  j.p = text;
  j.end = text + len;
  j.depth = 0;
  CHECK(json_value(&j), "the trace is not JSON (at byte %ld)",
        (long)(j.p - text));
  json_ws(&j);
  CHECK(j.p == j.end, "the trace has more after its JSON (at byte %ld)",
        (long)(j.p - text));
  free(text);
  TRACE("  trace of %ld bytes is JSON\n", len);
}

static void trace_stop(void) {
  int rc = future_trace_stop();
  char path[PATH_MAX];
  CHECK(rc == 0, "future_trace_stop returned %d", rc);
  tracing = 0;
  scratch_path(path, "trace.json");
  check_trace_file(path);
}

/* Every allocation from the next one on fails. */
static int failing_all(void) {
  unsigned long from = atomic_load(&fail_from);
  return from != 0 && atomic_load(&nallocs) + 1 >= from;
}

/* OP_TRACE: sub-op byte % 4: 0 start, 1 stop, 2 start with a NULL or
 * empty path (UV_EINVAL), 3 start to a path whose directory does not
 * exist (UV_ENOENT: the file is opened at the start). */
void op_trace(void) {
  uint8_t sub = next_byte();
  char path[PATH_MAX];
  int rc, all_fail;
  switch (sub % 4) {
  case 0:
  case 3:
    scratch_path(path, sub % 4 == 0 ? "trace.json" : "nodir/trace.json");
    /* Whether the allocation it makes will fail: asked before the call,
     * which itself counts as an allocation. */
    all_fail = failing_all();
    rc = future_trace_start(path);
    TRACE("  trace_start %s: %d\n", path, rc);
    if (tracing) {
      /* Which comes first, out of memory or busy, is the library's. */
      CHECK(rc == UV_EBUSY || ENOMEM_OK(rc),
            "future_trace_start while tracing returned %d", rc);
      break;
    }
    if (all_fail && !(S.avoid & AVOID_TRACE_ALLOC))
      CHECK(rc == UV_ENOMEM,
            "future_trace_start returned %d while every allocation fails "
            "(does tracing allocate past the allocator hook?)",
            rc);
    if (sub % 4 == 3)
      CHECK(rc == UV_ENOENT || ENOMEM_OK(rc),
            "future_trace_start to a missing directory returned %d", rc);
    else
      CHECK(rc == 0 || ENOMEM_OK(rc), "future_trace_start returned %d", rc);
    tracing = rc == 0;
    break;
  case 1:
    if (tracing) {
      trace_stop();
    } else {
      rc = future_trace_stop();
      CHECK(rc == UV_EINVAL, "future_trace_stop when not tracing: %d", rc);
    }
    break;
  default:
    rc = future_trace_start(NULL);
    CHECK(rc == UV_EINVAL, "future_trace_start(NULL) returned %d", rc);
    rc = future_trace_start("");
    CHECK(rc == UV_EINVAL, "future_trace_start(\"\") returned %d", rc);
    break;
  }
}

/* The end of the input: a trace still recording is written now. */
void trace_end(void) {
  if (tracing)
    trace_stop();
}
