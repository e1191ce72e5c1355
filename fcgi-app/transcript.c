/* transcript: one reader of a transcript, live and caught up, de-duplicated (see
 * transcript.h). */
#include "transcript.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "redis/events.h"

int transcript_init(struct transcript *t, const char *request_id)
{
    memset(t, 0, sizeof *t);
    buf_init(&t->taken, INBOX_CAP);
    return key_log(t->key, sizeof t->key, request_id);
}

void transcript_free(struct transcript *t)
{
    buf_free(&t->taken);
}

bool transcript_take(struct transcript *t, const char *id, size_t id_len, const char *type,
                     size_t type_len, const char *data, size_t data_len,
                     struct transcript_entry *e)
{
    struct stream_id sid;
    if (stream_id_parse(id, id_len, &sid) < 0 || type_len == 0 ||
        type_len >= TRANSCRIPT_TYPE_MAX || memchr(type, '\n', type_len) ||
        memchr(type, '\r', type_len))
        return false; /* not an event of ours */
    if (t->have_last && stream_id_cmp(&sid, &t->last) <= 0)
        return false; /* seen already (the two sides overlap) */
    t->last = sid;
    t->have_last = true;
    *e = (struct transcript_entry){sid, type, type_len, data, data_len};
    return true;
}

void transcript_start(const struct transcript *t, char *out, size_t n)
{
    if (!t->have_last) {
        snprintf(out, n, "-");
        return;
    }
    struct stream_id next = stream_id_next(t->last);
    stream_id_format(&next, out, n);
}

int transcript_feed_reply(struct transcript *t, const redisReply *page, transcript_fn fn,
                          void *ctx)
{
    for (size_t i = 0; page->type == REDIS_REPLY_ARRAY && i < page->elements; i++) {
        const redisReply *id, *type, *data;
        struct transcript_entry e;
        if (event_entry_parse(page->element[i], &id, &type, &data) < 0 ||
            !transcript_take(t, id->str, id->len, type->str, type->len, data->str, data->len,
                             &e))
            continue;
        int rc = fn(ctx, &e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

unsigned transcript_take_inbox(struct transcript *t, struct inbox *in)
{
    return inbox_take(in, &t->taken);
}

int transcript_feed_taken(struct transcript *t, transcript_fn fn, void *ctx)
{
    size_t off = 0, len;
    const char *m;
    int rc = 0;
    while (rc == 0 && inbox_next(&t->taken, &off, &m, &len) == 0) {
        struct event_msg em;
        struct transcript_entry e;
        if (event_msg_parse(m, len, &em) == 0 &&
            transcript_take(t, em.id, em.id_len, em.type, em.type_len, em.data, em.data_len,
                            &e))
            rc = fn(ctx, &e);
    }
    transcript_drop_taken(t);
    return rc;
}

/* Its memory goes too: the next take swaps it into the inbox, so a held stream would keep the
 * capacity of its largest batch twice (here and in the inbox) for as long as it is open. */
void transcript_drop_taken(struct transcript *t)
{
    buf_free(&t->taken);
}

int transcript_page(struct transcript *t, struct app *app, const char *rid, transcript_fn fn,
                    void *ctx)
{
    char err[256], start[STREAM_ID_MAX];
    transcript_start(t, start, sizeof start);
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        log_rid(LOG_WARN, rid, "reading the transcript: %s", err);
        return -1;
    }
    redisReply *rep = redisCommand(c, "XRANGE %s %s + COUNT %d", t->key, start, TRANSCRIPT_PAGE);
    /* Back to the pool before the entries go to a client that may be slow. */
    app_redis_put(app, c);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        log_rid(LOG_WARN, rid, "XRANGE %s: %s", t->key,
                rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no reply");
        if (rep)
            freeReplyObject(rep);
        return -1;
    }
    int rc = transcript_feed_reply(t, rep, fn, ctx);
    size_t n = rep->elements;
    freeReplyObject(rep);
    if (rc < 0)
        return -1;
    return rc > 0 || n < TRANSCRIPT_PAGE ? 1 : 0;
}

int transcript_catch_up(struct transcript *t, struct app *app, const char *rid,
                        transcript_fn fn, void *ctx)
{
    int rc;
    while ((rc = transcript_page(t, app, rid, fn, ctx)) == 0)
        ;
    return rc < 0 ? -1 : 0;
}
