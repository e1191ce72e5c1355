/* streams: the open SSE streams of a nova-fcgi child relayed from one event loop, so that an
 * open stream holds no thread (issue 15 phase B, NOVA_FCGI_STREAMS=loop).
 *
 * A request thread runs everything before a stream starts, as with NOVA_FCGI_STREAMS=thread.
 * When the stream starts (relay_run, meta written) the thread detaches the FastCGI
 * connection's descriptor from libfcgi (req_conn_ops.detach: flushed, then the libfcgi
 * request freed without a byte written or the descriptor closed), hands the stream (its
 * struct req and struct relay, copied, and its inbox, which the thread replaces) to the
 * loop with loop_post, and goes back to accepting.
 *
 * From then on the loop owns the stream. It waits for the stream's events: the connection
 * (hang-up; room to write while bytes wait), the stream's timer (relay_step's due time: the
 * keep-alive ping, the job deadline, a resume's done grace, the drain, the disconnect grace,
 * the last flush's limit) and its inbox, which the dispatcher rings by posting to the loop
 * instead of an eventfd (inbox_hand_to). On any of them the loop runs relay_step on its own
 * thread with no_block set: a ring with deltas to write, a ping, room to write again are one
 * wake-up each, as a thread per stream would have. A step that needs Redis (catch-up XRANGE
 * pages, done and the transcript, the grace's ZCOUNT, cancel, the deadline) stops before it
 * and is run again on a pool thread (the child's request threads), which posts the stream
 * back with what to wait for next. Reader entries are renewed for all due streams at once,
 * one pool step every STREAMS_RENEW_MS (readers_renew_many). A stream is on the loop or on
 * one pool thread, never both; events meanwhile are remembered and step it again at once.
 * The response is written as FastCGI STDOUT records of the project's own encoder
 * (fcgi_proto.h) with MSG_DONTWAIT: a write never waits, and what the socket did not take of
 * a record is kept and sent first (the socket is then not writable for sseout, whose caps
 * and stall cut apply as in the thread mode). At the end the stream's end runs on a pool
 * thread (relay_ended), then the rest, the end of STDOUT and END_REQUEST are written and the
 * descriptor closed.
 *
 * The loop runs on its own thread; streams_adopt and streams_drain may be called from any
 * thread. */
#ifndef NOVA_STREAMS_H
#define NOVA_STREAMS_H

#include <stddef.h>

struct app;
struct relay;
struct streams;

/* One item of work for the pool; fn runs on a pool thread. */
struct streams_work {
    struct streams_work *next;
    void (*fn)(struct streams_work *w);
};

/* Queues w to a pool thread (never fails, never blocks but on a lock). */
typedef void streams_pool_fn(void *pool, struct streams_work *w);
/* The last open stream is gone (on the loop's thread). */
typedef void streams_idle_fn(void *pool);

/* Starts the loop thread. NULL with errstr. */
struct streams *streams_start(struct app *app, streams_pool_fn *run, streams_idle_fn *idle,
                              void *pool, char *errstr, size_t errlen);
/* Stops the loop thread and frees everything; no stream may be open. NULL: nothing. */
void streams_stop(struct streams *ss);

/* The stream r (started: meta written) goes to the loop: 0, and r's request has handed_off
 * set (its caller touches neither again); or -1 (ss NULL, the request cannot hand off, the
 * descriptor could not be detached): nothing changed, the thread relays it. */
int streams_adopt(struct streams *ss, struct relay *r);
/* Every open stream is stepped at once (a drain began, or its deadline moved). */
void streams_drain(struct streams *ss);
/* Streams the loop holds now (adopted, not yet freed); 0 for NULL. */
size_t streams_open(const struct streams *ss);

#endif
