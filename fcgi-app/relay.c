/* relay: one open SSE stream, from the inbox and the transcript to the client (see relay.h). */
#include "relay.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/log.h"
#include "metrics.h"
#include "product.h"
#include "redis/append.h"
#include "redis/events.h"
#include "dispatch.h"
#include "session.h"
#include "store.h"

void relay_init(struct relay *r, struct req *rq, const char *request_id, bool origin,
                long long start_epoch_ms, long long deadline_epoch_ms)
{
    memset(r, 0, sizeof *r);
    r->rq = rq;
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id);
    key_out(r->channel, sizeof r->channel, request_id);
    transcript_init(&r->tr, request_id);
    r->start_epoch_ms = start_epoch_ms;
    long long now = clock_mono_ms();
    r->deadline_ms = now + (deadline_epoch_ms - clock_epoch_ms()) + RELAY_GRACE_MS;
    tally_init(&r->tally, origin, rq->t0);
    sseout_init(&r->out, rq->app->cfg->keepalive_s * 1000LL, now);
    readers_init(&r->readers, request_id, !origin);
}

void relay_free(struct relay *r)
{
    transcript_free(&r->tr);
    tally_free(&r->tally);
    sseout_free(&r->out);
}

void relay_add_job(struct relay *r, const char *job_id, const char *phase, enum model model)
{
    tally_add_job(&r->tally, job_id, phase, model);
}

size_t relay_channels(struct relay *r, char bufs[][KEY_MAX], const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->tally.n_jobs; i++)
        if (key_out(bufs[n], KEY_MAX, r->tally.jobs[i].id) == 0) {
            out[n] = bufs[n];
            n++;
        }
    out[n++] = r->channel;
    return n;
}

int relay_cancel(struct relay *r, bool all)
{
    const char *ids[TALLY_MAX_JOBS];
    enum queue queues[TALLY_MAX_JOBS];
    size_t n = tally_open_jobs(&r->tally, all, ids, queues);
    char err[256];
    redisContext *c = app_redis(r->rq->app, err, sizeof err);
    int rc = c ? store_cancel_jobs(c, ids, queues, n, err, sizeof err) : -1;
    app_redis_put(r->rq->app, c);
    if (rc < 0)
        log_warn("canceling jobs: %s", err);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Buffers one SSE event (id may be NULL), pushing what the client takes first once
 * SSEOUT_FLUSH_AT bytes wait. Returns 0, or -1 when the client is gone. */
static int relay_write(struct relay *r, const char *id, const char *type, const char *data,
                       size_t len)
{
    if (sseout_full(&r->out) && sseout_push(&r->out, r->rq) < 0)
        return -1;
    if (sseout_event(&r->out, id, type, data, len) < 0 && !r->out.behind)
        log_rid(LOG_WARN, r->rq->id, "event %s of %zu bytes does not fit the stream; skipped",
                id ? id : "-", len);
    return 0;
}

/* One new event: accounted, then written unless the client has it. */
static int relay_entry(struct relay *r, const struct transcript_entry *e)
{
    if (!tally_take(&r->tally, &e->id, e->type, e->type_len, e->data, e->data_len,
                    clock_mono_ms()))
        return 0;
    char id[STREAM_ID_MAX], type[TRANSCRIPT_TYPE_MAX];
    stream_id_format(&e->id, id, sizeof id);
    memcpy(type, e->type, e->type_len);
    type[e->type_len] = '\0';
    return relay_write(r, id, type, e->data, e->data_len);
}

int relay_event(struct relay *r, const char *id, size_t id_len, const char *type,
                size_t type_len, const char *data, size_t data_len)
{
    struct transcript_entry e;
    if (!transcript_take(&r->tr, id, id_len, type, type_len, data, data_len, &e))
        return 0; /* not an event, or seen already: nothing to relay */
    return relay_entry(r, &e);
}

int relay_flush(struct relay *r)
{
    return sseout_flush(&r->out, r->rq);
}

/* ---- the transcript --------------------------------------------------------------------- */

/* A page's entry; the page stops at done (nothing is appended after it). */
static int relay_caught_up(void *ctx, const struct transcript_entry *e)
{
    struct relay *r = ctx;
    if (relay_entry(r, e) < 0)
        return -1;
    return r->tally.done_seen ? 1 : 0;
}

/* A live message's entry. */
static int relay_live(void *ctx, const struct transcript_entry *e)
{
    return relay_entry(ctx, e);
}

int relay_catch_up(struct relay *r)
{
    return transcript_catch_up(&r->tr, r->rq->app, r->rq->id, relay_caught_up, r);
}

int relay_catch_up_page(struct relay *r)
{
    int rc = transcript_page(&r->tr, r->rq->app, r->rq->id, relay_caught_up, r);
    if (rc != 0) /* caught up, or failed: either way no page is due */
        r->catching = false;
    return rc < 0 ? -1 : 0;
}

/* Appends one of our own events to the transcript and publishes it. */
static int relay_append(struct relay *r, const char *type, const char *data, size_t len,
                        char *id, size_t idlen)
{
    struct app *app = r->rq->app;
    char err[256];
    redisContext *c = app_redis(app, err, sizeof err);
    int rc = c ? event_append(c, r->tr.key, r->channel, type, data, len,
                              app->cfg->log_ttl_s * 1000, id, idlen, err, sizeof err)
               : -1;
    app_redis_put(app, c);
    if (rc < 0)
        log_rid(LOG_WARN, r->rq->id, "appending %s: %s", type, err);
    return rc;
}

int relay_post_event(struct relay *r, const char *type, const char *data, size_t len)
{
    char id[EVENT_ID_MAX];
    return relay_append(r, type, data, len, id, sizeof id);
}

int relay_append_event_shown(struct relay *r, const char *type, const char *data, size_t len,
                             const char *shown, size_t shown_len)
{
    char id[EVENT_ID_MAX];
    if (relay_append(r, type, data, len, id, sizeof id) < 0)
        return -1;
    return relay_event(r, id, strlen(id), type, strlen(type), shown, shown_len);
}

int relay_append_event(struct relay *r, const char *type, const char *data, size_t len)
{
    return relay_append_event_shown(r, type, data, len, data, len);
}

/* ---- the ends --------------------------------------------------------------------------- */

static void relay_done_json(const struct relay *r, struct buf *out)
{
    tally_done_json(&r->tally, &r->rq->app->product->prices,
                    clock_epoch_ms() - r->start_epoch_ms, out);
}

/* ---- the step machine -------------------------------------------------------------------
 *
 * relay_step does what is due now and says what to wait for next (struct relay_wait), or
 * returns the end; it never waits itself. A request thread drives it with req_wait
 * (relay_drive); the child's loop drives it from its events, each step on a pool thread
 * (streams.h). Steps return -1 to go on, else an enum relay_end. */

/* The stream's last bytes are written while the client takes them, until until_ms: then ok,
 * gone when the client left, late (after a cut) when it took nothing for that long. */
static int relay_flush_begin(struct relay *r, long long until_ms, enum relay_end ok,
                             enum relay_end gone, enum relay_end late)
{
    r->phase = RELAY_FLUSHING;
    r->phase_until_ms = until_ms;
    r->flush_ok = ok;
    r->flush_gone = gone;
    r->flush_late = late;
    return -1;
}

static int relay_flush_step(struct relay *r, struct relay_wait *w)
{
    if (sseout_push(&r->out, r->rq) < 0)
        return (int)r->flush_gone;
    if (r->out.out.len == 0)
        return (int)r->flush_ok;
    if (clock_mono_ms() >= r->phase_until_ms) {
        sseout_cut(&r->out, r->rq, "the client takes nothing");
        return (int)r->flush_late;
    }
    w->due_ms = r->phase_until_ms;
    w->want_write = true;
    return -1;
}

/* The stream's last bytes, given the client's stall allowance: end when written, RELAY_GONE
 * when the client left, RELAY_CUT when it took nothing for that long. */
static int relay_final_flush(struct relay *r, enum relay_end end)
{
    return relay_flush_begin(r, r->out.progress_ms + sseout_stall_ms(&r->out), end, RELAY_GONE,
                             RELAY_CUT);
}

/* Every job ended: `done` into the transcript, then everything up to it to the client. */
static int relay_finish(struct relay *r)
{
    struct buf data;
    buf_init(&data, 1024);
    relay_done_json(r, &data);
    char id[EVENT_ID_MAX];
    enum relay_end end = RELAY_DONE;
    if (relay_append(r, "done", data.data, data.len, id, sizeof id) == 0) {
        /* Events with lower ids may still be on their way through pub/sub: read them (and
         * done) from the transcript, in order. */
        if ((relay_catch_up(r) < 0 || !r->tally.done_seen) && !r->rq->client_gone)
            relay_write(r, id, "done", data.data, data.len);
    } else {
        relay_write(r, NULL, "done", data.data, data.len); /* not in the transcript: no id */
        end = RELAY_FAILED;
    }
    buf_free(&data);
    return relay_final_flush(r, end);
}

/* Ends the stream for this client only: error events (one per unfinished job, or one for the
 * stream) and done, none with an id, none in the transcript; then end, whatever the flush. */
static int relay_end_local(struct relay *r, const char *message, bool per_job,
                           enum relay_end end)
{
    struct buf data;
    buf_init(&data, 4096);
    if (!per_job) {
        event_error_json(&data, NULL, NULL, "unavailable", message, true);
        relay_write(r, NULL, "error", data.data, data.len);
        metrics_error(METRICS_IN_STREAM, "unavailable"); /* this client's only: counted here */
    }
    for (size_t i = 0; per_job && i < r->tally.n_jobs; i++) {
        const struct tally_job *j = &r->tally.jobs[i];
        if (j->ended)
            continue;
        buf_reset(&data);
        event_error_json(&data, j->phase, model_name(j->model), "unavailable", message, true);
        relay_write(r, NULL, "error", data.data, data.len);
        metrics_error(METRICS_IN_STREAM, "unavailable");
    }
    buf_reset(&data);
    relay_done_json(r, &data);
    relay_write(r, NULL, "done", data.data, data.len);
    buf_free(&data);
    /* Bounded: a drain must not wait out a stalled client. */
    return relay_flush_begin(r, clock_mono_ms() + RELAY_END_FLUSH_MS, end, end, end);
}

/* The deadline passed: a timeout error for each job still open (in the transcript), cancel
 * them, then done. */
static int relay_timeout(struct relay *r)
{
    log_rid(LOG_WARN, r->rq->id, "jobs still open at the deadline; ending the stream");
    relay_cancel(r, false);
    struct buf data;
    buf_init(&data, 4096);
    for (size_t i = 0; i < r->tally.n_jobs; i++) {
        const struct tally_job *j = &r->tally.jobs[i];
        if (j->ended)
            continue;
        buf_reset(&data);
        event_error_json(&data, j->phase, model_name(j->model), "timeout",
                         "the model did not answer before the deadline", true);
        char id[EVENT_ID_MAX];
        if (relay_append(r, "error", data.data, data.len, id, sizeof id) < 0)
            relay_write(r, NULL, "error", data.data, data.len);
        tally_end_job(&r->tally, i);
    }
    buf_free(&data);
    return relay_finish(r);
}

static enum relay_end relay_drive(struct relay *r);

void relay_abort(struct relay *r, const char *message)
{
    relay_end_local(r, message, false, RELAY_CUT);
    relay_drive(r);
}

/* The grace after the client left: unless another reader takes over within
 * RELAY_RESUME_GRACE_MS (a page resuming after a dropped connection), the unfinished jobs are
 * canceled — no tokens paid for nobody. */
static int relay_grace_step(struct relay *r, struct relay_wait *w)
{
    if (r->no_block)
        return RELAY_STEP_POOL; /* readers_live, the cancel: Redis */
    /* The events are in the transcript; a resume reads them there. */
    transcript_take_inbox(&r->tr, r->rq->inbox);
    transcript_drop_taken(&r->tr);
    if (readers_live(r->rq->app, r->request_id)) {
        log_rid(LOG_INFO, r->rq->id, "client went away; a resumed stream carries on");
        return RELAY_GONE;
    }
    if (clock_mono_ms() >= r->phase_until_ms) {
        log_rid(LOG_INFO, r->rq->id, "client went away; canceling its open jobs");
        relay_cancel(r, false);
        return RELAY_GONE;
    }
    w->due_ms = r->phase_until_ms;
    w->inbox_only = true;
    return -1;
}

static int relay_gone(struct relay *r)
{
    readers_leave(&r->readers, r->rq->app, r->rq->id);
    if (tally_all_ended(&r->tally))
        return RELAY_GONE;
    r->phase = RELAY_GRACE;
    r->phase_until_ms = clock_mono_ms() + RELAY_RESUME_GRACE_MS;
    return -1; /* relay_step goes on with the grace at once */
}

#define RELAY_LOST 0x100u /* a gap could not be filled from the transcript */

/* Relays what the inbox holds. After a gap the transcript is read again instead, a page at a
 * time (relay_page_step), so that nothing queued overtakes a missed event. Returns the inbox
 * flags. */
static unsigned relay_drain_inbox(struct relay *r)
{
    unsigned flags = transcript_take_inbox(&r->tr, r->rq->inbox);
    if (flags & INBOX_GAP) {
        transcript_drop_taken(&r->tr); /* in the transcript: the pages read them */
        r->catching = true;
        return flags & ~INBOX_GAP;
    }
    transcript_feed_taken(&r->tr, relay_live, r);
    return flags;
}

/* Catching up: one page of the transcript, read only while the client takes what it is given
 * (the loop calls this while fewer than SSEOUT_FLUSH_AT bytes wait), so a resume that is not
 * read holds a page and that much, not the whole transcript. What the inbox holds is dropped
 * before each page: every published event is in the transcript before it is published, so
 * the pages read it, and what arrives after the last page is relayed live. Returns the inbox
 * flags (| RELAY_LOST). */
static unsigned relay_page_step(struct relay *r)
{
    unsigned flags = transcript_take_inbox(&r->tr, r->rq->inbox) & ~INBOX_GAP;
    transcript_drop_taken(&r->tr);
    if (relay_catch_up_page(r) < 0 && !r->rq->client_gone)
        flags |= RELAY_LOST;
    return flags;
}

/* The earliest of the loop's deadlines, now or later (monotonic ms). */
static long long relay_due(const struct relay *r, long long drain_at)
{
    if (r->catching && !sseout_full(&r->out))
        return 0; /* the next page, at once */
    long long due = sseout_due(&r->out);
    if (r->deadline_ms < due)
        due = r->deadline_ms;
    if (drain_at < due)
        due = drain_at;
    if (r->finish_at_ms && r->finish_at_ms < due)
        due = r->finish_at_ms;
    if (readers_due(&r->readers) < due)
        due = readers_due(&r->readers);
    return due;
}

static int relay_live_step(struct relay *r, struct relay_wait *w)
{
    struct app *app = r->rq->app;
    struct req *rq = r->rq;
    /* On the loop nobody waited on the connection: a look for the hang-up it may have seen. */
    if (r->on_loop && !rq->client_gone)
        req_wait(rq, -1, false, 0);
    /* On the loop's thread, what needs Redis goes to the pool before anything is taken: a
     * catch-up page, and the gone client's reader entry and grace. */
    if (r->no_block && (rq->client_gone || (r->catching && !sseout_full(&r->out))))
        return RELAY_STEP_POOL;
    /* While the client has not taken SSEOUT_FLUSH_AT bytes, the inbox is left alone: its
     * cap is then what a stalled client may hold (a cut is all that is read of it). */
    unsigned flags = sseout_full(&r->out)      ? (inbox_is_cut(rq->inbox) ? INBOX_CUT : 0)
                     : r->catching             ? relay_page_step(r)
                                               : relay_drain_inbox(r);
    if (rq->client_gone || sseout_push(&r->out, rq) < 0)
        return r->no_block ? RELAY_STEP_POOL : relay_gone(r); /* what was taken is written */
    if (r->out.behind)
        flags |= INBOX_CUT;
    if (flags & (INBOX_CUT | RELAY_LOST)) {
        const char *why = flags & INBOX_CUT ? "client fell too far behind"
                                            : "events were missed";
        if (r->out.out.len) { /* it is not reading: nothing more reaches it */
            sseout_cut(&r->out, rq, why);
            return RELAY_CUT;
        }
        log_rid(LOG_WARN, rq->id, "%s; ending the stream for a resume", why);
        return relay_end_local(r, "the stream fell behind; resume it with Last-Event-ID", false,
                               RELAY_CUT);
    }
    long long now = clock_mono_ms(), drain_at = LLONG_MAX;
    if (sseout_stalled(&r->out, now)) {
        sseout_cut(&r->out, rq, "the client took nothing for two keep-alive intervals");
        return RELAY_CUT;
    }
    if (r->tally.done_seen)
        return relay_final_flush(r, RELAY_DONE);
    if (!r->catching && tally_all_ended(&r->tally)) {
        if (r->tally.origin)
            return r->no_block ? RELAY_STEP_POOL : relay_finish(r);
        if (!r->finish_at_ms)
            r->finish_at_ms = now + RELAY_DONE_GRACE_MS;
        if (now >= r->finish_at_ms) {
            if (r->no_block)
                return RELAY_STEP_POOL;
            /* Last look: the origin may have appended done after all. */
            if (relay_catch_up(r) == 0 && r->tally.done_seen)
                return relay_final_flush(r, RELAY_DONE);
            return rq->client_gone ? RELAY_GONE : relay_finish(r);
        }
    }
    if (now >= readers_due(&r->readers)) {
        if (r->no_block)
            return RELAY_STEP_POOL;
        readers_renew(&r->readers, app, rq->id);
    }
    if (atomic_load(&app->draining))
        drain_at = atomic_load(&app->drain_deadline_ms);
    if (now >= drain_at)
        return relay_end_local(r, "server is shutting down", true, RELAY_DRAINED);
    if (now >= r->deadline_ms)
        return r->no_block ? RELAY_STEP_POOL : relay_timeout(r);
    if (sseout_ping(&r->out, now) && sseout_push(&r->out, rq) < 0)
        return relay_gone(r);
    w->due_ms = relay_due(r, drain_at);
    /* The client's connection is watched for hang-up (nginx closes it when the browser
     * leaves, which is noticed before the first token) and, while bytes wait, for room to
     * write them. */
    w->want_write = r->out.out.len > 0;
    return -1;
}

static int relay_phase_step(struct relay *r, struct relay_wait *w)
{
    w->due_ms = LLONG_MAX;
    w->want_write = false;
    w->inbox_only = false;
    switch (r->phase) {
    case RELAY_GRACE: return relay_grace_step(r, w);
    case RELAY_FLUSHING: return relay_flush_step(r, w);
    case RELAY_LIVE: break;
    }
    return relay_live_step(r, w);
}

int relay_step(struct relay *r, struct relay_wait *w)
{
    for (;;) { /* a step that moved to another phase goes on with it at once */
        enum relay_phase was = r->phase;
        int rc = relay_phase_step(r, w);
        if (rc >= 0 || r->phase == was)
            return rc;
    }
}

/* A request thread's driver: the steps, and between them req_wait on the connection and the
 * inbox (the grace: the inbox alone, the client is gone; the last flush: the connection). */
static enum relay_end relay_drive(struct relay *r)
{
    struct req *rq = r->rq;
    for (;;) {
        struct relay_wait w;
        int rc = relay_step(r, &w);
        if (rc >= 0)
            return (enum relay_end)rc;
        long long wait = w.due_ms - clock_mono_ms();
        if (w.inbox_only) {
            if (wait <= 0)
                continue;
            struct pollfd p = {rq->inbox->efd, POLLIN, 0};
            if (poll(&p, 1, wait > INT_MAX ? INT_MAX : (int)wait) > 0)
                inbox_clear_wake(rq->inbox);
            continue;
        }
        unsigned got = req_wait(rq, r->phase == RELAY_FLUSHING ? -1 : rq->inbox->efd,
                                w.want_write, wait);
        if (got & REQ_READY)
            inbox_clear_wake(rq->inbox);
    }
}

enum relay_end relay_run(struct relay *r)
{
    struct app *app = r->rq->app;
    if (!r->readers.joined) /* a resume joined before its replay (readers_join_resume) */
        readers_join(&r->readers, app, r->rq->id, r->channel, app->cfg->job_deadline_s + 60);
    metrics_stream(+1);
    if (r->on_end && app->stream_adopt && app->stream_adopt(app->streams, r) == 0)
        return RELAY_HANDED_OFF; /* the loop's now: relay_ended runs at its end */
    enum relay_end end = relay_drive(r);
    metrics_stream(-1);
    readers_leave(&r->readers, app, r->rq->id);
    return end;
}

void relay_ended(struct relay *r, enum relay_end end)
{
    struct app *app = r->rq->app;
    metrics_stream(-1);
    readers_leave(&r->readers, app, r->rq->id);
    r->on_end(r, end, r->end_ctx);
    dispatch_unsubscribe(app->dispatch, r->rq->inbox);
    relay_free(r);
}

const char *relay_end_name(enum relay_end e)
{
    static const char *const names[] = {"done", "client gone", "fell behind", "drained",
                                        "Redis failed", "handed to the loop"};
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}

void relay_save_turn(const struct relay *r)
{
    struct buf answer;
    buf_init(&answer, 2 * SESSION_TEXT_MAX + 8);
    const struct buf *overview = tally_captured(&r->tally, MODEL_MICRO);
    const struct buf *detail = tally_captured(&r->tally, MODEL_PRO);
    buf_append(&answer, overview->data, overview->len);
    if (overview->len && detail->len)
        buf_puts(&answer, "\n\n");
    buf_append(&answer, detail->data, detail->len);
    char err[256], tag[LOG_TAG_LEN + 1];
    int rc = session_save_pending(r->rq->app, r->request_id, buf_cstr(&answer), tag, err,
                                  sizeof err);
    if (rc < 0)
        log_rid(LOG_WARN, r->rq->id, "the session turn of %s was not saved: %s", r->request_id,
                err);
    else if (rc > 0)
        log_rid(LOG_DEBUG, r->rq->id, "session %s: the turn of %s saved", tag, r->request_id);
    buf_free(&answer);
}
