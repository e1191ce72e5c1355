/* handoff_send: the rules of one handoff delivery, without I/O — the signature of its body,
 * what an HTTP answer (or a transport error) means, and how long to wait before the next try.
 * workers/handoff.c does the POSTs and the waiting; tests/unit/test_handoff_send.c checks
 * these rules alone.
 *
 *   X-Nova-Signature: sha256=<64 lowercase hex digits>
 *
 * is HMAC-SHA256 (OpenSSL) of the exact body bytes with NOVA_HANDOFF_SECRET as the key: the
 * receiver computes the same over the bytes it got and compares in constant time. */
#ifndef NOVA_HANDOFF_SEND_H
#define NOVA_HANDOFF_SEND_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#define HANDOFF_SIG_HEADER "X-Nova-Signature"
#define HANDOFF_SIG_LEN (7 + 64) /* "sha256=" and the hex digest */

/* out (HANDOFF_SIG_LEN + 1 bytes) gets "sha256=<hex>" of body[0..len) keyed by secret.
 * Returns 0, or -1 when OpenSSL failed (out is then ""). */
int handoff_sign(const char *secret, const char *body, size_t len, char *out);

/* What one try came to. */
enum handoff_outcome {
    HANDOFF_DELIVERED, /* a 2xx: the receiver has it */
    HANDOFF_RETRY,     /* worth another try: no connection, a timeout, 5xx, 429, 408 */
    HANDOFF_REJECTED,  /* the receiver refused it for good (another 4xx, a 3xx, a bad URL):
                          trying again sends the same bytes to the same answer */
};
/* The outcome of a transfer that ended with rc and, when rc is CURLE_OK, HTTP status. */
enum handoff_outcome handoff_classify(CURLcode rc, long status);
const char *handoff_outcome_name(enum handoff_outcome o);

/* The wait before try attempt + 1, after attempt (>= 1) failed tries in a row: capped
 * doubling from base_ms (core/backoff.h) with "equal jitter" — half of it fixed, half drawn
 * from rnd — so many handoffs failing together do not come back together, and none comes
 * back at once. In [d/2, d] for d = min(cap_ms, base_ms * 2^(attempt-1)). */
long handoff_retry_wait_ms(long base_ms, long cap_ms, int attempt, uint32_t rnd);

#endif
