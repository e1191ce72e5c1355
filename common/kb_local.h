/* kb_local: the local knowledge base (NOVA_KB_BACKEND=local): Markdown documents indexed in
 * SQLite FTS5 with the trigram tokenizer (works for Korean without a morphological analyser),
 * ranked with BM25.
 *
 * Documents: *.md files of one folder (not recursive). Optional front matter between "---"
 * lines: "title:", "url:", "keywords:" (comma-separated search terms, indexed with a weight of
 * their own; tests/bedrock-sim reads the same files), "lang:". The title is the front matter's,
 * else the first "# " heading, else the file name; the text is the body without front matter.
 *
 * Search: the question is cut into terms (words of letters and digits; English stop words
 * dropped; Korean particles stripped from the end of Hangul words), plus the caller's extra
 * terms (the glossary aliases of the entities found in the question, which carry a Korean
 * question to an English document and back). Terms of three or more characters go to an FTS5
 * MATCH (OR of phrases) ranked by bm25(); shorter Hangul terms (two-syllable nouns like "환불")
 * cannot use a trigram index and count as substring hits over the candidates. Scores are in
 * 0..1, higher is better; results below the caller's min_score are dropped. */
#ifndef NOVA_KB_LOCAL_H
#define NOVA_KB_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "bedrock.h"

#define KB_MAX_HITS 20
#define KB_DOC_MAX_BYTES (1024u * 1024u)   /* larger files are refused at import */
#define KB_MIN_SCORE_DEFAULT 0.2           /* what NOVA_KB_MIN_SCORE defaults to */

/* One parsed Markdown document (kb_doc_parse). Strings are owned by the doc. */
struct kb_doc {
    char *title, *url, *keywords, *lang, *body;
};
/* Parses one document's bytes (no I/O). name is the file name, the title of last resort.
 * Returns 0, or -1 with errstr (not UTF-8, NUL inside, unterminated front matter, empty). */
int kb_doc_parse(const char *text, size_t len, const char *name, struct kb_doc *d,
                 char *errstr, size_t errlen);
void kb_doc_free(struct kb_doc *d);

struct kb_local; /* opaque; safe to share between threads (searches run in parallel) */

/* Opens the index at path. writable: create it if missing (novactl kb import); else read-only,
 * and a missing file is an error. Returns the handle or NULL with errstr. */
struct kb_local *kb_local_open(const char *path, bool writable, char *errstr, size_t errlen);
void kb_local_close(struct kb_local *kb);

struct kb_import_stats {
    size_t docs, skipped;   /* imported; refused (each logged with its reason) */
    size_t bytes;
};
/* Replaces the whole index with the *.md files of dir, in one transaction (searches on other
 * connections see the old index or the new one, never half). Returns 0, or -1 with errstr. */
int kb_local_import_dir(struct kb_local *kb, const char *dir, struct kb_import_stats *st,
                        char *errstr, size_t errlen);
/* Number of documents in the index, or -1 with errstr. */
long kb_local_count(struct kb_local *kb, char *errstr, size_t errlen);

/* Search results: passages whose strings live in the hits' own storage. */
struct kb_hits {
    struct bedrock_passage hit[KB_MAX_HITS]; /* text = the whole body; title; url ("" if none) */
    size_t n;
    void *store; /* owned */
};
/* The best k (<= KB_MAX_HITS) documents for query[0..len) and extra terms (each
 * NUL-terminated), best first, those scoring below min_score left out. Returns 0 (free with
 * kb_hits_free, also when n is 0), or -1 with errstr. */
int kb_local_search(struct kb_local *kb, const char *query, size_t len,
                    const char *const *terms, size_t n_terms, size_t k, double min_score,
                    struct kb_hits *out, char *errstr, size_t errlen);
void kb_hits_free(struct kb_hits *h);

#endif
