/* sim_kb: the document store behind the simulated Knowledge Base Retrieve API.
 *
 * Documents are Markdown files in one folder, each with optional front matter between "---"
 * lines ("url:" or "source:", "title:", "keywords:"); without a title the first "# " heading is
 * used, then the file name. Keywords count for scoring but are not part of the passages' text
 * (a Korean query can then find an English document that lists Korean keywords). Each document is cut by paragraph into passages of at most SIM_KB_PASSAGE_MAX
 * bytes (never inside a UTF-8 character) and each passage keeps its trigram set. A query is
 * scored against every passage with sim_trigrams_score, weighted by the trigrams' rarity across
 * the passages (IDF), so the score is the weighted share of the query's trigrams a passage
 * holds: 0..1. Loading is the only I/O; searching is pure. */
#ifndef SIM_KB_H
#define SIM_KB_H

#include <stddef.h>

#include "sim_trigram.h"

#define SIM_KB_PASSAGE_MAX 1000
#define SIM_KB_FILE_MAX (4u * 1024u * 1024u)
#define SIM_KB_MAX_FILES 10000

struct sim_kb_doc {
    char *name;  /* file name */
    char *title;
    char *url;
};

struct sim_kb_passage {
    char *text;
    size_t len;
    size_t doc;    /* index into docs */
    unsigned seq;  /* passage number within its document, from 1 */
    struct sim_trigrams tg;
};

struct sim_kb {
    struct sim_kb_doc *docs;
    size_t n_docs, cap_docs;
    struct sim_kb_passage *passages;
    size_t n_passages, cap_passages;
};

struct sim_kb_hit {
    const struct sim_kb_passage *passage;
    const struct sim_kb_doc *doc;
    double score;
};

void sim_kb_init(struct sim_kb *kb);
void sim_kb_free(struct sim_kb *kb);

/* Loads every *.md file of dir (sorted by name). Returns the number of documents loaded, or -1
 * with errstr when the folder cannot be read. Unreadable or oversized files are skipped with a
 * warning in the log. */
long sim_kb_load_dir(struct sim_kb *kb, const char *dir, char *errstr, size_t errlen);

/* Adds one document from its text (name is the file name, used for the default URL and
 * title). Returns the number of passages it produced. */
size_t sim_kb_add(struct sim_kb *kb, const char *name, const char *text, size_t len);

/* Finds up to max passages with a score > 0, best first (ties: load order). Returns how many
 * hits were written. */
size_t sim_kb_search(const struct sim_kb *kb, const char *query, size_t qlen, size_t max,
                     struct sim_kb_hit *hits);

#endif
