/* knowledge: the passages a question is answered from, by NOVA_KB_BACKEND — the local SQLite
 * index (kb_local.h) searched in this process, or a Bedrock Knowledge Base searched by a kb
 * worker's Retrieve (the web tier holds no AWS credentials). The best KNOWLEDGE_TOP passages
 * at or above NOVA_KB_MIN_SCORE are kept; none means the fixed apology and no model call.
 *
 * Passages reach the page as meta.sources (title, score, 600-character excerpt, url) and the
 * models as <document title=".." url="..">text cut to 1,000 characters</document> blocks. */
#ifndef NOVA_KNOWLEDGE_H
#define NOVA_KNOWLEDGE_H

#include <stddef.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "kb/kb_local.h"
#include "req.h"

#define KNOWLEDGE_TOP 5
#define KNOWLEDGE_TIMEOUT_MS 15000
#define KNOWLEDGE_EXCERPT_CHARS 600
#define KNOWLEDGE_PASSAGE_CHARS 1000

struct knowledge {
    struct kb_hit p[KNOWLEDGE_TOP];
    size_t n;
    struct kb_hits hits;   /* local: owns the strings */
    json_object *root;     /* bedrock: the passages event, owns the strings */
};

/* Finds the passages for query[0..len) (the question as asked, or both wordings after a
 * translation: lookup.h), the extra search terms (glossary names, synonyms) and, for a
 * follow-up, its conversation (ctx, NULL for none: local, its terms weighted lower; bedrock,
 * its text after the query's). request_id names a kb job. Returns 0 (free k with knowledge_free; k->n may be 0), or -1 with *code
 * ("unavailable", "timeout", "gone", "internal"). */
int knowledge_find(struct req *rq, const char *request_id, const char *query, size_t len,
                   const char *const *terms, size_t n_terms, const struct kb_context *ctx,
                   struct knowledge *k, const char **code);
void knowledge_free(struct knowledge *k);

/* meta.sources: adds {title, score, excerpt, url} per passage to arr. */
void knowledge_sources(const struct knowledge *k, json_object *arr);
/* The passages as prompt text, appended to out. Returns 0 or -1 (out full). */
int knowledge_prompt(const struct knowledge *k, struct buf *out);

#endif
