/* Unit tests for common/product/lang.c: language detection by weighted letters, and the code/name
 * helpers. */
#include "product/lang.h"

#include "test.h"

static enum lang detect(const char *s)
{
    return lang_detect(s, strlen(s));
}

static void test_pure_languages(void)
{
    CHECK(detect("폴이 레벨업을 못 해요") == LANG_KO);
    CHECK(detect("환불은 어떻게 하나요?") == LANG_KO);
    CHECK(detect("How do I get a refund?") == LANG_EN);
    CHECK(detect("My account was banned") == LANG_EN);
}

static void test_mixed_languages(void)
{
    /* 5 syllables weigh 15 against 7 Latin letters. */
    CHECK(detect("폴이 level up 안 돼요") == LANG_KO);
    /* 13 Latin letters against one syllable (3). */
    CHECK(detect("How do I level up 폴?") == LANG_EN);
    CHECK(detect("How do I level 폴?") == LANG_EN);
    CHECK(detect("PvP 매칭이 안 돼요") == LANG_KO);
    CHECK(detect("Where is the 던전 entrance?") == LANG_EN);
    /* A tie (3 letters against one syllable) goes to Korean. */
    CHECK(detect("abc 가") == LANG_KO);
    CHECK(detect("abcd 가") == LANG_EN);
}

static void test_short_texts(void)
{
    CHECK(detect("hi") == LANG_EN);
    CHECK(detect("네") == LANG_KO);
    CHECK(detect("ㅎㅇ") == LANG_KO);  /* jamo only: "hi" in chat shorthand */
    CHECK(detect("ㅋㅋㅋ ok") == LANG_KO);
    CHECK(detect("x") == LANG_EN);
}

static void test_no_letters(void)
{
    CHECK(detect("") == LANG_UNKNOWN);
    CHECK(lang_detect(NULL, 0) == LANG_UNKNOWN);
    CHECK(detect("?") == LANG_UNKNOWN);
    CHECK(detect("12345") == LANG_UNKNOWN);
    CHECK(detect("\xF0\x9F\x98\x80\xF0\x9F\x91\x8D") == LANG_UNKNOWN); /* 😀👍 */
    CHECK(detect("  !!! ... 100% \xE2\x9D\xA4") == LANG_UNKNOWN);
    CHECK(detect("\xE3\x80\x80") == LANG_UNKNOWN); /* ideographic space */
    CHECK(detect("漢字") == LANG_UNKNOWN);         /* neither Korean nor Latin */
}

static void test_other_latin_letters(void)
{
    CHECK(detect("café") == LANG_EN);
    CHECK(detect("\xEF\xBC\xA8\xEF\xBC\xA9") == LANG_EN); /* fullwidth "HI" */
}

static void test_invalid_bytes_do_not_crash(void)
{
    /* Not required by the contract (input is validated), but nothing is read past len. */
    CHECK(lang_detect("\xFF\xFE", 2) == LANG_UNKNOWN);
    CHECK(lang_detect("\xEA\xB0", 2) == LANG_UNKNOWN);      /* a syllable cut short */
    CHECK(lang_detect("\xEA\xB0\x80", 2) == LANG_UNKNOWN);  /* len stops inside it */
    CHECK(lang_detect("a\x80\x80", 3) == LANG_EN);
    CHECK(lang_detect("\xEA" "a", 2) == LANG_EN);
}

static void test_codes_and_names(void)
{
    CHECK_STR_EQ(lang_code(LANG_KO), "ko");
    CHECK_STR_EQ(lang_code(LANG_EN), "en");
    CHECK_STR_EQ(lang_code(LANG_UNKNOWN), "unknown");
    CHECK_STR_EQ(lang_name(LANG_KO), "Korean");
    CHECK_STR_EQ(lang_name(LANG_EN), "English");
    CHECK(lang_name(LANG_UNKNOWN) == NULL);
    CHECK(lang_from_code("ko") == LANG_KO);
    CHECK(lang_from_code("en") == LANG_EN);
    CHECK(lang_from_code("KO") == LANG_UNKNOWN);
    CHECK(lang_from_code("ko ") == LANG_UNKNOWN);
    CHECK(lang_from_code("") == LANG_UNKNOWN);
    CHECK(lang_from_code(NULL) == LANG_UNKNOWN);
    CHECK(lang_from_code(lang_code(LANG_KO)) == LANG_KO);
    CHECK(lang_from_code(lang_code(LANG_EN)) == LANG_EN);
    CHECK(lang_from_code(lang_code(LANG_UNKNOWN)) == LANG_UNKNOWN);
}

int main(void)
{
    RUN(test_pure_languages);
    RUN(test_mixed_languages);
    RUN(test_short_texts);
    RUN(test_no_letters);
    RUN(test_other_latin_letters);
    RUN(test_invalid_bytes_do_not_crash);
    RUN(test_codes_and_names);
    return test_summary();
}
