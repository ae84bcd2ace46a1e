/* Minimal TAP output for the C unit tests: RUN_TEST(test_x) prints "ok N - test_x" or "not ok N - test_x". */
#ifndef VC_TEST_TAP_H
#define VC_TEST_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

#define RUN_TEST(f)                                                                                          \
        do {                                                                                                 \
                int _r = f();                                                                                \
                printf("%s %d - %s\n", _r == 0 ? "ok" : "not ok", ++tap_n, #f);                              \
                fflush(stdout);                                                                              \
                if (_r != 0)                                                                                 \
                        tap_failed = 1;                                                                      \
        } while (0)

/* Print the plan; the exit status of the test program. */
#define TAP_DONE() (printf("1..%d\n", tap_n), tap_failed)

#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
                        return 1;                                                                            \
                }                                                                                            \
        } while (0)

#define CHECK_STREQ(a, b)                                                                                    \
        do {                                                                                                 \
                const char *_a = (a), *_b = (b);                                                             \
                if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                                       \
                        printf("# %s:%d: expected '%s', got '%s'\n", __FILE__, __LINE__, _b ? _b : "(null)", \
                               _a ? _a : "(null)");                                                          \
                        return 1;                                                                            \
                }                                                                                            \
        } while (0)

#endif
