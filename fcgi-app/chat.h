/* chat: POST /api/chat of API.md — validate, understand the question, queue one Micro and one
 * Pro job per phase (and its translation), stream. Its resume and cancel are resume.h's.
 *
 * The order in chat_post is what makes streams lossless: the reply channels are subscribed
 * (and Redis confirmed it) before the meta event is appended and before any job is queued. */
#ifndef NOVA_CHAT_H
#define NOVA_CHAT_H

#include <stdbool.h>

#include "req.h"

void chat_post(struct req *rq);
/* A stream started now would be cut at the drain deadline: 503 with Retry-After sends the
 * client elsewhere. Returns true when it was sent. */
bool chat_refuse_when_draining(struct req *rq);

/* Admission of a stream (a chat or a resume) under NOVA_MAX_STREAMS, before any work is done
 * or queued for it: takes one of this child's stream places, or answers 503 `unavailable`
 * with Retry-After: 1 (so does a draining child) and returns false. A taken place is given
 * back exactly once, with chat_stream_leave, when the request ends without a stream or when
 * its stream ends (its relay's on_end, on whichever thread runs it). */
bool chat_stream_admit(struct req *rq);
void chat_stream_leave(void);

#endif
