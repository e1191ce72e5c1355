/* test_ngx: the shipped nginx configurations, served for real in front of one stack.
 *
 * tests/integration/ngx.sh starts a stack and, on its nova-fcgi socket, three nginx: the
 * stack's own (the shipped template, NOVA_URL), the shipped compose.conf with its container
 * paths swapped (COMPOSE_URL, and COMPOSE_SOCK: a unix-socket listener, whose peer is not
 * loopback) and a generated variant trusting 127.0.0.1 and unix: as proxies (TRUSTED_URL,
 * TRUSTED_SOCK). COMPOSE_CONF is the compose nginx's file (it gives the stream cap, tested on
 * the compose nginx's unix socket: one client that is not local).
 *
 * Cases: the CSP (frame-ancestors 'none' …), nosniff and Referrer-Policy headers, once each, on
 * every location of each config, nginx's own errors included; /api/metrics and /status only for
 * a loopback peer that forwards nobody (a forwarded 127.0.0.1 gets 403 JSON, from a trusted
 * proxy too); X-Forwarded-For names the client only from a trusted proxy; at most the cap of
 * open streams (chats and resumes) per client, one more 429 JSON; /api/translate rate limited
 * like chat (429 rate_limited JSON with Retry-After). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *run_url, *compose_url, *compose_sock, *compose_conf, *trusted_url, *trusted_sock,
    *dead_url;

/* One blocking request to base (or, sock non-NULL, over that unix socket); headers NULL-ended
 * "Name: value" strings or NULL. Free with http_reply_free. */
static void req(const char *base, const char *sock, const char *method, const char *path,
                const char *const *headers, const char *body, size_t body_len,
                struct http_reply *out)
{
    char url[700];
    snprintf(url, sizeof url, "%s%s", sock ? "http://localhost" : base, path);
    http_do_via(sock, method, url, headers, body, body_len, out);
}

/* How many header lines named name (case-insensitive) the raw header block holds. */
static int header_count(const char *hdrs, const char *name)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\n%s:", name);
    int n = 0;
    for (const char *p = hdrs; (p = strcasestr(p, pat)); p++)
        n++;
    return n;
}

/* The page's security headers, each exactly once (a location that drops or doubles them fails). */
static bool security_headers_ok(const char *hdrs, const char *what)
{
    static const char *const csp_need[] = {
        "default-src 'self'", "script-src 'self'", "frame-ancestors 'none'",
        "object-src 'none'", "base-uri 'none'", "connect-src 'self'",
    };
    const char *csp = strcasestr(hdrs, "\nContent-Security-Policy:");
    bool ok = header_count(hdrs, "Content-Security-Policy") == 1 &&
              header_count(hdrs, "X-Content-Type-Options") == 1 &&
              header_count(hdrs, "Referrer-Policy") == 1 &&
              strcasestr(hdrs, "\nX-Content-Type-Options: nosniff\r\n") &&
              strcasestr(hdrs, "\nReferrer-Policy: no-referrer\r\n");
    if (csp) {
        const char *eol = strstr(csp + 1, "\r\n");
        size_t len = eol ? (size_t)(eol - csp) : strlen(csp);
        for (size_t i = 0; i < sizeof csp_need / sizeof csp_need[0]; i++)
            if (!memmem(csp, len, csp_need[i], strlen(csp_need[i])))
                ok = false;
    }
    if (!ok)
        fprintf(stderr, "  %s: security headers missing, doubled or wrong:\n%s\n", what, hdrs);
    return ok;
}

static bool error_json_is(const struct http_reply *r, long status, const char *code)
{
    char ct[80] = "";
    http_header(r, "Content-Type", ct, sizeof ct);
    json_object *o = json_tokener_parse(buf_cstr((struct buf *)&r->body)), *e = jget(o, "error");
    bool ok = r->status == status && strncmp(ct, "application/json", 16) == 0 &&
              jstr_is(e, "code", code) && jstr(e, "message") && jstr(e, "request_id") &&
              strlen(jstr(e, "request_id")) == 32;
    if (o)
        json_object_put(o);
    if (!ok)
        fprintf(stderr, "  want %ld %s, got %ld %s: %.200s\n", status, code, r->status, ct,
                buf_cstr((struct buf *)&r->body));
    return ok;
}

/* ---- headers ----------------------------------------------------------------------------- */

static void test_security_headers_on_every_location(void)
{
    static char big[70 * 1024];
    memset(big, 'a', sizeof big);
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *id = "0123456789abcdef0123456789abcdef";
    char p_events[128], p_cancel[128];
    snprintf(p_events, sizeof p_events, "/api/chat/%s/events", id);
    snprintf(p_cancel, sizeof p_cancel, "/api/chat/%s/cancel", id);
    struct {
        const char *method, *path, *body;
        size_t len;
        long want; /* 0: any answer */
    } cases[] = {
        {"GET", "/", NULL, 0, 200},
        {"GET", "/index.html", NULL, 0, 200},
        {"GET", "/style.css", NULL, 0, 200},
        {"GET", "/js/app.js", NULL, 0, 200},
        {"GET", "/nope.html", NULL, 0, 404},
        {"TRACE", "/", NULL, 0, 405},
        {"GET", "/api/health", NULL, 0, 0},
        {"POST", "/api/chat", "{not json", 9, 400},
        {"POST", "/api/chat", big, sizeof big, 413},
        {"POST", "/api/translate", "{not json", 9, 400},
        {"GET", p_events, NULL, 0, 0},
        {"POST", p_cancel, "{}", 2, 0},
        {"DELETE", "/api/session/abcdefgh1234", NULL, 0, 0},
        {"GET", "/api/metrics", NULL, 0, 200},
        {"GET", "/status", NULL, 0, 200},
    };
    struct {
        const char *name, *url, *sock;
    } cfg[] = {
        {"run (shipped template)", run_url, NULL},
        {"compose (shipped compose.conf)", compose_url, NULL},
        {"trusted (generated variant)", trusted_url, NULL},
    };
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        int good = 0, total = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct http_reply r;
            req(cfg[k].url, cfg[k].sock, cases[i].method, cases[i].path,
                cases[i].body ? json : NULL, cases[i].body, cases[i].len, &r);
            char what[300];
            snprintf(what, sizeof what, "%s: %s %s -> %ld", cfg[k].name, cases[i].method,
                     cases[i].path, r.status);
            total++;
            bool ok = r.status > 0 && (!cases[i].want || r.status == cases[i].want) &&
                      security_headers_ok(buf_cstr(&r.headers), what);
            if (cases[i].want && r.status != cases[i].want)
                fprintf(stderr, "  %s: wanted %ld\n", what, cases[i].want);
            /* The policy has one home: the header (a <meta> copy could only drift from it). */
            if (strcmp(cases[i].path, "/index.html") == 0 &&
                strcasestr(buf_cstr(&r.body), "http-equiv=\"Content-Security-Policy\"")) {
                fprintf(stderr, "  %s: the page still carries a <meta> CSP\n", what);
                ok = false;
            }
            good += ok;
            http_reply_free(&r);
        }
        printf("  %s: %d of %d responses (page, assets, 404, 405, 413, API, metrics, status) "
               "carry CSP, nosniff and Referrer-Policy once each\n", cfg[k].name, good, total);
        CHECK(good == total);
    }
}

/* nova-fcgi not there: nginx's own 502 (a location with an add_header of its own) still
 * carries the page's headers, on every route that passes to nova-fcgi. */
static void test_nginx_own_502_keeps_the_headers(void)
{
    const char *json[] = {"Content-Type: application/json", NULL};
    struct {
        const char *method, *path, *body;
    } cases[] = {
        {"GET", "/api/health", NULL},
        {"POST", "/api/chat", "{\"message\":\"hi\"}"},
        {"POST", "/api/translate", "{\"text\":\"hi\"}"},
        {"GET", "/api/chat/0123456789abcdef0123456789abcdef/events", NULL},
        {"GET", "/api/metrics", NULL},
        {"GET", "/status", NULL},
    };
    int good = 0, n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        struct http_reply r;
        req(dead_url, NULL, cases[i].method, cases[i].path, cases[i].body ? json : NULL,
            cases[i].body, cases[i].body ? strlen(cases[i].body) : 0, &r);
        char what[200];
        snprintf(what, sizeof what, "no nova-fcgi: %s %s -> %ld", cases[i].method,
                 cases[i].path, r.status);
        good += error_json_is(&r, 502, "unavailable") &&
                strcasestr(buf_cstr(&r.headers), "\nRetry-After: 1\r\n") &&
                security_headers_ok(buf_cstr(&r.headers), what);
        http_reply_free(&r);
    }
    printf("  nova-fcgi not listening: %d of %d routes answered 502 unavailable JSON with "
           "Retry-After and the security headers\n", good, n);
    CHECK(good == n);
}

/* ---- the loopback guard ------------------------------------------------------------------ */

static void test_metrics_and_status_local_only(void)
{
    const char *xff_lo[] = {"X-Forwarded-For: 127.0.0.1", NULL};
    const char *xff_lo6[] = {"X-Forwarded-For: ::1", NULL};
    const char *xrip_lo[] = {"X-Real-IP: 127.0.0.1", NULL};
    struct {
        const char *what, *url, *sock;
        const char *const *h;
        long want;
    } cases[] = {
        {"run, loopback", run_url, NULL, NULL, 200},
        {"run, loopback forwarding 127.0.0.1", run_url, NULL, xff_lo, 403},
        {"run, loopback with X-Real-IP 127.0.0.1", run_url, NULL, xrip_lo, 403},
        {"compose, loopback", compose_url, NULL, NULL, 200},
        {"compose, a peer not on loopback", compose_url, compose_sock, NULL, 403},
        {"compose, a peer not on loopback forwarding 127.0.0.1", compose_url, compose_sock,
         xff_lo, 403},
        {"compose, loopback forwarding 127.0.0.1", compose_url, NULL, xff_lo, 403},
        {"trusted, loopback", trusted_url, NULL, NULL, 200},
        {"trusted, the loopback proxy forwarding 127.0.0.1", trusted_url, NULL, xff_lo, 403},
        {"trusted, the loopback proxy forwarding ::1", trusted_url, NULL, xff_lo6, 403},
        {"trusted, the unix-socket proxy forwarding 127.0.0.1", trusted_url, trusted_sock,
         xff_lo, 403},
        {"trusted, the unix-socket proxy", trusted_url, trusted_sock, NULL, 403},
    };
    const char *paths[] = {"/api/metrics", "/status"};
    int good = 0, total = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int p = 0; p < 2; p++) {
            struct http_reply r;
            req(cases[i].url, cases[i].sock, "GET", paths[p], cases[i].h, NULL, 0, &r);
            bool ok = cases[i].want == 200 ? r.status == 200
                                           : error_json_is(&r, 403, "forbidden");
            if (ok && p == 0 && cases[i].want == 200)
                ok = strstr(buf_cstr(&r.body), "# TYPE ") != NULL; /* the real metrics */
            total++;
            good += ok;
            printf("  %-56s %-13s %ld%s\n", cases[i].what, paths[p], r.status,
                   ok ? "" : "  <-- wrong");
            http_reply_free(&r);
        }
    CHECK(good == total);
}

/* ---- many requests at once -------------------------------------------------------------- */

struct flood {
    int n400, n429, other;
    struct http_reply sample; /* the first 429: status, headers, body */
};

/* n POSTs of a malformed body to path (nova-fcgi answers 400 at once, so only nginx's limits
 * can refuse one), at most batch at a time, each with header h (or none), over sock when given.
 * A batch under the open-stream cap keeps limit_conn out of a rate-limit count. */
static void flood_run(const char *base, const char *sock, const char *path, const char *h, int n,
                      int batch, struct flood *f)
{
    memset(f, 0, sizeof *f);
    struct stream **v = xcalloc((size_t)n, sizeof *v);
    struct buf *hb = xcalloc((size_t)n, sizeof *hb);
    const char *body = "{not json";
    for (int i = 0; i < n; i++) {
        v[i] = stream_new(sock ? "http://localhost" : base, NULL, path, "application/json", body,
                          strlen(body), NULL);
        if (h) {
            v[i]->hdrs = curl_slist_append(v[i]->hdrs, h);
            curl_easy_setopt(v[i]->h, CURLOPT_HTTPHEADER, v[i]->hdrs);
        }
        if (sock)
            curl_easy_setopt(v[i]->h, CURLOPT_UNIX_SOCKET_PATH, sock);
        buf_init(&hb[i], 1u << 16);
        curl_easy_setopt(v[i]->h, CURLOPT_HEADERFUNCTION, su_collect);
        curl_easy_setopt(v[i]->h, CURLOPT_HEADERDATA, &hb[i]);
    }
    for (int i = 0; i < n; i += batch)
        drive(v + i, (size_t)(n - i < batch ? n - i : batch), 15000, NULL, NULL);
    for (int i = 0; i < n; i++) {
        if (v[i]->status == 400)
            f->n400++;
        else if (v[i]->status == 429) {
            if (!f->n429++) {
                f->sample.status = 429;
                f->sample.headers = hb[i];
                f->sample.body = v[i]->raw;
                memset(&hb[i], 0, sizeof hb[i]);
                memset(&v[i]->raw, 0, sizeof v[i]->raw);
            }
        } else
            f->other++;
        buf_free(&hb[i]);
        stream_free(v[i]);
    }
    free(hb);
    free(v);
}

/* A refusal of one of nginx's limits: 429 rate_limited JSON, Retry-After: 1, the headers. */
static bool limit_refusal_ok(const struct http_reply *r, const char *what)
{
    bool ok = error_json_is(r, 429, "rate_limited") &&
              strcasestr(buf_cstr((struct buf *)&r->headers), "\nRetry-After: 1\r\n") &&
              security_headers_ok(buf_cstr((struct buf *)&r->headers), what);
    if (!ok)
        fprintf(stderr, "  %s: not the documented 429\n", what);
    return ok;
}

static void test_forwarded_for_counts_only_from_trusted_proxies(void)
{
    enum { N = 60, M = 20, B = 15 }; /* B: under the stream cap */
    struct flood a, b;
    /* The shipped template trusts no proxy: a loopback peer forwarding someone is no local
     * client (no exemption) and is counted as itself, whatever address it names. */
    flood_run(run_url, NULL, "/api/chat", "X-Forwarded-For: 192.0.2.1", N, B, &a);
    flood_run(run_url, NULL, "/api/chat", "X-Forwarded-For: 192.0.2.2", M, B, &b);
    printf("  run: %d chats naming 192.0.2.1: %d passed the limit, %d 429; then %d naming "
           "192.0.2.2: %d passed, %d 429 (one client: the peer)\n", N, a.n400, a.n429, M,
           b.n400, b.n429);
    CHECK(a.n400 + a.n429 == N && a.n400 >= 40 && a.n400 <= 50); /* burst 40 + refills */
    CHECK(b.n400 + b.n429 == M && b.n429 >= M / 2);
    CHECK(a.n429 > 0 && limit_refusal_ok(&a.sample, "run: a chat over the limit"));
    http_reply_free(&a.sample);
    http_reply_free(&b.sample);
    /* Behind a trusted proxy the forwarded address is the client: two buckets. */
    flood_run(trusted_url, NULL, "/api/chat", "X-Forwarded-For: 192.0.2.1", N, B, &a);
    flood_run(trusted_url, NULL, "/api/chat", "X-Forwarded-For: 192.0.2.2", M, B, &b);
    printf("  trusted: %d chats for 192.0.2.1: %d passed, %d 429; then %d for 192.0.2.2: "
           "%d passed, %d 429 (two clients)\n", N, a.n400, a.n429, M, b.n400, b.n429);
    CHECK(a.n400 + a.n429 == N && a.n400 >= 40 && a.n400 <= 50); /* burst 40 + refills */
    CHECK(b.n400 == M);
    http_reply_free(&a.sample);
    http_reply_free(&b.sample);
    /* A loopback client that forwards nobody stays exempt, on every config. */
    const char *urls[] = {run_url, compose_url, trusted_url};
    for (int k = 0; k < 3; k++) {
        flood_run(urls[k], NULL, "/api/chat", NULL, N, N, &a);
        printf("  %s: %d chats from loopback, nothing forwarded: %d passed, %d 429\n", urls[k],
               N, a.n400, a.n429);
        CHECK(a.n400 == N);
        http_reply_free(&a.sample);
    }
}

static void test_translate_rate_limited(void)
{
    enum { N = 100 };
    struct {
        const char *what, *url, *sock, *h;
    } cases[] = {
        {"run, a client behind an untrusted local proxy", run_url, NULL,
         "X-Forwarded-For: 192.0.2.50"},
        {"compose, a peer not on loopback", compose_url, compose_sock, NULL},
        {"trusted, 192.0.2.51 via the proxy", trusted_url, NULL, "X-Forwarded-For: 192.0.2.51"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct flood f;
        double t0 = now_ms();
        flood_run(cases[k].url, cases[k].sock, "/api/translate", cases[k].h, N, N, &f);
        double took = now_ms() - t0;
        /* nginx passes the burst (40) and the first, then 20 a second while they arrive */
        int most = 41 + (int)(20 * took / 1000.0) + 1;
        printf("  %s: %d translations at once: %d passed the limit (answered 400), %d 429 "
               "(in %.0f ms: at most %d may pass)\n", cases[k].what, N, f.n400, f.n429, took,
               most);
        CHECK(f.n400 + f.n429 == N);
        CHECK(f.n400 >= 40 && f.n400 <= most);
        CHECK(f.n429 > 0 && limit_refusal_ok(&f.sample, cases[k].what));
        if (f.n429)
            printf("  429: %s", buf_cstr(&f.sample.body));
        http_reply_free(&f.sample);
    }
}

/* ---- open streams per client ------------------------------------------------------------- */

/* The stream cap of the nginx.conf at path ("limit_conn nova_streams N;"). */
static int stream_cap(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int cap = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, " limit_conn nova_streams %d;", &cap) == 1)
            break;
    if (f)
        fclose(f);
    return cap;
}

struct wait_events {
    struct stream **v;
    size_t n;
};

/* Tick: every stream has its first event (it is open at nginx and at nova-fcgi). */
static int all_have_an_event(void *user)
{
    struct wait_events *w = user;
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i]->n == 0 && !w->v[i]->finished)
            return 0;
    return 1;
}

static struct stream *over_sock(struct stream *s, const char *sock)
{
    curl_easy_setopt(s->h, CURLOPT_UNIX_SOCKET_PATH, sock);
    return s;
}

/* On the shipped compose.conf, from its unix-socket listener: one client not on loopback. */
static void test_open_streams_capped_per_client(void)
{
    int cap = stream_cap(compose_conf);
    printf("  compose.conf caps open streams per client at %d\n", cap);
    CHECK(cap >= 2 && cap <= 200);
    if (cap < 2 || cap > 200)
        cap = 20; /* none in the file: show what the documented default would refuse */
    /* Slow chats (about 30 s each unless canceled). */
    const char *slow = "폴이 레벨업을 못 해요 #sim:tps=20 #sim:len=600";
    size_t n_chats = (size_t)cap / 2, n_res = (size_t)cap - n_chats;
    struct stream **v = xcalloc((size_t)cap, sizeof *v);
    char (*rid)[80] = xcalloc(n_chats, sizeof *rid);
    struct loop l;
    loop_init(&l);
    for (size_t i = 0; i < n_chats; i++) {
        v[i] = over_sock(chat_new_on("http://localhost", slow, "ko"), compose_sock);
        loop_add(&l, v[i]);
    }
    struct wait_events w = {v, n_chats};
    loop_run(&l, 15000, all_have_an_event, &w);
    size_t open = 0;
    for (size_t i = 0; i < n_chats; i++) {
        struct chat c;
        chat_read(v[i], &c);
        snprintf(rid[i], sizeof rid[i], "%s", c.request_id);
        open += v[i]->status == 200 && !v[i]->finished && rid[i][0];
        chat_free(&c);
    }
    /* The rest of the cap: resumes of those chats (they replay, then follow live). */
    for (size_t i = 0; i < n_res; i++) {
        char path[160];
        snprintf(path, sizeof path, "/api/chat/%s/events", rid[i % n_chats]);
        v[n_chats + i] = over_sock(stream_new("http://localhost", NULL, path, NULL, NULL, 0,
                                              NULL), compose_sock);
        loop_add(&l, v[n_chats + i]);
    }
    w.n = (size_t)cap;
    loop_run(&l, 15000, all_have_an_event, &w);
    for (size_t i = n_chats; i < (size_t)cap; i++)
        open += v[i]->status == 200 && !v[i]->finished;
    printf("  %zu chats and %zu resumes from one client: %zu open\n", n_chats, n_res, open);
    CHECK(open == (size_t)cap);

    /* One more of either kind is refused; a local client is not counted. */
    char path[160];
    snprintf(path, sizeof path, "/api/chat/%s/events", rid[0]);
    const char *hj[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"message\":\"폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=5\"}";
    struct http_reply r1, r2, lo;
    req(compose_url, compose_sock, "POST", "/api/chat", hj, body, strlen(body), &r1);
    req(compose_url, compose_sock, "GET", path, NULL, NULL, 0, &r2);
    printf("  chat number %d: %ld; resume number %d: %ld\n", cap + 1, r1.status, cap + 1,
           r2.status);
    CHECK(limit_refusal_ok(&r1, "the chat over the cap"));
    CHECK(limit_refusal_ok(&r2, "the resume over the cap"));
    http_reply_free(&r1);
    http_reply_free(&r2);
    req(compose_url, NULL, "POST", "/api/chat", hj, body, strlen(body), &lo);
    printf("  meanwhile a chat from loopback: %ld\n", lo.status);
    CHECK(lo.status == 200 && strstr(buf_cstr(&lo.body), "event: done"));
    http_reply_free(&lo);

    /* Cancel the chats: every stream ends, and the client may open streams again. */
    for (size_t i = 0; i < n_chats; i++) {
        char cp[160];
        snprintf(cp, sizeof cp, "/api/chat/%s/cancel", rid[i]);
        struct http_reply c;
        req(compose_url, compose_sock, "POST", cp, hj, "{}", 2, &c);
        http_reply_free(&c);
    }
    loop_run(&l, 15000, NULL, NULL);
    size_t ended = 0;
    for (size_t i = 0; i < (size_t)cap; i++)
        ended += v[i]->finished;
    loop_free(&l);
    struct http_reply again;
    req(compose_url, compose_sock, "POST", "/api/chat", hj, body, strlen(body), &again);
    printf("  after canceling: %zu of %d streams ended; the client's next chat: %ld\n", ended,
           cap, again.status);
    CHECK(ended == (size_t)cap);
    CHECK(again.status == 200 && strstr(buf_cstr(&again.body), "event: done"));
    http_reply_free(&again);
    for (size_t i = 0; i < (size_t)cap; i++)
        stream_free(v[i]);
    free(v);
    free(rid);
}

int main(void)
{
    run_url = getenv("NOVA_URL");
    compose_conf = getenv("COMPOSE_CONF");
    compose_url = getenv("COMPOSE_URL");
    compose_sock = getenv("COMPOSE_SOCK");
    trusted_url = getenv("TRUSTED_URL");
    trusted_sock = getenv("TRUSTED_SOCK");
    dead_url = getenv("DEAD_URL");
    if (!run_url || !compose_conf || !compose_url || !compose_sock || !trusted_url || !trusted_sock ||
        !dead_url) {
        fprintf(stderr, "test_ngx: run it through tests/integration/ngx.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    RUN(test_security_headers_on_every_location);
    RUN(test_nginx_own_502_keeps_the_headers);
    RUN(test_metrics_and_status_local_only);
    RUN(test_open_streams_capped_per_client);
    RUN(test_forwarded_for_counts_only_from_trusted_proxies);
    RUN(test_translate_rate_limited);

    curl_global_cleanup();
    return test_summary();
}
