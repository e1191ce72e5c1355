/* glossary_entry: what a glossary entry is, and where one was found in a text: the two types
 * the loaded glossary (glossary.c) and its matcher (glossary_index.c) share, apart from both,
 * so that neither includes the other's header. Public through glossary.h. */
#ifndef NOVA_GLOSSARY_ENTRY_H
#define NOVA_GLOSSARY_ENTRY_H

#include <stddef.h>

struct glossary_entry {
    const char *canonical;   /* "Paul" */
    const char *section;     /* "characters" */
    const char *description; /* "" when absent */
    const char *kind;        /* the "type" or "category" value; "" when absent */
    const char *korean;      /* first Hangul alias, or NULL */
    const char *const *aliases;
    size_t n_aliases;
};

struct glossary_match {
    const struct glossary_entry *entry;
    size_t offset, len;      /* of the matched alias in the text (bytes; the particle excluded) */
};

#endif
