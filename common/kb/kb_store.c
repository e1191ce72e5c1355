/* kb_store: the SQLite index file, its connection pool, statements, meta, counts (see
 * kb_store.h; kb_local.h for the handle's open, close, count and stats).
 *
 * A handle is shared by every thread of a nova-fcgi child. SQLite connections are opened
 * NOMUTEX, so each is used by one thread at a time: a search checks one out of a small pool
 * (mutex + condition variable, opened on demand, at most KB_POOL_MAX), prepares its
 * statements once per connection, and returns it. A connection that failed is closed instead
 * of returned; the next search opens a fresh one. */
#include "kb/kb_store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "kb/kb_fts.h"
#include "kb/kb_local.h"

#define KB_SCHEMA_VERSION 1
#define KB_BUSY_TIMEOUT_MS 5000
#define KB_POOL_WAIT_S 10
/* Reads through a shared mapping instead of copying every page into each connection's cache:
 * searches touch most of a small index, and the pool's connections share one copy. */
#define KB_MMAP_SQL "PRAGMA mmap_size = 268435456"

static const char *const schema_sql =
    "CREATE TABLE docs ("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL UNIQUE,"
    "  title TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  keywords TEXT NOT NULL,"
    "  lang TEXT NOT NULL,"
    "  chars INTEGER NOT NULL," /* before body: read without walking the body's pages */
    "  body TEXT NOT NULL);"
    "CREATE VIRTUAL TABLE docs_fts USING fts5(title, keywords, body, content='docs',"
    "  content_rowid='id', tokenize='trigram');"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* Two-character terms, which a trigram index cannot find: per document and field, the
     * hits of every pair of adjacent Hangul syllables and every two-letter ASCII word. */
    "CREATE TABLE grams (gram TEXT NOT NULL, doc INTEGER NOT NULL, title INTEGER NOT NULL,"
    "  keywords INTEGER NOT NULL, body INTEGER NOT NULL, PRIMARY KEY (gram, doc))"
    "  WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

static const char *const stmt_sql[N_STMTS] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_META] = "SELECT value FROM meta WHERE key = ?1",
    /* Rows come in rowid order; kb_hits counts each phrase's hits per column. */
    [ST_FTS] = "SELECT docs_fts.rowid, docs.chars, kb_hits(docs_fts, ?2) FROM docs_fts"
               " JOIN docs ON docs.id = docs_fts.rowid WHERE docs_fts MATCH ?1",
    [ST_SCAN] = "SELECT id, chars, title, keywords, body FROM docs ORDER BY id",
    [ST_FETCH] = "SELECT title, url, body FROM docs WHERE id = ?1",
    [ST_COUNT] = "SELECT count(*) FROM docs",
    [ST_LANGS] = "SELECT lang, count(*) FROM docs GROUP BY lang ORDER BY 2 DESC, 1 LIMIT 8",
    [ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [ST_DELETE] = "DELETE FROM docs",
    [ST_INSERT] = "INSERT INTO docs (path, title, url, keywords, lang, chars, body)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_REBUILD] = "INSERT INTO docs_fts (docs_fts) VALUES ('rebuild')",
    [ST_SET_META] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
    [ST_GRAMS] = "SELECT grams.doc, docs.chars, grams.title, grams.keywords, grams.body"
                 " FROM grams JOIN docs ON docs.id = grams.doc WHERE grams.gram = ?1",
    [ST_DELETE_GRAMS] = "DELETE FROM grams",
    [ST_INSERT_GRAM] = "INSERT INTO grams (gram, doc, title, keywords, body)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)",
};

/* ---- connections and the pool ------------------------------------------------------------- */

static void conn_close(struct kb_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < N_STMTS; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

sqlite3_stmt *kb_conn_stmt(struct kb_conn *c, enum kb_stmt id, char *errstr, size_t errlen)
{
    if (!c->st[id] && sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                         &c->st[id], NULL) != SQLITE_OK) {
        errstr_set(errstr, errlen, "kb: preparing a statement: %s", sqlite3_errmsg(c->db));
        c->st[id] = NULL;
    }
    return c->st[id];
}

int kb_conn_exec(struct kb_conn *c, enum kb_stmt id, const char *what, char *errstr,
                 size_t errlen)
{
    sqlite3_stmt *st = kb_conn_stmt(c, id, errstr, errlen);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        errstr_set(errstr, errlen, "kb: %s: %s", what, sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

static long pragma_long(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A writable connection turns a new file into an index (WAL mode: readers on other
 * connections never wait for an import, and see its result only once it commits). */
static int conn_init_writable(struct kb_conn *c, const char *path, char *errstr, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL,
                     NULL, &msg) != SQLITE_OK) {
        errstr_set(errstr, errlen, "kb: %s: %s", path, msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return -1;
    }
    long version = pragma_long(c->db, "PRAGMA user_version");
    if (version == KB_SCHEMA_VERSION)
        return 0;
    long tables = pragma_long(c->db, "SELECT count(*) FROM sqlite_schema");
    if (version != 0 || tables != 0) {
        errstr_set(errstr, errlen,
                   "kb: %s is not a kb index (schema version %ld, %ld tables): not touching it",
                   path, version, tables);
        return -1;
    }
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(c->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        errstr_set(errstr, errlen, "kb: creating the index in %s: %s", path,
                   msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static struct kb_conn *conn_open(const char *path, bool writable, char *errstr, size_t errlen)
{
    struct stat sb;
    if (!writable && stat(path, &sb) < 0) {
        errstr_set(errstr, errlen, "kb: %s: %s (import documents with: novactl kb import DIR)",
                   path, strerror(errno));
        return NULL;
    }
    struct kb_conn *c = xcalloc(1, sizeof *c);
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
                (writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        errstr_set(errstr, errlen, "kb: cannot open %s: %s", path,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, KB_BUSY_TIMEOUT_MS);
    sqlite3_exec(c->db, KB_MMAP_SQL, NULL, NULL, NULL); /* an optimisation: failure is fine */
    if (writable && conn_init_writable(c, path, errstr, errlen) < 0)
        goto fail;
    if (!writable) {
        long version = pragma_long(c->db, "PRAGMA user_version");
        if (version != KB_SCHEMA_VERSION) {
            errstr_set(errstr, errlen, "kb: %s is not a kb index (%s)", path,
                       version < 0 ? sqlite3_errmsg(c->db) : "wrong schema version");
            goto fail;
        }
    }
    if (kb_fts_register(c->db) < 0) {
        errstr_set(errstr, errlen, "kb: %s: SQLite lacks FTS5", path);
        goto fail;
    }
    return c;
fail:
    conn_close(c);
    return NULL;
}

struct kb_conn *kb_pool_get(struct kb_local *kb, char *errstr, size_t errlen)
{
    struct timespec deadline;
    clock_deadline(&deadline, KB_POOL_WAIT_S * 1000LL);
    pthread_mutex_lock(&kb->mu);
    while (!kb->idle && kb->n_open >= kb->max) {
        if (pthread_cond_timedwait(&kb->cv, &kb->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&kb->mu);
            errstr_set(errstr, errlen, "kb: no connection free after %d s", KB_POOL_WAIT_S);
            return NULL;
        }
    }
    struct kb_conn *c = kb->idle;
    if (c) {
        kb->idle = c->next;
        pthread_mutex_unlock(&kb->mu);
        return c;
    }
    kb->n_open++; /* the slot is ours while we open outside the lock */
    pthread_mutex_unlock(&kb->mu);
    c = conn_open(kb->path, kb->writable, errstr, errlen);
    if (!c) {
        pthread_mutex_lock(&kb->mu);
        kb->n_open--;
        pthread_cond_signal(&kb->cv);
        pthread_mutex_unlock(&kb->mu);
    }
    return c;
}

/* After a failure, whatever went wrong (a corrupt page, a timeout, a file replaced under us),
 * a fresh connection is the cheap way out. */
void kb_pool_put(struct kb_local *kb, struct kb_conn *c, bool failed)
{
    if (failed) {
        conn_close(c);
        c = NULL;
    }
    pthread_mutex_lock(&kb->mu);
    if (c) {
        c->next = kb->idle;
        kb->idle = c;
    } else {
        kb->n_open--;
    }
    pthread_cond_signal(&kb->cv);
    pthread_mutex_unlock(&kb->mu);
}

struct kb_local *kb_local_open(const char *path, bool writable, char *errstr, size_t errlen)
{
    if (!path || !path[0]) {
        errstr_set(errstr, errlen, "kb: no index path");
        return NULL;
    }
    if (!sqlite3_threadsafe()) {
        errstr_set(errstr, errlen, "kb: SQLite was built without thread support");
        return NULL;
    }
    /* One connection now: a missing or foreign file is reported at start, not per search. */
    struct kb_conn *c = conn_open(path, writable, errstr, errlen);
    if (!c)
        return NULL;
    struct kb_local *kb = xcalloc(1, sizeof *kb);
    kb->path = xstrdup(path);
    kb->writable = writable;
    kb->max = writable ? 1 : KB_POOL_MAX;
    pthread_mutex_init(&kb->mu, NULL);
    clock_cond_init(&kb->cv);
    kb->idle = c;
    kb->n_open = 1;
    return kb;
}

void kb_local_close(struct kb_local *kb)
{
    if (!kb)
        return;
    while (kb->idle) {
        struct kb_conn *c = kb->idle;
        kb->idle = c->next;
        conn_close(c);
    }
    pthread_cond_destroy(&kb->cv);
    pthread_mutex_destroy(&kb->mu);
    free(kb->path);
    free(kb);
}

/* ---- meta, counts and stats ------------------------------------------------------------------- */

int kb_meta_double(struct kb_conn *c, const char *key, double *out, char *errstr,
                   size_t errlen)
{
    sqlite3_stmt *st = kb_conn_stmt(c, ST_META, errstr, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_double(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        errstr_set(errstr, errlen, "kb: reading meta %s: %s", key, sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

int kb_meta_set(struct kb_conn *c, const char *key, const char *value, char *errstr,
                size_t errlen)
{
    sqlite3_stmt *st = kb_conn_stmt(c, ST_SET_META, errstr, errlen);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        errstr_set(errstr, errlen, "kb: writing meta %s: %s", key, sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

long kb_local_count(struct kb_local *kb, char *errstr, size_t errlen)
{
    struct kb_conn *c = kb_pool_get(kb, errstr, errlen);
    if (!c)
        return -1;
    long n = -1;
    sqlite3_stmt *st = kb_conn_stmt(c, ST_COUNT, errstr, errlen);
    if (st) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = (long)sqlite3_column_int64(st, 0);
        else
            errstr_set(errstr, errlen, "kb: counting documents: %s", sqlite3_errmsg(c->db));
        sqlite3_reset(st);
    }
    kb_pool_put(kb, c, n < 0);
    return n;
}

int kb_local_stats(struct kb_local *kb, struct kb_index_stats *s, char *errstr, size_t errlen)
{
    memset(s, 0, sizeof *s);
    struct kb_conn *c = kb_pool_get(kb, errstr, errlen);
    if (!c)
        return -1;
    int ret = -1;
    if (kb_conn_exec(c, ST_BEGIN, "BEGIN", errstr, errlen) < 0)
        goto out;
    double bytes, at;
    sqlite3_stmt *st;
    if (kb_meta_double(c, "bytes", &bytes, errstr, errlen) < 0 ||
        kb_meta_double(c, "imported_at", &at, errstr, errlen) < 0 ||
        !(st = kb_conn_stmt(c, ST_META, errstr, errlen)))
        goto end;
    s->doc_bytes = (long long)bytes;
    s->imported_at = (long long)at;
    sqlite3_bind_text(st, 1, "source", -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(s->source, sizeof s->source, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (!(st = kb_conn_stmt(c, ST_COUNT, errstr, errlen)))
        goto end;
    if (sqlite3_step(st) == SQLITE_ROW)
        s->docs = (long)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (!(st = kb_conn_stmt(c, ST_LANGS, errstr, errlen)))
        goto end;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && s->n_langs < 8) {
        const char *l = (const char *)sqlite3_column_text(st, 0);
        snprintf(s->langs[s->n_langs].lang, sizeof s->langs[0].lang, "%s", l ? l : "");
        s->langs[s->n_langs++].docs = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        errstr_set(errstr, errlen, "kb: counting languages: %s", sqlite3_errmsg(c->db));
        goto end;
    }
    long pages = pragma_long(c->db, "PRAGMA page_count");
    long psize = pragma_long(c->db, "PRAGMA page_size");
    s->db_bytes = pages > 0 && psize > 0 ? (long long)pages * psize : 0;
    ret = 0;
end:;
    char ignored[8];
    kb_conn_exec(c, ST_COMMIT, "COMMIT", ignored, sizeof ignored);
out:
    kb_pool_put(kb, c, ret < 0);
    return ret;
}

