/* The switch of src/fiber.c on its own, for another architecture than the
 * build's (test/fiber-cross.sh builds it for AArch64 and runs it under
 * qemu): a ping-pong between the main stack and a fiber, 100,000 switches
 * each way, with integer and floating-point values live across every
 * switch in both (the compiler keeps them in the registers a call
 * preserves), then once more on a stack taken from the loop's pool. */
#include "fiber.h"
#include <stdio.h>
#include <stdlib.h>

static future__fiber_t fb;
static volatile long counter;
static double fsum;

static void body(future__fiber_t *f) {
  double a = 1.5, b = 2.25; /* likely kept in d8-d15 across calls */
  long x = 7, y = 11;
  for (int i = 0; i < 100000; i++) {
    counter++;
    future__fiber_suspend(f);
    a += 0.5; b *= 1.0; x += 3; y ^= i;
  }
  fsum = a + b + (double)x + (double)y;
}

int main(void) {
  future__loop_t *lp = calloc(1, sizeof *lp);
  double m1 = 3.0, m2 = 4.0; long k = 0;
  if (future__fiber_init(lp, &fb, 0, 0, body) != 0) { puts("init failed"); return 1; }
  for (int i = 0; i <= 100000; i++) {
    future__fiber_resume(&fb);
    m1 += 1.0; m2 -= 0.25; k += i;
    if (counter != (i < 100000 ? i + 1 : 100000)) { printf("bad counter %ld at %d\n", counter, i); return 1; }
  }
  future__fiber_release(lp, &fb);
  printf("fsum=%.2f m1=%.1f m2=%.2f k=%ld pooled=%zu\n", fsum, m1, m2, k, lp->nstack_pool);
  /* Again, on the stack the first fiber gave back to the pool. */
  counter = 0;
  if (future__fiber_init(lp, &fb, 0, 0, body) != 0) return 1;
  while (counter < 100000 || fsum == 0) { future__fiber_resume(&fb); if (counter >= 100000) { future__fiber_resume(&fb); break; } }
  future__fiber_release(lp, &fb);
  future__stack_pool_destroy(lp);
  printf("ok fsum=%.2f\n", fsum);
  return 0;
}
