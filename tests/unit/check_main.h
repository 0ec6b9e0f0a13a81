/* SPDX-License-Identifier: MIT */
/* check_main.h — the main() of every unit test runner: one Check suite per file. */
#ifndef CDNS_CHECK_MAIN_H
#define CDNS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define CDNS_TEST_MAIN(suite_fn)                                                                                       \
    int main(void)                                                                                                     \
    {                                                                                                                  \
        SRunner *sr = srunner_create(suite_fn());                                                                      \
        srunner_run_all(sr, CK_NORMAL);                                                                                \
        int failed = srunner_ntests_failed(sr);                                                                        \
        srunner_free(sr);                                                                                              \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                                              \
    }

#endif
