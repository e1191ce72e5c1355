/* Unit tests for common/product/chatreq.c: the chat body validator and the route id validators. */
#include "product/chatreq.h"

#include <stdlib.h>

#include "core/buf.h"
#include "redis/streamid.h"
#include "test.h"

static int parse(const char *body, struct chatreq *r, char *err)
{
    err[0] = '\0';
    return chatreq_parse(body, strlen(body), r, err, 200);
}

static void test_valid_bodies(void)
{
    struct chatreq r;
    char err[200];
    CHECK(parse("{\"message\": \"폴이 레벨업을 못 해요\"}", &r, err) == 0);
    CHECK_STR_EQ(r.message, "폴이 레벨업을 못 해요");
    CHECK(r.message_chars == 12);
    CHECK_STR_EQ(r.ui_lang, "ko");
    CHECK_STR_EQ(r.session_id, "");
    chatreq_free(&r);
    CHECK(parse("{\"ui_lang\":\"en\",\"message\":\"  hi\\n\\t\",\"session_id\":\"Ab_-0123\","
                "\"extra\":{\"deep\":[1,2,{\"x\":null}]}}",
                &r, err) == 0);
    CHECK_STR_EQ(r.message, "hi");
    CHECK(r.message_len == 2);
    CHECK_STR_EQ(r.ui_lang, "en");
    CHECK_STR_EQ(r.session_id, "Ab_-0123");
    chatreq_free(&r);
    /* null counts as absent for the optional fields; whitespace around the document is fine */
    CHECK(parse(" \r\n{\"message\":\"x\",\"ui_lang\":null,\"session_id\":null}\n", &r, err) == 0);
    CHECK_STR_EQ(r.ui_lang, "ko");
    CHECK_STR_EQ(r.session_id, "");
    chatreq_free(&r);
    /* Non-ASCII whitespace is content, not trimmed. */
    CHECK(parse("{\"message\":\"\\u3000\"}", &r, err) == 0);
    CHECK(r.message_chars == 1);
    chatreq_free(&r);
    /* Escapes: an emoji as a surrogate pair is one character. */
    CHECK(parse("{\"message\":\"\\ud83d\\ude00\"}", &r, err) == 0);
    CHECK_STR_EQ(r.message, "\xF0\x9F\x98\x80");
    CHECK(r.message_chars == 1);
    chatreq_free(&r);
    /* An escaped backslash before "ud800" is text, not an escape. */
    CHECK(parse("{\"message\":\"\\\\ud800\"}", &r, err) == 0);
    CHECK_STR_EQ(r.message, "\\ud800");
    chatreq_free(&r);
}

static void expect_error(const char *body, size_t len, const char *want)
{
    struct chatreq r;
    char err[200] = "";
    CHECK(chatreq_parse(body, len, &r, err, sizeof err) == -1);
    CHECK(r.message == NULL);
    CHECK_STR_EQ(err, want);
}

#define EXPECT_ERROR(body, want) expect_error(body, strlen(body), want)

static void test_lone_surrogate_escapes(void)
{
    /* json-c would read each as U+FFFD and let it through. */
    static const char *const bad[] = {
        "{\"message\":\"\\ud800\"}", "{\"message\":\"\\udc00\"}",
        "{\"message\":\"a\\uD83Db\"}", "{\"message\":\"\\ud83d\\u0041\"}",
        "{\"message\":\"\\udfff\\ud800\"}", "{\"message\":\"x\\ud800\"}",
        "{\"message\":\"x\",\"session_id\":\"\\ud800abcdefgh\"}",
        "{\"message\":\"\\ud83d\\\\ude00\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT_ERROR(bad[i], "the body is not valid UTF-8");
    struct translatereq t;
    char err[200] = "";
    CHECK(translatereq_parse("{\"text\":\"\\ud800\"}", 16, &t, err, sizeof err) == -1);
    CHECK_STR_EQ(err, "the body is not valid UTF-8");
}

static void test_not_json(void)
{
    EXPECT_ERROR("", "the body is not a JSON document");
    EXPECT_ERROR("{", "the body is not a JSON document");
    EXPECT_ERROR("{\"message\":\"x\"} x", "the body is not a JSON document");
    EXPECT_ERROR("{\"message\":\"x\"}{}", "the body is not a JSON document");
    EXPECT_ERROR("{'message':'x'}", "the body is not a JSON document");
    EXPECT_ERROR("{\"message\":\"x\",}", "the body is not a JSON document");
    expect_error("{\"message\":\"x\"}\0", 16, "the body is not a JSON document");
    EXPECT_ERROR("[{\"message\":\"x\"}]", "the body must be a JSON object");
    EXPECT_ERROR("\"message\"", "the body must be a JSON object");
    EXPECT_ERROR("null", "the body must be a JSON object");
    /* json-c's own check misses overlongs; the message check catches them. */
    EXPECT_ERROR("{\"message\":\"\xC0\xAF\"}", "\"message\" is not valid UTF-8");
    EXPECT_ERROR("{\"message\":\"x\",\"other\":\"\xFF\"}", "the body is not valid UTF-8");
    /* Nesting past the tokener's depth is refused, not recursed into. */
    char deep[200];
    memset(deep, '[', sizeof deep);
    memcpy(deep, "{\"a\":", 5);
    deep[sizeof deep - 1] = '\0';
    EXPECT_ERROR(deep, "the body is not a JSON document");
}

static void test_message_rules(void)
{
    EXPECT_ERROR("{}", "\"message\" is required");
    EXPECT_ERROR("{\"message\":null}", "\"message\" is required");
    EXPECT_ERROR("{\"message\":1}", "\"message\" must be a string");
    EXPECT_ERROR("{\"message\":[\"x\"]}", "\"message\" must be a string");
    EXPECT_ERROR("{\"message\":true}", "\"message\" must be a string");
    EXPECT_ERROR("{\"message\":\"\"}", "\"message\" is empty");
    EXPECT_ERROR("{\"message\":\" \\t\\r\\n\\f\\u000b \"}", "\"message\" is empty");
    EXPECT_ERROR("{\"message\":\"a\\u0000b\"}", "\"message\" contains a NUL character");
}

static void test_message_length_in_characters(void)
{
    struct buf b;
    buf_init(&b, 1 << 17);
    struct chatreq r;
    char err[200];
    /* 4000 Hangul syllables (12000 bytes) with whitespace around them: accepted. */
    buf_puts(&b, "{\"message\":\" ");
    for (int i = 0; i < 4000; i++)
        buf_puts(&b, "가");
    buf_puts(&b, " \"}");
    CHECK(chatreq_parse(b.data, b.len, &r, err, sizeof err) == 0);
    CHECK(r.message_chars == 4000 && r.message_len == 12000);
    chatreq_free(&r);
    /* One more character is too long. */
    buf_reset(&b);
    buf_puts(&b, "{\"message\":\"");
    for (int i = 0; i < 4001; i++)
        buf_putc(&b, 'a');
    buf_puts(&b, "\"}");
    CHECK(chatreq_parse(b.data, b.len, &r, err, sizeof err) == -1);
    CHECK_STR_EQ(err, "\"message\" is longer than 4000 characters");
    /* A body over 64 KiB is refused before it is parsed. */
    buf_reset(&b);
    buf_puts(&b, "{\"message\":\"x\",\"pad\":\"");
    while (b.len < CHATREQ_BODY_MAX)
        buf_putc(&b, 'p');
    buf_puts(&b, "\"}");
    CHECK(chatreq_parse(b.data, b.len, &r, err, sizeof err) == -1);
    CHECK_STR_EQ(err, "the body is larger than 65536 bytes");
    buf_free(&b);
}

static void test_ui_lang_and_session(void)
{
    EXPECT_ERROR("{\"message\":\"x\",\"ui_lang\":\"fr\"}", "\"ui_lang\" must be \"ko\" or \"en\"");
    EXPECT_ERROR("{\"message\":\"x\",\"ui_lang\":\"KO\"}", "\"ui_lang\" must be \"ko\" or \"en\"");
    EXPECT_ERROR("{\"message\":\"x\",\"ui_lang\":\"ko \"}", "\"ui_lang\" must be \"ko\" or \"en\"");
    EXPECT_ERROR("{\"message\":\"x\",\"ui_lang\":1}", "\"ui_lang\" must be \"ko\" or \"en\"");
    const char *serr = "\"session_id\" must be 8 to 64 characters of A-Z a-z 0-9 _ -";
    EXPECT_ERROR("{\"message\":\"x\",\"session_id\":\"short7c\"}", serr);
    EXPECT_ERROR("{\"message\":\"x\",\"session_id\":\"has space\"}", serr);
    EXPECT_ERROR("{\"message\":\"x\",\"session_id\":\"../../etc\"}", serr);
    EXPECT_ERROR("{\"message\":\"x\",\"session_id\":12345678}", serr);
    char body[200];
    struct chatreq r;
    char err[200];
    snprintf(body, sizeof body, "{\"message\":\"x\",\"session_id\":\"%.*s\"}", 64,
             "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij0123456789");
    CHECK(parse(body, &r, err) == 0);
    CHECK(strlen(r.session_id) == 64);
    chatreq_free(&r);
    snprintf(body, sizeof body, "{\"message\":\"x\",\"session_id\":\"%.*s\"}", 65,
             "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij0123456789");
    EXPECT_ERROR(body, serr);
    CHECK(chatreq_session_id_valid("12345678", 8));
    CHECK(!chatreq_session_id_valid("1234567\xC3\xA9", 9));
}

static void test_translate_body(void)
{
    struct translatereq t;
    char err[200];
    const char *b = "{\"text\":\"  폴이 레벨업을 못 해요 \",\"target\":\"en\"}";
    CHECK(translatereq_parse(b, strlen(b), &t, err, sizeof err) == 0);
    CHECK_STR_EQ(t.text, "폴이 레벨업을 못 해요");
    CHECK_STR_EQ(t.target, "en");
    translatereq_free(&t);
    b = "{\"text\":\"hello\"}";
    CHECK(translatereq_parse(b, strlen(b), &t, err, sizeof err) == 0);
    CHECK_STR_EQ(t.target, "auto");
    translatereq_free(&t);
    static const char *const bad[] = {"{\"text\":\"x\",\"target\":\"jp\"}",
                                      "{\"text\":\"x\",\"target\":1}", "{\"text\":\"  \"}",
                                      "{\"message\":\"x\"}", "[]", "{\"text\":\"a\\u0000b\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(translatereq_parse(bad[i], strlen(bad[i]), &t, err, sizeof err) < 0);
        CHECK(t.text == NULL && err[0] != '\0');
    }
}

static void test_request_id(void)
{
    CHECK(chatreq_request_id_valid("0123456789abcdef0123456789abcdef", 32));
    CHECK(!chatreq_request_id_valid("0123456789ABCDEF0123456789abcdef", 32));
    CHECK(!chatreq_request_id_valid("0123456789abcdef0123456789abcde", 31));
    CHECK(!chatreq_request_id_valid("0123456789abcdef0123456789abcdef0", 33));
    CHECK(!chatreq_request_id_valid("../3456789abcdef0123456789abcdef", 32));
    CHECK(!chatreq_request_id_valid("%2F3456789abcdef0123456789abcdef", 32));
    CHECK(!chatreq_request_id_valid("", 0));
}

static void test_stream_id(void)
{
    struct stream_id id;
    char s[48];
    CHECK(stream_id_parse("0", 1, &id) == 0 && id.ms == 0 && id.seq == 0);
    CHECK(stream_id_parse("1700000000000-5", 15, &id) == 0);
    CHECK(id.ms == 1700000000000ull && id.seq == 5);
    stream_id_format(&id, s, sizeof s);
    CHECK_STR_EQ(s, "1700000000000-5");
    const char *max = "18446744073709551615-18446744073709551615";
    CHECK(stream_id_parse(max, strlen(max), &id) == 0);
    stream_id_format(&id, s, sizeof s);
    CHECK_STR_EQ(s, max);
    CHECK(stream_id_parse("42", 2, &id) == 0 && id.ms == 42 && id.seq == 0);
    const char *bad[] = {"", "-", "-1", "1-", "1--2", "1-2-3", " 1", "1 ", "+1", "1a", "a",
                         "18446744073709551616", "1-18446744073709551616",
                         "000000000000000000001", "1-0x1", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(stream_id_parse(bad[i], strlen(bad[i]), &id) == -1);
    struct stream_id a = {5, 1}, b = {5, 2}, c = {6, 0};
    CHECK(stream_id_cmp(&a, &b) < 0 && stream_id_cmp(&b, &a) > 0);
    CHECK(stream_id_cmp(&b, &c) < 0 && stream_id_cmp(&c, &c) == 0);
}

static void test_content_type(void)
{
    CHECK(chatreq_content_type_is_json("application/json"));
    CHECK(chatreq_content_type_is_json("Application/JSON; charset=utf-8"));
    CHECK(chatreq_content_type_is_json("  application/json "));
    CHECK(!chatreq_content_type_is_json("application/jsonx"));
    CHECK(!chatreq_content_type_is_json("application/json-seq"));
    CHECK(!chatreq_content_type_is_json("text/plain"));
    CHECK(!chatreq_content_type_is_json(""));
}

static void test_query_param(void)
{
    const char *v;
    size_t n;
    CHECK(chatreq_query_param("after=5-0", "after", &v, &n) == 1 && n == 3 && !strncmp(v, "5-0", 3));
    CHECK(chatreq_query_param("x=1&after=7&y", "after", &v, &n) == 1 && n == 1 && *v == '7');
    CHECK(chatreq_query_param("after=", "after", &v, &n) == 1 && n == 0);
    CHECK(chatreq_query_param("xafter=1&afterx=2", "after", &v, &n) == 0);
    CHECK(chatreq_query_param("after", "after", &v, &n) == 0);
    CHECK(chatreq_query_param("", "after", &v, &n) == 0);
    CHECK(chatreq_query_param("&&after=1", "after", &v, &n) == 1 && *v == '1');
}

int main(void)
{
    RUN(test_lone_surrogate_escapes);
    RUN(test_valid_bodies);
    RUN(test_not_json);
    RUN(test_message_rules);
    RUN(test_message_length_in_characters);
    RUN(test_ui_lang_and_session);
    RUN(test_translate_body);
    RUN(test_request_id);
    RUN(test_stream_id);
    RUN(test_content_type);
    RUN(test_query_param);
    return test_summary();
}
