/* events: the data of a stream's events, built and read (see events.h). No I/O. */
#include "redis/events.h"

#include <string.h>

#include "core/json.h"

void event_add_phase_model(json_object *o, const char *phase, const char *model)
{
    if (phase && *phase)
        json_object_object_add(o, "phase", json_new_text(phase, strlen(phase)));
    if (model && *model)
        json_object_object_add(o, "model", json_new_text(model, strlen(model)));
}

int event_delta_json(struct buf *out, const char *phase, const char *model, const char *text,
                     size_t len)
{
    json_object *o = json_object_new_object();
    event_add_phase_model(o, phase, model);
    json_object_object_add(o, "text", json_new_text(text, len));
    return json_append_put(o, out);
}

json_object *event_usage_object(const struct token_usage *u)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "input_tokens", json_object_new_int64(u->input_tokens));
    json_object_object_add(o, "output_tokens", json_object_new_int64(u->output_tokens));
    json_object_object_add(o, "cache_read_tokens", json_object_new_int64(u->cache_read_tokens));
    json_object_object_add(o, "cache_write_tokens",
                           json_object_new_int64(u->cache_write_tokens));
    return o;
}

int event_translation_json(struct buf *out, const char *phase, const char *model,
                           const char *text, size_t len, const char *source,
                           const char *target, const struct token_usage *u)
{
    json_object *o = json_object_new_object();
    event_add_phase_model(o, phase, model);
    json_object_object_add(o, "translated_query", json_new_text(text, len));
    json_object_object_add(o, "source_language", json_new_text(source, strlen(source)));
    json_object_object_add(o, "target_language", json_new_text(target, strlen(target)));
    json_object_object_add(o, "usage", event_usage_object(u));
    return json_append_put(o, out);
}

int event_error_json(struct buf *out, const char *phase, const char *model, const char *code,
                     const char *message, bool retryable)
{
    json_object *o = json_object_new_object();
    event_add_phase_model(o, phase, model);
    json_object_object_add(o, "code", json_new_text(code, code ? strlen(code) : 0));
    json_object_object_add(o, "message", json_new_text(message, message ? strlen(message) : 0));
    json_object_object_add(o, "retryable", json_object_new_boolean(retryable));
    return json_append_put(o, out);
}


int event_msg_parse(const char *msg, size_t len, struct event_msg *out)
{
    memset(out, 0, sizeof *out);
    /* id: a stream entry id "<ms>-<seq>", each part 1..20 digits */
    size_t i = 0, digits = 0, dashes = 0;
    for (; i < len && msg[i] != ' '; i++) {
        if (msg[i] == '-' && digits > 0 && dashes == 0) {
            dashes++;
            digits = 0;
        } else if (msg[i] >= '0' && msg[i] <= '9' && digits < 20) {
            digits++;
        } else {
            return -1;
        }
    }
    if (dashes != 1 || digits == 0 || i >= len)
        return -1;
    out->id = msg;
    out->id_len = i;
    size_t t0 = ++i;
    for (; i < len && msg[i] != ' '; i++)
        if (!((msg[i] >= 'a' && msg[i] <= 'z') || msg[i] == '_') || i - t0 >= 32)
            return -1;
    if (i == t0 || i >= len || i + 1 >= len) /* a type, a blank, then at least one data byte */
        return -1;
    out->type = msg + t0;
    out->type_len = i - t0;
    out->data = msg + i + 1;
    out->data_len = len - i - 1;
    return 0;
}

int event_notice_json(struct buf *out, const char *phase, const char *model, const char *code,
                      const char *text)
{
    json_object *o = json_object_new_object();
    event_add_phase_model(o, phase, model);
    json_object_object_add(o, "code", json_new_text(code, code ? strlen(code) : 0));
    json_object_object_add(o, "text", json_new_text(text, text ? strlen(text) : 0));
    return json_append_put(o, out);
}

int event_entry_parse(const redisReply *e, const redisReply **id, const redisReply **type,
                      const redisReply **data)
{
    *id = *type = *data = NULL;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    const redisReply *f = e->element[1];
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *val = f->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(name->str, "t") == 0)
            *type = val;
        else if (strcmp(name->str, "d") == 0)
            *data = val;
    }
    *id = e->element[0];
    return *type && *data ? 0 : -1;
}

/* A count as read from outside: never negative, never so large that a request's sum of them
 * could overflow. */
static long usage_count(json_object *usage, const char *key)
{
    long long v = json_get_int(usage, key);
    return v < 0 ? 0 : v > EVENT_USAGE_MAX ? EVENT_USAGE_MAX : (long)v;
}

void event_usage_parse(json_object *usage, struct token_usage *u)
{
    u->input_tokens = usage_count(usage, "input_tokens");
    u->output_tokens = usage_count(usage, "output_tokens");
    u->cache_read_tokens = usage_count(usage, "cache_read_tokens");
    u->cache_write_tokens = usage_count(usage, "cache_write_tokens");
}
