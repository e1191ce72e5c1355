/* outbox: queued event appends and retirements, sent pipelined (see outbox.h). */
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
    unsigned long seq;  /* EVENT: its number in its job's run, 0 for none */
    long token;         /* EVENT with seq: the run's fencing token, 0 for none */
    bool ends;          /* EVENT with seq: the job's last event */
    const char *seq_key, *seq_field; /* EVENT with seq: nova:seq:<request>, the run's field */
    /* EVENT: log key, channel, type, data, each NUL-terminated; ACK: the entry id;
     * CMD: key is the command's second argument (for logs) */
    const char *key, *channel, *type, *data;
    int argc;           /* CMD, ACK: argv and lens are one allocation, owned */
    const char **argv;
    size_t *lens;
    char s[];
};

void outbox_init(struct outbox *ob, size_t max_bytes)
{
    memset(ob, 0, sizeof *ob);
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
                 const char *data, size_t data_len, long ttl_ms, const struct event_seq *seq,
                 bool must)
{
    if (!must && ob->bytes + data_len > ob->max_bytes)
        return -1;
    size_t kl = strlen(log_key), cl = strlen(channel), tl = strlen(type);
    size_t sk = seq ? strlen(seq->key) : 0, sf = seq ? strlen(seq->field) : 0;
    struct out_item *it = xmalloc(sizeof *it + kl + cl + tl + data_len + sk + sf + 6);
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
    it->seq = seq ? seq->n : 0;
    it->token = seq ? seq->token : 0;
    it->ends = seq && seq->ends;
    it->seq_key = seq ? stash(&p, seq->key, sk) : NULL;
    it->seq_field = seq ? stash(&p, seq->field, sf) : NULL;
    ob->bytes += data_len;
    push(ob, it);
    return 0;
}

/* A command item (CMD, or ACK with entry: the entry id it retires, kept for on_ack). */
static int push_command(struct outbox *ob, const char *entry, int argc, const char *const *argv,
                        const size_t *lens, bool must)
{
    size_t total = 0, entry_n = entry ? strlen(entry) + 1 : 0;
    for (int i = 0; i < argc; i++)
        total += lens[i];
    if (argc < 1 || (!must && ob->bytes + total > ob->max_bytes))
        return -1;
    struct out_item *it = xmalloc(sizeof *it + total + (size_t)argc + entry_n);
    /* the pointer and length arrays in one block, apart from the bytes (alignment) */
    void *arrays = xmalloc((size_t)argc * (sizeof *it->argv + sizeof *it->lens));
    it->argv = arrays;
    it->lens = (size_t *)(it->argv + argc);
    char *p = it->s;
    for (int i = 0; i < argc; i++) {
        it->argv[i] = stash(&p, argv[i], lens[i]);
        it->lens[i] = lens[i];
    }
    it->kind = entry ? OUT_ACK : OUT_CMD;
    it->eval = false;
    it->seq = 0;
    it->token = 0;
    it->ends = false;
    it->seq_key = it->seq_field = NULL;
    it->ttl_ms = 0;
    it->argc = argc;
    it->data_len = total;
    it->key = entry ? stash(&p, entry, entry_n - 1) : argc > 1 ? it->argv[1] : it->argv[0];
    it->channel = it->type = it->data = NULL;
    ob->bytes += total;
    push(ob, it);
    return 0;
}

int outbox_command(struct outbox *ob, int argc, const char *const *argv, const size_t *lens,
                   bool must)
{
    return push_command(ob, NULL, argc, argv, lens, must);
}

void outbox_retire(struct outbox *ob, const char *entry_id, int argc, const char *const *argv,
                   const size_t *lens)
{
    push_command(ob, entry_id, argc, argv, lens, true);
}

/* eval: send the script's text (EVAL) whatever the item says: the first event of a
 * transaction, so no EVALSHA inside it can meet an empty script cache. */
static void append_command(redisContext *c, const struct out_item *it, bool eval)
{
    if (it->kind == OUT_EVENT) {
        struct event_append_args a;
        struct event_seq seq = {it->seq_key, it->seq_field, it->seq, it->token, it->ends};
        event_append_args_fill_seq(&a, eval || it->eval, it->key, it->channel, it->type,
                                   it->data, it->data_len, it->ttl_ms, it->seq ? &seq : NULL);
        redisAppendCommandArgv(c, a.argc, a.argv, a.argvlen);
    } else {
        redisAppendCommandArgv(c, it->argc, it->argv, it->lens);
    }
}

/* Puts the items that must go again (NOSCRIPT, refused) back at the head, in their order. */
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

static const char *item_what(const struct out_item *it)
{
    return it->kind == OUT_EVENT ? "an event for" : it->kind == OUT_ACK ? "the retiring of"
                                                                        : "a write to";
}

/* The items of a flush that go again, in order. */
struct again {
    struct out_item *first, *last;
    size_t n;
    bool refused; /* one of them Redis refused for now: the flush stops after this batch */
};

/* Takes the reply of the head item: done with it (applied, applied before, or refused for
 * good: logged once a flush, counted, dropped), or onto again (NOSCRIPT: with EVAL; refused
 * for now). */
static void take_reply(struct outbox *ob, const redisReply *r, unsigned long refused_before,
                       struct again *ag, char *errstr, size_t errlen)
{
    struct out_item *it = ob->head;
    ob->head = it->next;
    if (!ob->head)
        ob->tail = NULL;
    bool noscript = it->kind == OUT_EVENT && !it->eval && event_reply_noscript(r);
    if (noscript || redis_reply_refused(r)) {
        if (noscript)
            it->eval = true;
        else if (!ag->refused) {
            ag->refused = true;
            errstr_set(errstr, errlen, "Redis refused %s %s: %s", item_what(it), it->key, r->str);
        }
        it->next = NULL;
        ob->n--;
        if (ag->last)
            ag->last->next = it;
        else
            ag->first = it;
        ag->last = it;
        ag->n++;
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && ob->refused++ == refused_before) /* once a flush */
        log_warn("Redis refused %s %s: %s", item_what(it), it->key, r->str);
    if (it->kind == OUT_EVENT && event_reply_applied(r))
        ob->resent++;
    if (it->kind == OUT_ACK && ob->on_ack)
        ob->on_ack(ob->on_ack_arg, it->key);
    item_free(ob, it);
}

static int reply_get(redisContext *c, redisReply **r, char *errstr, size_t errlen)
{
    *r = NULL;
    if (redisGetReply(c, (void **)r) != REDIS_OK || !*r) {
        errstr_set(errstr, errlen, "pipelined write: %s", c->err ? c->errstr : "no reply");
        return -1;
    }
    return 0;
}

/* Whether why, the first error of an aborted transaction (a command's refusal as it was
 * queued, or EXEC's own "EXECABORT Transaction discarded because of: <error>"), is a refusal
 * for now. */
static bool exec_refused(const char *why)
{
    const char *p = strstr(why, "because of: ");
    redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)(p ? p + 12 : why)};
    return why[0] && (redis_reply_refused(&r) && strncmp(r.str, "EXECABORT", 9) != 0);
}

int outbox_flush(struct outbox *ob, redisContext *c, char *errstr, size_t errlen)
{
    unsigned long refused = ob->refused;
    bool plain = false; /* a transaction Redis aborted for a reason of its own: once without */
    while (ob->head) {
        size_t batch = 0;
        for (struct out_item *it = ob->head; it && batch < OUTBOX_BATCH; it = it->next)
            batch++;
        bool multi = batch > 1 && !plain;
        plain = false;
        if (multi)
            redisAppendCommand(c, "MULTI");
        bool first_event = multi;
        struct out_item *it = ob->head;
        for (size_t i = 0; i < batch; i++, it = it->next) {
            append_command(c, it, first_event && it->kind == OUT_EVENT);
            if (it->kind == OUT_EVENT)
                first_event = false;
        }
        if (multi)
            redisAppendCommand(c, "EXEC");
        struct again ag = {NULL, NULL, 0, false};
        redisReply *r;
        if (!multi) {
            for (size_t i = 0; i < batch; i++) {
                if (reply_get(c, &r, errstr, errlen) < 0) {
                    requeue(ob, ag.first, ag.last, ag.n);
                    return -1;
                }
                take_reply(ob, r, refused, &ag, errstr, errlen);
                freeReplyObject(r);
            }
        } else {
            /* MULTI's +OK, one +QUEUED (or the refusal) per command, then EXEC's array or
             * EXECABORT: nothing of an aborted batch ran, all of it stays queued. */
            char why[256] = "";
            for (size_t i = 0; i < batch + 1; i++) {
                if (reply_get(c, &r, errstr, errlen) < 0)
                    return -1;
                if (r->type == REDIS_REPLY_ERROR && !why[0])
                    snprintf(why, sizeof why, "%s", r->str);
                freeReplyObject(r);
            }
            if (reply_get(c, &r, errstr, errlen) < 0)
                return -1;
            if (r->type != REDIS_REPLY_ARRAY || r->elements != batch) {
                if (r->type == REDIS_REPLY_ERROR && !why[0])
                    snprintf(why, sizeof why, "%s", r->str);
                freeReplyObject(r);
                if (exec_refused(why)) {
                    errstr_set(errstr, errlen, "Redis refused %zu writes: %s", batch, why);
                    ob->deferred++;
                    return OUTBOX_REFUSED;
                }
                log_warn("Redis aborted a transaction of %zu writes: %s; sending them without",
                         batch, why[0] ? why : "unexpected reply");
                plain = true;
                continue;
            }
            for (size_t i = 0; i < batch; i++)
                take_reply(ob, r->element[i], refused, &ag, errstr, errlen);
            freeReplyObject(r);
        }
        requeue(ob, ag.first, ag.last, ag.n);
        if (ag.refused) {
            ob->deferred++;
            return OUTBOX_REFUSED;
        }
    }
    if (ob->refused - refused > 1)
        log_warn("Redis refused %lu writes in this flush", ob->refused - refused);
    return 0;
}
