/* libFuzzer target: fcgi-app/tally.c on hostile transcript entries.
 *
 * A stream's tally reads every event of its request's transcript, which anyone with access
 * to Redis could have written. The input is a sequence of events, one per line: the first
 * byte picks the type (meta, delta, model_done, translation, notice, error, done, or a type
 * none of these), the rest is the event's data, as it would arrive. The tally has the four
 * answer jobs of an English-mode chat and the question's translation job, captures one
 * phase's text, and starts as the origin or as a resume. Whatever it is fed: at most
 * TALLY_MAX_JOBS jobs, the first deltas counted at most once per answer job, the captured
 * text within its cap, ended jobs staying ended, and done's data always one JSON object with
 * a cost (the counts are clamped: a hostile one cannot overflow the sum). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fcgi-app/tally.h"
#include "redis/contract.h"

#define CAPTURE_MAX 64

static const char *const types[] = {"meta", "delta", "model_done", "translation",
                                    "notice", "error", "done", "passages", "other"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct tally t;
    tally_init(&t, data[0] & 1, 0);
    tally_add_job(&t, "r-staff_ko-micro", "staff_ko", MODEL_MICRO);
    tally_add_job(&t, "r-staff_ko-pro", "staff_ko", MODEL_PRO);
    tally_add_job(&t, "r-customer_en-micro", "customer_en", MODEL_MICRO);
    tally_add_job(&t, "r-customer_en-pro", "customer_en", MODEL_PRO);
    tally_add_translation(&t, "r-translate_ko-pro", PHASE_TRANSLATE_KO);
    tally_add_job(&t, "r-extra-pro", "extra", MODEL_PRO); /* past the cap: refused */
    tally_capture(&t, "customer_en", CAPTURE_MAX);
    if (data[0] & 2) {
        struct stream_id after = {3, 0};
        tally_write_after(&t, &after);
    }
    if (t.n_jobs != TALLY_MAX_JOBS || t.n_answers != PLAN_MAX_JOBS)
        abort();
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    uint64_t ms = 1;
    bool ended[TALLY_MAX_JOBS] = {false};
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0) {
            const char *type = types[(unsigned char)p[0] % (sizeof types / sizeof types[0])];
            struct stream_id id = {ms++, 0};
            tally_take(&t, &id, type, strlen(type), p + 1, len - 1, (long long)ms);
        }
        for (size_t i = 0; i < t.n_jobs; i++) {
            if (ended[i] && !t.jobs[i].ended)
                abort(); /* an end is for good */
            ended[i] = t.jobs[i].ended;
        }
        if (t.n_first > t.n_answers)
            abort();
        for (size_t m = 0; m < PLAN_MODELS; m++)
            if (tally_captured(&t, (enum model)m)->len > CAPTURE_MAX)
                abort();
        p += len + 1;
    }
    struct price_table prices;
    char err[128];
    const char *table = "{\"models\":{\"micro\":{\"input\":0.001,\"output\":0.002},"
                        "\"pro\":{\"input\":0.01,\"output\":0.02}},\"per\":1000}";
    if (price_table_parse(table, strlen(table), &prices, err, sizeof err) < 0)
        abort();
    struct buf out;
    buf_init(&out, 4096);
    tally_done_json(&t, &prices, 5, &out);
    json_object *o = json_tokener_parse(buf_cstr(&out));
    json_object *cost;
    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "cost_usd", &cost))
        abort();
    json_object_put(o);
    buf_free(&out);
    tally_free(&t);
    return 0;
}
