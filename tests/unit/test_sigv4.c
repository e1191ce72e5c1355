/* test_sigv4: common/aws/sigv4.c against the AWS SigV4 test suite, read at run time from
 * $NOVA_VECTORS_DIR/sigv4 (default ../shared/vectors/sigv4, relative to the repo root), then
 * the Bedrock specifics (the twice-encoded model id), canonicalisation details, and the
 * verifier fed honest, tampered and hostile requests. Hostile strings are copied into
 * exactly-sized heap blocks so ASan sees any read past their end. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "aws/sigv4.h"
#include "test.h"

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_MIN_CASES 8
#define MAX_CASES 64

static const char bedrock_path[] = "/model/amazon.nova-micro-v1%3A0/converse-stream";
static const char bedrock_host[] = "bedrock-runtime.us-east-1.amazonaws.com";
static const char bedrock_body[] =
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello, Nova\"}]}],"
    "\"inferenceConfig\":{\"maxTokens\":256}}";

/* The suite's signing time, 2015-08-30T12:36:00Z. */
static time_t suite_time(void)
{
    struct tm tm = {.tm_year = 115, .tm_mon = 7, .tm_mday = 30, .tm_hour = 12, .tm_min = 36};
    return timegm(&tm);
}

/* The secret callback of a server that knows one key. */
static const char *lookup_secret(void *user, const char *access_key_id)
{
    (void)user;
    return strcmp(access_key_id, SUITE_AK) == 0 ? SUITE_SECRET : NULL;
}

/* Reads a whole file, NUL-terminated; NULL when it cannot be read. The caller frees. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n) < 0)
            break;
    fclose(f);
    if (len)
        *len = b.len;
    if (!b.data)
        buf_append(&b, "", 0);
    return buf_steal(&b, NULL);
}

/* Copies s into a block of exactly strlen(s) + 1 bytes. */
static char *exact_copy(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- the AWS test suite, as data ---- */

/* A suite .req parsed in place: "METHOD PATH HTTP/1.1", "Name:value" lines, blank, body. */
struct suite_req {
    const char *method, *path, *query, *token;
    struct sigv4_header headers[16];
    size_t n_headers;
    const char *body;
    size_t body_len;
};

static int suite_parse_req(char *text, size_t len, struct suite_req *r)
{
    memset(r, 0, sizeof *r);
    char *end = text + len, *nl = memchr(text, '\n', len);
    char *line_end = nl ? nl : end;
    *line_end = '\0';
    char *sp1 = strchr(text, ' '), *sp2 = strrchr(text, ' ');
    if (!sp1 || sp1 == sp2) /* the path may hold spaces: the version is after the last one */
        return -1;
    *sp1 = *sp2 = '\0';
    r->method = text;
    r->path = sp1 + 1;
    char *q = strchr(sp1 + 1, '?');
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
    r->body = "";
    for (char *p = nl ? nl + 1 : end; p < end;) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        if (e == p) { /* the blank line: the rest is the body */
            r->body = p + 1;
            r->body_len = (size_t)(end - p - 1);
            break;
        }
        *e = '\0';
        char *colon = strchr(p, ':');
        if (!colon || r->n_headers == 16)
            return -1;
        *colon = '\0';
        if (strcasecmp(p, "X-Amz-Security-Token") == 0)
            r->token = colon + 1;
        else if (strcasecmp(p, "X-Amz-Date") != 0) /* the signer adds it from `when` */
            r->headers[r->n_headers++] = (struct sigv4_header){p, colon + 1};
        p = e + 1;
    }
    return 0;
}

/* get-vanilla-with-session-token has no token in its .req: its credentials, in aws-c-auth's
 * context.json, carry it. Returns a malloc'd token or NULL. */
static char *suite_context_token(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/context.json.aws-c-auth", dir, name);
    json_object *root = json_object_from_file(path), *creds, *tok;
    char *token = NULL;
    if (root && json_object_object_get_ex(root, "credentials", &creds) &&
        json_object_object_get_ex(creds, "token", &tok) &&
        json_object_is_type(tok, json_type_string))
        token = xstrdup(json_object_get_string(tok));
    json_object_put(root);
    return token;
}

static char *suite_read(const char *dir, const char *name, const char *ext, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s.%s", dir, name, name, ext);
    char *s = read_file(path, len);
    if (!s)
        fprintf(stderr, "  cannot read %s: %s\n", path, strerror(errno));
    return s;
}

/* One suite case: sign, compare creq / sts / authz exactly, then verify what was signed. */
static void suite_run_case(const char *dir, const char *name)
{
    size_t req_len = 0;
    char *req_text = suite_read(dir, name, "req", &req_len);
    char *creq_want = suite_read(dir, name, "creq", NULL);
    char *sts_want = suite_read(dir, name, "sts", NULL);
    char *authz_want = suite_read(dir, name, "authz", NULL);
    char *ctx_token = NULL;
    struct suite_req r;
    CHECK(req_text && creq_want && sts_want && authz_want);
    if (!req_text || !creq_want || !sts_want || !authz_want)
        goto done;
    CHECK(suite_parse_req(req_text, req_len, &r) == 0);
    if (!r.token)
        r.token = ctx_token = suite_context_token(dir, name);

    struct sigv4_params p = {SUITE_AK, SUITE_SECRET, r.token, "us-east-1", "service",
                             suite_time()};
    struct sigv4_request sr = {r.method, r.path,  r.query,   r.headers,
                               r.n_headers, r.body, r.body_len};
    struct sigv4_result out;
    struct buf creq, sts;
    buf_init(&creq, 1 << 20);
    buf_init(&sts, 1 << 20);
    char err[256] = "";
    CHECK(sigv4_sign(&p, &sr, &out, &creq, &sts, err, sizeof err) == 0);
    CHECK_STR_EQ(buf_cstr(&creq), creq_want);
    CHECK_STR_EQ(buf_cstr(&sts), sts_want);
    CHECK_STR_EQ(out.authorization, authz_want);
    CHECK_STR_EQ(out.amz_date, "20150830T123600Z");

    /* What the signer produced must pass this verifier, as the simulator would see it. */
    struct sigv4_header all[20];
    size_t n = 0;
    for (size_t i = 0; i < r.n_headers; i++)
        all[n++] = r.headers[i];
    all[n++] = (struct sigv4_header){"X-Amz-Date", out.amz_date};
    all[n++] = (struct sigv4_header){"Authorization", out.authorization};
    if (r.token)
        all[n++] = (struct sigv4_header){"X-Amz-Security-Token", r.token};
    sr.headers = all;
    sr.n_headers = n;
    char verr[4096];
    CHECK(sigv4_verify(&sr, "us-east-1", "service", suite_time(), lookup_secret, NULL, verr,
                       sizeof verr) == SIGV4_OK);
    buf_free(&creq);
    buf_free(&sts);
done:
    free(req_text);
    free(creq_want);
    free(sts_want);
    free(authz_want);
    free(ctx_token);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory <case>/ holding <case>.req is a case; fewer than SUITE_MIN_CASES fails, so a
 * moved or empty vectors directory cannot pass silently. */
static void run_suite_cases(void)
{
    const char *base = getenv("NOVA_VECTORS_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sigv4", base && *base ? base : "../shared/vectors");
    char *names[MAX_CASES] = {0};
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) && n < MAX_CASES) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s/%s.req", dir, de->d_name, de->d_name);
            if (de->d_name[0] != '.' && stat(path, &st) == 0)
                names[n++] = xstrdup(de->d_name);
        }
        closedir(d);
    }
    test_begin("suite_vectors_present");
    if (!d)
        fprintf(stderr, "  cannot open %s: %s (set NOVA_VECTORS_DIR)\n", dir, strerror(errno));
    else if (n < SUITE_MIN_CASES)
        fprintf(stderr, "  %s holds %zu cases, want at least %d\n", dir, n, SUITE_MIN_CASES);
    CHECK(d != NULL && n >= SUITE_MIN_CASES);
    test_end();
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        test_begin(names[i]);
        suite_run_case(dir, names[i]);
        test_end();
        free(names[i]);
    }
}

/* ---- Bedrock: a signed POST as the simulator receives it ---- */

/* A signed request with its received-header view; keep it in place (it points into itself). */
struct wire {
    struct sigv4_result sig;
    struct sigv4_header h[8];
    struct sigv4_request req;
};

static struct sigv4_params bedrock_params(time_t when)
{
    return (struct sigv4_params){SUITE_AK, SUITE_SECRET, NULL, "us-east-1", "bedrock", when};
}

static int wire_sign(struct wire *w, const struct sigv4_params *p)
{
    w->h[0] = (struct sigv4_header){"Content-Type", "application/json"};
    w->h[1] = (struct sigv4_header){"Host", bedrock_host};
    w->req = (struct sigv4_request){"POST", bedrock_path, NULL, w->h, 2, bedrock_body,
                                    strlen(bedrock_body)};
    char err[256];
    int rc = sigv4_sign(p, &w->req, &w->sig, NULL, NULL, err, sizeof err);
    w->h[2] = (struct sigv4_header){"X-Amz-Date", w->sig.amz_date};
    w->h[3] = (struct sigv4_header){"Authorization", w->sig.authorization};
    w->req.n_headers = 4;
    if (p->session_token && *p->session_token)
        w->h[w->req.n_headers++] = (struct sigv4_header){"X-Amz-Security-Token",
                                                         p->session_token};
    return rc;
}

static enum sigv4_verdict wire_verify(const struct wire *w, time_t now, char *err, size_t n)
{
    return sigv4_verify(&w->req, "us-east-1", "bedrock", now, lookup_secret, NULL, err, n);
}

static void bedrock_canonical_uri(void)
{
    struct buf b;
    buf_init(&b, 1024);
    CHECK(sigv4_uri_encode(&b, bedrock_path, strlen(bedrock_path), true) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "/model/amazon.nova-micro-v1%253A0/converse-stream");
    buf_free(&b);

    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    struct buf creq;
    buf_init(&creq, 1 << 16);
    char err[256];
    CHECK(sigv4_sign(&p, &(struct sigv4_request){"POST", bedrock_path, NULL,
                                                 (struct sigv4_header[]){{"host", bedrock_host}},
                                                 1, NULL, 0},
                     &w.sig, &creq, NULL, err, sizeof err) == 0);
    static const char want[] = "POST\n/model/amazon.nova-micro-v1%253A0/converse-stream\n\n";
    CHECK(strncmp(buf_cstr(&creq), want, strlen(want)) == 0);
    buf_free(&creq);
}

static void bedrock_sign_verify_ok(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[8192];
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(strstr(w.sig.authorization, "SignedHeaders=content-type;host;x-amz-date, ") != NULL);
    CHECK(strstr(w.sig.authorization, "/20150830/us-east-1/bedrock/aws4_request") != NULL);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_OK);
    CHECK_STR_EQ(err, "");
    /* Exactly five minutes of skew either way is still accepted. */
    CHECK(wire_verify(&w, suite_time() + 300, err, sizeof err) == SIGV4_OK);
    CHECK(wire_verify(&w, suite_time() - 300, err, sizeof err) == SIGV4_OK);
}

static void bedrock_tampered_body(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[8192];
    CHECK(wire_sign(&w, &p) == 0);
    static const char other[] = "{\"messages\":[]}";
    w.req.payload = other;
    w.req.payload_len = strlen(other);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISMATCH);
    static const char aws_msg[] =
        "The request signature we calculated does not match the signature you provided. Check "
        "your AWS Secret Access Key and signing method. Consult the service documentation for "
        "details.";
    CHECK(strncmp(err, aws_msg, sizeof aws_msg - 1) == 0);
    CHECK(strstr(err, "\n\nThe Canonical String for this request should have been\n'POST\n"
                      "/model/amazon.nova-micro-v1%253A0/converse-stream\n") != NULL);
    CHECK(strstr(err, "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n") != NULL);

    /* A small errstr gets a clean, NUL-terminated prefix. */
    char small[40];
    CHECK(wire_verify(&w, suite_time(), small, sizeof small) == SIGV4_MISMATCH);
    CHECK(strlen(small) == sizeof small - 1);
    CHECK(wire_verify(&w, suite_time(), NULL, 0) == SIGV4_MISMATCH);
}

static void bedrock_tampered_header(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[8192];
    CHECK(wire_sign(&w, &p) == 0);
    w.h[0].value = "text/plain";
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISMATCH);
    w.h[0].value = "  application/json  "; /* blanks are trimmed in the canonical form */
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_OK);
    w.req.path = "/model/amazon.nova-micro-v1:0/converse-stream";
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISMATCH);
}

static void bedrock_wrong_secret(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    p.secret_access_key = "not-the-secret";
    char err[8192];
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISMATCH);
}

static void bedrock_unknown_key(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    p.access_key_id = "AKIDUNKNOWN";
    char err[256];
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_UNKNOWN_KEY);
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_UNKNOWN_KEY), "UnrecognizedClientException");
}

static void bedrock_expired(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[256];
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(wire_verify(&w, suite_time() + 25 * 60, err, sizeof err) == SIGV4_EXPIRED);
    CHECK_STR_EQ(err, "Signature expired: 20150830T123600Z is now earlier than 20150830T125600Z "
                      "(20150830T130100Z - 5 min.)");
    CHECK(wire_verify(&w, suite_time() + 301, err, sizeof err) == SIGV4_EXPIRED);
    CHECK(wire_verify(&w, suite_time() - 20 * 60, err, sizeof err) == SIGV4_EXPIRED);
    CHECK_STR_EQ(err, "Signature not yet current: 20150830T123600Z is still later than "
                      "20150830T122100Z (20150830T121600Z + 5 min.)");
}

static void bedrock_bad_scope(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[256];
    p.region = "us-west-2";
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_BAD_SCOPE);
    CHECK(strstr(err, "us-west-2") != NULL);
    p = bedrock_params(suite_time());
    p.service = "s3";
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_BAD_SCOPE);
    /* A scope date that is not X-Amz-Date's date. */
    p = bedrock_params(suite_time());
    CHECK(wire_sign(&w, &p) == 0);
    char *auth = xstrdup(w.sig.authorization), *d = strstr(auth, "/20150830/");
    memcpy(d, "/20150829/", 10);
    w.h[3].value = auth;
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_BAD_SCOPE);
    CHECK(strstr(err, "'20150829' != '20150830'") != NULL);
    free(auth);
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_BAD_SCOPE), "InvalidSignatureException");
}

static void bedrock_missing(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[256];
    CHECK(wire_sign(&w, &p) == 0);
    w.req.n_headers = 3; /* drop Authorization */
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISSING);
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_MISSING), "MissingAuthenticationTokenException");
    w.req.n_headers = 4;
    w.h[2].name = "X-Unrelated"; /* drop X-Amz-Date */
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISSING);
    w.h[2] = (struct sigv4_header){"x-amz-date", "2015-08-30T12:36:00Z"};
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MALFORMED);
    w.h[2] = (struct sigv4_header){"x-amz-date", "20150230T123600Z"}; /* no 30 February */
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MALFORMED);
}

/* Verifies w with its Authorization replaced by a, held in an exactly-sized block. */
static enum sigv4_verdict verify_with_auth(struct wire *w, const char *a, size_t n, char *err,
                                           size_t errlen)
{
    char *copy = exact_copy(a, n);
    w->h[3].value = copy;
    enum sigv4_verdict v = wire_verify(w, suite_time(), err, errlen);
    w->h[3].value = w->sig.authorization;
    free(copy);
    return v;
}

static void bedrock_garbage_authorization(void)
{
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    char err[8192];
    CHECK(wire_sign(&w, &p) == 0);
    const char *good = w.sig.authorization;
    /* Every truncation of a good header fails cleanly, with a reason. */
    for (size_t n = 0; n < strlen(good); n++) {
        err[0] = '\0';
        enum sigv4_verdict v = verify_with_auth(&w, good, n, err, sizeof err);
        CHECK(v != SIGV4_OK && v != SIGV4_MISSING);
        CHECK(err[0] != '\0');
    }
    /* Blanks after the commas are optional. */
    struct buf tight;
    buf_init(&tight, 2048);
    for (const char *c = good; *c; c++)
        if (!(c[0] == ' ' && c[-1] == ','))
            buf_putc(&tight, *c);
    CHECK(verify_with_auth(&w, tight.data, tight.len, err, sizeof err) == SIGV4_OK);
    buf_free(&tight);

    static const struct {
        const char *auth;
        enum sigv4_verdict want;
    } cases[] = {
        {"", SIGV4_MALFORMED},
        {"Bearer abc", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256X Credential=a", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date, Signature=", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host;x-amz-date;x-absent, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=content-type;x-amz-date, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=Host;x-amz-date, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host;host, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=;;;;, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=authorization;host, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "Credential=x, SignedHeaders=host, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request/x, "
         "SignedHeaders=host, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host, Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host, Signature=00, Extra=1", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request "
         "SignedHeaders=host Signature=00", SIGV4_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host, Signature=00", SIGV4_MISMATCH},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_reques, "
         "SignedHeaders=host, Signature=00", SIGV4_BAD_SCOPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum sigv4_verdict v =
            verify_with_auth(&w, cases[i].auth, strlen(cases[i].auth), err, sizeof err);
        if (v != cases[i].want)
            fprintf(stderr, "  case %zu: verdict %d, want %d: %s\n", i, v, cases[i].want, err);
        CHECK(v == cases[i].want);
    }

    /* Enormous values: an Authorization past the parser's cap, a huge signature within it. */
    size_t big = 1 << 20;
    char *huge = xmalloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = '\0';
    CHECK(verify_with_auth(&w, huge, big, err, sizeof err) == SIGV4_MALFORMED);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/"
                   "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=");
    buf_append(&b, huge, 12000);
    CHECK(verify_with_auth(&w, b.data, b.len, err, sizeof err) == SIGV4_MISMATCH);
    buf_reset(&b);
    buf_printf(&b, "AWS4-HMAC-SHA256 Credential=");
    buf_append(&b, huge, 4000); /* an access key id far past any real one */
    buf_printf(&b, "/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0");
    CHECK(verify_with_auth(&w, b.data, b.len, err, sizeof err) == SIGV4_MALFORMED);
    buf_free(&b);
    /* An enormous signed header value. */
    w.h[0].value = huge;
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MALFORMED);
    free(huge);
}

static void bedrock_session_token(void)
{
    static const char token[] = "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+tok=";
    struct wire w;
    struct sigv4_params p = bedrock_params(suite_time());
    p.session_token = token;
    char err[8192];
    CHECK(wire_sign(&w, &p) == 0);
    CHECK(strstr(w.sig.authorization, "SignedHeaders=content-type;host;x-amz-date;"
                                      "x-amz-security-token, ") != NULL);
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_OK);
    w.h[4].value = "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+tok?";
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MISMATCH);
    w.req.n_headers = 4; /* signed but not sent */
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MALFORMED);

    /* Sent but not signed: a token must be covered by the signature. */
    p.session_token = NULL;
    CHECK(wire_sign(&w, &p) == 0);
    w.h[w.req.n_headers++] = (struct sigv4_header){"X-Amz-Security-Token", token};
    CHECK(wire_verify(&w, suite_time(), err, sizeof err) == SIGV4_MALFORMED);
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_MALFORMED), "IncompleteSignatureException");
}

/* ---- canonicalisation details ---- */

/* The canonical query line for a raw query. */
static void check_query(const char *query, const char *want)
{
    struct sigv4_params p = bedrock_params(suite_time());
    struct sigv4_header h = {"host", "example.amazonaws.com"};
    struct sigv4_request r = {"GET", "/", query, &h, 1, NULL, 0};
    struct sigv4_result out;
    struct buf creq;
    buf_init(&creq, 1 << 16);
    char err[256];
    CHECK(sigv4_sign(&p, &r, &out, &creq, NULL, err, sizeof err) == 0);
    const char *line = strchr(buf_cstr(&creq), '\n');
    line = line ? strchr(line + 1, '\n') : NULL;
    const char *end = line ? strchr(line + 1, '\n') : NULL;
    char got[1024] = "";
    if (end && (size_t)(end - line - 1) < sizeof got)
        memcpy(got, line + 1, (size_t)(end - line - 1));
    CHECK_STR_EQ(got, want);
    buf_free(&creq);
}

static void canonical_query(void)
{
    check_query("b=2&a=1&a=0", "a=0&a=1&b=2");
    check_query(NULL, "");
    check_query("", "");
    check_query("a b=c d", "a%20b=c%20d");
    check_query("a%20b=c%20d", "a%20b=c%20d");
    check_query("a+b=1", "a%2Bb=1");
    check_query("flag", "flag=");
    check_query("x=1&&y=2&", "x=1&y=2");
    check_query("k=%zz&j=%", "j=%25&k=%25zz");
    check_query("k=%2f&c=%7E&d=a/b", "c=~&d=a%2Fb&k=%2F");
    check_query("k=v=w", "k=v%3Dw");
    check_query("Z=1&a=1&_=1", "Z=1&_=1&a=1");
}

static void canonical_headers(void)
{
    struct sigv4_params p = bedrock_params(suite_time());
    struct sigv4_header h[] = {
        {"Host", "example.amazonaws.com"},
        {"My-Header1", "  a   b \t  c  "},
        {"my-header2", "\"a   b   c\""},
        {"My-Header1", "second"},
        {"Empty", ""},
    };
    struct sigv4_request r = {"GET", "", NULL, h, 5, NULL, 0};
    struct sigv4_result out;
    struct buf creq;
    buf_init(&creq, 1 << 16);
    char err[256];
    CHECK(sigv4_sign(&p, &r, &out, &creq, NULL, err, sizeof err) == 0);
    CHECK_STR_EQ(buf_cstr(&creq),
                 "GET\n/\n\nempty:\nhost:example.amazonaws.com\nmy-header1:a b c,second\n"
                 "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
                 "empty;host;my-header1;my-header2;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    buf_free(&creq);
}

static void sign_limits(void)
{
    struct sigv4_params p = bedrock_params(suite_time());
    struct sigv4_header h[65];
    char names[65][16];
    for (int i = 0; i < 65; i++) {
        snprintf(names[i], sizeof names[i], "x-h%d", i);
        h[i] = (struct sigv4_header){names[i], "v"};
    }
    struct sigv4_result out;
    char err[256] = "";
    struct sigv4_request r = {"GET", "/", NULL, h, 65, NULL, 0};
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "at most 64") != NULL);

    char *big = xmalloc(8194);
    memset(big, 'v', 8193);
    big[8193] = '\0';
    h[0] = (struct sigv4_header){"host", "example.com"};
    h[1] = (struct sigv4_header){"x-big", big};
    r.n_headers = 2;
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == -1);
    big[8192] = '\0'; /* exactly 8 KiB is allowed */
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == 0);
    free(big);

    h[1] = (struct sigv4_header){"x-amz-date", "20150830T123600Z"};
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == -1);
    h[1] = (struct sigv4_header){"bad name", "v"};
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == -1);
    h[1] = (struct sigv4_header){"x-split", "a\r\nx-injected: 1"};
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == -1);
    p.secret_access_key = "";
    h[1] = (struct sigv4_header){"x-ok", "v"};
    CHECK(sigv4_sign(&p, &r, &out, NULL, NULL, err, sizeof err) == -1);
}

static void uri_encode_and_hash(void)
{
    struct buf b;
    buf_init(&b, 64);
    CHECK(sigv4_uri_encode(&b, "a/b c~\xe1\x88\xb4", 9, false) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "a%2Fb%20c~%E1%88%B4");
    buf_reset(&b);
    CHECK(sigv4_uri_encode(&b, "/a:b/", 5, true) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "/a%3Ab/");
    buf_free(&b);
    buf_init(&b, 4); /* too small: reports it */
    CHECK(sigv4_uri_encode(&b, "::", 2, true) == -1);
    buf_free(&b);

    char hex[65];
    sigv4_sha256_hex("", 0, hex);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sigv4_sha256_hex("Param1=value1", 13, hex);
    CHECK_STR_EQ(hex, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_OK), "");
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_EXPIRED), "InvalidSignatureException");
    CHECK_STR_EQ(sigv4_verdict_error_type(SIGV4_MISMATCH), "InvalidSignatureException");
}

int main(void)
{
    run_suite_cases();
    RUN(bedrock_canonical_uri);
    RUN(bedrock_sign_verify_ok);
    RUN(bedrock_tampered_body);
    RUN(bedrock_tampered_header);
    RUN(bedrock_wrong_secret);
    RUN(bedrock_unknown_key);
    RUN(bedrock_expired);
    RUN(bedrock_bad_scope);
    RUN(bedrock_missing);
    RUN(bedrock_garbage_authorization);
    RUN(bedrock_session_token);
    RUN(canonical_query);
    RUN(canonical_headers);
    RUN(sign_limits);
    RUN(uri_encode_and_hash);
    return test_summary();
}
