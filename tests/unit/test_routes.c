/* test_routes: fcgi-app/routes.c — every endpoint by method and path, its argument, the
 * methods it takes (what a 405 lists), paths that name no endpoint, and the label names. */
#include "../../fcgi-app/routes.h"

#include "test.h"

#define RID "0123456789abcdef0123456789abcdef"

static void test_every_endpoint(void)
{
    static const struct {
        const char *method, *path;
        enum route want;
    } cases[] = {
        {"POST", "/api/chat", ROUTE_CHAT},
        {"GET", "/api/chat/" RID "/events", ROUTE_RESUME},
        {"POST", "/api/chat/" RID "/cancel", ROUTE_CANCEL},
        {"POST", "/api/chat/" RID "/feedback", ROUTE_FEEDBACK},
        {"POST", "/api/translate", ROUTE_TRANSLATE},
        {"DELETE", "/api/session/abcdefgh", ROUTE_SESSION},
        {"GET", "/api/health", ROUTE_HEALTH},
        {"HEAD", "/api/health", ROUTE_HEALTH},
        {"GET", "/api/metrics", ROUTE_METRICS},
        {"HEAD", "/status", ROUTE_STATUS},
        {"POST", "/api/chat/" RID "/handoff", ROUTE_HANDOFF},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct route_match m;
        CHECK(routes_match(cases[i].method, cases[i].path, &m) == cases[i].want);
        CHECK(m.route == cases[i].want);
        CHECK(m.method_ok);
    }
}

static void test_arguments(void)
{
    struct route_match m;
    CHECK(routes_match("GET", "/api/chat/" RID "/events", &m) == ROUTE_RESUME);
    CHECK(m.arg_len == 32 && strncmp(m.arg, RID, 32) == 0);
    /* Malformed ids still name the endpoint: the router answers 400, not 404. */
    CHECK(routes_match("GET", "/api/chat/xyz/events", &m) == ROUTE_RESUME);
    CHECK(m.arg_len == 3 && strncmp(m.arg, "xyz", 3) == 0);
    CHECK(routes_match("POST", "/api/chat//cancel", &m) == ROUTE_CANCEL && m.arg_len == 0);
    /* A session id is the rest of the path, slashes and all. */
    CHECK(routes_match("DELETE", "/api/session/a/b", &m) == ROUTE_SESSION);
    CHECK_STR_EQ(m.arg, "a/b");
    CHECK(routes_match("DELETE", "/api/session/", &m) == ROUTE_SESSION && m.arg_len == 0);
    CHECK(routes_match("POST", "/api/chat", &m) == ROUTE_CHAT && m.arg == NULL);
}

static void test_wrong_method(void)
{
    struct route_match m;
    CHECK(routes_match("GET", "/api/chat", &m) == ROUTE_CHAT && !m.method_ok);
    CHECK_STR_EQ(m.allow, "POST");
    CHECK(routes_match("POST", "/api/health", &m) == ROUTE_HEALTH && !m.method_ok);
    CHECK_STR_EQ(m.allow, "GET, HEAD");
    CHECK(routes_match("POST", "/api/chat/" RID "/events", &m) == ROUTE_RESUME && !m.method_ok);
    CHECK_STR_EQ(m.allow, "GET");
    CHECK(routes_match("GET", "/api/session/abcdefgh", &m) == ROUTE_SESSION && !m.method_ok);
    CHECK_STR_EQ(m.allow, "DELETE");
    /* Not a prefix match of the method list. */
    CHECK(routes_match("GE", "/status", &m) == ROUTE_STATUS && !m.method_ok);
    CHECK(routes_match("", "/status", &m) == ROUTE_STATUS && !m.method_ok);
    CHECK(routes_match("get", "/status", &m) == ROUTE_STATUS && !m.method_ok);
}

static void test_no_endpoint(void)
{
    static const char *const paths[] = {
        "", "/", "/api", "/api/", "/api/chat/", "/api/chat/" RID, "/api/chat/" RID "/",
        "/api/chat/" RID "/events/", "/api/chat/" RID "/rate", "/api/chat/a/b/events",
        "/api/chat/events", "/api/chatx", "/api/health/", "/api/healthz", "/status/x",
        "/api/session", "/api/translate/x", "/nope",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct route_match m;
        CHECK(routes_match("GET", paths[i], &m) == ROUTE_OTHER);
        CHECK(!m.method_ok && m.arg == NULL);
        CHECK_STR_EQ(m.allow, "");
    }
    CHECK(routes_match("GET", "/nope", NULL) == ROUTE_OTHER);
}

static void test_names(void)
{
    static const char *const want[] = {"chat",   "resume",  "cancel", "feedback", "translate",
                                       "session", "health", "metrics", "status",  "handoff",
                                       "other"};
    for (int r = 0; r < ROUTE_COUNT; r++)
        CHECK_STR_EQ(routes_name((enum route)r), want[r]);
    CHECK_STR_EQ(routes_name(ROUTE_COUNT), "other");
}

int main(void)
{
    RUN(test_every_endpoint);
    RUN(test_arguments);
    RUN(test_wrong_method);
    RUN(test_no_endpoint);
    RUN(test_names);
    return test_summary();
}
