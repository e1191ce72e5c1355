/* test_record: fcgi-app/record.c — a transcript folded into a reviewer's record: meta's
 * question, languages, entities, sources (title, url, score), models and prompt version; each
 * (phase, model)'s deltas joined into its final text with its stop reason, usage and error; the
 * translation (from meta or its event); notices; done's usage and cost; entries it does not
 * understand skipped; an answer's text capped whole deltas at a time. */
#include "../../fcgi-app/record.h"

#include <string.h>

#include "core/json.h"
#include "test.h"

static void add(struct record *r, const char *id, const char *type, const char *data)
{
    record_add(r, id, strlen(id), type, strlen(type), data, strlen(data));
}

static const char *META =
    "{\"request_id\":\"r1\",\"input_lang\":\"ko\",\"ui_lang\":\"en\",\"translating\":\"en\","
    "\"entities\":[{\"canonical\":\"폴\",\"section\":\"pets\",\"matched\":\"폴\"}],"
    "\"sources\":[{\"title\":\"Pets\",\"score\":0.82,\"excerpt\":\"long text\","
    "\"url\":\"https://help.example/pets\"}],\"phases\":[\"staff_ko\",\"customer_en\"],"
    "\"backend\":\"sim\",\"question\":\"폴이 레벨업을 못 해요\","
    "\"models\":{\"micro\":\"amazon.nova-micro-v1:0\",\"pro\":\"amazon.nova-pro-v1:0\"},"
    "\"prompt_sha256\":\"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "\"}";

static void test_full_record(void)
{
    struct record r;
    record_init(&r, "r1");
    CHECK(!record_found(&r));
    CHECK(record_object(&r) == NULL);
    add(&r, "1700000000123-0", "meta", META);
    add(&r, "1700000000200-0", "delta", "{\"phase\":\"staff_ko\",\"model\":\"micro\",\"text\":\"안녕\"}");
    add(&r, "1700000000201-0", "delta", "{\"phase\":\"customer_en\",\"model\":\"pro\",\"text\":\"Hel\"}");
    add(&r, "1700000000202-0", "delta", "{\"phase\":\"staff_ko\",\"model\":\"micro\",\"text\":\"하세요\"}");
    add(&r, "1700000000203-0", "delta", "{\"phase\":\"customer_en\",\"model\":\"pro\",\"text\":\"lo\"}");
    add(&r, "1700000000204-0", "translation",
        "{\"phase\":\"translate_en\",\"model\":\"pro\",\"translated_query\":\"Pol cannot level up\","
        "\"source_language\":\"ko\",\"target_language\":\"en\"}");
    add(&r, "1700000000205-0", "model_done",
        "{\"phase\":\"staff_ko\",\"model\":\"micro\",\"stop_reason\":\"end_turn\","
        "\"usage\":{\"input_tokens\":10,\"output_tokens\":3}}");
    add(&r, "1700000000206-0", "error",
        "{\"phase\":\"customer_en\",\"model\":\"pro\",\"code\":\"timeout\",\"message\":\"late\","
        "\"retryable\":true}");
    add(&r, "1700000000207-0", "bogus", "{\"x\":1}");          /* unknown type */
    add(&r, "1700000000208-0", "delta", "not json");           /* bad data */
    add(&r, "1700000000209-0", "delta", "{\"text\":\"nowhere\"}"); /* no phase or model */
    add(&r, "1700000000210-0", "meta", "{\"question\":\"a second meta\"}"); /* the first counts */
    add(&r, "1700000000300-0", "done",
        "{\"usage\":{\"input_tokens\":30},\"cost_usd\":0.00042,\"elapsed_ms\":177}");
    CHECK(record_found(&r));

    struct buf out;
    buf_init(&out, 1 << 20);
    CHECK(record_json(&r, &out) == 0);
    json_object *o = json_parse(out.data, out.len);
    CHECK(o != NULL);
    CHECK_STR_EQ(json_get_str(o, "request_id", NULL), "r1");
    CHECK(json_get_int(o, "asked_ms") == 1700000000123LL);
    CHECK_STR_EQ(json_get_str(o, "asked_at", NULL), "2023-11-14T22:13:20.123Z");
    CHECK_STR_EQ(json_get_str(o, "ui_lang", NULL), "en");
    CHECK_STR_EQ(json_get_str(o, "input_lang", NULL), "ko");
    CHECK_STR_EQ(json_get_str(o, "question", NULL), "폴이 레벨업을 못 해요");
    CHECK_STR_EQ(json_get_str(o, "translation", NULL), "Pol cannot level up");
    json_object *ents = json_get(o, "entities");
    CHECK(ents && json_object_array_length(ents) == 1);
    CHECK_STR_EQ(json_get_str(json_object_array_get_idx(ents, 0), "canonical", NULL), "폴");
    json_object *src = json_object_array_get_idx(json_get(o, "sources"), 0);
    CHECK_STR_EQ(json_get_str(src, "url", NULL), "https://help.example/pets");
    CHECK_STR_EQ(json_get_str(src, "title", NULL), "Pets");
    CHECK(json_object_get_double(json_get(src, "score")) == 0.82);
    CHECK(json_get(src, "excerpt") == NULL);
    CHECK_STR_EQ(json_get_str(json_get(o, "models"), "pro", NULL), "amazon.nova-pro-v1:0");
    CHECK_STR_EQ(json_get_str(o, "prompt_sha256", NULL),
                 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    json_object *answers = json_get(o, "answers");
    CHECK(answers && json_object_array_length(answers) == 2);
    json_object *a0 = json_object_array_get_idx(answers, 0),
                *a1 = json_object_array_get_idx(answers, 1);
    CHECK_STR_EQ(json_get_str(a0, "phase", NULL), "staff_ko");
    CHECK_STR_EQ(json_get_str(a0, "model", NULL), "micro");
    CHECK_STR_EQ(json_get_str(a0, "model_id", NULL), "amazon.nova-micro-v1:0");
    CHECK_STR_EQ(json_get_str(a0, "text", NULL), "안녕하세요");
    CHECK_STR_EQ(json_get_str(a0, "stop_reason", NULL), "end_turn");
    CHECK(json_get_int(json_get(a0, "usage"), "input_tokens") == 10);
    CHECK(json_get(a0, "error") == NULL);
    CHECK_STR_EQ(json_get_str(a1, "text", NULL), "Hello");
    CHECK_STR_EQ(json_get_str(a1, "error", NULL), "timeout");
    CHECK(json_get(a1, "stop_reason") == NULL);
    json_object *errs = json_get(o, "errors");
    CHECK(errs && json_object_array_length(errs) == 1);
    CHECK_STR_EQ(json_get_str(json_object_array_get_idx(errs, 0), "message", NULL), "late");
    CHECK(json_get_int(json_get(o, "usage"), "input_tokens") == 30);
    CHECK(json_object_get_double(json_get(o, "cost_usd")) == 0.00042);
    CHECK(json_get_int(o, "elapsed_ms") == 177);
    CHECK(json_object_get_boolean(json_get(o, "complete")));
    CHECK(!json_object_get_boolean(json_get(o, "truncated")));
    json_object_put(o);
    buf_free(&out);
    record_free(&r);
}

/* The apology: no answers, the notice kept; meta's translation when it was made first; a
 * transcript written before meta carried the question reads question null; no done yet. */
static void test_apology_and_old_meta(void)
{
    struct record r;
    record_init(&r, "r2");
    add(&r, "5-0", "meta",
        "{\"ui_lang\":\"ko\",\"input_lang\":\"en\",\"translated_query\":\"환불\",\"sources\":[]}");
    add(&r, "6-0", "notice", "{\"code\":\"no_documents\",\"text\":\"죄송합니다.\"}");
    json_object *o = record_object(&r);
    CHECK(o != NULL);
    CHECK(json_get(o, "question") == NULL);
    CHECK_STR_EQ(json_get_str(o, "translation", NULL), "환불");
    CHECK(json_object_array_length(json_get(o, "answers")) == 0);
    json_object *n = json_object_array_get_idx(json_get(o, "notices"), 0);
    CHECK_STR_EQ(json_get_str(n, "code", NULL), "no_documents");
    CHECK_STR_EQ(json_get_str(n, "text", NULL), "죄송합니다.");
    CHECK(!json_object_get_boolean(json_get(o, "complete")));
    CHECK(json_get(o, "cost_usd") == NULL);
    CHECK(json_object_is_type(json_get(o, "models"), json_type_object));
    json_object_put(o);
    record_free(&r);
}

/* A runaway answer keeps RECORD_TEXT_MAX bytes at most, whole deltas only, and says so. */
static void test_text_cap(void)
{
    struct record r;
    record_init(&r, "r3");
    add(&r, "1-0", "meta", "{\"ui_lang\":\"ko\"}");
    char delta[1200];
    char text[1001];
    memset(text, 'x', 1000);
    text[1000] = '\0';
    snprintf(delta, sizeof delta, "{\"phase\":\"answer\",\"model\":\"pro\",\"text\":\"%s\"}", text);
    for (int i = 0; i < 100; i++)
        add(&r, "2-0", "delta", delta);
    CHECK(r.truncated);
    CHECK(r.n_answers == 1 && r.answers[0].text.len <= RECORD_TEXT_MAX &&
          r.answers[0].text.len % 1000 == 0 && r.answers[0].text.len >= RECORD_TEXT_MAX - 1000);
    json_object *o = record_object(&r);
    CHECK(json_object_get_boolean(json_get(o, "truncated")));
    json_object_put(o);
    /* At most RECORD_MAX_ANSWERS (phase, model) pairs. */
    char d[128];
    for (int i = 0; i < RECORD_MAX_ANSWERS + 4; i++) {
        snprintf(d, sizeof d, "{\"phase\":\"p%d\",\"model\":\"pro\",\"text\":\"t\"}", i);
        add(&r, "3-0", "delta", d);
    }
    CHECK(r.n_answers == RECORD_MAX_ANSWERS);
    record_free(&r);
}

int main(void)
{
    RUN(test_full_record);
    RUN(test_apology_and_old_meta);
    RUN(test_text_cap);
    return test_summary();
}
