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
  future_error_t *cause;
  const char *message;  /* stored right after the struct */
};

/* Returned when even an error cannot be allocated, so that running out of
 * memory is still reported as an error value and never lost. */
static future_error_t enomem_error = {0,           1,    UV_ENOMEM,
                                      0,           "libfuture", "allocation",
                                      NULL,        "out of memory (ENOMEM)"};

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
    return "the loop ran out of work while the future was pending";
  case FUTURE_ENORESULT:
    return "a continuation returned NULL instead of a future";
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
  case FUTURE_ENORESULT:
    return "FUTURE_ENORESULT";
  }
  if (code <= FUTURE_EUSER_BASE)
    return "EUSER";
  return "UNKNOWN";
}

static future_error_t *error_alloc(const char *file, int line,
                                   const char *func, int code,
                                   const future_error_t *cause,
                                   const char *text) {
  int user = code <= FUTURE_EUSER_BASE;
  const char *desc = future_strerror(code);
  const char *name = future_err_name(code);
  size_t len;
  future_error_t *err;
  char *message;

  /* "<text>: <description> (<NAME>)"; a user's code has no description of
   * its own, so its text stands alone. */
  if (text != NULL && user)
    len = strlen(text);
  else if (text != NULL)
    len = strlen(text) + 2 + strlen(desc) + 2 + strlen(name) + 1;
  else
    len = strlen(desc) + 2 + strlen(name) + 1;

  err = malloc(sizeof(*err) + len + 1);
  if (err == NULL)
    return &enomem_error;
  atomic_init(&err->refs, 1);
  err->immortal = 0;
  err->code = code;
  err->line = line;
  err->file = file != NULL ? file : "?";
  err->func = func != NULL ? func : "?";
  err->cause = future_error_ref((future_error_t *)cause);
  message = (char *)(err + 1);
  if (text != NULL && user)
    memcpy(message, text, len + 1);
  else if (text != NULL)
    snprintf(message, len + 1, "%s: %s (%s)", text, desc, name);
  else
    snprintf(message, len + 1, "%s (%s)", desc, name);
  err->message = message;
  return err;
}

future_error_t *future_error_new_at(const char *file, int line,
                                    const char *func, int code,
                                    const future_error_t *cause,
                                    const char *fmt, ...) {
  future_error_t *err;
  char small[256];
  char *text = NULL;

  if (code >= 0)
    code = UV_EINVAL;
  if (fmt != NULL) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
      text = NULL;
    } else if ((size_t)n < sizeof small) {
      text = small;
    } else {
      text = malloc((size_t)n + 1);
      if (text == NULL)
        return &enomem_error;
      va_start(ap, fmt);
      vsnprintf(text, (size_t)n + 1, fmt, ap);
      va_end(ap);
    }
  }
  err = error_alloc(file, line, func, code, cause, text);
  if (text != small)
    free(text);
  return err;
}

future_error_t *future_error_ref(future_error_t *err) {
  if (err != NULL && !err->immortal)
    atomic_fetch_add_explicit(&err->refs, 1, memory_order_relaxed);
  return err;
}

void future_error_unref(future_error_t *err) {
  /* Iterative, so that a long cause chain cannot exhaust the stack. */
  while (err != NULL && !err->immortal) {
    future_error_t *cause;
    if (atomic_fetch_sub_explicit(&err->refs, 1, memory_order_acq_rel) != 1)
      return;
    cause = err->cause;
    free(err);
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

void future_error_print(const future_error_t *err, FILE *out) {
  const char *label = "error";
  for (; err != NULL; err = err->cause) {
    fprintf(out, "%s: %s\n", label, err->message);
    fprintf(out, "  at %s:%d in %s\n", err->file, err->line, err->func);
    label = "caused by";
  }
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
