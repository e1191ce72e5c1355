/* store: the Redis side of a chat request that is not pub/sub — reading its meta event back
 * from the transcript, measuring a queue's backlog, queueing its jobs, canceling them. Callers
 * pass a pooled connection; after a -1, c->err != 0 says the connection is broken. */
#ifndef NOVA_STORE_H
#define NOVA_STORE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "plan.h"
#include "product/chatreq.h"
#include "redis/append.h"
#include "redis/job.h"

struct store_meta {
    char id[EVENT_ID_MAX];                 /* the meta event's transcript id */
    struct stream_id sid;
    const char *phases[PLAN_MAX_PHASES];   /* static names (plan.h) */
    size_t n_phases;
    /* The phase of the question's translation job (contract.h) when meta says one runs
     * beside the answers ("translating": "ko" or "en"), else NULL. */
    const char *translate_phase;
};

/* The first transcript entry of request_id, which must be its meta event. Returns 1 (found),
 * 0 (no transcript: unknown or expired), or -1 with errstr. */
int store_read_meta(redisContext *c, const char *request_id, struct store_meta *m,
                    char *errstr, size_t errlen);

/* The backlog of each of n queues into depths: jobs not yet delivered to the "workers" group
 * plus those delivered and not acknowledged (XINFO GROUPS lag + pending). Jobs stay in the
 * stream after their XACK, so its length is not the backlog. One round trip for all of them.
 * Returns 0 or -1 with errstr. */
int store_queue_depths(redisContext *c, const enum queue *queues, size_t n, long long *depths,
                       char *errstr, size_t errlen);

/* XADDs jobs[0..n) to their queues (field "job"), pipelined, trimming each stream to about
 * trim_to entries. Returns 0, or -1 with errstr when any XADD failed (some may be queued:
 * cancel them all). */
int store_enqueue(redisContext *c, const struct job *jobs, size_t n, long long trim_to,
                  char *errstr, size_t errlen);

/* Cancels the jobs ids[0..n) of queues[0..n): for each a marker nova:canceled:<job> (EX
 * STORE_CANCEL_TTL_S), which stops a job no worker has picked up yet, and its id published on
 * nova:cancel:{queue}, which stops one already running. Pipelined, one round trip. Returns 0,
 * or -1 with errstr (the first failure; the others are still sent). */
#define STORE_CANCEL_TTL_S 600
int store_cancel_jobs(redisContext *c, const char *const *ids, const enum queue *queues,
                      size_t n, char *errstr, size_t errlen);

#endif
