/* test_call: workers/call.c — the converse request a job describes (and what Bedrock is sent
 * when the job sets nothing), the model_done, translation and passages data a call's end
 * becomes, and the map of wire-layer errors to API.md's stream codes. */
#include "workers/call.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "redis/events.h"
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

static void test_request(void)
{
    struct job j;
    make_model_job(&j);
    struct bedrock_converse_req req;
    struct bedrock_message msgs[JOB_MAX_MESSAGES];
    call_request(&j, msgs, &req);
    CHECK_STR_EQ(req.model_id, "amazon.nova-micro-v1:0");
    CHECK(req.system == j.system && req.cache_point && req.system_suffix == NULL);
    CHECK(req.messages == msgs && req.n_messages == 3);
    for (size_t i = 0; i < 3; i++)
        CHECK(msgs[i].role == j.messages[i].role && msgs[i].text == j.messages[i].text);
    CHECK(req.max_tokens == 1024 && req.temperature == 0.3 && req.top_p == 0.9);
    struct buf body;
    buf_init(&body, 1u << 20);
    CHECK(bedrock_converse_body(&req, &body) == 0);
    CHECK(strstr(body.data, "{\"cachePoint\":{\"type\":\"default\"}}") != NULL);
    CHECK(strstr(body.data, "\"maxTokens\":1024") != NULL);
    buf_free(&body);
    job_free(&j);
}

/* A job that sets nothing optional: nothing optional reaches Bedrock. */
static void test_minimal_request(void)
{
    const char *txt = "{\"v\":1,\"id\":\"r1-answer-pro\",\"request\":\"r1\",\"queue\":\"pro\","
                      "\"phase\":\"answer\",\"model\":\"pro\","
                      "\"model_id\":\"amazon.nova-pro-v1:0\","
                      "\"messages\":[{\"role\":\"user\",\"text\":\"hi\"}],\"created_ms\":1,"
                      "\"deadline_ms\":2,\"future_field\":{\"x\":[1,2]},\"system\":null}";
    struct job j;
    char err[256];
    CHECK(job_from_json(txt, strlen(txt), &j, err, sizeof err) == 0);
    struct bedrock_converse_req req;
    struct bedrock_message msgs[JOB_MAX_MESSAGES];
    call_request(&j, msgs, &req);
    struct buf body;
    buf_init(&body, 1u << 20);
    CHECK(bedrock_converse_body(&req, &body) == 0);
    CHECK(strstr(body.data, "maxTokens") == NULL); /* nothing set: nothing sent */
    CHECK(strstr(body.data, "temperature") == NULL && strstr(body.data, "topP") == NULL);
    CHECK(strstr(body.data, "\"system\"") == NULL);
    buf_free(&body);
    job_free(&j);
}

static void test_done_shape(void)
{
    struct bedrock_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.stop_reason, sizeof r.stop_reason, "end_turn");
    r.usage = (struct token_usage){120, 45, 300, 7};
    r.ttft_ms = 251.6;
    r.elapsed_ms = 1520.2;
    r.latency_ms = 999;
    struct buf b;
    buf_init(&b, 4096);
    CHECK(call_done_json(&b, "answer", "pro", &r) == 0);
    CHECK_STR_EQ(buf_cstr(&b),
                 "{\"phase\":\"answer\",\"model\":\"pro\",\"stop_reason\":\"end_turn\",\"usage\":"
                 "{\"input_tokens\":120,\"output_tokens\":45,\"cache_read_tokens\":300,"
                 "\"cache_write_tokens\":7},\"ttft_ms\":252,\"latency_ms\":1520}");
    buf_reset(&b);
    r.ttft_ms = -1; /* no text came */
    r.stop_reason[0] = '\0';
    CHECK(call_done_json(&b, "answer", "pro", &r) == 0);
    CHECK(strstr(buf_cstr(&b), "\"stop_reason\":\"\"") != NULL);
    CHECK(strstr(buf_cstr(&b), "\"ttft_ms\":null") != NULL);
    buf_free(&b);
}

/* A guardrail's intervention: recognised by its stop reason, said as a notice in the phase's
 * language. */
static void test_guardrail_notice(void)
{
    struct bedrock_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.stop_reason, sizeof r.stop_reason, "end_turn");
    CHECK(!call_guardrail_intervened(&r));
    snprintf(r.stop_reason, sizeof r.stop_reason, "guardrail_intervened");
    CHECK(call_guardrail_intervened(&r));
    struct buf b;
    buf_init(&b, 4096);
    CHECK(call_guardrail_notice_json(&b, "customer_en", "pro") == 0);
    CHECK_STR_EQ(buf_cstr(&b), "{\"phase\":\"customer_en\",\"model\":\"pro\",\"code\":"
                               "\"guardrail\",\"text\":\"The content filter stopped this answer.\"}");
    buf_reset(&b);
    CHECK(call_guardrail_notice_json(&b, "answer", "micro") == 0);
    CHECK(strstr(buf_cstr(&b), "\"code\":\"guardrail\",\"text\":\"콘텐츠 필터") != NULL);
    buf_free(&b);
}

/* A translation job's end: the whole text, trimmed, with both languages and the usage; blanks
 * alone are no translation. */
static void test_translation_shape(void)
{
    struct bedrock_result r;
    memset(&r, 0, sizeof r);
    r.usage = (struct token_usage){80, 12, 900, 0};
    const char *text = " \n Paul cannot \"level up\" \t\n";
    r.text = text;
    r.text_len = strlen(text);
    struct buf b;
    buf_init(&b, 4096);
    CHECK(call_translation_json(&b, PHASE_TRANSLATE_EN, "pro", "en", &r) == 0);
    CHECK_STR_EQ(buf_cstr(&b),
                 "{\"phase\":\"translate_en\",\"model\":\"pro\",\"translated_query\":"
                 "\"Paul cannot \\\"level up\\\"\",\"source_language\":\"ko\",\"target_language\":"
                 "\"en\",\"usage\":{\"input_tokens\":80,\"output_tokens\":12,"
                 "\"cache_read_tokens\":900,\"cache_write_tokens\":0}}");
    buf_reset(&b);
    r.text = "폴이 \xff";
    r.text_len = strlen(r.text);
    CHECK(call_translation_json(&b, PHASE_TRANSLATE_KO, "pro", "ko", &r) == 0);
    CHECK(strstr(buf_cstr(&b), "\"translated_query\":\"폴이 \xef\xbf\xbd\"") != NULL);
    CHECK(strstr(buf_cstr(&b), "\"source_language\":\"en\",\"target_language\":\"ko\"") != NULL);
    buf_reset(&b);
    r.text = " \r\n\t ";
    r.text_len = strlen(r.text);
    CHECK(call_translation_json(&b, PHASE_TRANSLATE_EN, "pro", "en", &r) == 1 && b.len == 0);
    r.text = NULL;
    r.text_len = 0;
    CHECK(call_translation_json(&b, PHASE_TRANSLATE_EN, "pro", "en", &r) == 1 && b.len == 0);
    buf_free(&b);
    /* The phases that end this way, and no other. */
    CHECK_STR_EQ(phase_translation_target(PHASE_TRANSLATE_KO), "ko");
    CHECK_STR_EQ(phase_translation_target(PHASE_TRANSLATE_EN), "en");
    CHECK(!phase_translation_target("translate") && !phase_translation_target("answer") &&
          !phase_translation_target("translate_enx") && !phase_translation_target(NULL));
}

static void test_passages_shape(void)
{
    struct buf text, b;
    buf_init(&text, 1u << 20);
    for (int i = 0; i < 1200; i++)
        buf_puts(&text, "가");
    struct bedrock_passage p[2] = {
        {buf_cstr(&text), "환불 정책", "https://support.example.com/ko/refund", 0.8125},
        {"short \xff text", "t", "", 0.5},
    };
    buf_init(&b, 1u << 20);
    CHECK(call_passages_json(&b, p, 2) == 0);
    json_object *o = json_tokener_parse(buf_cstr(&b)), *arr, *e, *v;
    CHECK(o != NULL);
    CHECK(json_object_object_get_ex(o, "passages", &arr) && json_object_array_length(arr) == 2);
    e = json_object_array_get_idx(arr, 0);
    CHECK(json_object_object_get_ex(e, "excerpt", &v) &&
          json_object_get_string_len(v) == 3 * EVENT_EXCERPT_CHARS);
    CHECK(json_object_object_get_ex(e, "text", &v) &&
          json_object_get_string_len(v) == 3 * EVENT_PASSAGE_CHARS);
    CHECK(json_object_object_get_ex(e, "title", &v) &&
          strcmp(json_object_get_string(v), "환불 정책") == 0);
    CHECK(json_object_object_get_ex(e, "score", &v) && json_object_get_double(v) == 0.8125);
    CHECK(json_object_object_get_ex(e, "url", &v));
    e = json_object_array_get_idx(arr, 1);
    CHECK(json_object_object_get_ex(e, "excerpt", &v) &&
          strcmp(json_object_get_string(v), "short \xef\xbf\xbd text") == 0);
    json_object_put(o);
    CHECK(strncmp(buf_cstr(&b), "{\"passages\":[{\"title\":", 22) == 0);
    buf_reset(&b);
    CHECK(call_passages_json(&b, NULL, 0) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "{\"passages\":[]}");
    buf_free(&b);
    buf_free(&text);
}

static void test_error_codes(void)
{
    static const struct {
        enum bedrock_error e;
        const char *code;
    } map[] = {
        {BR_ERR_THROTTLING, "throttled"},       {BR_ERR_MODEL_NOT_READY, "throttled"},
        {BR_ERR_QUOTA, "throttled"},            {BR_ERR_IDLE_TIMEOUT, "timeout"},
        {BR_ERR_MODEL_TIMEOUT, "timeout"},      {BR_ERR_CANCELED, "canceled"},
        {BR_ERR_UNAVAILABLE, "unavailable"},    {BR_ERR_INTERNAL, "unavailable"},
        {BR_ERR_TRANSPORT, "unavailable"},      {BR_ERR_MODEL_ERROR, "model_error"},
        {BR_ERR_MODEL_STREAM, "model_error"},   {BR_ERR_PROTOCOL, "model_error"},
        {BR_ERR_VALIDATION, "model_error"},     {BR_ERR_NOT_FOUND, "model_error"},
        {BR_ERR_HTTP, "model_error"},           {BR_ERR_CREDENTIALS, "internal"},
        {BR_ERR_ACCESS_DENIED, "internal"},     {BR_ERR_INVALID_SIGNATURE, "internal"},
        {BR_ERR_UNRECOGNIZED_CLIENT, "internal"}, {BR_ERR_EXPIRED_TOKEN, "internal"},
        {BR_OK, "model_error"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(call_error_code(map[i].e), map[i].code) != 0)
            fprintf(stderr, "    %s → %s\n", bedrock_error_name(map[i].e),
                    call_error_code(map[i].e));
        CHECK_STR_EQ(call_error_code(map[i].e), map[i].code);
    }
    CHECK_STR_EQ(call_error_code((enum bedrock_error)999), "model_error");
}

int main(void)
{
    RUN(test_request);
    RUN(test_minimal_request);
    RUN(test_done_shape);
    RUN(test_guardrail_notice);
    RUN(test_translation_shape);
    RUN(test_passages_shape);
    RUN(test_error_codes);
    return test_summary();
}
