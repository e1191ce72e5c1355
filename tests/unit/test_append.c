/* Unit tests for common/redis/append.c's sequenced form (issue 16, item 5): the argument
 * vector of a numbered append, the script's order (the number checked before anything is
 * written, recorded only with the entry), and the replies a worker must tell apart — "already
 * applied" (a re-send: nothing to do) and the refusals for now (OOM, READONLY...: keep the
 * write and send it again) from a command's own error. The unsequenced form and the script's
 * SHA-1 are test_jobs.c's; the script against a real Redis is tests/integration/redis_faults. */
#include <stdlib.h>
#include <string.h>

#include "redis/append.h"
#include "test.h"

static void test_sequenced_args(void)
{
    struct event_append_args a;
    struct event_seq seq = {"nova:seq:r", "job-1/w1.7", 42};
    event_append_args_fill_seq(&a, false, "nova:log:r", "nova:out:j", "delta", "{\"x\":1}\0z",
                               9, 3600000, &seq);
    CHECK(a.argc == 12);
    CHECK_STR_EQ(a.argv[0], "EVALSHA");
    CHECK_STR_EQ(a.argv[1], EVENT_APPEND_SHA);
    CHECK_STR_EQ(a.argv[2], "2");
    CHECK_STR_EQ(a.argv[3], "nova:log:r");
    CHECK_STR_EQ(a.argv[4], "nova:seq:r");
    CHECK_STR_EQ(a.argv[5], "nova:out:j"); /* ARGV[1]..: the same places as unsequenced */
    CHECK_STR_EQ(a.argv[6], "delta");
    CHECK(a.argvlen[7] == 9);              /* the data's length is the caller's */
    CHECK_STR_EQ(a.argv[8], "3600000");
    CHECK(atoi(a.argv[9]) == EVENT_LOG_MAXLEN);
    CHECK_STR_EQ(a.argv[10], "job-1/w1.7");
    CHECK_STR_EQ(a.argv[11], "42");
    for (int i = 0; i < a.argc; i++)
        if (i != 7)
            CHECK(a.argvlen[i] == strlen(a.argv[i]));

    /* fenced: the run's token and whether the event ends the job follow */
    struct event_seq fenced = {"nova:seq:r", "job-1/w1.7", 43, 3, true};
    event_append_args_fill_seq(&a, false, "nova:log:r", "nova:out:j", "model_done", "{}", 2,
                               3600000, &fenced);
    CHECK(a.argc == 14);
    CHECK_STR_EQ(a.argv[11], "43");
    CHECK_STR_EQ(a.argv[12], "3");
    CHECK_STR_EQ(a.argv[13], "1");
    CHECK(event_ends_job("model_done") && event_ends_job("error") && !event_ends_job("delta") &&
          !event_ends_job("notice"));

    event_append_args_fill_seq(&a, true, "k", "c", "t", "d", 1, 1, NULL);
    CHECK(a.argc == 9); /* no number: the form nova-fcgi sends */
    CHECK_STR_EQ(a.argv[0], "EVAL");
    CHECK(a.argv[1] == EVENT_APPEND_LUA);
    CHECK_STR_EQ(a.argv[2], "1");
}

static void test_script_order(void)
{
    const char *s = EVENT_APPEND_LUA;
    const char *hget = strstr(s, "'HGET', KEYS[2], ARGV[6]");
    const char *check = strstr(s, "tonumber(ARGV[7]) <= last");
    const char *xadd = strstr(s, "'XADD', KEYS[1]");
    const char *hset = strstr(s, "'HSET', KEYS[2], ARGV[6], ARGV[7]");
    const char *expire = strstr(s, "'PEXPIRE', KEYS[2], ARGV[4]");
    const char *publish = strstr(s, "'PUBLISH'");
    CHECK(hget && check && xadd && hset && expire && publish);
    if (!(hget && check && xadd && hset && expire && publish))
        return;
    /* read and decide first: a refused XADD (OOM, READONLY) leaves nothing written */
    CHECK(hget < check && check < xadd);
    /* the number is recorded only with its entry, and expires with the transcript */
    CHECK(xadd < hset && hset < expire && expire < publish);
    CHECK(strstr(s, "{ok='" EVENT_APPLIED "'}") != NULL);
    /* the fence is read before the XADD and written with the entry */
    const char *fence = strstr(s, "'HGET', KEYS[2], job");
    const char *superseded = strstr(s, "{ok='" EVENT_SUPERSEDED "'}");
    const char *fence_set = strstr(s, "'HSET', KEYS[2], job");
    CHECK(fence && superseded && fence_set && fence < superseded && superseded < xadd &&
          xadd < fence_set && fence_set < expire);
}

static void test_reply_kinds(void)
{
    redisReply r = {.type = REDIS_REPLY_STATUS, .str = EVENT_APPLIED};
    CHECK(event_reply_applied(&r));
    CHECK(!redis_reply_refused(&r));
    r.str = "OK";
    CHECK(!event_reply_applied(&r));
    r.type = REDIS_REPLY_STRING;
    r.str = EVENT_APPLIED; /* an entry id never reads so, but only the status counts */
    CHECK(!event_reply_applied(&r));
    CHECK(!event_reply_applied(NULL));

    const char *for_now[] = {
        "OOM command not allowed when used memory > 'maxmemory'. script: 0f, on "
        "@user_script:5.",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script.",
        "NOREPLICAS Not enough good replicas to write.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "EXECABORT Transaction discarded because of previous errors.",
        "OOM",
    };
    for (size_t i = 0; i < sizeof for_now / sizeof *for_now; i++) {
        redisReply e = {.type = REDIS_REPLY_ERROR, .str = (char *)for_now[i]};
        CHECK(redis_reply_refused(&e));
    }
    const char *for_good[] = {
        "ERR wrong number of arguments for 'xadd' command",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "NOSCRIPT No matching script. Please use EVAL.",
        "OOMKILLER not a code of Redis",
        "ERR OOM inside the message only",
        "",
    };
    for (size_t i = 0; i < sizeof for_good / sizeof *for_good; i++) {
        redisReply e = {.type = REDIS_REPLY_ERROR, .str = (char *)for_good[i]};
        CHECK(!redis_reply_refused(&e));
    }
    redisReply st = {.type = REDIS_REPLY_STATUS, .str = "OOM"}; /* not an error */
    CHECK(!redis_reply_refused(&st));
    CHECK(!redis_reply_refused(NULL));
}

int main(void)
{
    RUN(test_sequenced_args);
    RUN(test_script_order);
    RUN(test_reply_kinds);
    return test_summary();
}
