/* sigv4_verify: AWS Signature Version 4, header form: the verifier (see sigv4.h). Parses the
 * Authorization header, checks the credential scope and the clock, rebuilds the canonical
 * request with the signer's canonicaliser (sigv4.c, via sigv4_internal.h) and compares
 * signatures; also maps verdicts to AWS error types. The verifier reads bytes from the
 * network: every length it uses is measured against a cap first. */
#include "aws/sigv4.h"
#include "aws/sigv4_internal.h"
#include "core/errstr.h"
#include "core/log.h"

#include <string.h>

#include <openssl/crypto.h>

static const char sigv4_mismatch_msg[] =
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details.";

/* The three parts of an Authorization header the verifier needs. */
struct sigv4_auth {
    struct sigv4_span credential, signed_headers, signature;
};

static bool sigv4_span_is(struct sigv4_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Splits s on sep into at most max parts; returns the count, or max + 1 when there are more. */
static size_t sigv4_split(struct sigv4_span s, char sep, struct sigv4_span *parts, size_t max)
{
    size_t n = 0;
    const char *p = s.p, *end = s.p + s.n;
    for (;;) {
        const char *q = memchr(p, sep, (size_t)(end - p));
        if (n == max)
            return max + 1;
        parts[n].p = p;
        parts[n].n = (size_t)((q ? q : end) - p);
        n++;
        if (!q)
            return n;
        p = q + 1;
    }
}

static int sigv4_parse_num(const char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

/* Parses YYYYMMDDTHHMMSSZ strictly (no normalising of 20150230 into March). */
static int sigv4_parse_date(struct sigv4_span s, time_t *out)
{
    static const char shape[] = "ddddddddTddddddZ";
    if (s.n != 16)
        return -1;
    for (size_t i = 0; i < 16; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (shape[i] == 'd' ? !(c >= '0' && c <= '9') : c != (unsigned char)shape[i])
            return -1;
    }
#define SIGV4_NUM(at, n) sigv4_parse_num(s.p + (at), (n))
    struct tm tm = {0};
    tm.tm_year = SIGV4_NUM(0, 4) - 1900;
    tm.tm_mon = SIGV4_NUM(4, 2) - 1;
    tm.tm_mday = SIGV4_NUM(6, 2);
    tm.tm_hour = SIGV4_NUM(9, 2);
    tm.tm_min = SIGV4_NUM(11, 2);
    tm.tm_sec = SIGV4_NUM(13, 2);
#undef SIGV4_NUM
    struct tm want = tm, back;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_year != want.tm_year ||
        back.tm_mon != want.tm_mon || back.tm_mday != want.tm_mday ||
        back.tm_hour != want.tm_hour || back.tm_min != want.tm_min || back.tm_sec != want.tm_sec)
        return -1;
    *out = t;
    return 0;
}

/* The first received header named lower (any case); *count gets how many carry that name. */
static const struct sigv4_header *sigv4_find_header(const struct sigv4_request *req,
                                                    const char *lower, size_t *count)
{
    const struct sigv4_header *first = NULL;
    *count = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct sigv4_header *h = &req->headers[i];
        if (h->name && h->value && sigv4_span_iis((struct sigv4_span){h->name, strlen(h->name)},
                                                  lower)) {
            if (!first)
                first = h;
            (*count)++;
        }
    }
    return first;
}

/* Splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." (blanks after the
 * commas optional) into its three values. */
static int sigv4_parse_auth(const char *value, struct sigv4_auth *a, char *errstr, size_t errlen)
{
    size_t len = strnlen(value, SIGV4_MAX_AUTH + 1);
    if (len > SIGV4_MAX_AUTH) {
        errstr_set(errstr, errlen, "Authorization header longer than %d bytes",
                      SIGV4_MAX_AUTH);
        return -1;
    }
    const size_t alg = sizeof SIGV4_ALGORITHM - 1;
    const char *p = value, *end = value + len;
    while (p < end && sigv4_is_blank(*p))
        p++;
    if ((size_t)(end - p) < alg || memcmp(p, SIGV4_ALGORITHM, alg) != 0 ||
        (p + alg < end && !sigv4_is_blank(p[alg]))) {
        errstr_set(errstr, errlen, "Unsupported Authorization Type: expected "
                                      SIGV4_ALGORITHM);
        return -1;
    }
    memset(a, 0, sizeof *a);
    for (p += alg; p < end;) {
        while (p < end && sigv4_is_blank(*p))
            p++;
        if (p == end)
            break;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (!comma)
            comma = end;
        const char *eq = memchr(p, '=', (size_t)(comma - p));
        if (!eq) {
            errstr_set(errstr, errlen, "Authorization header component without '=': '%.*s'",
                          (int)(comma - p < 64 ? comma - p : 64), p);
            return -1;
        }
        struct sigv4_span key = {p, (size_t)(eq - p)}, val = {eq + 1, (size_t)(comma - eq - 1)};
        while (key.n && sigv4_is_blank(key.p[key.n - 1]))
            key.n--;
        while (val.n && sigv4_is_blank(*val.p))
            val.p++, val.n--;
        while (val.n && sigv4_is_blank(val.p[val.n - 1]))
            val.n--;
        struct sigv4_span *slot = sigv4_span_is(key, "Credential")      ? &a->credential
                                  : sigv4_span_is(key, "SignedHeaders") ? &a->signed_headers
                                  : sigv4_span_is(key, "Signature")     ? &a->signature
                                                                        : NULL;
        if (!slot || slot->p) {
            errstr_set(errstr, errlen, "Authorization header has an unknown or repeated "
                                          "component '%.*s'", (int)(key.n < 64 ? key.n : 64),
                          key.p);
            return -1;
        }
        *slot = val;
        if (comma == end)
            break;
        p = comma + 1;
    }
    const char *missing = !a->credential.n       ? "Credential"
                          : !a->signed_headers.n ? "SignedHeaders"
                          : !a->signature.n      ? "Signature"
                                                 : NULL;
    if (missing) {
        errstr_set(errstr, errlen, "Authorization header requires '%s' parameter. "
                      "Authorization=%.*s", missing, (int)(len < 256 ? len : 256), value);
        return -1;
    }
    return 0;
}

/* Checks the credential scope against X-Amz-Date and what this server is; copies the access
 * key id out for the secret lookup. */
static enum sigv4_verdict sigv4_check_scope(struct sigv4_span credential,
                                            struct sigv4_span amz_date, const char *region,
                                            const char *service,
                                            char key_id[SIGV4_MAX_KEY_ID + 1], char *errstr,
                                            size_t errlen)
{
    struct sigv4_span c[5];
    if (sigv4_split(credential, '/', c, 5) != 5 || c[0].n == 0 || c[0].n > SIGV4_MAX_KEY_ID) {
        errstr_set(errstr, errlen, "Credential must have the form "
                                      "<key id>/<YYYYMMDD>/<region>/<service>/aws4_request");
        return SIGV4_MALFORMED;
    }
#define SIGV4_SHOWN(s) (int)((s).n < 64 ? (s).n : 64), (s).p
    if (c[1].n != 8 || memcmp(c[1].p, amz_date.p, 8) != 0) {
        errstr_set(errstr, errlen, "Date in Credential scope does not match YYYYMMDD from "
                      "ISO-8601 version of date from HTTP: '%.*s' != '%.8s', from 'X-Amz-Date'.",
                      SIGV4_SHOWN(c[1]), amz_date.p);
        return SIGV4_BAD_SCOPE;
    }
    if (!sigv4_span_is(c[2], region)) {
        errstr_set(errstr, errlen, "Credential should be scoped to a valid region, not "
                      "'%.*s'.", SIGV4_SHOWN(c[2]));
        return SIGV4_BAD_SCOPE;
    }
    if (!sigv4_span_is(c[3], service)) {
        errstr_set(errstr, errlen, "Credential should be scoped to correct service: '%s'.",
                      service);
        return SIGV4_BAD_SCOPE;
    }
    if (!sigv4_span_is(c[4], "aws4_request")) {
        errstr_set(errstr, errlen, "Credential should be scoped with a valid terminator: "
                      "'aws4_request', not '%.*s'.", SIGV4_SHOWN(c[4]));
        return SIGV4_BAD_SCOPE;
    }
#undef SIGV4_SHOWN
    memcpy(key_id, c[0].p, c[0].n);
    key_id[c[0].n] = '\0';
    return SIGV4_OK;
}

/* AWS allows five minutes of clock skew either way, and says which way it failed. */
static enum sigv4_verdict sigv4_check_clock(time_t signed_at, struct sigv4_span amz_date,
                                            time_t now, char *errstr, size_t errlen)
{
    bool early = signed_at < now;
    if ((early ? now - signed_at : signed_at - now) <= SIGV4_SKEW)
        return SIGV4_OK;
    char now_s[17] = "?", edge_s[17] = "?";
    sigv4_format_date(now, now_s);
    sigv4_format_date(early ? now - SIGV4_SKEW : now + SIGV4_SKEW, edge_s);
    if (early)
        errstr_set(errstr, errlen, "Signature expired: %.16s is now earlier than %s "
                      "(%s - 5 min.)", amz_date.p, edge_s, now_s);
    else
        errstr_set(errstr, errlen, "Signature not yet current: %.16s is still later than %s "
                      "(%s + 5 min.)", amz_date.p, edge_s, now_s);
    return SIGV4_EXPIRED;
}

/* Turns SignedHeaders into canonical-request entries taken from the received headers. Every
 * named header must be there; host, and a session token that was sent, must be signed. */
static int sigv4_collect_signed(const struct sigv4_request *req, struct sigv4_span list,
                                struct sigv4_entry e[SIGV4_MAX_ENTRIES], size_t *n_out,
                                char *errstr, size_t errlen)
{
    struct sigv4_span names[SIGV4_MAX_ENTRIES];
    size_t nn = sigv4_split(list, ';', names, SIGV4_MAX_ENTRIES);
    if (nn > SIGV4_MAX_ENTRIES) {
        errstr_set(errstr, errlen, "SignedHeaders names more than %d headers",
                      SIGV4_MAX_ENTRIES);
        return -1;
    }
    bool host = false, token = false;
    for (size_t i = 0; i < nn; i++) {
        bool ok = names[i].n > 0 && names[i].n <= SIGV4_MAX_NAME;
        for (size_t k = 0; ok && k < names[i].n; k++) {
            unsigned char c = (unsigned char)names[i].p[k];
            ok = sigv4_is_tchar(c) && !(c >= 'A' && c <= 'Z');
        }
        for (size_t j = 0; ok && j < i; j++)
            ok = sigv4_cmp_name(names[i], names[j]) != 0;
        /* The signature cannot cover the header that carries it. */
        if (!ok || sigv4_span_is(names[i], "authorization")) {
            errstr_set(errstr, errlen, "SignedHeaders must be distinct lower-case header "
                                          "names separated by ';'");
            return -1;
        }
        host = host || sigv4_span_is(names[i], "host");
        token = token || sigv4_span_is(names[i], "x-amz-security-token");
    }
    size_t count;
    if (!host) {
        errstr_set(errstr, errlen, "'Host' must be a 'SignedHeader' in the AWS "
                                      "Authorization.");
        return -1;
    }
    if (!token && sigv4_find_header(req, "x-amz-security-token", &count)) {
        errstr_set(errstr, errlen, "'X-Amz-Security-Token' must be a 'SignedHeader' in the "
                                      "AWS Authorization.");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < nn; i++) {
        bool found = false;
        for (size_t j = 0; j < req->n_headers; j++) {
            const struct sigv4_header *h = &req->headers[j];
            if (!h->name || !h->value ||
                sigv4_cmp_name(names[i], (struct sigv4_span){h->name, strlen(h->name)}) != 0)
                continue;
            if (n == SIGV4_MAX_ENTRIES) {
                errstr_set(errstr, errlen, "more than %d signed header values",
                              SIGV4_MAX_ENTRIES);
                return -1;
            }
            /* strnlen: an over-long value stops at the cap and is refused as too long. */
            size_t vlen = strnlen(h->value, SIGV4_MAX_VALUE + 1);
            e[n] = (struct sigv4_entry){names[i], {h->value, vlen}, j};
            n++;
            found = true;
        }
        if (!found) {
            errstr_set(errstr, errlen, "Signed header '%.*s' is not present in the request",
                          (int)names[i].n, names[i].p);
            return -1;
        }
    }
    *n_out = n;
    return 0;
}

/* Rebuilds the canonical request from what was received and compares signatures. */
static enum sigv4_verdict sigv4_check_signature(const struct sigv4_request *req,
                                                const struct sigv4_auth *a,
                                                struct sigv4_span amz_date, const char *region,
                                                const char *service, const char *secret,
                                                char *errstr, size_t errlen)
{
    struct sigv4_entry e[SIGV4_MAX_ENTRIES];
    size_t n = 0;
    if (sigv4_collect_signed(req, a->signed_headers, e, &n, errstr, errlen) < 0)
        return SIGV4_MALFORMED;
    if (req->payload_len && !req->payload) {
        errstr_set(errstr, errlen, "payload_len without payload");
        return SIGV4_MALFORMED;
    }
    char hash[65], date[17], sig[65];
    sigv4_sha256_hex(req->payload, req->payload_len, hash);
    memcpy(date, amz_date.p, 16);
    date[16] = '\0';
    struct buf c, names, s;
    buf_init(&c, SIGV4_MAX_CREQ);
    buf_init(&names, SIGV4_MAX_CREQ);
    buf_init(&s, SIGV4_MAX_STS);
    enum sigv4_verdict v = SIGV4_MALFORMED;
    if (sigv4_build_creq(&c, &names, req->method ? req->method : "", req->path, req->query, e,
                         n, hash, errstr, errlen) < 0 ||
        sigv4_compute(&c, date, region, service, secret, &s, sig, errstr, errlen) < 0)
        goto done;
    /* Constant time: how far a guess matches must not show in the response time. */
    if (a->signature.n == 64 && CRYPTO_memcmp(a->signature.p, sig, 64) == 0) {
        v = SIGV4_OK;
    } else {
        v = SIGV4_MISMATCH;
        errstr_set(errstr, errlen, "%s\n\nThe Canonical String for this request should have "
                      "been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n",
                      sigv4_mismatch_msg, buf_cstr(&c), buf_cstr(&s));
    }
done:
    OPENSSL_cleanse(sig, sizeof sig);
    buf_free(&c);
    buf_free(&names);
    buf_free(&s);
    return v;
}

enum sigv4_verdict sigv4_verify(const struct sigv4_request *req, const char *region,
                                const char *service, time_t now, sigv4_secret_fn secret,
                                void *user, char *errstr, size_t errlen)
{
    errstr_set(errstr, errlen, "%s", "");
    size_t count;
    const struct sigv4_header *auth = sigv4_find_header(req, "authorization", &count);
    if (!auth) {
        errstr_set(errstr, errlen, "Missing Authentication Token");
        return SIGV4_MISSING;
    }
    if (count > 1) {
        errstr_set(errstr, errlen, "more than one Authorization header");
        return SIGV4_MALFORMED;
    }
    struct sigv4_auth a;
    if (sigv4_parse_auth(auth->value, &a, errstr, errlen) < 0)
        return SIGV4_MALFORMED;

    const struct sigv4_header *dh = sigv4_find_header(req, "x-amz-date", &count);
    if (!dh) {
        errstr_set(errstr, errlen, "Authorization header requires existence of a "
                                      "'X-Amz-Date' header.");
        return SIGV4_MISSING;
    }
    struct sigv4_span date = {dh->value, strnlen(dh->value, 17)};
    time_t signed_at;
    if (count > 1 || sigv4_parse_date(date, &signed_at) < 0) {
        errstr_set(errstr, errlen, "X-Amz-Date must be one value in the ISO8601 Long Format "
                                      "\"yyyyMMdd'T'HHmmss'Z'\"");
        return SIGV4_MALFORMED;
    }

    char key_id[SIGV4_MAX_KEY_ID + 1];
    enum sigv4_verdict v = sigv4_check_scope(a.credential, date, region, service, key_id,
                                             errstr, errlen);
    if (v != SIGV4_OK)
        return v;
    const char *sec = secret(user, key_id);
    if (!sec) {
        errstr_set(errstr, errlen, "The security token included in the request is invalid.");
        return SIGV4_UNKNOWN_KEY;
    }
    v = sigv4_check_clock(signed_at, date, now, errstr, errlen);
    if (v != SIGV4_OK)
        return v;
    return sigv4_check_signature(req, &a, date, region, service, sec, errstr, errlen);
}

const char *sigv4_verdict_error_type(enum sigv4_verdict v)
{
    switch (v) {
    case SIGV4_OK:
        return "";
    case SIGV4_MISSING:
        return "MissingAuthenticationTokenException";
    case SIGV4_MALFORMED:
        return "IncompleteSignatureException";
    case SIGV4_UNKNOWN_KEY:
        return "UnrecognizedClientException";
    case SIGV4_EXPIRED:
    case SIGV4_BAD_SCOPE:
    case SIGV4_MISMATCH:
        return "InvalidSignatureException";
    }
    return "InvalidSignatureException";
}
