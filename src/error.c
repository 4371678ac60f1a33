/*
 * Errors as values: codes, messages, raising sites, causes, and the report
 * of unhandled rejections.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct future_error_s {
  atomic_uint refs;
  int immortal;  /* statically allocated: reference counting is a no-op */
  int code;
  int line;
  const char *file;
  const char *func;
  future_error_t *cause;    /* the first (usually only) cause */
  size_t ncauses;           /* causes[] of an aggregate, else 0 */
  future_error_t **causes;  /* stored right after the struct */
  const char *message;      /* stored after the causes */
};

/* Returned when even an error cannot be allocated, so that running out of
 * memory is still reported as an error value and never lost. */
static future_error_t enomem_error = {
    0, 1, UV_ENOMEM, 0, "libfuture", "allocation", NULL, 0, NULL,
    "out of memory (ENOMEM)"};

const char *future_strerror(int code) {
  switch (code) {
#define XX(name, text)                                                         \
  case UV_##name:                                                              \
    return text;
    UV_ERRNO_MAP(XX)
#undef XX
  case FUTURE_ECYCLE:
    return "a future cannot adopt itself (chaining cycle)";
  case FUTURE_ESETTLED:
    return "future already settled";
  case FUTURE_EINCALLBACK:
    return "cannot block inside a callback of the loop that must settle it";
  case FUTURE_ESTALLED:
    return "nothing can settle the future any more";
  case FUTURE_EAGGREGATE:
    return "every one of the futures was rejected";
  case FUTURE_ENOTFIBER:
    return "only a fiber can await a future";
  }
  if (code <= FUTURE_EUSER_BASE)
    return "user error";
  return "unknown error";
}

const char *future_err_name(int code) {
  switch (code) {
#define XX(name, text)                                                         \
  case UV_##name:                                                              \
    return #name;
    UV_ERRNO_MAP(XX)
#undef XX
  case FUTURE_ECYCLE:
    return "FUTURE_ECYCLE";
  case FUTURE_ESETTLED:
    return "FUTURE_ESETTLED";
  case FUTURE_EINCALLBACK:
    return "FUTURE_EINCALLBACK";
  case FUTURE_ESTALLED:
    return "FUTURE_ESTALLED";
  case FUTURE_EAGGREGATE:
    return "FUTURE_EAGGREGATE";
  case FUTURE_ENOTFIBER:
    return "FUTURE_ENOTFIBER";
  }
  if (code <= FUTURE_EUSER_BASE)
    return "EUSER";
  return "UNKNOWN";
}

/* `desc` NULL: the code's own description (future_strerror). */
static future_error_t *error_alloc_desc(const char *file, int line,
                                        const char *func, int code,
                                        const future_error_t *cause,
                                        const future_error_t *const *causes,
                                        size_t ncauses, const char *text,
                                        const char *desc) {
  int user = code <= FUTURE_EUSER_BASE;
  const char *name = future_err_name(code);
  size_t len;
  future_error_t *err;
  char *message;

  if (desc == NULL)
    desc = future_strerror(code);
  /* "<text>: <description> (<NAME>)"; a user's code has no description of
   * its own, so its text stands alone. */
  if (text != NULL && user)
    len = strlen(text);
  else if (text != NULL)
    len = strlen(text) + 2 + strlen(desc) + 2 + strlen(name) + 1;
  else
    len = strlen(desc) + 2 + strlen(name) + 1;

  err = future__malloc(sizeof(*err) + ncauses * sizeof(future_error_t *) + len + 1);
  if (err == NULL)
    return &enomem_error;
  atomic_init(&err->refs, 1);
  err->immortal = 0;
  err->code = code;
  err->line = line;
  err->file = file != NULL ? file : "?";
  err->func = func != NULL ? func : "?";
  err->ncauses = ncauses;
  err->causes = ncauses > 0 ? (future_error_t **)(err + 1) : NULL;
  for (size_t i = 0; i < ncauses; i++)
    err->causes[i] = future_error_ref((future_error_t *)causes[i]);
  if (ncauses > 0)
    cause = causes[0];
  err->cause = ncauses > 0 ? err->causes[0]
                           : future_error_ref((future_error_t *)cause);
  message = (char *)(err + 1) + ncauses * sizeof(future_error_t *);
  if (text != NULL && user)
    memcpy(message, text, len + 1);
  else if (text != NULL)
    snprintf(message, len + 1, "%s: %s (%s)", text, desc, name);
  else
    snprintf(message, len + 1, "%s (%s)", desc, name);
  err->message = message;
  return err;
}

static future_error_t *error_alloc(const char *file, int line,
                                   const char *func, int code,
                                   const future_error_t *cause,
                                   const future_error_t *const *causes,
                                   size_t ncauses, const char *text) {
  return error_alloc_desc(file, line, func, code, cause, causes, ncauses,
                          text, NULL);
}

future_error_t *future__error_described(const char *file, int line,
                                        const char *func, int code,
                                        const char *desc, const char *text) {
  return error_alloc_desc(file, line, func, code, NULL, NULL, 0, text, desc);
}

static future_error_t *error_vnew(const char *file, int line,
                                  const char *func, int code,
                                  const future_error_t *cause,
                                  const future_error_t *const *causes,
                                  size_t ncauses, const char *fmt,
                                  va_list ap) {
  future_error_t *err;
  char small[256];
  char *text = NULL;

  if (code >= 0)
    code = UV_EINVAL;
  if (fmt != NULL) {
    va_list ap2;
    int n;
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
      text = NULL;
    } else if ((size_t)n < sizeof small) {
      text = small;
    } else {
      text = future__malloc((size_t)n + 1);
      if (text == NULL)
        return &enomem_error;
      vsnprintf(text, (size_t)n + 1, fmt, ap);
    }
  }
  err = error_alloc(file, line, func, code, cause, causes, ncauses, text);
  if (text != small)
    future__free(text);
  return err;
}

future_error_t *future_error_new_at(const char *file, int line,
                                    const char *func, int code,
                                    const future_error_t *cause,
                                    const char *fmt, ...) {
  future_error_t *err;
  va_list ap;
  va_start(ap, fmt);
  err = error_vnew(file, line, func, code, cause, NULL, 0, fmt, ap);
  va_end(ap);
  return err;
}

future_error_t *future_error_aggregate_at(const char *file, int line,
                                          const char *func, int code,
                                          const future_error_t *const *causes,
                                          size_t ncauses, const char *fmt,
                                          ...) {
  future_error_t *err;
  va_list ap;
  if (causes == NULL)
    ncauses = 0;
  va_start(ap, fmt);
  err = error_vnew(file, line, func, code, NULL, causes, ncauses, fmt, ap);
  va_end(ap);
  return err;
}

future_error_t *future_error_ref(future_error_t *err) {
  if (err != NULL && !err->immortal)
    atomic_fetch_add_explicit(&err->refs, 1, memory_order_relaxed);
  return err;
}

void future_error_unref(future_error_t *err) {
  /* Iterative along the first cause, so that a long cause chain cannot
   * exhaust the stack; only the nesting of aggregates recurses. */
  while (err != NULL && !err->immortal) {
    future_error_t *cause;
    if (atomic_fetch_sub_explicit(&err->refs, 1, memory_order_acq_rel) != 1)
      return;
    cause = err->cause;
    for (size_t i = 1; i < err->ncauses; i++)
      future_error_unref(err->causes[i]);
    future__free(err);
    err = cause;
  }
}

int future_error_code(const future_error_t *err) {
  return err != NULL ? err->code : 0;
}

const char *future_error_message(const future_error_t *err) {
  return err != NULL ? err->message : "";
}

const char *future_error_file(const future_error_t *err) {
  return err != NULL ? err->file : "";
}

int future_error_line(const future_error_t *err) {
  return err != NULL ? err->line : 0;
}

const char *future_error_func(const future_error_t *err) {
  return err != NULL ? err->func : "";
}

const future_error_t *future_error_cause(const future_error_t *err) {
  return err != NULL ? err->cause : NULL;
}

size_t future_error_cause_count(const future_error_t *err) {
  if (err == NULL)
    return 0;
  return err->ncauses > 0 ? err->ncauses : (err->cause != NULL ? 1 : 0);
}

const future_error_t *future_error_cause_at(const future_error_t *err,
                                            size_t i) {
  if (err == NULL || i >= future_error_cause_count(err))
    return NULL;
  return err->ncauses > 0 ? err->causes[i] : err->cause;
}

static void print_chain(const future_error_t *err, FILE *out, int indent,
                        const char *label) {
  while (err != NULL) {
    fprintf(out, "%*s%s: %s\n", indent, "", label, err->message);
    fprintf(out, "%*s  at %s:%d in %s\n", indent, "", err->file, err->line,
            err->func);
    if (err->ncauses > 0) {
      for (size_t i = 0; i < err->ncauses; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "cause %zu", i + 1);
        print_chain(err->causes[i], out, indent + 2, sub);
      }
      return;
    }
    err = err->cause;
    label = "caused by";
  }
}

void future_error_print(const future_error_t *err, FILE *out) {
  print_chain(err, out, 0, "error");
}

/* The unhandled-rejection hook. */

static void default_unhandled(const future_error_t *err, void *data) {
  (void)data;
  fputs("libfuture: unhandled rejection\n", stderr);
  future_error_print(err, stderr);
}

static future_unhandled_cb unhandled_hook = default_unhandled;
static void *unhandled_data = NULL;

future_unhandled_cb future_set_unhandled_hook(future_unhandled_cb hook,
                                              void *data,
                                              void **previous_data) {
  future_unhandled_cb previous = unhandled_hook;
  if (previous_data != NULL)
    *previous_data = unhandled_data;
  unhandled_hook = hook != NULL ? hook : default_unhandled;
  unhandled_data = hook != NULL ? data : NULL;
  return previous;
}

void future__report_unhandled(const future_error_t *err) {
  unhandled_hook(err, unhandled_data);
}

/* Call sites (FUTURE_AT): a small stack per thread, the innermost on top.
 * Pushes past its depth are counted, not kept, so that pops stay paired.
 * initial-exec, as the loop cache (internal.h): every public call pushes
 * and pops, and a __tls_get_addr call each time was 170 instructions of a
 * tcp_echo round trip (about 200 bytes of the static TLS block). */
#define SITES_MAX 8
static _Thread_local future__site_t sites[SITES_MAX]
    __attribute__((tls_model("initial-exec")));
static _Thread_local unsigned nsites
    __attribute__((tls_model("initial-exec")));

void future_call_site_push(const char *file, int line, const char *func) {
  if (nsites < SITES_MAX) {
    sites[nsites].file = file;
    sites[nsites].line = line;
    sites[nsites].func = func;
  }
  nsites++;
}

future_t *future_call_site_pop(future_t *f) {
  if (nsites > 0)
    nsites--;
  return f;
}

void future__site_get(future__site_t *site, const char *file, int line,
                      const char *func) {
  if (nsites > 0 && nsites <= SITES_MAX && sites[nsites - 1].file != NULL) {
    *site = sites[nsites - 1];
  } else {
    site->file = file;
    site->line = line;
    site->func = func;
  }
}

future_error_t *future__error_site(const future__site_t *site, int code,
                                   const char *fmt, ...) {
  future_error_t *err;
  va_list ap;
  va_start(ap, fmt);
  err = error_vnew(site->file, site->line, site->func, code, NULL, NULL, 0,
                   fmt, ap);
  va_end(ap);
  return err;
}
