/* glossary: the game glossary, loaded once, validated, and formatted into prompts (see
 * glossary.h; the matcher is glossary_index.c, which this file builds and asks).
 *
 * Loading validates the whole document first and only then builds, so the build cannot fail
 * half way: every string is copied into one block, then glossary_index_build compiles the
 * names and aliases for matching. */
#include "product/glossary.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/utf8.h"
#include "product/glossary_index.h"

struct glossary {
    struct glossary_entry *entries;
    size_t n_entries;
    const char **alias_slots; /* the entries' alias arrays, back to back */
    char *strings;            /* every string of the glossary */
    struct glossary_index *index;
};

#define GLOSSARY_MAX_ALIASES 64
/* The schema is four levels deep; json-c stops at this depth instead of recursing on. */
#define GLOSSARY_JSON_DEPTH 16

/* Hangul syllables or jamo: jamo make a name Korean ("ㅋ") though they are not word letters. */
static bool has_hangul(const char *s)
{
    size_t n = strlen(s), used;
    for (size_t i = 0; i < n; i += used) {
        uint32_t cp = utf8_decode(s + i, n - i, &used);
        if (utf8_is_hangul(cp) || (cp >= 0x1100 && cp <= 0x11FF) ||
            (cp >= 0x3131 && cp <= 0x318E))
            return true;
    }
    return false;
}

/* ---- loading ------------------------------------------------------------------------- */

/* The two passes over the document: counting (g == NULL) validates everything and sizes the
 * glossary; filling copies into it and cannot fail. */
struct build {
    struct glossary *g;
    size_t entries, aliases, bytes; /* counted, or the next free slot while filling */
    char *errstr;
    size_t errlen;
};

static const char *store(struct build *b, const char *s, size_t n)
{
    if (!b->g) {
        b->bytes += n + 1;
        return NULL;
    }
    char *p = b->g->strings + b->bytes;
    memcpy(p, s, n);
    p[n] = '\0';
    b->bytes += n + 1;
    return p;
}

/* Glossary text goes into prompts and JSON: it must be UTF-8 without NUL (json-c turns
 * "\u0000" into a NUL, and its own UTF-8 check lets encoded surrogates through). */
static const char *text_problem(const char *s, size_t n)
{
    if (memchr(s, '\0', n))
        return "contains a NUL character";
    if (!utf8_valid(s, n))
        return "is not valid UTF-8";
    return NULL;
}

static bool all_blank(const char *s, size_t n)
{
    size_t used;
    for (size_t i = 0; i < n; i += used)
        if (!glossary_is_blank(utf8_decode(s + i, n - i, &used)))
            return false;
    return true;
}

/* An optional string field: 1 with *s and *n, 0 when absent or null, -1 with errstr. */
static int entry_string(struct build *b, json_object *e, const char *field, const char *sec,
                        const char *name, const char **s, size_t *n)
{
    json_object *v = json_get(e, field);
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string)) {
        errstr_set(b->errstr, b->errlen, "\"%s\" / \"%s\": \"%s\" must be a string", sec, name,
                   field);
        return -1;
    }
    *s = json_object_get_string(v);
    *n = (size_t)json_object_get_string_len(v);
    const char *why = text_problem(*s, *n);
    if (why) {
        errstr_set(b->errstr, b->errlen, "\"%s\" / \"%s\": \"%s\" %s", sec, name, field, why);
        return -1;
    }
    return 1;
}

static int build_entry(struct build *b, const char *sec_stored, const char *sec,
                       const char *name, json_object *e)
{
    size_t name_len = strlen(name);
    const char *why = text_problem(name, name_len);
    if (why || all_blank(name, name_len)) {
        errstr_set(b->errstr, b->errlen, "section \"%s\": an entry name %s", sec,
                   why ? why : "is empty");
        return -1;
    }
    if (!json_object_is_type(e, json_type_object)) {
        errstr_set(b->errstr, b->errlen, "\"%s\" / \"%s\": the entry must be an object", sec,
                   name);
        return -1;
    }
    const char *desc = "", *kind = "";
    size_t desc_len = 0, kind_len = 0;
    if (entry_string(b, e, "description", sec, name, &desc, &desc_len) < 0)
        return -1;
    /* The schema names the kind "type" for characters and "category" for terms. */
    const char *cat = "";
    size_t cat_len = 0;
    int rc = entry_string(b, e, "type", sec, name, &kind, &kind_len);
    if (rc < 0 || entry_string(b, e, "category", sec, name, &cat, &cat_len) < 0)
        return -1;
    if (rc == 0) {
        kind = cat;
        kind_len = cat_len;
    }

    json_object *arr = json_get(e, "aliases");
    size_t n_aliases = 0;
    if (arr != NULL) {
        if (!json_object_is_type(arr, json_type_array)) {
            errstr_set(b->errstr, b->errlen, "\"%s\" / \"%s\": \"aliases\" must be an array",
                       sec, name);
            return -1;
        }
        n_aliases = json_object_array_length(arr);
        if (n_aliases > GLOSSARY_MAX_ALIASES) {
            errstr_set(b->errstr, b->errlen, "\"%s\" / \"%s\": more than %d aliases", sec, name,
                       GLOSSARY_MAX_ALIASES);
            return -1;
        }
    }

    struct glossary_entry *ge = b->g ? &b->g->entries[b->entries] : NULL;
    const char **slots = b->g ? &b->g->alias_slots[b->aliases] : NULL;
    for (size_t i = 0; i < n_aliases; i++) {
        json_object *a = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(a, json_type_string)) {
            errstr_set(b->errstr, b->errlen,
                       "\"%s\" / \"%s\": \"aliases\"[%zu] must be a string", sec, name, i);
            return -1;
        }
        const char *s = json_object_get_string(a);
        size_t n = (size_t)json_object_get_string_len(a);
        why = text_problem(s, n);
        if (why || all_blank(s, n)) {
            errstr_set(b->errstr, b->errlen, "\"%s\" / \"%s\": \"aliases\"[%zu] %s", sec, name,
                       i, why ? why : "is empty");
            return -1;
        }
        const char *copy = store(b, s, n);
        if (slots)
            slots[i] = copy;
    }
    if (ge) {
        ge->section = sec_stored;
        ge->canonical = store(b, name, name_len);
        ge->description = store(b, desc, desc_len);
        ge->kind = store(b, kind, kind_len);
        ge->aliases = slots;
        ge->n_aliases = n_aliases;
        ge->korean = NULL;
        for (size_t i = 0; i < n_aliases && !ge->korean; i++)
            if (has_hangul(slots[i]))
                ge->korean = slots[i];
    } else {
        b->bytes += name_len + desc_len + kind_len + 3;
    }
    b->entries++;
    b->aliases += n_aliases;
    return 0;
}

static int build_all(struct build *b, json_object *root)
{
    json_object_object_foreach(root, sec, section)
    {
        const char *why = text_problem(sec, strlen(sec));
        if (why) {
            errstr_set(b->errstr, b->errlen, "a section name %s", why);
            return -1;
        }
        if (!json_object_is_type(section, json_type_object)) {
            errstr_set(b->errstr, b->errlen, "section \"%s\" must be an object", sec);
            return -1;
        }
        if (b->entries + (size_t)json_object_object_length(section) > GLOSSARY_MAX_ENTRIES) {
            errstr_set(b->errstr, b->errlen, "more than %d entries", GLOSSARY_MAX_ENTRIES);
            return -1;
        }
        const char *sec_stored = store(b, sec, strlen(sec));
        json_object_object_foreach(section, name, entry)
        {
            if (build_entry(b, sec_stored, sec, name, entry) < 0)
                return -1;
        }
    }
    return 0;
}

/* The 1-based line of byte offset end in text, for JSON syntax errors. */
static unsigned line_of(const char *text, size_t end)
{
    unsigned line = 1;
    for (size_t i = 0; i < end; i++)
        line += text[i] == '\n';
    return line;
}

struct glossary *glossary_parse(const char *text, size_t len, char *errstr, size_t errlen)
{
    if (len > GLOSSARY_MAX_BYTES) {
        errstr_set(errstr, errlen, "larger than %u bytes", GLOSSARY_MAX_BYTES);
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(GLOSSARY_JSON_DEPTH);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue && end == len) {
        /* A bare literal waits for a terminator: the NUL says the input ended. */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    while (end < len && (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' ||
                         text[end] == '\r'))
        end++;
    if (jerr != json_tokener_success) {
        errstr_set(errstr, errlen, "line %u: not valid JSON: %s", line_of(text, end),
                   json_tokener_error_desc(jerr));
        json_object_put(root);
        return NULL;
    }
    if (end != len) {
        errstr_set(errstr, errlen, "line %u: not valid JSON: text after the document",
                   line_of(text, end));
        json_object_put(root);
        return NULL;
    }
    if (!root || !json_object_is_type(root, json_type_object)) {
        errstr_set(errstr, errlen, "the glossary must be a JSON object of sections");
        json_object_put(root);
        return NULL;
    }
    struct build b = {.errstr = errstr, .errlen = errlen};
    if (build_all(&b, root) < 0) {
        json_object_put(root);
        return NULL;
    }
    struct glossary *g = xcalloc(1, sizeof *g);
    g->n_entries = b.entries;
    g->entries = xcalloc(b.entries ? b.entries : 1, sizeof *g->entries);
    g->alias_slots = xcalloc(b.aliases ? b.aliases : 1, sizeof *g->alias_slots);
    g->strings = xmalloc(b.bytes ? b.bytes : 1);
    struct build fill = {.g = g};
    build_all(&fill, root); /* validated above: cannot fail */
    json_object_put(root);
    g->index = glossary_index_build(g->entries, g->n_entries);
    return g;
}

struct glossary *glossary_load_file(const char *path, char *errstr, size_t errlen)
{
    struct buf text;
    buf_init(&text, GLOSSARY_MAX_BYTES);
    struct glossary *g = NULL;
    if (buf_read_file(&text, path, errstr, errlen) == 0) {
        char why[256] = "";
        g = glossary_parse(buf_cstr(&text), text.len, why, sizeof why);
        if (!g)
            errstr_set(errstr, errlen, "%s: %s", path, why);
    }
    buf_free(&text);
    return g;
}

void glossary_free(struct glossary *g)
{
    if (!g)
        return;
    free(g->entries);
    free(g->alias_slots);
    free(g->strings);
    glossary_index_free(g->index);
    free(g);
}

size_t glossary_count(const struct glossary *g)
{
    return g->n_entries;
}

const struct glossary_entry *glossary_entry_at(const struct glossary *g, size_t i)
{
    return i < g->n_entries ? &g->entries[i] : NULL;
}

size_t glossary_find(const struct glossary *g, const char *text, size_t len,
                     struct glossary_match *out, size_t max)
{
    return glossary_index_find(g->index, text, len, out, max);
}

/* ---- formatting ---------------------------------------------------------------------- */

/* Appends s with control characters as spaces, so an entry stays one line of the prompt. */
static int put_line_text(struct buf *out, const char *s)
{
    for (const char *run = s;; s++) {
        if (*s == '\0' || (unsigned char)*s < 0x20 || *s == 0x7F) {
            if (buf_append(out, run, (size_t)(s - run)) < 0)
                return -1;
            if (*s == '\0')
                return 0;
            if (buf_putc(out, ' ') < 0)
                return -1;
            run = s + 1;
        }
    }
}

/* Whether alias k of e repeats, ignoring ASCII case, the canonical name or an earlier alias
 * of the same script group, so "paul" and "PAUL" do not print beside "Paul". */
static bool alias_repeats(const struct glossary_entry *e, size_t k, bool hangul)
{
    if (!hangul && strcasecmp(e->aliases[k], e->canonical) == 0)
        return true;
    for (size_t j = 0; j < k; j++)
        if (has_hangul(e->aliases[j]) == hangul && strcasecmp(e->aliases[j], e->aliases[k]) == 0)
            return true;
    return false;
}

static int format_entry(const struct glossary_entry *e, struct buf *out)
{
    if (buf_puts(out, "- ") < 0 || put_line_text(out, e->canonical) < 0)
        return -1;
    /* Other English forms first ("Experience Points / XP"), then every Korean one in
     * parentheses: the first Hangul alias is not always the name ("주인공", protagonist,
     * comes before "폴" for Paul), so the model sees them all. */
    for (size_t k = 0; k < e->n_aliases; k++)
        if (!has_hangul(e->aliases[k]) && !alias_repeats(e, k, false) &&
            (buf_puts(out, " / ") < 0 || put_line_text(out, e->aliases[k]) < 0))
            return -1;
    const char *sep = " (";
    for (size_t k = 0; k < e->n_aliases; k++) {
        if (!has_hangul(e->aliases[k]) || alias_repeats(e, k, true))
            continue;
        if (buf_puts(out, sep) < 0 || put_line_text(out, e->aliases[k]) < 0)
            return -1;
        sep = ", ";
    }
    if (sep[0] == ',' && buf_putc(out, ')') < 0)
        return -1;
    if (e->description[0] &&
        (buf_puts(out, ": ") < 0 || put_line_text(out, e->description) < 0))
        return -1;
    if (e->kind[0] && (buf_puts(out, " [") < 0 || put_line_text(out, e->kind) < 0 ||
                       buf_putc(out, ']') < 0))
        return -1;
    return buf_putc(out, '\n');
}

int glossary_format(const struct glossary *g, struct buf *out)
{
    size_t start = out->len;
    const char *section = NULL;
    for (size_t i = 0; i < g->n_entries; i++) {
        const struct glossary_entry *e = &g->entries[i];
        if (e->section != section) {
            section = e->section;
            if (buf_puts(out, "## ") < 0 || put_line_text(out, section) < 0 ||
                buf_putc(out, '\n') < 0)
                goto full;
        }
        if (format_entry(e, out) < 0)
            goto full;
    }
    return 0;
full:
    /* No half glossary in a prompt: out is left as it was. */
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -1;
}
