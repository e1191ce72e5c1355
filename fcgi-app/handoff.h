/* handoff: POST /api/chat/<request>/handoff — a player asks for a person; the conversation is
 * queued for a handoff worker (workers/handoff.h) to POST to NOVA_HANDOFF_URL. nova-fcgi makes
 * no outbound call: it builds the whole document the receiver will get, now, while Redis still
 * holds the request, and XADDs it to nova:jobs:{handoff}.
 *
 *   body     {"note" (optional, ≤ 2,000 characters), "contact" (optional, ≤ 200 characters,
 *            no control characters), "session_id" (optional: the page's session, whose turns
 *            are attached when that session holds this request)}
 *   202      {"handoff_id", "request_id", "status": "queued"}; a second POST for the same
 *            request answers the first one's handoff id and queues nothing (nova:handoff:<req>)
 *   400      bad_request (not JSON, not an object, wrong types, too long, invalid UTF-8)
 *   404      not_found (no transcript: the request never existed or expired)
 *   503      unavailable (NOVA_HANDOFF_URL unset; Redis unreachable)
 *
 * The document (one JSON object): handoff_id, request_id, created_ms, time (UTC, ISO 8601),
 * note, contact, ui_lang, question, translation, sources, answers (each phase and model with
 * its text and model id), session (the turns: question and answer each), feedback (the
 * player's last on this request, feedback.h's feedback_latest: {"rating", "reason", "comment",
 * "time"}, reason and comment null when not given; null when the request was never rated). */
#ifndef NOVA_HANDOFF_FCGI_H
#define NOVA_HANDOFF_FCGI_H

#include "req.h"

void handoff_post(struct req *rq, const char *request_id);

#endif
