/* sigv4_internal: what sigv4.c (signer, canonicaliser) and sigv4_verify.c (verifier) share.
 *
 * Private to those two files: not part of the public surface (that is sigv4.h), and no other
 * file may include it. It holds the caps in one table, the span and canonical-request entry
 * types, and the helpers the verifier borrows from sigv4.c so both sides canonicalise alike. */
#ifndef NOVA_SIGV4_INTERNAL_H
#define NOVA_SIGV4_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_MAX_HEADERS 64                     /* the caller's headers */
#define SIGV4_MAX_ENTRIES (SIGV4_MAX_HEADERS + 2) /* plus x-amz-date and the token */
#define SIGV4_MAX_NAME 256
#define SIGV4_MAX_VALUE 8192                     /* one header value, and the session token */
#define SIGV4_MAX_QUERY 16384                    /* raw query bytes */
#define SIGV4_MAX_PARAMS 256
#define SIGV4_MAX_CREQ (1024 * 1024)             /* 66 values of 8 KiB plus path and query */
#define SIGV4_MAX_STS 4096
#define SIGV4_MAX_SECRET 256
#define SIGV4_MAX_KEY_ID 128
#define SIGV4_MAX_AUTH 16384                     /* Authorization header the verifier parses */
#define SIGV4_SKEW 300                           /* seconds either way, as AWS allows */

struct sigv4_span {
    const char *p;
    size_t n;
};

/* One header going into the canonical request. */
struct sigv4_entry {
    struct sigv4_span name;  /* any case; written lower-cased */
    struct sigv4_span value;
    size_t order;            /* input position: duplicates are joined in the order received */
};

/* Writes a message into errstr (the caller's, errlen bytes); does nothing when errstr is NULL. */

/* ' ' or '\t'. */
bool sigv4_is_blank(char c);

/* RFC 9110 token characters: what a header name may hold. */
bool sigv4_is_tchar(unsigned char c);

/* Compares names as their lower-cased forms would compare, without making the copies. */
int sigv4_cmp_name(struct sigv4_span a, struct sigv4_span b);

/* Case-insensitive match of a span against a lower-case literal. */
bool sigv4_span_iis(struct sigv4_span s, const char *lower);

/* t as YYYYMMDDTHHMMSSZ into out[17]; -1 when t is out of range. */
int sigv4_format_date(time_t t, char out[17]);

/* Appends the canonical request to creq and the signed-header list to signed_names. Sorts e
 * in place; e's spans are borrowed, not kept. Returns 0, or -1 with errstr set. */
int sigv4_build_creq(struct buf *creq, struct buf *signed_names, const char *method,
                     const char *path, const char *query, struct sigv4_entry *e, size_t n,
                     const char *payload_hash, char *errstr, size_t errlen);

/* From a canonical request: appends the string to sign to sts and writes the hex signature
 * into sig_hex. Returns 0, or -1 with errstr set (secret too long, sts full). */
int sigv4_compute(const struct buf *creq, const char *amz_date, const char *region,
                  const char *service, const char *secret, struct buf *sts, char sig_hex[65],
                  char *errstr, size_t errlen);

#endif
