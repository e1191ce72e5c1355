/* libFuzzer target: common/redis/jobs.c on hostile bytes.
 *
 * The input is read as a job (job_from_json) and as a published event message
 * (event_msg_parse). Whatever job_from_json accepts must hold to its promises (every string
 * valid UTF-8 and inside its field, 1..16 messages with known roles, values in range), must
 * serialise, and must read back identical: parse → serialise → parse gives the same job and the
 * same bytes again. A refused job leaves nothing to free. Whatever event_msg_parse accepts lies
 * inside the input and splits it exactly. The event builders get the raw bytes as text and
 * must still produce valid JSON. A job's receipt (job_receipt_json) is JSON and no job. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/utf8.h"
#include "redis/events.h"
#include "redis/job.h"
#include "workers/call.h"

static volatile unsigned fuzz_sink;

static void check_str(const char *s, size_t field)
{
    size_t n = strnlen(s, field);
    if (n >= field || !utf8_valid(s, n))
        abort();
}

static void check_job(const struct job *j)
{
    check_str(j->id, sizeof j->id);
    check_str(j->request, sizeof j->request);
    check_str(j->phase, sizeof j->phase);
    if ((unsigned)j->queue >= QUEUE_COUNT ||
        (j->queue != QUEUE_KB && (unsigned)j->model >= MODEL_COUNT))
        abort();
    check_str(j->model_id, sizeof j->model_id);
    check_str(j->kb_id, sizeof j->kb_id);
    if (!job_id_valid(j->id, strlen(j->id)) || !job_id_valid(j->request, strlen(j->request)))
        abort();
    if (j->system && (!*j->system || !utf8_valid(j->system, strlen(j->system))))
        abort();
    /* A named prompt is 64 lowercase hex digits, and never beside a carried one. */
    check_str(j->system_sha256, sizeof j->system_sha256);
    if (j->system_sha256[0] &&
        (j->system || !job_sha256_valid(j->system_sha256, strlen(j->system_sha256))))
        abort();
    bool kb = j->queue == QUEUE_KB;
    if (kb) {
        if (!j->query || !*j->query || j->n_messages || j->n_results < 1 || j->n_results > 100)
            abort();
        return;
    }
    if (j->n_messages < 1 || j->n_messages > JOB_MAX_MESSAGES || j->query)
        abort();
    for (size_t i = 0; i < j->n_messages; i++) {
        const struct job_message *m = &j->messages[i];
        if (strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0)
            abort();
        if (!*m->text || !utf8_valid(m->text, strlen(m->text)))
            abort();
    }
    if (j->max_tokens < 0 || j->max_tokens > 10000 || j->temperature > 1 || j->top_p > 1 ||
        (j->temperature < 0 && j->temperature != -1) || (j->top_p < 0 && j->top_p != -1))
        abort();
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_job(const struct job *a, const struct job *b)
{
    if (strcmp(a->id, b->id) || strcmp(a->request, b->request) || a->queue != b->queue ||
        strcmp(a->phase, b->phase) || (a->queue != QUEUE_KB && a->model != b->model) ||
        strcmp(a->model_id, b->model_id) || strcmp(a->kb_id, b->kb_id) ||
        !same_str(a->system, b->system) || strcmp(a->system_sha256, b->system_sha256) ||
        !same_str(a->query, b->query) ||
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

static void fuzz_job(const char *text, size_t len)
{
    struct job j, k;
    char err[256];
    if (job_from_json(text, len, &j, err, sizeof err) != 0) {
        if (!err[0] || j.system || j.query || j.n_messages)
            abort();
        return;
    }
    check_job(&j);
    struct buf a, b;
    buf_init(&a, 8u * JOB_MAX_BYTES);
    buf_init(&b, 8u * JOB_MAX_BYTES);
    if (job_to_json(&j, &a) != 0)
        abort();
    /* Escapes may make the output longer than the input; past the cap a re-read is refused
     * by design, so the property applies below it. */
    if (a.len <= JOB_MAX_BYTES) {
        if (job_from_json(a.data, a.len, &k, err, sizeof err) != 0)
            abort();
        if (!same_job(&j, &k) || job_to_json(&k, &b) != 0 || a.len != b.len ||
            memcmp(a.data, b.data, a.len) != 0)
            abort();
        job_free(&k);
    }
    /* The receipt of the same job is JSON and refused as a job (it has no prompts). */
    buf_reset(&b);
    json_object *receipt = NULL;
    if (job_receipt_json(&j, &b) != 0 || !(receipt = json_tokener_parse(buf_cstr(&b))) ||
        job_from_json(b.data, b.len, &k, err, sizeof err) == 0)
        abort();
    json_object_put(receipt);
    if (j.queue != QUEUE_KB) {
        struct bedrock_converse_req req;
        struct bedrock_message msgs[JOB_MAX_MESSAGES];
        struct buf body;
        buf_init(&body, 16u * JOB_MAX_BYTES);
        call_request(&j, msgs, &req);
        if (bedrock_converse_body(&req, &body) != 0)
            abort();
        buf_free(&body);
    }
    buf_free(&a);
    buf_free(&b);
    job_free(&j);
}

static void fuzz_msg(const char *msg, size_t len)
{
    struct event_msg m;
    if (event_msg_parse(msg, len, &m) != 0)
        return;
    if (m.id != msg || m.type != msg + m.id_len + 1 || m.data != m.type + m.type_len + 1 ||
        m.id_len + m.type_len + m.data_len + 2 != len || !m.id_len || !m.type_len || !m.data_len)
        abort();
    for (size_t i = 0; i < len; i++)
        fuzz_sink += (unsigned char)msg[i];
}

/* The builders on untrusted text: the result must be one valid JSON object. */
static void fuzz_builders(const char *text, size_t len)
{
    struct buf out;
    buf_init(&out, 64 * len + 4096); /* 8 copies of the text, each byte at most \u00XX */
    char *s = strndup(text, len);
    if (!s)
        return;
    if (event_delta_json(&out, s, s, text, len) != 0 ||
        event_error_json(&out, s, NULL, s, s, true) != 0)
        abort();
    struct bedrock_passage p = {s, s, s, 0.5};
    if (call_passages_json(&out, &p, 1) != 0)
        abort();
    if (!utf8_valid(out.data, out.len))
        abort();
    json_tokener *tok = json_tokener_new();
    size_t off = 0;
    for (int i = 0; i < 3; i++) { /* three objects back to back */
        json_object *o = json_tokener_parse_ex(tok, out.data + off, (int)(out.len - off));
        if (!o || !json_object_is_type(o, json_type_object))
            abort();
        off += json_tokener_get_parse_end(tok);
        json_object_put(o);
        json_tokener_reset(tok);
    }
    json_tokener_free(tok);
    free(s);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_job((const char *)data, size);
    fuzz_msg((const char *)data, size);
    if (size <= 4096)
        fuzz_builders((const char *)data, size);
    return 0;
}
