/* test_httpmsg: tests/lib/httpmsg.c, the request parser of our own servers: whole requests,
 * every prefix of one, pipelining, each refusal status, header lookup and keep-alive rules.
 * Inputs are copied into exactly-sized heap blocks so ASan sees any read past the end. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "httpmsg.h"
#include "test.h"

static const struct http_limits limits = {4096, 65536};

/* A parse of a private, exactly-sized copy; the request points into copy. */
struct parsed {
    char *copy;
    struct http_request req;
    long rc;
    char err[128];
};

static void parse_bytes(struct parsed *p, const char *s, size_t n, const struct http_limits *lim)
{
    p->copy = xmalloc(n ? n : 1);
    if (n)
        memcpy(p->copy, s, n);
    p->err[0] = '\0';
    p->rc = http_request_parse(p->copy, n, lim, &p->req, p->err, sizeof p->err);
}

static void parse_str(struct parsed *p, const char *s)
{
    parse_bytes(p, s, strlen(s), &limits);
}

static void parsed_free(struct parsed *p)
{
    free(p->copy);
    p->copy = NULL;
}

static const char post_req[] = "POST /model/amazon.nova-micro-v1%3A0/converse?x=1&y=2 HTTP/1.1\r\n"
                               "Host: localhost:8080\r\n"
                               "Content-Type:  application/json \t\r\n"
                               "X-Empty:\r\n"
                               "Content-Length: 11\r\n"
                               "\r\n"
                               "{\"a\":\"bc\"}\n";

static void complete_request(void)
{
    struct parsed p;
    parse_str(&p, post_req);
    CHECK(p.rc == (long)strlen(post_req));
    CHECK(http_span_eq(p.req.method, "POST"));
    CHECK(http_span_eq(p.req.target, "/model/amazon.nova-micro-v1%3A0/converse?x=1&y=2"));
    CHECK(http_span_eq(p.req.path, "/model/amazon.nova-micro-v1%3A0/converse"));
    CHECK(http_span_eq(p.req.query, "x=1&y=2"));
    CHECK(p.req.minor_version == 1);
    CHECK(p.req.n_headers == 4);
    CHECK(http_span_eq(p.req.names[1], "Content-Type"));
    CHECK(http_span_eq(p.req.values[1], "application/json"));
    CHECK(http_span_eq(p.req.values[2], ""));
    CHECK(p.req.content_length == 11);
    CHECK(http_span_eq(p.req.body, "{\"a\":\"bc\"}\n"));
    CHECK(p.req.header_len == strlen(post_req) - 11);
    CHECK(p.req.keep_alive);
    CHECK(!p.req.expect_continue);
    CHECK(p.err[0] == '\0');
    parsed_free(&p);

    parse_str(&p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(p.rc == 27);
    CHECK(p.req.query.len == 0 && p.req.body.len == 0);
    CHECK(http_span_eq(p.req.path, "/"));
    parsed_free(&p);
}

static void partial_every_split(void)
{
    size_t total = strlen(post_req), header_len = total - 11;
    for (size_t n = 0; n < total; n++) {
        struct parsed p;
        parse_bytes(&p, post_req, n, &limits);
        CHECK(p.rc == 0);
        /* Once the blank line is in, the headers are reported while the body is awaited. */
        CHECK(p.req.header_len == (n >= header_len ? header_len : 0));
        if (p.rc != 0)
            fprintf(stderr, "  prefix %zu: rc %ld (%s)\n", n, p.rc, p.err);
        parsed_free(&p);
    }
    struct parsed p;
    parse_bytes(&p, post_req, total, &limits);
    CHECK(p.rc == (long)total);
    parsed_free(&p);
}

static void pipelined(void)
{
#define SECOND "GET /b?c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    static const char two[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" SECOND
                              "GET /partial HTT";
    struct parsed p;
    parse_str(&p, two);
    CHECK(p.rc > 0);
    CHECK(http_span_eq(p.req.body, "abc"));
    CHECK(p.req.keep_alive);
    long first = p.rc;
    parsed_free(&p);
    parse_bytes(&p, two + first, strlen(two) - (size_t)first, &limits);
    CHECK(p.rc == (long)strlen(SECOND));
#undef SECOND
    CHECK(http_span_eq(p.req.method, "GET") && http_span_eq(p.req.path, "/b"));
    CHECK(http_span_eq(p.req.query, "c"));
    CHECK(!p.req.keep_alive);
    long second = p.rc;
    parsed_free(&p);
    parse_bytes(&p, two + first + second, strlen(two) - (size_t)(first + second), &limits);
    CHECK(p.rc == 0);
    parsed_free(&p);
}

static void error_statuses(void)
{
    static const struct {
        const char *raw;
        long want;
    } cases[] = {
        {"GET / HTTP/1.1\nHost: a\n\n", -400},                       /* bare LF */
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", -400},      /* obs-fold */
        {"GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost a\r\n\r\n", -400},                  /* no ':' */
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400},                /* blank before ':' */
        {"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", -400},              /* bare CR */
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400},
        {"GET / FTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET x HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\n\r\n", -400},                            /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", -505},
        {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", -501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", -411},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         -411},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", -413},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
         -413},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct parsed p;
        parse_str(&p, cases[i].raw);
        if (p.rc != cases[i].want)
            fprintf(stderr, "  case %zu: rc %ld, want %ld (%s)\n", i, p.rc, cases[i].want, p.err);
        CHECK(p.rc == cases[i].want);
        CHECK(p.err[0] != '\0');
        parsed_free(&p);
    }

    /* A NUL inside a header value. */
    static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    struct parsed p;
    parse_bytes(&p, nul, sizeof nul - 1, &limits);
    CHECK(p.rc == -400);
    parsed_free(&p);
    /* Exactly at the body limit is fine. */
    parse_str(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n");
    CHECK(p.rc == 0 && p.req.content_length == 65536);
    parsed_free(&p);
}

/* A GET with Host plus extra header fields, n_headers in all. */
static void build_headers(struct buf *b, int n_headers)
{
    buf_reset(b);
    buf_puts(b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < n_headers; i++)
        buf_printf(b, "X-H%d: %d\r\n", i, i);
    buf_puts(b, "\r\n");
}

static void header_limits(void)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    struct parsed p;
    build_headers(&b, HTTP_MAX_HEADERS);
    parse_bytes(&p, b.data, b.len, &limits);
    CHECK(p.rc == (long)b.len && p.req.n_headers == HTTP_MAX_HEADERS);
    parsed_free(&p);
    build_headers(&b, HTTP_MAX_HEADERS + 1);
    parse_bytes(&p, b.data, b.len, &limits);
    CHECK(p.rc == -431);
    parsed_free(&p);

    /* Header bytes: a request of exactly max_header_bytes passes, one more byte is 431, and so
     * is an unfinished header section that already fills the limit. */
    buf_reset(&b);
    buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    size_t pad = 200 - b.len - 4;
    for (size_t i = 0; i < pad; i++)
        buf_putc(&b, 'p');
    buf_puts(&b, "\r\n\r\n");
    struct http_limits small = {200, 10};
    parse_bytes(&p, b.data, b.len, &small);
    CHECK(b.len == 200 && p.rc == 200);
    parsed_free(&p);
    small.max_header_bytes = 199;
    parse_bytes(&p, b.data, b.len, &small);
    CHECK(p.rc == -431);
    parsed_free(&p);
    parse_bytes(&p, b.data, 199, &small);
    CHECK(p.rc == -431);
    parsed_free(&p);
    parse_bytes(&p, b.data, 198, &small);
    CHECK(p.rc == 0);
    parsed_free(&p);
    buf_free(&b);

    /* No limits given: the defaults apply. */
    p.copy = NULL;
    p.rc = http_request_parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, NULL, &p.req, NULL, 0);
    CHECK(p.rc == 27);
}

static void header_lookup(void)
{
    struct parsed p;
    parse_str(&p, post_req);
    const struct http_span *ct = http_request_header(&p.req, "content-TYPE");
    CHECK(ct && http_span_eq(*ct, "application/json"));
    CHECK(http_request_header(&p.req, "CONTENT-LENGTH") != NULL);
    CHECK(http_request_header(&p.req, "content") == NULL);
    CHECK(http_request_header(&p.req, "content-type2") == NULL);
    CHECK(http_span_ieq(p.req.names[0], "HOST"));
    CHECK(!http_span_eq(p.req.names[0], "host"));
    CHECK(http_span_eq((struct http_span){NULL, 0}, ""));
    CHECK(!http_span_ieq((struct http_span){"ab", 2}, "abc"));
    parsed_free(&p);
}

/* keep_alive for one request text. */
static int keep_alive_of(const char *raw)
{
    struct parsed p;
    parse_str(&p, raw);
    int ka = p.rc > 0 ? p.req.keep_alive : -1;
    parsed_free(&p);
    return ka;
}

static void keep_alive_rules(void)
{
    CHECK(keep_alive_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 1);
    CHECK(keep_alive_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") == 0);
    CHECK(keep_alive_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n") == 0);
    CHECK(keep_alive_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")
          == 0);
    CHECK(keep_alive_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                        "Connection: close\r\n\r\n") == 0);
    CHECK(keep_alive_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n") == 1);
    CHECK(keep_alive_of("GET / HTTP/1.0\r\n\r\n") == 0);
    CHECK(keep_alive_of("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == 1);
    CHECK(keep_alive_of("GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n") == 0);
}

static void expect_continue(void)
{
    static const char raw[] = "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                              "Content-Length: 5\r\n\r\n";
    struct parsed p;
    parse_str(&p, raw);
    CHECK(p.rc == 0);
    CHECK(p.req.header_len == strlen(raw));
    CHECK(p.req.expect_continue);
    CHECK(p.req.content_length == 5);
    parsed_free(&p);
    parse_str(&p, "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(p.rc > 0 && !p.req.expect_continue);
    parsed_free(&p);
}

static void status_reasons(void)
{
    CHECK_STR_EQ(http_status_reason(200), "OK");
    CHECK_STR_EQ(http_status_reason(100), "Continue");
    CHECK_STR_EQ(http_status_reason(403), "Forbidden");
    CHECK_STR_EQ(http_status_reason(411), "Length Required");
    CHECK_STR_EQ(http_status_reason(424), "Failed Dependency");
    CHECK_STR_EQ(http_status_reason(431), "Request Header Fields Too Large");
    CHECK_STR_EQ(http_status_reason(505), "HTTP Version Not Supported");
    CHECK_STR_EQ(http_status_reason(299), "Unknown");
    static const int codes[] = {100, 200, 204, 400, 401, 403, 404, 405, 408, 411, 413,
                                415, 424, 429, 431, 500, 501, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        CHECK(strcmp(http_status_reason(codes[i]), "Unknown") != 0);
}

int main(void)
{
    RUN(complete_request);
    RUN(partial_every_split);
    RUN(pipelined);
    RUN(error_statuses);
    RUN(header_limits);
    RUN(header_lookup);
    RUN(keep_alive_rules);
    RUN(expect_continue);
    RUN(status_reasons);
    return test_summary();
}
