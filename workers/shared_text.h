/* shared_text: the system prompts of the jobs this worker holds, one copy each, by name.
 *
 * An answer job names its system prompt by its SHA-256 (job.h, "system_sha256"); the text is
 * the Redis string nova:prompt:<name>. The reader looks the name up here (text_lookup); on a
 * miss it fetches the text (reader.c: a GET in the round trip it already makes for the batch's
 * markers), checks that its SHA-256 is the name, and adds it (text_add). So a worker fetches a
 * prompt once and holds one copy for the thousands of jobs that use it, and the bytes it gives
 * Bedrock are the bytes nova-fcgi rendered (Bedrock's prompt cache keys on them). A job that
 * carries its prompt (v 1 jobs, the translations) is interned by content (text_intern), as
 * before names existed.
 *
 * Bounded: at most TEXT_SLOTS prompts and TEXT_MAX_BYTES of them. When room is needed, the
 * entry no job holds that was looked up longest ago goes; when every entry is held, a new text
 * is not added and its job keeps its own copy (nothing fails for want of cache). A reload of
 * nova-fcgi with another glossary brings a new name; the old entry goes once its last job has.
 * Thread-safe: the reader looks up, adds and interns; the engine releases. */
#ifndef NOVA_SHARED_TEXT_H
#define NOVA_SHARED_TEXT_H

#include <pthread.h>
#include <stddef.h>

#include "redis/job.h"

#define TEXT_SLOTS 16
#define TEXT_MAX_BYTES (4u * 1024u * 1024u)

struct shared_text {
    char *s;
    size_t len;
    unsigned refs;
    char name[JOB_SHA256_HEX + 1]; /* its SHA-256; "" for a text interned by content */
    unsigned long long used;       /* the table's clock at its last lookup */
};

struct text_table {
    pthread_mutex_t mu;
    struct shared_text slots[TEXT_SLOTS];
    size_t bytes;                  /* of the texts held */
    unsigned long long clock;
};

void text_table_init(struct text_table *t);
void text_table_free(struct text_table *t);
/* *s is a malloc'd NUL-terminated text: when the table has it (or room for it), *s is freed
 * and pointed at the table's copy, and the entry to release later is returned; NULL leaves
 * *s as it was (no room: every slot holds another text still in use). */
struct shared_text *text_intern(struct text_table *t, char **s);
/* The entry named name (64 hex digits), held for the caller; NULL when it is not here. */
struct shared_text *text_lookup(struct text_table *t, const char *name);
/* Adds *s (malloc'd, NUL-terminated, len bytes) as the text named name, held for the caller:
 * *s is then the table's copy (the one already there when another thread added the same name
 * first, *s freed). NULL leaves *s as it was (no room). The caller has checked that name is
 * the SHA-256 of the text. */
struct shared_text *text_add(struct text_table *t, const char *name, char **s, size_t len);
void text_release(struct text_table *t, struct shared_text *e);

#endif
