/* append: the atomic "append to the transcript and publish" step every event goes through.
 *
 * One Lua script XADDs the event to nova:log:<request>, renews the log's expiry and publishes
 * "<entry id> <type> <data>" on the channel, so publish order equals id order even when two
 * workers write to the same request at once: a reader that takes events above the last id it
 * saw never misses or repeats one. */
#ifndef NOVA_APPEND_H
#define NOVA_APPEND_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis/streamid.h"

/* The Lua script (and its SHA-1) that XADDs an event to the log, sets the log's expiry and
 * publishes it: EVALSHA sha 1 <log key> <channel> <type> <data> <ttl ms> <maxlen>. Returns the
 * entry id. */
extern const char EVENT_APPEND_LUA[];
extern const char EVENT_APPEND_SHA[41]; /* hex SHA-1 of EVENT_APPEND_LUA (checked by test_jobs) */

/* A transcript keeps about this many events (XADD MAXLEN ~): four long streams of one request
 * fit, a runaway producer cannot grow it without bound. */
#define EVENT_LOG_MAXLEN 20000
#define EVENT_ID_MAX STREAM_ID_MAX

/* The argument vector of one append, for callers that pipeline it (redisAppendCommandArgv):
 * EVALSHA, or EVAL with the script text when eval is true (after a NOSCRIPT reply). The
 * strings are borrowed, except the numbers, which live in a. */
struct event_append_args {
    int argc;
    const char *argv[9];
    size_t argvlen[9];
    char ttl[24], maxlen[24];
};
void event_append_args_fill(struct event_append_args *a, bool eval, const char *log_key,
                            const char *channel, const char *type, const char *data,
                            size_t data_len, long ttl_ms);
/* True for the NOSCRIPT error (the script cache was flushed: send it again with EVAL). */
bool event_reply_noscript(const redisReply *r);

/* Appends one event and publishes it, in one round trip (two after a NOSCRIPT). id_out gets
 * the entry id. Returns 0, or -1 with errstr; c->err != 0 afterwards means the connection is
 * broken (return it to its pool as such). */
int event_append(redisContext *c, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, char *id_out, size_t id_len,
                 char *errstr, size_t errlen);

#endif
