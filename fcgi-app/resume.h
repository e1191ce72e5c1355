/* resume: the routes on a request already started, found by the meta event its transcript
 * begins with (store_read_meta), which names its phases and its translation, so its jobs' ids
 * are rebuilt as plan.h and translate.h name them.
 *
 *   resume_get     GET /api/chat/<request>/events: replay the transcript after Last-Event-ID
 *                  (or ?after=) a page at a time as the client reads, then continue live; at
 *                  most NOVA_MAX_RESUMES_PER_REQUEST at once (else 429 rate_limited); meta is
 *                  replayed as the transcript keeps it, without the session id
 *   resume_cancel  POST /api/chat/<request>/cancel: stop the request's jobs (202)
 *
 * A resume subscribes before it reads the transcript (so nothing published meanwhile is
 * missed), and saves the session turn when it is the first of the request's streams to see
 * `done` (session.h). */
#ifndef NOVA_RESUME_H
#define NOVA_RESUME_H

#include "req.h"

void resume_get(struct req *rq, const char *request_id);
void resume_cancel(struct req *rq, const char *request_id);

#endif
