/* handoff_doc: the document a handoff carries to NOVA_HANDOFF_URL, built from what Redis holds
 * for the request when the player asks (the transcript expires within the hour; the receiver
 * may read it days later): see handoff.h for its fields. Reads Redis, writes nothing. */
#ifndef NOVA_HANDOFF_DOC_H
#define NOVA_HANDOFF_DOC_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/buf.h"
#include "product/chatreq.h"
#include "redis/contract.h"

#define HANDOFF_NOTE_MAX_CHARS 2000
#define HANDOFF_CONTACT_MAX_CHARS 200
#define HANDOFF_SESSION_TURNS 10        /* turns of the session attached, the newest */
#define HANDOFF_DOC_MAX HANDOFF_DOC_MAX_BYTES /* a larger document is not queued (500) */

/* The body, parsed: borrowed nowhere (copies). */
struct handoff_body {
    char note[HANDOFF_NOTE_MAX_CHARS * 4 + 1];
    char contact[HANDOFF_CONTACT_MAX_CHARS * 4 + 1];
    char session_id[CHATREQ_SESSION_MAX + 1];
};

/* Parses a request body (no I/O). Returns 0, or -1 with errstr saying what is wrong. */
int handoff_body_parse(const char *p, size_t n, struct handoff_body *b, char *errstr,
                       size_t errlen);

#define HANDOFF_DOC_ID_LEN 32          /* 32 lowercase hex digits, like a request id */
#define HANDOFF_DOC_EVENTS_MAX 20000   /* transcript entries read, at most (its MAXLEN) */

struct handoff_doc {
    struct buf json; /* the document, compact JSON (the caller frees it: handoff_doc_free) */
};

/* out (HANDOFF_DOC_ID_LEN + 1 bytes): a new random handoff id. */
void handoff_doc_new_id(char *out);

/* Builds the document of request_id's handoff handoff_id with the player's body b. Returns 1
 * (built), 0 (no transcript: unknown or expired request; nothing to free), or -1 with errstr
 * (Redis failed: c->err says whether the connection broke). */
int handoff_doc_build(redisContext *c, const char *request_id, const char *handoff_id,
                      const struct handoff_body *b, struct handoff_doc *doc, char *errstr,
                      size_t errlen);
void handoff_doc_free(struct handoff_doc *doc);

#endif
