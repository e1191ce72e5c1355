/* feedback: POST /api/chat/<request>/feedback (see feedback.h). */
#include "feedback.h"

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
#include "metrics.h"
#include "record.h"
#include "redis/contract.h"

/* An entry holds a whole record: up to RECORD_MAX_ANSWERS texts of RECORD_TEXT_MAX bytes. */
#define FEEDBACK_ENTRY_MAX (RECORD_MAX_ANSWERS * RECORD_TEXT_MAX * 2 + (256u * 1024u))

static const char *const rating_names[FEEDBACK_RATINGS] = {"up", "down"};
static const char *const reason_names[FEEDBACK_REASONS] = {"none",    "wrong",     "outdated",
                                                           "unclear", "offensive", "other"};

const char *feedback_rating_name(enum feedback_rating r)
{
    return (unsigned)r < FEEDBACK_RATINGS ? rating_names[r] : "?";
}

const char *feedback_reason_name(enum feedback_reason r)
{
    return (unsigned)r < FEEDBACK_REASONS ? reason_names[r] : "?";
}

/* One step, so the index and the stream never disagree and two children rating the same
 * request leave the later entry as its last: XADD, XDEL of the request's previous entry (a
 * rating again replaces it: one entry per request, so re-rating one request cannot push the
 * others out of the cap), point the index at the new one, then trim the stream to the cap
 * (ARGV[1]) and the index with it. A trim of a few entries reads them and drops the
 * index fields still naming them; a larger one (the cap was lowered) sweeps the index for ids
 * older than the oldest entry left. KEYS: nova:feedback, its index; ARGV: cap, request,
 * rating, data. Returns the new entry's id. */
static const char *const add_lua =
    "local prev = redis.call('HGET', KEYS[2], ARGV[2]) "
    "local id = redis.call('XADD', KEYS[1], '*', 'request', ARGV[2], 'rating', ARGV[3], "
    "'d', ARGV[4]) "
    "if prev then redis.call('XDEL', KEYS[1], prev) end "
    "redis.call('HSET', KEYS[2], ARGV[2], id) "
    "local cap = tonumber(ARGV[1]) "
    "local over = redis.call('XLEN', KEYS[1]) - cap "
    "if over <= 0 then return id end "
    "if over <= 64 then "
    "  for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)) do "
    "    local f = e[2] "
    "    for i = 1, #f, 2 do "
    "      if f[i] == 'request' then "
    "        if redis.call('HGET', KEYS[2], f[i + 1]) == e[1] then "
    "          redis.call('HDEL', KEYS[2], f[i + 1]) "
    "        end "
    "        break "
    "      end "
    "    end "
    "  end "
    "  redis.call('XTRIM', KEYS[1], 'MAXLEN', cap) "
    "  return id "
    "end "
    "redis.call('XTRIM', KEYS[1], 'MAXLEN', cap) "
    "local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1] "
    "local fms, fseq = string.match(first, '^(%d+)-(%d+)$') "
    "fms, fseq = tonumber(fms), tonumber(fseq) "
    "local all = redis.call('HGETALL', KEYS[2]) "
    "for i = 1, #all, 2 do "
    "  local ms, seq = string.match(all[i + 1], '^(%d+)-(%d+)$') "
    "  ms, seq = tonumber(ms), tonumber(seq) "
    "  if not ms or ms < fms or (ms == fms and seq < fseq) then "
    "    redis.call('HDEL', KEYS[2], all[i]) "
    "  end "
    "end "
    "return id";

/* The index of s among names[first..n), or -1. */
static int name_index(const char *const *names, int first, int n, const char *s)
{
    for (int i = first; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* "comment": a string of valid UTF-8 (json-c checked it), no NUL and no control character
 * but line breaks and tabs, at most FEEDBACK_COMMENT_MAX_CHARS characters. */
static int parse_comment(json_object *v, struct feedback_body *b, char *errstr, size_t errlen)
{
    if (json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string)) {
        errstr_set(errstr, errlen, "\"comment\" must be a string");
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (memchr(s, '\0', n) || !utf8_valid(s, n)) {
        errstr_set(errstr, errlen, "\"comment\" must be valid UTF-8 text");
        return -1;
    }
    size_t chars = utf8_count(s, n);
    if (chars > FEEDBACK_COMMENT_MAX_CHARS || n >= sizeof b->comment) {
        errstr_set(errstr, errlen, "\"comment\" has %zu characters; at most %d", chars,
                   FEEDBACK_COMMENT_MAX_CHARS);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t') || ch == 0x7f) {
            errstr_set(errstr, errlen, "\"comment\" holds a control character");
            return -1;
        }
    }
    memcpy(b->comment, s, n);
    b->comment[n] = '\0';
    return 0;
}

int feedback_body_parse(const char *p, size_t n, struct feedback_body *b, char *errstr,
                        size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (n == 0 || n > (1u << 20) || memchr(p, '\0', n)) {
        errstr_set(errstr, errlen, "the body must be a JSON object with \"rating\"");
        return -1;
    }
    json_object *root = json_parse_object_strict(p, n, 4);
    int rc = -1;
    bool rated = false;
    if (!root) {
        errstr_set(errstr, errlen, "the body must be one JSON object of valid UTF-8");
        goto out;
    }
    json_object_object_foreach(root, key, v)
    {
        if (strcmp(key, "rating") == 0) {
            int i = json_object_is_type(v, json_type_string)
                        ? name_index(rating_names, 0, FEEDBACK_RATINGS, json_object_get_string(v))
                        : -1;
            if (i < 0) {
                errstr_set(errstr, errlen, "\"rating\" must be \"up\" or \"down\"");
                goto out;
            }
            b->rating = (enum feedback_rating)i;
            rated = true;
        } else if (strcmp(key, "reason") == 0) {
            int i = json_object_is_type(v, json_type_null) ? FEEDBACK_NO_REASON
                    : json_object_is_type(v, json_type_string)
                        ? name_index(reason_names, 1, FEEDBACK_REASONS, json_object_get_string(v))
                        : -1;
            if (i < 0) {
                errstr_set(errstr, errlen, "\"reason\" must be one of wrong, outdated, unclear, "
                                           "offensive, other");
                goto out;
            }
            b->reason = (enum feedback_reason)i;
        } else if (strcmp(key, "comment") == 0) {
            if (parse_comment(v, b, errstr, errlen) < 0)
                goto out;
        } else {
            char shown[40];
            size_t k = utf8_prefix_chars(key, strlen(key), 24);
            snprintf(shown, sizeof shown, "%.*s", (int)k, key);
            for (char *c = shown; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
                    *c = '?';
            errstr_set(errstr, errlen, "unknown member \"%s\" (rating, reason, comment)", shown);
            goto out;
        }
    }
    if (!rated)
        errstr_set(errstr, errlen, "\"rating\" is missing (\"up\" or \"down\")");
    else
        rc = 0;
out:
    json_object_put(root);
    return rc;
}

/* The entry's data: the rating first, then the record's members. Releases rec. */
static int entry_json(const char *request_id, const struct feedback_body *b, json_object *rec,
                      long long now, struct buf *out)
{
    json_object *o = json_object_new_object();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    char when[48];
    gmtime_r(&secs, &tm);
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03dZ", (int)(now % 1000));
    json_object_object_add(o, "request_id", json_object_new_string(request_id));
    json_object_object_add(o, "time", json_object_new_string(when));
    json_object_object_add(o, "created_ms", json_object_new_int64(now));
    json_object_object_add(o, "rating", json_object_new_string(rating_names[b->rating]));
    json_object_object_add(o, "reason", b->reason == FEEDBACK_NO_REASON
                                            ? NULL
                                            : json_object_new_string(reason_names[b->reason]));
    json_object_object_add(o, "comment",
                           b->comment[0] ? json_object_new_string(b->comment) : NULL);
    json_object_object_foreach(rec, key, v)
    {
        if (strcmp(key, "request_id") != 0)
            json_object_object_add(o, key, json_object_get(v));
    }
    json_object_put(rec);
    return json_append_put(o, out);
}

void feedback_post(struct req *rq, const char *request_id)
{
    struct buf body;
    if (req_read_json_body(rq, &body) < 0)
        return;
    static _Thread_local struct feedback_body b;
    char err[512];
    int prc = feedback_body_parse(body.data ? body.data : "", body.len, &b, err, sizeof err);
    buf_free(&body);
    if (prc < 0) {
        reply_error(rq, 400, "bad_request", err, NULL);
        return;
    }
    redisContext *c = req_redis(rq);
    if (!c)
        return;
    struct record r;
    record_init(&r, request_id);
    int rc = record_read(c, request_id, &r, err, sizeof err);
    if (rc == 0) {
        app_redis_put(rq->app, c);
        record_free(&r);
        reply_error(rq, 404, "not_found",
                    "no such request (it never existed, or its transcript expired)", NULL);
        return;
    }
    struct buf entry;
    buf_init(&entry, FEEDBACK_ENTRY_MAX);
    long long now = clock_epoch_ms();
    if (rc > 0 && entry_json(request_id, &b, record_object(&r), now, &entry) < 0) {
        errstr_set(err, sizeof err, "the record is larger than %u bytes", FEEDBACK_ENTRY_MAX);
        rc = -1;
    }
    bool added = false;
    if (rc > 0) {
        char cap[24];
        snprintf(cap, sizeof cap, "%ld", rq->app->cfg->feedback_max);
        const char *argv[] = {"EVAL", add_lua, "2", KEY_FEEDBACK, KEY_FEEDBACK_LAST, cap,
                              request_id, rating_names[b.rating], entry.data};
        size_t lens[] = {4, strlen(add_lua), 1, strlen(KEY_FEEDBACK), strlen(KEY_FEEDBACK_LAST),
                         strlen(cap), strlen(request_id), strlen(rating_names[b.rating]),
                         entry.len};
        redisReply *x = redisCommandArgv(c, 9, argv, lens);
        added = x && x->type == REDIS_REPLY_STRING;
        if (!added)
            errstr_set(err, sizeof err, "adding to %s: %s", KEY_FEEDBACK,
                       !x ? c->errstr : x->type == REDIS_REPLY_ERROR ? x->str : "unexpected reply");
        if (x)
            freeReplyObject(x);
    }
    app_redis_put(rq->app, c);
    size_t answers = r.n_answers, bytes = entry.len;
    record_free(&r);
    buf_free(&entry);
    if (!added) {
        log_rid(LOG_WARN, rq->id, "feedback on %s: %s", request_id, err);
        reply_error(rq, 503, "unavailable", "Redis did not take the feedback", NULL);
        return;
    }
    metrics_feedback(rating_names[b.rating], reason_names[b.reason]);
    /* Sizes and the choice, never the comment (a player's words). */
    log_event(LOG_INFO, rq->id, "feedback", "request=%s rating=%s reason=%s comment_chars=%zu "
              "answers=%zu bytes=%zu", request_id, rating_names[b.rating],
              reason_names[b.reason], utf8_count(b.comment, strlen(b.comment)), answers, bytes);
    char reply[192];
    int len = snprintf(reply, sizeof reply,
                       "{\"request_id\":\"%s\",\"rating\":\"%s\",\"status\":\"recorded\"}\n",
                       request_id, rating_names[b.rating]);
    reply_json(rq, 202, NULL, reply, (size_t)len);
}

int feedback_latest(redisContext *c, const char *request_id, struct buf *json_out, char *errstr,
                    size_t errlen)
{
    redisReply *id = redisCommand(c, "HGET %s %s", KEY_FEEDBACK_LAST, request_id);
    if (!id || (id->type != REDIS_REPLY_STRING && id->type != REDIS_REPLY_NIL)) {
        errstr_set(errstr, errlen, "HGET %s: %s", KEY_FEEDBACK_LAST,
                   !id ? c->errstr : id->type == REDIS_REPLY_ERROR ? id->str : "unexpected reply");
        if (id)
            freeReplyObject(id);
        return -1;
    }
    if (id->type == REDIS_REPLY_NIL) {
        freeReplyObject(id);
        return 0;
    }
    redisReply *x = redisCommand(c, "XRANGE %s %s %s", KEY_FEEDBACK, id->str, id->str);
    freeReplyObject(id);
    if (!x || x->type != REDIS_REPLY_ARRAY) {
        errstr_set(errstr, errlen, "XRANGE %s: %s", KEY_FEEDBACK,
                   !x ? c->errstr : x->type == REDIS_REPLY_ERROR ? x->str : "unexpected reply");
        if (x)
            freeReplyObject(x);
        return -1;
    }
    int rc = 0;
    const redisReply *f = x->elements == 1 && x->element[0]->type == REDIS_REPLY_ARRAY &&
                                  x->element[0]->elements == 2
                              ? x->element[0]->element[1]
                              : NULL;
    for (size_t i = 0; f && f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, "d") == 0) {
            if (buf_append(json_out, v->str, v->len) < 0) {
                errstr_set(errstr, errlen, "the feedback of %s is larger than the buffer",
                           request_id);
                rc = -1;
            } else {
                rc = 1;
            }
            break;
        }
    }
    freeReplyObject(x);
    return rc;
}
