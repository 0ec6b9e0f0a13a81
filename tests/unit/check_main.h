/* SPDX-License-Identifier: MIT */
/* check_main.h — the main() of every unit test runner: one Check suite per file. */
#ifndef CDNS_CHECK_MAIN_H
#define CDNS_CHECK_MAIN_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

/* The randomised tests' generator (xorshift64): the same seed gives the same run. */
static inline uint32_t cdns_test_rnd(uint64_t *state, uint32_t n)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state % n);
}

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
