/* sim_translate: glossary-name swapping as a stand-in translation (see sim_translate.h). */
#include "sim_translate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

#define MAX_NAMES 512

struct name_pair {
    const char *en, *ko;
    size_t en_n, ko_n;
};

int sim_translate_target(const char *system)
{
    if (!strcasestr(system, "translat"))
        return -1;
    if (strcasestr(system, "into Korean"))
        return 1;
    if (strcasestr(system, "into English"))
        return 0;
    return -1;
}

/* "- Paul (폴): ..." lines of the system prompt. Returns how many pairs were found. */
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
        v[n++] = (struct name_pair){en, ko, (size_t)(open - en), (size_t)(close - ko)};
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
            const char *from = into_korean ? v[k].en : v[k].ko;
            size_t fn = into_korean ? v[k].en_n : v[k].ko_n;
            if (fn && fn <= n - i &&
                (into_korean ? strncasecmp(text + i, from, fn) : memcmp(text + i, from, fn)) == 0)
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
