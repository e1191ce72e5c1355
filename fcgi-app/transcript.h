/* transcript: one reader of a transcript (nova:log:<request>), fed from the two sides a
 * stream learns its events from — the pub/sub messages the dispatcher put in its inbox, and
 * pages of XRANGE that catch up on what it has not seen (a resume's replay, a gap after a
 * Redis reconnect, the events still in flight when `done` is appended).
 *
 * Subscribe first: the caller subscribes to the event channels, and Redis confirms it, before
 * the first page is read (and before anything that publishes is queued), so an event is
 * either in the transcript when the page is read or arrives in the inbox after that.
 * De-duplicated by stream id: every event is a transcript entry whose id is its SSE id, and
 * publish order is id order, so an entry is handed on only when its id is above the last one
 * handed on; the two sides may then overlap freely. Entries that are not events (a bad id, an
 * empty or multi-line type) are skipped and do not move the position.
 *
 * The reader decides, the I/O is apart: transcript_start says where the next page starts,
 * transcript_feed_reply and transcript_feed_taken hand on the new entries of a page and of
 * the inbox, and transcript_page (one page) and transcript_catch_up (page after page) are the
 * blocking calls, over a pooled connection. The taken messages and the position belong to
 * the reader's owner, one thread. */
#ifndef NOVA_TRANSCRIPT_H
#define NOVA_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "core/buf.h"
#include "inbox.h"
#include "redis/contract.h"
#include "redis/streamid.h"

#define TRANSCRIPT_PAGE 256    /* entries per XRANGE */
#define TRANSCRIPT_TYPE_MAX 40 /* an event type is shorter than this */

/* One new entry; pointers into the page or message it came from, valid during the call. */
struct transcript_entry {
    struct stream_id id;
    const char *type;
    size_t type_len;
    const char *data;
    size_t data_len;
};

/* Takes one entry: 0 goes on, > 0 stops (the consumer has what it waited for), < 0 stops (it
 * failed, the client left: the consumer knows why). */
typedef int (*transcript_fn)(void *ctx, const struct transcript_entry *e);

struct transcript {
    char key[KEY_MAX];      /* nova:log:<request> */
    struct stream_id last;  /* the last entry handed on */
    bool have_last;
    struct buf taken;       /* messages taken from the inbox, not yet fed (INBOX_CAP) */
};

/* For the transcript of request_id (a chat's id or a job's request). Returns 0, or -1 when
 * the id makes no key (the reader is still set up: free it either way). */
int transcript_init(struct transcript *t, const char *request_id);
void transcript_free(struct transcript *t);

/* Whether the entry id, type is a new event; if so it becomes the last one handed on and *e
 * describes it. */
bool transcript_take(struct transcript *t, const char *id, size_t id_len, const char *type,
                     size_t type_len, const char *data, size_t data_len,
                     struct transcript_entry *e);
/* Where the next page starts: the id right after the last one handed on, or "-". */
void transcript_start(const struct transcript *t, char *out, size_t n);
/* Hands the new entries of one XRANGE reply to fn. Returns fn's first non-zero answer, or 0. */
int transcript_feed_reply(struct transcript *t, const redisReply *page, transcript_fn fn,
                          void *ctx);

/* Moves the inbox's messages into the reader and returns inbox_take's flags: feed them with
 * transcript_feed_taken after the catch-up a gap calls for, or drop them. */
unsigned transcript_take_inbox(struct transcript *t, struct inbox *in);
/* Hands the new events among the taken messages to fn, then drops them all. Returns fn's first
 * non-zero answer, or 0. */
int transcript_feed_taken(struct transcript *t, transcript_fn fn, void *ctx);
void transcript_drop_taken(struct transcript *t);

/* One page (TRANSCRIPT_PAGE entries) of the transcript after the last entry handed on (from its
 * start when none), its new entries handed to fn. Returns 1 (the transcript is read: the page
 * was short or fn stopped it), 0 (a whole page: more may follow) or -1 (Redis failed, logged
 * with rid, or fn answered < 0). A consumer that must not buffer more than its client takes
 * reads a page only when the client has taken the last one. */
int transcript_page(struct transcript *t, struct app *app, const char *rid, transcript_fn fn,
                    void *ctx);
/* Reads the transcript after the last entry handed on (from its start when none), page after
 * page, handing the new entries to fn until a page is short or fn stops it. The connection
 * goes back to the pool before each page is handed on (a consumer may write to a slow
 * client). Returns 0, or -1 when Redis failed (logged with rid) or fn answered < 0. */
int transcript_catch_up(struct transcript *t, struct app *app, const char *rid,
                        transcript_fn fn, void *ctx);

#endif
