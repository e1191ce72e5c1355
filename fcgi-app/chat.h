/* chat: the three chat routes of API.md.
 *
 *   chat_post    POST /api/chat: validate, queue one Micro and one Pro job per phase, stream
 *   chat_resume  GET /api/chat/<request>/events: replay the transcript after Last-Event-ID
 *                (or ?after=), then continue live
 *   chat_cancel  POST /api/chat/<request>/cancel: stop the request's jobs (202)
 *
 * The order in chat_post is what makes streams lossless: the reply channels are subscribed
 * (and Redis confirmed it) before the meta event is appended and before any job is queued. A
 * resume subscribes before it reads the transcript, for the same reason. */
#ifndef NOVA_CHAT_H
#define NOVA_CHAT_H

#include "req.h"

void chat_post(struct req *rq);
void chat_resume(struct req *rq, const char *request_id);
void chat_cancel(struct req *rq, const char *request_id);

#endif
