/* kb_import: a folder of Markdown documents into the index, in one write transaction (see
 * kb_local_import_dir in kb_local.h).
 *
 * The files are listed and read here; kb_doc_parse turns each into fields, kb_gram_collect
 * into its two-character terms; the rows go in through the store's statements (kb_store.h),
 * and the full-text index is rebuilt once at the end. Searches on other connections see the
 * old index until the commit. */
#include "kb/kb_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/utf8.h"
#include "kb/kb_gram.h"
#include "kb/kb_store.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.md names of dir, sorted; NULL with errstr. */
static char **list_docs(const char *dir, size_t *n, char *errstr, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        errstr_set(errstr, errlen, "kb: opendir(%s): %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || de->d_name[0] == '.' || strcmp(de->d_name + l - 3, ".md") != 0)
            continue;
        if (*n == KB_IMPORT_MAX_FILES) {
            errstr_set(errstr, errlen, "kb: %s has more than %u *.md files", dir,
                       KB_IMPORT_MAX_FILES);
            goto fail;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[(*n)++] = xstrdup(de->d_name);
        errno = 0;
    }
    if (errno) {
        errstr_set(errstr, errlen, "kb: readdir(%s): %s", dir, strerror(errno));
        goto fail;
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof *names, cmp_str);
    return names ? names : xcalloc(1, sizeof *names);
fail:
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        free(names[i]);
    free(names);
    return NULL;
}

/* Reads a regular file of at most KB_DOC_MAX_BYTES. NULL with a reason in errstr. */
static char *read_doc(const char *dir, const char *name, size_t *len, char *errstr,
                      size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        errstr_set(errstr, errlen, "path too long");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        errstr_set(errstr, errlen, "open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    char *data = NULL;
    if (fstat(fd, &st) < 0) {
        errstr_set(errstr, errlen, "fstat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errstr_set(errstr, errlen, "not a regular file");
        goto out;
    }
    if (st.st_size > (off_t)KB_DOC_MAX_BYTES) {
        errstr_set(errstr, errlen, "larger than %u bytes", KB_DOC_MAX_BYTES);
        goto out;
    }
    size_t n = (size_t)st.st_size, got = 0;
    data = xmalloc(n + 1);
    while (got < n) {
        ssize_t r = read(fd, data + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errstr_set(errstr, errlen, "read: %s", r < 0 ? strerror(errno) : "file shrank");
            free(data);
            data = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    data[n] = '\0';
    *len = n;
out:
    close(fd);
    return data;
}

/* Indexes document id's two-character terms (kb_gram.h) in the grams table, inside the
 * import's transaction. 0, or -1 with errstr. */
static int index_grams(struct kb_conn *c, sqlite3_int64 id, const struct kb_doc *d,
                       char *errstr, size_t errlen)
{
    struct kb_gram *g;
    size_t ng = kb_gram_collect(d, &g);
    sqlite3_stmt *st = kb_conn_stmt(c, ST_INSERT_GRAM, errstr, errlen);
    int ret = st ? 0 : -1;
    for (size_t i = 0; i < ng && ret == 0; i++) {
        sqlite3_bind_text(st, 1, g[i].text, (int)g[i].len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, id);
        for (int k = 0; k < KB_FIELDS; k++)
            sqlite3_bind_int64(st, 3 + k, (sqlite3_int64)g[i].n[k]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            errstr_set(errstr, errlen, "kb: indexing short terms: %s", sqlite3_errmsg(c->db));
            ret = -1;
        }
        sqlite3_reset(st);
    }
    if (st)
        sqlite3_clear_bindings(st);
    free(g);
    return ret;
}

/* Parses and inserts one file. Returns 1 imported, 0 skipped (logged), -1 database error. */
static int import_one(struct kb_conn *c, const char *dir, const char *name,
                      struct kb_import_stats *s, size_t *chars, char *errstr, size_t errlen)
{
    char why[256];
    size_t len = 0;
    char *text = read_doc(dir, name, &len, why, sizeof why);
    struct kb_doc d;
    if (!text || kb_doc_parse(text, len, name, &d, why, sizeof why) < 0) {
        free(text);
        log_warn("kb: skipping %s/%s: %s", dir, name, why);
        s->skipped++;
        return 0;
    }
    free(text);
    size_t nchars = utf8_count(d.body, strlen(d.body));
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = kb_conn_stmt(c, ST_INSERT, errstr, errlen);
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, d.title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, d.url, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, d.keywords, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, d.lang, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)nchars);
        sqlite3_bind_text(st, 7, d.body, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            errstr_set(errstr, errlen, "kb: inserting %s: %s", name, sqlite3_errmsg(c->db));
        else if (index_grams(c, sqlite3_last_insert_rowid(c->db), &d, errstr, errlen) < 0)
            rc = SQLITE_ERROR;
    }
    kb_doc_free(&d);
    if (rc != SQLITE_DONE)
        return -1;
    s->docs++;
    s->bytes += len;
    *chars += nchars;
    return 1;
}

int kb_local_import_dir(struct kb_local *kb, const char *dir, struct kb_import_stats *st,
                        char *errstr, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (!kb->writable) {
        errstr_set(errstr, errlen, "kb: the index was opened read-only");
        return -1;
    }
    size_t n;
    char **names = list_docs(dir, &n, errstr, errlen);
    if (!names)
        return -1;
    struct kb_conn *c = kb_pool_get(kb, errstr, errlen);
    int ret = -1;
    bool in_tx = false;
    if (!c)
        goto out;
    if (kb_conn_exec(c, ST_BEGIN_WRITE, "BEGIN IMMEDIATE", errstr, errlen) < 0)
        goto out;
    in_tx = true;
    if (kb_conn_exec(c, ST_DELETE, "clearing the documents", errstr, errlen) < 0 ||
        kb_conn_exec(c, ST_DELETE_GRAMS, "clearing the short terms", errstr, errlen) < 0)
        goto out;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        if (import_one(c, dir, names[i], st, &chars, errstr, errlen) < 0)
            goto out;
    if (st->docs == 0) {
        errstr_set(errstr, errlen,
                   "kb: no document imported from %s (%zu skipped); the index is unchanged",
                   dir, st->skipped);
        goto out;
    }
    if (kb_conn_exec(c, ST_REBUILD, "building the full-text index", errstr, errlen) < 0)
        goto out;
    char v[64];
    char absdir[4096];
    const char *src = realpath(dir, absdir) ? absdir : dir;
    snprintf(v, sizeof v, "%zu", st->docs);
    if (kb_meta_set(c, "docs", v, errstr, errlen) < 0)
        goto out;
    snprintf(v, sizeof v, "%.3f", (double)chars / (double)st->docs);
    if (kb_meta_set(c, "avg_chars", v, errstr, errlen) < 0)
        goto out;
    snprintf(v, sizeof v, "%zu", st->bytes);
    if (kb_meta_set(c, "bytes", v, errstr, errlen) < 0)
        goto out;
    snprintf(v, sizeof v, "%lld", (long long)time(NULL));
    if (kb_meta_set(c, "imported_at", v, errstr, errlen) < 0 ||
        kb_meta_set(c, "source", src, errstr, errlen) < 0)
        goto out;
    if (kb_conn_exec(c, ST_COMMIT, "COMMIT", errstr, errlen) < 0)
        goto out;
    in_tx = false;
    ret = 0;
out:
    if (in_tx) {
        char ignored[8];
        kb_conn_exec(c, ST_ROLLBACK, "ROLLBACK", ignored, sizeof ignored);
    }
    if (c)
        kb_pool_put(kb, c, false);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ret;
}
