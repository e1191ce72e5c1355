/* fuzz_glossary: the glossary parser, matcher and formatter on hostile input.
 *
 * Every input is used twice. First as a question (made valid UTF-8, as the chat validator
 * guarantees) against the shipped glossary, loaded once. Then split at its first NUL byte into
 * glossary JSON and a question for that glossary (without a NUL the whole input is the JSON,
 * asked a fixed question). A parse must fail with a message or give entries of valid, non-empty
 * text; matches must be in text order, inside the text, on character boundaries, not
 * overlapping, each entry once, and each must spell one of its entry's names (ASCII case and
 * blanks aside); a smaller max must give the same count and the same first matches; the
 * format must be valid UTF-8, one line per entry and section, and leave a buffer that is too
 * small as it was. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "product/glossary.h"
#include "core/utf8.h"

#define SHIPPED "config/game_glossary.json"
#define MAX_MATCHES 64

static struct glossary *shipped;

/* Used when the fuzzer does not run from the repo root: a few entries with the shapes that
 * matter (one-syllable Hangul, blanks inside, mixed scripts, overlapping names). */
static const char fallback[] =
    "{\"characters\": {\"Paul\": {\"aliases\": [\"주인공\", \"폴\", \"paul\"], \"type\": \"p\"},"
    " \"Agent C\": {\"aliases\": [\"에이전트 C\", \"agent c\"]}},"
    " \"terms\": {\"Skill\": {\"aliases\": [\"스킬\"]}, \"Skill Tree\": {\"aliases\": "
    "[\"스킬 트리\"]}, \"Player vs Player\": {\"aliases\": [\"PvP\"]}, \"Ping\": {\"aliases\":"
    " [\"핑\"], \"category\": \"system\"}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    shipped = glossary_load_file(SHIPPED, err, sizeof err);
    if (!shipped) {
        fprintf(stderr, "fuzz_glossary: %s; using the built-in sample\n", err);
        shipped = glossary_parse(fallback, sizeof fallback - 1, err, sizeof err);
        if (!shipped) {
            fprintf(stderr, "fuzz_glossary: built-in sample: %s\n", err);
            abort();
        }
    }
    return 0;
}

/* s[0..n) with ASCII lowered and blanks (ASCII whitespace, U+00A0, U+3000) dropped, into out. */
static size_t squeeze(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || (c >= '\t' && c <= '\r'))
            continue;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0) {
            i++;
            continue;
        }
        if (c == 0xE3 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] == 0x80) {
            i += 2;
            continue;
        }
        out[o++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;
    }
    return o;
}

static bool spells_a_name(const struct glossary_entry *e, const char *text, size_t len)
{
    char *want = malloc(len + 1);
    size_t wn = squeeze(text, len, want);
    bool ok = false;
    for (size_t k = 0; k <= e->n_aliases && !ok; k++) {
        const char *name = k == 0 ? e->canonical : e->aliases[k - 1];
        size_t n = strlen(name);
        char *got = malloc(n + 1);
        ok = squeeze(name, n, got) == wn && memcmp(got, want, wn) == 0;
        free(got);
    }
    free(want);
    return ok;
}

static bool boundary(const char *s, size_t n, size_t i)
{
    return i == n || ((unsigned char)s[i] & 0xC0) != 0x80;
}

static void check_find(const struct glossary *g, const char *text, size_t len)
{
    struct glossary_match m[MAX_MATCHES];
    size_t n = glossary_find(g, text, len, m, MAX_MATCHES);
    if (n > glossary_count(g))
        abort();
    size_t shown = n < MAX_MATCHES ? n : MAX_MATCHES;
    for (size_t i = 0; i < shown; i++) {
        const struct glossary_match *x = &m[i];
        if (x->len == 0 || x->offset > len || x->len > len - x->offset ||
            !boundary(text, len, x->offset) || !boundary(text, len, x->offset + x->len))
            abort();
        if (i > 0 && m[i - 1].offset + m[i - 1].len > x->offset)
            abort(); /* out of order or overlapping */
        for (size_t j = 0; j < i; j++)
            if (m[j].entry == x->entry)
                abort();
        if (!spells_a_name(x->entry, text + x->offset, x->len))
            abort();
    }
    struct glossary_match few[2];
    if (glossary_find(g, text, len, few, 2) != n)
        abort();
    for (size_t i = 0; i < 2 && i < n; i++)
        if (few[i].entry != m[i].entry || few[i].offset != m[i].offset || few[i].len != m[i].len)
            abort();
}

static void check_entries_and_format(const struct glossary *g)
{
    size_t sections = 0;
    for (size_t i = 0; i < glossary_count(g); i++) {
        const struct glossary_entry *e = glossary_entry_at(g, i);
        if (!e || !e->canonical[0] || !utf8_valid(e->canonical, strlen(e->canonical)) ||
            !utf8_valid(e->description, strlen(e->description)) ||
            !utf8_valid(e->kind, strlen(e->kind)))
            abort();
        bool korean_seen = e->korean == NULL;
        for (size_t k = 0; k < e->n_aliases; k++) {
            if (!e->aliases[k][0] || !utf8_valid(e->aliases[k], strlen(e->aliases[k])))
                abort();
            korean_seen = korean_seen || e->korean == e->aliases[k];
        }
        if (!korean_seen)
            abort();
        sections += i == 0 || strcmp(e->section, glossary_entry_at(g, i - 1)->section) != 0;
    }
    if (glossary_entry_at(g, glossary_count(g)) != NULL)
        abort();
    struct buf out;
    buf_init(&out, 8u << 20);
    if (glossary_format(g, &out) != 0 || !utf8_valid(buf_cstr(&out), out.len))
        abort();
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++)
        lines += out.data[i] == '\n';
    if (lines != glossary_count(g) + sections)
        abort();
    if (out.len > 0) {
        struct buf small;
        buf_init(&small, out.len - 1);
        buf_puts(&small, "x");
        if (glossary_format(g, &small) != -1 || strcmp(buf_cstr(&small), "x") != 0)
            abort();
        buf_free(&small);
    }
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct buf text;
    buf_init(&text, 4 * size + 16);
    utf8_append_sanitized(&text, in, size);
    /* An exactly sized copy, so ASan sees any read past the text's end. */
    char *copy = malloc(text.len ? text.len : 1);
    memcpy(copy, buf_cstr(&text), text.len);
    check_find(shipped, copy, text.len);
    free(copy);

    const char *nul = memchr(in, '\0', size);
    size_t json_len = nul ? (size_t)(nul - in) : size;
    char *json = malloc(json_len ? json_len : 1);
    memcpy(json, in, json_len);
    char err[200];
    err[0] = '\0';
    struct glossary *g = glossary_parse(json, json_len, err, sizeof err);
    free(json);
    if (!g) {
        if (!err[0])
            abort();
    } else {
        check_entries_and_format(g);
        buf_reset(&text);
        if (nul)
            utf8_append_sanitized(&text, nul + 1, size - json_len - 1);
        else
            buf_puts(&text, "폴이 Player  vs player 스킬트리를 agent c's 핑?");
        copy = malloc(text.len ? text.len : 1);
        memcpy(copy, buf_cstr(&text), text.len);
        check_find(g, copy, text.len);
        free(copy);
        glossary_free(g);
    }
    buf_free(&text);
    return 0;
}
