/* readers: who is watching a request — nova:readers:<request>, a sorted set of one token per
 * stream relaying the request live (the origin and its resumes), scored with when the stream
 * last renewed it (epoch ms, Redis's TIME, so clocks that differ between nova-fcgi hosts do
 * not matter).
 *
 * A stream joins when it starts, renews its entry every READERS_BEAT_MS and leaves when it
 * ends. The entry of a stream whose child died (SIGKILL, a crash: nothing removes it) stops
 * counting READERS_BEAT_MS + READERS_SLACK_MS after its last renewal, instead of keeping a
 * request's jobs going for a reader long gone. A stream whose client left asks readers_live
 * before it cancels the jobs: a page that reconnected keeps its answer. Joining also publishes
 * "attach" on the request's channel, which wakes an origin waiting for such a resume (the
 * message is not an event: the transcript reader skips it).
 *
 * At most NOVA_MAX_RESUMES_PER_REQUEST resumes of one request are live at once: a resume
 * joins before it replays anything (readers_join_resume), and one more is refused. The
 * stream that queued the jobs is not counted.
 *
 * Failures are logged (with the request's log id) and otherwise ignored: without Redis no
 * reader counts, and a renewal is simply due again a beat later. */
#ifndef NOVA_READERS_H
#define NOVA_READERS_H

#include <stdbool.h>

#include "app.h"
#include "product/chatreq.h"
#include "redis/contract.h"

#define READERS_BEAT_MS 2000  /* a live stream renews its entry */
#define READERS_SLACK_MS 1000 /* a renewal this late still counts as alive */

struct readers {
    char request_id[CHATREQ_REQUEST_ID_LEN + 1];
    char token[18];     /* this stream's entry: 'o' (origin) or 'r' (resume), 16 hex */
    bool joined;        /* the entry is there (or was sent) */
    long long beat_ms;  /* monotonic: when to renew it */
};

/* This stream's entry for request_id, not yet sent; resume: the stream resumes (else it
 * queued the jobs). */
void readers_init(struct readers *rd, const char *request_id, bool resume);
/* Adds the entry (expiring with the request's jobs: ttl_s), and publishes "attach" on
 * channel. rid names the request in the log. */
void readers_join(struct readers *rd, struct app *app, const char *rid, const char *channel,
                  long ttl_s);
/* A resume's join, before its replay: refused when max resumes of the request are live
 * already (their entries renewed within READERS_BEAT_MS + READERS_SLACK_MS; a dead child's
 * stop counting then), else as readers_join. Atomic in Redis, across nova-fcgi children and
 * hosts. Returns 1 (joined), 0 (refused: the caller answers 429) or -1 (Redis failed, logged:
 * the resume goes on, renewing as any). */
int readers_join_resume(struct readers *rd, struct app *app, const char *rid,
                        const char *channel, long ttl_s, long max);
/* Renews the entry: due at readers_due. */
void readers_renew(struct readers *rd, struct app *app, const char *rid);
/* Renews the entries of n streams in one pipeline on one pooled connection (the child's loop
 * renews all of its due streams so: one pool step, not one per stream). rds are copies the
 * caller owns; their beat_ms is the caller's to set. Failures are logged once. */
void readers_renew_many(struct app *app, const struct readers *rds, size_t n);
/* Removes the entry (when joined). */
void readers_leave(struct readers *rd, struct app *app, const char *rid);
/* When the entry is due for renewal (monotonic ms); LLONG_MAX when not joined. */
long long readers_due(const struct readers *rd);
/* Whether another stream of request_id renewed its entry recently enough to be alive. */
bool readers_live(struct app *app, const char *request_id);

#endif
