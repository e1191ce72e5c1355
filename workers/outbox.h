/* outbox: the engine's Redis writes, queued in order and sent pipelined.
 *
 * During a poll turn the engine queues event appends (EVENT_APPEND_LUA through EVALSHA), XACKs
 * and a few plain commands (progress markers, dead letters); at the end of the turn
 * outbox_flush sends them all and then reads all the replies, so a busy worker pays one round
 * trip per turn, not one per delta. Order is kept, which is what makes a job's XACK follow its
 * last event, and a progress marker precede the delta it announces. While Redis is unreachable
 * the queue keeps growing up to max_bytes of data; past that ordinary writes are refused (the
 * caller gives the job up), and only "must" writes, small and one or two per job (its last
 * error, its markers), are still taken so every job can end with a word.
 *
 * A batch of more than one command goes as one MULTI/EXEC transaction, so Redis applies all of
 * it or none: when it refuses writes for now (OOM under noeviction, READONLY during a failover:
 * redis_reply_refused), a pipeline would still run the commands that are not refused — a job's
 * XACK after its refused last event, the job lost — and a transaction does not. A refused batch
 * stays queued, in order, to be sent again (the engine backs off and, past a bound, gives its
 * jobs up; their ends are queued behind it, and nothing is acknowledged before them).
 *
 * Delivery after a broken connection is at-least-once: commands whose replies were never read
 * may have run, and are sent again. The worker's event appends are sequenced (append.h), so
 * an event sent again is answered "already applied" and the page sees it once. */
#ifndef NOVA_OUTBOX_H
#define NOVA_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis/append.h"

#define OUTBOX_BATCH 1024 /* commands per pipelined round trip */

struct out_item;

struct outbox {
    struct out_item *head, *tail;
    size_t n;                 /* items queued */
    size_t bytes;             /* event data and command arguments queued */
    size_t max_bytes;
    unsigned long refused;    /* commands Redis answered with an error (logged, dropped) */
    unsigned long deferred;   /* flushes Redis refused for now (kept, sent again) */
    unsigned long resent;     /* appends sent again that Redis had already applied */
    /* Called from outbox_flush once Redis has answered a retiring (even with an error, or 0: the
     * entry was no longer pending to this worker): from then on the entry is no longer this
     * worker's to keep. NULL for none. */
    void (*on_ack)(void *arg, const char *entry_id);
    void *on_ack_arg;
};

void outbox_init(struct outbox *ob, size_t max_bytes);
/* Frees what is still queued (those writes are lost). */
void outbox_free(struct outbox *ob);

/* Queues one event, sequenced by seq (NULL: unsequenced). The strings are copied. Returns 0,
 * or -1 when the queue is full and must is false. */
int outbox_event(struct outbox *ob, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, const struct event_seq *seq,
                 bool must);
/* Queues any command (argv[i] is lens[i] bytes, copied). Returns 0, or -1 when the queue is
 * full and must is false. */
int outbox_command(struct outbox *ob, int argc, const char *const *argv, const size_t *lens,
                   bool must);
/* Queues the retiring of a stream entry: a command (redis/jobretire.h's script) that does its
 * XACK; on_ack fires with entry_id when it is answered. Always accepted: a finished job must be
 * recorded. */
void outbox_retire(struct outbox *ob, const char *entry_id, int argc, const char *const *argv,
                   const size_t *lens);

/* Sends everything queued, in order. Returns 0 when every command got its reply (the ones
 * Redis answered with an error of their own are logged, counted in refused and dropped);
 * OUTBOX_REFUSED with errstr (Redis's words) when Redis refused a batch for now: nothing of it
 * was applied, it and what follows stay queued, c is fine; or -1 with errstr when the
 * connection failed: what was not answered stays queued, and c must be dropped. */
#define OUTBOX_REFUSED (-2)
int outbox_flush(struct outbox *ob, redisContext *c, char *errstr, size_t errlen);

#endif
