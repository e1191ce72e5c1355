/* httpmsg: an HTTP/1.1 request parser for the project's own small servers (the Bedrock
 * simulator, loopback test servers). No I/O: it looks at the bytes a connection has read so far
 * and says "need more", "here is a whole request of n bytes", or "reject with status S".
 * Bodies are framed by Content-Length only; a chunked request body is refused with 411.
 * The request points into the caller's bytes: keep them unchanged while using it. */
#ifndef NOVA_HTTPMSG_H
#define NOVA_HTTPMSG_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADERS 64

struct http_span {
    const char *p;
    size_t len;
};

struct http_request {
    struct http_span method;
    struct http_span target;   /* as sent: path plus optional "?query" */
    struct http_span path;     /* target up to '?' */
    struct http_span query;    /* after '?', len 0 when none */
    int minor_version;         /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    struct http_span names[HTTP_MAX_HEADERS];
    struct http_span values[HTTP_MAX_HEADERS]; /* leading/trailing blanks trimmed */
    size_t n_headers;
    struct http_span body;
    size_t content_length;
    bool keep_alive;           /* HTTP/1.1 default unless "Connection: close"; 1.0 only if asked */
    bool expect_continue;      /* "Expect: 100-continue" */
    size_t header_len;         /* bytes of request line + headers + blank line */
};

struct http_limits {
    size_t max_header_bytes;   /* request line + headers; over it: 431 */
    size_t max_body_bytes;     /* over it: 413 */
};

/* Parses the request at the start of data[0..len).
 * Returns > 0: a whole request of that many bytes is in *req;
 *         0: incomplete, read more (if the headers are complete, req->header_len is set and
 *            req->expect_continue tells whether to send "100 Continue");
 *        < 0: malformed; -status is the HTTP status to answer (400, 411, 413, 431, 501, 505),
 *            with a reason in errstr. */
long http_request_parse(const char *data, size_t len, const struct http_limits *lim,
                        struct http_request *req, char *errstr, size_t errlen);

/* Case-insensitive header lookup; NULL when absent. */
const struct http_span *http_request_header(const struct http_request *req, const char *name);

/* True when the span equals s (case-sensitive / case-insensitive). */
bool http_span_eq(struct http_span a, const char *s);
bool http_span_ieq(struct http_span a, const char *s);

/* The standard reason phrase for a status code ("OK", "Forbidden", ...; "Unknown" otherwise). */
const char *http_status_reason(int status);

#endif
