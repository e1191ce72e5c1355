/* worker: the state nova-worker's threads share, and the entry points of each thread.
 *
 *   main.c        arguments, configuration, signals; starts the threads, runs the engine
 *   reader.c      the reader thread: XREADGROUP, job checks, dead letters, the heartbeat
 *   subscriber.c  the cancel subscriber thread (nova:cancel:{queue})
 *   engine.c      the engine (main thread): the Bedrock client, job lifecycles, drain
 *   outbox.c      the engine's Redis writes, pipelined: one round trip per poll turn
 *
 * Ownership: the reader allocates a struct worker_job and hands it to the engine through the
 * inbox (under mu); from then on the engine owns it and frees it when the job ends. Cancels go
 * from the subscriber to the engine through a bounded ring (under mu). Both producers then call
 * bedrock_client_wakeup() so the engine's poll returns at once. */
#ifndef NOVA_WORKER_H
#define NOVA_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "bedrock.h"
#include "config.h"
#include "jobs.h"
#include "keys.h"
#include "rconn.h"

#define WORKER_ID_MAX 64
#define WORKER_CANCEL_RING 1024     /* cancels waiting for the engine; past it the oldest go */
#define WORKER_BEAT_MS 5000         /* heartbeat period */
#define WORKER_BEAT_TTL_MS 15000    /* a heartbeat hash outlives three missed beats, no more */
#define WORKER_STALE_MS 60000       /* zset entries older than this are dropped */
#define WORKER_READ_BLOCK_MS 1000   /* XREADGROUP BLOCK */
#define WORKER_REDIS_TIMEOUT_MS 1000 /* connect and command timeout of the pooled connections */
#define WORKER_BACKOFF_MIN_MS 100   /* Redis reconnects: capped exponential backoff */
#define WORKER_BACKOFF_MAX_MS 2000
#define WORKER_DEAD_MAXLEN 10000    /* nova:dead:{queue} keeps about this many entries */

struct engine; /* engine.c's state */

/* One job from reading to its end. The engine's fields are touched by the engine only. */
struct worker_job {
    struct worker_job *next, *prev; /* inbox (next only), then the engine's active list */
    struct job job;
    char entry_id[EVENT_ID_MAX];    /* the stream entry to XACK when the job ends */
    char log_key[KEY_MAX];          /* nova:log:<request> */
    char channel[KEY_MAX];          /* nova:out:<job> */
    struct worker *w;
    struct engine *engine;
    struct bedrock_call *call;      /* NULL until started; invalid after on_done */
    struct buf delta;               /* text that arrived this turn, not yet an event */
    double t_start;                 /* monotonic ms */
    bool cancel_sent;               /* bedrock_call_cancel done */
    bool handed_back;               /* drain ran out: end without event or XACK */
    bool lost;                      /* the outbox overflowed: end without XACK */
};

struct worker {
    const struct nova_config *cfg;
    char id[WORKER_ID_MAX + 1];
    char queue[16];
    char host[256];
    pid_t pid;
    long long started_ms;           /* epoch ms */
    char jobs_key[KEY_MAX], dead_key[KEY_MAX], worker_key[KEY_MAX], workers_key[KEY_MAX];
    char cancel_channel[KEY_MAX];
    struct rconn_addr addr;
    struct rpool *pool;             /* reader side commands and the engine's writes */
    struct bedrock_client *client;  /* the engine's; others only call bedrock_client_wakeup */

    pthread_mutex_t mu;
    pthread_cond_t cv;              /* CLOCK_MONOTONIC; room, stop, subscribed, exit */
    struct worker_job *inbox, *inbox_tail;
    char cancels[WORKER_CANCEL_RING][JOB_ID_MAX];
    size_t cancel_head, cancel_len;
    size_t in_flight;               /* handed to the engine and not yet ended */
    bool stopping;                  /* SIGTERM/SIGINT: read no new jobs */
    bool exiting;                   /* the threads leave their loops */
    bool subscribed;                /* the cancel subscription is live */
    bool resync;                    /* resubscribed: cancels may have been missed */
    int reader_fd;                  /* the reader's blocking connection, -1 when none */
    int stop_efd;                   /* eventfd that ends the subscriber's poll */

    atomic_ulong jobs_done, jobs_failed, jobs_canceled, jobs_dead, jobs_expired;
    atomic_ulong events, events_dropped;
};

double worker_now_ms(void);         /* monotonic */
long long worker_epoch_ms(void);
/* Adds ms to now on CLOCK_MONOTONIC, for pthread_cond_timedwait on w->cv. */
void worker_deadline(struct timespec *ts, long ms);
/* The next capped exponential backoff step. */
long worker_backoff_next(long ms);

void *reader_main(void *w);
void *subscriber_main(void *w);
/* Runs the engine until a signal on sigfd and the drain are over. Returns 0. */
int engine_run(struct worker *w, int sigfd);

/* Writes the heartbeat now (one pipelined round trip). Returns 0 or -1 (logged). */
int heartbeat_write(struct worker *w);
/* Removes this worker's heartbeat hash and its zset entry. */
void heartbeat_remove(struct worker *w);

#endif
