/* sse_client: the HTTP side of the pipeline tests: requests on one libcurl multi handle, SSE
 * responses read with common/core/sse.h's parser into recorded events, and a chat's events folded
 * into its model streams. Header-only (static functions) because each .c file in
 * tests/integration/ is built as a program of its own; test_pipeline.c includes it.
 *
 * A struct stream is one exchange: stream_new() prepares it, loop_add() starts it on a struct
 * loop, loop_run() moves every transfer forward until all have finished, a tick asks to stop, or
 * a timeout; a stream can be dropped mid-body (stop_after events, or drop = true from a tick),
 * which closes its connection at once. Events keep their id, type, data and arrival time. */
#ifndef NOVA_TEST_SSE_CLIENT_H
#define NOVA_TEST_SSE_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/sse.h"
#include "core/utf8.h"

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- streams: one HTTP exchange, its SSE events or its plain body ------------------------- */

struct ev {
    char id[64];
    char type[32];
    char *data;       /* owned, NUL-terminated */
    size_t len;
    double t_ms;      /* arrival, from the stream's start */
    json_object *json; /* parsed on demand (ev_json) */
};

struct stream {
    CURL *h;
    struct curl_slist *hdrs;
    char *body;        /* owned request body (POST) */
    size_t body_len;
    long status;
    char ctype[128];
    bool typed;        /* status and content type read */
    bool sse;
    struct sse_parser parser;
    struct buf raw;    /* non-SSE response body */
    struct ev *evs;
    size_t n, cap;
    size_t stop_after; /* drop the connection once this many events arrived (0: never) */
    bool drop;         /* tick asks loop_run() to drop it now */
    bool dropped, finished;
    CURLcode result;
    double t0, t_end;
    int mark;          /* free for a test's tick */
};

static inline int on_event(void *user, const struct sse_event *e)
{
    struct stream *s = user;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->evs = xrealloc(s->evs, s->cap * sizeof *s->evs);
    }
    struct ev *v = &s->evs[s->n++];
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", e->id ? e->id : "");
    snprintf(v->type, sizeof v->type, "%s", e->type ? e->type : "");
    v->data = xstrndup(e->data, e->data_len);
    v->len = e->data_len;
    v->t_ms = now_ms() - s->t0;
    return s->stop_after && s->n >= s->stop_after; /* non-zero: stop (drop the connection) */
}

static inline size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    struct stream *s = user;
    size_t n = size * nmemb;
    if (!s->typed) {
        char *ct = NULL;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
        curl_easy_getinfo(s->h, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "");
        s->sse = strncmp(s->ctype, "text/event-stream", 17) == 0;
        s->typed = true;
    }
    if (s->sse)
        return sse_parser_feed(&s->parser, p, n, on_event, s) == 0 ? n : 0;
    return buf_append(&s->raw, p, n) == 0 ? n : 0;
}

/* A request to path on base; content_type NULL: none; body NULL: GET (unless method given). */
static inline struct stream *stream_new(const char *base, const char *method, const char *path,
                                 const char *content_type, const char *body, size_t body_len,
                                 const char *last_event_id)
{
    struct stream *s = xcalloc(1, sizeof *s);
    char url[1024], h[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    sse_parser_init(&s->parser, 1u << 20);
    buf_init(&s->raw, 1u << 20);
    s->h = curl_easy_init();
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (content_type) {
        snprintf(h, sizeof h, "Content-Type: %s", content_type);
        s->hdrs = curl_slist_append(s->hdrs, h);
    }
    if (last_event_id) {
        snprintf(h, sizeof h, "Last-Event-ID: %s", last_event_id);
        s->hdrs = curl_slist_append(s->hdrs, h);
    }
    s->hdrs = curl_slist_append(s->hdrs, "Expect:");
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    if (body) {
        s->body = xmalloc(body_len + 1);
        memcpy(s->body, body, body_len);
        s->body[body_len] = '\0';
        s->body_len = body_len;
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (method)
        curl_easy_setopt(s->h, CURLOPT_CUSTOMREQUEST, method);
    return s;
}

/* POST /api/chat with {"message", "ui_lang"} on base. */
static inline struct stream *chat_new_on(const char *base, const char *message, const char *ui_lang)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(message));
    if (ui_lang)
        json_object_object_add(o, "ui_lang", json_object_new_string(ui_lang));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    struct stream *s = stream_new(base, NULL, "/api/chat", "application/json", js, strlen(js),
                                  NULL);
    json_object_put(o);
    return s;
}

static inline void stream_free(struct stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->evs[i].data);
        if (s->evs[i].json)
            json_object_put(s->evs[i].json);
    }
    free(s->evs);
    if (s->h)
        curl_easy_cleanup(s->h);
    curl_slist_free_all(s->hdrs);
    free(s->body);
    sse_parser_free(&s->parser);
    buf_free(&s->raw);
    free(s);
}

typedef int (*tick_fn)(void *user); /* called every loop turn; non-zero ends loop_run() */

/* A set of transfers on one multi handle; streams may be added between runs. */
struct loop {
    CURLM *m;
    struct stream **v;
    size_t n, cap;
};

static inline void loop_init(struct loop *l)
{
    memset(l, 0, sizeof *l);
    l->m = curl_multi_init();
}

static inline void loop_add(struct loop *l, struct stream *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
    s->t0 = now_ms();
    curl_multi_add_handle(l->m, s->h);
}

/* Runs the transfers until each has finished (or was dropped), tick asks to stop, or
 * timeout_ms passes. Streams still open stay open (and !finished) for a later run. */
static inline void loop_run(struct loop *l, int timeout_ms, tick_fn tick, void *user)
{
    double start = now_ms();
    for (;;) {
        int running = 0;
        curl_multi_perform(l->m, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(l->m, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct stream *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            s->result = msg->data.result;
            s->finished = true;
            s->t_end = now_ms() - s->t0;
            if (s->result == CURLE_WRITE_ERROR && s->stop_after && s->n >= s->stop_after)
                s->dropped = true;
            if (!s->typed) {
                char *ct = NULL;
                curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
                curl_easy_getinfo(s->h, CURLINFO_CONTENT_TYPE, &ct);
                snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "");
                s->typed = true;
            }
            curl_multi_remove_handle(l->m, msg->easy_handle);
        }
        if (tick && tick(user))
            return;
        size_t open = 0;
        for (size_t i = 0; i < l->n; i++) {
            struct stream *s = l->v[i];
            if (s->finished)
                continue;
            if (s->drop) {
                /* Removing a transfer in progress closes its connection at once. */
                curl_multi_remove_handle(l->m, s->h);
                s->finished = s->dropped = true;
                s->t_end = now_ms() - s->t0;
                continue;
            }
            open++;
        }
        if (!open || now_ms() - start > timeout_ms)
            return;
        curl_multi_poll(l->m, NULL, 0, 20, NULL);
    }
}

/* Drops whatever is still open and frees the multi handle (not the streams). */
static inline void loop_free(struct loop *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i]->finished)
            curl_multi_remove_handle(l->m, l->v[i]->h);
    curl_multi_cleanup(l->m);
    free(l->v);
}

/* Runs the streams to their end (or tick's, or the timeout's); open ones are then dropped. */
static inline void drive(struct stream **v, size_t n, int timeout_ms, tick_fn tick, void *user)
{
    struct loop l;
    loop_init(&l);
    for (size_t i = 0; i < n; i++)
        loop_add(&l, v[i]);
    loop_run(&l, timeout_ms, tick, user);
    loop_free(&l);
}

static inline void drive_one(struct stream *s, int timeout_ms)
{
    drive(&s, 1, timeout_ms, NULL, NULL);
}

/* ---- reading events ------------------------------------------------------------------------ */

static inline json_object *ev_json(struct ev *e)
{
    if (!e->json) {
        struct json_tokener *t = json_tokener_new();
        e->json = json_tokener_parse_ex(t, e->data, (int)e->len);
        if (json_tokener_get_error(t) != json_tokener_success && e->json) {
            json_object_put(e->json);
            e->json = NULL;
        }
        json_tokener_free(t);
    }
    return e->json;
}

static inline json_object *jget(json_object *o, const char *key)
{
    json_object *x = NULL;
    return o && json_object_object_get_ex(o, key, &x) ? x : NULL;
}

static inline const char *jstr(json_object *o, const char *key)
{
    json_object *x = jget(o, key);
    return x && json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
}

static inline bool jstr_is(json_object *o, const char *key, const char *want)
{
    const char *v = jstr(o, key);
    return v && strcmp(v, want) == 0;
}

/* Redis stream ids "ms-seq" in numeric order; -2 when either is not such an id. */
static inline int id_cmp(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    if (sscanf(a, "%llu-%llu", &am, &as) != 2 || sscanf(b, "%llu-%llu", &bm, &bs) != 2)
        return -2;
    if (am != bm)
        return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs ? 1 : 0;
}

static inline bool has_hangul(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xEA && c <= 0xED) /* lead bytes of U+AC00..U+D7A3 */
            return true;
    }
    return false;
}

#define MAX_MS 8

/* One model stream of a chat: (phase, model), its text and how it ended. */
struct model_stream {
    char phase[24];
    char model[16];
    struct buf text;
    size_t deltas;
    double first_ms, last_ms;
    bool done;              /* model_done seen */
    char stop_reason[32];
    long output_tokens;
    char error_code[32];    /* error event for this model, "" if none */
};

struct chat {
    struct model_stream ms[MAX_MS];
    size_t n_ms;
    char request_id[80];
    char meta_id[64];
    json_object *meta;      /* borrowed from the event */
    size_t n_done;
    bool done_last;
    bool ids_increasing;
    bool utf8_ok;
    bool json_ok;
    size_t n_errors;
    char first_error_code[32];
};

static inline struct model_stream *chat_ms(struct chat *c, const char *phase, const char *model)
{
    for (size_t i = 0; i < c->n_ms; i++)
        if (strcmp(c->ms[i].phase, phase) == 0 && strcmp(c->ms[i].model, model) == 0)
            return &c->ms[i];
    if (c->n_ms == MAX_MS)
        return NULL;
    struct model_stream *m = &c->ms[c->n_ms++];
    memset(m, 0, sizeof *m);
    snprintf(m->phase, sizeof m->phase, "%s", phase);
    snprintf(m->model, sizeof m->model, "%s", model);
    buf_init(&m->text, 4u << 20);
    m->output_tokens = -1;
    return m;
}

static inline void chat_free(struct chat *c)
{
    for (size_t i = 0; i < c->n_ms; i++)
        buf_free(&c->ms[i].text);
}

/* Reads a stream's events into c (no CHECKs: callers decide what matters). */
static inline void chat_read(struct stream *s, struct chat *c)
{
    memset(c, 0, sizeof *c);
    c->ids_increasing = c->utf8_ok = c->json_ok = true;
    for (size_t i = 0; i < s->n; i++) {
        struct ev *e = &s->evs[i];
        if (i > 0 && id_cmp(s->evs[i - 1].id, e->id) != -1)
            c->ids_increasing = false;
        if (!utf8_valid(e->data, e->len))
            c->utf8_ok = false;
        json_object *j = ev_json(e);
        if (!j) {
            c->json_ok = false;
            continue;
        }
        const char *phase = jstr(j, "phase"), *model = jstr(j, "model");
        if (strcmp(e->type, "meta") == 0) {
            c->meta = j;
            snprintf(c->meta_id, sizeof c->meta_id, "%s", e->id);
            snprintf(c->request_id, sizeof c->request_id, "%s",
                     jstr(j, "request_id") ? jstr(j, "request_id") : "");
        } else if (strcmp(e->type, "delta") == 0 && phase && model) {
            struct model_stream *m = chat_ms(c, phase, model);
            const char *text = jstr(j, "text");
            if (!m)
                continue;
            if (!text) {
                c->json_ok = false;
                continue;
            }
            size_t tl = (size_t)json_object_get_string_len(jget(j, "text"));
            if (!utf8_valid(text, tl))
                c->utf8_ok = false;
            buf_append(&m->text, text, tl);
            if (!m->deltas)
                m->first_ms = e->t_ms;
            m->last_ms = e->t_ms;
            m->deltas++;
        } else if (strcmp(e->type, "model_done") == 0 && phase && model) {
            struct model_stream *m = chat_ms(c, phase, model);
            if (!m)
                continue;
            m->done = true;
            snprintf(m->stop_reason, sizeof m->stop_reason, "%s",
                     jstr(j, "stop_reason") ? jstr(j, "stop_reason") : "");
            json_object *u = jget(j, "usage"), *ot = jget(u, "output_tokens");
            if (ot)
                m->output_tokens = (long)json_object_get_int64(ot);
        } else if (strcmp(e->type, "error") == 0) {
            const char *code = jstr(j, "code");
            c->n_errors++;
            if (!c->first_error_code[0])
                snprintf(c->first_error_code, sizeof c->first_error_code, "%s",
                         code ? code : "?");
            if (phase && model) {
                struct model_stream *m = chat_ms(c, phase, model);
                if (m)
                    snprintf(m->error_code, sizeof m->error_code, "%s", code ? code : "?");
            }
        } else if (strcmp(e->type, "done") == 0) {
            c->n_done++;
        }
    }
    c->done_last = s->n > 0 && strcmp(s->evs[s->n - 1].type, "done") == 0;
}

/* The events of a and then b as one stream (for a chat cut and resumed); free it with
 * joined_free. The events stay a's and b's. */
static inline struct stream *joined(const struct stream *a, const struct stream *b)
{
    struct stream *j = xcalloc(1, sizeof *j);
    j->n = a->n + b->n;
    j->evs = xcalloc(j->n ? j->n : 1, sizeof *j->evs);
    if (a->n)
        memcpy(j->evs, a->evs, a->n * sizeof *a->evs);
    if (b->n)
        memcpy(j->evs + a->n, b->evs, b->n * sizeof *b->evs);
    return j;
}

static inline void joined_free(struct stream *j, const struct stream *a, const struct stream *b)
{
    for (size_t i = 0; i < j->n; i++) { /* parsed here, not in a or b */
        const struct ev *o = i < a->n ? &a->evs[i] : &b->evs[i - a->n];
        if (j->evs[i].json && j->evs[i].json != o->json)
            json_object_put(j->evs[i].json);
    }
    free(j->evs);
    free(j);
}

/* Prints a stream's outcome and its last events to stderr (for a failed check). */
static inline void stream_dump(const char *what, struct stream *s)
{
    fprintf(stderr, "  %s: curl=%d status=%ld type=%s events=%zu%s\n", what, (int)s->result,
            s->status, s->ctype, s->n, s->dropped ? " (dropped)" : "");
    if (!s->sse && s->raw.len)
        fprintf(stderr, "    body: %.300s\n", buf_cstr(&s->raw));
    size_t from = s->n > 6 ? s->n - 6 : 0;
    if (from)
        fprintf(stderr, "    ... %zu events ...\n", from);
    for (size_t i = from; i < s->n; i++)
        fprintf(stderr, "    [%s] %s %.200s\n", s->evs[i].id, s->evs[i].type, s->evs[i].data);
}

/* Same id, type and data. */
static inline bool same_event(const struct ev *a, const struct ev *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->type, b->type) == 0 && a->len == b->len &&
           memcmp(a->data, b->data, a->len) == 0;
}

#endif
