/* req: a request's parameters, writing to its client, its JSON body, the shared replies
 * (see req.h). */
#include "req.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "auth.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics.h"

/* Copies parameter name into dst (n bytes). Returns 1 when copied, 0 when absent, -1 when
 * longer than dst (dst is then ""). */
static int copy_param(struct req *rq, const char *name, char *dst, size_t n)
{
    const char *v = rq->conn->param(rq->conn_ctx, name);
    dst[0] = '\0';
    if (!v)
        return 0;
    size_t len = strlen(v);
    if (len >= n)
        return -1;
    memcpy(dst, v, len + 1);
    return 1;
}

static long long parse_length(const char *s)
{
    long long v = 0;
    if (!*s)
        return -1;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 18)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

void req_init(struct req *rq, struct app *app, struct inbox *inbox,
              const struct req_conn_ops *conn, void *conn_ctx)
{
    memset(rq, 0, sizeof *rq);
    rq->app = app;
    rq->inbox = inbox;
    rq->conn = conn;
    rq->conn_ctx = conn_ctx;
    rq->t0 = clock_mono_ms();
    rq->content_length = -1;
    rq->route = ROUTE_OTHER;
    char rid[64];
    if (copy_param(rq, "REQUEST_ID", rid, sizeof rid) == 1 &&
        chatreq_request_id_valid(rid, strlen(rid)))
        memcpy(rq->id, rid, sizeof rq->id);
    else
        app_random_hex(rq->id, CHATREQ_REQUEST_ID_LEN);
    if (copy_param(rq, "REQUEST_METHOD", rq->method, sizeof rq->method) < 0)
        rq->too_long = true;
    /* nginx's $document_uri is the decoded, normalised path; the others are fallbacks for
     * other servers (REQUEST_URI is raw and carries the query). */
    int rc = copy_param(rq, "DOCUMENT_URI", rq->path, sizeof rq->path);
    if (rc == 0)
        rc = copy_param(rq, "SCRIPT_NAME", rq->path, sizeof rq->path);
    if (rc == 0 && (rc = copy_param(rq, "REQUEST_URI", rq->path, sizeof rq->path)) == 1)
        rq->path[strcspn(rq->path, "?")] = '\0';
    if (rc < 0)
        rq->too_long = true;
    if (copy_param(rq, "QUERY_STRING", rq->query, sizeof rq->query) < 0)
        rq->too_long = true;
    copy_param(rq, "CONTENT_TYPE", rq->content_type, sizeof rq->content_type);
    char len[32];
    if (copy_param(rq, "CONTENT_LENGTH", len, sizeof len) != 0)
        rq->content_length = parse_length(len); /* too long for 32 bytes: -1, and read */
    rc = copy_param(rq, "HTTP_LAST_EVENT_ID", rq->last_event_id, sizeof rq->last_event_id);
    /* An over-long Last-Event-ID is kept as present but invalid ("-"), so it is a 400. */
    rq->has_last_event_id = rc < 0 || (rc == 1 && rq->last_event_id[0]);
    if (rc < 0)
        memcpy(rq->last_event_id, "-", 2);
    /* Decided here, so no pointer to the key's header outlives this function. */
    rq->authorized = auth_allows(app->cfg->api_key, conn->param(conn_ctx, "HTTP_AUTHORIZATION"),
                                 conn->param(conn_ctx, "HTTP_X_API_KEY"));
}

/* ---- replies ---------------------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

int req_write(struct req *rq, const char *p, size_t n)
{
    if (rq->client_gone)
        return -1;
    if (rq->conn->write(rq->conn_ctx, p, n) < 0) {
        rq->client_gone = true;
        return -1;
    }
    return 0;
}

unsigned req_poll_fd(int fd, int efd, bool want_write, long long wait_ms)
{
    struct pollfd p[2] = {{fd, POLLRDHUP | (want_write ? POLLOUT : 0), 0}, {efd, POLLIN, 0}};
    int rc = poll(p, efd >= 0 ? 2 : 1, (int)wait_ms);
    if (rc <= 0)
        return 0;
    unsigned r = 0;
    if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        r |= REQ_GONE;
    else if (p[0].revents & POLLOUT)
        r |= REQ_WRITABLE;
    if (efd >= 0 && (p[1].revents & POLLIN))
        r |= REQ_READY;
    return r;
}

unsigned req_wait(struct req *rq, int efd, bool want_write, long long wait_ms)
{
    if (rq->client_gone)
        return REQ_GONE;
    if (wait_ms < 0)
        wait_ms = 0;
    if (wait_ms > INT_MAX)
        wait_ms = INT_MAX;
    unsigned r = rq->conn->wait(rq->conn_ctx, efd, want_write, wait_ms);
    if (r & REQ_GONE)
        rq->client_gone = true;
    return r;
}

void req_shutdown(struct req *rq)
{
    rq->conn->shutdown(rq->conn_ctx);
    rq->client_gone = true;
}

static int reply_head(struct req *rq, int status, const char *ctype, const char *extra,
                      const char *body, size_t len)
{
    char head[512];
    snprintf(head, sizeof head, "Status: %d %s\r\n%s%s%s%s\r\n", status, reason(status),
             ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
             extra ? extra : "");
    rq->status = status;
    rq->headers_sent = true;
    struct buf b;
    buf_init(&b, sizeof head + len);
    buf_puts(&b, head);
    buf_append(&b, body, len);
    int rc = req_write(rq, b.data, b.len);
    buf_free(&b);
    return rc;
}

int reply_json(struct req *rq, int status, const char *extra, const char *body, size_t len)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Cache-Control: no-store\r\n%s", extra ? extra : "");
    return reply_head(rq, status, "application/json", hdr, body, len);
}

int reply_error(struct req *rq, int status, const char *code, const char *message,
                const char *extra)
{
    metrics_error(METRICS_BEFORE_STREAM, code);
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(message));
    json_object_object_add(e, "request_id", json_object_new_string(rq->id));
    json_object_object_add(o, "error", e);
    size_t len;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    struct buf b;
    buf_init(&b, len + 2);
    buf_append(&b, s, len);
    buf_putc(&b, '\n');
    json_object_put(o);
    int rc = reply_json(rq, status, extra, b.data, b.len);
    buf_free(&b);
    return rc;
}

int reply_sse_headers(struct req *rq)
{
    /* X-Accel-Buffering: nginx passes each write on at once even if buffering were on. */
    return reply_head(rq, 200, "text/event-stream; charset=utf-8",
                      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n", "", 0);
}

int reply_empty(struct req *rq, int status)
{
    return reply_head(rq, status, NULL, "Cache-Control: no-store\r\n", "", 0);
}

int reply_body(struct req *rq, int status, const char *ctype, const char *body, size_t len)
{
    return reply_head(rq, status, ctype, "Cache-Control: no-store\r\n", body ? body : "", len);
}

/* ---- the body ------------------------------------------------------------------------- */

redisContext *req_redis(struct req *rq)
{
    char err[256];
    redisContext *c = app_redis(rq->app, err, sizeof err);
    if (!c) {
        log_rid(LOG_WARN, rq->id, "%s", err);
        reply_error(rq, 503, "unavailable", "Redis is unreachable", NULL);
    }
    return c;
}

int req_read_json_body(struct req *rq, struct buf *body)
{
    if (!chatreq_content_type_is_json(rq->content_type)) {
        reply_error(rq, 415, "unsupported_media_type", "Content-Type must be application/json",
                    NULL);
        return -1;
    }
    if (rq->content_length > (long long)CHATREQ_BODY_MAX) {
        reply_error(rq, 413, "payload_too_large", "request body is larger than 64 KiB", NULL);
        return -1;
    }
    buf_init(body, CHATREQ_BODY_MAX);
    char chunk[8192];
    long n;
    while ((n = rq->conn->read_body(rq->conn_ctx, chunk, sizeof chunk)) > 0)
        if (buf_append(body, chunk, (size_t)n) < 0) {
            buf_free(body);
            reply_error(rq, 413, "payload_too_large", "request body is larger than 64 KiB",
                        NULL);
            return -1;
        }
    if (n < 0) {
        buf_free(body);
        reply_error(rq, 400, "bad_request", "the body could not be read", NULL);
        return -1;
    }
    return 0;
}
