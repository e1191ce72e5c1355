/* chatreq: validation of what a client sends to the chat routes, with no I/O.
 *
 * The POST /api/chat body: a JSON object with "message" (a string of valid UTF-8,
 * 1-4000 code points after trimming ASCII whitespace), "ui_lang" ("ko", the default, or
 * "en") and an optional "session_id" ([A-Za-z0-9_-]{8,64}). Unknown fields are ignored; null
 * counts as absent for the optional fields; any other wrong type is an error. Errors come
 * back as a sentence for the 400 body ("error.message").
 *
 * Also the small validators of the resume and cancel routes: request ids (what nginx's
 * $request_id looks like, 32 lowercase hex digits). A resume point (Last-Event-ID, ?after=)
 * is a Redis stream id: redis/streamid.h. */
#ifndef NOVA_CHATREQ_H
#define NOVA_CHATREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest body taken (beyond it: 413): room for the longest message even with every
 * character escaped as a surrogate pair (4000 x 12 bytes), and the other fields. */
#define CHATREQ_BODY_MAX (64u * 1024u)
#define CHATREQ_MESSAGE_MAX_CHARS 4000
#define CHATREQ_SESSION_MIN 8
#define CHATREQ_SESSION_MAX 64
#define CHATREQ_REQUEST_ID_LEN 32

struct chatreq {
    char *message;        /* owned: the trimmed message, NUL-terminated (no NUL inside) */
    size_t message_len;   /* bytes */
    size_t message_chars; /* code points */
    char ui_lang[3];      /* "ko" or "en" */
    char session_id[CHATREQ_SESSION_MAX + 1]; /* "" when the client sent none */
};

/* Validates body[0..len) (need not be NUL-terminated). Returns 0 with *r filled (free it with
 * chatreq_free), or -1 with a client-facing sentence in errstr and nothing to free. */
int chatreq_parse(const char *body, size_t len, struct chatreq *r, char *errstr, size_t errlen);
void chatreq_free(struct chatreq *r);

/* The POST /api/translate body: {"text": 1-4000 characters as "message" above, "target":
 * "ko", "en" or "auto" (the default: the other language than the text's)}. */
struct translatereq {
    char *text;           /* owned, trimmed, NUL-terminated */
    size_t text_len, text_chars;
    char target[5];       /* "ko", "en" or "auto" */
};
int translatereq_parse(const char *body, size_t len, struct translatereq *t, char *errstr,
                       size_t errlen);
void translatereq_free(struct translatereq *t);

bool chatreq_session_id_valid(const char *s, size_t len);
/* 32 lowercase hex digits, exactly. */
bool chatreq_request_id_valid(const char *s, size_t len);

/* True when a Content-Type value names application/json (any case, parameters allowed). */
bool chatreq_content_type_is_json(const char *ct);
/* The raw value of name in a query string ("a=1&after=5-0"): 1 with *v and *n set, 0 when
 * absent. No percent-decoding: the values this serves are digits and '-'. */
int chatreq_query_param(const char *query, const char *name, const char **v, size_t *n);

#endif
