/* handoff: POST /api/chat/<request>/handoff (see handoff.h). */
#include "handoff.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "handoff_doc.h"
#include "redis/contract.h"

/* ---- the route -------------------------------------------------------------------------- */

/* The handoff id already given to request_id, when there is one: 1 (into id), 0, -1. */
static int handoff_claim(redisContext *c, const char *request_id, const char *id, long ttl_s,
                         char *existing, size_t n, char *errstr, size_t errlen)
{
    char key[KEY_MAX];
    key_handoff(key, sizeof key, request_id);
    /* SET NX GET would answer both at once, but only from Redis 7; two commands are enough:
     * the id is only ever set once, so a GET after a refused NX reads the one that won. */
    redisReply *r = redisCommand(c, "SET %s %s NX EX %ld", key, id, ttl_s);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        errstr_set(errstr, errlen, "SET %s: %s", key, r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    bool won = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (won)
        return 0;
    r = redisCommand(c, "GET %s", key);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_STRING && (size_t)r->len < n) {
        memcpy(existing, r->str, (size_t)r->len + 1);
        rc = 1;
    } else {
        errstr_set(errstr, errlen, "GET %s: %s", key,
                   !r ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "gone meanwhile");
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

static void reply_accepted(struct req *rq, const char *request_id, const char *handoff_id,
                           const char *status)
{
    char body[256];
    int len = snprintf(body, sizeof body,
                       "{\"handoff_id\":\"%s\",\"request_id\":\"%s\",\"status\":\"%s\"}\n",
                       handoff_id, request_id, status);
    reply_json(rq, 202, NULL, body, (size_t)len);
}

void handoff_post(struct req *rq, const char *request_id)
{
    const struct nova_config *cfg = rq->app->cfg;
    if (!cfg->handoff_url[0]) {
        reply_error(rq, 503, "unavailable",
                    "handoff to a person is not configured here (NOVA_HANDOFF_URL)", NULL);
        return;
    }
    struct buf body;
    if (req_read_json_body(rq, &body) < 0)
        return;
    static _Thread_local struct handoff_body b;
    char err[512];
    int prc = handoff_body_parse(body.data ? body.data : "", body.len, &b, err, sizeof err);
    buf_free(&body);
    if (prc < 0) {
        reply_error(rq, 400, "bad_request", err, NULL);
        return;
    }
    redisContext *c = req_redis(rq);
    if (!c)
        return;
    struct handoff_doc doc;
    char hid[HANDOFF_DOC_ID_LEN + 1];
    handoff_doc_new_id(hid);
    int rc = handoff_doc_build(c, request_id, hid, &b, &doc, err, sizeof err);
    if (rc == 0) {
        app_redis_put(rq->app, c);
        reply_error(rq, 404, "not_found",
                    "no such request (it never existed, or its transcript expired)", NULL);
        return;
    }
    char existing[HANDOFF_DOC_ID_LEN + 16];
    int claimed = rc < 0 ? -1
                         : handoff_claim(c, request_id, hid, cfg->log_ttl_s, existing,
                                         sizeof existing, err, sizeof err);
    if (claimed == 0) {
        char key[KEY_MAX], trim[24];
        key_jobs(key, sizeof key, QUEUE_HANDOFF);
        snprintf(trim, sizeof trim, "%ld", cfg->max_queue_depth);
        redisReply *r = redisCommand(c, "XADD %s MAXLEN ~ %s * job %b", key, trim,
                                     doc.json.data, doc.json.len);
        if (!r || r->type != REDIS_REPLY_STRING) {
            errstr_set(err, sizeof err, "XADD %s: %s", key,
                       !r ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "?");
            claimed = -1;
            /* Not queued: the next POST may try again. */
            char hkey[KEY_MAX];
            key_handoff(hkey, sizeof hkey, request_id);
            redisReply *d = c->err ? NULL : redisCommand(c, "DEL %s", hkey);
            if (d)
                freeReplyObject(d);
        }
        if (r)
            freeReplyObject(r);
    }
    bool broken = c->err != 0;
    app_redis_put(rq->app, c);
    size_t doc_len = rc > 0 ? doc.json.len : 0;
    if (rc > 0)
        handoff_doc_free(&doc);
    if (rc < 0 || claimed < 0) {
        log_rid(LOG_WARN, rq->id, "handoff of %s: %s", request_id, err);
        if (rc < 0 && !broken)
            reply_error(rq, 500, "internal", "the request could not be read back", NULL);
        else
            reply_error(rq, 503, "unavailable", "Redis did not take the handoff", NULL);
        return;
    }
    if (claimed == 1) {
        log_event(LOG_INFO, rq->id, "handoff", "request=%s handoff=%s again=1", request_id,
                  existing);
        reply_accepted(rq, request_id, existing, "queued");
        return;
    }
    log_event(LOG_INFO, rq->id, "handoff", "request=%s handoff=%s bytes=%zu", request_id, hid,
              doc_len);
    reply_accepted(rq, request_id, hid, "queued");
}
