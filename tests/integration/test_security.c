/* test_security: the API key, CORS, the per-address rate limit, and where credentials may be.
 *
 * tests/integration/security.sh starts a stack with NOVA_API_KEY=API_KEY, debug logs, and a
 * simulator and workers sharing FAKE_SECRET (secret key) and FAKE_TOKEN (session token), plus
 * a second nginx at RL_URL on the same nova-fcgi without the loopback exemption of the rate
 * limit. It passes NOVA_URL, RL_URL, NOVA_RUN_DIR, SIM_URL, API_KEY, FAKE_SECRET, FAKE_TOKEN.
 *
 * Cases: every /api/ route but /api/health answers 401 `unauthorized` without the key (a wrong
 * one, another scheme), and serves with it in either header; no response carries CORS headers,
 * an OPTIONS preflight included; past 20 requests/s (burst 40) from one address, 429
 * `rate_limited` JSON with Retry-After, while loopback on the shipped config is never limited;
 * chats with every kind of model error; the secret and the token in the workers' environment
 * only — not in nova-fcgi's, nginx's or Redis's, not in any log line, not in any answer. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simstats.h"
#include "../unit/test.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url, *rl_url, *run_dir, *sim_url, *api_key, *secret, *token;
static char bearer[300], xkey[300];
static struct buf answers; /* every body received, searched for the secret at the end */

static void keep(const char *p, size_t n)
{
    buf_append(&answers, p, n);
    buf_putc(&answers, '\n');
}

/* method path [body] with extra headers; keeps the body. */
static void call(const char *base, const char *method, const char *path, const char *const *h,
                 const char *body, struct http_reply *out)
{
    char url[700];
    snprintf(url, sizeof url, "%s%s", base, path);
    http_do(method, url, h, body, body ? strlen(body) : 0, out);
    keep(out->body.data ? out->body.data : "", out->body.len);
}

static bool error_is(const struct http_reply *r, long status, const char *code)
{
    char ct[80] = "";
    http_header(r, "Content-Type", ct, sizeof ct);
    json_object *o = json_tokener_parse(buf_cstr(&r->body)), *e = jget(o, "error");
    bool ok = r->status == status && strncmp(ct, "application/json", 16) == 0 &&
              jstr_is(e, "code", code) && jstr(e, "message") && jstr(e, "request_id") &&
              strlen(jstr(e, "request_id")) == 32;
    if (o)
        json_object_put(o);
    if (!ok)
        fprintf(stderr, "  want %ld %s, got %ld %s: %.200s\n", status, code, r->status, ct,
                buf_cstr(&r->body));
    return ok;
}

/* ---- the API key ------------------------------------------------------------------------ */

static void test_every_route_needs_the_key(void)
{
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};
    const char *id = "0123456789abcdef0123456789abcdef";
    char p_events[128], p_cancel[128];
    snprintf(p_events, sizeof p_events, "/api/chat/%s/events", id);
    snprintf(p_cancel, sizeof p_cancel, "/api/chat/%s/cancel", id);
    struct {
        const char *method, *path, *body;
    } routes[] = {
        {"POST", "/api/chat", "{\"message\":\"hi\"}"},
        {"GET", p_events, NULL},
        {"POST", p_cancel, "{}"},
        {"POST", "/api/translate", "{\"text\":\"hi\"}"},
        {"DELETE", "/api/session/abcdefgh1234", NULL},
        {"GET", "/api/nope", NULL}, /* no route discovery without the key */
        {"GET", "/api/chat", NULL},
    };
    char wrong_bearer[64], wrong_x[64], basic[340];
    snprintf(wrong_bearer, sizeof wrong_bearer, "Authorization: Bearer %.31sX", api_key);
    snprintf(wrong_x, sizeof wrong_x, "X-API-Key: %.31s", api_key); /* a prefix */
    snprintf(basic, sizeof basic, "Authorization: Basic %s", api_key);
    const char *const *bad_auth[4];
    static const char *h_none[2];
    const char *h_wrong_bearer[] = {json_ct[0], wrong_bearer, NULL};
    const char *h_wrong_x[] = {json_ct[0], wrong_x, NULL};
    const char *h_basic[] = {json_ct[0], basic, NULL};
    h_none[0] = json_ct[0];
    bad_auth[0] = h_none;
    bad_auth[1] = h_wrong_bearer;
    bad_auth[2] = h_wrong_x;
    bad_auth[3] = h_basic;
    int refused = 0, total = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        for (int k = 0; k < 4; k++) {
            struct http_reply r;
            call(base_url, routes[i].method, routes[i].path, bad_auth[k], routes[i].body, &r);
            char www[128] = "";
            http_header(&r, "WWW-Authenticate", www, sizeof www);
            total++;
            if (error_is(&r, 401, "unauthorized") && strncmp(www, "Bearer", 6) == 0)
                refused++;
            else
                fprintf(stderr, "  %s %s with header set %d: not refused\n", routes[i].method,
                        routes[i].path, k);
            http_reply_free(&r);
        }
    printf("  %d of %d requests without the right key (none, a wrong one, a prefix, Basic) "
           "answered 401 unauthorized with WWW-Authenticate: Bearer\n", refused, total);
    CHECK(refused == total);
    /* The load balancer's probe stays open. */
    struct http_reply h;
    call(base_url, "GET", "/api/health", NULL, NULL, &h);
    CHECK(h.status == 200 && strstr(buf_cstr(&h.body), "\"status\":\"ok\""));
    http_reply_free(&h);
}

static struct stream *chat_with(const char *auth_header, const char *message, const char *lang)
{
    struct stream *s = chat_new_on(base_url, message, lang);
    s->hdrs = curl_slist_append(s->hdrs, auth_header);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    return s;
}

static void keep_stream(struct stream *s)
{
    for (size_t i = 0; i < s->n; i++)
        keep(s->evs[i].data, s->evs[i].len);
    keep(s->raw.data ? s->raw.data : "", s->raw.len);
}

static void test_the_key_in_either_header(void)
{
    const char *headers[] = {bearer, xkey};
    for (int i = 0; i < 2; i++) {
        struct stream *s = chat_with(headers[i], "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=20",
                                     "ko");
        drive_one(s, 20000);
        struct chat c;
        chat_read(s, &c);
        keep_stream(s);
        CHECK(s->status == 200 && c.done_last && c.n_errors == 0 && c.n_ms == 2);
        if (test_cur_failures)
            stream_dump(i ? "chat with X-API-Key" : "chat with Bearer", s);
        /* A resume with the key: everything up to done is there (204). */
        char path[128];
        snprintf(path, sizeof path, "/api/chat/%s/events", c.request_id);
        char lei[80];
        snprintf(lei, sizeof lei, "Last-Event-ID: %s", s->n ? s->evs[s->n - 1].id : "0-0");
        const char *h2[] = {headers[i], lei, NULL};
        struct http_reply r;
        call(base_url, "GET", path, h2, NULL, &r);
        CHECK(r.status == 204);
        http_reply_free(&r);
        chat_free(&c);
        stream_free(s);
    }
}

/* ---- CORS ------------------------------------------------------------------------------- */

static int cors_headers(const struct http_reply *r)
{
    int n = 0;
    const char *p = buf_cstr(&r->headers);
    for (; (p = strcasestr(p, "\naccess-control-")); p++)
        n++;
    return n;
}

static void test_cors_is_closed(void)
{
    const char *origin = "Origin: https://evil.example";
    const char *pre[] = {origin, "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type, authorization", NULL};
    const char *pre_key[] = {origin, "Access-Control-Request-Method: POST", bearer, NULL};
    const char *post[] = {origin, "Content-Type: application/json", bearer, NULL};
    struct {
        const char *what, *method, *path;
        const char *const *h;
        const char *body;
    } cases[] = {
        {"preflight", "OPTIONS", "/api/chat", pre, NULL},
        {"preflight with the key", "OPTIONS", "/api/chat", pre_key, NULL},
        {"preflight of a resume", "OPTIONS", "/api/chat/0123456789abcdef0123456789abcdef/events",
         pre, NULL},
        {"cross-origin POST", "POST", "/api/chat", post, "{\"message\":5}"},
        {"cross-origin health", "GET", "/api/health", pre, NULL},
        {"the page", "GET", "/", pre, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_reply r;
        call(base_url, cases[i].method, cases[i].path, cases[i].h, cases[i].body, &r);
        int n = cors_headers(&r);
        printf("  %s: %ld, %d Access-Control-* headers\n", cases[i].what, r.status, n);
        CHECK(r.status > 0 && n == 0);
        CHECK(r.status != 204 || strcmp(cases[i].method, "OPTIONS") != 0);
        http_reply_free(&r);
    }
}

/* ---- the rate limit --------------------------------------------------------------------- */

static int count_statuses(const char *base, int n, int *n429, struct stream **sample)
{
    struct stream **v = xcalloc((size_t)n, sizeof *v);
    const char *body = "{not json";
    for (int i = 0; i < n; i++) {
        v[i] = stream_new(base, NULL, "/api/chat", "application/json", body, strlen(body),
                          NULL);
        v[i]->hdrs = curl_slist_append(v[i]->hdrs, bearer);
        curl_easy_setopt(v[i]->h, CURLOPT_HTTPHEADER, v[i]->hdrs);
        curl_easy_setopt(v[i]->h, CURLOPT_HEADERFUNCTION, su_collect);
    }
    struct buf *hb = xcalloc((size_t)n, sizeof *hb);
    for (int i = 0; i < n; i++) {
        buf_init(&hb[i], 1u << 16);
        curl_easy_setopt(v[i]->h, CURLOPT_HEADERDATA, &hb[i]);
    }
    drive(v, (size_t)n, 15000, NULL, NULL);
    int n400 = 0;
    *n429 = 0;
    for (int i = 0; i < n; i++) {
        keep(v[i]->raw.data ? v[i]->raw.data : "", v[i]->raw.len);
        n400 += v[i]->status == 400;
        if (v[i]->status == 429) {
            (*n429)++;
            if (sample && !*sample) { /* its headers travel in its raw buffer's place */
                *sample = v[i];
                buf_append(&v[i]->raw, "\n@@headers@@\n", 13);
                buf_append(&v[i]->raw, hb[i].data, hb[i].len);
                v[i] = NULL;
            }
        }
        buf_free(&hb[i]);
        stream_free(v[i]);
    }
    free(hb);
    free(v);
    return n400;
}

static void test_rate_limit_per_address(void)
{
    enum { N = 100 };
    int n429 = 0;
    /* The shipped config: loopback is exempt (our tools and tests). */
    int n400 = count_statuses(base_url, N, &n429, NULL);
    printf("  %d bad requests at once from loopback: %d answered 400, %d 429\n", N, n400, n429);
    CHECK(n400 == N && n429 == 0);
    /* The same nginx config with loopback counted like any client. */
    struct stream *s = NULL;
    n400 = count_statuses(rl_url, N, &n429, &s);
    printf("  %d at once with the exemption removed: %d passed the limit (answered 400), %d "
           "answered 429\n", N, n400, n429);
    CHECK(n400 + n429 == N);
    CHECK(n400 >= 40 && n400 <= 45); /* burst 40 (+ the rate's share while they arrive) */
    CHECK(s != NULL);
    if (s) {
        char *sep = strstr(buf_cstr(&s->raw), "\n@@headers@@\n");
        CHECK(sep != NULL);
        if (sep) {
            *sep = '\0';
            json_object *o = json_tokener_parse(buf_cstr(&s->raw)), *e = jget(o, "error");
            const char *hdrs = sep + 13;
            printf("  429: %s", buf_cstr(&s->raw));
            CHECK(jstr_is(e, "code", "rate_limited") && jstr(e, "message") &&
                  jstr(e, "request_id") && strlen(jstr(e, "request_id")) == 32);
            CHECK(strncmp(s->ctype, "application/json", 16) == 0);
            CHECK(strcasestr(hdrs, "\nRetry-After: 1\r\n") != NULL);
            if (o)
                json_object_put(o);
        }
        stream_free(s);
    }
}

/* ---- chats with errors, then where the secret is ---------------------------------------- */

static void test_chats_with_model_errors(void)
{
    static const char *const msgs[] = {
        "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=30",
        "환불은 어떻게 신청하나요? #sim:error=AccessDeniedException",
        "환불은 어떻게 신청하나요? #sim:error=ValidationException",
        "환불은 어떻게 신청하나요? #sim:stream-error=3 #sim:tps=400",
        "환불은 어떻게 신청하나요? #sim:throttle=1 #sim:tps=400",
        "How do I reset my password? #sim:tps=400 #sim:len=30", /* translated: a pro call */
    };
    enum { N = sizeof msgs / sizeof msgs[0] };
    struct stream *s[N];
    for (int i = 0; i < N; i++)
        s[i] = chat_with(i % 2 ? xkey : bearer, msgs[i], i == N - 1 ? "en" : "ko");
    drive(s, N, 30000, NULL, NULL);
    int done = 0, errors = 0;
    for (int i = 0; i < N; i++) {
        struct chat c;
        chat_read(s[i], &c);
        keep_stream(s[i]);
        done += c.done_last && c.n_done == 1;
        errors += (int)c.n_errors;
        chat_free(&c);
        stream_free(s[i]);
    }
    printf("  %d chats (access denied, validation, stream exception, throttling, translation): "
           "%d ended with done, %d error events\n", N, done, errors);
    CHECK(done == N && errors >= 6);
}

/* Whether the file (or /proc environ) at path holds needle. */
static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    struct buf b;
    buf_init(&b, 256u << 20);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && buf_append(&b, chunk, n) == 0)
        ;
    fclose(f);
    bool has = b.len && memmem(b.data, b.len, needle, strlen(needle)) != NULL;
    buf_free(&b);
    return has;
}

static bool environ_has(pid_t pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    return file_has(path, needle);
}

static void test_secret_only_in_the_workers(void)
{
    /* The web tier (nova-fcgi master and children, nginx master and workers) and Redis. */
    pid_t web[64];
    size_t n = 0;
    const char *names[] = {"nova-fcgi", "nginx"};
    for (int i = 0; i < 2; i++) {
        pid_t p = read_pid_file(run_dir, names[i]);
        CHECK(p > 0 && proc_alive(p));
        web[n++] = p;
        n += proc_children(p, web + n, 64 - n - 1);
    }
    int clean = 0;
    for (size_t i = 0; i < n; i++) {
        bool leak = environ_has(web[i], secret) || environ_has(web[i], token);
        clean += !leak;
        if (leak)
            fprintf(stderr, "  pid %d holds the secret or the token in its environment\n",
                    (int)web[i]);
    }
    pid_t redis = read_pid_file(run_dir, "redis");
    bool redis_clean = !environ_has(redis, secret) && !environ_has(redis, token);
    /* The workers must have them: else this proves nothing. */
    const char *wq[] = {"nova-worker-micro", "nova-worker-pro", "nova-worker-kb"};
    int workers = 0;
    for (int i = 0; i < 3; i++) {
        pid_t w = read_pid_file(run_dir, wq[i]);
        workers += environ_has(w, secret) && environ_has(w, token);
    }
    printf("  secret and token absent from the environment of %d of %zu web-tier processes "
           "(nova-fcgi, nginx) and %s Redis; present in %d of 3 workers\n", clean, n,
           redis_clean ? "of" : "NOT of", workers);
    CHECK(n >= 4 && (size_t)clean == n && redis_clean && workers == 3);
    /* Nor in any log line or other file of the run dir so far, nor in any answer. */
    char cmd[900];
    snprintf(cmd, sizeof cmd, "find '%s' -type f", run_dir);
    FILE *f = popen(cmd, "r");
    char path[800];
    int files = 0, dirty = 0;
    while (f && fgets(path, sizeof path, f)) {
        path[strcspn(path, "\n")] = '\0';
        files++;
        if (file_has(path, secret) || file_has(path, token) || file_has(path, api_key)) {
            dirty++;
            fprintf(stderr, "  %s holds the secret, the token or the API key\n", path);
        }
    }
    if (f)
        pclose(f);
    bool answers_clean = !memmem(answers.data ? answers.data : "", answers.len, secret,
                                 strlen(secret)) &&
                         !memmem(answers.data ? answers.data : "", answers.len, token,
                                 strlen(token));
    printf("  %d files of the run dir (debug logs included): %d hold the secret, the token or "
           "the API key; %zu bytes of answers: %s\n", files, dirty, answers.len,
           answers_clean ? "clean" : "NOT clean");
    CHECK(files >= 8 && dirty == 0 && answers_clean);
    /* The simulator saw signed calls with the token: nothing was refused. */
    CHECK(simstats_get(sim_url, "auth_failures") == 0);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    rl_url = getenv("RL_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    api_key = getenv("API_KEY");
    secret = getenv("FAKE_SECRET");
    token = getenv("FAKE_TOKEN");
    if (!base_url || !rl_url || !run_dir || !sim_url || !api_key || !secret || !token) {
        fprintf(stderr, "test_security: run it through tests/integration/security.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", api_key);
    snprintf(xkey, sizeof xkey, "X-API-Key: %s", api_key);
    buf_init(&answers, 64u << 20);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    RUN(test_every_route_needs_the_key);
    RUN(test_the_key_in_either_header);
    RUN(test_cors_is_closed);
    RUN(test_rate_limit_per_address);
    RUN(test_chats_with_model_errors);
    RUN(test_secret_only_in_the_workers); /* last: after every chat and error */

    buf_free(&answers);
    curl_global_cleanup();
    return test_summary();
}
