/* jobwait: one job queued and followed to its end (see jobwait.h). */
#include "jobwait.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/log.h"
#include "redis/contract.h"
#include "redis/events.h"
#include "store.h"
#include "transcript.h"

struct jobwait {
    struct req *rq;
    struct jobwait_result *res;
    struct transcript tr;  /* the job's own: nova:log:<job.request> */
    bool ended;
};

/* Takes one event of the job (new, in id order): its text, or its end. */
static int jobwait_take(void *ctx, const struct transcript_entry *e)
{
    struct jobwait *w = ctx;
    struct jobwait_result *res = w->res;
    enum event_type t = event_type_parse(e->type, e->type_len);
    bool delta = t == EV_DELTA, translation = t == EV_TRANSLATION;
    bool done = t == EV_MODEL_DONE || t == EV_PASSAGES || translation;
    if ((!delta && !done && t != EV_ERROR) || e->data_len > INT_MAX)
        return 0;
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, e->data, (int)e->data_len);
    json_tokener_free(tok);
    if (delta) {
        size_t n;
        const char *text = json_get_str(o, "text", &n);
        if (text)
            buf_append(&res->text, text, n);
        json_object_put(o);
        return 0;
    }
    buf_reset(&res->data);
    buf_append(&res->data, e->data, e->data_len);
    if (done) {
        res->end = JOBWAIT_DONE;
        size_t n;
        const char *text = translation ? json_get_str(o, "translated_query", &n) : NULL;
        if (text) /* a translation job's one event carries the whole text */
            buf_append(&res->text, text, n);
        json_object *usage = json_get(o, "usage");
        if (usage)
            event_usage_parse(usage, &res->usage);
    } else {
        res->end = JOBWAIT_ERROR;
        const char *code = json_get_str(o, "code", NULL);
        const char *msg = json_get_str(o, "message", NULL);
        snprintf(res->code, sizeof res->code, "%s", code ? code : "internal");
        snprintf(res->message, sizeof res->message, "%s", msg ? msg : "the job failed");
    }
    json_object_put(o);
    w->ended = true;
    return 1;
}

/* Queues the job over a pooled connection, once its queue's backlog is under
 * NOVA_MAX_QUEUE_DEPTH: a waited-for job is paid work like an answer, and is admitted the same
 * way (JOBWAIT_OVERLOADED, nothing queued, when the queue is full). Returns 0 or -1 (message
 * set). */
static int enqueue(struct jobwait *w, const struct job *j)
{
    char err[256];
    long long depth = 0;
    redisContext *c = app_redis(w->rq->app, err, sizeof err);
    int rc = c ? store_queue_depths(c, &j->queue, 1, &depth, err, sizeof err) : -1;
    if (rc == 0 && depth > w->rq->app->cfg->max_queue_depth) {
        app_redis_put(w->rq->app, c);
        w->res->end = JOBWAIT_OVERLOADED;
        errstr_set(w->res->message, sizeof w->res->message,
                   "the %s queue holds %lld jobs (max %ld)", queue_name(j->queue), depth,
                   w->rq->app->cfg->max_queue_depth);
        return -1;
    }
    if (rc == 0)
        rc = store_enqueue(c, j, 1, w->rq->app->cfg->max_queue_depth * 2 + 1000, err,
                           sizeof err);
    app_redis_put(w->rq->app, c);
    if (rc < 0)
        errstr_set(w->res->message, sizeof w->res->message, "queueing %s: %s", j->id, err);
    return rc;
}

/* Relays nothing: waits on the inbox and the client's connection until the job ends. A gap
 * in pub/sub, or messages dropped, are filled from the job's transcript. */
static void wait_loop(struct jobwait *w, long long deadline)
{
    struct req *rq = w->rq;
    for (;;) {
        unsigned flags = transcript_take_inbox(&w->tr, rq->inbox);
        if (flags & (INBOX_GAP | INBOX_CUT)) /* a failed read is logged; the wait goes on */
            transcript_catch_up(&w->tr, rq->app, rq->id, jobwait_take, w);
        if (w->ended)
            transcript_drop_taken(&w->tr);
        else
            transcript_feed_taken(&w->tr, jobwait_take, w);
        if (w->ended)
            break;
        if (flags & INBOX_CUT) /* only the transcript is reliable now */
            inbox_reset(rq->inbox);
        long long wait = deadline - clock_mono_ms();
        if (wait <= 0) {
            w->res->end = JOBWAIT_TIMEOUT;
            break;
        }
        unsigned got = req_wait(rq, rq->inbox->efd, false, wait);
        if (got & REQ_GONE) {
            w->res->end = JOBWAIT_GONE;
            break;
        }
        if (got & REQ_READY)
            inbox_clear_wake(rq->inbox);
    }
}

/* The job left unfinished (timeout, client gone): its marker and cancel message. */
static void cancel_job(struct app *app, const struct job *j)
{
    const char *ids[] = {j->id};
    char err[256];
    redisContext *c = app_redis(app, err, sizeof err);
    int rc = c ? store_cancel_jobs(c, ids, &j->queue, 1, err, sizeof err) : -1;
    app_redis_put(app, c);
    if (rc < 0)
        log_warn("canceling jobs: %s", err);
}

void jobwait_run(struct req *rq, const struct job *j, long long timeout_ms,
                 struct jobwait_result *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->text, JOBWAIT_TEXT_MAX);
    buf_init(&res->data, JOBWAIT_TEXT_MAX * 2);
    res->end = JOBWAIT_FAILED;
    struct jobwait w = {.rq = rq, .res = res};
    char chan[KEY_MAX], err[256];
    if (transcript_init(&w.tr, j->request) < 0 || key_out(chan, sizeof chan, j->id) < 0) {
        transcript_free(&w.tr);
        snprintf(res->message, sizeof res->message, "job id %s does not make a key", j->id);
        return;
    }
    const char *chans[] = {chan};
    long long deadline = clock_mono_ms() + timeout_ms;
    if (dispatch_subscribe(rq->app->dispatch, rq->inbox, chans, 1, APP_SUBSCRIBE_WAIT_MS, err,
                           sizeof err) < 0)
        errstr_set(res->message, sizeof res->message, "subscribe: %s", err);
    else if (enqueue(&w, j) == 0)
        wait_loop(&w, deadline);
    dispatch_unsubscribe(rq->app->dispatch, rq->inbox);
    inbox_reset(rq->inbox);
    transcript_free(&w.tr);
    if (res->end == JOBWAIT_TIMEOUT || res->end == JOBWAIT_GONE) {
        cancel_job(rq->app, j);
        snprintf(res->message, sizeof res->message, "%s",
                 res->end == JOBWAIT_TIMEOUT ? "no answer before the timeout" : "client left");
    }
}

void jobwait_result_free(struct jobwait_result *res)
{
    buf_free(&res->text);
    buf_free(&res->data);
}
