/* worker_job: one job on this worker, from its stream entry to its end.
 *
 * The reader makes it from an entry (worker_job_new) and hands it to the engine through the
 * inbox; from then on the engine owns it and frees it when the job ends (worker_job_free). */
#ifndef NOVA_WORKER_JOB_H
#define NOVA_WORKER_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "redis/append.h"
#include "redis/contract.h"
#include "redis/job.h"
#include "shared_text.h"

struct worker;
struct engine;
struct bedrock_call;

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

/* The job of stream entry entry_id, whose "job" field is json (len bytes, from outside): parsed,
 * checked to be for w's queue, its system prompt swapped for the shared copy (shared_text.h),
 * its request id and keys derived. NULL with errstr ("bad job: ...", or the wrong queue) when
 * it is not a job this worker can run; the caller writes its dead letter. */
struct worker_job *worker_job_new(struct worker *w, const char *json, size_t len,
                                  const char *entry_id, char *errstr, size_t errlen);
/* Frees a job (its shared system prompt let go) and the job itself. */
void worker_job_free(struct worker *w, struct worker_job *wj);

#endif
