/* Unit tests for common/core/utf8.c: validity, whole-character prefixes, sanitising. */
#include "core/utf8.h"

#include <stdlib.h>

#include "test.h"

static void test_valid_accepts_korean_and_emoji(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid("abc", 3));
    const char *ko = "폴이 레벨업을 못 해요";
    CHECK(utf8_valid(ko, strlen(ko)));
    const char *emoji = "ok \xF0\x9F\x99\x82";
    CHECK(utf8_valid(emoji, strlen(emoji)));
}

static void test_valid_rejects_malformed(void)
{
    CHECK(!utf8_valid("\x80", 1));             /* lone continuation */
    CHECK(!utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    CHECK(!utf8_valid("\xE0\x80\xAF", 3));     /* overlong 3-byte */
    CHECK(!utf8_valid("\xED\xA0\x80", 3));     /* surrogate U+D800 */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!utf8_valid("\xED\x8F", 2));         /* truncated */
    CHECK(!utf8_valid("\xFF", 1));
}

static void test_whole_prefix_at_every_cut(void)
{
    const char *s = "가a나\xF0\x9F\x99\x82"; /* 3 + 1 + 3 + 4 bytes */
    size_t n = strlen(s);
    /* For every cut, the whole prefix ends on a character boundary at or before the cut. */
    const size_t boundaries[] = {0, 3, 4, 7, 11};
    for (size_t cut = 0; cut <= n; cut++) {
        size_t want = 0;
        for (size_t i = 0; i < 5; i++)
            if (boundaries[i] <= cut)
                want = boundaries[i];
        CHECK(utf8_whole_prefix(s, cut) == want);
    }
}

static void test_whole_prefix_passes_garbage_through(void)
{
    /* Invalid bytes are not "waiting for more": they are passed on (and sanitised later). */
    CHECK(utf8_whole_prefix("\x80\x80\x80\x80\x80", 5) == 5);
    CHECK(utf8_whole_prefix("a\xFF", 2) == 2);
}

static void test_sanitize_replaces_bad_bytes(void)
{
    struct buf b;
    buf_init(&b, 1024);
    CHECK(utf8_append_sanitized(&b, "a\xFF" "b\xED\xA0\x80" "가", 9) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "가");
    CHECK(utf8_valid(b.data, b.len));
    buf_free(&b);
}

static void test_char_len(void)
{
    CHECK(utf8_char_len("a", 1) == 1);
    CHECK(utf8_char_len("\xED\x8F\xB4", 3) == 3);       /* 폴 */
    CHECK(utf8_char_len("\xF0\x9F\x98\x80!", 5) == 4); /* an emoji, then more */
    CHECK(utf8_char_len("", 0) == 0);
    CHECK(utf8_char_len("\x80", 1) == 0);                /* a stray continuation */
    CHECK(utf8_char_len("\xED\x8F", 2) == 0);            /* cut */
    CHECK(utf8_char_len("\xC0\xAF", 2) == 0);            /* overlong */
    CHECK(utf8_char_len("\xED\xA0\x80", 3) == 0);       /* a surrogate */
}

static void test_count(void)
{
    const char *s = "폴a🙂";
    CHECK(utf8_count(s, strlen(s)) == 3);
}

int main(void)
{
    RUN(test_valid_accepts_korean_and_emoji);
    RUN(test_valid_rejects_malformed);
    RUN(test_whole_prefix_at_every_cut);
    RUN(test_whole_prefix_passes_garbage_through);
    RUN(test_sanitize_replaces_bad_bytes);
    RUN(test_char_len);
    RUN(test_count);
    return test_summary();
}
