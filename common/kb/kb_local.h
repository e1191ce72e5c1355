/* kb_local: the local knowledge base (NOVA_KB_BACKEND=local): Markdown documents indexed in
 * SQLite FTS5 with the trigram tokenizer (works for Korean without a morphological analyser).
 *
 * This header is the library's surface for its callers: the handle below (opened, closed,
 * counted by kb_store.c; filled by kb_import.c; searched by kb_search.c), and, through the
 * two headers it includes, the pure parsers of a document (kb_doc.h) and of a question
 * (kb_query.h).
 *
 * Documents: *.md files of one folder (not recursive), each read by kb_doc_parse (front
 * matter, title and body are described in kb_doc.h).
 *
 * Index: one SQLite file in WAL mode: table docs (path, title, url, keywords, lang, chars, body),
 * docs_fts, an external-content FTS5 table over title, keywords and body with
 * tokenize='trigram', and grams, the two-character terms a trigram index cannot find (every
 * pair of adjacent Hangul syllables and every two-letter ASCII word, per document and field).
 * An import rewrites everything in one write transaction; searches run in read transactions
 * on their own connections, so each sees the old index or the new one.
 *
 * Search: the question is cut into terms (kb_query_terms): words of letters and digits,
 * English stop words dropped, Korean particles and predicate endings stripped from Hangul words
 * ("환불은" → 환불, "해킹당했어요" → 해킹), plus the caller's extra terms (the glossary aliases
 * of the entities found in the question, which carry a Korean question to an English document
 * and back). Terms of three or more characters go to an FTS5 MATCH (an OR of quoted phrases);
 * a term that starts with a Latin letter or digit counts only where it is a word, endings
 * allowed ("refunds"; the trigram index alone would find "paris" in "comparison" and "pass" in
 * "password"). Two-character terms cannot use a trigram index: a Hangul one ("환불") counts as
 * a substring, a Latin one ("xp") as a whole word, both looked up in grams; the rare other
 * kinds ("2단", "退款") are counted by a scan of all documents (about 0.7 ms per MB of text).
 *
 * Cost, measured on 2 busy shared cores: kb/sample (51 documents, 119 KB) imports in 30-45 ms
 * into 0.75 MB and is searched in 0.07-0.11 ms (median of 1,000; p99 0.2-0.4 ms). kb/sample 80
 * times over (4,080 documents, 9.5 MB; every term hits 80 times as many documents) imports in
 * 3 s into 54 MB and is searched in 3 ms (median; p99 11 ms).
 *
 * Score, for the candidates (documents with a hit of at least one term). N is the number of
 * documents, n_t the number with a hit of term t, len_d the body's length in characters:
 *   idf_t  = ln(1 + (N - n_t + 0.5) / (n_t + 0.5)) / ln(1 + (N + 0.5) / 0.5)       in (0, 1)
 *   m_t(d) = 1.0·[t in title] + 0.7·[t in keywords] + 0.6·tf / (tf + 1.2·(0.25 + 0.75·len_d/avg))
 *   S(d)   = Σ_t w_t · idf_t · m_t(d)    (tf: hits of t in the body; w_t 1, or a context's
 *                                        weight for a follow-up's context terms)
 *   score  = S / (S + 1.5)               in [0, 1)
 * So the title and keywords, which say what a document is about, count more than mentions in
 * the body (BM25's saturation and length norm); the idf is normalised so that a fixed
 * min_score means about the same for 50 documents and for 50,000. With kb/sample: a rare word
 * mentioned once in one body gives S ≈ 0.2, score ≈ 0.12, below the default 0.2; a distinctive
 * term in a document's title, keywords and body gives S ≈ 1.2, score ≈ 0.45. Ties go to the
 * document imported first (file names in byte order).
 *
 * Processes: open the handle in each process that searches, after fork (a SQLite connection
 * must not cross a fork). */
#ifndef NOVA_KB_LOCAL_H
#define NOVA_KB_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kb/kb_doc.h"
#include "kb/kb_query.h"

#define KB_MAX_HITS 20
#define KB_MIN_SCORE_DEFAULT 0.2           /* what NOVA_KB_MIN_SCORE defaults to */
#define KB_IMPORT_MAX_FILES 100000         /* more *.md files in the folder: import refused */
#define KB_POOL_MAX 8                      /* read connections per handle, opened on demand */

struct kb_local; /* opaque; safe to share between threads (searches run in parallel) */

/* Opens the index at path. writable: create it if missing (novactl kb import), with one
 * read-write connection; else read-only (up to KB_POOL_MAX connections, each opened when the
 * searches in flight need it), and a missing file or a file that is not a kb index is an
 * error. Returns the handle or NULL with errstr. */
struct kb_local *kb_local_open(const char *path, bool writable, char *errstr, size_t errlen);
/* Closes every connection. No search may be running. */
void kb_local_close(struct kb_local *kb);

struct kb_import_stats {
    size_t docs, skipped;   /* imported; refused (each logged with its reason) */
    size_t bytes;           /* of the imported files */
};
/* Replaces the whole index with the *.md files of dir (in byte order of their names), in one
 * transaction (searches on other connections see the old index or the new one, never half).
 * A folder that gives no document leaves the index as it was. Returns 0, or -1 with errstr.
 * Needs a writable handle. */
int kb_local_import_dir(struct kb_local *kb, const char *dir, struct kb_import_stats *st,
                        char *errstr, size_t errlen);
/* Number of documents in the index, or -1 with errstr. */
long kb_local_count(struct kb_local *kb, char *errstr, size_t errlen);

/* What novactl kb stats shows. */
struct kb_index_stats {
    long docs;
    long long doc_bytes;    /* of the imported files */
    long long db_bytes;     /* the index file (page count × page size) */
    long long imported_at;  /* Unix seconds of the last import; 0 if never */
    char source[600];       /* the folder it was imported from */
    struct {
        char lang[17];      /* "" for documents without lang */
        long docs;
    } langs[8];             /* the most frequent languages, most first */
    size_t n_langs;
};
int kb_local_stats(struct kb_local *kb, struct kb_index_stats *st, char *errstr, size_t errlen);

/* One passage found: a document's text, title, url and how well it matched (0..1). */
struct kb_hit {
    const char *text;  /* the whole body */
    const char *title;
    const char *url;   /* "" when none */
    double score;
};

/* Search results: passages whose strings live in the hits' own storage. */
struct kb_hits {
    struct kb_hit hit[KB_MAX_HITS];
    size_t n;
    void *store; /* owned */
};
/* The best k (<= KB_MAX_HITS, more is clamped) documents for query[0..len) and extra terms
 * (each NUL-terminated), best first, those scoring below min_score left out. A question
 * without usable terms (only stop words) gives no hits. Returns 0 (free with kb_hits_free,
 * also when n is 0), or -1 with errstr (and nothing to free). */
int kb_local_search(struct kb_local *kb, const char *query, size_t len,
                    const char *const *terms, size_t n_terms, size_t k, double min_score,
                    struct kb_hits *out, char *errstr, size_t errlen);
/* The conversation a follow-up question is searched with: the previous question's text and
 * its extra terms (glossary names), whose terms count weight (0..1] of the question's own
 * (S(d) above sums weight_t · idf_t · m_t(d)). Terms the question has itself keep weight 1. */
struct kb_context {
    const char *text;
    size_t len;
    const char *const *terms;
    size_t n_terms;
    double weight;
};
/* kb_local_search with a context (NULL: none). A question with no terms of its own ("and
 * then?") is searched by its context's alone, at the context's weight. */
int kb_local_search_ctx(struct kb_local *kb, const char *query, size_t len,
                        const char *const *terms, size_t n_terms, const struct kb_context *ctx,
                        size_t k, double min_score, struct kb_hits *out, char *errstr,
                        size_t errlen);
void kb_hits_free(struct kb_hits *h);

#endif
