/* fconn: one FastCGI connection from nginx on the child's event loop — the request read
 * through fcgi_proto's parser, the response written as STDOUT records without ever blocking.
 *
 * Reading: bytes are fed to the parser as they come; management answers and refusals it
 * produces are written back between records; when the request is whole (params and body),
 * on_request runs. The connection keeps reading afterwards, so a hang-up (nginx closes the
 * connection when the browser leaves) or an ABORT_REQUEST is seen at once, even while the
 * response waits for a model.
 *
 * Writing: the response's bytes wait in a source buffer — the connection's own (fconn_write)
 * or one the owner holds (fconn_source: an SSE stream's struct sseout, which keeps its
 * decisions: cap, pings, behind). They are framed as STDOUT records at write time, straight
 * from the source (a record covers what waits, up to max_record), sent with sendmsg
 * (MSG_DONTWAIT | MSG_NOSIGNAL); what the socket does not take waits for EPOLLOUT. A
 * connection whose bytes wait and which took none for stall_ms is cut (the slow-client cut:
 * shut down, nothing more is written, the client resumes). fconn_finish queues the empty
 * STDOUT and END_REQUEST after what waits; once written, the connection closes (one request
 * per connection: nginx runs with fastcgi_keep_conn off, so closing is how each side learns
 * the other is done).
 *
 * Lifecycle: one state (enum fconn_state), changed in one function. on_close is the last
 * call, always from the loop (an event or the connection's timer), never from inside an
 * fconn_* call, so an owner may call any of them from its own callbacks; the memory goes when
 * on_close returns. */
#ifndef NOVA_FCONN_H
#define NOVA_FCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "fcgi_proto.h"
#include "loop.h"

enum fconn_state {
    FCONN_READING, /* the request is arriving */
    FCONN_SERVING, /* on_request ran; the response is being written */
    FCONN_ENDING,  /* fconn_finish: what waits, then END_REQUEST, then close */
    FCONN_CLOSED,  /* the descriptor is closed; on_close is due */
};

enum fconn_end {
    FCONN_END_DONE,     /* END_REQUEST written */
    FCONN_END_GONE,     /* the peer hung up, or a read or write failed */
    FCONN_END_PROTOCOL, /* the FastCGI stream was malformed (fconn_error says how) */
    FCONN_END_TIMEOUT,  /* the request did not arrive within request_timeout_ms */
    FCONN_END_CUT,      /* bytes waited and none was taken for stall_ms */
    FCONN_END_CLOSED,   /* fconn_close */
};

struct fconn_opts {
    struct fcgi_limits lim;        /* FCGI_GET_VALUES answers, the body cap */
    size_t out_max;                /* the connection's own source buffer */
    long long request_timeout_ms;  /* the whole request must arrive within this */
    long long stall_ms;            /* the slow-client cut (0: never) */
    size_t max_record;             /* STDOUT content per record (0: FCGI_MAX_LENGTH) */
};

struct fconn;

struct fconn_ops {
    void (*on_request)(struct fconn *c, void *arg);
    /* Optional: the source emptied (everything so far reached the socket). */
    void (*on_drain)(struct fconn *c, void *arg);
    void (*on_close)(struct fconn *c, enum fconn_end why, void *arg);
};

/* Counters of one connection. */
struct fconn_stats {
    unsigned long long bytes_in, bytes_out; /* wire bytes */
    unsigned long long records_out;         /* STDOUT records with content */
    unsigned long long sends;               /* sendmsg calls that wrote something */
    unsigned long long blocked;             /* times the socket was full (EAGAIN) */
};

/* Takes fd (an accepted connection; made non-blocking here) onto the loop. NULL with errstr
 * when it cannot be registered (fd is closed then). */
struct fconn *fconn_new(struct loop *l, int fd, const struct fconn_opts *o,
                        const struct fconn_ops *ops, void *arg, char *errstr, size_t errlen);

/* The request (from on_request on): its params and body, in the parser. */
const struct fcgi_parser *fconn_request(const struct fconn *c);
/* Frees the params and body once copied out. */
void fconn_forget_request(struct fconn *c);

/* Appends response bytes to the source and writes what the socket takes now. Returns 0,
 * or -1 when they do not fit out_max (nothing appended) or the connection is ending or
 * closed. */
int fconn_write(struct fconn *c, const void *data, size_t n);
/* Writes from src instead: the owner appends to it and never consumes it. As bytes reach the
 * socket, taken(arg, n, now_ms) must consume the first n bytes of src (sseout_taken does);
 * with taken NULL fconn consumes them. src NULL: the own buffer again. Returns 0, or -1 while
 * bytes of the current source wait (switch before writing, or once fconn_pending is 0). */
int fconn_source(struct fconn *c, struct buf *src, void (*taken)(void *, size_t, long long),
                 void *arg);
/* The owner appended to its source: write what the socket takes now. */
void fconn_kick(struct fconn *c);
/* Bytes waiting (source, a record under way, replies): what the client has not taken. */
size_t fconn_pending(const struct fconn *c);
/* Ends the response: what waits, the empty STDOUT, END_REQUEST (app_status), close. */
void fconn_finish(struct fconn *c, uint32_t app_status);
/* Closes now without END_REQUEST (nginx ends the response unfinished); on_close(CLOSED). */
void fconn_close(struct fconn *c);
/* Shuts the connection down for a client that takes nothing (logged by the owner); what
 * waits is dropped; on_close(CUT). */
void fconn_cut(struct fconn *c);

enum fconn_state fconn_state(const struct fconn *c);
const char *fconn_end_name(enum fconn_end e);
/* The parser's error after FCONN_END_PROTOCOL (else ""). */
const char *fconn_error(const struct fconn *c);
struct fconn_stats fconn_stats(const struct fconn *c);

#endif
