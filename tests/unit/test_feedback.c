/* test_feedback: fcgi-app/feedback.c's body parser (no I/O) — what a rating body may hold and
 * the sentence each refusal says: rating up|down required, reason one of the API's (or null or
 * absent), comment a string of valid UTF-8 of at most 1,000 characters (counted in characters,
 * not bytes) with no NUL and no control character but line breaks and tabs, no other member,
 * one JSON object and nothing after it. The same parser runs under fuzz_feedback. */
#include "../../fcgi-app/feedback.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "test.h"

static struct feedback_body b;

static int parse(const char *s, char *err, size_t n)
{
    err[0] = '\0';
    return feedback_body_parse(s, strlen(s), &b, err, n);
}

static void test_accepted(void)
{
    char err[256];
    CHECK(parse("{\"rating\":\"up\"}", err, sizeof err) == 0);
    CHECK(b.rating == FEEDBACK_UP && b.reason == FEEDBACK_NO_REASON && b.comment[0] == '\0');
    CHECK(parse(" {\"comment\":\"환불은 14일이에요\\n\\t끝\",\"reason\":\"outdated\","
                "\"rating\":\"down\"} ",
                err, sizeof err) == 0);
    CHECK(b.rating == FEEDBACK_DOWN && b.reason == FEEDBACK_OUTDATED);
    CHECK_STR_EQ(b.comment, "환불은 14일이에요\n\t끝");
    CHECK(parse("{\"rating\":\"down\",\"reason\":null,\"comment\":null}", err, sizeof err) == 0);
    CHECK(b.reason == FEEDBACK_NO_REASON && b.comment[0] == '\0');
    static const char *const reasons[] = {"wrong", "outdated", "unclear", "offensive", "other"};
    for (size_t i = 0; i < 5; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"rating\":\"down\",\"reason\":\"%s\"}", reasons[i]);
        CHECK(parse(body, err, sizeof err) == 0);
        CHECK_STR_EQ(feedback_reason_name(b.reason), reasons[i]);
    }
    CHECK_STR_EQ(feedback_rating_name(FEEDBACK_DOWN), "down");
    CHECK_STR_EQ(feedback_reason_name(FEEDBACK_NO_REASON), "none");
}

static void refused(const char *body, size_t len, const char *want)
{
    char err[256] = "";
    int rc = feedback_body_parse(body, len, &b, err, sizeof err);
    CHECK(rc == -1);
    if (!strstr(err, want))
        fprintf(stderr, "  %.60s: '%s', want '%s'\n", body, err, want);
    CHECK(strstr(err, want) != NULL);
}

static void test_refused(void)
{
    static const char *const bad[][2] = {
        {"", "JSON object with \"rating\""},
        {"{\"rating\":", "one JSON object"},
        {"{\"rating\":\"up\"} {}", "one JSON object"},
        {"\"up\"", "one JSON object"},
        {"{}", "\"rating\" is missing"},
        {"{\"rating\":\"UP\"}", "\"rating\" must be \"up\" or \"down\""},
        {"{\"rating\":null}", "\"rating\" must be \"up\" or \"down\""},
        {"{\"rating\":\"up\",\"reason\":\"none\"}", "\"reason\" must be one of"},
        {"{\"rating\":\"up\",\"reason\":3}", "\"reason\" must be one of"},
        {"{\"rating\":\"up\",\"comment\":[]}", "\"comment\" must be a string"},
        {"{\"rating\":\"up\",\"comment\":\"a\\u0000b\"}", "valid UTF-8 text"},
        {"{\"rating\":\"up\",\"comment\":\"bell\\u0007\"}", "control character"},
        {"{\"rating\":\"up\",\"Rating\":\"up\"}", "unknown member \"Rating\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i][0], strlen(bad[i][0]), bad[i][1]);
    const char bad_utf8[] = "{\"rating\":\"up\",\"comment\":\"\xed\xa0\x80\"}"; /* a surrogate */
    refused(bad_utf8, sizeof bad_utf8 - 1, "UTF-8");
    const char nul[] = "{\"rating\":\"up\"}\0";
    refused(nul, sizeof nul - 1, "JSON object");
    /* an unknown member's name is shown shortened and without quotes or control bytes */
    refused("{\"rating\":\"up\",\"a\\\"b\\nc\":1}", strlen("{\"rating\":\"up\",\"a\\\"b\\nc\":1}"),
            "unknown member \"a?b?c\"");
}

/* 1,000 characters, whatever their bytes; 1,001 refused with the count. */
static void test_comment_length(void)
{
    struct buf s;
    buf_init(&s, 1u << 16);
    char err[256];
    static const char *const chars[] = {"a", "é", "가", "😀"};
    for (size_t c = 0; c < 4; c++) {
        for (int n = 1000; n <= 1001; n++) {
            buf_reset(&s);
            buf_printf(&s, "{\"rating\":\"down\",\"comment\":\"");
            for (int i = 0; i < n; i++)
                buf_printf(&s, "%s", chars[c]);
            buf_printf(&s, "\"}");
            err[0] = '\0';
            int rc = feedback_body_parse(s.data, s.len, &b, err, sizeof err);
            if (n == 1000) {
                CHECK(rc == 0 && strlen(b.comment) == 1000 * strlen(chars[c]));
            } else {
                CHECK(rc == -1 && strstr(err, "1001 characters; at most 1000"));
            }
        }
    }
    buf_free(&s);
}

int main(void)
{
    RUN(test_accepted);
    RUN(test_refused);
    RUN(test_comment_length);
    return test_summary();
}
