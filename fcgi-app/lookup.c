/* lookup: a question's entities, search terms, query text and translation policy (see
 * lookup.h). */
#include "lookup.h"

#include <string.h>

#include "core/utf8.h"

void lookup_init(struct lookup *l)
{
    memset(l, 0, sizeof *l);
}

/* An entry's canonical name, then its aliases, onto terms[*n..max). */
static void put_names(const char **terms, size_t *n, size_t max, const struct glossary_entry *e)
{
    if (*n < max)
        terms[(*n)++] = e->canonical;
    for (size_t k = 0; k < e->n_aliases && *n < max; k++)
        terms[(*n)++] = e->aliases[k];
}

/* A source's synonyms and their entries' names onto terms[*n..max). */
static void put_source(const char **terms, size_t *n, size_t max, const struct lookup_source *src)
{
    for (size_t i = 0; i < src->n_syn && *n < max; i++)
        terms[(*n)++] = src->syn[i];
    for (size_t i = 0; i < src->n_syn_ents; i++)
        put_names(terms, n, max, src->syn_ents[i]);
}

/* The terms again from the entities (each canonical name, then its aliases) and the
 * synonyms. */
static void lookup_terms(struct lookup *l)
{
    l->n_terms = 0;
    for (size_t i = 0; i < l->n_ents; i++)
        put_names(l->terms, &l->n_terms, LOOKUP_MAX_TERMS, l->ents[i].entry);
    put_source(l->terms, &l->n_terms, LOOKUP_MAX_TERMS, &l->own);
}

/* The canonical term of a question term: the term itself, or for a Hangul one that the cut
 * left with more attached ("비번까먹었어"), its longest prefix of two or more syllables. */
static const char *synonym_of(const struct synonyms *s, const struct kb_term *t)
{
    const char *c = synonyms_find(s, t->text, t->len);
    if (c || t->word || (unsigned char)t->text[0] < 0xE0)
        return c;
    for (size_t n = t->len - t->len % 3; !c && n >= 6; n -= 3) {
        uint32_t cp;
        if (utf8_next(t->text + n - 3, 3, &cp) != 3 || !utf8_is_hangul(cp))
            break;
        c = n < t->len ? synonyms_find(s, t->text, n) : NULL;
    }
    return c;
}

/* The glossary entries found in text[0..len) into src's, each once. */
static size_t add_entries(struct lookup_source *src, const struct glossary *g, const char *text,
                          size_t len)
{
    struct glossary_match m[4];
    size_t n = g ? glossary_find(g, text, len, m, 4) : 0;
    for (size_t j = 0; j < n && j < 4 && src->n_syn_ents < LOOKUP_MAX_SYNONYMS; j++) {
        bool dup = false;
        for (size_t k = 0; k < src->n_syn_ents && !dup; k++)
            dup = src->syn_ents[k] == m[j].entry;
        if (!dup)
            src->syn_ents[src->n_syn_ents++] = m[j].entry;
    }
    return n;
}

size_t lookup_singulars(const char *w, size_t len, char out[][LOOKUP_WORD_MAX + 1])
{
    size_t n = 0;
    if (len < 4 || len > LOOKUP_WORD_MAX || w[len - 1] != 's' || w[len - 2] == 's' ||
        w[len - 2] == 'u' || w[len - 2] == '\'')
        return 0; /* "pass", "bonus", "player's": no plural of the kind below */
    for (size_t i = 0; i < len; i++)
        if (!(w[i] >= 'a' && w[i] <= 'z'))
            return 0; /* lower-case ASCII letters only: what kb_query_terms leaves of a word */
    if (len > 4 && memcmp(w + len - 3, "ies", 3) == 0) { /* bodies -> body */
        memcpy(out[n], w, len - 3);
        memcpy(out[n] + len - 3, "y", 2);
        n++;
    }
    if (len > 4 && w[len - 2] == 'e' &&
        (w[len - 3] == 'x' || w[len - 3] == 'z' || w[len - 3] == 's' ||
         (w[len - 3] == 'h' && (w[len - 4] == 'c' || w[len - 4] == 's')))) {
        memcpy(out[n], w, len - 2); /* boxes -> box, matches -> match */
        out[n++][len - 2] = '\0';
    }
    memcpy(out[n], w, len - 1); /* refunds -> refund, codes -> code */
    out[n++][len - 1] = '\0';
    return n;
}

/* The synonyms of text[0..len)'s words into src, and the glossary entries in them. A word
 * that is an English plural the glossary and the synonyms do not know ("refunds") counts as
 * its singular ("refund"), when that is a variant or a glossary name: without it "how do
 * refunds work?" finds neither its entity nor, through it, the Korean names the documents
 * use, and scores under NOVA_KB_MIN_SCORE (then a names-only translation, as the simulator's,
 * cannot rescue it, and its follow-ups have no answered turn to refer to). */
static void source_add(struct lookup_source *src, const struct glossary *g,
                       const struct synonyms *s, const char *text, size_t len)
{
    bool have_syn = s && synonyms_count(s) > 0;
    if (!have_syn && !g)
        return;
    struct kb_terms t;
    kb_query_terms(text, len, NULL, 0, &t);
    for (size_t i = 0; i < t.n && src->n_syn < LOOKUP_MAX_SYNONYMS; i++) {
        const char *c = have_syn ? synonym_of(s, &t.t[i]) : NULL;
        if (!c && t.t[i].word && !t.t[i].extra) {
            char sg[3][LOOKUP_WORD_MAX + 1];
            size_t n = lookup_singulars(t.t[i].text, t.t[i].len, sg);
            struct glossary_match m[1];
            bool plural_known = n && g && glossary_find(g, t.t[i].text, t.t[i].len, m, 1);
            for (size_t k = 0; k < n && !c && !plural_known; k++) {
                c = have_syn ? synonyms_find(s, sg[k], strlen(sg[k])) : NULL;
                if (!c && add_entries(src, g, sg[k], strlen(sg[k])) > 0)
                    break;
            }
        }
        bool seen = !c;
        for (size_t k = 0; k < src->n_syn && !seen; k++)
            seen = src->syn[k] == c;
        if (seen)
            continue;
        src->syn[src->n_syn++] = c;
        add_entries(src, g, c, strlen(c));
    }
}

void lookup_add_synonyms(struct lookup *l, const struct glossary *g, const struct synonyms *s,
                         const char *question, size_t len)
{
    source_add(&l->own, g, s, question, len);
    lookup_terms(l);
}

/* A word list with lengths. */
struct cue {
    const char *s;
    size_t len;
};
#define C(lit) {lit, sizeof(lit) - 1}

/* English words that point back at the conversation. */
static const struct cue cue_en[] = {
    C("it"),   C("its"),  C("it's"),  C("that"),  C("this"),    C("those"), C("these"),
    C("them"), C("they"), C("there"), C("then"),  C("same"),    C("also"),  C("and"),
    C("else"), C("instead"), C("one"), C("ones"),
};
/* ... and pairs: questions about something already named. */
static const struct cue cue_en2[][2] = {
    {C("how"), C("long")}, {C("how"), C("much")}, {C("how"), C("many")},
    {C("how"), C("often")}, {C("what"), C("about")}, {C("how"), C("about")},
    {C("what"), C("if")},
};
/* Korean ones, matched at the start of a Hangul word (particles follow: "그건", "그거는"). */
static const struct cue cue_ko[] = {
    C("그럼"), C("그러면"), C("그렇다면"), C("그거"), C("그건"), C("그게"), C("그걸"),
    C("그것"), C("이거"), C("이건"), C("이게"), C("이걸"), C("이것"), C("저거"), C("저건"),
    C("거기"), C("그때"), C("그런"), C("그래도"), C("그리고"), C("그다음"), C("그담"),
    C("아까"), C("방금"), C("언제"), C("며칠"), C("얼마"), C("몇"), C("그쪽"), C("이쪽"),
    C("또"), C("다른"), C("그외"), C("나머지"),
};
#define NCUE(a) (sizeof(a) / sizeof((a)[0]))

static bool is_cue(const struct cue *list, size_t n, const char *w, size_t len, bool prefix)
{
    for (size_t i = 0; i < n; i++)
        if ((prefix ? list[i].len <= len : list[i].len == len) &&
            memcmp(list[i].s, w, list[i].len) == 0)
            return true;
    return false;
}

/* Whether question[0..len) has a word that refers back; words are runs of ASCII letters,
 * digits and apostrophes, or of Hangul syllables. */
static bool refers_back(const char *q, size_t len)
{
    char prev[16] = "";
    size_t prev_len = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t l = utf8_next(q + i, len - i, &c);
        if (l == 0) {
            i++;
            continue;
        }
        size_t start = i;
        char w[64];
        size_t wl = 0;
        if (utf8_is_hangul(c)) {
            while (i < len && (l = utf8_next(q + i, len - i, &c)) == 3 && utf8_is_hangul(c))
                i += l;
            if (is_cue(cue_ko, NCUE(cue_ko), q + start, i - start, true))
                return true;
            prev_len = 0;
            continue;
        }
        if (!kb_ascii_alnum(c)) {
            i += l;
            continue;
        }
        while (i < len && (kb_ascii_alnum((unsigned char)q[i]) || q[i] == '\'')) {
            if (wl < sizeof w)
                w[wl++] = (char)(q[i] >= 'A' && q[i] <= 'Z' ? q[i] - 'A' + 'a' : q[i]);
            i++;
        }
        if (wl == sizeof w) {
            prev_len = 0;
            continue;
        }
        if (is_cue(cue_en, NCUE(cue_en), w, wl, false))
            return true;
        for (size_t k = 0; k < NCUE(cue_en2) && prev_len; k++)
            if (cue_en2[k][0].len == prev_len && memcmp(cue_en2[k][0].s, prev, prev_len) == 0 &&
                cue_en2[k][1].len == wl && memcmp(cue_en2[k][1].s, w, wl) == 0)
                return true;
        prev_len = wl < sizeof prev ? wl : 0;
        memcpy(prev, w, prev_len);
    }
    return false;
}

bool lookup_follows_up(const char *question, size_t len)
{
    struct kb_terms t;
    kb_query_terms(question, len, NULL, 0, &t);
    if (t.n == 0)
        return true;
    if (!refers_back(question, len))
        return false;
    /* Its own words: the terms that are not themselves words of reference ("그럼", "며칠"). */
    size_t own = 0;
    for (size_t i = 0; i < t.n; i++)
        own += !(t.t[i].word ? is_cue(cue_en, NCUE(cue_en), t.t[i].text, t.t[i].len, false)
                             : is_cue(cue_ko, NCUE(cue_ko), t.t[i].text, t.t[i].len, true));
    return own <= LOOKUP_FOLLOW_MAX_TERMS;
}

/* The start of the line before end in previous[0..end) (end just past a line break). */
static size_t line_start(const char *previous, size_t end)
{
    size_t i = end ? end - 1 : 0;
    while (i > 0 && previous[i - 1] != '\n')
        i--;
    return i;
}

bool lookup_set_context(struct lookup *l, const struct glossary *g, const struct synonyms *s,
                        const char *question, size_t qlen, const char *previous, size_t plen)
{
    memset(&l->ctx, 0, sizeof l->ctx);
    memset(&l->ctx_src, 0, sizeof l->ctx_src);
    while (plen && (previous[plen - 1] == '\n' || previous[plen - 1] == ' '))
        plen--;
    if (!plen || !lookup_follows_up(question, qlen))
        return false;
    size_t start = line_start(previous, plen + 1);
    /* The newest previous question followed up too: its own context comes along. */
    if (start > 0 && lookup_follows_up(previous + start, plen - start))
        start = line_start(previous, start);
    const char *text = previous + start;
    size_t len = plen - start;
    size_t n = 0;
    struct glossary_match m[LOOKUP_MAX_ENTITIES];
    size_t found = g ? glossary_find(g, text, len, m, LOOKUP_MAX_ENTITIES) : 0;
    for (size_t i = 0; i < found && i < LOOKUP_MAX_ENTITIES; i++)
        put_names(l->ctx_terms, &n, LOOKUP_MAX_TERMS, m[i].entry);
    source_add(&l->ctx_src, g, s, text, len);
    put_source(l->ctx_terms, &n, LOOKUP_MAX_TERMS, &l->ctx_src);
    l->ctx = (struct kb_context){.text = text, .len = len, .terms = l->ctx_terms,
                                 .n_terms = n, .weight = LOOKUP_CONTEXT_WEIGHT};
    return true;
}

const struct kb_context *lookup_context(const struct lookup *l)
{
    return l->ctx.len ? &l->ctx : NULL;
}

void lookup_add_text(struct lookup *l, const struct glossary *g, const char *text, size_t len)
{
    struct glossary_match m[LOOKUP_MAX_ENTITIES];
    size_t n = glossary_find(g, text, len, m, LOOKUP_MAX_ENTITIES);
    for (size_t i = 0; i < n && i < LOOKUP_MAX_ENTITIES && l->n_ents < LOOKUP_MAX_ENTITIES; i++) {
        bool seen = false;
        for (size_t k = 0; k < l->n_ents && !seen; k++)
            seen = l->ents[k].entry == m[i].entry;
        if (!seen) {
            l->ent_text[l->n_ents] = text;
            l->ents[l->n_ents++] = m[i];
        }
    }
    lookup_terms(l);
}

int lookup_query(struct buf *out, const char *question, size_t qlen, const char *translation,
                 size_t tlen)
{
    /* All or nothing: one append of the size it needs. */
    size_t need = qlen + (tlen ? 1 + tlen : 0);
    if (need < qlen || out->len > out->max || need > out->max - out->len)
        return -1;
    buf_append(out, question, qlen);
    if (tlen) {
        buf_putc(out, '\n');
        buf_append(out, translation, tlen);
    }
    return 0;
}

bool lookup_translates(enum lang ui, enum lang input)
{
    return ui == LANG_EN || input != ui;
}

enum lang lookup_target(enum lang input)
{
    return input == LANG_KO ? LANG_EN : LANG_KO;
}

bool lookup_translate_first(enum lang ui, enum lang input, size_t n_hits, double best,
                            double sure)
{
    return lookup_translates(ui, input) && (n_hits == 0 || !(best >= sure));
}
