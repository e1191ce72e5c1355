/* req: one FastCGI request and the replies every handler shares — its parameters copied out
 * of libfcgi, writing to the client, reading a JSON body, and the response shapes of API.md
 * (JSON, the error object, an SSE stream's headers, 204, operators' text).
 *
 * Every parameter a handler uses is copied into struct req when the request starts (capped;
 * an over-long value is flagged, never cut silently), so nothing keeps a pointer into
 * libfcgi's memory, which FCGX_Finish_r frees. The worker thread (child.c) owns the struct
 * req, its FCGX_Request and its inbox; handlers borrow them for the request. */
#ifndef NOVA_REQ_H
#define NOVA_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include <fcgiapp.h>

#include "app.h"
#include "core/buf.h"
#include "inbox.h"
#include "product/chatreq.h"
#include "routes.h"

struct req {
    struct app *app;
    struct inbox *inbox;     /* the thread's; this request's stream registers it */
    FCGX_Request *fr;
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
};

/* Copies the parameters of fr (just accepted) into rq. */
void req_init(struct req *rq, struct app *app, struct inbox *inbox, FCGX_Request *fr);

/* Reads a JSON request body (Content-Type application/json, at most 64 KiB) into body
 * (initialised here). Returns 0 (the caller frees body), or -1 with the 415, 413 or 400
 * reply sent. */
int req_read_json_body(struct req *rq, struct buf *body);

/* Writes bytes to the client and flushes them. Returns 0, or -1 (client_gone) when the
 * connection is broken. */
int req_write(struct req *rq, const char *p, size_t n);
/* A whole JSON response: status, headers (extra: "Name: value\r\n" lines or NULL), body. */
int reply_json(struct req *rq, int status, const char *extra, const char *body, size_t len);
/* The API.md error shape {"error":{"code","message","request_id"}} with status; counted in
 * the metrics by code. */
int reply_error(struct req *rq, int status, const char *code, const char *message,
                const char *extra);
/* The status line and headers of an SSE response. */
int reply_sse_headers(struct req *rq);
/* A status with no body (204). */
int reply_empty(struct req *rq, int status);
/* A whole response of any type (text for operators: /status, /api/metrics), not cached. */
int reply_body(struct req *rq, int status, const char *ctype, const char *body, size_t len);

#endif
