/*
 * future-trace: look at a trace that libfuture wrote (future_trace_start,
 * or FUTURE_TRACE=path in the environment), offline.
 *
 *   future-trace [--text] [--all] TRACE.json
 *       a timeline in the terminal: one line per thing that happened, in
 *       time order, on its lane (loop 1, pool 1, ...): requests that start
 *       and end (with how long they took and how they ended), callbacks
 *       that run (with their duration), errors, the program's own marks
 *       and spans; then how many requests were in flight at most. --all
 *       adds every future created and fulfilled.
 *
 *   future-trace --html TRACE.json [-o OUT.html]
 *       one self-contained HTML page (inline CSS, SVG and a little
 *       JavaScript; no network): a lane per thread with its slices and
 *       marks, the requests in flight as bars, how many at once, a time
 *       axis, zoom, and the text timeline under it.
 *
 * It reads Chrome trace-event JSON (an object with "traceEvents", or a
 * bare array) as libfuture writes it; events of other kinds are skipped.
 * Plain C, no library: it builds and installs with libfuture.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reading. */

typedef struct {
  char *name, *cat, *error, *kind, *callback, *mname;
  char ph;
  double ts, dur;     /* microseconds */
  long tid;
  long long id;       /* "id" of async events */
  long long future;   /* args.future, or 0 */
  long long dropped;  /* args.dropped */
  long sort_index;    /* args.sort_index, or -1 */
  size_t order;       /* place in the file */
} event_t;

static event_t *events;
static size_t nevents, capevents;
static const char *prog = "future-trace";

static void die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL)
    die("out of memory");
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xrealloc(NULL, n), s, n);
}

typedef struct {
  const char *p, *end, *start, *file;
} reader_t;

static void bad(reader_t *r, const char *what) {
  die("%s: not a trace (%s at byte %ld)", r->file, what,
      (long)(r->p - r->start));
}

static void ws(reader_t *r) {
  while (r->p < r->end &&
         (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r'))
    r->p++;
}

static int peek(reader_t *r) {
  ws(r);
  return r->p < r->end ? (unsigned char)*r->p : -1;
}

static void expect(reader_t *r, char c) {
  if (peek(r) != (unsigned char)c) {
    char what[32];
    snprintf(what, sizeof what, "'%c' expected", c);
    bad(r, what);
  }
  r->p++;
}

static void put_utf8(char **o, unsigned long c) {
  char *q = *o;
  if (c < 0x80) {
    *q++ = (char)c;
  } else if (c < 0x800) {
    *q++ = (char)(0xc0 | (c >> 6));
    *q++ = (char)(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    *q++ = (char)(0xe0 | (c >> 12));
    *q++ = (char)(0x80 | ((c >> 6) & 0x3f));
    *q++ = (char)(0x80 | (c & 0x3f));
  } else {
    *q++ = (char)(0xf0 | (c >> 18));
    *q++ = (char)(0x80 | ((c >> 12) & 0x3f));
    *q++ = (char)(0x80 | ((c >> 6) & 0x3f));
    *q++ = (char)(0x80 | (c & 0x3f));
  }
  *o = q;
}

static unsigned long hex4(reader_t *r) {
  unsigned long v = 0;
  for (int i = 0; i < 4; i++) {
    int c = r->p < r->end ? *r->p++ : 0;
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned long)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned long)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned long)(c - 'A' + 10);
    else
      bad(r, "bad \\u escape");
  }
  return v;
}

/* A string, decoded (a new allocation). */
static char *string(reader_t *r) {
  const char *s;
  char *out, *o;
  expect(r, '"');
  s = r->p;
  while (r->p < r->end && *r->p != '"')
    r->p += *r->p == '\\' ? 2 : 1;
  if (r->p >= r->end)
    bad(r, "unterminated string");
  out = o = xrealloc(NULL, (size_t)(r->p - s) + 4);
  r->p = s;
  while (*r->p != '"') {
    char c = *r->p++;
    if (c != '\\') {
      *o++ = c;
      continue;
    }
    c = *r->p++;
    switch (c) {
    case 'n': *o++ = '\n'; break;
    case 't': *o++ = '\t'; break;
    case 'r': *o++ = '\r'; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'u': {
      unsigned long u = hex4(r);
      if (u >= 0xd800 && u < 0xdc00 && r->p + 6 <= r->end &&
          r->p[0] == '\\' && r->p[1] == 'u') {
        unsigned long lo;
        r->p += 2;
        lo = hex4(r);
        u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
      }
      put_utf8(&o, u ? u : '?');
      break;
    }
    default: *o++ = c; break; /* " \ / */
    }
  }
  r->p++;
  *o = '\0';
  return out;
}

static double number(reader_t *r) {
  char *e;
  double v;
  ws(r);
  errno = 0;
  v = strtod(r->p, &e);
  if (e == r->p || e > r->end)
    bad(r, "number expected");
  r->p = e;
  return v;
}

static void skip(reader_t *r);

static void skip_container(reader_t *r, char open, char close) {
  expect(r, open);
  if (peek(r) == close) {
    r->p++;
    return;
  }
  for (;;) {
    if (open == '{') {
      free(string(r));
      expect(r, ':');
    }
    skip(r);
    if (peek(r) == ',') {
      r->p++;
      continue;
    }
    expect(r, close);
    return;
  }
}

static void skip(reader_t *r) {
  int c = peek(r);
  if (c == '"')
    free(string(r));
  else if (c == '{')
    skip_container(r, '{', '}');
  else if (c == '[')
    skip_container(r, '[', ']');
  else if (c == 't' || c == 'f' || c == 'n')
    while (r->p < r->end && *r->p >= 'a' && *r->p <= 'z')
      r->p++;
  else
    number(r);
}

/* A number, or a string holding one (some writers quote ids and tids). */
static double number_or_string(reader_t *r) {
  if (peek(r) == '"') {
    char *s = string(r);
    double v = strtod(s, NULL);
    if (v == 0 && strncmp(s, "0x", 2) == 0)
      v = (double)strtoull(s, NULL, 16);
    free(s);
    return v;
  }
  return number(r);
}

static void args(reader_t *r, event_t *e) {
  expect(r, '{');
  if (peek(r) == '}') {
    r->p++;
    return;
  }
  for (;;) {
    char *k = string(r);
    expect(r, ':');
    if (strcmp(k, "future") == 0 && peek(r) != '"')
      e->future = (long long)number(r);
    else if (strcmp(k, "dropped") == 0)
      e->dropped = (long long)number(r);
    else if (strcmp(k, "sort_index") == 0)
      e->sort_index = (long)number(r);
    else if (strcmp(k, "name") == 0 && peek(r) == '"')
      e->mname = string(r);
    else if (strcmp(k, "error") == 0 && peek(r) == '"')
      e->error = string(r);
    else if (strcmp(k, "kind") == 0 && peek(r) == '"')
      e->kind = string(r);
    else if (strcmp(k, "callback") == 0 && peek(r) == '"')
      e->callback = string(r);
    else
      skip(r);
    free(k);
    if (peek(r) == ',') {
      r->p++;
      continue;
    }
    expect(r, '}');
    return;
  }
}

static void event(reader_t *r) {
  event_t e;
  memset(&e, 0, sizeof e);
  e.sort_index = -1;
  expect(r, '{');
  if (peek(r) != '}') {
    for (;;) {
      char *k = string(r);
      expect(r, ':');
      if (strcmp(k, "name") == 0 && peek(r) == '"')
        e.name = string(r);
      else if (strcmp(k, "cat") == 0 && peek(r) == '"')
        e.cat = string(r);
      else if (strcmp(k, "ph") == 0 && peek(r) == '"') {
        char *ph = string(r);
        e.ph = ph[0];
        free(ph);
      } else if (strcmp(k, "ts") == 0)
        e.ts = number_or_string(r);
      else if (strcmp(k, "dur") == 0)
        e.dur = number_or_string(r);
      else if (strcmp(k, "tid") == 0)
        e.tid = (long)number_or_string(r);
      else if (strcmp(k, "id") == 0)
        e.id = (long long)number_or_string(r);
      else if (strcmp(k, "args") == 0 && peek(r) == '{')
        args(r, &e);
      else
        skip(r);
      free(k);
      if (peek(r) == ',') {
        r->p++;
        continue;
      }
      break;
    }
  }
  expect(r, '}');
  if (e.name == NULL)
    e.name = xstrdup("");
  if (e.cat == NULL)
    e.cat = xstrdup("");
  if (nevents == capevents) {
    capevents = capevents ? capevents * 2 : 1024;
    events = xrealloc(events, capevents * sizeof(*events));
  }
  e.order = nevents;
  events[nevents++] = e;
}

static void event_array(reader_t *r) {
  expect(r, '[');
  if (peek(r) == ']') {
    r->p++;
    return;
  }
  for (;;) {
    event(r);
    if (peek(r) == ',') {
      r->p++;
      continue;
    }
    expect(r, ']');
    return;
  }
}

static void read_trace(const char *file) {
  FILE *fp = fopen(file, "rb");
  char *text = NULL;
  size_t len = 0, cap = 0, n;
  reader_t r;
  int found = 0;
  if (fp == NULL)
    die("%s: %s", file, strerror(errno));
  do {
    if (cap - len < 65536) {
      cap = cap ? cap * 2 : 1 << 20;
      text = xrealloc(text, cap);
    }
    n = fread(text + len, 1, cap - len - 1, fp);
    len += n;
  } while (n > 0);
  if (ferror(fp))
    die("%s: %s", file, strerror(errno));
  fclose(fp);
  text[len] = '\0';
  r.p = r.start = text;
  r.end = text + len;
  r.file = file;
  if (peek(&r) == '[') {
    event_array(&r);
    found = 1;
  } else {
    expect(&r, '{');
    while (peek(&r) == '"') {
      char *k = string(&r);
      expect(&r, ':');
      if (strcmp(k, "traceEvents") == 0) {
        event_array(&r);
        found = 1;
      } else {
        skip(&r);
      }
      free(k);
      if (peek(&r) != ',')
        break;
      r.p++;
    }
    expect(&r, '}');
  }
  if (!found)
    die("%s: not a trace (no \"traceEvents\")", file);
  free(text);
}

/* What the events say. */

typedef struct {
  long tid;
  char *name;
  long sort;
} lane_t;

static lane_t *lanes;
static size_t nlanes;

static lane_t *lane_of(long tid) {
  for (size_t i = 0; i < nlanes; i++)
    if (lanes[i].tid == tid)
      return &lanes[i];
  lanes = xrealloc(lanes, (nlanes + 1) * sizeof(*lanes));
  lanes[nlanes].tid = tid;
  lanes[nlanes].name = NULL;
  lanes[nlanes].sort = -1;
  return &lanes[nlanes++];
}

static const char *lane_name(long tid) {
  static char buf[32];
  lane_t *l = lane_of(tid);
  if (l->name != NULL)
    return l->name;
  snprintf(buf, sizeof buf, "tid %ld", tid);
  return buf;
}

/* A thing with a beginning and an end: a slice of a lane, a user span, a
 * request. */
typedef enum { K_STEP, K_CATCH, K_WAIT, K_POOL, K_USER, K_REQ } kind_t;

typedef struct {
  const char *name;
  double t0, t1;
  long tid;           /* lanes; -1 for requests */
  long long future;
  kind_t kind;
  const char *outcome; /* requests: "fulfilled", "rejected", or NULL */
  const char *error;
  int depth;          /* row in its lane */
  size_t order;
} span_t;

static span_t *spans;
static size_t nspans;

typedef struct {
  const char *name;
  double t;
  long tid;
} mark_t;

static mark_t *marks;
static size_t nmarks;

/* The futures: what each is, and how it settled. */
typedef struct {
  long long id;
  const char *kind, *callback, *request;
  const char *outcome, *error;
  double request_t0; /* when its request started */
} future_t;

static future_t *futures;
static size_t nfutures, capfutures;

static future_t *future_of(long long id) {
  /* ids count from 1: a direct table */
  if (id <= 0 || id > 100000000)
    return NULL;
  if ((size_t)id >= capfutures) {
    size_t cap = capfutures ? capfutures : 1024;
    while (cap <= (size_t)id)
      cap *= 2;
    futures = xrealloc(futures, cap * sizeof(*futures));
    memset(futures + capfutures, 0, (cap - capfutures) * sizeof(*futures));
    capfutures = cap;
  }
  if ((size_t)id >= nfutures)
    nfutures = (size_t)id + 1;
  futures[id].id = id;
  return &futures[id];
}

static double t_end;
static long long dropped;

static void add_span(const char *name, double t0, double t1, long tid,
                     long long future, kind_t kind, size_t order) {
  span_t *s;
  if (nspans % 1024 == 0)
    spans = xrealloc(spans, (nspans + 1024) * sizeof(*spans));
  s = &spans[nspans++];
  memset(s, 0, sizeof *s);
  s->name = name;
  s->t0 = t0;
  s->t1 = t1 > t0 ? t1 : t0;
  s->tid = tid;
  s->future = future;
  s->kind = kind;
  s->order = order;
  if (s->t1 > t_end)
    t_end = s->t1;
}

static kind_t slice_kind(const event_t *e) {
  if (strcmp(e->cat, "pool") == 0)
    return K_POOL;
  if (strcmp(e->cat, "user") == 0)
    return K_USER;
  if (strncmp(e->name, "future_wait", 11) == 0)
    return K_WAIT;
  if (strncmp(e->name, "catch", 5) == 0)
    return K_CATCH;
  return K_STEP;
}

static int cmp_time(const void *a, const void *b) {
  const event_t *x = *(event_t *const *)a, *y = *(event_t *const *)b;
  if (x->ts != y->ts)
    return x->ts < y->ts ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_lane(const void *a, const void *b) {
  const lane_t *x = a, *y = b;
  long sx = x->sort >= 0 ? x->sort : 0x7fffffff;
  long sy = y->sort >= 0 ? y->sort : 0x7fffffff;
  if (sx != sy)
    return sx < sy ? -1 : 1;
  return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static event_t **by_time;

static void analyse(void) {
  const event_t **open_req = NULL;
  size_t nopen = 0;
  const event_t **ustack = NULL;
  size_t nustack = 0;
  by_time = xrealloc(NULL, nevents * sizeof(*by_time));
  for (size_t i = 0; i < nevents; i++)
    by_time[i] = &events[i];
  qsort(by_time, nevents, sizeof(*by_time), cmp_time);
  for (size_t i = 0; i < nevents; i++) {
    const event_t *e = &events[i];
    future_t *fu;
    if (e->ph == 'M') {
      if (strcmp(e->name, "thread_name") == 0 && e->mname != NULL)
        lane_of(e->tid)->name = e->mname;
      if (strcmp(e->name, "thread_sort_index") == 0)
        lane_of(e->tid)->sort = e->sort_index;
      continue;
    }
    if (e->ts > t_end)
      t_end = e->ts;
    if (e->ph != 0 && e->tid >= 0 && (e->ph != 'b' && e->ph != 'e'))
      lane_of(e->tid);
    if (e->dropped > 0)
      dropped += e->dropped;
    fu = future_of(e->future);
    if (e->ph == 'i' && fu != NULL) {
      if (strcmp(e->name, "create") == 0) {
        fu->kind = e->kind;
        fu->callback = e->callback;
      } else if (strcmp(e->name, "fulfilled") == 0 ||
                 strcmp(e->name, "rejected") == 0) {
        fu->outcome = e->name;
        fu->error = e->error;
      }
    }
    if (e->ph == 'b' && fu != NULL) {
      fu->request = e->name;
      fu->request_t0 = e->ts;
    }
  }
  /* Spans, in time order (ends pair with the begins before them). */
  for (size_t i = 0; i < nevents; i++) {
    const event_t *e = by_time[i];
    switch (e->ph) {
    case 'X':
      add_span(e->name, e->ts, e->ts + e->dur, e->tid, e->future,
               slice_kind(e), e->order);
      break;
    case 'i':
    case 'I':
    case 'n':
      if (strcmp(e->cat, "user") == 0) {
        if (nmarks % 256 == 0)
          marks = xrealloc(marks, (nmarks + 256) * sizeof(*marks));
        marks[nmarks].name = e->name;
        marks[nmarks].t = e->ts;
        marks[nmarks].tid = e->tid;
        nmarks++;
      }
      break;
    case 'B':
      ustack = xrealloc(ustack, (nustack + 1) * sizeof(*ustack));
      ustack[nustack++] = e;
      break;
    case 'E':
      /* the last open span of the same thread */
      for (size_t k = nustack; k-- > 0;) {
        if (ustack[k]->tid == e->tid) {
          add_span(ustack[k]->name, ustack[k]->ts, e->ts, e->tid,
                   ustack[k]->future, K_USER, ustack[k]->order);
          memmove(&ustack[k], &ustack[k + 1],
                  (nustack - k - 1) * sizeof(*ustack));
          nustack--;
          break;
        }
      }
      break;
    case 'b':
      open_req = xrealloc(open_req, (nopen + 1) * sizeof(*open_req));
      open_req[nopen++] = e;
      break;
    case 'e':
      for (size_t k = nopen; k-- > 0;) {
        if (open_req[k]->id == e->id) {
          const event_t *b = open_req[k];
          future_t *fu = future_of(b->future);
          add_span(b->name, b->ts, e->ts, -1, b->future, K_REQ, b->order);
          if (fu != NULL) {
            spans[nspans - 1].outcome = fu->outcome;
            spans[nspans - 1].error = fu->error;
          }
          memmove(&open_req[k], &open_req[k + 1],
                  (nopen - k - 1) * sizeof(*open_req));
          nopen--;
          break;
        }
      }
      break;
    default:
      break;
    }
  }
  /* What was still open when the trace ended runs to its end. */
  for (size_t k = 0; k < nopen; k++)
    add_span(open_req[k]->name, open_req[k]->ts, t_end, -1,
             open_req[k]->future, K_REQ, open_req[k]->order);
  for (size_t k = 0; k < nustack; k++)
    add_span(ustack[k]->name, ustack[k]->ts, t_end, ustack[k]->tid,
             ustack[k]->future, K_USER, ustack[k]->order);
  free(open_req);
  free(ustack);
  qsort(lanes, nlanes, sizeof(*lanes), cmp_lane);
}


/* Requests in flight over time: +1 at each start, -1 at each end (an end
 * before a start at the same time). */
typedef struct {
  double t;
  int delta;
} step_t;

static int cmp_step(const void *a, const void *b) {
  const step_t *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->delta - y->delta;
}

static step_t *flight;
static size_t nflight;

static int in_flight(double *when) {
  int cur = 0, best = 0;
  nflight = 0;
  flight = xrealloc(flight, 2 * (nspans + 1) * sizeof(*flight));
  for (size_t i = 0; i < nspans; i++) {
    if (spans[i].kind != K_REQ)
      continue;
    flight[nflight].t = spans[i].t0;
    flight[nflight++].delta = 1;
    flight[nflight].t = spans[i].t1;
    flight[nflight++].delta = -1;
  }
  qsort(flight, nflight, sizeof(*flight), cmp_step);
  *when = 0;
  for (size_t i = 0; i < nflight; i++) {
    cur += flight[i].delta;
    if (cur > best) {
      best = cur;
      *when = flight[i].t;
    }
  }
  return best;
}

/* The text timeline. */

static int lane_width = 6;

static void line_head(FILE *out, double t, long tid, const char *what) {
  fprintf(out, "%11.3f  %-*s  %-7s ", t / 1000.0, lane_width,
          tid >= 0 ? lane_name(tid) : "", what);
}

static const char *future_label(const future_t *fu, char *buf, size_t n) {
  if (fu == NULL)
    return "";
  if (fu->request != NULL)
    snprintf(buf, n, "%s", fu->request);
  else if (fu->callback != NULL)
    snprintf(buf, n, "%s %s", fu->kind ? fu->kind : "", fu->callback);
  else
    snprintf(buf, n, "%s", fu->kind ? fu->kind : "future");
  return buf;
}

/* One line per thing, in time order. Requests are told where they start
 * (on the lane that started them) and where they end. */
static void text(FILE *out, const char *file, int all) {
  double peak_at;
  int peak;
  size_t nreq = 0;
  char label[512];
  for (size_t i = 0; i < nlanes; i++)
    if (lanes[i].name != NULL && (int)strlen(lanes[i].name) > lane_width)
      lane_width = (int)strlen(lanes[i].name);
  for (size_t i = 0; i < nspans; i++)
    nreq += spans[i].kind == K_REQ;
  fprintf(out, "%s: %.3f ms, %zu event%s, %zu request%s; lanes:", file,
          t_end / 1000.0, nevents, nevents == 1 ? "" : "s", nreq,
          nreq == 1 ? "" : "s");
  for (size_t i = 0; i < nlanes; i++)
    fprintf(out, "%s %s", i ? "," : "", lane_name(lanes[i].tid));
  fprintf(out, "\n\n%11s  %-*s  what\n", "time (ms)", lane_width, "lane");
  for (size_t i = 0; i < nevents; i++) {
    const event_t *e = by_time[i];
    future_t *fu = future_of(e->future);
    switch (e->ph) {
    case 'b':
      line_head(out, e->ts, e->tid, "start");
      fprintf(out, "%s  #%lld\n", e->name, e->future);
      break;
    case 'e': {
      double t0 = fu != NULL && fu->request != NULL ? fu->request_t0 : e->ts;
      line_head(out, e->ts, e->tid, "end");
      fprintf(out, "%s  (%.3f ms", e->name, (e->ts - t0) / 1000.0);
      if (fu != NULL && fu->outcome != NULL)
        fprintf(out, ", %s%s%s", fu->outcome, fu->error ? ": " : "",
                fu->error ? fu->error : "");
      fprintf(out, ")  #%lld\n", e->future);
      break;
    }
    case 'X':
      line_head(out, e->ts, e->tid, "run");
      fprintf(out, "%s  (%.3f ms)", e->name, e->dur / 1000.0);
      if (e->future > 0)
        fprintf(out, "  #%lld", e->future);
      fputc('\n', out);
      break;
    case 'B':
      line_head(out, e->ts, e->tid, "begin");
      fprintf(out, "%s\n", e->name);
      break;
    case 'E':
      line_head(out, e->ts, e->tid, "end");
      fprintf(out, "%s\n", e->name);
      break;
    case 'i':
    case 'I':
    case 'n':
      if (strcmp(e->cat, "user") == 0) {
        line_head(out, e->ts, e->tid, "mark");
        fprintf(out, "%s\n", e->name);
      } else if (e->dropped > 0) {
        line_head(out, e->ts, e->tid, "note");
        fprintf(out, "%s: %lld\n", e->name, e->dropped);
      } else if (strcmp(e->name, "rejected") == 0 && fu != NULL &&
                 fu->request == NULL &&
                 (fu->kind == NULL || strcmp(fu->kind, "observer") != 0)) {
        /* A request's outcome is on its end line; an error passing down a
         * chain shows at each step it reaches. */
        line_head(out, e->ts, e->tid, "error");
        fprintf(out, "%s  #%lld rejected: %s\n",
                future_label(fu, label, sizeof label), e->future,
                e->error ? e->error : "");
      } else if (all && (strcmp(e->name, "create") == 0 ||
                         strcmp(e->name, "fulfilled") == 0)) {
        line_head(out, e->ts, e->tid, e->name[0] == 'c' ? "create" : "fulfil");
        fprintf(out, "%s  #%lld\n", future_label(fu, label, sizeof label),
                e->future);
      }
      break;
    default:
      break;
    }
  }
  peak = in_flight(&peak_at);
  fprintf(out, "\nrequests in flight at most: %d", peak);
  if (peak > 0)
    fprintf(out, " (at %.3f ms)", peak_at / 1000.0);
  fputc('\n', out);
  if (dropped > 0)
    fprintf(out, "events dropped by the library (out of memory): %lld\n",
            dropped);
}

/* The HTML page. */

#define LABEL_W 96.0  /* the lanes' names */
#define PLOT_W 1100.0 /* the time axis */
#define ROW_H 18.0    /* a row of slices */
#define REQ_H 14.0    /* a row of requests */
#define FLIGHT_H 40.0 /* the in-flight graph */

static void esc(FILE *out, const char *s) {
  for (; *s != '\0'; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    default:
      if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
        fputc('?', out); /* not allowed in XML */
      else
        fputc(*s, out);
    }
  }
}

static double X(double t) { return LABEL_W + t / t_end * PLOT_W; }

static const char *const kind_class[] = {"step", "catch", "wait", "pool",
                                         "user", "req"};

/* A bar, its tooltip and (when it is wide enough) its name. */
static void bar(FILE *out, const span_t *s, double y, double h) {
  double x = X(s->t0), w = X(s->t1) - x;
  char tip[64];
  if (w < 1)
    w = 1;
  fprintf(out, "<rect class=\"%s%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
               "height=\"%.1f\" data-t0=\"%.3f\" data-t1=\"%.3f\"",
          kind_class[s->kind],
          s->outcome != NULL && strcmp(s->outcome, "rejected") == 0
              ? " rejected" : "",
          x, y, w, h, s->t0, s->t1);
  if (s->future > 0)
    fprintf(out, " data-f=\"%lld\"", s->future);
  fputs("><title>", out);
  esc(out, s->name);
  snprintf(tip, sizeof tip, "\n%.3f ms, from %.3f ms", (s->t1 - s->t0) / 1000,
           s->t0 / 1000);
  esc(out, tip);
  if (s->future > 0)
    fprintf(out, "\nfuture #%lld", s->future);
  if (s->outcome != NULL) {
    fprintf(out, "\n%s", s->outcome);
    if (s->error != NULL) {
      fputs(": ", out);
      esc(out, s->error);
    }
  }
  fputs("</title></rect>\n", out);
  fprintf(out, "<text class=\"n\" x=\"%.2f\" y=\"%.1f\" data-t0=\"%.3f\" "
               "data-t1=\"%.3f\" data-n=\"",
          x + 2, y + h - 4, s->t0, s->t1);
  esc(out, s->name);
  fputs("\">", out);
  {
    size_t fit = w > 12 ? (size_t)((w - 4) / 6.5) : 0;
    size_t len = strlen(s->name);
    if (fit >= len) {
      esc(out, s->name);
    } else if (fit > 2) {
      char *cut = xstrdup(s->name);
      cut[fit - 1] = '\0';
      esc(out, cut);
      fputs("\xe2\x80\xa6", out); /* ... */
      free(cut);
    }
  }
  fputs("</text>\n", out);
}

static int cmp_span_start(const void *a, const void *b) {
  const span_t *x = *(span_t *const *)a, *y = *(span_t *const *)b;
  if (x->t0 != y->t0)
    return x->t0 < y->t0 ? -1 : 1;
  if (x->t1 != y->t1)
    return x->t1 > y->t1 ? -1 : 1; /* the outer one first */
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Rows: a lane's slices nest (depth under the slices they lie in);
 * requests overlap freely (each takes the first row free at its start). */
static int place(span_t **list, size_t n, int nest) {
  double *ends = NULL;
  int rows = 0;
  qsort(list, n, sizeof(*list), cmp_span_start);
  for (size_t i = 0; i < n; i++) {
    span_t *s = list[i];
    int row;
    if (nest) {
      while (rows > 0 && ends[rows - 1] <= s->t0)
        rows--;
      row = rows;
    } else {
      for (row = 0; row < rows && ends[row] > s->t0; row++)
        ;
    }
    if (row >= rows) {
      ends = xrealloc(ends, (size_t)(row + 1) * sizeof(*ends));
      rows = row + 1;
    }
    ends[row] = s->t1;
    s->depth = row;
  }
  free(ends);
  if (nest) { /* the deepest row any slice took */
    int deepest = 0;
    for (size_t i = 0; i < n; i++)
      if (list[i]->depth + 1 > deepest)
        deepest = list[i]->depth + 1;
    return deepest;
  }
  return rows;
}

static double nice_step(double range) {
  double raw = range / 10, p = 1, m;
  while (p * 10 <= raw)
    p *= 10;
  while (p > raw)
    p /= 10;
  m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static const char style[] =
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}"
    "h1{font-size:18px;margin:0 0 4px}"
    "p.sum{margin:0 0 8px;color:#555}"
    "#tools button{margin-right:4px}"
    "#wrap{overflow-x:auto;border:1px solid #ddd}"
    "svg text{font:11px sans-serif}"
    "text.lane{font-weight:bold;fill:#333}"
    "text.n{fill:#fff;pointer-events:none}"
    "text.tick{fill:#666}"
    "line.tick{stroke:#eee}"
    "rect.bg{fill:#f7f7f7}"
    "rect.step{fill:#4a7fc1}"
    "rect.catch{fill:#d9822b}"
    "rect.wait{fill:#b8b8b8}"
    "rect.pool{fill:#c9672a}"
    "rect.user{fill:#8a5cc2}"
    "rect.req{fill:#3aa376}"
    "rect.rejected{fill:#d0453f}"
    "rect.hl{stroke:#000;stroke-width:2}"
    "path.flight{fill:#3aa37633;stroke:#3aa376}"
    "path.mark{fill:#8a5cc2}"
    ".legend span{display:inline-block;width:10px;height:10px;"
    "margin:0 4px 0 12px}"
    "pre{background:#f7f7f7;padding:8px;overflow-x:auto}";

/* The script: zoom (re-placing what carries data-t0/data-t1), the axis,
 * highlighting every bar of the future under the mouse, and a line that
 * says how many lanes it found (test/trace-chromium.sh reads it). */
static const char script[] =
    "(function(){\n"
    "var svg=document.getElementById('timeline');\n"
    "var L=+svg.getAttribute('data-left'),W=+svg.getAttribute('data-width'),"
    "T=+svg.getAttribute('data-end');\n"
    "var v0=0,v1=T;\n"
    "function X(t){return L+(t-v0)/(v1-v0)*W;}\n"
    "function draw(){\n"
    " var els=svg.querySelectorAll('[data-t0]');\n"
    " for(var i=0;i!==els.length;i++){var e=els[i],a=X(+e.getAttribute('data-t0')),"
    "b=X(+e.getAttribute('data-t1'));\n"
    "  if(e.tagName==='rect'){e.setAttribute('x',a);e.setAttribute('width',Math.max(b-a,1));}\n"
    "  else if(e.tagName==='path'){e.setAttribute('transform','translate('+(a-L)+',0)');}\n"
    "  else{e.setAttribute('x',a+2);var n=e.getAttribute('data-n'),"
    "fit=Math.floor((b-a-4)/6.5);\n"
    "   e.textContent=fit>=n.length?n:fit>2?n.slice(0,fit-1)+'\\u2026':'';}}\n"
    " var zs=svg.querySelectorAll('[data-zoom]'),k=T/(v1-v0);\n"
    " for(var z=0;z!==zs.length;z++)zs[z].setAttribute('transform','translate('+(L-v0/T*W*k)+',0) "
    "scale('+k+',1) translate('+(-L)+',0)');\n"
    " var ax=document.getElementById('axis');while(ax.firstChild)ax.removeChild(ax.firstChild);\n"
    " var r=(v1-v0)/10,p=Math.pow(10,Math.floor(Math.log(r)/Math.LN10)),m=r/p;\n"
    " var st=(m>7.5?10:m>3.5?5:m>1.5?2:1)*p,h=+svg.getAttribute('height');\n"
    " for(var t=Math.ceil(v0/st)*st;t<=v1;t+=st){var x=X(t);\n"
    "  var ln=document.createElementNS(svg.namespaceURI,'line');ln.setAttribute('class','tick');"
    "ln.setAttribute('x1',x);ln.setAttribute('x2',x);ln.setAttribute('y1',14);"
    "ln.setAttribute('y2',h);ax.appendChild(ln);\n"
    "  var tx=document.createElementNS(svg.namespaceURI,'text');tx.setAttribute('class','tick');"
    "tx.setAttribute('x',x+2);tx.setAttribute('y',11);"
    "tx.textContent=(t/1000).toFixed(st>=1000?0:st>=100?1:st>=10?2:3)+' ms';ax.appendChild(tx);}\n"
    "}\n"
    "function zoom(f){var c=(v0+v1)/2,h=(v1-v0)/2*f;v0=Math.max(0,c-h);v1=Math.min(T,c+h);"
    "if(v1-v0<1){v1=v0+1;}draw();}\n"
    "function pan(f){var d=(v1-v0)*f;if(v0+d<0)d=-v0;if(v1+d>T)d=T-v1;v0+=d;v1+=d;draw();}\n"
    "document.getElementById('zin').onclick=function(){zoom(0.5);};\n"
    "document.getElementById('zout').onclick=function(){zoom(2);};\n"
    "document.getElementById('left').onclick=function(){pan(-0.25);};\n"
    "document.getElementById('right').onclick=function(){pan(0.25);};\n"
    "document.getElementById('fit').onclick=function(){v0=0;v1=T;draw();};\n"
    "svg.addEventListener('mouseover',function(ev){var f=ev.target.getAttribute&&"
    "ev.target.getAttribute('data-f');\n"
    " var old=svg.querySelectorAll('.hl');for(var i=0;i!==old.length;i++)old[i].classList.remove('hl');\n"
    " if(f){var same=svg.querySelectorAll('[data-f=\"'+f+'\"]');"
    "for(var j=0;j!==same.length;j++)same[j].classList.add('hl');}});\n"
    "draw();\n"
    "var lanes=svg.querySelectorAll('g.lane'),names=[];\n"
    "for(var k=0;k!==lanes.length;k++)names.push(lanes[k].getAttribute('data-lane'));\n"
    "document.getElementById('status').textContent=lanes.length+' lanes drawn: '+names.join(', ');\n"
    "document.body.setAttribute('data-lanes',lanes.length);\n"
    "})();\n";

static void html(FILE *out, const char *file) {
  span_t **list = xrealloc(NULL, (nspans + 1) * sizeof(*list));
  double y = 20, peak_at;
  int peak = in_flight(&peak_at);
  size_t nreq = 0;
  char *tl = NULL;
  size_t tlsize = 0;
  FILE *mem;
  /* the text timeline, for the bottom of the page */
  mem = open_memstream(&tl, &tlsize);
  if (mem == NULL)
    die("out of memory");
  text(mem, file, 0);
  fclose(mem);
  if (t_end <= 0)
    t_end = 1;
  for (size_t i = 0; i < nspans; i++)
    nreq += spans[i].kind == K_REQ;

  fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
        "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>", out);
  esc(out, file);
  fputs(" - libfuture trace</title>\n<style>", out);
  fputs(style, out);
  fputs("</style>\n</head>\n<body>\n<h1>", out);
  esc(out, file);
  fprintf(out, "</h1>\n<p class=\"sum\">%.3f ms; %zu lanes; %zu requests, "
               "at most %d in flight at once",
          t_end / 1000, nlanes, nreq, peak);
  if (dropped > 0)
    fprintf(out, "; %lld events dropped by the library (out of memory)",
            dropped);
  fputs(". Hover a bar for its name, duration and future; every bar of "
        "that future is outlined.</p>\n", out);
  fputs("<p class=\"legend\"><span style=\"background:#4a7fc1\"></span>"
        "then/finally<span style=\"background:#d9822b\"></span>catch"
        "<span style=\"background:#c9672a\"></span>pool work"
        "<span style=\"background:#b8b8b8\"></span>future_wait"
        "<span style=\"background:#8a5cc2\"></span>yours"
        "<span style=\"background:#3aa376\"></span>request"
        "<span style=\"background:#d0453f\"></span>rejected</p>\n", out);
  fputs("<p id=\"tools\"><button id=\"zin\">zoom in</button>"
        "<button id=\"zout\">zoom out</button><button id=\"left\">"
        "\xe2\x97\x80</button><button id=\"right\">\xe2\x96\xb6</button>"
        "<button id=\"fit\">fit</button> <span id=\"status\"></span></p>\n",
        out);

  /* The lanes, measured first: the SVG's height comes before them. */
  {
    double h = 20;
    int *depth = xrealloc(NULL, (nlanes + 1) * sizeof(*depth));
    size_t n;
    int reqrows;
    for (size_t l = 0; l < nlanes; l++) {
      n = 0;
      for (size_t i = 0; i < nspans; i++)
        if (spans[i].kind != K_REQ && spans[i].tid == lanes[l].tid)
          list[n++] = &spans[i];
      depth[l] = place(list, n, 1);
      if (depth[l] < 1)
        depth[l] = 1;
      h += depth[l] * ROW_H + 10;
    }
    n = 0;
    for (size_t i = 0; i < nspans; i++)
      if (spans[i].kind == K_REQ)
        list[n++] = &spans[i];
    reqrows = place(list, n, 0);
    if (nreq > 0)
      h += FLIGHT_H + 6 + reqrows * REQ_H + 10;

    fprintf(out, "<div id=\"wrap\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                 "id=\"timeline\" width=\"%.0f\" height=\"%.0f\" "
                 "data-left=\"%.0f\" data-width=\"%.0f\" data-end=\"%.3f\">\n",
            LABEL_W + PLOT_W + 40, h, LABEL_W, PLOT_W, t_end);
    fprintf(out, "<defs><clipPath id=\"plot\"><rect x=\"%.0f\" y=\"0\" "
                 "width=\"%.0f\" height=\"%.0f\"/></clipPath></defs>\n",
            LABEL_W - 6, PLOT_W + 46, h);
    fputs("<g id=\"axis\">\n", out);
    {
      double st = nice_step(t_end);
      for (double t = 0; t <= t_end; t += st) {
        fprintf(out, "<line class=\"tick\" x1=\"%.2f\" x2=\"%.2f\" y1=\"14\" "
                     "y2=\"%.0f\"/>\n",
                X(t), X(t), h);
        fprintf(out, "<text class=\"tick\" x=\"%.2f\" y=\"11\">%g ms</text>\n",
                X(t) + 2, t / 1000);
      }
    }
    fputs("</g>\n", out);

    for (size_t l = 0; l < nlanes; l++) {
      double lh = depth[l] * ROW_H;
      fputs("<g class=\"lane\" data-lane=\"", out);
      esc(out, lane_name(lanes[l].tid));
      fprintf(out, "\">\n<rect class=\"bg\" x=\"0\" y=\"%.1f\" width=\"%.0f\" "
                   "height=\"%.1f\"/>\n<text class=\"lane\" x=\"4\" "
                   "y=\"%.1f\">",
              y, LABEL_W + PLOT_W + 10, lh + 4, y + 13);
      esc(out, lane_name(lanes[l].tid));
      fputs("</text>\n<g clip-path=\"url(#plot)\">\n", out);
      for (size_t i = 0; i < nspans; i++)
        if (spans[i].kind != K_REQ && spans[i].tid == lanes[l].tid)
          bar(out, &spans[i], y + 2 + spans[i].depth * ROW_H, ROW_H - 2);
      for (size_t i = 0; i < nmarks; i++) {
        if (marks[i].tid != lanes[l].tid)
          continue;
        fprintf(out, "<path class=\"mark\" d=\"M%.0f %.1f l-4 -6 h8 z\" "
                     "transform=\"translate(%.2f,0)\" data-t0=\"%.3f\" "
                     "data-t1=\"%.3f\"><title>",
                LABEL_W, y + 8, X(marks[i].t) - LABEL_W, marks[i].t,
                marks[i].t);
        esc(out, marks[i].name);
        fprintf(out, " at %.3f ms</title></path>\n", marks[i].t / 1000);
      }
      fputs("</g>\n</g>\n", out);
      y += lh + 10;
    }

    if (nreq > 0) {
      /* how many at once: a step graph */
      double cur = 0, base = y + FLIGHT_H;
      fprintf(out, "<g class=\"lane\" data-lane=\"requests\">\n"
                   "<rect class=\"bg\" x=\"0\" y=\"%.1f\" width=\"%.0f\" "
                   "height=\"%.1f\"/>\n<text class=\"lane\" x=\"4\" "
                   "y=\"%.1f\">requests</text>\n<text class=\"tick\" x=\"4\" "
                   "y=\"%.1f\">in flight: %d</text>\n",
              y, LABEL_W + PLOT_W + 10, FLIGHT_H + 6 + reqrows * REQ_H + 4,
              y + 13, y + 27, peak);
      fputs("<g clip-path=\"url(#plot)\">\n", out);
      fprintf(out, "<path class=\"flight\" data-zoom=\"x\" "
                   "vector-effect=\"non-scaling-stroke\" d=\"M%.2f %.1f",
              X(0), base);
      for (size_t i = 0; i < nflight; i++) {
        double x = X(flight[i].t);
        fprintf(out, " L%.2f %.1f", x, base - cur / peak * (FLIGHT_H - 4));
        cur += flight[i].delta;
        fprintf(out, " L%.2f %.1f", x, base - cur / peak * (FLIGHT_H - 4));
      }
      fprintf(out, " L%.2f %.1f z\"/>\n", X(t_end), base);
      y += FLIGHT_H + 6;
      for (size_t i = 0; i < nspans; i++)
        if (spans[i].kind == K_REQ)
          bar(out, &spans[i], y + spans[i].depth * REQ_H, REQ_H - 2);
      fputs("</g>\n</g>\n", out);
    }
    free(depth);
  }
  fputs("</svg>\n</div>\n<details open=\"open\"><summary>The same as a "
        "timeline (future-trace --text)</summary>\n<pre>", out);
  esc(out, tl);
  fputs("</pre></details>\n<script>//<![CDATA[\n", out);
  fputs(script, out);
  fputs("//]]></script>\n</body>\n</html>\n", out);
  free(tl);
  free(list);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: %s [--text] [--all] TRACE.json\n"
          "       %s --html TRACE.json [-o OUT.html]\n"
          "Show a trace written by libfuture (future_trace_start, or\n"
          "FUTURE_TRACE=TRACE.json in the environment): a text timeline,\n"
          "or a self-contained HTML page (no network needed).\n",
          prog, prog);
}

int main(int argc, char **argv) {
  const char *file = NULL, *outpath = NULL;
  int as_html = 0, all = 0;
  FILE *out = stdout;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--html") == 0)
      as_html = 1;
    else if (strcmp(argv[i], "--text") == 0)
      as_html = 0;
    else if (strcmp(argv[i], "--all") == 0)
      all = 1;
    else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
      outpath = argv[++i];
    else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      usage(stderr);
      return 2;
    } else if (file == NULL)
      file = argv[i];
    else {
      usage(stderr);
      return 2;
    }
  }
  if (file == NULL) {
    usage(stderr);
    return 2;
  }
  read_trace(file);
  analyse();
  if (outpath != NULL && (out = fopen(outpath, "w")) == NULL)
    die("%s: %s", outpath, strerror(errno));
  if (as_html)
    html(out, file);
  else
    text(out, file, all);
  if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
    die("%s: %s", outpath ? outpath : "stdout", strerror(errno));
  return 0;
}
