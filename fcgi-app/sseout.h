/* sseout: one stream's SSE output and its backpressure — the bytes the client has not taken
 * yet (capped at SSEOUT_MAX), when it last took any, the keep-alive ping, and the slow-client
 * decisions.
 *
 * A client that stops reading fills nginx's socket buffer to it, then the FastCGI connection,
 * then this buffer. The stream never blocks in a write: it writes what the connection takes
 * and otherwise waits in poll. While SSEOUT_FLUSH_AT bytes wait the stream leaves its inbox
 * alone (so the inbox's cap is what a stalled client may hold); an event that finds
 * SSEOUT_MAX bytes still unwritten marks the stream behind; and a client that takes nothing
 * for SSEOUT_STALL_KEEPALIVES keep-alive intervals is cut off. A cut shuts the FastCGI
 * connection down: nginx ends the response without `done` and the client resumes with its
 * Last-Event-ID.
 *
 * The buffer and its decisions do no I/O (events and clock readings in, bytes, flags and
 * deadlines out). sseout_push, sseout_flush_until, sseout_flush and sseout_cut are the writer
 * that feeds the request's FastCGI connection from it. */
#ifndef NOVA_SSEOUT_H
#define NOVA_SSEOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "req.h"

#define SSEOUT_MAX (2u << 20)          /* SSE bytes buffered for the client */
#define SSEOUT_FLUSH_AT (64u * 1024u)  /* write (and leave the inbox alone) from this much */
#define SSEOUT_PUSH_CHUNK (16u * 1024u) /* one write to the FastCGI connection */
#define SSEOUT_STALL_KEEPALIVES 2      /* a client that takes no byte for this many keep-alive
                                          intervals is cut off (it resumes) */

struct sseout {
    struct buf out;           /* SSE bytes the client has not taken yet */
    long long keepalive_ms;
    long long progress_ms;    /* monotonic: when the client last took bytes */
    long long next_ping_ms;   /* monotonic: when a silent stream gets ": ping" */
    bool behind;              /* out overflowed: the stream must be cut */
    unsigned long written;    /* events buffered for the client */
};

/* keepalive_ms: NOVA_KEEPALIVE_SECONDS; now_ms: monotonic. */
void sseout_init(struct sseout *o, long long keepalive_ms, long long now_ms);
void sseout_free(struct sseout *o);

/* ---- the buffer: no I/O ------------------------------------------------------------------ */

/* True when SSEOUT_FLUSH_AT bytes wait: push before adding more, leave the inbox alone. */
bool sseout_full(const struct sseout *o);
/* Buffers one event (id and type may be NULL). Returns 0, or -1 when it was not buffered:
 * o->behind is then set when SSEOUT_MAX bytes wait, else the event alone is larger than
 * that (the caller skips it). */
int sseout_event(struct sseout *o, const char *id, const char *type, const char *data,
                 size_t len);
/* At the keep-alive time (now_ms >= next_ping_ms): ": ping" when nothing waits (else what
 * waits is what the client sees) and the next time set. Returns true when it was due: the
 * caller pushes. */
bool sseout_ping(struct sseout *o, long long now_ms);
/* The client took n bytes at now_ms: they go, and the ping waits a whole interval again. */
void sseout_taken(struct sseout *o, size_t n, long long now_ms);
/* How long the client may take nothing before it is cut off (ms). */
long long sseout_stall_ms(const struct sseout *o);
/* True when bytes wait and the client took none for sseout_stall_ms. */
bool sseout_stalled(const struct sseout *o, long long now_ms);
/* The next time (monotonic ms) the buffer needs the stream: the ping, or the stall cut. */
long long sseout_due(const struct sseout *o);

/* ---- the writer ----------------------------------------------------------------------- */

/* Writes what the FastCGI connection takes now, without blocking (the SSE headers first if
 * they are not sent): pieces of at most SSEOUT_PUSH_CHUNK while poll says it is writable.
 * Returns 0, or -1 when the client is gone (rq->client_gone). */
int sseout_push(struct sseout *o, struct req *rq);
/* Pushes until nothing is left, waiting for the connection to take bytes until until_ms.
 * Returns 0 (all written), -1 (client gone) or 1 (not written by then). */
int sseout_flush_until(struct sseout *o, struct req *rq, long long until_ms);
/* Writes everything within the client's stall allowance, cutting it off when it takes
 * nothing for that long. Returns 0, or -1 (client gone or cut). */
int sseout_flush(struct sseout *o, struct req *rq);
/* Cuts the stream of a client that does not take what was written (logged with why): nothing
 * more can reach it, not even an `error`, so the FastCGI connection is shut down and what
 * waits is dropped. The jobs go on. */
void sseout_cut(struct sseout *o, struct req *rq, const char *why);

#endif
