/* knowledge: local or Bedrock Knowledge Base passages (see knowledge.h). */
#include "knowledge.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "jobwait.h"
#include "product.h"

static int find_local(struct req *rq, const char *query, size_t len, const char *const *terms,
                      size_t n_terms, const struct kb_context *ctx, struct knowledge *k,
                      const char **code)
{
    char err[256];
    if (kb_local_search_ctx(rq->app->product->kb, query, len, terms, n_terms, ctx,
                            KNOWLEDGE_TOP, rq->app->cfg->kb_min_score, &k->hits, err,
                            sizeof err) < 0) {
        log_rid(LOG_WARN, rq->id, "knowledge base search: %s", err);
        *code = "unavailable";
        return -1;
    }
    for (size_t i = 0; i < k->hits.n && k->n < KNOWLEDGE_TOP; i++)
        k->p[k->n++] = k->hits.hit[i];
    return 0;
}

/* A passage's string member, "" when absent (the strings stay in the event's tree). */
static const char *str_of(json_object *o, const char *key)
{
    const char *v = json_get_str(o, key, NULL);
    return v ? v : "";
}

/* The passages event of a kb job into k (strings stay in k->root). */
static void take_passages(struct knowledge *k, json_object *root, double min_score)
{
    json_object *arr;
    k->root = root;
    if (!json_object_object_get_ex(root, "passages", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(arr) && k->n < KNOWLEDGE_TOP; i++) {
        json_object *e = json_object_array_get_idx(arr, i), *s;
        double score = json_object_object_get_ex(e, "score", &s) ? json_object_get_double(s) : 0;
        if (!json_object_is_type(e, json_type_object) || !(score >= min_score))
            continue;
        struct kb_hit *p = &k->p[k->n++];
        p->title = str_of(e, "title");
        p->url = str_of(e, "url");
        p->text = str_of(e, "text");
        p->score = score;
    }
}

static int find_bedrock(struct req *rq, const char *request_id, const char *query, size_t len,
                        const struct kb_context *ctx, struct knowledge *k, const char **code)
{
    struct job j;
    memset(&j, 0, sizeof j);
    snprintf(j.request, sizeof j.request, "%s.kb", request_id);
    snprintf(j.id, sizeof j.id, "%s-retrieve", j.request);
    j.queue = QUEUE_KB;
    snprintf(j.phase, sizeof j.phase, "retrieve");
    snprintf(j.kb_id, sizeof j.kb_id, "%s", rq->app->cfg->kb_id);
    /* An embedding has no term weights: the follow-up's conversation goes after it. */
    if (ctx && ctx->len) {
        j.query = xmalloc(len + 1 + ctx->len + 1);
        memcpy(j.query, query, len);
        j.query[len] = '\n';
        memcpy(j.query + len + 1, ctx->text, ctx->len);
        j.query[len + 1 + ctx->len] = '\0';
    } else {
        j.query = xstrndup(query, len);
    }
    j.n_results = KNOWLEDGE_TOP;
    j.created_ms = clock_epoch_ms();
    j.deadline_ms = j.created_ms + KNOWLEDGE_TIMEOUT_MS;
    struct jobwait_result res;
    jobwait_run(rq, &j, KNOWLEDGE_TIMEOUT_MS, &res);
    job_free(&j);
    int rc = -1;
    if (res.end == JOBWAIT_DONE) {
        json_object *root = json_tokener_parse(buf_cstr(&res.data));
        if (root && json_object_is_type(root, json_type_object)) {
            take_passages(k, root, rq->app->cfg->kb_min_score);
            rc = 0;
        } else {
            json_object_put(root);
            *code = "internal";
        }
    } else {
        *code = res.end == JOBWAIT_TIMEOUT      ? "timeout"
                : res.end == JOBWAIT_GONE       ? "gone"
                : res.end == JOBWAIT_OVERLOADED ? "overloaded"
                                                : "unavailable";
        log_rid(LOG_WARN, rq->id, "knowledge base retrieve: %s %s", res.code, res.message);
    }
    jobwait_result_free(&res);
    return rc;
}

int knowledge_find(struct req *rq, const char *request_id, const char *query, size_t len,
                   const char *const *terms, size_t n_terms, const struct kb_context *ctx,
                   struct knowledge *k, const char **code)
{
    memset(k, 0, sizeof *k);
    if (rq->app->product->kb)
        return find_local(rq, query, len, terms, n_terms, ctx, k, code);
    return find_bedrock(rq, request_id, query, len, ctx, k, code);
}

void knowledge_free(struct knowledge *k)
{
    kb_hits_free(&k->hits);
    json_object_put(k->root);
    memset(k, 0, sizeof *k);
}

/* The first max_chars characters of s as a JSON string (s need not be valid UTF-8). */
static json_object *cut(const char *s, size_t max_chars)
{
    size_t n = strlen(s);
    struct buf b;
    buf_init(&b, 3 * n + 1);
    utf8_append_sanitized(&b, s, n);
    json_object *o = json_object_new_string_len(
        buf_cstr(&b), (int)utf8_prefix_chars(buf_cstr(&b), b.len, max_chars));
    buf_free(&b);
    return o;
}

/* The passage text without a leading "# Title" line and blank lines: the excerpt is for
 * reading, and the title is shown on its own. */
static const char *after_title(const char *t)
{
    if (t[0] == '#' && t[1] == ' ') {
        const char *nl = strchr(t, '\n');
        t = nl ? nl + 1 : t + strlen(t);
    }
    while (*t == '\n' || *t == '\r')
        t++;
    return t;
}

void knowledge_sources(const struct knowledge *k, json_object *arr)
{
    for (size_t i = 0; i < k->n; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "title", cut(k->p[i].title, KNOWLEDGE_PASSAGE_CHARS));
        json_object_object_add(e, "score",
                               json_new_short_double(isfinite(k->p[i].score)
                                                         ? round(k->p[i].score * 1000) / 1000
                                                         : 0));
        json_object_object_add(e, "excerpt",
                               cut(after_title(k->p[i].text), KNOWLEDGE_EXCERPT_CHARS));
        json_object_object_add(e, "url", cut(k->p[i].url, KNOWLEDGE_PASSAGE_CHARS));
        json_object_array_add(arr, e);
    }
}

/* s[0..n) with what would end the block or its attribute early taken out. */
static int put_clean(struct buf *out, const char *s, size_t n, bool attr)
{
    for (size_t i = 0; i < n; i++) {
        if (attr && (s[i] == '"' || s[i] == '\n' || s[i] == '\r')) {
            if (buf_putc(out, s[i] == '"' ? '\'' : ' ') < 0)
                return -1;
        } else if (!attr && s[i] == '<' && n - i >= 11 && memcmp(s + i, "</document>", 11) == 0) {
            if (buf_puts(out, "</ document>") < 0)
                return -1;
            i += 10;
        } else if (buf_putc(out, s[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

int knowledge_prompt(const struct knowledge *k, struct buf *out)
{
    for (size_t i = 0; i < k->n; i++) {
        const struct kb_hit *p = &k->p[i];
        size_t n = strlen(p->text);
        n = utf8_prefix_chars(p->text, n, KNOWLEDGE_PASSAGE_CHARS);
        if (buf_puts(out, "<document title=\"") < 0 ||
            put_clean(out, p->title, strlen(p->title), true) < 0 ||
            buf_puts(out, "\" url=\"") < 0 || put_clean(out, p->url, strlen(p->url), true) < 0 ||
            buf_puts(out, "\">\n") < 0 || put_clean(out, p->text, n, false) < 0 ||
            buf_puts(out, "\n</document>\n") < 0)
            return -1;
    }
    return 0;
}
