/* Threads against the loop (src/loop.c, resolver.c, wait.c, combine.c):
 * sixteen producer threads resolve and reject futures through resolvers,
 * wait on futures from their own thread, and release list results, while
 * the loop's thread runs the loop, cancels some of the waited futures,
 * and then tears the loop down with future_loop_close while the producers
 * are still at work. Every outcome must arrive exactly once, every value
 * be destroyed exactly once, and nothing be left. Under ThreadSanitizer
 * (--enable-tsan) a data race fails the test; in the debug build
 * (--enable-debug) the second round sleeps before every cross-thread
 * wake-up (FUTURE_DEBUG_RACE_US), which widens the races' windows. */
#include "helpers.h"
#include "suites.h"

#include <stdatomic.h>
#include <stdlib.h>

#define PRODUCERS 16
#define PER 24

typedef struct {
  future_resolver_t *res[PER];  /* this producer settles these */
  future_t *wait_on[PER];       /* waits on these (the references) */
  future_result_t lists[PER];   /* and releases these */
  int ok, cancelled, rejected, other;
} producer_t;

static producer_t producers[PRODUCERS];
static atomic_int values_alive;
static atomic_int producers_done;

static void value_free(void *v) {
  atomic_fetch_sub(&values_alive, 1);
  free(v);
}

static void *value_new(int n) {
  int *v = malloc(sizeof *v);
  *v = n;
  atomic_fetch_add(&values_alive, 1);
  return v;
}

static void produce(void *arg) {
  producer_t *p = arg;
  for (int i = 0; i < PER; i++) {
    future_result_t r;
    int rc;
    if (i % 5 == 4)
      future_resolver_reject(p->res[i],
                             future_error_new(FUTURE_EUSER(i), "no %d", i));
    else
      future_resolver_resolve(p->res[i], value_new(i), value_free);
    rc = future_wait(p->wait_on[i], &r);
    if (rc == 0 && r.value != NULL && *(int *)r.value == i)
      p->ok++;
    else if (rc == UV_ECANCELED)
      p->cancelled++;
    else if (rc == FUTURE_EUSER(i))
      p->rejected++;
    else
      p->other++;
    future_result_release(&r);
    future_result_release(&p->lists[i]);
  }
  atomic_fetch_add(&producers_done, 1);
}

static void stress_round(void) {
  uv_loop_t loop;
  uv_thread_t tids[PRODUCERS];
  future_t *settled_by[PRODUCERS][PER];
  future_t *mine[PRODUCERS][PER];
  int rc, k = 0, total = 0;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  atomic_store(&values_alive, 0);
  atomic_store(&producers_done, 0);
  for (int p = 0; p < PRODUCERS; p++) {
    for (int i = 0; i < PER; i++) {
      future_t *in[3];
      settled_by[p][i] = future_new_threadsafe(&loop, &producers[p].res[i]);
      ck_assert_ptr_nonnull(settled_by[p][i]);
      for (int j = 0; j < 3; j++)
        in[j] = future_resolved(&loop, value_new(j), value_free);
      ck_assert_int_eq(
          future_wait(future_all(&loop, in, 3), &producers[p].lists[i]), 0);
    }
    producers[p].ok = producers[p].cancelled = 0;
    producers[p].rejected = producers[p].other = 0;
  }
  /* Each producer waits on what the next one settles, through a step. */
  for (int p = 0; p < PRODUCERS; p++)
    for (int i = 0; i < PER; i++) {
      future_t *w = future_then(settled_by[(p + 1) % PRODUCERS][i], NULL,
                                NULL, NULL);
      mine[p][i] = future_ref(w);
      producers[p].wait_on[i] = w;
    }
  for (int p = 0; p < PRODUCERS; p++)
    ck_assert_int_eq(uv_thread_create(&tids[p], produce, &producers[p]), 0);

  /* Run the loop, cancelling every seventh wait on the way, until half
   * of the producers are done. */
  while (atomic_load(&producers_done) < PRODUCERS / 2) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (k < PRODUCERS * PER) {
      int p = k / PER, i = k % PER;
      if (k % 7 == 3)
        future_cancel(mine[p][i]);
      future_unref(mine[p][i]);
      k++;
    }
  }
  for (; k < PRODUCERS * PER; k++)
    future_unref(mine[k / PER][k % PER]);
  /* Tear down while the others still deliver, wait and release. */
  while ((rc = future_loop_close(&loop)) == UV_EBUSY)
    uv_sleep(0);
  ck_assert_int_eq(rc, 0);
  for (int p = 0; p < PRODUCERS; p++) {
    ck_assert_int_eq(uv_thread_join(&tids[p]), 0);
    ck_assert_int_eq(producers[p].other, 0);
    total += producers[p].ok + producers[p].cancelled + producers[p].rejected;
  }
  ck_assert_int_eq(total, PRODUCERS * PER);
  ck_assert_int_eq(atomic_load(&values_alive), 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(test_stress_producers_against_cancel_and_close) {
  stress_round();
  /* Again with every cross-thread wake-up delayed (debug build only). */
  setenv("FUTURE_DEBUG_RACE_US", "200", 1);
  stress_round();
  unsetenv("FUTURE_DEBUG_RACE_US");
}
END_TEST

Suite *make_stress_suite(void) {
  Suite *s = suite_create("stress");
  TCase *threads = tcase_create("Threads");
  tcase_set_timeout(threads, 120);
  tcase_add_test(threads, test_stress_producers_against_cancel_and_close);
  suite_add_tcase(s, threads);
  return s;
}
