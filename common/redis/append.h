/* append: the atomic "append to the transcript and publish" step every event goes through.
 *
 * One Lua script XADDs the event to nova:log:<request>, renews the log's expiry and publishes
 * "<entry id> <type> <data>" on the channel, so publish order equals id order even when two
 * workers write to the same request at once: a reader that takes events above the last id it
 * saw never misses or repeats one.
 *
 * A worker's appends are sequenced: each event of one run of a job carries the next number of
 * that run (1, 2, 3...), and the script appends only when it is above the last one applied,
 * kept in a hash beside the transcript (nova:seq:<request>, field "<job>/<run>", the log's
 * TTL). A write sent again after its reply was lost (a command timeout, a broken connection:
 * the outbox is at-least-once) is answered "already applied" and appends nothing, so the page
 * never sees a delta twice. nova-fcgi's own appends (meta, its typed ends) are one-shot and go
 * without a number.
 *
 * A worker's appends are also fenced: each run carries a token, the job's delivery count when
 * the run took it (1 for a fresh read; a reclaim makes it higher), and whether the event ends
 * the job. The hash keeps, under the job's id, the token of the run that wrote last ("end" once
 * an end was written). A run cut off from Redis (a network partition, a paused process) whose
 * job another worker reclaimed may still deliver what it had queued when it comes back: those
 * writes carry a lower token, or come after the job's end, and are answered "superseded",
 * appending and publishing nothing, so nothing is answered twice. */
#ifndef NOVA_APPEND_H
#define NOVA_APPEND_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis/streamid.h"

/* The Lua script (and its SHA-1) that XADDs an event to the log, sets the log's expiry and
 * publishes it:
 *   EVALSHA sha 1 <log key> <channel> <type> <data> <ttl ms> <maxlen>
 * returns the entry id; sequenced:
 *   EVALSHA sha 2 <log key> <seq key> <channel> <type> <data> <ttl ms> <maxlen> <field> <seq>
 * returns the entry id, or the status EVENT_APPLIED when seq is not above the field's last;
 * fenced:
 *   ... <field> <seq> <token> <ends: 1|0>
 * also the status EVENT_SUPERSEDED (above). */
extern const char EVENT_APPEND_LUA[];
extern const char EVENT_APPEND_SHA[41]; /* hex SHA-1 of EVENT_APPEND_LUA (checked by test_jobs) */
#define EVENT_APPLIED "APPLIED"
#define EVENT_SUPERSEDED "SUPERSEDED"

/* A transcript keeps about this many events (XADD MAXLEN ~): four long streams of one request
 * fit, a runaway producer cannot grow it without bound. */
#define EVENT_LOG_MAXLEN 20000
#define EVENT_ID_MAX STREAM_ID_MAX

/* Where a sequenced append records itself: the hash key (nova:seq:<request>), the field of
 * the job's run ("<job>/<run>") and the event's number (1 for the first); token > 0 fences it
 * (the run's delivery count; ends: the event is the job's last). */
struct event_seq {
    const char *key;
    const char *field;
    unsigned long n;
    long token;
    bool ends;
};

/* The argument vector of one append, for callers that pipeline it (redisAppendCommandArgv):
 * EVALSHA, or EVAL with the script text when eval is true (after a NOSCRIPT reply). The
 * strings are borrowed, except the numbers, which live in a. */
struct event_append_args {
    int argc;
    const char *argv[14];
    size_t argvlen[14];
    char ttl[24], maxlen[24], seq[24], token[24];
};
void event_append_args_fill(struct event_append_args *a, bool eval, const char *log_key,
                            const char *channel, const char *type, const char *data,
                            size_t data_len, long ttl_ms);
/* The same, sequenced by seq (NULL: unsequenced, as event_append_args_fill). */
void event_append_args_fill_seq(struct event_append_args *a, bool eval, const char *log_key,
                                const char *channel, const char *type, const char *data,
                                size_t data_len, long ttl_ms, const struct event_seq *seq);
/* True for the NOSCRIPT error (the script cache was flushed: send it again with EVAL). */
bool event_reply_noscript(const redisReply *r);
/* True for the "already applied" answer of a sequenced append sent again, and for the
 * "superseded" one of a fenced append (another run owns the job, or it has ended): in both,
 * nothing was appended and nothing is to be sent again. */
bool event_reply_applied(const redisReply *r);
/* True for the "superseded" answer alone. */
bool event_reply_superseded(const redisReply *r);
/* Whether an event of this type is its job's last (anything but delta and notice). */
bool event_ends_job(const char *type);
/* True for an error by which Redis refuses writes for now, not for good: OOM (used memory
 * over maxmemory under noeviction), READONLY (a replica: a failover), MASTERDOWN, LOADING,
 * BUSY, NOREPLICAS, TRYAGAIN, CLUSTERDOWN, and EXECABORT (a transaction one of whose commands
 * was refused so). Such a write is kept and sent again; any other error is the command's own. */
bool redis_reply_refused(const redisReply *r);

/* Appends one event and publishes it, in one round trip (two after a NOSCRIPT). id_out gets
 * the entry id. Returns 0, or -1 with errstr; c->err != 0 afterwards means the connection is
 * broken (return it to its pool as such). */
int event_append(redisContext *c, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, char *id_out, size_t id_len,
                 char *errstr, size_t errlen);
/* The same, sequenced by seq (NULL: unsequenced). Returns 0 (appended, id_out set), 1 (already
 * applied, or superseded: nothing appended, id_out empty) or -1 with errstr. */
int event_append_seq(redisContext *c, const char *log_key, const char *channel,
                     const char *type, const char *data, size_t data_len, long ttl_ms,
                     const struct event_seq *seq, char *id_out, size_t id_len, char *errstr,
                     size_t errlen);

#endif
