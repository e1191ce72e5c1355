/* sim_model: Converse request validation, prompt reading and tokenisation for the simulated
 * model (see sim_model.h; the prose is sim_answer.c, the directives sim_directive.c). */
#include "sim_model.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sigv4.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/utf8.h"
#include "sim_answer.h"
#include "sim_translate.h"
#include "sim_util.h"

#define TEXT_MAX (SIM_MAX_BODY * 2u)

enum sim_model_size sim_model_size(const char *model_id)
{
    if (strstr(model_id, "nova-micro"))
        return SIM_SIZE_MICRO;
    if (strstr(model_id, "nova-lite"))
        return SIM_SIZE_LITE;
    if (strstr(model_id, "nova-pro"))
        return SIM_SIZE_PRO;
    return SIM_SIZE_INVALID;
}

/* ---- request validation -------------------------------------------------------------- */

struct req {
    struct json_object *root;
    struct buf system;      /* system text blocks, joined by "\n" */
    size_t prefix_bytes;    /* bytes of system text before the first cachePoint */
    struct buf prefix;      /* that text, for its hash */
    int has_cache_point;
    size_t text_bytes;      /* every text block's bytes */
    const char *last_user;  /* last user message's text blocks, joined (into last_user_buf) */
    struct buf last_user_buf;
    long max_tokens;
};

static int fail(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errstr, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_number(struct json_object *o)
{
    return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

/* Validates a content block at where ("messages.0.content.1" / "system.2"); appends its text. */
static int check_block(struct json_object *b, const char *where, const char *kind, int system,
                       struct req *r, struct buf *text, char *errstr, size_t errlen)
{
    static const char *const known[] = {"text",       "image",      "document",
                                        "video",      "toolUse",    "toolResult",
                                        "guardContent", "cachePoint", "reasoningContent"};
    if (!json_object_is_type(b, json_type_object) || json_object_object_length(b) != 1)
        return fail(errstr, errlen,
                    "The %s object at %s must hold exactly one of text, image, document, "
                    "toolUse, toolResult, guardContent or cachePoint.", kind, where);
    struct json_object_iterator it = json_object_iter_begin(b);
    const char *key = json_object_iter_peek_name(&it);
    struct json_object *v = json_object_iter_peek_value(&it);
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok |= strcmp(key, known[i]) == 0;
    if (!ok)
        return fail(errstr, errlen, "Unknown member '%s' in the %s object at %s.", key, kind,
                    where);
    if (strcmp(key, "text") == 0) {
        if (!json_object_is_type(v, json_type_string))
            return fail(errstr, errlen,
                        "1 validation error detected: Value at '%s.text' failed to satisfy "
                        "constraint: Member must be a string", where);
        size_t n = (size_t)json_object_get_string_len(v);
        const char *s = json_object_get_string(v);
        size_t blank = 0;
        while (blank < n && (s[blank] == ' ' || s[blank] == '\n' || s[blank] == '\t' ||
                             s[blank] == '\r'))
            blank++;
        if (blank == n)
            return fail(errstr, errlen,
                        "The text field in the %s object at %s is blank. Add text to the text "
                        "field, and try again.", kind, where);
        r->text_bytes += n;
        if (text->len && buf_putc(text, '\n') < 0)
            return fail(errstr, errlen, "Input is too long for requested model.");
        if (buf_append(text, s, n) < 0)
            return fail(errstr, errlen, "Input is too long for requested model.");
        if (system && !r->has_cache_point) {
            r->prefix_bytes += n;
            if ((r->prefix.len && buf_putc(&r->prefix, '\n') < 0) ||
                buf_append(&r->prefix, s, n) < 0)
                return fail(errstr, errlen, "Input is too long for requested model.");
        }
    } else if (strcmp(key, "cachePoint") == 0) {
        struct json_object *type;
        if (!json_object_is_type(v, json_type_object) ||
            !json_object_object_get_ex(v, "type", &type) ||
            !json_object_is_type(type, json_type_string) ||
            strcmp(json_object_get_string(type), "default") != 0)
            return fail(errstr, errlen,
                        "1 validation error detected: Value at '%s.cachePoint.type' failed to "
                        "satisfy constraint: Member must satisfy enum value set: [default]",
                        where);
        if (system)
            r->has_cache_point = 1;
    }
    return 0;
}

static int check_inference(struct json_object *cfg, struct req *r, char *errstr, size_t errlen)
{
    struct json_object *v;
    r->max_tokens = SIM_DEFAULT_MAX_TOKENS;
    if (!cfg)
        return 0;
    if (!json_object_is_type(cfg, json_type_object))
        return fail(errstr, errlen, "Malformed input request: inferenceConfig must be an object.");
    if (json_object_object_get_ex(cfg, "maxTokens", &v)) {
        if (!json_object_is_type(v, json_type_int))
            return fail(errstr, errlen,
                        "1 validation error detected: Value at 'inferenceConfig.maxTokens' "
                        "failed to satisfy constraint: Member must be an integer");
        int64_t m = json_object_get_int64(v);
        if (m < 1)
            return fail(errstr, errlen,
                        "1 validation error detected: Value '%lld' at "
                        "'inferenceConfig.maxTokens' failed to satisfy constraint: Member must "
                        "have value greater than or equal to 1", (long long)m);
        if (m > SIM_MAX_TOKENS_LIMIT)
            return fail(errstr, errlen,
                        "The maximum tokens you requested exceeds the model limit of %d. Try "
                        "again with a maximum tokens value that is lower than %d.",
                        SIM_MAX_TOKENS_LIMIT, SIM_MAX_TOKENS_LIMIT);
        r->max_tokens = (long)m;
    }
    static const char *const unit[] = {"temperature", "topP"};
    for (size_t i = 0; i < 2; i++) {
        if (!json_object_object_get_ex(cfg, unit[i], &v))
            continue;
        if (!is_number(v))
            return fail(errstr, errlen,
                        "1 validation error detected: Value at 'inferenceConfig.%s' failed to "
                        "satisfy constraint: Member must be a number", unit[i]);
        double d = json_object_get_double(v);
        if (!(d >= 0.0 && d <= 1.0))
            return fail(errstr, errlen,
                        "1 validation error detected: Value '%g' at 'inferenceConfig.%s' failed "
                        "to satisfy constraint: Member must have value %s", d, unit[i],
                        d < 0 ? "greater than or equal to 0" : "less than or equal to 1");
    }
    if (json_object_object_get_ex(cfg, "stopSequences", &v) &&
        !json_object_is_type(v, json_type_array))
        return fail(errstr, errlen,
                    "Malformed input request: inferenceConfig.stopSequences must be an array.");
    return 0;
}

/* s is made of [a-z0-9] only, and not empty. */
static int lower_alnum(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return n > 0;
}

/* guardrailIdentifier: (|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:
 * guardrail/[a-z0-9]+)), the empty one refused (no guardrail to apply). */
static int guardrail_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 2048)
        return 0;
    if (lower_alnum(s, n))
        return 1;
    if (strncmp(s, "arn:aws", 7) != 0)
        return 0;
    const char *p = s + 7;
    if (*p == '-') {
        size_t k = strcspn(p, ":");
        if (k < 2)
            return 0;
        p += k;
    }
    if (strncmp(p, ":bedrock:", 9) != 0)
        return 0;
    p += 9;
    size_t rn = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-");
    if (rn < 1 || rn > 20 || p[rn] != ':')
        return 0;
    p += rn + 1;
    if (strspn(p, "0123456789") != 12 || strncmp(p + 12, ":guardrail/", 11) != 0)
        return 0;
    p += 23;
    return lower_alnum(p, strlen(p));
}

/* guardrailConfig: GuardrailConfiguration (Converse) or GuardrailStreamConfiguration
 * (ConverseStream: plus streamProcessingMode; the server refuses it on Converse). */
static int check_guardrail(struct json_object *g, struct sim_reply *out, char *errstr,
                           size_t errlen)
{
    if (!json_object_is_type(g, json_type_object))
        return fail(errstr, errlen, "Malformed input request: guardrailConfig must be an "
                    "object.");
    json_object_object_foreach(g, key, v) {
        const char *sv = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                   : NULL;
        if (strcmp(key, "guardrailIdentifier") == 0) {
            if (!sv || !guardrail_id_ok(sv))
                return fail(errstr, errlen, "1 validation error detected: Value at "
                            "'guardrailConfig.guardrailIdentifier' failed to satisfy "
                            "constraint: Member must satisfy regular expression pattern: "
                            "(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:"
                            "guardrail/[a-z0-9]+))");
        } else if (strcmp(key, "guardrailVersion") == 0) {
            size_t n = sv ? strlen(sv) : 0;
            int num = n >= 1 && n <= 8 && sv[0] >= '1' && sv[0] <= '9' &&
                      strspn(sv, "0123456789") == n;
            if (!sv || !(num || strcmp(sv, "DRAFT") == 0))
                return fail(errstr, errlen, "1 validation error detected: Value at "
                            "'guardrailConfig.guardrailVersion' failed to satisfy constraint: "
                            "Member must satisfy regular expression pattern: "
                            "(([1-9][0-9]{0,7})|(DRAFT))");
        } else if (strcmp(key, "trace") == 0) {
            if (!sv || (strcmp(sv, "enabled") != 0 && strcmp(sv, "disabled") != 0 &&
                        strcmp(sv, "enabled_full") != 0))
                return fail(errstr, errlen, "1 validation error detected: Value at "
                            "'guardrailConfig.trace' failed to satisfy constraint: Member must "
                            "satisfy enum value set: [enabled, disabled, enabled_full]");
        } else if (strcmp(key, "streamProcessingMode") == 0) {
            if (!sv || (strcmp(sv, "sync") != 0 && strcmp(sv, "async") != 0))
                return fail(errstr, errlen, "1 validation error detected: Value at "
                            "'guardrailConfig.streamProcessingMode' failed to satisfy "
                            "constraint: Member must satisfy enum value set: [sync, async]");
            out->guardrail_stream_mode = 1;
        } else {
            return fail(errstr, errlen, "Malformed input request: extraneous key [%s] is not "
                        "permitted in guardrailConfig, please reformat your input and try "
                        "again.", key);
        }
    }
    struct json_object *id, *ver;
    if (!json_object_object_get_ex(g, "guardrailIdentifier", &id) ||
        !json_object_object_get_ex(g, "guardrailVersion", &ver))
        return fail(errstr, errlen, "1 validation error detected: guardrailConfig needs "
                    "guardrailIdentifier and guardrailVersion");
    out->guardrail = 1;
    return 0;
}

static int check_request(const char *body, size_t len, struct req *r, char *errstr,
                         size_t errlen)
{
    if (len > SIM_MAX_BODY)
        return fail(errstr, errlen,
                    "The request body is %zu bytes; the maximum request size is %u bytes.", len,
                    SIM_MAX_BODY);
    struct json_tokener *tok = json_tokener_new();
    r->root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!r->root || jerr != json_tokener_success)
        return fail(errstr, errlen, "Malformed input request: the body is not valid JSON (%s), "
                    "please reformat your input and try again.",
                    r->root || jerr == json_tokener_continue ? "unexpected end of input"
                                                             : json_tokener_error_desc(jerr));
    while (used < len && (body[used] == ' ' || body[used] == '\n' || body[used] == '\r' ||
                          body[used] == '\t'))
        used++;
    if (used != len || !json_object_is_type(r->root, json_type_object))
        return fail(errstr, errlen, "Malformed input request: the body must be one JSON "
                    "object, please reformat your input and try again.");

    struct json_object *sys, *msgs, *cfg = NULL;
    if (json_object_object_get_ex(r->root, "system", &sys)) {
        if (!json_object_is_type(sys, json_type_array))
            return fail(errstr, errlen, "Malformed input request: system must be an array of "
                        "SystemContentBlock objects.");
        for (size_t i = 0; i < json_object_array_length(sys); i++) {
            char where[64];
            snprintf(where, sizeof where, "system.%zu", i);
            if (check_block(json_object_array_get_idx(sys, i), where, "SystemContentBlock", 1,
                            r, &r->system, errstr, errlen) < 0)
                return -1;
        }
    }
    if (!json_object_object_get_ex(r->root, "messages", &msgs) || !msgs)
        return fail(errstr, errlen, "1 validation error detected: Value null at 'messages' "
                    "failed to satisfy constraint: Member must not be null");
    if (!json_object_is_type(msgs, json_type_array))
        return fail(errstr, errlen, "Malformed input request: messages must be an array of "
                    "Message objects.");
    size_t n = json_object_array_length(msgs);
    if (n == 0)
        return fail(errstr, errlen, "1 validation error detected: Value '[]' at 'messages' "
                    "failed to satisfy constraint: Member must have length greater than or "
                    "equal to 1");
    const char *prev = NULL;
    struct buf scratch;
    buf_init(&scratch, TEXT_MAX);
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(msgs, i), *role, *content;
        if (!json_object_is_type(m, json_type_object) ||
            !json_object_object_get_ex(m, "role", &role) ||
            !json_object_is_type(role, json_type_string) ||
            (strcmp(json_object_get_string(role), "user") != 0 &&
             strcmp(json_object_get_string(role), "assistant") != 0)) {
            buf_free(&scratch);
            return fail(errstr, errlen, "1 validation error detected: Value at "
                        "'messages.%zu.member.role' failed to satisfy constraint: Member must "
                        "satisfy enum value set: [user, assistant]", i);
        }
        const char *rs = json_object_get_string(role);
        if (i == 0 && strcmp(rs, "user") != 0) {
            buf_free(&scratch);
            return fail(errstr, errlen, "A conversation must start with a user message. Try "
                        "again with a conversation that starts with a user message.");
        }
        if (prev && strcmp(prev, rs) == 0) {
            buf_free(&scratch);
            return fail(errstr, errlen, "A conversation must alternate between user and "
                        "assistant roles. Make sure the conversation alternates between user "
                        "and assistant roles and try again.");
        }
        prev = rs;
        if (!json_object_object_get_ex(m, "content", &content) ||
            !json_object_is_type(content, json_type_array) ||
            json_object_array_length(content) == 0) {
            buf_free(&scratch);
            return fail(errstr, errlen, "The content field in the Message object at "
                        "messages.%zu is empty. Add a ContentBlock object to the content field "
                        "and try again.", i);
        }
        int last = i + 1 == n;
        struct buf *text = last ? &r->last_user_buf : &scratch;
        buf_reset(&scratch);
        for (size_t j = 0; j < json_object_array_length(content); j++) {
            char where[64];
            snprintf(where, sizeof where, "messages.%zu.content.%zu", i, j);
            if (check_block(json_object_array_get_idx(content, j), where, "ContentBlock", 0, r,
                            text, errstr, errlen) < 0) {
                buf_free(&scratch);
                return -1;
            }
        }
    }
    buf_free(&scratch);
    if (strcmp(prev, "user") != 0)
        return fail(errstr, errlen, "A conversation must end with a user message. Try again "
                    "with a conversation that ends with a user message.");
    r->last_user = buf_cstr(&r->last_user_buf);
    json_object_object_get_ex(r->root, "inferenceConfig", &cfg);
    return check_inference(cfg, r, errstr, errlen);
}

/* ---- prompt reading ------------------------------------------------------------------ */

/* Appends s[0..n) with invalid UTF-8 replaced by U+FFFD and control characters other than
 * newline and tab turned into spaces. */
static void put_clean(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = sim_utf8_next(s + i, n - i, &cp);
        if (cp == SIM_UTF8_INVALID)
            sim_utf8_put(out, 0xFFFD);
        else if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F)
            buf_putc(out, cp == '\r' ? '\n' : ' ');
        else
            buf_append(out, s + i, k);
        i += k;
    }
}

/* Decodes the XML entities a prompt writer uses in attributes. */
static char *xml_attr(const char *s, size_t n)
{
    struct buf b;
    buf_init(&b, n + 1);
    static const struct { const char *ent; char c; } ents[] = {
        {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}};
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (size_t e = 0; e < sizeof ents / sizeof ents[0] && !k; e++) {
            size_t el = strlen(ents[e].ent);
            if (n - i >= el && memcmp(s + i, ents[e].ent, el) == 0) {
                buf_putc(&b, ents[e].c);
                k = el;
            }
        }
        if (!k)
            buf_putc(&b, s[i]), k = 1;
        i += k;
    }
    struct buf clean;
    buf_init(&clean, 4 * n + 8);
    put_clean(&clean, buf_cstr(&b), b.len);
    buf_free(&b);
    char *r = buf_steal(&clean, NULL);
    return r ? r : xstrdup("");
}

/* The value of attribute name in the tag text tag[0..n), or NULL. */
static char *tag_attr(const char *tag, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 2 < n; i++) {
        if ((i > 0 && tag[i - 1] != ' ' && tag[i - 1] != '\t' && tag[i - 1] != '\n') ||
            memcmp(tag + i, name, nl) != 0 || tag[i + nl] != '=')
            continue;
        char q = tag[i + nl + 1];
        if (q != '"' && q != '\'')
            continue;
        const char *v = tag + i + nl + 2;
        const char *e = memchr(v, q, n - (size_t)(v - tag));
        if (!e)
            return NULL;
        return xml_attr(v, (size_t)(e - v));
    }
    return NULL;
}

struct docs {
    struct sim_doc *v;
    size_t n, cap;
};

/* Collects <document ...>...</document> blocks of t[0..n); appends the text outside them to
 * outside (may be NULL). */
static void read_documents(const char *t, size_t n, struct docs *docs, struct buf *outside)
{
    size_t i = 0;
    for (;;) {
        const char *open = memmem(t + i, n - i, "<document", 9);
        size_t o = open ? (size_t)(open - t) : n;
        if (outside)
            buf_append(outside, t + i, o - i);
        if (!open)
            return;
        const char *gt = memchr(open, '>', n - o);
        if (!gt)
            return;
        const char *body = gt + 1;
        const char *close = memmem(body, n - (size_t)(body - t), "</document>", 11);
        size_t bn = close ? (size_t)(close - body) : n - (size_t)(body - t);
        if (docs->n == docs->cap) {
            docs->cap = docs->cap ? docs->cap * 2 : 8;
            docs->v = xrealloc(docs->v, docs->cap * sizeof *docs->v);
        }
        struct sim_doc *d = &docs->v[docs->n++];
        size_t tagn = (size_t)(gt - open);
        d->title = tag_attr(open, tagn, "title");
        d->url = tag_attr(open, tagn, "url");
        if (!d->url)
            d->url = tag_attr(open, tagn, "source");
        if (!d->url)
            d->url = xstrdup("");
        struct buf b;
        buf_init(&b, 4 * bn + 8);
        put_clean(&b, body, bn);
        d->text = buf_steal(&b, NULL);
        if (!d->text)
            d->text = xstrdup("");
        if (!d->title) {
            const char *h = strstr(d->text, "# ");
            if (h && (h == d->text || h[-1] == '\n')) {
                const char *e = strchr(h, '\n');
                d->title = xstrndup(h + 2, e ? (size_t)(e - h - 2) : strlen(h + 2));
            } else {
                char tmp[32];
                snprintf(tmp, sizeof tmp, "Document %zu", docs->n);
                d->title = xstrdup(tmp);
            }
        }
        i = close ? (size_t)(close - t) + 11 : n;
    }
}

static void trim_span(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\n' || **p == '\t'))
        (*p)++, (*n)--;
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\n' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* The question: the rest of a "Question:" line (or the lines under it up to a blank line),
 * else the whole text outside the documents. */
static void find_question(const char *t, size_t n, const char **q, size_t *qn)
{
    static const char *const labels[] = {"Question:", "질문:"};
    for (size_t i = 0; i < n; i = (size_t)((const char *)memchr(t + i, '\n', n - i) - t) + 1) {
        size_t ls = i;
        while (ls < n && (t[ls] == ' ' || t[ls] == '\t'))
            ls++;
        for (size_t l = 0; l < 2; l++) {
            size_t ll = strlen(labels[l]);
            if (n - ls < ll || strncasecmp(t + ls, labels[l], ll) != 0)
                continue;
            const char *s = t + ls + ll;
            const char *end = memchr(s, '\n', n - (size_t)(s - t));
            size_t sn = end ? (size_t)(end - s) : n - (size_t)(s - t);
            trim_span(&s, &sn);
            if (sn == 0 && end) {
                s = end + 1;
                const char *blank = memmem(s, n - (size_t)(s - t), "\n\n", 2);
                sn = blank ? (size_t)(blank - s) : n - (size_t)(s - t);
                trim_span(&s, &sn);
            }
            if (sn) {
                *q = s, *qn = sn;
                return;
            }
        }
        if (!memchr(t + i, '\n', n - i))
            break;
    }
    *q = t, *qn = n;
    trim_span(q, qn);
}

/* Directives steer the call they are in: earlier turns quoted in a <history>...</history>
 * block (dual-nova's prompts carry the last two) do not. */
static void parse_directives_outside_history(const char *t, size_t n, struct sim_directives *d)
{
    const char *open = memmem(t, n, "<history>", 9);
    const char *close = open ? memmem(open, n - (size_t)(open - t), "</history>", 10) : NULL;
    if (!close) {
        sim_directives_parse(t, n, d);
        return;
    }
    struct buf b;
    buf_init(&b, n + 1);
    buf_append(&b, t, (size_t)(open - t));
    buf_putc(&b, '\n');
    buf_append(&b, close + 10, n - (size_t)(close + 10 - t));
    sim_directives_parse(buf_cstr(&b), b.len, d);
    buf_free(&b);
}

static int detect_korean(const char *system, const char *user, const char *q, size_t qn)
{
    const char *texts[] = {system, user};
    for (size_t i = 0; i < 2; i++)
        if (strcasestr(texts[i], "Answer in Korean") || strstr(texts[i], "한국어로 답"))
            return 1;
    for (size_t i = 0; i < 2; i++)
        if (strcasestr(texts[i], "Answer in English"))
            return 0;
    return sim_has_hangul(q, qn);
}

/* ---- tokens -------------------------------------------------------------------------- */

struct cuts {
    size_t *v;
    size_t n, cap;
};

static void cut_at(struct cuts *c, size_t off)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = off;
}

static int ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Cuts t[from..n) into tokens, appending the end offset of each. */
static void tokenize(const char *t, size_t from, size_t n, struct sim_rng *rng, struct cuts *c)
{
    size_t i = from;
    while (i < n) {
        size_t j = i;
        if (t[j] == '\n') {
            cut_at(c, i = j + 1);
            continue;
        }
        while (j < n && (t[j] == ' ' || t[j] == '\t'))
            j++;
        if (j == n || t[j] == '\n') { /* blanks before a line end or the end stand alone */
            cut_at(c, i = j);
            continue;
        }
        uint32_t cp;
        size_t k = sim_utf8_next(t + j, n - j, &cp);
        if (ascii_alnum((unsigned char)t[j])) {
            while (j < n && ascii_alnum((unsigned char)t[j]) && j - i < 12)
                j++;
        } else if (utf8_is_hangul(cp)) {
            j += k;
            if (sim_rng_below(rng, 5) < 3 && j < n) {
                size_t k2 = sim_utf8_next(t + j, n - j, &cp);
                if (utf8_is_hangul(cp))
                    j += k2;
            }
        } else {
            j += k;
        }
        cut_at(c, i = j);
    }
}

/* ---- the reply ----------------------------------------------------------------------- */

static unsigned tokens_of_bytes(size_t bytes)
{
    size_t t = (bytes + 3) / 4;
    return t > 0xFFFFFFF ? 0xFFFFFFF : (unsigned)t;
}

void sim_reply_free(struct sim_reply *r)
{
    free(r->text);
    free(r->cuts);
    memset(r, 0, sizeof *r);
}

int sim_model_reply(const char *model_id, const char *body, size_t body_len,
                    struct sim_reply *out, char *errstr, size_t errlen)
{
    memset(out, 0, sizeof *out);
    sim_directives_init(&out->dir);
    enum sim_model_size size = sim_model_size(model_id);
    if (size == SIM_SIZE_INVALID)
        return fail(errstr, errlen, "The provided model identifier is invalid.");
    struct req r = {0};
    buf_init(&r.system, TEXT_MAX);
    buf_init(&r.prefix, TEXT_MAX);
    buf_init(&r.last_user_buf, TEXT_MAX);
    int rc = check_request(body, body_len, &r, errstr, errlen);
    struct json_object *gc;
    if (rc == 0 && json_object_object_get_ex(r.root, "guardrailConfig", &gc))
        rc = check_guardrail(gc, out, errstr, errlen);
    if (rc < 0)
        goto done;

    size_t ulen = r.last_user_buf.len;
    parse_directives_outside_history(r.last_user, ulen, &out->dir);
    sigv4_sha256_hex(r.last_user, ulen, out->last_user_sha256);
    if (r.has_cache_point && r.prefix_bytes > 0) {
        sigv4_sha256_hex(buf_cstr(&r.prefix), r.prefix.len, out->prefix_sha256);
        out->prefix_tokens = tokens_of_bytes(r.prefix_bytes);
    }
    out->input_tokens = tokens_of_bytes(r.text_bytes);
    if (out->input_tokens == 0)
        out->input_tokens = 1;
    if (out->prefix_tokens > out->input_tokens)
        out->prefix_tokens = out->input_tokens;
    out->max_tokens = (unsigned)r.max_tokens;

    /* The prompt as the model reads it: directives gone, documents out of the question. */
    struct buf user, outside, sys;
    buf_init(&user, TEXT_MAX);
    buf_init(&outside, TEXT_MAX);
    buf_init(&sys, TEXT_MAX);
    struct buf raw;
    buf_init(&raw, TEXT_MAX);
    sim_directives_strip(r.last_user, ulen, &raw);
    put_clean(&user, buf_cstr(&raw), raw.len);
    put_clean(&sys, buf_cstr(&r.system), r.system.len);
    buf_free(&raw);
    struct docs docs = {0};
    read_documents(buf_cstr(&sys), sys.len, &docs, NULL);
    read_documents(buf_cstr(&user), user.len, &docs, &outside);
    const char *q;
    size_t qn;
    find_question(buf_cstr(&outside), outside.len, &q, &qn);

    struct sim_prompt prompt = {
        .question = q,
        .question_len = qn,
        .docs = docs.v,
        .n_docs = docs.n,
        .lang_ko = detect_korean(buf_cstr(&sys), buf_cstr(&user), q, qn),
        .micro = size == SIM_SIZE_MICRO || r.max_tokens <= 1024,
    };
    out->lang_ko = prompt.lang_ko;
    out->micro = prompt.micro;
    uint64_t seed = sim_hash64(body, body_len) ^ (sim_hash64(model_id, strlen(model_id)) << 1);
    struct buf text;
    buf_init(&text, TEXT_MAX);
    int into_ko = docs.n == 0 ? sim_translate_target(buf_cstr(&sys)) : -1;
    /* The guardrail stops the call: its message instead of the answer. */
    int blocked = out->guardrail && out->dir.guardrail > 0;
    if (blocked) {
        buf_puts(&text, SIM_GUARDRAIL_MESSAGE);
    } else if (into_ko >= 0) {
        sim_translate(buf_cstr(&sys), buf_cstr(&outside), outside.len, into_ko, &text);
        out->lang_ko = prompt.lang_ko = into_ko;
    } else {
        sim_answer_compose(&prompt, seed, &text);
    }

    struct sim_rng rng;
    sim_rng_seed(&rng, seed ^ 0x746f6b656e73ull);
    struct cuts c = {0};
    tokenize(buf_cstr(&text), 0, text.len, &rng, &c);
    size_t want = out->dir.len >= 0 && !blocked ? (size_t)out->dir.len : c.n;
    for (size_t i = 0; c.n < want; i++) {
        size_t from = text.len;
        sim_answer_filler(prompt.lang_ko, i, &text);
        tokenize(buf_cstr(&text), from, text.len, &rng, &c);
    }
    if (blocked) {
        snprintf(out->stop_reason, sizeof out->stop_reason, "guardrail_intervened");
    } else if (want > (size_t)r.max_tokens) {
        want = (size_t)r.max_tokens;
        snprintf(out->stop_reason, sizeof out->stop_reason, "max_tokens");
    } else {
        snprintf(out->stop_reason, sizeof out->stop_reason, "end_turn");
    }
    c.n = want;
    out->text_len = c.n ? c.v[c.n - 1] : 0;
    out->text = buf_steal(&text, NULL);
    if (!out->text)
        out->text = xstrdup("");
    out->text[out->text_len] = '\0';
    out->cuts = c.v;
    out->n_cuts = c.n;

    for (size_t i = 0; i < docs.n; i++) {
        free(docs.v[i].title);
        free(docs.v[i].url);
        free(docs.v[i].text);
    }
    free(docs.v);
    buf_free(&user);
    buf_free(&outside);
    buf_free(&sys);
done:
    if (r.root)
        json_object_put(r.root);
    buf_free(&r.system);
    buf_free(&r.prefix);
    buf_free(&r.last_user_buf);
    if (rc < 0)
        sim_reply_free(out), sim_directives_init(&out->dir);
    return rc;
}

static void reply_copy(struct sim_reply *dst, const struct sim_reply *src)
{
    *dst = *src;
    dst->text = xmalloc(src->text_len + 1);
    memcpy(dst->text, src->text, src->text_len + 1);
    dst->cuts = xmalloc((src->n_cuts ? src->n_cuts : 1) * sizeof *dst->cuts);
    memcpy(dst->cuts, src->cuts, src->n_cuts * sizeof *dst->cuts);
}

int sim_model_reply_cached(struct sim_reply_cache *c, const char *model_id, const char *body,
                           size_t body_len, struct sim_reply *out, char *errstr, size_t errlen)
{
    size_t victim = 0;
    for (size_t i = 0; i < SIM_REPLY_CACHE_SLOTS; i++) {
        if (c->slot[i].body && c->slot[i].body_len == body_len &&
            strcmp(c->slot[i].model_id, model_id) == 0 &&
            memcmp(c->slot[i].body, body, body_len) == 0) {
            c->slot[i].used = ++c->clock;
            reply_copy(out, &c->slot[i].reply);
            return 0;
        }
        if (c->slot[i].used < c->slot[victim].used)
            victim = i;
    }
    if (sim_model_reply(model_id, body, body_len, out, errstr, errlen) < 0)
        return -1;
    if (c->slot[victim].body) {
        free(c->slot[victim].model_id);
        free(c->slot[victim].body);
        sim_reply_free(&c->slot[victim].reply);
    }
    c->slot[victim].model_id = xstrdup(model_id);
    c->slot[victim].body = xmalloc(body_len ? body_len : 1);
    memcpy(c->slot[victim].body, body, body_len);
    c->slot[victim].body_len = body_len;
    c->slot[victim].used = ++c->clock;
    reply_copy(&c->slot[victim].reply, out);
    return 0;
}

void sim_reply_cache_free(struct sim_reply_cache *c)
{
    for (size_t i = 0; i < SIM_REPLY_CACHE_SLOTS; i++)
        if (c->slot[i].body) {
            free(c->slot[i].model_id);
            free(c->slot[i].body);
            sim_reply_free(&c->slot[i].reply);
        }
    memset(c, 0, sizeof *c);
}
