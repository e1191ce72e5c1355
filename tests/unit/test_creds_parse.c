/* test_creds_parse: the credential parsers of creds_parse.c (no I/O): the INI credentials
 * file, the metadata JSON with its ISO 8601 Expiration, value checks and masking. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "aws/creds_parse.h"
#include "test.h"

#define T_2026 1795694400 /* 2026-11-26T12:00:00Z */

static const char ini_text[] =
    "# a comment\n"
    "; another comment\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=secretdefault   \n"
    "\n"
    "  [ work ]  \r\n"
    "  AWS_Access_Key_ID   =   AKIDWORK   # inline comment\r\n"
    "\taws_secret_access_key\t=\tsecretwork\r\n"
    "aws_session_token = tokwork;notacomment\r\n"
    "region = ap-northeast-1\n"
    "[nosecret]\n"
    "aws_access_key_id = AKIDX\n"
    "[default-ish]\n"
    "aws_access_key_id = WRONG\n";

static void test_shared_file_parse(void)
{
    struct aws_creds a;
    char err[256];
    CHECK(creds_parse_shared_file(ini_text, strlen(ini_text), "default", &a, err, sizeof err) ==
          0);
    CHECK_STR_EQ(a.access_key_id, "AKIDDEFAULT");
    CHECK_STR_EQ(a.secret_access_key, "secretdefault");
    CHECK_STR_EQ(a.session_token, "");
    CHECK_STR_EQ(a.source, "shared-file");

    CHECK(creds_parse_shared_file(ini_text, strlen(ini_text), "work", &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.access_key_id, "AKIDWORK");
    CHECK_STR_EQ(a.secret_access_key, "secretwork");
    CHECK_STR_EQ(a.session_token, "tokwork;notacomment");

    CHECK(creds_parse_shared_file(ini_text, strlen(ini_text), "nope", &a, err, sizeof err) == -1);
    CHECK_STR_EQ(err, "no profile \"nope\"");
    CHECK(creds_parse_shared_file(ini_text, strlen(ini_text), "nosecret", &a, err, sizeof err) ==
          -1);
    CHECK_STR_EQ(err, "profile \"nosecret\" has no aws_secret_access_key");

    char big[CREDS_KEY_MAX + 80];
    int n = snprintf(big, sizeof big, "[default]\naws_secret_access_key=s\naws_access_key_id=");
    memset(big + n, 'A', CREDS_KEY_MAX);
    CHECK(creds_parse_shared_file(big, (size_t)n + CREDS_KEY_MAX, "default", &a, err,
                                  sizeof err) == -1);
    CHECK(strstr(err, "aws_access_key_id too long"));
    CHECK(creds_parse_shared_file("", 0, "default", &a, err, sizeof err) == -1);
}

static void test_parse_json(void)
{
    struct aws_creds a;
    char err[256];
    const char *ok = "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-26T11:00:00Z\","
                     "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s/k+\","
                     "\"Token\":\"t==\",\"Expiration\":\"2026-11-26T12:00:00Z\"}";
    CHECK(creds_parse_json(ok, strlen(ok), &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.access_key_id, "ASIAX");
    CHECK_STR_EQ(a.secret_access_key, "s/k+");
    CHECK_STR_EQ(a.session_token, "t==");
    CHECK(a.expiration == T_2026);
    const char *ecs = " {\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"} \n";
    CHECK(creds_parse_json(ecs, strlen(ecs), &a, err, sizeof err) == 0);
    CHECK(a.expiration == 0 && a.session_token[0] == '\0');

    static const struct {
        const char *json, *want;
    } bad[] = {
        {"", "truncated"},
        {"not json", "credentials JSON:"},
        {"{\"AccessKeyId\":\"A\"", "truncated"},
        {"[1,2]", "not an object"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"} x", "trailing bytes"},
        {"{\"SecretAccessKey\":\"S\"}", "AccessKeyId missing"},
        {"{\"AccessKeyId\":\"A\"}", "SecretAccessKey missing"},
        {"{\"AccessKeyId\":7,\"SecretAccessKey\":\"S\"}", "AccessKeyId is not a string"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":null}",
         "Token is not a string"},
        {"{\"AccessKeyId\":\"A\\u0000B\",\"SecretAccessKey\":\"S\"}", "non-printable"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\\r\\nX\"}", "non-printable"},
        {"{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"S\"}", "AccessKeyId is empty"},
        {"{\"Code\":\"Failure\",\"Message\":\"denied\"}", "Code \"Failure\": denied"},
        {"{\"Code\":1}", "Code \"?\""},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
         "Expiration is not an ISO 8601 time"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = creds_parse_json(bad[i].json, strlen(bad[i].json), &a, err, sizeof err);
        CHECK(rc == -1);
        if (rc != -1 || !strstr(err, bad[i].want))
            fprintf(stderr, "  case %zu: got [%s], want [%s]\n", i, err, bad[i].want);
        CHECK(a.access_key_id[0] == '\0');
    }
    CHECK(creds_parse_json("{}\0{}", 5, &a, err, sizeof err) == -1);

    /* Overlong values: each field against its own size. */
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b, "{\"AccessKeyId\":\"%0*d\",\"SecretAccessKey\":\"S\"}", CREDS_KEY_MAX, 0);
    CHECK(creds_parse_json(b.data, b.len, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "AccessKeyId too long (128 bytes, max 127)"));
    buf_reset(&b);
    buf_printf(&b, "{\"AccessKeyId\":\"%0*d\",\"SecretAccessKey\":\"S\",\"Token\":\"%0*d\"}",
               CREDS_KEY_MAX - 1, 0, CREDS_TOKEN_MAX - 1, 0);
    CHECK(creds_parse_json(b.data, b.len, &a, err, sizeof err) == 0);
    buf_reset(&b);
    buf_printf(&b, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"%0*d\"}",
               CREDS_TOKEN_MAX + 900, 0);
    CHECK(creds_parse_json(b.data, b.len, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "Token too long"));
    buf_free(&b);
}

static void test_parse_timestamps(void)
{
    static const struct {
        const char *ts;
        long long want; /* -1: rejected */
    } cases[] = {
        {"2026-11-26T12:00:00Z", T_2026},
        {"2026-11-26T12:00:00.5Z", T_2026},
        {"2026-11-26T12:00:00.123456789Z", T_2026},
        {"2026-11-26T12:00:00+00:00", T_2026},
        {"2026-11-26T12:00:00.250+00:00", T_2026},
        {"2026-11-26T14:30:00+02:30", T_2026},
        {"2026-11-26T07:00:00-05:00", T_2026},
        {"2026-11-26t12:00:00z", T_2026},
        {"2028-02-29T00:00:00Z", 1835395200},
        {"2026-11-26T12:00:00", -1},
        {"2026-11-26 12:00:00Z", -1},
        {"2026-13-26T12:00:00Z", -1},
        {"2026-02-29T12:00:00Z", -1},
        {"2026-11-31T12:00:00Z", -1},
        {"2026-11-26T24:00:00Z", -1},
        {"2026-11-26T12:00:00.Z", -1},
        {"2026-11-26T12:00:00+0000", -1},
        {"2026-11-26T12:00:00Zjunk", -1},
        {"26-11-26T12:00:00Z", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256], err[256];
        struct aws_creds a;
        snprintf(json, sizeof json,
                 "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"%s\"}",
                 cases[i].ts);
        int rc = creds_parse_json(json, strlen(json), &a, err, sizeof err);
        bool good = cases[i].want < 0 ? rc == -1 : rc == 0 && a.expiration == cases[i].want;
        CHECK(good);
        if (!good)
            fprintf(stderr, "  timestamp [%s]: rc %d, expiration %lld\n", cases[i].ts, rc,
                    (long long)a.expiration);
    }
}

static void test_mask(void)
{
    char out[32];
    CHECK_STR_EQ(creds_mask("AKIAIOSFODNN7EXAMPLE", out, sizeof out), "AKIA****");
    CHECK_STR_EQ(creds_mask("", out, sizeof out), "(unset)");
    CHECK_STR_EQ(creds_mask(NULL, out, sizeof out), "(unset)");
    CHECK_STR_EQ(creds_mask("short", out, sizeof out), "****");
}

int main(void)
{
    RUN(test_shared_file_parse);
    RUN(test_parse_json);
    RUN(test_parse_timestamps);
    RUN(test_mask);
    return test_summary();
}
