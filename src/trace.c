/*
 * Tracing: what the library does, as Chrome trace-event JSON that Perfetto
 * (ui.perfetto.dev), chrome://tracing and tools/future-trace open. Futures
 * created and settled are instant events, continuation callbacks, work on
 * the pool and time blocked in future_wait are slices, and request-backed
 * futures (fs, timers, work, combinators) are async spans from start to
 * settle, named with their arguments ("fs.stat /tmp/x", "delay 50 ms"), so
 * overlapping I/O shows as overlapping bars. Users add marks and spans of
 * their own (future_trace_mark, future_trace_begin/end).
 *
 * Each future gets an id of its own, counted from 1 in each trace: a table
 * from the future's address to its id (and to the names of its callbacks,
 * or the name of its request), which a new future at a recycled address
 * overwrites. The table holds one entry per address a future occupied
 * during the trace: the loop's pool recycles addresses, and futures that
 * are not pooled (under valgrind or ASan) leave the table when they are
 * freed, so that it stays about as large as the most futures alive at
 * once.
 *
 * Events are formatted as they come into a buffer of TRACE_BUF bytes and
 * written to the file, opened by future_trace_start, whenever it fills:
 * memory stays bounded however long the trace. Each thread's first event in
 * a trace is preceded by its name: "loop N" for a thread that runs a loop
 * (numbered as the loops first get library state), "pool N" for libuv's
 * pool threads, "thread N" for the others.
 *
 * Switched on by future_trace_start(path) or by the environment variable
 * FUTURE_TRACE=path (written when the process exits). When off, each hook
 * costs one predictable branch. Every byte (buffer, table, names) comes
 * from the library's allocator (future_set_allocator), which cannot change
 * while a trace records. One lock serializes the events of all threads.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACE_BUF (64 * 1024) /* the buffer of formatted events */
#define EVENT_ROOM 8192       /* the most one event takes in it */
#define NAME_LEN 240          /* names are cut to this many bytes */
#define TABLE_MIN 1024        /* entries of the table of futures */

/* What the table knows of a future. A request's name is the table's own
 * copy (`request` says so) until its span ends; callback names are the
 * caller's (string literals). */
typedef struct {
  const void *key; /* the future's address; NULL: a free slot */
  uint64_t id;
  const char *name[2]; /* a step's callbacks, or name[0] a request's */
} trace_entry_t;

/* Marks name[1] of an entry whose name[0] is an owned request name. */
static const char request_mark[1];

atomic_int future__tracing;

static uv_once_t trace_once = UV_ONCE_INIT;
static uv_mutex_t trace_lock;
/* All that follows is guarded by trace_lock. */
static int trace_fd = -1;
static int trace_err;       /* the first write error, or 0 */
static char *buf;           /* formatted events not yet written */
static size_t buflen;
static trace_entry_t *table;
static size_t table_cap, table_used;
static uint64_t next_id;    /* the last id given out */
static uint64_t dropped;    /* events lost for want of memory */
static uint64_t trace_t0;
static unsigned session;    /* which trace this is (thread names are per trace) */
static unsigned next_tid, next_pool;
static atomic_uint next_loop;

/* Who this thread is. */
static _Thread_local unsigned my_tid;     /* its lane, from 1 */
static _Thread_local unsigned my_loop;    /* "loop N", or 0 */
static _Thread_local unsigned my_pool;    /* "pool N", or 0 */
static _Thread_local unsigned my_session; /* the trace that has its name */
static _Thread_local unsigned my_named;   /* the name it has there */

static int trace_begin(const char *path);

static void trace_stop_at_exit(void) { future_trace_stop(); }

static void trace_init(void) {
  const char *env = getenv("FUTURE_TRACE");
  int rc;
  if (uv_mutex_init(&trace_lock) != 0)
    abort();
  if (env == NULL || *env == '\0')
    return;
  rc = trace_begin(env);
  if (rc == 0)
    atexit(trace_stop_at_exit);
  else
    fprintf(stderr, "libfuture: FUTURE_TRACE=%s: %s (%s); not tracing\n",
            env, uv_strerror(rc), uv_err_name(rc));
}

void future__trace_setup(void) { uv_once(&trace_once, trace_init); }

int future__trace_recording(void) { return atomic_load(&future__tracing); }

/* Threads. */

void future__trace_thread_loop(void) {
  if (my_loop == 0)
    my_loop = atomic_fetch_add(&next_loop, 1) + 1;
}

/* The writer: the caller holds the lock and the trace records. */

static void flush(void) {
  size_t off = 0;
  while (off < buflen && trace_err == 0) {
    ssize_t n = write(trace_fd, buf + off, buflen - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      trace_err = UV_EIO;
    else
      off += (size_t)n;
  }
  buflen = 0; /* after an error, what follows is lost too */
}

static void put(const char *s, size_t n) {
  memcpy(buf + buflen, s, n);
  buflen += n;
}

static void puts_(const char *s) { put(s, strlen(s)); }

static void putf(const char *fmt, ...) FUTURE_PRINTF(1, 2);
static void putf(const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf + buflen, TRACE_BUF - buflen, fmt, ap);
  va_end(ap);
  if (n > 0)
    buflen += (size_t)n;
}

/* `s`, at most NAME_LEN bytes of it, as the inside of a JSON string. */
static void put_escaped(const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; s[i] != '\0' && i < NAME_LEN; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      buf[buflen++] = '\\';
      buf[buflen++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      put("\\u00", 4);
      buf[buflen++] = hex[c >> 4];
      buf[buflen++] = hex[c & 15];
    } else {
      buf[buflen++] = (char)c;
    }
  }
}

/* Make room for one event (the buffer is written out when it lacks it). */
static void room(void) {
  if (TRACE_BUF - buflen < EVENT_ROOM)
    flush();
}

/* Microseconds since the trace began, as "123.456"; earlier is 0. */
static void put_ts(const char *key, uint64_t ns) {
  putf(",\"%s\":%llu.%03u", key, (unsigned long long)(ns / 1000),
       (unsigned)(ns % 1000));
}

static uint64_t since_t0(uint64_t ts) {
  return ts > trace_t0 ? ts - trace_t0 : 0;
}

/* This thread's lane, named in this trace. */
static unsigned lane(void) {
  unsigned named;
  if (my_tid == 0)
    my_tid = ++next_tid;
  named = my_loop != 0 ? my_loop : my_pool != 0 ? 0x10000 + my_pool
                                                : 0x20000 + my_tid;
  if (my_session != session || my_named != named) {
    my_session = session;
    my_named = named;
    room();
    putf(",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
         "\"args\":{\"name\":\"%s %u\"}}",
         my_tid, my_loop ? "loop" : my_pool ? "pool" : "thread",
         my_loop ? my_loop : my_pool ? my_pool : my_tid);
    putf(",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,"
         "\"tid\":%u,\"args\":{\"sort_index\":%u}}",
         my_tid, named);
  }
  return my_tid;
}

/* The opening of an event, up to its tid: name (and name2 after a space,
 * when given), category, phase, time (one before the trace began, as a
 * slice begun before it, counts as its start). */
static void put_head(const char *name, const char *name2, const char *cat,
                     char ph, uint64_t ts) {
  unsigned tid = lane();
  room();
  puts_(",\n{\"name\":\"");
  put_escaped(name);
  if (name2 != NULL && *name2 != '\0') {
    buf[buflen++] = ' ';
    put_escaped(name2);
  }
  putf("\",\"cat\":\"%s\",\"ph\":\"%c\"", cat, ph);
  put_ts("ts", since_t0(ts));
  putf(",\"pid\":1,\"tid\":%u", tid);
}

/* The table of futures. */

static size_t slot_of(const void *key, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)key;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (size_t)h & (cap - 1);
}

static trace_entry_t *table_find(const void *key) {
  size_t i = slot_of(key, table_cap);
  while (table[i].key != NULL) {
    if (table[i].key == key)
      return &table[i];
    i = (i + 1) & (table_cap - 1);
  }
  return NULL;
}

static void entry_clear(trace_entry_t *e) {
  if (e->name[1] == request_mark)
    future__free((char *)e->name[0]);
  e->name[0] = e->name[1] = NULL;
}

/* The entry of `key`, added (with a new id) if it has none; NULL when the
 * table is full and cannot grow. */
static trace_entry_t *table_get(const void *key) {
  trace_entry_t *e = table_find(key);
  size_t i;
  if (e != NULL)
    return e;
  if (2 * (table_used + 1) > table_cap) {
    size_t cap = table_cap * 2;
    trace_entry_t *grown = future__calloc(cap, sizeof(*grown));
    if (grown != NULL) {
      for (size_t k = 0; k < table_cap; k++) {
        if (table[k].key == NULL)
          continue;
        i = slot_of(table[k].key, cap);
        while (grown[i].key != NULL)
          i = (i + 1) & (cap - 1);
        grown[i] = table[k];
      }
      future__free(table);
      table = grown;
      table_cap = cap;
    } else if (8 * (table_used + 1) > 7 * table_cap) {
      return NULL; /* too full to stay quick */
    }
  }
  i = slot_of(key, table_cap);
  while (table[i].key != NULL)
    i = (i + 1) & (table_cap - 1);
  table_used++;
  e = &table[i];
  e->key = key;
  e->id = ++next_id;
  e->name[0] = e->name[1] = NULL;
  return e;
}

/* Take `key` out of the table (backward-shift deletion: the entries after
 * it in its run move up, so that every lookup still finds its entry). */
static void table_remove(const void *key) {
  size_t mask = table_cap - 1, i = slot_of(key, table_cap), j;
  while (table[i].key != key) {
    if (table[i].key == NULL)
      return;
    i = (i + 1) & mask;
  }
  entry_clear(&table[i]);
  for (j = (i + 1) & mask; table[j].key != NULL; j = (j + 1) & mask) {
    size_t home = slot_of(table[j].key, table_cap);
    /* table[j] may fill the hole at i unless its home lies after i, up
     * to j (cyclically) */
    if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
      table[i] = table[j];
      i = j;
    }
  }
  table[i].key = NULL;
  table[i].name[0] = table[i].name[1] = NULL;
  table_used--;
}

void future__trace_forget(const future_t *f) {
  uv_mutex_lock(&trace_lock);
  if (table != NULL)
    table_remove(f);
  uv_mutex_unlock(&trace_lock);
}

/* Events. Each takes the lock, and does nothing if the trace stopped
 * meanwhile (or never started: the hooks test the flag without the lock). */

static int lock_recording(void) {
  uv_mutex_lock(&trace_lock);
  if (atomic_load(&future__tracing))
    return 1;
  uv_mutex_unlock(&trace_lock);
  return 0;
}

static void put_future_args(uint64_t id) {
  putf(",\"args\":{\"future\":%llu}}", (unsigned long long)id);
}

/* A step of a chain, or another future the library makes. */
static const char *const kind_names[] = {
    "future", "then", "finally", "adopt", "observer", "pipeline", "then"};

void future__trace_create(const future_t *f, const char *what,
                          const char *name0, const char *name1) {
  trace_entry_t *e;
  if (!lock_recording())
    return;
  e = table_find(f);
  if (e != NULL) { /* a new future where an old one was: a new id */
    entry_clear(e);
    e->id = ++next_id;
  } else if ((e = table_get(f)) == NULL) {
    dropped++;
    uv_mutex_unlock(&trace_lock);
    return;
  }
  if (what == NULL)
    what = f->kind < sizeof(kind_names) / sizeof(*kind_names)
               ? kind_names[f->kind]
               : "future";
  e->name[0] = name0;
  e->name[1] = name1;
  put_head("create", NULL, "future", 'i', uv_hrtime());
  putf(",\"s\":\"t\",\"args\":{\"future\":%llu,\"kind\":\"%s\"",
       (unsigned long long)e->id, what);
  if (name0 != NULL || name1 != NULL) {
    puts_(",\"callback\":\"");
    if (name0 != NULL)
      put_escaped(name0);
    if (name0 != NULL && name1 != NULL)
      buf[buflen++] = '/';
    if (name1 != NULL)
      put_escaped(name1);
    buf[buflen++] = '"';
  }
  puts_("}}");
  uv_mutex_unlock(&trace_lock);
}

void future__trace_request(const future_t *f, const char *fmt, ...) {
  char name[NAME_LEN + 1];
  trace_entry_t *e;
  char *copy;
  va_list ap;
  uint64_t now = uv_hrtime();
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  if (!lock_recording())
    return;
  e = table_get(f);
  copy = e != NULL ? future__strdup(name) : NULL;
  if (copy == NULL) {
    dropped++;
    uv_mutex_unlock(&trace_lock);
    return;
  }
  entry_clear(e);
  e->name[0] = copy;
  e->name[1] = request_mark;
  put_head(copy, NULL, "request", 'b', now);
  putf(",\"id\":%llu", (unsigned long long)e->id);
  put_future_args(e->id);
  uv_mutex_unlock(&trace_lock);
}

void future__trace_settled(const future_t *f) {
  trace_entry_t *e;
  const future_error_t *err = future__error_of(f);
  uint64_t now = uv_hrtime();
  if (!lock_recording())
    return;
  e = table_get(f);
  if (e == NULL) {
    dropped++;
    uv_mutex_unlock(&trace_lock);
    return;
  }
  if (e->name[1] == request_mark) { /* the end of its request's span */
    put_head(e->name[0], NULL, "request", 'e', now);
    putf(",\"id\":%llu", (unsigned long long)e->id);
    put_future_args(e->id);
    entry_clear(e);
  }
  put_head(err != NULL ? "rejected" : "fulfilled", NULL, "future", 'i', now);
  putf(",\"s\":\"t\",\"args\":{\"future\":%llu", (unsigned long long)e->id);
  if (err != NULL) { /* the message, which ends with the code's name */
    puts_(",\"error\":\"");
    put_escaped(future_error_message(err));
    buf[buflen++] = '"';
  }
  puts_("}}");
  uv_mutex_unlock(&trace_lock);
}

/* A slice from t0 to now, on this thread, about the future `f`. */
static void slice(const void *f, const char *cat, const char *name,
                  const char *name2, uint64_t t0) {
  uint64_t now = uv_hrtime();
  trace_entry_t *e;
  if (!lock_recording())
    return;
  e = f != NULL ? table_get(f) : NULL;
  if (f != NULL && e == NULL) {
    dropped++;
    uv_mutex_unlock(&trace_lock);
    return;
  }
  put_head(name, name2, cat, 'X', t0);
  put_ts("dur", t0 > trace_t0 ? now - t0 : since_t0(now));
  if (e != NULL)
    put_future_args(e->id);
  else
    puts_("}");
  uv_mutex_unlock(&trace_lock);
}

void future__trace_step(const future_t *c, const char *label, int rejected,
                        uint64_t t0) {
  uint64_t now = uv_hrtime();
  trace_entry_t *e;
  const char *name = NULL;
  if (!lock_recording())
    return;
  e = table_get(c);
  if (e == NULL) {
    dropped++;
    uv_mutex_unlock(&trace_lock);
    return;
  }
  if (e->name[1] != request_mark)
    name = e->name[rejected ? 1 : 0];
  put_head(label, name, "future", 'X', t0);
  put_ts("dur", t0 > trace_t0 ? now - t0 : since_t0(now));
  put_future_args(e->id);
  uv_mutex_unlock(&trace_lock);
}

void future__trace_slice(const void *f, uint64_t t0, const char *fmt, ...) {
  char name[NAME_LEN + 1];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  slice(f, "future", name, NULL, t0);
}

void future__trace_pool(const void *f, uint64_t t0, const char *fmt, ...) {
  char name[NAME_LEN + 1];
  va_list ap;
  if (my_pool == 0) {
    uv_mutex_lock(&trace_lock);
    my_pool = ++next_pool;
    uv_mutex_unlock(&trace_lock);
  }
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  slice(f, "pool", name, NULL, t0);
}

void future__trace(char phase, const char *name, const void *f, uint64_t ts,
                   uint64_t dur) {
  trace_entry_t *e;
  if (ts == 0)
    ts = uv_hrtime();
  if (!lock_recording())
    return;
  e = table_get(f);
  if (e == NULL) {
    dropped++;
    uv_mutex_unlock(&trace_lock);
    return;
  }
  put_head(name, NULL, "future", phase, ts);
  if (phase == 'X')
    put_ts("dur", ts > trace_t0 ? dur : since_t0(ts + dur));
  if (phase == 'i')
    puts_(",\"s\":\"t\"");
  put_future_args(e->id);
  uv_mutex_unlock(&trace_lock);
}

/* The user's marks and spans. */

static void user_event(char ph, const char *name) {
  uint64_t now = uv_hrtime();
  if (name == NULL || !lock_recording())
    return;
  put_head(name, NULL, "user", ph, now);
  puts_(ph == 'i' ? ",\"s\":\"t\"}" : "}");
  uv_mutex_unlock(&trace_lock);
}

void future_trace_mark(const char *name) {
  if (FUTURE__TRACING())
    user_event('i', name);
}

void future_trace_begin(const char *name) {
  if (FUTURE__TRACING())
    user_event('B', name);
}

void future_trace_end(const char *name) {
  if (FUTURE__TRACING())
    user_event('E', name);
}

/* Starting and stopping. */

int future_trace_start(const char *path) {
  if (path == NULL || *path == '\0')
    return UV_EINVAL;
  future__trace_setup();
  return trace_begin(path);
}

/* Called with the setup done (or from it: no uv_once in here). The
 * memory first (a trace that cannot have it fails with UV_ENOMEM whatever
 * the path), then the file, so that a path that cannot be written fails
 * here rather than when the trace is over. */
static int trace_begin(const char *path) {
  char *b = future__malloc(TRACE_BUF);
  trace_entry_t *t = future__calloc(TABLE_MIN, sizeof(*t));
  int fd;
  if (b == NULL || t == NULL) {
    future__free(b);
    future__free(t);
    return UV_ENOMEM;
  }
  uv_mutex_lock(&trace_lock);
  if (atomic_load(&future__tracing)) {
    uv_mutex_unlock(&trace_lock);
    future__free(b);
    future__free(t);
    return UV_EBUSY;
  }
  do
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int rc = uv_translate_sys_error(errno);
    uv_mutex_unlock(&trace_lock);
    future__free(b);
    future__free(t);
    return rc;
  }
  trace_fd = fd;
  trace_err = 0;
  buf = b;
  buflen = 0;
  table = t;
  table_cap = TABLE_MIN;
  table_used = 0;
  next_id = 0;
  dropped = 0;
  session++; /* each thread names its lane again (my_session) */
  trace_t0 = uv_hrtime();
  puts_("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n"
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
        "\"args\":{\"name\":\"libfuture\"}}");
  atomic_store(&future__tracing, 1);
  uv_mutex_unlock(&trace_lock);
  return 0;
}

int future_trace_stop(void) {
  int rc;
  future__trace_setup();
  uv_mutex_lock(&trace_lock);
  if (!atomic_load(&future__tracing)) {
    uv_mutex_unlock(&trace_lock);
    return UV_EINVAL;
  }
  if (dropped > 0) {
    put_head("libfuture: events dropped (out of memory)", NULL, "future",
             'i', uv_hrtime());
    putf(",\"s\":\"g\",\"args\":{\"dropped\":%llu}}",
         (unsigned long long)dropped);
  }
  atomic_store(&future__tracing, 0);
  puts_("\n]}\n");
  flush();
  rc = trace_err;
  if (close(trace_fd) != 0 && rc == 0)
    rc = UV_EIO;
  trace_fd = -1;
  for (size_t i = 0; i < table_cap; i++)
    entry_clear(&table[i]);
  future__free(table);
  table = NULL;
  table_cap = table_used = 0;
  future__free(buf);
  buf = NULL;
  buflen = 0;
  uv_mutex_unlock(&trace_lock);
  return rc;
}
