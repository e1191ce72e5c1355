/* test_rconn: common/redis/rconn.c — Redis URLs good and bad, connection failures reported (not
 * hung), and the pool's bound, wait and hand-over, against a bare listening unix socket (the
 * pool with a real Redis is exercised by tests/integration/worker.sh). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "redis/rconn.h"
#include "test.h"

static void test_good_urls(void)
{
    struct rconn_addr a;
    char err[256];
    CHECK(rconn_parse_url("redis://127.0.0.1:6380", &a, err, sizeof err) == 0);
    CHECK(!a.is_unix && a.port == 6380 && a.db == 0);
    CHECK_STR_EQ(a.host, "127.0.0.1");
    CHECK(rconn_parse_url("redis://cache.example.internal:6379/3", &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.host, "cache.example.internal");
    CHECK(a.port == 6379 && a.db == 3);
    CHECK(rconn_parse_url("redis://localhost", &a, err, sizeof err) == 0);
    CHECK(a.port == 6379 && a.db == 0);
    CHECK(rconn_parse_url("redis://localhost/", &a, err, sizeof err) == 0);
    CHECK(a.db == 0);
    CHECK(rconn_parse_url("redis://localhost/15", &a, err, sizeof err) == 0);
    CHECK(a.port == 6379 && a.db == 15);
    CHECK(rconn_parse_url("redis://[::1]:7000/2", &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.host, "::1");
    CHECK(a.port == 7000 && a.db == 2);
    CHECK(rconn_parse_url("redis://my_host-1:65535", &a, err, sizeof err) == 0);
    CHECK(a.port == 65535);
    CHECK(rconn_parse_url("unix:///run/nova/redis.sock", &a, err, sizeof err) == 0);
    CHECK(a.is_unix && a.db == 0);
    CHECK_STR_EQ(a.path, "/run/nova/redis.sock");
    CHECK(a.host[0] == '\0');
}

static void test_bad_urls(void)
{
    static const char *const bad[] = {
        "", "redis://", "redis://:6379", "redis://host:", "redis://host:0",
        "redis://host:65536", "redis://host:12ab", "redis://host:-1", "redis://host:6379/x",
        "redis://host:6379/1/2", "redis://host:6379/99999", "redis://user:@host:6379",
        "redis://host:6379?db=1", "redis://ho st:1", "redis://host;rm:1", "redis://[::1",
        "redis://[::1]x", "rediss://host:0", "http://host:6379", "redis:/host",
        "host:6379", "unix://", "unix://relative.sock", "unix:///", "unix:///a?b",
        "tcp://127.0.0.1:6379",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rconn_addr a;
        char err[256] = "";
        int rc = rconn_parse_url(bad[i], &a, err, sizeof err);
        if (rc != -1)
            fprintf(stderr, "    accepted \"%s\"\n", bad[i]);
        CHECK(rc == -1);
        CHECK(err[0] != '\0');
    }
    struct rconn_addr a;
    char err[256] = "";
    CHECK(rconn_parse_url(NULL, &a, err, sizeof err) == -1);

    /* lengths: a host of 255 fits, 256 does not; a socket path must fit sun_path */
    char url[1200], name[600];
    memset(name, 'h', 256);
    name[256] = '\0';
    snprintf(url, sizeof url, "redis://%s:1", name);
    CHECK(rconn_parse_url(url, &a, err, sizeof err) == -1);
    name[255] = '\0';
    snprintf(url, sizeof url, "redis://%s:1", name);
    CHECK(rconn_parse_url(url, &a, err, sizeof err) == 0);
    memset(name, 'p', 200);
    name[200] = '\0';
    snprintf(url, sizeof url, "unix:///%s", name);
    CHECK(rconn_parse_url(url, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "longer") != NULL);
}

static void test_connect_failure_is_reported(void)
{
    struct rconn_addr a;
    char err[256] = "";
    CHECK(rconn_parse_url("unix:///nonexistent/dir/redis.sock", &a, err, sizeof err) == 0);
    CHECK(rconn_connect(&a, 200, err, sizeof err) == NULL);
    CHECK(strstr(err, "unix:///nonexistent/dir/redis.sock") != NULL);

    /* the pool gives the slot back after a failed connect: no "exhausted" on the retry */
    struct rpool *p = rpool_new(&a, 1, 200);
    for (int i = 0; i < 3; i++) {
        err[0] = '\0';
        CHECK(rpool_get(p, 0, err, sizeof err) == NULL);
        CHECK(strstr(err, "exhausted") == NULL && err[0] != '\0');
    }
    rpool_free(p);
}

/* A unix socket that listens and never answers: enough for connect() to succeed. */
static int listen_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
        perror("listen_unix");
        return -1;
    }
    return fd;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct putter {
    struct rpool *p;
    redisContext *c;
    int delay_ms;
};

static void *put_later(void *arg)
{
    struct putter *pt = arg;
    struct timespec ts = {0, pt->delay_ms * 1000000L};
    nanosleep(&ts, NULL); /* the test's own timing, not synchronisation in the code under test */
    rpool_put(pt->p, pt->c, false);
    return NULL;
}

static void test_pool_bound_and_handover(void)
{
    char dir[] = "/tmp/test_rconn.XXXXXX", path[64], url[96];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/s.sock", dir);
    int lfd = listen_unix(path);
    CHECK(lfd >= 0);
    snprintf(url, sizeof url, "unix://%s", path);
    struct rconn_addr a;
    char err[256] = "";
    CHECK(rconn_parse_url(url, &a, err, sizeof err) == 0);
    struct rpool *p = rpool_new(&a, 2, 500);
    redisContext *c1 = rpool_get(p, 0, err, sizeof err);
    redisContext *c2 = rpool_get(p, 0, err, sizeof err);
    CHECK(c1 && c2 && c1 != c2);

    /* full: a get without waiting fails at once, one with a wait fails after it */
    double t0 = now_ms();
    CHECK(rpool_get(p, 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "exhausted") != NULL);
    CHECK(rpool_get(p, 150, err, sizeof err) == NULL);
    double waited = now_ms() - t0;
    CHECK(waited >= 140 && waited < 1000);

    /* a waiter gets the connection another thread puts back */
    struct putter pt = {p, c1, 50};
    pthread_t th;
    pthread_create(&th, NULL, put_later, &pt);
    t0 = now_ms();
    redisContext *c3 = rpool_get(p, 2000, err, sizeof err);
    CHECK(c3 == c1);
    CHECK(now_ms() - t0 < 1500);
    pthread_join(th, NULL);

    /* a broken put frees the slot: the next get opens a new connection */
    rpool_put(p, c3, true);
    redisContext *c4 = rpool_get(p, 0, err, sizeof err);
    CHECK(c4 != NULL);
    rpool_put(p, c4, false);
    /* a context whose error is set is dropped even when the caller says it is fine */
    c2->err = REDIS_ERR_IO;
    rpool_put(p, c2, false);
    redisContext *c5 = rpool_get(p, 0, err, sizeof err), *c6 = rpool_get(p, 0, err, sizeof err);
    CHECK(c5 && c6);
    rpool_put(p, c5, false);
    rpool_put(p, c6, false);
    rpool_free(p);
    close(lfd);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RUN(test_good_urls);
    RUN(test_bad_urls);
    RUN(test_connect_failure_is_reported);
    RUN(test_pool_bound_and_handover);
    return test_summary();
}
