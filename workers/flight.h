/* flight: the jobs in flight on the engine, and each one's lifecycle (enum job_state,
 * worker_job.h) from its admission to its end.
 *
 * The engine's loop hands it the jobs the reader read, the cancels the subscriber heard and the
 * entries another worker took over; the Bedrock client's callbacks bring it text and ends. It
 * turns them into events, XACKs, progress markers and dead letters, queued in order in the
 * engine's outbox, and starts retries when their backoff is over. Engine thread only. */
#ifndef NOVA_FLIGHT_H
#define NOVA_FLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "aws/retry.h"
#include "core/buf.h"
#include "outbox.h"
#include "worker.h"
#include "worker_job.h"

#define RECENT_CANCELS 128                 /* cancels that came before their job */

struct flight {
    struct worker *w;
    struct outbox *ob;                     /* the engine's: flight queues, the engine sends */
    struct worker_job *active;             /* admitted and not ended, doubly linked */
    size_t n_active;
    size_t n_idle;                         /* active jobs without a call: WAITING, or
                                              CANCELING between calls */
    struct worker_job *dirty;              /* jobs holding text for this turn's events, doubly
                                              linked: a turn flushes these, not every job */
    struct buf scratch;                    /* event JSON under construction */
    struct { char id[JOB_ID_MAX]; double at; } recent[RECENT_CANCELS];
    size_t recent_next;
    struct retry_policy retry;
    uint64_t rng;                          /* the backoff's jitter */
    unsigned long left;                    /* jobs handed back or taken over */
};

/* ob is borrowed and outlives fl. */
void flight_init(struct flight *fl, struct worker *w, struct outbox *ob);
/* Frees fl's own memory; the jobs must have ended. */
void flight_free(struct flight *fl);

/* Takes a job from the inbox (NEW; fl owns it from now on): refused and ended (canceled just
 * before, no knowledge base id), or admitted with its first call started. */
void flight_start(struct flight *fl, struct worker_job *wj);
/* Ends a job from the inbox that is not to start (read just before the drain): handed back
 * without event or XACK, it stays pending for another worker. */
void flight_leave(struct flight *fl, struct worker_job *wj);
/* Cancels every job with this id (running or between calls); an id that matched none is
 * remembered for a while, for a job read but not yet handed over. Returns true when one was
 * found. */
bool flight_cancel(struct flight *fl, const char *id);
/* Stops the jobs of these entries, which another worker took over: no event, no XACK. */
void flight_take_over(struct flight *fl, char (*entries)[EVENT_ID_MAX], size_t n);
/* After a lost cancel subscription: asks Redis (on c, pipelined) for every job's cancel marker
 * and cancels those that have one. Stops at a failed reply (c->err says so). */
void flight_resync(struct flight *fl, redisContext *c);
/* The jobs between calls: ends the ones a resync canceled, starts the ones whose backoff is
 * over. Once per turn, before the poll. */
void flight_between_calls(struct flight *fl);
/* Redis has refused the writes for longer than WORKER_REFUSED_GIVE_UP_MS (OOM, READONLY):
 * every running job is given up (LOST, its call stopped); each ends with error "unavailable"
 * queued behind what it already queued, so it is acknowledged only once that end is in Redis,
 * and stays pending (reclaimed elsewhere) if this worker stops first. Returns how many. */
size_t flight_give_up(struct flight *fl);
/* The drain is over: every job still in flight is handed back (its call stopped, it ends
 * without event or XACK when the call reports back; a job between calls ends now). */
void flight_hand_back(struct flight *fl);
/* Turns the text the jobs hold into one delta event each: a job's first text at once, later
 * text once WORKER_DELTA_SPACING_MS have passed since its last delta (worker.h). */
void flight_flush_text(struct flight *fl);
/* The monotonic ms at which held text is next due (flight_flush_text), -1 when none is held. */
double flight_next_flush(const struct flight *fl);
/* The monotonic ms of the next retry's call, or -1 when no job is waiting for one. */
double flight_next_call(const struct flight *fl);

#endif
