/* Unit tests for common/redis/meminfo.c: INFO memory and INFO stats read without I/O, and
 * the warnings /api/health and `novactl status` give (issue 16, item 5): a policy other than
 * noeviction, keys evicted, used memory at MEMINFO_NEAR_PCT % of maxmemory or more; none for
 * a healthy Redis or one that did not say. */
#include <stdio.h>
#include <string.h>

#include "redis/meminfo.h"
#include "test.h"

static const char healthy[] = "# Memory\r\n"
                              "used_memory:1166968\r\n"
                              "used_memory_human:1.11M\r\n"
                              "used_memory_rss:7118848\r\n"
                              "used_memory_peak:1281576\r\n"
                              "maxmemory:0\r\n"
                              "maxmemory_human:0B\r\n"
                              "maxmemory_policy:noeviction\r\n";
static const char stats[] = "# Stats\r\ntotal_connections_received:9\r\nevicted_keys:0\r\n"
                            "evicted_clients:0\r\n";

static size_t warnings_of(const char *mem, const char *st, struct meminfo_warning *w)
{
    struct redis_meminfo m;
    meminfo_init(&m);
    meminfo_parse(&m, mem, strlen(mem));
    meminfo_parse(&m, st, strlen(st));
    return meminfo_warnings(&m, w, MEMINFO_WARN_MAX);
}

static void test_parse(void)
{
    struct redis_meminfo m;
    meminfo_init(&m);
    CHECK(m.used_memory == -1 && m.maxmemory == -1 && m.evicted_keys == -1 && !m.policy[0]);
    meminfo_parse(&m, healthy, strlen(healthy));
    CHECK(m.used_memory == 1166968); /* not used_memory_rss nor _peak */
    CHECK(m.maxmemory == 0);         /* not maxmemory_human */
    CHECK_STR_EQ(m.policy, "noeviction");
    CHECK(m.evicted_keys == -1);     /* another section */
    meminfo_parse(&m, stats, strlen(stats));
    CHECK(m.evicted_keys == 0);
    /* LF only, no trailing newline, a bad number: that field is unknown */
    meminfo_init(&m);
    const char lf[] = "used_memory:12x\nmaxmemory:100\nevicted_keys:7";
    meminfo_parse(&m, lf, strlen(lf));
    CHECK(m.used_memory == -1 && m.maxmemory == 100 && m.evicted_keys == 7);
    /* a length is honoured: nothing past it is read */
    meminfo_init(&m);
    meminfo_parse(&m, "maxmemory:5\nused_memory:9", 12);
    CHECK(m.maxmemory == 5 && m.used_memory == -1);
}

static void test_no_warning_when_healthy(void)
{
    struct meminfo_warning w[MEMINFO_WARN_MAX];
    CHECK(warnings_of(healthy, stats, w) == 0);
    CHECK(warnings_of("", "", w) == 0); /* unknown is not a warning */
    /* a limit far away */
    CHECK(warnings_of("used_memory:100\r\nmaxmemory:1000\r\nmaxmemory_policy:noeviction\r\n",
                      stats, w) == 0);
    CHECK(warnings_of("used_memory:899\r\nmaxmemory:1000\r\n", stats, w) == 0);
}

static void test_warnings(void)
{
    struct meminfo_warning w[MEMINFO_WARN_MAX];
    size_t n = warnings_of("used_memory:1\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n",
                           stats, w);
    CHECK(n == 1 && strcmp(w[0].code, "redis_eviction_policy") == 0);
    CHECK(n == 1 && strstr(w[0].message, "allkeys-lru") != NULL);

    n = warnings_of(healthy, "evicted_keys:12\r\n", w);
    CHECK(n == 1 && strcmp(w[0].code, "redis_evicted_keys") == 0);
    CHECK(n == 1 && strstr(w[0].message, "12 keys") != NULL);

    n = warnings_of("used_memory:900\r\nmaxmemory:1000\r\nmaxmemory_policy:noeviction\r\n",
                    stats, w);
    CHECK(n == 1 && strcmp(w[0].code, "redis_near_maxmemory") == 0);
    CHECK(n == 1 && strstr(w[0].message, "(90%)") != NULL);
    n = warnings_of("used_memory:5000\r\nmaxmemory:1\r\n", stats, w); /* past it: refusing */
    CHECK(n == 1 && strcmp(w[0].code, "redis_near_maxmemory") == 0);

    /* all three, in their order; max bounds the count */
    const char all[] = "used_memory:99\r\nmaxmemory:100\r\nmaxmemory_policy:volatile-lru\r\n";
    n = warnings_of(all, "evicted_keys:3\r\n", w);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR_EQ(w[0].code, "redis_eviction_policy");
        CHECK_STR_EQ(w[1].code, "redis_evicted_keys");
        CHECK_STR_EQ(w[2].code, "redis_near_maxmemory");
    }
    struct redis_meminfo m;
    meminfo_init(&m);
    meminfo_parse(&m, all, strlen(all));
    CHECK(meminfo_warnings(&m, w, 1) == 1);
    CHECK(meminfo_warnings(&m, w, 0) == 0);
    /* huge sizes do not overflow the comparison */
    n = warnings_of("used_memory:999999999999999999\r\nmaxmemory:999999999999999998\r\n",
                    stats, w);
    CHECK(n == 1);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_no_warning_when_healthy);
    RUN(test_warnings);
    return test_summary();
}
