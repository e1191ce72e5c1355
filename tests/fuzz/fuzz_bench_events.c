/* libFuzzer target: what nova-load reads out of the streams it measures (tests/bench/events.c),
 * on hostile bytes — the pipeline's delta and model_done data, and an OpenAI-style gateway's
 * chunks. Whatever they return must stay inside their fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/bench.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    int m = bench_delta_model(d, size);
    if (m != -1 && m != BENCH_MICRO && m != BENCH_PRO)
        abort();
    struct bench_fields f;
    int rc = bench_event_fields(d, size, &f);
    if (strlen(f.phase) >= sizeof f.phase || (f.model != -1 && f.model != BENCH_MICRO &&
                                              f.model != BENCH_PRO) || f.output_tokens < -1)
        abort();
    if (rc < 0 && (f.phase[0] || f.model != -1 || f.output_tokens != -1))
        abort();
    struct bench_chunk c;
    if (bench_chunk_parse(d, size, &c) == 0) {
        if (strlen(c.error_message) >= sizeof c.error_message || c.text_bytes > size ||
            c.completion_tokens < -1 || (c.done && (c.error || c.text_bytes)))
            abort();
    }
    return 0;
}
