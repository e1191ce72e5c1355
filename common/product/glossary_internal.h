/* glossary_internal: what glossary.c (loading, formatting) and glossary_match.c (patterns,
 * matching) share.
 *
 * Private to those two files: the public surface is glossary.h, and no other file may include
 * this. It holds the loaded glossary's layout and the few character facts both sides must
 * agree on (what is Hangul, what is a blank). */
#ifndef NOVA_GLOSSARY_INTERNAL_H
#define NOVA_GLOSSARY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "product/glossary.h"
#include "core/utf8.h"

#define GLOSSARY_BUCKETS 256

/* One alias (or canonical name) compiled for matching. */
struct glossary_pattern {
    const char *text;  /* lowercased ASCII, blank runs as one marker (glossary_match.c) */
    uint32_t len;
    uint32_t entry;
    /* How it may start needs no flag: a pattern starting with a Latin letter or digit (a
     * Hangul syllable) is only tried where the character before is not one (glossary_find). */
    bool end_word;     /* ends with a Latin letter or digit: no word character after */
    bool end_particle; /* ends with a lone Hangul syllable: only particles may follow */
};

struct glossary {
    struct glossary_entry *entries;
    size_t n_entries;
    const char **alias_slots; /* the entries' alias arrays, back to back */
    char *strings;            /* every string of the glossary and of its patterns */
    struct glossary_pattern *patterns;
    size_t n_patterns;
    /* Pattern indices by bucket of their first character: bucket b holds
     * bucket_pat[bucket_at[b] .. bucket_at[b + 1]). */
    uint32_t bucket_at[GLOSSARY_BUCKETS + 1];
    uint32_t *bucket_pat;
};

/* Compiles the entries' names and aliases into g's patterns and buckets (glossary_match.c).
 * The pattern texts go to dst, which has room for every name and alias again. */
void glossary_index_build(struct glossary *g, char *dst);

/* ASCII blanks, no-break space and the ideographic space of Korean input methods. */
static inline bool glossary_is_blank(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x3000;
}

#endif
