/* app: what every request handler of a nova-fcgi child shares — the settings, the Redis
 * command pool, the pub/sub dispatcher and the drain state.
 *
 * The child (child.c) owns it and its parts; handlers only read it. draining and
 * drain_deadline_ms are written by the child's main thread when SIGTERM arrives and read by
 * the stream threads, which end their streams at the deadline. */
#ifndef NOVA_APP_H
#define NOVA_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/config.h"
#include "dispatch.h"
#include "redis/rconn.h"

#define APP_REDIS_WAIT_MS 2000     /* waiting for a pooled connection */
#define APP_SUBSCRIBE_WAIT_MS 5000 /* waiting for Redis to confirm a SUBSCRIBE */

struct product;
struct streams;
struct relay;

struct app {
    const struct nova_config *cfg;
    const struct product *product; /* glossary, prompts, prices, knowledge base (product.h) */
    struct rconn_addr redis;
    struct rpool *pool;
    struct dispatch *dispatch;
    struct streams *streams;       /* NOVA_FCGI_STREAMS=loop: the loop open streams go to */
    /* streams_adopt, set with streams (relay.c calls it through here: streams.c uses relay) */
    int (*stream_adopt)(struct streams *ss, struct relay *r);
    atomic_bool draining;
    atomic_llong drain_deadline_ms; /* monotonic; meaningful while draining */
};

/* A pooled Redis connection whose socket is quiet (not closed by Redis, nothing unasked to
 * read: a peek, not a round trip), waiting up to APP_REDIS_WAIT_MS.
 * After Redis restarted every idle connection in the pool is dead; they are dropped here, one
 * after the other, instead of failing the command the caller was about to send (which may
 * not be safe to repeat). NULL with errstr when Redis is unreachable. Give it back with
 * app_redis_put. */
redisContext *app_redis(struct app *app, char *errstr, size_t errlen);
void app_redis_put(struct app *app, redisContext *c);

/* Fills out with n random lowercase hex digits and a NUL (out has n + 1 bytes). */
void app_random_hex(char *out, size_t n);

#endif
