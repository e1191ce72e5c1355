/* bedrock: the client: one libcurl multi handle carrying many calls, driven by the program's
 * event loop through bedrock_client_fd/_timeout_ms/_process (see bedrock.h).
 *
 * Owns the multi handle, its epoll set and timer, the wakeup eventfd, the list of open calls
 * and the queue of starts and cancels; bedrock_call.c owns each call's request, transfer and
 * result. libcurl forbids multi calls from inside its callbacks, so starting and cancelling
 * only queue the call on c->todo; bedrock_client_process() applies the queue outside any
 * callback. */
#include "aws/bedrock.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aws/bedrock_call.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/wake.h"

/* How often open calls are checked against the idle timeout, and so its precision. */
#define BR_IDLE_SCAN_MS 100

struct bedrock_client {
    struct bedrock_config cfg;
    struct bedrock_call_env env;   /* lent to every call: points into cfg and the hosts */
    CURLM *multi;
    char runtime_host[256];        /* Host header values (signed and sent) */
    char agent_host[256];
    struct bedrock_call *calls;    /* doubly linked: every call not yet done */
    size_t n_active;
    struct bedrock_call *todo;     /* singly linked: calls to add, cancel or fail */
    double last_idle_scan;
    /* libcurl's sockets live in an epoll set (CURLMOPT_SOCKETFUNCTION), with the wakeup
     * eventfd, and its timer in timer_at, so a turn touches only the sockets that are ready:
     * curl_multi_poll and curl_multi_perform walk every transfer on every call, which costs
     * O(open streams). The epoll set is also the one descriptor a program's loop waits on. */
    int epfd;
    int wakefd;            /* bedrock_client_wakeup rings it */
    double timer_at;       /* when libcurl wants CURL_SOCKET_TIMEOUT (ms), < 0: never */
};

/* "https://host:port/..." → the Host header libcurl would send ("host" or "host:port"). */
static int endpoint_host(const char *endpoint, char *out, size_t outlen, char *errstr,
                         size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(errstr, errlen, "endpoint \"%s\" is not a URL", endpoint);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(errstr, errlen, "endpoint \"%s\": scheme must be http or https", endpoint);
        goto out;
    }
    const char *dflt = strcmp(scheme, "https") == 0 ? "443" : "80";
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && strcmp(port, dflt) != 0)
        snprintf(out, outlen, "%s:%s", host, port);
    else
        snprintf(out, outlen, "%s", host);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

void bedrock_config_defaults(struct bedrock_config *c, const char *region)
{
    memset(c, 0, sizeof *c);
    snprintf(c->region, sizeof c->region, "%s", region && *region ? region : "ap-northeast-1");
    snprintf(c->runtime_endpoint, sizeof c->runtime_endpoint,
             "https://bedrock-runtime.%s.amazonaws.com", c->region);
    snprintf(c->agent_endpoint, sizeof c->agent_endpoint,
             "https://bedrock-agent-runtime.%s.amazonaws.com", c->region);
    c->connect_timeout_ms = 5000;
    c->idle_timeout_s = 60;
    c->max_response_bytes = 4u * 1024u * 1024u;
}

/* ---- client ------------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* CURLMOPT_SOCKETFUNCTION: mirror libcurl's interest in a socket into the epoll set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *user, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct bedrock_client *c = user;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* ENOENT/EBADF: already gone */
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) < 0 &&
        (errno != ENOENT || epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) < 0)) {
        log_error("epoll_ctl(%d): %s", (int)s, strerror(errno));
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: remember when libcurl wants to be called for its timeouts. */
static int on_timer(CURLM *multi, long timeout_ms, void *user)
{
    (void)multi;
    struct bedrock_client *c = user;
    c->timer_at = timeout_ms < 0 ? -1.0 : clock_mono_ms_f() + (double)timeout_ms;
    return 0;
}

struct bedrock_client *bedrock_client_new(const struct bedrock_config *cfg,
                                          struct creds_provider *creds, char *errstr,
                                          size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    struct bedrock_client *c = xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    if (endpoint_host(cfg->runtime_endpoint, c->runtime_host, sizeof c->runtime_host, errstr,
                      errlen) < 0 ||
        endpoint_host(cfg->agent_endpoint, c->agent_host, sizeof c->agent_host, errstr,
                      errlen) < 0) {
        free(c);
        return NULL;
    }
    c->env = (struct bedrock_call_env){
        .creds = creds,
        .tok = json_tokener_new(),
        .region = c->cfg.region,
        .connect_timeout_ms = c->cfg.connect_timeout_ms,
        .max_response_bytes = c->cfg.max_response_bytes,
        .runtime_endpoint = c->cfg.runtime_endpoint,
        .runtime_host = c->runtime_host,
        .agent_endpoint = c->cfg.agent_endpoint,
        .agent_host = c->agent_host,
        .guardrail = c->cfg.guardrail.id[0] ? &c->cfg.guardrail : NULL,
    };
    c->multi = curl_multi_init();
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->wakefd = wake_open();
    c->timer_at = -1;
    struct epoll_event wev = {.events = EPOLLIN, .data.fd = c->wakefd};
    if (!c->multi || !c->env.tok || c->epfd < 0 || c->wakefd < 0 ||
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wakefd, &wev) < 0) {
        snprintf(errstr, errlen, "curl_multi_init/json_tokener_new/epoll/eventfd failed");
        if (c->multi)
            curl_multi_cleanup(c->multi);
        if (c->env.tok)
            json_tokener_free(c->env.tok);
        if (c->epfd >= 0)
            close(c->epfd);
        if (c->wakefd >= 0)
            close(c->wakefd);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    if (cfg->max_host_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, cfg->max_host_connections);
    return c;
}

size_t bedrock_client_active(const struct bedrock_client *c)
{
    return c->n_active;
}

void bedrock_client_wakeup(struct bedrock_client *c)
{
    wake_signal(c->wakefd);
}

/* ---- the calls' queue ------------------------------------------------------------------- */

static void todo_push(struct bedrock_call *call)
{
    if (call->on_todo)
        return;
    call->on_todo = true;
    call->todo_next = call->client->todo;
    call->client->todo = call;
}

static void todo_remove(struct bedrock_call *call)
{
    if (!call->on_todo)
        return;
    for (struct bedrock_call **pp = &call->client->todo; *pp; pp = &(*pp)->todo_next)
        if (*pp == call) {
            *pp = call->todo_next;
            break;
        }
    call->on_todo = false;
}

/* Takes a call out of the client and ends it (on_done, then freed). Never called from inside
 * a libcurl callback. */
static void call_complete(struct bedrock_call *call)
{
    struct bedrock_client *c = call->client;
    if (call->state == BR_CALL_RUNNING)
        curl_multi_remove_handle(c->multi, call->easy);
    call->state = BR_CALL_DONE;
    todo_remove(call);
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->n_active--;
    bedrock_call_end(call);
}

/* A new call, linked into the client and queued: it starts, or ends if its preparation failed,
 * at the next bedrock_client_process(). */
static struct bedrock_call *call_open(struct bedrock_client *c, enum bedrock_call_kind kind,
                                      const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = bedrock_call_new(&c->env, kind, cb, user);
    call->client = c;
    call->state = BR_CALL_QUEUED;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->n_active++;
    todo_push(call);
    return call;
}

struct bedrock_call *bedrock_converse_stream(struct bedrock_client *c,
                                             const struct bedrock_converse_req *req,
                                             const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = call_open(c, BR_CALL_STREAM, cb, user);
    bedrock_call_prepare_converse(call, req);
    return call;
}

struct bedrock_call *bedrock_converse(struct bedrock_client *c,
                                      const struct bedrock_converse_req *req,
                                      const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = call_open(c, BR_CALL_CONVERSE, cb, user);
    bedrock_call_prepare_converse(call, req);
    return call;
}

struct bedrock_call *bedrock_retrieve(struct bedrock_client *c, const char *kb_id,
                                      const char *query, int n_results,
                                      const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = call_open(c, BR_CALL_RETRIEVE, cb, user);
    bedrock_call_prepare_retrieve(call, kb_id, query, n_results);
    return call;
}

size_t bedrock_call_request_bytes(const struct bedrock_call *call)
{
    return call->body.data ? call->body.cap : 0;
}

void bedrock_call_cancel(struct bedrock_call *call)
{
    if (call->state == BR_CALL_DONE || call->canceled)
        return;
    call->canceled = true;
    todo_push(call);
}

/* Applies queued starts, cancels and early failures, outside any libcurl callback. */
static void client_apply_todo(struct bedrock_client *c)
{
    while (c->todo) {
        struct bedrock_call *call = c->todo;
        c->todo = call->todo_next;
        call->on_todo = false;
        if (call->canceled || call->res.err.code != BR_OK || call->state == BR_CALL_RUNNING) {
            call_complete(call);
            continue;
        }
        CURLMcode mc = curl_multi_add_handle(c->multi, call->easy);
        if (mc != CURLM_OK) {
            bedrock_call_fail(call, BR_ERR_TRANSPORT, true, "curl_multi_add_handle: %s",
                              curl_multi_strerror(mc));
            call_complete(call);
            continue;
        }
        call->state = BR_CALL_RUNNING;
    }
}

/* Ends the calls that have received nothing for the idle timeout. Ours, not libcurl's
 * LOW_SPEED_TIME: that one averages over a window of seconds, so a burst of tokens before a
 * stall hides the stall for a while; a total timeout would cut long, healthy streams. */
static void client_check_idle(struct bedrock_client *c)
{
    double now = clock_mono_ms_f();
    if (now - c->last_idle_scan < BR_IDLE_SCAN_MS)
        return;
    c->last_idle_scan = now;
    double limit = (double)c->cfg.idle_timeout_s * 1000.0;
    for (struct bedrock_call *call = c->calls; call; call = call->next) {
        if (call->state != BR_CALL_RUNNING || now - call->t_last < limit)
            continue;
        bedrock_call_fail(call, BR_ERR_IDLE_TIMEOUT, true, "no data from Bedrock for %ld s",
                          c->cfg.idle_timeout_s);
        todo_push(call);
    }
}

/* ---- the loop's hooks -------------------------------------------------------------------- */

int bedrock_client_fd(const struct bedrock_client *c)
{
    return c->epfd;
}

long bedrock_client_timeout_ms(const struct bedrock_client *c)
{
    if (c->todo)
        return 0; /* queued starts, cancels and early ends are due now */
    double due = -1; /* on clock_mono_ms_f(); < 0: nothing due */
    if (c->n_active > 0)
        due = c->last_idle_scan + BR_IDLE_SCAN_MS; /* keep the idle clock */
    if (c->timer_at >= 0 && (due < 0 || c->timer_at < due))
        due = c->timer_at;
    if (due < 0)
        return -1;
    double wait = ceil(due - clock_mono_ms_f()); /* rounded up: never wake just before it */
    return wait <= 0 ? 0 : wait >= (double)LONG_MAX ? LONG_MAX : (long)wait;
}

int bedrock_client_process(struct bedrock_client *c, char *errstr, size_t errlen)
{
    enum { MAX_EVENTS = 256 };
    client_apply_todo(c);
    int running = 0;
    CURLMcode mc = CURLM_OK;
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(c->epfd, evs, MAX_EVENTS, 0);
    for (int i = 0; i < n && mc == CURLM_OK; i++) {
        if (evs[i].data.fd == c->wakefd) {
            wake_drain(c->wakefd);
            continue;
        }
        int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        mc = curl_multi_socket_action(c->multi, evs[i].data.fd, flags, &running);
    }
    if (mc == CURLM_OK && c->timer_at >= 0 && clock_mono_ms_f() >= c->timer_at) {
        c->timer_at = -1; /* the call may arm a new one */
        mc = curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    if (mc != CURLM_OK) {
        snprintf(errstr, errlen, "curl multi: %s", curl_multi_strerror(mc));
        return -1;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct bedrock_call *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        bedrock_call_finish(call, msg->data.result);
        call_complete(call);
    }
    client_check_idle(c);
    client_apply_todo(c); /* cancels, idle ends and starts made from the callbacks just run */
    return (int)c->n_active;
}

int bedrock_client_wait(struct bedrock_client *c, int timeout_ms, char *errstr, size_t errlen)
{
    long due = bedrock_client_timeout_ms(c);
    if (due >= 0 && (timeout_ms < 0 || due < timeout_ms))
        timeout_ms = due > INT_MAX ? INT_MAX : (int)due;
    struct pollfd p = {c->epfd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR) {
        snprintf(errstr, errlen, "poll: %s", strerror(errno));
        return -1;
    }
    return bedrock_client_process(c, errstr, errlen);
}

void bedrock_client_free(struct bedrock_client *c)
{
    if (!c)
        return;
    while (c->calls) {
        c->calls->canceled = true;
        call_complete(c->calls);
    }
    curl_multi_cleanup(c->multi);
    json_tokener_free(c->env.tok);
    close(c->epfd);
    close(c->wakefd);
    free(c);
}
