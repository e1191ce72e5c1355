/* Unit tests for common/aws/retry.c: the backoff's bounds and spread, and each verdict. */
#include "aws/retry.h"

#include "test.h"

static const struct retry_policy pol = {4, 200, 5000};

static void test_delay_stays_in_its_window(void)
{
    uint64_t rng = retry_seed(42);
    for (long k = 0; k < 12; k++) {
        long ceiling = 200L << k;
        if (ceiling > 5000)
            ceiling = 5000;
        long lo = ceiling, hi = 0;
        for (int i = 0; i < 2000; i++) {
            long d = retry_delay_ms(&pol, k, &rng);
            CHECK(d >= 0 && d <= ceiling);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* full jitter: the whole window is used, not just its top */
        CHECK(lo < ceiling / 10);
        CHECK(hi > ceiling - ceiling / 10);
    }
    /* a huge k neither overflows nor passes the cap */
    for (int i = 0; i < 100; i++)
        CHECK(retry_delay_ms(&pol, 1000000, &rng) <= 5000);
}

static void test_delay_mean_is_half_the_window(void)
{
    uint64_t rng = retry_seed(7);
    double sum = 0;
    enum { N = 20000 };
    for (int i = 0; i < N; i++)
        sum += (double)retry_delay_ms(&pol, 1, &rng); /* window [0, 400] */
    double mean = sum / N;
    CHECK(mean > 190 && mean < 210);
}

static void test_seeds_differ(void)
{
    uint64_t a = retry_seed(1000), b = retry_seed(1001);
    CHECK(a != b && a != 0 && b != 0);
    CHECK(retry_seed(0) != 0);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += retry_rand(&a) == retry_rand(&b);
    CHECK(same == 0);
}

static void test_verdicts(void)
{
    uint64_t rng = retry_seed(3);
    long d = -1;
    long long now = 1000000, far = now + 600000;
    CHECK(retry_decide(&pol, true, false, 1, now, far, &rng, &d) == RETRY_AGAIN);
    CHECK(d >= 0 && d <= 200);
    CHECK(retry_decide(&pol, true, false, 3, now, far, &rng, &d) == RETRY_AGAIN);
    CHECK(d >= 0 && d <= 800);
    CHECK(retry_decide(&pol, true, false, 4, now, far, &rng, &d) == RETRY_EXHAUSTED);
    CHECK(d == 0);
    CHECK(retry_decide(&pol, false, false, 1, now, far, &rng, &d) == RETRY_NOT_RETRYABLE);
    CHECK(retry_decide(&pol, true, true, 1, now, far, &rng, &d) == RETRY_SHOWN);
    /* the next call would start at or after the deadline */
    CHECK(retry_decide(&pol, true, false, 1, now, now, &rng, &d) == RETRY_DEADLINE);
    struct retry_policy one = {1, 200, 5000};
    CHECK(retry_decide(&one, true, false, 1, now, far, &rng, &d) == RETRY_EXHAUSTED);
    /* a deadline a little ahead: some delays fit, longer ones do not */
    int again = 0, late = 0;
    for (int i = 0; i < 1000; i++) {
        enum retry_verdict v = retry_decide(&pol, true, false, 3, now, now + 400, &rng, &d);
        again += v == RETRY_AGAIN;
        late += v == RETRY_DEADLINE;
        if (v == RETRY_AGAIN)
            CHECK(now + d < now + 400);
    }
    CHECK(again > 300 && late > 300);
    CHECK_STR_EQ(retry_verdict_name(RETRY_EXHAUSTED), "retries exhausted");
}

int main(void)
{
    RUN(test_delay_stays_in_its_window);
    RUN(test_delay_mean_is_half_the_window);
    RUN(test_seeds_differ);
    RUN(test_verdicts);
    return test_summary();
}
