/* chat: POST /api/chat, its resume and its cancel (see chat.h). */
#include "chat.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "plan.h"
#include "relay.h"
#include "store.h"

#define CHAT_RETRY_AFTER "Retry-After: 5\r\n"

/* Reads the request body into body. Returns 0, 1 when it is larger than body's cap, or -1 on
 * a read error. */
static int read_body(struct req *rq, struct buf *body)
{
    char chunk[8192];
    for (;;) {
        int n = FCGX_GetStr(chunk, (int)sizeof chunk, rq->fr->in);
        if (n > 0 && buf_append(body, chunk, (size_t)n) < 0)
            return 1;
        if (n < (int)sizeof chunk) /* a short read is the end of the body */
            break;
    }
    return FCGX_GetError(rq->fr->in) != 0 ? -1 : 0;
}

static void meta_json(struct req *rq, const struct chatreq *cr, const char *session,
                      const struct plan *p, struct buf *out)
{
    json_object *o = json_object_new_object(), *phases = json_object_new_array();
    json_object_object_add(o, "request_id", json_object_new_string(rq->id));
    json_object_object_add(o, "session_id", json_object_new_string(session));
    json_object_object_add(o, "input_lang",
                           json_object_new_string(chatreq_detect_lang(cr->message, cr->message_len)));
    json_object_object_add(o, "ui_lang", json_object_new_string(cr->ui_lang));
    /* Entities (glossary) and sources (knowledge base) come with their issue. */
    json_object_object_add(o, "entities", json_object_new_array());
    json_object_object_add(o, "sources", json_object_new_array());
    for (size_t i = 0; i < p->n_phases; i++)
        json_object_array_add(phases, json_object_new_string(p->phases[i]));
    json_object_object_add(o, "phases", phases);
    json_object_object_add(o, "backend", json_object_new_string(rq->app->cfg->backend));
    size_t len;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    buf_append(out, s, len);
    json_object_put(o);
}

static const char *end_name(enum relay_end e)
{
    static const char *const names[] = {"done", "client gone", "fell behind", "drained",
                                        "Redis failed"};
    return names[e];
}

/* Queue backlog check: 429 when a queue this request uses is over NOVA_MAX_QUEUE_DEPTH. */
static int check_backlog(struct req *rq, redisContext *c)
{
    char err[256], msg[160];
    for (size_t m = 0; m < PLAN_MODELS; m++) {
        long long depth;
        if (store_queue_depth(c, plan_models[m], &depth, err, sizeof err) < 0) {
            log_warn("rid=%s %s", rq->id, err);
            reply_error(rq, 503, "unavailable", "the job queue cannot be read", NULL);
            return -1;
        }
        if (depth > rq->app->cfg->max_queue_depth) {
            log_warn("rid=%s queue %s holds %lld jobs (max %ld): 429", rq->id, plan_models[m],
                     depth, rq->app->cfg->max_queue_depth);
            snprintf(msg, sizeof msg, "the %s queue is full (%lld jobs waiting); retry shortly",
                     plan_models[m], depth);
            reply_error(rq, 429, "overloaded", msg, CHAT_RETRY_AFTER);
            return -1;
        }
    }
    return 0;
}

/* Subscribes, appends meta and queues the jobs. On failure the reply is sent; returns -1. */
static int chat_start(struct req *rq, struct relay *r, const struct plan *p, const char *meta,
                      size_t meta_len, char *meta_id, size_t idlen)
{
    struct app *app = rq->app;
    char err[256], bufs[PLAN_MAX_JOBS + 1][KEY_MAX];
    const char *chans[PLAN_MAX_JOBS + 1];
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        log_warn("rid=%s %s", rq->id, err);
        reply_error(rq, 503, "unavailable", "Redis is unreachable", NULL);
        return -1;
    }
    /* The connection is kept through the (short) subscribe wait: meta and the jobs then go
     * over one that has just answered. */
    if (check_backlog(rq, c) < 0) {
        app_redis_put(app, c);
        return -1;
    }
    size_t n = relay_channels(r, bufs, chans);
    if (dispatch_subscribe(app->dispatch, rq->inbox, chans, n, APP_SUBSCRIBE_WAIT_MS, err,
                           sizeof err) < 0) {
        app_redis_put(app, c);
        log_warn("rid=%s subscribe: %s", rq->id, err);
        reply_error(rq, 503, "unavailable", "Redis did not confirm the reply channels", NULL);
        return -1;
    }
    if (event_append(c, r->log_key, r->channel, "meta", meta, meta_len,
                     app->cfg->log_ttl_s * 1000, meta_id, idlen, err, sizeof err) < 0) {
        app_redis_put(app, c);
        log_warn("rid=%s meta: %s", rq->id, err);
        reply_error(rq, 503, "unavailable", "Redis did not take the request", NULL);
        return -1;
    }
    /* Jobs stay in their stream after XACK (for XPENDING and audits); trimming far above the
     * backlog cap bounds the stream without dropping a job anyone still waits for. */
    int rc = store_enqueue(c, p, app->cfg->max_queue_depth * 2 + 1000, err, sizeof err);
    app_redis_put(app, c);
    if (rc < 0) {
        log_warn("rid=%s queueing: %s", rq->id, err);
        relay_cancel_jobs(app, r->jobs, r->n_jobs, true);
        reply_error(rq, 503, "unavailable", "the jobs could not be queued", NULL);
        return -1;
    }
    return 0;
}

/* A stream started now would be cut at the drain deadline: send the client elsewhere. */
static bool refuse_when_draining(struct req *rq)
{
    if (!atomic_load(&rq->app->draining))
        return false;
    reply_error(rq, 503, "unavailable", "this server is shutting down; retry",
                "Retry-After: 1\r\n");
    return true;
}

void chat_post(struct req *rq)
{
    struct app *app = rq->app;
    char err[256];
    if (!chatreq_content_type_is_json(rq->content_type)) {
        reply_error(rq, 415, "unsupported_media_type", "Content-Type must be application/json",
                    NULL);
        return;
    }
    if (rq->content_length > (long long)CHATREQ_BODY_MAX) {
        reply_error(rq, 413, "payload_too_large", "request body is larger than 64 KiB", NULL);
        return;
    }
    struct buf body;
    buf_init(&body, CHATREQ_BODY_MAX);
    int rb = read_body(rq, &body);
    struct chatreq cr;
    int prc = rb == 0 ? chatreq_parse(buf_cstr(&body), body.len, &cr, err, sizeof err) : -1;
    buf_free(&body);
    if (rb != 0 || prc < 0) {
        if (rb > 0)
            reply_error(rq, 413, "payload_too_large", "request body is larger than 64 KiB", NULL);
        else
            reply_error(rq, 400, "bad_request", rb < 0 ? "the body could not be read" : err,
                        NULL);
        return;
    }
    if (refuse_when_draining(rq)) {
        chatreq_free(&cr);
        return;
    }
    char session[CHATREQ_SESSION_MAX + 1];
    if (cr.session_id[0])
        memcpy(session, cr.session_id, sizeof session);
    else
        app_random_hex(session, 32);
    long long now = app_epoch_ms();
    struct plan p;
    if (plan_build(&p, app->cfg, rq->id, &cr, now, err, sizeof err) < 0) {
        log_error("rid=%s plan: %s", rq->id, err);
        reply_error(rq, 500, "internal", "the request could not be planned", NULL);
        chatreq_free(&cr);
        return;
    }
    struct relay r;
    relay_init(&r, rq, rq->id, now, now + app->cfg->job_deadline_s * 1000);
    r.origin = true;
    for (size_t i = 0; i < p.n_jobs; i++)
        relay_add_job(&r, p.jobs[i].id, p.jobs[i].queue, p.phases[i / PLAN_MODELS],
                      plan_models[i % PLAN_MODELS]);
    struct buf meta;
    buf_init(&meta, 1u << 16);
    meta_json(rq, &cr, session, &p, &meta);
    char meta_id[EVENT_ID_MAX];
    if (chat_start(rq, &r, &p, meta.data, meta.len, meta_id, sizeof meta_id) == 0) {
        log_info("rid=%s session=%s ui_lang=%s chars=%zu jobs=%zu queued", rq->id, session,
                 cr.ui_lang, cr.message_chars, p.n_jobs);
        enum relay_end end = RELAY_GONE;
        if (relay_event(&r, meta_id, strlen(meta_id), "meta", 4, meta.data, meta.len) == 0 &&
            relay_flush(&r) == 0)
            end = relay_run(&r);
        else
            relay_cancel_jobs(app, r.jobs, r.n_jobs, false);
        log_info("rid=%s stream ended: %s after %lu events", rq->id, end_name(end), r.written);
    }
    dispatch_unsubscribe(app->dispatch, rq->inbox);
    buf_free(&meta);
    relay_free(&r);
    plan_free(&p);
    chatreq_free(&cr);
}

/* Reads the meta of request_id; on anything but found the reply is sent. */
static int load_meta(struct req *rq, const char *request_id, struct store_meta *m)
{
    char err[256];
    redisContext *c = app_redis(rq->app, err, sizeof err);
    if (!c) {
        log_warn("rid=%s %s", rq->id, err);
        reply_error(rq, 503, "unavailable", "Redis is unreachable", NULL);
        return -1;
    }
    int rc = store_read_meta(c, request_id, m, err, sizeof err);
    bool broken = c->err != 0;
    app_redis_put(rq->app, c);
    if (rc == 0)
        reply_error(rq, 404, "not_found",
                    "no such request (it never existed, or its transcript expired)", NULL);
    else if (rc < 0) {
        log_warn("rid=%s request %s: %s", rq->id, request_id, err);
        if (broken)
            reply_error(rq, 503, "unavailable", "Redis is unreachable", NULL);
        else
            reply_error(rq, 500, "internal", "the request's transcript is unreadable", NULL);
    }
    return rc == 1 ? 0 : -1;
}

/* The jobs a request's meta implies: one Micro and one Pro job per phase. */
static void relay_jobs_from_meta(struct relay *r, const char *request_id,
                                 const struct store_meta *m)
{
    char id[JOB_ID_MAX];
    for (size_t ph = 0; ph < m->n_phases; ph++)
        for (size_t k = 0; k < PLAN_MODELS; k++)
            if (plan_job_id(id, sizeof id, request_id, m->phases[ph], plan_models[k]) == 0)
                relay_add_job(r, id, plan_models[k], m->phases[ph], plan_models[k]);
}

/* The resume point: Last-Event-ID, else ?after=. Returns 1 (set), 0 (none), -1 (400 sent). */
static int resume_point(struct req *rq, struct stream_id *after)
{
    const char *v = rq->last_event_id;
    size_t n = strlen(v);
    if (!rq->has_last_event_id && !chatreq_query_param(rq->query, "after", &v, &n))
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

void chat_resume(struct req *rq, const char *request_id)
{
    struct app *app = rq->app;
    struct stream_id after;
    int have_after = resume_point(rq, &after);
    struct store_meta m;
    if (have_after < 0 || refuse_when_draining(rq) || load_meta(rq, request_id, &m) < 0)
        return;
    struct relay r;
    relay_init(&r, rq, request_id, (long long)m.sid.ms,
               (long long)m.sid.ms + app->cfg->job_deadline_s * 1000);
    relay_jobs_from_meta(&r, request_id, &m);
    r.skip = have_after == 1;
    r.write_after = after;
    char err[256], bufs[PLAN_MAX_JOBS + 1][KEY_MAX];
    const char *chans[PLAN_MAX_JOBS + 1];
    size_t n = relay_channels(&r, bufs, chans);
    enum relay_end end = RELAY_FAILED;
    if (dispatch_subscribe(app->dispatch, rq->inbox, chans, n, APP_SUBSCRIBE_WAIT_MS, err,
                           sizeof err) < 0) {
        log_warn("rid=%s subscribe: %s", rq->id, err);
        reply_error(rq, 503, "unavailable", "Redis did not confirm the reply channels", NULL);
    } else if (relay_catch_up(&r) < 0 && !rq->client_gone) {
        if (rq->headers_sent)
            relay_abort(&r, "the transcript could not be read; resume again");
        else
            reply_error(rq, 503, "unavailable", "the transcript could not be read", NULL);
    } else if (r.done_seen && r.written == 0 && !rq->headers_sent) {
        /* The client has every event up to done: 204 tells an EventSource to stop. */
        reply_empty(rq, 204);
        end = RELAY_DONE;
    } else if (rq->client_gone) {
        end = RELAY_GONE;
    } else {
        end = r.done_seen ? (relay_flush(&r) == 0 ? RELAY_DONE : RELAY_GONE) : relay_run(&r);
    }
    log_info("rid=%s resume of %s ended: %s after %lu events", rq->id, request_id,
             end_name(end), r.written);
    dispatch_unsubscribe(app->dispatch, rq->inbox);
    relay_free(&r);
}

void chat_cancel(struct req *rq, const char *request_id)
{
    struct store_meta m;
    if (load_meta(rq, request_id, &m) < 0)
        return;
    struct relay r; /* only for its job list */
    memset(&r, 0, sizeof r);
    relay_jobs_from_meta(&r, request_id, &m);
    if (relay_cancel_jobs(rq->app, r.jobs, r.n_jobs, true) < 0) {
        reply_error(rq, 503, "unavailable", "Redis did not take the cancel", NULL);
        return;
    }
    log_info("rid=%s canceled the %zu jobs of %s", rq->id, r.n_jobs, request_id);
    char body[160];
    int len = snprintf(body, sizeof body, "{\"status\":\"canceling\",\"request_id\":\"%s\"}\n",
                       request_id);
    reply_json(rq, 202, NULL, body, (size_t)len);
}
