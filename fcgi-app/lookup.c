/* lookup: a question's entities, search terms, query text and translation policy (see
 * lookup.h). */
#include "lookup.h"

#include <string.h>

void lookup_init(struct lookup *l)
{
    memset(l, 0, sizeof *l);
}

/* The terms again from the entities: each canonical name, then its aliases. */
static void lookup_terms(struct lookup *l)
{
    l->n_terms = 0;
    for (size_t i = 0; i < l->n_ents; i++) {
        const struct glossary_entry *e = l->ents[i].entry;
        if (l->n_terms < LOOKUP_MAX_TERMS)
            l->terms[l->n_terms++] = e->canonical;
        for (size_t k = 0; k < e->n_aliases && l->n_terms < LOOKUP_MAX_TERMS; k++)
            l->terms[l->n_terms++] = e->aliases[k];
    }
}

void lookup_add_text(struct lookup *l, const struct glossary *g, const char *text, size_t len)
{
    struct glossary_match m[LOOKUP_MAX_ENTITIES];
    size_t n = glossary_find(g, text, len, m, LOOKUP_MAX_ENTITIES);
    for (size_t i = 0; i < n && i < LOOKUP_MAX_ENTITIES && l->n_ents < LOOKUP_MAX_ENTITIES; i++) {
        bool seen = false;
        for (size_t k = 0; k < l->n_ents && !seen; k++)
            seen = l->ents[k].entry == m[i].entry;
        if (!seen) {
            l->ent_text[l->n_ents] = text;
            l->ents[l->n_ents++] = m[i];
        }
    }
    lookup_terms(l);
}

int lookup_query(struct buf *out, const char *question, size_t qlen, const char *translation,
                 size_t tlen)
{
    /* All or nothing: one append of the size it needs. */
    size_t need = qlen + (tlen ? 1 + tlen : 0);
    if (need < qlen || out->len > out->max || need > out->max - out->len)
        return -1;
    buf_append(out, question, qlen);
    if (tlen) {
        buf_putc(out, '\n');
        buf_append(out, translation, tlen);
    }
    return 0;
}

bool lookup_translates(enum lang ui, enum lang input)
{
    return ui == LANG_EN || input != ui;
}

enum lang lookup_target(enum lang input)
{
    return input == LANG_KO ? LANG_EN : LANG_KO;
}

bool lookup_translate_first(enum lang ui, enum lang input, size_t n_hits, double best,
                            double sure)
{
    return lookup_translates(ui, input) && (n_hits == 0 || !(best >= sure));
}
