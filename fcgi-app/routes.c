/* routes: the route table and its matcher (see routes.h). */
#include "routes.h"

#include <string.h>

struct route_def {
    enum route route;
    const char *name;
    const char *allow;  /* ", "-separated */
    const char *prefix; /* the whole path when there is no argument */
    bool arg;           /* an argument follows prefix: */
    const char *suffix; /* up to the next '/', which starts suffix; NULL: the rest */
};

static const struct route_def defs[] = {
    {ROUTE_CHAT, "chat", "POST", "/api/chat", false, NULL},
    {ROUTE_RESUME, "resume", "GET", "/api/chat/", true, "/events"},
    {ROUTE_CANCEL, "cancel", "POST", "/api/chat/", true, "/cancel"},
    {ROUTE_FEEDBACK, "feedback", "POST", "/api/chat/", true, "/feedback"},
    {ROUTE_TRANSLATE, "translate", "POST", "/api/translate", false, NULL},
    {ROUTE_SESSION, "session", "DELETE", "/api/session/", true, NULL},
    {ROUTE_HEALTH, "health", "GET, HEAD", "/api/health", false, NULL},
    {ROUTE_METRICS, "metrics", "GET, HEAD", "/api/metrics", false, NULL},
    {ROUTE_STATUS, "status", "GET, HEAD", "/status", false, NULL},
    {ROUTE_HANDOFF, "handoff", "POST", "/api/chat/", true, "/handoff"},
};
enum { N_DEFS = sizeof defs / sizeof defs[0] };
_Static_assert((int)N_DEFS == (int)ROUTE_OTHER, "one definition per endpoint but OTHER");

/* Whether path is d's; sets the argument. */
static bool path_is(const struct route_def *d, const char *path, const char **arg,
                    size_t *arg_len)
{
    size_t n = strlen(d->prefix);
    if (!d->arg)
        return strcmp(path, d->prefix) == 0;
    if (strncmp(path, d->prefix, n) != 0)
        return false;
    const char *rest = path + n;
    size_t len = d->suffix ? strcspn(rest, "/") : strlen(rest);
    if (d->suffix && strcmp(rest + len, d->suffix) != 0)
        return false;
    *arg = rest;
    *arg_len = len;
    return true;
}

static bool method_in(const char *method, const char *allow)
{
    size_t n = strlen(method);
    for (const char *p = allow; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, method, n) == 0)
            return true;
        p += k;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return false;
}

enum route routes_match(const char *method, const char *path, struct route_match *m)
{
    struct route_match r = {ROUTE_OTHER, false, "", NULL, 0};
    for (size_t i = 0; i < N_DEFS; i++)
        if (path_is(&defs[i], path, &r.arg, &r.arg_len)) {
            r.route = defs[i].route;
            r.allow = defs[i].allow;
            r.method_ok = method_in(method, defs[i].allow);
            break;
        }
    if (m)
        *m = r;
    return r.route;
}

const char *routes_name(enum route r)
{
    return (unsigned)r < N_DEFS ? defs[r].name : "other";
}
