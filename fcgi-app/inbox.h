/* inbox: one stream's queue of pub/sub messages, filled by the dispatcher (dispatch.h).
 *
 * A capped byte queue of framed messages plus an eventfd the stream thread polls. When a
 * message would pass the cap the inbox is marked cut instead and the stream ends (the client
 * resumes from the transcript): a slow client costs its own stream, never the shared
 * connection. Each worker thread owns one inbox for its whole life and resets it between
 * requests. The registration fields belong to the dispatcher's map and its mutex. */
#ifndef NOVA_INBOX_H
#define NOVA_INBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define INBOX_CAP (256u * 1024u) /* bytes of messages a stream may fall behind by */
#define INBOX_MAX_CHANNELS 8

/* inbox_take flags */
#define INBOX_CUT 1u /* messages were dropped: the stream must end (until inbox_reset) */
#define INBOX_GAP 2u /* resubscribed after a reconnect: messages may be missing */

struct dsub;

/* Called instead of ringing the eventfd once the inbox is handed to a loop (inbox_hand_to),
 * by the dispatcher with the map's and the inbox's locks held: it must only post. */
typedef void inbox_notify_fn(void *arg);

struct inbox {
    int efd;                 /* eventfd: readable when something happened; -1 once handed */
    inbox_notify_fn *notify; /* set by inbox_hand_to (under mu) */
    void *notify_arg;
    pthread_mutex_t mu;
    struct buf q;            /* messages: 4-byte length (host order), then the bytes */
    unsigned flags;          /* INBOX_GAP (cleared by inbox_take), INBOX_CUT (sticky) */
    int unconfirmed;         /* registrations not yet acknowledged by Redis */
    int resyncing;           /* live registrations not yet acknowledged again after a
                                reconnect: until they all are, inbox_take hands nothing out
                                (a message of one channel must not overtake a missed one of
                                another), then it reports INBOX_GAP once */
    /* Owned by the dispatcher's map (under its mutex): */
    struct dsub *subs[INBOX_MAX_CHANNELS];
    size_t n_subs;
};

/* Returns 0, or -1 with errstr (eventfd). */
int inbox_init(struct inbox *in, char *errstr, size_t errlen);
void inbox_destroy(struct inbox *in);
/* Empties the queue and flags, drains the eventfd (between requests, after unsubscribe). */
void inbox_reset(struct inbox *in);
/* Heap-allocated inboxes (a request thread's, which an open stream takes with it to the
 * child's loop): NULL with errstr. */
struct inbox *inbox_new(char *errstr, size_t errlen);
void inbox_delete(struct inbox *in);
/* Hands the inbox to a loop: from now on a message (or a wake) calls notify(arg) instead of
 * ringing the eventfd, which is closed; notify is called at once when something is queued.
 * The registrations stay. */
void inbox_hand_to(struct inbox *in, inbox_notify_fn *notify, void *arg);
/* Makes the eventfd readable (a drain started, say). */
void inbox_wake(struct inbox *in);
/* Reads the eventfd (after poll said it is readable). */
void inbox_clear_wake(struct inbox *in);
/* The dispatcher's side: queues one message, or marks the inbox cut when it would pass
 * INBOX_CAP; wakes the stream either way. */
void inbox_put(struct inbox *in, const char *msg, size_t len);
/* Moves every queued message to the end of out (framed as in q) and returns the flags;
 * while resyncing, moves nothing and returns only INBOX_CUT if set. */
unsigned inbox_take(struct inbox *in, struct buf *out);
/* True once messages were dropped (without taking anything: a stream waiting for its client
 * leaves the queue alone). */
bool inbox_is_cut(struct inbox *in);
/* The message at *off of a taken buffer; advances *off. Returns 0, or -1 at the end. */
int inbox_next(const struct buf *b, size_t *off, const char **msg, size_t *len);

#endif
