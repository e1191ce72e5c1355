/* test_badinput: a generated corpus of malformed requests, over raw sockets to nginx.
 *
 * tests/integration/badinput.sh starts a stack and passes NOVA_URL, NOVA_RUN_DIR, SIM_URL
 * (BADINPUT_SEED and BADINPUT_COUNT optionally: the corpus is a pure function of the seed, and
 * `make chaos` sends a bigger one). Each request goes on its own TCP connection, so malformed
 * HTTP is possible: broken and oddly-typed JSON, invalid UTF-8 raw and escaped, over-long
 * fields, headers and URIs, bodies past 64 KiB (declared and sent, or only declared), chunked
 * bodies (well-formed with bad JSON, malformed, too large, with Content-Length beside), unknown
 * transfer codings, wrong methods and content types, path tricks on the resume and cancel
 * routes, forged request ids (well-formed but unknown, in a header nginx would never send),
 * bad resume points, and request lines and headers that are not HTTP at all.
 *
 * Every answer must be a 4xx with the API's JSON error body ({"error":{"code","message",
 * "request_id"}}, a documented code, nginx's own request id) — HEAD answers without a body —
 * and nothing may reach a model. Afterwards a normal chat still works and no process of the
 * stack restarted: the nova-fcgi master, its children and the workers keep their PIDs. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "simstats.h"
#include "../unit/test.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url, *run_dir, *sim_url;
static int port;

/* ---- the corpus ------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static uint32_t rnd_below(uint32_t n)
{
    return n ? rnd() % n : 0;
}

struct bad {
    const char *kind;     /* the corpus class, for the tally */
    struct buf bytes;     /* the whole request as sent */
    int want;             /* the status it must get, or 0: any 4xx */
    bool head;            /* no body in the answer */
    char forged[40];      /* an id the answer's request_id must not be */
};

static struct bad *corpus;
static size_t n_corpus, cap_corpus;

static struct bad *add(const char *kind, int want)
{
    if (n_corpus == cap_corpus) {
        cap_corpus = cap_corpus ? cap_corpus * 2 : 1024;
        corpus = xrealloc(corpus, cap_corpus * sizeof *corpus);
    }
    struct bad *b = &corpus[n_corpus++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->want = want;
    buf_init(&b->bytes, 1u << 22);
    return b;
}

/* A whole request: method, target, extra header lines ("" or "Name: v\r\n..."), body. */
static struct bad *add_http(const char *kind, int want, const char *method, const char *target,
                            const char *headers, const char *body, size_t body_len)
{
    struct bad *b = add(kind, want);
    buf_printf(&b->bytes, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s",
               method, target, headers);
    if (body)
        buf_printf(&b->bytes, "Content-Length: %zu\r\n", body_len);
    buf_puts(&b->bytes, "\r\n");
    if (body)
        buf_append(&b->bytes, body, body_len);
    b->head = strcmp(method, "HEAD") == 0;
    return b;
}

static const char *const json_ct = "Content-Type: application/json\r\n";

static void add_chat_body(const char *kind, int want, const char *body, size_t len)
{
    add_http(kind, want, "POST", rnd_below(4) ? "/api/chat" : "/api/translate", json_ct, body,
             len);
}

static void random_hex(char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = "0123456789abcdef"[rnd_below(16)];
    out[n] = '\0';
}

static const char *const valid_bodies[] = {
    "{\"message\":\"폴이 레벨업을 못 해요\",\"ui_lang\":\"ko\"}",
    "{\"message\":\"How do I reset my password?\",\"ui_lang\":\"en\",\"session_id\":\"abcdEFGH1234\"}",
    "{\"text\":\"환불은 어떻게 하나요?\",\"target\":\"en\"}",
};

static void gen_broken_json(int n)
{
    static const char *const fixed[] = {
        "", " ", "{", "}", "[", "{\"message\"", "{\"message\":", "{\"message\":\"hi\"",
        "{\"message\":\"hi\",}", "{\"message\":'hi'}", "{message:\"hi\"}", "{\"message\":\"hi\"} x",
        "{\"message\":\"hi\"}{}", "{\"message\":NaN}", "{\"message\":\"hi\" /* c */}",
        "\xef\xbb\xbf{\"message\":", "{\"message\":\"\\x41\"}", "{\"message\":\"\\u12\"}",
        "{\"message\":\"a\nb\"", "nul\0l", "{\"message\":\"\\", "{\"\":}", "{,}",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        add_chat_body("broken JSON", 400, fixed[i], strlen(fixed[i]) + (i == 19 ? 2 : 0));
    /* Nested far past any parser's depth. */
    struct buf deep;
    buf_init(&deep, 1u << 16);
    for (int i = 0; i < 20000; i++)
        buf_putc(&deep, i % 2 ? '{' : '[');
    add_chat_body("broken JSON", 400, deep.data, deep.len);
    buf_free(&deep);
    /* Valid bodies cut short, or with a structural character replaced by junk. */
    for (int i = (int)(sizeof fixed / sizeof fixed[0]) + 1; i < n; i++) {
        const char *v = valid_bodies[rnd_below(3)];
        size_t len = strlen(v);
        char tmp[512];
        memcpy(tmp, v, len + 1);
        if (i % 2) {
            add_chat_body("broken JSON", 400, tmp, 1 + rnd_below((uint32_t)len - 1));
        } else {
            size_t k;
            do
                k = rnd_below((uint32_t)len);
            while (!strchr("{}\":,", tmp[k]));
            static const char junk[] = "\x01\x7f#'`\\ ]x";
            tmp[k] = junk[rnd_below(sizeof junk - 1)];
            if (tmp[k] == ' ' && (k == 0 || k == len - 1))
                tmp[k] = '#'; /* a blank at either end would leave it valid */
            add_chat_body("broken JSON", 400, tmp, len);
        }
    }
}

static void gen_wrong_types(void)
{
    static const char *const values[] = {"5", "-1.5e300", "true", "false", "[]", "[\"hi\"]",
                                         "{}", "{\"a\":\"hi\"}", "0"};
    static const char *const fields[] = {"message", "ui_lang", "session_id"};
    char body[256];
    for (size_t f = 0; f < 3; f++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            if (f == 0)
                snprintf(body, sizeof body, "{\"message\":%s,\"ui_lang\":\"ko\"}", values[v]);
            else
                snprintf(body, sizeof body, "{\"message\":\"hi\",\"%s\":%s}", fields[f],
                         values[v]);
            add_http("wrong types", 400, "POST", "/api/chat", json_ct, body, strlen(body));
        }
    static const char *const tops[] = {"[]", "[{\"message\":\"hi\"}]", "\"hi\"", "42", "null",
                                       "true", "{\"message\":null}", "{\"ui_lang\":\"ko\"}",
                                       "{\"text\":5}", "{\"text\":\"hi\",\"target\":5}",
                                       "{\"text\":\"hi\",\"target\":\"fr\"}"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        add_http("wrong types", 400, "POST", "/api/chat", json_ct, tops[i], strlen(tops[i]));
        add_http("wrong types", 400, "POST", "/api/translate", json_ct, tops[i],
                 strlen(tops[i]));
    }
    static const char *const langs[] = {"fr", "KO", "", "ko ", "kor", "en-US", "k\\u006f\\u0000"};
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++) {
        snprintf(body, sizeof body, "{\"message\":\"hi\",\"ui_lang\":\"%s\"}", langs[i]);
        add_http("wrong types", 400, "POST", "/api/chat", json_ct, body, strlen(body));
    }
    static const char *const empties[] = {"", " ", "\\t\\n", "\\u0000", "   \\r\\n  "};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        snprintf(body, sizeof body, "{\"message\":\"%s\"}", empties[i]);
        add_http("wrong types", 400, "POST", "/api/chat", json_ct, body, strlen(body));
    }
}

static void gen_invalid_utf8(int n)
{
    static const char *const bad[] = {
        "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff",
        "\xe3\x81", "\xea\xb0", "\xc3", "\xf0\x9f\x98", "\\ud800", "\\udc00", "\\ud83d x",
        "\\udfff\\ud800",
    };
    size_t nb = sizeof bad / sizeof bad[0];
    for (int i = 0; i < n; i++) {
        const char *b = bad[(size_t)i % nb];
        char body[256];
        bool in_session = i % 7 == 6;
        if (in_session)
            snprintf(body, sizeof body, "{\"message\":\"hi\",\"session_id\":\"abcd%sefgh\"}", b);
        else if (i % 3 == 0)
            snprintf(body, sizeof body, "{\"message\":\"%s\"}", b);
        else
            snprintf(body, sizeof body, "{\"message\":\"환불%s문의 %d\",\"ui_lang\":\"ko\"}", b, i);
        add_chat_body("invalid UTF-8", 400, body, strlen(body));
    }
    /* Invalid UTF-8 where JSON is not expected: the path and a resume point. */
    add_http("invalid UTF-8", 0, "GET", "/api/chat/\xff\xfe/events", "", NULL, 0);
    add_http("invalid UTF-8", 400, "GET", "/api/chat/0123456789abcdef0123456789abcdef/events",
             "Last-Event-ID: \xe3\x81\r\n", NULL, 0);
}

static void gen_overlong(void)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    /* Messages past 4000 characters: ASCII, Korean (3 bytes each), and mixed. */
    int lens[] = {4001, 4002, 4500, 6000, 12000, 20000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (int kind = 0; kind < 3; kind++) {
            buf_reset(&b);
            buf_puts(&b, kind == 2 ? "{\"text\":\"" : "{\"message\":\"");
            for (int k = 0; k < lens[i]; k++)
                buf_puts(&b, kind == 1 || (kind == 2 && k % 2) ? "가" : "a");
            buf_puts(&b, "\"}");
            int want = b.len > 64 * 1024 ? 413 : 400;
            add_http("overlong fields", want, "POST", kind == 2 ? "/api/translate" : "/api/chat",
                     json_ct, b.data, b.len);
        }
    /* Session ids too short, too long, or with characters outside [A-Za-z0-9_-]. */
    const char *sessions[] = {"a", "abcdefg", "abc def gh", "abcdefgh!", "abcdefgh/..",
                              "가나다라마바사아"};
    for (size_t i = 0; i < sizeof sessions / sizeof sessions[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"message\":\"hi\",\"session_id\":\"%s\"}", sessions[i]);
        add_http("overlong fields", 400, "POST", "/api/chat", json_ct, body, strlen(body));
        char path[128];
        snprintf(path, sizeof path, "/api/session/%s", i == 2 ? "abc%20def%20gh" : sessions[i]);
        if (i < 5)
            add_http("overlong fields", 400, "DELETE", path, "", NULL, 0);
    }
    for (int len = 65; len <= 300; len += 47) {
        buf_reset(&b);
        buf_puts(&b, "{\"message\":\"hi\",\"session_id\":\"");
        for (int k = 0; k < len; k++)
            buf_putc(&b, 'a');
        buf_puts(&b, "\"}");
        add_http("overlong fields", 400, "POST", "/api/chat", json_ct, b.data, b.len);
        char path[400];
        snprintf(path, sizeof path, "/api/session/%.*s", len, b.data + 30);
        /* 400; a path past nova-fcgi's 255 bytes is no endpoint of ours (404) */
        add_http("overlong fields", strlen(path) > 255 ? 404 : 400, "DELETE", path, "", NULL, 0);
    }
    /* Resume points: over-long, and header lines and URIs over nginx's buffers. */
    for (int len = 40; len <= 400; len += 60) {
        buf_reset(&b);
        buf_puts(&b, "Last-Event-ID: ");
        for (int k = 0; k < len; k++)
            buf_putc(&b, (char)('0' + k % 10));
        buf_puts(&b, "\r\n");
        add_http("overlong fields", 400, "GET", "/api/chat/0123456789abcdef0123456789abcdef/events",
                 b.data, NULL, 0);
        buf_reset(&b);
        buf_puts(&b, "/api/chat/0123456789abcdef0123456789abcdef/events?after=");
        for (int k = 0; k < len * 3; k++)
            buf_putc(&b, (char)('0' + k % 10));
        add_http("overlong fields", 400, "GET", b.data, "", NULL, 0);
    }
    for (int len = 9000; len <= 40000; len += 7750) {
        buf_reset(&b);
        buf_puts(&b, "X-Filler: ");
        for (int k = 0; k < len; k++)
            buf_putc(&b, 'x');
        buf_puts(&b, "\r\n");
        add_http("overlong fields", 400, "POST", "/api/chat", b.data, "{}", 2);
        buf_reset(&b);
        buf_puts(&b, "/api/chat/");
        for (int k = 0; k < len; k++)
            buf_putc(&b, 'a');
        add_http("overlong fields", 414, "GET", b.data, "", NULL, 0);
    }
    buf_free(&b);
}

static void gen_huge_bodies(int n)
{
    struct buf b;
    buf_init(&b, 4u << 20);
    for (int i = 0; i < n; i++) {
        struct bad *x;
        if (i % 3 == 0) { /* declared only: nginx answers before a byte of it */
            char h[128];
            unsigned long long len = 65537ULL + (unsigned long long)rnd() * (i + 1);
            snprintf(h, sizeof h, "%sContent-Length: %llu\r\n", json_ct, len);
            x = add_http("huge bodies", 413, "POST", i % 2 ? "/api/chat" : "/api/translate", h,
                         NULL, 0);
            (void)x;
            continue;
        }
        size_t len = 65537 + rnd_below(i % 3 == 1 ? 100 : 2u << 20);
        buf_reset(&b);
        buf_puts(&b, "{\"message\":\"");
        while (b.len + 2 < len)
            buf_putc(&b, (char)('a' + (int)(b.len % 26)));
        buf_puts(&b, "\"}");
        add_http("huge bodies", 413, "POST", "/api/chat", json_ct, b.data, b.len);
    }
    buf_free(&b);
}

/* A chunked POST of body cut into pieces. */
static struct bad *add_chunked(const char *kind, int want, const char *target, const char *body,
                               size_t len, const char *extra)
{
    struct bad *x = add(kind, want);
    buf_printf(&x->bytes, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
               "Transfer-Encoding: chunked\r\n%s\r\n", target, json_ct, extra);
    size_t off = 0;
    while (off < len) {
        size_t k = 1 + rnd_below(len - off < 300 ? (uint32_t)(len - off) : 300);
        buf_printf(&x->bytes, "%zx\r\n", k);
        buf_append(&x->bytes, body + off, k);
        buf_puts(&x->bytes, "\r\n");
        off += k;
    }
    buf_puts(&x->bytes, "0\r\n\r\n");
    return x;
}

static void gen_chunked(int n)
{
    static const char *const bad_bodies[] = {"{not json", "{\"message\":5}", "[]",
                                             "{\"message\":\"\"}", "{\"message\":\"\\ud800\"}",
                                             "{\"text\":null}"};
    int i = 0;
    for (; i < n / 2; i++) {
        const char *body = bad_bodies[(size_t)i % 6];
        add_chunked("chunked bodies", 400, i % 4 == 3 ? "/api/translate" : "/api/chat", body,
                    strlen(body), "");
    }
    /* Larger than 64 KiB in chunks. */
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_puts(&b, "{\"message\":\"");
    while (b.len < 70000)
        buf_puts(&b, "abcdefgh");
    buf_puts(&b, "\"}");
    for (int k = 0; k < 4; k++, i++)
        add_chunked("chunked bodies", 413, "/api/chat", b.data, b.len, "");
    buf_free(&b);
    /* Malformed framing, unknown codings, Content-Length beside Transfer-Encoding. */
    static const char *const frames[] = {
        "zz\r\n{}\r\n0\r\n\r\n", "-1\r\n\r\n", "5\r\n{}\r\n0\r\n\r\n",
        "2{}\r\n0\r\n\r\n", "ffffffffffffffffffff\r\nab\r\n0\r\n\r\n",
        "2\r\n{}0\r\n\r\n", "2;ext=\"unterminated\r\n{}\r\n0\r\n\r\n",
        "2\r\n{}\r\n0\r\nTrailer\r\n\r\n",
    };
    static const char *const codings[] = {"gzip", "chunked, gzip", "identity", "compress",
                                          "chunked;q=1", "x-custom", "gzip, chunked"};
    for (int k = 0; i < n; i++, k++) {
        struct bad *x = add("chunked bodies", 400);
        if (k % 3 == 0) {
            buf_printf(&x->bytes, "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                       "Transfer-Encoding: chunked\r\n\r\n%s", json_ct, frames[(size_t)k / 3 % 8]);
        } else if (k % 3 == 1) {
            buf_printf(&x->bytes, "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                       "Transfer-Encoding: %s\r\n\r\n2\r\n{}\r\n0\r\n\r\n", json_ct,
                       codings[(size_t)k / 3 % 7]);
        } else {
            buf_printf(&x->bytes, "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                       "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                       json_ct);
        }
    }
}

static void gen_methods(void)
{
    char id[33], ev[96], ca[96];
    random_hex(id, 32);
    snprintf(ev, sizeof ev, "/api/chat/%s/events", id);
    snprintf(ca, sizeof ca, "/api/chat/%s/cancel", id);
    struct {
        const char *path;
        const char *allowed[2];
    } routes[] = {
        {"/api/chat", {"POST"}},
        {ev, {"GET"}},
        {ca, {"POST"}},
        {"/api/translate", {"POST"}},
        {"/api/session/abcdefgh1234", {"DELETE"}},
        {"/api/health", {"GET", "HEAD"}},
    };
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                          "HEAD", "PROPFIND", "FOO", "TRACE", "MKCOL", "LINK"};
    for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++)
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            const char *mm = methods[m];
            if ((routes[r].allowed[0] && !strcmp(mm, routes[r].allowed[0])) ||
                (routes[r].allowed[1] && !strcmp(mm, routes[r].allowed[1])))
                continue;
            bool body = !strcmp(mm, "POST") || !strcmp(mm, "PUT") || !strcmp(mm, "PATCH");
            add_http("wrong methods", 405, mm, routes[r].path, body ? json_ct : "",
                     body ? "{}" : NULL, body ? 2 : 0);
        }
    /* Not methods at all. */
    static const char *const weird[] = {"get", "G@T", "GET\x01", "POST POST", "\xc3\xa9T"};
    for (size_t i = 0; i < sizeof weird / sizeof weird[0]; i++)
        add_http("wrong methods", 400, weird[i], "/api/chat", "", NULL, 0);
}

static void gen_content_types(void)
{
    static const char *const cts[] = {
        NULL, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/xml", "text/json", "application/jsonp", "application/json-patch+json",
        "json", "application/jso", "*/*", "application/octet-stream", "text/html;charset=utf-8",
        "application/ json", "application/json\x01",
    };
    for (size_t i = 0; i < sizeof cts / sizeof cts[0]; i++)
        for (size_t k = 0; k < 3; k++) {
            char h[160] = "";
            if (cts[i])
                snprintf(h, sizeof h, "Content-Type: %s\r\n", cts[i]);
            const char *body = valid_bodies[k];
            add_http("wrong content types", cts[i] && strchr(cts[i], '\x01') ? 0 : 415, "POST",
                     k == 2 ? "/api/translate" : "/api/chat", h, body, strlen(body));
        }
}

static void gen_paths(int n)
{
    char id[33], up[33];
    for (int i = 0; i < n; i++) {
        random_hex(id, 32);
        memcpy(up, id, 33);
        for (int k = 0; k < 32; k++)
            if (up[k] >= 'a')
                up[k] = (char)(up[k] - 32);
        up[0] = 'A';
        char path[400];
        bool events = i % 2 == 0;
        const char *act = events ? "events" : "cancel", *method = events ? "GET" : "POST";
        int want = 0; /* 400 bad id, 404 no such route or request, 405: all fine */
        switch (i % 22) {
        case 0: snprintf(path, sizeof path, "/api/chat/%.31s/%s", id, act); want = 400; break;
        case 1: snprintf(path, sizeof path, "/api/chat/%s0/%s", id, act); want = 400; break;
        case 2: snprintf(path, sizeof path, "/api/chat/%s/%s", up, act); want = 400; break;
        case 3: snprintf(path, sizeof path, "/api/chat/%s/%s/", id, act); want = 404; break;
        case 4: snprintf(path, sizeof path, "/api/chat/%s//%s", id, act); want = 0; break;
        case 5: snprintf(path, sizeof path, "/api/chat/%s%%00/%s", id, act); want = 400; break;
        case 6: snprintf(path, sizeof path, "/api/chat/%s/%s%%00", id, act); want = 400; break;
        case 7: snprintf(path, sizeof path, "/api/chat/../chat/%s/%s", id, act); want = 404; break;
        case 8: snprintf(path, sizeof path, "/api/chat/%%2e%%2e/%s", act); want = 404; break;
        case 9: snprintf(path, sizeof path, "/api/chat/%s%%2f%s", id, act); want = 404; break;
        case 10: snprintf(path, sizeof path, "/api/chat/%s/%s/../%s", id, act,
                          events ? "cancel" : "events"); want = 405; break;
        case 11: snprintf(path, sizeof path, "/api/chat/%s/%s;jsessionid=1", id, act); want = 404; break;
        case 12: snprintf(path, sizeof path, "/api/chat//%s", act); want = 404; break;
        case 13: snprintf(path, sizeof path, "/api/chat/%s/%s", id, events ? "EVENTS" : "Cancel"); want = 404; break;
        case 14: snprintf(path, sizeof path, "/api/chat/%s", id); want = 404; break;
        case 15: snprintf(path, sizeof path, "/api/chat/%s/%s/x", id, act); want = 404; break;
        case 16: snprintf(path, sizeof path, "/api/chat/%%E2%%80%%AE%s/%s", id, act); want = 400; break;
        case 17: snprintf(path, sizeof path, "/api/../api/chat/%.16s/%s", id, act); want = 400; break;
        case 18: snprintf(path, sizeof path, "/api/chat/%s/%s?after=../../etc", id, act); want = events ? 400 : 404; break;
        case 19: snprintf(path, sizeof path, "/api/chat/ %s/%s", id, act); want = 400; break;
        case 20: snprintf(path, sizeof path, "/api/../../../%s", act); want = 400; break;
        default: snprintf(path, sizeof path, "/api/chat/%s\\..\\%s", id, act); want = 0; break;
        }
        add_http("path tricks", want, method, path, "", events ? NULL : "", 0);
    }
}

static void gen_forged(int n)
{
    for (int i = 0; i < n; i++) {
        char id[33], forged[33], h[200], path[128];
        random_hex(id, 32);
        random_hex(forged, 32);
        switch (i % 6) {
        case 0: /* well-formed but unknown: a resume and a cancel find nothing */
            snprintf(path, sizeof path, "/api/chat/%s/events", id);
            add_http("forged ids", 404, "GET", path, "", NULL, 0);
            break;
        case 1:
            snprintf(path, sizeof path, "/api/chat/%s/cancel", id);
            add_http("forged ids", 404, "POST", path, "", "", 0);
            break;
        case 2: { /* our id comes from nginx, never from the client */
            snprintf(h, sizeof h, "X-Request-ID: %s\r\nRequest-Id: %s\r\nRequest_Id: %s\r\n%s",
                     forged, forged, forged, json_ct);
            struct bad *b = add_http("forged ids", 400, "POST", "/api/chat", h, "{\"message\":7}",
                                     13);
            memcpy(b->forged, forged, 33);
            break;
        }
        case 3: /* a resume point that is not an event id */
            snprintf(path, sizeof path, "/api/chat/%s/events", id);
            static const char *const pts[] = {"abc", "-1", "1-", "1--1", "1-2-3", "1 2",
                                              "99999999999999999999999-0", "0x10", ""};
            snprintf(h, sizeof h, "Last-Event-ID: %s\r\n", pts[(size_t)i / 6 % 9]);
            add_http("forged ids", pts[(size_t)i / 6 % 9][0] ? 400 : 404, "GET", path, h, NULL, 0);
            break;
        case 4:
            snprintf(path, sizeof path, "/api/chat/%s/events?after=%s", id,
                     i % 12 == 4 ? "x1" : "1-x");
            add_http("forged ids", 400, "GET", path, "", NULL, 0);
            break;
        default: /* a well-formed resume point of a request that never existed */
            snprintf(path, sizeof path, "/api/chat/%s/events", id);
            snprintf(h, sizeof h, "Last-Event-ID: %u-%u\r\n", rnd(), rnd_below(9));
            add_http("forged ids", 404, "GET", path, h, NULL, 0);
            break;
        }
    }
}

#define RAW(s) {s, sizeof s - 1}

static void gen_not_http(int n)
{
    /* (HTTP/0.9, "GET /path" alone, is left out: its answer has no status line to check.) */
    static const struct {
        const char *p;
        size_t len;
    } raw[] = {
        RAW("GET\r\n\r\n"), RAW("\x00\x01\x02\x03\r\n\r\n"),
        RAW("GET /api/chat HTTP/9.9\r\nHost: x\r\n\r\n"), RAW("GET /api/chat HTTP/1.1\r\n\r\n"),
        RAW("GET /api/chat HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        RAW("GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        RAW("POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}"),
        RAW("POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        RAW("GET /api/chat HTTP/1.1\r\nHost: x\r\nHead\x00er: 1\r\n\r\n"),
        RAW("GET http://evil.example/api/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        RAW("GET /api/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        RAW("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), /* a TLS ClientHello */
        RAW("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        RAW("GET /api/chat HTTP/1.1\r\nHost: x\r\n Folded: header\r\n\r\n"),
        RAW("GET /api/chat HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        RAW("GET /%%%%%% HTTP/1.1\r\nHost: x\r\n\r\n"),
        RAW("GET /api/chat%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
        RAW("GET /api/chat HTTP/1.1\nHost: x\n\x00\n\n"),
        RAW("POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        RAW("GET /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    };
    size_t nr = sizeof raw / sizeof raw[0];
    for (int i = 0; i < n; i++) {
        struct bad *b = add("not HTTP", 0);
        size_t k = (size_t)i % nr;
        if (i < (int)nr) {
            buf_append(&b->bytes, raw[k].p, raw[k].len);
            continue;
        }
        /* A request line of random bytes, or random bytes in a header. */
        bool line = i % 2;
        if (!line)
            buf_puts(&b->bytes, "GET /api/chat HTTP/1.1\r\nHost: x\r\nX-Junk: ");
        for (int m = 0, len = 8 + (int)rnd_below(200); m < len; m++) {
            char c = (char)(rnd() & 0xff);
            buf_putc(&b->bytes, line ? c : (c == '\r' || c == '\n' ? '\x01' : c));
        }
        if (!line) /* a header value nginx may take: then the answer is ours (405) */
            buf_putc(&b->bytes, '\x7f');
        buf_puts(&b->bytes, "\r\n\r\n");
    }
}

/* Builds the corpus for seed; count scales every class. */
static void corpus_build(uint64_t seed, int count)
{
    rng_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
    int unit = count / 10;
    gen_broken_json(unit + unit / 2);
    gen_wrong_types();
    gen_invalid_utf8(unit + unit / 4);
    gen_overlong();
    gen_huge_bodies(unit / 2);
    gen_chunked(unit);
    gen_methods();
    gen_content_types();
    gen_paths(2 * unit);
    gen_forged(unit);
    gen_not_http(unit);
}

/* ---- sending and reading ---------------------------------------------------------------- */

struct answer {
    int status;
    char ctype[96];
    struct buf body;
    bool complete;
};

/* Sends b on a fresh connection and reads the answer (headers, then Content-Length bytes or
 * chunks or up to EOF). */
static void exchange(const struct bad *b, struct answer *a)
{
    memset(a, 0, sizeof *a);
    buf_init(&a->body, 1u << 20);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    /* Send what the server takes; it may answer (413) and stop reading before the end. */
    struct buf in;
    buf_init(&in, 4u << 20);
    size_t off = 0;
    double end = now_ms() + 10000;
    char chunk[65536];
    bool eof = false;
    while (!eof && now_ms() < end) {
        struct pollfd p = {fd, POLLIN | (off < b->bytes.len ? POLLOUT : 0), 0};
        if (poll(&p, 1, 100) < 1)
            continue;
        if (p.revents & POLLOUT) {
            ssize_t k = send(fd, b->bytes.data + off, b->bytes.len - off, MSG_NOSIGNAL);
            if (k > 0)
                off += (size_t)k;
            else
                off = b->bytes.len; /* the server closed its side: read what it said */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = recv(fd, chunk, sizeof chunk, 0);
            if (k <= 0)
                eof = true;
            else
                buf_append(&in, chunk, (size_t)k);
        }
        /* Stop as soon as one whole answer is in (nginx lingers on a body it refused). */
        const char *hend = in.len ? strstr(buf_cstr(&in), "\r\n\r\n") : NULL;
        if (!hend)
            continue;
        size_t hlen = (size_t)(hend - in.data) + 4;
        if (!a->status) {
            sscanf(in.data, "HTTP/1.%*c %d", &a->status);
            const char *ct = strcasestr(in.data, "\r\nContent-Type:");
            if (ct && ct < hend)
                sscanf(ct + 15, " %95[^\r]", a->ctype);
        }
        const char *cl = strcasestr(in.data, "\r\nContent-Length:");
        bool chunked = strcasestr(in.data, "\r\nTransfer-Encoding: chunked") != NULL &&
                       strcasestr(in.data, "\r\nTransfer-Encoding: chunked") < hend;
        if (b->head) {
            a->complete = true;
            break;
        }
        if (cl && cl < hend) {
            size_t want = strtoul(cl + 17, NULL, 10);
            if (in.len - hlen >= want) {
                buf_append(&a->body, in.data + hlen, want);
                a->complete = true;
                break;
            }
        } else if (chunked) {
            const char *c = in.data + hlen, *stop = in.data + in.len;
            buf_reset(&a->body);
            while (c < stop) {
                char *q;
                unsigned long n = strtoul(c, &q, 16);
                if (q == c || q + 2 > stop)
                    break;
                if (n == 0) {
                    a->complete = true;
                    break;
                }
                if (q + 2 + n + 2 > stop)
                    break;
                buf_append(&a->body, q + 2, n);
                c = q + 2 + n + 2;
            }
            if (a->complete)
                break;
        }
    }
    if (!a->complete && eof && a->status) { /* no length: the body is everything after */
        const char *hend = strstr(buf_cstr(&in), "\r\n\r\n");
        buf_append(&a->body, hend + 4, in.len - (size_t)(hend + 4 - in.data));
        a->complete = true;
    }
    buf_free(&in);
    close(fd);
}

static const char *const documented[] = {"bad_request", "method_not_allowed", "not_found",
                                         "payload_too_large", "unsupported_media_type", NULL};

/* The answer as the contract wants it; why not in why. */
static bool answer_ok(const struct bad *b, const struct answer *a, char *why, size_t n)
{
    if (!a->complete || !a->status) {
        snprintf(why, n, "no whole answer (status %d)", a->status);
        return false;
    }
    if (a->status < 400 || a->status > 499 || (b->want && a->status != b->want)) {
        snprintf(why, n, "status %d, want %d: %.120s", a->status, b->want ? b->want : 400,
                 buf_cstr(&a->body));
        return false;
    }
    if (strncmp(a->ctype, "application/json", 16) != 0) {
        snprintf(why, n, "%d with Content-Type \"%s\"", a->status, a->ctype);
        return false;
    }
    if (b->head)
        return true;
    json_object *o = json_tokener_parse(buf_cstr(&a->body)), *e = jget(o, "error");
    const char *code = jstr(e, "code"), *msg = jstr(e, "message"), *rid = jstr(e, "request_id");
    bool known = false;
    for (size_t i = 0; code && documented[i]; i++)
        known |= strcmp(code, documented[i]) == 0;
    bool ok = known && msg && *msg && rid && strlen(rid) == 32 &&
              strspn(rid, "0123456789abcdef") == 32 && (!b->forged[0] || strcmp(rid, b->forged));
    if (!ok)
        snprintf(why, n, "%d body %.160s", a->status, buf_cstr(&a->body));
    if (o)
        json_object_put(o);
    return ok;
}

/* The first bytes of a request, control bytes escaped, for a failure message. */
static const char *shown_bytes(const struct bad *b)
{
    static char out[400];
    size_t o = 0;
    for (size_t i = 0; i < b->bytes.len && o + 5 < sizeof out && i < 160; i++) {
        unsigned char c = (unsigned char)b->bytes.data[i];
        if (c == '\r')
            continue;
        if (c == '\n')
            out[o++] = '|';
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* ---- the tests -------------------------------------------------------------------------- */

struct watched {
    pid_t master, kids[16], workers[3];
    size_t n_kids;
};

static void watch(struct watched *w)
{
    w->master = read_pid_file(run_dir, "nova-fcgi");
    w->n_kids = proc_children(w->master, w->kids, 16);
    const char *names[] = {"nova-worker-micro", "nova-worker-pro", "nova-worker-kb"};
    for (int i = 0; i < 3; i++)
        w->workers[i] = read_pid_file(run_dir, names[i]);
}

static struct watched before;
static uint64_t seed = 7;
static int count = 1000;

static void test_corpus_gets_4xx_json(void)
{
    watch(&before);
    CHECK(before.master > 0 && before.n_kids >= 1);
    long calls0 = simstats_get(sim_url, "converse_stream") + simstats_get(sim_url, "converse");
    corpus_build(seed, count);
    printf("  corpus: %zu requests (seed %llu)\n", n_corpus, (unsigned long long)seed);
    CHECK(n_corpus >= 1000 || count < 1000);
    const char *kinds[16] = {0};
    int sent[16] = {0}, good[16] = {0}, nk = 0, status_hist[600] = {0}, shown = 0;
    double t0 = now_ms();
    for (size_t i = 0; i < n_corpus; i++) {
        struct bad *b = &corpus[i];
        int k = 0;
        while (k < nk && strcmp(kinds[k], b->kind) != 0)
            k++;
        if (k == nk)
            kinds[nk++] = b->kind;
        struct answer a;
        double t1 = now_ms();
        exchange(b, &a);
        if (now_ms() - t1 > 500)
            fprintf(stderr, "  slow (%.0f ms): [%s #%zu] %s\n", now_ms() - t1, b->kind, i,
                    shown_bytes(b));
        char why[300];
        bool ok = answer_ok(b, &a, why, sizeof why);
        sent[k]++;
        good[k] += ok;
        if (a.status > 0 && a.status < 600)
            status_hist[a.status]++;
        if (!ok && shown++ < 400)
            fprintf(stderr, "  [%s #%zu] %s → %s\n", b->kind, i, shown_bytes(b), why);
        buf_free(&a.body);
    }
    double took = now_ms() - t0;
    int total = 0, total_good = 0;
    for (int k = 0; k < nk; k++) {
        printf("  %-20s %4d sent, %4d answered as documented\n", kinds[k], sent[k], good[k]);
        total += sent[k];
        total_good += good[k];
    }
    printf("  statuses:");
    for (int s = 0; s < 600; s++)
        if (status_hist[s])
            printf(" %d×%d", s, status_hist[s]);
    printf("\n  %d of %d as documented in %.1f s\n", total_good, total, took / 1000);
    CHECK(total_good == total);
    long calls = simstats_get(sim_url, "converse_stream") + simstats_get(sim_url, "converse") -
                 calls0;
    CHECK(calls == 0); /* none of it reached a model */
    for (size_t i = 0; i < n_corpus; i++)
        buf_free(&corpus[i].bytes);
    free(corpus);
}

static void test_still_serving_same_processes(void)
{
    struct stream *s = chat_new_on(base_url, "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=30", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    CHECK(s->status == 200 && c.done_last && c.n_done == 1 && c.n_errors == 0 && c.n_ms == 2);
    if (test_cur_failures)
        stream_dump("chat after the corpus", s);
    chat_free(&c);
    stream_free(s);
    struct watched after;
    watch(&after);
    bool same = after.master == before.master && after.n_kids == before.n_kids;
    for (size_t i = 0; same && i < after.n_kids; i++)
        same = after.kids[i] == before.kids[i];
    for (int i = 0; i < 3; i++)
        same &= after.workers[i] == before.workers[i] && proc_alive(after.workers[i]);
    printf("  after the corpus: a chat answered whole; nova-fcgi master %d and its %zu children, "
           "workers %d %d %d: %s\n", (int)after.master, after.n_kids, (int)after.workers[0],
           (int)after.workers[1], (int)after.workers[2],
           same ? "same processes" : "SOMETHING RESTARTED");
    CHECK(same && proc_alive(after.master));
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    if (!base_url || !run_dir || !sim_url) {
        fprintf(stderr, "test_badinput: run it through tests/integration/badinput.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (getenv("BADINPUT_SEED"))
        seed = strtoull(getenv("BADINPUT_SEED"), NULL, 10);
    if (getenv("BADINPUT_COUNT"))
        count = atoi(getenv("BADINPUT_COUNT"));
    const char *colon = strrchr(base_url, ':');
    port = colon ? atoi(colon + 1) : 0;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    RUN(test_corpus_gets_4xx_json);
    RUN(test_still_serving_same_processes);

    curl_global_cleanup();
    return test_summary();
}
