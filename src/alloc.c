/*
 * Where the library's memory comes from: malloc and friends by default, or
 * the functions given to future_set_allocator (to count, to pool, or to
 * fail on purpose in tests).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static future_malloc_fn alloc_malloc = malloc;
static future_realloc_fn alloc_realloc = realloc;
static future_calloc_fn alloc_calloc = calloc;
static future_free_fn alloc_free = free;

int future_set_allocator(future_malloc_fn malloc_fn,
                         future_realloc_fn realloc_fn,
                         future_calloc_fn calloc_fn, future_free_fn free_fn) {
  if (malloc_fn == NULL || realloc_fn == NULL || calloc_fn == NULL ||
      free_fn == NULL)
    return UV_EINVAL;
  /* Memory from one allocator must not be freed by another: not while a
   * loop has state, nor while a trace holds its buffers. */
  if (future__loop_any() || future__trace_recording())
    return UV_EBUSY;
  alloc_malloc = malloc_fn;
  alloc_realloc = realloc_fn;
  alloc_calloc = calloc_fn;
  alloc_free = free_fn;
  return 0;
}

void *future__malloc(size_t size) { return alloc_malloc(size); }

void *future__realloc(void *p, size_t size) { return alloc_realloc(p, size); }

void *future__calloc(size_t n, size_t size) { return alloc_calloc(n, size); }

void future__free(void *p) {
  if (p != NULL)
    alloc_free(p);
}

char *future__strdup(const char *s) {
  size_t len = strlen(s) + 1;
  char *copy = future__malloc(len);
  if (copy != NULL)
    memcpy(copy, s, len);
  return copy;
}
