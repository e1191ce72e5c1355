/* store: the Redis side of a chat request that is not pub/sub — reading its meta event back
 * from the transcript, measuring a queue's backlog, storing the prompts its jobs name, queueing
 * its jobs, canceling them. Callers pass a pooled connection; after a -1, c->err != 0 says the
 * connection is broken.
 *
 * A chat's writes are few round trips: the backlog's commands go out before the chat waits for
 * its SUBSCRIBE to be confirmed (store_depths_send, then store_depths_read), and the prompts,
 * the meta event and the jobs go in one pipeline (store_start), in that order — Redis runs a
 * connection's commands in order, so a worker never reads a job before its prompt is stored,
 * nor writes an event before the meta event is in the transcript. */
#ifndef NOVA_STORE_H
#define NOVA_STORE_H

#include <stdbool.h>
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
/* The same in two halves, so the round trip overlaps another wait: send writes the commands
 * to Redis at once without waiting for their replies; read must follow on the same c before
 * it is used for anything else (its replies are read whatever happens, so the connection
 * stays in step). A depth is pending + lag; when Redis cannot tell the lag (a deleted entry
 * lies after the last delivered one: workers delete the entries they finish), the stream's
 * length, which then holds only the jobs not finished. */
void store_depths_send(redisContext *c, const enum queue *queues, size_t n);
int store_depths_read(redisContext *c, const enum queue *queues, size_t n, long long *depths,
                      char *errstr, size_t errlen);

/* A prompt some jobs name, to store under nova:prompt:<sha256> (EX PROMPT_TTL_S). */
struct store_prompt {
    const char *sha256;
    const char *text;
    size_t len;
};

/* Whether this child should store its prompts with the chat it starts now: never stored yet,
 * its pub/sub connection was made again since (connections is dispatch_connections(): Redis
 * was away and may be back empty), or PROMPT_STORE_PERIOD_S went by (the key's expiry is
 * renewed; a prompt lost some other way, FLUSHALL or eviction, is back within that period).
 * store_prompts_stored records a store Redis took. Any thread; two storing at once is fine. */
bool store_prompts_due(unsigned long connections, long long now_ms);
void store_prompts_stored(unsigned long connections, long long now_ms);

/* What store_start got done. */
enum store_start_result {
    STORE_STARTED,      /* prompts, meta and jobs all taken */
    STORE_META_FAILED,  /* the meta event was refused (the jobs after it may be queued) */
    STORE_JOBS_FAILED,  /* meta appended, a job refused (others may be queued) */
    STORE_BROKEN,       /* the connection failed: anything may have run */
};

/* One pipelined round trip: SET of each of the n_prompts prompts, the turn (when not NULL),
 * the meta event appended to
 * log_key and published on channel (EVAL of EVENT_APPEND_LUA with its text, never EVALSHA: a
 * NOSCRIPT there would leave the jobs after it queued ahead of their meta), then the XADD of
 * each job (MAXLEN ~ trim_to). meta_id gets the meta event's transcript id. *prompts_ok tells
 * whether every prompt SET was taken (a refused one is only logged by the caller: its jobs
 * fail typed at the worker when the prompt is not there from an earlier store). Returns
 * STORE_STARTED or what failed, with errstr. */
/* The session turn the request will save (session.h): SET key value PX ttl_ms, before
 * meta; store_start sets stored when Redis took it. */
struct store_turn {
    const char *key, *value;
    size_t len;
    long ttl_ms;
    bool stored;
};

enum store_start_result store_start(redisContext *c, const struct store_prompt *prompts,
                                    size_t n_prompts, bool *prompts_ok,
                                    struct store_turn *turn, const char *log_key,
                                    const char *channel, const char *meta, size_t meta_len,
                                    long ttl_ms, const struct job *jobs, size_t n_jobs,
                                    long long trim_to, char *meta_id, size_t idlen,
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
