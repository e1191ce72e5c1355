/* httpmsg: an HTTP/1.1 request parser without I/O (see httpmsg.h).
 *
 * Stateless: each call parses from the first byte again, so a connection just calls it after
 * every read until it stops returning 0. Header bytes are capped before any line is looked
 * for, so the work per call is bounded by the caller's limits. Strict where laxness enables
 * request smuggling or header injection (bare LF, bare CR, obs-fold, two Content-Lengths,
 * Transfer-Encoding); the servers using this only ever talk to our own clients and curl. */
#include "httpmsg.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HTTP_DEFAULT_MAX_HEADER_BYTES 16384
#define HTTP_DEFAULT_MAX_BODY_BYTES (1024 * 1024)

static long http_fail(int status, char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records why, and returns the negated status the header promises. */
static long http_fail(int status, char *errstr, size_t errlen, const char *fmt, ...)
{
    if (errstr && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errlen, fmt, ap);
        va_end(ap);
    }
    return -(long)status;
}

static int http_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* RFC 9110 token characters: methods and header names. */
static bool http_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Field values: visible ASCII, blanks and obs-text. No CR, LF, NUL or other controls: a value
 * must not be able to end a line (or a C string) early. */
static bool http_is_field_char(unsigned char c)
{
    return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

static bool http_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static struct http_span http_trim(struct http_span s)
{
    while (s.len && http_is_blank(s.p[0]))
        s.p++, s.len--;
    while (s.len && http_is_blank(s.p[s.len - 1]))
        s.len--;
    return s;
}

bool http_span_eq(struct http_span a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

bool http_span_ieq(struct http_span a, const char *s)
{
    size_t n = strlen(s);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (http_lower((unsigned char)a.p[i]) != http_lower((unsigned char)s[i]))
            return false;
    return true;
}

const struct http_span *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (http_span_ieq(req->names[i], name))
            return &req->values[i];
    return NULL;
}

static size_t http_count_header(const struct http_request *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        n += http_span_ieq(req->names[i], name);
    return n;
}

/* Methods RFC 9110 and RFC 5789 define; anything else is answered 501. */
static bool http_is_known_method(struct http_span m)
{
    static const char *const known[] = {"GET",     "HEAD",  "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (http_span_eq(m, known[i]))
            return true;
    return false;
}

/* "METHOD SP target SP HTTP/1.x", exactly one space between the parts. */
static long http_parse_request_line(struct http_span line, struct http_request *req,
                                    char *errstr, size_t errlen)
{
    const char *p = line.p, *end = line.p + line.len;
    const char *m = p;
    while (p < end && http_is_tchar((unsigned char)*p))
        p++;
    if (p == m || p == end || *p != ' ')
        return http_fail(400, errstr, errlen, "malformed request line (method)");
    req->method = (struct http_span){m, (size_t)(p - m)};
    const char *t = ++p;
    /* Bytes >= 0x80 are let through: the AWS SigV4 suite sends raw UTF-8 paths. */
    while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f)
        p++;
    if (p == t || p == end || *p != ' ')
        return http_fail(400, errstr, errlen, "malformed request line (target)");
    req->target = (struct http_span){t, (size_t)(p - t)};
    struct http_span version = {p + 1, (size_t)(end - p - 1)};

    if (http_span_eq(version, "HTTP/1.1"))
        req->minor_version = 1;
    else if (http_span_eq(version, "HTTP/1.0"))
        req->minor_version = 0;
    else if (version.len == 8 && memcmp(version.p, "HTTP/", 5) == 0 &&
             version.p[5] >= '0' && version.p[5] <= '9' && version.p[6] == '.' &&
             version.p[7] >= '0' && version.p[7] <= '9')
        return http_fail(505, errstr, errlen, "HTTP version %.8s not supported", version.p);
    else
        return http_fail(400, errstr, errlen, "malformed request line (version)");
    if (!http_is_known_method(req->method))
        return http_fail(501, errstr, errlen, "method %.*s is not supported",
                         (int)(req->method.len < 32 ? req->method.len : 32), req->method.p);
    /* Origin form ("/path?query") or "*"; our servers are nobody's proxy. */
    if (t[0] != '/' && !http_span_eq(req->target, "*"))
        return http_fail(400, errstr, errlen, "request target must start with '/'");
    const char *q = memchr(t, '?', req->target.len);
    const char *tend = t + req->target.len;
    req->path = (struct http_span){t, (size_t)((q ? q : tend) - t)};
    req->query = q ? (struct http_span){q + 1, (size_t)(tend - q - 1)}
                   : (struct http_span){tend, 0};
    return 0;
}

/* "Name: value" with optional blanks around the value. */
static long http_parse_header_line(struct http_span line, struct http_request *req,
                                   char *errstr, size_t errlen)
{
    if (http_is_blank(line.p[0]))
        return http_fail(400, errstr, errlen, "obsolete line folding is not accepted");
    const char *colon = memchr(line.p, ':', line.len);
    if (!colon)
        return http_fail(400, errstr, errlen, "header line without ':'");
    struct http_span name = {line.p, (size_t)(colon - line.p)};
    if (name.len == 0)
        return http_fail(400, errstr, errlen, "empty header name");
    for (size_t i = 0; i < name.len; i++)
        if (!http_is_tchar((unsigned char)name.p[i]))
            return http_fail(400, errstr, errlen, "invalid character in header name");
    struct http_span value = {colon + 1, (size_t)(line.p + line.len - colon - 1)};
    for (size_t i = 0; i < value.len; i++)
        if (!http_is_field_char((unsigned char)value.p[i]))
            return http_fail(400, errstr, errlen, "invalid character in header %.*s",
                             (int)(name.len < 64 ? name.len : 64), name.p);
    if (req->n_headers == HTTP_MAX_HEADERS)
        return http_fail(431, errstr, errlen, "more than %d header fields", HTTP_MAX_HEADERS);
    req->names[req->n_headers] = name;
    req->values[req->n_headers] = http_trim(value);
    req->n_headers++;
    return 0;
}

/* Content-Length: one value, digits only, at most max_body. */
static long http_parse_content_length(struct http_request *req, size_t max_body, char *errstr,
                                      size_t errlen)
{
    size_t count = http_count_header(req, "content-length");
    if (count == 0)
        return 0;
    const struct http_span *v = http_request_header(req, "content-length");
    if (count > 1 || v->len == 0)
        return http_fail(400, errstr, errlen, "Content-Length must be given once, as digits");
    for (size_t i = 0; i < v->len; i++)
        if (v->p[i] < '0' || v->p[i] > '9')
            return http_fail(400, errstr, errlen, "Content-Length must be given once, as "
                                                  "digits");
    size_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        size_t d = (size_t)(v->p[i] - '0');
        if (d > max_body || n > (max_body - d) / 10) /* n * 10 + d would pass max_body */
            return http_fail(413, errstr, errlen, "body larger than %zu bytes", max_body);
        n = n * 10 + d;
    }
    req->content_length = n;
    return 0;
}

/* Connection: close wins; HTTP/1.0 keeps the connection only when asked with keep-alive. */
static void http_apply_connection(struct http_request *req)
{
    bool close = false, keep = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!http_span_ieq(req->names[i], "connection"))
            continue;
        const char *p = req->values[i].p, *end = p + req->values[i].len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            struct http_span opt = http_trim((struct http_span){p, (size_t)(stop - p)});
            close = close || http_span_ieq(opt, "close");
            keep = keep || http_span_ieq(opt, "keep-alive");
            p = comma ? comma + 1 : end;
        }
    }
    req->keep_alive = !close && (req->minor_version == 1 || keep);
}

/* What the headers mean for framing and the connection, once all of them are in. */
static long http_apply_headers(struct http_request *req, size_t max_body, char *errstr,
                               size_t errlen)
{
    size_t hosts = http_count_header(req, "host");
    if (hosts > 1 || (hosts == 0 && req->minor_version == 1))
        return http_fail(400, errstr, errlen, "HTTP/1.1 requests need exactly one Host");
    /* Checked before Content-Length: both together is the classic smuggling shape. */
    if (http_request_header(req, "transfer-encoding"))
        return http_fail(411, errstr, errlen, "Transfer-Encoding request bodies are not "
                                              "accepted; send Content-Length");
    long rc = http_parse_content_length(req, max_body, errstr, errlen);
    if (rc < 0)
        return rc;
    http_apply_connection(req);
    const struct http_span *expect = http_request_header(req, "expect");
    req->expect_continue = expect && http_span_ieq(*expect, "100-continue");
    return 0;
}

long http_request_parse(const char *data, size_t len, const struct http_limits *lim,
                        struct http_request *req, char *errstr, size_t errlen)
{
    memset(req, 0, sizeof *req);
    if (errstr && errlen)
        errstr[0] = '\0';
    size_t max_hdr = lim ? lim->max_header_bytes : HTTP_DEFAULT_MAX_HEADER_BYTES;
    size_t max_body = lim ? lim->max_body_bytes : HTTP_DEFAULT_MAX_BODY_BYTES;
    /* Lines are only looked for inside the allowed header bytes. */
    size_t scan = len < max_hdr ? len : max_hdr;
    size_t pos = 0;
    bool have_request_line = false;
    for (;;) {
        const char *nl = pos < scan ? memchr(data + pos, '\n', scan - pos) : NULL;
        if (!nl) {
            if (len >= max_hdr)
                return http_fail(431, errstr, errlen, "request headers longer than %zu bytes",
                                 max_hdr);
            memset(req, 0, sizeof *req);
            return 0;
        }
        size_t eol = (size_t)(nl - data);
        if (eol == pos || data[eol - 1] != '\r')
            return http_fail(400, errstr, errlen, "line not terminated by CRLF");
        struct http_span line = {data + pos, eol - 1 - pos};
        pos = eol + 1;
        long rc;
        if (!have_request_line) {
            rc = http_parse_request_line(line, req, errstr, errlen);
            have_request_line = true;
        } else if (line.len == 0) {
            break;
        } else {
            rc = http_parse_header_line(line, req, errstr, errlen);
        }
        if (rc < 0)
            return rc;
    }
    req->header_len = pos;
    long rc = http_apply_headers(req, max_body, errstr, errlen);
    if (rc < 0)
        return rc;
    if (req->content_length > (size_t)LONG_MAX - pos)
        return http_fail(413, errstr, errlen, "request too large");
    if (len - pos < req->content_length)
        return 0;
    req->body = (struct http_span){data + pos, req->content_length};
    return (long)(pos + req->content_length);
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 424: return "Failed Dependency";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
