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

int main(void)
{
    RUN(test_put_take_in_order);
    RUN(test_cap_cuts);
    RUN(test_resync_holds_messages_then_gap);
    RUN(test_wake);
    RUN(test_next_rejects_a_torn_frame);
    return test_summary();
}
