/* handoff_doc: a handoff's document, built from Redis (see handoff_doc.h).
 *
 * The request itself is record.h's object (the transcript rebuilt: question, translation,
 * entities, sources, every answer with its model id, usage, cost), its members put at the top
 * of the document. Then the request's pending turn (nova:turn:<request>: its session, while
 * no stream has saved it yet) and the session's turns (nova:session:<id>), attached only when
 * that session holds this request: a page can only attach the conversation the request
 * belongs to. */
#include "handoff_doc.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <json-c/json.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/utf8.h"
#include "feedback.h"
#include "redis/contract.h"
#include "record.h"

/* ---- the body --------------------------------------------------------------------------- */

/* An optional string member: absent or null leaves out "" ; else at most max_chars valid
 * characters (json-c validated the UTF-8), control characters refused when !multiline. */
static int body_string(json_object *root, const char *name, size_t max_chars, bool multiline,
                       char *out, size_t outlen, char *errstr, size_t errlen)
{
    json_object *v;
    out[0] = '\0';
    if (!json_object_object_get_ex(root, name, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string)) {
        errstr_set(errstr, errlen, "\"%s\" must be a string", name);
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (memchr(s, '\0', n) || !utf8_valid(s, n)) {
        errstr_set(errstr, errlen, "\"%s\" must be valid UTF-8 text", name);
        return -1;
    }
    if (utf8_count(s, n) > max_chars || n >= outlen) {
        errstr_set(errstr, errlen, "\"%s\" is longer than %zu characters", name, max_chars);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && !(multiline && (ch == '\n' || ch == '\t' || ch == '\r'))) ||
            ch == 0x7f) {
            errstr_set(errstr, errlen, "\"%s\" holds a control character", name);
            return -1;
        }
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int handoff_body_parse(const char *p, size_t n, struct handoff_body *b, char *errstr,
                       size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (n == 0 || memchr(p, '\0', n)) {
        errstr_set(errstr, errlen, "the body must be a JSON object (it may be {})");
        return -1;
    }
    json_object *root = json_parse_object_strict(p, n, 8);
    int rc = -1;
    if (!root) {
        errstr_set(errstr, errlen, "the body must be one JSON object of valid UTF-8");
    } else if (body_string(root, "note", HANDOFF_NOTE_MAX_CHARS, true, b->note, sizeof b->note,
                           errstr, errlen) == 0 &&
               body_string(root, "contact", HANDOFF_CONTACT_MAX_CHARS, false, b->contact,
                           sizeof b->contact, errstr, errlen) == 0 &&
               body_string(root, "session_id", CHATREQ_SESSION_MAX, false, b->session_id,
                           sizeof b->session_id, errstr, errlen) == 0) {
        if (b->session_id[0] &&
            !chatreq_session_id_valid(b->session_id, strlen(b->session_id)))
            errstr_set(errstr, errlen, "\"session_id\" is not 8 to 64 characters of "
                       "A-Z a-z 0-9 _ -");
        else
            rc = 0;
    }
    json_object_put(root);
    return rc;
}

void handoff_doc_new_id(char *out)
{
    unsigned char r[HANDOFF_DOC_ID_LEN / 2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) { /* never on Linux ≥ 3.17 */
        unsigned long long t = (unsigned long long)clock_epoch_ms() ^ (unsigned long long)clock_mono_ms() << 20;
        for (size_t i = 0; i < sizeof r; i++, t = t * 6364136223846793005ULL + 1442695040888963407ULL)
            r[i] = (unsigned char)(t >> 56);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[HANDOFF_DOC_ID_LEN] = '\0';
}

void handoff_doc_free(struct handoff_doc *doc)
{
    buf_free(&doc->json);
}

/* A JSON object parsed from a reply string, or NULL. */
static json_object *parse_obj(const redisReply *s)
{
    if (!s || s->type != REDIS_REPLY_STRING || s->len > (1 << 20))
        return NULL;
    json_object *o = json_tokener_parse(s->str);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static const char *str_of(json_object *o, const char *name)
{
    json_object *v;
    return o && json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* The player's last feedback on request_id (feedback.h: the one that counts) as the document
 * carries it — {"rating", "reason", "comment", "time"}, reason and comment null when none — or
 * NULL when there is none, into *out. Returns 0, or -1 with errstr (Redis failed). The entry
 * also holds the request's record: the document has that already, once. */
static int last_feedback(redisContext *c, const char *request_id, json_object **out,
                         char *errstr, size_t errlen)
{
    *out = NULL;
    struct buf raw;
    buf_init(&raw, 4u << 20);
    int rc = feedback_latest(c, request_id, &raw, errstr, errlen);
    if (rc <= 0) {
        buf_free(&raw);
        return rc;
    }
    json_object *d = json_tokener_parse(raw.data ? raw.data : "");
    buf_free(&raw);
    if (!d || !json_object_is_type(d, json_type_object)) {
        json_object_put(d); /* unreadable: said as none rather than failing the handoff */
        return 0;
    }
    json_object *fb = json_object_new_object(), *v;
    static const char *const keep[] = {"rating", "reason", "comment", "time"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        v = NULL;
        if (json_object_object_get_ex(d, keep[i], &v) && json_object_is_type(v, json_type_string))
            json_object_object_add(fb, keep[i], json_object_get(v));
        else
            json_object_object_add(fb, keep[i], NULL);
    }
    json_object_put(d);
    *out = fb;
    return 0;
}

/* The session's turns (the last HANDOFF_SESSION_TURNS), when one of them is request_id's;
 * the question of request_id's turn into *question when it had none. */
static json_object *session_turns(const redisReply *list, const char *request_id,
                                  json_object **question)
{
    json_object *turns = json_object_new_array();
    bool mine = false;
    for (size_t i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        json_object *t = parse_obj(list->element[i]);
        if (!t)
            continue;
        const char *rid = str_of(t, "request_id");
        if (rid && strcmp(rid, request_id) == 0) {
            mine = true;
            if (!*question && str_of(t, "question"))
                *question = json_object_new_string(str_of(t, "question"));
        }
        json_object_array_add(turns, t);
    }
    if (!mine) {
        json_object_put(turns);
        return NULL;
    }
    return turns;
}

int handoff_doc_build(redisContext *c, const char *request_id, const char *handoff_id,
                      const struct handoff_body *b, struct handoff_doc *doc, char *errstr,
                      size_t errlen)
{
    static _Thread_local struct record rec;
    record_init(&rec, request_id);
    int rc = record_read(c, request_id, &rec, errstr, errlen);
    if (rc <= 0) {
        record_free(&rec);
        return rc;
    }
    json_object *o = record_object(&rec);
    record_free(&rec);
    if (!o) {
        errstr_set(errstr, errlen, "the transcript of %s has no meta event", request_id);
        return -1;
    }
    rc = -1;
    char turn_key[KEY_MAX];
    key_turn(turn_key, sizeof turn_key, request_id);
    redisReply *turn = redisCommand(c, "GET %s", turn_key);
    if (!turn) {
        errstr_set(errstr, errlen, "GET %s: %s", turn_key, c->errstr);
        json_object_put(o);
        return -1;
    }
    long long now = clock_epoch_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[40], ms[8];
    strftime(when, sizeof when - sizeof ms, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ms, sizeof ms, ".%03dZ", (int)(now % 1000));
    strcat(when, ms);
    json_object_object_add(o, "handoff_id", json_object_new_string(handoff_id));
    json_object_object_add(o, "created_ms", json_object_new_int64(now));
    json_object_object_add(o, "time", json_object_new_string(when));
    json_object_object_add(o, "note", json_object_new_string(b->note));
    json_object_object_add(o, "contact", json_object_new_string(b->contact));
    /* The session: the body's, else the pending turn's (the stream has not saved it yet). */
    json_object *pending = parse_obj(turn), *question = NULL;
    const char *sid = b->session_id[0] ? b->session_id : str_of(pending, "session");
    json_object *turns = NULL;
    if (sid) {
        char skey[KEY_MAX];
        key_session(skey, sizeof skey, sid);
        redisReply *list = redisCommand(c, "LRANGE %s %d -1", skey, -HANDOFF_SESSION_TURNS);
        if (!list) {
            errstr_set(errstr, errlen, "LRANGE %s: %s", skey, c->errstr);
            json_object_put(pending);
            json_object_put(o);
            goto out;
        }
        turns = session_turns(list, request_id, &question);
        freeReplyObject(list);
    }
    json_object_put(pending);
    /* A transcript from before meta carried the question: the session's turn has it. */
    json_object *q;
    if (question && (!json_object_object_get_ex(o, "question", &q) ||
                     json_object_is_type(q, json_type_null)))
        json_object_object_add(o, "question", question);
    else
        json_object_put(question);
    json_object_object_add(o, "session", turns ? turns : json_object_new_array());
    json_object *fb = NULL;
    if (last_feedback(c, request_id, &fb, errstr, errlen) < 0) {
        json_object_put(o);
        goto out;
    }
    json_object_object_add(o, "feedback", fb);
    buf_init(&doc->json, HANDOFF_DOC_MAX);
    if (json_append_put(o, &doc->json) < 0) {
        buf_free(&doc->json);
        errstr_set(errstr, errlen, "the handoff is larger than %u bytes", HANDOFF_DOC_MAX);
        goto out;
    }
    rc = 1;
out:
    freeReplyObject(turn);
    return rc;
}
