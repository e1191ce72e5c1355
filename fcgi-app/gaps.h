/* gaps: the questions the bot could not answer well, recorded for the content editor in
 * nova:gaps (a stream, DESIGN.md's key map; `novactl kb gaps` groups and lists it). A chat
 * is recorded once, when its stream has ended (after meta and every answer word, so nothing
 * waits for it on the path to the first words), with one reason:
 *   - guardrail: a Bedrock guardrail intervened in one of its model calls (a `notice`
 *     `guardrail` went through its stream);
 *   - no_documents: no passage at or above NOVA_KB_MIN_SCORE, the apology was the answer;
 *   - weak: answered, but its best passage scored under NOVA_GAP_WEAK_SCORE (0: never).
 * An entry holds reason, request_id, question (at most GAPGROUP_QUESTION_MAX bytes, whole
 * characters), input_lang, ui_lang, translation (when one was made before the search) and the
 * best passage's best_title, best_url and best_score (when there was one); its stream id is
 * the time (Redis's clock). Never the session id: the editor needs the question, not who
 * asked it. The stream is trimmed to NOVA_GAPS_MAX entries (exactly; 0 records nothing) and
 * has no expiry. A failure to record is logged and changes nothing for the player. */
#ifndef NOVA_GAPS_H
#define NOVA_GAPS_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "knowledge.h"
#include "product/gapgroup.h"

/* What the search left to record, known before the passages are released. */
struct gap_note {
    bool due;               /* no_documents or weak */
    enum gap_reason reason;
    bool has_best;
    char best_title[256], best_url[512];
    double best_score;
};

/* The question as the request understood it. */
struct gap_question {
    const char *request_id;
    const char *text;
    size_t len;
    const char *input_lang, *ui_lang;
    const char *translation; /* made before the search, or NULL */
    size_t translation_len;
};

/* n from the passages found (k->n 0: no_documents; a best under weak_score: weak). */
void gaps_classify(struct gap_note *n, const struct knowledge *k, double weak_score);
/* The XADD's arguments for one gap (reason given), for gaps_record and its tests: argv and
 * lens point into q, n and the caller's num[32] (the score) and max[24]. Returns argc. */
#define GAPS_ARGV_MAX 24
int gaps_argv(const struct gap_note *n, enum gap_reason reason, const struct gap_question *q,
              long max_entries, char num[32], char max[24], const char **argv, size_t *lens);
/* Records q when n is due or guardrail is true (the guardrail's reason first), on a pooled
 * connection: one round trip. */
void gaps_record(struct app *app, const struct gap_note *n, bool guardrail,
                 const struct gap_question *q);

#endif
