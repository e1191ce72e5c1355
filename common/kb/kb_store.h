/* kb_store: the index file behind a struct kb_local: its schema, its connection pool, the
 * prepared statements, the meta table. What kb_import.c and kb_search.c build on; callers
 * outside kb/ use kb_local.h, whose open, close, count and stats kb_store.c implements.
 *
 * A handle is shared by every thread of a nova-fcgi child. SQLite connections are opened
 * NOMUTEX, so each is used by one thread at a time: a user checks one out of the pool, uses
 * the statements it prepared once, and gives it back. */
#ifndef NOVA_KB_STORE_H
#define NOVA_KB_STORE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* The statements a connection may prepare (the SQL is in kb_store.c, beside the schema). */
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
/* Sets meta[key] (inside the caller's write transaction). 0, or -1 with errstr. */
int kb_meta_set(struct kb_conn *c, const char *key, const char *value, char *errstr,
                size_t errlen);

#endif
