/* job: the job JSON both ways (see job.h).
 *
 * job_from_json reads bytes that anyone with access to Redis could have written, so it trusts
 * nothing: every field is type-checked, every string length-checked against the struct field
 * it lands in, checked for UTF-8 and NUL, and on any error nothing is left allocated. No I/O
 * (tests/fuzz/fuzz_jobs.c feeds it hostile bytes). */
#include "redis/job.h"

#include <json-c/json.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/utf8.h"

/* Nesting of a job: root object → messages array → message object. Anything deeper is not a
 * job, and a small limit keeps a hostile "[[[[..." from costing stack or time. */
#define JOB_JSON_DEPTH 6
#define JOB_TS_MAX 32503680000000LL /* year 3000 in epoch ms: past it a timestamp is garbage */

/* ---- reading ---------------------------------------------------------------------------- */

bool job_id_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

bool job_sha256_valid(const char *s, size_t n)
{
    if (n != JOB_SHA256_HEX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

void job_prompt_name(const char *text, size_t len, char out[JOB_SHA256_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    /* EVP_Digest of SHA-256 fails only when OpenSSL cannot allocate: an empty name, which
     * no job accepts, rather than a wrong one. */
    if (!EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[JOB_SHA256_HEX] = '\0';
}

static bool phase_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return n > 0;
}

static bool printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return n > 0;
}

/* Looks up key; 0 when absent (or JSON null), 1 when it has type t, -1 (errstr) otherwise. */
static int member(json_object *o, const char *key, json_type t, json_object **out,
                  char *errstr, size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    bool ok = json_object_is_type(v, t) ||
              (t == json_type_double && json_object_is_type(v, json_type_int));
    if (!ok) {
        static const char *const names[] = {[json_type_boolean] = "a boolean",
                                            [json_type_double] = "a number",
                                            [json_type_int] = "an integer",
                                            [json_type_object] = "an object",
                                            [json_type_array] = "an array",
                                            [json_type_string] = "a string"};
        errstr_set(errstr, errlen, "\"%s\": want %s", key, names[t] ? names[t] : "?");
        return -1;
    }
    *out = v;
    return 1;
}

/* A string member: present unless optional, at most max bytes, UTF-8, no NUL. *s is NULL
 * when an optional member is absent. */
static int get_str(json_object *o, const char *key, bool required, size_t max, const char **s,
                   size_t *n, char *errstr, size_t errlen)
{
    json_object *v;
    *s = NULL;
    *n = 0;
    int rc = member(o, key, json_type_string, &v, errstr, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (required)
            errstr_set(errstr, errlen, "\"%s\" is missing", key);
        return required ? -1 : 0;
    }
    const char *p = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len > max) {
        errstr_set(errstr, errlen, "\"%s\" is longer than %zu bytes", key, max);
        return -1;
    }
    if (memchr(p, '\0', len) || !utf8_valid(p, len)) {
        errstr_set(errstr, errlen, "\"%s\" is not valid UTF-8 text", key);
        return -1;
    }
    *s = p;
    *n = len;
    return 0;
}

/* A string member copied into a fixed field (size includes the NUL), checked by valid(). */
static int get_fixed(json_object *o, const char *key, bool required, char *dst, size_t size,
                     bool (*valid)(const char *, size_t), char *errstr, size_t errlen)
{
    const char *s;
    size_t n;
    if (get_str(o, key, required, size - 1, &s, &n, errstr, errlen) < 0)
        return -1;
    if (!s)
        return 0;
    if (!valid(s, n)) {
        errstr_set(errstr, errlen, "\"%s\" has a character it may not contain", key);
        return -1;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int get_int(json_object *o, const char *key, bool required, long long lo, long long hi,
                   long long dflt, long long *out, char *errstr, size_t errlen)
{
    json_object *v;
    int rc = member(o, key, json_type_int, &v, errstr, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (required)
            errstr_set(errstr, errlen, "\"%s\" is missing", key);
        *out = dflt;
        return required ? -1 : 0;
    }
    long long x = json_object_get_int64(v); /* clamps; the range check catches a clamped value */
    if (x < lo || x > hi) {
        errstr_set(errstr, errlen, "\"%s\": want an integer in %lld..%lld", key, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* An optional number in [0, 1]; -1 when absent. */
static int get_unit(json_object *o, const char *key, double *out, char *errstr, size_t errlen)
{
    json_object *v;
    int rc = member(o, key, json_type_double, &v, errstr, errlen);
    *out = -1;
    if (rc <= 0)
        return rc;
    double x = json_object_get_double(v);
    if (!isfinite(x) || x < 0 || x > 1) {
        errstr_set(errstr, errlen, "\"%s\": want a number in 0..1", key);
        return -1;
    }
    *out = x == 0 ? 0 : x; /* -0.0 would print as "-0" and read back as 0 */
    return 0;
}

static int get_messages(json_object *root, struct job *j, size_t *total, char *errstr,
                        size_t errlen)
{
    json_object *arr;
    int rc = member(root, "messages", json_type_array, &arr, errstr, errlen);
    if (rc <= 0) {
        if (rc == 0)
            errstr_set(errstr, errlen, "\"messages\" is missing");
        return -1;
    }
    size_t n = json_object_array_length(arr);
    if (n == 0 || n > JOB_MAX_MESSAGES) {
        errstr_set(errstr, errlen, "\"messages\": want 1..%d messages", JOB_MAX_MESSAGES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(m, json_type_object)) {
            errstr_set(errstr, errlen, "messages[%zu]: want an object", i);
            return -1;
        }
        const char *role, *text;
        size_t rn, tn;
        if (get_str(m, "role", true, 16, &role, &rn, errstr, errlen) < 0 ||
            get_str(m, "text", true, JOB_MAX_BYTES, &text, &tn, errstr, errlen) < 0)
            return -1;
        if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0) {
            errstr_set(errstr, errlen, "messages[%zu].role: want user or assistant", i);
            return -1;
        }
        if (tn == 0) {
            errstr_set(errstr, errlen, "messages[%zu].text is empty", i);
            return -1;
        }
        *total += tn;
        j->messages[i].role = xstrndup(role, rn);
        j->messages[i].text = xstrndup(text, tn);
        j->n_messages = i + 1;
    }
    return 0;
}

static int get_model_fields(json_object *root, struct job *j, long long version, char *errstr,
                            size_t errlen)
{
    const char *model;
    size_t mn;
    if (get_str(root, "model", true, 16, &model, &mn, errstr, errlen) < 0)
        return -1;
    if (model_parse(model, mn, &j->model) < 0) {
        errstr_set(errstr, errlen, "\"model\": want micro or pro");
        return -1;
    }
    if (get_fixed(root, "model_id", true, j->model_id, sizeof j->model_id, printable_ascii,
                  errstr, errlen) < 0)
        return -1;
    const char *sys;
    size_t sn, total = 0;
    if (get_str(root, "system", false, JOB_MAX_BYTES, &sys, &sn, errstr, errlen) < 0)
        return -1;
    if (version >= 2 && get_fixed(root, "system_sha256", false, j->system_sha256,
                                  sizeof j->system_sha256, job_sha256_valid, errstr,
                                  errlen) < 0)
        return -1;
    if (j->system_sha256[0] && sys && sn > 0) {
        /* Which of the two would the model be given? Neither is guessed. */
        errstr_set(errstr, errlen, "\"system\" and \"system_sha256\" are both set");
        return -1;
    }
    if (sys && sn > 0) /* an empty system block is a Bedrock ValidationException */
        j->system = xstrndup(sys, sn);
    total += sn;
    json_object *v;
    int rc = member(root, "cache_point", json_type_boolean, &v, errstr, errlen);
    if (rc < 0)
        return -1;
    j->cache_point = rc > 0 && json_object_get_boolean(v);
    rc = member(root, "converse", json_type_boolean, &v, errstr, errlen);
    if (rc < 0)
        return -1;
    j->converse = rc > 0 && json_object_get_boolean(v);
    if (get_messages(root, j, &total, errstr, errlen) < 0)
        return -1;
    if (total > JOB_MAX_BYTES) {
        errstr_set(errstr, errlen, "system and messages exceed %u bytes", JOB_MAX_BYTES);
        return -1;
    }
    long long mt;
    if (get_int(root, "max_tokens", false, 1, 10000, 0, &mt, errstr, errlen) < 0 ||
        get_unit(root, "temperature", &j->temperature, errstr, errlen) < 0 ||
        get_unit(root, "top_p", &j->top_p, errstr, errlen) < 0)
        return -1;
    j->max_tokens = (int)mt;
    return 0;
}

static int get_kb_fields(json_object *root, struct job *j, char *errstr, size_t errlen)
{
    const char *q;
    size_t qn;
    long long n;
    if (get_fixed(root, "kb_id", false, j->kb_id, sizeof j->kb_id, job_id_valid, errstr,
                  errlen) < 0 ||
        get_str(root, "query", true, JOB_MAX_BYTES, &q, &qn, errstr, errlen) < 0 ||
        get_int(root, "n", false, 1, 100, 5, &n, errstr, errlen) < 0)
        return -1;
    if (qn == 0) {
        errstr_set(errstr, errlen, "\"query\" is empty");
        return -1;
    }
    j->query = xstrndup(q, qn);
    j->n_results = (int)n;
    return 0;
}

static int job_from_root(json_object *root, struct job *j, char *errstr, size_t errlen)
{
    long long v;
    if (!json_object_is_type(root, json_type_object)) {
        errstr_set(errstr, errlen, "a job is a JSON object");
        return -1;
    }
    if (get_int(root, "v", true, 1, 2, 0, &v, errstr, errlen) < 0 ||
        get_fixed(root, "id", true, j->id, sizeof j->id, job_id_valid, errstr, errlen) < 0 ||
        get_fixed(root, "request", true, j->request, sizeof j->request, job_id_valid, errstr,
                  errlen) < 0 ||
        get_int(root, "created_ms", true, 1, JOB_TS_MAX, 0, &j->created_ms, errstr,
                errlen) < 0 ||
        get_int(root, "deadline_ms", true, 1, JOB_TS_MAX, 0, &j->deadline_ms, errstr,
                errlen) < 0)
        return -1;
    const char *queue;
    size_t qn;
    if (get_str(root, "queue", true, 16, &queue, &qn, errstr, errlen) < 0)
        return -1;
    /* A handoff is no model job (workers/handoff.h reads its own entries). */
    if (queue_parse(queue, qn, &j->queue) < 0 || j->queue == QUEUE_HANDOFF) {
        errstr_set(errstr, errlen, "\"queue\": want micro, pro or kb");
        return -1;
    }
    bool kb = j->queue == QUEUE_KB;
    if (get_fixed(root, "phase", !kb, j->phase, sizeof j->phase, phase_valid, errstr,
                  errlen) < 0)
        return -1;
    return kb ? get_kb_fields(root, j, errstr, errlen)
              : get_model_fields(root, j, v, errstr, errlen);
}

int job_from_json(const char *text, size_t len, struct job *j, char *errstr, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->temperature = j->top_p = -1;
    if (len > JOB_MAX_BYTES) {
        errstr_set(errstr, errlen, "job is %zu bytes, more than %u", len, JOB_MAX_BYTES);
        return -1;
    }
    /* JSON text never holds a raw NUL; json-c would stop at one and judge a prefix. */
    if (len == 0 || memchr(text, '\0', len)) {
        errstr_set(errstr, errlen, "job is empty or holds a NUL byte");
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex(JOB_JSON_DEPTH);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success || end != len) {
        errstr_set(errstr, errlen, "job is not one JSON value: %s",
                   root && end != len ? "trailing bytes"
                   : jerr == json_tokener_continue ? "truncated"
                                                   : json_tokener_error_desc(jerr));
        json_object_put(root);
        return -1;
    }
    int rc = job_from_root(root, j, errstr, errlen);
    json_object_put(root);
    if (rc < 0) {
        job_free(j);
        memset(j, 0, sizeof *j);
    }
    return rc;
}

void job_free(struct job *j)
{
    free(j->system);
    free(j->query);
    j->system = j->query = NULL;
    for (size_t i = 0; i < j->n_messages && i < JOB_MAX_MESSAGES; i++) {
        free((char *)j->messages[i].role);
        free((char *)j->messages[i].text);
        j->messages[i].role = j->messages[i].text = NULL;
    }
    j->n_messages = 0;
}

const char *job_model_name(const struct job *j)
{
    return j->queue == QUEUE_KB ? NULL : model_name(j->model);
}

/* ---- writing ---------------------------------------------------------------------------- */

static bool str_ok(const char *s)
{
    return !s || utf8_valid(s, strlen(s));
}

/* A job's name, queue, phase and model: the head of both the job and its receipt. */
static json_object *job_head(const struct job *j, bool named)
{
    bool kb = j->queue == QUEUE_KB;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "v", json_object_new_int(named ? 2 : 1));
    json_object_object_add(o, "id", json_object_new_string(j->id));
    json_object_object_add(o, "request", json_object_new_string(j->request));
    json_object_object_add(o, "queue", json_object_new_string(queue_name(j->queue)));
    if (j->phase[0])
        json_object_object_add(o, "phase", json_object_new_string(j->phase));
    if (!kb)
        json_object_object_add(o, "model", json_object_new_string(model_name(j->model)));
    return o;
}

int job_to_json(const struct job *j, struct buf *out)
{
    bool kb = j->queue == QUEUE_KB, named = !kb && j->system_sha256[0];
    bool ok = (unsigned)j->queue < QUEUE_COUNT && j->queue != QUEUE_HANDOFF && (kb || (unsigned)j->model < MODEL_COUNT) &&
              str_ok(j->id) && str_ok(j->request) && str_ok(j->phase) && str_ok(j->model_id) &&
              str_ok(j->system) && str_ok(j->kb_id) && str_ok(j->query) &&
              j->n_messages <= JOB_MAX_MESSAGES &&
              (!named || job_sha256_valid(j->system_sha256, strlen(j->system_sha256)));
    for (size_t i = 0; ok && i < j->n_messages; i++)
        ok = j->messages[i].role && j->messages[i].text && str_ok(j->messages[i].role) &&
             str_ok(j->messages[i].text);
    if (!ok)
        return -1;
    json_object *o = job_head(j, named);
    if (kb) {
        if (j->kb_id[0])
            json_object_object_add(o, "kb_id", json_object_new_string(j->kb_id));
        json_object_object_add(o, "query", json_object_new_string(j->query ? j->query : ""));
        json_object_object_add(o, "n", json_object_new_int(j->n_results));
    } else {
        json_object_object_add(o, "model_id", json_object_new_string(j->model_id));
        if (named)
            json_object_object_add(o, "system_sha256", json_object_new_string(j->system_sha256));
        else if (j->system)
            json_object_object_add(o, "system", json_object_new_string(j->system));
        json_object_object_add(o, "cache_point", json_object_new_boolean(j->cache_point));
        if (j->converse)
            json_object_object_add(o, "converse", json_object_new_boolean(true));
        json_object *msgs = json_object_new_array();
        for (size_t i = 0; i < j->n_messages; i++) {
            json_object *m = json_object_new_object();
            json_object_object_add(m, "role", json_object_new_string(j->messages[i].role));
            json_object_object_add(m, "text", json_object_new_string(j->messages[i].text));
            json_object_array_add(msgs, m);
        }
        json_object_object_add(o, "messages", msgs);
        if (j->max_tokens > 0)
            json_object_object_add(o, "max_tokens", json_object_new_int(j->max_tokens));
        if (j->temperature >= 0)
            json_object_object_add(o, "temperature", json_new_short_double(j->temperature));
        if (j->top_p >= 0)
            json_object_object_add(o, "top_p", json_new_short_double(j->top_p));
    }
    json_object_object_add(o, "created_ms", json_object_new_int64(j->created_ms));
    json_object_object_add(o, "deadline_ms", json_object_new_int64(j->deadline_ms));
    return json_append_put(o, out);
}

int job_receipt_json(const struct job *j, struct buf *out)
{
    if ((unsigned)j->queue >= QUEUE_COUNT || j->queue == QUEUE_HANDOFF ||
        (j->queue != QUEUE_KB && (unsigned)j->model >= MODEL_COUNT))
        return -1;
    json_object *o = job_head(j, j->system_sha256[0] != '\0');
    if (j->queue != QUEUE_KB) {
        json_object_object_add(o, "model_id", json_object_new_string(j->model_id));
        if (j->system_sha256[0])
            json_object_object_add(o, "system_sha256", json_object_new_string(j->system_sha256));
    }
    json_object_object_add(o, "created_ms", json_object_new_int64(j->created_ms));
    json_object_object_add(o, "deadline_ms", json_object_new_int64(j->deadline_ms));
    return json_append_put(o, out);
}
