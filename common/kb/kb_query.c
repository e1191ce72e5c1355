/* kb_query: a question cut into search terms (see kb_query.h; the rules are in kb_local.h).
 * No I/O, no allocation. */
#include "kb/kb_query.h"

#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

/* A word of a list with its length, so a lookup compares lengths before bytes. */
struct word {
    const char *s;
    size_t len;
};
#define W(lit) {lit, sizeof(lit) - 1}

/* English words that say nothing about a support topic. Three-letter ones matter most: they
 * would be trigram phrases matching nearly every document ("the", "how", "can"). */
static const struct word stop_en[] = {
    W("a"), W("about"), W("above"), W("after"), W("again"), W("all"), W("also"), W("am"),
    W("an"), W("and"), W("any"), W("anything"), W("are"), W("aren't"), W("as"), W("at"),
    W("be"), W("because"), W("been"), W("before"), W("being"), W("but"), W("by"), W("can"),
    W("can't"), W("cannot"), W("could"), W("couldn't"), W("did"), W("didn't"), W("do"),
    W("does"), W("doesn't"), W("doing"), W("don't"), W("done"), W("each"), W("even"), W("ever"),
    W("for"), W("from"), W("get"), W("gets"), W("getting"), W("got"), W("had"), W("has"),
    W("hasn't"), W("have"), W("haven't"), W("having"), W("he"), W("hello"), W("help"), W("her"),
    W("here"), W("hers"), W("hey"), W("hi"), W("him"), W("his"), W("how"), W("i"), W("i'd"),
    W("i'll"), W("i'm"), W("i've"), W("if"), W("in"), W("into"), W("is"), W("isn't"), W("it"),
    W("it's"), W("its"), W("just"), W("keep"), W("know"), W("let"), W("like"), W("likely"),
    W("make"), W("many"), W("may"), W("me"), W("might"), W("more"), W("most"), W("much"),
    W("must"), W("my"), W("myself"), W("need"), W("no"), W("not"), W("now"), W("of"), W("off"),
    W("ok"), W("okay"), W("on"), W("one"), W("only"), W("or"), W("other"), W("our"), W("out"),
    W("over"), W("please"), W("pls"), W("really"), W("same"), W("see"), W("shall"), W("she"),
    W("should"), W("so"), W("some"), W("something"), W("still"), W("such"), W("tell"),
    W("than"), W("thank"), W("thanks"), W("that"), W("that's"), W("the"), W("their"), W("them"),
    W("then"), W("there"), W("these"), W("they"), W("thing"), W("things"), W("this"),
    W("those"), W("to"), W("too"), W("try"), W("tried"), W("up"), W("us"), W("very"), W("want"),
    W("was"), W("wasn't"), W("way"), W("we"), W("were"), W("weren't"), W("what"), W("what's"),
    W("when"), W("where"), W("which"), W("while"), W("who"), W("whom"), W("whose"), W("why"),
    W("will"), W("with"), W("won't"), W("would"), W("wouldn't"), W("yes"), W("yet"), W("you"),
    W("your"), W("yours"),
};

/* Korean question words and predicates without a topic (checked before and after the
 * particle is stripped). */
static const struct word stop_ko[] = {
    W("그냥"), W("그런데"), W("그리고"), W("너무"), W("다시"), W("되나요"), W("됐어요"),
    W("돼요"), W("되요"), W("무슨"), W("무엇"), W("뭐"), W("뭔가"), W("방법"),
    W("받나요"), W("싶어요"), W("안돼요"), W("안되요"), W("알려"), W("알려주세요"),
    W("어디"), W("어디서"), W("어떤"), W("어떻게"), W("언제"), W("없나요"), W("없어요"),
    W("왜"), W("있나요"), W("있어요"), W("저"), W("정말"), W("제"), W("제가"),
    W("좀"), W("주세요"), W("진짜"), W("하나요"), W("해요"), W("했어요"), W("해주세요"),
    W("계속"), W("나요"), W("요"), W("자꾸"), W("자주"), W("갑자기"), W("혹시"),
    W("지금"), W("또"), W("안"), W("못"), W("그래서"), W("근데"), W("이거"),
    W("그거"), W("어떻게요"), W("되나"), W("하나"), W("있나"), W("없나"),
};

/* Endings stripped from Hangul words: case particles, and the 하다/되다 endings that follow
 * nouns ("레벨업해요"). Longest first; one is stripped, only when two or more characters stay. */
static const struct word particles[] = {
    W("에서는"), W("에게서"), W("으로는"), W("으로도"), W("에서도"), W("까지도"),
    W("부터는"), W("한테서"), W("이라도"), W("하려면"), W("되려면"), W("했는데"),
    W("하는데"), W("되는데"), W("했어요"), W("합니다"), W("됩니다"), W("하나요"),
    W("되나요"), W("할까요"), W("해야"), W("하면"), W("해서"), W("하고"), W("해도"),
    W("했다"), W("하기"), W("되면"), W("돼요"), W("에서"), W("에게"), W("한테"),
    W("으로"), W("까지"), W("부터"), W("처럼"), W("보다"), W("이나"), W("이랑"),
    W("라도"), W("마다"), W("조차"), W("밖에"), W("해요"), W("이요"), W("이"),
    W("가"), W("은"), W("는"), W("을"), W("를"), W("에"), W("의"), W("도"),
    W("만"), W("와"), W("과"), W("로"), W("요"), W("랑"),
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Syllables that start the predicate after a noun ("해킹당했어요", "환불받으려면",
 * "로그인안돼요"): a Hangul word is cut before the first of them at index 2 or later. The cut
 * can shorten a noun ("이용제한" → "이용제"), which still finds the noun as a substring. */
static const struct word predicate_starts[] = {
    W("하"), W("해"), W("했"), W("할"), W("한"), W("합"), W("함"), W("되"),
    W("돼"), W("됐"), W("될"), W("된"), W("됩"), W("됨"), W("당"), W("받"),
    W("안"), W("못"),
};

/* Letters and digits of the scripts a question may use; everything else (punctuation,
 * symbols, emoji, Hangul jamo like "ㅠㅠ") separates words. */
static bool is_word_char(uint32_t c)
{
    return kb_ascii_alnum(c) || utf8_is_hangul(c) ||
           (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || /* Latin-1, Latin Ext-A/B */
           (c >= 0x370 && c <= 0x52F) ||                          /* Greek, Cyrillic */
           (c >= 0x3040 && c <= 0x30FF) ||                        /* kana */
           (c >= 0x4E00 && c <= 0x9FFF) ||                        /* CJK ideographs */
           (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) ||
           (c >= 0xFF41 && c <= 0xFF5A); /* fullwidth digits and letters */
}

static bool in_list(const struct word *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].len == len && memcmp(list[i].s, s, len) == 0)
            return true;
    return false;
}

/* Adds s[0..len) (normalised) unless it is too short, too long or already there. An extra
 * term equal to a question term stays a question term. */
static void add_term(struct kb_terms *out, const char *s, size_t len, bool extra, float weight)
{
    if (len == 0 || len > KB_TERM_MAX_BYTES || out->n >= KB_MAX_TERMS)
        return;
    size_t chars = utf8_count(s, len);
    if (chars < 2)
        return;
    for (size_t i = 0; i < out->n; i++)
        if (out->t[i].len == len && memcmp(out->t[i].text, s, len) == 0)
            return;
    struct kb_term *t = &out->t[out->n++];
    memcpy(t->text, s, len);
    t->text[len] = '\0';
    t->len = len;
    t->chars = chars;
    t->word = kb_ascii_alnum((unsigned char)s[0]);
    t->extra = extra;
    t->weight = weight;
}

/* w[0..len) without its predicate, when it is all Hangul (3 bytes a syllable). */
static size_t cut_predicate(const char *w, size_t len)
{
    if (len < 9 || len % 3 != 0)
        return len;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t c;
        if (utf8_next(w + i, len - i, &c) != 3 || !utf8_is_hangul(c))
            return len;
    }
    for (size_t i = 6; i < len; i += 3)
        for (size_t j = 0; j < NELEM(predicate_starts); j++)
            if (memcmp(w + i, predicate_starts[j].s, 3) == 0)
                return i;
    return len;
}

/* One word of the question: s[0..n) of word characters, with its apostrophes ("don't"). */
static void add_word(struct kb_terms *out, const char *s, size_t n, bool hangul_end,
                     float weight)
{
    char w[KB_TERM_MAX_BYTES + 1];
    if (n > KB_TERM_MAX_BYTES)
        return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] == 0x99) { /* U+2019 as ' */
            c = '\'';
            i += 2;
        }
        w[len++] = (char)c;
    }
    if (in_list(stop_en, NELEM(stop_en), w, len) || in_list(stop_ko, NELEM(stop_ko), w, len))
        return;
    if (len > 2 && w[len - 2] == '\'' && w[len - 1] == 's') /* "paul's" → "paul" */
        len -= 2;
    if (hangul_end) {
        size_t chars = utf8_count(w, len);
        for (size_t i = 0; i < NELEM(particles); i++) {
            size_t pl = particles[i].len;
            if (pl < len && memcmp(w + len - pl, particles[i].s, pl) == 0 &&
                chars - pl / 3 >= 2) { /* a particle is Hangul: 3 bytes a syllable */
                len -= pl;
                break;
            }
        }
        len = cut_predicate(w, len);
        if (in_list(stop_ko, NELEM(stop_ko), w, len))
            return;
    }
    add_term(out, w, len, false, weight);
}

/* An extra term: trimmed, inner blank runs made one space, ASCII lower-cased; it must be
 * valid UTF-8 with at least one letter or digit. */
static void add_extra(struct kb_terms *out, const char *s, float weight)
{
    char w[KB_TERM_MAX_BYTES + 1];
    size_t len = 0, n = strlen(s);
    bool alnum = false, space = false;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = utf8_next(s + i, n - i, &c);
        if (l == 0)
            return;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x3000) {
            space = len > 0;
            i += l;
            continue;
        }
        if (len + (space ? 1 : 0) + l > KB_TERM_MAX_BYTES)
            return;
        if (space)
            w[len++] = ' ';
        space = false;
        if (is_word_char(c))
            alnum = true;
        if (c >= 'A' && c <= 'Z')
            c = c - 'A' + 'a';
        if (l == 1)
            w[len] = (char)c;
        else
            memcpy(w + len, s + i, l);
        len += l;
        i += l;
    }
    if (alnum)
        add_term(out, w, len, true, weight);
}

/* The words of query[0..len) while out holds fewer than limit terms. */
static void add_words(struct kb_terms *out, const char *query, size_t len, size_t limit,
                      float weight)
{
    const char *s = query;
    size_t i = 0;
    while (i < len && out->n < limit) {
        uint32_t c;
        size_t l = utf8_next(s + i, len - i, &c);
        if (l == 0 || !is_word_char(c)) {
            i += l ? l : 1;
            continue;
        }
        size_t start = i;
        bool hangul_end = false;
        while (i < len) {
            l = utf8_next(s + i, len - i, &c);
            if (l && is_word_char(c)) {
                hangul_end = utf8_is_hangul(c);
                i += l;
                continue;
            }
            /* An apostrophe between ASCII letters belongs to the word ("don't", "paul's"). */
            size_t al = l == 0 ? 0 : c == '\'' ? 1 : c == 0x2019 ? 3 : 0;
            if (al && i > start && kb_ascii_alnum((unsigned char)s[i - 1]) && i + al < len &&
                kb_ascii_alnum((unsigned char)s[i + al])) {
                i += al;
                continue;
            }
            break;
        }
        add_word(out, s + start, i - start, hangul_end, weight);
    }
}

size_t kb_query_terms(const char *query, size_t len, const char *const *extra, size_t n_extra,
                      struct kb_terms *out)
{
    out->n = 0;
    add_words(out, query, len, KB_MAX_QUERY_TERMS, 1.0f);
    for (size_t e = 0; e < n_extra && extra; e++)
        if (extra[e])
            add_extra(out, extra[e], 1.0f);
    return out->n;
}

size_t kb_query_add_context(const char *text, size_t len, const char *const *extra,
                            size_t n_extra, float w, struct kb_terms *out)
{
    add_words(out, text, len, KB_MAX_TERMS, w);
    for (size_t e = 0; e < n_extra && extra; e++)
        if (extra[e])
            add_extra(out, extra[e], w);
    return out->n;
}
