/* sigv4: AWS Signature Version 4 for HTTP requests (header form), signing and verifying.
 *
 * The signer URI-encodes the path it is given exactly once per segment for the canonical URI
 * (non-S3 rule). Bedrock puts model ids on the wire already encoded
 * ("/model/amazon.nova-micro-v1%3A0/converse-stream"), so its canonical URI is encoded twice
 * ("%253A"); AWS's test-suite requests give raw paths ("/example space/") and get one encoding.
 * Both are this one rule applied to the path as sent. No I/O; the only memory taken is a few
 * capped scratch bufs freed before return. HMAC-SHA256 / SHA-256 come from OpenSSL.
 *
 * Limits (sign: -1 with errstr; verify: SIGV4_MALFORMED): 64 caller headers, header values
 * and the session token 8 KiB each, raw query 16 KiB in at most 256 parameters, Authorization
 * 16 KiB, access key id 128 bytes, secret 256 bytes, canonical request 1 MiB. */
#ifndef NOVA_SIGV4_H
#define NOVA_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

struct sigv4_header {
    const char *name;  /* any case; canonicalised to lower case */
    const char *value; /* trimmed, inner runs of spaces collapsed in the canonical form */
};

struct sigv4_request {
    const char *method;                   /* "GET", "POST" */
    const char *path;                     /* as sent on the wire, without the query; "" = "/" */
    const char *query;                    /* raw query without '?', or NULL */
    const struct sigv4_header *headers;   /* headers to sign; must include "host" */
    size_t n_headers;
    const void *payload;                  /* body bytes (may be NULL when payload_len is 0) */
    size_t payload_len;
};

struct sigv4_params {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" for long-term keys; else signed as x-amz-security-token */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "bedrock" for bedrock-runtime and bedrock-agent-runtime */
    time_t when;               /* signing time, UTC seconds */
};

/* What the caller must add to the request it sends. */
struct sigv4_result {
    char amz_date[17];           /* X-Amz-Date: "20150830T123600Z" */
    char payload_hash[65];       /* hex SHA-256 of the payload */
    char authorization[1024];    /* Authorization header value */
};

/* Signs req. x-amz-date (from p->when) and, when p->session_token is set, x-amz-security-token
 * are added to the signed headers by the signer; the caller must send both (and must not list
 * them in req->headers: that is refused with -1). When creq / sts are non-NULL the canonical request and the string to
 * sign are appended to them (for tests and for debugging signature mismatches).
 * Returns 0, or -1 with a message in errstr (too many headers, a header too long). */
int sigv4_sign(const struct sigv4_params *p, const struct sigv4_request *req,
               struct sigv4_result *out, struct buf *creq, struct buf *sts, char *errstr,
               size_t errlen);

/* The verifier's view of a received request: all its headers, as received. */
enum sigv4_verdict {
    SIGV4_OK = 0,
    SIGV4_MISSING,         /* no Authorization / X-Amz-Date header: MissingAuthenticationToken */
    SIGV4_MALFORMED,       /* Authorization not parseable: IncompleteSignature */
    SIGV4_UNKNOWN_KEY,     /* access key id not known: UnrecognizedClient */
    SIGV4_EXPIRED,         /* X-Amz-Date more than 5 minutes from now: InvalidSignature "expired" */
    SIGV4_BAD_SCOPE,       /* region/service/date in the scope do not match: InvalidSignature */
    SIGV4_MISMATCH,        /* signature differs: InvalidSignature */
};

/* Looks up the secret for an access key id; returns NULL when the key is unknown. */
typedef const char *(*sigv4_secret_fn)(void *user, const char *access_key_id);

/* Verifies a request signed in header form. req->headers holds every received header (the
 * verifier picks those named in SignedHeaders); region and service are what the server expects.
 * now is the server's clock. On failure errstr gets an AWS-style message (for SIGV4_MISMATCH it
 * includes the canonical request and string to sign the server computed, as AWS does). */
enum sigv4_verdict sigv4_verify(const struct sigv4_request *req, const char *region,
                                const char *service, time_t now, sigv4_secret_fn secret,
                                void *user, char *errstr, size_t errlen);

/* "AWS error type" name for a verdict: "InvalidSignatureException", ... ("" for SIGV4_OK). */
const char *sigv4_verdict_error_type(enum sigv4_verdict v);

/* URI-encodes s (n bytes) per SigV4: unreserved A-Z a-z 0-9 - . _ ~ kept, everything else %XX
 * upper-case; '/' kept when keep_slash. Appends to out; returns 0 or -1 (out full). */
int sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash);

/* Lower-case hex SHA-256 of data into hex[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
