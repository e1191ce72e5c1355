/* sim_translate: glossary-name swapping as a stand-in translation (see sim_translate.h). */
#include "sim_translate.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

#define MAX_NAMES 512

struct name_pair {
    const char *en, *ko;
    size_t en_n, ko_n;
    int from_en; /* the pair translates English into Korean (else Korean into English) */
};

int sim_translate_target(const char *system)
{
    if (!strcasestr(system, "translat"))
        return -1;
    if (strcasestr(system, "into Korean") || strcasestr(system, "to Korean"))
        return 1;
    if (strcasestr(system, "into English") || strcasestr(system, "to English"))
        return 0;
    return -1;
}

/* Splits s[0..n) at sep into v (pointers into s); returns the number of parts. */
static size_t split(const char *s, size_t n, const char *sep, const char **v, size_t *vn,
                    size_t max)
{
    size_t k = 0, sl = strlen(sep);
    while (n && k < max) {
        const char *at = memmem(s, n, sep, sl);
        size_t part = at ? (size_t)(at - s) : n;
        v[k] = s, vn[k++] = part;
        if (!at)
            break;
        s = at + sl, n -= part + sl;
    }
    return k;
}

/* The glossary lines of the system prompt (glossary_format's shape: "- Experience Points / XP
 * (경험치): ..." or "- Paul (주인공, 폴): ..."): one pair per English form and Korean form,
 * each mapping to the other side's first form. Returns how many pairs were found. */
static size_t read_pairs(const char *system, struct name_pair *v, size_t max)
{
    size_t n = 0;
    for (const char *l = system; l && *l && n < max; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "- ", 2) != 0)
            continue;
        const char *en = l + 2, *open = strstr(en, " ("), *eol = strchr(en, '\n');
        if (!open || (eol && open > eol))
            continue;
        const char *ko = open + 2, *close = strstr(ko, "):");
        if (!close || (eol && close > eol) || close == ko)
            continue;
        const char *ev[8], *kv[8];
        size_t evn[8], kvn[8];
        size_t ne = split(en, (size_t)(open - en), " / ", ev, evn, 8);
        size_t nk = split(ko, (size_t)(close - ko), ", ", kv, kvn, 8);
        for (size_t i = 0; i < ne && n < max; i++) /* into Korean: every English form */
            v[n++] = (struct name_pair){ev[i], kv[0], evn[i], kvn[0], 1};
        for (size_t i = 0; i < nk && n < max; i++) /* into English: every Korean form */
            v[n++] = (struct name_pair){ev[0], kv[i], evn[0], kvn[i], 0};
    }
    return n;
}

static const char *const particles[] = {"에게서", "에게", "한테", "으로", "에서", "이", "가",
                                        "은", "는", "을", "를", "의", "도", "와", "과", "로",
                                        "에"};

/* Bytes of a particle at s (followed by a non-Hangul byte or the end), or 0. */
static size_t particle_at(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof particles / sizeof particles[0]; i++) {
        size_t pn = strlen(particles[i]);
        if (pn <= n && memcmp(s, particles[i], pn) == 0 &&
            (pn == n || (unsigned char)s[pn] < 0x80))
            return pn;
    }
    return 0;
}

static int by_longest_source(const void *a, const void *b, int ko)
{
    const struct name_pair *x = a, *y = b;
    size_t xn = ko ? x->en_n : x->ko_n, yn = ko ? y->en_n : y->ko_n;
    return xn < yn ? 1 : xn > yn ? -1 : 0;
}
static int longest_ko(const void *a, const void *b) { return by_longest_source(a, b, 0); }
static int longest_en(const void *a, const void *b) { return by_longest_source(a, b, 1); }

void sim_translate(const char *system, const char *text, size_t n, int into_korean,
                   struct buf *out)
{
    struct name_pair *v = xcalloc(MAX_NAMES, sizeof *v);
    size_t np = read_pairs(system, v, MAX_NAMES);
    qsort(v, np, sizeof *v, into_korean ? longest_en : longest_ko);
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < np; k++) {
            if (v[k].from_en != into_korean)
                continue;
            const char *from = into_korean ? v[k].en : v[k].ko;
            size_t fn = into_korean ? v[k].en_n : v[k].ko_n;
            if (!fn || fn > n - i)
                continue;
            /* English names are whole words ("MP" is not the end of "jump"). */
            if (into_korean ? strncasecmp(text + i, from, fn) == 0 &&
                                  (i == 0 || !isalnum((unsigned char)text[i - 1])) &&
                                  (i + fn == n || !isalnum((unsigned char)text[i + fn]))
                            : memcmp(text + i, from, fn) == 0)
                break;
        }
        if (k == np) {
            buf_putc(out, text[i++]);
            continue;
        }
        buf_append(out, into_korean ? v[k].ko : v[k].en, into_korean ? v[k].ko_n : v[k].en_n);
        i += into_korean ? v[k].en_n : v[k].ko_n;
        if (!into_korean)
            i += particle_at(text + i, n - i);
    }
    free(v);
}
