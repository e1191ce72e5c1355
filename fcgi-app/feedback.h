/* feedback: POST /api/chat/<request>/feedback — a player's rating of an answer, kept for good.
 *
 * Body {"rating": "up"|"down", "reason": "wrong"|"outdated"|"unclear"|"offensive"|"other"
 * (optional), "comment" (optional, at most FEEDBACK_COMMENT_MAX_CHARS characters of valid
 * UTF-8)} → 202 {"request_id", "rating", "status":"recorded"}; 404 when the request's transcript
 * is gone (unknown or expired); 400 with what is wrong for any other body. The entry XADDed
 * to nova:feedback (trimmed to NOVA_FEEDBACK_MAX entries, no expiry) carries the request's
 * whole record (record.h) beside the rating, so it outlives the transcript:
 *
 *   fields "request" <id>, "rating" up|down, "d" {"request_id", "time" (ISO 8601 UTC),
 *   "created_ms", "rating", "reason" (null when none), "comment" (null when none), then the
 *   record's members: ui_lang, question, translation, entities, sources, models,
 *   prompt_sha256, answers, notices, errors, usage, cost_usd, ...}
 *
 * A request may be rated again, and the last rating wins: {nova:feedback}:last maps a request id
 * to its entry's id, and the script that adds an entry deletes the request's previous one (one
 * entry per request: re-rating one request never pushes others out of the cap) and trims the
 * stream and the index together. feedback_latest reads it for one request (the handoff
 * document); novactl feedback shows the newest entry of each request.
 * Counted in /api/metrics as nova_feedback_total{rating, reason}. */
#ifndef NOVA_FEEDBACK_H
#define NOVA_FEEDBACK_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/buf.h"
#include "req.h"

#define FEEDBACK_COMMENT_MAX_CHARS 1000

enum feedback_rating { FEEDBACK_UP, FEEDBACK_DOWN, FEEDBACK_RATINGS };
enum feedback_reason { FEEDBACK_NO_REASON, FEEDBACK_WRONG, FEEDBACK_OUTDATED, FEEDBACK_UNCLEAR,
                       FEEDBACK_OFFENSIVE, FEEDBACK_OTHER, FEEDBACK_REASONS };

/* A body, parsed: copies, borrowed from nowhere. */
struct feedback_body {
    enum feedback_rating rating;
    enum feedback_reason reason;
    char comment[FEEDBACK_COMMENT_MAX_CHARS * 4 + 1]; /* "" when none */
};

/* "up", "down"; "none", "wrong", ... (the API's words; "none" for no reason). */
const char *feedback_rating_name(enum feedback_rating r);
const char *feedback_reason_name(enum feedback_reason r);

/* Parses a request body (no I/O): one JSON object with the members above and no other.
 * Returns 0, or -1 with errstr saying what is wrong in words a client can act on. */
int feedback_body_parse(const char *p, size_t n, struct feedback_body *b, char *errstr,
                        size_t errlen);

/* The last feedback on request_id (the one that counts), its entry's "d" JSON object (above:
 * rating, reason, comment, time and the request's record) appended to json_out. Two commands
 * on c (HGET of the index, XRANGE of that one entry), whatever the stream's length. Returns 1
 * (appended), 0 (never rated, or its ratings were trimmed by the cap), or -1 with errstr (c->err
 * says whether the connection broke; json_out full is an error too). */
int feedback_latest(redisContext *c, const char *request_id, struct buf *json_out, char *errstr,
                    size_t errlen);

/* The route: request_id is 32 lowercase hex digits (the router checked). */
void feedback_post(struct req *rq, const char *request_id);

#endif
