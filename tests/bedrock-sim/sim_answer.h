/* sim_answer: composes the simulated model's answer text from a parsed prompt (the half of
 * sim_model that writes prose; sim_model.c parses and validates the request and cuts tokens).
 *
 * It picks the sentences of the prompt's passages, in the answer's language, that share the
 * most character trigrams with the question, and lays them out as a Micro overview (1-2
 * paragraphs and a bridge line) or a Pro detailed answer (Markdown heading, numbered steps, a
 * caveats section, the sources). Without passages in that language it names the documents'
 * titles; without any passage it gives a polite generic answer. Pure: the only variation comes
 * from the caller's seed. */
#ifndef SIM_ANSWER_H
#define SIM_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct sim_doc {
    char *title; /* never NULL */
    char *url;   /* "" when the prompt gave none */
    char *text;  /* valid UTF-8 */
};

struct sim_prompt {
    const char *question; /* valid UTF-8, directives and documents removed */
    size_t question_len;
    const struct sim_doc *docs;
    size_t n_docs;
    int lang_ko; /* answer in Korean */
    int micro;   /* the short overview shape */
};

/* Appends the answer to out. */
void sim_answer_compose(const struct sim_prompt *p, uint64_t seed, struct buf *out);

/* Appends the i-th filler sentence (with a leading separator) used to lengthen an answer to
 * an exact token count. */
void sim_answer_filler(int lang_ko, size_t i, struct buf *out);

#endif
