/* readers: the live readers of a request, nova:readers:<request> (see readers.h). */
#include "readers.h"

#include <limits.h>
#include <stdio.h>

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

void readers_init(struct readers *rd, const char *request_id)
{
    snprintf(rd->request_id, sizeof rd->request_id, "%s", request_id);
    app_random_hex(rd->token, sizeof rd->token - 1);
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

void readers_renew(struct readers *rd, struct app *app, const char *rid)
{
    readers_send(rd, app, rid, NULL, 0, false);
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
