/* sim_trigram: normalised character trigrams and their weighted overlap (see sim_trigram.h). */
#include "sim_trigram.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "sim_util.h"

static int is_word_cp(uint32_t cp)
{
    if (cp == SIM_UTF8_INVALID)
        return 0;
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    /* General punctuation, CJK symbols and punctuation, full-width forms' punctuation. */
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || cp == 0x00A0)
        return 0;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void sim_trigrams_build(struct sim_trigrams *t, const char *s, size_t n)
{
    /* Normalised code points; at most one per input byte plus the two pads. */
    uint32_t *cps = xmalloc((n + 2) * sizeof *cps);
    size_t m = 0;
    cps[m++] = ' ';
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += sim_utf8_next(s + i, n - i, &cp);
        if (!is_word_cp(cp)) {
            if (cps[m - 1] != ' ')
                cps[m++] = ' ';
            continue;
        }
        if (cp >= 'A' && cp <= 'Z')
            cp += 'a' - 'A';
        cps[m++] = cp;
    }
    if (cps[m - 1] != ' ')
        cps[m++] = ' ';
    t->n = 0;
    t->v = NULL;
    if (m >= 3) {
        t->v = xmalloc((m - 2) * sizeof *t->v);
        for (size_t i = 0; i + 2 < m; i++)
            t->v[t->n++] = ((uint64_t)cps[i] << 42) | ((uint64_t)cps[i + 1] << 21) | cps[i + 2];
        qsort(t->v, t->n, sizeof *t->v, cmp_u64);
        size_t u = 0;
        for (size_t i = 0; i < t->n; i++)
            if (u == 0 || t->v[u - 1] != t->v[i])
                t->v[u++] = t->v[i];
        t->n = u;
    }
    /* A lone space is not a trigram worth having: "   " cannot occur after collapsing. */
    free(cps);
}

void sim_trigrams_free(struct sim_trigrams *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int sim_trigrams_has(const struct sim_trigrams *t, uint64_t g)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid] < g)
            lo = mid + 1;
        else if (t->v[mid] > g)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

void sim_trigrams_idf(const struct sim_trigrams *q, const struct sim_trigrams *const *corpus,
                      size_t n_corpus, double *w)
{
    for (size_t i = 0; i < q->n; i++) {
        size_t df = 0;
        for (size_t d = 0; d < n_corpus; d++)
            df += (size_t)sim_trigrams_has(corpus[d], q->v[i]);
        w[i] = log(1.0 + (double)n_corpus / (1.0 + (double)df));
    }
}

double sim_trigrams_score(const struct sim_trigrams *q, const struct sim_trigrams *p,
                          const double *w)
{
    double total = 0, hit = 0;
    size_t j = 0;
    for (size_t i = 0; i < q->n; i++) {
        double wi = w ? w[i] : 1.0;
        total += wi;
        while (j < p->n && p->v[j] < q->v[i])
            j++;
        if (j < p->n && p->v[j] == q->v[i])
            hit += wi;
    }
    if (total <= 0)
        return 0;
    double s = hit / total;
    return s > 1 ? 1 : s;
}
