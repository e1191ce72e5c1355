/* relay: one open SSE stream — the events of a request's jobs, from the thread's inbox and
 * from the transcript, written to the client in id order until `done`.
 *
 * Every event has the id of its transcript entry, and the relay writes an event only when its
 * id is above the last one written, so the transcript replay of a resume (or of a gap after a
 * Redis reconnect) and the live messages can overlap without duplicates. It counts which jobs
 * have ended (model_done or error, by phase and model) and sums their usage. When all have
 * ended it appends `done` to the transcript (and publishes it), then writes everything up to
 * and including it. A resume does so only after a second without a `done` from the stream
 * that queued the jobs (which appends at once), so two live readers of one request do not
 * both append one.
 *
 * It ends early when the client goes away (its unfinished jobs are canceled unless another
 * live reader — one that renewed its nova:readers entry within the last 3 s — resumes the
 * request within RELAY_RESUME_GRACE_MS: a page reconnecting after a dropped connection keeps
 * its answer), when the inbox
 * overflowed (an `error` unavailable, then `done`: the client resumes), when the child drains
 * (at the drain deadline, one `error` unavailable per unfinished job, then `done`), or when
 * the jobs' deadline passed (`error` timeout for each unfinished job, appended, then `done`).
 * Events written only to this client (drain, overflow) carry no id: the client's
 * Last-Event-ID stays at the last transcript event. */
#ifndef NOVA_RELAY_H
#define NOVA_RELAY_H

#include <stdbool.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/usage.h"
#include "plan.h"
#include "product/chatreq.h"
#include "redis/contract.h"
#include "redis/job.h"
#include "redis/streamid.h"
#include "req.h"

struct relay_job {
    char id[JOB_ID_MAX];
    enum queue queue;
    const char *phase; /* static (plan.h) */
    enum model model;
    bool ended;
    bool first_delta;  /* its first delta was seen (the origin's time to first token) */
    struct token_usage usage;
};

enum relay_end {
    RELAY_DONE,    /* `done` was written */
    RELAY_GONE,    /* the client went away; its jobs were canceled */
    RELAY_CUT,     /* the inbox overflowed */
    RELAY_DRAINED, /* the child is shutting down */
    RELAY_FAILED,  /* Redis failed while finishing */
};

struct relay {
    struct req *rq;
    char request_id[CHATREQ_REQUEST_ID_LEN + 1];
    char log_key[KEY_MAX];
    char channel[KEY_MAX];          /* nova:out:<request>: our own events */
    struct relay_job jobs[PLAN_MAX_JOBS];
    size_t n_jobs;
    struct stream_id last;          /* the last event id accounted for */
    bool have_last;
    struct stream_id write_after;   /* resume: events up to this id are not written */
    bool skip;
    long long start_epoch_ms;       /* for done.elapsed_ms */
    long long deadline_ms;          /* monotonic: stop waiting for the jobs */
    long long next_ping_ms;
    bool done_seen;
    bool origin;                    /* this stream queued the jobs (else it is a resume) */
    bool reading;                   /* an entry in nova:readers:<request> */
    char reader[17];                /* that entry's token */
    long long beat_ms;              /* monotonic: when to renew it */
    long long finish_at_ms;         /* resume: append done at this time, 0 when not due */
    unsigned long written;          /* events written to the client */
    size_t n_first;                 /* jobs whose first delta was seen */
    struct buf out;                 /* SSE bytes the client has not taken yet */
    long long progress_ms;          /* monotonic: when the client last took bytes */
    bool behind;                    /* out overflowed: the stream must be cut */
    struct buf taken;               /* messages taken from the inbox */
    json_tokener *tok;
    struct token_usage extra_usage; /* a call of the request outside the jobs (the
                                         translation), added to done's usage and cost */
    bool has_extra;                 /* extra_usage is set: */
    enum model extra_model;         /* the model it was priced as */
    const char *capture_phase;      /* relay_capture: whose text is kept, or NULL */
    struct buf capture[PLAN_MODELS]; /* that phase's micro and pro text, capped */
};

/* Sets the stream up for request_id; start_epoch_ms is when the request began, deadline
 * (epoch ms) when its jobs stop being waited for. */
void relay_init(struct relay *r, struct req *rq, const char *request_id,
                long long start_epoch_ms, long long deadline_epoch_ms);
void relay_add_job(struct relay *r, const char *job_id, const char *phase, enum model model);
/* The channels to subscribe to: every job's and the request's own (at most
 * PLAN_MAX_JOBS + 1; pointers into r and bufs). Returns their number. */
size_t relay_channels(struct relay *r, char bufs[][KEY_MAX], const char **out);
void relay_free(struct relay *r);

/* Keeps (up to max bytes each, whole characters) the text of phase's Micro and Pro deltas in
 * r->capture: what the session remembers of the answer. */
void relay_capture(struct relay *r, const char *phase, size_t max);

/* Appends one of our own events to the transcript (and publishes it), then writes it to the
 * client with its id. Returns 0, or -1 (Redis failed: nothing written; or client gone). */
int relay_append_event(struct relay *r, const char *type, const char *data, size_t len);

/* Accounts one event and writes it (buffered) unless it was written already or is at or
 * below write_after. Returns 0, or -1 when the client is gone. */
int relay_event(struct relay *r, const char *id, size_t id_len, const char *type,
                size_t type_len, const char *data, size_t data_len);
/* Writes what is buffered. Returns 0 or -1 (client gone). */
int relay_flush(struct relay *r);
/* Reads the transcript after the last accounted id (from its start when none) and relays
 * it. Returns 0, or -1 (Redis failed or the client is gone: see rq->client_gone). */
int relay_catch_up(struct relay *r);
/* True when every job has ended. */
bool relay_all_ended(const struct relay *r);

/* Relays until the end; see above. */
enum relay_end relay_run(struct relay *r);

/* Ends the stream for this client only, retryably: an `error` unavailable with message,
 * then `done`, neither with an id nor in the transcript (the client resumes). */
void relay_abort(struct relay *r, const char *message);

/* Cancels the jobs not yet ended (marker and cancel message). Returns 0 or -1 (Redis). */
int relay_cancel_jobs(struct app *app, const struct relay_job *jobs, size_t n, bool all);

#endif
