/* resume: the routes on a request already started, found by its transcript's meta — its
 * resume and its cancel (see resume.h). */
#include "resume.h"

#include <stdio.h>
#include <string.h>

#include "chat.h"
#include "core/clock.h"
#include "core/log.h"
#include "product/chatreq.h"
#include "relay.h"
#include "session.h"
#include "store.h"

/* Reads the meta of request_id; on anything but found the reply is sent. */
static int load_meta(struct req *rq, const char *request_id, struct store_meta *m)
{
    char err[256];
    redisContext *c = req_redis(rq);
    if (!c)
        return -1;
    int rc = store_read_meta(c, request_id, m, err, sizeof err);
    bool broken = c->err != 0;
    app_redis_put(rq->app, c);
    if (rc == 0)
        reply_error(rq, 404, "not_found",
                    "no such request (it never existed, or its transcript expired)", NULL);
    else if (rc < 0) {
        log_rid(LOG_WARN, rq->id, "request %s: %s", request_id, err);
        if (broken)
            reply_error(rq, 503, "unavailable", "Redis is unreachable", NULL);
        else
            reply_error(rq, 500, "internal", "the request's transcript is unreadable", NULL);
    }
    return rc == 1 ? 0 : -1;
}

/* The jobs a request's meta implies: one Micro and one Pro job per phase, and the question's
 * translation when meta announces one (translate.h names it as plan.h names the others). */
struct meta_jobs {
    char ids[TALLY_MAX_JOBS][JOB_ID_MAX];
    const char *phases[TALLY_MAX_JOBS]; /* static (plan.h, contract.h) */
    enum model models[TALLY_MAX_JOBS];
    size_t n, translation;             /* translation: its index, or n when there is none */
};

static void meta_jobs(const char *request_id, const struct store_meta *m, struct meta_jobs *j)
{
    j->n = 0;
    for (size_t ph = 0; ph < m->n_phases; ph++)
        for (enum model k = 0; k < MODEL_COUNT && j->n < PLAN_MAX_JOBS; k++)
            if (plan_job_id(j->ids[j->n], sizeof j->ids[j->n], request_id, m->phases[ph],
                            k) == 0) {
                j->phases[j->n] = m->phases[ph];
                j->models[j->n++] = k;
            }
    j->translation = TALLY_MAX_JOBS;
    if (m->translate_phase && plan_job_id(j->ids[j->n], sizeof j->ids[j->n], request_id,
                                          m->translate_phase, MODEL_PRO) == 0) {
        j->phases[j->n] = m->translate_phase;
        j->models[j->n] = MODEL_PRO;
        j->translation = j->n++;
    }
}

/* The resume point: Last-Event-ID, else ?after=. Returns 1 (set), 0 (none), -1 (400 sent). */
static int resume_point(struct req *rq, struct stream_id *after)
{
    const char *v = rq->last_event_id;
    size_t n = strlen(v);
    /* An over-long query was not kept: it must not read as "no resume point" (a replay from
     * the start). */
    if (!rq->too_long && !rq->has_last_event_id &&
        !chatreq_query_param(rq->query, "after", &v, &n))
        return 0;
    if (rq->too_long || stream_id_parse(v, n, after) < 0) {
        reply_error(rq, 400, "bad_request",
                    "the resume point (Last-Event-ID or ?after=) must be an event id like "
                    "1700000000000-0",
                    NULL);
        return -1;
    }
    return 1;
}

/* A resume's place among the live readers of its request: 0 (joined, or not known with
 * Redis failing: the subscribe tells), or -1 with the 429 sent when
 * NOVA_MAX_RESUMES_PER_REQUEST of them are open already. */
static int resume_join(struct req *rq, struct relay *r)
{
    struct app *app = rq->app;
    long max = app->cfg->max_resumes;
    if (readers_join_resume(&r->readers, app, rq->id, r->channel, app->cfg->job_deadline_s + 60,
                            max) != 0)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg,
             "this request has %ld resumes open already (at most %ld); retry when one ends", max,
             max);
    log_rid(LOG_WARN, rq->id, "request %s has %ld resumes open: 429", r->request_id, max);
    reply_error(rq, 429, "rate_limited", msg, "Retry-After: 3\r\n");
    return -1;
}

/* The stream's end (relay_end_fn): the session turn and the log line. */
static void resume_end(struct relay *r, enum relay_end end, void *ctx)
{
    (void)ctx;
    struct req *rq = r->rq;
    if (end == RELAY_DONE)
        relay_save_turn(r);
    log_event(LOG_INFO, rq->id, "resume_done", "request=%s end=%s events=%lu elapsed_ms=%lld",
              r->request_id, relay_end_name(end), r->out.written, clock_mono_ms() - rq->t0);
    chat_stream_leave(); /* the place resume_get took */
}

void resume_get(struct req *rq, const char *request_id)
{
    struct app *app = rq->app;
    struct stream_id after;
    int have_after = resume_point(rq, &after);
    struct store_meta m;
    if (have_after < 0 || !chat_stream_admit(rq))
        return;
    if (load_meta(rq, request_id, &m) < 0) {
        chat_stream_leave();
        return;
    }
    struct relay r;
    relay_init(&r, rq, request_id, false, (long long)m.sid.ms,
               (long long)m.sid.ms + app->cfg->job_deadline_s * 1000);
    struct meta_jobs jobs;
    meta_jobs(request_id, &m, &jobs);
    for (size_t i = 0; i < jobs.n; i++)
        if (i == jobs.translation)
            tally_add_translation(&r.tally, jobs.ids[i], jobs.phases[i]);
        else
            relay_add_job(&r, jobs.ids[i], jobs.phases[i], jobs.models[i]);
    if (have_after == 1)
        tally_write_after(&r.tally, &after);
    /* The answer a resume sees to its end is saved when the origin's client left before it. */
    if (m.n_phases)
        tally_capture(&r.tally, m.phases[m.n_phases - 1], SESSION_TEXT_MAX);
    char err[256], bufs[RELAY_MAX_CHANNELS][KEY_MAX];
    const char *chans[RELAY_MAX_CHANNELS];
    size_t n = relay_channels(&r, bufs, chans);
    enum relay_end end = RELAY_FAILED;
    int rc = 0;
    if (resume_join(rq, &r) < 0) {
        chat_stream_leave();
        relay_free(&r);
        return;
    }
    if (dispatch_subscribe(app->dispatch, rq->inbox, chans, n, APP_SUBSCRIBE_WAIT_MS, err,
                           sizeof err) < 0) {
        log_rid(LOG_WARN, rq->id, "subscribe: %s", err);
        reply_error(rq, 503, "unavailable", "Redis did not confirm the reply channels", NULL);
        goto out;
    }
    /* The replay, a page at a time while the client takes it: here until SSEOUT_FLUSH_AT
     * bytes wait (so a request read to its end is answered 204 before any header), then in
     * the relay's loop as the client reads. */
    r.catching = true;
    while (r.catching && !sseout_full(&r.out) && !rq->client_gone &&
           (rc = relay_catch_up_page(&r)) == 0)
        ;
    if (rc < 0 && !rq->client_gone) {
        if (rq->headers_sent)
            relay_abort(&r, "the transcript could not be read; resume again");
        else
            reply_error(rq, 503, "unavailable", "the transcript could not be read", NULL);
    } else if (r.tally.done_seen && r.out.written == 0 && !rq->headers_sent) {
        /* The client has every event up to done: 204 tells an EventSource to stop. */
        reply_empty(rq, 204);
        end = RELAY_DONE;
    } else if (rq->client_gone) {
        end = RELAY_GONE;
    } else if (r.tally.done_seen) {
        end = relay_flush(&r) == 0 ? RELAY_DONE : RELAY_GONE;
    } else {
        r.on_end = resume_end; /* the stream may go to the loop, which ends it */
        end = relay_run(&r);
        if (end == RELAY_HANDED_OFF)
            return;
    }
out:
    resume_end(&r, end, NULL);
    readers_leave(&r.readers, app, rq->id);
    dispatch_unsubscribe(app->dispatch, rq->inbox);
    relay_free(&r);
}

void resume_cancel(struct req *rq, const char *request_id)
{
    struct store_meta m;
    if (load_meta(rq, request_id, &m) < 0)
        return;
    struct meta_jobs jobs;
    meta_jobs(request_id, &m, &jobs);
    const char *ids[TALLY_MAX_JOBS];
    enum queue queues[TALLY_MAX_JOBS];
    for (size_t i = 0; i < jobs.n; i++) {
        ids[i] = jobs.ids[i];
        queues[i] = model_queue(jobs.models[i]);
    }
    char err[256];
    redisContext *c = app_redis(rq->app, err, sizeof err);
    int rc = c ? store_cancel_jobs(c, ids, queues, jobs.n, err, sizeof err) : -1;
    app_redis_put(rq->app, c);
    if (rc < 0) {
        log_warn("canceling jobs: %s", err);
        reply_error(rq, 503, "unavailable", "Redis did not take the cancel", NULL);
        return;
    }
    log_event(LOG_INFO, rq->id, "cancel", "request=%s jobs=%zu", request_id, jobs.n);
    char body[160];
    int len = snprintf(body, sizeof body, "{\"status\":\"canceling\",\"request_id\":\"%s\"}\n",
                       request_id);
    reply_json(rq, 202, NULL, body, (size_t)len);
}
