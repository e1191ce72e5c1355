/* health: GET /api/health (see health.h). */
#include "health.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "redis/contract.h"
#include "redis/meminfo.h"

/* micro and pro must have a worker; kb too with NOVA_KB_BACKEND=bedrock, handoff too with
 * NOVA_HANDOFF_URL set */
enum { N_QUEUES = QUEUE_COUNT };

/* mem: Redis's memory, whose warnings (meminfo.h) are listed; NULL when Redis did not answer.
 * They never change the status: Redis answers and the workers run. */
static void health_reply(struct req *rq, bool ok, const char *reason, const char *redis,
                         const long long *counts, const struct redis_meminfo *mem)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "unavailable"));
    if (!ok)
        json_object_object_add(o, "reason", json_object_new_string(reason));
    json_object_object_add(o, "redis", json_object_new_string(redis));
    if (counts) {
        json_object *w = json_object_new_object();
        for (size_t i = 0; i < N_QUEUES; i++)
            json_object_object_add(w, queue_name((enum queue)i), json_object_new_int64(counts[i]));
        json_object_object_add(o, "workers", w);
    }
    if (mem)
        json_object_object_add(o, "warnings", meminfo_warnings_json(mem));
    size_t len;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    struct buf b;
    buf_init(&b, len + 2);
    buf_append(&b, s, len);
    buf_putc(&b, '\n');
    json_object_put(o);
    reply_json(rq, ok ? 200 : 503, NULL, b.data, b.len);
    buf_free(&b);
}

/* PING, one ZCOUNT per queue, INFO memory and INFO stats, pipelined. Returns 0, or -1 with
 * errstr. */
static int health_query(redisContext *c, long long *counts, struct redis_meminfo *mem,
                        char *errstr, size_t errlen)
{
    char key[KEY_MAX], min[32];
    snprintf(min, sizeof min, "%lld", clock_epoch_ms() - CONTRACT_WORKER_LIVE_MS);
    redisAppendCommand(c, "PING");
    for (size_t i = 0; i < N_QUEUES; i++) {
        key_workers(key, sizeof key, (enum queue)i);
        redisAppendCommand(c, "ZCOUNT %s %s +inf", key, min);
    }
    redisAppendCommand(c, "INFO memory");
    redisAppendCommand(c, "INFO stats");
    meminfo_init(mem);
    int rc = 0;
    for (size_t i = 0; i <= N_QUEUES + 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "%s", c->errstr);
            return -1;
        }
        if (i > N_QUEUES) { /* an INFO Redis refuses (an ACL, a renamed command): unknown */
            if (r->type == REDIS_REPLY_STRING)
                meminfo_parse(mem, r->str, r->len);
        } else if (r->type == REDIS_REPLY_ERROR) {
            if (rc == 0)
                errstr_set(errstr, errlen, "%s", r->str);
            rc = -1;
        } else if (i > 0) {
            counts[i - 1] = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        }
        freeReplyObject(r);
    }
    return rc;
}

void health_get(struct req *rq)
{
    struct app *app = rq->app;
    char err[256], reason[320];
    long long counts[N_QUEUES] = {0};
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        snprintf(reason, sizeof reason, "Redis is unreachable: %s", err);
        health_reply(rq, false, reason, "down", NULL, NULL);
        return;
    }
    struct redis_meminfo mem;
    int rc = health_query(c, counts, &mem, err, sizeof err);
    app_redis_put(app, c);
    if (rc < 0) {
        snprintf(reason, sizeof reason, "Redis did not answer: %s", err);
        health_reply(rq, false, reason, "down", NULL, NULL);
        return;
    }
    const char *why = NULL;
    if (atomic_load(&app->draining))
        why = "this server is shutting down";
    else if (!dispatch_connected(app->dispatch))
        why = "the pub/sub connection to Redis is down";
    bool required[N_QUEUES] = {[QUEUE_MICRO] = true, [QUEUE_PRO] = true,
                               [QUEUE_KB] = app->cfg->kb_backend == KB_BEDROCK,
                               [QUEUE_HANDOFF] = app->cfg->handoff_url[0] != '\0'};
    for (size_t i = 0; !why && i < N_QUEUES; i++)
        if (required[i] && counts[i] < 1) {
            snprintf(reason, sizeof reason, "no live worker for the %s queue",
                     queue_name((enum queue)i));
            why = reason;
        }
    health_reply(rq, why == NULL, why, "ok", counts, &mem);
}
