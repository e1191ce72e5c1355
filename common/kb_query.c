/* kb_query: a question cut into search terms (see kb_local.h). No I/O, no allocation. */
#include "kb_local.h"

#include <stdint.h>
#include <string.h>

/* English words that say nothing about a support topic. Three-letter ones matter most: they
 * would be trigram phrases matching nearly every document ("the", "how", "can"). */
static const char *const stop_en[] = {
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any",
    "anything", "are", "aren't", "as", "at", "be", "because", "been", "before", "being", "but",
    "by", "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do", "does",
    "doesn't", "doing", "don't", "done", "each", "even", "ever", "for", "from", "get", "gets",
    "getting", "got", "had", "has", "hasn't", "have", "haven't", "having", "he", "hello",
    "help", "her", "here", "hers", "hey", "hi", "him", "his", "how", "i", "i'd", "i'll", "i'm",
    "i've", "if", "in", "into", "is", "isn't", "it", "it's", "its", "just", "keep", "know",
    "let", "like", "likely", "make", "many", "may", "me", "might", "more", "most", "much",
    "must", "my", "myself", "need", "no", "not", "now", "of", "off", "ok", "okay", "on", "one",
    "only", "or", "other", "our", "out", "over", "please", "pls", "really", "same", "see",
    "shall", "she", "should", "so", "some", "something", "still", "such", "tell", "than",
    "thank", "thanks", "that", "that's", "the", "their", "them", "then", "there", "these",
    "they", "thing", "things", "this", "those", "to", "too", "try", "tried", "up", "us", "very",
    "want", "was", "wasn't", "way", "we", "were", "weren't", "what", "what's", "when", "where",
    "which", "while", "who", "whom", "whose", "why", "will", "with", "won't", "would",
    "wouldn't", "yes", "yet", "you", "your", "yours",
};

/* Korean question words and predicates without a topic (checked before and after the
 * particle is stripped). */
static const char *const stop_ko[] = {
    "그냥", "그런데", "그리고", "너무", "다시", "되나요", "됐어요", "돼요", "되요", "무슨",
    "무엇", "뭐", "뭔가", "방법", "받나요", "싶어요", "안돼요", "안되요", "알려",
    "알려주세요", "어디", "어디서", "어떤", "어떻게", "언제", "없나요", "없어요", "왜", "있나요",
    "있어요", "저", "정말", "제", "제가", "좀", "주세요", "진짜", "하나요", "해요", "했어요",
    "해주세요", "계속", "나요", "요", "자꾸", "자주", "갑자기", "혹시", "지금", "또", "안", "못",
    "그래서", "근데", "이거", "그거", "어떻게요", "되나", "하나", "있나", "없나",
};

/* Endings stripped from Hangul words: case particles, and the 하다/되다 endings that follow
 * nouns ("레벨업해요"). Longest first; one is stripped, only when two or more characters stay. */
static const char *const particles[] = {
    "에서는", "에게서", "으로는", "으로도", "에서도", "까지도", "부터는", "한테서", "이라도",
    "하려면", "되려면", "했는데", "하는데", "되는데", "했어요", "합니다", "됩니다", "하나요",
    "되나요", "할까요", "해야", "하면", "해서", "하고", "해도", "했다", "하기", "되면", "돼요",
    "에서", "에게", "한테", "으로", "까지", "부터", "처럼", "보다", "이나", "이랑", "라도",
    "마다", "조차", "밖에", "해요", "이요", "이", "가", "은", "는", "을", "를", "에", "의",
    "도", "만", "와", "과", "로", "요", "랑",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Syllables that start the predicate after a noun ("해킹당했어요", "환불받으려면",
 * "로그인안돼요"): a Hangul word is cut before the first of them at index 2 or later. The cut
 * can shorten a noun ("이용제한" → "이용제"), which still finds the noun as a substring. */
static const char *const predicate_starts[] = {
    "하", "해", "했", "할", "한", "합", "함", "되", "돼", "됐", "될", "된", "됩", "됨", "당",
    "받", "안", "못",
};

/* Decodes one code point of valid UTF-8 at s[0..n); returns its length, or 0 for a byte that
 * does not start a well-formed character (it then separates words). */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
                 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static bool is_hangul(uint32_t c)
{
    return c >= 0xAC00 && c <= 0xD7A3;
}

static bool is_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Letters and digits of the scripts a question may use; everything else (punctuation,
 * symbols, emoji, Hangul jamo like "ㅠㅠ") separates words. */
static bool is_word_char(uint32_t c)
{
    return is_ascii_alnum(c) || is_hangul(c) ||
           (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || /* Latin-1, Latin Ext-A/B */
           (c >= 0x370 && c <= 0x52F) ||                          /* Greek, Cyrillic */
           (c >= 0x3040 && c <= 0x30FF) ||                        /* kana */
           (c >= 0x4E00 && c <= 0x9FFF) ||                        /* CJK ideographs */
           (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) ||
           (c >= 0xFF41 && c <= 0xFF5A); /* fullwidth digits and letters */
}

static bool in_list(const char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* Adds s[0..len) (normalised) unless it is too short, too long or already there. An extra
 * term equal to a question term stays a question term. */
static void add_term(struct kb_terms *out, const char *s, size_t len, bool extra)
{
    if (len == 0 || len > KB_TERM_MAX_BYTES || out->n >= KB_MAX_TERMS)
        return;
    size_t chars = count_chars(s, len);
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
    t->word = is_ascii_alnum((unsigned char)s[0]);
    t->extra = extra;
}

/* w[0..len) without its predicate, when it is all Hangul (3 bytes a syllable). */
static size_t cut_predicate(const char *w, size_t len)
{
    if (len < 9 || len % 3 != 0)
        return len;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t c;
        if (decode((const unsigned char *)w + i, len - i, &c) != 3 || !is_hangul(c))
            return len;
    }
    for (size_t i = 6; i < len; i += 3)
        for (size_t j = 0; j < NELEM(predicate_starts); j++)
            if (memcmp(w + i, predicate_starts[j], 3) == 0)
                return i;
    return len;
}

/* One word of the question: s[0..n) of word characters, with its apostrophes ("don't"). */
static void add_word(struct kb_terms *out, const char *s, size_t n, bool hangul_end)
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
        size_t chars = count_chars(w, len);
        for (size_t i = 0; i < NELEM(particles); i++) {
            size_t pl = strlen(particles[i]);
            if (pl < len && memcmp(w + len - pl, particles[i], pl) == 0 &&
                chars - count_chars(particles[i], pl) >= 2) {
                len -= pl;
                break;
            }
        }
        len = cut_predicate(w, len);
        if (in_list(stop_ko, NELEM(stop_ko), w, len))
            return;
    }
    add_term(out, w, len, false);
}

/* An extra term: trimmed, inner blank runs made one space, ASCII lower-cased; it must be
 * valid UTF-8 with at least one letter or digit. */
static void add_extra(struct kb_terms *out, const char *s)
{
    char w[KB_TERM_MAX_BYTES + 1];
    size_t len = 0, n = strlen(s);
    bool alnum = false, space = false;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = decode((const unsigned char *)s + i, n - i, &c);
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
        add_term(out, w, len, true);
}

size_t kb_query_terms(const char *query, size_t len, const char *const *extra, size_t n_extra,
                      struct kb_terms *out)
{
    out->n = 0;
    const unsigned char *s = (const unsigned char *)query;
    size_t i = 0;
    while (i < len && out->n < KB_MAX_QUERY_TERMS) {
        uint32_t c;
        size_t l = decode(s + i, len - i, &c);
        if (l == 0 || !is_word_char(c)) {
            i += l ? l : 1;
            continue;
        }
        size_t start = i;
        bool hangul_end = false;
        while (i < len) {
            l = decode(s + i, len - i, &c);
            if (l && is_word_char(c)) {
                hangul_end = is_hangul(c);
                i += l;
                continue;
            }
            /* An apostrophe between ASCII letters belongs to the word ("don't", "paul's"). */
            size_t al = l == 0 ? 0 : c == '\'' ? 1 : c == 0x2019 ? 3 : 0;
            if (al && i > start && is_ascii_alnum(s[i - 1]) && i + al < len &&
                is_ascii_alnum(s[i + al])) {
                i += al;
                continue;
            }
            break;
        }
        add_word(out, (const char *)s + start, i - start, hangul_end);
    }
    for (size_t e = 0; e < n_extra && extra; e++)
        if (extra[e])
            add_extra(out, extra[e]);
    return out->n;
}
