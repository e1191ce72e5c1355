/* Unit tests for fcgi-app/price.c: the price table and the cost of a usage. */
#include "../../fcgi-app/price.h"

#include <math.h>

#include "test.h"

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

static void test_micro_and_pro_prices(void)
{
    struct bedrock_usage u = {.input_tokens = 1000000};
    CHECK(near(price_cost_usd("micro", &u), 0.035));
    CHECK(near(price_cost_usd("pro", &u), 0.80));
    u = (struct bedrock_usage){.output_tokens = 1000000};
    CHECK(near(price_cost_usd("micro", &u), 0.14));
    CHECK(near(price_cost_usd("pro", &u), 3.20));
}

static void test_cache_tokens(void)
{
    /* Cache reads at a quarter of the input price; cache writes at the input price. */
    struct bedrock_usage u = {.cache_read_tokens = 1000000};
    CHECK(near(price_cost_usd("micro", &u), 0.035 * 0.25));
    CHECK(near(price_cost_usd("pro", &u), 0.20));
    u = (struct bedrock_usage){.cache_write_tokens = 1000000};
    CHECK(near(price_cost_usd("pro", &u), 0.80));
}

static void test_a_typical_answer(void)
{
    /* 1200 input (800 of them read from the cache), 300 output on Pro. */
    struct bedrock_usage u = {.input_tokens = 400, .cache_read_tokens = 800,
                              .output_tokens = 300};
    double want = (400 * 0.80 + 800 * 0.20 + 300 * 3.20) / 1e6;
    CHECK(near(price_cost_usd("pro", &u), want));
    struct bedrock_usage zero = {0};
    CHECK(price_cost_usd("micro", &zero) == 0);
    CHECK(price_cost_usd("unknown", &u) == 0);
}

int main(void)
{
    RUN(test_micro_and_pro_prices);
    RUN(test_cache_tokens);
    RUN(test_a_typical_answer);
    return test_summary();
}
