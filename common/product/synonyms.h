/* synonyms: the operator's synonym file (config/synonyms.tsv, NOVA_SYNONYMS_FILE): the
 * colloquial, abbreviated and misspelt words players type ("비번", "pasword"), each mapped to
 * the canonical term the documents use ("비밀번호", "password"). The search adds the canonical
 * term of every variant in a question (fcgi-app/lookup.c); nothing is rewritten in the text
 * the models read. Loaded once per nova-fcgi child, so a SIGHUP reload reads it afresh, like
 * the glossary. No I/O but synonyms_load_file.
 *
 * Format: UTF-8 text, one entry a line, "canonical<TAB>variant, variant, ..." (the variants
 * separated by commas, blanks around them ignored); blank lines and lines starting with "#"
 * are skipped. A canonical term may be a phrase ("two-step verification"); a variant is one
 * word (no blanks: it is compared with one word of the question). ASCII letters compare
 * case-insensitively. Refused at load, with the line's number: a line over
 * SYNONYMS_LINE_MAX bytes, text that is not UTF-8 or has control characters, a line without
 * a tab, an empty canonical term or variant, a variant with a blank, a variant equal to its
 * own canonical term, a variant listed twice, and a loop: a variant that is also a canonical
 * term (expanding it again would never settle on one term). */
#ifndef NOVA_SYNONYMS_H
#define NOVA_SYNONYMS_H

#include <stddef.h>

#define SYNONYMS_MAX_BYTES (1024u * 1024u)
#define SYNONYMS_LINE_MAX 1024     /* bytes of one line, its end not counted */
#define SYNONYMS_MAX_VARIANTS 20000
#define SYNONYMS_TERM_MAX 120      /* bytes of a canonical term or a variant */

struct synonyms; /* opaque, immutable after loading: safe to share between threads */

/* Parses text[0..len). Returns the table (possibly empty), or NULL with errstr
 * ("line 3: ..."). */
struct synonyms *synonyms_parse(const char *text, size_t len, char *errstr, size_t errlen);
/* Reads and parses a file; errstr names the path. */
struct synonyms *synonyms_load_file(const char *path, char *errstr, size_t errlen);
void synonyms_free(struct synonyms *s);

/* Number of variants. */
size_t synonyms_count(const struct synonyms *s);
/* The canonical term of the variant word[0..len) (ASCII compared case-insensitively), or
 * NULL. s may be NULL (no file): NULL. */
const char *synonyms_find(const struct synonyms *s, const char *word, size_t len);

#endif
