/* append: one event appended to a transcript and published, in one step (see append.h). */
#include "redis/append.h"

#include <stdio.h>
#include <string.h>

#include "core/errstr.h"

/* The checks come first and read only: refused (OOM, READONLY) at the XADD, the script has
 * changed nothing. The hash is written only with the entry, so "applied" means "in the
 * transcript". The fence (ARGV[8], ARGV[9]): the job's own field (the run's field up to its
 * '/') holds the token of the run that wrote last, or "end" once an event ended the job; a
 * run with a lower token, or any run after the end, is answered "superseded". */
const char EVENT_APPEND_LUA[] =
    "local job\n"
    "if KEYS[2] then\n"
    "  local last = tonumber(redis.call('HGET', KEYS[2], ARGV[6]) or '0')\n"
    "  if tonumber(ARGV[7]) <= last then return {ok='" EVENT_APPLIED "'} end\n"
    "  if ARGV[8] then\n"
    "    job = string.match(ARGV[6], '^(.-)/') or ARGV[6]\n"
    "    local cur = redis.call('HGET', KEYS[2], job)\n"
    "    if cur == 'end' or (cur and tonumber(cur) > tonumber(ARGV[8])) then\n"
    "      return {ok='" EVENT_SUPERSEDED "'}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 't', ARGV[2], 'd', "
    "ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "if KEYS[2] then\n"
    "  redis.call('HSET', KEYS[2], ARGV[6], ARGV[7])\n"
    "  if job then redis.call('HSET', KEYS[2], job, ARGV[9] == '1' and 'end' or ARGV[8]) end\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])\n"
    "return id\n";
const char EVENT_APPEND_SHA[41] = "fb36ef624a29d88a60a07e0e21c4ce39ec9f2e33";

void event_append_args_fill_seq(struct event_append_args *a, bool eval, const char *log_key,
                                const char *channel, const char *type, const char *data,
                                size_t data_len, long ttl_ms, const struct event_seq *seq)
{
    snprintf(a->ttl, sizeof a->ttl, "%ld", ttl_ms);
    snprintf(a->maxlen, sizeof a->maxlen, "%d", EVENT_LOG_MAXLEN);
    int k = 0, data_at;
    a->argv[k++] = eval ? "EVAL" : "EVALSHA";
    a->argv[k++] = eval ? EVENT_APPEND_LUA : EVENT_APPEND_SHA;
    a->argv[k++] = seq ? "2" : "1";
    a->argv[k++] = log_key;
    if (seq)
        a->argv[k++] = seq->key;
    a->argv[k++] = channel;
    a->argv[k++] = type;
    data_at = k;
    a->argv[k++] = data;
    a->argv[k++] = a->ttl;
    a->argv[k++] = a->maxlen;
    if (seq) {
        snprintf(a->seq, sizeof a->seq, "%lu", seq->n);
        a->argv[k++] = seq->field;
        a->argv[k++] = a->seq;
        if (seq->token > 0) {
            snprintf(a->token, sizeof a->token, "%ld", seq->token);
            a->argv[k++] = a->token;
            a->argv[k++] = seq->ends ? "1" : "0";
        }
    }
    a->argc = k;
    for (int i = 0; i < k; i++)
        a->argvlen[i] = i == data_at ? data_len : strlen(a->argv[i]);
}

void event_append_args_fill(struct event_append_args *a, bool eval, const char *log_key,
                            const char *channel, const char *type, const char *data,
                            size_t data_len, long ttl_ms)
{
    event_append_args_fill_seq(a, eval, log_key, channel, type, data, data_len, ttl_ms, NULL);
}

bool event_reply_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

bool event_reply_applied(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STATUS && r->str &&
           (strcmp(r->str, EVENT_APPLIED) == 0 || strcmp(r->str, EVENT_SUPERSEDED) == 0);
}

bool event_ends_job(const char *type)
{
    return strcmp(type, "delta") != 0 && strcmp(type, "notice") != 0;
}

bool event_reply_superseded(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STATUS && r->str && strcmp(r->str, EVENT_SUPERSEDED) == 0;
}

bool redis_reply_refused(const redisReply *r)
{
    static const char *const codes[] = {"OOM",     "READONLY", "MASTERDOWN", "LOADING",
                                        "BUSY",    "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN",
                                        "EXECABORT"};
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str)
        return false;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(r->str, codes[i], n) == 0 && (r->str[n] == ' ' || r->str[n] == '\0'))
            return true;
    }
    return false;
}

int event_append_seq(redisContext *c, const char *log_key, const char *channel,
                     const char *type, const char *data, size_t data_len, long ttl_ms,
                     const struct event_seq *seq, char *id_out, size_t id_len, char *errstr,
                     size_t errlen)
{
    struct event_append_args a;
    redisReply *r = NULL;
    for (int eval = 0; eval < 2; eval++) {
        event_append_args_fill_seq(&a, eval, log_key, channel, type, data, data_len, ttl_ms,
                                   seq);
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
    if (event_reply_applied(r)) {
        if (id_len)
            id_out[0] = '\0';
        rc = 1;
    } else if (r->type == REDIS_REPLY_STRING && r->len > 0 && (size_t)r->len < id_len) {
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

int event_append(redisContext *c, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, char *id_out, size_t id_len,
                 char *errstr, size_t errlen)
{
    return event_append_seq(c, log_key, channel, type, data, data_len, ttl_ms, NULL, id_out,
                            id_len, errstr, errlen);
}
