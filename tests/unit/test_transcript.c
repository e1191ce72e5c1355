/* test_transcript: fcgi-app/transcript.c without Redis — entries handed on once, in id order,
 * whichever side (an XRANGE page, the inbox) brings them first; what is not an event skipped
 * without moving the position; where the next page starts; a consumer that stops or fails. */
#include "../../fcgi-app/transcript.h"

#include <string.h>

#include "test.h"

struct seen {
    char ids[16][STREAM_ID_MAX];
    char types[16][TRANSCRIPT_TYPE_MAX];
    size_t n;
    int stop_at;  /* answer 1 at this entry (1-based), 0: never */
    int fail_at;  /* answer -1 at this entry */
};

static int collect(void *ctx, const struct transcript_entry *e)
{
    struct seen *s = ctx;
    if (s->n < 16) {
        stream_id_format(&e->id, s->ids[s->n], sizeof s->ids[s->n]);
        memcpy(s->types[s->n], e->type, e->type_len);
        s->types[s->n][e->type_len] = '\0';
    }
    s->n++;
    if (s->fail_at && (int)s->n == s->fail_at)
        return -1;
    return s->stop_at && (int)s->n == s->stop_at ? 1 : 0;
}

static void test_take_once_in_order(void)
{
    struct transcript t;
    CHECK(transcript_init(&t, "0123456789abcdef0123456789abcdef") == 0);
    CHECK_STR_EQ(t.key, "nova:log:0123456789abcdef0123456789abcdef");
    char start[STREAM_ID_MAX];
    transcript_start(&t, start, sizeof start);
    CHECK_STR_EQ(start, "-");
    struct transcript_entry e;
    CHECK(transcript_take(&t, "5-1", 3, "delta", 5, "{}", 2, &e));
    CHECK(e.id.ms == 5 && e.id.seq == 1 && e.type_len == 5 && e.data_len == 2);
    CHECK(!transcript_take(&t, "5-1", 3, "delta", 5, "{}", 2, &e)); /* again */
    CHECK(!transcript_take(&t, "4-9", 3, "delta", 5, "{}", 2, &e)); /* older */
    /* Not events: the position stays, so 5-2 is still new afterwards. */
    CHECK(!transcript_take(&t, "x", 1, "delta", 5, "{}", 2, &e));
    CHECK(!transcript_take(&t, "6-0", 3, "", 0, "{}", 2, &e));
    CHECK(!transcript_take(&t, "6-0", 3, "de\nlta", 6, "{}", 2, &e));
    char long_type[TRANSCRIPT_TYPE_MAX];
    memset(long_type, 'a', sizeof long_type);
    CHECK(!transcript_take(&t, "6-0", 3, long_type, sizeof long_type, "{}", 2, &e));
    CHECK(transcript_take(&t, "5-2", 3, long_type, sizeof long_type - 1, "{}", 2, &e));
    transcript_start(&t, start, sizeof start);
    CHECK_STR_EQ(start, "5-3");
    CHECK(transcript_take(&t, "18446744073709551615", 20, "done", 4, "{}", 2, &e));
    CHECK(transcript_take(&t, "7-18446744073709551615", 22, "done", 4, "{}", 2, &e) == false);
    transcript_free(&t);
    /* The seq wraps into the next millisecond. */
    CHECK(transcript_init(&t, "r") == 0);
    CHECK(transcript_take(&t, "7-18446744073709551615", 22, "done", 4, "{}", 2, &e));
    transcript_start(&t, start, sizeof start);
    CHECK_STR_EQ(start, "8-0");
    transcript_free(&t);
}

/* One XRANGE entry [id, ["t", type, "d", data]], built by hand. */
struct entry {
    redisReply id, t, type, d, data, fields_arr, self;
    redisReply *fields[4], *pair[2];
};

static void str(redisReply *r, const char *s)
{
    memset(r, 0, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = (char *)s;
    r->len = strlen(s);
}

static void entry(struct entry *e, const char *id, const char *type, const char *data)
{
    str(&e->id, id);
    str(&e->t, "t");
    str(&e->type, type);
    str(&e->d, "d");
    str(&e->data, data);
    e->fields[0] = &e->t;
    e->fields[1] = &e->type;
    e->fields[2] = &e->d;
    e->fields[3] = &e->data;
    memset(&e->fields_arr, 0, sizeof e->fields_arr);
    e->fields_arr.type = REDIS_REPLY_ARRAY;
    e->fields_arr.elements = 4;
    e->fields_arr.element = e->fields;
    e->pair[0] = &e->id;
    e->pair[1] = &e->fields_arr;
    memset(&e->self, 0, sizeof e->self);
    e->self.type = REDIS_REPLY_ARRAY;
    e->self.elements = 2;
    e->self.element = e->pair;
}

static void test_page_and_inbox_overlap(void)
{
    struct transcript t;
    CHECK(transcript_init(&t, "r") == 0);
    struct entry es[3];
    entry(&es[0], "1-0", "meta", "{}");
    entry(&es[1], "2-0", "delta", "{\"text\":\"a\"}");
    entry(&es[2], "3-0", "delta", "{\"text\":\"b\"}");
    redisReply *elems[] = {&es[0].self, &es[1].self, &es[2].self};
    redisReply page = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = elems};
    struct seen s = {0};
    CHECK(transcript_feed_reply(&t, &page, collect, &s) == 0);
    CHECK(s.n == 3);
    CHECK_STR_EQ(s.ids[2], "3-0");
    /* The same events live, and one more: only the new one is handed on. */
    struct inbox in;
    char err[64];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *msgs[] = {"2-0 delta {\"text\":\"a\"}", "3-0 delta {\"text\":\"b\"}", "attach",
                          "4-0 model_done {}"};
    for (size_t i = 0; i < 4; i++)
        inbox_put(&in, msgs[i], strlen(msgs[i]));
    CHECK(transcript_take_inbox(&t, &in) == 0);
    CHECK(transcript_feed_taken(&t, collect, &s) == 0);
    CHECK(s.n == 4);
    CHECK_STR_EQ(s.ids[3], "4-0");
    CHECK_STR_EQ(s.types[3], "model_done");
    CHECK(t.taken.len == 0);
    /* Neither side keeps the batch's memory: the taken messages are freed once fed, and the
     * inbox got the reader's empty buffer in the swap (a held stream keeps no idle buffer). */
    CHECK(t.taken.cap == 0 && t.taken.data == NULL);
    CHECK(in.q.cap == 0 && in.q.data == NULL);
    /* The page again: all seen. */
    CHECK(transcript_feed_reply(&t, &page, collect, &s) == 0 && s.n == 4);
    inbox_destroy(&in);
    transcript_free(&t);
}

static void test_consumer_stops(void)
{
    struct transcript t;
    CHECK(transcript_init(&t, "r") == 0);
    struct inbox in;
    char err[64];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *msgs[] = {"1-0 delta {}", "2-0 model_done {}", "3-0 done {}"};
    for (size_t i = 0; i < 3; i++)
        inbox_put(&in, msgs[i], strlen(msgs[i]));
    transcript_take_inbox(&t, &in);
    struct seen s = {.stop_at = 2};
    CHECK(transcript_feed_taken(&t, collect, &s) == 1);
    CHECK(s.n == 2 && t.taken.len == 0); /* the rest is dropped */
    inbox_put(&in, "4-0 delta {}", 12);
    inbox_put(&in, "5-0 delta {}", 12);
    transcript_take_inbox(&t, &in);
    struct seen f = {.fail_at = 1};
    CHECK(transcript_feed_taken(&t, collect, &f) == -1 && f.n == 1);
    /* Dropped unfed: nothing is handed on, the position stays. */
    inbox_put(&in, "6-0 delta {}", 12);
    transcript_take_inbox(&t, &in);
    transcript_drop_taken(&t);
    char start[STREAM_ID_MAX];
    transcript_start(&t, start, sizeof start);
    CHECK_STR_EQ(start, "4-1");
    inbox_destroy(&in);
    transcript_free(&t);
}

int main(void)
{
    RUN(test_take_once_in_order);
    RUN(test_page_and_inbox_overlap);
    RUN(test_consumer_stops);
    return test_summary();
}
