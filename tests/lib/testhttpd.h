/* testhttpd: a tiny HTTP/1.1 server for tests, on 127.0.0.1 and an ephemeral port.
 *
 * One thread accepts and serves connections one at a time: it reads a request (parsed with the
 * project's http_request_parse, so the parser is exercised too), calls the handler, writes the
 * response with "Connection: close" and closes. Requests the parser rejects are answered with
 * its status without calling the handler.
 *
 *     static void h(void *user, const struct http_request *req, struct testhttpd_response *r)
 *     {
 *         if (!http_span_eq(req->path, "/hello")) { r->status = 404; return; }
 *         buf_puts(&r->body, "hi\n");
 *     }
 *     struct testhttpd *s = testhttpd_start(h, NULL);
 *     ... "http://127.0.0.1:%d/hello", testhttpd_port(s) ...
 *     testhttpd_stop(s);
 *
 * The handler runs on the server thread and may block (a test can hold a request on a
 * condition variable it controls); testhttpd_stop then waits for it to return, so release it
 * first. Everything else in testhttpd_stop is prompt: the accept loop and reads poll a wake-up
 * pipe. */
#ifndef NOVA_TESTHTTPD_H
#define NOVA_TESTHTTPD_H

#include "core/buf.h"
#include "httpmsg.h"

#define TESTHTTPD_BODY_MAX (1024 * 1024) /* request bodies and response bodies */

struct testhttpd_response {
    int status;             /* preset 200; 0 closes the connection without any answer */
    char content_type[128]; /* preset "text/plain" */
    char headers[2048];     /* extra header lines, each ending in "\r\n"; preset "" */
    struct buf body;        /* preset empty, capped at TESTHTTPD_BODY_MAX */
};

typedef void (*testhttpd_handler)(void *user, const struct http_request *req,
                                  struct testhttpd_response *resp);

struct testhttpd;

/* Binds 127.0.0.1:0 and starts the server thread. Returns NULL (reason on stderr) on failure. */
struct testhttpd *testhttpd_start(testhttpd_handler handler, void *user);
int testhttpd_port(const struct testhttpd *s);
/* Connections accepted so far (lets a test prove that a client never connected). */
unsigned long testhttpd_connections(struct testhttpd *s);
/* Wakes the server thread, joins it and frees everything. NULL is a no-op. */
void testhttpd_stop(struct testhttpd *s);

#endif
