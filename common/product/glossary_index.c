/* glossary_index: the glossary's names compiled for matching, and the matcher (see
 * glossary.h for the rules, glossary_index.h for the interface).
 *
 * Every alias (and the canonical name) is compiled once into a pattern, lowercased and with
 * its blank runs reduced to one marker. Patterns are bucketed by their first character, so a
 * question is scanned once, and only at a word start are the few patterns that can begin there
 * compared. Matching needs no heap for a question-sized text. */
#include "product/glossary_index.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"

#define GLOSSARY_BUCKETS 256

/* One alias (or canonical name) compiled for matching. */
struct glossary_pattern {
    const char *text;  /* lowercased ASCII, blank runs as one marker (BLANK_SOME, BLANK_ANY) */
    uint32_t len;
    uint32_t entry;
    /* How it may start needs no flag: a pattern starting with a Latin letter or digit (a
     * Hangul syllable) is only tried where the character before is not one (glossary_find). */
    bool end_word;     /* ends with a Latin letter or digit: no word character after */
    bool end_particle; /* ends with a lone Hangul syllable: only particles may follow */
};

struct glossary_index {
    const struct glossary_entry *entries; /* the glossary's, not owned */
    char *text;                           /* the patterns' texts, back to back */
    struct glossary_pattern *patterns;
    size_t n_patterns;
    /* Pattern indices by bucket of their first character: bucket b holds
     * bucket_pat[bucket_at[b] .. bucket_at[b + 1]). */
    uint32_t bucket_at[GLOSSARY_BUCKETS + 1];
    uint32_t *bucket_pat;
};

/* Pattern markers for a run of blanks in an alias: BLANK_SOME needs at least one blank in the
 * text ("agent c" is not "agentc"); BLANK_ANY also matches none, because Korean spacing is
 * loose ("레어아이템" is "레어 아이템"). Blanks in a pattern are always one of these two. */
#define BLANK_SOME ' '
#define BLANK_ANY '\t'

/* ---- characters ---------------------------------------------------------------------- */

/* A character that continues a Latin word: ASCII letters and digits, accented Latin letters. */
static bool is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
           (cp >= 0x1E00 && cp <= 0x1EFF);
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static uint32_t bucket_of(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        cp += 32;
    return (cp * 2654435761u) >> 24; /* Fibonacci hashing: syllables spread over the buckets */
}

/* ---- particles ----------------------------------------------------------------------- */

/* Korean particles (and the copula endings that behave like them) that may follow a noun.
 * After a one-syllable alias the rest of the Hangul word must be one of these or two stacked
 * ("폴에게서는" = 에게서 + 는), so "폴이" is Paul and "폴더" (folder) is not. */
#define P(s) { s, sizeof s - 1 }
static const struct particle {
    const char *s;
    size_t n;
} particles[] = {
    P("이"), P("가"), P("은"), P("는"), P("을"), P("를"), P("에"), P("에서"), P("에게"),
    P("에게서"), P("께"), P("께서"), P("한테"), P("한테서"), P("더러"), P("의"), P("도"),
    P("만"), P("와"), P("과"), P("로"), P("으로"), P("로서"), P("으로서"), P("로써"),
    P("으로써"), P("랑"), P("이랑"), P("하고"), P("이나"), P("나"), P("이나마"), P("나마"),
    P("야"), P("아"), P("이야"), P("요"), P("이요"), P("까지"), P("부터"), P("보다"),
    P("처럼"), P("같이"), P("만큼"), P("대로"), P("마다"), P("조차"), P("마저"), P("밖에"),
    P("뿐"), P("씩"), P("에다"), P("에다가"), P("이든"), P("든"), P("이든지"), P("든지"),
    P("이라도"), P("라도"), P("이다"), P("다"), P("이에요"), P("예요"), P("이예요"),
    P("입니다"), P("이지"), P("지"), P("이죠"), P("죠"), P("인데"), P("인가"), P("인가요"),
    P("이고"), P("고"), P("이며"), P("며"), P("이라"), P("라"), P("이라고"), P("라고"),
    P("이라는"), P("라는"), P("이란"), P("란"), P("이면"), P("면"), P("이라면"), P("라면"),
    P("이라서"), P("라서"), P("이여"), P("여"),
};
#undef P
#define PARTICLES (sizeof particles / sizeof particles[0])
#define PARTICLE_MAX_BYTES 9 /* the longest above: three syllables */

/* True when s[0..n) is one particle or two stacked. */
static bool is_particles(const char *s, size_t n)
{
    if (n > 2 * PARTICLE_MAX_BYTES)
        return false;
    for (size_t i = 0; i < PARTICLES; i++) {
        const struct particle *a = &particles[i];
        if (a->n > n || memcmp(s, a->s, a->n) != 0)
            continue;
        if (a->n == n)
            return true;
        for (size_t j = 0; j < PARTICLES; j++)
            if (particles[j].n == n - a->n && memcmp(s + a->n, particles[j].s, n - a->n) == 0)
                return true;
    }
    return false;
}

/* ---- compiling ----------------------------------------------------------------------- */

/* Compiles one alias into a pattern whose text is written to dst (at most strlen(alias) + 1
 * bytes: lowering keeps the length and blank runs only shrink). Returns the bytes used. */
static size_t pattern_compile(struct glossary_pattern *p, const char *alias, char *dst,
                              uint32_t entry)
{
    size_t n = strlen(alias), o = 0, used;
    uint32_t last = 0;
    size_t hangul_run = 0; /* Hangul syllables the alias ends with */
    bool blank = false;
    for (size_t i = 0; i < n; i += used) {
        uint32_t cp = utf8_decode(alias + i, n - i, &used);
        if (glossary_is_blank(cp)) {
            blank = o > 0;
            continue;
        }
        if (blank) {
            bool hangul = utf8_is_hangul(last) || utf8_is_hangul(cp);
            dst[o++] = hangul ? BLANK_ANY : BLANK_SOME;
            hangul_run = 0;
            blank = false;
        }
        last = cp;
        hangul_run = utf8_is_hangul(cp) ? hangul_run + 1 : 0;
        for (size_t k = 0; k < used; k++)
            dst[o++] = ascii_lower(alias[i + k]);
    }
    dst[o] = '\0';
    p->text = dst;
    p->len = (uint32_t)o;
    p->entry = entry;
    p->end_word = is_word(last);
    p->end_particle = hangul_run == 1;
    return o + 1;
}

struct glossary_index *glossary_index_build(const struct glossary_entry *entries, size_t n)
{
    struct glossary_index *ix = xcalloc(1, sizeof *ix);
    ix->entries = entries;
    size_t max = n, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        max += entries[i].n_aliases;
        bytes += strlen(entries[i].canonical) + 1;
        for (size_t k = 0; k < entries[i].n_aliases; k++)
            bytes += strlen(entries[i].aliases[k]) + 1;
    }
    /* Pattern texts need at most as many bytes as the names and aliases they come from. */
    char *dst = ix->text = xmalloc(bytes ? bytes : 1);
    ix->patterns = xcalloc(max, sizeof *ix->patterns);
    for (size_t i = 0; i < n; i++) {
        const struct glossary_entry *e = &entries[i];
        size_t first = ix->n_patterns;
        for (size_t k = 0; k <= e->n_aliases; k++) {
            struct glossary_pattern *p = &ix->patterns[ix->n_patterns];
            size_t used = pattern_compile(p, k == 0 ? e->canonical : e->aliases[k - 1], dst,
                                          (uint32_t)i);
            /* "paul", "Paul" and "PAUL" are one pattern. */
            bool dup = false;
            for (size_t j = first; j < ix->n_patterns && !dup; j++)
                dup = ix->patterns[j].len == p->len && memcmp(ix->patterns[j].text, p->text,
                                                              p->len) == 0;
            if (!dup) {
                dst += used;
                ix->n_patterns++;
            }
        }
    }
    uint32_t *bucket = xcalloc(ix->n_patterns ? ix->n_patterns : 1, sizeof *bucket);
    for (size_t i = 0; i < ix->n_patterns; i++) {
        size_t used;
        bucket[i] = bucket_of(utf8_decode(ix->patterns[i].text, ix->patterns[i].len, &used));
        ix->bucket_at[bucket[i] + 1]++;
    }
    for (size_t b = 0; b < GLOSSARY_BUCKETS; b++)
        ix->bucket_at[b + 1] += ix->bucket_at[b];
    uint32_t fill[GLOSSARY_BUCKETS];
    memcpy(fill, ix->bucket_at, sizeof fill);
    ix->bucket_pat = xcalloc(ix->n_patterns ? ix->n_patterns : 1, sizeof *ix->bucket_pat);
    for (size_t i = 0; i < ix->n_patterns; i++) /* in glossary order within a bucket */
        ix->bucket_pat[fill[bucket[i]]++] = (uint32_t)i;
    free(bucket);
    return ix;
}

void glossary_index_free(struct glossary_index *ix)
{
    if (!ix)
        return;
    free(ix->text);
    free(ix->patterns);
    free(ix->bucket_pat);
    free(ix);
}

/* ---- matching ------------------------------------------------------------------------ */

/* Where pattern p matches text at pos: the end of the alias in the text, or 0. */
static size_t pattern_match(const struct glossary_pattern *p, const char *text, size_t pos,
                            size_t len)
{
    size_t t = pos;
    for (uint32_t k = 0; k < p->len; k++) {
        char c = p->text[k];
        if (c == BLANK_SOME || c == BLANK_ANY) {
            size_t start = t, used;
            while (t < len && glossary_is_blank(utf8_decode(text + t, len - t, &used)))
                t += used;
            if (c == BLANK_SOME && t == start)
                return 0;
            continue;
        }
        if (t >= len || ascii_lower(text[t]) != c)
            return 0;
        t++;
    }
    return t;
}

/* Whether what follows the alias ending at end lets it stand as a word. */
static bool pattern_end_ok(const struct glossary_pattern *p, const char *text, size_t end,
                           size_t len)
{
    size_t used;
    if (p->end_word && end < len && is_word(utf8_decode(text + end, len - end, &used)))
        return false;
    if (p->end_particle) {
        size_t w = end;
        while (w < len && utf8_is_hangul(utf8_decode(text + w, len - w, &used)))
            w += used;
        if (w > end && !is_particles(text + end, w - end))
            return false;
    }
    return true;
}

struct cand {
    size_t start, end;
    uint32_t pattern, entry;
};

/* Longest first; then leftmost; then the glossary's order. */
static int cmp_longest(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    size_t lx = x->end - x->start, ly = y->end - y->start;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->pattern < y->pattern ? -1 : x->pattern > y->pattern;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->entry != y->entry)
        return x->entry < y->entry ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_start(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Stack room for the common case: a question has a handful of matches and is at most 4000
 * characters (16 KiB of coverage bits); only larger texts or more matches touch the heap. */
#define CANDS_LOCAL 64
#define COVER_LOCAL_BYTES 2048

/* Sorts c[0..n) by cmp. glibc's qsort may allocate a merge buffer, so the few matches of a
 * question are sorted by insertion, on the stack; only more than CANDS_LOCAL go to qsort. */
static void sort_cands(struct cand *c, size_t n, int (*cmp)(const void *, const void *))
{
    if (n > CANDS_LOCAL) {
        qsort(c, n, sizeof *c, cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct cand x = c[i];
        size_t j = i;
        for (; j > 0 && cmp(&c[j - 1], &x) > 0; j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

static bool covered(const unsigned char *bits, size_t i)
{
    return bits[i / 8] & (1u << (i % 8));
}

static void cover(unsigned char *bits, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        bits[i / 8] |= (unsigned char)(1u << (i % 8));
}

size_t glossary_index_find(const struct glossary_index *ix, const char *text, size_t len,
                           struct glossary_match *out, size_t max)
{
    struct cand local[CANDS_LOCAL], *c = local;
    size_t n = 0, cap = CANDS_LOCAL;
    uint32_t prev = 0; /* the character before pos (0: none) */
    size_t pos = 0, used;
    for (; pos < len; pos += used) {
        uint32_t cp = utf8_decode(text + pos, len - pos, &used);
        /* Inside a word nothing can start: a pattern begins with the character at pos, so it
         * would need the word boundary that prev denies. Most positions end here. */
        bool inside = (is_word(cp) && is_word(prev)) ||
                      (utf8_is_hangul(cp) && utf8_is_hangul(prev));
        prev = cp;
        if (inside)
            continue;
        uint32_t b = bucket_of(cp);
        for (uint32_t k = ix->bucket_at[b]; k < ix->bucket_at[b + 1]; k++) {
            const struct glossary_pattern *p = &ix->patterns[ix->bucket_pat[k]];
            size_t end = pattern_match(p, text, pos, len);
            if (end == 0 || !pattern_end_ok(p, text, end, len))
                continue;
            if (n == cap) {
                cap *= 2;
                if (c == local) {
                    c = xmalloc(cap * sizeof *c);
                    memcpy(c, local, sizeof local);
                } else {
                    c = xrealloc(c, cap * sizeof *c);
                }
            }
            c[n++] = (struct cand){pos, end, ix->bucket_pat[k], p->entry};
        }
    }
    if (n > 1) {
        /* Longest wins where matches overlap. Taken longest first, every match kept so far is
         * at least as long as the one at hand, so they overlap exactly when one of its two
         * end bytes is already covered. */
        unsigned char bits_local[COVER_LOCAL_BYTES], *bits = bits_local;
        size_t nbytes = len / 8 + 1;
        if (nbytes > sizeof bits_local)
            bits = xcalloc(nbytes, 1);
        else
            memset(bits, 0, nbytes);
        sort_cands(c, n, cmp_longest);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (covered(bits, c[i].start) || covered(bits, c[i].end - 1))
                continue;
            cover(bits, c[i].start, c[i].end);
            c[kept++] = c[i];
        }
        if (bits != bits_local)
            free(bits);
        /* Each entry once, at its first match; then in the order of the text. */
        sort_cands(c, kept, cmp_entry);
        n = 0;
        for (size_t i = 0; i < kept; i++)
            if (n == 0 || c[n - 1].entry != c[i].entry)
                c[n++] = c[i];
        sort_cands(c, n, cmp_start);
    }
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = (struct glossary_match){&ix->entries[c[i].entry], c[i].start,
                                         c[i].end - c[i].start};
    if (c != local)
        free(c);
    return n;
}

