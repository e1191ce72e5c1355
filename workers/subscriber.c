/* subscriber: the thread that listens on nova:cancel:{queue} and passes job ids to the engine.
 *
 * One dedicated connection in subscribe mode, read with poll() on its socket and on an eventfd
 * that main signals at exit, so the thread neither spins nor needs a read timeout to notice
 * the end. Each message is a job id; it is queued for the engine (bounded ring, oldest dropped
 * when full) and the engine's poll is woken. After a lost connection it resubscribes with
 * capped backoff and raises w->resync: cancels published meanwhile were missed, so the engine
 * looks for the cancel markers of its running jobs. */
#include "subscriber.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/errstr.h"
#include "core/log.h"
#include "worker.h"

static void cancel_push(struct worker *w, const char *id, size_t n)
{
    pthread_mutex_lock(&w->mu);
    if (w->cancel_len == WORKER_CANCEL_RING) { /* full: the oldest cancel is dropped */
        w->cancel_head = (w->cancel_head + 1) % WORKER_CANCEL_RING;
        w->cancel_len--;
        log_warn("cancel queue full: dropped the oldest cancel");
    }
    char *slot = w->cancels[(w->cancel_head + w->cancel_len) % WORKER_CANCEL_RING];
    memcpy(slot, id, n);
    slot[n] = '\0';
    w->cancel_len++;
    pthread_mutex_unlock(&w->mu);
    bedrock_client_wakeup(w->client);
}

/* A pub/sub push: ["message", channel, payload]. Anything else is ignored. */
static void handle_reply(struct worker *w, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *p = r->element[2];
    if ((size_t)p->len >= JOB_ID_MAX || !job_id_valid(p->str, (size_t)p->len)) {
        log_warn("ignoring a cancel for an invalid job id (%zu bytes)", (size_t)p->len);
        return;
    }
    log_debug("cancel requested for %s", p->str);
    cancel_push(w, p->str, (size_t)p->len);
}

/* Waits up to ms for the stop eventfd; true when it fired. */
static bool wait_stop(struct worker *w, int ms)
{
    struct pollfd pfd = {w->stop_efd, POLLIN, 0};
    int n;
    do
        n = poll(&pfd, 1, ms);
    while (n < 0 && errno == EINTR);
    return n > 0;
}

static redisContext *subscribe(struct worker *w, char *err, size_t errlen)
{
    redisContext *c = rconn_connect(&w->addr, WORKER_REDIS_TIMEOUT_MS, err, errlen);
    if (!c)
        return NULL;
    redisReply *r = redisCommand(c, "SUBSCRIBE %s", w->cancel_channel);
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "subscribe") == 0;
    if (!ok)
        errstr_set(err, errlen, "SUBSCRIBE %s: %s", w->cancel_channel,
                   r && r->type == REDIS_REPLY_ERROR ? r->str
                   : c->err                          ? c->errstr
                                                     : "unexpected reply");
    if (r)
        freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Reads pushes until the connection fails (returns false) or the stop fires (true). */
static bool listen_loop(struct worker *w, redisContext *c)
{
    for (;;) {
        /* Replies already buffered (read along with the SUBSCRIBE answer) come first. */
        void *reply = NULL;
        while (redisGetReplyFromReader(c, &reply) == REDIS_OK && reply) {
            handle_reply(w, reply);
            freeReplyObject(reply);
            reply = NULL;
        }
        if (c->err)
            return false;
        struct pollfd pfd[2] = {{c->fd, POLLIN, 0}, {w->stop_efd, POLLIN, 0}};
        int n = poll(pfd, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("poll: %s", strerror(errno));
            return false;
        }
        if (pfd[1].revents)
            return true;
        if (redisBufferRead(c) != REDIS_OK)
            return false;
    }
}

void *subscriber_main(void *arg)
{
    struct worker *w = arg;
    struct backoff backoff;
    backoff_init(&backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
    bool first = true, down_logged = false;
    char err[256];
    for (;;) {
        redisContext *c = subscribe(w, err, sizeof err);
        if (!c) {
            if (!down_logged)
                log_warn("cancel channel %s: %s; retrying", w->cancel_channel, err);
            down_logged = true;
            if (wait_stop(w, (int)backoff_next(&backoff)))
                return NULL;
            continue;
        }
        backoff_reset(&backoff);
        down_logged = false;
        pthread_mutex_lock(&w->mu);
        w->subscribed = true;
        w->resync = !first;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        if (!first) {
            log_info("cancel channel %s: subscribed again", w->cancel_channel);
            bedrock_client_wakeup(w->client);
        }
        first = false;
        bool stop = listen_loop(w, c);
        if (!stop)
            log_warn("cancel channel %s lost: %s; resubscribing", w->cancel_channel,
                     c->err ? c->errstr : "read failed");
        redisFree(c);
        pthread_mutex_lock(&w->mu);
        w->subscribed = false;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            return NULL;
    }
}
