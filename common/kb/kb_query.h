/* kb_query: a question cut into search terms (the rules are in kb_local.h, under Search).
 * Pure: no I/O, no allocation, so the question's parsing is fuzzed on its own
 * (tests/fuzz/fuzz_kb_query.c). */
#ifndef NOVA_KB_QUERY_H
#define NOVA_KB_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_MAX_TERMS 64         /* per search, question and extra terms together */
#define KB_MAX_QUERY_TERMS 48   /* from the question; the rest is kept for extra terms */
#define KB_TERM_MAX_BYTES 120   /* a longer word or extra term is left out */
struct kb_term {
    char text[KB_TERM_MAX_BYTES + 1]; /* NUL-terminated; ASCII lower-cased, blanks collapsed */
    size_t len;                       /* bytes */
    size_t chars;                     /* code points: >= 3 FTS5 phrase, 2 scanned */
    bool word;                        /* starts with an ASCII letter or digit: matches only at
                                         the start of a word (2 characters: the whole word) */
    bool extra;                       /* from the caller's terms, not found in the question */
    float weight;                     /* what its score counts for: 1 for the question's own
                                         terms, less for a conversation's context */
};
struct kb_terms {
    struct kb_term t[KB_MAX_TERMS];
    size_t n;
};
/* Cuts query[0..len) (any bytes; invalid UTF-8 separates words) into terms, then adds the
 * extra terms (NUL-terminated; invalid ones skipped), without duplicates. Terms of one
 * character and stop words are dropped. Returns out->n. */
size_t kb_query_terms(const char *query, size_t len, const char *const *extra, size_t n_extra,
                      struct kb_terms *out);
/* Appends the terms of a context (a previous question of the conversation: its words, then
 * its extra terms) with weight w, cut like the question's, each only when out does not hold
 * it yet: a term of the question keeps its full weight. Returns out->n. */
size_t kb_query_add_context(const char *text, size_t len, const char *const *extra,
                            size_t n_extra, float w, struct kb_terms *out);

/* ASCII letters and digits: what a word term (kb_term.word) starts with, and what may not
 * stand right before one where it is counted ("paris" is not in "comparison"). */
static inline bool kb_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

#endif
