/*
 * The debug build (configure --enable-debug): checks that catch the misuse
 * a default build cannot afford to look for on every call.
 *
 *   - Every future carries a magic word, set when it is made and poisoned
 *     when it is freed, and every public call that takes a future checks
 *     it: one future_unref too many, or any use of a freed future, aborts
 *     with a message naming the call instead of corrupting a future that
 *     reuses the memory.
 *   - Freed futures are poisoned (their fields overwritten) and held back
 *     from reuse: the last FUTURE__BURIED of each loop stay buried, so
 *     that a late use finds the poison rather than a new future.
 *   - A resolver is marked used by its first resolve or reject; a second
 *     use aborts, and a delivered resolver is poisoned and held back the
 *     same way.
 *   - Every call that must run on the loop's thread (all of them but
 *     future_wait, future_result_release, the resolver's two and the
 *     error functions) checks that it does, and aborts with a message
 *     otherwise.
 *   - FUTURE_DEBUG_RACE_US=N in the environment makes every cross-thread
 *     wake-up sleep N microseconds first, which widens the windows in
 *     which the threads race (the thread-stress tests use it).
 *
 * Not caught, even here: a use after the loop's state was torn down
 * (future_loop_close lets the buried memory go), and misuse of values
 * and errors, which are the caller's (valgrind and the sanitizers see
 * those).
 */
#include "internal.h"

#if FUTURE_DEBUG

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void debug_fail(const char *func, const char *fmt, ...)
    FUTURE_PRINTF(2, 3);

static void debug_fail(const char *func, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "libfuture: %s: ", func);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (debug build: aborting)\n", stderr);
  fflush(stderr);
  abort();
}

void future__debug_check_loop(const future__loop_t *lp, const char *func) {
  if (!future__loop_on_thread(lp))
    debug_fail(func,
               "called on the wrong thread: the loop %p runs on another "
               "thread (futures and loops are used on their loop's thread; "
               "only future_wait, future_result_release and the resolver "
               "calls may come from elsewhere)",
               (void *)lp->loop);
}

void future__debug_check(const future_t *f, const char *func, int any_thread) {
  if (f == NULL)
    return;
  if (f->magic == FUTURE__MAGIC_DEAD)
    debug_fail(func,
               "future %p was already freed (one future_unref too many, or "
               "a reference used after it was handed over)",
               (const void *)f);
  if (f->magic != FUTURE__MAGIC_LIVE)
    debug_fail(func, "%p is not a future", (const void *)f);
  if (!any_thread)
    future__debug_check_loop(f->lp, func);
}

void future__debug_bury(future__loop_t *lp, future_t *f) {
  future_t *oldest = lp->buried[lp->buried_next];
  memset(f, 0xdb, sizeof(*f));
  f->magic = FUTURE__MAGIC_DEAD;
  lp->buried[lp->buried_next] = f;
  lp->buried_next = (lp->buried_next + 1) % FUTURE__BURIED;
  if (oldest != NULL)
    future__release_memory(lp, oldest);
}

void future__debug_use_resolver(future_resolver_t *r, const char *func) {
  if (r->magic != FUTURE__MAGIC_LIVE)
    debug_fail(func,
               "resolver %p was already delivered (a resolver is used "
               "exactly once)",
               (void *)r);
  if (atomic_exchange(&r->used, 1) != 0)
    debug_fail(func,
               "resolver %p is used a second time (a resolver is used "
               "exactly once)",
               (void *)r);
}

void future__debug_bury_resolver(future__loop_t *lp, future_resolver_t *r) {
  size_t i = lp->buried_resolvers_next;
  future_resolver_t *oldest = lp->buried_resolvers[i];
  memset(r, 0xdb, sizeof(*r));
  r->magic = FUTURE__MAGIC_DEAD;
  atomic_init(&r->used, 1);
  lp->buried_resolvers[i] = r;
  lp->buried_resolvers_next = (i + 1) % FUTURE__BURIED;
  future__free(oldest);
}

void future__debug_flush(future__loop_t *lp) {
  for (size_t i = 0; i < FUTURE__BURIED; i++) {
    if (lp->buried[i] != NULL)
      future__release_memory(lp, lp->buried[i]);
    future__free(lp->buried_resolvers[i]);
    lp->buried[i] = NULL;
    lp->buried_resolvers[i] = NULL;
  }
}

void future__debug_race_window(void) {
  const char *env = getenv("FUTURE_DEBUG_RACE_US");
  long us = env != NULL ? strtol(env, NULL, 10) : 0;
  if (us > 0) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
  }
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int future__debug_unused;
#endif
