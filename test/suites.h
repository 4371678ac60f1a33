/* The Check suites of the test runner, one per area of the library. */
#ifndef FUTURE_TEST_SUITES_H
#define FUTURE_TEST_SUITES_H

#include <check.h>

Suite *make_alloc_suite(void);
Suite *make_aplus_suite(void);
Suite *make_cancel_suite(void);
Suite *make_chain_suite(void);
Suite *make_combine_suite(void);
Suite *make_debug_suite(void);
Suite *make_dns_suite(void);
Suite *make_error_suite(void);
Suite *make_fs_suite(void);
Suite *make_fs_file_suite(void);
Suite *make_fs_tree_suite(void);
Suite *make_fs_copy_suite(void);
Suite *make_future_suite(void);
Suite *make_loop_suite(void);
Suite *make_map_suite(void);
Suite *make_pipeline_suite(void);
Suite *make_resolver_suite(void);
Suite *make_retry_suite(void);
Suite *make_signal_suite(void);
Suite *make_stress_suite(void);
Suite *make_timer_suite(void);
Suite *make_trace_suite(void);
Suite *make_async_suite(void);

/* What the runner does when re-executed with FUTURE_TEST_FRESH=mode, in a
 * process in which the library has not run yet (check_trace.c): prints
 * what it saw on stdout; the exit status is 0 when the mode is known. */
int fresh_process_main(const char *mode);
Suite *make_wait_suite(void);
Suite *make_work_suite(void);
Suite *make_watch_suite(void);
Suite *make_process_suite(void);
Suite *make_udp_suite(void);
Suite *make_stream_suite(void);

#endif
