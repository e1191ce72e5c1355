/* req: one FastCGI request and the replies every handler shares — its parameters copied out
 * of the connection, writing to the client, reading a JSON body, waiting on the client, and
 * the response shapes of API.md (JSON, the error object, an SSE stream's headers, 204,
 * operators' text).
 *
 * The connection is reached only through struct req_conn_ops (the seam of issue 15 phase B):
 * today's libfcgi connection of a request thread (lfconn.h) is one implementation; the event
 * loop's connection (fconn.h) is the next. Nothing outside req.c and the implementations
 * touches a descriptor or libfcgi.
 *
 * Every parameter a handler uses is copied into struct req when the request starts (capped;
 * an over-long value is flagged, never cut silently), so nothing keeps a pointer into the
 * connection's memory, which its end frees. The worker thread (child.c) owns the struct req,
 * its connection and its inbox; handlers borrow them for the request. */
#ifndef NOVA_REQ_H
#define NOVA_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "core/buf.h"
#include "inbox.h"
#include "product/chatreq.h"
#include "routes.h"

/* req_wait's answer (bits). */
#define REQ_READY 1u    /* the descriptor given (an inbox's eventfd) is readable */
#define REQ_WRITABLE 2u /* the connection takes bytes now */
#define REQ_GONE 4u     /* the client hung up, or the connection failed */

/* One request's connection to nginx. ctx is the implementation's. Every call is from the
 * thread that serves the request. */
struct req_conn_ops {
    /* The first parameter called name, or NULL; valid until the request ends. */
    const char *(*param)(void *ctx, const char *name);
    /* Reads up to n body bytes; returns how many (0 at its end), or -1 on a read error. */
    long (*read_body)(void *ctx, char *p, size_t n);
    /* Writes n bytes and flushes them (may block within the connection's write timeout).
     * Returns 0 or -1 (broken). */
    int (*write)(void *ctx, const char *p, size_t n);
    /* Waits at most wait_ms (0: a look) for efd (-1: none) to be readable, for a hang-up
     * and, with want_write, for room to write. Returns REQ_* bits (0: the time passed). */
    unsigned (*wait)(void *ctx, int efd, bool want_write, long long wait_ms);
    /* Shuts the connection down (the slow-client cut): nothing more reaches the client. */
    void (*shutdown)(void *ctx);
    /* Optional (NULL: cannot): gives the connection's descriptor away with everything written
     * so far flushed, and the FastCGI request id its records carry; the connection itself is
     * then finished without a byte written or the descriptor closed (the new owner writes
     * the rest and END_REQUEST). Returns 0, or -1 (nothing changed). */
    int (*detach)(void *ctx, int *fd, unsigned *fcgi_id);
};

struct req {
    struct app *app;
    struct inbox *inbox;     /* the thread's; this request's stream registers it */
    const struct req_conn_ops *conn;
    void *conn_ctx;
    char id[CHATREQ_REQUEST_ID_LEN + 1]; /* nginx's $request_id, else a random one */
    char method[16];
    char path[256];
    char query[512];
    char content_type[128];
    long long content_length; /* -1 when absent or not a number */
    char last_event_id[64];
    bool has_last_event_id;
    bool too_long;           /* a parameter did not fit its field */
    bool authorized;         /* no NOVA_API_KEY, or the request carried it (auth.h) */
    long long t0;            /* monotonic ms when the request was read */
    enum route route;        /* what the router matched (ROUTE_OTHER until it ran) */
    int status;              /* what was answered, for the log line */
    bool headers_sent;
    bool client_gone;        /* a write failed */
    bool can_hand_off;       /* the stream may move to the child's loop (streams.h): the
                                thread has an inbox to take instead of this one */
    bool handed_off;         /* it did: the loop owns the connection and rq->inbox now */
};

/* Copies the parameters of the request just read on the connection (conn, ctx) into rq. */
void req_init(struct req *rq, struct app *app, struct inbox *inbox,
              const struct req_conn_ops *conn, void *conn_ctx);

/* Reads a JSON request body (Content-Type application/json, at most 64 KiB) into body
 * (initialised here). Returns 0 (the caller frees body), or -1 with the 415, 413 or 400
 * reply sent. */
int req_read_json_body(struct req *rq, struct buf *body);

/* Writes bytes to the client and flushes them. Returns 0, or -1 (client_gone) when the
 * connection is broken. */
int req_write(struct req *rq, const char *p, size_t n);
/* req_conn_ops.wait for a connection on descriptor fd: polls it for hang-up (nginx closes it
 * when the browser leaves, noticed before the first token) and, want_write, for room to
 * write, and efd (-1: none) for reading. Shared by every connection kind. */
unsigned req_poll_fd(int fd, int efd, bool want_write, long long wait_ms);
/* Waits on the client (and efd, -1 for none) as req_conn_ops.wait; REQ_GONE sets
 * client_gone. wait_ms < 0 is 0; it is capped at INT_MAX. */
unsigned req_wait(struct req *rq, int efd, bool want_write, long long wait_ms);
/* The slow-client cut: shuts the connection down and sets client_gone. */
void req_shutdown(struct req *rq);
/* A whole JSON response: status, headers (extra: "Name: value\r\n" lines or NULL), body. */
int reply_json(struct req *rq, int status, const char *extra, const char *body, size_t len);
/* The API.md error shape {"error":{"code","message","request_id"}} with status; counted in
 * the metrics by code. */
int reply_error(struct req *rq, int status, const char *code, const char *message,
                const char *extra);
/* A pooled Redis connection for this request (give it back with app_redis_put), or NULL
 * after logging why and answering 503 unavailable. */
redisContext *req_redis(struct req *rq);
/* The status line and headers of an SSE response. */
int reply_sse_headers(struct req *rq);
/* A status with no body (204). */
int reply_empty(struct req *rq, int status);
/* A whole response of any type (text for operators: /status, /api/metrics), not cached. */
int reply_body(struct req *rq, int status, const char *ctype, const char *body, size_t len);

#endif
