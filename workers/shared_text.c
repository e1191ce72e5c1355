/* shared_text: the system prompts of the jobs held, one copy each, by name (see
 * shared_text.h). */
#include "shared_text.h"

#include <stdlib.h>
#include <string.h>

void text_table_init(struct text_table *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
}

void text_table_free(struct text_table *t)
{
    for (size_t i = 0; i < TEXT_SLOTS; i++)
        free(t->slots[i].s);
    pthread_mutex_destroy(&t->mu);
}

/* A slot for a text of len bytes, emptied: an empty one, else the least recently looked-up
 * entry no job holds (several, when the bytes need it). NULL when no such room. Under mu. */
static struct shared_text *room_locked(struct text_table *t, size_t len)
{
    if (len > TEXT_MAX_BYTES)
        return NULL;
    for (;;) {
        struct shared_text *empty = NULL, *oldest = NULL;
        for (size_t i = 0; i < TEXT_SLOTS; i++) {
            struct shared_text *x = &t->slots[i];
            if (!x->s && !empty)
                empty = x;
            else if (x->s && x->refs == 0 && (!oldest || x->used < oldest->used))
                oldest = x;
        }
        if (empty && t->bytes + len <= TEXT_MAX_BYTES)
            return empty;
        if (!oldest)
            return NULL;
        t->bytes -= oldest->len;
        free(oldest->s);
        memset(oldest, 0, sizeof *oldest);
    }
}

static struct shared_text *hold_locked(struct text_table *t, struct shared_text *e)
{
    e->refs++;
    e->used = ++t->clock;
    return e;
}

struct shared_text *text_intern(struct text_table *t, char **s)
{
    size_t len = strlen(*s);
    struct shared_text *e = NULL;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < TEXT_SLOTS && !e; i++) {
        struct shared_text *x = &t->slots[i];
        if (x->s && x->len == len && memcmp(x->s, *s, len) == 0)
            e = x;
    }
    if (e) {
        free(*s);
    } else if ((e = room_locked(t, len))) {
        e->s = *s; /* the job's copy becomes the table's */
        e->len = len;
        e->name[0] = '\0';
        t->bytes += len;
    }
    if (e) {
        hold_locked(t, e);
        *s = e->s;
    }
    pthread_mutex_unlock(&t->mu);
    return e;
}

static struct shared_text *find_locked(struct text_table *t, const char *name)
{
    for (size_t i = 0; i < TEXT_SLOTS; i++)
        if (t->slots[i].s && strcmp(t->slots[i].name, name) == 0)
            return &t->slots[i];
    return NULL;
}

struct shared_text *text_lookup(struct text_table *t, const char *name)
{
    if (!name[0])
        return NULL;
    pthread_mutex_lock(&t->mu);
    struct shared_text *e = find_locked(t, name);
    if (e)
        hold_locked(t, e);
    pthread_mutex_unlock(&t->mu);
    return e;
}

struct shared_text *text_add(struct text_table *t, const char *name, char **s, size_t len)
{
    if (strlen(name) != JOB_SHA256_HEX)
        return NULL;
    pthread_mutex_lock(&t->mu);
    struct shared_text *e = find_locked(t, name);
    if (e) {
        free(*s);
    } else if ((e = room_locked(t, len))) {
        e->s = *s;
        e->len = len;
        memcpy(e->name, name, JOB_SHA256_HEX + 1);
        t->bytes += len;
    }
    if (e) {
        hold_locked(t, e);
        *s = e->s;
    }
    pthread_mutex_unlock(&t->mu);
    return e;
}

void text_release(struct text_table *t, struct shared_text *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&t->mu);
    e->refs--;
    pthread_mutex_unlock(&t->mu);
}
