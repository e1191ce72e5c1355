/* test_rurl: common/redis/rurl.c — NOVA_REDIS_URL with AUTH (user and password, percent-
 * decoded), rediss://, unix:// with a password, and errors that never hold the password. */
#include <string.h>

#include "redis/rurl.h"
#include "test.h"

static void test_userinfo(void)
{
    struct rconn_addr a;
    char err[256] = "";
    CHECK(rurl_parse("redis://s3cret@cache:6380/2", &a, err, sizeof err) == 0);
    CHECK(!a.tls && !a.is_unix && a.port == 6380 && a.db == 2);
    CHECK_STR_EQ(a.host, "cache");
    CHECK_STR_EQ(a.user, "");
    CHECK_STR_EQ(a.password, "s3cret");
    CHECK(rurl_parse("redis://nova:pw@127.0.0.1:7000", &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.user, "nova");
    CHECK_STR_EQ(a.password, "pw");
    CHECK_STR_EQ(a.host, "127.0.0.1");
    CHECK(rurl_parse("redis://:only-pw@h", &a, err, sizeof err) == 0); /* default user */
    CHECK_STR_EQ(a.user, "");
    CHECK_STR_EQ(a.password, "only-pw");
    /* percent-decoding: '@', ':', '/', '%' and spaces in a secret */
    CHECK(rurl_parse("rediss://app%2Bweb:p%40ss%3Aw%2Fo%25rd%20x@h.example:6379", &a, err,
                     sizeof err) == 0);
    CHECK(a.tls);
    CHECK_STR_EQ(a.user, "app+web");
    CHECK_STR_EQ(a.password, "p@ss:w/o%rd x");
    CHECK_STR_EQ(a.host, "h.example");
    /* an unescaped '@' in the password: the last '@' ends the userinfo */
    CHECK(rurl_parse("redis://u:a@b@h:1", &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.password, "a@b");
    CHECK_STR_EQ(a.host, "h");
    CHECK(rurl_parse("rediss://h:6390", &a, err, sizeof err) == 0);
    CHECK(a.tls && a.port == 6390 && a.password[0] == '\0');
    CHECK(rurl_parse("rediss://[::1]:6390/1", &a, err, sizeof err) == 0);
    CHECK(a.tls && a.db == 1);
    CHECK_STR_EQ(a.host, "::1");
    CHECK(rurl_parse("unix://nova:pw@/run/redis.sock", &a, err, sizeof err) == 0);
    CHECK(a.is_unix);
    CHECK_STR_EQ(a.path, "/run/redis.sock");
    CHECK_STR_EQ(a.user, "nova");
    CHECK_STR_EQ(a.password, "pw");
    CHECK(rurl_parse("unix:///run/a@b.sock", &a, err, sizeof err) == 0); /* '@' in a path */
    CHECK_STR_EQ(a.path, "/run/a@b.sock");
    CHECK(a.password[0] == '\0');
}

static void test_bad_userinfo_never_echoes_the_secret(void)
{
    static const char *const bad[] = {
        "redis://u:@h:1",              /* empty password */
        "redis://@h:1",                /* empty userinfo */
        "redis://u:pw%4@h:1",          /* short escape */
        "redis://u:pw%zz@h:1",         /* not hex */
        "redis://u:pw%00x@h:1",        /* a NUL */
        "redis://u%:pw@h:1",           /* bad escape in the user */
        "redis://u:TOPSECRET@:1",      /* no host */
        "redis://u:TOPSECRET@h:0",     /* bad port */
        "rediss://u:TOPSECRET@h:1/x",  /* bad db */
        "redis://u:TOPSECRET@h:1?x=y", /* query */
        "unix://u:TOPSECRET@relative", /* not a path: the whole is a bad URL */
        "http://u:TOPSECRET@h:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rconn_addr a;
        char err[256] = "";
        int rc = rurl_parse(bad[i], &a, err, sizeof err);
        if (rc != -1)
            fprintf(stderr, "    accepted \"%s\"\n", bad[i]);
        CHECK(rc == -1);
        CHECK(err[0] != '\0');
        if (strstr(err, "TOPSECRET") || strstr(err, "pw%"))
            fprintf(stderr, "    \"%s\" -> %s\n", bad[i], err);
        CHECK(strstr(err, "TOPSECRET") == NULL);
        CHECK(strstr(err, "pw%") == NULL);
    }
    /* a password too long for AUTH's buffer is refused, not cut */
    char url[1200], pw[400];
    memset(pw, 'p', 300);
    pw[300] = '\0';
    snprintf(url, sizeof url, "redis://u:%s@h:1", pw);
    struct rconn_addr a;
    char err[256];
    CHECK(rurl_parse(url, &a, err, sizeof err) == -1);
    pw[255] = '\0';
    snprintf(url, sizeof url, "redis://u:%s@h:1", pw);
    CHECK(rurl_parse(url, &a, err, sizeof err) == 0 && strlen(a.password) == 255);
}

static void test_name_has_no_secret(void)
{
    struct rconn_addr a;
    char err[256], name[700];
    CHECK(rurl_parse("rediss://nova:TOPSECRET@h:6380/3", &a, err, sizeof err) == 0);
    rurl_name(&a, name, sizeof name);
    CHECK_STR_EQ(name, "rediss://nova@h:6380/3");
    CHECK(rurl_parse("redis://TOPSECRET@h", &a, err, sizeof err) == 0);
    rurl_name(&a, name, sizeof name);
    CHECK_STR_EQ(name, "redis://h:6379/0");
}

int main(void)
{
    RUN(test_userinfo);
    RUN(test_bad_userinfo_never_echoes_the_secret);
    RUN(test_name_has_no_secret);
    return test_summary();
}
