/* worker: the state nova-worker's threads share, and the entry points of each thread.
 *
 *   main.c        arguments, configuration, signals; starts the threads, runs the engine
 *   reader.c      the reader thread: XREADGROUP, job checks, dead letters, the heartbeat
 *   claims.c      the hold on this worker's pending entries (refresh) and the reclaim of
 *                 dead workers' ones (XAUTOCLAIM), both run by the reader
 *   subscriber.c  the cancel subscriber thread (nova:cancel:{queue})
 *   engine.c      the engine (main thread): the Bedrock client, job lifecycles, retries, drain
 *   outbox.c      the engine's Redis writes, pipelined: one round trip per poll turn
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
#define WORKER_RECLAIM_COUNT 64     /* entries per XAUTOCLAIM, at most */
#define WORKER_REFRESH_BATCH 500    /* entry ids per refresh script call */
#define WORKER_PROGRESS_SLACK_MS 60000 /* nova:progress:<job> outlives the job's deadline by
                                          this much: a reclaim after it answers "timeout" */

struct engine; /* engine.c's state */

/* One job from reading to its end. The engine's fields are touched by the engine only. */
struct worker_job {
    struct worker_job *next, *prev; /* inbox (next only), then the engine's active list */
    struct job job;
    struct shared_text *system_text; /* job.system is the table's copy (shared_text.h) */
    char rid[80];                   /* the page's request id, for the logs: job.request up to
                                       a '.' ("<request>.translate" is a translation's) */
    char entry_id[EVENT_ID_MAX];    /* the stream entry to XACK when the job ends */
    char log_key[KEY_MAX];          /* nova:log:<request> */
    char channel[KEY_MAX];          /* nova:out:<job> */
    struct worker *w;
    struct engine *engine;
    struct bedrock_call *call;      /* NULL until started; invalid after on_done */
    struct buf delta;               /* text that arrived this turn, not yet an event */
    struct worker_job *dirty_next, *dirty_prev; /* on the engine's list of held text */
    bool dirty;
    double t_start;                 /* monotonic ms */
    double retry_at;                /* monotonic ms of the next call; 0 when none is waiting */
    int attempts;                   /* calls started */
    bool cancel_sent;               /* bedrock_call_cancel done */
    bool handed_back;               /* drain ran out: end without event or XACK */
    bool stolen;                    /* another worker reclaimed it: end without event or XACK */
    bool lost;                      /* the outbox overflowed: later events are dropped, the job
                                       ends with an "unavailable" error */
    bool shown;                     /* a delta was written: no retry, the progress marker is set */
};

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
    /* Tokens of every call that ended well, as Bedrock reported them (what is billed). */
    atomic_ulong tokens_input, tokens_output, tokens_cache_read, tokens_cache_write;
    /* the reader's reclaim scan (claims.c) */
    char reclaim_cursor[EVENT_ID_MAX];
};

/* Adds a call's usage to the worker's token counters. */
void worker_count_tokens(struct worker *w, const struct token_usage *u);

/* Frees a job read from the queue (its shared system prompt let go) and the job itself. */
void worker_job_free(struct worker *w, struct worker_job *wj);
void *reader_main(void *w);
void *subscriber_main(void *w);
/* Runs the engine until a signal on sigfd and the drain are over. Returns 0. */
int engine_run(struct worker *w, int sigfd);

/* ---- claims.c ---- */
/* The claim period: how often the reader refreshes its entries, so that they never look idle
 * for a visibility timeout while the worker lives (a third of it, at most the heartbeat's). */
long claims_refresh_ms(const struct worker *w);
/* Registers an entry handed to the engine. The caller holds w->mu. */
void claims_add_locked(struct worker *w, const char *entry_id);
/* Forgets an entry (its XACK was answered, or it was handed back); takes w->mu. */
void claims_remove(struct worker *w, const char *entry_id);
/* XCLAIMs (JUSTID, min-idle 0) every registered entry that is still this worker's, so its
 * idle time restarts; entries another worker took meanwhile are forgotten and passed to the
 * engine to stop. Returns 0, or -1 (logged at debug: the reader's reconnect logs the outage). */
int claims_refresh(struct worker *w);
/* XAUTOCLAIMs up to count entries idle past the visibility timeout, continuing the scan where
 * the last call left it. Returns the reply (the caller frees it) with *entries pointing at its
 * entry array, of which the first *n_entries are to be handled, and deliveries[i] (the
 * caller's array of count) the delivery count of entry i after this claim (0 when unknown);
 * NULL when nothing was claimed or Redis failed. */
redisReply *claims_reclaim(struct worker *w, size_t count, const redisReply **entries,
                           size_t *n_entries, long *deliveries);

#endif
