/* The test runner: every suite, one process per test (Check's fork mode,
 * unless CK_FORK=no as under valgrind). */
#include "suites.h"

#include <stdlib.h>

int main(void) {
  SRunner *sr;
  int failed;
  /* A test that needs a process in which the library has never run
   * re-executes this program with FUTURE_TEST_FRESH set. */
  if (getenv("FUTURE_TEST_FRESH") != NULL)
    return fresh_process_main(getenv("FUTURE_TEST_FRESH"));
  sr = srunner_create(make_future_suite());
  srunner_add_suite(sr, make_error_suite());
  srunner_add_suite(sr, make_chain_suite());
  srunner_add_suite(sr, make_pipeline_suite());
  srunner_add_suite(sr, make_wait_suite());
  srunner_add_suite(sr, make_loop_suite());
  srunner_add_suite(sr, make_cancel_suite());
  srunner_add_suite(sr, make_timer_suite());
  srunner_add_suite(sr, make_work_suite());
  srunner_add_suite(sr, make_fs_suite());
  srunner_add_suite(sr, make_fs_file_suite());
  srunner_add_suite(sr, make_fs_tree_suite());
  srunner_add_suite(sr, make_fs_copy_suite());
  srunner_add_suite(sr, make_dns_suite());
  srunner_add_suite(sr, make_signal_suite());
  srunner_add_suite(sr, make_watch_suite());
  srunner_add_suite(sr, make_process_suite());
  srunner_add_suite(sr, make_udp_suite());
  srunner_add_suite(sr, make_stream_suite());
  srunner_add_suite(sr, make_resolver_suite());
  srunner_add_suite(sr, make_combine_suite());
  srunner_add_suite(sr, make_map_suite());
  srunner_add_suite(sr, make_retry_suite());
  srunner_add_suite(sr, make_async_suite());
  srunner_add_suite(sr, make_aplus_suite());
  srunner_add_suite(sr, make_alloc_suite());
  srunner_add_suite(sr, make_trace_suite());
  srunner_add_suite(sr, make_debug_suite());
  srunner_add_suite(sr, make_stress_suite());
  srunner_run_all(sr, CK_ENV);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
