/* sim_trigram: character-trigram sets and a weighted overlap score, the simulator's stand-in
 * for a retriever (works for Korean without a morphological analyser, like SQLite's trigram
 * tokenizer). Text is normalised first: ASCII folded to lower case, everything that is not a
 * letter or digit becomes a space, runs of spaces collapse, and the text is padded with one
 * space each side so short words still make trigrams. A trigram is three code points packed
 * exactly into 63 bits (no hashing, no collisions). No I/O. */
#ifndef SIM_TRIGRAM_H
#define SIM_TRIGRAM_H

#include <stddef.h>
#include <stdint.h>

struct sim_trigrams {
    uint64_t *v; /* sorted, unique; owned */
    size_t n;
};

/* Builds the set of s[0..n). t is overwritten (free it first if it held a set). */
void sim_trigrams_build(struct sim_trigrams *t, const char *s, size_t n);
void sim_trigrams_free(struct sim_trigrams *t);
int sim_trigrams_has(const struct sim_trigrams *t, uint64_t g);

/* Weights for the query's trigrams from a corpus: w[i] = ln(1 + N / (1 + df)), where df is the
 * number of the N sets holding q->v[i] (rare trigrams count more). w has q->n entries. */
void sim_trigrams_idf(const struct sim_trigrams *q, const struct sim_trigrams *const *corpus,
                      size_t n_corpus, double *w);

/* Weighted share of the query's trigrams found in p: 0..1 (0 when q is empty). w may be NULL
 * for equal weights. */
double sim_trigrams_score(const struct sim_trigrams *q, const struct sim_trigrams *p,
                          const double *w);

#endif
