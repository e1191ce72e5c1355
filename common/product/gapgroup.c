/* gapgroup: gaps normalised, grouped, counted and ordered (see gapgroup.h). */
#include "gapgroup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"

static const char *const reason_names[GAP_REASONS] = {"no_documents", "weak", "guardrail"};

const char *gap_reason_name(enum gap_reason r)
{
    return r < GAP_REASONS ? reason_names[r] : "?";
}

int gap_reason_parse(const char *s)
{
    for (int i = 0; s && i < GAP_REASONS; i++)
        if (strcmp(s, reason_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the normal form --------------------------------------------------------------------- */

static bool is_blank(uint32_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static bool is_invisible(uint32_t c)
{
    return c == 0xAD || (c >= 0x200B && c <= 0x200D) || c == 0x2060 || c == 0xFEFF ||
           c == 0xFE0F || c == 0xFE0E;
}

/* Punctuation and symbols players sprinkle: ASCII's, Latin-1's, general punctuation, CJK
 * punctuation and brackets, and their full-width forms (already folded to ASCII). */
static bool is_punct(uint32_t c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~') || (c >= 0xA1 && c <= 0xBF && c != 0xAA && c != 0xB5 &&
                                      c != 0xBA) ||
           c == 0xD7 || c == 0xF7 || (c >= 0x2010 && c <= 0x2027) ||
           (c >= 0x2030 && c <= 0x205E) || (c >= 0x3001 && c <= 0x3003) ||
           (c >= 0x3008 && c <= 0x3011) || (c >= 0x3014 && c <= 0x301F) || c == 0x30FB ||
           (c >= 0xFF5F && c <= 0xFF65);
}

static bool is_apostrophe(uint32_t c)
{
    return c == '\'' || c == 0x2019 || c == 0x2018 || c == 0x02BC;
}

static bool is_letter_or_digit(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c >= 0x80;
}

static uint32_t fold(uint32_t c)
{
    if (c >= 0xFF01 && c <= 0xFF5E) /* full-width ASCII */
        c -= 0xFEE0;
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) /* Latin-1 capitals */
        return c + 32;
    return c;
}

static int put_cp(struct buf *out, uint32_t c)
{
    char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (char)c, n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F)), n = 3;
    } else {
        b[0] = (char)(0xF0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F)), b[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    }
    return buf_append(out, b, n);
}

/* Hangul composition (Unicode's algorithm): a leading consonant jamo and a vowel jamo, and
 * then maybe a trailing consonant, are one syllable. */
#define L_BASE 0x1100
#define V_BASE 0x1161
#define T_BASE 0x11A7
#define S_BASE 0xAC00
#define L_COUNT 19
#define V_COUNT 21
#define T_COUNT 28

/* The code points of q (the invalid bytes dropped), folded, into cps; returns how many. */
static size_t decode(const char *q, size_t len, uint32_t *cps, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < max;) {
        uint32_t c;
        size_t l = utf8_next(q + i, len - i, &c);
        if (l == 0) {
            i++;
            continue;
        }
        i += l;
        c = fold(c);
        if (is_invisible(c))
            continue;
        /* L + V -> LV; LV + T -> LVT */
        if (n && c >= V_BASE && c < V_BASE + V_COUNT && cps[n - 1] >= L_BASE &&
            cps[n - 1] < L_BASE + L_COUNT) {
            cps[n - 1] = S_BASE + ((cps[n - 1] - L_BASE) * V_COUNT + (c - V_BASE)) * T_COUNT;
            continue;
        }
        if (n && c > T_BASE && c < T_BASE + T_COUNT && cps[n - 1] >= S_BASE &&
            cps[n - 1] <= 0xD7A3 && (cps[n - 1] - S_BASE) % T_COUNT == 0) {
            cps[n - 1] += c - T_BASE;
            continue;
        }
        cps[n++] = c;
    }
    return n;
}

int gapgroup_normalise(const char *q, size_t len, struct buf *out)
{
    enum { MAX_CPS = 4 * GAPGROUP_QUESTION_MAX };
    uint32_t *cps = xmalloc(MAX_CPS * sizeof *cps);
    size_t n = decode(q, len < 4 * GAPGROUP_QUESTION_MAX ? len : 4 * GAPGROUP_QUESTION_MAX, cps,
                      MAX_CPS);
    int rc = 0;
    bool space = false; /* a space is owed before the next character kept */
    size_t kept = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint32_t c = cps[i];
        /* An apostrophe between letters is dropped ("what's"); elsewhere it separates. */
        if (is_apostrophe(c) && i > 0 && i + 1 < n && is_letter_or_digit(cps[i - 1]) &&
            is_letter_or_digit(cps[i + 1]) && !is_punct(cps[i + 1]))
            continue;
        if (is_blank(c) || is_punct(c) || is_apostrophe(c)) {
            space = kept > 0;
            continue;
        }
        if (space)
            rc = buf_putc(out, ' ');
        space = false;
        if (rc == 0)
            rc = put_cp(out, c);
        kept++;
    }
    free(cps);
    return rc;
}

/* ---- the groups -------------------------------------------------------------------------- */

void gapgroup_init(struct gapgroup *gg)
{
    memset(gg, 0, sizeof *gg);
    buf_init(&gg->scratch, 8 * GAPGROUP_QUESTION_MAX + 16);
}

void gapgroup_free(struct gapgroup *gg)
{
    for (size_t i = 0; i < gg->n; i++) {
        free(gg->g[i].key);
        free(gg->g[i].question);
        free(gg->g[i].best_title);
        free(gg->g[i].best_url);
    }
    free(gg->g);
    free(gg->slot);
    buf_free(&gg->scratch);
    memset(gg, 0, sizeof *gg);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot of key: its group's, or the free one where it goes. */
static size_t *find_slot(struct gapgroup *gg, const char *key)
{
    size_t mask = gg->n_slots - 1, i = (size_t)hash(key) & mask;
    while (gg->slot[i] && strcmp(gg->g[gg->slot[i] - 1].key, key) != 0)
        i = (i + 1) & mask;
    return &gg->slot[i];
}

/* Keeps the table under half full. */
static void grow_slots(struct gapgroup *gg)
{
    if (gg->n_slots && 2 * (gg->n + 1) <= gg->n_slots)
        return;
    size_t old_n = gg->n_slots;
    size_t *old = gg->slot;
    gg->n_slots = old_n ? 2 * old_n : 64;
    gg->slot = xcalloc(gg->n_slots, sizeof *gg->slot);
    for (size_t i = 0; i < old_n; i++)
        if (old[i])
            *find_slot(gg, gg->g[old[i] - 1].key) = old[i];
    free(old);
}

static void set_lang(char *dst, const char *src)
{
    size_t n = src ? strnlen(src, 7) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

int gapgroup_add(struct gapgroup *gg, const struct gap_entry *e)
{
    buf_reset(&gg->scratch);
    if (gapgroup_normalise(e->question, e->question_len, &gg->scratch) < 0)
        return -1;
    const char *key = gg->scratch.data ? gg->scratch.data : "";
    grow_slots(gg);
    size_t *slot = find_slot(gg, key);
    struct gap_group *g;
    if (*slot) {
        g = &gg->g[*slot - 1];
    } else {
        if (gg->n == gg->cap) {
            gg->cap = gg->cap ? 2 * gg->cap : 32;
            gg->g = xrealloc(gg->g, gg->cap * sizeof *gg->g);
        }
        g = &gg->g[gg->n];
        memset(g, 0, sizeof *g);
        g->key = xstrdup(key);
        g->first_ms = g->last_ms = e->ms;
        g->best_ms = -1;
        *slot = ++gg->n;
    }
    g->count++;
    if (e->reason < GAP_REASONS)
        g->reasons[e->reason]++;
    if (e->ms < g->first_ms)
        g->first_ms = e->ms;
    if (!g->question || e->ms >= g->last_ms) { /* the newest wording and languages */
        g->last_ms = e->ms;
        free(g->question);
        g->question = xstrndup(e->question, e->question_len);
        set_lang(g->input_lang, e->input_lang);
        set_lang(g->ui_lang, e->ui_lang);
    }
    if (e->best_title && e->ms >= g->best_ms) {
        free(g->best_title);
        free(g->best_url);
        g->best_title = xstrdup(e->best_title);
        g->best_url = xstrdup(e->best_url ? e->best_url : "");
        g->best_score = e->best_score;
        g->best_ms = e->ms;
    }
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    const struct gap_group *x = a, *y = b;
    if (x->last_ms != y->last_ms)
        return x->last_ms > y->last_ms ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

void gapgroup_sort(struct gapgroup *gg)
{
    if (gg->n > 1)
        qsort(gg->g, gg->n, sizeof *gg->g, newest_first);
    /* The slots point at the old order: nothing looks them up after this. */
    free(gg->slot);
    gg->slot = NULL;
    gg->n_slots = 0;
}
