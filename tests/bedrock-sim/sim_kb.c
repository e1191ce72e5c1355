/* sim_kb: Markdown documents cut into passages and searched by trigram overlap (see sim_kb.h). */
#include "sim_kb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "sim_util.h"

void sim_kb_init(struct sim_kb *kb)
{
    memset(kb, 0, sizeof *kb);
}

void sim_kb_free(struct sim_kb *kb)
{
    for (size_t i = 0; i < kb->n_docs; i++) {
        free(kb->docs[i].name);
        free(kb->docs[i].title);
        free(kb->docs[i].url);
    }
    for (size_t i = 0; i < kb->n_passages; i++) {
        free(kb->passages[i].text);
        sim_trigrams_free(&kb->passages[i].tg);
    }
    free(kb->docs);
    free(kb->passages);
    sim_kb_init(kb);
}

/* A line of text: [p, p+len) without its line ending. */
struct line {
    const char *p;
    size_t len;
};

/* Reads the line starting at *pos; advances *pos past its ending. Returns 0 at end of text. */
static int next_line(const char *text, size_t len, size_t *pos, struct line *ln)
{
    if (*pos >= len)
        return 0;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - start) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    ln->p = start;
    ln->len = n;
    return 1;
}

static void trim(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t'))
        (*p)++, (*n)--;
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r'))
        (*n)--;
}

/* "key: value" from front matter, quotes stripped. Returns a new string or NULL. */
static char *front_matter_value(struct line ln, const char *key)
{
    size_t kl = strlen(key);
    if (ln.len <= kl || strncasecmp(ln.p, key, kl) != 0 || ln.p[kl] != ':')
        return NULL;
    const char *v = ln.p + kl + 1;
    size_t vn = ln.len - kl - 1;
    trim(&v, &vn);
    if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0])
        v++, vn -= 2;
    return vn ? xstrndup(v, vn) : NULL;
}

/* Adds a passage; its trigram set also covers the document's keywords (so a Korean query can
 * find an English document that lists Korean keywords), the text does not. */
static void add_passage(struct sim_kb *kb, size_t doc, unsigned seq, const char *p, size_t n,
                        const char *keywords)
{
    trim(&p, &n);
    if (n == 0)
        return;
    if (kb->n_passages == kb->cap_passages) {
        kb->cap_passages = kb->cap_passages ? kb->cap_passages * 2 : 32;
        kb->passages = xrealloc(kb->passages, kb->cap_passages * sizeof *kb->passages);
    }
    struct sim_kb_passage *ps = &kb->passages[kb->n_passages++];
    ps->text = xstrndup(p, n);
    ps->len = n;
    ps->doc = doc;
    ps->seq = seq;
    if (keywords) {
        struct buf t;
        buf_init(&t, n + strlen(keywords) + 2);
        buf_append(&t, p, n);
        buf_putc(&t, '\n');
        buf_puts(&t, keywords);
        sim_trigrams_build(&ps->tg, t.data, t.len);
        buf_free(&t);
    } else {
        sim_trigrams_build(&ps->tg, p, n);
    }
}

/* Where to cut a too-long paragraph: after the last sentence end, else line break, else space
 * before max; else at a UTF-8 boundary. */
static size_t cut_point(const char *p, size_t n, size_t max)
{
    size_t lim = sim_utf8_floor(p, n, max);
    for (size_t i = lim; i > max / 2; i--)
        if ((p[i - 1] == '.' || p[i - 1] == '?' || p[i - 1] == '!') && (i == n || p[i] == ' '))
            return i;
    for (size_t i = lim; i > max / 2; i--)
        if (p[i - 1] == '\n' || p[i - 1] == ' ')
            return i;
    return lim > 0 ? lim : sim_utf8_next(p, n, &(uint32_t){0});
}

size_t sim_kb_add(struct sim_kb *kb, const char *name, const char *text, size_t len)
{
    size_t pos = 0, body = 0;
    struct line ln;
    char *title = NULL, *url = NULL, *keywords = NULL;

    /* Front matter: "---" on the first line up to the next "---" line. */
    if (next_line(text, len, &pos, &ln) && ln.len == 3 && memcmp(ln.p, "---", 3) == 0) {
        size_t fm = pos;
        int closed = 0;
        while (next_line(text, len, &fm, &ln)) {
            if (ln.len == 3 && memcmp(ln.p, "---", 3) == 0) {
                closed = 1;
                break;
            }
            char *v;
            if (!title && (v = front_matter_value(ln, "title")))
                title = v;
            else if (!url && ((v = front_matter_value(ln, "url")) ||
                              (v = front_matter_value(ln, "source"))))
                url = v;
            else if (!keywords && (v = front_matter_value(ln, "keywords")))
                keywords = v;
        }
        if (closed) {
            body = fm;
        } else {
            free(title), free(url), free(keywords);
            title = url = keywords = NULL;
        }
    }

    if (kb->n_docs == kb->cap_docs) {
        kb->cap_docs = kb->cap_docs ? kb->cap_docs * 2 : 16;
        kb->docs = xrealloc(kb->docs, kb->cap_docs * sizeof *kb->docs);
    }
    size_t doc = kb->n_docs++;
    size_t before = kb->n_passages;
    unsigned seq = 0;
    struct buf cur;
    buf_init(&cur, 4 * SIM_KB_PASSAGE_MAX);

    /* Paragraphs are runs of non-blank lines. */
    pos = body;
    size_t para_start = SIZE_MAX, para_end = 0;
    for (;;) {
        size_t line_start = pos;
        int more = next_line(text, len, &pos, &ln);
        const char *tp = ln.p;
        size_t tn = more ? ln.len : 0;
        trim(&tp, &tn);
        if (more && tn > 0) {
            if (!title && ln.len > 2 && memcmp(ln.p, "# ", 2) == 0) {
                const char *h = ln.p + 2;
                size_t hn = ln.len - 2;
                trim(&h, &hn);
                if (hn)
                    title = xstrndup(h, hn);
            }
            if (para_start == SIZE_MAX)
                para_start = line_start;
            para_end = line_start + (size_t)(ln.p - (text + line_start)) + ln.len;
            continue;
        }
        if (para_start != SIZE_MAX) {
            const char *pp = text + para_start;
            size_t pn = para_end - para_start;
            if (pn > SIM_KB_PASSAGE_MAX) {
                add_passage(kb, doc, ++seq, cur.data, cur.len, keywords);
                buf_reset(&cur);
                while (pn > 0) {
                    size_t cut = pn > SIM_KB_PASSAGE_MAX ? cut_point(pp, pn, SIM_KB_PASSAGE_MAX)
                                                         : pn;
                    add_passage(kb, doc, ++seq, pp, cut, keywords);
                    pp += cut, pn -= cut;
                }
            } else {
                if (cur.len && cur.len + 2 + pn > SIM_KB_PASSAGE_MAX) {
                    add_passage(kb, doc, ++seq, cur.data, cur.len, keywords);
                    buf_reset(&cur);
                }
                if (cur.len)
                    buf_puts(&cur, "\n\n");
                buf_append(&cur, pp, pn);
            }
            para_start = SIZE_MAX;
        }
        if (!more)
            break;
    }
    if (cur.len)
        add_passage(kb, doc, ++seq, cur.data, cur.len, keywords);
    buf_free(&cur);
    free(keywords);

    struct sim_kb_doc *d = &kb->docs[doc];
    d->name = xstrdup(name);
    size_t stem = strlen(name);
    if (stem > 3 && strcmp(name + stem - 3, ".md") == 0)
        stem -= 3;
    d->title = title ? title : xstrndup(name, stem);
    if (!url) {
        struct buf u;
        buf_init(&u, 4096);
        buf_puts(&u, "https://support.example.com/kb/");
        buf_append(&u, name, stem);
        url = buf_steal(&u, NULL);
    }
    d->url = url;
    return kb->n_passages - before;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole regular file of at most SIM_KB_FILE_MAX bytes. */
static char *read_file(const char *path, size_t *len, char *errstr, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errlen, "open(%s): %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)SIM_KB_FILE_MAX) {
        snprintf(errstr, errlen, "%s: not a regular file of at most %u bytes", path,
                 SIM_KB_FILE_MAX);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *data = xmalloc(n + 1);
    while (got < n) {
        ssize_t r = read(fd, data + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(errstr, errlen, "read(%s): %s", path, r < 0 ? strerror(errno) : "short");
            free(data);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    data[n] = '\0';
    *len = n;
    return data;
}

long sim_kb_load_dir(struct sim_kb *kb, const char *dir, char *errstr, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(errstr, errlen, "opendir(%s): %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < SIM_KB_MAX_FILES) {
        size_t l = strlen(de->d_name);
        if (l < 4 || de->d_name[0] == '.' || strcmp(de->d_name + l - 3, ".md") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    long loaded = 0;
    for (size_t i = 0; i < n; i++) {
        struct buf path;
        buf_init(&path, 8192);
        char err[256];
        size_t len;
        char *text = NULL;
        if (buf_printf(&path, "%s/%s", dir, names[i]) == 0)
            text = read_file(buf_cstr(&path), &len, err, sizeof err);
        else
            snprintf(err, sizeof err, "%s: path too long", names[i]);
        if (text) {
            sim_kb_add(kb, names[i], text, len);
            loaded++;
            free(text);
        } else {
            log_warn("kb: skipping %s", err);
        }
        buf_free(&path);
        free(names[i]);
    }
    free(names);
    return loaded;
}

static int cmp_hits(const void *a, const void *b)
{
    const struct sim_kb_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->passage < y->passage ? -1 : x->passage > y->passage;
}

size_t sim_kb_search(const struct sim_kb *kb, const char *query, size_t qlen, size_t max,
                     struct sim_kb_hit *hits)
{
    if (kb->n_passages == 0 || max == 0)
        return 0;
    struct sim_trigrams q;
    sim_trigrams_build(&q, query, qlen);
    const struct sim_trigrams **corpus = xmalloc(kb->n_passages * sizeof *corpus);
    for (size_t i = 0; i < kb->n_passages; i++)
        corpus[i] = &kb->passages[i].tg;
    double *w = xmalloc((q.n ? q.n : 1) * sizeof *w);
    sim_trigrams_idf(&q, corpus, kb->n_passages, w);
    struct sim_kb_hit *all = xmalloc(kb->n_passages * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < kb->n_passages; i++) {
        double s = sim_trigrams_score(&q, &kb->passages[i].tg, w);
        if (s > 0) {
            all[n].passage = &kb->passages[i];
            all[n].doc = &kb->docs[kb->passages[i].doc];
            all[n].score = s;
            n++;
        }
    }
    qsort(all, n, sizeof *all, cmp_hits);
    if (n > max)
        n = max;
    memcpy(hits, all, n * sizeof *hits);
    free(all);
    free(w);
    free(corpus);
    sim_trigrams_free(&q);
    return n;
}
