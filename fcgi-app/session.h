/* session: the conversation of one session id, kept in Redis as nova:session:<id> (a list of
 * turns, newest last, each {"ts", "request_id", "question", "answer"} JSON), expiring
 * NOVA_SESSION_TTL_SECONDS after its last turn. The last SESSION_PROMPT_TURNS turns go into
 * the prompt of a follow-up question; SESSION_KEEP_TURNS are kept for the operator.
 *
 * A request's turn is saved once, by whichever of its streams first sees `done` — the one
 * that queued the jobs, or a resume when that one's client went away. The session id never
 * reaches a resume (it grants the conversation; the transcript does not hold it), so what the
 * turn needs is kept beside the request instead: nova:turn:<request> holds {session,
 * question}, written with the jobs (store_start) and taken atomically (GET and DEL in one
 * MULTI) by the stream that saves: a second stream finds nothing and saves nothing.
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

/* The pending turn of a request (nova:turn:<request>'s value) appended to out: the session id
 * and the question cut to SESSION_TEXT_MAX bytes between characters. */
void session_turn_json(struct buf *out, const char *session_id, const char *question,
                       size_t question_len);
/* Takes request_id's pending turn (once: it is deleted in the same step) and saves it with
 * answer as its turn. Returns 1 (saved; *tag, LOG_TAG_LEN + 1 bytes, names the session for
 * the log), 0 (nothing pending: another stream saved it, it expired, or the request keeps no
 * turn) or -1 with errstr. */
int session_save_pending(struct app *app, const char *request_id, const char *answer,
                         char *tag, char *errstr, size_t errlen);

void session_delete(struct req *rq, const char *session_id);

#endif
