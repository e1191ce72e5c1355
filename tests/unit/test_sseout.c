/* test_sseout: fcgi-app/sseout.c's buffer, without a client — events framed and counted, the
 * flush mark, a stream that falls behind against an event too large on its own, the ping only
 * into silence, no buffer kept once all is taken, and the stall cut-off and its deadline moving with what the client takes. */
#include "../../fcgi-app/sseout.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

#define KEEPALIVE 15000

static void test_events_and_ping(void)
{
    struct sseout o;
    sseout_init(&o, KEEPALIVE, 1000);
    CHECK(sseout_due(&o) == 1000 + KEEPALIVE);
    CHECK(!sseout_ping(&o, 1000 + KEEPALIVE - 1));
    CHECK(sseout_event(&o, "1-0", "delta", "{\"a\":1}", 7) == 0);
    CHECK_STR_EQ(buf_cstr(&o.out), "id: 1-0\nevent: delta\ndata: {\"a\":1}\n\n");
    CHECK(sseout_event(&o, NULL, "done", "{}", 2) == 0);
    CHECK(o.written == 2 && !o.behind && !sseout_full(&o));
    /* Bytes wait: the ping adds nothing, yet it was due and the next one is a whole interval
     * away. */
    size_t len = o.out.len;
    CHECK(sseout_ping(&o, 1000 + KEEPALIVE));
    CHECK(o.out.len == len);
    CHECK(o.next_ping_ms == 1000 + 2 * KEEPALIVE);
    /* The client took it all: silence, then a ping. */
    sseout_taken(&o, o.out.len, 5000);
    CHECK(o.out.len == 0 && o.progress_ms == 5000 && o.next_ping_ms == 5000 + KEEPALIVE);
    CHECK(o.out.cap == 0 && o.out.data == NULL); /* all taken: no idle buffer kept */
    CHECK(sseout_ping(&o, 5000 + KEEPALIVE));
    CHECK_STR_EQ(buf_cstr(&o.out), ": ping\n\n");
    CHECK(o.written == 2); /* a comment is not an event */
    sseout_free(&o);
}

static void test_stall(void)
{
    struct sseout o;
    sseout_init(&o, KEEPALIVE, 0);
    CHECK(sseout_stall_ms(&o) == SSEOUT_STALL_KEEPALIVES * KEEPALIVE);
    CHECK(!sseout_stalled(&o, 10 * KEEPALIVE)); /* nothing waits: nothing to take */
    sseout_event(&o, "1-0", "delta", "{}", 2);
    CHECK(sseout_due(&o) == KEEPALIVE); /* the ping comes before the cut-off */
    sseout_ping(&o, KEEPALIVE);
    CHECK(sseout_due(&o) == sseout_stall_ms(&o));
    CHECK(!sseout_stalled(&o, sseout_stall_ms(&o) - 1));
    CHECK(sseout_stalled(&o, sseout_stall_ms(&o)));
    sseout_taken(&o, 1, sseout_stall_ms(&o) - 1); /* a byte taken: the clock starts again */
    CHECK(!sseout_stalled(&o, sseout_stall_ms(&o)));
    sseout_free(&o);
}

static void test_full_and_behind(void)
{
    struct sseout o;
    sseout_init(&o, KEEPALIVE, 0);
    size_t big = SSEOUT_FLUSH_AT;
    char *data = malloc(SSEOUT_MAX);
    memset(data, 'x', SSEOUT_MAX);
    /* Larger than the whole buffer on its own: skipped, not behind. */
    CHECK(sseout_event(&o, "1-0", "delta", data, SSEOUT_MAX) < 0);
    CHECK(!o.behind && o.out.len == 0 && o.written == 0);
    CHECK(sseout_event(&o, "2-0", "delta", data, big) == 0);
    CHECK(sseout_full(&o));
    /* Events pile up until one no longer fits behind what waits. */
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = sseout_event(&o, "3-0", "delta", data, big);
    CHECK(rc < 0 && o.behind);
    CHECK(o.out.len <= SSEOUT_MAX);
    free(data);
    sseout_free(&o);
}

int main(void)
{
    RUN(test_events_and_ping);
    RUN(test_stall);
    RUN(test_full_and_behind);
    return test_summary();
}
