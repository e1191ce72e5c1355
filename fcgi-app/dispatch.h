/* dispatch: one child's Redis pub/sub connection, shared by all its stream threads.
 *
 * A dispatcher thread owns one non-blocking hiredis connection in subscribed mode and polls
 * its socket plus an eventfd through which stream threads ask for SUBSCRIBE/UNSUBSCRIBE. Each
 * published message goes to the inbox (inbox.h) of every stream registered for its channel (a
 * hash map channel → registrations). Inboxes are capped and never block the dispatcher, so a
 * slow client never makes Redis drop the shared connection for exceeding its pub/sub output
 * buffer limit.
 *
 * A registration is confirmed when Redis acknowledges a SUBSCRIBE sent after it: only then may
 * the stream queue its jobs (lossless). If the connection drops, the dispatcher reconnects
 * with capped backoff, subscribes every channel again and, once confirmed, marks the inboxes
 * that were live with a gap: those streams re-read the transcript for what they missed.
 *
 * Threading: dispatch_* and inbox_take/inbox_wake may be called from any thread; an inbox is
 * registered by at most one thread at a time (its owner). Lock order: map, then inbox. */
#ifndef NOVA_DISPATCH_H
#define NOVA_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "inbox.h"
#include "redis/rconn.h"

struct dispatch;

/* Starts the dispatcher thread; it connects in the background. NULL with errstr when the
 * thread or its eventfd cannot be made. */
struct dispatch *dispatch_start(const struct rconn_addr *a, char *errstr, size_t errlen);
/* Stops the thread and frees everything (no inbox may be registered any more). */
void dispatch_stop(struct dispatch *d);

/* Registers in for channels (n <= INBOX_MAX_CHANNELS in total) and waits up to timeout_ms
 * until Redis confirmed them all. Returns 0, or -1 with errstr (timeout); registrations made
 * stay until dispatch_unsubscribe either way. */
int dispatch_subscribe(struct dispatch *d, struct inbox *in, const char *const *channels,
                       size_t n, int timeout_ms, char *errstr, size_t errlen);
/* Drops every registration of in; no message reaches it afterwards. */
void dispatch_unsubscribe(struct dispatch *d, struct inbox *in);
/* True while the pub/sub connection is up (for /api/health). */
bool dispatch_connected(struct dispatch *d);
/* How many times the pub/sub connection was made (0 before the first): a change means Redis
 * was away, and may have come back without its data (chat.c stores its prompts again). */
unsigned long dispatch_connections(struct dispatch *d);

#endif
