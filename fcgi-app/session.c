/* session: conversation turns in Redis (see session.h). */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "product/chatreq.h"
#include "redis/contract.h"

/* Appends "<label>: <the turn's field>\n" when the field is a string. */
static void put_line(struct buf *out, const char *label, json_object *turn, const char *field)
{
    const char *v = json_get_str(turn, field, NULL);
    if (v)
        buf_printf(out, "%s: %s\n", label, v);
}

int session_history(struct app *app, const char *session_id, struct buf *out, char *errstr,
                    size_t errlen)
{
    char key[KEY_MAX], err[256];
    if (key_session(key, sizeof key, session_id) < 0) {
        errstr_set(errstr, errlen, "session id too long");
        return -1;
    }
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        errstr_set(errstr, errlen, "%s", err);
        return -1;
    }
    redisReply *r = redisCommand(c, "LRANGE %s %d -1", key, -SESSION_PROMPT_TURNS);
    app_redis_put(app, c);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        errstr_set(errstr, errlen, "LRANGE %s: %s", key,
                   r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        if (r)
            freeReplyObject(r);
        return -1;
    }
    int turns = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        json_object *t = e->type == REDIS_REPLY_STRING ? json_tokener_parse(e->str) : NULL;
        if (t && json_object_is_type(t, json_type_object)) {
            put_line(out, "Player", t, "question");
            put_line(out, "Agent", t, "answer");
            buf_putc(out, '\n');
            turns++;
        }
        json_object_put(t);
    }
    freeReplyObject(r);
    return turns;
}

/* A JSON string of at most SESSION_TEXT_MAX bytes of s, cut between characters. */
static json_object *cut_string(const char *s)
{
    size_t n = strlen(s);
    if (n > SESSION_TEXT_MAX)
        n = utf8_whole_prefix(s, SESSION_TEXT_MAX);
    return json_object_new_string_len(s, (int)n);
}

int session_save(struct app *app, const char *session_id, const char *request_id,
                 const char *question, const char *answer, char *errstr, size_t errlen)
{
    char key[KEY_MAX], err[256];
    if (key_session(key, sizeof key, session_id) < 0) {
        errstr_set(errstr, errlen, "session id too long");
        return -1;
    }
    json_object *t = json_object_new_object();
    json_object_object_add(t, "ts", json_object_new_int64(clock_epoch_ms()));
    json_object_object_add(t, "request_id", json_object_new_string(request_id));
    json_object_object_add(t, "question", cut_string(question));
    json_object_object_add(t, "answer", cut_string(answer));
    struct buf b;
    buf_init(&b, 4 * SESSION_TEXT_MAX + 512);
    json_append_put(t, &b);
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        buf_free(&b);
        errstr_set(errstr, errlen, "%s", err);
        return -1;
    }
    /* One round trip, atomically: a reader never sees the list without its expiry. */
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "RPUSH %s %b", key, b.data, b.len);
    redisAppendCommand(c, "LTRIM %s %d -1", key, -SESSION_KEEP_TURNS);
    redisAppendCommand(c, "EXPIRE %s %ld", key, app->cfg->session_ttl_s);
    redisAppendCommand(c, "EXEC");
    buf_free(&b);
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "saving the turn: %s", c->errstr);
            rc = -1;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR || (i == 4 && r->type != REDIS_REPLY_ARRAY)) {
            errstr_set(errstr, errlen, "saving the turn: %s",
                       r->type == REDIS_REPLY_ERROR ? r->str : "transaction aborted");
            rc = -1;
        }
        freeReplyObject(r);
    }
    app_redis_put(app, c);
    return rc;
}

void session_turn_json(struct buf *out, const char *session_id, const char *question,
                       size_t question_len)
{
    json_object *t = json_object_new_object();
    size_t n = question_len > SESSION_TEXT_MAX ? utf8_whole_prefix(question, SESSION_TEXT_MAX)
                                               : question_len;
    json_object_object_add(t, "session", json_object_new_string(session_id));
    json_object_object_add(t, "question", json_object_new_string_len(question, (int)n));
    json_append_put(t, out);
}

/* GET and DEL of key in one MULTI, so only one caller gets the value: into out. Returns 1
 * (taken), 0 (nothing pending) or -1 with errstr. */
static int take_pending(redisContext *c, const char *key, struct buf *out, char *errstr,
                        size_t errlen)
{
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "GET %s", key);
    redisAppendCommand(c, "DEL %s", key);
    redisAppendCommand(c, "EXEC");
    int rc = -1;
    for (int i = 0; i < 4; i++) { /* every reply is read, so the connection stays in step */
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "taking %s: %s", key, c->errstr);
            return -1;
        }
        if (i == 3 && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING)
            rc = buf_append(out, r->element[0]->str, r->element[0]->len) == 0 ? 1 : -1;
        else if (i == 3 && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_NIL)
            rc = 0;
        else if (i == 3)
            errstr_set(errstr, errlen, "taking %s: %s", key,
                       r->type == REDIS_REPLY_ERROR ? r->str : "transaction aborted");
        freeReplyObject(r);
    }
    if (rc < 0 && !errstr[0])
        errstr_set(errstr, errlen, "%s does not fit", key);
    return rc;
}

int session_save_pending(struct app *app, const char *request_id, const char *answer,
                         char *tag, char *errstr, size_t errlen)
{
    char key[KEY_MAX], err[256];
    tag[0] = '\0';
    errstr[0] = '\0';
    if (key_turn(key, sizeof key, request_id) < 0) {
        errstr_set(errstr, errlen, "request id too long");
        return -1;
    }
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        errstr_set(errstr, errlen, "%s", err);
        return -1;
    }
    struct buf v;
    buf_init(&v, 2 * SESSION_TEXT_MAX + 1024);
    int rc = take_pending(c, key, &v, errstr, errlen);
    app_redis_put(app, c);
    json_object *t = rc == 1 ? json_tokener_parse(buf_cstr(&v)) : NULL;
    buf_free(&v);
    if (rc <= 0)
        return rc;
    const char *session = json_get_str(t, "session", NULL);
    const char *question = json_get_str(t, "question", NULL);
    if (!session || !question || !chatreq_session_id_valid(session, strlen(session))) {
        errstr_set(errstr, errlen, "%s is not a pending turn", key);
        rc = -1;
    } else {
        log_tag(session, tag);
        rc = session_save(app, session, request_id, question, answer, errstr, errlen) < 0 ? -1
                                                                                       : 1;
    }
    json_object_put(t);
    return rc;
}

void session_delete(struct req *rq, const char *session_id)
{
    char key[KEY_MAX], err[256];
    redisContext *c = key_session(key, sizeof key, session_id) == 0
                          ? app_redis(rq->app, err, sizeof err)
                          : NULL;
    if (!c) {
        reply_error(rq, 503, "unavailable", "Redis is unreachable", NULL);
        return;
    }
    redisReply *r = redisCommand(c, "DEL %s", key);
    app_redis_put(rq->app, c);
    char tag[LOG_TAG_LEN + 1]; /* the id grants the conversation: logged as a tag */
    log_tag(session_id, tag);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        log_rid(LOG_WARN, rq->id, "DEL of session %s: %s", tag,
                r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        reply_error(rq, 503, "unavailable", "the session could not be deleted", NULL);
    } else {
        char body[160];
        int n = snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"deleted\":%s}\n",
                         session_id, r->integer > 0 ? "true" : "false");
        reply_json(rq, 200, NULL, body, (size_t)n);
        log_rid(LOG_INFO, rq->id, "session %s forgotten", tag);
    }
    if (r)
        freeReplyObject(r);
}

int session_questions(struct app *app, const char *session_id, struct buf *out, char *errstr,
                      size_t errlen)
{
    char key[KEY_MAX], err[256];
    if (key_session(key, sizeof key, session_id) < 0) {
        errstr_set(errstr, errlen, "session id too long");
        return -1;
    }
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        errstr_set(errstr, errlen, "%s", err);
        return -1;
    }
    redisReply *r = redisCommand(c, "LRANGE %s %d -1", key, -SESSION_PROMPT_TURNS);
    app_redis_put(app, c);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        errstr_set(errstr, errlen, "LRANGE %s: %s", key,
                   r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        if (r)
            freeReplyObject(r);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        json_object *t = e->type == REDIS_REPLY_STRING ? json_tokener_parse(e->str) : NULL;
        const char *q = t && json_object_is_type(t, json_type_object)
                            ? json_get_str(t, "question", NULL)
                            : NULL;
        if (q && *q) {
            for (; *q; q++) /* one question a line */
                buf_putc(out, *q == '\n' || *q == '\r' ? ' ' : *q);
            buf_putc(out, '\n');
            n++;
        }
        json_object_put(t);
    }
    freeReplyObject(r);
    return n;
}
