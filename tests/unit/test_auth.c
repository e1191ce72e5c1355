/* test_auth: fcgi-app/auth.c — the optional API key, both headers, the Bearer scheme. */
#include <string.h>

#include "../../fcgi-app/auth.h"
#include "test.h"

#define KEY "k3y-0123456789abcdef"

static void test_no_key_lets_everything_in(void)
{
    CHECK(auth_allows("", NULL, NULL));
    CHECK(auth_allows("", "Bearer nonsense", "x"));
}

static void test_bearer(void)
{
    CHECK(auth_allows(KEY, "Bearer " KEY, NULL));
    CHECK(auth_allows(KEY, "bearer " KEY, NULL));
    CHECK(auth_allows(KEY, "BEARER   " KEY "  ", NULL));
    CHECK(auth_allows(KEY, "Bearer\t" KEY, NULL));
    CHECK(!auth_allows(KEY, KEY, NULL));                 /* no scheme */
    CHECK(!auth_allows(KEY, "Basic " KEY, NULL));
    CHECK(!auth_allows(KEY, "Bearer" KEY, NULL));        /* no blank */
    CHECK(!auth_allows(KEY, "Bearer " KEY "x", NULL));   /* longer */
    CHECK(!auth_allows(KEY, "Bearer k3y-0123456789abcde", NULL)); /* a prefix */
    CHECK(!auth_allows(KEY, "Bearer ", NULL));
    CHECK(!auth_allows(KEY, "", NULL));
    CHECK(!auth_allows(KEY, NULL, NULL));
}

static void test_x_api_key(void)
{
    CHECK(auth_allows(KEY, NULL, KEY));
    CHECK(auth_allows(KEY, NULL, " " KEY " "));
    CHECK(!auth_allows(KEY, NULL, "K3Y-0123456789ABCDEF")); /* keys are case-sensitive */
    CHECK(!auth_allows(KEY, NULL, ""));
    /* Either header may carry it; a wrong one beside the right one does not matter. */
    CHECK(auth_allows(KEY, "Bearer wrong", KEY));
    CHECK(auth_allows(KEY, "Bearer " KEY, "wrong"));
}

static void test_overlong_values(void)
{
    static char big[5000];
    memset(big, 'a', sizeof big - 1);
    CHECK(!auth_allows(KEY, big, big));
    memcpy(big, "Bearer ", 7);
    CHECK(!auth_allows(KEY, big, NULL));
}

int main(void)
{
    RUN(test_no_key_lets_everything_in);
    RUN(test_bearer);
    RUN(test_x_api_key);
    RUN(test_overlong_values);
    return test_summary();
}
