/* check_run.h: every Check test program's main runs its suite the same
 * way: all tests (forked, so a crash fails one test, not the run), the
 * summary on stdout, and an exit status for ctest. */
#ifndef CNNC_TEST_CHECK_RUN_H
#define CNNC_TEST_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Runs suite s and frees it; EXIT_FAILURE if any test failed. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
