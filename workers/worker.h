/* worker: the state nova-worker's threads share (struct worker) and the constants they agree on.
 * Each module's functions are in its own header.
 *
 *   main.c         arguments, configuration, signals; starts the threads, runs the engine
 *   reader.c       the reader thread: XREADGROUP, job checks, and the timers of the heartbeat
 *                  and the claims
 *   worker_job.c   a job on this worker: made from a stream entry, freed at its end; the states
 *                  of its lifecycle and the one function that changes them
 *   heartbeat.c    nova:worker:<id> and nova:workers:{queue}
 *   dead_letter.c  nova:dead:{queue}'s entries, written by the reader or queued by the engine
 *   claims.c       the hold on this worker's pending entries (refresh) and the reclaim of
 *                  dead workers' ones (XAUTOCLAIM), both run by the reader
 *   subscriber.c   the cancel subscriber thread (nova:cancel:{queue})
 *   engine.c       the engine (main thread): its loop, the Bedrock client's poll, the Redis
 *                  writes, the drain
 *   flight.c       the jobs in flight: each one's lifecycle, retries, events, cancels, XACKs
 *   call.c         where a job meets the Bedrock client (the request; what its end becomes)
 *   outbox.c       the engine's Redis writes, pipelined: one round trip per poll turn
 *   shared_text.c  the system prompts of the jobs held, one copy each, by name (a cache)
 *   retire.c       a finished job's XACK, the deletion of its entry, its receipt
 *
 * Ownership: the reader allocates a struct worker_job and hands it to the engine through the
 * inbox (under mu); from then on the engine owns it and frees it when the job ends. Cancels go
 * from the subscriber to the engine through a bounded ring (under mu), and entries another
 * worker took over from the reader to the engine the same way. Producers then call
 * bedrock_client_wakeup() so the engine's poll returns at once.
 *
 * Failure semantics (API.md's error codes):
 *   - a call failing with a retryable error before its first delta goes again after a capped
 *     exponential backoff with full jitter (common/aws/retry.h), within NOVA_RETRY_MAX_ATTEMPTS and
 *     the job's deadline; the wait is a timer of the engine's loop. After the first delta a
 *     failure is the job's error event: shown text is never silently restarted.
 *   - a job stays pending in the group until its XACK. A live worker keeps its pending entries
 *     young (claims.c); a dead one's age past NOVA_VISIBILITY_TIMEOUT_S and another worker
 *     reclaims them. nova:progress:<job>, set just before a job's first delta is written (in
 *     the same ordered pipeline) and deleted after its XACK, tells the reclaimer what the page
 *     has seen: no marker → a worker_lost notice and the job runs again from the start; a
 *     marker → a worker_lost error (shown text is not restarted). Past NOVA_MAX_DELIVERIES
 *     deliveries a job is a dead letter. A worker dying between a job's last event and its
 *     XACK (adjacent commands of one pipeline) leaves a job that is answered again or told
 *     worker_lost after its end: accepted.
 *   - Redis refusing writes for now (OOM, READONLY: outbox.h) holds them, in order, and
 *     retries; nothing of a refused turn is applied (one transaction), so no XACK precedes its
 *     job's last event. Past WORKER_REFUSED_GIVE_UP_MS the running jobs end "unavailable",
 *     acknowledged once that end is written. Appends are numbered per job run (append.h): a
 *     re-send after a lost reply is not shown twice.
 *   - jobs that failed for good (a non-retryable error, retries exhausted or cut by the
 *     deadline, too many deliveries, unreadable) go to nova:dead:{queue} with job, reason,
 *     code, worker, failed_ms and entry. Canceled and expired jobs do not. */
#ifndef NOVA_WORKER_H
#define NOVA_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "aws/aws_config.h"
#include "aws/bedrock.h"
#include "core/config.h"
#include "redis/append.h"
#include "redis/contract.h"
#include "redis/job.h"
#include "redis/rconn.h"
#include "shared_text.h"

#define WORKER_ID_MAX 64
#define WORKER_CANCEL_RING 1024     /* cancels waiting for the engine; past it the oldest go */
#define WORKER_BEAT_MS 5000         /* heartbeat period */
#define WORKER_BEAT_TTL_MS 15000    /* a heartbeat hash outlives three missed beats, no more */
#define WORKER_STALE_MS 60000       /* zset entries older than this are dropped */
#define WORKER_READ_BLOCK_MS 1000   /* XREADGROUP BLOCK */
#define WORKER_REDIS_TIMEOUT_MS 1000 /* connect and command timeout of the pooled connections */
#define WORKER_BACKOFF_MIN_MS 100   /* Redis reconnects: capped exponential backoff */
#define WORKER_BACKOFF_MAX_MS 2000
/* A job's text goes out as a delta event at once when it is its first, then at most once per
 * this many ms (what arrived meanwhile joins the next one; the end of a call flushes it): every
 * event costs each process on its way (Redis's append, nova-fcgi's relay, nginx) a wakeup and
 * a few system calls, and 25 updates a second read as smooth as one per token. The first words
 * are never held. */
#define WORKER_DELTA_SPACING_MS 40
/* Redis refusing the engine's writes for now (OOM under noeviction, READONLY during a
 * failover) holds them in the outbox and tries again with the reconnect backoff; past this
 * long the running jobs are given up (error "unavailable", written when Redis takes writes
 * again, and only then their XACK): their calls stop costing. */
#define WORKER_REFUSED_GIVE_UP_MS 10000
#define WORKER_PROGRESS_SLACK_MS 60000 /* nova:progress:<job> outlives the job's deadline by
                                          this much: a reclaim after it answers "timeout" */

struct worker_job; /* worker_job.h */

struct worker {
    const struct nova_config *cfg;
    const struct aws_config *aws;   /* region, endpoints, credentials, retries */
    char id[WORKER_ID_MAX + 1];
    enum queue queue;
    char host[256];
    pid_t pid;
    long long started_ms;           /* epoch ms */
    char jobs_key[KEY_MAX], dead_key[KEY_MAX], worker_key[KEY_MAX], workers_key[KEY_MAX];
    char cancel_channel[KEY_MAX];
    struct rconn_addr addr;
    struct rpool *pool;             /* reader side commands and the engine's writes */
    struct text_table texts;        /* the system prompts of the jobs held (one copy each) */
    struct bedrock_client *client;  /* the engine's; others only call bedrock_client_wakeup */

    pthread_mutex_t mu;
    pthread_cond_t cv;              /* monotonic (clock.h); room, stop, subscribed, exit */
    struct worker_job *inbox, *inbox_tail;
    char cancels[WORKER_CANCEL_RING][JOB_ID_MAX];
    size_t cancel_head, cancel_len;
    char stolen[WORKER_CANCEL_RING][EVENT_ID_MAX]; /* entries another worker took over */
    size_t n_stolen;
    /* Entries this worker owes an answer for: from hand-over until Redis answered their XACK
     * (or the job was handed back). The reader refreshes them (claims.c). */
    char (*claims)[EVENT_ID_MAX];
    size_t n_claims, cap_claims;
    size_t in_flight;               /* handed to the engine and not yet ended */
    bool stopping;                  /* SIGTERM/SIGINT: read no new jobs */
    bool exiting;                   /* the threads leave their loops */
    bool subscribed;                /* the cancel subscription is live */
    bool resync;                    /* resubscribed: cancels may have been missed */
    int reader_fd;                  /* the reader's blocking connection, -1 when none */
    int stop_efd;                   /* eventfd that ends the subscriber's poll */

    atomic_ulong jobs_done, jobs_failed, jobs_canceled, jobs_dead, jobs_expired;
    atomic_ulong events, events_dropped;
    atomic_ulong jobs_retried;      /* calls started again after a retryable error */
    atomic_ulong jobs_reclaimed;    /* entries taken over from another (dead) worker */
    atomic_ulong jobs_lost;         /* reclaimed with text shown: answered worker_lost */
    atomic_ulong writes_refused;    /* engine writes Redis answered with an error */
    atomic_ulong writes_deferred;   /* engine flushes Redis refused for now (OOM, READONLY):
                                       kept and sent again */
    atomic_ulong events_resent;     /* appends sent again that Redis had applied already */
    atomic_ulong jobs_refused;      /* given up: Redis refused their writes too long */
    atomic_ulong jobs_no_prompt;    /* failed: the system prompt they name was not in Redis */
    atomic_ulong prompts_fetched;   /* named prompts read from Redis into the cache */
    /* Tokens of every call that ended well, as Bedrock reported them (what is billed). */
    atomic_ulong tokens_input, tokens_output, tokens_cache_read, tokens_cache_write;
    /* the reader's reclaim scan (claims.c) */
    char reclaim_cursor[EVENT_ID_MAX];
};

#endif
