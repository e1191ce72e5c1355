/* handoff_send: signature, outcome and retry wait of a handoff delivery (see handoff_send.h). */
#include "handoff_send.h"

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/backoff.h"

int handoff_sign(const char *secret, const char *body, size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    out[0] = '\0';
    size_t klen = 0;
    while (secret[klen])
        klen++;
    if (!HMAC(EVP_sha256(), secret, (int)klen, (const unsigned char *)body, len, mac, &mlen) ||
        mlen != 32)
        return -1;
    static const char hex[] = "0123456789abcdef";
    char *p = out + snprintf(out, HANDOFF_SIG_LEN + 1, "sha256=");
    for (unsigned i = 0; i < mlen; i++) {
        *p++ = hex[mac[i] >> 4];
        *p++ = hex[mac[i] & 15];
    }
    *p = '\0';
    return 0;
}

enum handoff_outcome handoff_classify(CURLcode rc, long status)
{
    switch (rc) {
    case CURLE_OK: break;
    /* The request can never work as configured: no retry helps. */
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_TOO_MANY_REDIRECTS: return HANDOFF_REJECTED;
    /* DNS, connect, TLS handshake, timeout, a reset, an empty reply: the receiver may be
     * back soon. */
    default: return HANDOFF_RETRY;
    }
    if (status >= 200 && status <= 299)
        return HANDOFF_DELIVERED;
    if (status >= 500 || status == 429 || status == 408 || status < 200)
        return HANDOFF_RETRY;
    return HANDOFF_REJECTED;
}

const char *handoff_outcome_name(enum handoff_outcome o)
{
    switch (o) {
    case HANDOFF_DELIVERED: return "delivered";
    case HANDOFF_RETRY: return "retry";
    case HANDOFF_REJECTED: return "rejected";
    }
    return "?";
}

long handoff_retry_wait_ms(long base_ms, long cap_ms, int attempt, uint32_t rnd)
{
    long d = backoff_after(base_ms, cap_ms, attempt < 1 ? 1 : attempt);
    long half = d / 2;
    return d - half + (long)(rnd % (uint32_t)(half + 1));
}
