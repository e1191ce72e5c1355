/* engine: the thread that owns the Bedrock client and every running job.
 *
 * One loop: take the jobs and cancels the other threads queued, start and cancel calls, poll
 * the client (which also watches the signalfd), turn what the callbacks produced into events,
 * and write them all to Redis in one pipelined round trip (outbox.c). Deltas that arrive in
 * the same turn for the same job become one event: the text is the same, the page gets fewer,
 * larger events, and Redis fewer commands. When Redis is unreachable the writes wait in the
 * outbox (bounded) and the streams keep going; writes resume with capped backoff.
 *
 * Each job's lifecycle is one state (enum job_state, worker_job.h), changed only through
 * worker_job_set_state. A job ends exactly once, in on_done: with model_done (or passages), or
 * an error event, and then its XACK (and the removal of its progress marker, worker.h), or, left
 * to another worker, with neither. A call that fails with a retryable error before its first
 * delta does not end the job: it waits in the active list (WAITING) for a backoff step of
 * common/aws/retry.h, a timer the loop's poll timeout accounts for, and starts again. A job
 * that failed for good also leaves a dead letter. On SIGTERM the engine drains: no new jobs,
 * running ones may finish for NOVA_DRAIN_SECONDS, then the rest are canceled WITHOUT XACK, so
 * they stay pending for another worker ("handed back"). A second signal ends the drain at
 * once. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "aws/retry.h"
#include "call.h"
#include "claims.h"
#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "dead_letter.h"
#include "outbox.h"
#include "redis/events.h"
#include "worker.h"
#include "worker_job.h"

#define DELTA_MAX (64u * 1024u)            /* text held per job within a turn */
#define EVENT_MAX (2u * 1024u * 1024u)     /* one event's data JSON */
#define RECENT_CANCELS 128                 /* cancels that came before their job */
#define RECENT_CANCEL_MS 30000.0

struct engine {
    struct worker *w;
    int sigfd;
    struct worker_job *active;             /* running jobs, doubly linked */
    size_t n_active;
    struct worker_job *dirty;              /* jobs holding text for this turn's events, doubly
                                              linked: a turn flushes these, not every job */
    struct outbox ob;
    struct buf scratch;                    /* event JSON under construction */
    char (*cancels)[JOB_ID_MAX];           /* this turn's cancels, copied out of the ring */
    struct { char id[JOB_ID_MAX]; double at; } recent[RECENT_CANCELS];
    size_t recent_next;
    bool draining, handed_back_all;
    double drain_end;
    bool redis_down;
    double down_since, next_try;
    struct backoff backoff;
    unsigned long handed_back;
    struct retry_policy retry;
    uint64_t rng;                          /* the backoff's jitter */
    size_t n_idle;                         /* active jobs without a call: WAITING, or
                                              CANCELING between calls (canceled_end) */
    char (*stolen)[EVENT_ID_MAX];          /* this turn's entries another worker took over */
};

/* ---- events ----------------------------------------------------------------------------- */

/* Queues one event of a job. A delta that does not fit in the outbox (Redis away too long)
 * gives the job up: its call is stopped, what it still produces is dropped and counted, and it
 * ends with an error. A job's last event is always taken: there is one per job. */
static void emit(struct engine *e, struct worker_job *wj, const char *type, const char *data,
                 size_t len)
{
    if (wj->state == JOB_HANDED_BACK || wj->state == JOB_TAKEN_OVER)
        return; /* another worker answers it */
    bool last = strcmp(type, "delta") != 0;
    if (wj->state != JOB_LOST && outbox_event(&e->ob, wj->log_key, wj->channel, type, data, len,
                                  e->w->cfg->log_ttl_s * 1000, last) == 0) {
        atomic_fetch_add(&e->w->events, 1);
        return;
    }
    if (wj->state != JOB_LOST) {
        log_rid(LOG_ERROR, wj->rid, "job %s: Redis has been unreachable too long (outbox full, "
                "%zu bytes); giving the job up", wj->job.id, e->ob.bytes);
        worker_job_set_state(wj, JOB_LOST); /* stops its call */
    }
    atomic_fetch_add(&e->w->events_dropped, 1);
}

/* Queues SET nova:progress:<job> shown, expiring a while after the job's deadline (worker.h:
 * what a reclaimer reads), or its DEL once the job is acknowledged. Always taken by the
 * outbox: small, and what keeps the page from seeing text twice. */
static void progress_mark(struct engine *e, struct worker_job *wj, bool set)
{
    char key[KEY_MAX], px[24];
    key_progress(key, sizeof key, wj->job.id);
    long long ttl = wj->job.deadline_ms - clock_epoch_ms();
    snprintf(px, sizeof px, "%lld", (ttl > 0 ? ttl : 0) + WORKER_PROGRESS_SLACK_MS);
    const char *argv[] = {set ? "SET" : "DEL", key, "shown", "PX", px};
    size_t lens[] = {3, strlen(key), 5, 2, strlen(px)};
    outbox_command(&e->ob, set ? 5 : 2, argv, lens, true);
}

static void emit_scratch(struct engine *e, struct worker_job *wj, const char *type, int rc)
{
    if (rc < 0) {
        log_rid(LOG_ERROR, wj->rid, "job %s: %s event larger than %u bytes; not sent",
                wj->job.id, type, EVENT_MAX);
        return;
    }
    emit(e, wj, type, e->scratch.data, e->scratch.len);
}

/* Turns the text held for a job into one delta event. */
static void emit_delta(struct engine *e, struct worker_job *wj, const char *text, size_t len)
{
    if (len == 0)
        return;
    if (!wj->shown && wj->state != JOB_LOST && wj->state != JOB_HANDED_BACK &&
        wj->state != JOB_TAKEN_OVER) {
        /* Before the delta, in the same ordered pipeline: if the delta is in Redis, so is
         * the marker that stops a reclaimer from starting the answer over. */
        progress_mark(e, wj, true);
        wj->shown = true;
    }
    buf_reset(&e->scratch);
    int rc = event_delta_json(&e->scratch, wj->job.phase, job_model_name(&wj->job), text, len);
    emit_scratch(e, wj, "delta", rc);
}

static void dirty_add(struct engine *e, struct worker_job *wj)
{
    if (wj->dirty)
        return;
    wj->dirty = true;
    wj->dirty_prev = NULL;
    wj->dirty_next = e->dirty;
    if (e->dirty)
        e->dirty->dirty_prev = wj;
    e->dirty = wj;
}

static void dirty_remove(struct engine *e, struct worker_job *wj)
{
    if (!wj->dirty)
        return;
    wj->dirty = false;
    if (wj->dirty_prev)
        wj->dirty_prev->dirty_next = wj->dirty_next;
    else
        e->dirty = wj->dirty_next;
    if (wj->dirty_next)
        wj->dirty_next->dirty_prev = wj->dirty_prev;
}

static void flush_delta(struct engine *e, struct worker_job *wj)
{
    dirty_remove(e, wj);
    emit_delta(e, wj, wj->delta.data, wj->delta.len);
    buf_reset(&wj->delta);
}

/* ---- job lifecycle ---------------------------------------------------------------------- */

static void job_release(struct worker *w, struct worker_job *wj)
{
    if (wj->dirty) /* text still held: only a job given up or handed back gets here so */
        dirty_remove(wj->engine, wj);
    buf_free(&wj->delta);
    worker_job_free(w, wj);
    pthread_mutex_lock(&w->mu);
    w->in_flight--;
    pthread_cond_broadcast(&w->cv); /* the reader may be waiting for room */
    pthread_mutex_unlock(&w->mu);
}

static void job_unlink(struct engine *e, struct worker_job *wj)
{
    if (wj->prev)
        wj->prev->next = wj->next;
    else
        e->active = wj->next;
    if (wj->next)
        wj->next->prev = wj->prev;
    e->n_active--;
}

/* After a job's last event: its XACK, then its progress marker goes (after, not before: a
 * worker dying in between must leave a reclaimer the marker, not a job to start over). A job
 * left to another worker only lets go of its claim. */
static void job_finish(struct engine *e, struct worker_job *wj)
{
    if (wj->state == JOB_HANDED_BACK || wj->state == JOB_TAKEN_OVER) {
        claims_remove(e->w, wj->entry_id);
        return;
    }
    outbox_ack(&e->ob, wj->entry_id); /* the claim goes when Redis answers (on_ack) */
    if (wj->shown)
        progress_mark(e, wj, false);
}

static void on_ack(void *arg, const char *entry_id)
{
    claims_remove(arg, entry_id);
}

/* The error a given-up job ends with. Past the outbox's cap (must): every job ends with a
 * word, and there is one such event per job. */
static void job_lost_error(struct engine *e, struct worker_job *wj)
{
    buf_reset(&e->scratch);
    if (event_error_json(&e->scratch, wj->job.phase, job_model_name(&wj->job), "unavailable",
                         "Redis was unreachable for too long; part of this answer was lost",
                         true) == 0)
        outbox_event(&e->ob, wj->log_key, wj->channel, "error", e->scratch.data,
                     e->scratch.len, e->w->cfg->log_ttl_s * 1000, true);
    atomic_fetch_add(&e->w->jobs_failed, 1);
}

/* Ends a job that never reached Bedrock: one error event, then its XACK. */
static void job_refuse(struct engine *e, struct worker_job *wj, const char *code,
                       const char *message)
{
    buf_reset(&e->scratch);
    int rc = event_error_json(&e->scratch, wj->job.phase, job_model_name(&wj->job), code, message, false);
    emit_scratch(e, wj, "error", rc);
    job_finish(e, wj);
    log_event(LOG_INFO, wj->rid, "job_error", "job=%s code=%s message=%s calls=0", wj->job.id,
              code, message);
    atomic_fetch_add(strcmp(code, "canceled") == 0 ? &e->w->jobs_canceled : &e->w->jobs_failed,
                     1);
    worker_job_set_state(wj, JOB_DONE);
    job_release(e->w, wj);
}

static void on_delta(void *user, const char *text, size_t len)
{
    struct worker_job *wj = user;
    if (buf_append(&wj->delta, text, len) == 0) {
        dirty_add(wj->engine, wj);
        return;
    }
    flush_delta(wj->engine, wj); /* the held text is full: it goes out now, in order */
    if (buf_append(&wj->delta, text, len) == 0)
        dirty_add(wj->engine, wj);
    else
        emit_delta(wj->engine, wj, text, len);
}

/* Adds a call's usage to the worker's token counters (what is billed). */
static void count_tokens(struct worker *w, const struct token_usage *u)
{
    /* Bedrock's counts are never negative; a bad one is not allowed to wrap the counter. */
    atomic_fetch_add(&w->tokens_input, u->input_tokens > 0 ? (unsigned long)u->input_tokens : 0);
    atomic_fetch_add(&w->tokens_output,
                     u->output_tokens > 0 ? (unsigned long)u->output_tokens : 0);
    atomic_fetch_add(&w->tokens_cache_read,
                     u->cache_read_tokens > 0 ? (unsigned long)u->cache_read_tokens : 0);
    atomic_fetch_add(&w->tokens_cache_write,
                     u->cache_write_tokens > 0 ? (unsigned long)u->cache_write_tokens : 0);
}

/* A call that failed before its first delta with a retryable error goes again after a backoff
 * step (retry.h). Returns true when it was scheduled; *v says why not otherwise. */
static bool retry_schedule(struct engine *e, struct worker_job *wj,
                           const struct bedrock_result *r, enum retry_verdict *v)
{
    *v = RETRY_NOT_RETRYABLE;
    /* Only a running job goes again: a canceled one (a cancel that raced a call already
     * failing) stays canceled, and one given up, handed back or taken over ends. */
    if (r->err.code == BR_OK || r->err.code == BR_ERR_CANCELED || wj->state != JOB_RUNNING)
        return false;
    long delay;
    *v = retry_decide(&e->retry, r->err.retryable, wj->shown || r->deltas > 0, wj->attempts,
                      clock_epoch_ms(), wj->job.deadline_ms, &e->rng, &delay);
    if (*v != RETRY_AGAIN)
        return false;
    worker_job_set_state(wj, JOB_WAITING);
    wj->retry_at = clock_mono_ms_f() + (double)delay;
    e->n_idle++;
    atomic_fetch_add(&e->w->jobs_retried, 1);
    log_event(LOG_INFO, wj->rid, "job_retry",
              "job=%s error=%s message=%s next_call=%d max_calls=%ld delay_ms=%ld", wj->job.id,
              bedrock_error_name(r->err.code), r->err.message[0] ? r->err.message : "no detail",
              wj->attempts + 1, e->retry.max_attempts, delay);
    return true;
}

static void on_done(void *user, const struct bedrock_result *r)
{
    struct worker_job *wj = user;
    struct engine *e = wj->engine;
    struct worker *w = e->w;
    flush_delta(e, wj);
    wj->call = NULL;
    enum retry_verdict rv;
    if (retry_schedule(e, wj, r, &rv))
        return; /* still active, waiting: engine_run starts it again */
    double ms = clock_mono_ms_f() - wj->t_start;
    if (wj->state == JOB_HANDED_BACK || wj->state == JOB_TAKEN_OVER) {
        log_event(LOG_INFO, wj->rid, "job_left", "job=%s how=%s elapsed_ms=%.0f", wj->job.id,
                  job_state_name(wj->state), ms);
        e->handed_back++;
    } else if (wj->state == JOB_LOST) {
        job_lost_error(e, wj);
        log_event(LOG_WARN, wj->rid, "job_error",
                  "job=%s code=unavailable message=%s elapsed_ms=%.0f calls=%d", wj->job.id,
                  "Redis unreachable: given up", ms, wj->attempts);
    } else if (r->err.code == BR_OK) {
        bool kb = wj->job.queue == QUEUE_KB;
        if (wj->job.converse && r->text_len > 0) /* Converse: the whole answer at once */
            emit_delta(e, wj, r->text, r->text_len);
        buf_reset(&e->scratch);
        int rc = kb ? call_passages_json(&e->scratch, r->passages, r->n_passages)
                    : call_done_json(&e->scratch, wj->job.phase, job_model_name(&wj->job), r);
        emit_scratch(e, wj, kb ? "passages" : "model_done", rc);
        atomic_fetch_add(&w->jobs_done, 1);
        count_tokens(w, &r->usage);
        log_event(LOG_INFO, wj->rid, "job_done",
                  "job=%s elapsed_ms=%.0f ttft_ms=%.0f stop_reason=%s input_tokens=%ld "
                  "output_tokens=%ld cache_read_tokens=%ld cache_write_tokens=%ld passages=%zu "
                  "calls=%d",
                  wj->job.id, ms, r->ttft_ms >= 0 ? r->ttft_ms : NAN, r->stop_reason,
                  r->usage.input_tokens, r->usage.output_tokens, r->usage.cache_read_tokens,
                  r->usage.cache_write_tokens, r->n_passages, wj->attempts);
    } else {
        /* RUNNING or CANCELING: a canceled call may still have ended with its own error */
        bool canceled = r->err.code == BR_ERR_CANCELED || wj->state == JOB_CANCELING;
        const char *code = canceled ? "canceled" : call_error_code(r->err.code);
        char msg[700], calls[48] = "";
        if (wj->attempts > 1)
            snprintf(calls, sizeof calls, " (%d calls)", wj->attempts);
        if (canceled)
            snprintf(msg, sizeof msg, "canceled");
        else
            snprintf(msg, sizeof msg, "%s: %s%s", bedrock_error_name(r->err.code),
                     r->err.message[0] ? r->err.message : "no detail", calls);
        buf_reset(&e->scratch);
        int rc = event_error_json(&e->scratch, wj->job.phase, job_model_name(&wj->job), code, msg,
                                  canceled ? false : r->err.retryable);
        emit_scratch(e, wj, "error", rc);
        atomic_fetch_add(canceled ? &w->jobs_canceled : &w->jobs_failed, 1);
        log_event(canceled ? LOG_INFO : LOG_WARN, wj->rid, "job_error",
                  "job=%s code=%s message=%s aws_request_id=%s elapsed_ms=%.0f calls=%d",
                  wj->job.id, code, msg, r->request_id, ms, wj->attempts);
        /* Failed for good: not retryable, or out of attempts or time. A retryable failure
         * after text was shown is the page's to retry, not a dead job. */
        if (!canceled && rv != RETRY_SHOWN) {
            char reason[800];
            snprintf(reason, sizeof reason, "%s after %d call(s): %s", retry_verdict_name(rv),
                     wj->attempts, msg);
            dead_letter_queue(w, &e->ob, &wj->job, wj->entry_id, wj->rid, reason, code);
        }
    }
    /* After the last event, in the same ordered pipeline: the job is acknowledged only once
     * its answer is in Redis. */
    job_finish(e, wj);
    job_unlink(e, wj);
    worker_job_set_state(wj, JOB_DONE);
    job_release(w, wj);
}

static const struct bedrock_callbacks callbacks = {on_delta, on_done};

static bool recently_canceled(struct engine *e, const char *id)
{
    double now = clock_mono_ms_f();
    for (size_t i = 0; i < RECENT_CANCELS; i++)
        if (e->recent[i].id[0] && now - e->recent[i].at < RECENT_CANCEL_MS &&
            strcmp(e->recent[i].id, id) == 0)
            return true;
    return false;
}

/* A job's first turn: its checks, then it joins the active list. Returns false when it was
 * refused (and has ended). */
static bool job_admit(struct engine *e, struct worker_job *wj, bool kb, const char *kb_id)
{
    wj->engine = e;
    wj->t_start = clock_mono_ms_f();
    buf_init(&wj->delta, DELTA_MAX);
    if (recently_canceled(e, wj->job.id)) {
        job_refuse(e, wj, "canceled", "canceled before it started");
        return false;
    }
    if (kb && !kb_id[0]) {
        job_refuse(e, wj, "internal", "no knowledge base id (job kb_id or NOVA_KB_ID)");
        return false;
    }
    wj->prev = NULL;
    wj->next = e->active;
    if (e->active)
        e->active->prev = wj;
    e->active = wj;
    e->n_active++;
    return true;
}

/* Starts a job's call: its first (after job_admit) or a retry. */
static void job_start(struct engine *e, struct worker_job *wj)
{
    struct worker *w = e->w;
    bool kb = wj->job.queue == QUEUE_KB;
    const char *kb_id = wj->job.kb_id[0] ? wj->job.kb_id : w->cfg->kb_id;
    if (wj->attempts == 0 && !job_admit(e, wj, kb, kb_id))
        return;
    wj->attempts++;
    if (kb) {
        wj->call = bedrock_retrieve(w->client, kb_id, wj->job.query, wj->job.n_results,
                                    &callbacks, wj);
    } else {
        struct bedrock_converse_req req;
        struct bedrock_message msgs[JOB_MAX_MESSAGES];
        call_request(&wj->job, msgs, &req);
        wj->call = wj->job.converse
                       ? bedrock_converse(w->client, &req, &callbacks, wj)
                       : bedrock_converse_stream(w->client, &req, &callbacks, wj);
    }
    worker_job_set_state(wj, JOB_RUNNING);
    log_event(LOG_INFO, wj->rid, "job_start", "job=%s phase=%s model_id=%s call=%d in_flight=%zu",
              wj->job.id, wj->job.phase, kb ? "retrieve" : wj->job.model_id, wj->attempts,
              e->n_active);
}

/* Ends a job that has no call (WAITING, or CANCELING between calls) as its call would have,
 * in the state the caller set: canceled (an error event and the XACK), or handed back / taken
 * over (neither). */
static void idle_end(struct engine *e, struct worker_job *wj)
{
    wj->retry_at = 0;
    e->n_idle--;
    struct bedrock_result r;
    memset(&r, 0, sizeof r);
    r.err.code = BR_ERR_CANCELED;
    snprintf(r.err.message, sizeof r.err.message, "canceled while waiting to retry");
    r.ttft_ms = -1;
    on_done(wj, &r);
}

/* Moves a job to a stopping state: a running call is told to stop (worker_job_set_state) and
 * ends through on_done; a job without one ends now. */
static void job_stop(struct engine *e, struct worker_job *wj, enum job_state to)
{
    bool idle = !wj->call;
    worker_job_set_state(wj, to);
    if (idle)
        idle_end(e, wj);
}

/* Starts the calls whose backoff is over. */
static void retries_start(struct engine *e)
{
    if (e->n_idle == 0)
        return;
    double now = clock_mono_ms_f();
    for (struct worker_job *wj = e->active; wj; wj = wj->next) {
        if (wj->state != JOB_WAITING || wj->retry_at > now)
            continue;
        wj->retry_at = 0;
        e->n_idle--;
        job_start(e, wj);
    }
}

/* Stops the jobs whose entries another worker reclaimed: no event, no XACK. */
static void stolen_stop(struct engine *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (struct worker_job *wj = e->active, *next; wj; wj = next) {
            next = wj->next;
            if (strcmp(wj->entry_id, e->stolen[i]) == 0 && wj->state != JOB_TAKEN_OVER)
                job_stop(e, wj, JOB_TAKEN_OVER);
        }
    }
}

/* Cancels every running or waiting job with this id; remembers an id that matched none, for a
 * job the reader has read but not yet handed over. Returns true when one was found. A job
 * already stopping for another reason (lost, handed back, taken over) ends as that says. */
static bool cancel_id(struct engine *e, const char *id)
{
    bool found = false;
    for (struct worker_job *wj = e->active, *next; wj; wj = next) {
        next = wj->next;
        if (strcmp(wj->job.id, id) != 0)
            continue;
        if (!wj->call) { /* between two calls: it ends now */
            job_stop(e, wj, JOB_CANCELING);
            found = true;
        } else if (wj->state == JOB_RUNNING) {
            worker_job_set_state(wj, JOB_CANCELING);
            found = true;
        }
    }
    if (!found) {
        snprintf(e->recent[e->recent_next].id, JOB_ID_MAX, "%s", id);
        e->recent[e->recent_next].at = clock_mono_ms_f();
        e->recent_next = (e->recent_next + 1) % RECENT_CANCELS;
    }
    return found;
}

/* After a lost subscription: the cancel markers say which running jobs were canceled. A job
 * between calls is only marked CANCELING here, and ends at the next turn (canceled_end): ending
 * it would unlink it from the list this walk pairs with the replies. */
static void resync_cancels(struct engine *e, redisContext *c)
{
    size_t n = 0;
    char key[KEY_MAX];
    for (struct worker_job *wj = e->active; wj; wj = wj->next) {
        key_canceled(key, sizeof key, wj->job.id);
        redisAppendCommand(c, "EXISTS %s", key);
        n++;
    }
    for (struct worker_job *wj = e->active; wj && n > 0; wj = wj->next, n--) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return;
        bool canceled = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        if (canceled && wj->call && wj->state == JOB_RUNNING) {
            log_rid(LOG_INFO, wj->rid, "job %s: cancel marker found after resubscribing",
                    wj->job.id);
            worker_job_set_state(wj, JOB_CANCELING);
        } else if (canceled && !wj->call) {
            worker_job_set_state(wj, JOB_CANCELING);
        }
        freeReplyObject(r);
    }
}

/* Ends the jobs a resync marked CANCELING between two calls. */
static void canceled_end(struct engine *e)
{
    for (struct worker_job *wj = e->n_idle ? e->active : NULL, *next; wj; wj = next) {
        next = wj->next;
        if (!wj->call && wj->state == JOB_CANCELING)
            idle_end(e, wj);
    }
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Moves what the other threads queued into the engine; returns the number of cancels. */
static size_t take_inputs(struct engine *e, struct worker_job **jobs, bool *resync,
                          size_t *n_stolen)
{
    struct worker *w = e->w;
    pthread_mutex_lock(&w->mu);
    *jobs = w->inbox;
    w->inbox = w->inbox_tail = NULL;
    size_t n = w->cancel_len;
    for (size_t i = 0; i < n; i++)
        memcpy(e->cancels[i], w->cancels[(w->cancel_head + i) % WORKER_CANCEL_RING],
               JOB_ID_MAX);
    w->cancel_head = w->cancel_len = 0;
    *resync = w->resync;
    w->resync = false;
    *n_stolen = w->n_stolen;
    memcpy(e->stolen, w->stolen, w->n_stolen * sizeof *e->stolen);
    w->n_stolen = 0;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void drain_begin(struct engine *e, const char *why)
{
    struct worker *w = e->w;
    if (e->draining) {
        log_info("%s again: ending the drain now", why);
        e->drain_end = clock_mono_ms_f();
        return;
    }
    e->draining = true;
    e->drain_end = clock_mono_ms_f() + (double)w->cfg->drain_s * 1000.0;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    log_info("%s: reading no new jobs; %zu running may finish within %ld s", why, e->n_active,
             w->cfg->drain_s);
}

static void read_signals(struct engine *e)
{
    struct signalfd_siginfo si;
    while (read(e->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        drain_begin(e, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Sends the outbox (and a pending resync) when Redis is due for another try. */
static void flush_writes(struct engine *e, bool *resync)
{
    struct worker *w = e->w;
    double now = clock_mono_ms_f();
    if ((e->ob.n == 0 && !*resync) || now < e->next_try)
        return;
    char err[256];
    redisContext *c = rpool_get(w->pool, 0, err, sizeof err);
    int rc = -1;
    if (c) {
        if (*resync) {
            resync_cancels(e, c);
            *resync = c->err != 0;
        }
        if (c->err)
            snprintf(err, sizeof err, "%s", c->errstr);
        else
            rc = outbox_flush(&e->ob, c, err, sizeof err);
        rpool_put(w->pool, c, rc < 0 || c->err);
    }
    atomic_store(&w->writes_refused, e->ob.refused);
    if (rc < 0) {
        if (!e->redis_down)
            log_warn("Redis writes failing: %s; %zu queued, retrying with backoff", err,
                     e->ob.n);
        if (!e->redis_down)
            e->down_since = now;
        e->redis_down = true;
        e->next_try = now + (double)backoff_next(&e->backoff);
    } else {
        if (e->redis_down)
            log_info("Redis writes back after %.0f ms", now - e->down_since);
        e->redis_down = false;
        e->next_try = 0;
        backoff_reset(&e->backoff);
    }
}

static int poll_timeout(const struct engine *e, bool busy)
{
    if (busy)
        return 0;
    double now = clock_mono_ms_f(), t = e->n_active ? 100 : 1000;
    if (e->ob.n && e->next_try - now < t)
        t = e->next_try - now;
    if (e->draining && e->drain_end - now < t)
        t = e->drain_end - now;
    for (const struct worker_job *wj = e->active; e->n_idle && wj; wj = wj->next)
        if (wj->state == JOB_WAITING && wj->retry_at - now < t)
            t = wj->retry_at - now;
    return t < 0 ? 0 : (int)t + (t > (int)t); /* rounded up: never wake just before it */
}

static void engine_seed(struct engine *e)
{
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x)
        x = (uint64_t)clock_epoch_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)e;
    e->rng = retry_seed(x);
}

int engine_run(struct worker *w, int sigfd)
{
    struct engine *e = xcalloc(1, sizeof *e);
    e->w = w;
    e->sigfd = sigfd;
    backoff_init(&e->backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
    e->cancels = xcalloc(WORKER_CANCEL_RING, sizeof *e->cancels);
    e->stolen = xcalloc(WORKER_CANCEL_RING, sizeof *e->stolen);
    e->retry = (struct retry_policy){w->aws->retry_max_attempts, w->aws->retry_base_ms,
                                     w->aws->retry_cap_ms};
    engine_seed(e);
    outbox_init(&e->ob, w->jobs_key, (size_t)w->cfg->worker_outbox_kb * 1024u);
    e->ob.on_ack = on_ack;
    e->ob.on_ack_arg = w;
    buf_init(&e->scratch, EVENT_MAX);
    int status = 0, poll_failures = 0;
    bool resync = false;
    char err[256];
    for (;;) {
        struct worker_job *jobs;
        bool want_resync;
        size_t n_stolen;
        size_t n_cancels = take_inputs(e, &jobs, &want_resync, &n_stolen);
        resync = resync || want_resync;
        while (jobs) {
            struct worker_job *wj = jobs;
            jobs = wj->next;
            if (e->draining) { /* read just before the stop: never started, stays pending */
                worker_job_set_state(wj, JOB_HANDED_BACK);
                claims_remove(w, wj->entry_id);
                worker_job_set_state(wj, JOB_DONE);
                job_release(w, wj);
                e->handed_back++;
            } else {
                job_start(e, wj);
            }
        }
        bool busy = n_stolen > 0; /* cancels issued: poll without waiting, so they end now */
        stolen_stop(e, n_stolen);
        for (size_t i = 0; i < n_cancels; i++)
            busy |= cancel_id(e, e->cancels[i]);
        canceled_end(e);
        retries_start(e);
        if (e->draining && e->n_active == 0)
            break;
        if (e->draining && !e->handed_back_all && clock_mono_ms_f() >= e->drain_end) {
            log_info("drain time over: handing back %zu running job(s)", e->n_active);
            for (struct worker_job *wj = e->active, *next; wj; wj = next) {
                next = wj->next;
                if (wj->state != JOB_TAKEN_OVER) /* its new owner answers: left as it is */
                    job_stop(e, wj, JOB_HANDED_BACK);
            }
            e->handed_back_all = true;
            busy = true;
        }
        struct curl_waitfd sw = {sigfd, CURL_WAIT_POLLIN, 0};
        int left = bedrock_client_poll(w->client, poll_timeout(e, busy), &sw, 1, err,
                                       sizeof err);
        if (left < 0) {
            /* libcurl's multi handle failed (out of memory, a bug): stop, handing every job
             * back. If it cannot even finish the cancels, abort: no XACK was sent for them,
             * so they stay pending all the same. */
            log_error("Bedrock client: %s; stopping", err);
            status = 1;
            if (++poll_failures > 50)
                abort();
            drain_begin(e, "client failure");
            e->drain_end = clock_mono_ms_f();
        } else {
            poll_failures = 0;
        }
        read_signals(e);
        while (e->dirty)
            flush_delta(e, e->dirty);
        flush_writes(e, &resync);
    }
    /* Last writes: one more try if Redis was merely between backoff steps. */
    e->next_try = 0;
    flush_writes(e, &resync);
    if (e->ob.n)
        log_warn("exiting with %zu Redis write(s) not done: %s", e->ob.n,
                 "Redis unreachable");
    log_info("engine stopped: %lu done, %lu failed, %lu canceled, %lu dead, %lu expired, "
             "%lu handed back, %lu retried, %lu reclaimed, %lu events, %lu dropped, "
             "%lu refused by Redis",
             atomic_load(&w->jobs_done), atomic_load(&w->jobs_failed),
             atomic_load(&w->jobs_canceled), atomic_load(&w->jobs_dead),
             atomic_load(&w->jobs_expired), e->handed_back, atomic_load(&w->jobs_retried),
             atomic_load(&w->jobs_reclaimed), atomic_load(&w->events),
             atomic_load(&w->events_dropped), e->ob.refused);
    outbox_free(&e->ob);
    buf_free(&e->scratch);
    free(e->cancels);
    free(e->stolen);
    free(e);
    return status;
}
