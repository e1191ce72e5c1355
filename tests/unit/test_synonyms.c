/* Unit tests for common/product/synonyms.c: the shipped file loads; lookups (case, Korean,
 * misses); every rule of the format refused with its line number (no tab, empty terms,
 * blanks in a variant, a variant twice, loops, its own canonical, over-long lines, bad
 * UTF-8, control characters); comments, blank lines and CRLF accepted. */
#include "product/synonyms.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

static struct synonyms *parse(const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return synonyms_parse(text, strlen(text), err, errlen);
}

static void test_shipped(void)
{
    char err[256];
    struct synonyms *s = synonyms_load_file("config/synonyms.tsv", err, sizeof err);
    if (!s)
        fprintf(stderr, "  %s\n", err);
    CHECK(s != NULL);
    CHECK(synonyms_count(s) >= 50);
    CHECK_STR_EQ(synonyms_find(s, "비번", strlen("비번")), "비밀번호");
    CHECK_STR_EQ(synonyms_find(s, "pasword", 7), "password");
    synonyms_free(s);
    s = synonyms_load_file("/nonexistent/synonyms.tsv", err, sizeof err);
    CHECK(s == NULL && strstr(err, "/nonexistent/synonyms.tsv") != NULL);
}

static void test_find(void)
{
    char err[256];
    struct synonyms *s = parse("# comment\n\n비밀번호\t비번, 비빌번호\r\n"
                               "two-step verification\t2fa,  2SV ,otp\n   \n",
                               err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK(synonyms_count(s) == 5);
    CHECK_STR_EQ(synonyms_find(s, "비빌번호", strlen("비빌번호")), "비밀번호");
    CHECK_STR_EQ(synonyms_find(s, "2SV", 3), "two-step verification"); /* ASCII case */
    CHECK_STR_EQ(synonyms_find(s, "Otp", 3), "two-step verification");
    CHECK(synonyms_find(s, "비밀번호", strlen("비밀번호")) == NULL); /* canonical: nothing */
    CHECK(synonyms_find(s, "비", strlen("비")) == NULL);           /* no prefix matches */
    CHECK(synonyms_find(s, "", 0) == NULL);
    CHECK(synonyms_find(NULL, "2fa", 3) == NULL);
    synonyms_free(s);
    s = parse("", err, sizeof err); /* an empty file: no synonyms, no error */
    CHECK(s != NULL && synonyms_count(s) == 0);
    synonyms_free(s);
}

static void refused(const char *text, const char *want)
{
    char err[256];
    struct synonyms *s = parse(text, err, sizeof err);
    CHECK(s == NULL);
    if (!strstr(err, want)) {
        fprintf(stderr, "  want \"%s\" in \"%s\"\n", want, err);
        CHECK(!"the error names the line and the rule");
    }
    synonyms_free(s);
}

static void test_refused(void)
{
    refused("a\tb\nno tab here\n", "line 2: want \"canonical<TAB>");
    refused("\tvariant\n", "line 1: the canonical term is empty");
    refused("canon\tx,,y\n", "line 1: variant 2 is empty");
    refused("canon\t\n", "line 1: variant 1 is empty");
    refused("canon\tx, two words\n", "line 1: variant 2 (\"two words\") has a blank");
    refused("canon\tx\tmore\n", "line 1: one tab only");
    refused("a\tx\n#\nb\tX\n", "line 3: variant \"x\" is listed again (line 1)");
    refused("password\tpw\npw\tpwd\n", "line 1: \"pw\" is a variant here and a canonical term "
                                       "on line 2 (a loop)");
    refused("password\tpw, Password\n", "line 1: variant \"password\" is its canonical term");
    refused("a\tb\nc\t\xff\xfe\n", "line 2: not valid UTF-8");
    refused("a\tb\x01\n", "line 1: a control character");
    char *long_line = malloc(SYNONYMS_LINE_MAX + 16);
    memset(long_line, 'x', SYNONYMS_LINE_MAX + 16);
    memcpy(long_line, "ok\tok2\n", 7);
    long_line[SYNONYMS_LINE_MAX + 8] = '\0';
    long_line[10] = '\t';
    refused(long_line, "line 2: longer than 1024 bytes");
    free(long_line);
    char big[300];
    memset(big, 'y', sizeof big);
    memcpy(big, "c\t", 2);
    big[sizeof big - 1] = '\0';
    refused(big, "longer than 120 bytes");
}

int main(void)
{
    RUN(test_shipped);
    RUN(test_find);
    RUN(test_refused);
    return test_summary();
}
