/*
 * Child processes as futures: one block per child, holding its libuv
 * process handle and the pipes the library reads its output from, all
 * listed among the loop's operation handles (loop.c), so that a uv_walk
 * that closes them behind the library's back leaks nothing.
 *
 * The future settles once the child has been reaped and every captured
 * stream has reached its end (a grandchild that keeps a pipe open keeps
 * the future pending, as it keeps Node's 'close' event from coming).
 * Ending a child (cancel, output over the limit) is SIGTERM, then SIGKILL
 * when a grace period has passed; the grace period is a delay of the
 * loop's heap (timer.c), not a timer handle per child. A cancelled future
 * rejects at once, but its request stays listed until the child has been
 * reaped, so that future_loop_close waits for the reap: no zombie is ever
 * left, and the process handle is never closed under a live child.
 */
#include "internal.h"

#include <future/process.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#define DEFAULT_MAX_OUTPUT ((size_t)1024 * 1024)
#define DEFAULT_GRACE_MS 2000u

typedef struct child_s child_t;

/* A captured stream: its pipe and what came through it so far. */
typedef struct {
  future__handle_t h; /* first: handle->data points here */
  uv_pipe_t pipe;
  child_t *c;
  int captured; /* the pipe exists (listed) */
  int reading;  /* until its end, or until the library stops */
  char *buf;
  size_t len, cap;
} capture_t;

/* A grace period under way. Its observer may run after the child's block
 * is gone (the delay is cancelled when the child goes first), so it has a
 * block of its own. */
typedef struct {
  child_t *c; /* NULL once the child no longer needs it */
  future_t *delay; /* borrowed: the loop's heap holds it */
} grace_t;

struct child_s {
  future__handle_t h; /* first: the block's head, the process's entry */
  uv_process_t proc;
  capture_t cap[2];   /* stdout, stderr */
  future_t *f;        /* the request's reference, until it is done */
  grace_t *grace;
  int listed;         /* proc is initialised and listed */
  int exited;         /* reaped: status and signal are known */
  int64_t status;
  int term_signal;
  int pid;
  int ending;         /* SIGTERM has been sent */
  int reading;        /* captures still reading */
  future_error_t *fail; /* the outcome, if not the exit */
  size_t max_output;
  unsigned grace_ms;
  future__site_t site;
  char file[];
};

static const char *const stream_names[2] = {"stdout", "stderr"};

static int proc_closed_by_walk(const child_t *c) {
  return c->listed && uv_is_closing((const uv_handle_t *)&c->proc);
}

/* Keep the first failure only. */
static void child_failed(child_t *c, future_error_t *err) {
  if (c->fail == NULL)
    c->fail = err;
  else
    future_error_unref(err);
}

static void capture_stop(capture_t *cap) {
  if (cap->reading) {
    cap->reading = 0;
    cap->c->reading--;
    uv_read_stop((uv_stream_t *)&cap->pipe);
  }
  if (cap->captured)
    future__handle_close(&cap->h);
}

static void child_stop_reading(child_t *c) {
  capture_stop(&c->cap[0]);
  capture_stop(&c->cap[1]);
}

static void exit_free(void *p) { future__free(p); }

/* The value of a fulfilled future: the exit, with copies of the captured
 * streams after it. */
static future_exit_t *exit_value(const child_t *c) {
  size_t size = sizeof(future_exit_t), i;
  future_exit_t *e;
  char *p;
  for (i = 0; i < 2; i++)
    if (c->cap[i].captured)
      size += c->cap[i].len + 1;
  e = future__malloc(size);
  if (e == NULL)
    return NULL;
  memset(e, 0, sizeof(*e));
  e->status = c->status;
  e->signal = c->term_signal;
  e->pid = c->pid;
  p = (char *)(e + 1);
  for (i = 0; i < 2; i++) {
    const capture_t *cap = &c->cap[i];
    if (!cap->captured)
      continue;
    if (cap->len > 0)
      memcpy(p, cap->buf, cap->len);
    p[cap->len] = '\0';
    if (i == 0) {
      e->out = p;
      e->out_len = cap->len;
    } else {
      e->err = p;
      e->err_len = cap->len;
    }
    p += cap->len + 1;
  }
  return e;
}

/* The child is reaped and nothing is read any more: settle (unless a
 * cancel did), and close everything. The block goes once libuv has
 * finished with its handles (or at teardown, after a walk). */
static void child_finish(child_t *c) {
  future_t *f = c->f;
  future__outcome_t out = {NULL, NULL, NULL};
  c->f = NULL;
  if (c->grace != NULL) {
    c->grace->c = NULL;
    future_cancel(c->grace->delay); /* its observer frees the grace */
    c->grace = NULL;
  }
  if (f != NULL && f->state == FUTURE_PENDING) {
    if (c->fail != NULL) {
      out.error = c->fail;
      c->fail = NULL;
    } else {
      future_exit_t *e = exit_value(c);
      if (e == NULL)
        out.error = future__error_site(&c->site, UV_ENOMEM, "spawn %s",
                                       c->file);
      else
        future__outcome_of_value(&out, e, exit_free);
    }
  }
  future_error_unref(c->fail);
  c->fail = NULL;
  child_stop_reading(c);
  future__free(c->cap[0].buf);
  future__free(c->cap[1].buf);
  c->cap[0].buf = c->cap[1].buf = NULL;
  if (c->listed)
    future__handle_close(&c->h);
  if (f != NULL)
    future__source_done(f, &out);
  else
    future__outcome_release(&out);
}

static void child_try_finish(child_t *c) {
  if (c->exited && c->reading == 0)
    child_finish(c);
}

/* A walk closed the process handle: libuv no longer waits for the child,
 * so the library ends and reaps it here, at once. */
static void child_reap_now(child_t *c) {
  int st = 0;
  pid_t r;
  kill(c->pid, SIGKILL);
  do
    r = waitpid(c->pid, &st, 0);
  while (r < 0 && errno == EINTR);
  c->exited = 1;
  if (r == c->pid && WIFEXITED(st)) {
    c->status = WEXITSTATUS(st);
  } else if (r == c->pid && WIFSIGNALED(st)) {
    c->term_signal = WTERMSIG(st);
  }
  child_stop_reading(c);
}

static void on_grace(future_t *settled, void *data) {
  grace_t *g = data;
  child_t *c = g->c;
  (void)settled;
  if (c != NULL) {
    /* Elapsed, or cancelled by teardown: the child goes now either way. */
    c->grace = NULL;
    if (proc_closed_by_walk(c)) {
      child_reap_now(c);
      child_finish(c);
    } else if (!c->exited) {
      uv_process_kill(&c->proc, SIGKILL);
    }
  }
  future__free(g);
}

/* Make the running child end: SIGTERM now, SIGKILL after the grace
 * period. Delays never fire on a loop whose handles a walk closed: there,
 * and when the grace period cannot be had, SIGKILL at once. */
static void child_end(child_t *c) {
  future__loop_t *lp = c->h.lp;
  grace_t *g;
  future_t *d;
  if (c->exited || c->ending)
    return;
  if (proc_closed_by_walk(c)) {
    child_reap_now(c);
    return;
  }
  c->ending = 1;
  if (future__loop_orphaned(lp)) {
    uv_process_kill(&c->proc, SIGKILL);
    return;
  }
  uv_process_kill(&c->proc, SIGTERM);
  g = future__malloc(sizeof(*g));
  d = g != NULL ? future__delay_new(lp, c->grace_ms) : NULL;
  if (d != NULL && future__sink(d, on_grace, g) != NULL) {
    g->c = c;
    g->delay = d;
    c->grace = g;
    return;
  }
  if (d != NULL)
    future_cancel(d); /* held by the heap alone: nobody waits on it */
  future__free(g);
  uv_process_kill(&c->proc, SIGKILL);
}

static int process_cancel(future_t *f, void *req) {
  child_t *c = req;
  (void)f;
  child_stop_reading(c);
  if (!c->exited && proc_closed_by_walk(c))
    child_reap_now(c);
  if (c->exited) {
    /* Nothing left to wait for: done with the future now, and the
     * canceller drops the request's reference. */
    c->f = NULL;
    child_finish(c);
    return 1;
  }
  /* The request stays until the child is reaped (child_exited). */
  child_end(c);
  return 0;
}

static void child_exited(uv_process_t *proc, int64_t status, int term_signal) {
  child_t *c = proc->data;
  c->exited = 1;
  c->status = status;
  c->term_signal = term_signal;
  child_try_finish(c);
}

/* Reading a captured stream. */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  capture_t *cap = handle->data;
  size_t limit = cap->c->max_output + 1; /* one more shows the excess */
  (void)suggested;
  if (cap->cap - cap->len < 4096 && cap->cap < limit) {
    size_t n = cap->cap != 0 ? cap->cap * 2 : 16384;
    char *grown;
    if (n > limit || n < cap->cap)
      n = limit;
    grown = future__realloc(cap->buf, n);
    if (grown != NULL) {
      cap->buf = grown;
      cap->cap = n;
    }
  }
  if (cap->len == cap->cap) {
    *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init(cap->buf + cap->len, (unsigned)(cap->cap - cap->len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  capture_t *cap = stream->data;
  child_t *c = cap->c;
  const char *name = stream_names[cap - c->cap];
  (void)buf;
  if (nread == 0)
    return;
  if (nread > 0) {
    cap->len += (size_t)nread;
    if (cap->len <= c->max_output)
      return;
    child_failed(c, future__error_site(&c->site, UV_ENOBUFS,
                                       "spawn %s: %s over %zu bytes",
                                       c->file, name, c->max_output));
  } else if (nread == UV_EOF) {
    capture_stop(cap);
    child_try_finish(c);
    return;
  } else {
    /* UV_ENOBUFS: on_alloc had no memory for the buffer. */
    int code = nread == UV_ENOBUFS ? UV_ENOMEM : (int)nread;
    child_failed(c, future__error_site(&c->site, code, "spawn %s: read %s",
                                       c->file, name));
  }
  /* Over the limit, or unreadable: the child must end. */
  child_stop_reading(c);
  child_end(c);
  child_try_finish(c);
}

/* Starting. */

static int stdio_of(uv_loop_t *loop, child_t *c, int i,
                    const future_stdio_t *s, uv_stdio_container_t *out) {
  switch (s->kind) {
  case FUTURE_STDIO_INHERIT:
    out->flags = UV_INHERIT_FD;
    out->data.fd = i;
    return 0;
  case FUTURE_STDIO_IGNORE:
    out->flags = UV_IGNORE;
    return 0;
  case FUTURE_STDIO_FD:
    out->flags = UV_INHERIT_FD;
    out->data.fd = s->fd;
    return 0;
  case FUTURE_STDIO_CAPTURE: {
    capture_t *cap = &c->cap[i - 1];
    int rc = uv_pipe_init(loop, &cap->pipe, 0);
    if (rc < 0)
      return rc;
    cap->c = c;
    cap->captured = 1;
    future__handle_list(c->h.lp, &c->h, &cap->h, (uv_handle_t *)&cap->pipe);
    out->flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    out->data.stream = (uv_stream_t *)&cap->pipe;
    return 0;
  }
  }
  return UV_EINVAL;
}

static const char *options_invalid(const future_spawn_options_t *opts) {
  int i;
  if (opts == NULL)
    return "NULL options";
  if (opts->file == NULL)
    return "NULL file";
  if (opts->stdio[0].kind == FUTURE_STDIO_CAPTURE)
    return "stdin cannot be captured";
  for (i = 0; i < 3; i++) {
    if ((unsigned)opts->stdio[i].kind > FUTURE_STDIO_CAPTURE)
      return "unknown stdio kind";
    if (opts->stdio[i].kind == FUTURE_STDIO_FD && opts->stdio[i].fd < 0)
      return "negative stdio fd";
  }
  return NULL;
}

static future_t *spawn_start(uv_loop_t *loop, future__loop_t *lp,
                             const future_spawn_options_t *opts,
                             const future__site_t *site) {
  const char *invalid = options_invalid(opts);
  const char *args0[2];
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  size_t n;
  child_t *c;
  future_t *f;
  int rc = 0, i;
  if (invalid != NULL)
    return future_rejected(
        loop, future__error_site(site, UV_EINVAL, "spawn%s%s: %s",
                                 opts != NULL && opts->file != NULL ? " " : "",
                                 opts != NULL && opts->file != NULL
                                     ? opts->file
                                     : "",
                                 invalid));
  n = strlen(opts->file) + 1;
  c = future__calloc(1, sizeof(*c) + n);
  if (c == NULL)
    return NULL;
  memcpy(c->file, opts->file, n);
  c->site = *site;
  c->max_output = opts->max_output != 0 ? opts->max_output
                                        : DEFAULT_MAX_OUTPUT;
  if (c->max_output > SIZE_MAX / 2) /* max_output + 1 must not wrap */
    c->max_output = SIZE_MAX / 2;
  c->grace_ms = opts->kill_grace_ms != 0 ? opts->kill_grace_ms
                                         : DEFAULT_GRACE_MS;
  c->h.lp = lp;
  f = c->f = future__source_new(lp, process_cancel, c);
  if (f == NULL) {
    future__free(c);
    return NULL;
  }
  FUTURE__TRACE_REQUEST(f, "spawn %s", c->file);
  memset(stdio, 0, sizeof stdio);
  for (i = 0; i < 3 && rc == 0; i++)
    rc = stdio_of(loop, c, i, &opts->stdio[i], &stdio[i]);
  if (rc == 0) {
    args0[0] = opts->file;
    args0[1] = NULL;
    memset(&o, 0, sizeof o);
    o.exit_cb = child_exited;
    o.file = opts->file;
    o.args = (char **)(opts->args != NULL ? opts->args : args0);
    o.env = (char **)opts->env;
    o.cwd = opts->cwd;
    o.stdio = stdio;
    o.stdio_count = 3;
    rc = uv_spawn(loop, &c->proc, &o);
    /* Initialised whether or not it started: listed either way. */
    future__handle_list(lp, &c->h, &c->h, (uv_handle_t *)&c->proc);
    c->listed = 1;
    if (rc == 0)
      c->pid = c->proc.pid;
  }
  if (rc < 0) {
    c->exited = 1; /* there is no child */
    child_failed(c, future__error_site(site, rc, "spawn %s", c->file));
    child_finish(c);
    if (c->h.listed == 0) /* no handle was ever listed */
      future__free(c);
    return f;
  }
  for (i = 0; i < 2; i++) {
    capture_t *cap = &c->cap[i];
    if (!cap->captured)
      continue;
    rc = uv_read_start((uv_stream_t *)&cap->pipe, on_alloc, on_read);
    if (rc < 0) {
      child_failed(c, future__error_site(site, rc, "spawn %s: read %s",
                                         c->file, stream_names[i]));
      child_stop_reading(c);
      child_end(c);
      break;
    }
    cap->reading = 1;
    c->reading++;
  }
  return f;
}

future_t *future_spawn(uv_loop_t *loop, const future_spawn_options_t *opts) {
  future__loop_t *lp;
  future__site_t site;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  return spawn_start(loop, lp, opts, &site);
}

future_t *future_exec(uv_loop_t *loop, const char *file,
                      const char *const *args, size_t max_output) {
  future__loop_t *lp;
  future__site_t site;
  future_spawn_options_t opts;
  if (loop == NULL || (lp = future__loop_get(loop)) == NULL)
    return NULL;
  future__site_get(&site, __FILE__, __LINE__, __func__);
  memset(&opts, 0, sizeof opts);
  opts.file = file;
  opts.args = args;
  opts.stdio[0].kind = FUTURE_STDIO_IGNORE;
  opts.stdio[1].kind = FUTURE_STDIO_CAPTURE;
  opts.stdio[2].kind = FUTURE_STDIO_CAPTURE;
  opts.max_output = max_output;
  return spawn_start(loop, lp, &opts, &site);
}

/* The child behind `f`, if `f` is the pending future of one. */
static child_t *child_of(const future_t *f) {
  if (f->kind != FUTURE__SOURCE || f->state != FUTURE_PENDING ||
      f->u.cancel != process_cancel)
    return NULL;
  return f->data;
}

int future_process_kill(future_t *f, int signum) {
  child_t *c;
  FUTURE__CHECK(f);
  if (f == NULL)
    return UV_EINVAL;
  if (f->state != FUTURE_PENDING)
    return FUTURE_ESETTLED;
  c = child_of(f);
  if (c == NULL || signum <= 0 || signum >= NSIG)
    return UV_EINVAL;
  if (c->exited || proc_closed_by_walk(c))
    return UV_ESRCH;
  return uv_process_kill(&c->proc, signum);
}

int future_process_pid(const future_t *f) {
  const child_t *c;
  FUTURE__CHECK(f);
  if (f == NULL || (c = child_of(f)) == NULL)
    return 0;
  return c->pid;
}
