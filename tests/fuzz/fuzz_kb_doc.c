/* fuzz_kb_doc: the knowledge-base document parser on arbitrary bytes.
 *
 * A document that parses must give what kb_doc.h promises: every field set and valid UTF-8
 * without NUL, a title that is not empty, a url that is empty or http(s):// without blanks, a
 * lang of [a-z0-9-], a body with text, no CRLF and no blank line at either end. One that fails
 * must leave the doc zeroed and a sentence in errstr. The first byte picks the file name: a
 * plain one, none, or a few of the input's bytes (names need not be UTF-8). A parsed document's
 * grams (the two-character terms import indexes) must each be two Hangul syllables or two
 * lower-case ASCII letters or digits, once each, with hits that fit in the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kb/kb_doc.h"
#include "kb/kb_gram.h"
#include "core/utf8.h"

static void check_text(const char *s)
{
    if (!s || !utf8_valid(s, strlen(s)))
        abort();
}

static void check_grams(const struct kb_doc *d)
{
    struct kb_gram *g;
    size_t ng = kb_gram_collect(d, &g);
    size_t total = 0, text = strlen(d->title) + strlen(d->keywords) + strlen(d->body);
    for (size_t i = 0; i < ng; i++) {
        const unsigned char *t = (const unsigned char *)g[i].text;
        if (strlen(g[i].text) != g[i].len || !utf8_valid(g[i].text, g[i].len))
            abort();
        if (g[i].len == 2) {
            for (int k = 0; k < 2; k++)
                if (!((t[k] >= '0' && t[k] <= '9') || (t[k] >= 'a' && t[k] <= 'z')))
                    abort();
        } else if (g[i].len != 6 || utf8_count(g[i].text, 6) != 2 || t[0] < 0xEA || t[0] > 0xED ||
                   t[3] < 0xEA || t[3] > 0xED) {
            abort();
        }
        if (g[i].n[0] + g[i].n[1] + g[i].n[2] == 0)
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(g[j].text, g[i].text) == 0)
                abort();
        total += g[i].n[0] + g[i].n[1] + g[i].n[2];
    }
    if (total > text) /* each hit starts at a different byte of the text */
        abort();
    free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[16] = "fuzz-doc.md";
    const char *np = name;
    if (size > 0 && data[0] % 3 == 1) {
        np = NULL;
    } else if (size > 0 && data[0] % 3 == 2) {
        size_t n = size - 1 < 8 ? size - 1 : 8;
        memcpy(name, data + 1, n);
        name[n] = '\0'; /* may be cut short by a NUL: still a C string */
    }
    /* An exactly sized copy, so ASan sees any read past the end. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct kb_doc d;
    char err[200];
    err[0] = '\0';
    if (kb_doc_parse(copy, size, np, &d, err, sizeof err) < 0) {
        if (d.title || d.url || d.keywords || d.lang || d.body || !err[0] ||
            strlen(err) >= sizeof err)
            abort();
        kb_doc_free(&d);
        free(copy);
        return 0;
    }
    check_text(d.title);
    check_text(d.url);
    check_text(d.keywords);
    check_text(d.lang);
    check_text(d.body);
    if (!d.title[0] || strlen(d.title) > 512 || strlen(d.body) > size)
        abort();
    if (d.url[0] && strncasecmp(d.url, "https://", 8) != 0 && strncasecmp(d.url, "http://", 7) != 0)
        abort();
    for (const char *p = d.url; *p; p++)
        if ((unsigned char)*p <= ' ')
            abort();
    for (const char *p = d.lang; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            abort();
    size_t bl = strlen(d.body);
    if (bl == 0 || strstr(d.body, "\r\n") || d.body[0] == '\n' || d.body[bl - 1] == '\n' ||
        d.body[bl - 1] == ' ' || d.body[bl - 1] == '\t')
        abort();
    check_grams(&d);
    kb_doc_free(&d);
    if (d.title || d.body)
        abort();
    free(copy);
    return 0;
}
