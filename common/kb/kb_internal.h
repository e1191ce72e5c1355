/* kb_internal: what kb_local.c (connections, pool, import) and kb_search.c (search, scoring)
 * share. Not for other modules: their surface is kb_local.h. */
#ifndef NOVA_KB_INTERNAL_H
#define NOVA_KB_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "kb/kb_local.h"

enum { F_TITLE, F_KEYWORDS, F_BODY, N_FIELDS }; /* the fields; also the FTS5 column numbers */

/* The statements a connection may prepare (the SQL is in kb_local.c). */
enum kb_stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_META,
    ST_FTS,
    ST_SCAN,
    ST_FETCH,
    ST_COUNT,
    ST_LANGS,
    ST_BEGIN_WRITE,
    ST_DELETE,
    ST_INSERT,
    ST_REBUILD,
    ST_SET_META,
    ST_GRAMS,
    ST_DELETE_GRAMS,
    ST_INSERT_GRAM,
    N_STMTS
};

/* One SQLite connection (opened NOMUTEX: used by one thread at a time, the one that checked
 * it out of the pool). */
struct kb_conn {
    sqlite3 *db;
    sqlite3_stmt *st[N_STMTS]; /* prepared on first use */
    struct kb_conn *next;      /* in the idle list */
};

struct kb_local {
    char *path;
    bool writable;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a connection came back or a slot opened */
    struct kb_conn *idle;
    size_t n_open, max;   /* connections open or being opened; the cap */
};

/* A connection of the pool (opened if none is idle and the cap allows; else waits for one, at
 * most a few seconds). NULL with errstr. */
struct kb_conn *kb_pool_get(struct kb_local *kb, char *errstr, size_t errlen);
/* Gives it back; after a failure it is closed instead (the next user opens a fresh one). */
void kb_pool_put(struct kb_local *kb, struct kb_conn *c, bool failed);

/* The statement, prepared on first use; NULL with errstr. */
sqlite3_stmt *kb_conn_stmt(struct kb_conn *c, enum kb_stmt id, char *errstr, size_t errlen);
/* Runs a statement whose rows do not matter. 0, or -1 with errstr naming what. */
int kb_conn_exec(struct kb_conn *c, enum kb_stmt id, const char *what, char *errstr,
                 size_t errlen);
/* meta[key] as a number (0 when absent). 0, or -1 with errstr. */
int kb_meta_double(struct kb_conn *c, const char *key, double *out, char *errstr,
                   size_t errlen);

/* Registers the kb_hits() FTS5 function (kb_search.c) on a new connection. 0 or -1. */
int kb_register_hits_function(sqlite3 *db);

/* A two-character term of a document for the grams table: two adjacent Hangul syllables, or a
 * two-letter ASCII word lower-cased; with its hits per field. */
#define KB_GRAM_MAX 6
struct kb_gram {
    char text[KB_GRAM_MAX + 1]; /* NUL-terminated */
    size_t len;                 /* 2 or 6 */
    size_t n[N_FIELDS];
};
/* The document's grams, each once, into *out (a new array the caller frees, also when 0 are
 * returned). Pure: tests/fuzz/fuzz_kb_doc.c checks it on every document that parses. */
size_t kb_doc_grams(const struct kb_doc *d, struct kb_gram **out);

/* Indexes document id's two-character terms (kb_search.c: what they are is the search's
 * business) inside the import's transaction. 0, or -1 with errstr. */
int kb_index_grams(struct kb_conn *c, sqlite3_int64 id, const struct kb_doc *d, char *errstr,
                   size_t errlen);

#endif
