/* lookup: what a chat question is searched by, with no I/O — the policy that decides how the
 * knowledge base is asked, kept apart so that the retrieval eval (tests/eval/retrieval.c)
 * measures the very code that runs:
 *
 *   - the glossary entities found in the question (and in its translation, when there is one
 *     before the search), each once, in the order of the text;
 *   - the search terms they give: every entity's canonical name and aliases, which carry a
 *     Korean question to an English document and back ("길드" → Guild, guild);
 *   - the query text: the question as asked, or, after a translation, both wordings;
 *   - whether the question is translated at all (in en mode always: the staff read Korean;
 *     otherwise when its language is not the UI's), and when the search as asked must be
 *     followed by translate-then-search: only for a question that is translated anyway, and
 *     only when the search as asked is not sure of what it found — no passage at or above
 *     NOVA_KB_MIN_SCORE, or (local index) none at or above LOOKUP_SURE_SCORE. Every other
 *     question is answered from the search as asked, and its translation runs beside the
 *     answers instead of before them.
 *
 * Why a second threshold: the retrieval eval (tests/eval) found that "nothing at all" alone
 * loses questions whose words are common in the wrong documents ("daily attendance reward"
 * finds the Premium Pass at 0.32, not the Korean check-in guide its translation 출석 finds).
 * On the local index's scale (kb_local.h) a distinctive term in a document's title, keywords
 * and body scores about 0.45 and a mention in one body about 0.12, so a best passage under
 * 0.4 is a guess; with it, hit@5 stays at the old policy's (0.976; 0.927 without it) while
 * 14 of the eval's 82 questions wait for a translation instead of 51. A Bedrock Knowledge Base's scores are an
 * embedding's similarity (multilingual: it bridges the languages itself), on another scale:
 * there only "nothing" counts.
 *
 * Two more sources of terms (issue 17):
 *   - synonyms: every word of the question that the operator's synonym file
 *     (NOVA_SYNONYMS_FILE, product/synonyms.h) lists as a variant adds its canonical term and
 *     that term's glossary names ("비번" → 비밀번호, "pasword" → password); an English plural
 *     that neither the glossary nor the file knows counts as its singular ("refunds" →
 *     refund, the glossary's Refund and its Korean name 환불);
 *   - the conversation: a follow-up — a question that refers back (그럼, 그거, 며칠, "it",
 *     "how long", "what about"...) with few words of its own, or one with none — is searched
 *     with the previous question's words, synonyms and glossary names as a context whose
 *     terms count LOOKUP_CONTEXT_WEIGHT of the question's own (kb_local.h). When that previous
 *     question was a follow-up too, the one before it joins the context. A question that
 *     stands on its own is searched as before, so a change of topic is not dragged back; no
 *     model call either way. */
#ifndef NOVA_LOOKUP_H
#define NOVA_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "product/glossary.h"
#include "product/lang.h"
#include "product/synonyms.h"
#include "kb/kb_local.h"

#define LOOKUP_MAX_ENTITIES 16 /* reported in meta and used to widen the search */
#define LOOKUP_MAX_TERMS 64    /* search terms from the entities' names and synonyms */
#define LOOKUP_MAX_SYNONYMS 8  /* canonical terms of a question's variants */
#ifndef LOOKUP_CONTEXT_WEIGHT
#define LOOKUP_CONTEXT_WEIGHT 0.5  /* a follow-up's context terms, against 1 for its own */
#endif
#define LOOKUP_WORD_MAX 64         /* a longer word has no singular looked up */
#define LOOKUP_FOLLOW_MAX_TERMS 4  /* a question referring back with more words of its own
                                      stands alone */

/* Terms from one text: its glossary entities and the canonical terms of its variants. */
struct lookup_source {
    const struct glossary_entry *syn_ents[LOOKUP_MAX_SYNONYMS]; /* found in the canonicals */
    size_t n_syn_ents;
    const char *syn[LOOKUP_MAX_SYNONYMS]; /* the synonym table's strings */
    size_t n_syn;
};

struct lookup {
    struct glossary_match ents[LOOKUP_MAX_ENTITIES];
    const char *ent_text[LOOKUP_MAX_ENTITIES]; /* the text each was found in (the caller's) */
    size_t n_ents;
    struct lookup_source own;                  /* the question's synonyms */
    const char *terms[LOOKUP_MAX_TERMS];       /* the glossary's and synonyms' strings */
    size_t n_terms;
    /* The conversation, for a follow-up (ctx.len 0 otherwise): ctx.text points into the
     * caller's previous questions, ctx.terms at ctx_terms. */
    struct kb_context ctx;
    struct lookup_source ctx_src;
    const char *ctx_terms[LOOKUP_MAX_TERMS];
};

void lookup_init(struct lookup *l);
/* Adds the entities of text[0..len) (valid UTF-8; it must outlive l) that are not in l yet,
 * and their names to the terms. */
void lookup_add_text(struct lookup *l, const struct glossary *g, const char *text, size_t len);
/* Adds the canonical terms of the variants among the words of question[0..len) (s may be
 * NULL: none), and the glossary names found in those terms. */
void lookup_add_synonyms(struct lookup *l, const struct glossary *g, const struct synonyms *s,
                         const char *question, size_t len);

/* The singulars an English plural w[0..len) (lower-case ASCII letters) may have, most specific
 * first: "bodies" -> body, boxes -> box, "refunds" -> refund; into out, NUL-terminated.
 * Returns how many (0: not a plural of that shape). The synonyms and the glossary are asked
 * for a plural neither knows by these (lookup_add_synonyms, lookup_set_context). */
size_t lookup_singulars(const char *w, size_t len, char out[][LOOKUP_WORD_MAX + 1]);

/* Whether question[0..len) is a follow-up that needs its conversation to be understood: it
 * has no words of its own after stop words, or it refers back (a pronoun or demonstrative,
 * 그럼/그거/며칠/언제, "it", "that", "how long", "what about") with at most
 * LOOKUP_FOLLOW_MAX_TERMS words of its own. */
bool lookup_follows_up(const char *question, size_t len);
/* The conversation of a follow-up: previous[0..plen) is the session's previous questions,
 * oldest first, each ending with a line break (it must outlive l). When question[0..qlen)
 * follows up, the context is the newest of them (and the one before it when that one
 * followed up too), with its glossary names and synonyms. Returns whether a context was set. */
bool lookup_set_context(struct lookup *l, const struct glossary *g, const struct synonyms *s,
                        const char *question, size_t qlen, const char *previous, size_t plen);
/* The context for kb_local_search_ctx / knowledge_find: NULL when there is none. */
const struct kb_context *lookup_context(const struct lookup *l);

/* The query: question[0..qlen), then, when tlen > 0, a line break and translation[0..tlen).
 * Appended to out; 0 or -1 (out full). */
int lookup_query(struct buf *out, const char *question, size_t qlen, const char *translation,
                 size_t tlen);

/* Whether a question in language input, asked in UI language ui, is translated: always in
 * en mode (the staff's answer is Korean), else when input is not ui. input is the detected
 * language, ui's own when none was (emoji, digits). */
bool lookup_translates(enum lang ui, enum lang input);
/* The language the question is translated into: the other one. */
enum lang lookup_target(enum lang input);
/* A best passage under this (local index) is a guess: see above. */
#define LOOKUP_SURE_SCORE 0.4
/* Translate first, then search again with both wordings: the question is translated anyway,
 * and the search as asked found no passage (n_hits 0), or its best one (best) scored under
 * sure (LOOKUP_SURE_SCORE for the local index, 0 for one whose scores mean something else). */
bool lookup_translate_first(enum lang ui, enum lang input, size_t n_hits, double best,
                            double sure);

#endif
