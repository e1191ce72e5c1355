/* inbox: where the pub/sub dispatcher leaves one stream's messages (see inbox.h).
 *
 * A capped byte queue of framed messages and an eventfd the stream thread polls. The
 * dispatcher thread appends (inbox_put); the stream thread takes everything at once
 * (inbox_take), which swaps buffers instead of copying. */
#include "inbox.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/wake.h"

int inbox_init(struct inbox *in, char *errstr, size_t errlen)
{
    memset(in, 0, sizeof *in);
    in->efd = wake_open();
    if (in->efd < 0) {
        errstr_set(errstr, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_init(&in->mu, NULL);
    buf_init(&in->q, INBOX_CAP);
    return 0;
}

struct inbox *inbox_new(char *errstr, size_t errlen)
{
    struct inbox *in = xmalloc(sizeof *in);
    if (inbox_init(in, errstr, errlen) < 0) {
        free(in);
        return NULL;
    }
    return in;
}

void inbox_delete(struct inbox *in)
{
    if (!in)
        return;
    inbox_destroy(in);
    free(in);
}

/* Rings the stream (under in->mu, so a hand-over never races a write to a closed eventfd). */
static void inbox_ring(struct inbox *in)
{
    if (in->notify)
        in->notify(in->notify_arg);
    else if (in->efd >= 0)
        wake_signal(in->efd);
}

void inbox_hand_to(struct inbox *in, inbox_notify_fn *notify, void *arg)
{
    pthread_mutex_lock(&in->mu);
    in->notify = notify;
    in->notify_arg = arg;
    if (in->efd >= 0)
        close(in->efd);
    in->efd = -1;
    if (in->q.len || in->flags)
        inbox_ring(in);
    pthread_mutex_unlock(&in->mu);
}

void inbox_destroy(struct inbox *in)
{
    if (in->efd >= 0)
        close(in->efd);
    in->efd = -1;
    buf_free(&in->q);
    pthread_mutex_destroy(&in->mu);
}

void inbox_reset(struct inbox *in)
{
    pthread_mutex_lock(&in->mu);
    /* A stream that fell far behind leaves a big block; idle threads keep only small ones. */
    if (in->q.cap > 16384)
        buf_free(&in->q);
    else
        buf_reset(&in->q);
    in->flags = 0;
    in->unconfirmed = 0;
    in->resyncing = 0;
    pthread_mutex_unlock(&in->mu);
    if (in->efd >= 0)
        wake_drain(in->efd);
}

void inbox_wake(struct inbox *in)
{
    pthread_mutex_lock(&in->mu);
    inbox_ring(in);
    pthread_mutex_unlock(&in->mu);
}

void inbox_clear_wake(struct inbox *in)
{
    if (in->efd >= 0)
        wake_drain(in->efd);
}

unsigned inbox_take(struct inbox *in, struct buf *out)
{
    pthread_mutex_lock(&in->mu);
    if (in->resyncing > 0) {
        unsigned cut = in->flags & INBOX_CUT;
        pthread_mutex_unlock(&in->mu);
        return cut;
    }
    if (out->len == 0 && out->max >= in->q.max) { /* the usual case: swap, no copy */
        struct buf tmp = *out;
        *out = in->q;
        in->q = tmp;
    } else if (buf_append(out, in->q.data, in->q.len) == 0) {
        buf_reset(&in->q);
    } else {
        in->flags |= INBOX_CUT;
    }
    unsigned flags = in->flags;
    in->flags &= INBOX_CUT; /* sticky: after a drop nothing may look continuous again */
    pthread_mutex_unlock(&in->mu);
    return flags;
}

bool inbox_is_cut(struct inbox *in)
{
    pthread_mutex_lock(&in->mu);
    bool cut = (in->flags & INBOX_CUT) != 0;
    pthread_mutex_unlock(&in->mu);
    return cut;
}

int inbox_next(const struct buf *b, size_t *off, const char **msg, size_t *len)
{
    uint32_t n;
    if (*off + 4 > b->len)
        return -1;
    memcpy(&n, b->data + *off, 4);
    if (n > b->len - *off - 4)
        return -1;
    *msg = b->data + *off + 4;
    *len = n;
    *off += 4 + (size_t)n;
    return 0;
}

void inbox_put(struct inbox *in, const char *msg, size_t len)
{
    pthread_mutex_lock(&in->mu);
    if (!(in->flags & INBOX_CUT)) {
        uint32_t n = (uint32_t)len;
        if (len > INBOX_CAP || in->q.len + 4 + len > in->q.max) {
            in->flags |= INBOX_CUT;
        } else {
            buf_append(&in->q, &n, 4);
            buf_append(&in->q, msg, len);
        }
    }
    inbox_ring(in);
    pthread_mutex_unlock(&in->mu);
}
