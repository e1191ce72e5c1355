/* readers: the live readers of a request, nova:readers:<request> (see readers.h). */
#include "readers.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/log.h"

/* The entry scored with Redis's time in ms. */
static const char *const renew_lua =
    "local t = redis.call('TIME') "
    "return redis.call('ZADD', KEYS[1], t[1] .. string.format('%03d', math.floor(t[2] / 1000)), "
    "ARGV[1])";
/* Entries renewed within the last ARGV[1] whole seconds. */
static const char *const live_lua =
    "local t = redis.call('TIME') "
    "return redis.call('ZCOUNT', KEYS[1], (tonumber(t[1]) - tonumber(ARGV[1])) .. "
    "string.format('%03d', math.floor(t[2] / 1000)), '+inf')";

/* A resume's join: the entries no longer live go, and the entry is added unless ARGV[3] (> 0)
 * live resumes (tokens starting with 'r') are there already; then the expiry and "attach".
 * Returns 1 (joined) or 0 (refused). One step, so two children never both take the last
 * place. */
static const char *const join_lua =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2]))) "
    "local max = tonumber(ARGV[3]) "
    "if max > 0 then "
    "  local n = 0 "
    "  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "    if string.sub(m, 1, 1) == 'r' then n = n + 1 end "
    "  end "
    "  if n >= max then return 0 end "
    "end "
    "redis.call('ZADD', KEYS[1], now, ARGV[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[4]) "
    "redis.call('PUBLISH', ARGV[5], 'attach') "
    "return 1";

void readers_init(struct readers *rd, const char *request_id, bool resume)
{
    snprintf(rd->request_id, sizeof rd->request_id, "%s", request_id);
    /* The first letter tells a resume from the stream that queued the jobs (the cap counts
     * resumes only). */
    rd->token[0] = resume ? 'r' : 'o';
    app_random_hex(rd->token + 1, sizeof rd->token - 2);
    rd->joined = false;
    rd->beat_ms = 0;
}

/* One pipelined exchange: the join (renewal, expiry, attach), a renewal, or the leave. */
static void readers_send(struct readers *rd, struct app *app, const char *rid,
                         const char *channel, long ttl_s, bool leave)
{
    char key[KEY_MAX], err[256];
    bool join = channel != NULL;
    /* Due again in a beat whatever happens here: with Redis away the loop must not spin. */
    rd->beat_ms = clock_mono_ms() + READERS_BEAT_MS;
    rd->joined = !leave;
    if (key_readers(key, sizeof key, rd->request_id) < 0)
        return;
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        if (join || leave) /* a renewal that fails is tried again, without a line each time */
            log_rid(LOG_WARN, rid, "readers of %s: %s", rd->request_id, err);
        return;
    }
    int n = 1;
    if (leave) {
        redisAppendCommand(c, "ZREM %s %s", key, rd->token);
    } else {
        redisAppendCommand(c, "EVAL %s 1 %s %s", renew_lua, key, rd->token);
        if (join) {
            redisAppendCommand(c, "EXPIRE %s %ld", key, ttl_s);
            redisAppendCommand(c, "PUBLISH %s attach", channel);
            n = 3;
        }
    }
    for (int i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK)
            break;
        freeReplyObject(rep);
    }
    app_redis_put(app, c);
}

void readers_join(struct readers *rd, struct app *app, const char *rid, const char *channel,
                  long ttl_s)
{
    readers_send(rd, app, rid, channel, ttl_s, false);
}

int readers_join_resume(struct readers *rd, struct app *app, const char *rid,
                        const char *channel, long ttl_s, long max)
{
    char key[KEY_MAX], err[256], window[24], cap[24], ttl[24];
    rd->beat_ms = clock_mono_ms() + READERS_BEAT_MS;
    if (key_readers(key, sizeof key, rd->request_id) < 0)
        return -1;
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        log_rid(LOG_WARN, rid, "readers of %s: %s", rd->request_id, err);
        return -1;
    }
    snprintf(window, sizeof window, "%d", READERS_BEAT_MS + READERS_SLACK_MS);
    snprintf(cap, sizeof cap, "%ld", max);
    snprintf(ttl, sizeof ttl, "%ld", ttl_s);
    const char *argv[] = {"EVAL", join_lua, "1", key, rd->token, window, cap, ttl, channel};
    size_t argvlen[9];
    for (int i = 0; i < 9; i++)
        argvlen[i] = strlen(argv[i]);
    redisReply *rep = redisCommandArgv(c, 9, argv, argvlen);
    app_redis_put(app, c);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_INTEGER)
        rc = rep->integer == 1 ? 1 : 0;
    else
        log_rid(LOG_WARN, rid, "readers of %s: %s", rd->request_id,
                rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no reply");
    if (rep)
        freeReplyObject(rep);
    /* Joined, or not known (Redis failed: the resume goes on and is renewed like any). */
    rd->joined = rc != 0;
    return rc;
}

void readers_renew(struct readers *rd, struct app *app, const char *rid)
{
    readers_send(rd, app, rid, NULL, 0, false);
}

void readers_renew_many(struct app *app, const struct readers *rds, size_t n)
{
    char key[KEY_MAX], err[256];
    redisContext *c = n ? app_redis(app, err, sizeof err) : NULL;
    if (!c) {
        if (n)
            log_warn("renewing %zu readers: %s", n, err);
        return;
    }
    size_t sent = 0;
    for (size_t i = 0; i < n; i++)
        if (key_readers(key, sizeof key, rds[i].request_id) == 0) {
            redisAppendCommand(c, "EVAL %s 1 %s %s", renew_lua, key, rds[i].token);
            sent++;
        }
    for (size_t i = 0; i < sent; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
            log_warn("renewing %zu readers: %s", n, c->errstr);
            break;
        }
        freeReplyObject(rep);
    }
    app_redis_put(app, c);
}

void readers_leave(struct readers *rd, struct app *app, const char *rid)
{
    if (rd->joined)
        readers_send(rd, app, rid, NULL, 0, true);
}

long long readers_due(const struct readers *rd)
{
    return rd->joined ? rd->beat_ms : LLONG_MAX;
}

bool readers_live(struct app *app, const char *request_id)
{
    char key[KEY_MAX], err[256];
    redisContext *c = key_readers(key, sizeof key, request_id) == 0
                          ? app_redis(app, err, sizeof err)
                          : NULL;
    if (!c)
        return false;
    redisReply *rep = redisCommand(c, "EVAL %s 1 %s %d", live_lua, key,
                                   (READERS_BEAT_MS + READERS_SLACK_MS) / 1000);
    app_redis_put(app, c);
    bool live = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    if (rep)
        freeReplyObject(rep);
    return live;
}
