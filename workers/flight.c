/* flight: the jobs in flight and their lifecycles (see flight.h).
 *
 * A job's state (worker_job.h) says what happens to it next; worker_job_set_state is the only
 * place it changes. A job ends exactly once, in on_done: with model_done (passages, a
 * translation), or an error event, then its XACK and the removal of its progress marker
 * (worker.h); or, left to another worker (HANDED_BACK, TAKEN_OVER), with neither. A call that
 * fails with a retryable error before its first delta does not end the job: it waits (WAITING)
 * for a backoff step of common/aws/retry.h and starts again. A job that failed for good also leaves a dead letter.
 * Deltas that arrive in the same turn for the same job become one event: the text is the same,
 * the page gets fewer, larger events, and Redis fewer commands. */
#include "flight.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "call.h"
#include "claims.h"
#include "core/clock.h"
#include "core/log.h"
#include "dead_letter.h"
#include "redis/events.h"
#include "retire.h"

#define DELTA_MAX (64u * 1024u)            /* text held per job within a turn */
#define EVENT_MAX (2u * 1024u * 1024u)     /* one event's data JSON */
#define RECENT_CANCEL_MS 30000.0

/* ---- events ----------------------------------------------------------------------------- */

/* Queues one event of a job with the next number of its run (append.h: a re-send after a lost
 * reply is not applied twice). The number is spent only when the outbox took the event. */
static int emit_seq(struct flight *fl, struct worker_job *wj, const char *type,
                    const char *data, size_t len, bool must)
{
    struct event_seq seq = {wj->seq_key, wj->seq_field, wj->seq + 1, wj->token,
                            event_ends_job(type)};
    if (outbox_event(fl->ob, wj->log_key, wj->channel, type, data, len,
                     fl->w->cfg->log_ttl_s * 1000, &seq, must) < 0)
        return -1;
    wj->seq++;
    return 0;
}

/* Queues one event of a job. A delta that does not fit in the outbox (Redis away too long)
 * gives the job up: its call is stopped, what it still produces is dropped and counted, and it
 * ends with an error. A job's last event is always taken: there is one per job. */
static void emit(struct flight *fl, struct worker_job *wj, const char *type, const char *data,
                 size_t len)
{
    if (wj->state == JOB_HANDED_BACK || wj->state == JOB_TAKEN_OVER)
        return; /* another worker answers it */
    bool last = strcmp(type, "delta") != 0;
    if (wj->state != JOB_LOST && emit_seq(fl, wj, type, data, len, last) == 0) {
        atomic_fetch_add(&fl->w->events, 1);
        return;
    }
    if (wj->state != JOB_LOST) {
        log_rid(LOG_ERROR, wj->rid, "job %s: Redis has been unreachable too long (outbox full, "
                "%zu bytes); giving the job up", wj->job.id, fl->ob->bytes);
        worker_job_set_state(wj, JOB_LOST); /* stops its call */
    }
    atomic_fetch_add(&fl->w->events_dropped, 1);
}

/* Queues SET nova:progress:<job> shown, expiring a while after the job's deadline (worker.h:
 * what a reclaimer reads), or its DEL once the job is acknowledged. Always taken by the
 * outbox: small, and what keeps the page from seeing text twice. */
static void progress_mark(struct flight *fl, struct worker_job *wj, bool set)
{
    char key[KEY_MAX], px[24];
    key_progress(key, sizeof key, wj->job.id);
    long long ttl = wj->job.deadline_ms - clock_epoch_ms();
    snprintf(px, sizeof px, "%lld", (ttl > 0 ? ttl : 0) + WORKER_PROGRESS_SLACK_MS);
    const char *argv[] = {set ? "SET" : "DEL", key, "shown", "PX", px};
    size_t lens[] = {3, strlen(key), 5, 2, strlen(px)};
    outbox_command(fl->ob, set ? 5 : 2, argv, lens, true);
}

static void emit_scratch(struct flight *fl, struct worker_job *wj, const char *type, int rc)
{
    if (rc < 0) {
        log_rid(LOG_ERROR, wj->rid, "job %s: %s event larger than %u bytes; not sent",
                wj->job.id, type, EVENT_MAX);
        return;
    }
    emit(fl, wj, type, fl->scratch.data, fl->scratch.len);
}

/* Turns the text held for a job into one delta event. */
static void emit_delta(struct flight *fl, struct worker_job *wj, const char *text, size_t len)
{
    if (len == 0)
        return;
    if (!wj->shown && wj->state != JOB_LOST && wj->state != JOB_HANDED_BACK &&
        wj->state != JOB_TAKEN_OVER) {
        /* Before the delta, in the same ordered pipeline: if the delta is in Redis, so is
         * the marker that stops a reclaimer from starting the answer over. */
        progress_mark(fl, wj, true);
        wj->shown = true;
    }
    buf_reset(&fl->scratch);
    int rc = event_delta_json(&fl->scratch, wj->job.phase, job_model_name(&wj->job), text, len);
    emit_scratch(fl, wj, "delta", rc);
    wj->delta_at = clock_mono_ms_f();
}

static void dirty_add(struct flight *fl, struct worker_job *wj)
{
    if (wj->dirty)
        return;
    wj->dirty = true;
    wj->dirty_prev = NULL;
    wj->dirty_next = fl->dirty;
    if (fl->dirty)
        fl->dirty->dirty_prev = wj;
    fl->dirty = wj;
}

static void dirty_remove(struct flight *fl, struct worker_job *wj)
{
    if (!wj->dirty)
        return;
    wj->dirty = false;
    if (wj->dirty_prev)
        wj->dirty_prev->dirty_next = wj->dirty_next;
    else
        fl->dirty = wj->dirty_next;
    if (wj->dirty_next)
        wj->dirty_next->dirty_prev = wj->dirty_prev;
}

static void flush_delta(struct flight *fl, struct worker_job *wj)
{
    dirty_remove(fl, wj);
    emit_delta(fl, wj, wj->delta.data, wj->delta.len);
    buf_reset(&wj->delta);
}

/* ---- a job's lifecycle ------------------------------------------------------------------ */

static void job_release(struct worker *w, struct worker_job *wj)
{
    if (wj->dirty) /* text still held: only a job given up or handed back gets here so */
        dirty_remove(wj->flight, wj);
    buf_free(&wj->delta);
    worker_job_free(w, wj);
    pthread_mutex_lock(&w->mu);
    w->in_flight--;
    pthread_cond_broadcast(&w->cv); /* the reader may be waiting for room */
    pthread_mutex_unlock(&w->mu);
}

static void job_unlink(struct flight *fl, struct worker_job *wj)
{
    if (wj->prev)
        wj->prev->next = wj->next;
    else
        fl->active = wj->next;
    if (wj->next)
        wj->next->prev = wj->prev;
    fl->n_active--;
}

/* After a job's last event: its XACK, then its progress marker goes (after, not before: a
 * worker dying in between must leave a reclaimer the marker, not a job to start over). A job
 * left to another worker only lets go of its claim. */
static void job_finish(struct flight *fl, struct worker_job *wj)
{
    if (wj->state == JOB_HANDED_BACK || wj->state == JOB_TAKEN_OVER) {
        claims_remove(fl->w, wj->entry_id);
        return;
    }
    retire_queue(fl->w, fl->ob, wj); /* XACK (the claim goes when Redis answers: on_ack),
                                         the entry's XDEL, the receipt */
    if (wj->shown)
        progress_mark(fl, wj, false);
}

/* The error a given-up job ends with. Past the outbox's cap (must): every job ends with a
 * word, and there is one such event per job. */
static void job_lost_error(struct flight *fl, struct worker_job *wj)
{
    buf_reset(&fl->scratch);
    if (event_error_json(&fl->scratch, wj->job.phase, job_model_name(&wj->job), "unavailable",
                         wj->refused ? "Redis refused to store this answer (out of memory or "
                                       "read-only); part of it was lost; ask again"
                                     : "Redis was unreachable for too long; part of this "
                                       "answer was lost",
                         true) == 0)
        emit_seq(fl, wj, "error", fl->scratch.data, fl->scratch.len, true);
    atomic_fetch_add(&fl->w->jobs_failed, 1);
    if (wj->refused)
        atomic_fetch_add(&fl->w->jobs_refused, 1);
}

/* Ends a job that never reached Bedrock: one error event, then its XACK. */
static void job_refuse(struct flight *fl, struct worker_job *wj, const char *code,
                       const char *message)
{
    buf_reset(&fl->scratch);
    int rc = event_error_json(&fl->scratch, wj->job.phase, job_model_name(&wj->job), code,
                              message, false);
    emit_scratch(fl, wj, "error", rc);
    job_finish(fl, wj);
    log_event(LOG_INFO, wj->rid, "job_error", "job=%s code=%s message=%s calls=0", wj->job.id,
              code, message);
    atomic_fetch_add(strcmp(code, "canceled") == 0 ? &fl->w->jobs_canceled
                                                   : &fl->w->jobs_failed, 1);
    worker_job_set_state(wj, JOB_DONE);
    job_release(fl->w, wj);
}

static void on_delta(void *user, const char *text, size_t len)
{
    struct worker_job *wj = user;
    if (buf_append(&wj->delta, text, len) == 0) {
        dirty_add(wj->flight, wj);
        return;
    }
    flush_delta(wj->flight, wj); /* the held text is full: it goes out now, in order */
    if (buf_append(&wj->delta, text, len) == 0)
        dirty_add(wj->flight, wj);
    else
        emit_delta(wj->flight, wj, text, len);
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
static bool retry_schedule(struct flight *fl, struct worker_job *wj,
                           const struct bedrock_result *r, enum retry_verdict *v)
{
    *v = RETRY_NOT_RETRYABLE;
    /* Only a running job goes again: a canceled one (a cancel that raced a call already
     * failing) stays canceled, and one given up, handed back or taken over ends. */
    if (r->err.code == BR_OK || r->err.code == BR_ERR_CANCELED || wj->state != JOB_RUNNING)
        return false;
    long delay;
    *v = retry_decide(&fl->retry, r->err.retryable, wj->shown || r->deltas > 0, wj->attempts,
                      clock_epoch_ms(), wj->job.deadline_ms, &fl->rng, &delay);
    if (*v != RETRY_AGAIN)
        return false;
    worker_job_set_state(wj, JOB_WAITING);
    wj->retry_at = clock_mono_ms_f() + (double)delay;
    fl->n_idle++;
    atomic_fetch_add(&fl->w->jobs_retried, 1);
    log_event(LOG_INFO, wj->rid, "job_retry",
              "job=%s error=%s message=%s next_call=%d max_calls=%ld delay_ms=%ld", wj->job.id,
              bedrock_error_name(r->err.code), r->err.message[0] ? r->err.message : "no detail",
              wj->attempts + 1, fl->retry.max_attempts, delay);
    return true;
}

static void on_done(void *user, const struct bedrock_result *r)
{
    struct worker_job *wj = user;
    struct flight *fl = wj->flight;
    struct worker *w = fl->w;
    flush_delta(fl, wj);
    wj->call = NULL;
    enum retry_verdict rv;
    if (retry_schedule(fl, wj, r, &rv))
        return; /* still active, WAITING: flight_between_calls starts it again */
    double ms = clock_mono_ms_f() - wj->t_start;
    if (wj->state == JOB_HANDED_BACK || wj->state == JOB_TAKEN_OVER) {
        log_event(LOG_INFO, wj->rid, "job_left", "job=%s how=%s elapsed_ms=%.0f", wj->job.id,
                  job_state_name(wj->state), ms);
        fl->left++;
    } else if (wj->state == JOB_LOST) {
        job_lost_error(fl, wj);
        log_event(LOG_WARN, wj->rid, "job_error",
                  "job=%s code=unavailable message=%s elapsed_ms=%.0f calls=%d", wj->job.id,
                  wj->refused ? "Redis refused writes: given up" : "Redis unreachable: given up",
                  ms, wj->attempts);
    } else if (r->err.code == BR_OK) {
        bool kb = wj->job.queue == QUEUE_KB;
        /* A question's translation (contract.h) ends with one event that carries it whole:
         * no delta a page could take for an answer's text. */
        const char *target = wj->job.converse ? phase_translation_target(wj->job.phase) : NULL;
        if (!target && wj->job.converse && r->text_len > 0) /* the whole answer at once */
            emit_delta(fl, wj, r->text, r->text_len);
        /* A guardrail's intervention is said, before the job's end, as a notice; its text
         * (the guardrail's message) was the answer. A translation it stopped has none. */
        bool guarded = !kb && call_guardrail_intervened(r);
        if (guarded) {
            buf_reset(&fl->scratch);
            emit_scratch(fl, wj, "notice",
                         call_guardrail_notice_json(&fl->scratch, wj->job.phase,
                                                    job_model_name(&wj->job)));
            log_event(LOG_WARN, wj->rid, "guardrail_intervened", "job=%s phase=%s model=%s",
                      wj->job.id, wj->job.phase, job_model_name(&wj->job));
        }
        buf_reset(&fl->scratch);
        const char *type = kb ? "passages" : target ? "translation" : "model_done";
        const char *model = job_model_name(&wj->job);
        int rc = kb       ? call_passages_json(&fl->scratch, r->passages, r->n_passages)
                 : target ? call_translation_json(&fl->scratch, wj->job.phase, model, target, r)
                          : call_done_json(&fl->scratch, wj->job.phase, model, r);
        if (target && guarded) {
            type = "error";
            buf_reset(&fl->scratch);
            rc = event_error_json(&fl->scratch, wj->job.phase, model, "model_error",
                                  "the guardrail intervened in the translation", false);
        } else if (target && rc == 1) { /* nothing but blanks: the translation failed */
            type = "error";
            rc = event_error_json(&fl->scratch, wj->job.phase, model, "model_error",
                                  "the translation came back empty", false);
        }
        emit_scratch(fl, wj, type, rc);
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
        buf_reset(&fl->scratch);
        int rc = event_error_json(&fl->scratch, wj->job.phase, job_model_name(&wj->job), code,
                                  msg, canceled ? false : r->err.retryable);
        emit_scratch(fl, wj, "error", rc);
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
            dead_letter_queue(w, fl->ob, &wj->job, wj->entry_id, wj->rid, reason, code);
        }
    }
    /* After the last event, in the same ordered pipeline: the job is acknowledged only once
     * its answer is in Redis. */
    job_finish(fl, wj);
    job_unlink(fl, wj);
    worker_job_set_state(wj, JOB_DONE);
    job_release(w, wj);
}

static const struct bedrock_callbacks callbacks = {on_delta, on_done};

static bool recently_canceled(struct flight *fl, const char *id)
{
    double now = clock_mono_ms_f();
    for (size_t i = 0; i < RECENT_CANCELS; i++)
        if (fl->recent[i].id[0] && now - fl->recent[i].at < RECENT_CANCEL_MS &&
            strcmp(fl->recent[i].id, id) == 0)
            return true;
    return false;
}

/* A job's first turn: its checks, then it joins the active list. Returns false when it was
 * refused (and has ended). */
static bool job_admit(struct flight *fl, struct worker_job *wj, bool kb, const char *kb_id)
{
    wj->flight = fl;
    wj->t_start = clock_mono_ms_f();
    buf_init(&wj->delta, DELTA_MAX);
    if (recently_canceled(fl, wj->job.id)) {
        job_refuse(fl, wj, "canceled", "canceled before it started");
        return false;
    }
    if (kb && !kb_id[0]) {
        job_refuse(fl, wj, "internal", "no knowledge base id (job kb_id or NOVA_KB_ID)");
        return false;
    }
    wj->prev = NULL;
    wj->next = fl->active;
    if (fl->active)
        fl->active->prev = wj;
    fl->active = wj;
    fl->n_active++;
    return true;
}

/* Starts a job's call: its first (after job_admit) or a retry. */
static void job_start(struct flight *fl, struct worker_job *wj)
{
    struct worker *w = fl->w;
    bool kb = wj->job.queue == QUEUE_KB;
    const char *kb_id = wj->job.kb_id[0] ? wj->job.kb_id : w->cfg->kb_id;
    if (wj->attempts == 0 && !job_admit(fl, wj, kb, kb_id))
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
              fl->n_active);
}

/* Ends a job that has no call (WAITING, or CANCELING between calls) as its call would have,
 * in the state the caller set: canceled (an error event and the XACK), or handed back / taken
 * over (neither). */
static void idle_end(struct flight *fl, struct worker_job *wj)
{
    wj->retry_at = 0;
    fl->n_idle--;
    struct bedrock_result r;
    memset(&r, 0, sizeof r);
    r.err.code = BR_ERR_CANCELED;
    snprintf(r.err.message, sizeof r.err.message, "canceled while waiting to retry");
    r.ttft_ms = -1;
    on_done(wj, &r);
}

/* Moves a job to a stopping state: a running call is told to stop (worker_job_set_state) and
 * ends through on_done; a job without one ends now. */
static void job_stop(struct flight *fl, struct worker_job *wj, enum job_state to)
{
    bool idle = !wj->call;
    worker_job_set_state(wj, to);
    if (idle)
        idle_end(fl, wj);
}

/* Starts the calls whose backoff is over. */
static void retries_start(struct flight *fl)
{
    if (fl->n_idle == 0)
        return;
    double now = clock_mono_ms_f();
    for (struct worker_job *wj = fl->active; wj; wj = wj->next) {
        if (wj->state != JOB_WAITING || wj->retry_at > now)
            continue;
        wj->retry_at = 0;
        fl->n_idle--;
        job_start(fl, wj);
    }
}

/* Ends the jobs a resync marked CANCELING between two calls. */
static void canceled_end(struct flight *fl)
{
    for (struct worker_job *wj = fl->n_idle ? fl->active : NULL, *next; wj; wj = next) {
        next = wj->next;
        if (!wj->call && wj->state == JOB_CANCELING)
            idle_end(fl, wj);
    }
}

/* ---- the engine's turn ---------------------------------------------------------------- */

static void flight_seed(struct flight *fl)
{
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x)
        x = (uint64_t)clock_epoch_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)fl;
    fl->rng = retry_seed(x);
}

void flight_init(struct flight *fl, struct worker *w, struct outbox *ob)
{
    memset(fl, 0, sizeof *fl);
    fl->w = w;
    fl->ob = ob;
    fl->retry = (struct retry_policy){w->aws->retry_max_attempts, w->aws->retry_base_ms,
                                      w->aws->retry_cap_ms};
    flight_seed(fl);
    buf_init(&fl->scratch, EVENT_MAX);
}

void flight_free(struct flight *fl)
{
    buf_free(&fl->scratch);
}

void flight_start(struct flight *fl, struct worker_job *wj)
{
    job_start(fl, wj);
}

void flight_take_over(struct flight *fl, char (*entries)[EVENT_ID_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (struct worker_job *wj = fl->active, *next; wj; wj = next) {
            next = wj->next;
            if (strcmp(wj->entry_id, entries[i]) == 0 && wj->state != JOB_TAKEN_OVER)
                job_stop(fl, wj, JOB_TAKEN_OVER);
        }
    }
}

/* A job already stopping for another reason (lost, handed back, taken over) is left to end
 * as that state says. */
bool flight_cancel(struct flight *fl, const char *id)
{
    bool found = false;
    for (struct worker_job *wj = fl->active, *next; wj; wj = next) {
        next = wj->next;
        if (strcmp(wj->job.id, id) != 0)
            continue;
        if (!wj->call) { /* between two calls: it ends now */
            job_stop(fl, wj, JOB_CANCELING);
            found = true;
        } else if (wj->state == JOB_RUNNING) {
            worker_job_set_state(wj, JOB_CANCELING);
            found = true;
        }
    }
    if (!found) {
        snprintf(fl->recent[fl->recent_next].id, JOB_ID_MAX, "%s", id);
        fl->recent[fl->recent_next].at = clock_mono_ms_f();
        fl->recent_next = (fl->recent_next + 1) % RECENT_CANCELS;
    }
    return found;
}

void flight_leave(struct flight *fl, struct worker_job *wj)
{
    worker_job_set_state(wj, JOB_HANDED_BACK);
    claims_remove(fl->w, wj->entry_id);
    worker_job_set_state(wj, JOB_DONE);
    job_release(fl->w, wj);
    fl->left++;
}

size_t flight_give_up(struct flight *fl)
{
    size_t n = 0;
    for (struct worker_job *wj = fl->active, *next; wj; wj = next) {
        next = wj->next; /* as flight_cancel: the stop may end wj */
        /* A job between calls has nothing to lose yet: it is given up once it runs. */
        if (wj->call && wj->state == JOB_RUNNING) { /* a canceled one ends canceled */
            wj->refused = true;
            worker_job_set_state(wj, JOB_LOST); /* stops its call; it ends through on_done */
            n++;
        }
    }
    return n;
}

void flight_between_calls(struct flight *fl)
{
    canceled_end(fl);
    retries_start(fl);
}

void flight_hand_back(struct flight *fl)
{
    for (struct worker_job *wj = fl->active, *next; wj; wj = next) {
        next = wj->next;
        if (wj->state != JOB_TAKEN_OVER) /* its new owner answers: left as it is */
            job_stop(fl, wj, JOB_HANDED_BACK);
    }
}

void flight_flush_text(struct flight *fl)
{
    double now = clock_mono_ms_f();
    for (struct worker_job *wj = fl->dirty, *next; wj; wj = next) {
        next = wj->dirty_next; /* flush_delta takes wj, and only wj, off the list */
        if (!wj->shown || now - wj->delta_at >= WORKER_DELTA_SPACING_MS)
            flush_delta(fl, wj);
    }
}

double flight_next_flush(const struct flight *fl)
{
    double first = -1;
    for (const struct worker_job *wj = fl->dirty; wj; wj = wj->dirty_next) {
        double at = wj->shown ? wj->delta_at + WORKER_DELTA_SPACING_MS : 0;
        if (first < 0 || at < first)
            first = at;
    }
    return first;
}

/* A job between calls is only marked CANCELING here, and ends at the next turn (canceled_end):
 * ending it would unlink it from the list this walk pairs with the replies. */
void flight_resync(struct flight *fl, redisContext *c)
{
    size_t n = 0;
    char key[KEY_MAX];
    for (struct worker_job *wj = fl->active; wj; wj = wj->next) {
        key_canceled(key, sizeof key, wj->job.id);
        redisAppendCommand(c, "EXISTS %s", key);
        n++;
    }
    for (struct worker_job *wj = fl->active; wj && n > 0; wj = wj->next, n--) {
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

double flight_next_call(const struct flight *fl)
{
    double first = -1;
    for (const struct worker_job *wj = fl->n_idle ? fl->active : NULL; wj; wj = wj->next)
        if (wj->state == JOB_WAITING && (first < 0 || wj->retry_at < first))
            first = wj->retry_at;
    return first;
}
