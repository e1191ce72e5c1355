/* shared_text: one copy of a text that many jobs carry.
 *
 * Every job a nova-fcgi child queues has the same system prompt (the rules and the glossary,
 * about 8 KiB), and a worker holds thousands of jobs while their streams run. The reader
 * parses each job's own copy; text_intern swaps it for the table's, so a worker keeps one per
 * distinct prompt (a reload's new children bring a new one; TEXT_SLOTS of them are kept).
 * Thread-safe: the reader interns, the engine releases. */
#ifndef NOVA_SHARED_TEXT_H
#define NOVA_SHARED_TEXT_H

#include <pthread.h>
#include <stddef.h>

#define TEXT_SLOTS 8

struct shared_text {
    char *s;
    size_t len;
    unsigned refs;
};

struct text_table {
    pthread_mutex_t mu;
    struct shared_text slots[TEXT_SLOTS];
};

void text_table_init(struct text_table *t);
void text_table_free(struct text_table *t);
/* *s is a malloc'd NUL-terminated text: when the table has it (or room for it), *s is freed
 * and pointed at the table's copy, and the entry to release later is returned; NULL leaves
 * *s as it was (every slot holds another text still in use). */
struct shared_text *text_intern(struct text_table *t, char **s);
void text_release(struct text_table *t, struct shared_text *e);

#endif
