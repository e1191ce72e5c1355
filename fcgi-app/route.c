/* route: the router — the route table's endpoint, the shared checks, the handler (see
 * route.h). */
#include "route.h"

#include <stdio.h>
#include <string.h>

#include "chat.h"
#include "core/clock.h"
#include "core/log.h"
#include "feedback.h"
#include "handoff.h"
#include "health.h"
#include "observe.h"
#include "resume.h"
#include "session.h"
#include "translate.h"

static void method_not_allowed(struct req *rq, const char *allow)
{
    char msg[96], hdr[64];
    snprintf(msg, sizeof msg, "%s is not allowed here; use %s", rq->method, allow);
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    reply_error(rq, 405, "method_not_allowed", msg, hdr);
}

/* /api/chat/<request>/events, /cancel and /handoff: the request id must be nginx's kind. */
static void route_chat_request(struct req *rq, const struct route_match *m)
{
    if (!chatreq_request_id_valid(m->arg, m->arg_len)) {
        reply_error(rq, 400, "bad_request", "the request id is not 32 lowercase hex digits",
                    NULL);
        return;
    }
    char id[CHATREQ_REQUEST_ID_LEN + 1];
    memcpy(id, m->arg, m->arg_len);
    id[m->arg_len] = '\0';
    if (m->route == ROUTE_RESUME)
        resume_get(rq, id);
    else if (m->route == ROUTE_HANDOFF)
        handoff_post(rq, id);
    else if (m->route == ROUTE_FEEDBACK)
        feedback_post(rq, id);
    else
        resume_cancel(rq, id);
}

/* /api/session/<id>: the rest of the path, so it is NUL-terminated. */
static void route_session(struct req *rq, const struct route_match *m)
{
    if (!chatreq_session_id_valid(m->arg, m->arg_len)) {
        reply_error(rq, 400, "bad_request",
                    "the session id is not 8 to 64 characters of A-Z a-z 0-9 _ -", NULL);
        return;
    }
    session_delete(rq, m->arg);
}

/* An endpoint the table matched, with a method it takes. */
static void route_dispatch(struct req *rq, const struct route_match *m)
{
    switch (m->route) {
    case ROUTE_CHAT: chat_post(rq); break;
    case ROUTE_RESUME:
    case ROUTE_CANCEL:
    case ROUTE_HANDOFF:
    case ROUTE_FEEDBACK: route_chat_request(rq, m); break;
    case ROUTE_TRANSLATE: translate_post(rq); break;
    case ROUTE_SESSION: route_session(rq, m); break;
    case ROUTE_HEALTH: health_get(rq); break;
    case ROUTE_METRICS:
    case ROUTE_STATUS: observe_get(rq); break;
    case ROUTE_OTHER:
    case ROUTE_COUNT: reply_error(rq, 404, "not_found", "no such endpoint", NULL); break;
    }
}

/* The path for the log line, with control bytes shown as '?': it comes from the client. */
static void log_safe(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
}

/* A session id grants its conversation: a path under /api/session/ is logged as
 * /api/session/:id, whatever follows (a valid id or not, any method). */
static void log_path(const char *path, char *out, size_t n)
{
    static const char session[] = "/api/session/";
    if (strncmp(path, session, sizeof session - 1) == 0)
        snprintf(out, n, "%s:id", session);
    else
        log_safe(path, out, n);
}

void route_handle(struct req *rq)
{
    struct route_match m;
    rq->route = routes_match(rq->method, rq->path, &m);
    if (rq->too_long && !rq->path[0])
        reply_error(rq, 404, "not_found", "no such endpoint", NULL);
    else if (!rq->authorized && rq->route != ROUTE_HEALTH) /* health: load balancers */
        reply_error(rq, 401, "unauthorized",
                    "an API key is required: Authorization: Bearer <key> or X-API-Key: <key>",
                    "WWW-Authenticate: Bearer realm=\"dual-nova\"\r\n");
    else if (rq->route == ROUTE_OTHER)
        reply_error(rq, 404, "not_found", "no such endpoint", NULL);
    else if (!m.method_ok)
        method_not_allowed(rq, m.allow);
    else
        route_dispatch(rq, &m);
    char path[128], method[16];
    log_path(rq->path, path, sizeof path);
    log_safe(rq->method, method, sizeof method);
    log_event(LOG_INFO, rq->id, "request", "method=%s path=%s status=%d elapsed_ms=%lld "
              "client_gone=%d", method, path, rq->status, clock_mono_ms() - rq->t0,
              rq->client_gone);
}
