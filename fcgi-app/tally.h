/* tally: what one stream has seen of its request's jobs, with no I/O — events in, decisions
 * out. It keeps
 *   - the jobs and which of them have ended (model_done or error, named by phase and model;
 *     the question's translation job by its `translation` event or an error), with their
 *     usage: done's data sums it (plus calls of the request outside the jobs: a translation
 *     made before the search, whose `translation` event names no job) and prices it;
 *   - whether `done` itself was seen;
 *   - what the client already has: a resume's events up to its Last-Event-ID are accounted
 *     but not written again;
 *   - the text of one phase's Micro and Pro deltas (capped): what the session remembers.
 *
 * Events come in once each and in id order (the transcript reader de-duplicates them). The
 * stream that queued the jobs (the origin) also counts their events in the metrics (metrics.h:
 * first delta per job, model_done, error and notice codes); a resume does not, since it
 * replays events the origin may have counted. Deltas are parsed only while a job's first one
 * is awaited or the captured text still has room. */
#ifndef NOVA_TALLY_H
#define NOVA_TALLY_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/usage.h"
#include "plan.h"
#include "product/price.h"
#include "redis/contract.h"
#include "redis/job.h"
#include "redis/streamid.h"

/* The jobs of a request: its answer jobs and the question's translation. */
#define TALLY_MAX_JOBS (PLAN_MAX_JOBS + 1)

struct tally_job {
    char id[JOB_ID_MAX];
    enum queue queue;
    const char *phase; /* static (plan.h, contract.h) */
    enum model model;
    bool translation;  /* the question's translation: no deltas, ends with `translation` */
    bool ended;
    bool first_delta;  /* its first delta was seen (the origin's time to first token) */
    struct token_usage usage;
};

struct tally {
    struct tally_job jobs[TALLY_MAX_JOBS];
    size_t n_jobs;
    size_t n_answers;               /* jobs that stream deltas (not the translation) */
    size_t n_first;                 /* of those, the ones whose first delta was seen */
    bool origin;                    /* this stream queued the jobs (else it is a resume) */
    long long t0_ms;                /* monotonic: when the request arrived (metrics' times) */
    bool done_seen;
    bool guardrail;                 /* origin: a `notice` `guardrail` went through (gaps.h) */
    bool skip;                      /* resume: events up to write_after are not written */
    struct stream_id write_after;
    struct token_usage extra_usage; /* calls of the request outside the jobs */
    bool has_extra;
    enum model extra_model;         /* the model it is priced as */
    const char *capture_phase;      /* whose text is kept, or NULL */
    struct buf capture[PLAN_MODELS]; /* that phase's text by model, capped */
    json_tokener *tok;
};

/* origin: this stream queued the jobs; t0_ms: when the request arrived (monotonic). */
void tally_init(struct tally *t, bool origin, long long t0_ms);
void tally_free(struct tally *t);
/* One answer job more (at most TALLY_MAX_JOBS jobs in all; phase is static). */
void tally_add_job(struct tally *t, const char *job_id, const char *phase, enum model model);
/* The question's translation job (a pro job of a translation phase, contract.h; static): it
 * ends with its `translation` event or an error, and its usage counts in done. */
void tally_add_translation(struct tally *t, const char *job_id, const char *phase);
/* Resume: the client has every event up to after. */
void tally_write_after(struct tally *t, const struct stream_id *after);
/* A call of the request outside the jobs, priced as model, added to done's usage and cost
 * (several add up; all are priced as the last one's model). A `translation` event that names
 * no job adds its usage the same way, as pro. */
void tally_add_usage(struct tally *t, enum model model, const struct token_usage *u);
/* Keeps (up to max bytes each, whole characters) the text of phase's Micro and Pro deltas. */
void tally_capture(struct tally *t, const char *phase, size_t max);
/* The text kept of model's deltas ("" when none). */
const struct buf *tally_captured(const struct tally *t, enum model model);

/* Accounts one event (a new one, with its transcript id) at now_ms (monotonic). Returns true
 * when the client should get it, false when it has it already (resume). */
bool tally_take(struct tally *t, const struct stream_id *id, const char *type, size_t type_len,
                const char *data, size_t data_len, long long now_ms);
/* True when every job has ended (also with no jobs at all). */
bool tally_all_ended(const struct tally *t);
/* Marks job i ended without an event of its own (the stream gave up on it). */
void tally_end_job(struct tally *t, size_t i);
/* The ids and queues of the jobs not yet ended (all of them with all) into ids and queues
 * (TALLY_MAX_JOBS each; the ids point into t). Returns their number. */
size_t tally_open_jobs(const struct tally *t, bool all, const char **ids, enum queue *queues);
/* done's data appended to out: the usage summed, its price, elapsed_ms. */
void tally_done_json(const struct tally *t, const struct price_table *prices,
                     long long elapsed_ms, struct buf *out);

#endif
