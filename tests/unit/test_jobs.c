/* test_jobs: common/redis/job.c, events.c and append.c — the job JSON both ways (and every
 * rejection), the event data shapes of API.md, the published-message parser, the append
 * script. (What a Bedrock call makes of a job: test_call.c.) */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "core/alloc.h"
#include "redis/append.h"
#include "redis/events.h"
#include "redis/job.h"
#include "test.h"

static void make_model_job(struct job *j)
{
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "req-0123456789abcdef-answer-micro");
    snprintf(j->request, sizeof j->request, "req-0123456789abcdef");
    j->queue = QUEUE_MICRO;
    snprintf(j->phase, sizeof j->phase, "answer");
    j->model = MODEL_MICRO;
    snprintf(j->model_id, sizeof j->model_id, "amazon.nova-micro-v1:0");
    j->system = xstrdup("You are a support agent.\n<document index=\"1\" title=\"레벨업\">폴"
                        "</document>\n\"quoted\" \\ back\tslash");
    j->cache_point = true;
    const char *texts[] = {"폴이 레벨업을 못 해요", "경험치를 확인해 보세요.", "아직 안 돼요 🙂"};
    const char *roles[] = {"user", "assistant", "user"};
    for (int i = 0; i < 3; i++) {
        j->messages[i].role = xstrdup(roles[i]);
        j->messages[i].text = xstrdup(texts[i]);
    }
    j->n_messages = 3;
    j->max_tokens = 1024;
    j->temperature = 0.3;
    j->top_p = 0.9;
    j->created_ms = 1764150000000LL;
    j->deadline_ms = 1764150300000LL;
}

static bool jobs_equal(const struct job *a, const struct job *b)
{
    if (strcmp(a->id, b->id) || strcmp(a->request, b->request) || a->queue != b->queue ||
        strcmp(a->phase, b->phase) || (a->queue != QUEUE_KB && a->model != b->model) ||
        strcmp(a->model_id, b->model_id) || strcmp(a->kb_id, b->kb_id) ||
        (!a->system) != (!b->system) || (a->system && strcmp(a->system, b->system)) ||
        strcmp(a->system_sha256, b->system_sha256) ||
        (!a->query) != (!b->query) || (a->query && strcmp(a->query, b->query)) ||
        a->cache_point != b->cache_point || a->n_messages != b->n_messages ||
        a->max_tokens != b->max_tokens || a->temperature != b->temperature ||
        a->top_p != b->top_p || a->created_ms != b->created_ms ||
        a->deadline_ms != b->deadline_ms || a->n_results != b->n_results)
        return false;
    for (size_t i = 0; i < a->n_messages; i++)
        if (strcmp(a->messages[i].role, b->messages[i].role) ||
            strcmp(a->messages[i].text, b->messages[i].text))
            return false;
    return true;
}

/* to_json → from_json → equal, and the second serialisation is byte-identical. */
static void check_round_trip(struct job *j)
{
    struct buf a, b;
    buf_init(&a, 1u << 20);
    buf_init(&b, 1u << 20);
    CHECK(job_to_json(j, &a) == 0);
    struct job back;
    char err[256] = "";
    int rc = job_from_json(a.data, a.len, &back, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0)
        fprintf(stderr, "    %s\n    %s\n", err, a.data);
    if (rc == 0) {
        CHECK(jobs_equal(j, &back));
        CHECK(job_to_json(&back, &b) == 0);
        CHECK_STR_EQ(buf_cstr(&b), buf_cstr(&a));
        job_free(&back);
    }
    buf_free(&a);
    buf_free(&b);
}

static void test_model_job_round_trip(void)
{
    struct job j;
    make_model_job(&j);
    check_round_trip(&j);
    struct buf out;
    buf_init(&out, 1u << 20);
    job_to_json(&j, &out);
    /* doubles in their short form; the non-ASCII text raw, not \u-escaped */
    CHECK(strstr(out.data, "\"temperature\":0.3,") != NULL);
    CHECK(strstr(out.data, "\"top_p\":0.9,") != NULL);
    CHECK(strstr(out.data, "폴이 레벨업을") != NULL);
    CHECK(strncmp(out.data, "{\"v\":1,\"id\":", 12) == 0);
    buf_free(&out);
    /* odd doubles survive exactly */
    j.temperature = 0.1234567890123456;
    j.top_p = 1.0 / 3.0;
    check_round_trip(&j);
    j.temperature = 0;
    j.top_p = 1;
    check_round_trip(&j);
    job_free(&j);
}

static void test_minimal_job_defaults(void)
{
    const char *txt = "{\"v\":1,\"id\":\"r1-answer-pro\",\"request\":\"r1\",\"queue\":\"pro\","
                      "\"phase\":\"answer\",\"model\":\"pro\","
                      "\"model_id\":\"amazon.nova-pro-v1:0\","
                      "\"messages\":[{\"role\":\"user\",\"text\":\"hi\"}],\"created_ms\":1,"
                      "\"deadline_ms\":2,\"future_field\":{\"x\":[1,2]},\"system\":null}";
    struct job j;
    char err[256];
    CHECK(job_from_json(txt, strlen(txt), &j, err, sizeof err) == 0);
    CHECK(j.system == NULL);
    CHECK(!j.cache_point);
    CHECK(j.max_tokens == 0);
    CHECK(j.temperature == -1 && j.top_p == -1);
    CHECK(j.n_messages == 1);
    CHECK_STR_EQ(j.messages[0].role, "user");
    check_round_trip(&j);

    job_free(&j);

    /* trailing blanks after the object are fine; an empty system is no system */
    const char *txt2 = "{\"v\":1,\"id\":\"a\",\"request\":\"r\",\"queue\":\"micro\","
                       "\"phase\":\"x\",\"model\":\"micro\",\"model_id\":\"m\",\"system\":\"\","
                       "\"messages\":[{\"role\":\"user\",\"text\":\"q\"}],"
                       "\"created_ms\":1,\"deadline_ms\":1}\n ";
    CHECK(job_from_json(txt2, strlen(txt2), &j, err, sizeof err) == 0);
    CHECK(j.system == NULL);
    job_free(&j);
}

static void test_kb_job_round_trip(void)
{
    struct job j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "r2-kb");
    snprintf(j.request, sizeof j.request, "r2");
    j.queue = QUEUE_KB;
    snprintf(j.phase, sizeof j.phase, "retrieve");
    snprintf(j.kb_id, sizeof j.kb_id, "KBID12345");
    j.query = xstrdup("환불 정책 refund");
    j.n_results = 5;
    j.temperature = j.top_p = -1;
    j.created_ms = 10;
    j.deadline_ms = 20;
    check_round_trip(&j);
    job_free(&j);

    const char *txt = "{\"v\":1,\"id\":\"k\",\"request\":\"r\",\"queue\":\"kb\",\"query\":\"q\","
                      "\"created_ms\":1,\"deadline_ms\":1}";
    char err[256];
    CHECK(job_from_json(txt, strlen(txt), &j, err, sizeof err) == 0);
    CHECK(j.n_results == 5 && j.kb_id[0] == '\0' && j.phase[0] == '\0');
    CHECK_STR_EQ(j.query, "q");
    job_free(&j);
}

/* A valid model job with one field replaced by `field` (a "key":value text, or "" to drop). */
static char *job_with(const char *drop, const char *field)
{
    static const char *const base[] = {
        "\"v\":1", "\"id\":\"r-answer-micro\"", "\"request\":\"r\"", "\"queue\":\"micro\"",
        "\"phase\":\"answer\"", "\"model\":\"micro\"", "\"model_id\":\"amazon.nova-micro-v1:0\"",
        "\"messages\":[{\"role\":\"user\",\"text\":\"hi\"}]", "\"created_ms\":1",
        "\"deadline_ms\":2"};
    struct buf b;
    buf_init(&b, 1u << 22);
    buf_putc(&b, '{');
    bool first = true;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        if (drop && strncmp(base[i] + 1, drop, strlen(drop)) == 0 &&
            base[i][1 + strlen(drop)] == '"')
            continue;
        buf_printf(&b, "%s%s", first ? "" : ",", base[i]);
        first = false;
    }
    if (field && *field)
        buf_printf(&b, ",%s", field);
    buf_putc(&b, '}');
    return buf_steal(&b, NULL);
}

static void expect_reject(const char *what, const char *text, size_t len)
{
    struct job j;
    char err[256] = "";
    memset(&j, 0x5A, sizeof j);
    int rc = job_from_json(text, len, &j, err, sizeof err);
    if (rc != -1 || !err[0])
        fprintf(stderr, "    accepted (%.100s): %.100s\n", what, text);
    CHECK(rc == -1);
    CHECK(err[0] != '\0');
    CHECK(j.system == NULL && j.query == NULL && j.n_messages == 0); /* nothing to free */
    if (rc == 0)
        job_free(&j);
}

static void reject_with(const char *drop, const char *field)
{
    char *t = job_with(drop, field);
    expect_reject(field && *field ? field : drop, t, strlen(t));
    free(t);
}

static void test_job_rejections(void)
{
    char *ok = job_with(NULL, NULL);
    struct job j;
    char err[256];
    CHECK(job_from_json(ok, strlen(ok), &j, err, sizeof err) == 0); /* the base is valid */
    job_free(&j);
    free(ok);

    /* not one JSON object */
    static const char *const bad_docs[] = {
        "", "null", "[]", "\"job\"", "42", "{", "{\"v\":1", "{}{}", "{} x", "{'v':1}",
        "{\"v\":1,}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"};
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++)
        expect_reject(bad_docs[i], bad_docs[i], strlen(bad_docs[i]));
    expect_reject("NUL byte", "{\"v\":1}\0{}", 10);

    /* every required field missing */
    static const char *const required[] = {"v", "id", "request", "queue", "phase", "model",
                                           "model_id", "messages", "created_ms", "deadline_ms"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        reject_with(required[i], "");

    /* wrong types, ranges, characters, lengths (a later duplicate key wins in json-c) */
    static const char *const bad_fields[] = {
        "\"v\":3", "\"v\":0", "\"v\":\"1\"", "\"v\":1.0", "\"id\":\"\"", "\"id\":\"a b\"",
        "\"id\":\"a{b}\"", "\"id\":\"a/b\"", "\"id\":7", "\"request\":\"r\\n\"",
        "\"queue\":\"kbx\"", "\"queue\":\"\"", "\"phase\":\"a-b\"", "\"phase\":\"\"",
        "\"model\":\"lite\"", "\"model\":true", "\"model_id\":\"a b\"", "\"model_id\":\"\"",
        "\"system\":5", "\"system\":[\"x\"]", "\"system\":\"a\\u0000b\"",
"\"cache_point\":\"yes\"", "\"cache_point\":1",
        "\"messages\":[]", "\"messages\":{}", "\"messages\":[\"hi\"]",
        "\"messages\":[{\"role\":\"system\",\"text\":\"x\"}]",
        "\"messages\":[{\"role\":\"user\"}]", "\"messages\":[{\"text\":\"x\"}]",
        "\"messages\":[{\"role\":\"user\",\"text\":\"\"}]",
        "\"messages\":[{\"role\":\"user\",\"text\":5}]",
        "\"messages\":[{\"role\":\"User\",\"text\":\"x\"}]", "\"max_tokens\":0",
        "\"max_tokens\":10001", "\"max_tokens\":1.5", "\"max_tokens\":\"5\"",
        "\"max_tokens\":99999999999999999999999", "\"temperature\":1.5",
        "\"temperature\":-0.1", "\"temperature\":\"0.3\"", "\"temperature\":NaN",
        "\"top_p\":2", "\"top_p\":1e999", "\"created_ms\":0", "\"created_ms\":-5",
        "\"created_ms\":99999999999999", "\"deadline_ms\":\"2\"", "\"deadline_ms\":2.5",
    };
    for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++)
        reject_with(NULL, bad_fields[i]);

    /* invalid UTF-8 straight in a string */
    reject_with(NULL, "\"system\":\"\xff\xfe\"");
    reject_with(NULL, "\"messages\":[{\"role\":\"user\",\"text\":\"\xc3\"}]");

    /* lengths: fixed fields at their size, text totals, the raw input */
    char big[1024];
    memset(big, 'a', sizeof big);
    char field[1200];
    snprintf(field, sizeof field, "\"id\":\"%.*s\"", JOB_ID_MAX, big);
    reject_with(NULL, field);
    snprintf(field, sizeof field, "\"id\":\"%.*s\"", JOB_ID_MAX - 1, big);
    char *t = job_with(NULL, field);
    CHECK(job_from_json(t, strlen(t), &j, err, sizeof err) == 0); /* one less fits */
    job_free(&j);
    free(t);
    snprintf(field, sizeof field, "\"request\":\"%.*s\"", 80, big);
    reject_with(NULL, field);
    snprintf(field, sizeof field, "\"model_id\":\"%.*s\"", 256, big);
    reject_with(NULL, field);

    struct buf b;
    buf_init(&b, 1u << 22);
    buf_puts(&b, "\"system\":\"");
    for (unsigned i = 0; i < 130000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\",\"messages\":[{\"role\":\"user\",\"text\":\"");
    for (unsigned i = 0; i < 133000; i++)
        buf_putc(&b, 'y');
    buf_puts(&b, "\"}]");
    reject_with("messages", buf_cstr(&b)); /* over JOB_MAX_BYTES in total */
    buf_free(&b);

    buf_init(&b, 1u << 22);
    buf_puts(&b, "\"messages\":[");
    for (int i = 0; i < JOB_MAX_MESSAGES + 1; i++)
        buf_printf(&b, "%s{\"role\":\"user\",\"text\":\"m%d\"}", i ? "," : "", i);
    buf_puts(&b, "]");
    reject_with("messages", buf_cstr(&b));
    buf_free(&b);

    /* kb jobs */
    static const char *const bad_kb[] = {
        "{\"v\":1,\"id\":\"k\",\"request\":\"r\",\"queue\":\"kb\",\"created_ms\":1,"
        "\"deadline_ms\":1}",
        "{\"v\":1,\"id\":\"k\",\"request\":\"r\",\"queue\":\"kb\",\"query\":\"\",\"created_ms\":1,"
        "\"deadline_ms\":1}",
        "{\"v\":1,\"id\":\"k\",\"request\":\"r\",\"queue\":\"kb\",\"query\":\"q\",\"n\":0,"
        "\"created_ms\":1,\"deadline_ms\":1}",
        "{\"v\":1,\"id\":\"k\",\"request\":\"r\",\"queue\":\"kb\",\"query\":\"q\",\"n\":101,"
        "\"created_ms\":1,\"deadline_ms\":1}",
        "{\"v\":1,\"id\":\"k\",\"request\":\"r\",\"queue\":\"kb\",\"query\":\"q\","
        "\"kb_id\":\"a b\",\"created_ms\":1,\"deadline_ms\":1}",
    };
    for (size_t i = 0; i < sizeof bad_kb / sizeof bad_kb[0]; i++)
        expect_reject(bad_kb[i], bad_kb[i], strlen(bad_kb[i]));
}

/* A job that names its system prompt: v 2, "system_sha256" instead of "system". */
static void test_named_prompt_job(void)
{
    char name[JOB_SHA256_HEX + 1];
    job_prompt_name("abc", 3, name); /* FIPS 180-2's example */
    CHECK_STR_EQ(name, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(job_sha256_valid(name, strlen(name)));
    CHECK(!job_sha256_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", 64));
    CHECK(!job_sha256_valid(name, 63));
    struct job j;
    make_model_job(&j);
    char full[JOB_SHA256_HEX + 1];
    job_prompt_name(j.system, strlen(j.system), full);
    memcpy(j.system_sha256, full, sizeof full);
    /* Named, the text is not sent even when the producer still has it (a worker's dead
     * letter of a job it resolved). */
    struct buf out;
    buf_init(&out, 1u << 20);
    CHECK(job_to_json(&j, &out) == 0);
    CHECK(strncmp(out.data, "{\"v\":2,\"id\":", 12) == 0);
    CHECK(strstr(out.data, "\"system\":") == NULL && strstr(out.data, full) != NULL);
    struct job back;
    char err[256] = "";
    CHECK(job_from_json(out.data, out.len, &back, err, sizeof err) == 0);
    CHECK(back.system == NULL && strcmp(back.system_sha256, full) == 0);
    CHECK(back.cache_point && back.n_messages == 3);
    check_round_trip(&back);
    job_free(&back);
    buf_free(&out);
    /* Rejected: both at once, a name that is not 64 lowercase hex digits. */
    const char *tmpl = "{\"v\":2,\"id\":\"a\",\"request\":\"r\",\"queue\":\"micro\","
                       "\"phase\":\"x\",\"model\":\"micro\",\"model_id\":\"m\",%s"
                       "\"messages\":[{\"role\":\"user\",\"text\":\"hi\"}],"
                       "\"created_ms\":1,\"deadline_ms\":2}";
    char field[300], text[1000];
    const char *bad[] = {"\"system\":\"x\",\"system_sha256\":\"%s\",",
                         "\"system_sha256\":\"%.63s\",", "\"system_sha256\":\"%sa\",",
                         "\"system_sha256\":\"%.63sG\",", "\"system_sha256\":5,%.0s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(field, sizeof field, bad[i], full);
        snprintf(text, sizeof text, tmpl, field);
        expect_reject(field, text, strlen(text));
    }
    char upper[JOB_SHA256_HEX + 1];
    for (int i = 0; i <= JOB_SHA256_HEX; i++)
        upper[i] = (char)(full[i] >= 'a' && full[i] <= 'f' ? full[i] - 32 : full[i]);
    snprintf(field, sizeof field, "\"system_sha256\":\"%s\",", upper);
    snprintf(text, sizeof text, tmpl, field);
    if (strcmp(upper, full) != 0)
        expect_reject("upper-case name", text, strlen(text));
    /* Accepted: v 2 with a name; v 1 knows no names (an unknown key, ignored). */
    snprintf(field, sizeof field, "\"system_sha256\":\"%s\",", full);
    snprintf(text, sizeof text, tmpl, field);
    CHECK(job_from_json(text, strlen(text), &back, err, sizeof err) == 0);
    CHECK(strcmp(back.system_sha256, full) == 0 && !back.system);
    job_free(&back);
    text[5] = '1';
    CHECK(job_from_json(text, strlen(text), &back, err, sizeof err) == 0);
    CHECK(back.system_sha256[0] == '\0' && !back.system);
    job_free(&back);
    job_free(&j);
}

/* A finished job's receipt: the job without its prompts and messages, and no job. */
static void test_job_receipt(void)
{
    struct job j;
    make_model_job(&j);
    job_prompt_name(j.system, strlen(j.system), j.system_sha256);
    struct buf out;
    buf_init(&out, 4096);
    CHECK(job_receipt_json(&j, &out) == 0);
    json_object *o = json_tokener_parse(buf_cstr(&out)), *v;
    CHECK(o != NULL);
    CHECK(json_object_object_get_ex(o, "id", &v) && strcmp(json_object_get_string(v), j.id) == 0);
    CHECK(json_object_object_get_ex(o, "model_id", &v) &&
          strcmp(json_object_get_string(v), "amazon.nova-micro-v1:0") == 0);
    CHECK(json_object_object_get_ex(o, "system_sha256", &v) &&
          strcmp(json_object_get_string(v), j.system_sha256) == 0);
    CHECK(json_object_object_get_ex(o, "deadline_ms", &v) &&
          json_object_get_int64(v) == 1764150300000LL);
    CHECK(!json_object_object_get_ex(o, "messages", NULL) &&
          !json_object_object_get_ex(o, "system", NULL));
    CHECK(out.len < 512);
    json_object_put(o);
    struct job back;
    char err[256];
    CHECK(job_from_json(out.data, out.len, &back, err, sizeof err) == -1);
    buf_free(&out);
    job_free(&j);
}

static void test_job_to_json_refuses_bad_text(void)
{
    struct job j;
    make_model_job(&j);
    free((char *)j.messages[1].text);
    j.messages[1].text = xstrdup("bad \xff byte");
    struct buf out;
    buf_init(&out, 1u << 20);
    CHECK(job_to_json(&j, &out) == -1);
    buf_free(&out);
    buf_init(&out, 16); /* too small */
    CHECK(job_to_json(&j, &out) == -1);
    buf_free(&out);
    job_free(&j);
}

static void test_id_valid(void)
{
    CHECK(job_id_valid("0123abcd-answer-micro", 21));
    CHECK(job_id_valid("a.b:c_D-9", 9));
    CHECK(!job_id_valid("", 0));
    CHECK(!job_id_valid("a b", 3));
    CHECK(!job_id_valid("a{b}", 4));
    CHECK(!job_id_valid("ü", 2));
}

/* ---- events ----------------------------------------------------------------------------- */

static void test_event_delta_shape(void)
{
    struct buf b;
    buf_init(&b, 4096);
    const char *t = "폴은 \"레벨\"\n/x";
    CHECK(event_delta_json(&b, "answer", "micro", t, strlen(t)) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "{\"phase\":\"answer\",\"model\":\"micro\","
                               "\"text\":\"폴은 \\\"레벨\\\"\\n/x\"}");
    buf_reset(&b);
    CHECK(event_delta_json(&b, "staff_ko", "pro", "a\xff", 2) == 0); /* never invalid JSON */
    CHECK_STR_EQ(buf_cstr(&b),
                 "{\"phase\":\"staff_ko\",\"model\":\"pro\",\"text\":\"a\xef\xbf\xbd\"}");
    buf_free(&b);
}

static void test_event_error_shape(void)
{
    struct buf b;
    buf_init(&b, 4096);
    CHECK(event_error_json(&b, "answer", "micro", "throttled", "slow down", true) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "{\"phase\":\"answer\",\"model\":\"micro\",\"code\":\"throttled\","
                               "\"message\":\"slow down\",\"retryable\":true}");
    buf_reset(&b);
    CHECK(event_error_json(&b, NULL, "", "canceled", "stopped", false) == 0);
    CHECK_STR_EQ(buf_cstr(&b),
                 "{\"code\":\"canceled\",\"message\":\"stopped\",\"retryable\":false}");
    buf_reset(&b);
    b.max = 10;
    CHECK(event_error_json(&b, "answer", "micro", "x", "y", false) == -1);
    buf_free(&b);
}

static void test_event_notice_shape(void)
{
    struct buf b;
    buf_init(&b, 4096);
    CHECK(event_notice_json(&b, "staff_ko", "pro", "worker_lost", "다시 시작") == 0);
    CHECK_STR_EQ(buf_cstr(&b), "{\"phase\":\"staff_ko\",\"model\":\"pro\","
                               "\"code\":\"worker_lost\",\"text\":\"다시 시작\"}");
    buf_free(&b);
}

static void test_event_msg_parse(void)
{
    struct event_msg m;
    const char *s = "1764150000000-3 delta {\"text\":\"a b\"}";
    CHECK(event_msg_parse(s, strlen(s), &m) == 0);
    CHECK(m.id == s && m.id_len == 15);
    CHECK(m.type_len == 5 && strncmp(m.type, "delta", 5) == 0);
    CHECK(m.data_len == 14 && strncmp(m.data, "{\"text\":\"a b\"}", 14) == 0);
    s = "0-0 model_done x";
    CHECK(event_msg_parse(s, strlen(s), &m) == 0 && m.data_len == 1);
    static const char *const bad[] = {"", " ", "1-1", "1-1 ", "1-1 delta", "1-1 delta ",
                                      "1 delta {}", "-1 delta {}", "1- delta {}", "1-1-1 delta {}",
                                      "a-1 delta {}", "1-1 Delta {}", "1-1  {}", "1-1 de-lta {}",
                                      "123456789012345678901-1 delta {}",
                                      "1-1 abcdefghijabcdefghijabcdefghijabc {}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (event_msg_parse(bad[i], strlen(bad[i]), &m) != -1)
            fprintf(stderr, "    accepted [%s]\n", bad[i]);
        CHECK(event_msg_parse(bad[i], strlen(bad[i]), &m) == -1);
    }
}

static void test_append_script(void)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)EVENT_APPEND_LUA, strlen(EVENT_APPEND_LUA), md);
    char hex[41];
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CHECK_STR_EQ(EVENT_APPEND_SHA, hex);
    CHECK(strstr(EVENT_APPEND_LUA, "'MAXLEN', '~', ARGV[5]") != NULL);
    CHECK(strstr(EVENT_APPEND_LUA, "PEXPIRE', KEYS[1], ARGV[4]") != NULL);

    struct event_append_args a;
    event_append_args_fill(&a, false, "nova:log:r", "nova:out:j", "delta", "{\"x\":1}\0z", 9,
                           3600000);
    CHECK(a.argc == 9);
    CHECK_STR_EQ(a.argv[0], "EVALSHA");
    CHECK_STR_EQ(a.argv[1], EVENT_APPEND_SHA);
    CHECK_STR_EQ(a.argv[2], "1");
    CHECK_STR_EQ(a.argv[3], "nova:log:r");
    CHECK_STR_EQ(a.argv[4], "nova:out:j");
    CHECK_STR_EQ(a.argv[5], "delta");
    CHECK(a.argvlen[6] == 9); /* the data length is the caller's, not strlen */
    CHECK_STR_EQ(a.argv[7], "3600000");
    CHECK(atoi(a.argv[8]) == EVENT_LOG_MAXLEN);
    event_append_args_fill(&a, true, "k", "c", "t", "d", 1, 1);
    CHECK_STR_EQ(a.argv[0], "EVAL");
    CHECK(a.argv[1] == EVENT_APPEND_LUA);

    redisReply r = {.type = REDIS_REPLY_ERROR, .str = "NOSCRIPT No matching script."};
    CHECK(event_reply_noscript(&r));
    r.str = "ERR other";
    CHECK(!event_reply_noscript(&r));
    CHECK(!event_reply_noscript(NULL));
}

int main(void)
{
    RUN(test_model_job_round_trip);
    RUN(test_minimal_job_defaults);
    RUN(test_kb_job_round_trip);
    RUN(test_job_rejections);
    RUN(test_named_prompt_job);
    RUN(test_job_receipt);
    RUN(test_job_to_json_refuses_bad_text);
    RUN(test_id_valid);
    RUN(test_event_delta_shape);
    RUN(test_event_error_shape);
    RUN(test_event_notice_shape);
    RUN(test_event_msg_parse);
    RUN(test_append_script);
    return test_summary();
}
