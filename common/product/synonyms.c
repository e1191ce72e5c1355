/* synonyms: the synonym file parsed, validated and searched (see synonyms.h). */
#include "product/synonyms.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errstr.h"
#include "core/utf8.h"

struct variant {
    const char *word;      /* normalised (ASCII lower-cased) */
    size_t len;
    const char *canonical; /* as written, trimmed */
    unsigned line;
};

struct synonyms {
    struct variant *v; /* sorted by (len, bytes) for bsearch */
    size_t n;
    char *strings;     /* every string above, NUL-terminated */
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    if (al != bl)
        return al < bl ? -1 : 1;
    return memcmp(a, b, al);
}

static int cmp_variant(const void *x, const void *y)
{
    const struct variant *a = x, *b = y;
    return cmp_bytes(a->word, a->len, b->word, b->len);
}

/* Appends s[0..n) (ASCII lower-cased when lower) and a NUL to the string store; its offset. */
static size_t store(struct buf *b, const char *s, size_t n, bool lower)
{
    size_t off = b->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (lower && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        buf_putc(b, c);
    }
    buf_putc(b, '\0');
    return off;
}

/* A line's text problem, or NULL: control characters (tabs are separators) or not UTF-8. */
static const char *line_problem(const char *s, size_t n)
{
    if (!utf8_valid(s, n))
        return "not valid UTF-8";
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return "a control character";
    return NULL;
}

struct parse {
    struct variant *v;   /* offsets into the store until the end, as uintptr_t */
    size_t n, cap;
    struct buf strings;
    struct {
        size_t off, len;
        unsigned line;
    } *canon;            /* every canonical term, for the loop check */
    size_t n_canon, cap_canon;
};

/* One entry line; 0 or -1 with errstr. */
static int parse_line(struct parse *p, const char *s, size_t n, unsigned no, char *errstr,
                      size_t errlen)
{
    const char *why = line_problem(s, n);
    if (why) {
        errstr_set(errstr, errlen, "line %u: %s", no, why);
        return -1;
    }
    const char *tab = memchr(s, '\t', n);
    if (!tab) {
        errstr_set(errstr, errlen, "line %u: want \"canonical<TAB>variant, variant...\"", no);
        return -1;
    }
    const char *c = s, *rest = tab + 1;
    size_t cl = (size_t)(tab - s), rl = n - cl - 1;
    trim(&c, &cl);
    if (cl == 0 || cl > SYNONYMS_TERM_MAX) {
        errstr_set(errstr, errlen, "line %u: the canonical term is %s", no,
                   cl ? "longer than 120 bytes" : "empty");
        return -1;
    }
    if (memchr(rest, '\t', rl)) {
        errstr_set(errstr, errlen, "line %u: one tab only; separate the variants by commas", no);
        return -1;
    }
    if (p->n_canon == p->cap_canon) {
        p->cap_canon = p->cap_canon ? 2 * p->cap_canon : 64;
        p->canon = xrealloc(p->canon, p->cap_canon * sizeof *p->canon);
    }
    size_t coff = store(&p->strings, c, cl, false);
    p->canon[p->n_canon].off = store(&p->strings, c, cl, true);
    p->canon[p->n_canon].len = cl;
    p->canon[p->n_canon++].line = no;
    size_t k = 0;
    for (const char *v = rest, *end = rest + rl; v <= end; k++) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *ve = comma ? comma : end;
        const char *w = v;
        size_t wl = (size_t)(ve - v);
        trim(&w, &wl);
        if (wl == 0) {
            errstr_set(errstr, errlen, "line %u: variant %zu is empty", no, k + 1);
            return -1;
        }
        if (wl > SYNONYMS_TERM_MAX || memchr(w, ' ', wl)) {
            errstr_set(errstr, errlen, "line %u: variant %zu (\"%.*s\") %s", no, k + 1,
                       (int)(wl > 40 ? 40 : wl), w,
                       wl > SYNONYMS_TERM_MAX ? "is longer than 120 bytes"
                                              : "has a blank: a variant is one word");
            return -1;
        }
        if (p->n == SYNONYMS_MAX_VARIANTS) {
            errstr_set(errstr, errlen, "line %u: more than %d variants", no,
                       SYNONYMS_MAX_VARIANTS);
            return -1;
        }
        if (p->n == p->cap) {
            p->cap = p->cap ? 2 * p->cap : 256;
            p->v = xrealloc(p->v, p->cap * sizeof *p->v);
        }
        struct variant *e = &p->v[p->n++];
        e->word = (const char *)(uintptr_t)store(&p->strings, w, wl, true);
        e->len = wl;
        e->canonical = (const char *)(uintptr_t)coff;
        e->line = no;
        if (!comma)
            break;
        v = comma + 1;
    }
    return 0;
}

struct synonyms *synonyms_parse(const char *text, size_t len, char *errstr, size_t errlen)
{
    if (len > SYNONYMS_MAX_BYTES) {
        errstr_set(errstr, errlen, "larger than %u bytes", SYNONYMS_MAX_BYTES);
        return NULL;
    }
    struct parse p = {0};
    buf_init(&p.strings, 4 * (size_t)SYNONYMS_MAX_BYTES + 64);
    int rc = 0;
    unsigned no = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - text) - i : len - i;
        const char *s = text + i;
        i += n + 1;
        no++;
        if (n && s[n - 1] == '\r') /* a file saved with CRLF line ends */
            n--;
        if (n > SYNONYMS_LINE_MAX) {
            errstr_set(errstr, errlen, "line %u: longer than %d bytes", no, SYNONYMS_LINE_MAX);
            rc = -1;
            break;
        }
        const char *t = s;
        size_t tl = n;
        trim(&t, &tl);
        if (tl == 0 || t[0] == '#')
            continue;
        rc = parse_line(&p, s, n, no, errstr, errlen);
    }
    struct synonyms *out = NULL;
    if (rc == 0) {
        out = xcalloc(1, sizeof *out);
        out->n = p.n;
        out->strings = buf_steal(&p.strings, NULL);
        out->v = p.v ? p.v : xcalloc(1, sizeof *out->v);
        p.v = NULL;
        for (size_t i = 0; i < out->n; i++) {
            out->v[i].word = out->strings + (uintptr_t)out->v[i].word;
            out->v[i].canonical = out->strings + (uintptr_t)out->v[i].canonical;
        }
        qsort(out->v, out->n, sizeof *out->v, cmp_variant);
        for (size_t i = 1; i < out->n && rc == 0; i++)
            if (cmp_variant(&out->v[i - 1], &out->v[i]) == 0) {
                unsigned a = out->v[i - 1].line, b = out->v[i].line;
                errstr_set(errstr, errlen, "line %u: variant \"%s\" is listed again (line %u)",
                           a > b ? a : b, out->v[i].word, a > b ? b : a);
                rc = -1;
            }
        /* A loop: a variant that is also a canonical term (or its own). */
        for (size_t c = 0; c < p.n_canon && rc == 0; c++) {
            struct variant key = {.word = out->strings + p.canon[c].off, .len = p.canon[c].len};
            const struct variant *v = bsearch(&key, out->v, out->n, sizeof *out->v, cmp_variant);
            if (v && v->line == p.canon[c].line)
                errstr_set(errstr, errlen, "line %u: variant \"%s\" is its canonical term",
                           v->line, v->word);
            else if (v)
                errstr_set(errstr, errlen,
                           "line %u: \"%s\" is a variant here and a canonical term on line %u "
                           "(a loop): list its variants under one canonical term",
                           v->line, v->word, p.canon[c].line);
            rc = v ? -1 : 0;
        }
        if (rc < 0) {
            synonyms_free(out);
            out = NULL;
        }
    }
    free(p.v);
    free(p.canon);
    buf_free(&p.strings);
    return out;
}

struct synonyms *synonyms_load_file(const char *path, char *errstr, size_t errlen)
{
    struct buf text;
    buf_init(&text, SYNONYMS_MAX_BYTES + 1);
    struct synonyms *s = NULL;
    if (buf_read_file(&text, path, errstr, errlen) == 0) {
        char why[256] = "";
        s = synonyms_parse(buf_cstr(&text), text.len, why, sizeof why);
        if (!s)
            errstr_set(errstr, errlen, "%s: %s", path, why);
    }
    buf_free(&text);
    return s;
}

void synonyms_free(struct synonyms *s)
{
    if (!s)
        return;
    free(s->v);
    free(s->strings);
    free(s);
}

size_t synonyms_count(const struct synonyms *s)
{
    return s ? s->n : 0;
}

const char *synonyms_find(const struct synonyms *s, const char *word, size_t len)
{
    char low[SYNONYMS_TERM_MAX];
    if (!s || len == 0 || len > sizeof low)
        return NULL;
    for (size_t i = 0; i < len; i++)
        low[i] = word[i] >= 'A' && word[i] <= 'Z' ? (char)(word[i] - 'A' + 'a') : word[i];
    struct variant key = {.word = low, .len = len};
    const struct variant *v = bsearch(&key, s->v, s->n, sizeof *s->v, cmp_variant);
    return v ? v->canonical : NULL;
}
