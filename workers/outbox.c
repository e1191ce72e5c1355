/* outbox: queued event appends and XACKs, sent pipelined (see outbox.h). */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/log.h"
#include "redis/append.h"
#include "redis/contract.h"

enum out_kind { OUT_EVENT, OUT_ACK, OUT_CMD };

struct out_item {
    struct out_item *next;
    enum out_kind kind;
    bool eval;          /* the script cache was flushed: send the script text (EVAL) */
    long ttl_ms;
    size_t data_len;    /* bytes counted in ob->bytes */
    /* EVENT: log key, channel, type, data, each NUL-terminated; ACK: the entry id;
     * CMD: key is the command's second argument (for logs) */
    const char *key, *channel, *type, *data;
    int argc;           /* CMD: argv and lens are one allocation, owned */
    const char **argv;
    size_t *lens;
    char s[];
};

void outbox_init(struct outbox *ob, const char *ack_stream, size_t max_bytes)
{
    memset(ob, 0, sizeof *ob);
    ob->ack_stream = ack_stream;
    ob->max_bytes = max_bytes;
}

static void item_free(struct outbox *ob, struct out_item *it)
{
    ob->bytes -= it->data_len;
    ob->n--;
    free(it->argv);
    free(it);
}

void outbox_free(struct outbox *ob)
{
    while (ob->head) {
        struct out_item *it = ob->head;
        ob->head = it->next;
        item_free(ob, it);
    }
    ob->tail = NULL;
}

static void push(struct outbox *ob, struct out_item *it)
{
    it->next = NULL;
    if (ob->tail)
        ob->tail->next = it;
    else
        ob->head = it;
    ob->tail = it;
    ob->n++;
}

/* Copies s (n bytes) into the item's trailing storage at *p and NUL-terminates it. */
static const char *stash(char **p, const char *s, size_t n)
{
    char *d = *p;
    memcpy(d, s, n);
    d[n] = '\0';
    *p = d + n + 1;
    return d;
}

int outbox_event(struct outbox *ob, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, bool must)
{
    if (!must && ob->bytes + data_len > ob->max_bytes)
        return -1;
    size_t kl = strlen(log_key), cl = strlen(channel), tl = strlen(type);
    struct out_item *it = xmalloc(sizeof *it + kl + cl + tl + data_len + 4);
    char *p = it->s;
    it->kind = OUT_EVENT;
    it->eval = false;
    it->argc = 0;
    it->argv = NULL;
    it->lens = NULL;
    it->ttl_ms = ttl_ms;
    it->data_len = data_len;
    it->key = stash(&p, log_key, kl);
    it->channel = stash(&p, channel, cl);
    it->type = stash(&p, type, tl);
    it->data = stash(&p, data, data_len);
    ob->bytes += data_len;
    push(ob, it);
    return 0;
}

void outbox_ack(struct outbox *ob, const char *entry_id)
{
    size_t n = strlen(entry_id);
    struct out_item *it = xmalloc(sizeof *it + n + 1);
    char *p = it->s;
    it->kind = OUT_ACK;
    it->eval = false;
    it->data_len = 0;
    it->key = stash(&p, entry_id, n);
    it->channel = it->type = it->data = NULL;
    it->argc = 0;
    it->argv = NULL;
    it->lens = NULL;
    push(ob, it);
}

int outbox_command(struct outbox *ob, int argc, const char *const *argv, const size_t *lens,
                   bool must)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += lens[i];
    if (argc < 1 || (!must && ob->bytes + total > ob->max_bytes))
        return -1;
    struct out_item *it = xmalloc(sizeof *it + total + (size_t)argc);
    /* the pointer and length arrays in one block, apart from the bytes (alignment) */
    void *arrays = xmalloc((size_t)argc * (sizeof *it->argv + sizeof *it->lens));
    it->argv = arrays;
    it->lens = (size_t *)(it->argv + argc);
    char *p = it->s;
    for (int i = 0; i < argc; i++) {
        it->argv[i] = stash(&p, argv[i], lens[i]);
        it->lens[i] = lens[i];
    }
    it->kind = OUT_CMD;
    it->eval = false;
    it->ttl_ms = 0;
    it->argc = argc;
    it->data_len = total;
    it->key = argc > 1 ? it->argv[1] : it->argv[0];
    it->channel = it->type = it->data = NULL;
    ob->bytes += total;
    push(ob, it);
    return 0;
}

static void append_command(struct outbox *ob, redisContext *c, const struct out_item *it)
{
    if (it->kind == OUT_EVENT) {
        struct event_append_args a;
        event_append_args_fill(&a, it->eval, it->key, it->channel, it->type, it->data,
                               it->data_len, it->ttl_ms);
        redisAppendCommandArgv(c, a.argc, a.argv, a.argvlen);
    } else if (it->kind == OUT_CMD) {
        redisAppendCommandArgv(c, it->argc, it->argv, it->lens);
    } else {
        const char *argv[] = {"XACK", ob->ack_stream, KEYS_GROUP, it->key};
        size_t lens[] = {4, strlen(ob->ack_stream), strlen(KEYS_GROUP), strlen(it->key)};
        redisAppendCommandArgv(c, 4, argv, lens);
    }
}

/* Puts the items that must go again (NOSCRIPT) back at the head, in their order. */
static void requeue(struct outbox *ob, struct out_item *first, struct out_item *last, size_t n)
{
    if (!first)
        return;
    last->next = ob->head;
    ob->head = first;
    if (!ob->tail)
        ob->tail = last;
    ob->n += n;
}

int outbox_flush(struct outbox *ob, redisContext *c, char *errstr, size_t errlen)
{
    unsigned long refused = ob->refused;
    while (ob->head) {
        size_t batch = 0;
        for (struct out_item *it = ob->head; it && batch < OUTBOX_BATCH; it = it->next, batch++)
            append_command(ob, c, it);
        /* Items that got NOSCRIPT go again with EVAL. Another client loading the script
         * between two of our commands could let a later event of the batch land before a
         * retried one; that needs a SCRIPT FLUSH racing a concurrent load, and is accepted. */
        struct out_item *retry = NULL, *retry_tail = NULL;
        size_t n_retry = 0;
        for (size_t i = 0; i < batch; i++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
                errstr_set(errstr, errlen, "pipelined write: %s",
                           c->err ? c->errstr : "no reply");
                requeue(ob, retry, retry_tail, n_retry);
                return -1;
            }
            struct out_item *it = ob->head;
            ob->head = it->next;
            if (!ob->head)
                ob->tail = NULL;
            if (it->kind == OUT_EVENT && !it->eval && event_reply_noscript(r)) {
                it->eval = true;
                it->next = NULL;
                ob->n--;
                if (retry_tail)
                    retry_tail->next = it;
                else
                    retry = it;
                retry_tail = it;
                n_retry++;
            } else {
                if (r->type == REDIS_REPLY_ERROR && ob->refused++ == refused) /* once a flush */
                    log_warn("Redis refused %s %s: %s",
                             it->kind == OUT_EVENT ? "an event for"
                             : it->kind == OUT_ACK ? "the XACK of"
                                                   : "a write to",
                             it->key, r->str);
                if (it->kind == OUT_ACK && ob->on_ack)
                    ob->on_ack(ob->on_ack_arg, it->key);
                item_free(ob, it);
            }
            freeReplyObject(r);
        }
        requeue(ob, retry, retry_tail, n_retry);
    }
    if (ob->refused - refused > 1)
        log_warn("Redis refused %lu writes in this flush", ob->refused - refused);
    return 0;
}
