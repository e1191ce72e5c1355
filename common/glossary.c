/* glossary: the game glossary, parsed once and matched against every question (see
 * glossary.h).
 *
 * Loading validates the whole document first and only then builds, so the build cannot fail
 * half way: every string is copied into one block, and every alias (and the canonical name)
 * is compiled once into a pattern, lowercased and with its blank runs reduced to one marker.
 * Patterns are bucketed by their first character, so a question is scanned once and at each
 * word start only the few patterns that can begin there are compared. */
#include "glossary.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "alloc.h"
#include "log.h"
#include "utf8.h"

#define GLOSSARY_MAX_ALIASES 64
/* The schema is four levels deep; json-c stops at this depth instead of recursing on. */
#define GLOSSARY_JSON_DEPTH 16
#define GLOSSARY_BUCKETS 256

/* Pattern markers for a run of blanks in an alias: BLANK_SOME needs at least one blank in the
 * text ("agent c" is not "agentc"); BLANK_ANY also matches none, because Korean spacing is
 * loose ("레어아이템" is "레어 아이템"). Blanks in the text are always reduced to these two. */
#define BLANK_SOME ' '
#define BLANK_ANY '\t'

struct pattern {
    const char *text;    /* lowercased ASCII, blank runs as BLANK_SOME / BLANK_ANY */
    uint32_t len;
    uint32_t entry;
    /* How it may start needs no flag: a pattern starting with a Latin letter or digit (a
     * Hangul syllable) is only tried where the character before is not one (see find). */
    bool end_word;       /* ends with a Latin letter or digit: no word character after */
    bool end_particle;   /* ends with a lone Hangul syllable: only particles may follow */
};

struct glossary {
    struct glossary_entry *entries;
    size_t n_entries;
    const char **alias_slots; /* the entries' alias arrays, back to back */
    char *strings;            /* every string of the glossary and of its patterns */
    struct pattern *patterns;
    size_t n_patterns;
    /* Pattern indices by bucket of their first character: bucket b holds
     * bucket_pat[bucket_at[b] .. bucket_at[b + 1]). */
    uint32_t bucket_at[GLOSSARY_BUCKETS + 1];
    uint32_t *bucket_pat;
};

/* ---- characters ---------------------------------------------------------------------- */

/* The code point at s[0..n) and its length. Text is valid UTF-8 by contract; a byte that
 * does not start a whole sequence still counts as one character, so nothing is read past n. */
static uint32_t decode(const char *str, size_t n, size_t *used)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len <= 1 || len > n) {
        *used = 1;
        return len == 1 ? c : 0xFFFD;
    }
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *used = 1;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *used = len;
    return cp;
}

static bool is_hangul(uint32_t cp)
{
    return cp >= 0xAC00 && cp <= 0xD7A3;
}

/* Jamo are Hangul for the Korean name ("ㅋ" is Korean), not for word boundaries. */
static bool has_hangul(const char *s)
{
    size_t n = strlen(s), used;
    for (size_t i = 0; i < n; i += used) {
        uint32_t cp = decode(s + i, n - i, &used);
        if (is_hangul(cp) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3131 && cp <= 0x318E))
            return true;
    }
    return false;
}

/* A character that continues a Latin word: ASCII letters and digits, accented Latin letters. */
static bool is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
           (cp >= 0x1E00 && cp <= 0x1EFF);
}

/* ASCII blanks, no-break space and the ideographic space of Korean input methods. */
static bool is_blank(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x3000;
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
        if (!is_blank(decode(s + i, n - i, &used)))
            return false;
    return true;
}

/* An optional string field: 1 with *s and *n, 0 when absent or null, -1 with errstr. */
static int entry_string(struct build *b, json_object *e, const char *field, const char *sec,
                        const char *name, const char **s, size_t *n)
{
    json_object *v;
    if (!json_object_object_get_ex(e, field, &v) || v == NULL)
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

    json_object *arr = NULL;
    size_t n_aliases = 0;
    if (json_object_object_get_ex(e, "aliases", &arr) && arr != NULL) {
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

/* Compiles one alias into a pattern whose text is written to dst (at most strlen(alias) + 1
 * bytes: lowering keeps the length and blank runs only shrink). Returns the bytes used. */
static size_t pattern_compile(struct pattern *p, const char *alias, char *dst, uint32_t entry)
{
    size_t n = strlen(alias), o = 0, used;
    uint32_t last = 0;
    size_t hangul_run = 0; /* Hangul syllables the alias ends with */
    bool blank = false;
    for (size_t i = 0; i < n; i += used) {
        uint32_t cp = decode(alias + i, n - i, &used);
        if (is_blank(cp)) {
            blank = o > 0;
            continue;
        }
        if (blank) {
            dst[o++] = is_hangul(last) || is_hangul(cp) ? BLANK_ANY : BLANK_SOME;
            hangul_run = 0;
            blank = false;
        }
        last = cp;
        hangul_run = is_hangul(cp) ? hangul_run + 1 : 0;
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

static void build_patterns(struct glossary *g, char *dst)
{
    size_t max = g->n_entries;
    for (size_t i = 0; i < g->n_entries; i++)
        max += g->entries[i].n_aliases;
    g->patterns = xcalloc(max, sizeof *g->patterns);
    for (size_t i = 0; i < g->n_entries; i++) {
        const struct glossary_entry *e = &g->entries[i];
        size_t first = g->n_patterns;
        for (size_t k = 0; k <= e->n_aliases; k++) {
            struct pattern *p = &g->patterns[g->n_patterns];
            size_t used = pattern_compile(p, k == 0 ? e->canonical : e->aliases[k - 1], dst,
                                          (uint32_t)i);
            /* "paul", "Paul" and "PAUL" are one pattern. */
            bool dup = false;
            for (size_t j = first; j < g->n_patterns && !dup; j++)
                dup = g->patterns[j].len == p->len && memcmp(g->patterns[j].text, p->text,
                                                             p->len) == 0;
            if (!dup) {
                dst += used;
                g->n_patterns++;
            }
        }
    }
    uint32_t *bucket = xcalloc(g->n_patterns ? g->n_patterns : 1, sizeof *bucket);
    for (size_t i = 0; i < g->n_patterns; i++) {
        size_t used;
        bucket[i] = bucket_of(decode(g->patterns[i].text, g->patterns[i].len, &used));
        g->bucket_at[bucket[i] + 1]++;
    }
    for (size_t b = 0; b < GLOSSARY_BUCKETS; b++)
        g->bucket_at[b + 1] += g->bucket_at[b];
    uint32_t fill[GLOSSARY_BUCKETS];
    memcpy(fill, g->bucket_at, sizeof fill);
    g->bucket_pat = xcalloc(g->n_patterns ? g->n_patterns : 1, sizeof *g->bucket_pat);
    for (size_t i = 0; i < g->n_patterns; i++) /* in glossary order within a bucket */
        g->bucket_pat[fill[bucket[i]]++] = (uint32_t)i;
    free(bucket);
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
    /* Pattern texts need at most as many bytes as the names and aliases they come from. */
    size_t bytes = 2 * b.bytes;
    struct glossary *g = xcalloc(1, sizeof *g);
    g->n_entries = b.entries;
    g->entries = xcalloc(b.entries ? b.entries : 1, sizeof *g->entries);
    g->alias_slots = xcalloc(b.aliases ? b.aliases : 1, sizeof *g->alias_slots);
    g->strings = xmalloc(bytes ? bytes : 1);
    struct build fill = {.g = g};
    build_all(&fill, root); /* validated above: cannot fail */
    json_object_put(root);
    build_patterns(g, g->strings + fill.bytes);
    return g;
}

struct glossary *glossary_load_file(const char *path, char *errstr, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errstr_set(errstr, errlen, "%s: open: %s", path, strerror(errno));
        return NULL;
    }
    struct buf text;
    buf_init(&text, GLOSSARY_MAX_BYTES);
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errstr_set(errstr, errlen, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (n == 0) {
            close(fd);
            char why[256];
            why[0] = '\0';
            struct glossary *g = glossary_parse(buf_cstr(&text), text.len, why, sizeof why);
            if (!g)
                errstr_set(errstr, errlen, "%s: %s", path, why);
            buf_free(&text);
            return g;
        }
        if (buf_append(&text, chunk, (size_t)n) < 0) {
            errstr_set(errstr, errlen, "%s: larger than %u bytes", path, GLOSSARY_MAX_BYTES);
            break;
        }
    }
    close(fd);
    buf_free(&text);
    return NULL;
}

void glossary_free(struct glossary *g)
{
    if (!g)
        return;
    free(g->entries);
    free(g->alias_slots);
    free(g->strings);
    free(g->patterns);
    free(g->bucket_pat);
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

/* ---- matching ------------------------------------------------------------------------ */

/* Where pattern p matches text at pos: the end of the alias in the text, or 0. */
static size_t pattern_match(const struct pattern *p, const char *text, size_t pos, size_t len)
{
    size_t t = pos;
    for (uint32_t k = 0; k < p->len; k++) {
        char c = p->text[k];
        if (c == BLANK_SOME || c == BLANK_ANY) {
            size_t start = t, used;
            while (t < len && is_blank(decode(text + t, len - t, &used)))
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
static bool pattern_end_ok(const struct pattern *p, const char *text, size_t end, size_t len)
{
    size_t used;
    if (p->end_word && end < len && is_word(decode(text + end, len - end, &used)))
        return false;
    if (p->end_particle) {
        size_t w = end;
        while (w < len && is_hangul(decode(text + w, len - w, &used)))
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
 * characters; only larger texts or more matches touch the heap. */
#define CANDS_LOCAL 64
#define COVER_LOCAL_BYTES 2048

static bool covered(const unsigned char *bits, size_t i)
{
    return bits[i / 8] & (1u << (i % 8));
}

static void cover(unsigned char *bits, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        bits[i / 8] |= (unsigned char)(1u << (i % 8));
}

size_t glossary_find(const struct glossary *g, const char *text, size_t len,
                     struct glossary_match *out, size_t max)
{
    struct cand local[CANDS_LOCAL], *c = local;
    size_t n = 0, cap = CANDS_LOCAL;
    uint32_t prev = 0; /* the character before pos (0: none) */
    size_t pos = 0, used;
    for (; pos < len; pos += used) {
        uint32_t cp = decode(text + pos, len - pos, &used);
        /* Inside a word nothing can start: a pattern begins with the character at pos, so it
         * would need the word boundary that prev denies. Most positions end here. */
        bool inside = (is_word(cp) && is_word(prev)) || (is_hangul(cp) && is_hangul(prev));
        prev = cp;
        if (inside)
            continue;
        uint32_t b = bucket_of(cp);
        for (uint32_t k = g->bucket_at[b]; k < g->bucket_at[b + 1]; k++) {
            const struct pattern *p = &g->patterns[g->bucket_pat[k]];
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
            c[n++] = (struct cand){pos, end, g->bucket_pat[k], p->entry};
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
        qsort(c, n, sizeof *c, cmp_longest);
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
        qsort(c, kept, sizeof *c, cmp_entry);
        n = 0;
        for (size_t i = 0; i < kept; i++)
            if (n == 0 || c[n - 1].entry != c[i].entry)
                c[n++] = c[i];
        qsort(c, n, sizeof *c, cmp_start);
    }
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = (struct glossary_match){&g->entries[c[i].entry], c[i].start,
                                         c[i].end - c[i].start};
    if (c != local)
        free(c);
    return n;
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
