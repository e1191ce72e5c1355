/* Unit tests for fcgi-app/inbox.c: framing, taking by swap, the cap, the resync hold, and the
 * eventfd that wakes the stream thread. */
#include "../../fcgi-app/inbox.h"

#include <poll.h>
#include <stdint.h>

#include "test.h"

static bool readable(const struct inbox *in)
{
    struct pollfd p = {in->efd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

static void test_put_take_in_order(void)
{
    struct inbox in;
    char err[64];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    CHECK(!readable(&in));
    inbox_put(&in, "1-0 delta {\"text\":\"a\"}", 23);
    inbox_put(&in, "", 0);
    inbox_put(&in, "1-1 done {}", 11);
    CHECK(readable(&in));
    inbox_clear_wake(&in);
    CHECK(!readable(&in));
    struct buf taken;
    buf_init(&taken, INBOX_CAP);
    CHECK(inbox_take(&in, &taken) == 0);
    size_t off = 0, len;
    const char *m;
    CHECK(inbox_next(&taken, &off, &m, &len) == 0 && len == 23 && !memcmp(m, "1-0 delta", 9));
    CHECK(inbox_next(&taken, &off, &m, &len) == 0 && len == 0);
    CHECK(inbox_next(&taken, &off, &m, &len) == 0 && len == 11 && !memcmp(m, "1-1 done {}", 11));
    CHECK(inbox_next(&taken, &off, &m, &len) == -1);
    /* Taken means gone: the next take is empty. */
    buf_reset(&taken);
    CHECK(inbox_take(&in, &taken) == 0 && taken.len == 0);
    buf_free(&taken);
    inbox_destroy(&in);
}

static void test_cap_cuts(void)
{
    struct inbox in;
    char err[64], msg[1000];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    memset(msg, 'x', sizeof msg);
    size_t fits = INBOX_CAP / (sizeof msg + 4);
    for (size_t i = 0; i < fits + 5; i++)
        inbox_put(&in, msg, sizeof msg);
    struct buf taken;
    buf_init(&taken, INBOX_CAP);
    CHECK(inbox_take(&in, &taken) == INBOX_CUT);
    size_t off = 0, len, n = 0;
    const char *m;
    while (inbox_next(&taken, &off, &m, &len) == 0)
        n++;
    CHECK(n == fits); /* what fitted is kept, in order; the rest was dropped */
    /* A cut inbox stays cut and takes nothing more until it is reset. */
    inbox_put(&in, "1-0 x y", 7);
    buf_reset(&taken);
    CHECK(inbox_take(&in, &taken) == INBOX_CUT && taken.len == 0);
    inbox_reset(&in);
    CHECK(!readable(&in));
    inbox_put(&in, "1-0 x y", 7);
    CHECK(inbox_take(&in, &taken) == 0 && taken.len == 11);
    buf_free(&taken);
    inbox_destroy(&in);
}

static void test_resync_holds_messages_then_gap(void)
{
    struct inbox in;
    char err[64];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    in.resyncing = 2; /* as the dispatcher sets it after a reconnect */
    inbox_put(&in, "5-0 delta {}", 12);
    struct buf taken;
    buf_init(&taken, INBOX_CAP);
    CHECK(inbox_take(&in, &taken) == 0 && taken.len == 0); /* held back */
    in.resyncing = 0;
    in.flags |= INBOX_GAP;
    CHECK(inbox_take(&in, &taken) == INBOX_GAP && taken.len == 16);
    buf_reset(&taken);
    CHECK(inbox_take(&in, &taken) == 0); /* the gap is reported once */
    buf_free(&taken);
    inbox_destroy(&in);
}

static void test_wake(void)
{
    struct inbox in;
    char err[64];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    inbox_wake(&in);
    inbox_wake(&in);
    CHECK(readable(&in));
    inbox_clear_wake(&in);
    CHECK(!readable(&in));
    inbox_destroy(&in);
}

static void test_next_rejects_a_torn_frame(void)
{
    struct buf b;
    buf_init(&b, 64);
    uint32_t n = 10;
    buf_append(&b, &n, 4);
    buf_append(&b, "short", 5);
    size_t off = 0, len;
    const char *m;
    CHECK(inbox_next(&b, &off, &m, &len) == -1);
    buf_free(&b);
}

static int rings;
static void count_ring(void *arg)
{
    CHECK(arg == &rings);
    rings++;
}

/* A stream handed to the loop (streams.h): its eventfd is closed, the notify is called at once
 * for what was queued before, then for each message, wake and cut; the queue is untouched. */
static void test_hand_to_a_loop(void)
{
    char err[64];
    struct inbox *in = inbox_new(err, sizeof err);
    CHECK(in != NULL);
    if (!in)
        return;
    inbox_put(in, "1-0 delta {}", 12);
    rings = 0;
    inbox_hand_to(in, count_ring, &rings);
    CHECK(in->efd == -1);
    CHECK(rings == 1); /* something was queued already */
    inbox_put(in, "1-1 delta {}", 12);
    CHECK(rings == 2);
    inbox_wake(in);
    CHECK(rings == 3);
    inbox_clear_wake(in); /* no eventfd: a no-op */
    struct buf taken;
    buf_init(&taken, INBOX_CAP);
    CHECK(inbox_take(in, &taken) == 0);
    size_t off = 0, len;
    const char *m;
    CHECK(inbox_next(&taken, &off, &m, &len) == 0 && len == 12 && !memcmp(m, "1-0", 3));
    CHECK(inbox_next(&taken, &off, &m, &len) == 0 && len == 12 && !memcmp(m, "1-1", 3));
    CHECK(inbox_next(&taken, &off, &m, &len) == -1);
    /* Past the cap: cut, and rung so the stream sees it. */
    static char big[INBOX_CAP + 1];
    inbox_put(in, big, sizeof big);
    CHECK(rings == 4 && inbox_is_cut(in));
    buf_free(&taken);
    inbox_delete(in);

    /* Nothing queued at the hand-over: no ring until something comes. */
    in = inbox_new(err, sizeof err);
    CHECK(in != NULL);
    if (!in)
        return;
    rings = 0;
    inbox_hand_to(in, count_ring, &rings);
    CHECK(rings == 0);
    inbox_put(in, "x", 1);
    CHECK(rings == 1);
    inbox_delete(in);
}

int main(void)
{
    RUN(test_put_take_in_order);
    RUN(test_cap_cuts);
    RUN(test_resync_holds_messages_then_gap);
    RUN(test_wake);
    RUN(test_next_rejects_a_torn_frame);
    RUN(test_hand_to_a_loop);
    return test_summary();
}
