/*
 * Tracing: what the library does, as Chrome trace-event JSON that Perfetto
 * (ui.perfetto.dev) and chrome://tracing open. Futures created and settled
 * are instant events, continuation callbacks and time blocked in
 * future_wait are slices, and request-backed futures (fs, timers, work)
 * are async spans from start to settle, so overlapping I/O shows as
 * overlapping bars.
 *
 * Switched on by future_trace_start(path) or by the environment variable
 * FUTURE_TRACE=path (written when the process exits). When off, each hook
 * costs one predictable branch. The buffer of events and the path's copy
 * come from the library's allocator (future_set_allocator), which cannot
 * change while a trace records.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t ts;  /* ns, uv_hrtime */
  uint64_t dur; /* ns, for slices */
  const void *id;
  const char *name;
  unsigned tid;
  char phase;   /* 'i' instant, 'X' slice, 'b'/'e' async span */
} trace_event_t;

atomic_int future__tracing;

static uv_once_t trace_once = UV_ONCE_INIT;
static uv_mutex_t trace_lock;
static trace_event_t *events;
static size_t nevents, capacity;
static char *trace_path;
static uint64_t trace_t0;
static atomic_uint next_tid;
static _Thread_local unsigned my_tid;

static int trace_begin(const char *path);

static void trace_stop_at_exit(void) { future_trace_stop(); }

static void trace_init(void) {
  const char *env = getenv("FUTURE_TRACE");
  if (uv_mutex_init(&trace_lock) != 0)
    abort();
  if (env != NULL && *env != '\0' && trace_begin(env) == 0)
    atexit(trace_stop_at_exit);
}

void future__trace_setup(void) { uv_once(&trace_once, trace_init); }

void future__trace(char phase, const char *name, const void *id,
                   uint64_t ts, uint64_t dur) {
  trace_event_t *e;
  if (my_tid == 0)
    my_tid = atomic_fetch_add(&next_tid, 1) + 1;
  uv_mutex_lock(&trace_lock);
  if (!atomic_load(&future__tracing)) {
    uv_mutex_unlock(&trace_lock);
    return;
  }
  if (nevents == capacity) {
    size_t cap = capacity ? capacity * 2 : 4096;
    trace_event_t *grown =
        future__realloc(events, cap * sizeof(*grown));
    if (grown == NULL) { /* drop the event rather than fail the program */
      uv_mutex_unlock(&trace_lock);
      return;
    }
    events = grown;
    capacity = cap;
  }
  e = &events[nevents++];
  e->ts = ts != 0 ? ts : uv_hrtime();
  e->dur = dur;
  e->id = id;
  e->name = name;
  e->tid = my_tid;
  e->phase = phase;
  uv_mutex_unlock(&trace_lock);
}

int future_trace_start(const char *path) {
  if (path == NULL || *path == '\0')
    return UV_EINVAL;
  future__trace_setup();
  return trace_begin(path);
}

int future__trace_recording(void) { return atomic_load(&future__tracing); }

/* Called with the setup done (or from it: no uv_once in here). */
static int trace_begin(const char *path) {
  char *copy = future__strdup(path);
  if (copy == NULL)
    return UV_ENOMEM;
  uv_mutex_lock(&trace_lock);
  if (atomic_load(&future__tracing)) {
    uv_mutex_unlock(&trace_lock);
    future__free(copy);
    return UV_EBUSY;
  }
  trace_path = copy;
  nevents = 0;
  trace_t0 = uv_hrtime();
  atomic_store(&future__tracing, 1);
  uv_mutex_unlock(&trace_lock);
  return 0;
}

static double us(uint64_t ns) { return (double)ns / 1000.0; }

int future_trace_stop(void) {
  FILE *out;
  int rc = 0;
  future__trace_setup();
  uv_mutex_lock(&trace_lock);
  if (!atomic_load(&future__tracing)) {
    uv_mutex_unlock(&trace_lock);
    return UV_EINVAL;
  }
  atomic_store(&future__tracing, 0);
  out = fopen(trace_path, "w");
  if (out == NULL) {
    rc = UV_EIO;
  } else {
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", out);
    for (size_t i = 0; i < nevents; i++) {
      const trace_event_t *e = &events[i];
      uint64_t ts = e->ts > trace_t0 ? e->ts - trace_t0 : 0;
      fprintf(out,
              "%s{\"name\":\"%s\",\"cat\":\"future\",\"ph\":\"%c\","
              "\"ts\":%.3f,\"pid\":1,\"tid\":%u",
              i ? ",\n" : "", e->name, e->phase, us(ts), e->tid);
      if (e->phase == 'X')
        fprintf(out, ",\"dur\":%.3f", us(e->dur));
      if (e->phase == 'i')
        fputs(",\"s\":\"t\"", out);
      if (e->phase == 'b' || e->phase == 'e')
        fprintf(out, ",\"id\":\"%p\"", e->id);
      fprintf(out, ",\"args\":{\"future\":\"%p\"}}", e->id);
    }
    fputs("\n]}\n", out);
    if (fclose(out) != 0)
      rc = UV_EIO;
  }
  future__free(events);
  events = NULL;
  nevents = capacity = 0;
  future__free(trace_path);
  trace_path = NULL;
  uv_mutex_unlock(&trace_lock);
  return rc;
}
