/* fuzz_query_input.h: a fuzz input read as a knowledge-base question (the first line, copied
 * into an exactly sized buffer so ASan sees reads past its end) and extra search terms (each
 * following line), for fuzz_kb_query and fuzz_kb_search. */
#ifndef FUZZ_QUERY_INPUT_H
#define FUZZ_QUERY_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_QUERY_MAX_EXTRA 80

struct fuzz_query {
    char *q;
    size_t qlen;
    const char *extra[FUZZ_QUERY_MAX_EXTRA];
    size_t n_extra;
    char *store; /* the extra terms, NUL-separated */
};

/* Splits data into f; at most max_extra (≤ FUZZ_QUERY_MAX_EXTRA) extra terms. */
static inline void fuzz_query_split(const uint8_t *data, size_t size, size_t max_extra,
                                    struct fuzz_query *f)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    f->qlen = nl ? (size_t)(nl - s) : size;
    f->q = malloc(f->qlen ? f->qlen : 1);
    memcpy(f->q, s, f->qlen);
    f->store = NULL;
    f->n_extra = 0;
    if (!nl)
        return;
    size_t rest = size - f->qlen - 1;
    f->store = malloc(rest + 1);
    memcpy(f->store, nl + 1, rest);
    f->store[rest] = '\0';
    for (char *p = f->store; p && f->n_extra < max_extra;) {
        f->extra[f->n_extra++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
}

static inline void fuzz_query_free(struct fuzz_query *f)
{
    free(f->store);
    free(f->q);
}

#endif
