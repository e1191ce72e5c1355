/* jobwait: one job queued and followed to its end (see jobwait.h). */
#include "jobwait.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "redis/contract.h"
#include "redis/events.h"
#include "relay.h"
#include "store.h"

struct jobwait {
    struct req *rq;
    struct jobwait_result *res;
    char log_key[KEY_MAX];
    struct stream_id last; /* events up to here are taken (pub/sub and transcript overlap) */
    bool have_last;
};

static json_object *parse_json(const char *s, size_t n)
{
    json_tokener *t = json_tokener_new();
    json_object *o = json_tokener_parse_ex(t, s, (int)n);
    json_tokener_free(t);
    return o;
}

/* Takes one event of the job. Returns true when it ended the job. */
static bool take_event(struct jobwait_result *res, const char *type, size_t type_len,
                       const char *data, size_t data_len)
{
#define IS(s) (type_len == sizeof(s) - 1 && memcmp(type, s, sizeof(s) - 1) == 0)
    bool delta = IS("delta"), done = IS("model_done") || IS("passages"), error = IS("error");
#undef IS
    if ((!delta && !done && !error) || data_len > INT_MAX)
        return false;
    json_object *o = parse_json(data, data_len);
    json_object *v;
    if (delta) {
        if (o && json_object_object_get_ex(o, "text", &v) &&
            json_object_is_type(v, json_type_string))
            buf_append(&res->text, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        json_object_put(o);
        return false;
    }
    buf_reset(&res->data);
    buf_append(&res->data, data, data_len);
    if (done) {
        res->end = JOBWAIT_DONE;
        if (o && json_object_object_get_ex(o, "usage", &v)) {
            event_usage_parse(v, &res->usage);
        }
    } else {
        res->end = JOBWAIT_ERROR;
        const char *code = o && json_object_object_get_ex(o, "code", &v) ? json_object_get_string(v) : NULL;
        const char *msg = o && json_object_object_get_ex(o, "message", &v) ? json_object_get_string(v) : NULL;
        snprintf(res->code, sizeof res->code, "%s", code ? code : "internal");
        snprintf(res->message, sizeof res->message, "%s", msg ? msg : "the job failed");
    }
    json_object_put(o);
    return true;
}

/* One event with its transcript id; returns true when it ended the job. */
static bool take(struct jobwait *w, const char *id, size_t id_len, const char *type,
                 size_t type_len, const char *data, size_t data_len)
{
    struct stream_id sid;
    if (stream_id_parse(id, id_len, &sid) < 0 ||
        (w->have_last && stream_id_cmp(&sid, &w->last) <= 0))
        return false;
    w->last = sid;
    w->have_last = true;
    return take_event(w->res, type, type_len, data, data_len);
}

/* After a pub/sub gap: the job's transcript from after the last event taken. Returns true
 * when it holds the end; false otherwise (also when Redis fails: the wait goes on). */
static bool catch_up(struct jobwait *w)
{
    char err[256], start[48] = "-";
    if (w->have_last) {
        struct stream_id next = {w->last.ms, w->last.seq + 1};
        stream_id_format(&next, start, sizeof start);
    }
    redisContext *c = app_redis(w->rq->app, err, sizeof err);
    if (!c) {
        log_rid(LOG_WARN, w->rq->id, "reading %s: %s", w->log_key, err);
        return false;
    }
    redisReply *rep = redisCommand(c, "XRANGE %s %s + COUNT 1000", w->log_key, start);
    app_redis_put(w->rq->app, c);
    bool ended = false;
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements && !ended; i++) {
        const redisReply *id, *t, *d;
        if (event_entry_parse(rep->element[i], &id, &t, &d) == 0)
            ended = take(w, id->str, id->len, t->str, t->len, d->str, d->len);
    }
    if (rep)
        freeReplyObject(rep);
    return ended;
}

/* Queues the job over a pooled connection. Returns 0 or -1 (message set). */
static int enqueue(struct jobwait *w, const struct job *j)
{
    char err[256];
    redisContext *c = app_redis(w->rq->app, err, sizeof err);
    int rc = c ? store_enqueue(c, j, 1, w->rq->app->cfg->max_queue_depth * 2 + 1000, err,
                               sizeof err)
               : -1;
    app_redis_put(w->rq->app, c);
    if (rc < 0)
        errstr_set(w->res->message, sizeof w->res->message, "queueing %s: %s", j->id, err);
    return rc;
}

/* Relays nothing: waits on the inbox and the client's connection until the job ends. */
static void wait_loop(struct jobwait *w, long long deadline)
{
    struct req *rq = w->rq;
    struct buf taken;
    buf_init(&taken, INBOX_CAP);
    for (;;) {
        unsigned flags = inbox_take(rq->inbox, &taken);
        bool ended = (flags & (INBOX_GAP | INBOX_CUT)) && catch_up(w);
        size_t off = 0, len;
        const char *m;
        while (!ended && inbox_next(&taken, &off, &m, &len) == 0) {
            struct event_msg em;
            if (event_msg_parse(m, len, &em) == 0)
                ended = take(w, em.id, em.id_len, em.type, em.type_len, em.data, em.data_len);
        }
        buf_reset(&taken);
        if (ended)
            break;
        if (flags & INBOX_CUT) { /* only the transcript is reliable now */
            inbox_reset(rq->inbox);
        }
        long long wait = deadline - clock_mono_ms();
        if (wait <= 0) {
            w->res->end = JOBWAIT_TIMEOUT;
            break;
        }
        struct pollfd p[2] = {{rq->inbox->efd, POLLIN, 0}, {rq->fr->ipcFd, POLLRDHUP, 0}};
        int rc = poll(p, 2, wait > INT_MAX ? INT_MAX : (int)wait);
        if (rc > 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            rq->client_gone = true;
            w->res->end = JOBWAIT_GONE;
            break;
        }
        if (rc > 0 && (p[0].revents & POLLIN))
            inbox_clear_wake(rq->inbox);
    }
    buf_free(&taken);
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
    if (key_log(w.log_key, sizeof w.log_key, j->request) < 0 ||
        key_out(chan, sizeof chan, j->id) < 0) {
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
    if (res->end == JOBWAIT_TIMEOUT || res->end == JOBWAIT_GONE) {
        struct relay_job rj = {.ended = false};
        snprintf(rj.id, sizeof rj.id, "%s", j->id);
        rj.queue = j->queue;
        relay_cancel_jobs(rq->app, &rj, 1, true);
        snprintf(res->message, sizeof res->message, "%s",
                 res->end == JOBWAIT_TIMEOUT ? "no answer before the timeout" : "client left");
    }
}

void jobwait_result_free(struct jobwait_result *res)
{
    buf_free(&res->text);
    buf_free(&res->data);
}
