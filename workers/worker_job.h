/* worker_job: one job on this worker, from its stream entry to its end.
 *
 * The reader makes it from an entry (worker_job_new) and hands it to the engine through the
 * inbox; from then on the engine owns it, drives its lifecycle (enum job_state) and frees it
 * when the job ends (worker_job_free). */
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
struct flight;
struct bedrock_call;

/* A job's lifecycle on this worker, one state at a time (what the engine does with it next
 * follows from the state alone):
 *
 *   NEW          read and handed to the engine, no call yet
 *   RUNNING      a call is in flight
 *   WAITING      between calls: the last failed with a retryable error before any text; the
 *                next starts at retry_at
 *   CANCELING    canceled: its call was told to stop (between calls it has none, and ends at the
 *                engine's next turn); ends with error "canceled" and its XACK
 *   LOST         given up: a delta did not fit the outbox (Redis away too long), or Redis kept
 *                refusing writes (OOM, READONLY) past WORKER_REFUSED_GIVE_UP_MS; its call was
 *                told to stop, what it still produces is dropped; ends with error "unavailable"
 *                and its XACK, queued behind the events already held
 *   HANDED_BACK  the drain ran out (or it was read just before the drain); its call was told to
 *                stop; ends without event or XACK, pending for another worker
 *   TAKEN_OVER   another worker reclaimed its entry; likewise, its new owner answers
 *   DONE         ended: its last writes are queued; freed next
 *
 * The transitions (worker_job_set_state checks them):
 *
 *   NEW         -> RUNNING, HANDED_BACK, DONE (refused before a call)
 *   RUNNING     -> WAITING, CANCELING, LOST, HANDED_BACK, TAKEN_OVER, DONE (the call ended)
 *   WAITING     -> RUNNING, CANCELING, HANDED_BACK, TAKEN_OVER
 *   CANCELING   -> LOST, HANDED_BACK, TAKEN_OVER, DONE
 *   LOST        -> HANDED_BACK, TAKEN_OVER, DONE
 *   HANDED_BACK -> TAKEN_OVER, DONE
 *   TAKEN_OVER  -> DONE
 *
 * The stopping states are ordered: a later one decides how the job ends over an earlier one
 * (a lost job handed back at the drain is left for another worker, not answered "unavailable";
 * a job handed back and then taken over is logged as taken over). Nothing goes back to RUNNING
 * but a WAITING job, so a canceled, lost or left job is never retried.
 *
 * Two facts about a job are not states, since they hold in several states at once and change
 * independently of them: whether it is on the engine's list of jobs holding text this turn
 * (list membership, dirty) and whether a delta of it was written (progress, shown: it is what
 * sets the progress marker and forbids a retry, in RUNNING as in CANCELING or LOST). */
enum job_state {
    JOB_NEW,
    JOB_RUNNING,
    JOB_WAITING,
    JOB_CANCELING,
    JOB_LOST,
    JOB_HANDED_BACK,
    JOB_TAKEN_OVER,
    JOB_DONE,
    JOB_STATES
};

/* One job from reading to its end. The engine's fields are touched by the engine only. */
struct worker_job {
    struct worker_job *next, *prev; /* inbox (next only), then the engine's active list */
    struct job job;
    struct shared_text *system_text; /* job.system is the table's copy (shared_text.h) */
    char rid[80];                   /* the page's request id, for the logs: job.request up to
                                       a '.' ("<request>.translate" is a translation's) */
    char entry_id[EVENT_ID_MAX];    /* the stream entry to XACK when the job ends */
    /* Its keys, in one block of their exact sizes (keys), not four KEY_MAX arrays: a worker
     * holds thousands of jobs. */
    char *log_key;                  /* nova:log:<request> */
    char *channel;                  /* nova:out:<job> */
    char *seq_key;                  /* nova:seq:<request>: what its appends have applied */
    char *seq_field;                /* "<job>/<worker>.<n>": this run of the job, its own
                                       numbers (a reclaimer's run starts again at 1) */
    char *keys;
    unsigned long seq;              /* the number of its last event queued (append.h) */
    long token;                     /* its fencing token: the delivery count it was taken
                                       with, 1 for a fresh read (append.h) */
    bool refused;                   /* LOST because Redis refused its writes, not unreachable */
    struct worker *w;
    struct flight *flight;          /* the engine's, once admitted */
    enum job_state state;           /* changed only by worker_job_set_state */
    struct bedrock_call *call;      /* the call in flight; NULL before, between and after calls */
    struct buf delta;               /* text that arrived this turn, not yet an event */
    struct worker_job *dirty_next, *dirty_prev; /* on the engine's list of held text */
    bool dirty;                     /* on that list */
    bool shown;                     /* a delta was written: no retry, the progress marker is set */
    double delta_at;                /* monotonic ms of its last delta event */
    double t_start;                 /* monotonic ms */
    double retry_at;                /* WAITING: monotonic ms of the next call */
    int attempts;                   /* calls started */
};

/* The job of stream entry entry_id, whose "job" field is json (len bytes, from outside): parsed,
 * checked to be for w's queue, its system prompt swapped for the shared copy or, when it names
 * one, given the cache's copy if it is there (shared_text.h), its request id and keys derived. NULL with errstr ("bad job: ...", or the wrong queue) when
 * it is not a job this worker can run; the caller writes its dead letter. */
struct worker_job *worker_job_new(struct worker *w, const char *json, size_t len,
                                  const char *entry_id, char *errstr, size_t errlen);
/* Whether the job names a system prompt it does not have yet: one the cache did not hold when
 * the job was made (the reader fetches it; a job never runs without it). */
bool worker_job_needs_prompt(const struct worker_job *wj);
/* Gives a job that needs it the text of its named prompt (len bytes, the caller has checked
 * that its SHA-256 is the name): the cache's copy, added there if need be, or the job's own
 * copy when the cache has no room. */
void worker_job_set_prompt(struct worker *w, struct worker_job *wj, const char *text,
                           size_t len);
/* Frees a job (its shared system prompt let go) and the job itself. */
void worker_job_free(struct worker *w, struct worker_job *wj);

/* The one way a job's state changes (curl's multistate() is the model): logged at debug with
 * the old and the new state's names, and at error when it is not one of the transitions above
 * (a bug; the change is made all the same). Entering CANCELING, LOST, HANDED_BACK or
 * TAKEN_OVER from RUNNING tells the running call to stop (bedrock_call_cancel), so a call is
 * told once: the other states have no call, or one already told. Setting the state a job is
 * in does nothing. */
void worker_job_set_state(struct worker_job *wj, enum job_state to);
/* "new", "running", "waiting", "canceling", "lost", "handed_back", "taken_over", "done". */
const char *job_state_name(enum job_state s);
/* Whether from -> to is one of the transitions above. */
bool job_state_allowed(enum job_state from, enum job_state to);

#endif
