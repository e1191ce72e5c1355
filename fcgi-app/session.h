/* session: the conversation of one session id, kept in Redis as nova:session:<id> (a list of
 * turns, newest last, each {"ts", "request_id", "question", "answer"} JSON), expiring
 * NOVA_SESSION_TTL_SECONDS after its last turn. The last SESSION_PROMPT_TURNS turns go into
 * the prompt of a follow-up question; SESSION_KEEP_TURNS are kept for the operator.
 *
 * DELETE /api/session/<id> forgets it: 200 {"session_id", "deleted": true|false}. */
#ifndef NOVA_SESSION_H
#define NOVA_SESSION_H

#include <stddef.h>

#include "app.h"
#include "core/buf.h"
#include "req.h"

#define SESSION_PROMPT_TURNS 2
#define SESSION_KEEP_TURNS 20
#define SESSION_TEXT_MAX 2000 /* bytes of a question or an answer kept in a turn */

/* The last SESSION_PROMPT_TURNS turns as prompt text ("Player: ...\nAgent: ...\n\n"),
 * appended to out. Returns the number of turns, or -1 with errstr (Redis). */
int session_history(struct app *app, const char *session_id, struct buf *out, char *errstr,
                    size_t errlen);
/* The questions of the last SESSION_PROMPT_TURNS turns, oldest first, each followed by a line
 * break (its own line breaks made blanks), appended to out: what a follow-up is searched
 * with (lookup.h). Returns the number of questions, or -1 with errstr (Redis). */
int session_questions(struct app *app, const char *session_id, struct buf *out, char *errstr,
                      size_t errlen);
/* Appends a turn (question and answer cut to SESSION_TEXT_MAX bytes between characters),
 * trims the list and renews its expiry. Returns 0 or -1 with errstr. */
int session_save(struct app *app, const char *session_id, const char *request_id,
                 const char *question, const char *answer, char *errstr, size_t errlen);

void session_delete(struct req *rq, const char *session_id);

#endif
