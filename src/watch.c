/*
 * Watching files as futures: one libuv watcher per future (uv_fs_event_t
 * or uv_fs_poll_t), stopped and closed at the first change or when the
 * future is cancelled. The watcher is one of the operations' handles of
 * the loop (loop.c), so that a uv_walk that closes it behind the
 * library's back leaks nothing.
 */
#include "internal.h"

#include <future/watch.h>

#include <stdlib.h>
#include <string.h>

typedef struct {
  future__handle_t h; /* first: handle->data points here */
  union {
    uv_fs_event_t event;
    uv_fs_poll_t poll;
  } u;
  future__site_t site; /* where the watch was asked for */
  char path[];
} watch_t;

/* Settle with `value` (owned, freed with future__free) or `err`, and stop
 * watching. */
static void watch_end(watch_t *w, void *value, future_error_t *err) {
  future_t *f = future__handle_finish(&w->h);
  if (f == NULL) {
    future__free(value);
    future_error_unref(err);
  } else if (err != NULL) {
    future__source_fail(f, err);
  } else {
    future__source_fulfil(f, value, future__free);
  }
}

/* A new watch of `path`, its future and its handle listed; NULL if memory
 * runs out. The handle is initialised by `init` before it is listed. */
static watch_t *watch_new(uv_loop_t *loop, future__loop_t *lp,
                          const char *path, const future__site_t *site,
                          int (*init)(uv_loop_t *, watch_t *)) {
  size_t n = strlen(path) + 1;
  watch_t *w = future__calloc(1, sizeof(*w) + n);
  if (w == NULL)
    return NULL;
  memcpy(w->path, path, n);
  w->site = *site;
  if (init(loop, w) != 0) { /* cannot fail on Unix; nothing to undo */
    future__free(w);
    return NULL;
  }
  if (future__handle_source(lp, &w->h, (uv_handle_t *)&w->u) == NULL)
    return NULL;
  return w;
}

/* The start failed: the future rejects with the error, naming the path. */
static future_t *watch_failed(watch_t *w, int rc) {
  future_t *f = future__handle_finish(&w->h);
  future__source_fail(f, future__error_site(&w->site, rc, "watch '%s'",
                                            w->path));
  return f;
}

/* Change events. */

static void on_event(uv_fs_event_t *handle, const char *name, int events,
                     int status) {
  watch_t *w = handle->data;
  future_fs_change_t *change;
  size_t n;
  if (w->h.f == NULL)
    return;
  if (status < 0) {
    watch_end(w, NULL,
              future__error_site(&w->site, status, "watch '%s'", w->path));
    return;
  }
  n = name != NULL ? strlen(name) + 1 : 1;
  change = future__malloc(sizeof(*change) + n);
  if (change == NULL) {
    watch_end(w, NULL, future__error(UV_ENOMEM, "watch"));
    return;
  }
  memcpy((char *)(change + 1), name != NULL ? name : "", n);
  change->name = (const char *)(change + 1);
  change->events = events;
  watch_end(w, change, NULL);
}

static int init_event(uv_loop_t *loop, watch_t *w) {
  return uv_fs_event_init(loop, &w->u.event);
}

future_t *future_fs_watch(uv_loop_t *loop, const char *path, unsigned flags) {
  future__loop_t *lp;
  future__site_t site;
  watch_t *w;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (path == NULL)
    return future_rejected(loop, future__error_site(&site, UV_EINVAL,
                                                    "watch: NULL path"));
  w = watch_new(loop, lp, path, &site, init_event);
  if (w == NULL)
    return NULL;
  FUTURE__TRACE_REQUEST(w->h.f, "fs.watch %s", w->path);
  rc = uv_fs_event_start(&w->u.event, on_event, w->path, flags);
  if (rc < 0)
    return watch_failed(w, rc);
  return w->h.f;
}

/* Stat changes. */

static int stat_is_zero(const uv_stat_t *st) {
  static const uv_stat_t zero;
  return memcmp(st, &zero, sizeof zero) == 0;
}

static void on_poll(uv_fs_poll_t *handle, int status, const uv_stat_t *prev,
                    const uv_stat_t *curr) {
  watch_t *w = handle->data;
  future_fs_stat_change_t *change;
  if (w->h.f == NULL)
    return;
  if (status == UV_ENOENT && stat_is_zero(prev))
    return; /* it does not exist yet: its creation will be the change */
  if (status < 0 && status != UV_ENOENT) {
    watch_end(w, NULL,
              future__error_site(&w->site, status, "watch '%s'", w->path));
    return;
  }
  change = future__calloc(1, sizeof(*change));
  if (change == NULL) {
    watch_end(w, NULL, future__error(UV_ENOMEM, "watch"));
    return;
  }
  change->prev = *prev;
  if (status == 0) /* else removed: curr stays all zero */
    change->curr = *curr;
  watch_end(w, change, NULL);
}

static int init_poll(uv_loop_t *loop, watch_t *w) {
  return uv_fs_poll_init(loop, &w->u.poll);
}

future_t *future_fs_watch_file(uv_loop_t *loop, const char *path,
                               unsigned interval_ms) {
  future__loop_t *lp;
  future__site_t site;
  watch_t *w;
  int rc;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  if (path == NULL || interval_ms == 0)
    return future_rejected(
        loop, future__error_site(&site, UV_EINVAL, "watch: %s",
                                 path == NULL ? "NULL path"
                                              : "an interval of 0 ms"));
  w = watch_new(loop, lp, path, &site, init_poll);
  if (w == NULL)
    return NULL;
  FUTURE__TRACE_REQUEST(w->h.f, "fs.watch_file %s every %u ms", w->path,
                        interval_ms);
  rc = uv_fs_poll_start(&w->u.poll, on_poll, w->path, interval_ms);
  if (rc < 0)
    return watch_failed(w, rc);
  return w->h.f;
}
