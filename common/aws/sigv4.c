/* sigv4: AWS Signature Version 4, header form: the signer (sigv4_sign), the canonical request
 * and the primitives the verifier shares (see sigv4.h; the verifier is in sigv4_verify.c).
 *
 * The signer and the verifier share one canonicaliser (sigv4_build_creq) and one signature
 * computation (sigv4_compute), declared in sigv4_internal.h; they differ only in where the
 * header list comes from: the caller's headers plus x-amz-date and the token for the signer,
 * the names in SignedHeaders looked up in the received headers for the verifier. That symmetry
 * is what makes the Bedrock simulator reject the same encoding mistakes real AWS rejects. */
#include "aws/sigv4.h"
#include "aws/sigv4_internal.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/errstr.h"
#include "core/log.h"

/* A query parameter after re-encoding: offsets into one scratch buf. */
struct sigv4_param {
    size_t name_off, name_len, value_off, value_len;
};

static int sigv4_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool sigv4_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool sigv4_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token characters: what a header name may hold. */
bool sigv4_is_tchar(unsigned char c)
{
    return sigv4_is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c) != NULL);
}

/* Compares names as their lower-cased forms would compare, without making the copies. */
int sigv4_cmp_name(struct sigv4_span a, struct sigv4_span b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    for (size_t i = 0; i < n; i++) {
        int ca = sigv4_lower((unsigned char)a.p[i]), cb = sigv4_lower((unsigned char)b.p[i]);
        if (ca != cb)
            return ca - cb;
    }
    return a.n < b.n ? -1 : a.n > b.n;
}

/* Case-insensitive match of a span against a lower-case literal. */
bool sigv4_span_iis(struct sigv4_span s, const char *lower)
{
    return sigv4_cmp_name(s, (struct sigv4_span){lower, strlen(lower)}) == 0;
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && (sigv4_is_unreserved((unsigned char)s[run]) ||
                           (keep_slash && s[run] == '/')))
            run++;
        if (run > i && buf_append(out, s + i, run - i) < 0)
            return -1;
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (buf_append(out, esc, sizeof esc) < 0)
            return -1;
        i = run + 1;
    }
    return 0;
}

/* Lower-case hex of n bytes into out[2n + 1]. */
static void sigv4_put_hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* A digest can only fail when OpenSSL cannot allocate: the alloc.h policy applies. */
    if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        log_error("EVP_Digest(sha256) failed");
        abort();
    }
    sigv4_put_hex(md, 32, hex);
}

static void sigv4_hmac(const void *key, size_t klen, const void *msg, size_t mlen,
                       unsigned char out[32])
{
    unsigned int outlen = 32;
    if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &outlen) || outlen != 32) {
        log_error("HMAC(sha256) failed");
        abort();
    }
}

int sigv4_format_date(time_t t, char out[17])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    return strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) == 16 ? 0 : -1;
}

/* Appends s percent-decoded then SigV4-encoded, so "a%20b" and "a b" canonicalise alike. A '%'
 * not followed by two hex digits is a literal '%'. '+' is a literal plus (RFC 3986), not a
 * space: it becomes %2B. */
static int sigv4_put_reencoded(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int hi, lo;
        if (c == '%' && n - i >= 3 && (hi = hex_digit_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_digit_value((unsigned char)s[i + 2])) >= 0) {
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (sigv4_uri_encode(out, &c, 1, false) < 0)
            return -1;
    }
    return 0;
}

static int sigv4_cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* Orders re-encoded parameters by name, then value; arg is the scratch buf's data. */
static int sigv4_cmp_param(const void *a, const void *b, void *arg)
{
    const struct sigv4_param *x = a, *y = b;
    const char *base = arg;
    int c = sigv4_cmp_bytes(base + x->name_off, x->name_len, base + y->name_off, y->name_len);
    if (c)
        return c;
    return sigv4_cmp_bytes(base + x->value_off, x->value_len, base + y->value_off,
                           y->value_len);
}

/* Appends the canonical query string for the raw query q (NULL or "" = none). */
static int sigv4_put_query(struct buf *out, const char *q, char *errstr, size_t errlen)
{
    size_t qlen = q ? strnlen(q, SIGV4_MAX_QUERY + 1) : 0;
    if (qlen > SIGV4_MAX_QUERY) {
        errstr_set(errstr, errlen, "query string longer than %d bytes", SIGV4_MAX_QUERY);
        return -1;
    }
    if (qlen == 0)
        return 0;
    struct sigv4_param params[SIGV4_MAX_PARAMS];
    size_t n = 0;
    struct buf enc;
    buf_init(&enc, 3 * qlen + 1); /* re-encoding at most triples a byte: never full */
    const char *p = q, *end = q + qlen;
    for (;;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp)
            amp = end;
        if (amp > p) {
            if (n == SIGV4_MAX_PARAMS) {
                buf_free(&enc);
                errstr_set(errstr, errlen, "more than %d query parameters",
                              SIGV4_MAX_PARAMS);
                return -1;
            }
            const char *eq = memchr(p, '=', (size_t)(amp - p));
            const char *name_end = eq ? eq : amp;
            const char *value = eq ? eq + 1 : amp;
            struct sigv4_param *pp = &params[n++];
            /* enc cannot fill up (see buf_init above), so the results need no check. */
            pp->name_off = enc.len;
            sigv4_put_reencoded(&enc, p, (size_t)(name_end - p));
            pp->name_len = enc.len - pp->name_off;
            pp->value_off = enc.len;
            sigv4_put_reencoded(&enc, value, (size_t)(amp - value));
            pp->value_len = enc.len - pp->value_off;
        }
        if (amp == end)
            break;
        p = amp + 1;
    }
    int rc = 0;
    if (n) {
        const char *base = buf_cstr(&enc);
        qsort_r(params, n, sizeof params[0], sigv4_cmp_param, (void *)base);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if ((i && buf_putc(out, '&') < 0) ||
                buf_append(out, base + params[i].name_off, params[i].name_len) < 0 ||
                buf_putc(out, '=') < 0 ||
                buf_append(out, base + params[i].value_off, params[i].value_len) < 0)
                rc = -1;
        }
    }
    buf_free(&enc);
    if (rc)
        errstr_set(errstr, errlen, "canonical request longer than %d bytes", SIGV4_MAX_CREQ);
    return rc;
}

/* By name, then input order, so duplicate names keep the order they were received in. */
static int sigv4_cmp_entry(const void *a, const void *b)
{
    const struct sigv4_entry *x = a, *y = b;
    int c = sigv4_cmp_name(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int sigv4_put_lower(struct buf *out, struct sigv4_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (buf_putc(out, (char)sigv4_lower((unsigned char)s.p[i])) < 0)
            return -1;
    return 0;
}

/* Appends v trimmed, with each inner run of blanks as one space (SigV4's "trimall"). */
static int sigv4_put_trimmed(struct buf *out, struct sigv4_span v)
{
    size_t i = 0, n = v.n;
    while (n > 0 && sigv4_is_blank(v.p[n - 1]))
        n--;
    while (i < n && sigv4_is_blank(v.p[i]))
        i++;
    while (i < n) {
        size_t run = i;
        while (run < n && !sigv4_is_blank(v.p[run]))
            run++;
        if (buf_append(out, v.p + i, run - i) < 0)
            return -1;
        i = run;
        if (i < n && buf_putc(out, ' ') < 0)
            return -1;
        while (i < n && sigv4_is_blank(v.p[i]))
            i++;
    }
    return 0;
}

/* Refuses what would make the canonical request ambiguous or unbounded: a name that is not a
 * token, an over-long value, a line break inside a value. */
static int sigv4_check_entry(const struct sigv4_entry *e, char *errstr, size_t errlen)
{
    bool ok = e->name.n > 0 && e->name.n <= SIGV4_MAX_NAME && e->value.n <= SIGV4_MAX_VALUE &&
              !memchr(e->value.p, '\n', e->value.n) && !memchr(e->value.p, '\r', e->value.n);
    for (size_t i = 0; ok && i < e->name.n; i++)
        ok = sigv4_is_tchar((unsigned char)e->name.p[i]);
    if (!ok)
        errstr_set(errstr, errlen, "header '%.*s': the name must be a token of at most %d "
                      "bytes, the value at most %d bytes without line breaks",
                      (int)(e->name.n < 64 ? e->name.n : 64), e->name.p, SIGV4_MAX_NAME,
                      SIGV4_MAX_VALUE);
    return ok ? 0 : -1;
}

/* Appends "name:v1,v2\n" per distinct name (e sorted) to creq, and "a;b;c" to signed_names.
 * Returns -1 when a buf is full. */
static int sigv4_put_headers(struct buf *creq, struct buf *signed_names,
                             const struct sigv4_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool first = i == 0 || sigv4_cmp_name(e[i - 1].name, e[i].name) != 0;
        bool last = i + 1 == n || sigv4_cmp_name(e[i].name, e[i + 1].name) != 0;
        if (first && ((i && buf_putc(signed_names, ';') < 0) ||
                      sigv4_put_lower(signed_names, e[i].name) < 0 ||
                      sigv4_put_lower(creq, e[i].name) < 0 || buf_putc(creq, ':') < 0))
            return -1;
        if (sigv4_put_trimmed(creq, e[i].value) < 0 || buf_putc(creq, last ? '\n' : ',') < 0)
            return -1;
    }
    return 0;
}

/* Appends the canonical request to creq and the signed-header list to signed_names. Sorts e
 * in place. The path is encoded once more, as sent (see sigv4.h). */
int sigv4_build_creq(struct buf *creq, struct buf *signed_names, const char *method,
                     const char *path, const char *query, struct sigv4_entry *e,
                     size_t n, const char *payload_hash, char *errstr, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (sigv4_check_entry(&e[i], errstr, errlen) < 0)
            return -1;
    qsort(e, n, sizeof e[0], sigv4_cmp_entry);

    size_t plen = path ? strlen(path) : 0;
    if (buf_puts(creq, method) < 0 || buf_putc(creq, '\n') < 0 ||
        (plen ? sigv4_uri_encode(creq, path, plen, true) : buf_putc(creq, '/')) < 0 ||
        buf_putc(creq, '\n') < 0)
        goto full;
    if (sigv4_put_query(creq, query, errstr, errlen) < 0)
        return -1;
    if (buf_putc(creq, '\n') < 0 || sigv4_put_headers(creq, signed_names, e, n) < 0 ||
        buf_putc(creq, '\n') < 0 ||
        buf_append(creq, signed_names->data, signed_names->len) < 0 ||
        buf_putc(creq, '\n') < 0 || buf_puts(creq, payload_hash) < 0)
        goto full;
    return 0;
full:
    errstr_set(errstr, errlen, "canonical request longer than %d bytes", SIGV4_MAX_CREQ);
    return -1;
}

/* From a canonical request: appends the string to sign to sts and writes the hex signature.
 * The derived keys are wiped: they are as good as the secret for a day. */
int sigv4_compute(const struct buf *creq, const char *amz_date, const char *region,
                  const char *service, const char *secret, struct buf *sts,
                  char sig_hex[65], char *errstr, size_t errlen)
{
    size_t slen = strlen(secret);
    if (slen > SIGV4_MAX_SECRET) {
        errstr_set(errstr, errlen, "secret access key longer than %d bytes",
                      SIGV4_MAX_SECRET);
        return -1;
    }
    char creq_hash[65];
    sigv4_sha256_hex(creq->data, creq->len, creq_hash);
    if (buf_printf(sts, SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", amz_date, amz_date,
                   region, service, creq_hash) < 0) {
        errstr_set(errstr, errlen, "string to sign longer than %d bytes", SIGV4_MAX_STS);
        return -1;
    }
    unsigned char kbuf[4 + SIGV4_MAX_SECRET], k[32], sig[32];
    memcpy(kbuf, "AWS4", 4);
    memcpy(kbuf + 4, secret, slen);
    sigv4_hmac(kbuf, 4 + slen, amz_date, 8, k);
    sigv4_hmac(k, 32, region, strlen(region), k);
    sigv4_hmac(k, 32, service, strlen(service), k);
    sigv4_hmac(k, 32, "aws4_request", 12, k);
    sigv4_hmac(k, 32, sts->data, sts->len, sig);
    OPENSSL_cleanse(kbuf, sizeof kbuf);
    OPENSSL_cleanse(k, sizeof k);
    sigv4_put_hex(sig, 32, sig_hex);
    return 0;
}

static bool sigv4_is_empty(const char *s)
{
    return !s || !*s;
}

/* The signer's header list: the caller's headers, then x-amz-date and the session token. */
static int sigv4_collect_own(const struct sigv4_params *p, const struct sigv4_request *req,
                             const char *amz_date, struct sigv4_entry e[SIGV4_MAX_ENTRIES],
                             size_t *n_out, char *errstr, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct sigv4_header *h = &req->headers[i];
        struct sigv4_span name = {h->name ? h->name : "", h->name ? strlen(h->name) : 0};
        if (sigv4_span_iis(name, "x-amz-date") || sigv4_span_iis(name, "x-amz-security-token")) {
            errstr_set(errstr, errlen, "%s is added by the signer, not the caller", h->name);
            return -1;
        }
        const char *v = h->value ? h->value : "";
        e[n++] = (struct sigv4_entry){name, {v, strlen(v)}, i};
    }
    e[n] = (struct sigv4_entry){{"x-amz-date", 10}, {amz_date, 16}, n};
    n++;
    if (!sigv4_is_empty(p->session_token)) {
        /* strnlen: a runaway token stops at the cap and is refused by sigv4_check_entry. */
        size_t tlen = strnlen(p->session_token, SIGV4_MAX_VALUE + 1);
        e[n] = (struct sigv4_entry){{"x-amz-security-token", 20}, {p->session_token, tlen}, n};
        n++;
    }
    *n_out = n;
    return 0;
}

int sigv4_sign(const struct sigv4_params *p, const struct sigv4_request *req,
               struct sigv4_result *out, struct buf *creq, struct buf *sts, char *errstr,
               size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (sigv4_is_empty(p->access_key_id) || sigv4_is_empty(p->secret_access_key) ||
        sigv4_is_empty(p->region) || sigv4_is_empty(p->service) || sigv4_is_empty(req->method)) {
        errstr_set(errstr, errlen, "access key, secret, region, service and method are "
                                      "required");
        return -1;
    }
    if (req->n_headers > SIGV4_MAX_HEADERS) {
        errstr_set(errstr, errlen, "%zu headers to sign; at most %d", req->n_headers,
                      SIGV4_MAX_HEADERS);
        return -1;
    }
    if (req->payload_len && !req->payload) {
        errstr_set(errstr, errlen, "payload_len without payload");
        return -1;
    }
    if (sigv4_format_date(p->when, out->amz_date) < 0) {
        errstr_set(errstr, errlen, "signing time out of range");
        return -1;
    }
    sigv4_sha256_hex(req->payload, req->payload_len, out->payload_hash);

    struct sigv4_entry e[SIGV4_MAX_ENTRIES];
    size_t n;
    if (sigv4_collect_own(p, req, out->amz_date, e, &n, errstr, errlen) < 0)
        return -1;

    struct buf c, names, s;
    buf_init(&c, SIGV4_MAX_CREQ);
    buf_init(&names, SIGV4_MAX_CREQ);
    buf_init(&s, SIGV4_MAX_STS);
    char sig[65];
    int rc = -1;
    if (sigv4_build_creq(&c, &names, req->method, req->path, req->query, e, n,
                         out->payload_hash, errstr, errlen) < 0 ||
        sigv4_compute(&c, out->amz_date, p->region, p->service, p->secret_access_key, &s, sig,
                      errstr, errlen) < 0)
        goto done;
    int len = snprintf(out->authorization, sizeof out->authorization,
                       SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, "
                                       "SignedHeaders=%s, Signature=%s",
                       p->access_key_id, out->amz_date, p->region, p->service, buf_cstr(&names),
                       sig);
    if (len < 0 || (size_t)len >= sizeof out->authorization) {
        out->authorization[0] = '\0';
        errstr_set(errstr, errlen, "Authorization header longer than %zu bytes",
                      sizeof out->authorization - 1);
        goto done;
    }
    if ((creq && buf_append(creq, c.data, c.len) < 0) ||
        (sts && buf_append(sts, s.data, s.len) < 0)) {
        errstr_set(errstr, errlen, "caller's creq/sts buffer is full");
        goto done;
    }
    rc = 0;
done:
    buf_free(&c);
    buf_free(&names);
    buf_free(&s);
    return rc;
}
