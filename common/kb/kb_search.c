/* kb_search: a question against the index (see kb_local.h for the terms and the score).
 *
 * Terms of three or more characters go to one FTS5 query whose kb_hits() function (kb_fts.c)
 * counts the hits of every phrase in every field; two-character terms are looked up in the
 * grams table (kb_gram.h), or, for the rare kinds it does not hold, counted by a scan of the
 * documents. All add candidates, which are merged and scored here in C, inside one read
 * transaction so that an import committing meanwhile is not seen half. */
#include "kb/kb_local.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errstr.h"
#include "kb/kb_gram.h"
#include "kb/kb_store.h"

/* Weights of the score (documented in kb_local.h). */
#define W_TITLE 1.0
#define W_KEYWORDS 0.7
#define W_BODY 0.6
#define BM25_K1 1.2
#define BM25_B 0.75
#define SCORE_K 1.5

/* The candidates of one search: documents with at least one hit, their hit counts per term
 * and field in one flat array (row r, term t, field f at hits[(r * nt + t) * 3 + f]). */
struct cand {
    sqlite3_int64 id;
    double len;   /* body characters */
    double score;
    size_t row;
};
struct cands {
    struct cand *c;
    size_t n, cap;
    uint16_t *hits;
    size_t nt;
    float weight[KB_MAX_TERMS]; /* each term's (kb_term.weight) */
};

static uint16_t *cands_add(struct cands *cs, sqlite3_int64 id, double len)
{
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 64;
        cs->c = xrealloc(cs->c, cs->cap * sizeof *cs->c);
        cs->hits = xrealloc(cs->hits, cs->cap * cs->nt * KB_FIELDS * sizeof *cs->hits);
    }
    struct cand *c = &cs->c[cs->n];
    c->id = id;
    c->len = len;
    c->score = 0;
    c->row = cs->n++;
    uint16_t *h = &cs->hits[c->row * cs->nt * KB_FIELDS];
    memset(h, 0, cs->nt * KB_FIELDS * sizeof *h);
    return h;
}

static uint16_t sat16(size_t v)
{
    return v > UINT16_MAX ? UINT16_MAX : (uint16_t)v;
}

/* Hits of a two-character term: a substring anywhere, or (word terms) an ASCII whole word,
 * case-insensitive. */
static size_t count_short(const char *h, size_t n, const struct kb_term *t)
{
    size_t c = 0;
    if (!t->word) {
        for (const char *p = h; (p = memmem(p, n - (size_t)(p - h), t->text, t->len));
             p += t->len)
            c++;
        return c;
    }
    for (size_t i = 0; i + t->len <= n; i++) {
        if (strncasecmp(h + i, t->text, t->len) != 0)
            continue;
        if ((i == 0 || !kb_ascii_alnum((unsigned char)h[i - 1])) &&
            (i + t->len == n || !kb_ascii_alnum((unsigned char)h[i + t->len]))) {
            c++;
            i += t->len - 1;
        }
    }
    return c;
}

static int cmp_id(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_score(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The FTS5 phrases: candidates with their per-column hit counts. */
static int search_fts(struct kb_conn *c, const struct kb_terms *q, const size_t *fts,
                      size_t nfts, struct cands *cs, char *errstr, size_t errlen)
{
    struct buf match;
    buf_init(&match, KB_MAX_TERMS * (2 * KB_TERM_MAX_BYTES + 8));
    unsigned char kinds[KB_MAX_TERMS];
    for (size_t i = 0; i < nfts; i++) {
        const struct kb_term *t = &q->t[fts[i]];
        if (i)
            buf_puts(&match, " OR ");
        buf_putc(&match, '"');
        for (size_t j = 0; j < t->len; j++) {
            if (t->text[j] == '"')
                buf_putc(&match, '"');
            buf_putc(&match, t->text[j]);
        }
        buf_putc(&match, '"');
        kinds[i] = t->word ? (unsigned char)(t->chars > 255 ? 255 : t->chars) : 0;
    }
    int ret = -1;
    sqlite3_stmt *st = kb_conn_stmt(c, ST_FTS, errstr, errlen);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, buf_cstr(&match), (int)match.len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, kinds, (int)nfts, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint16_t *blob = sqlite3_column_blob(st, 2);
        size_t bytes = (size_t)sqlite3_column_bytes(st, 2);
        if (!blob || bytes != nfts * KB_FIELDS * sizeof *blob)
            continue;
        /* Only hits that survived the word-start check make a candidate. */
        bool any = false;
        for (size_t i = 0; i < nfts * KB_FIELDS && !any; i++)
            any = blob[i] != 0;
        if (!any)
            continue;
        uint16_t *h = cands_add(cs, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
        for (size_t i = 0; i < nfts; i++)
            memcpy(&h[fts[i] * KB_FIELDS], &blob[i * KB_FIELDS], KB_FIELDS * sizeof *blob);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        errstr_set(errstr, errlen, "kb: full-text query: %s", sqlite3_errmsg(c->db));
        goto out;
    }
    ret = 0;
out:
    buf_free(&match);
    return ret;
}

/* The two-character terms the grams table holds: one lookup each. */
static int search_grams(struct kb_conn *c, const struct kb_terms *q, const size_t *sh,
                        size_t nsh, struct cands *cs, char *errstr, size_t errlen)
{
    sqlite3_stmt *st = kb_conn_stmt(c, ST_GRAMS, errstr, errlen);
    if (!st)
        return -1;
    for (size_t i = 0; i < nsh; i++) {
        const struct kb_term *t = &q->t[sh[i]];
        sqlite3_bind_text(st, 1, t->text, (int)t->len, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            uint16_t *h = cands_add(cs, sqlite3_column_int64(st, 0),
                                    sqlite3_column_double(st, 1));
            for (int k = 0; k < KB_FIELDS; k++)
                h[sh[i] * KB_FIELDS + k] = sat16((size_t)sqlite3_column_int64(st, 2 + k));
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            errstr_set(errstr, errlen, "kb: looking up a short term: %s", sqlite3_errmsg(c->db));
            return -1;
        }
    }
    return 0;
}

/* The other two-character terms: one pass over every document. */
static int search_short(struct kb_conn *c, const struct kb_terms *q, const size_t *sh,
                        size_t nsh, struct cands *cs, char *errstr, size_t errlen)
{
    sqlite3_stmt *st = kb_conn_stmt(c, ST_SCAN, errstr, errlen);
    if (!st)
        return -1;
    int rc;
    uint16_t found[KB_MAX_TERMS][KB_FIELDS];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f[KB_FIELDS];
        size_t fl[KB_FIELDS];
        for (int k = 0; k < KB_FIELDS; k++) {
            f[k] = (const char *)sqlite3_column_text(st, 2 + k);
            fl[k] = (size_t)sqlite3_column_bytes(st, 2 + k);
        }
        bool any = false;
        for (size_t i = 0; i < nsh; i++)
            for (int k = 0; k < KB_FIELDS; k++) {
                found[i][k] = f[k] ? sat16(count_short(f[k], fl[k], &q->t[sh[i]])) : 0;
                any = any || found[i][k];
            }
        if (!any)
            continue;
        uint16_t *h = cands_add(cs, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
        for (size_t i = 0; i < nsh; i++)
            memcpy(&h[sh[i] * KB_FIELDS], found[i], sizeof found[i]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        errstr_set(errstr, errlen, "kb: scanning documents: %s", sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

/* Merges duplicate candidates (a document found by both paths), then scores them. */
static void score_cands(struct cands *cs, double ndocs, double avg_len)
{
    size_t nt = cs->nt;
    if (cs->n > 1) {
        qsort(cs->c, cs->n, sizeof *cs->c, cmp_id);
        size_t w = 0;
        for (size_t r = 0; r < cs->n; r++) {
            if (w > 0 && cs->c[w - 1].id == cs->c[r].id) {
                uint16_t *dst = &cs->hits[cs->c[w - 1].row * nt * KB_FIELDS];
                const uint16_t *src = &cs->hits[cs->c[r].row * nt * KB_FIELDS];
                for (size_t i = 0; i < nt * KB_FIELDS; i++)
                    dst[i] = sat16((size_t)dst[i] + src[i]);
                continue;
            }
            cs->c[w++] = cs->c[r];
        }
        cs->n = w;
    }
    double idf[KB_MAX_TERMS];
    double idf_max = log(1 + (ndocs + 0.5) / 0.5);
    for (size_t t = 0; t < nt; t++) {
        size_t df = 0;
        for (size_t r = 0; r < cs->n; r++) {
            const uint16_t *h = &cs->hits[(cs->c[r].row * nt + t) * KB_FIELDS];
            df += (h[KB_FIELD_TITLE] || h[KB_FIELD_KEYWORDS] || h[KB_FIELD_BODY]) ? 1 : 0;
        }
        double n = (double)df > ndocs ? ndocs : (double)df;
        idf[t] = log(1 + (ndocs - n + 0.5) / (n + 0.5)) / idf_max;
    }
    if (avg_len <= 0)
        avg_len = 1;
    for (size_t r = 0; r < cs->n; r++) {
        struct cand *c = &cs->c[r];
        double norm = BM25_K1 * (1 - BM25_B + BM25_B * c->len / avg_len), s = 0;
        for (size_t t = 0; t < nt; t++) {
            const uint16_t *h = &cs->hits[(c->row * nt + t) * KB_FIELDS];
            double tf = h[KB_FIELD_BODY];
            double m = (h[KB_FIELD_TITLE] ? W_TITLE : 0) + (h[KB_FIELD_KEYWORDS] ? W_KEYWORDS : 0) +
                       W_BODY * tf / (tf + norm);
            s += cs->weight[t] * idf[t] * m;
        }
        c->score = s / (s + SCORE_K);
    }
}

/* Copies the chosen documents' title, url and body into the hits' own storage. */
static int fetch_hits(struct kb_conn *c, const struct cand *best, size_t n, struct kb_hits *out,
                      char *errstr, size_t errlen)
{
    sqlite3_stmt *st = kb_conn_stmt(c, ST_FETCH, errstr, errlen);
    if (!st)
        return -1;
    struct buf store;
    buf_init(&store, KB_MAX_HITS * (size_t)(KB_DOC_MAX_BYTES + 8192));
    size_t off[KB_MAX_HITS][3];
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, best[i].id);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(st);
            if (rc == SQLITE_DONE)
                continue; /* cannot happen inside the read transaction */
            errstr_set(errstr, errlen, "kb: reading a document: %s", sqlite3_errmsg(c->db));
            buf_free(&store);
            return -1;
        }
        bool full = false;
        for (int k = 0; k < 3; k++) {
            const char *s = (const char *)sqlite3_column_text(st, k);
            size_t l = (size_t)sqlite3_column_bytes(st, k);
            off[got][k] = store.len;
            full = full || buf_append(&store, s ? s : "", s ? l : 0) < 0 ||
                   buf_putc(&store, '\0') < 0;
        }
        sqlite3_reset(st);
        if (full)
            break; /* the cap holds any KB_MAX_HITS documents the parser accepts */
        out->hit[got].score = best[i].score;
        got++;
    }
    out->store = buf_steal(&store, NULL);
    const char *base = out->store;
    for (size_t i = 0; i < got; i++) {
        out->hit[i].title = base + off[i][0];
        out->hit[i].url = base + off[i][1];
        out->hit[i].text = base + off[i][2];
    }
    out->n = got;
    return 0;
}

int kb_local_search(struct kb_local *kb, const char *query, size_t len,
                    const char *const *terms, size_t n_terms, size_t k, double min_score,
                    struct kb_hits *out, char *errstr, size_t errlen)
{
    return kb_local_search_ctx(kb, query, len, terms, n_terms, NULL, k, min_score, out, errstr,
                               errlen);
}

int kb_local_search_ctx(struct kb_local *kb, const char *query, size_t len,
                        const char *const *terms, size_t n_terms, const struct kb_context *ctx,
                        size_t k, double min_score, struct kb_hits *out, char *errstr,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (k > KB_MAX_HITS)
        k = KB_MAX_HITS;
    struct kb_terms *q = xmalloc(sizeof *q);
    kb_query_terms(query, len, terms, n_terms, q);
    if (ctx && ctx->len && ctx->weight > 0)
        kb_query_add_context(ctx->text, ctx->len, ctx->terms, ctx->n_terms,
                             (float)(ctx->weight > 1 ? 1 : ctx->weight), q);
    if (q->n == 0 || k == 0) {
        free(q);
        return 0;
    }
    size_t fts[KB_MAX_TERMS], gr[KB_MAX_TERMS], sh[KB_MAX_TERMS], nfts = 0, ngr = 0, nsh = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->t[i].chars >= 3)
            fts[nfts++] = i;
        else if (kb_gram_covers(&q->t[i]))
            gr[ngr++] = i;
        else
            sh[nsh++] = i;
    }
    struct cands cs = {.nt = q->n};
    for (size_t i = 0; i < q->n; i++)
        cs.weight[i] = q->t[i].weight;
    struct kb_conn *c = kb_pool_get(kb, errstr, errlen);
    if (!c) {
        free(q);
        return -1;
    }
    int ret = -1;
    bool in_tx = false;
    /* One read transaction: every statement below sees the same index. */
    if (kb_conn_exec(c, ST_BEGIN, "BEGIN", errstr, errlen) < 0)
        goto out;
    in_tx = true;
    double ndocs, avg_len;
    if (kb_meta_double(c, "docs", &ndocs, errstr, errlen) < 0 ||
        kb_meta_double(c, "avg_chars", &avg_len, errstr, errlen) < 0)
        goto out;
    if (ndocs >= 1) {
        if (nfts && search_fts(c, q, fts, nfts, &cs, errstr, errlen) < 0)
            goto out;
        if (ngr && search_grams(c, q, gr, ngr, &cs, errstr, errlen) < 0)
            goto out;
        if (nsh && search_short(c, q, sh, nsh, &cs, errstr, errlen) < 0)
            goto out;
        score_cands(&cs, ndocs, avg_len);
        size_t keep = 0;
        for (size_t r = 0; r < cs.n; r++)
            if (cs.c[r].score >= min_score)
                cs.c[keep++] = cs.c[r];
        if (keep > 1)
            qsort(cs.c, keep, sizeof *cs.c, cmp_score);
        if (fetch_hits(c, cs.c, keep < k ? keep : k, out, errstr, errlen) < 0)
            goto out;
    }
    if (kb_conn_exec(c, ST_COMMIT, "COMMIT", errstr, errlen) < 0) {
        kb_hits_free(out);
        goto out;
    }
    in_tx = false;
    ret = 0;
out:
    if (in_tx) {
        char ignored[8];
        kb_conn_exec(c, ST_ROLLBACK, "ROLLBACK", ignored, sizeof ignored);
    }
    kb_pool_put(kb, c, ret < 0);
    free(cs.c);
    free(cs.hits);
    free(q);
    return ret;
}

void kb_hits_free(struct kb_hits *h)
{
    free(h->store);
    memset(h, 0, sizeof *h);
}
