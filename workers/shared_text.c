/* shared_text: one copy of a text that many jobs carry (see shared_text.h). */
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

struct shared_text *text_intern(struct text_table *t, char **s)
{
    size_t len = strlen(*s);
    struct shared_text *e = NULL, *spare = NULL;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < TEXT_SLOTS && !e; i++) {
        struct shared_text *x = &t->slots[i];
        if (x->s && x->len == len && memcmp(x->s, *s, len) == 0)
            e = x;
        else if (!spare && x->refs == 0)
            spare = x; /* empty, or a text no job holds any more */
    }
    if (!e && spare) {
        free(spare->s);
        e = spare;
        e->s = *s; /* the job's copy becomes the table's */
        e->len = len;
        *s = NULL;
    }
    if (e) {
        e->refs++;
        free(*s);
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
