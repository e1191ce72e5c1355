/* Unit tests for common/product/price.c: the price table file and the cost of a usage. */
#include "product/price.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "test.h"

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

static struct price_table shipped;

static void test_shipped_table(void)
{
    char err[256] = "";
    CHECK(price_table_load("config/prices.json", &shipped, err, sizeof err) == 0);
    CHECK_STR_EQ(err, "");
    CHECK(shipped.n_models == 2);
    CHECK_STR_EQ(shipped.currency, "USD");
}

static void test_micro_and_pro_prices(void)
{
    /* The prices: Micro $0.000035 / $0.00014, Pro $0.0008 / $0.0032 per 1K. */
    struct token_usage u = {.input_tokens = 1000};
    CHECK(near(price_cost(&shipped, "micro", &u), 0.000035));
    CHECK(near(price_cost(&shipped, "pro", &u), 0.0008));
    u = (struct token_usage){.output_tokens = 1000};
    CHECK(near(price_cost(&shipped, "micro", &u), 0.00014));
    CHECK(near(price_cost(&shipped, "pro", &u), 0.0032));
}

static void test_cache_tokens(void)
{
    /* Cache reads at a quarter of the input price; cache writes at the input price. */
    struct token_usage u = {.cache_read_tokens = 1000000};
    CHECK(near(price_cost(&shipped, "micro", &u), 0.035 * 0.25));
    CHECK(near(price_cost(&shipped, "pro", &u), 0.20));
    u = (struct token_usage){.cache_write_tokens = 1000000};
    CHECK(near(price_cost(&shipped, "pro", &u), 0.80));
}

static void test_a_typical_answer(void)
{
    /* 1200 input (800 of them read from the cache), 300 output on Pro. */
    struct token_usage u = {.input_tokens = 400, .cache_read_tokens = 800,
                              .output_tokens = 300};
    double want = (400 * 0.80 + 800 * 0.20 + 300 * 3.20) / 1e6;
    CHECK(near(price_cost(&shipped, "pro", &u), want));
    struct token_usage zero = {0};
    CHECK(price_cost(&shipped, "micro", &zero) == 0);
    CHECK(price_cost(&shipped, "unknown", &u) == 0);
}

static void test_defaults_and_per_million(void)
{
    const char *j = "{\"per\":1000000,\"models\":{\"m\":{\"input\":2,\"output\":8}}}";
    struct price_table t;
    char err[256];
    CHECK(price_table_parse(j, strlen(j), &t, err, sizeof err) == 0);
    struct token_usage u = {.cache_read_tokens = 1000000, .cache_write_tokens = 1000000};
    CHECK(near(price_cost(&t, "m", &u), 0.5 + 2));
    CHECK_STR_EQ(t.currency, "USD");
}

static void test_bad_tables(void)
{
    static const char *const bad[] = {
        "", "[]", "{}", "{\"models\":{}}", "{\"models\":[]}",
        "{\"models\":{\"m\":{\"input\":1}}}",
        "{\"models\":{\"m\":{\"input\":-1,\"output\":1}}}",
        "{\"models\":{\"m\":{\"input\":\"1\",\"output\":1}}}",
        "{\"models\":{\"m\":{\"input\":1,\"output\":1,\"cache_read\":null}}}",
        "{\"per\":7,\"models\":{\"m\":{\"input\":1,\"output\":1}}}",
        "{\"currency\":\"DOLLARS!!\",\"models\":{\"m\":{\"input\":1,\"output\":1}}}",
        "{\"models\":{\"m\":{\"input\":1,\"output\":1}}} x",
        "{\"models\":{\"\":{\"input\":1,\"output\":1}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct price_table t;
        char err[256] = "";
        CHECK(price_table_parse(bad[i], strlen(bad[i]), &t, err, sizeof err) < 0);
        CHECK(err[0] != '\0');
    }
    char err[256];
    struct price_table t;
    CHECK(price_table_load("/nonexistent/prices.json", &t, err, sizeof err) < 0);
    CHECK(strstr(err, "/nonexistent/prices.json") != NULL);
}

static void test_format(void)
{
    char s[32];
    price_format(0.000123, s, sizeof s);
    CHECK_STR_EQ(s, "0.000123");
    price_format(0, s, sizeof s);
    CHECK_STR_EQ(s, "0");
    price_format(1.5, s, sizeof s);
    CHECK_STR_EQ(s, "1.5");
}

int main(void)
{
    RUN(test_shipped_table);
    RUN(test_micro_and_pro_prices);
    RUN(test_cache_tokens);
    RUN(test_a_typical_answer);
    RUN(test_defaults_and_per_million);
    RUN(test_bad_tables);
    RUN(test_format);
    return test_summary();
}
