/* store: meta read-back, queue backlog, job queueing and canceling (see store.h). */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "core/errstr.h"
#include "redis/contract.h"
#include "redis/events.h"

/* The translation job meta announces, by the language it translates into. */
static const char *meta_translation(json_object *o)
{
    json_object *v;
    if (!json_object_object_get_ex(o, "translating", &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    const char *code = json_object_get_string(v);
    return strcmp(code, "ko") == 0 ? PHASE_TRANSLATE_KO
           : strcmp(code, "en") == 0 ? PHASE_TRANSLATE_EN
                                     : NULL;
}

/* Fills m from a meta event's data: its phases, each a known name, and its translation job. */
static int meta_phases(const char *data, size_t len, struct store_meta *m)
{
    json_tokener *tok = json_tokener_new_ex(8);
    json_object *o = json_tokener_parse_ex(tok, data, (int)len), *ph;
    json_tokener_free(tok);
    int rc = -1;
    if (o && json_object_object_get_ex(o, "phases", &ph) &&
        json_object_is_type(ph, json_type_array)) {
        size_t n = json_object_array_length(ph);
        rc = n >= 1 && n <= PLAN_MAX_PHASES ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            json_object *v = json_object_array_get_idx(ph, i);
            const char *name = json_object_is_type(v, json_type_string)
                                   ? plan_phase_name(json_object_get_string(v),
                                                     (size_t)json_object_get_string_len(v))
                                   : NULL;
            if (!name)
                rc = -1;
            else
                m->phases[m->n_phases++] = name;
        }
    }
    if (rc == 0)
        m->translate_phase = meta_translation(o);
    json_object_put(o);
    return rc;
}

int store_read_meta(redisContext *c, const char *request_id, struct store_meta *m,
                    char *errstr, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char key[KEY_MAX];
    if (key_log(key, sizeof key, request_id) < 0) {
        errstr_set(errstr, errlen, "request id too long");
        return -1;
    }
    redisReply *r = redisCommand(c, "XRANGE %s - + COUNT 1", key);
    if (!r) {
        errstr_set(errstr, errlen, "XRANGE %s: %s", key, c->errstr);
        return -1;
    }
    int rc = -1;
    if (r->type == REDIS_REPLY_ERROR) {
        errstr_set(errstr, errlen, "XRANGE %s: %s", key, r->str);
    } else if (r->type != REDIS_REPLY_ARRAY) {
        errstr_set(errstr, errlen, "XRANGE %s: unexpected reply", key);
    } else if (r->elements == 0) {
        rc = 0;
    } else {
        const redisReply *id = NULL, *t = NULL, *d = NULL;
        event_entry_parse(r->element[0], &id, &t, &d);
        if (!t || !d || strcmp(t->str, "meta") != 0 || (size_t)id->len >= sizeof m->id ||
            stream_id_parse(id->str, id->len, &m->sid) < 0 ||
            d->len > (1 << 20) || meta_phases(d->str, d->len, m) < 0) {
            errstr_set(errstr, errlen, "%s does not start with a meta event", key);
        } else {
            memcpy(m->id, id->str, id->len + 1);
            rc = 1;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* The value after name in a flat field/value reply array, or NULL. */
static const redisReply *field(const redisReply *a, const char *name)
{
    for (size_t i = 0; a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2)
        if (a->element[i]->type == REDIS_REPLY_STRING && strcmp(a->element[i]->str, name) == 0)
            return a->element[i + 1];
    return NULL;
}

/* The backlog from one queue's XLEN and XINFO GROUPS replies. */
static int queue_depth(const char *key, const redisReply *len, const redisReply *groups,
                       long long *depth, char *errstr, size_t errlen)
{
    if (len->type != REDIS_REPLY_INTEGER) {
        errstr_set(errstr, errlen, "XLEN %s: %s", key,
                   len->type == REDIS_REPLY_ERROR ? len->str : "unexpected reply");
        return -1;
    }
    /* No group yet (no worker ever read it, or no stream): every entry waits. */
    *depth = len->integer;
    for (size_t i = 0; groups->type == REDIS_REPLY_ARRAY && i < groups->elements; i++) {
        const redisReply *g = groups->element[i], *name = field(g, "name");
        if (!name || name->type != REDIS_REPLY_STRING || strcmp(name->str, KEYS_GROUP) != 0)
            continue;
        const redisReply *pending = field(g, "pending"), *lag = field(g, "lag");
        /* lag is nil when Redis cannot tell (or absent before 7.0): count pending only,
         * so an unknown never refuses requests. */
        *depth = (pending && pending->type == REDIS_REPLY_INTEGER ? pending->integer : 0) +
                 (lag && lag->type == REDIS_REPLY_INTEGER ? lag->integer : 0);
    }
    return 0;
}

int store_queue_depths(redisContext *c, const enum queue *queues, size_t n, long long *depths,
                       char *errstr, size_t errlen)
{
    char key[KEY_MAX];
    for (size_t q = 0; q < n; q++) {
        key_jobs(key, sizeof key, queues[q]);
        redisAppendCommand(c, "XLEN %s", key);
        redisAppendCommand(c, "XINFO GROUPS %s", key);
    }
    int rc = 0;
    for (size_t q = 0; q < n; q++) { /* every reply is read, so the connection stays in step */
        redisReply *len = NULL, *groups = NULL;
        key_jobs(key, sizeof key, queues[q]);
        if (redisGetReply(c, (void **)&len) != REDIS_OK ||
            redisGetReply(c, (void **)&groups) != REDIS_OK) {
            errstr_set(errstr, errlen, "XLEN/XINFO %s: %s", key, c->errstr);
            if (len)
                freeReplyObject(len);
            return -1; /* the context is broken: its caller drops it */
        }
        if (rc == 0 && queue_depth(key, len, groups, &depths[q], errstr, errlen) < 0)
            rc = -1;
        freeReplyObject(len);
        freeReplyObject(groups);
    }
    return rc;
}

int store_enqueue(redisContext *c, const struct job *jobs, size_t n, long long trim_to,
                  char *errstr, size_t errlen)
{
    char key[KEY_MAX], trim[24];
    snprintf(trim, sizeof trim, "%lld", trim_to);
    for (size_t i = 0; i < n; i++) {
        struct buf json;
        buf_init(&json, JOB_MAX_BYTES * 2);
        if (job_to_json(&jobs[i], &json) < 0 || key_jobs(key, sizeof key, jobs[i].queue) < 0) {
            buf_free(&json);
            errstr_set(errstr, errlen, "job %s does not serialise", jobs[i].id);
            return -1; /* nothing sent yet: the pipeline is still empty */
        }
        const char *argv[] = {"XADD", key, "MAXLEN", "~", trim, "*", "job", json.data};
        size_t argvlen[] = {4, strlen(key), 6, 1, strlen(trim), 1, 3, json.len};
        redisAppendCommandArgv(c, 8, argv, argvlen);
        buf_free(&json);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "XADD: %s", c->errstr);
            return -1;
        }
        if (r->type != REDIS_REPLY_STRING && rc == 0) {
            errstr_set(errstr, errlen, "XADD %s: %s", queue_name(jobs[i].queue),
                       r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

int store_cancel_jobs(redisContext *c, const char *const *ids, const enum queue *queues,
                      size_t n, char *errstr, size_t errlen)
{
    char key[KEY_MAX], chan[KEY_MAX];
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (key_canceled(key, sizeof key, ids[i]) < 0 ||
            key_cancel(chan, sizeof chan, queues[i]) < 0)
            continue;
        redisAppendCommand(c, "SET %s 1 EX %d", key, STORE_CANCEL_TTL_S);
        redisAppendCommand(c, "PUBLISH %s %s", chan, ids[i]);
        sent += 2;
    }
    int rc = 0;
    for (size_t i = 0; i < sent; i++) { /* every reply is read, so the connection stays in step */
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "%s", c->errstr);
            return -1; /* the context is broken: its caller drops it */
        }
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            errstr_set(errstr, errlen, "%s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}
