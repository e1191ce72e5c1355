/* store: meta read-back, queue backlog, job queueing and canceling (see store.h). */
#include "store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "core/errstr.h"
#include "redis/append.h"
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
        /* lag is nil when Redis cannot tell: after a deleted entry (workers delete the
         * entries they finish) that lies after the last delivered one. Then the stream holds
         * only jobs not finished, and its length is the backlog. Before Redis 7.0 there is
         * no lag at all: pending only, so an unknown never refuses requests. */
        if (lag && lag->type == REDIS_REPLY_INTEGER)
            *depth = (pending && pending->type == REDIS_REPLY_INTEGER ? pending->integer : 0) +
                     lag->integer;
        else if (!lag)
            *depth = pending && pending->type == REDIS_REPLY_INTEGER ? pending->integer : 0;
    }
    return 0;
}

void store_depths_send(redisContext *c, const enum queue *queues, size_t n)
{
    char key[KEY_MAX];
    for (size_t q = 0; q < n; q++) {
        key_jobs(key, sizeof key, queues[q]);
        redisAppendCommand(c, "XLEN %s", key);
        redisAppendCommand(c, "XINFO GROUPS %s", key);
    }
    /* Written now, so Redis answers while the caller waits for something else; a failure
     * leaves c->err set, and store_depths_read reports it. */
    int done = 0;
    while (!done && redisBufferWrite(c, &done) == REDIS_OK)
        ;
}

int store_queue_depths(redisContext *c, const enum queue *queues, size_t n, long long *depths,
                       char *errstr, size_t errlen)
{
    store_depths_send(c, queues, n);
    return store_depths_read(c, queues, n, depths, errstr, errlen);
}

int store_depths_read(redisContext *c, const enum queue *queues, size_t n, long long *depths,
                      char *errstr, size_t errlen)
{
    char key[KEY_MAX];
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

/* When this child last stored its prompts (epoch ms, 0: never) and on which pub/sub
 * connection (dispatch_connections): a child's state, so a static of its one process. */
static atomic_llong prompts_stored_ms;
static atomic_ulong prompts_stored_conn;

bool store_prompts_due(unsigned long connections, long long now_ms)
{
    long long at = atomic_load(&prompts_stored_ms);
    return at == 0 || atomic_load(&prompts_stored_conn) != connections ||
           now_ms - at >= PROMPT_STORE_PERIOD_S * 1000LL || now_ms < at;
}

void store_prompts_stored(unsigned long connections, long long now_ms)
{
    atomic_store(&prompts_stored_conn, connections);
    atomic_store(&prompts_stored_ms, now_ms > 0 ? now_ms : 1);
}

/* The XADDs of jobs[0..n), appended to c's output. Returns 0, or -1 (errstr) with nothing
 * appended when a job does not serialise. */
static int append_xadds(redisContext *c, const struct job *jobs, size_t n, long long trim_to,
                        char *errstr, size_t errlen)
{
    char key[KEY_MAX], trim[24];
    snprintf(trim, sizeof trim, "%lld", trim_to);
    struct buf json[PLAN_MAX_JOBS];
    if (n > PLAN_MAX_JOBS) {
        errstr_set(errstr, errlen, "%zu jobs at once, at most %d", n, PLAN_MAX_JOBS);
        return -1;
    }
    /* Every job serialised before the first is appended: a job that does not must leave the
     * pipeline as it was. */
    int rc = 0;
    size_t made = 0;
    for (; made < n && rc == 0; made++) {
        buf_init(&json[made], JOB_MAX_BYTES * 2);
        if (job_to_json(&jobs[made], &json[made]) < 0 ||
            key_jobs(key, sizeof key, jobs[made].queue) < 0) {
            errstr_set(errstr, errlen, "job %s does not serialise", jobs[made].id);
            rc = -1;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        key_jobs(key, sizeof key, jobs[i].queue);
        const char *argv[] = {"XADD", key, "MAXLEN", "~", trim, "*", "job", json[i].data};
        size_t argvlen[] = {4, strlen(key), 6, 1, strlen(trim), 1, 3, json[i].len};
        redisAppendCommandArgv(c, 8, argv, argvlen);
    }
    for (size_t i = 0; i < made; i++)
        buf_free(&json[i]);
    return rc;
}

/* Reads the replies of n XADDs. Returns 0, 1 when one was refused (errstr), -1 when the
 * connection failed (errstr). */
static int read_xadds(redisContext *c, const struct job *jobs, size_t n, char *errstr,
                      size_t errlen)
{
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
            rc = 1;
        }
        freeReplyObject(r);
    }
    return rc;
}

int store_enqueue(redisContext *c, const struct job *jobs, size_t n, long long trim_to,
                  char *errstr, size_t errlen)
{
    for (size_t off = 0; off < n; off += PLAN_MAX_JOBS) {
        size_t k = n - off < PLAN_MAX_JOBS ? n - off : PLAN_MAX_JOBS;
        if (append_xadds(c, jobs + off, k, trim_to, errstr, errlen) < 0)
            return -1; /* nothing of this batch sent: the pipeline is still in step */
        if (read_xadds(c, jobs + off, k, errstr, errlen) != 0)
            return -1;
    }
    return 0;
}

enum store_start_result store_start(redisContext *c, const struct store_prompt *prompts,
                                    size_t n_prompts, bool *prompts_ok,
                                    struct store_turn *turn, const char *log_key,
                                    const char *channel, const char *meta, size_t meta_len,
                                    long ttl_ms, const struct job *jobs, size_t n_jobs,
                                    long long trim_to, char *meta_id, size_t idlen,
                                    char *errstr, size_t errlen)
{
    *prompts_ok = true;
    meta_id[0] = '\0';
    if (n_jobs > PLAN_MAX_JOBS) {
        errstr_set(errstr, errlen, "%zu jobs at once, at most %d", n_jobs, PLAN_MAX_JOBS);
        return STORE_JOBS_FAILED;
    }
    char key[KEY_MAX], ttl[24];
    snprintf(ttl, sizeof ttl, "%d", PROMPT_TTL_S);
    for (size_t i = 0; i < n_prompts; i++) {
        if (key_prompt(key, sizeof key, prompts[i].sha256) < 0)
            continue; /* cannot happen: a name is 64 characters */
        const char *argv[] = {"SET", key, prompts[i].text, "EX", ttl};
        size_t argvlen[] = {3, strlen(key), prompts[i].len, 2, strlen(ttl)};
        redisAppendCommandArgv(c, 5, argv, argvlen);
    }
    char px[24];
    if (turn) {
        snprintf(px, sizeof px, "%ld", turn->ttl_ms);
        const char *argv[] = {"SET", turn->key, turn->value, "PX", px};
        size_t argvlen[] = {3, strlen(turn->key), turn->len, 2, strlen(px)};
        redisAppendCommandArgv(c, 5, argv, argvlen);
        turn->stored = false;
    }
    struct event_append_args a;
    event_append_args_fill(&a, true, log_key, channel, "meta", meta, meta_len, ttl_ms);
    redisAppendCommandArgv(c, a.argc, a.argv, a.argvlen);
    /* A job that does not serialise is known before anything is written: meta then goes
     * alone (and is answered STORE_JOBS_FAILED), so the connection stays in step. */
    char jerr[256] = "";
    bool jobs_ok = append_xadds(c, jobs, n_jobs, trim_to, jerr, sizeof jerr) == 0;
    redisReply *r = NULL;
    for (size_t i = 0; i < n_prompts; i++) {
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "SET prompt: %s", c->errstr);
            return STORE_BROKEN;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            *prompts_ok = false;
            errstr_set(errstr, errlen, "SET nova:prompt:%s: %s", prompts[i].sha256, r->str);
        }
        freeReplyObject(r);
    }
    if (turn) {
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            errstr_set(errstr, errlen, "SET %s: %s", turn->key, c->errstr);
            return STORE_BROKEN;
        }
        turn->stored = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
    }
    if (redisGetReply(c, (void **)&r) != REDIS_OK) {
        errstr_set(errstr, errlen, "meta: %s", c->errstr);
        return STORE_BROKEN;
    }
    bool meta_ok = r->type == REDIS_REPLY_STRING && r->len > 0 && (size_t)r->len < idlen;
    if (meta_ok)
        memcpy(meta_id, r->str, (size_t)r->len + 1);
    else
        errstr_set(errstr, errlen, "meta: %s",
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    if (!jobs_ok) {
        if (meta_ok)
            errstr_set(errstr, errlen, "%s", jerr);
        return meta_ok ? STORE_JOBS_FAILED : STORE_META_FAILED;
    }
    char xerr[256];
    int xr = read_xadds(c, jobs, n_jobs, xerr, sizeof xerr);
    if (xr < 0) {
        errstr_set(errstr, errlen, "%s", xerr);
        return STORE_BROKEN;
    }
    if (!meta_ok)
        return STORE_META_FAILED;
    if (xr > 0) {
        errstr_set(errstr, errlen, "%s", xerr);
        return STORE_JOBS_FAILED;
    }
    return STORE_STARTED;
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
