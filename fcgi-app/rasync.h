/* rasync: one Redis connection driven by the child's event loop (loop.h), through hiredis
 * 0.14's async API — our adapter fills redisAsyncContext's ev hooks (addRead, delRead,
 * addWrite, delWrite, cleanup) with loop registrations, as hiredis's adapters/ae.h does for
 * redis's own loop; hiredis never owns the loop and nothing here blocks.
 *
 * A connection is of one kind for its life: RASYNC_COMMANDS (pipelined commands, each with a
 * reply callback: reader renewals, transcript XRANGE, appending `done`, cancels) or
 * RASYNC_PUBSUB (SUBSCRIBE/UNSUBSCRIBE, every push — message, subscribe and unsubscribe
 * acknowledgements — to one handler; the owner routes by channel).
 *
 * What hiredis 0.14 lacks is added here: a connect timeout, a reply timeout (replies are due
 * and no byte came for reply_timeout_ms: the connection is dropped), a keep-alive on a silent
 * connection (PING, or on a subscribed one an UNSUBSCRIBE of the empty channel name, which
 * Redis answers in any mode and which neither leaves a callback queued in hiredis nor changes
 * a subscription), and reconnecting with capped backoff. Its lifecycle is one state changed
 * in one function; the owner hears of READY and of IDLE (with why: a failed try, a lost
 * connection) through on_state, never from inside hiredis, so it may issue commands or free
 * the connection there.
 *
 * When a connection is lost every pending reply callback runs with NULL (then on_state
 * IDLE); a pub/sub owner subscribes its channels again on READY. No callback is called from
 * inside rasync_new, rasync_command, rasync_forget or rasync_(un)subscribe; rasync_free runs
 * the pending reply callbacks (with NULL) and nothing else. */
#ifndef NOVA_RASYNC_H
#define NOVA_RASYNC_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "loop.h"
#include "redis/rconn.h"

enum rasync_kind {
    RASYNC_COMMANDS,
    RASYNC_PUBSUB,
};

enum rasync_state {
    RASYNC_IDLE,       /* not connected; the next try is due after the backoff */
    RASYNC_CONNECTING, /* connect(2) under way; commands are already accepted (queued) */
    RASYNC_READY,      /* connected */
    RASYNC_CLOSED,     /* rasync_free began */
};

struct rasync_opts {
    enum rasync_kind kind;
    int connect_timeout_ms;
    int reply_timeout_ms; /* replies due (or a keep-alive asked) and no byte for this long */
    int idle_ping_ms;     /* a keep-alive after this much silence; 0: never */
    int backoff_min_ms, backoff_max_ms;
};

struct rasync;

/* reply: NULL when the connection was lost (or rasync_free ran) before it came. Valid only
 * during the call (hiredis frees it afterwards). */
typedef void rasync_reply_fn(struct rasync *ra, const redisReply *reply, void *arg);
/* why: "" on READY, else what happened (for the owner's log line). */
typedef void rasync_state_fn(struct rasync *ra, enum rasync_state st, const char *why,
                             void *arg);
/* A pub/sub push: an array ["message", channel, payload], ["subscribe", channel, count] or
 * ["unsubscribe", channel, count]. */
typedef void rasync_push_fn(struct rasync *ra, const redisReply *push, void *arg);

/* The first try is due at once: it runs on the loop's next pass (state IDLE until then).
 * on_state and push may be NULL. The loop must outlive the connection. */
struct rasync *rasync_new(struct loop *l, const struct rconn_addr *a,
                          const struct rasync_opts *o, rasync_state_fn *on_state,
                          rasync_push_fn *push, void *arg);
/* Drops the connection: pending reply callbacks run with NULL (a command issued there fails),
 * on_state is not called. Safe inside any rasync callback (the memory goes when hiredis is
 * done with it). */
void rasync_free(struct rasync *ra);

/* A command of argc arguments (copied). Returns 0 (fn runs later, exactly once), or -1 with
 * errstr: not connected, a pub/sub connection, or hiredis refused it. */
int rasync_command(struct rasync *ra, rasync_reply_fn *fn, void *arg, int argc,
                   const char **argv, const size_t *argvlen, char *errstr, size_t errlen);
/* The pending callbacks whose arg is arg run no more (an owner going away before its
 * replies). */
void rasync_forget(struct rasync *ra, void *arg);

/* SUBSCRIBE / UNSUBSCRIBE n channels in one command on a pub/sub connection. Returns 0, or
 * -1 with errstr. The acknowledgements come to push. */
int rasync_subscribe(struct rasync *ra, const char *const *channels, const size_t *lens,
                     size_t n, char *errstr, size_t errlen);
int rasync_unsubscribe(struct rasync *ra, const char *const *channels, const size_t *lens,
                       size_t n, char *errstr, size_t errlen);

enum rasync_state rasync_state(const struct rasync *ra);
const char *rasync_state_name(enum rasync_state st);
/* Reply callbacks not yet run. */
size_t rasync_pending(const struct rasync *ra);
/* Connections made so far (the first one included). */
unsigned long rasync_connects(const struct rasync *ra);

#endif
