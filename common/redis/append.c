/* append: one event appended to a transcript and published, in one step (see append.h). */
#include "redis/append.h"

#include <stdio.h>
#include <string.h>

#include "core/errstr.h"

const char EVENT_APPEND_LUA[] =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 't', ARGV[2], 'd', "
    "ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])\n"
    "return id\n";
const char EVENT_APPEND_SHA[41] = "35e482e16eb005367e63e03fec0879e4262258b9";

void event_append_args_fill(struct event_append_args *a, bool eval, const char *log_key,
                            const char *channel, const char *type, const char *data,
                            size_t data_len, long ttl_ms)
{
    snprintf(a->ttl, sizeof a->ttl, "%ld", ttl_ms);
    snprintf(a->maxlen, sizeof a->maxlen, "%d", EVENT_LOG_MAXLEN);
    const char *v[9] = {eval ? "EVAL" : "EVALSHA", eval ? EVENT_APPEND_LUA : EVENT_APPEND_SHA,
                        "1", log_key, channel, type, data, a->ttl, a->maxlen};
    a->argc = 9;
    for (int i = 0; i < 9; i++) {
        a->argv[i] = v[i];
        a->argvlen[i] = i == 6 ? data_len : strlen(v[i]);
    }
}

bool event_reply_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

int event_append(redisContext *c, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, char *id_out, size_t id_len,
                 char *errstr, size_t errlen)
{
    struct event_append_args a;
    redisReply *r = NULL;
    for (int eval = 0; eval < 2; eval++) {
        event_append_args_fill(&a, eval, log_key, channel, type, data, data_len, ttl_ms);
        r = redisCommandArgv(c, a.argc, a.argv, a.argvlen);
        if (!event_reply_noscript(r))
            break;
        freeReplyObject(r);
        r = NULL;
    }
    if (!r) {
        errstr_set(errstr, errlen, "event append: %s", c->err ? c->errstr : "no reply");
        return -1;
    }
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && (size_t)r->len < id_len) {
        memcpy(id_out, r->str, (size_t)r->len);
        id_out[r->len] = '\0';
        rc = 0;
    } else {
        errstr_set(errstr, errlen, "event append: %s",
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

