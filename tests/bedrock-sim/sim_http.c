/* sim_http: response writing for the simulator (see sim_http.h). */
#include "sim_http.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "httpmsg.h"
#include "sim_util.h"

#define HEAD_MAX 8192

static void put_head(struct buf *b, struct sim_conn *c, int status, const char *content_type,
                     const char *request_id, const char *extra)
{
    buf_printf(b, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
    if (content_type)
        buf_printf(b, "Content-Type: %s\r\n", content_type);
    if (request_id && request_id[0])
        buf_printf(b, "x-amzn-RequestId: %s\r\n", request_id);
    if (extra)
        buf_puts(b, extra);
    buf_puts(b, sim_conn_keep_alive(c) ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
}

int sim_http_respond(struct sim_conn *c, int status, const char *content_type,
                     const char *request_id, const char *extra_headers, const void *body,
                     size_t len)
{
    struct buf b;
    buf_init(&b, HEAD_MAX);
    put_head(&b, c, status, content_type, request_id, extra_headers);
    buf_printf(&b, "Content-Length: %zu\r\n\r\n", len);
    int rc = sim_conn_write(c, b.data, b.len);
    buf_free(&b);
    return rc < 0 ? -1 : sim_conn_write(c, body, len);
}

int sim_http_aws_error(struct sim_conn *c, int status, const char *type, const char *ns,
                       const char *request_id, const char *message)
{
    struct buf e;
    buf_init(&e, HEAD_MAX);
    buf_printf(&e, "x-amzn-ErrorType: %s:%s\r\n", type, ns);
    struct buf body;
    buf_init(&body, 64 * 1024);
    buf_puts(&body, "{\"message\":");
    if (sim_json_str(&body, message, strlen(message)) < 0) {
        buf_reset(&body);
        buf_puts(&body, "{\"message\":\"(message too long)\"");
    }
    buf_putc(&body, '}');
    int rc = sim_http_respond(c, status, "application/json", request_id, buf_cstr(&e),
                              body.data, body.len);
    buf_free(&body);
    buf_free(&e);
    return rc;
}

int sim_http_stream_begin(struct sim_conn *c, const char *content_type, const char *request_id)
{
    struct buf b;
    buf_init(&b, HEAD_MAX);
    if (sim_conn_http_minor(c) == 0)
        sim_conn_set_close(c); /* no chunked encoding: the end of the body is the close */
    put_head(&b, c, 200, content_type, request_id,
             sim_conn_http_minor(c) == 0 ? NULL : "Transfer-Encoding: chunked\r\n");
    buf_puts(&b, "\r\n");
    int rc = sim_conn_write(c, b.data, b.len);
    buf_free(&b);
    return rc;
}

/* The chunk-size line for n bytes into out; its length (0 for HTTP/1.0: no chunks). */
static size_t chunk_head(struct sim_conn *c, size_t n, char *out, size_t outlen)
{
    if (sim_conn_http_minor(c) == 0)
        return 0;
    int len = snprintf(out, outlen, "%zx\r\n", n);
    return len > 0 && (size_t)len < outlen ? (size_t)len : 0;
}

int sim_http_chunk(struct sim_conn *c, const void *p, size_t n, bool split)
{
    if (n == 0)
        return 0; /* an empty chunk would end the body */
    char head[32];
    size_t hl = chunk_head(c, n, head, sizeof head);
    struct buf b;
    buf_init(&b, n + 64);
    buf_append(&b, head, hl);
    buf_append(&b, p, n);
    if (hl)
        buf_puts(&b, "\r\n");
    int rc = split ? sim_conn_write_frame(c, b.data, b.len) : sim_conn_write(c, b.data, b.len);
    buf_free(&b);
    return rc;
}

int sim_http_chunk_partial(struct sim_conn *c, const void *p, size_t n, size_t part)
{
    char head[32];
    size_t hl = chunk_head(c, n, head, sizeof head);
    if (sim_conn_write(c, head, hl) < 0)
        return -1;
    return sim_conn_write(c, p, part < n ? part : n);
}

int sim_http_stream_end(struct sim_conn *c)
{
    if (sim_conn_http_minor(c) == 0)
        return 0;
    return sim_conn_write(c, "0\r\n\r\n", 5);
}
