/* fuzz_httpmsg: http_request_parse on arbitrary bytes, with small limits so the 431/413 edges
 * are near. Every span a parse returns is read byte by byte, so ASan reports one that points
 * outside the input; and the results must agree with each other: a failure names a known
 * status, a whole request parses the same from a buffer cut right after it, any shorter
 * prefix of it is "need more", and pipelined requests after it parse in turn. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "httpmsg.h"

static volatile unsigned fuzz_sink;

/* Reads every byte of s, after checking it lies inside [base, base + len). */
static void fuzz_touch_span(struct http_span s, const char *base, size_t len)
{
    if (s.len == 0)
        return;
    uintptr_t p = (uintptr_t)s.p, b = (uintptr_t)base;
    if (p < b || s.len > len || p - b > len - s.len)
        abort();
    for (size_t i = 0; i < s.len; i++)
        fuzz_sink += (unsigned char)s.p[i];
}

static void fuzz_touch_request(const struct http_request *r, const char *base, size_t len)
{
    fuzz_touch_span(r->method, base, len);
    fuzz_touch_span(r->target, base, len);
    fuzz_touch_span(r->path, base, len);
    fuzz_touch_span(r->query, base, len);
    fuzz_touch_span(r->body, base, len);
    if (r->n_headers > HTTP_MAX_HEADERS)
        abort();
    for (size_t i = 0; i < r->n_headers; i++) {
        fuzz_touch_span(r->names[i], base, len);
        fuzz_touch_span(r->values[i], base, len);
    }
    const struct http_span *h = http_request_header(r, "content-length");
    if (h)
        fuzz_touch_span(*h, base, len);
}

/* A request that parsed whole from a longer buffer must parse the same when the buffer ends
 * right after it, and every shorter cut must ask for more. The copies are exactly sized. */
static void fuzz_check_cut(const char *p, size_t n, const struct http_limits *lim)
{
    struct http_request r;
    char err[128];
    char *copy = xmalloc(n);
    memcpy(copy, p, n);
    if (http_request_parse(copy, n, lim, &r, err, sizeof err) != (long)n)
        abort();
    fuzz_touch_request(&r, copy, n);
    if (http_request_parse(copy, n - 1, lim, &r, err, sizeof err) != 0)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int allowed[] = {400, 411, 413, 431, 501, 505};
    const struct http_limits lim = {512, 1024};
    const char *in = (const char *)data;
    size_t off = 0;
    for (int round = 0; round < 4 && off < size; round++) {
        struct http_request r;
        char err[128] = "";
        long rc = http_request_parse(in + off, size - off, &lim, &r, err, sizeof err);
        if (rc < 0) {
            bool known = false;
            for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
                known = known || -rc == allowed[i];
            if (!known || err[0] == '\0' || strlen(err) >= sizeof err)
                abort();
            return 0;
        }
        if (r.header_len > lim.max_header_bytes || r.header_len > size - off)
            abort();
        fuzz_touch_request(&r, in + off, size - off);
        if (rc == 0)
            return 0;
        if ((size_t)rc > size - off || (size_t)rc != r.header_len + r.content_length ||
            r.content_length > lim.max_body_bytes)
            abort();
        fuzz_check_cut(in + off, (size_t)rc, &lim);
        off += (size_t)rc;
    }
    return 0;
}
