/* kb_gram: the two-character terms of a document and of a search (see kb_gram.h). A
 * two-character term is then one index lookup that finds the hits a substring or whole-word
 * scan would; other two-character terms (rare: "2단", "退款") are still counted by scanning
 * the documents (kb_search.c). */
#include "kb/kb_gram.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"

/* A gram found in one field of a document, before the hits are summed per gram. */
struct gram_hit {
    char g[KB_GRAM_MAX];
    uint8_t len;
    uint8_t field;
};

static bool hangul_at(const unsigned char *s, size_t n, size_t i)
{
    uint32_t c;
    return i < n && utf8_next((const char *)s + i, n - i, &c) == 3 && utf8_is_hangul(c);
}

/* Appends the grams of text[0..n) in field f to *v. */
static void grams_of(const char *text, size_t n, uint8_t f, struct gram_hit **v, size_t *nv,
                     size_t *cap)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        if (hangul_at(s, n, i) && hangul_at(s, n, i + 3))
            len = 6;
        else if (kb_ascii_alnum(s[i]) && i + 1 < n && kb_ascii_alnum(s[i + 1]) &&
                 (i == 0 || !kb_ascii_alnum(s[i - 1])) &&
                 (i + 2 == n || !kb_ascii_alnum(s[i + 2])))
            len = 2;
        if (len) {
            if (*nv == *cap) {
                *cap = *cap ? *cap * 2 : 256;
                *v = xrealloc(*v, *cap * sizeof **v);
            }
            struct gram_hit *g = &(*v)[(*nv)++];
            memcpy(g->g, s + i, len);
            for (size_t k = 0; len == 2 && k < 2; k++)
                if (g->g[k] >= 'A' && g->g[k] <= 'Z')
                    g->g[k] = (char)(g->g[k] - 'A' + 'a');
            g->len = (uint8_t)len;
            g->field = f;
        }
        /* On to the next character (Hangul pairs overlap: "환불은" holds 환불 and 불은). */
        size_t used;
        utf8_decode(text + i, n - i, &used);
        i += used;
    }
}

static int cmp_gram(const void *a, const void *b)
{
    const struct gram_hit *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->g, y->g, x->len);
}

size_t kb_gram_collect(const struct kb_doc *d, struct kb_gram **out)
{
    struct gram_hit *v = NULL;
    size_t nv = 0, cap = 0;
    grams_of(d->title, strlen(d->title), KB_FIELD_TITLE, &v, &nv, &cap);
    grams_of(d->keywords, strlen(d->keywords), KB_FIELD_KEYWORDS, &v, &nv, &cap);
    grams_of(d->body, strlen(d->body), KB_FIELD_BODY, &v, &nv, &cap);
    if (nv > 1)
        qsort(v, nv, sizeof *v, cmp_gram);
    struct kb_gram *g = xmalloc((nv ? nv : 1) * sizeof *g);
    size_t ng = 0;
    for (size_t i = 0; i < nv;) {
        struct kb_gram *x = &g[ng++];
        memset(x, 0, sizeof *x);
        memcpy(x->text, v[i].g, v[i].len);
        x->len = v[i].len;
        size_t j = i;
        for (; j < nv && cmp_gram(&v[i], &v[j]) == 0; j++)
            x->n[v[j].field]++;
        i = j;
    }
    free(v);
    *out = g;
    return ng;
}

bool kb_gram_covers(const struct kb_term *t)
{
    const unsigned char *s = (const unsigned char *)t->text;
    return t->chars == 2 && ((t->len == 2 && kb_ascii_alnum(s[0]) && kb_ascii_alnum(s[1])) ||
                             (t->len == 6 && hangul_at(s, 6, 0) && hangul_at(s, 6, 3)));
}
