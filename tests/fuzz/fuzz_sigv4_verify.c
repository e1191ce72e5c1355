/* fuzz_sigv4_verify: sigv4_verify on hostile header values, as the Bedrock simulator gets them.
 *
 * The input is split on '\n' into: Authorization, X-Amz-Date, Host, one extra header
 * ("name:value"; without ':' it is an X-Amz-Security-Token value), the path with optional
 * "?query", and the body (the rest, newlines included). Each value gets its own exactly-sized
 * heap block so ASan catches any read past it. Then a property: the same host, extra header,
 * path and body signed by sigv4_sign must verify, whatever bytes they hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "aws/sigv4.h"

#define FUZZ_AK "AKIDEXAMPLE"
#define FUZZ_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define FUZZ_NOW 1440938160 /* 2015-08-30T12:36:00Z, the date in the seeds */
#define FUZZ_FIELDS 6

static const char *fuzz_secret(void *user, const char *access_key_id)
{
    (void)user;
    if (strcmp(access_key_id, FUZZ_AK) == 0)
        return FUZZ_SECRET;
    return strcmp(access_key_id, "AKIDOTHER") == 0 ? "other" : NULL;
}

static char *fuzz_dup(const uint8_t *p, size_t n)
{
    char *s = xmalloc(n + 1);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* The received request: the fuzzer's headers plus a fixed Content-Type. */
struct fuzz_req {
    char *field[FUZZ_FIELDS];
    size_t body_len;
    const char *extra_name, *extra_value, *token, *query;
    struct sigv4_header h[8];
    size_t n;
};

static void fuzz_split(struct fuzz_req *r, const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (int i = 0; i < FUZZ_FIELDS; i++) {
        size_t end = size; /* the last field, the body, takes the rest */
        const uint8_t *nl = i < FUZZ_FIELDS - 1 ? memchr(data + off, '\n', size - off) : NULL;
        if (nl)
            end = (size_t)(nl - data);
        r->field[i] = fuzz_dup(data + off, end - off);
        r->body_len = end - off;
        off = nl ? end + 1 : end;
    }
    char *extra = r->field[3], *colon = strchr(extra, ':');
    r->extra_name = r->extra_value = r->token = NULL;
    if (colon) {
        *colon = '\0';
        r->extra_name = extra;
        r->extra_value = colon + 1;
    } else if (*extra) {
        r->token = extra;
    }
    char *q = strchr(r->field[4], '?');
    r->query = NULL;
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
}

/* Headers as received: the signing headers plus Authorization and X-Amz-Date. */
static void fuzz_headers(struct fuzz_req *r, const char *auth, const char *date)
{
    r->n = 0;
    r->h[r->n++] = (struct sigv4_header){"Content-Type", "application/json"};
    r->h[r->n++] = (struct sigv4_header){"Host", r->field[2]};
    if (r->extra_name)
        r->h[r->n++] = (struct sigv4_header){r->extra_name, r->extra_value};
    if (r->token)
        r->h[r->n++] = (struct sigv4_header){"X-Amz-Security-Token", r->token};
    r->h[r->n++] = (struct sigv4_header){"X-Amz-Date", date};
    r->h[r->n++] = (struct sigv4_header){"Authorization", auth};
}

static struct sigv4_request fuzz_request(const struct fuzz_req *r, size_t n_headers)
{
    return (struct sigv4_request){"POST", r->field[4], r->query, r->h, n_headers, r->field[5],
                                  r->body_len};
}

/* Sign-then-verify must agree for any input the signer accepts. */
static void fuzz_check_roundtrip(struct fuzz_req *r)
{
    if (r->extra_name && (strcasecmp(r->extra_name, "authorization") == 0))
        return; /* a signature cannot sign its own header: the verifier refuses that by design */
    fuzz_headers(r, "", "");
    size_t n_sign = r->n - 2 - (r->token ? 1 : 0); /* the signer adds date and token itself */
    struct sigv4_request req = fuzz_request(r, n_sign);
    struct sigv4_params p = {FUZZ_AK, FUZZ_SECRET, r->token, "us-east-1", "bedrock", FUZZ_NOW};
    struct sigv4_result out;
    char err[512];
    if (sigv4_sign(&p, &req, &out, NULL, NULL, err, sizeof err) < 0)
        return;
    fuzz_headers(r, out.authorization, out.amz_date);
    req = fuzz_request(r, r->n);
    enum sigv4_verdict v = sigv4_verify(&req, "us-east-1", "bedrock", FUZZ_NOW, fuzz_secret,
                                        NULL, err, sizeof err);
    if (v != SIGV4_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_req r;
    fuzz_split(&r, data, size);
    fuzz_headers(&r, r.field[0], r.field[1]);
    struct sigv4_request req = fuzz_request(&r, r.n);
    char err[1024];
    enum sigv4_verdict v = sigv4_verify(&req, "us-east-1", "bedrock", FUZZ_NOW, fuzz_secret,
                                        NULL, err, sizeof err);
    if (strlen(err) >= sizeof err || (v != SIGV4_OK && err[0] == '\0') ||
        sigv4_verdict_error_type(v) == NULL)
        abort();
    /* A tiny errstr must still come back NUL-terminated. */
    char small[8];
    if (sigv4_verify(&req, "us-east-1", "bedrock", FUZZ_NOW, fuzz_secret, NULL, small,
                     sizeof small) != v || strlen(small) >= sizeof small)
        abort();
    fuzz_check_roundtrip(&r);
    for (int i = 0; i < FUZZ_FIELDS; i++)
        free(r.field[i]);
    return 0;
}
