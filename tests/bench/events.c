/* events: what nova-load reads out of the streams it measures, with no I/O (bench.h). Every
 * input is bytes from a server under load, so nothing here trusts a length, a type or a
 * terminator; tests/fuzz/fuzz_bench_events.c feeds it hostile bytes. */
#include "bench.h"

#include <string.h>

#include "core/json.h"

int bench_delta_model(const char *d, size_t n)
{
    const char *k = memmem(d, n, "\"model\"", 7);
    if (!k)
        return -1;
    const char *p = k + 7, *end = d + n;
    while (p < end && (*p == ' ' || *p == ':'))
        p++;
    if (end - p >= 5 && memcmp(p, "\"pro\"", 5) == 0)
        return BENCH_PRO;
    if (end - p >= 7 && memcmp(p, "\"micro\"", 7) == 0)
        return BENCH_MICRO;
    return -1;
}

static void copy_str(char *out, size_t cap, const char *s, size_t n)
{
    if (!cap)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

int bench_event_fields(const char *d, size_t n, struct bench_fields *f)
{
    memset(f, 0, sizeof *f);
    f->model = -1;
    f->output_tokens = -1;
    json_object *o = json_parse(d, n);
    if (!o)
        return -1;
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    size_t len;
    const char *s = json_get_str(o, "phase", &len);
    if (s)
        copy_str(f->phase, sizeof f->phase, s, len);
    s = json_get_str(o, "model", &len);
    if (s && len == 5 && memcmp(s, "micro", 5) == 0)
        f->model = BENCH_MICRO;
    else if (s && len == 3 && memcmp(s, "pro", 3) == 0)
        f->model = BENCH_PRO;
    json_object *u = json_get(o, "usage");
    json_object *t = json_get(u, "output_tokens");
    if (t && json_object_is_type(t, json_type_int)) {
        long long v = json_object_get_int64(t);
        f->output_tokens = v < 0 ? -1 : v > 1000000000 ? 1000000000 : (long)v;
    }
    json_object_put(o);
    return 0;
}

/* An OpenAI chat.completion.chunk: {"choices":[{"delta":{"content":"..."},
 * "finish_reason":null}], "usage":{"completion_tokens":N}} — or {"error":{...}} when the
 * gateway reports a failure inside the stream. */
int bench_chunk_parse(const char *d, size_t n, struct bench_chunk *c)
{
    memset(c, 0, sizeof *c);
    c->completion_tokens = -1;
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        c->done = true;
        return 0;
    }
    json_object *o = json_parse(d, n);
    if (!o)
        return -1;
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    json_object *e = json_get(o, "error");
    if (e && !json_object_is_type(e, json_type_null)) {
        c->error = true;
        size_t len = 0;
        const char *m = json_object_is_type(e, json_type_object) ? json_get_str(e, "message", &len)
                        : json_object_is_type(e, json_type_string)
                            ? (len = (size_t)json_object_get_string_len(e),
                               json_object_get_string(e))
                            : NULL;
        copy_str(c->error_message, sizeof c->error_message, m ? m : "?", m ? len : 1);
    }
    json_object *ch = json_get(o, "choices");
    if (ch && json_object_is_type(ch, json_type_array) && json_object_array_length(ch) > 0) {
        json_object *c0 = json_object_array_get_idx(ch, 0);
        size_t len = 0;
        if (json_get_str(json_get(c0, "delta"), "content", &len))
            c->text_bytes = len;
        json_object *fr = json_get(c0, "finish_reason");
        c->finished = fr && json_object_is_type(fr, json_type_string);
    }
    json_object *t = json_get(json_get(o, "usage"), "completion_tokens");
    if (t && json_object_is_type(t, json_type_int)) {
        long long v = json_object_get_int64(t);
        c->completion_tokens = v < 0 ? -1 : v > 1000000000 ? 1000000000 : (long)v;
    }
    json_object_put(o);
    return 0;
}
