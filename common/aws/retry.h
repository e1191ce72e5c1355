/* retry: when a failed call goes again, and after how long. No I/O, no clock: the caller
 * passes the time and a random state, which is what makes the policy unit-testable.
 *
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): the delay before retry k (k = 0 for the second call) is uniform in
 * [0, min(cap, base * 2^k)], so many workers throttled at once do not come back in step. A call
 * goes again only when its error is retryable, none of its text has been shown (a restart
 * would repeat text the reader already has), attempts are left, and it would start before the
 * job's deadline. */
#ifndef NOVA_RETRY_H
#define NOVA_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct retry_policy {
    long max_attempts;  /* calls in all, the first included; >= 1 */
    long base_ms;       /* >= 1 */
    long cap_ms;        /* >= base_ms */
};

enum retry_verdict {
    RETRY_AGAIN,          /* *delay_ms is set */
    RETRY_NOT_RETRYABLE,  /* the error says another call would fail the same way */
    RETRY_SHOWN,          /* text already reached the reader */
    RETRY_EXHAUSTED,      /* max_attempts calls made */
    RETRY_DEADLINE,       /* the next call would start after the job's deadline */
};

/* The next random number of a xorshift64* generator; *state must not be 0 (retry_seed makes
 * one that is not). */
uint64_t retry_rand(uint64_t *state);
/* A non-zero state from x (any value; callers mix time, pid and the OS's randomness). */
uint64_t retry_seed(uint64_t x);

/* The delay before retry k (k >= 0), full jitter, in ms. */
long retry_delay_ms(const struct retry_policy *p, long k, uint64_t *rng);

/* Decides about a call that failed. attempts: calls made so far (>= 1); now_ms and
 * deadline_ms on the same clock (epoch ms). */
enum retry_verdict retry_decide(const struct retry_policy *p, bool retryable, bool shown,
                                long attempts, long long now_ms, long long deadline_ms,
                                uint64_t *rng, long *delay_ms);

/* A few words for logs and dead letters: "not retryable", "retries exhausted", ... */
const char *retry_verdict_name(enum retry_verdict v);

#endif
