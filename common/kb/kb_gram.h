/* kb_gram: the two-character terms a trigram index cannot find, which the index keeps in a
 * table of their own (grams): every pair of adjacent Hangul syllables ("환불" in "환불은") and
 * every ASCII word of exactly two letters or digits ("XP" in "XP를", lower-cased).
 *
 * One definition for both sides: the import lists a document's grams (kb_gram_collect), the
 * search asks whether a term is one (kb_gram_covers) and then looks it up instead of scanning
 * the documents. Pure: tests/fuzz/fuzz_kb_doc.c checks it on every document that parses. */
#ifndef NOVA_KB_GRAM_H
#define NOVA_KB_GRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "kb/kb_doc.h"
#include "kb/kb_query.h"

/* A two-character term of a document, with its hits per field. */
#define KB_GRAM_MAX 6
struct kb_gram {
    char text[KB_GRAM_MAX + 1]; /* NUL-terminated */
    size_t len;                 /* 2 or 6 */
    size_t n[KB_FIELDS];
};
/* The document's grams, each once, into *out (a new array the caller frees, also when 0 are
 * returned). */
size_t kb_gram_collect(const struct kb_doc *d, struct kb_gram **out);

/* Whether search term t is a gram, so that the grams table holds its hits (else they are
 * counted by a scan of the documents). */
bool kb_gram_covers(const struct kb_term *t);

#endif
