/* prompt: the operator's prompt templates, split once at load into text and variables (see
 * prompt.h), so a render is a walk over pieces and appends. */
#include "product/prompt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/utf8.h"

enum var {
    VAR_GLOSSARY,
    VAR_LANGUAGE,
    VAR_AUDIENCE,
    VAR_PASSAGES,
    VAR_HISTORY,
    VAR_QUESTION,
    VAR_SOURCE_LANGUAGE,
    VAR_TARGET_LANGUAGE,
    VARS
};

static const char *const var_names[VARS] = {
    "glossary", "language", "audience",        "passages",
    "history",  "question", "source_language", "target_language",
};

static const char *const file_names[PROMPT_KINDS] = {"system.txt", "micro.txt", "pro.txt",
                                                     "translate.txt"};

#define BIT(v) (1u << (v))
#define ANSWER_VARS                                                                          \
    (BIT(VAR_LANGUAGE) | BIT(VAR_AUDIENCE) | BIT(VAR_PASSAGES) | BIT(VAR_HISTORY) |          \
     BIT(VAR_QUESTION))
/* What each file may name. The system prompt takes only the glossary: it must be the same
 * bytes on every request to be a cacheable prefix. */
static const unsigned allowed_vars[PROMPT_KINDS] = {
    [PROMPT_SYSTEM] = BIT(VAR_GLOSSARY),
    [PROMPT_MICRO] = ANSWER_VARS,
    [PROMPT_PRO] = ANSWER_VARS,
    [PROMPT_TRANSLATE] = BIT(VAR_GLOSSARY) | BIT(VAR_SOURCE_LANGUAGE) | BIT(VAR_TARGET_LANGUAGE),
};

/* A run of template text (var < 0) or a variable. */
struct piece {
    uint32_t off, len;
    int var;
};

struct template {
    char *text;
    struct piece *pieces;
    size_t n_pieces;
};

struct prompt_templates {
    struct template t[PROMPT_KINDS];
};

/* An error shows at most this many bytes of what stands between the braces. */
#define NAME_MAX_SHOWN 40

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

static void add_piece(struct template *t, size_t *cap, uint32_t off, uint32_t len, int var)
{
    if (var < 0 && len == 0)
        return;
    if (t->n_pieces == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        t->pieces = xrealloc(t->pieces, *cap * sizeof *t->pieces);
    }
    t->pieces[t->n_pieces++] = (struct piece){off, len, var};
}

/* The variable named s[0..n) if file k takes it, else -1. */
static int var_lookup(enum prompt_kind k, const char *s, size_t n)
{
    for (int v = 0; v < VARS; v++)
        if ((allowed_vars[k] & BIT(v)) && strlen(var_names[v]) == n &&
            memcmp(var_names[v], s, n) == 0)
            return v;
    return -1;
}

/* "{{language}}, {{audience}}, ..." for the message that names what a file takes. */
static void allowed_list(unsigned allowed, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int v = 0; v < VARS; v++)
        if (allowed & BIT(v)) {
            int w = snprintf(out + used, n - used, "%s{{%s}}", used ? ", " : "", var_names[v]);
            if (w < 0 || (size_t)w >= n - used)
                return;
            used += (size_t)w;
        }
}

/* Splits text[0..len) into pieces. name is the file's name or path for messages. */
static int template_parse(struct template *t, enum prompt_kind k, const char *name,
                          const char *text, size_t len, char *errstr, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (len > PROMPT_MAX_BYTES) {
        errstr_set(errstr, errlen, "%s: larger than %u bytes", name, PROMPT_MAX_BYTES);
        return -1;
    }
    if (memchr(text, '\0', len)) {
        errstr_set(errstr, errlen, "%s: contains a NUL byte", name);
        return -1;
    }
    if (!utf8_valid(text, len)) {
        errstr_set(errstr, errlen, "%s: not valid UTF-8", name);
        return -1;
    }
    t->text = xstrndup(text, len);
    size_t cap = 0, pos = 0, line = 1, counted = 0;
    for (;;) {
        const char *open = memmem(t->text + pos, len - pos, "{{", 2);
        if (!open) {
            add_piece(t, &cap, (uint32_t)pos, (uint32_t)(len - pos), -1);
            return 0;
        }
        size_t at = (size_t)(open - t->text);
        add_piece(t, &cap, (uint32_t)pos, (uint32_t)(at - pos), -1);
        for (; counted < at; counted++)
            line += t->text[counted] == '\n';
        size_t start = at + 2, end = start;
        while (end < len && name_char(t->text[end]))
            end++;
        bool closed = end + 1 < len && t->text[end] == '}' && t->text[end + 1] == '}';
        int v = closed ? var_lookup(k, t->text + start, end - start) : -1;
        if (v >= 0) {
            add_piece(t, &cap, (uint32_t)start, (uint32_t)(end - start), v);
            pos = end + 2;
            continue;
        }
        if (!closed) {
            /* Not a name up to "}}": show what stands there, up to the "}}" on this line. */
            const char *eol = memchr(t->text + start, '\n', len - start);
            size_t stop = eol ? (size_t)(eol - t->text) : len;
            const char *close = memmem(t->text + start, stop - start, "}}", 2);
            if (!close) {
                errstr_set(errstr, errlen, "%s:%zu: unterminated {{", name, line);
                break;
            }
            end = (size_t)(close - t->text);
        }
        size_t shown = end - start;
        if (shown > NAME_MAX_SHOWN)
            shown = utf8_whole_prefix(t->text + start, NAME_MAX_SHOWN);
        char takes[200];
        allowed_list(allowed_vars[k], takes, sizeof takes);
        errstr_set(errstr, errlen, "%s:%zu: unknown variable {{%.*s%s}} (%s takes %s)", name,
                   line, (int)shown, t->text + start, shown < end - start ? "..." : "",
                   file_names[k], takes);
        break;
    }
    free(t->text);
    free(t->pieces);
    memset(t, 0, sizeof *t);
    return -1;
}

static struct prompt_templates *templates_build(const char *const text[PROMPT_KINDS],
                                                const size_t len[PROMPT_KINDS],
                                                const char *const name[PROMPT_KINDS],
                                                char *errstr, size_t errlen)
{
    struct prompt_templates *t = xcalloc(1, sizeof *t);
    for (int k = 0; k < PROMPT_KINDS; k++) {
        if (!text[k]) {
            errstr_set(errstr, errlen, "%s: missing", name[k]);
            prompt_templates_free(t);
            return NULL;
        }
        if (template_parse(&t->t[k], (enum prompt_kind)k, name[k], text[k], len[k], errstr,
                           errlen) < 0) {
            prompt_templates_free(t);
            return NULL;
        }
    }
    return t;
}

struct prompt_templates *prompt_templates_parse(const char *const text[PROMPT_KINDS],
                                                char *errstr, size_t errlen)
{
    size_t len[PROMPT_KINDS];
    for (int k = 0; k < PROMPT_KINDS; k++)
        len[k] = text[k] ? strlen(text[k]) : 0;
    return templates_build(text, len, file_names, errstr, errlen);
}

struct prompt_templates *prompt_templates_load(const char *dir, char *errstr, size_t errlen)
{
    struct buf text[PROMPT_KINDS];
    char *path[PROMPT_KINDS] = {NULL};
    const char *ptrs[PROMPT_KINDS];
    size_t len[PROMPT_KINDS];
    struct prompt_templates *t = NULL;
    int k;
    for (k = 0; k < PROMPT_KINDS; k++)
        buf_init(&text[k], PROMPT_MAX_BYTES);
    for (k = 0; k < PROMPT_KINDS; k++) {
        struct buf p;
        buf_init(&p, 4096);
        if (buf_printf(&p, "%s/%s", dir, file_names[k]) < 0) {
            errstr_set(errstr, errlen, "%s: the prompts directory name is too long", dir);
            buf_free(&p);
            goto out;
        }
        path[k] = buf_steal(&p, NULL);
        if (buf_read_file(&text[k], path[k], errstr, errlen) < 0)
            goto out;
        ptrs[k] = buf_cstr(&text[k]);
        len[k] = text[k].len;
    }
    t = templates_build(ptrs, len, (const char *const *)path, errstr, errlen);
out:
    for (k = 0; k < PROMPT_KINDS; k++) {
        buf_free(&text[k]);
        free(path[k]);
    }
    return t;
}

void prompt_templates_free(struct prompt_templates *t)
{
    if (!t)
        return;
    for (int k = 0; k < PROMPT_KINDS; k++) {
        free(t->t[k].text);
        free(t->t[k].pieces);
    }
    free(t);
}

int prompt_render(const struct prompt_templates *t, enum prompt_kind k,
                  const struct prompt_var *vars, size_t n_vars, struct buf *out)
{
    if ((unsigned)k >= PROMPT_KINDS)
        return -1;
    /* The first value given for a name counts; names no template knows are ignored. */
    const char *value[VARS] = {NULL};
    for (size_t i = 0; i < n_vars; i++)
        for (int v = 0; v < VARS; v++)
            if (!value[v] && vars[i].name && strcmp(vars[i].name, var_names[v]) == 0)
                value[v] = vars[i].value;
    const struct template *tp = &t->t[k];
    size_t start = out->len;
    for (size_t i = 0; i < tp->n_pieces; i++) {
        const struct piece *p = &tp->pieces[i];
        int rc = p->var < 0 ? buf_append(out, tp->text + p->off, p->len)
                            : buf_puts(out, value[p->var] ? value[p->var] : "");
        if (rc < 0) {
            /* No half prompt: out is left as it was. */
            out->len = start;
            if (out->data)
                out->data[start] = '\0';
            return -1;
        }
    }
    return 0;
}
