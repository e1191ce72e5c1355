/* kb_doc: one knowledge-base Markdown document from its bytes (see kb_doc.h). No I/O, so
 * tests/fuzz/fuzz_kb_doc.c can drive it directly; kb_import.c reads the files. */
#include "kb/kb_doc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errstr.h"
#include "core/utf8.h"

/* Caps on front-matter values (bytes): a title or URL past them is a mistake in the file. */
#define KB_TITLE_MAX 512
#define KB_URL_MAX 2048
#define KB_KEYWORDS_MAX 4096
#define KB_LANG_MAX 16

struct span {
    const char *p;
    size_t n;
};

/* The line at *pos (without "\n" or "\r\n"); advances *pos past it. 0 at the end. */
static int next_line(const char *s, size_t len, size_t *pos, struct span *ln)
{
    if (*pos >= len)
        return 0;
    const char *start = s + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - start) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    ln->p = start;
    ln->n = n;
    return 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static struct span trim(struct span s)
{
    while (s.n > 0 && is_blank(s.p[0]))
        s.p++, s.n--;
    while (s.n > 0 && is_blank(s.p[s.n - 1]))
        s.n--;
    return s;
}

static int is_fence(struct span ln)
{
    ln = trim(ln);
    return ln.n == 3 && memcmp(ln.p, "---", 3) == 0;
}

/* "key: value" → value (trimmed, one pair of matching quotes removed); 0 if another key. */
static int fm_value(struct span ln, const char *key, struct span *v)
{
    size_t kl = strlen(key);
    if (ln.n <= kl || strncasecmp(ln.p, key, kl) != 0 || ln.p[kl] != ':')
        return 0;
    struct span s = {ln.p + kl + 1, ln.n - kl - 1};
    s = trim(s);
    if (s.n >= 2 && (s.p[0] == '"' || s.p[0] == '\'') && s.p[s.n - 1] == s.p[0])
        s.p++, s.n -= 2;
    *v = s;
    return 1;
}

/* The value of one front-matter field, checked. Returns 0, or -1 with errstr. */
static int set_field(char **dst, struct span v, const char *key, size_t max, char *errstr,
                     size_t errlen)
{
    if (*dst)
        return 0; /* the first one wins, as in the simulator */
    if (v.n > max) {
        errstr_set(errstr, errlen, "front matter: %s longer than %zu bytes", key, max);
        return -1;
    }
    *dst = xstrndup(v.p, v.n);
    return 0;
}

static int url_ok(const char *u)
{
    if (u[0] == '\0')
        return 1;
    if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

static int lang_ok(char *l)
{
    for (char *p = l; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    }
    return 1;
}

/* "[a, b]" (a YAML flow list) → "a, b". */
static struct span unbracket(struct span v)
{
    if (v.n >= 2 && v.p[0] == '[' && v.p[v.n - 1] == ']') {
        v.p++, v.n -= 2;
        v = trim(v);
    }
    return v;
}

void kb_doc_free(struct kb_doc *d)
{
    free(d->title);
    free(d->url);
    free(d->keywords);
    free(d->lang);
    free(d->body);
    memset(d, 0, sizeof *d);
}

int kb_doc_parse(const char *text, size_t len, const char *name, struct kb_doc *d,
                 char *errstr, size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (len > KB_DOC_MAX_BYTES) {
        errstr_set(errstr, errlen, "larger than %u bytes", KB_DOC_MAX_BYTES);
        return -1;
    }
    if (memchr(text, '\0', len)) {
        errstr_set(errstr, errlen, "contains a NUL byte");
        return -1;
    }
    if (!utf8_valid(text, len)) {
        errstr_set(errstr, errlen, "not valid UTF-8");
        return -1;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;

    struct span ln;
    size_t body = pos, p = pos;
    if (next_line(text, len, &p, &ln) && is_fence(ln)) {
        int closed = 0;
        while (next_line(text, len, &p, &ln)) {
            if (is_fence(ln)) {
                closed = 1;
                break;
            }
            struct span v;
            int rc = 0;
            if (fm_value(ln, "title", &v))
                rc = set_field(&d->title, v, "title", KB_TITLE_MAX, errstr, errlen);
            else if (fm_value(ln, "url", &v) || fm_value(ln, "source", &v))
                rc = set_field(&d->url, v, "url", KB_URL_MAX, errstr, errlen);
            else if (fm_value(ln, "keywords", &v))
                rc = set_field(&d->keywords, unbracket(v), "keywords", KB_KEYWORDS_MAX,
                               errstr, errlen);
            else if (fm_value(ln, "lang", &v))
                rc = set_field(&d->lang, v, "lang", KB_LANG_MAX, errstr, errlen);
            if (rc < 0)
                goto fail;
        }
        if (!closed) {
            errstr_set(errstr, errlen, "unterminated front matter (no closing \"---\" line)");
            goto fail;
        }
        body = p;
    }
    if (d->title && d->title[0] == '\0') {
        free(d->title);
        d->title = NULL;
    }
    if (d->url && !url_ok(d->url)) {
        errstr_set(errstr, errlen, "front matter: url is not an http:// or https:// URL");
        goto fail;
    }
    if (d->lang && !lang_ok(d->lang)) {
        errstr_set(errstr, errlen, "front matter: lang is not a language tag");
        goto fail;
    }

    /* The body: lines from the first non-blank one to the last, line ends made "\n". */
    struct buf b;
    buf_init(&b, len + 1);
    size_t pending_blank = 0;
    p = body;
    while (next_line(text, len, &p, &ln)) {
        struct span t = trim(ln);
        if (t.n == 0) {
            if (b.len)
                pending_blank++;
            continue;
        }
        for (; pending_blank; pending_blank--)
            buf_putc(&b, '\n');
        if (b.len)
            buf_putc(&b, '\n');
        /* Trailing blanks go; leading ones stay (indented code, lists). */
        while (ln.n > 0 && is_blank(ln.p[ln.n - 1]))
            ln.n--;
        buf_append(&b, ln.p, ln.n);
        if (!d->title && ln.n > 2 && ln.p[0] == '#' && (ln.p[1] == ' ' || ln.p[1] == '\t')) {
            struct span h = {ln.p + 2, ln.n - 2};
            while (h.n > 0 && h.p[h.n - 1] == '#') /* "# Title #" closing sequence */
                h.n--;
            h = trim(h);
            if (h.n > 0 && h.n <= KB_TITLE_MAX)
                d->title = xstrndup(h.p, h.n);
        }
    }
    if (b.len == 0) {
        buf_free(&b);
        errstr_set(errstr, errlen, "no text after the front matter");
        goto fail;
    }
    d->body = buf_steal(&b, NULL);

    if (!d->title) {
        const char *nm = name ? name : "";
        size_t n = strlen(nm);
        if (n > 3 && strcmp(nm + n - 3, ".md") == 0)
            n -= 3;
        if (n > KB_TITLE_MAX)
            n = utf8_whole_prefix(nm, KB_TITLE_MAX);
        /* A file name is bytes, not necessarily UTF-8. */
        d->title = n && utf8_valid(nm, n) ? xstrndup(nm, n) : xstrdup("untitled");
    }
    if (!d->url)
        d->url = xstrdup("");
    if (!d->keywords)
        d->keywords = xstrdup("");
    if (!d->lang)
        d->lang = xstrdup("");
    return 0;

fail:
    kb_doc_free(d);
    return -1;
}
