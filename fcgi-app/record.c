/* record: a request's transcript folded into the one object a reviewer reads (record.h). */
#include "record.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/errstr.h"
#include "core/json.h"
#include "redis/contract.h"
#include "redis/events.h"
#include "redis/streamid.h"

void record_init(struct record *r, const char *request_id)
{
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id);
    r->notices = json_object_new_array();
    r->errors = json_object_new_array();
}

void record_free(struct record *r)
{
    json_object_put(r->meta);
    json_object_put(r->translation);
    json_object_put(r->notices);
    json_object_put(r->errors);
    json_object_put(r->done);
    for (size_t i = 0; i < r->n_answers; i++) {
        buf_free(&r->answers[i].text);
        json_object_put(r->answers[i].done);
        json_object_put(r->answers[i].error);
    }
    memset(r, 0, sizeof *r);
}

bool record_found(const struct record *r)
{
    return r->meta != NULL;
}

/* The answer of (phase, model), made when new; NULL when either is missing or too long, or
 * RECORD_MAX_ANSWERS are taken. */
static struct record_answer *answer_of(struct record *r, const char *phase, const char *model)
{
    if (!phase || !model || !phase[0] || !model[0])
        return NULL;
    struct record_answer *a;
    for (size_t i = 0; i < r->n_answers; i++) {
        a = &r->answers[i];
        if (strcmp(a->phase, phase) == 0 && strcmp(a->model, model) == 0)
            return a;
    }
    if (r->n_answers == RECORD_MAX_ANSWERS || strlen(phase) >= sizeof a->phase ||
        strlen(model) >= sizeof a->model)
        return NULL;
    a = &r->answers[r->n_answers++];
    memcpy(a->phase, phase, strlen(phase) + 1);
    memcpy(a->model, model, strlen(model) + 1);
    buf_init(&a->text, RECORD_TEXT_MAX);
    return a;
}

/* Replaces *slot with a new reference to v. */
static void keep(json_object **slot, json_object *v)
{
    json_object_put(*slot);
    *slot = json_object_get(v);
}

void record_add(struct record *r, const char *id, size_t id_len, const char *type,
                size_t type_len, const char *data, size_t data_len)
{
    json_object *e = json_parse(data, data_len);
    if (!e || !json_object_is_type(e, json_type_object)) {
        json_object_put(e);
        return;
    }
    r->entries++;
    const char *phase = json_get_str(e, "phase", NULL), *model = json_get_str(e, "model", NULL);
    struct record_answer *a;
    switch (event_type_parse(type, type_len)) {
    case EV_META:
        if (!r->meta) { /* the first one is the request's */
            struct stream_id sid;
            if (stream_id_parse(id, id_len, &sid) == 0)
                r->asked_ms = (long long)sid.ms;
            keep(&r->meta, e);
        }
        break;
    case EV_DELTA: {
        size_t n;
        const char *text = json_get_str(e, "text", &n);
        if ((a = answer_of(r, phase, model)) && text && buf_append(&a->text, text, n) < 0)
            r->truncated = true; /* whole deltas or none: the text stays valid UTF-8 */
        break;
    }
    case EV_MODEL_DONE:
        if ((a = answer_of(r, phase, model)))
            keep(&a->done, e);
        break;
    case EV_TRANSLATION:
        keep(&r->translation, json_get(e, "translated_query"));
        break;
    case EV_NOTICE:
        json_object_array_add(r->notices, json_object_get(e));
        break;
    case EV_ERROR:
        if ((a = answer_of(r, phase, model)))
            keep(&a->error, e);
        json_object_array_add(r->errors, json_object_get(e));
        break;
    case EV_DONE:
        keep(&r->done, e);
        break;
    default:
        r->entries--;
        break;
    }
    json_object_put(e);
}

/* A new reference to member key of o, or NULL (JSON null). */
static json_object *member(json_object *o, const char *key)
{
    return json_object_get(json_get(o, key));
}

/* meta's sources as {title, url, score}: the excerpts are the knowledge base's, not needed to
 * judge which passages the answer stood on. */
static json_object *sources_of(json_object *meta)
{
    json_object *out = json_object_new_array(), *in = json_get(meta, "sources");
    size_t n = in && json_object_is_type(in, json_type_array) ? json_object_array_length(in) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(in, i), *o = json_object_new_object();
        json_object_object_add(o, "title", member(s, "title"));
        json_object_object_add(o, "url", member(s, "url"));
        json_object_object_add(o, "score", member(s, "score"));
        json_object_array_add(out, o);
    }
    return out;
}

/* A notice or an error reduced to what it says (a worker's carries its phase and model). */
static json_object *slim(json_object *e, const char *const *keys)
{
    json_object *o = json_object_new_object();
    for (; *keys; keys++)
        if (json_get(e, *keys))
            json_object_object_add(o, *keys, member(e, *keys));
    return o;
}

json_object *record_object(const struct record *r)
{
    if (!r->meta)
        return NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "request_id", json_object_new_string(r->request_id));
    json_object_object_add(o, "asked_ms", json_object_new_int64(r->asked_ms));
    time_t secs = (time_t)(r->asked_ms / 1000);
    struct tm tm;
    char when[48];
    gmtime_r(&secs, &tm);
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03dZ", (int)(r->asked_ms % 1000));
    json_object_object_add(o, "asked_at", json_object_new_string(when));
    json_object_object_add(o, "ui_lang", member(r->meta, "ui_lang"));
    json_object_object_add(o, "input_lang", member(r->meta, "input_lang"));
    json_object_object_add(o, "question", member(r->meta, "question"));
    json_object_object_add(o, "translation", r->translation
                                                 ? json_object_get(r->translation)
                                                 : member(r->meta, "translated_query"));
    json_object *ents = member(r->meta, "entities");
    json_object_object_add(o, "entities", ents ? ents : json_object_new_array());
    json_object_object_add(o, "sources", sources_of(r->meta));
    json_object *models = json_get(r->meta, "models");
    json_object_object_add(o, "models", models ? json_object_get(models)
                                               : json_object_new_object());
    json_object_object_add(o, "prompt_sha256", member(r->meta, "prompt_sha256"));
    json_object *answers = json_object_new_array();
    for (size_t i = 0; i < r->n_answers; i++) {
        const struct record_answer *a = &r->answers[i];
        json_object *x = json_object_new_object();
        json_object_object_add(x, "phase", json_object_new_string(a->phase));
        json_object_object_add(x, "model", json_object_new_string(a->model));
        json_object_object_add(x, "model_id", member(models, a->model));
        json_object_object_add(x, "text", json_new_text(a->text.data, a->text.len));
        json_object_object_add(x, "stop_reason", member(a->done, "stop_reason"));
        json_object_object_add(x, "usage", member(a->done, "usage"));
        json_object_object_add(x, "error", member(a->error, "code"));
        json_object_array_add(answers, x);
    }
    json_object_object_add(o, "answers", answers);
    static const char *const notice_keys[] = {"phase", "model", "code", "text", NULL};
    static const char *const error_keys[] = {"phase", "model", "code", "message", NULL};
    json_object *notices = json_object_new_array(), *errors = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(r->notices); i++)
        json_object_array_add(notices, slim(json_object_array_get_idx(r->notices, i),
                                            notice_keys));
    for (size_t i = 0; i < json_object_array_length(r->errors); i++)
        json_object_array_add(errors, slim(json_object_array_get_idx(r->errors, i),
                                           error_keys));
    json_object_object_add(o, "notices", notices);
    json_object_object_add(o, "errors", errors);
    json_object_object_add(o, "usage", member(r->done, "usage"));
    json_object_object_add(o, "cost_usd", member(r->done, "cost_usd"));
    json_object_object_add(o, "elapsed_ms", member(r->done, "elapsed_ms"));
    json_object_object_add(o, "complete", json_object_new_boolean(r->done != NULL));
    json_object_object_add(o, "truncated", json_object_new_boolean(r->truncated));
    return o;
}

int record_json(const struct record *r, struct buf *out)
{
    json_object *o = record_object(r);
    return o ? json_append_put(o, out) : -1;
}

int record_read(redisContext *c, const char *request_id, struct record *r, char *errstr,
                size_t errlen)
{
    char key[KEY_MAX], start[STREAM_ID_MAX + 1] = "-", count[16];
    if (key_log(key, sizeof key, request_id) < 0) {
        errstr_set(errstr, errlen, "the request id makes no key");
        return -1;
    }
    snprintf(count, sizeof count, "%d", RECORD_PAGE);
    for (;;) {
        redisReply *page = redisCommand(c, "XRANGE %s %s + COUNT %s", key, start, count);
        if (!page) {
            errstr_set(errstr, errlen, "XRANGE %s: %s", key, c->errstr);
            return -1;
        }
        if (page->type != REDIS_REPLY_ARRAY) {
            errstr_set(errstr, errlen, "XRANGE %s: %s", key,
                       page->type == REDIS_REPLY_ERROR ? page->str : "unexpected reply");
            freeReplyObject(page);
            return -1;
        }
        struct stream_id last = {0, 0};
        bool have_last = false;
        for (size_t i = 0; i < page->elements; i++) {
            const redisReply *e = page->element[i], *id, *t, *d;
            /* Where the next page starts, even after an entry of another shape. */
            if (e->type == REDIS_REPLY_ARRAY && e->elements > 0 &&
                e->element[0]->type == REDIS_REPLY_STRING &&
                stream_id_parse(e->element[0]->str, (size_t)e->element[0]->len, &last) == 0)
                have_last = true;
            if (event_entry_parse(e, &id, &t, &d) < 0)
                continue;
            record_add(r, id->str, (size_t)id->len, t->str, (size_t)t->len, d->str,
                       (size_t)d->len);
        }
        size_t n = page->elements;
        freeReplyObject(page);
        if (n < RECORD_PAGE || !have_last)
            break;
        stream_id_format((struct stream_id[]){stream_id_next(last)}, start, sizeof start);
    }
    return record_found(r) ? 1 : 0;
}
