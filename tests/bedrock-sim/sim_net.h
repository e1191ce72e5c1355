/* sim_net: the simulator's listening socket and HTTP/1.1 connections on the event loop.
 *
 * Non-blocking, edge-triggered sockets (close-on-exec, TCP_NODELAY), keep-alive and pipelining,
 * "100 Continue", requests parsed with http_request_parse from a capped input buffer, and a
 * capped output buffer: a client that stops reading is cut off once SIM output would pass the
 * cap. With split-writes on, each frame handed to sim_conn_write_frame goes out in 2-3 pieces
 * cut at random byte positions, the later ones ~1 ms apart on the timer heap, so clients really
 * read partial frames.
 *
 * A handler gets each whole request. It answers before returning, or calls sim_conn_hold and
 * answers later from timers, ending with sim_conn_release. Connections are torn down only in
 * sim_net_reap (between loop iterations), so a connection never disappears under a handler or a
 * timer: after a failure its writes just return -1 and sim_conn_failed says so; the held
 * response's abort hook runs at reap time. */
#ifndef SIM_NET_H
#define SIM_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "httpmsg.h"
#include "sim_loop.h"

struct sim_net;
struct sim_conn;

struct sim_net_config {
    const char *bind;         /* IPv4 address to listen on; NULL = 127.0.0.1 */
    int port;                 /* 0 = a free port */
    bool split_writes;
    size_t out_cap;           /* bytes a connection may have queued for its client */
    size_t max_header_bytes;  /* request line and headers */
    size_t max_body_bytes;    /* what the parser accepts; routes may enforce less */
};

/* Called for each whole request; req and its spans are valid only during the call. */
typedef void (*sim_request_fn)(void *user, struct sim_conn *c, const struct http_request *req);

/* Binds bind:port (127.0.0.1 by default) and starts listening. Returns NULL with errstr on failure. */
struct sim_net *sim_net_new(struct sim_loop *loop, const struct sim_net_config *cfg,
                            sim_request_fn fn, void *user, char *errstr, size_t errlen);
int sim_net_port(const struct sim_net *n);
size_t sim_net_conn_count(const struct sim_net *n);
/* Connections closed because their client stopped reading (output cap reached). */
unsigned long sim_net_slow_cutoffs(const struct sim_net *n);
/* Tears down the connections that failed or finished (call after every loop iteration). */
void sim_net_reap(struct sim_net *n);
/* Closes the listener and every connection (held responses are aborted), frees n. */
void sim_net_free(struct sim_net *n);

/* Queues bytes for the client, in order. Return 0, or -1 when the connection has failed (the
 * output cap was passed or the socket broke); the caller then stops writing. */
int sim_conn_write(struct sim_conn *c, const void *p, size_t n);
/* Like sim_conn_write, but split into pieces over ~2 ms when split-writes is on. */
int sim_conn_write_frame(struct sim_conn *c, const void *p, size_t n);

/* The response continues after the handler returns; abort (may be NULL) is called at teardown
 * if the connection dies first. */
void sim_conn_hold(struct sim_conn *c, void *resp, void (*abort)(void *resp));
/* The held response is complete; the next pipelined request (if any) is served. */
void sim_conn_release(struct sim_conn *c);
/* Close the connection once the current response is flushed. */
void sim_conn_set_close(struct sim_conn *c);

bool sim_conn_keep_alive(const struct sim_conn *c);
bool sim_conn_failed(const struct sim_conn *c);
int sim_conn_http_minor(const struct sim_conn *c);
struct sim_loop *sim_conn_loop(const struct sim_conn *c);

#endif
