/* Unit tests for tests/bench/events.c: what nova-load reads out of the pipeline's SSE events
 * and out of an OpenAI-style gateway's stream chunks, on the shapes those servers send and on
 * the wrong ones. */
#include "tests/bench/bench.h"

#include "test.h"

static void test_delta_model(void)
{
    const char *m = "{\"phase\":\"answer\",\"model\":\"micro\",\"text\":\"x\"}";
    const char *p = "{\"phase\": \"answer\", \"model\" : \"pro\", \"text\": \"x\"}";
    CHECK(bench_delta_model(m, strlen(m)) == BENCH_MICRO);
    CHECK(bench_delta_model(p, strlen(p)) == BENCH_PRO);
    CHECK(bench_delta_model("{\"model\":\"lite\"}", 16) == -1);
    CHECK(bench_delta_model("{\"text\":\"x\"}", 12) == -1);
    CHECK(bench_delta_model("{\"model\"", 8) == -1);            /* cut at the key */
    CHECK(bench_delta_model("{\"model\":\"mic", 13) == -1);     /* cut in the value */
}

static void test_event_fields(void)
{
    struct bench_fields f;
    const char *d = "{\"phase\":\"customer_en\",\"model\":\"micro\",\"text\":\"Hi\"}";
    CHECK(bench_event_fields(d, strlen(d), &f) == 0);
    CHECK_STR_EQ(f.phase, "customer_en");
    CHECK(f.model == BENCH_MICRO);
    CHECK(f.output_tokens == -1);
    const char *done = "{\"phase\":\"answer\",\"model\":\"pro\",\"stop_reason\":\"end_turn\","
                       "\"usage\":{\"input_tokens\":900,\"output_tokens\":20,"
                       "\"cache_read_tokens\":2000,\"cache_write_tokens\":0},\"ttft_ms\":301}";
    CHECK(bench_event_fields(done, strlen(done), &f) == 0);
    CHECK_STR_EQ(f.phase, "answer");
    CHECK(f.model == BENCH_PRO);
    CHECK(f.output_tokens == 20);
    /* A phase longer than the field is cut, never overrun. */
    const char *lng = "{\"phase\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    CHECK(bench_event_fields(lng, strlen(lng), &f) == 0);
    CHECK(strlen(f.phase) == sizeof f.phase - 1);
    /* Wrong types read as absent; not an object, or not JSON, is -1 with the defaults. */
    const char *bad = "{\"phase\":7,\"model\":\"micro \",\"usage\":{\"output_tokens\":\"20\"}}";
    CHECK(bench_event_fields(bad, strlen(bad), &f) == 0);
    CHECK_STR_EQ(f.phase, "");
    CHECK(f.model == -1 && f.output_tokens == -1);
    CHECK(bench_event_fields("[1,2]", 5, &f) == -1);
    CHECK(bench_event_fields("{\"phase\":\"ans", 13, &f) == -1);
    CHECK(f.model == -1 && f.output_tokens == -1 && f.phase[0] == '\0');
    CHECK(bench_event_fields("", 0, &f) == -1);
}

static void test_chunk(void)
{
    struct bench_chunk c;
    CHECK(bench_chunk_parse("[DONE]", 6, &c) == 0 && c.done && !c.error);
    const char *role = "{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                       "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                       "\"finish_reason\":null}]}";
    CHECK(bench_chunk_parse(role, strlen(role), &c) == 0);
    CHECK(!c.done && !c.error && c.text_bytes == 0 && !c.finished);
    const char *text = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"폴은\"},"
                       "\"finish_reason\":null}]}";
    CHECK(bench_chunk_parse(text, strlen(text), &c) == 0);
    CHECK(c.text_bytes == strlen("폴은") && !c.finished && c.completion_tokens == -1);
    const char *last = "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                       "\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":20}}";
    CHECK(bench_chunk_parse(last, strlen(last), &c) == 0);
    CHECK(c.finished && c.text_bytes == 0 && c.completion_tokens == 20);
    const char *err = "{\"error\":{\"message\":\"bedrock error: bad signature\",\"type\":null}}";
    CHECK(bench_chunk_parse(err, strlen(err), &c) == 0);
    CHECK(c.error);
    CHECK_STR_EQ(c.error_message, "bedrock error: bad signature");
    CHECK(bench_chunk_parse("{\"error\":\"plain\"}", 17, &c) == 0 && c.error);
    CHECK_STR_EQ(c.error_message, "plain");
    CHECK(bench_chunk_parse("{\"error\":null,\"choices\":[]}", 27, &c) == 0 && !c.error);
    CHECK(bench_chunk_parse("[DONE", 5, &c) == -1);
    CHECK(bench_chunk_parse("\"x\"", 3, &c) == -1);
    CHECK(bench_chunk_parse("{\"choices\":[{\"delta\":{\"content\":\"ab", 34, &c) == -1);
}

static void test_schedule(void)
{
    struct hsched s;
    hsched_init(&s, 4, 300, 2);
    s.t_start = 1000; /* fixed, so the due times are exact */
    CHECK(hsched_due(&s) == 1000);
    hsched_started(&s);
    CHECK(hsched_due(&s) == 1075);
    hsched_started(&s);
    CHECK(hsched_due(&s) == -1); /* two open: the concurrency bound */
    hsched_finished(&s);
    CHECK(hsched_due(&s) == 1150);
    hsched_started(&s);
    hsched_finished(&s);
    hsched_started(&s);
    CHECK(hsched_due(&s) == -1); /* all four started */
    CHECK(s.peak_open == 2 && s.open == 2 && s.finished == 2);
    hsched_init(&s, 3, 0, 0);    /* at once, no bound */
    for (int i = 0; i < 3; i++) {
        CHECK(hsched_due(&s) == s.t_start);
        hsched_started(&s);
    }
    CHECK(hsched_due(&s) == -1 && s.peak_open == 3);
}

int main(void)
{
    RUN(test_delta_model);
    RUN(test_event_fields);
    RUN(test_chunk);
    RUN(test_schedule);
    return test_summary();
}
