/* routes: the route table of nova-fcgi — which endpoints there are, their names, and which
 * endpoint a method and path ask for, with the argument the path carries. No I/O; the one
 * place a path is matched, so the router (route.c) and the metrics' endpoint labels
 * (metrics.c) cannot disagree.
 *
 *   POST   /api/chat                    ROUTE_CHAT       chat_post      (chat.c)
 *   GET    /api/chat/<request>/events   ROUTE_RESUME     resume_get     (resume.c)
 *   POST   /api/chat/<request>/cancel   ROUTE_CANCEL     resume_cancel  (resume.c)
 *   POST   /api/chat/<request>/feedback ROUTE_FEEDBACK   feedback_post  (feedback.c)
 *   POST   /api/translate               ROUTE_TRANSLATE  translate_post (translate.c)
 *   DELETE /api/session/<id>            ROUTE_SESSION    session_delete (session.c)
 *   GET    /api/health (or HEAD)        ROUTE_HEALTH     health_get     (health.c)
 *   GET    /api/metrics (or HEAD)       ROUTE_METRICS    observe_get    (observe.c)
 *   GET    /status (or HEAD)            ROUTE_STATUS     observe_get    (observe.c)
 *   POST   /api/chat/<request>/handoff  ROUTE_HANDOFF    handoff_post   (handoff.c)
 *   any other path                      ROUTE_OTHER      404
 *
 * <request> is what lies between "/api/chat/" and the next '/'; <id> is the rest of the path.
 * Whether they are well-formed is the router's question, not the table's. */
#ifndef NOVA_ROUTES_H
#define NOVA_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

/* In the order of the metrics' endpoint labels. */
enum route {
    ROUTE_CHAT,
    ROUTE_RESUME,
    ROUTE_CANCEL,
    ROUTE_FEEDBACK,
    ROUTE_TRANSLATE,
    ROUTE_SESSION,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_STATUS,
    ROUTE_HANDOFF,
    ROUTE_OTHER,
    ROUTE_COUNT
};

struct route_match {
    enum route route;
    bool method_ok;    /* the method is one the endpoint takes */
    const char *allow; /* the methods it takes, as an Allow header lists them ("" for OTHER) */
    const char *arg;   /* the path's argument (into the path), or NULL */
    size_t arg_len;
};

/* The endpoint method and path ask for, also into *m (may be NULL). A path that names no
 * endpoint is ROUTE_OTHER, whatever the method. */
enum route routes_match(const char *method, const char *path, struct route_match *m);
/* The endpoint's name, as the metrics label it: "chat", "resume", ..., "other". */
const char *routes_name(enum route r);

#endif
