/* retry: the retry policy for calls that fail before their first token (see retry.h). */
#include "aws/retry.h"

uint64_t retry_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint64_t retry_seed(uint64_t x)
{
    /* splitmix64's finaliser spreads similar seeds (pids, close times) apart. */
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x ? x : 0x9E3779B97F4A7C15ULL;
}

long retry_delay_ms(const struct retry_policy *p, long k, uint64_t *rng)
{
    long ceiling = p->base_ms;
    for (long i = 0; i < k && ceiling < p->cap_ms; i++)
        ceiling *= 2; /* stops at the cap: no overflow whatever k is */
    if (ceiling > p->cap_ms)
        ceiling = p->cap_ms;
    return (long)(retry_rand(rng) % (uint64_t)(ceiling + 1));
}

enum retry_verdict retry_decide(const struct retry_policy *p, bool retryable, bool shown,
                                long attempts, long long now_ms, long long deadline_ms,
                                uint64_t *rng, long *delay_ms)
{
    *delay_ms = 0;
    if (!retryable)
        return RETRY_NOT_RETRYABLE;
    if (shown)
        return RETRY_SHOWN;
    if (attempts >= p->max_attempts)
        return RETRY_EXHAUSTED;
    long d = retry_delay_ms(p, attempts - 1, rng);
    if (now_ms + d >= deadline_ms)
        return RETRY_DEADLINE;
    *delay_ms = d;
    return RETRY_AGAIN;
}

const char *retry_verdict_name(enum retry_verdict v)
{
    switch (v) {
    case RETRY_AGAIN: return "retrying";
    case RETRY_NOT_RETRYABLE: return "not retryable";
    case RETRY_SHOWN: return "text already shown";
    case RETRY_EXHAUSTED: return "retries exhausted";
    case RETRY_DEADLINE: return "deadline reached while retrying";
    }
    return "?";
}
