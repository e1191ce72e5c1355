/* Unit tests for workers/handoff_send.c: the signature (RFC 4231's HMAC-SHA256 vectors, so
 * the header is what any receiver's HMAC library computes), what an answer means, and the
 * retry wait (capped doubling with equal jitter). */
#include "workers/handoff_send.h"

#include <string.h>

#include "test.h"

static void test_sign_rfc4231(void)
{
    char sig[HANDOFF_SIG_LEN + 1];
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    const char *data = "what do ya want for nothing?";
    CHECK(handoff_sign("Jefe", data, strlen(data), sig) == 0);
    CHECK_STR_EQ(sig,
                 "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(strlen(sig) == HANDOFF_SIG_LEN);
    /* the exact bytes: one more byte is another signature */
    char other[HANDOFF_SIG_LEN + 1];
    CHECK(handoff_sign("Jefe", data, strlen(data) - 1, other) == 0);
    CHECK(strcmp(sig, other) != 0);
    /* a body with a NUL inside is signed whole (the length, not strlen) */
    static const char nul[] = {'{', '\0', '}'};
    char a[HANDOFF_SIG_LEN + 1], b[HANDOFF_SIG_LEN + 1];
    CHECK(handoff_sign("k", nul, 3, a) == 0 && handoff_sign("k", nul, 1, b) == 0);
    CHECK(strcmp(a, b) != 0);
}

static void test_classify(void)
{
    CHECK(handoff_classify(CURLE_OK, 200) == HANDOFF_DELIVERED);
    CHECK(handoff_classify(CURLE_OK, 202) == HANDOFF_DELIVERED);
    CHECK(handoff_classify(CURLE_OK, 204) == HANDOFF_DELIVERED);
    CHECK(handoff_classify(CURLE_OK, 500) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_OK, 503) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_OK, 429) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_OK, 408) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_COULDNT_CONNECT, 0) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_OPERATION_TIMEDOUT, 0) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_COULDNT_RESOLVE_HOST, 0) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_GOT_NOTHING, 0) == HANDOFF_RETRY);
    CHECK(handoff_classify(CURLE_OK, 400) == HANDOFF_REJECTED);
    CHECK(handoff_classify(CURLE_OK, 401) == HANDOFF_REJECTED);
    CHECK(handoff_classify(CURLE_OK, 404) == HANDOFF_REJECTED);
    CHECK(handoff_classify(CURLE_OK, 302) == HANDOFF_REJECTED);
    CHECK(handoff_classify(CURLE_URL_MALFORMAT, 0) == HANDOFF_REJECTED);
    CHECK(handoff_classify(CURLE_UNSUPPORTED_PROTOCOL, 0) == HANDOFF_REJECTED);
    CHECK_STR_EQ(handoff_outcome_name(HANDOFF_RETRY), "retry");
}

static void test_retry_wait(void)
{
    /* the ceiling doubles from base to cap: 100, 200, 400, 800, 1000, 1000 */
    static const long ceiling[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int a = 1; a <= 7; a++) {
        long d = ceiling[a - 1];
        CHECK(handoff_retry_wait_ms(100, 1000, a, 0) == d - d / 2); /* never under half */
        CHECK(handoff_retry_wait_ms(100, 1000, a, (uint32_t)(d / 2)) == d); /* at most d */
        for (uint32_t r = 0; r < 5000; r += 37) {
            long w = handoff_retry_wait_ms(100, 1000, a, r * 2654435761u);
            CHECK(w >= d - d / 2 && w <= d);
        }
    }
    /* jitter: different draws spread the waits */
    long lo = handoff_retry_wait_ms(1000, 60000, 4, 1), hi = handoff_retry_wait_ms(1000, 60000, 4, 3999);
    CHECK(lo != hi);
    /* a huge attempt number stays at the cap, no overflow */
    CHECK(handoff_retry_wait_ms(1000, 60000, 1000, 0xffffffffu) <= 60000);
    CHECK(handoff_retry_wait_ms(1, 1, 1, 7) == 1);
}

int main(void)
{
    RUN(test_sign_rfc4231);
    RUN(test_classify);
    RUN(test_retry_wait);
    return test_summary();
}
