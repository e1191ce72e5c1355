/* glossary_index: a glossary's names compiled for matching, and the matcher behind
 * glossary_find (the matching rules are in glossary.h).
 *
 * Built once from the loaded entries and read-only afterwards, so it is shared between
 * threads with the glossary it belongs to. It knows the entries (glossary_entry.h), not the
 * glossary that holds them: loading and formatting (glossary.c) use it, never the other way
 * round. No I/O. */
#ifndef NOVA_GLOSSARY_INDEX_H
#define NOVA_GLOSSARY_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "product/glossary_entry.h"

struct glossary_index; /* opaque */

/* Compiles the canonical names and aliases of entries[0..n) (valid UTF-8, none all blanks).
 * The index keeps a pointer to entries, which must outlive it; it owns the rest. */
struct glossary_index *glossary_index_build(const struct glossary_entry *entries, size_t n);
void glossary_index_free(struct glossary_index *ix);

/* glossary_find on the index: the entries found in text[0..len) (valid UTF-8), at most max
 * of them into out; returns how many were found. */
size_t glossary_index_find(const struct glossary_index *ix, const char *text, size_t len,
                           struct glossary_match *out, size_t max);

/* What a blank is, in an alias and in a question: ASCII blanks, no-break space and the
 * ideographic space of Korean input methods. Loading refuses names that are only blanks. */
static inline bool glossary_is_blank(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x3000;
}

#endif
