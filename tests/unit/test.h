/* test.h: the project's smallest test harness.
 *
 * A test is a function; CHECK records a failed expectation with file:line and goes on. Each test
 * prints "ok <name>" or "FAIL <name>", and test_summary() prints the closing "N passed, N failed"
 * line that tests/run sums across all suites. */
#ifndef NOVA_TEST_H
#define NOVA_TEST_H

#include <stdio.h>
#include <string.h>

static int test_npassed, test_nfailed, test_cur_failures;
static const char *test_cur_name;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            test_cur_failures++;                                                             \
            fprintf(stderr, "  %s:%d: %s: check failed: %s\n", __FILE__, __LINE__,           \
                    test_cur_name ? test_cur_name : "?", #cond);                             \
        }                                                                                    \
    } while (0)

#define CHECK_STR_EQ(got, want)                                                              \
    do {                                                                                     \
        const char *g_ = (got), *w_ = (want);                                                \
        if (!g_ || !w_ || strcmp(g_, w_) != 0) {                                             \
            test_cur_failures++;                                                             \
            fprintf(stderr, "  %s:%d: %s: %s\n    got:  [%s]\n    want: [%s]\n", __FILE__,   \
                    __LINE__, test_cur_name ? test_cur_name : "?", #got, g_ ? g_ : "(null)", \
                    w_ ? w_ : "(null)");                                                     \
        }                                                                                    \
    } while (0)

static inline void test_begin(const char *name)
{
    test_cur_name = name;
    test_cur_failures = 0;
}

static inline void test_end(void)
{
    if (test_cur_failures) {
        test_nfailed++;
        printf("FAIL %s\n", test_cur_name);
    } else {
        test_npassed++;
        printf("ok   %s\n", test_cur_name);
    }
    fflush(stdout);
    test_cur_name = NULL;
}

#define RUN(fn)            \
    do {                   \
        test_begin(#fn);   \
        fn();              \
        test_end();        \
    } while (0)

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_npassed, test_nfailed);
    return test_nfailed ? 1 : 0;
}

#endif
