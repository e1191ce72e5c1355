/* sim_model: the simulator's deterministic "model".
 *
 * sim_model_reply is a pure function of (model id, Converse request body): no clock, no global
 * random state (variation comes from a PRNG seeded with a hash of the body), so tests can ask it
 * for the exact answer the server will stream. It validates the request as Bedrock's Converse
 * API does, reads the steering directives (#sim:...) of the last user message, and composes a
 * customer-support answer from the <document> passages in the prompt (sim_answer.c), then cuts
 * it into tokens.
 *
 * Token accounting (documented so tests can predict it):
 *   input_tokens  = max(1, ceil(B / 4)) where B is the byte length of every text block of the
 *                   system list and of every message, directives included;
 *   prefix_tokens = ceil(P / 4) where P is the byte length of the system text blocks before the
 *                   first cachePoint (0 without a cachePoint; never more than input_tokens);
 *   output tokens = n_cuts: words with their leading space, 1-2 Hangul syllables, each other
 *                   punctuation mark or non-ASCII character alone, each newline alone.
 *   maxTokens (default SIM_DEFAULT_MAX_TOKENS) caps the count, with stop_reason "max_tokens";
 *   #sim:len=N makes it exactly N (the answer is cut, or extended with filler sentences), still
 *   capped by maxTokens.
 * Guardrails: a guardrailConfig is validated as Bedrock does (guardrailIdentifier and
 * guardrailVersion by AWS's patterns, trace and streamProcessingMode by their values, no other
 * member); with one, #sim:guardrail makes the answer SIM_GUARDRAIL_MESSAGE with stop_reason
 * "guardrail_intervened" (#sim:len and maxTokens do not apply to it). */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sim_directive.h"

#define SIM_MAX_BODY (2u * 1024u * 1024u)
#define SIM_DEFAULT_MAX_TOKENS 5000
#define SIM_MAX_TOKENS_LIMIT 10000

struct sim_reply {
    char *text;          /* owned, NUL-terminated */
    size_t text_len;
    size_t *cuts;        /* token boundaries: byte offsets into text, strictly increasing, last ==
                            text_len; token i is text[cuts[i-1]..cuts[i]) with cuts[-1] = 0;
                            never inside a UTF-8 character. Owned. */
    size_t n_cuts;
    unsigned input_tokens;
    unsigned prefix_tokens; /* tokens of the system blocks before the cachePoint, 0 if none */
    char stop_reason[32];   /* "end_turn", "max_tokens" or "guardrail_intervened" */
    struct sim_directives dir;
    char prefix_sha256[65]; /* hex SHA-256 of the cacheable prefix text, "" if none */
    /* Extensions beyond the documented contract: */
    char last_user_sha256[65]; /* hex SHA-256 of the last user message's text (the throttle key) */
    unsigned max_tokens;       /* inferenceConfig.maxTokens or the default */
    int lang_ko;               /* 1 when the answer is Korean */
    int micro;                 /* 1 when the answer is the short overview */
    int guardrail;             /* 1 when the body carries a (well-formed) guardrailConfig */
    int guardrail_stream_mode; /* 1 when it has streamProcessingMode (ConverseStream only) */
};

/* What a guardrail answers in the simulator when #sim:guardrail asks it to intervene: the
 * default "blocked messaging" of a Bedrock guardrail. */
#define SIM_GUARDRAIL_MESSAGE "Sorry, the model cannot answer this question."

/* Model families the simulator serves; SIM_SIZE_INVALID for any other id. */
enum sim_model_size { SIM_SIZE_INVALID = 0, SIM_SIZE_MICRO, SIM_SIZE_LITE, SIM_SIZE_PRO };

/* Classifies a decoded model id: plain ids, inference profiles ("apac.amazon.nova-pro-v1:0")
 * and ARNs containing "nova-micro", "nova-lite" or "nova-pro". */
enum sim_model_size sim_model_size(const char *model_id);

/* Composes the reply to a Converse / ConverseStream request body. Returns 0 with *out filled
 * (release with sim_reply_free), or -1 with a Bedrock-style ValidationException message in
 * errstr (an unknown model id included) and *out empty. */
int sim_model_reply(const char *model_id, const char *body, size_t body_len,
                    struct sim_reply *out, char *errstr, size_t errlen);
void sim_reply_free(struct sim_reply *r);

/* Replies already composed, by (model id, body): sim_model_reply is a pure function of the
 * two, and a load test sends one body thousands of times — composing it anew each time (the
 * passages' sentences ranked by trigram overlap) would make the simulator, not the system
 * under test, the bottleneck. Bodies are compared whole, never by hash alone. */
#define SIM_REPLY_CACHE_SLOTS 16
struct sim_reply_cache {
    struct {
        char *model_id, *body;
        size_t body_len;
        struct sim_reply reply;
        unsigned long used;
    } slot[SIM_REPLY_CACHE_SLOTS];
    unsigned long clock;
};
/* sim_model_reply through the cache: a hit is a deep copy of the cached reply (release it with
 * sim_reply_free as usual); errors are not cached. */
int sim_model_reply_cached(struct sim_reply_cache *c, const char *model_id, const char *body,
                           size_t body_len, struct sim_reply *out, char *errstr, size_t errlen);
void sim_reply_cache_free(struct sim_reply_cache *c);

#endif
