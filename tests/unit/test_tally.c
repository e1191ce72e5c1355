/* test_tally: fcgi-app/tally.c — jobs ended by model_done or error (by phase and model, once
 * each), usage summed and priced into done's data with a call outside the jobs, a resume's
 * events not written again, done seen, the open jobs for a cancel, and the captured text cut
 * between characters. */
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
    tally_add_job(&t, "r-y-pro", "y", MODEL_PRO); /* past PLAN_MAX_JOBS: ignored */
    CHECK(t.n_jobs == PLAN_MAX_JOBS);
    take(&t, 1, "error", "{\"phase\":\"answer\",\"model\":\"pro\",\"code\":\"canceled\"}");
    tally_end_job(&t, 2);
    const char *ids[PLAN_MAX_JOBS];
    enum queue queues[PLAN_MAX_JOBS];
    size_t n = tally_open_jobs(&t, false, ids, queues);
    CHECK(n == 2);
    CHECK_STR_EQ(ids[0], "r-answer-micro");
    CHECK_STR_EQ(ids[1], "r-x-pro");
    CHECK(queues[0] == QUEUE_MICRO && queues[1] == QUEUE_PRO);
    CHECK(tally_open_jobs(&t, true, ids, queues) == PLAN_MAX_JOBS);
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

int main(void)
{
    RUN(test_jobs_end_once);
    RUN(test_done_json);
    RUN(test_resume_point);
    RUN(test_open_jobs);
    RUN(test_capture);
    return test_summary();
}
