/* test_tally: fcgi-app/tally.c — jobs ended by model_done or error (by phase and model, once
 * each), the question's translation job ended by its `translation` event, usage summed and
 * priced into done's data with calls outside the jobs, a resume's events not written again,
 * done seen, the open jobs for a cancel, and the captured text cut between characters. */
#include "../../fcgi-app/tally.h"

#include <string.h>

#include "test.h"

static struct stream_id sid(uint64_t ms, uint64_t seq)
{
    return (struct stream_id){ms, seq};
}

static bool take(struct tally *t, uint64_t ms, const char *type, const char *data)
{
    struct stream_id id = sid(ms, 0);
    return tally_take(t, &id, type, strlen(type), data, strlen(data), 1000);
}

static void two_jobs(struct tally *t)
{
    tally_add_job(t, "r-answer-micro", "answer", MODEL_MICRO);
    tally_add_job(t, "r-answer-pro", "answer", MODEL_PRO);
}

static void test_jobs_end_once(void)
{
    struct tally t;
    tally_init(&t, false, 0);
    CHECK(tally_all_ended(&t)); /* no jobs: nothing to wait for */
    two_jobs(&t);
    CHECK(t.jobs[0].queue == QUEUE_MICRO && t.jobs[1].queue == QUEUE_PRO);
    CHECK(!tally_all_ended(&t));
    take(&t, 1, "delta", "{\"phase\":\"answer\",\"model\":\"micro\",\"text\":\"hi\"}");
    CHECK(!t.jobs[0].ended);
    /* A phase or model no job has ends nothing. */
    take(&t, 2, "model_done", "{\"phase\":\"other\",\"model\":\"micro\"}");
    take(&t, 3, "error", "{\"phase\":\"answer\",\"model\":\"kb\",\"code\":\"x\"}");
    CHECK(!t.jobs[0].ended && !t.jobs[1].ended);
    take(&t, 4, "model_done",
         "{\"phase\":\"answer\",\"model\":\"micro\",\"usage\":{\"input_tokens\":10,"
         "\"output_tokens\":5}}");
    CHECK(t.jobs[0].ended && t.jobs[0].usage.input_tokens == 10);
    /* A second end of the same job changes nothing. */
    take(&t, 5, "model_done",
         "{\"phase\":\"answer\",\"model\":\"micro\",\"usage\":{\"input_tokens\":99}}");
    CHECK(t.jobs[0].usage.input_tokens == 10);
    take(&t, 6, "error", "{\"phase\":\"answer\",\"model\":\"pro\",\"code\":\"throttled\"}");
    CHECK(tally_all_ended(&t));
    CHECK(!t.done_seen);
    take(&t, 7, "done", "{}");
    CHECK(t.done_seen);
    /* Data that is not a JSON object is relayed but not accounted. */
    tally_free(&t);
    tally_init(&t, false, 0);
    two_jobs(&t);
    CHECK(take(&t, 1, "model_done", "[1,2]"));
    CHECK(take(&t, 2, "model_done", "{not json"));
    CHECK(!t.jobs[0].ended && !t.jobs[1].ended);
    tally_free(&t);
}

static void test_done_json(void)
{
    struct tally t;
    tally_init(&t, false, 0);
    two_jobs(&t);
    take(&t, 1, "model_done",
         "{\"phase\":\"answer\",\"model\":\"micro\",\"usage\":{\"input_tokens\":1000,"
         "\"output_tokens\":100,\"cache_read_tokens\":7,\"cache_write_tokens\":3}}");
    take(&t, 2, "model_done",
         "{\"phase\":\"answer\",\"model\":\"pro\",\"usage\":{\"input_tokens\":2000,"
         "\"output_tokens\":200}}");
    struct token_usage extra = {500, 50, 0, 0};
    tally_add_usage(&t, MODEL_PRO, &extra);
    struct price_table prices;
    char err[128];
    const char *table = "{\"models\":{\"micro\":{\"input\":0.001,\"output\":0.002},"
                        "\"pro\":{\"input\":0.01,\"output\":0.02}},\"per\":1000}";
    CHECK(price_table_parse(table, strlen(table), &prices, err, sizeof err) == 0);
    struct buf out;
    buf_init(&out, 4096);
    tally_done_json(&t, &prices, 1234, &out);
    /* micro: 1000 * 0.000001 + 100 * 0.000002 + 7 * cache_read + 3 * cache_write;
     * pro: 2500 * 0.00001 + 250 * 0.00002 */
    char cost[48];
    price_format(0.001 + 0.0002 + 7 * 0.00000025 + 3 * 0.000001 + 0.025 + 0.005, cost,
                 sizeof cost);
    char want[512];
    snprintf(want, sizeof want,
             "{\"usage\":{\"input_tokens\":3500,\"output_tokens\":350,\"cache_read_tokens\":7,"
             "\"cache_write_tokens\":3},\"cost_usd\":%s,\"elapsed_ms\":1234}",
             cost);
    CHECK_STR_EQ(buf_cstr(&out), want);
    buf_free(&out);
    tally_free(&t);
}

static void test_resume_point(void)
{
    struct tally t;
    tally_init(&t, false, 0);
    two_jobs(&t);
    struct stream_id after = sid(5, 0);
    tally_write_after(&t, &after);
    /* Accounted, but the client has it: not written. */
    CHECK(!take(&t, 4, "model_done", "{\"phase\":\"answer\",\"model\":\"micro\"}"));
    CHECK(t.jobs[0].ended);
    CHECK(!take(&t, 5, "delta", "{}"));
    CHECK(take(&t, 6, "delta", "{}"));
    tally_free(&t);
}

static void test_open_jobs(void)
{
    struct tally t;
    tally_init(&t, false, 0);
    two_jobs(&t);
    tally_add_job(&t, "r-x-micro", "x", MODEL_MICRO);
    tally_add_job(&t, "r-x-pro", "x", MODEL_PRO);
    tally_add_translation(&t, "r-translate_en-pro", PHASE_TRANSLATE_EN);
    tally_add_job(&t, "r-y-pro", "y", MODEL_PRO); /* past TALLY_MAX_JOBS: ignored */
    tally_add_translation(&t, "r-translate_ko-pro", PHASE_TRANSLATE_KO); /* so is this */
    CHECK(t.n_jobs == TALLY_MAX_JOBS && TALLY_MAX_JOBS == PLAN_MAX_JOBS + 1);
    take(&t, 1, "error", "{\"phase\":\"answer\",\"model\":\"pro\",\"code\":\"canceled\"}");
    tally_end_job(&t, 2);
    const char *ids[TALLY_MAX_JOBS];
    enum queue queues[TALLY_MAX_JOBS];
    size_t n = tally_open_jobs(&t, false, ids, queues);
    CHECK(n == 3);
    CHECK_STR_EQ(ids[0], "r-answer-micro");
    CHECK_STR_EQ(ids[1], "r-x-pro");
    CHECK_STR_EQ(ids[2], "r-translate_en-pro"); /* a cancel stops the translation too */
    CHECK(queues[0] == QUEUE_MICRO && queues[1] == QUEUE_PRO && queues[2] == QUEUE_PRO);
    CHECK(tally_open_jobs(&t, true, ids, queues) == TALLY_MAX_JOBS);
    tally_free(&t);
}

static void test_capture(void)
{
    struct tally t;
    tally_init(&t, false, 0);
    tally_add_job(&t, "r-staff_ko-micro", "staff_ko", MODEL_MICRO);
    tally_add_job(&t, "r-customer_en-micro", "customer_en", MODEL_MICRO);
    tally_add_job(&t, "r-customer_en-pro", "customer_en", MODEL_PRO);
    tally_capture(&t, "customer_en", 8);
    take(&t, 1, "delta", "{\"phase\":\"staff_ko\",\"model\":\"micro\",\"text\":\"no\"}");
    take(&t, 2, "delta", "{\"phase\":\"customer_en\",\"model\":\"micro\",\"text\":\"Hello\"}");
    /* "가" is three bytes: two of them would fit, so none is kept. */
    take(&t, 3, "delta", "{\"phase\":\"customer_en\",\"model\":\"micro\",\"text\":\"!가\"}");
    take(&t, 4, "delta", "{\"phase\":\"customer_en\",\"model\":\"pro\",\"text\":\"Detail\"}");
    CHECK_STR_EQ(buf_cstr(tally_captured(&t, MODEL_MICRO)), "Hello!");
    CHECK_STR_EQ(buf_cstr(tally_captured(&t, MODEL_PRO)), "Detail");
    tally_free(&t);
}

/* The question's translation beside the answers: a job that ends with its `translation`
 * event (or an error), whose usage counts in done, which has no first delta to wait for; a
 * translation that names no job (made before the search) adds its usage to the extra calls. */
static void test_translation_job(void)
{
    struct tally t;
    tally_init(&t, true, 0);
    two_jobs(&t);
    tally_add_translation(&t, "r-translate_en-pro", PHASE_TRANSLATE_EN);
    CHECK(t.n_jobs == 3 && t.n_answers == 2 && t.jobs[2].translation);
    CHECK(t.jobs[2].queue == QUEUE_PRO && t.jobs[2].model == MODEL_PRO);
    take(&t, 1, "delta", "{\"phase\":\"answer\",\"model\":\"micro\",\"text\":\"a\"}");
    take(&t, 2, "delta", "{\"phase\":\"answer\",\"model\":\"pro\",\"text\":\"b\"}");
    CHECK(t.n_first == 2); /* every answer's first delta: no more parsing for it */
    take(&t, 3, "model_done", "{\"phase\":\"answer\",\"model\":\"micro\",\"usage\":"
                              "{\"input_tokens\":10,\"output_tokens\":1}}");
    take(&t, 4, "model_done", "{\"phase\":\"answer\",\"model\":\"pro\",\"usage\":"
                              "{\"input_tokens\":20,\"output_tokens\":2}}");
    CHECK(!tally_all_ended(&t)); /* done waits for the translation */
    /* An answer-shaped event of the translation's phase and another model ends nothing. */
    take(&t, 5, "translation", "{\"phase\":\"translate_en\",\"model\":\"micro\"}");
    CHECK(!t.jobs[2].ended);
    CHECK(take(&t, 6, "translation",
               "{\"phase\":\"translate_en\",\"model\":\"pro\",\"translated_query\":\"hi\","
               "\"source_language\":\"ko\",\"target_language\":\"en\",\"usage\":"
               "{\"input_tokens\":300,\"output_tokens\":30,\"cache_read_tokens\":5}}"));
    CHECK(tally_all_ended(&t) && t.jobs[2].usage.input_tokens == 300);
    /* A second translation event of it adds nothing (the micro one above had no usage). */
    take(&t, 7, "translation", "{\"phase\":\"translate_en\",\"model\":\"pro\",\"usage\":"
                               "{\"input_tokens\":999}}");
    struct price_table prices;
    char err[128];
    const char *table = "{\"models\":{\"micro\":{\"input\":0,\"output\":0},"
                        "\"pro\":{\"input\":0,\"output\":0}},\"per\":1000}";
    CHECK(price_table_parse(table, strlen(table), &prices, err, sizeof err) == 0);
    struct buf out;
    buf_init(&out, 4096);
    tally_done_json(&t, &prices, 1, &out);
    CHECK(strstr(buf_cstr(&out), "\"input_tokens\":330,\"output_tokens\":33,"
                                 "\"cache_read_tokens\":5,"));
    tally_free(&t);

    /* Failed: its error ends it, and done does not wait. */
    tally_init(&t, false, 0);
    tally_add_translation(&t, "r-translate_ko-pro", PHASE_TRANSLATE_KO);
    take(&t, 1, "error", "{\"phase\":\"translate_ko\",\"model\":\"pro\",\"code\":\"throttled\"}");
    CHECK(tally_all_ended(&t) && t.jobs[0].usage.input_tokens == 0);
    tally_free(&t);

    /* Made before the search: no job of its phase; its usage is an extra call's, priced as
     * pro, adding up with any other. */
    tally_init(&t, false, 0);
    two_jobs(&t);
    struct token_usage u = {7, 1, 0, 0};
    tally_add_usage(&t, MODEL_PRO, &u);
    take(&t, 1, "translation", "{\"phase\":\"translate_ko\",\"model\":\"pro\",\"usage\":"
                               "{\"input_tokens\":40,\"output_tokens\":4}}");
    CHECK(t.has_extra && t.extra_model == MODEL_PRO && t.extra_usage.input_tokens == 47 &&
          t.extra_usage.output_tokens == 5);
    CHECK(!tally_all_ended(&t));
    buf_reset(&out);
    tally_done_json(&t, &prices, 1, &out);
    CHECK(strstr(buf_cstr(&out), "\"input_tokens\":47,\"output_tokens\":5,"));
    buf_free(&out);
    tally_free(&t);
}

int main(void)
{
    RUN(test_jobs_end_once);
    RUN(test_translation_job);
    RUN(test_done_json);
    RUN(test_resume_point);
    RUN(test_open_jobs);
    RUN(test_capture);
    return test_summary();
}
